//! The application state shared by handlers, jobs and the CLI.

use std::path::Path;
use std::sync::Arc;

use crate::cache::Caches;
use crate::clients::digitalocean::DigitalOcean;
use crate::clients::market::{self, MarketPrice};
use crate::clients::monero::WalletRpc;
use crate::clients::node::HttpNodeProbe;
use crate::clients::notify::LogNotifier;
use crate::clients::webhook::{self, WebhookNotifier};
use crate::clients::{Cloud, NodeProbe, Notifier, PriceOracle, Wallet};
use crate::clock::Clock;
use crate::config::{Config, Secret};
use crate::metrics::Metrics;
use crate::sandbox::Sandbox;
use crate::store::{Store, StoreError};

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

/// What an [`AppState`] shares.
pub struct App {
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
    /// Whether this process has reconciled the store with the payouts the
    /// wallet made (`jobs::accounts::adopt_unrecorded_payouts`).
    pub wallet_reconciled: Arc<std::sync::atomic::AtomicBool>,
    /// Set when the wallet does not match the store: why money must not move.
    pub money_block: Arc<std::sync::RwLock<Option<String>>>,
    /// Wallet checks one at a time, so a slow one never overwrites a newer verdict.
    pub wallet_check: Arc<tokio::sync::Mutex<()>>,
    /// Rate limits of the launchpad and of admin logins.
    pub limits: Arc<crate::web::limits::Limits>,
    /// Opening operations one at a time, so `MAX_AWAITING_FUNDS` holds under
    /// concurrent requests.
    pub launchpad_lock: Arc<tokio::sync::Mutex<()>>,
    /// Named points where a test makes the work stop as a crash would.
    pub failpoints: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
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

/// The operator's notifier: webhooks when configured, else the log.
fn notifier(config: &Config, metrics: &Arc<Metrics>) -> Arc<dyn Notifier> {
    let targets = webhook::targets_from(config);
    if targets.is_empty() {
        return Arc::new(LogNotifier);
    }
    Arc::new(WebhookNotifier::start(
        http_client(),
        targets,
        metrics.clone(),
    ))
}

/// The HTTP client every real client shares (rustls, one pool); the CLI's
/// DigitalOcean helpers use it too.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("nodecannon/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

/// The real clients of a configured install.
fn real_clients(
    config: &Config,
    clock: &Arc<dyn Clock>,
    metrics: &Arc<Metrics>,
) -> Result<Clients, StartError> {
    let http = http_client();
    let token = config
        .do_token
        .as_ref()
        .ok_or_else(|| StartError::Config("DO_TOKEN: required outside sandbox".into()))?;
    let mut wallet = WalletRpc::new(
        &config.wallet_rpc_endpoint,
        &config.wallet_rpc_user,
        config.wallet_rpc_pass.expose(),
        metrics.clone(),
    );
    if let Some(daemon) = &config.xmr_daemon_url {
        wallet = wallet.with_daemon(http.clone(), daemon);
    }
    Ok(Clients {
        wallet: Arc::new(wallet),
        cloud: Arc::new(DigitalOcean::new(
            http.clone(),
            &config.do_api_url,
            token.expose(),
            metrics.clone(),
        )),
        price: Arc::new(MarketPrice::new(
            http.clone(),
            market::sources(config),
            i64::try_from(config.price_max_age_secs).unwrap_or(i64::MAX),
            clock.clone(),
            metrics.clone(),
        )),
        node: Arc::new(HttpNodeProbe::new(http, metrics.clone())),
        notifier: notifier(config, metrics),
        sandbox: None,
    })
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
        let admin_token = admin_token(&config)?;
        let metrics = Arc::new(Metrics::default());
        let c = make(&store, &clock, &metrics)?;
        let limits = Arc::new(crate::web::limits::Limits::new(&config, clock.clone()));
        Ok(AppState(Arc::new(App {
            wallet: c.wallet,
            cloud: c.cloud,
            price: c.price,
            node: c.node,
            notifier: c.notifier,
            sandbox: c.sandbox,
            config: Arc::new(config),
            store,
            clock,
            cache: Arc::new(Caches::default().counted(metrics.clone())),
            metrics,
            admin_token,
            sessions: moka::future::Cache::builder()
                .time_to_live(std::time::Duration::from_secs(12 * 3600))
                .build(),
            job_lock: Default::default(),
            scheduler_running: Default::default(),
            money_block: Default::default(),
            wallet_check: Default::default(),
            wallet_reconciled: Default::default(),
            limits,
            launchpad_lock: Default::default(),
            failpoints: Default::default(),
        })))
    }

