//! The soak (issue 17): the real binary with its real scheduler on
//! second-level schedules, a real regtest wallet, and the stateful fake
//! DigitalOcean dealing random faults to one request in ten (5xx, 429, lost
//! answers, empty and cut-off bodies), for ten minutes of wall time
//! (`NODECANNON_SOAK_SECS` shortens it while working). Operations go through
//! launch, payouts, low funds, end and refill; the binary is SIGKILLed at
//! seeded random moments and started again on the same data.
//!
//! Checked throughout: never two droplets for one operation, and `/status`
//! never names a job overdue. Checked at the end, from the wallet and the
//! fake cloud: every job ran about as often as its schedule says; no
//! operation created more droplets than it had launches; every node that
//! should run runs and nothing else is left in the cloud; every payout left
//! the wallet once and none twice; no operation paid for more seconds than it
//! had a node.

use crate::support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nodecannon::domain::event::EventKind;
use nodecannon::domain::payout::PayoutStatus;
use nodecannon::domain::state::State;
use nodecannon::store::Store;
use serde_json::Value;
use support::fake_do::{DOMAIN, FakeDo, TOKEN};
use support::monero::Regtest;

const XMR: u64 = 1_000_000_000_000;

/// Job, cron, and its interval in seconds.
const JOBS: [(&str, &str, &str, u64); 5] = [
    ("launch-funded", "LAUNCH_SCHEDULE", "*/30 * * * * *", 30),
    ("process-payouts", "PAYOUT_SCHEDULE", "10/30 * * * * *", 30),
    ("reconcile", "RECONCILE_SCHEDULE", "20 * * * * *", 60),
    ("health", "HEALTH_SCHEDULE", "*/15 * * * * *", 15),
    ("backup", "BACKUP_SCHEDULE", "40 * * * * *", 60),
];

/// The binary, started and killed by the test.
struct Appliance {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    base: String,
    child: Option<Child>,
    starts: u32,
    http: reqwest::Client,
}

