//! Full resync: for a secondary that fell behind the primary's journal retention, started
//! empty next to a primary with data, or rejoined after a failover. It notes the primary's
//! last sequence number, copies the catalog (buckets, users, keys), walks every bucket's
//! listing on both sides in key order copying what differs and deleting what the primary
//! no longer has, and records its position after each page so a restart resumes there.
//! Finally the local journal continues from the noted sequence number: entries after it
//! replay idempotently, so there is no gap.
//!
//! Written against the storage port (`Replica`); the peer is this crate's own client.

use crate::fetch::Fetcher;
use crate::peer::{PeerClient, PeerError};
use crate::port::{LocalData, PortError, Replica};
use crate::protocol::Catalog;
use crate::records::ObjectRecord;
use crate::status::StatusCell;
use crate::zone::{Refused, ResyncState, Role};
use crate::Op;
use std::collections::{BTreeMap, BTreeSet};

/// Objects per listing page; progress is saved after each.
const PAGE: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum ResyncError {
    #[error("no resync in progress")]
    NotResyncing,
    #[error("the peer is not primary: nothing to resync from yet")]
    PeerNotPrimary,
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error("fetching object data: {0}")]
    Fetch(String),
    #[error(transparent)]
    Local(#[from] PortError),
}

impl From<Refused> for ResyncError {
    fn from(r: Refused) -> Self {
        ResyncError::Local(PortError::Refused(r))
    }
}

/// Runs (or resumes) the resync; returns the sequence number to follow the journal from.
pub async fn run<R: Replica>(
    replica: &R,
    peer: &PeerClient,
    fetcher: &Fetcher,
    status: &StatusCell,
) -> Result<u64, ResyncError> {
    let mut st = replica
        .zone()
        .snapshot()
        .resync()
        .cloned()
        .ok_or(ResyncError::NotResyncing)?;
    let catalog = peer.catalog().await?;
    if catalog.zone.role != Role::Primary {
        return Err(ResyncError::PeerNotPrimary);
    }
    if st.stage == "start" {
        st = ResyncState {
            from_seq: catalog.zone.last_seq,
            bucket: None,
            after_key: None,
            stage: "objects".into(),
        };
        save(replica, &st).await?;
        tracing::info!(from_seq = st.from_seq, "full resync started");
    }
    sync_catalog(replica, &catalog, false).await?;

    let primary: BTreeSet<String> = catalog.buckets.iter().map(|b| b.name.clone()).collect();
    let local: BTreeSet<String> = replica
        .local_catalog()?
        .buckets
        .into_iter()
        .map(|b| b.name)
        .collect();
    for bucket in primary.union(&local) {
        if st.bucket.as_ref().is_some_and(|done| bucket < done) {
            continue;
        }
        let mut after = match &st.bucket {
            Some(b) if b == bucket => st.after_key.clone().unwrap_or_default(),
            _ => String::new(),
        };
        status.update(|s| s.resync = Some(format!("bucket {bucket}, after key {after:?}")));
        loop {
            let (page, truncated) = if primary.contains(bucket) {
                let p = peer.objects(bucket, &after, PAGE).await?;
                (p.objects, p.truncated)
            } else {
                (Vec::new(), false)
            };
            let upto = truncated
                .then(|| page.last().map(|(k, _)| k.clone()))
                .flatten();
            let mine = replica
                .objects_page(bucket, &after, upto.as_deref())?
                .into_iter()
                .collect();
            converge_page(replica, fetcher, bucket, page, mine).await?;
            st.bucket = Some(bucket.clone());
            st.after_key = upto.clone();
            save(replica, &st).await?;
            match upto {
                Some(k) => after = k,
                None => break,
            }
        }
    }
    sync_catalog(replica, &catalog, true).await?;
    let from = st.from_seq;
    replica.restart_journal(from).await?;
    Ok(from)
}

async fn save<R: Replica>(replica: &R, st: &ResyncState) -> Result<(), ResyncError> {
    let st = st.clone();
    replica.change_zone(move |s| s.resync_progress(st)).await?;
    Ok(())
}

async fn converge_page<R: Replica>(
    replica: &R,
    fetcher: &Fetcher,
    bucket: &str,
    page: Vec<(String, Vec<ObjectRecord>)>,
    mut mine: BTreeMap<String, Vec<ObjectRecord>>,
) -> Result<(), ResyncError> {
    for (key, versions) in page {
        let local = mine.remove(&key).unwrap_or_default();
        converge_key(replica, fetcher, bucket, &key, versions, local).await?;
    }
    for (key, local) in mine {
        converge_key(replica, fetcher, bucket, &key, Vec::new(), local).await?;
    }
    Ok(())
}

