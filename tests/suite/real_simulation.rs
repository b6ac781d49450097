//! Issue 15: a simulation against a real regtest monerod and
//! monero-wallet-rpc. Twenty-odd operations, funded with random deposits of
//! several outputs, run through thirty-odd payout periods while the price
//! moves (and crashes), wallet-rpc is killed and restarted, the app "crashes"
//! at failpoints between building, storing and relaying a payout and restarts
//! on the same data, a stored payout's input is spent elsewhere (the daemon
//! proves it dead; it is built anew once), and operations are cancelled. The
//! wallet's own records then have to agree with the store: no period paid
//! twice, nothing left an account that no payout records, refunds complete,
//! and the audit balances to the piconero.
//!
//! `SIM_SEED` (decimal or 0x-hex) replays another run; the seed is printed.

use crate::support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use nodecannon::clock::Clock;
use nodecannon::domain::event::EventKind;
use nodecannon::domain::payout::{Payout, PayoutKind, PayoutStatus};
use nodecannon::domain::state::State;
use serde_json::{Value, json};
use support::TestApp;
use support::monero::Regtest;

const XMR: u64 = 1_000_000_000_000;
const MILLI: u64 = XMR / 1000;
const HOUR: i64 = 3600;
/// PAYOUT_FREQUENCY: one simulated period.
const PERIOD: i64 = 3 * HOUR;
/// Operations opened at the start, and later ones.
const FIRST_OPS: usize = 20;
const LATER_OPS: usize = 3;
/// Periods of the main loop (the final settling passes come on top).
const PERIODS: usize = 32;
const DEFAULT_SEED: u64 = 0x5EED_15C0_FFEE_0015;

/// xorshift64: the same run for the same seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// 0..n
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// lo..=hi
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
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

