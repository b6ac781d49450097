//! `/`: nodes in orbit.

use maud::{Markup, html};

use super::layout::{Chrome, page};
use crate::clock;
use crate::domain::Timestamp;
use crate::store::HealthSample;

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

/// Probes in a node's strip on the index.
pub const STRIP: usize = 24;

/// What one probe of the strip found, in the status column's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Cell {
    /// No probe yet this far back.
    #[default]
    None,
    /// Answered, synchronized.
    Synced,
    /// Answered, still syncing.
    Syncing,
    /// No answer.
    Unreachable,
}

impl Cell {
    const ALL: [Cell; 4] = [Cell::None, Cell::Synced, Cell::Syncing, Cell::Unreachable];

    fn of(h: &HealthSample) -> Self {
        match (h.reachable, h.synchronized) {
            (false, _) => Cell::Unreachable,
            (true, true) => Cell::Synced,
            (true, false) => Cell::Syncing,
        }
    }

    /// What the strip's label calls it.
    fn word(self) -> &'static str {
        match self {
            Cell::None => "no probe",
            Cell::Synced => "synced",
            Cell::Syncing => "syncing",
            Cell::Unreachable => "no answer",
        }
    }

    /// Its CSS class (colour).
    fn class(self) -> &'static str {
        match self {
            Cell::None => "none",
            Cell::Synced => "synced",
            Cell::Syncing => "syncing",
            Cell::Unreachable => "unreachable",
        }
    }
}

/// A node's last [`STRIP`] probes, in a few bytes: what the index keeps per
/// operation (`Caches::probe_strips`) instead of the history.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProbeStrip {
    /// Oldest first; [`Cell::None`] before the node's first probe.
    pub cells: [Cell; STRIP],
    /// When the first and the last of them were made.
    pub span: Option<(Timestamp, Timestamp)>,
    /// The last of them that was not answered.
    pub last_down: Option<Timestamp>,
}

impl ProbeStrip {
    /// The strip of a node's history (oldest first).
    pub fn of(history: &[HealthSample]) -> Self {
        let recent = &history[history.len().saturating_sub(STRIP)..];
        let mut cells = [Cell::None; STRIP];
        for (cell, h) in cells[STRIP - recent.len()..].iter_mut().zip(recent) {
            *cell = Cell::of(h);
        }
        Self {
            cells,
            span: recent.first().zip(recent.last()).map(|(a, b)| (a.at, b.at)),
            last_down: recent.iter().rev().find(|h| !h.reachable).map(|h| h.at),
        }
    }

    fn count(&self, kind: Cell) -> usize {
        self.cells.iter().filter(|c| **c == kind).count()
    }

    /// The figures as a short sentence, shown under the strip.
    pub fn text(&self) -> String {
        match self.text_parts() {
            (s, Some(missed)) => format!("{s}, {missed}"),
            (s, None) => s,
        }
    }

    /// The sentence in two parts: the probes answered, and when the last
    /// one was missed (on its own line under the strip).
    fn text_parts(&self) -> (String, Option<String>) {
        let probed = STRIP - self.count(Cell::None);
        let answered = probed - self.count(Cell::Unreachable);
        let s = match (probed, answered) {
            (0, _) => "not probed yet".into(),
            (1, 1) => "first probe: answered".into(),
            (1, _) => "first probe: no answer".into(),
            (p, a) => {
                let which = if p == STRIP { "last" } else { "first" };
                if a == p {
                    format!("{which} {p} probes: all answered")
                } else {
                    format!("{which} {p} probes: {a} answered")
                }
            }
        };
        let missed = match (self.last_down, self.span) {
            (Some(down), Some((_, last))) if probed > 1 => {
                Some(format!("last missed {}", short_time(down, last)))
            }
            _ => None,
        };
        (s, missed)
    }

    /// The figures in full, for the strip's title and screen readers.
    fn label(&self) -> String {
        let Some((first, last)) = self.span else {
            return "No probes yet".into();
        };
        let parts: Vec<String> = [Cell::Synced, Cell::Syncing, Cell::Unreachable]
            .iter()
            .filter_map(|k| match self.count(*k) {
                0 => None,
                n => Some(format!("{n} {}", k.word())),
            })
            .collect();
        match STRIP - self.count(Cell::None) {
            1 => format!(
                "First probe, {}: {}",
                clock::human(first),
                self.cells[STRIP - 1].word()
            ),
            n => format!(
                "{} {n} probes, {} to {}: {}",
                if n == STRIP { "Last" } else { "First" },
                clock::human(first),
                short_time(last, first),
                parts.join(", ")
            ),
        }
    }
}

/// `14:05 UTC` when on the same day as `reference`, else the date too.
fn short_time(t: Timestamp, reference: Timestamp) -> String {
    let day = |t: Timestamp| chrono::DateTime::from_timestamp(t, 0).map(|d| d.date_naive());
    match chrono::DateTime::from_timestamp(t, 0) {
        Some(d) if day(t) == day(reference) => d.format("%H:%M UTC").to_string(),
        _ => clock::human(t),
    }
}

/// Width of a strip's cell and the gap after it, in SVG units.
const CELL: usize = 5;

