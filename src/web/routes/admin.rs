//! The admin dashboard, login, job runs, cancel, and the admin API the CLI uses
//! while a server holds the database.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use maud::Markup;
use serde::Deserialize;

use super::{SiteQuery, chrome, parse_form};
use crate::domain::payout::PayoutStatus;
use crate::error::AppError;
use crate::jobs::{self, Job, Outcome};
use crate::ops::{self, OpDetail, OpSummary};
use crate::web::auth::{self, Admin};
use crate::web::state::WebState;
use crate::web::views::admin as view;
use crate::web::{ApiError, Page};

#[derive(Deserialize, Default)]
pub struct NoticeQuery {
    notice: Option<String>,
    dry_run: Option<String>,
}

/// `GET /admin`.
pub async fn dashboard(
    State(st): State<WebState>,
    _a: Admin,
    SiteQuery(q): SiteQuery<NoticeQuery>,
) -> Result<Markup, Page> {
    let ops_list = st
        .store
        .run(|s| s.operations().map_err(AppError::from))
        .await?;
    let payouts = st
        .store
        .run(|s| s.all_payouts().map_err(AppError::from))
        .await?;
    let mut rows = Vec::with_capacity(ops_list.len());
    for op in ops_list.iter().rev() {
        let acct = st
            .cache
            .account(&st.clients.wallet, op.account_index, st.now())
            .await
            .unwrap_or_default();
        let mine = payouts.iter().filter(|p| p.op_id == op.id);
        rows.push(view::AdminRow {
            s: ops::summary(op, &acct),
            region: op.region.clone(),
            volume: op.resources.volume_id.clone(),
            ipv4: op.resources.ipv4.clone(),
            last_payout: mine.clone().map(|p| p.at).max(),
            unrelayed: mine.filter(|p| p.status == PayoutStatus::Built).count(),
            cancellable: op.state.can_go(crate::domain::state::State::Cancelled),
        });
    }
    let jobs = st.store.jobs()?;
    let price = st.cache.price(&st.clients.price).await.ok().map(|q| q.usd);
    let price_report = st.cache.price_report();
    let notice = q.notice.map(|n| match n.as_str() {
        "price" => "Simulated price set.".to_string(),
        "cancelled" => "Operation cancelled.".to_string(),
        "accepted" => "No price is held; nothing to accept.".to_string(),
        "price-accepted" => "The held price is accepted; decisions use it from now on.".to_string(),
        job => format!("Ran {job}."),
    });
    let guard = st.store.price_guard()?;
    let timings = crate::jobs::schedule::timings(&st);
    let d = view::Dashboard {
        rows: &rows,
        jobs: &jobs,
        timings: &timings,
        paused: st.config.payouts_paused,
        price,
        price_report: price_report.as_deref(),
        guard: &guard,
        notice,
    };
    Ok(view::render(&chrome(&st, None), &d))
}

/// `GET /admin/login`.
pub async fn login_form(State(st): State<WebState>) -> Markup {
    view::login(&chrome(&st, None), None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `POST /admin/login`.
pub async fn login(
    State(st): State<WebState>,
    crate::web::limits::ClientIp(ip): crate::web::limits::ClientIp,
    body: axum::body::Bytes,
) -> Result<Response, Page> {
    if !auth::ip_allowed(&st, ip) {
        return Err(Page::from(AppError::Forbidden(
            "Admin routes are not open to this address.".into(),
        )));
    }
    if let Some(ip) = ip
        && let Err(wait) = st.limits.login_attempt(ip)
    {
        tracing::warn!(%ip, "admin login attempts from this address are over the limit");
        return Ok((
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, wait.to_string())],
            view::login(
                &chrome(&st, None),
                Some(&format!(
                    "Too many login attempts from this address; try again in {}.",
                    crate::clock::duration(wait)
                )),
            ),
        )
            .into_response());
    }
    let f: LoginForm = parse_form(&body)?;
    match auth::start_session(&st, &f.token).await {
        Some(cookie) => {
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response())
        }
        None => Ok((
            axum::http::StatusCode::UNAUTHORIZED,
            view::login(&chrome(&st, None), Some("That token is not right.")),
        )
            .into_response()),
    }
}

