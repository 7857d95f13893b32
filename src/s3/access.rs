//! Who may do what, evaluated as AWS documents it:
//! 1. admins do everything (the operator's account);
//! 2. an explicit Deny in the bucket policy refuses the request — even to the bucket's
//!    owner, who keeps only the right to read and change the policy itself;
//! 3. otherwise the request is allowed by any of: the bucket's owner (who, as under AWS's
//!    default object ownership, controls every object in the bucket), a grant made through
//!    the admin API (`Read`, `ReadWrite`), the bucket's ACL, an Allow in the bucket policy,
//!    and for operations on one object, that object's owner and ACL;
//! 4. anything else is `AccessDenied`.

use super::acl;
use super::auth::Identity;
use super::endpoint::{Access, Endpoint};
use super::policy::{Decision, Directory, Facts, Policy};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{AclPermission, BucketRecord, ObjectRecord, Permission};
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};

/// The bucket ACL permission an operation needs, if a bucket ACL can allow it.
fn bucket_acl_need(endpoint: Endpoint) -> Option<AclPermission> {
    use Endpoint::*;
    match endpoint {
        HeadBucket | ListObjects | ListObjectsV2 | ListObjectVersions | ListMultipartUploads => {
            Some(AclPermission::Read)
        }
        PutObject
        | PostObject
        | CopyObject
        | DeleteObject
        | DeleteObjects
        | CreateMultipartUpload
        | UploadPart
        | UploadPartCopy
        | CompleteMultipartUpload
        | AbortMultipartUpload
        | ListParts => Some(AclPermission::Write),
        GetBucketAcl => Some(AclPermission::ReadAcp),
        PutBucketAcl => Some(AclPermission::WriteAcp),
        _ => None,
    }
}

/// The object ACL permission an operation on one object needs (`None`: only the object's
/// owner, beyond the bucket-level rules, may do it).
fn object_acl_need(endpoint: Endpoint) -> Option<Option<AclPermission>> {
    use Endpoint::*;
    match endpoint {
        GetObject | HeadObject | GetObjectAttributes => Some(Some(AclPermission::Read)),
        GetObjectAcl => Some(Some(AclPermission::ReadAcp)),
        PutObjectAcl => Some(Some(AclPermission::WriteAcp)),
        GetObjectTagging | PutObjectTagging | DeleteObjectTagging => Some(None),
        _ => None,
    }
}

