//! In-memory caches (moka) of the clients' answers: price, balances, cloud
//! prices and regions, node info, each with its last good value. Each has a
//! TTL; concurrent misses for one key are coalesced into one client call.
//! Nothing here knows pages: rendered pages and read models live in
//! `web::pages`.

use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;

use crate::clients::cloud::{CloudError, Region};
use crate::clients::node::NodeInfo;
use crate::clients::price::{PriceError, PriceReport, Quote};
use crate::clients::wallet::{AccountState, WalletError};
use crate::clients::{Cloud, PriceOracle, Wallet};
use crate::domain::Timestamp;
use crate::domain::money::{DEFAULT_FEE_ESTIMATE, Micro, Pico};

/// How long a page waits for the wallet before it shows the last good read.
pub const PAGE_WAIT: Duration = Duration::from_secs(5);

/// The clients' answers the app keeps.
pub struct Caches {
    price: Cache<(), Quote>,
    /// What each price source said at the last ask (`/status`, `/admin`).
    price_report: std::sync::RwLock<Option<Arc<PriceReport>>>,
    accounts: Cache<u32, AccountState>,
    /// The last good read of each account, shown (marked stale) while the wallet is away.
    last_good: Cache<u32, (Timestamp, AccountState)>,
    /// Recent failures, so a wallet that is away is not asked again on every view.
    failures: Cache<u32, WalletError>,
    /// The fee estimate and where it came from.
    fee: std::sync::RwLock<Option<(Pico, String)>>,
    size_price: Cache<String, Micro>,
    regions: Cache<String, Vec<Region>>,
    /// The last good answers of the cloud, used while it is away.
    size_price_good: Cache<String, Micro>,
    regions_good: Cache<String, Vec<Region>>,
    /// Recent cloud failures, so a cloud that is away is not asked on every view.
    cloud_failures: Cache<String, CloudError>,
    /// Latest `get_info` of each node, by operation id; written by the health job only.
    pub node_info: Cache<String, NodeSeen>,
    /// The best height the nodes reported in the health job's last pass.
    pub best_height: std::sync::atomic::AtomicU64,
    /// Where hits and misses are counted (the app's metrics once built).
    metrics: std::sync::OnceLock<Arc<crate::metrics::Metrics>>,
    /// `/status`'s last live check of the wallet (app clock time, outcome).
    pub wallet_probe: tokio::sync::Mutex<Option<(Timestamp, Result<(), String>)>>,
}

/// Seconds (app clock) between two live checks of the wallet by `/status`.
pub const STATUS_PROBE_SECS: i64 = 10;

/// The health job's last look at a node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSeen {
    /// When it was probed.
    pub at: Timestamp,
    /// Its `get_info`, or `None` when it did not answer.
    pub info: Option<NodeInfo>,
    /// Since when it has not answered (the first failed probe in a row).
    pub down_since: Option<Timestamp>,
}

impl Default for Caches {
    fn default() -> Self {
        let ttl = |secs| Duration::from_secs(secs);
        Self {
            price: Cache::builder().time_to_live(ttl(60)).build(),
            price_report: Default::default(),
            accounts: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl(20))
                .build(),
            last_good: Cache::builder().max_capacity(100_000).build(),
            failures: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(ttl(10))
                .build(),
            fee: std::sync::RwLock::new(None),
            size_price: Cache::builder().time_to_live(ttl(6 * 3600)).build(),
            regions: Cache::builder().time_to_live(ttl(6 * 3600)).build(),
            size_price_good: Cache::builder().build(),
            regions_good: Cache::builder().build(),
            cloud_failures: Cache::builder().time_to_live(ttl(30)).build(),
            node_info: Cache::builder().max_capacity(100_000).build(),
            best_height: Default::default(),
            wallet_probe: Default::default(),
            metrics: Default::default(),
        }
    }
}

