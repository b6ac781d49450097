//! The wallet's accounts against the store's record of them: `wallet repair`
//! re-creates the accounts a wallet restored from its seed lacks (monero
//! derives an account's address from the seed and its index, so creating
//! indexes in order gives back the same addresses), verifying each one, and
//! refuses on the first address that differs (then it is another wallet).

use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::error::AppError;

/// What `wallet repair` did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repair {
    /// The highest account index the store knows.
    pub highest: u32,
    /// How many accounts the wallet held before.
    pub held_before: usize,
    /// Accounts re-created, each verified against the store's address.
    pub created: Vec<u32>,
    /// The wallet check after the repair: `None` when the wallet is whole.
    pub still_wrong: Option<String>,
}

impl Repair {
    /// As `wallet repair` prints it.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "the store knows accounts up to {}; the wallet held {} account(s)\n",
            self.highest, self.held_before
        );
        if self.created.is_empty() {
            s.push_str("nothing to re-create\n");
        } else {
            s.push_str(&format!(
                "re-created and verified {} account(s): {}\n",
                self.created.len(),
                self.created
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        match &self.still_wrong {
            None => s.push_str(
                "the wallet holds every account the store knows: openings and money jobs may run\n",
            ),
            Some(why) => s.push_str(&format!("STILL WRONG: {why}\n")),
        }
        s
    }
}

/// The address the store knows for each index, and the operation that
/// owns it: every recorded account and every operation's (an operation
/// stored before accounts were recorded). One read of the store.
async fn known(
    st: &AppState,
) -> Result<std::collections::BTreeMap<u32, (String, Option<String>)>, AppError> {
    st.store
        .run(|s| {
            let mut m = std::collections::BTreeMap::new();
            for a in s.accounts()? {
                m.insert(a.index, (a.address, a.op_id));
            }
            s.each_operation(|o| {
                m.entry(o.account_index)
                    .or_insert_with(|| (o.address.clone(), Some(o.id.clone())));
            })?;
            Ok::<_, AppError>(m)
        })
        .await
}

/// Re-creates missing accounts up to the highest index the store knows.
/// Refuses, creating nothing, when an account the wallet holds has another
/// address than the store's; stops at the first created one that differs.
pub async fn repair(st: &AppState) -> Result<Repair, AppError> {
    let known = known(st).await?;
    let held = st.clients.wallet.accounts().await?;
    let highest = known.keys().next_back().copied().unwrap_or(0);
    let mut out = Repair {
        highest,
        held_before: held.len(),
        ..Default::default()
    };
    for a in &held {
        if let Some((addr, _)) = known.get(&a.index)
            && *addr != a.address
        {
            return Err(AppError::Conflict(format!(
                "wallet account {} has address {}, the store knows {addr}: this is not the wallet the store was written with; nothing was changed",
                a.index, a.address
            )));
        }
    }
    let mut next = held.iter().map(|a| a.index + 1).max().unwrap_or(0);
    while next <= highest {
        let label = known
            .get(&next)
            .and_then(|(_, owner)| owner.clone())
            .unwrap_or_else(|| "nodecannon-unused".into());
        let a = st.clients.wallet.create_account(&label).await?;
        if a.index != next {
            return Err(AppError::Conflict(format!(
                "the wallet created account {} where {next} was expected; stopped after re-creating {:?}",
                a.index, out.created
            )));
        }
        if let Some((addr, _)) = known.get(&next)
            && *addr != a.address
        {
            return Err(AppError::Conflict(format!(
                "re-created account {next} has address {}, the store knows {addr}: this is not the wallet the store was written with; stopped after re-creating {:?}",
                a.address, out.created
            )));
        }
        out.created.push(next);
        next += 1;
    }
    out.still_wrong = crate::jobs::accounts::check_wallet(st).await.err();
    Ok(out)
}

/// Before any money moves after a start (and so after `restore`): every
/// transaction that left a running operation's account to `PAYOUT_ADDRESS`
/// but that no stored payout records (a database restored from an older
/// backup) is adopted as a relayed payout, and billed-until moves to its
/// time, so those hours are never billed twice. Transactions to any other
/// address are left to the audit, which names them. Returns what it did.
pub async fn adopt_unrecorded_payouts(st: &AppState) -> Result<Vec<String>, AppError> {
    use crate::domain::event::EventKind;
    use crate::domain::money::format_xmr;
    use crate::domain::payout::{Payout, PayoutKind, PayoutStatus};
    use crate::domain::state::State;

    let running =
        crate::ops::ops_in(st, &[State::Launching, State::Active, State::LowFunds]).await?;
    let mut did = Vec::new();
    for op in running {
        let out = st.clients.wallet.outgoing(op.account_index).await?;
        let id = op.id.clone();
        let stored: std::collections::HashSet<String> = st
            .store
            .run(move |s| Ok::<_, AppError>(s.payouts(&id)?))
            .await?
            .into_iter()
            .map(|p| p.tx_hash)
            .collect();
        let payout_address = st.config.payout_address.clone();
        let adopt: Vec<_> = out
            .into_iter()
            .filter(|t| !stored.contains(&t.txid))
            .filter(|t| {
                !t.destinations.is_empty()
                    && t.destinations.iter().all(|(a, _)| *a == payout_address)
            })
            .collect();
        if adopt.is_empty() {
            continue;
        }
        let hashes: Vec<String> = adopt.iter().map(|t| t.txid.clone()).collect();
        let notes = st
            .clients
            .wallet
            .tx_notes(&hashes)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!("could not read the wallet's payout notes: {e}");
                vec![String::new(); hashes.len()]
            });
        let (id, now) = (op.id.clone(), st.now());
        let lines = st
            .store
            .run(move |s| {
                s.write(|tx| {
                    let mut op = tx.op(&id)?;
                    let mut lines = Vec::new();
                    for (t, note) in adopt.iter().zip(&notes) {
                        let seconds = super::send::note_seconds(note, &id);
                        let p = Payout {
                            op_id: id.clone(),
                            seq: tx.next_payout_seq(&id)?,
                            at: t.at,
                            seconds: seconds.unwrap_or(0),
                            cost_per_hour: 0,
                            price: 0,
                            amount: t.amount,
                            fee: t.fee,
                            tx_hash: t.txid.clone(),
                            tx_metadata: String::new(),
                            status: PayoutStatus::Relayed,
                            is_final: false,
                            kind: PayoutKind::Hosting,
                            key_images: Vec::new(),
                            to: payout_address.clone(),
                        };
                        tx.put_payout(&p)?;
                        match seconds {
                            // The note says what it paid for: billed-until moves
                            // exactly as it did when the payout was made.
                            Some(s) => {
                                op.billed_until = op
                                    .billed_until
                                    .map(|b| b.saturating_add(i64::try_from(s).unwrap_or(0)));
                            }
                            // No note (made elsewhere, or the wallet was restored
                            // from its seed): a payout bills up to the moment it
                            // is made, so what it paid for ends by its time.
                            None => {
                                let t_at = if t.at > 0 { t.at.min(now) } else { now };
                                if op.billed_until.is_some_and(|b| b < t_at) {
                                    op.billed_until = Some(t_at);
                                }
                            }
                        }
                        let msg = format!(
                            "Adopted payout {} of {} XMR that the wallet sent but the database did not record (it was restored from an older backup); billing resumes from its time, so no hour is billed twice.",
                            t.txid,
                            format_xmr(t.amount)
                        );
                        tx.event(&id, now, EventKind::Payout, msg.clone())?;
                        lines.push(format!("{}: {msg}", op.codename));
                    }
                    tx.put_op(&op)?;
                    Ok::<_, AppError>(lines)
                })
            })
            .await?;
        for l in &lines {
            tracing::warn!("{l}");
        }
        did.extend(lines);
    }
    Ok(did)
}