/// The IAM action an operation is (what bucket policies name).
pub fn action(endpoint: Endpoint) -> &'static str {
    use Endpoint::*;
    match endpoint {
        ListBuckets => "s3:ListAllMyBuckets",
        CreateBucket => "s3:CreateBucket",
        HeadBucket | ListObjects | ListObjectsV2 => "s3:ListBucket",
        DeleteBucket => "s3:DeleteBucket",
        GetBucketLocation => "s3:GetBucketLocation",
        GetBucketCors => "s3:GetBucketCORS",
        PutBucketCors | DeleteBucketCors => "s3:PutBucketCORS",
        GetBucketPolicy => "s3:GetBucketPolicy",
        GetBucketPolicyStatus => "s3:GetBucketPolicyStatus",
        GetPublicAccessBlock => "s3:GetBucketPublicAccessBlock",
        PutPublicAccessBlock | DeletePublicAccessBlock => "s3:PutBucketPublicAccessBlock",
        GetBucketOwnershipControls => "s3:GetBucketOwnershipControls",
        PutBucketOwnershipControls | DeleteBucketOwnershipControls => {
            "s3:PutBucketOwnershipControls"
        }
        PutBucketPolicy => "s3:PutBucketPolicy",
        DeleteBucketPolicy => "s3:DeleteBucketPolicy",
        GetBucketVersioning => "s3:GetBucketVersioning",
        PutBucketVersioning => "s3:PutBucketVersioning",
        GetBucketAcl => "s3:GetBucketAcl",
        PutBucketAcl => "s3:PutBucketAcl",
        GetBucketTagging => "s3:GetBucketTagging",
        PutBucketTagging | DeleteBucketTagging => "s3:PutBucketTagging",
        ListObjectVersions => "s3:ListBucketVersions",
        ListMultipartUploads => "s3:ListBucketMultipartUploads",
        DeleteObjects | DeleteObject => "s3:DeleteObject",
        GetObject | HeadObject => "s3:GetObject",
        PostObject
        | PutObject
        | CopyObject
        | CreateMultipartUpload
        | UploadPart
        | UploadPartCopy
        | CompleteMultipartUpload => "s3:PutObject",
        GetObjectTagging => "s3:GetObjectTagging",
        PutObjectTagging => "s3:PutObjectTagging",
        DeleteObjectTagging => "s3:DeleteObjectTagging",
        GetObjectAcl => "s3:GetObjectAcl",
        GetObjectAttributes => "s3:GetObjectAttributes",
        PutObjectAcl => "s3:PutObjectAcl",
        AbortMultipartUpload => "s3:AbortMultipartUpload",
        GetObjectLockConfiguration => "s3:GetBucketObjectLockConfiguration",
        PutObjectLockConfiguration => "s3:PutBucketObjectLockConfiguration",
        GetObjectRetention => "s3:GetObjectRetention",
        PutObjectRetention => "s3:PutObjectRetention",
        GetObjectLegalHold => "s3:GetObjectLegalHold",
        PutObjectLegalHold => "s3:PutObjectLegalHold",
        GetBucketLifecycle => "s3:GetLifecycleConfiguration",
        PutBucketLifecycle | DeleteBucketLifecycle => "s3:PutLifecycleConfiguration",
        ListParts => "s3:ListMultipartUploadParts",
        Preflight | NotImplemented(_) => "",
    }
}

/// The IAM action of a request: an operation that names one version (`versionId`) is
/// the version action, as S3 evaluates it (a policy denying `s3:DeleteObjectVersion`
/// protects old versions while allowing `s3:DeleteObject`).
fn request_action(req: &AccessRequest) -> &'static str {
    use Endpoint::*;
    if !req.query.iter().any(|(k, _)| k == "versionId") {
        return action(req.endpoint);
    }
    match req.endpoint {
        GetObject | HeadObject => "s3:GetObjectVersion",
        DeleteObject => "s3:DeleteObjectVersion",
        GetObjectTagging => "s3:GetObjectVersionTagging",
        PutObjectTagging => "s3:PutObjectVersionTagging",
        DeleteObjectTagging => "s3:DeleteObjectVersionTagging",
        GetObjectAcl => "s3:GetObjectVersionAcl",
        PutObjectAcl => "s3:PutObjectVersionAcl",
        GetObjectAttributes => "s3:GetObjectVersionAttributes",
        other => action(other),
    }
}

/// A request as access control sees it.
pub struct AccessRequest<'a> {
    pub endpoint: Endpoint,
    pub identity: &'a Identity,
    pub bucket: Option<&'a BucketRecord>,
    /// The object key, for operations on one object.
    pub key: Option<&'a str>,
    /// A request header (or browser form field) by lowercase name.
    pub header: &'a dyn Fn(&str) -> Option<String>,
    pub query: &'a [(String, String)],
    pub source_ip: Option<IpAddr>,
    /// Whether the request came over TLS (`aws:SecureTransport`).
    pub secure_transport: bool,
}

/// Parsed policies by bucket, with the stored JSON and principals they were parsed from:
/// a request to a bucket with a policy (or each key of a multi-object delete) reuses the
/// parse instead of reading the JSON again. One entry per bucket that has had a policy.
type PolicyCache = HashMap<String, (String, BTreeMap<String, String>, Arc<Policy>)>;
static POLICIES: LazyLock<Mutex<PolicyCache>> = LazyLock::new(Default::default);

