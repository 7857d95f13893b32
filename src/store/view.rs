//! What a transaction sees while it is planned: the database plus the writes of earlier
//! transactions of the same commit group, which are not in the database yet. Handlers read
//! typed records through it; only the store sees keys and column families.

use super::error::StoreError;
use super::keys;
use super::records::{PartRecord, QuarantineRecord, UploadRecord};
use super::{decode, Cf, Handles};
use bascule_replication::records::{
    AccessKeyRecord, BucketRecord, KmsKeyRecord, ObjectRecord, UserRecord,
};
use rocksdb::DB;
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap};

/// A raw key and value.
pub type KeyValue = (Vec<u8>, Vec<u8>);

pub struct View<'a> {
    pub(super) db: &'a DB,
    pub(super) cfs: &'a Handles,
    pub(super) overlay: HashMap<(Cf, Vec<u8>), Option<Vec<u8>>>,
    pub(super) last_seq: u64,
}

impl View<'_> {
    /// The sequence number the next journaled change of this group will get.
    pub fn next_seq(&self) -> u64 {
        self.last_seq + 1
    }

    pub(super) fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(v) = self.overlay.get(&(cf, key.to_vec())) {
            return Ok(v.clone());
        }
        Ok(self.db.get_cf(self.cfs.cf(cf)?, key)?)
    }

    fn record<T: DeserializeOwned>(&self, cf: Cf, key: &[u8]) -> Result<Option<T>, StoreError> {
        self.get(cf, key)?.map(|v| decode(&v)).transpose()
    }

    /// Is there any live key starting with `prefix`?
    fn any_with_prefix(&self, cf: Cf, prefix: &[u8]) -> Result<bool, StoreError> {
        Ok(self.first_with_prefix(cf, prefix)?.is_some())
    }

    /// Keys and values under `prefix` (for small sets such as one upload's parts).
    pub(super) fn scan_prefix(&self, cf: Cf, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        let mut out: BTreeMap<Vec<u8>, Vec<u8>> = Default::default();
        let iter = self.db.iterator_cf(
            self.cfs.cf(cf)?,
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

    pub fn bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        self.record(Cf::Buckets, name.as_bytes())
    }

    pub fn object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.record(Cf::Objects, &keys::object_key(bucket, key))
    }

    /// Does the bucket hold any object, version or delete marker?
    pub fn bucket_has_objects(&self, bucket: &str) -> Result<bool, StoreError> {
        let prefix = keys::bucket_prefix(bucket);
        Ok(self.any_with_prefix(Cf::Objects, &prefix)?
            || self.any_with_prefix(Cf::Versions, &prefix)?)
    }

    /// The first live key and value under `prefix`.
    fn first_with_prefix(&self, cf: Cf, prefix: &[u8]) -> Result<Option<KeyValue>, StoreError> {
        let mut best: Option<KeyValue> = None;
        let iter = self.db.iterator_cf(
            self.cfs.cf(cf)?,
            rocksdb::IteratorMode::From(prefix, rocksdb::Direction::Forward),
        );
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(prefix) {
                break;
            }
            match self.overlay.get(&(cf, k.to_vec())) {
                Some(None) => continue,
                Some(Some(newer)) => best = Some((k.to_vec(), newer.clone())),
                None => best = Some((k.to_vec(), v.to_vec())),
            }
            break;
        }
        for ((c, k), v) in &self.overlay {
            if let (true, true, Some(v)) = (*c == cf, k.starts_with(prefix), v) {
                if best.as_ref().is_none_or(|(b, _)| k < b) {
                    best = Some((k.clone(), v.clone()));
                }
            }
        }
        Ok(best)
    }

    /// The versions of a key kept apart from its current one (noncurrent versions and
    /// delete markers), newest first.
    pub fn stored_versions(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        self.scan_prefix(Cf::Versions, &keys::versions_prefix(bucket, key))?
            .into_iter()
            .map(|(_, v)| decode(&v))
            .collect()
    }

    /// The newest of a key's stored versions.
    pub fn newest_stored(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        self.first_with_prefix(Cf::Versions, &keys::versions_prefix(bucket, key))?
            .map(|(_, v)| decode(&v))
            .transpose()
    }

    /// A stored (not current) version by id; `None` names the null version, which is
    /// looked for among the key's versions.
    pub fn stored_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        match version_id {
            Some(id) => match super::versions::version_seq(id) {
                Some(seq) => {
                    self.record(Cf::Versions, &keys::version_key(bucket, key, seq, Some(id)))
                }
                None => Ok(None),
            },
            None => Ok(self
                .stored_versions(bucket, key)?
                .into_iter()
                .find(|r| r.version_id.is_none())),
        }
    }

    /// One version of a key, current or not (`None`: the null version).
    pub fn version(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<ObjectRecord>, StoreError> {
        if let Some(cur) = self.object(bucket, key)? {
            if cur.version_id.as_deref() == version_id {
                return Ok(Some(cur));
            }
        }
        self.stored_version(bucket, key, version_id)
    }

    /// The latest version of a key: its current object, or else the delete marker that
    /// hides it (the newest stored version).
    pub fn latest(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        match self.object(bucket, key)? {
            Some(cur) => Ok(Some(cur)),
            None => self.newest_stored(bucket, key),
        }
    }

    pub fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        self.record(Cf::Users, id.as_bytes())
    }

    /// A user by id, or else by name (names are unique among live users; ids are never
    /// reused, so a record naming a deleted user's id can never reach a new user).
    pub fn find_user(&self, who: &str) -> Result<Option<UserRecord>, StoreError> {
        if let Some(u) = self.user(who)? {
            return Ok(Some(u));
        }
        for (_, v) in self.scan_prefix(Cf::Users, b"")? {
            let u: UserRecord = decode(&v)?;
            if u.name == who {
                return Ok(Some(u));
            }
        }
        Ok(None)
    }

    /// Every bucket (buckets are few next to objects; this reads them all).
    pub fn buckets(&self) -> Result<Vec<BucketRecord>, StoreError> {
        self.scan_prefix(Cf::Buckets, b"")?
            .into_iter()
            .map(|(_, v)| decode(&v))
            .collect()
    }

    pub fn access_key(&self, access_key: &str) -> Result<Option<AccessKeyRecord>, StoreError> {
        self.record(Cf::Keys, access_key.as_bytes())
    }

    pub fn kms_key(&self, id: &str) -> Result<Option<KmsKeyRecord>, StoreError> {
        self.record(Cf::Kms, id.as_bytes())
    }

    /// Every access key of a user (keys are few; this reads them all).
    pub fn keys_of_user(&self, user: &str) -> Result<Vec<AccessKeyRecord>, StoreError> {
        let mut out = Vec::new();
        for (_, v) in self.scan_prefix(Cf::Keys, b"")? {
            let k: AccessKeyRecord = decode(&v)?;
            if k.user_id == user {
                out.push(k);
            }
        }
        Ok(out)
    }

    pub fn upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Option<UploadRecord>, StoreError> {
        self.record(Cf::Uploads, &keys::upload_key(bucket, key, upload_id))
    }

    /// The uploads in progress in a bucket: (object key, record).
    pub fn uploads_in(&self, bucket: &str) -> Result<Vec<(String, UploadRecord)>, StoreError> {
        let prefix = keys::bucket_prefix(bucket);
        let mut out = Vec::new();
        for (k, v) in self.scan_prefix(Cf::Uploads, &prefix)? {
            let up: UploadRecord = decode(&v)?;
            let key = k
                .get(prefix.len()..)
                .and_then(keys::upload_object_key)
                .ok_or_else(|| StoreError::Corrupt("upload key without an upload id".into()))?;
            out.push((String::from_utf8_lossy(key).into_owned(), up));
        }
        Ok(out)
    }

    /// The parts stored for an upload, by part number.
    pub fn parts(&self, upload_id: &str) -> Result<BTreeMap<u32, PartRecord>, StoreError> {
        let mut out = BTreeMap::new();
        for (k, v) in self.scan_prefix(Cf::Parts, &keys::part_prefix(upload_id))? {
            let n = keys::part_number(&k)
                .ok_or_else(|| StoreError::Corrupt("part key without a number".into()))?;
            out.insert(n, decode(&v)?);
        }
        Ok(out)
    }

    pub fn part(&self, upload_id: &str, number: u32) -> Result<Option<PartRecord>, StoreError> {
        self.record(Cf::Parts, &keys::part_key(upload_id, number))
    }

    pub fn quarantined(&self, id: &str) -> Result<Option<QuarantineRecord>, StoreError> {
        self.record(Cf::Quarantine, id.as_bytes())
    }

    /// Multipart uploads in progress, from the counter kept with every change.
    pub fn uploads_in_progress(&self) -> Result<u64, StoreError> {
        self.get(Cf::Counters, keys::UPLOADS_IN_PROGRESS)?
            .map(|v| super::decode_u64(&v))
            .transpose()
            .map(|v| v.unwrap_or(0))
    }

    /// Stored segments whose data key key-service version `kek` (`<id>#<n>`) wraps.
    pub fn kek_segments(&self, kek: &str) -> Result<u64, StoreError> {
        self.get(Cf::Counters, &keys::kek_segments(kek))?
            .map(|v| super::decode_u64(&v))
            .transpose()
            .map(|v| v.unwrap_or(0))
    }

    /// A bucket's counters, kept with every change.
    pub fn usage(&self, bucket: &str) -> Result<super::Usage, StoreError> {
        Ok(self
            .get(Cf::Counters, &keys::bucket_usage(bucket))?
            .map(|v| super::Usage::decode(&v))
            .unwrap_or_default())
    }
}
