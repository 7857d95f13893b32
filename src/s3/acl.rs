//! S3 access control lists: the canned ACL (`x-amz-acl`) and grant headers
//! (`x-amz-grant-*`) of a request, the documents of Get/Put Bucket and Object ACL, and
//! whether a list of grants gives a caller a permission. The owner's full control is
//! implicit (never stored, shown with the grants) unless the ACL as set leaves the owner
//! without it: then the stored grants are the whole ACL (`Acl::without_owner`), as AWS
//! keeps an ACL document or grant headers that name only others.

use super::auth::Identity;
use super::owners::Owners;
use super::response::xml_response;
use crate::store::Store;
use axum::response::Response;
use bascule_api::xml::{self, AclDocument, AclGrant, S3_NAMESPACE};
use bascule_api::xml_exact::parse_access_control_policy;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{AclPermission, BucketRecord, Grant, Grantee, ObjectOwnership};

pub const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
pub const AUTHENTICATED_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
const LOG_DELIVERY: &str = "http://acs.amazonaws.com/groups/s3/LogDelivery";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// AWS's limit on grants in one ACL.
const MAX_GRANTS: usize = 100;

/// The grant headers and the permission each gives.
const GRANT_HEADERS: [(&str, AclPermission); 5] = [
    ("x-amz-grant-read", AclPermission::Read),
    ("x-amz-grant-write", AclPermission::Write),
    ("x-amz-grant-read-acp", AclPermission::ReadAcp),
    ("x-amz-grant-write-acp", AclPermission::WriteAcp),
    ("x-amz-grant-full-control", AclPermission::FullControl),
];

/// What an ACL is being set on: canned ACLs mean different grants for each.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    Bucket,
    /// An object written by `writer` into a bucket owned by `bucket_owner`.
    Object {
        bucket_owner: &'a str,
        writer: &'a str,
    },
}

fn grant(grantee: Grantee, permission: AclPermission) -> Grant {
    Grant {
        grantee,
        permission,
    }
}

/// The grants of a canned ACL.
fn canned(name: &str, target: Target<'_>) -> S3Result<Vec<Grant>> {
    use AclPermission::*;
    let for_bucket_owner = |permission| match target {
        // The object's writer owns the object; a grant to the bucket owner only means
        // something when they differ.
        Target::Object {
            bucket_owner,
            writer,
        } if bucket_owner != writer => vec![grant(Grantee::User(bucket_owner.into()), permission)],
        _ => vec![],
    };
    Ok(match name {
        "private" => vec![],
        "public-read" => vec![grant(Grantee::AllUsers, Read)],
        "public-read-write" => vec![
            grant(Grantee::AllUsers, Read),
            grant(Grantee::AllUsers, Write),
        ],
        "authenticated-read" => vec![grant(Grantee::AuthenticatedUsers, Read)],
        "bucket-owner-read" => for_bucket_owner(Read),
        "bucket-owner-full-control" => for_bucket_owner(FullControl),
        "log-delivery-write" | "aws-exec-read" => {
            return Err(S3Error::msg(
                S3ErrorCode::NotImplemented,
                format!("The canned ACL '{name}' is not implemented by Bascule"),
            ))
        }
        other => {
            return Err(S3Error::msg(
                S3ErrorCode::InvalidArgument,
                format!("'{other}' is not a canned ACL"),
            )
            .with("ArgumentName", "x-amz-acl")
            .with("ArgumentValue", other.to_string()))
        }
    })
}

