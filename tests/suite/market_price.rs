//! The market price oracle against a fake CoinGecko, Kraken and Bitfinex
//! (axum on port 0) answering good, stale, wrong, 5xx and truncated answers;
//! and what `/status` and `/admin` say about each source.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use nodecannon::clients::PriceOracle;
use nodecannon::clients::market::{MarketPrice, Source};
use nodecannon::clients::price::{PriceReport, Said};
use nodecannon::clock::ManualClock;
use nodecannon::config::{Config, VarMap};
use nodecannon::domain::price_guard::{PriceState, Rules, Verdict};
use nodecannon::metrics::Metrics;
use serde_json::{Value, json};

/// 2026-01-01 00:00 UTC.
const NOW: i64 = 1_767_225_600;
const MAX_AGE: i64 = 3600;

/// What one fake source answers.
#[derive(Clone, Debug)]
enum Answer {
    Json(Value),
    Status(u16),
    /// A body cut off mid-way.
    Truncated,
}

#[derive(Clone)]
struct Fake {
    gecko: Arc<Mutex<Answer>>,
    kraken: Arc<Mutex<Answer>>,
    bitfinex: Arc<Mutex<Answer>>,
    /// The query of every request, in order.
    queries: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    fn set(&self, gecko: Answer, kraken: Answer, bitfinex: Answer) {
        *self.gecko.lock().unwrap() = gecko;
        *self.kraken.lock().unwrap() = kraken;
        *self.bitfinex.lock().unwrap() = bitfinex;
    }
}

fn respond(a: &Arc<Mutex<Answer>>) -> Response {
    match a.lock().unwrap().clone() {
        Answer::Json(v) => axum::Json(v).into_response(),
        Answer::Status(s) => (StatusCode::from_u16(s).unwrap(), "down").into_response(),
        Answer::Truncated => (
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"monero": {"usd": 150.0, "last_upd"#,
        )
            .into_response(),
    }
}

async fn fake() -> (String, Fake) {
    let f = Fake {
        gecko: Arc::new(Mutex::new(Answer::Status(502))),
        kraken: Arc::new(Mutex::new(Answer::Status(502))),
        bitfinex: Arc::new(Mutex::new(Answer::Status(502))),
        queries: Default::default(),
    };
    let route = |pick: fn(&Fake) -> &Arc<Mutex<Answer>>| {
        get(
            move |State(f): State<Fake>, RawQuery(q): RawQuery| async move {
                f.queries.lock().unwrap().push(q.unwrap_or_default());
                respond(pick(&f))
            },
        )
    };
    let app = Router::new()
        .route("/api/v3/simple/price", route(|f| &f.gecko))
        .route("/0/public/Trades", route(|f| &f.kraken))
        .route("/v2/trades/tXMRUSD/hist", route(|f| &f.bitfinex))
        .with_state(f.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, f)
}

/// CoinGecko's simple price, updated at `at`.
fn gecko(usd: f64, at: i64) -> Answer {
    Answer::Json(json!({ "monero": { "usd": usd, "last_updated_at": at } }))
}

/// Kraken's recent trades: one trade at `at` (fractional seconds, as Kraken gives).
fn kraken(usd: f64, at: i64) -> Answer {
    Answer::Json(json!({ "error": [], "result": {
        "XXMRZUSD": [[format!("{usd:.8}"), "0.50000000", at as f64 + 0.25, "b", "m", "", 4242]],
        "last": format!("{at}250000000"),
    } }))
}

/// Bitfinex's public trades: `[[ID, MTS, AMOUNT, PRICE]]`, MTS in ms.
fn bitfinex(usd: f64, at: i64) -> Answer {
    Answer::Json(json!([[1_234_567, at * 1000 + 500, -0.25, usd]]))
}

fn oracle(base: &str, names: &[&str], clock: Arc<ManualClock>) -> MarketPrice {
    let sources = names
        .iter()
        .map(|n| match *n {
            "coingecko" => Source::CoinGecko(base.into()),
            "kraken" => Source::Kraken(base.into()),
            "bitfinex" => Source::Bitfinex(base.into()),
            other => panic!("{other}"),
        })
        .collect();
    MarketPrice::new(
        reqwest::Client::new(),
        sources,
        MAX_AGE,
        clock,
        Arc::new(Metrics::default()),
    )
}

const ALL: &[&str] = &["coingecko", "kraken", "bitfinex"];

fn said<'a>(r: &'a PriceReport, source: &str) -> &'a Said {
    &r.sources.iter().find(|s| s.source == source).unwrap().said
}

