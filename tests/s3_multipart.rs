//! Multipart uploads through aws-sdk-s3.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode, CompletedMultipartUpload, CompletedPart};
use common::{data, err_code, Server};

const MIB: usize = 1024 * 1024;

async fn setup() -> (Server, aws_sdk_s3::Client) {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    (srv, c)
}

fn part(n: i32, etag: Option<&str>) -> CompletedPart {
    CompletedPart::builder()
        .part_number(n)
        .set_e_tag(etag.map(String::from))
        .build()
}

#[tokio::test]
async fn upload_complete_read_back() {
    let (_srv, c) = setup().await;
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("video.mp4")
        .content_type("video/mp4")
        .metadata("m", "1")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let parts_data = [data(5 * MIB, 1), data(5 * MIB, 2), data(1234, 3)];
    let mut done = Vec::new();
    for (i, d) in parts_data.iter().enumerate() {
        let p = c
            .upload_part()
            .bucket("bkt")
            .key("video.mp4")
            .upload_id(&id)
            .part_number(i as i32 + 1)
            .body(ByteStream::from(d.clone()))
            .send()
            .await
            .unwrap();
        done.push(part(i as i32 + 1, p.e_tag()));
    }
    let listed = c
        .list_parts()
        .bucket("bkt")
        .key("video.mp4")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.parts().len(), 3);
    assert_eq!(listed.parts()[2].size(), Some(1234));
    let uploads = c
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(uploads.uploads().len(), 1);
    assert_eq!(uploads.uploads()[0].upload_id(), Some(id.as_str()));

    let out = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("video.mp4")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let mut md5s = Vec::new();
    for d in &parts_data {
        md5s.extend_from_slice(&<md5::Md5 as md5::Digest>::digest(d));
    }
    let expected = format!(
        "\"{}-3\"",
        hex::encode(<md5::Md5 as md5::Digest>::digest(&md5s))
    );
    assert_eq!(out.e_tag(), Some(expected.as_str()));
    let got = c
        .get_object()
        .bucket("bkt")
        .key("video.mp4")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("video/mp4"));
    assert_eq!(
        got.metadata().unwrap().get("m").map(String::as_str),
        Some("1")
    );
    assert_eq!(got.e_tag(), Some(expected.as_str()));
    let body = got.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), 10 * MIB + 1234);
    assert!(
        body[..5 * MIB] == parts_data[0][..]
            && body[5 * MIB..10 * MIB] == parts_data[1][..]
            && body[10 * MIB..] == parts_data[2][..]
    );
    // A range across the part boundary.
    let r = c
        .get_object()
        .bucket("bkt")
        .key("video.mp4")
        .range(format!("bytes={}-{}", 5 * MIB - 10, 5 * MIB + 9))
        .send()
        .await
        .unwrap();
    let rb = r.body.collect().await.unwrap().into_bytes();
    assert_eq!(&rb[..10], &parts_data[0][5 * MIB - 10..]);
    assert_eq!(&rb[10..], &parts_data[1][..10]);
    // partNumber reads one part.
    let p2 = c
        .get_object()
        .bucket("bkt")
        .key("video.mp4")
        .part_number(2)
        .send()
        .await
        .unwrap();
    assert_eq!(p2.parts_count(), Some(3));
    assert_eq!(
        p2.body.collect().await.unwrap().into_bytes().as_ref(),
        parts_data[1].as_slice()
    );
    assert!(c
        .list_multipart_uploads()
        .bucket("bkt")
        .send()
        .await
        .unwrap()
        .uploads()
        .is_empty());
}

