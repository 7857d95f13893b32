//! The lifecycle worker: applies buckets' lifecycle rules on the zone that takes writes.
//! Every deletion it makes is an ordinary journaled change, so a secondary follows it and
//! never runs lifecycle itself; a promoted secondary takes the work over on its next pass.
//! The walk goes key by key in steps of `batch` keys, saves its position after each step
//! (a restart resumes there), and pauses between steps so foreground requests keep their
//! latency.

pub mod rules;

use crate::config::LifecycleConfig;
use crate::store::records::{WalkName, WalkPosition};
use crate::store::versions::new_delete_marker;
use crate::store::{Local, Store, StoreError, Txn};
use crate::walker::{Visit, Walker};
use bascule_replication::records::{BucketRecord, Protection};
use bascule_replication::status::now_ms;
use bascule_replication::Op;
use rules::{Action, Clock};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the worker has done since the process started, and where it is.
#[derive(Default)]
pub struct LifecycleStatus {
    pub objects_expired: AtomicU64,
    pub versions_removed: AtomicU64,
    pub delete_markers_removed: AtomicU64,
    pub uploads_aborted: AtomicU64,
    pub keys_examined: AtomicU64,
    pub errors: AtomicU64,
    /// Where the walk is, as last saved (shared with the walker).
    pub position: Arc<Mutex<WalkPosition>>,
}

/// The status as the admin API shows it.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub running_here: bool,
    pub day_seconds: u64,
    pub interval_seconds: u64,
    pub bucket: Option<String>,
    pub after_key: Option<String>,
    pub passes_completed: u64,
    pub last_pass_ended_ms: u64,
    pub objects_expired: u64,
    pub versions_removed: u64,
    pub delete_markers_removed: u64,
    pub uploads_aborted: u64,
    pub keys_examined: u64,
    pub errors: u64,
}

impl LifecycleStatus {
    pub fn report(&self, config: &LifecycleConfig, running_here: bool) -> StatusReport {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let pos = self.position.lock().map(|p| p.clone()).unwrap_or_default();
        StatusReport {
            running_here,
            day_seconds: config.day_seconds,
            interval_seconds: config.interval_seconds,
            bucket: pos.bucket,
            after_key: pos.after_key,
            passes_completed: pos.passes_completed,
            last_pass_ended_ms: pos.last_pass_ended_ms,
            objects_expired: n(&self.objects_expired),
            versions_removed: n(&self.versions_removed),
            delete_markers_removed: n(&self.delete_markers_removed),
            uploads_aborted: n(&self.uploads_aborted),
            keys_examined: n(&self.keys_examined),
            errors: n(&self.errors),
        }
    }
}

/// The walk's view of lifecycle: buckets with rules, their uploads as each bucket's walk
/// starts, and each key's versions against the rules.
impl Visit for Worker {
    fn wants(&self, bucket: &BucketRecord) -> bool {
        !bucket.lifecycle.is_empty()
    }

    async fn bucket(&self, bucket: &BucketRecord) -> Result<(), StoreError> {
        self.abort_uploads(bucket).await
    }

    async fn key(
        &self,
        bucket: &BucketRecord,
        key: &str,
        versions: &[bascule_replication::records::ObjectRecord],
    ) -> Result<(), StoreError> {
        self.status.keys_examined.fetch_add(1, Ordering::Relaxed);
        for action in rules::plan_key(&bucket.lifecycle, key, versions, &self.clock()) {
            self.carry_out(&bucket.name, key, action).await?;
        }
        Ok(())
    }
}

pub struct Worker {
    pub store: Arc<Store>,
    pub config: LifecycleConfig,
    pub status: Arc<LifecycleStatus>,
}

impl Worker {
    fn clock(&self) -> Clock {
        Clock {
            now_ms: now_ms(),
            day_ms: self.config.day_seconds.max(1) * 1000,
        }
    }

