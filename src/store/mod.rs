//! The store: one redb file in `DATA_DIR`. Every state change of an operation
//! is one write transaction that also appends an event ([`Tx`]).

mod backup;
mod migrate;
mod read;
pub mod tables;
mod tx;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::Database;

pub use backup::{backup_to, restore_from};
pub use tables::{AccountRecord, HealthSample, JobRecord};
pub use tx::Tx;

/// The schema this build writes. Older stores are backed up, then migrated.
pub const SCHEMA_VERSION: u64 = 5;

/// Where the price guard keeps its state (settings table).
const PRICE_GUARD_KEY: &str = "price_guard";
/// Where the fees of the last payouts are kept (settings table).
const RECENT_FEES_KEY: &str = "recent_fees";

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database {0} is held by another nodecannon process (is the server running?)")]
    Locked(PathBuf),
    #[error(
        "the database was written by a newer nodecannon (schema {found}, this build knows {known}); upgrade nodecannon"
    )]
    TooNew { found: u64, known: u64 },
    #[error("the codename {0:?} is taken; choose another")]
    CodenameTaken(String),
    #[error(
        "wallet account {index} is already {owner}; the wallet handed it out again, so it was restored without its accounts (run `nodecannon wallet repair`)"
    )]
    AccountTaken { index: u32, owner: String },
    #[error("no operation {0}")]
    NotFound(String),
    #[error("operation {0} was changed without an event; every state change must record one")]
    NoEvent(String),
    #[error("stored {what} is corrupt: {source}")]
    Corrupt {
        what: String,
        source: serde_json::Error,
    },
    #[error("database error: {0}")]
    Db(#[from] redb::Error),
    #[error("file error: {0}")]
    Io(#[from] std::io::Error),
    #[error("the store task failed: {0}")]
    Task(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self { StoreError::Db(e.into()) }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Result of store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A JSON value of the table `what` (sandbox, settings) as `T`; a value that
/// does not fit is a corrupt store, named with its key.
fn decode_json<T: serde::de::DeserializeOwned>(
    what: &str,
    key: &str,
    v: Option<serde_json::Value>,
) -> Result<Option<T>> {
    v.map(|v| {
        serde_json::from_value(v).map_err(|e| StoreError::Corrupt {
            what: format!("{what}/{key}"),
            source: e,
        })
    })
    .transpose()
}

/// The store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
    /// Counts committed writes; each stamps the operations it touched.
    writes: Arc<std::sync::atomic::AtomicU64>,
    /// The stamp of the last committed write that touched each operation
    /// (since this process opened the store): see [`Store::generation_of`].
    generations: Arc<std::sync::RwLock<std::collections::HashMap<String, u64>>>,
    #[cfg(test)]
    fail_events: Arc<std::sync::atomic::AtomicBool>,
}

impl Store {
    /// The database file inside a data directory.
    pub fn file_in(data_dir: &Path) -> PathBuf {
        data_dir.join("nodecannon.redb")
    }

    /// Opens (or creates) the store in `data_dir`, migrating an older schema
    /// after backing the file up. `now` names the backup.
    pub fn open(data_dir: &Path, now: i64) -> Result<Store> {
        // Owner-only from the start; an existing directory is narrowed below.
        let mut dir = std::fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(data_dir)?;
        restrict_dir(data_dir);
        let path = Self::file_in(data_dir);
        let db = migrate::open_and_migrate(&path, data_dir, now)?;
        Ok(Store {
            db: Arc::new(db),
            path,
            writes: Default::default(),
            generations: Default::default(),
            #[cfg(test)]
            fail_events: Default::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs one write transaction: everything `f` writes commits together, or
    /// nothing does (an `Err` from `f` or from committing rolls it all back).
    pub fn write<T, E>(&self, f: impl FnOnce(&mut Tx) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let txn = self.db.begin_write().map_err(StoreError::from)?;
        let mut tx = Tx::new(&txn);
        #[cfg(test)]
        tx.set_fail_events(self.fail_events.load(std::sync::atomic::Ordering::SeqCst));
        let out = f(&mut tx)?;
        tx.finish()?;
        let touched = tx.touched();
        txn.commit().map_err(StoreError::from)?;
        let stamp = self
            .writes
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
            + 1;
        if !touched.is_empty()
            && let Ok(mut g) = self.generations.write()
        {
            g.extend(touched.into_iter().map(|id| (id, stamp)));
        }
        Ok(out)
    }

    /// Which committed write last touched operation `id` (0: none since the
    /// store was opened). What a cached read of the operation is checked
    /// against: one made after reading generation `g` is current while this
    /// is still `g`. Writes to other operations (a health pass writes every
    /// node) leave it alone.
    pub fn generation_of(&self, id: &str) -> u64 {
        self.generations
            .read()
            .ok()
            .and_then(|g| g.get(id).copied())
            .unwrap_or(0)
    }

    /// How many writes this process has committed: what a read of many
    /// operations (the node list) is checked against.
    pub fn writes(&self) -> u64 {
        self.writes.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Runs blocking store work off the async executor.
    pub async fn run<T: Send + 'static, E: From<StoreError> + Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, E> {
        let store = self.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    #[cfg(test)]
    fn fail_event_writes(&self, fail: bool) {
        self.fail_events
            .store(fail, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Owner-only permissions on the data directory.
fn restrict_dir(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}

#[cfg(test)]
mod tests;
