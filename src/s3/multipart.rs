//! Multipart uploads: create, upload part, complete, abort, list parts, list uploads.
//! Parts are blobs of their own; a completed object is the list of its parts' segments,
//! so completion moves no data.

use super::body::{ingest, BodySpec, ChecksumSpec, MAX_PUT_SIZE};
use super::ctx::{read_small_body, Ctx, S3State};
use super::meta::{now_ms, quoted, system_headers, tagging_header, time_of, user_meta};
use super::owners::{owner_of, Owners};
use super::put::WriteConditions;
use super::response::{empty, set_header, xml_response};
use crate::store::blob::new_id;
use crate::store::listing::{self, Item, Walk};
use crate::store::records::{PartRecord, UploadRecord};
use crate::store::{Local, Txn, View};
use axum::body::Body;
use axum::response::Response;
use bascule_api::checksum::{
    composite_checksum, full_object_crc, multipart_etag, ChecksumAlgorithm,
};
use bascule_api::headers::format_iso8601;
use bascule_api::names::validate_object_key;
use bascule_api::xml::{self, ChecksumFields, S3_NAMESPACE};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{
    ChecksumValue, Encryption, Location, ObjectRecord, PartSummary,
};
use bascule_replication::Op;
use http::StatusCode;

use super::endpoint::invalid_part_number;
/// Every part but the last must be at least 5 MiB.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

fn no_such_upload(id: &str) -> S3Error {
    S3Error::new(S3ErrorCode::NoSuchUpload).with("UploadId", id.to_string())
}

fn upload_id(ctx: &Ctx) -> S3Result<String> {
    ctx.params
        .upload_id
        .clone()
        .ok_or_else(|| no_such_upload(""))
}

fn load_upload(view: &View, bucket: &str, key: &str, id: &str) -> S3Result<UploadRecord> {
    view.upload(bucket, key, id)?
        .ok_or_else(|| no_such_upload(id))
}

fn upload_algorithm(up: &UploadRecord) -> Option<ChecksumAlgorithm> {
    up.checksum_algorithm
        .as_deref()
        .and_then(ChecksumAlgorithm::from_name)
}

pub async fn create(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    validate_object_key(&ctx.key)?;
    ctx.require_bucket()?;
    let algorithm = match ctx.header("x-amz-checksum-algorithm") {
        Some(a) => Some(ChecksumAlgorithm::from_name(a).ok_or_else(|| {
            S3Error::msg(
                S3ErrorCode::InvalidRequest,
                format!("Checksum algorithm {a} is not supported"),
            )
        })?),
        None => None,
    };
    let checksum_type = match (
        ctx.header("x-amz-checksum-type")
            .map(str::to_ascii_uppercase),
        algorithm,
    ) {
        (None, Some(ChecksumAlgorithm::Crc64Nvme)) => Some("FULL_OBJECT".to_string()),
        (None, Some(_)) => Some("COMPOSITE".to_string()),
        (Some(t), Some(a)) if t == "FULL_OBJECT" && a.is_crc() => Some(t),
        (Some(t), Some(a)) if t == "COMPOSITE" && a != ChecksumAlgorithm::Crc64Nvme => Some(t),
        (Some(t), _) => {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidRequest,
                format!("The checksum type {t} is not supported with this algorithm"),
            ))
        }
        (None, None) => None,
    };
    let acl = super::bucket::new_object_acl(s, ctx)?;
    let lock = super::object_lock::LockRequest::from_headers(&ctx.headers)?;
    lock.check(ctx.require_bucket()?)?;
    let sse = super::sse::for_new_object(s, ctx)?;
    super::sse::check_keys(s, sse.as_ref())?;
    let encryption = sse.map(|spec| spec.encryption);
    let record = UploadRecord {
        upload_id: new_id(),
        owner: acl.owner,
        initiated_ms: now_ms(),
        headers: system_headers(&ctx.headers),
        user_meta: user_meta(&ctx.headers)?,
        tags: tagging_header(&ctx.headers)?,
        checksum_algorithm: algorithm.map(|a| a.name().to_string()),
        checksum_type: checksum_type.clone(),
        acl: acl.acl.grants,
        acl_without_owner: acl.acl.without_owner,
        retention: lock.retention,
        legal_hold: lock.legal_hold,
        encryption: encryption.clone(),
    };
    let (bucket, key) = (ctx.bucket.clone(), ctx.key.clone());
    let id = record.upload_id.clone();
    s.store
        .commit(move |view| {
            if view.bucket(&bucket)?.is_none() {
                return Err(super::ctx::no_such_bucket(&bucket));
            }
            let txn = Txn::local(Local::PutUpload {
                bucket,
                key,
                record: Box::new(record),
            });
            Ok((txn, ()))
        })
        .await?;
    let mut r = xml_response(
        "InitiateMultipartUploadResult",
        &xml::InitiateMultipartUploadResult {
            xmlns: S3_NAMESPACE,
            bucket: ctx.bucket.clone(),
            key: ctx.key.clone(),
            upload_id: id,
        },
    );
    if let (Some(a), Some(t)) = (algorithm, checksum_type) {
        set_header(&mut r, "x-amz-checksum-algorithm", a.name());
        set_header(&mut r, "x-amz-checksum-type", &t);
    }
    super::sse::echo(&mut r, encryption.as_ref());
    Ok(r)
}

