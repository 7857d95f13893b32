//! The zone-to-zone routes (`/replication/v1/...` on the admin listener). Every call must
//! carry the shared secret; every call also carries the caller's epoch, and a primary that
//! sees a higher one stops taking writes before it answers (fencing).

use super::verify::LocalSide;
use super::{ZoneError, ZoneService};
use crate::store::read::open_stored;
use crate::store::StoreError;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bascule_replication::lease::LeaseRequest;
use bascule_replication::protocol::{
    JournalPage, ObjectPage, PromoteRequest, ProtocolError, EPOCH_HEADER,
};
use bascule_replication::verify::{KeysRequest, RangesRequest, RecordsRequest, Side};
use bascule_replication::zone::Role;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

type Zs = Arc<ZoneService>;

pub fn router<S: Clone + Send + Sync + 'static>(zone: Zs) -> Router<S> {
    Router::new()
        .route("/hello", get(hello))
        .route("/journal", get(journal))
        .route("/segments/{id}", get(segment))
        .route("/objects", get(objects))
        .route("/catalog", get(catalog))
        .route("/promote", post(promote))
        .route("/switchover", post(switchover))
        .route("/lease", post(lease))
        .route("/verify/ranges", post(verify_ranges))
        .route("/verify/keys", post(verify_keys))
        .route("/verify/records", post(verify_records))
        .layer(middleware::from_fn_with_state(zone.clone(), guard))
        .with_state(zone)
}

