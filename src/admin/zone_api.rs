//! Admin routes for the zone: status, promote, switchover, divergent (quarantined) writes,
//! and the replication health probe.

use super::state::{AdminState, ApiError, ApiResult};
use crate::store::records::QuarantineRecord;
use crate::zone::lease::Promotion;
use crate::zone::report::{report, ZoneReport};
use crate::zone::scrub::ScrubReport;
use crate::zone::verify::{VerifyRequest, VerifyState};
use crate::zone::{quarantine, PromotionReport};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bascule_api::{S3Error, S3ErrorCode};
use bascule_replication::protocol::ZoneInfo;
use bascule_replication::zone::Role;
use std::time::Duration;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/zone", get(status))
        .route("/zone/promote", post(promote))
        .route("/zone/scrub", get(scrub_report).post(scrub_now))
        .route("/zone/verify", get(verify_state).post(verify_now))
        .route("/zone/switchover", post(switchover))
        .route("/zone/divergent", get(divergent))
        .route("/zone/divergent/{id}", get(divergent_one))
        .route("/zone/divergent/{id}/data", get(divergent_data))
}

async fn status(State(s): State<AdminState>) -> Json<ZoneReport> {
    Json(report(&s.zone))
}

/// The scrub's progress and what it found (damaged objects, repaired or not).
async fn scrub_report(State(s): State<AdminState>) -> Json<ScrubReport> {
    Json(s.scrub.report(&s.config.scrub))
}

/// Starts a scrub pass now (one already under way goes on).
async fn scrub_now(State(s): State<AdminState>) -> Response {
    if s.config.scrub.bytes_per_second == 0 {
        return ApiError::Conflict("the scrub is off (scrub.bytes_per_second = 0)".into())
            .into_response();
    }
    s.scrub.wake.notify_one();
    (StatusCode::ACCEPTED, Json(s.scrub.report(&s.config.scrub))).into_response()
}

/// The verify under way (if any) and the last one's result.
async fn verify_state(State(s): State<AdminState>) -> Json<VerifyState> {
    Json(s.verify.status.state())
}

#[derive(serde::Deserialize)]
struct VerifyQuery {
    bucket: Option<String>,
    #[serde(default)]
    repair: bool,
}

/// Starts a verify (202); 409 when one runs, when there is no peer, or for a repair
/// asked of the primary.
async fn verify_now(State(s): State<AdminState>, Query(q): Query<VerifyQuery>) -> Response {
    let req = VerifyRequest {
        bucket: q.bucket,
        repair: q.repair,
        paced: false,
    };
    match s.verify.start(req) {
        Ok(()) => (StatusCode::ACCEPTED, Json(s.verify.status.state())).into_response(),
        Err(e) => ApiError::Conflict(e.to_string()).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct PromoteQuery {
    /// Skip the wait for the old primary's lease and the witness's agreement.
    #[serde(default)]
    force: bool,
}

async fn promote(
    State(s): State<AdminState>,
    Query(q): Query<PromoteQuery>,
) -> ApiResult<PromotionReport> {
    let kind = if q.force {
        Promotion::Forced
    } else {
        Promotion::Manual
    };
    Ok(Json(s.zone.promote(kind).await?))
}

#[derive(serde::Deserialize)]
struct SwitchoverQuery {
    /// How long the secondary gets to catch up before the switchover is abandoned.
    timeout_s: Option<u64>,
}

async fn switchover(
    State(s): State<AdminState>,
    Query(q): Query<SwitchoverQuery>,
) -> ApiResult<ZoneInfo> {
    let timeout = Duration::from_secs(q.timeout_s.unwrap_or(60).clamp(1, 3600));
    Ok(Json(s.zone.switchover(timeout).await?))
}

async fn divergent(State(s): State<AdminState>) -> ApiResult<Vec<QuarantineRecord>> {
    Ok(Json(quarantine::list(&s.store)?))
}

fn find(s: &AdminState, id: &str) -> Result<QuarantineRecord, ApiError> {
    quarantine::get(&s.store, id)?.ok_or_else(|| super::error::not_found("divergent write", id))
}

async fn divergent_one(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> ApiResult<QuarantineRecord> {
    Ok(Json(find(&s, &id)?))
}

/// The set-aside object's bytes, for an operator to recover.
pub async fn divergent_data(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let q = find(&s, &id)?;
    let rec = q
        .record
        .ok_or_else(|| super::error::not_found("divergent write with data", &id))?;
    let store = s.store.clone();
    let (segments, size) = (rec.segments.clone(), rec.size);
    // Sealed data is opened with the zone's keys; an SSE-C object cannot be (its key was
    // never stored) and is refused as a read without the key is.
    let keys = crate::crypt::Opener::new(s.keys.clone(), rec.encryption.clone(), None);
    let pieces = tokio::task::spawn_blocking(move || {
        crate::store::read::open_range(&store, &segments, 0, size, |seg, seal| {
            keys.key_of(seg, seal)
        })
    })
    .await
    .map_err(|_| ApiError::S3(S3Error::new(S3ErrorCode::InternalError)))?
    .map_err(ApiError::S3)?;
    let body: Body = crate::s3::get::stream_sources(pieces);
    let mut r = Response::new(body);
    r.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(size));
    if let Ok(v) = http::HeaderValue::from_str(&format!("\"{}\"", rec.etag)) {
        r.headers_mut().insert(http::header::ETAG, v);
    }
    Ok(r)
}

/// 200 when replication is healthy: a primary always; a secondary while it reaches its
/// primary and no entry keeps failing.
/// For load balancers: 200 only on the zone that takes writes now; 503 on a secondary,
/// a fenced primary or one handing over. One client endpoint (HAProxy) follows it
/// through promote, switchover and failback.
pub async fn writable_health(State(s): State<AdminState>) -> Response {
    let r = report(&s.zone);
    let body = format!(
        "role={} epoch={} fenced={}\n",
        r.role.as_str(),
        r.epoch,
        r.fenced
    );
    if s.store.zone.writable() {
        format!("writable {body}").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not writable {body}"),
        )
            .into_response()
    }
}

/// Why a zone that serves is not fine: a secondary that cannot reach or follow its
/// primary, or one in a full resync.
pub fn degraded(zone: &crate::zone::ZoneService) -> Option<String> {
    let r = report(zone);
    if r.role != Role::Secondary {
        return None;
    }
    if !r.peer_reachable {
        return Some("the primary is unreachable; reads may be stale".into());
    }
    // Failing since the last good contact (an entry's data cannot be fetched, say): the
    // long-poll may not have noticed the primary is gone.
    let last_contact = r.replication.last_contact_ms.unwrap_or(0);
    if let Some(e) = r
        .last_error
        .as_ref()
        .filter(|e| e.attempts >= 3 || e.at_ms > last_contact)
    {
        return Some(format!(
            "replication is failing ({} attempts): {}",
            e.attempts, e.message
        ));
    }
    if r.resync.is_some() {
        return Some("a full resync is in progress".into());
    }
    None
}

pub async fn replication_health(State(s): State<AdminState>) -> Response {
    let r = report(&s.zone);
    let failing = r.last_error.as_ref().is_some_and(|e| e.attempts >= 3);
    let ok = match r.role {
        Role::Primary => true,
        Role::Secondary => r.peer_reachable && !failing && r.resync.is_none(),
    };
    let body = format!(
        "role={} entries_pending={} oldest_pending_age_ms={} peer_reachable={}\n",
        r.role.as_str(),
        r.entries_pending,
        r.oldest_pending_age_ms,
        r.peer_reachable
    );
    if ok {
        body.into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}
