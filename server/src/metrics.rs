//! Prometheus metrics, served as text on a separate HTTP port (`GET /metrics`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use custval_proto::code_name;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tonic::Code;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~100 s.
    Histogram::new(exponential_buckets(5e-5, 2.0, 22))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<MethodLabels, Histogram, fn() -> Histogram>,
    in_flight: Gauge,
    work_running: Gauge,
    queued: Gauge,
    shed: Counter,
    customers_scored: Counter,
    customers_fitted: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("custval");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<MethodLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let in_flight = Gauge::default();
        let work_running = Gauge::default();
        let queued = Gauge::default();
        let shed = Counter::default();
        let customers_scored = Counter::default();
        let customers_fitted = Counter::default();
        registry.register(
            "requests",
            "gRPC requests by method and status code",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "gRPC request latency by method (streams: until the last message)",
            latency.clone(),
        );
        registry.register(
            "requests_in_flight",
            "gRPC requests admitted and running (holding a place under the limit)",
            in_flight.clone(),
        );
        registry.register(
            "request_work_running",
            "pieces of request work running on the blocking pool (fits, segmentations, large \
             scores, chunks); work whose request was cancelled counts until it has stopped",
            work_running.clone(),
        );
        registry.register(
            "requests_queued",
            "gRPC requests waiting for a place under the limit",
            queued.clone(),
        );
        registry.register(
            "requests_shed",
            "gRPC requests shed with RESOURCE_EXHAUSTED (queue full or wait too long)",
            shed.clone(),
        );
        registry.register(
            "customers_scored",
            "customers scored by Score and ScoreStream",
            customers_scored.clone(),
        );
        registry.register(
            "customers_fitted",
            "customers in successful fits",
            customers_fitted.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            in_flight,
            work_running,
            queued,
            shed,
            customers_scored,
            customers_fitted,
        }
    }

    /// Counts a finished request.
    pub fn observe(&self, method: &str, code: Code, elapsed: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.to_owned(),
                code: code_name(code).to_owned(),
            })
            .inc();
        self.latency
            .get_or_create(&MethodLabels {
                method: method.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Marks a request in flight until the guard drops.
    pub fn in_flight(self: &Arc<Self>) -> InFlight {
        self.in_flight.inc();
        InFlight(self.clone())
    }

    /// Counts a piece of request work running on the blocking pool until the guard drops.
    pub fn work_running(self: &Arc<Self>) -> WorkRunning {
        self.work_running.inc();
        WorkRunning(self.clone())
    }

    /// The number of requests waiting for a place (set by admission's queue as it changes).
    pub fn set_queued(&self, waiting: usize) {
        self.queued.set(i64::try_from(waiting).unwrap_or(i64::MAX));
    }

    pub fn shed(&self) {
        self.shed.inc();
    }

    pub fn scored(&self, customers: usize) {
        self.customers_scored.inc_by(customers as u64);
    }

    pub fn fitted(&self, customers: usize) {
        self.customers_fitted.inc_by(customers as u64);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[derive(Debug)]
pub struct InFlight(Arc<Metrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.dec();
    }
}

#[derive(Debug)]
pub struct WorkRunning(Arc<Metrics>);

impl Drop for WorkRunning {
    fn drop(&mut self) {
        self.0.work_running.dec();
    }
}

/// Serves `GET /metrics` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        "content-type",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_latency_and_counts() {
        let m = Arc::new(Metrics::new());
        m.observe("Score", Code::Ok, Duration::from_micros(300));
        m.observe("Score", Code::InvalidArgument, Duration::from_micros(80));
        m.scored(42);
        let guard = m.in_flight();
        let text = m.render();
        assert!(
            text.contains(r#"custval_requests_total{method="Score",code="OK"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"code="INVALID_ARGUMENT""#));
        assert!(text.contains("custval_customers_scored_total 42"));
        assert!(text.contains("custval_requests_in_flight 1"));
        assert!(text.contains("custval_request_duration_seconds_bucket"));
        drop(guard);
        assert!(m.render().contains("custval_requests_in_flight 0"));
    }
}
