//! Encryption at rest as AWS documents it for clients: SSE-S3, SSE-KMS against the built-in
//! key service, SSE-C, bucket default encryption; every write path; range reads; and a
//! "stolen disk" search of every file a zone writes (secondary included) for the plaintext
//! and the customer's key.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use base64::Engine;
use common::{err_code, Server};
use md5::{Digest, Md5};
use rand::{RngCore, SeedableRng};
use std::path::Path;
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// Random bytes (plaintext a stolen-disk search can tell apart from anything else).
fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut out = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut out);
    out
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A customer key: (base64 key, base64 MD5).
fn customer_key(seed: u64) -> (Vec<u8>, String, String) {
    let key = random(32, seed);
    let md5 = b64(&Md5::digest(&key));
    let k = b64(&key);
    (key, k, md5)
}

fn server() -> Server {
    let mut srv = Server::prepare(&[], |_| {});
    let cfg = srv.write_config("[encryption]\nallow_insecure_sse_c = true\n");
    srv.add_args(&["--config", &cfg]);
    srv.spawn();
    srv
}

async fn body(c: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Vec<u8> {
    c.get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap()
        .to_vec()
}

async fn multipart(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    data: &[u8],
    sse: Option<ServerSideEncryption>,
    kms_key: Option<&str>,
) -> String {
    let up = c
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .set_server_side_encryption(sse.clone())
        .set_ssekms_key_id(kms_key.map(String::from))
        .send()
        .await
        .unwrap();
    assert_eq!(up.server_side_encryption, sse);
    let id = up.upload_id.unwrap();
    let mut parts = Vec::new();
    for (i, chunk) in data.chunks(5 * MIB).enumerate() {
        let n = i as i32 + 1;
        let p = c
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(&id)
            .part_number(n)
            .body(ByteStream::from(chunk.to_vec()))
            .send()
            .await
            .unwrap();
        assert_eq!(p.server_side_encryption, sse);
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .e_tag(p.e_tag.unwrap())
                .build(),
        );
    }
    let done = c
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(done.server_side_encryption, sse);
    done.e_tag.unwrap()
}

