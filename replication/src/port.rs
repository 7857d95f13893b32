//! The storage port: what the replication loop and the resync need from the local store,
//! and the data that crosses it. No HTTP client and no status in it: this crate owns the
//! protocol and the algorithms, the store implements this trait.

use crate::zone::{Refused, ZoneState};
use crate::{Entry, Op};
use bytes::Bytes;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a fetched blob is staged and where it must end up (same filesystem).
pub struct Staging {
    pub partial: PathBuf,
    pub final_path: PathBuf,
    pub dir: u16,
}

/// A segment's data, now local.
#[derive(Debug, Clone)]
pub enum LocalData {
    Inline(Bytes),
    /// A durable blob file in data directory N, named by the segment id.
    Disk(u16),
    /// This zone already holds it (the entry changed only the object's metadata).
    Kept(crate::records::Location),
    /// The primary no longer has it: a later entry replaced or deleted the object.
    Superseded,
}

/// A zone transition the loop asked for that did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error("storage: {0}")]
    Storage(Box<dyn std::error::Error + Send + Sync>),
}

/// A batch of entries that did not all apply.
#[derive(Debug, thiserror::Error)]
#[error("entry {seq}: {error}")]
pub struct ApplyError {
    /// How many entries of the batch were applied before the failure.
    pub applied: usize,
    pub seq: u64,
    pub error: PortError,
}

/// This zone's buckets, users and keys (what a resync compares with the primary's).
#[derive(Debug, Clone, Default)]
pub struct LocalCatalog {
    pub buckets: Vec<crate::records::BucketRecord>,
    pub users: Vec<crate::records::UserRecord>,
    pub keys: Vec<crate::records::AccessKeyRecord>,
    pub kms_keys: Vec<crate::records::KmsKeyRecord>,
}

/// The storage port.
pub trait Replica: Send + Sync + 'static {
    fn zone(&self) -> &Arc<crate::zone::Zone>;
    /// The last primary sequence number durably applied here (this zone's journal end).
    fn cursor(&self) -> u64;
    /// Segments up to this size are kept inline (in the metadata store).
    fn inline_max(&self) -> u64;
    /// Where a blob with this id is staged while fetched, and its final place.
    fn staging(&self, id: &str) -> Option<Staging>;
    /// Where this zone holds segment `id` of version `version_id` (`None`: the null one)
    /// or of the current version of `bucket/key`, if it does.
    fn local_segment(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        id: &str,
    ) -> Option<crate::records::Location>;
    /// Applies entries in order, each with its data now local; the cursor moves to each
    /// entry's sequence number in the same batch as its change. Entries at or below the
    /// cursor are already applied (not an error).
    fn apply_batch(
        &self,
        entries: Vec<(Entry, Vec<LocalData>)>,
    ) -> impl Future<Output = Result<(), ApplyError>> + Send;
    /// Runs one zone transition: planned, saved, then published (`Zone::change`).
    fn change_zone<T: Send>(
        &self,
        change: impl FnOnce(&mut ZoneState) -> Result<T, Refused> + Send,
    ) -> impl Future<Output = Result<T, PortError>> + Send;
    /// Called when this zone demoted itself after meeting a higher epoch: find and set
    /// aside divergent writes (entries after `after_seq`); returns how many.
    fn quarantine_divergent(
        &self,
        after_seq: u64,
    ) -> impl Future<Output = Result<u64, PortError>> + Send;
    /// The local catalog, for a resync.
    fn local_catalog(&self) -> Result<LocalCatalog, PortError>;
    /// This zone's keys of `bucket` after `after` (up to `upto` inclusive), in key order,
    /// each with every version it has.
    fn objects_page(
        &self,
        bucket: &str,
        after: &str,
        upto: Option<&str>,
    ) -> Result<Vec<(String, Vec<crate::records::ObjectRecord>)>, PortError>;
    /// Applies a change copied by a resync (not journaled: the journal restarts after it).
    fn copy_change(
        &self,
        op: Op,
        data: Vec<LocalData>,
    ) -> impl Future<Output = Result<(), PortError>> + Send;
    /// The end of a resync: this zone's journal continues from `seq`.
    fn restart_journal(&self, seq: u64) -> impl Future<Output = Result<(), PortError>> + Send;
}
