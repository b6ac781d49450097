//! A simulated monero-wallet-rpc: accounts, incoming transfers that move from
//! the pool to locked to unlocked as (simulated) blocks pass, and payouts built
//! before they are relayed.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{BLOCK_SECS, Ctx, FEE, POOL_SECS, UNLOCK_BLOCKS, random_hash};
use crate::clients::wallet::{
    Account, AccountState, BuiltTx, Fate, OutTransfer, Transfer, TransferStatus, Wallet,
    WalletError,
};
use crate::domain::Timestamp;
use crate::domain::money::Pico;
use crate::store::{Store, StoreError};

/// The simulated wallet.
pub struct SandboxWallet(pub(super) Ctx, pub(super) std::sync::atomic::AtomicU8);

/// How simulated relays fail (tests and demos of recovery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RelayFailure {
    /// Relays work.
    None = 0,
    /// The wallet does not answer relays.
    Unreachable = 1,
    /// The daemon rejects every relayed transaction for good.
    Rejected = 2,
    /// The daemon rejects the next relayed transaction for good, then relays work.
    RejectOnce = 3,
}

/// A transfer into a sandbox account, as stored (also written by `dev seed`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SbIn {
    pub(crate) txid: String,
    pub(crate) amount: Pico,
    pub(crate) at: Timestamp,
}

/// A transfer out of a sandbox account, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SbOut {
    pub(crate) txid: String,
    pub(crate) to: String,
    pub(crate) amount: Pico,
    pub(crate) fee: Pico,
    pub(crate) at: Timestamp,
}

/// A sandbox account, as stored under [`acct_key`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SbAccount {
    pub(crate) index: u32,
    pub(crate) label: String,
    pub(crate) address: String,
    pub(crate) incoming: Vec<SbIn>,
    pub(crate) outgoing: Vec<SbOut>,
}

/// Where an account is stored in the sandbox table.
pub(crate) fn acct_key(index: u32) -> String {
    format!("wallet/acct/{index:08}")
}

fn storage(e: StoreError) -> WalletError {
    WalletError::Unreachable(format!("sandbox wallet storage: {e}"))
}

fn load(store: &Store, index: u32) -> Result<SbAccount, WalletError> {
    if index == 0 {
        // The main account, as in a real wallet: the appliance's own, empty.
        let main = SbAccount {
            index: 0,
            label: "main".into(),
            address: "SANDBOX0000xmain".into(),
            incoming: vec![],
            outgoing: vec![],
        };
        return Ok(main);
    }
    store
        .sandbox_get::<SbAccount>(&acct_key(index))
        .map_err(storage)?
        .ok_or(WalletError::Rpc {
            code: -2,
            message: format!("account index {index} is out of bound"),
        })
}

fn state_of(a: &SbAccount, now: Timestamp) -> AccountState {
    let out: Pico = a.outgoing.iter().map(|o| o.amount + o.fee).sum();
    let transfers: Vec<Transfer> = a
        .incoming
        .iter()
        .map(|t| {
            let age = now - t.at;
            let confirmations = if age < POOL_SECS {
                0
            } else {
                ((age - POOL_SECS) / BLOCK_SECS + 1) as u64
            };
            let status = match confirmations {
                0 => TransferStatus::Pool,
                c if c < UNLOCK_BLOCKS as u64 => TransferStatus::Locked,
                _ => TransferStatus::Unlocked,
            };
            Transfer {
                txid: t.txid.clone(),
                amount: t.amount,
                seen_at: t.at,
                confirmations,
                blocks_to_unlock: (UNLOCK_BLOCKS as u64).saturating_sub(confirmations),
                status,
            }
        })
        .collect();
    let total: Pico = transfers
        .iter()
        .filter(|t| t.status != TransferStatus::Pool)
        .map(|t| t.amount)
        .sum();
    let unlocked: Pico = transfers
        .iter()
        .filter(|t| t.status == TransferStatus::Unlocked)
        .map(|t| t.amount)
        .sum();
    AccountState {
        balance: total.saturating_sub(out),
        unlocked: unlocked.saturating_sub(out),
        transfers,
    }
}

