//! DigitalOcean API v2: the [`Cloud`] of configured installs, plus SSH keys
//! for the CLI.
//!
//! A careful client: every list follows `links.pages.next`; 429 and 5xx are
//! retried with jittered exponential backoff up to a bound, honouring
//! `Retry-After` and the `ratelimit-*` headers; a create is never retried
//! blindly: before each retry the resource is looked up by name and tag, so
//! a create that succeeded but whose answer was lost is not made twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};

use crate::clients::cloud::{
    Cloud, CloudError, Droplet, DropletSpec, Record, Region, Volume, VolumeSpec,
};
use crate::domain::money::Micro;
use crate::metrics::Metrics;

mod http;
mod parse;

pub use parse::{
    SshKey, parse_answer, parse_destroy_status, parse_droplet, parse_droplet_limit, parse_record,
    parse_regions, parse_size_price, parse_ssh_key, parse_volume,
};

/// Timeout of one request.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Items per page when listing.
const PER_PAGE: u32 = 200;
/// Pages followed at most (200 × 50 = 10,000 items).
const MAX_PAGES: usize = 50;
/// The largest answer read (a page of 200 droplets is about 1 MiB).
const MAX_BODY: usize = 8 * 1024 * 1024;

/// What the last answer said about the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimit {
    /// Requests left in the window (`ratelimit-remaining`), -1 if never seen.
    pub remaining: i64,
    /// When the window resets (`ratelimit-reset`, unix seconds), 0 if never seen.
    pub reset_at: i64,
}

/// A client of `DO_API_URL` with `DO_TOKEN`.
pub struct DigitalOcean {
    http: reqwest::Client,
    base: String,
    token: String,
    metrics: Arc<Metrics>,
    /// Attempts per request (the first one included).
    attempts: u32,
    backoff_base: Duration,
    backoff_cap: Duration,
    remaining: AtomicI64,
    reset_at: AtomicI64,
}

impl DigitalOcean {
    pub fn new(http: reqwest::Client, base: &str, token: &str, metrics: Arc<Metrics>) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            metrics,
            attempts: 4,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(30),
            remaining: AtomicI64::new(-1),
            reset_at: AtomicI64::new(0),
        }
    }

    /// Sets the retry bound and the backoff (tests use milliseconds).
    pub fn with_backoff(mut self, attempts: u32, base: Duration, cap: Duration) -> Self {
        self.attempts = attempts.max(1);
        self.backoff_base = base;
        self.backoff_cap = cap;
        self
    }

    /// The rate limit as the last answer told it.
    pub fn rate_limit(&self) -> RateLimit {
        RateLimit {
            remaining: self.remaining.load(Ordering::Relaxed),
            reset_at: self.reset_at.load(Ordering::Relaxed),
        }
    }

    /// SSH keys of the account.
    pub async fn ssh_keys(&self) -> Result<Vec<SshKey>, CloudError> {
        Ok(self
            .list("/v2/account/keys", "ssh_keys")
            .await?
            .iter()
            .filter_map(parse_ssh_key)
            .collect())
    }

    /// Adds an SSH key to the account (looked up by fingerprint-free name on retry).
    pub async fn create_ssh_key(&self, name: &str, public_key: &str) -> Result<SshKey, CloudError> {
        let body = json!({ "name": name, "public_key": public_key });
        let key = public_key.trim().to_string();
        self.create(
            "/v2/account/keys",
            &body,
            |v| serde_json::from_value(v["ssh_key"].clone()).ok(),
            || {
                let key = key.clone();
                async move {
                    Ok(self
                        .ssh_keys()
                        .await?
                        .into_iter()
                        .find(|k| k.public_key.trim() == key))
                }
            },
        )
        .await
    }

    /// Every volume of the account.
    pub async fn volumes(&self) -> Result<Vec<Volume>, CloudError> {
        let items = self.list("/v2/volumes", "volumes").await?;
        all_read(&items, parse_volume, "volume")
    }

    /// Records of `kind` named `name` (relative to `domain`).
    pub async fn records_named(
        &self,
        domain: &str,
        kind: &str,
        name: &str,
    ) -> Result<Vec<Record>, CloudError> {
        // The filter takes the fully qualified name; answers carry the relative one.
        let path = format!(
            "/v2/domains/{}/records?name={}&type={}",
            enc(domain),
            enc(&format!("{name}.{domain}")),
            enc(kind)
        );
        Ok(self
            .list(&path, "domain_records")
            .await?
            .iter()
            .filter_map(parse_record)
            .filter(|r| r.name == name && r.kind == kind)
            .collect())
    }

    /// The status of a destroy with associated resources.
    pub async fn destroy_status(&self, id: u64) -> Result<Value, CloudError> {
        self.get(&format!(
            "/v2/droplets/{id}/destroy_with_associated_resources/status"
        ))
        .await
    }
}