/// Resolves a grantee as a request names it (by user id, group URI or email).
fn resolve(
    store: &Store,
    id: Option<&str>,
    uri: Option<&str>,
    email: Option<&str>,
) -> S3Result<Grantee> {
    let invalid = |name: &str, value: &str, msg: &str| {
        S3Error::msg(S3ErrorCode::InvalidArgument, msg.to_string())
            .with("ArgumentName", name.to_string())
            .with("ArgumentValue", value.to_string())
    };
    match (id, uri, email) {
        (Some(id), None, None) => match store.user(id)? {
            Some(u) => Ok(Grantee::User(u.id)),
            None => Err(invalid("CanonicalUser/ID", id, "Invalid id")),
        },
        (None, Some(uri), None) => match uri {
            ALL_USERS => Ok(Grantee::AllUsers),
            AUTHENTICATED_USERS => Ok(Grantee::AuthenticatedUsers),
            LOG_DELIVERY => Err(S3Error::msg(
                S3ErrorCode::NotImplemented,
                "Grants to the LogDelivery group are not implemented: allow the service principal logging.s3.amazonaws.com in the target bucket's policy",
            )),
            other => Err(invalid("Group/URI", other, "Invalid group uri")),
        },
        // Users are addressed by email through their name (names may be email addresses).
        (None, None, Some(email)) => match store.find_user(email)? {
            Some(u) if u.name == email => Ok(Grantee::User(u.id)),
            _ => Err(S3Error::new(S3ErrorCode::UnresolvableGrantByEmailAddress)
                .with("EmailAddress", email.to_string())),
        },
        _ => Err(S3Error::new(S3ErrorCode::MalformedACLError)),
    }
}

/// `id="..", uri="..", emailAddress=".."`, comma-separated.
fn grant_header(store: &Store, value: &str, permission: AclPermission) -> S3Result<Vec<Grant>> {
    let invalid = || {
        S3Error::msg(S3ErrorCode::InvalidArgument, "Invalid grant header")
            .with("ArgumentValue", value.to_string())
    };
    let mut out = Vec::new();
    for item in value.split(',') {
        let (kind, v) = item.trim().split_once('=').ok_or_else(invalid)?;
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        let grantee = match kind.trim() {
            "id" => resolve(store, Some(v), None, None)?,
            "uri" => resolve(store, None, Some(v), None)?,
            "emailAddress" => resolve(store, None, None, Some(v))?,
            _ => return Err(invalid()),
        };
        out.push(grant(grantee, permission));
    }
    Ok(out)
}

/// An ACL ready to store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acl {
    pub grants: Vec<Grant>,
    /// The ACL does not give the owner full control: `grants` is all of it, the owner's
    /// own grants included. Otherwise the owner's full control is implied and not stored.
    pub without_owner: bool,
}

/// Duplicates are kept once. When the owner has full control it is left implicit (its
/// other grants add nothing); otherwise the grants are kept whole, the owner's included.
fn settle(grants: Vec<Grant>, owner: &str) -> S3Result<Acl> {
    let mut out: Vec<Grant> = Vec::new();
    for g in grants {
        if !out.contains(&g) {
            out.push(g);
        }
    }
    if out.len() > MAX_GRANTS {
        return Err(S3Error::msg(
            S3ErrorCode::MalformedACLError,
            format!("An ACL holds at most {MAX_GRANTS} grants"),
        ));
    }
    let is_owner = |g: &Grant| g.grantee == Grantee::User(owner.to_string());
    let owner_full = out
        .iter()
        .any(|g| is_owner(g) && g.permission == AclPermission::FullControl);
    if owner_full {
        out.retain(|g| !is_owner(g));
    }
    Ok(Acl {
        grants: out,
        without_owner: !owner_full,
    })
}

/// The owner's full control, which every canned ACL gives.
fn with_owner(mut grants: Vec<Grant>, owner: &str) -> Vec<Grant> {
    grants.insert(
        0,
        grant(Grantee::User(owner.to_string()), AclPermission::FullControl),
    );
    grants
}