#[tokio::test]
async fn composite_and_full_object_checksums() {
    let (_srv, c) = setup().await;
    for (alg, key) in [
        (ChecksumAlgorithm::Crc32, "crc32"),
        (ChecksumAlgorithm::Sha256, "sha256"),
        (ChecksumAlgorithm::Crc64Nvme, "crc64"),
    ] {
        let up = c
            .create_multipart_upload()
            .bucket("bkt")
            .key(key)
            .checksum_algorithm(alg.clone())
            .send()
            .await
            .unwrap();
        let id = up.upload_id().unwrap().to_string();
        let d1 = data(5 * MIB, 4);
        let d2 = data(100, 5);
        let p1 = c
            .upload_part()
            .bucket("bkt")
            .key(key)
            .upload_id(&id)
            .part_number(1)
            .checksum_algorithm(alg.clone())
            .body(ByteStream::from(d1.clone()))
            .send()
            .await
            .unwrap();
        let p2 = c
            .upload_part()
            .bucket("bkt")
            .key(key)
            .upload_id(&id)
            .part_number(2)
            .checksum_algorithm(alg.clone())
            .body(ByteStream::from(d2.clone()))
            .send()
            .await
            .unwrap();
        let mk = |n: i32, p: &aws_sdk_s3::operation::upload_part::UploadPartOutput| {
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(p.e_tag().map(String::from))
                .set_checksum_crc32(p.checksum_crc32().map(String::from))
                .set_checksum_sha256(p.checksum_sha256().map(String::from))
                .set_checksum_crc64_nvme(p.checksum_crc64_nvme().map(String::from))
                .build()
        };
        let out = c
            .complete_multipart_upload()
            .bucket("bkt")
            .key(key)
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .parts(mk(1, &p1))
                    .parts(mk(2, &p2))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let head = c
            .head_object()
            .bucket("bkt")
            .key(key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        match alg {
            ChecksumAlgorithm::Crc32 => {
                let v = out.checksum_crc32().unwrap();
                assert!(v.ends_with("-2"), "composite checksum {v}");
                assert_eq!(head.checksum_crc32(), Some(v));
            }
            ChecksumAlgorithm::Sha256 => assert!(out.checksum_sha256().unwrap().ends_with("-2")),
            _ => {
                let mut whole = d1.clone();
                whole.extend_from_slice(&d2);
                let expected = bascule_api_crc64(&whole);
                assert_eq!(
                    out.checksum_crc64_nvme(),
                    Some(expected.as_str()),
                    "full-object CRC64NVME"
                );
            }
        }
    }
}

/// Issue 8, bug 4: the client's whole-object checksum on CompleteMultipartUpload is
/// checked; a mismatch is `BadDigest` and leaves the upload in place to retry.
#[tokio::test]
async fn complete_checks_the_whole_object_checksum() {
    let (_srv, c) = setup().await;
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("whole")
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let d = data(1000, 9);
    let p = c
        .upload_part()
        .bucket("bkt")
        .key("whole")
        .upload_id(&id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Crc64Nvme)
        .body(ByteStream::from(d.clone()))
        .send()
        .await
        .unwrap();
    let parts = || {
        CompletedMultipartUpload::builder()
            .parts(
                CompletedPart::builder()
                    .part_number(1)
                    .set_e_tag(p.e_tag().map(String::from))
                    .set_checksum_crc64_nvme(p.checksum_crc64_nvme().map(String::from))
                    .build(),
            )
            .build()
    };
    let wrong = bascule_api_crc64(b"something else");
    let e = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("whole")
        .upload_id(&id)
        .checksum_crc64_nvme(&wrong)
        .checksum_type(aws_sdk_s3::types::ChecksumType::FullObject)
        .multipart_upload(parts())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "BadDigest");
    let e = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("whole")
        .upload_id(&id)
        .mpu_object_size(999)
        .multipart_upload(parts())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRequest");
    let right = bascule_api_crc64(&d);
    let out = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("whole")
        .upload_id(&id)
        .checksum_crc64_nvme(&right)
        .checksum_type(aws_sdk_s3::types::ChecksumType::FullObject)
        .mpu_object_size(1000)
        .multipart_upload(parts())
        .send()
        .await
        .unwrap();
    assert_eq!(out.checksum_crc64_nvme(), Some(right.as_str()));
}

fn bascule_api_crc64(data: &[u8]) -> String {
    use base64::Engine;
    let v = crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Nvme, data);
    base64::engine::general_purpose::STANDARD.encode(v.to_be_bytes())
}

