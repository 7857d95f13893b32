//! The durable records of a zone. The store keeps them in RocksDB and the journal carries
//! them verbatim, so a secondary applies exactly what the primary committed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use crate::encryption::{
    BucketEncryption, Encryption, KeyVersion, KmsKeyRecord, Seal, CUSTOMER_KEK, ZONE_KEY_ID,
};

/// Where a piece of object data lives on *this* zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Location {
    /// Stored inside RocksDB (small objects).
    Inline,
    /// A blob file in data directory number N.
    Disk(u16),
}

/// One contiguous piece of an object's data: the whole body of a simple object, or one part
/// of a multipart object. `id` is generated, never derived from the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub id: String,
    pub size: u64,
    pub loc: Location,
    /// Hex MD5 of the data, so a replica can verify what it fetched (of a plaintext
    /// segment only: a sealed one is checked by its length and its chunks' tags).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// How the stored bytes are sealed (none: plaintext). `size` stays the plaintext size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<Seal>,
    /// CRC32C of a plaintext segment's bytes, recorded at write time: a whole read checks
    /// it as it streams (hardware CRC costs a few percent where MD5 would halve a GET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<u32>,
}

impl Segment {
    /// How many bytes this segment takes where it is stored (sealed streams carry a tag
    /// per chunk).
    pub fn stored_len(&self) -> u64 {
        match self.seal {
            Some(_) => bascule_seal::stream::sealed_len(self.size),
            None => self.size,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksumValue {
    /// `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1` or `SHA256`.
    pub algorithm: String,
    pub value: String,
    /// `FULL_OBJECT` or `COMPOSITE`.
    pub kind: String,
}

// Absent fields are left out of the encoding: a small object's record is mostly empty
// fields, and records are stored once per object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SystemHeaders {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

impl SystemHeaders {
    pub fn is_empty(&self) -> bool {
        *self == SystemHeaders::default()
    }
}

/// One part of a multipart object, as GetObjectAttributes lists it (its data is the
/// segment at the same position).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartSummary {
    pub number: u32,
    /// `ALGORITHM:base64` when the part was uploaded with a checksum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub size: u64,
    /// Hex MD5, or `<hex>-<parts>` for multipart objects; without quotes.
    pub etag: String,
    pub last_modified_ms: u64,
    pub owner: String,
    #[serde(default, skip_serializing_if = "SystemHeaders::is_empty")]
    pub headers: SystemHeaders,
    /// `x-amz-meta-*` with the prefix removed, names lowercase.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_meta: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ChecksumValue>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    /// Data in order; one segment per part for multipart objects, none when empty.
    #[serde(default)]
    pub segments: Vec<Segment>,
    /// The object's ACL grants besides its owner's full control (none: private).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<Grant>,
    /// The ACL was set without giving the owner full control: `acl` then holds the
    /// owner's own grants, if any, and nothing is implied (an ACL document or grant
    /// headers that leave the owner out, as AWS keeps them).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acl_without_owner: bool,
    /// Number of parts when completed from a multipart upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts_count: Option<u32>,
    /// Part numbers and checksums of a multipart object, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartSummary>,
    /// The multipart upload this version completed (a retried completion answers again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
    /// The journal sequence number of the write that produced this version (0 for records
    /// written before sequence numbers were recorded).
    #[serde(default)]
    pub seq: u64,
    /// The version's id; `None` is the `null` version (written while the bucket was
    /// unversioned or versioning was suspended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// A delete marker: a version with no data that hides the older ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    /// Object lock retention of this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention: Option<Retention>,
    /// Object lock legal hold of this version.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legal_hold: bool,
    /// Server-side encryption of this version (none: stored in clear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
}

/// Object lock retention modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RetentionMode {
    /// Only callers allowed to bypass governance may shorten it or delete the version.
    Governance,
    /// Nobody, administrators included, may shorten it or delete the version.
    Compliance,
}

impl RetentionMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionMode::Governance => "GOVERNANCE",
            RetentionMode::Compliance => "COMPLIANCE",
        }
    }

    pub fn parse(s: &str) -> Option<RetentionMode> {
        match s {
            "GOVERNANCE" => Some(RetentionMode::Governance),
            "COMPLIANCE" => Some(RetentionMode::Compliance),
            _ => None,
        }
    }
}

/// A version's retention: protected until `until_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    pub mode: RetentionMode,
    pub until_ms: u64,
}

