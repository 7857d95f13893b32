//! Request documents whose text is the client's bytes (object keys, tag keys and values):
//! read with whitespace kept exactly and the schema checked strictly. serde's XML reader
//! trims text, which turned the key `"_ "` into `"_"`; and it accepted any root or unknown
//! elements, so a stray document could erase an object's tags.

use crate::error::{S3Error, S3ErrorCode, S3Result};
use crate::xml::{AclDocument, AclGrant, Delete, ObjectIdentifier, Tag, TagSet, Tagging};
use quick_xml::events::Event;
use quick_xml::Reader;

/// Deeper documents are refused (S3's documents nest three or four levels).
const MAX_DEPTH: usize = 8;

/// One element: its local name, its text (exactly as sent, entities resolved) and children.
#[derive(Debug, Default)]
struct Element {
    name: String,
    /// The `xsi:type` attribute (ACL grantees), by local name.
    xsi_type: Option<String>,
    text: String,
    children: Vec<Element>,
}

fn element(e: &quick_xml::events::BytesStart) -> S3Result<Element> {
    let name = String::from_utf8(e.local_name().as_ref().to_vec()).map_err(|_| malformed())?;
    let mut xsi_type = None;
    for a in e.attributes() {
        let a = a.map_err(|_| malformed())?;
        if a.key.local_name().as_ref() == b"type" {
            let v = a.unescape_value().map_err(|_| malformed())?;
            xsi_type = Some(v.into_owned());
        }
    }
    Ok(Element {
        name,
        xsi_type,
        ..Element::default()
    })
}

fn malformed() -> S3Error {
    S3Error::new(S3ErrorCode::MalformedXML)
}

fn parse(body: &[u8]) -> S3Result<Element> {
    let text = std::str::from_utf8(body).map_err(|_| malformed())?;
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root = None;
    loop {
        match reader.read_event().map_err(|_| malformed())? {
            Event::Start(e) => {
                if root.is_some() || stack.len() >= MAX_DEPTH {
                    return Err(malformed());
                }
                stack.push(element(&e)?);
            }
            Event::Empty(e) => {
                let el = element(&e)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None if root.is_none() => root = Some(el),
                    None => return Err(malformed()),
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or_else(malformed)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.unescape().map_err(|_| malformed())?;
                match stack.last_mut() {
                    Some(el) => el.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(malformed()),
                }
            }
            Event::CData(c) => {
                let s = std::str::from_utf8(&c).map_err(|_| malformed())?;
                stack.last_mut().ok_or_else(malformed)?.text.push_str(s);
            }
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
            Event::DocType(_) => return Err(malformed()),
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed());
    }
    root.ok_or_else(malformed)
}

impl Element {
    /// A container: only whitespace between its children.
    fn container(&self, name: &str) -> S3Result<&[Element]> {
        if self.name != name || !self.text.trim().is_empty() {
            return Err(malformed());
        }
        Ok(&self.children)
    }

    /// A leaf: its text exactly, no children.
    fn leaf(&self) -> S3Result<String> {
        if !self.children.is_empty() {
            return Err(malformed());
        }
        Ok(self.text.clone())
    }
}

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

/// Checks a document's shape before serde reads it: the root, and that every element is
/// one the schema names.
pub fn check_shape(body: &[u8], root: &str, elements: &[&str]) -> S3Result<()> {
    fn walk(el: &Element, elements: &[&str]) -> S3Result<()> {
        for c in &el.children {
            if !elements.contains(&c.name.as_str()) {
                return Err(malformed());
            }
            walk(c, elements)?;
        }
        Ok(())
    }
    let doc = parse(body)?;
    if doc.name != root {
        return Err(malformed());
    }
    walk(&doc, elements)
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
}
