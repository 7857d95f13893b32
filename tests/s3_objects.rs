//! Object operations through aws-sdk-s3 (default checksum behaviour of the current SDK).

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, ChecksumMode};
use common::{data, err_code, Server};

async fn setup() -> (Server, aws_sdk_s3::Client) {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    (srv, c)
}

#[tokio::test]
async fn put_get_head_with_metadata() {
    let (_srv, c) = setup().await;
    for (key, len) in [
        ("small.txt", 10usize),
        ("exact.bin", 64 * 1024),
        ("large.bin", 3 * 1024 * 1024 + 7),
        ("empty", 0),
    ] {
        let body = data(len, 3);
        let put = c
            .put_object()
            .bucket("bkt")
            .key(key)
            .body(ByteStream::from(body.clone()))
            .content_type("application/pdf")
            .content_disposition("attachment; filename=\"cours.pdf\"")
            .content_language("fr")
            .cache_control("max-age=60")
            .content_encoding("identity")
            .metadata("course", "maths-101")
            .send()
            .await
            .unwrap();
        let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(&body));
        assert_eq!(put.e_tag(), Some(format!("\"{md5}\"").as_str()));
        let got = c.get_object().bucket("bkt").key(key).send().await.unwrap();
        assert_eq!(got.content_type(), Some("application/pdf"));
        assert_eq!(
            got.content_disposition(),
            Some("attachment; filename=\"cours.pdf\"")
        );
        assert_eq!(got.content_language(), Some("fr"));
        assert_eq!(got.cache_control(), Some("max-age=60"));
        assert_eq!(got.content_encoding(), Some("identity"));
        assert_eq!(
            got.metadata().unwrap().get("course").map(String::as_str),
            Some("maths-101")
        );
        assert_eq!(got.content_length(), Some(len as i64));
        assert_eq!(got.e_tag(), put.e_tag());
        let bytes = got.body.collect().await.unwrap().into_bytes();
        assert_eq!(bytes.as_ref(), body.as_slice(), "{key}");
        let head = c.head_object().bucket("bkt").key(key).send().await.unwrap();
        assert_eq!(head.content_length(), Some(len as i64));
        assert_eq!(head.e_tag(), put.e_tag());
    }
    let e = c
        .get_object()
        .bucket("bkt")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchKey");
    let e = c
        .get_object()
        .bucket("nobucket")
        .key("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchBucket");
}

#[tokio::test]
async fn checksums_are_verified_stored_and_returned() {
    let (srv, c) = setup().await;
    let body = data(200_000, 9);
    for alg in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32C,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
        ChecksumAlgorithm::Crc64Nvme,
    ] {
        let key = format!("obj-{}", alg.as_str());
        let put = c
            .put_object()
            .bucket("bkt")
            .key(&key)
            .body(ByteStream::from(body.clone()))
            .checksum_algorithm(alg.clone())
            .send()
            .await
            .unwrap();
        let got = c
            .get_object()
            .bucket("bkt")
            .key(&key)
            .checksum_mode(ChecksumMode::Enabled)
            .send()
            .await
            .unwrap();
        let (sent, back) = match alg {
            ChecksumAlgorithm::Crc32 => (put.checksum_crc32(), got.checksum_crc32()),
            ChecksumAlgorithm::Crc32C => (put.checksum_crc32_c(), got.checksum_crc32_c()),
            ChecksumAlgorithm::Sha1 => (put.checksum_sha1(), got.checksum_sha1()),
            ChecksumAlgorithm::Sha256 => (put.checksum_sha256(), got.checksum_sha256()),
            _ => (put.checksum_crc64_nvme(), got.checksum_crc64_nvme()),
        };
        assert!(sent.is_some(), "{key}: checksum echoed on PUT");
        assert_eq!(sent, back, "{key}: same checksum on GET");
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            body.as_slice()
        );
    }
    // A wrong checksum header is refused and nothing is stored.
    let bad = srv
        .raw()
        .send(
            "PUT",
            "/bkt/bad",
            &[("x-amz-checksum-crc32", "AAAAAA==")],
            b"hello".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.code(), "BadDigest");
    // A value that is not a CRC32 at all (bad base64, wrong length) is InvalidRequest, as
    // AWS answers; a well-formed wrong one is BadDigest (above).
    for malformed in ["not base64!", "AAAA", "AAAAAAAAAAA="] {
        let r = srv
            .raw()
            .send(
                "PUT",
                "/bkt/bad",
                &[("x-amz-checksum-crc32", malformed)],
                b"hello".to_vec(),
                true,
                None,
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "InvalidRequest".to_string()),
            "{malformed}"
        );
    }
    let e = c
        .head_object()
        .bucket("bkt")
        .key("bad")
        .send()
        .await
        .unwrap_err();
    assert!(e.raw_response().is_some_and(|r| r.status().as_u16() == 404));
}

