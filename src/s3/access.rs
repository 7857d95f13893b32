//! Who may do what. In order: admins and the bucket's owner do everything in the bucket
//! (as under AWS's default object ownership, the bucket owner controls every object in
//! it); users granted the bucket through the admin API read it (and with `ReadWrite`,
//! write it); then the bucket's ACL, the bucket policy (anonymous `s3:GetObject`), and for
//! operations on one object, that object's ACL and owner.

use super::acl;
use super::auth::Identity;
use super::endpoint::{Access, Endpoint};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{AclPermission, BucketRecord, ObjectRecord, Permission};
use serde_json::Value;

/// Does a bucket policy grant anonymous `s3:GetObject`? Only policies made entirely of such
/// statements are accepted (`check_policy`), so presence means yes.
fn policy_allows_public_get(b: &BucketRecord) -> bool {
    b.policy_json.is_some()
}

/// The bucket ACL permission an operation needs, if a bucket ACL can allow it.
fn bucket_acl_need(endpoint: Endpoint) -> Option<AclPermission> {
    use Endpoint::*;
    match endpoint {
        HeadBucket | ListObjects | ListObjectsV2 | ListObjectVersions | ListMultipartUploads => {
            Some(AclPermission::Read)
        }
        PutObject
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
        GetObject | HeadObject => Some(Some(AclPermission::Read)),
        GetObjectAcl => Some(Some(AclPermission::ReadAcp)),
        PutObjectAcl => Some(Some(AclPermission::WriteAcp)),
        GetObjectTagging | PutObjectTagging | DeleteObjectTagging => Some(None),
        _ => None,
    }
}

/// May `identity` perform `endpoint` on `bucket`? `object` reads the addressed object,
/// and is called only when the object's own ACL or owner could decide.
pub fn authorize(
    endpoint: Endpoint,
    identity: &Identity,
    bucket: Option<&BucketRecord>,
    object: impl FnOnce() -> S3Result<Option<ObjectRecord>>,
) -> S3Result<()> {
    let denied = || Err(S3Error::new(S3ErrorCode::AccessDenied));
    let access = endpoint.access();
    match access {
        Access::Custom => return Ok(()),
        Access::Service => {
            return match identity {
                Identity::Anonymous => denied(),
                Identity::User { .. } => Ok(()),
            }
        }
        _ => {}
    }
    // A missing bucket is reported as NoSuchBucket by the handler.
    let Some(b) = bucket else { return Ok(()) };
    if let Identity::User { user } = identity {
        if user.admin || b.owner == user.id {
            return Ok(());
        }
        match (access, b.grants.get(&user.id)) {
            (Access::Read, Some(_)) | (Access::Write, Some(Permission::ReadWrite)) => return Ok(()),
            _ => {}
        }
    }
    if bucket_acl_need(endpoint).is_some_and(|need| acl::allows(&b.acl, identity, need)) {
        return Ok(());
    }
    let object_read = matches!(endpoint, Endpoint::GetObject | Endpoint::HeadObject);
    if object_read && policy_allows_public_get(b) {
        return Ok(());
    }
    if let Some(need) = object_acl_need(endpoint) {
        if let Some(o) = object()? {
            let owns = identity.user().is_some_and(|u| u.id == o.owner);
            if owns || need.is_some_and(|need| acl::allows(&o.acl, identity, need)) {
                return Ok(());
            }
        }
    }
    denied()
}

/// Accepts only what Bascule enforces: statements that Allow `s3:GetObject` to everyone on
/// this bucket's objects. Anything else is `NotImplemented`, never silently ignored.
pub fn check_policy(bucket: &str, json: &str) -> S3Result<()> {
    let malformed = |m: &str| Err(S3Error::msg(S3ErrorCode::MalformedPolicy, m.to_string()));
    let not_impl = |m: &str| {
        Err(S3Error::msg(
            S3ErrorCode::NotImplemented,
            format!("Bascule supports only bucket policies that allow s3:GetObject to \"*\": {m}"),
        ))
    };
    let doc: Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(_) => return malformed("Policies must be valid JSON"),
    };
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        Some(o @ Value::Object(_)) => vec![o.clone()],
        _ => return malformed("Missing required field Statement"),
    };
    let as_list = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect(),
            _ => vec![],
        }
    };
    for st in &statements {
        if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
            return not_impl("only Effect Allow is supported");
        }
        if st.get("Condition").is_some()
            || st.get("NotPrincipal").is_some()
            || st.get("NotAction").is_some()
        {
            return not_impl("conditions and Not* elements are not supported");
        }
        let principal_is_everyone = match st.get("Principal") {
            Some(Value::String(s)) => s == "*",
            Some(Value::Object(m)) => as_list(m.get("AWS")) == vec!["*".to_string()],
            _ => false,
        };
        if !principal_is_everyone {
            return not_impl("only Principal \"*\" is supported");
        }
        let actions = as_list(st.get("Action"));
        if actions.is_empty() || actions.iter().any(|a| a != "s3:GetObject") {
            return not_impl("only the s3:GetObject action is supported");
        }
        let expected = format!("arn:aws:s3:::{bucket}/*");
        let resources = as_list(st.get("Resource"));
        if resources.is_empty() || resources.iter().any(|r| *r != expected) {
            return not_impl(&format!("the resource must be {expected}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        let ok = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}"#;
        assert!(check_policy("b", ok).is_ok());
        let ok2 = r#"{"Statement":{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::b/*"]}}"#;
        assert!(check_policy("b", ok2).is_ok());
        let put = ok.replace("s3:GetObject", "s3:PutObject");
        assert_eq!(
            check_policy("b", &put).unwrap_err().code,
            S3ErrorCode::NotImplemented
        );
        let deny = ok.replace("Allow", "Deny");
        assert_eq!(
            check_policy("b", &deny).unwrap_err().code,
            S3ErrorCode::NotImplemented
        );
        assert_eq!(
            check_policy("b", "{nope").unwrap_err().code,
            S3ErrorCode::MalformedPolicy
        );
        assert_eq!(
            check_policy("other", ok).unwrap_err().code,
            S3ErrorCode::NotImplemented
        );
    }
}
