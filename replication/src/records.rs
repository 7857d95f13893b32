//! The durable records of a zone. The store keeps them in RocksDB and the journal carries
//! them verbatim, so a secondary applies exactly what the primary committed.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Hex MD5 of the data, so a replica can verify what it fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
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
}

impl BucketRecord {
    pub fn ownership(&self) -> ObjectOwnership {
        self.object_ownership
            .unwrap_or(ObjectOwnership::ObjectWriter)
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
