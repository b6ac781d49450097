//! The real wallet: monero-wallet-rpc, one account per operation.

mod daemon;
mod rpc;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

pub use daemon::{Daemon, Spent, key_images};
pub use rpc::{Rpc, decode, rpc_error};
use rpc::{SLOW_TIMEOUT, TIMEOUT};

use crate::clients::wallet::{
    Account, AccountState, BuiltTx, Fate, OutTransfer, Transfer, TransferStatus, Wallet,
    WalletError,
};
use crate::domain::money::Pico;
use crate::metrics::Metrics;

/// Confirmations after which an incoming transfer is spendable.
pub const UNLOCK_CONFIRMATIONS: u64 = 10;

/// The weight of a typical payout (two inputs, two outputs, CLSAG and
/// Bulletproofs+: about 1.5 kB), doubled for margin: the fee estimate is
/// the daemon's fee per byte times this.
pub const PAYOUT_WEIGHT_BYTES: u64 = 3_000;

/// The fee estimate when no daemon is configured: 0.0001 XMR, above what a
/// payout costs on mainnet at normal priority (the app also never estimates
/// below the median fee its recent payouts really cost).
pub const FALLBACK_FEE: Pico = 100_000_000;

/// monero-wallet-rpc behind the [`Wallet`] trait, with the daemon it uses
/// when `XMR_DAEMON_URI` is set.
pub struct WalletRpc {
    rpc: Rpc,
    daemon: Option<Daemon>,
}

impl WalletRpc {
    /// A client of the wallet at `endpoint` with Digest credentials (empty user: none).
    pub fn new(endpoint: &str, user: &str, pass: &str, metrics: Arc<Metrics>) -> Self {
        Self {
            rpc: Rpc::new(endpoint, user, pass, metrics),
            daemon: None,
        }
    }

    /// Asks the daemon at `base` what only the chain can prove.
    pub fn with_daemon(self, http: reqwest::Client, base: &str) -> Self {
        Self {
            daemon: Some(Daemon::new(http, base)),
            ..self
        }
    }

    /// Caps the timeout of every call (tests of a wallet that hangs).
    pub fn with_max_timeout(self, t: std::time::Duration) -> Self {
        Self {
            rpc: self.rpc.with_max_timeout(t),
            ..self
        }
    }

    /// The raw JSON-RPC client (tests, diagnostics).
    pub fn rpc(&self) -> &Rpc {
        &self.rpc
    }
}

#[derive(Deserialize)]
struct Created {
    account_index: u32,
    address: String,
}

#[derive(Deserialize)]
struct Accounts {
    #[serde(default)]
    subaddress_accounts: Vec<AccountRow>,
}

#[derive(Deserialize)]
struct AccountRow {
    account_index: u32,
    base_address: String,
    #[serde(default)]
    label: String,
}

#[derive(Deserialize)]
struct Balance {
    balance: u64,
    unlocked_balance: u64,
}

#[derive(Deserialize, Default)]
struct Transfers {
    #[serde(default, rename = "in")]
    incoming: Vec<TransferRow>,
    #[serde(default)]
    pool: Vec<TransferRow>,
}

#[derive(Deserialize)]
struct TransferRow {
    txid: String,
    amount: u64,
    #[serde(default)]
    confirmations: u64,
    #[serde(default)]
    timestamp: i64,
    #[serde(default)]
    unlock_time: u64,
}

/// The answer of `transfer_split` and `sweep_all`: one entry per transaction.
#[derive(Deserialize)]
struct Swept {
    #[serde(default)]
    tx_hash_list: Vec<String>,
    #[serde(default)]
    tx_metadata_list: Vec<String>,
    #[serde(default)]
    tx_blob_list: Vec<String>,
    #[serde(default)]
    amount_list: Vec<u64>,
    #[serde(default)]
    fee_list: Vec<u64>,
}

#[derive(Deserialize)]
struct Relayed {
    tx_hash: String,
}

fn transfer(t: TransferRow, pool: bool) -> Transfer {
    let status = match (pool, t.unlock_time, t.confirmations) {
        (_, u, _) if u != 0 => TransferStatus::Ignored,
        (true, _, _) => TransferStatus::Pool,
        (false, _, c) if c >= UNLOCK_CONFIRMATIONS => TransferStatus::Unlocked,
        _ => TransferStatus::Locked,
    };
    Transfer {
        txid: t.txid,
        amount: t.amount,
        seen_at: t.timestamp,
        confirmations: t.confirmations,
        blocks_to_unlock: UNLOCK_CONFIRMATIONS.saturating_sub(t.confirmations),
        status,
    }
}

