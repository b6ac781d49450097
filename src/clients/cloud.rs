//! The cloud: sizes, regions, limits, and volumes, droplets and DNS records
//! found and destroyed by name and tag.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::Timestamp;
use crate::domain::money::Micro;

/// What the app must tell apart when the cloud fails.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CloudError {
    #[error("not found")]
    NotFound,
    #[error("the cloud refused the token")]
    Unauthorized,
    #[error("limit reached: {0}")]
    LimitReached(String),
    #[error("refused: {0}")]
    Validation(String),
    #[error("unavailable: {0}")]
    Unavailable(String),
}

/// A region where nodes can run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub slug: String,
    pub name: String,
}

/// A block-storage volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub id: String,
    pub name: String,
    pub region: String,
    pub size_gb: u32,
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    pub droplet_ids: Vec<u64>,
}

/// A droplet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Droplet {
    pub id: u64,
    pub name: String,
    pub region: String,
    /// `new`, `active`, `off`, `archive`.
    pub status: String,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub tags: Vec<String>,
    pub created_at: Timestamp,
}

/// A DNS record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub id: u64,
    /// `A` or `AAAA`.
    pub kind: String,
    /// Name relative to the domain, e.g. `alpha.node`.
    pub name: String,
    pub data: String,
}

/// What a new droplet is made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropletSpec {
    pub name: String,
    pub region: String,
    pub size: String,
    pub image: String,
    pub ssh_keys: Vec<String>,
    pub user_data: String,
    pub volume_ids: Vec<String>,
    pub tags: Vec<String>,
}

/// What a new volume is made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub name: String,
    pub region: String,
    pub size_gb: u32,
    pub tags: Vec<String>,
}

/// What a cloud can do for the app.
#[async_trait]
pub trait Cloud: Send + Sync {
    /// The account's droplet limit.
    async fn droplet_limit(&self) -> Result<u32, CloudError>;
    /// `price_hourly` of a droplet size, in micro-USD.
    async fn size_price_hourly(&self, size: &str) -> Result<Micro, CloudError>;
    /// Available regions that offer `size` and volumes.
    async fn regions(&self, size: &str) -> Result<Vec<Region>, CloudError>;
    /// A volume by name and region.
    async fn find_volume(&self, name: &str, region: &str) -> Result<Option<Volume>, CloudError>;
    /// Every volume carrying `tag`.
    async fn volumes_tagged(&self, tag: &str) -> Result<Vec<Volume>, CloudError>;
    async fn create_volume(&self, spec: &VolumeSpec) -> Result<Volume, CloudError>;
    async fn delete_volume(&self, id: &str) -> Result<(), CloudError>;
    /// Every droplet carrying `tag`.
    async fn droplets_tagged(&self, tag: &str) -> Result<Vec<Droplet>, CloudError>;
    async fn droplet(&self, id: u64) -> Result<Option<Droplet>, CloudError>;
    async fn create_droplet(&self, spec: &DropletSpec) -> Result<Droplet, CloudError>;
    /// Destroys a droplet (the real API takes its attached volumes with it).
    async fn destroy_droplet(&self, id: u64) -> Result<(), CloudError>;
    /// Deletes only the droplet: its volumes are detached and kept (a
    /// rebuild moves the volume to a fresh droplet). Gone already is done.
    async fn delete_droplet_keep_volumes(&self, id: u64) -> Result<(), CloudError>;
    /// Records in `domain` whose name is `name` or ends with `.name` (`node` lists every node's).
    async fn records(&self, domain: &str, name_suffix: &str) -> Result<Vec<Record>, CloudError>;
    async fn create_record(
        &self,
        domain: &str,
        kind: &str,
        name: &str,
        data: &str,
    ) -> Result<Record, CloudError>;
    async fn delete_record(&self, domain: &str, id: u64) -> Result<(), CloudError>;
}
