//! process-payouts: bills each running operation for the whole seconds since
//! its billed-until time, ends nodes the money no longer covers, closes ended
//! operations after the grace period (refunding where an address was given).
//!
//! A payout is never sent twice: it is built without relaying, stored together
//! with the advanced billed-until time, then relayed; a stored payout that was
//! not relayed is relayed by the next pass only if the wallet does not know it.

use super::{Outcome, change, ops_in, teardown, transition};
use crate::app::AppState;
use crate::domain::event::EventKind;
use crate::domain::money::{HourlyCost, Pico, Rates, format_xmr};
use crate::domain::operation::Operation;
use crate::domain::payout::{Decision, Payout, PayoutInput, PayoutStatus, decide};
use crate::domain::state::State;
use crate::error::AppError;
use crate::ops;

/// One pass.
pub async fn run_once(st: &AppState, out: &mut Outcome) -> Result<(), AppError> {
    if st.config.payouts_paused {
        out.did("payouts and end decisions held: PAYOUTS_PAUSED=1");
        return Ok(());
    }
    recover(st, out).await?;
    let (cost, rates) = fresh_rates(st).await?;
    for op in ops_in(st, &[State::Active, State::LowFunds]).await? {
        if let Err(e) = pay_one(st, out, &op, cost, &rates).await {
            out.failed(format!("{}: {e}", op.codename));
        }
    }
    let now = st.now();
    for op in ops_in(st, &[State::Ended]).await? {
        if now - op.state_since >= st.config.grace_secs as i64 {
            if out.dry_run {
                out.did(format!("{}: would close (grace over)", op.codename));
                continue;
            }
            let refund = refund(st, &op).await;
            let msg = match &refund {
                Ok(Some(r)) => format!("Closed after the grace period; refunded {r}."),
                Ok(None) => {
                    "Closed after the grace period; what is left stays for a refill.".to_string()
                }
                Err(e) => {
                    out.failed(format!("{}: refund failed: {e}", op.codename));
                    continue;
                }
            };
            transition(st, &op, State::Closed, EventKind::Closed, msg, |_| {}).await?;
            out.did(format!("{}: closed", op.codename));
        }
    }
    Ok(())
}

