//! Operator notices against a fake Mattermost and generic webhook (axum on port 0).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use nodecannon::clients::notify::{Notice, Notifier};
use nodecannon::clients::webhook::{Delivery, Target, WebhookNotifier};
use nodecannon::metrics::Metrics;
use serde_json::{Value, json};

/// One request the fake received, and what it answered.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    body: Value,
    status: u16,
}

#[derive(Clone, Default)]
struct Fake {
    hits: Arc<Mutex<Vec<Hit>>>,
    /// Statuses to answer, in order; 200 once empty.
    script: Arc<Mutex<VecDeque<u16>>>,
}

impl Fake {
    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

async fn hook(State(f): State<Fake>, uri: Uri, body: Bytes) -> StatusCode {
    let status = f.script.lock().unwrap().pop_front().unwrap_or(200);
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    f.hits.lock().unwrap().push(Hit {
        path: uri.path().to_string(),
        body,
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

async fn fake(script: &[u16]) -> (String, Fake) {
    let f = Fake::default();
    f.script.lock().unwrap().extend(script.iter().copied());
    let app = Router::new().fallback(hook).with_state(f.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, f)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Retries in milliseconds, not seconds.
fn fast() -> Delivery {
    Delivery::default().with_backoff(Duration::from_millis(1))
}

fn notice() -> Notice {
    Notice {
        op_id: Some("op-7".into()),
        codename: Some("quiet-heron".into()),
        kind: "low_funds".into(),
        message: "12 hours left".into(),
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test]
async fn a_notice_reaches_mattermost_and_the_generic_webhook() {
    let (base, f) = fake(&[]).await;
    let metrics = Arc::new(Metrics::default());
    let targets = vec![
        Target::Mattermost {
            url: format!("{base}/hooks/s3cr3t"),
            channel: "ops".into(),
            username: "nodecannon".into(),
            icon_url: String::new(),
        },
        Target::Generic {
            url: format!("{base}/generic"),
        },
    ];
    let n = WebhookNotifier::start_with(http(), targets, metrics.clone(), fast());
    let before = now();
    n.notify(&notice()).await;
    assert!(n.flush(Duration::from_secs(10)).await, "not delivered");
    let after = now();

    let hits = f.hits();
    assert_eq!(hits.len(), 2, "{hits:?}");
    let mm = hits.iter().find(|h| h.path == "/hooks/s3cr3t").unwrap();
    assert_eq!(
        mm.body,
        json!({
            "text": "**low_funds** `quiet-heron`: 12 hours left",
            "channel": "ops",
            "username": "nodecannon",
        })
    );
    let generic = hits.iter().find(|h| h.path == "/generic").unwrap();
    let at = generic.body["at"].as_i64().expect("an integer at");
    assert!(
        (before..=after).contains(&at),
        "at {at} not in {before}..={after}"
    );
    assert_eq!(
        generic.body,
        json!({
            "op_id": "op-7",
            "codename": "quiet-heron",
            "kind": "low_funds",
            "message": "12 hours left",
            "at": at,
        })
    );
    assert_eq!(metrics.client_calls("notify"), 2);
    assert_eq!(n.pending(), 0);
}

#[tokio::test]
async fn a_server_error_is_retried_and_the_notice_lands_once() {
    let (base, f) = fake(&[500]).await;
    let metrics = Arc::new(Metrics::default());
    let targets = vec![Target::Generic {
        url: format!("{base}/generic"),
    }];
    let n = WebhookNotifier::start_with(http(), targets, metrics.clone(), fast());
    n.notify(&notice()).await;
    assert!(n.flush(Duration::from_secs(10)).await, "not delivered");

    let hits = f.hits();
    let statuses: Vec<u16> = hits.iter().map(|h| h.status).collect();
    assert_eq!(statuses, [500, 200]);
    assert_eq!(hits[0].body, hits[1].body);
    assert_eq!(hits[1].body["message"], "12 hours left");
    assert_eq!(metrics.client_calls("notify"), 2);

    // The next notice goes through at once, the retried one is not sent again.
    let mut second = notice();
    second.message = "6 hours left".into();
    n.notify(&second).await;
    assert!(n.flush(Duration::from_secs(10)).await);
    let messages: Vec<Value> = f.hits().iter().map(|h| h.body["message"].clone()).collect();
    assert_eq!(messages, ["12 hours left", "12 hours left", "6 hours left"]);
}

#[tokio::test]
async fn rate_limits_are_retried_and_retries_are_bounded() {
    // 429 then 503 then fine: three attempts.
    let (base, f) = fake(&[429, 503]).await;
    let metrics = Arc::new(Metrics::default());
    let url = format!("{base}/generic");
    let n = WebhookNotifier::start_with(
        http(),
        vec![Target::Generic { url: url.clone() }],
        metrics.clone(),
        fast(),
    );
    n.notify(&notice()).await;
    assert!(n.flush(Duration::from_secs(10)).await);
    let statuses: Vec<u16> = f.hits().iter().map(|h| h.status).collect();
    assert_eq!(statuses, [429, 503, 200]);

    // A server that keeps failing: five attempts, then the notice is given up.
    let (base, f) = fake(&[502; 10]).await;
    let metrics = Arc::new(Metrics::default());
    let n = WebhookNotifier::start_with(
        http(),
        vec![Target::Generic {
            url: format!("{base}/generic"),
        }],
        metrics.clone(),
        fast(),
    );
    n.notify(&notice()).await;
    assert!(n.flush(Duration::from_secs(10)).await, "never gave up");
    assert_eq!(f.hits().len(), 5);
    assert_eq!(metrics.client_calls("notify"), 5);
}

#[tokio::test]
async fn a_connection_refused_is_retried() {
    // A port nobody listens on any more.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let metrics = Arc::new(Metrics::default());
    let delivery = Delivery {
        attempts: 3,
        ..fast()
    };
    let n = WebhookNotifier::start_with(
        http(),
        vec![Target::Mattermost {
            url: format!("http://{addr}/hooks/s3cr3t"),
            channel: String::new(),
            username: String::new(),
            icon_url: String::new(),
        }],
        metrics.clone(),
        delivery,
    );
    n.notify(&notice()).await;
    assert!(n.flush(Duration::from_secs(10)).await, "never gave up");
    assert_eq!(metrics.client_calls("notify"), 3);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    // Were the 400 retried, the 200 behind it would be recorded too.
    let (base, f) = fake(&[400]).await;
    let metrics = Arc::new(Metrics::default());
    let n = WebhookNotifier::start_with(
        http(),
        vec![Target::Mattermost {
            url: format!("{base}/hooks/s3cr3t"),
            channel: String::new(),
            username: String::new(),
            icon_url: String::new(),
        }],
        metrics.clone(),
        fast(),
    );
    n.notify(&notice()).await;
    assert!(n.flush(Duration::from_secs(10)).await);
    let statuses: Vec<u16> = f.hits().iter().map(|h| h.status).collect();
    assert_eq!(statuses, [400]);
    assert_eq!(metrics.client_calls("notify"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_returns_at_once_when_the_server_never_answers() {
    // Accepts connections and never answers them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            held.push(socket);
        }
    });

    let delivery = Delivery {
        queue: 10,
        ..Delivery::default()
    };
    let targets = vec![
        Target::Mattermost {
            url: format!("http://{addr}/hooks/s3cr3t"),
            channel: String::new(),
            username: String::new(),
            icon_url: String::new(),
        },
        Target::Generic {
            url: format!("http://{addr}/generic"),
        },
    ];
    let n = WebhookNotifier::start_with(http(), targets, Arc::new(Metrics::default()), delivery);

    // The first notice is taken by each target's task, which then hangs on the server.
    let t = Instant::now();
    n.notify(&notice()).await;
    assert!(
        t.elapsed() < Duration::from_millis(100),
        "took {:?}",
        t.elapsed()
    );
    let waited = Instant::now();
    while accepted.load(Ordering::SeqCst) < 2 {
        assert!(
            waited.elapsed() < Duration::from_secs(5),
            "no request reached the server"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // More notices than the queues hold: each call still returns at once,
    // the surplus is dropped.
    for _ in 0..50 {
        let t = Instant::now();
        n.notify(&notice()).await;
        assert!(
            t.elapsed() < Duration::from_millis(100),
            "took {:?}",
            t.elapsed()
        );
    }
    // Per target: one in flight plus a full queue.
    assert_eq!(n.pending(), 2 * (1 + 10));
    assert!(
        !n.flush(Duration::from_millis(50)).await,
        "nothing should be delivered"
    );
}
