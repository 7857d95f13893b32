//! How object versions change. A key's current version lives in the Objects column family
//! (what plain listings and reads see); every other version — noncurrent ones and delete
//! markers — lives in Versions, newest first. One rule holds after every change: the
//! current object is the key's newest version unless that is a delete marker.

use super::{Origin, Planner};
use crate::store::error::StoreError;
use crate::store::{encode, keys, Cf};
use bascule_replication::records::{ObjectRecord, Seal, Segment};

impl Planner<'_, '_> {
    /// Whether the bucket has, or once had, versioning: only then can it hold versions
    /// besides the current ones, and only then are they looked for.
    fn has_versions(&mut self, bucket: &str) -> Result<bool, StoreError> {
        if let Some(v) = self.versioned.get(bucket) {
            return Ok(*v);
        }
        let v = self
            .view
            .bucket(bucket)?
            .is_some_and(|b| b.versioning.is_some());
        self.versioned.insert(bucket.to_string(), v);
        Ok(v)
    }

    /// Replaces (or with `None`, removes) the current version of `bucket/key`.
    pub(super) fn set_object(
        &mut self,
        bucket: &str,
        key: &str,
        new: Option<&ObjectRecord>,
    ) -> Result<(), StoreError> {
        let okey = keys::object_key(bucket, key);
        let old = self.view.object(bucket, key)?;
        if let Some(old) = &old {
            self.removed.extend(old.segments.iter().cloned());
            self.count(bucket, -1, -(old.size as i64), 0);
        }
        match new {
            Some(rec) => {
                self.added.extend(rec.segments.iter().cloned());
                self.count(bucket, 1, rec.size as i64, 0);
                self.put(Cf::Objects, okey, encode(rec)?);
            }
            None if old.is_some() => self.del(Cf::Objects, okey),
            None => {}
        }
        Ok(())
    }

    /// Keeps a version apart from the current one.
    fn keep_version(
        &mut self,
        bucket: &str,
        key: &str,
        rec: &ObjectRecord,
    ) -> Result<(), StoreError> {
        self.added.extend(rec.segments.iter().cloned());
        self.count(bucket, 0, rec.size as i64, 1);
        let vkey = keys::version_key(bucket, key, rec.seq, rec.version_id.as_deref());
        self.put(Cf::Versions, vkey, encode(rec)?);
        Ok(())
    }

    fn drop_version(&mut self, bucket: &str, key: &str, rec: &ObjectRecord) {
        self.removed.extend(rec.segments.iter().cloned());
        self.count(bucket, 0, -(rec.size as i64), -1);
        let vkey = keys::version_key(bucket, key, rec.seq, rec.version_id.as_deref());
        self.del(Cf::Versions, vkey);
    }

    /// Restores the rule after the current version went away: the newest stored version
    /// becomes current unless it is a delete marker.
    fn promote_newest(&mut self, bucket: &str, key: &str) -> Result<(), StoreError> {
        if !self.has_versions(bucket)? || self.view.object(bucket, key)?.is_some() {
            return Ok(());
        }
        if let Some(newest) = self.view.newest_stored(bucket, key)? {
            if !newest.delete_marker {
                self.drop_version(bucket, key, &newest);
                self.set_object(bucket, key, Some(&newest))?;
            }
        }
        Ok(())
    }

    /// A write of a version (object or delete marker). A null version replaces the key's
    /// null version; a version with an id that is already here (a replayed entry) is
    /// written again in its place; any other becomes the newest.
    pub(super) fn put_version(
        &mut self,
        bucket: &str,
        key: &str,
        rec: &ObjectRecord,
        origin: Origin,
    ) -> Result<(), StoreError> {
        let cur = self.view.object(bucket, key)?;
        if let Some(c) = &cur {
            if c.version_id == rec.version_id {
                if rec.delete_marker {
                    self.set_object(bucket, key, None)?;
                    self.keep_version(bucket, key, rec)?;
                } else {
                    self.set_object(bucket, key, Some(rec))?;
                }
                return Ok(());
            }
        }
        if self.has_versions(bucket)? {
            if let Some(old) = self
                .view
                .stored_version(bucket, key, rec.version_id.as_deref())?
            {
                self.drop_version(bucket, key, &old);
                if rec.version_id.is_some() {
                    self.keep_version(bucket, key, rec)?;
                    return self.promote_newest(bucket, key);
                }
            }
            // An entry replayed after a newer one (a resync's overlap) never displaces
            // the newer version; a client's write is always the newest.
            if origin != Origin::Client {
                let newest = match &cur {
                    Some(c) => Some(c.seq),
                    None => self.view.newest_stored(bucket, key)?.map(|n| n.seq),
                };
                if newest.is_some_and(|n| n > rec.seq) {
                    return self.keep_version(bucket, key, rec);
                }
            }
        }
        if let Some(c) = &cur {
            self.set_object(bucket, key, None)?;
            self.keep_version(bucket, key, c)?;
        }
        if rec.delete_marker {
            self.keep_version(bucket, key, rec)
        } else {
            self.set_object(bucket, key, Some(rec))
        }
    }

