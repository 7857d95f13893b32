//! Delivery of server access logs: records are batched in memory per source bucket and,
//! every `flush_seconds` (or sooner when a batch grows past `max_pending_bytes`), each
//! batch becomes one object in the bucket's target bucket, written through the same
//! commit as any PUT (so it is journaled and replicated like any other object).
//!
//! Best effort, as AWS's own delivery is: records of the last interval are lost if the
//! process is killed (a clean shutdown delivers them), and a zone that takes no writes
//! (a secondary) cannot deliver the records of the reads it serves; both are counted.

use super::batches::{Batch, DELIVERED_OBJECTS, DROPPED_RECORDS};
use crate::s3::access::log_delivery_allowed;
use crate::s3::auth::PayloadCheck;
use crate::s3::body::{ingest, BodySpec, MAX_PUT_SIZE};
use crate::s3::ctx::S3State;
use crate::s3::put::{commit_object, NewObject, WriteConditions};
use axum::body::Body;
use bascule_replication::records::SystemHeaders;
use bascule_replication::records::{BucketLogging, BucketRecord, PartitionDateSource};
use rand::RngCore;
use std::sync::atomic::Ordering;
use std::time::Duration;
use time::OffsetDateTime;

/// Delivers every waiting batch now.
pub async fn deliver_all(s: &S3State) {
    for (bucket, batch) in s.logs.take() {
        let records = batch.records;
        match deliver(s, &bucket, batch).await {
            Ok(()) => {
                DELIVERED_OBJECTS.fetch_add(1, Ordering::Relaxed);
            }
            Err(why) => {
                DROPPED_RECORDS.fetch_add(records, Ordering::Relaxed);
                tracing::warn!(bucket, records, why, "access log records not delivered");
            }
        }
    }
}

/// The deliverer: every `flush_seconds`, when a batch is full, and once more at shutdown.
pub fn spawn(
    s: S3State,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(s.logs.config.flush_seconds.max(1));
        loop {
            let stopping = tokio::select! {
                _ = tokio::time::sleep(every) => false,
                _ = s.logs.full.notified() => false,
                _ = stop.wait_for(|v| *v) => true,
            };
            deliver_all(&s).await;
            if stopping {
                break;
            }
        }
    })
}

async fn deliver(s: &S3State, source: &str, batch: Batch) -> Result<(), String> {
    if !s.store.zone.writable() {
        return Err("this zone takes no writes".into());
    }
    let source = s
        .store
        .bucket(source)
        .map_err(|e| e.to_string())?
        .ok_or("the source bucket is gone")?;
    let config = source
        .logging
        .clone()
        .ok_or("logging was turned off before delivery")?;
    let target = s
        .store
        .bucket(&config.target_bucket)
        .map_err(|e| e.to_string())?
        .ok_or("the target bucket is gone")?;
    if !log_delivery_allowed(&source, &target, &config.target_prefix).map_err(|e| e.to_string())? {
        return Err("the target bucket's policy no longer allows log delivery".into());
    }
    let key = log_key(
        &config,
        &source,
        &s.config.region,
        batch.first,
        OffsetDateTime::now_utc(),
    );
    write_log_object(s, &target, &config, key, batch.text)
        .await
        .map_err(|e| e.to_string())
}

async fn write_log_object(
    s: &S3State,
    target: &BucketRecord,
    config: &BucketLogging,
    key: String,
    text: String,
) -> bascule_api::S3Result<()> {
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::CONTENT_LENGTH, text.len().into());
    let spec = BodySpec::from_headers(
        &headers,
        PayloadCheck::None,
        MAX_PUT_SIZE,
        s.config.inline_threshold,
    )?;
    // Log objects are encrypted with SSE-S3 when the target bucket (or the zone) encrypts
    // by default (AWS delivers logs only with SSE-S3, whatever the target's default).
    let encrypt = target.encryption.is_some() || s.config.encryption.encrypt_by_default;
    let sse = encrypt.then_some(crate::crypt::SealSpec {
        encryption: bascule_replication::records::Encryption::S3,
        customer: None,
    });
    let segment = crate::s3::sse::new_segment(s, sse.as_ref())?;
    let ingested = ingest(&s.store, Body::from(text), spec, segment).await?;
    let mut new = NewObject::from_ingested(
        &target.name,
        &key,
        target.owner.clone(),
        &ingested,
        SystemHeaders {
            content_type: Some("text/plain".into()),
            ..Default::default()
        },
        Default::default(),
        Vec::new(),
    );
    new.record.acl = config.target_grants.clone();
    new.record.encryption = sse.map(|spec| spec.encryption);
    commit_object(s, new, WriteConditions::default()).await?;
    Ok(())
}

/// A log object's key, as AWS names them: `prefix` + `YYYY-mm-DD-HH-MM-SS-UNIQUE`, or
/// partitioned: `prefix` + `owner/region/bucket/YYYY/MM/DD/` + the same name.
fn log_key(
    config: &BucketLogging,
    source: &BucketRecord,
    region: &str,
    first: OffsetDateTime,
    now: OffsetDateTime,
) -> String {
    let mut unique = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut unique);
    let stamp = |t: OffsetDateTime| {
        format!(
            "{:04}-{:02}-{:02}-{:02}-{:02}-{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    };
    let name = format!("{}-{}", stamp(now), hex::encode_upper(unique));
    match config.partition_date_source {
        None => format!("{}{name}", config.target_prefix),
        Some(source_of_date) => {
            let date = match source_of_date {
                PartitionDateSource::EventTime => first,
                PartitionDateSource::DeliveryTime => now,
            };
            format!(
                "{}{}/{region}/{}/{:04}/{:02}/{:02}/{name}",
                config.target_prefix,
                source.owner,
                source.name,
                date.year(),
                u8::from(date.month()),
                date.day()
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_as_aws_names_them() {
        let source = BucketRecord::new("src".into(), "owner-id".into(), 0);
        let mut config = BucketLogging {
            target_bucket: "logs".into(),
            target_prefix: "log/".into(),
            target_grants: Vec::new(),
            partition_date_source: None,
        };
        let first = time::macros::datetime!(2026-12-02 23:59:59 UTC);
        let now = time::macros::datetime!(2026-12-03 00:05:01 UTC);
        let simple = log_key(&config, &source, "eu-west-3", first, now);
        assert!(simple.starts_with("log/2026-12-03-00-05-01-"), "{simple}");
        assert_eq!(simple.len(), "log/2026-12-03-00-05-01-".len() + 16);
        config.partition_date_source = Some(PartitionDateSource::EventTime);
        let by_event = log_key(&config, &source, "eu-west-3", first, now);
        assert!(
            by_event.starts_with("log/owner-id/eu-west-3/src/2026/12/02/2026-12-03-00-05-01-"),
            "{by_event}"
        );
        config.partition_date_source = Some(PartitionDateSource::DeliveryTime);
        let by_delivery = log_key(&config, &source, "eu-west-3", first, now);
        assert!(
            by_delivery.starts_with("log/owner-id/eu-west-3/src/2026/12/03/"),
            "{by_delivery}"
        );
    }
}