/// `cache`'s value for `key`, loaded by `load` when missing (concurrent
/// misses share one load), and whether this call loaded it.
async fn fresh_or_cached<V: Clone + Send + Sync + 'static>(
    cache: &Cache<String, V>,
    key: &str,
    load: impl std::future::Future<Output = Result<V, CloudError>>,
) -> Result<(bool, V), Arc<CloudError>> {
    let e = cache
        .entry(key.to_string())
        .or_try_insert_with(load)
        .await?;
    Ok((e.is_fresh(), e.into_value()))
}

fn unarc<E: Clone>(e: Arc<E>) -> E {
    (*e).clone()
}

impl Caches {
    /// Counts hits and misses into `m` (`/metrics`).
    pub fn counted(self, m: Arc<crate::metrics::Metrics>) -> Self {
        let _ = self.metrics.set(m);
        self
    }
    fn lookup(&self, cache: &'static str, hit: bool) {
        if let Some(m) = self.metrics.get() {
            m.cache_lookup(cache, hit);
        }
    }
    /// Balance of every account read recently (fresh or last good), and how many.
    pub fn known_balances(&self) -> (u64, u64) {
        let mut seen = std::collections::HashMap::new();
        for (i, (_, a)) in self.last_good.iter() {
            seen.insert(*i, a.balance);
        }
        for (i, a) in self.accounts.iter() {
            seen.insert(*i, a.balance);
        }
        let sum = seen.values().fold(0u64, |s, b| s.saturating_add(*b));
        (sum, seen.len() as u64)
    }
    /// The XMR price; what each source said is kept for [`Self::price_report`].
    pub async fn price(&self, p: &Arc<dyn PriceOracle>) -> Result<Quote, PriceError> {
        self.lookup("price", self.price.contains_key(&()));
        let ask = async {
            let r = p.report().await;
            let median = r.median.clone();
            if let Ok(mut last) = self.price_report.write() {
                *last = Some(Arc::new(r));
            }
            median
        };
        self.price.try_get_with((), ask).await.map_err(unarc)
    }
    /// What each price source said at the last ask made for a page (none yet
    /// before the first).
    pub fn price_report(&self) -> Option<Arc<PriceReport>> {
        self.price_report.read().ok().and_then(|r| r.clone())
    }
    /// One account's money (`now`: the app clock, to date it if it is read
    /// from the wallet now).
    pub async fn account(
        &self,
        w: &Arc<dyn Wallet>,
        index: u32,
        now: Timestamp,
    ) -> Result<AccountState, WalletError> {
        self.account_entry(w, index, now).await
    }
    /// One account's money, from the cache or the wallet. Every read from
    /// the wallet is also kept as the last good one, whoever asked for it.
    async fn account_entry(
        &self,
        w: &Arc<dyn Wallet>,
        index: u32,
        now: Timestamp,
    ) -> Result<AccountState, WalletError> {
        self.lookup("accounts", self.accounts.contains_key(&index));
        let e = self
            .accounts
            .entry(index)
            .or_try_insert_with(w.account_state(index))
            .await
            .map_err(unarc)?;
        if e.is_fresh() {
            self.last_good.insert(index, (now, e.value().clone())).await;
        }
        Ok(e.into_value())
    }
    /// One account's money for a page: fresh (cached), or when the wallet is
    /// away, the last good read with its time (`Some(t)`: stale since `t`).
    pub async fn account_or_last(
        &self,
        w: &Arc<dyn Wallet>,
        index: u32,
        now: Timestamp,
    ) -> Result<(AccountState, Option<Timestamp>), WalletError> {
        // A page never waits long behind the wallet's queue.
        let fresh = match self.failures.get(&index).await {
            Some(e) => Err((e, false)),
            None => {
                match tokio::time::timeout(PAGE_WAIT, self.account_entry(w, index, now)).await {
                    Ok(r) => r.map_err(|e| (e, true)),
                    Err(_) => Err((WalletError::Busy, true)),
                }
            }
        };
        match fresh {
            Ok(a) => Ok((a, None)),
            Err((e, new)) => {
                // Remember only fresh failures, so the wallet is asked again after 10 s.
                if new {
                    self.failures.insert(index, e.clone()).await;
                }
                match self.last_good.get(&index).await {
                    Some((t, a)) => Ok((a, Some(t))),
                    None => Err(e),
                }
            }
        }
    }

