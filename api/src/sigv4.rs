//! AWS Signature Version 4: the pieces a server needs to recompute a client's signature.
//!
//! The caller extracts what the client claims (`parse_authorization`, `parse_presigned`),
//! builds the canonical request from the request it actually received, and compares.
//! Key derivation and the final HMAC come from the `aws-sigv4` crate.

use crate::encoding::{uri_encode, uri_encode_path};
use crate::error::{S3Error, S3ErrorCode, S3Result};
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime};
use time::{macros::format_description, OffsetDateTime, PrimitiveDateTime};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
pub const STREAMING_UNSIGNED_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// AWS refuses presigned URLs valid for longer than seven days.
pub const MAX_PRESIGNED_EXPIRY_SECS: u64 = 7 * 24 * 3600;
/// AWS refuses requests whose clock is more than 15 minutes away from the server's.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);

/// The credential scope: `<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Scope {
    /// Parses `AKID/20150830/us-east-1/s3/aws4_request`.
    pub fn parse(credential: &str, code: S3ErrorCode) -> S3Result<Scope> {
        let mut parts = credential.rsplitn(5, '/');
        let terminator = parts.next();
        let service = parts.next();
        let region = parts.next();
        let date = parts.next();
        let access_key = parts.next();
        match (access_key, date, region, service, terminator) {
            (Some(a), Some(d), Some(r), Some(s), Some("aws4_request"))
                if !a.is_empty() && d.len() == 8 =>
            {
                Ok(Scope {
                    access_key: a.into(),
                    date: d.into(),
                    region: r.into(),
                    service: s.into(),
                })
            }
            _ => Err(S3Error::msg(
                code,
                format!("Invalid credential scope: '{credential}'"),
            )),
        }
    }

    /// The scope string used in the string to sign (no access key).
    pub fn to_scope_string(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// What the `Authorization` header claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationHeader {
    pub scope: Scope,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(value: &str) -> S3Result<AuthorizationHeader> {
    let malformed =
        |m: &str| S3Error::msg(S3ErrorCode::AuthorizationHeaderMalformed, m.to_string());
    let rest = value.strip_prefix(ALGORITHM).ok_or_else(|| {
        S3Error::msg(
            S3ErrorCode::InvalidArgument,
            "Unsupported Authorization Type",
        )
    })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let field = field.trim();
        match field.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ if field.is_empty() => {}
            _ => return Err(malformed("Unknown field in the authorization header")),
        }
    }
    let credential = credential.ok_or_else(|| malformed("Missing Credential"))?;
    let signed = signed.ok_or_else(|| malformed("Missing SignedHeaders"))?;
    let signature = signature.ok_or_else(|| malformed("Missing Signature"))?;
    Ok(AuthorizationHeader {
        scope: Scope::parse(credential, S3ErrorCode::AuthorizationHeaderMalformed)?,
        signed_headers: split_signed_headers(signed),
        signature: signature.to_ascii_lowercase(),
    })
}

/// What a presigned URL's `X-Amz-*` query parameters claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedQuery {
    pub scope: Scope,
    pub amz_date: String,
    pub expires_secs: u64,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

/// Returns `Ok(None)` when the query carries no SigV4 presigning parameters.
pub fn parse_presigned(query: &[(String, String)]) -> S3Result<Option<PresignedQuery>> {
    let get = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(algorithm) = get("X-Amz-Algorithm") else {
        return Ok(None);
    };
    let err = |m: String| S3Error::msg(S3ErrorCode::AuthorizationQueryParametersError, m);
    if algorithm != ALGORITHM {
        return Err(err(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let need = |name: &str| {
        get(name).ok_or_else(|| {
            err(format!(
                "Query-string authentication requires the {name} parameter"
            ))
        })
    };
    let expires_raw = need("X-Amz-Expires")?;
    // A lifetime out of range is refused as AWS refuses it: 403 AccessDenied, as an
    // expired URL is.
    let out_of_range = |m: &str| S3Error::msg(S3ErrorCode::AccessDenied, m.to_string());
    let expires_secs: u64 = match expires_raw.parse::<i64>() {
        Ok(n) if n < 0 => return Err(out_of_range("X-Amz-Expires must be non-negative")),
        Ok(n) => n as u64,
        Err(_) => return Err(err("X-Amz-Expires should be a number".into())),
    };
    if expires_secs > MAX_PRESIGNED_EXPIRY_SECS {
        return Err(out_of_range(
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
        ));
    }
    Ok(Some(PresignedQuery {
        scope: Scope::parse(
            need("X-Amz-Credential")?,
            S3ErrorCode::AuthorizationQueryParametersError,
        )?,
        amz_date: need("X-Amz-Date")?.to_string(),
        expires_secs,
        signed_headers: split_signed_headers(need("X-Amz-SignedHeaders")?),
        signature: need("X-Amz-Signature")?.to_ascii_lowercase(),
    }))
}

fn split_signed_headers(s: &str) -> Vec<String> {
    s.split(';')
        .filter(|h| !h.is_empty())
        .map(|h| h.trim().to_ascii_lowercase())
        .collect()
}

/// How the path is canonicalised: S3 signs the path as sent; other services normalise
/// `.`/`..`/`//` segments first (only the AWS test vectors use that mode here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathMode {
    S3,
    Normalize,
}

/// The canonical URI from a *decoded* path.
pub fn canonical_uri(decoded_path: &str, mode: PathMode) -> String {
    let path = match mode {
        PathMode::S3 => decoded_path.to_string(),
        PathMode::Normalize => normalize_path(decoded_path),
    };
    if path.is_empty() {
        return "/".into();
    }
    uri_encode_path(&path)
}

fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let trailing = path.ends_with('/') && !segments.is_empty();
    let mut out = format!("/{}", segments.join("/"));
    if trailing {
        out.push('/');
    }
    out
}

/// The canonical query string from decoded pairs; `X-Amz-Signature` is left out.
pub fn canonical_query(pairs: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| k != "X-Amz-Signature")
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    encoded.sort();
    let parts: Vec<String> = encoded
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    parts.join("&")
}

