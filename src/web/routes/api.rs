//! JSON and text endpoints: `/status`, `/metrics`, `/api/...`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::app::AppState;
use crate::clock::rfc3339;
use crate::domain::event::EventKind;
use crate::domain::health::{NodeStatus, Probe, classify, sync_percent};
use crate::domain::state::State as OpState;
use crate::error::AppError;
use crate::jobs::change;
use crate::web::ApiError;
use crate::web::views::index::NodeRow;

/// Launched nodes with their cached status, newest first. Never probes.
pub async fn node_rows(st: &AppState) -> Result<Vec<NodeRow>, AppError> {
    let now = st.now();
    let mut ops = st
        .store
        .run(|s| {
            Ok::<_, AppError>(
                s.operations()?
                    .into_iter()
                    .filter(|o| o.state.has_node())
                    .collect::<Vec<_>>(),
            )
        })
        .await?;
    ops.sort_by_key(|o| std::cmp::Reverse(o.launched_at));
    let mut infos = Vec::with_capacity(ops.len());
    for op in &ops {
        infos.push(st.cache.node_info.get(&op.id).await);
    }
    let best = infos
        .iter()
        .flatten()
        .filter_map(|(_, i)| i.as_ref())
        .map(|i| i.height)
        .max()
        .unwrap_or(0);
    Ok(ops
        .iter()
        .zip(infos)
        .map(|(op, info)| {
            let probe = info
                .as_ref()
                .map(|(_, i)| crate::clients::node::probe_of(i));
            let launched = op.launched_at.unwrap_or(op.created_at);
            let status = if op.state == OpState::Launching {
                NodeStatus::Booting
            } else {
                classify(probe, launched, now, best, st.config.node_behind_blocks)
            };
            let p = probe.unwrap_or(Probe {
                reachable: false,
                height: 0,
                target_height: 0,
                synchronized: false,
            });
            let status_text = match status {
                NodeStatus::Syncing => {
                    format!("syncing {} %", sync_percent(p.height, p.target_height))
                }
                s => s.as_str().to_string(),
            };
            NodeRow {
                codename: op.codename.clone(),
                region: op.region.clone(),
                dns: op.dns_name(&st.config.do_domain),
                onion: op.onion.clone(),
                status: status.as_str().into(),
                status_text,
                synchronized: p.synchronized,
                height: p.height,
                target_height: p.target_height,
                checked_at: info.map(|(t, _)| rfc3339(t)),
                age_secs: u64::try_from(now - launched).unwrap_or(0),
                rpc_port: st.config.node_rpc_port,
                op_id: op.id.clone(),
            }
        })
        .collect())
}

/// `GET /api/nodes`.
pub async fn nodes(State(st): State<AppState>) -> Result<Json<Vec<NodeRow>>, ApiError> {
    Ok(Json(node_rows(&st).await?))
}

/// `GET /api/info/{codename}`: the node's last `get_info`, from the cache.
pub async fn node_info(
    State(st): State<AppState>,
    Path(codename): Path<String>,
) -> Result<Response, ApiError> {
    let op = crate::ops::get(&st, &codename).await?;
    match st.cache.node_info.get(&op.id).await {
        Some((at, Some(info))) => Ok(Json(
            json!({ "codename": op.codename, "checked_at": rfc3339(at), "info": info }),
        )
        .into_response()),
        _ => Err(ApiError(AppError::NotFound(format!(
            "no node information for {} yet",
            op.codename
        )))),
    }
}