/// Stores a part under an upload, replacing an earlier part with the same number. Small
/// parts carry their bytes (`inline`), stored in the same batch.
pub async fn commit_part(
    s: &S3State,
    ctx: &Ctx,
    upload: String,
    number: u32,
    part: PartRecord,
    inline: Option<bytes::Bytes>,
) -> S3Result<()> {
    let (bucket, key) = (ctx.bucket.clone(), ctx.key.clone());
    let segment = part.segment.clone();
    let result = s
        .store
        .commit(move |view| {
            load_upload(view, &bucket, &key, &upload)?;
            let id = part.segment.id.clone();
            let mut txn = Txn::local(Local::PutPart {
                upload_id: upload,
                number,
                record: part,
            });
            if let Some(data) = inline {
                txn = txn.with_inline(id, data);
            }
            Ok((txn, ()))
        })
        .await;
    if result.is_err() && segment.loc != Location::Inline {
        s.store.blobs().remove(&segment);
    }
    result.map(|_| ())
}

pub async fn upload_part(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    let number = ctx.params.part_number.ok_or_else(invalid_part_number)?;
    let id = upload_id(ctx)?;
    let upload = load_upload_now(s, ctx, &id)?;
    let mut spec = BodySpec::from_headers(
        &ctx.headers,
        ctx.payload.clone(),
        MAX_PUT_SIZE,
        s.config.inline_threshold,
    )?;
    if let Some(alg) = upload_algorithm(&upload) {
        match &spec.checksum {
            ChecksumSpec::Compute(_) => spec.checksum = ChecksumSpec::Compute(alg),
            other if other.algorithm() != alg => {
                return Err(S3Error::msg(
                    S3ErrorCode::InvalidRequest,
                    format!(
                        "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                        alg.name().to_lowercase(),
                        other.algorithm().name().to_lowercase()
                    ),
                ))
            }
            _ => {}
        }
    }
    let sse = super::sse::for_part(s, ctx, upload.encryption.as_ref())?;
    let new = super::sse::new_segment(s, sse.as_ref())?;
    let ingested = ingest(&s.store, body, spec, new).await?;
    let (segment, inline) = ingested.segment();
    let (alg, checksum) = ingested.checksum.clone();
    let part = PartRecord {
        etag: ingested.md5_hex.clone(),
        size: ingested.size,
        last_modified_ms: now_ms(),
        segment: segment.clone(),
        checksum: Some(format!("{}:{checksum}", alg.name())),
    };
    commit_part(s, ctx, id, number, part, inline).await?;
    let mut r = empty(StatusCode::OK);
    set_header(&mut r, "etag", &quoted(&ingested.md5_hex));
    set_header(&mut r, alg.header_name(), &checksum);
    super::sse::echo(&mut r, upload.encryption.as_ref());
    Ok(r)
}

