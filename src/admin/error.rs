//! The admin layer's error, and its one conversion into the admin API's JSON answers.

use crate::store::StoreError;
use crate::zone::ZoneError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bascule_api::{S3Error, S3ErrorCode};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no such {what}: {id}")]
    NotFound { what: &'static str, id: String },
    /// The change conflicts with what exists (a user that exists already, say).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// Refusals shared with S3 (a zone that takes no writes, a missing bucket...).
    #[error(transparent)]
    S3(#[from] S3Error),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Zone(#[from] ZoneError),
    #[error(transparent)]
    Key(#[from] crate::crypt::KeyError),
}

pub fn not_found(what: &'static str, id: &str) -> AdminError {
    AdminError::NotFound {
        what,
        id: id.to_string(),
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, message, headers) = match self {
            AdminError::NotFound { .. } => {
                (StatusCode::NOT_FOUND, "NotFound", self.to_string(), vec![])
            }
            AdminError::Conflict(m) => (StatusCode::CONFLICT, "Conflict", m, vec![]),
            AdminError::Invalid(m) => (StatusCode::BAD_REQUEST, "InvalidArgument", m, vec![]),
            AdminError::Zone(ZoneError::Refused(r)) => {
                (StatusCode::CONFLICT, "Conflict", r.to_string(), vec![])
            }
            AdminError::Zone(z) => s3_parts(z.into()),
            AdminError::Store(s) => s3_parts(s.into()),
            AdminError::S3(e) => s3_parts(e),
            AdminError::Key(k) => s3_parts(k.into()),
        };
        let mut r = (status, Json(json!({ "error": code, "message": message }))).into_response();
        for (name, value) in headers {
            if let Ok(v) = http::HeaderValue::from_str(&value) {
                r.headers_mut().insert(name, v);
            }
        }
        r
    }
}

type Parts = (
    StatusCode,
    &'static str,
    String,
    Vec<(&'static str, String)>,
);

fn s3_parts(e: S3Error) -> Parts {
    let status = match e.code {
        S3ErrorCode::InvalidRequest => StatusCode::CONFLICT,
        S3ErrorCode::NoSuchBucket => StatusCode::NOT_FOUND,
        c => StatusCode::from_u16(c.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    };
    (status, e.code.as_str(), e.message.to_string(), e.headers)
}
