//! Version ids, and the version a write makes. An id starts with the sequence number of the write that made the version,
//! so a version is found with one read (its stored key holds that number), and ends with
//! random bits, so versions written by two zones with the same sequence number (a
//! divergent write on a demoted primary) never share an id.

use super::View;
use bascule_replication::records::{BucketRecord, ObjectRecord};

/// Hex digits of the sequence number, then of the random part.
const SEQ_DIGITS: usize = 16;
const ID_LEN: usize = 32;

/// A new version id for a write that gets journal sequence number `seq`.
pub fn new_version_id(seq: u64) -> String {
    format!("{seq:016x}{:016x}", rand::random::<u64>())
}

/// The sequence number a version id carries; `None` for anything that is not one of
/// Bascule's version ids (S3 answers those with `InvalidArgument`).
pub fn version_seq(id: &str) -> Option<u64> {
    if id.len() != ID_LEN || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(&id[..SEQ_DIGITS], 16).ok()
}

/// The id a new version written now gets: its own when versioning is enabled, else it is
/// the null version. `view` is the commit's, so the id holds the write's sequence number.
pub fn stamp(view: &View, bucket: &BucketRecord, rec: &mut ObjectRecord) {
    rec.version_id = bucket.versioned().then(|| new_version_id(view.next_seq()));
    rec.seq = view.next_seq();
}

/// A delete marker for a DELETE without a version id in a bucket with versioning: the
/// null marker when versioning is suspended.
pub fn new_delete_marker(
    view: &View,
    bucket: &BucketRecord,
    owner: String,
    now_ms: u64,
) -> ObjectRecord {
    let mut rec = ObjectRecord {
        size: 0,
        etag: String::new(),
        last_modified_ms: now_ms,
        owner,
        headers: Default::default(),
        user_meta: Default::default(),
        checksum: None,
        tags: Vec::new(),
        segments: Vec::new(),
        acl: Vec::new(),
        acl_without_owner: false,
        parts_count: None,
        parts: Vec::new(),
        upload_id: None,
        seq: 0,
        version_id: None,
        delete_marker: true,
        retention: None,
        legal_hold: false,
        encryption: None,
    };
    stamp(view, bucket, &mut rec);
    rec
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_sequence_number() {
        let a = new_version_id(42);
        let b = new_version_id(42);
        assert_ne!(a, b);
        assert_eq!(version_seq(&a), Some(42));
        assert_eq!(version_seq(&new_version_id(u64::MAX)), Some(u64::MAX));
        assert_eq!(version_seq("null"), None);
        assert_eq!(version_seq(&a.to_uppercase()), None);
        assert_eq!(version_seq(&a[1..]), None);
    }
}
