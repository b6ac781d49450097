//! Destroying an operation's node: droplet, volume and DNS records. Shared by
//! the end of funds, cancel and the reconciler. Safe to repeat: what is
//! already gone counts as done.

use crate::app::AppState;
use crate::clients::CloudError;
use crate::domain::operation::Operation;
use crate::error::AppError;

fn gone_is_fine(r: Result<(), CloudError>) -> Result<(), CloudError> {
    match r {
        Err(CloudError::NotFound) => Ok(()),
        r => r,
    }
}

/// Destroys every cloud resource of `op`, found by its tag and by the ids stored.
pub async fn teardown(st: &AppState, op: &Operation) -> Result<Vec<String>, AppError> {
    let mut did = Vec::new();
    let mut droplets: Vec<u64> = st
        .clients
        .cloud
        .droplets_tagged(&op.tag())
        .await?
        .into_iter()
        .map(|d| d.id)
        .collect();
    if let Some(id) = op.resources.droplet_id
        && !droplets.contains(&id)
    {
        droplets.push(id);
    }
    for id in droplets {
        gone_is_fine(st.clients.cloud.destroy_droplet(id).await)?;
        did.push(format!("destroyed droplet {id}"));
    }
    st.failpoint("teardown:droplets-destroyed")?;
    let name = format!("{}.node", op.codename);
    for r in st
        .clients
        .cloud
        .records(&st.config.do_domain, &name)
        .await?
    {
        if r.name == name {
            gone_is_fine(
                st.clients
                    .cloud
                    .delete_record(&st.config.do_domain, r.id)
                    .await,
            )?;
            did.push(format!("deleted DNS {} {}", r.kind, r.name));
        }
    }
    let mut volumes: Vec<String> = st
        .clients
        .cloud
        .volumes_tagged(&op.tag())
        .await?
        .into_iter()
        .map(|v| v.id)
        .collect();
    if let Some(v) = &op.resources.volume_id
        && !volumes.contains(v)
    {
        volumes.push(v.clone());
    }
    for v in volumes {
        gone_is_fine(st.clients.cloud.delete_volume(&v).await)?;
        did.push(format!("deleted volume {v}"));
    }
    st.failpoint("teardown:volumes-deleted")?;
    Ok(did)
}

/// Tears down a node whose operation no longer runs one, then forgets the
/// resource ids (with an event). A failure is recorded as the operation's
/// problem and retried by the next payout pass; the reconciler also removes
/// resources of operations that have no node.
pub async fn teardown_and_clear(
    st: &AppState,
    out: &mut super::Outcome,
    op: &Operation,
) -> Result<(), AppError> {
    use crate::domain::event::EventKind;
    match teardown(st, op).await {
        Ok(did) => {
            let msg = if did.is_empty() {
                "Nothing left to destroy.".to_string()
            } else {
                format!("Node destroyed: {}.", did.join(", "))
            };
            for d in &did {
                out.did(format!("{}: {d}", op.codename));
            }
            crate::ops::change(st, &op.id, EventKind::LaunchStep, msg, |o, _| {
                o.resources = Default::default();
                o.launch_step = None;
                if o.problem
                    .as_deref()
                    .is_some_and(|p| p.starts_with("Destroying the node failed"))
                {
                    o.problem = None;
                }
                Ok(())
            })
            .await?;
            Ok(())
        }
        Err(e) => {
            let msg = format!("Destroying the node failed, will retry: {e}");
            out.failed(format!("{}: {msg}", op.codename));
            crate::ops::change(st, &op.id, EventKind::Problem, msg.clone(), move |o, _| {
                o.problem = Some(msg);
                Ok(())
            })
            .await?;
            Ok(())
        }
    }
}

/// Whether an operation still holds cloud resources.
pub fn holds_resources(op: &Operation) -> bool {
    let r = &op.resources;
    r.droplet_id.is_some() || r.volume_id.is_some() || !r.dns_records.is_empty()
}
