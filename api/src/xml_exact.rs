//! Request documents whose text is the client's bytes (object keys, tag keys and values):
//! read with whitespace kept exactly and the schema checked strictly. serde's XML reader
//! trims text, which turned the key `"_ "` into `"_"`; and it accepted any root or unknown
//! elements, so a stray document could erase an object's tags.

use crate::error::{S3Error, S3ErrorCode, S3Result};
use crate::xml::{
    AclDocument, AclGrant, Delete, LoggingEnabledDoc, ObjectIdentifier, Tag, TagSet, Tagging,
};
use crate::xml_tree::{malformed, parse, Element};

/// `<Delete><Quiet>?<Object><Key/><VersionId>?</Object>+</Delete>`.
pub fn parse_delete(body: &[u8]) -> S3Result<Delete> {
    let root = parse(body)?;
    let mut doc = Delete {
        quiet: false,
        object: Vec::new(),
    };
    for child in root.container("Delete")? {
        match child.name.as_str() {
            "Quiet" => {
                doc.quiet = match child.leaf()?.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(malformed()),
                }
            }
            "Object" => {
                let (mut key, mut version_id) = (None, None);
                for f in child.container("Object")? {
                    match f.name.as_str() {
                        "Key" if key.is_none() => key = Some(f.leaf()?),
                        "VersionId" if version_id.is_none() => version_id = Some(f.leaf()?),
                        // Conditional deletes (ETag, LastModifiedTime, Size) are not
                        // supported: refusing beats ignoring them.
                        _ => return Err(malformed()),
                    }
                }
                doc.object.push(ObjectIdentifier {
                    key: key.ok_or_else(malformed)?,
                    version_id,
                });
            }
            _ => return Err(malformed()),
        }
    }
    Ok(doc)
}

/// `<Tagging><TagSet><Tag><Key/><Value/></Tag>*</TagSet></Tagging>`.
pub fn parse_tagging(body: &[u8]) -> S3Result<Tagging> {
    let root = parse(body)?;
    let sets = root.container("Tagging")?;
    let [set] = sets else {
        return Err(malformed());
    };
    let mut tags = Vec::new();
    for tag in set.container("TagSet")? {
        let (mut key, mut value) = (None, None);
        for f in tag.container("Tag")? {
            match f.name.as_str() {
                "Key" if key.is_none() => key = Some(f.leaf()?),
                "Value" if value.is_none() => value = Some(f.leaf()?),
                _ => return Err(malformed()),
            }
        }
        tags.push(Tag {
            key: key.ok_or_else(malformed)?,
            value: value.ok_or_else(malformed)?,
        });
    }
    Ok(Tagging {
        xmlns: String::new(),
        tag_set: TagSet { tag: tags },
    })
}

/// `<AccessControlPolicy><Owner><ID/><DisplayName/>?</Owner>?<AccessControlList>
/// <Grant><Grantee xsi:type="..."><ID/>|<URI/>|<EmailAddress/><DisplayName/>?</Grantee>
/// <Permission/></Grant>*</AccessControlList></AccessControlPolicy>`. Any other shape is
/// `MalformedACLError`, as AWS answers.
pub fn parse_access_control_policy(body: &[u8]) -> S3Result<AclDocument> {
    let bad = || S3Error::new(S3ErrorCode::MalformedACLError);
    let root = parse(body).map_err(|_| bad())?;
    let mut doc = AclDocument::default();
    let mut seen_list = false;
    for child in root.container("AccessControlPolicy").map_err(|_| bad())? {
        match child.name.as_str() {
            "Owner" if doc.owner_id.is_none() => {
                for f in child.container("Owner").map_err(|_| bad())? {
                    match f.name.as_str() {
                        "ID" => doc.owner_id = Some(f.leaf().map_err(|_| bad())?),
                        "DisplayName" => {}
                        _ => return Err(bad()),
                    }
                }
            }
            "AccessControlList" if !seen_list => {
                seen_list = true;
                for g in child.container("AccessControlList").map_err(|_| bad())? {
                    doc.grants.push(parse_grant(g).ok_or_else(bad)?);
                }
            }
            _ => return Err(bad()),
        }
    }
    if !seen_list {
        return Err(bad());
    }
    Ok(doc)
}

fn parse_grant(g: &Element) -> Option<AclGrant> {
    let mut grant = AclGrant::default();
    let (mut grantee_seen, mut permission) = (false, None);
    for f in g.container("Grant").ok()? {
        match f.name.as_str() {
            "Grantee" if !grantee_seen => {
                grantee_seen = true;
                grant.kind = f.xsi_type.clone()?;
                for v in f.container("Grantee").ok()? {
                    let text = v.leaf().ok()?;
                    match v.name.as_str() {
                        "ID" => grant.id = Some(text),
                        "URI" => grant.uri = Some(text),
                        "EmailAddress" => grant.email = Some(text),
                        "DisplayName" => {}
                        _ => return None,
                    }
                }
            }
            "Permission" if permission.is_none() => permission = Some(f.leaf().ok()?),
            _ => return None,
        }
    }
    grant.permission = permission?;
    grantee_seen.then_some(grant)
}

