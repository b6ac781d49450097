//! Moving money out of an operation's account, never twice: a transaction is
//! built without relaying, stored (with billed-until advanced, for hosting) in
//! one write transaction, then relayed. A stored transaction that was not
//! relayed is relayed by the next pass only if the wallet does not know it; one
//! the daemon rejects for good is kept as dead and, for hosting, built anew for
//! the same seconds.

use super::relay::relay;
pub use super::relay::{STUCK_ALERT_SECS, has_unrelayed, is_stuck, recover, unrelayed};
use crate::app::AppState;
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
pub struct Transfer<'a> {
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

/// Builds, stores, then relays. Returns the operation as stored and the
/// payouts (one per transaction; none when nothing was due). Hosting
/// transactions proven dead are kept as dead and built anew once for the
/// same seconds.
#[tracing::instrument(skip_all, fields(op = %op.codename, kind = ?s.kind))]
pub async fn send(
    st: &AppState,
    op: &Operation,
    s: Transfer<'_>,
) -> Result<(Operation, Vec<Payout>), AppError> {
    // A sibling transaction whose relay failed for now does not stop the
    // dead ones from being built anew: their seconds are already billed.
    let (op, mut payouts, failed) = send_once(st, op, s).await?;
    let dead: Vec<&Payout> = payouts
        .iter()
        .filter(|p| matches!(p.status, PayoutStatus::Dead(_)))
        .collect();
    if s.kind == PayoutKind::Hosting && !dead.is_empty() {
        let amount = dead.iter().fold(0u64, |a, p| a.saturating_add(p.amount));
        let seconds = dead.iter().map(|p| p.seconds).sum();
        let (op, again, again_failed) = send_once(
            st,
            &op,
            Transfer {
                amount: Amount::Exact(amount),
                seconds,
                advance_billing: false,
                end: None,
                max: Some(amount),
                ..s
            },
        )
        .await?;
        payouts.extend(again);
        return match failed.or(again_failed) {
            Some(e) => Err(e),
            None => Ok((op, payouts)),
        };
    }
    match failed {
        Some(e) => Err(e),
        None => Ok((op, payouts)),
    }
}

/// The operation as stored, its payouts as relayed (or still built), and
/// the first relay failure, if any.
type Sent = (Operation, Vec<Payout>, Option<AppError>);

/// The transactions that pay `s` from `op`'s account, built, not relayed.
async fn build(
    st: &AppState,
    op: &Operation,
    s: &Transfer<'_>,
) -> Result<Vec<crate::clients::wallet::BuiltTx>, AppError> {
    let total = |b: &[crate::clients::wallet::BuiltTx]| {
        b.iter().fold(0u64, |a, t| a.saturating_add(t.amount))
    };
    Ok(match s.amount {
        Amount::Exact(0) => Vec::new(),
        Amount::Exact(x) => {
            st.clients
                .wallet
                .build_transfer(op.account_index, s.to, x)
                .await?
        }
        Amount::Sweep => {
            let b = st
                .clients
                .wallet
                .build_sweep(op.account_index, s.to)
                .await?;
            match s.max {
                // More unlocked than due now: the unrelayed sweep is dropped, what is due is sent.
                Some(max) if total(&b) > max => {
                    st.clients
                        .wallet
                        .build_transfer(op.account_index, s.to, max)
                        .await?
                }
                _ => b,
            }
        }
    })
}

