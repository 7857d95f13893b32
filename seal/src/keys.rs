//! Data keys and how they are kept: a fresh random 32-byte data key per sealed stream,
//! stored only wrapped (AES-256-GCM) by a key-encryption key, with the context it belongs
//! to (which object, which key id) as authenticated data, so a wrapped key moved to
//! another record does not open.
//!
//! Key-encryption keys: a zone master key or a KMS key (32 bytes each, from the key
//! ring), or, for SSE-C, a key derived from the customer's key and a per-object salt with
//! HKDF-SHA256; the customer's key itself is never stored, only an HMAC of it under the
//! salt to tell a wrong key (403) from damaged data.

use crate::SealError;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// A 32-byte key whose memory is wiped when dropped.
pub type Key = Zeroizing<[u8; 32]>;

/// Random bytes from the operating system.
pub fn random<const N: usize>() -> Result<[u8; N], SealError> {
    let mut out = [0u8; N];
    SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| SealError::BadKey)?;
    Ok(out)
}

/// A fresh data key.
pub fn new_data_key() -> Result<Key, SealError> {
    Ok(Zeroizing::new(random::<32>()?))
}

/// A wrapped data key: nonce (12 bytes) || ciphertext (32) || tag (16).
pub const WRAPPED_LEN: usize = 12 + 32 + 16;

/// Wraps `data_key` under `kek`, bound to `context`.
pub fn wrap(kek: &[u8; 32], data_key: &[u8; 32], context: &[u8]) -> Result<Vec<u8>, SealError> {
    wrap_with_nonce(kek, data_key, context, random::<12>()?)
}

fn wrap_with_nonce(
    kek: &[u8; 32],
    data_key: &[u8; 32],
    context: &[u8],
    nonce: [u8; 12],
) -> Result<Vec<u8>, SealError> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek).map_err(|_| SealError::BadKey)?);
    let mut buf = data_key.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(context),
        &mut buf,
    )
    .map_err(|_| SealError::BadKey)?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

/// Unwraps a data key wrapped under `kek` for `context`.
pub fn unwrap(kek: &[u8; 32], wrapped: &[u8], context: &[u8]) -> Result<Key, SealError> {
    if wrapped.len() != WRAPPED_LEN {
        return Err(SealError::BadLength);
    }
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, kek).map_err(|_| SealError::BadKey)?);
    let mut nonce = [0u8; 12];
    nonce.copy_from_slice(&wrapped[..12]);
    let mut buf = Zeroizing::new(wrapped[12..].to_vec());
    let plain = key
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context),
            &mut buf,
        )
        .map_err(|_| SealError::Unauthentic)?;
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(plain);
    Ok(out)
}

struct Len32;
impl ring::hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

/// The key-encryption key of an SSE-C object: HKDF-SHA256 of the customer's key with the
/// object's salt.
pub fn customer_kek(customer_key: &[u8; 32], salt: &[u8]) -> Result<Key, SealError> {
    let prk = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, salt).extract(customer_key);
    let okm = prk
        .expand(&[b"bascule sse-c kek"], Len32)
        .map_err(|_| SealError::BadKey)?;
    let mut out = Zeroizing::new([0u8; 32]);
    okm.fill(&mut out[..]).map_err(|_| SealError::BadKey)?;
    Ok(out)
}

/// What is stored to recognise a customer's key: HMAC-SHA256 under the object's salt.
pub fn customer_key_check(customer_key: &[u8; 32], salt: &[u8]) -> Vec<u8> {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, salt);
    ring::hmac::sign(&k, customer_key).as_ref().to_vec()
}

/// A public name for a key-encryption key (16 hex digits): stored beside what it wraps so a
/// zone holding another key says so instead of failing to open data.
pub fn fingerprint(kek: &[u8; 32]) -> String {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, kek);
    hex::encode(&ring::hmac::sign(&k, b"bascule key fingerprint").as_ref()[..8])
}

/// Does `customer_key` match the stored check value (in constant time)?
pub fn customer_key_matches(customer_key: &[u8; 32], salt: &[u8], check: &[u8]) -> bool {
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, salt);
    ring::hmac::verify(&k, customer_key, check).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapped_keys_open_only_in_their_context() {
        let kek = [3u8; 32];
        let dk = new_data_key().unwrap();
        let w = wrap(&kek, &dk, b"courses/exam.pdf#v1").unwrap();
        assert_eq!(w.len(), WRAPPED_LEN);
        assert_eq!(*unwrap(&kek, &w, b"courses/exam.pdf#v1").unwrap(), *dk);
        assert_eq!(
            unwrap(&kek, &w, b"courses/other.pdf#v1").map(|_| ()),
            Err(SealError::Unauthentic)
        );
        assert_eq!(
            unwrap(&[4u8; 32], &w, b"courses/exam.pdf#v1").map(|_| ()),
            Err(SealError::Unauthentic)
        );
        for at in 0..w.len() {
            let mut bad = w.clone();
            bad[at] ^= 0x80;
            assert!(unwrap(&kek, &bad, b"courses/exam.pdf#v1").is_err(), "{at}");
        }
        assert_eq!(
            unwrap(&kek, &w[..10], b"x").map(|_| ()),
            Err(SealError::BadLength)
        );
    }

    #[test]
    fn customer_keys_are_recognised_not_stored() {
        let ck = [9u8; 32];
        let salt = [1u8; 16];
        let check = customer_key_check(&ck, &salt);
        assert!(customer_key_matches(&ck, &salt, &check));
        assert!(!customer_key_matches(&[8u8; 32], &salt, &check));
        assert!(!customer_key_matches(&ck, &[2u8; 16], &check));
        let kek = customer_kek(&ck, &salt).unwrap();
        assert_ne!(
            *kek, ck,
            "the stored wrapping never uses the customer key itself"
        );
        assert_ne!(*customer_kek(&ck, &[2u8; 16]).unwrap(), *kek);
    }

    /// The test vector of docs/encryption.md: anyone can check it with another AES-GCM.
    #[test]
    fn documented_vector() {
        let kek = [0x11u8; 32];
        let dk = [0x22u8; 32];
        let w = wrap_with_nonce(&kek, &dk, b"ctx", [0x33; 12]).unwrap();
        assert_eq!(hex::encode(&w[..12]), "333333333333333333333333");
        let stream = crate::stream::StreamKey::new(&dk, [0x44; 7]).unwrap();
        let sealed = stream.seal_all(b"Bascule").unwrap();
        assert_eq!(sealed.len(), 7 + 16);
        assert_eq!(stream.open_all(&sealed, 7).unwrap(), b"Bascule");
        // The values docs/encryption.md gives (checked there with another implementation).
        assert_eq!(hex::encode(&w), "333333333333333333333333a6a17064e8b0570e909ac94f8509c10a24ea2d16a8fba78eda682ba781aca8081032b958b814c2186030eb25e286e390");
        assert_eq!(
            hex::encode(&sealed),
            "ba0906d18f7f348d608cea7144fd40b266dd883c2add91"
        );
    }
}
