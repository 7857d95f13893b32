//! AWS Signature Version 2 (HMAC-SHA1), as the aws CLI v1, boto3 and s3cmd still use it
//! for presigned URLs and POST forms: the `Authorization: AWS <key>:<signature>` header,
//! the `AWSAccessKeyId` / `Expires` / `Signature` query, and the string to sign with
//! AWS's canonical resource (path, then the sub-resources and `response-*` overrides).

use crate::error::{S3Error, S3ErrorCode, S3Result};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// `AWS <access key>:<signature>` from an Authorization header; `None` if not SigV2.
pub fn parse_authorization(value: &str) -> Option<S3Result<(String, String)>> {
    let rest = value.strip_prefix("AWS ")?;
    Some(
        rest.rsplit_once(':')
            .filter(|(ak, sig)| !ak.is_empty() && !sig.is_empty())
            .map(|(ak, sig)| (ak.trim().to_string(), sig.trim().to_string()))
            .ok_or_else(|| {
                S3Error::msg(
                    S3ErrorCode::AccessDenied,
                    "The Authorization header must be AWS <AccessKeyId>:<Signature>",
                )
            }),
    )
}

/// `x-amz-*` headers as SigV2 signs them: names lowercased and sorted, repeated values
/// joined with commas, folded whitespace unfolded, one `name:value\n` each.
pub fn canonical_amz_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut grouped: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        if name.starts_with("x-amz-") {
            let unfolded = value.split_whitespace().collect::<Vec<_>>().join(" ");
            grouped.entry(name).or_default().push(unfolded);
        }
    }
    grouped
        .into_iter()
        .map(|(n, vs)| format!("{n}:{}\n", vs.join(",")))
        .collect()
}

/// The canonical resource: `/bucket` when the bucket came from the Host name, the path as
/// sent, then the query parameters `signed` says a signature covers (the server's
/// operation table decides: every sub-resource it routes on), sorted by name, with their
/// decoded values.
pub fn canonical_resource(
    host_bucket: Option<&str>,
    raw_path: &str,
    query: &[(String, String)],
    signed: impl Fn(&str) -> bool,
) -> String {
    let mut out = String::new();
    if let Some(b) = host_bucket {
        out.push('/');
        out.push_str(b);
    }
    out.push_str(raw_path);
    let mut sub: Vec<&(String, String)> = query.iter().filter(|(k, _)| signed(k)).collect();
    sub.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (name, v)) in sub.into_iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// The string to sign. `date` is the Date header (empty when `x-amz-date` is sent) or, for
/// a presigned URL, its `Expires`.
pub fn string_to_sign(
    method: &str,
    content_md5: &str,
    content_type: &str,
    date: &str,
    amz_headers: &str,
    resource: &str,
) -> String {
    format!("{method}\n{content_md5}\n{content_type}\n{date}\n{amz_headers}{resource}")
}

/// base64(HMAC-SHA1(secret, string to sign)).
pub fn sign(secret: &str, string_to_sign: &str) -> S3Result<String> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes())
        .map_err(|_| S3Error::new(S3ErrorCode::InternalError))?;
    mac.update(string_to_sign.as_bytes());
    Ok(base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's documented example (RESTAuthentication, "Object GET").
    #[test]
    fn aws_example_get() {
        let sts = string_to_sign(
            "GET",
            "",
            "",
            "Tue, 27 Mar 2007 19:36:42 +0000",
            "",
            &canonical_resource(Some("awsexamplebucket1"), "/photos/puppy.jpg", &[], |_| {
                true
            }),
        );
        assert_eq!(
            sign("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &sts).unwrap(),
            "qgk2+6Sv9/oM7G3qLEjTH1a1l1g="
        );
    }

    #[test]
    fn amz_headers_and_sub_resources() {
        let h = canonical_amz_headers([
            ("X-Amz-Meta-B", "two"),
            ("x-amz-meta-a", "  one \n  folded "),
            ("x-amz-meta-b", "three"),
            ("Content-Type", "text/plain"),
        ]);
        assert_eq!(h, "x-amz-meta-a:one folded\nx-amz-meta-b:two,three\n");
        let q = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            canonical_resource(
                None,
                "/b/k",
                &q(&[
                    ("uploadId", "U"),
                    ("partNumber", "2"),
                    ("prefix", "x"),
                    ("response-content-type", "text/html"),
                ]),
                |n| n != "prefix"
            ),
            "/b/k?partNumber=2&response-content-type=text/html&uploadId=U"
        );
        assert_eq!(
            canonical_resource(None, "/b", &q(&[("acl", "")]), |_| true),
            "/b?acl"
        );
        assert!(parse_authorization("AWS4-HMAC-SHA256 x").is_none());
        assert_eq!(
            parse_authorization("AWS AK:sig=").unwrap().unwrap(),
            ("AK".to_string(), "sig=".to_string())
        );
    }
}
