//! CSRF protection for every state-changing form (double submit): a random
//! token lives in an `HttpOnly`, `SameSite=Strict` cookie, every form carries
//! it in a hidden `csrf_token` field, and a form POST whose field does not
//! match its cookie answers 403 before any handler runs. Requests with a
//! bearer token (scripts; no browser attaches one on its own) and the node
//! report endpoint (its own token) are not forms and are not checked.
//!
//! Pages are gzipped, so the field never shows the token itself (BREACH): it
//! holds `hex(mask) || hex(mask XOR token)` with a fresh random mask per
//! form, which the check unmasks. The bare token is accepted too.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use maud::{Markup, html};

use crate::util::{hex, secret_eq};
use crate::web::state::WebState;

/// The cookie's name.
pub const COOKIE: &str = "nc_csrf";
/// The form field's name.
pub const FIELD: &str = "csrf_token";
/// Largest form body read for the check.
const MAX_FORM: usize = 64 * 1024;

tokio::task_local! {
    static TOKEN: String;
}

/// Bytes in a token (32 hex digits).
const TOKEN_BYTES: usize = 16;

/// The hidden field every form includes: the token of the request being
/// served, masked afresh ([`mask`]).
pub fn field() -> Markup {
    html! { input type="hidden" name=(FIELD) value=(masked()); }
}

/// Where a page rendered once for many responses leaves the field's value
/// (`prebuilt::Holed`); each response fills it with [`masked`]. Markup
/// never contains it otherwise: maud escapes `<` in every value.
pub const HOLE: &str = "<csrf-value>";

/// How long [`masked`]'s value is (the hole's fill).
pub const MASKED_LEN: usize = 4 * TOKEN_BYTES;

/// The hidden field with [`HOLE`] for its value.
pub fn hole() -> Markup {
    html! { input type="hidden" name=(FIELD) value=(maud::PreEscaped(HOLE)); }
}

/// The field's value for this response: the request's token, masked afresh.
pub fn masked() -> String {
    let token = TOKEN.try_with(|t| t.clone()).unwrap_or_default();
    if token.is_empty() {
        token
    } else {
        let mut m = [0u8; TOKEN_BYTES];
        match getrandom::fill(&mut m) {
            Ok(()) => mask(&token, &m).unwrap_or(token),
            // Unmasked still works; only the BREACH defence is lost.
            Err(e) => {
                tracing::warn!(error = %e, "the OS random source failed: CSRF token sent unmasked");
                token
            }
        }
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `hex(m) || hex(m XOR token)`: 64 hex digits; `None` if `token` is not one.
fn mask(token: &str, m: &[u8; TOKEN_BYTES]) -> Option<String> {
    let t = unhex(token).filter(|t| t.len() == TOKEN_BYTES)?;
    let x: Vec<u8> = m.iter().zip(&t).map(|(a, b)| a ^ b).collect();
    Some(format!("{}{}", hex(m), hex(&x)))
}

/// The token inside a masked field value, as lowercase hex.
fn unmask(sent: &str) -> Option<String> {
    let b = unhex(sent).filter(|b| b.len() == 2 * TOKEN_BYTES)?;
    let (m, x) = b.split_at(TOKEN_BYTES);
    let t: Vec<u8> = m.iter().zip(x).map(|(a, b)| a ^ b).collect();
    Some(hex(&t))
}

/// Whether the field's value proves the cookie's token: masked, or bare.
fn matches(sent: &str, expected: &str) -> bool {
    if sent.len() == 4 * TOKEN_BYTES {
        unmask(sent).is_some_and(|t| secret_eq(&t, &expected.to_ascii_lowercase()))
    } else {
        well_formed(sent) && secret_eq(sent, expected)
    }
}

fn well_formed(t: &str) -> bool {
    t.len() == 2 * TOKEN_BYTES && t.bytes().all(|b| b.is_ascii_hexdigit())
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

/// A refusal on the site's own error page: nothing was read or changed.
fn refused(st: &WebState, status: StatusCode, message: &str) -> Response {
    let chrome = crate::web::routes::chrome(st, None);
    (
        status,
        crate::web::views::error::render(&chrome, status.as_u16(), message),
    )
        .into_response()
}

const EXPIRED: &str = "This form has expired or was sent from another site. Go back, reload the page and send it again.";

/// The middleware.
pub async fn layer(State(st): State<WebState>, req: Request, next: Next) -> Response {
    let cookie = CookieJar::from_headers(req.headers())
        .get(COOKIE)
        .map(|c| c.value().to_string())
        .filter(|t| well_formed(t));
    let req = if needs_check(&req) {
        let Some(expected) = &cookie else {
            return refused(&st, StatusCode::FORBIDDEN, EXPIRED);
        };
        let (parts, body) = req.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
            return refused(&st, StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.");
        };
        let sent = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .ok()
            .and_then(|fields| fields.into_iter().find(|(k, _)| k == FIELD).map(|(_, v)| v));
        if !sent.is_some_and(|s| matches(&s, expected)) {
            tracing::info!(path = %parts.uri.path(), "form refused: CSRF token missing or wrong");
            return refused(&st, StatusCode::FORBIDDEN, EXPIRED);
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

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "cafe0123cafe0123cafe0123cafe0123";

    #[test]
    fn a_masked_token_unmasks_to_the_token() {
        let m = [0x5a; TOKEN_BYTES];
        let masked = mask(TOKEN, &m).unwrap_or_default();
        assert_eq!(masked.len(), 64);
        assert!(!masked.contains(TOKEN), "{masked}");
        assert_eq!(unmask(&masked).as_deref(), Some(TOKEN));
        assert!(matches(&masked, TOKEN));
        assert!(matches(&masked, &TOKEN.to_ascii_uppercase()));
    }

    #[test]
    fn two_masks_of_one_token_differ_and_both_pass() {
        let a = mask(TOKEN, &[1; TOKEN_BYTES]).unwrap_or_default();
        let b = mask(TOKEN, &[2; TOKEN_BYTES]).unwrap_or_default();
        assert_ne!(a, b);
        assert!(matches(&a, TOKEN) && matches(&b, TOKEN));
    }

    #[test]
    fn a_mask_built_for_another_token_is_refused() {
        let other = "00112233445566778899aabbccddeeff";
        let masked = mask(other, &[7; TOKEN_BYTES]).unwrap_or_default();
        assert!(!matches(&masked, TOKEN));
        assert!(matches(&masked, other));
    }

    #[test]
    fn the_bare_token_still_passes_and_malformed_values_are_refused() {
        assert!(matches(TOKEN, TOKEN));
        assert!(!matches("cafe0123cafe0123cafe0123cafe0124", TOKEN));
        let masked = mask(TOKEN, &[9; TOKEN_BYTES]).unwrap_or_default();
        for bad in [
            String::new(),
            "zz".repeat(32),
            masked[..63].to_string(),
            format!("{masked}00"),
            "é".repeat(32),
            format!("{}g", &masked[..63]),
            format!("+f{}", &masked[2..]),
        ] {
            assert!(!matches(&bad, TOKEN), "{bad}");
        }
        assert_eq!(mask("not hex", &[0; TOKEN_BYTES]), None);
    }
}