/// `POST /admin/logout`.
pub async fn logout(State(st): State<WebState>, jar: CookieJar) -> Response {
    auth::end_session(&st, &jar).await;
    (
        [(header::SET_COOKIE, auth::clear_cookie())],
        Redirect::to("/"),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct StatsQuery {
    token: Option<String>,
}

/// `GET /stats?token=`: the original's route; a valid token starts a session.
pub async fn stats(
    State(st): State<WebState>,
    crate::web::limits::ClientIp(ip): crate::web::limits::ClientIp,
    SiteQuery(q): SiteQuery<StatsQuery>,
) -> Response {
    if !auth::ip_allowed(&st, ip) {
        return auth::Denied::Forbidden.into_response();
    }
    if let Some(ip) = ip
        && st.limits.login_attempt(ip).is_err()
    {
        return auth::Denied::TooMany.into_response();
    }
    match auth::start_session(&st, q.token.as_deref().unwrap_or("")).await {
        Some(cookie) => ([(header::SET_COOKIE, cookie)], Redirect::to("/admin")).into_response(),
        None => Redirect::to("/admin/login").into_response(),
    }
}

/// `POST /admin/jobs/{job}`: JSON for scripts, back to the dashboard for the browser.
pub async fn run_job(
    State(st): State<WebState>,
    a: Admin,
    Path(name): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ApiError> {
    let job = Job::parse(&name).ok_or_else(|| {
        let names: Vec<_> = Job::ALL.iter().map(|j| j.name()).collect();
        AppError::NotFound(format!("no job {name:?}; jobs are {}", names.join(", ")))
    })?;
    let dry = q.dry_run.is_some_and(|d| d == "1" || d == "true");
    let out: Outcome = jobs::run(&st, job, dry).await?;
    if a.bearer {
        Ok(Json(out).into_response())
    } else {
        Ok(Redirect::to(&format!("/admin?notice={}", job.name())).into_response())
    }
}

/// `POST /admin/price/accept`: decisions may use the price the guard holds.
pub async fn accept_price(State(st): State<WebState>, _a: Admin) -> Result<Redirect, Page> {
    let accepted = crate::pricing::accept_held(&st).await?;
    if accepted {
        tracing::info!("the admin accepted the held XMR price");
    }
    Ok(Redirect::to(if accepted {
        "/admin?notice=price-accepted"
    } else {
        "/admin?notice=accepted"
    }))
}

/// `POST /admin/operation/{id}/cancel`.
pub async fn cancel(
    State(st): State<WebState>,
    _a: Admin,
    Path(id): Path<String>,
) -> Result<Redirect, Page> {
    let op = ops::get(&st, &id).await?;
    jobs::cancel::cancel(&st, &op).await?;
    Ok(Redirect::to("/admin?notice=cancelled"))
}

/// `GET /admin/api/ops`: what `ops list` prints.
pub async fn api_ops(
    State(st): State<WebState>,
    _a: Admin,
) -> Result<Json<Vec<OpSummary>>, ApiError> {
    Ok(Json(ops::summaries(&st).await?))
}

/// `GET /admin/api/audit`: what `audit` prints (one wallet call per operation).
pub async fn api_audit(
    State(st): State<WebState>,
    _a: Admin,
) -> Result<Json<Vec<jobs::audit::Ledger>>, ApiError> {
    Ok(Json(jobs::audit::run(&st).await?))
}

/// `POST /admin/api/wallet/repair`: what `wallet repair` prints.
pub async fn api_wallet_repair(
    State(st): State<WebState>,
    _a: Admin,
) -> Result<Json<jobs::accounts::Repair>, ApiError> {
    let _one = st.guards.job_lock.lock().await;
    Ok(Json(jobs::accounts::repair(&st).await?))
}

/// `GET /admin/audit`: the ledger audit as a page.
pub async fn audit(State(st): State<WebState>, _a: Admin) -> Result<Markup, Page> {
    let lines = jobs::audit::run(&st).await?;
    Ok(view::audit(&chrome(&st, None), &lines))
}

/// `GET /admin/api/ops/{key}`: what `ops show` prints.
pub async fn api_op(
    State(st): State<WebState>,
    _a: Admin,
    Path(key): Path<String>,
) -> Result<Json<OpDetail>, ApiError> {
    Ok(Json(ops::detail(&st, &key).await?))
}

/// `POST /admin/api/ops/{key}/cancel`.
pub async fn api_cancel(
    State(st): State<WebState>,
    _a: Admin,
    Path(key): Path<String>,
) -> Result<Json<OpSummary>, ApiError> {
    let op = ops::get(&st, &key).await?;
    let op = jobs::cancel::cancel(&st, &op).await?;
    let acct = st
        .cache
        .account(&st.clients.wallet, op.account_index, st.now())
        .await
        .unwrap_or_default();
    Ok(Json(ops::summary(&op, &acct)))
}
