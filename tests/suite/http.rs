//! Pages, bad input, caching, the admin login and the CLI through the admin API.

use crate::support;

use std::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_concurrent_first_views_cause_one_wallet_call() {
    const N: usize = 500;
    let app = support::start(&[]).await;
    let id = app.open("alpha").await;
    let before = app.state.metrics.client_calls("wallet");
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|_| {
            let (http, url, barrier) = (
                app.http.clone(),
                app.url(&format!("/operation/{id}")),
                barrier.clone(),
            );
            tokio::spawn(async move {
                barrier.wait().await;
                http.get(url).send().await.unwrap().status().as_u16()
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(app.state.metrics.client_calls("wallet") - before, 1);
    // With a warm cache, page views make no client call at all.
    let calls = || {
        ["wallet", "cloud", "price", "node"]
            .map(|c| app.state.metrics.client_calls(c))
            .iter()
            .sum::<u64>()
    };
    let warm = calls();
    for path in [
        format!("/operation/{id}"),
        format!("/operation/{id}/payouts"),
        "/".into(),
        "/api/nodes".into(),
        "/launchpad".into(),
        "/info".into(),
    ] {
        for _ in 0..20 {
            assert_eq!(app.get(&path).await.0, 200, "{path}");
        }
    }
    assert_eq!(
        calls(),
        warm,
        "client calls by page views with a warm cache"
    );
    let (_, metrics) = app.get("/metrics").await;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("nodecannon_client_calls_total{client=\"wallet\"}"))
        .unwrap();
    let n: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(
        n,
        app.state.metrics.client_calls("wallet"),
        "counted in /metrics"
    );
}

#[tokio::test]
async fn bad_input_answers_4xx_with_a_message_and_writes_nothing() {
    let app = support::start(&[]).await;
    app.open("taken").await;
    let ops_before = app.state.store.operations().unwrap().len();
    let wallet_before = app.state.metrics.client_calls("wallet");
    for (body, status, says) in [
        (
            "codename=-bad-&region=ams3",
            422,
            "cannot start or end with",
        ),
        ("codename=no_under&region=ams3", 422, "may only use a-z"),
        ("codename=taken&region=ams3", 422, "is taken"),
        ("codename=TAKEN&region=ams3", 422, "is taken"),
        ("codename=fine&region=mars1", 422, "is not a region"),
        (
            "codename=fine&region=ams3&refund_address=nope",
            422,
            "refund address is not valid",
        ),
        ("nonsense", 422, "Choose a codename"),
    ] {
        let (code, _, page) = app.post_form("/launchpad", body).await;
        assert_eq!(code, status, "{body}");
        assert!(page.contains(says), "{body}: page should say {says:?}");
    }
    assert_eq!(
        app.state.store.operations().unwrap().len(),
        ops_before,
        "nothing stored"
    );
    assert_eq!(
        app.state.metrics.client_calls("wallet"),
        wallet_before,
        "no wallet account made"
    );

    let r = app
        .http
        .post(app.url("/launchpad"))
        .body([support::with_csrf("").as_bytes(), b"&c=\xff\xfe"].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 422);
    assert!(r.text().await.unwrap().contains("could not be read"));
    let (code, page) = app.get("/operation/0123456789abcdef0123456789abcdef").await;
    assert_eq!(code, 404);
    assert!(page.contains("There is no operation"));
    // A page number that is not one: the site's own error page says so.
    let taken = app.state.store.operations().unwrap()[0].id.clone();
    for path in [
        "/?page=abc".to_string(),
        format!("/operation/{taken}/payouts?page=-2"),
    ] {
        let (code, page) = app.get(&path).await;
        assert_eq!(code, 422, "{path}");
        assert!(
            page.contains("must be a whole number, like ?page=2"),
            "{path}: {page}"
        );
        assert!(
            page.contains("</html>"),
            "{path}: not the site's page: {page}"
        );
    }
    // Any query a page cannot read: the site's page says so.
    let (code, page) = app.get("/stats?token=a&token=b").await;
    assert_eq!(code, 422);
    assert!(
        page.contains("cannot be read: duplicate field `token`") && page.contains("</html>"),
        "{page}"
    );
    let (code, _, page) = app
        .post_form(
            "/sandbox/operation/0123456789abcdef0123456789abcdef/pay",
            "amount_xmr=1",
        )
        .await;
    assert_eq!(code, 404);
    assert!(page.contains("There is no operation"));
    let id = app.state.store.operations().unwrap()[0].id.clone();
    let (code, _, page) = app
        .post_form(&format!("/sandbox/operation/{id}/pay"), "amount_xmr=lots")
        .await;
    assert_eq!(code, 422);
    assert!(page.contains("is not an XMR amount"));
    let (code, page) = app.get("/no/such/page").await;
    assert_eq!(code, 404);
    assert!(page.contains("There is no page at this address"));
}

#[tokio::test]
async fn every_public_page_renders() {
    let app = support::start(&[]).await;
    let id = app.open("alpha").await;
    for (path, want) in [
        ("/".to_string(), "Nodes in orbit"),
        ("/launchpad".into(), "<select"),
        ("/info".into(), "1 year"),
        (format!("/operation/{id}"), "Minimum to launch"),
        (format!("/operation/{id}/payouts"), "No payout yet"),
        (format!("/operation/{id}/feed.xml"), "<feed"),
        ("/api/nodes".into(), "[]"),
        ("/api/export/ansible".into(), "[nodecannon]"),
        ("/api/export/upstreams".into(), "upstream"),
        ("/metrics".into(), "nodecannon_operations"),
        ("/admin/login".into(), "Admin token"),
        ("/static/style.css".into(), "sandbox-banner"),
    ] {
        let (code, body) = app.get(&path).await;
        assert_eq!(code, 200, "{path}");
        assert!(body.contains(want), "{path} should contain {want}");
        if !path.starts_with("/api")
            && !path.ends_with(".xml")
            && !path.starts_with("/static")
            && path != "/metrics"
        {
            assert!(body.contains("SANDBOX"), "{path} shows the sandbox banner");
            assert!(!body.contains("<script"), "{path} needs no JavaScript");
        }
    }
    let r = app
        .http
        .get(app.url(&format!("/operation/{id}/qr.png")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(&r.bytes().await.unwrap()[1..4], b"PNG");
    let (code, status) = app.get("/status").await;
    let v: serde_json::Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["parts"]["store"]["ok"], true);
    assert_eq!(
        v["parts"]["scheduler"]["ok"], false,
        "the test server runs no scheduler"
    );
    assert_eq!((code, v["status"].as_str()), (503, Some("down")));
}

#[tokio::test]
async fn admin_login_sets_a_session_cookie_and_the_original_stats_route_works() {
    let app = support::start(&[]).await;
    let r = app
        .http
        .post(app.url("/admin/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(support::with_csrf("token=wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = app
        .http
        .post(app.url("/admin/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(support::with_csrf("token=test-admin-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let session = cookie.split(';').next().unwrap().to_string();
    let r = app
        .http
        .get(app.url("/admin"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.text().await.unwrap().contains("Operator dashboard"));
    let r = app
        .http
        .get(app.url("/stats?token=test-admin-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["location"].to_str().unwrap()
        ),
        (303, "/admin")
    );
}

fn ops_list(dir: &std::path::Path, listen: &str) -> String {
    cli(dir, listen, &["ops", "list"])
}

fn cli(dir: &std::path::Path, listen: &str, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_nodecannon"))
        .args(args)
        .env_clear()
        .env("DATA_DIR", dir)
        .env("LISTEN_ADDR", listen)
        .env("STATS_TOKEN", "test-admin-token")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn ops_list_prints_the_same_through_the_server_and_after_it_stopped() {
    let app = support::start(&[]).await;
    let id = app.open("alpha").await;
    app.open("beta").await;
    app.pay(&id, "0.5").await;
    app.advance(600);
    let listen = app.base.trim_start_matches("http://").to_string();
    let dir = app.dir.path().to_path_buf();
    let d = dir.clone();
    let l = listen.clone();
    let through_server = tokio::task::spawn_blocking(move || ops_list(&d, &l))
        .await
        .unwrap();
    assert!(
        through_server.contains("alpha")
            && through_server.contains("beta")
            && through_server.contains("0.5000")
    );
    let _dir = app.stop().await;
    let (d, l) = (dir.clone(), listen.clone());
    let local = tokio::task::spawn_blocking(move || ops_list(&d, &l))
        .await
        .unwrap();
    assert_eq!(through_server, local);
    let (d, l) = (dir.clone(), listen.clone());
    let out = tokio::task::spawn_blocking(move || cli(&d, &l, &["run", "backup"]))
        .await
        .unwrap();
    assert!(out.contains("backup: 1 action(s), 0 error(s)"), "{out}");
    assert_eq!(std::fs::read_dir(dir.join("backups")).unwrap().count(), 1);
    let out = tokio::task::spawn_blocking(move || cli(&dir, &listen, &["ops", "show", "alpha"]))
        .await
        .unwrap();
    assert!(
        out.contains("\"codename\": \"alpha\"") && out.contains("\"events\""),
        "{out}"
    );
}

#[tokio::test]
async fn without_stats_token_an_owner_only_admin_token_file_is_generated() {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = nodecannon::config::VarMap::new();
    vars.insert("DATA_DIR".into(), dir.path().display().to_string());
    let config = nodecannon::config::Config::from_vars(&vars).unwrap();
    let first = nodecannon::app::admin_token(&config).unwrap();
    let path = dir.path().join("admin-token");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), first.expose());
    assert_eq!(
        nodecannon::app::admin_token(&config).unwrap(),
        first,
        "kept across restarts"
    );
    assert!(first.expose().len() >= 32);
}

#[tokio::test]
async fn do_regions_limits_the_regions_a_visitor_can_choose() {
    let app = support::start(&[("DO_REGIONS", "fra1,ams3")]).await;
    let (_, page) = app.get("/launchpad").await;
    assert!(page.contains("value=\"ams3\"") && page.contains("value=\"fra1\""));
    assert!(
        !page.contains("value=\"lon1\""),
        "lon1 is offered by the cloud but not allowed"
    );
    let (code, _, page) = app
        .post_form("/launchpad", "codename=fine&region=lon1")
        .await;
    assert_eq!(code, 422);
    assert!(page.contains("is not a region"));
    assert!(app.state.store.operations().unwrap().is_empty());
}

/// `/metrics` has requests by route and status, client calls, cache hits and
/// misses, job runs and durations, operations by state, XMR held and payouts.
#[tokio::test]
async fn metrics_cover_requests_caches_jobs_operations_money_and_payouts() {
    let app = support::start(&[("PAYOUT_FREQUENCY", "1")]).await;
    let id = app.open("counted").await;
    app.pay(&id, "1").await;
    app.advance(120);
    app.run_job("launch-funded").await;
    app.advance(30);
    app.run_job("launch-funded").await;
    app.advance(3600);
    app.run_job("process-payouts").await;
    for _ in 0..2 {
        let (code, _) = app.get(&format!("/operation/{id}")).await;
        assert_eq!(code, 200);
    }
    let (code, _) = app.get("/no/such/page").await;
    assert_eq!(code, 404);
    let (code, m) = app.get("/metrics").await;
    assert_eq!(code, 200);
    for want in [
        "nodecannon_http_requests_total{route=\"/operation/{id}\",status=\"200\"} 2",
        "nodecannon_http_requests_total{route=\"unmatched\",status=\"404\"} 1",
        "nodecannon_cache_lookups_total{cache=\"accounts\",outcome=\"hit\"}",
        "nodecannon_cache_lookups_total{cache=\"accounts\",outcome=\"miss\"}",
        "nodecannon_client_calls_total{client=\"wallet\"}",
        "nodecannon_job_runs_total{job=\"process-payouts\",outcome=\"ok\"} 1",
        "nodecannon_job_duration_seconds_count{job=\"launch-funded\"} 2",
        "nodecannon_operations{state=\"active\"} 1",
        "nodecannon_payouts_sent_total{kind=\"hosting\"} 1",
        "nodecannon_xmr_accounts_known 1",
    ] {
        assert!(m.contains(want), "missing {want} in\n{m}");
    }
    let held: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("nodecannon_xmr_held_piconero "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        held > 0 && held < 1_000_000_000_000,
        "1 XMR less the payout: {held}"
    );
}
