//! Crash runs: the built binary (with the `test-hooks` feature) is killed at
//! every failpoint of the launch, payout and end paths in turn, then run again
//! on the same data, with a real regtest monero-wallet-rpc and the stateful
//! fake DigitalOcean. After each run: the operation launched exactly once, no
//! period was paid twice (the wallet's outgoing transactions are exactly the
//! store's payouts), nothing is left in the cloud once the money ran out, and
//! the ledger audit balances.
//!
//! `NODECANNON_CRASH_AT` makes the process exit at the named failpoint;
//! `NODECANNON_TEST_NOW` fixes its clock, so time moves between runs without
//! sleeping (`src/test_hooks.rs`).

use crate::support;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use nodecannon::app::AppState;
use nodecannon::clock::ManualClock;
use nodecannon::config::{Config, VarMap};
use nodecannon::domain::operation::Operation;
use nodecannon::domain::payout::PayoutStatus;
use nodecannon::domain::state::State;
use nodecannon::store::Store;
use nodecannon::test_hooks::CRASH_EXIT;
use support::fake_do::{DOMAIN, FakeDo, TOKEN};
use support::monero::Regtest;

const XMR: u64 = 1_000_000_000_000;

/// Where in the life of an operation the crash is asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// `run launch-funded` until the node is active.
    Launch,
    /// The first payout, three hours later.
    Payout,
    /// Far later: the money no longer covers the next period; final payout,
    /// end, teardown.
    End,
    /// Instead of the end: the operator cancels (`ops cancel`), then the
    /// payout pass finishes what the crash left.
    Cancel,
}

/// Every failpoint on the three paths, with the phase that reaches it.
const PLAN: &[(Phase, &str)] = &[
    (Phase::Launch, "launch:volume-created"),
    (Phase::Launch, "launch:volume-stored"),
    (Phase::Launch, "launch:droplet-created"),
    (Phase::Launch, "launch:droplet-stored"),
    (Phase::Launch, "launch:addresses-stored"),
    (Phase::Launch, "launch:dns-created"),
    (Phase::Payout, "send:built"),
    (Phase::Payout, "send:stored"),
    (Phase::Payout, "send:relayed"),
    (Phase::End, "send:built"),
    (Phase::End, "send:stored"),
    (Phase::End, "send:relayed"),
    (Phase::End, "end:recorded"),
    (Phase::End, "teardown:droplets-destroyed"),
    (Phase::End, "teardown:volumes-deleted"),
    (Phase::Cancel, "send:built"),
    (Phase::Cancel, "send:stored"),
    (Phase::Cancel, "send:relayed"),
    (Phase::Cancel, "cancel:recorded"),
    (Phase::Cancel, "teardown:droplets-destroyed"),
];

/// When the fake CoinGecko's price was last updated: the install's time at
/// its last run (an answer without its own time is refused).
/// (One per test: the tests of this binary run at once, each at its own time.)
#[derive(Clone)]
struct Price {
    url: String,
    at: Arc<AtomicI64>,
}

