//! process-payouts: bills each running operation for the whole seconds since
//! its billed-until time, ends nodes the money no longer covers (recording the
//! end first, destroying after), closes ended operations after the grace
//! period, and refunds closed and cancelled ones that gave an address.

use super::send::{Amount, Transfer, recover, refund, send};
use super::{Outcome, holds_resources, teardown_and_clear};
use crate::app::AppState;
use crate::domain::event::EventKind;
use crate::domain::money::{HourlyCost, Pico, Rates, format_xmr};
use crate::domain::operation::Operation;
use crate::domain::payout::{Decision, PayoutInput, PayoutKind, decide};
use crate::domain::state::State;
use crate::error::AppError;
use crate::ops::{change, ops_in, transition};
use crate::pricing::fresh_rates;

/// One pass.
pub async fn run_once(st: &AppState, out: &mut Outcome) -> Result<(), AppError> {
    if st.config.payouts_paused {
        out.did("payouts and end decisions held: PAYOUTS_PAUSED=1");
        return Ok(());
    }
    recover(st, out).await?;
    // Without a fresh, sane price no payout or end is decided, but teardown
    // retries, closings and refunds of cancelled operations still run.
    let rates = match fresh_rates(st).await {
        Ok(r) => Some(r),
        Err(e) => {
            out.failed(format!("no payout or end decided this pass: {e}"));
            None
        }
    };
    if let Some((cost, rates)) = &rates {
        for op in ops_in(st, &[State::Launching, State::Active, State::LowFunds]).await? {
            if let Err(e) = pay_one(st, out, &op, *cost, rates).await {
                out.failed(format!("{}: {e}", op.codename));
            }
        }
    }
    if out.dry_run {
        return Ok(());
    }
    // Nodes whose destruction failed before: try again.
    let done = &[
        State::Ended,
        State::Closed,
        State::Cancelled,
        State::Expired,
    ];
    for op in ops_in(st, done)
        .await?
        .iter()
        .filter(|o| holds_resources(o))
    {
        if let Err(e) = teardown_and_clear(st, out, op).await {
            out.failed(format!("{}: {e}", op.codename));
        }
    }
    let now = st.now();
    for op in ops_in(st, &[State::Ended]).await? {
        if now - op.state_since >= st.config.grace_secs as i64 {
            let msg = match op.refund_address {
                Some(_) => {
                    "Closed after the grace period; what is left goes to the refund address."
                }
                None => {
                    "Closed after the grace period; what is left stays here and counts toward a refill."
                }
            };
            match transition(st, &op, State::Closed, EventKind::Closed, msg, |_| {}).await {
                Ok(_) => out.did(format!("{}: closed", op.codename)),
                Err(e) => out.failed(format!("{}: {e}", op.codename)),
            }
        }
    }
    // Refunds: cancelled operations, and closed ones whose balance is not a refill.
    let min = rates
        .as_ref()
        .map(|(_, r)| crate::pricing::min_to_launch(st, r));
    for op in ops_in(st, &[State::Closed, State::Cancelled]).await? {
        // A cancel that found the last payout's change locked bills the
        // seconds until the cancel first, once that change unlocks.
        if let (State::Cancelled, Some(billed_until)) = (op.state, op.billed_until) {
            let Some((cost, r)) = &rates else { continue };
            match bill_cancelled(st, &op, billed_until, *cost, r).await {
                Ok(true) => out.did(format!(
                    "{}: billed the hours until its cancel",
                    op.codename
                )),
                Ok(false) => {}
                Err(e) => out.failed(format!("{}: {e}", op.codename)),
            }
            continue;
        }
        if op.refund_address.is_none() {
            continue;
        }
        if op.state == State::Closed {
            // Whether the balance is a refill needs a price: wait for one.
            let Some(min) = min else { continue };
            match st.clients.wallet.account_state(op.account_index).await {
                Ok(acct) if acct.unlocked.saturating_add(acct.pending()) >= min => continue,
                Ok(_) => {}
                Err(e) => {
                    out.failed(format!("{}: {e}", op.codename));
                    continue;
                }
            }
        }
        match refund(st, &op).await {
            Ok(Some(amount)) => out.did(format!(
                "{}: refunded {} XMR",
                op.codename,
                format_xmr(amount)
            )),
            Ok(None) => {}
            Err(e) => out.failed(format!("{}: refund failed: {e}", op.codename)),
        }
    }
    Ok(())
}

