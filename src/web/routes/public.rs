//! `/`, `/launchpad`, `/info` and the 404 page.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::Markup;

use super::{PageNo, chrome, parse_form};
use crate::error::AppError;
use crate::ops::{self, LaunchForm};
use crate::pricing;
use crate::web::Page;
use crate::web::state::WebState;
use crate::web::views::{charts, index, info as info_view, launchpad};

/// Nodes per page of the index.
pub const PER_PAGE: usize = 25;

/// `GET /`. Each page is rendered (and gzipped) once per build of the node
/// list (at most every few seconds, and after every job pass) and served as
/// is until then.
pub async fn index(
    State(st): State<WebState>,
    headers: axum::http::HeaderMap,
    PageNo(asked): PageNo,
) -> Result<Response, Page> {
    st.metrics.page_view();
    let rows = super::api::node_rows(&st).await?;
    let pages = rows.len().div_ceil(PER_PAGE).max(1);
    let page_no = asked.clamp(1, pages);
    let c = chrome(&st, None);
    let page = match rows.page(page_no, &c.price_notice) {
        Some(p) => p,
        None => {
            let shown = &rows[(page_no - 1) * PER_PAGE..(page_no * PER_PAGE).min(rows.len())];
            let strips = probe_strips(&st, shown).await;
            let html = index::render(&c, shown, &strips, page_no, pages, rows.len()).into_string();
            let page = crate::web::prebuilt::Rendered::new(html.into());
            rows.keep_page(page_no, c.price_notice, page.clone());
            page
        }
    };
    Ok(page.respond(&headers, "text/html; charset=utf-8"))
}

/// The probe strips of the nodes shown, from `Pages::probe_strips`: a view
/// with a warm cache reads nothing from the store; a miss reads that node's
/// history once (concurrent misses share the read). A node whose history
/// cannot be read is shown without its strip.
async fn probe_strips(st: &WebState, shown: &[index::NodeRow]) -> Vec<Option<charts::ProbeStrip>> {
    let strips = shown.iter().map(|n| {
        let id = n.op_id.clone();
        let store = st.store.clone();
        // A probe the health pass writes moves the operation's generation.
        let generation = st.store.generation_of(&id);
        st.pages
            .probe_strips
            .try_get_with((n.op_id.clone(), generation), async move {
                store
                    .run(move |s| s.health(&id).map(|h| charts::ProbeStrip::of(&h)))
                    .await
            })
    });
    futures_util::future::join_all(strips)
        .await
        .into_iter()
        .map(|r| {
            r.inspect_err(|e| tracing::warn!(error = %e, "reading a node's probes for the index"))
                .ok()
        })
        .collect()
}

async fn launchpad_page(
    st: &WebState,
    form: LaunchForm,
    error: Option<String>,
) -> Result<Markup, Page> {
    let regions = st
        .cache
        .regions(
            &st.clients.cloud,
            &st.config.do_droplet_size,
            &st.config.do_regions,
        )
        .await?;
    let rates = pricing::rates(st).await.ok();
    let l = launchpad::Launchpad {
        regions: &regions,
        form,
        error,
        open: st.config.launchpad_enabled,
        min_to_launch: rates.as_ref().map(|(_, r)| pricing::min_to_launch(st, r)),
        hourly_usd: rates.as_ref().map(|(c, _)| c.total()),
        min_hours: st.config.min_funded_secs / 3600,
    };
    Ok(launchpad::render(&chrome(st, None), &l))
}

/// `GET /launchpad`.
pub async fn launchpad_form(State(st): State<WebState>) -> Result<Markup, Page> {
    st.metrics.page_view();
    let form = LaunchForm {
        codename: crate::domain::codename::suggest(crate::util::random3()),
        ..Default::default()
    };
    launchpad_page(&st, form, None).await
}

/// `POST /launchpad`: 303 to the new operation, or the form again with what to fix.
pub async fn launchpad_submit(
    State(st): State<WebState>,
    crate::web::limits::ClientIp(ip): crate::web::limits::ClientIp,
    body: axum::body::Bytes,
) -> Result<Response, Page> {
    let form: LaunchForm = match parse_form(&body) {
        Ok(f) => f,
        Err(e) => return Err(Page::from(e)),
    };
    // Every operation costs a wallet account for good: LAUNCHPAD_RATE per client.
    if let Some(ip) = ip
        && let Err(wait) = st.limits.launchpad(ip)
    {
        let (n, period) = st.config.launchpad_rate;
        let msg = format!(
            "You have opened {n} operations in {} already; you can open another in {}.",
            crate::clock::duration(period),
            crate::clock::duration(wait)
        );
        let page = launchpad_page(&st, form, Some(msg)).await?;
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, wait.to_string())],
            page,
        )
            .into_response());
    }
    match ops::create(&st, &form).await {
        Ok(op) => Ok(Redirect::to(&format!("/operation/{}", op.id)).into_response()),
        Err(e @ (AppError::BadInput(_) | AppError::Forbidden(_) | AppError::Unavailable(_))) => {
            let code = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let page = launchpad_page(&st, form, Some(e.to_string())).await?;
            Ok((code, page).into_response())
        }
        Err(e) => Err(Page::from(e)),
    }
}

/// `GET /info`.
pub async fn info(State(st): State<WebState>) -> Markup {
    st.metrics.page_view();
    let c = &st.config;
    let sources = pricing::figure_sources(&st).await;
    let i = info_view::Info {
        sources: &sources,
        rates: pricing::rates(&st).await.ok(),
        size: &c.do_droplet_size,
        storage_gb: c.do_droplet_storage_gb,
        min_funded_secs: c.min_funded_secs,
        low_funds_secs: c.low_funds_secs,
        grace_secs: c.grace_secs,
        donation: &c.payout_address,
    };
    info_view::render(&chrome(&st, None), &i)
}

/// Anything else: the 404 page.
pub async fn not_found() -> Page {
    Page::from(AppError::NotFound(
        "There is no page at this address.".into(),
    ))
}
