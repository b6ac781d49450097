//! Money paths when parts fail: relays that fail or are rejected, a cloud that
//! cannot destroy, cancels with refunds, and records the reconciler must not touch.

use crate::support;

use nodecannon::domain::payout::{PayoutKind, PayoutStatus};
use nodecannon::domain::state::State;
use nodecannon::sandbox::RelayFailure;
use support::TestApp;

const H: i64 = 3600;

async fn launched(app: &TestApp, name: &str, xmr: &str, refund: Option<&str>) -> String {
    let body = match refund {
        Some(r) => format!("codename={name}&region=ams3&refund_address={r}"),
        None => format!("codename={name}&region=ams3"),
    };
    let (code, loc, page) = app.post_form("/launchpad", &body).await;
    assert_eq!(code, 303, "{page}");
    let id = loc.unwrap().rsplit('/').next().unwrap().to_string();
    app.pay(&id, xmr).await;
    app.advance(120);
    app.run_job("launch-funded").await;
    app.advance(30);
    app.run_job("launch-funded").await;
    assert_eq!(app.op(&id).state, State::Active);
    id
}

fn sandbox(app: &TestApp) -> &nodecannon::sandbox::Sandbox {
    app.state.clients.sandbox.as_ref().unwrap()
}

async fn payouts_pass(app: &TestApp) -> serde_json::Value {
    let (code, out) = app.post_job("process-payouts").await;
    assert_eq!(code, 200);
    out
}

#[tokio::test]
async fn a_payout_whose_relay_failed_is_relayed_by_the_next_pass_and_never_twice() {
    let app = support::start(&[("PAYOUT_FREQUENCY", "3")]).await;
    let id = launched(&app, "alpha", "1", None).await;
    let billed = app.op(&id).billed_until.unwrap();
    sandbox(&app)
        .wallet
        .set_relay_failure(RelayFailure::Unreachable);
    app.advance(3 * H);
    let out = payouts_pass(&app).await;
    assert!(
        !out["errors"].as_array().unwrap().is_empty(),
        "the failed relay is reported"
    );
    let p = app.state.store.payouts(&id).unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].status, PayoutStatus::Built, "stored before relaying");
    assert_eq!(
        app.op(&id).billed_until,
        Some(billed + p[0].seconds as i64),
        "seconds billed once"
    );
    let (_, page) = app.get(&format!("/operation/{id}/payouts")).await;
    assert!(page.contains("(relaying)"));

    // The wallet is back: the stored transaction is relayed, no new one is built for those seconds.
    sandbox(&app).wallet.set_relay_failure(RelayFailure::None);
    app.run_job("process-payouts").await;
    let p = app.state.store.payouts(&id).unwrap();
    assert_eq!(p.len(), 1, "no second payout for the same seconds");
    assert_eq!(p[0].status, PayoutStatus::Relayed);
    assert!(
        app.state
            .clients
            .wallet
            .knows_tx(app.op(&id).account_index, &p[0].tx_hash)
            .await
            .unwrap()
    );
    // Recovery again finds nothing to do.
    app.run_job("process-payouts").await;
    assert_eq!(app.state.store.payouts(&id).unwrap().len(), 1);
}

#[tokio::test]
async fn a_payout_rejected_for_good_is_kept_dead_and_built_anew_for_the_same_seconds() {
    let app = support::start(&[("PAYOUT_FREQUENCY", "3")]).await;
    let id = launched(&app, "alpha", "1", None).await;
    let billed = app.op(&id).billed_until.unwrap();
    sandbox(&app)
        .wallet
        .set_relay_failure(RelayFailure::RejectOnce);
    app.advance(3 * H);
    app.run_job("process-payouts").await;
    let p = app.state.store.payouts(&id).unwrap();
    assert_eq!(p.len(), 2);
    assert!(
        matches!(p[0].status, PayoutStatus::Dead(_)),
        "kept with its reason"
    );
    assert_eq!(p[1].status, PayoutStatus::Relayed);
    assert_eq!(p[0].seconds, p[1].seconds);
    assert_eq!(
        app.op(&id).billed_until,
        Some(billed + p[0].seconds as i64),
        "billed-until advanced once"
    );
    let (_, page) = app.get(&format!("/operation/{id}/payouts")).await;
    assert!(page.contains("(dead: double spend (simulated))"), "{page}");
}

