//! A stateful fake of DigitalOcean's API v2, as far as the client uses it:
//! volumes, droplets, DNS records, SSH keys, the account, sizes and regions.
//!
//! It answers the way the real API does (shapes, status codes, pagination with
//! absolute `links.pages.next` on `https://api.digitalocean.com`, `ratelimit-*`
//! headers) and lets a test inject faults: an error before anything happens,
//! an error after the request took effect (the lost answer), or no answer.
//! Every request is counted by method and path, so a test can say how many
//! creates reached it.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use nodecannon::clients::digitalocean::DigitalOcean;
use nodecannon::metrics::Metrics;
use serde_json::{Value, json};

/// The only token the fake accepts.
pub const TOKEN: &str = "test-token";
/// The domain the fake serves from the start.
pub const DOMAIN: &str = "example.com";
/// Where the real API lives: `links.pages.*` point there, as they do for real.
const REAL: &str = "https://api.digitalocean.com";
/// The real API's own cap on `per_page`.
const REAL_MAX_PER_PAGE: usize = 200;
/// What `ratelimit-limit` says.
const RATE_LIMIT: usize = 5000;

/// Regions: slug, name, available, offers volumes (`storage`), sizes offered.
const REGIONS: &[(&str, &str, bool, bool, &[&str])] = &[
    (
        "ams3",
        "Amsterdam 3",
        true,
        true,
        &["s-1vcpu-1gb", "s-2vcpu-4gb", "s-4vcpu-8gb"],
    ),
    (
        "blr1",
        "Bangalore 1",
        true,
        false,
        &["s-1vcpu-1gb", "s-2vcpu-4gb", "s-4vcpu-8gb"],
    ),
    (
        "fra1",
        "Frankfurt 1",
        true,
        true,
        &["s-1vcpu-1gb", "s-2vcpu-4gb", "s-4vcpu-8gb"],
    ),
    (
        "nyc3",
        "New York 3",
        true,
        true,
        &["s-1vcpu-1gb", "s-2vcpu-4gb", "s-4vcpu-8gb"],
    ),
    (
        "sfo2",
        "San Francisco 2",
        false,
        true,
        &["s-1vcpu-1gb", "s-2vcpu-4gb", "s-4vcpu-8gb"],
    ),
    (
        "sgp1",
        "Singapore 1",
        true,
        true,
        &["s-1vcpu-1gb", "s-2vcpu-4gb"],
    ),
];

/// Sizes: slug, memory MiB, vcpus, disk GB, price_monthly, price_hourly.
const SIZES: &[(&str, u64, u64, u64, f64, f64)] = &[
    ("s-1vcpu-1gb", 1024, 1, 25, 6.0, 0.00893),
    ("s-2vcpu-4gb", 4096, 2, 80, 24.0, 0.03571),
    ("s-4vcpu-8gb", 8192, 4, 160, 48.0, 0.07143),
];

/// What an injected fault does to the next request it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answers this status (with DigitalOcean's JSON error body); nothing happens.
    Status(u16),
    /// Like [`Fault::Status`], with `Retry-After: secs`.
    StatusRetryAfter(u16, u64),
    /// The request takes effect (a create happens), but the answer is this
    /// status instead: the lost answer.
    AfterCommit(u16),
    /// Never answers; nothing happens.
    Hang,
    /// The request takes effect, then the fake never answers.
    HangAfterCommit,
    /// A 200 with an empty body (nothing happens).
    EmptyOk,
    /// The real answer, cut off halfway: its `Content-Length` promises the
    /// whole body and the connection closes early.
    Truncated,
}

/// What chaos deals: server errors, rate limits, lost answers, empty and
/// cut-off bodies. (Hangs cost the client's 30-second timeout each; the
/// hostile-server tests have them.)
pub const CHAOS: [Fault; 10] = [
    Fault::Status(500),
    Fault::Status(503),
    Fault::Status(500),
    Fault::StatusRetryAfter(429, 1),
    Fault::StatusRetryAfter(429, 1),
    Fault::AfterCommit(502),
    Fault::AfterCommit(500),
    Fault::EmptyOk,
    Fault::Truncated,
    Fault::Truncated,
];

#[derive(Debug, Clone)]
struct Injected {
    method: String,
    prefix: String,
    fault: Fault,
}

/// A block-storage volume held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeVolume {
    /// A UUID, as for real.
    pub id: String,
    pub name: String,
    pub region: String,
    pub size_gb: u64,
    pub tags: Vec<String>,
    pub droplet_ids: Vec<u64>,
    pub created_at: String,
}

