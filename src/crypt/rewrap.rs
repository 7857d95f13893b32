//! The re-wrap worker. A rotation makes a new version of a key active; data keys wrapped
//! by older versions keep opening, and this worker wraps them again under the active
//! version (60 bytes per segment: the data itself is never read or rewritten), so the old
//! version can be retired once the per-version counts the store keeps reach 0.
//!
//! Like lifecycle, it runs only where writes are taken: each re-wrap of an object version
//! is an ordinary journaled change (`Op::RewrapSegments`), so the secondary's records
//! follow. Parts of uploads in progress are local and re-wrapped in place. The walk is the
//! zone's paced walk (`crate::walker`), in steps of `rewrap_batch` keys.

use super::ring::KeyRing;
use crate::config::EncryptionConfig;
use crate::store::records::{WalkName, WalkPosition};
use crate::store::{Local, Store, StoreError, Txn};
use crate::walker::{Visit, Walker};
use bascule_replication::records::{Encryption, ObjectRecord, Seal, Segment, ZONE_KEY_ID};
use bascule_replication::status::now_ms;
use bascule_replication::Op;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the worker looks for work when nothing wakes it (a rotation does).
const IDLE_CHECK: Duration = Duration::from_secs(10);
/// A pass that left data keys of enabled keys behind (a write sealed before the rotation
/// that committed after the walk went by) is repeated after this long.
const RETRY_AFTER_MS: u64 = 60_000;

/// The worker's shared side: what the admin API reads, and how a rotation wakes it.
pub struct Rewrap {
    store: Arc<Store>,
    wake: tokio::sync::Notify,
    position: Arc<Mutex<WalkPosition>>,
    segments_rewrapped: AtomicU64,
    versions_examined: AtomicU64,
    errors: AtomicU64,
}

/// The worker's progress as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The bucket being walked (none: no pass under way).
    pub bucket: Option<String>,
    pub after_key: Option<String>,
    pub passes_completed: u64,
    pub last_pass_ended_ms: u64,
    /// Since this process started.
    pub segments_rewrapped: u64,
    pub versions_examined: u64,
    pub errors: u64,
    /// Key versions that still wrap stored data keys but are no longer active: the work
    /// left (a disabled key's data is left alone until it is enabled again).
    pub pending: Vec<Pending>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pending {
    pub key: String,
    pub version: u32,
    pub segments: u64,
    pub key_enabled: bool,
}

