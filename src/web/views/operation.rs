//! `/operation/{id}`: state and timeline, funding address and QR code,
//! balances, minimum to launch, pricing, runway, transfers, node details.

use maud::{Markup, html};

use super::charts::{balance_chart, sync_chart};
use super::layout::{Chrome, notice, page, row};
use super::{xmr, xmr_est};
use crate::clients::wallet::{AccountState, TransferStatus};
use crate::clock;
use crate::domain::event::Event;
use crate::domain::money::{HourlyCost, Pico, Rates, format_usd};
use crate::domain::operation::Operation;
use crate::domain::state::State;
use crate::store::HealthSample;

/// Events the timeline shows (the latest); a year of payouts is thousands.
pub const TIMELINE_LEN: usize = 50;

/// Parts of the page that depend only on what the store holds (the events
/// and the health history), rendered once per store generation and kept with
/// the operation's cached view.
#[derive(Debug, Default)]
pub struct Fragments {
    sync_chart: std::sync::OnceLock<String>,
    timeline: std::sync::OnceLock<String>,
}

/// `f`'s markup, made once into `slot`.
fn once(slot: &std::sync::OnceLock<String>, f: impl FnOnce() -> Markup) -> maud::PreEscaped<&str> {
    maud::PreEscaped(slot.get_or_init(|| f().into_string()).as_str())
}

/// Everything the page shows.
pub struct OperationPage<'a> {
    pub op: &'a Operation,
    /// Rendered parts kept between views (a fresh `Fragments` renders them).
    pub fragments: &'a Fragments,
    pub events: &'a [Event],
    pub account: Option<&'a AccountState>,
    pub rates: Option<(HourlyCost, Rates)>,
    pub min_to_launch: Option<Pico>,
    pub dns: String,
    pub node_status: Option<String>,
    /// The node's probes, oldest first.
    pub health: &'a [HealthSample],
    pub rpc_port: u16,
    pub payouts: usize,
    /// Relayed payouts and refunds: (time, amount + fee).
    pub outflows: &'a [(i64, u64)],
    pub now: i64,
    pub sandbox: bool,
    pub notice: Option<String>,
    /// Balances are the last good read from this time: the wallet is away.
    pub stale_since: Option<i64>,
}

fn balances(a: &AccountState, min: Option<Pico>) -> Markup {
    html! {
        dl.facts {
            (row("Unlocked", html! { strong { (xmr(a.unlocked)) } }))
            (row("Locked", html! { (xmr(a.locked())) }))
            (row("In the pool", html! { (xmr(a.in_pool())) }))
            @if let Some(m) = min { (row("Minimum to launch", html! { (xmr_est(m)) })) }
        }
        @if let Some(m) = min && a.unlocked < m {
            progress max="100" value=(a.unlocked.saturating_mul(100) / m.max(1)) { }
            p.muted { (a.unlocked.saturating_mul(100) / m.max(1)) " % of the minimum is unlocked." }
            @if a.unlocked.saturating_add(a.pending()) >= m {
                p { "Enough is on its way: the node launches once it unlocks (10 confirmations)." }
            } @else {
                p { "Send at least " strong { (super::xmr_est(m - a.unlocked - a.pending())) } " more to launch." }
            }
        }
    }
}

fn transfers(a: &AccountState) -> Markup {
    html! {
        h2 { "Incoming transfers" }
        @if a.transfers.is_empty() {
            p.muted { "Nothing seen yet. Payments show up here as soon as they reach the transaction pool." }
        } @else {
            div.table-wrap { table {
                thead { tr { th { "Seen" } th { "Amount" } th { "Confirmations" } th { "Status" } } }
                tbody { @for t in a.transfers.iter().rev() {
                    tr {
                        td { (clock::human(t.seen_at)) }
                        td { (xmr(t.amount)) }
                        td { (t.confirmations) }
                        td { @match t.status {
                            TransferStatus::Pool => "in the pool (payment seen)",
                            TransferStatus::Locked => { "unlocks in " (t.blocks_to_unlock) " blocks (about " (t.blocks_to_unlock * 2) " min)" },
                            TransferStatus::Unlocked => "unlocked",
                            TransferStatus::Ignored => "ignored: carries an unlock time",
                        } }
                    }
                } }
            } }
        }
    }
}

fn pricing(cost: &HourlyCost, r: &Rates) -> Markup {
    html! {
        h2 { "Pricing" }
        p.muted { "Per hour: droplet " (format_usd(cost.droplet)) " + volume " (format_usd(cost.volume))
            " + management " (format_usd(cost.management)) " = " strong { (format_usd(cost.total())) }
            ", at " (format_usd(r.price)) " per XMR, plus a network fee of " (xmr(r.fee)) " per payout." }
        (super::pricing_table(r))
    }
}