/// What keeps a version from being deleted or overwritten at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    None,
    /// Deletable by callers that bypass governance retention.
    Governance,
    /// Not deletable by anyone until it expires (retention) or is lifted (legal hold).
    Locked,
}

impl ObjectRecord {
    /// The version id as S3 shows it (`null` for the null version).
    pub fn version_label(&self) -> &str {
        self.version_id.as_deref().unwrap_or("null")
    }

    /// The object lock protection of this version at `now_ms`: one rule for S3 deletes,
    /// lifecycle expiry and every zone, primary or promoted.
    pub fn protection(&self, now_ms: u64) -> Protection {
        if self.legal_hold {
            return Protection::Locked;
        }
        match self.retention {
            Some(r) if r.until_ms > now_ms => match r.mode {
                RetentionMode::Compliance => Protection::Locked,
                RetentionMode::Governance => Protection::Governance,
            },
            _ => Protection::None,
        }
    }
}

/// A bucket's versioning state; a bucket never returns to unversioned once enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    Enabled,
    Suspended,
}

/// Who an ACL grant is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Grantee {
    /// A user, by id (ids are never reused).
    User(String),
    /// Everyone, signed or not (`http://acs.amazonaws.com/groups/global/AllUsers`).
    AllUsers,
    /// Every signed request (`.../groups/global/AuthenticatedUsers`).
    AuthenticatedUsers,
}

/// The permissions an S3 ACL grant gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclPermission {
    Read,
    Write,
    ReadAcp,
    WriteAcp,
    FullControl,
}

/// One grant of an S3 access control list. The owner's own full control is implicit and
/// never stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: AclPermission,
}

/// A bucket's PublicAccessBlock settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PublicAccessBlock {
    /// Refuse requests that set a public ACL.
    pub block_public_acls: bool,
    /// Treat public ACL grants as absent.
    pub ignore_public_acls: bool,
    /// Refuse bucket policies that make the bucket public.
    pub block_public_policy: bool,
    /// A public policy grants nothing to anonymous callers.
    pub restrict_public_buckets: bool,
}

/// Who owns the objects written into a bucket (ObjectOwnership).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectOwnership {
    /// The writer owns what it writes; ACLs apply.
    ObjectWriter,
    /// The bucket owner owns objects written with `bucket-owner-full-control`.
    BucketOwnerPreferred,
    /// The bucket owner owns every object; ACLs are disabled.
    BucketOwnerEnforced,
}

impl ObjectOwnership {
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectOwnership::ObjectWriter => "ObjectWriter",
            ObjectOwnership::BucketOwnerPreferred => "BucketOwnerPreferred",
            ObjectOwnership::BucketOwnerEnforced => "BucketOwnerEnforced",
        }
    }

    pub fn parse(s: &str) -> Option<ObjectOwnership> {
        [
            ObjectOwnership::ObjectWriter,
            ObjectOwnership::BucketOwnerPreferred,
            ObjectOwnership::BucketOwnerEnforced,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Permission {
    Read,
    ReadWrite,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketRecord {
    pub name: String,
    pub owner: String,
    pub created_ms: u64,
    /// The bucket's ACL grants besides the owner's full control.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl: Vec<Grant>,
    /// As `ObjectRecord::acl_without_owner`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub acl_without_owner: bool,
    /// CORS configuration, as the XML document the client sent (re-validated on load).
    pub cors_xml: Option<String>,
    /// Bucket policy JSON, as sent.
    pub policy_json: Option<String>,
    /// The user id each principal of the policy named when it was put.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub policy_principals: BTreeMap<String, String>,
    /// Per-user grants made by the owner or an admin.
    pub grants: BTreeMap<String, Permission>,
    /// Bucket tags (PutBucketTagging), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_access_block: Option<PublicAccessBlock>,
    /// None: `ObjectWriter` behaviour (see the README for why that is Bascule's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_ownership: Option<ObjectOwnership>,
    /// None: never versioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<Versioning>,
    /// Object lock, once enabled, stays enabled (and versioning with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<ObjectLock>,
    /// Lifecycle rules, in the order given (none: no lifecycle configuration).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lifecycle: Vec<LifecycleRule>,
    /// Server access logging (PutBucketLogging): where this bucket's request records go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<BucketLogging>,
    /// Default encryption of new objects (PutBucketEncryption).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<BucketEncryption>,
}

/// Where a bucket's server access log records are delivered, as objects of another bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketLogging {
    pub target_bucket: String,
    /// Prepended to every log object's key (may be empty).
    pub target_prefix: String,
    /// Grants every delivered log object carries besides its owner's full control.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_grants: Vec<Grant>,
    /// `None`: simple keys (`prefix` + time + unique id); `Some`: partitioned keys
    /// (`prefix/account/region/bucket/YYYY/MM/DD/...`) dated by this source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_date_source: Option<PartitionDateSource>,
}

/// Which time dates a partitioned log object's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartitionDateSource {
    /// The time of the first request the object logs.
    EventTime,
    /// The time the object is delivered.
    DeliveryTime,
}

impl PartitionDateSource {
    pub fn parse(s: &str) -> Option<PartitionDateSource> {
        match s {
            "EventTime" => Some(PartitionDateSource::EventTime),
            "DeliveryTime" => Some(PartitionDateSource::DeliveryTime),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PartitionDateSource::EventTime => "EventTime",
            PartitionDateSource::DeliveryTime => "DeliveryTime",
        }
    }
}

/// One lifecycle rule. Times are in lifecycle days (a day, or fewer seconds when a zone
/// speeds its clock up for tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LifecycleRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub enabled: bool,
    #[serde(default)]
    pub filter: LifecycleFilter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<LifecycleExpiration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_expiration: Option<NoncurrentExpiration>,
    /// Days after initiation after which an unfinished multipart upload is aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_upload_days: Option<u32>,
}

