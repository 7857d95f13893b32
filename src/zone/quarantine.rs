//! Divergent writes: what an old primary accepted after its peer's promotion point. When
//! it rejoins as a secondary, each object those entries touched is moved out of the
//! namespace into the quarantine column family (its data stays, readable through the
//! admin API); other changes (buckets, users, keys) are recorded as they were. The resync
//! that follows then converges on the new primary's data.

use crate::store::commit::{Origin, Plan};
use crate::store::records::QuarantineRecord;
use crate::store::{decode, encode, keys, Cf, Store};
use bascule_api::S3Result;
use bascule_replication::records::ObjectRecord;
use bascule_replication::status::now_ms;
use bascule_replication::Op;
use std::sync::Arc;

/// Sets aside the objects touched by this zone's journal entries after `after_seq`.
/// Idempotent: an object already moved is not there any more, and records are keyed by
/// entry. Returns how many divergent entries were found.
pub async fn set_aside(store: &Arc<Store>, after_seq: u64) -> S3Result<u64> {
    let entries = {
        let s = store.clone();
        tokio::task::spawn_blocking(move || s.journal_after(after_seq, usize::MAX))
            .await
            .map_err(|_| bascule_api::S3Error::new(bascule_api::S3ErrorCode::InternalError))??
    };
    let count = entries.len() as u64;
    for entry in entries {
        let targets: Vec<(Option<String>, Option<String>)> = match &entry.op {
            Op::PutObject { bucket, key, .. } | Op::DeleteObject { bucket, key } => {
                vec![(Some(bucket.clone()), Some(key.clone()))]
            }
            Op::DeleteObjects { bucket, keys } => keys
                .iter()
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
                let mut plan = Plan {
                    origin: Origin::Zone,
                    ..Plan::default()
                };
                for (n, (bucket, key)) in targets.into_iter().enumerate() {
                    let id = format!("{seq:020}-{n}");
                    let record = match (&bucket, &key) {
                        (Some(b), Some(k)) => {
                            let okey = keys::object_key(b, k);
                            let current: Option<ObjectRecord> = view
                                .get(Cf::Objects, &okey)?
                                .map(|v| decode(&v))
                                .transpose()?;
                            // Only this entry's version is divergent; a later local entry
                            // that touched the same key gets its own record.
                            let mine = current.filter(|r| r.seq == seq);
                            if mine.is_some() {
                                // Out of the namespace, data kept (not released).
                                plan.delete(Cf::Objects, okey);
                            }
                            mine
                        }
                        _ => None,
                    };
                    if view.get(Cf::Quarantine, id.as_bytes())?.is_some() {
                        continue;
                    }
                    let q = QuarantineRecord {
                        id: id.clone(),
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
                    plan.put(Cf::Quarantine, id.into_bytes(), encode(&q));
                }
                Ok((plan, ()))
            })
            .await?;
    }
    Ok(count)
}

pub fn list(store: &Store) -> S3Result<Vec<QuarantineRecord>> {
    Ok(store
        .scan::<QuarantineRecord>(Cf::Quarantine, b"")?
        .into_iter()
        .map(|(_, q)| q)
        .collect())
}

pub fn get(store: &Store, id: &str) -> S3Result<Option<QuarantineRecord>> {
    Ok(store
        .get_raw(Cf::Quarantine, id.as_bytes())?
        .map(|v| decode(&v))
        .transpose()?)
}
