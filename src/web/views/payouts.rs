//! `/operation/{id}/payouts`.

use maud::{Markup, html};

use super::layout::{Chrome, page};
use super::xmr;
use crate::clock;
use crate::domain::money::format_usd;
use crate::domain::operation::Operation;
use crate::domain::payout::{Payout, PayoutKind, PayoutStatus};

/// The page; `explorer` is the transaction link prefix (None in sandbox).
pub fn render(c: &Chrome, op: &Operation, payouts: &[Payout], explorer: Option<&str>) -> Markup {
    let total: u64 = payouts
        .iter()
        .filter(|p| !matches!(p.status, PayoutStatus::Dead(_)))
        .map(|p| p.amount)
        .sum();
    let secs: u64 = payouts
        .iter()
        .filter(|p| !matches!(p.status, PayoutStatus::Dead(_)))
        .map(|p| p.seconds)
        .sum();
    page(
        c,
        &format!("Payouts of {}", op.codename),
        html! {
            section.card {
                h1 { "Payouts of " a href={"/operation/" (op.id)} { (op.codename) } }
                p { (payouts.len()) " payout(s): " strong { (xmr(total)) } " for " (clock::duration(secs)) " of hosting." }
                @if payouts.is_empty() { p.muted { "No payout yet: the first comes a few hours after the node launches." } }
                @else {
                    div.table-wrap { table.payouts {
                        thead { tr { th { "#" } th { "When" } th { "Hosting" } th { "Cost/h" } th { "XMR price" } th { "Paid" } th { "Fee" } th { "Transaction" } } }
                        tbody { @for p in payouts {
                            tr {
                                td { (p.seq) }
                                td { (clock::human(p.at)) }
                                td { (p.seconds) " s" }
                                td { (format_usd(p.cost_per_hour)) }
                                td { (format_usd(p.price)) }
                                td { (xmr(p.amount)) @if p.is_final { " (final)" } @if p.kind == PayoutKind::Refund { " (refund)" } }
                                td { (xmr(p.fee)) }
                                td.tx {
                                    @match explorer {
                                        Some(e) => a href={(e) (p.tx_hash)} { code { (p.tx_hash) } },
                                        None => code { (p.tx_hash) },
                                    }
                                    @match &p.status { PayoutStatus::Built => " (relaying)", PayoutStatus::Dead(r) => { " (dead: " (r) ")" }, _ => "" }
                                }
                            }
                        } }
                    } }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_hashes_and_totals() {
        let op = crate::domain::operation::sample("0123456789abcdef0123456789abcdef", "alpha");
        let p = Payout {
            op_id: op.id.clone(),
            seq: 1,
            at: 0,
            seconds: 10_800,
            cost_per_hour: 62_258,
            price: 150_000_000,
            amount: 1_245_160_000,
            fee: 30_000_000,
            tx_hash: "ab".repeat(32),
            tx_metadata: String::new(),
            status: PayoutStatus::Relayed,
            is_final: false,
            kind: Default::default(),
        };
        let s = render(
            &crate::web::views::chrome(),
            &op,
            &[p],
            Some("https://xmrchain.net/tx/"),
        )
        .into_string();
        assert!(s.contains(&format!("https://xmrchain.net/tx/{}", "ab".repeat(32))));
        assert!(s.contains("1 payout(s)") && s.contains("for 3 h of hosting"));
    }
}
