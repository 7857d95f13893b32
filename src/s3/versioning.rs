//! Bucket versioning: its setting, which version a request names, the id a new version
//! gets, and the `x-amz-version-id` / `x-amz-delete-marker` headers. The store keeps the
//! versions (see `store/plan/versions.rs`); this is the S3 side of them.

use super::ctx::{read_small_body, Ctx, S3State};
use super::endpoint::VersionSlot;
use super::response::{empty, set_header, xml_response};
use crate::store::versions::version_seq;
use crate::store::{Txn, View};
use axum::body::Body;
use axum::response::Response;
use bascule_api::headers::format_http_date;
use bascule_api::xml::{self, S3_NAMESPACE};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{BucketRecord, ObjectRecord, Versioning};
use bascule_replication::Op;
use http::StatusCode;

pub fn get_versioning(ctx: &Ctx) -> S3Result<Response> {
    let b = ctx.require_bucket()?;
    Ok(xml_response(
        "VersioningConfiguration",
        &xml::VersioningStatus {
            xmlns: S3_NAMESPACE,
            status: b.versioning.map(|v| match v {
                Versioning::Enabled => "Enabled",
                Versioning::Suspended => "Suspended",
            }),
        },
    ))
}

pub async fn put_versioning(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    let raw = read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let cfg: xml::VersioningConfiguration = xml::from_xml(&raw)?;
    match cfg.mfa_delete.as_deref() {
        None | Some("Disabled") => {}
        Some("Enabled") => {
            return Err(S3Error::msg(
                S3ErrorCode::NotImplemented,
                "MFA delete is not supported by Bascule",
            ))
        }
        Some(_) => {
            return Err(S3Error::new(
                S3ErrorCode::IllegalVersioningConfigurationException,
            ))
        }
    }
    let status = match cfg.status.as_deref() {
        // No status changes nothing, as in S3.
        None => return Ok(empty(StatusCode::OK)),
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        Some(_) => {
            return Err(S3Error::new(
                S3ErrorCode::IllegalVersioningConfigurationException,
            ))
        }
    };
    s.store.update_bucket(&ctx.bucket, move |b| {
        if b.object_lock.is_some() && status == Versioning::Suspended {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidBucketState,
                "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.",
            ));
        }
        // As AWS: suspending a bucket that was never versioned makes it Suspended (its
        // deletes write null delete markers from then on).
        b.versioning = Some(status);
        Ok(())
    })
    .await?;
    Ok(empty(StatusCode::OK))
}

/// The version id a request names: `None` for the current version, `Some(None)` for the
/// null version. An id Bascule never issued is refused as S3 refuses it.
pub fn requested(slot: &VersionSlot) -> S3Result<Option<Option<&str>>> {
    match slot {
        VersionSlot::Current => Ok(None),
        VersionSlot::Null => Ok(Some(None)),
        VersionSlot::Id(id) if version_seq(id).is_some() => Ok(Some(Some(id))),
        VersionSlot::Id(_) => Err(invalid_version_id()),
    }
}

pub fn invalid_version_id() -> S3Error {
    S3Error::msg(S3ErrorCode::InvalidArgument, "Invalid version id specified")
        .with("ArgumentName", "versionId")
}

/// The version a slot names, if it is here (the current object for the current slot). An
/// id Bascule never issued names nothing.
pub fn named(
    view: &View,
    bucket: &str,
    key: &str,
    slot: &VersionSlot,
) -> Result<Option<ObjectRecord>, crate::store::StoreError> {
    match slot {
        VersionSlot::Current => view.object(bucket, key),
        VersionSlot::Null => view.version(bucket, key, None),
        VersionSlot::Id(id) => view.version(bucket, key, Some(id)),
    }
}

/// The version the request names (`versionId`), or S3's error for it (see `find`).
pub fn requested_version(s: &S3State, ctx: &Ctx) -> S3Result<ObjectRecord> {
    find(&s.store.read(), &ctx.bucket, &ctx.key, &ctx.params.version)
}

/// A response about a version a request changed, with its `x-amz-version-id`.
pub fn answer_about(status: StatusCode, ctx: &Ctx, rec: &ObjectRecord) -> Response {
    let mut r = empty(status);
    version_header(&mut r, ctx.bucket_record.as_ref(), rec);
    r
}

/// The version a read names, or S3's error for it: `NoSuchKey` (with the delete marker's
/// headers when one hides the key), `NoSuchVersion`, or `MethodNotAllowed` for a delete
/// marker named by its id.
pub fn find(view: &View, bucket: &str, key: &str, slot: &VersionSlot) -> S3Result<ObjectRecord> {
    match requested(slot)? {
        None => match view.latest(bucket, key)? {
            Some(rec) if !rec.delete_marker => Ok(rec),
            Some(marker) => Err(super::ctx::no_such_key(key)
                .with_header("x-amz-delete-marker", "true")
                .with_header("x-amz-version-id", marker.version_label().to_string())),
            None => Err(super::ctx::no_such_key(key)),
        },
        Some(id) => match view.version(bucket, key, id)? {
            Some(rec) if !rec.delete_marker => Ok(rec),
            Some(marker) => Err(S3Error::new(S3ErrorCode::MethodNotAllowed)
                .with("ResourceType", "DeleteMarker")
                .with_header("x-amz-delete-marker", "true")
                .with_header("x-amz-version-id", marker.version_label().to_string())
                .with_header("allow", "DELETE")
                .with_header(
                    "last-modified",
                    format_http_date(super::meta::time_of(marker.last_modified_ms)),
                )),
            None => Err(S3Error::new(S3ErrorCode::NoSuchVersion)
                .with("Key", key.to_string())
                .with("VersionId", id.unwrap_or("null").to_string())),
        },
    }
}

/// What S3 answers about a version just written: `x-amz-version-id` and, when a
/// lifecycle rule will expire it, `x-amz-expiration`.
pub fn written_headers(r: &mut Response, ctx: &Ctx, rec: &ObjectRecord) {
    let bucket = ctx.bucket_record.as_ref();
    version_header(r, bucket, rec);
    super::lifecycle_api::expiration_header(r, bucket, &ctx.key, rec, true);
}

/// `x-amz-version-id` on a response about `rec`, in a bucket that has versioning (a
/// bucket that never had it shows no version ids, as in S3).
pub fn version_header(r: &mut Response, bucket: Option<&BucketRecord>, rec: &ObjectRecord) {
    if rec.version_id.is_some() || bucket.is_some_and(|b| b.versioning.is_some()) {
        set_header(r, "x-amz-version-id", rec.version_label());
    }
}

/// Changes one version's settings (tags, ACL, metadata of a copy onto itself) keeping its
/// data and its place among the key's versions, with a journal entry.
pub async fn update_object<F>(
    s: &S3State,
    bucket: &str,
    key: &str,
    version: &VersionSlot,
    change: F,
) -> S3Result<ObjectRecord>
where
    F: FnOnce(&mut ObjectRecord) -> S3Result<()> + Send + 'static,
{
    let (bucket, key, version) = (bucket.to_string(), key.to_string(), version.clone());
    let (record, _) = s
        .store
        .commit(move |view| {
            let mut record = find(view, &bucket, &key, &version)?;
            change(&mut record)?;
            let txn = Txn::op(Op::UpdateVersion {
                bucket,
                key,
                record: record.clone(),
            });
            Ok::<_, S3Error>((txn, record))
        })
        .await?;
    Ok(record)
}
