//! The error and 404 pages.

use maud::{Markup, html};

use super::layout::{Chrome, page};

/// An error page with what to do about it.
pub fn render(c: &Chrome, status: u16, message: &str) -> Markup {
    let title = match status {
        404 => "Not found",
        400..=499 => "Please check your input",
        503 => "Temporarily unavailable",
        _ => "Something went wrong",
    };
    page(
        c,
        title,
        html! {
            section.card {
                h1 { (title) }
                p.notice.error role="alert" { (message) }
                p { a href="/" { "Back to the nodes" } " · " a href="/launchpad" { "Launch a node" } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn shows_the_message() {
        let s = super::render(
            &crate::web::views::chrome(),
            404,
            "There is no operation x.",
        )
        .into_string();
        assert!(s.contains("Not found") && s.contains("There is no operation x."));
    }
}
