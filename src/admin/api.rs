//! Admin JSON API, served on the admin listener. Every route but the health probes needs
//! `Authorization: Bearer <admin token>`.

use super::ops;
use super::state::{refuse_unless_writable, AdminState, ApiError, ApiResult};
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bascule_api::{S3Error, S3ErrorCode};
use bascule_replication::records::{AccessKeyRecord, BucketRecord, Permission, UserRecord};
use serde::{Deserialize, Serialize};
use serde_json::json;

pub fn router(state: AdminState) -> Router {
    // Changes to users, keys and grants replicate from the primary: refused elsewhere.
    let records = Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/{id}", axum::routing::delete(delete_user))
        .route("/users/{id}/enable", post(enable_user))
        .route("/users/{id}/disable", post(disable_user))
        .route("/users/{id}/keys", post(create_key))
        .route("/keys", get(list_keys))
        .route("/keys/{ak}", axum::routing::delete(delete_key))
        .route("/keys/{ak}/enable", post(enable_key))
        .route("/keys/{ak}/disable", post(disable_key))
        .route("/buckets", get(list_buckets))
        .route("/buckets/{bucket}/grants/{user}", put(grant).delete(revoke))
        .merge(super::kms::routes())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            writes_on_primary,
        ));
    let api = records
        .route("/journal", get(journal))
        .route("/lifecycle", get(lifecycle_status))
        .route("/gc", post(collect_garbage))
        .route("/compact", post(compact))
        .merge(super::zone_api::routes())
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state.clone());
    Router::new()
        .nest("/admin/v1", api)
        .nest(
            bascule_replication::protocol::PREFIX,
            crate::zone::serve::router(state.zone.clone()),
        )
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .route("/health/writable", get(super::zone_api::writable_health))
        .route(
            "/health/replication",
            get(super::zone_api::replication_health),
        )
        .route("/metrics", get(super::metrics::render))
        .merge(crate::dashboard::routes())
        .with_state(state)
}

async fn writes_on_primary(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    if req.method() != http::Method::GET {
        if let Err(e) = refuse_unless_writable(&s) {
            return e.into_response();
        }
    }
    next.run(req).await
}

async fn require_token(State(s): State<AdminState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok =
        given.is_some_and(|g| bascule_api::sigv4::signatures_match(s.token.as_str(), g.trim()));
    if !ok {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "Unauthorized", "message": "a valid admin bearer token is required"})))
            .into_response();
    }
    next.run(req).await
}

/// Runs one garbage-collection pass now (the same pass the background runs).
async fn collect_garbage(State(s): State<AdminState>) -> ApiResult<crate::store::gc::GcReport> {
    let store = s.store.clone();
    let report =
        tokio::task::spawn_blocking(move || store.collect_garbage(crate::store::gc::GC_MIN_AGE))
            .await
            .map_err(|_| ApiError::S3(S3Error::new(S3ErrorCode::InternalError)))??;
    Ok(Json(report))
}

/// Compacts the metadata database fully; answers when done.
async fn compact(State(s): State<AdminState>) -> ApiResult<serde_json::Value> {
    let store = s.store.clone();
    let started = std::time::Instant::now();
    tokio::task::spawn_blocking(move || store.compact())
        .await
        .map_err(|_| ApiError::S3(S3Error::new(S3ErrorCode::InternalError)))??;
    Ok(Json(json!({"seconds": started.elapsed().as_secs_f64()})))
}

/// Ready to serve: the metadata store answers. A secondary that cannot follow its
/// primary still serves (stale) reads, so it stays ready but says it is degraded.
async fn ready(State(s): State<AdminState>) -> Response {
    if s.store.probe().is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: metadata store unavailable\n",
        )
            .into_response();
    }
    match super::zone_api::degraded(&s.zone) {
        Some(why) => format!("degraded: {why}\n").into_response(),
        None => "ready\n".into_response(),
    }
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    #[serde(default)]
    admin: bool,
}

async fn list_users(State(s): State<AdminState>) -> ApiResult<Vec<UserRecord>> {
    Ok(Json(ops::list_users(&s.store)?))
}

async fn create_user(State(s): State<AdminState>, Json(u): Json<NewUser>) -> ApiResult<UserRecord> {
    Ok(Json(ops::create_user(&s.store, &u.name, u.admin).await?))
}

