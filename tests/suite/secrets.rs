//! No configured secret ever leaves the process in what an operator or a
//! visitor can read: the built binary runs as a real install (every secret
//! set to a distinctive value, every service a local fake that refuses or
//! fails) with `RUST_LOG=trace`, through `config check`, `serve` (hit over
//! HTTP, with the right and wrong admin tokens, and used by the command line
//! through its admin API), `run`, `ops list` and `audit`; every byte of
//! stdout, stderr and every HTTP answer is searched for each secret.
//! Also: `DATA_DIR` is owner-only (0700) and so is the admin token file (0600).

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

const PAYOUT: &str = "4BGWfekEQCkjpFKevfkKcH9xEPkQgvaApe9joPaXqj4fVDpv1rDufyUZMEPuVGkjhEWvUjPJZyajW2tbSTvo6Udo23TeuuC";

const DO_TOKEN: &str = "dop_v1_doTokenLEAKCHECK7f3a9c1e";
const RPC_USER: &str = "rpcUserLEAKCHECK4d7a";
const RPC_PASS: &str = "rpcPassLEAKCHECK9b3e2f";
const WALLET_PASS: &str = "walletFilePassLEAKCHECK2a6c";
const STATS_TOKEN: &str = "statsTokenLEAKCHECK7e5d1c08";
const MM_PATH: &str = "mmHookLEAKCHECK3f8b";
const WEBHOOK_PATH: &str = "webHookLEAKCHECK6a0d";

/// Every secret of the configuration, by the variable that holds it (the
/// webhook URLs by their secret path).
const SECRETS: [(&str, &str); 7] = [
    ("DO_TOKEN", DO_TOKEN),
    ("XMR_WALLET_RPC_USER", RPC_USER),
    ("XMR_WALLET_RPC_PASS", RPC_PASS),
    ("XMR_WALLET_PASS", WALLET_PASS),
    ("STATS_TOKEN", STATS_TOKEN),
    ("MM_ENDPOINT", MM_PATH),
    ("WEBHOOK_URL", WEBHOOK_PATH),
];

/// Everything that came out: (where, text).
#[derive(Default)]
struct Seen(Vec<(String, String)>);

impl Seen {
    fn add(&mut self, place: impl Into<String>, text: impl Into<String>) {
        self.0.push((place.into(), text.into()));
    }

    fn text_of(&self, place: &str) -> &str {
        self.0
            .iter()
            .find(|(p, _)| p == place)
            .map_or("", |(_, t)| t.as_str())
    }
}

/// `text` without terminal colour sequences (the log's ANSI colours could
/// otherwise split a value).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Each place where a secret appears: how often, and its first occurrence
/// with a little context.
fn leaks(secrets: &[(&str, &str)], seen: &Seen) -> Vec<String> {
    let mut found = Vec::new();
    for (var, secret) in secrets {
        for (place, text) in &seen.0 {
            let text = &plain(text);
            let n = text.matches(secret).count();
            let Some(i) = text.find(secret) else {
                continue;
            };
            let mut from = i.saturating_sub(120);
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            let mut to = (i + secret.len() + 60).min(text.len());
            while !text.is_char_boundary(to) {
                to += 1;
            }
            found.push(format!(
                "{var} in {place} ({n} time(s)), first: …{}…",
                &text[from..to]
            ));
        }
    }
    found
}

#[test]
fn the_search_finds_a_planted_secret() {
    let mut seen = Seen::default();
    seen.add(
        "stderr of serve",
        format!("DEBUG calling with token {DO_TOKEN}\n"),
    );
    seen.add("GET /", "<html>nothing here</html>");
    seen.add(
        "stderr of audit",
        format!("\u{1b}[3mpass\u{1b}[0m\u{1b}[2m=\u{1b}[0m{RPC_PASS}"),
    );
    let found = leaks(&SECRETS, &seen);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("DO_TOKEN in stderr of serve"));
    assert!(found[1].starts_with("XMR_WALLET_RPC_PASS in stderr of audit"));
}

/// Requests the fake services got, by path.
#[derive(Clone, Default)]
struct Hits(Arc<Mutex<HashMap<String, usize>>>);

impl Hits {
    fn add(&self, path: &str) -> usize {
        let mut m = self.0.lock().unwrap();
        let n = m.entry(path.to_string()).or_default();
        *n += 1;
        *n
    }

