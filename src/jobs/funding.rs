//! Whether an operation waiting for money has enough: marks it funded,
//! expired (nothing came in time) or revived by a refill, with its event.

use super::Outcome;
use crate::app::AppState;
use crate::domain::event::EventKind;
use crate::domain::money::{Pico, format_xmr};
use crate::domain::operation::Operation;
use crate::domain::state::State;
use crate::error::AppError;
use crate::ops::{change, transition};

pub(super) async fn check_funding(
    st: &AppState,
    out: &mut Outcome,
    op: &Operation,
    min: Pico,
) -> Result<(), AppError> {
    let acct = st.clients.wallet.account_state(op.account_index).await?;
    st.cache
        .put_account(op.account_index, acct.clone(), st.now())
        .await;
    let now = st.now();
    let seen = acct.deposits() > 0;
    let enough = acct.unlocked >= min;
    let what = format!(
        "{} XMR unlocked of {} needed",
        format_xmr(acct.unlocked),
        format_xmr(min)
    );
    if out.dry_run {
        out.did(format!("{}: {} ({what})", op.codename, op.state));
        return Ok(());
    }
    let mut op = op.clone();
    if seen && !op.funds_seen {
        let msg = format!(
            "Payment seen: {} XMR (unlocks after 10 confirmations).",
            format_xmr(acct.deposits())
        );
        op = change(st, &op.id, EventKind::FundsSeen, msg, |o, _| {
            o.funds_seen = true;
            Ok(())
        })
        .await?;
        out.did(format!("{}: payment seen", op.codename));
    }
    match op.state {
        State::AwaitingFunds if enough => {
            transition(
                st,
                &op,
                State::Funded,
                EventKind::Funded,
                format!("Funded: {what}."),
                |_| {},
            )
            .await?;
            out.did(format!("{}: funded", op.codename));
        }
        State::AwaitingFunds
            if !seen && now - op.created_at >= st.config.unfunded_expire_secs as i64 =>
        {
            let msg =
                "Expired: no payment arrived in time. A payment to the same address revives it.";
            transition(st, &op, State::Expired, EventKind::Expired, msg, |_| {}).await?;
            out.did(format!("{}: expired", op.codename));
        }
        State::Expired if seen => {
            let to = if enough {
                State::Funded
            } else {
                State::AwaitingFunds
            };
            transition(
                st,
                &op,
                to,
                EventKind::Revived,
                format!("Revived by a payment: {what}."),
                |_| {},
            )
            .await?;
            out.did(format!("{}: revived ({to})", op.codename));
        }
        State::Ended | State::Closed if enough => {
            transition(
                st,
                &op,
                State::Funded,
                EventKind::Funded,
                format!("Refilled: {what}; relaunching."),
                |o| {
                    o.resources = Default::default();
                    o.launch_step = None;
                    o.billed_until = None;
                },
            )
            .await?;
            out.did(format!("{}: refilled, relaunch queued", op.codename));
        }
        _ => {}
    }
    Ok(())
}
