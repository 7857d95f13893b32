//! The S3 API: request parsing and dispatch to one module per operation family.

pub mod access;
pub mod acl;
pub mod auth;
pub mod body;
pub mod bucket;
pub mod bucket_controls;
pub mod copy;
pub mod cors;
pub mod delete;
pub mod endpoint;
pub mod get;
pub mod lifecycle_api;
pub mod list;
pub mod meta;
pub mod multipart;
pub mod object_lock;
pub mod policy;
pub mod post;
pub mod put;
pub mod request_headers;
pub mod response;
pub mod tagging;
pub mod versioning;

use crate::config::Config;
use crate::store::Store;
use auth::{AuthInput, Identity, PayloadCheck};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use bascule_api::encoding::{parse_query, percent_decode};
use bascule_api::xml::CorsConfiguration;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::BucketRecord;
use endpoint::{Endpoint, Params};
use http::{HeaderMap, HeaderValue, Method};
use rand::RngCore;
use std::sync::Arc;

#[derive(Clone)]
pub struct S3State {
    pub store: Arc<Store>,
    pub config: Arc<Config>,
    pub zone: Arc<crate::zone::ZoneService>,
}

/// Everything a handler needs to know about the request, once authenticated.
pub struct Ctx {
    pub headers: HeaderMap,
    pub query: Vec<(String, String)>,
    /// Upload id, part number and version, parsed and checked once.
    pub params: Params,
    pub bucket: String,
    pub key: String,
    pub identity: Identity,
    pub payload: PayloadCheck,
    pub bucket_record: Option<BucketRecord>,
    /// The client's address (`aws:SourceIp`).
    pub source_ip: Option<std::net::IpAddr>,
    /// The S3 listener serves TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
}

