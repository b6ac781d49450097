//! launch-funded: notices payments, marks operations funded (or expired, or
//! revived by a refill), and walks funded operations through the launch steps:
//! volume → droplet → addresses → DNS → active. Every create is preceded by a
//! lookup by name or tag, and each step's resource id is stored as it advances.

use super::Outcome;
use super::funding::check_funding;
use crate::app::AppState;
use crate::clients::cloud::{DropletSpec, VolumeSpec};
use crate::domain::event::EventKind;
use crate::domain::money::format_xmr;
use crate::domain::operation::{LAUNCH_FAILURES_TOLD, LaunchStep, Operation, launch_backoff_secs};
use crate::domain::state::State;
use crate::error::AppError;
use crate::ops::{change, ops_in, transition};
use crate::pricing;

const FUNDABLE: &[State] = &[
    State::AwaitingFunds,
    State::Expired,
    State::Ended,
    State::Closed,
];

/// One pass.
pub async fn run_once(st: &AppState, out: &mut Outcome) -> Result<(), AppError> {
    let (_, rates) = crate::pricing::fresh_rates(st).await?;
    let min = pricing::min_to_launch(st, &rates);
    for op in ops_in(st, FUNDABLE).await? {
        if let Err(e) = check_funding(st, out, &op, min).await {
            out.failed(format!("{}: {e}", op.codename));
        }
    }
    if st.config.payouts_paused {
        out.did("launches held: PAYOUTS_PAUSED=1");
        return Ok(());
    }
    let limit = match st.config.max_active_nodes {
        Some(n) => n,
        None => st.clients.cloud.droplet_limit().await?,
    } as usize;
    let all = st
        .store
        .run(|s| s.operations().map_err(AppError::from))
        .await?;
    let mut running = all.iter().filter(|o| o.state.has_node()).count();
    let mut queue: Vec<Operation> = all
        .into_iter()
        .filter(|o| matches!(o.state, State::Launching | State::Funded))
        .collect();
    // Resume launches first, then the longest-waiting funded operations.
    queue.sort_by_key(|o| (o.state != State::Launching, o.state_since));
    for op in queue {
        if op.state == State::Funded && running >= limit {
            const WAIT: &str = "Waiting for a free slot: the appliance runs as many nodes as it may. Funds are kept.";
            if op.problem.as_deref() != Some(WAIT) && !out.dry_run {
                change(st, &op.id, EventKind::Problem, WAIT, |o, _| {
                    o.problem = Some(WAIT.into());
                    Ok(())
                })
                .await?;
            }
            out.did(format!(
                "{}: waiting for a free slot ({running}/{limit})",
                op.codename
            ));
            continue;
        }
        if op.state == State::Funded {
            // Funded long ago, or sent back after its droplet vanished: the
            // money must still cover the minimum at today's price.
            let acct = st.clients.wallet.account_state(op.account_index).await?;
            if acct.unlocked < min {
                let msg = format!(
                    "Waiting for funds: at today's price the launch needs {} XMR unlocked; {} XMR is.",
                    format_xmr(min),
                    format_xmr(acct.unlocked)
                );
                if op.problem.as_deref() != Some(msg.as_str()) && !out.dry_run {
                    let m = msg.clone();
                    change(st, &op.id, EventKind::Problem, msg, move |o, _| {
                        o.problem = Some(m);
                        Ok(())
                    })
                    .await?;
                }
                out.did(format!("{}: waiting for funds", op.codename));
                continue;
            }
            running += 1;
        }
        if let Some(t) = op.launch_retry_at.filter(|t| *t > st.now()) {
            out.did(format!(
                "{}: launch step retried after {}",
                op.codename,
                crate::clock::human(t)
            ));
            continue;
        }
        if out.dry_run {
            out.did(format!(
                "{}: would launch (step {:?})",
                op.codename,
                op.launch_step.unwrap_or(LaunchStep::Volume)
            ));
            continue;
        }
        match advance(st, out, op.clone()).await {
            Ok(()) if op.launch_failures > 0 => {
                let _ = change(
                    st,
                    &op.id,
                    EventKind::LaunchStep,
                    "The launch step went through after failing.",
                    |o, _| {
                        o.launch_failures = 0;
                        o.launch_retry_at = None;
                        if o.problem
                            .as_deref()
                            .is_some_and(|p| p.starts_with("Launch step"))
                        {
                            o.problem = None;
                        }
                        Ok(())
                    },
                )
                .await;
            }
            Ok(()) => {}
            Err(e) => launch_failed(st, out, &op, &e).await,
        }
    }
    Ok(())
}

