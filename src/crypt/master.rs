//! The zone's master key: 32 random bytes that wrap the key service's keys (never data
//! keys directly). From `BASCULE_MASTER_KEY` (base64), or from a file that only its owner
//! may read; a missing default file is created at first start.

use bascule_seal::keys::Key;
use base64::Engine;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use zeroize::Zeroizing;

/// The environment variable that gives the master key (base64 of 32 bytes).
pub const MASTER_KEY_ENV: &str = "BASCULE_MASTER_KEY";

/// The master key and its public fingerprint (stored beside what it wraps).
pub struct MasterKey {
    pub key: Key,
    pub fingerprint: String,
}

impl MasterKey {
    pub fn new(key: Key) -> MasterKey {
        let fingerprint = bascule_seal::keys::fingerprint(&key);
        MasterKey { key, fingerprint }
    }

    /// Loads the master key: the environment variable wins, then `file`; when neither
    /// exists and `create` is set, a new key is written to `file` (mode 0600).
    pub fn load(env: Option<String>, file: &Path, create: bool) -> Result<MasterKey, String> {
        if let Some(v) = env {
            let raw = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(v.trim())
                    .map_err(|_| format!("{MASTER_KEY_ENV} is not base64"))?,
            );
            return key_of(&raw)
                .map(MasterKey::new)
                .ok_or_else(|| format!("{MASTER_KEY_ENV} must hold 32 bytes"));
        }
        match std::fs::metadata(file) {
            Ok(meta) => {
                if meta.permissions().mode() & 0o077 != 0 {
                    return Err(format!(
                        "{} may be read by others (mode {:o}); it must be 0600",
                        file.display(),
                        meta.permissions().mode() & 0o777
                    ));
                }
                let raw = Zeroizing::new(
                    std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?,
                );
                read_key_bytes(&raw).map(MasterKey::new).ok_or_else(|| {
                    format!("{} must hold 32 bytes (or 64 hex digits)", file.display())
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                let key = bascule_seal::keys::new_data_key().map_err(|e| e.to_string())?;
                write_new(file, &key[..]).map_err(|e| format!("{}: {e}", file.display()))?;
                Ok(MasterKey::new(key))
            }
            Err(e) => Err(format!("{}: {e}", file.display())),
        }
    }
}

/// 32 raw bytes, or 64 hex digits (with an optional trailing newline).
pub fn read_key_bytes(raw: &[u8]) -> Option<Key> {
    if raw.len() == 32 {
        return key_of(raw);
    }
    let text = std::str::from_utf8(raw).ok()?.trim();
    let decoded = Zeroizing::new(hex::decode(text).ok()?);
    key_of(&decoded)
}

fn key_of(raw: &[u8]) -> Option<Key> {
    let bytes: [u8; 32] = raw.try_into().ok()?;
    Some(Zeroizing::new(bytes))
}

/// Writes a new key file, readable by its owner only, durably.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let created = MasterKey::load(None, &path, true).unwrap();
        let again = MasterKey::load(None, &path, false).unwrap();
        assert_eq!(created.fingerprint, again.fingerprint);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = MasterKey::load(None, &path, false).err().unwrap();
        assert!(err.contains("0600"), "{err}");
        let missing = dir.path().join("none.key");
        assert!(MasterKey::load(None, &missing, false).is_err());
        let from_env = MasterKey::load(
            Some(base64::engine::general_purpose::STANDARD.encode([7u8; 32])),
            &missing,
            false,
        )
        .unwrap();
        assert_ne!(from_env.fingerprint, created.fingerprint);
        assert!(MasterKey::load(Some("c2hvcnQ=".into()), &missing, false).is_err());
    }
}