/// Every item of a list read, or the whole list unavailable: one item that
/// cannot be read could be the droplet whose absence would end a paid node.
fn all_read<T>(
    items: &[Value],
    parse: fn(&Value) -> Option<T>,
    what: &str,
) -> Result<Vec<T>, CloudError> {
    items
        .iter()
        .map(|v| {
            parse(v).ok_or_else(|| {
                CloudError::Unavailable(format!("DigitalOcean listed a {what} that cannot be read"))
            })
        })
        .collect()
}

fn enc(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|s| s.trim_start_matches('=').to_string())
        .unwrap_or_default()
}

#[async_trait]
impl Cloud for DigitalOcean {
    async fn droplet_limit(&self) -> Result<u32, CloudError> {
        parse_droplet_limit(&self.get("/v2/account").await?)
    }

    async fn size_price_hourly(&self, size: &str) -> Result<Micro, CloudError> {
        parse_size_price(&self.list("/v2/sizes", "sizes").await?, size)
    }

    async fn regions(&self, size: &str) -> Result<Vec<Region>, CloudError> {
        Ok(parse_regions(
            &self.list("/v2/regions", "regions").await?,
            size,
        ))
    }

    async fn find_volume(&self, name: &str, region: &str) -> Result<Option<Volume>, CloudError> {
        let path = format!("/v2/volumes?name={}&region={}", enc(name), enc(region));
        Ok(self
            .list(&path, "volumes")
            .await?
            .iter()
            .filter_map(parse_volume)
            .find(|v| v.name == name && v.region == region))
    }

    async fn volumes_tagged(&self, tag: &str) -> Result<Vec<Volume>, CloudError> {
        // The volumes list has no tag filter.
        Ok(self
            .volumes()
            .await?
            .into_iter()
            .filter(|v| v.tags.iter().any(|t| t == tag))
            .collect())
    }

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<Volume, CloudError> {
        // No `filesystem_type`: DigitalOcean would format the volume itself
        // (5 % reserved for root) and have the droplet image mount it at
        // /mnt/<name>. The node's bootstrap formats a blank volume and
        // mounts it where monerod expects it (cloud-init/node.yaml).
        let body = json!({
            "size_gigabytes": spec.size_gb,
            "name": spec.name,
            "region": spec.region,
            "tags": spec.tags,
        });
        self.create(
            "/v2/volumes",
            &body,
            |v| parse_volume(&v["volume"]),
            || self.find_volume(&spec.name, &spec.region),
        )
        .await
    }

    async fn delete_volume(&self, id: &str) -> Result<(), CloudError> {
        self.delete(&format!("/v2/volumes/{}", enc(id))).await
    }

    async fn droplets_tagged(&self, tag: &str) -> Result<Vec<Droplet>, CloudError> {
        let items = self
            .list(&format!("/v2/droplets?tag_name={}", enc(tag)), "droplets")
            .await?;
        all_read(&items, parse_droplet, "droplet")
    }

