//! Encryption at rest, the server's side (the format is the `bascule-seal` crate): the
//! master key, the key service, and the one place that gives a segment its data key when
//! it is written and finds it again when it is read.

pub mod master;
pub mod rewrap;
pub mod ring;
pub mod setup;

use self::ring::KeyRing;
use bascule_api::{S3Error, S3ErrorCode};
use bascule_replication::records::{Encryption, Seal, CUSTOMER_KEK};
use bascule_seal::keys::Key;
use bascule_seal::stream::{StreamKey, PREFIX};

/// Requests refused because this zone could not open the key of stored data (on
/// `/metrics`: a zone missing its peer's keys or master key says so).
pub static UNAVAILABLE_KEY_REFUSALS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// Why a data key could not be made or found.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("KMS key {0} does not exist")]
    NotFound(String),
    #[error("KMS key {0} is disabled")]
    Disabled(String),
    /// Data names a key this zone cannot open (missing record, another master key,
    /// damaged record): refused, never served as garbage.
    #[error("this zone cannot open key {0}")]
    Unavailable(String),
    /// The version that wraps new data keys cannot be retired.
    #[error("{0} is the active version")]
    Active(String),
    #[error("the object is encrypted with a customer key and none was given")]
    CustomerKeyMissing,
    #[error("the customer key does not match the object's")]
    CustomerKeyWrong,
    #[error("store: {0}")]
    Store(crate::store::StoreError),
    #[error("encryption: {0}")]
    Seal(bascule_seal::SealError),
}

impl KeyError {
    pub fn seal(e: bascule_seal::SealError) -> KeyError {
        KeyError::Seal(e)
    }
}

impl From<KeyError> for S3Error {
    fn from(e: KeyError) -> S3Error {
        match e {
            KeyError::NotFound(id) => S3Error::msg(
                S3ErrorCode::KmsNotFound,
                format!("Invalid keyId {id}"),
            ),
            KeyError::Disabled(id) => S3Error::msg(
                S3ErrorCode::KmsDisabled,
                format!("The KMS key {id} is disabled."),
            ),
            KeyError::Unavailable(id) => {
                tracing::error!(key = %id, "cannot open the key of stored data");
                UNAVAILABLE_KEY_REFUSALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                S3Error::new(S3ErrorCode::KmsUnavailable).with("KeyId", id)
            }
            KeyError::CustomerKeyMissing => S3Error::msg(
                S3ErrorCode::InvalidRequest,
                "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.",
            ),
            KeyError::CustomerKeyWrong => S3Error::msg(
                S3ErrorCode::AccessDenied,
                "The calculated MD5 hash of the key did not match the hash that was stored for this object.",
            ),
            KeyError::Active(name) => S3Error::msg(
                S3ErrorCode::InvalidRequest,
                format!("{name} is the active version of its key"),
            ),
            KeyError::Store(e) => e.into(),
            KeyError::Seal(_) => S3Error::new(S3ErrorCode::InternalError),
        }
    }
}

/// A customer's key (SSE-C), held only for the request that carries it.
pub struct CustomerKey {
    pub key: Key,
    /// Base64 MD5 of the key, as the client sent it (echoed, stored).
    pub md5: String,
}

/// How a write seals its data.
pub struct SealSpec {
    pub encryption: Encryption,
    pub customer: Option<CustomerKey>,
}

/// The authenticated data of a segment's wrapped data key: the segment, the key that
/// wraps it and the KMS encryption context, so a wrapped key moved elsewhere opens nothing.
fn data_key_context(seg_id: &str, kek: &str, encryption: Option<&Encryption>) -> Vec<u8> {
    let kms_context = match encryption {
        Some(Encryption::Kms {
            context: Some(c), ..
        }) => c.as_str(),
        _ => "",
    };
    format!("bascule data key\0{seg_id}\0{kek}\0{kms_context}").into_bytes()
}

impl KeyRing {
    /// A fresh data key for the new segment `seg_id`: the key to seal its stream with and
    /// the record of how to find it again.
    pub fn seal_segment(
        &self,
        spec: &SealSpec,
        seg_id: &str,
    ) -> Result<(StreamKey, Seal), KeyError> {
        let data_key = bascule_seal::keys::new_data_key().map_err(KeyError::seal)?;
        let prefix = bascule_seal::keys::random::<PREFIX>().map_err(KeyError::seal)?;
        let (kek_name, kek, salt_check) = match (&spec.encryption, &spec.customer) {
            (Encryption::Customer { .. }, Some(c)) => {
                let salt = bascule_seal::keys::random::<16>().map_err(KeyError::seal)?;
                let kek =
                    bascule_seal::keys::customer_kek(&c.key, &salt).map_err(KeyError::seal)?;
                let check = bascule_seal::keys::customer_key_check(&c.key, &salt);
                (
                    CUSTOMER_KEK.to_string(),
                    std::sync::Arc::new(kek),
                    Some((salt, check)),
                )
            }
            (Encryption::Customer { .. }, None) => return Err(KeyError::CustomerKeyMissing),
            (Encryption::S3, _) => {
                let k = self.active(bascule_replication::records::ZONE_KEY_ID)?;
                (k.name, k.key, None)
            }
            (Encryption::Kms { key_id, .. }, _) => {
                let k = self.active(key_id)?;
                (k.name, k.key, None)
            }
        };
        let context = data_key_context(seg_id, &kek_name, Some(&spec.encryption));
        let wrapped =
            bascule_seal::keys::wrap(&kek, &data_key, &context).map_err(KeyError::seal)?;
        let stream = StreamKey::new(&data_key[..], prefix).map_err(KeyError::seal)?;
        Ok((
            stream,
            Seal {
                kek: kek_name,
                wrapped: hex::encode(wrapped),
                prefix: hex::encode(prefix),
                salt: salt_check.as_ref().map(|(s, _)| hex::encode(s)),
                check: salt_check.map(|(_, c)| hex::encode(c)),
            },
        ))
    }

