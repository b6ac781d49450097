//! A sandbox with a story to show: nodes in orbit, a funded launch, payouts,
//! low funds and an ended node, built on a manual clock in a second, then
//! served until killed. `scripts/screenshots.sh` photographs it.
//!
//! `cargo run --release --example demo -- 127.0.0.1:8099 /tmp/demo-data`

use std::sync::Arc;

use nodecannon::app::AppState;
use nodecannon::clock::ManualClock;
use nodecannon::config::{Config, VarMap};
use nodecannon::jobs::{self, Job};
use nodecannon::ops::{self, LaunchForm};

const START: i64 = 1_795_000_000;

async fn step(st: &AppState, job: Job) {
    let out = jobs::run(st, job, false).await.expect("job pass");
    assert!(out.errors.is_empty(), "{}", out.summary());
}

async fn open(st: &AppState, name: &str, region: &str, xmr: u64) -> String {
    let form = LaunchForm {
        codename: name.into(),
        region: region.into(),
        refund_address: String::new(),
    };
    let op = ops::create(st, &form).await.expect("open");
    if xmr > 0 {
        let sb = st.clients.sandbox.as_ref().expect("sandbox");
        sb.wallet
            .simulate_payment(op.account_index, xmr)
            .await
            .expect("pay");
    }
    op.id
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8099".into());
    let dir = args.next().unwrap_or_else(|| "demo-data".into());
    let _ = std::fs::remove_dir_all(&dir);
    let mut vars = VarMap::new();
    vars.insert("DATA_DIR".into(), dir);
    vars.insert("LISTEN_ADDR".into(), listen.clone());
    vars.insert("STATS_TOKEN".into(), "demo".into());
    vars.insert("PAYOUT_FREQUENCY".into(), "3".into());
    let clock = Arc::new(ManualClock::new(START));
    let st = AppState::build_with_clock(Config::from_vars(&vars).expect("config"), clock.clone())
        .expect("app");

    let pico = 1_000_000_000_000u64;
    for (name, region, xmr) in [
        ("satoshi-lab", "ams3", 3),
        ("moneroj", "fra1", 2),
        ("nyc-relay", "nyc3", 1),
    ] {
        open(&st, name, region, xmr * pico).await;
        clock.advance(400);
    }
    step(&st, Job::LaunchFunded).await;
    clock.advance(60);
    step(&st, Job::LaunchFunded).await;
    // Probes while the nodes boot and sync (the sync chart's ramp).
    for _ in 0..16 {
        clock.advance(60);
        step(&st, Job::Health).await;
    }
    for _ in 0..4 {
        clock.advance(3 * 3600);
        step(&st, Job::ProcessPayouts).await;
        step(&st, Job::Health).await;
    }
    // A node still syncing when the demo opens.
    open(&st, "fresh-tide", "tor1", 2 * pico).await;
    clock.advance(200);
    step(&st, Job::LaunchFunded).await;
    clock.advance(60);
    step(&st, Job::LaunchFunded).await;
    for _ in 0..7 {
        clock.advance(60);
        step(&st, Job::Health).await;
    }
    open(&st, "brave-otter-7", "sgp1", pico / 20).await;
    open(&st, "quiet-comet", "lon1", 0).await;
    clock.advance(60);
    step(&st, Job::LaunchFunded).await;
    step(&st, Job::Health).await;
    step(&st, Job::Backup).await;

    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    println!("demo serving on http://{listen}");
    nodecannon::server::run_with(
        st,
        listener,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
        false,
    )
    .await
    .expect("serve");
}
