//! The operation page's launch card: each step of a launch (or a rebuild)
//! done, being worked on, or still to come.

use maud::{Markup, html};

use super::operation::OperationPage;
use crate::clock;

/// The launch steps while they happen: done (with when), the one being
/// worked on (with why it is stuck and when it is tried again), still to come.
pub fn launch_steps(p: &OperationPage) -> Markup {
    use crate::domain::operation::LaunchStep as S;
    let op = p.op;
    let current = op.launch_step.unwrap_or(S::Volume);
    let steps = [
        (S::Volume, "Storage volume", "Volume "),
        (S::Droplet, "Droplet (the server)", "Droplet "),
        (S::Addresses, "Public addresses", "Droplet is up"),
        (S::Dns, "DNS records", "Node launched"),
    ];
    // When each step was done: the latest event of this launch that says so.
    let started = p
        .events
        .iter()
        .rev()
        .find(|e| e.message == "Launch started.")
        .map_or(op.state_since, |e| e.at);
    let done_at = |prefix: &str| {
        p.events
            .iter()
            .rev()
            .find(|e| e.at >= started && e.message.starts_with(prefix))
            .map(|e| e.at)
    };
    html! {
        h2 { "Launch" }
        ol.launch {
            @for (step, label, prefix) in steps {
                @if step < current {
                    li.done { "✓ " (label) @if let Some(t) = done_at(prefix) { " — " time datetime=(clock::rfc3339(t)) { (clock::human(t)) } } }
                } @else if step == current {
                    li.current {
                        strong { "→ " (label) }
                        @if op.launch_failures > 0 {
                            " — stuck. " (op.problem.as_deref().unwrap_or("It failed; it is tried again with backoff."))
                        } @else {
                            " — in progress"
                        }
                    }
                } @else {
                    li.todo { "· " (label) }
                }
            }
        }
    }
}

/// The latest events, newest first.
#[cfg(test)]
mod launch_tests {
    use super::*;
    use crate::domain::event::Event;
    use crate::domain::event::EventKind;
    use crate::domain::operation::LaunchStep;
    use crate::domain::state::State;
    use crate::web::views::operation::{Fragments, render};

    #[test]
    fn a_launch_shows_its_steps_and_why_the_current_one_is_stuck() {
        let mut op = crate::domain::operation::sample("0123456789abcdef0123456789abcdef", "alpha");
        op.state = State::Launching;
        op.launch_step = Some(LaunchStep::Droplet);
        op.launch_failures = 3;
        op.problem = Some("Launch step Droplet failed (3 in a row): droplet limit reached.".into());
        let ev = |at, message: &str| Event {
            op_id: op.id.clone(),
            at,
            kind: EventKind::LaunchStep,
            message: message.into(),
        };
        let events = vec![
            ev(1_767_225_600, "Launch started."),
            ev(1_767_225_660, "Volume op-0123 ready."),
        ];
        let p = OperationPage {
            fragments: &Fragments::default(),
            op: &op,
            events: &events,
            account: None,
            rates: None,
            min_to_launch: None,
            dns: "alpha.node.example.com".into(),
            node_status: None,
            health: &[],
            rpc_port: 18081,
            payouts: 0,
            outflows: &[],
            now: 1_767_226_000,
            sandbox: false,
            notice: None,
            stale_since: None,
        };
        let s = render(&crate::web::views::chrome(), &p).into_string();
        for want in [
            "✓ Storage volume — <time datetime=\"2026-01-01T00:01:00Z\">",
            "→ Droplet (the server)",
            "stuck. Launch step Droplet failed (3 in a row): droplet limit reached.",
            "· Public addresses",
            "· DNS records",
        ] {
            assert!(s.contains(want), "missing {want} in {s}");
        }
        // Not shown once the node is up.
        let mut up = op.clone();
        up.state = State::Active;
        let s = render(
            &crate::web::views::chrome(),
            &OperationPage {
                op: &up,
                fragments: &Fragments::default(),
                ..p
            },
        )
        .into_string();
        assert!(!s.contains("→ Droplet"));
    }
}
