//! Relaying stored payouts, and what a pass does with one that was stored
//! but not relayed (a crash, a wallet away, a daemon that refuses it):
//! relay it only if neither the wallet nor the daemon knows it, keep one the
//! daemon proves dead with its reason, tell the operator about one that
//! stays stuck.

use super::Outcome;
use super::send::{Amount, Transfer, send};
use crate::app::AppState;
use crate::clients::WalletError;
use crate::clients::wallet::Fate;
use crate::domain::event::EventKind;
use crate::domain::operation::Operation;
use crate::domain::payout::{Payout, PayoutKind, PayoutStatus};
use crate::error::AppError;

/// Relays a stored payout. When the relay fails, what became of the
/// transaction is asked (`Wallet::fate`): known to the wallet or the daemon
/// is relayed; an input spent by another transaction is dead, kept with its
/// reason; anything else leaves it stored as built for the next pass.
#[tracing::instrument(skip_all, fields(op = %op.codename, tx = %p.tx_hash))]
pub(super) async fn relay(
    st: &AppState,
    op: &Operation,
    mut p: Payout,
) -> Result<Payout, AppError> {
    match st.clients.wallet.relay(&p.tx_metadata).await {
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
            .clients
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

#[tracing::instrument(skip_all, fields(tx = %p.tx_hash))]
async fn recover_one(st: &AppState, out: &mut Outcome, p: Payout) -> Result<(), AppError> {
    let op = crate::ops::get(st, &p.op_id).await?;
    if st
        .clients
        .wallet
        .knows_tx(op.account_index, &p.tx_hash)
        .await?
    {
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
            let s = Transfer {
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

/// How long a stored transaction may stay unrelayable before the operator
/// is told (once per transaction).
pub const STUCK_ALERT_SECS: i64 = 6 * 3600;
const STUCK_ALERTED_KEY: &str = "stuck_alerted";

/// Whether `p` has stayed unrelayed for longer than [`STUCK_ALERT_SECS`].
pub fn is_stuck(p: &Payout, now: i64) -> bool {
    p.status == PayoutStatus::Built && now - p.at >= STUCK_ALERT_SECS
}

/// Tells the operator, once, about a transaction that stays unrelayable.
pub(super) async fn stuck_alert(st: &AppState, op: &Operation, p: &Payout) {
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
        st.clients
            .notifier
            .notify(&crate::clients::Notice {
                op_id: Some(op.id.clone()),
                codename: Some(op.codename.clone()),
                kind: "payout-stuck".into(),
                message,
            })
            .await;
    }
}
