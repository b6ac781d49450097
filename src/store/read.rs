//! Read-only queries: each opens one read transaction (a consistent snapshot).

use redb::{ReadTransaction, ReadableDatabase};

use super::tables::{self, Codec, HealthSample, JobRecord, Table, op_range};
use super::{PRICE_GUARD_KEY, RECENT_FEES_KEY, Result, Store, StoreError, decode_json};
use crate::domain::event::Event;
use crate::domain::operation::{Operation, valid_id};
use crate::domain::payout::Payout;

fn decode<V: Codec>(t: &Table<V>, key: &str, bytes: &[u8]) -> Result<V> {
    V::decode(bytes).map_err(|e| StoreError::Corrupt {
        what: format!("{}/{key}", t.def),
        source: e,
    })
}

fn get<V: Codec>(r: &ReadTransaction, t: &Table<V>, key: &str) -> Result<Option<V>> {
    let table = r.open_table(t.def)?;
    let v = table.get(key)?;
    v.map(|g| decode(t, key, g.value())).transpose()
}

fn scan<V: Codec>(
    r: &ReadTransaction,
    t: &Table<V>,
    range: Option<(String, String)>,
) -> Result<Vec<V>> {
    let mut out = Vec::new();
    each(r, t, range, |_, v| {
        out.push(v);
        Ok(())
    })?;
    Ok(out)
}

/// Calls `f` with each value of `t` (in `range`) in key order, one decoded
/// value at a time: a scan that keeps only part of what it reads never holds
/// the whole table in memory.
fn each<V: Codec>(
    r: &ReadTransaction,
    t: &Table<V>,
    range: Option<(String, String)>,
    mut f: impl FnMut(&str, V) -> Result<()>,
) -> Result<()> {
    let table = r.open_table(t.def)?;
    let iter = match &range {
        Some((a, b)) => table.range(a.as_str()..b.as_str())?,
        None => table.range::<&str>(..)?,
    };
    for item in iter {
        let (k, v) = item?;
        f(k.value(), decode(t, k.value(), v.value())?)?;
    }
    Ok(())
}

impl Store {
    fn read(&self) -> Result<ReadTransaction> {
        Ok(self.db.begin_read()?)
    }

    /// An operation by id.
    pub fn operation(&self, id: &str) -> Result<Option<Operation>> {
        get(&self.read()?, &tables::OPERATIONS, id)
    }

    /// An operation by codename or id.
    pub fn find_operation(&self, codename_or_id: &str) -> Result<Option<Operation>> {
        let r = self.read()?;
        let key = codename_or_id.trim().to_lowercase();
        if valid_id(&key)
            && let Some(op) = get(&r, &tables::OPERATIONS, &key)?
        {
            return Ok(Some(op));
        }
        match get(&r, &tables::CODENAMES, &key)? {
            Some(id) => get(&r, &tables::OPERATIONS, &id),
            None => Ok(None),
        }
    }

    /// Whether a codename is taken.
    pub fn codename_taken(&self, codename: &str) -> Result<bool> {
        Ok(get(&self.read()?, &tables::CODENAMES, codename)?.is_some())
    }

    /// Every operation, ordered by creation time.
    pub fn operations(&self) -> Result<Vec<Operation>> {
        let mut ops = scan(&self.read()?, &tables::OPERATIONS, None)?;
        ops.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(ops)
    }

    /// The operations `keep` accepts, oldest first (decoded one at a time;
    /// the others are dropped as they are read).
    pub fn operations_where(&self, keep: impl Fn(&Operation) -> bool) -> Result<Vec<Operation>> {
        let mut ops = Vec::new();
        each(&self.read()?, &tables::OPERATIONS, None, |_, o| {
            if keep(&o) {
                ops.push(o);
            }
            Ok(())
        })?;
        ops.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(ops)
    }

    /// The operations that run (or are launching) a node, oldest first: read
    /// through their index, not by scanning every operation.
    pub fn node_operations(&self) -> Result<Vec<Operation>> {
        let r = self.read()?;
        let ids = r.open_table(tables::NODES.def)?;
        let all = r.open_table(tables::OPERATIONS.def)?;
        let mut ops = Vec::new();
        for item in ids.range::<&str>(..)? {
            let (id, _) = item?;
            if let Some(v) = all.get(id.value())? {
                let op = decode(&tables::OPERATIONS, id.value(), v.value())?;
                // The index is kept in the same write as the operation; this
                // check only guards against a store edited by hand.
                if op.state.has_node() {
                    ops.push(op);
                }
            }
        }
        ops.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(ops)
    }