    /// Stores an account's money a job just read from the wallet at `now`.
    pub async fn put_account(&self, index: u32, state: AccountState, now: Timestamp) {
        self.last_good.insert(index, (now, state.clone())).await;
        self.accounts.insert(index, state).await;
    }
    /// Forgets an account's money (after a payment or a payout).
    pub async fn forget_account(&self, index: u32) {
        self.accounts.invalidate(&index).await;
    }
    /// The estimated payout fee for pages: the last one a job read from the
    /// wallet, or a conservative default before any did (no wallet call per view).
    pub fn fee(&self) -> Pico {
        self.fee
            .read()
            .ok()
            .and_then(|f| f.as_ref().map(|f| f.0))
            .unwrap_or(DEFAULT_FEE_ESTIMATE)
    }
    /// Where the fee estimate comes from, in words for pages.
    pub fn fee_basis(&self) -> String {
        self.fee
            .read()
            .ok()
            .and_then(|f| f.as_ref().map(|f| f.1.clone()))
            .unwrap_or_else(|| {
                "a fixed estimate of 0.0001 XMR until the first payout pass asks the wallet".into()
            })
    }
    /// Refreshes the fee estimate from the wallet (jobs and start-up): the
    /// wallet's estimate, or the median fee of recent payouts when higher.
    pub async fn refresh_fee(
        &self,
        w: &Arc<dyn Wallet>,
        recent: Option<Pico>,
    ) -> Result<Pico, WalletError> {
        let est = w.fee_estimate().await?;
        let (fee, basis) = match recent {
            Some(r) if r > est => (
                r,
                "the median fee of the last payouts, above the wallet's estimate".to_string(),
            ),
            _ => (est, w.fee_basis().to_string()),
        };
        if let Ok(mut f) = self.fee.write() {
            *f = Some((fee, basis));
        }
        Ok(fee)
    }
    /// A droplet size's hourly price (`price_hourly`, refreshed every 6 h).
    pub async fn size_price(&self, c: &Arc<dyn Cloud>, size: &str) -> Result<Micro, CloudError> {
        let key = format!("size/{size}");
        self.lookup("size_price", self.size_price.contains_key(size));
        let live = fresh_or_cached(&self.size_price, size, c.size_price_hourly(size));
        self.cloud_or_last(&key, live, &self.size_price_good, size)
            .await
    }
    /// Regions offering a size, limited to `allowed` (`DO_REGIONS`) unless it is empty.
    pub async fn regions(
        &self,
        c: &Arc<dyn Cloud>,
        size: &str,
        allowed: &[String],
    ) -> Result<Vec<Region>, CloudError> {
        let key = format!("regions/{size}");
        self.lookup("regions", self.regions.contains_key(size));
        let live = fresh_or_cached(&self.regions, size, c.regions(size));
        let all = self
            .cloud_or_last(&key, live, &self.regions_good, size)
            .await?;
        Ok(all
            .into_iter()
            .filter(|r| allowed.is_empty() || allowed.iter().any(|a| a == &r.slug))
            .collect())
    }
    /// A cloud answer within [`PAGE_WAIT`], else the last good one; a failure
    /// is remembered for 30 s so views do not queue behind a cloud that is away.
    async fn cloud_or_last<V: Clone + Send + Sync + 'static>(
        &self,
        key: &str,
        live: impl std::future::Future<Output = Result<(bool, V), Arc<CloudError>>>,
        good: &Cache<String, V>,
        size: &str,
    ) -> Result<V, CloudError> {
        let fresh = match self.cloud_failures.get(key).await {
            Some(e) => Err(e),
            None => match tokio::time::timeout(PAGE_WAIT, live).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => {
                    self.cloud_failures
                        .insert(key.to_string(), unarc(e.clone()))
                        .await;
                    Err(unarc(e))
                }
                Err(_) => Err(CloudError::Unavailable(
                    "DigitalOcean did not answer in time".into(),
                )),
            },
        };
        match fresh {
            Ok((just_read, v)) => {
                // Only an answer of the cloud is news (not every view of the cached one).
                if just_read || !good.contains_key(size) {
                    good.insert(size.to_string(), v.clone()).await;
                }
                Ok(v)
            }
            Err(e) => good.get(size).await.ok_or(e),
        }
    }
    /// Forgets the price (after the sandbox price changes).
    pub async fn forget_price(&self) {
        self.price.invalidate(&()).await;
    }
}

