//! Inline SVG pictures: the operation page's charts and the index's strip
//! of each node's probes. No script, and the same figures as text for
//! browsers that hide SVG (Tor Browser's Safest level).

use maud::{Markup, html};

use super::xmr;
use crate::clients::wallet::AccountState;
use crate::clock;
use crate::domain::Timestamp;
use crate::store::HealthSample;

/// How far a probe says the node is synced, in percent (`None`: no answer).
fn synced_percent(h: &HealthSample) -> Option<u64> {
    if !h.reachable {
        None
    } else if h.synchronized {
        Some(100)
    } else {
        Some(crate::domain::health::sync_percent(
            h.height,
            h.target_height,
        ))
    }
}

/// Sync progress over time as an inline SVG (no script), with the same
/// figures as text for browsers that hide SVG (Tor Browser's Safest level).
pub(super) fn sync_chart(history: &[HealthSample]) -> Markup {
    const W: i64 = 600;
    const H: i64 = 120;
    let (first, last) = (&history[0], &history[history.len() - 1]);
    let span = (last.at - first.at).max(1);
    let x = |t: i64| (t - first.at) * W / span;
    // At most about 200 points: every n-th probe, and always the last.
    let step = history.len().div_ceil(200).max(1);
    let picked: Vec<&HealthSample> = history
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i == history.len() - 1)
        .map(|(_, h)| h)
        .collect();
    // Answered probes as line segments; a gap where the node did not answer.
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for h in &picked {
        match synced_percent(h) {
            Some(p) => {
                current.push_str(&format!(
                    "{},{} ",
                    x(h.at),
                    H - 10 - (p as i64) * (H - 20) / 100
                ));
            }
            None if !current.is_empty() => lines.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    let down: Vec<i64> = picked
        .iter()
        .filter(|h| !h.reachable)
        .map(|h| x(h.at))
        .collect();
    let answered = history.iter().filter(|h| h.reachable).count();
    let uptime = answered * 100 / history.len();
    let describe = |h: &HealthSample| match synced_percent(h) {
        Some(p) => format!("height {} ({} % synced)", h.height, p),
        None => "no answer".to_string(),
    };
    html! {
        h3 { "Sync progress" }
        svg.chart viewBox={"0 0 " (W) " " (H)} role="img" aria-label="Sync progress over time" preserveAspectRatio="none" {
            title { "Sync progress over time" }
            line x1="0" y1="10" x2=(W) y2="10" class="grid" {}
            line x1="0" y1=(H - 10) x2=(W) y2=(H - 10) class="grid" {}
            @for pts in &lines { polyline points=(pts) class="sync" {} }
            @for dx in &down { line x1=(dx) y1=(H - 6) x2=(dx) y2=(H) class="down" {} }
        }
        p.muted {
            "From " (clock::human(first.at)) ": " (describe(first)) "; at " (clock::human(last.at)) ": " (describe(last)) ". "
            "Answered " (answered) " of " (history.len()) " probes (" (uptime) " %)."
        }
    }
}

/// The balance over time (deposits up, payouts down) and, at today's price,
/// the runway ahead as a dashed line to zero: inline SVG, no script, with
/// the figures as text for browsers that hide SVG.
pub(super) fn balance_chart(
    a: &AccountState,
    outflows: &[(i64, u64)],
    runway: Option<u64>,
    now: i64,
) -> Markup {
    const W: i64 = 600;
    const H: i64 = 120;
    let mut moves: Vec<(i64, i128)> = a
        .transfers
        .iter()
        .map(|t| (t.seen_at, i128::from(t.amount)))
        .chain(outflows.iter().map(|(t, x)| (*t, -i128::from(*x))))
        .collect();
    if moves.is_empty() {
        return html! {};
    }
    moves.sort();
    let start = moves[0].0.min(now);
    let past = (now - start).max(3600);
    // The runway drawn at most three times the history's width.
    let ahead = runway.map(|r| (r as i64).min(3 * past)).unwrap_or(0);
    let end = now + ahead;
    let mut points = Vec::with_capacity(moves.len() * 2 + 2);
    let mut bal: i128 = 0;
    let mut top: i128 = 1;
    for (t, d) in &moves {
        points.push((*t, bal));
        bal = (bal + d).max(0);
        points.push((*t, bal));
        top = top.max(bal);
    }
    points.push((now, i128::from(a.balance)));
    top = top.max(i128::from(a.balance));
    let x = |t: i64| (t - start) * W / (end - start).max(1);
    let y = |b: i128| H - 10 - (b * i128::from(H - 20) / top) as i64;
    // At most about 400 points.
    let step = points.len().div_ceil(400).max(1);
    let line: String = points
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || *i == points.len() - 1)
        .map(|(_, (t, b))| format!("{},{} ", x(*t), y(*b)))
        .collect();
    let unlocked = i128::from(a.unlocked);
    let projected_end = match runway {
        Some(r) if r > 0 && ahead > 0 => {
            unlocked - unlocked * i128::from(ahead) / i128::from(r.max(1))
        }
        _ => unlocked,
    };
    html! {
        h3 { "Balance over time" }
        svg.chart viewBox={"0 0 " (W) " " (H)} role="img" aria-label="Balance over time and the runway ahead" preserveAspectRatio="none" {
            title { "Balance over time and the runway ahead" }
            line x1="0" y1=(H - 10) x2=(W) y2=(H - 10) class="grid" {}
            line x1=(x(now)) y1="0" x2=(x(now)) y2=(H) class="grid" {}
            polyline points=(line) class="balance" {}
            @if ahead > 0 {
                line x1=(x(now)) y1=(y(unlocked)) x2=(x(end)) y2=(y(projected_end.max(0))) class="runway" {}
            }
        }
        p.muted {
            "Since " (clock::human(start)) ": transfers in: " (moves.iter().filter(|m| m.1 > 0).count()) ", payouts out: "
            (outflows.len()) "; balance now " (xmr(a.balance)) "."
            @if let Some(r) = runway && r > 0 {
                " At today's price the unlocked balance lasts about " (clock::duration(r)) ", until " (clock::human(now + r as i64)) " (dashed)."
            }
        }
    }
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
/// operation (`Pages::probe_strips`) instead of the history.
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

    /// The figures as one sentence, as the page shows them under the strip
    /// (where the missed part is marked up on its own).
    #[cfg(test)]
    fn text(&self) -> String {
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
pub(super) fn probe_strip(s: &ProbeStrip) -> Markup {
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

#[cfg(test)]
pub(super) mod tests;
