//! Moving money out of an operation's account, never twice: a transaction is
//! built without relaying, stored (with billed-until advanced, for hosting) in
//! one write transaction, then relayed. A stored transaction that was not
//! relayed is relayed by the next pass only if the wallet does not know it; one
//! the daemon rejects for good is kept as dead and, for hosting, built anew for
//! the same seconds.

use super::Outcome;
use crate::app::AppState;
use crate::clients::WalletError;
use crate::domain::event::EventKind;
use crate::domain::money::{Micro, Pico, format_xmr};
use crate::domain::operation::Operation;
use crate::domain::payout::{Payout, PayoutKind, PayoutStatus};
use crate::domain::state::State;
use crate::error::AppError;

/// How much to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amount {
    /// Exactly this, the fee on top (0: nothing to send).
    Exact(Pico),
    /// All unlocked money, the fee taken from it.
    Sweep,
}

/// One outgoing transfer.
#[derive(Debug, Clone, Copy)]
pub struct Send<'a> {
    pub kind: PayoutKind,
    pub to: &'a str,
    pub amount: Amount,
    /// Hosting seconds paid for.
    pub seconds: u64,
    /// Advance billed-until by `seconds` in the same transaction.
    pub advance_billing: bool,
    pub is_final: bool,
    pub cost: Micro,
    pub price: Micro,
    /// Never more than this (a sweep must not take a refill that arrived meanwhile).
    pub max: Option<Pico>,
    /// The end this final payout belongs to (state, event, message), recorded
    /// in the same write as the payout: a crash can never leave a final
    /// payout stored with the node still counted as running.
    pub end: Option<(State, EventKind, &'a str)>,
}

/// Builds, stores, then relays. Returns the operation as stored and the payout,
/// if any. A hosting payout the daemon rejects for good is kept as dead and
/// built anew once for the same seconds.
pub async fn send(
    st: &AppState,
    op: &Operation,
    s: Send<'_>,
) -> Result<(Operation, Option<Payout>), AppError> {
    let (op, payout) = send_once(st, op, s).await?;
    match &payout {
        // Rejected for good: build a new one for the same seconds, once.
        Some(p) if s.kind == PayoutKind::Hosting && matches!(p.status, PayoutStatus::Dead(_)) => {
            send_once(
                st,
                &op,
                Send {
                    advance_billing: false,
                    end: None,
                    ..s
                },
            )
            .await
        }
        _ => Ok((op, payout)),
    }
}

