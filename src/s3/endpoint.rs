//! What each S3 operation is, declared once: one row per operation in [`OPERATIONS`] names
//! its route (method, scope, the sub-resource that selects it, a header that selects it),
//! the IAM action it is (and the one it is when it names a version), whether it names a
//! version, whether it creates an object (where lock headers ask for more permissions),
//! and whether a signature carries it. Everything else is derived from the rows: the
//! router ([`Endpoint::resolve`]), which sub-resources a SigV2 signature must cover
//! ([`signed_sub_resource`]), which operations a read-only zone refuses
//! ([`Endpoint::writes`]), the extra actions a request's headers imply
//! ([`Endpoint::actions`]) and the names and slots of the metrics. Who may perform an
//! action is decided in `access.rs`, from the action alone.
//!
//! Everything S3 defines that Bascule does not implement resolves to `NotImplemented` with
//! its name, so nothing is silently treated as something else.

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

/// The HTTP method of a route (`Never` for the row that no request resolves to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    Head,
    Put,
    Post,
    Delete,
    Options,
    Never,
}

impl Verb {
    /// The verb of a method S3 routes on (no row is `Never`'s).
    fn of(method: &Method) -> Option<Verb> {
        Some(match *method {
            Method::GET => Verb::Get,
            Method::HEAD => Verb::Head,
            Method::PUT => Verb::Put,
            Method::POST => Verb::Post,
            Method::DELETE => Verb::Delete,
            Method::OPTIONS => Verb::Options,
            _ => return None,
        })
    }
}

/// What a route addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// No bucket in the path or host.
    Service,
    Bucket,
    Object,
    /// Any of the above (CORS preflight).
    Any,
}

/// A header condition of a route beyond method, scope and sub-resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// `x-amz-copy-source` is present.
    CopySource,
    /// The body is a `multipart/form-data` browser form.
    FormPost,
}

/// How a request to the operation proves who sends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// SigV4 or SigV2, header or query, or anonymous.
    Request,
    /// The browser form carries its own signature over a policy document.
    Form,
    /// Nobody is authenticated (CORS preflight, operations refused before anything else).
    None,
}

/// One S3 operation: everything the server needs to know about it before its handler runs.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub endpoint: Endpoint,
    /// The AWS operation name (metrics, logs).
    pub name: &'static str,
    pub verb: Verb,
    pub scope: Scope,
    /// The query parameter (sub-resource) that selects this operation.
    pub sub: Option<&'static str>,
    /// Does a SigV2 signature cover `sub`? Only a selector that does not change what the
    /// request may do (the same action, reading alike) may stay outside: a test holds every
    /// row to that.
    pub sub_signed: bool,
    pub when: When,
    /// The IAM action a policy names for it.
    pub action: &'static str,
    /// The action when the request names a version (`versionId`), if it differs.
    pub version_action: Option<&'static str>,
    /// Does it name one version of an object (`versionId`)?
    pub versioned: bool,
    /// Does it create an object from the request (where object settings and lock headers
    /// apply)?
    pub creates_object: bool,
    pub auth: Auth,
}

impl Operation {
    /// The defaults of a row; each row states what differs.
    const BASE: Operation = Operation {
        endpoint: Endpoint::NotImplemented,
        name: "",
        verb: Verb::Get,
        scope: Scope::Bucket,
        sub: None,
        sub_signed: true,
        when: When::Always,
        action: "",
        version_action: None,
        versioned: false,
        creates_object: false,
        auth: Auth::Request,
    };
}

/// Declares the operations: the `Endpoint` enum and [`OPERATIONS`], in the same order, so
/// a variant's number is its row.
macro_rules! operations {
    ($($name:ident { $($field:ident: $value:expr),* $(,)? })*) => {
        /// An S3 operation (see [`OPERATIONS`] for what each one is).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Endpoint { $($name),* }

        /// One row per operation, in the order routes are matched: the first row whose
        /// method, scope, sub-resource and header condition fit a request is its operation.
        pub const OPERATIONS: &[Operation] = &[$(Operation {
            endpoint: Endpoint::$name,
            name: stringify!($name),
            $($field: $value,)*
            ..Operation::BASE
        }),*];
    };
}

use Scope::{Any, Bucket, Object, Service};
use Verb::{Delete, Head, Options, Post, Put};

