//! Browser POST uploads (HTML forms): the form fields carry the key, a base64 policy and
//! its SigV4 signature; the `file` field carries the data and must come last.

use super::auth::{verify_post_signature, verify_post_signature_v2, Identity, PayloadCheck};
use super::body::{BodySpec, ChecksumSpec, MAX_PUT_SIZE};
use super::ctx::{Ctx, S3State};
use super::endpoint::{Endpoint, Params};
use super::meta::{parse_tagging_xml, quoted};
use super::put::write_object;
use super::response::{empty, set_header, xml_response};
use axum::body::Body;
use axum::response::Response;
use bascule_api::checksum::ChecksumAlgorithm;
use bascule_api::encoding::uri_encode;
use bascule_api::names::validate_object_key;
use bascule_api::post_policy::{check_length, PostPolicy};
use bascule_api::xml::PostResponse;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::BucketRecord;
use futures::{StreamExt, TryStreamExt};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

/// Form fields before the file: a cap on their total size keeps memory bounded.
const MAX_FIELDS_BYTES: usize = 1024 * 1024;

/// Bytes of the form read before the file part may be accepted (fields plus boundaries and
/// part headers): nothing more is read until the signature and policy have been checked.
const MAX_FORM_HEAD_BYTES: u64 = MAX_FIELDS_BYTES as u64 + 64 * 1024;

/// Watches the form's bytes as multer reads them: the bound on what an unchecked client
/// may send, lifted once the policy is checked, and why reading stopped.
struct FormGuard {
    allowed: AtomicU64,
    exceeded: AtomicBool,
    stalled: AtomicBool,
}

impl FormGuard {
    fn new() -> Arc<FormGuard> {
        Arc::new(FormGuard {
            allowed: AtomicU64::new(MAX_FORM_HEAD_BYTES),
            exceeded: AtomicBool::new(false),
            stalled: AtomicBool::new(false),
        })
    }

    /// The request body, cut off once more than the allowed bytes have arrived.
    fn bound(
        self: &Arc<Self>,
        body: Body,
    ) -> impl futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> {
        let guard = self.clone();
        let mut seen: u64 = 0;
        body.into_data_stream().map(move |chunk| {
            let chunk = chunk.map_err(|e| {
                if crate::http_server::stalled(&e) {
                    guard.stalled.store(true, Ordering::Relaxed);
                }
                std::io::Error::other(e)
            })?;
            seen += chunk.len() as u64;
            if seen > guard.allowed.load(Ordering::Relaxed) {
                guard.exceeded.store(true, Ordering::Relaxed);
                return Err(std::io::Error::other("the form fields are too large"));
            }
            Ok(chunk)
        })
    }

    /// The error for a form that could not be read, `otherwise` if not ours.
    fn error(&self, otherwise: S3Error) -> S3Error {
        if self.exceeded.load(Ordering::Relaxed) {
            S3Error::msg(
                S3ErrorCode::MaxMessageLengthExceeded,
                format!("The form fields before the file exceed {MAX_FIELDS_BYTES} bytes"),
            )
        } else if self.stalled.load(Ordering::Relaxed) {
            S3Error::new(S3ErrorCode::RequestTimeout)
        } else {
            otherwise
        }
    }

    fn lift(&self) {
        self.allowed.store(u64::MAX, Ordering::Relaxed);
    }
}

fn malformed(msg: &str) -> S3Error {
    S3Error::msg(S3ErrorCode::MalformedPOSTRequest, msg.to_string())
}