#[tokio::test]
async fn content_md5_and_payload_hash_are_checked() {
    let (srv, _c) = setup().await;
    let raw = srv.raw();
    // MD5 of "world", sent with "hello".
    let r = raw
        .send(
            "PUT",
            "/bkt/k",
            &[("content-md5", "fXkwN6B2AYZXSwKC8vQ15w==")],
            b"hello".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "BadDigest");
    let r = raw
        .send(
            "PUT",
            "/bkt/k",
            &[("content-md5", "not-base64!")],
            b"hello".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(r.code(), "InvalidDigest");
    let r = raw
        .send(
            "PUT",
            "/bkt/k",
            &[("content-md5", "XUFAKrxLKna5cZ2REBfFkg==")],
            b"hello".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let wrong = "0000000000000000000000000000000000000000000000000000000000000000";
    let r = raw
        .send("PUT", "/bkt/k2", &[], b"hello".to_vec(), true, Some(wrong))
        .await;
    assert_eq!(r.code(), "XAmzContentSHA256Mismatch");
    let r = raw.send("GET", "/bkt/k2", &[], vec![], true, None).await;
    assert_eq!(r.code(), "NoSuchKey");
}

#[tokio::test]
async fn conditional_writes() {
    let (_srv, c) = setup().await;
    let first = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"v1"))
        .send()
        .await
        .unwrap();
    let e = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "PreconditionFailed");
    let e = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .if_match("\"nope\"")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "PreconditionFailed");
    let e = c
        .put_object()
        .bucket("bkt")
        .key("absent")
        .if_match("\"nope\"")
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchKey");
    c.put_object()
        .bucket("bkt")
        .key("k")
        .if_match(first.e_tag().unwrap())
        .body(ByteStream::from_static(b"v2"))
        .send()
        .await
        .unwrap();
    let got = c.get_object().bucket("bkt").key("k").send().await.unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"v2"
    );
}