    /// The key that opens sealed segment `seg_id` of an object with `encryption`.
    pub fn open_segment(
        &self,
        seg_id: &str,
        seal: &Seal,
        encryption: Option<&Encryption>,
        customer: Option<&CustomerKey>,
    ) -> Result<StreamKey, KeyError> {
        let damaged = || KeyError::Unavailable(seal.kek.clone());
        let kek = if seal.kek == CUSTOMER_KEK {
            let c = customer.ok_or(KeyError::CustomerKeyMissing)?;
            let salt = seal
                .salt
                .as_deref()
                .and_then(|s| hex::decode(s).ok())
                .ok_or_else(damaged)?;
            let check = seal
                .check
                .as_deref()
                .and_then(|s| hex::decode(s).ok())
                .ok_or_else(damaged)?;
            if !bascule_seal::keys::customer_key_matches(&c.key, &salt, &check) {
                return Err(KeyError::CustomerKeyWrong);
            }
            std::sync::Arc::new(
                bascule_seal::keys::customer_kek(&c.key, &salt).map_err(KeyError::seal)?,
            )
        } else {
            let (id, n) = seal.ring_key().ok_or_else(damaged)?;
            self.version(id, n)?
        };
        let wrapped = hex::decode(&seal.wrapped).map_err(|_| damaged())?;
        let context = data_key_context(seg_id, &seal.kek, encryption);
        let data_key =
            bascule_seal::keys::unwrap(&kek, &wrapped, &context).map_err(|_| damaged())?;
        let prefix: [u8; PREFIX] = hex::decode(&seal.prefix)
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(damaged)?;
        StreamKey::new(&data_key[..], prefix).map_err(KeyError::seal)
    }
}

impl KeyRing {
    /// The seal of segment `seg_id` with its data key wrapped again under the active
    /// version of its key, or `None` when it already is, or is not the key service's to
    /// rewrap (a customer's key, a disabled key). The data and its nonce prefix stay.
    pub fn rewrapped(
        &self,
        seg_id: &str,
        seal: &Seal,
        encryption: Option<&Encryption>,
    ) -> Result<Option<Seal>, KeyError> {
        let Some((id, n)) = seal.ring_key() else {
            return Ok(None);
        };
        let Some(active) = self.active_if_enabled(id)? else {
            return Ok(None);
        };
        if active.name == seal.kek {
            return Ok(None);
        }
        let damaged = || KeyError::Unavailable(seal.kek.clone());
        let old = self.version(id, n)?;
        let wrapped = hex::decode(&seal.wrapped).map_err(|_| damaged())?;
        let data_key = bascule_seal::keys::unwrap(
            &old,
            &wrapped,
            &data_key_context(seg_id, &seal.kek, encryption),
        )
        .map_err(|_| damaged())?;
        let context = data_key_context(seg_id, &active.name, encryption);
        let wrapped =
            bascule_seal::keys::wrap(&active.key, &data_key, &context).map_err(KeyError::seal)?;
        Ok(Some(Seal {
            kek: active.name,
            wrapped: hex::encode(wrapped),
            ..seal.clone()
        }))
    }
}

/// What a read needs to open an object's sealed segments: the key service, the object's
/// encryption, and the customer's key when the request carries one.
pub struct Opener {
    ring: std::sync::Arc<KeyRing>,
    encryption: Option<Encryption>,
    customer: Option<CustomerKey>,
}

impl Opener {
    pub fn new(
        ring: std::sync::Arc<KeyRing>,
        encryption: Option<Encryption>,
        customer: Option<CustomerKey>,
    ) -> Opener {
        Opener {
            ring,
            encryption,
            customer,
        }
    }

    /// The stream key of one sealed segment of the object.
    pub fn key_of(
        &self,
        seg: &bascule_replication::records::Segment,
        seal: &Seal,
    ) -> Result<StreamKey, S3Error> {
        self.ring
            .open_segment(
                &seg.id,
                seal,
                self.encryption.as_ref(),
                self.customer.as_ref(),
            )
            .map_err(Into::into)
    }
}
