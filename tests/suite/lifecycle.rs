//! The whole lifecycle over HTTP against the sandbox, with a moved clock:
//! fund, launch, payouts, low funds, end, refill and relaunch.

use crate::support;

use nodecannon::domain::state::State;

const H: i64 = 3600;

#[tokio::test]
async fn fund_launch_pay_low_funds_end_and_relaunch() {
    let app = support::start(&[("PAYOUT_FREQUENCY", "3")]).await;
    let id = app.open("alpha").await;
    let (code, page) = app.get(&format!("/operation/{id}")).await;
    assert_eq!(code, 200);
    assert!(
        page.contains("Awaiting funds")
            && page.contains("qr.png")
            && page.contains(&app.op(&id).address)
    );

    // A payment shows in the pool at once, then unlocks.
    app.pay(&id, "1").await;
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(page.contains("in the pool"), "payment seen on the page");
    app.advance(120);
    app.run_job("launch-funded").await;
    let op = app.op(&id);
    assert_eq!(op.state, State::Launching, "funded, then launch started");
    assert!(op.resources.volume_id.is_some() && op.resources.droplet_id.is_some());
    let launched_at = op.billed_until.unwrap();

    // The droplet boots, gets addresses, DNS, and the node is active.
    app.advance(30);
    app.run_job("launch-funded").await;
    let op = app.op(&id);
    assert_eq!(op.state, State::Active);
    assert_eq!(op.resources.dns_records.len(), 2);
    let (_, index) = app.get("/").await;
    assert!(index.contains("alpha.node.sandbox.invalid"));

    // Ten payout passes, three hours apart: ten payouts adding up to 30 hours.
    app.clock.set(launched_at);
    for _ in 0..10 {
        app.advance(3 * H);
        app.run_job("process-payouts").await;
    }
    let payouts = app.state.store.payouts(&id).unwrap();
    assert_eq!(payouts.len(), 10);
    assert_eq!(payouts.iter().map(|p| p.seconds).sum::<u64>(), 30 * 3600);
    assert_eq!(app.op(&id).billed_until, Some(launched_at + 30 * H));
    let (_, page) = app.get(&format!("/operation/{id}/payouts")).await;
    assert!(page.contains("10 payout(s)"));
    assert!(
        page.contains(&payouts[9].tx_hash),
        "full transaction hash shown"
    );

    // The price drops: the runway falls under LOW_FUNDS_HOURS.
    let (code, _, _) = app.post_form("/sandbox/price", "usd=2").await;
    assert_eq!(code, 303);
    app.advance(60);
    app.run_job("process-payouts").await;
    assert_eq!(app.op(&id).state, State::LowFunds);
    let (_, page) = app.get(&format!("/operation/{id}")).await;
    assert!(page.contains("Low funds"));

    // It drops further: the money cannot cover the next period, the node ends.
    app.post_form("/sandbox/price", "usd=0.05").await;
    app.advance(3 * H);
    app.run_job("process-payouts").await;
    let op = app.op(&id);
    assert_eq!(op.state, State::Ended);
    assert!(
        app.state
            .clients
            .cloud
            .droplets_tagged(&op.tag())
            .await
            .unwrap()
            .is_empty(),
        "droplet destroyed"
    );
    assert!(
        app.state
            .clients
            .cloud
            .volumes_tagged(&op.tag())
            .await
            .unwrap()
            .is_empty(),
        "volume destroyed"
    );
    assert!(
        app.state
            .clients
            .cloud
            .records("sandbox.invalid", "alpha.node")
            .await
            .unwrap()
            .is_empty(),
        "records deleted"
    );
    assert!(
        app.state
            .store
            .payouts(&id)
            .unwrap()
            .last()
            .unwrap()
            .is_final
    );

    // A refill at a sane price relaunches it.
    app.post_form("/sandbox/price", "usd=150").await;
    app.pay(&id, "2").await;
    app.advance(120);
    app.run_job("launch-funded").await;
    app.advance(30);
    app.run_job("launch-funded").await;
    assert_eq!(
        app.op(&id).state,
        State::Active,
        "relaunched after a refill"
    );
    let (_, feed) = app.get(&format!("/operation/{id}/feed.xml")).await;
    for kind in ["Launched", "Payout", "LowFunds", "Ended", "Funded"] {
        assert!(
            feed.contains(&format!("<title>{kind}</title>")),
            "feed has {kind}"
        );
    }
}

#[tokio::test]
async fn an_ended_operation_closes_after_the_grace_period() {
    let app = support::start(&[("PAYOUT_FREQUENCY", "3"), ("GRACE_HOURS", "72")]).await;
    let id = app.open("gamma").await;
    app.pay(&id, "0.2").await;
    app.advance(120);
    app.run_job("launch-funded").await;
    app.advance(30);
    app.run_job("launch-funded").await;
    assert_eq!(app.op(&id).state, State::Active);
    app.post_form("/sandbox/price", "usd=0.01").await;
    app.advance(3 * H);
    app.run_job("process-payouts").await;
    assert_eq!(app.op(&id).state, State::Ended);
    app.advance(71 * H);
    app.run_job("process-payouts").await;
    assert_eq!(app.op(&id).state, State::Ended, "still in grace");
    app.advance(2 * H);
    app.run_job("process-payouts").await;
    assert_eq!(app.op(&id).state, State::Closed);
}

#[tokio::test]
async fn an_operation_that_never_gets_a_payment_expires_and_a_payment_revives_it() {
    let app = support::start(&[("UNFUNDED_EXPIRE_DAYS", "7")]).await;
    let id = app.open("delta").await;
    app.advance(7 * 24 * H);
    app.run_job("launch-funded").await;
    assert_eq!(app.op(&id).state, State::Expired);
    app.pay(&id, "0.01").await;
    app.run_job("launch-funded").await;
    assert_eq!(
        app.op(&id).state,
        State::AwaitingFunds,
        "revived, still short of the minimum"
    );
}

#[tokio::test]
async fn cancel_destroys_the_node_and_ends_the_operation() {
    let app = support::start(&[("PAYOUT_FREQUENCY", "3")]).await;
    let id = app.open("omega").await;
    app.pay(&id, "1").await;
    app.advance(120);
    app.run_job("launch-funded").await;
    app.advance(30);
    app.run_job("launch-funded").await;
    app.advance(H);
    let (code, loc, _) = app
        .post_form(&format!("/admin/operation/{id}/cancel"), "")
        .await;
    assert_eq!(
        (code, loc.as_deref()),
        (303, Some("/admin?notice=cancelled"))
    );
    let op = app.op(&id);
    assert_eq!(op.state, State::Cancelled);
    assert!(
        app.state
            .clients
            .cloud
            .droplets_tagged(&op.tag())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        app.state
            .store
            .payouts(&id)
            .unwrap()
            .iter()
            .map(|p| p.seconds)
            .sum::<u64>(),
        3630,
        "billed from the droplet's creation"
    );
}
