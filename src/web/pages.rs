//! What pages are made from and what they were made into: read models of
//! the store (an operation's view, the node list) and rendered pages, QR
//! codes and probe strips. Each is keyed by the store's write stamps
//! (`Store::generation_of` for one operation, `Store::writes` for the list),
//! so a write anywhere makes the next view read anew: no job or handler
//! invalidates anything by hand.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use super::prebuilt::Rendered;
use super::state::WebState;
use super::views::charts::ProbeStrip;
use super::views::index::NodeRow;
use crate::domain::operation::Operation;
use crate::error::AppError;

/// The web layer's caches.
pub struct Pages {
    /// Rendered QR codes by operation id (they never change).
    pub qr: Cache<String, Arc<Vec<u8>>>,
    /// The node list of the index and `/api/nodes`, by the store's write
    /// stamp it was built at, and at most a few seconds old (node info
    /// comes from the health pass, not the store).
    pub node_rows: Cache<u64, Arc<NodeList>>,
    /// What operation pages read from the store, keyed by the operation's id
    /// and generation (a write to it makes a new key; old ones age out).
    pub op_views: Cache<(String, u64), Arc<OpView>>,
    /// Operation ids by the id or codename a link used (neither changes).
    pub op_ids: Cache<String, String>,
    /// Operation pages as last rendered, by operation id, with what they
    /// were rendered from: a view whose inputs are all equal reuses it.
    pub op_pages: Cache<String, Arc<super::OpPage>>,
    /// The index's strip of each node's last probes, by operation id and
    /// the operation's generation (a probe the health pass writes moves it).
    pub probe_strips: Cache<(String, u64), ProbeStrip>,
}

impl Default for Pages {
    fn default() -> Self {
        let ttl = Duration::from_secs;
        Self {
            qr: Cache::builder().max_capacity(10_000).build(),
            node_rows: Cache::builder()
                .max_capacity(4)
                .time_to_live(ttl(5))
                .build(),
            op_views: Cache::builder()
                .max_capacity(OP_VIEWS_BYTES)
                .weigher(|_, v: &Arc<OpView>| v.weight())
                .time_to_live(ttl(600))
                .build(),
            op_ids: Cache::builder().max_capacity(100_000).build(),
            op_pages: Cache::builder()
                .max_capacity(OP_PAGES_BYTES)
                .weigher(|_, p: &Arc<super::OpPage>| p.weight())
                .time_to_live(ttl(10))
                .build(),
            probe_strips: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl(600))
                .build(),
        }
    }
}

/// The node list of the index and `/api/nodes`, with its JSON made once.
#[derive(Debug, Default)]
pub struct NodeList {
    rows: Vec<NodeRow>,
    /// The list as JSON (`/api/nodes`), made on first use.
    json: std::sync::OnceLock<Rendered>,
    /// The index pages rendered from this list, by page number, with the
    /// price notice they were rendered with.
    pages: std::sync::Mutex<std::collections::HashMap<usize, (Option<String>, Rendered)>>,
}

impl NodeList {
    /// The list.
    pub fn new(rows: Vec<NodeRow>) -> Self {
        Self {
            rows,
            json: Default::default(),
            pages: Default::default(),
        }
    }
    /// Index page `n` as rendered from this list under the same price notice.
    pub fn page(&self, n: usize, notice: &Option<String>) -> Option<Rendered> {
        let pages = self.pages.lock().ok()?;
        pages
            .get(&n)
            .filter(|(said, _)| said == notice)
            .map(|(_, r)| r.clone())
    }
    /// Keeps index page `n` as rendered (until the list is rebuilt).
    pub fn keep_page(&self, n: usize, notice: Option<String>, page: Rendered) {
        if let Ok(mut pages) = self.pages.lock() {
            pages.insert(n, (notice, page));
        }
    }
    /// The list as JSON (`/api/nodes`), serialised once (a thousand nodes are
    /// about 310 KB; 22 KB gzipped, also made once).
    pub fn json(&self) -> Rendered {
        self.json
            .get_or_init(|| {
                Rendered::new(
                    serde_json::to_vec(&self.rows)
                        .map(bytes::Bytes::from)
                        .unwrap_or_else(|_| bytes::Bytes::from_static(b"[]")),
                )
            })
            .clone()
    }
}

impl std::ops::Deref for NodeList {
    type Target = Vec<NodeRow>;
    fn deref(&self) -> &Self::Target {
        &self.rows
    }
}

/// About how many bytes of operation views stay cached (by their weight).
pub const OP_VIEWS_BYTES: u64 = 8 * 1024 * 1024;

/// About how many bytes of rendered operation pages stay cached. A page
/// is reused only within the second it shows, so this holds the pages
/// viewed in the last few seconds.
pub const OP_PAGES_BYTES: u64 = 4 * 1024 * 1024;

/// What an operation's pages read from the store, as of one generation of
/// the operation (`Store::generation_of`).
#[derive(Debug)]
pub struct OpView {
    /// The operation's generation this was read at.
    pub generation: u64,
    pub op: Operation,
    pub events: Vec<crate::domain::event::Event>,
    pub payouts: Vec<crate::domain::payout::Payout>,
    pub health: Vec<crate::store::HealthSample>,
    /// The page parts rendered from this view (made on first use).
    pub fragments: super::views::operation::Fragments,
}

impl OpView {
    /// About how many bytes it holds (what the view cache weighs).
    pub fn weight(&self) -> u32 {
        // The fixed part covers the operation and its rendered fragments.
        let n = 16 * 1024
            + self.events.len() * 256
            + self.payouts.len() * 256
            + self.health.len() * std::mem::size_of::<crate::store::HealthSample>();
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

/// An operation with its events, payouts and health history, by id or
/// codename. Read once per write to that operation and shared by every view
/// of it until the next (concurrent first requests wait for one read).
pub async fn view(st: &WebState, key: &str) -> Result<Arc<OpView>, AppError> {
    let id = op_id(st, key).await?;
    // Read before the store is: a write committed meanwhile makes a newer one.
    let generation = st.store.generation_of(&id);
    let store = st.store.clone();
    st.pages
        .op_views
        .try_get_with((id.clone(), generation), async move {
            let view = store
                .run(move |s| {
                    let op = s
                        .operation(&id)?
                        .ok_or(crate::store::StoreError::NotFound(id))?;
                    Ok::<_, crate::store::StoreError>(OpView {
                        events: s.events(&op.id)?,
                        payouts: s.payouts(&op.id)?,
                        health: s.health(&op.id)?,
                        fragments: Default::default(),
                        generation,
                        op,
                    })
                })
                .await
                .map_err(AppError::from)?;
            Ok(Arc::new(view))
        })
        .await
        .map_err(|e: Arc<AppError>| e.copied())
}

/// The id of the operation `key` (an id or a codename) names; ids never
/// change and codenames are never reused, so the answer is cached.
async fn op_id(st: &WebState, key: &str) -> Result<String, AppError> {
    let store = st.store.clone();
    let asked = key.to_string();
    st.pages
        .op_ids
        .try_get_with(asked.clone(), async move {
            let find = asked.clone();
            store
                .run(move |s| {
                    Ok::<_, crate::store::StoreError>(s.find_operation(&find)?.map(|op| op.id))
                })
                .await
                .map_err(AppError::from)?
                .ok_or_else(|| {
                    AppError::NotFound(format!(
                        "There is no operation {asked:?}. Check the link you followed."
                    ))
                })
        })
        .await
        .map_err(|e: Arc<AppError>| e.copied())
}
