//! Prometheus metrics on the admin listener (`GET /metrics`): the zone's role, epoch and
//! replication lag, read fresh from the zone report on each scrape.

use super::api::AdminState;
use crate::zone::report::report;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bascule_replication::zone::Role;
use prometheus::{Encoder, IntGauge, Registry, TextEncoder};

fn gauge(registry: &Registry, name: &str, help: &str, value: i64) {
    if let Ok(g) = IntGauge::new(name, help) {
        g.set(value);
        let _ = registry.register(Box::new(g));
    }
}

pub async fn render(State(s): State<AdminState>) -> Response {
    let r = report(&s.zone);
    let registry = Registry::new();
    let as_i64 = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let g = |name: &str, help: &str, v: u64| gauge(&registry, name, help, as_i64(v));
    g(
        "bascule_zone_primary",
        "1 when this zone is primary",
        u64::from(r.role == Role::Primary),
    );
    g(
        "bascule_zone_fenced",
        "1 when this zone refuses writes while primary",
        u64::from(r.fenced),
    );
    g("bascule_zone_epoch", "The zone's epoch", r.epoch);
    g(
        "bascule_journal_last_seq",
        "This zone's last journal sequence number",
        r.last_seq,
    );
    g(
        "bascule_replication_peer_reachable",
        "1 when the last call to the peer succeeded",
        u64::from(r.peer_reachable),
    );
    g(
        "bascule_replication_entries_pending",
        "Journal entries not yet on the secondary",
        r.entries_pending,
    );
    g(
        "bascule_replication_bytes_pending",
        "Object bytes not yet on the secondary",
        r.bytes_pending,
    );
    g(
        "bascule_replication_oldest_pending_age_ms",
        "Age of the oldest entry not yet applied on the secondary",
        r.oldest_pending_age_ms,
    );
    g(
        "bascule_replication_entries_applied",
        "Entries applied here since start",
        r.replication.entries_applied,
    );
    g(
        "bascule_replication_bytes_fetched",
        "Object bytes fetched from the peer since start",
        r.replication.bytes_fetched,
    );
    g(
        "bascule_replication_failing_attempts",
        "Consecutive failed attempts of the current entry",
        r.last_error
            .as_ref()
            .map(|e| u64::from(e.attempts))
            .unwrap_or(0),
    );
    g(
        "bascule_replication_divergent_writes",
        "Divergent writes set aside in quarantine",
        r.divergent as u64,
    );
    if let Some(l) = &r.replication.lag_ms {
        g(
            "bascule_replication_lag_p99_ms",
            "p99 replication lag of recent entries",
            l.p99,
        );
        g(
            "bascule_replication_lag_p50_ms",
            "p50 replication lag of recent entries",
            l.p50,
        );
    }
    let mut out = Vec::new();
    if TextEncoder::new()
        .encode(&registry.gather(), &mut out)
        .is_err()
    {
        return (
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "cannot encode metrics",
        )
            .into_response();
    }
    ([(http::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], out).into_response()
}
