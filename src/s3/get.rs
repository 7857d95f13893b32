//! GetObject and HeadObject: preconditions, Range and partNumber, response overrides, and
//! streaming from disk in bounded chunks so memory does not grow with object size.

use super::ctx::{Ctx, S3State};
use super::meta::{quoted, time_of, write_object_headers};
use super::response::set_header;
use super::versioning::{requested_version, version_header};
use crate::store::read::{open_range, read_pieces, Piece};
use crate::store::{SegmentSource, StoreError};
use axum::body::Body;
use axum::response::Response;
use bascule_api::headers::{
    format_http_date, parse_http_date, resolve_range, ByteRange, Precondition, Preconditions,
};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{Location, ObjectRecord};
use bytes::Bytes;
use http::{HeaderMap, StatusCode};

/// Chunks buffered between the reader thread and the connection.
const READ_AHEAD: usize = 4;

pub fn preconditions(h: &HeaderMap, prefix: &str) -> Preconditions {
    let get = |n: &str| h.get(format!("{prefix}{n}")).and_then(|v| v.to_str().ok());
    Preconditions {
        if_match: get("if-match").map(String::from),
        if_none_match: get("if-none-match").map(String::from),
        if_modified_since: get("if-modified-since").and_then(parse_http_date),
        if_unmodified_since: get("if-unmodified-since").and_then(parse_http_date),
    }
}

pub async fn get_object(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    // As AWS: an anonymous caller cannot make a public object answer as something else
    // (a text file served as text/html).
    if matches!(ctx.identity, super::auth::Identity::Anonymous)
        && ctx.query.iter().any(|(k, _)| k.starts_with("response-"))
    {
        return Err(S3Error::msg(
            S3ErrorCode::InvalidRequest,
            "Request specific response headers cannot be used for anonymous GET requests.",
        ));
    }
    serve(s, ctx, false).await
}

pub async fn head_object(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    serve(s, ctx, true).await
}

/// The byte range a `partNumber` selects.
fn part_range(rec: &ObjectRecord, part: u32) -> S3Result<ByteRange> {
    // A part the object does not have: `400 InvalidPart`, as AWS answers (and the S3 test
    // suites expect).
    let invalid = || {
        S3Error::msg(
            S3ErrorCode::InvalidPart,
            "The requested partnumber is not satisfiable",
        )
        .with("PartNumberRequested", part.to_string())
    };
    let count = rec.parts_count.unwrap_or(1);
    if part == 0 || part > count {
        return Err(invalid());
    }
    if rec.parts_count.is_none() {
        if rec.size == 0 {
            return Err(invalid());
        }
        return Ok(ByteRange {
            start: 0,
            end: rec.size - 1,
        });
    }
    let idx = part as usize - 1;
    let start: u64 = rec.segments[..idx].iter().map(|s| s.size).sum();
    let size = rec.segments.get(idx).map(|s| s.size).ok_or_else(invalid)?;
    if size == 0 {
        return Err(invalid());
    }
    Ok(ByteRange {
        start,
        end: start + size - 1,
    })
}

async fn serve(s: &S3State, ctx: &Ctx, head: bool) -> S3Result<Response> {
    ctx.require_bucket()?;
    // A concurrent overwrite may release the data between reading the record and opening
    // its files: read the record again and retry.
    let mut attempt = 0;
    loop {
        attempt += 1;
        let rec = match requested_version(s, ctx) {
            // As AWS: a caller who may not list the bucket cannot learn that a key is
            // missing (a 403, not a 404).
            Err(e) if e.code == S3ErrorCode::NoSuchKey && !ctx.may_list_key(&ctx.key)? => {
                return Err(S3Error::new(S3ErrorCode::AccessDenied))
            }
            other => other?,
        };
        match respond(s, ctx, head, &rec).await {
            Err(Retry) if attempt < 5 => continue,
            Err(Retry) => return Err(S3Error::new(S3ErrorCode::InternalError)),
            Ok(r) => return r,
        }
    }
}

struct Retry;

/// Why an object's data could not be opened: its files (a concurrent overwrite released
/// them: retry) or its keys (the client's answer).
enum Opening {
    Store(StoreError),
    Key(S3Error),
}

impl From<StoreError> for Opening {
    fn from(e: StoreError) -> Self {
        Opening::Store(e)
    }
}

