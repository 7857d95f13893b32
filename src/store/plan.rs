//! The one place that turns a change into RocksDB writes. Client writes, replicated journal
//! entries, resync copies and zone bookkeeping all describe *what* changes as a `Txn` (a
//! journal `Op` plus local-only changes); the planner reads the current records through
//! the `View`, writes the new ones, keeps the per-bucket counters, and tracks which blob
//! files become referenced or released, so garbage collection never needs a scan.

use super::error::StoreError;
use super::records::{PartRecord, QuarantineRecord, UploadRecord};
use super::view::View;
use super::{encode, encode_usage, keys, Cf};
use bascule_replication::records::{Grantee, Location, ObjectRecord, Segment};
use bascule_replication::zone::ZoneState;
use bascule_replication::Op;
use bytes::Bytes;
use std::collections::{HashMap, HashSet};

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

/// Changes that stay on this zone (never journaled, never replicated).
#[derive(Debug, Clone)]
pub enum Local {
    PutUpload {
        bucket: String,
        key: String,
        record: Box<UploadRecord>,
    },
    /// Removes an upload and every part stored for it (abort, completion).
    DeleteUpload {
        bucket: String,
        key: String,
        upload_id: String,
    },
    /// Stores a part, replacing an earlier one with the same number.
    PutPart {
        upload_id: String,
        number: u32,
        record: PartRecord,
    },
    /// Sets a divergent write aside; with `take_object`, the object version it wrote
    /// leaves the namespace (its data stays, referenced by the quarantine record).
    Quarantine {
        record: Box<QuarantineRecord>,
        take_object: bool,
    },
    ZoneState(ZoneState),
}

/// One atomic change: applied in one batch, journaled as one entry when it carries an `op`
/// and its origin is a client or the primary's journal.
#[derive(Debug, Default)]
pub struct Txn {
    pub origin: Origin,
    pub op: Option<Op>,
    pub local: Vec<Local>,
    /// Bytes of inline segments this change adds, by segment id.
    pub inline: Vec<(String, Bytes)>,
    /// Journal the op without applying it: the primary had already superseded the version
    /// it wrote, and a later entry carries the state to converge to.
    pub journal_only: bool,
}

impl Txn {
    /// A client's replicated change.
    pub fn op(op: Op) -> Txn {
        Txn {
            op: Some(op),
            ..Txn::default()
        }
    }

    /// A client's change to local records only (uploads, parts).
    pub fn local(change: Local) -> Txn {
        Txn {
            local: vec![change],
            ..Txn::default()
        }
    }

    /// Zone bookkeeping: applied in any role, never journaled.
    pub fn zone(op: Option<Op>, local: Vec<Local>) -> Txn {
        Txn {
            origin: Origin::Zone,
            op,
            local,
            ..Txn::default()
        }
    }

    pub fn with_inline(mut self, id: String, data: Bytes) -> Txn {
        self.inline.push((id, data));
        self
    }

    /// Does this change only remove things (so it may run on a full disk to free space)?
    pub fn only_removes(&self) -> bool {
        let op_removes = match &self.op {
            None => true,
            Some(op) => matches!(
                op,
                Op::DeleteObject { .. }
                    | Op::DeleteObjects { .. }
                    | Op::DeleteBucket { .. }
                    | Op::DeleteUser { .. }
                    | Op::DeleteAccessKey { .. }
            ),
        };
        op_removes
            && self
                .local
                .iter()
                .all(|l| matches!(l, Local::DeleteUpload { .. }))
    }

    /// Does this change go to the journal?
    pub fn journaled(&self) -> bool {
        self.op.is_some() && matches!(self.origin, Origin::Client | Origin::Replica { .. })
    }
}

pub enum Write {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
}

/// A transaction turned into writes, plus the blob files the committer must move into
/// place (newly referenced) or remove (released) once the batch is durable.
pub struct Planned {
    pub writes: Vec<Write>,
    pub op: Option<Op>,
    pub referenced: Vec<Segment>,
    pub released: Vec<Segment>,
}

struct Planner<'v, 'a> {
    view: &'v View<'a>,
    /// The writes so far; the rest of it is filled in at the end.
    out: Planned,
    added: Vec<Segment>,
    removed: Vec<Segment>,
    usage: HashMap<String, (i64, i64)>,
    /// Multipart uploads started minus those ended by this change.
    uploads: i64,
}

