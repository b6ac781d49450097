//! Turning errors into responses: an HTML page for pages, JSON for the API.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::views::{error, layout::Chrome};
use crate::error::AppError;

/// An error shown as an HTML page (boxed: handlers return it in `Result`).
pub struct Page(Box<(Chrome, AppError)>);

impl Page {
    /// An error page in the given frame.
    pub fn new(chrome: Chrome, error: AppError) -> Self {
        Page(Box::new((chrome, error)))
    }
}

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
        let (chrome, err) = *self.0;
        let code = status(&err);
        let msg = public_message(&err);
        (code, error::render(&chrome, code.as_u16(), &msg)).into_response()
    }
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
