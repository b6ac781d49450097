//! `/launchpad`: the form that opens an operation.

use maud::{Markup, html};

use super::layout::{Chrome, notice, page};
use super::xmr_est;
use crate::clients::cloud::Region;
use crate::domain::money::{Pico, format_usd};
use crate::ops::LaunchForm;

/// What the form shows besides the fields.
pub struct Launchpad<'a> {
    pub regions: &'a [Region],
    pub form: LaunchForm,
    pub error: Option<String>,
    pub open: bool,
    pub min_to_launch: Option<Pico>,
    pub hourly_usd: Option<u64>,
    pub min_hours: u64,
}

/// The page.
pub fn render(c: &Chrome, l: &Launchpad) -> Markup {
    page(
        c,
        "Launch a node",
        html! {
            section.card {
                h1 { "Launch a node" }
                @if !l.open {
                    (notice("warn", "The launchpad is closed for now. Running nodes are not affected; come back later."))
                } @else {
                    p { "Choose a name and a region. You get a Monero address; once it holds enough for "
                        (l.min_hours) " hours of hosting, the node launches." }
                    @if let (Some(min), Some(h)) = (l.min_to_launch, l.hourly_usd) {
                        p.muted { "Right now that is " strong { (xmr_est(min)) } " (" (format_usd(h)) " per hour, fees included): the droplet at the cloud's live hourly price, the volume and management fee as the operator set them, converted at the current XMR market price. "
                            a href="/info" { "Where each figure comes from" } }
                    }
                    @if let Some(e) = &l.error { (notice("error", e)) }
                    form method="post" action="/launchpad" { (crate::web::csrf::field())
                        label for="codename" { "Codename" }
                        input #codename name="codename" value=(l.form.codename) required maxlength="30"
                            pattern="[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?" autocomplete="off";
                        small { "1–30 letters, digits or dashes; your node becomes " code { "codename.node.…" } }
                        label for="region" { "Region" }
                        select #region name="region" required {
                            @for r in l.regions {
                                option value=(r.slug) selected[r.slug == l.form.region] { (r.name) " (" (r.slug) ")" }
                            }
                        }
                        label for="refund_address" { "Refund address (optional)" }
                        input #refund_address name="refund_address" value=(l.form.refund_address) autocomplete="off";
                        small { "Where what is left goes when the operation closes. Without one it stays for a refill." }
                        button type="submit" { "Open the operation" }
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
    fn form_keeps_input_and_shows_the_error() {
        let regions = vec![Region {
            slug: "ams3".into(),
            name: "Amsterdam 3".into(),
        }];
        let l = Launchpad {
            regions: &regions,
            form: LaunchForm {
                codename: "bad_name".into(),
                region: "ams3".into(),
                refund_address: String::new(),
            },
            error: Some("The codename may only use a-z".into()),
            open: true,
            min_to_launch: Some(1_000_000_000_000),
            hourly_usd: Some(62_258),
            min_hours: 336,
        };
        let s = render(&crate::web::views::chrome(), &l).into_string();
        assert!(s.contains(r#"value="bad_name""#) && s.contains("may only use a-z"));
        assert!(s.contains(r#"<option value="ams3" selected>"#));
        assert!(s.contains("1.0000 XMR"));
    }
}
