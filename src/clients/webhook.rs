//! Real operator notices: a Mattermost incoming webhook (`MM_ENDPOINT`,
//! `MM_CHANNEL`, `MM_USERNAME`, `MM_ICON`) and a generic JSON webhook
//! (`WEBHOOK_URL`).
//!
//! [`Notifier::notify`] never waits on the network: each target has its own
//! bounded queue and a background task that posts the notices in order,
//! retrying connect errors, timeouts, 5xx and 429 with exponential backoff
//! and jitter. When a queue is full the notice is dropped and logged. Webhook
//! URLs carry a secret path, so logs only ever name a target's scheme and host.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, watch};

use crate::clients::notify::{Notice, Notifier};
use crate::domain::Timestamp;
use crate::metrics::Metrics;

/// Where notices go.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    /// A Mattermost incoming webhook; empty optional fields are left out of the body.
    Mattermost {
        url: String,
        channel: String,
        username: String,
        icon_url: String,
    },
    /// A generic webhook: the notice as JSON plus `"at"`.
    Generic { url: String },
}

impl Target {
    /// The kind of target, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Mattermost { .. } => "mattermost",
            Target::Generic { .. } => "webhook",
        }
    }

    /// The URL posted to (a secret: never log it, log [`Target::redacted`]).
    pub fn url(&self) -> &str {
        match self {
            Target::Mattermost { url, .. } | Target::Generic { url } => url,
        }
    }

    /// Scheme and host of the URL only: safe to log.
    pub fn redacted(&self) -> String {
        redact(self.url())
    }

    /// The JSON body posted for `notice`, which happened at `at`.
    pub fn body(&self, notice: &Notice, at: Timestamp) -> Value {
        match self {
            Target::Mattermost {
                channel,
                username,
                icon_url,
                ..
            } => {
                let mut m = Map::new();
                m.insert("text".into(), Value::String(mattermost_text(notice)));
                for (k, v) in [
                    ("channel", channel),
                    ("username", username),
                    ("icon_url", icon_url),
                ] {
                    if !v.is_empty() {
                        m.insert(k.into(), Value::String(v.clone()));
                    }
                }
                Value::Object(m)
            }
            Target::Generic { .. } => {
                let mut v =
                    serde_json::to_value(notice).unwrap_or_else(|_| Value::Object(Map::new()));
                if let Value::Object(m) = &mut v {
                    m.insert("at".into(), Value::from(at));
                }
                v
            }
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.kind(), self.redacted())
    }
}

/// The Mattermost message text of a notice.
fn mattermost_text(n: &Notice) -> String {
    match (&n.codename, &n.op_id) {
        (Some(c), _) => format!("**{}** `{c}`: {}", n.kind, n.message),
        (None, Some(id)) => format!("**{}** operation `{id}`: {}", n.kind, n.message),
        (None, None) => format!("**{}**: {}", n.kind, n.message),
    }
}

/// `scheme://host[:port]` of a URL, without path, query or credentials.
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            (None, _) => format!("{}://", u.scheme()),
        },
        Err(_) => "<invalid url>".to_string(),
    }
}

/// How notices are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Attempts per notice and target, the first included.
    pub attempts: u32,
    /// Wait before the first retry; doubled at each retry.
    pub base: Duration,
    /// Longest wait between attempts.
    pub cap: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Notices waiting per target before new ones are dropped.
    pub queue: usize,
}

impl Default for Delivery {
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            queue: 1000,
        }
    }
}

impl Delivery {
    /// The same policy with another backoff base (tests use milliseconds).
    pub fn with_backoff(self, base: Duration) -> Self {
        Self { base, ..self }
    }

    /// The wait after failed attempt `failed` (1 for the first): `base·2^(failed-1)`
    /// capped at `cap`, then jittered into its upper half by `random`.
    pub fn backoff(&self, failed: u32, random: u64) -> Duration {
        let exp = 2u32.saturating_pow(failed.saturating_sub(1));
        let full = self.base.saturating_mul(exp).min(self.cap);
        let half = full / 2;
        let span = u64::try_from((full - half).as_nanos()).unwrap_or(u64::MAX);
        let jitter = random % span.saturating_add(1);
        half + Duration::from_nanos(jitter)
    }
}

/// One queued notice and when it happened.
struct Queued {
    notice: Notice,
    at: Timestamp,
}

/// One target's queue.
struct Lane {
    kind: &'static str,
    redacted: String,
    tx: mpsc::Sender<Queued>,
}

/// Posts notices to Mattermost and/or a generic webhook in the background.
pub struct WebhookNotifier {
    lanes: Vec<Lane>,
    /// Notices queued or being delivered, all targets together.
    pending: Arc<watch::Sender<usize>>,
}

impl WebhookNotifier {
    /// Starts one background task per target with the default [`Delivery`].
    /// Needs a Tokio runtime.
    pub fn start(http: reqwest::Client, targets: Vec<Target>, metrics: Arc<Metrics>) -> Self {
        Self::start_with(http, targets, metrics, Delivery::default())
    }

