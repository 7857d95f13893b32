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
}

fn is_disk_full(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> S3Error {
        match &e {
            StoreError::Io(io) if is_disk_full(io) => {
                S3Error::new(S3ErrorCode::InsufficientStorage)
            }
            StoreError::Db(db) if db.to_string().contains("No space left") => {
                S3Error::new(S3ErrorCode::InsufficientStorage)
            }
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