    fn get(&self, path: &str) -> usize {
        self.0.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    fn prefixed(&self, prefix: &str) -> usize {
        let m = self.0.lock().unwrap();
        m.iter()
            .filter(|(p, _)| p.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }
}

/// One local server for every outside service, none of which works:
/// monero-wallet-rpc refuses every Digest answer, DigitalOcean refuses the
/// token, the price APIs fail, Mattermost fails once then takes notices, the
/// generic webhook refuses them.
async fn fake_services(State(hits): State<Hits>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let n = hits.add(&path);
    if path == "/json_rpc" {
        let mut h = HeaderMap::new();
        h.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(
                r#"Digest qop="auth",algorithm=MD5,realm="monero-rpc",nonce="q1W2e3R4t5Y6u7I8",stale=false"#,
            ),
        );
        return (StatusCode::UNAUTHORIZED, h, "").into_response();
    }
    if path == format!("/hooks/{MM_PATH}") {
        return if n == 1 {
            (StatusCode::INTERNAL_SERVER_ERROR, "try later").into_response()
        } else {
            (StatusCode::OK, "ok").into_response()
        };
    }
    if path.starts_with("/hooks/") {
        return (StatusCode::UNAUTHORIZED, "no such hook").into_response();
    }
    if path.starts_with("/do/") {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"id":"Unauthorized","message":"Unable to authenticate you"}"#,
        )
            .into_response();
    }
    (StatusCode::INTERNAL_SERVER_ERROR, "price service down").into_response()
}

async fn start_fakes() -> (String, Hits) {
    let hits = Hits::default();
    let app = axum::Router::new()
        .fallback(fake_services)
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The install: secrets in the env file (as an operator keeps them), the
/// rest in the environment.
struct Install {
    dir: PathBuf,
    env_file: PathBuf,
    env: Vec<(String, String)>,
    listen: String,
}

fn install(root: &Path, fakes: &str) -> Install {
    let dir = root.join("data");
    let env_file = root.join("nodecannon.env");
    std::fs::write(
        &env_file,
        format!(
            "# a real install\n\
             DO_TOKEN={DO_TOKEN}\n\
             XMR_WALLET_RPC_USER={RPC_USER}\n\
             XMR_WALLET_RPC_PASS=\"{RPC_PASS}\"\n\
             export XMR_WALLET_PASS='{WALLET_PASS}'\n\
             STATS_TOKEN={STATS_TOKEN}\n\
             MM_ENDPOINT={fakes}/hooks/{MM_PATH}\n\
             MM_CHANNEL=ops\n\
             WEBHOOK_URL={fakes}/hooks/{WEBHOOK_PATH}\n"
        ),
    )
    .unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let env = [
        ("RUST_LOG", "trace".to_string()),
        ("DATA_DIR", dir.display().to_string()),
        ("LISTEN_ADDR", listen.clone()),
        ("XMR_WALLET_RPC_ENDPOINT", fakes.to_string()),
        ("XMR_DAEMON_URI", "http://127.0.0.1:18081".to_string()),
        ("DO_API_URL", format!("{fakes}/do")),
        ("DO_DOMAIN", "example.com".to_string()),
        ("DO_REGIONS", "ams3".to_string()),
        ("PAYOUT_ADDRESS", PAYOUT.to_string()),
        ("PRICE_API_URL", format!("{fakes}/coingecko")),
        ("KRAKEN_API_URL", format!("{fakes}/kraken")),
        ("BITFINEX_API_URL", format!("{fakes}/bitfinex")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    Install {
        dir,
        env_file,
        env,
        listen,
    }
}

impl Install {
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_nodecannon"));
        c.arg("--env-file")
            .arg(&self.env_file)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().cloned())
            .current_dir(self.dir.parent().unwrap());
        c
    }

    /// Runs a command to its end (off the runtime that serves the fakes);
    /// adds its output to `seen`.
    async fn run(&self, seen: &mut Seen, args: &[&str]) {
        let mut c = self.command(args);
        let out = tokio::task::spawn_blocking(move || c.output().unwrap());
        let out = tokio::time::timeout(Duration::from_secs(120), out)
            .await
            .unwrap_or_else(|_| panic!("nodecannon {args:?} did not finish in 120 s"))
            .unwrap();
        let name = args.join(" ");
        seen.add(
            format!("stdout of `{name}`"),
            String::from_utf8_lossy(&out.stdout),
        );
        seen.add(
            format!("stderr of `{name}` (exit {:?})", out.status.code()),
            String::from_utf8_lossy(&out.stderr),
        );
    }
}

/// An HTTP client of the running server that keeps its cookies by hand.
struct Visitor {
    http: reqwest::Client,
    base: String,
    cookies: HashMap<String, String>,
}

impl Visitor {
    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Sends a request; adds status, headers and body to `seen`.
    async fn send(
        &mut self,
        seen: &mut Seen,
        what: &str,
        req: reqwest::RequestBuilder,
    ) -> (u16, String) {
        let req = if self.cookies.is_empty() {
            req
        } else {
            req.header("cookie", self.cookie_header())
        };
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        for v in r.headers().get_all("set-cookie") {
            if let Some((k, v)) = v
                .to_str()
                .unwrap()
                .split(';')
                .next()
                .and_then(|kv| kv.split_once('='))
            {
                self.cookies.insert(k.to_string(), v.to_string());
            }
        }
        let headers = format!("{:?}", r.headers());
        let body = r.text().await.unwrap();
        seen.add(format!("headers of {what} ({status})"), headers);
        seen.add(format!("body of {what} ({status})"), body.clone());
        (status, body)
    }

    async fn get(&mut self, seen: &mut Seen, path: &str) -> (u16, String) {
        let req = self.http.get(format!("{}{path}", self.base));
        self.send(seen, &format!("GET {path}"), req).await
    }

    /// Posts a form as a browser does (with the CSRF field of its cookie).
    async fn post_form(&mut self, seen: &mut Seen, path: &str, form: &str) -> (u16, String) {
        let csrf = self
            .cookies
            .get("nc_csrf")
            .map(|t| format!("&csrf_token={t}"))
            .unwrap_or_default();
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("{form}{csrf}"));
        self.send(seen, &format!("POST {path} {form:?}"), req).await
    }

    async fn post_bearer(&mut self, seen: &mut Seen, path: &str, token: &str) -> (u16, String) {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token);
        self.send(seen, &format!("POST {path} (bearer)"), req).await
    }
}

