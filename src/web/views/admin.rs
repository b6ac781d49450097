//! `/admin` and `/admin/login`.

use maud::{Markup, html};

use super::layout::{Chrome, notice, page};
use super::xmr;
use crate::clients::price::{PriceReport, Said};
use crate::clock;
use crate::domain::money::{Micro, format_usd};
use crate::jobs::Job;
use crate::ops::OpSummary;
use crate::store::JobRecord;

/// One operation on the dashboard.
pub struct AdminRow {
    pub s: OpSummary,
    pub region: String,
    pub volume: Option<String>,
    pub ipv4: Option<String>,
    pub last_payout: Option<i64>,
    pub unrelayed: usize,
    pub cancellable: bool,
}

/// The dashboard's content.
pub struct Dashboard<'a> {
    pub rows: &'a [AdminRow],
    pub jobs: &'a [(String, JobRecord)],
    /// When each job is next due, and whether it is overdue.
    pub timings: &'a [crate::jobs::schedule::Timing],
    pub paused: bool,
    pub price: Option<Micro>,
    /// What each price source said at the last ask.
    pub price_report: Option<&'a PriceReport>,
    /// What the price guard found at the last decision.
    pub guard: &'a crate::domain::price_guard::PriceState,
    pub notice: Option<String>,
}

/// The market price and what each source said: which are stale (since
/// when), failing (why) or disagree, and what the fresh ones gave.
fn price_sources(r: &PriceReport) -> Markup {
    html! {
        section.card {
            h2 { "XMR price sources" }
            @match &r.median {
                Ok(q) => p { "Price: " strong { (format_usd(q.usd)) } " per XMR (sources asked " (clock::human(r.asked_at)) ")." },
                Err(e) => p.bad { (e) " (sources asked " (clock::human(r.asked_at)) ")" },
            }
            div.table-wrap { table {
                thead { tr { th { "Source" } th { "Price" } th { "Its time" } th { "State" } } }
                tbody { @for s in &r.sources {
                    tr {
                        td { (s.source) }
                        @match &s.said {
                            Said::Fresh(q) => { td { (format_usd(q.usd)) } td { (clock::human(q.at)) } td { span.ok { "fresh" } } }
                            Said::Disagrees(q) => { td { (format_usd(q.usd)) } td { (clock::human(q.at)) } td { span.bad { "disagrees: more than " (crate::domain::price_median::AGREE_PERCENT) " % from the others" } } }
                            Said::Stale(q) => { td { (format_usd(q.usd)) } td { (clock::human(q.at)) } td { span.bad { "stale since " (clock::human(q.at)) } } }
                            Said::Failed(why) => { td { "—" } td { "—" } td { span.bad { (why) } } }
                        }
                    }
                } }
            } }
            p.muted { "A quote older than PRICE_MAX_AGE_MINUTES by its source's own time is stale and left out. Two fresh sources must agree within " (crate::domain::price_median::AGREE_PERCENT) " %; three or more give their median; one alone is not enough when more are configured." }
        }
    }
}

/// The login page.
pub fn login(c: &Chrome, error: Option<&str>) -> Markup {
    page(
        c,
        "Admin login",
        html! {
            section.card.narrow {
                h1 { "Admin login" }
                @if let Some(e) = error { (notice("error", e)) }
                form method="post" action="/admin/login" { (crate::web::csrf::field())
                    label for="token" { "Admin token" }
                    input #token type="password" name="token" required autocomplete="current-password";
                    small { "STATS_TOKEN, or the content of DATA_DIR/admin-token." }
                    button type="submit" { "Log in" }
                }
            }
        },
    )
}