/// `GET /api/export/ansible`: an inventory of active nodes.
pub async fn export_ansible(State(st): State<AppState>) -> Result<Response, ApiError> {
    let ops = crate::jobs::ops_in(&st, &[OpState::Active, OpState::LowFunds]).await?;
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
pub async fn export_upstreams(State(st): State<AppState>) -> Result<Response, ApiError> {
    let ops = crate::jobs::ops_in(&st, &[OpState::Active, OpState::LowFunds]).await?;
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

#[derive(serde::Deserialize)]
struct Report {
    #[serde(default)]
    step: String,
    #[serde(default)]
    onion: Option<String>,
}

/// `POST /api/nodes/{id}/report`: a node reports a boot step (and its onion address).
pub async fn report(
    State(st): State<AppState>,
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
    let r: Report = serde_json::from_str(&body)
        .or_else(|_| serde_urlencoded::from_str(&body))
        .map_err(|_| {
            ApiError(AppError::BadInput(
                "expected step=... (and optionally onion=...) as a form or JSON".into(),
            ))
        })?;
    let step: String = r
        .step
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " -_.".contains(*c))
        .take(64)
        .collect();
    let onion = r.onion.filter(|o| {
        o.ends_with(".onion")
            && o.len() <= 70
            && o.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
    });
    if step.is_empty() && onion.is_none() {
        return Err(ApiError(AppError::BadInput(
            "nothing to report: give step or onion".into(),
        )));
    }
    let msg = match &onion {
        Some(o) => format!("Node reported its onion address {o}."),
        None => format!("Node reported: {step}."),
    };
    change(&st, &op.id, EventKind::NodeReport, msg, move |o, now| {
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
pub async fn metrics(State(st): State<AppState>) -> Response {
    if let Ok(ops) = st
        .store
        .run(|s| s.operations().map_err(AppError::from))
        .await
    {
        for state in OpState::ALL {
            st.metrics.set_operations(
                state.as_str(),
                ops.iter().filter(|o| o.state == state).count() as i64,
            );
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
pub async fn status(State(st): State<AppState>) -> Response {
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
    let wallet = match (st.money_blocked(), st.cache.account(&st.wallet, 0).await) {
        (Some(why), _) => part(false, why),
        (None, Ok(_)) => part(true, "answering".into()),
        (None, Err(e)) => part(false, e.to_string()),
    };
    let cloud = match st
        .cache
        .size_price(&st.cloud, &st.config.do_droplet_size)
        .await
    {
        Ok(_) => part(true, "answering".into()),
        Err(e) => part(false, e.to_string()),
    };
    let guard: crate::domain::price_guard::PriceState = st
        .store
        .setting(crate::jobs::PRICE_GUARD_KEY)
        .ok()
        .flatten()
        .unwrap_or_default();
    let (price, price_ok) = match (st.cache.price(&st.price).await, &guard.trouble) {
        // What the last decision found counts first: a held or stale price stops decisions.
        (_, Some(why)) => (
            part(
                false,
                format!(
                    "decisions wait: {why}{}",
                    guard
                        .held
                        .map(|h| format!(
                            " (held {} µUSD/XMR; an admin can accept it)",
                            h.quote.usd
                        ))
                        .unwrap_or_default()
                ),
            ),
            false,
        ),
        (Ok(q), None) if now - q.at <= st.config.price_max_age_secs as i64 => {
            (part(true, format!("{} µUSD/XMR", q.usd)), true)
        }
        (Ok(q), None) => (part(false, format!("stale: {} s old", now - q.at)), false),
        (Err(e), None) => (part(false, e.to_string()), false),
    };
    let sched = st
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
    let jobs: serde_json::Map<String, serde_json::Value> = st
        .store
        .jobs()
        .unwrap_or_default()
        .into_iter()
        .map(|(n, r)| {
            (
                n,
                json!({ "last_run": rfc3339(r.last_run), "outcome": r.outcome, "ok": r.ok }),
            )
        })
        .collect();
    let down = [&store, &wallet, &cloud, &scheduler]
        .iter()
        .any(|p| p["ok"] == false);
    let status = if down {
        "down"
    } else if !price_ok {
        "degraded"
    } else {
        "ok"
    };
    let body = json!({
        "status": status,
        "sandbox": st.sandbox.is_some(),
        "parts": { "store": store, "wallet": wallet, "cloud": cloud, "price": price, "scheduler": scheduler },
        "jobs": jobs,
    });
    let code = if down {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (code, Json(body)).into_response()
}
