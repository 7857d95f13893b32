//! Object data files. A blob is written to `tmp/`, fsynced, then renamed to
//! `blobs/<xx>/<id>` (and the directory fsynced) before any metadata points to it; its name
//! is a random id, never derived from the object key.

use super::error::StoreError;
use bascule_replication::records::{Location, Segment};
use rand::RngCore;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// Keep this much free space per data directory; a PUT that would need it fails early.
const MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

pub struct BlobStore {
    dirs: Vec<PathBuf>,
    next: AtomicUsize,
}

pub fn new_id() -> String {
    let mut raw = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut raw);
    hex::encode(raw)
}

fn fsync_dir(path: &Path) -> io::Result<()> {
    File::open(path)?.sync_all()
}

/// Free bytes on the filesystem holding `path`.
pub fn free_space(path: &Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs struct.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

impl BlobStore {
    pub fn open(dirs: Vec<PathBuf>) -> Result<BlobStore, StoreError> {
        for d in &dirs {
            fs::create_dir_all(d.join("tmp"))?;
            for i in 0..=255u8 {
                fs::create_dir_all(d.join("blobs").join(format!("{i:02x}")))?;
            }
        }
        Ok(BlobStore {
            dirs,
            next: AtomicUsize::new(0),
        })
    }

    /// Where a blob fetched from the peer is staged across restarts, and where it goes
    /// when complete: a data directory chosen from the id, so a retry finds it again.
    pub fn staging(&self, id: &str) -> Option<(PathBuf, PathBuf, u16)> {
        if id.len() < 2 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let n = self.dirs.len().max(1);
        let dir = (id
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize))
            % n) as u16;
        let partial = self.dirs.get(dir as usize)?.join("replica").join(id);
        Some((partial, self.path(id, dir)?, dir))
    }

    pub fn path(&self, id: &str, dir: u16) -> Option<PathBuf> {
        let base = self.dirs.get(dir as usize)?;
        let shard = id.get(..2)?;
        Some(base.join("blobs").join(shard).join(id))
    }

    /// Starts a new blob in the next data directory that has room.
    pub fn create(&self) -> Result<BlobWriter, StoreError> {
        let n = self.dirs.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let idx = (start + i) % n;
            let dir = &self.dirs[idx];
            if free_space(dir).map(|f| f < MIN_FREE_BYTES).unwrap_or(false) {
                continue;
            }
            let id = new_id();
            let tmp = dir.join("tmp").join(&id);
            let file = File::create(&tmp)?;
            let final_path = self.path(&id, idx as u16).ok_or(StoreError::Closed)?;
            return Ok(BlobWriter {
                file: Some(file),
                tmp,
                final_path,
                id,
                dir: idx as u16,
                size: 0,
            });
        }
        Err(StoreError::Io(io::Error::from_raw_os_error(libc::ENOSPC)))
    }

    pub fn open_segment(&self, seg: &Segment) -> io::Result<File> {
        match seg.loc {
            Location::Disk(d) => File::open(
                self.path(&seg.id, d)
                    .ok_or_else(|| io::Error::other("unknown data dir"))?,
            ),
            Location::Inline => Err(io::Error::other("inline segment has no file")),
        }
    }

    /// Removes a blob whose metadata no longer points to it. Missing files are fine.
    pub fn remove(&self, seg: &Segment) {
        if let Location::Disk(d) = seg.loc {
            if let Some(p) = self.path(&seg.id, d) {
                if let Err(e) = fs::remove_file(&p) {
                    if e.kind() != io::ErrorKind::NotFound {
                        tracing::warn!(path = %p.display(), error = %e, "could not remove blob");
                    }
                }
            }
        }
    }

    /// Deletes temp files older than `min_age` (all of them at start-up).
    pub fn clean_tmp(&self, min_age: Duration) -> usize {
        let mut n = 0;
        for d in &self.dirs {
            n += remove_old_files(&d.join("tmp"), min_age, |_| true);
        }
        n
    }

    /// Deletes blob files older than `min_age` whose id is not referenced. The age guard
    /// protects blobs renamed into place whose metadata commit is still in flight.
    pub fn collect_unreferenced(&self, referenced: &HashSet<String>, min_age: Duration) -> usize {
        let mut n = 0;
        for d in &self.dirs {
            let Ok(shards) = fs::read_dir(d.join("blobs")) else {
                continue;
            };
            for shard in shards.flatten() {
                n += remove_old_files(&shard.path(), min_age, |name| !referenced.contains(name));
            }
        }
        n
    }
}

fn remove_old_files(dir: &Path, min_age: Duration, mut pick: impl FnMut(&str) -> bool) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let old_enough = e
            .metadata()
            .and_then(|m| m.modified())
            .map(|t| now.duration_since(t).unwrap_or_default() >= min_age)
            .unwrap_or(false);
        if old_enough && pick(&name) && fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

/// A blob being written. Dropping it unfinished removes the temp file.
pub struct BlobWriter {
    file: Option<File>,
    tmp: PathBuf,
    final_path: PathBuf,
    id: String,
    dir: u16,
    size: u64,
}

impl BlobWriter {
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => {
                f.write_all(data)?;
                self.size += data.len() as u64;
                Ok(())
            }
            None => Err(io::Error::other("blob already finished")),
        }
    }

    /// Makes the blob durable under its final name and returns where it lives.
    pub fn finish(mut self) -> Result<Segment, StoreError> {
        let file = self.file.take().ok_or(StoreError::Closed)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.final_path)?;
        if let Some(parent) = self.final_path.parent() {
            fsync_dir(parent)?;
        }
        Ok(Segment {
            id: self.id.clone(),
            size: self.size,
            loc: Location::Disk(self.dir),
            md5: None,
        })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
