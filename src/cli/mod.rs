//! The command line of SPEC.md. Commands that need the database talk to the
//! running server's admin API when a server holds it, and open it otherwise.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use crate::app::{AppState, StartError};
use crate::clients::cloud::Cloud;
use crate::clients::monero::WalletRpc;
use crate::clients::wallet::Wallet;
use crate::config::{self, Config};
use crate::jobs::{self, Job, Outcome};
use crate::ops::{OpDetail, OpSummary};
use crate::store::StoreError;

mod args;
mod digitalocean;
mod seed;

pub use args::*;

pub use digitalocean::{check_public_key, format_keys, format_volumes, read_public_key};
use digitalocean::{cloud_failure, create_key, digitalocean};

/// Threads for blocking work (store transactions, DNS lookups). Tokio's
/// default of 512 let start-up's burst of store calls start two dozen
/// threads; later calls run on any of them, and glibc gives each thread its
/// own malloc arena, which it keeps: one health pass over 1,000 nodes left
/// the server 24 MiB larger (16 MiB with 4 threads; `bench/run.sh` measures
/// the resident memory). The store runs one write at a time
/// and two cores run at most two reads at once, so 4 leave room for a slow
/// DNS lookup beside them.
pub const BLOCKING_THREADS: usize = 4;

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Config(e)) => {
            eprintln!("configuration error: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Usage(e)) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tokio_cron_scheduler=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Why a command failed.
pub enum Failure {
    /// The configuration cannot be used (exit 2).
    Config(String),
    /// The command cannot run as given, nothing was sent (exit 2).
    Usage(String),
    /// Anything else (exit 1).
    Other(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Other(e.to_string())
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let config =
        config::load(cli.env_file.as_deref()).map_err(|e| Failure::Config(e.to_string()))?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Config { what: ConfigCmd::Check } => {
            for (k, v) in config.summary() {
                println!("{k:<24} {v}");
            }
            if !config.sandbox {
                return check_services(&config).await;
            }
            println!("configuration OK");
            Ok(())
        }
        Command::Keys { what: KeysCmd::List } | Command::ListKeys => {
            let keys = digitalocean(&config)?.ssh_keys().await.map_err(cloud_failure)?;
            print!("{}", format_keys(&keys));
            Ok(())
        }
        Command::Keys { what: KeysCmd::Create { name, pubkey_file } }
        | Command::CreateKey { name, pubkey_file } => create_key(&config, &name, &pubkey_file).await,
        Command::Volumes { what: VolumesCmd::List } | Command::ListVolumes => {
            let volumes = digitalocean(&config)?.volumes().await.map_err(cloud_failure)?;
            print!("{}", format_volumes(&volumes));
            Ok(())
        }
        Command::Ops { what: OpsCmd::List } | Command::ListOps => {
            let list: Vec<OpSummary> = match Db::open(config)? {
                Db::Local(st) => crate::ops::summaries(&st).await?,
                Db::Remote(r) => r.get("/admin/api/ops").await?,
            };
            print!("{}", format_list(&list));
            Ok(())
        }
        Command::Ops { what: OpsCmd::Show { key } } => {
            let d: OpDetail = match Db::open(config)? {
                Db::Local(st) => crate::ops::detail(&st, &key).await?,
                Db::Remote(r) => r.get(&format!("/admin/api/ops/{key}")).await?,
            };
            println!("{}", serde_json::to_string_pretty(&d)?);
            Ok(())
        }
        Command::Ops { what: OpsCmd::Cancel { codename } } | Command::CancelOperation { codename } => {
            let s: OpSummary = match Db::open(config)? {
                Db::Local(st) => {
                    let op = crate::ops::get(&st, &codename).await?;
                    let op = jobs::cancel::cancel(&st, &op).await?;
                    crate::ops::summary(&op, &Default::default())
                }
                Db::Remote(r) => r.post(&format!("/admin/api/ops/{codename}/cancel")).await?,
            };
            println!("{} {} {}", s.codename, s.id, s.state);
            Ok(())
        }
        Command::Dev {
            what:
                DevCmd::Seed {
                    operations,
                    active,
                    health_samples,
                    now,
                },
        } => dev_seed(config, operations, active, health_samples, now).await,
        Command::Run { job, dry_run } => run_job(config, &job, dry_run).await,
        Command::LaunchFundedOperations => run_job(config, "launch-funded", false).await,
        Command::ProcessPayouts => run_job(config, "process-payouts", false).await,
        Command::Init => {
            let st = AppState::build(config)?;
            // Made now (owner-only) unless STATS_TOKEN is set, so the
            // operator can read it before the first start.
            crate::app::admin_token(&st.config)?;
            println!("database: {}", st.store.path().display());
            println!("admin token: {} (or STATS_TOKEN)", st.config.data_dir.join("admin-token").display());
            Ok(())
        }
        Command::Backup { file } => match Db::open(config)? {
            Db::Local(st) => {
                let n = crate::store::backup_to(&st.store, &file)?;
                println!("wrote {} ({n} entries)", file.display());
                Ok(())
            }
            Db::Remote(_) => Err(Failure::Other(
                "the server holds the database; its backup job writes into DATA_DIR/backups (run: nodecannon run backup)".into(),
            )),
        },
        Command::Restore { file } => {
            let n = crate::store::restore_from(&file, &config.data_dir)?;
            println!("restored {n} entries into {}", config.data_dir.display());
            Ok(())
        }
        Command::Audit => {
            let lines: Vec<jobs::audit::Ledger> = match Db::open(config)? {
                Db::Local(st) => jobs::audit::run(&st).await?,
                Db::Remote(r) => r.get("/admin/api/audit").await?,
            };
            print!("{}", jobs::audit::format(&lines));
            let off = lines.iter().filter(|l| l.is_off()).count();
            if off > 0 {
                return Err(Failure::Other(format!(
                    "{off} operation(s) do not balance or could not be read"
                )));
            }
            Ok(())
        }
        Command::Wallet {
            what: WalletCmd::Repair,
        } => {
            let r: jobs::accounts::Repair = match Db::open(config)? {
                Db::Local(st) => {
                    let _one = st.guards.job_lock.lock().await;
                    jobs::accounts::repair(&st).await?
                }
                Db::Remote(r) => r.post("/admin/api/wallet/repair").await?,
            };
            print!("{}", r.summary());
            match r.still_wrong {
                None => Ok(()),
                Some(_) => Err(Failure::Other("the wallet still does not match the store".into())),
            }
        }
        Command::Healthcheck => {
            let url = format!("http://{}/status", config.listen_addr);
            let r = reqwest::Client::new().get(&url).timeout(std::time::Duration::from_secs(5)).send().await?;
            if r.status().is_success() { Ok(()) } else { Err(Failure::Other(format!("{url} answered {}", r.status()))) }
        }
    }
}

/// `config check` outside sandbox: the wallet and DigitalOcean must answer.
async fn check_services(config: &Config) -> Result<(), Failure> {
    let metrics = Arc::new(crate::metrics::Metrics::default());
    let wallet = WalletRpc::new(
        &config.wallet_rpc_endpoint,
        &config.wallet_rpc_user,
        config.wallet_rpc_pass.expose(),
        metrics.clone(),
    )
    .with_max_timeout(std::time::Duration::from_secs(15));
    let cloud = digitalocean(config)?;
    let (w, c) = tokio::join!(wallet.accounts(), cloud.droplet_limit());
    let mut failed = Vec::new();
    match w {
        Ok(a) => println!(
            "{:<24} ok: {} account(s) at {}",
            "wallet",
            a.len(),
            config.wallet_rpc_endpoint
        ),
        Err(e) => {
            println!(
                "{:<24} FAILED: {e} ({})",
                "wallet", config.wallet_rpc_endpoint
            );
            failed.push("wallet");
        }
    }
    match c {
        Ok(n) => println!("{:<24} ok: droplet limit {n}", "digitalocean"),
        Err(e) => {
            let msg = match cloud_failure(e) {
                Failure::Other(m) | Failure::Config(m) | Failure::Usage(m) => m,
            };
            println!("{:<24} FAILED: {msg}", "digitalocean");
            failed.push("digitalocean");
        }
    }
    if failed.is_empty() {
        println!("configuration OK");
        Ok(())
    } else {
        Err(Failure::Other(format!(
            "configuration loaded, but {} did not answer as it should",
            failed.join(" and ")
        )))
    }
}

async fn run_job(config: Config, name: &str, dry_run: bool) -> Result<(), Failure> {
    let job = Job::parse(name).ok_or_else(|| {
        let names: Vec<_> = Job::ALL.iter().map(|j| j.name()).collect();
        Failure::Other(format!("no job {name:?}; jobs are {}", names.join(", ")))
    })?;
    let out: Outcome = match Db::open(config)? {
        Db::Local(st) => jobs::run(&st, job, dry_run).await?,
        Db::Remote(r) => {
            r.post(&format!(
                "/admin/jobs/{}{}",
                job.name(),
                if dry_run { "?dry_run=1" } else { "" }
            ))
            .await?
        }
    };
    println!("{}", out.summary());
    if out.errors.is_empty() {
        Ok(())
    } else {
        Err(Failure::Other(format!("{} error(s)", out.errors.len())))
    }
}

/// `dev seed`: sandbox only, into a data directory without operations.
async fn dev_seed(
    config: Config,
    operations: usize,
    active: usize,
    health_samples: usize,
    now: Option<i64>,
) -> Result<(), Failure> {
    use seed::{SeedError, SeedOptions};
    if !config.sandbox {
        return Err(Failure::Usage(SeedError::NotSandbox.to_string()));
    }
    let now = now.unwrap_or_else(|| crate::clock::Clock::now(&crate::clock::SystemClock));
    let opts = SeedOptions {
        operations,
        active,
        now,
        health_samples,
    };
    let report = tokio::task::spawn_blocking(move || {
        let store = crate::store::Store::open(&config.data_dir, now)?;
        seed::seed(&store, &config, &opts)
    })
    .await?
    .map_err(|e| match e {
        e @ (SeedError::NotSandbox | SeedError::NotEmpty(..) | SeedError::TooManyActive { .. }) => {
            Failure::Usage(e.to_string())
        }
        e => Failure::Other(e.to_string()),
    })?;
    println!("{}", report.summary());
    Ok(())
}

/// `ops list` output: the same whether read locally or through the server.
pub fn format_list(list: &[OpSummary]) -> String {
    let mut s = format!(
        "{:<30} {:<32} {:<15} {:>18} {}\n",
        "CODENAME", "ID", "STATE", "BALANCE XMR", "DROPLET"
    );
    for o in list {
        s.push_str(&format!(
            "{:<30} {:<32} {:<15} {:>18} {}\n",
            o.codename,
            o.id,
            o.state,
            crate::domain::money::format_xmr(o.balance),
            o.droplet
                .map(|d| d.to_string())
                .unwrap_or_else(|| "-".into())
        ));
    }
    s
}

async fn serve(config: Config) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .map_err(|e| {
            Failure::Config(format!(
                "LISTEN_ADDR: cannot listen on {}: {e}",
                config.listen_addr
            ))
        })?;
    let st = AppState::build(config).map_err(|e| match e {
        StartError::Config(m) => Failure::Config(m),
        e => Failure::Other(e.to_string()),
    })?;
    crate::server::run(st, listener, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("stopping: finishing the running job pass");
}

/// The database, opened here or held by a running server.
enum Db {
    Local(Box<AppState>),
    Remote(Remote),
}

impl Db {
    fn open(config: Config) -> Result<Db, Failure> {
        match AppState::build(config.clone()) {
            Ok(st) => Ok(Db::Local(Box::new(st))),
            Err(StartError::Store(StoreError::Locked(_))) => {
                let token = crate::app::admin_token(&config)?;
                Ok(Db::Remote(Remote {
                    base: format!("http://{}", config.listen_addr),
                    token: token.expose().to_string(),
                }))
            }
            Err(StartError::Config(m)) => Err(Failure::Config(m)),
            Err(e) => Err(Failure::Other(e.to_string())),
        }
    }
}

/// The running server's admin API.
struct Remote {
    base: String,
    token: String,
}

impl Remote {
    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(reqwest::Client::new().get(format!("{}{path}", self.base)))
            .await
    }
    async fn post<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, Failure> {
        self.send(reqwest::Client::new().post(format!("{}{path}", self.base)))
            .await
    }
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, Failure> {
        let r = req.bearer_auth(&self.token).send().await.map_err(|e| {
            Failure::Other(format!(
                "the database is held by a server, but its admin API did not answer: {e}"
            ))
        })?;
        let status = r.status();
        let body = r.text().await?;
        if !status.is_success() {
            let msg = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(String::from))
                .unwrap_or(body);
            return Err(Failure::Other(format!("server answered {status}: {msg}")));
        }
        Ok(serde_json::from_str(&body)?)
    }
}