async fn respond(
    s: &S3State,
    ctx: &Ctx,
    head: bool,
    rec: &ObjectRecord,
) -> Result<S3Result<Response>, Retry> {
    let etag = quoted(&rec.etag);
    let conditions_err = |code: S3ErrorCode| {
        let mut e = S3Error::new(code);
        if code == S3ErrorCode::NotModified {
            e = e.with_header("etag", etag.clone()).with_header(
                "last-modified",
                format_http_date(time_of(rec.last_modified_ms)),
            );
        }
        Ok(Err(e))
    };
    match preconditions(&ctx.headers, "").evaluate(&rec.etag, time_of(rec.last_modified_ms)) {
        Precondition::Failed => return conditions_err(S3ErrorCode::PreconditionFailed),
        Precondition::NotModified => return conditions_err(S3ErrorCode::NotModified),
        Precondition::Proceed => {}
    }
    let part = ctx.params.part_number;
    let range = match (part, ctx.header("range")) {
        (Some(_), Some(_)) => {
            return Ok(Err(S3Error::msg(
                S3ErrorCode::InvalidRequest,
                "Cannot specify both Range header and partNumber query parameter",
            )))
        }
        (Some(n), None) => match part_range(rec, n) {
            Ok(r) => Some(r),
            Err(e) => return Ok(Err(e)),
        },
        (None, Some(h)) => match resolve_range(h, rec.size) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        },
        (None, None) => None,
    };
    let (start, len) = match range {
        Some(r) => (r.start, r.len()),
        None => (0, rec.size),
    };
    // An SSE-C object needs its key (HEAD included); a key given for any other is refused.
    let keys = match super::sse::opener(s, ctx, rec, &super::sse::CUSTOMER) {
        Ok(k) => k,
        Err(e) => return Ok(Err(e)),
    };
    let whole = range.is_none() || (start == 0 && len == rec.size && part.is_none());
    let checksum_mode = ctx
        .header("x-amz-checksum-mode")
        .is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"))
        && whole;

    let body = if head || len == 0 {
        Body::empty()
    } else {
        let store = s.store.clone();
        let segments = rec.segments.clone();
        // Inline data is one read of the metadata store, like the record's just before:
        // done here. Handing it to a blocking thread and back cost a small GET two
        // context switches, a third of its CPU time.
        let inline_only = segments.iter().all(|g| g.loc == Location::Inline);
        let open = move || {
            open_range(&store, &segments, start, len, |seg, seal| {
                keys.key_of(seg, seal).map_err(Opening::Key)
            })
        };
        let opened = if inline_only {
            Ok(open())
        } else {
            tokio::task::spawn_blocking(open).await
        };
        match opened {
            Ok(Ok(sources)) => stream_sources(sources),
            Ok(Err(Opening::Store(StoreError::Io(e))))
                if e.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(Retry)
            }
            Ok(Err(Opening::Store(StoreError::Corrupt(_)))) => return Err(Retry),
            Ok(Err(Opening::Store(e))) => return Ok(Err(e.into())),
            Ok(Err(Opening::Key(e))) => return Ok(Err(e)),
            Err(_) => return Ok(Err(S3Error::new(S3ErrorCode::InternalError))),
        }
    };
    let mut r = Response::new(body);
    write_object_headers(&mut r, rec, checksum_mode);
    super::sse::echo(&mut r, rec.encryption.as_ref());
    version_header(&mut r, ctx.bucket_record.as_ref(), rec);
    super::object_lock::write_lock_headers(&mut r, rec);
    let current = ctx.params.version == super::endpoint::VersionSlot::Current;
    super::lifecycle_api::expiration_header(
        &mut r,
        ctx.bucket_record.as_ref(),
        &ctx.key,
        rec,
        current,
    );
    if let Some(status) = s.zone.replication_status(rec.seq) {
        set_header(&mut r, "x-amz-replication-status", status);
    }
    set_header(&mut r, "content-length", &len.to_string());
    if let Some(range) = range {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
        set_header(&mut r, "content-range", &range.content_range(rec.size));
    }
    for (param, header) in [
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ] {
        if let Some(v) = ctx.q(param) {
            set_header(&mut r, header, v);
        }
    }
    Ok(Ok(r))
}

/// Streams the pieces from a blocking thread through a small bounded channel.
pub fn stream_sources(sources: Vec<Piece>) -> Body {
    if let [Piece {
        source: SegmentSource::Inline(data),
        offset,
        len,
        sealed: None,
        ..
    }] = sources.as_slice()
    {
        let (off, len) = (*offset as usize, *len as usize);
        return Body::from(Bytes::copy_from_slice(&data[off..off + len]));
    }
    // A small sealed object kept inline is opened right here (at most the inline
    // threshold's few chunks): a blocking thread and a channel would cost more than the
    // decryption.
    if let [Piece {
        source: SegmentSource::Inline(_),
        sealed: Some(_),
        ..
    }] = sources.as_slice()
    {
        let mut out = Vec::new();
        let opened = read_pieces(sources, |chunk| {
            out.push(chunk);
            Ok(())
        });
        return match opened {
            Ok(()) => Body::from(Bytes::from(out.concat())),
            // A chunk that fails authentication ends the body with an error, as a
            // streamed read does: nothing of it is sent.
            Err(e) => Body::from_stream(futures::stream::once(async move {
                Err::<Bytes, std::io::Error>(e)
            })),
        };
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(READ_AHEAD);
    tokio::task::spawn_blocking(move || {
        let sent = read_pieces(sources, |chunk| {
            tx.blocking_send(Ok(chunk))
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::BrokenPipe))
        });
        if let Err(e) = sent {
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                let _ = tx.blocking_send(Err(e));
            }
        }
    });
    Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

