//! Turning errors into responses: an HTML page for pages, JSON for the API.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::views::error;
use crate::error::AppError;

/// An error shown as the site's HTML page: handlers and extractors return it
/// with `?` from anything that becomes an [`AppError`]; [`frame`] (a layer
/// of the router) puts it in the site's frame.
pub struct Page(pub AppError);

impl<E: Into<AppError>> From<E> for Page {
    fn from(e: E) -> Self {
        Page(e.into())
    }
}

/// What a failed page said, left on its response for [`frame`].
#[derive(Clone)]
struct Failed(String);

fn status(e: &AppError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// What a visitor may see of an error: 4xx messages as they are, 5xx only in general.
fn public_message(e: &AppError) -> String {
    if e.status() >= 500 && e.status() != 503 {
        tracing::error!(error = ?e, "request failed");
        "Something went wrong on our side. It has been logged; please try again later.".into()
    } else {
        e.to_string()
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let code = status(&self.0);
        let msg = public_message(&self.0);
        let mut res = (code, msg.clone()).into_response();
        res.extensions_mut().insert(Failed(msg));
        res
    }
}

/// The layer that renders a failed page in the site's frame (title, menu,
/// sandbox banner), so no handler builds an error page by hand.
pub async fn frame(
    axum::extract::State(st): axum::extract::State<super::state::WebState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let res = next.run(req).await;
    let Some(Failed(msg)) = res.extensions().get::<Failed>().cloned() else {
        return res;
    };
    let code = res.status();
    let chrome = super::routes::chrome(&st, None);
    (code, error::render(&chrome, code.as_u16(), &msg)).into_response()
}

/// An error answered as `{"error": ...}`.
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = status(&self.0);
        (
            code,
            axum::Json(serde_json::json!({ "error": public_message(&self.0) })),
        )
            .into_response()
    }
}
