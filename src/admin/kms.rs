//! The key service's admin side: list, create, enable, disable, rotate KMS keys and retire
//! their older versions, and the re-wrap worker's progress. Each
//! change is one journaled commit (the secondary receives the key, its material wrapped by
//! the master key both zones share). Key material never leaves the server.

use super::error::{not_found, AdminError};
use super::state::{AdminState, ApiResult};
use crate::crypt::ring::kek_name;
use crate::crypt::KeyError;
use crate::s3::meta::now_ms;
use crate::store::{Store, Txn, View};
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use bascule_replication::records::{KmsKeyRecord, ZONE_KEY_ID};
use bascule_replication::Op;
use serde::{Deserialize, Serialize};

/// What the API shows of a key: never its material.
#[derive(Debug, Serialize)]
pub struct KeyInfo {
    pub id: String,
    pub enabled: bool,
    pub created_ms: u64,
    /// The version that wraps new data keys.
    pub active_version: u32,
    pub versions: Vec<u32>,
    /// Stored segments each version still wraps (after a rotation the re-wrap worker
    /// brings the older ones to 0; a version at 0 can be retired).
    pub segments: Vec<VersionUse>,
    /// The zone's own key (SSE-S3): it cannot be disabled.
    pub zone_key: bool,
}

#[derive(Debug, Serialize)]
pub struct VersionUse {
    pub version: u32,
    pub created_ms: u64,
    pub segments: u64,
}

impl KeyInfo {
    /// The key as shown, with the counts kept with every change (no scan).
    pub fn of(store: &Store, k: &KmsKeyRecord) -> Result<KeyInfo, AdminError> {
        let counts: std::collections::HashMap<u32, u64> =
            store.kek_segments(&k.id)?.into_iter().collect();
        Ok(KeyInfo {
            id: k.id.clone(),
            enabled: k.enabled,
            created_ms: k.created_ms,
            active_version: k.active().map(|v| v.n).unwrap_or(0),
            versions: k.versions.iter().map(|v| v.n).collect(),
            segments: k
                .versions
                .iter()
                .map(|v| VersionUse {
                    version: v.n,
                    created_ms: v.created_ms,
                    segments: counts.get(&v.n).copied().unwrap_or(0),
                })
                .collect(),
            zone_key: k.id == ZONE_KEY_ID,
        })
    }
}

/// Key names: 1-128 letters, digits and `-_.`; `aws/` names are AWS's (the zone key is
/// one of them).
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/kms/keys", get(list).post(create))
        .route("/kms/keys/{id}", get(show))
        .route("/kms/keys/{id}/enable", post(enable))
        .route("/kms/keys/{id}/disable", post(disable))
        .route("/kms/keys/{id}/rotate", post(rotate))
        .route("/kms/keys/{id}/retire", post(retire))
        .route("/kms/rewrap", get(rewrap_status))
}

async fn list(State(s): State<AdminState>) -> ApiResult<Vec<KeyInfo>> {
    let keys = s.store.kms_keys()?;
    Ok(Json(
        keys.iter()
            .map(|k| KeyInfo::of(&s.store, k))
            .collect::<Result<_, _>>()?,
    ))
}

