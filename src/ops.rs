//! Use cases shared by the web UI, the admin API and the CLI: opening an
//! operation, what it costs, what it holds, and summaries.

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::clients::wallet::AccountState;
use crate::domain::codename;
use crate::domain::event::EventKind;
use crate::domain::money::{HourlyCost, Pico, Rates};
use crate::domain::operation::{NewOperation, Operation};
use crate::domain::state::State;
use crate::domain::xmr_address::check_address;
use crate::error::AppError;
use crate::util::random_hex;

/// The launchpad form.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct LaunchForm {
    #[serde(default)]
    pub codename: String,
    #[serde(default)]
    pub region: String,
    #[serde(default)]
    pub refund_address: String,
}

/// The hourly cost of a node now (droplet price from the cloud, cached).
pub async fn hourly_cost(st: &AppState) -> Result<HourlyCost, AppError> {
    let c = &st.config;
    let droplet = st.cache.size_price(&st.cloud, &c.do_droplet_size).await?;
    Ok(HourlyCost::new(
        droplet,
        c.do_droplet_storage_gb,
        c.do_volume_price_gb_month,
        c.mgmt_charge_hour,
    ))
}

/// The price guard's state as the last decision left it.
pub fn price_guard(st: &AppState) -> crate::domain::price_guard::PriceState {
    st.store
        .setting(crate::jobs::PRICE_GUARD_KEY)
        .ok()
        .flatten()
        .unwrap_or_default()
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
        _ => st.cache.price(&st.price).await?,
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
    let sandbox = st.sandbox.is_some();
    let quote = st.cache.price(&st.price).await.ok();
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

/// Opens an operation: checks the form, then creates the wallet account
/// (permanent, so only after every check passed) and stores the operation.
pub async fn create(st: &AppState, form: &LaunchForm) -> Result<Operation, AppError> {
    if !st.config.launchpad_enabled {
        return Err(AppError::Forbidden(
            "The launchpad is closed for now; come back later.".into(),
        ));
    }
    let codename = codename::parse(&form.codename).map_err(AppError::BadInput)?;
    let region = form.region.trim().to_lowercase();
    let regions = st
        .cache
        .regions(&st.cloud, &st.config.do_droplet_size, &st.config.do_regions)
        .await?;
    if !regions.iter().any(|r| r.slug == region) {
        return Err(AppError::BadInput(format!(
            "{region:?} is not a region you can choose; pick one from the list."
        )));
    }
    let refund = form.refund_address.trim();
    let refund_address = if refund.is_empty() {
        None
    } else {
        check_address(refund, st.config.xmr_network).map_err(|m| {
            AppError::BadInput(format!(
                "The refund address is not valid: {m}. Leave it empty if you have none."
            ))
        })?;
        Some(refund.to_string())
    };
    // One opening at a time: the cap is counted and the operation stored
    // under the same lock.
    let _one = st.launchpad_lock.lock().await;
    let (name, max) = (codename.clone(), st.config.max_awaiting_funds as usize);
    let (taken, awaiting) = st
        .store
        .run(move |s| {
            let awaiting = s
                .operations_where(|o| o.state == State::AwaitingFunds)?
                .len();
            Ok::<_, AppError>((s.codename_taken(&name)?, awaiting))
        })
        .await?;
    if taken {
        return Err(AppError::BadInput(format!(
            "The codename {codename:?} is taken; choose another."
        )));
    }
    if awaiting >= max {
        return Err(AppError::Unavailable(
            "Too many operations are waiting for funds right now; try again later.".into(),
        ));
    }
    // A wallet that does not hold the accounts the store knows (restored
    // from its seed without them, or the wrong wallet file) would hand out
    // an address that is already an operation's: no opening until repaired.
    if let Some(why) = st.money_blocked() {
        tracing::warn!("launchpad refused: {why}");
        return Err(AppError::Unavailable(WALLET_NEEDS_REPAIR.into()));
    }
    let id = random_hex(16);
    let account = st.wallet.create_account(&id).await?;
    let op = Operation::new(
        NewOperation {
            id,
            codename,
            region,
            refund_address,
            account_index: account.index,
            address: account.address,
            node_token: random_hex(24),
        },
        st.now(),
    );
    let (stored, account_index) = (op.clone(), op.account_index);
    let stored: Result<(), crate::store::StoreError> = st
        .store
        .run(move |s| {
            s.write(|tx| {
                tx.insert_op(&stored)?;
                tx.event(
                    &stored.id,
                    stored.created_at,
                    EventKind::Created,
                    format!("Operation {} opened in {}.", stored.codename, stored.region),
                )
            })
        })
        .await;
    match stored {
        Ok(()) => {}
        Err(crate::store::StoreError::AccountTaken { index, owner }) => {
            // Never give one address to two operations: stop, and tell the operator.
            let why = format!(
                "the wallet handed out account {index}, which is {owner}: it was restored without its accounts or is the wrong wallet file. Openings and money jobs are stopped; run `nodecannon wallet repair` (docs/operator.md, Restoring)."
            );
            tracing::error!("{why}");
            st.block_money(why.clone());
            st.notifier
                .notify(&crate::clients::Notice {
                    op_id: None,
                    codename: None,
                    kind: "wallet".into(),
                    message: why,
                })
                .await;
            return Err(AppError::Unavailable(WALLET_NEEDS_REPAIR.into()));
        }
        Err(e) => {
            // The account exists in the wallet now: record it as nobody's, so
            // it is never handed out and the audit can account for it.
            let (index, address, now) = (account_index, op.address.clone(), st.now());
            let recorded = st
                .store
                .run(move |s| s.write(|tx| tx.record_account(index, &address, None, now)))
                .await;
            if let Err(r) = recorded {
                tracing::warn!(account = index, "could not record an unused account: {r}");
            }
            return Err(match e {
                crate::store::StoreError::CodenameTaken(c) => {
                    AppError::BadInput(format!("The codename {c:?} is taken; choose another."))
                }
                e => e.into(),
            });
        }
    }
    tracing::info!(op = %op.id, codename = %op.codename, "operation opened");
    st.cache.node_rows.invalidate_all();
    Ok(op)
}

/// What a visitor reads when the wallet must be repaired before openings.
pub const WALLET_NEEDS_REPAIR: &str = "New operations cannot be opened right now: the operator's wallet needs attention (it has been told). Your money is safe; nothing was created. Try again later.";

/// Finds an operation by id (404 with a helpful message otherwise).
pub async fn get(st: &AppState, id: &str) -> Result<Operation, AppError> {
    let key = id.to_string();
    st.store
        .run(move |s| s.find_operation(&key).map_err(AppError::from))
        .await?
        .ok_or_else(|| {
            AppError::NotFound(format!(
                "There is no operation {id:?}. Check the link you followed."
            ))
        })
}

/// What an operation's pages read from the store, as of one generation of
/// the operation (`Store::generation_of`).
#[derive(Debug)]
pub struct OpView {
    /// The operation's generation this was read at.
    pub generation: u64,
    pub op: Operation,
    pub events: Vec<crate::domain::event::Event>,
    pub payouts: Vec<crate::domain::payout::Payout>,
    pub health: Vec<crate::store::HealthSample>,
    /// The page parts rendered from this view (made on first use).
    pub fragments: crate::web::views::operation::Fragments,
}

impl OpView {
    /// About how many bytes it holds (what the view cache weighs).
    pub fn weight(&self) -> u32 {
        // The fixed part covers the operation and its rendered fragments.
        let n = 16 * 1024
            + self.events.len() * 256
            + self.payouts.len() * 256
            + self.health.len() * std::mem::size_of::<crate::store::HealthSample>();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// An operation with its events, payouts and health history, by id or
/// codename. Read once per write to that operation and shared by every view
/// of it until the next (concurrent first requests wait for one read).
pub async fn view(st: &AppState, key: &str) -> Result<std::sync::Arc<OpView>, AppError> {
    let id = op_id(st, key).await?;
    // Read before the store is: a write committed meanwhile makes a newer one.
    let generation = st.store.generation_of(&id);
    let store = st.store.clone();
    st.cache
        .op_views
        .try_get_with((id.clone(), generation), async move {
            let view = store
                .run(move |s| {
                    let op = s
                        .operation(&id)?
                        .ok_or(crate::store::StoreError::NotFound(id))?;
                    Ok::<_, crate::store::StoreError>(OpView {
                        events: s.events(&op.id)?,
                        payouts: s.payouts(&op.id)?,
                        health: s.health(&op.id)?,
                        fragments: Default::default(),
                        generation,
                        op,
                    })
                })
                .await
                .map_err(AppError::from)?;
            Ok(std::sync::Arc::new(view))
        })
        .await
        .map_err(|e: std::sync::Arc<AppError>| e.copied())
}

/// The id of the operation `key` (an id or a codename) names; ids never
/// change and codenames are never reused, so the answer is cached.
async fn op_id(st: &AppState, key: &str) -> Result<String, AppError> {
    let store = st.store.clone();
    let asked = key.to_string();
    st.cache
        .op_ids
        .try_get_with(asked.clone(), async move {
            let find = asked.clone();
            store
                .run(move |s| {
                    Ok::<_, crate::store::StoreError>(s.find_operation(&find)?.map(|op| op.id))
                })
                .await
                .map_err(AppError::from)?
                .ok_or_else(|| {
                    AppError::NotFound(format!(
                        "There is no operation {asked:?}. Check the link you followed."
                    ))
                })
        })
        .await
        .map_err(|e: std::sync::Arc<AppError>| e.copied())
}

/// One line of `ops list` and of the admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpSummary {
    pub codename: String,
    pub id: String,
    pub state: String,
    pub balance: Pico,
    pub unlocked: Pico,
    pub droplet: Option<u64>,
    pub problem: Option<String>,
}

/// Summaries of every operation (balances from the wallet, cached).
pub async fn summaries(st: &AppState) -> Result<Vec<OpSummary>, AppError> {
    let ops = st
        .store
        .run(|s| s.operations().map_err(AppError::from))
        .await?;
    let mut out = Vec::with_capacity(ops.len());
    for op in ops {
        let acct = st
            .cache
            .account(&st.wallet, op.account_index, st.now())
            .await
            .unwrap_or_default();
        out.push(summary(&op, &acct));
    }
    Ok(out)
}

/// The summary of one operation.
pub fn summary(op: &Operation, acct: &AccountState) -> OpSummary {
    OpSummary {
        codename: op.codename.clone(),
        id: op.id.clone(),
        state: op.state.as_str().into(),
        balance: acct.balance,
        unlocked: acct.unlocked,
        droplet: op.resources.droplet_id,
        problem: op.problem.clone(),
    }
}

/// `ops show`: everything about one operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpDetail {
    pub operation: Operation,
    pub summary: OpSummary,
    pub payouts: Vec<crate::domain::payout::Payout>,
    pub events: Vec<crate::domain::event::Event>,
}

/// Everything about one operation, for `ops show`.
pub async fn detail(st: &AppState, key: &str) -> Result<OpDetail, AppError> {
    let op = get(st, key).await?;
    let acct = st
        .cache
        .account(&st.wallet, op.account_index, st.now())
        .await
        .unwrap_or_default();
    let id = op.id.clone();
    let (payouts, events) = st
        .store
        .run(move |s| Ok::<_, AppError>((s.payouts(&id)?, s.events(&id)?)))
        .await?;
    Ok(OpDetail {
        summary: summary(&op, &acct),
        operation: op,
        payouts,
        events,
    })
}