impl Rewrap {
    pub fn new(store: Arc<Store>) -> Rewrap {
        let position = store.walk_position(WalkName::Rewrap).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read the re-wrap position");
            WalkPosition::default()
        });
        Rewrap {
            store,
            wake: tokio::sync::Notify::new(),
            position: Arc::new(Mutex::new(position)),
            segments_rewrapped: AtomicU64::new(0),
            versions_examined: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }

    /// Starts a pass soon (after a rotation).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Older key versions that still wrap data keys, from the counts kept with every
    /// change (one small read per key, no scan of objects).
    pub fn pending(&self) -> Result<Vec<Pending>, StoreError> {
        let mut out = Vec::new();
        for key in self.store.kms_keys()? {
            let active = key.active().map(|v| v.n);
            for (version, segments) in self.store.kek_segments(&key.id)? {
                if Some(version) != active && segments > 0 {
                    out.push(Pending {
                        key: key.id.clone(),
                        version,
                        segments,
                        key_enabled: key.enabled,
                    });
                }
            }
        }
        Ok(out)
    }

    pub fn report(&self) -> Result<Report, StoreError> {
        let pos = self.position();
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Ok(Report {
            bucket: pos.bucket,
            after_key: pos.after_key,
            passes_completed: pos.passes_completed,
            last_pass_ended_ms: pos.last_pass_ended_ms,
            segments_rewrapped: n(&self.segments_rewrapped),
            versions_examined: n(&self.versions_examined),
            errors: n(&self.errors),
            pending: self.pending()?,
        })
    }

    fn position(&self) -> WalkPosition {
        self.position.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

/// The walk's view of re-wrapping: every bucket, its uploads' parts as each bucket's walk
/// starts or resumes, and every version of every key.
impl Visit for Worker {
    fn wants(&self, _: &bascule_replication::records::BucketRecord) -> bool {
        true
    }

    async fn bucket(
        &self,
        bucket: &bascule_replication::records::BucketRecord,
    ) -> Result<(), StoreError> {
        self.rewrap_parts(&bucket.name).await
    }

    async fn key(
        &self,
        bucket: &bascule_replication::records::BucketRecord,
        key: &str,
        versions: &[ObjectRecord],
    ) -> Result<(), StoreError> {
        for version in versions {
            self.rewrap_version(&bucket.name, key, version).await?;
        }
        Ok(())
    }
}

/// The worker itself: the shared side plus what it needs to wrap keys.
pub struct Worker {
    pub shared: Arc<Rewrap>,
    pub keys: Arc<KeyRing>,
    pub config: EncryptionConfig,
}

impl Worker {
    /// Runs until `stop`: a pass when woken, or when the counts show work a finished pass
    /// has not already tried (a pass that leaves work behind, say for a disabled key, is
    /// not repeated until something changes).
    pub fn spawn(
        self,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let walker = Walker {
            store: self.shared.store.clone(),
            walk: WalkName::Rewrap,
            batch: self.config.rewrap_batch,
            pause: Duration::from_millis(self.config.rewrap_pause_ms),
            position: self.shared.position.clone(),
            any_role: false,
        };
        tokio::spawn(async move {
            let mut tried: Option<Vec<Pending>> = None;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(IDLE_CHECK) => {}
                    _ = self.shared.wake.notified() => tried = None,
                    _ = stop.changed() => return,
                }
                if !self.shared.store.zone.writable() {
                    continue;
                }
                self.ensure_zone_key().await;
                let pending = match self.shared.pending() {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read the key version counts");
                        continue;
                    }
                };
                let pos = self.shared.position();
                let resuming = pos.bucket.is_some();
                let work = pending.iter().any(|p| p.key_enabled);
                let retry = now_ms().saturating_sub(pos.last_pass_ended_ms) > RETRY_AFTER_MS;
                if !resuming && (!work || (tried.as_ref() == Some(&pending) && !retry)) {
                    continue;
                }
                match walker.pass(&self, &mut stop).await {
                    Ok(true) => tried = self.shared.pending().ok(),
                    Ok(false) => {}
                    Err(e) => {
                        self.shared.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "re-wrap pass interrupted");
                    }
                }
            }
        })
    }

    /// A zone that became writable (a promoted secondary whose primary predates the key
    /// service) creates its zone key here rather than refusing SSE-S3 writes.
    async fn ensure_zone_key(&self) {
        let store = &self.shared.store;
        if matches!(store.kms_key(ZONE_KEY_ID), Ok(Some(_))) {
            return;
        }
        if let Err(e) = super::setup::ensure_keys(&self.config, store, &self.keys).await {
            tracing::warn!(error = %e, "cannot create the zone key");
        }
    }

    /// New seals for the segments of `segments` that an older key version wraps. A
    /// segment whose key cannot be opened is counted as an error and left as it is.
    fn new_seals(
        &self,
        segments: &[Segment],
        encryption: Option<&Encryption>,
    ) -> Vec<(String, Seal)> {
        let mut out = Vec::new();
        for seg in segments {
            let Some(seal) = &seg.seal else { continue };
            match self.keys.rewrapped(&seg.id, seal, encryption) {
                Ok(Some(new)) => out.push((seg.id.clone(), new)),
                Ok(None) => {}
                Err(e) => {
                    self.shared.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(segment = %seg.id, error = %e, "cannot re-wrap a data key");
                }
            }
        }
        out
    }

    async fn rewrap_version(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
    ) -> Result<(), StoreError> {
        self.shared
            .versions_examined
            .fetch_add(1, Ordering::Relaxed);
        let seals = self.new_seals(&record.segments, record.encryption.as_ref());
        if seals.is_empty() {
            return Ok(());
        }
        let n = seals.len() as u64;
        let op = Op::RewrapSegments {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: record.version_id.clone(),
            seals,
        };
        // Segments are matched by id when the change is applied: a version replaced
        // meanwhile is left alone.
        self.shared
            .store
            .commit(move |_| Ok::<_, StoreError>((Txn::op(op), ())))
            .await?;
        self.shared
            .segments_rewrapped
            .fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Parts of the bucket's uploads in progress (local records: never journaled).
    async fn rewrap_parts(&self, bucket: &str) -> Result<(), StoreError> {
        let (s, name) = (self.shared.store.clone(), bucket.to_string());
        let uploads = tokio::task::spawn_blocking(move || s.read().uploads_in(&name))
            .await
            .map_err(|_| StoreError::Closed)??;
        for (_, upload) in uploads {
            let (s, id) = (self.shared.store.clone(), upload.upload_id.clone());
            let parts = tokio::task::spawn_blocking(move || s.parts(&id, 0, 10_000))
                .await
                .map_err(|_| StoreError::Closed)??;
            for (number, part) in parts {
                let seals = self.new_seals(
                    std::slice::from_ref(&part.segment),
                    upload.encryption.as_ref(),
                );
                let Some((seg_id, seal)) = seals.into_iter().next() else {
                    continue;
                };
                let upload_id = upload.upload_id.clone();
                self.shared
                    .store
                    .commit(move |view| {
                        // Only the part as it was read: one uploaded again meanwhile has
                        // its own segment, sealed under the active version.
                        let txn = match view.part(&upload_id, number)? {
                            Some(mut current) if current.segment.id == seg_id => {
                                current.segment.seal = Some(seal);
                                Txn::local(Local::PutPart {
                                    upload_id,
                                    number,
                                    record: current,
                                })
                            }
                            _ => Txn::zone(None, Vec::new()),
                        };
                        Ok::<_, StoreError>((txn, ()))
                    })
                    .await?;
                self.shared
                    .segments_rewrapped
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}