#[tokio::test]
async fn completion_errors() {
    let (_srv, c) = setup().await;
    let id = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let small1 = c
        .upload_part()
        .bucket("bkt")
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(data(1000, 1)))
        .send()
        .await
        .unwrap();
    let small2 = c
        .upload_part()
        .bucket("bkt")
        .key("k")
        .upload_id(&id)
        .part_number(2)
        .body(ByteStream::from(data(1000, 2)))
        .send()
        .await
        .unwrap();
    let complete = |parts: Vec<CompletedPart>| {
        c.complete_multipart_upload()
            .bucket("bkt")
            .key("k")
            .upload_id(&id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
    };
    let e = complete(vec![part(1, small1.e_tag()), part(2, small2.e_tag())])
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "EntityTooSmall");
    let e = complete(vec![part(2, small2.e_tag()), part(1, small1.e_tag())])
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidPartOrder");
    let e = complete(vec![part(1, Some("\"deadbeef\""))])
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidPart");
    let e = complete(vec![part(3, small1.e_tag())]).await.unwrap_err();
    assert_eq!(err_code(&e), "InvalidPart");
    // One small part alone is fine (the last part may be small).
    complete(vec![part(1, small1.e_tag())]).await.unwrap();
    let got = c.get_object().bucket("bkt").key("k").send().await.unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        data(1000, 1).as_slice()
    );
    let e = c
        .upload_part()
        .bucket("bkt")
        .key("k")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchUpload");
    let e = c
        .upload_part()
        .bucket("bkt")
        .key("k")
        .upload_id("nope")
        .part_number(10001)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidArgument");
}

#[tokio::test]
async fn abort_and_upload_part_copy() {
    let (_srv, c) = setup().await;
    let id = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("gone")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    c.upload_part()
        .bucket("bkt")
        .key("gone")
        .upload_id(&id)
        .part_number(1)
        .body(ByteStream::from(data(10, 1)))
        .send()
        .await
        .unwrap();
    c.abort_multipart_upload()
        .bucket("bkt")
        .key("gone")
        .upload_id(&id)
        .send()
        .await
        .unwrap();
    let e = c
        .list_parts()
        .bucket("bkt")
        .key("gone")
        .upload_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchUpload");
    let e = c
        .abort_multipart_upload()
        .bucket("bkt")
        .key("gone")
        .upload_id(&id)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchUpload");

    let src = data(6 * MIB, 7);
    c.put_object()
        .bucket("bkt")
        .key("src")
        .body(ByteStream::from(src.clone()))
        .send()
        .await
        .unwrap();
    let id = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("copy")
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_string();
    let p1 = c
        .upload_part_copy()
        .bucket("bkt")
        .key("copy")
        .upload_id(&id)
        .part_number(1)
        .copy_source("bkt/src")
        .copy_source_range(format!("bytes=0-{}", 5 * MIB - 1))
        .send()
        .await
        .unwrap();
    let p2 = c
        .upload_part_copy()
        .bucket("bkt")
        .key("copy")
        .upload_id(&id)
        .part_number(2)
        .copy_source("bkt/src")
        .copy_source_range(format!("bytes={}-{}", 5 * MIB, 6 * MIB - 1))
        .send()
        .await
        .unwrap();
    let parts = vec![
        part(1, p1.copy_part_result().and_then(|r| r.e_tag())),
        part(2, p2.copy_part_result().and_then(|r| r.e_tag())),
    ];
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("copy")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(parts))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = c
        .get_object()
        .bucket("bkt")
        .key("copy")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        src.as_slice()
    );
    let e = c
        .upload_part_copy()
        .bucket("bkt")
        .key("copy")
        .upload_id("x")
        .part_number(1)
        .copy_source("bkt/src")
        .copy_source_range("bytes=0-99999999")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRange");
}

