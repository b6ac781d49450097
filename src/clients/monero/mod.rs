//! The real wallet: monero-wallet-rpc, one account per operation.

mod daemon;
mod parse;
mod rpc;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::json;

pub use daemon::{Daemon, Spent, key_images};
use parse::{
    Accounts, Balance, Created, Outgoing, Relayed, Swept, Transfers, account_state, accounts,
    created, knows, outgoing, swept,
};
pub use parse::{
    parse_account_state, parse_accounts, parse_create_account, parse_knows_tx, parse_outgoing,
    parse_relay, parse_sweep, parse_transfer,
};
pub use rpc::{Rpc, decode, rpc_error};
use rpc::{SLOW_TIMEOUT, TIMEOUT};

use crate::clients::wallet::{
    Account, AccountState, BuiltTx, Fate, OutTransfer, Wallet, WalletError,
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
