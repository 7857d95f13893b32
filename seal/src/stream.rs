//! Object bytes sealed in chunks (the STREAM construction over AES-256-GCM).
//!
//! A sealed stream is the chunks one after another, each the ciphertext of up to
//! [`CHUNK`] plaintext bytes followed by its 16-byte tag. Every chunk but the last holds
//! exactly `CHUNK` plaintext bytes; the last holds 0 to `CHUNK` (an empty object is one
//! empty last chunk, so even it cannot be cut). Chunk `i`'s nonce is
//! `prefix (7 bytes) || i (4 bytes, big endian) || last (1 byte: 1 for the last chunk,
//! else 0)`; the additional data is empty. A data key seals one stream (one object
//! version or one part), so (key, nonce) pairs never repeat.

use crate::SealError;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};

/// Plaintext bytes per chunk.
pub const CHUNK: usize = 64 * 1024;
/// The tag each chunk carries.
pub const TAG: usize = 16;
/// Bytes of the per-stream nonce prefix.
pub const PREFIX: usize = 7;

/// A stream's key and nonce prefix.
pub struct StreamKey {
    key: LessSafeKey,
    prefix: [u8; PREFIX],
}

impl StreamKey {
    pub fn new(key: &[u8], prefix: [u8; PREFIX]) -> Result<StreamKey, SealError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SealError::BadKey)?;
        Ok(StreamKey {
            key: LessSafeKey::new(unbound),
            prefix,
        })
    }

    fn nonce(&self, index: u64, last: bool) -> Result<Nonce, SealError> {
        let index = u32::try_from(index).map_err(|_| SealError::TooLong)?;
        let mut n = [0u8; 12];
        n[..PREFIX].copy_from_slice(&self.prefix);
        n[PREFIX..PREFIX + 4].copy_from_slice(&index.to_be_bytes());
        n[11] = u8::from(last);
        Ok(Nonce::assume_unique_for_key(n))
    }

    /// Seals chunk `index` in place: `buf` holds its plaintext and gets the tag appended.
    pub fn seal_chunk(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), SealError> {
        if buf.len() > CHUNK || (!last && buf.len() != CHUNK) {
            return Err(SealError::BadLength);
        }
        let nonce = self.nonce(index, last)?;
        self.key
            .seal_in_place_append_tag(nonce, Aad::empty(), buf)
            .map_err(|_| SealError::BadLength)
    }

    /// Opens chunk `index` in place: `buf` holds its ciphertext and tag, and keeps the
    /// plaintext. Nothing is released unless the tag verifies.
    pub fn open_chunk(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), SealError> {
        let plain_len = self.open_chunk_within(index, last, buf, 0)?;
        buf.truncate(plain_len);
        Ok(())
    }

    /// Opens chunk `index`, whose ciphertext and tag are `buf[src..]`, and moves its
    /// plaintext to the start of `buf` in the same pass (a read of many chunks opens them
    /// into one buffer without copying them again); returns the plaintext length. On
    /// failure `buf` holds nothing usable and nothing may be released from it.
    pub fn open_chunk_within(
        &self,
        index: u64,
        last: bool,
        buf: &mut [u8],
        src: usize,
    ) -> Result<usize, SealError> {
        let len = buf.len().checked_sub(src).ok_or(SealError::BadLength)?;
        if !(TAG..=CHUNK + TAG).contains(&len) || (!last && len != CHUNK + TAG) {
            return Err(SealError::BadLength);
        }
        let nonce = self.nonce(index, last)?;
        self.key
            .open_within(nonce, Aad::empty(), buf, src..)
            .map(|plain| plain.len())
            .map_err(|_| SealError::Unauthentic)
    }

    /// Seals a whole plaintext (small objects, tests).
    pub fn seal_all(&self, plain: &[u8]) -> Result<Vec<u8>, SealError> {
        let mut out = Vec::with_capacity(sealed_len(plain.len() as u64) as usize);
        let count = chunk_count(plain.len() as u64);
        for i in 0..count {
            let start = (i as usize) * CHUNK;
            let end = (start + CHUNK).min(plain.len());
            let mut buf = plain[start..end].to_vec();
            self.seal_chunk(i, i + 1 == count, &mut buf)?;
            out.extend_from_slice(&buf);
        }
        Ok(out)
    }

    /// Opens a whole sealed stream of `plain_len` plaintext bytes.
    pub fn open_all(&self, sealed: &[u8], plain_len: u64) -> Result<Vec<u8>, SealError> {
        if sealed.len() as u64 != sealed_len(plain_len) {
            return Err(SealError::BadLength);
        }
        let count = chunk_count(plain_len);
        let mut out = Vec::with_capacity(plain_len as usize);
        for (i, chunk) in sealed.chunks(CHUNK + TAG).enumerate() {
            let mut buf = chunk.to_vec();
            self.open_chunk(i as u64, i as u64 + 1 == count, &mut buf)?;
            out.extend_from_slice(&buf);
        }
        Ok(out)
    }
}

/// How many chunks seal `plain_len` bytes (an empty stream is one empty chunk).
pub fn chunk_count(plain_len: u64) -> u64 {
    plain_len.div_ceil(CHUNK as u64).max(1)
}

/// The sealed size of `plain_len` plaintext bytes.
pub fn sealed_len(plain_len: u64) -> u64 {
    plain_len + chunk_count(plain_len) * TAG as u64
}