/// Which objects a rule applies to: all of the given conditions hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LifecycleFilter {
    #[serde(default)]
    pub prefix: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_greater_than: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_less_than: Option<u64>,
    /// The filter was written with `And` (kept so the configuration reads back as sent).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub and: bool,
    /// The rule used the legacy top-level `Prefix` instead of `Filter`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub legacy_prefix: bool,
}

impl LifecycleFilter {
    /// Does a version with this key, size and tags fall under the filter?
    pub fn matches(&self, key: &str, size: u64, tags: &[(String, String)]) -> bool {
        key.starts_with(&self.prefix)
            && self.tags.iter().all(|t| tags.contains(t))
            && self.size_greater_than.is_none_or(|g| size > g)
            && self.size_less_than.is_none_or(|l| size < l)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LifecycleExpiration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// Midnight UTC of the day from which matching current objects expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub expired_object_delete_marker: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NoncurrentExpiration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    /// How many of the newest noncurrent versions are kept whatever their age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_noncurrent_versions: Option<u32>,
}

/// A bucket's object lock configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ObjectLock {
    /// Retention given to new versions that ask for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_retention: Option<DefaultRetention>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRetention {
    pub mode: RetentionMode,
    /// Exactly one of days and years is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<u32>,
}

impl DefaultRetention {
    /// The retention a version written at `now_ms` gets (a year is 365 days, as in S3).
    /// Saturates rather than wraps: a period too long for the clock keeps the version for
    /// ever instead of not at all (the S3 layer refuses such periods anyway).
    pub fn from(&self, now_ms: u64) -> Retention {
        let days = (self.days.unwrap_or(0) as u64)
            .saturating_add((self.years.unwrap_or(0) as u64).saturating_mul(365));
        Retention {
            mode: self.mode,
            until_ms: now_ms.saturating_add(days.saturating_mul(86_400_000)),
        }
    }
}

impl BucketRecord {
    /// A new bucket with no settings: private, unversioned, no policy, rules or logging.
    pub fn new(name: String, owner: String, created_ms: u64) -> BucketRecord {
        BucketRecord {
            name,
            owner,
            created_ms,
            acl: Vec::new(),
            acl_without_owner: false,
            cors_xml: None,
            policy_json: None,
            policy_principals: BTreeMap::new(),
            grants: BTreeMap::new(),
            tags: Vec::new(),
            public_access_block: None,
            object_ownership: None,
            versioning: None,
            object_lock: None,
            lifecycle: Vec::new(),
            logging: None,
            encryption: None,
        }
    }

    pub fn ownership(&self) -> ObjectOwnership {
        self.object_ownership
            .unwrap_or(ObjectOwnership::ObjectWriter)
    }

    /// Do new writes get their own version id (versioning enabled)?
    pub fn versioned(&self) -> bool {
        self.versioning == Some(Versioning::Enabled)
    }

    pub fn access_block(&self) -> PublicAccessBlock {
        self.public_access_block.unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    pub admin: bool,
    pub enabled: bool,
    pub created_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessKeyRecord {
    pub access_key: String,
    pub secret_key: String,
    pub user_id: String,
    pub enabled: bool,
    pub created_ms: u64,
}
