//! Object data files. A blob is written to `tmp/<id>` and fsynced (with its directory)
//! before any metadata points to it; its name is a random id, never derived from the object
//! key. The commit that references it records that in the same batch (`b<id>` in the Gc
//! column family), and only then is the file renamed to `blobs/<xx>/<id>`. So `tmp/` holds
//! exactly the blobs in flight: at start-up each one is either referenced (moved into place)
//! or not (removed), without looking at any other file or record. Readers look in `blobs/`
//! first and in `tmp/` for a blob whose rename has not happened yet.

use super::error::StoreError;
use super::sealing::Sealer;
use bascule_replication::records::{Location, Segment};
use rand::RngCore;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

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
    Ok(disk_space(path)?.0)
}

/// (free, total) bytes of the filesystem holding `path`; free is what this process may use.
pub fn disk_space(path: &Path) -> io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a valid NUL-terminated path and `st` a writable statvfs struct.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok((st.f_bavail as u64 * frsize, st.f_blocks as u64 * frsize))
}

impl BlobStore {
    /// The data directories blobs are spread over.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

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
        Some((partial, self.tmp_path(id, dir)?, dir))
    }

    /// Where a repair stages a fresh copy of blob `seg` (in its own data directory, so
    /// the rename over the damaged file is atomic), and where the damaged one is set aside
    /// meanwhile (in `tmp/`: removed at the next start, as nothing references that name).
    pub fn repair_paths(&self, seg: &Segment) -> Option<(PathBuf, PathBuf, PathBuf, u16)> {
        let Location::Disk(d) = seg.loc else {
            return None;
        };
        let tmp = self.tmp_path(&seg.id, d)?;
        let staged = tmp.with_file_name(format!("{}.repair", seg.id));
        let aside = tmp.with_file_name(format!("{}.damaged", seg.id));
        Some((staged, self.path(&seg.id, d)?, aside, d))
    }

    /// Where a referenced blob lives once settled.
    pub fn path(&self, id: &str, dir: u16) -> Option<PathBuf> {
        let base = self.dirs.get(dir as usize)?;
        let shard = id.get(..2)?;
        Some(base.join("blobs").join(shard).join(id))
    }

    /// Where a blob lives while in flight (written, not yet referenced and settled).
    fn tmp_path(&self, id: &str, dir: u16) -> Option<PathBuf> {
        if id.is_empty() || id.contains('/') {
            return None;
        }
        Some(self.dirs.get(dir as usize)?.join("tmp").join(id))
    }

    /// Moves a blob that metadata now references from `tmp/` to its place. A blob already
    /// there is fine. Not fsynced: if the rename is lost in a crash, start-up redoes it.
    pub fn settle(&self, seg: &Segment) {
        let Location::Disk(d) = seg.loc else { return };
        let (Some(from), Some(to)) = (self.tmp_path(&seg.id, d), self.path(&seg.id, d)) else {
            return;
        };
        if let Err(e) = fs::rename(&from, &to) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(path = %from.display(), error = %e, "could not settle blob");
            }
        }
    }

    /// The data directories' `tmp/` folders.
    pub fn tmp_dirs(&self) -> impl Iterator<Item = (u16, PathBuf)> + '_ {
        self.dirs
            .iter()
            .enumerate()
            .map(|(i, d)| (i as u16, d.join("tmp")))
    }

    /// Starts blob `id` (from `new_id`) in the next data directory that has room, sealing
    /// what is written with `sealing` when given (the segment's seal record names the same
    /// id).
    pub fn create(&self, id: String, sealing: Option<Sealer>) -> Result<BlobWriter, StoreError> {
        let n = self.dirs.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            let idx = (start + i) % n;
            let dir = &self.dirs[idx];
            if free_space(dir).map(|f| f < MIN_FREE_BYTES).unwrap_or(false) {
                continue;
            }
            let tmp = dir.join("tmp").join(&id);
            let file = File::create(&tmp)?;
            return Ok(BlobWriter {
                file: Some(Output {
                    file,
                    written: 0,
                    flushing_from: 0,
                }),
                tmp,
                id,
                dir: idx as u16,
                size: 0,
                sealing,
            });
        }
        Err(StoreError::Io(io::Error::from_raw_os_error(libc::ENOSPC)))
    }

    pub fn open_segment(&self, seg: &Segment) -> io::Result<File> {
        let Location::Disk(d) = seg.loc else {
            return Err(io::Error::other("inline segment has no file"));
        };
        let unknown = || io::Error::other("unknown data dir");
        let settled = self.path(&seg.id, d).ok_or_else(unknown)?;
        let in_flight = self.tmp_path(&seg.id, d).ok_or_else(unknown)?;
        // A just-committed blob may still be in tmp/, or be renamed between two looks.
        for path in [&settled, &in_flight, &settled] {
            match File::open(path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                other => return other,
            }
        }
        Err(io::Error::from(io::ErrorKind::NotFound))
    }

    /// Removes a blob whose metadata no longer points to it (wherever it is). Missing
    /// files are fine.
    pub fn remove(&self, seg: &Segment) {
        if let Location::Disk(d) = seg.loc {
            for p in [self.path(&seg.id, d), self.tmp_path(&seg.id, d)]
                .into_iter()
                .flatten()
            {
                if let Err(e) = fs::remove_file(&p) {
                    if e.kind() != io::ErrorKind::NotFound {
                        tracing::warn!(path = %p.display(), error = %e, "could not remove blob");
                    }
                }
            }
        }
    }
}

