//! The wallet: one account per operation, balances, incoming transfers, and
//! payouts built without relaying so they can be stored before they are sent.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::domain::money::Pico;

/// What the app must tell apart when the wallet fails.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum WalletError {
    #[error("the wallet cannot be reached: {0}")]
    Unreachable(String),
    #[error("the wallet refused the credentials")]
    AuthFailed,
    #[error("the wallet is busy or syncing")]
    Busy,
    #[error("not enough money in the account")]
    NotEnoughMoney,
    #[error("not enough unlocked money in the account")]
    NotEnoughUnlocked,
    #[error("invalid address: {0}")]
    InvalidAddress(String),
    /// The daemon refused a transaction for good (e.g. its inputs were spent).
    #[error("the transaction was rejected for good: {0}")]
    Rejected(String),
    #[error("wallet error {code}: {message}")]
    Rpc { code: i64, message: String },
}

/// A wallet account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub index: u32,
    pub address: String,
    pub label: String,
}

/// Where an incoming transfer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferStatus {
    /// In the transaction pool.
    Pool,
    /// In a block, still locked.
    Locked,
    /// Spendable.
    Unlocked,
    /// Carries a non-zero unlock time: ignored.
    Ignored,
}

/// An incoming transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub txid: String,
    pub amount: Pico,
    pub seen_at: Timestamp,
    pub confirmations: u64,
    /// Blocks until spendable (0 when unlocked).
    pub blocks_to_unlock: u64,
    pub status: TransferStatus,
}

/// One account's money.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountState {
    pub balance: Pico,
    pub unlocked: Pico,
    pub transfers: Vec<Transfer>,
}

impl AccountState {
    /// Incoming money in the pool.
    pub fn in_pool(&self) -> Pico {
        self.sum(TransferStatus::Pool)
    }
    /// Incoming money in blocks, still locked.
    pub fn locked(&self) -> Pico {
        self.balance.saturating_sub(self.unlocked)
    }
    /// Money seen but not yet spendable (pool + locked).
    pub fn pending(&self) -> Pico {
        self.in_pool().saturating_add(self.locked())
    }
    /// The unlocked balance plus the change of the account's own outgoing
    /// transactions that is still locked (about 20 minutes after a payout):
    /// money that is the operation's already, not a deposit still to come.
    pub fn unlocked_with_change(&self) -> Pico {
        let change = self
            .locked()
            .saturating_sub(self.sum(TransferStatus::Locked));
        self.unlocked.saturating_add(change)
    }
    /// Total ever received (audit: deposits).
    pub fn deposits(&self) -> Pico {
        // Saturating: amounts come from the wallet, and a broken one must not panic the pass.
        self.transfers
            .iter()
            .filter(|t| t.status != TransferStatus::Ignored)
            .fold(0, |sum: Pico, t| sum.saturating_add(t.amount))
    }
    fn sum(&self, s: TransferStatus) -> Pico {
        self.transfers
            .iter()
            .filter(|t| t.status == s)
            .fold(0, |sum: Pico, t| sum.saturating_add(t.amount))
    }
}

/// A transaction built but not relayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuiltTx {
    pub hash: String,
    pub metadata: String,
    pub amount: Pico,
    pub fee: Pico,
    /// The key images of its inputs (hex): the daemon says whether they
    /// were spent, which proves a transaction that was never relayed dead.
    pub key_images: Vec<String>,
}

/// A transaction that left an account, as the wallet records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutTransfer {
    pub txid: String,
    pub amount: Pico,
    pub fee: Pico,
    /// Where it went (address, amount).
    pub destinations: Vec<(String, Pico)>,
    /// In the pool, not yet in a block.
    pub pending: bool,
    pub at: Timestamp,
}

/// What became of a stored transaction whose relay failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// The wallet or the daemon knows it: it was relayed after all.
    Known,
    /// It can never be mined: an input was spent by another transaction.
    Dead(String),
    /// Neither proven relayed nor dead (the reason says why); keep it.
    Unproven(String),
}

/// What a wallet can do for the app.
#[async_trait]
pub trait Wallet: Send + Sync {
    /// Creates the account of a new operation (labelled with its id), then stores the wallet.
    async fn create_account(&self, label: &str) -> Result<Account, WalletError>;
    /// Every account, for the start-up check.
    async fn accounts(&self) -> Result<Vec<Account>, WalletError>;
    /// Balances and incoming transfers of one account, in one call.
    async fn account_state(&self, index: u32) -> Result<AccountState, WalletError>;
    /// The network fee one payout is expected to cost.
    async fn fee_estimate(&self) -> Result<Pico, WalletError>;
    /// Where [`Wallet::fee_estimate`] comes from, in words for pages.
    fn fee_basis(&self) -> &'static str {
        "the wallet's estimate"
    }
    /// Builds (without relaying) a transfer of `amount` to `address`: one
    /// transaction, or several when the inputs do not fit in one.
    async fn build_transfer(
        &self,
        from: u32,
        address: &str,
        amount: Pico,
    ) -> Result<Vec<BuiltTx>, WalletError>;
    /// Builds (without relaying) a transfer of all unlocked money less the
    /// fees: as many transactions as its inputs need.
    async fn build_sweep(&self, from: u32, address: &str) -> Result<Vec<BuiltTx>, WalletError>;
    /// After a failed relay: whether the transaction went out after all, can
    /// never go out (an input spent elsewhere), or neither is proven.
    async fn fate(&self, from: u32, tx: &str, key_images: &[String]) -> Result<Fate, WalletError>;
    /// Relays a built transaction; returns its hash.
    async fn relay(&self, metadata: &str) -> Result<String, WalletError>;
    /// Every transaction that left an account (in blocks or in the pool; not
    /// the ones the wallet marked failed), for the audit and reconciliation.
    async fn outgoing(&self, index: u32) -> Result<Vec<OutTransfer>, WalletError>;
    /// Keeps a note with a transaction in the wallet file (what a payout paid
    /// for, so a database restored from an older backup can adopt it exactly).
    async fn note_tx(&self, _hash: &str, _note: &str) -> Result<(), WalletError> {
        Ok(())
    }
    /// The notes kept with transactions (empty where there is none), in order.
    async fn tx_notes(&self, hashes: &[String]) -> Result<Vec<String>, WalletError> {
        Ok(vec![String::new(); hashes.len()])
    }
    /// Whether the wallet already knows an outgoing transaction.
    async fn knows_tx(&self, from: u32, hash: &str) -> Result<bool, WalletError>;
}
