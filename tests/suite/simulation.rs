//! A simulated year on the sandbox wallet and cloud with the injected clock:
//! 100 operations, random deposits (some late, some still locked at a payout),
//! price moves, remote failures. The books balance, nothing runs without an
//! operation that pays for it, and every operation that ran out was ended.

use crate::support;

use nodecannon::clock::Clock;
use nodecannon::domain::payout::{PayoutKind, PayoutStatus};
use nodecannon::domain::state::State;
use nodecannon::sandbox::RelayFailure;

const XMR: u64 = 1_000_000_000_000;

/// xorshift64: the same year every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_simulated_year_of_a_hundred_operations_balances() {
    let days: i64 = std::env::var("SIM_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(365);
    let app = support::start(&[
        ("PAYOUT_FREQUENCY", "24"),
        ("MIN_FUNDED_HOURS", "168"),
        ("LOW_FUNDS_HOURS", "72"),
        ("GRACE_HOURS", "240"),
        ("MAX_ACTIVE_NODES", "1000"),
    ])
    .await;
    let sb = app.state.clients.sandbox.clone().unwrap();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut ops = Vec::new();
    for i in 0..100 {
        let id = app.open(&format!("sim{i}")).await;
        ops.push((id.clone(), app.op(&id).account_index));
    }
    let mut price: u64 = 150_000_000;
    let mut deposited = 0u64;
    // Times of the payout passes that ran with the wallet unable to relay.
    let mut relay_down = Vec::new();
    for _day in 0..days {
        for (_, index) in &ops {
            if rng.chance(40) {
                let amount = XMR / 20 + rng.next() % (XMR / 2);
                sb.wallet.simulate_payment(*index, amount).await.unwrap();
                deposited += amount;
            }
        }
        if rng.chance(8) {
            // Moves within the guard's bounds (the market, not the admin).
            price = price * (85 + rng.next() % 31) / 100;
            sb.price.set(price.max(1_000_000)).await.unwrap();
            app.state.cache.forget_price().await;
        }
        let down = rng.chance(15);
        sb.wallet.set_relay_failure(if down {
            RelayFailure::Unreachable
        } else {
            RelayFailure::None
        });
        if down {
            relay_down.push(app.clock.now() + 90);
        }
        sb.cloud.set_fail_deletes(rng.chance(15));
        // Some deposits are still in the pool or locked at the payout.
        let _ = app.post_job("launch-funded").await;
        app.advance(90);
        let _ = app.post_job("launch-funded").await;
        let _ = app.post_job("process-payouts").await;
        app.advance(24 * 3600 - 90);
    }
    // The remotes recover; a few passes settle what failed.
    sb.wallet.set_relay_failure(RelayFailure::None);
    sb.cloud.set_fail_deletes(false);
    for _ in 0..3 {
        app.advance(90);
        let _ = app.post_job("launch-funded").await;
        let _ = app.post_job("process-payouts").await;
        let _ = app.post_job("reconcile").await;
    }

    // The books balance to the piconero.
    let lines = nodecannon::jobs::audit::run(&app.state).await.unwrap();
    let off: Vec<_> = lines.iter().filter(|l| l.is_off()).collect();
    assert!(off.is_empty(), "{off:#?}");
    let total: u64 = lines.iter().map(|l| l.deposits).sum();
    assert_eq!(total, deposited, "every simulated deposit is accounted for");

    let all = app.state.store.operations().unwrap();
    let payouts = app.state.store.all_payouts().unwrap();
    let (mut ended, mut hosting, mut finals) = (0, 0, 0);
    for op in &all {
        // Nothing runs without an operation that pays for it.
        if !op.state.has_node() {
            assert!(
                op.resources.droplet_id.is_none(),
                "{} {:?} holds a droplet",
                op.codename,
                op.state
            );
        }
        let mine: Vec<_> = payouts.iter().filter(|p| p.op_id == op.id).collect();
        // Never two payouts for one period: relayed hosting payouts never overlap.
        let mut spans: Vec<(i64, u64)> = mine
            .iter()
            .filter(|p| p.kind == PayoutKind::Hosting && p.status == PayoutStatus::Relayed)
            .map(|p| (p.at, p.seconds))
            .collect();
        spans.sort();
        for w in spans.windows(2) {
            assert!(w[0].0 < w[1].0, "{}: two payouts at one time", op.codename);
        }
        hosting += spans.len();
        let events = app.state.store.events(&op.id).unwrap();
        let ends = events
            .iter()
            .filter(|e| e.kind == nodecannon::domain::event::EventKind::Ended)
            .count();
        ended += ends;
        // An operation that ran out was ended by the payout that found it
        // short: the final payout is in the same write as the end (same time)
        // and covers at most the period since the last payout, so the node
        // never ran a further period on credit; except a period in which a
        // transfer still locked held the end off (PENDING_WAIT_HOURS), and
        // passes in which the wallet could not relay the previous payout (no
        // decision is made on an account with a payout waiting).
        use nodecannon::domain::event::EventKind;
        let day = 24 * 3600;
        for e in events.iter().filter(|e| e.kind == EventKind::Ended) {
            let fin = mine
                .iter()
                .find(|p| p.is_final && p.kind == PayoutKind::Hosting && p.at == e.at);
            let Some(fin) = fin else {
                // Or (issue 15) a payout the wallet could not relay for
                // hours: the node ends beside it instead of running on credit.
                assert!(
                    e.message.contains("could not pay the network fee")
                        || e.message.contains("while a payout could not be relayed"),
                    "{}: ended without a final payout: {e:?}",
                    op.codename
                );
                continue;
            };
            let waited = events.iter().any(|w| {
                w.kind == EventKind::LowFunds
                    && w.message.starts_with("Short of unlocked funds")
                    && (e.at - 2 * day..e.at).contains(&w.at)
            });
            let from = fin.at - fin.seconds as i64;
            let held = relay_down
                .iter()
                .filter(|&&t| from < t && t < fin.at)
                .count() as i64;
            let limit = (1 + i64::from(waited) + held) * day + 180;
            assert!(
                fin.seconds as i64 <= limit,
                "{}: ran {} s on credit before the end: {:#?}",
                op.codename,
                fin.seconds,
                events
                    .iter()
                    .filter(|w| (e.at - 3 * day..=e.at).contains(&w.at))
                    .collect::<Vec<_>>()
            );
            finals += 1;
        }
    }
    println!(
        "simulated {days} days: {} operations, {hosting} hosting payouts, {ended} ends, {finals} of them at the payout that found the money short, {} XMR deposited",
        all.len(),
        deposited / XMR
    );
    assert!(
        hosting > 1000 && ended > 0,
        "the year had launches, payouts and ends"
    );
    let states: std::collections::BTreeMap<String, usize> =
        all.iter().fold(Default::default(), |mut m, o| {
            *m.entry(format!("{:?}", o.state)).or_default() += 1;
            m
        });
    println!("final states: {states:?}");
    assert!(
        !states.contains_key(&format!("{:?}", State::Launching)),
        "no launch left stuck"
    );
}
