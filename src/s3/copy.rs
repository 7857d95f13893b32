//! CopyObject and UploadPartCopy.

use super::body::copy_data;
use super::ctx::{Ctx, S3State};
use super::endpoint::{Endpoint, VersionSlot};
use super::get::preconditions;
use super::meta::{
    now_ms, quoted, system_headers, tagging_header, time_of, user_meta, write_checksum_headers,
};
use super::multipart::commit_part;
use super::put::{commit_object, NewObject, WriteConditions};
use super::response::{set_header, xml_response};
use super::versioning::update_object;
use crate::store::records::PartRecord;
use axum::response::Response;
use bascule_api::checksum::ChecksumAlgorithm;
use bascule_api::encoding::percent_decode;
use bascule_api::headers::{format_iso8601, resolve_range, Precondition};
use bascule_api::names::validate_object_key;
use bascule_api::xml::{self, ChecksumFields, S3_NAMESPACE};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::ObjectRecord;

/// The largest object CopyObject copies in one request (S3's limit).
const MAX_COPY_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Parses `x-amz-copy-source` (`[/]bucket/key[?versionId=id]`, URL-encoded).
fn copy_source(ctx: &Ctx) -> S3Result<(String, String, VersionSlot)> {
    let invalid = || {
        S3Error::msg(
            S3ErrorCode::InvalidArgument,
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
        )
        .with("ArgumentName", "x-amz-copy-source")
    };
    let raw = ctx.header("x-amz-copy-source").ok_or_else(invalid)?;
    let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
    let version = match query.strip_prefix("versionId=") {
        None if query.is_empty() => VersionSlot::Current,
        None => return Err(invalid()),
        Some(v) => VersionSlot::from_param(Some(&percent_decode(v).ok_or_else(invalid)?)),
    };
    let decoded = percent_decode(path).ok_or_else(invalid)?;
    let (bucket, key) = decoded
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    Ok((bucket.to_string(), key.to_string(), version))
}

