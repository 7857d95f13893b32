//! S3 XML bodies: request documents parsed with serde, response documents serialized with
//! serde, and the error body. This is the only place XML is produced.

use crate::error::{S3Error, S3ErrorCode, S3Result};
use quick_xml::escape::escape;
use serde::{de::DeserializeOwned, Deserialize, Serialize};

pub const S3_NAMESPACE: &str = "http://s3.amazonaws.com/doc/2006-03-01/";
const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// Serializes a document under `root`, with the XML declaration. The documents are plain
/// structs of strings and numbers, so failure would be a bug: it is `InternalError`.
pub fn to_xml<T: Serialize>(root: &str, value: &T) -> S3Result<String> {
    let internal = |_| S3Error::new(S3ErrorCode::InternalError);
    let mut out = String::from(DECLARATION);
    let mut ser = quick_xml::se::Serializer::with_root(&mut out, Some(root)).map_err(internal)?;
    ser.expand_empty_elements(false);
    value.serialize(ser).map_err(internal)?;
    Ok(out)
}

/// A request document: its root element and every element name its schema allows.
pub trait RequestDocument: DeserializeOwned {
    const ROOT: &'static str;
    const ELEMENTS: &'static [&'static str];
}

/// Parses a request document; any syntax or schema problem (another root, an element the
/// schema does not have, deep nesting) is `MalformedXML`.
pub fn from_xml<T: RequestDocument>(body: &[u8]) -> S3Result<T> {
    let text = std::str::from_utf8(body).map_err(|_| S3Error::new(S3ErrorCode::MalformedXML))?;
    if text.trim().is_empty() {
        return Err(S3Error::new(S3ErrorCode::MalformedXML));
    }
    crate::xml_tree::check_shape(body, T::ROOT, T::ELEMENTS)?;
    quick_xml::de::from_str(text).map_err(|_| S3Error::new(S3ErrorCode::MalformedXML))
}

impl RequestDocument for CreateBucketConfiguration {
    const ROOT: &'static str = "CreateBucketConfiguration";
    const ELEMENTS: &'static [&'static str] = &["LocationConstraint"];
}

impl RequestDocument for CompleteMultipartUpload {
    const ROOT: &'static str = "CompleteMultipartUpload";
    const ELEMENTS: &'static [&'static str] = &[
        "Part",
        "PartNumber",
        "ETag",
        "ChecksumCRC32",
        "ChecksumCRC32C",
        "ChecksumCRC64NVME",
        "ChecksumSHA1",
        "ChecksumSHA256",
    ];
}

impl RequestDocument for CorsConfiguration {
    const ROOT: &'static str = "CORSConfiguration";
    const ELEMENTS: &'static [&'static str] = &[
        "CORSRule",
        "ID",
        "AllowedHeader",
        "AllowedMethod",
        "AllowedOrigin",
        "ExposeHeader",
        "MaxAgeSeconds",
    ];
}

impl RequestDocument for VersioningConfiguration {
    const ROOT: &'static str = "VersioningConfiguration";
    const ELEMENTS: &'static [&'static str] = &["Status", "MfaDelete"];
}

impl RequestDocument for ObjectLockConfiguration {
    const ROOT: &'static str = "ObjectLockConfiguration";
    const ELEMENTS: &'static [&'static str] = &[
        "ObjectLockEnabled",
        "Rule",
        "DefaultRetention",
        "Mode",
        "Days",
        "Years",
    ];
}

impl RequestDocument for LifecycleConfiguration {
    const ROOT: &'static str = "LifecycleConfiguration";
    const ELEMENTS: &'static [&'static str] = &[
        "Rule",
        "ID",
        "Filter",
        "Prefix",
        "Tag",
        "Key",
        "Value",
        "And",
        "ObjectSizeGreaterThan",
        "ObjectSizeLessThan",
        "Status",
        "Expiration",
        "Days",
        "Date",
        "ExpiredObjectDeleteMarker",
        "NoncurrentVersionExpiration",
        "NoncurrentDays",
        "NewerNoncurrentVersions",
        "AbortIncompleteMultipartUpload",
        "DaysAfterInitiation",
        "Transition",
        "NoncurrentVersionTransition",
        "StorageClass",
    ];
}

