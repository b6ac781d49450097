//! Pricing in one place, for pages and jobs alike: the hourly cost of a
//! node, the rates pages show (cached answers) and the rates money decisions
//! use (fresh, through the price guard), the minimum to launch, the notice
//! pages carry while the price is held, and the admin's price actions.
//! The formulas themselves are `domain::money`; the guard's rules are
//! `domain::price_guard`.

use crate::app::AppState;
use crate::clients::Notice;
use crate::domain::money::{HourlyCost, Micro, Pico, Quote, Rates};
use crate::domain::price_guard::{self, PriceState, Verdict};
use crate::error::AppError;

/// The hourly cost of a node now (droplet price from the cloud, cached).
pub async fn hourly_cost(st: &AppState) -> Result<HourlyCost, AppError> {
    let c = &st.config;
    let droplet = st
        .cache
        .size_price(&st.clients.cloud, &c.do_droplet_size)
        .await?;
    Ok(HourlyCost::new(
        droplet,
        c.do_droplet_storage_gb,
        c.do_volume_price_gb_month,
        c.mgmt_charge_hour,
    ))
}

/// The price guard's state as the last decision left it (pages: an
/// unreadable one shows as no guard at all).
pub fn price_guard(st: &AppState) -> PriceState {
    st.store.price_guard().unwrap_or_default()
}

/// While decisions wait for a sane price, pages use the last accepted one
/// and say so.
pub fn price_notice(st: &AppState) -> Option<String> {
    let g = price_guard(st);
    let why = g.trouble?;
    Some(match g.accepted {
        Some(q) => format!(
            "Prices here use the last accepted XMR price, {} from {}: {why}. Launches and payouts wait until a fresh, sane price arrives.",
            crate::domain::money::format_usd(q.usd),
            crate::clock::human(q.at)
        ),
        None => format!("No sane XMR price yet: {why}. Launches and payouts wait."),
    })
}

/// Cost, price and fee together (all cached).
pub async fn rates(st: &AppState) -> Result<(HourlyCost, Rates), AppError> {
    let cost = hourly_cost(st).await?;
    let guard = price_guard(st);
    let price = match (guard.trouble, guard.accepted) {
        (Some(_), Some(last)) => last,
        _ => st.cache.price(&st.clients.price).await?,
    };
    let fee = st.cache.fee();
    let r = Rates {
        cost: cost.total(),
        price: price.usd,
        fee,
        payout_every: st.config.payout_frequency_secs,
    };
    Ok((cost, r))
}

/// Where each figure of the pricing comes from, for the info page (no client
/// call: the price's time comes from the cache the figures came from).
pub async fn figure_sources(st: &AppState) -> Vec<(&'static str, String)> {
    let c = &st.config;
    let sandbox = st.clients.sandbox.is_some();
    let quote = st.cache.price(&st.clients.price).await.ok();
    let when = quote
        .map(|q| format!(", as of {}", crate::clock::human(q.at)))
        .unwrap_or_default();
    vec![
        (
            "Droplet",
            if sandbox {
                format!(
                    "the sandbox's simulated price list for {}",
                    c.do_droplet_size
                )
            } else {
                format!(
                    "DigitalOcean's price_hourly for {}, read from its API and kept for up to 6 h",
                    c.do_droplet_size
                )
            },
        ),
        (
            "Volume",
            format!(
                "{} per GiB-month set by the operator (DigitalOcean's API does not publish it), over 730 h",
                crate::domain::money::format_usd(c.do_volume_price_gb_month)
            ),
        ),
        ("Management fee", "set by the operator".into()),
        (
            "XMR price",
            if sandbox {
                format!("simulated, set on the admin page{when}")
            } else {
                format!("median of {}{when}", c.price_sources.join(" and "))
            },
        ),
        ("Network fee", st.cache.fee_basis()),
    ]
}

/// What must be unlocked to launch: `MIN_FUNDED_HOURS` of cost plus fees.
pub fn min_to_launch(st: &AppState, r: &Rates) -> Pico {
    r.needed_for(st.config.min_funded_secs)
}