async fn send_once(st: &AppState, op: &Operation, s: Transfer<'_>) -> Result<Sent, AppError> {
    let built = build(st, op, &s).await?;
    st.failpoint("send:built")?;
    let (id, now) = (op.id.clone(), st.now());
    let end = s
        .end
        .map(|(state, kind, msg)| (state, kind, msg.to_string()));
    let notice = end.clone();
    let to = s.to.to_string();
    let (op, payouts) = st
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
                if built.is_empty() {
                    let msg = format!("Nothing to pay for {}.", crate::clock::duration(s.seconds));
                    tx.event(&id, now, EventKind::Payout, msg)?;
                    if let Some((kind, msg)) = end {
                        tx.event(&id, now, kind, msg)?;
                    }
                    return Ok::<_, AppError>((op, Vec::new()));
                }
                // One payout per transaction; the seconds go with the first.
                let mut payouts = Vec::with_capacity(built.len());
                for (i, b) in built.into_iter().enumerate() {
                    let p = Payout {
                        op_id: id.clone(),
                        seq: tx.next_payout_seq(&id)?,
                        at: now,
                        seconds: if i == 0 { s.seconds } else { 0 },
                        cost_per_hour: s.cost,
                        price: s.price,
                        amount: b.amount,
                        fee: b.fee,
                        tx_hash: b.hash,
                        tx_metadata: b.metadata,
                        status: PayoutStatus::Built,
                        is_final: s.is_final,
                        kind: s.kind,
                        key_images: b.key_images,
                        to: to.clone(),
                    };
                    tx.put_payout(&p)?;
                    payouts.push(p);
                }
                remember_fees(tx, &payouts)?;
                let amount = payouts.iter().fold(0u64, |a, p| a.saturating_add(p.amount));
                let hashes = payouts
                    .iter()
                    .map(|p| p.tx_hash.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                let (kind, msg) = match s.kind {
                    PayoutKind::Hosting => (
                        EventKind::Payout,
                        format!(
                            "Paid {} XMR for {} of hosting (tx {hashes}).",
                            format_xmr(amount),
                            crate::clock::duration(s.seconds),
                        ),
                    ),
                    PayoutKind::Refund => (
                        EventKind::Refund,
                        format!(
                            "Refunded {} XMR to the refund address (tx {hashes}).",
                            format_xmr(amount),
                        ),
                    ),
                };
                tx.event(&id, now, kind, msg)?;
                if let Some((kind, msg)) = end {
                    tx.event(&id, now, kind, msg)?;
                }
                Ok((op, payouts))
            })
        })
        .await?;
    if let Some((_, kind, message)) = notice.filter(|(_, k, _)| k.is_notice()) {
        st.clients
            .notifier
            .notify(&crate::clients::Notice {
                op_id: Some(op.id.clone()),
                codename: Some(op.codename.clone()),
                kind: format!("{kind:?}"),
                message,
            })
            .await;
    }
    // What each transaction pays for, kept in the wallet file too: a database
    // restored from an older backup adopts it exactly (`jobs::accounts`).
    for p in &payouts {
        if let Err(e) = st.clients.wallet.note_tx(&p.tx_hash, &payout_note(p)).await {
            tracing::warn!(tx = %p.tx_hash, "could not note the payout in the wallet: {e}");
        }
    }
    st.failpoint("send:stored")?;
    let mut sent = Vec::with_capacity(payouts.len());
    let mut failed = None;
    for p in payouts {
        // One that fails for now stays stored as built; the next pass
        // relays it. The others still go.
        match relay(st, &op, p.clone()).await {
            Ok(p) => sent.push(p),
            Err(e) => {
                sent.push(p);
                failed.get_or_insert(e);
            }
        }
    }
    let relayed: Vec<&Payout> = sent
        .iter()
        .filter(|p| p.status == PayoutStatus::Relayed)
        .collect();
    if let Some(first) = relayed.first() {
        let amount = relayed.iter().fold(0u64, |a, p| a.saturating_add(p.amount));
        let hashes = relayed
            .iter()
            .map(|p| p.tx_hash.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let message = match first.kind {
            PayoutKind::Hosting => format!(
                "Payout of {} XMR for {} of hosting (tx {hashes}).",
                format_xmr(amount),
                crate::clock::duration(s.seconds),
            ),
            PayoutKind::Refund => {
                format!("Refund of {} XMR sent (tx {hashes}).", format_xmr(amount),)
            }
        };
        st.clients
            .notifier
            .notify(&crate::clients::Notice {
                op_id: Some(op.id.clone()),
                codename: Some(op.codename.clone()),
                kind: format!("{:?}", first.kind),
                message,
            })
            .await;
    }
    st.cache.forget_account(op.account_index).await;
    Ok((op, sent, failed))
}

/// The note a payout's transaction carries in the wallet file.
pub fn payout_note(p: &Payout) -> String {
    format!(
        "nodecannon op={} seq={} seconds={} kind={}",
        p.op_id,
        p.seq,
        p.seconds,
        match p.kind {
            PayoutKind::Hosting => "hosting",
            PayoutKind::Refund => "refund",
        }
    )
}

/// The seconds a payout note says its transaction paid for, if it is one
/// of `op_id`'s.
pub fn note_seconds(note: &str, op_id: &str) -> Option<u64> {
    let mut words = note.split_whitespace();
    if words.next() != Some("nodecannon") {
        return None;
    }
    let mut op = None;
    let mut seconds = None;
    for w in words {
        match w.split_once('=') {
            Some(("op", v)) => op = Some(v),
            Some(("seconds", v)) => seconds = v.parse().ok(),
            _ => {}
        }
    }
    (op == Some(op_id)).then_some(seconds).flatten()
}

/// How many of the last payouts' fees are kept (the fee estimate never
/// goes below what payouts really cost).
const RECENT_FEES: usize = 10;

fn remember_fees(tx: &mut crate::store::Tx, payouts: &[Payout]) -> Result<(), AppError> {
    let mut fees = tx.recent_fees()?;
    fees.extend(payouts.iter().map(|p| p.fee));
    let cut = fees.len().saturating_sub(RECENT_FEES);
    fees.drain(..cut);
    tx.put_recent_fees(&fees)?;
    Ok(())
}

/// Sends what is unlocked (less the fee) to the refund address, if there is
/// one, nothing is waiting to be relayed, and more than the fee is there.
#[tracing::instrument(skip_all, fields(op = %op.codename))]
pub async fn refund(st: &AppState, op: &Operation) -> Result<Option<Pico>, AppError> {
    let Some(addr) = &op.refund_address else {
        return Ok(None);
    };
    if has_unrelayed(st, &op.id).await? {
        return Ok(None);
    }
    let acct = st.clients.wallet.account_state(op.account_index).await?;
    // The estimate has a margin: what is above a quarter of it may still pay
    // its own fee; the wallet says when it cannot (then nothing is sent).
    if acct.unlocked <= st.cache.fee() / 4 {
        return Ok(None);
    }
    let s = Transfer {
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
        Ok((_, p)) if p.is_empty() => Ok(None),
        Ok((_, p)) => Ok(Some(p.iter().fold(0u64, |a, p| a.saturating_add(p.amount)))),
        Err(AppError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}
