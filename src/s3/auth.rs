//! Who is calling: the one place request signatures are verified (Authorization header or
//! presigned query). Browser POST uploads verify their policy signature in `post.rs`
//! through `verify_post_signature` here.

use crate::store::Store;
use bascule_api::chunked::ChunkSigning;
use bascule_api::encoding::percent_decode;
use bascule_api::sigv2;
use bascule_api::sigv4::{self, PathMode, Scope, SigningKey};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::UserRecord;
use http::{HeaderMap, Method};
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub enum Identity {
    Anonymous,
    User { user: UserRecord },
}

/// Who a request the dashboard's console sends through this S3 router acts as. Set only
/// in-process (a request extension no client can send), after the dashboard session and
/// its CSRF token were checked: it stands for the signature, and every other check
/// (authorization, object lock, validation) is the S3 layer's own.
#[derive(Debug, Clone)]
pub struct ConsoleActor(pub UserRecord);

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
    /// The bucket when it was named by the Host header (virtual-host style): SigV2 signs it.
    pub host_bucket: Option<&'a str>,
    /// Whether Signature Version 2 is accepted (`allow_sigv2`).
    pub sigv2: bool,
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
        if let Some(v2) = sigv2::parse_authorization(auth) {
            let (access_key, signature) = v2?;
            return authenticate_v2_header(store, input, &access_key, &signature, now);
        }
        return authenticate_header(store, input, auth, now);
    }
    if let Some(presigned) = sigv4::parse_presigned(input.query)? {
        return authenticate_presigned(store, input, presigned, now);
    }
    let q = |name: &str| {
        input
            .query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if let Some(access_key) = q("AWSAccessKeyId") {
        return authenticate_v2_presigned(
            store,
            input,
            access_key,
            q("Expires"),
            q("Signature"),
            now,
        );
    }
    Ok((Identity::Anonymous, PayloadCheck::None))
}

/// Refuses Signature Version 2 when `allow_sigv2` is off, as AWS regions without it do.
pub fn sigv2_enabled(allowed: bool) -> S3Result<()> {
    if allowed {
        Ok(())
    } else {
        Err(S3Error::msg(
            S3ErrorCode::InvalidRequest,
            "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
        ))
    }
}

/// Verifies a SigV2 signature over the request as received; `date_line` is the Date (or,
/// presigned, the Expires) the signer used.
fn check_v2_signature(
    store: &Store,
    input: &AuthInput,
    access_key: &str,
    date_line: &str,
    provided: &str,
) -> S3Result<UserRecord> {
    let (secret, user) = lookup_key(store, access_key)?;
    let amz = sigv2::canonical_amz_headers(
        input
            .headers
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))),
    );
    let sign = |path: &str| -> S3Result<(String, String)> {
        let resource = sigv2::canonical_resource(
            input.host_bucket,
            path,
            input.query,
            super::endpoint::signed_sub_resource,
        );
        let sts = sigv2::string_to_sign(
            input.method.as_str(),
            header(input.headers, "content-md5").unwrap_or_default(),
            header(input.headers, "content-type").unwrap_or_default(),
            date_line,
            &amz,
            &resource,
        );
        let expected = sigv2::sign(&secret, &sts)?;
        Ok((sts, expected))
    };
    // A `+` of a base64 signature sent unencoded in a query string reads as a space.
    let provided = provided.replace(' ', "+");
    let (sts, expected) = sign(input.raw_path)?;
    if sigv4::signatures_match(&expected, &provided) {
        return Ok(user);
    }
    // A path-style bucket request (`/bucket`) is the resource `/bucket/` in AWS's
    // canonical form, which boto's signer uses (CreateBucket, say): the same resource.
    let bucket_only = input.host_bucket.is_none()
        && input
            .raw_path
            .strip_prefix('/')
            .is_some_and(|b| !b.is_empty() && !b.contains('/'));
    if bucket_only {
        let (_, expected) = sign(&format!("{}/", input.raw_path))?;
        if sigv4::signatures_match(&expected, &provided) {
            return Ok(user);
        }
    }
    Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch)
        .with("AWSAccessKeyId", access_key.to_string())
        .with("StringToSign", sts)
        .with("SignatureProvided", provided))
}

fn authenticate_v2_header(
    store: &Store,
    input: &AuthInput,
    access_key: &str,
    signature: &str,
    now: OffsetDateTime,
) -> S3Result<(Identity, PayloadCheck)> {
    sigv2_enabled(input.sigv2)?;
    let no_date = || {
        S3Error::msg(
            S3ErrorCode::AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header",
        )
    };
    // With x-amz-date the signed Date line is empty (x-amz-date is signed as an amz header).
    let (date_line, sent) = match header(input.headers, "x-amz-date") {
        Some(d) => ("", d),
        None => {
            let d = header(input.headers, "date").ok_or_else(no_date)?;
            (d, d)
        }
    };
    let request_time = bascule_api::headers::parse_http_date(sent)
        .map(OffsetDateTime::from)
        .or_else(|| OffsetDateTime::parse(sent.trim(), &Rfc2822).ok())
        .or_else(|| sigv4::parse_amz_date(sent))
        .ok_or_else(no_date)?;
    sigv4::check_clock_skew(request_time, now)?;
    let user = check_v2_signature(store, input, access_key, date_line, signature)?;
    Ok((Identity::User { user }, PayloadCheck::None))
}

fn authenticate_v2_presigned(
    store: &Store,
    input: &AuthInput,
    access_key: &str,
    expires: Option<&str>,
    signature: Option<&str>,
    now: OffsetDateTime,
) -> S3Result<(Identity, PayloadCheck)> {
    sigv2_enabled(input.sigv2)?;
    let err = |m: &str| S3Error::msg(S3ErrorCode::AccessDenied, m.to_string());
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return Err(err(
            "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
        ));
    };
    let at: i64 = expires
        .parse()
        .map_err(|_| err("Expires must be a number of seconds since the epoch"))?;
    if at < now.unix_timestamp() {
        let server_time = sigv4::format_amz_date(now);
        return Err(err("Request has expired")
            .with("Expires", expires.to_string())
            .with("ServerTime", server_time));
    }
    let user = check_v2_signature(store, input, access_key, expires, signature)?;
    Ok((Identity::User { user }, PayloadCheck::None))
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

/// Verifies a SigV2 browser POST form: `signature` is base64(HMAC-SHA1) of the policy.
pub fn verify_post_signature_v2(
    store: &Store,
    access_key: &str,
    policy_b64: &str,
    signature: &str,
) -> S3Result<Identity> {
    let (secret, user) = lookup_key(store, access_key)?;
    let expected = sigv2::sign(&secret, policy_b64)?;
    if !sigv4::signatures_match(&expected, signature) {
        return Err(S3Error::new(S3ErrorCode::SignatureDoesNotMatch));
    }
    Ok(Identity::User { user })
}

fn parse_credential(credential: &str) -> S3Result<Scope> {
    Scope::parse(credential, S3ErrorCode::InvalidArgument)
}