pub fn load_upload_now(s: &S3State, ctx: &Ctx, id: &str) -> S3Result<UploadRecord> {
    s.store
        .upload(&ctx.bucket, &ctx.key, id)?
        .ok_or_else(|| no_such_upload(id))
}

/// Splits a stored part checksum `ALG:value` (parts keep theirs so).
pub fn stored_checksum(c: &str) -> Option<(ChecksumAlgorithm, String)> {
    let (alg, v) = c.split_once(':')?;
    Some((ChecksumAlgorithm::from_name(alg)?, v.to_string()))
}

fn part_checksum(p: &PartRecord) -> Option<(ChecksumAlgorithm, String)> {
    stored_checksum(p.checksum.as_deref()?)
}

/// The object checksum from its parts: the upload's algorithm and type when given;
/// otherwise a full-object CRC when every part carries the same CRC algorithm.
fn object_checksum(upload: &UploadRecord, parts: &[PartRecord]) -> Option<ChecksumValue> {
    let sums: Vec<(ChecksumAlgorithm, String)> =
        parts.iter().map(part_checksum).collect::<Option<_>>()?;
    let alg = match upload_algorithm(upload) {
        Some(a) => a,
        None => sums.first()?.0,
    };
    if sums.iter().any(|(a, _)| *a != alg) {
        return None;
    }
    let kind = upload.checksum_type.clone().unwrap_or_else(|| {
        if alg.is_crc() {
            "FULL_OBJECT".into()
        } else {
            "COMPOSITE".into()
        }
    });
    let value = if kind == "FULL_OBJECT" {
        let with_sizes: Vec<(String, u64)> = sums
            .iter()
            .zip(parts)
            .map(|((_, v), p)| (v.clone(), p.size))
            .collect();
        full_object_crc(alg, &with_sizes)?
    } else {
        composite_checksum(
            alg,
            &sums.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
        )?
    };
    Some(ChecksumValue {
        algorithm: alg.name().into(),
        value,
        kind,
    })
}

/// What a CompleteMultipartUpload request says the finished object must be: its
/// whole-object checksum (`x-amz-checksum-*`, with `x-amz-checksum-type`) and its size
/// (`x-amz-mp-object-size`). Checked against the object before it is committed.
struct ExpectedObject {
    checksum: Option<(ChecksumAlgorithm, String)>,
    checksum_type: Option<String>,
    size: Option<u64>,
}

impl ExpectedObject {
    fn from_headers(ctx: &Ctx) -> S3Result<ExpectedObject> {
        let checksum = bascule_api::checksum::ALL_ALGORITHMS
            .into_iter()
            .find_map(|a| ctx.header(a.header_name()).map(|v| (a, v.to_string())));
        let size = match ctx.header("x-amz-mp-object-size") {
            None => None,
            Some(v) => Some(v.parse::<u64>().map_err(|_| {
                S3Error::msg(
                    S3ErrorCode::InvalidRequest,
                    "Value for x-amz-mp-object-size header is invalid",
                )
            })?),
        };
        Ok(ExpectedObject {
            checksum,
            checksum_type: ctx.header("x-amz-checksum-type").map(String::from),
            size,
        })
    }

    fn check(&self, object: &ObjectRecord) -> S3Result<()> {
        if self.size.is_some_and(|n| n != object.size) {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidRequest,
                format!(
                    "The provided x-amz-mp-object-size does not match the object's size {}",
                    object.size
                ),
            ));
        }
        let stored = object.checksum.as_ref();
        if let Some(t) = &self.checksum_type {
            if stored.is_none_or(|c| c.kind != *t) {
                return Err(S3Error::msg(
                    S3ErrorCode::InvalidRequest,
                    format!("The upload was not created with the checksum type {t}"),
                ));
            }
        }
        let Some((alg, given)) = &self.checksum else {
            return Ok(());
        };
        let Some(c) = stored.filter(|c| c.algorithm == alg.name()) else {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidRequest,
                format!(
                    "The upload was not created with the {} checksum algorithm",
                    alg.name()
                ),
            ));
        };
        // A composite checksum may be given with or without its `-<parts>` suffix.
        let bare = |v: &str| {
            v.split_once('-')
                .map(|(b, _)| b.to_string())
                .unwrap_or(v.to_string())
        };
        let matches = if c.kind == "COMPOSITE" {
            bare(given) == bare(&c.value)
        } else {
            *given == c.value
        };
        if !matches {
            return Err(S3Error::msg(
                S3ErrorCode::BadDigest,
                format!(
                    "The {} you specified did not match the calculated checksum.",
                    alg.header_name()
                ),
            ));
        }
        Ok(())
    }
}

