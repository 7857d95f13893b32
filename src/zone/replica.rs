//! The store as the replication crate sees it: its storage port (`Replica`).

use super::apply::{entry_txn, object_txn};
use super::ZoneError;
use crate::store::{Origin, Store, StoreError, Txn};
use bascule_replication::port::{ApplyError, LocalCatalog, LocalData, PortError, Replica, Staging};
use bascule_replication::records::{Location, ObjectRecord};
use bascule_replication::zone::{Refused, Zone, ZoneState};
use bascule_replication::{Entry, Op};
use std::sync::Arc;

pub struct StoreReplica {
    pub store: Arc<Store>,
    pub inline_max: u64,
    /// `ZoneService::apply_gate`.
    pub gate: Arc<tokio::sync::Mutex<()>>,
}

impl From<StoreError> for PortError {
    fn from(e: StoreError) -> PortError {
        PortError::Storage(Box::new(e))
    }
}

impl From<ZoneError> for PortError {
    fn from(e: ZoneError) -> PortError {
        match e {
            ZoneError::Refused(r) => PortError::Refused(r),
            other => PortError::Storage(Box::new(other)),
        }
    }
}

impl StoreReplica {
    /// Commits a change this zone makes on its own account (never journaled).
    async fn commit_zone(&self, txn: Txn) -> Result<(), PortError> {
        self.store
            .commit(move |_| Ok::<_, StoreError>((txn, ())))
            .await?;
        Ok(())
    }
}

impl Replica for StoreReplica {
    fn zone(&self) -> &Arc<Zone> {
        &self.store.zone
    }

    fn cursor(&self) -> u64 {
        *self.store.last_seq().borrow()
    }

    fn inline_max(&self) -> u64 {
        self.inline_max
    }

    fn staging(&self, id: &str) -> Option<Staging> {
        let (partial, final_path, dir) = self.store.blobs().staging(id)?;
        Some(Staging {
            partial,
            final_path,
            dir,
        })
    }

    fn local_segment(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        id: &str,
    ) -> Option<Location> {
        // The version itself (a replayed entry, a settings change), else the current one
        // (an overwrite of the null version that kept its data).
        let view = self.store.read();
        let rec = match view.version(bucket, key, version_id).ok()? {
            Some(rec) => rec,
            None => view.object(bucket, key).ok()??,
        };
        rec.segments.into_iter().find(|s| s.id == id).map(|s| s.loc)
    }

    async fn apply_batch(&self, entries: Vec<(Entry, Vec<LocalData>)>) -> Result<(), ApplyError> {
        let _gate = self.gate.lock().await;
        let cursor = self.cursor();
        // Queue them all at once, in order: they commit together.
        let mut waiting = Vec::with_capacity(entries.len());
        let mut applied = 0;
        for (entry, data) in entries {
            if entry.seq <= cursor {
                applied += 1;
                continue;
            }
            let seq = entry.seq;
            let queued = self
                .store
                .submit(move |_| Ok::<_, StoreError>((entry_txn(entry, data)?, ())));
            match queued {
                Ok(f) => waiting.push((seq, f)),
                Err(e) => {
                    return Err(ApplyError {
                        applied,
                        seq,
                        error: e.into(),
                    })
                }
            }
        }
        for (seq, done) in waiting {
            match done.await {
                // Applied by an earlier attempt whose answer was lost.
                Ok(_) | Err(StoreError::AlreadyApplied { .. }) => applied += 1,
                Err(e) => {
                    return Err(ApplyError {
                        applied,
                        seq,
                        error: e.into(),
                    })
                }
            }
        }
        Ok(())
    }

    async fn change_zone<T: Send>(
        &self,
        change: impl FnOnce(&mut ZoneState) -> Result<T, Refused> + Send,
    ) -> Result<T, PortError> {
        Ok(self.store.change_zone::<T, ZoneError>(change).await?)
    }

    async fn quarantine_divergent(&self, after_seq: u64) -> Result<u64, PortError> {
        Ok(super::quarantine::set_aside(&self.store, after_seq).await?)
    }

    fn local_catalog(&self) -> Result<LocalCatalog, PortError> {
        Ok(LocalCatalog {
            buckets: self.store.buckets()?,
            users: self.store.users()?,
            keys: self.store.access_keys()?,
            kms_keys: self.store.kms_keys()?,
        })
    }

    fn objects_page(
        &self,
        bucket: &str,
        after: &str,
        upto: Option<&str>,
    ) -> Result<Vec<(String, Vec<ObjectRecord>)>, PortError> {
        Ok(self.store.versions_after(bucket, after, upto, usize::MAX)?)
    }

    async fn copy_change(&self, op: Op, data: Vec<LocalData>) -> Result<(), PortError> {
        let txn = match op {
            Op::PutObject {
                bucket,
                key,
                record,
            } => object_txn(bucket, key, record, data)?,
            other => Txn::op(other),
        };
        self.commit_zone(Txn {
            origin: Origin::Zone,
            ..txn
        })
        .await
    }

    async fn restart_journal(&self, seq: u64) -> Result<(), PortError> {
        self.commit_zone(Txn {
            origin: Origin::Reset { seq },
            ..Txn::default()
        })
        .await
    }
}
