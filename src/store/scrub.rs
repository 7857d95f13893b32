//! Checking a stored segment against what was recorded when it was written: its length
//! (every segment); a plaintext one's CRC32C (or its MD5, for segments written before
//! CRCs were recorded); a sealed one's chunk tags, when the key that opens it is at hand
//! (not for customer-keyed data, whose key the server never keeps). What the scrub and
//! the repair build on.

use super::read::{read_sealed, ChunkUnauthentic};
use super::{SegmentSource, Store, StoreError};
use bascule_replication::records::{ObjectRecord, Segment};
use bascule_seal::stream::StreamKey;
use md5::{Digest, Md5};
use std::io::{self, Read};

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
    Length,
}

impl<'a> Check<'a> {
    /// How a segment's stored bytes are checked when they are not opened (sealed ones
    /// are opened through `read_sealed` when the key is at hand).
    fn new(record: &'a ObjectRecord, seg: &'a Segment) -> Check<'a> {
        match (&seg.seal, seg.crc32c, expected_md5(record, seg)) {
            (Some(_), _, _) => Check::Length,
            (None, Some(crc), _) => Check::Crc(
                Box::new(crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi)),
                crc,
            ),
            (None, None, Some(md5)) => Check::Md5(Box::default(), md5),
            (None, None, None) => Check::Length,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Check::Crc(d, _) => d.update(data),
            Check::Md5(h, _) => h.update(data),
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
            Check::Length => Ok(()),
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
        if let (Some(_), Some(key)) = (&seg.seal, key) {
            return check_sealed(source, seg, key, pace);
        }
        let mut check = Check::new(record, seg);
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

/// Opens every chunk of a sealed segment, as a read of all of it would (`read_sealed`);
/// the plaintext is dropped.
fn check_sealed(
    source: SegmentSource,
    seg: &Segment,
    key: &StreamKey,
    mut pace: impl FnMut(u64),
) -> Result<Result<u64, Damage>, StoreError> {
    let expected = seg.stored_len();
    let found = match &source {
        SegmentSource::Inline(data) => data.len() as u64,
        SegmentSource::File(f) => f.metadata()?.len(),
    };
    if found != expected {
        return Ok(Err(Damage::Length { found, expected }));
    }
    let mut sink = |b: bytes::Bytes| {
        pace(b.len() as u64);
        Ok(())
    };
    let read = match source {
        // An empty object is one tag-only chunk: opened on its own (a zero-length read
        // opens nothing).
        SegmentSource::Inline(mut data) if seg.size == 0 => key
            .open_chunk(0, true, &mut data)
            .map_err(|_| ChunkUnauthentic::error(0)),
        SegmentSource::File(mut f) if seg.size == 0 => {
            let mut data = Vec::new();
            f.read_to_end(&mut data)?;
            key.open_chunk(0, true, &mut data)
                .map_err(|_| ChunkUnauthentic::error(0))
        }
        SegmentSource::Inline(data) => {
            read_sealed(io::Cursor::new(data), key, seg.size, 0, seg.size, &mut sink)
        }
        SegmentSource::File(f) => read_sealed(f, key, seg.size, 0, seg.size, &mut sink),
    };
    match read {
        Ok(()) => Ok(Ok(found)),
        Err(e) => match e
            .get_ref()
            .and_then(|e| e.downcast_ref::<ChunkUnauthentic>())
        {
            Some(ChunkUnauthentic(chunk)) => Ok(Err(Damage::Unauthentic { chunk: *chunk })),
            // Shorter than its length said a moment ago: cut while being read.
            None if e.kind() == io::ErrorKind::UnexpectedEof => {
                Ok(Err(Damage::Length { found: 0, expected }))
            }
            None => Err(StoreError::Io(e)),
        },
    }
}
