//! The zone-to-zone protocol: routes under `/replication/v1` on the admin listener, the
//! headers every call carries, and the JSON documents exchanged.

use crate::records::{AccessKeyRecord, BucketRecord, ObjectRecord, UserRecord};
use crate::zone::{Promotion, Role};
use crate::Entry;
use serde::{Deserialize, Serialize};

pub const PREFIX: &str = "/replication/v1";
/// The caller's (on requests) or the answering zone's (on responses) epoch: fencing.
pub const EPOCH_HEADER: &str = "x-bascule-epoch";
/// The caller's role, so a primary can tell a promoted peer from a follower.
pub const ROLE_HEADER: &str = "x-bascule-role";

/// What a zone says about itself on every answer (and `GET /hello`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneInfo {
    pub role: Role,
    pub epoch: u64,
    pub fenced: bool,
    pub last_seq: u64,
    pub journal_floor: u64,
    /// Where S3 clients should send writes when this zone is primary.
    pub s3_endpoint: String,
    pub promotions: Vec<Promotion>,
    /// The zone's identity (`ZoneState::id`); empty from a zone that predates it.
    #[serde(default)]
    pub id: String,
}

/// `GET /journal?after=N&wait_ms=M&limit=L`: entries after N. `after` also acknowledges
/// that the caller has durably applied everything up to N.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalPage {
    pub zone: ZoneInfo,
    pub entries: Vec<Entry>,
}

/// Error documents on the replication routes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProtocolError {
    /// `unauthorized`, `not_primary`, `stale_epoch`, `resync_required`, `superseded`,
    /// `not_found`, `bad_request`, `internal`.
    pub error: String,
    pub message: String,
    pub zone: Option<ZoneInfo>,
}

/// `GET /objects?bucket=B&after=K&limit=L`: a page of a bucket's keys, each with every
/// version it has (current first, then newest first), for resyncs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObjectPage {
    pub objects: Vec<(String, Vec<ObjectRecord>)>,
    pub truncated: bool,
}

/// `GET /catalog`: everything that is not object data, for resyncs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Catalog {
    pub zone: ZoneInfo,
    pub buckets: Vec<BucketRecord>,
    pub users: Vec<UserRecord>,
    pub keys: Vec<AccessKeyRecord>,
    /// Keys of the key service (material wrapped by the master key both zones share).
    #[serde(default)]
    pub kms_keys: Vec<crate::records::KmsKeyRecord>,
}

/// `POST /promote` (sent by a primary handing over in a switchover): promote if you have
/// applied exactly `last_seq`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PromoteRequest {
    pub last_seq: u64,
    pub epoch: u64,
}
