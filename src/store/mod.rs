//! The zone's storage: metadata in RocksDB, object data in blob files (or inline in RocksDB
//! for small objects), every mutation committed with its journal entry in one batch.

pub mod blob;
pub mod commit;
pub mod error;
pub mod keys;
pub mod read;
pub mod records;

use bascule_api::S3Result;
use bascule_replication::records::{
    AccessKeyRecord, BucketRecord, Location, ObjectRecord, Segment, UserRecord,
};
use bascule_replication::Entry;
use blob::BlobStore;
use commit::{Committer, EpochCell, Plan, View};
pub use error::StoreError;
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, DB};
use serde::de::DeserializeOwned;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
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
}

impl Cf {
    pub const ALL: [Cf; 9] = [
        Cf::Buckets,
        Cf::Objects,
        Cf::Inline,
        Cf::Uploads,
        Cf::Parts,
        Cf::Users,
        Cf::Keys,
        Cf::Journal,
        Cf::System,
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
        }
    }
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
    pub epoch: EpochCell,
}

impl Store {
    /// Opens (or creates) the store: metadata under `meta_dir`, blobs under `data_dirs`.
    /// Collects leftovers of an earlier crash before serving.
    pub fn open(meta_dir: &Path, data_dirs: Vec<PathBuf>) -> Result<Store, StoreError> {
        std::fs::create_dir_all(meta_dir)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.increase_parallelism(2);
        let cfs = Cf::ALL
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), Options::default()));
        let db = Arc::new(DB::open_cf_descriptors(&opts, meta_dir, cfs)?);
        let blobs = Arc::new(BlobStore::open(data_dirs)?);
        let epoch: EpochCell = Arc::new(AtomicU64::new(1));
        let committer = Committer::start(db.clone(), blobs.clone(), epoch.clone())?;
        let store = Store {
            db,
            blobs,
            committer,
            epoch,
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
        let slot = Arc::new(std::sync::Mutex::new(None));
        let out = slot.clone();
        let committed = self
            .committer
            .commit(Box::new(move |view| {
                let (plan, value) = f(view)?;
                if let Ok(mut s) = out.lock() {
                    *s = Some(value);
                }
                Ok(plan)
            }))
            .await?;
        let value = slot
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .ok_or(StoreError::Closed)?;
        Ok((value, committed))
    }

    /// The last durable journal sequence number; it changes (and wakes watchers) on commit.
    pub fn last_seq(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committer.last_seq()
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

    /// Every segment id that metadata references (objects and multipart parts).
    fn referenced_segments(&self) -> Result<HashSet<String>, StoreError> {
        let mut ids = HashSet::new();
        for (_, rec) in self.scan::<ObjectRecord>(Cf::Objects, b"")? {
            ids.extend(rec.segments.into_iter().map(|s| s.id));
        }
        for (_, part) in self.scan::<records::PartRecord>(Cf::Parts, b"")? {
            ids.insert(part.segment.id);
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
