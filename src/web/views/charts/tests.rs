use super::*;

pub(crate) fn sample(at: i64, reachable: bool, synchronized: bool) -> HealthSample {
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
pub(crate) const T: i64 = 1_795_442_400;

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
        html.contains("last 24 probes: 22\u{a0}answered, <span>last missed 14:20\u{a0}UTC</span>"),
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
