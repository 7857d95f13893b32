//! The store as the replication loop sees it (the `Replica` trait).

use super::apply::plan_entry;
use crate::store::Store;
use bascule_api::S3ErrorCode;
use bascule_replication::fetch::{Fetcher, LocalData, Staging};
use bascule_replication::peer::PeerClient;
use bascule_replication::puller::Replica;
use bascule_replication::records::Location;
use bascule_replication::status::StatusCell;
use bascule_replication::zone::Zone;
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
                .submit(move |view| Ok((plan_entry(view, entry, data)?, ())))
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
                Err(e) if e.code == S3ErrorCode::InvalidRequest && seq <= self.cursor() => {
                    applied += 1
                }
                Err(e) => return Err((applied, format!("entry {seq}: {e}"))),
            }
        }
        debug_assert_eq!(applied, total);
        Ok(())
    }

    async fn save_zone(&self) -> Result<(), String> {
        self.store.persist_zone().await.map_err(|e| e.to_string())
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