pub fn get_object_acl(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    let b = ctx.require_bucket()?;
    let rec = requested_version(s, ctx)?;
    let owner = super::acl::object_owner(b, &rec.owner);
    let mut r = super::acl::response(
        &super::owners::Owners::new(&s.store),
        b,
        owner,
        &rec.acl,
        rec.acl_without_owner,
    );
    version_header(&mut r, Some(b), &rec);
    Ok(r)
}

/// GetObjectAttributes: the attributes `x-amz-object-attributes` names (ETag, Checksum,
/// ObjectParts, StorageClass, ObjectSize), parts paginated by `x-amz-max-parts` and
/// `x-amz-part-number-marker`.
pub fn get_object_attributes(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    use bascule_api::checksum::ChecksumAlgorithm;
    use bascule_api::xml::{
        AttributesPart, ChecksumFields, GetObjectAttributesResponse, ObjectParts,
    };
    ctx.require_bucket()?;
    let invalid = |name: &str, msg: &str| {
        S3Error::msg(S3ErrorCode::InvalidArgument, msg.to_string())
            .with("ArgumentName", name.to_string())
    };
    let wanted: Vec<String> = ctx
        .headers
        .get_all("x-amz-object-attributes")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    const KNOWN: [&str; 5] = [
        "ETag",
        "Checksum",
        "ObjectParts",
        "StorageClass",
        "ObjectSize",
    ];
    if wanted.is_empty() {
        return Err(invalid(
            "x-amz-object-attributes",
            "The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty",
        ));
    }
    if let Some(bad) = wanted.iter().find(|a| !KNOWN.contains(&a.as_str())) {
        return Err(invalid(
            "x-amz-object-attributes",
            &format!("Invalid attribute name specified: {bad}"),
        ));
    }
    let number = |name: &str, default: u32| -> S3Result<u32> {
        match ctx.header(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u32>()
                .map_err(|_| invalid(name, &format!("{name} must be a non-negative integer"))),
        }
    };
    let max_parts = number("x-amz-max-parts", 1000)?.min(1000);
    let marker = number("x-amz-part-number-marker", 0)?;
    let rec = requested_version(s, ctx)?;
    // As for GET: an SSE-C object's attributes need its key.
    super::sse::opener(s, ctx, &rec, &super::sse::CUSTOMER)?;
    let want = |a: &str| wanted.iter().any(|w| w == a);
    let object_parts = (want("ObjectParts") && !rec.parts.is_empty()).then(|| {
        let after: Vec<_> = rec
            .parts
            .iter()
            .zip(&rec.segments)
            .filter(|(p, _)| p.number > marker)
            .collect();
        let page: Vec<_> = after.iter().take(max_parts as usize).collect();
        let is_truncated = after.len() > page.len();
        ObjectParts {
            parts_count: rec.parts.len() as u32,
            part_number_marker: marker,
            next_part_number_marker: page.last().map(|(p, _)| p.number).unwrap_or(marker),
            max_parts,
            is_truncated,
            part: page
                .iter()
                .map(|(p, seg)| {
                    AttributesPart::new(
                        p.number,
                        seg.size,
                        p.checksum
                            .as_deref()
                            .and_then(super::multipart::stored_checksum),
                    )
                })
                .collect(),
        }
    });
    let checksum = want("Checksum")
        .then_some(rec.checksum.as_ref())
        .flatten()
        .map(|c| {
            ChecksumFields::from_pair(
                ChecksumAlgorithm::from_name(&c.algorithm),
                Some(&c.value),
                Some(&c.kind),
            )
        });
    let mut r = super::response::xml_response(
        "GetObjectAttributesResponse",
        &GetObjectAttributesResponse {
            xmlns: bascule_api::xml::S3_NAMESPACE,
            etag: want("ETag").then(|| rec.etag.clone()),
            checksum,
            object_parts,
            storage_class: want("StorageClass").then_some("STANDARD"),
            object_size: want("ObjectSize").then_some(rec.size),
        },
    );
    super::response::set_header(
        &mut r,
        "last-modified",
        &format_http_date(super::meta::time_of(rec.last_modified_ms)),
    );
    version_header(&mut r, ctx.bucket_record.as_ref(), &rec);
    Ok(r)
}
