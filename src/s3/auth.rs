//! Who is calling: the one place request signatures are verified (Authorization header or
//! presigned query). Browser POST uploads verify their policy signature in `post.rs`
//! through `verify_post_signature` here.

use crate::store::Store;
use bascule_api::chunked::ChunkSigning;
use bascule_api::encoding::percent_decode;
use bascule_api::sigv4::{self, PathMode, Scope, SigningKey};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::UserRecord;
use http::{HeaderMap, Method};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub enum Identity {
    Anonymous,
    User { user: UserRecord },
}

impl Identity {
    pub fn user(&self) -> Option<&UserRecord> {
        match self {
            Identity::User { user, .. } => Some(user),
            Identity::Anonymous => None,
        }
    }
}

/// What the body must prove once it has been read.
#[derive(Debug, Clone)]
pub enum PayloadCheck {
    /// Unsigned payload, presigned URL, or anonymous request.
    None,
    /// The body's SHA-256 must equal this hex digest.
    Sha256(String),
    /// `aws-chunked` body; chunk signatures are verified when `signing` is set.
    Chunked { signing: Option<ChunkSigning> },
}

pub struct AuthInput<'a> {
    pub method: &'a Method,
    /// The request path exactly as received (still percent-encoded).
    pub raw_path: &'a str,
    pub query: &'a [(String, String)],
    pub headers: &'a HeaderMap,
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Resolves an access key to its secret and user, refusing disabled keys and users.
pub fn lookup_key(store: &Store, access_key: &str) -> S3Result<(String, UserRecord)> {
    let key = store.access_key(access_key)?.filter(|k| k.enabled);
    let Some(key) = key else {
        return Err(S3Error::new(S3ErrorCode::InvalidAccessKeyId)
            .with("AWSAccessKeyId", access_key.to_string()));
    };
    match store.user(&key.user_id)? {
        Some(user) if user.enabled => Ok((key.secret_key, user)),
        _ => Err(S3Error::new(S3ErrorCode::InvalidAccessKeyId)
            .with("AWSAccessKeyId", access_key.to_string())),
    }
}

pub fn authenticate(
    store: &Store,
    input: &AuthInput,
    now: OffsetDateTime,
) -> S3Result<(Identity, PayloadCheck)> {
    if let Some(auth) = header(input.headers, "authorization") {
        return authenticate_header(store, input, auth, now);
    }
    if let Some(presigned) = sigv4::parse_presigned(input.query)? {
        return authenticate_presigned(store, input, presigned, now);
    }
    Ok((Identity::Anonymous, PayloadCheck::None))
}

fn canonical_uri(raw_path: &str) -> S3Result<String> {
    let decoded = percent_decode(raw_path)
        .ok_or_else(|| S3Error::msg(S3ErrorCode::InvalidArgument, "Invalid URI encoding"))?;
    Ok(sigv4::canonical_uri(&decoded, PathMode::S3))
}

fn check_signature(
    input: &AuthInput,
    scope: &Scope,
    secret: &str,
    amz_date: &str,
    signed_headers: &[String],
    payload_hash: &str,
    provided: &str,
) -> S3Result<SigningKey> {
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(S3Error::msg(
            S3ErrorCode::AccessDenied,
            "The host header must be signed",
        ));
    }
    // Every x-amz-* header must be covered by the signature, in header and presigned
    // requests alike: an unsigned one (say x-amz-copy-source added to a presigned PUT)
    // would change what the signer allowed.
    let mut unsigned: Vec<&str> = input
        .headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("x-amz-") && !signed_headers.iter().any(|h| h == n))
        .collect();
    if !unsigned.is_empty() {
        unsigned.dedup();
        return Err(S3Error::msg(
            S3ErrorCode::AccessDenied,
            "There were headers present in the request which were not signed",
        )
        .with("HeadersNotSigned", unsigned.join(", ")));
    }
    let headers = sigv4::canonical_headers(signed_headers, |name| {
        input
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes())
            .collect()
    });
    let creq = sigv4::canonical_request(
        input.method.as_str(),
        &canonical_uri(input.raw_path)?,
        &sigv4::canonical_query(input.query),
        &headers,
        signed_headers,
        payload_hash,
    );
    let sts = sigv4::string_to_sign(amz_date, scope, &creq);
    let key = SigningKey::derive(secret, scope)?;
    let expected = key.sign(&sts);
    if !sigv4::signatures_match(&expected, provided) {
        return Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch)
            .with("AWSAccessKeyId", scope.access_key.clone())
            .with("StringToSign", sts)
            .with("CanonicalRequest", creq));
    }
    Ok(key)
}