/// The source version a copy reads. A delete marker named by its id is refused as S3
/// refuses it; one that hides the key is `NoSuchKey`.
fn source_version(
    s: &S3State,
    bucket: &str,
    key: &str,
    version: &VersionSlot,
) -> S3Result<Option<ObjectRecord>> {
    match super::versioning::find(&s.store.read(), bucket, key, version) {
        Ok(rec) => Ok(Some(rec)),
        Err(e) if e.code == S3ErrorCode::MethodNotAllowed => Err(S3Error::msg(
            S3ErrorCode::InvalidRequest,
            "The source of a copy request may not specifically refer to a delete marker by version id.",
        )),
        Err(e) if matches!(e.code, S3ErrorCode::NoSuchKey) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The copy's source: where it is, which version was asked for, and that version.
struct Source {
    bucket: String,
    key: String,
    asked: VersionSlot,
    record: ObjectRecord,
    versioned_bucket: bool,
}

/// Loads the source object, checking the caller may read it and `x-amz-copy-source-if-*`.
fn load_source(s: &S3State, ctx: &Ctx) -> S3Result<Source> {
    let (bucket, key, asked) = copy_source(ctx)?;
    let src_bucket = s
        .store
        .bucket(&bucket)?
        .ok_or_else(|| super::ctx::no_such_bucket(&bucket))?;
    super::ctx::check_expected_owner(
        &ctx.headers,
        "x-amz-source-expected-bucket-owner",
        Some(&src_bucket),
    )?;
    let rec = source_version(s, &bucket, &key, &asked)?;
    ctx.authorize(
        Endpoint::GetObject,
        &src_bucket,
        &key,
        asked.param(),
        || Ok(rec.clone()),
    )?;
    let rec = rec.ok_or_else(|| super::ctx::no_such_key(&key))?;
    match preconditions(&ctx.headers, "x-amz-copy-source-")
        .evaluate(&rec.etag, time_of(rec.last_modified_ms))
    {
        Precondition::Proceed => Ok(Source {
            bucket,
            key,
            asked,
            record: rec,
            versioned_bucket: src_bucket.versioning.is_some(),
        }),
        _ => Err(S3Error::new(S3ErrorCode::PreconditionFailed)
            .with("Condition", "x-amz-copy-source-If-*")),
    }
}

fn directive(ctx: &Ctx, header: &str) -> S3Result<bool> {
    match ctx.header(header) {
        None | Some("COPY") => Ok(false),
        Some("REPLACE") => Ok(true),
        Some(other) => Err(S3Error::msg(
            S3ErrorCode::InvalidArgument,
            format!("Unknown {header} value: {other}"),
        )
        .with("ArgumentName", header.to_string())),
    }
}

/// The checksum a copy computes: the one the client asks for, else the source's algorithm.
fn copy_algorithm(ctx: &Ctx, src: &ObjectRecord) -> ChecksumAlgorithm {
    ctx.header("x-amz-checksum-algorithm")
        .and_then(ChecksumAlgorithm::from_name)
        .or_else(|| {
            src.checksum
                .as_ref()
                .filter(|c| c.kind == "FULL_OBJECT")
                .and_then(|c| ChecksumAlgorithm::from_name(&c.algorithm))
        })
        .unwrap_or(ChecksumAlgorithm::Crc64Nvme)
}

fn copy_result(rec: &ObjectRecord) -> Response {
    let (alg, value, kind) = match &rec.checksum {
        Some(c) => (
            ChecksumAlgorithm::from_name(&c.algorithm),
            Some(c.value.as_str()),
            Some(c.kind.as_str()),
        ),
        None => (None, None, None),
    };
    xml_response(
        "CopyObjectResult",
        &xml::CopyResult {
            xmlns: S3_NAMESPACE,
            last_modified: format_iso8601(time_of(rec.last_modified_ms)),
            etag: quoted(&rec.etag),
            checksum: ChecksumFields::from_pair(alg, value, kind),
        },
    )
}

pub async fn copy_object(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    validate_object_key(&ctx.key)?;
    // A copy is a new object: its ACL comes from this request (private by default), never
    // from the source.
    let acl = super::bucket::new_object_acl(s, ctx)?;
    let source = load_source(s, ctx)?;
    let src = &source.record;
    let lock = super::object_lock::LockRequest::from_headers(&ctx.headers)?;
    let replace_meta = directive(ctx, "x-amz-metadata-directive")?;
    let replace_tags = directive(ctx, "x-amz-tagging-directive")?;
    let (headers, meta) = if replace_meta {
        (system_headers(&ctx.headers), user_meta(&ctx.headers)?)
    } else {
        (src.headers.clone(), src.user_meta.clone())
    };
    let tags = if replace_tags {
        tagging_header(&ctx.headers)?
    } else {
        src.tags.clone()
    };

    let source_keys = super::sse::opener(s, ctx, src, &super::sse::COPY_SOURCE_CUSTOMER)?;
    let sse = super::sse::for_new_object(s, ctx)?;
    super::sse::check_keys(s, sse.as_ref())?;
    let encryption = sse.as_ref().map(|spec| spec.encryption.clone());
    let asks_encryption = ctx
        .headers
        .keys()
        .any(|h| h.as_str().starts_with("x-amz-server-side-encryption"));
    let onto_itself = source.bucket == ctx.bucket && source.key == ctx.key;
    if onto_itself
        && !replace_meta
        && !replace_tags
        && !asks_encryption
        && source.asked == VersionSlot::Current
    {
        return Err(S3Error::msg(
            S3ErrorCode::InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
        ));
    }
    // Onto its own current null version, with versioning not enabled: the same data, so
    // only the record changes and the blobs stay where they are. Any other copy writes a
    // new version with data of its own (two versions never share a blob).
    let versioned = ctx.bucket_record.as_ref().is_some_and(|b| b.versioned());
    if onto_itself
        && source.asked == VersionSlot::Current
        && src.version_id.is_none()
        && !versioned
        && lock.is_empty()
        && encryption == src.encryption
    {
        let etag = src.etag.clone();
        let rec = update_object(s, &ctx.bucket, &ctx.key, &VersionSlot::Null, move |r| {
            if r.etag != etag {
                return Err(S3Error::new(S3ErrorCode::PreconditionFailed)
                    .with("Condition", "x-amz-copy-source"));
            }
            r.headers = headers;
            r.user_meta = meta;
            r.tags = tags;
            r.acl = acl.acl.grants;
            r.acl_without_owner = acl.acl.without_owner;
            r.owner = acl.owner;
            r.last_modified_ms = now_ms();
            Ok(())
        })
        .await?;
        let mut r = copy_result(&rec);
        copy_version_headers(&mut r, ctx, &source, &rec);
        return Ok(r);
    }

    if src.size > MAX_COPY_SIZE {
        return Err(S3Error::msg(S3ErrorCode::InvalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120"));
    }
    let cond = WriteConditions::from_headers(&ctx.headers)?;
    let alg = copy_algorithm(ctx, src);
    let copied = copy_data(
        &s.store,
        src.segments.clone(),
        source_keys,
        0,
        src.size,
        alg,
        s.config.inline_threshold,
        super::sse::new_segment(s, sse.as_ref())?,
    )
    .await?;
    let mut new = NewObject::from_ingested(
        &ctx.bucket,
        &ctx.key,
        acl.owner,
        &copied,
        headers,
        meta,
        tags,
    );
    new.record.acl = acl.acl.grants;
    new.record.acl_without_owner = acl.acl.without_owner;
    new.record.encryption = encryption;
    new.lock = lock;
    let rec = commit_object(s, new, cond).await?;
    let mut r = copy_result(&rec);
    write_checksum_headers(&mut r, &rec);
    copy_version_headers(&mut r, ctx, &source, &rec);
    super::sse::echo(&mut r, rec.encryption.as_ref());
    Ok(r)
}

/// `x-amz-copy-source-version-id` (the version read) and `x-amz-version-id` (the one
/// written), each when its bucket has versioning.
fn copy_version_headers(r: &mut Response, ctx: &Ctx, source: &Source, written: &ObjectRecord) {
    if source.versioned_bucket || source.record.version_id.is_some() {
        set_header(
            r,
            "x-amz-copy-source-version-id",
            source.record.version_label(),
        );
    }
    super::versioning::written_headers(r, ctx, written);
}

pub async fn upload_part_copy(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    let number = ctx
        .params
        .part_number
        .ok_or_else(super::endpoint::invalid_part_number)?;
    let upload = ctx.params.upload_id.clone().unwrap_or_default();
    let source = load_source(s, ctx)?;
    let src = &source.record;
    let source_keys = super::sse::opener(s, ctx, src, &super::sse::COPY_SOURCE_CUSTOMER)?;
    let (start, len) = match ctx.header("x-amz-copy-source-range") {
        None => (0, src.size),
        Some(h) => {
            let bad = || {
                S3Error::msg(S3ErrorCode::InvalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy").with("ArgumentName", "x-amz-copy-source-range")
            };
            let (a, b) = h
                .trim()
                .strip_prefix("bytes=")
                .and_then(|r| r.split_once('-'))
                .ok_or_else(bad)?;
            let (a, b): (u64, u64) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
            if b < a {
                return Err(bad());
            }
            let r = resolve_range(&format!("bytes={a}-{b}"), src.size)?.ok_or_else(bad)?;
            if r.end != b {
                return Err(
                    S3Error::new(S3ErrorCode::InvalidRange).with("RangeRequested", h.to_string())
                );
            }
            (r.start, r.len())
        }
    };
    if len > super::body::MAX_PUT_SIZE {
        return Err(S3Error::new(S3ErrorCode::EntityTooLarge));
    }
    // The part is encrypted as its upload says (with the upload's customer key, if any).
    let upload_record = super::multipart::load_upload_now(s, ctx, &upload)?;
    let sse = super::sse::for_part(s, ctx, upload_record.encryption.as_ref())?;
    let alg = ctx
        .header("x-amz-checksum-algorithm")
        .and_then(ChecksumAlgorithm::from_name)
        .unwrap_or(ChecksumAlgorithm::Crc64Nvme);
    let copied = copy_data(
        &s.store,
        src.segments.clone(),
        source_keys,
        start,
        len,
        alg,
        s.config.inline_threshold,
        super::sse::new_segment(s, sse.as_ref())?,
    )
    .await?;
    let (segment, inline) = copied.segment();
    let last_modified_ms = now_ms();
    let part = PartRecord {
        etag: copied.md5_hex.clone(),
        size: len,
        last_modified_ms,
        segment,
        checksum: Some(format!("{}:{}", alg.name(), copied.checksum.1)),
    };
    commit_part(s, ctx, upload, number, part, inline).await?;
    let mut r = xml_response(
        "CopyPartResult",
        &xml::CopyResult {
            xmlns: S3_NAMESPACE,
            last_modified: format_iso8601(time_of(last_modified_ms)),
            etag: quoted(&copied.md5_hex),
            checksum: ChecksumFields::default(),
        },
    );
    set_header(&mut r, alg.header_name(), &copied.checksum.1);
    super::sse::echo(&mut r, upload_record.encryption.as_ref());
    Ok(r)
}