#[tokio::test]
async fn ranges_and_conditional_reads() {
    let (srv, c) = setup().await;
    let body = data(1000, 1);
    let put = c
        .put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    let etag = put.e_tag().unwrap().to_string();
    for (range, from, to) in [
        ("bytes=0-9", 0, 10),
        ("bytes=990-", 990, 1000),
        ("bytes=-5", 995, 1000),
        ("bytes=100-2000", 100, 1000),
    ] {
        let got = c
            .get_object()
            .bucket("bkt")
            .key("k")
            .range(range)
            .send()
            .await
            .unwrap();
        assert_eq!(
            got.content_range(),
            Some(format!("bytes {}-{}/1000", from, to - 1).as_str()),
            "{range}"
        );
        assert_eq!(
            got.body.collect().await.unwrap().into_bytes().as_ref(),
            &body[from..to],
            "{range}"
        );
    }
    let e = c
        .get_object()
        .bucket("bkt")
        .key("k")
        .range("bytes=1000-")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRange");
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 416);

    let raw = srv.raw();
    let r = raw
        .send(
            "GET",
            "/bkt/k",
            &[("if-none-match", &etag)],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    let r = raw
        .send(
            "GET",
            "/bkt/k",
            &[("if-match", "\"other\"")],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 412);
    assert_eq!(r.code(), "PreconditionFailed");
    let r = raw
        .send(
            "GET",
            "/bkt/k",
            &[("if-modified-since", "Sun, 01 Jan 2090 00:00:00 GMT")],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 304);
    let r = raw
        .send(
            "GET",
            "/bkt/k",
            &[("if-unmodified-since", "Sat, 01 Jan 2000 00:00:00 GMT")],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 412);
    let r = raw
        .send(
            "GET",
            "/bkt/k",
            &[
                ("if-match", &etag),
                ("if-unmodified-since", "Sat, 01 Jan 2000 00:00:00 GMT"),
            ],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(
        r.status, 200,
        "a true If-Match overrides If-Unmodified-Since"
    );

    let got = c
        .get_object()
        .bucket("bkt")
        .key("k")
        .response_content_type("text/plain")
        .response_content_disposition("inline")
        .response_cache_control("no-cache")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(got.content_disposition(), Some("inline"));
    assert_eq!(got.cache_control(), Some("no-cache"));
    let p1 = c
        .get_object()
        .bucket("bkt")
        .key("k")
        .part_number(1)
        .send()
        .await
        .unwrap();
    assert_eq!(p1.content_length(), Some(1000));
    let e = c
        .get_object()
        .bucket("bkt")
        .key("k")
        .part_number(2)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidPart");
    // 400, as S3 answers (the s3-tests check it), not 416.
    assert_eq!(e.raw_response().unwrap().status().as_u16(), 400);
}

#[tokio::test]
async fn delete_and_multi_delete() {
    let (_srv, c) = setup().await;
    for i in 0..5 {
        c.put_object()
            .bucket("bkt")
            .key(format!("k{i}"))
            .body(ByteStream::from_static(b"x"))
            .send()
            .await
            .unwrap();
    }
    c.delete_object()
        .bucket("bkt")
        .key("k0")
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("bkt")
        .key("never-existed")
        .send()
        .await
        .unwrap();
    use aws_sdk_s3::types::{Delete, ObjectIdentifier};
    let ids = ["k1", "k2", "missing"]
        .iter()
        .map(|k| ObjectIdentifier::builder().key(*k).build().unwrap())
        .collect();
    let out = c
        .delete_objects()
        .bucket("bkt")
        .delete(Delete::builder().set_objects(Some(ids)).build().unwrap())
        .send()
        .await
        .unwrap();
    let mut deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    deleted.sort();
    assert_eq!(deleted, vec!["k1", "k2", "missing"]);
    let ids = vec![ObjectIdentifier::builder().key("k3").build().unwrap()];
    let out = c
        .delete_objects()
        .bucket("bkt")
        .delete(
            Delete::builder()
                .set_objects(Some(ids))
                .quiet(true)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert!(out.deleted().is_empty(), "quiet mode lists no successes");
    let left = c.list_objects_v2().bucket("bkt").send().await.unwrap();
    let keys: Vec<_> = left.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, vec!["k4"]);
}

#[tokio::test]
async fn copy_object_directives_and_conditions() {
    let (_srv, c) = setup().await;
    let put = c
        .put_object()
        .bucket("bkt")
        .key("src")
        .content_type("text/plain")
        .metadata("a", "1")
        .tagging("t=1")
        .body(ByteStream::from(data(100_000, 2)))
        .send()
        .await
        .unwrap();
    let out = c
        .copy_object()
        .bucket("bkt")
        .key("dst")
        .copy_source("bkt/src")
        .send()
        .await
        .unwrap();
    assert_eq!(
        out.copy_object_result().and_then(|r| r.e_tag()),
        put.e_tag()
    );
    let got = c
        .get_object()
        .bucket("bkt")
        .key("dst")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(
        got.metadata().unwrap().get("a").map(String::as_str),
        Some("1")
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        data(100_000, 2).as_slice()
    );
    let tags = c
        .get_object_tagging()
        .bucket("bkt")
        .key("dst")
        .send()
        .await
        .unwrap();
    assert_eq!(tags.tag_set().len(), 1);

    c.copy_object()
        .bucket("bkt")
        .key("dst2")
        .copy_source("bkt/src")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .content_type("application/x-new")
        .metadata("b", "2")
        .send()
        .await
        .unwrap();
    let h = c
        .head_object()
        .bucket("bkt")
        .key("dst2")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_type(), Some("application/x-new"));
    assert_eq!(
        h.metadata().unwrap().get("b").map(String::as_str),
        Some("2")
    );
    assert!(h.metadata().unwrap().get("a").is_none());

    let e = c
        .copy_object()
        .bucket("bkt")
        .key("dst3")
        .copy_source("bkt/src")
        .copy_source_if_match("\"zzz\"")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "PreconditionFailed");
    let e = c
        .copy_object()
        .bucket("bkt")
        .key("src")
        .copy_source("bkt/src")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRequest");
    // Copy onto itself to change metadata keeps the data and ETag.
    c.copy_object()
        .bucket("bkt")
        .key("src")
        .copy_source("bkt/src")
        .metadata_directive(aws_sdk_s3::types::MetadataDirective::Replace)
        .content_type("image/png")
        .send()
        .await
        .unwrap();
    let h = c
        .get_object()
        .bucket("bkt")
        .key("src")
        .send()
        .await
        .unwrap();
    assert_eq!(h.content_type(), Some("image/png"));
    assert_eq!(h.e_tag(), put.e_tag());
    assert_eq!(
        h.body.collect().await.unwrap().into_bytes().as_ref(),
        data(100_000, 2).as_slice()
    );
    let e = c
        .copy_object()
        .bucket("bkt")
        .key("x")
        .copy_source("bkt/missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchKey");
}

