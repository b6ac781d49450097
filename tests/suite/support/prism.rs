//! The Prism mock of DigitalOcean's own OpenAPI spec (a copy of the spec and
//! its start script live in `tests/digitalocean-openapi/`), behind a small
//! recording proxy so a test sees, for every request the client sent, the
//! status Prism gave and the `sl-violations` it reported.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;

/// One request the client made, as Prism judged it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub violations: Option<String>,
}

/// A running Prism and the proxy in front of it.
pub struct Prism {
    pid: u32,
    /// Where the client should point (`DO_API_URL`).
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

#[derive(Clone)]
struct Proxy {
    upstream: String,
    http: reqwest::Client,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn forward(
    State(p): State<Proxy>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let mut req = p
        .http
        .request(method.clone(), format!("{}{path}", p.upstream));
    for (k, v) in &headers {
        if k != "host" && k != "content-length" {
            req = req.header(k, v);
        }
    }
    let resp = req.body(body).send().await.expect("Prism answers");
    let status = resp.status().as_u16();
    let violations = resp
        .headers()
        .get("sl-violations")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let mut out = HeaderMap::new();
    for (k, v) in resp.headers() {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            out.insert(k, v.clone());
        }
    }
    let bytes = resp.bytes().await.unwrap_or_default();
    p.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path,
        status,
        violations,
    });
    (StatusCode::from_u16(status).unwrap(), out, bytes)
}

impl Prism {
    /// Starts Prism (installing prism-cli with npm on first use, into
    /// `target/prism`) and the recording proxy.
    pub async fn start() -> Prism {
        let root = env!("CARGO_MANIFEST_DIR");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("bash")
                .arg(format!("{root}/tests/digitalocean-openapi/start-mock.sh"))
                .arg(port.to_string())
                .env("PRISM_DIR", format!("{root}/target/prism"))
                .stderr(std::process::Stdio::inherit())
                .output()
                .expect("bash runs start-mock.sh")
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "Prism did not start (needs node and npm; see target/prism/prism-{port}.log)"
        );
        let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let proxy = Proxy {
            upstream: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            seen: seen.clone(),
        };
        let app = axum::Router::new().fallback(forward).with_state(proxy);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Prism { pid, url, seen }
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .arg(self.pid.to_string())
            .status();
    }
}
