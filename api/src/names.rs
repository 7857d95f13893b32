//! Bucket naming rules and object key rules.

use crate::error::{S3Error, S3ErrorCode, S3Result};

/// S3's general-purpose bucket naming rules.
pub fn validate_bucket_name(name: &str) -> S3Result<()> {
    let bad = |why: &str| {
        Err(S3Error::msg(
            S3ErrorCode::InvalidBucketName,
            format!("The specified bucket is not valid: {why}"),
        )
        .with("BucketName", name.to_string()))
    };
    if !(3..=63).contains(&name.len()) {
        return bad("names must be 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return bad("only lowercase letters, digits, dots and hyphens are allowed");
    }
    let first_last_ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !first_last_ok(name.as_bytes()[0]) || !first_last_ok(name.as_bytes()[name.len() - 1]) {
        return bad("names must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return bad("adjacent periods or period-hyphen pairs are not allowed");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return bad("names must not be formatted as an IP address");
    }
    if name.starts_with("xn--")
        || name.starts_with("sthree-")
        || name.ends_with("-s3alias")
        || name.ends_with("--ol-s3")
    {
        return bad("reserved prefix or suffix");
    }
    Ok(())
}

pub const MAX_KEY_BYTES: usize = 1024;

/// Object keys: 1 to 1024 bytes of UTF-8 (guaranteed by the caller's decoding).
///
/// Deliberate difference from AWS: keys with `.` or `..` path segments, or control
/// characters, are refused. AWS stores them literally, but HTTP clients and sync tools
/// normalise or mishandle such paths (a download of `../x` escapes its folder), so a
/// clear error up front is safer for the people using this store.
pub fn validate_object_key(key: &str) -> S3Result<()> {
    if key.is_empty() {
        return Err(S3Error::msg(
            S3ErrorCode::InvalidArgument,
            "Object key must not be empty",
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(S3Error::new(S3ErrorCode::KeyTooLongError)
            .with("Size", key.len().to_string())
            .with("MaxSizeAllowed", MAX_KEY_BYTES.to_string()));
    }
    if key.chars().any(|c| c.is_control()) {
        return Err(S3Error::msg(
            S3ErrorCode::InvalidArgument,
            "Object key must not contain control characters",
        )
        .with("ArgumentName", "key"));
    }
    if key.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(S3Error::msg(
            S3ErrorCode::InvalidArgument,
            "Object key must not contain '.' or '..' path segments",
        )
        .with("ArgumentName", "key")
        .with("ArgumentValue", key.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        for ok in ["abc", "my-bucket.v2", "a1b", &"a".repeat(63)] {
            assert!(validate_bucket_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "ABC",
            "-abc",
            "abc-",
            "a..b",
            "192.168.1.1",
            "xn--abc",
            "a_b",
            &"a".repeat(64),
            "a.-b",
        ] {
            assert_eq!(
                validate_bucket_name(bad).unwrap_err().code,
                S3ErrorCode::InvalidBucketName,
                "{bad}"
            );
        }
    }

    #[test]
    fn object_keys() {
        for ok in [
            "a",
            "dir/file.pdf",
            "...",
            "a..b/c",
            "é/ü",
            ".hidden",
            "a/.b",
        ] {
            assert!(validate_object_key(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            validate_object_key("").unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            validate_object_key("../etc/passwd").unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            validate_object_key("a/./b").unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            validate_object_key("a/..").unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            validate_object_key("a\0b").unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            validate_object_key(&"k".repeat(1025)).unwrap_err().code,
            S3ErrorCode::KeyTooLongError
        );
    }
}
