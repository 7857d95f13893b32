//! Reading object data: open the pieces that cover a byte range, then read them in bounded
//! chunks. Used by GET (streaming to the client) and by copies.

use super::{SegmentSource, Store, StoreError};
use bascule_replication::records::Segment;
use bytes::Bytes;
use std::io::{self, Read, Seek, SeekFrom};

/// Size of each chunk read from a blob file.
pub const READ_CHUNK: u64 = 1024 * 1024;

/// Part of one segment: read `len` bytes from `offset`.
pub struct Piece {
    pub source: SegmentSource,
    pub offset: u64,
    pub len: u64,
}

/// Opens the pieces covering `[start, start + len)` of an object made of `segments`.
/// Opening up front means a concurrently released blob fails here, before any byte is sent.
pub fn open_range(
    store: &Store,
    segments: &[Segment],
    start: u64,
    len: u64,
) -> Result<Vec<Piece>, StoreError> {
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
        out.push(Piece {
            source: store.open_segment(seg)?,
            offset: from,
            len: to - from,
        });
    }
    Ok(out)
}

/// Reads the pieces in order, handing each chunk (at most `READ_CHUNK` bytes) to `sink`.
/// Blocking: call from a blocking thread.
pub fn read_pieces(
    pieces: Vec<Piece>,
    mut sink: impl FnMut(Bytes) -> io::Result<()>,
) -> io::Result<()> {
    for piece in pieces {
        match piece.source {
            SegmentSource::Inline(data) => {
                let (off, len) = (piece.offset as usize, piece.len as usize);
                let slice = data
                    .get(off..off + len)
                    .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
                sink(Bytes::copy_from_slice(slice))?;
            }
            SegmentSource::File(mut f) => {
                f.seek(SeekFrom::Start(piece.offset))?;
                let mut left = piece.len;
                while left > 0 {
                    let n = left.min(READ_CHUNK);
                    let mut buf = Vec::with_capacity(n as usize);
                    let got = (&mut f).take(n).read_to_end(&mut buf)?;
                    if got == 0 {
                        return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
                    }
                    left -= got as u64;
                    sink(Bytes::from(buf))?;
                }
            }
        }
    }
    Ok(())
}
