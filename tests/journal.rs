//! Every mutation appends exactly one journal entry; failed requests append none.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, Delete, ObjectIdentifier, Tag, Tagging,
};
use common::Server;

/// Runs `action` and returns the kinds of the journal entries it appended.
async fn entries_of<F: std::future::Future<Output = ()>>(srv: &Server, action: F) -> Vec<String> {
    let before = srv.last_seq().await;
    action.await;
    srv.journal(before)
        .await
        .iter()
        .map(|e| e["op"]["type"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[tokio::test]
async fn one_entry_per_mutation() {
    let srv = Server::start();
    let c = srv.client();
    let one = |kind: &str| vec![kind.to_string()];

    assert_eq!(
        entries_of(&srv, async {
            c.create_bucket().bucket("bkt").send().await.unwrap();
        })
        .await,
        one("put_bucket")
    );
    assert_eq!(
        entries_of(&srv, async {
            c.put_object()
                .bucket("bkt")
                .key("k")
                .body(ByteStream::from_static(b"v"))
                .send()
                .await
                .unwrap();
        })
        .await,
        one("put_object")
    );
    assert_eq!(
        entries_of(&srv, async {
            c.put_object()
                .bucket("bkt")
                .key("big")
                .body(ByteStream::from(vec![7u8; 300_000]))
                .send()
                .await
                .unwrap();
        })
        .await,
        one("put_object")
    );
    assert_eq!(
        entries_of(&srv, async {
            c.copy_object()
                .bucket("bkt")
                .key("k2")
                .copy_source("bkt/k")
                .send()
                .await
                .unwrap();
        })
        .await,
        one("put_object")
    );
    let tagging = Tagging::builder()
        .tag_set(Tag::builder().key("a").value("b").build().unwrap())
        .build()
        .unwrap();
    assert_eq!(
        entries_of(&srv, async {
            c.put_object_tagging()
                .bucket("bkt")
                .key("k")
                .tagging(tagging)
                .send()
                .await
                .unwrap();
        })
        .await,
        one("update_version")
    );
    assert_eq!(
        entries_of(&srv, async {
            c.delete_object_tagging()
                .bucket("bkt")
                .key("k")
                .send()
                .await
                .unwrap();
        })
        .await,
        one("update_version")
    );

    // A multipart upload journals only its completion.
    let mpu = entries_of(&srv, async {
        let id = c
            .create_multipart_upload()
            .bucket("bkt")
            .key("m")
            .send()
            .await
            .unwrap()
            .upload_id()
            .unwrap()
            .to_string();
        let p = c
            .upload_part()
            .bucket("bkt")
            .key("m")
            .upload_id(&id)
            .part_number(1)
            .body(ByteStream::from_static(b"part"))
            .send()
            .await
            .unwrap();
        let part = CompletedPart::builder()
            .part_number(1)
            .set_e_tag(p.e_tag().map(String::from))
            .build();
        c.complete_multipart_upload()
            .bucket("bkt")
            .key("m")
            .upload_id(&id)
            .multipart_upload(CompletedMultipartUpload::builder().parts(part).build())
            .send()
            .await
            .unwrap();
    })
    .await;
    assert_eq!(mpu, one("put_object"));

    assert_eq!(
        entries_of(&srv, async {
            c.delete_object()
                .bucket("bkt")
                .key("k2")
                .send()
                .await
                .unwrap();
        })
        .await,
        one("delete_object")
    );
    let del = Delete::builder()
        .objects(ObjectIdentifier::builder().key("k").build().unwrap())
        .objects(ObjectIdentifier::builder().key("m").build().unwrap())
        .build()
        .unwrap();
    assert_eq!(
        entries_of(&srv, async {
            c.delete_objects()
                .bucket("bkt")
                .delete(del)
                .send()
                .await
                .unwrap();
        })
        .await,
        one("delete_objects")
    );

    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let cors = CorsConfiguration::builder()
        .cors_rules(
            CorsRule::builder()
                .allowed_origins("*")
                .allowed_methods("GET")
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    assert_eq!(
        entries_of(&srv, async {
            c.put_bucket_cors()
                .bucket("bkt")
                .cors_configuration(cors)
                .send()
                .await
                .unwrap();
        })
        .await,
        one("put_bucket")
    );
    assert_eq!(
        entries_of(&srv, async {
            c.put_bucket_acl()
                .bucket("bkt")
                .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
                .send()
                .await
                .unwrap();
        })
        .await,
        one("put_bucket")
    );
    assert_eq!(
        entries_of(&srv, async {
            srv.admin("POST", "/users", Some(serde_json::json!({"name": "u1"})))
                .await;
        })
        .await,
        one("put_user")
    );
    assert_eq!(
        entries_of(&srv, async {
            srv.admin("POST", "/users/u1/keys", None).await;
        })
        .await,
        one("put_access_key")
    );
    assert_eq!(
        entries_of(&srv, async {
            srv.admin(
                "PUT",
                "/buckets/bkt/grants/u1",
                Some(serde_json::json!({"permission": "Read"})),
            )
            .await;
        })
        .await,
        one("put_bucket")
    );
    assert_eq!(
        entries_of(&srv, async {
            c.delete_object()
                .bucket("bkt")
                .key("big")
                .send()
                .await
                .unwrap();
        })
        .await,
        one("delete_object")
    );
    assert_eq!(
        entries_of(&srv, async {
            c.delete_bucket().bucket("bkt").send().await.unwrap();
        })
        .await,
        one("delete_bucket")
    );
    assert_eq!(
        entries_of(&srv, async {
            srv.admin("DELETE", "/users/u1", None).await;
        })
        .await,
        one("delete_user")
    );

    // Sequence numbers are strictly increasing with no gaps.
    let all = srv.journal(0).await;
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"].as_u64(), Some(i as u64 + 1));
    }
}

#[tokio::test]
async fn failed_requests_append_nothing() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    c.put_object()
        .bucket("bkt")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .unwrap();
    let before = srv.last_seq().await;
    let raw = srv.raw();
    // Re-creating your own bucket succeeds in us-east-1, and changes nothing.
    c.create_bucket().bucket("bkt").send().await.unwrap();
    assert!(c
        .put_object()
        .bucket("missing")
        .key("k")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .is_err());
    assert!(c
        .put_object()
        .bucket("bkt")
        .key("k")
        .if_none_match("*")
        .body(ByteStream::from_static(b"v"))
        .send()
        .await
        .is_err());
    assert_eq!(
        raw.send(
            "PUT",
            "/bkt/x",
            &[("x-amz-checksum-crc32", "AAAAAA==")],
            b"data".to_vec(),
            true,
            None
        )
        .await
        .status,
        400
    );
    assert!(c.delete_bucket().bucket("bkt").send().await.is_err());
    assert!(c
        .copy_object()
        .bucket("bkt")
        .key("c")
        .copy_source("bkt/nothing")
        .send()
        .await
        .is_err());
    assert!(c
        .put_object_tagging()
        .bucket("bkt")
        .key("nothing")
        .tagging(
            Tagging::builder()
                .set_tag_set(Some(vec![]))
                .build()
                .unwrap()
        )
        .send()
        .await
        .is_err());
    // Deleting a key that does not exist succeeds but changes nothing.
    c.delete_object()
        .bucket("bkt")
        .key("never")
        .send()
        .await
        .unwrap();
    assert_eq!(srv.last_seq().await, before);
}

/// The admin journal view never shows a key's secret (the zone link carries it, the
/// inspection view does not).
#[tokio::test]
async fn the_journal_view_hides_key_secrets() {
    let srv = Server::start();
    let (_ak, sk) = srv.new_user("kim").await;
    let entries = srv.journal(0).await;
    let text = serde_json::to_string(&entries).unwrap();
    assert!(text.contains("put_access_key"), "{text}");
    assert!(!text.contains(&sk), "a secret reached the journal view");
    assert!(
        !text.contains(&srv.secret_key),
        "the admin's secret reached the journal view"
    );
}