impl RequestDocument for Retention {
    const ROOT: &'static str = "Retention";
    const ELEMENTS: &'static [&'static str] = &["Mode", "RetainUntilDate"];
}

impl RequestDocument for LegalHold {
    const ROOT: &'static str = "LegalHold";
    const ELEMENTS: &'static [&'static str] = &["Status"];
}

impl RequestDocument for Delete {
    const ROOT: &'static str = "Delete";
    const ELEMENTS: &'static [&'static str] = &["Quiet", "Object", "Key", "VersionId"];
}

/// The error body every failing S3 request gets.
pub fn error_body(err: &S3Error, resource: &str, request_id: &str) -> String {
    let mut out = String::from(DECLARATION);
    out.push_str("<Error><Code>");
    out.push_str(err.code.as_str());
    out.push_str("</Code><Message>");
    out.push_str(&escape(err.message.as_ref()));
    out.push_str("</Message>");
    for (name, value) in &err.extra {
        out.push_str(&format!("<{name}>{}</{name}>", escape(value.as_str())));
    }
    out.push_str(&format!(
        "<Resource>{}</Resource><RequestId>{}</RequestId></Error>",
        escape(resource),
        escape(request_id)
    ));
    out
}

// ---------- request documents ----------

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct CreateBucketConfiguration {
    pub location_constraint: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompleteMultipartUpload {
    #[serde(default)]
    pub part: Vec<CompletedPart>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompletedPart {
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(rename = "ChecksumCRC32")]
    pub checksum_crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C")]
    pub checksum_crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME")]
    pub checksum_crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1")]
    pub checksum_sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256")]
    pub checksum_sha256: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Delete {
    #[serde(default)]
    pub quiet: bool,
    #[serde(default)]
    pub object: Vec<ObjectIdentifier>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectIdentifier {
    pub key: String,
    pub version_id: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, Default, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tagging {
    #[serde(
        rename = "@xmlns",
        default,
        skip_deserializing,
        skip_serializing_if = "String::is_empty"
    )]
    pub xmlns: String,
    #[serde(default)]
    pub tag_set: TagSet,
}

#[derive(Debug, Deserialize, Serialize, Default, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct TagSet {
    #[serde(default)]
    pub tag: Vec<Tag>,
}

#[derive(Debug, Deserialize, Serialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

#[derive(Debug, Deserialize, Serialize, Default, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct CorsConfiguration {
    #[serde(
        rename = "@xmlns",
        default,
        skip_deserializing,
        skip_serializing_if = "String::is_empty"
    )]
    pub xmlns: String,
    #[serde(rename = "CORSRule", default)]
    pub rules: Vec<CorsRule>,
}

