//! The one place that turns a change into RocksDB writes. Client writes, replicated journal
//! entries, resync copies and zone bookkeeping all describe *what* changes as a `Txn` (a
//! journal `Op` plus local-only changes); the planner reads the current records through
//! the `View`, writes the new ones, keeps the per-bucket counters, and tracks which blob
//! files become referenced or released, so garbage collection never needs a scan.

use super::error::StoreError;
use super::records::{
    DamagedObject, PartRecord, QuarantineRecord, UploadRecord, WalkName, WalkPosition,
};
use super::view::View;
use super::{encode, keys, Cf, Usage};
use bascule_replication::records::{Grantee, Location, Segment};
use bascule_replication::zone::ZoneState;
use bascule_replication::{Op, Removal};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};

mod versions;

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
    WalkPosition(WalkName, WalkPosition),
    /// The scrub's findings, replaced whole (at most a thousand, written only when they
    /// change).
    ScrubFindings(Vec<DamagedObject>),
    /// Puts back the bytes of an inline segment the scrub found damaged (fetched from the
    /// peer and verified); nothing if the segment is gone meanwhile.
    RepairInline {
        id: String,
        data: Bytes,
    },
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
                    | Op::DeleteVersion { .. }
                    | Op::RemoveObjects { .. }
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
    /// How to take the planner's writes back out of the group view, should the change
    /// fail after planning.
    pub undo: Vec<Undo>,
}

/// A key the planner wrote in the view, and what the view's overlay held for it before.
pub type Undo = ((Cf, Vec<u8>), Option<Option<Vec<u8>>>);

/// Takes writes back out of the group view (last first).
pub fn restore(view: &mut View, undo: Vec<Undo>) {
    for (k, before) in undo.into_iter().rev() {
        match before {
            Some(v) => view.overlay.insert(k, v),
            None => view.overlay.remove(&k),
        };
    }
}

struct Planner<'v, 'a> {
    /// The group's view; the planner's own writes go into it as they are made, so each
    /// step of a change reads the state the earlier steps left.
    view: &'v mut View<'a>,
    /// What the view's overlay held before each write of this change (undone on error).
    undo: Vec<Undo>,
    /// The writes so far; the rest of it is filled in at the end.
    out: Planned,
    /// Buckets known to have (or have had) versioning, by name.
    versioned: HashMap<String, bool>,
    added: Vec<Segment>,
    removed: Vec<Segment>,
    usage: HashMap<String, (i64, i64, i64)>,
    /// Multipart uploads started minus those ended by this change.
    uploads: i64,
    origin: Origin,
}

/// Plans `txn` against the current state. For a client's object write the record gets the
/// sequence number its journal entry will have.
pub fn plan(view: &mut View, txn: Txn) -> Result<Planned, StoreError> {
    let mut p = Planner {
        view,
        undo: Vec::new(),
        versioned: HashMap::new(),
        out: Planned::empty(),
        added: Vec::new(),
        removed: Vec::new(),
        usage: HashMap::new(),
        uploads: 0,
        origin: txn.origin,
    };
    match p.plan_changes(txn).and_then(|txn| p.take_planned(txn)) {
        Ok(mut planned) => {
            planned.undo = std::mem::take(&mut p.undo);
            Ok(planned)
        }
        Err(e) => {
            // The view must not keep what a refused change began to write.
            restore(p.view, p.undo);
            Err(e)
        }
    }
}

impl Planner<'_, '_> {
    fn plan_changes(&mut self, mut txn: Txn) -> Result<Txn, StoreError> {
        if txn.origin == Origin::Client {
            let next = self.view.next_seq();
            match &mut txn.op {
                Some(Op::PutObject { record, .. }) => record.seq = next,
                Some(Op::RemoveObjects { removals, .. }) => {
                    for r in removals {
                        if let Removal::Marker { record, .. } = r {
                            record.seq = next;
                        }
                    }
                }
                _ => {}
            }
        }
        if !txn.journal_only {
            if let Some(op) = &txn.op {
                self.apply(op, txn.origin)?;
            }
        }
        for change in txn.local.drain(..) {
            self.local(change)?;
        }
        self.finish()?;
        Ok(txn)
    }

