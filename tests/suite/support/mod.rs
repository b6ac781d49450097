//! Shared helpers: a sandbox server on port 0 with a manual clock, driven over HTTP,
//! and a real regtest monerod + monero-wallet-rpc (`monero`).
#![allow(dead_code)]

pub mod fake_do;
pub mod monero;
pub mod prism;

use std::sync::Arc;

use nodecannon::app::AppState;
use nodecannon::clock::ManualClock;
use nodecannon::config::{Config, VarMap};
use reqwest::redirect::Policy;
use tokio::sync::oneshot;

/// The CSRF token the test client holds in its cookie and sends with forms,
/// as a browser that loaded the form would.
pub const CSRF: &str = "cafe0123cafe0123cafe0123cafe0123";

/// `body` with the CSRF field a browser's form would carry.
pub fn with_csrf(body: &str) -> String {
    if body.is_empty() {
        format!("csrf_token={CSRF}")
    } else {
        format!("{body}&csrf_token={CSRF}")
    }
}

/// What a run of the built binary left behind.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Exit code and both outputs, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the built binary with only PATH and `env`, in `dir` (so no `./.env`
/// is read), off the runtime that serves the test's fakes; 180 s at most.
pub async fn run_binary(dir: &std::path::Path, env: &[(String, String)], args: &[&str]) -> Run {
    let dir = dir.to_path_buf();
    let env = env.to_vec();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let child = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_nodecannon"))
            .args(&args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .current_dir(dir)
            .output()
            .unwrap()
    });
    let out = tokio::time::timeout(std::time::Duration::from_secs(180), child)
        .await
        .expect("nodecannon did not finish in 180 s")
        .unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// 2026-01-01T00:00:00Z: tests start here and move forward.
pub const START: i64 = 1_767_225_600;

/// A running test server.
pub struct TestApp {
    pub base: String,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Starts a sandbox server with extra settings.
pub async fn start(extra: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir, extra).await
}

/// Starts a sandbox server on an existing data directory.
pub async fn start_in(dir: tempfile::TempDir, extra: &[(&str, &str)]) -> TestApp {
    start_with(dir, extra, None, None).await
}

/// Starts a server whose wallet is `wallet` (a real one) and whose other
/// clients are simulated: for tests of the wallet through the whole app.
/// `wallet` is given the app's metrics, so its calls are counted in `/metrics`.
pub async fn start_with_wallet(extra: &[(&str, &str)], wallet: MakeWallet) -> TestApp {
    start_with(tempfile::tempdir().unwrap(), extra, Some(wallet), None).await
}

/// Starts a server with the sandbox wallet, price and nodes and the given
/// cloud (the real DigitalOcean client of a fake DigitalOcean).
pub async fn start_with_cloud(
    extra: &[(&str, &str)],
    cloud: Arc<dyn nodecannon::clients::Cloud>,
) -> TestApp {
    start_with(tempfile::tempdir().unwrap(), extra, None, Some(cloud)).await
}

/// Starts a server with a real wallet and a real DigitalOcean client (of a
/// fake DigitalOcean); price and nodes are simulated.
pub async fn start_with_wallet_and_cloud(
    extra: &[(&str, &str)],
    wallet: MakeWallet,
    cloud: Arc<dyn nodecannon::clients::Cloud>,
) -> TestApp {
    start_with(
        tempfile::tempdir().unwrap(),
        extra,
        Some(wallet),
        Some(cloud),
    )
    .await
}

/// Starts a server with the sandbox wallet and price, the given cloud and
/// the given node probe (e.g. the real HTTP probe of a regtest monerod).
pub async fn start_with_cloud_and_nodes(
    extra: &[(&str, &str)],
    cloud: Arc<dyn nodecannon::clients::Cloud>,
    node: Arc<dyn nodecannon::clients::NodeProbe>,
) -> TestApp {
    start_parts(
        tempfile::tempdir().unwrap(),
        extra,
        None,
        Some(cloud),
        Some(node),
    )
    .await
}

/// Like [`start_with_wallet`], on an existing data directory (a restart).
pub async fn restart_with_wallet(
    dir: tempfile::TempDir,
    extra: &[(&str, &str)],
    wallet: MakeWallet,
) -> TestApp {
    start_with(dir, extra, Some(wallet), None).await
}

/// Builds a wallet client on the app's metrics.
pub type MakeWallet =
    Box<dyn FnOnce(Arc<nodecannon::metrics::Metrics>) -> Arc<dyn nodecannon::clients::Wallet>>;

async fn start_with(
    dir: tempfile::TempDir,
    extra: &[(&str, &str)],
    wallet: Option<MakeWallet>,
    cloud: Option<Arc<dyn nodecannon::clients::Cloud>>,
) -> TestApp {
    start_parts(dir, extra, wallet, cloud, None).await
}