fn node(p: &OperationPage) -> Markup {
    let r = &p.op.resources;
    html! {
        h2 { "Node" }
        dl.facts {
            (row("Address", html! { code { (p.dns) ":" (p.rpc_port) } }))
            @if let Some(ip) = &r.ipv4 { (row("IPv4", html! { code { (ip) } })) }
            @if let Some(ip) = &r.ipv6 { (row("IPv6", html! { code { (ip) } })) }
            @if let Some(o) = &p.op.onion { (row("Onion", html! { code { (o) } })) }
            @if let Some(s) = &p.node_status { (row("Status", html! { (s) })) }
            @if let Some(h) = p.health.last() && h.reachable {
                (row("Height", html! { (h.height) " of " (h.target_height) }))
                (row("Peers", html! { (h.peers_in) " in, " (h.peers_out) " out" }))
            }
            @if let Some(t) = p.op.launched_at { (row("Up since", html! { (clock::human(t)) " (" (clock::duration((p.now - t).max(0) as u64)) ")" })) }
            @let (down, span) = crate::jobs::health::downtime(p.health, p.now);
            @if span > 0 {
                (row("Downtime", html! {
                    @if down == 0 { "none" } @else { (clock::duration(down)) }
                    " in the last " (clock::duration(span)) " of probes"
                }))
            }
            @if p.op.rebuilds > 0 {
                (row("Rebuilt", html! {
                    (p.op.rebuilds) @if p.op.rebuilds == 1 { " time" } @else { " times" }
                    " on a fresh droplet (the chain on the volume was kept)"
                }))
            }
            @if let Some(b) = p.op.billed_until { (row("Paid until", html! { (clock::human(b)) })) }
        }
        @if p.health.len() >= 2 { (once(&p.fragments.sync_chart, || sync_chart(p.health))) }
        @if !p.op.node_reports.is_empty() {
            h3 { "Launch progress" }
            ol.steps { @for (t, s) in &p.op.node_reports { li { (clock::human(*t)) ": " (s) } } }
        }
    }
}

fn timeline(p: &OperationPage) -> Markup {
    html! {
        h2 { "Timeline" }
        ol.timeline { @for e in p.events.iter().rev().take(TIMELINE_LEN) {
            li { time datetime=(clock::rfc3339(e.at)) { (clock::human(e.at)) } " — " (e.message) }
        } }
        @if p.events.len() > TIMELINE_LEN {
            p.muted { "The " (TIMELINE_LEN) " latest of " (p.events.len()) " events. Every payout is on the "
                a href={"/operation/" (p.op.id) "/payouts"} { "payouts page" } "." }
        }
    }
}

/// A cancelled operation takes no more money, and says what happens to
/// money sent anyway (issue 15: one honest rule, shown).
fn cancelled_funds(op: &crate::domain::operation::Operation) -> Markup {
    html! {
        h2 { "Cancelled: do not send XMR" }
        p { "This operation was cancelled and will never launch a node. Its address was:" }
        p { code.address { (op.address) } }
        @if op.refund_address.is_some() {
            (notice("warn", "Money that still arrives at this address is sent back to the refund address given when the operation was opened, less the network fee, at the next payout pass after it unlocks (about 20 minutes)."))
        } @else {
            (notice("warn", "No refund address was given: money that still arrives here is kept in this operation's account and does not buy hosting. To claim it back, write to the operator with this page's address and an XMR address to send it to; the operator can see it on the admin page and in the audit."))
        }
    }
}