pub async fn post_object(
    s: &S3State,
    headers: &HeaderMap,
    body: Body,
    bucket: &str,
    bucket_record: Option<&BucketRecord>,
    source_ip: Option<std::net::IpAddr>,
) -> S3Result<Response> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| malformed("Missing multipart boundary"))?;
    let guard = FormGuard::new();
    let mut form = multer::Multipart::new(guard.bound(body), boundary);
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut fields_bytes = 0;
    let file = loop {
        let field = form.next_field().await.map_err(|_| {
            guard.error(malformed(
                "The body of your POST request is not well-formed multipart/form-data.",
            ))
        })?;
        let Some(field) = field else {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidArgument,
                "POST requires exactly one file upload per request.",
            )
            .with("ArgumentName", "file"));
        };
        let name = field.name().unwrap_or_default().to_ascii_lowercase();
        if name == "file" {
            break field;
        }
        let value = field
            .text()
            .await
            .map_err(|_| guard.error(malformed("Invalid form field")))?;
        fields_bytes += name.len() + value.len();
        if fields_bytes > MAX_FIELDS_BYTES {
            return Err(S3Error::new(S3ErrorCode::MaxMessageLengthExceeded));
        }
        fields.push((name, value));
    };
    let filename = file.file_name().unwrap_or_default().to_string();
    let get = |n: &str| fields.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let need = |n: &str| {
        get(n).ok_or_else(|| {
            S3Error::msg(
                S3ErrorCode::InvalidArgument,
                format!("Bucket POST must contain a field named '{n}'."),
            )
            .with("ArgumentName", n.to_string())
        })
    };
    let key = need("key")?.replace("${filename}", &filename);
    validate_object_key(&key)?;
    // A form without a policy is anonymous: only a bucket whose ACL lets everyone write
    // takes it. A signed form is SigV4 (x-amz-algorithm) or SigV2 (AWSAccessKeyId).
    let (identity, policy) = match get("policy") {
        None => (Identity::Anonymous, None),
        Some(policy_b64) => {
            let identity = match get("awsaccesskeyid") {
                Some(access_key) if get("x-amz-algorithm").is_none() => {
                    super::auth::sigv2_enabled(s.config.allow_sigv2)?;
                    verify_post_signature_v2(
                        &s.store,
                        &access_key,
                        &policy_b64,
                        &need("signature")?,
                    )?
                }
                _ => {
                    if need("x-amz-algorithm")? != bascule_api::sigv4::ALGORITHM {
                        return Err(S3Error::msg(
                            S3ErrorCode::InvalidArgument,
                            "Only AWS4-HMAC-SHA256 is supported",
                        )
                        .with("ArgumentName", "x-amz-algorithm"));
                    }
                    verify_post_signature(
                        &s.store,
                        &need("x-amz-credential")?,
                        &need("x-amz-date")?,
                        &policy_b64,
                        &need("x-amz-signature")?,
                    )?
                }
            };
            (identity, Some(PostPolicy::parse(&policy_b64)?))
        }
    };
    let record = bucket_record.ok_or_else(|| super::ctx::no_such_bucket(bucket))?;
    // From here the form is a PUT: its fields are the request's headers, and it goes
    // through the same admission (access for every action its fields ask for, refusal
    // of what Bascule would ignore) and the same write as PutObject.
    let file_type = file.content_type().map(|m| m.to_string());
    let ctx = Ctx {
        headers: form_headers(&fields, file_type)?,
        query: Vec::new(),
        params: Params::parse(Endpoint::PostObject, &[])?,
        bucket: bucket.to_string(),
        key: key.clone(),
        identity,
        payload: PayloadCheck::None,
        bucket_record: Some(record.clone()),
        source_ip,
        secure_transport: s.config.s3_tls_cert.is_some(),
    };
    super::admission::admit(&s.store, &ctx, Endpoint::PostObject)?;
    let mut checked = fields.clone();
    // The key and bucket checked are the ones written to (a form naming another bucket
    // than its URL fails the bucket condition).
    checked.retain(|(k, _)| k != "key" && k != "bucket");
    checked.push(("key".into(), key.clone()));
    checked.push(("bucket".into(), bucket.to_string()));
    if let Some(policy) = &policy {
        policy.check(&checked, SystemTime::now())?;
    }
    let range = policy.as_ref().and_then(PostPolicy::content_length_range);
    let max_len = range
        .map(|(_, max)| max.min(MAX_PUT_SIZE))
        .unwrap_or(MAX_PUT_SIZE);
    let spec = BodySpec {
        payload: PayloadCheck::None,
        declared_len: None,
        min_len: range.map(|(min, _)| min).unwrap_or(0),
        max_len,
        content_md5_hex: None,
        checksum: ChecksumSpec::from_headers(&ctx.headers)?,
        inline_max: s.config.inline_threshold,
    };
    // Signature and policy hold: the file may be as large as the policy allows.
    guard.lift();
    let file_body = Body::from_stream(file.map_err(|e| std::io::Error::other(e.to_string())));
    let rec = match write_object(s, &ctx, file_body, spec).await {
        Ok(rec) => rec,
        Err(e) if e.code == S3ErrorCode::IncompleteBody => return Err(guard.error(e)),
        // Report the policy's limit when it is the one that was exceeded.
        Err(e) if e.code == S3ErrorCode::EntityTooLarge => {
            return Err(check_length(range, max_len + 1).err().unwrap_or(e))
        }
        Err(e) => return Err(e),
    };
    let etag = quoted(&rec.etag);
    let location = format!("/{bucket}/{}", uri_encode(&key));

    if let Some(redirect) = get("success_action_redirect").filter(|r| !r.is_empty()) {
        let sep = if redirect.contains('?') { '&' } else { '?' };
        let target = format!(
            "{redirect}{sep}bucket={}&key={}&etag={}",
            uri_encode(bucket),
            uri_encode(&key),
            uri_encode(&etag)
        );
        let mut r = empty(StatusCode::SEE_OTHER);
        set_header(&mut r, "location", &target);
        set_header(&mut r, "etag", &etag);
        super::versioning::version_header(&mut r, Some(record), &rec);
        return Ok(r);
    }
    let mut r = match get("success_action_status").as_deref() {
        Some("201") => {
            let mut r = xml_response(
                "PostResponse",
                &PostResponse {
                    location: location.clone(),
                    bucket: bucket.to_string(),
                    key: key.clone(),
                    etag: etag.clone(),
                },
            );
            *r.status_mut() = StatusCode::CREATED;
            r
        }
        Some("200") => empty(StatusCode::OK),
        _ => empty(StatusCode::NO_CONTENT),
    };
    set_header(&mut r, "etag", &etag);
    set_header(&mut r, "location", &location);
    super::versioning::version_header(&mut r, Some(record), &rec);
    super::sse::echo(&mut r, rec.encryption.as_ref());
    if let Some(c) = rec
        .checksum
        .as_ref()
        .and_then(|c| ChecksumAlgorithm::from_name(&c.algorithm).map(|a| (a, c.value.clone())))
    {
        set_header(&mut r, c.0.header_name(), &c.1);
    }
    Ok(r)
}

