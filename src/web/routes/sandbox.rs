//! Sandbox controls: simulate a payment, set the simulated price.

use axum::extract::{Path, State};
use axum::response::Redirect;
use serde::Deserialize;

use super::{page_err, parse_form};
use crate::app::AppState;
use crate::clients::price::Quote;
use crate::domain::money::{parse_decimal_micro, parse_xmr};
use crate::domain::price_guard::PriceState;
use crate::error::AppError;
use crate::web::Page;
use crate::web::auth::Admin;

fn sandbox_only(st: &AppState) -> Result<&crate::sandbox::Sandbox, Page> {
    st.sandbox.as_ref().ok_or_else(|| {
        page_err(
            st,
            AppError::NotFound("The sandbox is off on this appliance.".into()),
        )
    })
}

#[derive(Deserialize)]
struct PayForm {
    #[serde(default)]
    amount_xmr: String,
}

/// `POST /sandbox/operation/{id}/pay`.
pub async fn pay(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Redirect, Page> {
    let sb = sandbox_only(&st)?;
    let f: PayForm = parse_form(&body).map_err(|e| page_err(&st, e))?;
    let amount = parse_xmr(&f.amount_xmr).filter(|a| *a > 0).ok_or_else(|| {
        page_err(
            &st,
            AppError::BadInput(format!(
                "{:?} is not an XMR amount; write it like 0.5 (at most 12 decimals).",
                f.amount_xmr
            )),
        )
    })?;
    let op = crate::ops::get(&st, &id)
        .await
        .map_err(|e| page_err(&st, e))?;
    sb.wallet
        .simulate_payment(op.account_index, amount)
        .await
        .map_err(|e| page_err(&st, e))?;
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
    State(st): State<AppState>,
    _a: Admin,
    body: axum::body::Bytes,
) -> Result<Redirect, Page> {
    let sb = sandbox_only(&st)?;
    let f: PriceForm = parse_form(&body).map_err(|e| page_err(&st, e))?;
    let usd = parse_decimal_micro(&f.usd)
        .filter(|u| *u > 0)
        .ok_or_else(|| {
            page_err(
                &st,
                AppError::BadInput(format!(
                    "{:?} is not a price; write it in USD like 150 or 1.50.",
                    f.usd
                )),
            )
        })?;
    sb.price.set(usd).await.map_err(|e| page_err(&st, e))?;
    // A price the admin sets is accepted: the guard does not hold it.
    let at = st.now();
    st.store
        .run(move |s| {
            s.write(|tx| {
                let key = crate::jobs::PRICE_GUARD_KEY;
                let mut state: PriceState = tx.setting(key)?.unwrap_or_default();
                state.set_by_admin(Quote { usd, at });
                tx.put_setting(key, &state)?;
                Ok::<_, AppError>(())
            })
        })
        .await
        .map_err(|e| page_err(&st, e))?;
    st.cache.forget_price().await;
    Ok(Redirect::to("/admin?notice=price"))
}
