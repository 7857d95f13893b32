//! Lifecycle rules with a sped-up clock (a lifecycle day of a couple of seconds): the
//! configuration round trip and its checks, current and noncurrent expiry, expired delete
//! markers, aborted uploads, locked versions kept, the worker's progress (kept across a
//! restart), and lifecycle deletions reaching the secondary, which never runs lifecycle.

mod common;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, BucketLifecycleConfiguration, ExpirationStatus,
    LifecycleExpiration, LifecycleRule, LifecycleRuleAndOperator, LifecycleRuleFilter,
    NoncurrentVersionExpiration, ObjectLockMode, Tag, Transition, TransitionStorageClass,
};
use common::zones::{caught_up, Pair};
use common::{all_versions, err_code, set_versioning, Server};
use std::time::{Duration, Instant, SystemTime};

const FAST: &str = "[lifecycle]\nday_seconds = 2\ninterval_seconds = 1\n";

fn fast_server(extra_config: &str) -> Server {
    let mut s = Server::prepare(&[], |_| {});
    let cfg = s.write_config(&format!("{FAST}{extra_config}"));
    s.add_args(&["--config", &cfg]);
    s.spawn();
    s
}

fn rule(id: &str, prefix: &str) -> aws_sdk_s3::types::builders::LifecycleRuleBuilder {
    LifecycleRule::builder()
        .id(id)
        .status(ExpirationStatus::Enabled)
        .filter(LifecycleRuleFilter::builder().prefix(prefix).build())
}

async fn set_rules(c: &aws_sdk_s3::Client, bucket: &str, rules: Vec<LifecycleRule>) {
    c.put_bucket_lifecycle_configuration()
        .bucket(bucket)
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .set_rules(Some(rules))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("lifecycle on {bucket}: {e:?}"));
}

/// Polls `check` until it holds, for up to 40 s (a lifecycle day here is 2 s).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(40) {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn configuration_round_trip_and_checks() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("cfg").send().await.unwrap();
    let e = c
        .get_bucket_lifecycle_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchLifecycleConfiguration");
    let tagged = LifecycleRule::builder()
        .id("big-drafts")
        .status(ExpirationStatus::Disabled)
        .filter(
            LifecycleRuleFilter::builder()
                .and(
                    LifecycleRuleAndOperator::builder()
                        .prefix("drafts/")
                        .tags(Tag::builder().key("kind").value("draft").build().unwrap())
                        .object_size_greater_than(1024)
                        .build(),
                )
                .build(),
        )
        .expiration(LifecycleExpiration::builder().days(30).build())
        .build()
        .unwrap();
    let versions = rule("old-versions", "")
        .noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .noncurrent_days(7)
                .newer_noncurrent_versions(3)
                .build(),
        )
        .abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .days_after_initiation(2)
                .build(),
        )
        .build()
        .unwrap();
    let markers = rule("markers", "")
        .expiration(
            LifecycleExpiration::builder()
                .expired_object_delete_marker(true)
                .build(),
        )
        .build()
        .unwrap();
    set_rules(&c, "cfg", vec![tagged, versions, markers]).await;
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    let rules = got.rules();
    assert_eq!(rules.len(), 3);
    assert_eq!(rules[0].id(), Some("big-drafts"));
    assert_eq!(rules[0].status(), &ExpirationStatus::Disabled);
    let and = rules[0].filter().unwrap().and().unwrap();
    assert_eq!(and.prefix(), Some("drafts/"));
    assert_eq!(and.tags()[0].value(), "draft");
    assert_eq!(and.object_size_greater_than(), Some(1024));
    assert_eq!(rules[0].expiration().unwrap().days(), Some(30));
    let nc = rules[1].noncurrent_version_expiration().unwrap();
    assert_eq!(
        (nc.noncurrent_days(), nc.newer_noncurrent_versions()),
        (Some(7), Some(3))
    );
    assert_eq!(
        rules[1]
            .abort_incomplete_multipart_upload()
            .unwrap()
            .days_after_initiation(),
        Some(2)
    );
    assert_eq!(
        rules[2]
            .expiration()
            .unwrap()
            .expired_object_delete_marker(),
        Some(true)
    );
    // Transitions need storage classes Bascule does not have.
    let transition = rule("cold", "")
        .transitions(
            Transition::builder()
                .days(30)
                .storage_class(TransitionStorageClass::Glacier)
                .build(),
        )
        .build()
        .unwrap();
    let e = c
        .put_bucket_lifecycle_configuration()
        .bucket("cfg")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(transition)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NotImplemented");
    // Zero days and a rule without any action are refused; the old rules stay.
    for bad in [
        rule("zero", "")
            .expiration(LifecycleExpiration::builder().days(0).build())
            .build()
            .unwrap(),
        rule("nothing", "").build().unwrap(),
    ] {
        let e = c
            .put_bucket_lifecycle_configuration()
            .bucket("cfg")
            .lifecycle_configuration(
                BucketLifecycleConfiguration::builder()
                    .rules(bad)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e), "InvalidArgument");
    }
    let raw = srv
        .raw()
        .send(
            "PUT",
            "/cfg?lifecycle",
            &[],
            b"<LifecycleConfiguration><Rule><ID>x</ID><Filter><Prefix/></Filter><Expiration><Days>1</Days></Expiration></Rule></LifecycleConfiguration>".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(
        (raw.status, raw.code().as_str()),
        (400, "MalformedXML"),
        "no Status"
    );
    assert_eq!(
        c.get_bucket_lifecycle_configuration()
            .bucket("cfg")
            .send()
            .await
            .unwrap()
            .rules()
            .len(),
        3
    );
    c.delete_bucket_lifecycle()
        .bucket("cfg")
        .send()
        .await
        .unwrap();
    let e = c
        .get_bucket_lifecycle_configuration()
        .bucket("cfg")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchLifecycleConfiguration");
}

