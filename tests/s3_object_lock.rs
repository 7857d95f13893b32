//! Object lock through aws-sdk-s3: buckets created with lock, default retention, retention
//! and legal holds on versions, governance bypass and its permission, and compliance that
//! nobody (administrators included) can shorten or delete.

mod common;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    DefaultRetention, Delete, ObjectIdentifier, ObjectLockConfiguration, ObjectLockEnabled,
    ObjectLockLegalHold, ObjectLockLegalHoldStatus, ObjectLockMode, ObjectLockRetention,
    ObjectLockRetentionMode, ObjectLockRule,
};
use common::{err_code, set_versioning, Server};
use std::time::{Duration, SystemTime};

fn in_days(days: u64) -> DateTime {
    DateTime::from(SystemTime::now() + Duration::from_secs(days * 86_400))
}

async fn locked_bucket(c: &aws_sdk_s3::Client, bucket: &str) {
    c.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
}

async fn put_locked(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    mode: ObjectLockMode,
    days: u64,
) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from_static(b"exam record"))
        .object_lock_mode(mode)
        .object_lock_retain_until_date(in_days(days))
        .send()
        .await
        .unwrap_or_else(|e| panic!("locked put: {e:?}"))
        .version_id()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_bucket_created_with_lock_is_versioned_for_good() {
    let srv = Server::start();
    let c = srv.client();
    locked_bucket(&c, "exams").await;
    let v = c
        .get_bucket_versioning()
        .bucket("exams")
        .send()
        .await
        .unwrap();
    assert_eq!(v.status().map(|s| s.as_str()), Some("Enabled"));
    let cfg = c
        .get_object_lock_configuration()
        .bucket("exams")
        .send()
        .await
        .unwrap();
    assert_eq!(
        cfg.object_lock_configuration()
            .unwrap()
            .object_lock_enabled(),
        Some(&ObjectLockEnabled::Enabled)
    );
    let e = c
        .put_bucket_versioning()
        .bucket("exams")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidBucketState");
}

#[tokio::test]
async fn without_lock_configuration_lock_settings_are_refused() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("plain").send().await.unwrap();
    let e = c
        .get_object_lock_configuration()
        .bucket("plain")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "ObjectLockConfigurationNotFoundError");
    let e = c
        .put_object()
        .bucket("plain")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRequest");
    common::put(&c, "plain", "k", b"x".to_vec()).await;
    let e = c
        .put_object_retention()
        .bucket("plain")
        .key("k")
        .retention(
            ObjectLockRetention::builder()
                .mode(ObjectLockRetentionMode::Governance)
                .retain_until_date(in_days(1))
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRequest");
    // Lock needs versioning enabled first.
    let lock_cfg = || {
        ObjectLockConfiguration::builder()
            .object_lock_enabled(ObjectLockEnabled::Enabled)
            .rule(
                ObjectLockRule::builder()
                    .default_retention(
                        DefaultRetention::builder()
                            .mode(ObjectLockRetentionMode::Governance)
                            .days(1)
                            .build(),
                    )
                    .build(),
            )
            .build()
    };
    let e = c
        .put_object_lock_configuration()
        .bucket("plain")
        .object_lock_configuration(lock_cfg())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidBucketState");
    set_versioning(&c, "plain", "Enabled").await;
    c.put_object_lock_configuration()
        .bucket("plain")
        .object_lock_configuration(lock_cfg())
        .send()
        .await
        .unwrap();
    // New versions get the default retention.
    let put = c
        .put_object()
        .bucket("plain")
        .key("k")
        .body(ByteStream::from_static(b"y"))
        .send()
        .await
        .unwrap();
    let r = c
        .get_object_retention()
        .bucket("plain")
        .key("k")
        .version_id(put.version_id().unwrap())
        .send()
        .await
        .unwrap();
    let r = r.retention().unwrap();
    assert_eq!(r.mode(), Some(&ObjectLockRetentionMode::Governance));
    let until = r.retain_until_date().unwrap().secs();
    let expected = (SystemTime::now() + Duration::from_secs(86_400))
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((until - expected).abs() < 120, "{until} vs {expected}");
    let cfg = c
        .get_object_lock_configuration()
        .bucket("plain")
        .send()
        .await
        .unwrap();
    let rule = cfg.object_lock_configuration().unwrap().rule().unwrap();
    assert_eq!(rule.default_retention().unwrap().days(), Some(1));
}