    async fn droplet(&self, id: u64) -> Result<Option<Droplet>, CloudError> {
        match self.get(&format!("/v2/droplets/{id}")).await {
            Ok(v) => Ok(parse_droplet(&v["droplet"])),
            Err(CloudError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn create_droplet(&self, spec: &DropletSpec) -> Result<Droplet, CloudError> {
        let ssh_keys: Vec<Value> = spec
            .ssh_keys
            .iter()
            .map(|k| match k.parse::<u64>() {
                Ok(id) => json!(id),
                Err(_) => json!(k),
            })
            .collect();
        let body = json!({
            "name": spec.name,
            "region": spec.region,
            "size": spec.size,
            "image": spec.image,
            "ssh_keys": ssh_keys,
            "ipv6": true,
            "monitoring": true,
            "user_data": spec.user_data,
            "volumes": spec.volume_ids,
            "tags": spec.tags,
        });
        // The operation's own tag is the most specific; fall back to the first.
        let tag = spec
            .tags
            .iter()
            .find(|t| t.starts_with("nodecannon-op-"))
            .or(spec.tags.first())
            .cloned()
            .unwrap_or_default();
        self.create(
            "/v2/droplets",
            &body,
            |v| parse_droplet(&v["droplet"]),
            || {
                let tag = tag.clone();
                async move {
                    Ok(self
                        .droplets_tagged(&tag)
                        .await?
                        .into_iter()
                        .find(|d| d.name == spec.name))
                }
            },
        )
        .await
    }

    async fn destroy_droplet(&self, id: u64) -> Result<(), CloudError> {
        // Destroys the droplet with everything DigitalOcean associates with
        // it (its volumes too); deleting the volume afterwards finds it gone.
        self.send(
            Method::DELETE,
            &format!(
                "{}/v2/droplets/{id}/destroy_with_associated_resources/dangerous",
                self.base
            ),
            None,
            true,
            true,
        )
        .await?;
        match self.destroy_status(id).await {
            Ok(s) => parse_destroy_status(id, &s),
            // The status of a destroy may be gone already; the droplet check is what counts.
            Err(CloudError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn delete_droplet_keep_volumes(&self, id: u64) -> Result<(), CloudError> {
        // A plain delete: DigitalOcean detaches the volumes and keeps them.
        let url = format!("{}/v2/droplets/{id}", self.base);
        match self.send(Method::DELETE, &url, None, false, true).await {
            Ok(_) | Err(CloudError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn records(&self, domain: &str, name_suffix: &str) -> Result<Vec<Record>, CloudError> {
        let items = self
            .list(
                &format!("/v2/domains/{}/records", enc(domain)),
                "domain_records",
            )
            .await?;
        Ok(all_read(&items, parse_record, "DNS record")?
            .into_iter()
            .filter(|r| r.name == name_suffix || r.name.ends_with(&format!(".{name_suffix}")))
            .collect())
    }

    async fn create_record(
        &self,
        domain: &str,
        kind: &str,
        name: &str,
        data: &str,
    ) -> Result<Record, CloudError> {
        let body = json!({ "type": kind, "name": name, "data": data, "ttl": 300 });
        self.create(
            &format!("/v2/domains/{}/records", enc(domain)),
            &body,
            |v| parse_record(&v["domain_record"]),
            || async move {
                Ok(self
                    .records_named(domain, kind, name)
                    .await?
                    .into_iter()
                    .find(|r| r.data == data))
            },
        )
        .await
    }

    async fn delete_record(&self, domain: &str, id: u64) -> Result<(), CloudError> {
        self.delete(&format!("/v2/domains/{}/records/{id}", enc(domain)))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_links_are_followed_on_the_configured_base() {
        let c = DigitalOcean::new(
            reqwest::Client::new(),
            "http://127.0.0.1:4010/",
            "t",
            Arc::new(Metrics::default()),
        );
        assert_eq!(
            c.on_base("https://api.digitalocean.com/v2/droplets?page=2&per_page=200"),
            "http://127.0.0.1:4010/v2/droplets?page=2&per_page=200"
        );
        let d = c.backoff(3);
        assert!(
            d >= Duration::from_secs(2) && d <= Duration::from_secs(3),
            "{d:?}"
        );
        assert_eq!(c.backoff(30), Duration::from_secs(30));
    }
}