async fn start_parts(
    dir: tempfile::TempDir,
    extra: &[(&str, &str)],
    wallet: Option<MakeWallet>,
    cloud: Option<Arc<dyn nodecannon::clients::Cloud>>,
    node: Option<Arc<dyn nodecannon::clients::NodeProbe>>,
) -> TestApp {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut vars = VarMap::new();
    vars.insert("DATA_DIR".into(), dir.path().display().to_string());
    vars.insert("LISTEN_ADDR".into(), addr.to_string());
    vars.insert("STATS_TOKEN".into(), "test-admin-token".into());
    // Tests open many operations from loopback; the limit has tests of its own.
    vars.insert("LAUNCHPAD_RATE".into(), "100000/hour".into());
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let config = Config::from_vars(&vars).unwrap();
    let clock = Arc::new(ManualClock::new(START));
    let state = if wallet.is_none() && cloud.is_none() && node.is_none() {
        AppState::build_with_clock(config, clock.clone()).unwrap()
    } else {
        AppState::build_with(config, clock.clone(), |store, clock, metrics| {
            let sb =
                nodecannon::sandbox::Sandbox::new(store.clone(), clock.clone(), metrics.clone());
            // The sandbox's controls (pay, price) only while its wallet is used.
            let (wallet, controls): (Arc<dyn nodecannon::clients::Wallet>, _) = match wallet {
                Some(w) => (w(metrics.clone()), None),
                None => (sb.wallet.clone(), Some(sb.clone())),
            };
            Ok(nodecannon::app::Clients {
                wallet,
                cloud: cloud.unwrap_or(sb.cloud.clone()),
                price: sb.price.clone(),
                node: node.unwrap_or(sb.node.clone()),
                notifier: Arc::new(nodecannon::clients::notify::LogNotifier),
                sandbox: controls,
            })
        })
        .unwrap()
    };
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(nodecannon::server::run_with(
        state.clone(),
        listener,
        async move {
            let _ = rx.await;
        },
        false,
    ));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        format!("nc_csrf={CSRF}").parse().unwrap(),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .redirect(Policy::none())
        .build()
        .unwrap();
    TestApp {
        base: format!("http://{addr}"),
        state,
        clock,
        http,
        dir,
        stop: Some(tx),
        task: Some(task),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Gets a page as the admin (Bearer); status and body.
    pub async fn get_admin(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth("test-admin-token")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Posts a form; returns status, Location header and body.
    pub async fn post_form(&self, path: &str, body: &str) -> (u16, Option<String>, String) {
        let r = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", "Bearer test-admin-token")
            .body(with_csrf(body))
            .send()
            .await
            .unwrap();
        let loc = r
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), loc, r.text().await.unwrap())
    }

    /// Opens an operation through the launchpad; returns its id.
    pub async fn open(&self, codename: &str) -> String {
        let (code, loc, body) = self
            .post_form("/launchpad", &format!("codename={codename}&region=ams3"))
            .await;
        assert_eq!(code, 303, "{body}");
        loc.unwrap().rsplit('/').next().unwrap().to_string()
    }

    /// Simulates a payment through the sandbox form.
    pub async fn pay(&self, id: &str, xmr: &str) {
        let (code, _, body) = self
            .post_form(
                &format!("/sandbox/operation/{id}/pay"),
                &format!("amount_xmr={xmr}"),
            )
            .await;
        assert_eq!(code, 303, "{body}");
    }

    /// Posts to `/admin/jobs/{job}` (a query may follow) as the admin; status and JSON.
    pub async fn post_job(&self, job: &str) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(self.url(&format!("/admin/jobs/{job}")))
            .bearer_auth("test-admin-token")
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or_default())
    }

    /// Runs a job through the admin API; returns its outcome JSON.
    pub async fn run_job(&self, job: &str) -> serde_json::Value {
        let mut tries = 0;
        loop {
            let r = self
                .http
                .post(self.url(&format!("/admin/jobs/{job}")))
                .bearer_auth("test-admin-token")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200, "{job}");
            let v: serde_json::Value = r.json().await.unwrap();
            // A regtest wallet-rpc briefly loses its daemon on a loaded
            // machine (-38): the pass says so and changes nothing; the
            // scheduler's next tick runs it again, and so does this.
            let daemon_away = v["errors"].to_string().contains("no connection to daemon");
            if daemon_away && tries < 20 {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
            assert!(v["errors"].as_array().unwrap().is_empty(), "{job}: {v}");
            return v;
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, secs: i64) {
        self.clock.advance(secs);
    }

    pub fn op(&self, id: &str) -> nodecannon::domain::operation::Operation {
        self.state.store.operation(id).unwrap().unwrap()
    }

    /// Stops the server and releases the database; returns the data directory.
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.unwrap().unwrap();
        }
        let TestApp {
            dir, state, http, ..
        } = self;
        drop(http);
        drop(state);
        // A connection task of the stopped server may still hold the app (and
        // so the database's lock) for a moment: wait until the file opens.
        for _ in 0..200 {
            match nodecannon::store::Store::open(dir.path(), START) {
                Ok(store) => {
                    drop(store);
                    break;
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            }
        }
        dir
    }
}