impl Ctx {
    pub fn q(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bucket record, or `NoSuchBucket`.
    pub fn require_bucket(&self) -> S3Result<&BucketRecord> {
        self.bucket_record
            .as_ref()
            .ok_or_else(|| no_such_bucket(&self.bucket))
    }

    /// Access control for a second resource of this request (a copy's source, each key
    /// of a multi-object delete), with this request's caller and context; `version` is
    /// the version it names, if any (which makes it a version operation).
    pub fn authorize(
        &self,
        endpoint: Endpoint,
        bucket: &BucketRecord,
        key: &str,
        version: Option<&str>,
        object: impl Fn() -> S3Result<Option<bascule_replication::records::ObjectRecord>>,
    ) -> S3Result<()> {
        let header = |n: &str| self.header(n).map(String::from);
        let mut query: Vec<(String, String)> = self
            .query
            .iter()
            .filter(|(k, _)| k != "versionId")
            .cloned()
            .collect();
        if let Some(v) = version {
            query.push(("versionId".into(), v.to_string()));
        }
        access::authorize(
            &access::AccessRequest {
                endpoint,
                identity: &self.identity,
                bucket: Some(bucket),
                key: Some(key),
                header: &header,
                query: &query,
                source_ip: self.source_ip,
                secure_transport: self.secure_transport,
            },
            object,
        )
    }

    /// The caller's user id (anonymous callers only reach read handlers).
    pub fn user_id(&self) -> String {
        self.identity
            .user()
            .map(|u| u.id.clone())
            .unwrap_or_default()
    }
}

pub fn no_such_bucket(bucket: &str) -> S3Error {
    S3Error::new(S3ErrorCode::NoSuchBucket).with("BucketName", bucket.to_string())
}

pub fn no_such_key(key: &str) -> S3Error {
    S3Error::new(S3ErrorCode::NoSuchKey).with("Key", key.to_string())
}

pub fn router(state: S3State) -> Router {
    Router::new().fallback(handle).with_state(state)
}

fn new_request_id() -> String {
    let mut raw = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode_upper(raw)
}

/// What the access log tells of a request beyond its status: filled in as dispatch
/// learns it (a request refused early has no user or operation).
#[derive(Default)]
struct Seen {
    endpoint: Option<Endpoint>,
    user: Option<String>,
}

async fn handle(State(s): State<S3State>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let _in_flight = crate::request_metrics::REQUESTS.start();
    let request_id = new_request_id();
    let remote = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0);
    let bytes_in = ["x-amz-decoded-content-length", "content-length"]
        .iter()
        .find_map(|h| req.headers().get(*h)?.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    let mut seen = Seen::default();
    let head = req.method() == Method::HEAD;
    let resource = req.uri().path().to_string();
    let origin = req
        .headers()
        .get(http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let method = req.method().clone();
    let mut cors = None;
    let result = dispatch(&s, req, remote, &mut cors, &mut seen).await;
    let mut error_code = None;
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => {
            error_code = Some(e.code.as_str());
            // However the refusal arose (here or at commit time), it names the primary.
            let e = if e.code == S3ErrorCode::ZoneReadOnly {
                s.zone.read_only_error()
            } else {
                e
            };
            if e.code == S3ErrorCode::InternalError {
                tracing::warn!(request_id, resource, "internal error");
            }
            response::error_response(&e, &resource, &request_id, head)
        }
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amz-request-id", v.clone());
        h.insert("x-amz-id-2", v);
    }
    h.insert(http::header::SERVER, HeaderValue::from_static("Bascule"));
    if let (Some(origin), Some(cfg)) = (origin, cors) {
        cors::apply_response_headers(&mut resp, &cfg, &origin, &method);
    }
    // One line per request. Never the query string or headers: presigned URLs and
    // Authorization carry signatures.
    let bytes_out = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    let operation = seen.endpoint.map(Endpoint::name).unwrap_or("Unresolved");
    let seconds = started.elapsed().as_secs_f64();
    crate::request_metrics::REQUESTS.observe(&crate::request_metrics::Finished {
        operation: seen.endpoint,
        status: resp.status().as_u16(),
        error: error_code,
        bytes_in,
        bytes_out,
        seconds,
    });
    tracing::info!(
        target: "bascule::access",
        request_id,
        remote = ?remote,
        method = %method,
        resource,
        user = seen.user.as_deref().unwrap_or("-"),
        operation,
        status = resp.status().as_u16(),
        error = error_code.unwrap_or("-"),
        bytes_in,
        bytes_out,
        duration_ms = seconds * 1000.0,
    );
    resp
}

/// The bucket named by a virtual-host-style Host header (`<bucket>.<domain>`), if any.
fn host_bucket(host: Option<&str>, domain: Option<&str>) -> Option<String> {
    let host = host?;
    let host = host
        .rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(host)
        .to_ascii_lowercase();
    let bucket = host.strip_suffix(domain?)?.strip_suffix('.')?;
    (!bucket.is_empty()).then(|| bucket.to_string())
}

/// Splits the request target into bucket and key, path-style or virtual-host-style.
fn split_target(host_bucket: Option<&str>, path: &str) -> (Option<String>, Option<String>) {
    let rest = path.strip_prefix('/').unwrap_or(path);
    if let Some(bucket) = host_bucket {
        return (
            Some(bucket.to_string()),
            (!rest.is_empty()).then(|| rest.to_string()),
        );
    }
    if rest.is_empty() {
        return (None, None);
    }
    match rest.split_once('/') {
        Some((b, k)) => (Some(b.to_string()), (!k.is_empty()).then(|| k.to_string())),
        None => (Some(rest.to_string()), None),
    }
}

async fn dispatch(
    s: &S3State,
    req: Request,
    remote: Option<std::net::SocketAddr>,
    cors_out: &mut Option<CorsConfiguration>,
    seen: &mut Seen,
) -> S3Result<Response> {
    let (parts, body) = req.into_parts();
    let header_bytes: usize = parts
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > s.config.limits.max_header_bytes {
        return Err(S3Error::msg(
            S3ErrorCode::RequestHeaderSectionTooLarge,
            format!(
                "The request's header is {header_bytes} bytes; at most {} are accepted",
                s.config.limits.max_header_bytes
            ),
        )
        .with(
            "MaxSizeAllowed",
            s.config.limits.max_header_bytes.to_string(),
        ));
    }
    let bad_uri = || S3Error::msg(S3ErrorCode::InvalidArgument, "Invalid URI encoding");
    let query = parse_query(parts.uri.query().unwrap_or("")).ok_or_else(bad_uri)?;
    let path = percent_decode(parts.uri.path()).ok_or_else(bad_uri)?;
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok());
    let host_bucket = host_bucket(host, s.config.domain.as_deref());
    let (bucket, key) = split_target(host_bucket.as_deref(), &path);
    let has = |n: &str| query.iter().any(|(k, _)| k == n);
    let form_post = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
    let copy_source = parts.headers.contains_key("x-amz-copy-source");
    let endpoint = Endpoint::resolve(
        &parts.method,
        bucket.as_deref(),
        key.as_deref(),
        has,
        copy_source,
        form_post,
    );