/// A fake CoinGecko answering 150 USD per XMR, timed by its [`Price::at`].
async fn price_server() -> Price {
    let at = Arc::new(AtomicI64::new(0));
    let when = at.clone();
    let app = axum::Router::new().route(
        "/api/v3/simple/price",
        axum::routing::get(move || async move {
            let at = when.load(Ordering::SeqCst);
            axum::Json(serde_json::json!({ "monero": { "usd": 150.0, "last_updated_at": at } }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Price { url, at }
}

/// One install: its data directory, settings and the fake cloud it rents from.
struct Install {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
    fake: FakeDo,
    /// The failpoint this run crashes at, and in which phase.
    crash: (Phase, &'static str),
    crashed: bool,
    now: i64,
    price: Price,
}

impl Install {
    async fn new(rt: &Regtest, price: &Price, payout: &str, crash: (Phase, &'static str)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeDo::start().await;
        let env = [
            ("DATA_DIR", dir.path().display().to_string()),
            ("DO_TOKEN", TOKEN.to_string()),
            ("DO_API_URL", fake.url.clone()),
            ("DO_DOMAIN", DOMAIN.to_string()),
            ("PAYOUT_ADDRESS", payout.to_string()),
            ("PAYOUT_FREQUENCY", "3".to_string()),
            ("MIN_FUNDED_HOURS", "24".to_string()),
            ("XMR_WALLET_RPC_ENDPOINT", rt.endpoint()),
            ("XMR_WALLET_RPC_USER", support::monero::USER.to_string()),
            ("XMR_WALLET_RPC_PASS", support::monero::PASS.to_string()),
            ("PRICE_API_URL", price.url.clone()),
            ("PRICE_SOURCES", "coingecko".to_string()),
            ("STATS_TOKEN", "crash-admin-token".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Install {
            dir,
            env,
            fake,
            crash,
            crashed: false,
            now: chrono::Utc::now().timestamp(),
            price: price.clone(),
        }
    }

    /// Opens an operation in-process (as the launchpad would) and closes the
    /// database again, so the binary can open it.
    async fn open(&self, codename: &str) -> Operation {
        self.open_with_refund(codename, "").await
    }

    async fn open_with_refund(&self, codename: &str, refund_to: &str) -> Operation {
        let mut vars = VarMap::new();
        for (k, v) in &self.env {
            vars.insert(k.clone(), v.clone());
        }
        let config = Config::from_vars(&vars).unwrap();
        self.price.at.store(self.now, Ordering::SeqCst);
        let st = AppState::build_with_clock(config, Arc::new(ManualClock::new(self.now))).unwrap();
        let form = nodecannon::ops::LaunchForm {
            codename: codename.into(),
            region: "ams3".into(),
            refund_address: refund_to.into(),
        };
        nodecannon::ops::create(&st, &form).await.unwrap()
    }

    /// The operation as stored (the binary is not running).
    fn op(&self, id: &str) -> Operation {
        let store = Store::open(self.dir.path(), self.now).unwrap();
        store
            .operations()
            .unwrap()
            .into_iter()
            .find(|o| o.id == id)
            .unwrap()
    }

    fn payouts(&self, id: &str) -> Vec<nodecannon::domain::payout::Payout> {
        Store::open(self.dir.path(), self.now)
            .unwrap()
            .payouts(id)
            .unwrap()
    }

    /// Runs `nodecannon <args>` at the install's time; asks for the crash
    /// while in its phase until it happened. Returns whether this run crashed.
    async fn run(&mut self, phase: Phase, args: &[&str]) -> bool {
        let mut env = self.env.clone();
        env.push(("NODECANNON_TEST_NOW".into(), self.now.to_string()));
        self.price.at.store(self.now, Ordering::SeqCst);
        let arm = !self.crashed && self.crash.0 == phase;
        if arm {
            env.push(("NODECANNON_CRASH_AT".into(), self.crash.1.into()));
        }
        let (code, all) = nodecannon(self.dir.path(), &env, args).await;
        if code == Some(CRASH_EXIT) {
            assert!(arm, "crashed without being asked: {all}");
            self.crashed = true;
            return true;
        }
        assert_eq!(code, Some(0), "nodecannon {args:?}: {all}");
        false
    }
}

/// Runs the binary in `dir` with only PATH and `env`; exit code and output.
async fn nodecannon(dir: &Path, env: &[(String, String)], args: &[&str]) -> (Option<i32>, String) {
    let r = support::run_binary(dir, env, args).await;
    (r.code, r.all())
}

/// What each run checks about the cloud: exactly the resources of a running
/// node, or none.
fn assert_cloud(i: &Install, op: &Operation, running: bool, what: &str) {
    let (v, d, r) = (i.fake.volumes(), i.fake.droplets(), i.fake.records(DOMAIN));
    if !running {
        assert!(
            v.is_empty() && d.is_empty() && r.is_empty(),
            "{what}: left in the cloud: {v:?} {d:?} {r:?}"
        );
        return;
    }
    assert_eq!(
        (v.len(), d.len(), r.len()),
        (1, 1, 2),
        "{what}: {v:?} {d:?} {r:?}"
    );
    let tag = op.tag();
    assert!(
        d[0].tags.contains(&tag) && v[0].tags.contains(&tag),
        "{what}"
    );
    assert_eq!(op.resources.droplet_id, Some(d[0].id), "{what}");
    assert_eq!(op.resources.volume_id.as_ref(), Some(&v[0].id), "{what}");
    let mut ids: Vec<u64> = r.iter().map(|r| r.id).collect();
    let mut stored = op.resources.dns_records.clone();
    ids.sort();
    stored.sort();
    assert_eq!(
        ids, stored,
        "{what}: the stored records are the ones that exist"
    );
}

/// The store's relayed payouts are exactly the transactions that left the
/// operation's account, none still waiting.
async fn assert_paid_once(rt: &Regtest, i: &Install, op: &Operation, n: usize, what: &str) {
    let payouts = i.payouts(&op.id);
    assert!(
        payouts.iter().all(|p| p.status == PayoutStatus::Relayed),
        "{what}: {payouts:?}"
    );
    assert_eq!(payouts.len(), n, "{what}: {payouts:?}");
    let mut stored: Vec<String> = payouts.iter().map(|p| p.tx_hash.clone()).collect();
    stored.sort();
    assert_eq!(
        rt.sent_from(op.account_index).await,
        stored,
        "{what}: one transaction per payout, none twice"
    );
}

/// One crash run: launch, pay, run out; crashing at `crash` on the way.
async fn crash_run(
    rt: &Regtest,
    price: &Price,
    main: &str,
    n: usize,
    crash: (Phase, &'static str),
) {
    let what = format!("crash at {} during {:?}", crash.1, crash.0);
    let mut i = Install::new(rt, price, main, crash).await;
    let op = i.open(&format!("crash-{n}")).await;
    rt.send(&op.address, XMR / 20).await;
    rt.mine(11, main).await;

    // Launch: a pass every 30 s, the droplets booting in between.
    for _ in 0..8 {
        i.run(Phase::Launch, &["run", "launch-funded"]).await;
        if i.op(&op.id).state == State::Active {
            break;
        }
        i.fake.boot_all();
        i.now += 30;
    }
    let launched = i.op(&op.id);
    assert_eq!(launched.state, State::Active, "{what}: {launched:?}");
    assert_cloud(&i, &launched, true, &what);
    let billed = launched.billed_until.unwrap();

    // One payout for the first three hours, however often the pass runs.
    i.now += 3 * 3600 + 60;
    for _ in 0..3 {
        i.run(Phase::Payout, &["run", "process-payouts"]).await;
    }
    let paid = i.op(&op.id);
    assert_paid_once(rt, &i, &paid, 1, &what).await;
    let seconds = i.payouts(&op.id)[0].seconds as i64;
    assert_eq!(
        paid.billed_until,
        Some(billed + seconds),
        "{what}: billed once"
    );
    assert!(
        matches!(paid.state, State::Active | State::LowFunds),
        "{what}: {paid:?}"
    );
    assert_cloud(&i, &paid, true, &what);

    rt.mine(11, main).await;
    if crash.0 == Phase::Cancel {
        // The operator cancels an hour later; after a crash before the cancel
        // was recorded, they run it again. The payout pass relays what was
        // stored and destroys what is left.
        i.now += 3600;
        let name = format!("crash-{n}");
        if i.run(Phase::Cancel, &["ops", "cancel", &name]).await
            && i.op(&op.id).state != State::Cancelled
        {
            i.run(Phase::Cancel, &["ops", "cancel", &name]).await;
        }
        for _ in 0..2 {
            i.run(Phase::Cancel, &["run", "process-payouts"]).await;
        }
        let cancelled = i.op(&op.id);
        assert_eq!(cancelled.state, State::Cancelled, "{what}: {cancelled:?}");
        assert_paid_once(rt, &i, &cancelled, 2, &what).await;
        assert!(i.payouts(&op.id)[1].is_final, "{what}");
        assert_cloud(&i, &cancelled, false, &what);
        assert!(i.crashed, "{what}: the failpoint was never reached");
        rt.mine(1, main).await;
        i.run(Phase::Cancel, &["audit"]).await;
        // Without a refund address what is left stays in the account (the
        // audit of this install is clean). Every install here shares one
        // wallet, and the next one's audit names money in accounts its own
        // database does not know: the operator settles it by hand, as here.
        rt.mine(10, main).await;
        let c = rt.client(Arc::new(nodecannon::metrics::Metrics::default()));
        let _ = c
            .rpc()
            .call::<serde_json::Value>(
                "sweep_all",
                serde_json::json!({ "address": main, "account_index": cancelled.account_index }),
                std::time::Duration::from_secs(120),
            )
            .await;
        rt.mine(1, main).await;
        return;
    }

    // Months later the money cannot cover the next period: ended at the pass
    // that found it short, one final payout, nothing left in the cloud.
    i.now += 90 * 24 * 3600;
    for _ in 0..3 {
        i.run(Phase::End, &["run", "process-payouts"]).await;
    }
    let ended = i.op(&op.id);
    assert_eq!(ended.state, State::Ended, "{what}: {ended:?}");
    assert_paid_once(rt, &i, &ended, 2, &what).await;
    assert!(i.payouts(&op.id)[1].is_final, "{what}");
    assert_cloud(&i, &ended, false, &what);
    assert!(ended.resources.droplet_id.is_none() && ended.resources.volume_id.is_none());

    assert!(i.crashed, "{what}: the failpoint was never reached");
    rt.mine(1, main).await;
    i.run(Phase::End, &["audit"]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_every_failpoint_the_lifecycle_still_launches_once_pays_once_and_ends_clean() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(120, &main).await;
    let price = price_server().await;
    for (n, crash) in PLAN.iter().enumerate() {
        crash_run(&rt, &price, &main, n, *crash).await;
        eprintln!("crash run {n}: {} during {:?}: ok", crash.1, crash.0);
    }
}

/// Issue 15 (findings 2 and 4, killed for real): a cancelled operation funded
/// with 300 small outputs is refunded in several transactions. The process
/// is killed once all are stored, and once right after the first relay
/// (before the store knows it went out); run again on the same data, every
/// transaction leaves exactly once and only dust stays behind.
#[tokio::test(flavor = "multi_thread")]
async fn killed_between_the_transactions_of_a_refund_each_still_leaves_once() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(120, &main).await;
    let price = price_server().await;
    const EACH: u64 = 2_000_000_000;
    for (n, point) in ["send:stored", "send:relayed"].into_iter().enumerate() {
        let what = format!("refund killed at {point}");
        // The visitor's address: a subaddress of the payer's account (an
        // account of its own would be one no operation owns, for the audit).
        let visitor: serde_json::Value = rt
            .wallet_call("create_address", serde_json::json!({ "account_index": 0 }))
            .await;
        let refund_to = visitor["address"].as_str().unwrap().to_string();
        let mut i = Install::new(&rt, &price, &main, (Phase::Cancel, point)).await;
        let name = format!("dusty-{n}");
        let op = i.open_with_refund(&name, &refund_to).await;
        rt.send_many(&op.address, EACH, 300, &main).await;
        rt.mine(11, &main).await;

        i.now += 600;
        if i.run(Phase::Cancel, &["ops", "cancel", &name]).await
            && i.op(&op.id).state != State::Cancelled
        {
            i.run(Phase::Cancel, &["ops", "cancel", &name]).await;
        }
        for _ in 0..3 {
            i.run(Phase::Cancel, &["run", "process-payouts"]).await;
        }
        assert!(i.crashed, "{what}: the failpoint was never reached");
        let cancelled = i.op(&op.id);
        assert_eq!(cancelled.state, State::Cancelled, "{what}: {cancelled:?}");
        let payouts = i.payouts(&op.id);
        assert!(
            payouts.len() >= 2,
            "{what}: a sweep of 300 inputs: {payouts:?}"
        );
        assert!(
            payouts.iter().all(|p| p.status == PayoutStatus::Relayed),
            "{what}: {payouts:?}"
        );
        let mut stored: Vec<String> = payouts.iter().map(|p| p.tx_hash.clone()).collect();
        stored.sort();
        assert_eq!(
            rt.sent_from(op.account_index).await,
            stored,
            "{what}: one transaction per payout, none twice"
        );
        let bal: serde_json::Value = rt
            .wallet_call(
                "get_balance",
                serde_json::json!({ "account_index": op.account_index }),
            )
            .await;
        let left = bal["balance"].as_u64().unwrap();
        let cheapest = payouts.iter().map(|p| p.fee).min().unwrap();
        assert!(left < cheapest, "{what}: {left} left behind: {payouts:?}");
        let spent: u64 = payouts.iter().map(|p| p.amount + p.fee).sum();
        assert_eq!(spent + left, 300 * EACH, "{what}: to the piconero");
        rt.mine(1, &main).await;
        i.run(Phase::Cancel, &["audit"]).await;
        eprintln!("{what}: {} transactions, ok", payouts.len());
    }
}
