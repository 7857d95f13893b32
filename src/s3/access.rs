//! Who may do what, evaluated as AWS documents it. A request needs every action it asks
//! for: its operation's (the `*Version` one when it names a version) and those its headers
//! imply (`Endpoint::implied_actions`). Each action is decided on its own:
//! 1. admins do everything (the operator's account);
//! 2. an explicit Deny in the bucket policy refuses it — even to the bucket's owner, who
//!    keeps only the right to read and change the policy itself;
//! 3. otherwise it is allowed by any of: the bucket's owner (who, as under AWS's default
//!    object ownership, controls every object in the bucket), an Allow in the bucket
//!    policy (never to an anonymous caller for a bucket's settings), and what
//!    `action_rule` says grants give: an admin-API grant (`Read`, `ReadWrite`) by the
//!    action's class, the bucket's ACL, and for actions on one object its owner and ACL;
//! 4. anything else is `AccessDenied`.

use super::acl;
use super::auth::Identity;
use super::endpoint::{Auth, Endpoint};
use super::policy::{Decision, Directory, Facts, Policy};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{AclPermission, BucketRecord, ObjectRecord, Permission};
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};

/// Who, beyond admins, the bucket's owner and a bucket policy's Allow, may be given an
/// action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Any signed caller (ListBuckets, CreateBucket); no bucket decides.
    Service,
    /// Holders of an admin-API `Read` or `ReadWrite` grant on the bucket.
    Read,
    /// Holders of an admin-API `ReadWrite` grant.
    Write,
    /// Nobody else: erasing history, setting locks, bypassing governance, changing ACLs.
    Owner,
    /// A bucket's settings: as `Owner`, and an anonymous caller never, whatever a policy
    /// with `Principal: *` says.
    Config,
    /// The bucket's owner alone (and admins): no policy or grant gives it. AWS: "to set
    /// the logging status of a bucket, you must be the bucket owner".
    BucketOwner,
}

/// What an ACL grants of an action on one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectGrant {
    /// Nothing: the object's ACL and owner do not decide.
    No,
    /// The object's owner (not its ACL).
    Owner,
    /// The object's owner, or an ACL grant of this permission.
    Acl(AclPermission),
}

/// How an action may be given beyond policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionRule {
    pub class: Class,
    /// The bucket ACL permission that gives it.
    pub bucket_acl: Option<AclPermission>,
    pub object: ObjectGrant,
}

