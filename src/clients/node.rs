//! Probing a launched node's `get_info`.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// The fields of monerod's `get_info` the app uses.
/// Fields a node leaves out (a restricted RPC may) read as zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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

/// Probes a node's restricted RPC over HTTP with a short timeout.
pub struct HttpNodeProbe {
    http: reqwest::Client,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    timeout: std::time::Duration,
}

impl HttpNodeProbe {
    pub fn new(http: reqwest::Client, metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        Self {
            http,
            metrics,
            timeout: std::time::Duration::from_secs(5),
        }
    }

    /// The same probe with another deadline for the whole answer.
    pub fn with_timeout(self, timeout: std::time::Duration) -> Self {
        Self { timeout, ..self }
    }
}

#[async_trait]
impl NodeProbe for HttpNodeProbe {
    async fn get_info(&self, ip: &str, port: u16) -> Result<NodeInfo, NodeError> {
        self.metrics.client_call("node");
        let host = match ip.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
            Ok(v4) => v4.to_string(),
            Err(_) => return Err(NodeError(format!("{ip:?} is not an IP address"))),
        };
        let body = serde_json::json!({ "jsonrpc": "2.0", "id": "0", "method": "get_info" });
        let resp = self
            .http
            .post(format!("http://{host}:{port}/json_rpc"))
            .json(&body)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| NodeError(e.without_url().to_string()))?;
        if let Some(why) = crate::clients::body::redirect_refused(&resp) {
            return Err(NodeError(why));
        }
        if !resp.status().is_success() {
            return Err(NodeError(format!("HTTP {}", resp.status().as_u16())));
        }
        // get_info is about 1 KB.
        let bytes = crate::clients::body::read_capped(resp, 64 * 1024)
            .await
            .map_err(NodeError)?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| NodeError(format!("not JSON: {e}")))?;
        parse_get_info(&v)
    }
}

/// Reads monerod's `get_info` answer. No I/O, so hostile answers are tested
/// without a node (`tests/suite/hostile_input/`).
pub fn parse_get_info(v: &serde_json::Value) -> Result<NodeInfo, NodeError> {
    serde_json::from_value(v["result"].clone())
        .map_err(|e| NodeError(format!("unexpected get_info answer: {e}")))
}

/// What a node reported about its boot, cleaned for the operation's timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeReport {
    /// The step, in `A-Z a-z 0-9 -_.` and spaces, at most 64 characters; may be empty.
    pub step: String,
    /// The node's onion address, only if it looks like one.
    pub onion: Option<String>,
}

/// Reads the body of `POST /api/nodes/{id}/report`: JSON or a form with
/// `step` and optionally `onion`. The error tells the node what to send.
pub fn parse_report(body: &str) -> Result<NodeReport, String> {
    #[derive(Deserialize)]
    struct Report {
        #[serde(default)]
        step: String,
        #[serde(default)]
        onion: Option<String>,
    }
    let r: Report = serde_json::from_str(body)
        .or_else(|_| serde_urlencoded::from_str(body))
        .map_err(|_| {
            "expected step=... (and optionally onion=...) as a form or JSON".to_string()
        })?;
    let step: String = r
        .step
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " -_.".contains(*c))
        .take(64)
        .collect();
    let onion = r.onion.filter(|o| {
        o.ends_with(".onion")
            && o.len() <= 70
            && o.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
    });
    if step.is_empty() && onion.is_none() {
        return Err("nothing to report: give step or onion".into());
    }
    Ok(NodeReport { step, onion })
}
