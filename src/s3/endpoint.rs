//! Maps an S3 request (method, bucket/key presence, sub-resource query, a few headers) to
//! the typed operation it asks for. Everything S3 defines that Bascule does not implement
//! maps to `NotImplemented` with its name, so nothing is silently treated as something else.

use bascule_api::{S3Error, S3ErrorCode, S3Result};
use http::Method;

/// The most parts an upload may have; part numbers run from 1 to this.
pub const MAX_PARTS: u32 = 10_000;

/// Which version of an object a request names (`versionId`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSlot {
    /// No `versionId`: the current version.
    Current,
    /// `versionId=null`: the version written while versioning was off.
    Null,
    Id(String),
}

impl VersionSlot {
    /// The slot a `versionId` value names (absent: the current version).
    pub fn from_param(value: Option<&str>) -> VersionSlot {
        match value {
            None => VersionSlot::Current,
            Some("null") => VersionSlot::Null,
            Some(v) => VersionSlot::Id(v.to_string()),
        }
    }

    /// The `versionId` value naming this slot (none for the current version).
    pub fn param(&self) -> Option<&str> {
        match self {
            VersionSlot::Current => None,
            VersionSlot::Null => Some("null"),
            VersionSlot::Id(v) => Some(v),
        }
    }
}

/// A request's parameters, parsed and checked once for every handler.
#[derive(Debug, Clone)]
pub struct Params {
    pub version: VersionSlot,
    pub upload_id: Option<String>,
    /// Checked to be 1..=10000 when present; always present for part uploads.
    pub part_number: Option<u32>,
}

pub fn invalid_part_number() -> S3Error {
    S3Error::msg(
        S3ErrorCode::InvalidArgument,
        "Part number must be an integer between 1 and 10000, inclusive",
    )
    .with("ArgumentName", "partNumber")
}

