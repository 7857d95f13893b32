//! The records of encryption at rest (format in `docs/encryption.md`): how a segment's bytes
//! are sealed, what encryption an object version has, a bucket's default, and the keys of
//! the zone's key service. Keys appear here only wrapped.

use serde::{Deserialize, Serialize};

/// The key id of the zone's own key: SSE-S3 data keys are wrapped by it, and SSE-KMS
/// requests that name no key use it (as AWS uses its `aws/s3` managed key).
pub const ZONE_KEY_ID: &str = "aws/s3";

/// The `kek` of a segment sealed under a customer's key (SSE-C).
pub const CUSTOMER_KEK: &str = "customer";

/// How one segment's stored bytes are sealed; a segment without one is plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// What wrapped the data key: `<key id>#<version>` of a key of the key service, or
    /// [`CUSTOMER_KEK`].
    pub kek: String,
    /// The wrapped data key, hex (60 bytes).
    pub wrapped: String,
    /// The stream's nonce prefix, hex (7 bytes).
    pub prefix: String,
    /// SSE-C: the per-segment salt of the key derivation, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// SSE-C: the HMAC of the customer's key under the salt, hex (tells a wrong key from
    /// damaged data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<String>,
}

impl Seal {
    /// The key id and version of a key-service kek (none for a customer's key).
    pub fn ring_key(&self) -> Option<(&str, u32)> {
        let (id, version) = self.kek.rsplit_once('#')?;
        Some((id, version.parse().ok()?))
    }
}

/// The server-side encryption of an object version or upload, as clients ask for it and
/// see it echoed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Encryption {
    /// SSE-S3 (`AES256`).
    S3,
    /// SSE-KMS (`aws:kms`) under a named key of the zone's key service.
    Kms {
        key_id: String,
        /// The encryption context as the client sent it (base64 of a JSON object); bound
        /// to the data as authenticated data of the wrapped keys.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        context: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        bucket_key: bool,
    },
    /// SSE-C: the customer's key is never stored; `key_md5` (base64) is echoed.
    Customer { key_md5: String },
}

impl Encryption {
    /// The `x-amz-server-side-encryption` value (none for SSE-C, which AWS echoes with
    /// the customer-algorithm header instead).
    pub fn algorithm(&self) -> Option<&'static str> {
        match self {
            Encryption::S3 => Some("AES256"),
            Encryption::Kms { .. } => Some("aws:kms"),
            Encryption::Customer { .. } => None,
        }
    }
}

/// A bucket's default encryption (PutBucketEncryption): SSE-S3 or SSE-KMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketEncryption {
    pub default: Encryption,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bucket_key: bool,
}

/// A key of the zone's key service: the zone key ([`ZONE_KEY_ID`]) or a named KMS key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KmsKeyRecord {
    pub id: String,
    pub created_ms: u64,
    /// A disabled key wraps and unwraps nothing (requests naming it are refused).
    pub enabled: bool,
    /// Its material, oldest first; the last one wraps new data keys, older ones unwrap
    /// until rotation has re-wrapped every data key they wrapped.
    pub versions: Vec<KeyVersion>,
}

impl KmsKeyRecord {
    pub fn active(&self) -> Option<&KeyVersion> {
        self.versions.last()
    }

    pub fn version(&self, n: u32) -> Option<&KeyVersion> {
        self.versions.iter().find(|v| v.n == n)
    }
}

/// One version of a key's material, wrapped by the zone's master key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyVersion {
    pub n: u32,
    /// The material wrapped by the master key, hex.
    pub wrapped: String,
    /// Which master key wrapped it (its fingerprint), so a zone with another master key
    /// says so instead of failing to open data.
    pub master: String,
    pub created_ms: u64,
}