/// Makes one key's versions here those of the primary: each version it lacks or holds
/// differently is copied (oldest first, so the newest ends current), and each version the
/// primary does not have goes.
pub async fn converge_key<R: Replica>(
    replica: &R,
    fetcher: &Fetcher,
    bucket: &str,
    key: &str,
    wanted: Vec<ObjectRecord>,
    local: Vec<ObjectRecord>,
) -> Result<(), ResyncError> {
    let label = |r: &ObjectRecord| r.version_label().to_string();
    let wanted_ids: BTreeSet<String> = wanted.iter().map(label).collect();
    for gone in local.iter().filter(|l| !wanted_ids.contains(&label(l))) {
        let op = Op::DeleteVersion {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: gone.version_id.clone(),
        };
        replica.copy_change(op, Vec::new()).await?;
    }
    for record in wanted.into_iter().rev() {
        if local
            .iter()
            .any(|l| label(l) == label(&record) && crate::verify::same_version(l, &record))
        {
            continue;
        }
        let data = fetcher
            .fetch_object(replica, bucket, key, &record)
            .await
            .map_err(ResyncError::Fetch)?;
        if matches!(data.as_slice(), [LocalData::Superseded]) {
            // Changed on the primary since its listing; the journal replay after the
            // resync brings the newer state.
            continue;
        }
        let op = Op::PutObject {
            bucket: bucket.to_string(),
            key: key.to_string(),
            record,
        };
        replica.copy_change(op, data).await?;
    }
    Ok(())
}

/// Writes the primary's buckets, users and keys; with `remove_extra`, also deletes the
/// local ones the primary does not have (at the end, once their objects are gone). Each
/// difference is one change, applied as a replicated entry would be.
pub async fn sync_catalog<R: Replica>(
    replica: &R,
    c: &Catalog,
    remove_extra: bool,
) -> Result<(), ResyncError> {
    let have = replica.local_catalog()?;
    let mut ops = Vec::new();
    differences(
        &mut ops,
        &c.buckets,
        &have.buckets,
        |b| b.name.clone(),
        |record| Op::PutBucket { record },
        |name| Op::DeleteBucket { name },
        remove_extra,
    );
    differences(
        &mut ops,
        &c.users,
        &have.users,
        |u| u.id.clone(),
        |record| Op::PutUser { record },
        |id| Op::DeleteUser { id },
        remove_extra,
    );
    differences(
        &mut ops,
        &c.keys,
        &have.keys,
        |k| k.access_key.clone(),
        |record| Op::PutAccessKey { record },
        |access_key| Op::DeleteAccessKey { access_key },
        remove_extra,
    );
    // Keys of the key service are never removed (data may still be wrapped by them), so
    // the removal below is never asked for.
    differences(
        &mut ops,
        &c.kms_keys,
        &have.kms_keys,
        |k| k.id.clone(),
        |record| Op::PutKmsKey { record },
        |id| Op::DeleteUser { id },
        false,
    );
    // Key records first: a bucket or object may need them.
    ops.sort_by_key(|op| !matches!(op, Op::PutKmsKey { .. }));
    for op in ops {
        replica.copy_change(op, Vec::new()).await?;
    }
    Ok(())
}

/// The changes that make `have` equal to `wanted` (records compared whole).
fn differences<T: Clone + PartialEq>(
    ops: &mut Vec<Op>,
    wanted: &[T],
    have: &[T],
    key_of: impl Fn(&T) -> String,
    put: impl Fn(T) -> Op,
    delete: impl Fn(String) -> Op,
    remove_extra: bool,
) {
    let mine: BTreeMap<String, &T> = have.iter().map(|t| (key_of(t), t)).collect();
    let mut keep = BTreeSet::new();
    for item in wanted {
        let k = key_of(item);
        if mine.get(&k) != Some(&item) {
            ops.push(put(item.clone()));
        }
        keep.insert(k);
    }
    if remove_extra {
        for k in mine.keys().filter(|k| !keep.contains(*k)) {
            ops.push(delete(k.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_put_changed_and_delete_extra_at_the_end_only() {
        let wanted = vec![("a", 1), ("b", 2)];
        let have = vec![("a", 1), ("b", 3), ("c", 4)];
        let key = |t: &(&str, i32)| t.0.to_string();
        let put = |t: (&str, i32)| Op::DeleteBucket {
            name: format!("put {}", t.0),
        };
        let del = |k: String| Op::DeleteBucket {
            name: format!("delete {k}"),
        };
        let names = |ops: Vec<Op>| {
            ops.into_iter()
                .map(|o| match o {
                    Op::DeleteBucket { name } => name,
                    _ => String::new(),
                })
                .collect::<Vec<_>>()
        };
        let mut ops = Vec::new();
        differences(&mut ops, &wanted, &have, key, put, del, false);
        assert_eq!(names(ops), vec!["put b"]);
        let mut ops = Vec::new();
        differences(&mut ops, &wanted, &have, key, put, del, true);
        assert_eq!(names(ops), vec!["put b", "delete c"]);
    }
}
