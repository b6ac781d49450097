//! Each `run <job>` has an effect a test can see.

use crate::support;

use nodecannon::clients::cloud::DropletSpec;
use nodecannon::domain::state::State;

async fn launched(app: &support::TestApp, name: &str) -> String {
    let id = app.open(name).await;
    app.pay(&id, "1").await;
    app.advance(120);
    app.run_job("launch-funded").await;
    app.advance(30);
    app.run_job("launch-funded").await;
    assert_eq!(app.op(&id).state, State::Active);
    id
}

#[tokio::test]
async fn backup_writes_a_file_that_opens_as_a_database() {
    let app = support::start(&[]).await;
    let id = app.open("alpha").await;
    let out = app.run_job("backup").await;
    assert_eq!(out["actions"].as_array().unwrap().len(), 1);
    let backups: Vec<_> = std::fs::read_dir(app.dir.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(backups.len(), 1);
    let restored = tempfile::tempdir().unwrap();
    nodecannon::store::restore_from(&backups[0], restored.path()).unwrap();
    let s = nodecannon::store::Store::open(restored.path(), 0).unwrap();
    assert_eq!(s.find_operation("alpha").unwrap().unwrap().id, id);
}

#[tokio::test]
async fn backups_beyond_backup_keep_are_removed() {
    let app = support::start(&[("BACKUP_KEEP", "2")]).await;
    for _ in 0..4 {
        app.run_job("backup").await;
        app.advance(3600);
    }
    assert_eq!(
        std::fs::read_dir(app.dir.path().join("backups"))
            .unwrap()
            .count(),
        2
    );
}

#[tokio::test]
async fn reconcile_destroys_an_old_orphan_and_keeps_tracked_droplets() {
    let app = support::start(&[]).await;
    let id = launched(&app, "alpha").await;
    let spec = DropletSpec {
        name: "stray".into(),
        region: "ams3".into(),
        size: "s-2vcpu-4gb".into(),
        image: "x".into(),
        ssh_keys: vec![],
        user_data: String::new(),
        volume_ids: vec![],
        tags: vec!["nodecannon".into()],
    };
    let orphan = app.state.clients.cloud.create_droplet(&spec).await.unwrap();
    let out = app.run_job("reconcile").await;
    assert!(
        out["actions"].as_array().unwrap().is_empty(),
        "a young orphan is left alone: {out}"
    );
    app.advance(31 * 60);
    let r = app
        .http
        .post(app.url("/admin/jobs/reconcile?dry_run=1"))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    let dry: serde_json::Value = r.json().await.unwrap();
    assert!(
        dry["actions"]
            .to_string()
            .contains("would destroy orphan droplet")
    );
    assert!(
        app.state
            .clients
            .cloud
            .droplet(orphan.id)
            .await
            .unwrap()
            .is_some(),
        "dry run changes nothing"
    );
    app.run_job("reconcile").await;
    assert!(
        app.state
            .clients
            .cloud
            .droplet(orphan.id)
            .await
            .unwrap()
            .is_none(),
        "orphan destroyed"
    );
    let tracked = app.op(&id).resources.droplet_id.unwrap();
    assert!(
        app.state
            .clients
            .cloud
            .droplet(tracked)
            .await
            .unwrap()
            .is_some(),
        "tracked droplet kept"
    );
}

#[tokio::test]
async fn reconcile_sends_an_operation_whose_droplet_vanished_back_to_funded() {
    let app = support::start(&[]).await;
    let id = launched(&app, "alpha").await;
    let droplet = app.op(&id).resources.droplet_id.unwrap();
    app.advance(60);
    app.run_job("health").await;
    let status = |body: String| {
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v[0]["status"].as_str().unwrap().to_string()
    };
    assert_eq!(status(app.get("/api/nodes").await.1), "syncing");
    app.state
        .clients
        .cloud
        .destroy_droplet(droplet)
        .await
        .unwrap();
    // Gone only after DigitalOcean's own 404, twice, ORPHAN_MIN_AGE_MINUTES
    // (30) apart: billing goes on meanwhile.
    app.run_job("reconcile").await;
    assert_eq!(app.op(&id).state, State::Active);
    app.advance(29 * 60);
    app.run_job("reconcile").await;
    assert_eq!(app.op(&id).state, State::Active);
    app.advance(60);
    app.run_job("reconcile").await;
    assert_eq!(app.op(&id).state, State::Funded);
    app.run_job("launch-funded").await;
    app.advance(30);
    app.run_job("launch-funded").await;
    assert_eq!(app.op(&id).state, State::Active, "relaunched");
    // The new droplet shows no probe of the destroyed one.
    assert_eq!(status(app.get("/api/nodes").await.1), "booting");
}

#[tokio::test]
async fn health_changes_a_node_status_as_it_boots_and_syncs() {
    let app = support::start(&[]).await;
    launched(&app, "alpha").await;
    let status = |v: serde_json::Value| v[0]["status"].as_str().unwrap().to_string();
    let (_, body) = app.get("/api/nodes").await;
    assert_eq!(
        status(serde_json::from_str(&body).unwrap()),
        "booting",
        "no probe yet"
    );
    let (code, _) = app.get("/api/info/alpha").await;
    assert_eq!(code, 404);
    app.advance(60);
    app.run_job("health").await;
    let (_, body) = app.get("/api/nodes").await;
    assert_eq!(status(serde_json::from_str(&body).unwrap()), "syncing");
    app.advance(15 * 60);
    app.run_job("health").await;
    let (_, body) = app.get("/api/nodes").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status(v.clone()), "synced");
    assert_eq!(v[0]["synchronized"], true);
    let (code, info) = app.get("/api/info/alpha").await;
    assert_eq!(code, 200);
    assert!(info.contains("\"height\""));
}

