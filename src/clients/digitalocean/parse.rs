//! DigitalOcean's answers read into the crate's types: the error of a
//! failed call (and whether a retry could help), and droplets, volumes,
//! records, regions, SSH keys and prices out of the JSON. No I/O, so hostile
//! answers are tested without a server (`tests/suite/hostile_input/`).

use std::time::Duration;

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clients::cloud::{CloudError, Droplet, Record, Region, Volume};
use crate::domain::money::Micro;

/// An SSH key of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshKey {
    pub id: u64,
    pub name: String,
    pub fingerprint: String,
    pub public_key: String,
}

/// A failed attempt: whether trying again could help.
pub(super) enum Attempt {
    Final(CloudError),
    Retry(CloudError, Option<Duration>),
}

/// What an answer of DigitalOcean means: its JSON (`Null` for an empty
/// success), or a failure and whether trying again could help.
pub(super) fn answer(
    status: StatusCode,
    text: &str,
    retry_after: Option<Duration>,
) -> Result<Value, Attempt> {
    if status.is_success() {
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        return serde_json::from_str(text).map_err(|e| {
            Attempt::Final(CloudError::Unavailable(format!(
                "unreadable answer from DigitalOcean: {e}"
            )))
        });
    }
    let message = serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v["message"].as_str().map(String::from))
        .unwrap_or_else(|| text.chars().take(200).collect());
    Err(match status {
        StatusCode::UNAUTHORIZED => Attempt::Final(CloudError::Unauthorized),
        StatusCode::NOT_FOUND => Attempt::Final(CloudError::NotFound),
        StatusCode::TOO_MANY_REQUESTS => Attempt::Retry(
            CloudError::Unavailable(format!("rate limited: {message}")),
            retry_after,
        ),
        s if s.is_server_error() => Attempt::Retry(
            CloudError::Unavailable(format!("HTTP {}: {message}", s.as_u16())),
            retry_after,
        ),
        _ if is_limit(&message) => Attempt::Final(CloudError::LimitReached(message)),
        StatusCode::FORBIDDEN => Attempt::Final(CloudError::Unauthorized),
        s => Attempt::Final(CloudError::Validation(format!(
            "HTTP {}: {message}",
            s.as_u16()
        ))),
    })
}

/// Reads an answer of DigitalOcean with HTTP `status` (500 if not a status)
/// and body `text`: its JSON, or the error and whether it would be retried.
/// No I/O, so hostile answers are tested without a server
/// (`tests/suite/hostile_input/`); so are the `parse_*` functions below.
pub fn parse_answer(status: u16, text: &str) -> Result<Value, (CloudError, bool)> {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    answer(status, text, None).map_err(|a| match a {
        Attempt::Final(e) => (e, false),
        Attempt::Retry(e, _) => (e, true),
    })
}

/// DigitalOcean's words for an account limit ("will exceed your droplet limit").
fn is_limit(message: &str) -> bool {
    let m = message.to_lowercase();
    m.contains("limit") && (m.contains("exceed") || m.contains("reached"))
}