#[tokio::test]
async fn three_sources_give_their_median_each_timed_by_its_own_clock() {
    let (base, f) = fake().await;
    let o = oracle(&base, ALL, Arc::new(ManualClock::new(NOW)));
    f.set(
        gecko(150.0, NOW - 120),
        kraken(151.0, NOW - 30),
        bitfinex(150.5, NOW - 5),
    );
    let r = o.report().await;
    let q = r.median.clone().unwrap();
    // The median, timed by the oldest quote used.
    assert_eq!((q.usd, q.at), (150_500_000, NOW - 120));
    assert!(r.sources.iter().all(|s| s.is_fine()), "{r:?}");
    assert_eq!(r.asked_at, NOW);
    // What each endpoint was asked: one last trade is enough.
    let asked = f.queries.lock().unwrap().clone();
    assert!(
        asked.contains(&"pair=XMRUSD&count=1".to_string()),
        "{asked:?}"
    );
    assert!(asked.contains(&"limit=1".to_string()), "{asked:?}");
}

/// (a) One source at half the price: with two sources there is no price
/// (decisions wait), not their mean.
#[tokio::test]
async fn two_sources_one_at_half_the_price_give_no_price_not_their_mean() {
    let (base, f) = fake().await;
    let o = oracle(
        &base,
        &["coingecko", "kraken"],
        Arc::new(ManualClock::new(NOW)),
    );
    f.set(
        gecko(150.0, NOW - 60),
        kraken(75.0, NOW - 10),
        Answer::Status(502),
    );
    let e = o.xmr_usd().await.unwrap_err().to_string();
    assert!(
        e.contains("coingecko said $150.00") && e.contains("kraken $75.00"),
        "{e}"
    );
    // The guard, which had accepted $150, decides nothing on it.
    let rules = Rules {
        max_age_secs: MAX_AGE,
        max_move_percent: 50,
        max_wait_secs: 12 * 3600,
    };
    let mut guard = PriceState::default();
    f.set(
        gecko(150.0, NOW - 60),
        kraken(150.5, NOW - 10),
        Answer::Status(502),
    );
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), NOW, &rules);
    assert!(
        matches!(v, Verdict::Use(q) if q.usd == 150_250_000),
        "{v:?}"
    );
    f.set(
        gecko(150.0, NOW - 60),
        kraken(75.0, NOW - 10),
        Answer::Status(502),
    );
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), NOW + 60, &rules);
    assert!(
        matches!(v, Verdict::Wait(ref w) if w.contains("more than 5 % apart")),
        "{v:?}"
    );
    assert_eq!(guard.accepted.unwrap().usd, 150_250_000);
}

/// (b) Three sources, one wrong: the median is the right price, and the
/// wrong one is named.
#[tokio::test]
async fn three_sources_with_one_wrong_give_the_right_price() {
    let (base, f) = fake().await;
    let o = oracle(&base, ALL, Arc::new(ManualClock::new(NOW)));
    // Low or high, the wrong one is never the middle: the median is a right price.
    for (wrong, right) in [(75.0, 150_000_000), (1500.0, 151_000_000)] {
        f.set(
            gecko(150.0, NOW - 60),
            kraken(wrong, NOW - 10),
            bitfinex(151.0, NOW - 20),
        );
        let r = o.report().await;
        assert_eq!(r.median.clone().map(|q| q.usd), Ok(right), "{r:?}");
        assert!(matches!(said(&r, "kraken"), Said::Disagrees(_)), "{r:?}");
        assert!(r.summary().contains("kraken $"), "{}", r.summary());
    }
}

/// (c) A source stuck at an old price: dropped from the median by its own
/// time, and named with the time it is stale since.
#[tokio::test]
async fn a_source_whose_own_time_is_old_is_dropped_and_named() {
    let (base, f) = fake().await;
    let o = oracle(&base, ALL, Arc::new(ManualClock::new(NOW)));
    f.set(
        gecko(150.0, NOW - 60),
        kraken(151.0, NOW - 10),
        bitfinex(10.0, NOW - 2 * 3600),
    );
    let r = o.report().await;
    let q = r.median.clone().unwrap();
    assert_eq!((q.usd, q.at), (150_500_000, NOW - 60));
    assert_eq!(
        said(&r, "bitfinex"),
        &Said::Stale(nodecannon::clients::Quote {
            usd: 10_000_000,
            at: NOW - 2 * 3600
        })
    );
    assert!(
        r.summary()
            .contains("bitfinex: stale since 2025-12-31 22:00 UTC ($10.00)"),
        "{}",
        r.summary()
    );
    // Two of three stale: one fresh source is not enough.
    f.set(
        gecko(150.0, NOW - 60),
        kraken(151.0, NOW - 3 * 3600),
        bitfinex(10.0, NOW - 2 * 3600),
    );
    let e = o.xmr_usd().await.unwrap_err().0;
    assert!(
        e.contains("only coingecko") && e.contains("kraken: stale since"),
        "{e}"
    );
}

