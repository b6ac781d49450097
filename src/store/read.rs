//! Read-only queries: each opens one read transaction (a consistent snapshot).

use redb::{ReadTransaction, ReadableDatabase};

use super::tables::{self, Codec, HealthSample, JobRecord, Table, op_range};
use super::{Result, Store, StoreError, decode_json};
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
    let table = r.open_table(t.def)?;
    let iter = match &range {
        Some((a, b)) => table.range(a.as_str()..b.as_str())?,
        None => table.range::<&str>(..)?,
    };
    iter.map(|item| {
        let (k, v) = item?;
        decode(t, k.value(), v.value())
    })
    .collect()
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

    /// Sandbox values whose keys start with `prefix`.
    pub fn sandbox_scan<T: serde::de::DeserializeOwned>(&self, prefix: &str) -> Result<Vec<T>> {
        let end = format!("{prefix}\u{10ffff}");
        scan(
            &self.read()?,
            &tables::SANDBOX,
            Some((prefix.to_string(), end)),
        )?
        .into_iter()
        .map(|v| {
            serde_json::from_value(v).map_err(|e| StoreError::Corrupt {
                what: format!("sandbox/{prefix}"),
                source: e,
            })
        })
        .collect()
    }
}
