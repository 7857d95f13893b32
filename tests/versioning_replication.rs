//! Versioned buckets across two zones: every version and delete marker reaches the
//! secondary with the same id, ETag, Last-Modified and order; version deletions and
//! settings changes follow; a full resync compares versions; a partition drill on a
//! versioned bucket sets the divergent version aside and leaves every surviving version
//! byte-identical.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Tag, Tagging};
use common::zones::{caught_up, proxied_pair, status, wait_for, Pair, Ports};
use common::{all_versions, data, get_version, set_versioning, Server};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(60);

async fn put_v(c: &aws_sdk_s3::Client, bucket: &str, key: &str, body: Vec<u8>) -> String {
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"))
        .version_id()
        .unwrap_or("null")
        .to_string()
}

/// Both zones list the same versions and markers, and every version reads the same bytes
/// and tags on both.
async fn assert_same_versions(a: &Server, b: &Server, bucket: &str) -> usize {
    let (ca, cb) = (a.client(), b.client());
    let on_a = all_versions(&ca, bucket, 1000).await;
    let on_b = all_versions(&cb, bucket, 1000).await;
    assert_eq!(on_a, on_b, "version listings differ");
    for (key, id, ..) in &on_a.0 {
        assert_eq!(
            get_version(&ca, bucket, key, id).await,
            get_version(&cb, bucket, key, id).await,
            "{key}@{id}"
        );
        let tags = |c: aws_sdk_s3::Client| {
            let (key, id) = (key.clone(), id.clone());
            let bucket = bucket.to_string();
            async move {
                c.get_object_tagging()
                    .bucket(bucket)
                    .key(key)
                    .version_id(id)
                    .send()
                    .await
                    .expect("tags")
                    .tag_set()
                    .iter()
                    .map(|t| format!("{}={}", t.key(), t.value()))
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(tags(ca.clone()).await, tags(cb.clone()).await, "{key}@{id}");
    }
    on_a.0.len() + on_a.1.len()
}

#[tokio::test(flavor = "multi_thread")]
async fn versions_replicate_version_for_version() {
    let pair = Pair::start("");
    let a = pair.a.client();
    a.create_bucket().bucket("vbkt").send().await.unwrap();
    put_v(&a, "vbkt", "before", data(500, 1)).await;
    set_versioning(&a, "vbkt", "Enabled").await;
    let v1 = put_v(&a, "vbkt", "lecture.mp4", data(200_000, 2)).await;
    let v2 = put_v(&a, "vbkt", "lecture.mp4", data(300, 3)).await;
    put_v(&a, "vbkt", "lecture.mp4", data(150_000, 4)).await;
    put_v(&a, "vbkt", "before", data(10, 5)).await;
    a.delete_object()
        .bucket("vbkt")
        .key("gone")
        .send()
        .await
        .unwrap();
    put_v(&a, "vbkt", "deleted", data(20, 6)).await;
    a.delete_object()
        .bucket("vbkt")
        .key("deleted")
        .send()
        .await
        .unwrap();
    a.delete_object()
        .bucket("vbkt")
        .key("lecture.mp4")
        .version_id(&v2)
        .send()
        .await
        .unwrap();
    a.put_object_tagging()
        .bucket("vbkt")
        .key("lecture.mp4")
        .version_id(&v1)
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key("term").value("2025").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    set_versioning(&a, "vbkt", "Suspended").await;
    put_v(&a, "vbkt", "before", data(30, 7)).await;
    caught_up(&pair.a, &pair.b, WITHIN).await;
    let n = assert_same_versions(&pair.a, &pair.b, "vbkt").await;
    assert_eq!(n, 7, "versions and markers in all");
    let v = pair
        .b
        .client()
        .get_bucket_versioning()
        .bucket("vbkt")
        .send()
        .await
        .unwrap();
    assert_eq!(v.status().map(|s| s.as_str()), Some("Suspended"));
    // Removing the last versions replicates too.
    a.delete_object()
        .bucket("vbkt")
        .key("lecture.mp4")
        .version_id(&v1)
        .send()
        .await
        .unwrap();
    caught_up(&pair.a, &pair.b, WITHIN).await;
    assert_eq!(assert_same_versions(&pair.a, &pair.b, "vbkt").await, 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_resync_compares_versions() {
    let (a_ports, b_ports) = (Ports::new(), Ports::new());
    let cfg = "journal_retention = 5";
    let primary = common::zones::zone("primary", &a_ports, b_ports.admin, cfg, &[]);
    let a = primary.client();
    a.create_bucket().bucket("vbkt").send().await.unwrap();
    set_versioning(&a, "vbkt", "Enabled").await;
    let mut ids = Vec::new();
    for i in 0..12 {
        let key = format!("k{}", i % 4);
        let size = if i % 5 == 0 { 90_000 } else { 100 + i };
        ids.push((
            key.clone(),
            put_v(&a, "vbkt", &key, data(size, i as u8)).await,
        ));
    }
    a.delete_object()
        .bucket("vbkt")
        .key("k1")
        .send()
        .await
        .unwrap();
    a.delete_object()
        .bucket("vbkt")
        .key(&ids[2].0)
        .version_id(&ids[2].1)
        .send()
        .await
        .unwrap();
    wait_for(&primary, WITHIN, "journal trim", |s| {
        s["journal_floor"].as_u64().unwrap_or(0) > 5
    })
    .await;
    let mut secondary = common::zones::zone("secondary", &b_ports, a_ports.admin, cfg, &[]);
    secondary.access_key = primary.access_key.clone();
    secondary.secret_key = primary.secret_key.clone();
    caught_up(&primary, &secondary, WITHIN).await;
    let sb = status(&secondary).await;
    assert!(
        sb["replication"]["resyncs_completed"].as_u64().unwrap_or(0) >= 1,
        "a full resync ran: {sb:#}"
    );
    assert_eq!(assert_same_versions(&primary, &secondary, "vbkt").await, 12);
}

#[tokio::test(flavor = "multi_thread")]
async fn partition_on_a_versioned_bucket_sets_the_divergent_version_aside() {
    let (za, zb, to_a, to_b) = proxied_pair().await;
    let (a, b) = (za.client(), zb.client());
    a.create_bucket().bucket("vbkt").send().await.unwrap();
    set_versioning(&a, "vbkt", "Enabled").await;
    let old = put_v(&a, "vbkt", "exam", data(80_000, 1)).await;
    put_v(&a, "vbkt", "exam", data(700, 2)).await;
    put_v(&a, "vbkt", "notes", data(300, 3)).await;
    caught_up(&za, &zb, WITHIN).await;

    to_a.cut();
    to_b.cut();
    wait_for(&zb, WITHIN, "B to notice the cut", |s| {
        s["peer_reachable"] == false
    })
    .await;
    // On A only: a new version, a delete marker, and the removal of a version B keeps.
    let divergent = put_v(&a, "vbkt", "exam", data(90_000, 9)).await;
    a.delete_object()
        .bucket("vbkt")
        .key("notes")
        .send()
        .await
        .unwrap();
    a.delete_object()
        .bucket("vbkt")
        .key("exam")
        .version_id(&old)
        .send()
        .await
        .unwrap();
    let (st, promo) = zb.admin("POST", "/zone/promote", None).await;
    assert_eq!(st, 200, "{promo}");
    let after = put_v(&b, "vbkt", "exam", data(1_000, 20)).await;

    to_a.heal();
    to_b.heal();
    wait_for(&za, WITHIN, "A to demote itself", |s| {
        s["role"] == "secondary"
    })
    .await;
    wait_for(&za, WITHIN, "A to finish its rejoin", |s| {
        s["rejoin_after"].is_null() && s["resync"].is_null()
    })
    .await;
    caught_up(&zb, &za, WITHIN).await;
    // Every surviving version is byte-identical on both sides; the divergent one is
    // nowhere in the namespace, and the version A had removed is back.
    assert_same_versions(&zb, &za, "vbkt").await;
    let (versions, markers) = all_versions(&a, "vbkt", 1000).await;
    let ids: Vec<&str> = versions.iter().map(|v| v.1.as_str()).collect();
    assert!(!ids.contains(&divergent.as_str()), "{ids:?}");
    assert!(
        ids.contains(&old.as_str()) && ids.contains(&after.as_str()),
        "{ids:?}"
    );
    assert!(markers.is_empty(), "A's marker was divergent: {markers:?}");
    assert_eq!(get_version(&a, "vbkt", "exam", &old).await, data(80_000, 1));
    // The divergent version is set aside with its data, never merged.
    let (st, list) = za.admin("GET", "/zone/divergent", None).await;
    assert_eq!(st, 200);
    let set_aside = list
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["key"] == "exam" && q["kind"] == "put_object")
        .unwrap_or_else(|| panic!("no divergent version in {list:#}"))
        .clone();
    assert_eq!(set_aside["record"]["version_id"], divergent.as_str());
    let (st, bytes) = za.divergent_data(set_aside["id"].as_str().unwrap()).await;
    assert_eq!((st, bytes), (200, data(90_000, 9)));
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_state_replicates_and_a_promoted_zone_enforces_it() {
    use aws_sdk_s3::primitives::DateTime;
    use aws_sdk_s3::types::ObjectLockMode;
    let mut pair = Pair::start("");
    let a = pair.a.client();
    a.create_bucket()
        .bucket("exams")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    let until = DateTime::from(std::time::SystemTime::now() + Duration::from_secs(86_400));
    let mut locked = Vec::new();
    for mode in [ObjectLockMode::Compliance, ObjectLockMode::Governance] {
        let v = a
            .put_object()
            .bucket("exams")
            .key(format!("{}.pdf", mode.as_str()))
            .body(ByteStream::from_static(b"grades"))
            .object_lock_mode(mode.clone())
            .object_lock_retain_until_date(until)
            .send()
            .await
            .unwrap()
            .version_id()
            .unwrap()
            .to_string();
        locked.push((format!("{}.pdf", mode.as_str()), v));
    }
    caught_up(&pair.a, &pair.b, WITHIN).await;
    pair.a.kill();
    let (st, v) = pair.b.admin("POST", "/zone/promote", None).await;
    assert_eq!(st, 200, "{v}");
    let b = pair.b.client();
    for (key, id) in &locked {
        let head = b
            .head_object()
            .bucket("exams")
            .key(key)
            .version_id(id)
            .send()
            .await
            .unwrap();
        assert!(head.object_lock_mode().is_some(), "{key}");
        let e = b
            .delete_object()
            .bucket("exams")
            .key(key)
            .version_id(id)
            .send()
            .await
            .unwrap_err();
        assert_eq!(common::err_code(&e), "AccessDenied", "{key}");
    }
    // The promoted zone's administrator may bypass governance, never compliance.
    let e = b
        .delete_object()
        .bucket("exams")
        .key(&locked[0].0)
        .version_id(&locked[0].1)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap_err();
    assert_eq!(common::err_code(&e), "AccessDenied");
    b.delete_object()
        .bucket("exams")
        .key(&locked[1].0)
        .version_id(&locked[1].1)
        .bypass_governance_retention(true)
        .send()
        .await
        .unwrap();
}
