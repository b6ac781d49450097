//! reconcile: compares what the cloud has (tagged `nodecannon`, and DNS records
//! under `.node`) with the store. Destroys orphans older than
//! `ORPHAN_MIN_AGE_MINUTES`, sends operations whose droplet vanished back to
//! `funded`, repairs missing DNS records and rebuilds dead nodes
//! ([`super::rebuild`]).

use std::collections::HashSet;

use super::Outcome;
use super::launch::ensure_dns;
use crate::app::AppState;
use crate::domain::event::EventKind;
use crate::domain::state::State;
use crate::error::AppError;
use crate::ops::{ops_in, transition};

/// One pass.
pub async fn run_once(st: &AppState, out: &mut Outcome) -> Result<(), AppError> {
    let now = st.now();
    let min_age = st.config.orphan_min_age_secs as i64;
    let all = st
        .store
        .run(|s| s.operations().map_err(AppError::from))
        .await?;
    let live: Vec<_> = all.iter().filter(|o| o.state.has_node()).collect();
    let droplets = st.clients.cloud.droplets_tagged("nodecannon").await?;
    let volumes = st.clients.cloud.volumes_tagged("nodecannon").await?;
    let records = st
        .clients
        .cloud
        .records(&st.config.do_domain, "node")
        .await?;

    let tracked_droplets: HashSet<u64> =
        live.iter().filter_map(|o| o.resources.droplet_id).collect();
    let tracked_tags: HashSet<String> = live.iter().map(|o| o.tag()).collect();
    // The droplet each running operation records, by its tag.
    let recorded_droplet: std::collections::HashMap<String, u64> = live
        .iter()
        .filter_map(|o| o.resources.droplet_id.map(|id| (o.tag(), id)))
        .collect();
    // Resources tagged for an operation this database does not know at all
    // (it was restored from an older backup): a visitor may be paying for
    // them. They are reported, never destroyed or billed to nobody silently.
    let known: HashSet<String> = all.iter().map(|o| o.tag()).collect();
    let unknown_op = |tags: &[String]| {
        tags.iter()
            .find(|t| t.starts_with("nodecannon-op-") && !known.contains(*t))
            .map(|t| t.trim_start_matches("nodecannon-op-").to_string())
    };
    let mut protected_names: HashSet<String> = HashSet::new();
    for d in &droplets {
        if let Some(id) = unknown_op(&d.tags) {
            protected_names.insert(format!("{}.node", d.name));
            out.failed(format!(
                "droplet {} ({}) is tagged for operation {id}, which this database does not know (restored from an older backup?): left running with its DNS records; restore a newer backup, or destroy it by hand once its owner is settled",
                d.id, d.name
            ));
            continue;
        }
        // A droplet tagged for a running operation that records another one
        // is an extra (a relaunch after a cut-off list made it): nobody is
        // billed for it, so it goes like an orphan.
        let extra_of = d.tags.iter().find_map(|t| {
            recorded_droplet
                .get(t)
                .filter(|rec| **rec != d.id)
                .map(|rec| (t.trim_start_matches("nodecannon-op-"), *rec))
        });
        let owned = tracked_droplets.contains(&d.id)
            || (extra_of.is_none() && d.tags.iter().any(|t| tracked_tags.contains(t)));
        if owned || now - d.created_at < min_age {
            continue;
        }
        let what = match extra_of {
            Some((op, rec)) => format!(
                "extra droplet {} ({}) of operation {op}, which runs on {rec}",
                d.id, d.name
            ),
            None => format!("orphan droplet {} ({})", d.id, d.name),
        };
        if out.dry_run {
            out.did(format!("would destroy {what}"));
        } else if extra_of.is_some() {
            // An extra may hold the operation's volume (the chain): only
            // the droplet goes; the volume rules below decide the rest.
            st.clients.cloud.delete_droplet_keep_volumes(d.id).await?;
            out.did(format!("deleted {what}, keeping its volumes"));
        } else {
            st.clients.cloud.destroy_droplet(d.id).await?;
            out.did(format!("destroyed {what}"));
        }
    }
    // Volumes of funded operations are kept: their relaunch reuses them.
    let keep_tags: HashSet<String> = all
        .iter()
        .filter(|o| o.state.has_node() || o.state == State::Funded)
        .map(|o| o.tag())
        .collect();
    let recorded_volume: std::collections::HashMap<String, String> = all
        .iter()
        .filter(|o| keep_tags.contains(&o.tag()))
        .filter_map(|o| o.resources.volume_id.clone().map(|id| (o.tag(), id)))
        .collect();
    for v in &volumes {
        if let Some(id) = unknown_op(&v.tags) {
            out.failed(format!(
                "volume {} ({}) is tagged for operation {id}, which this database does not know: kept",
                v.id, v.name
            ));
            continue;
        }
        // A detached volume tagged for an operation that records another
        // one is an extra, like a droplet.
        let extra = v.droplet_ids.is_empty()
            && v.tags
                .iter()
                .any(|t| recorded_volume.get(t).is_some_and(|rec| *rec != v.id));
        if (!extra && v.tags.iter().any(|t| keep_tags.contains(t))) || now - v.created_at < min_age
        {
            continue;
        }
        let what = if extra { "extra" } else { "orphan" };
        if out.dry_run {
            out.did(format!("would delete {what} volume {} ({})", v.id, v.name));
        } else {
            st.clients.cloud.delete_volume(&v.id).await?;
            out.did(format!("deleted {what} volume {} ({})", v.id, v.name));
        }
    }
    // Only records this app makes: A/AAAA named `<codename>.node`.
    let live_names: HashSet<String> = live
        .iter()
        .map(|o| format!("{}.node", o.codename))
        .collect();
    let ours = |r: &&crate::clients::cloud::Record| {
        (r.kind == "A" || r.kind == "AAAA")
            && r.name
                .strip_suffix(".node")
                .is_some_and(|c| crate::domain::codename::parse(c).as_deref() == Ok(c))
    };
    for r in records
        .iter()
        .filter(ours)
        .filter(|r| !live_names.contains(&r.name) && !protected_names.contains(&r.name))
    {
        if out.dry_run {
            out.did(format!("would delete orphan DNS {} {}", r.kind, r.name));
        } else {
            st.clients
                .cloud
                .delete_record(&st.config.do_domain, r.id)
                .await?;
            out.did(format!("deleted orphan DNS {} {}", r.kind, r.name));
        }
    }

    let present: HashSet<u64> = droplets.iter().map(|d| d.id).collect();
    for op in ops_in(st, &[State::Active, State::LowFunds]).await? {
        let Some(id) = op.resources.droplet_id else {
            continue;
        };
        if !present.contains(&id) {
            // Missing from a list is not gone: only DigitalOcean's own 404
            // for this droplet, twice, `ORPHAN_MIN_AGE_MINUTES` apart, is.
            gone_or_not(st, out, &op, id, now, min_age).await?;
            continue;
        }
        if op.droplet_missing_since.is_some() {
            crate::ops::change(
                st,
                &op.id,
                EventKind::Reconcile,
                format!("Droplet {id} is listed again."),
                |o, _| {
                    o.droplet_missing_since = None;
                    Ok(())
                },
            )
            .await?;
        }
        let name = format!("{}.node", op.codename);
        let has_a = records.iter().any(|r| {
            r.name == name && r.kind == "A" && Some(&r.data) == op.resources.ipv4.as_ref()
        });
        if !has_a && op.resources.ipv4.is_some() {
            if out.dry_run {
                out.did(format!("{}: would repair DNS", op.codename));
                continue;
            }
            let ids = ensure_dns(st, &op).await?;
            crate::ops::change(
                st,
                &op.id,
                EventKind::Reconcile,
                "Repaired the node's DNS records.",
                move |o, _| {
                    o.resources.dns_records = ids;
                    Ok(())
                },
            )
            .await?;
            out.did(format!("{}: repaired DNS", op.codename));
        }
    }
    super::rebuild::run_once(st, out).await
}

