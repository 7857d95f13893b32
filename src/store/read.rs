//! Reading object data: open the pieces that cover a byte range, then read them in bounded
//! chunks. Used by GET (streaming to the client), by copies and by the zone link.
//!
//! A sealed segment (encryption at rest) is read chunk by chunk: only the chunks a range
//! touches are read, each is authenticated before any of its bytes is handed on, and
//! offsets and lengths are always plaintext ones.

use super::{SegmentSource, Store, StoreError};
use bascule_replication::records::{Seal, Segment};
use bascule_seal::stream::{chunk_count, sealed_range, StreamKey, CHUNK, TAG};
use bytes::Bytes;
use md5::Digest;
use std::io::{self, Read, Seek, SeekFrom};

/// Size of each chunk read from a blob file.
pub const READ_CHUNK: u64 = 1024 * 1024;

/// Sealed chunks opened per read (about `READ_CHUNK` of plaintext).
const SEALED_BATCH: u64 = READ_CHUNK / CHUNK as u64;

/// A sealed chunk that did not open (its tag, or its length, is wrong). It travels inside
/// the read's `io::Error` (kind `InvalidData`), so a caller that reports damage (the
/// scrub) can name the chunk.
#[derive(Debug)]
pub struct ChunkUnauthentic(pub u64);

impl std::fmt::Display for ChunkUnauthentic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "encrypted chunk {} does not authenticate", self.0)
    }
}

impl std::error::Error for ChunkUnauthentic {}

impl ChunkUnauthentic {
    /// The read error that carries it.
    pub fn error(index: u64) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, ChunkUnauthentic(index))
    }
}

/// Part of one segment: read `len` plaintext bytes from `offset`.
pub struct Piece {
    pub source: SegmentSource,
    pub offset: u64,
    pub len: u64,
    /// The segment's stream key and plaintext size, when its stored bytes are sealed.
    pub sealed: Option<(StreamKey, u64)>,
    /// The CRC32C the bytes read must have (a whole plaintext segment read from a file).
    pub crc32c: Option<u32>,
}

/// Opens a segment for reading and checks what can be checked before any byte is sent:
/// a file or inline value of the wrong length, or an inline value whose recorded CRC32C
/// (or MD5, for values written before CRCs were recorded) does not match, is damage (the
/// client gets a 500, never wrong bytes).
fn open_checked(store: &Store, seg: &Segment) -> Result<SegmentSource, StoreError> {
    let source = store.open_segment(seg)?;
    let len = match &source {
        SegmentSource::Inline(data) => data.len() as u64,
        SegmentSource::File(f) => f.metadata()?.len(),
    };
    if len != seg.stored_len() {
        tracing::error!(segment = %seg.id, len, recorded = seg.stored_len(), "stored data has the wrong length; not served");
        return Err(StoreError::Corrupt(format!(
            "segment {} holds {len} bytes, {} recorded",
            seg.id,
            seg.stored_len()
        )));
    }
    if let (SegmentSource::Inline(data), None) = (&source, &seg.seal) {
        let intact = match (seg.crc32c, recorded_md5(seg)) {
            (Some(crc), _) => crc32c(data) == crc,
            (None, Some(want)) => md5::Md5::digest(data).as_slice() == want,
            (None, None) => true,
        };
        if !intact {
            tracing::error!(segment = %seg.id, "inline data does not match its recorded checksum; not served");
            return Err(StoreError::Corrupt(format!(
                "segment {} does not match its recorded checksum",
                seg.id
            )));
        }
    }
    Ok(source)
}

fn crc32c(data: &[u8]) -> u32 {
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32
}

fn recorded_md5(seg: &Segment) -> Option<[u8; 16]> {
    let mut out = [0u8; 16];
    hex::decode_to_slice(seg.md5.as_deref()?, &mut out).ok()?;
    Some(out)
}

