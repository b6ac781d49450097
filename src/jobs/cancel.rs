//! Cancelling an operation (`ops cancel`, the admin button): bill what is due,
//! record the cancel, destroy the node, refund what is left.

use super::send::{Amount, Transfer, has_unrelayed, refund, send};
use super::{Outcome, teardown_and_clear};
use crate::app::AppState;
use crate::domain::event::EventKind;
use crate::domain::money::due_pico;
use crate::domain::operation::Operation;
use crate::domain::payout::PayoutKind;
use crate::domain::state::State;
use crate::error::AppError;
use crate::ops::transition;
use crate::pricing::fresh_rates;

/// Cancels `op`. Checks that move no money and destroy nothing come first, so
/// a refusal changes nothing.
#[tracing::instrument(skip_all, fields(op = %op.codename))]
pub async fn cancel(st: &AppState, op: &Operation) -> Result<Operation, AppError> {
    let _guard = st.guards.job_lock.lock().await;
    crate::jobs::accounts::check_wallet(st)
        .await
        .map_err(AppError::Unavailable)?;
    super::ensure_reconciled(st).await?;
    let op = crate::ops::get(st, &op.id).await?;
    if !op.state.can_go(State::Cancelled) {
        return Err(AppError::Conflict(format!(
            "{} is {} and cannot be cancelled",
            op.codename, op.state
        )));
    }
    if has_unrelayed(st, &op.id).await? {
        return Err(AppError::Conflict(format!(
            "{} has a payout waiting to be relayed; cancel after the next payout pass",
            op.codename
        )));
    }
    let msg = format!(
        "Cancelled by the operator. {}",
        if op.refund_address.is_some() {
            "What is left goes to the refund address once unlocked."
        } else {
            "What is left stays in the operation's account."
        }
    );
    let op = match op.billed_until {
        // A final payout for the time since the last one, and the cancel, in one write.
        Some(billed_until) => {
            let (cost, r) = fresh_rates(st).await?;
            let seconds = u64::try_from(st.now() - billed_until).unwrap_or(0);
            let acct = st.clients.wallet.account_state(op.account_index).await?;
            let due = due_pico(seconds, r.cost, r.price);
            let need = due.saturating_add(r.fee);
            if acct.unlocked < need && acct.unlocked_with_change() >= need {
                // The change of a recent payout is still locked: the cancel is
                // recorded now and the seconds until now are billed by the
                // payout pass once it unlocks (never forgiven, never refunded).
                let msg = format!(
                    "{msg} The hosting until now is paid from the change of the last payout once it unlocks, before any refund."
                );
                let op = transition(st, &op, State::Cancelled, EventKind::Cancelled, msg, |o| {
                    o.launch_step = None;
                })
                .await?;
                st.failpoint("cancel:recorded")?;
                let mut out = Outcome::default();
                teardown_and_clear(st, &mut out, &op).await?;
                return crate::ops::get(st, &op.id).await;
            }
            let amount = if acct.unlocked >= need {
                Amount::Exact(due)
            } else if acct.unlocked > r.fee {
                Amount::Sweep
            } else {
                Amount::Exact(0)
            };
            let s = Transfer {
                kind: PayoutKind::Hosting,
                to: &st.config.payout_address,
                amount,
                seconds,
                advance_billing: true,
                is_final: true,
                cost: cost.total(),
                price: r.price,
                max: Some(due),
                end: Some((State::Cancelled, EventKind::Cancelled, &msg)),
            };
            send(st, &op, s).await?.0
        }
        None => {
            transition(st, &op, State::Cancelled, EventKind::Cancelled, msg, |o| {
                o.launch_step = None;
            })
            .await?
        }
    };
    st.failpoint("cancel:recorded")?;
    let mut out = Outcome::default();
    teardown_and_clear(st, &mut out, &op).await?;
    if let Err(e) = refund(st, &op).await {
        tracing::warn!(op = %op.id, error = %e, "refund after cancel failed; the payout pass retries");
    }
    crate::ops::get(st, &op.id).await
}
