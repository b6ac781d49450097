//! The market price oracle against a fake CoinGecko and Kraken (axum on port 0).

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use nodecannon::clients::PriceOracle;
use nodecannon::clients::market::{MarketPrice, Source};
use nodecannon::clock::ManualClock;
use nodecannon::metrics::Metrics;
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Fake {
    gecko: Arc<Mutex<Option<Value>>>,
    kraken: Arc<Mutex<Option<Value>>>,
}

async fn answer(v: &Arc<Mutex<Option<Value>>>) -> Result<Json<Value>, StatusCode> {
    v.lock()
        .unwrap()
        .clone()
        .map(Json)
        .ok_or(StatusCode::BAD_GATEWAY)
}

async fn fake() -> (String, Fake) {
    let f = Fake::default();
    let app = Router::new()
        .route(
            "/api/v3/simple/price",
            get(|State(f): State<Fake>| async move { answer(&f.gecko).await }),
        )
        .route(
            "/0/public/Ticker",
            get(|State(f): State<Fake>| async move { answer(&f.kraken).await }),
        )
        .with_state(f.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, f)
}

fn oracle(base: &str, clock: Arc<ManualClock>) -> MarketPrice {
    MarketPrice::new(
        reqwest::Client::new(),
        vec![Source::CoinGecko(base.into()), Source::Kraken(base.into())],
        clock,
        Arc::new(Metrics::default()),
    )
}

#[tokio::test]
async fn the_median_of_the_sources_that_answer_timed_by_the_oldest() {
    let (base, f) = fake().await;
    let clock = Arc::new(ManualClock::new(2_000));
    let o = oracle(&base, clock);
    *f.gecko.lock().unwrap() =
        Some(json!({ "monero": { "usd": 150.0, "last_updated_at": 1_900 } }));
    *f.kraken.lock().unwrap() =
        Some(json!({ "error": [], "result": { "XXMRZUSD": { "c": ["160.00000000", "0.5"] } } }));
    let q = o.xmr_usd().await.unwrap();
    assert_eq!((q.usd, q.at), (155_000_000, 1_900));

    // One source down: the other alone.
    *f.gecko.lock().unwrap() = None;
    let q = o.xmr_usd().await.unwrap();
    assert_eq!((q.usd, q.at), (160_000_000, 2_000));

    // Kraken's own error list, and a nonsense price: no price, with each reason.
    *f.kraken.lock().unwrap() =
        Some(json!({ "error": ["EQuery:Unknown asset pair"], "result": {} }));
    *f.gecko.lock().unwrap() = Some(json!({ "monero": { "usd": -3.0 } }));
    let e = o.xmr_usd().await.unwrap_err().to_string();
    assert!(
        e.contains("coingecko") && e.contains("kraken") && e.contains("Unknown asset pair"),
        "{e}"
    );
}

/// What the market says, judged by the price guard: a stale source and a
/// jump out of bounds stop decisions; a sane price resumes them.
#[tokio::test]
async fn stale_and_out_of_bounds_market_prices_stop_decisions() {
    use nodecannon::domain::price_guard::{PriceState, Rules, Verdict};
    let (base, f) = fake().await;
    let clock = Arc::new(ManualClock::new(100_000));
    let o = oracle(&base, clock.clone());
    let rules = Rules {
        max_age_secs: 3600,
        max_move_percent: 50,
        max_wait_secs: 12 * 3600,
    };
    let mut guard = PriceState::default();
    let gecko =
        |usd: f64, at: i64| Some(json!({ "monero": { "usd": usd, "last_updated_at": at } }));
    *f.kraken.lock().unwrap() = None;

    *f.gecko.lock().unwrap() = gecko(150.0, 99_000);
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), 100_000, &rules);
    assert!(matches!(v, Verdict::Use(q) if q.usd == 150_000_000));

    // CoinGecko stopped updating two hours ago.
    *f.gecko.lock().unwrap() = gecko(151.0, 100_000 - 7200);
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), 100_000, &rules);
    assert!(
        matches!(v, Verdict::Wait(ref w) if w.contains("120 min old")),
        "{v:?}"
    );

    // A broken feed says XMR is worth 10x: held.
    *f.gecko.lock().unwrap() = gecko(1500.0, 100_000);
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), 100_000, &rules);
    assert!(
        matches!(v, Verdict::Wait(ref w) if w.contains("held")),
        "{v:?}"
    );
    assert_eq!(guard.accepted.unwrap().usd, 150_000_000);

    // Both down: still no decision, and the last accepted price is kept.
    *f.gecko.lock().unwrap() = None;
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), 100_060, &rules);
    assert!(matches!(v, Verdict::Wait(_)), "{v:?}");

    // A sane price again.
    *f.gecko.lock().unwrap() = gecko(152.0, 100_100);
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), 100_120, &rules);
    assert!(
        matches!(v, Verdict::Use(q) if q.usd == 152_000_000),
        "{v:?}"
    );
    assert_eq!(guard.trouble, None);
}
