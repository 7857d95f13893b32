//! DeleteObject and DeleteObjects (multi-delete, quiet mode, per-key errors).

use super::endpoint::Endpoint;
use super::response::{empty, xml_response};
use super::{read_small_body, Ctx, S3State};
use crate::store::Txn;
use axum::body::Body;
use axum::response::Response;
use bascule_api::xml::{DeleteErrorEntry, DeleteResult, DeletedEntry, S3_NAMESPACE};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::Op;
use http::StatusCode;

/// S3 accepts at most 1000 keys per DeleteObjects request.
const MAX_DELETE_KEYS: usize = 1000;

pub async fn delete_object(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    let (bucket, key) = (ctx.bucket.clone(), ctx.key.clone());
    s.store
        .commit(move |view| {
            if view.bucket(&bucket)?.is_none() {
                return Err(super::no_such_bucket(&bucket));
            }
            // Deleting a missing key succeeds, as in S3, but changes nothing: no journal entry.
            let txn = match view.object(&bucket, &key)? {
                Some(_) => Txn::op(Op::DeleteObject { bucket, key }),
                None => Txn::default(),
            };
            Ok((txn, ()))
        })
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
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
    // With a bucket policy, each key is authorized on its own (access::authorize deferred
    // the decision); a refused key is reported, the others are deleted.
    let mut refused = Vec::new();
    let mut requested: Vec<(String, Option<String>)> = Vec::new();
    let record = ctx.require_bucket()?;
    for o in doc.object {
        let allowed = record.policy_json.is_none()
            || ctx
                .authorize(Endpoint::DeleteObject, record, &o.key, || {
                    Ok(s.store.object(&bucket, &o.key)?)
                })
                .is_ok();
        if allowed {
            requested.push((o.key, o.version_id));
        } else {
            refused.push(DeleteErrorEntry {
                key: o.key,
                code: "AccessDenied".into(),
                message: "Access Denied".into(),
            });
        }
    }
    let (result, _) = s
        .store
        .commit(move |view| {
            if view.bucket(&bucket)?.is_none() {
                return Err(super::no_such_bucket(&bucket));
            }
            let mut deleted = Vec::new();
            let mut errors = refused;
            let mut removed_keys = Vec::new();
            for (key, version) in requested {
                if version.as_deref().is_some_and(|v| v != "null") {
                    errors.push(DeleteErrorEntry {
                        key,
                        code: "NoSuchVersion".into(),
                        message: "The specified version does not exist.".into(),
                    });
                    continue;
                }
                if view.object(&bucket, &key)?.is_some() && !removed_keys.contains(&key) {
                    removed_keys.push(key.clone());
                }
                deleted.push(DeletedEntry { key });
            }
            let txn = match removed_keys.is_empty() {
                true => Txn::default(),
                false => Txn::op(Op::DeleteObjects {
                    bucket,
                    keys: removed_keys,
                }),
            };
            Ok((txn, (deleted, errors)))
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