operations! {
    Preflight { verb: Options, scope: Any, auth: Auth::None }
    ListBuckets { scope: Service, action: "s3:ListAllMyBuckets" }

    // Buckets: sub-resources first, then the plain routes.
    GetBucketLocation { sub: Some("location"), action: "s3:GetBucketLocation" }
    GetBucketCors { sub: Some("cors"), action: "s3:GetBucketCORS" }
    GetBucketPolicy { sub: Some("policy"), action: "s3:GetBucketPolicy" }
    GetBucketPolicyStatus { sub: Some("policyStatus"), action: "s3:GetBucketPolicyStatus" }
    GetPublicAccessBlock {
        sub: Some("publicAccessBlock"), action: "s3:GetBucketPublicAccessBlock"
    }
    GetBucketOwnershipControls {
        sub: Some("ownershipControls"), action: "s3:GetBucketOwnershipControls"
    }
    GetBucketVersioning { sub: Some("versioning"), action: "s3:GetBucketVersioning" }
    GetObjectLockConfiguration {
        sub: Some("object-lock"), action: "s3:GetBucketObjectLockConfiguration"
    }
    GetBucketLifecycleConfiguration {
        sub: Some("lifecycle"), action: "s3:GetLifecycleConfiguration"
    }
    GetBucketAcl { sub: Some("acl"), action: "s3:GetBucketAcl" }
    GetBucketTagging { sub: Some("tagging"), action: "s3:GetBucketTagging" }
    GetBucketLogging { sub: Some("logging"), action: "s3:GetBucketLogging" }
    GetBucketEncryption { sub: Some("encryption"), action: "s3:GetEncryptionConfiguration" }
    ListObjectVersions { sub: Some("versions"), action: "s3:ListBucketVersions" }
    ListMultipartUploads { sub: Some("uploads"), action: "s3:ListBucketMultipartUploads" }
    // `list-type=2` only changes the listing's format: the same action, a read alike.
    ListObjectsV2 { sub: Some("list-type"), sub_signed: false, action: "s3:ListBucket" }
    ListObjects { action: "s3:ListBucket" }
    HeadBucket { verb: Head, action: "s3:ListBucket" }
    PutBucketCors { verb: Put, sub: Some("cors"), action: "s3:PutBucketCORS" }
    PutBucketPolicy { verb: Put, sub: Some("policy"), action: "s3:PutBucketPolicy" }
    PutBucketVersioning { verb: Put, sub: Some("versioning"), action: "s3:PutBucketVersioning" }
    PutObjectLockConfiguration {
        verb: Put, sub: Some("object-lock"), action: "s3:PutBucketObjectLockConfiguration"
    }
    PutBucketLifecycleConfiguration {
        verb: Put, sub: Some("lifecycle"), action: "s3:PutLifecycleConfiguration"
    }
    PutBucketAcl { verb: Put, sub: Some("acl"), action: "s3:PutBucketAcl" }
    PutBucketTagging { verb: Put, sub: Some("tagging"), action: "s3:PutBucketTagging" }
    PutBucketLogging { verb: Put, sub: Some("logging"), action: "s3:PutBucketLogging" }
    PutBucketEncryption {
        verb: Put, sub: Some("encryption"), action: "s3:PutEncryptionConfiguration"
    }
    PutPublicAccessBlock {
        verb: Put, sub: Some("publicAccessBlock"), action: "s3:PutBucketPublicAccessBlock"
    }
    PutBucketOwnershipControls {
        verb: Put, sub: Some("ownershipControls"), action: "s3:PutBucketOwnershipControls"
    }
    CreateBucket { verb: Put, action: "s3:CreateBucket" }
    DeleteBucketCors { verb: Delete, sub: Some("cors"), action: "s3:PutBucketCORS" }
    DeleteBucketPolicy { verb: Delete, sub: Some("policy"), action: "s3:DeleteBucketPolicy" }
    DeleteBucketTagging { verb: Delete, sub: Some("tagging"), action: "s3:PutBucketTagging" }
    DeleteBucketEncryption {
        verb: Delete, sub: Some("encryption"), action: "s3:PutEncryptionConfiguration"
    }
    DeleteBucketLifecycle {
        verb: Delete, sub: Some("lifecycle"), action: "s3:PutLifecycleConfiguration"
    }
    DeletePublicAccessBlock {
        verb: Delete, sub: Some("publicAccessBlock"), action: "s3:PutBucketPublicAccessBlock"
    }
    DeleteBucketOwnershipControls {
        verb: Delete, sub: Some("ownershipControls"), action: "s3:PutBucketOwnershipControls"
    }
    DeleteBucket { verb: Delete, action: "s3:DeleteBucket" }
    // Each key is authorized as DeleteObject (or DeleteObjectVersion) on its own.
    DeleteObjects { verb: Post, sub: Some("delete"), action: "s3:DeleteObject" }
    PostObject {
        verb: Post, when: When::FormPost, action: "s3:PutObject", creates_object: true,
        auth: Auth::Form
    }

    // Objects.
    GetObjectTagging {
        scope: Object, sub: Some("tagging"), action: "s3:GetObjectTagging",
        version_action: Some("s3:GetObjectVersionTagging"), versioned: true
    }
    GetObjectRetention {
        scope: Object, sub: Some("retention"), action: "s3:GetObjectRetention", versioned: true
    }
    GetObjectLegalHold {
        scope: Object, sub: Some("legal-hold"), action: "s3:GetObjectLegalHold", versioned: true
    }
    GetObjectAcl {
        scope: Object, sub: Some("acl"), action: "s3:GetObjectAcl",
        version_action: Some("s3:GetObjectVersionAcl"), versioned: true
    }
    GetObjectAttributes {
        scope: Object, sub: Some("attributes"), action: "s3:GetObjectAttributes",
        version_action: Some("s3:GetObjectVersionAttributes"), versioned: true
    }
    ListParts { scope: Object, sub: Some("uploadId"), action: "s3:ListMultipartUploadParts" }
    GetObject {
        scope: Object, action: "s3:GetObject", version_action: Some("s3:GetObjectVersion"),
        versioned: true
    }
    HeadObject {
        verb: Head, scope: Object, action: "s3:GetObject",
        version_action: Some("s3:GetObjectVersion"), versioned: true
    }
    PutObjectTagging {
        verb: Put, scope: Object, sub: Some("tagging"), action: "s3:PutObjectTagging",
        version_action: Some("s3:PutObjectVersionTagging"), versioned: true
    }
    PutObjectRetention {
        verb: Put, scope: Object, sub: Some("retention"), action: "s3:PutObjectRetention",
        versioned: true
    }
    PutObjectLegalHold {
        verb: Put, scope: Object, sub: Some("legal-hold"), action: "s3:PutObjectLegalHold",
        versioned: true
    }
    PutObjectAcl {
        verb: Put, scope: Object, sub: Some("acl"), action: "s3:PutObjectAcl",
        version_action: Some("s3:PutObjectVersionAcl"), versioned: true
    }
    UploadPartCopy {
        verb: Put, scope: Object, sub: Some("uploadId"), when: When::CopySource,
        action: "s3:PutObject"
    }
    UploadPart { verb: Put, scope: Object, sub: Some("uploadId"), action: "s3:PutObject" }
    CopyObject {
        verb: Put, scope: Object, when: When::CopySource, action: "s3:PutObject",
        creates_object: true
    }
    PutObject { verb: Put, scope: Object, action: "s3:PutObject", creates_object: true }
    DeleteObjectTagging {
        verb: Delete, scope: Object, sub: Some("tagging"), action: "s3:DeleteObjectTagging",
        version_action: Some("s3:DeleteObjectVersionTagging"), versioned: true
    }
    AbortMultipartUpload {
        verb: Delete, scope: Object, sub: Some("uploadId"), action: "s3:AbortMultipartUpload"
    }
    DeleteObject {
        verb: Delete, scope: Object, action: "s3:DeleteObject",
        version_action: Some("s3:DeleteObjectVersion"), versioned: true
    }
    CreateMultipartUpload {
        verb: Post, scope: Object, sub: Some("uploads"), action: "s3:PutObject",
        creates_object: true
    }
    CompleteMultipartUpload {
        verb: Post, scope: Object, sub: Some("uploadId"), action: "s3:PutObject"
    }

    // What no route leads to: requests S3 defines and Bascule refuses.
    NotImplemented { verb: Verb::Never, scope: Any, auth: Auth::None }
}