/// The dashboard.
pub fn render(c: &Chrome, d: &Dashboard) -> Markup {
    page(
        c,
        "Admin",
        html! {
            section.card {
                h1 { "Operator dashboard" }
                @if let Some(n) = &d.notice { (notice("ok", n)) }
                @if d.paused { (notice("warn", "PAYOUTS_PAUSED=1: payouts, ends and launches are held.")) }
                form.inline method="post" action="/admin/logout" { (crate::web::csrf::field()) button.link type="submit" { "Log out" } }
            }
            section.card {
                h2 { "Jobs" }
                div.table-wrap { table {
                    thead { tr { th { "Job" } th { "Last run" } th { "Next run" } th { "Outcome" } th {} } }
                    tbody { @for j in Job::ALL {
                        @let rec = d.jobs.iter().find(|(n, _)| n == j.name()).map(|(_, r)| r);
                        @let t = d.timings.iter().find(|t| t.job == j);
                        tr {
                            td { (j.name()) }
                            td {
                                @if let Some(r) = rec { (clock::human(r.last_run)) } @else { "never" }
                                @if t.is_some_and(|t| t.overdue) { " " span.bad { "overdue" } }
                            }
                            td { @if let Some(n) = t.and_then(|t| t.next) { (clock::human(n)) } }
                            td { @if let Some(r) = rec { span class=(if r.ok { "ok" } else { "bad" }) { (r.outcome) } } }
                            td { form method="post" action={"/admin/jobs/" (j.name())} { (crate::web::csrf::field()) button type="submit" { "Run now" } } }
                        }
                    } }
                } }
            }
            @if let Some((_, r)) = d.jobs.iter().find(|(n, _)| n == "reconcile") {
                section.card {
                    h2 { "Last reconcile (" (clock::human(r.last_run)) ")" }
                    @if r.actions.is_empty() { p.muted { "Cloud and store agreed: nothing to do." } }
                    ul { @for a in &r.actions { li { (a) } } }
                }
            }
            @if let Some(why) = &d.guard.trouble {
                section.card {
                    h2 { "Price: decisions wait" }
                    p.bad { (why) }
                    @if let Some(last) = d.guard.accepted { p { "Last accepted price: " (format_usd(last.usd)) " per XMR (" (clock::human(last.at)) ")." } }
                    @if let Some(h) = d.guard.held {
                        p { "Held price: " strong { (format_usd(h.quote.usd)) } " per XMR, first seen " (clock::human(h.since)) ". It is accepted on its own if it persists for 15 minutes." }
                        form.inline method="post" action="/admin/price/accept" { (crate::web::csrf::field()) button type="submit" { "Accept the held price" } }
                    }
                }
            }
            @if let Some(r) = d.price_report { (price_sources(r)) }
            @if c.sandbox {
                section.card {
                    h2 { "Sandbox price" }
                    p { "Current simulated price: " (d.price.map(format_usd).unwrap_or_else(|| "?".into())) " per XMR. Drop it to see low funds and the end of a node." }
                    form.inline method="post" action="/sandbox/price" { (crate::web::csrf::field())
                        label for="usd" { "New price in USD" }
                        input #usd name="usd" inputmode="decimal" size="10" value="1.50";
                        button type="submit" { "Set price" }
                    }
                }
            }
            section.card {
                h2 { "Operations (" (d.rows.len()) ")" }
                p { a href="/admin/audit" { "Ledger audit" } " — checks every operation against the wallet (one wallet call each)." }
                div.table-wrap { table.ops {
                    thead { tr { th { "Codename" } th { "State" } th { "Unlocked / balance" } th { "Resources" } th { "Last payout" } th { "Unrelayed" } th {} } }
                    tbody { @for r in d.rows {
                        tr {
                            td { a href={"/operation/" (r.s.id)} { (r.s.codename) } br; small { code { (r.s.id) } } }
                            td { (r.s.state) @if let Some(p) = &r.s.problem { br; small.bad { (p) } } }
                            td { (xmr(r.s.unlocked)) " / " (xmr(r.s.balance)) }
                            td { small {
                                (r.region)
                                @if let Some(d) = r.s.droplet { br; "droplet " (d) }
                                @if let Some(v) = &r.volume { br; "volume " (v) }
                                @if let Some(ip) = &r.ipv4 { br; (ip) }
                            } }
                            td { @if let Some(t) = r.last_payout { (clock::human(t)) } @else { "—" } }
                            td { (r.unrelayed) }
                            td { @if r.cancellable {
                                form method="post" action={"/admin/operation/" (r.s.id) "/cancel"} { (crate::web::csrf::field()) button.danger type="submit" { "Cancel" } }
                            } }
                        }
                    } }
                } }
            }
        },
    )
}