    /// Runs passes until `stop`; a pass starts every `interval_seconds` (or resumes at
    /// once where an interrupted one stopped).
    pub fn spawn(
        self,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let walker = Walker {
            store: self.store.clone(),
            walk: WalkName::Lifecycle,
            batch: self.config.batch,
            pause: Duration::from_millis(self.config.pause_ms),
            position: self.status.position.clone(),
            any_role: false,
        };
        walker.load();
        tokio::spawn(async move {
            loop {
                let pos = walker.position();
                let next = pos.last_pass_ended_ms + self.config.interval_seconds * 1000;
                let wait = match pos.bucket {
                    Some(_) => 0,
                    None => next.saturating_sub(now_ms()),
                };
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(wait.clamp(1, 1000))) => {}
                    _ = stop.changed() => return,
                }
                if wait > 1000 || !self.store.zone.writable() {
                    continue;
                }
                if let Err(e) = walker.pass(&self, &mut stop).await {
                    self.status.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, "lifecycle pass interrupted");
                }
            }
        })
    }

    /// Applies one decision, checked again against the state at commit time (the key may
    /// have changed since it was read).
    async fn carry_out(&self, bucket: &str, key: &str, action: Action) -> Result<(), StoreError> {
        let (bucket, key, now) = (bucket.to_string(), key.to_string(), now_ms());
        let counter = match &action {
            Action::ExpireCurrent { .. } => &self.status.objects_expired,
            Action::RemoveVersion {
                delete_marker: true,
                ..
            } => &self.status.delete_markers_removed,
            Action::RemoveVersion { .. } => &self.status.versions_removed,
        };
        let (applied, _) = self
            .store
            .commit(move |view| {
                let Some(b) = view.bucket(&bucket)? else {
                    return Ok((Txn::default(), false));
                };
                let txn = match action {
                    Action::ExpireCurrent { seq } => {
                        match view.object(&bucket, &key)?.filter(|c| c.seq == seq) {
                            None => Txn::default(),
                            Some(_) if b.versioning.is_none() => {
                                Txn::op(Op::DeleteObject { bucket, key })
                            }
                            Some(_) => {
                                let marker = new_delete_marker(view, &b, b.owner.clone(), now);
                                Txn::op(Op::PutObject {
                                    bucket,
                                    key,
                                    record: marker,
                                })
                            }
                        }
                    }
                    Action::RemoveVersion {
                        version_id, seq, ..
                    } => {
                        let still = view
                            .version(&bucket, &key, version_id.as_deref())?
                            .filter(|v| v.seq == seq && v.protection(now) == Protection::None);
                        match still {
                            None => Txn::default(),
                            Some(_) => Txn::op(Op::DeleteVersion {
                                bucket,
                                key,
                                version_id,
                            }),
                        }
                    }
                };
                let applied = txn.op.is_some();
                Ok::<_, StoreError>((txn, applied))
            })
            .await?;
        if applied {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn abort_uploads(&self, bucket: &BucketRecord) -> Result<(), StoreError> {
        if !bucket
            .lifecycle
            .iter()
            .any(|r| r.abort_incomplete_upload_days.is_some())
        {
            return Ok(());
        }
        let clock = self.clock();
        let store = self.store.clone();
        let name = bucket.name.clone();
        let uploads = tokio::task::spawn_blocking(move || store.read().uploads_in(&name))
            .await
            .map_err(|_| StoreError::Closed)??;
        for (key, up) in uploads {
            if !rules::abort_upload(&bucket.lifecycle, &key, up.initiated_ms, &clock) {
                continue;
            }
            let (b, id) = (bucket.name.clone(), up.upload_id.clone());
            let (gone, _) = self
                .store
                .commit(move |view| {
                    if view.upload(&b, &key, &id)?.is_none() {
                        return Ok::<_, StoreError>((Txn::default(), false));
                    }
                    let txn = Txn::local(Local::DeleteUpload {
                        bucket: b,
                        key,
                        upload_id: id,
                    });
                    Ok((txn, true))
                })
                .await?;
            if gone {
                self.status.uploads_aborted.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}