#[cfg(test)]
mod account_tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use async_trait::async_trait;

    use super::*;
    use crate::clients::wallet::{Account, BuiltTx};

    /// A wallet that answers balances while it is up, and nothing else.
    #[derive(Default)]
    struct Switched {
        down: AtomicBool,
        balance: AtomicU64,
    }

    #[async_trait]
    impl Wallet for Switched {
        async fn create_account(&self, _: &str) -> Result<Account, WalletError> {
            Err(WalletError::Busy)
        }
        async fn accounts(&self) -> Result<Vec<Account>, WalletError> {
            Err(WalletError::Busy)
        }
        async fn account_state(&self, _: u32) -> Result<AccountState, WalletError> {
            if self.down.load(Ordering::SeqCst) {
                return Err(WalletError::Unreachable("switched off".into()));
            }
            Ok(AccountState {
                balance: self.balance.load(Ordering::SeqCst),
                ..Default::default()
            })
        }
        async fn fee_estimate(&self) -> Result<Pico, WalletError> {
            Err(WalletError::Busy)
        }
        async fn build_transfer(
            &self,
            _: u32,
            _: &str,
            _: Pico,
        ) -> Result<Vec<BuiltTx>, WalletError> {
            Err(WalletError::Busy)
        }
        async fn build_sweep(&self, _: u32, _: &str) -> Result<Vec<BuiltTx>, WalletError> {
            Err(WalletError::Busy)
        }
        async fn fate(
            &self,
            _: u32,
            _: &str,
            _: &[String],
        ) -> Result<crate::clients::wallet::Fate, WalletError> {
            Err(WalletError::Busy)
        }
        async fn relay(&self, _: &str) -> Result<String, WalletError> {
            Err(WalletError::Busy)
        }
        async fn knows_tx(&self, _: u32, _: &str) -> Result<bool, WalletError> {
            Err(WalletError::Busy)
        }
        async fn outgoing(
            &self,
            _: u32,
        ) -> Result<Vec<crate::clients::wallet::OutTransfer>, WalletError> {
            Err(WalletError::Busy)
        }
    }

    #[tokio::test]
    async fn with_the_wallet_away_a_page_shows_the_newest_read_whoever_made_it() {
        let c = Caches::default();
        let sw = Arc::new(Switched::default());
        let w: Arc<dyn Wallet> = sw.clone();
        sw.balance.store(1, Ordering::SeqCst);
        assert_eq!(
            c.account_or_last(&w, 0, 100).await.unwrap(),
            (
                AccountState {
                    balance: 1,
                    ..Default::default()
                },
                None
            )
        );

        // A later read for the admin page or a job, not a visitor's page.
        c.forget_account(0).await;
        sw.balance.store(2, Ordering::SeqCst);
        assert_eq!(c.account(&w, 0, 200).await.unwrap().balance, 2);
        sw.down.store(true, Ordering::SeqCst);
        c.forget_account(0).await;
        let (a, stale) = c.account_or_last(&w, 0, 250).await.unwrap();
        assert_eq!((a.balance, stale), (2, Some(200)));

        // What a job read and stored counts as well.
        let read = AccountState {
            balance: 3,
            ..Default::default()
        };
        c.put_account(0, read, 300).await;
        c.forget_account(0).await;
        c.failures.invalidate(&0).await;
        let (a, stale) = c.account_or_last(&w, 0, 350).await.unwrap();
        assert_eq!((a.balance, stale), (3, Some(300)));
    }
}
