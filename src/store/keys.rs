//! Key layouts in the RocksDB column families. Object keys sort by bucket, then by key
//! bytes, which is the order S3 listings use.

/// Separates bucket and key; bucket names and object keys never contain NUL.
pub const SEP: u8 = 0;

pub fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(bucket.len() + 1 + key.len());
    k.extend_from_slice(bucket.as_bytes());
    k.push(SEP);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The prefix shared by every object key of a bucket.
pub fn bucket_prefix(bucket: &str) -> Vec<u8> {
    object_key(bucket, "")
}

pub fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    let mut k = object_key(bucket, key);
    k.push(SEP);
    k.extend_from_slice(upload_id.as_bytes());
    k
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        assert!(object_key("b", "a") < object_key("b", "a/b"));
        assert!(object_key("b", "zzz") < object_key("b0", ""));
        assert!(part_key("u", 2) < part_key("u", 10));
        assert!(upload_key("bk", "dir/key", "UP1").starts_with(&object_key("bk", "dir/key")));
    }
}