#[tokio::test]
async fn object_tagging() {
    let (_srv, c) = setup().await;
    c.put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    use aws_sdk_s3::types::{Tag, Tagging};
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("course").value("maths").build().unwrap())
        .tag_set(Tag::builder().key("year").value("2026").build().unwrap())
        .build()
        .unwrap();
    c.put_object_tagging()
        .bucket("bkt")
        .key("k")
        .tagging(tagging)
        .send()
        .await
        .unwrap();
    let got = c
        .get_object_tagging()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap();
    let tags: Vec<_> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(tags, vec![("course", "maths"), ("year", "2026")]);
    let h = c.get_object().bucket("bkt").key("k").send().await.unwrap();
    assert_eq!(h.tag_count(), Some(2));
    c.delete_object_tagging()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap();
    assert!(c
        .get_object_tagging()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap()
        .tag_set()
        .is_empty());
    let too_many = Tagging::builder()
        .set_tag_set(Some(
            (0..11)
                .map(|i| {
                    Tag::builder()
                        .key(format!("k{i}"))
                        .value("v")
                        .build()
                        .unwrap()
                })
                .collect(),
        ))
        .build()
        .unwrap();
    let e = c
        .put_object_tagging()
        .bucket("bkt")
        .key("k")
        .tagging(too_many)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidTag");
    let e = c
        .get_object_tagging()
        .bucket("bkt")
        .key("nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchKey");
}

