//! Fetching one segment of object data from the primary. Small segments come into memory;
//! large ones are staged in a file that survives restarts, so an interrupted transfer
//! resumes with a range request where it stopped. Size and MD5 are verified before the
//! file is fsynced and renamed to its final name.

use crate::peer::{PeerClient, VersionOf};
use crate::port::{LocalData, Replica, Staging};
use crate::records::{ObjectRecord, Segment};
use crate::status::{ResumeInfo, StatusCell};
use bytes::Bytes;
use futures::StreamExt;
use md5::{Digest, Md5};
use std::io::{Read, Seek, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Peer(#[from] crate::peer::PeerError),
    #[error("local I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Integrity(String),
}

/// Limits the fetch rate (bytes per second) across all transfers; 0 means unlimited.
/// Each caller is told how long to wait so that the bytes so far fit the rate; idle time
/// is not banked beyond one second.
pub struct Throttle {
    rate: u64,
    state: std::sync::Mutex<(Instant, u64)>,
}

impl Throttle {
    pub fn new(rate: u64) -> Throttle {
        Throttle {
            rate,
            state: std::sync::Mutex::new((Instant::now(), 0)),
        }
    }

    async fn consume(&self, n: u64) {
        let wait = self.wait_for(n);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Counts `n` more bytes; answers how long to wait before going on (a caller on a
    /// blocking thread sleeps it there).
    pub fn wait_for(&self, n: u64) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        {
            let Ok(mut st) = self.state.lock() else {
                return Duration::ZERO;
            };
            let now = Instant::now();
            if now.duration_since(st.0) > Duration::from_secs(1)
                && st.1 as f64 / self.rate as f64 <= now.duration_since(st.0).as_secs_f64()
            {
                *st = (now - Duration::from_secs(1), 0);
            }
            st.1 += n;
            let due = st.0 + Duration::from_secs_f64(st.1 as f64 / self.rate as f64);
            due.saturating_duration_since(now)
        }
    }
}

pub struct Fetcher {
    pub peer: PeerClient,
    pub status: Arc<StatusCell>,
    pub throttle: Throttle,
}

impl Fetcher {
    /// Makes every segment of `record` local: kept when this zone already holds it,
    /// otherwise fetched. `[Superseded]` when the primary no longer has the data.
    pub async fn fetch_object<R: Replica>(
        &self,
        replica: &R,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<Vec<LocalData>, String> {
        let of = VersionOf {
            bucket,
            key,
            version: record.version_label(),
        };
        let mut out = Vec::with_capacity(record.segments.len());
        let single = record.parts_count.is_none() && record.segments.len() == 1;
        for seg in &record.segments {
            if let Some(loc) =
                replica.local_segment(bucket, key, record.version_id.as_deref(), &seg.id)
            {
                out.push(LocalData::Kept(loc));
                continue;
            }
            // A sealed segment's bytes are not the plaintext the MD5s describe: its length
            // is checked here and its chunk tags whenever it is read.
            let md5 = match seg.seal {
                Some(_) => None,
                None => seg
                    .md5
                    .as_deref()
                    .or(single.then_some(record.etag.as_str())),
            };
            let data = if seg.stored_len() <= replica.inline_max() {
                self.fetch_inline(seg, &of, md5).await
            } else {
                let staging = replica
                    .staging(&seg.id)
                    .ok_or_else(|| format!("invalid segment id {}", seg.id))?;
                self.fetch_file(seg, &of, md5, staging).await
            }
            .map_err(|e| e.to_string())?;
            if matches!(data, LocalData::Superseded) {
                return Ok(vec![LocalData::Superseded]);
            }
            out.push(data);
        }
        Ok(out)
    }

    /// Fetches a segment held in memory (inline on this zone).
    pub async fn fetch_inline(
        &self,
        seg: &Segment,
        of: &VersionOf<'_>,
        md5: Option<&str>,
    ) -> Result<LocalData, FetchError> {
        let resp = match self.peer.segment(seg, of, 0).await {
            Ok(r) => r,
            Err(e) if e.code() == Some("superseded") => return Ok(LocalData::Superseded),
            Err(e) => return Err(e.into()),
        };
        let data = resp
            .bytes()
            .await
            .map_err(|e| FetchError::Integrity(format!("transfer of {} broke: {e}", seg.id)))?;
        self.throttle.consume(data.len() as u64).await;
        self.status.update(|s| s.bytes_fetched += data.len() as u64);
        verify(seg, data.len() as u64, md5, || Md5::digest(&data).to_vec())?;
        Ok(LocalData::Inline(data))
    }

    /// Fetches a segment into a blob file, resuming a partial file left by an earlier try.
    pub async fn fetch_file(
        &self,
        seg: &Segment,
        of: &VersionOf<'_>,
        md5: Option<&str>,
        staging: Staging,
    ) -> Result<LocalData, FetchError> {
        if staging.final_path.exists() {
            // Fetched and renamed before a crash; the commit never happened.
            return Ok(LocalData::Disk(staging.dir));
        }
        let partial = staging.partial.clone();
        let (file, hasher, offset) = tokio::task::spawn_blocking(move || open_partial(&partial))
            .await
            .map_err(|e| FetchError::Integrity(e.to_string()))??;
        let offset = if offset > seg.stored_len() { 0 } else { offset };
        if offset > 0 {
            self.status.update(|s| {
                s.last_resume = Some(ResumeInfo {
                    segment: seg.id.clone(),
                    offset,
                    size: seg.stored_len(),
                })
            });
            tracing::info!(segment = %seg.id, offset, size = seg.stored_len(), "resuming segment fetch");
        }
        let resp = match self.peer.segment(seg, of, offset).await {
            Ok(r) => r,
            Err(e) if e.code() == Some("superseded") => {
                let _ = std::fs::remove_file(&staging.partial);
                return Ok(LocalData::Superseded);
            }
            Err(e) => return Err(e.into()),
        };
        let (mut file, mut hasher, offset) = if offset > 0 && resp.status().as_u16() != 206 {
            // The peer sent the whole thing: start over.
            let f = std::fs::File::create(&staging.partial)?;
            (f, Md5::new(), 0)
        } else {
            (file, hasher, offset)
        };
        let mut received = offset;
        let mut stream = resp.bytes_stream();
        // Writes go through a blocking thread in batches, so the runtime never waits on disk.
        let mut pending: Vec<Bytes> = Vec::new();
        let mut pending_len = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                FetchError::Integrity(format!("transfer of {} broke at {received}: {e}", seg.id))
            })?;
            received += chunk.len() as u64;
            if received > seg.stored_len() {
                return Err(FetchError::Integrity(format!(
                    "segment {} is longer than {} bytes",
                    seg.id,
                    seg.stored_len()
                )));
            }
            hasher.update(&chunk);
            let n = chunk.len();
            pending_len += n;
            pending.push(chunk);
            if pending_len >= 1 << 20 {
                file = write_batch(file, std::mem::take(&mut pending)).await?;
                self.status
                    .update(|s| s.bytes_fetched += pending_len as u64);
                pending_len = 0;
            }
            self.throttle.consume(n as u64).await;
        }
        file = write_batch(file, pending).await?;
        self.status
            .update(|s| s.bytes_fetched += pending_len as u64);
        let digest = hasher.finalize().to_vec();
        if let Err(e) = verify(seg, received, md5, || digest) {
            // Whatever is staged is wrong (a torn write, a changed source): start over.
            let _ = std::fs::remove_file(&staging.partial);
            return Err(e);
        }
        let final_path = staging.final_path.clone();
        let partial = staging.partial.clone();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            file.sync_all()?;
            drop(file);
            std::fs::rename(&partial, &final_path)?;
            if let Some(parent) = final_path.parent() {
                std::fs::File::open(parent)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| FetchError::Integrity(e.to_string()))??;
        Ok(LocalData::Disk(staging.dir))
    }
}

