//! The records waiting for delivery, per source bucket, in bounded memory. Kept apart
//! from the delivery (which writes objects) so that the server's state can hold it
//! without depending on the write path.

use super::record::LogRecord;
use crate::config::BucketLoggingConfig;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use time::OffsetDateTime;

/// The records of one source bucket since its last delivery.
pub struct Batch {
    pub text: String,
    pub records: u64,
    /// The first record's time (`EventTime` partitions).
    pub first: OffsetDateTime,
}

/// The records waiting for delivery, per source bucket, and what became of earlier ones.
pub struct BucketLogs {
    pending: Mutex<HashMap<String, Batch>>,
    pub(super) config: BucketLoggingConfig,
    /// Wakes the deliverer when a batch is full.
    pub(super) full: tokio::sync::Notify,
}

/// Log objects delivered since the process started (`/metrics`).
pub static DELIVERED_OBJECTS: AtomicU64 = AtomicU64::new(0);
/// Records that could not be delivered (no writes on this zone, permission taken away,
/// target gone, too many waiting) since the process started (`/metrics`).
pub static DROPPED_RECORDS: AtomicU64 = AtomicU64::new(0);

impl BucketLogs {
    pub fn new(config: BucketLoggingConfig) -> BucketLogs {
        BucketLogs {
            pending: Mutex::new(HashMap::new()),
            config,
            full: tokio::sync::Notify::new(),
        }
    }

    /// Queues one record of a request to a logged bucket.
    pub fn record(&self, record: &LogRecord) {
        let line = record.line();
        let max = self.config.max_pending_bytes.max(1);
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let batch = pending
            .entry(record.bucket.clone())
            .or_insert_with(|| Batch {
                text: String::new(),
                records: 0,
                first: record.time.unwrap_or_else(OffsetDateTime::now_utc),
            });
        // Memory stays bounded whatever the delivery does: past four batches' worth the
        // record is counted as dropped.
        if batch.text.len() + line.len() > max.saturating_mul(4) {
            DROPPED_RECORDS.fetch_add(1, Ordering::Relaxed);
            return;
        }
        batch.text.push_str(&line);
        batch.records += 1;
        if batch.text.len() >= max {
            self.full.notify_one();
        }
    }

    pub(super) fn take(&self) -> Vec<(String, Batch)> {
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.drain().collect()
    }
}
