//! DeleteObject and DeleteObjects (multi-delete, quiet mode, per-key errors). Without a
//! version id, a bucket with versioning gets a delete marker; with one, that version goes
//! for good.

use super::ctx::{read_small_body, Ctx, S3State};
use super::endpoint::{Endpoint, VersionSlot};
use super::object_lock::{bypasses_governance, check_delete};
use super::response::{empty, set_header, xml_response};
use super::versioning::{invalid_version_id, requested};
use crate::store::versions::new_delete_marker;
use crate::store::{Txn, View};
use axum::body::Body;
use axum::response::Response;
use bascule_api::xml::{DeleteErrorEntry, DeleteResult, DeletedEntry, S3_NAMESPACE};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::BucketRecord;
use bascule_replication::{Op, Removal};
use http::StatusCode;

/// S3 accepts at most 1000 keys per DeleteObjects request.
const MAX_DELETE_KEYS: usize = 1000;

/// What deleting one key did, as the response reports it.
struct Outcome {
    /// The version removed, or the delete marker written.
    version_id: Option<String>,
    /// A delete marker was written, or the version removed was one.
    delete_marker: bool,
    removal: Option<Removal>,
}

/// Plans the deletion of one key (`version`: `None` for the current version, `Some(None)`
/// for the null one).
fn plan_delete(
    view: &View,
    bucket: &BucketRecord,
    key: &str,
    version: Option<Option<&str>>,
    caller: &str,
    bypass: bool,
) -> Result<Outcome, S3Error> {
    let removal_of = |version_id: Option<&str>| Removal::Version {
        key: key.to_string(),
        version_id: version_id.map(String::from),
    };
    match version {
        Some(id) => {
            // A version that is not there is deleted already: success, as in S3.
            let found = view.version(&bucket.name, key, id)?;
            if let Some(rec) = &found {
                check_delete(rec, bypass)?;
            }
            Ok(Outcome {
                version_id: Some(id.unwrap_or("null").to_string()),
                delete_marker: found.as_ref().is_some_and(|r| r.delete_marker),
                removal: found.map(|_| removal_of(id)),
            })
        }
        None if bucket.versioning.is_none() => Ok(Outcome {
            version_id: None,
            delete_marker: false,
            removal: view.object(&bucket.name, key)?.map(|_| removal_of(None)),
        }),
        None => {
            let marker = new_delete_marker(view, bucket, caller.to_string(), super::meta::now_ms());
            Ok(Outcome {
                version_id: Some(marker.version_label().to_string()),
                delete_marker: true,
                removal: Some(Removal::Marker {
                    key: key.to_string(),
                    record: Box::new(marker),
                }),
            })
        }
    }
}

/// The journal change for a request's removals; a bucket that never had versioning keeps
/// the plain forms.
fn removal_txn(bucket: &BucketRecord, mut removals: Vec<Removal>) -> Txn {
    let bucket_name = bucket.name.clone();
    if removals.is_empty() {
        return Txn::default();
    }
    if bucket.versioning.is_none() {
        let mut keys: Vec<String> = removals.iter().map(|r| r.key().to_string()).collect();
        keys.dedup();
        return match keys.len() {
            1 => Txn::op(Op::DeleteObject {
                bucket: bucket_name,
                key: keys.remove(0),
            }),
            _ => Txn::op(Op::DeleteObjects {
                bucket: bucket_name,
                keys,
            }),
        };
    }
    match removals.len() {
        1 => match removals.remove(0) {
            Removal::Version { key, version_id } => Txn::op(Op::DeleteVersion {
                bucket: bucket_name,
                key,
                version_id,
            }),
            Removal::Marker { key, record } => Txn::op(Op::PutObject {
                bucket: bucket_name,
                key,
                record: *record,
            }),
        },
        _ => Txn::op(Op::RemoveObjects {
            bucket: bucket_name,
            removals,
        }),
    }
}

/// One key's failure in a multi-object delete's answer.
fn error_entry(key: String, version_id: Option<String>, e: &S3Error) -> DeleteErrorEntry {
    DeleteErrorEntry {
        key,
        version_id,
        code: e.code.as_str().into(),
        message: e.message.to_string(),
    }
}

