//! `/operation/{id}` and its payouts, QR code and feed.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::Markup;

use super::{chrome, page_err};
use crate::app::AppState;
use crate::domain::state::State as OpState;
use crate::domain::xmr_address::Network;
use crate::error::AppError;
use crate::ops;
use crate::web::Page;
use crate::web::views::{feed as feed_view, operation as view, payouts as payouts_view};

/// `GET /operation/{id}`.
pub async fn show(State(st): State<AppState>, Path(id): Path<String>) -> Result<Markup, Page> {
    st.metrics.page_view();
    let v = ops::view(&st, &id).await.map_err(|e| page_err(&st, e))?;
    let op = &v.op;
    let (account, stale_since) = match st
        .cache
        .account_or_last(&st.wallet, op.account_index, st.now())
        .await
    {
        Ok((a, stale)) => (Some(a), stale),
        Err(_) => (None, None),
    };
    let rates = ops::rates(&st).await.ok();
    // What left the account, and when (for the balance chart).
    let outflows: Vec<(i64, u64)> = v
        .payouts
        .iter()
        .filter(|p| p.status == crate::domain::payout::PayoutStatus::Relayed)
        .map(|p| (p.at, p.amount.saturating_add(p.fee)))
        .collect();
    let now = st.now();
    let node = st.cache.node_info.get(&op.id).await;
    let node_status = op.launched_at.filter(|_| op.state.has_node()).map(|_| {
        let best = crate::web::routes::api::best_height(&st);
        crate::web::routes::api::describe(&st, op, node.as_ref(), best).1
    });
    let refresh = matches!(
        op.state,
        OpState::AwaitingFunds | OpState::Funded | OpState::Launching
    )
    .then_some(30);
    let p = view::OperationPage {
        fragments: &v.fragments,
        op,
        events: &v.events,
        account: account.as_ref(),
        min_to_launch: rates.as_ref().map(|(_, r)| ops::min_to_launch(&st, r)),
        rates,
        dns: op.dns_name(&st.config.do_domain),
        node_status,
        health: &v.health,
        rpc_port: st.config.node_rpc_port,
        payouts: v.payouts.len(),
        outflows: &outflows,
        now,
        sandbox: st.sandbox.is_some(),
        notice: None,
        stale_since,
    };
    Ok(view::render(&chrome(&st, refresh), &p))
}

/// `?page=N` of a list.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PageQuery {
    page: Option<usize>,
}

/// `GET /operation/{id}/payouts[?page=N]`.
pub async fn payouts(
    State(st): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Result<Markup, Page> {
    st.metrics.page_view();
    let v = ops::view(&st, &id).await.map_err(|e| page_err(&st, e))?;
    let explorer = match (st.sandbox.is_some(), st.config.xmr_network) {
        (true, _) => None,
        (false, Network::Mainnet) => Some("https://xmrchain.net/tx/"),
        (false, Network::Stagenet) => Some("https://stagenet.xmrchain.net/tx/"),
        (false, Network::Testnet) => Some("https://testnet.xmrchain.net/tx/"),
    };
    Ok(payouts_view::render(
        &chrome(&st, None),
        &v.op,
        &v.payouts,
        q.page.unwrap_or(1),
        explorer,
    ))
}

/// `GET /operation/{id}/qr.png`: the `monero:` URI of the funding address.
pub async fn qr(State(st): State<AppState>, Path(id): Path<String>) -> Result<Response, Page> {
    let v = ops::view(&st, &id).await.map_err(|e| page_err(&st, e))?;
    let op = &v.op;
    let uri = format!("monero:{}", op.address);
    let png = st
        .cache
        .qr
        .try_get_with(op.id.clone(), async move {
            crate::web::qr::png(&uri).map(Arc::new)
        })
        .await
        .map_err(|e| page_err(&st, AppError::Internal(format!("QR code: {e}"))))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        png.as_ref().clone(),
    )
        .into_response())
}

/// `GET /operation/{id}/feed.xml`.
pub async fn feed(State(st): State<AppState>, Path(id): Path<String>) -> Result<Response, Page> {
    let v = ops::view(&st, &id).await.map_err(|e| page_err(&st, e))?;
    let body = feed_view::render(&st.config.public_url, &v.op, &v.events).into_string();
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        body,
    )
        .into_response())
}
