//! The page frame: header, SANDBOX banner, footer.

use maud::{DOCTYPE, Markup, PreEscaped, html};

/// The versioned URL of an embedded asset (`/static/<path>?v=<hash>`).
pub use crate::web::routes::assets::url as asset_url;

/// What every page shows around its content.
#[derive(Debug, Clone)]
pub struct Chrome {
    pub site_name: String,
    pub sandbox: bool,
    /// Seconds after which the page reloads itself (no JavaScript needed).
    pub refresh: Option<u32>,
    /// Said on every page while prices use the last accepted XMR price.
    pub price_notice: Option<String>,
}

/// A whole page.
pub fn page(c: &Chrome, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(s) = c.refresh { meta http-equiv="refresh" content=(s); }
                title { (title) " · " (c.site_name) }
                link rel="stylesheet" href=(asset_url("style.css"));
                link rel="icon" href=(asset_url("favicon.png")) type="image/png";
            }
            body {
                @if c.sandbox {
                    div.sandbox-banner role="note" {
                        strong { "SANDBOX" } " — simulated wallet, cloud and price. No real money moves and no server is rented."
                    }
                }
                @if let Some(n) = &c.price_notice {
                    div.price-banner role="note" { (n) }
                }
                header.top {
                    a.brand href="/" { img src=(asset_url("logo.png")) alt="" width="28" height="28"; (c.site_name) }
                    nav {
                        a href="/" { "Nodes" }
                        a href="/launchpad" { "Launch a node" }
                        a href="/info" { "Pricing & rules" }
                    }
                }
                main { (content) }
                footer {
                    p { "Public Monero nodes paid for in XMR, running as long as the money lasts. "
                        a href="/info" { "How it works" } " · " a href="/status" { "Status" } }
                }
            }
        }
    }
}

/// A notice box.
pub fn notice(kind: &str, text: &str) -> Markup {
    html! { p class={"notice " (kind)} role=(if kind == "error" { "alert" } else { "status" }) { (text) } }
}

/// A definition list row.
pub fn row(label: &str, value: Markup) -> Markup {
    html! { dt { (label) } dd { (value) } }
}

/// Non-breaking join for short values.
pub fn nbsp() -> Markup {
    PreEscaped("&nbsp;".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_links_its_assets_by_version() {
        let c = Chrome {
            site_name: "nodecannon".into(),
            sandbox: false,
            refresh: None,
            price_notice: None,
        };
        let html = page(&c, "t", html! {}).into_string();
        for name in ["style.css", "favicon.png", "logo.png"] {
            assert!(
                html.contains(&format!("\"/static/{name}?v=")),
                "{name}: {html}"
            );
        }
        assert!(!html.contains(".css\""), "{html}");
    }
}