/// An operation's droplet that was not in the tagged list: asked for by id.
/// Still there: nothing happens (the list was short). A 404: noted the first
/// time; a second 404 at least `min_age` later sends the operation back to
/// funded (billing stops; a relaunch follows if the money is there).
async fn gone_or_not(
    st: &AppState,
    out: &mut Outcome,
    op: &crate::domain::operation::Operation,
    id: u64,
    now: i64,
    min_age: i64,
) -> Result<(), AppError> {
    if st.clients.cloud.droplet(id).await?.is_some() {
        out.did(format!(
            "{}: droplet {id} was missing from the list but exists",
            op.codename
        ));
        return Ok(());
    }
    let since = match op.droplet_missing_since {
        Some(t) => t,
        None => {
            if out.dry_run {
                out.did(format!(
                    "{}: droplet {id} not found; would note it",
                    op.codename
                ));
                return Ok(());
            }
            crate::ops::change(
                st,
                &op.id,
                EventKind::Reconcile,
                format!("DigitalOcean does not find droplet {id}; checking again before anything changes."),
                move |o, _| {
                    o.droplet_missing_since = Some(now);
                    Ok(())
                },
            )
            .await?;
            out.did(format!(
                "{}: droplet {id} not found (first time)",
                op.codename
            ));
            return Ok(());
        }
    };
    if now - since < min_age {
        out.did(format!(
            "{}: droplet {id} still not found; waiting before calling it gone",
            op.codename
        ));
        return Ok(());
    }
    if out.dry_run {
        out.did(format!(
            "{}: droplet {id} vanished; would send back to funded",
            op.codename
        ));
        return Ok(());
    }
    let msg = format!("Droplet {id} vanished; the node will be relaunched if the money is there.");
    transition(st, op, State::Funded, EventKind::Reconcile, msg, |o| {
        o.resources.droplet_id = None;
        o.resources.ipv4 = None;
        o.resources.ipv6 = None;
        o.launch_step = None;
        o.billed_until = None;
        o.droplet_missing_since = None;
    })
    .await?;
    out.did(format!("{}: droplet vanished, back to funded", op.codename));
    Ok(())
}