#[derive(Debug, Deserialize, Serialize, Default, Clone, PartialEq, Eq)]
#[serde(rename_all = "PascalCase")]
pub struct CorsRule {
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub allowed_header: Vec<String>,
    #[serde(default)]
    pub allowed_method: Vec<String>,
    #[serde(default)]
    pub allowed_origin: Vec<String>,
    #[serde(default)]
    pub expose_header: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age_seconds: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct VersioningConfiguration {
    pub status: Option<String>,
    pub mfa_delete: Option<String>,
}

/// Object lock configuration, as PutObjectLockConfiguration sends it and
/// GetObjectLockConfiguration answers it.
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectLockConfiguration {
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_lock_enabled: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<ObjectLockRule>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectLockRule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_retention: Option<DefaultRetentionXml>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct DefaultRetentionXml {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub years: Option<i64>,
}

/// A bucket's lifecycle rules (Put/GetBucketLifecycleConfiguration).
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleConfiguration {
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(default)]
    pub rule: Vec<LifecycleRuleXml>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleRuleXml {
    #[serde(rename = "ID", default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<LifecycleFilterXml>,
    /// The legacy form of a prefix filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration: Option<ExpirationXml>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_version_expiration: Option<NoncurrentExpirationXml>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_incomplete_multipart_upload: Option<AbortIncompleteXml>,
    /// Storage class transitions (refused: there is one storage class).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transition: Vec<TransitionXml>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub noncurrent_version_transition: Vec<TransitionXml>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleFilterXml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_greater_than: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_less_than: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub and: Option<LifecycleAndXml>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct LifecycleAndXml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tag: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_greater_than: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_size_less_than: Option<i64>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct ExpirationXml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired_object_delete_marker: Option<bool>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct NoncurrentExpirationXml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newer_noncurrent_versions: Option<i64>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct AbortIncompleteXml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_after_initiation: Option<i64>,
}

#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct TransitionXml {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noncurrent_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// An object version's retention (PutObjectRetention / GetObjectRetention).
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Retention {
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retain_until_date: Option<String>,
}

/// An object version's legal hold (PutObjectLegalHold / GetObjectLegalHold).
#[derive(Debug, Deserialize, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct LegalHold {
    #[serde(rename = "@xmlns", default, skip_serializing_if = "Option::is_none")]
    pub xmlns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

// ---------- response documents ----------

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AccessControlPolicy {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub owner: Owner,
    pub access_control_list: AccessControlList,
}

/// A PutBucketAcl / PutObjectAcl document as sent; grantees are resolved by the server.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AclDocument {
    pub owner_id: Option<String>,
    pub grants: Vec<AclGrant>,
}

/// One grant as sent: `kind` is the grantee's `xsi:type` (`CanonicalUser`, `Group`,
/// `AmazonCustomerByEmail`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AclGrant {
    pub kind: String,
    pub id: Option<String>,
    pub uri: Option<String>,
    pub email: Option<String>,
    pub permission: String,
}

/// A PutBucketLogging document's `LoggingEnabled`, as sent; grantees are resolved by the
/// server.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoggingEnabledDoc {
    pub target_bucket: String,
    pub target_prefix: String,
    pub target_grants: Vec<AclGrant>,
    /// `Some(source)`: partitioned keys dated by `source` (`EventTime`, `DeliveryTime`).
    pub partition_date_source: Option<String>,
}

/// GetBucketLogging's answer (no `LoggingEnabled`: logging is off).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketLoggingStatus {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging_enabled: Option<LoggingEnabled>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoggingEnabled {
    pub target_bucket: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_grants: Option<AccessControlList>,
    pub target_object_key_format: TargetObjectKeyFormat,
    pub target_prefix: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetObjectKeyFormat {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub simple_prefix: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partitioned_prefix: Option<PartitionedPrefix>,
}

#[derive(Debug, Serialize)]
pub struct Empty {}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartitionedPrefix {
    pub partition_date_source: &'static str,
}

