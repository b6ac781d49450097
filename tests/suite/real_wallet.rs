//! The whole app over HTTP with a real monero-wallet-rpc (regtest); the cloud,
//! price and nodes are simulated here (they have tests of their own).

use crate::support;

use std::sync::Arc;

use nodecannon::clock::Clock;
use nodecannon::domain::money::due_pico;
use nodecannon::domain::payout::PayoutStatus;
use nodecannon::domain::state::State;
use serde_json::{Value, json};
use support::monero::Regtest;

const XMR: u64 = 1_000_000_000_000;

#[tokio::test(flavor = "multi_thread")]
async fn an_operation_is_funded_launched_and_paid_out_through_a_real_wallet() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(80, &main).await;
    let (endpoint, user, pass) = (rt.endpoint(), support::monero::USER, support::monero::PASS);
    let make: support::MakeWallet = Box::new(move |metrics| {
        Arc::new(nodecannon::clients::monero::WalletRpc::new(
            &endpoint, user, pass, metrics,
        ))
    });
    let app = support::start_with_wallet(
        &[
            ("PAYOUT_ADDRESS", &main),
            ("PAYOUT_FREQUENCY", "3"),
            ("MIN_FUNDED_HOURS", "24"),
        ],
        make,
    )
    .await;
    assert!(
        nodecannon::jobs::accounts::check_wallet(&app.state)
            .await
            .is_ok()
    );

    // A real account; its address on the page.
    let id = app.open("real-one").await;
    let op = app.op(&id);
    assert!(op.account_index >= 1);
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(page.contains(&op.address) && !page.contains("SANDBOX"));

    // Payment seen in the pool, then locked, then unlocked.
    rt.send(&op.address, 2 * XMR).await;
    app.state.cache.forget_account(op.account_index).await;
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(page.contains("in the pool"), "payment seen at once");
    rt.mine(1, &main).await;
    app.state.cache.forget_account(op.account_index).await;
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(
        page.contains("unlocks in 9 blocks"),
        "locked, counting down"
    );
    rt.mine(10, &main).await;
    app.run_job("launch-funded").await;
    app.advance(30);
    app.run_job("launch-funded").await;
    assert_eq!(app.op(&id).state, State::Active);

    // A payout of exactly what is due, to PAYOUT_ADDRESS, recorded and relayed.
    app.advance(3 * 3600);
    app.run_job("process-payouts").await;
    let payouts = app.state.store.payouts(&id).unwrap();
    assert_eq!(payouts.len(), 1);
    let p = &payouts[0];
    assert_eq!(p.status, PayoutStatus::Relayed);
    assert_eq!(p.amount, due_pico(p.seconds, p.cost_per_hour, p.price));
    let (_, page) = app.get(&format!("/operation/{id}/payouts")).await;
    assert!(page.contains(&p.tx_hash));

    // The wallet's outgoing transfers and the store's payouts agree.
    let out: Value = rt
        .wallet_call(
            "get_transfers",
            json!({ "out": true, "pending": true, "account_index": op.account_index }),
        )
        .await;
    let mut sent: Vec<(String, u64, u64)> = ["out", "pending"]
        .iter()
        .flat_map(|k| out[*k].as_array().cloned().unwrap_or_default())
        .map(|t| {
            (
                t["txid"].as_str().unwrap().to_string(),
                t["amount"].as_u64().unwrap(),
                t["fee"].as_u64().unwrap(),
            )
        })
        .collect();
    sent.sort();
    assert_eq!(sent, vec![(p.tx_hash.clone(), p.amount, p.fee)]);
    // The operator's address received it.
    let incoming: Value = rt
        .wallet_call(
            "get_transfer_by_txid",
            json!({ "txid": p.tx_hash, "account_index": 0 }),
        )
        .await;
    let got: u64 = incoming["transfers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] != "out" && t["type"] != "pending")
        .map(|t| t["amount"].as_u64().unwrap())
        .sum();
    assert_eq!(got, p.amount, "PAYOUT_ADDRESS received exactly the payout");
    // The ledger audit agrees with the real wallet, with the payout in the pool and once mined.
    for mined in [false, true] {
        if mined {
            rt.mine(1, &main).await;
        }
        let lines = nodecannon::jobs::audit::run(&app.state).await.unwrap();
        assert!(
            lines.iter().all(|l| !l.is_off()),
            "mined {mined}: {lines:?}"
        );
    }

    // A warm cache: the operation page costs no wallet call.
    let (_, _) = app.get(&format!("/operation/{id}")).await;
    let before = app.state.metrics.client_calls("wallet");
    for _ in 0..5 {
        app.get(&format!("/operation/{id}")).await;
    }
    assert!(before > 0, "the wallet's calls are counted");
    assert_eq!(
        app.state.metrics.client_calls("wallet"),
        before,
        "no wallet call per view with a warm cache"
    );
}