/// Canonical header block: `name:value\n` for each signed header, values of repeated
/// headers joined with commas, whitespace trimmed and runs of spaces folded.
/// `lookup` returns every value the request carries for a lowercase header name.
pub fn canonical_headers<'a, F>(signed: &[String], mut lookup: F) -> String
where
    F: FnMut(&str) -> Vec<&'a [u8]>,
{
    let mut out = String::new();
    for name in signed {
        let values: Vec<String> = lookup(name).into_iter().map(fold_header_value).collect();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out
}

fn fold_header_value(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &[String],
    payload_hash: &str,
) -> String {
    format!(
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{}\n{payload_hash}",
        signed_headers.join(";")
    )
}

pub fn string_to_sign(amz_date: &str, scope: &Scope, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope.to_scope_string(),
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

/// A derived signing key for one scope; it signs the request and, for streaming uploads,
/// every chunk and the trailer.
#[derive(Clone)]
pub struct SigningKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    pub fn derive(secret: &str, scope: &Scope) -> S3Result<SigningKey> {
        let day = parse_scope_date(&scope.date)?;
        let key =
            aws_sigv4::sign::v4::generate_signing_key(secret, day, &scope.region, &scope.service);
        Ok(SigningKey {
            key: key.as_ref().to_vec(),
        })
    }

    pub fn sign(&self, string_to_sign: &str) -> String {
        aws_sigv4::sign::v4::calculate_signature(&self.key, string_to_sign.as_bytes())
    }
}

/// Compares hex signatures without leaking where they differ.
/// What a presigned URL needs: who signs, for which request, until when.
pub struct Presign<'a> {
    pub method: &'a str,
    pub host: &'a str,
    /// The decoded path (`/bucket/key`).
    pub path: &'a str,
    /// Decoded query parameters the URL carries besides the signature's (`versionId`).
    pub params: &'a [(String, String)],
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub region: &'a str,
    pub now: OffsetDateTime,
    pub expires_secs: u64,
}

/// The query string of a SigV4 presigned URL (only `host` signed, unsigned payload): a
/// share link a browser opens without credentials, verified like any presigned request.
pub fn presigned_query(p: &Presign) -> S3Result<String> {
    if p.expires_secs == 0 || p.expires_secs > MAX_PRESIGNED_EXPIRY_SECS {
        return Err(S3Error::msg(
            S3ErrorCode::AuthorizationQueryParametersError,
            "X-Amz-Expires must be between 1 and 604800 seconds",
        ));
    }
    let amz_date = format_amz_date(p.now);
    let scope = Scope {
        access_key: p.access_key.to_string(),
        date: amz_date[..8].to_string(),
        region: p.region.to_string(),
        service: "s3".into(),
    };
    let mut pairs: Vec<(String, String)> = p.params.to_vec();
    pairs.extend([
        ("X-Amz-Algorithm".to_string(), ALGORITHM.to_string()),
        (
            "X-Amz-Credential".to_string(),
            format!("{}/{}", p.access_key, scope.to_scope_string()),
        ),
        ("X-Amz-Date".to_string(), amz_date.clone()),
        ("X-Amz-Expires".to_string(), p.expires_secs.to_string()),
        ("X-Amz-SignedHeaders".to_string(), "host".to_string()),
    ]);
    let query = canonical_query(&pairs);
    let signed = vec!["host".to_string()];
    let headers = canonical_headers(&signed, |_| vec![p.host.as_bytes()]);
    let request = canonical_request(
        p.method,
        &canonical_uri(p.path, PathMode::S3),
        &query,
        &headers,
        &signed,
        UNSIGNED_PAYLOAD,
    );
    let signature = SigningKey::derive(p.secret_key, &scope)?
        .sign(&string_to_sign(&amz_date, &scope, &request));
    Ok(format!("{query}&X-Amz-Signature={signature}"))
}

