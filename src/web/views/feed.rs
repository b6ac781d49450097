//! `/operation/{id}/feed.xml`: the Atom feed of an operation's notices.

use maud::{Markup, PreEscaped, html};

use crate::clock::rfc3339;
use crate::domain::event::Event;
use crate::domain::operation::Operation;

/// The feed.
pub fn render(base: &str, op: &Operation, events: &[Event]) -> Markup {
    let url = format!("{base}/operation/{}", op.id);
    let updated = events.last().map(|e| e.at).unwrap_or(op.created_at);
    html! {
        (PreEscaped("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"))
        feed xmlns="http://www.w3.org/2005/Atom" {
            title { "Operation " (op.codename) }
            id { "urn:nodecannon:operation:" (op.id) }
            link href=(url) {}
            updated { (rfc3339(updated)) }
            @for (i, e) in events.iter().enumerate().rev().filter(|(_, e)| e.kind.is_notice()) {
                entry {
                    title { (format!("{:?}", e.kind)) }
                    id { "urn:nodecannon:operation:" (op.id) ":event:" (i + 1) }
                    updated { (rfc3339(e.at)) }
                    link href=(url) {}
                    author { name { "nodecannon" } }
                    content type="text" { (e.message) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::EventKind;

    #[test]
    fn escapes_and_lists_notices() {
        let op = crate::domain::operation::sample("0123456789abcdef0123456789abcdef", "alpha");
        let ev = vec![
            Event {
                op_id: op.id.clone(),
                at: 1,
                kind: EventKind::Created,
                message: "a <b>".into(),
            },
            Event {
                op_id: op.id.clone(),
                at: 2,
                kind: EventKind::LaunchStep,
                message: "step".into(),
            },
        ];
        let s = render("http://x", &op, &ev).into_string();
        assert!(s.starts_with("<?xml") && s.contains("a &lt;b&gt;") && !s.contains("step"));
        assert_eq!(s.matches("<entry>").count(), 1);
    }
}