    /// Every wallet account the appliance recorded, by index.
    pub fn accounts(&self) -> Result<Vec<tables::AccountRecord>> {
        scan(&self.read()?, &tables::ACCOUNTS, None)
    }

    /// Calls `f` with every operation, one at a time, in id order.
    pub fn each_operation(&self, mut f: impl FnMut(&Operation)) -> Result<()> {
        each(&self.read()?, &tables::OPERATIONS, None, |_, o| {
            f(&o);
            Ok(())
        })
    }

    /// An operation's events, oldest first.
    pub fn events(&self, op_id: &str) -> Result<Vec<Event>> {
        scan(&self.read()?, &tables::EVENTS, Some(op_range(op_id)))
    }

    /// An operation's payouts, oldest first.
    pub fn payouts(&self, op_id: &str) -> Result<Vec<Payout>> {
        scan(&self.read()?, &tables::PAYOUTS, Some(op_range(op_id)))
    }

    /// Payouts built but not yet relayed, across all operations.
    pub fn payouts_built(&self) -> Result<Vec<Payout>> {
        let all = scan(&self.read()?, &tables::PAYOUTS, None)?;
        Ok(all
            .into_iter()
            .filter(|p| p.status == crate::domain::payout::PayoutStatus::Built)
            .collect())
    }

    /// Every payout of every operation.
    pub fn all_payouts(&self) -> Result<Vec<Payout>> {
        scan(&self.read()?, &tables::PAYOUTS, None)
    }

    /// An operation's node health history, oldest first.
    pub fn health(&self, op_id: &str) -> Result<Vec<HealthSample>> {
        scan(&self.read()?, &tables::HEALTH, Some(op_range(op_id)))
    }

    /// The last pass of every job.
    pub fn jobs(&self) -> Result<Vec<(String, JobRecord)>> {
        let r = self.read()?;
        let table = r.open_table(tables::JOBS.def)?;
        table
            .range::<&str>(..)?
            .map(|item| {
                let (k, v) = item?;
                Ok((
                    k.value().to_string(),
                    decode(&tables::JOBS, k.value(), v.value())?,
                ))
            })
            .collect()
    }

    /// The schema version recorded in the store.
    pub fn schema_version(&self) -> Result<u64> {
        Ok(get(&self.read()?, &tables::META, "schema_version")?.unwrap_or(0))
    }

    /// A value of the sandbox's simulated services.
    pub fn sandbox_get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        decode_json("sandbox", key, get(&self.read()?, &tables::SANDBOX, key)?)
    }

    /// A single value of the appliance.
    pub fn setting<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        decode_json("settings", key, get(&self.read()?, &tables::SETTINGS, key)?)
    }

    /// The price guard's state as the last decision left it (default: none yet).
    pub fn price_guard(&self) -> Result<crate::domain::price_guard::PriceState> {
        Ok(self.setting(PRICE_GUARD_KEY)?.unwrap_or_default())
    }

    /// The fees of the last payouts' transactions, oldest first.
    pub fn recent_fees(&self) -> Result<Vec<crate::domain::money::Pico>> {
        Ok(self.setting(RECENT_FEES_KEY)?.unwrap_or_default())
    }

    /// Sandbox values whose keys start with `prefix`.
    pub fn sandbox_scan<T: serde::de::DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>> {
        self.sandbox_scan_map(prefix, Ok)
    }

    /// Sandbox values whose keys start with `prefix`, each passed through `f`
    /// as it is read (so only what `f` keeps stays in memory).
    pub fn sandbox_scan_map<T: serde::de::DeserializeOwned, U>(
        &self,
        prefix: &str,
        f: impl Fn(T) -> Result<U>,
    ) -> Result<Vec<U>> {
        let end = format!("{prefix}\u{10ffff}");
        let mut out = Vec::new();
        each(
            &self.read()?,
            &tables::SANDBOX,
            Some((prefix.to_string(), end)),
            |key, v| {
                let t = serde_json::from_value(v).map_err(|e| StoreError::Corrupt {
                    what: format!("sandbox/{key}"),
                    source: e,
                })?;
                out.push(f(t)?);
                Ok(())
            },
        )?;
        Ok(out)
    }
}
