//! The checksums S3 clients send (`x-amz-checksum-*`), computed incrementally, plus MD5
//! for ETags and `Content-MD5`. Values travel base64-encoded, big-endian for CRCs.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use crc_fast::{CrcAlgorithm, Digest as CrcDigest};
use serde::{Deserialize, Serialize};
use sha1::Sha1;
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ChecksumAlgorithm {
    #[serde(rename = "CRC32")]
    Crc32,
    #[serde(rename = "CRC32C")]
    Crc32c,
    #[serde(rename = "CRC64NVME")]
    Crc64Nvme,
    #[serde(rename = "SHA1")]
    Sha1,
    #[serde(rename = "SHA256")]
    Sha256,
}

pub const ALL_ALGORITHMS: [ChecksumAlgorithm; 5] = [
    ChecksumAlgorithm::Crc32,
    ChecksumAlgorithm::Crc32c,
    ChecksumAlgorithm::Crc64Nvme,
    ChecksumAlgorithm::Sha1,
    ChecksumAlgorithm::Sha256,
];

impl ChecksumAlgorithm {
    /// The name used in `x-amz-checksum-algorithm` and XML (`CRC32`, `SHA256`...).
    pub fn name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        ALL_ALGORITHMS
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
    }

    /// The header carrying the value: `x-amz-checksum-crc32` ...
    pub fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    pub fn from_header_name(h: &str) -> Option<Self> {
        ALL_ALGORITHMS
            .into_iter()
            .find(|a| a.header_name().eq_ignore_ascii_case(h))
    }

    /// The XML element in responses: `ChecksumCRC32` ...
    pub fn xml_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "ChecksumCRC32",
            ChecksumAlgorithm::Crc32c => "ChecksumCRC32C",
            ChecksumAlgorithm::Crc64Nvme => "ChecksumCRC64NVME",
            ChecksumAlgorithm::Sha1 => "ChecksumSHA1",
            ChecksumAlgorithm::Sha256 => "ChecksumSHA256",
        }
    }

    fn raw_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    pub fn is_crc(self) -> bool {
        matches!(
            self,
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c | ChecksumAlgorithm::Crc64Nvme
        )
    }

    /// Checks that a client-sent value is base64 of the right length.
    pub fn validate_encoded(self, value: &str) -> bool {
        B64.decode(value)
            .map(|raw| raw.len() == self.raw_len())
            .unwrap_or(false)
    }

    fn crc_algorithm(self) -> Option<CrcAlgorithm> {
        match self {
            ChecksumAlgorithm::Crc32 => Some(CrcAlgorithm::Crc32IsoHdlc),
            ChecksumAlgorithm::Crc32c => Some(CrcAlgorithm::Crc32Iscsi),
            ChecksumAlgorithm::Crc64Nvme => Some(CrcAlgorithm::Crc64Nvme),
            _ => None,
        }
    }
}