/// The form's fields as the headers of the PUT it stands for: `acl` is `x-amz-acl`, the
/// `tagging` document becomes `x-amz-tagging`, the file part's type is the content type
/// when no field gives one; every other field keeps its name (S3's form fields are named
/// as the headers they stand for).
fn form_headers(fields: &[(String, String)], file_type: Option<String>) -> S3Result<HeaderMap> {
    let mut headers = HeaderMap::new();
    let mut add = |name: &str, value: &str| -> S3Result<()> {
        let invalid = || {
            S3Error::msg(
                S3ErrorCode::InvalidArgument,
                format!("The form field {name} has a value that cannot be a header"),
            )
            .with("ArgumentName", name.to_string())
        };
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let v = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| invalid())?;
        headers.append(n, v);
        Ok(())
    };
    for (name, value) in fields {
        match name.as_str() {
            "acl" => add("x-amz-acl", value)?,
            "tagging" => {
                let tags = parse_tagging_xml(value.as_bytes())?;
                let query = tags
                    .iter()
                    .map(|(k, v)| format!("{}={}", uri_encode(k), uri_encode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                add("x-amz-tagging", &query)?
            }
            // Form controls. (The signing fields stay: policy conditions on how the
            // request was signed read them.)
            "key" | "success_action_redirect" | "success_action_status" | "redirect" => {}
            other => add(other, value)?,
        }
    }
    if !fields.iter().any(|(n, _)| n == "content-type") {
        if let Some(t) = file_type {
            add("content-type", &t)?;
        }
    }
    Ok(headers)
}