#[tokio::test]
async fn unknown_jobs_and_missing_tokens_are_refused() {
    let app = support::start(&[]).await;
    let r = app
        .http
        .post(app.url("/admin/jobs/nope"))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().await.unwrap().contains("launch-funded"));
    let r = app
        .http
        .post(app.url("/admin/jobs/backup"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = app.http.get(app.url("/admin")).send().await.unwrap();
    assert_eq!(
        (
            r.status().as_u16(),
            r.headers()["location"].to_str().unwrap()
        ),
        (303, "/admin/login")
    );
}

#[tokio::test]
async fn a_wallet_that_does_not_match_the_store_stops_money_jobs_and_says_why() {
    let app = support::start(&[]).await;
    let id = app.open("alpha").await;
    assert!(
        nodecannon::jobs::accounts::check_wallet(&app.state)
            .await
            .is_ok()
    );
    // The store now claims an address the wallet does not have (another wallet file).
    app.state
        .store
        .write(|tx| {
            let mut op = tx.op(&id)?;
            op.address = "SANDBOX9999xsomebody-else".into();
            tx.put_op(&op)?;
            tx.event(
                &id,
                0,
                nodecannon::domain::event::EventKind::Problem,
                "test: address changed",
            )
        })
        .unwrap();
    let why = nodecannon::jobs::accounts::check_wallet(&app.state)
        .await
        .unwrap_err();
    assert!(why.contains("alpha"), "{why}");
    let (code, out) = app.post_job("process-payouts").await;
    assert_eq!(code, 503);
    assert!(
        out["error"].to_string().contains("wrong wallet file"),
        "{out}"
    );
    let (code, status) = app.get("/status").await;
    assert_eq!(code, 503);
    assert!(status.contains("wrong wallet file"));
    assert!(
        status.contains("wallet repair"),
        "the operator is told how to repair"
    );
    app.run_job("health").await;
}

/// Issue 17: with the real scheduler and every job on the same 2-second
/// schedule, no pass is dropped: while a long money pass holds the money
/// lock, health and backup keep running and the money jobs wait and run
/// after it (ticks meanwhile coalesce into one pending pass each), and
/// `/status` names no job overdue. (The old scheduler dropped every pass
/// that found another running: health and reconcile ran 0 times in 25 s.)
#[tokio::test(flavor = "multi_thread")]
async fn the_real_scheduler_runs_every_job_even_when_their_ticks_collide() {
    use nodecannon::jobs::Job;
    let every = "*/2 * * * * *";
    let app = support::start(&[
        ("LAUNCH_SCHEDULE", every),
        ("PAYOUT_SCHEDULE", every),
        ("HEALTH_SCHEDULE", every),
        ("RECONCILE_SCHEDULE", every),
        ("BACKUP_SCHEDULE", every),
    ])
    .await;
    let st = app.state.clone();
    let runs = |j: Job| st.metrics.job_runs(j.name());
    let mut sched = nodecannon::scheduler::start(&st).await.unwrap();
    // A long money pass: 6 s (three ticks) with the money lock held.
    let held = st.guards.job_lock.lock().await;
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let during: Vec<u64> = Job::ALL.iter().map(|j| runs(*j)).collect();
    drop(held);
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    sched.shutdown().await.unwrap();
    let after: Vec<u64> = Job::ALL.iter().map(|j| runs(*j)).collect();
    for (i, j) in Job::ALL.iter().enumerate() {
        if j.moves_money() {
            // (A tick may have run one just before the lock was taken.)
            assert!(during[i] <= 1, "{}: waits for the money lock", j.name());
            assert!(
                after[i] >= during[i] + 2,
                "{}: {} passes after the lock",
                j.name(),
                after[i]
            );
        } else {
            assert!(
                during[i] >= 2,
                "{}: {} passes beside the money pass",
                j.name(),
                during[i]
            );
            assert!(after[i] >= 5, "{}: {} passes in 12 s", j.name(), after[i]);
        }
    }
    let (_, body) = app.get("/status").await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["parts"]["schedule"]["ok"], true, "{v}");
    assert_eq!(v["jobs"]["health"]["overdue"], false, "{v}");
}