    seen.endpoint = Some(endpoint);
    // A zone that does not take writes refuses them before reading any of the body.
    if endpoint.writes() && !s.store.zone.writable() {
        return Err(s.zone.read_only_error());
    }

    let bucket_record = match &bucket {
        Some(b) => s.store.bucket(b)?,
        None => None,
    };
    let source_ip = remote.map(|a| a.ip());
    let cors = bucket_record.as_ref().and_then(cors::config_of);
    *cors_out = cors.clone();

    match endpoint {
        Endpoint::NotImplemented(what) => {
            return Err(S3Error::msg(
                S3ErrorCode::NotImplemented,
                format!("{what} is not implemented by Bascule"),
            ))
        }
        Endpoint::Preflight => {
            *cors_out = None;
            return cors::preflight(cors.as_ref(), &parts.headers);
        }
        Endpoint::PostObject => {
            let bucket = bucket.unwrap_or_default();
            return post::post_object(
                s,
                &parts.headers,
                body,
                &bucket,
                bucket_record.as_ref(),
                source_ip,
            )
            .await;
        }
        _ => {}
    }

    let auth_input = AuthInput {
        method: &parts.method,
        raw_path: parts.uri.path(),
        query: &query,
        headers: &parts.headers,
        host_bucket: host_bucket.as_deref(),
        sigv2: s.config.allow_sigv2,
    };
    let now = time::OffsetDateTime::now_utc();
    let (identity, payload) = auth::authenticate(&s.store, &auth_input, now)?;
    seen.user = identity.user().map(|u| u.name.clone());
    let header = |n: &str| {
        parts
            .headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    access::authorize(
        &access::AccessRequest {
            endpoint,
            identity: &identity,
            bucket: bucket_record.as_ref(),
            key: key.as_deref(),
            header: &header,
            query: &query,
            source_ip,
            secure_transport: s.config.s3_tls_cert.is_some(),
        },
        // The version the request names decides by its own owner, ACL and tags.
        || match (&bucket, &key) {
            (Some(b), Some(k)) => {
                let named = query.iter().find(|(n, _)| n == "versionId");
                let slot = endpoint::VersionSlot::from_param(named.map(|(_, v)| v.as_str()));
                Ok(versioning::named(&s.store.read(), b, k, &slot)?)
            }
            _ => Ok(None),
        },
    )?;
    request_headers::check(
        endpoint,
        parts
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))),
    )?;
    if query.iter().any(|(k, _)| k == "X-Amz-Security-Token") {
        return Err(S3Error::new(S3ErrorCode::InvalidToken));
    }
    check_expected_owner(
        &parts.headers,
        "x-amz-expected-bucket-owner",
        bucket_record.as_ref(),
    )?;

    let params = Params::parse(endpoint, &query)?;
    if endpoint.takes_version() {
        versioning::requested(&params.version)?;
    }

    let ctx = Ctx {
        headers: parts.headers,
        query,
        params,
        bucket: bucket.unwrap_or_default(),
        key: key.unwrap_or_default(),
        identity,
        payload,
        bucket_record,
        source_ip,
        secure_transport: s.config.s3_tls_cert.is_some(),
    };
    route(s, ctx, endpoint, body).await
}

