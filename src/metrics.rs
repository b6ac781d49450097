//! Prometheus metrics, one registry per app (so tests that run several apps
//! in one process each count their own calls).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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

/// The app's metrics.
pub struct Metrics {
    registry: Registry,
    client_calls: Family<Client, Counter>,
    job_runs: Family<JobRun, Counter>,
    operations: Family<StateLabel, Gauge>,
    page_views: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("nodecannon");
        let client_calls = Family::<Client, Counter>::default();
        let job_runs = Family::<JobRun, Counter>::default();
        let operations = Family::<StateLabel, Gauge>::default();
        let page_views = Counter::default();
        registry.register(
            "client_calls",
            "Calls to external clients (wallet, cloud, price, node)",
            client_calls.clone(),
        );
        registry.register("job_runs", "Job passes by outcome", job_runs.clone());
        registry.register("operations", "Operations by state", operations.clone());
        registry.register("page_views", "Public pages rendered", page_views.clone());
        Self {
            registry,
            client_calls,
            job_runs,
            operations,
            page_views,
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
    /// Sets the number of operations in a state.
    pub fn set_operations(&self, state: &'static str, n: i64) {
        self.operations.get_or_create(&StateLabel { state }).set(n);
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
