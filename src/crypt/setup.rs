//! Start-up of the key service: load the master key, and on a zone that takes writes make
//! sure the zone key and the keys the configuration declares exist (journaled, so the
//! secondary receives them).

use super::master::{MasterKey, MASTER_KEY_ENV};
use super::ring::KeyRing;
use crate::config::{Config, EncryptionConfig};
use crate::store::{Store, StoreError, Txn};
use bascule_replication::records::ZONE_KEY_ID;
use bascule_replication::Op;
use std::sync::Arc;

/// The key ring of this zone. The default master key file is created on first start; a
/// configured one must exist.
pub fn open(config: &Config, store: Arc<Store>) -> Result<KeyRing, String> {
    let (file, create) = match &config.encryption.master_key_file {
        Some(f) => (f.clone(), false),
        None => (config.data_dir.join("master.key"), true),
    };
    let master = MasterKey::load(std::env::var(MASTER_KEY_ENV).ok(), &file, create)?;
    Ok(KeyRing::new(master, store))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Creates the zone key and the declared KMS keys that do not exist yet. Only a zone that
/// takes writes does this; a secondary receives them through the journal.
pub async fn ensure_keys(
    config: &EncryptionConfig,
    store: &Arc<Store>,
    ring: &KeyRing,
) -> Result<(), String> {
    let mut wanted: Vec<(String, Option<bascule_seal::keys::Key>)> =
        vec![(ZONE_KEY_ID.to_string(), None)];
    for (name, path) in &config.kms_keys {
        let raw = zeroize::Zeroizing::new(
            std::fs::read(path).map_err(|e| format!("KMS key {name}: {}: {e}", path.display()))?,
        );
        let key = super::master::read_key_bytes(&raw).ok_or_else(|| {
            format!(
                "KMS key {name}: {} must hold 32 bytes (or 64 hex digits)",
                path.display()
            )
        })?;
        wanted.push((name.clone(), Some(key)));
    }
    for (id, material) in wanted {
        if store.kms_key(&id).map_err(|e| e.to_string())?.is_some() {
            continue;
        }
        let record = ring
            .new_record(&id, material, now_ms())
            .map_err(|e| format!("cannot create key {id}: {e}"))?;
        store
            .commit(move |view| {
                // Created meanwhile (another start-up path): keep the existing material.
                if view.kms_key(&record.id)?.is_some() {
                    return Ok((Txn::default(), ()));
                }
                Ok::<_, StoreError>((Txn::op(Op::PutKmsKey { record }), ()))
            })
            .await
            .map_err(|e| format!("cannot store key {id}: {e}"))?;
    }
    Ok(())
}