/// The bucket policy as stored: the JSON as sent, evaluated with the user ids its
/// principals were resolved to when it was put (so a user re-created under a deleted
/// user's name is not named by it).
pub fn stored_policy(b: &BucketRecord) -> S3Result<Option<Arc<Policy>>> {
    let Some(json) = &b.policy_json else {
        return Ok(None);
    };
    if let Ok(cache) = POLICIES.lock() {
        if let Some((j, p, parsed)) = cache.get(&b.name) {
            if j == json && *p == b.policy_principals {
                return Ok(Some(parsed.clone()));
            }
        }
    }
    let parsed = Arc::new(parse_stored(b, json)?);
    if let Ok(mut cache) = POLICIES.lock() {
        cache.insert(
            b.name.clone(),
            (json.clone(), b.policy_principals.clone(), parsed.clone()),
        );
    }
    Ok(Some(parsed))
}

/// Is the bucket open to the public: an ACL granting everyone (or every signed user) that
/// its PublicAccessBlock does not ignore, or a public policy it does not restrict.
pub fn bucket_is_public(b: &BucketRecord) -> bool {
    let block = b.access_block();
    let acl_public = !block.ignore_public_acls && acl::is_public(&b.acl);
    let policy_public =
        !block.restrict_public_buckets && matches!(stored_policy(b), Ok(Some(p)) if p.is_public());
    acl_public || policy_public
}

fn parse_stored(b: &BucketRecord, json: &str) -> S3Result<Policy> {
    struct Resolved<'a>(&'a BTreeMap<String, String>);
    impl Directory for Resolved<'_> {
        fn user_id(&self, principal: &str) -> S3Result<Option<String>> {
            // A principal whose user is gone names nobody.
            Ok(Some(
                self.0
                    .get(principal)
                    .cloned()
                    .unwrap_or_else(|| format!("deleted:{principal}")),
            ))
        }
    }
    Policy::parse(json, &b.name, &Resolved(&b.policy_principals))
}

/// Condition keys from the request (see `policy::CONDITION_KEYS`).
struct RequestFacts<'a, 'b> {
    req: &'a AccessRequest<'b>,
    object: &'a dyn Fn() -> Option<ObjectRecord>,
}

impl Facts for RequestFacts<'_, '_> {
    fn values(&self, key: &str) -> Vec<String> {
        let req = self.req;
        let header = |n: &str| (req.header)(n).into_iter().collect::<Vec<_>>();
        let query = |n: &str| {
            req.query
                .iter()
                .filter(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        let now = time::OffsetDateTime::now_utc();
        let request_tags = || {
            (req.header)("x-amz-tagging")
                .and_then(|t| super::meta::parse_tag_query(&t).ok())
                .unwrap_or_default()
        };
        if let Some(tag) = key.strip_prefix("s3:existingobjecttag/") {
            return (self.object)()
                .and_then(|o| {
                    o.tags
                        .into_iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(tag))
                })
                .map(|(_, v)| vec![v])
                .unwrap_or_default();
        }
        if let Some(tag) = key.strip_prefix("s3:requestobjecttag/") {
            return request_tags()
                .into_iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(tag))
                .map(|(_, v)| v)
                .collect();
        }
        let user = req.identity.user();
        match key {
            "aws:currenttime" => vec![now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default()],
            "aws:epochtime" => vec![now.unix_timestamp().to_string()],
            "aws:principaltype" => vec![match user {
                Some(_) => "User".into(),
                None => "Anonymous".into(),
            }],
            "aws:referer" => header("referer"),
            "aws:securetransport" => vec![req.secure_transport.to_string()],
            "aws:sourceip" => req.source_ip.map(|ip| ip.to_string()).into_iter().collect(),
            "aws:useragent" => header("user-agent"),
            "aws:userid" => user.map(|u| u.id.clone()).into_iter().collect(),
            "aws:username" => user.map(|u| u.name.clone()).into_iter().collect(),
            "s3:authtype" => vec![auth_type(req)],
            "s3:signatureversion" => signature_version(req).into_iter().collect(),
            "s3:delimiter" => query("delimiter"),
            "s3:max-keys" => query("max-keys"),
            "s3:prefix" => query("prefix"),
            "s3:versionid" => query("versionId"),
            "s3:requestobjecttagkeys" => request_tags().into_iter().map(|(k, _)| k).collect(),
            "s3:x-amz-acl" => header("x-amz-acl"),
            "s3:x-amz-content-sha256" => header("x-amz-content-sha256"),
            "s3:x-amz-copy-source" => header("x-amz-copy-source"),
            "s3:x-amz-metadata-directive" => header("x-amz-metadata-directive"),
            "s3:x-amz-server-side-encryption" => header("x-amz-server-side-encryption"),
            "s3:x-amz-storage-class" => header("x-amz-storage-class"),
            _ => Vec::new(),
        }
    }
}

