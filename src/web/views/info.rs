//! `/info`: rules, pricing table, donation address.

use maud::{Markup, html};

use super::layout::{Chrome, page};
use super::xmr;
use crate::clock;
use crate::domain::money::{HourlyCost, Rates, format_usd};

/// What the rules page shows.
pub struct Info<'a> {
    pub rates: Option<(HourlyCost, Rates)>,
    pub size: &'a str,
    pub storage_gb: u32,
    pub min_funded_secs: u64,
    pub low_funds_secs: u64,
    pub grace_secs: u64,
    pub donation: &'a str,
    /// Where each figure comes from.
    pub sources: &'a [(&'static str, String)],
}

/// The page.
pub fn render(c: &Chrome, i: &Info) -> Markup {
    page(
        c,
        "Pricing & rules",
        html! {
            section.card {
                h1 { "How it works" }
                ol {
                    li { "Open an operation on the " a href="/launchpad" { "launchpad" } ": a codename and a region. You get a Monero address of your own." }
                    li { "Send XMR to it. Once the unlocked balance covers " (clock::duration(i.min_funded_secs)) " of hosting, a node launches: a "
                        code { (i.size) } " droplet with a " (i.storage_gb) " GiB volume running monerod." }
                    li { "Every " (clock::duration(c_every(i))) " the hosting cost of the hours that passed moves to the operator, at the market price of XMR." }
                    li { "Below " (clock::duration(i.low_funds_secs)) " of runway the operation is marked low on funds. When the money cannot pay for the next period, the node is destroyed — it never runs on credit." }
                    li { "An ended operation can be refilled and relaunched for " (clock::duration(i.grace_secs)) "; then it closes, and what is left goes to your refund address if you gave one." }
                }
            }
            section.card {
                h2 { "Pricing" }
                @match &i.rates {
                    Some((cost, r)) => {
                        p { "Per hour: droplet " (format_usd(cost.droplet)) " (from the cloud's price list), volume " (format_usd(cost.volume))
                            " (" (i.storage_gb) " GiB at the configured price per GiB-month), management fee " (format_usd(cost.management))
                            ": " strong { (format_usd(cost.total())) } ". XMR price: " (format_usd(r.price)) ". Network fee per payout: " (xmr(r.fee)) "." }
                        (super::pricing_table(r))
                    }
                    None => p.notice.warn { "Prices are not available right now." }
                }
                h3 { "Where the figures come from" }
                dl.sources { @for (what, from) in i.sources { dt { (what) } dd { (from) } } }
            }
            section.card {
                h2 { "Donations" }
                p { "Keep the lights on: " code.address { (i.donation) } }
            }
        },
    )
}

fn c_every(i: &Info) -> u64 {
    i.rates.map(|(_, r)| r.payout_every).unwrap_or(3 * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pricing_table_has_every_period() {
        let r = Rates {
            cost: 62_258,
            price: 150_000_000,
            fee: 30_000_000,
            payout_every: 10_800,
        };
        let i = Info {
            rates: Some((HourlyCost::new(35_710, 150, 100_000, 6_000), r)),
            size: "s-2vcpu-4gb",
            storage_gb: 150,
            min_funded_secs: 336 * 3600,
            low_funds_secs: 48 * 3600,
            grace_secs: 72 * 3600,
            donation: "4donate",
            sources: &[("XMR price", "median of coingecko and kraken".into())],
        };
        let s = render(&crate::web::views::chrome(), &i).into_string();
        for p in [
            "2 weeks",
            "1 month",
            "6 months",
            "1 year",
            "4donate",
            "$0.062258",
            "Where the figures come from",
            "median of coingecko and kraken",
        ] {
            assert!(s.contains(p), "missing {p}");
        }
    }
}
