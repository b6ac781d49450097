//! Inline SVG charts of the operation page: no script, with the same
//! figures as text for browsers that hide SVG (Tor Browser's Safest level).

use maud::{Markup, html};

use super::xmr;
use crate::clients::wallet::AccountState;
use crate::clock;
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
