//! Every redb table of the store, typed at the edge: keys are strings, values
//! are JSON of one Rust type each (the codec is [`Codec`]). All tables share
//! the raw `&str → &[u8]` shape so backups and migrations copy them generically.

use std::marker::PhantomData;

use redb::TableDefinition;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::event::Event;
use crate::domain::operation::Operation;
use crate::domain::payout::Payout;

/// The raw table shape.
pub type Raw = TableDefinition<'static, &'static str, &'static [u8]>;

/// A table whose values are `V`.
pub struct Table<V> {
    /// The redb definition.
    pub def: Raw,
    _v: PhantomData<fn() -> V>,
}

impl<V> Table<V> {
    const fn new(name: &'static str) -> Self {
        Self {
            def: TableDefinition::new(name),
            _v: PhantomData,
        }
    }
}

/// How a stored type becomes bytes and back.
pub trait Codec: Sized {
    /// Encodes the value.
    fn encode(&self) -> Vec<u8>;
    /// Decodes the value; a failure is a corrupt store.
    fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error>;
}

impl<T: Serialize + DeserializeOwned> Codec for T {
    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
    fn decode(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// A job's last pass, for `/status`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct JobRecord {
    pub last_run: i64,
    pub ok: bool,
    pub outcome: String,
    /// What the pass did and what failed (bounded), for the admin's report.
    #[serde(default)]
    pub actions: Vec<String>,
}

/// One probe of a launched node.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct HealthSample {
    pub at: i64,
    pub reachable: bool,
    pub height: u64,
    pub target_height: u64,
    pub synchronized: bool,
    pub peers_in: u32,
    pub peers_out: u32,
    pub database_size: u64,
    pub status: String,
}

impl HealthSample {
    /// A probe the node did not answer, with why.
    pub fn unreachable(at: i64, status: String) -> Self {
        Self {
            at,
            reachable: false,
            height: 0,
            target_height: 0,
            synchronized: false,
            peers_in: 0,
            peers_out: 0,
            database_size: 0,
            status,
        }
    }
}

/// `schema_version` and other single values.
pub const META: Table<u64> = Table::new("meta");
/// Operations by id.
pub const OPERATIONS: Table<Operation> = Table::new("operations");
/// Operation id by codename (schema 2).
pub const CODENAMES: Table<String> = Table::new("codenames");
/// Events by `<op id>/<seq>`.
pub const EVENTS: Table<Event> = Table::new("events");
/// Payouts by `<op id>/<seq>`.
pub const PAYOUTS: Table<Payout> = Table::new("payouts");
/// Node health samples by `<op id>/<time>`.
pub const HEALTH: Table<HealthSample> = Table::new("health");
/// Last pass of each job by name.
pub const JOBS: Table<JobRecord> = Table::new("jobs");
/// State of the sandbox's simulated services, by key (JSON of various types).
pub const SANDBOX: Table<serde_json::Value> = Table::new("sandbox");

/// Single values of the appliance (e.g. the price guard's state), by key (schema 3).
pub const SETTINGS: Table<serde_json::Value> = Table::new("settings");

/// The ids of operations that run (or are launching) a node, by id; kept by
/// `Tx::put_op` so the node list reads those only, not every operation
/// (schema 4; the value is the codename).
pub const NODES: Table<String> = Table::new("nodes");

/// A wallet account the appliance created (schema 5): every account is
/// recorded with its address when it is created, and one account is never
/// handed to two operations (SPEC.md: an operation's address is its own
/// forever). Keyed by [`account_key`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct AccountRecord {
    pub index: u32,
    pub address: String,
    /// The operation that owns it; `None` for an account created for an
    /// opening that was then refused (it stays unused, never handed out).
    pub op_id: Option<String>,
    pub created_at: i64,
}

/// Wallet accounts by index ([`account_key`]).
pub const ACCOUNTS: Table<AccountRecord> = Table::new("accounts");

/// The key of a wallet account: its index, zero-padded so keys sort by index.
pub fn account_key(index: u32) -> String {
    format!("{index:010}")
}

/// Every table, for creation, backups and migrations.
pub const ALL: [Raw; 11] = [
    META.def,
    OPERATIONS.def,
    CODENAMES.def,
    EVENTS.def,
    PAYOUTS.def,
    HEALTH.def,
    JOBS.def,
    SANDBOX.def,
    SETTINGS.def,
    NODES.def,
    ACCOUNTS.def,
];

/// The key of the `n`th entry of an operation in a per-operation table.
pub fn seq_key(op_id: &str, n: u64) -> String {
    format!("{op_id}/{n:012}")
}

/// The key range of one operation in a per-operation table.
pub fn op_range(op_id: &str) -> (String, String) {
    (format!("{op_id}/"), format!("{op_id}0"))
}
