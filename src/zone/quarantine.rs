//! Divergent writes: what an old primary accepted after its peer's promotion point. When
//! it rejoins as a secondary, each object those entries touched is moved out of the
//! namespace into the quarantine column family (its data stays, readable through the
//! admin API); other changes (buckets, users, keys) are recorded as they were. The resync
//! that follows then converges on the new primary's data.

use crate::store::records::QuarantineRecord;
use crate::store::{Local, Store, StoreError, Txn};
use bascule_replication::status::now_ms;
use bascule_replication::{Op, Removal};
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
        let targets = divergent_targets(&entry.op);
        let kind = entry.op.kind().to_string();
        let detail = match &entry.op {
            Op::PutObject { .. }
            | Op::DeleteObject { .. }
            | Op::DeleteObjects { .. }
            | Op::DeleteVersion { .. }
            | Op::RemoveObjects { .. } => None,
            other => serde_json::to_value(other).ok(),
        };
        let (seq, epoch, at_ms) = (entry.seq, entry.epoch, entry.at_ms);
        store
            .commit(move |view| {
                let mut local = Vec::new();
                for (n, target) in targets.into_iter().enumerate() {
                    let id = format!("{seq:020}-{n}");
                    if view.quarantined(&id)?.is_some() {
                        continue;
                    }
                    let (bucket, key) = match &target {
                        Some(t) => (Some(t.bucket.clone()), Some(t.key.clone())),
                        None => (None, None),
                    };
                    let record = match &target {
                        // Only the version this entry wrote is divergent (found by its
                        // sequence number); a later local entry gets its own record.
                        Some(Target {
                            bucket,
                            key,
                            wrote: Some(version),
                        }) => view
                            .version(bucket, key, version.as_deref())?
                            .filter(|r| r.seq == seq),
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

/// A key a divergent entry touched, and the version it wrote there (if it wrote one).
struct Target {
    bucket: String,
    key: String,
    wrote: Option<Option<String>>,
}

/// The keys an entry touched; `None` for a change that is not about objects.
fn divergent_targets(op: &Op) -> Vec<Option<Target>> {
    let target = |bucket: &str, key: &str, wrote: Option<Option<String>>| {
        Some(Target {
            bucket: bucket.to_string(),
            key: key.to_string(),
            wrote,
        })
    };
    match op {
        Op::PutObject {
            bucket,
            key,
            record,
        } => vec![target(bucket, key, Some(record.version_id.clone()))],
        Op::UpdateVersion { bucket, key, .. }
        | Op::DeleteObject { bucket, key }
        | Op::DeleteVersion { bucket, key, .. } => vec![target(bucket, key, None)],
        Op::DeleteObjects { bucket, keys } => keys
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .map(|k| target(bucket, k, None))
            .collect(),
        Op::RemoveObjects { bucket, removals } => removals
            .iter()
            .map(|r| match r {
                Removal::Marker { key, record } => {
                    target(bucket, key, Some(record.version_id.clone()))
                }
                Removal::Version { key, .. } => target(bucket, key, None),
            })
            .collect(),
        // Wrapping data keys again changes no client data: nothing to set aside.
        Op::RewrapSegments { .. } => vec![],
        _ => vec![None],
    }
}

pub fn list(store: &Store) -> Result<Vec<QuarantineRecord>, StoreError> {
    store.quarantined()
}

pub fn get(store: &Store, id: &str) -> Result<Option<QuarantineRecord>, StoreError> {
    store.quarantined_one(id)
}
