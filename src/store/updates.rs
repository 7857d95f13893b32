//! Read-modify-write changes of one record, each with its journal entry: what the S3
//! handlers and the admin API change a bucket's settings through.

use super::{Store, Txn};
use bascule_api::{S3Error, S3ErrorCode, S3Result};
use bascule_replication::records::BucketRecord;
use bascule_replication::Op;

impl Store {
    /// Changes a bucket's settings: read the current record, apply `change`, commit the
    /// new record with its journal entry (`NoSuchBucket` when there is none).
    pub async fn update_bucket<F>(&self, bucket: &str, change: F) -> S3Result<BucketRecord>
    where
        F: FnOnce(&mut BucketRecord) -> S3Result<()> + Send + 'static,
    {
        let bucket = bucket.to_string();
        let (record, _) = self
            .commit(move |view| {
                let mut record = view.bucket(&bucket)?.ok_or_else(|| {
                    S3Error::new(S3ErrorCode::NoSuchBucket).with("BucketName", bucket.clone())
                })?;
                change(&mut record)?;
                let txn = Txn::op(Op::PutBucket {
                    record: record.clone(),
                });
                Ok::<_, S3Error>((txn, record))
            })
            .await?;
        Ok(record)
    }
}
