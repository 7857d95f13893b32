//! The scrub: a paced walk (any role) that re-reads every stored segment and checks it
//! against what was recorded at write time (`Store::check_segment`). A damaged segment is
//! repaired from the peer zone: the damaged file is set aside first (so no reader gets
//! its bytes meanwhile), a fresh copy is fetched, verified, fsynced and renamed into
//! place. Without a peer, or when the peer cannot help, the damage is reported (admin
//! API, dashboard, `/metrics`) and the data left as found.

use super::ZoneService;
use crate::config::ScrubConfig;
pub use crate::store::records::DamagedObject;
use crate::store::records::{WalkName, WalkPosition};
use crate::store::scrub::expected_md5;
use crate::store::{Local, StoreError, Txn};
use crate::walker::{Visit, Walker};
use bascule_replication::fetch::Throttle;
use bascule_replication::peer::VersionOf;
use bascule_replication::port::{LocalData, Staging};
use bascule_replication::records::{BucketRecord, Location, ObjectRecord, Segment};
use bascule_replication::status::now_ms;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Damaged objects kept in the report (the counters count all).
const KEPT: usize = 1000;

/// What the scrub did, for the admin API, the dashboard and `/metrics`.
#[derive(Debug, Default)]
pub struct ScrubStatus {
    pub position: Arc<Mutex<WalkPosition>>,
    pub bytes_checked: AtomicU64,
    pub segments_checked: AtomicU64,
    pub damaged_found: AtomicU64,
    pub repaired: AtomicU64,
    pub errors: AtomicU64,
    pub damaged: Mutex<Vec<DamagedObject>>,
    /// Asks for a pass now (`POST /zone/scrub`).
    pub wake: tokio::sync::Notify,
}

#[derive(Debug, Serialize)]
pub struct ScrubReport {
    pub enabled: bool,
    pub bytes_per_second: u64,
    pub running_in: Option<String>,
    pub passes_completed: u64,
    pub last_pass_ended_ms: u64,
    pub bytes_checked: u64,
    pub segments_checked: u64,
    pub damaged_found: u64,
    pub repaired: u64,
    /// Damaged segments not repaired (yet).
    pub unrepaired: u64,
    pub errors: u64,
    pub damaged: Vec<DamagedObject>,
}

impl ScrubStatus {
    pub fn report(&self, config: &ScrubConfig) -> ScrubReport {
        let pos = self.position.lock().map(|p| p.clone()).unwrap_or_default();
        let damaged = self.findings();
        ScrubReport {
            enabled: config.bytes_per_second > 0,
            bytes_per_second: config.bytes_per_second,
            running_in: pos.bucket.clone(),
            passes_completed: pos.passes_completed,
            last_pass_ended_ms: pos.last_pass_ended_ms,
            bytes_checked: self.bytes_checked.load(Ordering::Relaxed),
            segments_checked: self.segments_checked.load(Ordering::Relaxed),
            damaged_found: self.damaged_found.load(Ordering::Relaxed),
            repaired: self.repaired.load(Ordering::Relaxed),
            unrepaired: damaged.iter().filter(|d| !d.repaired).count() as u64,
            errors: self.errors.load(Ordering::Relaxed),
            damaged,
        }
    }

    /// Whether `segment` is reported damaged and not repaired (no copy of the list: this
    /// is asked for every segment checked).
    fn unrepaired(&self, segment: &str) -> bool {
        self.damaged
            .lock()
            .is_ok_and(|d| d.iter().any(|o| o.segment == segment && !o.repaired))
    }

    fn findings(&self) -> Vec<DamagedObject> {
        self.damaged.lock().map(|d| d.clone()).unwrap_or_default()
    }
}

/// Adds a finding; the same segment found again replaces its older finding.
fn with_finding(mut list: Vec<DamagedObject>, found: DamagedObject) -> Vec<DamagedObject> {
    list.retain(|o| o.segment != found.segment);
    if list.len() >= KEPT {
        list.remove(0);
    }
    list.push(found);
    list
}

pub struct Scrubber {
    pub zone: Arc<ZoneService>,
    /// Opens sealed segments so their chunk tags are checked (not customer-keyed ones:
    /// their key is never kept; those get a length check).
    pub keys: Arc<crate::crypt::ring::KeyRing>,
    pub config: ScrubConfig,
    pub status: Arc<ScrubStatus>,
}