pub async fn complete(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    let id = upload_id(ctx)?;
    let raw = read_small_body(body, &ctx.payload, 4 * 1024 * 1024).await?;
    let doc: xml::CompleteMultipartUpload = xml::from_xml(&raw)?;
    if doc.part.is_empty() {
        return Err(S3Error::msg(
            S3ErrorCode::MalformedXML,
            "You must specify at least one part",
        ));
    }
    // Ascending; a part number may be listed more than once (a part uploaded again): its
    // latest upload, the one stored, is used once.
    if doc
        .part
        .windows(2)
        .any(|w| w[0].part_number > w[1].part_number)
    {
        return Err(S3Error::new(S3ErrorCode::InvalidPartOrder));
    }
    let mut listed: Vec<(u32, Vec<&xml::CompletedPart>)> = Vec::new();
    for p in &doc.part {
        match listed.last_mut() {
            Some((n, group)) if *n == p.part_number => group.push(p),
            _ => listed.push((p.part_number, vec![p])),
        }
    }
    let listed: Vec<(u32, Vec<xml::CompletedPart>)> = listed
        .into_iter()
        .map(|(n, g)| (n, g.into_iter().cloned().collect()))
        .collect();
    let cond = WriteConditions::from_headers(&ctx.headers)?;
    let expected = ExpectedObject::from_headers(ctx)?;
    // Completing an SSE-C upload takes its key (proof the caller holds it, as the S3 test
    // suites expect); a key given for another upload is refused.
    let given_key = super::sse::customer_key(s, ctx, &super::sse::CUSTOMER)?.map(|c| c.md5);
    let repeated = super::sse::Repeated::of(ctx);
    let (bucket, key) = (ctx.bucket.clone(), ctx.key.clone());
    let (record, _) = s
        .store
        .commit(move |view| {
            let Some(upload) = view.upload(&bucket, &key, &id)? else {
                // A retry of a completion whose answer was lost: the object it made is
                // still the current one, so the answer is the same.
                return match view.object(&bucket, &key)? {
                    Some(done) if done.upload_id.as_deref() == Some(id.as_str()) => {
                        Ok((Txn::default(), done))
                    }
                    _ => Err(no_such_upload(&id)),
                };
            };
            repeated.check(upload.encryption.as_ref())?;
            match (&upload.encryption, &given_key) {
                (Some(Encryption::Customer { key_md5 }), Some(md5)) if key_md5 == md5 => {}
                (Some(Encryption::Customer { .. }), None) => {
                    return Err(S3Error::msg(
                        S3ErrorCode::InvalidRequest,
                        "The multipart upload initiate requested encryption. Subsequent part requests must include the appropriate encryption parameters.",
                    ))
                }
                (_, Some(_)) => {
                    return Err(S3Error::msg(
                        S3ErrorCode::InvalidArgument,
                        "The provided encryption parameters did not match the ones used originally.",
                    ))
                }
                _ => {}
            }
            let stored = view.parts(&id)?;
            let mut chosen: Vec<PartRecord> = Vec::with_capacity(listed.len());
            let mut summaries = Vec::with_capacity(listed.len());
            let upload_alg = upload_algorithm(&upload);
            for (i, (number, wants)) in listed.iter().enumerate() {
                let invalid = || {
                    S3Error::new(S3ErrorCode::InvalidPart).with("PartNumber", number.to_string())
                };
                let part = stored.get(number).ok_or_else(invalid)?;
                let Some(want) = wants
                    .iter()
                    .rev()
                    .find(|w| w.etag.trim().trim_matches('"') == part.etag)
                else {
                    let given = wants.last().map(|w| w.etag.clone()).unwrap_or_default();
                    return Err(invalid().with("ETag", given));
                };
                if let (Some(alg), Some((_, value))) = (upload_alg, part_checksum(part)) {
                    if want.checksum(alg).is_some_and(|given| given != value) {
                        return Err(invalid());
                    }
                }
                let last = i + 1 == listed.len();
                if !last && part.size < MIN_PART_SIZE {
                    return Err(S3Error::new(S3ErrorCode::EntityTooSmall)
                        .with("ProposedSize", part.size.to_string())
                        .with("MinSizeAllowed", MIN_PART_SIZE.to_string())
                        .with("PartNumber", number.to_string()));
                }
                summaries.push(PartSummary {
                    number: *number,
                    checksum: part.checksum.clone(),
                });
                chosen.push(part.clone());
            }
            let etag = multipart_etag(&chosen.iter().map(|p| p.etag.clone()).collect::<Vec<_>>())
                .ok_or_else(|| S3Error::new(S3ErrorCode::InternalError))?;
            let mut record = ObjectRecord {
                size: chosen.iter().map(|p| p.size).sum(),
                etag,
                last_modified_ms: now_ms(),
                owner: upload.owner.clone(),
                headers: upload.headers.clone(),
                user_meta: upload.user_meta.clone(),
                checksum: object_checksum(&upload, &chosen),
                tags: upload.tags.clone(),
                acl: upload.acl.clone(),
                acl_without_owner: upload.acl_without_owner,
                segments: chosen.iter().map(|p| p.segment.clone()).collect(),
                parts_count: Some(chosen.len() as u32),
                parts: summaries,
                upload_id: Some(id.clone()),
                seq: 0,
                version_id: None,
                delete_marker: false,
                retention: None,
                legal_hold: false,
                encryption: upload.encryption.clone(),
            };
            expected.check(&record)?;
            let bucket_record = view
                .bucket(&bucket)?
                .ok_or_else(|| super::ctx::no_such_bucket(&bucket))?;
            cond.check(view.object(&bucket, &key)?.as_ref(), &key)?;
            crate::store::versions::stamp(view, &bucket_record, &mut record);
            let lock = super::object_lock::LockRequest {
                retention: upload.retention,
                legal_hold: upload.legal_hold,
            };
            lock.apply(&bucket_record, &mut record)?;
            // The object takes the chosen parts' data; the planner releases the others.
            let txn = Txn {
                local: vec![Local::DeleteUpload {
                    bucket: bucket.clone(),
                    key: key.clone(),
                    upload_id: id,
                }],
                ..Txn::op(Op::PutObject {
                    bucket,
                    key,
                    record: record.clone(),
                })
            };
            Ok((txn, record))
        })
        .await?;
    let (alg, value, kind) = match &record.checksum {
        Some(c) => (
            ChecksumAlgorithm::from_name(&c.algorithm),
            Some(c.value.as_str()),
            Some(c.kind.as_str()),
        ),
        None => (None, None, None),
    };
    let mut r = xml_response(
        "CompleteMultipartUploadResult",
        &xml::CompleteMultipartUploadResult {
            xmlns: S3_NAMESPACE,
            location: format!("/{}/{}", ctx.bucket, ctx.key),
            bucket: ctx.bucket.clone(),
            key: ctx.key.clone(),
            etag: quoted(&record.etag),
            checksum: ChecksumFields::from_pair(alg, value, kind),
        },
    );
    super::meta::write_checksum_headers(&mut r, &record);
    super::versioning::written_headers(&mut r, ctx, &record);
    super::sse::echo(&mut r, record.encryption.as_ref());
    Ok(r)
}

