//! A write transaction with typed access. It refuses to commit an operation
//! change that appended no event for that operation.

use std::collections::BTreeSet;

use redb::{ReadableTable, WriteTransaction};

use super::tables::{self, Codec, HealthSample, JobRecord, Table, op_range, seq_key};
use super::{PRICE_GUARD_KEY, RECENT_FEES_KEY, Result, StoreError, decode_json};
use crate::domain::Timestamp;
use crate::domain::event::{Event, EventKind};
use crate::domain::operation::Operation;
use crate::domain::payout::Payout;

/// One write transaction in progress.
pub struct Tx<'t> {
    txn: &'t WriteTransaction,
    changed: BTreeSet<String>,
    evented: BTreeSet<String>,
    /// Operations whose payouts or health history this transaction wrote.
    recorded: BTreeSet<String>,
    #[cfg(test)]
    fail_events: bool,
}

pub(super) fn get<V: Codec>(txn: &WriteTransaction, t: &Table<V>, key: &str) -> Result<Option<V>> {
    let table = txn.open_table(t.def)?;
    let v = table.get(key)?;
    v.map(|g| {
        V::decode(g.value()).map_err(|e| StoreError::Corrupt {
            what: format!("{}/{key}", t.def),
            source: e,
        })
    })
    .transpose()
}

pub(super) fn put<V: Codec>(txn: &WriteTransaction, t: &Table<V>, key: &str, v: &V) -> Result<()> {
    txn.open_table(t.def)?.insert(key, v.encode().as_slice())?;
    Ok(())
}

/// Keeps `op` in the index of operations that run a node (`tables::NODES`)
/// exactly while its state has one: every write of an operation, and the
/// migration that built the index.
pub(super) fn index_node(txn: &WriteTransaction, op: &Operation) -> Result<()> {
    let mut nodes = txn.open_table(tables::NODES.def)?;
    if op.state.has_node() {
        nodes.insert(op.id.as_str(), op.codename.encode().as_slice())?;
    } else {
        nodes.remove(op.id.as_str())?;
    }
    Ok(())
}

fn next_seq<V>(txn: &WriteTransaction, t: &Table<V>, op_id: &str) -> Result<u64> {
    let table = txn.open_table(t.def)?;
    let (a, b) = op_range(op_id);
    let last = table
        .range(a.as_str()..b.as_str())?
        .next_back()
        .transpose()?;
    Ok(match last {
        Some((k, _)) => {
            k.value()
                .rsplit('/')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0)
                + 1
        }
        None => 1,
    })
}

impl<'t> Tx<'t> {
    pub(super) fn new(txn: &'t WriteTransaction) -> Self {
        Self {
            txn,
            changed: BTreeSet::new(),
            evented: BTreeSet::new(),
            recorded: BTreeSet::new(),
            #[cfg(test)]
            fail_events: false,
        }
    }

    #[cfg(test)]
    pub(super) fn set_fail_events(&mut self, fail: bool) {
        self.fail_events = fail;
    }

    pub(super) fn finish(&self) -> Result<()> {
        match self.changed.difference(&self.evented).next() {
            Some(id) => Err(StoreError::NoEvent(id.clone())),
            None => Ok(()),
        }
    }

    /// The operations whose pages this transaction changes: what it stored
    /// of them, their events, payouts or health history.
    pub(super) fn touched(self) -> BTreeSet<String> {
        let mut all = self.changed;
        all.extend(self.evented);
        all.extend(self.recorded);
        all
    }

    /// An operation by id.
    pub fn op(&self, id: &str) -> Result<Operation> {
        get(self.txn, &tables::OPERATIONS, id)?.ok_or_else(|| StoreError::NotFound(id.to_string()))
    }

    /// Stores a new operation; its codename must be free and its wallet
    /// account never handed out before (it is recorded as the operation's).
    pub fn insert_op(&mut self, op: &Operation) -> Result<()> {
        if get(self.txn, &tables::CODENAMES, &op.codename)?.is_some() {
            return Err(StoreError::CodenameTaken(op.codename.clone()));
        }
        self.record_account(op.account_index, &op.address, Some(&op.id), op.created_at)?;
        put(self.txn, &tables::CODENAMES, &op.codename, &op.id)?;
        self.put_op(op)
    }

    /// Records a wallet account the wallet just created, for `op_id` (or for
    /// none: an opening refused after the account was made). Refuses an
    /// account already recorded: the wallet handed an index out twice.
    pub fn record_account(
        &mut self,
        index: u32,
        address: &str,
        op_id: Option<&str>,
        at: Timestamp,
    ) -> Result<()> {
        let key = tables::account_key(index);
        if let Some(rec) = get(self.txn, &tables::ACCOUNTS, &key)? {
            return Err(StoreError::AccountTaken {
                index,
                owner: match rec.op_id {
                    Some(id) => format!("the account of operation {id}"),
                    None => "recorded as created".into(),
                },
            });
        }
        let rec = tables::AccountRecord {
            index,
            address: address.to_string(),
            op_id: op_id.map(str::to_string),
            created_at: at,
        };
        put(self.txn, &tables::ACCOUNTS, &key, &rec)
    }