#[derive(Debug, Serialize)]
pub struct AccessControlList {
    #[serde(rename = "Grant")]
    pub grant: Vec<Grant>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Grant {
    pub grantee: Grantee,
    pub permission: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Grantee {
    #[serde(rename = "@xmlns:xsi")]
    pub xmlns_xsi: &'static str,
    #[serde(rename = "@xsi:type")]
    pub kind: &'static str,
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "DisplayName", skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(rename = "URI", skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
}

#[derive(Debug, Serialize, Clone)]
pub struct Owner {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "DisplayName")]
    pub display_name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAllMyBucketsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub buckets: BucketList,
    pub owner: Owner,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct BucketList {
    #[serde(rename = "Bucket")]
    pub bucket: Vec<BucketEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct BucketEntry {
    pub name: String,
    pub creation_date: String,
    pub bucket_region: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublicAccessBlockConfiguration {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OwnershipControls {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub rule: OwnershipRule,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OwnershipRule {
    pub object_ownership: &'static str,
}

/// GetBucketEncryption's answer: one rule.
#[derive(Debug, Serialize)]
pub struct ServerSideEncryptionConfiguration {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "Rule")]
    pub rule: EncryptionRule,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionRule {
    pub apply_server_side_encryption_by_default: EncryptionByDefault,
    pub bucket_key_enabled: bool,
}

#[derive(Debug, Serialize)]
pub struct EncryptionByDefault {
    #[serde(rename = "SSEAlgorithm")]
    pub sse_algorithm: &'static str,
    #[serde(rename = "KMSMasterKeyID", skip_serializing_if = "Option::is_none")]
    pub kms_master_key_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PolicyStatus {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "IsPublic")]
    pub is_public: bool,
}

#[derive(Debug, Serialize)]
pub struct LocationConstraint {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "$text")]
    pub region: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersioningStatus {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    /// Absent for a bucket that was never versioned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<&'static str>,
}

/// One object in a listing; also used for ListObjectVersions with extra fields.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListEntry {
    pub key: String,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    pub storage_class: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checksum_algorithm: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CommonPrefix {
    pub prefix: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListBucketResultV1 {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub name: String,
    pub prefix: String,
    pub marker: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub max_keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<String>,
    pub contents: Vec<ListEntry>,
    pub common_prefixes: Vec<CommonPrefix>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListBucketResultV2 {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub name: String,
    pub prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_continuation_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_after: Option<String>,
    pub key_count: usize,
    pub max_keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<String>,
    pub contents: Vec<ListEntry>,
    pub common_prefixes: Vec<CommonPrefix>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionEntry {
    pub key: String,
    pub version_id: String,
    pub is_latest: bool,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    pub storage_class: &'static str,
    pub owner: Owner,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteMarkerEntry {
    pub key: String,
    pub version_id: String,
    pub is_latest: bool,
    pub last_modified: String,
    pub owner: Owner,
}

/// One entry of a version listing, in key and then newest-first order.
#[derive(Debug, Serialize)]
pub enum VersionItem {
    Version(VersionEntry),
    DeleteMarker(DeleteMarkerEntry),
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListVersionsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub name: String,
    pub prefix: String,
    pub key_marker: String,
    pub version_id_marker: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_key_marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_version_id_marker: Option<String>,
    pub max_keys: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding_type: Option<String>,
    #[serde(rename = "$value")]
    pub versions: Vec<VersionItem>,
    pub common_prefixes: Vec<CommonPrefix>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitiateMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetObjectAttributesResponse {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    #[serde(rename = "ETag", skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<ChecksumFields>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_parts: Option<ObjectParts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_size: Option<u64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectParts {
    pub parts_count: u32,
    pub part_number_marker: u32,
    pub next_part_number_marker: u32,
    pub max_parts: u32,
    pub is_truncated: bool,
    #[serde(rename = "Part")]
    pub part: Vec<AttributesPart>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributesPart {
    #[serde(flatten)]
    pub checksum: ChecksumFields,
    pub part_number: u32,
    pub size: u64,
}

impl AttributesPart {
    pub fn new(
        part_number: u32,
        size: u64,
        checksum: Option<(crate::checksum::ChecksumAlgorithm, String)>,
    ) -> Self {
        let checksum = match checksum {
            Some((alg, v)) => ChecksumFields::from_pair(Some(alg), Some(&v), None),
            None => ChecksumFields::default(),
        };
        AttributesPart {
            checksum,
            part_number,
            size,
        }
    }
}

/// Checksum fields shared by several responses, written under their S3 element names.
#[derive(Debug, Serialize, Default, Clone)]
pub struct ChecksumFields {
    #[serde(rename = "ChecksumCRC32", skip_serializing_if = "Option::is_none")]
    pub crc32: Option<String>,
    #[serde(rename = "ChecksumCRC32C", skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<String>,
    #[serde(rename = "ChecksumCRC64NVME", skip_serializing_if = "Option::is_none")]
    pub crc64nvme: Option<String>,
    #[serde(rename = "ChecksumSHA1", skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(rename = "ChecksumSHA256", skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(rename = "ChecksumType", skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
}

impl ChecksumFields {
    pub fn from_pair(
        alg: Option<crate::checksum::ChecksumAlgorithm>,
        value: Option<&str>,
        kind: Option<&str>,
    ) -> Self {
        use crate::checksum::ChecksumAlgorithm as A;
        let mut f = ChecksumFields::default();
        if let (Some(alg), Some(v)) = (alg, value) {
            let slot = match alg {
                A::Crc32 => &mut f.crc32,
                A::Crc32c => &mut f.crc32c,
                A::Crc64Nvme => &mut f.crc64nvme,
                A::Sha1 => &mut f.sha1,
                A::Sha256 => &mut f.sha256,
            };
            *slot = Some(v.to_string());
            f.checksum_type = kind.map(String::from);
        }
        f
    }
}

impl CompletedPart {
    pub fn checksum(&self, alg: crate::checksum::ChecksumAlgorithm) -> Option<&str> {
        use crate::checksum::ChecksumAlgorithm as A;
        match alg {
            A::Crc32 => self.checksum_crc32.as_deref(),
            A::Crc32c => self.checksum_crc32c.as_deref(),
            A::Crc64Nvme => self.checksum_crc64nvme.as_deref(),
            A::Sha1 => self.checksum_sha1.as_deref(),
            A::Sha256 => self.checksum_sha256.as_deref(),
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CompleteMultipartUploadResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub location: String,
    pub bucket: String,
    pub key: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(flatten)]
    pub checksum: ChecksumFields,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PartEntry {
    pub part_number: u32,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    pub size: u64,
    #[serde(flatten)]
    pub checksum: ChecksumFields,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListPartsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub initiator: Owner,
    pub owner: Owner,
    pub storage_class: &'static str,
    pub part_number_marker: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_part_number_marker: Option<u32>,
    pub max_parts: usize,
    pub is_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum_algorithm: Option<String>,
    pub part: Vec<PartEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UploadEntry {
    pub key: String,
    pub upload_id: String,
    pub initiator: Owner,
    pub owner: Owner,
    pub storage_class: &'static str,
    pub initiated: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListMultipartUploadsResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub bucket: String,
    pub key_marker: String,
    pub upload_id_marker: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_key_marker: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_upload_id_marker: Option<String>,
    pub prefix: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    pub max_uploads: usize,
    pub is_truncated: bool,
    pub upload: Vec<UploadEntry>,
    pub common_prefixes: Vec<CommonPrefix>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CopyResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub last_modified: String,
    #[serde(rename = "ETag")]
    pub etag: String,
    #[serde(flatten)]
    pub checksum: ChecksumFields,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteResult {
    #[serde(rename = "@xmlns")]
    pub xmlns: &'static str,
    pub deleted: Vec<DeletedEntry>,
    pub error: Vec<DeleteErrorEntry>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeletedEntry {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_marker: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete_marker_version_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeleteErrorEntry {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PostResponse {
    pub location: String,
    pub bucket: String,
    pub key: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_escapes_and_orders_fields() {
        let e = S3Error::msg(S3ErrorCode::NoSuchKey, "no <such> key").with("Key", "a&b");
        let xml = error_body(&e, "/b/a&b", "REQ1");
        assert!(xml.contains(
            "<Code>NoSuchKey</Code><Message>no &lt;such&gt; key</Message><Key>a&amp;b</Key>"
        ));
        assert!(xml.ends_with("<Resource>/b/a&amp;b</Resource><RequestId>REQ1</RequestId></Error>"));
    }

    #[test]
    fn version_listing_interleaves_versions_and_markers() {
        let owner = || Owner {
            id: "u".into(),
            display_name: "u".into(),
        };
        let doc = ListVersionsResult {
            xmlns: S3_NAMESPACE,
            name: "b".into(),
            prefix: String::new(),
            key_marker: String::new(),
            version_id_marker: String::new(),
            next_key_marker: None,
            next_version_id_marker: None,
            max_keys: 1000,
            delimiter: None,
            is_truncated: false,
            encoding_type: None,
            versions: vec![
                VersionItem::DeleteMarker(DeleteMarkerEntry {
                    key: "k".into(),
                    version_id: "v2".into(),
                    is_latest: true,
                    last_modified: "t".into(),
                    owner: owner(),
                }),
                VersionItem::Version(VersionEntry {
                    key: "k".into(),
                    version_id: "v1".into(),
                    is_latest: false,
                    last_modified: "t".into(),
                    etag: "\"e\"".into(),
                    size: 1,
                    storage_class: "STANDARD",
                    owner: owner(),
                }),
            ],
            common_prefixes: vec![],
        };
        let xml = to_xml("ListVersionsResult", &doc).unwrap();
        let marker = xml
            .find("<DeleteMarker><Key>k</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest>");
        let version =
            xml.find("<Version><Key>k</Key><VersionId>v1</VersionId><IsLatest>false</IsLatest>");
        assert!(
            marker.is_some() && version.is_some() && marker < version,
            "{xml}"
        );
        assert!(
            xml.contains("<IsTruncated>false</IsTruncated><DeleteMarker>"),
            "{xml}"
        );
    }

    #[test]
    fn parses_complete_multipart() {
        let xml = br#"<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
            <Part><ETag>"a"</ETag><PartNumber>1</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
            <Part><ETag>"b"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>"#;
        let c: CompleteMultipartUpload = from_xml(xml).unwrap();
        assert_eq!(c.part.len(), 2);
        assert_eq!(c.part[0].checksum_crc32.as_deref(), Some("AAAAAA=="));
        assert_eq!(c.part[1].part_number, 2);
    }

    #[test]
    fn malformed_xml_is_malformed() {
        for bad in [
            &b"<Delete><Object><Key>x</Key>"[..],
            b"not xml",
            b"",
            b"<Delete><Object><Key>x</Key></Object></Wrong>",
        ] {
            let e = from_xml::<Delete>(bad).unwrap_err();
            assert_eq!(
                e.code,
                S3ErrorCode::MalformedXML,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn documents_are_checked_against_their_schema() {
        let complete = |body: &[u8]| from_xml::<CompleteMultipartUpload>(body).map(|_| ());
        assert!(complete(b"<CompleteMultipartUpload><Part><ETag>a</ETag><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>").is_ok());
        for bad in [
            &b"<Complete><Part><ETag>a</ETag><PartNumber>1</PartNumber></Part></Complete>"[..],
            b"<CompleteMultipartUpload><Part><ETag>a</ETag><PartNumber>1</PartNumber><Size>3</Size></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><Part><Part><Part><Part><Part><Part><Part><Part></Part></Part></Part></Part></Part></Part></Part></Part></Part></CompleteMultipartUpload>",
        ] {
            assert_eq!(complete(bad).unwrap_err().code, S3ErrorCode::MalformedXML);
        }
        assert_eq!(
            from_xml::<VersioningConfiguration>(b"<CORSConfiguration/>")
                .unwrap_err()
                .code,
            S3ErrorCode::MalformedXML
        );
        assert_eq!(
            from_xml::<CorsConfiguration>(b"<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod><AllowedOrigin>*</AllowedOrigin><Bogus/></CORSRule></CORSConfiguration>")
                .unwrap_err()
                .code,
            S3ErrorCode::MalformedXML
        );
    }

    #[test]
    fn serializes_listing() {
        let r = ListBucketResultV2 {
            xmlns: S3_NAMESPACE,
            name: "b".into(),
            prefix: "".into(),
            continuation_token: None,
            next_continuation_token: None,
            start_after: None,
            key_count: 1,
            max_keys: 1000,
            delimiter: Some("/".into()),
            is_truncated: false,
            encoding_type: None,
            contents: vec![ListEntry {
                key: "k&".into(),
                last_modified: "2015-08-30T12:36:00.000Z".into(),
                etag: "\"e\"".into(),
                size: 3,
                storage_class: "STANDARD",
                owner: None,
                checksum_algorithm: vec![],
            }],
            common_prefixes: vec![CommonPrefix {
                prefix: "p/".into(),
            }],
        };
        let xml = to_xml("ListBucketResult", &r).unwrap();
        assert!(
            xml.contains("<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"),
            "{xml}"
        );
        assert!(xml.contains("<Contents><Key>k&amp;</Key>"), "{xml}");
        assert!(
            xml.contains("<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>"),
            "{xml}"
        );
        assert!(xml.contains("<KeyCount>1</KeyCount>"));
    }
}