fn hosting<'a>(
    st: &'a AppState,
    amount: Amount,
    seconds: u64,
    is_final: bool,
    cost: HourlyCost,
    r: &Rates,
) -> Transfer<'a> {
    Transfer {
        kind: PayoutKind::Hosting,
        to: &st.config.payout_address,
        amount,
        seconds,
        advance_billing: true,
        is_final,
        cost: cost.total(),
        price: r.price,
        max: None,
        end: None,
    }
}

#[tracing::instrument(skip_all, fields(op = %op.codename))]
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
    let unrelayed = super::send::unrelayed(st, &op.id).await?;
    let now = st.now();
    if !unrelayed.is_empty() && !unrelayed.iter().any(|p| super::send::is_stuck(p, now)) {
        out.did(format!(
            "{}: waiting for a stored payout to be relayed",
            op.codename
        ));
        return Ok(());
    }
    let acct = st.clients.wallet.account_state(op.account_index).await?;
    let input = PayoutInput {
        now,
        billed_until,
        unlocked: acct.unlocked,
        pending: acct.pending(),
        short_since: op.short_since,
        pending_wait_secs: st.config.pending_wait_secs,
        rates: *r,
    };
    if !unrelayed.is_empty() {
        // A payout that stays unrelayable never keeps a node running on
        // credit: if what is left beside it cannot cover the time since, end.
        let held = unrelayed.iter().fold(0u64, |a, p| {
            a.saturating_add(p.amount).saturating_add(p.fee)
        });
        let beside = PayoutInput {
            unlocked: acct.unlocked.saturating_sub(held),
            ..input
        };
        if let Decision::End {
            amount, forgiven, ..
        } = decide(&beside)
        {
            let due = amount.saturating_add(forgiven);
            let hours = st.config.grace_secs / 3600;
            let msg = format!(
                "Funds ran out while a payout could not be relayed: the node is destroyed; {} XMR of hosting is forgiven. Refill within {hours} h to relaunch.",
                format_xmr(due)
            );
            let op = transition(st, op, State::Ended, EventKind::Ended, msg, |o| {
                o.billed_until = None;
                o.launch_step = None;
                o.short_since = None;
            })
            .await?;
            out.did(format!(
                "{}: ended beside an unrelayable payout",
                op.codename
            ));
            st.failpoint("end:recorded")?;
            return teardown_and_clear(st, out, &op).await;
        }
        out.did(format!(
            "{}: a stored payout stays unrelayable; the node is paid up beside it",
            op.codename
        ));
        return Ok(());
    }
    let decision = decide(&input);
    if out.dry_run {
        out.did(format!("{}: {decision:?}", op.codename));
        return Ok(());
    }
    match decision {
        // The runway counts the change of earlier payouts still locked: it is
        // the operation's money already (a recovery relay left it locked).
        Decision::NotDue => low_funds_check(st, out, op, acct.unlocked_with_change(), r).await,
        Decision::Pay { seconds, amount } => {
            let (op, _) = send(
                st,
                op,
                hosting(st, Amount::Exact(amount), seconds, false, cost, r),
            )
            .await?;
            out.did(format!(
                "{}: paid {} XMR for {seconds} s",
                op.codename,
                format_xmr(amount)
            ));
            low_funds_check(
                st,
                out,
                &op,
                acct.unlocked_with_change()
                    .saturating_sub(amount.saturating_add(r.fee)),
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
        } => end(st, out, op, seconds, amount, forgiven, cost, r).await,
    }
}

/// Bills a cancelled operation for the seconds from billed-until to its
/// cancel, once enough is unlocked; true when it did.
async fn bill_cancelled(
    st: &AppState,
    op: &Operation,
    billed_until: i64,
    cost: HourlyCost,
    r: &Rates,
) -> Result<bool, AppError> {
    if super::send::has_unrelayed(st, &op.id).await? {
        return Ok(false);
    }
    let seconds = u64::try_from(op.state_since - billed_until).unwrap_or(0);
    let due = crate::domain::money::due_pico(seconds, cost.total(), r.price);
    let acct = st.clients.wallet.account_state(op.account_index).await?;
    let how = if acct.unlocked >= due.saturating_add(r.fee) {
        Amount::Exact(due)
    } else if acct.unlocked_with_change() >= due.saturating_add(r.fee) {
        // Still locked: wait for it.
        return Ok(false);
    } else {
        Amount::Sweep
    };
    let msg = "Billed the hosting until the cancel.".to_string();
    let s = Transfer {
        max: Some(due),
        ..hosting(st, how, seconds, true, cost, r)
    };
    send(st, op, s).await?;
    // Billing is over: the refund may take what is left.
    crate::ops::change(st, &op.id, EventKind::Payout, msg, |o, _| {
        o.billed_until = None;
        Ok(())
    })
    .await?;
    Ok(true)
}