#[tokio::test]
async fn a_price_that_jumps_is_held_until_it_persists_or_an_admin_accepts_it() {
    let app = support::start(&[("PAYOUT_FREQUENCY", "1")]).await;
    let id = launched(&app, "alpha").await;
    let sb = app.state.clients.sandbox.clone().unwrap();
    let paid = |app: &support::TestApp| app.state.store.payouts(&id).unwrap().len();
    app.advance(3600);
    app.run_job("process-payouts").await;
    let before = paid(&app);
    assert!(before >= 1, "a payout at the accepted price");

    // The market (not the admin) says XMR lost 90 %: held, no decision on it.
    sb.price.set(15_000_000).await.unwrap();
    app.state.cache.forget_price().await;
    app.advance(3600);
    let (code, out) = app.post_job("process-payouts").await;
    // The pass runs (teardown retries, refunds) and says why it decided nothing.
    assert_eq!(code, 200, "{out}");
    assert_eq!(paid(&app), before, "no payout on a held price: {out}");
    assert!(out["errors"].to_string().contains("held"), "{out}");
    let (_, status) = app.get("/status").await;
    assert!(status.contains("decisions wait"), "{status}");
    // Pages show the last accepted price and say why.
    let (_, info) = app.get("/info").await;
    assert!(info.contains("last accepted XMR price"), "{info}");
    assert!(info.contains("XMR price: $150.00"), "{info}");
    let (_, admin) = app.get_admin("/admin").await;
    assert!(admin.contains("Accept the held price"), "{admin}");

    // The admin accepts it: the next pass pays at the new price.
    let (code, _, _) = app.post_form("/admin/price/accept", "").await;
    assert_eq!(code, 303);
    app.run_job("process-payouts").await;
    assert_eq!(paid(&app), before + 1);
    let (_, status) = app.get("/status").await;
    assert!(!status.contains("decisions wait"), "{status}");

    // A jump that persists for 15 minutes is accepted on its own.
    sb.price.set(150_000_000).await.unwrap();
    app.state.cache.forget_price().await;
    app.advance(3600);
    let (code, out) = app.post_job("process-payouts").await;
    assert_eq!(code, 200);
    assert!(out["errors"].to_string().contains("held"), "{out}");
    assert_eq!(paid(&app), before + 1, "held");
    app.advance(15 * 60);
    app.run_job("process-payouts").await;
    assert_eq!(paid(&app), before + 2, "persisted, so accepted");
}

/// A webhook receiver that records every body it gets.
async fn webhook_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(v);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_hears_of_launches_payouts_and_a_failing_job_once() {
    let (url, got) = webhook_receiver().await;
    let app = support::start(&[("WEBHOOK_URL", &url), ("PAYOUT_FREQUENCY", "1")]).await;
    let id = launched(&app, "alpha").await;
    app.advance(3600);
    app.run_job("process-payouts").await;
    // A jump in the price makes the payout pass fail, twice (within the
    // 15 minutes a jump is held): told once.
    let sb = app.state.clients.sandbox.clone().unwrap();
    sb.price.set(15_000_000).await.unwrap();
    app.state.cache.forget_price().await;
    for step in [3600, 60] {
        app.advance(step);
        let (code, out) = app.post_job("process-payouts").await;
        assert_eq!(code, 200, "{out}");
        assert!(
            out["errors"]
                .to_string()
                .contains("no payout or end decided"),
            "{out}"
        );
    }
    assert!(
        app.state
            .clients
            .notifier
            .flush(std::time::Duration::from_secs(10))
            .await
    );
    let got = got.lock().unwrap().clone();
    let kinds: Vec<&str> = got.iter().map(|n| n["kind"].as_str().unwrap()).collect();
    for k in ["Launched", "Hosting", "price", "job-failed"] {
        assert!(kinds.contains(&k), "no {k} notice in {kinds:?}");
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == "job-failed").count(),
        1,
        "{kinds:?}"
    );
    assert_eq!(
        kinds.iter().filter(|k| **k == "price").count(),
        1,
        "{kinds:?}"
    );
    let payout = got.iter().find(|n| n["kind"] == "Hosting").unwrap();
    assert_eq!(payout["op_id"], id.as_str());
    assert_eq!(payout["codename"], "alpha");
}

