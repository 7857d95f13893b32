//! The zone's key service: the zone key (SSE-S3) and named KMS keys, kept in the metadata
//! store as journaled records (so the secondary has them), their material wrapped by the
//! master key. Unwrapped material is cached in memory only.

use super::master::MasterKey;
use super::KeyError;
use crate::store::Store;
use bascule_replication::records::{KeyVersion, KmsKeyRecord, ZONE_KEY_ID};
use bascule_seal::keys::Key;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A key-encryption key ready to use, and how segments name it (`<id>#<version>`).
pub struct Kek {
    pub name: String,
    pub key: Arc<Key>,
}

pub struct KeyRing {
    master: MasterKey,
    store: Arc<Store>,
    /// Unwrapped material by `<id>#<version>`.
    cache: Mutex<HashMap<String, Arc<Key>>>,
    /// Key records by id, with the store's key generation they were read at: every
    /// encrypted request needs its key's record, and a change (a disable) must count at
    /// once, so a record is read again whenever any key changed since.
    records: Mutex<HashMap<String, (u64, Arc<KmsKeyRecord>)>>,
}

/// The authenticated data binding a key's material to its id and version.
fn material_context(id: &str, n: u32) -> Vec<u8> {
    format!("bascule kms key\0{id}\0{n}").into_bytes()
}

pub fn kek_name(id: &str, n: u32) -> String {
    format!("{id}#{n}")
}

impl KeyRing {
    pub fn new(master: MasterKey, store: Arc<Store>) -> KeyRing {
        KeyRing {
            master,
            store,
            cache: Mutex::new(HashMap::new()),
            records: Mutex::new(HashMap::new()),
        }
    }

    pub fn master_fingerprint(&self) -> &str {
        &self.master.fingerprint
    }

    /// A new version of a key's material (random unless given), wrapped by the master key.
    pub fn new_version(
        &self,
        id: &str,
        n: u32,
        material: Option<Key>,
        now_ms: u64,
    ) -> Result<KeyVersion, KeyError> {
        let material = match material {
            Some(m) => m,
            None => bascule_seal::keys::new_data_key().map_err(KeyError::seal)?,
        };
        let wrapped =
            bascule_seal::keys::wrap(&self.master.key, &material, &material_context(id, n))
                .map_err(KeyError::seal)?;
        Ok(KeyVersion {
            n,
            wrapped: hex::encode(wrapped),
            master: self.master.fingerprint.clone(),
            created_ms: now_ms,
        })
    }

    /// A new key record with one version of material.
    pub fn new_record(
        &self,
        id: &str,
        material: Option<Key>,
        now_ms: u64,
    ) -> Result<KmsKeyRecord, KeyError> {
        Ok(KmsKeyRecord {
            id: id.to_string(),
            created_ms: now_ms,
            enabled: true,
            versions: vec![self.new_version(id, 1, material, now_ms)?],
        })
    }

    /// The record with one more version, which becomes the active one.
    pub fn rotated(&self, mut record: KmsKeyRecord, now_ms: u64) -> Result<KmsKeyRecord, KeyError> {
        let n = record.versions.iter().map(|v| v.n).max().unwrap_or(0) + 1;
        let v = self.new_version(&record.id, n, None, now_ms)?;
        record.versions.push(v);
        Ok(record)
    }

    /// The record without version `n`, whose material is then gone: data it still wraps
    /// would no longer open, so the caller checks that none is left. The active version
    /// cannot be retired.
    pub fn retired(&self, mut record: KmsKeyRecord, n: u32) -> Result<KmsKeyRecord, KeyError> {
        let name = kek_name(&record.id, n);
        if record.version(n).is_none() {
            return Err(KeyError::NotFound(name));
        }
        if record.active().is_some_and(|v| v.n == n) {
            return Err(KeyError::Active(name));
        }
        record.versions.retain(|v| v.n != n);
        if let Ok(mut c) = self.cache.lock() {
            c.remove(&name);
        }
        Ok(record)
    }

    /// The active version of `id` when the key exists and is enabled (the re-wrap worker
    /// leaves the data of disabled keys as it is).
    pub fn active_if_enabled(&self, id: &str) -> Result<Option<Kek>, KeyError> {
        match self.record(id) {
            Ok(r) if r.enabled => self.active(id).map(Some),
            Ok(_) | Err(KeyError::NotFound(_) | KeyError::Unavailable(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn record(&self, id: &str) -> Result<Arc<KmsKeyRecord>, KeyError> {
        let generation = self.store.kms_generation();
        if let Some((g, r)) = self.records.lock().ok().and_then(|c| c.get(id).cloned()) {
            if g == generation {
                return Ok(r);
            }
        }
        let record = Arc::new(self.stored_record(id)?);
        if let Ok(mut c) = self.records.lock() {
            c.insert(id.to_string(), (generation, record.clone()));
        }
        Ok(record)
    }

    fn stored_record(&self, id: &str) -> Result<KmsKeyRecord, KeyError> {
        self.store
            .kms_key(id)
            .map_err(KeyError::Store)?
            .ok_or_else(|| {
                if id == ZONE_KEY_ID {
                    KeyError::Unavailable(id.to_string())
                } else {
                    KeyError::NotFound(id.to_string())
                }
            })
    }

    /// The key that wraps new data keys for `id`: its active version.
    pub fn active(&self, id: &str) -> Result<Kek, KeyError> {
        let record = self.record(id)?;
        if !record.enabled {
            return Err(KeyError::Disabled(id.to_string()));
        }
        let v = record
            .active()
            .ok_or_else(|| KeyError::Unavailable(id.to_string()))?;
        Ok(Kek {
            name: kek_name(id, v.n),
            key: self.unwrap_version(id, v)?,
        })
    }

    /// Version `n` of key `id`, to open data it wrapped. A disabled key opens nothing.
    pub fn version(&self, id: &str, n: u32) -> Result<Arc<Key>, KeyError> {
        let record = self.record(id).map_err(|e| match e {
            // Data that names a key this zone lacks: the zone is missing it, whatever
            // the client asked.
            KeyError::NotFound(id) => KeyError::Unavailable(id),
            other => other,
        })?;
        if !record.enabled {
            return Err(KeyError::Disabled(id.to_string()));
        }
        let v = record
            .version(n)
            .ok_or_else(|| KeyError::Unavailable(kek_name(id, n)))?;
        self.unwrap_version(id, v)
    }

    fn unwrap_version(&self, id: &str, v: &KeyVersion) -> Result<Arc<Key>, KeyError> {
        let name = kek_name(id, v.n);
        if let Some(k) = self.cache.lock().ok().and_then(|c| c.get(&name).cloned()) {
            return Ok(k);
        }
        if v.master != self.master.fingerprint {
            tracing::error!(
                key = %name,
                wrapped_by = %v.master,
                this_zone = %self.master.fingerprint,
                "a key was wrapped by another master key: give both zones the same one"
            );
            return Err(KeyError::Unavailable(name));
        }
        let wrapped = hex::decode(&v.wrapped).map_err(|_| KeyError::Unavailable(name.clone()))?;
        let key =
            bascule_seal::keys::unwrap(&self.master.key, &wrapped, &material_context(id, v.n))
                .map_err(|_| KeyError::Unavailable(name.clone()))?;
        let key = Arc::new(key);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(name, key.clone());
        }
        Ok(key)
    }
}
