//! `/`: nodes in orbit.

use maud::{Markup, html};

use super::charts::{ProbeStrip, probe_strip};
use super::layout::{Chrome, page};
use crate::clock;

/// One node of the list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeRow {
    pub codename: String,
    pub region: String,
    pub dns: String,
    pub onion: Option<String>,
    /// booting, syncing, synced, behind, unreachable.
    pub status: String,
    /// `syncing 42 %` and the like.
    pub status_text: String,
    pub synchronized: bool,
    pub height: u64,
    pub target_height: u64,
    pub checked_at: Option<String>,
    /// RFC 3339 time of the first failed probe in a row.
    pub unreachable_since: Option<String>,
    pub age_secs: u64,
    pub rpc_port: u16,
    #[serde(skip)]
    pub op_id: String,
}

/// The page: `strips[i]` is the strip of `nodes[i]` (`None`: not shown).
pub fn render(
    c: &Chrome,
    nodes: &[NodeRow],
    strips: &[Option<ProbeStrip>],
    page_no: usize,
    pages: usize,
    total: usize,
) -> Markup {
    page(
        c,
        "Nodes in orbit",
        html! {
            section.hero {
                h1 { "Public Monero nodes, paid for in XMR" }
                p { "Anyone can fund a node. It runs for as long as the money lasts, and anyone can use it." }
                p { a.button href="/launchpad" { "Launch a node" } }
            }
            section {
                h2 { "Nodes in orbit (" (total) ")" }
                @if nodes.is_empty() {
                    p.muted { "No node is running right now. " a href="/launchpad" { "Launch the first one." } }
                } @else {
                    div.table-wrap {
                        table.nodes {
                            thead { tr { th { "Node" } th { "Region" } th { "Age" } th { "Status" } th { "Connect" } } }
                            tbody {
                                @for (i, n) in nodes.iter().enumerate() {
                                    tr {
                                        td { a href={"/operation/" (n.op_id)} { (n.codename) } }
                                        td { (n.region) }
                                        td { (clock::duration(n.age_secs)) }
                                        td {
                                            span class={"status " (n.status)} { (n.status_text) }
                                            @if let Some(Some(s)) = strips.get(i) { (probe_strip(s)) }
                                        }
                                        td.connect {
                                            code { (n.dns) ":" (n.rpc_port) }
                                            br; code.tls { "https://" (n.dns) }
                                            @if let Some(o) = &n.onion { br; code.onion { (o) ":" (n.rpc_port) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    @if pages > 1 {
                        nav.pager aria-label="pages" {
                            @if page_no > 1 { a href={"/?page=" (page_no - 1)} { "← newer" } }
                            span { "page " (page_no) " of " (pages) }
                            @if page_no < pages { a href={"/?page=" (page_no + 1)} { "older →" } }
                        }
                    }
                }
                p.muted { "Point your wallet at a node's address and port (restricted RPC), "
                    "at its https:// address (TLS on port 443, usable from web wallets), "
                    "or, through Tor, at its onion address and port. "
                    "The same list as JSON: " a href="/api/nodes" { "/api/nodes" } "." }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> NodeRow {
        NodeRow {
            codename: "alpha".into(),
            region: "ams3".into(),
            dns: "alpha.node.example.com".into(),
            onion: Some("abc.onion".into()),
            status: "syncing".into(),
            status_text: "syncing 42 %".into(),
            synchronized: false,
            height: 1,
            target_height: 2,
            checked_at: None,
            unreachable_since: None,
            age_secs: 7200,
            rpc_port: 18081,
            op_id: "x".into(),
        }
    }

    #[test]
    fn lists_nodes_and_says_when_there_are_none() {
        let c = crate::web::views::chrome();
        assert!(
            render(&c, &[], &[], 1, 1, 0)
                .into_string()
                .contains("No node is running")
        );
        let n = row();
        let s = render(&c, &[n], &[None], 1, 2, 30).into_string();
        assert!(
            s.contains("alpha.node.example.com:18081")
                && s.contains("syncing 42 %")
                && s.contains("abc.onion")
        );
        assert!(s.contains("SANDBOX") && s.contains("/?page=2"));
    }

    #[test]
    fn the_index_shows_each_node_its_strip() {
        use crate::web::views::charts::tests::{T, sample};
        let c = crate::web::views::chrome();
        let mut n = row();
        n.op_id = "y".into();
        let strip = ProbeStrip::of(&[sample(T, true, true)]);
        let s = render(&c, &[row(), n], &[None, Some(strip)], 1, 1, 2).into_string();
        assert_eq!(s.matches("<div class=\"probes\">").count(), 1, "{s}");
        assert!(s.contains("first probe:\u{a0}answered"));
    }
}