impl Appliance {
    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("soak.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_nodecannon"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.clone())
            .current_dir(self.dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.starts += 1;
        let t = Instant::now();
        while self.get("/status").await.is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "no start: {}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }

    fn log(&self) -> String {
        let all = std::fs::read_to_string(self.dir.path().join("soak.log")).unwrap_or_default();
        all.lines().rev().take(400).collect::<Vec<_>>().join("\n")
    }

    async fn get(&self, path: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// Opens an operation through the launchpad; its id and address.
    async fn open(&self, codename: &str) -> (String, String) {
        let r = self
            .http
            .post(format!("{}/launchpad", self.base))
            .header("cookie", format!("nc_csrf={}", support::CSRF))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(support::with_csrf(&format!(
                "codename={codename}&region=ams3"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "{}", r.text().await.unwrap());
        let loc = r.headers()["location"].to_str().unwrap().to_string();
        let id = loc.rsplit('/').next().unwrap().to_string();
        let detail = self.admin(&format!("/admin/api/ops/{id}")).await.unwrap();
        let address = detail["operation"]["address"].as_str().unwrap().to_string();
        (id, address)
    }

    async fn admin(&self, path: &str) -> Option<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth("soak-admin-token")
            .send()
            .await
            .ok()?;
        r.json().await.ok()
    }
}

/// A fake CoinGecko answering 150 USD per XMR, fresh at every request.
async fn price_server() -> String {
    let app = axum::Router::new().route(
        "/api/v3/simple/price",
        axum::routing::get(|| async {
            let at = chrono::Utc::now().timestamp();
            axum::Json(serde_json::json!({ "monero": { "usd": 150.0, "last_updated_at": at } }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A seeded generator for the kill times (xorshift64).
fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// What the watcher saw while the soak ran.
#[derive(Default)]
struct Seen {
    /// `/status` naming a job overdue: the detail, each time.
    overdue: Vec<String>,
    /// Each job's distinct `last_run` values.
    runs: BTreeMap<String, HashSet<String>>,
    /// Moments with two droplets tagged for one operation.
    doubles: Vec<String>,
}

async fn watch(app: &Appliance, fake: &FakeDo, seen: &mut Seen) {
    let mut per_tag: HashMap<String, Vec<u64>> = HashMap::new();
    for d in fake.droplets() {
        for t in d.tags.iter().filter(|t| t.starts_with("nodecannon-op-")) {
            per_tag.entry(t.clone()).or_default().push(d.id);
        }
    }
    for (t, ids) in per_tag.into_iter().filter(|(_, ids)| ids.len() > 1) {
        seen.doubles.push(format!("{t}: {ids:?}"));
    }
    let Some(status) = app.get("/status").await else {
        return;
    };
    if status["parts"]["schedule"]["ok"] == false {
        seen.overdue
            .push(status["parts"]["schedule"]["detail"].to_string());
    }
    if let Some(jobs) = status["jobs"].as_object() {
        for (name, j) in jobs {
            if let Some(t) = j["last_run"].as_str() {
                seen.runs
                    .entry(name.clone())
                    .or_default()
                    .insert(t.to_string());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_minutes_of_faults_and_kills_launch_once_pay_once_and_leave_nothing_behind() {
    let secs: u64 = std::env::var("NODECANNON_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(80, &main).await;
    let fake = FakeDo::start().await;
    {
        let mut st = fake.state();
        st.boot_ipv4 = Some("127.0.0.1".into());
        st.chaos_per_mille = 100;
    }
    let price = price_server().await;
    let port = support::monero::free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut env: Vec<(String, String)> = [
        ("DATA_DIR", dir.path().display().to_string()),
        ("LISTEN_ADDR", format!("127.0.0.1:{port}")),
        ("DO_TOKEN", TOKEN.to_string()),
        ("DO_API_URL", fake.url.clone()),
        ("DO_DOMAIN", DOMAIN.to_string()),
        ("PAYOUT_ADDRESS", main.clone()),
        ("XMR_WALLET_RPC_ENDPOINT", rt.endpoint()),
        ("XMR_WALLET_RPC_USER", support::monero::USER.to_string()),
        ("XMR_WALLET_RPC_PASS", support::monero::PASS.to_string()),
        ("PRICE_API_URL", price),
        ("PRICE_SOURCES", "coingecko".to_string()),
        ("STATS_TOKEN", "soak-admin-token".to_string()),
        ("LAUNCHPAD_RATE", "1000/hour".to_string()),
        // monerod of the regtest stands in for every node (all at 127.0.0.1).
        ("NODE_RPC_PORT", rt.daemon_port.to_string()),
        // 40 XMR an hour at 150 USD, paid every minute: money runs out in
        // minutes (1 XMR launches, under 0.4 XMR is low funds).
        ("MGMT_CHARGE_HOUR", "6000".to_string()),
        ("PAYOUT_FREQUENCY", "0.0167".to_string()),
        ("MIN_FUNDED_HOURS", "0.025".to_string()),
        ("LOW_FUNDS_HOURS", "0.01".to_string()),
        ("GRACE_HOURS", "0.01".to_string()),
        ("ORPHAN_MIN_AGE_MINUTES", "1".to_string()),
        ("PENDING_WAIT_HOURS", "0.01".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (_, var, cron, _) in JOBS {
        env.push((var.to_string(), cron.to_string()));
    }
    let mut app = Appliance {
        dir,
        env,
        base: format!("http://127.0.0.1:{port}"),
        child: None,
        starts: 0,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    };
    app.start().await;

    // The chain moves on: a block every two seconds, the droplets boot.
    let miner = {
        let (rt_url, main) = (rt.daemon_url(), main.clone());
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            loop {
                let _ = http
                    .post(format!("{rt_url}/json_rpc"))
                    .json(
                        &serde_json::json!({"jsonrpc": "2.0", "id": "0", "method": "generateblocks",
                        "params": {"amount_of_blocks": 1, "wallet_address": main}}),
                    )
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    };

    let (alpha, alpha_addr) = app.open("soak-alpha").await;
    let (bravo, bravo_addr) = app.open("soak-bravo").await;
    let (charlie, charlie_addr) = app.open("soak-charlie").await;
    let (delta, _) = app.open("soak-delta").await;
    rt.send(&alpha_addr, 10 * XMR).await;
    rt.send(&bravo_addr, 3 * XMR / 2).await;

    let start = Instant::now();
    let mut seed = 0x5eed_50a6_u64;
    let mut next_kill = 40 + next(&mut seed) % 60;
    let (mut paid_charlie, mut refilled) = (false, false);
    let mut seen = Seen::default();
    while start.elapsed() < Duration::from_secs(secs) {
        let t = start.elapsed().as_secs();
        fake.boot_all();
        if t >= secs / 10 && !paid_charlie {
            rt.send(&charlie_addr, 6 * XMR / 5).await;
            paid_charlie = true;
        }
        // After bravo's money ran out (about four minutes in).
        if t >= (secs * 6 / 10).max(270) && !refilled {
            rt.send(&bravo_addr, 2 * XMR).await;
            refilled = true;
        }
        if t >= next_kill && t + 60 < secs {
            app.kill();
            app.start().await;
            next_kill = t + 50 + next(&mut seed) % 60;
        }
        watch(&app, &fake, &mut seen).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // Calm: no more faults; a minute for every job to settle what they left.
    fake.state().chaos_per_mille = 0;
    let calm = Instant::now();
    while calm.elapsed() < Duration::from_secs(60) {
        fake.boot_all();
        watch(&app, &fake, &mut seen).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    miner.abort();
    app.kill();
    let log = app.log();
    let dealt = fake.state().chaos_dealt.clone();
    let total = secs + 60;
    assert!(app.starts >= 4, "killed too rarely: {} starts", app.starts);

    // Throughout: one droplet per operation at most; no job overdue.
    assert!(
        seen.doubles.is_empty(),
        "two droplets at once: {:?}",
        seen.doubles
    );
    assert!(
        seen.overdue.is_empty(),
        "overdue: {:?}\n{log}",
        seen.overdue
    );
    for (job, _, _, every) in JOBS {
        let runs = seen.runs.get(job).map_or(0, HashSet::len) as u64;
        let expected = total / every;
        assert!(
            runs * 2 >= expected,
            "{job} ran {runs} times seen in {total} s, every {every} s expected\n{log}"
        );
    }

    // At the end, from the store, the fake cloud and the wallet.
    let now = chrono::Utc::now().timestamp();
    let store = Store::open(app.dir.path(), now).unwrap();
    let droplets = fake.droplets();
    let volumes = fake.volumes();
    let records = fake.records(DOMAIN);
    let created = fake.state().created_droplets.clone();
    let mut states = BTreeMap::new();
    for op in store.operations().unwrap() {
        let tag = op.tag();
        let events = store.events(&op.id).unwrap();
        states.insert(op.codename.clone(), op.state);
        // One droplet per launch.
        let launches = events
            .iter()
            .filter(|e| e.kind == EventKind::LaunchStep && e.message.contains("billing starts now"))
            .count();
        let made = created
            .iter()
            .filter(|(_, tags, _)| tags.contains(&tag))
            .count();
        // (A relaunch may adopt the droplet an unfinished teardown left.)
        assert!(
            made <= launches && (launches == 0) == (made == 0),
            "{}: {made} droplets created for {launches} launches",
            op.codename
        );
        // Running nodes run; nothing else is left.
        let mine: Vec<_> = droplets.iter().filter(|d| d.tags.contains(&tag)).collect();
        let vols = volumes.iter().filter(|v| v.tags.contains(&tag)).count();
        let recs = records
            .iter()
            .filter(|r| r.name == format!("{}.node", op.codename))
            .count();
        if op.state.has_node() {
            assert_eq!(mine.len(), 1, "{}: {mine:?}", op.codename);
            assert_eq!(op.resources.droplet_id, Some(mine[0].id), "{}", op.codename);
            assert_eq!(mine[0].status, "active", "{}", op.codename);
            assert_eq!(vols, 1, "{}", op.codename);
            assert!(recs >= 1, "{}: no DNS", op.codename);
        } else {
            assert!(
                mine.is_empty(),
                "{} ({:?}) left droplets {mine:?}",
                op.codename,
                op.state
            );
            assert_eq!(recs, 0, "{} ({:?}) left DNS", op.codename, op.state);
            if op.state != State::Funded {
                assert_eq!(vols, 0, "{} ({:?}) left a volume", op.codename, op.state);
            }
        }
        // Each payout left the wallet once; none twice; all relayed.
        let payouts = store.payouts(&op.id).unwrap();
        assert!(
            payouts.iter().all(|p| p.status == PayoutStatus::Relayed),
            "{}: {payouts:?}",
            op.codename
        );
        let mut hashes: Vec<String> = payouts.iter().map(|p| p.tx_hash.clone()).collect();
        hashes.sort();
        let n = hashes.len();
        hashes.dedup();
        assert_eq!(
            hashes.len(),
            n,
            "{}: a transaction stored twice",
            op.codename
        );
        assert_eq!(
            rt.sent_from(op.account_index).await,
            hashes,
            "{}",
            op.codename
        );
        // No more seconds billed than the node lived.
        let mut lived = 0;
        let mut up: Option<i64> = None;
        // Billing starts at the later of the droplet's creation and the
        // launch's start (an adopted droplet is not billed for its past), and
        // stops at an end, a cancel, a vanished droplet or a rebuild.
        let born: HashMap<u64, i64> = created.iter().map(|(id, _, at)| (*id, *at)).collect();
        let mut launch_started = 0;
        for e in &events {
            let starts =
                e.kind == EventKind::LaunchStep && e.message.contains("billing starts now");
            let stops = matches!(
                e.kind,
                EventKind::Ended | EventKind::Cancelled | EventKind::Rebuilt
            ) || (e.kind == EventKind::Reconcile && e.message.contains("vanished"));
            if e.kind == EventKind::LaunchStep && e.message == "Launch started." {
                launch_started = e.at;
            }
            if starts {
                let id: Option<u64> = e
                    .message
                    .strip_prefix("Droplet ")
                    .and_then(|m| m.split(' ').next())
                    .and_then(|n| n.parse().ok());
                let created = id.and_then(|id| born.get(&id)).copied().unwrap_or(e.at);
                up = up.or(Some(created.max(launch_started).min(e.at)));
            } else if stops && let Some(u) = up.take() {
                lived += e.at - u;
            }
        }
        if let Some(u) = up {
            lived += now - u;
        }
        let billed: u64 = payouts.iter().map(|p| p.seconds).sum();
        assert!(
            billed as i64 <= lived + launches as i64,
            "{}: billed {billed} s, lived {lived} s",
            op.codename
        );
        if op.id == alpha {
            assert!(
                op.state.has_node() && billed > 0,
                "alpha runs and pays: {op:?}"
            );
        }
        if op.id == delta {
            assert_eq!(op.state, State::AwaitingFunds);
        }
    }
    // Nothing tagged for nobody.
    let known: HashSet<String> = store
        .operations()
        .unwrap()
        .iter()
        .map(|o| o.tag())
        .collect();
    for d in &droplets {
        assert!(
            d.tags.iter().any(|t| known.contains(t)),
            "orphan droplet {d:?}"
        );
    }
    for v in &volumes {
        assert!(
            v.tags.iter().any(|t| known.contains(t)),
            "orphan volume {v:?}"
        );
    }
    // The lifecycle happened: bravo and charlie ran out of money at least once.
    for id in [&bravo, &charlie] {
        let ended = store
            .events(id)
            .unwrap()
            .iter()
            .any(|e| e.kind == EventKind::Ended);
        assert!(ended, "{id} never ended: {states:?}\n{log}");
    }
    assert!(
        dealt.values().sum::<usize>() as u64 >= secs / 60,
        "too few faults dealt: {dealt:?}"
    );
    eprintln!(
        "soak: {total} s, {} starts, faults dealt {dealt:?}, states {states:?}, runs seen {:?}",
        app.starts,
        seen.runs
            .iter()
            .map(|(k, v)| (k, v.len()))
            .collect::<Vec<_>>()
    );
}
