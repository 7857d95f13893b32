//! Who may do what, operation by operation: the expectations the authorization matrix test
//! (`tests/authorization_matrix.rs`) walks against a running server, written from AWS's
//! documentation, not from the code:
//! - "Amazon S3 actions, resources and condition keys" (the IAM action of each operation,
//!   the `*Version` actions of requests naming a version, PutObject with lock headers
//!   needing s3:PutObjectRetention / s3:PutObjectLegalHold);
//! - "Access control list (ACL) overview", "Mapping of ACL permissions and access policy
//!   permissions" (bucket READ: s3:ListBucket, s3:ListBucketVersions,
//!   s3:ListBucketMultipartUploads; bucket WRITE: s3:PutObject and s3:DeleteObject, never
//!   s3:DeleteObjectVersion; bucket READ_ACP / WRITE_ACP: s3:GetBucketAcl /
//!   s3:PutBucketAcl; object READ: s3:GetObject, s3:GetObjectVersion; object READ_ACP /
//!   WRITE_ACP: the object ACL actions);
//! - "Bucket policy examples" / "Policy evaluation logic" (an explicit Deny wins over any
//!   grant; bucket settings are managed by the bucket owner's account and users a policy
//!   allows, never by an anonymous caller);
//! - the PutBucketLogging / GetBucketLogging API pages ("to set the logging status of a
//!   bucket, you must be the bucket owner"; "only the bucket owner can retrieve" it).
//!
//! Pure data with no imports, so that the server's unit tests can check that every
//! operation has a row and the integration test can include the same file.

/// The kinds of caller the matrix tries. The bucket under test is owned by `Owner` (a
/// plain user), is versioned, and has the object `k` written by `ObjectOwner`; its ACL
/// grants READ to `Reader`, WRITE to `Writer` and `ObjectOwner`, FULL_CONTROL to
/// `FullControl` and `PolicyDenied`; its policy allows `s3:*` to `PolicyAllowed` and denies
/// `s3:*` to `PolicyDenied`. The anonymous kinds differ in the bucket's ACL (private,
/// public-read, public-read-write); in the public ones `k` is public-read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    Admin,
    Owner,
    ObjectOwner,
    Reader,
    Writer,
    FullControl,
    PolicyAllowed,
    PolicyDenied,
    AnonPrivate,
    AnonPublicRead,
    AnonPublicReadWrite,
}

pub const EVERY_KIND: &[Who] = &[
    Who::Admin,
    Who::Owner,
    Who::ObjectOwner,
    Who::Reader,
    Who::Writer,
    Who::FullControl,
    Who::PolicyAllowed,
    Who::PolicyDenied,
    Who::AnonPrivate,
    Who::AnonPublicRead,
    Who::AnonPublicReadWrite,
];

/// Who is allowed an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Nobody is asked (CORS preflight, operations Bascule refuses before anything else).
    NotAuthorized,
    /// These kinds, the request naming no version; `version`: these kinds when it names
    /// one (`None`: the operation names no version).
    Only {
        plain: &'static [Who],
        version: Option<&'static [Who]>,
    },
}

/// One row: an operation (by its AWS name; a name with ` + ` is the operation with a
/// header that asks for more) and who may perform it.
pub struct Expectation {
    pub operation: &'static str,
    pub allowed: Allowed,
}

use Who::*;

/// Admins, the bucket's owner and a user a policy allows: every bucket operation.
const TOP: &[Who] = &[Admin, Owner, PolicyAllowed];
/// The bucket owner alone, whatever a policy allows ("you must be the bucket owner").
const BUCKET_OWNER: &[Who] = &[Admin, Owner];
/// Any signed caller (operations on the service).
const SIGNED: &[Who] = &[
    Admin,
    Owner,
    ObjectOwner,
    Reader,
    Writer,
    FullControl,
    PolicyAllowed,
    PolicyDenied,
];
/// Bucket READ (the listings): READ and FULL_CONTROL grantees, and anyone on a public
/// bucket.
const BUCKET_READ: &[Who] = &[
    Admin,
    Owner,
    PolicyAllowed,
    Reader,
    FullControl,
    AnonPublicRead,
    AnonPublicReadWrite,
];
/// Bucket WRITE (s3:PutObject, s3:DeleteObject).
const BUCKET_WRITE: &[Who] = &[
    Admin,
    Owner,
    PolicyAllowed,
    ObjectOwner,
    Writer,
    FullControl,
    AnonPublicReadWrite,
];
/// Object READ on `k` (its owner, and everyone where it is public-read).
const OBJECT_READ: &[Who] = &[
    Admin,
    Owner,
    PolicyAllowed,
    ObjectOwner,
    AnonPublicRead,
    AnonPublicReadWrite,
];
/// Writing a copy of `k`: bucket WRITE and object READ on `k`.
const COPY_OF_K: &[Who] = &[
    Admin,
    Owner,
    PolicyAllowed,
    ObjectOwner,
    AnonPublicReadWrite,
];
/// What only the object's owner may do beyond the bucket-level callers (tags, ACL).
const OBJECT_OWNER: &[Who] = &[Admin, Owner, PolicyAllowed, ObjectOwner];
/// Bucket READ_ACP / WRITE_ACP (the bucket ACL): FULL_CONTROL grantees.
const BUCKET_ACP: &[Who] = &[Admin, Owner, PolicyAllowed, FullControl];

