//! Handlers, one module per area.

pub mod admin;
pub mod api;
pub mod assets;
pub mod operation;
pub mod public;
pub mod sandbox;

use serde::de::DeserializeOwned;

use super::Page;
use super::views::layout::Chrome;
use crate::app::AppState;
use crate::error::AppError;

/// The page frame for this app.
pub fn chrome(st: &AppState, refresh: Option<u32>) -> Chrome {
    Chrome {
        site_name: st.config.site_name.clone(),
        sandbox: st.sandbox.is_some(),
        refresh,
        price_notice: crate::ops::price_notice(st),
    }
}

/// `GET /robots.txt`: operation pages are reached by their link, not by a
/// search engine, and the admin area is nobody's business. (Also the
/// cheapest route of the binary: the benchmark's ceiling.)
pub async fn robots() -> ([(axum::http::HeaderName, &'static str); 2], &'static str) {
    (
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            ),
            (axum::http::header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        "User-agent: *\nDisallow: /operation/\nDisallow: /admin\nDisallow: /stats\nDisallow: /sandbox/\n",
    )
}

/// An error as an HTML page of this app.
pub fn page_err(st: &AppState, e: impl Into<AppError>) -> Page {
    Page::new(chrome(st, None), e.into())
}

/// Parses an urlencoded form body; a malformed one is a 4xx that says so.
pub fn parse_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| AppError::BadInput("The form could not be read (it is not UTF-8 text). Reload the page and submit it again.".into()))?;
    serde_urlencoded::from_str(text).map_err(|e| {
        AppError::BadInput(format!(
            "The form could not be read ({e}). Reload the page and submit it again."
        ))
    })
}
