//! Blob garbage collection without scans. Two durable records, each written in the batch of
//! the change that causes it, say everything: `b<id>` (this blob is referenced) and `r<id>`
//! (this blob was released; its file is still to be removed). Blobs in flight are the files
//! in `tmp/`. So:
//! - after a commit, released files are removed and their `r` records deleted;
//! - at start-up, leftover `r` records are finished, and each file in `tmp/` is either
//!   referenced (moved into place: its commit landed but the rename did not) or removed;
//! - in the background, `tmp/` files nobody has touched for a long time are treated the same.
//!
//! None of it reads object metadata, so it costs the same with ten objects or ten million,
//! and no change of metadata (a multipart completion moving parts into an object, say) can
//! race with it.

use super::blob::BlobStore;
use super::error::StoreError;
use super::{decode, keys, Cf, Handles};
use bascule_replication::records::{Location, Segment};
use rocksdb::{WriteBatch, DB};
use std::fs;
use std::time::{Duration, SystemTime};

/// Files in `tmp/` idle this long are settled or removed by the background pass. A day,
/// because a secondary may hold a fetched blob there while an earlier entry retries.
pub const GC_MIN_AGE: Duration = Duration::from_secs(24 * 3600);

/// Removes the files of blobs released by a durable commit, then their `r` records. The
/// records' deletion need not be synced: redoing a removal is harmless.
pub(super) fn remove_released(db: &DB, cfs: &Handles, blobs: &BlobStore, released: &[Segment]) {
    if released.is_empty() {
        return;
    }
    let cleared = (|| -> Result<(), StoreError> {
        let gc = cfs.cf(Cf::Gc)?;
        let mut batch = WriteBatch::default();
        for seg in released {
            blobs.remove(seg);
            batch.delete_cf(gc, keys::released(&seg.id));
        }
        Ok(db.write(batch)?)
    })();
    if let Err(e) = cleared {
        tracing::warn!(error = %e, "could not clear released-blob records (retried at start-up)");
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct GcReport {
    /// Released blobs whose files were removed.
    pub released: usize,
    /// Files in `tmp/` that a commit referenced, moved into place.
    pub settled: usize,
    /// Files in `tmp/` nothing references, removed.
    pub removed_tmp: usize,
}

/// Finishes removals a crash interrupted (every `r` record left).
pub(super) fn finish_releases(
    db: &DB,
    cfs: &Handles,
    blobs: &BlobStore,
) -> Result<usize, StoreError> {
    let mut segs = Vec::new();
    let iter = db.iterator_cf(
        cfs.cf(Cf::Gc)?,
        rocksdb::IteratorMode::From(keys::RELEASED_PREFIX, rocksdb::Direction::Forward),
    );
    for item in iter {
        let (k, v) = item?;
        if !k.starts_with(keys::RELEASED_PREFIX) {
            break;
        }
        segs.push(decode::<Segment>(&v)?);
    }
    remove_released(db, cfs, blobs, &segs);
    Ok(segs.len())
}

/// Settles or removes the files in `tmp/` untouched for at least `min_age` (all of them at
/// start-up, when no request can still be writing one).
pub(super) fn sweep_tmp(
    db: &DB,
    cfs: &Handles,
    blobs: &BlobStore,
    min_age: Duration,
) -> Result<(usize, usize), StoreError> {
    let now = SystemTime::now();
    let (mut settled, mut removed) = (0, 0);
    for (dir, path) in blobs.tmp_dirs() {
        let Ok(entries) = fs::read_dir(&path) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let idle = e
                .metadata()
                .and_then(|m| m.modified())
                .map(|t| now.duration_since(t).unwrap_or_default() >= min_age)
                .unwrap_or(false);
            if !idle {
                continue;
            }
            let seg = Segment {
                id: name.clone(),
                size: 0,
                loc: Location::Disk(dir),
                md5: None,
                seal: None,
                crc32c: None,
            };
            if db.get_cf(cfs.cf(Cf::Gc)?, keys::blob_ref(&name))?.is_some() {
                blobs.settle(&seg);
                settled += 1;
            } else if fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
    }
    Ok((settled, removed))
}