#[tokio::test]
async fn compliance_is_kept_from_everyone() {
    let srv = Server::start();
    let c = srv.client(); // an administrator
    locked_bucket(&c, "exams").await;
    let v = put_locked(&c, "exams", "record", ObjectLockMode::Compliance, 2).await;
    let got = c
        .head_object()
        .bucket("exams")
        .key("record")
        .send()
        .await
        .unwrap();
    assert_eq!(got.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert!(got.object_lock_retain_until_date().is_some());
    for bypass in [false, true] {
        let e = c
            .delete_object()
            .bucket("exams")
            .key("record")
            .version_id(&v)
            .bypass_governance_retention(bypass)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e), "AccessDenied");
    }
    // Shortening is refused, lengthening is allowed.
    let retention = |days| {
        ObjectLockRetention::builder()
            .mode(ObjectLockRetentionMode::Compliance)
            .retain_until_date(in_days(days))
            .build()
    };
    let e = c
        .put_object_retention()
        .bucket("exams")
        .key("record")
        .version_id(&v)
        .retention(retention(1))
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    c.put_object_retention()
        .bucket("exams")
        .key("record")
        .version_id(&v)
        .retention(retention(5))
        .send()
        .await
        .unwrap();
    // A delete without a version id only hides it behind a marker; the version stays.
    let d = c
        .delete_object()
        .bucket("exams")
        .key("record")
        .send()
        .await
        .unwrap();
    assert_eq!(d.delete_marker(), Some(true));
    assert_eq!(
        common::get_version(&c, "exams", "record", &v).await,
        b"exam record"
    );
    // A multi-delete reports the locked version and deletes the rest.
    let marker = d.version_id().unwrap();
    let del = Delete::builder()
        .objects(
            ObjectIdentifier::builder()
                .key("record")
                .version_id(&v)
                .build()
                .unwrap(),
        )
        .objects(
            ObjectIdentifier::builder()
                .key("record")
                .version_id(marker)
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    let out = c
        .delete_objects()
        .bucket("exams")
        .delete(del)
        .send()
        .await
        .unwrap();
    assert_eq!(out.errors().len(), 1);
    assert_eq!(out.errors()[0].code(), Some("AccessDenied"));
    assert_eq!(out.deleted().len(), 1);
    assert_eq!(out.deleted()[0].version_id(), Some(marker));
}

#[tokio::test]
async fn governance_yields_to_a_permitted_bypass_only() {
    let srv = Server::start();
    let (owner_ak, owner_sk) = srv.new_user("teacher").await;
    let owner = srv.client_for(&owner_ak, &owner_sk);
    locked_bucket(&owner, "exams").await;
    let (ak, sk) = srv.new_user("assistant").await;
    let (st, _) = srv
        .admin(
            "PUT",
            "/buckets/exams/grants/assistant",
            Some(serde_json::json!({"permission": "ReadWrite"})),
        )
        .await;
    assert_eq!(st, 200);
    let assistant = srv.client_for(&ak, &sk);
    let v = put_locked(&owner, "exams", "draft", ObjectLockMode::Governance, 3).await;
    let e = owner
        .delete_object()
        .bucket("exams")
        .key("draft")
        .version_id(&v)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    // A writer without s3:BypassGovernanceRetention cannot bypass.
    let e = assistant
        .delete_object()
        .bucket("exams")
        .key("draft")
        .version_id(&v)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    let shorter = ObjectLockRetention::builder()
        .mode(ObjectLockRetentionMode::Governance)
        .retain_until_date(in_days(1))
        .build();
    let e = owner
        .put_object_retention()
        .bucket("exams")
        .key("draft")
        .version_id(&v)
        .retention(shorter.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    owner
        .put_object_retention()
        .bucket("exams")
        .key("draft")
        .version_id(&v)
        .retention(shorter)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    // The bucket owner bypasses; a legal hold then stops even that.
    owner
        .put_object_legal_hold()
        .bucket("exams")
        .key("draft")
        .version_id(&v)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::On)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let hold = owner
        .get_object_legal_hold()
        .bucket("exams")
        .key("draft")
        .version_id(&v)
        .send()
        .await
        .unwrap();
    assert_eq!(
        hold.legal_hold().unwrap().status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    let e = owner
        .delete_object()
        .bucket("exams")
        .key("draft")
        .version_id(&v)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    owner
        .put_object_legal_hold()
        .bucket("exams")
        .key("draft")
        .version_id(&v)
        .legal_hold(
            ObjectLockLegalHold::builder()
                .status(ObjectLockLegalHoldStatus::Off)
                .build(),
        )
        .send()
        .await
        .unwrap();
    owner
        .delete_object()
        .bucket("exams")
        .key("draft")
        .version_id(&v)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
    let e = owner
        .get_object()
        .bucket("exams")
        .key("draft")
        .version_id(&v)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchVersion");
}

#[tokio::test]
async fn multipart_uploads_carry_their_lock_settings() {
    let srv = Server::start();
    let c = srv.client();
    locked_bucket(&c, "exams").await;
    let up = c
        .create_multipart_upload()
        .bucket("exams")
        .key("big")
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(in_days(1))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let done = common::complete_with_one_part(&c, "exams", "big", id, b"part one").await;
    let got = c
        .get_object()
        .bucket("exams")
        .key("big")
        .version_id(done.version_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(got.object_lock_mode(), Some(&ObjectLockMode::Governance));
    assert_eq!(
        got.object_lock_legal_hold_status(),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    // A copy takes the lock settings of its own request, not the source's.
    let copied = c
        .copy_object()
        .bucket("exams")
        .key("copy")
        .copy_source("exams/big")
        .object_lock_mode(ObjectLockMode::Compliance)
        .object_lock_retain_until_date(in_days(2))
        .send()
        .await
        .unwrap();
    let head = c
        .head_object()
        .bucket("exams")
        .key("copy")
        .version_id(copied.version_id().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(head.object_lock_mode(), Some(&ObjectLockMode::Compliance));
    assert_eq!(head.object_lock_legal_hold_status(), None);
    // A past retain-until date is refused.
    let e = c
        .put_object()
        .bucket("exams")
        .key("late")
        .body(ByteStream::from_static(b"x"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from_secs(1_000))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidArgument");
}