    /// Starts one background task per target with the given delivery policy.
    /// Needs a Tokio runtime.
    pub fn start_with(
        http: reqwest::Client,
        targets: Vec<Target>,
        metrics: Arc<Metrics>,
        delivery: Delivery,
    ) -> Self {
        let pending = Arc::new(watch::Sender::new(0usize));
        let lanes = targets
            .into_iter()
            .map(|target| {
                let (tx, rx) = mpsc::channel(delivery.queue.max(1));
                let lane = Lane {
                    kind: target.kind(),
                    redacted: target.redacted(),
                    tx,
                };
                let worker = Worker {
                    http: http.clone(),
                    target,
                    metrics: metrics.clone(),
                    delivery,
                    pending: pending.clone(),
                };
                tokio::spawn(worker.run(rx));
                lane
            })
            .collect();
        Self { lanes, pending }
    }

    /// Notices queued or being delivered.
    pub fn pending(&self) -> usize {
        *self.pending.borrow()
    }

    /// Waits until every queued notice was delivered or given up, at most
    /// `within`. True when the queues are empty.
    pub async fn flush(&self, within: Duration) -> bool {
        let mut rx = self.pending.subscribe();
        matches!(
            tokio::time::timeout(within, async { rx.wait_for(|n| *n == 0).await.is_ok() }).await,
            Ok(true)
        )
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, n: &Notice) {
        tracing::info!(kind = %n.kind, codename = ?n.codename, "notice: {}", n.message);
        // When the notice was sent, in wall-clock time (it leaves the process).
        let at = crate::clock::Clock::now(&crate::clock::SystemClock);
        for lane in &self.lanes {
            self.pending.send_modify(|p| *p += 1);
            let queued = Queued {
                notice: n.clone(),
                at,
            };
            if let Err(e) = lane.tx.try_send(queued) {
                self.pending.send_modify(|p| *p -= 1);
                let why = match e {
                    mpsc::error::TrySendError::Full(_) => "queue full",
                    mpsc::error::TrySendError::Closed(_) => "sender stopped",
                };
                tracing::warn!(
                    target_kind = lane.kind,
                    host = %lane.redacted,
                    kind = %n.kind,
                    codename = ?n.codename,
                    "notice dropped ({why}): {}",
                    n.message
                );
            }
        }
    }

    async fn flush(&self, within: Duration) -> bool {
        WebhookNotifier::flush(self, within).await
    }
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    Retry(String),
    GiveUp(String),
}

/// Delivers one target's queue.
struct Worker {
    http: reqwest::Client,
    target: Target,
    metrics: Arc<Metrics>,
    delivery: Delivery,
    pending: Arc<watch::Sender<usize>>,
}

impl Worker {
    async fn run(self, mut rx: mpsc::Receiver<Queued>) {
        while let Some(q) = rx.recv().await {
            self.deliver(&q).await;
            self.pending.send_modify(|p| *p = p.saturating_sub(1));
        }
    }

    async fn deliver(&self, q: &Queued) {
        let body = self.target.body(&q.notice, q.at);
        let attempts = self.delivery.attempts.max(1);
        let mut made = 0;
        let reason = loop {
            made += 1;
            match self.attempt(&body).await {
                Attempt::Delivered => return,
                Attempt::GiveUp(why) => break why,
                Attempt::Retry(why) if made >= attempts => break why,
                Attempt::Retry(why) => {
                    let wait = self.delivery.backoff(made, random());
                    tracing::debug!(
                        target_kind = self.target.kind(),
                        host = %self.target.redacted(),
                        attempt = made,
                        ?wait,
                        "notice not delivered yet, retrying: {why}"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        };
        tracing::warn!(
            target_kind = self.target.kind(),
            host = %self.target.redacted(),
            attempts = made,
            kind = %q.notice.kind,
            codename = ?q.notice.codename,
            "notice given up: {reason}"
        );
    }

    async fn attempt(&self, body: &Value) -> Attempt {
        self.metrics.client_call("notify");
        let sent = self
            .http
            .post(self.target.url())
            .timeout(self.delivery.timeout)
            .json(body)
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    Attempt::Delivered
                } else if status.is_server_error() || status.as_u16() == 429 {
                    Attempt::Retry(format!("HTTP {status}"))
                } else {
                    Attempt::GiveUp(format!("HTTP {status}"))
                }
            }
            // A bad URL never gets better; anything on the wire may.
            Err(e) if e.is_builder() => Attempt::GiveUp(error_chain(e)),
            Err(e) => Attempt::Retry(error_chain(e)),
        }
    }
}

/// An error and its causes, without the URL.
fn error_chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut s = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

/// Randomness for the jitter; none when the OS will not give any.
fn random() -> u64 {
    getrandom::u64().unwrap_or(0)
}

#[cfg(test)]
mod tests;
