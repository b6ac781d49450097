//! Configuration: SPEC.md's table of variables, read from an env file and the
//! process environment (the environment wins), typed and validated.
//!
//! Parsing works on a plain map so precedence and every error message can be
//! unit-tested without touching the real environment.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use crate::domain::money::Micro;
use crate::domain::xmr_address::Network;

/// A setting that must never be logged or rendered.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself; call sites are the only places it leaves this type.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A configuration error: which variable, what was wrong, what was expected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The variable at fault.
    pub var: String,
    /// What is wrong and what would be accepted.
    pub message: String,
}

fn err(var: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var: var.to_string(),
        message: message.into(),
    }
}

/// Every job's schedule: the job's name (as `nodecannon run` and
/// `POST /admin/jobs/{job}` take it), the variable that sets its cron string
/// (six fields, with seconds), and the defaults outside and inside sandbox.
/// The scheduler, the configuration check and `config check` read this table.
pub const JOB_SCHEDULES: [(&str, &str, &str, &str); 5] = [
    (
        "launch-funded",
        "LAUNCH_SCHEDULE",
        "0 */10 * * * *",
        "*/10 * * * * *",
    ),
    (
        "process-payouts",
        "PAYOUT_SCHEDULE",
        "0 5 * * * *",
        "*/15 * * * * *",
    ),
    (
        "reconcile",
        "RECONCILE_SCHEDULE",
        "0 */15 * * * *",
        "0 * * * * *",
    ),
    (
        "health",
        "HEALTH_SCHEDULE",
        "30 * * * * *",
        "*/10 * * * * *",
    ),
    ("backup", "BACKUP_SCHEDULE", "0 45 * * * *", "0 45 * * * *"),
];

/// The cron string of each job, by job name ([`JOB_SCHEDULES`]).
#[derive(Debug, Clone, Default)]
pub struct Schedules(BTreeMap<&'static str, String>);

impl Schedules {
    /// The cron string of `job` (empty for a name [`JOB_SCHEDULES`] lacks).
    pub fn of(&self, job: &str) -> &str {
        self.0.get(job).map_or("", String::as_str)
    }
}

/// An IP address or a CIDR block from `ADMIN_IPS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpBlock {
    addr: IpAddr,
    prefix: u8,
}

impl IpBlock {
    /// Parses `1.2.3.4`, `1.2.3.0/24`, `::1` or `fd00::/8`.
    pub fn parse(s: &str) -> Option<Self> {
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self { addr: ip, prefix })
    }

    /// Whether `ip` lies in this block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> (u128, u32) {
            match a {
                IpAddr::V4(v) => (u128::from(u32::from(v)), 32),
                IpAddr::V6(v) => (u128::from(v), 128),
            }
        };
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (IpAddr::V6(_), IpAddr::V4(_)) => return false,
            _ => ip,
        };
        let (a, width) = bits(self.addr);
        let (b, _) = bits(ip);
        let shift = width - u32::from(self.prefix);
        shift >= width || (a >> shift) == (b >> shift)
    }
}

/// Every variable of SPEC.md's table that the app reads.
pub const VARIABLES: &[&str] = &[
    "SITE_NAME",
    "SERVER_NAME",
    "PUBLIC_URL",
    "LISTEN_ADDR",
    "DATA_DIR",
    "STATS_TOKEN",
    "ADMIN_IPS",
    "LAUNCHPAD_ENABLED",
    "MGMT_CHARGE_HOUR",
    "PAYOUT_ADDRESS",
    "PAYOUT_FREQUENCY",
    "MIN_FUNDED_HOURS",
    "LOW_FUNDS_HOURS",
    "GRACE_HOURS",
    "XMR_NETWORK",
    "XMR_WALLET_RPC_ENDPOINT",
    "XMR_WALLET_RPC_PROTO",
    "XMR_WALLET_RPC_HOST",
    "XMR_WALLET_RPC_PORT",
    "XMR_WALLET_RPC_USER",
    "XMR_WALLET_RPC_PASS",
    "XMR_WALLET_PASS",
    "XMR_DAEMON_URI",
    "DO_TOKEN",
    "DO_API_URL",
    "DO_SSH_KEY",
    "DO_DROPLET_IMAGE",
    "DO_DROPLET_SIZE",
    "DO_DROPLET_STORAGE_GB",
    "DO_VOLUME_PRICE_GB_MONTH",
    "DO_DOMAIN",
    "DO_REGIONS",
    "PRICE_API_URL",
    "PRICE_MAX_AGE_MINUTES",
    "PRICE_MAX_WAIT_HOURS",
    "PRICE_SOURCES",
    "KRAKEN_API_URL",
    "BITFINEX_API_URL",
    "PRICE_MAX_MOVE_PERCENT",
    "NODE_RPC_PORT",
    "NODE_PRUNE",
    "NODE_BEHIND_BLOCKS",
    "MAX_ACTIVE_NODES",
    "MAX_AWAITING_FUNDS",
    "UNFUNDED_EXPIRE_DAYS",
    "LAUNCHPAD_RATE",
    "TRUSTED_PROXY",
    "ORPHAN_MIN_AGE_MINUTES",
    "NODE_REBUILD_HOURS",
    "PENDING_WAIT_HOURS",
    "MM_ENDPOINT",
    "MM_CHANNEL",
    "MM_USERNAME",
    "MM_ICON",
    "WEBHOOK_URL",
    "LAUNCH_SCHEDULE",
    "PAYOUT_SCHEDULE",
    "PAYOUTS_PAUSED",
    "HEALTH_SCHEDULE",
    "RECONCILE_SCHEDULE",
    "BACKUP_SCHEDULE",
    "BACKUP_KEEP",
    "SANDBOX",
];

