//! Bucket operations through aws-sdk-s3 against a real server.

mod common;
use common::{err_code, Server};

#[tokio::test]
async fn create_list_head_delete() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("courses").send().await.unwrap();
    c.create_bucket().bucket("videos").send().await.unwrap();
    let list = c.list_buckets().send().await.unwrap();
    let names: Vec<_> = list.buckets().iter().filter_map(|b| b.name()).collect();
    assert_eq!(names, vec!["courses", "videos"]);
    assert!(list.buckets()[0].creation_date().is_some());
    // Owner ids are canonical (64 hex digits, never the name); the name is DisplayName.
    let owner = list.owner().expect("owner");
    assert_eq!(owner.display_name(), Some("admin"));
    let id = owner.id().unwrap_or_default();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    c.head_bucket().bucket("courses").send().await.unwrap();

    // us-east-1 (the default region) answers re-creating your own bucket with success,
    // unless the request asks for an ACL the bucket does not have.
    c.create_bucket().bucket("courses").send().await.unwrap();
    let e = c
        .create_bucket()
        .bucket("courses")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "BucketAlreadyExists");

    c.put_object()
        .bucket("courses")
        .key("a.pdf")
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let e = c
        .delete_bucket()
        .bucket("courses")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "BucketNotEmpty");
    c.delete_object()
        .bucket("courses")
        .key("a.pdf")
        .send()
        .await
        .unwrap();
    c.delete_bucket().bucket("courses").send().await.unwrap();
    let e = c.head_bucket().bucket("courses").send().await.unwrap_err();
    assert!(e.raw_response().is_some_and(|r| r.status().as_u16() == 404));
    let e = c
        .delete_bucket()
        .bucket("courses")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchBucket");
}

#[tokio::test]
async fn bucket_names_are_validated() {
    let srv = Server::start();
    let raw = srv.raw();
    for bad in ["ab", "UPPER", "bad_name", "192.168.0.1", "-dash"] {
        let r = raw
            .send("PUT", &format!("/{bad}"), &[], vec![], true, None)
            .await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.code(), "InvalidBucketName", "{bad}");
    }
}

#[tokio::test]
async fn other_users_bucket_already_exists() {
    let srv = Server::start();
    srv.client()
        .create_bucket()
        .bucket("shared")
        .send()
        .await
        .unwrap();
    let (ak, sk) = srv.new_user("bob").await;
    let bob = srv.client_for(&ak, &sk);
    let e = bob
        .create_bucket()
        .bucket("shared")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "BucketAlreadyExists");
    // Bob does not see or reach alice's bucket.
    assert!(bob
        .list_buckets()
        .send()
        .await
        .unwrap()
        .buckets()
        .is_empty());
    let e = bob
        .list_objects_v2()
        .bucket("shared")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
}

#[tokio::test]
async fn location_and_versioning() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bk1").send().await.unwrap();
    let loc = c.get_bucket_location().bucket("bk1").send().await.unwrap();
    assert!(
        loc.location_constraint().is_none()
            || loc.location_constraint().unwrap().as_str().is_empty()
    );
    let v = c
        .get_bucket_versioning()
        .bucket("bk1")
        .send()
        .await
        .unwrap();
    assert!(
        v.status().is_none(),
        "versioning is reported as never enabled"
    );
    c.put_bucket_versioning()
        .bucket("bk1")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v = c
        .get_bucket_versioning()
        .bucket("bk1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        v.status(),
        Some(&aws_sdk_s3::types::BucketVersioningStatus::Enabled)
    );
    // MFA delete needs an MFA device Bascule does not have: refused, never ignored.
    let e = c
        .put_bucket_versioning()
        .bucket("bk1")
        .versioning_configuration(
            aws_sdk_s3::types::VersioningConfiguration::builder()
                .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                .mfa_delete(aws_sdk_s3::types::MfaDelete::Enabled)
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NotImplemented");
}

#[tokio::test]
async fn unsupported_operations_answer_not_implemented() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bk1").send().await.unwrap();
    let e = c
        .get_bucket_replication()
        .bucket("bk1")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NotImplemented");
    let r = srv
        .raw()
        .send("GET", "/bk1?website", &[], vec![], true, None)
        .await;
    assert_eq!(r.status, 501);
    assert_eq!(r.code(), "NotImplemented");
    assert!(r.text().contains("<RequestId>"));
    assert!(r.text().contains("<Resource>/bk1</Resource>"));
    assert!(r.header("x-amz-request-id").is_some());
}

#[tokio::test]
async fn bucket_tagging() {
    use aws_sdk_s3::types::{Tag, Tagging};
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("tagged").send().await.unwrap();
    let e = c
        .get_bucket_tagging()
        .bucket("tagged")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchTagSet");
    let tags = Tagging::builder()
        .tag_set(
            Tag::builder()
                .key("course ")
                .value(" maths")
                .build()
                .unwrap(),
        )
        .tag_set(Tag::builder().key("year").value("2026").build().unwrap())
        .build()
        .unwrap();
    c.put_bucket_tagging()
        .bucket("tagged")
        .tagging(tags)
        .send()
        .await
        .unwrap();
    let got = c
        .get_bucket_tagging()
        .bucket("tagged")
        .send()
        .await
        .unwrap();
    let pairs: Vec<(&str, &str)> = got.tag_set().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(
        pairs,
        vec![("course ", " maths"), ("year", "2026")],
        "bytes kept"
    );
    let reserved = Tagging::builder()
        .tag_set(Tag::builder().key("aws:x").value("y").build().unwrap())
        .build()
        .unwrap();
    let e = c
        .put_bucket_tagging()
        .bucket("tagged")
        .tagging(reserved)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidTag");
    c.delete_bucket_tagging()
        .bucket("tagged")
        .send()
        .await
        .unwrap();
    let e = c
        .get_bucket_tagging()
        .bucket("tagged")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchTagSet");
    // Only the owner manages a bucket's tags.
    let (ak, sk) = srv.new_user("gina").await;
    let e = srv
        .client_for(&ak, &sk)
        .get_bucket_tagging()
        .bucket("tagged")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
}

#[tokio::test]
async fn recreating_your_bucket_outside_us_east_1() {
    let mut srv = Server::prepare(&[], |_| {});
    srv.env.push(("BASCULE_REGION".into(), "eu-west-3".into()));
    srv.spawn();
    let c = srv.client();
    c.create_bucket().bucket("courses").send().await.unwrap();
    let e = c
        .create_bucket()
        .bucket("courses")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "BucketAlreadyOwnedByYou");
}