/// Bucket sub-resources S3 defines and Bascule does not implement.
const UNSUPPORTED_BUCKET: &[&str] = &[
    "accelerate",
    "analytics",
    "intelligent-tiering",
    "inventory",
    "metrics",
    "notification",
    "replication",
    "requestPayment",
    "website",
    "metadataTable",
];

/// Object sub-resources S3 defines and Bascule does not implement.
const UNSUPPORTED_OBJECT: &[&str] = &["restore", "select", "torrent", "renameObject"];

/// Query parameters that do not select an operation but name what it acts on (a version,
/// an upload's part) or change the answer (`response-*` overrides): signed too.
const SIGNED_PARAMETERS: &[&str] = &[
    "partNumber",
    "uploadId",
    "versionId",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
];

/// Must a SigV2 signature cover this query parameter? Every sub-resource a route selects
/// on (unless its row says the selector changes nothing), every one Bascule refuses, and
/// the parameters that name what is acted on.
pub fn signed_sub_resource(name: &str) -> bool {
    SIGNED_PARAMETERS.contains(&name)
        || UNSUPPORTED_BUCKET.contains(&name)
        || UNSUPPORTED_OBJECT.contains(&name)
        || OPERATIONS
            .iter()
            .any(|op| op.sub_signed && op.sub == Some(name))
}

