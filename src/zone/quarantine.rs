//! Divergent writes: what an old primary accepted after its peer's promotion point. When
//! it rejoins as a secondary, each object those entries touched is moved out of the
//! namespace into the quarantine column family (its data stays, readable through the
//! admin API); other changes (buckets, users, keys) are recorded as they were. The resync
//! that follows then converges on the new primary's data.

use crate::store::records::QuarantineRecord;
use crate::store::{Local, Store, StoreError, Txn};
use bascule_replication::status::now_ms;
use bascule_replication::Op;
use std::sync::Arc;

/// Sets aside the objects touched by this zone's journal entries after `after_seq`.
/// Idempotent: an object already moved is not there any more, and records are keyed by
/// entry. Returns how many divergent entries were found.
pub async fn set_aside(store: &Arc<Store>, after_seq: u64) -> Result<u64, StoreError> {
    let entries = {
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.journal_after(after_seq, usize::MAX))
            .await
            .map_err(|_| StoreError::Closed)??
    };
    let count = entries.len() as u64;
    for entry in entries {
        let targets: Vec<(Option<String>, Option<String>)> = match &entry.op {
            Op::PutObject { bucket, key, .. } | Op::DeleteObject { bucket, key } => {
                vec![(Some(bucket.clone()), Some(key.clone()))]
            }
            Op::DeleteObjects { bucket, keys } => keys
                .iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .map(|k| (Some(bucket.clone()), Some(k.clone())))
                .collect(),
            _ => vec![(None, None)],
        };
        let kind = entry.op.kind().to_string();
        let detail = match &entry.op {
            Op::PutObject { .. } | Op::DeleteObject { .. } | Op::DeleteObjects { .. } => None,
            other => serde_json::to_value(other).ok(),
        };
        let (seq, epoch, at_ms) = (entry.seq, entry.epoch, entry.at_ms);
        store
            .commit(move |view| {
                let mut local = Vec::new();
                for (n, (bucket, key)) in targets.into_iter().enumerate() {
                    let id = format!("{seq:020}-{n}");
                    if view.quarantined(&id)?.is_some() {
                        continue;
                    }
                    let record = match (&bucket, &key) {
                        // Only this entry's version is divergent; a later local entry that
                        // touched the same key gets its own record.
                        (Some(b), Some(k)) => view.object(b, k)?.filter(|r| r.seq == seq),
                        _ => None,
                    };
                    let take_object = record.is_some();
                    let q = QuarantineRecord {
                        id,
                        seq,
                        epoch,
                        at_ms,
                        kind: kind.clone(),
                        bucket,
                        key,
                        record,
                        detail: detail.clone(),
                        quarantined_ms: now_ms(),
                    };
                    local.push(Local::Quarantine {
                        record: Box::new(q),
                        take_object,
                    });
                }
                Ok::<_, StoreError>((Txn::zone(None, local), ()))
            })
            .await?;
    }
    Ok(count)
}

pub fn list(store: &Store) -> Result<Vec<QuarantineRecord>, StoreError> {
    store.quarantined()
}

pub fn get(store: &Store, id: &str) -> Result<Option<QuarantineRecord>, StoreError> {
    store.quarantined_one(id)
}
