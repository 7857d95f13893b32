//! The zone's storage: metadata in RocksDB, object data in blob files (or inline in RocksDB
//! for small objects), every mutation committed with its journal entry in one batch.

pub mod blob;
pub mod commit;
pub mod error;
pub mod gc;
mod keys;
pub mod listing;
pub mod plan;
pub mod read;
pub mod records;
pub mod scrub;
pub mod sealing;
pub mod space;
mod updates;
pub mod versions;
pub mod view;

use bascule_replication::records::{
    AccessKeyRecord, BucketRecord, KmsKeyRecord, Location, ObjectRecord, Segment, UserRecord,
};
use bascule_replication::zone::{Refused, Zone, ZoneState};
use bascule_replication::Entry;
use blob::BlobStore;
use commit::Committer;
pub use error::StoreError;
pub use plan::{Local, Origin, Txn};
use records::{PartRecord, QuarantineRecord, UploadRecord};
use rocksdb::{ColumnFamily, ColumnFamilyDescriptor, Options, DB};
use serde::de::DeserializeOwned;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
pub use view::View;

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
    /// Blob references and releases (see `gc.rs`).
    Gc,
    /// Counters kept with every change (per-bucket usage, journal bytes).
    Counters,
    /// Object versions other than the current one: noncurrent versions and delete markers.
    Versions,
    /// Keys of the zone's key service (material wrapped by the master key).
    Kms,
}

impl Cf {
    pub const ALL: [Cf; 14] = [
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
        Cf::Gc,
        Cf::Counters,
        Cf::Versions,
        Cf::Kms,
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
            Cf::Gc => "gc",
            Cf::Counters => "counters",
            Cf::Versions => "versions",
            Cf::Kms => "kms",
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

/// Column-family handles, resolved once when the store opens: a missing one fails the
/// open instead of silently dropping writes later.
pub struct Handles {
    db: Arc<DB>,
}

impl Handles {
    fn resolve(db: Arc<DB>) -> Result<Handles, StoreError> {
        for cf in Cf::ALL {
            if db.cf_handle(cf.name()).is_none() {
                return Err(StoreError::Corrupt(format!(
                    "missing column family {}",
                    cf.name()
                )));
            }
        }
        Ok(Handles { db })
    }

    /// A column family's handle. `resolve` checked every one at open and none is ever
    /// dropped, so the error is unreachable; it is still an error, not a panic.
    pub(crate) fn cf(&self, cf: Cf) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(cf.name())
            .ok_or_else(|| StoreError::Corrupt(format!("missing column family {}", cf.name())))
    }
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    Ok(serde_json::from_slice(bytes)?)
}

pub fn encode<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    Ok(serde_json::to_vec(value)?)
}

/// A bucket's counters, kept with every change: current objects, bytes of every version
/// stored, and the versions kept apart from the current ones (noncurrent versions and
/// delete markers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub objects: u64,
    pub bytes: u64,
    pub versions: u64,
}

impl Usage {
    pub fn encode(&self) -> Vec<u8> {
        [
            self.objects.to_be_bytes(),
            self.bytes.to_be_bytes(),
            self.versions.to_be_bytes(),
        ]
        .concat()
    }

    /// Reads 24 bytes, or the 16 of counters written before versions were counted.
    pub fn decode(v: &[u8]) -> Usage {
        let n = |r: std::ops::Range<usize>| {
            v.get(r)
                .and_then(|b| b.try_into().ok())
                .map(u64::from_be_bytes)
                .unwrap_or(0)
        };
        Usage {
            objects: n(0..8),
            bytes: n(8..16),
            versions: n(16..24),
        }
    }
}

pub fn decode_u64(v: &[u8]) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(v.try_into().map_err(|_| {
        StoreError::Corrupt("counter is not 8 bytes".into())
    })?))
}

pub struct Store {
    db: Arc<DB>,
    cfs: Arc<Handles>,
    blobs: Arc<BlobStore>,
    committer: Committer,
    meta_dir: PathBuf,
    pub zone: Arc<Zone>,
}