/// A node's last probes as an inline SVG strip (one cell per probe, oldest
/// left; no script, colours from the stylesheet) with its figures as text
/// for browsers that hide SVG.
fn probe_strip(s: &ProbeStrip) -> Markup {
    // One path per kind of cell keeps 25 strips small.
    let paths: Vec<(&str, String)> = Cell::ALL
        .iter()
        .filter_map(|kind| {
            let d: String = s
                .cells
                .iter()
                .enumerate()
                .filter(|(_, c)| *c == kind)
                .map(|(i, _)| format!("M{} 0h{}v14h-{}z", i * CELL, CELL - 1, CELL - 1))
                .collect();
            (!d.is_empty()).then(|| (kind.class(), d))
        })
        .collect();
    let label = s.label();
    // No-break spaces keep `22 answered` and `14:05 UTC` whole when the text wraps.
    let nb = |t: String| {
        t.replace(" answered", "\u{a0}answered")
            .replace(" UTC", "\u{a0}UTC")
    };
    let (text, missed) = s.text_parts();
    let (text, missed) = (nb(text), missed.map(nb));
    let w = STRIP * CELL - 1;
    html! {
        div.probes {
            svg viewBox={"0 0 " (w) " 14"} width=(w) height="14" preserveAspectRatio="none" role="img" aria-label=(label) {
                title { (label) }
                @for (class, d) in &paths { path class=(class) d=(d) {} }
            }
            small {
                (text)
                @if let Some(m) = missed { ", " span { (m) } }
            }
        }
    }
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

    fn sample(at: i64, reachable: bool, synchronized: bool) -> HealthSample {
        HealthSample {
            at,
            reachable,
            height: 10,
            target_height: 10,
            synchronized,
            peers_in: 0,
            peers_out: 0,
            database_size: 0,
            status: String::new(),
        }
    }

    /// 2026-11-23 14:00 UTC.
    const T: i64 = 1_795_442_400;

    #[test]
    fn a_strip_of_answered_probes_says_so_in_its_text_and_label() {
        // 30 probes a minute apart: the strip keeps the last 24, all green.
        let history: Vec<_> = (0..30).map(|i| sample(T + i * 60, true, true)).collect();
        let strip = ProbeStrip::of(&history);
        assert!(strip.cells.iter().all(|c| *c == Cell::Synced));
        assert_eq!(strip.span, Some((T + 6 * 60, T + 29 * 60)));
        assert_eq!(strip.text(), "last 24 probes: all answered");
        let html = probe_strip(&strip).into_string();
        assert!(html.contains("role=\"img\""), "{html}");
        assert!(
            html.contains("Last 24 probes, 2026-11-23 14:06 UTC to 14:29 UTC: 24 synced"),
            "{html}"
        );
        assert_eq!(
            html.matches("<path").count(),
            1,
            "one path per kind: {html}"
        );
        assert!(html.contains("<small>last 24 probes: all\u{a0}answered</small>"));
    }

    #[test]
    fn a_strip_with_missed_probes_counts_them_and_says_when_the_last_was() {
        let mut history: Vec<_> = (0..24).map(|i| sample(T + i * 60, true, true)).collect();
        history[3].synchronized = false;
        history[5].reachable = false;
        history[20].reachable = false;
        let strip = ProbeStrip::of(&history);
        assert_eq!(strip.cells[3], Cell::Syncing);
        assert_eq!(strip.cells[20], Cell::Unreachable);
        assert_eq!(strip.last_down, Some(T + 20 * 60));
        assert_eq!(
            strip.text(),
            "last 24 probes: 22 answered, last missed 14:20 UTC"
        );
        let html = probe_strip(&strip).into_string();
        assert!(html.contains("21 synced, 1 syncing, 2 no answer"), "{html}");
        assert!(
            html.contains(
                "last 24 probes: 22\u{a0}answered, <span>last missed 14:20\u{a0}UTC</span>"
            ),
            "{html}"
        );
        assert!(html.contains("class=\"unreachable\" d=\"M25 0h4v14h-4zM100 0h4v14h-4z\""));
        // A miss on another day than the last probe carries its date.
        assert_eq!(short_time(T, T + 86_400), "2026-11-23 14:00 UTC");
    }

    #[test]
    fn a_node_without_history_has_a_grey_strip_and_says_it_was_not_probed() {
        let strip = ProbeStrip::of(&[]);
        assert_eq!(strip, ProbeStrip::default());
        assert_eq!(strip.text(), "not probed yet");
        let html = probe_strip(&strip).into_string();
        assert!(html.contains("class=\"none\"") && html.contains("No probes yet"));
        // A young node: its probes on the right, grey before them.
        let strip = ProbeStrip::of(&[sample(T, false, false), sample(T + 60, true, false)]);
        assert_eq!(strip.cells[..22], [Cell::None; 22]);
        assert_eq!(strip.cells[22..], [Cell::Unreachable, Cell::Syncing]);
        assert_eq!(
            strip.text(),
            "first 2 probes: 1 answered, last missed 14:00 UTC"
        );
        let one = ProbeStrip::of(&[sample(T, true, true)]);
        assert_eq!(one.text(), "first probe: answered");
        assert_eq!(one.label(), "First probe, 2026-11-23 14:00 UTC: synced");
    }

    #[test]
    fn the_index_shows_each_node_its_strip() {
        let c = crate::web::views::chrome();
        let mut n = row();
        n.op_id = "y".into();
        let strip = ProbeStrip::of(&[sample(T, true, true)]);
        let s = render(&c, &[row(), n], &[None, Some(strip)], 1, 1, 2).into_string();
        assert_eq!(s.matches("<div class=\"probes\">").count(), 1, "{s}");
        assert!(s.contains("first probe:\u{a0}answered"));
    }
}
