//! Sandbox controls: simulate a payment, set the simulated price.

use axum::extract::{Path, State};
use axum::response::Redirect;
use serde::Deserialize;

use super::parse_form;
use crate::domain::money::{parse_decimal_micro, parse_xmr};
use crate::error::AppError;
use crate::web::Page;
use crate::web::auth::Admin;
use crate::web::state::WebState;

fn sandbox_only(st: &WebState) -> Result<&crate::sandbox::Sandbox, Page> {
    st.clients.sandbox.as_ref().ok_or_else(|| {
        Page::from(AppError::NotFound(
            "The sandbox is off on this appliance.".into(),
        ))
    })
}

#[derive(Deserialize)]
struct PayForm {
    #[serde(default)]
    amount_xmr: String,
}

/// `POST /sandbox/operation/{id}/pay`.
pub async fn pay(
    State(st): State<WebState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Redirect, Page> {
    let sb = sandbox_only(&st)?;
    let f: PayForm = parse_form(&body)?;
    let amount = parse_xmr(&f.amount_xmr).filter(|a| *a > 0).ok_or_else(|| {
        Page::from(AppError::BadInput(format!(
            "{:?} is not an XMR amount; write it like 0.5 (at most 12 decimals).",
            f.amount_xmr
        )))
    })?;
    let op = crate::ops::get(&st, &id).await?;
    sb.wallet.simulate_payment(op.account_index, amount).await?;
    st.cache.forget_account(op.account_index).await;
    Ok(Redirect::to(&format!("/operation/{}", op.id)))
}

#[derive(Deserialize)]
struct PriceForm {
    #[serde(default)]
    usd: String,
}

/// `POST /sandbox/price` (admin).
pub async fn price(
    State(st): State<WebState>,
    _a: Admin,
    body: axum::body::Bytes,
) -> Result<Redirect, Page> {
    let sb = sandbox_only(&st)?;
    let f: PriceForm = parse_form(&body)?;
    let usd = parse_decimal_micro(&f.usd)
        .filter(|u| *u > 0)
        .ok_or_else(|| {
            Page::from(AppError::BadInput(format!(
                "{:?} is not a price; write it in USD like 150 or 1.50.",
                f.usd
            )))
        })?;
    sb.price.set(usd).await?;
    // A price the admin sets is accepted: the guard does not hold it.
    crate::pricing::set_by_admin(&st, usd).await?;
    Ok(Redirect::to("/admin?notice=price"))
}
