//! Building HTTP responses: XML documents, empty answers, and S3 errors.

use axum::body::Body;
use axum::response::Response;
use bascule_api::{xml, S3Error, S3ErrorCode};
use http::{header, HeaderValue, StatusCode};
use serde::Serialize;

/// A 200 answer carrying an XML document. A document that cannot be serialized (a bug)
/// is answered `InternalError` and logged, never a panic.
pub fn xml_response<T: Serialize>(root: &str, value: &T) -> Response {
    let body = match xml::to_xml(root, value) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(root, "a response document could not be serialized");
            return error_response(&e, "", "", false);
        }
    };
    let mut r = Response::new(Body::from(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

pub fn empty(status: StatusCode) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = status;
    r
}

/// Adds a header whose value came from stored data; values that are not valid header text
/// (which the write path prevents) are skipped rather than failing the response.
/// Sets a response header. Values are the stored bytes (UTF-8 included); only a name or
/// value HTTP cannot carry at all (control characters) is left out.
pub fn set_header(r: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value.as_bytes()),
    ) {
        r.headers_mut().insert(n, v);
    }
}

/// The one place an `S3Error` becomes an HTTP response.
pub fn error_response(err: &S3Error, resource: &str, request_id: &str, head: bool) -> Response {
    let status = StatusCode::from_u16(err.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // HEAD answers and 304 carry no body.
    let mut r = if head || err.code == S3ErrorCode::NotModified {
        empty(status)
    } else {
        let mut r = Response::new(Body::from(xml::error_body(err, resource, request_id)));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        r
    };
    *r.status_mut() = status;
    for (name, value) in &err.headers {
        set_header(&mut r, name, value);
    }
    r
}