/// Waits until `f` holds, at most `secs` seconds.
async fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..secs * 10 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    f()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_secret_appears_in_any_output_of_a_real_install() {
    let (fakes, hits) = start_fakes().await;
    let root = tempfile::tempdir().unwrap();
    let inst = install(root.path(), &fakes);
    let mut seen = Seen::default();

    inst.run(&mut seen, &["config", "check"]).await;
    assert!(
        seen.text_of("stdout of `config check`").contains("FAILED"),
        "the services were asked and failed: {}",
        seen.text_of("stdout of `config check`")
    );

    // The server, its log in files.
    let (out_file, err_file) = (root.path().join("serve.out"), root.path().join("serve.err"));
    let mut child = inst
        .command(&["serve"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_file).unwrap())
        .stderr(std::fs::File::create(&err_file).unwrap())
        .spawn()
        .unwrap();
    let base = format!("http://{}", inst.listen);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut up = false;
    for _ in 0..300 {
        if http.get(format!("{base}/status")).send().await.is_ok() {
            up = true;
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "serve exited with {status}: {}",
                std::fs::read_to_string(&err_file).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "serve did not answer in 30 s");

    let mut v = Visitor {
        http: http.clone(),
        base: base.clone(),
        cookies: HashMap::new(),
    };
    for path in [
        "/",
        "/status",
        "/metrics",
        "/info",
        "/launchpad",
        "/api/nodes",
        "/api/export/ansible",
        "/api/export/upstreams",
        "/admin",
        "/admin/login",
        "/stats?token=wrong-token",
        "/no/such/page",
    ] {
        v.get(&mut seen, path).await;
    }
    let (code, _) = v
        .post_form(&mut seen, "/launchpad", "codename=leakcheck&region=ams3")
        .await;
    assert_ne!(code, 303, "no operation without a wallet");
    let (code, _) = v
        .post_form(&mut seen, "/admin/login", "token=not-the-token")
        .await;
    assert_ne!(code, 303, "a wrong token is refused");
    let (code, _) = v
        .post_form(&mut seen, "/admin/login", &format!("token={STATS_TOKEN}"))
        .await;
    assert_eq!(code, 303, "the right token logs in");
    for path in ["/admin", "/admin/audit", "/admin/api/ops"] {
        let (code, _) = v.get(&mut seen, path).await;
        assert_eq!(code, 200, "{path} with a session");
    }
    v.post_form(&mut seen, "/admin/jobs/health", "").await;
    v.cookies.remove("nc_admin");
    // The original's route with the right token (it lands in the URL).
    let (code, _) = v
        .get(&mut seen, &format!("/stats?token={STATS_TOKEN}"))
        .await;
    assert_eq!(code, 303);
    // Scripts: a failing pass of each kind; reconcile fails on DigitalOcean
    // and tells Mattermost and the webhook.
    for job in ["reconcile", "launch-funded", "process-payouts"] {
        v.post_bearer(&mut seen, &format!("/admin/jobs/{job}"), STATS_TOKEN)
            .await;
    }
    v.post_bearer(&mut seen, "/admin/jobs/health", "wrong-bearer")
        .await;
    // The command line through the server's admin API.
    inst.run(&mut seen, &["ops", "list"]).await;
    inst.run(&mut seen, &["run", "launch-funded"]).await;
    inst.run(&mut seen, &["audit"]).await;
    let mm = format!("/hooks/{MM_PATH}");
    let hook = format!("/hooks/{WEBHOOK_PATH}");
    let delivered = wait_for(30, || hits.get(&mm) >= 2 && hits.get(&hook) >= 1).await;

    // Stop it as systemd does, so it logs its shutdown too.
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let stopped = wait_for(30, || child.try_wait().unwrap().is_some()).await;
    if !stopped {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    seen.add(
        "stdout of `serve`",
        std::fs::read_to_string(&out_file).unwrap(),
    );
    seen.add(
        format!("stderr of `serve` (exit {status})"),
        std::fs::read_to_string(&err_file).unwrap(),
    );

    // The same commands on the database directly.
    inst.run(&mut seen, &["ops", "list"]).await;
    inst.run(&mut seen, &["run", "launch-funded"]).await;
    inst.run(&mut seen, &["run", "reconcile"]).await;
    inst.run(&mut seen, &["audit"]).await;

    let found = leaks(&SECRETS, &seen);
    assert!(
        found.is_empty(),
        "{} leak(s):\n{}",
        found.len(),
        found.join("\n\n")
    );

    // The run did use every secret where it belongs: the wallet was asked
    // (with the Digest credentials), DigitalOcean (with the token), both
    // webhooks, and the admin token worked; and the log is the trace one.
    assert!(hits.get("/json_rpc") >= 2, "{:?}", hits.0);
    assert!(hits.prefixed("/do/") >= 1, "{:?}", hits.0);
    assert!(delivered, "webhooks reached: {:?}", hits.0);
    let log = seen
        .0
        .iter()
        .find(|(p, _)| p.starts_with("stderr of `serve`"))
        .map(|(_, t)| t.clone())
        .unwrap();
    assert!(stopped, "serve stopped on SIGTERM: {log}");
    assert!(log.contains("TRACE") || log.contains("DEBUG"), "{log}");
    assert!(!log.contains("panicked"), "{log}");

    // Owner-only data directory.
    assert_eq!(mode(&inst.dir), 0o700, "DATA_DIR");
}

#[tokio::test]
async fn init_makes_the_data_dir_and_the_generated_admin_token_owner_only() {
    let root = tempfile::tempdir().unwrap();
    // A data directory that does not exist yet, below one that does not either.
    let dir = root.path().join("state").join("nodecannon");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_nodecannon"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "trace")
            .env("DATA_DIR", &dir)
            .current_dir(root.path())
            .output()
            .unwrap()
    };
    let out = run(&["init"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&dir), 0o700, "DATA_DIR");
    let token_file = dir.join("admin-token");
    assert_eq!(mode(&token_file), 0o600, "admin-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    let token = token.trim();
    assert!(token.len() >= 32, "{token:?}");

    // The log says where the token is, never what it is.
    let mut seen = Seen::default();
    seen.add("stdout of `init`", String::from_utf8_lossy(&out.stdout));
    seen.add("stderr of `init`", String::from_utf8_lossy(&out.stderr));
    assert!(
        seen.text_of("stdout of `init`")
            .contains(&token_file.display().to_string()),
        "{out:?}"
    );
    let out = run(&["config", "check"]);
    seen.add(
        "stdout of `config check`",
        String::from_utf8_lossy(&out.stdout),
    );
    seen.add(
        "stderr of `config check`",
        String::from_utf8_lossy(&out.stderr),
    );
    let found = leaks(&[("generated admin token", token)], &seen);
    assert!(found.is_empty(), "{}", found.join("\n\n"));

    // A second start keeps both as they are.
    let out = run(&["init"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&token_file), 0o600);
    assert_eq!(std::fs::read_to_string(&token_file).unwrap().trim(), token);
}

#[tokio::test]
async fn an_existing_data_dir_open_to_others_is_narrowed() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nodecannon"))
        .arg("init")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATA_DIR", &dir)
        .current_dir(root.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("admin-token")), 0o600);
}