/// The page. Its sandbox form's CSRF value is left as `csrf::HOLE`: the
/// page is served through `prebuilt::Holed`, which fills it per response.
pub fn render(c: &Chrome, p: &OperationPage) -> Markup {
    let op = p.op;
    let uri = format!("monero:{}", op.address);
    page(
        c,
        &format!("Operation {}", op.codename),
        html! {
            section.card {
                h1 { "Operation " (op.codename) }
                p { span class={"state " (op.state.as_str())} { (op.state.label()) } " since " (clock::human(op.state_since)) }
                @if let Some(n) = &p.notice { (notice("ok", n)) }
                @if let Some(pr) = &op.problem { (notice("warn", pr)) }
                @if op.state == State::LowFunds { (notice("warn", "Low funds: send XMR to the address below to keep the node running.")) }
            }
            div.grid {
                section.card.funding {
                    @if op.state == State::Cancelled {
                        (cancelled_funds(op))
                    } @else {
                        h2 { "Fund it" }
                        img.qr src={"/operation/" (op.id) "/qr.png"} width="222" height="222" alt={"QR code of " (uri)};
                        p { "Send XMR to:" }
                        p { code.address { (op.address) } }
                        p { a href=(uri) { "Open in a wallet" } }
                    }
                    @if let Some(t) = p.stale_since {
                        p.notice.warn role="status" { "The wallet is not answering right now: these balances are as of " (clock::human(t)) "." }
                    }
                    @match p.account {
                        Some(a) => (balances(a, p.min_to_launch)),
                        None => (notice("warn", "The wallet is not answering right now; balances will show again shortly.")),
                    }
                    @if let (Some(a), Some((_, r))) = (p.account, &p.rates) && a.unlocked > 0 {
                        p { "Runway: the unlocked balance pays for about " strong { (clock::duration(r.runway_secs(a.unlocked))) } " of hosting." }
                    }
                    @if let Some(a) = p.account { (balance_chart(a, p.outflows, p.rates.as_ref().map(|(_, r)| r.runway_secs(a.unlocked)), p.now)) }
                    @if p.sandbox {
                        form.sandbox method="post" action={"/sandbox/operation/" (op.id) "/pay"} { (crate::web::csrf::hole())
                            label for="amount_xmr" { "Sandbox: simulate a payment of" }
                            input #amount_xmr name="amount_xmr" value="1" inputmode="decimal" size="8";
                            " XMR "
                            button type="submit" { "Simulate a payment" }
                        }
                    }
                }
                section.card {
                    @if op.state.has_node() || op.resources.droplet_id.is_some() { (node(p)) }
                    @if let Some((cost, r)) = &p.rates { (pricing(cost, r)) }
                    p { a href={"/operation/" (op.id) "/payouts"} { "Payouts (" (p.payouts) ")" } " · "
                        a href={"/operation/" (op.id) "/feed.xml"} { "Follow (Atom feed)" } }
                }
            }
            @if op.state == State::Launching { section.card { (super::launch_steps::launch_steps(p)) } }
            @if let Some(a) = p.account { section.card { (transfers(a)) } }
            section.card {
                (once(&p.fragments.timeline, || timeline(p)))
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::wallet::Transfer;
    use crate::domain::event::EventKind;

    #[test]
    fn shows_address_qr_balances_transfers_and_timeline() {
        let op = crate::domain::operation::sample("0123456789abcdef0123456789abcdef", "alpha");
        let ev = vec![Event {
            op_id: op.id.clone(),
            at: 1000,
            kind: EventKind::Created,
            message: "Operation alpha opened".into(),
        }];
        let acct = AccountState {
            balance: 2_000_000_000_000,
            unlocked: 500_000_000_000,
            transfers: vec![Transfer {
                txid: "t".into(),
                amount: 2_000_000_000_000,
                seen_at: 1000,
                confirmations: 3,
                blocks_to_unlock: 7,
                status: TransferStatus::Locked,
            }],
        };
        let rates = Rates {
            cost: 62_258,
            price: 150_000_000,
            fee: 30_000_000,
            payout_every: 10_800,
        };
        let p = OperationPage {
            fragments: &Fragments::default(),
            op: &op,
            events: &ev,
            account: Some(&acct),
            rates: Some((HourlyCost::new(35_710, 150, 100_000, 6_000), rates)),
            min_to_launch: Some(1_000_000_000_000),
            dns: "alpha.node.example.com".into(),
            node_status: None,
            health: &[],
            rpc_port: 18081,
            payouts: 0,
            outflows: &[],
            now: 2000,
            sandbox: true,
            notice: None,
            stale_since: None,
        };
        let s = render(&crate::web::views::chrome(), &p).into_string();
        for want in [
            "/operation/0123456789abcdef0123456789abcdef/qr.png",
            "sandbox",
            "Minimum to launch",
            "1.0000 XMR",
            "unlocks in 7 blocks",
            "Operation alpha opened",
            "Simulate a payment",
            "1 year",
            "50 % of the minimum",
            "Balance over time",
            "transfers in: 1, payouts out: 0; balance now 2.0000 XMR",
            "At today's price the unlocked balance lasts about",
        ] {
            assert!(s.contains(want), "missing {want}");
        }
        // Cancelled: no QR, no "send", and the rule for money sent anyway.
        let mut gone = op.clone();
        gone.state = State::Cancelled;
        let q = render(
            &crate::web::views::chrome(),
            &OperationPage {
                op: &gone,
                dns: String::new(),
                node_status: None,
                notice: None,
                ..p
            },
        );
        let q = q.into_string();
        assert!(!q.contains("qr.png") && !q.contains("Fund it") && !q.contains("Send XMR to"));
        assert!(
            q.contains("do not send XMR") && q.contains("write to the operator"),
            "{q}"
        );
        gone.refund_address = Some("4refund".into());
        let q = render(
            &crate::web::views::chrome(),
            &OperationPage {
                op: &gone,
                dns: String::new(),
                node_status: None,
                notice: None,
                ..p
            },
        )
        .into_string();
        assert!(q.contains("sent back to the refund address"));
    }
}