const fn only(plain: &'static [Who]) -> Allowed {
    Allowed::Only {
        plain,
        version: None,
    }
}

const fn versioned(plain: &'static [Who], version: &'static [Who]) -> Allowed {
    Allowed::Only {
        plain,
        version: Some(version),
    }
}

const fn e(operation: &'static str, allowed: Allowed) -> Expectation {
    Expectation { operation, allowed }
}

pub const EXPECTATIONS: &[Expectation] = &[
    e("Preflight", Allowed::NotAuthorized),
    e("NotImplemented", Allowed::NotAuthorized),
    e("ListBuckets", only(SIGNED)),
    // Every signed caller may ask; the name is taken (409), not refused (403).
    e("CreateBucket", only(SIGNED)),
    e("GetBucketLocation", only(TOP)),
    e("GetBucketCors", only(TOP)),
    e("GetBucketPolicy", only(TOP)),
    e("GetBucketPolicyStatus", only(TOP)),
    e("GetPublicAccessBlock", only(TOP)),
    e("GetBucketOwnershipControls", only(TOP)),
    e("GetBucketVersioning", only(TOP)),
    e("GetObjectLockConfiguration", only(TOP)),
    e("GetBucketLifecycleConfiguration", only(TOP)),
    e("GetBucketAcl", only(BUCKET_ACP)),
    e("GetBucketTagging", only(TOP)),
    e("GetBucketLogging", only(BUCKET_OWNER)),
    e("GetBucketEncryption", only(TOP)),
    e("ListObjectVersions", only(BUCKET_READ)),
    e("ListMultipartUploads", only(BUCKET_READ)),
    e("ListObjectsV2", only(BUCKET_READ)),
    e("ListObjects", only(BUCKET_READ)),
    e("HeadBucket", only(BUCKET_READ)),
    e("PutBucketCors", only(TOP)),
    e("PutBucketPolicy", only(TOP)),
    e("PutBucketVersioning", only(TOP)),
    e("PutObjectLockConfiguration", only(TOP)),
    e("PutBucketLifecycleConfiguration", only(TOP)),
    e("PutBucketAcl", only(BUCKET_ACP)),
    e("PutBucketTagging", only(TOP)),
    e("PutBucketEncryption", only(TOP)),
    e("PutBucketLogging", only(BUCKET_OWNER)),
    e("PutPublicAccessBlock", only(TOP)),
    e("PutBucketOwnershipControls", only(TOP)),
    e("DeleteBucketCors", only(TOP)),
    e("DeleteBucketPolicy", only(TOP)),
    e("DeleteBucketTagging", only(TOP)),
    e("DeleteBucketEncryption", only(TOP)),
    e("DeleteBucketLifecycle", only(TOP)),
    e("DeletePublicAccessBlock", only(TOP)),
    e("DeleteBucketOwnershipControls", only(TOP)),
    e("DeleteBucket", only(TOP)),
    // Per key: s3:DeleteObject, or s3:DeleteObjectVersion when the key names a version.
    e("DeleteObjects", versioned(BUCKET_WRITE, TOP)),
    // An unsigned form is anonymous; signed forms are the PutObject cases.
    e("PostObject", only(BUCKET_WRITE)),
    e("GetObjectTagging", versioned(OBJECT_OWNER, OBJECT_OWNER)),
    e("GetObjectRetention", versioned(TOP, TOP)),
    e("GetObjectLegalHold", versioned(TOP, TOP)),
    e("GetObjectAcl", versioned(OBJECT_OWNER, OBJECT_OWNER)),
    e("GetObjectAttributes", versioned(OBJECT_READ, OBJECT_READ)),
    e("ListParts", only(BUCKET_WRITE)),
    e("GetObject", versioned(OBJECT_READ, OBJECT_READ)),
    e("HeadObject", versioned(OBJECT_READ, OBJECT_READ)),
    e("PutObjectTagging", versioned(OBJECT_OWNER, OBJECT_OWNER)),
    e("PutObjectRetention", versioned(TOP, TOP)),
    e("PutObjectLegalHold", versioned(TOP, TOP)),
    e("PutObjectAcl", versioned(OBJECT_OWNER, OBJECT_OWNER)),
    e("UploadPartCopy", only(COPY_OF_K)),
    e("UploadPart", only(BUCKET_WRITE)),
    e("CopyObject", only(COPY_OF_K)),
    e("PutObject", only(BUCKET_WRITE)),
    e("DeleteObjectTagging", versioned(OBJECT_OWNER, OBJECT_OWNER)),
    e("AbortMultipartUpload", only(BUCKET_WRITE)),
    e("DeleteObject", versioned(BUCKET_WRITE, TOP)),
    e("CreateMultipartUpload", only(BUCKET_WRITE)),
    e("CompleteMultipartUpload", only(BUCKET_WRITE)),
    // Lock settings on a new object are s3:PutObjectRetention / s3:PutObjectLegalHold too.
    e("PutObject + x-amz-object-lock-mode", only(TOP)),
    e("PutObject + x-amz-object-lock-legal-hold", only(TOP)),
    e("CopyObject + x-amz-object-lock-mode", only(TOP)),
    e(
        "CreateMultipartUpload + x-amz-object-lock-legal-hold",
        only(TOP),
    ),
];
