//! Group commit. Every mutation is a closure that inspects current state through a `View`
//! and returns a `Plan`. One thread runs the closures in arrival order, gives each plan's
//! journal entry the next sequence number, and writes the whole group as one synced RocksDB
//! WriteBatch: ordered sequence numbers, atomic checks (If-None-Match, BucketNotEmpty...),
//! and one fsync for many concurrent requests.

use super::error::StoreError;
use super::Cf;
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::{Location, Segment};
use bascule_replication::zone::Zone;
use bascule_replication::{Entry, Op};
use rocksdb::{WriteBatch, WriteOptions, DB};
use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use tokio::sync::{oneshot, watch};

/// Most plans in one batch; bounds the latency of the first request in a group.
const MAX_GROUP: usize = 512;

pub const LAST_SEQ_KEY: &[u8] = b"journal/last_seq";

pub enum Write {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
}

/// Who asks for a change; it decides whether the zone's role allows it and how its
/// journal entry is numbered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Origin {
    /// An S3 client or an admin: only a writable primary takes these.
    #[default]
    Client,
    /// An entry of the primary's journal being applied here: it keeps the primary's
    /// sequence number, epoch and time, and moves this zone's cursor to it.
    Replica { seq: u64, epoch: u64, at_ms: u64 },
    /// Bookkeeping of this zone (zone state, quarantine, resync copies): allowed in any
    /// role, never journaled.
    Zone,
    /// The end of a full resync: this zone's journal restarts at `seq` (the primary's
    /// position when the resync began). Local entries are dropped: they describe a history
    /// the resync replaced (the zone's journal floor moves to `seq`).
    Reset { seq: u64 },
}

/// What one mutation changes. `op` becomes its journal entry (none for changes that are
/// local to this zone, such as multipart uploads in progress).
#[derive(Default)]
pub struct Plan {
    pub writes: Vec<Write>,
    pub op: Option<Op>,
    /// Data no longer referenced once this commits: inline data is deleted in the same
    /// batch, files are removed after the batch is durable.
    pub release: Vec<Segment>,
    pub origin: Origin,
}

impl Plan {
    pub fn put(&mut self, cf: Cf, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push(Write::Put(cf, key, value));
    }

    pub fn delete(&mut self, cf: Cf, key: Vec<u8>) {
        self.writes.push(Write::Delete(cf, key));
    }
}

/// Read access for plan closures: the database plus the writes of earlier plans in the
/// same group, which are not in the database yet.
pub struct View<'a> {
    db: &'a DB,
    overlay: HashMap<(Cf, Vec<u8>), Option<Vec<u8>>>,
    last_seq: u64,
}

impl View<'_> {
    /// The sequence number a client plan's journal entry will get if it commits; object
    /// records carry it so the S3 front end can tell whether the peer has applied them.
    pub fn next_seq(&self) -> u64 {
        self.last_seq + 1
    }

    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.overlay.get(&(cf, key.to_vec())) {
            return Ok(v.clone());
        }
        Ok(self.db.get_cf(super::handle(self.db, cf)?, key)?)
    }

    /// Is there any live key starting with `prefix`?
    pub fn any_with_prefix(&self, cf: Cf, prefix: &[u8]) -> Result<bool, StoreError> {
        if self
            .overlay
            .iter()
            .any(|((c, k), v)| *c == cf && k.starts_with(prefix) && v.is_some())
        {
            return Ok(true);
        }
        let iter = self.db.iterator_cf(
            super::handle(self.db, cf)?,
            rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (k, _) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            if !matches!(self.overlay.get(&(cf, k.to_vec())), Some(None)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Keys and values under `prefix` (used for small sets such as one upload's parts).
    pub fn scan_prefix(&self, cf: Cf, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        let mut out: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = Default::default();
        let iter = self.db.iterator_cf(
            super::handle(self.db, cf)?,
            rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            out.insert(k.to_vec(), v.to_vec());
        }
        for ((c, k), v) in &self.overlay {
            if *c == cf && k.starts_with(prefix) {
                match v {
                    Some(v) => out.insert(k.clone(), v.clone()),
                    None => out.remove(k),
                };
            }
        }
        Ok(out.into_iter().collect())
    }
}

/// A raw key and value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

type PlanFn = Box<dyn FnOnce(&View) -> S3Result<Plan> + Send>;

struct Job {
    plan: PlanFn,
    reply: oneshot::Sender<Result<Committed, S3Error>>,
}

/// The journal sequence number given to a committed plan's entry, if it had one.
pub type Committed = Option<u64>;

pub struct Committer {
    tx: mpsc::Sender<Job>,
    last_seq: watch::Receiver<u64>,
}

impl Committer {
    pub fn start(
        db: Arc<DB>,
        blobs: Arc<super::blob::BlobStore>,
        zone: Arc<Zone>,
    ) -> Result<Committer, StoreError> {
        let last = match db.get_cf(super::handle(&db, Cf::System)?, LAST_SEQ_KEY)? {
            Some(v) => u64::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("last_seq".into()))?,
            ),
            None => 0,
        };
        let (seq_tx, seq_rx) = watch::channel(last);
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("bascule-commit".into())
            .spawn(move || run(db, blobs, zone, rx, seq_tx, last))
            .map_err(StoreError::Io)?;
        Ok(Committer {
            tx,
            last_seq: seq_rx,
        })
    }

    /// Queues a plan now (so plans queued one after another commit in that order, often
    /// in one group) and returns a receiver for its outcome.
    pub fn submit(&self, plan: PlanFn) -> S3Result<oneshot::Receiver<Result<Committed, S3Error>>> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Job { plan, reply })
            .map_err(|_| S3Error::from(StoreError::Closed))?;
        Ok(rx)
    }

    /// The last durable journal sequence number; changes wake long-polling readers.
    pub fn last_seq(&self) -> watch::Receiver<u64> {
        self.last_seq.clone()
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}