/// A droplet held by the fake.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeDroplet {
    pub id: u64,
    pub name: String,
    pub region: String,
    pub size: String,
    pub image: String,
    /// `new` until [`FakeDo::boot_all`], then `active`.
    pub status: String,
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub tags: Vec<String>,
    pub volume_ids: Vec<String>,
    pub ssh_keys: Vec<Value>,
    pub user_data: String,
    pub created_at: String,
}

/// A DNS record held by the fake (name relative to its domain, `@` for the apex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRecord {
    pub id: u64,
    pub kind: String,
    pub name: String,
    pub data: String,
    pub ttl: u64,
}

/// An SSH key held by the fake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeKey {
    pub id: u64,
    pub name: String,
    pub fingerprint: String,
    pub public_key: String,
}

/// Everything the fake holds; tests may read and change it through [`FakeDo::state`].
pub struct DoState {
    pub volumes: Vec<FakeVolume>,
    pub droplets: Vec<FakeDroplet>,
    /// Records by domain; a domain not here answers 404.
    pub domains: BTreeMap<String, Vec<FakeRecord>>,
    pub ssh_keys: Vec<FakeKey>,
    pub droplet_limit: u32,
    /// Cap on `per_page` (the real API's is 200; tests lower it to force pages).
    pub max_per_page: usize,
    /// Statuses of destroys with associated resources, by droplet id.
    pub destroyed: HashMap<u64, Value>,
    /// Requests by (method, path without query).
    pub counts: HashMap<(String, String), usize>,
    /// Every request, `METHOD /path?query`, in order.
    pub log: Vec<String>,
    faults: Vec<Injected>,
    /// Random faults: this many requests in 1,000 (besides injected ones)
    /// meet one of [`CHAOS`], from a seeded generator.
    pub chaos_per_mille: u32,
    chaos_seed: u64,
    /// Faults the chaos handed out, by kind.
    pub chaos_dealt: HashMap<String, usize>,
    /// Every droplet ever created: its id, tags and creation time (Unix).
    pub created_droplets: Vec<(u64, Vec<String>, i64)>,
    next_id: u64,
    booted: u64,
    /// The public IPv4 droplets get when booted (otherwise 203.0.113.x).
    pub boot_ipv4: Option<String>,
}

