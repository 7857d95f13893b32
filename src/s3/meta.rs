//! Object metadata from request headers (system headers, `x-amz-meta-*`, tags), and back
//! out to response headers.

use super::response::set_header;
use axum::response::Response;
use bascule_api::checksum::ChecksumAlgorithm;
use bascule_api::encoding::parse_query;
use bascule_api::headers::format_http_date;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{ObjectRecord, SystemHeaders};
use http::HeaderMap;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// S3 limits user-defined metadata to 2 KB (names and values, UTF-8 bytes).
pub const MAX_USER_META: usize = 2 * 1024;
const META_PREFIX: &str = "x-amz-meta-";

/// A header's value as the client sent it (UTF-8 allowed, not only ASCII).
fn get<'a>(h: &'a HeaderMap, n: &str) -> Option<&'a str> {
    h.get(n)
        .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

pub fn system_headers(h: &HeaderMap) -> SystemHeaders {
    let s = |n: &str| get(h, n).map(String::from);
    SystemHeaders {
        content_type: s("content-type"),
        // Kept byte for byte, except the `aws-chunked` transfer coding, which is not the
        // object's (S3 drops it).
        content_encoding: s("content-encoding")
            .map(|v| {
                if v.split(',').any(|e| e.trim() == "aws-chunked") {
                    v.split(',')
                        .map(str::trim)
                        .filter(|e| *e != "aws-chunked")
                        .collect::<Vec<_>>()
                        .join(",")
                } else {
                    v
                }
            })
            .filter(|v| !v.is_empty()),
        content_disposition: s("content-disposition"),
        content_language: s("content-language"),
        cache_control: s("cache-control"),
        expires: s("expires"),
    }
}

pub fn user_meta(h: &HeaderMap) -> S3Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut size = 0;
    for (name, value) in h {
        if let Some(k) = name.as_str().strip_prefix(META_PREFIX) {
            // UTF-8 sent raw or as RFC 2047 encoded-words is stored decoded, as S3 does.
            let raw = std::str::from_utf8(value.as_bytes()).map_err(|_| {
                S3Error::msg(
                    S3ErrorCode::InvalidArgument,
                    "User metadata values must be UTF-8",
                )
                .with("ArgumentName", name.as_str().to_string())
            })?;
            let v = bascule_api::headers::rfc2047_decode(raw);
            size += k.len() + v.len();
            out.insert(k.to_string(), v);
        }
    }
    if size > MAX_USER_META {
        return Err(S3Error::new(S3ErrorCode::MetadataTooLarge)
            .with("Size", size.to_string())
            .with("MaxSizeAllowed", MAX_USER_META.to_string()));
    }
    Ok(out)
}

/// The most tags an object (10) or a bucket (50) carries; keys are unique, up to 128
/// characters, values up to 256.
pub const MAX_OBJECT_TAGS: usize = 10;
pub const MAX_BUCKET_TAGS: usize = 50;

pub fn validate_tags(tags: &[(String, String)]) -> S3Result<()> {
    validate_tag_set(tags, MAX_OBJECT_TAGS)
}

pub fn validate_tag_set(tags: &[(String, String)], max: usize) -> S3Result<()> {
    let bad = |m: &str| Err(S3Error::msg(S3ErrorCode::InvalidTag, m.to_string()));
    if tags.len() > max {
        return bad(&format!("Tags cannot be more than {max}"));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, v) in tags {
        if k.starts_with("aws:") {
            return bad("System tags cannot be added/updated by requester");
        }
        if k.is_empty() || k.chars().count() > 128 {
            return bad("The TagKey you have provided is invalid");
        }
        if v.chars().count() > 256 {
            return bad("The TagValue you have provided is invalid");
        }
        if !seen.insert(k) {
            return bad("Cannot provide multiple Tags with the same key");
        }
    }
    Ok(())
}

/// Tags from a `<Tagging>` XML document (PutObjectTagging, POST form `tagging` field).
pub fn parse_tagging_xml(doc: &[u8]) -> S3Result<Vec<(String, String)>> {
    parse_tag_document(doc, MAX_OBJECT_TAGS)
}

/// Tags from a `<Tagging>` document, at most `max` of them.
pub fn parse_tag_document(doc: &[u8], max: usize) -> S3Result<Vec<(String, String)>> {
    let t = bascule_api::xml_exact::parse_tagging(doc)?;
    let tags: Vec<(String, String)> = t
        .tag_set
        .tag
        .into_iter()
        .map(|t| (t.key, t.value))
        .collect();
    validate_tag_set(&tags, max)?;
    Ok(tags)
}

/// Tags from the URL-encoded `x-amz-tagging` header.
pub fn tagging_header(h: &HeaderMap) -> S3Result<Vec<(String, String)>> {
    let Some(raw) = get(h, "x-amz-tagging") else {
        return Ok(Vec::new());
    };
    parse_tag_query(raw)
}

pub fn parse_tag_query(raw: &str) -> S3Result<Vec<(String, String)>> {
    let tags = parse_query(&raw.replace('+', "%20")).ok_or_else(|| {
        S3Error::msg(
            S3ErrorCode::InvalidTag,
            "The tag set is not valid URL encoding",
        )
    })?;
    validate_tags(&tags)?;
    Ok(tags)
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

pub fn time_of(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

pub fn quoted(etag: &str) -> String {
    format!("\"{etag}\"")
}

/// Headers shared by GET and HEAD object responses.
pub fn write_object_headers(r: &mut Response, rec: &ObjectRecord, checksum_mode: bool) {
    set_header(r, "etag", &quoted(&rec.etag));
    set_header(
        r,
        "last-modified",
        &format_http_date(time_of(rec.last_modified_ms)),
    );
    set_header(r, "accept-ranges", "bytes");
    let h = &rec.headers;
    set_header(
        r,
        "content-type",
        h.content_type.as_deref().unwrap_or("binary/octet-stream"),
    );
    for (name, v) in [
        ("content-encoding", &h.content_encoding),
        ("content-disposition", &h.content_disposition),
        ("content-language", &h.content_language),
        ("cache-control", &h.cache_control),
        ("expires", &h.expires),
    ] {
        if let Some(v) = v {
            set_header(r, name, v);
        }
    }
    for (k, v) in &rec.user_meta {
        set_header(
            r,
            &format!("{META_PREFIX}{k}"),
            &bascule_api::headers::rfc2047_encode(v),
        );
    }
    if !rec.tags.is_empty() {
        set_header(r, "x-amz-tagging-count", &rec.tags.len().to_string());
    }
    if let Some(n) = rec.parts_count {
        set_header(r, "x-amz-mp-parts-count", &n.to_string());
    }
    if checksum_mode {
        write_checksum_headers(r, rec);
    }
}

pub fn write_checksum_headers(r: &mut Response, rec: &ObjectRecord) {
    if let Some(c) = &rec.checksum {
        if let Some(alg) = ChecksumAlgorithm::from_name(&c.algorithm) {
            set_header(r, alg.header_name(), &c.value);
            set_header(r, "x-amz-checksum-type", &c.kind);
        }
    }
}