#[tokio::test]
async fn sse_s3_on_every_write_path_reads_back_with_ranges() {
    let srv = server();
    let c = srv.client();
    c.create_bucket().bucket("courses").send().await.unwrap();
    for (key, len) in [
        ("small.pdf", 1000),
        ("chunk.pdf", 65_536),
        ("video.mp4", 3 * MIB + 17),
    ] {
        let data = random(len, len as u64);
        let put = c
            .put_object()
            .bucket("courses")
            .key(key)
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(
            put.server_side_encryption,
            Some(ServerSideEncryption::Aes256)
        );
        // A single PUT's ETag stays the MD5 of the plaintext.
        assert_eq!(
            put.e_tag.as_deref(),
            Some(format!("\"{}\"", hex::encode(Md5::digest(&data))).as_str())
        );
        let head = c
            .head_object()
            .bucket("courses")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            head.server_side_encryption,
            Some(ServerSideEncryption::Aes256)
        );
        assert_eq!(
            head.content_length,
            Some(len as i64),
            "sizes are plaintext sizes"
        );
        assert_eq!(body(&c, "courses", key).await, data, "{key}");
        for (a, b) in [
            (0, 0),
            (len - 1, len - 1),
            (len / 3, len - 2),
            (65_535.min(len - 1), len - 1),
        ] {
            let got = c
                .get_object()
                .bucket("courses")
                .key(key)
                .range(format!("bytes={a}-{b}"))
                .send()
                .await
                .unwrap();
            assert_eq!(
                got.server_side_encryption,
                Some(ServerSideEncryption::Aes256)
            );
            let bytes = got.body.collect().await.unwrap().to_vec();
            assert_eq!(bytes, &data[a..=b], "{key} {a}-{b}");
        }
    }
    // Copies: with the header the copy is encrypted; without one (no bucket default) it is not.
    let copied = c
        .copy_object()
        .bucket("courses")
        .key("copy.mp4")
        .copy_source("courses/video.mp4")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        copied.server_side_encryption,
        Some(ServerSideEncryption::Aes256)
    );
    assert_eq!(
        body(&c, "courses", "copy.mp4").await,
        body(&c, "courses", "video.mp4").await
    );
    let plain = c
        .copy_object()
        .bucket("courses")
        .key("plain.mp4")
        .copy_source("courses/video.mp4")
        .send()
        .await
        .unwrap();
    assert_eq!(plain.server_side_encryption, None);
    let head = c
        .head_object()
        .bucket("courses")
        .key("plain.mp4")
        .send()
        .await
        .unwrap();
    assert_eq!(head.server_side_encryption, None);
    // Copying an object onto itself to encrypt it is allowed (its encryption changes).
    c.put_object()
        .bucket("courses")
        .key("later.pdf")
        .body(ByteStream::from(random(70_000, 9)))
        .send()
        .await
        .unwrap();
    c.copy_object()
        .bucket("courses")
        .key("later.pdf")
        .copy_source("courses/later.pdf")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    let head = c
        .head_object()
        .bucket("courses")
        .key("later.pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption,
        Some(ServerSideEncryption::Aes256)
    );
    assert_eq!(body(&c, "courses", "later.pdf").await, random(70_000, 9));

    // Multipart: every part sealed with its own key; whole, ranged and per-part reads.
    let data = random(11 * MIB + 3, 77);
    multipart(
        &c,
        "courses",
        "lecture.mkv",
        &data,
        Some(ServerSideEncryption::Aes256),
        None,
    )
    .await;
    assert_eq!(body(&c, "courses", "lecture.mkv").await, data);
    let part2 = c
        .get_object()
        .bucket("courses")
        .key("lecture.mkv")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(
        part2.server_side_encryption,
        Some(ServerSideEncryption::Aes256)
    );
    assert_eq!(
        part2.body.collect().await.unwrap().to_vec(),
        &data[5 * MIB..10 * MIB]
    );
    let across = c
        .get_object()
        .bucket("courses")
        .key("lecture.mkv")
        .range(format!("bytes={}-{}", 5 * MIB - 10, 5 * MIB + 10))
        .send()
        .await
        .unwrap();
    assert_eq!(
        across.body.collect().await.unwrap().to_vec(),
        &data[5 * MIB - 10..=5 * MIB + 10]
    );

    // Unknown algorithms and dual-layer KMS are refused, never stored in clear; an SSE
    // header on a read is refused as AWS refuses it.
    for (method, path, algorithm, want) in [
        ("PUT", "/courses/x", "AES128", (400, "InvalidArgument")),
        ("PUT", "/courses/x", "aws:kms:dsse", (501, "NotImplemented")),
        (
            "GET",
            "/courses/small.pdf",
            "AES256",
            (400, "InvalidArgument"),
        ),
    ] {
        let body = if method == "PUT" {
            b"x".to_vec()
        } else {
            Vec::new()
        };
        let r = srv
            .raw()
            .send(
                method,
                path,
                &[("x-amz-server-side-encryption", algorithm)],
                body,
                true,
                None,
            )
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            want,
            "{algorithm}: {}",
            r.text()
        );
    }
    let missing = c.head_object().bucket("courses").key("x").send().await;
    assert!(missing.is_err(), "nothing was stored by the refused writes");
}

