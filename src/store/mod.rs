//! The zone's storage: metadata in RocksDB, object data in blob files (or inline in RocksDB
//! for small objects), every mutation committed with its journal entry in one batch.

pub mod blob;
pub mod commit;
pub mod error;
pub mod keys;
pub mod read;
pub mod records;

use bascule_api::{S3Error, S3Result};
use bascule_replication::records::{
    AccessKeyRecord, BucketRecord, Location, ObjectRecord, Segment, UserRecord,
};
use bascule_replication::zone::{Zone, ZoneState};
use bascule_replication::Entry;
use blob::BlobStore;
use commit::{Committer, Origin, Plan, View};
pub use error::StoreError;
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, DB};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// Column families, one per kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cf {
    Buckets,
    Objects,
    Inline,
    Uploads,
    Parts,
    Users,
    Keys,
    Journal,
    System,
    Quarantine,
}

impl Cf {
    pub const ALL: [Cf; 10] = [
        Cf::Buckets,
        Cf::Objects,
        Cf::Inline,
        Cf::Uploads,
        Cf::Parts,
        Cf::Users,
        Cf::Keys,
        Cf::Journal,
        Cf::System,
        Cf::Quarantine,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Cf::Buckets => "buckets",
            Cf::Objects => "objects",
            Cf::Inline => "inline",
            Cf::Uploads => "uploads",
            Cf::Parts => "parts",
            Cf::Users => "users",
            Cf::Keys => "keys",
            Cf::Journal => "journal",
            Cf::System => "system",
            Cf::Quarantine => "quarantine",
        }
    }
}

/// Small objects' data goes to RocksDB blob files (key-value separation): the LSM tree then
/// compacts only keys and pointers, not every byte of every inline object again and again.
/// Without it, a secondary catching up on many 64 KiB objects spent its time compacting.
const INLINE_BLOB_MIN: u64 = 4096;

fn cf_options(cf: Cf) -> Options {
    let mut o = Options::default();
    if cf == Cf::Inline {
        o.set_enable_blob_files(true);
        o.set_min_blob_size(INLINE_BLOB_MIN);
        o.set_blob_file_size(256 << 20);
        o.set_enable_blob_gc(true);
    }
    o
}

pub(crate) fn handle(db: &DB, cf: Cf) -> Result<&ColumnFamily, StoreError> {
    db.cf_handle(cf.name())
        .ok_or_else(|| StoreError::Corrupt(format!("missing column family {}", cf.name())))
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    Ok(serde_json::from_slice(bytes)?)
}

pub fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Records are plain data; JSON serialization of them cannot fail.
    serde_json::to_vec(value).expect("records serialize")
}

pub struct Store {
    db: Arc<DB>,
    blobs: Arc<BlobStore>,
    committer: Committer,
    pub zone: Arc<Zone>,
}

/// Where the zone's role and epoch are kept (System column family).
pub const ZONE_STATE_KEY: &[u8] = b"zone/state";