/// The ACL a request's headers ask for: `None` when it names none.
pub fn from_headers(
    store: &Store,
    header: impl Fn(&str) -> Option<String>,
    target: Target<'_>,
    owner: &str,
) -> S3Result<Option<Acl>> {
    let canned_acl = header("x-amz-acl");
    let mut grants = Vec::new();
    let mut any_grant_header = false;
    for (name, permission) in GRANT_HEADERS {
        if let Some(v) = header(name) {
            any_grant_header = true;
            grants.extend(grant_header(store, &v, permission)?);
        }
    }
    match (canned_acl, any_grant_header) {
        (Some(_), true) => Err(S3Error::msg(
            S3ErrorCode::InvalidRequest,
            "Specifying both Canned ACLs and Header Grants is not allowed",
        )),
        (Some(c), false) => Ok(Some(settle(with_owner(canned(&c, target)?, owner), owner)?)),
        (None, true) => Ok(Some(settle(grants, owner)?)),
        (None, false) => Ok(None),
    }
}

/// The ACL of a PutBucketAcl / PutObjectAcl document.
pub fn from_document(store: &Store, body: &[u8], owner: &str) -> S3Result<Acl> {
    let AclDocument { owner_id, grants } = parse_access_control_policy(body)?;
    if owner_id.as_deref().is_some_and(|id| id != owner) {
        return Err(S3Error::msg(
            S3ErrorCode::AccessDenied,
            "The ACL names an owner other than the resource's",
        ));
    }
    let mut out = Vec::new();
    for g in grants {
        let permission = match g.permission.as_str() {
            "READ" => AclPermission::Read,
            "WRITE" => AclPermission::Write,
            "READ_ACP" => AclPermission::ReadAcp,
            "WRITE_ACP" => AclPermission::WriteAcp,
            "FULL_CONTROL" => AclPermission::FullControl,
            _ => return Err(S3Error::new(S3ErrorCode::MalformedACLError)),
        };
        out.push(grant_of(store, &g, permission)?);
    }
    settle(out, owner)
}

/// A grant of `permission` to the grantee a document names (by id, group or email).
pub fn grant_of(store: &Store, g: &AclGrant, permission: AclPermission) -> S3Result<Grant> {
    let grantee = match g.kind.as_str() {
        "CanonicalUser" => resolve(store, g.id.as_deref(), None, None)?,
        "Group" => resolve(store, None, g.uri.as_deref(), None)?,
        "AmazonCustomerByEmail" => resolve(store, None, None, g.email.as_deref())?,
        _ => return Err(S3Error::new(S3ErrorCode::MalformedACLError)),
    };
    Ok(grant(grantee, permission))
}

/// Do these grants give this caller `need`?
pub fn allows<'a>(
    grants: impl IntoIterator<Item = &'a Grant>,
    identity: &Identity,
    need: AclPermission,
) -> bool {
    grants.into_iter().any(|g| {
        let who = match (&g.grantee, identity) {
            (Grantee::AllUsers, _) => true,
            (Grantee::AuthenticatedUsers, Identity::User { .. }) => true,
            (Grantee::User(id), Identity::User { user }) => *id == user.id,
            _ => false,
        };
        who && (g.permission == need || g.permission == AclPermission::FullControl)
    })
}

fn permission_name(p: AclPermission) -> &'static str {
    match p {
        AclPermission::Read => "READ",
        AclPermission::Write => "WRITE",
        AclPermission::ReadAcp => "READ_ACP",
        AclPermission::WriteAcp => "WRITE_ACP",
        AclPermission::FullControl => "FULL_CONTROL",
    }
}

/// Who owns an object: its writer, or, once the bucket has `BucketOwnerEnforced`, the
/// bucket's owner, for every object in it, written before the setting or after.
pub fn object_owner<'a>(bucket: &'a BucketRecord, writer: &'a str) -> &'a str {
    if bucket.ownership() == ObjectOwnership::BucketOwnerEnforced {
        &bucket.owner
    } else {
        writer
    }
}

