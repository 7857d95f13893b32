//! The journal: one entry per committed mutation, with a strictly increasing sequence number,
//! written in the same RocksDB batch as the change it describes.

use crate::records::{AccessKeyRecord, BucketRecord, KmsKeyRecord, ObjectRecord, Seal, UserRecord};
use serde::{Deserialize, Serialize};

// Ops are short-lived values on their way to or from JSON; boxing the large variant would
// only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Op {
    /// Put, copy, multipart completion, or a metadata/tag change: the full new record.
    PutObject {
        bucket: String,
        key: String,
        record: ObjectRecord,
    },
    DeleteObject {
        bucket: String,
        key: String,
    },
    /// One multi-object delete request: the keys that existed and were removed.
    DeleteObjects {
        bucket: String,
        keys: Vec<String>,
    },
    /// Replaces one existing version in place (tags, ACL, retention, legal hold): the
    /// version keeps its id and its place in the key's history. Nothing if it is gone.
    UpdateVersion {
        bucket: String,
        key: String,
        record: ObjectRecord,
    },
    /// Removes one version for good (`None`: the null version).
    DeleteVersion {
        bucket: String,
        key: String,
        version_id: Option<String>,
    },
    /// One multi-object delete request on a bucket that has (or had) versioning.
    RemoveObjects {
        bucket: String,
        removals: Vec<Removal>,
    },
    /// Bucket creation or any change to its settings: the full new record.
    PutBucket {
        record: BucketRecord,
    },
    DeleteBucket {
        name: String,
    },
    PutUser {
        record: UserRecord,
    },
    DeleteUser {
        id: String,
    },
    PutAccessKey {
        record: AccessKeyRecord,
    },
    DeleteAccessKey {
        access_key: String,
    },
    /// A key of the zone's key service created or changed (enabled, disabled, rotated):
    /// the full record, its material wrapped by the master key.
    PutKmsKey {
        record: KmsKeyRecord,
    },
    /// Data keys of one version's segments wrapped again under the active version of
    /// their key (after a rotation): the data is untouched, only `seal`s change. Matched
    /// by segment id, so a version replaced meanwhile is left alone.
    RewrapSegments {
        bucket: String,
        key: String,
        version_id: Option<String>,
        seals: Vec<(String, Seal)>,
    },
}

/// One key of a multi-object delete in a bucket with versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Removal {
    /// Removes one version for good (`None`: the null version).
    Version {
        key: String,
        version_id: Option<String>,
    },
    /// Hides the key behind a new delete marker (the record has `delete_marker` set).
    Marker {
        key: String,
        record: Box<ObjectRecord>,
    },
}

impl Removal {
    pub fn key(&self) -> &str {
        match self {
            Removal::Version { key, .. } | Removal::Marker { key, .. } => key,
        }
    }
}

impl Op {
    /// A short name for listings and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::PutObject { .. } => "put_object",
            Op::DeleteObject { .. } => "delete_object",
            Op::DeleteObjects { .. } => "delete_objects",
            Op::UpdateVersion { .. } => "update_version",
            Op::DeleteVersion { .. } => "delete_version",
            Op::RemoveObjects { .. } => "remove_objects",
            Op::PutBucket { .. } => "put_bucket",
            Op::DeleteBucket { .. } => "delete_bucket",
            Op::PutUser { .. } => "put_user",
            Op::DeleteUser { .. } => "delete_user",
            Op::PutAccessKey { .. } => "put_access_key",
            Op::DeleteAccessKey { .. } => "delete_access_key",
            Op::PutKmsKey { .. } => "put_kms_key",
            Op::RewrapSegments { .. } => "rewrap_segments",
        }
    }

    /// Bytes of object data a replica must fetch to apply this entry.
    pub fn data_bytes(&self) -> u64 {
        match self {
            Op::PutObject { record, .. } => record.size,
            _ => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// The writing zone's epoch when the entry was committed.
    pub epoch: u64,
    pub at_ms: u64,
    pub op: Op,
    /// Object bytes of all entries of the writing zone's journal up to and including this
    /// one: bytes pending behind a follower are the last entry's figure minus this one's.
    #[serde(default)]
    pub bytes_total: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("journal entry cannot be read or written: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl Entry {
    /// Journal keys are big-endian sequence numbers so RocksDB orders them numerically.
    pub fn key(seq: u64) -> [u8; 8] {
        seq.to_be_bytes()
    }

    pub fn seq_from_key(key: &[u8]) -> Option<u64> {
        Some(u64::from_be_bytes(key.try_into().ok()?))
    }

    pub fn encode(&self) -> Result<Vec<u8>, JournalError> {
        Ok(serde_json::to_vec(self)?)
    }

    pub fn decode(bytes: &[u8]) -> Result<Entry, JournalError> {
        Ok(serde_json::from_slice(bytes)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::*;

    #[test]
    fn entries_round_trip_and_keys_sort_numerically() {
        let e = Entry {
            seq: 7,
            epoch: 1,
            at_ms: 42,
            op: Op::PutObject {
                bucket: "b".into(),
                key: "k".into(),
                record: ObjectRecord {
                    size: 3,
                    etag: "abc".into(),
                    last_modified_ms: 42,
                    owner: "u".into(),
                    headers: SystemHeaders::default(),
                    user_meta: Default::default(),
                    checksum: None,
                    tags: vec![],
                    segments: vec![Segment {
                        id: "x".into(),
                        size: 3,
                        loc: Location::Inline,
                        md5: None,
                        seal: None,
                        crc32c: None,
                    }],
                    acl: vec![],
                    acl_without_owner: false,
                    parts_count: None,
                    parts: vec![],
                    upload_id: None,
                    seq: 7,
                    version_id: None,
                    delete_marker: false,
                    retention: None,
                    legal_hold: false,
                    encryption: None,
                },
            },
            bytes_total: 3,
        };
        assert_eq!(Entry::decode(&e.encode().unwrap()).unwrap(), e);
        assert!(Entry::key(255) < Entry::key(256));
        assert_eq!(Entry::seq_from_key(&Entry::key(9)), Some(9));
        assert!(Entry::decode(b"{").is_err());
    }
}