impl Params {
    pub fn parse(endpoint: Endpoint, query: &[(String, String)]) -> S3Result<Params> {
        let q = |name: &str| {
            query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let part_number = match q("partNumber") {
            Some(p) => Some(
                p.parse::<u32>()
                    .ok()
                    .filter(|n| (1..=MAX_PARTS).contains(n))
                    .ok_or_else(invalid_part_number)?,
            ),
            None if matches!(endpoint, Endpoint::UploadPart | Endpoint::UploadPartCopy) => {
                return Err(invalid_part_number())
            }
            None => None,
        };
        Ok(Params {
            version: VersionSlot::from_param(q("versionId")),
            upload_id: q("uploadId").map(String::from),
            part_number,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    CreateBucket,
    HeadBucket,
    DeleteBucket,
    GetBucketLocation,
    GetBucketCors,
    PutBucketCors,
    DeleteBucketCors,
    GetBucketPolicy,
    PutBucketPolicy,
    DeleteBucketPolicy,
    GetBucketVersioning,
    PutBucketVersioning,
    GetBucketAcl,
    PutBucketAcl,
    GetBucketPolicyStatus,
    GetPublicAccessBlock,
    PutPublicAccessBlock,
    DeletePublicAccessBlock,
    GetBucketOwnershipControls,
    PutBucketOwnershipControls,
    DeleteBucketOwnershipControls,
    GetBucketTagging,
    PutBucketTagging,
    DeleteBucketTagging,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    PostObject,
    GetObject,
    HeadObject,
    PutObject,
    CopyObject,
    DeleteObject,
    GetObjectTagging,
    PutObjectTagging,
    DeleteObjectTagging,
    GetObjectAcl,
    PutObjectAcl,
    GetObjectAttributes,
    CreateMultipartUpload,
    UploadPart,
    UploadPartCopy,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListParts,
    GetObjectLockConfiguration,
    PutObjectLockConfiguration,
    GetObjectRetention,
    PutObjectRetention,
    GetObjectLegalHold,
    PutObjectLegalHold,
    GetBucketLifecycle,
    PutBucketLifecycle,
    DeleteBucketLifecycle,
    Preflight,
    NotImplemented(&'static str),
}

/// Bucket sub-resources S3 defines and Bascule does not implement.
const UNSUPPORTED_BUCKET: &[&str] = &[
    "accelerate",
    "analytics",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "logging",
    "metrics",
    "notification",
    "replication",
    "requestPayment",
    "website",
    "metadataTable",
];

/// Object sub-resources S3 defines and Bascule does not implement.
const UNSUPPORTED_OBJECT: &[&str] = &["restore", "select", "torrent", "renameObject"];

/// How an endpoint touches data, for access control and the read-only secondary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Needs an authenticated caller, no bucket permission (ListBuckets, CreateBucket).
    Service,
    Read,
    Write,
    /// Bucket settings and deletion: owner or admin only.
    Owner,
    /// Decided by the handler itself (browser POST carries its own auth; CORS preflight).
    Custom,
}

impl Endpoint {
    /// How many operations there are (`ordinal` is below this).
    pub const COUNT: usize = 59;

    /// A dense number per operation, for per-operation tables (metrics).
    pub fn ordinal(self) -> usize {
        use Endpoint::*;
        match self {
            ListBuckets => 0,
            CreateBucket => 1,
            HeadBucket => 2,
            DeleteBucket => 3,
            GetBucketLocation => 4,
            GetBucketCors => 5,
            PutBucketCors => 6,
            DeleteBucketCors => 7,
            GetBucketPolicy => 8,
            PutBucketPolicy => 9,
            DeleteBucketPolicy => 10,
            GetBucketVersioning => 11,
            PutBucketVersioning => 12,
            GetBucketAcl => 13,
            PutBucketAcl => 14,
            GetBucketPolicyStatus => 15,
            GetPublicAccessBlock => 16,
            PutPublicAccessBlock => 17,
            DeletePublicAccessBlock => 18,
            GetBucketOwnershipControls => 19,
            PutBucketOwnershipControls => 20,
            DeleteBucketOwnershipControls => 21,
            GetBucketTagging => 22,
            PutBucketTagging => 23,
            DeleteBucketTagging => 24,
            ListObjects => 25,
            ListObjectsV2 => 26,
            ListObjectVersions => 27,
            ListMultipartUploads => 28,
            DeleteObjects => 29,
            PostObject => 30,
            GetObject => 31,
            HeadObject => 32,
            PutObject => 33,
            CopyObject => 34,
            DeleteObject => 35,
            GetObjectTagging => 36,
            PutObjectTagging => 37,
            DeleteObjectTagging => 38,
            GetObjectAcl => 39,
            PutObjectAcl => 40,
            GetObjectAttributes => 41,
            CreateMultipartUpload => 42,
            UploadPart => 43,
            UploadPartCopy => 44,
            CompleteMultipartUpload => 45,
            AbortMultipartUpload => 46,
            ListParts => 47,
            GetObjectLockConfiguration => 48,
            PutObjectLockConfiguration => 49,
            GetObjectRetention => 50,
            PutObjectRetention => 51,
            GetObjectLegalHold => 52,
            PutObjectLegalHold => 53,
            GetBucketLifecycle => 54,
            PutBucketLifecycle => 55,
            DeleteBucketLifecycle => 56,
            Preflight => 57,
            NotImplemented(_) => 58,
        }
    }

    /// The operation's name, for metrics and logs.
    pub fn name(self) -> &'static str {
        use Endpoint::*;
        match self {
            ListBuckets => "ListBuckets",
            CreateBucket => "CreateBucket",
            HeadBucket => "HeadBucket",
            DeleteBucket => "DeleteBucket",
            GetBucketLocation => "GetBucketLocation",
            GetBucketCors => "GetBucketCors",
            PutBucketCors => "PutBucketCors",
            DeleteBucketCors => "DeleteBucketCors",
            GetBucketPolicy => "GetBucketPolicy",
            PutBucketPolicy => "PutBucketPolicy",
            DeleteBucketPolicy => "DeleteBucketPolicy",
            GetBucketVersioning => "GetBucketVersioning",
            PutBucketVersioning => "PutBucketVersioning",
            GetBucketAcl => "GetBucketAcl",
            PutBucketAcl => "PutBucketAcl",
            GetBucketPolicyStatus => "GetBucketPolicyStatus",
            GetPublicAccessBlock => "GetPublicAccessBlock",
            PutPublicAccessBlock => "PutPublicAccessBlock",
            DeletePublicAccessBlock => "DeletePublicAccessBlock",
            GetBucketOwnershipControls => "GetBucketOwnershipControls",
            PutBucketOwnershipControls => "PutBucketOwnershipControls",
            DeleteBucketOwnershipControls => "DeleteBucketOwnershipControls",
            GetBucketTagging => "GetBucketTagging",
            PutBucketTagging => "PutBucketTagging",
            DeleteBucketTagging => "DeleteBucketTagging",
            ListObjects => "ListObjects",
            ListObjectsV2 => "ListObjectsV2",
            ListObjectVersions => "ListObjectVersions",
            ListMultipartUploads => "ListMultipartUploads",
            DeleteObjects => "DeleteObjects",
            PostObject => "PostObject",
            GetObject => "GetObject",
            HeadObject => "HeadObject",
            PutObject => "PutObject",
            CopyObject => "CopyObject",
            DeleteObject => "DeleteObject",
            GetObjectTagging => "GetObjectTagging",
            PutObjectTagging => "PutObjectTagging",
            DeleteObjectTagging => "DeleteObjectTagging",
            GetObjectAcl => "GetObjectAcl",
            PutObjectAcl => "PutObjectAcl",
            GetObjectAttributes => "GetObjectAttributes",
            CreateMultipartUpload => "CreateMultipartUpload",
            UploadPart => "UploadPart",
            UploadPartCopy => "UploadPartCopy",
            CompleteMultipartUpload => "CompleteMultipartUpload",
            AbortMultipartUpload => "AbortMultipartUpload",
            ListParts => "ListParts",
            GetObjectLockConfiguration => "GetObjectLockConfiguration",
            PutObjectLockConfiguration => "PutObjectLockConfiguration",
            GetObjectRetention => "GetObjectRetention",
            PutObjectRetention => "PutObjectRetention",
            GetObjectLegalHold => "GetObjectLegalHold",
            PutObjectLegalHold => "PutObjectLegalHold",
            GetBucketLifecycle => "GetBucketLifecycleConfiguration",
            PutBucketLifecycle => "PutBucketLifecycleConfiguration",
            DeleteBucketLifecycle => "DeleteBucketLifecycle",
            Preflight => "Preflight",
            NotImplemented(_) => "NotImplemented",
        }
    }

    pub fn resolve(
        method: &Method,
        bucket: Option<&str>,
        key: Option<&str>,
        has: impl Fn(&str) -> bool,
        copy_source: bool,
        form_post: bool,
    ) -> Endpoint {
        use Endpoint::*;
        if method == Method::OPTIONS {
            return Preflight;
        }
        let Some(_) = bucket else {
            return match *method {
                Method::GET => ListBuckets,
                _ => NotImplemented("service operation"),
            };
        };
        match key {
            None => {
                if let Some(name) = UNSUPPORTED_BUCKET.iter().find(|n| has(n)) {
                    return NotImplemented(name);
                }
                match *method {
                    Method::GET if has("location") => GetBucketLocation,
                    Method::GET if has("cors") => GetBucketCors,
                    Method::GET if has("policy") => GetBucketPolicy,
                    Method::GET if has("policyStatus") => GetBucketPolicyStatus,
                    Method::GET if has("publicAccessBlock") => GetPublicAccessBlock,
                    Method::GET if has("ownershipControls") => GetBucketOwnershipControls,
                    Method::GET if has("versioning") => GetBucketVersioning,
                    Method::GET if has("object-lock") => GetObjectLockConfiguration,
                    Method::GET if has("lifecycle") => GetBucketLifecycle,
                    Method::GET if has("acl") => GetBucketAcl,
                    Method::GET if has("tagging") => GetBucketTagging,
                    Method::GET if has("versions") => ListObjectVersions,
                    Method::GET if has("uploads") => ListMultipartUploads,
                    Method::GET if has("list-type") => ListObjectsV2,
                    Method::GET => ListObjects,
                    Method::HEAD => HeadBucket,
                    Method::PUT if has("cors") => PutBucketCors,
                    Method::PUT if has("policy") => PutBucketPolicy,
                    Method::PUT if has("versioning") => PutBucketVersioning,
                    Method::PUT if has("object-lock") => PutObjectLockConfiguration,
                    Method::PUT if has("lifecycle") => PutBucketLifecycle,
                    Method::PUT if has("acl") => PutBucketAcl,
                    Method::PUT if has("tagging") => PutBucketTagging,
                    Method::PUT if has("publicAccessBlock") => PutPublicAccessBlock,
                    Method::PUT if has("ownershipControls") => PutBucketOwnershipControls,
                    Method::PUT => CreateBucket,
                    Method::DELETE if has("cors") => DeleteBucketCors,
                    Method::DELETE if has("policy") => DeleteBucketPolicy,
                    Method::DELETE if has("tagging") => DeleteBucketTagging,
                    Method::DELETE if has("lifecycle") => DeleteBucketLifecycle,
                    Method::DELETE if has("publicAccessBlock") => DeletePublicAccessBlock,
                    Method::DELETE if has("ownershipControls") => DeleteBucketOwnershipControls,
                    Method::DELETE => DeleteBucket,
                    Method::POST if has("delete") => DeleteObjects,
                    Method::POST if form_post => PostObject,
                    _ => NotImplemented("bucket operation"),
                }
            }
            Some(_) => {
                if let Some(name) = UNSUPPORTED_OBJECT.iter().find(|n| has(n)) {
                    return NotImplemented(name);
                }
                match *method {
                    Method::GET if has("tagging") => GetObjectTagging,
                    Method::GET if has("retention") => GetObjectRetention,
                    Method::GET if has("legal-hold") => GetObjectLegalHold,
                    Method::GET if has("acl") => GetObjectAcl,
                    Method::GET if has("attributes") => GetObjectAttributes,
                    Method::GET if has("uploadId") => ListParts,
                    Method::GET => GetObject,
                    Method::HEAD => HeadObject,
                    Method::PUT if has("tagging") => PutObjectTagging,
                    Method::PUT if has("retention") => PutObjectRetention,
                    Method::PUT if has("legal-hold") => PutObjectLegalHold,
                    Method::PUT if has("acl") => PutObjectAcl,
                    Method::PUT if has("uploadId") && copy_source => UploadPartCopy,
                    Method::PUT if has("uploadId") => UploadPart,
                    Method::PUT if copy_source => CopyObject,
                    Method::PUT => PutObject,
                    Method::DELETE if has("tagging") => DeleteObjectTagging,
                    Method::DELETE if has("uploadId") => AbortMultipartUpload,
                    Method::DELETE => DeleteObject,
                    Method::POST if has("uploads") => CreateMultipartUpload,
                    Method::POST if has("uploadId") => CompleteMultipartUpload,
                    _ => NotImplemented("object operation"),
                }
            }
        }
    }

    /// Does this operation change anything? A zone that takes no writes refuses these
    /// before reading the body.
    pub fn writes(self) -> bool {
        use Endpoint::*;
        match self {
            PostObject | CreateBucket => true,
            NotImplemented(_) | Preflight => false,
            other => {
                matches!(other.access(), Access::Write)
                    || matches!(
                        other,
                        DeleteBucket
                            | PutBucketCors
                            | DeleteBucketCors
                            | PutBucketPolicy
                            | DeleteBucketPolicy
                            | PutBucketVersioning
                            | PutBucketAcl
                            | PutObjectAcl
                            | PutBucketTagging
                            | DeleteBucketTagging
                            | PutPublicAccessBlock
                            | DeletePublicAccessBlock
                            | PutBucketOwnershipControls
                            | DeleteBucketOwnershipControls
                            | PutObjectLockConfiguration
                            | PutBucketLifecycle
                            | DeleteBucketLifecycle
                    )
            }
        }
    }

    /// Does this operation name one version of an object (`versionId`)? Until versioning
    /// exists, only the `null` version does.
    pub fn takes_version(self) -> bool {
        use Endpoint::*;
        matches!(
            self,
            GetObject
                | HeadObject
                | DeleteObject
                | GetObjectTagging
                | PutObjectTagging
                | DeleteObjectTagging
                | GetObjectAcl
                | PutObjectAcl
                | GetObjectAttributes
                | GetObjectRetention
                | PutObjectRetention
                | GetObjectLegalHold
                | PutObjectLegalHold
        )
    }

    pub fn access(self) -> Access {
        use Endpoint::*;
        match self {
            ListBuckets | CreateBucket => Access::Service,
            HeadBucket | GetBucketLocation | GetBucketVersioning | GetBucketAcl | ListObjects
            | ListObjectsV2 | ListObjectVersions | ListMultipartUploads | GetObject
            | HeadObject | GetObjectTagging | GetObjectAcl | GetObjectAttributes | ListParts
            | GetObjectRetention | GetObjectLegalHold => Access::Read,
            PutObject
            | CopyObject
            | DeleteObject
            | DeleteObjects
            | PutObjectTagging
            | DeleteObjectTagging
            | CreateMultipartUpload
            | UploadPart
            | UploadPartCopy
            | CompleteMultipartUpload
            | AbortMultipartUpload
            | PutObjectRetention
            | PutObjectLegalHold => Access::Write,
            DeleteBucket
            | GetBucketCors
            | PutBucketCors
            | DeleteBucketCors
            | GetBucketPolicy
            | PutBucketPolicy
            | DeleteBucketPolicy
            | PutBucketVersioning
            | PutBucketAcl
            | PutObjectAcl
            | GetBucketTagging
            | PutBucketTagging
            | DeleteBucketTagging
            | GetBucketPolicyStatus
            | GetPublicAccessBlock
            | PutPublicAccessBlock
            | DeletePublicAccessBlock
            | GetBucketOwnershipControls
            | PutBucketOwnershipControls
            | DeleteBucketOwnershipControls
            | GetObjectLockConfiguration
            | PutObjectLockConfiguration
            | GetBucketLifecycle
            | PutBucketLifecycle
            | DeleteBucketLifecycle => Access::Owner,
            PostObject | Preflight | NotImplemented(_) => Access::Custom,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(m: Method, b: Option<&str>, k: Option<&str>, q: &[&str]) -> Endpoint {
        Endpoint::resolve(&m, b, k, |n| q.contains(&n), false, false)
    }

    #[test]
    fn resolves_operations() {
        assert_eq!(ep(Method::GET, None, None, &[]), Endpoint::ListBuckets);
        assert_eq!(
            ep(Method::GET, Some("b"), None, &["list-type"]),
            Endpoint::ListObjectsV2
        );
        assert_eq!(ep(Method::GET, Some("b"), None, &[]), Endpoint::ListObjects);
        assert_eq!(
            ep(Method::POST, Some("b"), None, &["delete"]),
            Endpoint::DeleteObjects
        );
        assert_eq!(
            ep(
                Method::PUT,
                Some("b"),
                Some("k"),
                &["uploadId", "partNumber"]
            ),
            Endpoint::UploadPart
        );
        assert_eq!(
            ep(Method::POST, Some("b"), Some("k"), &["uploads"]),
            Endpoint::CreateMultipartUpload
        );
        assert_eq!(
            ep(Method::GET, Some("b"), None, &["lifecycle"]),
            Endpoint::GetBucketLifecycle
        );
        assert_eq!(
            ep(Method::PUT, Some("b"), Some("k"), &["retention"]),
            Endpoint::PutObjectRetention
        );
        assert_eq!(
            ep(Method::POST, Some("b"), Some("k"), &["restore"]),
            Endpoint::NotImplemented("restore")
        );
    }

    #[test]
    fn parameters_are_parsed_and_checked_once() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let p = Params::parse(
            Endpoint::UploadPart,
            &q(&[("uploadId", "U1"), ("partNumber", "7")]),
        )
        .unwrap();
        assert_eq!(
            (p.upload_id.as_deref(), p.part_number),
            (Some("U1"), Some(7))
        );
        for bad in ["0", "10001", "x", "-1"] {
            let e = Params::parse(Endpoint::GetObject, &q(&[("partNumber", bad)])).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidArgument, "{bad}");
        }
        assert!(Params::parse(Endpoint::UploadPart, &q(&[("uploadId", "U1")])).is_err());
        let v = |s: &str| Params::parse(Endpoint::GetObject, &q(&[("versionId", s)])).unwrap();
        assert_eq!(v("null").version, VersionSlot::Null);
        assert_eq!(v("abc").version, VersionSlot::Id("abc".into()));
        assert_eq!(
            Params::parse(Endpoint::GetObject, &[]).unwrap().version,
            VersionSlot::Current
        );
    }

    #[test]
    fn knows_which_operations_write() {
        for (e, writes) in [
            (Endpoint::PutObject, true),
            (Endpoint::DeleteBucket, true),
            (Endpoint::PutBucketCors, true),
            (Endpoint::CreateBucket, true),
            (Endpoint::PostObject, true),
            (Endpoint::AbortMultipartUpload, true),
            (Endpoint::GetObject, false),
            (Endpoint::GetBucketCors, false),
            (Endpoint::ListParts, false),
            (Endpoint::Preflight, false),
        ] {
            assert_eq!(e.writes(), writes, "{e:?}");
        }
    }
}
