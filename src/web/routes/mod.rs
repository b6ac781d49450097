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

/// Whether the client takes gzip (`Accept-Encoding`, not refused with `q=0`).
pub fn accepts_gzip(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(axum::http::header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

/// A body made once (`plain`, and `gzip` compressed once too), as the client
/// takes it; the compression layer leaves an encoded body alone.
pub fn made_once(
    headers: &axum::http::HeaderMap,
    content_type: &'static str,
    plain: impl FnOnce() -> bytes::Bytes,
    gzip: impl FnOnce() -> bytes::Bytes,
) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let vary = (header::VARY, "accept-encoding");
    if accepts_gzip(headers) {
        (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_ENCODING, "gzip"),
                vary,
            ],
            gzip(),
        )
            .into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type), vary], plain()).into_response()
    }
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

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_taken_unless_refused() {
        let h = |v: &str| {
            let mut m = axum::http::HeaderMap::new();
            m.insert(axum::http::header::ACCEPT_ENCODING, v.parse().unwrap());
            accepts_gzip(&m)
        };
        assert!(h("gzip"));
        assert!(h("gzip, deflate, br"));
        assert!(h("br;q=1.0, GZIP;q=0.5"));
        assert!(!h("gzip;q=0"));
        assert!(!h("gzip; q=0.000, identity"));
        assert!(!h("deflate, br"));
        assert!(!h("identity"));
        assert!(!h("x-gzip-ish"));
        assert!(!accepts_gzip(&axum::http::HeaderMap::new()));
    }
}