impl DoState {
    fn new() -> Self {
        let mut domains = BTreeMap::new();
        domains.insert(DOMAIN.to_string(), Vec::new());
        Self {
            volumes: Vec::new(),
            droplets: Vec::new(),
            domains,
            ssh_keys: Vec::new(),
            droplet_limit: 25,
            max_per_page: REAL_MAX_PER_PAGE,
            destroyed: HashMap::new(),
            counts: HashMap::new(),
            log: Vec::new(),
            faults: Vec::new(),
            chaos_per_mille: 0,
            chaos_seed: 0x9e37_79b9_7f4a_7c15,
            chaos_dealt: HashMap::new(),
            created_droplets: Vec::new(),
            next_id: 3_164_000,
            booted: 0,
            boot_ipv4: None,
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn uuid(&mut self) -> String {
        let n = self.id();
        format!("506f78a4-e098-11e5-ad9f-{n:012x}")
    }

    /// Removes and returns the first fault queued for this request, or
    /// deals a random one when chaos is on.
    fn take_fault(&mut self, method: &Method, path_and_query: &str) -> Option<Fault> {
        let i = self.faults.iter().position(|f| {
            f.method.eq_ignore_ascii_case(method.as_str()) && path_and_query.starts_with(&f.prefix)
        });
        match i {
            Some(i) => Some(self.faults.remove(i).fault),
            None => self.chaos(),
        }
    }

    fn chaos(&mut self) -> Option<Fault> {
        if self.chaos_per_mille == 0 {
            return None;
        }
        // xorshift64*: reproducible from the seed, no dependency.
        let mut x = self.chaos_seed;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.chaos_seed = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 32;
        if r % 1000 >= u64::from(self.chaos_per_mille) {
            return None;
        }
        let fault = CHAOS[(r / 1000) as usize % CHAOS.len()];
        *self.chaos_dealt.entry(format!("{fault:?}")).or_default() += 1;
        Some(fault)
    }

    fn total_requests(&self) -> usize {
        self.log.len()
    }
}

type Shared = Arc<Mutex<DoState>>;

/// A running fake DigitalOcean on 127.0.0.1.
pub struct FakeDo {
    /// Base URL for the client (`DO_API_URL`).
    pub url: String,
    pub state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeDo {
    /// Starts the fake on a free port, with the domain [`DOMAIN`] and a
    /// droplet limit of 25.
    pub async fn start() -> FakeDo {
        let state: Shared = Arc::new(Mutex::new(DoState::new()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDo { url, state, task }
    }

    /// The real client on this fake, with [`TOKEN`] and a backoff in
    /// milliseconds (5 attempts, 1 ms base, 20 ms cap).
    pub fn client(&self) -> DigitalOcean {
        self.client_with(nodecannon::app::http_client(), TOKEN)
    }

    /// The real client on this fake with a given HTTP client and token.
    pub fn client_with(&self, http: reqwest::Client, token: &str) -> DigitalOcean {
        DigitalOcean::new(http, &self.url, token, Arc::new(Metrics::default())).with_backoff(
            5,
            Duration::from_millis(1),
            Duration::from_millis(20),
        )
    }

    /// The fake's state, locked.
    pub fn state(&self) -> MutexGuard<'_, DoState> {
        self.state.lock().unwrap()
    }

    /// Queues `fault` for the next request whose method is `method` and whose
    /// path and query start with `path_prefix` (`/v2/droplets` matches
    /// `/v2/droplets/7` too; `/v2/droplets?page=2` only the second page).
    /// Faults are used once each, in the order queued.
    pub fn fail_next(&self, method: &str, path_prefix: &str, fault: Fault) {
        self.state().faults.push(Injected {
            method: method.to_string(),
            prefix: path_prefix.to_string(),
            fault,
        });
    }

    /// Faults queued and not yet used.
    pub fn pending_faults(&self) -> usize {
        self.state().faults.len()
    }

    /// Requests that reached the fake with this method and exactly this path
    /// (query left out), faulted ones included.
    pub fn count(&self, method: &str, path: &str) -> usize {
        self.state()
            .counts
            .get(&(method.to_uppercase(), path.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Every request so far, `METHOD /path?query`.
    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    /// Forgets the counts and the log (the state stays).
    pub fn reset_counts(&self) {
        let mut st = self.state();
        st.counts.clear();
        st.log.clear();
    }

    pub fn set_droplet_limit(&self, n: u32) {
        self.state().droplet_limit = n;
    }

    /// Caps `per_page` at `n` (forces the client through pages).
    pub fn set_max_per_page(&self, n: usize) {
        self.state().max_per_page = n.max(1);
    }

    pub fn add_domain(&self, domain: &str) {
        self.state().domains.entry(domain.to_string()).or_default();
    }

    /// Every droplet still `new` becomes `active` with public IPv4 and IPv6
    /// addresses (and a private IPv4 one).
    pub fn boot_all(&self) {
        let mut st = self.state();
        let mut n = st.booted;
        let boot = st.boot_ipv4.clone();
        for d in st.droplets.iter_mut().filter(|d| d.status == "new") {
            n += 1;
            d.status = "active".into();
            d.ipv4 = Some(
                boot.clone()
                    .unwrap_or_else(|| format!("203.0.{}.{}", 113 + n / 250, n % 250 + 1)),
            );
            d.ipv6 = Some(format!("2001:db8::{:x}", n));
        }
        st.booted = n;
    }

    pub fn volumes(&self) -> Vec<FakeVolume> {
        self.state().volumes.clone()
    }

    pub fn droplets(&self) -> Vec<FakeDroplet> {
        self.state().droplets.clone()
    }

    /// Records of `domain` (none if the domain is unknown).
    pub fn records(&self, domain: &str) -> Vec<FakeRecord> {
        self.state()
            .domains
            .get(domain)
            .cloned()
            .unwrap_or_default()
    }

    pub fn ssh_keys(&self) -> Vec<FakeKey> {
        self.state().ssh_keys.clone()
    }

    /// The destroy status recorded for droplet `id`.
    pub fn destroy_status(&self, id: u64) -> Option<Value> {
        self.state().destroyed.get(&id).cloned()
    }
}

/// An answer before the rate-limit headers are added.
struct Answer {
    status: u16,
    body: Option<Value>,
    retry_after: Option<u64>,
}

fn ok(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body: Some(body),
        retry_after: None,
    }
}

fn empty(status: u16) -> Answer {
    Answer {
        status,
        body: None,
        retry_after: None,
    }
}

/// DigitalOcean's error body: `{"id": ..., "message": ...}`.
fn error(status: u16, message: &str) -> Answer {
    let id = match status {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        409 => "conflict",
        412 => "precondition_failed",
        422 => "unprocessable_entity",
        429 => "too_many_requests",
        503 => "service_unavailable",
        _ if status >= 500 => "server_error",
        _ => "error",
    };
    ok(
        status,
        json!({ "id": id, "message": message, "request_id": "fake-request" }),
    )
}

fn not_found() -> Answer {
    error(404, "The resource you were accessing could not be found.")
}

/// The body of an injected fault.
fn fault_answer(status: u16, retry_after: Option<u64>) -> Answer {
    let message = match status {
        429 => "Too many requests.",
        500 => "Server was unable to give you a response.",
        502 => "Bad gateway.",
        503 => "Service unavailable.",
        _ => "Injected failure.",
    };
    let mut a = error(status, message);
    a.retry_after = retry_after;
    a
}

fn respond(a: Answer, requests: usize) -> Response {
    let mut resp = match a.body {
        Some(b) => (StatusCode::from_u16(a.status).unwrap(), axum::Json(b)).into_response(),
        None => StatusCode::from_u16(a.status).unwrap().into_response(),
    };
    let h = resp.headers_mut();
    let reset = chrono::Utc::now().timestamp() + 60;
    let remaining = RATE_LIMIT.saturating_sub(requests).max(1);
    h.insert("ratelimit-limit", HeaderValue::from(RATE_LIMIT));
    h.insert("ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("ratelimit-reset", HeaderValue::from(reset));
    if let Some(s) = a.retry_after {
        h.insert("retry-after", HeaderValue::from(s));
    }
    resp
}

async fn handle(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let pq = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| path.clone());
    let (fault, requests) = {
        let mut st = s.lock().unwrap();
        *st.counts
            .entry((method.as_str().to_uppercase(), path.clone()))
            .or_default() += 1;
        st.log.push(format!("{method} {pq}"));
        (st.take_fault(&method, &pq), st.total_requests())
    };
    match fault {
        Some(Fault::Status(c)) => return respond(fault_answer(c, None), requests),
        Some(Fault::StatusRetryAfter(c, secs)) => {
            return respond(fault_answer(c, Some(secs)), requests);
        }
        Some(Fault::Hang) => return std::future::pending().await,
        Some(Fault::EmptyOk) => return StatusCode::OK.into_response(),
        _ => {}
    }
    let answer = {
        let mut st = s.lock().unwrap();
        serve(&mut st, &method, &path, uri.query(), &headers, &body)
    };
    match fault {
        Some(Fault::AfterCommit(c)) => respond(fault_answer(c, None), requests),
        Some(Fault::HangAfterCommit) => std::future::pending().await,
        Some(Fault::Truncated) => {
            let full = answer.body.map(|b| b.to_string()).unwrap_or_default();
            let half = full.as_bytes()[..full.len() / 2].to_vec();
            let mut resp = Response::new(axum::body::Body::from(half));
            *resp.status_mut() = StatusCode::from_u16(answer.status).unwrap();
            resp.headers_mut().insert(
                axum::http::header::CONTENT_LENGTH,
                HeaderValue::from(full.len() + 100),
            );
            resp
        }
        _ => respond(answer, requests),
    }
}

fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == TOKEN)
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

type Query = Vec<(String, String)>;

fn param<'a>(q: &'a Query, key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// One page of `items` under `key`, with `links.pages` as absolute URLs on the
/// real API and `meta.total`.
fn page(st: &DoState, path: &str, q: &Query, key: &str, items: Vec<Value>) -> Answer {
    let per_page = param(q, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, st.max_per_page);
    let page = param(q, "page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let chunk: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let link = |p: usize| {
        let mut params: Vec<(String, String)> = vec![
            ("page".into(), p.to_string()),
            ("per_page".into(), per_page.to_string()),
        ];
        params.extend(
            q.iter()
                .filter(|(k, _)| k != "page" && k != "per_page")
                .cloned(),
        );
        format!(
            "{REAL}{path}?{}",
            serde_urlencoded::to_string(&params).unwrap()
        )
    };
    let mut pages = serde_json::Map::new();
    if page > 1 {
        pages.insert("first".into(), json!(link(1)));
        pages.insert("prev".into(), json!(link(page - 1)));
    }
    if page < last {
        pages.insert("last".into(), json!(link(last)));
        pages.insert("next".into(), json!(link(page + 1)));
    }
    ok(
        200,
        json!({ key: chunk, "links": { "pages": pages }, "meta": { "total": total } }),
    )
}

fn region_json(slug: &str) -> Value {
    match REGIONS.iter().find(|r| r.0 == slug) {
        Some((slug, name, available, storage, sizes)) => {
            let mut features = vec!["backups", "ipv6", "metadata", "install_agent"];
            if *storage {
                features.push("storage");
            }
            json!({
                "slug": slug, "name": name, "available": available,
                "features": features, "sizes": sizes,
            })
        }
        None => {
            json!({ "slug": slug, "name": slug, "available": false, "features": [], "sizes": [] })
        }
    }
}

fn volume_json(v: &FakeVolume) -> Value {
    json!({
        "id": v.id,
        "region": region_json(&v.region),
        "droplet_ids": v.droplet_ids,
        "name": v.name,
        "description": "",
        "size_gigabytes": v.size_gb,
        "created_at": v.created_at,
        "filesystem_type": "ext4",
        "filesystem_label": "",
        "tags": v.tags,
    })
}

fn droplet_json(d: &FakeDroplet) -> Value {
    let (memory, vcpus, disk, monthly, hourly) = SIZES
        .iter()
        .find(|s| s.0 == d.size)
        .map(|s| (s.1, s.2, s.3, s.4, s.5))
        .unwrap_or((0, 0, 0, 0.0, 0.0));
    let mut v4 = Vec::new();
    if let Some(ip) = &d.ipv4 {
        let last = ip.rsplit('.').next().unwrap_or("2");
        v4.push(json!({
            "ip_address": format!("10.110.0.{last}"), "netmask": "255.255.240.0",
            "gateway": "10.110.0.1", "type": "private",
        }));
        v4.push(json!({
            "ip_address": ip, "netmask": "255.255.255.0",
            "gateway": "203.0.113.1", "type": "public",
        }));
    }
    let v6: Vec<Value> = d
        .ipv6
        .iter()
        .map(|ip| json!({ "ip_address": ip, "netmask": 64, "gateway": "2001:db8::1", "type": "public" }))
        .collect();
    json!({
        "id": d.id,
        "name": d.name,
        "memory": memory,
        "vcpus": vcpus,
        "disk": disk,
        "locked": false,
        "status": d.status,
        "kernel": null,
        "created_at": d.created_at,
        "features": ["monitoring", "ipv6"],
        "backup_ids": [],
        "next_backup_window": null,
        "snapshot_ids": [],
        "image": { "slug": d.image, "name": d.image, "distribution": "Debian", "public": true },
        "volume_ids": d.volume_ids,
        "size": {
            "slug": d.size, "memory": memory, "vcpus": vcpus, "disk": disk,
            "price_monthly": monthly, "price_hourly": hourly,
        },
        "size_slug": d.size,
        "networks": { "v4": v4, "v6": v6 },
        "region": region_json(&d.region),
        "tags": d.tags,
        "vpc_uuid": "760e09ef-dc84-11e8-981e-3cfdfeaae000",
    })
}

fn record_json(r: &FakeRecord) -> Value {
    json!({
        "id": r.id, "type": r.kind, "name": r.name, "data": r.data,
        "priority": null, "port": null, "ttl": r.ttl, "weight": null,
        "flags": null, "tag": null,
    })
}

fn key_json(k: &FakeKey) -> Value {
    json!({ "id": k.id, "name": k.name, "fingerprint": k.fingerprint, "public_key": k.public_key })
}

/// An MD5-looking fingerprint (not MD5: FNV-1a twice, good enough for a fake).
fn fingerprint(key: &str) -> String {
    let fnv = |seed: u64| {
        key.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let bytes: Vec<u8> = fnv(0xcbf2_9ce4_8422_2325)
        .to_be_bytes()
        .into_iter()
        .chain(fnv(0x8422_2325_cbf2_9ce4).to_be_bytes())
        .collect();
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn json_body(body: &Bytes) -> Result<Value, Answer> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| error(400, "The request body is not a JSON object."))
}

/// Names of volumes: lowercase letters, digits and `-`, starting with a letter, ≤ 64.
fn valid_volume_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 64
        && n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn serve(
    st: &mut DoState,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Answer {
    if !authorized(headers) {
        return error(401, "Unable to authenticate you");
    }
    let q: Query = serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    let seg: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = method.as_str();
    let r = match (m, seg.as_slice()) {
        ("GET", ["v2", "account"]) => Ok(account(st)),
        ("GET", ["v2", "account", "keys"]) => Ok(list_keys(st, path, &q)),
        ("POST", ["v2", "account", "keys"]) => create_key(st, body),
        ("GET", ["v2", "sizes"]) => Ok(list_sizes(st, path, &q)),
        ("GET", ["v2", "regions"]) => Ok(list_regions(st, path, &q)),
        ("GET", ["v2", "volumes"]) => Ok(list_volumes(st, path, &q)),
        ("POST", ["v2", "volumes"]) => create_volume(st, body),
        ("GET", ["v2", "volumes", id]) => st
            .volumes
            .iter()
            .find(|v| v.id == *id)
            .map(|v| ok(200, json!({ "volume": volume_json(v) })))
            .ok_or_else(not_found),
        ("DELETE", ["v2", "volumes", id]) => delete_volume(st, id),
        ("GET", ["v2", "droplets"]) => Ok(list_droplets(st, path, &q)),
        ("POST", ["v2", "droplets"]) => create_droplet(st, body),
        ("GET", ["v2", "droplets", id]) => droplet_id(id)
            .and_then(|id| st.droplets.iter().find(|d| d.id == id))
            .map(|d| ok(200, json!({ "droplet": droplet_json(d) })))
            .ok_or_else(not_found),
        ("DELETE", ["v2", "droplets", id]) => delete_droplet(st, id),
        (
            "DELETE",
            [
                "v2",
                "droplets",
                id,
                "destroy_with_associated_resources",
                "dangerous",
            ],
        ) => destroy_dangerous(st, id, headers),
        (
            "GET",
            [
                "v2",
                "droplets",
                id,
                "destroy_with_associated_resources",
                "status",
            ],
        ) => droplet_id(id)
            .and_then(|id| st.destroyed.get(&id))
            .map(|s| ok(200, s.clone()))
            .ok_or_else(not_found),
        ("GET", ["v2", "domains", d, "records"]) => list_records(st, path, d, &q),
        ("POST", ["v2", "domains", d, "records"]) => create_record(st, d, body),
        ("GET", ["v2", "domains", d, "records", id]) => droplet_id(id)
            .and_then(|id| {
                st.domains
                    .get(*d)?
                    .iter()
                    .find(|r| r.id == id)
                    .map(|r| ok(200, json!({ "domain_record": record_json(r) })))
            })
            .ok_or_else(not_found),
        ("DELETE", ["v2", "domains", d, "records", id]) => delete_record(st, d, id),
        _ => Err(not_found()),
    };
    r.unwrap_or_else(|e| e)
}

fn droplet_id(s: &str) -> Option<u64> {
    s.parse().ok()
}

fn account(st: &DoState) -> Answer {
    ok(
        200,
        json!({ "account": {
            "droplet_limit": st.droplet_limit,
            "floating_ip_limit": 3,
            "volume_limit": 100,
            "email": "sammy@example.com",
            "name": "Sammy",
            "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef",
            "email_verified": true,
            "status": "active",
            "status_message": "",
            "team": { "uuid": "5df3e3004a17e242b7c20ca6c9fc25b701a47ece", "name": "My Team" },
        }}),
    )
}

fn list_keys(st: &DoState, path: &str, q: &Query) -> Answer {
    let items = st.ssh_keys.iter().map(key_json).collect();
    page(st, path, q, "ssh_keys", items)
}

fn create_key(st: &mut DoState, body: &Bytes) -> Result<Answer, Answer> {
    let b = json_body(body)?;
    let name = b["name"].as_str().unwrap_or_default().to_string();
    let public_key = b["public_key"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string();
    if name.is_empty() {
        return Err(error(422, "name is required"));
    }
    if !public_key.starts_with("ssh-") || public_key.split_whitespace().count() < 2 {
        return Err(error(
            422,
            "Key invalid, key should be of the format `type key [comment]`",
        ));
    }
    if st.ssh_keys.iter().any(|k| k.public_key == public_key) {
        return Err(error(422, "SSH Key is already in use on your account"));
    }
    let key = FakeKey {
        id: st.id(),
        name,
        fingerprint: fingerprint(&public_key),
        public_key,
    };
    let a = ok(201, json!({ "ssh_key": key_json(&key) }));
    st.ssh_keys.push(key);
    Ok(a)
}

fn list_sizes(st: &DoState, path: &str, q: &Query) -> Answer {
    let items = SIZES
        .iter()
        .map(|(slug, memory, vcpus, disk, monthly, hourly)| {
            let regions: Vec<&str> = REGIONS
                .iter()
                .filter(|r| r.4.contains(slug))
                .map(|r| r.0)
                .collect();
            json!({
                "slug": slug, "memory": memory, "vcpus": vcpus, "disk": disk,
                "transfer": 1.0, "price_monthly": monthly, "price_hourly": hourly,
                "regions": regions, "available": true, "description": "Basic",
            })
        })
        .collect();
    page(st, path, q, "sizes", items)
}

fn list_regions(st: &DoState, path: &str, q: &Query) -> Answer {
    let items = REGIONS.iter().map(|r| region_json(r.0)).collect();
    page(st, path, q, "regions", items)
}

fn list_volumes(st: &DoState, path: &str, q: &Query) -> Answer {
    let name = param(q, "name");
    let region = param(q, "region");
    let items = st
        .volumes
        .iter()
        .filter(|v| name.is_none_or(|n| v.name == n))
        .filter(|v| region.is_none_or(|r| v.region == r))
        .map(volume_json)
        .collect();
    page(st, path, q, "volumes", items)
}

fn create_volume(st: &mut DoState, body: &Bytes) -> Result<Answer, Answer> {
    let b = json_body(body)?;
    let name = b["name"].as_str().unwrap_or_default().to_string();
    let region = b["region"].as_str().unwrap_or_default().to_string();
    let size = b["size_gigabytes"].as_u64().unwrap_or(0);
    if !valid_volume_name(&name) {
        return Err(error(
            422,
            "name must be lowercase letters, numbers and '-', begin with a letter",
        ));
    }
    if !REGIONS.iter().any(|r| r.0 == region && r.2 && r.3) {
        return Err(error(422, "region does not offer block storage"));
    }
    if !(1..=16_384).contains(&size) {
        return Err(error(422, "size_gigabytes must be between 1 and 16384"));
    }
    if st
        .volumes
        .iter()
        .any(|v| v.name == name && v.region == region)
    {
        return Err(error(
            409,
            &format!("a volume named {name} already exists in {region}"),
        ));
    }
    let v = FakeVolume {
        id: st.uuid(),
        name,
        region,
        size_gb: size,
        tags: strings(&b["tags"]),
        droplet_ids: Vec::new(),
        created_at: now(),
    };
    let a = ok(201, json!({ "volume": volume_json(&v) }));
    st.volumes.push(v);
    Ok(a)
}

fn delete_volume(st: &mut DoState, id: &str) -> Result<Answer, Answer> {
    let i = st
        .volumes
        .iter()
        .position(|v| v.id == id)
        .ok_or_else(not_found)?;
    if !st.volumes[i].droplet_ids.is_empty() {
        return Err(error(
            409,
            "This volume is attached to a Droplet; detach it first",
        ));
    }
    st.volumes.remove(i);
    Ok(empty(204))
}

fn list_droplets(st: &DoState, path: &str, q: &Query) -> Answer {
    let tag = param(q, "tag_name");
    let name = param(q, "name");
    let items = st
        .droplets
        .iter()
        .filter(|d| tag.is_none_or(|t| d.tags.iter().any(|x| x == t)))
        .filter(|d| name.is_none_or(|n| d.name == n))
        .map(droplet_json)
        .collect();
    page(st, path, q, "droplets", items)
}

fn create_droplet(st: &mut DoState, body: &Bytes) -> Result<Answer, Answer> {
    let b = json_body(body)?;
    let name = b["name"].as_str().unwrap_or_default().to_string();
    let region = b["region"].as_str().unwrap_or_default().to_string();
    let size = b["size"].as_str().unwrap_or_default().to_string();
    let image = match &b["image"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    };
    if name.is_empty() {
        return Err(error(422, "name is required"));
    }
    if image.is_empty() {
        return Err(error(422, "image is required"));
    }
    let Some(r) = REGIONS.iter().find(|r| r.0 == region && r.2) else {
        return Err(error(422, "region is not available"));
    };
    if !r.4.contains(&size.as_str()) {
        return Err(error(
            422,
            "You specified an invalid size for Droplet creation.",
        ));
    }
    if st.droplets.len() >= st.droplet_limit as usize {
        return Err(error(
            422,
            "creating this/these droplet(s) will exceed your droplet limit",
        ));
    }
    let volume_ids = strings(&b["volumes"]);
    for id in &volume_ids {
        let Some(v) = st.volumes.iter().find(|v| v.id == *id) else {
            return Err(error(422, &format!("volume {id} does not exist")));
        };
        if v.region != region {
            return Err(error(
                422,
                &format!("volume {id} is in {} and cannot be attached", v.region),
            ));
        }
        if !v.droplet_ids.is_empty() {
            return Err(error(
                422,
                &format!("volume {id} is already attached to a Droplet"),
            ));
        }
    }
    let d = FakeDroplet {
        id: st.id(),
        name,
        region,
        size,
        image,
        status: "new".into(),
        ipv4: None,
        ipv6: None,
        tags: strings(&b["tags"]),
        volume_ids: volume_ids.clone(),
        ssh_keys: b["ssh_keys"].as_array().cloned().unwrap_or_default(),
        user_data: b["user_data"].as_str().unwrap_or_default().to_string(),
        created_at: now(),
    };
    for v in st.volumes.iter_mut().filter(|v| volume_ids.contains(&v.id)) {
        v.droplet_ids = vec![d.id];
    }
    let action = st.id();
    let a = ok(
        202,
        json!({
            "droplet": droplet_json(&d),
            "links": { "actions": [{
                "id": action, "rel": "create",
                "href": format!("{REAL}/v2/actions/{action}"),
            }]},
        }),
    );
    st.created_droplets
        .push((d.id, d.tags.clone(), chrono::Utc::now().timestamp()));
    st.droplets.push(d);
    Ok(a)
}

/// A plain delete: the droplet goes, its volumes are detached and stay.
fn delete_droplet(st: &mut DoState, id: &str) -> Result<Answer, Answer> {
    let id = droplet_id(id).ok_or_else(not_found)?;
    let i = st
        .droplets
        .iter()
        .position(|d| d.id == id)
        .ok_or_else(not_found)?;
    st.droplets.remove(i);
    for v in &mut st.volumes {
        v.droplet_ids.retain(|d| *d != id);
    }
    Ok(empty(204))
}

/// The droplet and the volumes attached to it go.
fn destroy_dangerous(st: &mut DoState, id: &str, headers: &HeaderMap) -> Result<Answer, Answer> {
    let id = droplet_id(id).ok_or_else(not_found)?;
    let dangerous = headers
        .get("x-dangerous")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !dangerous {
        return Err(error(
            412,
            "X-Dangerous header must be set to true to destroy associated resources",
        ));
    }
    let i = st
        .droplets
        .iter()
        .position(|d| d.id == id)
        .ok_or_else(not_found)?;
    let d = st.droplets.remove(i);
    let at = now();
    let mut gone = Vec::new();
    st.volumes.retain(|v| {
        if v.droplet_ids.contains(&id) {
            gone.push(json!({ "id": v.id, "name": v.name, "destroyed_at": at }));
            false
        } else {
            true
        }
    });
    st.destroyed.insert(
        id,
        json!({
            "droplet": { "id": id.to_string(), "name": d.name, "destroyed_at": at },
            "resources": {
                "reserved_ips": [], "floating_ips": [], "snapshots": [],
                "volumes": gone, "volume_snapshots": [],
            },
            "completed_at": at,
            "failures": 0,
        }),
    );
    Ok(empty(202))
}

fn fqdn(name: &str, domain: &str) -> String {
    if name == "@" {
        domain.to_string()
    } else {
        format!("{name}.{domain}")
    }
}

fn list_records(st: &DoState, path: &str, domain: &str, q: &Query) -> Result<Answer, Answer> {
    let records = st.domains.get(domain).ok_or_else(not_found)?;
    // `name` is the fully qualified name, as for the real API.
    let name = param(q, "name");
    let kind = param(q, "type");
    let items = records
        .iter()
        .filter(|r| name.is_none_or(|n| fqdn(&r.name, domain) == n))
        .filter(|r| kind.is_none_or(|k| r.kind == k))
        .map(record_json)
        .collect();
    Ok(page(st, path, q, "domain_records", items))
}

fn create_record(st: &mut DoState, domain: &str, body: &Bytes) -> Result<Answer, Answer> {
    if !st.domains.contains_key(domain) {
        return Err(not_found());
    }
    let b = json_body(body)?;
    let kind = b["type"].as_str().unwrap_or_default().to_string();
    let name = b["name"].as_str().unwrap_or_default().to_string();
    let data = b["data"].as_str().unwrap_or_default().to_string();
    if name.is_empty() {
        return Err(error(422, "Name can't be blank"));
    }
    let valid = match kind.as_str() {
        "A" => data.parse::<Ipv4Addr>().is_ok(),
        "AAAA" => data.parse::<Ipv6Addr>().is_ok(),
        "CNAME" | "TXT" | "NS" | "MX" | "CAA" | "SRV" => !data.is_empty(),
        _ => return Err(error(422, &format!("Type {kind:?} is not a record type"))),
    };
    if !valid {
        return Err(error(422, &format!("Data is not a valid {kind} address")));
    }
    let r = FakeRecord {
        id: st.id(),
        kind,
        name,
        data,
        ttl: b["ttl"].as_u64().unwrap_or(1800),
    };
    let a = ok(201, json!({ "domain_record": record_json(&r) }));
    st.domains.get_mut(domain).unwrap().push(r);
    Ok(a)
}

fn delete_record(st: &mut DoState, domain: &str, id: &str) -> Result<Answer, Answer> {
    let id = droplet_id(id).ok_or_else(not_found)?;
    let records = st.domains.get_mut(domain).ok_or_else(not_found)?;
    let i = records
        .iter()
        .position(|r| r.id == id)
        .ok_or_else(not_found)?;
    records.remove(i);
    Ok(empty(204))
}
