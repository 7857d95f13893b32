//! A request document as a tree of elements whose text is the client's bytes exactly
//! (whitespace kept, entities resolved): what the strict readers of `xml_exact` walk, and
//! what `check_shape` holds a document to before serde reads it.

use crate::error::{S3Error, S3ErrorCode, S3Result};
use quick_xml::events::Event;
use quick_xml::Reader;

/// Deeper documents are refused (S3's documents nest three or four levels).
const MAX_DEPTH: usize = 8;

/// One element: its local name, its text (exactly as sent, entities resolved) and children.
#[derive(Debug, Default)]
pub struct Element {
    pub name: String,
    /// The `xsi:type` attribute (ACL grantees), by local name.
    pub xsi_type: Option<String>,
    pub text: String,
    pub children: Vec<Element>,
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

pub fn malformed() -> S3Error {
    S3Error::new(S3ErrorCode::MalformedXML)
}

/// Parses a whole document into its element tree.
pub fn parse(body: &[u8]) -> S3Result<Element> {
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
    pub fn container(&self, name: &str) -> S3Result<&[Element]> {
        if self.name != name || !self.text.trim().is_empty() {
            return Err(malformed());
        }
        Ok(&self.children)
    }

    /// A leaf: its text exactly, no children.
    pub fn leaf(&self) -> S3Result<String> {
        if !self.children.is_empty() {
            return Err(malformed());
        }
        Ok(self.text.clone())
    }
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