/// A wallet call that may fail (wallet-rpc briefly loses its daemon while
/// the daemon is busy): asked again a few times.
async fn try_wallet_call(rt: &Regtest, method: &str, params: Value) -> Result<Value, String> {
    let c = rt.client(Arc::new(nodecannon::metrics::Metrics::default()));
    let mut last = String::new();
    for _ in 0..20 {
        match c
            .rpc()
            .call::<Value>(method, params.clone(), Duration::from_secs(120))
            .await
        {
            Ok(v) => return Ok(v),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("{method}: {last}"))
}

/// One outgoing transfer as the wallet records it.
#[derive(Debug, Clone)]
struct Out {
    txid: String,
    amount: u64,
    fee: u64,
    dests: Vec<String>,
}

/// Outgoing transfers of an account (relayed and in the pool), as the
/// wallet lists them: not deduplicated, so a transaction listed twice shows.
async fn wallet_outgoing(rt: &Regtest, account: u32) -> Vec<Out> {
    let v: Value = rt
        .wallet_call(
            "get_transfers",
            json!({ "out": true, "pending": true, "account_index": account }),
        )
        .await;
    ["out", "pending"]
        .iter()
        .flat_map(|k| v[*k].as_array().cloned().unwrap_or_default())
        .map(|t| Out {
            txid: t["txid"].as_str().unwrap().to_string(),
            amount: t["amount"].as_u64().unwrap(),
            fee: t["fee"].as_u64().unwrap(),
            dests: t["destinations"]
                .as_array()
                .map(|d| {
                    d.iter()
                        .map(|x| x["address"].as_str().unwrap_or("").to_string())
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// (balance, unlocked balance) of an account.
async fn balance(rt: &Regtest, account: u32) -> (u64, u64) {
    let v: Value = rt
        .wallet_call("get_balance", json!({ "account_index": account }))
        .await;
    (
        v["balance"].as_u64().unwrap(),
        v["unlocked_balance"].as_u64().unwrap(),
    )
}

/// An operation as the test knows it.
#[derive(Debug, Clone)]
struct SimOp {
    id: String,
    codename: String,
    account: u32,
    refund: Option<String>,
    address: String,
    /// Piconero the test sent to its address.
    deposited: u64,
    /// 0 poor (ends during the run), 1 normal, 2 rich.
    profile: u8,
}

/// What the test saw of an operation's billing, pass after pass.
#[derive(Debug, Default)]
struct Track {
    billed_until: Option<i64>,
    /// Seconds of its hosting payouts not proven dead.
    paid: i64,
    /// Seconds billed-until moved (or an end billed), summed.
    billed: i64,
}

/// Seconds paid by hosting payouts not proven dead.
fn paid_seconds(payouts: &[Payout]) -> i64 {
    payouts
        .iter()
        .filter(|p| p.kind == PayoutKind::Hosting && !matches!(p.status, PayoutStatus::Dead(_)))
        .map(|p| p.seconds as i64)
        .sum()
}

/// After every job (and restart): billed-until only moves forward, and by
/// exactly the seconds of the payouts stored meanwhile; an end bills at most
/// the time since billed-until; nothing is paid while nothing is billed. So
/// the stored payouts' periods follow each other and never overlap: no
/// period is paid twice.
fn check_billing(app: &TestApp, tracks: &mut HashMap<String, Track>, when: &str) {
    let now = app.clock.now();
    for op in app.state.store.operations().unwrap() {
        let payouts = app.state.store.payouts(&op.id).unwrap();
        let paid = paid_seconds(&payouts);
        let t = tracks.entry(op.id.clone()).or_default();
        let d = paid - t.paid;
        let ctx = || {
            format!(
                "{when}: {} ({:?}) billed_until {:?} -> {:?}, paid seconds {} -> {paid}; payouts {:#?}",
                op.codename, op.state, t.billed_until, op.billed_until, t.paid, payouts
            )
        };
        if let Some(b) = op.billed_until {
            assert!(b <= now, "billed into the future: {}", ctx());
        }
        match (t.billed_until, op.billed_until) {
            (Some(a), Some(b)) => {
                assert!(b >= a, "billed-until moved back: {}", ctx());
                assert_eq!(
                    b - a,
                    d,
                    "billed-until moved by other than the seconds paid: {}",
                    ctx()
                );
            }
            (Some(a), None) => {
                assert!(
                    (0..=now - a).contains(&d),
                    "the end billed other than the time since billed-until: {}",
                    ctx()
                );
            }
            (None, _) => assert_eq!(d, 0, "paid while nothing was billed: {}", ctx()),
        }
        t.billed += match (t.billed_until, op.billed_until) {
            (Some(a), Some(b)) => b - a,
            (Some(_), None) => d,
            _ => 0,
        };
        t.billed_until = op.billed_until;
        t.paid = paid;
    }
}

/// Counts and the run's log.
#[derive(Debug, Default)]
struct Counts {
    periods: usize,
    wallet_restarts: usize,
    app_restarts: usize,
    failpoints_hit: BTreeMap<String, usize>,
    sweeps: usize,
    cancels: usize,
    top_ups: usize,
    price_moves: usize,
    crashes: usize,
    pass_errors: usize,
}

/// Runs a job; errors are counted and printed (faults are expected), the
/// billing is checked after it.
async fn job(
    app: &TestApp,
    name: &str,
    tracks: &mut HashMap<String, Track>,
    counts: &mut Counts,
    when: &str,
) -> (u16, Value) {
    let (code, out) = app.post_job(name).await;
    let errors = out["errors"].as_array().cloned().unwrap_or_default();
    if code != 200 || !errors.is_empty() {
        counts.pass_errors += 1;
        println!("  {when} {name}: {code} {}", out);
    }
    check_billing(app, tracks, &format!("{when} after {name}"));
    (code, out)
}

/// Sends the given outputs (one transaction per 15), counted as deposits.
async fn deposit(rt: &Regtest, ops: &mut [SimOp], outputs: &[(usize, u64)]) {
    for chunk in outputs.chunks(15) {
        let dests: Vec<(String, u64)> = chunk
            .iter()
            .map(|(i, a)| (ops[*i].address.clone(), *a))
            .collect();
        rt.send_outputs(&dests).await;
        for (i, a) in chunk {
            ops[*i].deposited += a;
        }
    }
}

/// Random outputs for an operation of `profile`: 1..=8 of random amounts;
/// a poor one gets just over `min` (the minimum to launch) in one or two,
/// so it ends within a few periods.
fn outputs_for(rng: &mut Rng, i: usize, profile: u8, min: u64) -> Vec<(usize, u64)> {
    if profile == 0 {
        let total = min / 100 * rng.range(105, 150);
        return match rng.range(1, 2) {
            1 => vec![(i, total)],
            _ => vec![(i, total / 2), (i, total - total / 2)],
        };
    }
    let (n, lo, hi) = match profile {
        1 => (rng.range(1, 8), 4, 30),
        _ => (rng.range(2, 8), 20, 90),
    };
    (0..n)
        .map(|_| (i, rng.range(lo * MILLI, hi * MILLI)))
        .collect()
}

/// The minimum to launch at `price`, by the app's own rule and its current
/// fee estimate.
async fn min_to_launch(app: &TestApp, price: u64) -> u64 {
    let cost = nodecannon::pricing::hourly_cost(&app.state).await.unwrap();
    nodecannon::domain::money::Rates {
        cost: cost.total(),
        price,
        fee: app.state.cache.fee(),
        payout_every: PERIOD as u64,
    }
    .needed_for(6 * HOUR as u64)
}

fn set_price(app: &TestApp, micro_usd: u64) {
    app.state
        .store
        .write(|tx| tx.sandbox_put("price", &micro_usd))
        .unwrap();
}

async fn forget_caches(app: &TestApp, ops: &[SimOp]) {
    app.state.cache.forget_price().await;
    for op in ops {
        app.state.cache.forget_account(op.account).await;
    }
}

async fn open(app: &TestApp, codename: &str, refund: Option<&str>) -> String {
    let body = match refund {
        Some(r) => format!("codename={codename}&region=ams3&refund_address={r}"),
        None => format!("codename={codename}&region=ams3"),
    };
    let (code, loc, page) = app.post_form("/launchpad", &body).await;
    assert_eq!(code, 303, "{page}");
    loc.unwrap().rsplit('/').next().unwrap().to_string()
}

async fn cancel(app: &TestApp, codename: &str) -> (u16, String) {
    let r = app
        .http
        .post(app.url(&format!("/admin/api/ops/{codename}/cancel")))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A fresh subaddress of account 0 (the wallet's own account, which the
/// audit does not list as unowned); saved so a kill of wallet-rpc keeps it.
async fn fresh_address(rt: &Regtest, label: &str) -> String {
    let v: Value = rt
        .wallet_call(
            "create_address",
            json!({ "account_index": 0, "label": label }),
        )
        .await;
    v["address"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_wallet_simulation_of_many_operations_and_periods_balances() {
    let started = std::time::Instant::now();
    let seed = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => s.parse().ok(),
        })
        .unwrap_or(DEFAULT_SEED)
        .max(1);
    println!("real simulation: seed {seed:#018x} (SIM_SEED to replay)");
    let mut rng = Rng(seed);

    let mut rt = Regtest::start().await;
    let main = rt.main_address().await;
    // Many unlocked coinbase outputs for the deposits.
    rt.mine(200, &main).await;
    // Refund addresses and the place a stored payout's input is spent to:
    // fresh addresses of the wallet, none of them an operation's.
    let elsewhere = fresh_address(&rt, "elsewhere").await;
    let mut refunds = Vec::new();
    for i in 0..(FIRST_OPS + LATER_OPS) {
        refunds.push(fresh_address(&rt, &format!("refund-{i}")).await);
    }
    rt.store_wallet().await;

    let extra: Vec<(&str, &str)> = vec![
        ("PAYOUT_ADDRESS", &main),
        ("PAYOUT_FREQUENCY", "3"),
        ("MIN_FUNDED_HOURS", "6"),
        ("LOW_FUNDS_HOURS", "6"),
        ("GRACE_HOURS", "9"),
        ("PRICE_MAX_MOVE_PERCENT", "100000"),
    ];
    let mut app = support::start_with_wallet(&extra, make_with_daemon(&rt)).await;
    let mut price: u64 = 150_000_000;
    set_price(&app, price);

    let mut tracks: HashMap<String, Track> = HashMap::new();
    let mut counts = Counts::default();
    let mut ops: Vec<SimOp> = Vec::new();
    // Sweeps made on purpose: (account, txid).
    let mut swept: Vec<(u32, String)> = Vec::new();

    let open_op = |i: usize, rng: &mut Rng| {
        let profile = match i % 5 {
            0 => 0,
            1 | 3 => 1,
            2 => 2,
            _ => rng.below(3) as u8,
        };
        let refund = (i % 3 != 1).then(|| refunds[i].clone());
        (format!("sim-{i}"), profile, refund)
    };
    for i in 0..FIRST_OPS {
        let (codename, profile, refund) = open_op(i, &mut rng);
        let id = open(&app, &codename, refund.as_deref()).await;
        let op = app.op(&id);
        ops.push(SimOp {
            id,
            codename,
            account: op.account_index,
            address: op.address.clone(),
            refund,
            deposited: 0,
            profile,
        });
    }
    // A first pass reads the fee estimate from the daemon.
    job(&app, "process-payouts", &mut tracks, &mut counts, "start").await;
    let min = min_to_launch(&app, price).await;
    println!(
        "fee estimate {} piconero, minimum to launch {min} piconero",
        app.state.cache.fee()
    );
    // All but two funded now (those two later): random multi-output deposits.
    let mut outs = Vec::new();
    for (i, op) in ops.iter().enumerate().take(FIRST_OPS - 2) {
        outs.extend(outputs_for(&mut rng, i, op.profile, min));
    }
    deposit(&rt, &mut ops, &outs).await;
    rt.mine(11, &main).await;
    check_billing(&app, &mut tracks, "start");

    // Two crashes to a fiftieth, each for one period.
    let crash_at = [rng.range(10, 14) as usize, rng.range(20, 26) as usize];
    let mut crashed_from: Option<u64> = None;
    for period in 0..PERIODS {
        let when = format!("period {period}");
        let t0 = std::time::Instant::now();
        // Top-ups, some unlocked by this pass, some still locked at it.
        let mut top = Vec::new();
        let min = min_to_launch(&app, price).await;
        if period == 5 {
            for (i, op) in ops.iter().enumerate().skip(FIRST_OPS - 2) {
                top.extend(outputs_for(&mut rng, i, op.profile, min));
            }
        }
        if period > 0 && period % 8 == 0 && ops.len() < FIRST_OPS + LATER_OPS {
            let i = ops.len();
            let (codename, profile, refund) = open_op(i, &mut rng);
            let id = open(&app, &codename, refund.as_deref()).await;
            let op = app.op(&id);
            ops.push(SimOp {
                id,
                codename,
                account: op.account_index,
                address: op.address.clone(),
                refund,
                deposited: 0,
                profile,
            });
            top.extend(outputs_for(&mut rng, i, profile, min));
        }
        for (i, op) in ops.iter().enumerate() {
            if op.profile > 0 && rng.chance(9) {
                top.extend(outputs_for(&mut rng, i, 1, min));
                counts.top_ups += 1;
            }
        }
        let late = rng.chance(3);
        if !late {
            deposit(&rt, &mut ops, &top).await;
        }
        app.advance(PERIOD - 60);
        rt.mine(11, &main).await;
        if late {
            deposit(&rt, &mut ops, &top).await;
            rt.mine(1, &main).await;
        }
        // The price: the market moves; twice it crashes for a period.
        if let Some(before) = crashed_from.take() {
            price = before;
            set_price(&app, price);
            counts.price_moves += 1;
        } else if crash_at.contains(&period) {
            crashed_from = Some(price);
            price /= 50;
            set_price(&app, price);
            counts.crashes += 1;
        } else if rng.chance(3) {
            price = (price * rng.range(70, 130) / 100).clamp(40_000_000, 600_000_000);
            set_price(&app, price);
            counts.price_moves += 1;
        }
        forget_caches(&app, &ops).await;

        // wallet-rpc killed before a pass; back after one failed pass.
        if rng.chance(6) || (period == 9 && counts.wallet_restarts == 0) {
            rt.stop_wallet();
            forget_caches(&app, &ops).await;
            let (c1, o1) = app.post_job("launch-funded").await;
            let (c2, o2) = app.post_job("process-payouts").await;
            check_billing(&app, &mut tracks, &format!("{when} wallet down"));
            assert!(
                (c1 != 200 || o1["errors"].as_array().is_some_and(|e| !e.is_empty()))
                    && (c2 != 200 || o2["errors"].as_array().is_some_and(|e| !e.is_empty())),
                "passes without a wallet said nothing: {o1} {o2}"
            );
            rt.start_wallet().await;
            let _: Value = rt
                .wallet_call(
                    "open_wallet",
                    json!({ "filename": "nodecannon", "password": "" }),
                )
                .await;
            let _: Value = rt.wallet_call("refresh", json!({})).await;
            forget_caches(&app, &ops).await;
            counts.wallet_restarts += 1;
        }

        job(&app, "launch-funded", &mut tracks, &mut counts, &when).await;
        app.advance(60);
        job(&app, "launch-funded", &mut tracks, &mut counts, &when).await;

        // The payout pass, with a fault now and then.
        // 1..=3: a crash at a failpoint and a restart; 4: an input of a
        // stored payout spent elsewhere before its relay.
        let fault = match rng.below(6) {
            _ if period == 3 => 1,
            _ if period == 4 => 2,
            _ if period == 10 => 3,
            _ if period == 7 || period == 15 || period == 23 => 4,
            0 => 1 + rng.below(4),
            _ => 0,
        };
        match fault {
            // A crash at a failpoint; the app restarts on the same data.
            1..=3 => {
                let point = ["send:stored", "send:relayed", "send:built"][fault as usize - 1];
                app.state.arm_failpoint(point);
                let (_, out) = job(&app, "process-payouts", &mut tracks, &mut counts, &when).await;
                if out.to_string().contains(&format!("failpoint {point}")) {
                    *counts.failpoints_hit.entry(point.to_string()).or_default() += 1;
                }
                let now = app.clock.now();
                let dir = app.stop().await;
                app = support::restart_with_wallet(dir, &extra, make_with_daemon(&rt)).await;
                app.clock.set(now);
                counts.app_restarts += 1;
                check_billing(&app, &mut tracks, &format!("{when} restart"));
                job(&app, "process-payouts", &mut tracks, &mut counts, &when).await;
            }
            // A stored payout whose input is spent elsewhere before its relay.
            4 => {
                app.state.arm_failpoint("send:stored");
                let (_, out) = job(&app, "process-payouts", &mut tracks, &mut counts, &when).await;
                let hit = out.to_string().contains("failpoint send:stored");
                let built = app.state.store.payouts_built().unwrap();
                if hit {
                    *counts
                        .failpoints_hit
                        .entry("send:stored".to_string())
                        .or_default() += 1;
                }
                let mut spent = false;
                if let Some(p) = built.first().filter(|p| !p.key_images.is_empty()) {
                    let op = app.op(&p.op_id);
                    let inputs: Value = rt
                        .wallet_call(
                            "incoming_transfers",
                            json!({ "transfer_type": "available", "account_index": op.account_index }),
                        )
                        .await;
                    let value = inputs["transfers"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                        .iter()
                        .find(|t| t["key_image"] == p.key_images[0].as_str())
                        .and_then(|t| t["amount"].as_u64());
                    let (_, unlocked) = balance(&rt, op.account_index).await;
                    let fee = app.state.cache.fee();
                    // Only where the rest still pays the payout again.
                    if let Some(v) = value
                        && unlocked.saturating_sub(v) >= p.amount + 3 * fee
                    {
                        let s = try_wallet_call(
                            &rt,
                            "sweep_single",
                            json!({ "key_image": p.key_images[0], "address": elsewhere }),
                        )
                        .await
                        .unwrap();
                        let txid = s["tx_hash"].as_str().unwrap().to_string();
                        println!(
                            "  {when}: spent input {} of stored payout {} of {} elsewhere in {txid}",
                            p.key_images[0], p.tx_hash, op.codename
                        );
                        swept.push((op.account_index, txid));
                        rt.store_wallet().await;
                        rt.mine(1, &main).await;
                        counts.sweeps += 1;
                        spent = true;
                    }
                }
                forget_caches(&app, &ops).await;
                let (_, out) = job(&app, "process-payouts", &mut tracks, &mut counts, &when).await;
                if spent {
                    assert!(
                        out.to_string().contains("is dead"),
                        "the payout whose input was spent is proven dead: {out}"
                    );
                }
                if !hit {
                    // The failpoint was not reached: disarm it by a restart.
                    let now = app.clock.now();
                    let dir = app.stop().await;
                    app = support::restart_with_wallet(dir, &extra, make_with_daemon(&rt)).await;
                    app.clock.set(now);
                    counts.app_restarts += 1;
                    check_billing(&app, &mut tracks, &format!("{when} restart"));
                }
            }
            _ => {
                job(&app, "process-payouts", &mut tracks, &mut counts, &when).await;
            }
        }

        // Now and then the operator cancels a running operation.
        if period % 5 == 4 {
            let running: Vec<usize> = (0..ops.len())
                .filter(|&i| app.op(&ops[i].id).state.has_node())
                .collect();
            if !running.is_empty() {
                let i = running[rng.below(running.len() as u64) as usize];
                let (code, body) = cancel(&app, &ops[i].codename).await;
                println!("  {when}: cancel {} -> {code}", ops[i].codename);
                assert!(code == 200 || code == 409, "{code} {body}");
                if code == 200 {
                    counts.cancels += 1;
                }
                check_billing(&app, &mut tracks, &format!("{when} cancel"));
            }
        }
        counts.periods += 1;
        let states = app.state.store.operations().unwrap().iter().fold(
            BTreeMap::<String, usize>::new(),
            |mut m, o| {
                *m.entry(format!("{:?}", o.state)).or_default() += 1;
                m
            },
        );
        println!(
            "period {period}: price ${:.2}, {:.1} s, {states:?}",
            price as f64 / 1e6,
            t0.elapsed().as_secs_f64()
        );
    }

    // The end: the operator cancels what still runs; then passes until the
    // ends are closed and what is left is refunded.
    forget_caches(&app, &ops).await;
    for op in &ops {
        if app.op(&op.id).state.has_node() {
            let (code, body) = cancel(&app, &op.codename).await;
            assert!(code == 200 || code == 409, "{code} {body}");
            if code == 200 {
                counts.cancels += 1;
            }
            check_billing(&app, &mut tracks, "final cancel");
        }
    }
    for round in 0..8 {
        let when = format!("final {round}");
        app.advance(PERIOD - 60);
        rt.mine(11, &main).await;
        forget_caches(&app, &ops).await;
        job(&app, "launch-funded", &mut tracks, &mut counts, &when).await;
        app.advance(60);
        job(&app, "process-payouts", &mut tracks, &mut counts, &when).await;
        for op in &ops {
            if app.op(&op.id).state.has_node() {
                let (code, _) = cancel(&app, &op.codename).await;
                if code == 200 {
                    counts.cancels += 1;
                }
                check_billing(&app, &mut tracks, &format!("{when} cancel"));
            }
        }
        let all = app.state.store.operations().unwrap();
        let settled = all
            .iter()
            .all(|o| !o.state.has_node() && o.state != State::Ended && o.billed_until.is_none())
            && app.state.store.payouts_built().unwrap().is_empty();
        if settled && round >= 1 {
            break;
        }
    }
    rt.mine(11, &main).await;
    forget_caches(&app, &ops).await;
    job(&app, "process-payouts", &mut tracks, &mut counts, "last").await;
    rt.mine(1, &main).await;

    // ---- From the wallet's own records. ----
    let all = app.state.store.operations().unwrap();
    let payouts = app.state.store.all_payouts().unwrap();
    let fee = app.state.cache.fee();
    let swept_ids: HashSet<&str> = swept.iter().map(|(_, t)| t.as_str()).collect();
    let droplets = nodecannon::sandbox::SandboxCloud::droplets_raw(&app.state.store).unwrap();
    let accounts: Value = rt.wallet_call("get_accounts", json!({})).await;
    let (mut relayed_n, mut dead_n, mut refunds_n, mut ends) = (0, 0, 0, 0);

    // No transaction is recorded by two relayed payouts, of one operation or two.
    let mut all_hashes: Vec<&str> = payouts
        .iter()
        .filter(|p| p.status == PayoutStatus::Relayed)
        .map(|p| p.tx_hash.as_str())
        .collect();
    all_hashes.sort();
    let n = all_hashes.len();
    all_hashes.dedup();
    assert_eq!(all_hashes.len(), n, "a transaction recorded twice");

    // 3. No operation shares an account; every address is its account's.
    let mut indexes: Vec<u32> = all.iter().map(|o| o.account_index).collect();
    indexes.sort();
    indexes.dedup();
    assert_eq!(indexes.len(), all.len(), "an account shared: {all:#?}");
    assert!(!indexes.contains(&0), "the wallet's own account handed out");
    for op in &all {
        let row = &accounts["subaddress_accounts"][op.account_index as usize];
        assert_eq!(
            row["base_address"],
            op.address.as_str(),
            "{}: {row}",
            op.codename
        );
        let sim = ops.iter().find(|s| s.id == op.id).unwrap();
        assert_eq!(sim.account, op.account_index);
    }

    for op in &all {
        let sim = ops.iter().find(|s| s.id == op.id).unwrap();
        let mine: Vec<&Payout> = payouts.iter().filter(|p| p.op_id == op.id).collect();
        let sent = wallet_outgoing(&rt, op.account_index).await;
        let ctx = || {
            format!(
                "{} ({:?}): payouts {mine:#?}\nwallet {sent:#?}",
                op.codename, op.state
            )
        };
        assert!(
            mine.iter().all(|p| p.status != PayoutStatus::Built),
            "a payout left unrelayed: {}",
            ctx()
        );

        // 1. No period paid twice.
        let t = &tracks[&op.id];
        assert_eq!(
            t.paid,
            paid_seconds(
                &payouts
                    .iter()
                    .filter(|p| p.op_id == op.id)
                    .cloned()
                    .collect::<Vec<_>>()
            ),
            "{}",
            ctx()
        );
        assert_eq!(
            t.paid,
            t.billed,
            "paid seconds against billed time: {}",
            ctx()
        );
        let relayed: Vec<&&Payout> = mine
            .iter()
            .filter(|p| p.status == PayoutStatus::Relayed)
            .collect();
        let mut hashes: Vec<&str> = relayed.iter().map(|p| p.tx_hash.as_str()).collect();
        hashes.sort();
        let n = hashes.len();
        hashes.dedup();
        assert_eq!(
            hashes.len(),
            n,
            "two relayed payouts share a transaction: {}",
            ctx()
        );
        for p in &relayed {
            let times = sent.iter().filter(|s| s.txid == p.tx_hash).count();
            assert_eq!(
                times,
                1,
                "payout {} is in the wallet {times} times: {}",
                p.tx_hash,
                ctx()
            );
        }
        // Each dead hosting payout was built anew once for the same seconds.
        let mut rebuilt_by: HashSet<u64> = HashSet::new();
        for d in mine
            .iter()
            .filter(|p| matches!(p.status, PayoutStatus::Dead(_)))
        {
            assert!(
                swept.iter().any(|(a, _)| *a == op.account_index),
                "a payout died without a spend elsewhere: {}",
                ctx()
            );
            if d.kind == PayoutKind::Hosting {
                let again = mine
                    .iter()
                    .filter(|p| {
                        p.seq > d.seq
                            && p.kind == PayoutKind::Hosting
                            && p.status == PayoutStatus::Relayed
                            && (p.seconds, p.amount) == (d.seconds, d.amount)
                            && !rebuilt_by.contains(&p.seq)
                    })
                    .min_by_key(|p| p.seq)
                    .unwrap_or_else(|| panic!("dead payout {} not rebuilt: {}", d.tx_hash, ctx()));
                rebuilt_by.insert(again.seq);
            }
            dead_n += 1;
        }

        // 2. Everything that left the account is a stored payout, to its address.
        for s in sent.iter().filter(|s| !swept_ids.contains(s.txid.as_str())) {
            let p = relayed
                .iter()
                .find(|p| p.tx_hash == s.txid)
                .unwrap_or_else(|| {
                    panic!(
                        "{} left the account and no relayed payout records it: {}",
                        s.txid,
                        ctx()
                    )
                });
            assert_eq!(
                (p.amount, p.fee),
                (s.amount, s.fee),
                "{}: {}",
                s.txid,
                ctx()
            );
            let to = match p.kind {
                PayoutKind::Hosting => main.as_str(),
                PayoutKind::Refund => op
                    .refund_address
                    .as_deref()
                    .expect("a refund without an address"),
            };
            assert_eq!(p.to, to, "{}: {}", s.txid, ctx());
            assert!(
                !s.dests.is_empty() && s.dests.iter().all(|d| d == to),
                "{} went to {:?}, not {to}: {}",
                s.txid,
                s.dests,
                ctx()
            );
        }
        assert_eq!(
            sent.iter()
                .filter(|s| !swept_ids.contains(s.txid.as_str()))
                .count(),
            relayed.len(),
            "{}",
            ctx()
        );
        relayed_n += relayed.len();
        refunds_n += relayed
            .iter()
            .filter(|p| p.kind == PayoutKind::Refund)
            .count();

        // 4. Ended and cancelled ones: refunded (when they gave an address), no droplet.
        let events = app.state.store.events(&op.id).unwrap();
        ends += events.iter().filter(|e| e.kind == EventKind::Ended).count();
        if !op.state.has_node() {
            assert!(
                op.resources.droplet_id.is_none(),
                "{} holds a droplet",
                op.codename
            );
            let tag = format!("nodecannon-op-{}", op.id);
            assert!(
                droplets.iter().all(|d| !d.tags.contains(&tag)),
                "{} still has a droplet in the cloud",
                op.codename
            );
        }
        if matches!(op.state, State::Ended | State::Closed | State::Cancelled)
            && sim.refund.is_some()
        {
            let (left, _) = balance(&rt, op.account_index).await;
            assert!(
                left < fee,
                "{} ({:?}) keeps {left} piconero, a fee is {fee}: the refund did not complete: {}",
                op.codename,
                op.state,
                ctx()
            );
        }
    }

    // 5. The audit: nothing off but the accounts spent from on purpose, and
    // every line balances to the piconero.
    let lines = nodecannon::jobs::audit::run(&app.state).await.unwrap();
    let swept_accounts: HashSet<u32> = swept.iter().map(|(a, _)| *a).collect();
    let mut total_deposits = 0u64;
    for l in &lines {
        assert!(!l.id.is_empty(), "an account no operation owns: {l:?}");
        assert!(l.error.is_none(), "{l:?}");
        let sim = ops.iter().find(|s| s.id == l.id).unwrap();
        if swept_accounts.contains(&l.account_index) {
            let sent = wallet_outgoing(&rt, l.account_index).await;
            let mine: Vec<Out> = sent
                .into_iter()
                .filter(|s| swept_ids.contains(s.txid.as_str()))
                .collect();
            // Only the sweeps are named.
            for p in &l.problems {
                assert!(
                    mine.iter().any(|s| p.contains(&s.txid)) || p.contains("off by"),
                    "{}: {p}",
                    l.codename
                );
            }
            let swept_amount: u64 = mine.iter().map(|s| s.amount).sum();
            assert_eq!(
                l.difference.unsigned_abs(),
                u128::from(swept_amount + mine.iter().map(|s| s.fee).sum::<u64>()),
                "the difference is the sweeps: {l:?}"
            );
            assert_eq!(
                l.deposits,
                l.payouts + l.refunds + l.fees + l.balance + swept_amount,
                "{l:?}"
            );
        } else {
            assert!(!l.is_off(), "{l:#?}");
            assert_eq!(
                l.deposits,
                l.payouts + l.refunds + l.fees + l.balance,
                "{l:?}"
            );
        }
        assert_eq!(
            l.deposits, sim.deposited,
            "{}: every deposit counted: {l:?}",
            l.codename
        );
        total_deposits += l.deposits;
    }
    assert_eq!(total_deposits, ops.iter().map(|o| o.deposited).sum::<u64>());
    assert_eq!(lines.len(), ops.len());

    let states = all
        .iter()
        .fold(BTreeMap::<String, usize>::new(), |mut m, o| {
            *m.entry(format!("{:?}", o.state)).or_default() += 1;
            m
        });
    println!(
        "real simulation, seed {seed:#018x}: {} operations, {} periods (+ final passes), {relayed_n} relayed payouts ({refunds_n} refunds), {dead_n} dead payouts rebuilt, {ends} ends, {} cancels, {} wallet restarts, {} app restarts, failpoints hit {:?}, {} inputs spent elsewhere, {} top-ups, {} price moves, {} crashes, {} passes with errors; final states {states:?}; {:.0} s",
        ops.len(),
        counts.periods,
        counts.cancels,
        counts.wallet_restarts,
        counts.app_restarts,
        counts.failpoints_hit,
        counts.sweeps,
        counts.top_ups,
        counts.price_moves,
        counts.crashes,
        counts.pass_errors,
        started.elapsed().as_secs_f64()
    );
    assert!(counts.periods >= 30 && ops.len() >= 20);
    assert!(relayed_n > 0 && ends > 0, "the run paid and ended");
    drop(app);
    drop(rt);
}
