//! Turns plaintext arriving in pieces of any size into a sealed stream (the format of
//! `docs/encryption.md`): full chunks are sealed as they fill, and the last one is held
//! back until the end, since only then is it known to be last.

use bascule_seal::stream::{StreamKey, CHUNK, TAG};
use std::io;

pub struct Sealer {
    key: StreamKey,
    pending: Vec<u8>,
    index: u64,
}

fn sealing_failed(e: bascule_seal::SealError) -> io::Error {
    io::Error::other(e)
}

impl Sealer {
    pub fn new(key: StreamKey) -> Sealer {
        Sealer {
            key,
            pending: Vec::with_capacity(CHUNK + TAG),
            index: 0,
        }
    }

    /// Takes more plaintext; every chunk that is now known not to be the last is sealed
    /// and handed to `write`.
    pub fn push(
        &mut self,
        mut data: &[u8],
        write: &mut impl FnMut(&[u8]) -> io::Result<()>,
    ) -> io::Result<()> {
        while !data.is_empty() {
            if self.pending.len() == CHUNK {
                self.key
                    .seal_chunk(self.index, false, &mut self.pending)
                    .map_err(sealing_failed)?;
                write(&self.pending)?;
                self.pending.clear();
                self.index += 1;
            }
            let take = (CHUNK - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(())
    }

    /// Seals what is left as the last chunk (an empty stream is one empty last chunk).
    pub fn finish(mut self, write: &mut impl FnMut(&[u8]) -> io::Result<()>) -> io::Result<()> {
        self.key
            .seal_chunk(self.index, true, &mut self.pending)
            .map_err(sealing_failed)?;
        write(&self.pending)
    }

    /// Seals a whole plaintext held in memory (inline objects).
    pub fn seal_all(key: StreamKey, plain: &[u8]) -> io::Result<Vec<u8>> {
        key.seal_all(plain).map_err(sealing_failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_of_any_size_make_the_same_stream() {
        let k = || StreamKey::new(&[5u8; 32], [2u8; 7]).unwrap();
        for size in [
            0usize,
            1,
            CHUNK - 1,
            CHUNK,
            CHUNK + 1,
            3 * CHUNK,
            3 * CHUNK + 77,
        ] {
            let plain: Vec<u8> = (0..size).map(|i| (i * 7 % 256) as u8).collect();
            let whole = k().seal_all(&plain).unwrap();
            for piece in [1usize, 1000, CHUNK, CHUNK + 3, 1 << 20] {
                let mut s = Sealer::new(k());
                let mut out = Vec::new();
                let mut w = |b: &[u8]| {
                    out.extend_from_slice(b);
                    Ok(())
                };
                for p in plain.chunks(piece) {
                    s.push(p, &mut w).unwrap();
                }
                s.finish(&mut w).unwrap();
                assert_eq!(out, whole, "size {size} piece {piece}");
            }
        }
    }
}
