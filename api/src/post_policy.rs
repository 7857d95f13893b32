//! Browser POST uploads: the base64 JSON policy document and its conditions.
//! <https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html>

use crate::error::{S3Error, S3ErrorCode, S3Result};
use crate::headers::parse_iso8601;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::Value;
use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Field (lowercase, no `$`) must equal the value.
    Eq(String, String),
    /// Field must start with the prefix (an empty prefix allows anything).
    StartsWith(String, String),
    ContentLengthRange(u64, u64),
}

#[derive(Debug, Clone)]
pub struct PostPolicy {
    pub expiration: SystemTime,
    pub conditions: Vec<Condition>,
}

fn invalid(msg: impl Into<String>) -> S3Error {
    S3Error::msg(S3ErrorCode::InvalidPolicyDocument, msg.into())
}

fn field_name(v: &Value) -> S3Result<String> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid("Condition field names must be strings"))?;
    Ok(s.trim_start_matches('$').to_ascii_lowercase())
}

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

impl PostPolicy {
    /// Decodes and parses the `policy` form field.
    pub fn parse(policy_b64: &str) -> S3Result<PostPolicy> {
        let raw = B64
            .decode(policy_b64.trim())
            .map_err(|_| invalid("Invalid Policy: Invalid Base64 encoding"))?;
        let doc: Value =
            serde_json::from_slice(&raw).map_err(|_| invalid("Invalid Policy: Invalid JSON"))?;
        // ISO 8601 in UTC as AWS documents it (`2030-01-01T00:00:00Z`, milliseconds
        // optional): RFC 3339's other forms (a space for the `T`, an offset) are refused.
        let expiration = doc
            .get("expiration")
            .and_then(Value::as_str)
            .filter(|e| e.as_bytes().get(10) == Some(&b'T') && e.ends_with('Z'))
            .and_then(parse_iso8601)
            .ok_or_else(|| invalid("Invalid Policy: Invalid 'expiration' value"))?;
        let list = doc
            .get("conditions")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("Invalid Policy: Missing 'conditions'"))?;
        let mut conditions = Vec::new();
        for c in list {
            match c {
                // `{}` names no field: a malformed condition, as AWS answers.
                Value::Object(map) if map.is_empty() => {
                    return Err(invalid("Invalid Policy: empty condition"))
                }
                Value::Object(map) => {
                    for (k, v) in map {
                        let v = v
                            .as_str()
                            .ok_or_else(|| invalid("Condition values must be strings"))?;
                        conditions.push(Condition::Eq(
                            k.trim_start_matches('$').to_ascii_lowercase(),
                            v.to_string(),
                        ));
                    }
                }
                Value::Array(items) if items.len() == 3 => {
                    let op = items[0].as_str().unwrap_or_default().to_ascii_lowercase();
                    match op.as_str() {
                        "eq" | "starts-with" => {
                            let field = field_name(&items[1])?;
                            let value = items[2]
                                .as_str()
                                .ok_or_else(|| invalid("Condition values must be strings"))?;
                            conditions.push(if op == "eq" {
                                Condition::Eq(field, value.to_string())
                            } else {
                                Condition::StartsWith(field, value.to_string())
                            });
                        }
                        "content-length-range" => {
                            let (min, max) = (as_u64(&items[1]), as_u64(&items[2]));
                            match (min, max) {
                                (Some(a), Some(b)) if a <= b => {
                                    conditions.push(Condition::ContentLengthRange(a, b))
                                }
                                _ => return Err(invalid("Invalid content-length-range")),
                            }
                        }
                        _ => {
                            return Err(invalid(format!(
                                "Invalid Policy: unknown condition '{op}'"
                            )))
                        }
                    }
                }
                _ => return Err(invalid("Invalid Policy: malformed condition")),
            }
        }
        Ok(PostPolicy {
            expiration,
            conditions,
        })
    }

    /// Checks expiry and every condition against the form fields (names lowercase,
    /// `bucket` included), and that every form field is covered by some condition, as
    /// AWS requires (except the signature, policy, file and `x-ignore-*` fields).
    pub fn check(&self, fields: &[(String, String)], now: SystemTime) -> S3Result<()> {
        if now > self.expiration {
            return Err(S3Error::msg(
                S3ErrorCode::AccessDenied,
                "Invalid according to Policy: Policy expired.",
            ));
        }
        // A field the form leaves out is empty: `["starts-with", "$f", ""]` allows any
        // value, none included, as AWS documents it.
        let get = |name: &str| {
            Some(
                fields
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
                    .unwrap_or(""),
            )
        };
        let failed = |c: &str| {
            S3Error::msg(
                S3ErrorCode::AccessDenied,
                format!("Invalid according to Policy: Policy Condition failed: {c}"),
            )
        };
        for c in &self.conditions {
            match c {
                Condition::Eq(f, v) => {
                    if get(f) != Some(v.as_str()) {
                        return Err(failed(&format!("[\"eq\", \"${f}\", \"{v}\"]")));
                    }
                }
                Condition::StartsWith(f, p) => {
                    let ok = if f == "content-type" {
                        // For Content-Type, starts-with applies to each comma-separated value.
                        get(f).is_some_and(|v| {
                            v.split(',').all(|part| part.trim().starts_with(p.as_str()))
                        })
                    } else {
                        get(f).is_some_and(|v| v.starts_with(p.as_str()))
                    };
                    if !ok {
                        return Err(failed(&format!("[\"starts-with\", \"${f}\", \"{p}\"]")));
                    }
                }
                Condition::ContentLengthRange(..) => {}
            }
        }
        let exempt = |k: &str| {
            matches!(
                k,
                "policy" | "x-amz-signature" | "file" | "awsaccesskeyid" | "signature" | "bucket"
            ) || k.starts_with("x-ignore-")
        };
        for (k, _) in fields {
            let covered = self.conditions.iter().any(|c| match c {
                Condition::Eq(f, _) | Condition::StartsWith(f, _) => f == k,
                Condition::ContentLengthRange(..) => false,
            });
            if !exempt(k) && !covered {
                return Err(S3Error::msg(
                    S3ErrorCode::AccessDenied,
                    format!("Invalid according to Policy: Extra input fields: {k}"),
                ));
            }
        }
        Ok(())
    }

    pub fn content_length_range(&self) -> Option<(u64, u64)> {
        self.conditions.iter().find_map(|c| match c {
            Condition::ContentLengthRange(a, b) => Some((*a, *b)),
            _ => None,
        })
    }
}

