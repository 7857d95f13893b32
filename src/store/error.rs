//! The storage layer's error, and its one conversion into what an S3 client sees.

use bascule_api::{S3Error, S3ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("metadata database: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("data file: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error("the store is shutting down")]
    Closed,
    /// The zone does not take client writes now (secondary, fenced or handing over).
    #[error("this zone does not take writes")]
    ReadOnly,
    /// A primary whose write lease is not (or no longer) held: the change is refused
    /// before it commits, or committed but not acknowledged (the client retries).
    #[error("this zone holds no write lease")]
    NoLease,
    /// A replicated change reached a zone that is not a secondary.
    #[error("this zone is not a secondary: it applies no journal entries")]
    NotSecondary,
    /// A replicated change this zone already holds (an earlier answer was lost).
    #[error("journal entry {seq} is already applied (cursor {cursor})")]
    AlreadyApplied { seq: u64, cursor: u64 },
    /// A replicated change whose predecessor has not been applied yet.
    #[error("journal entry {seq} cannot follow {cursor}")]
    OutOfOrder { seq: u64, cursor: u64 },
    /// The change's own closure refused it; the caller holds its reason.
    #[error("change refused")]
    Rejected,
    /// The metadata volume is below its reserve: only changes that free space go through.
    #[error("the metadata volume is full")]
    MetadataFull,
    /// Data sealed under a key version that no longer exists (retired meanwhile).
    #[error("key version {0} was retired")]
    KeyRetired(String),
}

impl StoreError {
    /// The same failure, for each of the many requests of a commit group that failed.
    pub fn clone_for_reply(&self) -> StoreError {
        match self {
            StoreError::Db(e) => StoreError::Db(e.clone()),
            StoreError::Io(e) => StoreError::Io(std::io::Error::new(e.kind(), e.to_string())),
            StoreError::Corrupt(m) => StoreError::Corrupt(m.clone()),
            StoreError::Closed => StoreError::Closed,
            StoreError::ReadOnly => StoreError::ReadOnly,
            StoreError::NoLease => StoreError::NoLease,
            StoreError::NotSecondary => StoreError::NotSecondary,
            StoreError::AlreadyApplied { seq, cursor } => StoreError::AlreadyApplied {
                seq: *seq,
                cursor: *cursor,
            },
            StoreError::OutOfOrder { seq, cursor } => StoreError::OutOfOrder {
                seq: *seq,
                cursor: *cursor,
            },
            StoreError::Rejected => StoreError::Rejected,
            StoreError::MetadataFull => StoreError::MetadataFull,
            StoreError::KeyRetired(k) => StoreError::KeyRetired(k.clone()),
        }
    }

    /// Out of space (data files or metadata)?
    pub fn is_disk_full(&self) -> bool {
        match self {
            StoreError::Io(io) => is_disk_full(io),
            StoreError::Db(db) => db.to_string().contains("No space left"),
            StoreError::MetadataFull => true,
            _ => false,
        }
    }
}

fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> S3Error {
        match &e {
            _ if e.is_disk_full() => S3Error::new(S3ErrorCode::InsufficientStorage),
            StoreError::ReadOnly => S3Error::new(S3ErrorCode::ZoneReadOnly),
            StoreError::Closed => S3Error::new(S3ErrorCode::ServiceUnavailable),
            StoreError::NoLease => S3Error::msg(
                S3ErrorCode::ServiceUnavailable,
                "This zone cannot reach its peer zone or the witness to confirm it is still primary; retry shortly.",
            )
            .with_header("retry-after", "1"),
            // The write raced a key retirement; a retry is sealed under the active version.
            StoreError::KeyRetired(_) => S3Error::new(S3ErrorCode::ServiceUnavailable),
            _ => {
                tracing::error!(error = %e, "storage failure");
                S3Error::new(S3ErrorCode::InternalError)
            }
        }
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}
