//! CSRF protection for every state-changing form (double submit): a random
//! token lives in an `HttpOnly`, `SameSite=Strict` cookie, every form carries
//! it in a hidden `csrf_token` field, and a form POST whose field does not
//! match its cookie answers 403 before any handler runs. Requests with a
//! bearer token (scripts; no browser attaches one on its own) and the node
//! report endpoint (its own token) are not forms and are not checked.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use maud::{Markup, html};

use crate::app::AppState;
use crate::util::secret_eq;

/// The cookie's name.
pub const COOKIE: &str = "nc_csrf";
/// The form field's name.
pub const FIELD: &str = "csrf_token";
/// Largest form body read for the check.
const MAX_FORM: usize = 64 * 1024;

tokio::task_local! {
    static TOKEN: String;
}

/// The hidden field every form includes (the token of the request being served).
pub fn field() -> Markup {
    let token = TOKEN.try_with(|t| t.clone()).unwrap_or_default();
    html! { input type="hidden" name=(FIELD) value=(token); }
}

fn well_formed(t: &str) -> bool {
    t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit())
}

fn needs_check(req: &Request) -> bool {
    req.method() == Method::POST
        && !req.uri().path().starts_with("/api/nodes/")
        && !req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("Bearer "))
}

/// The refusal: nothing was read or changed.
fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This form has expired or was sent from another site. Go back, reload the page and send it again.",
    )
        .into_response()
}

/// The middleware.
pub async fn layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let cookie = CookieJar::from_headers(req.headers())
        .get(COOKIE)
        .map(|c| c.value().to_string())
        .filter(|t| well_formed(t));
    let req = if needs_check(&req) {
        let Some(expected) = &cookie else {
            return refused();
        };
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response();
        };
        let sent = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .ok()
            .and_then(|fields| fields.into_iter().find(|(k, _)| k == FIELD).map(|(_, v)| v));
        if !sent.is_some_and(|s| secret_eq(&s, expected)) {
            tracing::info!(path = %parts.uri.path(), "form refused: CSRF token missing or wrong");
            return refused();
        }
        Request::from_parts(parts, Body::from(bytes))
    } else {
        req
    };
    let token = cookie
        .clone()
        .unwrap_or_else(|| crate::util::random_hex(16));
    let mut res = TOKEN.scope(token.clone(), next.run(req)).await;
    if cookie.is_none() {
        let secure = if st.config.public_url.starts_with("https://") {
            "; Secure"
        } else {
            ""
        };
        if let Ok(v) =
            format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}").parse()
        {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}
