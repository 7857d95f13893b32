//! Prometheus metrics on the admin listener (`GET /metrics`), in the text format that
//! `promtool check metrics` accepts:
//! - S3 requests, latency, errors and bytes (`request_metrics`, counted as requests end);
//! - the zone: role, epoch, journal position; replication figures only where there is a
//!   peer (a standalone zone has no lag to alarm on), counters as `_total`, ages in
//!   seconds;
//! - space: free and total bytes of each directory the store writes;
//! - multipart uploads in progress, and objects and bytes of all buckets, from the counters
//!   kept with every change (no scan); per-bucket series only when
//!   `metrics.bucket_labels` asks for them (bucket names can be private), for at most
//!   `MAX_BUCKET_SERIES` buckets so the label set stays bounded;
//! - build information and the process's own figures (memory, CPU, file descriptors).

use super::state::AdminState;
use crate::zone::report::report;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bascule_replication::zone::Role;
use prometheus::{
    Encoder, Gauge, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Buckets given their own series; the rest are summed in `bascule_buckets_*`.
const MAX_BUCKET_SERIES: usize = 100;

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// One scrape's zone, space and bucket figures (request metrics live across scrapes).
struct Scrape {
    registry: Registry,
}

impl Scrape {
    fn gauge(&self, name: &str, help: &str, value: u64) {
        if let Ok(g) = IntGauge::new(name, help) {
            g.set(as_i64(value));
            let _ = self.registry.register(Box::new(g));
        }
    }

    fn seconds(&self, name: &str, help: &str, ms: u64) {
        if let Ok(g) = Gauge::new(name, help) {
            g.set(ms as f64 / 1000.0);
            let _ = self.registry.register(Box::new(g));
        }
    }

    /// A counter kept by the process (replication status), exported at its value.
    fn counter(&self, name: &str, help: &str, value: u64) {
        if let Ok(c) = IntCounter::new(name, help) {
            c.inc_by(value);
            let _ = self.registry.register(Box::new(c));
        }
    }

    fn labelled_counter(&self, name: &str, help: &str, label: &str, values: &[(&str, u64)]) {
        if let Ok(c) = IntCounterVec::new(Opts::new(name, help), &[label]) {
            for (l, v) in values {
                c.with_label_values(&[*l]).inc_by(*v);
            }
            let _ = self.registry.register(Box::new(c));
        }
    }

    fn labelled(&self, name: &str, help: &str, label: &str, values: &[(String, u64)]) {
        if let Ok(g) = IntGaugeVec::new(Opts::new(name, help), &[label]) {
            for (l, v) in values {
                g.with_label_values(&[l.as_str()]).set(as_i64(*v));
            }
            let _ = self.registry.register(Box::new(g));
        }
    }
}

fn zone_metrics(m: &Scrape, s: &AdminState) {
    let r = report(&s.zone);
    m.gauge(
        "bascule_zone_primary",
        "1 when this zone is primary",
        u64::from(r.role == Role::Primary),
    );
    m.gauge(
        "bascule_zone_fenced",
        "1 when this zone refuses writes while primary",
        u64::from(r.fenced),
    );
    m.gauge(
        "bascule_zone_writable",
        "1 when this zone takes writes now (primary, not fenced, not handing over)",
        u64::from(s.store.zone.writable()),
    );
    m.gauge("bascule_zone_epoch", "The zone's epoch", r.epoch);
    m.gauge(
        "bascule_journal_last_seq",
        "This zone's last journal sequence number",
        r.last_seq,
    );
    if r.peer.is_none() {
        return;
    }
    lease_metrics(m, &r.lease);
    m.gauge(
        "bascule_replication_peer_reachable",
        "1 when the last call to the peer zone succeeded",
        u64::from(r.peer_reachable),
    );
    m.gauge(
        "bascule_replication_entries_pending",
        "Journal entries not yet on the secondary",
        r.entries_pending,
    );
    m.gauge(
        "bascule_replication_bytes_pending",
        "Object bytes not yet on the secondary",
        r.bytes_pending,
    );
    m.seconds(
        "bascule_replication_oldest_pending_age_seconds",
        "Age of the oldest entry not yet applied on the secondary",
        r.oldest_pending_age_ms,
    );
    m.counter(
        "bascule_replication_entries_applied_total",
        "Journal entries applied here since start",
        r.replication.entries_applied,
    );
    m.counter(
        "bascule_replication_fetched_bytes_total",
        "Object bytes fetched from the peer since start",
        r.replication.bytes_fetched,
    );
    m.gauge(
        "bascule_replication_failing_attempts",
        "Consecutive failed attempts at the current entry (0 when replication works)",
        r.last_error
            .as_ref()
            .map(|e| u64::from(e.attempts))
            .unwrap_or(0),
    );
    m.gauge(
        "bascule_replication_divergent_writes",
        "Divergent writes set aside in quarantine",
        r.divergent as u64,
    );
    m.gauge(
        "bascule_replication_resync_running",
        "1 while a full resync runs",
        u64::from(r.resync.is_some()),
    );
    if let Some(l) = &r.replication.lag_ms {
        m.seconds(
            "bascule_replication_lag_p99_seconds",
            "p99 replication lag of recent entries",
            l.p99,
        );
        m.seconds(
            "bascule_replication_lag_p50_seconds",
            "p50 replication lag of recent entries",
            l.p50,
        );
    }
}

fn lease_metrics(m: &Scrape, l: &crate::zone::report::LeaseView) {
    m.gauge(
        "bascule_lease_held",
        "1 when this primary holds its write lease (acknowledges client writes)",
        u64::from(l.held),
    );
    m.seconds(
        "bascule_lease_remaining_seconds",
        "Time left on the write lease this zone holds",
        l.ms_left,
    );
    let up: Vec<(String, u64)> = l
        .grantors
        .iter()
        .map(|g| (g.name.to_string(), u64::from(g.reachable)))
        .collect();
    m.labelled(
        "bascule_lease_grantor_up",
        "1 when the grantor (peer or witness) answered the last lease request",
        "grantor",
        &up,
    );
    let granting: Vec<(String, u64)> = l
        .grantors
        .iter()
        .map(|g| (g.name.to_string(), u64::from(g.granted)))
        .collect();
    m.labelled(
        "bascule_lease_grantor_granted",
        "1 when the grantor granted the last lease request",
        "grantor",
        &granting,
    );
    if let Some(at) = l.last_denial_at_ms {
        m.gauge(
            "bascule_lease_last_denial_timestamp_seconds",
            "When a grantor last denied this zone the lease (Unix time)",
            at / 1000,
        );
    }
}

fn space_metrics(m: &Scrape, s: &AdminState) {
    let mut free = Vec::new();
    let mut total = Vec::new();
    for dir in s.store.directories() {
        if let Ok((f, t)) = crate::store::blob::disk_space(&dir) {
            let label = dir.display().to_string();
            free.push((label.clone(), f));
            total.push((label, t));
        }
    }
    m.labelled(
        "bascule_disk_free_bytes",
        "Free bytes on the filesystem of each directory the store writes",
        "dir",
        &free,
    );
    m.labelled(
        "bascule_disk_size_bytes",
        "Size of the filesystem of each directory the store writes",
        "dir",
        &total,
    );
}

fn bucket_metrics(m: &Scrape, s: &AdminState) {
    let Ok(buckets) = s.store.buckets() else {
        return;
    };
    let (mut objects, mut bytes) = (Vec::new(), Vec::new());
    let (mut all_objects, mut all_bytes, mut all_versions) = (0u64, 0u64, 0u64);
    for (i, b) in buckets.iter().enumerate() {
        let u = s.store.usage(&b.name).unwrap_or_default();
        let (o, n) = (u.objects, u.bytes);
        all_versions += u.versions;
        all_objects += o;
        all_bytes += n;
        if s.config.metrics.bucket_labels && i < MAX_BUCKET_SERIES {
            objects.push((b.name.clone(), o));
            bytes.push((b.name.clone(), n));
        }
    }
    m.gauge(
        "bascule_buckets",
        "Buckets in this zone",
        buckets.len() as u64,
    );
    if let Ok(n) = s.store.uploads_in_progress() {
        m.gauge(
            "bascule_multipart_uploads_in_progress",
            "Multipart uploads started and not yet completed or aborted",
            n,
        );
    }
    m.gauge(
        "bascule_buckets_objects",
        "Current objects in all buckets",
        all_objects,
    );
    m.gauge(
        "bascule_buckets_bytes",
        "Bytes in all buckets, every version counted",
        all_bytes,
    );
    m.gauge(
        "bascule_buckets_noncurrent_versions",
        "Noncurrent versions and delete markers in all buckets",
        all_versions,
    );
    m.labelled(
        "bascule_bucket_objects",
        "Objects per bucket (the first 100 buckets by name)",
        "bucket",
        &objects,
    );
    m.labelled(
        "bascule_bucket_bytes",
        "Bytes per bucket (the first 100 buckets by name)",
        "bucket",
        &bytes,
    );
}

fn scrub_metrics(m: &Scrape, s: &AdminState) {
    let r = s.scrub.report(&s.config.scrub);
    m.counter(
        "bascule_scrub_bytes_checked_total",
        "Stored bytes the scrub re-read and found intact since the process started",
        r.bytes_checked,
    );
    m.counter(
        "bascule_scrub_damaged_total",
        "Damaged segments (corrupt, truncated or missing data) the scrub found since the process started",
        r.damaged_found,
    );
    m.counter(
        "bascule_scrub_repaired_total",
        "Damaged segments repaired from the peer zone since the process started",
        r.repaired,
    );
    m.gauge(
        "bascule_scrub_unrepaired",
        "Damaged segments found and not repaired: these objects answer errors until repaired",
        r.unrepaired,
    );
    m.counter(
        "bascule_scrub_passes_completed_total",
        "Complete scrub passes over every stored object (kept across restarts)",
        r.passes_completed,
    );
}

fn verify_metrics(m: &Scrape, s: &AdminState) {
    let st = s.verify.status.state();
    m.counter(
        "bascule_verify_runs_total",
        "Cross-zone verifies completed since the process started",
        st.runs,
    );
    m.counter(
        "bascule_verify_repaired_total",
        "Keys cross-zone verifies repaired on the secondary since the process started",
        s.verify
            .status
            .repaired
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    m.gauge(
        "bascule_verify_running",
        "1 while a cross-zone verify runs",
        st.running as u64,
    );
    let Some(last) = st.last else { return };
    m.seconds(
        "bascule_verify_last_finished_timestamp_seconds",
        "When the last cross-zone verify ended (Unix time)",
        last.finished_ms,
    );
    m.seconds(
        "bascule_verify_last_duration_seconds",
        "How long the last cross-zone verify took",
        last.finished_ms.saturating_sub(last.started_ms),
    );
    m.gauge(
        "bascule_verify_last_failed",
        "1 when the last cross-zone verify could not finish (see the admin API for why)",
        last.error.is_some() as u64,
    );
    m.labelled(
        "bascule_verify_last_differences",
        "Differences the last cross-zone verify found, by kind (versions missing on the secondary, extra there, different; settings)",
        "kind",
        &[
            ("missing".to_string(), last.missing.count),
            ("extra".to_string(), last.extra.count),
            ("different".to_string(), last.different.count),
            ("settings".to_string(), last.settings.count),
        ],
    );
}

fn lifecycle_metrics(m: &Scrape, s: &AdminState) {
    let r = s
        .lifecycle
        .report(&s.config.lifecycle, s.store.zone.writable());
    m.labelled_counter(
        "bascule_lifecycle_actions_total",
        "Changes the lifecycle worker made since the process started, by kind",
        "action",
        &[
            ("expire_object", r.objects_expired),
            ("remove_noncurrent_version", r.versions_removed),
            ("remove_delete_marker", r.delete_markers_removed),
            ("abort_upload", r.uploads_aborted),
        ],
    );
    m.counter(
        "bascule_lifecycle_keys_examined_total",
        "Keys the lifecycle worker looked at since the process started",
        r.keys_examined,
    );
    m.counter(
        "bascule_lifecycle_passes_completed_total",
        "Complete lifecycle passes over the buckets with rules (kept across restarts)",
        r.passes_completed,
    );
    m.counter(
        "bascule_lifecycle_errors_total",
        "Lifecycle passes interrupted by an error",
        r.errors,
    );
    m.gauge(
        "bascule_lifecycle_running",
        "1 when this zone runs lifecycle (it takes writes), else 0",
        r.running_here as u64,
    );
}

fn bucket_logging_metrics(m: &Scrape) {
    use crate::s3::logging::batches::{DELIVERED_OBJECTS, DROPPED_RECORDS};
    use std::sync::atomic::Ordering;
    m.counter(
        "bascule_bucket_logging_delivered_objects_total",
        "Server access log objects delivered since the process started",
        DELIVERED_OBJECTS.load(Ordering::Relaxed),
    );
    m.counter(
        "bascule_bucket_logging_dropped_records_total",
        "Server access log records that could not be delivered (no writes on this zone, no permission, target gone, too many waiting)",
        DROPPED_RECORDS.load(Ordering::Relaxed),
    );
}

fn encryption_metrics(m: &Scrape) {
    use std::sync::atomic::Ordering;
    m.counter(
        "bascule_encryption_key_unavailable_total",
        "Requests refused because this zone cannot open the key protecting the data (a key or master key the zone lacks)",
        crate::crypt::UNAVAILABLE_KEY_REFUSALS.load(Ordering::Relaxed),
    );
}

fn build_metrics(m: &Scrape) {
    if let Ok(g) = IntGaugeVec::new(
        Opts::new("bascule_build_info", "The running build (always 1)"),
        &["version"],
    ) {
        g.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let _ = m.registry.register(Box::new(g));
    }
    let _ = m.registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ));
}

pub async fn render(State(s): State<AdminState>, headers: http::HeaderMap) -> Response {
    if let Some(token) = &s.config.metrics.token {
        let given = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bascule_api::sigv4::signatures_match(token, given.trim()) {
            return (
                http::StatusCode::UNAUTHORIZED,
                [(http::header::WWW_AUTHENTICATE, "Bearer")],
                "a valid metrics bearer token is required\n",
            )
                .into_response();
        }
    }
    let m = Scrape {
        registry: Registry::new(),
    };
    zone_metrics(&m, &s);
    space_metrics(&m, &s);
    bucket_metrics(&m, &s);
    lifecycle_metrics(&m, &s);
    scrub_metrics(&m, &s);
    verify_metrics(&m, &s);
    bucket_logging_metrics(&m);
    encryption_metrics(&m);
    build_metrics(&m);
    let mut families = m.registry.gather();
    families.extend(crate::request_metrics::REQUESTS.gather());
    let mut out = Vec::new();
    if TextEncoder::new().encode(&families, &mut out).is_err() {
        return (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode metrics",
        )
            .into_response();
    }
    ([(http::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], out).into_response()
}
