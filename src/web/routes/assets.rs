//! Embedded assets (`assets/`), versioned by content: pages link them as
//! `/static/<path>?v=<hash>` ([`url`]) and that URL is cached for a year
//! (`immutable`); any other request for the same file gets a short max-age so
//! an upgrade is seen within the hour. Every answer carries a strong `ETag`
//! and a matching `If-None-Match` gets `304 Not Modified`.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// `Cache-Control` of a versioned URL whose version is current.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of an unversioned or outdated URL.
const SHORT: &str = "public, max-age=3600";

/// Hex digits of the content hash used as version and `ETag`.
const VERSION_LEN: usize = 16;

/// Each embedded file's version: the first 16 hex digits of its SHA-256.
static VERSIONS: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    Assets::iter()
        .filter_map(|path| {
            let file = Assets::get(&path)?;
            let hex = crate::util::hex(&file.metadata.sha256_hash());
            Some((path.into_owned(), hex[..VERSION_LEN].to_string()))
        })
        .collect()
});

/// The URL of an embedded asset with its version (`/static/style.css?v=…`);
/// an unknown path is linked unversioned (and answers 404).
pub fn url(path: &str) -> String {
    match VERSIONS.get(path) {
        Some(v) => format!("/static/{path}?v={v}"),
        None => format!("/static/{path}"),
    }
}

/// The `v` a request asks for, if any.
fn requested_version(uri: &Uri) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(uri.query()?)
        .ok()?
        .into_iter()
        .find_map(|(k, v)| (k == "v").then_some(v))
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag)
}

/// `GET /static/{*path}`.
pub async fn serve(Path(path): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let (Some(file), Some(version)) = (Assets::get(&path), VERSIONS.get(&path)) else {
        return (StatusCode::NOT_FOUND, "no such asset").into_response();
    };
    let etag = format!("\"{version}\"");
    let cache = if requested_version(&uri).as_deref() == Some(version.as_str()) {
        IMMUTABLE
    } else {
        SHORT
    };
    let mut res = if not_modified(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, file.metadata.mimetype().to_string())],
            file.data,
        )
            .into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_versioned_url() {
        for name in ["style.css", "favicon.png", "logo.png"] {
            let u = url(name);
            let v = u
                .strip_prefix(&format!("/static/{name}?v="))
                .unwrap_or_else(|| panic!("{u}"));
            assert_eq!(v.len(), VERSION_LEN, "{u}");
            assert!(v.bytes().all(|b| b.is_ascii_hexdigit()), "{u}");
        }
        assert_eq!(url("nothing.css"), "/static/nothing.css");
    }

    #[test]
    fn if_none_match_accepts_lists_weak_tags_and_star() {
        let mut h = HeaderMap::new();
        assert!(!not_modified(&h, "\"ab\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"ab\""),
        );
        assert!(not_modified(&h, "\"ab\""));
        assert!(!not_modified(&h, "\"cd\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(not_modified(&h, "\"cd\""));
    }

    #[test]
    fn the_version_is_read_from_the_query() {
        let u: Uri = "/static/style.css?x=1&v=abc".parse().unwrap_or_default();
        assert_eq!(requested_version(&u).as_deref(), Some("abc"));
        let u: Uri = "/static/style.css".parse().unwrap_or_default();
        assert_eq!(requested_version(&u), None);
    }
}
