//! Records that stay local to a zone (not replicated): multipart uploads in progress, and
//! divergent writes set aside when a demoted primary rejoins.

use bascule_replication::records::{Grant, ObjectRecord, Segment, SystemHeaders};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UploadRecord {
    pub upload_id: String,
    pub owner: String,
    pub initiated_ms: u64,
    pub headers: SystemHeaders,
    pub user_meta: BTreeMap<String, String>,
    pub tags: Vec<(String, String)>,
    /// `x-amz-checksum-algorithm` given at creation, e.g. `CRC32`.
    pub checksum_algorithm: Option<String>,
    /// `COMPOSITE` or `FULL_OBJECT`.
    pub checksum_type: Option<String>,
    /// The ACL the object gets when the upload completes.
    #[serde(default)]
    pub acl: Vec<Grant>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    pub etag: String,
    pub size: u64,
    pub last_modified_ms: u64,
    pub segment: Segment,
    pub checksum: Option<String>,
}

/// A write this zone accepted as primary after its peer had been promoted: set aside
/// (never dropped, never replayed) for an operator to inspect and recover.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuarantineRecord {
    /// `<seq>-<n>`: the divergent journal entry and the position within it.
    pub id: String,
    pub seq: u64,
    pub epoch: u64,
    pub at_ms: u64,
    /// The journal operation (`put_object`, `delete_object`, `put_bucket`...).
    pub kind: String,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// The object as this zone held it (its data stays readable through the admin API).
    pub record: Option<ObjectRecord>,
    /// For non-object changes: the journal operation itself.
    pub detail: Option<serde_json::Value>,
    pub quarantined_ms: u64,
}
