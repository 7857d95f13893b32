//! The key service's admin side: list, create, enable, disable and rotate KMS keys. Each
//! change is one journaled commit (the secondary receives the key, its material wrapped by
//! the master key both zones share). Key material never leaves the server.

use super::error::{not_found, AdminError};
use super::state::{AdminState, ApiResult};
use crate::s3::meta::now_ms;
use crate::store::Txn;
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
    /// The zone's own key (SSE-S3): it cannot be disabled.
    pub zone_key: bool,
}

impl From<&KmsKeyRecord> for KeyInfo {
    fn from(k: &KmsKeyRecord) -> KeyInfo {
        KeyInfo {
            id: k.id.clone(),
            enabled: k.enabled,
            created_ms: k.created_ms,
            active_version: k.active().map(|v| v.n).unwrap_or(0),
            versions: k.versions.iter().map(|v| v.n).collect(),
            zone_key: k.id == ZONE_KEY_ID,
        }
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
}

async fn list(State(s): State<AdminState>) -> ApiResult<Vec<KeyInfo>> {
    Ok(Json(
        s.store.kms_keys()?.iter().map(KeyInfo::from).collect(),
    ))
}

async fn show(State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult<KeyInfo> {
    let k = s
        .store
        .kms_key(&id)?
        .ok_or_else(|| not_found("KMS key", &id))?;
    Ok(Json(KeyInfo::from(&k)))
}

#[derive(Deserialize)]
struct NewKey {
    name: String,
}

async fn create(State(s): State<AdminState>, Json(k): Json<NewKey>) -> ApiResult<KeyInfo> {
    if !valid_key_name(&k.name) {
        return Err(AdminError::Invalid(
            "KMS key names are 1-128 characters of letters, digits, - _ .".into(),
        ));
    }
    let record = s.keys.new_record(&k.name, None, now_ms())?;
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
    Ok(Json(KeyInfo::from(&rec)))
}

/// Applies `change` to key `id` in one journaled commit.
async fn change(
    s: &AdminState,
    id: String,
    change: impl FnOnce(KmsKeyRecord) -> Result<KmsKeyRecord, AdminError> + Send + 'static,
) -> ApiResult<KeyInfo> {
    let (rec, _) = s
        .store
        .commit(move |view| {
            let current = view
                .kms_key(&id)?
                .ok_or_else(|| not_found("KMS key", &id))?;
            let record = change(current)?;
            Ok::<_, AdminError>((
                Txn::op(Op::PutKmsKey {
                    record: record.clone(),
                }),
                record,
            ))
        })
        .await?;
    Ok(Json(KeyInfo::from(&rec)))
}

async fn enable(State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult<KeyInfo> {
    change(&s, id, |mut k| {
        k.enabled = true;
        Ok(k)
    })
    .await
}

async fn disable(State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult<KeyInfo> {
    change(&s, id, |mut k| {
        if k.id == ZONE_KEY_ID {
            return Err(AdminError::Invalid(
                "the zone key protects every SSE-S3 object and cannot be disabled".into(),
            ));
        }
        k.enabled = false;
        Ok(k)
    })
    .await
}

/// Adds a new version of the key's material, which wraps new data keys from now on; data
/// keys wrapped by older versions still open.
async fn rotate(State(s): State<AdminState>, Path(id): Path<String>) -> ApiResult<KeyInfo> {
    let keys = s.keys.clone();
    change(&s, id, move |k| Ok(keys.rotated(k, now_ms())?)).await
}
