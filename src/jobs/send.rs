//! Moving money out of an operation's account, never twice: a transaction is
//! built without relaying, stored (with billed-until advanced, for hosting) in
//! one write transaction, then relayed. A stored transaction that was not
//! relayed is relayed by the next pass only if the wallet does not know it; one
//! the daemon rejects for good is kept as dead and, for hosting, built anew for
//! the same seconds.

use super::Outcome;
use crate::app::AppState;
use crate::clients::WalletError;
use crate::clients::wallet::Fate;
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

/// Builds, stores, then relays. Returns the operation as stored and the
/// payouts (one per transaction; none when nothing was due). Hosting
/// transactions proven dead are kept as dead and built anew once for the
/// same seconds.
pub async fn send(
    st: &AppState,
    op: &Operation,
    s: Send<'_>,
) -> Result<(Operation, Vec<Payout>), AppError> {
    let (op, mut payouts) = send_once(st, op, s).await?;
    let dead: Vec<&Payout> = payouts
        .iter()
        .filter(|p| matches!(p.status, PayoutStatus::Dead(_)))
        .collect();
    if s.kind == PayoutKind::Hosting && !dead.is_empty() {
        let amount = dead.iter().fold(0u64, |a, p| a.saturating_add(p.amount));
        let seconds = dead.iter().map(|p| p.seconds).sum();
        let (op, again) = send_once(
            st,
            &op,
            Send {
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
        return Ok((op, payouts));
    }
    Ok((op, payouts))
}

/// The transactions that pay `s` from `op`'s account, built, not relayed.
async fn build(
    st: &AppState,
    op: &Operation,
    s: &Send<'_>,
) -> Result<Vec<crate::clients::wallet::BuiltTx>, AppError> {
    let total = |b: &[crate::clients::wallet::BuiltTx]| {
        b.iter().fold(0u64, |a, t| a.saturating_add(t.amount))
    };
    Ok(match s.amount {
        Amount::Exact(0) => Vec::new(),
        Amount::Exact(x) => st.wallet.build_transfer(op.account_index, s.to, x).await?,
        Amount::Sweep => {
            let b = st.wallet.build_sweep(op.account_index, s.to).await?;
            match s.max {
                // More unlocked than due now: the unrelayed sweep is dropped, what is due is sent.
                Some(max) if total(&b) > max => {
                    st.wallet
                        .build_transfer(op.account_index, s.to, max)
                        .await?
                }
                _ => b,
            }
        }
    })
}

async fn send_once(
    st: &AppState,
    op: &Operation,
    s: Send<'_>,
) -> Result<(Operation, Vec<Payout>), AppError> {
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
        st.notifier
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
        if let Err(e) = st.wallet.note_tx(&p.tx_hash, &payout_note(p)).await {
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
        st.notifier
            .notify(&crate::clients::Notice {
                op_id: Some(op.id.clone()),
                codename: Some(op.codename.clone()),
                kind: format!("{:?}", first.kind),
                message,
            })
            .await;
    }
    st.cache.forget_account(op.account_index).await;
    match failed {
        Some(e) => Err(e),
        None => Ok((op, sent)),
    }
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

/// Where the fees of the last payouts are kept (the fee estimate never
/// goes below what payouts really cost).
pub const RECENT_FEES_KEY: &str = "recent_fees";
const RECENT_FEES: usize = 10;

fn remember_fees(tx: &mut crate::store::Tx, payouts: &[Payout]) -> Result<(), AppError> {
    let mut fees: Vec<Pico> = tx.setting(RECENT_FEES_KEY)?.unwrap_or_default();
    fees.extend(payouts.iter().map(|p| p.fee));
    let cut = fees.len().saturating_sub(RECENT_FEES);
    fees.drain(..cut);
    tx.put_setting(RECENT_FEES_KEY, &fees)?;
    Ok(())
}

/// Relays a stored payout. When the relay fails, what became of the
/// transaction is asked (`Wallet::fate`): known to the wallet or the daemon
/// is relayed; an input spent by another transaction is dead, kept with its
/// reason; anything else leaves it stored as built for the next pass.
async fn relay(st: &AppState, op: &Operation, mut p: Payout) -> Result<Payout, AppError> {
    match st.wallet.relay(&p.tx_metadata).await {
        Ok(hash) if hash != p.tx_hash => {
            return Err(AppError::Internal(format!(
                "the wallet relayed {hash} for the stored {}",
                p.tx_hash
            )));
        }
        Ok(_) => p.status = PayoutStatus::Relayed,
        // It never reached the wallet: nothing to ask.
        Err(e @ (WalletError::Unreachable(_) | WalletError::AuthFailed | WalletError::Busy)) => {
            return Err(e.into());
        }
        Err(e) => match st
            .wallet
            .fate(op.account_index, &p.tx_hash, &p.key_images)
            .await
        {
            Ok(Fate::Known) => p.status = PayoutStatus::Relayed,
            Ok(Fate::Dead(why)) => {
                p.status = PayoutStatus::Dead(format!("{why} (the relay said: {e})"))
            }
            Ok(Fate::Unproven(why)) => match e {
                // An explicit rejection from a wallet that can say so (the
                // sandbox) and that does not know the transaction.
                WalletError::Rejected(reason) => p.status = PayoutStatus::Dead(reason),
                e => {
                    return Err(AppError::Unavailable(format!(
                        "the relay of {} failed ({e}) and it is not proven dead: {why}",
                        p.tx_hash
                    )));
                }
            },
            Err(f) => {
                return Err(AppError::Unavailable(format!(
                    "the relay of {} failed ({e}); its fate could not be asked: {f}",
                    p.tx_hash
                )));
            }
        },
    }
    if p.status == PayoutStatus::Relayed {
        st.metrics.payout_sent(match p.kind {
            PayoutKind::Hosting => "hosting",
            PayoutKind::Refund => "refund",
        });
    }
    st.failpoint("send:relayed")?;
    p.tx_metadata.clear();
    p.key_images.clear();
    let stored = p.clone();
    st.store
        .run(move |s| s.write(|tx| tx.put_payout(&stored)).map_err(AppError::from))
        .await?;
    Ok(p)
}

/// Whether an operation has a stored transaction not yet relayed (no new
/// transaction from its account until it is, so none spends its inputs).
pub async fn has_unrelayed(st: &AppState, op_id: &str) -> Result<bool, AppError> {
    Ok(!unrelayed(st, op_id).await?.is_empty())
}

/// An operation's stored transactions not yet relayed.
pub async fn unrelayed(st: &AppState, op_id: &str) -> Result<Vec<Payout>, AppError> {
    let id = op_id.to_string();
    st.store
        .run(move |s| {
            Ok::<_, AppError>(
                s.payouts(&id)?
                    .into_iter()
                    .filter(|p| p.status == PayoutStatus::Built)
                    .collect(),
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
        known.key_images.clear();
        st.store
            .run(move |s| s.write(|tx| tx.put_payout(&known)).map_err(AppError::from))
            .await?;
        out.did(format!(
            "{}: a stored payout was already relayed",
            op.codename
        ));
        return Ok(());
    }
    let relayed = match relay(st, &op, p.clone()).await {
        Ok(r) => r,
        Err(e) => {
            stuck_alert(st, &op, &p).await;
            return Err(e);
        }
    };
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
    // The estimate has a margin: what is above a quarter of it may still pay
    // its own fee; the wallet says when it cannot (then nothing is sent).
    if acct.unlocked <= st.cache.fee() / 4 {
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
        Ok((_, p)) if p.is_empty() => Ok(None),
        Ok((_, p)) => Ok(Some(p.iter().fold(0u64, |a, p| a.saturating_add(p.amount)))),
        Err(AppError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How long a stored transaction may stay unrelayable before the operator
/// is told (once per transaction).
pub const STUCK_ALERT_SECS: i64 = 6 * 3600;
const STUCK_ALERTED_KEY: &str = "stuck_alerted";

/// Whether `p` has stayed unrelayed for longer than [`STUCK_ALERT_SECS`].
pub fn is_stuck(p: &Payout, now: i64) -> bool {
    p.status == PayoutStatus::Built && now - p.at >= STUCK_ALERT_SECS
}

/// Tells the operator, once, about a transaction that stays unrelayable.
async fn stuck_alert(st: &AppState, op: &Operation, p: &Payout) {
    let now = st.now();
    if !is_stuck(p, now) {
        return;
    }
    let (hash, id) = (p.tx_hash.clone(), op.id.clone());
    let message = format!(
        "Payout {} of {} has not been relayed for {} and is not proven dead; the node is not left running on it (an end goes ahead without it). Check monero-wallet-rpc and its daemon.",
        p.tx_hash,
        op.codename,
        crate::clock::duration(u64::try_from(now - p.at).unwrap_or(0))
    );
    let msg = message.clone();
    let first = st
        .store
        .run(move |s| {
            s.write(|tx| {
                let mut told: Vec<String> = tx.setting(STUCK_ALERTED_KEY)?.unwrap_or_default();
                if told.contains(&hash) {
                    return Ok::<_, AppError>(false);
                }
                told.push(hash);
                let cut = told.len().saturating_sub(100);
                told.drain(..cut);
                tx.put_setting(STUCK_ALERTED_KEY, &told)?;
                tx.event(&id, now, EventKind::Problem, msg)?;
                Ok(true)
            })
        })
        .await;
    if let Ok(true) = first {
        tracing::error!("{message}");
        st.notifier
            .notify(&crate::clients::Notice {
                op_id: Some(op.id.clone()),
                codename: Some(op.codename.clone()),
                kind: "payout-stuck".into(),
                message,
            })
            .await;
    }
}
