//! rebuild (part of reconcile, under the money lock): a launched node that
//! shows no sign of monerod `NODE_REBUILD_HOURS` after its droplet was
//! created, or has been unreachable that long, is rebuilt on a fresh droplet
//! with the same volume, so the chain synced so far is kept.
//!
//! The decision rests only on fresh proof: probes of this droplet (made after
//! it was created), the newest of them recent. A health job that stopped
//! running rebuilds nothing; `/status` names it overdue instead.
//!
//! The rebuild itself is one transaction: the operation goes back to
//! `launching` at its droplet step, the old droplet is *retired* (never
//! adopted again) and the launch pass destroys it while DigitalOcean still
//! lists it, and only once it is no longer listed creates the new droplet
//! with the recorded volume and points the DNS records at it. Billing stops
//! at the rebuild (billed-until is cleared) and starts again with the new
//! droplet: the hours between the old droplet's last payout and the new
//! droplet are not billed.

use super::Outcome;
use crate::app::AppState;
use crate::domain::Timestamp;
use crate::domain::event::EventKind;
use crate::domain::operation::{LaunchStep, Operation};
use crate::domain::state::State;
use crate::error::AppError;
use crate::ops::{ops_in, transition};
use crate::store::HealthSample;

/// A probe older than this proves nothing about the node now.
pub const FRESH_SECS: i64 = 30 * 60;

/// Retired droplet ids kept per operation.
const RETIRED_KEPT: usize = 8;

/// Why `op`'s node should be rebuilt now, if it should. `history` is its
/// stored probes (oldest first); `limit` is `NODE_REBUILD_HOURS` in seconds
/// (0: never).
pub fn reason(
    op: &Operation,
    history: &[HealthSample],
    now: Timestamp,
    limit: i64,
) -> Option<String> {
    let launched = op.launched_at?;
    op.resources.droplet_id?;
    if limit <= 0 || now - launched < limit {
        return None;
    }
    // Only probes of this droplet count, and only when the newest is fresh.
    let mine: Vec<&HealthSample> = history.iter().filter(|s| s.at >= launched).collect();
    let newest = mine.last()?;
    if newest.reachable || now - newest.at > FRESH_SECS {
        return None;
    }
    let hours = crate::clock::duration(limit as u64);
    // The latest proof that monerod ran: a probe it answered, or its report.
    let last_up = mine
        .iter()
        .filter(|s| s.reachable)
        .map(|s| s.at)
        .chain(
            op.node_reports
                .iter()
                .filter(|(t, s)| *t >= launched && s == "monerod")
                .map(|(t, _)| *t),
        )
        .max();
    let Some(last_up) = last_up else {
        return Some(format!(
            "monerod never answered in the {hours} after the droplet was created"
        ));
    };
    // Down since the first failed probe after it (all later ones failed too).
    let down_since = mine.iter().find(|s| s.at > last_up)?.at;
    (now - down_since >= limit).then(|| {
        format!(
            "it has been unreachable since {} (more than {hours})",
            crate::clock::human(down_since)
        )
    })
}

/// Rebuilds every node that needs it.
pub async fn run_once(st: &AppState, out: &mut Outcome) -> Result<(), AppError> {
    let limit = st.config.node_rebuild_secs as i64;
    if limit == 0 {
        return Ok(());
    }
    let now = st.now();
    let mut due = Vec::new();
    let mut answered = 0;
    let ops = ops_in(st, &[State::Active, State::LowFunds]).await?;
    let launched = ops.len();
    for op in ops {
        let id = op.id.clone();
        let history = st
            .store
            .run(move |s| s.health(&id).map_err(AppError::from))
            .await?;
        if history
            .iter()
            .any(|s| s.reachable && now - s.at <= FRESH_SECS)
        {
            answered += 1;
        }
        if let Some(why) = reason(&op, &history, now, limit) {
            due.push((op, why));
        }
    }
    if cut_off(launched, answered, due.len()) {
        out.failed(format!(
            "{} of {launched} nodes look dead and none answered a probe in the last {}: the appliance may be cut off from its nodes; nothing is rebuilt",
            due.len(),
            crate::clock::duration(FRESH_SECS as u64)
        ));
        return Ok(());
    }
    for (op, why) in due {
        if out.dry_run {
            out.did(format!("{}: would rebuild: {why}", op.codename));
            continue;
        }
        rebuild(st, &op, &why).await?;
        out.did(format!("{}: rebuilding: {why}", op.codename));
    }
    Ok(())
}

/// Whether the probes rather than the nodes look broken: two or more nodes
/// would be rebuilt and not one launched node answered lately (the
/// appliance's own network is the likelier fault; rebuilding every node
/// again and again would not mend it).
pub fn cut_off(launched: usize, answered: usize, due: usize) -> bool {
    due >= 2 && launched >= 2 && answered == 0
}