/// Where the zone's role and epoch are kept (System column family).
pub const ZONE_STATE_KEY: &[u8] = b"zone/state";
/// The follower's last acknowledgement, kept for journal trimming across restarts.
const PEER_ACK_KEY: &[u8] = b"zone/peer_ack";
/// The scrub's findings (damaged segments), kept across restarts.
pub const SCRUB_FINDINGS_KEY: &[u8] = b"scrub/findings";
/// Where a background walk's position is kept (System column family, local to the zone).
pub fn walk_position_key(walk: records::WalkName) -> &'static [u8] {
    match walk {
        records::WalkName::Lifecycle => b"lifecycle/position",
        records::WalkName::Rewrap => b"rewrap/position",
        records::WalkName::Scrub => b"scrub/position",
    }
}

impl Store {
    /// Opens (or creates) the store: metadata under `meta_dir`, blobs under `data_dirs`.
    /// A new store takes `initial` as its zone state; an existing one keeps its own.
    /// Finishes what an earlier crash interrupted (blob releases, blobs in flight) before
    /// serving; none of it reads object metadata.
    pub fn open(
        meta_dir: &Path,
        data_dirs: Vec<PathBuf>,
        initial: ZoneState,
    ) -> Result<Store, StoreError> {
        std::fs::create_dir_all(meta_dir)?;
        space::release_ballast(meta_dir);
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        opts.increase_parallelism(2);
        let cfs = Cf::ALL
            .iter()
            .map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(*cf)));
        let db = Arc::new(DB::open_cf_descriptors(&opts, meta_dir, cfs)?);
        let handles = Arc::new(Handles::resolve(db.clone())?);
        let blobs = Arc::new(BlobStore::open(data_dirs)?);
        let state = match db.get_cf(handles.cf(Cf::System)?, ZONE_STATE_KEY)? {
            Some(v) => decode(&v)?,
            None => {
                db.put_cf(handles.cf(Cf::System)?, ZONE_STATE_KEY, encode(&initial)?)?;
                initial
            }
        };
        let zone = Arc::new(Zone::new(state));
        let released = gc::finish_releases(&db, &handles, &blobs)?;
        let (settled, removed_tmp) = gc::sweep_tmp(&db, &handles, &blobs, Duration::ZERO)?;
        if released + settled + removed_tmp > 0 {
            tracing::info!(
                released,
                settled,
                removed_tmp,
                "finished blob work an earlier run left"
            );
        }
        let committer = Committer::start(
            db.clone(),
            handles.clone(),
            blobs.clone(),
            zone.clone(),
            meta_dir.to_path_buf(),
        )?;
        space::restore_ballast(meta_dir);
        Ok(Store {
            db,
            cfs: handles,
            blobs,
            committer,
            meta_dir: meta_dir.to_path_buf(),
            zone,
        })
    }

    pub fn blobs(&self) -> &BlobStore {
        &self.blobs
    }

    /// Runs a change through the group committer. The closure inspects the current state
    /// and returns the change, or refuses it with its own error.
    pub async fn commit<T, E, F>(&self, f: F) -> Result<(T, Option<u64>), E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&View) -> Result<(Txn, T), E> + Send + 'static,
    {
        self.submit(f)?.await
    }

    /// Queues a change at once and returns a future of its outcome: changes submitted one
    /// after another commit in that order.
    pub fn submit<T, E, F>(
        &self,
        f: F,
    ) -> Result<impl std::future::Future<Output = Result<(T, Option<u64>), E>> + Send + 'static, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&View) -> Result<(Txn, T), E> + Send + 'static,
    {
        type Slot<T, E> = Arc<std::sync::Mutex<Option<Result<T, E>>>>;
        let slot: Slot<T, E> = Arc::new(std::sync::Mutex::new(None));
        let out = slot.clone();
        let rx = self.committer.submit(Box::new(move |view| {
            let (outcome, txn) = match f(view) {
                Ok((txn, value)) => (Ok(value), Ok(txn)),
                Err(e) => (Err(e), Err(StoreError::Rejected)),
            };
            if let Ok(mut s) = out.lock() {
                *s = Some(outcome);
            }
            txn
        }))?;
        Ok(async move {
            let taken = || slot.lock().ok().and_then(|mut s| s.take());
            match rx.await.map_err(|_| StoreError::Closed)? {
                Ok(committed) => match taken() {
                    Some(Ok(value)) => Ok((value, committed)),
                    _ => Err(E::from(StoreError::Closed)),
                },
                Err(StoreError::Rejected) => match taken() {
                    Some(Err(e)) => Err(e),
                    _ => Err(E::from(StoreError::Closed)),
                },
                Err(e) => Err(E::from(e)),
            }
        })
    }

    /// Runs one zone transition: planned on a copy, saved (in commit order with
    /// everything else), and only then published. A refused transition or a failed save
    /// leaves the zone as it was.
    pub async fn change_zone<T, E>(
        &self,
        change: impl FnOnce(&mut ZoneState) -> Result<T, Refused>,
    ) -> Result<T, E>
    where
        E: From<StoreError> + From<Refused>,
    {
        self.zone
            .change(
                |s| change(s).map_err(E::from),
                |next| async move {
                    self.commit(move |_| {
                        let txn = Txn::zone(None, vec![Local::ZoneState(next)]);
                        Ok::<_, StoreError>((txn, ()))
                    })
                    .await
                    .map(|_| ())
                    .map_err(E::from)
                },
            )
            .await
    }

    /// The last durable journal sequence number; it changes (and wakes watchers) on commit.
    pub fn last_seq(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committer.last_seq()
    }

    /// The follower's last acknowledgement as last recorded (0 if never).
    pub fn peer_ack(&self) -> u64 {
        self.get_raw(Cf::System, PEER_ACK_KEY)
            .ok()
            .flatten()
            .and_then(|v| decode_u64(&v).ok())
            .unwrap_or(0)
    }

    /// Records the follower's acknowledgement outside the journal and the group commit,
    /// unsynced: it may lag after a crash, which only delays a journal trim.
    pub fn save_peer_ack(&self, seq: u64) -> Result<(), StoreError> {
        Ok(self
            .db
            .put_cf(self.cfs.cf(Cf::System)?, PEER_ACK_KEY, seq.to_be_bytes())?)
    }

    fn get_raw(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cfs.cf(cf)?, key)?)
    }

    /// A cheap read that proves the database answers (readiness probe).
    pub fn probe(&self) -> Result<(), StoreError> {
        self.get_raw(Cf::System, ZONE_STATE_KEY).map(|_| ())
    }

    /// The committed state, through the same typed reads a change's closure gets.
    pub fn read(&self) -> View<'_> {
        View {
            db: &self.db,
            cfs: &self.cfs,
            overlay: Default::default(),
            last_seq: 0,
        }
    }

    pub fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        self.read().bucket(name)
    }

    pub fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.read().object(bucket, key)
    }

    pub fn access_key(&self, access_key: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.read().access_key(access_key)
    }

    pub fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read().user(id)
    }

    /// Every directory the store writes: the metadata directory, then the data directories.
    pub fn directories(&self) -> Vec<PathBuf> {
        std::iter::once(self.meta_dir.clone())
            .chain(self.blobs.dirs().iter().cloned())
            .collect()
    }

    /// A user by id, or else by name.
    pub fn find_user(&self, who: &str) -> Result<Option<UserRecord>, StoreError> {
        self.read().find_user(who)
    }

    pub fn upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<UploadRecord>, StoreError> {
        self.read().upload(bucket, key, upload_id)
    }

    /// Where a background walk stands (its default before the first pass).
    pub fn walk_position(
        &self,
        walk: records::WalkName,
    ) -> Result<records::WalkPosition, StoreError> {
        Ok(self
            .get_raw(Cf::System, walk_position_key(walk))?
            .map(|v| decode(&v))
            .transpose()?
            .unwrap_or_default())
    }

    /// The damaged segments the scrub found and kept (see `records::DamagedObject`).
    pub fn scrub_findings(&self) -> Result<Vec<records::DamagedObject>, StoreError> {
        Ok(self
            .get_raw(Cf::System, SCRUB_FINDINGS_KEY)?
            .map(|v| decode(&v))
            .transpose()?
            .unwrap_or_default())
    }

    /// How many stored segments each version of key-service key `id` wraps (versions
    /// that wrap none are left out), kept with every change.
    pub fn kek_segments(&self, id: &str) -> Result<Vec<(u32, u64)>, StoreError> {
        let prefix = keys::kek_segments(&format!("{id}#"));
        let mut out = Vec::new();
        for item in self.iter_from(Cf::Counters, &prefix)? {
            let (k, v) = item?;
            let Some(version) = k.strip_prefix(prefix.as_slice()) else {
                break;
            };
            // `a#1` and `a#b#1` share a prefix: only a bare number is this key's.
            let Some(n) = std::str::from_utf8(version)
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
            else {
                continue;
            };
            out.push((n, decode_u64(&v)?));
        }
        out.sort();
        Ok(out)
    }

    /// A bucket's counters, kept with every change.
    pub fn usage(&self, bucket: &str) -> Result<Usage, StoreError> {
        self.read().usage(bucket)
    }

    pub fn quarantined_one(&self, id: &str) -> Result<Option<QuarantineRecord>, StoreError> {
        self.read().quarantined(id)
    }

    /// The parts stored for an upload after `marker`, by number, at most `limit`.
    pub fn parts(
        &self,
        upload_id: &str,
        marker: u32,
        limit: usize,
    ) -> Result<Vec<(u32, PartRecord)>, StoreError> {
        let prefix = keys::part_prefix(upload_id);
        let mut out = Vec::new();
        for item in self.iter_from(
            Cf::Parts,
            &keys::part_key(upload_id, marker.saturating_add(1)),
        )? {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || out.len() >= limit {
                break;
            }
            let n = keys::part_number(&k)
                .ok_or_else(|| StoreError::Corrupt("part key without a number".into()))?;
            if n > marker {
                out.push((n, decode(&v)?));
            }
        }
        Ok(out)
    }

    pub fn inline_data(&self, id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get_raw(Cf::Inline, id.as_bytes())
    }

    fn all<T: DeserializeOwned>(&self, cf: Cf) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        for item in self.iter_from(cf, b"")? {
            let (_, v) = item?;
            out.push(decode(&v)?);
        }
        Ok(out)
    }

    /// Every bucket, in name order.
    pub fn buckets(&self) -> Result<Vec<BucketRecord>, StoreError> {
        self.all(Cf::Buckets)
    }

    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.all(Cf::Users)
    }

    pub fn access_keys(&self) -> Result<Vec<AccessKeyRecord>, StoreError> {
        self.all(Cf::Keys)
    }

    pub fn kms_keys(&self) -> Result<Vec<KmsKeyRecord>, StoreError> {
        self.all(Cf::Kms)
    }

    /// Moves after every commit that changed a key of the key service (for caches of key
    /// records: read it before the record).
    pub fn kms_generation(&self) -> u64 {
        self.committer.kms_generation()
    }

    pub fn kms_key(&self, id: &str) -> Result<Option<KmsKeyRecord>, StoreError> {
        self.read().kms_key(id)
    }

    pub fn quarantined(&self) -> Result<Vec<QuarantineRecord>, StoreError> {
        self.all(Cf::Quarantine)
    }

    /// Buckets named after `after` and starting with `prefix`, in name order, at most
    /// `limit`: one page of a listing, read from where it starts.
    pub fn buckets_after(
        &self,
        after: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<BucketRecord>, StoreError> {
        let start = if after.as_bytes() > prefix.as_bytes() {
            after
        } else {
            prefix
        };
        let mut out = Vec::new();
        for item in self.iter_from(Cf::Buckets, start.as_bytes())? {
            let (k, v) = item?;
            if !k.starts_with(prefix.as_bytes()) || out.len() >= limit {
                break;
            }
            if *k == *after.as_bytes() {
                continue;
            }
            out.push(decode(&v)?);
        }
        Ok(out)
    }

    /// A raw iterator over one column family (positioned by `seek`).
    pub(crate) fn raw_iter(
        &self,
        cf: Cf,
    ) -> Result<rocksdb::DBRawIteratorWithThreadMode<'_, DB>, StoreError> {
        Ok(self.db.raw_iterator_cf(self.cfs.cf(cf)?))
    }

    /// A forward iterator starting at `from`.
    pub(crate) fn iter_from(
        &self,
        cf: Cf,
        from: &[u8],
    ) -> Result<rocksdb::DBIteratorWithThreadMode<'_, DB>, StoreError> {
        Ok(self.db.iterator_cf(
            self.cfs.cf(cf)?,
            rocksdb::IteratorMode::From(from, rocksdb::Direction::Forward),
        ))
    }

    /// Every version of the keys of `bucket` after `after` (and up to `upto`, inclusive),
    /// key by key (current first, then newest first), at most `limit` keys: the pages zone
    /// resyncs compare.
    pub fn versions_after(
        &self,
        bucket: &str,
        after: &str,
        upto: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Vec<ObjectRecord>)>, StoreError> {
        let mut out: Vec<(String, Vec<ObjectRecord>)> = Vec::new();
        let (mut key_marker, mut version_marker) = (after.to_string(), String::new());
        loop {
            let walked = listing::versions(
                self,
                &listing::VersionWalk {
                    bucket,
                    prefix: "",
                    delimiter: None,
                    key_marker: &key_marker,
                    version_marker: &version_marker,
                    max: 1000,
                },
            )?;
            for item in walked.items {
                let listing::VersionItem::Version { key, record, .. } = item else {
                    continue;
                };
                if upto.is_some_and(|u| key.as_str() > u) {
                    return Ok(out);
                }
                key_marker.clone_from(&key);
                version_marker = record.version_label().to_string();
                match out.last_mut() {
                    Some((k, versions)) if *k == key => versions.push(record),
                    _ => {
                        if out.len() == limit {
                            return Ok(out);
                        }
                        out.push((key, vec![record]));
                    }
                }
            }
            if !walked.truncated {
                return Ok(out);
            }
        }
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

    /// Multipart uploads in progress in this zone.
    pub fn uploads_in_progress(&self) -> Result<u64, StoreError> {
        self.read().uploads_in_progress()
    }

    /// Cumulative object bytes of every journal entry committed so far.
    pub fn journal_bytes(&self) -> Result<u64, StoreError> {
        self.get_raw(Cf::Counters, keys::JOURNAL_BYTES)?
            .map(|v| decode_u64(&v))
            .transpose()
            .map(|v| v.unwrap_or(0))
    }

    /// Deletes journal entries up to `upto` (inclusive). The caller raised the zone's
    /// journal floor first.
    pub fn trim_journal(&self, upto: u64) -> Result<(), StoreError> {
        self.db.delete_range_cf(
            self.cfs.cf(Cf::Journal)?,
            Entry::key(0),
            Entry::key(upto.saturating_add(1)),
        )?;
        Ok(())
    }

    /// One background pass: finishes pending releases and settles or removes `tmp/` files
    /// idle for `min_age`. Reads no object metadata.
    pub fn collect_garbage(&self, min_age: Duration) -> Result<gc::GcReport, StoreError> {
        let released = gc::finish_releases(&self.db, &self.cfs, &self.blobs)?;
        let (settled, removed_tmp) = gc::sweep_tmp(&self.db, &self.cfs, &self.blobs, min_age)?;
        space::restore_ballast(&self.meta_dir);
        Ok(gc::GcReport {
            released,
            settled,
            removed_tmp,
        })
    }

    /// Compacts every column family fully (an operator's tool, and the benchmark's way to
    /// measure what the data settles to). Blocking; can take long on a large store.
    pub fn compact(&self) -> Result<(), StoreError> {
        for cf in Cf::ALL {
            self.db
                .compact_range_cf(self.cfs.cf(cf)?, None::<&[u8]>, None::<&[u8]>);
        }
        Ok(())
    }

    /// Stops the committer (queued changes commit first) and flushes the memtables: after
    /// this the database is quiet and can close.
    pub fn close(&self) {
        self.committer.close();
        // Every column family: a restart then replays no WAL (and needs no room to flush it).
        for cf in Cf::ALL {
            let flushed = self.cfs.cf(cf).and_then(|h| Ok(self.db.flush_cf(h)?));
            if let Err(e) = flushed {
                tracing::warn!(error = %e, cf = cf.name(), "flush at shutdown failed");
            }
        }
        // No compaction or flush may still run when the process ends: RocksDB's
        // background threads racing its static destructors abort the process.
        self.db.cancel_all_background_work(true);
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
