//! Notices to the operator (Mattermost, webhook) about operations.

use async_trait::async_trait;
use serde::Serialize;

/// One notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    pub op_id: Option<String>,
    pub codename: Option<String>,
    pub kind: String,
    pub message: String,
}

/// Sends notices. Failing to notify never stops a job: it is logged.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Queues a notice; never waits for its delivery.
    async fn notify(&self, notice: &Notice);
    /// Waits at most `within` for queued notices to go out (shutdown, tests);
    /// true when none is left.
    async fn flush(&self, _within: std::time::Duration) -> bool {
        true
    }
}

/// Keeps notices in the log only.
pub struct LogNotifier;

#[async_trait]
impl Notifier for LogNotifier {
    async fn notify(&self, n: &Notice) {
        tracing::info!(kind = %n.kind, codename = ?n.codename, "notice: {}", n.message);
    }
}
