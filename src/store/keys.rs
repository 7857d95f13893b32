//! Key layouts in the RocksDB column families: the only place that builds a storage key.
//! Object keys sort by bucket, then by key bytes, which is the order S3 listings use.

/// Separates bucket and key; bucket names and object keys never contain NUL.
pub const SEP: u8 = 0;

pub fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(SEP);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The prefix shared by every object (and upload) key of a bucket.
pub fn bucket_prefix(bucket: &str) -> Vec<u8> {
    object_key(bucket, "")
}

/// Every stored version of one key (Versions column family) starts with this.
pub fn versions_prefix(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(SEP);
    k
}

/// A version kept apart from the current one (a noncurrent version or a delete marker):
/// after the key, the inverted sequence number of the write that made it (so a key's
/// versions sort newest first) and its id (empty for the null version).
pub fn version_key(bucket: &str, key: &str, seq: u64, version_id: Option<&str>) -> Vec<u8> {
    let mut k = versions_prefix(bucket, key);
    k.extend_from_slice(&(u64::MAX - seq).to_be_bytes());
    k.extend_from_slice(version_id.unwrap_or("").as_bytes());
    k
}

/// The object key of a version key taken after its bucket prefix: keys hold no NUL, so
/// the first one ends the key.
pub fn version_object_key(suffix: &[u8]) -> Option<&[u8]> {
    let pos = suffix.iter().position(|b| *b == SEP)?;
    Some(&suffix[..pos])
}

pub fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(SEP);
    k.extend_from_slice(upload_id.as_bytes());
    k
}

/// The object key of an upload key taken after its bucket prefix (`key SEP upload_id`).
pub fn upload_object_key(suffix: &[u8]) -> Option<&[u8]> {
    let pos = suffix.iter().rposition(|b| *b == SEP)?;
    Some(&suffix[..pos])
}

pub fn part_key(upload_id: &str, part: u32) -> Vec<u8> {
    let mut k = part_prefix(upload_id);
    k.extend_from_slice(&part.to_be_bytes());
    k
}

pub fn part_prefix(upload_id: &str) -> Vec<u8> {
    let mut k = upload_id.as_bytes().to_vec();
    k.push(SEP);
    k
}

/// The part number at the end of a part key.
pub fn part_number(key: &[u8]) -> Option<u32> {
    let tail = key.get(key.len().checked_sub(4)?..)?;
    Some(u32::from_be_bytes(tail.try_into().ok()?))
}

/// Garbage-collection records (Gc column family): `b<id>` says a blob file is referenced by
/// metadata, `r<id>` that it was released and its file is still to be removed. Both are
/// written in the batch that references or releases the blob.
pub fn blob_ref(id: &str) -> Vec<u8> {
    [b"b", id.as_bytes()].concat()
}

pub fn released(id: &str) -> Vec<u8> {
    [b"r", id.as_bytes()].concat()
}

pub const RELEASED_PREFIX: &[u8] = b"r";

/// Per-bucket object count and bytes (Counters column family).
pub fn bucket_usage(bucket: &str) -> Vec<u8> {
    [b"u/", bucket.as_bytes()].concat()
}

/// Segments whose data key a key-service key version (`<id>#<n>`) wraps (Counters column
/// family): a version can be retired when its count is 0.
pub fn kek_segments(kek: &str) -> Vec<u8> {
    [KEK_SEGMENTS_PREFIX, kek.as_bytes()].concat()
}

pub const KEK_SEGMENTS_PREFIX: &[u8] = b"kek/";

/// Multipart uploads in progress in this zone (Counters column family).
pub const UPLOADS_IN_PROGRESS: &[u8] = b"uploads/in-progress";

/// Cumulative object bytes of all journal entries so far (Counters column family): what a
/// primary subtracts the figure at its follower's position from to get bytes pending.
pub const JOURNAL_BYTES: &[u8] = b"journal/bytes";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert!(object_key("b", "a") < object_key("b", "a/b"));
        assert!(object_key("b", "zzz") < object_key("b0", ""));
        assert!(part_key("u", 2) < part_key("u", 10));
        assert_eq!(part_number(&part_key("u", 77)), Some(77));
        let up = upload_key("bk", "dir/key", "UP1");
        let suffix = &up[bucket_prefix("bk").len()..];
        assert_eq!(upload_object_key(suffix), Some(&b"dir/key"[..]));
        assert!(upload_key("bk", "dir/key", "UP1").starts_with(&object_key("bk", "dir/key")));
        assert!(released("x").starts_with(RELEASED_PREFIX));
        // Newest first within a key; a key's versions before the next key's.
        assert!(version_key("b", "k", 9, Some("v9")) < version_key("b", "k", 3, None));
        assert!(version_key("b", "k", 0, None) < version_key("b", "k!", u64::MAX, None));
        assert!(version_key("b", "k", 1, None) < object_key("b", "k/"));
        let vk = version_key("b", "dir/k", 5, Some("x"));
        assert_eq!(
            version_object_key(&vk[bucket_prefix("b").len()..]),
            Some(&b"dir/k"[..])
        );
        assert_ne!(blob_ref("x"), released("x"));
    }
}