/// Plans `txn` against the current state. For a client's object write the record gets the
/// sequence number its journal entry will have.
pub fn plan(view: &View, mut txn: Txn) -> Result<Planned, StoreError> {
    let mut p = Planner {
        view,
        out: Planned {
            writes: Vec::new(),
            op: None,
            referenced: Vec::new(),
            released: Vec::new(),
        },
        added: Vec::new(),
        removed: Vec::new(),
        usage: HashMap::new(),
        uploads: 0,
    };
    if txn.origin == Origin::Client {
        if let Some(Op::PutObject { record, .. }) = &mut txn.op {
            record.seq = view.next_seq();
        }
    }
    if !txn.journal_only {
        if let Some(op) = &txn.op {
            p.apply(op)?;
        }
    }
    for change in txn.local.drain(..) {
        p.local(change)?;
    }
    p.finish()?;
    let journaled = txn.journaled();
    let Planner {
        out: mut planned,
        added,
        removed,
        ..
    } = p;
    let (referenced, released) = net_segments(added, removed);
    planned.op = if journaled { txn.op } else { None };
    let inline: HashMap<String, Bytes> = txn.inline.into_iter().collect();
    for seg in referenced {
        match seg.loc {
            Location::Inline => {
                // A kept inline segment needs no bytes; a new one must come with them.
                if let Some(data) = inline.get(&seg.id) {
                    planned.put(Cf::Inline, seg.id.clone().into_bytes(), data.to_vec());
                } else if view.get(Cf::Inline, seg.id.as_bytes())?.is_none() {
                    return Err(StoreError::Corrupt(format!(
                        "inline segment {} has no data",
                        seg.id
                    )));
                }
            }
            Location::Disk(dir) => {
                planned.put(Cf::Gc, keys::blob_ref(&seg.id), dir.to_be_bytes().to_vec());
                planned.referenced.push(seg);
            }
        }
    }
    for seg in released {
        match seg.loc {
            Location::Inline => planned.delete(Cf::Inline, seg.id.into_bytes()),
            Location::Disk(_) => {
                planned.delete(Cf::Gc, keys::blob_ref(&seg.id));
                planned.put(Cf::Gc, keys::released(&seg.id), encode(&seg)?);
                planned.released.push(seg);
            }
        }
    }
    Ok(planned)
}

/// Segments that end up referenced by this change and were not before, and those that
/// were and no longer are (a multipart completion moves parts' segments to the object:
/// neither).
fn net_segments(added: Vec<Segment>, removed: Vec<Segment>) -> (Vec<Segment>, Vec<Segment>) {
    let added_ids: HashSet<String> = added.iter().map(|s| s.id.clone()).collect();
    let removed_ids: HashSet<String> = removed.iter().map(|s| s.id.clone()).collect();
    let mut seen = HashSet::new();
    let referenced = added
        .into_iter()
        .filter(|s| !removed_ids.contains(&s.id) && seen.insert(s.id.clone()))
        .collect();
    let released = removed
        .into_iter()
        .filter(|s| !added_ids.contains(&s.id) && seen.insert(s.id.clone()))
        .collect();
    (referenced, released)
}

impl Planned {
    fn put(&mut self, cf: Cf, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push(Write::Put(cf, key, value));
    }

    fn delete(&mut self, cf: Cf, key: Vec<u8>) {
        self.writes.push(Write::Delete(cf, key));
    }
}

impl Planner<'_, '_> {
    fn count(&mut self, bucket: &str, objects: i64, bytes: i64) {
        let u = self.usage.entry(bucket.to_string()).or_default();
        u.0 += objects;
        u.1 += bytes;
    }

    /// Replaces (or with `None`, removes) the object record at `bucket/key`.
    fn set_object(
        &mut self,
        bucket: &str,
        key: &str,
        new: Option<&ObjectRecord>,
    ) -> Result<(), StoreError> {
        let okey = keys::object_key(bucket, key);
        let old = self.view.object(bucket, key)?;
        if let Some(old) = &old {
            self.removed.extend(old.segments.iter().cloned());
            self.count(bucket, -1, -(old.size as i64));
        }
        match new {
            Some(rec) => {
                self.added.extend(rec.segments.iter().cloned());
                self.count(bucket, 1, rec.size as i64);
                self.out.put(Cf::Objects, okey, encode(rec)?);
            }
            None if old.is_some() => self.out.delete(Cf::Objects, okey),
            None => {}
        }
        Ok(())
    }

