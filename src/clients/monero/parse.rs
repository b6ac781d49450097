//! What monero-wallet-rpc answers, read into the wallet's types: the wire
//! shapes of each method and their parsers (a malformed answer is an error,
//! never an empty result).

use serde::Deserialize;

use super::rpc::decode;
use super::{UNLOCK_CONFIRMATIONS, key_images};
use crate::clients::wallet::{
    Account, AccountState, BuiltTx, OutTransfer, Transfer, TransferStatus, WalletError,
};

#[derive(Deserialize)]
pub(super) struct Created {
    pub(super) account_index: u32,
    pub(super) address: String,
}

#[derive(Deserialize)]
pub(super) struct Accounts {
    #[serde(default)]
    pub(super) subaddress_accounts: Vec<AccountRow>,
}

#[derive(Deserialize)]
pub(super) struct AccountRow {
    pub(super) account_index: u32,
    pub(super) base_address: String,
    #[serde(default)]
    pub(super) label: String,
}

#[derive(Deserialize)]
pub(super) struct Balance {
    pub(super) balance: u64,
    pub(super) unlocked_balance: u64,
}

#[derive(Deserialize, Default)]
pub(super) struct Transfers {
    #[serde(default, rename = "in")]
    pub(super) incoming: Vec<TransferRow>,
    #[serde(default)]
    pub(super) pool: Vec<TransferRow>,
}

#[derive(Deserialize)]
pub(super) struct TransferRow {
    pub(super) txid: String,
    pub(super) amount: u64,
    #[serde(default)]
    pub(super) confirmations: u64,
    #[serde(default)]
    pub(super) timestamp: i64,
    #[serde(default)]
    pub(super) unlock_time: u64,
}

/// The answer of `transfer_split` and `sweep_all`: one entry per transaction.
#[derive(Deserialize)]
pub(super) struct Swept {
    #[serde(default)]
    pub(super) tx_hash_list: Vec<String>,
    #[serde(default)]
    pub(super) tx_metadata_list: Vec<String>,
    #[serde(default)]
    pub(super) tx_blob_list: Vec<String>,
    #[serde(default)]
    pub(super) amount_list: Vec<u64>,
    #[serde(default)]
    pub(super) fee_list: Vec<u64>,
}

#[derive(Deserialize)]
pub(super) struct Relayed {
    pub(super) tx_hash: String,
}

pub(super) fn transfer(t: TransferRow, pool: bool) -> Transfer {
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

pub(super) fn created(c: Created, label: &str) -> Result<Account, WalletError> {
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

pub(super) fn accounts(a: Accounts) -> Vec<Account> {
    a.subaddress_accounts
        .into_iter()
        .map(|r| Account {
            index: r.account_index,
            address: r.base_address,
            label: r.label,
        })
        .collect()
}

pub(super) fn account_state(b: Balance, t: Transfers) -> AccountState {
    let mut transfers: Vec<Transfer> = t.pool.into_iter().map(|r| transfer(r, true)).collect();
    transfers.extend(t.incoming.into_iter().map(|r| transfer(r, false)));
    transfers.sort_by_key(|t| t.seen_at);
    AccountState {
        balance: b.balance,
        unlocked: b.unlocked_balance,
        transfers,
    }
}

pub(super) fn swept(s: Swept) -> Result<Vec<BuiltTx>, WalletError> {
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

pub(super) fn knows(r: Result<serde_json::Value, WalletError>) -> Result<bool, WalletError> {
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
// answers are tested without a wallet (`tests/suite/hostile_input/`).

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
pub(super) struct Outgoing {
    #[serde(default)]
    pub(super) out: Vec<OutRow>,
    #[serde(default)]
    pub(super) pending: Vec<OutRow>,
}

#[derive(Deserialize)]
pub(super) struct OutRow {
    pub(super) txid: String,
    pub(super) amount: u64,
    #[serde(default)]
    pub(super) fee: u64,
    #[serde(default)]
    pub(super) timestamp: i64,
    #[serde(default)]
    pub(super) destinations: Vec<Dest>,
}

#[derive(Deserialize)]
pub(super) struct Dest {
    pub(super) address: String,
    pub(super) amount: u64,
}

pub(super) fn outgoing(o: Outgoing) -> Vec<OutTransfer> {
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
