//! JSON and text endpoints: `/status`, `/metrics`, `/api/...`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::clock::rfc3339;
use crate::domain::event::EventKind;
use crate::domain::health::{NodeStatus, classify, sync_percent};
use crate::domain::state::State as OpState;
use crate::error::AppError;
use crate::ops::change;
use crate::web::ApiError;
use crate::web::state::WebState;
use crate::web::views::index::NodeRow;

/// What a node's cached probe means: its status and the words for it
/// (`syncing 42 %`, `unreachable since 2026-11-23 15:04 UTC`). Never probes.
pub fn describe(
    st: &WebState,
    op: &crate::domain::operation::Operation,
    seen: Option<&crate::cache::NodeSeen>,
    best_height: u64,
) -> (NodeStatus, String) {
    let probe = seen.map(|s| crate::clients::node::probe_of(&s.info));
    let launched = op.launched_at.unwrap_or(op.created_at);
    let status = if op.state == OpState::Launching {
        NodeStatus::Booting
    } else {
        classify(
            probe,
            launched,
            st.now(),
            best_height,
            st.config.node_behind_blocks,
        )
    };
    let text = match (status, probe) {
        (NodeStatus::Syncing, Some(p)) => {
            format!("syncing {} %", sync_percent(p.height, p.target_height))
        }
        (NodeStatus::Unreachable, _) => match seen.and_then(|s| s.down_since) {
            Some(t) => format!("unreachable since {}", crate::clock::human(t)),
            None => "unreachable".into(),
        },
        (s, _) => s.as_str().to_string(),
    };
    (status, text)
}

/// The best height the nodes reported in the health job's last pass.
pub fn best_height(st: &WebState) -> u64 {
    st.cache
        .best_height
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// Launched nodes with their cached status, newest first. Never probes;
/// built at most every 5 s (concurrent requests share one build).
pub async fn node_rows(
    st: &WebState,
) -> Result<std::sync::Arc<crate::web::pages::NodeList>, AppError> {
    // Read before the store is: a write committed meanwhile makes a newer one.
    let writes = st.store.writes();
    st.pages
        .node_rows
        .try_get_with(writes, async {
            build_node_rows(st)
                .await
                .map(|rows| std::sync::Arc::new(crate::web::pages::NodeList::new(rows)))
        })
        .await
        // The same status and words (a store failure's details go to the log).
        .map_err(|e| e.copied())
}

async fn build_node_rows(st: &WebState) -> Result<Vec<NodeRow>, AppError> {
    let now = st.now();
    let mut ops = st
        .store
        .run(|s| Ok::<_, AppError>(s.node_operations()?))
        .await?;
    ops.sort_by_key(|o| std::cmp::Reverse(o.launched_at));
    let mut seen = Vec::with_capacity(ops.len());
    for op in &ops {
        seen.push(st.cache.node_info.get(&op.id).await);
    }
    let best = best_height(st);
    Ok(ops
        .iter()
        .zip(seen)
        .map(|(op, seen)| {
            let (status, status_text) = describe(st, op, seen.as_ref(), best);
            let info = seen
                .as_ref()
                .and_then(|s| s.info.clone())
                .unwrap_or_default();
            let launched = op.launched_at.unwrap_or(op.created_at);
            NodeRow {
                codename: op.codename.clone(),
                region: op.region.clone(),
                dns: op.dns_name(&st.config.do_domain),
                onion: op.onion.clone(),
                status: status.as_str().into(),
                status_text,
                synchronized: info.synchronized,
                height: info.height,
                target_height: info.target_height,
                checked_at: seen.as_ref().map(|s| rfc3339(s.at)),
                unreachable_since: seen.as_ref().and_then(|s| s.down_since).map(rfc3339),
                age_secs: u64::try_from(now - launched).unwrap_or(0),
                rpc_port: st.config.node_rpc_port,
                op_id: op.id.clone(),
            }
        })
        .collect())
}

/// `GET /api/nodes`.
/// (Serialised and compressed once per build of the list, not per request.)
pub async fn nodes(State(st): State<WebState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let list = node_rows(&st).await?;
    Ok(list.json().respond(&headers, "application/json"))
}

/// `GET /api/info/{codename}`: the node's last `get_info` and status, from
/// the cache (never a live probe).
pub async fn node_info(
    State(st): State<WebState>,
    Path(codename): Path<String>,
) -> Result<Response, ApiError> {
    let v = crate::web::pages::view(&st, &codename).await?;
    let op = &v.op;
    let Some(seen) = st
        .cache
        .node_info
        .get(&op.id)
        .await
        .filter(|_| op.state.has_node())
    else {
        return Err(ApiError(AppError::NotFound(format!(
            "no node information for {} yet",
            op.codename
        ))));
    };
    let best = best_height(&st);
    let (status, text) = describe(&st, op, Some(&seen), best);
    Ok(Json(json!({
        "codename": op.codename,
        "checked_at": rfc3339(seen.at),
        "status": status.as_str(),
        "status_text": text,
        "unreachable_since": seen.down_since.map(rfc3339),
        "info": seen.info,
    }))
    .into_response())
}

/// `GET /api/export/ansible`: an inventory of active nodes.
pub async fn export_ansible(State(st): State<WebState>) -> Result<Response, ApiError> {
    let ops = crate::ops::ops_in(&st, &[OpState::Active, OpState::LowFunds]).await?;
    let mut s = String::from("[nodecannon]\n");
    for op in ops {
        if let Some(ip) = &op.resources.ipv4 {
            s.push_str(&format!(
                "{} ansible_host={ip} region={}\n",
                op.dns_name(&st.config.do_domain),
                op.region
            ));
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], s).into_response())
}

