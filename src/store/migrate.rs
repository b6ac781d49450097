//! Opening the database: create the tables of a new store, refuse a store from
//! a newer build, and migrate an older one (backed up first) in one transaction.

use std::path::Path;

use redb::{Database, DatabaseError, ReadableDatabase, ReadableTable, WriteTransaction};

use super::tables::{self, Codec};
use super::{Result, SCHEMA_VERSION, StoreError};
use crate::domain::operation::Operation;

/// One migration: from `version - 1` to `version`.
struct Migration {
    version: u64,
    what: &'static str,
    run: fn(&WriteTransaction) -> Result<()>,
}

const MIGRATIONS: [Migration; 4] = [
    Migration {
        version: 2,
        what: "index operations by codename",
        run: index_codenames,
    },
    Migration {
        version: 3,
        what: "a settings table (the price guard's state)",
        // Every table in `tables::ALL` is opened (created) before migrations run.
        run: |_| Ok(()),
    },
    Migration {
        version: 4,
        what: "index the operations that run a node",
        run: index_nodes,
    },
    Migration {
        version: 5,
        what: "record the wallet account of every operation",
        run: record_accounts,
    },
];

fn record_accounts(txn: &WriteTransaction) -> Result<()> {
    each_op(txn, |op| {
        let key = tables::account_key(op.account_index);
        let mut t = txn.open_table(tables::ACCOUNTS.def)?;
        if let Some(first) = t.get(key.as_str())?.map(|g| g.value().to_vec()) {
            // Two operations already share an account (the damage this table
            // prevents from now on): keep the first, say so; the audit names both.
            let first = tables::AccountRecord::decode(&first)
                .ok()
                .and_then(|r| r.op_id);
            tracing::error!(
                account = op.account_index,
                op = %op.id,
                first = ?first,
                "two operations share one wallet account; see `nodecannon audit`"
            );
            return Ok(());
        }
        let rec = tables::AccountRecord {
            index: op.account_index,
            address: op.address.clone(),
            op_id: Some(op.id.clone()),
            created_at: op.created_at,
        };
        t.insert(key.as_str(), rec.encode().as_slice())?;
        Ok(())
    })
}

/// Calls `f` with every stored operation.
fn each_op(txn: &WriteTransaction, mut f: impl FnMut(&Operation) -> Result<()>) -> Result<()> {
    let ops = txn.open_table(tables::OPERATIONS.def)?;
    for item in ops.range::<&str>(..)? {
        let (k, v) = item?;
        let op = Operation::decode(v.value()).map_err(|e| StoreError::Corrupt {
            what: format!("operations/{}", k.value()),
            source: e,
        })?;
        f(&op)?;
    }
    Ok(())
}

fn index_nodes(txn: &WriteTransaction) -> Result<()> {
    each_op(txn, |op| super::tx::index_node(txn, op))
}

fn index_codenames(txn: &WriteTransaction) -> Result<()> {
    let mut names = txn.open_table(tables::CODENAMES.def)?;
    each_op(txn, |op| {
        names.insert(op.codename.as_str(), op.id.encode().as_slice())?;
        Ok(())
    })
}

/// redb's page cache. Its default (1 GiB) lets a store of 10,000 operations
/// grow the process past 100 MB under load; pages now read the store rarely
/// (views are cached until a write touches their operation), so a small
/// cache is enough.
pub const CACHE_BYTES: usize = 8 * 1024 * 1024;

fn open_db(path: &Path) -> Result<Database> {
    Database::builder()
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .map_err(|e| match e {
            DatabaseError::DatabaseAlreadyOpen => StoreError::Locked(path.to_path_buf()),
            e => e.into(),
        })
}

fn read_version(db: &Database) -> Result<Option<u64>> {
    let r = db.begin_read()?;
    let meta = match r.open_table(tables::META.def) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let v = meta
        .get("schema_version")?
        .map(|g| u64::decode(g.value()).unwrap_or(0));
    Ok(v)
}

fn set_version(txn: &WriteTransaction, v: u64) -> Result<()> {
    txn.open_table(tables::META.def)?
        .insert("schema_version", v.encode().as_slice())?;
    Ok(())
}

/// Opens the database at `path`, creating or migrating it.
pub(super) fn open_and_migrate(path: &Path, data_dir: &Path, now: i64) -> Result<Database> {
    let db = open_db(path)?;
    let version = read_version(&db)?;
    match version {
        None => {
            let txn = db.begin_write()?;
            for t in tables::ALL {
                txn.open_table(t)?;
            }
            set_version(&txn, SCHEMA_VERSION)?;
            txn.commit()?;
            Ok(db)
        }
        Some(v) if v == SCHEMA_VERSION => Ok(db),
        Some(v) if v > SCHEMA_VERSION => Err(StoreError::TooNew {
            found: v,
            known: SCHEMA_VERSION,
        }),
        Some(v) => {
            drop(db);
            let backups = data_dir.join("backups");
            std::fs::create_dir_all(&backups)?;
            let copy = backups.join(format!("pre-migration-v{v}-{now}.redb"));
            std::fs::copy(path, &copy)?;
            tracing::info!(from = v, to = SCHEMA_VERSION, backup = %copy.display(), "migrating the store");
            let db = open_db(path)?;
            let txn = db.begin_write()?;
            for t in tables::ALL {
                txn.open_table(t)?;
            }
            for m in MIGRATIONS.iter().filter(|m| m.version > v) {
                tracing::info!(version = m.version, "migration: {}", m.what);
                (m.run)(&txn)?;
            }
            set_version(&txn, SCHEMA_VERSION)?;
            txn.commit()?;
            Ok(db)
        }
    }
}

/// Writes a schema-1 store, for tests of the migration.
#[cfg(test)]
pub(super) fn write_v1(path: &Path, ops: &[Operation]) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut t = txn.open_table(tables::OPERATIONS.def).unwrap();
        for op in ops {
            t.insert(op.id.as_str(), op.encode().as_slice()).unwrap();
        }
    }
    set_version(&txn, 1).unwrap();
    txn.commit().unwrap();
}
