//! Probing a launched node's `get_info`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The fields of monerod's `get_info` the app uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    pub height: u64,
    pub target_height: u64,
    pub synchronized: bool,
    pub incoming_connections_count: u32,
    pub outgoing_connections_count: u32,
    pub database_size: u64,
    pub status: String,
}

/// Why a probe failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("node unreachable: {0}")]
pub struct NodeError(pub String);

/// Probes nodes.
#[async_trait]
pub trait NodeProbe: Send + Sync {
    /// `get_info` of the node at `ip`, on the restricted RPC `port`.
    async fn get_info(&self, ip: &str, port: u16) -> Result<NodeInfo, NodeError>;
}

/// What a probe's result means for the node's status (`None`: unreachable).
pub fn probe_of(info: &Option<NodeInfo>) -> crate::domain::health::Probe {
    match info {
        Some(i) => crate::domain::health::Probe {
            reachable: true,
            height: i.height,
            target_height: i.target_height,
            synchronized: i.synchronized,
        },
        None => crate::domain::health::Probe {
            reachable: false,
            height: 0,
            target_height: 0,
            synchronized: false,
        },
    }
}
