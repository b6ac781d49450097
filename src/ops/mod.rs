//! Use cases shared by the web UI, the admin API and the CLI: opening an
//! operation, what it costs, what it holds, and summaries.

mod change;

use serde::{Deserialize, Serialize};

pub use change::{change, ops_in, transition};

use crate::app::AppState;
use crate::clients::wallet::AccountState;
use crate::domain::codename;
use crate::domain::event::EventKind;
use crate::domain::money::Pico;
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

/// Opens an operation: checks the form, then creates the wallet account
/// (permanent, so only after every check passed) and stores the operation.
#[tracing::instrument(skip_all, fields(codename = tracing::field::Empty))]
pub async fn create(st: &AppState, form: &LaunchForm) -> Result<Operation, AppError> {
    if !st.config.launchpad_enabled {
        return Err(AppError::Forbidden(
            "The launchpad is closed for now; come back later.".into(),
        ));
    }
    let codename = codename::parse(&form.codename).map_err(AppError::BadInput)?;
    // Only a valid codename goes into the log.
    tracing::Span::current().record("codename", codename.as_str());
    let region = form.region.trim().to_lowercase();
    let regions = st
        .cache
        .regions(
            &st.clients.cloud,
            &st.config.do_droplet_size,
            &st.config.do_regions,
        )
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
    let _one = st.guards.launchpad_lock.lock().await;
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
    let account = st.clients.wallet.create_account(&id).await?;
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
            st.clients
                .notifier
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
            .account(&st.clients.wallet, op.account_index, st.now())
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
        .account(&st.clients.wallet, op.account_index, st.now())
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