fn created(c: Created, label: &str) -> Result<Account, WalletError> {
    // An operation without a deposit address could never be paid.
    if c.address.trim().is_empty() {
        return Err(WalletError::Rpc {
            code: 0,
            message: "the wallet created an account without an address".into(),
        });
    }
    Ok(Account {
        index: c.account_index,
        address: c.address,
        label: label.to_string(),
    })
}

fn accounts(a: Accounts) -> Vec<Account> {
    a.subaddress_accounts
        .into_iter()
        .map(|r| Account {
            index: r.account_index,
            address: r.base_address,
            label: r.label,
        })
        .collect()
}

fn account_state(b: Balance, t: Transfers) -> AccountState {
    let mut transfers: Vec<Transfer> = t.pool.into_iter().map(|r| transfer(r, true)).collect();
    transfers.extend(t.incoming.into_iter().map(|r| transfer(r, false)));
    transfers.sort_by_key(|t| t.seen_at);
    AccountState {
        balance: b.balance,
        unlocked: b.unlocked_balance,
        transfers,
    }
}

fn swept(s: Swept) -> Result<Vec<BuiltTx>, WalletError> {
    let n = s.tx_hash_list.len();
    if n == 0 {
        return Err(WalletError::NotEnoughUnlocked);
    }
    // Every list must describe every transaction: a partial answer is not
    // a set of transactions that can be stored and relayed.
    if s.tx_metadata_list.len() != n || s.amount_list.len() != n || s.fee_list.len() != n {
        return Err(WalletError::Rpc {
            code: 0,
            message: format!(
                "the wallet built {n} transaction(s) but described {} blob(s), {} amount(s), {} fee(s)",
                s.tx_metadata_list.len(),
                s.amount_list.len(),
                s.fee_list.len()
            ),
        });
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (hash, metadata) = (&s.tx_hash_list[i], &s.tx_metadata_list[i]);
        if hash.is_empty() || metadata.is_empty() {
            return Err(WalletError::Rpc {
                code: 0,
                message: "the wallet built a transaction without its blob".into(),
            });
        }
        let key_images = match s.tx_blob_list.get(i).map(|b| key_images(b)) {
            Some(Ok(k)) => k,
            // Without them the transaction can still be relayed; it just
            // cannot be proven dead later.
            Some(Err(e)) => {
                tracing::warn!(tx = %hash, "could not read the key images: {e}");
                Vec::new()
            }
            None => Vec::new(),
        };
        out.push(BuiltTx {
            hash: hash.clone(),
            metadata: metadata.clone(),
            amount: s.amount_list[i],
            fee: s.fee_list[i],
            key_images,
        });
    }
    Ok(out)
}