/// Records a failed launch step: retried with backoff, keeping its place;
/// the operator is told once after [`LAUNCH_FAILURES_TOLD`] in a row.
async fn launch_failed(st: &AppState, out: &mut Outcome, op: &Operation, e: &AppError) {
    let n = op.launch_failures + 1;
    let retry_at = st.now() + launch_backoff_secs(n);
    let step = st
        .store
        .operation(&op.id)
        .ok()
        .flatten()
        .and_then(|o| o.launch_step)
        .unwrap_or(LaunchStep::Volume);
    let msg = format!(
        "Launch step {step:?} failed ({n} in a row): {}. Next try after {}.",
        e.to_string().trim_end_matches('.'),
        crate::clock::human(retry_at)
    );
    out.failed(format!("{}: {msg}", op.codename));
    let m = msg.clone();
    let stored = change(st, &op.id, EventKind::Problem, msg.clone(), move |o, _| {
        o.problem = Some(m);
        o.launch_failures = n;
        o.launch_retry_at = Some(retry_at);
        Ok(())
    })
    .await;
    if stored.is_ok() && n == LAUNCH_FAILURES_TOLD {
        st.clients
            .notifier
            .notify(&crate::clients::Notice {
                op_id: Some(op.id.clone()),
                codename: Some(op.codename.clone()),
                kind: "launch-stuck".into(),
                message: format!("The launch of {} is stuck: {msg}", op.codename),
            })
            .await;
    }
}

