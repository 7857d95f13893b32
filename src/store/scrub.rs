//! Checking a stored segment against what was recorded when it was written: its length
//! (every segment); a plaintext one's CRC32C (or its MD5, for segments written before
//! CRCs were recorded); a sealed one's chunk tags, when the key that opens it is at hand
//! (not for customer-keyed data, whose key the server never keeps). What the scrub and
//! the repair build on.

use super::{SegmentSource, Store, StoreError};
use bascule_replication::records::{ObjectRecord, Segment};
use bascule_seal::stream::{chunk_count, StreamKey, CHUNK, TAG};
use md5::{Digest, Md5};
use std::io::Read;

/// Bytes read per step: the pace is applied between steps.
const STEP: usize = 1 << 20;

/// What is wrong with a stored segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    Missing,
    Length {
        found: u64,
        expected: u64,
    },
    Checksum {
        algorithm: &'static str,
        found: String,
        expected: String,
    },
    /// A sealed chunk whose tag does not verify.
    Unauthentic {
        chunk: u64,
    },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Missing => write!(f, "the stored data is missing"),
            Damage::Length { found, expected } => {
                write!(f, "{found} bytes stored, {expected} expected")
            }
            Damage::Checksum {
                algorithm,
                found,
                expected,
            } => {
                write!(f, "{algorithm} {found}, {expected} recorded at write time")
            }
            Damage::Unauthentic { chunk } => {
                write!(f, "encrypted chunk {chunk} does not authenticate")
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

/// One way of checking a segment's bytes as they are read.
enum Check<'a> {
    Crc(Box<crc_fast::Digest>, u32),
    Md5(Box<Md5>, &'a str),
    Tags(TagCheck<'a>),
    Length,
}

impl<'a> Check<'a> {
    fn new(record: &'a ObjectRecord, seg: &'a Segment, key: Option<&'a StreamKey>) -> Check<'a> {
        match (&seg.seal, key, seg.crc32c, expected_md5(record, seg)) {
            (Some(_), Some(key), _, _) => Check::Tags(TagCheck {
                key,
                count: chunk_count(seg.size),
                index: 0,
                chunk: Vec::with_capacity(CHUNK + TAG),
                bad: None,
            }),
            (Some(_), None, _, _) => Check::Length,
            (None, _, Some(crc), _) => Check::Crc(
                Box::new(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi)),
                crc,
            ),
            (None, _, None, Some(md5)) => Check::Md5(Box::default(), md5),
            (None, _, None, None) => Check::Length,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Check::Crc(d, _) => d.update(data),
            Check::Md5(h, _) => h.update(data),
            Check::Tags(t) => t.update(data),
            Check::Length => {}
        }
    }

    fn finish(self) -> Result<(), Damage> {
        match self {
            Check::Crc(d, want) => {
                let got = d.finalize() as u32;
                if got != want {
                    return Err(Damage::Checksum {
                        algorithm: "CRC32C",
                        found: format!("{got:08x}"),
                        expected: format!("{want:08x}"),
                    });
                }
                Ok(())
            }
            Check::Md5(h, want) => {
                let got = hex::encode(h.finalize());
                if !got.eq_ignore_ascii_case(want.trim_matches('"')) {
                    return Err(Damage::Checksum {
                        algorithm: "MD5",
                        found: got,
                        expected: want.to_string(),
                    });
                }
                Ok(())
            }
            Check::Tags(t) => t.finish(),
            Check::Length => Ok(()),
        }
    }
}

/// Sealed chunks opened one by one as their bytes arrive (the plaintext is dropped).
struct TagCheck<'a> {
    key: &'a StreamKey,
    count: u64,
    index: u64,
    chunk: Vec<u8>,
    bad: Option<u64>,
}

impl TagCheck<'_> {
    fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = (CHUNK + TAG - self.chunk.len()).min(data.len());
            self.chunk.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.chunk.len() == CHUNK + TAG {
                self.open_chunk();
            }
        }
    }

    fn open_chunk(&mut self) {
        let last = self.index + 1 == self.count;
        if self.bad.is_none()
            && self
                .key
                .open_chunk_within(self.index, last, &mut self.chunk, 0)
                .is_err()
        {
            self.bad = Some(self.index);
        }
        self.chunk.clear();
        self.index += 1;
    }

    fn finish(mut self) -> Result<(), Damage> {
        if !self.chunk.is_empty() || self.index == 0 {
            self.open_chunk();
        }
        match self.bad {
            Some(chunk) => Err(Damage::Unauthentic { chunk }),
            None => Ok(()),
        }
    }
}

impl Store {
    /// Reads segment `seg` of `record` as stored and checks it; `key` opens a sealed
    /// segment's chunks (without it only a sealed segment's length is checked);
    /// `pace(n)` is called after each step of `n` bytes (the scrub sleeps there).
    /// Blocking. `Ok(Err(damage))`: the bytes are wrong; `Err`: the check itself could
    /// not run.
    pub fn check_segment(
        &self,
        record: &ObjectRecord,
        seg: &Segment,
        key: Option<&StreamKey>,
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
        let mut check = Check::new(record, seg, key);
        let found = match source {
            SegmentSource::Inline(data) => {
                check.update(&data);
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
                    check.update(&buf[..n]);
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
        Ok(check.finish().map(|()| found))
    }
}