/// (d) Kraken's quote is timed by its last trade, not by when it was asked.
#[tokio::test]
async fn kraken_quotes_carry_kraken_s_time_not_now() {
    let (base, f) = fake().await;
    let clock = Arc::new(ManualClock::new(NOW));
    let o = oracle(&base, &["kraken"], clock.clone());
    f.set(
        Answer::Status(502),
        kraken(151.0, NOW - 600),
        Answer::Status(502),
    );
    let q = o.xmr_usd().await.unwrap();
    assert_eq!((q.usd, q.at), (151_000_000, NOW - 600));
    // Its last trade two hours ago: stale, however fast it answers.
    clock.set(NOW + 2 * 3600);
    let r = o.report().await;
    assert!(matches!(said(&r, "kraken"), Said::Stale(_)), "{r:?}");
    assert!(r.median.is_err());
}

#[tokio::test]
async fn failing_sources_are_named_with_why() {
    let (base, f) = fake().await;
    let o = oracle(&base, ALL, Arc::new(ManualClock::new(NOW)));
    // A 5xx, a truncated answer, and a trade without a time (no longer "now").
    f.set(
        Answer::Status(503),
        Answer::Truncated,
        Answer::Json(json!([[1, null, 0.1, 150.0]])),
    );
    let e = o.xmr_usd().await.unwrap_err().0;
    for w in [
        "no source gave a fresh price",
        "coingecko: HTTP 503",
        "kraken: not JSON",
        "bitfinex: no time in the answer",
    ] {
        assert!(e.contains(w), "{w} missing in {e}");
    }
    // Kraken's and Bitfinex's own errors, and a price that is not one.
    f.set(
        Answer::Json(json!({ "monero": { "usd": -3.0, "last_updated_at": NOW } })),
        Answer::Json(json!({ "error": ["EQuery:Unknown asset pair"], "result": {} })),
        Answer::Json(json!(["error", 10020, "symbol: invalid"])),
    );
    let e = o.xmr_usd().await.unwrap_err().0;
    for w in ["-3 is not a price", "Unknown asset pair", "symbol: invalid"] {
        assert!(e.contains(w), "{w} missing in {e}");
    }
    // A CoinGecko answer without its time is refused, not stamped now.
    f.set(
        Answer::Json(json!({ "monero": { "usd": 150.0 } })),
        kraken(150.0, NOW),
        bitfinex(150.0, NOW),
    );
    let r = o.report().await;
    assert_eq!(
        said(&r, "coingecko"),
        &Said::Failed("no time in the answer".into())
    );
    assert_eq!(r.median.map(|q| q.usd), Ok(150_000_000));
}

/// What the market says, judged by the price guard: a stale market and a
/// jump out of bounds stop decisions; a sane price resumes them.
#[tokio::test]
async fn stale_and_out_of_bounds_market_prices_stop_decisions() {
    let (base, f) = fake().await;
    let clock = Arc::new(ManualClock::new(NOW));
    let o = oracle(&base, ALL, clock.clone());
    let rules = Rules {
        max_age_secs: MAX_AGE,
        max_move_percent: 50,
        max_wait_secs: 12 * 3600,
    };
    let mut guard = PriceState::default();
    let all = |usd: f64, at: i64| (gecko(usd, at), kraken(usd, at), bitfinex(usd, at));
    let set = |(g, k, b): (Answer, Answer, Answer)| f.set(g, k, b);

    set(all(150.0, NOW - 60));
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), NOW, &rules);
    assert!(
        matches!(v, Verdict::Use(q) if q.usd == 150_000_000),
        "{v:?}"
    );

    // The whole market stopped updating two hours ago.
    set(all(151.0, NOW - 7200));
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), NOW, &rules);
    assert!(
        matches!(v, Verdict::Wait(ref w) if w.contains("no source gave a fresh price") && w.contains("stale since")),
        "{v:?}"
    );

    // Every feed says XMR is worth 10x: held.
    set(all(1500.0, NOW));
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), NOW, &rules);
    assert!(
        matches!(v, Verdict::Wait(ref w) if w.contains("held")),
        "{v:?}"
    );
    assert_eq!(guard.accepted.unwrap().usd, 150_000_000);

    // All down: still no decision, and the last accepted price is kept.
    f.set(
        Answer::Status(500),
        Answer::Status(500),
        Answer::Status(500),
    );
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), NOW + 60, &rules);
    assert!(matches!(v, Verdict::Wait(_)), "{v:?}");

    // A sane price again.
    clock.set(NOW + 120);
    set(all(152.0, NOW + 100));
    let v = guard.judge(o.xmr_usd().await.map_err(|e| e.0), NOW + 120, &rules);
    assert!(
        matches!(v, Verdict::Use(q) if q.usd == 152_000_000),
        "{v:?}"
    );
    assert_eq!(guard.trouble, None);
}

