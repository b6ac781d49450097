//! A launched node as its users see it: a real regtest monerod stands in for
//! the node (the fake DigitalOcean boots the droplet at 127.0.0.1 and
//! `NODE_RPC_PORT` points at monerod), probed by the real HTTP probe. And the
//! report endpoint the node's bootstrap calls.

use crate::support;

use std::sync::Arc;

use nodecannon::clients::node::HttpNodeProbe;
use nodecannon::domain::state::State;
use nodecannon::metrics::Metrics;
use serde_json::Value;
use support::fake_do::{DOMAIN, FakeDo};
use support::monero::Regtest;

async fn json(app: &support::TestApp, path: &str) -> (u16, Value) {
    let (code, body) = app.get(path).await;
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// A node launched on the fake cloud at 127.0.0.1, probed for real.
async fn launched(rt: &Regtest, fake: &FakeDo) -> (support::TestApp, String) {
    fake.state().boot_ipv4 = Some("127.0.0.1".into());
    let cloud: Arc<dyn nodecannon::clients::Cloud> = Arc::new(fake.client());
    let probe: Arc<dyn nodecannon::clients::NodeProbe> = Arc::new(HttpNodeProbe::new(
        reqwest::Client::new(),
        Arc::new(Metrics::default()),
    ));
    let port = rt.daemon_port.to_string();
    let app = support::start_with_cloud_and_nodes(
        &[
            ("NODE_RPC_PORT", &port),
            ("DO_DOMAIN", DOMAIN),
            ("MIN_FUNDED_HOURS", "24"),
        ],
        cloud,
        probe,
    )
    .await;
    // The fake cloud dates droplets by the wall clock; start the app's there.
    app.clock.set(chrono::Utc::now().timestamp());
    let id = app.open("lighthouse").await;
    app.pay(&id, "5").await;
    app.advance(120);
    app.run_job("launch-funded").await;
    fake.boot_all();
    app.advance(60);
    app.run_job("launch-funded").await;
    assert_eq!(app.op(&id).state, State::Active);
    (app, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_monerod_is_synced_then_unreachable_then_back_on_the_index_and_the_api() {
    let mut rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(5, &main).await;
    let fake = FakeDo::start().await;
    let (app, id) = launched(&rt, &fake).await;

    // Before any probe: booting, and no live probe from a request.
    let (code, _) = json(&app, "/api/info/lighthouse").await;
    assert_eq!(code, 404, "no information before the health job ran");
    let (_, nodes) = json(&app, "/api/nodes").await;
    assert_eq!(nodes[0]["status"], "booting");

    app.run_job("health").await;
    let (code, info) = json(&app, "/api/info/lighthouse").await;
    assert_eq!(code, 200, "{info}");
    assert_eq!(info["status"], "synced", "{info}");
    assert_eq!(info["info"]["height"], 6, "{info}");
    assert_eq!(info["info"]["synchronized"], true);
    let (_, nodes) = json(&app, "/api/nodes").await;
    assert_eq!(nodes[0]["codename"], "lighthouse");
    assert_eq!(nodes[0]["status"], "synced");
    assert_eq!(nodes[0]["height"], 6);
    let (_, index) = app.get("/").await;
    assert!(
        index.contains("lighthouse.node.") && index.contains(">synced<"),
        "{index}"
    );
    assert!(
        index.contains("<div class=\"probes\"><svg viewBox=\"0 0 119 14\"")
            && index.contains("role=\"img\" aria-label=\"First probe, ")
            && index.contains("<small>first probe:\u{a0}answered</small>"),
        "the index shows a strip of the node's probes and says it as text: {index}"
    );
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(page.contains("synced"), "the operation page shows it too");
    let history = app.state.store.health(&id).unwrap();
    assert_eq!(history.len(), 1);
    assert!(history[0].reachable && history[0].synchronized && history[0].height == 6);

    // monerod stops: after the boot grace, unreachable since the first failed probe.
    rt.stop_daemon();
    app.advance(31 * 60);
    let down_at = nodecannon::clock::Clock::now(&*app.clock);
    app.run_job("health").await;
    app.advance(60);
    app.run_job("health").await;
    let (_, info) = json(&app, "/api/info/lighthouse").await;
    assert_eq!(info["status"], "unreachable", "{info}");
    assert_eq!(
        info["unreachable_since"],
        nodecannon::clock::rfc3339(down_at),
        "{info}"
    );
    let (_, index) = app.get("/").await;
    assert!(
        index.contains(&format!(
            "unreachable since {}",
            nodecannon::clock::human(down_at)
        )),
        "{index}"
    );

    // And back.
    rt.start_daemon().await;
    app.advance(60);
    app.run_job("health").await;
    let (_, info) = json(&app, "/api/info/lighthouse").await;
    assert_eq!(info["status"], "synced", "{info}");
    assert_eq!(info["unreachable_since"], Value::Null);
    assert_eq!(app.state.store.health(&id).unwrap().len(), 4);
    // The operation page: a chart of the probes, and its figures as text.
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(page.contains("<svg class=\"chart\""), "{page}");
    assert!(page.contains("Answered 2 of 4 probes (50 %)"), "{page}");
    assert!(page.contains("height 6 (100 % synced)"), "{page}");
    // The index: the four probes on the right of its strip (two of them
    // missed, in the status column's colours), and the same as text.
    let (_, index) = app.get("/").await;
    let missed = down_at + 60;
    let day = |t| chrono::DateTime::from_timestamp(t, 0).map(|d| d.date_naive());
    let missed_at = if day(missed) == day(missed + 60) {
        chrono::DateTime::from_timestamp(missed, 0)
            .map(|d| d.format("%H:%M UTC").to_string())
            .unwrap_or_default()
    } else {
        nodecannon::clock::human(missed)
    };
    assert!(
        index.contains(&format!(
            "<small>first 4 probes: 2\u{a0}answered, <span>last missed {}</span></small>",
            missed_at.replace(" UTC", "\u{a0}UTC")
        )) && index.contains("2 synced, 2 no answer")
            && index.contains("<path class=\"unreachable\" d=\"M105 0h4v14h-4zM110 0h4v14h-4z\"")
            && index.contains("<path class=\"synced\" d=\"M100 0h4v14h-4zM115 0h4v14h-4z\""),
        "{index}"
    );
    // The strip is kept by the operation's generation (the next views read
    // no history); the next probe moves the generation, so it is read anew.
    let before = app.state.store.generation_of(&id);
    app.advance(60);
    app.run_job("health").await;
    assert!(app.state.store.generation_of(&id) > before);
    let (_, index) = app.get("/").await;
    assert!(index.contains("first 5 probes: 3\u{a0}answered"), "{index}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_report_endpoint_wants_the_token_a_known_operation_a_small_body_and_each_step_once() {
    let app = support::start(&[]).await;
    let id = app.open("beacon").await;
    app.pay(&id, "5").await;
    app.advance(120);
    app.run_job("launch-funded").await;
    app.advance(60);
    app.run_job("launch-funded").await;
    let token = app.op(&id).node_token;
    let post = |path: String, token: String, body: String| {
        let http = app.http.clone();
        let url = app.url(&path);
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap();
            let code = r.status().as_u16();
            if code >= 400 {
                eprintln!("{code}: {}", r.text().await.unwrap_or_default());
            }
            code
        }
    };
    let report = format!("/api/nodes/{id}/report");
    let events = || app.state.store.events(&id).unwrap().len();
    let before = events();

    assert_eq!(
        post(report.clone(), "wrong".into(), "step=docker".into()).await,
        401
    );
    assert_eq!(
        post(
            "/api/nodes/00000000000000000000000000000000/report".into(),
            token.clone(),
            "step=docker".into()
        )
        .await,
        404
    );
    let big = format!("step={}", "a".repeat(4096));
    assert_eq!(post(report.clone(), token.clone(), big).await, 413);
    assert_eq!(events(), before, "refused reports change nothing");

    assert_eq!(
        post(report.clone(), token.clone(), "step=docker".into()).await,
        204
    );
    assert_eq!(
        post(report.clone(), token.clone(), "step=docker".into()).await,
        409,
        "each step once"
    );
    let onion = format!("onion={}.onion", "a".repeat(56));
    assert_eq!(
        post(report.clone(), token.clone(), onion.clone()).await,
        204
    );
    assert_eq!(post(report.clone(), token.clone(), onion).await, 409);
    assert_eq!(events(), before + 2);
    let op = app.op(&id);
    assert_eq!(op.node_reports.len(), 1);
    let (_, index) = app.get("/").await;
    assert!(
        index.contains(&format!("{}.onion", "a".repeat(56))),
        "onion on the index"
    );
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(page.contains("docker"), "the step on the operation page");
}
