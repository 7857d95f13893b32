//! Turning a primary's journal entry into a local change. The entry's records are applied
//! verbatim (same ETag, Last-Modified, checksums, owner), except that segment locations
//! become this zone's own.

use crate::store::commit::{Origin, Plan, View};
use crate::store::{decode, encode, keys, Cf};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::fetch::LocalData;
use bascule_replication::records::{AccessKeyRecord, Location, ObjectRecord};
use bascule_replication::{Entry, Op};
use std::collections::HashSet;

fn internal(msg: String) -> S3Error {
    S3Error::msg(S3ErrorCode::InternalError, msg)
}

/// The plan that applies `entry`, journaling it under the primary's sequence number.
pub fn plan_entry(view: &View, entry: Entry, data: Vec<LocalData>) -> S3Result<Plan> {
    let mut plan = Plan {
        origin: Origin::Replica {
            seq: entry.seq,
            epoch: entry.epoch,
            at_ms: entry.at_ms,
        },
        ..Plan::default()
    };
    let mut op = entry.op;
    match &mut op {
        Op::PutObject {
            bucket,
            key,
            record,
        } => {
            if matches!(data.as_slice(), [LocalData::Superseded]) {
                // The primary had already replaced this version; a later entry carries the
                // state to converge to. Only the journal entry is kept.
            } else {
                // Journaled with this zone's own locations, which it serves from if it is
                // promoted one day.
                *record = put_object(view, &mut plan, bucket, key, record, data)?;
            }
        }
        Op::DeleteObject { bucket, key } => delete_object(view, &mut plan, bucket, key)?,
        Op::DeleteObjects { bucket, keys } => {
            for key in keys {
                delete_object(view, &mut plan, bucket, key)?;
            }
        }
        Op::PutBucket { record } => {
            plan.put(
                Cf::Buckets,
                record.name.clone().into_bytes(),
                encode(record),
            );
        }
        Op::DeleteBucket { name } => plan.delete(Cf::Buckets, name.clone().into_bytes()),
        Op::PutUser { record } => {
            plan.put(Cf::Users, record.id.clone().into_bytes(), encode(record));
        }
        Op::DeleteUser { id } => {
            for (k, v) in view.scan_prefix(Cf::Keys, b"")? {
                let key: AccessKeyRecord = decode(&v)?;
                if key.user_id == *id {
                    plan.delete(Cf::Keys, k);
                }
            }
            plan.delete(Cf::Users, id.clone().into_bytes());
        }
        Op::PutAccessKey { record } => {
            plan.put(
                Cf::Keys,
                record.access_key.clone().into_bytes(),
                encode(record),
            );
        }
        Op::DeleteAccessKey { access_key } => {
            plan.delete(Cf::Keys, access_key.clone().into_bytes())
        }
    }
    plan.op = Some(op);
    Ok(plan)
}

fn current(view: &View, okey: &[u8]) -> S3Result<Option<ObjectRecord>> {
    Ok(view
        .get(Cf::Objects, okey)?
        .map(|v| decode(&v))
        .transpose()?)
}

pub fn put_object(
    view: &View,
    plan: &mut Plan,
    bucket: &str,
    key: &str,
    record: &ObjectRecord,
    data: Vec<LocalData>,
) -> S3Result<ObjectRecord> {
    if data.len() != record.segments.len() {
        return Err(internal(format!(
            "{} segments fetched for an object of {}",
            data.len(),
            record.segments.len()
        )));
    }
    let mut local = record.clone();
    for (seg, d) in local.segments.iter_mut().zip(data) {
        seg.loc = match d {
            LocalData::Inline(bytes) => {
                plan.put(Cf::Inline, seg.id.clone().into_bytes(), bytes.to_vec());
                Location::Inline
            }
            LocalData::Disk(dir) => Location::Disk(dir),
            LocalData::Kept(loc) => loc,
            LocalData::Superseded => {
                return Err(internal(format!("segment {} is not available", seg.id)))
            }
        };
    }
    let okey = keys::object_key(bucket, key);
    if let Some(old) = current(view, &okey)? {
        let kept: HashSet<&str> = local.segments.iter().map(|s| s.id.as_str()).collect();
        plan.release.extend(
            old.segments
                .into_iter()
                .filter(|s| !kept.contains(s.id.as_str())),
        );
    }
    plan.put(Cf::Objects, okey, encode(&local));
    Ok(local)
}

pub fn delete_object(view: &View, plan: &mut Plan, bucket: &str, key: &str) -> S3Result<()> {
    let okey = keys::object_key(bucket, key);
    if let Some(old) = current(view, &okey)? {
        plan.release.extend(old.segments);
        plan.delete(Cf::Objects, okey);
    }
    Ok(())
}
