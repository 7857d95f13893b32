//! What a handler is given: the server's state and the request, resolved, authenticated
//! and authorized (`Ctx`), and the helpers every handler shares.

use super::access;
use super::auth::{Identity, PayloadCheck};
use super::endpoint::{Endpoint, Params};
use crate::config::Config;
use crate::store::Store;
use axum::body::Body;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::BucketRecord;
use http::HeaderMap;
use std::sync::Arc;

#[derive(Clone)]
pub struct S3State {
    pub store: Arc<Store>,
    pub config: Arc<Config>,
    pub zone: Arc<crate::zone::ZoneService>,
    /// Server access log records waiting for delivery.
    pub logs: Arc<super::logging::batches::BucketLogs>,
    /// The key service (encryption at rest).
    pub keys: Arc<crate::crypt::ring::KeyRing>,
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

    /// How access control sees this request, for `endpoint` on `bucket` and `key`, with
    /// `query` and the headers `header` reads.
    pub fn access_request<'a>(
        &'a self,
        endpoint: Endpoint,
        bucket: Option<&'a BucketRecord>,
        key: Option<&'a str>,
        query: &'a [(String, String)],
        header: &'a dyn Fn(&str) -> Option<String>,
    ) -> access::AccessRequest<'a> {
        access::AccessRequest {
            endpoint,
            identity: &self.identity,
            bucket,
            key,
            header,
            query,
            source_ip: self.source_ip,
            secure_transport: self.secure_transport,
        }
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
            &self.access_request(endpoint, Some(bucket), Some(key), &query, &header),
            object,
        )
    }

    /// Is `action` allowed to this request's caller on its bucket (`key` `None`) or on
    /// `key`, the request's query standing as `query`?
    pub fn permits(
        &self,
        action: &'static str,
        key: Option<&str>,
        query: &[(String, String)],
    ) -> S3Result<bool> {
        let header = |n: &str| self.header(n).map(String::from);
        access::permits(
            &self.access_request(
                Endpoint::NotImplemented,
                self.bucket_record.as_ref(),
                key,
                query,
                &header,
            ),
            action,
        )
    }

    /// May the caller learn whether `key` exists: `s3:ListBucket` on the bucket, with the
    /// key as the listing's `s3:prefix` (a policy may allow listing part of a bucket).
    pub fn may_list_key(&self, key: &str) -> S3Result<bool> {
        self.permits(
            "s3:ListBucket",
            None,
            &[("prefix".to_string(), key.to_string())],
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
