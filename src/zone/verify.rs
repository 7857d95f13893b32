//! Cross-zone verify on this zone's side: the local `Side` (what this zone answers, to a
//! verify run here or to the peer's over the zone link), the runs (asked for by an
//! operator, or every `zone.verify_interval` on the secondary, paced) and the repair.
//! The comparison itself is `bascule_replication::verify`.

use super::replica::StoreReplica;
use super::ZoneService;
use crate::store::{Store, StoreError};
use bascule_replication::peer::PeerClient;
use bascule_replication::protocol::{Catalog, ZoneInfo};
use bascule_replication::status::now_ms;
use bascule_replication::verify::{
    self, KeysAnswer, KeysRequest, RangesAnswer, RangesRequest, RecordsAnswer, RecordsRequest,
    Side, VerifyReport, Versions,
};
use bascule_replication::zone::Role;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// This zone as a side of a verify.
#[derive(Clone)]
pub struct LocalSide {
    pub zone: Arc<ZoneService>,
    /// Keys read per second (0: as fast as the disk goes).
    pub keys_per_second: u64,
}

/// A page of a bucket's keys with their versions; a bucket this zone lacks is empty.
fn page(
    store: &Store,
    bucket: &str,
    after: &str,
    limit: usize,
) -> Result<Vec<(String, Versions)>, StoreError> {
    if store.read().bucket(bucket)?.is_none() {
        return Ok(Vec::new());
    }
    store.versions_after(bucket, after, None, limit)
}

fn pace(keys_per_second: u64, keys: usize) {
    if keys_per_second > 0 {
        std::thread::sleep(Duration::from_secs_f64(
            keys as f64 / keys_per_second as f64,
        ));
    }
}

impl LocalSide {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let store = self.zone.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())
    }
}

impl Side for LocalSide {
    async fn info(&self) -> Result<ZoneInfo, String> {
        Ok(self.zone.info())
    }

    async fn catalog(&self) -> Result<Catalog, String> {
        let zone = self.zone.info();
        self.blocking(move |s| {
            Ok(Catalog {
                zone,
                buckets: s.buckets()?,
                users: s.users()?,
                keys: s.access_keys()?,
                kms_keys: s.kms_keys()?,
            })
        })
        .await
    }

    async fn ranges(&self, req: RangesRequest) -> Result<RangesAnswer, String> {
        // The position before the scan: everything up to it is in the summaries.
        let zone = self.zone.info();
        let rate = self.keys_per_second;
        let ranges = self
            .blocking(move |s| {
                verify::summarise(
                    req.bounds.as_deref(),
                    |after, limit| page(s, &req.bucket, after, limit),
                    |n| pace(rate, n),
                )
            })
            .await?;
        Ok(RangesAnswer { zone, ranges })
    }

    async fn keys(&self, req: KeysRequest) -> Result<KeysAnswer, String> {
        self.blocking(move |s| {
            verify::key_digests(&req, |after, limit| page(s, &req.bucket, after, limit))
        })
        .await
    }

    async fn records(&self, req: RecordsRequest) -> Result<RecordsAnswer, String> {
        let zone = self.zone.info();
        let objects = self
            .blocking(move |s| {
                let view = s.read();
                req.keys
                    .into_iter()
                    .map(|key| {
                        let mut versions: Versions =
                            view.object(&req.bucket, &key)?.into_iter().collect();
                        versions.extend(view.stored_versions(&req.bucket, &key)?);
                        Ok((key, versions))
                    })
                    .collect::<Result<Vec<_>, StoreError>>()
            })
            .await?;
        Ok(RecordsAnswer { zone, objects })
    }
}

/// What an operator (or the schedule) asks for.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyRequest {
    pub bucket: Option<String>,
    pub repair: bool,
    /// Paced at `zone.verify_keys_per_second` (the periodic runs).
    #[serde(skip)]
    pub paced: bool,
}

/// Verify runs: the one under way, the last result, counters for `/metrics`.
#[derive(Default)]
pub struct VerifyStatus {
    pub running: AtomicBool,
    pub last: Mutex<Option<VerifyReport>>,
    pub runs: AtomicU64,
    pub repaired: AtomicU64,
}

#[derive(Debug, Serialize)]
pub struct VerifyState {
    pub running: bool,
    pub runs: u64,
    pub last: Option<VerifyReport>,
}

