//! Admin access: `Authorization: Bearer <token>` for scripts, a session cookie
//! for the browser, and `ADMIN_IPS` applied to both.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;

use super::ApiError;
use crate::error::AppError;
use crate::util::secret_eq;
use crate::web::state::WebState;

/// The session cookie's name.
pub const COOKIE: &str = "nc_admin";

/// Proof that the request comes from the admin.
pub struct Admin {
    /// Whether a script authenticated with a bearer token (answers JSON).
    pub bearer: bool,
}

/// Why a request is not the admin's.
pub enum Denied {
    Login,
    Unauthorized,
    Forbidden,
    TooMany,
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        match self {
            Denied::Login => Redirect::to("/admin/login").into_response(),
            Denied::Unauthorized => ApiError(AppError::Unauthorized(
                "a valid admin token is required".into(),
            ))
            .into_response(),
            Denied::Forbidden => ApiError(AppError::Forbidden(
                "admin routes are not open to this address".into(),
            ))
            .into_response(),
            Denied::TooMany => (
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too many failed admin logins from this address; wait 15 minutes",
            )
                .into_response(),
        }
    }
}

/// Whether `ADMIN_IPS` lets `ip` reach admin routes (empty: any address).
pub fn ip_allowed(st: &WebState, ip: Option<std::net::IpAddr>) -> bool {
    st.config.admin_ips.is_empty()
        || ip.is_some_and(|ip| st.config.admin_ips.iter().any(|b| b.contains(ip)))
}

impl FromRequestParts<WebState> for Admin {
    type Rejection = Denied;

    async fn from_request_parts(parts: &mut Parts, st: &WebState) -> Result<Self, Self::Rejection> {
        let ip = crate::web::limits::client_ip_of(&st.config, parts);
        if !ip_allowed(st, ip) {
            return Err(Denied::Forbidden);
        }
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if let Some(token) = bearer {
            return if secret_eq(token.trim(), st.admin_token.expose()) {
                Ok(Admin { bearer: true })
            } else {
                // Wrong tokens count against the address's login attempts.
                if let Some(ip) = ip
                    && st.limits.login_attempt(ip).is_err()
                {
                    return Err(Denied::TooMany);
                }
                tracing::warn!(ip = ?ip, "wrong admin bearer token");
                Err(Denied::Unauthorized)
            };
        }
        let jar = CookieJar::from_headers(&parts.headers);
        match jar.get(COOKIE) {
            Some(c) if st.sessions.contains_key(c.value()) => Ok(Admin { bearer: false }),
            _ => Err(Denied::Login),
        }
    }
}

/// Starts a session when `token` is right; returns the `Set-Cookie` value.
pub async fn start_session(st: &WebState, token: &str) -> Option<String> {
    if !secret_eq(token.trim(), st.admin_token.expose()) {
        tracing::warn!("failed admin login");
        return None;
    }
    let id = crate::util::random_hex(32);
    st.sessions.insert(id.clone(), ()).await;
    let secure = if st.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    Some(format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200{secure}"
    ))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// Ends the session in the cookie jar.
pub async fn end_session(st: &WebState, jar: &CookieJar) {
    if let Some(c) = jar.get(COOKIE) {
        st.sessions.invalidate(c.value()).await;
    }
}