impl SandboxWallet {
    /// Makes relays fail (or work again).
    pub fn set_relay_failure(&self, f: RelayFailure) {
        self.1.store(f as u8, std::sync::atomic::Ordering::SeqCst);
    }

    /// Simulates a visitor's payment arriving (in the pool) at an account.
    pub async fn simulate_payment(&self, index: u32, amount: Pico) -> Result<String, WalletError> {
        let now = self.0.clock.now();
        self.0
            .run(WalletError::Unreachable, move |s| {
                s.write(|tx| {
                    let mut a: SbAccount = tx
                        .sandbox_get(&acct_key(index))?
                        .ok_or(StoreError::NotFound(index.to_string()))?;
                    let txid = random_hash();
                    a.incoming.push(SbIn {
                        txid: txid.clone(),
                        amount,
                        at: now,
                    });
                    tx.sandbox_put(&acct_key(index), &a)?;
                    Ok::<_, StoreError>(txid)
                })
                .map_err(storage)
            })
            .await
    }

    async fn build(
        &self,
        from: u32,
        address: &str,
        amount: Option<Pico>,
    ) -> Result<BuiltTx, WalletError> {
        self.0.metrics.client_call("wallet");
        if address.trim().is_empty() || address.contains(char::is_whitespace) {
            return Err(WalletError::InvalidAddress(address.to_string()));
        }
        let now = self.0.clock.now();
        let address = address.to_string();
        self.0
            .run(WalletError::Unreachable, move |s| {
                let a = load(s, from)?;
                let st = state_of(&a, now);
                let amount = match amount {
                    Some(x) => x,
                    None => st
                        .unlocked
                        .checked_sub(FEE)
                        .filter(|x| *x > 0)
                        .ok_or(WalletError::NotEnoughUnlocked)?,
                };
                if st.balance < amount + FEE {
                    return Err(WalletError::NotEnoughMoney);
                }
                if st.unlocked < amount + FEE {
                    return Err(WalletError::NotEnoughUnlocked);
                }
                let hash = random_hash();
                let built = SbOut {
                    txid: hash.clone(),
                    to: address,
                    amount,
                    fee: FEE,
                    at: now,
                };
                s.write(|tx| tx.sandbox_put(&format!("wallet/built/{hash}"), &(from, built)))
                    .map_err(storage)?;
                Ok(BuiltTx {
                    metadata: format!("sandbox:{hash}"),
                    hash,
                    amount,
                    fee: FEE,
                    key_images: Vec::new(),
                })
            })
            .await
    }
}

#[async_trait]
impl Wallet for SandboxWallet {
    async fn create_account(&self, label: &str) -> Result<Account, WalletError> {
        self.0.metrics.client_call("wallet");
        let label = label.to_string();
        self.0
            .run(WalletError::Unreachable, move |s| {
                s.write(|tx| {
                    let index: u32 = tx.sandbox_get("wallet/next")?.unwrap_or(1);
                    let address = format!("SANDBOX{index:04}x{}", &random_hash()[..40]);
                    let a = SbAccount {
                        index,
                        label: label.clone(),
                        address: address.clone(),
                        incoming: vec![],
                        outgoing: vec![],
                    };
                    tx.sandbox_put(&acct_key(index), &a)?;
                    tx.sandbox_put("wallet/next", &(index + 1))?;
                    Ok::<_, StoreError>(Account {
                        index,
                        address,
                        label,
                    })
                })
                .map_err(storage)
            })
            .await
    }

    async fn accounts(&self) -> Result<Vec<Account>, WalletError> {
        self.0.metrics.client_call("wallet");
        self.0
            .run(WalletError::Unreachable, |s| {
                s.sandbox_scan_map("wallet/acct/", |a: SbAccount| {
                    Ok(Account {
                        index: a.index,
                        address: a.address,
                        label: a.label,
                    })
                })
                .map_err(storage)
            })
            .await
    }