/// The whole configuration, typed.
#[derive(Debug, Clone)]
pub struct Config {
    pub site_name: String,
    pub server_name: String,
    pub public_url: String,
    pub listen_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub stats_token: Option<Secret>,
    pub admin_ips: Vec<IpBlock>,
    pub launchpad_enabled: bool,
    /// `MGMT_CHARGE_HOUR` in micro-USD per hour.
    pub mgmt_charge_hour: Micro,
    pub payout_address: String,
    /// `PAYOUT_FREQUENCY` in seconds.
    pub payout_frequency_secs: u64,
    /// `MIN_FUNDED_HOURS` in seconds.
    pub min_funded_secs: u64,
    /// `LOW_FUNDS_HOURS` in seconds.
    pub low_funds_secs: u64,
    /// `GRACE_HOURS` in seconds.
    pub grace_secs: u64,
    pub xmr_network: Network,
    pub wallet_rpc_endpoint: String,
    /// `XMR_DAEMON_URI` as a base URL: the monerod the wallet uses, asked
    /// directly whether a stored transaction's inputs were spent and what a
    /// fee costs now (`None`: not set; decisions then rely on the wallet).
    pub xmr_daemon_url: Option<String>,
    pub wallet_rpc_user: String,
    pub wallet_rpc_pass: Secret,
    pub do_token: Option<Secret>,
    pub do_api_url: String,
    pub do_ssh_keys: Vec<String>,
    pub do_droplet_image: String,
    pub do_droplet_size: String,
    pub do_droplet_storage_gb: u32,
    /// `DO_VOLUME_PRICE_GB_MONTH` in micro-USD.
    pub do_volume_price_gb_month: Micro,
    pub do_domain: String,
    pub do_regions: Vec<String>,
    pub price_api_url: String,
    pub kraken_api_url: String,
    pub bitfinex_api_url: String,
    /// `PRICE_SOURCES`: known names, lower case, each once.
    pub price_sources: Vec<String>,
    pub price_max_age_secs: u64,
    pub price_max_wait_secs: u64,
    pub price_max_move_percent: u32,
    pub node_rpc_port: u16,
    pub node_prune: bool,
    pub node_behind_blocks: u64,
    pub max_active_nodes: Option<u32>,
    pub max_awaiting_funds: u32,
    pub unfunded_expire_secs: u64,
    /// `LAUNCHPAD_RATE` as (operations, per seconds).
    pub launchpad_rate: (u32, u64),
    pub trusted_proxy: Option<IpAddr>,
    pub orphan_min_age_secs: u64,
    /// `NODE_REBUILD_HOURS`: a launched node that never reported monerod, or
    /// stayed unreachable, this long is rebuilt on a fresh droplet; 0: never.
    pub node_rebuild_secs: u64,
    pub pending_wait_secs: u64,
    pub mm_endpoint: String,
    pub mm_channel: String,
    pub mm_username: String,
    pub mm_icon: String,
    pub webhook_url: String,
    pub schedules: Schedules,
    pub payouts_paused: bool,
    pub backup_keep: u32,
    /// Resolved `SANDBOX`: true when the simulated clients run.
    pub sandbox: bool,
}

/// Where variables came from, for `config check`.
pub type VarMap = BTreeMap<String, String>;

/// Reads an env file: `KEY=value` lines, `#` comments, optional `export `,
/// Loads the configuration: env file first, the process environment over it.
pub fn load(env_file: Option<&Path>) -> Result<Config, ConfigError> {
    let mut vars = match default_env_file(env_file) {
        Some(p) => read_env_file(&p)?,
        None => VarMap::new(),
    };
    vars.extend(std::env::vars());
    Config::from_vars(&vars)
}

mod env;
mod read;

#[cfg(test)]
use env::parse_env_text;
pub use env::{default_env_file, read_env_file};
pub use read::check_cron;

#[cfg(test)]
mod tests;