/// Checks that the wallet has every account the store knows, at the
/// stored address. On a mismatch, jobs that move money are refused and
/// `/status` says why; the log too.
pub async fn check_wallet(st: &AppState) -> Result<(), String> {
    let _one = st.guards.wallet_check.lock().await;
    let accounts = st
        .clients
        .wallet
        .accounts()
        .await
        .map_err(|e| format!("cannot list the wallet's accounts: {e}"));
    let verdict = match accounts {
        Err(e) => Err(e),
        Ok(accounts) => {
            // Every stored operation's account must be in the wallet with
            // its address (one pass over the store, nothing kept but names).
            let held: std::collections::HashMap<u32, String> =
                accounts.into_iter().map(|a| (a.index, a.address)).collect();
            // Off the async workers: it reads every operation.
            let read = st
                .store
                .run(move |s| {
                    let mut bad = Vec::new();
                    s.each_operation(|o| {
                        if held.get(&o.account_index) != Some(&o.address) {
                            bad.push(format!("{} (account {})", o.codename, o.account_index));
                        }
                    })?;
                    // Accounts made for openings that were then refused.
                    for a in s.accounts()?.into_iter().filter(|a| a.op_id.is_none()) {
                        if held.get(&a.index) != Some(&a.address) {
                            bad.push(format!("unused account {}", a.index));
                        }
                    }
                    Ok::<_, crate::store::StoreError>(bad)
                })
                .await;
            match read {
                Err(e) => Err(e.to_string()),
                Ok(bad) if bad.is_empty() => Ok(()),
                Ok(bad) => Err(format!(
                    "the wallet does not hold the accounts the store knows for {}: a wallet restored from its seed needs `nodecannon wallet repair`; otherwise this is the wrong wallet file. Openings and jobs that move money are stopped.",
                    bad.join(", ")
                )),
            }
        }
    };
    // An unreachable wallet is not a mismatch: money jobs fail on their own then.
    let block = match &verdict {
        Err(m) if !m.starts_with("cannot list") => Some(m.clone()),
        _ => None,
    };
    if let Some(m) = &block {
        tracing::error!("{m}");
    }
    if let Ok(mut b) = st.guards.money_block.write() {
        *b = block;
    }
    verdict
}