/// A completion retried after a lost answer gets the same answer; a part uploaded twice
/// and listed twice counts once, with its latest upload.
#[tokio::test]
async fn completion_is_retryable_and_parts_may_repeat() {
    let (_srv, c) = setup().await;
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("retry")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let send_part = |n: i32, body: Vec<u8>| {
        let (c, id) = (c.clone(), id.clone());
        async move {
            c.upload_part()
                .bucket("bkt")
                .key("retry")
                .upload_id(id)
                .part_number(n)
                .body(ByteStream::from(body))
                .send()
                .await
                .unwrap()
                .e_tag()
                .unwrap()
                .to_string()
        }
    };
    let (first, second, tail) = (data(5 * MIB, 1), data(5 * MIB, 2), data(10, 3));
    let old = send_part(1, first).await;
    let new = send_part(1, second.clone()).await;
    let two = send_part(2, tail.clone()).await;
    let doc = CompletedMultipartUpload::builder()
        .parts(CompletedPart::builder().part_number(1).e_tag(&old).build())
        .parts(CompletedPart::builder().part_number(1).e_tag(&new).build())
        .parts(CompletedPart::builder().part_number(2).e_tag(&two).build())
        .build();
    let complete = || {
        c.complete_multipart_upload()
            .bucket("bkt")
            .key("retry")
            .upload_id(&id)
            .multipart_upload(doc.clone())
            .send()
    };
    let done = complete().await.unwrap();
    let again = complete().await.unwrap();
    assert_eq!(done.e_tag(), again.e_tag());
    assert!(
        done.e_tag().unwrap().ends_with("-2\""),
        "{:?}",
        done.e_tag()
    );
    let mut want = second;
    want.extend_from_slice(&tail);
    assert_eq!(common::get(&c, "bkt", "retry").await, Some(want));
    let e = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("retry")
        .upload_id("not-an-upload")
        .multipart_upload(doc.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchUpload");
}

#[tokio::test]
async fn get_object_attributes() {
    use aws_sdk_s3::types::ObjectAttributes as A;
    let (_srv, c) = setup().await;
    common::put(&c, "bkt", "plain", b"hello".to_vec()).await;
    let out = c
        .get_object_attributes()
        .bucket("bkt")
        .key("plain")
        .object_attributes(A::Etag)
        .object_attributes(A::ObjectSize)
        .object_attributes(A::StorageClass)
        .object_attributes(A::Checksum)
        .send()
        .await
        .unwrap();
    assert_eq!(out.e_tag(), Some("5d41402abc4b2a76b9719d911017c592"));
    assert_eq!(out.object_size(), Some(5));
    assert_eq!(out.storage_class().map(|s| s.as_str()), Some("STANDARD"));
    let sum = out.checksum().expect("checksum");
    assert!(
        sum.checksum_crc32().is_some() || sum.checksum_crc64_nvme().is_some(),
        "{sum:?}"
    );
    assert!(out.object_parts().is_none());

    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("parts")
        .checksum_algorithm(ChecksumAlgorithm::Crc32)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap().to_string();
    let mut done = Vec::new();
    for (n, len) in [(1, 5 * MIB), (3, 5 * MIB), (4, 7)] {
        let p = c
            .upload_part()
            .bucket("bkt")
            .key("parts")
            .upload_id(&id)
            .part_number(n)
            .checksum_algorithm(ChecksumAlgorithm::Crc32)
            .body(ByteStream::from(data(len, n as u8)))
            .send()
            .await
            .unwrap();
        done.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(p.e_tag().map(String::from))
                .set_checksum_crc32(p.checksum_crc32().map(String::from))
                .build(),
        );
    }
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("parts")
        .upload_id(&id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let out = c
        .get_object_attributes()
        .bucket("bkt")
        .key("parts")
        .object_attributes(A::ObjectParts)
        .max_parts(2)
        .send()
        .await
        .unwrap();
    let parts = out.object_parts().unwrap();
    assert_eq!(parts.total_parts_count(), Some(3));
    assert_eq!(parts.is_truncated(), Some(true));
    let numbers: Vec<_> = parts
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect();
    assert_eq!(numbers, vec![1, 3]);
    assert!(parts.parts()[0].checksum_crc32().is_some());
    assert_eq!(parts.parts()[0].size(), Some(5 * MIB as i64));
    let rest = c
        .get_object_attributes()
        .bucket("bkt")
        .key("parts")
        .object_attributes(A::ObjectParts)
        .part_number_marker(parts.next_part_number_marker().unwrap().to_string())
        .send()
        .await
        .unwrap();
    let numbers: Vec<_> = rest
        .object_parts()
        .unwrap()
        .parts()
        .iter()
        .filter_map(|p| p.part_number())
        .collect();
    assert_eq!(numbers, vec![4]);
    let e = c
        .get_object_attributes()
        .bucket("bkt")
        .key("missing")
        .object_attributes(A::Etag)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchKey");
}