/// Opens the pieces covering plaintext bytes `[start, start + len)` of an object made of
/// `segments`; `key_of` gives the stream key of each sealed segment the range touches.
/// Opening up front means a concurrently released blob (or a missing key) fails here,
/// before any byte is sent.
pub fn open_range<E: From<StoreError>>(
    store: &Store,
    segments: &[Segment],
    start: u64,
    len: u64,
    mut key_of: impl FnMut(&Segment, &Seal) -> Result<StreamKey, E>,
) -> Result<Vec<Piece>, E> {
    let mut out = Vec::new();
    let (mut pos, end) = (0u64, start + len);
    for seg in segments {
        let (seg_start, seg_end) = (pos, pos + seg.size);
        pos = seg_end;
        if seg_end <= start || seg_start >= end {
            continue;
        }
        let from = start.max(seg_start) - seg_start;
        let to = end.min(seg_end) - seg_start;
        let sealed = match &seg.seal {
            Some(seal) => Some((key_of(seg, seal)?, seg.size)),
            None => None,
        };
        let source = open_checked(store, seg)?;
        let whole = from == 0 && to == seg.size;
        let crc32c = match (&source, &sealed) {
            (SegmentSource::File(_), None) if whole => seg.crc32c,
            _ => None,
        };
        out.push(Piece {
            source,
            offset: from,
            len: to - from,
            sealed,
            crc32c,
        });
    }
    Ok(out)
}

/// Opens `[offset, offset + len)` of a segment's bytes as stored (sealed ones stay
/// sealed): what the zone link sends a replica.
pub fn open_stored(
    store: &Store,
    seg: &Segment,
    offset: u64,
    len: u64,
) -> Result<Vec<Piece>, StoreError> {
    Ok(vec![Piece {
        source: open_checked(store, seg)?,
        offset,
        len,
        sealed: None,
        crc32c: None,
    }])
}

/// Reads the pieces in order, handing each chunk (at most about `READ_CHUNK` bytes) to
/// `sink`. Blocking: call from a blocking thread.
pub fn read_pieces(
    pieces: Vec<Piece>,
    mut sink: impl FnMut(Bytes) -> io::Result<()>,
) -> io::Result<()> {
    for piece in pieces {
        match (piece.source, piece.sealed) {
            (SegmentSource::Inline(data), None) => {
                let (off, len) = (piece.offset as usize, piece.len as usize);
                let slice = data
                    .get(off..off + len)
                    .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                sink(Bytes::copy_from_slice(slice))?;
            }
            (SegmentSource::File(mut f), None) => {
                f.seek(SeekFrom::Start(piece.offset))?;
                let mut check = piece.crc32c.map(|want| {
                    (
                        crc_fast::Digest::new(crc_fast::CrcAlgorithm::Crc32Iscsi),
                        want,
                    )
                });
                let mut left = piece.len;
                while left > 0 {
                    let n = left.min(READ_CHUNK);
                    let mut buf = Vec::with_capacity(n as usize);
                    let got = (&mut f).take(n).read_to_end(&mut buf)?;
                    if got == 0 {
                        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
                    }
                    left -= got as u64;
                    if let Some((hasher, want)) = &mut check {
                        hasher.update(&buf);
                        // The last chunk goes out only once the whole segment matched.
                        if left == 0 && hasher.finalize() as u32 != *want {
                            tracing::error!(
                                "stored data does not match its CRC32C; the read is cut short"
                            );
                            return Err(io::Error::new(
                                io::ErrorKind::InvalidData,
                                "stored data does not match its CRC32C",
                            ));
                        }
                    }
                    sink(Bytes::from(buf))?;
                }
            }
            (SegmentSource::Inline(data), Some((key, size))) => read_sealed(
                io::Cursor::new(data),
                &key,
                size,
                piece.offset,
                piece.len,
                &mut sink,
            )?,
            (SegmentSource::File(f), Some((key, size))) => {
                read_sealed(f, &key, size, piece.offset, piece.len, &mut sink)?
            }
        }
    }
    Ok(())
}