/// `<PublicAccessBlockConfiguration>` with any of its four booleans, each at most once:
/// (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets).
pub fn parse_public_access_block(body: &[u8]) -> S3Result<[bool; 4]> {
    let root = parse(body)?;
    const NAMES: [&str; 4] = [
        "BlockPublicAcls",
        "IgnorePublicAcls",
        "BlockPublicPolicy",
        "RestrictPublicBuckets",
    ];
    let mut out = [false; 4];
    let mut seen = [false; 4];
    for child in root.container("PublicAccessBlockConfiguration")? {
        let i = NAMES
            .iter()
            .position(|n| *n == child.name)
            .filter(|i| !seen[*i])
            .ok_or_else(malformed)?;
        seen[i] = true;
        out[i] = match child.leaf()?.trim() {
            "true" => true,
            "false" => false,
            _ => return Err(malformed()),
        };
    }
    Ok(out)
}

/// `<OwnershipControls><Rule><ObjectOwnership>X</ObjectOwnership></Rule></OwnershipControls>`.
pub fn parse_ownership_controls(body: &[u8]) -> S3Result<String> {
    let root = parse(body)?;
    let [rule] = root.container("OwnershipControls")? else {
        return Err(malformed());
    };
    let [value] = rule.container("Rule")? else {
        return Err(malformed());
    };
    if value.name != "ObjectOwnership" {
        return Err(malformed());
    }
    Ok(value.leaf()?.trim().to_string())
}

/// `<BucketLoggingStatus><LoggingEnabled>?</BucketLoggingStatus>`; `None` turns logging
/// off. `LoggingEnabled` holds `TargetBucket`, `TargetPrefix`, optional `TargetGrants`
/// (`<Grant>` as in an ACL) and optional `TargetObjectKeyFormat` (`<SimplePrefix/>` or
/// `<PartitionedPrefix><PartitionDateSource/></PartitionedPrefix>`). Anything else is
/// `MalformedXML`: an element Bascule does not know would otherwise be silently ignored.
pub fn parse_bucket_logging_status(body: &[u8]) -> S3Result<Option<LoggingEnabledDoc>> {
    let root = parse(body)?;
    let enabled = match root.container("BucketLoggingStatus")? {
        [] => return Ok(None),
        [one] if one.name == "LoggingEnabled" => one,
        _ => return Err(malformed()),
    };
    let (mut bucket, mut prefix, mut grants, mut format) = (None, None, None, None);
    for f in enabled.container("LoggingEnabled")? {
        match f.name.as_str() {
            "TargetBucket" if bucket.is_none() => bucket = Some(f.leaf()?),
            "TargetPrefix" if prefix.is_none() => prefix = Some(f.leaf()?),
            "TargetGrants" if grants.is_none() => {
                let list = f
                    .container("TargetGrants")?
                    .iter()
                    .map(|g| parse_grant(g).ok_or_else(malformed))
                    .collect::<S3Result<Vec<_>>>()?;
                grants = Some(list);
            }
            "TargetObjectKeyFormat" if format.is_none() => {
                format = Some(match f.container("TargetObjectKeyFormat")? {
                    [simple] if simple.name == "SimplePrefix" => {
                        simple.container("SimplePrefix")?;
                        None
                    }
                    [part] if part.name == "PartitionedPrefix" => {
                        match part.container("PartitionedPrefix")? {
                            [] => Some("EventTime".to_string()),
                            [source] if source.name == "PartitionDateSource" => {
                                Some(source.leaf()?)
                            }
                            _ => return Err(malformed()),
                        }
                    }
                    _ => return Err(malformed()),
                });
            }
            _ => return Err(malformed()),
        }
    }
    Ok(Some(LoggingEnabledDoc {
        target_bucket: bucket.ok_or_else(malformed)?,
        target_prefix: prefix.ok_or_else(malformed)?,
        target_grants: grants.unwrap_or_default(),
        partition_date_source: format.flatten(),
    }))
}

/// A bucket's default encryption as a request gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionDefaultDoc {
    pub sse_algorithm: String,
    pub kms_master_key_id: Option<String>,
    pub bucket_key_enabled: bool,
}