async fn send_once(
    st: &AppState,
    op: &Operation,
    s: Send<'_>,
) -> Result<(Operation, Option<Payout>), AppError> {
    let built = match s.amount {
        Amount::Exact(0) => None,
        Amount::Exact(x) => Some(st.wallet.build_transfer(op.account_index, s.to, x).await?),
        Amount::Sweep => {
            let b = st.wallet.build_sweep(op.account_index, s.to).await?;
            match s.max {
                // More unlocked than due now: the unrelayed sweep is dropped, what is due is sent.
                Some(max) if b.amount > max => Some(
                    st.wallet
                        .build_transfer(op.account_index, s.to, max)
                        .await?,
                ),
                _ => Some(b),
            }
        }
    };
    st.failpoint("send:built")?;
    let (id, now) = (op.id.clone(), st.now());
    let end = s
        .end
        .map(|(state, kind, msg)| (state, kind, msg.to_string()));
    let notice = end.clone();
    let (op, payout) = st
        .store
        .run(move |store| {
            store.write(|tx| {
                let mut op = tx.op(&id)?;
                if s.advance_billing {
                    op.billed_until = op.billed_until.map(|t| t.saturating_add(s.seconds as i64));
                    op.short_since = None;
                }
                // The end, in this same write (its event follows the payout's).
                let end = match end {
                    Some((state, kind, msg)) => {
                        op.go(state, now)
                            .map_err(|e| AppError::Conflict(e.to_string()))?;
                        op.billed_until = None;
                        op.launch_step = None;
                        op.short_since = None;
                        Some((kind, msg))
                    }
                    None => None,
                };
                tx.put_op(&op)?;
                let Some(b) = built else {
                    let msg = format!("Nothing to pay for {}.", crate::clock::duration(s.seconds));
                    tx.event(&id, now, EventKind::Payout, msg)?;
                    if let Some((kind, msg)) = end {
                        tx.event(&id, now, kind, msg)?;
                    }
                    return Ok::<_, AppError>((op, None));
                };
                let p = Payout {
                    op_id: id.clone(),
                    seq: tx.next_payout_seq(&id)?,
                    at: now,
                    seconds: s.seconds,
                    cost_per_hour: s.cost,
                    price: s.price,
                    amount: b.amount,
                    fee: b.fee,
                    tx_hash: b.hash,
                    tx_metadata: b.metadata,
                    status: PayoutStatus::Built,
                    is_final: s.is_final,
                    kind: s.kind,
                };
                tx.put_payout(&p)?;
                let (kind, msg) = match s.kind {
                    PayoutKind::Hosting => (
                        EventKind::Payout,
                        format!(
                            "Paid {} XMR for {} of hosting (tx {}).",
                            format_xmr(p.amount),
                            crate::clock::duration(s.seconds),
                            p.tx_hash
                        ),
                    ),
                    PayoutKind::Refund => (
                        EventKind::Refund,
                        format!(
                            "Refunded {} XMR to the refund address (tx {}).",
                            format_xmr(p.amount),
                            p.tx_hash
                        ),
                    ),
                };
                tx.event(&id, now, kind, msg)?;
                if let Some((kind, msg)) = end {
                    tx.event(&id, now, kind, msg)?;
                }
                Ok((op, Some(p)))
            })
        })
        .await?;
    if let Some((_, kind, message)) = notice.filter(|(_, k, _)| k.is_notice()) {
        st.notifier
            .notify(&crate::clients::Notice {
                op_id: Some(op.id.clone()),
                codename: Some(op.codename.clone()),
                kind: format!("{kind:?}"),
                message,
            })
            .await;
    }
    st.failpoint("send:stored")?;
    let payout = match payout {
        Some(p) => Some(relay(st, p).await?),
        None => None,
    };
    if let Some(p) = payout
        .as_ref()
        .filter(|p| p.status == PayoutStatus::Relayed)
    {
        let message = match p.kind {
            PayoutKind::Hosting => format!(
                "Payout of {} XMR for {} of hosting (tx {}).",
                format_xmr(p.amount),
                crate::clock::duration(p.seconds),
                p.tx_hash
            ),
            PayoutKind::Refund => format!(
                "Refund of {} XMR sent (tx {}).",
                format_xmr(p.amount),
                p.tx_hash
            ),
        };
        st.notifier
            .notify(&crate::clients::Notice {
                op_id: Some(op.id.clone()),
                codename: Some(op.codename.clone()),
                kind: format!("{:?}", p.kind),
                message,
            })
            .await;
    }
    st.cache.forget_account(op.account_index).await;
    Ok((op, payout))
}

/// Relays a stored payout; a relay that fails for now leaves it stored as built.
async fn relay(st: &AppState, mut p: Payout) -> Result<Payout, AppError> {
    match st.wallet.relay(&p.tx_metadata).await {
        Ok(hash) if hash != p.tx_hash => {
            return Err(AppError::Internal(format!(
                "the wallet relayed {hash} for the stored {}",
                p.tx_hash
            )));
        }
        Ok(_) => {
            p.status = PayoutStatus::Relayed;
            st.metrics.payout_sent(match p.kind {
                PayoutKind::Hosting => "hosting",
                PayoutKind::Refund => "refund",
            });
        }
        Err(WalletError::Rejected(reason)) => p.status = PayoutStatus::Dead(reason),
        Err(e) => return Err(e.into()),
    }
    st.failpoint("send:relayed")?;
    p.tx_metadata.clear();
    let stored = p.clone();
    st.store
        .run(move |s| s.write(|tx| tx.put_payout(&stored)).map_err(AppError::from))
        .await?;
    Ok(p)
}

