//! Records that stay local to a zone (not replicated): multipart uploads in progress.

use bascule_replication::records::{Segment, SystemHeaders};
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
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PartRecord {
    pub etag: String,
    pub size: u64,
    pub last_modified_ms: u64,
    pub segment: Segment,
    pub checksum: Option<String>,
}