impl VerifyStatus {
    pub fn state(&self) -> VerifyState {
        VerifyState {
            running: self.running.load(Ordering::SeqCst),
            runs: self.runs.load(Ordering::Relaxed),
            last: self.last.lock().ok().and_then(|l| l.clone()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyRefusal {
    #[error("this zone has no peer: there is nothing to compare it with")]
    NoPeer,
    #[error("a verify is already running")]
    Running,
    #[error("--repair runs on the secondary (it re-fetches from the primary and never changes the primary)")]
    RepairOnPrimary,
}

pub struct Verifier {
    pub zone: Arc<ZoneService>,
    pub status: Arc<VerifyStatus>,
    pub inline_max: u64,
    pub keys_per_second: u64,
    pub interval: Duration,
}

impl Verifier {
    /// Starts a run in the background, unless it cannot run.
    pub fn start(self: &Arc<Self>, req: VerifyRequest) -> Result<(), VerifyRefusal> {
        if self.zone.peer.is_none() {
            return Err(VerifyRefusal::NoPeer);
        }
        if req.repair && self.zone.store.zone.role() != Role::Secondary {
            return Err(VerifyRefusal::RepairOnPrimary);
        }
        if self.status.running.swap(true, Ordering::SeqCst) {
            return Err(VerifyRefusal::Running);
        }
        let this = self.clone();
        tokio::spawn(async move {
            let report = this.run(&req).await;
            this.finish(report);
        });
        Ok(())
    }

    fn finish(&self, report: VerifyReport) {
        if report.error.is_none() {
            self.status.runs.fetch_add(1, Ordering::Relaxed);
        }
        self.status
            .repaired
            .fetch_add(report.repaired, Ordering::Relaxed);
        match &report.error {
            Some(e) => tracing::warn!(error = %e, "cross-zone verify did not finish"),
            None if report.differences() > 0 => tracing::warn!(
                missing = report.missing.count,
                extra = report.extra.count,
                different = report.different.count,
                settings = report.settings.count,
                repaired = report.repaired,
                "cross-zone verify found differences"
            ),
            None => tracing::info!(keys = report.keys, "cross-zone verify: the zones agree"),
        }
        if let Ok(mut last) = self.status.last.lock() {
            *last = Some(report);
        }
        self.status.running.store(false, Ordering::SeqCst);
    }

    async fn run(&self, req: &VerifyRequest) -> VerifyReport {
        let mut report = VerifyReport {
            bucket: req.bucket.clone(),
            started_ms: now_ms(),
            ..VerifyReport::default()
        };
        let result = self.compare_and_repair(req, &mut report).await;
        report.error = result.err();
        report.finished_ms = now_ms();
        report
    }

    async fn compare_and_repair(
        &self,
        req: &VerifyRequest,
        report: &mut VerifyReport,
    ) -> Result<(), String> {
        let peer = self.zone.peer.clone().ok_or("no peer")?;
        let rate = if req.paced { self.keys_per_second } else { 0 };
        let local = LocalSide {
            zone: self.zone.clone(),
            keys_per_second: rate,
        };
        // The peer paces itself only when asked to; its side of a paced run is paced here
        // (the time its keys would take at the rate).
        let pace = |keys: u64| async move {
            if rate > 0 {
                tokio::time::sleep(Duration::from_secs_f64(keys as f64 / rate as f64 / 2.0)).await;
            }
        };
        let bucket = req.bucket.as_deref();
        match self.zone.store.zone.role() {
            Role::Primary => verify::compare(&local, &peer, bucket, report, pace).await?,
            Role::Secondary => verify::compare(&peer, &local, bucket, report, pace).await?,
        }
        if req.repair {
            self.repair(&peer, report).await;
        }
        Ok(())
    }

    /// Makes each differing key here what the primary holds now: under the apply gate, so
    /// no replicated entry lands between reading the primary and writing here (the
    /// entries after it replay on top, as after a resync).
    async fn repair(&self, peer: &PeerClient, report: &mut VerifyReport) {
        let replica = StoreReplica {
            store: self.zone.store.clone(),
            inline_max: self.inline_max,
            gate: self.zone.apply_gate.clone(),
        };
        let Some(fetcher) = self.zone.fetcher() else {
            return;
        };
        let local = LocalSide {
            zone: self.zone.clone(),
            keys_per_second: 0,
        };
        if report.settings.count > 0 {
            // Buckets, users and keys first (a missing bucket must exist before its
            // objects), as the primary holds them now.
            let _gate = self.zone.apply_gate.lock().await;
            let synced = match Side::catalog(peer).await {
                Ok(c) => bascule_replication::resync::sync_catalog(&replica, &c, false)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match synced {
                Ok(()) => report.repaired += report.settings.count,
                Err(e) => {
                    tracing::warn!(error = %e, "verify could not repair the settings");
                    report.repair_failed += report.settings.count;
                }
            }
        }
        for (bucket, key) in std::mem::take(&mut report.to_repair) {
            let _gate = self.zone.apply_gate.lock().await;
            let req = || RecordsRequest {
                bucket: bucket.clone(),
                keys: vec![key.clone()],
            };
            let fixed = async {
                let wanted = Side::records(peer, req()).await?;
                let mine = local.records(req()).await?;
                let one = |a: RecordsAnswer| a.objects.into_iter().next().map(|o| o.1);
                bascule_replication::resync::converge_key(
                    &replica,
                    &fetcher,
                    &bucket,
                    &key,
                    one(wanted).unwrap_or_default(),
                    one(mine).unwrap_or_default(),
                )
                .await
                .map_err(|e| e.to_string())
            }
            .await;
            match fixed {
                Ok(()) => {
                    tracing::info!(bucket, key, "verify repaired a key from the primary");
                    report.repaired += 1;
                }
                Err(e) => {
                    tracing::warn!(bucket, key, error = %e, "verify could not repair a key");
                    report.repair_failed += 1;
                }
            }
        }
        if report.settings.count > 0 {
            // Then what the secondary holds and the primary does not (users, keys, and
            // buckets now emptied of what the primary lacks).
            let _gate = self.zone.apply_gate.lock().await;
            if let Ok(c) = Side::catalog(peer).await {
                if let Err(e) = bascule_replication::resync::sync_catalog(&replica, &c, true).await
                {
                    tracing::warn!(error = %e, "verify could not remove extra settings");
                }
            }
        }
    }

    /// The periodic verify: on the secondary, every `interval`, paced. Off when the
    /// interval is 0 or the zone has no peer.
    pub fn spawn(
        self: Arc<Self>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            if self.interval.is_zero() || self.zone.peer.is_none() {
                return;
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.interval) => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                if self.zone.store.zone.role() != Role::Secondary {
                    continue;
                }
                let req = VerifyRequest {
                    bucket: None,
                    repair: false,
                    paced: true,
                };
                if self.status.running.swap(true, Ordering::SeqCst) {
                    continue;
                }
                let report = self.run(&req).await;
                self.finish(report);
            }
        })
    }
}
