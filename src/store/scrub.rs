//! Checking a stored segment against what was recorded when it was written: its length
//! (every segment), and its MD5 (plaintext segments; a sealed one's chunks carry their own
//! tags, checked whenever it is read). What the scrub and the repair build on.

use super::{SegmentSource, Store, StoreError};
use bascule_replication::records::{ObjectRecord, Segment};
use md5::{Digest, Md5};
use std::io::Read;

/// Bytes read per step: the pace is applied between steps.
const STEP: usize = 1 << 20;

/// What is wrong with a stored segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    Missing,
    Length { found: u64, expected: u64 },
    Checksum { found: String, expected: String },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Missing => write!(f, "the stored data is missing"),
            Damage::Length { found, expected } => {
                write!(f, "{found} bytes stored, {expected} expected")
            }
            Damage::Checksum { found, expected } => {
                write!(f, "MD5 {found}, {expected} recorded at write time")
            }
        }
    }
}

/// The MD5 a segment's stored bytes must have, when one is known: a plaintext segment's
/// own, or the ETag of a single-segment, non-multipart object.
pub fn expected_md5<'a>(record: &'a ObjectRecord, seg: &'a Segment) -> Option<&'a str> {
    if seg.seal.is_some() {
        return None;
    }
    let single = record.parts_count.is_none() && record.segments.len() == 1;
    seg.md5
        .as_deref()
        .or(single.then_some(record.etag.as_str()))
}

impl Store {
    /// Reads segment `seg` of `record` as stored and checks it; `pace(n)` is called after
    /// each step of `n` bytes (the scrub sleeps there). Blocking. `Ok(Err(damage))`: the
    /// bytes are wrong; `Err`: the check itself could not run.
    pub fn check_segment(
        &self,
        record: &ObjectRecord,
        seg: &Segment,
        mut pace: impl FnMut(u64),
    ) -> Result<Result<u64, Damage>, StoreError> {
        let expected_len = seg.stored_len();
        let source = match self.open_segment(seg) {
            Ok(s) => s,
            Err(StoreError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err(Damage::Missing))
            }
            Err(StoreError::Corrupt(_)) => return Ok(Err(Damage::Missing)),
            Err(e) => return Err(e),
        };
        let mut hasher = Md5::new();
        let found = match source {
            SegmentSource::Inline(data) => {
                hasher.update(&data);
                pace(data.len() as u64);
                data.len() as u64
            }
            SegmentSource::File(mut f) => {
                let mut buf = vec![0u8; STEP];
                let mut total = 0u64;
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    hasher.update(&buf[..n]);
                    total += n as u64;
                    pace(n as u64);
                }
                total
            }
        };
        if found != expected_len {
            return Ok(Err(Damage::Length {
                found,
                expected: expected_len,
            }));
        }
        if let Some(expected) = expected_md5(record, seg) {
            let got = hex::encode(hasher.finalize());
            if !got.eq_ignore_ascii_case(expected.trim_matches('"')) {
                return Ok(Err(Damage::Checksum {
                    found: got,
                    expected: expected.to_string(),
                }));
            }
        }
        Ok(Ok(found))
    }
}