/// `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>
/// <SSEAlgorithm/><KMSMasterKeyID/>?</ApplyServerSideEncryptionByDefault>
/// <BucketKeyEnabled/>?</Rule></ServerSideEncryptionConfiguration>`: exactly one rule
/// (AWS takes one). `BlockedEncryptionTypes` is refused as unknown: Bascule does not
/// block SSE-C per bucket, and a setting must never be accepted and ignored.
pub fn parse_encryption_configuration(body: &[u8]) -> S3Result<EncryptionDefaultDoc> {
    let root = parse(body)?;
    let [rule] = root.container("ServerSideEncryptionConfiguration")? else {
        return Err(malformed());
    };
    let (mut default, mut bucket_key) = (None, None);
    for f in rule.container("Rule")? {
        match f.name.as_str() {
            "ApplyServerSideEncryptionByDefault" if default.is_none() => {
                let (mut alg, mut key) = (None, None);
                for d in f.container("ApplyServerSideEncryptionByDefault")? {
                    match d.name.as_str() {
                        "SSEAlgorithm" if alg.is_none() => alg = Some(d.leaf()?.trim().to_string()),
                        "KMSMasterKeyID" if key.is_none() => {
                            key = Some(d.leaf()?.trim().to_string())
                        }
                        _ => return Err(malformed()),
                    }
                }
                default = Some((alg.ok_or_else(malformed)?, key));
            }
            "BucketKeyEnabled" if bucket_key.is_none() => {
                bucket_key = Some(match f.leaf()?.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(malformed()),
                });
            }
            _ => return Err(malformed()),
        }
    }
    let (sse_algorithm, kms_master_key_id) = default.ok_or_else(malformed)?;
    Ok(EncryptionDefaultDoc {
        sse_algorithm,
        kms_master_key_id: kms_master_key_id.filter(|k| !k.is_empty()),
        bucket_key_enabled: bucket_key.unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_keep_their_spaces() {
        let d = parse_delete(
            b"<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>\n  <Object><Key>_ </Key></Object><Object><Key> </Key><VersionId>null</VersionId></Object></Delete>",
        )
        .unwrap();
        assert!(d.quiet);
        let keys: Vec<&str> = d.object.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, vec!["_ ", " "]);
        assert_eq!(d.object[1].version_id.as_deref(), Some("null"));
        let t = parse_tagging(
            b"<Tagging><TagSet><Tag><Key> a b </Key><Value>x&amp;y </Value></Tag></TagSet></Tagging>",
        )
        .unwrap();
        assert_eq!(t.tag_set.tag[0].key, " a b ");
        assert_eq!(t.tag_set.tag[0].value, "x&y ");
    }

    #[test]
    fn schema_is_checked() {
        for bad in [
            &b"<Other><TagSet/></Other>"[..],
            b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value><Extra/></Tag></TagSet></Tagging>",
            b"<Tagging><TagSet><Tag><Key>k</Key></Tag></TagSet></Tagging>",
            b"<Tagging><Nope/></Tagging>",
            b"<Tagging><TagSet></TagSet><TagSet></TagSet></Tagging>",
            b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag>",
            b"<a><b><c><d><e><f><g><h><i><j></j></i></h></g></f></e></d></c></b></a>",
            b"",
        ] {
            assert!(
                parse_tagging(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_delete(b"<Delete><Object></Object></Delete>").is_err());
        assert!(parse_delete(b"<Delete><Quiet>maybe</Quiet></Delete>").is_err());
        assert!(parse_delete(b"<Tagging/>").is_err());
        assert!(parse_tagging(b"<Tagging><TagSet/></Tagging>").is_ok());
    }

    #[test]
    fn access_control_policy_documents() {
        let doc = br#"<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>"#;
        let acl = parse_access_control_policy(doc).unwrap();
        assert_eq!(acl.owner_id.as_deref(), Some("o"));
        assert_eq!(acl.grants.len(), 1);
        assert_eq!(acl.grants[0].kind, "Group");
        assert_eq!(acl.grants[0].permission, "READ");
        for bad in [
            &b"<AccessControlPolicy/>"[..],
            b"<Tagging><TagSet/></Tagging>",
            b"<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>x</ID></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>",
        ] {
            assert_eq!(
                parse_access_control_policy(bad).unwrap_err().code,
                S3ErrorCode::MalformedACLError
            );
        }
    }

    #[test]
    fn bucket_logging_documents() {
        let doc = |inner: &str| format!("<BucketLoggingStatus>{inner}</BucketLoggingStatus>");
        assert_eq!(
            parse_bucket_logging_status(doc("").as_bytes()).unwrap(),
            None
        );
        let on = parse_bucket_logging_status(
            doc("<LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix> a/ </TargetPrefix><TargetObjectKeyFormat><PartitionedPrefix><PartitionDateSource>DeliveryTime</PartitionDateSource></PartitionedPrefix></TargetObjectKeyFormat></LoggingEnabled>").as_bytes(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(on.target_bucket, "logs");
        assert_eq!(on.target_prefix, " a/ ", "the prefix is the client's bytes");
        assert_eq!(on.partition_date_source.as_deref(), Some("DeliveryTime"));
        for bad in [
            "<LoggingEnabled><TargetPrefix>a/</TargetPrefix></LoggingEnabled>",
            "<LoggingEnabled><TargetBucket>l</TargetBucket></LoggingEnabled>",
            "<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/><LoggingType>Journal</LoggingType></LoggingEnabled>",
            "<LoggingEnabled><TargetBucket>l</TargetBucket><TargetPrefix/></LoggingEnabled><LoggingEnabled/>",
            "<Other/>",
        ] {
            assert!(parse_bucket_logging_status(doc(bad).as_bytes()).is_err(), "{bad}");
        }
    }
}