fn refuse(zone: &ZoneService, status: StatusCode, error: &str, message: String) -> Response {
    let doc = ProtocolError {
        error: error.into(),
        message,
        zone: Some(zone.info()),
    };
    (status, Json(doc)).into_response()
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

/// A refused replication call: status, protocol error code, message.
struct Refusal(StatusCode, &'static str, String);

type Answer = Result<Response, Refusal>;

fn answer(zone: &ZoneService, a: Answer) -> Response {
    match a {
        Ok(r) => r,
        Err(Refusal(status, code, msg)) => refuse(zone, status, code, msg),
    }
}

/// Checks the secret, then applies the fencing rule to the caller's epoch.
async fn guard(State(zone): State<Zs>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = match (&zone.secret, given) {
        (Some(secret), Some(g)) => bascule_api::sigv4::signatures_match(secret, g.trim()),
        _ => false,
    };
    if !ok {
        let doc = ProtocolError {
            error: "unauthorized".into(),
            message: "zone-to-zone calls need the shared replication secret".into(),
            zone: None,
        };
        return (StatusCode::UNAUTHORIZED, Json(doc)).into_response();
    }
    if let Some(epoch) = caller_epoch(req.headers()) {
        let mine = zone.store.zone.snapshot();
        if epoch > mine.epoch && mine.accepts_writes() {
            // A zone with a higher epoch exists: it was promoted over us. Stop writes now;
            // the replication loop completes the demotion once it has the peer's history.
            tracing::error!(
                my_epoch = mine.epoch,
                caller_epoch = epoch,
                "a peer with a higher epoch called: this zone stops taking writes"
            );
            let fenced = zone
                .store
                .change_zone::<_, ZoneError>(|s| s.fence_for_caller(epoch))
                .await;
            if let Err(e) = fenced {
                tracing::error!(error = %e, "cannot fence this zone");
            }
        }
    }
    let mut resp = next.run(req).await;
    if let Ok(v) = zone.store.zone.epoch().to_string().parse() {
        resp.headers_mut().insert(EPOCH_HEADER, v);
    }
    resp
}

fn caller_epoch(h: &HeaderMap) -> Option<u64> {
    h.get(EPOCH_HEADER)?.to_str().ok()?.parse().ok()
}

async fn hello(State(zone): State<Zs>) -> Response {
    Json(zone.info()).into_response()
}

#[derive(Deserialize)]
struct JournalQuery {
    after: u64,
    #[serde(default)]
    wait_ms: u64,
    limit: Option<usize>,
}

async fn journal(State(zone): State<Zs>, Query(q): Query<JournalQuery>) -> Response {
    let a = journal_page(&zone, q).await;
    answer(&zone, a)
}

async fn journal_page(zone: &ZoneService, q: JournalQuery) -> Answer {
    let state = zone.store.zone.snapshot();
    if state.role() != Role::Primary {
        return Err(Refusal(
            StatusCode::CONFLICT,
            "not_primary",
            "this zone is not primary".into(),
        ));
    }
    let mut watch = zone.store.last_seq();
    let last = *watch.borrow_and_update();
    if q.after < state.journal_floor || q.after > last {
        return Err(Refusal(
            StatusCode::GONE,
            "resync_required",
            format!(
                "entries after {} are not all in this zone's journal (floor {}, last {last}): resync",
                q.after, state.journal_floor
            ),
        ));
    }
    zone.note_ack(q.after);
    if q.after == last && q.wait_ms > 0 {
        let wait = Duration::from_millis(q.wait_ms.min(60_000));
        let mut draining = zone.draining.subscribe();
        tokio::select! {
            _ = tokio::time::timeout(wait, watch.changed()) => {}
            // Stopping: the follower gets what there is now (nothing) and asks again,
            // of this process's successor or of the zone that took over.
            _ = draining.wait_for(|d| *d) => {}
        }
    }
    let limit = q.limit.unwrap_or(512).clamp(1, 10_000);
    let store = zone.store.clone();
    let entries = tokio::task::spawn_blocking(move || store.journal_after(q.after, limit))
        .await
        .map_err(|e| Refusal(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    Ok(Json(JournalPage {
        zone: zone.info(),
        entries,
    })
    .into_response())
}

#[derive(Deserialize)]
struct SegmentQuery {
    bucket: String,
    key: String,
    /// The version the segment is wanted for (`null`: the null one); absent: the current.
    version: Option<String>,
}

async fn segment(
    State(zone): State<Zs>,
    Path(id): Path<String>,
    Query(q): Query<SegmentQuery>,
    headers: HeaderMap,
) -> Response {
    let a = segment_body(&zone, id, q, &headers).await;
    answer(&zone, a)
}

/// Serves a segment of one version of `bucket/key`, from wherever this zone keeps it. A
/// segment that version does not hold (the version was replaced or deleted since the
/// follower's entry was written) is gone: the follower skips to the later entry that says so.
async fn segment_body(
    zone: &ZoneService,
    id: String,
    q: SegmentQuery,
    headers: &HeaderMap,
) -> Answer {
    let bad = |m: &str| Refusal(StatusCode::BAD_REQUEST, "bad_request", m.to_string());
    let holder = {
        let view = zone.store.read();
        match q.version.as_deref() {
            None => view.object(&q.bucket, &q.key)?,
            Some("null") => view.version(&q.bucket, &q.key, None)?,
            Some(v) => view.version(&q.bucket, &q.key, Some(v))?,
        }
    };
    let Some(seg) = holder.and_then(|r| r.segments.into_iter().find(|s| s.id == id)) else {
        return Err(Refusal(
            StatusCode::GONE,
            "superseded",
            format!("segment {id} is no longer part of {}/{}", q.bucket, q.key),
        ));
    };
    // The bytes as stored: a sealed segment goes to the replica sealed.
    let size = seg.stored_len();
    let offset = match headers.get("range").and_then(|v| v.to_str().ok()) {
        Some(r) => r
            .strip_prefix("bytes=")
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<u64>().ok())
            .filter(|n| *n <= size)
            .ok_or_else(|| bad("only `bytes=N-` ranges within the segment are served"))?,
        None => 0,
    };
    let store = zone.store.clone();
    let len = size - offset;
    let opened = tokio::task::spawn_blocking(move || open_stored(&store, &seg, offset, len)).await;
    let pieces = match opened {
        Ok(Ok(p)) => p,
        // Released between the lookup and the open: replaced just now.
        Ok(Err(StoreError::Io(e))) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Refusal(
                StatusCode::GONE,
                "superseded",
                format!("segment {id} was replaced while being opened"),
            ))
        }
        Ok(Err(e)) => return Err(e.into()),
        Err(e) => {
            return Err(Refusal(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                e.to_string(),
            ))
        }
    };
    let mut r = Response::new(crate::s3::get::stream_sources(pieces));
    r.headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    if headers.contains_key("range") {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = format!("bytes {offset}-{}/{size}", size.saturating_sub(1)).parse() {
            r.headers_mut().insert(http::header::CONTENT_RANGE, v);
        }
    }
    Ok(r)
}

#[derive(Deserialize)]
struct ObjectsQuery {
    bucket: String,
    #[serde(default)]
    after: String,
    limit: Option<usize>,
}

/// A page of a bucket's keys with all their versions, in key order, for a follower's resync.
async fn objects(State(zone): State<Zs>, Query(q): Query<ObjectsQuery>) -> Response {
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let store = zone.store.clone();
    let page = tokio::task::spawn_blocking(move || -> Result<ObjectPage, StoreError> {
        // One more than asked tells whether the listing goes on.
        let mut objects = store.versions_after(&q.bucket, &q.after, None, limit + 1)?;
        let truncated = objects.len() > limit;
        objects.truncate(limit);
        Ok(ObjectPage { objects, truncated })
    })
    .await;
    match page {
        Ok(Ok(p)) => Json(p).into_response(),
        Ok(Err(e)) => refuse(
            &zone,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        ),
        Err(e) => refuse(
            &zone,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        ),
    }
}

/// Buckets, users and keys, for a follower's resync and for a verify.
async fn catalog(State(zone): State<Zs>) -> Response {
    let side = local_side(&zone);
    verified(&zone, side.catalog().await)
}

fn local_side(zone: &Zs) -> LocalSide {
    LocalSide {
        zone: zone.clone(),
        keys_per_second: 0,
    }
}

fn verified<T: serde::Serialize>(zone: &ZoneService, r: Result<T, String>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => refuse(zone, StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
    }
}

/// A verify's range summaries of one bucket (cut here, or at the caller's bounds).
async fn verify_ranges(State(zone): State<Zs>, Json(req): Json<RangesRequest>) -> Response {
    verified(&zone, local_side(&zone).ranges(req).await)
}

/// A verify's key digests of one range.
async fn verify_keys(State(zone): State<Zs>, Json(req): Json<KeysRequest>) -> Response {
    verified(&zone, local_side(&zone).keys(req).await)
}

/// A verify's records of some keys.
async fn verify_records(State(zone): State<Zs>, Json(req): Json<RecordsRequest>) -> Response {
    verified(&zone, local_side(&zone).records(req).await)
}

/// The second half of a switchover, asked by the primary once it has stopped writes: if
/// this zone has applied exactly what the primary holds, it becomes primary.
async fn promote(State(zone): State<Zs>, Json(req): Json<PromoteRequest>) -> Response {
    match zone.promote_for_switchover(req.last_seq, req.epoch).await {
        Ok(_) => Json(zone.info()).into_response(),
        Err(e) => refuse(&zone, StatusCode::CONFLICT, "not_promoted", e.to_string()),
    }
}

/// The peer (a primary) asks for or renews its write lease.
async fn lease(State(zone): State<Zs>, Json(req): Json<LeaseRequest>) -> Response {
    Json(zone.grant_lease(&req)).into_response()
}

/// A switchover asked by the secondary (an operator ran it there).
async fn switchover(State(zone): State<Zs>) -> Response {
    match zone.switchover(Duration::from_secs(60)).await {
        Ok(info) => Json(info).into_response(),
        Err(e) => refuse(
            &zone,
            StatusCode::CONFLICT,
            "switchover_failed",
            e.to_string(),
        ),
    }
}