fn auth_type(req: &AccessRequest) -> String {
    let q = |n: &str| req.query.iter().any(|(k, _)| k == n);
    if (req.header)("policy").is_some() {
        "POST"
    } else if (req.header)("authorization").is_some() {
        "REST-HEADER"
    } else if q("X-Amz-Signature") || q("Signature") {
        "REST-QUERY-STRING"
    } else {
        "None"
    }
    .to_string()
}

fn signature_version(req: &AccessRequest) -> Option<String> {
    let q = |n: &str| req.query.iter().any(|(k, _)| k == n);
    let auth = (req.header)("authorization").unwrap_or_default();
    if auth.starts_with("AWS4-")
        || q("X-Amz-Signature")
        || (req.header)("x-amz-signature").is_some()
    {
        Some("AWS4-HMAC-SHA256".into())
    } else if auth.starts_with("AWS ") || q("Signature") || (req.header)("signature").is_some() {
        Some("AWS".into())
    } else {
        None
    }
}

/// May this request go ahead? `object` reads the addressed object; it is called (once)
/// only when the object's ACL, owner or tags could decide.
pub fn authorize(
    req: &AccessRequest<'_>,
    object: impl Fn() -> S3Result<Option<ObjectRecord>>,
) -> S3Result<()> {
    let denied = || Err(S3Error::new(S3ErrorCode::AccessDenied));
    let access = req.endpoint.access();
    match access {
        Access::Custom => return Ok(()),
        Access::Service => {
            return match req.identity {
                Identity::Anonymous => denied(),
                Identity::User { .. } => Ok(()),
            }
        }
        _ => {}
    }
    // A missing bucket is reported as NoSuchBucket by the handler.
    let Some(b) = req.bucket else { return Ok(()) };
    let user = req.identity.user();
    if user.is_some_and(|u| u.admin) {
        return Ok(());
    }
    // A multi-object delete is decided key by key when a policy could tell keys apart.
    if req.endpoint == Endpoint::DeleteObjects && b.policy_json.is_some() {
        return Ok(());
    }
    let loaded: OnceCell<S3Result<Option<ObjectRecord>>> = OnceCell::new();
    let load = || loaded.get_or_init(&object).clone();
    let policy = stored_policy(b)?;
    let decision = match &policy {
        Some(p) => {
            let key = req.key.unwrap_or_default();
            let resource = match req.key {
                Some(_) => format!("arn:aws:s3:::{}/{key}", b.name),
                None => format!("arn:aws:s3:::{}", b.name),
            };
            let facts = RequestFacts {
                req,
                object: &|| load().ok().flatten(),
            };
            p.decide(&super::policy::Request {
                action: request_action(req),
                resource,
                identity: req.identity,
                facts: &facts,
            })
        }
        None => Decision::Neutral,
    };
    let owner = user.is_some_and(|u| u.id == b.owner);
    if decision == Decision::Deny {
        // The owner can always mend the policy that locks them out.
        let mends_policy = matches!(
            req.endpoint,
            Endpoint::GetBucketPolicy | Endpoint::PutBucketPolicy | Endpoint::DeleteBucketPolicy
        );
        return if owner && mends_policy {
            Ok(())
        } else {
            denied()
        };
    }
    // RestrictPublicBuckets: a public policy lets no anonymous caller in.
    let restricted = b.access_block().restrict_public_buckets
        && user.is_none()
        && policy.as_ref().is_some_and(|p| p.is_public());
    if owner || (decision == Decision::Allow && !restricted) {
        return Ok(());
    }
    if let Some(u) = user {
        match (access, b.grants.get(&u.id)) {
            (Access::Read, Some(_)) | (Access::Write, Some(Permission::ReadWrite)) => return Ok(()),
            _ => {}
        }
    }
    if bucket_acl_need(req.endpoint)
        .is_some_and(|need| acl::allows(acl::effective(b, &b.acl), req.identity, need))
    {
        return Ok(());
    }
    if let Some(need) = object_acl_need(req.endpoint) {
        if let Some(o) = load()? {
            let owns = user.is_some_and(|u| u.id == o.owner);
            let granted =
                need.is_some_and(|need| acl::allows(acl::effective(b, &o.acl), req.identity, need));
            if owns || granted {
                return Ok(());
            }
        }
    }
    denied()
}