#[tokio::test]
async fn sse_c_needs_the_right_key_everywhere() {
    let srv = server();
    let c = srv.client();
    c.create_bucket().bucket("exams").send().await.unwrap();
    let (_, key, md5) = customer_key(1);
    let (_, other, other_md5) = customer_key(2);
    for (name, len) in [("grades.csv", 500), ("paper.pdf", MIB + 5)] {
        let data = random(len, 3);
        let put = c
            .put_object()
            .bucket("exams")
            .key(name)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key)
            .sse_customer_key_md5(&md5)
            .body(ByteStream::from(data.clone()))
            .send()
            .await
            .unwrap();
        assert_eq!(put.sse_customer_algorithm.as_deref(), Some("AES256"));
        assert_eq!(put.sse_customer_key_md5.as_deref(), Some(md5.as_str()));
        // Without the key: 400, on GET and HEAD alike.
        let e = c
            .get_object()
            .bucket("exams")
            .key(name)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e), "InvalidRequest");
        let e = c
            .head_object()
            .bucket("exams")
            .key(name)
            .send()
            .await
            .unwrap_err();
        assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
        // The wrong key: 403.
        let e = c
            .get_object()
            .bucket("exams")
            .key(name)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&other)
            .sse_customer_key_md5(&other_md5)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e), "AccessDenied");
        let got = c
            .get_object()
            .bucket("exams")
            .key(name)
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key)
            .sse_customer_key_md5(&md5)
            .range("bytes=100-299")
            .send()
            .await
            .unwrap();
        assert_eq!(got.sse_customer_key_md5.as_deref(), Some(md5.as_str()));
        assert_eq!(got.body.collect().await.unwrap().to_vec(), &data[100..300]);
    }
    // A key given for a plaintext object is refused.
    c.put_object()
        .bucket("exams")
        .key("open.txt")
        .body(ByteStream::from_static(b"open"))
        .send()
        .await
        .unwrap();
    let e = c
        .get_object()
        .bucket("exams")
        .key("open.txt")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
    // A key whose MD5 does not match, a short key, a missing algorithm: 400 before any byte.
    for headers in [
        vec![
            ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
            ("x-amz-server-side-encryption-customer-key", key.as_str()),
            (
                "x-amz-server-side-encryption-customer-key-md5",
                other_md5.as_str(),
            ),
        ],
        vec![
            ("x-amz-server-side-encryption-customer-algorithm", "AES256"),
            ("x-amz-server-side-encryption-customer-key", "c2hvcnQ="),
            (
                "x-amz-server-side-encryption-customer-key-md5",
                md5.as_str(),
            ),
        ],
        vec![
            ("x-amz-server-side-encryption-customer-key", key.as_str()),
            (
                "x-amz-server-side-encryption-customer-key-md5",
                md5.as_str(),
            ),
        ],
        vec![("x-amz-server-side-encryption-customer-algorithm", "AES256")],
    ] {
        let r = srv
            .raw()
            .send("PUT", "/exams/bad", &headers, b"data".to_vec(), true, None)
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidArgument"),
            "{headers:?}: {}",
            r.text()
        );
    }
    // Copy an SSE-C object: the source key is needed; the copy gets a key of its own.
    let copy = c
        .copy_object()
        .bucket("exams")
        .key("paper-copy.pdf")
        .copy_source("exams/paper.pdf")
        .copy_source_sse_customer_algorithm("AES256")
        .copy_source_sse_customer_key(&key)
        .copy_source_sse_customer_key_md5(&md5)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&other)
        .sse_customer_key_md5(&other_md5)
        .send()
        .await
        .unwrap();
    assert_eq!(
        copy.sse_customer_key_md5.as_deref(),
        Some(other_md5.as_str())
    );
    let e = c
        .copy_object()
        .bucket("exams")
        .key("stolen.pdf")
        .copy_source("exams/paper.pdf")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRequest");
    let got = c
        .get_object()
        .bucket("exams")
        .key("paper-copy.pdf")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&other)
        .sse_customer_key_md5(&other_md5)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().to_vec(),
        random(MIB + 5, 3)
    );

    // Multipart: every part must carry the upload's key.
    let up = c
        .create_multipart_upload()
        .bucket("exams")
        .key("thesis.pdf")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    let id = up.upload_id.unwrap();
    let e = c
        .upload_part()
        .bucket("exams")
        .key("thesis.pdf")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"no key"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRequest");
    let e = c
        .upload_part()
        .bucket("exams")
        .key("thesis.pdf")
        .upload_id(&id)
        .part_number(1)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&other)
        .sse_customer_key_md5(&other_md5)
        .body(ByteStream::from_static(b"other key"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidArgument");
    let p = c
        .upload_part()
        .bucket("exams")
        .key("thesis.pdf")
        .upload_id(&id)
        .part_number(1)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .body(ByteStream::from_static(b"the thesis"))
        .send()
        .await
        .unwrap();
    let done = CompletedMultipartUpload::builder()
        .parts(
            CompletedPart::builder()
                .part_number(1)
                .e_tag(p.e_tag.unwrap())
                .build(),
        )
        .build();
    // Completing takes the upload's key too.
    let e = c
        .complete_multipart_upload()
        .bucket("exams")
        .key("thesis.pdf")
        .upload_id(&id)
        .multipart_upload(done.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRequest");
    c.complete_multipart_upload()
        .bucket("exams")
        .key("thesis.pdf")
        .upload_id(&id)
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .multipart_upload(done)
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("exams")
        .key("thesis.pdf")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    assert_eq!(got.body.collect().await.unwrap().to_vec(), b"the thesis");
}

#[tokio::test]
async fn sse_c_over_plain_http_is_refused_by_default() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("exams").send().await.unwrap();
    let (_, key, md5) = customer_key(1);
    let e = c
        .put_object()
        .bucket("exams")
        .key("k")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRequest");
}

#[tokio::test]
async fn sse_kms_keys_are_named_checked_disabled_and_rotated() {
    let srv = server();
    let c = srv.client();
    c.create_bucket().bucket("grades").send().await.unwrap();
    let (st, k) = srv
        .admin(
            "POST",
            "/kms/keys",
            Some(serde_json::json!({"name": "course-data"})),
        )
        .await;
    assert_eq!(st, 200, "{k}");
    assert!(k.get("wrapped").is_none() && !k.to_string().contains("material"));
    let (st, _) = srv
        .admin(
            "POST",
            "/kms/keys",
            Some(serde_json::json!({"name": "course-data"})),
        )
        .await;
    assert_eq!(st, 409);

    let data = random(200_000, 5);
    let context = b64(br#"{"course":"math-101"}"#);
    let put = c
        .put_object()
        .bucket("grades")
        .key("math.csv")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("course-data")
        .ssekms_encryption_context(&context)
        .body(ByteStream::from(data.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption,
        Some(ServerSideEncryption::AwsKms)
    );
    assert_eq!(put.ssekms_key_id.as_deref(), Some("course-data"));
    let got = c
        .get_object()
        .bucket("grades")
        .key("math.csv")
        .send()
        .await
        .unwrap();
    assert_eq!(got.ssekms_key_id.as_deref(), Some("course-data"));
    assert_eq!(got.body.collect().await.unwrap().to_vec(), data);
    // Without a key id: the zone's key (AWS's aws/s3).
    let put = c
        .put_object()
        .bucket("grades")
        .key("default.csv")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .body(ByteStream::from_static(b"d"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.ssekms_key_id.as_deref(), Some("aws/s3"));
    // A multipart upload under the key.
    let big = random(6 * MIB, 6);
    multipart(
        &c,
        "grades",
        "all.csv",
        &big,
        Some(ServerSideEncryption::AwsKms),
        Some("course-data"),
    )
    .await;
    assert_eq!(body(&c, "grades", "all.csv").await, big);

    // A part may repeat its upload's encryption, never claim another.
    let up = c
        .create_multipart_upload()
        .bucket("grades")
        .key("parts.csv")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("course-data")
        .send()
        .await
        .unwrap();
    let path = format!(
        "/grades/parts.csv?partNumber=1&uploadId={}",
        up.upload_id.unwrap()
    );
    for (headers, status) in [
        (vec![("x-amz-server-side-encryption", "aws:kms")], 200),
        (
            vec![
                ("x-amz-server-side-encryption", "aws:kms"),
                ("x-amz-server-side-encryption-aws-kms-key-id", "course-data"),
            ],
            200,
        ),
        (vec![("x-amz-server-side-encryption", "AES256")], 400),
        (
            vec![
                ("x-amz-server-side-encryption", "aws:kms"),
                ("x-amz-server-side-encryption-aws-kms-key-id", "aws/s3"),
            ],
            400,
        ),
    ] {
        let r = srv
            .raw()
            .send("PUT", &path, &headers, b"part".to_vec(), true, None)
            .await;
        assert_eq!(r.status, status, "{headers:?}: {}", r.text());
    }

    // Unknown key: 400 KMS.NotFoundException, nothing stored.
    let e = c
        .put_object()
        .bucket("grades")
        .key("nope.csv")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("no-such-key")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "KMS.NotFoundException");
    // A key id without aws:kms is refused.
    let r = srv
        .raw()
        .send(
            "PUT",
            "/grades/y",
            &[("x-amz-server-side-encryption-aws-kms-key-id", "course-data")],
            b"y".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));

    // Rotation: new data keys use version 2; what version 1 wrapped still opens.
    let (st, k) = srv
        .admin("POST", "/kms/keys/course-data/rotate", None)
        .await;
    assert_eq!(st, 200, "{k}");
    assert_eq!(k["active_version"], 2);
    assert_eq!(body(&c, "grades", "math.csv").await, data);
    c.put_object()
        .bucket("grades")
        .key("after.csv")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("course-data")
        .body(ByteStream::from_static(b"after rotation"))
        .send()
        .await
        .unwrap();
    assert_eq!(body(&c, "grades", "after.csv").await, b"after rotation");
    // The zone key rotates too.
    let (st, _) = srv.admin("POST", "/kms/keys/aws%2Fs3/rotate", None).await;
    assert_eq!(st, 200);
    assert_eq!(body(&c, "grades", "default.csv").await, b"d");

    // Disabled: writes and reads under the key are refused (KMS.DisabledException).
    let (st, _) = srv
        .admin("POST", "/kms/keys/course-data/disable", None)
        .await;
    assert_eq!(st, 200);
    let e = c
        .get_object()
        .bucket("grades")
        .key("math.csv")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "KMS.DisabledException");
    let e = c
        .put_object()
        .bucket("grades")
        .key("z.csv")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("course-data")
        .body(ByteStream::from_static(b"z"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "KMS.DisabledException");
    let (st, _) = srv.admin("POST", "/kms/keys/aws%2Fs3/disable", None).await;
    assert_eq!(st, 400, "the zone key cannot be disabled");
    let (st, _) = srv
        .admin("POST", "/kms/keys/course-data/enable", None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(body(&c, "grades", "math.csv").await, data);
    let (st, list) = srv.admin("GET", "/kms/keys", None).await;
    assert_eq!(st, 200);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect();
    assert_eq!(ids, vec!["aws/s3", "course-data"]);
}

#[tokio::test]
async fn bucket_default_encryption_applies_to_writes_without_headers() {
    let srv = server();
    let c = srv.client();
    c.create_bucket().bucket("defaults").send().await.unwrap();
    let e = c
        .get_bucket_encryption()
        .bucket("defaults")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        "ServerSideEncryptionConfigurationNotFoundError"
    );
    let rule = |alg: ServerSideEncryption, key: Option<&str>| {
        ServerSideEncryptionConfiguration::builder()
            .rules(
                ServerSideEncryptionRule::builder()
                    .apply_server_side_encryption_by_default(
                        ServerSideEncryptionByDefault::builder()
                            .sse_algorithm(alg)
                            .set_kms_master_key_id(key.map(String::from))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
            .unwrap()
    };
    c.put_bucket_encryption()
        .bucket("defaults")
        .server_side_encryption_configuration(rule(ServerSideEncryption::Aes256, None))
        .send()
        .await
        .unwrap();
    let got = c
        .get_bucket_encryption()
        .bucket("defaults")
        .send()
        .await
        .unwrap();
    let r = &got.server_side_encryption_configuration.unwrap().rules[0];
    assert_eq!(
        r.apply_server_side_encryption_by_default
            .as_ref()
            .unwrap()
            .sse_algorithm,
        ServerSideEncryption::Aes256
    );
    let put = c
        .put_object()
        .bucket("defaults")
        .key("k")
        .body(ByteStream::from_static(b"default"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        put.server_side_encryption,
        Some(ServerSideEncryption::Aes256)
    );
    // SSE-C on the request wins over the default.
    let (_, key, md5) = customer_key(4);
    let put = c
        .put_object()
        .bucket("defaults")
        .key("c")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .body(ByteStream::from_static(b"customer"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption, None);
    assert_eq!(put.sse_customer_key_md5.as_deref(), Some(md5.as_str()));
    // A KMS default needs a key that exists.
    let e = c
        .put_bucket_encryption()
        .bucket("defaults")
        .server_side_encryption_configuration(rule(ServerSideEncryption::AwsKms, Some("missing")))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "KMS.NotFoundException");
    // A malformed document is MalformedXML (who may change it: the authorization matrix).
    let r = srv
        .raw()
        .send("PUT", "/defaults?encryption", &[], b"<ServerSideEncryptionConfiguration><Rule><Nope/></Rule></ServerSideEncryptionConfiguration>".to_vec(), true, None)
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedXML"));
    c.delete_bucket_encryption()
        .bucket("defaults")
        .send()
        .await
        .unwrap();
    let e = c
        .get_bucket_encryption()
        .bucket("defaults")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        "ServerSideEncryptionConfigurationNotFoundError"
    );
    let put = c
        .put_object()
        .bucket("defaults")
        .key("after")
        .body(ByteStream::from_static(b"plain"))
        .send()
        .await
        .unwrap();
    assert_eq!(put.server_side_encryption, None);
}

/// Every file under `dir`, read whole.
fn files(dir: &Path, out: &mut Vec<(std::path::PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p, b));
        }
    }
}

/// 16-byte windows of `secret`, sampled every `stride` bytes, sorted for binary search
/// (a hash per byte of every file is slow in a debug build).
fn windows(secret: &[u8], stride: usize) -> Vec<u128> {
    let mut w: Vec<u128> = (0..secret.len().saturating_sub(15))
        .step_by(stride)
        .map(|i| u128::from_le_bytes(secret[i..i + 16].try_into().unwrap()))
        .collect();
    w.sort_unstable();
    w.dedup();
    w
}

/// The files under `dir` holding any of the (sorted) windows.
fn leaks(dir: &Path, wanted: &[u128]) -> Vec<String> {
    let mut all = Vec::new();
    files(dir, &mut all);
    all.iter()
        .filter(|(_, bytes)| {
            bytes.windows(16).any(|w| {
                let v = u128::from_le_bytes(w.try_into().unwrap());
                wanted.binary_search(&v).is_ok()
            })
        })
        .map(|(p, _)| p.display().to_string())
        .collect()
}

#[tokio::test]
async fn a_stolen_disk_reveals_no_plaintext_and_no_customer_key() {
    use common::zones::{caught_up, Pair};
    // Zone settings, then the encryption table (the text follows `[zone]`).
    let pair = Pair::start("[encryption]\nallow_insecure_sse_c = true");
    let c = pair.a.client();
    c.create_bucket().bucket("exams").send().await.unwrap();
    let (raw_key, key, md5) = customer_key(11);
    let secret = random(6 * MIB, 42);
    let mut sealed_writes = Vec::new();
    // PUT inline and as a blob, SSE-S3, SSE-KMS and SSE-C.
    for (name, range) in [("inline", 0..40_000), ("blob", 40_000..1_000_000)] {
        let part = secret[range].to_vec();
        c.put_object()
            .bucket("exams")
            .key(format!("s3-{name}"))
            .server_side_encryption(ServerSideEncryption::Aes256)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        c.put_object()
            .bucket("exams")
            .key(format!("kms-{name}"))
            .server_side_encryption(ServerSideEncryption::AwsKms)
            .body(ByteStream::from(part.clone()))
            .send()
            .await
            .unwrap();
        c.put_object()
            .bucket("exams")
            .key(format!("c-{name}"))
            .sse_customer_algorithm("AES256")
            .sse_customer_key(&key)
            .sse_customer_key_md5(&md5)
            .body(ByteStream::from(part))
            .send()
            .await
            .unwrap();
        sealed_writes.push(name);
    }
    // Copy, multipart, a versioned bucket's versions, a browser form under a bucket default.
    c.copy_object()
        .bucket("exams")
        .key("copy")
        .copy_source("exams/s3-blob")
        .server_side_encryption(ServerSideEncryption::Aes256)
        .send()
        .await
        .unwrap();
    multipart(
        &c,
        "exams",
        "multi",
        &secret,
        Some(ServerSideEncryption::Aes256),
        None,
    )
    .await;
    c.create_bucket().bucket("versions").send().await.unwrap();
    c.put_bucket_versioning()
        .bucket("versions")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    c.put_bucket_encryption()
        .bucket("versions")
        .server_side_encryption_configuration(
            ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(
                            ServerSideEncryptionByDefault::builder()
                                .sse_algorithm(ServerSideEncryption::Aes256)
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for i in 0..2 {
        c.put_object()
            .bucket("versions")
            .key("v")
            .body(ByteStream::from(
                secret[i * 100_000..(i + 1) * 100_000].to_vec(),
            ))
            .send()
            .await
            .unwrap();
    }
    let form = common::post_form(
        &pair.a,
        "versions",
        &[("key", "form")],
        secret[2_000_000..2_050_000].to_vec(),
        true,
    );
    let r = reqwest::Client::new()
        .post(format!("{}/versions", pair.a.s3))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let head = c
        .head_object()
        .bucket("versions")
        .key("form")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.server_side_encryption,
        Some(ServerSideEncryption::Aes256)
    );

    // A plaintext control object: the search must find it, or it proves nothing.
    let control = random(100_000, 7);
    c.put_object()
        .bucket("exams")
        .key("control")
        .body(ByteStream::from(control.clone()))
        .send()
        .await
        .unwrap();
    caught_up(&pair.a, &pair.b, Duration::from_secs(30)).await;

    // The secondary serves them (SSE-C with the key), from the same ciphertext.
    let b = pair.b.client();
    assert_eq!(
        body(&b, "exams", "s3-blob").await,
        &secret[40_000..1_000_000]
    );
    assert_eq!(body(&b, "exams", "kms-inline").await, &secret[..40_000]);
    assert_eq!(body(&b, "exams", "multi").await, secret);
    let got = b
        .get_object()
        .bucket("exams")
        .key("c-blob")
        .sse_customer_algorithm("AES256")
        .sse_customer_key(&key)
        .sse_customer_key_md5(&md5)
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().to_vec(),
        &secret[40_000..1_000_000]
    );

    // Give RocksDB's memtables to the disk, then search every file of both zones.
    for z in [&pair.a, &pair.b] {
        let (st, _) = z.admin("POST", "/compact", None).await;
        assert_eq!(st, 200);
    }
    let mut wanted = windows(&secret, 997);
    wanted.extend(windows(&raw_key, 1));
    wanted.sort_unstable();
    for z in [&pair.a, &pair.b] {
        let found = leaks(&z.data_dir(), &wanted);
        assert!(
            found.is_empty(),
            "plaintext or the customer key found in {found:?}"
        );
        let control_found = leaks(&z.data_dir(), &windows(&control, 997));
        assert!(
            !control_found.is_empty(),
            "the search cannot see plaintext at all"
        );
    }
    assert_eq!(sealed_writes.len(), 2);
}