#[tracing::instrument(skip_all, fields(op = %op.codename))]
async fn advance(st: &AppState, out: &mut Outcome, mut op: Operation) -> Result<(), AppError> {
    if op.state == State::Funded {
        op = transition(
            st,
            &op,
            State::Launching,
            EventKind::LaunchStep,
            "Launch started.",
            |o| {
                o.launch_step = Some(LaunchStep::Volume);
                o.problem = None;
            },
        )
        .await?;
    }
    let c = &st.config;
    loop {
        match op.launch_step.unwrap_or(LaunchStep::Volume) {
            LaunchStep::Volume => {
                let v = match st
                    .clients
                    .cloud
                    .find_volume(&op.volume_name(), &op.region)
                    .await?
                {
                    Some(v) => v,
                    None => {
                        let spec = VolumeSpec {
                            name: op.volume_name(),
                            region: op.region.clone(),
                            size_gb: c.do_droplet_storage_gb,
                            tags: vec!["nodecannon".into(), op.tag()],
                        };
                        let v = st.clients.cloud.create_volume(&spec).await?;
                        st.failpoint("launch:volume-created")?;
                        v
                    }
                };
                op = change(
                    st,
                    &op.id,
                    EventKind::LaunchStep,
                    format!("Volume {} ready.", v.name),
                    move |o, _| {
                        o.resources.volume_id = Some(v.id);
                        o.launch_step = Some(LaunchStep::Droplet);
                        Ok(())
                    },
                )
                .await?;
                st.failpoint("launch:volume-stored")?;
            }
            LaunchStep::Droplet => {
                // A droplet given up by a rebuild is never adopted; it is
                // deleted (its volume kept) while DigitalOcean still lists
                // it, and a new one is made only once none is listed: the
                // volume is free then, and a create whose answer is lost can
                // only find the new one.
                let tagged = st.clients.cloud.droplets_tagged(&op.tag()).await?;
                let retired: Vec<u64> = tagged
                    .iter()
                    .map(|d| d.id)
                    .filter(|id| op.retired_droplets.contains(id))
                    .collect();
                if !retired.is_empty() {
                    for id in retired {
                        st.clients.cloud.delete_droplet_keep_volumes(id).await?;
                        out.did(format!("{}: deleted retired droplet {id}", op.codename));
                    }
                    return Ok(());
                }
                let d = match tagged.into_iter().next() {
                    Some(d) => d,
                    None => {
                        let spec = DropletSpec {
                            name: op.codename.clone(),
                            region: op.region.clone(),
                            size: c.do_droplet_size.clone(),
                            image: c.do_droplet_image.clone(),
                            ssh_keys: c.do_ssh_keys.clone(),
                            user_data: crate::bootstrap::render(c, &op),
                            volume_ids: op.resources.volume_id.iter().cloned().collect(),
                            tags: vec!["nodecannon".into(), op.tag()],
                        };
                        let d = st.clients.cloud.create_droplet(&spec).await?;
                        st.failpoint("launch:droplet-created")?;
                        d
                    }
                };
                let msg = format!("Droplet {} created; billing starts now.", d.id);
                op = change(st, &op.id, EventKind::LaunchStep, msg, move |o, _| {
                    o.resources.droplet_id = Some(d.id);
                    // Never bill before the droplet existed, nor before this
                    // launch began (a droplet left from an earlier run whose
                    // teardown failed is adopted, not billed for its past),
                    // nor twice what was paid.
                    let start = d.created_at.max(o.state_since);
                    o.billed_until = Some(o.billed_until.map_or(start, |b| b.max(start)));
                    o.launched_at = Some(d.created_at);
                    o.launch_step = Some(LaunchStep::Addresses);
                    // Boot steps are this droplet's own.
                    o.node_reports.retain(|(t, _)| *t >= d.created_at);
                    Ok(())
                })
                .await?;
                // The new droplet starts with no probe of an earlier one.
                st.cache.node_info.invalidate(&op.id).await;
                st.failpoint("launch:droplet-stored")?;
            }
            LaunchStep::Addresses => {
                let id = op.resources.droplet_id.unwrap_or_default();
                let Some(d) = st.clients.cloud.droplet(id).await? else {
                    op = change(
                        st,
                        &op.id,
                        EventKind::LaunchStep,
                        "The droplet vanished while booting; creating another.",
                        |o, _| {
                            o.resources.droplet_id = None;
                            o.launch_step = Some(LaunchStep::Droplet);
                            Ok(())
                        },
                    )
                    .await?;
                    continue;
                };
                let Some(ipv4) = d.ipv4 else {
                    out.did(format!("{}: droplet {} booting", op.codename, d.id));
                    return Ok(());
                };
                let ipv6 = d.ipv6;
                op = change(
                    st,
                    &op.id,
                    EventKind::LaunchStep,
                    format!("Droplet is up at {ipv4}."),
                    move |o, _| {
                        o.resources.ipv4 = Some(ipv4);
                        o.resources.ipv6 = ipv6;
                        o.launch_step = Some(LaunchStep::Dns);
                        Ok(())
                    },
                )
                .await?;
                st.failpoint("launch:addresses-stored")?;
            }
            LaunchStep::Dns => {
                let ids = ensure_dns(st, &op).await?;
                st.failpoint("launch:dns-created")?;
                let dns = op.dns_name(&c.do_domain);
                transition(
                    st,
                    &op,
                    State::Active,
                    EventKind::Launched,
                    format!("Node launched: {dns}."),
                    move |o| {
                        o.resources.dns_records = ids;
                        o.launch_step = Some(LaunchStep::Done);
                        o.problem = None;
                    },
                )
                .await?;
                out.did(format!("{}: launched", op.codename));
                return Ok(());
            }
            LaunchStep::Done => return Ok(()),
        }
    }
}

/// Makes the A and AAAA records of a node point at its addresses; returns their ids.
pub async fn ensure_dns(st: &AppState, op: &Operation) -> Result<Vec<u64>, AppError> {
    let domain = &st.config.do_domain;
    let name = format!("{}.node", op.codename);
    let existing: Vec<_> = st
        .clients
        .cloud
        .records(domain, &name)
        .await?
        .into_iter()
        .filter(|r| r.name == name)
        .collect();
    let mut ids = Vec::new();
    for (kind, ip) in [("A", &op.resources.ipv4), ("AAAA", &op.resources.ipv6)] {
        let Some(ip) = ip else { continue };
        for stale in existing.iter().filter(|r| r.kind == kind && &r.data != ip) {
            st.clients.cloud.delete_record(domain, stale.id).await?;
        }
        match existing.iter().find(|r| r.kind == kind && &r.data == ip) {
            Some(r) => ids.push(r.id),
            None => ids.push(
                st.clients
                    .cloud
                    .create_record(domain, kind, &name, ip)
                    .await?
                    .id,
            ),
        }
    }
    Ok(ids)
}