/// Ends a node: the final payout and the end are recorded first; the node is
/// destroyed after, so a failure in between never leaves a running operation
/// without its node (nor a node whose end is not recorded).
#[allow(clippy::too_many_arguments)]
async fn end(
    st: &AppState,
    out: &mut Outcome,
    op: &Operation,
    seconds: u64,
    amount: Pico,
    forgiven: Pico,
    cost: HourlyCost,
    r: &Rates,
) -> Result<(), AppError> {
    // Short of what is due: send all that is unlocked, the fee taken from it.
    let how = if forgiven > 0 && amount > 0 {
        Amount::Sweep
    } else {
        Amount::Exact(amount)
    };
    let due = amount.saturating_add(forgiven);
    let hours = st.config.grace_secs / 3600;
    let msg = match how {
        Amount::Sweep => format!(
            "Funds ran out: the node is destroyed after a final payout of all that was left, short of the {} XMR due (the rest is forgiven). Refill within {hours} h to relaunch.",
            format_xmr(due)
        ),
        _ if forgiven > 0 => format!(
            "Funds ran out: the node is destroyed; {} XMR of hosting is forgiven. Refill within {hours} h to relaunch.",
            format_xmr(forgiven)
        ),
        _ => format!(
            "Funds ran out: the node is destroyed after a final payout of {} XMR. Refill within {hours} h to relaunch.",
            format_xmr(amount)
        ),
    };
    // The final payout and the end are one write.
    let op = match send(
        st,
        op,
        Transfer {
            max: Some(due),
            end: Some((State::Ended, EventKind::Ended, &msg)),
            ..hosting(st, how, seconds, true, cost, r)
        },
    )
    .await
    {
        Ok((op, _)) => op,
        // The exact payout cannot be built (its real fee is above the
        // estimate): pay all that is there instead, never nothing.
        Err(AppError::Conflict(e)) if matches!(how, Amount::Exact(a) if a > 0) => {
            out.failed(format!(
                "{}: the final payout could not be built ({e}); sending all that is unlocked instead",
                op.codename
            ));
            let msg = format!(
                "Funds ran out: the node is destroyed after a final payout of all that was left (the network fee was higher than estimated), short of the {} XMR due (the rest is forgiven). Refill within {hours} h to relaunch.",
                format_xmr(due)
            );
            match send(
                st,
                op,
                Transfer {
                    max: Some(due),
                    end: Some((State::Ended, EventKind::Ended, &msg)),
                    ..hosting(st, Amount::Sweep, seconds, true, cost, r)
                },
            )
            .await
            {
                Ok((op, _)) => op,
                Err(AppError::Conflict(e)) => end_unpaid(st, out, op, due, &e).await?,
                Err(e) => return Err(e),
            }
        }
        // Nothing can be paid at all (the fee exceeds what is there): end anyway.
        Err(AppError::Conflict(e)) => end_unpaid(st, out, op, due, &e).await?,
        // The wallet is away: no end decision now; the next pass retries.
        Err(e) => return Err(e),
    };
    out.did(format!("{}: ended", op.codename));
    st.failpoint("end:recorded")?;
    teardown_and_clear(st, out, &op).await
}

/// Ends a node whose final payout cannot pay even the network fee.
async fn end_unpaid(
    st: &AppState,
    out: &mut Outcome,
    op: &Operation,
    due: Pico,
    e: &str,
) -> Result<Operation, AppError> {
    let hours = st.config.grace_secs / 3600;
    out.failed(format!(
        "{}: final payout impossible ({e}); ending without it",
        op.codename
    ));
    let msg = format!(
        "Funds ran out: the node is destroyed; what was left could not pay the network fee, {} XMR forgiven. Refill within {hours} h to relaunch.",
        format_xmr(due)
    );
    transition(st, op, State::Ended, EventKind::Ended, msg, |o| {
        o.billed_until = None;
        o.launch_step = None;
        o.short_since = None;
    })
    .await
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
