//! Turning a primary's journal entry into a local change. The entry's records are applied
//! verbatim (same ETag, Last-Modified, checksums, owner), except that segment locations
//! become this zone's own. The store's planner does the rest, exactly as for a client write.

use crate::store::{Origin, StoreError, Txn};
use bascule_replication::port::LocalData;
use bascule_replication::records::{Location, ObjectRecord};
use bascule_replication::{Entry, Op};

/// The change that applies `entry`, journaled under the primary's sequence number.
pub fn entry_txn(entry: Entry, data: Vec<LocalData>) -> Result<Txn, StoreError> {
    let origin = Origin::Replica {
        seq: entry.seq,
        epoch: entry.epoch,
        at_ms: entry.at_ms,
    };
    let mut txn = match entry.op {
        Op::PutObject {
            bucket,
            key,
            record,
        } => {
            if matches!(data.as_slice(), [LocalData::Superseded]) {
                // The primary had already replaced this version; a later entry carries the
                // state to converge to. Only the journal entry is kept.
                Txn {
                    journal_only: true,
                    ..Txn::op(Op::PutObject {
                        bucket,
                        key,
                        record,
                    })
                }
            } else {
                // Journaled with this zone's own locations, which it serves from if it is
                // promoted one day.
                object_txn(bucket, key, record, data)?
            }
        }
        op => Txn::op(op),
    };
    txn.origin = origin;
    Ok(txn)
}

/// Puts `record` at `bucket/key` with its data as fetched here: inline bytes go with the
/// change, files are already in place, kept segments stay where they are.
pub fn object_txn(
    bucket: String,
    key: String,
    record: ObjectRecord,
    data: Vec<LocalData>,
) -> Result<Txn, StoreError> {
    if data.len() != record.segments.len() {
        return Err(StoreError::Corrupt(format!(
            "{} segments fetched for an object of {}",
            data.len(),
            record.segments.len()
        )));
    }
    let mut local = record;
    let mut inline = Vec::new();
    for (seg, d) in local.segments.iter_mut().zip(data) {
        seg.loc = match d {
            LocalData::Inline(bytes) => {
                inline.push((seg.id.clone(), bytes));
                Location::Inline
            }
            LocalData::Disk(dir) => Location::Disk(dir),
            LocalData::Kept(loc) => loc,
            LocalData::Superseded => {
                return Err(StoreError::Corrupt(format!(
                    "segment {} is not available",
                    seg.id
                )))
            }
        };
    }
    Ok(Txn {
        inline,
        ..Txn::op(Op::PutObject {
            bucket,
            key,
            record: local,
        })
    })
}