pub async fn abort(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    let id = upload_id(ctx)?;
    let (bucket, key) = (ctx.bucket.clone(), ctx.key.clone());
    s.store
        .commit(move |view| {
            load_upload(view, &bucket, &key, &id)?;
            let txn = Txn::local(Local::DeleteUpload {
                bucket,
                key,
                upload_id: id,
            });
            Ok::<_, S3Error>((txn, ()))
        })
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub fn list_parts(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    let id = upload_id(ctx)?;
    let upload = load_upload_now(s, ctx, &id)?;
    let max: usize = ctx
        .q("max-parts")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let marker: u32 = ctx
        .q("part-number-marker")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut page = s.store.parts(&id, marker, max + 1)?;
    let truncated = page.len() > max;
    page.truncate(max);
    let mut parts = Vec::new();
    for (number, p) in page {
        let (alg, value) = match part_checksum(&p) {
            Some((a, v)) if upload_algorithm(&upload) == Some(a) => (Some(a), Some(v)),
            _ => (None, None),
        };
        parts.push(xml::PartEntry {
            part_number: number,
            last_modified: format_iso8601(time_of(p.last_modified_ms)),
            etag: quoted(&p.etag),
            size: p.size,
            checksum: ChecksumFields::from_pair(alg, value.as_deref(), None),
        });
    }
    let owner = owner_of(&s.store, &upload.owner);
    Ok(xml_response(
        "ListPartsResult",
        &xml::ListPartsResult {
            xmlns: S3_NAMESPACE,
            bucket: ctx.bucket.clone(),
            key: ctx.key.clone(),
            upload_id: id,
            initiator: owner.clone(),
            owner,
            storage_class: "STANDARD",
            part_number_marker: marker,
            next_part_number_marker: truncated
                .then(|| parts.last().map(|p| p.part_number))
                .flatten(),
            max_parts: max,
            is_truncated: truncated,
            checksum_algorithm: upload.checksum_algorithm.clone(),
            part: parts,
        },
    ))
}

pub fn list_uploads(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    let prefix = ctx.q("prefix").unwrap_or("").to_string();
    let delimiter = ctx
        .q("delimiter")
        .filter(|d| !d.is_empty())
        .map(String::from);
    let key_marker = ctx.q("key-marker").unwrap_or("").to_string();
    let id_marker = ctx.q("upload-id-marker").unwrap_or("").to_string();
    let max: usize = ctx
        .q("max-uploads")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
        .min(1000);
    let walked = listing::uploads(
        &s.store,
        &Walk {
            bucket: &ctx.bucket,
            prefix: &prefix,
            delimiter: delimiter.as_deref(),
            resume: listing::uploads_resume(&key_marker, &id_marker),
            max,
        },
    )?;
    let owners = Owners::new(&s.store);
    let mut uploads = Vec::new();
    let mut prefixes = Vec::new();
    for item in walked.items {
        match item {
            Item::Entry { key, record: up } => {
                let owner = owners.get(&up.owner);
                uploads.push(xml::UploadEntry {
                    key,
                    upload_id: up.upload_id,
                    initiator: owner.clone(),
                    owner,
                    storage_class: "STANDARD",
                    initiated: format_iso8601(time_of(up.initiated_ms)),
                });
            }
            Item::Prefix(p) => prefixes.push(xml::CommonPrefix { prefix: p }),
        }
    }
    let (next_key, next_id) = match (walked.truncated, uploads.last()) {
        (true, Some(u)) => (Some(u.key.clone()), Some(u.upload_id.clone())),
        _ => (None, None),
    };
    Ok(xml_response(
        "ListMultipartUploadsResult",
        &xml::ListMultipartUploadsResult {
            xmlns: S3_NAMESPACE,
            bucket: ctx.bucket.clone(),
            key_marker,
            upload_id_marker: id_marker,
            next_key_marker: next_key,
            next_upload_id_marker: next_id,
            prefix,
            delimiter,
            max_uploads: max,
            is_truncated: walked.truncated,
            upload: uploads,
            common_prefixes: prefixes,
        },
    ))
}
