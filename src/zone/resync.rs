//! Full resync: for a secondary that fell behind the primary's journal retention, started
//! empty next to a primary with data, or rejoined after a failover. It notes the primary's
//! last sequence number, copies the catalog (buckets, users, keys), walks every bucket's
//! listing on both sides in key order copying what differs and deleting what the primary
//! no longer has, and records its position after each page so a restart resumes there.
//! Finally the local journal continues from the noted sequence number: entries after it
//! replay idempotently, so there is no gap.

use super::apply::object_txn;
use super::replica::StoreReplica;
use crate::store::{Origin, Store, StoreError, Txn};
use bascule_replication::fetch::{Fetcher, LocalData};
use bascule_replication::peer::PeerClient;
use bascule_replication::protocol::Catalog;
use bascule_replication::records::{AccessKeyRecord, BucketRecord, ObjectRecord, UserRecord};
use bascule_replication::status::StatusCell;
use bascule_replication::zone::{ResyncState, Role};
use bascule_replication::Op;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Objects per listing page; progress is saved after each.
const PAGE: usize = 100;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

pub async fn run(
    r: &StoreReplica,
    peer: &PeerClient,
    fetcher: &Fetcher,
    status: &StatusCell,
) -> Result<u64, String> {
    let store = &r.store;
    let mut st = store
        .zone
        .snapshot()
        .resync()
        .cloned()
        .ok_or("no resync in progress")?;
    let catalog = peer.catalog().await.map_err(err)?;
    if catalog.zone.role != Role::Primary {
        return Err("the peer is not primary: nothing to resync from yet".into());
    }
    if st.stage == "start" {
        st = ResyncState {
            from_seq: catalog.zone.last_seq,
            bucket: None,
            after_key: None,
            stage: "objects".into(),
        };
        save(store, &st).await?;
        tracing::info!(from_seq = st.from_seq, "full resync started");
    }
    sync_catalog(store, &catalog, false).await?;

    let primary: BTreeSet<String> = catalog.buckets.iter().map(|b| b.name.clone()).collect();
    let local: BTreeSet<String> = store
        .buckets()
        .map_err(err)?
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
                let p = peer.objects(bucket, &after, PAGE).await.map_err(err)?;
                (p.objects, p.truncated)
            } else {
                (Vec::new(), false)
            };
            let upto = truncated
                .then(|| page.last().map(|(k, _)| k.clone()))
                .flatten();
            let mine = store
                .objects_after(bucket, &after, upto.as_deref(), usize::MAX)
                .map_err(err)?
                .into_iter()
                .collect();
            converge_page(r, fetcher, bucket, page, mine).await?;
            st.bucket = Some(bucket.clone());
            st.after_key = upto.clone();
            save(store, &st).await?;
            match upto {
                Some(k) => after = k,
                None => break,
            }
        }
    }
    sync_catalog(store, &catalog, true).await?;
    let from = st.from_seq;
    store
        .commit(move |_| {
            let txn = Txn {
                origin: Origin::Reset { seq: from },
                ..Txn::default()
            };
            Ok::<_, StoreError>((txn, ()))
        })
        .await
        .map_err(err)?;
    Ok(from)
}

async fn save(store: &Arc<Store>, st: &ResyncState) -> Result<(), String> {
    let st = st.clone();
    store
        .change_zone::<_, super::ZoneError>(move |s| s.resync_progress(st))
        .await
        .map_err(err)
}

/// Same object on both sides? Segment locations are each zone's own business.
fn same(a: &ObjectRecord, b: &ObjectRecord) -> bool {
    let ids = |r: &ObjectRecord| r.segments.iter().map(|s| s.id.clone()).collect::<Vec<_>>();
    ObjectRecord {
        segments: Vec::new(),
        ..a.clone()
    } == ObjectRecord {
        segments: Vec::new(),
        ..b.clone()
    } && ids(a) == ids(b)
}

async fn converge_page(
    r: &StoreReplica,
    fetcher: &Fetcher,
    bucket: &str,
    page: Vec<(String, ObjectRecord)>,
    mut mine: BTreeMap<String, ObjectRecord>,
) -> Result<(), String> {
    for (key, record) in page {
        let local = mine.remove(&key);
        if local.as_ref().is_some_and(|l| same(l, &record)) {
            continue;
        }
        let data = fetcher.fetch_object(r, bucket, &key, &record).await?;
        if matches!(data.as_slice(), [LocalData::Superseded]) {
            // Changed on the primary since its listing; the journal replay after the
            // resync brings the newer state.
            continue;
        }
        let b = bucket.to_string();
        r.store
            .commit(move |_| {
                let txn = Txn {
                    origin: Origin::Zone,
                    ..object_txn(b, key, record, data)?
                };
                Ok::<_, StoreError>((txn, ()))
            })
            .await
            .map_err(err)?;
    }
    let gone: Vec<String> = mine.into_keys().collect();
    if !gone.is_empty() {
        let b = bucket.to_string();
        r.store
            .commit(move |_| {
                let op = Op::DeleteObjects {
                    bucket: b,
                    keys: gone,
                };
                Ok::<_, StoreError>((Txn::zone(Some(op), Vec::new()), ()))
            })
            .await
            .map_err(err)?;
    }
    Ok(())
}

/// Writes the primary's buckets, users and keys; with `remove_extra`, also deletes the
/// local ones the primary does not have (at the end, once their objects are gone). Each
/// difference is one change through the planner, as a replicated entry would be.
async fn sync_catalog(store: &Arc<Store>, c: &Catalog, remove_extra: bool) -> Result<(), String> {
    let mut ops = Vec::new();
    let have_buckets = store.buckets().map_err(err)?;
    let have_users = store.users().map_err(err)?;
    let have_keys = store.access_keys().map_err(err)?;
    differences(
        &mut ops,
        &c.buckets,
        &have_buckets,
        |b: &BucketRecord| b.name.clone(),
        |record| Op::PutBucket { record },
        |name| Op::DeleteBucket { name },
        remove_extra,
    );
    differences(
        &mut ops,
        &c.users,
        &have_users,
        |u: &UserRecord| u.id.clone(),
        |record| Op::PutUser { record },
        |id| Op::DeleteUser { id },
        remove_extra,
    );
    differences(
        &mut ops,
        &c.keys,
        &have_keys,
        |k: &AccessKeyRecord| k.access_key.clone(),
        |record| Op::PutAccessKey { record },
        |access_key| Op::DeleteAccessKey { access_key },
        remove_extra,
    );
    for op in ops {
        store
            .commit(move |_| Ok::<_, StoreError>((Txn::zone(Some(op), Vec::new()), ())))
            .await
            .map_err(err)?;
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