/// A blob being written. Dropping it unfinished removes the temp file.
pub struct BlobWriter {
    file: Option<Output>,
    tmp: PathBuf,
    id: String,
    dir: u16,
    /// Plaintext bytes written.
    size: u64,
    sealing: Option<Sealer>,
}

/// A blob file being written. Every `WRITEBACK_STEP` bytes the kernel is asked to start
/// writing what is new (`sync_file_range`, which waits for nothing unless the disk's queue
/// is full), so the fsync that ends the upload has only the last few MiB left to wait for
/// instead of the whole object. Durability is unchanged: the upload is acknowledged only
/// after that fsync.
struct Output {
    file: File,
    written: u64,
    flushing_from: u64,
}

/// How much a blob file grows between two writeback starts.
const WRITEBACK_STEP: u64 = 8 << 20;

impl Output {
    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)?;
        self.written += data.len() as u64;
        if self.written - self.flushing_from >= WRITEBACK_STEP {
            use std::os::fd::AsRawFd;
            // SAFETY: a plain system call on a file descriptor this struct owns.
            let r = unsafe {
                libc::sync_file_range(
                    self.file.as_raw_fd(),
                    self.flushing_from as libc::off64_t,
                    (self.written - self.flushing_from) as libc::off64_t,
                    libc::SYNC_FILE_RANGE_WRITE,
                )
            };
            // Only a hint: the fsync at the end is what makes the data durable.
            if r == 0 {
                self.flushing_from = self.written;
            }
        }
        Ok(())
    }
}

impl BlobWriter {
    /// Writes plaintext (sealed on the way when the blob is sealed).
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Err(io::Error::other("blob already finished"));
        };
        match self.sealing.as_mut() {
            Some(s) => s.push(data, &mut |sealed| f.write_all(sealed))?,
            None => f.write_all(data)?,
        }
        self.size += data.len() as u64;
        Ok(())
    }

    /// Makes the blob durable (still in `tmp/`, until the commit that references it) and
    /// returns where it lives (its seal record is the caller's to attach). A commit that
    /// fails must `remove` it.
    pub fn finish(mut self) -> Result<Segment, StoreError> {
        let mut file = self.file.take().ok_or(StoreError::Closed)?;
        if let Some(s) = self.sealing.take() {
            if let Err(e) = s.finish(&mut |sealed| file.write_all(sealed)) {
                let _ = fs::remove_file(&self.tmp);
                return Err(e.into());
            }
        }
        if let Err(e) = file.file.sync_all() {
            let _ = fs::remove_file(&self.tmp);
            return Err(e.into());
        }
        drop(file);
        if let Some(parent) = self.tmp.parent() {
            if let Err(e) = fsync_dir(parent) {
                let _ = fs::remove_file(&self.tmp);
                return Err(e.into());
            }
        }
        Ok(Segment {
            id: self.id.clone(),
            size: self.size,
            loc: Location::Disk(self.dir),
            md5: None,
            seal: None,
            crc32c: None,
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