/// How each IAM action may be given, from AWS's "Mapping of ACL permissions and access
/// policy permissions" (bucket READ: the listings; bucket WRITE: s3:PutObject and
/// s3:DeleteObject, never s3:DeleteObjectVersion for anyone but the owner; object READ:
/// s3:GetObject and s3:GetObjectVersion; READ_ACP / WRITE_ACP: the ACL actions). An action
/// not named here is the owner's alone.
pub fn action_rule(action: &str) -> ActionRule {
    use AclPermission as P;
    let rule = |class, bucket_acl, object| ActionRule {
        class,
        bucket_acl,
        object,
    };
    match action {
        "s3:ListAllMyBuckets" | "s3:CreateBucket" => rule(Class::Service, None, ObjectGrant::No),
        "s3:ListBucket" | "s3:ListBucketVersions" | "s3:ListBucketMultipartUploads" => {
            rule(Class::Read, Some(P::Read), ObjectGrant::No)
        }
        "s3:GetBucketLocation"
        | "s3:GetBucketVersioning"
        | "s3:GetObjectRetention"
        | "s3:GetObjectLegalHold" => rule(Class::Read, None, ObjectGrant::No),
        "s3:GetBucketAcl" => rule(Class::Read, Some(P::ReadAcp), ObjectGrant::No),
        "s3:PutBucketAcl" => rule(Class::Config, Some(P::WriteAcp), ObjectGrant::No),
        "s3:PutObject" | "s3:DeleteObject" | "s3:AbortMultipartUpload" => {
            rule(Class::Write, Some(P::Write), ObjectGrant::No)
        }
        // Bascule lets the writers of a bucket see the parts of its uploads.
        "s3:ListMultipartUploadParts" => rule(Class::Read, Some(P::Write), ObjectGrant::No),
        "s3:GetObject"
        | "s3:GetObjectVersion"
        | "s3:GetObjectAttributes"
        | "s3:GetObjectVersionAttributes" => rule(Class::Read, None, ObjectGrant::Acl(P::Read)),
        "s3:GetObjectAcl" | "s3:GetObjectVersionAcl" => {
            rule(Class::Read, None, ObjectGrant::Acl(P::ReadAcp))
        }
        "s3:PutObjectAcl" | "s3:PutObjectVersionAcl" => {
            rule(Class::Owner, None, ObjectGrant::Acl(P::WriteAcp))
        }
        "s3:GetObjectTagging" | "s3:GetObjectVersionTagging" => {
            rule(Class::Read, None, ObjectGrant::Owner)
        }
        "s3:PutObjectTagging"
        | "s3:PutObjectVersionTagging"
        | "s3:DeleteObjectTagging"
        | "s3:DeleteObjectVersionTagging" => rule(Class::Write, None, ObjectGrant::Owner),
        "s3:DeleteObjectVersion"
        | "s3:PutObjectRetention"
        | "s3:PutObjectLegalHold"
        | "s3:BypassGovernanceRetention" => rule(Class::Owner, None, ObjectGrant::No),
        "s3:PutBucketLogging" | "s3:GetBucketLogging" => {
            rule(Class::BucketOwner, None, ObjectGrant::No)
        }
        _ => rule(Class::Config, None, ObjectGrant::No),
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
            "s3:object-lock-mode" => header("x-amz-object-lock-mode"),
            "s3:object-lock-retain-until-date" => header("x-amz-object-lock-retain-until-date"),
            "s3:object-lock-legal-hold" => header("x-amz-object-lock-legal-hold"),
            // Request headers named as condition keys (ACL, grants, copy source, encryption,
            // storage class...): their values.
            k => match k.strip_prefix("s3:") {
                Some(h) if h.starts_with("x-amz-") => header(h),
                _ => Vec::new(),
            },
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

/// May this request go ahead? Its operation's action (the version action when it names
/// a version) and every action its headers imply must each be allowed. `object` reads the
/// addressed object; it is called (once) only when the object's ACL, owner or tags could
/// decide.
pub fn authorize(
    req: &AccessRequest<'_>,
    object: impl Fn() -> S3Result<Option<ObjectRecord>>,
) -> S3Result<()> {
    if req.endpoint.row().auth == Auth::None {
        return Ok(());
    }
    let named_version = req.query.iter().any(|(k, _)| k == "versionId");
    let action = req.endpoint.action(named_version);
    if action_rule(action).class == Class::Service {
        return match req.identity {
            Identity::Anonymous => Err(S3Error::new(S3ErrorCode::AccessDenied)),
            Identity::User { .. } => Ok(()),
        };
    }
    // A missing bucket is reported as NoSuchBucket by the handler.
    let Some(b) = req.bucket else { return Ok(()) };
    if req.identity.user().is_some_and(|u| u.admin) {
        return Ok(());
    }
    // A multi-object delete is decided key by key when a policy could tell keys apart.
    if req.endpoint == Endpoint::DeleteObjects && b.policy_json.is_some() {
        return Ok(());
    }
    let loaded: OnceCell<S3Result<Option<ObjectRecord>>> = OnceCell::new();
    let load = || loaded.get_or_init(&object).clone();
    let policy = stored_policy(b)?;
    let implied = req
        .endpoint
        .implied_actions(|h| (req.header)(h).is_some())
        .map(|a| a.action);
    for action in std::iter::once(action).chain(implied) {
        if !allowed(req, b, policy.as_deref(), action, &load)? {
            return Err(S3Error::new(S3ErrorCode::AccessDenied));
        }
    }
    Ok(())
}

/// Is one action allowed to this request's caller on its bucket (and key)?
fn allowed(
    req: &AccessRequest<'_>,
    b: &BucketRecord,
    policy: Option<&Policy>,
    action: &'static str,
    load: &dyn Fn() -> S3Result<Option<ObjectRecord>>,
) -> S3Result<bool> {
    let user = req.identity.user();
    if user.is_some_and(|u| u.admin) {
        return Ok(true);
    }
    let rule = action_rule(action);
    let decision = match policy {
        Some(p) => {
            let resource = match req.key {
                Some(key) => format!("arn:aws:s3:::{}/{key}", b.name),
                None => format!("arn:aws:s3:::{}", b.name),
            };
            let facts = RequestFacts {
                req,
                object: &|| load().ok().flatten(),
            };
            p.decide(&super::policy::Request {
                action,
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
        return Ok(owner && mends_policy);
    }
    if owner {
        return Ok(true);
    }
    // A bucket's settings are never an anonymous caller's to see or change.
    if (user.is_none() && rule.class == Class::Config) || rule.class == Class::BucketOwner {
        return Ok(false);
    }
    // RestrictPublicBuckets: a public policy lets no anonymous caller in.
    let restricted = b.access_block().restrict_public_buckets
        && user.is_none()
        && policy.is_some_and(|p| p.is_public());
    if decision == Decision::Allow && !restricted {
        return Ok(true);
    }
    if let Some(u) = user {
        match (rule.class, b.grants.get(&u.id)) {
            (Class::Read, Some(_)) | (Class::Write, Some(Permission::ReadWrite)) => {
                return Ok(true)
            }
            _ => {}
        }
    }
    if rule
        .bucket_acl
        .is_some_and(|need| acl::allows(acl::effective(b, &b.acl), req.identity, need))
    {
        return Ok(true);
    }
    let need = match rule.object {
        ObjectGrant::No => return Ok(false),
        ObjectGrant::Owner => None,
        ObjectGrant::Acl(p) => Some(p),
    };
    let Some(o) = load()? else {
        return Ok(false);
    };
    let owns = user.is_some_and(|u| u.id == acl::object_owner(b, &o.owner));
    Ok(owns || need.is_some_and(|need| acl::allows(acl::effective(b, &o.acl), req.identity, need)))
}

/// Is one action allowed to the request's caller, on its bucket (`req.key` `None`) or key?
/// For decisions a handler makes beyond the operation's own (whether a missing key may be
/// reported as missing).
pub fn permits(req: &AccessRequest<'_>, action: &'static str) -> S3Result<bool> {
    let Some(b) = req.bucket else {
        return Ok(false);
    };
    let policy = stored_policy(b)?;
    allowed(req, b, policy.as_deref(), action, &|| Ok(None))
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
    // Checked here, when a policy is put, not in `Policy::parse`: a policy stored before
    // this rule is parsed again on every request and must keep working.
    if policy.allows_by_not_principal() {
        return Err(S3Error::msg(
            S3ErrorCode::MalformedPolicy,
            "NotPrincipal is not supported with Allow",
        ));
    }
    Ok((policy, lookup.seen.into_inner()))
}

/// The service principal server access logs are written as.
pub const LOG_DELIVERY_SERVICE: &str = "logging.s3.amazonaws.com";

/// May the log delivery service write `source`'s access log records under `prefix` in
/// `target`? Only when the target's policy allows `logging.s3.amazonaws.com`
/// `s3:PutObject` on `target/prefix`, with `aws:SourceArn` the source bucket's ARN and
/// `aws:SourceAccount` its owner, as AWS's "Permissions for log delivery" describes.
/// Checked when logging is turned on and again at every delivery, so taking the grant
/// away stops deliveries.
pub fn log_delivery_allowed(
    source: &BucketRecord,
    target: &BucketRecord,
    prefix: &str,
) -> S3Result<bool> {
    let Some(policy) = stored_policy(target)? else {
        return Ok(false);
    };
    let facts: BTreeMap<String, Vec<String>> = [
        (
            "aws:sourcearn".to_string(),
            vec![format!("arn:aws:s3:::{}", source.name)],
        ),
        ("aws:sourceaccount".to_string(), vec![source.owner.clone()]),
    ]
    .into_iter()
    .collect();
    Ok(policy.allows_service(
        LOG_DELIVERY_SERVICE,
        "s3:PutObject",
        &format!("arn:aws:s3:::{}/{prefix}", target.name),
        &facts,
    ))
}
