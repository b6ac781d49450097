//! One module per page, each exposing `render(..) -> Markup` and tested on
//! the rendered string.

pub mod admin;
pub mod charts;
pub mod error;
pub mod feed;
pub mod index;
pub mod info;
pub mod launch_steps;
pub mod launchpad;
pub mod layout;
pub mod operation;
pub mod payouts;

use crate::domain::money::{Pico, Rates, format_usd_cents, format_xmr, format_xmr_estimate};

/// The periods of the pricing tables.
pub const PERIODS: [(&str, u64); 4] = [
    ("2 weeks", 14 * 86_400),
    ("1 month", 730 * 3600),
    ("6 months", 6 * 730 * 3600),
    ("1 year", 12 * 730 * 3600),
];

/// XMR and USD needed for a period, fees included.
pub fn period_cost(r: &Rates, secs: u64) -> (Pico, String) {
    let usd = (u128::from(r.cost) * u128::from(secs) / 3600) as u64;
    (r.needed_for(secs), format_usd_cents(usd))
}

/// The pricing table (2 weeks, 1 month, 6 months, 1 year) at the given rates.
pub fn pricing_table(r: &Rates) -> maud::Markup {
    maud::html! {
        table.pricing {
            thead { tr { th { "Runs for" } th { "XMR" } th { "USD" } } }
            tbody { @for (label, secs) in PERIODS { @let (p, usd) = period_cost(r, secs);
                tr { td { (label) } td { (xmr_est(p)) } td { (usd) } }
            } }
        }
    }
}

/// An estimate in XMR, rounded up.
pub fn xmr_est(p: Pico) -> String {
    format!("{} XMR", format_xmr_estimate(p))
}

/// `1.2345 XMR`.
pub fn xmr(p: Pico) -> String {
    format!("{} XMR", format_xmr(p))
}

#[cfg(test)]
pub(crate) fn chrome() -> layout::Chrome {
    layout::Chrome {
        site_name: "Test Cannon".into(),
        sandbox: true,
        refresh: None,
        price_notice: None,
    }
}
