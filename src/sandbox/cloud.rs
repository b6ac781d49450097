//! A simulated DigitalOcean: droplets that boot in [`BOOT_SECS`], volumes and
//! DNS records, all found by name and tag like the real ones.

use async_trait::async_trait;

use super::{BOOT_SECS, Ctx};
use crate::clients::cloud::{
    Cloud, CloudError, Droplet, DropletSpec, Record, Region, Volume, VolumeSpec,
};
use crate::domain::money::Micro;
use crate::store::{Store, StoreError};

/// The simulated cloud.
pub struct SandboxCloud(pub(super) Ctx, pub(super) std::sync::atomic::AtomicBool);

const SIZES: [(&str, Micro); 4] = [
    ("s-1vcpu-2gb", 17_860),
    ("s-2vcpu-4gb", 35_710),
    ("s-4vcpu-8gb", 71_430),
    ("s-8vcpu-16gb", 142_860),
];

const REGIONS: [(&str, &str); 8] = [
    ("ams3", "Amsterdam 3"),
    ("fra1", "Frankfurt 1"),
    ("lon1", "London 1"),
    ("nyc3", "New York 3"),
    ("sfo3", "San Francisco 3"),
    ("sgp1", "Singapore 1"),
    ("syd1", "Sydney 1"),
    ("tor1", "Toronto 1"),
];

/// Droplets the simulated account may have.
pub const DROPLET_LIMIT: u32 = 25;

fn storage(e: StoreError) -> CloudError {
    CloudError::Unavailable(format!("sandbox cloud storage: {e}"))
}

fn next_id(tx: &mut crate::store::Tx) -> Result<u64, StoreError> {
    let id: u64 = tx.sandbox_get("cloud/next")?.unwrap_or(1001);
    tx.sandbox_put("cloud/next", &(id + 1))?;
    Ok(id)
}

/// Shows a droplet as the API would at `now`: `new` with no addresses while booting.
fn as_seen(mut d: Droplet, now: i64) -> Droplet {
    if now - d.created_at < BOOT_SECS {
        d.status = "new".into();
        d.ipv4 = None;
        d.ipv6 = None;
    }
    d
}

impl SandboxCloud {
    /// Makes destroying droplets, volumes and records fail (or work again).
    pub fn set_fail_deletes(&self, fail: bool) {
        self.1.store(fail, std::sync::atomic::Ordering::SeqCst);
    }

    fn deletes_fail(&self) -> Result<(), CloudError> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(CloudError::Unavailable("simulated outage".into()));
        }
        Ok(())
    }

    /// Every simulated droplet as stored (addresses included).
    pub fn droplets_raw(store: &Store) -> Result<Vec<Droplet>, StoreError> {
        store.sandbox_scan("cloud/droplet/")
    }

    async fn scan<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        prefix: &'static str,
    ) -> Result<Vec<T>, CloudError> {
        self.0.metrics.client_call("cloud");
        self.0
            .run(CloudError::Unavailable, move |s| {
                s.sandbox_scan(prefix).map_err(storage)
            })
            .await
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut crate::store::Tx) -> Result<Result<T, CloudError>, StoreError>
        + Send
        + 'static,
    ) -> Result<T, CloudError> {
        self.0.metrics.client_call("cloud");
        self.0
            .run(CloudError::Unavailable, move |s| {
                s.write(f).map_err(storage)?
            })
            .await
    }
}

#[async_trait]
impl Cloud for SandboxCloud {
    async fn droplet_limit(&self) -> Result<u32, CloudError> {
        self.0.metrics.client_call("cloud");
        Ok(DROPLET_LIMIT)
    }

    async fn size_price_hourly(&self, size: &str) -> Result<Micro, CloudError> {
        self.0.metrics.client_call("cloud");
        SIZES
            .iter()
            .find(|(s, _)| *s == size)
            .map(|(_, p)| *p)
            .ok_or_else(|| CloudError::Validation(format!("unknown droplet size {size}")))
    }

    async fn regions(&self, size: &str) -> Result<Vec<Region>, CloudError> {
        self.0.metrics.client_call("cloud");
        if !SIZES.iter().any(|(s, _)| *s == size) {
            return Ok(vec![]);
        }
        Ok(REGIONS
            .iter()
            .map(|(slug, name)| Region {
                slug: slug.to_string(),
                name: name.to_string(),
            })
            .collect())
    }

    async fn find_volume(&self, name: &str, region: &str) -> Result<Option<Volume>, CloudError> {
        let (name, region) = (name.to_string(), region.to_string());
        let all: Vec<Volume> = self.scan("cloud/volume/").await?;
        Ok(all
            .into_iter()
            .find(|v| v.name == name && v.region == region))
    }

    async fn volumes_tagged(&self, tag: &str) -> Result<Vec<Volume>, CloudError> {
        let all: Vec<Volume> = self.scan("cloud/volume/").await?;
        Ok(all
            .into_iter()
            .filter(|v| v.tags.iter().any(|t| t == tag))
            .collect())
    }