/// Cost, a fresh price and the fee, read from the clients (not the page caches).
async fn fresh_rates(st: &AppState) -> Result<(HourlyCost, Rates), AppError> {
    let quote = st.price.xmr_usd().await?;
    let age = st.now() - quote.at;
    if age > st.config.price_max_age_secs as i64 {
        return Err(AppError::Unavailable(format!(
            "the XMR price is {age} s old; no payout decision on a stale price"
        )));
    }
    let cost = ops::hourly_cost(st).await?;
    let fee = st.cache.refresh_fee(&st.wallet).await?;
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

/// Relays stored payouts that were built but not relayed (a crash in between).
async fn recover(st: &AppState, out: &mut Outcome) -> Result<(), AppError> {
    let pending = st
        .store
        .run(|s| s.payouts_built().map_err(AppError::from))
        .await?;
    for p in pending {
        if out.dry_run {
            out.did(format!("would recover payout {}", p.tx_hash));
            continue;
        }
        let op = ops::get(st, &p.op_id).await?;
        let known = st.wallet.knows_tx(op.account_index, &p.tx_hash).await?;
        if !known && let Err(e) = st.wallet.relay(&p.tx_metadata).await {
            out.failed(format!(
                "{}: payout {} still not relayed: {e}",
                op.codename, p.tx_hash
            ));
            continue;
        }
        mark_relayed(st, p).await?;
        out.did(format!("{}: recovered a stored payout", op.codename));
    }
    Ok(())
}

async fn mark_relayed(st: &AppState, mut p: Payout) -> Result<(), AppError> {
    p.status = PayoutStatus::Relayed;
    p.tx_metadata.clear();
    st.store
        .run(move |s| s.write(|tx| tx.put_payout(&p)).map_err(AppError::from))
        .await
}

async fn pay_one(
    st: &AppState,
    out: &mut Outcome,
    op: &Operation,
    cost: HourlyCost,
    r: &Rates,
) -> Result<(), AppError> {
    let Some(billed_until) = op.billed_until else {
        return Ok(());
    };
    let acct = st.wallet.account_state(op.account_index).await?;
    let input = PayoutInput {
        now: st.now(),
        billed_until,
        unlocked: acct.unlocked,
        pending: acct.pending(),
        short_since: op.short_since,
        pending_wait_secs: st.config.pending_wait_secs,
        rates: *r,
    };
    let decision = decide(&input);
    if out.dry_run {
        out.did(format!("{}: {decision:?}", op.codename));
        return Ok(());
    }
    match decision {
        Decision::NotDue => low_funds_check(st, out, op, acct.unlocked, r).await,
        Decision::Pay { seconds, amount } => {
            let op = pay(st, op, seconds, amount, false, cost, r.price).await?;
            out.did(format!(
                "{}: paid {} XMR for {seconds} s",
                op.codename,
                format_xmr(amount)
            ));
            low_funds_check(
                st,
                out,
                &op,
                acct.unlocked.saturating_sub(amount + r.fee),
                r,
            )
            .await
        }
        Decision::Wait { .. } => {
            if op.short_since.is_none() {
                let hours = st.config.pending_wait_secs / 3600;
                let msg = format!(
                    "Short of unlocked funds; waiting up to {hours} h for incoming transfers to unlock."
                );
                change(st, &op.id, EventKind::LowFunds, msg, |o, now| {
                    o.short_since = Some(now);
                    Ok(())
                })
                .await?;
            }
            out.did(format!("{}: waiting for pending transfers", op.codename));
            Ok(())
        }
        Decision::End {
            seconds,
            amount,
            forgiven,
        } => {
            for d in teardown(st, op).await? {
                out.did(format!("{}: {d}", op.codename));
            }
            let paid = if amount > 0 {
                pay(st, op, seconds, amount, true, cost, r.price)
                    .await
                    .map(|_| amount)
            } else {
                Ok(0)
            };
            let paid = paid.unwrap_or_else(|e| {
                out.failed(format!("{}: final payout failed: {e}", op.codename));
                0
            });
            let hours = st.config.grace_secs / 3600;
            let msg = format!(
                "Funds ran out: the node was destroyed after a final payout of {} XMR ({} XMR forgiven). Refill within {hours} h to relaunch.",
                format_xmr(paid),
                format_xmr(forgiven)
            );
            transition(st, op, State::Ended, EventKind::Ended, msg, |o| {
                o.resources = Default::default();
                o.launch_step = None;
                o.billed_until = None;
                o.short_since = None;
            })
            .await?;
            out.did(format!("{}: ended", op.codename));
            Ok(())
        }
    }
}

/// Builds, stores (advancing billed-until in the same transaction), then relays a payout.
#[allow(clippy::too_many_arguments)]
async fn pay(
    st: &AppState,
    op: &Operation,
    seconds: u64,
    amount: Pico,
    is_final: bool,
    cost: HourlyCost,
    price: u64,
) -> Result<Operation, AppError> {
    let built = if amount > 0 {
        Some(
            st.wallet
                .build_transfer(op.account_index, &st.config.payout_address, amount)
                .await?,
        )
    } else {
        None
    };
    let (id, now, b) = (op.id.clone(), st.now(), built.clone());
    let (op, payout) = st
        .store
        .run(move |s| {
            s.write(|tx| {
                let mut op = tx.op(&id)?;
                op.billed_until = op.billed_until.map(|t| t + seconds as i64);
                op.short_since = None;
                tx.put_op(&op)?;
                let payout = match b {
                    Some(b) => {
                        let p = Payout {
                            op_id: id.clone(),
                            seq: tx.next_payout_seq(&id)?,
                            at: now,
                            seconds,
                            cost_per_hour: cost.total(),
                            price,
                            amount: b.amount,
                            fee: b.fee,
                            tx_hash: b.hash.clone(),
                            tx_metadata: b.metadata,
                            status: PayoutStatus::Built,
                            is_final,
                        };
                        tx.put_payout(&p)?;
                        let msg = format!(
                            "Paid {} XMR for {} of hosting (tx {}).",
                            format_xmr(p.amount),
                            crate::clock::duration(seconds),
                            p.tx_hash
                        );
                        tx.event(&id, now, EventKind::Payout, msg)?;
                        Some(p)
                    }
                    None => {
                        tx.event(
                            &id,
                            now,
                            EventKind::Payout,
                            format!("Nothing due for {seconds} s."),
                        )?;
                        None
                    }
                };
                Ok::<_, AppError>((op, payout))
            })
        })
        .await?;
    if let Some(p) = payout {
        // A relay failure leaves the payout stored as built; the next pass recovers it.
        st.wallet.relay(&p.tx_metadata).await?;
        mark_relayed(st, p).await?;
    }
    st.cache.forget_account(op.account_index).await;
    Ok(op)
}

async fn low_funds_check(
    st: &AppState,
    out: &mut Outcome,
    op: &Operation,
    unlocked: Pico,
    r: &Rates,
) -> Result<(), AppError> {
    let runway = r.runway_secs(unlocked);
    let low = runway < st.config.low_funds_secs;
    let left = crate::clock::duration(runway);
    match (op.state, low) {
        (State::Active, true) => {
            let msg = format!(
                "Low funds: about {left} of hosting left. Send XMR to the funding address to keep the node running."
            );
            transition(st, op, State::LowFunds, EventKind::LowFunds, msg, |_| {}).await?;
            out.did(format!("{}: low funds", op.codename));
        }
        (State::LowFunds, false) => {
            let msg = format!("Funds restored: about {left} of hosting paid for.");
            transition(st, op, State::Active, EventKind::FundsRestored, msg, |_| {}).await?;
            out.did(format!("{}: funds restored", op.codename));
        }
        _ => {}
    }
    Ok(())
}

/// Sends what is left (less the fee) to the refund address, if any. Returns what was sent.
async fn refund(st: &AppState, op: &Operation) -> Result<Option<String>, AppError> {
    let Some(addr) = &op.refund_address else {
        return Ok(None);
    };
    let acct = st.wallet.account_state(op.account_index).await?;
    let fee = st.wallet.fee_estimate().await?;
    if acct.unlocked <= fee {
        return Ok(None);
    }
    let built = st.wallet.build_sweep(op.account_index, addr).await?;
    let hash = st.wallet.relay(&built.metadata).await?;
    st.cache.forget_account(op.account_index).await;
    Ok(Some(format!(
        "{} XMR to the refund address (tx {hash})",
        format_xmr(built.amount)
    )))
}

/// Cancels an operation: destroys its node, bills what is due, refunds the rest.
pub async fn cancel(st: &AppState, op: &Operation) -> Result<Operation, AppError> {
    if !op.state.can_go(State::Cancelled) {
        return Err(AppError::Conflict(format!(
            "{} is {} and cannot be cancelled",
            op.codename, op.state
        )));
    }
    let _guard = st.job_lock.lock().await;
    let op = ops::get(st, &op.id).await?;
    let mut notes = teardown(st, &op).await?;
    if let Some(billed_until) = op.billed_until {
        let (cost, r) = fresh_rates(st).await?;
        let seconds = u64::try_from(st.now() - billed_until).unwrap_or(0);
        let acct = st.wallet.account_state(op.account_index).await?;
        let due = crate::domain::money::due_pico(seconds, r.cost, r.price)
            .min(acct.unlocked.saturating_sub(r.fee));
        pay(st, &op, seconds, due, true, cost, r.price).await?;
        notes.push(format!("final payout {} XMR", format_xmr(due)));
    }
    let op = ops::get(st, &op.id).await?;
    let refund = refund(st, &op).await?;
    let msg = format!(
        "Cancelled by the operator ({}). {}",
        if notes.is_empty() {
            "nothing to destroy".to_string()
        } else {
            notes.join(", ")
        },
        refund
            .map(|r| format!("Refunded {r}."))
            .unwrap_or_else(|| "What is left stays in the operation's account.".into())
    );
    transition(st, &op, State::Cancelled, EventKind::Cancelled, msg, |o| {
        o.resources = Default::default();
        o.billed_until = None;
        o.launch_step = None;
    })
    .await
}