    /// Arms a failpoint: the next time the work reaches `name`, it stops there
    /// as if the process had died (everything committed before stays, nothing
    /// after happens). Tests then restart the app on the same data.
    pub fn arm_failpoint(&self, name: &str) {
        if let Ok(mut f) = self.failpoints.lock() {
            f.insert(name.to_string());
        }
    }

    /// Stops here if a test armed `name` (once), or exits the process here
    /// when a crash test asked for it (see [`crate::test_hooks`]).
    pub fn failpoint(&self, name: &str) -> Result<(), crate::error::AppError> {
        crate::test_hooks::crash_point(name);
        let hit = self
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
        self.money_block.read().ok().and_then(|b| b.clone())
    }

    /// Stops openings and money jobs with a reason (`/status` and the log
    /// say it) until a wallet check finds the wallet whole again.
    pub fn block_money(&self, why: String) {
        if let Ok(mut b) = self.money_block.write() {
            *b = Some(why);
        }
    }

    /// Checks that the wallet has every account the store knows, at the
    /// stored address. On a mismatch, jobs that move money are refused and
    /// `/status` says why; the log too.
    pub async fn check_wallet_accounts(&self) -> Result<(), String> {
        let _one = self.wallet_check.lock().await;
        let accounts = self
            .wallet
            .accounts()
            .await
            .map_err(|e| format!("cannot list the wallet's accounts: {e}"));
        let verdict = match accounts {
            Err(e) => Err(e),
            Ok(accounts) => {
                // Every stored operation's account must be in the wallet with
                // its address (one pass over the store, nothing kept but names).
                let held: std::collections::HashMap<u32, String> =
                    accounts.into_iter().map(|a| (a.index, a.address)).collect();
                // Off the async workers: it reads every operation.
                let read = self
                    .store
                    .run(move |s| {
                        let mut bad = Vec::new();
                        s.each_operation(|o| {
                            if held.get(&o.account_index) != Some(&o.address) {
                                bad.push(format!("{} (account {})", o.codename, o.account_index));
                            }
                        })?;
                        // Accounts made for openings that were then refused.
                        for a in s.accounts()?.into_iter().filter(|a| a.op_id.is_none()) {
                            if held.get(&a.index) != Some(&a.address) {
                                bad.push(format!("unused account {}", a.index));
                            }
                        }
                        Ok::<_, crate::store::StoreError>(bad)
                    })
                    .await;
                match read {
                    Err(e) => Err(e.to_string()),
                    Ok(bad) if bad.is_empty() => Ok(()),
                    Ok(bad) => Err(format!(
                        "the wallet does not hold the accounts the store knows for {}: a wallet restored from its seed needs `nodecannon wallet repair`; otherwise this is the wrong wallet file. Openings and jobs that move money are stopped.",
                        bad.join(", ")
                    )),
                }
            }
        };
        // An unreachable wallet is not a mismatch: money jobs fail on their own then.
        let block = match &verdict {
            Err(m) if !m.starts_with("cannot list") => Some(m.clone()),
            _ => None,
        };
        if let Some(m) = &block {
            tracing::error!("{m}");
        }
        if let Ok(mut b) = self.money_block.write() {
            *b = block;
        }
        verdict
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