/// An incremental hasher for one checksum algorithm.
#[derive(Clone)]
pub enum Hasher {
    Crc(ChecksumAlgorithm, CrcDigest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Hasher {
    pub fn new(alg: ChecksumAlgorithm) -> Hasher {
        match alg.crc_algorithm() {
            Some(crc) => Hasher::Crc(alg, CrcDigest::new(crc)),
            None if alg == ChecksumAlgorithm::Sha1 => Hasher::Sha1(Sha1::new()),
            None => Hasher::Sha256(Sha256::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Crc(_, d) => d.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
        }
    }

    pub fn finalize_raw(self) -> Vec<u8> {
        match self {
            Hasher::Crc(alg, d) => crc_bytes(alg, d.finalize()),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
        }
    }

    /// The base64 form clients send and expect back.
    pub fn finalize(self) -> String {
        B64.encode(self.finalize_raw())
    }
}

fn crc_bytes(alg: ChecksumAlgorithm, v: u64) -> Vec<u8> {
    if alg == ChecksumAlgorithm::Crc64Nvme {
        v.to_be_bytes().to_vec()
    } else {
        (v as u32).to_be_bytes().to_vec()
    }
}

pub fn checksum_of(alg: ChecksumAlgorithm, data: &[u8]) -> String {
    let mut h = Hasher::new(alg);
    h.update(data);
    h.finalize()
}

/// The multipart "checksum of checksums": the algorithm applied to the concatenated raw
/// part checksums, suffixed with `-<part count>` (S3's COMPOSITE checksum type).
pub fn composite_checksum(alg: ChecksumAlgorithm, part_checksums: &[String]) -> Option<String> {
    let mut h = Hasher::new(alg);
    for c in part_checksums {
        h.update(&B64.decode(c).ok()?);
    }
    Some(format!("{}-{}", h.finalize(), part_checksums.len()))
}

/// The whole-object CRC of a multipart object from its parts' CRCs and sizes
/// (S3's FULL_OBJECT checksum type; only CRC algorithms combine).
pub fn full_object_crc(alg: ChecksumAlgorithm, parts: &[(String, u64)]) -> Option<String> {
    let crc = alg.crc_algorithm()?;
    let mut acc: Option<u64> = None;
    for (encoded, len) in parts {
        let raw = B64.decode(encoded).ok()?;
        let v = match raw.len() {
            4 => u32::from_be_bytes(raw.try_into().ok()?) as u64,
            8 => u64::from_be_bytes(raw.try_into().ok()?),
            _ => return None,
        };
        acc = Some(match acc {
            None => v,
            Some(prev) => crc_fast::checksum_combine(crc, prev, v, *len),
        });
    }
    acc.map(|v| B64.encode(crc_bytes(alg, v)))
}

/// Multipart ETag: hex MD5 of the concatenated binary part MD5s, then `-<count>`.
pub fn multipart_etag(part_md5_hex: &[String]) -> Option<String> {
    let mut h = md5::Md5::new();
    for p in part_md5_hex {
        h.update(hex::decode(p).ok()?);
    }
    Some(format!(
        "{}-{}",
        hex::encode(h.finalize()),
        part_md5_hex.len()
    ))
}

/// Decodes a `Content-MD5` header (base64 of 16 bytes) to hex, as ETags are written.
pub fn content_md5_to_hex(value: &str) -> Option<String> {
    let raw = B64.decode(value.trim()).ok()?;
    (raw.len() == 16).then(|| hex::encode(raw))
}

pub fn base64_encode(raw: &[u8]) -> String {
    B64.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // Check values from the CRC catalogue ("123456789").
        let crc32 = checksum_of(ChecksumAlgorithm::Crc32, b"123456789");
        assert_eq!(B64.decode(crc32).unwrap(), 0xCBF43926u32.to_be_bytes());
        let crc32c = checksum_of(ChecksumAlgorithm::Crc32c, b"123456789");
        assert_eq!(B64.decode(crc32c).unwrap(), 0xE3069283u32.to_be_bytes());
        let crc64 = checksum_of(ChecksumAlgorithm::Crc64Nvme, b"123456789");
        assert_eq!(
            B64.decode(crc64).unwrap(),
            0xAE8B14860A799888u64.to_be_bytes()
        );
        assert_eq!(
            checksum_of(ChecksumAlgorithm::Sha256, b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
    }

    #[test]
    fn full_object_crc_equals_crc_of_concatenation() {
        for alg in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let (a, b) = (b"hello ".as_slice(), b"multipart world".as_slice());
            let parts = vec![
                (checksum_of(alg, a), a.len() as u64),
                (checksum_of(alg, b), b.len() as u64),
            ];
            assert_eq!(
                full_object_crc(alg, &parts).unwrap(),
                checksum_of(alg, b"hello multipart world")
            );
        }
    }

    #[test]
    fn multipart_etag_matches_s3() {
        let md5a = hex::encode(md5::Md5::digest(b"a"));
        let md5b = hex::encode(md5::Md5::digest(b"b"));
        let etag = multipart_etag(&[md5a.clone(), md5b.clone()]).unwrap();
        let mut cat = hex::decode(md5a).unwrap();
        cat.extend(hex::decode(md5b).unwrap());
        assert_eq!(etag, format!("{}-2", hex::encode(md5::Md5::digest(&cat))));
    }

    #[test]
    fn names_round_trip() {
        for a in ALL_ALGORITHMS {
            assert_eq!(ChecksumAlgorithm::from_name(a.name()), Some(a));
            assert_eq!(
                ChecksumAlgorithm::from_header_name(a.header_name()),
                Some(a)
            );
        }
        assert!(ChecksumAlgorithm::Crc32.validate_encoded("AAAAAA=="));
        assert!(!ChecksumAlgorithm::Crc32.validate_encoded("AAAA"));
    }
}