    /// The writes planned, plus the blob bookkeeping they imply.
    fn take_planned(&mut self, txn: Txn) -> Result<Planned, StoreError> {
        let journaled = txn.journaled();
        let mut planned = std::mem::replace(&mut self.out, Planned::empty());
        let added = std::mem::take(&mut self.added);
        let removed = std::mem::take(&mut self.removed);
        let view = &*self.view;
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
    fn empty() -> Planned {
        Planned {
            writes: Vec::new(),
            op: None,
            referenced: Vec::new(),
            released: Vec::new(),
            undo: Vec::new(),
        }
    }

    fn put(&mut self, cf: Cf, key: Vec<u8>, value: Vec<u8>) {
        self.writes.push(Write::Put(cf, key, value));
    }

    fn delete(&mut self, cf: Cf, key: Vec<u8>) {
        self.writes.push(Write::Delete(cf, key));
    }
}

impl Planner<'_, '_> {
    /// Adds a write to the batch and to the view, remembering what the view held.
    fn write(&mut self, cf: Cf, key: Vec<u8>, value: Option<Vec<u8>>) {
        let before = self.view.overlay.insert((cf, key.clone()), value.clone());
        self.undo.push(((cf, key.clone()), before));
        match value {
            Some(v) => self.out.put(cf, key, v),
            None => self.out.delete(cf, key),
        }
    }

    fn put(&mut self, cf: Cf, key: Vec<u8>, value: Vec<u8>) {
        self.write(cf, key, Some(value));
    }

    fn del(&mut self, cf: Cf, key: Vec<u8>) {
        self.write(cf, key, None);
    }

    /// Moves a bucket's counters: current objects, bytes, versions kept apart.
    fn count(&mut self, bucket: &str, objects: i64, bytes: i64, versions: i64) {
        let u = self.usage.entry(bucket.to_string()).or_default();
        u.0 += objects;
        u.1 += bytes;
        u.2 += versions;
    }

    fn apply(&mut self, op: &Op, origin: Origin) -> Result<(), StoreError> {
        match op {
            Op::PutObject {
                bucket,
                key,
                record,
            } => self.put_version(bucket, key, record, origin)?,
            Op::UpdateVersion {
                bucket,
                key,
                record,
            } => self.update_version(bucket, key, record)?,
            Op::DeleteObject { bucket, key } => self.delete_version(bucket, key, None)?,
            Op::DeleteVersion {
                bucket,
                key,
                version_id,
            } => self.delete_version(bucket, key, version_id.as_deref())?,
            Op::DeleteObjects { bucket, keys } => {
                for key in keys {
                    self.delete_version(bucket, key, None)?;
                }
            }
            Op::RemoveObjects { bucket, removals } => {
                for r in removals {
                    match r {
                        Removal::Version { key, version_id } => {
                            self.delete_version(bucket, key, version_id.as_deref())?
                        }
                        Removal::Marker { key, record } => {
                            self.put_version(bucket, key, record, origin)?
                        }
                    }
                }
            }
            Op::PutBucket { record } => {
                self.put(
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
                self.del(Cf::Counters, keys::bucket_usage(name));
                self.usage.remove(name);
                self.del(Cf::Buckets, name.clone().into_bytes());
            }
            Op::PutUser { record } => {
                self.put(Cf::Users, record.id.clone().into_bytes(), encode(record)?);
            }
            Op::DeleteUser { id } => {
                // Everything that names the user goes with it: keys and bucket grants.
                for k in self.view.keys_of_user(id)? {
                    self.del(Cf::Keys, k.access_key.into_bytes());
                }
                let named = Grantee::User(id.clone());
                for mut b in self.view.buckets()? {
                    let acl_before = b.acl.len();
                    b.acl.retain(|g| g.grantee != named);
                    if b.grants.remove(id).is_some() || b.acl.len() != acl_before {
                        self.put(Cf::Buckets, b.name.clone().into_bytes(), encode(&b)?);
                    }
                }
                self.del(Cf::Users, id.clone().into_bytes());
            }
            Op::PutAccessKey { record } => {
                self.put(
                    Cf::Keys,
                    record.access_key.clone().into_bytes(),
                    encode(record)?,
                );
            }
            Op::DeleteAccessKey { access_key } => {
                self.del(Cf::Keys, access_key.clone().into_bytes())
            }
            Op::PutKmsKey { record } => {
                self.put(Cf::Kms, record.id.clone().into_bytes(), encode(record)?);
            }
            Op::RewrapSegments {
                bucket,
                key,
                version_id,
                seals,
            } => self.rewrap(bucket, key, version_id.as_deref(), seals)?,
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
            self.del(Cf::Parts, keys::part_key(upload_id, n));
        }
        self.del(Cf::Uploads, keys::upload_key(bucket, key, upload_id));
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
                self.put(Cf::Uploads, k, encode(&*record)?);
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
                self.put(
                    Cf::Parts,
                    keys::part_key(&upload_id, number),
                    encode(&record)?,
                );
            }
            Local::Quarantine {
                record,
                take_object,
            } => {
                if let (true, Some(b), Some(k), Some(r)) =
                    (take_object, &record.bucket, &record.key, &record.record)
                {
                    self.delete_version(b, k, r.version_id.as_deref())?;
                }
                if let Some(r) = &record.record {
                    self.added.extend(r.segments.iter().cloned());
                }
                self.put(
                    Cf::Quarantine,
                    record.id.clone().into_bytes(),
                    encode(&*record)?,
                );
            }
            Local::WalkPosition(walk, position) => {
                self.put(
                    Cf::System,
                    super::walk_position_key(walk).to_vec(),
                    encode(&position)?,
                );
            }
            Local::ScrubFindings(found) => {
                self.put(
                    Cf::System,
                    super::SCRUB_FINDINGS_KEY.to_vec(),
                    encode(&found)?,
                );
            }
            Local::ZoneState(state) => {
                self.put(Cf::System, super::ZONE_STATE_KEY.to_vec(), encode(&state)?);
            }
            Local::RepairInline { id, data } => {
                if self.view.get(Cf::Inline, id.as_bytes())?.is_some() {
                    self.put(Cf::Inline, id.into_bytes(), data.to_vec());
                }
            }
        }
        Ok(())
    }