async fn route(s: &S3State, ctx: Ctx, endpoint: Endpoint, body: Body) -> S3Result<Response> {
    use Endpoint::*;
    match endpoint {
        ListBuckets => bucket::list_buckets(s, &ctx).await,
        CreateBucket => bucket::create_bucket(s, &ctx, body).await,
        HeadBucket => bucket::head_bucket(s, &ctx),
        DeleteBucket => bucket::delete_bucket(s, &ctx).await,
        GetBucketLocation => bucket::get_location(s, &ctx),
        GetBucketVersioning => versioning::get_versioning(&ctx),
        PutBucketVersioning => versioning::put_versioning(s, &ctx, body).await,
        GetBucketAcl => bucket::get_acl(s, &ctx),
        PutBucketAcl => bucket::put_acl(s, &ctx, body).await,
        GetBucketPolicy => bucket::get_policy(&ctx),
        GetBucketPolicyStatus => bucket::get_policy_status(&ctx),
        GetPublicAccessBlock => bucket_controls::get_public_access_block(&ctx),
        PutPublicAccessBlock => bucket_controls::put_public_access_block(s, &ctx, body).await,
        DeletePublicAccessBlock => bucket_controls::delete_public_access_block(s, &ctx).await,
        GetBucketOwnershipControls => bucket_controls::get_ownership_controls(&ctx),
        PutBucketOwnershipControls => bucket_controls::put_ownership_controls(s, &ctx, body).await,
        DeleteBucketOwnershipControls => bucket_controls::delete_ownership_controls(s, &ctx).await,
        PutBucketPolicy => bucket::put_policy(s, &ctx, body).await,
        DeleteBucketPolicy => bucket::delete_policy(s, &ctx).await,
        GetBucketTagging => tagging::get_bucket_tagging(&ctx),
        PutBucketTagging => tagging::put_bucket_tagging(s, &ctx, body).await,
        DeleteBucketTagging => tagging::delete_bucket_tagging(s, &ctx).await,
        GetBucketCors => cors::get_cors(&ctx),
        PutBucketCors => cors::put_cors(s, &ctx, body).await,
        DeleteBucketCors => cors::delete_cors(s, &ctx).await,
        ListObjects => list::list_objects_v1(s, &ctx),
        ListObjectsV2 => list::list_objects_v2(s, &ctx),
        ListObjectVersions => list::list_object_versions(s, &ctx),
        ListMultipartUploads => multipart::list_uploads(s, &ctx),
        DeleteObjects => delete::delete_objects(s, &ctx, body).await,
        GetObject => get::get_object(s, &ctx).await,
        HeadObject => get::head_object(s, &ctx).await,
        PutObject => put::put_object(s, &ctx, body).await,
        CopyObject => copy::copy_object(s, &ctx).await,
        DeleteObject => delete::delete_object(s, &ctx).await,
        GetObjectTagging => tagging::get_tagging(s, &ctx),
        PutObjectTagging => tagging::put_tagging(s, &ctx, body).await,
        DeleteObjectTagging => tagging::delete_tagging(s, &ctx).await,
        GetObjectAcl => get::get_object_acl(s, &ctx),
        GetObjectAttributes => get::get_object_attributes(s, &ctx),
        PutObjectAcl => bucket::put_object_acl(s, &ctx, body).await,
        CreateMultipartUpload => multipart::create(s, &ctx).await,
        UploadPart => multipart::upload_part(s, &ctx, body).await,
        UploadPartCopy => copy::upload_part_copy(s, &ctx).await,
        CompleteMultipartUpload => multipart::complete(s, &ctx, body).await,
        AbortMultipartUpload => multipart::abort(s, &ctx).await,
        ListParts => multipart::list_parts(s, &ctx),
        GetObjectLockConfiguration => object_lock::get_configuration(&ctx),
        PutObjectLockConfiguration => object_lock::put_configuration(s, &ctx, body).await,
        GetObjectRetention => object_lock::get_retention(s, &ctx),
        PutObjectRetention => object_lock::put_retention(s, &ctx, body).await,
        GetObjectLegalHold => object_lock::get_legal_hold(s, &ctx),
        PutObjectLegalHold => object_lock::put_legal_hold(s, &ctx, body).await,
        GetBucketLifecycle => lifecycle_api::get_lifecycle(&ctx),
        PutBucketLifecycle => lifecycle_api::put_lifecycle(s, &ctx, body).await,
        DeleteBucketLifecycle => lifecycle_api::delete_lifecycle(s, &ctx).await,
        PostObject | Preflight | NotImplemented(_) => Err(S3Error::new(S3ErrorCode::InternalError)),
    }
}