/// Decides, at commit time, whether the zone's role allows a plan. Checking here (and not
/// only when a request arrives) means a zone that was just demoted commits no client write.
fn admit(zone: &Zone, plan: &Plan, last_seq: u64) -> S3Result<()> {
    match plan.origin {
        Origin::Client if !zone.writable() => Err(S3Error::new(S3ErrorCode::ZoneReadOnly)),
        Origin::Replica { .. } if !zone.is_secondary() => Err(S3Error::msg(
            S3ErrorCode::InvalidRequest,
            "this zone is not a secondary: it applies no journal entries",
        )),
        Origin::Replica { seq, .. } if seq <= last_seq => Err(S3Error::msg(
            S3ErrorCode::InvalidRequest,
            format!("journal entry {seq} is already applied (cursor {last_seq})"),
        )),
        // The primary's sequence numbers are contiguous: a hole means an earlier entry of
        // the same batch failed, and this one must wait for it.
        Origin::Replica { seq, .. } if seq != last_seq + 1 => Err(S3Error::msg(
            S3ErrorCode::ServiceUnavailable,
            format!("journal entry {seq} cannot follow {last_seq}"),
        )),
        Origin::Replica { .. } if plan.op.is_none() => Err(S3Error::msg(
            S3ErrorCode::InternalError,
            "a replicated change must carry its journal entry",
        )),
        _ => Ok(()),
    }
}

fn run(
    db: Arc<DB>,
    blobs: Arc<super::blob::BlobStore>,
    zone: Arc<Zone>,
    rx: mpsc::Receiver<Job>,
    seq_tx: watch::Sender<u64>,
    mut last_seq: u64,
) {
    let mut sync = WriteOptions::default();
    sync.set_sync(true);
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let mut view = View {
            db: &db,
            overlay: HashMap::new(),
            last_seq,
        };
        let mut batch = WriteBatch::default();
        let mut outcomes: Vec<(oneshot::Sender<_>, Result<Committed, S3Error>)> =
            Vec::with_capacity(jobs.len());
        let mut to_remove: Vec<Segment> = Vec::new();
        let group_start_seq = last_seq;
        let mut group_reset = false;
        for job in jobs {
            view.last_seq = last_seq;
            let plan = match (job.plan)(&view).and_then(|p| admit(&zone, &p, last_seq).map(|_| p)) {
                Ok(p) => p,
                Err(e) => {
                    outcomes.push((job.reply, Err(e)));
                    continue;
                }
            };
            if let Origin::Reset { seq } = plan.origin {
                if let Ok(h) = super::handle(&db, Cf::Journal) {
                    batch.delete_range_cf(h, Entry::key(0), Entry::key(u64::MAX));
                }
                last_seq = seq;
                // Forces the cursor to be written even when it moved backwards.
                group_reset = true;
            }
            let seq = match plan.op {
                Some(op) => {
                    let (seq, epoch, at_ms) = match plan.origin {
                        Origin::Replica { seq, epoch, at_ms } => (seq, epoch, at_ms),
                        _ => (last_seq + 1, zone.epoch(), now_ms()),
                    };
                    last_seq = seq;
                    let entry = Entry {
                        seq,
                        epoch,
                        at_ms,
                        op,
                    };
                    let key = Entry::key(last_seq).to_vec();
                    let value = entry.encode();
                    if let Ok(h) = super::handle(&db, Cf::Journal) {
                        batch.put_cf(h, &key, &value);
                    }
                    view.overlay.insert((Cf::Journal, key), Some(value));
                    Some(last_seq)
                }
                None => None,
            };
            for seg in plan.release {
                match seg.loc {
                    Location::Inline => {
                        let key = seg.id.into_bytes();
                        if let Ok(h) = super::handle(&db, Cf::Inline) {
                            batch.delete_cf(h, &key);
                        }
                        view.overlay.insert((Cf::Inline, key), None);
                    }
                    Location::Disk(_) => to_remove.push(seg),
                }
            }
            for w in plan.writes {
                match w {
                    Write::Put(cf, k, v) => {
                        if let Ok(h) = super::handle(&db, cf) {
                            batch.put_cf(h, &k, &v);
                        }
                        view.overlay.insert((cf, k), Some(v));
                    }
                    Write::Delete(cf, k) => {
                        if let Ok(h) = super::handle(&db, cf) {
                            batch.delete_cf(h, &k);
                        }
                        view.overlay.insert((cf, k), None);
                    }
                }
            }
            outcomes.push((job.reply, Ok(seq)));
        }
        if last_seq != group_start_seq || group_reset {
            if let Ok(h) = super::handle(&db, Cf::System) {
                batch.put_cf(h, LAST_SEQ_KEY, last_seq.to_be_bytes());
            }
        }
        drop(view);
        let written = if batch.is_empty() {
            Ok(())
        } else {
            db.write_opt(batch, &sync)
        };
        match written {
            Ok(()) => {
                for seg in &to_remove {
                    blobs.remove(seg);
                }
                if last_seq != group_start_seq || group_reset {
                    seq_tx.send_replace(last_seq);
                }
                for (reply, outcome) in outcomes {
                    let _ = reply.send(outcome);
                }
            }
            Err(e) => {
                // Nothing of this group is durable: every request in it fails, and the
                // sequence numbers are handed out again.
                tracing::error!(error = %e, "commit failed");
                last_seq = group_start_seq;
                let err = S3Error::from(StoreError::Db(e));
                for (reply, outcome) in outcomes {
                    let _ = reply.send(outcome.and(Err(err.clone())));
                }
            }
        }
    }
}
