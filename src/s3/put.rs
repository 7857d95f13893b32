//! PutObject, and the commit every object write goes through (put, POST, copy, complete).

use super::body::{ingest, BodySpec, Ingested, IngestedData, MAX_PUT_SIZE};
use super::ctx::{Ctx, S3State};
use super::meta::{
    now_ms, quoted, system_headers, tagging_header, user_meta, write_checksum_headers,
};
use super::object_lock::LockRequest;
use super::response::{empty, set_header};
use super::versioning::written_headers;
use crate::store::versions::stamp;
use crate::store::Txn;
use axum::body::Body;
use axum::response::Response;
use bascule_api::headers::etag_list_matches;
use bascule_api::names::validate_object_key;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{ChecksumValue, Location, ObjectRecord, SystemHeaders};
use bascule_replication::Op;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use std::collections::BTreeMap;

/// Conditional-write headers (`If-None-Match: *`, `If-Match`).
#[derive(Debug, Clone, Default)]
pub struct WriteConditions {
    pub if_match: Option<String>,
    /// `*` (the key must not exist) or ETags the current version must not have.
    pub if_none_match: Option<String>,
}

impl WriteConditions {
    pub fn from_headers(h: &HeaderMap) -> S3Result<WriteConditions> {
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
        Ok(WriteConditions {
            if_match: get("if-match").map(String::from),
            if_none_match: get("if-none-match").map(String::from),
        })
    }

    /// As AWS: `If-None-Match` fails (412) when the current version matches (`*`: when
    /// there is one); `If-Match` fails when it does not match (412), or when there is no
    /// object (404 `NoSuchKey`).
    pub fn check(&self, existing: Option<&ObjectRecord>, key: &str) -> S3Result<()> {
        let failed = |cond: &str| {
            S3Error::new(S3ErrorCode::PreconditionFailed).with("Condition", cond.to_string())
        };
        if let (Some(list), Some(rec)) = (&self.if_none_match, existing) {
            if etag_list_matches(list, &rec.etag) {
                return Err(failed("If-None-Match"));
            }
        }
        if let Some(list) = &self.if_match {
            match existing {
                None => return Err(super::ctx::no_such_key(key)),
                Some(rec) if !etag_list_matches(list, &rec.etag) => return Err(failed("If-Match")),
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// A new version of an object, ready to commit.
pub struct NewObject {
    pub bucket: String,
    pub key: String,
    pub record: ObjectRecord,
    /// Inline data to store with the record: (segment id, bytes).
    pub inline: Option<(String, Bytes)>,
    /// Object lock settings the write asks for.
    pub lock: LockRequest,
}

impl NewObject {
    /// Builds the object from an ingested body and the request's metadata.
    pub fn from_ingested(
        bucket: &str,
        key: &str,
        owner: String,
        ingested: &Ingested,
        headers: SystemHeaders,
        user_meta: BTreeMap<String, String>,
        tags: Vec<(String, String)>,
    ) -> NewObject {
        let (segments, inline) = match &ingested.data {
            IngestedData::Empty => (Vec::new(), None),
            _ => {
                let (seg, data) = ingested.segment();
                let inline = data.map(|d| (seg.id.clone(), d));
                (vec![seg], inline)
            }
        };
        let (alg, value) = &ingested.checksum;
        NewObject {
            bucket: bucket.to_string(),
            key: key.to_string(),
            record: ObjectRecord {
                size: ingested.size,
                etag: ingested.md5_hex.clone(),
                last_modified_ms: now_ms(),
                owner,
                headers,
                user_meta,
                checksum: Some(ChecksumValue {
                    algorithm: alg.name().into(),
                    value: value.clone(),
                    kind: "FULL_OBJECT".into(),
                }),
                tags,
                acl: Vec::new(),
                acl_without_owner: false,
                segments,
                parts_count: None,
                parts: Vec::new(),
                upload_id: None,
                seq: 0,
                version_id: None,
                delete_marker: false,
                retention: None,
                legal_hold: false,
                encryption: None,
            },
            inline,
            lock: LockRequest::default(),
        }
    }
}

/// Commits a new object version; on failure its freshly written blobs are removed.
pub async fn commit_object(
    s: &S3State,
    new: NewObject,
    cond: WriteConditions,
) -> S3Result<ObjectRecord> {
    let segments = new.record.segments.clone();
    let result = s
        .store
        .commit(move |view| {
            let bucket = view
                .bucket(&new.bucket)?
                .ok_or_else(|| super::ctx::no_such_bucket(&new.bucket))?;
            cond.check(view.object(&new.bucket, &new.key)?.as_ref(), &new.key)?;
            let mut record = new.record;
            stamp(view, &bucket, &mut record);
            new.lock.apply(&bucket, &mut record)?;
            let mut txn = Txn::op(Op::PutObject {
                bucket: new.bucket,
                key: new.key,
                record: record.clone(),
            });
            if let Some((id, data)) = new.inline {
                txn = txn.with_inline(id, data);
            }
            Ok((txn, record))
        })
        .await;
    match result {
        Ok((record, _)) => Ok(record),
        Err(e) => {
            for seg in segments.iter().filter(|s| s.loc != Location::Inline) {
                s.store.blobs().remove(seg);
            }
            Err(e)
        }
    }
}

pub async fn put_object(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    let spec = BodySpec::from_headers(
        &ctx.headers,
        ctx.payload.clone(),
        MAX_PUT_SIZE,
        s.config.inline_threshold,
    )?;
    let record = write_object(s, ctx, body, spec).await?;
    let mut r = empty(StatusCode::OK);
    set_header(&mut r, "etag", &quoted(&record.etag));
    write_checksum_headers(&mut r, &record);
    written_headers(&mut r, ctx, &record);
    super::sse::echo(&mut r, record.encryption.as_ref());
    Ok(r)
}

/// Writes a new version of `ctx.key` from the request's headers (a browser form's fields
/// made headers) and `body`: the one write path of PutObject and PostObject, so owner,
/// ACL, conditions, metadata, tags, lock settings and checksums are read in one place.
pub async fn write_object(
    s: &S3State,
    ctx: &Ctx,
    body: Body,
    spec: BodySpec,
) -> S3Result<ObjectRecord> {
    validate_object_key(&ctx.key)?;
    let acl = super::bucket::new_object_acl(s, ctx)?;
    let cond = WriteConditions::from_headers(&ctx.headers)?;
    let headers = system_headers(&ctx.headers);
    let meta = user_meta(&ctx.headers)?;
    let tags = tagging_header(&ctx.headers)?;
    let lock = LockRequest::from_headers(&ctx.headers)?;
    let sse = super::sse::for_new_object(s, ctx)?;
    let new_segment = super::sse::new_segment(s, sse.as_ref())?;
    let ingested = ingest(&s.store, body, spec, new_segment).await?;
    let mut new = NewObject::from_ingested(
        &ctx.bucket,
        &ctx.key,
        acl.owner,
        &ingested,
        headers,
        meta,
        tags,
    );
    new.record.acl = acl.acl.grants;
    new.record.acl_without_owner = acl.acl.without_owner;
    new.record.encryption = sse.map(|spec| spec.encryption);
    new.lock = lock;
    commit_object(s, new, cond).await
}