/// What a read of plaintext bytes `first..=last` needs of the sealed stream: chunks
/// `chunks` (start..end), found at sealed bytes `sealed` (start..end), and how many
/// plaintext bytes of the first chunk to skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRange {
    pub chunks: std::ops::Range<u64>,
    pub sealed: std::ops::Range<u64>,
    pub skip: u64,
}

/// The chunks covering plaintext bytes `first..=last` of a stream of `plain_len` bytes.
pub fn sealed_range(first: u64, last: u64, plain_len: u64) -> Option<SealedRange> {
    if first > last || last >= plain_len {
        return None;
    }
    let chunk = CHUNK as u64;
    let (a, b) = (first / chunk, last / chunk + 1);
    let sealed_chunk = chunk + TAG as u64;
    let end = (b * sealed_chunk).min(sealed_len(plain_len));
    Some(SealedRange {
        chunks: a..b,
        sealed: a * sealed_chunk..end,
        skip: first - a * chunk,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StreamKey {
        StreamKey::new(&[7u8; 32], [1, 2, 3, 4, 5, 6, 7]).unwrap()
    }

    fn plain(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    #[test]
    fn round_trips_at_every_boundary() {
        let k = key();
        for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 17] {
            let p = plain(len);
            let s = k.seal_all(&p).unwrap();
            assert_eq!(s.len() as u64, sealed_len(len as u64), "{len}");
            assert_eq!(k.open_all(&s, len as u64).unwrap(), p, "{len}");
        }
    }

    #[test]
    fn every_change_is_refused() {
        let k = key();
        let len = 2 * CHUNK + 100;
        let p = plain(len);
        let s = k.seal_all(&p).unwrap();
        // One bit flipped anywhere: in a body, in a tag, in the last chunk.
        for at in [0, CHUNK - 1, CHUNK, CHUNK + TAG, s.len() - TAG, s.len() - 1] {
            let mut bad = s.clone();
            bad[at] ^= 1;
            assert_eq!(
                k.open_all(&bad, len as u64),
                Err(SealError::Unauthentic),
                "bit at {at}"
            );
        }
        // Truncated to a chunk boundary: the new last chunk was not sealed as last.
        let cut = &s[..2 * (CHUNK + TAG)];
        assert_eq!(
            k.open_all(cut, 2 * CHUNK as u64),
            Err(SealError::Unauthentic)
        );
        // Truncated elsewhere, or extended: impossible lengths or a bad last chunk.
        assert!(k.open_all(&s[..s.len() - 1], len as u64).is_err());
        let mut longer = s.clone();
        longer.extend_from_slice(&s[..CHUNK + TAG]);
        assert!(k.open_all(&longer, (len + CHUNK) as u64).is_err());
        // Two chunks swapped.
        let mut swapped = s.clone();
        let (a, b) = swapped.split_at_mut(CHUNK + TAG);
        a.swap_with_slice(&mut b[..CHUNK + TAG]);
        assert_eq!(
            k.open_all(&swapped, len as u64),
            Err(SealError::Unauthentic)
        );
        // Another key, another prefix.
        let other = StreamKey::new(&[8u8; 32], [1, 2, 3, 4, 5, 6, 7]).unwrap();
        assert_eq!(other.open_all(&s, len as u64), Err(SealError::Unauthentic));
        let moved = StreamKey::new(&[7u8; 32], [0; 7]).unwrap();
        assert_eq!(moved.open_all(&s, len as u64), Err(SealError::Unauthentic));
        // An empty object cannot be emptied further.
        let e = k.seal_all(&[]).unwrap();
        assert_eq!(e.len(), TAG);
        assert_eq!(k.open_all(&[], 0), Err(SealError::BadLength));
    }

    #[test]
    fn ranges_touch_only_their_chunks() {
        let len = 3 * CHUNK as u64 + 10;
        let r = sealed_range(CHUNK as u64 + 5, CHUNK as u64 + 9, len).unwrap();
        assert_eq!(r.chunks, 1..2);
        assert_eq!(r.sealed, (CHUNK + TAG) as u64..2 * (CHUNK + TAG) as u64);
        assert_eq!(r.skip, 5);
        let tail = sealed_range(len - 1, len - 1, len).unwrap();
        assert_eq!(tail.chunks, 3..4);
        assert_eq!(tail.sealed.end, sealed_len(len));
        assert_eq!(sealed_range(0, len, len), None);
        assert_eq!(sealed_range(5, 4, len), None);
        // Opening only those chunks gives the bytes asked for.
        let k = key();
        let p = plain(len as usize);
        let s = k.seal_all(&p).unwrap();
        let r = sealed_range(CHUNK as u64 - 3, 2 * CHUNK as u64 + 2, len).unwrap();
        let mut got = Vec::new();
        let sealed = &s[r.sealed.start as usize..r.sealed.end as usize];
        for (n, c) in sealed.chunks(CHUNK + TAG).enumerate() {
            let i = r.chunks.start + n as u64;
            let mut buf = c.to_vec();
            k.open_chunk(i, i + 1 == chunk_count(len), &mut buf)
                .unwrap();
            got.extend_from_slice(&buf);
        }
        let want = &p[CHUNK - 3..=2 * CHUNK + 2];
        assert_eq!(&got[r.skip as usize..r.skip as usize + want.len()], want);
    }
}