#[tokio::test]
async fn bad_input_gets_s3_errors() {
    let (srv, _c) = setup().await;
    let raw = srv.raw();
    // Sent over raw TCP: HTTP client libraries (reqwest here) remove `..` segments, even
    // percent-encoded ones, before sending, which is exactly why such keys are refused.
    for path in ["/bkt/a/../etc/passwd", "/bkt/..", "/bkt/x/./y"] {
        let resp = raw
            .send_tcp("PUT", path, &[("content-length", "1")], b"x", false)
            .await;
        assert!(resp.starts_with("HTTP/1.1 400"), "{path}: {resp}");
        assert!(
            resp.contains("<Code>InvalidArgument</Code>"),
            "{path}: {resp}"
        );
    }
    let long = format!("/bkt/{}", "k".repeat(1025));
    let r = raw.send("PUT", &long, &[], b"x".to_vec(), true, None).await;
    assert_eq!(r.code(), "KeyTooLongError");
    let r = raw
        .send(
            "POST",
            "/bkt?delete",
            &[],
            b"<Delete><Object><Key>x</Key>".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(r.code(), "MalformedXML");
    let r = raw
        .send(
            "PUT",
            "/bkt?cors",
            &[],
            b"not xml at all".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(r.code(), "MalformedXML");
    let r = raw.send("POST", "/bkt/k?uploadId=nope", &[], b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>".to_vec(), true, None).await;
    assert_eq!(r.code(), "NoSuchUpload");
    // A declared size over 5 GiB is refused before any byte of the body is read.
    let resp = raw
        .send_tcp(
            "PUT",
            "/bkt/huge",
            &[("content-length", "6442450944")],
            b"",
            false,
        )
        .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("<Code>EntityTooLarge</Code>"), "{resp}");
    // A body shorter than its Content-Length is IncompleteBody, and nothing is stored.
    let resp = raw
        .send_tcp(
            "PUT",
            "/bkt/short",
            &[("content-length", "100")],
            b"only this",
            true,
        )
        .await;
    assert!(resp.contains("<Code>IncompleteBody</Code>"), "{resp}");
    let r = raw.send("GET", "/bkt/short", &[], vec![], true, None).await;
    assert_eq!(r.code(), "NoSuchKey");
    // No Content-Length, a chunked transfer: taken as it streams (as RGW does).
    let resp = raw
        .send_tcp(
            "PUT",
            "/bkt/nolen",
            &[("transfer-encoding", "chunked")],
            b"5\r\nhello\r\n0\r\n\r\n",
            false,
        )
        .await;
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let r = raw.send("GET", "/bkt/nolen", &[], vec![], true, None).await;
    assert_eq!(r.body, b"hello");
    // The server is still up and serving.
    let r = raw
        .send("PUT", "/bkt/after", &[], b"ok".to_vec(), true, None)
        .await;
    assert_eq!(r.status, 200);
}

/// In a bucket that never had versioning every object has only its `null` version: an id
/// Bascule never issued is refused, a well-formed unknown one names nothing, and neither
/// ever reads, changes or deletes the current version.
#[tokio::test]
async fn other_version_ids_name_nothing() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("ver").send().await.unwrap();
    common::put(&c, "ver", "k", b"current".to_vec()).await;
    let e = c
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidArgument");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(400));
    let unknown = "00000000000000070123456789abcdef";
    let e = c
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id(unknown)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchVersion");
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));
    let e = c
        .delete_object()
        .bucket("ver")
        .key("k")
        .version_id("3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidArgument");
    // Deleting a version that is not there succeeds, as in S3, and deletes nothing.
    let d = c
        .delete_object()
        .bucket("ver")
        .key("k")
        .version_id(unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(d.version_id(), Some(unknown));
    let got = c
        .get_object()
        .bucket("ver")
        .key("k")
        .version_id("null")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.version_id(),
        None,
        "a never-versioned bucket shows no ids"
    );
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"current"
    );
}