impl Scrubber {
    /// Runs passes until `stop`: one every `interval_seconds`, at once when asked, and
    /// resuming an interrupted one after a restart.
    pub fn spawn(
        self,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let walker = Walker {
            store: self.zone.store.clone(),
            walk: WalkName::Scrub,
            batch: 100,
            pause: Duration::from_millis(5),
            position: self.status.position.clone(),
            any_role: true,
        };
        walker.load();
        match self.zone.store.scrub_findings() {
            Ok(found) => {
                if let Ok(mut d) = self.status.damaged.lock() {
                    *d = found;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the scrub's findings"),
        }
        let this = Arc::new(self);
        tokio::spawn(async move {
            if this.config.bytes_per_second == 0 {
                return;
            }
            let throttle = Arc::new(Throttle::new(this.config.bytes_per_second));
            loop {
                let pos = walker.position();
                let next = pos.last_pass_ended_ms + this.config.interval_seconds * 1000;
                let due = pos.bucket.is_some() || next <= now_ms();
                if !due {
                    let wait =
                        Duration::from_millis(next.saturating_sub(now_ms()).clamp(1, 60_000));
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = this.status.wake.notified() => {
                            // Asked for a pass now: start one as if the last ended long ago.
                            if let Ok(mut p) = this.status.position.lock() {
                                p.last_pass_ended_ms = 0;
                            }
                        }
                        _ = stop.changed() => return,
                    }
                    continue;
                }
                let visit = Visiting {
                    scrub: this.clone(),
                    throttle: throttle.clone(),
                };
                let started = Instant::now();
                match walker.pass(&visit, &mut stop).await {
                    Ok(true) => {
                        tracing::info!(
                            took_ms = started.elapsed().as_millis() as u64,
                            "scrub pass done"
                        );
                        if let Err(e) = this.forget_gone().await {
                            tracing::warn!(error = %e, "scrub: cannot update its findings");
                        }
                    }
                    Ok(false) => return,
                    Err(e) => {
                        this.status.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(error = %e, "scrub pass interrupted");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                            _ = stop.changed() => return,
                        }
                    }
                }
            }
        })
    }

    /// Checks one segment; repairs it from the peer if it is damaged.
    async fn scrub_segment(
        &self,
        throttle: &Arc<Throttle>,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        seg: &Segment,
    ) -> Result<(), StoreError> {
        let store = self.zone.store.clone();
        let (r, s) = (record.clone(), seg.clone());
        let pace = throttle.clone();
        let opener = seg.seal.as_ref().and_then(|seal| {
            self.keys
                .open_segment(&seg.id, seal, record.encryption.as_ref(), None)
                .ok()
        });
        let checked = tokio::task::spawn_blocking(move || {
            store.check_segment(&r, &s, opener.as_ref(), |n| {
                let wait = pace.wait_for(n);
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
            })
        })
        .await
        .map_err(|_| StoreError::Closed)??;
        self.status.segments_checked.fetch_add(1, Ordering::Relaxed);
        let damage = match checked {
            Ok(n) => {
                self.status.bytes_checked.fetch_add(n, Ordering::Relaxed);
                if self.status.unrepaired(&seg.id) {
                    // Reads back right now (put back by hand, say): no longer damaged.
                    let list = self.status.findings();
                    let kept = list.into_iter().filter(|d| d.segment != seg.id).collect();
                    self.keep_findings(kept).await?;
                }
                return Ok(());
            }
            Err(d) => d,
        };
        // Deleted or replaced since the page was read: nothing is damaged.
        if !self.holds_segment(bucket, key, record.version_id.as_deref(), &seg.id)? {
            return Ok(());
        }
        self.status.damaged_found.fetch_add(1, Ordering::Relaxed);
        tracing::error!(bucket, key, version = record.version_label(), segment = %seg.id, problem = %damage, "scrub: damaged object data");
        let repair = self.repair(bucket, key, record, seg).await;
        match &repair {
            Ok(()) => {
                self.status.repaired.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(bucket, key, segment = %seg.id, "scrub: repaired from the peer zone");
            }
            Err(e) => {
                tracing::error!(bucket, key, segment = %seg.id, error = %e, "scrub: not repaired")
            }
        }
        let found = DamagedObject {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: record.version_id.clone(),
            segment: seg.id.clone(),
            problem: damage.to_string(),
            repaired: repair.is_ok(),
            repair_error: repair.err(),
            found_at_ms: now_ms(),
        };
        self.keep_findings(with_finding(self.status.findings(), found))
            .await
    }

