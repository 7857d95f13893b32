//! The one place that decides what happens to each `x-amz-*` request header S3 defines and
//! Bascule does not act on: it is refused with the error AWS gives, or with `NotImplemented`,
//! so that no request is accepted and then quietly treated as something else (an encryption
//! header accepted and the data stored in clear is a security bug, not a gap).
//!
//! Headers Bascule honours are read by their handlers (signing, checksums, metadata, copy
//! source, tagging, ACLs, conditions); headers S3 does not define are ignored, as AWS does.
//! Browser POST form fields of the same names go through the same check.

use super::endpoint::Endpoint;
use bascule_api::{S3Error, S3ErrorCode, S3Result};

/// Checks every header (or POST form field) of a request for the operation it resolved to.
pub fn check<'a>(
    endpoint: Endpoint,
    headers: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> S3Result<()> {
    for (name, value) in headers {
        // Names arrive lowercase (HTTP header names; form fields are lowercased on read).
        if !name.starts_with("x-amz-") {
            continue;
        }
        if let Some(refusal) = refusal(endpoint, name, value) {
            return Err(refusal);
        }
    }
    Ok(())
}

/// Does this operation create an object from the request (where object settings apply)?
fn creates_object(endpoint: Endpoint) -> bool {
    endpoint.row().creates_object
}

fn not_implemented(what: &str) -> S3Error {
    S3Error::msg(
        S3ErrorCode::NotImplemented,
        format!("{what} is not implemented by Bascule; the request was not carried out"),
    )
}

/// Encryption headers are read by `sse.rs` where they apply; anywhere else they are refused
/// as AWS refuses them (`InvalidArgument`), never ignored.
fn encryption_refusal(endpoint: Endpoint, name: &str) -> Option<S3Error> {
    use super::sse::{takes_copy_source_key, takes_customer_key, takes_sse_headers};
    let applies = if name.starts_with("x-amz-copy-source-server-side-encryption-customer-") {
        takes_copy_source_key(endpoint)
    } else if name.starts_with("x-amz-server-side-encryption-customer-") {
        takes_customer_key(endpoint)
    } else if name.starts_with("x-amz-server-side-encryption")
        || name.starts_with("x-amz-copy-source-server-side-encryption")
    {
        takes_sse_headers(endpoint)
    } else {
        return None;
    };
    (!applies).then(|| {
        S3Error::msg(
            S3ErrorCode::InvalidArgument,
            format!("{name} header is not supported for this operation."),
        )
        .with("ArgumentName", name.to_string())
    })
}

fn refusal(endpoint: Endpoint, name: &str, value: &str) -> Option<S3Error> {
    if let Some(refused) = encryption_refusal(endpoint, name) {
        return Some(refused);
    }
    match name {
        // Bascule keeps no session tokens: a temporary credential cannot be valid here.
        "x-amz-security-token" => Some(S3Error::new(S3ErrorCode::InvalidToken)),
        "x-amz-mfa" => Some(not_implemented("MFA delete (x-amz-mfa)")),
        "x-amz-storage-class" if creates_object(endpoint) && value != "STANDARD" => Some(
            S3Error::msg(
                S3ErrorCode::InvalidStorageClass,
                format!("Bascule stores every object in the STANDARD class, not '{value}'"),
            )
            .with("StorageClassRequested", value.to_string()),
        ),
        "x-amz-website-redirect-location" if creates_object(endpoint) => Some(not_implemented(
            "Website redirects (x-amz-website-redirect-location)",
        )),
        // Appends and size/time conditions of directory buckets.
        "x-amz-write-offset-bytes" => Some(not_implemented("Appending (x-amz-write-offset-bytes)")),
        "x-amz-if-match-size"
        | "x-amz-if-match-initiated-time"
        | "x-amz-if-match-last-modified-time" => {
            Some(not_implemented(&format!("The condition {name}")))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(endpoint: Endpoint, name: &str, value: &str) -> Option<S3ErrorCode> {
        check(endpoint, [(name, value)]).err().map(|e| e.code)
    }

    #[test]
    fn encryption_headers_are_refused_where_they_do_not_apply() {
        use Endpoint::*;
        let cases = [
            ("x-amz-server-side-encryption", PutObject, None),
            ("x-amz-server-side-encryption", CreateMultipartUpload, None),
            ("x-amz-server-side-encryption", CopyObject, None),
            ("x-amz-server-side-encryption", PostObject, None),
            (
                "x-amz-server-side-encryption",
                GetObject,
                Some(S3ErrorCode::InvalidArgument),
            ),
            // A part may repeat its upload's encryption (checked against the upload).
            ("x-amz-server-side-encryption", UploadPart, None),
            (
                "x-amz-server-side-encryption",
                CompleteMultipartUpload,
                None,
            ),
            (
                "x-amz-server-side-encryption",
                ListParts,
                Some(S3ErrorCode::InvalidArgument),
            ),
            (
                "x-amz-server-side-encryption-aws-kms-key-id",
                HeadObject,
                Some(S3ErrorCode::InvalidArgument),
            ),
            ("x-amz-server-side-encryption-customer-key", GetObject, None),
            (
                "x-amz-server-side-encryption-customer-key",
                UploadPart,
                None,
            ),
            (
                "x-amz-server-side-encryption-customer-key",
                DeleteObject,
                Some(S3ErrorCode::InvalidArgument),
            ),
            (
                "x-amz-copy-source-server-side-encryption-customer-key",
                CopyObject,
                None,
            ),
            (
                "x-amz-copy-source-server-side-encryption-customer-key",
                UploadPartCopy,
                None,
            ),
            (
                "x-amz-copy-source-server-side-encryption-customer-key",
                PutObject,
                Some(S3ErrorCode::InvalidArgument),
            ),
        ];
        for (name, e, want) in cases {
            assert_eq!(code(e, name, "AES256"), want, "{name} {e:?}");
        }
    }

    #[test]
    fn object_settings_are_refused_where_they_apply() {
        assert_eq!(
            code(Endpoint::PutObject, "x-amz-storage-class", "STANDARD"),
            None
        );
        assert_eq!(
            code(Endpoint::PutObject, "x-amz-storage-class", "GLACIER"),
            Some(S3ErrorCode::InvalidStorageClass)
        );
        assert_eq!(
            code(
                Endpoint::CreateMultipartUpload,
                "x-amz-object-lock-mode",
                "GOVERNANCE"
            ),
            None
        );
        // Lock settings are honoured in browser forms too (the form's fields become the
        // request's headers).
        assert_eq!(
            code(Endpoint::PostObject, "x-amz-object-lock-mode", "GOVERNANCE"),
            None
        );
        assert_eq!(
            code(Endpoint::GetObject, "x-amz-storage-class", "GLACIER"),
            None
        );
        assert_eq!(
            code(Endpoint::ListBuckets, "x-amz-security-token", "t"),
            Some(S3ErrorCode::InvalidToken)
        );
        assert_eq!(code(Endpoint::PutObject, "x-amz-meta-a", "b"), None);
        assert_eq!(code(Endpoint::PutObject, "x-amz-unknown-header", "b"), None);
    }
}