    async fn create_volume(&self, spec: &VolumeSpec) -> Result<Volume, CloudError> {
        let spec = spec.clone();
        let now = self.0.clock.now();
        self.write(move |tx| {
            let id = next_id(tx)?;
            let v = Volume {
                id: format!("vol-{id}"),
                name: spec.name,
                region: spec.region,
                size_gb: spec.size_gb,
                tags: spec.tags,
                created_at: now,
                droplet_ids: vec![],
            };
            tx.sandbox_put(&format!("cloud/volume/{}", v.id), &v)?;
            Ok(Ok(v))
        })
        .await
    }

    async fn delete_volume(&self, id: &str) -> Result<(), CloudError> {
        self.deletes_fail()?;
        let key = format!("cloud/volume/{id}");
        self.write(move |tx| {
            if tx.sandbox_get::<Volume>(&key)?.is_none() {
                return Ok(Err(CloudError::NotFound));
            }
            tx.sandbox_remove(&key)?;
            Ok(Ok(()))
        })
        .await
    }

    async fn droplets_tagged(&self, tag: &str) -> Result<Vec<Droplet>, CloudError> {
        let now = self.0.clock.now();
        let all: Vec<Droplet> = self.scan("cloud/droplet/").await?;
        Ok(all
            .into_iter()
            .filter(|d| d.tags.iter().any(|t| t == tag))
            .map(|d| as_seen(d, now))
            .collect())
    }

    async fn droplet(&self, id: u64) -> Result<Option<Droplet>, CloudError> {
        self.0.metrics.client_call("cloud");
        let now = self.0.clock.now();
        let key = format!("cloud/droplet/{id:012}");
        self.0
            .run(CloudError::Unavailable, move |s| {
                Ok(s.sandbox_get::<Droplet>(&key)
                    .map_err(storage)?
                    .map(|d| as_seen(d, now)))
            })
            .await
    }

    async fn create_droplet(&self, spec: &DropletSpec) -> Result<Droplet, CloudError> {
        let spec = spec.clone();
        let now = self.0.clock.now();
        self.write(move |tx| {
            if !SIZES.iter().any(|(s, _)| *s == spec.size) {
                return Ok(Err(CloudError::Validation(format!(
                    "unknown size {}",
                    spec.size
                ))));
            }
            let id = next_id(tx)?;
            let d = Droplet {
                id,
                name: spec.name,
                region: spec.region,
                status: "active".into(),
                ipv4: Some(format!("198.51.{}.{}", (id / 250) % 250, id % 250 + 1)),
                ipv6: Some(format!("2001:db8::{id:x}")),
                tags: spec.tags,
                created_at: now,
            };
            for vid in &spec.volume_ids {
                let key = format!("cloud/volume/{vid}");
                if let Some(mut v) = tx.sandbox_get::<Volume>(&key)? {
                    v.droplet_ids = vec![id];
                    tx.sandbox_put(&key, &v)?;
                }
            }
            tx.sandbox_put(&format!("cloud/droplet/{id:012}"), &d)?;
            Ok(Ok(as_seen(d, now)))
        })
        .await
    }

    async fn destroy_droplet(&self, id: u64) -> Result<(), CloudError> {
        self.deletes_fail()?;
        let key = format!("cloud/droplet/{id:012}");
        self.write(move |tx| {
            if tx.sandbox_get::<Droplet>(&key)?.is_none() {
                return Ok(Err(CloudError::NotFound));
            }
            tx.sandbox_remove(&key)?;
            Ok(Ok(()))
        })
        .await
    }

    async fn delete_droplet_keep_volumes(&self, id: u64) -> Result<(), CloudError> {
        self.deletes_fail()?;
        let volumes: Vec<Volume> = self.scan("cloud/volume/").await?;
        self.write(move |tx| {
            tx.sandbox_remove(&format!("cloud/droplet/{id:012}"))?;
            for mut v in volumes.into_iter().filter(|v| v.droplet_ids.contains(&id)) {
                v.droplet_ids.retain(|d| *d != id);
                tx.sandbox_put(&format!("cloud/volume/{}", v.id), &v)?;
            }
            Ok(Ok(()))
        })
        .await
    }

    async fn records(&self, _domain: &str, suffix: &str) -> Result<Vec<Record>, CloudError> {
        let all: Vec<Record> = self.scan("cloud/record/").await?;
        let dotted = format!(".{suffix}");
        Ok(all
            .into_iter()
            .filter(|r| r.name == suffix || r.name.ends_with(&dotted))
            .collect())
    }

    async fn create_record(
        &self,
        _domain: &str,
        kind: &str,
        name: &str,
        data: &str,
    ) -> Result<Record, CloudError> {
        let (kind, name, data) = (kind.to_string(), name.to_string(), data.to_string());
        self.write(move |tx| {
            let id = next_id(tx)?;
            let r = Record {
                id,
                kind,
                name,
                data,
            };
            tx.sandbox_put(&format!("cloud/record/{id:012}"), &r)?;
            Ok(Ok(r))
        })
        .await
    }

    async fn delete_record(&self, _domain: &str, id: u64) -> Result<(), CloudError> {
        self.deletes_fail()?;
        let key = format!("cloud/record/{id:012}");
        self.write(move |tx| {
            if tx.sandbox_get::<Record>(&key)?.is_none() {
                return Ok(Err(CloudError::NotFound));
            }
            tx.sandbox_remove(&key)?;
            Ok(Ok(()))
        })
        .await
    }
}