    /// Writes the counters this change moved (per bucket, uploads in progress, segments
    /// per key version).
    fn finish(&mut self) -> Result<(), StoreError> {
        self.count_keks()?;
        if self.uploads != 0 {
            let now = self.view.uploads_in_progress()? as i64;
            let next = (now + self.uploads).max(0) as u64;
            self.put(
                Cf::Counters,
                keys::UPLOADS_IN_PROGRESS.to_vec(),
                next.to_be_bytes().to_vec(),
            );
        }
        let usage = std::mem::take(&mut self.usage);
        for (bucket, (objects, bytes, versions)) in usage {
            if (objects, bytes, versions) == (0, 0, 0) {
                continue;
            }
            let now = self.view.usage(&bucket)?;
            let moved = |n: u64, by: i64| (n as i64 + by).max(0) as u64;
            let next = Usage {
                objects: moved(now.objects, objects),
                bytes: moved(now.bytes, bytes),
                versions: moved(now.versions, versions),
            };
            self.put(Cf::Counters, keys::bucket_usage(&bucket), next.encode());
        }
        Ok(())
    }
}

impl Planner<'_, '_> {
    /// Moves the count of segments each key-service key version wraps. Every segment
    /// entering a record counts once and every one leaving it once, so a segment moved
    /// (part to object) or rewritten in place counts nothing, and one rewrapped moves from
    /// its old version to its new one.
    fn count_keks(&mut self) -> Result<(), StoreError> {
        let mut moved: HashMap<&str, i64> = HashMap::new();
        fn kek(s: &Segment) -> Option<&bascule_replication::records::Seal> {
            s.seal.as_ref().filter(|seal| seal.ring_key().is_some())
        }
        for seal in self.added.iter().filter_map(kek) {
            *moved.entry(seal.kek.as_str()).or_default() += 1;
        }
        for seal in self.removed.iter().filter_map(kek) {
            *moved.entry(seal.kek.as_str()).or_default() -= 1;
        }
        let moved: Vec<(String, i64)> = moved
            .into_iter()
            .filter(|(_, by)| *by != 0)
            .map(|(k, by)| (k.to_string(), by))
            .collect();
        for (kek, by) in moved {
            let key = keys::kek_segments(&kek);
            let now = match self.view.get(Cf::Counters, &key)? {
                Some(v) => super::decode_u64(&v)?,
                None => 0,
            };
            if now == 0 && by > 0 && self.origin == Origin::Client {
                self.check_version_exists(&kek)?;
            }
            let next = (now as i64 + by).max(0) as u64;
            if next == 0 {
                self.del(Cf::Counters, key);
            } else {
                self.put(Cf::Counters, key, next.to_be_bytes().to_vec());
            }
        }
        Ok(())
    }

    /// A client's write sealed under a key version that was retired while its body was
    /// arriving would store data nothing can open: refused (the client retries, and the
    /// retry is sealed under the active version). Looked at only when a version's count
    /// leaves 0, so the common write pays nothing.
    fn check_version_exists(&self, kek: &str) -> Result<(), StoreError> {
        let retired = || StoreError::KeyRetired(kek.to_string());
        let (id, n) = kek.rsplit_once('#').ok_or_else(retired)?;
        let n: u32 = n.parse().map_err(|_| retired())?;
        match self.view.kms_key(id)? {
            Some(k) if k.version(n).is_some() => Ok(()),
            _ => Err(retired()),
        }
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
            seal: None,
            crc32c: None,
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
