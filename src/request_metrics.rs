//! S3 request metrics, counted as requests finish and exported on `/metrics`: requests by
//! operation and status class, latency by operation, errors by S3 code, bytes in and out,
//! requests in flight. Label values come from closed sets (operation names, status
//! classes, S3 error codes), so their number is bounded whatever clients send.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};
use std::sync::LazyLock;

/// One operation's series, looked up once: a request then costs a few atomic additions,
/// not a hash of its label values.
struct OperationSeries {
    name: &'static str,
    by_class: [IntCounter; 5],
    duration: Histogram,
}

pub struct RequestMetrics {
    registry: Registry,
    /// `None` only if the metric definitions were refused (a bug): requests are then
    /// served uncounted rather than failing.
    series: Option<Series>,
}

struct Series {
    requests: IntCounterVec,
    duration: HistogramVec,
    /// By `Endpoint::ordinal`, plus one slot for requests refused before resolution.
    operations: Vec<std::sync::OnceLock<OperationSeries>>,
    errors: IntCounterVec,
    bytes_in: IntCounter,
    bytes_out: IntCounter,
    in_flight: IntGauge,
}

/// The process's one set of request metrics (both listeners live in one process).
pub static REQUESTS: LazyLock<RequestMetrics> = LazyLock::new(RequestMetrics::new);

/// Seconds; S3 requests range from sub-millisecond reads to multi-second uploads.
pub const LATENCY_BOUNDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

impl Series {
    fn build(registry: &Registry) -> prometheus::Result<Series> {
        let requests = IntCounterVec::new(
            Opts::new(
                "bascule_s3_requests_total",
                "S3 requests answered, by operation and status class",
            ),
            &["operation", "status"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "bascule_s3_request_duration_seconds",
                "Time to answer an S3 request (to the response head), by operation",
            )
            .buckets(LATENCY_BOUNDS.to_vec()),
            &["operation"],
        )?;
        let errors = IntCounterVec::new(
            Opts::new(
                "bascule_s3_errors_total",
                "S3 error responses, by S3 error code",
            ),
            &["code"],
        )?;
        let bytes_in = IntCounter::new(
            "bascule_s3_received_bytes_total",
            "Request body bytes announced by S3 requests",
        )?;
        let bytes_out = IntCounter::new(
            "bascule_s3_sent_bytes_total",
            "Response body bytes of S3 responses",
        )?;
        let in_flight = IntGauge::new(
            "bascule_s3_requests_in_flight",
            "S3 requests being answered now",
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(errors.clone()))?;
        registry.register(Box::new(bytes_in.clone()))?;
        registry.register(Box::new(bytes_out.clone()))?;
        registry.register(Box::new(in_flight.clone()))?;
        Ok(Series {
            requests,
            duration,
            operations: (0..=crate::s3::endpoint::Endpoint::COUNT)
                .map(|_| std::sync::OnceLock::new())
                .collect(),
            errors,
            bytes_in,
            bytes_out,
            in_flight,
        })
    }
}

impl RequestMetrics {
    fn new() -> RequestMetrics {
        let registry = Registry::new();
        let series = match Series::build(&registry) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "request metrics unavailable");
                None
            }
        };
        RequestMetrics { registry, series }
    }

    /// Counts a request in flight until the returned guard is dropped.
    pub fn start(&self) -> InFlight<'_> {
        let gauge = self.series.as_ref().map(|s| &s.in_flight);
        if let Some(g) = gauge {
            g.inc();
        }
        InFlight(gauge)
    }

    pub fn observe(&self, finished: &Finished) {
        use crate::s3::endpoint::Endpoint;
        let Some(s) = &self.series else { return };
        let (slot, name) = match finished.operation {
            Some(e) => (e.ordinal(), e.name()),
            None => (Endpoint::COUNT, "Unresolved"),
        };
        let Some(cell) = s.operations.get(slot) else {
            return;
        };
        let series = cell.get_or_init(|| OperationSeries {
            name,
            by_class: CLASSES.map(|c| s.requests.with_label_values(&[name, c])),
            duration: s.duration.with_label_values(&[name]),
        });
        let class = usize::from((finished.status / 100).clamp(1, 5)) - 1;
        series.by_class[class].inc();
        series.duration.observe(finished.seconds);
        if let Some(code) = finished.error {
            s.errors.with_label_values(&[code]).inc();
        }
        s.bytes_in.inc_by(finished.bytes_in);
        s.bytes_out.inc_by(finished.bytes_out);
    }

    /// The counters as they stand (the dashboard's charts take differences of these).
    pub fn totals(&self) -> Totals {
        use prometheus::core::Metric;
        let mut t = Totals {
            latency: vec![0; LATENCY_BOUNDS.len() + 1],
            ..Totals::default()
        };
        let Some(s) = &self.series else { return t };
        for series in s.operations.iter().filter_map(|c| c.get()) {
            let [_, _, _, client, server] = &series.by_class;
            let requests = series.by_class.iter().map(|c| c.get()).sum();
            t.operations
                .push((series.name, requests, client.get() + server.get()));
            let h = series.duration.metric();
            let buckets = h.get_histogram().get_bucket();
            for (slot, b) in t.latency.iter_mut().zip(buckets) {
                *slot += b.cumulative_count();
            }
            if let Some(all) = t.latency.last_mut() {
                *all += series.duration.get_sample_count();
            }
        }
        t.bytes_in = s.bytes_in.get();
        t.bytes_out = s.bytes_out.get();
        t
    }

    pub fn gather(&self) -> Vec<prometheus::proto::MetricFamily> {
        self.registry.gather()
    }
}

/// Request counters at one moment.
#[derive(Clone, Default)]
pub struct Totals {
    /// Operation name, requests, error answers (4xx and 5xx).
    pub operations: Vec<(&'static str, u64, u64)>,
    /// Requests answered within each of `LATENCY_BOUNDS` (cumulative), then all of them.
    pub latency: Vec<u64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// One finished request, as the metrics count it.
pub struct Finished {
    /// `None` when the request was refused before its operation was known.
    pub operation: Option<crate::s3::endpoint::Endpoint>,
    pub status: u16,
    pub error: Option<&'static str>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub seconds: f64,
}

pub struct InFlight<'a>(Option<&'a IntGauge>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.0 {
            g.dec();
        }
    }
}