impl Store {
    /// Opens (or creates) the store: metadata under `meta_dir`, blobs under `data_dirs`.
    /// A new store takes `initial` as its zone state; an existing one keeps its own.
    /// Collects leftovers of an earlier crash before serving.
    pub fn open(
        meta_dir: &Path,
        data_dirs: Vec<PathBuf>,
        initial: ZoneState,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(meta_dir)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.increase_parallelism(2);
        let cfs = Cf::ALL
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(*cf)));
        let db = Arc::new(DB::open_cf_descriptors(&opts, meta_dir, cfs)?);
        let blobs = Arc::new(BlobStore::open(data_dirs)?);
        let state = match db.get_cf(handle(&db, Cf::System)?, ZONE_STATE_KEY)? {
            Some(v) => decode(&v)?,
            None => {
                db.put_cf(handle(&db, Cf::System)?, ZONE_STATE_KEY, encode(&initial))?;
                initial
            }
        };
        let zone = Arc::new(Zone::new(state));
        let committer = Committer::start(db.clone(), blobs.clone(), zone.clone())?;
        let store = Store {
            db,
            blobs,
            committer,
            zone,
        };
        let (tmp, orphans) = store.collect_garbage(Duration::ZERO)?;
        if tmp + orphans > 0 {
            tracing::info!(
                temp_files = tmp,
                orphan_blobs = orphans,
                "collected leftovers from an earlier run"
            );
        }
        Ok(store)
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Runs a mutation through the group committer.
    pub async fn commit<T, F>(&self, f: F) -> S3Result<(T, Option<u64>)>
    where
        T: Send + 'static,
        F: FnOnce(&View) -> S3Result<(Plan, T)> + Send + 'static,
    {
        self.submit(f)?.await
    }

    /// Queues a mutation at once and returns a future of its outcome: mutations submitted
    /// one after another commit in that order.
    pub fn submit<T, F>(
        &self,
        f: F,
    ) -> S3Result<impl std::future::Future<Output = S3Result<(T, Option<u64>)>> + Send + 'static>
    where
        T: Send + 'static,
        F: FnOnce(&View) -> S3Result<(Plan, T)> + Send + 'static,
    {
        let slot = Arc::new(std::sync::Mutex::new(None));
        let out = slot.clone();
        let rx = self.committer.submit(Box::new(move |view| {
            let (plan, value) = f(view)?;
            if let Ok(mut s) = out.lock() {
                *s = Some(value);
            }
            Ok(plan)
        }))?;
        Ok(async move {
            let committed = rx.await.map_err(|_| S3Error::from(StoreError::Closed))??;
            let value = slot
                .lock()
                .ok()
                .and_then(|mut s| s.take())
                .ok_or(StoreError::Closed)?;
            Ok((value, committed))
        })
    }

    /// Changes the zone state and persists it (in commit order with everything else).
    pub async fn update_zone<T: Send + 'static>(
        &self,
        change: impl FnOnce(&mut ZoneState) -> T,
    ) -> S3Result<T> {
        let (_, out) = self.zone.update(change);
        self.persist_zone().await?;
        Ok(out)
    }

    /// Persists the zone state as it is when the commit runs, so concurrent changes are
    /// written in commit order and the last one wins.
    pub async fn persist_zone(&self) -> S3Result<()> {
        let zone = self.zone.clone();
        self.commit(move |_| {
            let mut plan = Plan {
                origin: Origin::Zone,
                ..Plan::default()
            };
            plan.put(
                Cf::System,
                ZONE_STATE_KEY.to_vec(),
                encode(&zone.snapshot()),
            );
            Ok((plan, ()))
        })
        .await?;
        Ok(())
    }

    /// The last durable journal sequence number; it changes (and wakes watchers) on commit.
    pub fn last_seq(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committer.last_seq()
    }

    /// Writes a key outside the journal and the group commit, unsynced: only for local
    /// bookkeeping that may lag after a crash (such as the peer's last acknowledgement).
    pub fn put_side(&self, cf: Cf, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        Ok(self.db.put_cf(handle(&self.db, cf)?, key, value)?)
    }

    pub fn get_raw(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(handle(&self.db, cf)?, key)?)
    }

    fn get<T: DeserializeOwned>(&self, cf: Cf, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.get_raw(cf, key)?.map(|v| decode(&v)).transpose()
    }

    pub fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        self.get(Cf::Buckets, name.as_bytes())
    }

    pub fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.get(Cf::Objects, &keys::object_key(bucket, key))
    }

    pub fn access_key(&self, access_key: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.get(Cf::Keys, access_key.as_bytes())
    }

    pub fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.get(Cf::Users, id.as_bytes())
    }

    pub fn inline_data(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_raw(Cf::Inline, id.as_bytes())
    }

    /// All records of a column family, in key order, decoded.
    pub fn scan<T: DeserializeOwned>(
        &self,
        cf: Cf,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, T)>, StoreError> {
        let mut out = Vec::new();
        for item in self.iter_from(cf, prefix)? {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_vec(), decode(&v)?));
        }
        Ok(out)
    }

    /// A forward iterator starting at `from`.
    pub fn iter_from(
        &self,
        cf: Cf,
        from: &[u8],
    ) -> Result<rocksdb::DBIteratorWithThreadMode<'_, DB>, StoreError> {
        Ok(self.db.iterator_cf(
            handle(&self.db, cf)?,
            rocksdb::IteratorMode::From(from, rocksdb::Direction::Forward),
        ))
    }

    /// Objects of `bucket` with keys after `after` (and up to `upto`, inclusive), in key
    /// order, at most `limit`: the pages zone resyncs compare.
    pub fn objects_after(
        &self,
        bucket: &str,
        after: &str,
        upto: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, ObjectRecord)>, StoreError> {
        let prefix = keys::bucket_prefix(bucket);
        let mut start = keys::object_key(bucket, after);
        if !after.is_empty() {
            start.push(0);
        }
        let mut out = Vec::new();
        for item in self.iter_from(Cf::Objects, &start)? {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || out.len() == limit {
                break;
            }
            let key = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            if upto.is_some_and(|u| key.as_str() > u) {
                break;
            }
            out.push((key, decode(&v)?));
        }
        Ok(out)
    }

    /// Journal entries with sequence numbers above `after`, at most `limit`.
    pub fn journal_after(&self, after: u64, limit: usize) -> Result<Vec<Entry>, StoreError> {
        let mut out = Vec::new();
        for item in self.iter_from(Cf::Journal, &Entry::key(after.saturating_add(1)))? {
            let (_, v) = item?;
            out.push(Entry::decode(&v).map_err(|e| StoreError::Corrupt(e.to_string()))?);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Deletes journal entries up to `upto` (inclusive). The caller raised the zone's
    /// journal floor first.
    pub fn trim_journal(&self, upto: u64) -> Result<(), StoreError> {
        let h = handle(&self.db, Cf::Journal)?;
        self.db
            .delete_range_cf(h, Entry::key(0), Entry::key(upto.saturating_add(1)))?;
        Ok(())
    }

    /// Every segment id that metadata references (objects and multipart parts).
    fn referenced_segments(&self) -> Result<HashSet<String>, StoreError> {
        let mut ids = HashSet::new();
        for (_, rec) in self.scan::<ObjectRecord>(Cf::Objects, b"")? {
            ids.extend(rec.segments.into_iter().map(|s| s.id));
        }
        for (_, part) in self.scan::<records::PartRecord>(Cf::Parts, b"")? {
            ids.insert(part.segment.id);
        }
        for (_, q) in self.scan::<records::QuarantineRecord>(Cf::Quarantine, b"")? {
            ids.extend(q.record.into_iter().flat_map(|r| r.segments).map(|s| s.id));
        }
        Ok(ids)
    }

    /// Removes temp files and blobs nothing references, older than `min_age`.
    pub fn collect_garbage(&self, min_age: Duration) -> Result<(usize, usize), StoreError> {
        let tmp = self.blobs.clean_tmp(min_age);
        let referenced = self.referenced_segments()?;
        let orphans = self.blobs.collect_unreferenced(&referenced, min_age);
        Ok((tmp, orphans))
    }
}

/// Reads an object's data segment by segment, as owned chunks, for streaming.
pub enum SegmentSource {
    Inline(Vec<u8>),
    File(std::fs::File),
}

impl Store {
    pub fn open_segment(&self, seg: &Segment) -> Result<SegmentSource, StoreError> {
        match seg.loc {
            Location::Inline => self
                .inline_data(&seg.id)?
                .map(SegmentSource::Inline)
                .ok_or_else(|| StoreError::Corrupt(format!("inline data {} missing", seg.id))),
            Location::Disk(_) => Ok(SegmentSource::File(self.blobs.open_segment(seg)?)),
        }
    }
}
