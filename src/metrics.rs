//! Prometheus metrics, one registry per app (so tests that run several apps
//! in one process each count their own calls).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Client {
    client: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobRun {
    job: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Request {
    /// The route's pattern (`/operation/{id}`), never the raw path.
    route: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Lookup {
    cache: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabel {
    job: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

fn job_histogram() -> Histogram {
    // 10 ms to about 11 min.
    Histogram::new(exponential_buckets(0.01, 4.0, 9))
}

/// The app's metrics.
pub struct Metrics {
    registry: Registry,
    client_calls: Family<Client, Counter>,
    job_runs: Family<JobRun, Counter>,
    operations: Family<StateLabel, Gauge>,
    page_views: Counter,
    client_errors: Family<Client, Counter>,
    requests: Family<Request, Counter>,
    cache_lookups: Family<Lookup, Counter>,
    job_seconds: Family<JobLabel, Histogram, fn() -> Histogram>,
    job_last_success: Family<JobLabel, Gauge>,
    payouts_sent: Family<KindLabel, Counter>,
    xmr_held: Gauge,
    accounts_known: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("nodecannon");
        let client_calls = Family::<Client, Counter>::default();
        let job_runs = Family::<JobRun, Counter>::default();
        let operations = Family::<StateLabel, Gauge>::default();
        let page_views = Counter::default();
        let client_errors = Family::<Client, Counter>::default();
        let requests = Family::<Request, Counter>::default();
        let cache_lookups = Family::<Lookup, Counter>::default();
        let job_seconds =
            Family::<JobLabel, Histogram, fn() -> Histogram>::new_with_constructor(job_histogram);
        let payouts_sent = Family::<KindLabel, Counter>::default();
        let job_last_success = Family::<JobLabel, Gauge>::default();
        registry.register(
            "job_last_success_timestamp_seconds",
            "When each job last finished a pass without errors (unix seconds)",
            job_last_success.clone(),
        );
        let xmr_held = Gauge::default();
        let accounts_known = Gauge::default();
        registry.register(
            "client_calls",
            "Calls to external clients (wallet, cloud, price, node)",
            client_calls.clone(),
        );
        registry.register("job_runs", "Job passes by outcome", job_runs.clone());
        registry.register("operations", "Operations by state", operations.clone());
        registry.register("page_views", "Public pages rendered", page_views.clone());
        registry.register(
            "client_errors",
            "Failed calls to external clients, by service",
            client_errors.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route pattern and status",
            requests.clone(),
        );
        registry.register(
            "cache_lookups",
            "Cache lookups by cache and outcome (hit, miss)",
            cache_lookups.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "How long job passes took",
            job_seconds.clone(),
        );
        registry.register(
            "payouts_sent",
            "Transactions relayed since start, by kind (hosting, refund)",
            payouts_sent.clone(),
        );
        registry.register(
            "xmr_held_piconero",
            "Balance of the operations' accounts as last read (piconero)",
            xmr_held.clone(),
        );
        registry.register(
            "xmr_accounts_known",
            "Accounts whose balance is in xmr_held_piconero",
            accounts_known.clone(),
        );
        Self {
            registry,
            client_calls,
            job_runs,
            operations,
            page_views,
            client_errors,
            requests,
            cache_lookups,
            job_seconds,
            job_last_success,
            payouts_sent,
            xmr_held,
            accounts_known,
        }
    }
}

impl Metrics {
    /// Counts one call to an external client.
    pub fn client_call(&self, client: &'static str) {
        self.client_calls.get_or_create(&Client { client }).inc();
    }
    /// Calls so far to one client.
    pub fn client_calls(&self, client: &'static str) -> u64 {
        self.client_calls.get_or_create(&Client { client }).get()
    }
    /// Counts one job pass.
    pub fn job_run(&self, job: &'static str, ok: bool) {
        self.job_runs
            .get_or_create(&JobRun {
                job,
                outcome: if ok { "ok" } else { "error" },
            })
            .inc();
    }
    /// Passes of `job` so far, whatever their outcome.
    pub fn job_runs(&self, job: &'static str) -> u64 {
        ["ok", "error"]
            .iter()
            .map(|outcome| self.job_runs.get_or_create(&JobRun { job, outcome }).get())
            .sum()
    }
    /// Records when `job` last finished a pass without errors.
    pub fn job_succeeded(&self, job: &'static str, at: i64) {
        self.job_last_success
            .get_or_create(&JobLabel { job })
            .set(at);
    }
    /// Sets the number of operations in a state.
    pub fn set_operations(&self, state: &'static str, n: i64) {
        self.operations.get_or_create(&StateLabel { state }).set(n);
    }
    /// Counts one failed call to an external client.
    pub fn client_error(&self, client: &'static str) {
        self.client_errors.get_or_create(&Client { client }).inc();
    }
    /// Counts one HTTP request.
    pub fn request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&Request {
                route: route.to_string(),
                status: status.to_string(),
            })
            .inc();
    }
    /// Counts one cache lookup.
    pub fn cache_lookup(&self, cache: &'static str, hit: bool) {
        self.cache_lookups
            .get_or_create(&Lookup {
                cache,
                outcome: if hit { "hit" } else { "miss" },
            })
            .inc();
    }
    /// Lookups of `cache` so far that hit (or missed).
    pub fn cache_lookups(&self, cache: &'static str, hit: bool) -> u64 {
        self.cache_lookups
            .get_or_create(&Lookup {
                cache,
                outcome: if hit { "hit" } else { "miss" },
            })
            .get()
    }
    /// Records how long a job pass took.
    pub fn job_duration(&self, job: &'static str, secs: f64) {
        self.job_seconds
            .get_or_create(&JobLabel { job })
            .observe(secs);
    }
    /// Counts one relayed transaction.
    pub fn payout_sent(&self, kind: &'static str) {
        self.payouts_sent.get_or_create(&KindLabel { kind }).inc();
    }
    /// Sets the XMR held in the accounts as last read, and how many accounts that is.
    pub fn set_xmr_held(&self, piconero: u64, accounts: u64) {
        self.xmr_held
            .set(i64::try_from(piconero).unwrap_or(i64::MAX));
        self.accounts_known
            .set(i64::try_from(accounts).unwrap_or(i64::MAX));
    }
    /// Counts a page view.
    pub fn page_view(&self) {
        self.page_views.inc();
    }
    /// The Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
