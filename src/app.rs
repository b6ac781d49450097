//! The application state shared by handlers, jobs and the CLI.

use std::path::Path;
use std::sync::Arc;

use crate::cache::Caches;
use crate::clients::notify::LogNotifier;
use crate::clients::{Cloud, NodeProbe, Notifier, PriceOracle, Wallet};
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Secret};
use crate::metrics::Metrics;
use crate::sandbox::Sandbox;
use crate::store::{Store, StoreError};

/// Everything a handler or a job needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub wallet: Arc<dyn Wallet>,
    pub cloud: Arc<dyn Cloud>,
    pub price: Arc<dyn PriceOracle>,
    pub node: Arc<dyn NodeProbe>,
    pub notifier: Arc<dyn Notifier>,
    pub cache: Arc<Caches>,
    pub metrics: Arc<Metrics>,
    /// The simulated services' controls, in sandbox mode.
    pub sandbox: Option<Sandbox>,
    pub admin_token: Secret,
    /// Admin sessions (random ids), with their expiry.
    pub sessions: moka::future::Cache<String, ()>,
    /// One job pass at a time: passes that move money never overlap.
    pub job_lock: Arc<tokio::sync::Mutex<()>>,
    /// Set once the scheduler runs (for `/status`).
    pub scheduler_running: Arc<std::sync::atomic::AtomicBool>,
}

/// Why the app could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Config(String),
    #[error("cannot write the admin token file {0}: {1}")]
    Token(String, std::io::Error),
}

impl AppState {
    /// Builds the app on the system clock.
    pub fn build(config: Config) -> Result<AppState, StartError> {
        Self::build_with_clock(config, Arc::new(SystemClock))
    }

    /// Builds the app with a given clock (tests move it).
    pub fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<AppState, StartError> {
        let store = Store::open(&config.data_dir, clock.now())?;
        let admin_token = admin_token(&config)?;
        let metrics = Arc::new(Metrics::default());
        if !config.sandbox {
            return Err(StartError::Config(
                "this build has only the sandbox clients; the real monero-wallet-rpc and DigitalOcean clients come with a later release. Unset DO_TOKEN and XMR_WALLET_RPC_* (or set SANDBOX=1) to run the sandbox."
                    .into(),
            ));
        }
        let sb = Sandbox::new(store.clone(), clock.clone(), metrics.clone());
        Ok(AppState {
            wallet: sb.wallet.clone(),
            cloud: sb.cloud.clone(),
            price: sb.price.clone(),
            node: sb.node.clone(),
            notifier: Arc::new(LogNotifier),
            sandbox: Some(sb),
            config: Arc::new(config),
            store,
            clock,
            cache: Arc::new(Caches::default()),
            metrics,
            admin_token,
            sessions: moka::future::Cache::builder()
                .time_to_live(std::time::Duration::from_secs(12 * 3600))
                .build(),
            job_lock: Default::default(),
            scheduler_running: Default::default(),
        })
    }

    /// Seconds since the epoch, from the injected clock.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }
}

/// The admin token: `STATS_TOKEN`, else the one in `DATA_DIR/admin-token`,
/// generated (owner-only) on first start. The log says where, never what.
pub fn admin_token(config: &Config) -> Result<Secret, StartError> {
    if let Some(t) = &config.stats_token {
        return Ok(t.clone());
    }
    let path = config.data_dir.join("admin-token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        return Ok(Secret::new(t.trim()));
    }
    let token = crate::util::random_hex(24);
    write_private(&path, &token).map_err(|e| StartError::Token(path.display().to_string(), e))?;
    tracing::info!(path = %path.display(), "generated the admin token; read it from this file");
    Ok(Secret::new(token))
}

fn write_private(path: &Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(content.as_bytes())
}
