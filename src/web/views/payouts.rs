//! `/operation/{id}/payouts`.

use maud::{Markup, html};

use super::layout::{Chrome, page};
use super::xmr;
use crate::clock;
use crate::domain::money::format_usd;
use crate::domain::operation::Operation;
use crate::domain::payout::{Payout, PayoutKind, PayoutStatus};

/// Payouts shown per page (newest first).
pub const PER_PAGE: usize = 100;

/// The page `page_no` (from 1, clamped) of an operation's payouts, newest
/// first, with totals over all of them; `explorer` is the transaction link
/// prefix (None in sandbox).
pub fn render(
    c: &Chrome,
    op: &Operation,
    payouts: &[Payout],
    page_no: usize,
    explorer: Option<&str>,
) -> Markup {
    let pages = payouts.len().div_ceil(PER_PAGE).max(1);
    let page_no = page_no.clamp(1, pages);
    let shown = payouts
        .iter()
        .rev()
        .skip((page_no - 1) * PER_PAGE)
        .take(PER_PAGE);
    let base = format!("/operation/{}/payouts", op.id);
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
                        tbody { @for p in shown {
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
                    @if pages > 1 {
                        nav.pager aria-label="pages" {
                            @if page_no > 1 { a href={(base) "?page=" (page_no - 1)} { "← newer" } }
                            span { "page " (page_no) " of " (pages) }
                            @if page_no < pages { a href={(base) "?page=" (page_no + 1)} { "older →" } }
                        }
                    }
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
            key_images: Vec::new(),
            to: String::new(),
        };
        let s = render(
            &crate::web::views::chrome(),
            &op,
            std::slice::from_ref(&p),
            1,
            Some("https://xmrchain.net/tx/"),
        )
        .into_string();
        assert!(s.contains(&format!("https://xmrchain.net/tx/{}", "ab".repeat(32))));
        assert!(s.contains("1 payout(s)") && s.contains("for 3 h of hosting"));
        assert!(!s.contains("page 1 of"));

        // 250 payouts: three pages, newest first, totals over all.
        let many: Vec<Payout> = (1..=250).map(|seq| Payout { seq, ..p.clone() }).collect();
        let page = |n| render(&crate::web::views::chrome(), &op, &many, n, None).into_string();
        let first = page(1);
        assert!(first.contains("250 payout(s)") && first.contains("page 1 of 3"));
        assert!(first.contains("<td>250</td>") && first.contains("<td>151</td>"));
        assert!(!first.contains("<td>150</td>") && !first.contains("← newer"));
        assert!(first.contains("payouts?page=2"));
        let last = page(9);
        assert!(last.contains("page 3 of 3") && last.contains("<td>1</td>"));
        assert!(last.contains("payouts?page=2") && !last.contains("older →"));
    }
}