pub async fn delete_object(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    let version = requested(&ctx.params.version)?.map(|v| v.map(String::from));
    let (bucket, key, caller) = (ctx.bucket.clone(), ctx.key.clone(), ctx.user_id());
    let bypass = bypasses_governance(ctx, &ctx.key)?;
    let (outcome, _) = s
        .store
        .commit(move |view| {
            let b = view
                .bucket(&bucket)?
                .ok_or_else(|| super::ctx::no_such_bucket(&bucket))?;
            let asked = version.as_ref().map(|v| v.as_deref());
            let mut outcome = plan_delete(view, &b, &key, asked, &caller, bypass)?;
            let removals = outcome.removal.take().into_iter().collect();
            Ok::<_, S3Error>((removal_txn(&b, removals), outcome))
        })
        .await?;
    let mut r = empty(StatusCode::NO_CONTENT);
    if let Some(v) = &outcome.version_id {
        set_header(&mut r, "x-amz-version-id", v);
    }
    if outcome.delete_marker {
        set_header(&mut r, "x-amz-delete-marker", "true");
    }
    Ok(r)
}

pub async fn delete_objects(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    let raw = read_small_body(body, &ctx.payload, 2 * 1024 * 1024).await?;
    if let Some(md5) = ctx.header("content-md5") {
        let expected = bascule_api::checksum::content_md5_to_hex(md5)
            .ok_or_else(|| S3Error::new(S3ErrorCode::InvalidDigest))?;
        if expected != hex::encode(<md5::Md5 as md5::Digest>::digest(&raw)) {
            return Err(S3Error::new(S3ErrorCode::BadDigest));
        }
    }
    let doc = bascule_api::xml_exact::parse_delete(&raw)?;
    if doc.object.is_empty() || doc.object.len() > MAX_DELETE_KEYS {
        return Err(S3Error::new(S3ErrorCode::MalformedXML));
    }
    let quiet = doc.quiet;
    let bucket = ctx.bucket.clone();
    let caller = ctx.user_id();
    // Each key is authorized on its own: deleting a named version is
    // s3:DeleteObjectVersion, which a bucket WRITE grant does not give, and a policy may
    // tell keys apart. The governance bypass is decided per key too. A refused key is
    // reported; the others are deleted.
    let mut refused = Vec::new();
    let mut requested_keys: Vec<(String, Option<String>, bool)> = Vec::new();
    let record = ctx.require_bucket()?;
    for o in doc.object {
        let allowed = ctx
            .authorize(
                Endpoint::DeleteObject,
                record,
                &o.key,
                o.version_id.as_deref(),
                || Ok(s.store.object(&bucket, &o.key)?),
            )
            .is_ok();
        if allowed {
            let bypass = bypasses_governance(ctx, &o.key)?;
            requested_keys.push((o.key, o.version_id, bypass));
        } else {
            refused.push(error_entry(
                o.key,
                o.version_id,
                &S3Error::new(S3ErrorCode::AccessDenied),
            ));
        }
    }
    let (result, _) = s
        .store
        .commit(move |view| {
            let b = view
                .bucket(&bucket)?
                .ok_or_else(|| super::ctx::no_such_bucket(&bucket))?;
            let mut deleted = Vec::new();
            let mut errors = refused;
            let mut removals = Vec::new();
            for (key, version, bypass) in requested_keys {
                let slot = VersionSlot::from_param(version.as_deref());
                let Ok(asked) = requested(&slot) else {
                    errors.push(error_entry(key, version, &invalid_version_id()));
                    continue;
                };
                let outcome = match plan_delete(view, &b, &key, asked, &caller, bypass) {
                    Ok(o) => o,
                    // A locked version is reported; the other keys are still deleted.
                    Err(e) if e.code == S3ErrorCode::AccessDenied => {
                        errors.push(error_entry(key, version, &e));
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                removals.extend(outcome.removal);
                let marker_id = outcome.delete_marker.then(|| outcome.version_id.clone());
                deleted.push(DeletedEntry {
                    key,
                    delete_marker: outcome.delete_marker.then_some(true),
                    // A marker written answers with its id as DeleteMarkerVersionId; a
                    // version removed answers with its own.
                    delete_marker_version_id: match &version {
                        None => marker_id.flatten(),
                        Some(_) if outcome.delete_marker => version.clone(),
                        Some(_) => None,
                    },
                    version_id: version,
                });
            }
            Ok((removal_txn(&b, removals), (deleted, errors)))
        })
        .await?;
    let (deleted, error) = result;
    let deleted = if quiet { Vec::new() } else { deleted };
    Ok(xml_response(
        "DeleteResult",
        &DeleteResult {
            xmlns: S3_NAMESPACE,
            deleted,
            error,
        },
    ))
}