/// A request S3 defines and Bascule does not carry out, by what it asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported(pub &'static str);

/// The action a request's header asks for beyond its operation's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImpliedAction {
    pub action: &'static str,
    /// The header that asks for it.
    pub header: &'static str,
}

/// Headers that set lock state on a new object, and the action each needs (as the
/// PutObjectRetention / PutObjectLegalHold operations would).
const LOCK_HEADERS: &[ImpliedAction] = &[
    ImpliedAction {
        action: "s3:PutObjectRetention",
        header: "x-amz-object-lock-mode",
    },
    ImpliedAction {
        action: "s3:PutObjectRetention",
        header: "x-amz-object-lock-retain-until-date",
    },
    ImpliedAction {
        action: "s3:PutObjectLegalHold",
        header: "x-amz-object-lock-legal-hold",
    },
];

impl Endpoint {
    /// How many operations there are (`ordinal` is below this).
    pub const COUNT: usize = OPERATIONS.len();

    /// This operation's row.
    pub fn row(self) -> &'static Operation {
        // The enum and the table are generated in the same order (a test checks it).
        &OPERATIONS[self as usize]
    }

    /// A dense number per operation, for per-operation tables (metrics).
    pub fn ordinal(self) -> usize {
        self as usize
    }

    /// The operation's name, for metrics and logs.
    pub fn name(self) -> &'static str {
        self.row().name
    }

    /// The operation a request asks for: the first row that fits.
    pub fn resolve(
        method: &Method,
        bucket: Option<&str>,
        key: Option<&str>,
        has: impl Fn(&str) -> bool,
        copy_source: bool,
        form_post: bool,
    ) -> Result<Endpoint, Unsupported> {
        let scope = match (bucket, key) {
            (None, _) => Service,
            (Some(_), None) => Bucket,
            (Some(_), Some(_)) => Object,
        };
        let other = Unsupported(match scope {
            Service => "service operation",
            Bucket => "bucket operation",
            Object | Any => "object operation",
        });
        let Some(verb) = Verb::of(method) else {
            return Err(other);
        };
        if verb != Options {
            let unsupported = match scope {
                Service => &[][..],
                Bucket => UNSUPPORTED_BUCKET,
                Object | Any => UNSUPPORTED_OBJECT,
            };
            if let Some(name) = unsupported.iter().find(|n| has(n)) {
                return Err(Unsupported(name));
            }
        }
        let op = OPERATIONS
            .iter()
            .find(|op| {
                op.verb == verb
                    && (op.scope == scope || op.scope == Any)
                    && op.sub.is_none_or(&has)
                    && match op.when {
                        When::Always => true,
                        When::CopySource => copy_source,
                        When::FormPost => form_post,
                    }
            })
            .ok_or(other)?;
        // A sub-resource that selects some operation, sent with a method that has none
        // for it (`DELETE ?logging`), is not the plain operation of that method: answering
        // it as DeleteBucket would do what the client did not ask for.
        if op.sub.is_none() && op.verb != Options {
            if let Some(sub) = OPERATIONS.iter().filter_map(|o| o.sub).find(|n| has(n)) {
                return Err(Unsupported(sub));
            }
        }
        Ok(op.endpoint)
    }

    /// Does this operation change anything? A zone that takes no writes refuses these
    /// before reading the body. Every route that is not a GET, HEAD or OPTIONS writes.
    pub fn writes(self) -> bool {
        matches!(self.row().verb, Put | Post | Delete)
    }

    /// Does this operation name one version of an object (`versionId`)?
    pub fn takes_version(self) -> bool {
        self.row().versioned
    }

    /// The IAM action of the operation, as it acts on a version when `version` is true.
    pub fn action(self, version: bool) -> &'static str {
        let row = self.row();
        match (version, row.version_action) {
            (true, Some(a)) => a,
            _ => row.action,
        }
    }

    /// The actions a request asks for beyond the operation's own, by the headers (or form
    /// fields) it carries: lock settings on a new object need the lock actions.
    pub fn implied_actions(
        self,
        has_header: impl Fn(&str) -> bool,
    ) -> impl Iterator<Item = ImpliedAction> {
        let creates = self.row().creates_object;
        LOCK_HEADERS
            .iter()
            .copied()
            .filter(move |a| creates && has_header(a.header))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(
        m: Method,
        b: Option<&str>,
        k: Option<&str>,
        q: &[&str],
    ) -> Result<Endpoint, Unsupported> {
        Endpoint::resolve(&m, b, k, |n| q.contains(&n), false, false)
    }

    #[test]
    fn the_enum_and_the_table_agree() {
        for (i, op) in OPERATIONS.iter().enumerate() {
            assert_eq!(op.endpoint as usize, i, "{}", op.name);
            assert_eq!(op.endpoint.row().name, op.name);
        }
        assert_eq!(Endpoint::COUNT, OPERATIONS.len());
    }

    #[test]
    fn resolves_operations() {
        use Endpoint::*;
        assert_eq!(ep(Method::GET, None, None, &[]), Ok(ListBuckets));
        assert_eq!(
            ep(Method::GET, Some("b"), None, &["list-type"]),
            Ok(ListObjectsV2)
        );
        assert_eq!(ep(Method::GET, Some("b"), None, &[]), Ok(ListObjects));
        assert_eq!(
            ep(Method::POST, Some("b"), None, &["delete"]),
            Ok(DeleteObjects)
        );
        assert_eq!(
            ep(
                Method::PUT,
                Some("b"),
                Some("k"),
                &["uploadId", "partNumber"]
            ),
            Ok(UploadPart)
        );
        assert_eq!(
            ep(Method::POST, Some("b"), Some("k"), &["uploads"]),
            Ok(CreateMultipartUpload)
        );
        assert_eq!(
            ep(Method::GET, Some("b"), None, &["lifecycle"]),
            Ok(GetBucketLifecycleConfiguration)
        );
        assert_eq!(
            ep(Method::PUT, Some("b"), Some("k"), &["retention"]),
            Ok(PutObjectRetention)
        );
        assert_eq!(
            ep(Method::POST, Some("b"), Some("k"), &["restore"]),
            Err(Unsupported("restore"))
        );
        assert_eq!(
            ep(Method::PATCH, Some("b"), Some("k"), &[]),
            Err(Unsupported("object operation"))
        );
        assert_eq!(
            ep(Method::OPTIONS, Some("b"), Some("k"), &[]),
            Ok(Preflight)
        );
        assert_eq!(
            Endpoint::resolve(&Method::PUT, Some("b"), Some("k"), |_| false, true, false),
            Ok(CopyObject)
        );
        assert_eq!(
            Endpoint::resolve(
                &Method::PUT,
                Some("b"),
                Some("k"),
                |n| n == "uploadId",
                true,
                false
            ),
            Ok(UploadPartCopy)
        );
        assert_eq!(
            Endpoint::resolve(&Method::POST, Some("b"), None, |_| false, false, true),
            Ok(PostObject)
        );
    }

    /// Every route can be reached: no earlier row hides it.
    #[test]
    fn every_route_is_reachable() {
        for op in OPERATIONS {
            let method = match op.verb {
                Verb::Get => Method::GET,
                Head => Method::HEAD,
                Put => Method::PUT,
                Post => Method::POST,
                Delete => Method::DELETE,
                Options => Method::OPTIONS,
                Verb::Never => continue,
            };
            let (b, k) = match op.scope {
                Service => (None, None),
                Bucket | Any => (Some("b"), None),
                Object => (Some("b"), Some("k")),
            };
            let got = Endpoint::resolve(
                &method,
                b,
                k,
                |n| op.sub == Some(n),
                op.when == When::CopySource,
                op.when == When::FormPost,
            );
            assert_eq!(got, Ok(op.endpoint), "{}", op.name);
        }
    }

    /// A selector left out of SigV2 signatures must not change what the request may do:
    /// without it, the request resolves to an operation with the same action that reads
    /// alike. Anything else must be signed, or a presigned URL could become it.
    #[test]
    fn unsigned_selectors_change_nothing() {
        for op in OPERATIONS.iter().filter(|op| !op.sub_signed) {
            let sub = op.sub.expect("an unsigned selector names a sub-resource");
            let (b, k) = match op.scope {
                Object => (Some("b"), Some("k")),
                _ => (Some("b"), None),
            };
            let method = match op.verb {
                Verb::Get => Method::GET,
                other => panic!("{}: an unsigned selector on {other:?}", op.name),
            };
            let without = Endpoint::resolve(
                &method,
                b,
                k,
                |n| n != sub && op.sub == Some(n),
                false,
                false,
            )
            .expect("resolves without the selector");
            assert_eq!(without.action(false), op.action, "{}", op.name);
            assert_eq!(without.writes(), op.endpoint.writes(), "{}", op.name);
        }
        for op in OPERATIONS {
            if let Some(sub) = op.sub.filter(|_| op.sub_signed) {
                assert!(signed_sub_resource(sub), "{sub}");
            }
        }
        for name in [
            "retention",
            "legal-hold",
            "attributes",
            "publicAccessBlock",
            "ownershipControls",
            "policyStatus",
            "versionId",
            "restore",
        ] {
            assert!(signed_sub_resource(name), "{name}");
        }
        assert!(!signed_sub_resource("list-type"));
        assert!(!signed_sub_resource("prefix"));
    }

    /// Every operation has its row in the authorization expectations the matrix test
    /// walks, with a version column exactly where it names a version (a multi-object
    /// delete names them per key); every extra row names an operation and a header that
    /// asks for more.
    #[test]
    fn every_operation_has_authorization_expectations() {
        use crate::s3::authz_expectations::{Allowed, EXPECTATIONS};
        for op in OPERATIONS {
            let e = EXPECTATIONS
                .iter()
                .find(|e| e.operation == op.name)
                .unwrap_or_else(|| panic!("{} has no authorization expectations", op.name));
            let names_versions = op.versioned || op.endpoint == Endpoint::DeleteObjects;
            match e.allowed {
                Allowed::NotAuthorized => assert_eq!(op.auth, Auth::None, "{}", op.name),
                Allowed::Only { version, .. } => {
                    assert_ne!(op.auth, Auth::None, "{}", op.name);
                    assert_eq!(version.is_some(), names_versions, "{}", op.name);
                }
            }
        }
        for e in EXPECTATIONS {
            let (name, header) = match e.operation.split_once(" + ") {
                Some((n, h)) => (n, Some(h)),
                None => (e.operation, None),
            };
            let op = OPERATIONS
                .iter()
                .find(|op| op.name == name)
                .unwrap_or_else(|| panic!("{name} is not an operation"));
            if let Some(h) = header {
                assert_eq!(
                    op.endpoint.implied_actions(|n| n == h).count(),
                    1,
                    "{}",
                    e.operation
                );
            }
        }
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
            (Endpoint::DeleteObjects, true),
            (Endpoint::GetObject, false),
            (Endpoint::GetBucketCors, false),
            (Endpoint::ListParts, false),
            (Endpoint::Preflight, false),
            (Endpoint::NotImplemented, false),
        ] {
            assert_eq!(e.writes(), writes, "{e:?}");
        }
    }

    #[test]
    fn lock_headers_imply_the_lock_actions_where_objects_are_created() {
        let implied = |e: Endpoint, h: &str| {
            e.implied_actions(|n| n == h)
                .map(|a| a.action)
                .collect::<Vec<_>>()
        };
        for e in [
            Endpoint::PutObject,
            Endpoint::CopyObject,
            Endpoint::PostObject,
            Endpoint::CreateMultipartUpload,
        ] {
            assert_eq!(
                implied(e, "x-amz-object-lock-mode"),
                ["s3:PutObjectRetention"]
            );
            assert_eq!(
                implied(e, "x-amz-object-lock-legal-hold"),
                ["s3:PutObjectLegalHold"]
            );
        }
        assert!(implied(Endpoint::UploadPart, "x-amz-object-lock-mode").is_empty());
        assert_eq!(
            Endpoint::DeleteObject.action(true),
            "s3:DeleteObjectVersion"
        );
        assert_eq!(Endpoint::DeleteObject.action(false), "s3:DeleteObject");
        assert_eq!(
            Endpoint::PutObjectRetention.action(true),
            "s3:PutObjectRetention"
        );
    }
}