    /// Rewrites an existing version's settings (tags, ACL, lock) where it is; its data and
    /// its place in the key's history stay. Nothing if the version is gone.
    pub(super) fn update_version(
        &mut self,
        bucket: &str,
        key: &str,
        rec: &ObjectRecord,
    ) -> Result<(), StoreError> {
        // The data (and so how it is encrypted) stays the version's own.
        let keep_identity = |old: &ObjectRecord| ObjectRecord {
            segments: old.segments.clone(),
            encryption: old.encryption.clone(),
            seq: old.seq,
            delete_marker: old.delete_marker,
            ..rec.clone()
        };
        if let Some(cur) = self.view.object(bucket, key)? {
            if cur.version_id == rec.version_id {
                return self.set_object(bucket, key, Some(&keep_identity(&cur)));
            }
        }
        if !self.has_versions(bucket)? {
            return Ok(());
        }
        if let Some(old) = self
            .view
            .stored_version(bucket, key, rec.version_id.as_deref())?
        {
            self.drop_version(bucket, key, &old);
            self.keep_version(bucket, key, &keep_identity(&old))?;
        }
        Ok(())
    }

    /// Gives a version's segments the seals of a rewrap, in place (nothing if the version
    /// or its segments are gone: a later change replaced them).
    pub(super) fn rewrap(
        &mut self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        seals: &[(String, Seal)],
    ) -> Result<(), StoreError> {
        let resealed = |rec: &ObjectRecord| {
            let mut out = rec.clone();
            let mut changed = false;
            for seg in &mut out.segments {
                if let Some((_, seal)) = seals.iter().find(|(id, _)| *id == seg.id) {
                    if seg.seal.as_ref() != Some(seal) {
                        seg.seal = Some(seal.clone());
                        changed = true;
                    }
                }
            }
            changed.then_some(out)
        };
        if let Some(cur) = self.view.object(bucket, key)? {
            if cur.version_id.as_deref() == version_id {
                if let Some(new) = resealed(&cur) {
                    self.reseal(&cur.segments, &new.segments);
                    self.put(Cf::Objects, keys::object_key(bucket, key), encode(&new)?);
                }
                return Ok(());
            }
        }
        if !self.has_versions(bucket)? {
            return Ok(());
        }
        if let Some(old) = self.view.stored_version(bucket, key, version_id)? {
            if let Some(new) = resealed(&old) {
                self.reseal(&old.segments, &new.segments);
                let vkey = keys::version_key(bucket, key, old.seq, old.version_id.as_deref());
                self.put(Cf::Versions, vkey, encode(&new)?);
            }
        }
        Ok(())
    }

    /// The same segments with other seals: they leave and enter the record (so the key
    /// version counts move) but their blobs stay referenced.
    fn reseal(&mut self, old: &[Segment], new: &[Segment]) {
        self.removed.extend(old.iter().cloned());
        self.added.extend(new.iter().cloned());
    }

    /// Removes one version for good (`None`: the null version); the next newest becomes
    /// current if it was. Nothing if the version is not here.
    pub(super) fn delete_version(
        &mut self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let cur = self.view.object(bucket, key)?;
        if cur
            .as_ref()
            .is_some_and(|c| c.version_id.as_deref() == version_id)
        {
            self.set_object(bucket, key, None)?;
            return self.promote_newest(bucket, key);
        }
        if !self.has_versions(bucket)? {
            return Ok(());
        }
        if let Some(old) = self.view.stored_version(bucket, key, version_id)? {
            self.drop_version(bucket, key, &old);
            self.promote_newest(bucket, key)?;
        }
        Ok(())
    }
}