const EXTRA: [(&str, &str); 2] = [("PAYOUT_FREQUENCY", "3"), ("MIN_FUNDED_HOURS", "24")];

fn make(rt: &Regtest) -> support::MakeWallet {
    let endpoint = rt.endpoint();
    Box::new(move |metrics| {
        Arc::new(nodecannon::clients::monero::WalletRpc::new(
            &endpoint,
            support::monero::USER,
            support::monero::PASS,
            metrics,
        ))
    })
}

/// Stops the payout at `point` as a crash would, restarts the app on the same
/// data, and checks that exactly one transaction left the account for the period.
async fn crash_during_a_payout_at(point: &str) {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(80, &main).await;
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    let app = support::start_with_wallet(&extra, make(&rt)).await;
    let id = app.open("crashy").await;
    let op = app.op(&id);
    rt.send(&op.address, 2 * XMR).await;
    rt.mine(11, &main).await;
    app.run_job("launch-funded").await;
    app.advance(30);
    app.run_job("launch-funded").await;
    let billed = app.op(&id).billed_until.unwrap();
    app.advance(3 * 3600);
    app.state.arm_failpoint(point);
    let (_, out) = app.post_job("process-payouts").await;
    assert!(
        out["errors"]
            .to_string()
            .contains(&format!("failpoint {point}")),
        "{out}"
    );
    let now = app.clock.now();
    let dir = app.stop().await;

    let app = support::restart_with_wallet(dir, &extra, make(&rt)).await;
    app.clock.set(now);
    app.run_job("process-payouts").await;
    app.run_job("process-payouts").await;
    let payouts = app.state.store.payouts(&id).unwrap();
    let relayed: Vec<_> = payouts
        .iter()
        .filter(|p| p.status == PayoutStatus::Relayed)
        .collect();
    assert_eq!(relayed.len(), 1, "{point}: {payouts:?}");
    assert_eq!(
        rt.sent_from(op.account_index).await,
        vec![relayed[0].tx_hash.clone()],
        "{point}: one transaction left"
    );
    assert_eq!(
        app.op(&id).billed_until,
        Some(billed + relayed[0].seconds as i64),
        "{point}: billed once"
    );
    assert_eq!(
        relayed[0].seconds,
        3 * 3600 + 30,
        "{point}: the whole period since the droplet was made"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_building_a_payout_sends_exactly_one_transaction() {
    crash_during_a_payout_at("send:built").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_storing_a_payout_sends_exactly_one_transaction() {
    crash_during_a_payout_at("send:stored").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_after_relaying_a_payout_sends_exactly_one_transaction() {
    crash_during_a_payout_at("send:relayed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_wallet_away_pages_show_the_last_balances_marked_stale_and_money_jobs_say_why() {
    let mut rt = Regtest::start().await;
    let main = rt.main_address().await;
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    let app = support::start_with_wallet(&extra, make(&rt)).await;
    let id = app.open("faulty").await;
    let (code, page) = app.get(&format!("/operation/{id}")).await;
    assert_eq!(code, 200);
    assert!(!page.contains("not answering"));

    rt.stop_wallet();
    app.state
        .cache
        .forget_account(app.op(&id).account_index)
        .await;
    let (code, page) = app.get(&format!("/operation/{id}")).await;
    assert_eq!(code, 200, "the page still renders");
    assert!(page.contains("The wallet is not answering right now: these balances are as of"));
    assert!(page.contains("Minimum to launch"));
    let (code, status) = app.get("/status").await;
    assert_eq!(code, 503);
    let v: Value = serde_json::from_str(&status).unwrap();
    assert_eq!(v["parts"]["wallet"]["ok"], false);
    assert_eq!(v["parts"]["store"]["ok"], true);
    let (code, out) = app.post_job("launch-funded").await;
    assert_eq!(
        code, 503,
        "a money job refuses to run on an unchecked wallet"
    );
    assert!(
        out["error"]
            .to_string()
            .contains("cannot list the wallet's accounts"),
        "{out}"
    );
    // Opening an operation needs a new account: refused with a message, nothing stored.
    let n = app.state.store.operations().unwrap().len();
    let (code, _, page) = app
        .post_form("/launchpad", "codename=later&region=ams3")
        .await;
    assert_eq!(code, 503);
    assert!(page.contains("The wallet is not available right now"));
    assert_eq!(app.state.store.operations().unwrap().len(), n);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_credentials_refuse_new_operations_with_a_message() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    let endpoint = rt.endpoint();
    let make: support::MakeWallet = Box::new(move |metrics| {
        Arc::new(nodecannon::clients::monero::WalletRpc::new(
            &endpoint,
            support::monero::USER,
            "wrong",
            metrics,
        ))
    });
    let app = support::start_with_wallet(&[("PAYOUT_ADDRESS", &main)], make).await;
    let (code, _, page) = app
        .post_form("/launchpad", "codename=nope&region=ams3")
        .await;
    assert_eq!(code, 503);
    assert!(page.contains("refused the credentials"), "{page}");
    assert!(app.state.store.operations().unwrap().is_empty());
    let (_, status) = app.get("/status").await;
    assert!(status.contains("refused the credentials"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_refunds_what_is_left_once_the_change_unlocks() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(80, &main).await;
    let refund_to: Value = rt
        .wallet_call("create_account", json!({ "label": "visitor" }))
        .await;
    let refund_to = refund_to["address"].as_str().unwrap().to_string();
    // A subaddress is a valid refund address too.
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    let app = support::start_with_wallet(&extra, make(&rt)).await;
    let (code, loc, page) = app
        .post_form(
            "/launchpad",
            &format!("codename=leaver&region=ams3&refund_address={refund_to}"),
        )
        .await;
    assert_eq!(code, 303, "{page}");
    let id = loc.unwrap().rsplit('/').next().unwrap().to_string();
    let op = app.op(&id);
    rt.send(&op.address, XMR).await;
    rt.mine(11, &main).await;
    app.run_job("launch-funded").await;
    app.advance(30);
    app.run_job("launch-funded").await;
    app.advance(3600);
    let r = app
        .http
        .post(app.url("/admin/api/ops/leaver/cancel"))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(app.op(&id).state, State::Cancelled);
    // The final payout's change is locked for 10 blocks; then the pass refunds it.
    rt.mine(11, &main).await;
    app.run_job("process-payouts").await;
    let payouts = app.state.store.payouts(&id).unwrap();
    let refund = payouts
        .iter()
        .find(|p| p.kind == nodecannon::domain::payout::PayoutKind::Refund)
        .expect("a refund");
    assert_eq!(refund.status, PayoutStatus::Relayed);
    let st: Value = rt
        .wallet_call("get_balance", json!({ "account_index": op.account_index }))
        .await;
    assert_eq!(st["balance"].as_u64().unwrap(), 0, "nothing left behind");
    let spent: u64 = payouts.iter().map(|p| p.amount + p.fee).sum();
    assert_eq!(spent, XMR, "deposits = payouts + fees + refunds + balance");
}

/// End to end with the real parts that run here: funded on regtest, launched
/// through the real DigitalOcean client on the stateful fake DigitalOcean.
#[tokio::test(flavor = "multi_thread")]
async fn a_funded_operation_launches_on_digitalocean_with_the_right_resources() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(80, &main).await;
    let fake = support::fake_do::FakeDo::start().await;
    let cloud: Arc<dyn nodecannon::clients::Cloud> = Arc::new(fake.client().with_backoff(
        3,
        std::time::Duration::from_millis(1),
        std::time::Duration::from_millis(10),
    ));
    let app = support::start_with_wallet_and_cloud(
        &[
            ("PAYOUT_ADDRESS", &main),
            ("PAYOUT_FREQUENCY", "3"),
            ("MIN_FUNDED_HOURS", "24"),
            ("DO_DOMAIN", support::fake_do::DOMAIN),
            ("DO_DROPLET_SIZE", "s-2vcpu-4gb"),
            ("DO_DROPLET_STORAGE_GB", "150"),
            ("DO_SSH_KEY", "289794"),
        ],
        make(&rt),
        cloud,
    )
    .await;
    let (code, loc, page) = app
        .post_form("/launchpad", "codename=zeta&region=ams3")
        .await;
    assert_eq!(code, 303, "{page}");
    let id = loc.unwrap().rsplit('/').next().unwrap().to_string();
    let op = app.op(&id);
    rt.send(&op.address, 2 * XMR).await;
    rt.mine(11, &main).await;
    app.state.cache.forget_account(op.account_index).await;

    // A create fails once in the middle; the launch still makes one of each.
    fake.fail_next(
        "POST",
        "/v2/droplets",
        support::fake_do::Fault::AfterCommit(500),
    );
    app.run_job("launch-funded").await;
    fake.boot_all();
    app.advance(60);
    app.run_job("launch-funded").await;
    assert_eq!(app.op(&id).state, State::Active);
    assert_eq!(fake.pending_faults(), 0, "the lost answer happened");

    let volumes = fake.volumes();
    let droplets = fake.droplets();
    let records = fake.records(support::fake_do::DOMAIN);
    assert_eq!((volumes.len(), droplets.len(), records.len()), (1, 1, 2));
    let (v, d) = (&volumes[0], &droplets[0]);
    let tag = format!("nodecannon-op-{id}");
    assert_eq!(v.name, format!("op-{id}"));
    assert_eq!((v.region.as_str(), v.size_gb), ("ams3", 150));
    assert!(v.tags.contains(&"nodecannon".to_string()) && v.tags.contains(&tag));
    assert_eq!(
        (d.region.as_str(), d.size.as_str()),
        ("ams3", "s-2vcpu-4gb")
    );
    assert!(d.tags.contains(&"nodecannon".to_string()) && d.tags.contains(&tag));
    assert_eq!(d.volume_ids, vec![v.id.clone()]);
    assert_eq!(d.ssh_keys, vec![json!(289794)]);
    assert!(
        d.user_data.starts_with("#cloud-config"),
        "{}",
        &d.user_data[..40]
    );
    assert!(
        d.user_data.len() < 64 * 1024,
        "user-data is {} bytes",
        d.user_data.len()
    );
    assert!(d.user_data.contains(&format!("scsi-0DO_Volume_op-{id}")));
    let mut kinds: Vec<(String, String, String)> = records
        .iter()
        .map(|r| (r.kind.clone(), r.name.clone(), r.data.clone()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("A".into(), "zeta.node".into(), d.ipv4.clone().unwrap()),
            ("AAAA".into(), "zeta.node".into(), d.ipv6.clone().unwrap()),
        ]
    );
    assert_eq!(app.op(&id).resources.droplet_id, Some(d.id));
}

/// `/status` asks the wallet at most once per probe interval (app clock): a
/// stopped wallet-rpc turns it 503 within one interval, and back to 200.
#[tokio::test(flavor = "multi_thread")]
async fn status_turns_503_within_one_probe_interval_when_the_wallet_stops_and_200_when_back() {
    use nodecannon::cache::STATUS_PROBE_SECS;
    let mut rt = Regtest::start().await;
    let main = rt.main_address().await;
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    let app = support::start_with_wallet(&extra, make(&rt)).await;
    // The scheduler is not what is checked here (tests run jobs by hand).
    app.state
        .guards
        .scheduler_running
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let status = || async {
        let (code, body) = app.get("/status").await;
        let v: Value = serde_json::from_str(&body).unwrap();
        (code, v["parts"]["wallet"].clone())
    };
    let (code, wallet) = status().await;
    assert_eq!(code, 200, "{wallet}");

    rt.stop_wallet();
    let (code, _) = status().await;
    assert_eq!(code, 200, "within the interval the last check stands");
    app.advance(STATUS_PROBE_SECS);
    let (code, wallet) = status().await;
    assert_eq!(code, 503, "{wallet}");
    assert_eq!(wallet["ok"], false);

    rt.start_wallet().await;
    let _: Value = rt
        .wallet_call(
            "open_wallet",
            json!({ "filename": "nodecannon", "password": "" }),
        )
        .await;
    let (code, _) = status().await;
    assert_eq!(code, 503, "still the last check");
    app.advance(STATUS_PROBE_SECS);
    let (code, wallet) = status().await;
    assert_eq!(code, 200, "{wallet}");
}

/// Issue 15, finding 1: after the wallet is restored from its seed (accounts
/// beyond 0 not re-created), the launchpad must never hand an operation an
/// account another one owns; `wallet repair` re-creates the missing accounts
/// with their old addresses, and openings resume on fresh accounts.
#[tokio::test(flavor = "multi_thread")]
async fn a_wallet_restored_from_seed_never_gives_one_address_to_two_operations() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(20, &main).await;
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    let app = support::start_with_wallet(&extra, make(&rt)).await;
    let a = app.open("before-one").await;
    let b = app.open("before-two").await;
    let (a, b) = (app.op(&a), app.op(&b));
    assert_ne!(a.account_index, b.account_index);

    rt.restore_from_seed("restored").await;

    // Before any wallet check has run: the wallet hands out account 1 again.
    let (code, _, page) = app
        .post_form("/launchpad", "codename=after-one&region=ams3")
        .await;
    assert_eq!(code, 503, "{page}");
    assert!(page.contains("wallet needs attention"), "{page}");
    let (code, status) = app.get("/status").await;
    assert_eq!(code, 503, "{status}");
    assert!(status.contains("wallet repair"), "{status}");
    // Refused again, now without asking the wallet for an account.
    let (code, _, _) = app
        .post_form("/launchpad", "codename=after-two&region=ams3")
        .await;
    assert_eq!(code, 503);
    assert_eq!(app.state.store.operations().unwrap().len(), 2);

    // The repair re-creates what is missing, each address checked.
    let r = app
        .http
        .post(app.url("/admin/api/wallet/repair"))
        .header("authorization", "Bearer test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let repair: Value = r.json().await.unwrap();
    assert_eq!(repair["still_wrong"], Value::Null, "{repair}");
    assert!(
        nodecannon::jobs::accounts::check_wallet(&app.state)
            .await
            .is_ok()
    );
    let (code, status) = app.get("/status").await;
    assert!(code == 200 || !status.contains("wallet repair"), "{status}");

    // Openings resume, on an account nobody owns.
    let c = app.op(&app.open("after-three").await);
    let ops = app.state.store.operations().unwrap();
    let mut indexes: Vec<u32> = ops.iter().map(|o| o.account_index).collect();
    let mut addresses: Vec<&str> = ops.iter().map(|o| o.address.as_str()).collect();
    indexes.sort();
    indexes.dedup();
    addresses.sort();
    addresses.dedup();
    assert_eq!((indexes.len(), addresses.len()), (3, 3), "{ops:?}");
    assert!(c.account_index > b.account_index.max(a.account_index));
    let held: Value = rt.wallet_call("get_accounts", json!({})).await;
    for op in &ops {
        let row = &held["subaddress_accounts"][op.account_index as usize];
        assert_eq!(row["base_address"], op.address.as_str(), "{row}");
    }
}

/// The app's client of `rt`, asking its daemon too (`XMR_DAEMON_URI`).
fn make_with_daemon(rt: &Regtest) -> support::MakeWallet {
    let (endpoint, daemon) = (rt.endpoint(), rt.daemon_url());
    Box::new(move |metrics| {
        Arc::new(
            nodecannon::clients::monero::WalletRpc::new(
                &endpoint,
                support::monero::USER,
                support::monero::PASS,
                metrics,
            )
            .with_daemon(reqwest::Client::new(), &daemon),
        )
    })
}

/// Funds `id` with `n` outputs of `amount`, unlocks them, launches it.
async fn fund_and_launch(
    rt: &Regtest,
    app: &support::TestApp,
    id: &str,
    amount: u64,
    n: usize,
    main: &str,
) {
    let op = app.op(id);
    rt.send_many(&op.address, amount, n, main).await;
    rt.mine(10, main).await;
    app.state.cache.forget_account(op.account_index).await;
    app.run_job("launch-funded").await;
    app.advance(30);
    app.run_job("launch-funded").await;
    assert_eq!(app.op(id).state, State::Active);
}

/// Outgoing transfers of an account as the wallet records them: (txid,
/// amount, fee, destination addresses).
async fn wallet_outgoing(rt: &Regtest, account: u32) -> Vec<(String, u64, u64, Vec<String>)> {
    let v: Value = rt
        .wallet_call(
            "get_transfers",
            json!({ "out": true, "pending": true, "account_index": account }),
        )
        .await;
    let mut out: Vec<_> = ["out", "pending"]
        .iter()
        .flat_map(|k| v[*k].as_array().cloned().unwrap_or_default())
        .map(|t| {
            let dests = t["destinations"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|x| x["address"].as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default();
            (
                t["txid"].as_str().unwrap().to_string(),
                t["amount"].as_u64().unwrap(),
                t["fee"].as_u64().unwrap(),
                dests,
            )
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Issue 15, finding 2: an operation funded with many small outputs is
/// refunded in full after a cancel (the sweep spans several transactions),
/// each transaction stored, relayed once and recorded with its destination.
#[tokio::test(flavor = "multi_thread")]
async fn many_small_deposits_are_refunded_in_several_transactions_after_a_cancel() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(100, &main).await;
    let refund_to: Value = rt
        .wallet_call("create_account", json!({ "label": "visitor" }))
        .await;
    let refund_to = refund_to["address"].as_str().unwrap().to_string();
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    extra.push(("MIN_FUNDED_HOURS", "3"));
    let app = support::start_with_wallet(&extra, make_with_daemon(&rt)).await;
    let (code, loc, page) = app
        .post_form(
            "/launchpad",
            &format!("codename=dusty&region=ams3&refund_address={refund_to}"),
        )
        .await;
    assert_eq!(code, 303, "{page}");
    let id = loc.unwrap().rsplit('/').next().unwrap().to_string();
    fund_and_launch(&rt, &app, &id, 2_000_000_000, 300, &main).await;
    let op = app.op(&id);

    app.advance(3600);
    let r = app
        .http
        .post(app.url("/admin/api/ops/dusty/cancel"))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    assert_eq!(app.op(&id).state, State::Cancelled);
    rt.mine(11, &main).await;
    let out = app.run_job("process-payouts").await;
    let payouts = app.state.store.payouts(&id).unwrap();
    let refunds: Vec<_> = payouts
        .iter()
        .filter(|p| p.kind == nodecannon::domain::payout::PayoutKind::Refund)
        .collect();
    assert!(refunds.len() >= 2, "a sweep of 300 inputs: {out}");
    assert!(refunds.iter().all(|p| p.status == PayoutStatus::Relayed));
    let st: Value = rt
        .wallet_call("get_balance", json!({ "account_index": op.account_index }))
        .await;
    // What stays is dust a transaction cannot pay its own fee from (regtest
    // fees are high: a sweep of 150 inputs cost 0.1165 XMR).
    let left = st["balance"].as_u64().unwrap();
    let cheapest = payouts.iter().map(|p| p.fee).min().unwrap();
    assert!(
        left < cheapest,
        "left {left} behind: {out} {payouts:?} {st}"
    );
    // Every outgoing transaction the wallet knows is a stored payout, with
    // its amount, fee and destination.
    let sent = wallet_outgoing(&rt, op.account_index).await;
    assert_eq!(sent.len(), payouts.len(), "{sent:?}");
    for (txid, amount, fee, dests) in &sent {
        let p = payouts.iter().find(|p| &p.tx_hash == txid).expect("stored");
        assert_eq!((p.amount, p.fee), (*amount, *fee));
        let to = match p.kind {
            nodecannon::domain::payout::PayoutKind::Refund => &refund_to,
            _ => &main,
        };
        assert!(dests.iter().all(|d| d == to), "{dests:?}");
    }
    let spent: u64 = payouts.iter().map(|p| p.amount + p.fee).sum();
    assert_eq!(spent + left, 300 * 2_000_000_000, "to the piconero");
}

/// Issue 15, finding 2 (end) and 8: after a price crash the end of an
/// operation funded with many small outputs pays all that is left in
/// several transactions; the node never runs on credit.
#[tokio::test(flavor = "multi_thread")]
async fn a_price_crash_ends_an_operation_funded_with_many_small_outputs() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(100, &main).await;
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    extra.push(("MIN_FUNDED_HOURS", "3"));
    extra.push(("PRICE_MAX_MOVE_PERCENT", "100000"));
    let app = support::start_with_wallet(&extra, make_with_daemon(&rt)).await;
    let id = app.open("crashed").await;
    fund_and_launch(&rt, &app, &id, 2_000_000_000, 300, &main).await;
    let op = app.op(&id);
    // The price falls to a thousandth: what is due for 3 h is far above the balance.
    app.state
        .store
        .write(|tx| tx.sandbox_put("price", &150_000u64))
        .unwrap();
    app.state.cache.forget_price().await;
    app.advance(3 * 3600);
    let out = app.run_job("process-payouts").await;
    let after = app.op(&id);
    assert_eq!(after.state, State::Ended, "{out}");
    let payouts = app.state.store.payouts(&id).unwrap();
    assert!(payouts.len() >= 2, "several transactions: {payouts:?}");
    assert!(payouts.iter().all(|p| p.status == PayoutStatus::Relayed));
    let st: Value = rt
        .wallet_call("get_balance", json!({ "account_index": op.account_index }))
        .await;
    assert_eq!(st["balance"].as_u64().unwrap(), 0, "all of it paid out");
    let sent = wallet_outgoing(&rt, op.account_index).await;
    assert_eq!(sent.len(), payouts.len());
    // Real fees, recorded as the wallet charged them.
    let fees: u64 = sent.iter().map(|s| s.2).sum();
    assert_eq!(fees, payouts.iter().map(|p| p.fee).sum::<u64>());
}

/// Issue 15, finding 4: a stored payout whose inputs were spent elsewhere
/// is proven dead by the daemon (wallet-rpc only says "Failed to commit
/// tx."), kept with its reason, and built anew for the same seconds, once.
#[tokio::test(flavor = "multi_thread")]
async fn a_payout_whose_inputs_were_spent_elsewhere_is_proven_dead_and_rebuilt() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(100, &main).await;
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    extra.push(("MIN_FUNDED_HOURS", "3"));
    let app = support::start_with_wallet(&extra, make_with_daemon(&rt)).await;
    let id = app.open("double").await;
    fund_and_launch(&rt, &app, &id, XMR, 4, &main).await;
    let op = app.op(&id);
    let billed = op.billed_until.unwrap();

    // The payout is stored, then the process "dies" before relaying it.
    app.advance(3 * 3600);
    app.state.arm_failpoint("send:stored");
    app.post_job("process-payouts").await;
    let stored = app.state.store.payouts(&id).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].status, PayoutStatus::Built);
    assert!(!stored[0].key_images.is_empty(), "key images recorded");
    // Meanwhile one of its inputs is spent by another transaction.
    let _: Value = rt
        .wallet_call(
            "sweep_single",
            json!({ "key_image": stored[0].key_images[0], "address": main }),
        )
        .await;
    rt.mine(1, &main).await;

    let out = app.run_job("process-payouts").await;
    let payouts = app.state.store.payouts(&id).unwrap();
    match &payouts[0].status {
        PayoutStatus::Dead(why) => assert!(why.contains("spent"), "{why}"),
        s => panic!("not proven dead: {s:?}; {out}"),
    }
    let live: Vec<_> = payouts
        .iter()
        .filter(|p| p.status == PayoutStatus::Relayed)
        .collect();
    assert_eq!(live.len(), 1, "{payouts:?}");
    assert_eq!(live[0].seconds, stored[0].seconds);
    assert_eq!(live[0].amount, stored[0].amount);
    assert_eq!(
        app.op(&id).billed_until.unwrap(),
        billed + stored[0].seconds as i64,
        "billed once"
    );
    // The wallet sent the sweep and one payout: no period paid twice.
    let sent = wallet_outgoing(&rt, op.account_index).await;
    let to_payout: Vec<_> = sent
        .iter()
        .filter(|s| s.0 != stored[0].tx_hash && payouts.iter().any(|p| p.tx_hash == s.0))
        .collect();
    assert_eq!(to_payout.len(), 1, "{sent:?}");
}

/// Issue 15, finding 8: the fee estimate comes from the daemon and pages
/// say so; no end fails because the real fee was above a constant.
#[tokio::test(flavor = "multi_thread")]
async fn the_fee_estimate_comes_from_the_daemon_and_pages_say_so() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(20, &main).await;
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    let app = support::start_with_wallet(&extra, make_with_daemon(&rt)).await;
    app.run_job("process-payouts").await;
    let fee = app.state.cache.fee();
    let per_byte: Value = {
        let v: Value = reqwest::Client::new()
            .post(format!("{}/json_rpc", rt.daemon_url()))
            .json(&json!({ "jsonrpc": "2.0", "id": "0", "method": "get_fee_estimate" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["result"]["fee"].clone()
    };
    assert_eq!(
        fee,
        per_byte.as_u64().unwrap() * nodecannon::clients::monero::PAYOUT_WEIGHT_BYTES
    );
    assert_ne!(fee, nodecannon::domain::money::DEFAULT_FEE_ESTIMATE);
    let (_, info) = app.get("/info").await;
    assert!(info.contains("the daemon's current fee per byte"), "{info}");
}

/// Issue 15, finding 7: the audit reads what left each account from the
/// wallet: a spend no payout records and money in an account no operation
/// owns are named, and `audit` exits 1 (the admin API answers the lines).
#[tokio::test(flavor = "multi_thread")]
async fn the_audit_names_a_rogue_spend_and_an_account_no_operation_owns() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(100, &main).await;
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    extra.push(("MIN_FUNDED_HOURS", "3"));
    let app = support::start_with_wallet(&extra, make_with_daemon(&rt)).await;
    let id = app.open("audited").await;
    fund_and_launch(&rt, &app, &id, XMR, 2, &main).await;
    app.advance(3 * 3600);
    app.run_job("process-payouts").await;
    rt.mine(1, &main).await;
    let lines = nodecannon::jobs::audit::run(&app.state).await.unwrap();
    assert!(lines.iter().all(|l| !l.is_off()), "clean first: {lines:?}");

    // Someone with the wallet spends from the operation's account, and money
    // lands in an account the appliance never handed out.
    let op = app.op(&id);
    let thief: Value = rt
        .wallet_call("create_account", json!({ "label": "thief" }))
        .await;
    let thief_addr = thief["address"].as_str().unwrap().to_string();
    rt.mine(10, &main).await;
    let rogue: Value = rt
        .wallet_call(
            "transfer",
            json!({ "destinations": [{ "amount": XMR / 10, "address": thief_addr }], "account_index": op.account_index }),
        )
        .await;
    rt.mine(1, &main).await;
    let lines = nodecannon::jobs::audit::run(&app.state).await.unwrap();
    let mine = lines.iter().find(|l| l.id == id).unwrap();
    let rogue_id = rogue["tx_hash"].as_str().unwrap();
    assert!(
        mine.problems
            .iter()
            .any(|p| p.contains(rogue_id) && p.contains("no payout records it")),
        "{mine:?}"
    );
    let orphan = lines
        .iter()
        .find(|l| {
            l.id.is_empty() && l.account_index == thief["account_index"].as_u64().unwrap() as u32
        })
        .expect("the unowned account is listed");
    assert!(
        orphan.problems[0].contains("no operation owns it"),
        "{orphan:?}"
    );
    assert_eq!(orphan.balance, XMR / 10);
    let (code, body) = app.get_admin("/admin/audit").await;
    assert_eq!(code, 200);
    assert!(body.contains("no operation owns it") && body.contains(rogue_id));
}

/// Issue 15, finding 6: a database restored from an older backup does not
/// bill again the hours a payout made after the backup paid for (the
/// wallet's transaction is adopted), and the operation opened after the
/// backup shows in the audit as an account no operation owns.
#[tokio::test(flavor = "multi_thread")]
async fn restoring_an_older_backup_never_bills_the_same_hours_twice() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(100, &main).await;
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    extra.push(("MIN_FUNDED_HOURS", "3"));
    let app = support::start_with_wallet(&extra, make_with_daemon(&rt)).await;
    let id = app.open("restored").await;
    fund_and_launch(&rt, &app, &id, XMR, 3, &main).await;
    app.advance(3 * 3600);
    app.run_job("process-payouts").await;
    let backup = tempfile::tempdir().unwrap();
    let file = backup.path().join("old.redb");
    nodecannon::store::backup_to(&app.state.store, &file).unwrap();
    rt.mine(11, &main).await;
    app.advance(3 * 3600);
    app.state
        .cache
        .forget_account(app.op(&id).account_index)
        .await;
    app.run_job("process-payouts").await;
    let before = app.state.store.payouts(&id).unwrap();
    assert_eq!(before.len(), 2, "{before:?}");
    let late = app.op(&app.open("after-backup").await);
    rt.send(&late.address, XMR / 2).await;
    rt.mine(11, &main).await;
    let elapsed = 6 * 3600 + 30;
    drop(app.stop().await);

    // The operator restores the older database; the wallet is the same.
    let dir = tempfile::tempdir().unwrap();
    nodecannon::store::restore_from(&file, dir.path()).unwrap();
    let app = support::restart_with_wallet(dir, &extra, make_with_daemon(&rt)).await;
    app.advance(elapsed + 3 * 3600);
    let out = app.run_job("process-payouts").await;
    let after = app.state.store.payouts(&id).unwrap();
    assert!(
        after.iter().any(|p| p.tx_hash == before[1].tx_hash),
        "the payout made after the backup is adopted: {out}"
    );
    let newest = after.iter().max_by_key(|p| p.seq).unwrap();
    assert_ne!(newest.tx_hash, before[1].tx_hash);
    assert!(
        newest.seconds <= 3 * 3600 + 600,
        "billed {} s: the hours paid after the backup were billed again ({out})",
        newest.seconds
    );
    let lines = nodecannon::jobs::audit::run(&app.state).await.unwrap();
    assert!(
        lines.iter().any(|l| l.account_index == late.account_index
            && l.problems
                .iter()
                .any(|p| p.contains("no operation owns it"))),
        "{lines:?}"
    );
}

/// Issue 15, finding 9: a cancel minutes after a payout finds the payout's
/// change locked; the hours until the cancel are billed once it unlocks,
/// never forgiven, and only then is the rest refunded.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_right_after_a_payout_bills_its_hours_once_the_change_unlocks() {
    let rt = Regtest::start().await;
    let main = rt.main_address().await;
    rt.mine(100, &main).await;
    let refund_to: Value = rt
        .wallet_call("create_account", json!({ "label": "visitor" }))
        .await;
    let refund_to = refund_to["address"].as_str().unwrap().to_string();
    let mut extra = EXTRA.to_vec();
    extra.push(("PAYOUT_ADDRESS", &main));
    extra.push(("MIN_FUNDED_HOURS", "3"));
    let app = support::start_with_wallet(&extra, make_with_daemon(&rt)).await;
    let (code, loc, page) = app
        .post_form(
            "/launchpad",
            &format!("codename=quick&region=ams3&refund_address={refund_to}"),
        )
        .await;
    assert_eq!(code, 303, "{page}");
    let id = loc.unwrap().rsplit('/').next().unwrap().to_string();
    fund_and_launch(&rt, &app, &id, XMR, 1, &main).await;
    app.advance(3 * 3600);
    app.run_job("process-payouts").await;
    let billed = app.op(&id).billed_until.unwrap();
    // Ten minutes later (no block yet: the change is locked), the cancel.
    app.advance(600);
    let r = app
        .http
        .post(app.url("/admin/api/ops/quick/cancel"))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let op = app.op(&id);
    assert_eq!(op.state, State::Cancelled);
    assert_eq!(
        op.billed_until,
        Some(billed),
        "the 10 minutes are still owed"
    );
    rt.mine(11, &main).await;
    app.state.cache.forget_account(op.account_index).await;
    app.run_job("process-payouts").await;
    let payouts = app.state.store.payouts(&id).unwrap();
    let last_hosting = payouts
        .iter()
        .filter(|p| p.kind == nodecannon::domain::payout::PayoutKind::Hosting)
        .max_by_key(|p| p.seq)
        .unwrap();
    assert_eq!(last_hosting.seconds, 600, "{payouts:?}");
    assert!(last_hosting.amount > 0);
    assert_eq!(app.op(&id).billed_until, None);
    // The refund follows once that payout's change unlocks.
    rt.mine(11, &main).await;
    app.state.cache.forget_account(op.account_index).await;
    app.run_job("process-payouts").await;
    let payouts = app.state.store.payouts(&id).unwrap();
    assert!(
        payouts
            .iter()
            .any(|p| p.kind == nodecannon::domain::payout::PayoutKind::Refund
                && p.status == PayoutStatus::Relayed),
        "{payouts:?}"
    );
    let spent: u64 = payouts.iter().map(|p| p.amount + p.fee).sum();
    let st: Value = rt
        .wallet_call("get_balance", json!({ "account_index": op.account_index }))
        .await;
    assert_eq!(spent + st["balance"].as_u64().unwrap(), XMR);
}