#[tokio::test]
async fn an_end_is_recorded_before_the_node_is_destroyed_and_destruction_is_retried() {
    let app = support::start(&[("PAYOUT_FREQUENCY", "3")]).await;
    let id = launched(&app, "alpha", "0.2", None).await;
    let droplet = app.op(&id).resources.droplet_id.unwrap();
    app.post_form("/sandbox/price", "usd=0.01").await;
    sandbox(&app).cloud.set_fail_deletes(true);
    app.advance(3 * H);
    let out = payouts_pass(&app).await;
    assert!(
        out["errors"]
            .to_string()
            .contains("Destroying the node failed")
    );
    let op = app.op(&id);
    assert_eq!(
        op.state,
        State::Ended,
        "the end is recorded even though the cloud failed"
    );
    assert!(op.problem.unwrap().contains("will retry"));
    assert!(
        app.state
            .clients
            .cloud
            .droplet(droplet)
            .await
            .unwrap()
            .is_some()
    );

    sandbox(&app).cloud.set_fail_deletes(false);
    app.run_job("process-payouts").await;
    let op = app.op(&id);
    assert!(
        app.state
            .clients
            .cloud
            .droplet(droplet)
            .await
            .unwrap()
            .is_none(),
        "destroyed on retry"
    );
    assert_eq!(op.resources, Default::default());
    assert_eq!(op.problem, None);
}

#[tokio::test]
async fn cancel_pays_what_is_due_then_refunds_the_rest_and_records_it() {
    let app = support::start(&[("PAYOUT_FREQUENCY", "3")]).await;
    let refund = "4BGWfekEQCkjpFKevfkKcH9xEPkQgvaApe9joPaXqj4fVDpv1rDufyUZMEPuVGkjhEWvUjPJZyajW2tbSTvo6Udo23TeuuC".to_string();
    let id = launched(&app, "alpha", "1", Some(&refund)).await;
    app.advance(H);
    let r = app
        .http
        .post(app.url("/admin/api/ops/alpha/cancel"))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let op = app.op(&id);
    assert_eq!(op.state, State::Cancelled);
    let p = app.state.store.payouts(&id).unwrap();
    assert_eq!(
        p.iter().map(|p| p.kind).collect::<Vec<_>>(),
        [PayoutKind::Hosting, PayoutKind::Refund]
    );
    assert!(p.iter().all(|p| p.status == PayoutStatus::Relayed));
    let acct = app
        .state
        .clients
        .wallet
        .account_state(op.account_index)
        .await
        .unwrap();
    assert_eq!(acct.unlocked, 0, "everything left was refunded");
    let deposits = acct.deposits();
    let out: u64 = p.iter().map(|p| p.amount + p.fee).sum();
    assert_eq!(
        deposits,
        out + acct.balance,
        "deposits = payouts + fees + refunds + balance"
    );
    // A second cancel is refused and changes nothing.
    let r = app
        .http
        .post(app.url("/admin/api/ops/alpha/cancel"))
        .bearer_auth("test-admin-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
    assert_eq!(app.state.store.payouts(&id).unwrap().len(), 2);
}

#[tokio::test]
async fn reconcile_leaves_dns_records_it_did_not_make() {
    let app = support::start(&[]).await;
    for (kind, name) in [("A", "node"), ("TXT", "status.node"), ("A", "www")] {
        app.state
            .clients
            .cloud
            .create_record("sandbox.invalid", kind, name, "192.0.2.1")
            .await
            .unwrap();
    }
    let stray = app
        .state
        .clients
        .cloud
        .create_record("sandbox.invalid", "A", "gone.node", "192.0.2.2")
        .await
        .unwrap();
    app.advance(H);
    app.run_job("reconcile").await;
    let left: Vec<_> = app
        .state
        .clients
        .cloud
        .records("sandbox.invalid", "node")
        .await
        .unwrap();
    assert!(left.iter().any(|r| r.name == "node") && left.iter().any(|r| r.name == "status.node"));
    assert!(
        !left.iter().any(|r| r.id == stray.id),
        "a stale node record is removed"
    );
}