pub fn signatures_match(expected: &str, provided: &str) -> bool {
    let (a, b) = (expected.as_bytes(), provided.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn parse_scope_date(date: &str) -> S3Result<SystemTime> {
    let fmt = format_description!("[year][month][day]");
    let d = time::Date::parse(date, fmt).map_err(|_| {
        S3Error::msg(
            S3ErrorCode::AuthorizationHeaderMalformed,
            "Invalid date in the credential scope",
        )
    })?;
    Ok(d.midnight().assume_utc().into())
}

/// Parses `20150830T123600Z`.
pub fn parse_amz_date(s: &str) -> Option<OffsetDateTime> {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    PrimitiveDateTime::parse(s, fmt)
        .ok()
        .map(|t| t.assume_utc())
}

pub fn format_amz_date(t: OffsetDateTime) -> String {
    let fmt = format_description!("[year][month][day]T[hour][minute][second]Z");
    t.format(fmt).unwrap_or_default()
}

/// Rejects a request dated more than 15 minutes from `now`, as AWS does.
pub fn check_clock_skew(request_time: OffsetDateTime, now: OffsetDateTime) -> S3Result<()> {
    let skew = (now - request_time).abs();
    if skew > MAX_CLOCK_SKEW {
        return Err(S3Error::new(S3ErrorCode::RequestTimeTooSkewed)
            .with("RequestTime", format_amz_date(request_time))
            .with("ServerTime", format_amz_date(now))
            .with("MaxAllowedSkewMilliseconds", "900000"));
    }
    Ok(())
}

/// The date in the scope must be the day of `X-Amz-Date`.
pub fn check_scope_date(scope: &Scope, amz_date: &str) -> S3Result<()> {
    if !amz_date.starts_with(&scope.date) {
        return Err(S3Error::msg(
            S3ErrorCode::AuthorizationHeaderMalformed,
            format!("Invalid credential date \"{}\". This date is not the same as X-Amz-Date: \"{amz_date}\".", scope.date),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_authorization_header() {
        let h = "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=ABCdef";
        let a = parse_authorization(h).unwrap();
        assert_eq!(a.scope.access_key, "AKID");
        assert_eq!(a.scope.region, "us-east-1");
        assert_eq!(a.signed_headers, vec!["host", "x-amz-date"]);
        assert_eq!(a.signature, "abcdef");
    }

    #[test]
    fn rejects_malformed_authorization() {
        let e = parse_authorization("AWS4-HMAC-SHA256 Credential=AKID/2015/x").unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AuthorizationHeaderMalformed);
        let e = parse_authorization("AWS AKID:sig").unwrap_err();
        assert_eq!(e.code, S3ErrorCode::InvalidArgument);
    }

    #[test]
    fn presigned_expiry_is_capped_at_seven_days() {
        let q = |exp: &str| {
            vec![
                ("X-Amz-Algorithm".to_string(), ALGORITHM.to_string()),
                (
                    "X-Amz-Credential".into(),
                    "AKID/20150830/us-east-1/s3/aws4_request".into(),
                ),
                ("X-Amz-Date".into(), "20150830T123600Z".into()),
                ("X-Amz-Expires".into(), exp.into()),
                ("X-Amz-SignedHeaders".into(), "host".into()),
                ("X-Amz-Signature".into(), "00".into()),
            ]
        };
        assert_eq!(
            parse_presigned(&q("604800")).unwrap().unwrap().expires_secs,
            604800
        );
        let e = parse_presigned(&q("604801")).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AccessDenied);
        let e = parse_presigned(&q("-7")).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AccessDenied);
        let e = parse_presigned(&q("soon")).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::AuthorizationQueryParametersError);
        assert!(parse_presigned(&[]).unwrap().is_none());
    }

    #[test]
    fn clock_skew_limit() {
        let now = parse_amz_date("20150830T123600Z").unwrap();
        assert!(check_clock_skew(now - Duration::from_secs(14 * 60), now).is_ok());
        let e = check_clock_skew(now + Duration::from_secs(16 * 60), now).unwrap_err();
        assert_eq!(e.code, S3ErrorCode::RequestTimeTooSkewed);
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(
            canonical_uri("/example1/example2/../..", PathMode::Normalize),
            "/"
        );
        assert_eq!(
            canonical_uri("//example//", PathMode::Normalize),
            "/example/"
        );
        assert_eq!(canonical_uri("//example//", PathMode::S3), "//example//");
        assert_eq!(canonical_uri("/b/a b+c", PathMode::S3), "/b/a%20b%2Bc");
    }
}
