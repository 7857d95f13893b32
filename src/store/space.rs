//! Disk space for metadata. RocksDB needs room to take a delete (its WAL grows before
//! anything shrinks) and to open at all (a new WAL, MANIFEST and OPTIONS file). So:
//! - changes that add data are refused once the metadata volume has less than
//!   `META_RESERVE` free, while deletes and aborts still go through and free space;
//! - a ballast file next to the metadata holds `BALLAST` bytes while there is room, and is
//!   removed before the database opens, so a zone whose disk filled up can still restart.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Free bytes below which changes that add data are refused.
pub const META_RESERVE: u64 = 16 * 1024 * 1024;
/// Bytes held back for the next start.
const BALLAST: u64 = 8 * 1024 * 1024;

fn ballast_path(meta_dir: &Path) -> PathBuf {
    meta_dir.with_extension("reserve")
}

/// Is the metadata volume below its reserve? (Unknown counts as not full.)
pub fn metadata_full(meta_dir: &Path) -> bool {
    super::blob::free_space(meta_dir)
        .map(|free| free < META_RESERVE)
        .unwrap_or(false)
}

/// Gives the ballast's space back before the database opens.
pub fn release_ballast(meta_dir: &Path) {
    let path = ballast_path(meta_dir);
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot remove the ballast"),
    }
}

/// Puts the ballast back when there is room for it and the reserve.
pub fn restore_ballast(meta_dir: &Path) {
    let path = ballast_path(meta_dir);
    if path.exists() {
        return;
    }
    let room = super::blob::free_space(meta_dir).unwrap_or(0);
    if room < META_RESERVE + 2 * BALLAST {
        return;
    }
    let written = (|| -> std::io::Result<()> {
        let mut f = File::create(&path)?;
        let chunk = vec![0u8; 1 << 20];
        for _ in 0..BALLAST / chunk.len() as u64 {
            f.write_all(&chunk)?;
        }
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&path);
        tracing::warn!(error = %e, "cannot write the ballast file");
    }
}