/// `x-amz-expected-bucket-owner` (and its copy-source twin): the request is refused unless
/// the bucket belongs to the named owner, so a client never writes into a bucket that
/// changed hands.
pub fn check_expected_owner(
    headers: &HeaderMap,
    header: &str,
    bucket: Option<&BucketRecord>,
) -> S3Result<()> {
    match (headers.get(header), bucket) {
        (Some(expected), Some(b)) if expected.as_bytes() != b.owner.as_bytes() => {
            Err(S3Error::new(S3ErrorCode::AccessDenied))
        }
        _ => Ok(()),
    }
}

/// Reads a small request body (XML documents) with a size cap.
pub async fn read_small_body(
    body: Body,
    payload: &PayloadCheck,
    limit: usize,
) -> S3Result<bytes::Bytes> {
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        crate::http_server::body_error(
            &e,
            S3Error::msg(
                S3ErrorCode::MaxMessageLengthExceeded,
                format!("The request body exceeds {limit} bytes"),
            ),
        )
    })?;
    let bytes = match payload {
        PayloadCheck::Chunked { signing } => {
            let mut d = bascule_api::chunked::ChunkedDecoder::new(signing.clone());
            let mut out = bytes::BytesMut::new();
            for piece in d.push(&bytes)? {
                out.extend_from_slice(&piece);
            }
            d.finish()?;
            out.freeze()
        }
        _ => bytes,
    };
    if let PayloadCheck::Sha256(expected) = payload {
        let computed = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
        if *expected != computed {
            return Err(S3Error::new(S3ErrorCode::XAmzContentSHA256Mismatch));
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::{host_bucket, split_target};

    #[test]
    fn targets() {
        let t = |h: Option<&str>, d: Option<&str>, p: &str| {
            split_target(host_bucket(h, d).as_deref(), p)
        };
        assert_eq!(t(None, None, "/"), (None, None));
        assert_eq!(t(None, None, "/b"), (Some("b".into()), None));
        assert_eq!(t(None, None, "/b/"), (Some("b".into()), None));
        assert_eq!(
            t(None, None, "/b/k/x"),
            (Some("b".into()), Some("k/x".into()))
        );
        assert_eq!(
            t(Some("b.s3.local:9000"), Some("s3.local"), "/k"),
            (Some("b".into()), Some("k".into()))
        );
        assert_eq!(
            t(Some("b.s3.local"), Some("s3.local"), "/b/k"),
            (Some("b".into()), Some("b/k".into()))
        );
        assert_eq!(
            t(Some("s3.local:9000"), Some("s3.local"), "/b/k"),
            (Some("b".into()), Some("k".into()))
        );
    }
}
