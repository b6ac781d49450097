//! An operation: one visitor's paid node, from first payment to the end.

use serde::{Deserialize, Serialize};

use super::Timestamp;
use super::state::State;

/// The cloud resources of a launched node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Volume id (`op-<id>`).
    pub volume_id: Option<String>,
    /// Droplet id.
    pub droplet_id: Option<u64>,
    /// Public IPv4 of the droplet, once known.
    pub ipv4: Option<String>,
    /// Public IPv6 of the droplet, once known.
    pub ipv6: Option<String>,
    /// DNS record ids (A, AAAA).
    pub dns_records: Vec<u64>,
}

/// Where a launch stands; each step's resource id is stored with it. Steps
/// compare in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaunchStep {
    Volume,
    Droplet,
    Addresses,
    Dns,
    Done,
}

/// An operation as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// 32 lowercase hex characters.
    pub id: String,
    pub codename: String,
    pub region: String,
    pub refund_address: Option<String>,
    pub created_at: Timestamp,
    pub state: State,
    pub state_since: Timestamp,
    /// The wallet account that holds this operation's funds; never reused.
    pub account_index: u32,
    /// The account's address: the funding address.
    pub address: String,
    /// Shown on the page beside the state, e.g. a launch step that keeps failing.
    pub problem: Option<String>,
    /// Seconds up to this time are paid for. Set when the droplet is created.
    pub billed_until: Option<Timestamp>,
    pub resources: Resources,
    pub launch_step: Option<LaunchStep>,
    /// When the node was last launched.
    pub launched_at: Option<Timestamp>,
    /// Secret the node uses to report back (`POST /api/nodes/{id}/report`).
    pub node_token: String,
    pub onion: Option<String>,
    /// Whether any transfer was ever seen (an operation that never got one expires).
    pub funds_seen: bool,
    /// Since when a payout found the money short but pending transfers coming.
    pub short_since: Option<Timestamp>,
    /// Boot steps the node reported.
    pub node_reports: Vec<(Timestamp, String)>,
    /// Launch steps that failed in a row, and when the next try may run.
    #[serde(default)]
    pub launch_failures: u32,
    #[serde(default)]
    pub launch_retry_at: Option<Timestamp>,
    /// When DigitalOcean first answered 404 for this operation's droplet
    /// (`GET /v2/droplets/{id}`); it counts as gone only after a second 404
    /// at least `ORPHAN_MIN_AGE_MINUTES` later.
    #[serde(default)]
    pub droplet_missing_since: Option<Timestamp>,
    /// Droplets this operation ran on and gave up (rebuilt on a fresh one):
    /// never adopted again, destroyed while still listed. The last few.
    #[serde(default)]
    pub retired_droplets: Vec<u64>,
    /// How many times the node was rebuilt on a fresh droplet.
    #[serde(default)]
    pub rebuilds: u32,
}

/// Failed launch steps in a row after which the operator is told (the
/// launch keeps its place and keeps being retried).
pub const LAUNCH_FAILURES_TOLD: u32 = 5;

/// How long after the `n`th failure in a row a launch step is tried again:
/// 1 min, doubling, at most an hour.
pub fn launch_backoff_secs(n: u32) -> i64 {
    (60_i64 << n.saturating_sub(1).min(6)).min(3600)
}

/// What a new operation is made from.
#[derive(Debug, Clone)]
pub struct NewOperation {
    pub id: String,
    pub codename: String,
    pub region: String,
    pub refund_address: Option<String>,
    pub account_index: u32,
    pub address: String,
    pub node_token: String,
}

impl Operation {
    /// A new operation, awaiting funds.
    pub fn new(n: NewOperation, now: Timestamp) -> Self {
        Self {
            id: n.id,
            codename: n.codename,
            region: n.region,
            refund_address: n.refund_address,
            created_at: now,
            state: State::AwaitingFunds,
            state_since: now,
            account_index: n.account_index,
            address: n.address,
            problem: None,
            billed_until: None,
            resources: Resources::default(),
            launch_step: None,
            launched_at: None,
            node_token: n.node_token,
            onion: None,
            funds_seen: false,
            short_since: None,
            node_reports: Vec::new(),
            launch_failures: 0,
            launch_retry_at: None,
            droplet_missing_since: None,
            retired_droplets: Vec::new(),
            rebuilds: 0,
        }
    }

    /// Moves to `to` (if the state machine allows it) at `now`.
    pub fn go(&mut self, to: State, now: Timestamp) -> Result<(), super::state::InvalidTransition> {
        self.state = self.state.go(to)?;
        self.state_since = now;
        Ok(())
    }

    /// The DNS name of the node.
    pub fn dns_name(&self, domain: &str) -> String {
        format!("{}.node.{domain}", self.codename)
    }
    /// The volume name.
    pub fn volume_name(&self) -> String {
        format!("op-{}", self.id)
    }
    /// The per-operation tag.
    pub fn tag(&self) -> String {
        format!("nodecannon-op-{}", self.id)
    }
}

/// Checks an operation id: 32 lowercase hex characters.
pub fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An operation for tests, on an account of its own (derived from its id).
#[cfg(test)]
pub fn sample(id: &str, codename: &str) -> Operation {
    let account_index = id
        .bytes()
        .fold(1u32, |a, b| a.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 1_000_000
        + 1;
    Operation::new(
        NewOperation {
            id: id.into(),
            codename: codename.into(),
            region: "ams3".into(),
            refund_address: None,
            account_index,
            address: format!("sandbox-{account_index}"),
            node_token: "t".into(),
        },
        1_000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(valid_id("0123456789abcdef0123456789abcdef"));
        assert!(!valid_id("0123456789ABCDEF0123456789abcdef"));
        assert!(!valid_id("short"));
    }
}