    /// Saves the findings (the scrub is their only writer), then shows them.
    async fn keep_findings(&self, list: Vec<DamagedObject>) -> Result<(), StoreError> {
        let saved = list.clone();
        self.zone
            .store
            .commit(move |_| {
                Ok::<_, StoreError>((Txn::zone(None, vec![Local::ScrubFindings(saved)]), ()))
            })
            .await?;
        if let Ok(mut d) = self.status.damaged.lock() {
            *d = list;
        }
        Ok(())
    }

    /// After a pass: damaged objects since deleted or replaced are no longer reported as
    /// damaged (their damaged data is no longer any object's).
    async fn forget_gone(&self) -> Result<(), StoreError> {
        let list = self.status.findings();
        let mut kept = Vec::with_capacity(list.len());
        for d in &list {
            let held = d.repaired
                || self.holds_segment(&d.bucket, &d.key, d.version_id.as_deref(), &d.segment)?;
            if held {
                kept.push(d.clone());
            }
        }
        if kept.len() != list.len() {
            self.keep_findings(kept).await?;
        }
        Ok(())
    }

    fn holds_segment(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        segment: &str,
    ) -> Result<bool, StoreError> {
        let now = self.zone.store.read().version(bucket, key, version_id)?;
        Ok(now.is_some_and(|r| r.segments.iter().any(|s| s.id == segment)))
    }

    /// Fetches a fresh copy of `seg` from the peer, verified, and puts it in place.
    async fn repair(
        &self,
        bucket: &str,
        key: &str,
        record: &ObjectRecord,
        seg: &Segment,
    ) -> Result<(), String> {
        let Some(fetcher) = self.zone.fetcher() else {
            return Err(
                "no peer zone to repair from (standalone zone): the object is damaged".into(),
            );
        };
        let of = VersionOf {
            bucket,
            key,
            version: record.version_label(),
        };
        let md5 = expected_md5(record, seg);
        match seg.loc {
            Location::Inline => {
                let data = match fetcher.fetch_inline(seg, &of, md5).await {
                    Ok(LocalData::Inline(d)) => d,
                    Ok(_) => return Err("the peer no longer holds this version".into()),
                    Err(e) => return Err(format!("fetching from the peer: {e}")),
                };
                let id = seg.id.clone();
                self.zone
                    .store
                    .commit(move |_| {
                        Ok::<_, StoreError>((
                            Txn::zone(None, vec![Local::RepairInline { id, data }]),
                            (),
                        ))
                    })
                    .await
                    .map_err(|e| format!("storing the repaired bytes: {e}"))?;
                Ok(())
            }
            Location::Disk(_) => {
                let (staged, final_path, aside, dir) = self
                    .zone
                    .store
                    .blobs()
                    .repair_paths(seg)
                    .ok_or("the segment has no place on disk")?;
                // Set the damaged file aside first: readers get an error, never its bytes.
                let moved = match std::fs::rename(&final_path, &aside) {
                    Ok(()) => true,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                    Err(e) => return Err(format!("setting the damaged file aside: {e}")),
                };
                let _ = std::fs::remove_file(&staged);
                let staging = Staging {
                    partial: staged,
                    final_path: final_path.clone(),
                    dir,
                };
                match fetcher.fetch_file(seg, &of, md5, staging).await {
                    Ok(LocalData::Disk(_)) => {
                        let _ = std::fs::remove_file(&aside);
                        Ok(())
                    }
                    other => {
                        // Put back what was there: damaged, but all there is.
                        if moved {
                            let _ = std::fs::rename(&aside, &final_path);
                        }
                        Err(match other {
                            Err(e) => format!("fetching from the peer: {e}"),
                            Ok(_) => "the peer no longer holds this version".into(),
                        })
                    }
                }
            }
        }
    }
}

struct Visiting {
    scrub: Arc<Scrubber>,
    throttle: Arc<Throttle>,
}

impl Visit for Visiting {
    fn wants(&self, _: &BucketRecord) -> bool {
        true
    }

    async fn bucket(&self, _: &BucketRecord) -> Result<(), StoreError> {
        Ok(())
    }

    async fn key(
        &self,
        bucket: &BucketRecord,
        key: &str,
        versions: &[ObjectRecord],
    ) -> Result<(), StoreError> {
        for record in versions {
            for seg in &record.segments {
                self.scrub
                    .scrub_segment(&self.throttle, &bucket.name, key, record, seg)
                    .await?;
            }
        }
        Ok(())
    }
}
