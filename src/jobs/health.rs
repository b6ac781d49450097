//! health: probes each launched node's `get_info`, keeps the latest result in
//! the cache (pages read only that) and a bounded history in the store.

use super::{Outcome, ops_in};
use crate::app::AppState;
use crate::domain::state::State;
use crate::error::AppError;
use crate::store::HealthSample;

/// Samples kept per node.
pub const HISTORY: usize = 500;

/// One pass.
pub async fn run_once(st: &AppState, out: &mut Outcome) -> Result<(), AppError> {
    let now = st.now();
    for op in ops_in(st, &[State::Launching, State::Active, State::LowFunds]).await? {
        let Some(ip) = op.resources.ipv4.clone() else {
            continue;
        };
        let probe = st.node.get_info(&ip, st.config.node_rpc_port).await;
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
            Err(e) => HealthSample {
                at: now,
                reachable: false,
                height: 0,
                target_height: 0,
                synchronized: false,
                peers_in: 0,
                peers_out: 0,
                database_size: 0,
                status: e.to_string(),
            },
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
        st.cache
            .node_info
            .insert(op.id.clone(), (now, probe.ok()))
            .await;
        let id = op.id.clone();
        st.store
            .run(move |s| {
                s.write(|tx| tx.add_health(&id, &sample, HISTORY))
                    .map_err(AppError::from)
            })
            .await?;
    }
    Ok(())
}