/// The ledger audit page.
pub fn audit(c: &Chrome, lines: &[crate::jobs::audit::Ledger]) -> Markup {
    let off = lines.iter().filter(|l| l.is_off()).count();
    page(
        c,
        "Ledger audit",
        html! {
            section.card {
                h1 { "Ledger audit" }
                p { "For every operation and every wallet account, from the wallet's own records: deposits = payouts + fees + refunds + balance, to the piconero; every transaction that left an account is a recorded payout to PAYOUT_ADDRESS or the refund address. "
                    a href="/admin" { "Back to the dashboard" } }
                @if off == 0 { p.ok { "All " (lines.len()) " operation(s) balance." } }
                @else { p.bad { (off) " operation(s) do not balance or could not be read." } }
                div.table-wrap { table.ops {
                    thead { tr { th { "Codename" } th { "Deposits" } th { "Payouts" } th { "Fees" } th { "Refunds" } th { "Balance" } th { "Result" } } }
                    tbody { @for l in lines {
                        tr {
                            td { @if l.id.is_empty() { (l.codename) } @else { a href={"/operation/" (l.id)} { (l.codename) } } }
                            td { (xmr(l.deposits)) } td { (xmr(l.payouts)) } td { (xmr(l.fees)) }
                            td { (xmr(l.refunds)) } td { (xmr(l.balance)) }
                            td { @match (&l.error, l.difference) {
                                (Some(e), _) => span.bad { "wallet: " (e) },
                                (None, 0) if l.problems.is_empty() => span.ok { "ok" },
                                (None, 0) => {},
                                (None, d) => span.bad { "difference " (d) " piconero" },
                            }
                            @for p in &l.problems { br; span.bad { (p) } } }
                        }
                    } }
                } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_lists_operations_and_jobs() {
        let row = AdminRow {
            s: OpSummary {
                codename: "alpha".into(),
                id: "0123".into(),
                state: "active".into(),
                balance: 5,
                unlocked: 4,
                droplet: Some(1001),
                problem: None,
            },
            region: "ams3".into(),
            volume: Some("vol-1".into()),
            ipv4: None,
            last_payout: None,
            unrelayed: 0,
            cancellable: true,
        };
        let d = Dashboard {
            rows: &[row],
            jobs: &[],
            timings: &[],
            paused: true,
            price: Some(150_000_000),
            price_report: None,
            guard: &Default::default(),
            notice: None,
        };
        let s = render(&crate::web::views::chrome(), &d).into_string();
        for w in [
            "alpha",
            "droplet 1001",
            "/admin/jobs/process-payouts",
            "PAYOUTS_PAUSED",
            "$150.00",
            "/cancel",
        ] {
            assert!(s.contains(w), "missing {w}");
        }
        assert!(
            login(&crate::web::views::chrome(), Some("Wrong token"))
                .into_string()
                .contains("Wrong token")
        );
    }

    #[test]
    fn the_price_section_names_each_source_and_what_it_said() {
        use crate::clients::price::{PriceError, Quote, SourceReport};
        let q = |usd, at| Quote { usd, at };
        let src = |name: &str, said| SourceReport {
            source: name.into(),
            said,
        };
        let report = PriceReport {
            asked_at: 1_767_225_600,
            median: Err(PriceError(
                "coingecko said $150.00 and kraken $75.00".into(),
            )),
            sources: vec![
                src("coingecko", Said::Disagrees(q(150_000_000, 1_767_225_500))),
                src("kraken", Said::Disagrees(q(75_000_000, 1_767_225_590))),
                src("bitfinex", Said::Stale(q(149_000_000, 1_767_218_400))),
            ],
        };
        let d = Dashboard {
            rows: &[],
            jobs: &[],
            timings: &[],
            paused: false,
            price: None,
            price_report: Some(&report),
            guard: &Default::default(),
            notice: None,
        };
        let s = render(&crate::web::views::chrome(), &d).into_string();
        for w in [
            "XMR price sources",
            "no price: coingecko said $150.00 and kraken $75.00",
            "kraken",
            "$75.00",
            "disagrees: more than 5 % from the others",
            "stale since 2025-12-31 22:00 UTC",
        ] {
            assert!(s.contains(w), "missing {w}");
        }
    }
}