fn authenticate_header(
    store: &Store,
    input: &AuthInput,
    auth: &str,
    now: OffsetDateTime,
) -> S3Result<(Identity, PayloadCheck)> {
    let parsed = sigv4::parse_authorization(auth)?;
    let amz_date = header(input.headers, "x-amz-date")
        .map(str::to_string)
        .or_else(|| {
            header(input.headers, "date")
                .and_then(bascule_api::headers::parse_http_date)
                .map(|t| sigv4::format_amz_date(OffsetDateTime::from(t)))
        })
        .ok_or_else(|| {
            S3Error::msg(
                S3ErrorCode::AccessDenied,
                "AWS authentication requires a valid Date or x-amz-date header",
            )
        })?;
    let request_time = sigv4::parse_amz_date(&amz_date).ok_or_else(|| {
        S3Error::msg(
            S3ErrorCode::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    })?;
    sigv4::check_clock_skew(request_time, now)?;
    sigv4::check_scope_date(&parsed.scope, &amz_date)?;
    let payload_hash = header(input.headers, "x-amz-content-sha256").ok_or_else(|| {
        S3Error::msg(
            S3ErrorCode::InvalidRequest,
            "Missing required header for this request: x-amz-content-sha256",
        )
    })?;
    let (secret, user) = lookup_key(store, &parsed.scope.access_key)?;
    let key = check_signature(
        input,
        &parsed.scope,
        &secret,
        &amz_date,
        &parsed.signed_headers,
        payload_hash,
        &parsed.signature,
    )?;
    let payload = match payload_hash {
        sigv4::UNSIGNED_PAYLOAD => PayloadCheck::None,
        sigv4::STREAMING_PAYLOAD | sigv4::STREAMING_PAYLOAD_TRAILER => PayloadCheck::Chunked {
            signing: Some(ChunkSigning {
                key,
                amz_date,
                scope: parsed.scope.to_scope_string(),
                prev_signature: parsed.signature.clone(),
            }),
        },
        sigv4::STREAMING_UNSIGNED_TRAILER => PayloadCheck::Chunked { signing: None },
        h if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => PayloadCheck::Sha256(h.to_ascii_lowercase()),
        _ => {
            return Err(S3Error::msg(S3ErrorCode::InvalidArgument, "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, a streaming mode, or a SHA-256 hex digest")
                .with("ArgumentName", "x-amz-content-sha256"))
        }
    };
    Ok((Identity::User { user }, payload))
}

fn authenticate_presigned(
    store: &Store,
    input: &AuthInput,
    p: sigv4::PresignedQuery,
    now: OffsetDateTime,
) -> S3Result<(Identity, PayloadCheck)> {
    let signed_at = sigv4::parse_amz_date(&p.amz_date).ok_or_else(|| {
        S3Error::msg(
            S3ErrorCode::AuthorizationQueryParametersError,
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
    })?;
    sigv4::check_scope_date(&p.scope, &p.amz_date)?;
    if signed_at - now > sigv4::MAX_CLOCK_SKEW {
        return Err(S3Error::msg(
            S3ErrorCode::AccessDenied,
            "Request is not valid yet",
        ));
    }
    let expires_at = signed_at + std::time::Duration::from_secs(p.expires_secs);
    if now > expires_at {
        return Err(
            S3Error::msg(S3ErrorCode::AccessDenied, "Request has expired")
                .with("X-Amz-Expires", p.expires_secs.to_string())
                .with("Expires", sigv4::format_amz_date(expires_at))
                .with("ServerTime", sigv4::format_amz_date(now)),
        );
    }
    let (secret, user) = lookup_key(store, &p.scope.access_key)?;
    let payload_hash = input
        .query
        .iter()
        .find(|(k, _)| k == "X-Amz-Content-Sha256")
        .map(|(_, v)| v.as_str())
        .unwrap_or(sigv4::UNSIGNED_PAYLOAD);
    check_signature(
        input,
        &p.scope,
        &secret,
        &p.amz_date,
        &p.signed_headers,
        payload_hash,
        &p.signature,
    )?;
    Ok((Identity::User { user }, PayloadCheck::None))
}

/// Verifies a browser POST form: `x-amz-signature` is the HMAC of the base64 policy.
pub fn verify_post_signature(
    store: &Store,
    credential: &str,
    amz_date: &str,
    policy_b64: &str,
    signature: &str,
) -> S3Result<Identity> {
    let scope = parse_credential(credential)?;
    sigv4::check_scope_date(&scope, amz_date)?;
    let (secret, user) = lookup_key(store, &scope.access_key)?;
    let expected = SigningKey::derive(&secret, &scope)?.sign(policy_b64);
    if !sigv4::signatures_match(&expected, &signature.to_ascii_lowercase()) {
        return Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch));
    }
    Ok(Identity::User { user })
}

fn parse_credential(credential: &str) -> S3Result<Scope> {
    Scope::parse(credential, S3ErrorCode::InvalidArgument)
}
