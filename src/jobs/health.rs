//! health: probes each launched node's `get_info`, keeps the latest result in
//! the cache (pages read only that) and a bounded history in the store.

use super::Outcome;
use crate::app::AppState;
use crate::domain::state::State;
use crate::error::AppError;
use crate::ops::ops_in;
use crate::store::HealthSample;

/// The first of the failed probes at the end of `history` (oldest first).
pub fn down_since(history: &[HealthSample]) -> Option<crate::domain::Timestamp> {
    history
        .iter()
        .rev()
        .take_while(|s| !s.reachable)
        .last()
        .map(|s| s.at)
}

/// How long the node was found down within `history` (oldest first), and
/// the time the history spans, in seconds up to `now`. A failed probe counts
/// until the next probe (or `now`), at most an hour: a gap in the probes is
/// not called downtime.
pub fn downtime(history: &[HealthSample], now: crate::domain::Timestamp) -> (u64, u64) {
    let Some(first) = history.first() else {
        return (0, 0);
    };
    let ends = history.iter().skip(1).map(|s| s.at).chain([now]);
    let down = history
        .iter()
        .zip(ends)
        .filter(|(s, _)| !s.reachable)
        .map(|(s, end)| (end - s.at).clamp(0, 3600) as u64)
        .sum();
    (down, (now - first.at).max(0) as u64)
}

/// Samples kept per node.
pub const HISTORY: usize = 500;

/// One pass.
pub async fn run_once(st: &AppState, out: &mut Outcome) -> Result<(), AppError> {
    let now = st.now();
    let mut best = 0;
    for op in ops_in(st, &[State::Launching, State::Active, State::LowFunds]).await? {
        let Some(ip) = op.resources.ipv4.clone() else {
            continue;
        };
        let probe = st.clients.node.get_info(&ip, st.config.node_rpc_port).await;
        if let Ok(i) = &probe {
            best = best.max(i.height);
        }
        let sample = match &probe {
            Ok(i) => HealthSample {
                at: now,
                reachable: true,
                height: i.height,
                target_height: i.target_height,
                synchronized: i.synchronized,
                peers_in: i.incoming_connections_count,
                peers_out: i.outgoing_connections_count,
                database_size: i.database_size,
                status: i.status.clone(),
            },
            Err(e) => HealthSample::unreachable(now, e.to_string()),
        };
        out.did(format!(
            "{}: {}",
            op.codename,
            if sample.reachable {
                format!("height {}/{}", sample.height, sample.target_height)
            } else {
                sample.status.clone()
            }
        ));
        if out.dry_run {
            continue;
        }
        let id = op.id.clone();
        let down_since = if sample.reachable {
            None
        } else {
            match st.cache.node_info.get(&op.id).await {
                Some(prev) => prev.down_since.or(Some(now)),
                // After a restart: from the stored history.
                None => {
                    let id = id.clone();
                    let history = st
                        .store
                        .run(move |s| s.health(&id).map_err(AppError::from))
                        .await?;
                    Some(down_since(&history).unwrap_or(now))
                }
            }
        };
        st.cache
            .node_info
            .insert(
                op.id.clone(),
                crate::cache::NodeSeen {
                    at: now,
                    info: probe.ok(),
                    down_since,
                },
            )
            .await;
        st.store
            .run(move |s| {
                s.write(|tx| tx.add_health(&id, &sample, HISTORY))
                    .map_err(AppError::from)
            })
            .await?;
        // The index's strip of this node's probes is read again on its next view.
    }
    if !out.dry_run {
        st.cache
            .best_height
            .store(best, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(())
}
