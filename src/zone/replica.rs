//! The store as the replication loop sees it (the `Replica` trait).

use super::apply::entry_txn;
use super::ZoneError;
use crate::store::{Store, StoreError};
use bascule_replication::fetch::{Fetcher, LocalData, Staging};
use bascule_replication::peer::PeerClient;
use bascule_replication::puller::{PortError, Replica};
use bascule_replication::records::Location;
use bascule_replication::status::StatusCell;
use bascule_replication::zone::{Refused, Zone, ZoneState};
use bascule_replication::Entry;
use std::sync::Arc;

pub struct StoreReplica {
    pub store: Arc<Store>,
    pub inline_max: u64,
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

    fn local_segment(&self, bucket: &str, key: &str, id: &str) -> Option<Location> {
        let rec = self.store.object(bucket, key).ok()??;
        rec.segments.into_iter().find(|s| s.id == id).map(|s| s.loc)
    }

    async fn apply_batch(
        &self,
        entries: Vec<(Entry, Vec<LocalData>)>,
    ) -> Result<(), (usize, String)> {
        let cursor = self.cursor();
        let total = entries.len();
        // Queue them all at once, in order: they commit together.
        let mut waiting = Vec::with_capacity(total);
        let mut already = 0;
        for (entry, data) in entries {
            if entry.seq <= cursor {
                already += 1;
                continue;
            }
            let seq = entry.seq;
            match self
                .store
                .submit(move |_| Ok::<_, StoreError>((entry_txn(entry, data)?, ())))
            {
                Ok(f) => waiting.push((seq, f)),
                Err(e) => return Err((already, e.to_string())),
            }
        }
        let mut applied = already;
        for (seq, done) in waiting {
            match done.await {
                Ok(_) => applied += 1,
                // Applied by an earlier attempt whose answer was lost.
                Err(StoreError::AlreadyApplied { .. }) => applied += 1,
                Err(e) => return Err((applied, format!("entry {seq}: {e}"))),
            }
        }
        debug_assert_eq!(applied, total);
        Ok(())
    }

    async fn change_zone<T: Send>(
        &self,
        change: impl FnOnce(&mut ZoneState) -> Result<T, Refused> + Send,
    ) -> Result<T, PortError> {
        self.store
            .change_zone(change)
            .await
            .map_err(|e: ZoneError| match e {
                ZoneError::Refused(r) => PortError::Refused(r),
                other => PortError::Storage(Box::new(other)),
            })
    }

    fn last_seq(&self) -> u64 {
        self.cursor()
    }

    async fn quarantine_divergent(&self, after_seq: u64) -> Result<u64, String> {
        super::quarantine::set_aside(&self.store, after_seq)
            .await
            .map_err(|e| e.to_string())
    }

    async fn resync(
        &self,
        peer: &PeerClient,
        fetcher: &Fetcher,
        status: &StatusCell,
    ) -> Result<u64, String> {
        super::resync::run(self, peer, fetcher, status).await
    }
}