    async fn account_state(&self, index: u32) -> Result<AccountState, WalletError> {
        self.0.metrics.client_call("wallet");
        let now = self.0.clock.now();
        self.0
            .run(WalletError::Unreachable, move |s| {
                Ok(state_of(&load(s, index)?, now))
            })
            .await
    }

    async fn fee_estimate(&self) -> Result<Pico, WalletError> {
        self.0.metrics.client_call("wallet");
        Ok(FEE)
    }

    fn fee_basis(&self) -> &'static str {
        "the sandbox's fixed simulated fee"
    }

    async fn build_transfer(
        &self,
        from: u32,
        address: &str,
        amount: Pico,
    ) -> Result<Vec<BuiltTx>, WalletError> {
        Ok(vec![self.build(from, address, Some(amount)).await?])
    }

    async fn build_sweep(&self, from: u32, address: &str) -> Result<Vec<BuiltTx>, WalletError> {
        Ok(vec![self.build(from, address, None).await?])
    }

    async fn fate(&self, from: u32, tx: &str, _: &[String]) -> Result<Fate, WalletError> {
        Ok(match self.knows_tx(from, tx).await? {
            true => Fate::Known,
            // The sandbox's relay says "rejected" itself when its inputs are gone.
            false => Fate::Unproven("the sandbox has no daemon to ask".into()),
        })
    }

    async fn relay(&self, metadata: &str) -> Result<String, WalletError> {
        self.0.metrics.client_call("wallet");
        match self.1.load(std::sync::atomic::Ordering::SeqCst) {
            1 => return Err(WalletError::Unreachable("simulated outage".into())),
            2 => return Err(WalletError::Rejected("double spend (simulated)".into())),
            3 => {
                self.set_relay_failure(RelayFailure::None);
                return Err(WalletError::Rejected("double spend (simulated)".into()));
            }
            _ => {}
        }
        let now = self.0.clock.now();
        let hash = metadata
            .strip_prefix("sandbox:")
            .ok_or(WalletError::Rpc {
                code: -1,
                message: "Failed to parse tx metadata".into(),
            })?
            .to_string();
        self.0
            .run(WalletError::Unreachable, move |s| {
                s.write(|tx| {
                    let key = format!("wallet/built/{hash}");
                    let Some((from, out)) = tx.sandbox_get::<(u32, SbOut)>(&key)? else {
                        return Ok(Err(WalletError::Rpc {
                            code: -1,
                            message: "Failed to parse tx metadata".into(),
                        }));
                    };
                    let mut a: SbAccount = tx
                        .sandbox_get(&acct_key(from))?
                        .ok_or(StoreError::NotFound(from.to_string()))?;
                    if !a.outgoing.iter().any(|o| o.txid == hash) {
                        // Its inputs are gone when the account no longer holds them.
                        let st = state_of(&a, now);
                        if st.unlocked < out.amount.saturating_add(out.fee) {
                            return Ok(Err(WalletError::Rejected(
                                "double spend: its inputs were spent".into(),
                            )));
                        }
                        a.outgoing.push(out);
                        tx.sandbox_put(&acct_key(from), &a)?;
                    }
                    Ok::<_, StoreError>(Ok(hash.clone()))
                })
                .map_err(storage)?
            })
            .await
    }

    async fn outgoing(&self, index: u32) -> Result<Vec<OutTransfer>, WalletError> {
        self.0.metrics.client_call("wallet");
        self.0
            .run(WalletError::Unreachable, move |s| {
                Ok(load(s, index)?
                    .outgoing
                    .into_iter()
                    .map(|o| OutTransfer {
                        destinations: vec![(o.to, o.amount)],
                        txid: o.txid,
                        amount: o.amount,
                        fee: o.fee,
                        pending: false,
                        at: o.at,
                    })
                    .collect())
            })
            .await
    }

    async fn knows_tx(&self, from: u32, hash: &str) -> Result<bool, WalletError> {
        self.0.metrics.client_call("wallet");
        let hash = hash.to_string();
        self.0
            .run(WalletError::Unreachable, move |s| {
                Ok(load(s, from)?.outgoing.iter().any(|o| o.txid == hash))
            })
            .await
    }
}