/// Cost, a fresh price and the fee, read from the clients (not the page
/// caches): launches, payouts and ends decide on nothing older than
/// `PRICE_MAX_AGE_MINUTES`.
pub async fn fresh_rates(st: &AppState) -> Result<(HourlyCost, Rates), AppError> {
    let quote = decision_price(st).await?;
    let cost = hourly_cost(st).await?;
    let recent = st
        .store
        .run(|s| Ok::<_, AppError>(s.recent_fees()?))
        .await?;
    let fee = st
        .cache
        .refresh_fee(&st.clients.wallet, median_fee(recent))
        .await?;
    Ok((
        cost,
        Rates {
            cost: cost.total(),
            price: quote.usd,
            fee,
            payout_every: st.config.payout_frequency_secs,
        },
    ))
}

/// The median fee of the last payouts' transactions (the estimate never
/// goes below what payouts of the usual size really cost).
fn median_fee(mut fees: Vec<crate::domain::money::Pico>) -> Option<crate::domain::money::Pico> {
    fees.sort_unstable();
    fees.get(fees.len() / 2).copied()
}

/// The price guard's rules from the configuration.
pub fn price_rules(st: &AppState) -> price_guard::Rules {
    let secs = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    price_guard::Rules {
        max_age_secs: secs(st.config.price_max_age_secs),
        max_move_percent: st.config.price_max_move_percent,
        max_wait_secs: secs(st.config.price_max_wait_secs),
    }
}

/// The price a decision that moves money or ends a node may use: fresh and
/// sane, or after `PRICE_MAX_WAIT_HOURS` without one the last accepted price
/// (logged and told). The operator hears once when decisions start waiting.
pub async fn decision_price(st: &AppState) -> Result<Quote, AppError> {
    let fetched = st.clients.price.xmr_usd().await.map_err(|e| e.0);
    let now = st.now();
    let rules = price_rules(st);
    let (verdict, tell) = st
        .store
        .run(move |s| {
            s.write(|tx| {
                let mut state = tx.price_guard()?;
                let verdict = state.judge(fetched, now, &rules);
                let tell = match &verdict {
                    Verdict::Use(_) => None,
                    Verdict::Wait(why) if !state.notified => {
                        state.notified = true;
                        Some(format!(
                            "Launches, payouts and ends wait for a sane XMR price: {why}."
                        ))
                    }
                    Verdict::UseLast(_, why) if !state.fell_back => {
                        state.fell_back = true;
                        Some(format!(
                            "Decisions now use the last accepted XMR price: {why}."
                        ))
                    }
                    _ => None,
                };
                tx.put_price_guard(&state)?;
                Ok::<_, AppError>((verdict, tell))
            })
        })
        .await?;
    if let Some(message) = tell {
        tracing::warn!("{message}");
        st.clients
            .notifier
            .notify(&Notice {
                op_id: None,
                codename: None,
                kind: "price".into(),
                message,
            })
            .await;
    }
    match verdict {
        Verdict::Use(q) => Ok(q),
        Verdict::UseLast(q, why) => {
            tracing::warn!("{why}");
            Ok(q)
        }
        Verdict::Wait(why) => Err(AppError::Unavailable(format!(
            "{why}; no launch, payout or end decision until a fresh, sane price arrives"
        ))),
    }
}

/// The admin set the (sandbox) price: the guard accepts it as it is.
pub async fn set_by_admin(st: &AppState, usd: Micro) -> Result<(), AppError> {
    let at = st.now();
    st.store
        .run(move |s| {
            s.write(|tx| {
                let mut state = tx.price_guard()?;
                state.set_by_admin(Quote { usd, at });
                tx.put_price_guard(&state)?;
                Ok::<_, AppError>(())
            })
        })
        .await?;
    st.cache.forget_price().await;
    Ok(())
}

/// The admin accepts the price the guard holds; whether there was one.
pub async fn accept_held(st: &AppState) -> Result<bool, AppError> {
    st.store
        .run(|s| {
            s.write(|tx| {
                let mut state = tx.price_guard()?;
                let accepted = state.accept_held();
                if accepted {
                    tx.put_price_guard(&state)?;
                }
                Ok::<_, AppError>(accepted)
            })
        })
        .await
}
