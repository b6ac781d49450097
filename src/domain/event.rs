//! Events: what happened to an operation, when and why. The operation page's
//! timeline, its Atom feed and the admin's audit trail come from them.

use serde::{Deserialize, Serialize};

use super::Timestamp;

/// What kind of thing happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Created,
    FundsSeen,
    Funded,
    LaunchStep,
    Launched,
    Payout,
    LowFunds,
    FundsRestored,
    Ended,
    Closed,
    Cancelled,
    Expired,
    Revived,
    Refund,
    Problem,
    NodeReport,
    Reconcile,
    Rebuilt,
}

impl EventKind {
    /// Whether visitors following the feed want to hear about it.
    pub fn is_notice(&self) -> bool {
        !matches!(self, EventKind::LaunchStep | EventKind::NodeReport)
    }
}

/// One entry of an operation's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub op_id: String,
    pub at: Timestamp,
    pub kind: EventKind,
    pub message: String,
}