/// May the caller bypass governance-mode retention (`x-amz-bypass-governance-retention`)?
/// Admins and the bucket's owner may unless the bucket policy denies it; anyone else
/// needs the policy to allow `s3:BypassGovernanceRetention`.
pub fn may_bypass_governance(req: &AccessRequest<'_>) -> S3Result<bool> {
    let Some(b) = req.bucket else {
        return Ok(false);
    };
    let user = req.identity.user();
    if user.is_some_and(|u| u.admin) {
        return Ok(true);
    }
    let decision = match stored_policy(b)? {
        Some(p) => {
            let facts = RequestFacts {
                req,
                object: &|| None,
            };
            p.decide(&super::policy::Request {
                action: "s3:BypassGovernanceRetention",
                resource: format!("arn:aws:s3:::{}/{}", b.name, req.key.unwrap_or_default()),
                identity: req.identity,
                facts: &facts,
            })
        }
        None => Decision::Neutral,
    };
    Ok(match decision {
        Decision::Deny => false,
        Decision::Allow => true,
        Decision::Neutral => user.is_some_and(|u| u.id == b.owner),
    })
}

/// Checks a bucket policy before it is stored; returns it parsed, with the user ids its
/// principals name.
pub fn check_policy(
    store: &crate::store::Store,
    bucket: &str,
    json: &str,
) -> S3Result<(Policy, BTreeMap<String, String>)> {
    struct Lookup<'a> {
        store: &'a crate::store::Store,
        seen: std::cell::RefCell<BTreeMap<String, String>>,
    }
    impl Directory for Lookup<'_> {
        fn user_id(&self, principal: &str) -> S3Result<Option<String>> {
            // A user id, or an IAM-style ARN naming a user: arn:aws:iam::<any>:user/<name>.
            let user = match principal
                .strip_prefix("arn:aws:iam::")
                .and_then(|r| r.split_once(":user/"))
            {
                Some((_, name)) => self.store.find_user(name)?.filter(|u| u.name == name),
                None => self.store.user(principal)?,
            };
            Ok(user.map(|u| {
                self.seen
                    .borrow_mut()
                    .insert(principal.to_string(), u.id.clone());
                u.id
            }))
        }
    }
    let lookup = Lookup {
        store,
        seen: Default::default(),
    };
    let policy = Policy::parse(json, bucket, &lookup)?;
    Ok((policy, lookup.seen.into_inner()))
}