#[tokio::test]
async fn the_ledger_audit_balances_and_reports_a_difference() {
    let app = support::start(&[("PAYOUT_FREQUENCY", "1")]).await;
    let id = launched(&app, "alpha").await;
    app.open("bravo").await;
    for _ in 0..3 {
        app.advance(3600);
        app.run_job("process-payouts").await;
    }
    let audit = |app: &support::TestApp| {
        let (http, url) = (app.http.clone(), app.url("/admin/api/audit"));
        async move {
            let r = http
                .get(url)
                .bearer_auth("test-admin-token")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            r.json::<Vec<serde_json::Value>>().await.unwrap()
        }
    };
    let lines = audit(&app).await;
    assert_eq!(lines.len(), 2);
    let alpha = lines.iter().find(|l| l["codename"] == "alpha").unwrap();
    assert!(alpha["payouts"].as_u64().unwrap() > 0 && alpha["fees"].as_u64().unwrap() > 0);
    assert!(
        lines
            .iter()
            .all(|l| l["difference"] == 0 && l["error"].is_null()),
        "{lines:?}"
    );

    // The store forgets that a payout was relayed: the audit sees the money missing.
    let mut p = app.state.store.payouts(&id).unwrap().pop().unwrap();
    let missing = i128::from(p.amount + p.fee);
    p.status = nodecannon::domain::payout::PayoutStatus::Built;
    app.state.store.write(|tx| tx.put_payout(&p)).unwrap();
    let lines = audit(&app).await;
    let alpha = lines.iter().find(|l| l["codename"] == "alpha").unwrap();
    assert_eq!(alpha["difference"].as_i64().map(i128::from), Some(missing));
    let (_, admin) = app.get_admin("/admin/audit").await;
    assert!(admin.contains("1 operation(s) do not balance"), "{admin}");
}

/// A launch step that keeps failing is retried with backoff, keeps its place,
/// says why on the page, and the operator hears of it once.
#[tokio::test(flavor = "multi_thread")]
async fn a_launch_step_that_keeps_failing_backs_off_and_keeps_its_place() {
    use support::fake_do::{FakeDo, Fault};
    let fake = FakeDo::start().await;
    let cloud: std::sync::Arc<dyn nodecannon::clients::Cloud> =
        std::sync::Arc::new(fake.client().with_backoff(
            1,
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(5),
        ));
    let app = support::start_with_cloud(&[("DO_DOMAIN", support::fake_do::DOMAIN)], cloud).await;
    let id = app.open("stuck").await;
    app.pay(&id, "1").await;
    app.advance(120);
    for _ in 0..6 {
        fake.fail_next("POST", "/v2/droplets", Fault::Status(500));
    }
    // Passes every minute for 20 minutes: the step is tried at 1, 2, 4, 8 min
    // backoff, not on every pass.
    let mut tries = 0;
    for _ in 0..20 {
        let _ = app.post_job("launch-funded").await;
        tries = fake.count("POST", "/v2/droplets");
        app.advance(60);
    }
    assert!((4..=5).contains(&tries), "{tries} creates in 20 passes");
    let op = app.op(&id);
    assert_eq!(op.state, State::Launching);
    assert_eq!(
        fake.volumes().len(),
        1,
        "the volume step is kept, not redone"
    );
    assert!(op.launch_failures >= 4);
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(
        page.contains("Launch step Droplet failed"),
        "the reason is on the page"
    );
    // Once the cloud works again the launch finishes where it stood.
    while fake.pending_faults() > 0 {
        app.advance(3600);
        let _ = app.post_job("launch-funded").await;
    }
    app.advance(3600);
    app.run_job("launch-funded").await;
    fake.boot_all();
    app.advance(60);
    app.run_job("launch-funded").await;
    let op = app.op(&id);
    assert_eq!(op.state, State::Active);
    assert_eq!((op.launch_failures, op.problem), (0, None));
    assert_eq!((fake.volumes().len(), fake.droplets().len()), (1, 1));
}