/// `GET /api/export/upstreams`: an nginx upstream block of active nodes.
pub async fn export_upstreams(State(st): State<WebState>) -> Result<Response, ApiError> {
    let ops = crate::ops::ops_in(&st, &[OpState::Active, OpState::LowFunds]).await?;
    let mut s = String::from("upstream nodecannon_monerod {\n");
    for op in ops {
        if let Some(ip) = &op.resources.ipv4 {
            s.push_str(&format!(
                "    server {ip}:{}; # {}\n",
                st.config.node_rpc_port, op.codename
            ));
        }
    }
    s.push_str("}\n");
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], s).into_response())
}

/// `POST /api/nodes/{id}/report`: a node reports a boot step (and its onion address).
pub async fn report(
    State(st): State<WebState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Result<StatusCode, ApiError> {
    let op = crate::ops::get(&st, &id).await?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !token.is_some_and(|t| crate::util::secret_eq(t.trim(), &op.node_token)) {
        return Err(ApiError(AppError::Unauthorized("wrong node token".into())));
    }
    let crate::clients::node::NodeReport { step, onion } =
        crate::clients::node::parse_report(&body).map_err(|m| ApiError(AppError::BadInput(m)))?;
    let msg = match &onion {
        Some(o) => format!("Node reported its onion address {o}."),
        None => format!("Node reported: {step}."),
    };
    if !op.state.has_node() {
        return Err(ApiError(AppError::Conflict(format!(
            "{} runs no node now",
            op.codename
        ))));
    }
    change(&st, &op.id, EventKind::NodeReport, msg, move |o, now| {
        // Each step once (a node that retries after a lost answer changes nothing).
        if !step.is_empty() && o.node_reports.iter().any(|(_, s)| *s == step) {
            return Err(AppError::Conflict(format!(
                "step {step:?} was already reported"
            )));
        }
        if onion.is_some() && o.onion == onion {
            return Err(AppError::Conflict(
                "that onion address was already reported".into(),
            ));
        }
        if !step.is_empty() {
            o.node_reports.push((now, step));
            let n = o.node_reports.len();
            o.node_reports.drain(..n.saturating_sub(20));
        }
        if onion.is_some() {
            o.onion = onion;
        }
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /metrics`.
pub async fn metrics(State(st): State<WebState>) -> Response {
    let (held, accounts) = st.cache.known_balances();
    st.metrics.set_xmr_held(held, accounts);
    let counted = st
        .store
        .run(|s| {
            let mut by_state = std::collections::HashMap::<OpState, i64>::new();
            s.each_operation(|o| *by_state.entry(o.state).or_default() += 1)?;
            Ok::<_, AppError>(by_state)
        })
        .await;
    if let Ok(by_state) = counted {
        for state in OpState::ALL {
            st.metrics
                .set_operations(state.as_str(), by_state.get(&state).copied().unwrap_or(0));
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        st.metrics.render(),
    )
        .into_response()
}

/// `GET /status`.
pub async fn status(State(st): State<WebState>) -> Response {
    let now = st.now();
    let part = |ok: bool, detail: String| json!({ "ok": ok, "detail": detail, "checked_at": rfc3339(now) });
    let store = match st
        .store
        .run(|s| s.schema_version().map_err(AppError::from))
        .await
    {
        Ok(v) => part(true, format!("schema {v}")),
        Err(e) => part(false, e.to_string()),
    };
    // The wallet is asked at most once per STATUS_PROBE_SECS (concurrent
    // requests wait for the one check), so a stopped wallet-rpc shows within
    // one probe interval.
    let wallet = match st.money_blocked() {
        Some(why) => part(false, why),
        None => {
            let mut last = st.cache.wallet_probe.lock().await;
            let fresh = matches!(&*last, Some((t, _)) if now - t < crate::cache::STATUS_PROBE_SECS);
            if !fresh {
                let r = st
                    .clients
                    .wallet
                    .accounts()
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                *last = Some((now, r));
            }
            match last.as_ref().map(|(t, r)| (*t, r)) {
                Some((t, Ok(()))) => {
                    json!({ "ok": true, "detail": "answering", "checked_at": rfc3339(t) })
                }
                Some((t, Err(e))) => json!({ "ok": false, "detail": e, "checked_at": rfc3339(t) }),
                None => part(false, "not checked".into()),
            }
        }
    };
    let cloud = match st
        .cache
        .size_price(&st.clients.cloud, &st.config.do_droplet_size)
        .await
    {
        Ok(_) => part(true, "answering".into()),
        Err(e) => part(false, e.to_string()),
    };
    let guard = crate::pricing::price_guard(&st);
    let fetched = st.cache.price(&st.clients.price).await;
    // What each source said at that ask: stale, failing or disagreeing ones named.
    let report = st.cache.price_report();
    let (price, price_ok) = match (fetched, &guard.trouble) {
        // What the last decision found counts first: a held or stale price stops decisions.
        (_, Some(why)) => (
            part(
                false,
                format!(
                    "decisions wait: {why}{}{}",
                    guard
                        .held
                        .map(|h| format!(
                            " (held {} µUSD/XMR; an admin can accept it)",
                            h.quote.usd
                        ))
                        .unwrap_or_default(),
                    report
                        .map(|r| format!("; the sources now: {}", r.sources_line()))
                        .unwrap_or_default()
                ),
            ),
            false,
        ),
        (Ok(q), None) if now - q.at <= st.config.price_max_age_secs as i64 => {
            let detail = match report {
                Some(r) if r.median == Ok(q) => r.summary(),
                _ => format!("{} µUSD/XMR", q.usd),
            };
            (part(true, detail), true)
        }
        (Ok(q), None) => (part(false, format!("stale: {} s old", now - q.at)), false),
        // The refusal names every source and what it said.
        (Err(e), None) => (part(false, e.to_string()), false),
    };
    let sched = st
        .guards
        .scheduler_running
        .load(std::sync::atomic::Ordering::SeqCst);
    let scheduler = part(
        sched,
        if sched {
            "running".into()
        } else {
            "not running".into()
        },
    );
    let records = st.store.jobs().unwrap_or_default();
    let timings = crate::jobs::schedule::timings(&st);
    let mut jobs = serde_json::Map::new();
    for t in &timings {
        let rec = records
            .iter()
            .find(|(n, _)| n == t.job.name())
            .map(|(_, r)| r);
        jobs.insert(
            t.job.name().to_string(),
            json!({
                "last_run": rec.map(|r| rfc3339(r.last_run)),
                "outcome": rec.map(|r| r.outcome.clone()),
                "ok": rec.map(|r| r.ok),
                "next_run": t.next.map(rfc3339),
                "every_seconds": t.every,
                "overdue": t.overdue,
            }),
        );
    }
    let late: Vec<String> = timings
        .iter()
        .filter(|t| t.overdue)
        .map(|t| {
            format!(
                "{} (due every {} s; last pass {})",
                t.job.name(),
                t.every,
                t.last.map_or_else(|| "never".to_string(), rfc3339)
            )
        })
        .collect();
    let schedule = if late.is_empty() {
        part(true, "every job ran on time".into())
    } else {
        part(false, format!("overdue: {}", late.join(", ")))
    };
    let down = [&store, &wallet, &cloud, &scheduler]
        .iter()
        .any(|p| p["ok"] == false);
    let status = if down {
        "down"
    } else if !price_ok || !late.is_empty() {
        "degraded"
    } else {
        "ok"
    };
    let body = json!({
        "status": status,
        "sandbox": st.clients.sandbox.is_some(),
        "parts": { "store": store, "wallet": wallet, "cloud": cloud, "price": price, "scheduler": scheduler, "schedule": schedule },
        "jobs": jobs,
    });
    let code = if down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body)).into_response()
}