async fn show(State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult<KeyInfo> {
    let k = s
        .store
        .kms_key(&id)?
        .ok_or_else(|| not_found("KMS key", &id))?;
    Ok(Json(KeyInfo::of(&s.store, &k)?))
}

#[derive(Deserialize)]
struct NewKey {
    name: String,
}

async fn create(State(s): State<AdminState>, Json(k): Json<NewKey>) -> ApiResult<KeyInfo> {
    let rec = create_key(&s, &k.name).await?;
    Ok(Json(KeyInfo::of(&s.store, &rec)?))
}

async fn enable(State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult<KeyInfo> {
    let rec = set_enabled(&s, id, true).await?;
    Ok(Json(KeyInfo::of(&s.store, &rec)?))
}

async fn disable(State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult<KeyInfo> {
    let rec = set_enabled(&s, id, false).await?;
    Ok(Json(KeyInfo::of(&s.store, &rec)?))
}

async fn rotate(State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult<KeyInfo> {
    let rec = rotate_key(&s, id).await?;
    Ok(Json(KeyInfo::of(&s.store, &rec)?))
}

#[derive(Deserialize)]
struct Retire {
    version: u32,
}

async fn retire(
    State(s): State<AdminState>,
    Path(id): Path<String>,
    Json(r): Json<Retire>,
) -> ApiResult<KeyInfo> {
    let rec = retire_version(&s, id, r.version).await?;
    Ok(Json(KeyInfo::of(&s.store, &rec)?))
}

// The operations, shared by the admin API and the dashboard.

/// A new key with random material.
pub async fn create_key(s: &AdminState, name: &str) -> Result<KmsKeyRecord, AdminError> {
    if !valid_key_name(name) {
        return Err(AdminError::Invalid(
            "KMS key names are 1-128 characters of letters, digits, - _ .".into(),
        ));
    }
    let record = s.keys.new_record(name, None, now_ms())?;
    let (rec, _) = s
        .store
        .commit(move |view| {
            if view.kms_key(&record.id)?.is_some() {
                return Err(AdminError::Conflict(format!(
                    "KMS key {} already exists",
                    record.id
                )));
            }
            Ok((
                Txn::op(Op::PutKmsKey {
                    record: record.clone(),
                }),
                record,
            ))
        })
        .await?;
    Ok(rec)
}

/// Applies `change` to key `id` in one journaled commit.
async fn change(
    s: &AdminState,
    id: String,
    change: impl FnOnce(&View, KmsKeyRecord) -> Result<KmsKeyRecord, AdminError> + Send + 'static,
) -> Result<KmsKeyRecord, AdminError> {
    let (rec, _) = s
        .store
        .commit(move |view| {
            let current = view
                .kms_key(&id)?
                .ok_or_else(|| not_found("KMS key", &id))?;
            let record = change(view, current)?;
            Ok::<_, AdminError>((
                Txn::op(Op::PutKmsKey {
                    record: record.clone(),
                }),
                record,
            ))
        })
        .await?;
    Ok(rec)
}

/// A disabled key refuses every request that needs it; the zone key cannot be disabled.
pub async fn set_enabled(
    s: &AdminState,
    id: String,
    enabled: bool,
) -> Result<KmsKeyRecord, AdminError> {
    let rec = change(s, id, move |_, mut k| {
        if !enabled && k.id == ZONE_KEY_ID {
            return Err(AdminError::Invalid(
                "the zone key protects every SSE-S3 object and cannot be disabled".into(),
            ));
        }
        k.enabled = enabled;
        Ok(k)
    })
    .await?;
    // Data left under an older version while the key was disabled can be re-wrapped now.
    s.rewrap.wake();
    Ok(rec)
}

/// Adds a new version of the key's material, which wraps new data keys from now on; data
/// keys wrapped by older versions still open, and are wrapped again in the background.
pub async fn rotate_key(s: &AdminState, id: String) -> Result<KmsKeyRecord, AdminError> {
    let keys = s.keys.clone();
    let rec = change(s, id, move |_, k| Ok(keys.rotated(k, now_ms())?)).await?;
    s.rewrap.wake();
    Ok(rec)
}

/// Removes an older version's material for good, once no stored data key is wrapped by it
/// (the counts kept with every change, checked in the same commit).
pub async fn retire_version(
    s: &AdminState,
    id: String,
    version: u32,
) -> Result<KmsKeyRecord, AdminError> {
    let keys = s.keys.clone();
    change(s, id, move |view, k| {
        let name = kek_name(&k.id, version);
        let left = view.kek_segments(&name)?;
        if left > 0 {
            return Err(AdminError::Conflict(format!(
                "{name} still wraps the data keys of {left} stored segments; the re-wrap \
                 worker moves them to the active version (bascule admin kms rewrap)"
            )));
        }
        keys.retired(k, version).map_err(|e| match e {
            KeyError::Active(n) => {
                AdminError::Conflict(format!("{n} is the active version: rotate the key first"))
            }
            KeyError::NotFound(n) => not_found("KMS key version", &n),
            other => other.into(),
        })
    })
    .await
}

async fn rewrap_status(State(s): State<AdminState>) -> ApiResult<crate::crypt::rewrap::Report> {
    Ok(Json(s.rewrap.report()?))
}