/// A backup taken while the server serves writes (operations opened, paid,
/// launched, paid out) restores into a store whose ledger balances.
#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_under_writes_restores_into_a_store_that_passes_the_audit() {
    let app = std::sync::Arc::new(support::start(&[("PAYOUT_FREQUENCY", "1")]).await);
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            for i in 0..12 {
                let id = app.open(&format!("busy{i}")).await;
                app.pay(&id, "1").await;
                app.advance(120);
                let _ = app.post_job("launch-funded").await;
                app.advance(3600);
                let _ = app.post_job("process-payouts").await;
            }
        })
    };
    let mut taken = 0;
    while !writer.is_finished() {
        let (code, _) = app.post_job("backup").await;
        if code == 200 {
            taken += 1;
        }
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    assert!(taken >= 2, "backups ran while the writes went on ({taken})");
    let mut backups: Vec<_> = std::fs::read_dir(app.dir.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    backups.sort();
    let restored = tempfile::tempdir().unwrap();
    nodecannon::store::restore_from(backups.last().unwrap(), restored.path()).unwrap();
    let copy = support::start_in(restored, &[]).await;
    // The sandbox wallet dates its transfers by the app's clock: the copy's
    // runs at the same time as the original's.
    copy.clock.set(nodecannon::clock::Clock::now(&*app.clock));
    let n = copy.state.store.operations().unwrap().len();
    assert!(n >= 1, "the copy holds operations");
    let lines = nodecannon::jobs::audit::run(&copy.state).await.unwrap();
    let off: Vec<_> = lines.iter().filter(|l| l.is_off()).collect();
    assert!(off.is_empty(), "{off:#?}");
    assert_eq!(lines.len(), n);
}

/// Issue 17: a droplet list that comes back empty, cut off or short never
/// reads as "no droplets": the running node stays active and billed, its DNS
/// records stay, and no second droplet is made for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_cut_off_droplet_list_never_sends_a_running_node_back_to_funded() {
    use support::fake_do::{DOMAIN, FakeDo, Fault};
    let fake = FakeDo::start().await;
    let cloud: std::sync::Arc<dyn nodecannon::clients::Cloud> =
        std::sync::Arc::new(fake.client().with_backoff(
            1,
            std::time::Duration::from_millis(1),
            std::time::Duration::from_millis(5),
        ));
    let app = support::start_with_cloud(&[("DO_DOMAIN", DOMAIN)], cloud).await;
    let id = app.open("steady").await;
    app.pay(&id, "5").await;
    app.advance(120);
    for _ in 0..8 {
        let _ = app.post_job("launch-funded").await;
        fake.boot_all();
        app.advance(30);
    }
    let op = app.op(&id);
    assert_eq!(op.state, State::Active, "{op:?}");
    let records = fake.records(DOMAIN).len();
    for fault in [Fault::EmptyOk, Fault::Truncated, Fault::EmptyOk] {
        fake.fail_next("GET", "/v2/droplets?", fault);
        let _ = app.post_job("reconcile").await;
        app.advance(31 * 60);
        let _ = app.post_job("launch-funded").await;
    }
    let after = app.op(&id);
    assert_eq!(after.state, State::Active, "{after:?}");
    assert_eq!(
        after.billed_until, op.billed_until,
        "still billed from the same time"
    );
    assert_eq!(fake.droplets().len(), 1, "no second droplet");
    assert_eq!(fake.records(DOMAIN).len(), records, "DNS records kept");
}

/// Issue 17: a job whose last pass is older than twice its interval, while
/// the scheduler runs, makes `/status` degraded with the job named, and
/// `/admin` marks it overdue.
#[tokio::test]
async fn a_job_that_has_not_run_for_twice_its_interval_is_named_overdue() {
    use std::sync::atomic::Ordering;
    let app = support::start(&[("HEALTH_SCHEDULE", "30 * * * * *")]).await;
    let g = &app.state.guards;
    g.scheduler_started.store(app.state.now(), Ordering::SeqCst);
    g.scheduler_running.store(true, Ordering::SeqCst);
    app.run_job("health").await;
    let status = || async {
        let (_, body) = app.get("/status").await;
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let v = status().await;
    assert_eq!(v["jobs"]["health"]["overdue"], false, "{v}");
    assert_eq!(v["jobs"]["health"]["every_seconds"], 60, "{v}");
    // Two minutes and a bit without a health pass.
    app.advance(121);
    let v = status().await;
    assert_eq!(v["status"], "degraded", "{v}");
    assert_eq!(v["jobs"]["health"]["overdue"], true, "{v}");
    let why = v["parts"]["schedule"]["detail"].to_string();
    assert!(why.contains("health"), "{v}");
    let (_, admin) = app.get_admin("/admin").await;
    assert!(admin.contains("overdue"), "{admin}");
    app.run_job("health").await;
    assert_eq!(status().await["jobs"]["health"]["overdue"], false);
}