/// Reads plaintext `[offset, offset + len)` of a sealed stream of `size` plaintext bytes,
/// opening only the chunks it covers; a chunk that fails authentication stops the read
/// with an error (carrying `ChunkUnauthentic`) before any of its bytes is handed on.
/// Chunks are read about `READ_CHUNK` at a time into one buffer, and each is opened where it lies, its plaintext
/// moved down over the tags before it in the same pass: no second copy.
pub(super) fn read_sealed(
    mut source: impl Read + Seek,
    key: &StreamKey,
    size: u64,
    offset: u64,
    len: u64,
    sink: &mut impl FnMut(Bytes) -> io::Result<()>,
) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    let range = sealed_range(offset, offset + len - 1, size)
        .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
    let total_chunks = chunk_count(size);
    source.seek(SeekFrom::Start(range.sealed.start))?;
    let (mut index, mut skip, mut left) = (range.chunks.start, range.skip as usize, len);
    let sealed_chunk = (CHUNK + TAG) as u64;
    while index < range.chunks.end {
        let batch = (range.chunks.end - index).min(SEALED_BATCH);
        let first = index * sealed_chunk;
        let end = ((index + batch) * sealed_chunk).min(range.sealed.end);
        // Read into spare capacity (no zeroing of a buffer about to be overwritten).
        let want = (end - first) as usize;
        let mut buf = Vec::with_capacity(want);
        (&mut source).take(want as u64).read_to_end(&mut buf)?;
        if buf.len() != want {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        let mut plain = 0usize;
        for n in 0..batch as usize {
            let at = n * (CHUNK + TAG);
            let chunk_end = (at + CHUNK + TAG).min(buf.len());
            let last = index + 1 == total_chunks;
            plain += key
                .open_chunk_within(index, last, &mut buf[plain..chunk_end], at - plain)
                .map_err(|_| ChunkUnauthentic::error(index))?;
            index += 1;
        }
        let take = (plain - skip).min(left as usize);
        sink(Bytes::from(buf).slice(skip..skip + take))?;
        left -= take as u64;
        skip = 0;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StreamKey {
        StreamKey::new(&[9u8; 32], [1u8; 7]).unwrap()
    }

    fn read(sealed: &[u8], size: u64, offset: u64, len: u64) -> io::Result<Vec<u8>> {
        let mut got = Vec::new();
        read_sealed(
            io::Cursor::new(sealed.to_vec()),
            &key(),
            size,
            offset,
            len,
            &mut |b| {
                got.extend_from_slice(&b);
                Ok(())
            },
        )?;
        Ok(got)
    }

    #[test]
    fn sealed_ranges_read_back_exactly() {
        let plain: Vec<u8> = (0..(CHUNK * 20 + 123)).map(|i| (i % 251) as u8).collect();
        let size = plain.len() as u64;
        let sealed = key().seal_all(&plain).unwrap();
        for (offset, len) in [
            (0, size),
            (0, 1),
            (size - 1, 1),
            (CHUNK as u64 - 1, 2),
            (5, CHUNK as u64 * 17),
            (CHUNK as u64 * 19, CHUNK as u64 + 123),
        ] {
            let got = read(&sealed, size, offset, len).unwrap();
            assert_eq!(
                got,
                &plain[offset as usize..(offset + len) as usize],
                "{offset}+{len}"
            );
        }
        let mut flipped = sealed.clone();
        flipped[CHUNK * 3 + 10] ^= 1;
        assert!(read(&flipped, size, 0, size).is_err());
        // A range that does not touch the damaged chunk still reads.
        assert!(read(&flipped, size, 0, CHUNK as u64).is_ok());
        assert!(read(&sealed[..sealed.len() - 1], size, 0, size).is_err());
    }
}
