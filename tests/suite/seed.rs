//! `nodecannon dev seed`: a seeded data directory serves its pages, balances
//! in the audit, and seeding refuses a non-empty directory and a real setup.

use crate::support;

use std::collections::BTreeSet;
use std::path::Path;

use nodecannon::domain::state::State;
use support::START;

const PAYOUT: &str = "4BGWfekEQCkjpFKevfkKcH9xEPkQgvaApe9joPaXqj4fVDpv1rDufyUZMEPuVGkjhEWvUjPJZyajW2tbSTvo6Udo23TeuuC";

use support::Run;

/// Runs the binary in `dir` with only PATH and `env`.
async fn nodecannon(dir: &Path, env: &[(&str, String)], args: &[&str]) -> Run {
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    support::run_binary(dir, &env, args).await
}

#[tokio::test(flavor = "multi_thread")]
async fn seeded_data_serves_pages_and_balances() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("DATA_DIR", dir.path().display().to_string())];
    let now = START.to_string();
    let seed = [
        "dev",
        "seed",
        "--operations",
        "2000",
        "--active",
        "200",
        "--now",
        now.as_str(),
    ];
    let run = nodecannon(dir.path(), &env, &seed).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("seeded 2000 operations") && run.stdout.contains("active 200"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("took "), "{}", run.stdout);

    // A second seed into the same directory is refused, nothing written.
    let again = nodecannon(dir.path(), &env, &seed).await;
    assert_eq!(again.code, Some(2), "{}\n{}", again.stdout, again.stderr);
    assert!(
        again.stderr.contains("already holds 2000"),
        "{}",
        again.stderr
    );

    // Outside sandbox it is refused before touching anything.
    let real = tempfile::tempdir().unwrap();
    let real_env = [
        ("DATA_DIR", real.path().join("data").display().to_string()),
        ("DO_TOKEN", "dop_v1_test".to_string()),
        ("DO_DOMAIN", "example.com".to_string()),
        ("PAYOUT_ADDRESS", PAYOUT.to_string()),
        ("XMR_WALLET_RPC_PORT", "1".to_string()),
    ];
    let refused = nodecannon(real.path(), &real_env, &["dev", "seed"]).await;
    assert_eq!(
        refused.code,
        Some(2),
        "{}\n{}",
        refused.stdout,
        refused.stderr
    );
    assert!(
        refused.stderr.contains("only runs in sandbox mode"),
        "{}",
        refused.stderr
    );
    assert!(!real.path().join("data").exists());

    let app = support::start_in(dir, &[]).await;

    // The index lists the 200 nodes, 25 a page.
    let (code, body) = app.get("/").await;
    assert_eq!(code, 200);
    assert!(body.contains("Nodes in orbit (200)"), "{body}");
    let mut listed = BTreeSet::new();
    for page in 1..=200usize.div_ceil(25) {
        let (code, body) = app.get(&format!("/?page={page}")).await;
        assert_eq!(code, 200);
        for part in body.split("href=\"/operation/").skip(1) {
            listed.insert(part[..32].to_string());
        }
    }
    assert_eq!(listed.len(), 200);

    // /api/nodes has them all.
    let (code, body) = app.get("/api/nodes").await;
    assert_eq!(code, 200);
    let nodes: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(nodes.len(), 200);
    // Asked for gzip, the same list compressed once (not twice by the layer).
    let nodes_taking = |encodings: &'static str| {
        app.http
            .get(app.url("/api/nodes"))
            .header("accept-encoding", encodings)
            .send()
    };
    let r = nodes_taking("gzip").await.unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let wire = r.bytes().await.unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&wire[..]), &mut plain)
        .unwrap();
    assert_eq!(plain, body);
    assert!(
        wire.len() * 4 < body.len(),
        "{} of {} bytes",
        wire.len(),
        body.len()
    );
    // A client that refuses gzip gets it plain.
    let r = nodes_taking("gzip;q=0, identity").await.unwrap();
    assert!(r.headers().get("content-encoding").is_none());
    assert_eq!(r.text().await.unwrap(), body);

    // An active operation's page renders with its address; its droplet exists.
    let ops = app.state.store.operations().unwrap();
    assert_eq!(ops.len(), 2000);
    let op = ops.iter().find(|o| o.state == State::Active).unwrap();
    assert!(listed.contains(&op.id));
    let (code, body) = app.get(&format!("/operation/{}", op.id)).await;
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(&op.address), "{body}");
    assert!(body.contains(&op.codename));
    let droplets = app
        .state
        .clients
        .cloud
        .droplets_tagged(&op.tag())
        .await
        .unwrap();
    assert_eq!(droplets.len(), 1);
    assert_eq!(Some(droplets[0].id), op.resources.droplet_id);
    assert!(!app.state.store.payouts(&op.id).unwrap().is_empty());
    assert_eq!(app.state.store.health(&op.id).unwrap().len(), 50);
    for state in [
        State::AwaitingFunds,
        State::Ended,
        State::Closed,
        State::Expired,
        State::Cancelled,
    ] {
        assert!(ops.iter().any(|o| o.state == state), "no {state:?}");
    }

    // The money balances: deposits = payouts + fees + refunds + balance.
    let lines = nodecannon::jobs::audit::run(&app.state).await.unwrap();
    assert_eq!(lines.len(), 2000);
    let off: Vec<_> = lines.iter().filter(|l| l.is_off()).collect();
    assert!(off.is_empty(), "{off:?}");
    assert!(lines.iter().any(|l| l.refunds > 0));
    assert!(lines.iter().any(|l| l.payouts > 0 && l.balance > 0));
}