fn verify(
    seg: &Segment,
    size: u64,
    md5: Option<&str>,
    digest: impl FnOnce() -> Vec<u8>,
) -> Result<(), FetchError> {
    if size != seg.stored_len() {
        return Err(FetchError::Integrity(format!(
            "segment {}: got {size} bytes, expected {}",
            seg.id,
            seg.stored_len()
        )));
    }
    if let Some(expected) = md5 {
        let got = hex::encode(digest());
        if got != expected {
            return Err(FetchError::Integrity(format!(
                "segment {}: MD5 {got} does not match {expected}",
                seg.id
            )));
        }
    }
    Ok(())
}

/// Opens (or creates) a partial file and hashes what it already holds.
fn open_partial(path: &PathBuf) -> std::io::Result<(std::fs::File, Md5, u64)> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    file.seek(std::io::SeekFrom::End(0))?;
    Ok((file, hasher, len))
}

async fn write_batch(
    mut file: std::fs::File,
    pieces: Vec<Bytes>,
) -> Result<std::fs::File, FetchError> {
    tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        for p in pieces {
            file.write_all(&p)?;
        }
        Ok(file)
    })
    .await
    .map_err(|e| FetchError::Integrity(e.to_string()))?
    .map_err(FetchError::Io)
}

#[cfg(test)]
mod tests {
    use super::Throttle;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn throttle_holds_the_rate_across_callers() {
        let t = std::sync::Arc::new(Throttle::new(1000));
        let start = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..5 {
            let t = t.clone();
            tasks.push(tokio::spawn(async move { t.consume(100).await }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        // 500 bytes at 1000 B/s, shared by five callers.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(450) && took < Duration::from_millis(1500),
            "{took:?}"
        );
        let free = Instant::now();
        Throttle::new(0).consume(1 << 30).await;
        assert!(free.elapsed() < Duration::from_millis(50));
    }
}
