//! `/operation/{id}` and its payouts, QR code and feed.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use maud::Markup;

use super::{PageNo, chrome};
use crate::clients::wallet::AccountState;
use crate::domain::money::{HourlyCost, Rates};
use crate::domain::state::State as OpState;
use crate::domain::xmr_address::Network;
use crate::error::AppError;
use crate::pricing;
use crate::web::prebuilt::Holed;
use crate::web::state::WebState;
use crate::web::views::{feed as feed_view, operation as view, payouts as payouts_view};
use crate::web::{Page, csrf};
use moka::ops::compute::Op;

/// An operation page as rendered, with everything it was rendered from.
#[derive(Debug)]
pub struct OpPage {
    inputs: PageInputs,
    page: Holed,
}

impl OpPage {
    /// About how many bytes it holds (what the page cache weighs).
    pub fn weight(&self) -> u32 {
        u32::try_from(self.page.weight() + 1024).unwrap_or(u32::MAX)
    }
}

/// What an operation page is rendered from: the operation's store view (by
/// its generation) and what the page shows besides. A page is reused only
/// while every one of these is equal (so within one second of the clock, as
/// it shows times relative to now).
#[derive(Debug, Clone, PartialEq)]
struct PageInputs {
    generation: u64,
    now: i64,
    account: Option<AccountState>,
    stale_since: Option<i64>,
    rates: Option<(HourlyCost, Rates)>,
    node_status: Option<String>,
    price_notice: Option<String>,
}

/// `GET /operation/{id}`: rendered once for all the views that would show
/// the same page, and gzipped once; each answer only fills in its own CSRF
/// mask (`prebuilt::Holed`).
pub async fn show(
    State(st): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Page> {
    st.metrics.page_view();
    let v = crate::web::pages::view(&st, &id).await?;
    let op = &v.op;
    let (account, stale_since) = match st
        .cache
        .account_or_last(&st.clients.wallet, op.account_index, st.now())
        .await
    {
        Ok((a, stale)) => (Some(a), stale),
        Err(_) => (None, None),
    };
    let node = st.cache.node_info.get(&op.id).await;
    let node_status = op.launched_at.filter(|_| op.state.has_node()).map(|_| {
        let best = crate::web::routes::api::best_height(&st);
        crate::web::routes::api::describe(&st, op, node.as_ref(), best).1
    });
    let inputs = PageInputs {
        generation: v.generation,
        now: st.now(),
        account,
        stale_since,
        rates: pricing::rates(&st).await.ok(),
        node_status,
        price_notice: pricing::price_notice(&st),
    };
    let page = match st.pages.op_pages.get(&op.id).await {
        Some(p) if p.inputs == inputs => {
            st.metrics.cache_lookup("op_page", true);
            p
        }
        // Concurrent misses of one page wait for one render (moka runs one
        // computation per key at a time); the check is made again inside.
        _ => {
            let made = |inputs: PageInputs| {
                st.metrics.cache_lookup("op_page", false);
                let html = render(&st, &v, &inputs).into_string();
                Arc::new(OpPage {
                    page: Holed::new(html, csrf::HOLE, csrf::MASKED_LEN),
                    inputs,
                })
            };
            let result = st
                .pages
                .op_pages
                .entry(op.id.clone())
                .and_compute_with(|current| {
                    std::future::ready(match current {
                        Some(p) if p.value().inputs == inputs => Op::Nop,
                        _ => Op::Put(made(inputs.clone())),
                    })
                })
                .await;
            match result.into_entry() {
                Some(e) => e.into_value(),
                // Cannot happen (a missing page is put); served anyway.
                None => made(inputs),
            }
        }
    };
    let fill = if page.page.has_hole() {
        csrf::masked()
    } else {
        String::new()
    };
    Ok(page.page.respond(&headers, &fill))
}

fn render(st: &WebState, v: &crate::web::pages::OpView, i: &PageInputs) -> Markup {
    let op = &v.op;
    // What left the account, and when (for the balance chart).
    let outflows: Vec<(i64, u64)> = v
        .payouts
        .iter()
        .filter(|p| p.status == crate::domain::payout::PayoutStatus::Relayed)
        .map(|p| (p.at, p.amount.saturating_add(p.fee)))
        .collect();
    let refresh = matches!(
        op.state,
        OpState::AwaitingFunds | OpState::Funded | OpState::Launching
    )
    .then_some(30);
    let p = view::OperationPage {
        fragments: &v.fragments,
        op,
        events: &v.events,
        account: i.account.as_ref(),
        min_to_launch: i.rates.as_ref().map(|(_, r)| pricing::min_to_launch(st, r)),
        rates: i.rates,
        dns: op.dns_name(&st.config.do_domain),
        node_status: i.node_status.clone(),
        health: &v.health,
        rpc_port: st.config.node_rpc_port,
        payouts: v.payouts.len(),
        outflows: &outflows,
        now: i.now,
        sandbox: st.clients.sandbox.is_some(),
        notice: None,
        stale_since: i.stale_since,
    };
    let mut chrome = chrome(st, refresh);
    chrome.price_notice.clone_from(&i.price_notice);
    view::render(&chrome, &p)
}

/// `GET /operation/{id}/payouts[?page=N]`.
pub async fn payouts(
    State(st): State<WebState>,
    Path(id): Path<String>,
    PageNo(page_no): PageNo,
) -> Result<Markup, Page> {
    st.metrics.page_view();
    let v = crate::web::pages::view(&st, &id).await?;
    let explorer = match (st.clients.sandbox.is_some(), st.config.xmr_network) {
        (true, _) => None,
        (false, Network::Mainnet) => Some("https://xmrchain.net/tx/"),
        (false, Network::Stagenet) => Some("https://stagenet.xmrchain.net/tx/"),
        (false, Network::Testnet) => Some("https://testnet.xmrchain.net/tx/"),
    };
    Ok(payouts_view::render(
        &chrome(&st, None),
        &v.op,
        &v.payouts,
        page_no,
        explorer,
    ))
}

/// `GET /operation/{id}/qr.png`: the `monero:` URI of the funding address.
pub async fn qr(State(st): State<WebState>, Path(id): Path<String>) -> Result<Response, Page> {
    let v = crate::web::pages::view(&st, &id).await?;
    let op = &v.op;
    let uri = format!("monero:{}", op.address);
    let png = st
        .pages
        .qr
        .try_get_with(op.id.clone(), async move {
            crate::web::qr::png(&uri).map(Arc::new)
        })
        .await
        .map_err(|e| Page::from(AppError::Internal(format!("QR code: {e}"))))?;
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
pub async fn feed(State(st): State<WebState>, Path(id): Path<String>) -> Result<Response, Page> {
    let v = crate::web::pages::view(&st, &id).await?;
    let body = feed_view::render(&st.config.public_url, &v.op, &v.events).into_string();
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        body,
    )
        .into_response())
}