/// Keys and tags are the client's bytes: a multi-delete of `"_ "` removes `"_ "`, never
/// `"_"`; tags keep their spaces; a tagging document of the wrong shape changes nothing.
#[tokio::test]
async fn xml_bodies_keep_the_clients_bytes() {
    use aws_sdk_s3::types::{Delete, ObjectIdentifier, Tag, Tagging};
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bytes").send().await.unwrap();
    for k in ["_", "_ ", "a b "] {
        common::put(&c, "bytes", k, k.as_bytes().to_vec()).await;
    }
    let del = Delete::builder()
        .objects(ObjectIdentifier::builder().key("_ ").build().unwrap())
        .objects(ObjectIdentifier::builder().key("a b ").build().unwrap())
        .build()
        .unwrap();
    let out = c
        .delete_objects()
        .bucket("bytes")
        .delete(del)
        .send()
        .await
        .unwrap();
    assert_eq!(out.deleted().len(), 2);
    assert_eq!(common::list_keys(&c, "bytes").await, vec!["_".to_string()]);

    let tags = Tagging::builder()
        .tag_set(
            Tag::builder()
                .key(" course ")
                .value(" maths ")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    c.put_object_tagging()
        .bucket("bytes")
        .key("_")
        .tagging(tags)
        .send()
        .await
        .unwrap();
    let raw = srv.raw();
    let doc = b"<Other><TagSet/></Other>".to_vec();
    let r = raw
        .send("PUT", "/bytes/_?tagging", &[], doc, true, None)
        .await;
    assert_eq!((r.status, r.code()), (400, "MalformedXML".to_string()));
    let got = c
        .get_object_tagging()
        .bucket("bytes")
        .key("_")
        .send()
        .await
        .unwrap();
    let tag = &got.tag_set()[0];
    assert_eq!((tag.key(), tag.value()), (" course ", " maths "));
}

/// Non-ASCII user metadata is stored decoded and sent back RFC 2047-encoded, as S3 does;
/// Content-Encoding is kept byte for byte.
#[tokio::test]
async fn non_ascii_metadata_and_content_encoding() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let raw = srv.raw();
    let r = raw
        .send(
            "PUT",
            "/bkt/meta",
            &[
                ("x-amz-meta-title", "=?ISO-8859-1?Q?caf=E9_cr=E8me?="),
                ("x-amz-meta-plain", "just ascii"),
                ("content-encoding", "gzip, br"),
            ],
            b"x".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let head = raw
        .send("HEAD", "/bkt/meta", &[], Vec::new(), true, None)
        .await;
    let title = head.header("x-amz-meta-title").unwrap();
    assert_eq!(title, "=?UTF-8?B?Y2Fmw6kgY3LDqG1l?=");
    assert_eq!(bascule_api::headers::rfc2047_decode(&title), "café crème");
    assert_eq!(
        head.header("x-amz-meta-plain").as_deref(),
        Some("just ascii")
    );
    assert_eq!(head.header("content-encoding").as_deref(), Some("gzip, br"));
}

/// Conditional writes on every write path: PUT, copy and multipart completion answer
/// If-None-Match and If-Match as AWS does.
#[tokio::test]
async fn conditional_writes_on_copy_and_completion() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    common::put(&c, "bkt", "src", b"source".to_vec()).await;
    common::put(&c, "bkt", "dest", b"dest".to_vec()).await;
    let raw = srv.raw();
    let copy = |cond: (&'static str, &'static str)| {
        let raw = raw.clone();
        async move {
            raw.send(
                "PUT",
                "/bkt/dest",
                &[("x-amz-copy-source", "/bkt/src"), cond],
                Vec::new(),
                true,
                None,
            )
            .await
        }
    };
    let r = copy(("if-none-match", "*")).await;
    assert_eq!(
        (r.status, r.code()),
        (412, "PreconditionFailed".to_string())
    );
    let r = copy(("if-match", "\"0000\"")).await;
    assert_eq!(
        (r.status, r.code()),
        (412, "PreconditionFailed".to_string())
    );
    // If-None-Match with an ETag: refused when the current version has it.
    // (The MD5 of "dest", the current version's ETag.)
    let r = copy(("if-none-match", "\"0b43c25ccf2340e23492d4d3141479dc\"")).await;
    assert_eq!(
        (r.status, r.code()),
        (412, "PreconditionFailed".to_string())
    );
    assert_eq!(
        common::get(&c, "bkt", "dest").await.as_deref(),
        Some(&b"dest"[..]),
        "no refused copy changed the object"
    );
    // ...and goes ahead when it does not.
    let r = copy(("if-none-match", "\"abc\"")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = copy(("if-match", "*")).await;
    assert_eq!(r.status, 200, "{}", r.text());

    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("dest")
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let part = c
        .upload_part()
        .bucket("bkt")
        .key("dest")
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"multipart"))
        .send()
        .await
        .unwrap();
    let parts = aws_sdk_s3::types::CompletedMultipartUpload::builder()
        .parts(
            aws_sdk_s3::types::CompletedPart::builder()
                .part_number(1)
                .e_tag(part.e_tag().unwrap())
                .build(),
        )
        .build();
    let e = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("dest")
        .upload_id(id)
        .if_none_match("*")
        .multipart_upload(parts.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "PreconditionFailed");
    let e = c
        .complete_multipart_upload()
        .bucket("bkt")
        .key("absent")
        .upload_id(id)
        .if_match("\"abc\"")
        .multipart_upload(parts.clone())
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        "NoSuchUpload",
        "the upload is for another key"
    );
    let current = c
        .head_object()
        .bucket("bkt")
        .key("dest")
        .send()
        .await
        .unwrap();
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("dest")
        .upload_id(id)
        .if_match(current.e_tag().unwrap())
        .multipart_upload(parts)
        .send()
        .await
        .unwrap();
    assert_eq!(
        common::get(&c, "bkt", "dest").await.as_deref(),
        Some(&b"multipart"[..])
    );
}
