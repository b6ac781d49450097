//! Simulated monerod nodes: unreachable while the droplet boots, then syncing
//! for [`SYNC_SECS`], then synced at a height that grows with time.

use async_trait::async_trait;

use super::{BOOT_SECS, Ctx, SandboxCloud};
use crate::clients::node::{NodeError, NodeInfo, NodeProbe};

/// The simulated nodes.
pub struct SandboxNode(pub(super) Ctx);

/// Seconds after boot before monerod answers.
pub const START_SECS: i64 = 30;
/// Seconds a simulated node takes to sync.
pub const SYNC_SECS: i64 = 600;

/// The simulated chain's height at `now` (a block every two minutes).
pub fn chain_height(now: i64) -> u64 {
    3_000_000 + (now.max(0) / 120) as u64 % 1_000_000
}

#[async_trait]
impl NodeProbe for SandboxNode {
    async fn get_info(&self, ip: &str, _port: u16) -> Result<NodeInfo, NodeError> {
        self.0.metrics.client_call("node");
        let now = self.0.clock.now();
        let ip = ip.to_string();
        self.0
            .run(NodeError, move |s| {
                let droplets =
                    SandboxCloud::droplets_raw(s).map_err(|e| NodeError(e.to_string()))?;
                let d = droplets
                    .into_iter()
                    .find(|d| d.ipv4.as_deref() == Some(ip.as_str()))
                    .ok_or_else(|| NodeError(format!("no route to host {ip}")))?;
                let up = now - d.created_at - BOOT_SECS - START_SECS;
                if up < 0 {
                    return Err(NodeError("connection refused".into()));
                }
                let target = chain_height(now);
                let height = if up >= SYNC_SECS {
                    target
                } else {
                    target * up as u64 / SYNC_SECS as u64
                };
                Ok(NodeInfo {
                    height,
                    target_height: target,
                    synchronized: up >= SYNC_SECS,
                    incoming_connections_count: (up / 60).min(24) as u32,
                    outgoing_connections_count: 12,
                    database_size: 40_000_000_000 * height / target.max(1),
                    status: "OK".into(),
                })
            })
            .await
    }
}
