//! Group commit. Every mutation is a closure that inspects current state through a `View`
//! and returns a `Txn`. One thread runs the closures in arrival order, plans each (the one
//! planner, `plan.rs`), gives each journaled change the next sequence number, and writes the
//! whole group as one synced RocksDB WriteBatch: ordered sequence numbers, atomic checks
//! (If-None-Match, BucketNotEmpty...), and one fsync for many concurrent requests.

use super::blob::BlobStore;
use super::error::StoreError;
use super::plan::{plan, Origin, Planned, Txn, Write};
use super::view::View;
use super::{keys, Cf, Handles};
use bascule_replication::records::Segment;
use bascule_replication::zone::Zone;
use bascule_replication::Entry;
use rocksdb::{WriteBatch, WriteOptions, DB};
use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use tokio::sync::{oneshot, watch};

/// Most changes in one batch; bounds the latency of the first request in a group.
const MAX_GROUP: usize = 512;

pub const LAST_SEQ_KEY: &[u8] = b"journal/last_seq";

/// A change to plan. `Err(StoreError::Rejected)` means the closure refused it for a reason
/// of its own (kept by the caller); other errors are the store's.
pub type TxnFn = Box<dyn FnOnce(&View) -> Result<Txn, StoreError> + Send>;

struct Job {
    txn: TxnFn,
    reply: oneshot::Sender<Result<Committed, StoreError>>,
}

/// The journal sequence number given to a committed change's entry, if it had one.
pub type Committed = Option<u64>;