/// Whether an operation has a stored transaction not yet relayed (no new
/// transaction from its account until it is, so none spends its inputs).
pub async fn has_unrelayed(st: &AppState, op_id: &str) -> Result<bool, AppError> {
    let id = op_id.to_string();
    st.store
        .run(move |s| {
            Ok::<_, AppError>(
                s.payouts(&id)?
                    .iter()
                    .any(|p| p.status == PayoutStatus::Built),
            )
        })
        .await
}

/// Relays stored transactions that were built but not relayed (a crash or a
/// failure in between). One failing does not stop the others.
pub async fn recover(st: &AppState, out: &mut Outcome) -> Result<(), AppError> {
    let pending = st
        .store
        .run(|s| s.payouts_built().map_err(AppError::from))
        .await?;
    for p in pending {
        if out.dry_run {
            out.did(format!("would recover payout {}", p.tx_hash));
            continue;
        }
        if let Err(e) = recover_one(st, out, p.clone()).await {
            out.failed(format!(
                "payout {} of {} still not relayed: {e}",
                p.tx_hash, p.op_id
            ));
        }
    }
    Ok(())
}

async fn recover_one(st: &AppState, out: &mut Outcome, p: Payout) -> Result<(), AppError> {
    let op = crate::ops::get(st, &p.op_id).await?;
    if st.wallet.knows_tx(op.account_index, &p.tx_hash).await? {
        let mut known = p;
        known.status = PayoutStatus::Relayed;
        known.tx_metadata.clear();
        st.store
            .run(move |s| s.write(|tx| tx.put_payout(&known)).map_err(AppError::from))
            .await?;
        out.did(format!(
            "{}: a stored payout was already relayed",
            op.codename
        ));
        return Ok(());
    }
    let relayed = relay(st, p.clone()).await?;
    if let PayoutStatus::Dead(reason) = &relayed.status {
        out.did(format!(
            "{}: payout {} is dead ({reason})",
            op.codename, p.tx_hash
        ));
        if p.kind == PayoutKind::Hosting {
            let s = Send {
                kind: p.kind,
                to: &st.config.payout_address,
                amount: Amount::Exact(p.amount),
                seconds: p.seconds,
                advance_billing: false,
                is_final: p.is_final,
                cost: p.cost_per_hour,
                price: p.price,
                max: Some(p.amount),
                end: None,
            };
            send(st, &op, s).await?;
            out.did(format!(
                "{}: built a new payout for the same {} s",
                op.codename, p.seconds
            ));
        }
    } else {
        out.did(format!("{}: relayed a stored payout", op.codename));
    }
    Ok(())
}

/// Sends what is unlocked (less the fee) to the refund address, if there is
/// one, nothing is waiting to be relayed, and more than the fee is there.
pub async fn refund(st: &AppState, op: &Operation) -> Result<Option<Pico>, AppError> {
    let Some(addr) = &op.refund_address else {
        return Ok(None);
    };
    if has_unrelayed(st, &op.id).await? {
        return Ok(None);
    }
    let acct = st.wallet.account_state(op.account_index).await?;
    if acct.unlocked <= st.cache.fee() {
        return Ok(None);
    }
    let s = Send {
        kind: PayoutKind::Refund,
        to: addr,
        amount: Amount::Sweep,
        seconds: 0,
        advance_billing: false,
        is_final: false,
        cost: 0,
        price: 0,
        max: None,
        end: None,
    };
    match send(st, op, s).await {
        Ok((_, p)) => Ok(p.map(|p| p.amount)),
        Err(AppError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
