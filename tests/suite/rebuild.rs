//! A dead node heals (issue 17): a launched node that shows no sign of
//! monerod `NODE_REBUILD_HOURS` after its droplet was created, or stays
//! unreachable that long, is rebuilt on a fresh droplet with the same volume;
//! the old droplet goes, the DNS records follow, the page says so.

use crate::support;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use nodecannon::clients::node::{NodeError, NodeInfo, NodeProbe};
use nodecannon::domain::state::State;
use support::fake_do::{DOMAIN, FakeDo};

/// Nodes that answer: those whose IP is in the set.
#[derive(Clone, Default)]
struct Probe(Arc<Mutex<HashSet<String>>>);

impl Probe {
    fn up(&self, ip: &str, up: bool) {
        let mut s = self.0.lock().unwrap();
        if up {
            s.insert(ip.into());
        } else {
            s.remove(ip);
        }
    }
}

#[async_trait]
impl NodeProbe for Probe {
    async fn get_info(&self, ip: &str, _port: u16) -> Result<NodeInfo, NodeError> {
        if self.0.lock().unwrap().contains(ip) {
            Ok(NodeInfo {
                height: 100,
                target_height: 100,
                synchronized: true,
                status: "OK".into(),
                ..NodeInfo::default()
            })
        } else {
            Err(NodeError("connection refused".into()))
        }
    }
}

/// Probes every 10 minutes for `minutes`, then one reconcile pass.
async fn probe_for(app: &support::TestApp, minutes: i64) {
    for _ in 0..minutes / 10 {
        app.advance(600);
        app.run_job("health").await;
    }
    app.run_job("reconcile").await;
}

/// Launch passes a minute apart, the droplets booting, until active (a
/// rebuild deletes the retired droplet in one pass and creates the new one
/// in a later one).
async fn launch(app: &support::TestApp, fake: &FakeDo, id: &str) {
    for _ in 0..4 {
        app.run_job("launch-funded").await;
        fake.boot_all();
        app.advance(60);
        if app.op(id).state == State::Active {
            return;
        }
    }
    assert_eq!(app.op(id).state, State::Active);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_node_is_rebuilt_on_a_fresh_droplet_with_the_same_volume() {
    let fake = FakeDo::start().await;
    let probe = Probe::default();
    let app = support::start_with_cloud_and_nodes(
        &[
            ("DO_DOMAIN", DOMAIN),
            ("MIN_FUNDED_HOURS", "24"),
            ("NODE_REBUILD_HOURS", "6"),
        ],
        Arc::new(fake.client()),
        Arc::new(probe.clone()),
    )
    .await;
    // The fake cloud dates droplets by the wall clock; start the app's there.
    app.clock.set(chrono::Utc::now().timestamp());
    let id = app.open("phoenix").await;
    app.pay(&id, "50").await;
    app.advance(120);
    launch(&app, &fake, &id).await;
    let first = app.op(&id);
    let (old, volume) = (
        first.resources.droplet_id.unwrap(),
        first.resources.volume_id.clone().unwrap(),
    );

    // The boot failed: monerod never answers. Not before six hours...
    probe_for(&app, 5 * 60 + 50).await;
    assert_eq!(
        app.op(&id).state,
        State::Active,
        "5 h 50 min: still waited for"
    );
    // ...then rebuilt, and told.
    probe_for(&app, 10).await;
    let op = app.op(&id);
    assert_eq!(op.state, State::Launching);
    assert_eq!(op.rebuilds, 1);
    assert!(op.retired_droplets.contains(&old));
    assert_eq!(op.billed_until, None, "no node, no billing");
    let problem = op.problem.clone().unwrap();
    assert!(problem.contains("monerod never answered"), "{problem}");
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(page.contains("Being rebuilt on a fresh droplet"), "{page}");
    assert!(page.contains("Rebuilding the node on a fresh droplet with the same volume"));

    // The launch pass destroys the old droplet and creates one on the same volume.
    launch(&app, &fake, &id).await;
    let op = app.op(&id);
    let new = op.resources.droplet_id.unwrap();
    assert_ne!(new, old);
    let droplets = fake.droplets();
    assert_eq!(droplets.len(), 1, "the old droplet is gone: {droplets:?}");
    assert_eq!(
        droplets[0].volume_ids,
        vec![volume.clone()],
        "the chain is kept"
    );
    assert_eq!(fake.volumes().len(), 1, "no second volume");
    let ip = op.resources.ipv4.clone().unwrap();
    let a: Vec<_> = fake
        .records(DOMAIN)
        .into_iter()
        .filter(|r| r.kind == "A" && r.name == "phoenix.node")
        .collect();
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].data, ip, "DNS follows the new droplet");
    assert!(op.problem.is_none());
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(page.contains("1 time on a fresh droplet"), "{page}");
    assert!(page.contains("Downtime"), "{page}");

    // The new node comes up: hours of probes later, nothing happens.
    probe.up(&ip, true);
    probe_for(&app, 8 * 60).await;
    assert_eq!(app.op(&id).state, State::Active);
    assert_eq!(app.op(&id).rebuilds, 1);

    // It goes down (the first failed probe 10 min later): rebuilt only once
    // down for six hours.
    probe.up(&ip, false);
    probe_for(&app, 6 * 60).await;
    assert_eq!(app.op(&id).state, State::Active, "down 5 h 50 min");
    probe_for(&app, 10).await;
    let op = app.op(&id);
    assert_eq!(op.state, State::Launching);
    assert!(
        op.problem.as_deref().unwrap().contains("unreachable since"),
        "{:?}",
        op.problem
    );
    launch(&app, &fake, &id).await;
    assert_eq!(app.op(&id).rebuilds, 2);
    assert_eq!(fake.droplets().len(), 1);
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(page.contains("2 times on a fresh droplet"), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_health_job_that_stopped_rebuilds_nothing_and_zero_turns_it_off() {
    for (hours, probing) in [("6", false), ("0", true)] {
        let fake = FakeDo::start().await;
        let app = support::start_with_cloud_and_nodes(
            &[
                ("DO_DOMAIN", DOMAIN),
                ("MIN_FUNDED_HOURS", "24"),
                ("NODE_REBUILD_HOURS", hours),
            ],
            Arc::new(fake.client()),
            Arc::new(Probe::default()),
        )
        .await;
        app.clock.set(chrono::Utc::now().timestamp());
        let id = app.open("steady").await;
        app.pay(&id, "50").await;
        app.advance(120);
        launch(&app, &fake, &id).await;
        if probing {
            probe_for(&app, 12 * 60).await;
        } else {
            // Probes for an hour, then the health job stops: no fresh proof.
            probe_for(&app, 60).await;
            app.advance(11 * 3600);
            app.run_job("reconcile").await;
        }
        assert_eq!(
            app.op(&id).state,
            State::Active,
            "NODE_REBUILD_HOURS={hours}"
        );
        assert_eq!(fake.droplets().len(), 1);
    }
}