    fn apply(&mut self, op: &Op) -> Result<(), StoreError> {
        match op {
            Op::PutObject {
                bucket,
                key,
                record,
            } => self.set_object(bucket, key, Some(record))?,
            Op::DeleteObject { bucket, key } => self.set_object(bucket, key, None)?,
            Op::DeleteObjects { bucket, keys } => {
                // Each key once: the planner reads the state before this change.
                let unique: std::collections::BTreeSet<&String> = keys.iter().collect();
                for key in unique {
                    self.set_object(bucket, key, None)?;
                }
            }
            Op::PutBucket { record } => {
                self.out.put(
                    Cf::Buckets,
                    record.name.clone().into_bytes(),
                    encode(record)?,
                );
            }
            Op::DeleteBucket { name } => {
                // Uploads still in progress go with the bucket: their parts would be
                // unreachable. (A replica has none; its primary dropped them too.)
                for (key, up) in self.view.uploads_in(name)? {
                    self.delete_upload(name, &key, &up.upload_id)?;
                }
                self.out.delete(Cf::Counters, keys::bucket_usage(name));
                self.usage.remove(name);
                self.out.delete(Cf::Buckets, name.clone().into_bytes());
            }
            Op::PutUser { record } => {
                self.out
                    .put(Cf::Users, record.id.clone().into_bytes(), encode(record)?);
            }
            Op::DeleteUser { id } => {
                // Everything that names the user goes with it: keys and bucket grants.
                for k in self.view.keys_of_user(id)? {
                    self.out.delete(Cf::Keys, k.access_key.into_bytes());
                }
                let named = Grantee::User(id.clone());
                for mut b in self.view.buckets()? {
                    let acl_before = b.acl.len();
                    b.acl.retain(|g| g.grantee != named);
                    if b.grants.remove(id).is_some() || b.acl.len() != acl_before {
                        self.out
                            .put(Cf::Buckets, b.name.clone().into_bytes(), encode(&b)?);
                    }
                }
                self.out.delete(Cf::Users, id.clone().into_bytes());
            }
            Op::PutAccessKey { record } => {
                self.out.put(
                    Cf::Keys,
                    record.access_key.clone().into_bytes(),
                    encode(record)?,
                );
            }
            Op::DeleteAccessKey { access_key } => {
                self.out.delete(Cf::Keys, access_key.clone().into_bytes())
            }
        }
        Ok(())
    }

    fn delete_upload(
        &mut self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), StoreError> {
        if self.view.upload(bucket, key, upload_id)?.is_some() {
            self.uploads -= 1;
        }
        for (n, part) in self.view.parts(upload_id)? {
            self.removed.push(part.segment);
            self.out.delete(Cf::Parts, keys::part_key(upload_id, n));
        }
        self.out
            .delete(Cf::Uploads, keys::upload_key(bucket, key, upload_id));
        Ok(())
    }

    fn local(&mut self, change: Local) -> Result<(), StoreError> {
        match change {
            Local::PutUpload {
                bucket,
                key,
                record,
            } => {
                if self
                    .view
                    .upload(&bucket, &key, &record.upload_id)?
                    .is_none()
                {
                    self.uploads += 1;
                }
                let k = keys::upload_key(&bucket, &key, &record.upload_id);
                self.out.put(Cf::Uploads, k, encode(&*record)?);
            }
            Local::DeleteUpload {
                bucket,
                key,
                upload_id,
            } => self.delete_upload(&bucket, &key, &upload_id)?,
            Local::PutPart {
                upload_id,
                number,
                record,
            } => {
                if let Some(old) = self.view.part(&upload_id, number)? {
                    self.removed.push(old.segment);
                }
                self.added.push(record.segment.clone());
                self.out.put(
                    Cf::Parts,
                    keys::part_key(&upload_id, number),
                    encode(&record)?,
                );
            }
            Local::Quarantine {
                record,
                take_object,
            } => {
                if let (true, Some(b), Some(k)) = (take_object, &record.bucket, &record.key) {
                    self.set_object(b, k, None)?;
                }
                if let Some(r) = &record.record {
                    self.added.extend(r.segments.iter().cloned());
                }
                self.out.put(
                    Cf::Quarantine,
                    record.id.clone().into_bytes(),
                    encode(&*record)?,
                );
            }
            Local::ZoneState(state) => {
                self.out
                    .put(Cf::System, super::ZONE_STATE_KEY.to_vec(), encode(&state)?);
            }
        }
        Ok(())
    }

    /// Writes the counters this change moved (per bucket, uploads in progress).
    fn finish(&mut self) -> Result<(), StoreError> {
        if self.uploads != 0 {
            let now = self.view.uploads_in_progress()? as i64;
            let next = (now + self.uploads).max(0) as u64;
            self.out.put(
                Cf::Counters,
                keys::UPLOADS_IN_PROGRESS.to_vec(),
                next.to_be_bytes().to_vec(),
            );
        }
        let usage = std::mem::take(&mut self.usage);
        for (bucket, (objects, bytes)) in usage {
            if objects == 0 && bytes == 0 {
                continue;
            }
            let (o, b) = self.view.usage(&bucket)?;
            let o = (o as i64 + objects).max(0) as u64;
            let b = (b as i64 + bytes).max(0) as u64;
            self.out.put(
                Cf::Counters,
                keys::bucket_usage(&bucket),
                encode_usage(o, b),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: &str) -> Segment {
        Segment {
            id: id.into(),
            size: 1,
            loc: Location::Disk(0),
            md5: None,
        }
    }

    #[test]
    fn a_moved_segment_is_neither_referenced_nor_released() {
        let (refd, rel) = net_segments(
            vec![seg("part1"), seg("new")],
            vec![seg("part1"), seg("part2"), seg("old")],
        );
        let ids = |v: Vec<Segment>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(ids(refd), vec!["new"]);
        assert_eq!(ids(rel), vec!["part2", "old"]);
    }
}