fn vars(pairs: &[(&str, &str)]) -> VarMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn three_sources_by_default_and_unknown_ones_are_refused_by_name() {
    let c = Config::from_vars(&VarMap::new()).unwrap();
    assert_eq!(c.price_sources, ["coingecko", "kraken", "bitfinex"]);
    assert_eq!(c.bitfinex_api_url, "https://api-pub.bitfinex.com");
    let c = Config::from_vars(&vars(&[
        ("PRICE_SOURCES", "Kraken, bitfinex"),
        ("BITFINEX_API_URL", "http://127.0.0.1:9/"),
    ]))
    .unwrap();
    assert_eq!(c.price_sources, ["kraken", "bitfinex"]);
    assert_eq!(c.bitfinex_api_url, "http://127.0.0.1:9");
    let e = Config::from_vars(&vars(&[("PRICE_SOURCES", "coingecko,binance")])).unwrap_err();
    assert_eq!(e.var, "PRICE_SOURCES");
    assert!(
        e.message.contains("\"binance\"") && e.message.contains("coingecko, kraken, bitfinex"),
        "{}",
        e.message
    );
    let e = Config::from_vars(&vars(&[("PRICE_SOURCES", "kraken,kraken")])).unwrap_err();
    assert!(e.message.contains("twice"), "{}", e.message);
}

/// `/status` and `/admin` name the source that is stale, failing or wrong,
/// with the price each fresh one gave.
#[tokio::test]
async fn status_and_admin_name_each_source_and_what_it_said() {
    let (base, f) = fake().await;
    f.set(
        gecko(150.0, NOW - 60),
        Answer::Status(502),
        bitfinex(151.0, NOW - 30),
    );
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let config = Config::from_vars(&vars(&[
        ("DATA_DIR", &dir.path().display().to_string()),
        ("LISTEN_ADDR", &addr.to_string()),
        ("STATS_TOKEN", "price-admin-token"),
    ]))
    .unwrap();
    let clock = Arc::new(ManualClock::new(NOW));
    let st = nodecannon::app::AppState::build_with(config, clock.clone(), |store, c, metrics| {
        let sb = nodecannon::sandbox::Sandbox::new(store.clone(), c.clone(), metrics.clone());
        Ok(nodecannon::app::Clients {
            wallet: sb.wallet.clone(),
            cloud: sb.cloud.clone(),
            price: Arc::new(oracle(&base, ALL, clock.clone())),
            node: sb.node.clone(),
            notifier: Arc::new(nodecannon::clients::notify::LogNotifier),
            sandbox: None,
        })
    })
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(nodecannon::server::run_with(
        st,
        listener,
        async move {
            let _ = stopped.await;
        },
        false,
    ));
    let http = reqwest::Client::new();
    let status: Value = http
        .get(format!("http://{addr}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let detail = status["parts"]["price"]["detail"].as_str().unwrap();
    assert_eq!(status["parts"]["price"]["ok"], true, "{status}");
    assert!(
        detail.starts_with("150500000 µUSD/XMR (from coingecko $150.00, bitfinex $151.00)")
            && detail.contains("kraken: HTTP 502"),
        "{detail}"
    );
    let admin = http
        .get(format!("http://{addr}/admin"))
        .bearer_auth("price-admin-token")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for w in ["XMR price sources", "$150.50", "$151.00", "HTTP 502"] {
        assert!(admin.contains(w), "/admin lacks {w}");
    }
    let _ = stop.send(());
    let _ = server.await;
}