/// The `AccessControlPolicy` document of a bucket or object in `bucket`: the grants that
/// count under its settings (`effective`).
/// The ACL document of a bucket or object whose stored `grants` leave the owner out when
/// `without_owner` (see [`Acl`]).
pub fn response(
    owners: &Owners<'_>,
    bucket: &BucketRecord,
    owner: &str,
    grants: &[Grant],
    without_owner: bool,
) -> Response {
    // Group grants first, then the owner's full control, then other users: the order
    // AWS and RGW answer in, which clients comparing lists rely on.
    let effective = effective(bucket, grants);
    let (groups, users): (Vec<&Grant>, Vec<&Grant>) = effective
        .into_iter()
        .partition(|g| !matches!(g.grantee, Grantee::User(_)));
    let owner_grant = grant_xml(
        owners,
        &Grant {
            grantee: Grantee::User(owner.to_string()),
            permission: AclPermission::FullControl,
        },
    );
    let grant = |g: &Grant| grant_xml(owners, g);
    // An ACL that leaves the owner out is shown as it was set (the owner keeps the
    // implicit READ_ACP and WRITE_ACP every owner has, as on AWS).
    // With ACLs disabled the owner's full control is all there is.
    let enforced = bucket.ownership() == ObjectOwnership::BucketOwnerEnforced;
    let implied_owner = (!without_owner || enforced).then_some(owner_grant);
    let list = groups
        .into_iter()
        .map(grant)
        .chain(implied_owner)
        .chain(users.into_iter().map(grant))
        .collect();
    xml_response(
        "AccessControlPolicy",
        &xml::AccessControlPolicy {
            xmlns: S3_NAMESPACE,
            owner: owners.get(owner),
            access_control_list: xml::AccessControlList { grant: list },
        },
    )
}

/// One grant as a response shows it.
pub fn grant_xml(owners: &Owners<'_>, g: &Grant) -> xml::Grant {
    let group = |uri: &str| xml::Grantee {
        xmlns_xsi: XSI,
        kind: "Group",
        id: None,
        display_name: None,
        uri: Some(uri.to_string()),
    };
    xml::Grant {
        grantee: match &g.grantee {
            Grantee::User(id) => {
                let o = owners.get(id);
                xml::Grantee {
                    xmlns_xsi: XSI,
                    kind: "CanonicalUser",
                    id: Some(o.id),
                    display_name: Some(o.display_name),
                    uri: None,
                }
            }
            Grantee::AllUsers => group(ALL_USERS),
            Grantee::AuthenticatedUsers => group(AUTHENTICATED_USERS),
        },
        permission: permission_name(g.permission),
    }
}

/// Does this ACL open anything to everyone or to every signed user?
pub fn is_public(grants: &[Grant]) -> bool {
    grants
        .iter()
        .any(|g| matches!(g.grantee, Grantee::AllUsers | Grantee::AuthenticatedUsers))
}

/// Refuses an ACL a request asks for (`grants`, and `canned`, its `x-amz-acl` if any) that
/// the bucket's settings forbid: with ACLs disabled (`BucketOwnerEnforced`), any grant
/// beyond the owner's implicit full control, and any canned ACL but
/// `bucket-owner-full-control` (even `private`, as on AWS); a public grant while public
/// ACLs are blocked.
pub fn check_settable(
    bucket: &BucketRecord,
    grants: &[Grant],
    canned: Option<&str>,
) -> S3Result<()> {
    if bucket.ownership() == ObjectOwnership::BucketOwnerEnforced
        && (!grants.is_empty() || canned.is_some_and(|c| c != "bucket-owner-full-control"))
    {
        return Err(S3Error::new(S3ErrorCode::AccessControlListNotSupported));
    }
    if bucket.access_block().block_public_acls && is_public(grants) {
        return Err(S3Error::msg(
            S3ErrorCode::AccessDenied,
            "Public ACLs are blocked by this bucket's PublicAccessBlock",
        ));
    }
    Ok(())
}

