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
use crate::error::AppError;
use crate::web::state::WebState;

/// The page frame for this app.
pub fn chrome(st: &WebState, refresh: Option<u32>) -> Chrome {
    Chrome {
        site_name: st.config.site_name.clone(),
        sandbox: st.clients.sandbox.is_some(),
        refresh,
        price_notice: crate::pricing::price_notice(st),
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

/// A query string read into `T`. One that does not fit answers the site's
/// error page saying why (axum's own `Query` answers plain text).
pub struct SiteQuery<T>(pub T);

impl<T: DeserializeOwned, S: Sync> axum::extract::FromRequestParts<S> for SiteQuery<T> {
    type Rejection = Page;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Page> {
        serde_urlencoded::from_str(parts.uri.query().unwrap_or(""))
            .map(SiteQuery)
            .map_err(|e| {
                Page::from(AppError::BadInput(format!(
                    "The part of the address after “?” cannot be read: {e}."
                )))
            })
    }
}

/// `?page=N` of a list: 1 when absent or empty. Anything else that is not a
/// whole number answers the site's error page, saying what to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageNo(pub usize);

impl PageNo {
    /// The page number in a query string.
    pub fn parse(query: Option<&str>) -> Result<Self, AppError> {
        let bad = |got: &str| {
            let got: String = got.chars().take(40).collect();
            AppError::BadInput(format!(
                "The page number must be a whole number, like ?page=2 (got “{got}”)."
            ))
        };
        let fields: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or(""))
            .map_err(|_| bad(query.unwrap_or("")))?;
        match fields.iter().find(|(k, _)| k == "page") {
            None => Ok(Self(1)),
            Some((_, v)) if v.trim().is_empty() => Ok(Self(1)),
            Some((_, v)) => v.trim().parse().map(Self).map_err(|_| bad(v)),
        }
    }
}

impl<S: Sync> axum::extract::FromRequestParts<S> for PageNo {
    type Rejection = Page;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Page> {
        Self::parse(parts.uri.query()).map_err(Page::from)
    }
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
    use super::{PageNo, accepts_gzip};

    #[test]
    fn a_page_number_is_a_whole_number_or_absent() {
        let p = |q: Option<&str>| PageNo::parse(q).map(|p| p.0).map_err(|e| e.to_string());
        assert_eq!(p(None), Ok(1));
        assert_eq!(p(Some("")), Ok(1));
        assert_eq!(p(Some("page=")), Ok(1));
        assert_eq!(p(Some("page=3")), Ok(3));
        assert_eq!(p(Some("other=x&page=%2012")), Ok(12));
        assert_eq!(p(Some("page=0")), Ok(0), "clamped by the page that lists");
        for bad in [
            "page=abc",
            "page=-1",
            "page=1.5",
            "page=99999999999999999999999",
        ] {
            let e = p(Some(bad)).unwrap_err();
            assert!(
                e.contains("must be a whole number, like ?page=2"),
                "{bad}: {e}"
            );
        }
        let long = format!("page={}", "x".repeat(500));
        assert!(
            p(Some(&long)).unwrap_err().len() < 150,
            "the answer quotes at most 40 characters"
        );
    }

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