async fn delete_user(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> ApiResult<serde_json::Value> {
    ops::delete_user(&s.store, &id).await?;
    Ok(Json(json!({"deleted": id})))
}

async fn enable_user(State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult<UserRecord> {
    Ok(Json(ops::set_user_enabled(&s.store, &id, true).await?))
}

async fn disable_user(
    State(s): State<AdminState>,
    Path(id): Path<String>,
) -> ApiResult<UserRecord> {
    Ok(Json(ops::set_user_enabled(&s.store, &id, false).await?))
}

#[derive(Deserialize, Default)]
struct ImportKey {
    access_key: Option<String>,
    secret_key: Option<String>,
}

async fn create_key(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    body: Option<Json<ImportKey>>,
) -> ApiResult<AccessKeyRecord> {
    let ImportKey {
        access_key,
        secret_key,
    } = body.map(|Json(b)| b).unwrap_or_default();
    let explicit = match (access_key, secret_key) {
        (Some(a), Some(s)) => Some((a, s)),
        (None, None) => None,
        _ => {
            return Err(ApiError::Invalid(
                "give both access_key and secret_key, or neither".into(),
            ))
        }
    };
    Ok(Json(ops::create_key(&s.store, &id, explicit).await?))
}

/// Keys as listed: the secret is shown only once, at creation.
#[derive(Serialize)]
struct KeyInfo {
    access_key: String,
    user_id: String,
    enabled: bool,
    created_ms: u64,
}

#[derive(Deserialize)]
struct KeyFilter {
    user: Option<String>,
}

async fn list_keys(
    State(s): State<AdminState>,
    Query(f): Query<KeyFilter>,
) -> ApiResult<Vec<KeyInfo>> {
    let keys = ops::list_keys(&s.store, f.user.as_deref())?;
    Ok(Json(
        keys.into_iter()
            .map(|k| KeyInfo {
                access_key: k.access_key,
                user_id: k.user_id,
                enabled: k.enabled,
                created_ms: k.created_ms,
            })
            .collect(),
    ))
}

async fn delete_key(
    State(s): State<AdminState>,
    Path(ak): Path<String>,
) -> ApiResult<serde_json::Value> {
    ops::delete_key(&s.store, &ak).await?;
    Ok(Json(json!({"deleted": ak})))
}

async fn enable_key(State(s): State<AdminState>, Path(ak): Path<String>) -> ApiResult<KeyInfo> {
    let k = ops::set_key_enabled(&s.store, &ak, true).await?;
    Ok(Json(KeyInfo {
        access_key: k.access_key,
        user_id: k.user_id,
        enabled: k.enabled,
        created_ms: k.created_ms,
    }))
}

async fn disable_key(State(s): State<AdminState>, Path(ak): Path<String>) -> ApiResult<KeyInfo> {
    let k = ops::set_key_enabled(&s.store, &ak, false).await?;
    Ok(Json(KeyInfo {
        access_key: k.access_key,
        user_id: k.user_id,
        enabled: k.enabled,
        created_ms: k.created_ms,
    }))
}

#[derive(Serialize)]
struct BucketInfo {
    #[serde(flatten)]
    record: BucketRecord,
    /// The owner's user name (the record holds its id).
    owner_name: Option<String>,
    objects: u64,
    bytes: u64,
    /// Noncurrent versions and delete markers.
    versions: u64,
}

async fn list_buckets(State(s): State<AdminState>) -> ApiResult<Vec<BucketInfo>> {
    let mut out = Vec::new();
    for record in s.store.buckets()? {
        let u = ops::bucket_usage(&s.store, &record.name)?;
        let owner_name = s.store.user(&record.owner)?.map(|u| u.name);
        out.push(BucketInfo {
            owner_name,
            record,
            objects: u.objects,
            bytes: u.bytes,
            versions: u.versions,
        });
    }
    Ok(Json(out))
}

#[derive(Deserialize)]
struct GrantBody {
    permission: Permission,
}

async fn grant(
    State(s): State<AdminState>,
    Path((bucket, user)): Path<(String, String)>,
    Json(g): Json<GrantBody>,
) -> ApiResult<BucketRecord> {
    Ok(Json(
        ops::set_grant(&s.store, &bucket, &user, Some(g.permission)).await?,
    ))
}

async fn revoke(
    State(s): State<AdminState>,
    Path((bucket, user)): Path<(String, String)>,
) -> ApiResult<BucketRecord> {
    Ok(Json(ops::set_grant(&s.store, &bucket, &user, None).await?))
}

#[derive(Deserialize)]
struct JournalQuery {
    #[serde(default)]
    after: u64,
    limit: Option<usize>,
}

/// The lifecycle worker: where its walk is and what it has done since the process started.
async fn lifecycle_status(
    State(s): State<AdminState>,
) -> ApiResult<crate::lifecycle::StatusReport> {
    let here = s.store.zone.writable();
    Ok(Json(s.lifecycle.report(&s.config.lifecycle, here)))
}

/// The journal for inspection. Key secrets and key material are replaced: an operator reading the journal
/// (or a log of what the CLI printed) never sees one. The zone link has its own route.
async fn journal(
    State(s): State<AdminState>,
    Query(q): Query<JournalQuery>,
) -> ApiResult<Vec<bascule_replication::Entry>> {
    let mut entries = s
        .store
        .journal_after(q.after, q.limit.unwrap_or(1000).min(10_000))?;
    for e in &mut entries {
        match &mut e.op {
            bascule_replication::Op::PutAccessKey { record } => {
                record.secret_key = "(redacted)".into();
            }
            // Wrapped, but still key material: it is no one's to read.
            bascule_replication::Op::PutKmsKey { record } => {
                for v in &mut record.versions {
                    v.wrapped = "(redacted)".into();
                }
            }
            _ => {}
        }
    }
    Ok(Json(entries))
}
