//! The application state shared by handlers, jobs and the CLI.

use std::path::Path;
use std::sync::Arc;

use crate::cache::Caches;
use crate::clients::{Cloud, NodeProbe, Notifier, PriceOracle, Wallet};
use crate::clock::Clock;
use crate::config::{Config, Secret};
use crate::metrics::Metrics;
use crate::sandbox::Sandbox;
use crate::store::{Store, StoreError};

mod wiring;

pub use wiring::{http_client, price_sources, webhook_targets};
use wiring::{notifier, real_clients};

/// Everything a handler or a job needs; cheap to clone (one reference count:
/// axum clones the state for every middleware of every request).
#[derive(Clone)]
pub struct AppState(Arc<App>);

impl std::ops::Deref for AppState {
    type Target = App;
    fn deref(&self) -> &App {
        &self.0
    }
}

/// What an [`AppState`] shares: seven parts, each owned by one concern.
pub struct App {
    /// The settings this process started with.
    pub config: Arc<Config>,
    /// The database: operations, payouts, events and settings.
    pub store: Store,
    /// The time every decision uses (tests move it).
    pub clock: Arc<dyn Clock>,
    /// The outside world: wallet, cloud, price, node probe, notifier.
    pub clients: Clients,
    /// Client answers kept for pages, with their last good values.
    pub cache: Arc<Caches>,
    /// Counters and gauges of `/metrics`.
    pub metrics: Arc<Metrics>,
    /// What keeps passes and openings apart and says whether money may move.
    pub guards: Guards,
}

/// The clients an app runs with.
pub struct Clients {
    pub wallet: Arc<dyn Wallet>,
    pub cloud: Arc<dyn Cloud>,
    pub price: Arc<dyn PriceOracle>,
    pub node: Arc<dyn NodeProbe>,
    pub notifier: Arc<dyn Notifier>,
    /// The simulated services' controls (and the SANDBOX banner), if simulated.
    pub sandbox: Option<Sandbox>,
}

/// Locks and flags shared by jobs, openings and `/status`.
#[derive(Default)]
pub struct Guards {
    /// The money lock: passes that move money or change operations (launch,
    /// payouts, reconcile, cancel) never overlap. Health and backup do not
    /// take it, so a long payout pass never starves them.
    pub job_lock: tokio::sync::Mutex<()>,
    /// Each job's own slot (by name): one pass of a job at a time, and a
    /// tick that finds it running leaves one pending pass.
    pub job_slots: std::sync::Mutex<std::collections::HashMap<&'static str, Arc<JobSlot>>>,
    /// When the scheduler started (app clock), for overdue jobs.
    pub scheduler_started: std::sync::atomic::AtomicI64,
    /// Opening operations one at a time, so `MAX_AWAITING_FUNDS` holds under
    /// concurrent requests.
    pub launchpad_lock: tokio::sync::Mutex<()>,
    /// Wallet checks one at a time, so a slow one never overwrites a newer verdict.
    pub wallet_check: tokio::sync::Mutex<()>,
    /// Set when the wallet does not match the store: why money must not move.
    pub money_block: std::sync::RwLock<Option<String>>,
    /// Whether this process has reconciled the store with the payouts the
    /// wallet made (`jobs::accounts::adopt_unrecorded_payouts`).
    pub wallet_reconciled: std::sync::atomic::AtomicBool,
    /// Set once the scheduler runs (for `/status`).
    pub scheduler_running: std::sync::atomic::AtomicBool,
    /// Named points where a test makes the work stop as a crash would.
    pub failpoints: std::sync::Mutex<std::collections::HashSet<String>>,
}

/// One job's pass in progress and the tick that came meanwhile.
#[derive(Default)]
pub struct JobSlot {
    /// Held while a pass of the job runs.
    pub running: tokio::sync::Mutex<()>,
    /// A tick came while it ran: one more pass follows.
    pub pending: std::sync::atomic::AtomicBool,
}

impl Guards {
    /// The slot of the job `name`.
    pub fn slot(&self, name: &'static str) -> Arc<JobSlot> {
        match self.job_slots.lock() {
            Ok(mut m) => m.entry(name).or_default().clone(),
            // A poisoned map: a slot of its own still keeps passes apart.
            Err(_) => Arc::default(),
        }
    }
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
    /// Builds the app on the system clock (or a test's, see [`crate::test_hooks`]).
    pub fn build(config: Config) -> Result<AppState, StartError> {
        Self::build_with_clock(config, crate::test_hooks::clock())
    }

    /// Builds the app with a given clock (tests move it).
    pub fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> Result<AppState, StartError> {
        let cfg = config.clone();
        if !config.sandbox {
            return Self::build_with(config, clock, |_, clock, metrics| {
                real_clients(&cfg, clock, metrics)
            });
        }
        Self::build_with(config, clock, |store, clock, metrics| {
            let sb = Sandbox::new(store.clone(), clock.clone(), metrics.clone());
            Ok(Clients {
                wallet: sb.wallet.clone(),
                cloud: sb.cloud.clone(),
                price: sb.price.clone(),
                node: sb.node.clone(),
                notifier: notifier(&cfg, metrics),
                sandbox: Some(sb),
            })
        })
    }

    /// Builds the app with the clients `make` returns (tests compose real and
    /// simulated parts this way; start-up never mixes them).
    pub fn build_with(
        config: Config,
        clock: Arc<dyn Clock>,
        make: impl FnOnce(&Store, &Arc<dyn Clock>, &Arc<Metrics>) -> Result<Clients, StartError>,
    ) -> Result<AppState, StartError> {
        let store = Store::open(&config.data_dir, clock.now())?;
        let metrics = Arc::new(Metrics::default());
        let clients = make(&store, &clock, &metrics)?;
        Ok(AppState(Arc::new(App {
            clients,
            config: Arc::new(config),
            store,
            clock,
            cache: Arc::new(Caches::default().counted(metrics.clone())),
            metrics,
            guards: Guards::default(),
        })))
    }

    /// Arms a failpoint: the next time the work reaches `name`, it stops there
    /// as if the process had died (everything committed before stays, nothing
    /// after happens). Tests then restart the app on the same data.
    pub fn arm_failpoint(&self, name: &str) {
        if let Ok(mut f) = self.guards.failpoints.lock() {
            f.insert(name.to_string());
        }
    }

    /// Stops here if a test armed `name` (once), or exits the process here
    /// when a crash test asked for it (see [`crate::test_hooks`]).
    pub fn failpoint(&self, name: &str) -> Result<(), crate::error::AppError> {
        crate::test_hooks::crash_point(name);
        let hit = self
            .guards
            .failpoints
            .lock()
            .map(|mut f| f.remove(name))
            .unwrap_or(false);
        if hit {
            tracing::warn!(failpoint = name, "failpoint hit: stopping as a crash would");
            return Err(crate::error::AppError::Internal(format!(
                "failpoint {name}"
            )));
        }
        Ok(())
    }

    /// Why jobs that move money are refused, if they are.
    pub fn money_blocked(&self) -> Option<String> {
        self.guards.money_block.read().ok().and_then(|b| b.clone())
    }

    /// Stops openings and money jobs with a reason (`/status` and the log
    /// say it) until a wallet check finds the wallet whole again.
    pub fn block_money(&self, why: String) {
        if let Ok(mut b) = self.guards.money_block.write() {
            *b = Some(why);
        }
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