fn knows(r: Result<serde_json::Value, WalletError>) -> Result<bool, WalletError> {
    match r {
        // An outgoing entry the wallet marked "failed" does not count as relayed.
        Ok(v) => Ok(v["transfers"]
            .as_array()
            .map(|ts| ts.iter().any(|t| t["type"] != "failed"))
            .unwrap_or_else(|| v["transfer"]["type"] != "failed")),
        // WALLET_RPC_ERROR_CODE_WRONG_TXID: "Transaction not found."
        Err(WalletError::Rpc { code: -8, .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

// The answers' bodies as [`WalletRpc`] reads them, without I/O, so hostile
// answers are tested without a wallet (`tests/hostile_input.rs`).

/// Reads a `create_account` answer for an account labelled `label`.
pub fn parse_create_account(body: &[u8], label: &str) -> Result<Account, WalletError> {
    created(decode("create_account", body)?, label)
}

/// Reads a `get_accounts` answer.
pub fn parse_accounts(body: &[u8]) -> Result<Vec<Account>, WalletError> {
    Ok(accounts(decode("get_accounts", body)?))
}

/// Reads the `get_balance` and `get_transfers` answers of one account.
pub fn parse_account_state(balance: &[u8], transfers: &[u8]) -> Result<AccountState, WalletError> {
    Ok(account_state(
        decode("get_balance", balance)?,
        decode("get_transfers", transfers)?,
    ))
}

/// Reads a `transfer_split` answer (built, not relayed).
pub fn parse_transfer(body: &[u8]) -> Result<Vec<BuiltTx>, WalletError> {
    swept(decode("transfer_split", body)?)
}

/// Reads a `sweep_all` answer (built, not relayed).
pub fn parse_sweep(body: &[u8]) -> Result<Vec<BuiltTx>, WalletError> {
    swept(decode("sweep_all", body)?)
}

/// Reads a `relay_tx` answer: the relayed transaction's hash.
pub fn parse_relay(body: &[u8]) -> Result<String, WalletError> {
    Ok(decode::<Relayed>("relay_tx", body)?.tx_hash)
}

#[derive(Deserialize, Default)]
struct Outgoing {
    #[serde(default)]
    out: Vec<OutRow>,
    #[serde(default)]
    pending: Vec<OutRow>,
}

#[derive(Deserialize)]
struct OutRow {
    txid: String,
    amount: u64,
    #[serde(default)]
    fee: u64,
    #[serde(default)]
    timestamp: i64,
    #[serde(default)]
    destinations: Vec<Dest>,
}

#[derive(Deserialize)]
struct Dest {
    address: String,
    amount: u64,
}

fn outgoing(o: Outgoing) -> Vec<OutTransfer> {
    let row = |r: OutRow, pending: bool| OutTransfer {
        txid: r.txid,
        amount: r.amount,
        fee: r.fee,
        destinations: r
            .destinations
            .into_iter()
            .map(|d| (d.address, d.amount))
            .collect(),
        pending,
        at: r.timestamp,
    };
    let mut v: Vec<OutTransfer> = o.out.into_iter().map(|r| row(r, false)).collect();
    v.extend(o.pending.into_iter().map(|r| row(r, true)));
    v.sort_by(|a, b| a.txid.cmp(&b.txid));
    v.dedup_by(|a, b| a.txid == b.txid);
    v
}

/// Reads a `get_transfers` answer of outgoing transfers.
pub fn parse_outgoing(body: &[u8]) -> Result<Vec<OutTransfer>, WalletError> {
    Ok(outgoing(decode("get_transfers", body)?))
}

/// Reads a `get_transfer_by_txid` answer: whether the transaction counts as relayed.
pub fn parse_knows_tx(body: &[u8]) -> Result<bool, WalletError> {
    knows(decode("get_transfer_by_txid", body))
}

#[async_trait]
impl Wallet for WalletRpc {
    async fn create_account(&self, label: &str) -> Result<Account, WalletError> {
        let c: Created = self
            .rpc
            .call("create_account", json!({ "label": label }), TIMEOUT)
            .await?;
        // Stored at once so a crash cannot hand the same index out again.
        let _: serde_json::Value = self.rpc.call("store", json!({}), SLOW_TIMEOUT).await?;
        created(c, label)
    }

    async fn accounts(&self) -> Result<Vec<Account>, WalletError> {
        let a: Accounts = self.rpc.call("get_accounts", json!({}), TIMEOUT).await?;
        Ok(accounts(a))
    }

    async fn account_state(&self, index: u32) -> Result<AccountState, WalletError> {
        let b: Balance = self
            .rpc
            .call("get_balance", json!({ "account_index": index }), TIMEOUT)
            .await?;
        let params =
            json!({ "in": true, "pool": true, "account_index": index, "subaddr_indices": [] });
        let t: Transfers = self.rpc.call("get_transfers", params, TIMEOUT).await?;
        Ok(account_state(b, t))
    }

    async fn fee_estimate(&self) -> Result<Pico, WalletError> {
        // wallet-rpc has no fee estimate of its own: the daemon's fee per
        // byte for a payout's weight, or without a daemon a figure above any
        // fee seen (the real fee is what each built transaction says).
        match &self.daemon {
            Some(d) => Ok(d.fee_per_byte().await?.saturating_mul(PAYOUT_WEIGHT_BYTES)),
            None => Ok(FALLBACK_FEE),
        }
    }

    fn fee_basis(&self) -> &'static str {
        match self.daemon {
            Some(_) => {
                "the daemon's current fee per byte (XMR_DAEMON_URI) for a payout's size, checked at every payout pass"
            }
            None => "a fixed 0.0001 XMR because XMR_DAEMON_URI is not set",
        }
    }

    async fn build_transfer(
        &self,
        from: u32,
        address: &str,
        amount: Pico,
    ) -> Result<Vec<BuiltTx>, WalletError> {
        // transfer_split: when the inputs do not fit one transaction (many
        // small deposits), the wallet builds several.
        let params = json!({
            "destinations": [{ "amount": amount, "address": address }],
            "account_index": from,
            "priority": 0,
            "do_not_relay": true,
            "get_tx_metadata": true,
            "get_tx_hex": true,
        });
        let s: Swept = self
            .rpc
            .call("transfer_split", params, SLOW_TIMEOUT)
            .await?;
        swept(s)
    }

    async fn build_sweep(&self, from: u32, address: &str) -> Result<Vec<BuiltTx>, WalletError> {
        let params = json!({
            "address": address,
            "account_index": from,
            "subaddr_indices_all": true,
            "priority": 0,
            "do_not_relay": true,
            "get_tx_metadata": true,
            "get_tx_hex": true,
        });
        let s: Swept = self.rpc.call("sweep_all", params, SLOW_TIMEOUT).await?;
        swept(s)
    }

    async fn fate(&self, from: u32, tx: &str, key_images: &[String]) -> Result<Fate, WalletError> {
        if self.knows_tx(from, tx).await? {
            return Ok(Fate::Known);
        }
        let Some(d) = &self.daemon else {
            return Ok(Fate::Unproven(
                "XMR_DAEMON_URI is not set, so the daemon cannot be asked whether its inputs were spent".into(),
            ));
        };
        if d.has_tx(tx).await? {
            return Ok(Fate::Known);
        }
        if key_images.is_empty() {
            return Ok(Fate::Unproven("its key images were not recorded".into()));
        }
        let spent = d.spent(key_images).await?;
        match spent.iter().position(|s| *s != Spent::No) {
            Some(i) => Ok(Fate::Dead(format!(
                "the daemon says input {} (key image {}…) is spent {} by another transaction",
                i + 1,
                key_images[i].get(..16).unwrap_or(&key_images[i]),
                if spent[i] == Spent::InBlock {
                    "in a block"
                } else {
                    "in the pool"
                }
            ))),
            None => Ok(Fate::Unproven(
                "the daemon says none of its inputs is spent".into(),
            )),
        }
    }

    async fn relay(&self, metadata: &str) -> Result<String, WalletError> {
        let r: Relayed = self
            .rpc
            .call("relay_tx", json!({ "hex": metadata }), SLOW_TIMEOUT)
            .await?;
        // Keep the wallet file's record of the pending transaction across a wallet-rpc crash.
        if let Err(e) = self
            .rpc
            .call::<serde_json::Value>("store", json!({}), SLOW_TIMEOUT)
            .await
        {
            tracing::warn!("store after relay failed: {e}");
        }
        Ok(r.tx_hash)
    }

    async fn note_tx(&self, hash: &str, note: &str) -> Result<(), WalletError> {
        let _: serde_json::Value = self
            .rpc
            .call(
                "set_tx_notes",
                json!({ "txids": [hash], "notes": [note] }),
                TIMEOUT,
            )
            .await?;
        Ok(())
    }

    async fn tx_notes(&self, hashes: &[String]) -> Result<Vec<String>, WalletError> {
        #[derive(Deserialize)]
        struct Notes {
            #[serde(default)]
            notes: Vec<String>,
        }
        let n: Notes = self
            .rpc
            .call("get_tx_notes", json!({ "txids": hashes }), TIMEOUT)
            .await?;
        if n.notes.len() != hashes.len() {
            return Err(WalletError::Rpc {
                code: 0,
                message: format!("{} notes for {} transactions", n.notes.len(), hashes.len()),
            });
        }
        Ok(n.notes)
    }

    async fn outgoing(&self, index: u32) -> Result<Vec<OutTransfer>, WalletError> {
        let params =
            json!({ "out": true, "pending": true, "account_index": index, "subaddr_indices": [] });
        let o: Outgoing = self.rpc.call("get_transfers", params, TIMEOUT).await?;
        Ok(outgoing(o))
    }

    async fn knows_tx(&self, from: u32, hash: &str) -> Result<bool, WalletError> {
        let r: Result<serde_json::Value, _> = self
            .rpc
            .call(
                "get_transfer_by_txid",
                json!({ "txid": hash, "account_index": from }),
                TIMEOUT,
            )
            .await;
        knows(r)
    }
}