/// Sends `op` back to its launch's droplet step with its droplet retired.
async fn rebuild(st: &AppState, op: &Operation, why: &str) -> Result<(), AppError> {
    let old = op.resources.droplet_id.unwrap_or_default();
    let msg = format!(
        "Rebuilding the node on a fresh droplet with the same volume (the chain is kept): {why}. Droplet {old} is deleted; its volume is kept."
    );
    let problem = format!("Being rebuilt on a fresh droplet: {why}.");
    transition(
        st,
        op,
        State::Launching,
        EventKind::Rebuilt,
        msg,
        move |o| {
            o.retired_droplets.push(old);
            let n = o.retired_droplets.len();
            o.retired_droplets.drain(..n.saturating_sub(RETIRED_KEPT));
            o.resources.droplet_id = None;
            o.resources.ipv4 = None;
            o.resources.ipv6 = None;
            o.launch_step = Some(LaunchStep::Droplet);
            o.launch_failures = 0;
            o.launch_retry_at = None;
            o.droplet_missing_since = None;
            o.node_reports.clear();
            o.rebuilds += 1;
            o.problem = Some(problem);
            // No node, no billing: it starts again with the new droplet.
            o.billed_until = None;
            // The onion key lived on the old droplet's disk.
            o.onion = None;
        },
    )
    .await?;
    // (The `rebuilt` event is a notice: `transition` tells the operator.)
    st.cache.node_info.invalidate(&op.id).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;

    fn op(launched: i64) -> Operation {
        let mut o = crate::domain::operation::sample("0123456789abcdef0123456789abcdef", "x");
        o.launched_at = Some(launched);
        o.resources.droplet_id = Some(7);
        o
    }

    fn probe(at: i64, reachable: bool) -> HealthSample {
        HealthSample {
            reachable,
            ..HealthSample::unreachable(at, String::new())
        }
    }

    fn every_10_min(from: i64, to: i64, reachable: impl Fn(i64) -> bool) -> Vec<HealthSample> {
        (from..=to)
            .step_by(600)
            .map(|t| probe(t, reachable(t)))
            .collect()
    }

    #[test]
    fn a_node_never_up_is_rebuilt_after_the_limit_and_not_before() {
        let o = op(0);
        let h = every_10_min(0, 6 * H, |_| false);
        assert!(reason(&o, &h, 6 * H - 1, 6 * H).is_none());
        let why = reason(&o, &h, 6 * H, 6 * H).unwrap();
        assert!(why.contains("never answered"), "{why}");
        // A node that reported monerod was up once: only a long outage counts.
        let mut reported = o.clone();
        reported.node_reports.push((H, "monerod".into()));
        assert!(
            reason(&reported, &h, 6 * H, 6 * H).is_none(),
            "down since 1 h 10 min"
        );
        let longer = every_10_min(0, 7 * H + 600, |_| false);
        let why = reason(&reported, &longer, 7 * H + 600, 6 * H).unwrap();
        assert!(why.contains("unreachable since"), "{why}");
    }

    #[test]
    fn a_node_down_for_the_limit_is_rebuilt_and_one_that_came_back_is_not() {
        let o = op(0);
        let h = every_10_min(0, 10 * H, |t| t < 4 * H);
        assert!(reason(&o, &h, 10 * H, 6 * H).is_some());
        assert!(reason(&o, &h[..h.len() - 1], 10 * H - 1, 6 * H).is_none());
        let back = every_10_min(0, 10 * H, |t| !(4 * H..10 * H).contains(&t));
        assert!(reason(&o, &back, 10 * H, 6 * H).is_none());
    }

    #[test]
    fn an_appliance_cut_off_from_every_node_rebuilds_none() {
        assert!(cut_off(3, 0, 2), "no node answers: the probes are suspect");
        assert!(!cut_off(3, 1, 2), "one answers: the dead ones are dead");
        assert!(!cut_off(1, 0, 1), "a single node cannot be told apart");
        assert!(!cut_off(5, 0, 1));
    }

    #[test]
    fn no_decision_without_fresh_probes_of_this_droplet() {
        let o = op(100 * H);
        // Probes of the old droplet say nothing about the new one.
        let old = every_10_min(0, 99 * H, |_| false);
        assert!(reason(&o, &old, 107 * H, 6 * H).is_none());
        // The health job stopped an hour ago: no proof the node is down now.
        let stale = every_10_min(100 * H, 106 * H, |_| false);
        assert!(reason(&o, &stale, 107 * H, 6 * H).is_none());
        assert!(reason(&o, &stale, 106 * H + 60, 6 * H).is_some());
        // NODE_REBUILD_HOURS=0: never.
        assert!(reason(&o, &stale, 106 * H + 60, 0).is_none());
    }
}