/// An RFC 3339 time; a resource without one cannot be read (its age decides
/// whether reconcile may destroy it).
fn timestamp(v: &Value) -> Option<i64> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.timestamp())
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A volume of an answer; `None` without an id or a name. An empty id is
/// none: it would make `DELETE /v2/volumes/{id}` name the collection.
pub fn parse_volume(v: &Value) -> Option<Volume> {
    Some(Volume {
        id: v["id"].as_str().filter(|id| !id.is_empty())?.to_string(),
        name: v["name"].as_str()?.to_string(),
        region: v["region"]["slug"].as_str().unwrap_or_default().to_string(),
        size_gb: u32::try_from(v["size_gigabytes"].as_u64().unwrap_or(0)).unwrap_or(u32::MAX),
        tags: strings(&v["tags"]),
        created_at: timestamp(&v["created_at"])?,
        droplet_ids: v["droplet_ids"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default(),
    })
}

fn public_ip(v: &Value) -> Option<String> {
    v.as_array()?
        .iter()
        .find(|n| n["type"] == "public")
        .and_then(|n| n["ip_address"].as_str())
        .map(String::from)
}

/// A droplet of an answer; `None` without an id or a name.
pub fn parse_droplet(v: &Value) -> Option<Droplet> {
    Some(Droplet {
        id: v["id"].as_u64()?,
        name: v["name"].as_str()?.to_string(),
        region: v["region"]["slug"].as_str().unwrap_or_default().to_string(),
        status: v["status"].as_str().unwrap_or_default().to_string(),
        ipv4: public_ip(&v["networks"]["v4"]),
        ipv6: public_ip(&v["networks"]["v6"]),
        tags: strings(&v["tags"]),
        created_at: timestamp(&v["created_at"])?,
    })
}

/// A record's name relative to `domain` (the API answers relative names,
/// `@` for the apex).
pub fn parse_record(v: &Value) -> Option<Record> {
    Some(Record {
        id: v["id"].as_u64()?,
        kind: v["type"].as_str()?.to_string(),
        name: v["name"].as_str()?.to_string(),
        data: v["data"].as_str().unwrap_or_default().to_string(),
    })
}

/// An SSH key of an answer; `None` if it is not one.
pub fn parse_ssh_key(v: &Value) -> Option<SshKey> {
    serde_json::from_value(v.clone()).ok()
}

/// Available regions of `/v2/regions` items that offer `size` and volumes,
/// by slug; an item without a slug is none.
pub fn parse_regions(items: &[Value], size: &str) -> Vec<Region> {
    let mut out: Vec<Region> = items
        .iter()
        .filter(|r| r["available"].as_bool().unwrap_or(false))
        .filter(|r| strings(&r["sizes"]).iter().any(|s| s == size))
        .filter(|r| strings(&r["features"]).iter().any(|f| f == "storage"))
        .filter_map(|r| {
            Some(Region {
                // An empty slug would let an empty form field pass as a region.
                slug: r["slug"].as_str().filter(|s| !s.is_empty())?.to_string(),
                name: r["name"].as_str().unwrap_or_default().to_string(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.slug.cmp(&b.slug));
    out
}

/// `price_hourly` of `size` among `/v2/sizes` items, in micro-USD.
pub fn parse_size_price(sizes: &[Value], size: &str) -> Result<Micro, CloudError> {
    let s = sizes
        .iter()
        .find(|s| s["slug"] == size)
        .ok_or_else(|| CloudError::Validation(format!("DigitalOcean has no size {size:?}")))?;
    micro_usd(&s["price_hourly"])
        .ok_or_else(|| CloudError::Unavailable(format!("size {size} without price_hourly")))
}

/// `droplet_limit` of a `/v2/account` answer.
pub fn parse_droplet_limit(v: &Value) -> Result<u32, CloudError> {
    v["account"]["droplet_limit"]
        .as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| CloudError::Unavailable("account without droplet_limit".into()))
}

/// Whether the destroy of droplet `id` went through, from its status answer.
pub fn parse_destroy_status(id: u64, v: &Value) -> Result<(), CloudError> {
    let failures = v["failures"].as_u64().unwrap_or(0);
    if failures > 0 {
        return Err(CloudError::Unavailable(format!(
            "destroy of droplet {id} reported {failures} failure(s)"
        )));
    }
    Ok(())
}

/// `price_hourly` (a float in USD) as micro-USD, rounded to the nearest.
fn micro_usd(v: &Value) -> Option<Micro> {
    let f = v.as_f64()?;
    if !(0.0..=1e6).contains(&f) {
        return None;
    }
    // Bounded above, so the cast cannot overflow.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some((f * 1e6).round() as Micro)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn prices_become_micro_usd() {
        assert_eq!(micro_usd(&json!(0.00743999984115362)), Some(7_440));
        assert_eq!(micro_usd(&json!(0.02679)), Some(26_790));
        assert_eq!(micro_usd(&json!(-1.0)), None);
        assert_eq!(micro_usd(&json!("0.1")), None);
    }

    #[test]
    fn droplets_read_their_public_addresses() {
        let d = parse_droplet(&json!({
            "id": 7, "name": "op-x", "status": "active", "region": {"slug": "ams3"},
            "created_at": "2026-01-02T03:04:05Z", "tags": ["nodecannon"],
            "networks": {
                "v4": [{"ip_address": "10.0.0.2", "type": "private"}, {"ip_address": "203.0.113.5", "type": "public"}],
                "v6": [{"ip_address": "2001:db8::5", "type": "public"}]
            }
        }))
        .unwrap();
        assert_eq!(d.ipv4.as_deref(), Some("203.0.113.5"));
        assert_eq!(d.ipv6.as_deref(), Some("2001:db8::5"));
        assert_eq!(d.created_at, 1_767_323_045);
        assert!(parse_droplet(&json!({"name": "no id"})).is_none());
        // Volumes may come with `tags: null`.
        let v = parse_volume(&json!({"id": "u", "name": "op-x", "tags": null,
            "region": {"slug": "nyc3"}, "created_at": "2026-01-02T03:04:05Z"}))
        .unwrap();
        assert!(v.tags.is_empty());
        // Without its creation time a resource cannot be read: its age
        // decides whether reconcile may destroy it.
        assert!(parse_volume(&json!({"id": "u", "name": "op-x"})).is_none());
        assert!(parse_droplet(&json!({"id": 7, "name": "op-x"})).is_none());
    }
}