    /// Stores a changed operation (an event for it must follow in this transaction).
    pub fn put_op(&mut self, op: &Operation) -> Result<()> {
        put(self.txn, &tables::OPERATIONS, &op.id, op)?;
        index_node(self.txn, op)?;
        self.changed.insert(op.id.clone());
        Ok(())
    }

    /// Appends an event to an operation's history.
    pub fn event(
        &mut self,
        op_id: &str,
        at: Timestamp,
        kind: EventKind,
        message: impl Into<String>,
    ) -> Result<()> {
        #[cfg(test)]
        if self.fail_events {
            return Err(StoreError::Task("event write failed (injected)".into()));
        }
        let ev = Event {
            op_id: op_id.to_string(),
            at,
            kind,
            message: message.into(),
        };
        let seq = next_seq(self.txn, &tables::EVENTS, op_id)?;
        put(self.txn, &tables::EVENTS, &seq_key(op_id, seq), &ev)?;
        self.evented.insert(op_id.to_string());
        Ok(())
    }

    /// The sequence number the next payout of an operation gets.
    pub fn next_payout_seq(&self, op_id: &str) -> Result<u64> {
        next_seq(self.txn, &tables::PAYOUTS, op_id)
    }

    /// Stores a payout (new or updated).
    pub fn put_payout(&mut self, p: &Payout) -> Result<()> {
        put(self.txn, &tables::PAYOUTS, &seq_key(&p.op_id, p.seq), p)?;
        self.recorded.insert(p.op_id.clone());
        Ok(())
    }

    /// Records a job pass.
    pub fn put_job(&mut self, name: &str, rec: &JobRecord) -> Result<()> {
        put(self.txn, &tables::JOBS, name, rec)
    }

    /// Adds a health sample, keeping the newest `keep` of the operation.
    pub fn add_health(&mut self, op_id: &str, s: &HealthSample, keep: usize) -> Result<()> {
        let key = seq_key(op_id, u64::try_from(s.at).unwrap_or(0));
        put(self.txn, &tables::HEALTH, &key, s)?;
        let mut table = self.txn.open_table(tables::HEALTH.def)?;
        let (a, b) = op_range(op_id);
        let keys: Vec<String> = table
            .range(a.as_str()..b.as_str())?
            .map(|r| r.map(|(k, _)| k.value().to_string()))
            .collect::<std::result::Result<_, _>>()?;
        for k in keys.iter().take(keys.len().saturating_sub(keep)) {
            table.remove(k.as_str())?;
        }
        self.recorded.insert(op_id.to_string());
        Ok(())
    }

    /// A value of the sandbox's simulated services.
    pub fn sandbox_get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        decode_json("sandbox", key, get(self.txn, &tables::SANDBOX, key)?)
    }

    /// Stores a value of the sandbox's simulated services.
    pub fn sandbox_put<T: serde::Serialize>(&mut self, key: &str, v: &T) -> Result<()> {
        put(
            self.txn,
            &tables::SANDBOX,
            key,
            &serde_json::to_value(v).unwrap_or_default(),
        )
    }

    /// A single value of the appliance.
    pub fn setting<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        decode_json("settings", key, get(self.txn, &tables::SETTINGS, key)?)
    }

    /// Stores a single value of the appliance.
    pub fn put_setting<T: serde::Serialize>(&mut self, key: &str, v: &T) -> Result<()> {
        put(
            self.txn,
            &tables::SETTINGS,
            key,
            &serde_json::to_value(v).unwrap_or_default(),
        )
    }

    /// The price guard's state, in this transaction.
    pub fn price_guard(&self) -> Result<crate::domain::price_guard::PriceState> {
        Ok(self.setting(PRICE_GUARD_KEY)?.unwrap_or_default())
    }

    /// Stores the price guard's state.
    pub fn put_price_guard(&mut self, g: &crate::domain::price_guard::PriceState) -> Result<()> {
        self.put_setting(PRICE_GUARD_KEY, g)
    }

    /// The fees of the last payouts' transactions, oldest first.
    pub fn recent_fees(&self) -> Result<Vec<crate::domain::money::Pico>> {
        Ok(self.setting(RECENT_FEES_KEY)?.unwrap_or_default())
    }

    /// Stores the fees of the last payouts' transactions.
    pub fn put_recent_fees(&mut self, fees: &[crate::domain::money::Pico]) -> Result<()> {
        self.put_setting(RECENT_FEES_KEY, &fees)
    }

    /// Removes a value of the sandbox's simulated services.
    pub fn sandbox_remove(&mut self, key: &str) -> Result<()> {
        self.txn.open_table(tables::SANDBOX.def)?.remove(key)?;
        Ok(())
    }
}