/// Enforces `content-length-range` once the file's size is known.
pub fn check_length(range: Option<(u64, u64)>, len: u64) -> S3Result<()> {
    match range {
        Some((min, _)) if len < min => Err(S3Error::msg(
            S3ErrorCode::EntityTooSmall,
            "Your proposed upload is smaller than the minimum allowed size",
        )
        .with("ProposedSize", len.to_string())
        .with("MinSizeAllowed", min.to_string())),
        Some((_, max)) if len > max => Err(S3Error::msg(
            S3ErrorCode::EntityTooLarge,
            "Your proposed upload exceeds the maximum allowed size",
        )
        .with("ProposedSize", len.to_string())
        .with("MaxSizeAllowed", max.to_string())),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn policy(json: &str) -> PostPolicy {
        PostPolicy::parse(&B64.encode(json)).unwrap()
    }

    fn f(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn conditions_are_enforced() {
        let p = policy(
            r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[{"bucket":"b"},["starts-with","$key","uploads/"],
            ["content-length-range",1,10],["starts-with","$Content-Type","image/"],{"x-amz-algorithm":"AWS4-HMAC-SHA256"}]}"#,
        );
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let good = f(&[
            ("bucket", "b"),
            ("key", "uploads/a.png"),
            ("content-type", "image/png"),
            ("x-amz-algorithm", "AWS4-HMAC-SHA256"),
            ("policy", "x"),
        ]);
        p.check(&good, now).unwrap();
        let mut bad_key = good.clone();
        bad_key[1].1 = "other/a.png".into();
        assert_eq!(
            p.check(&bad_key, now).unwrap_err().code,
            S3ErrorCode::AccessDenied
        );
        let mut extra = good.clone();
        extra.push(("x-amz-meta-foo".into(), "1".into()));
        assert!(p
            .check(&extra, now)
            .unwrap_err()
            .message
            .contains("Extra input fields"));
        let later = UNIX_EPOCH + Duration::from_secs(2_000_000_000);
        assert!(p
            .check(&good, later)
            .unwrap_err()
            .message
            .contains("expired"));
        assert_eq!(
            check_length(p.content_length_range(), 11).unwrap_err().code,
            S3ErrorCode::EntityTooLarge
        );
        assert_eq!(
            check_length(p.content_length_range(), 0).unwrap_err().code,
            S3ErrorCode::EntityTooSmall
        );
        assert!(check_length(p.content_length_range(), 5).is_ok());
    }

    #[test]
    fn malformed_policies() {
        assert!(PostPolicy::parse("!!!").is_err());
        assert!(PostPolicy::parse(&B64.encode("{}")).is_err());
        assert!(PostPolicy::parse(
            &B64.encode(
                r#"{"expiration":"2030-01-01T00:00:00Z","conditions":[["nope","$a","b"]]}"#
            )
        )
        .is_err());
        // Expiration only in AWS's ISO 8601 UTC form.
        let with = |e: &str| {
            PostPolicy::parse(&B64.encode(format!(
                r#"{{"expiration":"{e}","conditions":[{{"bucket":"b"}}]}}"#
            )))
        };
        assert!(with("2030-01-01T00:00:00Z").is_ok());
        assert!(with("2030-01-01T00:00:00.000Z").is_ok());
        for bad in [
            "2030-01-01 00:00:00.123456+00:00",
            "2030-01-01T00:00:00+00:00",
            "2030-01-01",
            "tomorrow",
        ] {
            assert!(with(bad).is_err(), "{bad}");
        }
    }
}