#[tokio::test]
async fn current_objects_expire_and_uploads_are_aborted() {
    let srv = fast_server("pause_ms = 0\n");
    let c = srv.client();
    c.create_bucket().bucket("tmp").send().await.unwrap();
    set_rules(
        &c,
        "tmp",
        vec![rule("scratch", "scratch/")
            .expiration(LifecycleExpiration::builder().days(1).build())
            .abort_incomplete_multipart_upload(
                AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(1)
                    .build(),
            )
            .build()
            .unwrap()],
    )
    .await;
    let put = c
        .put_object()
        .bucket("tmp")
        .key("scratch/a")
        .body(ByteStream::from_static(b"soon gone"))
        .send()
        .await
        .unwrap();
    let exp = put.expiration().expect("x-amz-expiration on PUT");
    assert!(
        exp.contains("rule-id=\"scratch\"") && exp.starts_with("expiry-date=\""),
        "{exp}"
    );
    // AWS's rule in real days whatever the worker's day: midnight UTC after the write
    // plus one day, so one to two days from now.
    let date = exp
        .strip_prefix("expiry-date=\"")
        .and_then(|r| r.split('"').next())
        .expect("a date");
    assert!(date.ends_with("00:00:00 GMT"), "{exp}");
    let at = httpdate::parse_http_date(date).expect("an HTTP date");
    let ahead = at
        .duration_since(std::time::SystemTime::now())
        .expect("in the future");
    assert!(
        ahead > Duration::from_secs(86_400) && ahead <= Duration::from_secs(2 * 86_400),
        "{exp}"
    );
    let head = c
        .head_object()
        .bucket("tmp")
        .key("scratch/a")
        .send()
        .await
        .unwrap();
    assert_eq!(head.expiration(), Some(exp));
    common::put(&c, "tmp", "keep/b", b"stays".to_vec()).await;
    let kept = c
        .head_object()
        .bucket("tmp")
        .key("keep/b")
        .send()
        .await
        .unwrap();
    assert_eq!(kept.expiration(), None);
    let up = c
        .create_multipart_upload()
        .bucket("tmp")
        .key("scratch/upload")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    c.upload_part()
        .bucket("tmp")
        .key("scratch/upload")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"abandoned"))
        .send()
        .await
        .unwrap();
    eventually("scratch/a to expire", || async {
        common::get(&c, "tmp", "scratch/a").await.is_none()
    })
    .await;
    eventually("the upload to be aborted", || async {
        c.list_multipart_uploads()
            .bucket("tmp")
            .send()
            .await
            .unwrap()
            .uploads()
            .is_empty()
    })
    .await;
    assert_eq!(
        common::get(&c, "tmp", "keep/b").await.as_deref(),
        Some(&b"stays"[..])
    );
    let (st, report) = srv.admin("GET", "/lifecycle", None).await;
    assert_eq!(st, 200);
    assert_eq!(report["running_here"], true);
    assert!(report["objects_expired"].as_u64().unwrap() >= 1, "{report}");
    assert!(report["uploads_aborted"].as_u64().unwrap() >= 1, "{report}");
    assert!(
        report["passes_completed"].as_u64().unwrap() >= 1,
        "{report}"
    );
    let metrics = srv.metrics().await;
    assert!(
        metrics.contains("bascule_lifecycle_actions_total{action=\"expire_object\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn versions_expire_markers_go_and_locked_versions_stay() {
    let srv = fast_server("pause_ms = 0\n");
    let c = srv.client();
    c.create_bucket()
        .bucket("vbkt")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    set_rules(
        &c,
        "vbkt",
        vec![
            rule("expire", "")
                .expiration(LifecycleExpiration::builder().days(1).build())
                .noncurrent_version_expiration(
                    NoncurrentVersionExpiration::builder()
                        .noncurrent_days(1)
                        .build(),
                )
                .build()
                .unwrap(),
            rule("markers", "")
                .expiration(
                    LifecycleExpiration::builder()
                        .expired_object_delete_marker(true)
                        .build(),
                )
                .build()
                .unwrap(),
        ],
    )
    .await;
    common::put(&c, "vbkt", "plain", b"one".to_vec()).await;
    common::put(&c, "vbkt", "plain", b"two".to_vec()).await;
    // A version under governance retention for a real day: lifecycle must keep it.
    let locked = c
        .put_object()
        .bucket("vbkt")
        .key("exam")
        .body(ByteStream::from_static(b"locked"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(DateTime::from(
            SystemTime::now() + Duration::from_secs(86_400),
        ))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    // Every version of "plain" goes: current ones behind markers, noncurrent ones after a
    // day, then the markers left alone.
    eventually("plain to be gone for good", || async {
        let (versions, markers) = all_versions(&c, "vbkt", 1000).await;
        !versions.iter().chain(&markers).any(|v| v.0 == "plain")
    })
    .await;
    let (versions, _) = all_versions(&c, "vbkt", 1000).await;
    assert!(
        versions.iter().any(|v| v.0 == "exam" && v.1 == locked),
        "the locked version is kept: {versions:?}"
    );
    assert_eq!(
        common::get_version(&c, "vbkt", "exam", &locked).await,
        b"locked"
    );
    let (_, report) = srv.admin("GET", "/lifecycle", None).await;
    assert!(
        report["versions_removed"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert!(
        report["delete_markers_removed"].as_u64().unwrap() >= 1,
        "{report}"
    );
}

#[tokio::test]
async fn the_walk_resumes_where_it_stopped_after_a_restart() {
    // One key per step and a long pause: a pass takes long enough to be caught mid-way.
    let mut srv = fast_server("batch = 1\npause_ms = 3000\n");
    let c = srv.client();
    c.create_bucket().bucket("walk").send().await.unwrap();
    for i in 0..6 {
        common::put(&c, "walk", &format!("k{i}"), b"x".to_vec()).await;
    }
    set_rules(
        &c,
        "walk",
        vec![rule("later", "")
            .expiration(LifecycleExpiration::builder().days(1000).build())
            .build()
            .unwrap()],
    )
    .await;
    let start = Instant::now();
    let seen = loop {
        let (_, r) = srv.admin("GET", "/lifecycle", None).await;
        if r["bucket"] == "walk" && r["after_key"].is_string() {
            break r;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "the walk never started: {r}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    srv.kill();
    srv.spawn();
    let (_, after) = srv.admin("GET", "/lifecycle", None).await;
    assert_eq!(after["bucket"], "walk", "{after}");
    let (before_key, after_key) = (
        seen["after_key"].as_str().unwrap(),
        after["after_key"].as_str().unwrap(),
    );
    assert!(
        after_key >= before_key,
        "resumed at {after_key}, had reached {before_key}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_deletions_replicate_and_the_secondary_never_runs_lifecycle() {
    let mut pair = Pair::start("journal_retention = 1000000\n[lifecycle]\nday_seconds = 2\ninterval_seconds = 1\npause_ms = 0");
    let a = pair.a.client();
    a.create_bucket().bucket("lcb").send().await.unwrap();
    set_versioning(&a, "lcb", "Enabled").await;
    set_rules(
        &a,
        "lcb",
        vec![rule("short", "")
            .expiration(LifecycleExpiration::builder().days(1).build())
            .build()
            .unwrap()],
    )
    .await;
    let v1 = a
        .put_object()
        .bucket("lcb")
        .key("k")
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_string();
    eventually("the current version to expire behind a marker", || async {
        all_versions(&a, "lcb", 1000).await.1.len() == 1
    })
    .await;
    caught_up(&pair.a, &pair.b, Duration::from_secs(60)).await;
    let on_a = all_versions(&a, "lcb", 1000).await;
    assert_eq!(on_a, all_versions(&pair.b.client(), "lcb", 1000).await);
    assert_eq!(on_a.0[0].1, v1);
    let (_, rb) = pair.b.admin("GET", "/lifecycle", None).await;
    assert_eq!(rb["running_here"], false);
    assert_eq!(rb["objects_expired"], 0);
    assert_eq!(rb["passes_completed"], 0);
    // The primary is lost: the promoted zone takes the work over.
    pair.a.kill();
    let (st, v) = pair.b.admin("POST", "/zone/promote", None).await;
    assert_eq!(st, 200, "{v}");
    let b = pair.b.client();
    common::put(&b, "lcb", "after-promotion", b"data".to_vec()).await;
    eventually("the promoted zone to expire the new object", || async {
        common::get(&b, "lcb", "after-promotion").await.is_none()
    })
    .await;
    let (_, rb) = pair.b.admin("GET", "/lifecycle", None).await;
    assert_eq!(rb["running_here"], true);
    assert!(rb["objects_expired"].as_u64().unwrap() >= 1, "{rb}");
}
