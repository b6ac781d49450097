//! What a node's last probe means for its users.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// A node's status as shown on the index and in `/api/nodes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeStatus {
    Booting,
    Syncing,
    Synced,
    Behind,
    Unreachable,
}

impl NodeStatus {
    /// The name in JSON.
    pub fn as_str(&self) -> &'static str {
        match self {
            NodeStatus::Booting => "booting",
            NodeStatus::Syncing => "syncing",
            NodeStatus::Synced => "synced",
            NodeStatus::Behind => "behind",
            NodeStatus::Unreachable => "unreachable",
        }
    }
}

/// The facts of one probe.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    pub reachable: bool,
    pub height: u64,
    pub target_height: u64,
    pub synchronized: bool,
}

/// Grace after a launch during which an unreachable node is still booting.
pub const BOOT_GRACE_SECS: i64 = 30 * 60;

/// Classifies a node from its last probe (if any), its launch time and the
/// best height known among all nodes.
pub fn classify(
    probe: Option<Probe>,
    launched_at: Timestamp,
    now: Timestamp,
    best_height: u64,
    behind_blocks: u64,
) -> NodeStatus {
    match probe {
        None => NodeStatus::Booting,
        Some(p) if !p.reachable => {
            if now - launched_at < BOOT_GRACE_SECS {
                NodeStatus::Booting
            } else {
                NodeStatus::Unreachable
            }
        }
        Some(p) if !p.synchronized => NodeStatus::Syncing,
        Some(p) if best_height.saturating_sub(p.height) >= behind_blocks && behind_blocks > 0 => {
            NodeStatus::Behind
        }
        Some(_) => NodeStatus::Synced,
    }
}

/// Sync progress in whole percent.
pub fn sync_percent(height: u64, target: u64) -> u64 {
    height
        .min(target)
        .saturating_mul(100)
        .checked_div(target)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(reachable: bool, height: u64, synced: bool) -> Option<Probe> {
        Some(Probe {
            reachable,
            height,
            target_height: 100,
            synchronized: synced,
        })
    }

    #[test]
    fn statuses() {
        assert_eq!(classify(None, 0, 10, 0, 10), NodeStatus::Booting);
        assert_eq!(
            classify(p(false, 0, false), 0, 60, 0, 10),
            NodeStatus::Booting
        );
        assert_eq!(
            classify(p(false, 0, false), 0, BOOT_GRACE_SECS, 0, 10),
            NodeStatus::Unreachable
        );
        assert_eq!(
            classify(p(true, 50, false), 0, 10, 100, 10),
            NodeStatus::Syncing
        );
        assert_eq!(
            classify(p(true, 100, true), 0, 10, 105, 10),
            NodeStatus::Synced
        );
        assert_eq!(
            classify(p(true, 90, true), 0, 10, 100, 10),
            NodeStatus::Behind
        );
        assert_eq!(sync_percent(50, 200), 25);
    }
}
