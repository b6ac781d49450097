//! The web server: routes, views, assets, errors.

mod auth;
pub mod csrf;
mod error;
mod headers;
pub mod limits;
pub mod pages;
pub mod prebuilt;
mod qr;
mod routes;
pub mod state;
pub mod views;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use crate::web::state::WebState;

pub use error::{ApiError, Page};
pub use routes::operation::OpPage;

/// Largest node report body accepted (a step name or an onion address).
pub const REPORT_MAX_BYTES: usize = 1024;

/// The router with every route of SPEC.md.
pub fn router(st: WebState) -> Router {
    use routes::{admin, api, assets, operation, public, sandbox};
    Router::new()
        .route("/", get(public::index))
        .route(
            "/launchpad",
            get(public::launchpad_form).post(public::launchpad_submit),
        )
        .route("/info", get(public::info))
        .route("/robots.txt", get(routes::robots))
        .route("/status", get(api::status))
        .route("/metrics", get(api::metrics))
        .route("/operation/{id}", get(operation::show))
        .route("/operation/{id}/payouts", get(operation::payouts))
        .route("/operation/{id}/qr.png", get(operation::qr))
        .route("/operation/{id}/feed.xml", get(operation::feed))
        .route("/api/info/{codename}", get(api::node_info))
        .route("/api/nodes", get(api::nodes))
        .route(
            "/api/nodes/{id}/report",
            post(api::report).layer(axum::extract::DefaultBodyLimit::max(REPORT_MAX_BYTES)),
        )
        .route("/api/export/ansible", get(api::export_ansible))
        .route("/api/export/upstreams", get(api::export_upstreams))
        .route("/admin", get(admin::dashboard))
        .route("/admin/login", get(admin::login_form).post(admin::login))
        .route("/admin/logout", post(admin::logout))
        .route("/stats", get(admin::stats))
        .route("/admin/jobs/{job}", post(admin::run_job))
        .route("/admin/price/accept", post(admin::accept_price))
        .route("/admin/operation/{id}/cancel", post(admin::cancel))
        .route("/admin/api/ops", get(admin::api_ops))
        .route("/admin/api/audit", get(admin::api_audit))
        .route("/admin/api/wallet/repair", post(admin::api_wallet_repair))
        .route("/admin/audit", get(admin::audit))
        .route("/admin/api/ops/{key}", get(admin::api_op))
        .route("/admin/api/ops/{key}/cancel", post(admin::api_cancel))
        .route("/sandbox/operation/{id}/pay", post(sandbox::pay))
        .route("/sandbox/price", post(sandbox::price))
        .route("/static/{*path}", get(assets::serve))
        .fallback(public::not_found)
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            csrf::layer,
        ))
        // Failed pages (handlers, extractors, the CSRF check) in the site's frame.
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            error::frame,
        ))
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            headers::secure,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(headers::BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            count_request,
        ))
        // gzip when the client accepts it: pages, CSS, SVG, JSON, Atom and text
        // (the default predicate skips bodies under 32 bytes and raster images),
        // with `Vary: Accept-Encoding`. Forms mask their CSRF token per
        // response (`csrf::field`) so compression leaks nothing of it (BREACH).
        // The fastest level: what is compressed here is compressed per request
        // (the launchpad, info, payouts, feed and admin pages, the stylesheet);
        // pages made once (the index, operation pages, `/api/nodes`) are
        // gzipped once by their handlers, at the default level. Measured on an
        // operation page when it still came through here: 15 % larger (3.1 KB
        // instead of 2.7 KB) for a third more pages per second.
        .layer(
            tower_http::compression::CompressionLayer::new()
                .quality(tower_http::CompressionLevel::Fastest),
        )
        .with_state(st)
}

/// Counts every request by its route's pattern and status (`/metrics`).
async fn count_request(
    axum::extract::State(st): axum::extract::State<WebState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let res = next.run(req).await;
    st.metrics.request(&route, res.status().as_u16());
    res
}

/// Serves the app on `listener` until `shutdown` resolves.
pub async fn serve(
    st: crate::app::AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let st = WebState::new(st).map_err(std::io::Error::other)?;
    let app = router(st).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
