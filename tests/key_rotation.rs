//! Key rotation under load (issue 17): a rotation makes the new version wrap new data keys
//! while writes go on; the re-wrap worker wraps the older data keys again (the secondary's
//! records follow through the journal); a version is retired only once the counts kept
//! with every change say nothing needs it; afterwards every object still reads, on both
//! zones, with its own bytes.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, CompletedMultipartUpload, CompletedPart, ServerSideEncryption,
    VersioningConfiguration,
};
use base64::Engine;
use common::zones::{caught_up, Pair};
use common::Server;
use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WITHIN: Duration = Duration::from_secs(90);

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

/// Stored segments each version of `key` wraps, by version.
async fn segments(z: &Server, key: &str) -> Vec<(u64, u64)> {
    let (st, k) = z
        .admin(
            "GET",
            &format!("/kms/keys/{}", key.replace('/', "%2F")),
            None,
        )
        .await;
    assert_eq!(st, 200, "{k}");
    k["segments"]
        .as_array()
        .expect("segments")
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["segments"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn retire(z: &Server, key: &str, version: u64) -> (u16, Value) {
    z.admin(
        "POST",
        &format!("/kms/keys/{}/retire", key.replace('/', "%2F")),
        Some(json!({ "version": version })),
    )
    .await
}

async fn read(c: &aws_sdk_s3::Client, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .set_version_id(version.map(String::from))
        .send()
        .await
        .unwrap_or_else(|e| panic!("get {bucket}/{key} {version:?}: {e:?}"))
        .body
        .collect()
        .await
        .expect("body")
        .to_vec()
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_under_load_rewraps_every_data_key_and_retires_the_old_version() {
    // Small, slow steps: the re-wrap takes long enough to see a retirement refused.
    let pair = Pair::start("[encryption]\nrewrap_batch = 2\nrewrap_pause_ms = 300");
    let (a, b) = (&pair.a, &pair.b);
    let c = a.client();
    let (st, k) = a
        .admin("POST", "/kms/keys", Some(json!({"name": "course-data"})))
        .await;
    assert_eq!(st, 200, "{k}");
    for bucket in ["courses", "exams"] {
        c.create_bucket().bucket(bucket).send().await.unwrap();
    }
    c.put_bucket_versioning()
        .bucket("exams")
        .versioning_configuration(
            VersioningConfiguration::builder()
                .status(BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();

    // Before the rotation: SSE-S3 objects inline and on disk, two versions of one key,
    // SSE-KMS objects with a context, a plaintext one, and an upload with its first part.
    let mut expected: Vec<(String, String, Option<String>, Vec<u8>)> = Vec::new();
    for (i, len) in [1_000usize, 200_000, 3_000, 700_000]
        .into_iter()
        .enumerate()
    {
        let key = format!("s3-{i}");
        let data = random(len, i as u64);
        c.put_object()
            .bucket("courses")
            .key(&key)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        expected.push(("courses".into(), key, None, data));
    }
    for n in 0..2u64 {
        let data = random(90_000, 100 + n);
        let put = c
            .put_object()
            .bucket("exams")
            .key("paper.pdf")
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        expected.push(("exams".into(), "paper.pdf".into(), put.version_id, data));
    }
    let context = base64::engine::general_purpose::STANDARD.encode(r#"{"course":"math"}"#);
    for i in 0..3u64 {
        let key = format!("kms-{i}");
        let data = random(5_000 + 100_000 * i as usize, 200 + i);
        c.put_object()
            .bucket("courses")
            .key(&key)
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .ssekms_key_id("course-data")
            .ssekms_encryption_context(&context)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        expected.push(("courses".into(), key, None, data));
    }
    let plain = random(4_000, 300);
    common::put(&c, "courses", "plain", plain.clone()).await;
    expected.push(("courses".into(), "plain".into(), None, plain));
    // Deleting an encrypted object takes its segment out of the counts.
    c.put_object()
        .bucket("courses")
        .key("gone")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .body(ByteStream::from_static(b"soon deleted"))
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("courses")
        .key("gone")
        .send()
        .await
        .unwrap();
    let up = c
        .create_multipart_upload()
        .bucket("courses")
        .key("video.mp4")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("course-data")
        .send()
        .await
        .unwrap();
    let upload_id = up.upload_id.clone().unwrap();
    let part1 = random(5 * 1024 * 1024, 400);
    let p1 = c
        .upload_part()
        .bucket("courses")
        .key("video.mp4")
        .upload_id(&upload_id)
        .part_number(1)
        .body(ByteStream::from(part1.clone()))
        .send()
        .await
        .unwrap();

    // The counts kept with every change: one segment per object version, per part.
    assert_eq!(segments(a, "aws/s3").await, vec![(1, 6)]);
    assert_eq!(segments(a, "course-data").await, vec![(1, 4)]);

    // Writes go on while both keys rotate.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (c, stop, written) = (c.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            let mut out = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) && i < 200 {
                let key = format!("load-{i}");
                let data = random(2_000 + (i as usize % 5) * 30_000, 1_000 + i);
                let sse = if i.is_multiple_of(2) {
                    ServerSideEncryption::Aes256
                } else {
                    ServerSideEncryption::AwsKms
                };
                let mut put = c
                    .put_object()
                    .bucket("courses")
                    .key(&key)
                    .server_side_encryption(sse.clone())
                    .body(ByteStream::from(data.clone()));
                if sse == ServerSideEncryption::AwsKms {
                    put = put.ssekms_key_id("course-data");
                }
                put.send()
                    .await
                    .unwrap_or_else(|e| panic!("put {key} under rotation: {e:?}"));
                out.push(("courses".to_string(), key, None, data));
                written.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
            out
        })
    };
    let deadline = Instant::now() + WITHIN;
    while written.load(Ordering::Relaxed) < 5 {
        assert!(Instant::now() < deadline, "the writer did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for key in ["aws%2Fs3", "course-data"] {
        let (st, k) = a
            .admin("POST", &format!("/kms/keys/{key}/rotate"), None)
            .await;
        assert_eq!(st, 200, "{k}");
        assert_eq!(k["active_version"], 2, "{k}");
    }
    // Version 1 still wraps data keys: retiring it now would lose them.
    let (st, refused) = retire(a, "aws/s3", 1).await;
    assert_eq!(st, 409, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("aws/s3#1"),
        "{refused}"
    );
    // The active version cannot be retired; an unknown one is not found.
    let (st, v) = retire(a, "aws/s3", 2).await;
    assert_eq!(st, 409, "{v}");
    let (st, v) = retire(a, "course-data", 7).await;
    assert_eq!(st, 404, "{v}");

    // The upload's second part is sealed under version 2; its first under version 1
    // (or re-wrapped meanwhile): the object reads whole either way.
    let part2 = random(300_000, 401);
    let p2 = c
        .upload_part()
        .bucket("courses")
        .key("video.mp4")
        .upload_id(&upload_id)
        .part_number(2)
        .body(ByteStream::from(part2.clone()))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    expected.extend(writer.await.expect("the writer's result"));
    c.complete_multipart_upload()
        .bucket("courses")
        .key("video.mp4")
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .e_tag(p1.e_tag.unwrap())
                        .build(),
                )
                .parts(
                    CompletedPart::builder()
                        .part_number(2)
                        .e_tag(p2.e_tag.unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    expected.push((
        "courses".into(),
        "video.mp4".into(),
        None,
        [part1, part2].concat(),
    ));

    // The worker brings version 1 to 0 for both keys.
    let report = loop {
        let (st, r) = a.admin("GET", "/kms/rewrap", None).await;
        assert_eq!(st, 200, "{r}");
        if r["pending"].as_array().is_some_and(|p| p.is_empty()) && r["bucket"].is_null() {
            break r;
        }
        assert!(Instant::now() < deadline, "re-wrap did not finish: {r:#}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        report["segments_rewrapped"].as_u64().unwrap() >= 10,
        "{report}"
    );
    assert_eq!(report["errors"], 0, "{report}");
    for key in ["aws/s3", "course-data"] {
        let s = segments(a, key).await;
        assert_eq!(
            s.iter().find(|(v, _)| *v == 1).map(|x| x.1),
            Some(0),
            "{key}: {s:?}"
        );
        let (st, k) = retire(a, key, 1).await;
        assert_eq!(st, 200, "{k}");
        assert_eq!(k["versions"], json!([2]), "{k}");
    }
    // Every encrypted version counts once, under version 2 (the video has two parts).
    let encrypted = expected.iter().filter(|e| e.1 != "plain").count() as u64 + 1;
    let mut total = 0;
    for key in ["aws/s3", "course-data"] {
        total += segments(a, key).await.iter().map(|(_, n)| n).sum::<u64>();
    }
    assert_eq!(total, encrypted);

    // Every object reads with its own bytes on the primary, then on the secondary, which
    // received the key records and the re-wrapped seals through the journal: version 1's
    // material is gone there too, so a seal it missed would not open.
    caught_up(a, b, WITHIN).await;
    for zone in [a, b] {
        let zc = zone.client();
        for (bucket, key, version, data) in &expected {
            let got = read(&zc, bucket, key, version.as_deref()).await;
            assert!(got == *data, "{bucket}/{key} {version:?} on {}", zone.s3);
        }
    }
    for key in ["aws/s3", "course-data"] {
        assert_eq!(segments(b, key).await, segments(a, key).await, "{key}");
    }
}
