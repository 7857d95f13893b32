//! Records that stay local to a zone (not replicated): multipart uploads in progress, and
//! divergent writes set aside when a demoted primary rejoins.

use bascule_replication::records::{Grant, ObjectRecord, Retention, Segment, SystemHeaders};
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
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acl_without_owner: bool,
    /// Object lock retention asked for at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Object lock legal hold asked for at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_hold: Option<bool>,
    /// Server-side encryption of its parts and of the object it completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<bascule_replication::records::Encryption>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    pub etag: String,
    pub size: u64,
    pub last_modified_ms: u64,
    pub segment: Segment,
    pub checksum: Option<String>,
}

/// Where a background walk over every bucket's versions (lifecycle, re-wrap) is; saved
/// after every step so a restart resumes there (see `crate::walker`).
#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq, Eq)]
pub struct WalkPosition {
    /// The bucket being walked (None: the pass has not started or is done).
    pub bucket: Option<String>,
    /// The last key looked at in that bucket.
    pub after_key: Option<String>,
    #[serde(default)]
    pub pass_started_ms: u64,
    pub passes_completed: u64,
    pub last_pass_ended_ms: u64,
}

/// One damaged segment the scrub found, as found and as handled. The list is kept in the
/// store, so a damaged object stays reported across restarts until it is repaired,
/// replaced or deleted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DamagedObject {
    pub bucket: String,
    pub key: String,
    pub version_id: Option<String>,
    pub segment: String,
    pub problem: String,
    /// Repaired from the peer; otherwise still damaged (and `repair_error` says why).
    pub repaired: bool,
    pub repair_error: Option<String>,
    pub found_at_ms: u64,
}

/// The background walks, each with its own saved position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkName {
    Lifecycle,
    Rewrap,
    Scrub,
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
