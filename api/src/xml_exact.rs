//! Request documents whose text is the client's bytes (object keys, tag keys and values):
//! read with whitespace kept exactly and the schema checked strictly. serde's XML reader
//! trims text, which turned the key `"_ "` into `"_"`; and it accepted any root or unknown
//! elements, so a stray document could erase an object's tags.

use crate::error::{S3Error, S3ErrorCode, S3Result};
use crate::xml::{Delete, ObjectIdentifier, Tag, TagSet, Tagging};
use quick_xml::events::Event;
use quick_xml::Reader;

/// Deeper documents are refused (S3's documents nest three or four levels).
const MAX_DEPTH: usize = 8;

/// One element: its local name, its text (exactly as sent, entities resolved) and children.
#[derive(Debug, Default)]
struct Element {
    name: String,
    text: String,
    children: Vec<Element>,
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
                let name =
                    String::from_utf8(e.local_name().as_ref().to_vec()).map_err(|_| malformed())?;
                stack.push(Element {
                    name,
                    ..Element::default()
                });
            }
            Event::Empty(e) => {
                let name =
                    String::from_utf8(e.local_name().as_ref().to_vec()).map_err(|_| malformed())?;
                let el = Element {
                    name,
                    ..Element::default()
                };
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
}