pub struct Committer {
    tx: std::sync::Mutex<Option<mpsc::Sender<Job>>>,
    last_seq: watch::Receiver<u64>,
    /// Moves after every commit that changed a key of the key service: what the key
    /// ring's cache of key records is checked against.
    kms_generation: Arc<std::sync::atomic::AtomicU64>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Shared with the commit thread.
struct Shared {
    db: Arc<DB>,
    cfs: Arc<Handles>,
    blobs: Arc<BlobStore>,
    zone: Arc<Zone>,
    meta_dir: std::path::PathBuf,
    kms_generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Committer {
    pub fn start(
        db: Arc<DB>,
        cfs: Arc<Handles>,
        blobs: Arc<BlobStore>,
        zone: Arc<Zone>,
        meta_dir: std::path::PathBuf,
    ) -> Result<Committer, StoreError> {
        let last = match db.get_cf(cfs.cf(Cf::System)?, LAST_SEQ_KEY)? {
            Some(v) => u64::from_be_bytes(
                v.as_slice()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("last_seq".into()))?,
            ),
            None => 0,
        };
        let journal_bytes = match db.get_cf(cfs.cf(Cf::Counters)?, keys::JOURNAL_BYTES)? {
            Some(v) => super::decode_u64(&v)?,
            None => 0,
        };
        let (seq_tx, seq_rx) = watch::channel(last);
        let (tx, rx) = mpsc::channel::<Job>();
        let kms_generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let shared = Shared {
            db,
            cfs,
            blobs,
            zone,
            meta_dir,
            kms_generation: kms_generation.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("bascule-commit".into())
            .spawn(move || run(shared, rx, seq_tx, last, journal_bytes))
            .map_err(StoreError::Io)?;
        Ok(Committer {
            tx: std::sync::Mutex::new(Some(tx)),
            last_seq: seq_rx,
            kms_generation,
            thread: std::sync::Mutex::new(Some(thread)),
        })
    }

    /// See `kms_generation`: read before a key record, so a change committed meanwhile
    /// makes the record read look old.
    pub fn kms_generation(&self) -> u64 {
        self.kms_generation
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// Queues a change now (so changes queued one after another commit in that order,
    /// often in one group) and returns a receiver for its outcome.
    pub fn submit(
        &self,
        txn: TxnFn,
    ) -> Result<oneshot::Receiver<Result<Committed, StoreError>>, StoreError> {
        let (reply, rx) = oneshot::channel();
        let guard = self.tx.lock().map_err(|_| StoreError::Closed)?;
        guard
            .as_ref()
            .ok_or(StoreError::Closed)?
            .send(Job { txn, reply })
            .map_err(|_| StoreError::Closed)?;
        Ok(rx)
    }

    /// Stops taking changes, lets the queued ones commit, and waits for the commit thread
    /// to end: after this nothing writes to the database.
    pub fn close(&self) {
        if let Ok(mut tx) = self.tx.lock() {
            tx.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = thread {
            let _ = t.join();
        }
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

/// Decides, at commit time, whether the zone's role allows a change. Checking here (and
/// not only when a request arrives) means a zone that was just demoted commits no client
/// write.
fn admit(zone: &Zone, txn: &Txn, last_seq: u64, full: bool) -> Result<(), StoreError> {
    match txn.origin {
        Origin::Client if !zone.writable() => Err(StoreError::ReadOnly),
        Origin::Client if !zone.lease_holds() => Err(StoreError::NoLease),
        Origin::Client if full && !txn.only_removes() => Err(StoreError::MetadataFull),
        Origin::Replica { .. } if !zone.is_secondary() => Err(StoreError::NotSecondary),
        Origin::Replica { seq, .. } if seq <= last_seq => Err(StoreError::AlreadyApplied {
            seq,
            cursor: last_seq,
        }),
        // The primary's sequence numbers are contiguous: a hole means an earlier entry of
        // the same batch failed, and this one must wait for it.
        Origin::Replica { seq, .. } if seq != last_seq + 1 => Err(StoreError::OutOfOrder {
            seq,
            cursor: last_seq,
        }),
        Origin::Replica { .. } if txn.op.is_none() => Err(StoreError::Corrupt(
            "a replicated change must carry its journal entry".into(),
        )),
        _ => Ok(()),
    }
}

/// Plans one job against the group's view and adds it to the batch.
fn stage(
    shared: &Shared,
    view: &mut View,
    batch: &mut WriteBatch,
    group: &mut Group,
    txn: Txn,
) -> Result<Committed, StoreError> {
    admit(&shared.zone, &txn, group.last_seq, group.full)?;
    let origin = txn.origin;
    let Planned {
        writes,
        op,
        referenced,
        released,
        undo,
    } = plan(view, txn)?;
    if let Origin::Reset { seq } = origin {
        batch.delete_range_cf(
            shared.cfs.cf(Cf::Journal)?,
            Entry::key(0),
            Entry::key(u64::MAX),
        );
        group.last_seq = seq;
        // Forces the cursor to be written even when it moved backwards.
        group.reset = true;
    }
    let seq = match op {
        Some(op) => {
            let (seq, epoch, at_ms) = match origin {
                Origin::Replica { seq, epoch, at_ms } => (seq, epoch, at_ms),
                _ => (group.last_seq + 1, shared.zone.epoch(), now_ms()),
            };
            let bytes_total = group.journal_bytes + op.data_bytes();
            let entry = Entry {
                seq,
                epoch,
                at_ms,
                op,
                bytes_total,
            };
            let key = Entry::key(seq).to_vec();
            // Encoded before the group's position moves: a failure leaves no gap, and
            // the view forgets what the change planned.
            let value = match entry.encode() {
                Ok(v) => v,
                Err(e) => {
                    super::plan::restore(view, undo);
                    return Err(StoreError::Corrupt(e.to_string()));
                }
            };
            group.last_seq = seq;
            group.journal_bytes = bytes_total;
            batch.put_cf(shared.cfs.cf(Cf::Journal)?, &key, &value);
            view.overlay.insert((Cf::Journal, key), Some(value));
            Some(seq)
        }
        None => None,
    };
    group.kms_changed |= writes
        .iter()
        .any(|w| matches!(w, Write::Put(Cf::Kms, ..) | Write::Delete(Cf::Kms, _)));
    for w in writes {
        match w {
            Write::Put(cf, k, v) => {
                batch.put_cf(shared.cfs.cf(cf)?, &k, &v);
                view.overlay.insert((cf, k), Some(v));
            }
            Write::Delete(cf, k) => {
                batch.delete_cf(shared.cfs.cf(cf)?, &k);
                view.overlay.insert((cf, k), None);
            }
        }
    }
    group.referenced.extend(referenced);
    group.released.extend(released);
    Ok(seq)
}

/// What one commit group has planned so far.
struct Group {
    last_seq: u64,
    /// The metadata volume is below its reserve (looked at once per group).
    full: bool,
    journal_bytes: u64,
    reset: bool,
    /// A key of the key service changed.
    kms_changed: bool,
    referenced: Vec<Segment>,
    released: Vec<Segment>,
}

fn run(
    shared: Shared,
    rx: mpsc::Receiver<Job>,
    seq_tx: watch::Sender<u64>,
    mut last_seq: u64,
    mut journal_bytes: u64,
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
            db: &shared.db,
            cfs: &shared.cfs,
            overlay: HashMap::new(),
            last_seq,
        };
        let mut batch = WriteBatch::default();
        let mut group = Group {
            last_seq,
            full: super::space::metadata_full(&shared.meta_dir),
            journal_bytes,
            reset: false,
            kms_changed: false,
            referenced: Vec::new(),
            released: Vec::new(),
        };
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            view.last_seq = group.last_seq;
            let outcome = (job.txn)(&view).and_then(|t| {
                let client = t.origin == Origin::Client;
                stage(&shared, &mut view, &mut batch, &mut group, t).map(|c| (c, client))
            });
            outcomes.push((job.reply, outcome));
        }
        let moved = group.last_seq != last_seq || group.reset;
        let positions = |batch: &mut WriteBatch| -> Result<(), StoreError> {
            batch.put_cf(
                shared.cfs.cf(Cf::System)?,
                LAST_SEQ_KEY,
                group.last_seq.to_be_bytes(),
            );
            batch.put_cf(
                shared.cfs.cf(Cf::Counters)?,
                keys::JOURNAL_BYTES,
                group.journal_bytes.to_be_bytes(),
            );
            Ok(())
        };
        let staged = if moved { positions(&mut batch) } else { Ok(()) };
        drop(view);
        let written = match staged {
            Err(e) => Err(e),
            Ok(()) if batch.is_empty() => Ok(()),
            Ok(()) => shared.db.write_opt(batch, &sync).map_err(StoreError::from),
        };
        match written {
            Ok(()) => {
                // Newly referenced files leave tmp/ before anyone is told; released ones
                // go after (a file both added and released in this group is removed).
                for seg in &group.referenced {
                    shared.blobs.settle(seg);
                }
                super::gc::remove_released(&shared.db, &shared.cfs, &shared.blobs, &group.released);
                if group.kms_changed {
                    shared
                        .kms_generation
                        .fetch_add(1, std::sync::atomic::Ordering::Release);
                }
                last_seq = group.last_seq;
                journal_bytes = group.journal_bytes;
                if moved {
                    seq_tx.send_replace(last_seq);
                }
                // The lease is checked again after the fsync: a client write whose lease
                // ran out meanwhile is durable but never acknowledged (503, retried).
                let lease_holds = shared.zone.lease_holds();
                for (reply, outcome) in outcomes {
                    let _ = reply.send(outcome.and_then(|(committed, client)| {
                        if client && !lease_holds {
                            Err(StoreError::NoLease)
                        } else {
                            Ok(committed)
                        }
                    }));
                }
            }
            Err(e) => {
                // Nothing of this group is durable: every change in it fails, and the
                // sequence numbers are handed out again.
                tracing::error!(error = %e, "commit failed");
                let failed = e;
                for (reply, outcome) in outcomes {
                    let _ = reply.send(outcome.and(Err(failed.clone_for_reply())));
                }
            }
        }
    }
}
