//! The S3 API: request parsing and dispatch to one module per operation family.

pub mod access;
pub mod acl;
pub mod admission;
pub mod auth;
#[cfg(test)]
#[allow(dead_code)]
pub mod authz_expectations;
pub mod body;
pub mod bucket;
pub mod bucket_controls;
pub mod copy;
pub mod cors;
pub mod ctx;
pub mod delete;
pub mod endpoint;
pub mod get;
pub mod lifecycle_api;
pub mod list;
pub mod logging;
pub mod meta;
pub mod multipart;
pub mod object_lock;
pub mod owners;
pub mod policy;
pub mod post;
pub mod put;
pub mod request_headers;
pub mod response;
pub mod sse;
pub mod tagging;
pub mod versioning;

use auth::{AuthInput, Identity, PayloadCheck};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use bascule_api::encoding::{parse_query, percent_decode};
use bascule_api::xml::CorsConfiguration;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
pub use ctx::{Ctx, S3State};
use endpoint::{Endpoint, Params};
use futures::FutureExt;
use http::{HeaderValue, Method};
use rand::RngCore;

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
    /// The start of a server access log record, when the bucket's requests are logged
    /// (PutBucketLogging).
    log: Option<logging::record::LogRecord>,
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
    // A handler that panics still answers: a logged 500 InternalError, never a socket
    // closed without a response (and the server goes on).
    let result = match std::panic::AssertUnwindSafe(dispatch(&s, req, remote, &mut cors, &mut seen))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(
                request_id,
                resource,
                panic = what,
                "request handler panicked"
            );
            Err(S3Error::new(S3ErrorCode::InternalError))
        }
    };
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
    if let Some(mut record) = seen.log.take() {
        record.request_id = request_id.clone();
        record.operation = seen
            .endpoint
            .map(logging::record::operation_name)
            .unwrap_or_default();
        record.error_code = error_code.map(String::from);
        record.bytes_sent = bytes_out;
        record.total_ms = (seconds * 1000.0) as u64;
        record.remote_ip = remote.map(|a| a.ip());
        record.tls = s.config.s3_tls_cert.is_some();
        record.finish(&resp, bytes_in);
        s.logs.record(&record);
    }
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

/// A request's target and operation, read from its line and headers alone.
struct Resolved {
    endpoint: Endpoint,
    /// What an operation S3 defines and Bascule refuses asked for.
    unsupported: Option<&'static str>,
    query: Vec<(String, String)>,
    bucket: Option<String>,
    key: Option<String>,
    /// The bucket named by the Host header (virtual-host style), which SigV2 signs.
    host_bucket: Option<String>,
}

/// Step 1: which operation on which target (and the header-size bound, before anything
/// else is read).
fn resolve(s: &S3State, parts: &http::request::Parts) -> S3Result<Resolved> {
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
    let form_post = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("multipart/form-data"));
    let resolved = Endpoint::resolve(
        &parts.method,
        bucket.as_deref(),
        key.as_deref(),
        |n| query.iter().any(|(k, _)| k == n),
        parts.headers.contains_key("x-amz-copy-source"),
        form_post,
    );
    Ok(Resolved {
        endpoint: resolved.unwrap_or(Endpoint::NotImplemented),
        unsupported: resolved.err().map(|endpoint::Unsupported(what)| what),
        query,
        bucket,
        key,
        host_bucket,
    })
}

/// Step 2: who sends the request (a valid signature, or nobody).
fn authenticate(
    s: &S3State,
    parts: &http::request::Parts,
    r: &Resolved,
) -> S3Result<(Identity, PayloadCheck)> {
    if let Some(auth::ConsoleActor(user)) = parts.extensions.get::<auth::ConsoleActor>() {
        return Ok((Identity::User { user: user.clone() }, PayloadCheck::None));
    }
    let auth_input = AuthInput {
        method: &parts.method,
        raw_path: parts.uri.path(),
        query: &r.query,
        headers: &parts.headers,
        host_bucket: r.host_bucket.as_deref(),
        sigv2: s.config.allow_sigv2,
    };
    auth::authenticate(&s.store, &auth_input, time::OffsetDateTime::now_utc())
}

/// resolve → authenticate → authorize → route.
async fn dispatch(
    s: &S3State,
    req: Request,
    remote: Option<std::net::SocketAddr>,
    cors_out: &mut Option<CorsConfiguration>,
    seen: &mut Seen,
) -> S3Result<Response> {
    let (parts, body) = req.into_parts();
    let r = resolve(s, &parts)?;
    let endpoint = r.endpoint;
    seen.endpoint = Some(endpoint);
    if let Some(what) = r.unsupported {
        return Err(S3Error::msg(
            S3ErrorCode::NotImplemented,
            format!("{what} is not implemented by Bascule"),
        ));
    }
    // A zone that does not take writes refuses them before reading any of the body.
    if endpoint.writes() && !s.store.zone.may_acknowledge() {
        return Err(s.zone.refuse_write().await);
    }
    let bucket_record = match &r.bucket {
        Some(b) => s.store.bucket(b)?,
        None => None,
    };
    if let Some(b) = bucket_record.as_ref().filter(|b| b.logging.is_some()) {
        seen.log = Some(logging::record::LogRecord::begin(
            &parts,
            b,
            r.key.as_deref(),
        ));
    }
    let source_ip = remote.map(|a| a.ip());
    let cors = bucket_record.as_ref().and_then(cors::config_of);
    *cors_out = cors.clone();
    match endpoint {
        Endpoint::Preflight => {
            *cors_out = None;
            return cors::preflight(cors.as_ref(), &parts.headers);
        }
        // The form carries its own signature and fields: post.rs takes it through the
        // same checks with them.
        Endpoint::PostObject => {
            let bucket = r.bucket.unwrap_or_default();
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

    let (identity, payload) = authenticate(s, &parts, &r)?;
    seen.user = identity.user().map(|u| u.name.clone());
    if let Some(log) = seen.log.as_mut() {
        log.requester = identity.user().map(|u| u.id.clone());
    }
    let params = Params::parse(endpoint, &r.query)?;
    if endpoint.takes_version() {
        versioning::requested(&params.version)?;
    }
    let ctx = Ctx {
        headers: parts.headers,
        query: r.query,
        params,
        bucket: r.bucket.unwrap_or_default(),
        key: r.key.unwrap_or_default(),
        identity,
        payload,
        bucket_record,
        source_ip,
        secure_transport: s.config.s3_tls_cert.is_some(),
    };
    admission::admit(&s.store, &ctx, endpoint)?;
    route(s, ctx, endpoint, body).await
}

/// Step 4: the handler of the operation.
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
        GetBucketLogging => logging::get_bucket_logging(s, &ctx),
        PutBucketLogging => logging::put_bucket_logging(s, &ctx, body).await,
        GetBucketEncryption => sse::get_bucket_encryption(&ctx),
        PutBucketEncryption => sse::put_bucket_encryption(s, &ctx, body).await,
        DeleteBucketEncryption => sse::delete_bucket_encryption(s, &ctx).await,
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
        GetBucketLifecycleConfiguration => lifecycle_api::get_lifecycle(&ctx),
        PutBucketLifecycleConfiguration => lifecycle_api::put_lifecycle(s, &ctx, body).await,
        DeleteBucketLifecycle => lifecycle_api::delete_lifecycle(s, &ctx).await,
        PostObject | Preflight | NotImplemented => Err(S3Error::new(S3ErrorCode::InternalError)),
    }
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
