//! A paced walk over every bucket's object versions, the shape of the zone's background
//! work (lifecycle, re-wrap after a key rotation): bucket by bucket in name order, key by
//! key in steps of `batch` keys, the position saved after each step (a restart resumes
//! there), a pause between steps so foreground requests keep their latency, and only
//! while the zone takes writes (each change it makes is an ordinary journaled one, which
//! the secondary follows) unless it changes no object (the scrub).

use crate::store::records::{WalkName, WalkPosition};
use crate::store::{Local, Store, StoreError, Txn};
use bascule_replication::records::{BucketRecord, ObjectRecord};
use bascule_replication::status::now_ms;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What a walk does with what it meets.
pub trait Visit {
    /// Whether the walk looks into this bucket at all.
    fn wants(&self, bucket: &BucketRecord) -> bool;
    /// Once per bucket, as its walk starts or resumes (work on its uploads, say).
    fn bucket(
        &self,
        bucket: &BucketRecord,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
    /// One key's versions: current first, then newest first.
    fn key(
        &self,
        bucket: &BucketRecord,
        key: &str,
        versions: &[ObjectRecord],
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send;
}

pub struct Walker {
    pub store: Arc<Store>,
    pub walk: WalkName,
    /// Keys per step.
    pub batch: usize,
    /// Pause between steps.
    pub pause: Duration,
    /// The position, as last saved (what status reports show).
    pub position: Arc<Mutex<WalkPosition>>,
    /// Walks in any role (the scrub, which changes no object); the others only while the
    /// zone takes writes.
    pub any_role: bool,
}

impl Walker {
    /// Loads the saved position (a restart reports, and resumes, where the walk stopped).
    pub fn load(&self) {
        match self.store.walk_position(self.walk) {
            Ok(p) => {
                if let Ok(mut mine) = self.position.lock() {
                    *mine = p;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, walk = ?self.walk, "cannot read a walk's position")
            }
        }
    }

    pub fn position(&self) -> WalkPosition {
        self.position.lock().map(|p| p.clone()).unwrap_or_default()
    }

    async fn save(&self, pos: WalkPosition) -> Result<(), StoreError> {
        let (walk, saved) = (self.walk, pos.clone());
        self.store
            .commit(move |_| {
                Ok::<_, StoreError>((Txn::zone(None, vec![Local::WalkPosition(walk, saved)]), ()))
            })
            .await?;
        if let Ok(mut p) = self.position.lock() {
            *p = pos;
        }
        Ok(())
    }

    /// One pass over every bucket `visit` wants, from the saved position; `false` when it
    /// stopped early (asked to, or the zone stopped taking writes).
    pub async fn pass(
        &self,
        visit: &impl Visit,
        stop: &mut tokio::sync::watch::Receiver<bool>,
    ) -> Result<bool, StoreError> {
        let mut pos = self.position();
        if pos.bucket.is_none() {
            pos.pass_started_ms = now_ms();
        }
        let batch = self.batch.max(1);
        let mut buckets: Vec<BucketRecord> = self
            .store
            .buckets()?
            .into_iter()
            .filter(|b| visit.wants(b))
            .collect();
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        for bucket in buckets {
            if pos.bucket.as_ref().is_some_and(|done| bucket.name < *done) {
                continue;
            }
            if pos.bucket.as_deref() != Some(bucket.name.as_str()) {
                pos.bucket = Some(bucket.name.clone());
                pos.after_key = None;
            }
            visit.bucket(&bucket).await?;
            loop {
                if *stop.borrow() || !(self.any_role || self.store.zone.writable()) {
                    return Ok(false);
                }
                let after = pos.after_key.clone().unwrap_or_default();
                let (store, name) = (self.store.clone(), bucket.name.clone());
                let page = tokio::task::spawn_blocking(move || {
                    store.versions_after(&name, &after, None, batch)
                })
                .await
                .map_err(|_| StoreError::Closed)??;
                for (key, versions) in &page {
                    visit.key(&bucket, key, versions).await?;
                }
                let done = page.len() < batch;
                pos.after_key = page.last().map(|(k, _)| k.clone()).or(pos.after_key);
                self.save(pos.clone()).await?;
                if done {
                    break;
                }
                tokio::time::sleep(self.pause).await;
            }
        }
        pos.bucket = None;
        pos.after_key = None;
        pos.passes_completed += 1;
        pos.last_pass_ended_ms = now_ms();
        self.save(pos).await?;
        Ok(true)
    }
}