/// The grants that count when deciding access: none while ACLs are disabled, and no public
/// ones while public ACLs are ignored.
pub fn effective<'a>(bucket: &BucketRecord, grants: &'a [Grant]) -> Vec<&'a Grant> {
    if bucket.ownership() == ObjectOwnership::BucketOwnerEnforced {
        return Vec::new();
    }
    let ignore_public = bucket.access_block().ignore_public_acls;
    grants
        .iter()
        .filter(|g| !(ignore_public && is_public(std::slice::from_ref(*g))))
        .collect()
}

/// Who owns an object a request creates, and its ACL.
pub struct NewObjectAcl {
    pub owner: String,
    pub acl: Acl,
}

/// The owner and ACL of a new object, under the bucket's ownership and public access
/// settings. `header` reads the request's headers (or a form's fields).
pub fn for_new_object(
    store: &Store,
    bucket: &BucketRecord,
    writer: &str,
    header: impl Fn(&str) -> Option<String>,
) -> S3Result<NewObjectAcl> {
    let canned_acl = header("x-amz-acl");
    let owner = match bucket.ownership() {
        ObjectOwnership::BucketOwnerEnforced => bucket.owner.clone(),
        ObjectOwnership::BucketOwnerPreferred
            if canned_acl.as_deref() == Some("bucket-owner-full-control") =>
        {
            bucket.owner.clone()
        }
        _ => writer.to_string(),
    };
    let target = Target::Object {
        bucket_owner: &bucket.owner,
        writer: &owner,
    };
    let acl = from_headers(store, header, target, &owner)?.unwrap_or_default();
    check_settable(bucket, &acl.grants, canned_acl.as_deref())?;
    Ok(NewObjectAcl { owner, acl })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canned_acls_for_buckets_and_objects() {
        let obj = Target::Object {
            bucket_owner: "bo",
            writer: "w",
        };
        assert_eq!(canned("private", obj).unwrap(), vec![]);
        assert_eq!(
            canned("public-read-write", Target::Bucket).unwrap().len(),
            2
        );
        assert_eq!(
            canned("bucket-owner-full-control", obj).unwrap(),
            vec![grant(
                Grantee::User("bo".into()),
                AclPermission::FullControl
            )]
        );
        let own = Target::Object {
            bucket_owner: "bo",
            writer: "bo",
        };
        assert_eq!(canned("bucket-owner-read", own).unwrap(), vec![]);
        assert_eq!(
            canned("public", obj).unwrap_err().code,
            S3ErrorCode::InvalidArgument
        );
        assert_eq!(
            canned("log-delivery-write", Target::Bucket)
                .unwrap_err()
                .code,
            S3ErrorCode::NotImplemented
        );
    }

    #[test]
    fn full_control_implies_every_permission() {
        let grants = vec![
            grant(Grantee::AllUsers, AclPermission::Read),
            grant(Grantee::User("u".into()), AclPermission::FullControl),
        ];
        assert!(allows(&grants, &Identity::Anonymous, AclPermission::Read));
        assert!(!allows(&grants, &Identity::Anonymous, AclPermission::Write));
        let settled = settle(grants.clone(), "u").unwrap();
        assert_eq!(
            settled.grants.len(),
            1,
            "the owner's full control is implicit"
        );
        assert!(!settled.without_owner);
        // Grants that leave the owner out are kept whole, the owner's lesser ones too.
        let others = vec![
            grant(Grantee::AllUsers, AclPermission::Read),
            grant(Grantee::User("u".into()), AclPermission::Read),
        ];
        let settled = settle(others.clone(), "u").unwrap();
        assert_eq!(settled.grants, others);
        assert!(settled.without_owner);
        let none = settle(Vec::new(), "u").unwrap();
        assert!(none.grants.is_empty() && none.without_owner);
        // A canned ACL always gives the owner full control.
        let private = settle(
            with_owner(canned("private", Target::Bucket).unwrap(), "u"),
            "u",
        )
        .unwrap();
        assert_eq!(private, Acl::default());
    }
}
