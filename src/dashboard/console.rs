//! The console: object and bucket actions of the dashboard go through the zone's own S3
//! router, in-process, as the bucket's owner with an admin's rights. The dashboard
//! session (and, for a change, its CSRF token) stands for the signature; everything
//! else (authorization, object lock, versioning, validation, encryption, journaling) is
//! S3's own, so the console cannot do what S3 would refuse, and has no second path.
//!
//! The browser's uploads (streamed, multipart for large files) use the gateway
//! `/dashboard/s3/{bucket}/{key}`: an S3 request from the page's script, checked like a
//! form (session cookie, CSRF token in `x-bascule-csrf`).

use super::layout::seg;
use super::Signed;
use crate::admin::state::AdminState;
use crate::s3::auth::ConsoleActor;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use bascule_replication::records::UserRecord;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use tower_service::Service;

pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/dashboard/s3/{bucket}", any(gateway))
        .route("/dashboard/s3/{bucket}/{*key}", any(gateway))
}

/// Who the console acts as in a bucket: its owner, with an admin's rights (what the
/// operator holding the admin token may do anyway), so objects it writes belong to the
/// bucket's owner.
pub fn actor(s: &AdminState, owner_id: &str) -> UserRecord {
    let name = s
        .store
        .user(owner_id)
        .ok()
        .flatten()
        .map(|u| u.name)
        .unwrap_or_else(|| "dashboard".into());
    UserRecord {
        id: owner_id.to_string(),
        name,
        admin: true,
        enabled: true,
        created_ms: 0,
    }
}

/// The path of `bucket/key` as an S3 request names it (each segment encoded).
pub fn object_path(bucket: &str, key: &str) -> String {
    let key: Vec<String> = key.split('/').map(seg).collect();
    format!("/{}/{}", seg(bucket), key.join("/"))
}

/// Sends one request through the S3 router as `actor`.
pub async fn call(
    s: &AdminState,
    actor: UserRecord,
    method: Method,
    path_and_query: &str,
    mut headers: HeaderMap,
    body: Body,
) -> Response {
    let mut req = Request::new(body);
    *req.method_mut() = method;
    match path_and_query.parse() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return (StatusCode::BAD_REQUEST, "bad path").into_response(),
    }
    // Path-style addressing, whatever virtual-host domain the zone serves.
    headers.insert(http::header::HOST, HeaderValue::from_static("localhost"));
    headers.insert(
        http::header::USER_AGENT,
        HeaderValue::from_static("bascule-dashboard"),
    );
    *req.headers_mut() = headers;
    req.extensions_mut().insert(ConsoleActor(actor));
    let mut router = s.s3.clone();
    match router.call(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// What a failed S3 answer says, as a sentence (`AccessDenied: Access Denied`).
pub async fn error_text(resp: Response) -> String {
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    let tag = |t: &str| {
        text.split(&format!("<{t}>"))
            .nth(1)
            .and_then(|rest| rest.split(&format!("</{t}>")).next())
            .map(xml_unescape)
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => format!("HTTP {}", status.as_u16()),
    }
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// Headers of the page's S3 requests that are passed on: the object's own headers and
/// S3's `x-amz-*`; never cookies or credentials.
fn passed_on(name: &HeaderName) -> bool {
    let n = name.as_str();
    matches!(
        n,
        "content-type"
            | "content-length"
            | "content-md5"
            | "cache-control"
            | "content-disposition"
            | "content-encoding"
            | "content-language"
            | "expires"
            | "if-match"
            | "if-none-match"
            | "range"
    ) || (n.starts_with("x-amz-") && n != "x-amz-security-token")
}

/// Makes an answer served on the dashboard's origin harmless: an object is never
/// rendered there (a stored HTML page would run as the dashboard), only downloaded.
pub fn contain(mut r: Response, download_as: Option<&str>) -> Response {
    let h = r.headers_mut();
    h.insert(
        "content-security-policy",
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    if let Some(name) = download_as {
        let file = name.rsplit('/').next().unwrap_or(name);
        let value = format!(
            "attachment; filename*=UTF-8''{}",
            percent_encoding::utf8_percent_encode(file, percent_encoding::NON_ALPHANUMERIC)
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert("content-disposition", v);
        }
    }
    r
}

/// The page's S3 requests (uploads): session and CSRF token checked, then passed on as
/// the bucket owner's.
async fn gateway(State(s): State<AdminState>, Signed(session): Signed, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let safe = matches!(parts.method, Method::GET | Method::HEAD);
    let token = parts
        .headers
        .get("x-bascule-csrf")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !safe && !bascule_api::sigv4::signatures_match(&session.csrf, token) {
        return (StatusCode::FORBIDDEN, "CSRF check failed").into_response();
    }
    let Some(rest) = parts.uri.path().strip_prefix("/dashboard/s3") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let bucket_segment = rest.trim_start_matches('/').split('/').next().unwrap_or("");
    let Some(bucket) = bascule_api::encoding::percent_decode(bucket_segment) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let owner = match s.store.bucket(&bucket) {
        Ok(Some(b)) => b.owner,
        // Buckets are created from their form, which names the owner.
        Ok(None) => return (StatusCode::NOT_FOUND, "no such bucket").into_response(),
        Err(e) => return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    };
    let path = match parts.uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if passed_on(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let r = call(&s, actor(&s, &owner), parts.method, &path, headers, body).await;
    contain(r, None)
}

/// A change sent through S3 as `owner` (with an admin's rights): `Err` carries what S3
/// answered.
pub async fn change(
    s: &AdminState,
    owner: &str,
    method: Method,
    path_and_query: &str,
    headers: HeaderMap,
    body: Body,
) -> Result<(), String> {
    let r = call(s, actor(s, owner), method, path_and_query, headers, body).await;
    match r.status().is_success() {
        true => Ok(()),
        false => Err(error_text(r).await),
    }
}
