//! Ordered walks over one bucket's objects or uploads, for S3 listings. With a delimiter, a
//! whole common prefix is skipped with one seek instead of a scan. Positions (`resume`,
//! `next`) are opaque bytes relative to the bucket, used in continuation tokens.

use super::records::UploadRecord;
use super::{decode, keys, Cf, Store, StoreError};
use bascule_replication::records::ObjectRecord;
use serde::de::DeserializeOwned;

/// No UTF-8 key contains this byte, so `prefix + 0xFF` sorts after every key under `prefix`.
const PAST_PREFIX: u8 = 0xFF;

/// One listing pass over keys of one bucket.
pub struct Walk<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    /// Position to start at (inclusive), relative to the bucket.
    pub resume: Vec<u8>,
    pub max: usize,
}

pub enum Item<T> {
    /// A record and its listing key.
    Entry {
        key: String,
        record: T,
    },
    Prefix(String),
}

pub struct Walked<T> {
    pub items: Vec<Item<T>>,
    pub truncated: bool,
    /// Where the next page starts, when truncated.
    pub next: Option<Vec<u8>>,
}

/// Objects in key order.
pub fn objects(store: &Store, w: &Walk) -> Result<Walked<ObjectRecord>, StoreError> {
    walk(store, Cf::Objects, w, |suffix| {
        String::from_utf8(suffix.to_vec()).ok()
    })
}

/// Uploads in progress, in key order then upload id.
pub fn uploads(store: &Store, w: &Walk) -> Result<Walked<UploadRecord>, StoreError> {
    walk(store, Cf::Uploads, w, |suffix| {
        String::from_utf8(keys::upload_object_key(suffix)?.to_vec()).ok()
    })
}

/// Where an upload listing resumes after `key-marker` (and `upload-id-marker`).
pub fn uploads_resume(key_marker: &str, upload_id_marker: &str) -> Vec<u8> {
    match (key_marker.is_empty(), upload_id_marker.is_empty()) {
        (true, _) => Vec::new(),
        (false, true) => [key_marker.as_bytes(), &[keys::SEP, PAST_PREFIX]].concat(),
        (false, false) => [
            key_marker.as_bytes(),
            &[keys::SEP],
            upload_id_marker.as_bytes(),
            &[keys::SEP],
        ]
        .concat(),
    }
}

/// The resume position just after `marker`; a marker that is a common prefix skips it whole.
pub fn objects_resume(marker: &str, delimiter: Option<&str>) -> Vec<u8> {
    match delimiter {
        Some(d) if !d.is_empty() && marker.ends_with(d) => {
            [marker.as_bytes(), &[PAST_PREFIX]].concat()
        }
        _ => [marker.as_bytes(), &[0u8]].concat(),
    }
}

/// Walks keys in order. `key_of` extracts the listing key from a raw key within the bucket
/// (objects: the key itself; uploads: the key before the upload id).
fn walk<T: DeserializeOwned>(
    store: &Store,
    cf: Cf,
    w: &Walk,
    key_of: impl Fn(&[u8]) -> Option<String>,
) -> Result<Walked<T>, StoreError> {
    // A page of nothing is complete, as S3 answers `max-keys=0`.
    if w.max == 0 {
        return Ok(Walked {
            items: Vec::new(),
            truncated: false,
            next: None,
        });
    }
    let scope = keys::bucket_prefix(w.bucket);
    let start = if w.resume.as_slice() > w.prefix.as_bytes() {
        w.resume.clone()
    } else {
        w.prefix.as_bytes().to_vec()
    };
    let mut seek: Vec<u8> = [scope.as_slice(), &start].concat();
    let mut items = Vec::new();
    let mut iter = store.iter_from(cf, &seek)?;
    loop {
        let Some(next) = iter.next() else {
            return Ok(Walked {
                items,
                truncated: false,
                next: None,
            });
        };
        let (raw, value) = next?;
        let Some(suffix) = raw.strip_prefix(scope.as_slice()) else {
            break;
        };
        let Some(key) = key_of(suffix) else { continue };
        if !key.starts_with(w.prefix) {
            break;
        }
        let common = w.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            key[w.prefix.len()..]
                .find(d)
                .map(|pos| key[..w.prefix.len() + pos + d.len()].to_string())
        });
        if items.len() >= w.max {
            let next = match &items.last() {
                Some(Item::Prefix(p)) => [p.as_bytes(), &[PAST_PREFIX]].concat(),
                _ => suffix.to_vec(),
            };
            return Ok(Walked {
                items,
                truncated: true,
                next: Some(next),
            });
        }
        match common {
            Some(cp) => {
                seek = [scope.as_slice(), cp.as_bytes(), &[PAST_PREFIX]].concat();
                items.push(Item::Prefix(cp));
                iter.set_mode(rocksdb::IteratorMode::From(
                    &seek,
                    rocksdb::Direction::Forward,
                ));
            }
            None => items.push(Item::Entry {
                key,
                record: decode(&value)?,
            }),
        }
    }
    Ok(Walked {
        items,
        truncated: false,
        next: None,
    })
}
