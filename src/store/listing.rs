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

/// One pass over a bucket's versions (ListObjectVersions): every key's current object,
/// then its other versions and delete markers, newest first.
pub struct VersionWalk<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub delimiter: Option<&'a str>,
    pub key_marker: &'a str,
    /// The version after which to resume within `key_marker` (`null` names the null one).
    pub version_marker: &'a str,
    pub max: usize,
}

// Items are short-lived values on their way into a response page; boxing the record would
// only add an allocation per version listed.
#[allow(clippy::large_enum_variant)]
pub enum VersionItem {
    Version {
        key: String,
        record: ObjectRecord,
        latest: bool,
    },
    Prefix(String),
}

pub struct VersionsWalked {
    pub items: Vec<VersionItem>,
    pub truncated: bool,
}

/// Where the two column families resume after the markers (positions within the bucket).
fn versions_resume(store: &Store, w: &VersionWalk) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
    let k = w.key_marker;
    if k.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let in_bucket = |full: Vec<u8>| full[keys::bucket_prefix(w.bucket).len()..].to_vec();
    let past_key = [k.as_bytes(), &[keys::SEP]].concat();
    let past_all_versions = [k.as_bytes(), &[keys::SEP], &[PAST_PREFIX; 9]].concat();
    if w.version_marker.is_empty() {
        return Ok(match w.delimiter {
            Some(d) if !d.is_empty() && k.ends_with(d) => {
                let past = [k.as_bytes(), &[PAST_PREFIX]].concat();
                (past.clone(), past)
            }
            _ => (past_key, past_all_versions),
        });
    }
    let id = (w.version_marker != "null").then_some(w.version_marker);
    let seq = match id {
        Some(v) => super::versions::version_seq(v),
        None => store.read().version(w.bucket, k, None)?.map(|r| r.seq),
    };
    Ok(match seq {
        // The position just after that version, whether or not it is still there.
        Some(seq) => {
            let mut at = in_bucket(keys::version_key(w.bucket, k, seq, id));
            at.push(0);
            (past_key, at)
        }
        None => (past_key, past_all_versions),
    })
}

/// A raw iterator's current key within the bucket and under the prefix, if any.
fn positioned<'i>(
    it: &'i rocksdb::DBRawIteratorWithThreadMode<'_, rocksdb::DB>,
    scope: &[u8],
    prefix: &str,
) -> Option<&'i [u8]> {
    let raw = it.key()?;
    let suffix = raw.strip_prefix(scope)?;
    suffix.starts_with(prefix.as_bytes()).then_some(suffix)
}

/// Walks versions in listing order, merging the current objects with the stored versions.
pub fn versions(store: &Store, w: &VersionWalk) -> Result<VersionsWalked, StoreError> {
    let mut out = VersionsWalked {
        items: Vec::new(),
        truncated: false,
    };
    if w.max == 0 {
        return Ok(out);
    }
    let scope = keys::bucket_prefix(w.bucket);
    let (o_start, v_start) = versions_resume(store, w)?;
    let from = |start: Vec<u8>| -> Vec<u8> {
        let start = if start.as_slice() > w.prefix.as_bytes() {
            start
        } else {
            w.prefix.as_bytes().to_vec()
        };
        [scope.as_slice(), &start].concat()
    };
    let mut objects = store.raw_iter(Cf::Objects)?;
    objects.seek(from(o_start));
    let mut stored = store.raw_iter(Cf::Versions)?;
    stored.seek(from(v_start));
    // The key whose newest version the page already passed (so a stored one is not latest).
    let mut passed: Option<Vec<u8>> =
        (!w.version_marker.is_empty()).then(|| w.key_marker.as_bytes().to_vec());
    loop {
        let o_key = positioned(&objects, &scope, w.prefix).map(<[u8]>::to_vec);
        let v_key = positioned(&stored, &scope, w.prefix)
            .and_then(keys::version_object_key)
            .map(<[u8]>::to_vec);
        let (key_bytes, from_objects) = match (o_key, v_key) {
            (None, None) => break,
            (Some(o), None) => (o, true),
            (None, Some(v)) => (v, false),
            (Some(o), Some(v)) if o <= v => (o, true),
            (Some(_), Some(v)) => (v, false),
        };
        let Ok(key) = String::from_utf8(key_bytes.clone()) else {
            if from_objects {
                objects.next()
            } else {
                stored.next()
            }
            continue;
        };
        let common = w.delimiter.filter(|d| !d.is_empty()).and_then(|d| {
            key[w.prefix.len()..]
                .find(d)
                .map(|pos| key[..w.prefix.len() + pos + d.len()].to_string())
        });
        if out.items.len() >= w.max {
            out.truncated = true;
            break;
        }
        if let Some(cp) = common {
            let past = [scope.as_slice(), cp.as_bytes(), &[PAST_PREFIX]].concat();
            objects.seek(&past);
            stored.seek(&past);
            out.items.push(VersionItem::Prefix(cp));
            continue;
        }
        let it = if from_objects {
            &mut objects
        } else {
            &mut stored
        };
        let record: ObjectRecord = decode(it.value().unwrap_or_default())?;
        it.next();
        let latest = passed.as_deref() != Some(key_bytes.as_slice());
        passed = Some(key_bytes);
        out.items.push(VersionItem::Version {
            key,
            record,
            latest,
        });
    }
    objects.status()?;
    stored.status()?;
    Ok(out)
}
