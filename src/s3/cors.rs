//! Bucket CORS: the configuration document, OPTIONS preflight, and the CORS headers added
//! to actual responses for a matching origin.

use super::ctx::{read_small_body, Ctx, S3State};
use super::response::{empty, set_header};
use axum::body::Body;
use axum::response::Response;
use bascule_api::xml::{self, CorsConfiguration, CorsRule, S3_NAMESPACE};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::BucketRecord;
use http::{HeaderMap, Method, StatusCode};

const METHODS: [&str; 5] = ["GET", "PUT", "POST", "DELETE", "HEAD"];

pub fn config_of(b: &BucketRecord) -> Option<CorsConfiguration> {
    b.cors_xml
        .as_deref()
        .and_then(|x| xml::from_xml(x.as_bytes()).ok())
}

/// `*` may appear once, standing for any run of characters.
fn wildcard_match(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((pre, post)) => {
            value.len() >= pre.len() + post.len() && value.starts_with(pre) && value.ends_with(post)
        }
    }
}

fn rule_matches_origin_method(rule: &CorsRule, origin: &str, method: &str) -> bool {
    rule.allowed_origin
        .iter()
        .any(|o| wildcard_match(o, origin))
        && rule.allowed_method.iter().any(|m| m == method)
}

fn validate(cfg: &CorsConfiguration) -> S3Result<()> {
    if cfg.rules.is_empty() || cfg.rules.len() > 100 {
        return Err(S3Error::new(S3ErrorCode::MalformedXML));
    }
    for r in &cfg.rules {
        if r.allowed_method.is_empty() || r.allowed_origin.is_empty() {
            return Err(S3Error::new(S3ErrorCode::MalformedXML));
        }
        if let Some(m) = r
            .allowed_method
            .iter()
            .find(|m| !METHODS.contains(&m.as_str()))
        {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidRequest,
                format!("Found unsupported HTTP method in CORS config. Unsupported method is {m}"),
            ));
        }
        let too_wild = |v: &String| v.matches('*').count() > 1;
        if r.allowed_origin.iter().any(too_wild) || r.allowed_header.iter().any(too_wild) {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidRequest,
                "A CORS value may contain at most one wildcard",
            ));
        }
    }
    Ok(())
}

pub fn get_cors(ctx: &Ctx) -> S3Result<Response> {
    let b = ctx.require_bucket()?;
    let mut cfg = config_of(b).ok_or_else(|| {
        S3Error::new(S3ErrorCode::NoSuchCORSConfiguration).with("BucketName", b.name.clone())
    })?;
    cfg.xmlns = S3_NAMESPACE.to_string();
    Ok(super::response::xml_response("CORSConfiguration", &cfg))
}

pub async fn put_cors(s: &S3State, ctx: &Ctx, body: Body) -> S3Result<Response> {
    ctx.require_bucket()?;
    let raw = read_small_body(body, &ctx.payload, 64 * 1024).await?;
    let cfg: CorsConfiguration = xml::from_xml(&raw)?;
    validate(&cfg)?;
    let stored = xml::to_xml("CORSConfiguration", &cfg)?;
    s.store
        .update_bucket(&ctx.bucket, move |b| {
            b.cors_xml = Some(stored);
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::OK))
}

pub async fn delete_cors(s: &S3State, ctx: &Ctx) -> S3Result<Response> {
    ctx.require_bucket()?;
    s.store
        .update_bucket(&ctx.bucket, |b| {
            b.cors_xml = None;
            Ok(())
        })
        .await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn cors_denied(msg: &str) -> S3Error {
    S3Error::msg(S3ErrorCode::CORSResponse, msg.to_string())
}

/// Answers an OPTIONS preflight from the bucket's rules.
pub fn preflight(cfg: Option<&CorsConfiguration>, headers: &HeaderMap) -> S3Result<Response> {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let (Some(origin), Some(method)) = (get("origin"), get("access-control-request-method")) else {
        return Err(S3Error::msg(
            S3ErrorCode::InvalidRequest,
            "Insufficient information. Origin request header needed.",
        ));
    };
    let cfg = cfg.ok_or_else(|| cors_denied("CORS is not enabled for this bucket."))?;
    let requested: Vec<String> = get("access-control-request-headers")
        .map(|h| {
            h.split(',')
                .map(|x| x.trim().to_ascii_lowercase())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let rule = cfg
        .rules
        .iter()
        .find(|r| {
            rule_matches_origin_method(r, origin, method)
                && requested
                    .iter()
                    .all(|h| r.allowed_header.iter().any(|p| wildcard_match(&p.to_ascii_lowercase(), h)))
        })
        .ok_or_else(|| cors_denied("This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."))?;
    let mut r = empty(StatusCode::OK);
    write_rule_headers(&mut r, rule, origin);
    if !requested.is_empty() {
        set_header(
            &mut r,
            "access-control-allow-headers",
            &requested.join(", "),
        );
    }
    set_header(
        &mut r,
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
    );
    Ok(r)
}

fn write_rule_headers(r: &mut Response, rule: &CorsRule, origin: &str) {
    let any_origin = rule.allowed_origin.iter().any(|o| o == "*");
    set_header(
        r,
        "access-control-allow-origin",
        if any_origin { "*" } else { origin },
    );
    if !any_origin {
        set_header(r, "access-control-allow-credentials", "true");
    }
    set_header(
        r,
        "access-control-allow-methods",
        &rule.allowed_method.join(", "),
    );
    if !rule.expose_header.is_empty() {
        set_header(
            r,
            "access-control-expose-headers",
            &rule.expose_header.join(", "),
        );
    }
    if let Some(age) = rule.max_age_seconds {
        set_header(r, "access-control-max-age", &age.to_string());
    }
}

/// Adds CORS headers to a normal response when a rule matches the request's origin and method.
pub fn apply_response_headers(
    r: &mut Response,
    cfg: &CorsConfiguration,
    origin: &str,
    method: &Method,
) {
    if let Some(rule) = cfg
        .rules
        .iter()
        .find(|rule| rule_matches_origin_method(rule, origin, method.as_str()))
    {
        write_rule_headers(r, rule, origin);
        set_header(
            r,
            "vary",
            "Origin, Access-Control-Request-Headers, Access-Control-Request-Method",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "https://a.example"));
        assert!(wildcard_match(
            "https://*.example.org",
            "https://www.example.org"
        ));
        assert!(!wildcard_match(
            "https://*.example.org",
            "https://example.com"
        ));
        assert!(wildcard_match("x-amz-*", "x-amz-date"));
    }
}
