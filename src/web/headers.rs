//! What every response carries and how long a request may take: security
//! headers (a strict CSP: the pages use no script, no inline style, and only
//! their own stylesheet and images) and a deadline per request.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::web::state::WebState;

/// Largest request body any route accepts (routes may set a smaller one).
pub const BODY_LIMIT: usize = 64 * 1024;

/// How long a request may take, reading its body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The pages' whole footprint: the stylesheet and images under `/static`, the
/// QR code PNG, inline SVG charts (which need no source), forms to this site.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Sent on every response unless the handler set the header itself.
const HEADERS: [(HeaderName, &str); 6] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
    ),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
];

/// HSTS, only when the site is served over https (`PUBLIC_URL`).
const HSTS: &str = "max-age=31536000";

/// Middleware: runs the request under [`REQUEST_TIMEOUT`] (503 when it runs
/// out) and adds the security headers to whatever comes back.
pub async fn secure(State(st): State<WebState>, req: Request, next: Next) -> Response {
    let hsts = st.config.public_url.starts_with("https://");
    let mut res = if has_deadline(&req) {
        let path = req.uri().path().to_string();
        match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
            Ok(res) => res,
            Err(_) => {
                tracing::warn!(%path, "request timed out");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The request took too long. Please try again.",
                )
                    .into_response()
            }
        }
    } else {
        next.run(req).await
    };
    apply(res.headers_mut(), hsts);
    res
}

/// Job passes and cancels the admin starts are not cut off halfway: they may
/// wait for a running pass and make many cloud and wallet calls (the command
/// line waits for them through the admin API). They read no body, and a
/// request without the admin token is turned away before any work.
fn has_deadline(req: &Request) -> bool {
    let path = req.uri().path();
    let admin_action = path.starts_with("/admin/jobs/")
        || (path.starts_with("/admin/") && path.ends_with("/cancel"));
    !(req.method() == Method::POST && admin_action)
}

/// Adds the security headers that `headers` lacks.
fn apply(headers: &mut HeaderMap, hsts: bool) {
    for (name, value) in HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if hsts {
        headers
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(HSTS));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_header_is_added_and_hsts_only_over_https() {
        let mut h = HeaderMap::new();
        apply(&mut h, false);
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        assert!(!h.contains_key(header::STRICT_TRANSPORT_SECURITY));
        apply(&mut h, true);
        assert_eq!(h[header::STRICT_TRANSPORT_SECURITY], HSTS);
        assert_eq!(h.len(), HEADERS.len() + 1, "nothing doubled: {h:?}");
    }

    #[test]
    fn a_header_the_handler_set_is_kept() {
        let mut h = HeaderMap::new();
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        apply(&mut h, false);
        assert_eq!(h[header::REFERRER_POLICY], "same-origin");
        assert_eq!(h.get_all(header::REFERRER_POLICY).iter().count(), 1);
    }

    #[test]
    fn only_admin_actions_run_without_a_deadline() {
        let req = |m: Method, p: &str| {
            Request::builder()
                .method(m)
                .uri(p)
                .body(Default::default())
                .unwrap()
        };
        assert!(has_deadline(&req(Method::GET, "/admin")));
        assert!(has_deadline(&req(Method::POST, "/launchpad")));
        assert!(has_deadline(&req(Method::POST, "/admin/login")));
        assert!(has_deadline(&req(Method::POST, "/admin/price/accept")));
        assert!(!has_deadline(&req(Method::POST, "/admin/jobs/reconcile")));
        assert!(!has_deadline(&req(
            Method::POST,
            "/admin/operation/ab12/cancel"
        )));
        assert!(!has_deadline(&req(
            Method::POST,
            "/admin/api/ops/alpha/cancel"
        )));
    }
}
