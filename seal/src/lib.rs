//! Encryption at rest (issue 17), the format alone: no I/O, no keys stored here.
//!
//! - [`stream`]: object bytes sealed with AES-256-GCM in chunks of [`stream::CHUNK`]
//!   plaintext bytes, using the STREAM construction (Hoang, Reyhanitabar, Rogaway, Vizár:
//!   "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance"): each
//!   chunk's nonce is a per-object prefix, the chunk's index and a last-chunk flag, so
//!   truncation, extension, reordering and bit flips are all detected, and a range read
//!   opens only the chunks it touches.
//! - [`keys`]: a fresh data key per object version (and per part), wrapped with AES-256-GCM
//!   by a master key, a KMS key or a key derived from a customer's key, with the context
//!   it belongs to as authenticated data.
//!
//! `docs/encryption.md` describes the format with a test vector a reader can check with
//! any AES-GCM implementation.

pub mod keys;
pub mod stream;

/// Why sealed bytes could not be opened (or a key could not be used).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// A chunk's tag did not verify: wrong key, or the bytes were changed, cut, extended
    /// or reordered.
    #[error("sealed data failed authentication")]
    Unauthentic,
    /// The sealed bytes cannot be a whole number of chunks of this format.
    #[error("sealed data has an impossible length")]
    BadLength,
    /// More chunks than the format's counter can number.
    #[error("too many chunks")]
    TooLong,
    /// A key of the wrong size.
    #[error("a key must be 32 bytes")]
    BadKey,
}
