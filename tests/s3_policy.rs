//! Bucket policies as AWS evaluates them (issue 8): Allow and Deny (explicit deny wins,
//! even for the owner), principals by ARN, actions and resources with wildcards,
//! conditions on the request, per-key decisions in a multi-object delete, refusal of
//! malformed policies, GetBucketPolicyStatus, and principals that do not outlive users.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use common::{err_code, put, Server};

async fn setup() -> (Server, aws_sdk_s3::Client) {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("docs").send().await.unwrap();
    for k in [
        "shared/a.pdf",
        "shared/b.pdf",
        "private/c.pdf",
        "tmp/x",
        "keep/y",
    ] {
        put(&c, "docs", k, k.as_bytes().to_vec()).await;
    }
    (srv, c)
}

async fn set_policy(c: &aws_sdk_s3::Client, policy: &str) {
    c.put_bucket_policy()
        .bucket("docs")
        .policy(policy)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn a_second_user_reads_one_prefix_only() {
    let (srv, c) = setup().await;
    let (ak, sk) = srv.new_user("hugo").await;
    let hugo = srv.client_for(&ak, &sk);
    set_policy(
        &c,
        r#"{"Version":"2012-10-17","Statement":[
          {"Sid":"ReadShared","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:user/hugo"},
           "Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/shared/*"},
          {"Sid":"ListShared","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::000000000000:user/hugo"]},
           "Action":"s3:ListBucket","Resource":"arn:aws:s3:::docs",
           "Condition":{"StringLike":{"s3:prefix":"shared/*"}}}]}"#,
    )
    .await;
    let got = common::get(&hugo, "docs", "shared/a.pdf").await;
    assert_eq!(got.as_deref(), Some(&b"shared/a.pdf"[..]));
    let e = hugo
        .get_object()
        .bucket("docs")
        .key("private/c.pdf")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    let listed = hugo
        .list_objects_v2()
        .bucket("docs")
        .prefix("shared/")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.key_count(), Some(2));
    let e = hugo
        .list_objects_v2()
        .bucket("docs")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied", "listing outside the prefix");
    let e = hugo
        .put_object()
        .bucket("docs")
        .key("shared/new")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied", "read-only");
    // Anonymous callers are not hugo.
    let r = reqwest::get(format!("{}/docs/shared/a.pdf", srv.s3))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);

    // A user re-created under hugo's name is not the hugo the policy named.
    srv.admin("DELETE", &format!("/keys/{ak}"), None).await;
    let (st, _) = srv.admin("DELETE", "/users/hugo", None).await;
    assert_eq!(st, 200);
    let (ak2, sk2) = srv.new_user("hugo").await;
    let e = srv
        .client_for(&ak2, &sk2)
        .get_object()
        .bucket("docs")
        .key("shared/a.pdf")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
}

#[tokio::test]
async fn explicit_deny_wins_even_for_the_owner() {
    // The bucket's owner is an ordinary user (admins, the operator's account, are not
    // bound by bucket policies).
    let srv = Server::start();
    let (ak, sk) = srv.new_user("owner").await;
    let c = srv.client_for(&ak, &sk);
    c.create_bucket().bucket("docs").send().await.unwrap();
    for k in ["tmp/x", "keep/y"] {
        put(&c, "docs", k, k.as_bytes().to_vec()).await;
    }
    set_policy(
        &c,
        r#"{"Statement":[{"Effect":"Deny","Principal":"*","Action":["s3:DeleteObject","s3:PutObject"],
            "Resource":"arn:aws:s3:::docs/keep/*"}]}"#,
    )
    .await;
    let e = c
        .delete_object()
        .bucket("docs")
        .key("keep/y")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    c.delete_object()
        .bucket("docs")
        .key("tmp/x")
        .send()
        .await
        .unwrap();
    // A multi-object delete is decided key by key.
    put(&c, "docs", "tmp/x", b"x".to_vec()).await;
    let out = c
        .delete_objects()
        .bucket("docs")
        .delete(
            Delete::builder()
                .objects(ObjectIdentifier::builder().key("tmp/x").build().unwrap())
                .objects(ObjectIdentifier::builder().key("keep/y").build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let deleted: Vec<_> = out.deleted().iter().filter_map(|d| d.key()).collect();
    assert_eq!(deleted, vec!["tmp/x"]);
    let errors: Vec<_> = out
        .errors()
        .iter()
        .map(|e| (e.key().unwrap_or(""), e.code().unwrap_or("")))
        .collect();
    assert_eq!(errors, vec![("keep/y", "AccessDenied")]);
    assert!(common::get(&c, "docs", "keep/y").await.is_some());
    // The owner can still mend the policy that binds them.
    c.delete_bucket_policy()
        .bucket("docs")
        .send()
        .await
        .unwrap();
    c.delete_object()
        .bucket("docs")
        .key("keep/y")
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn conditions_on_the_request() {
    let (srv, c) = setup().await;
    let anon = |key: &str| {
        let url = format!("{}/docs/{key}", srv.s3);
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    set_policy(
        &c,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::docs/shared/*",
            "Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}}]}"#,
    )
    .await;
    assert_eq!(anon("shared/a.pdf").await, 200);
    assert_eq!(anon("private/c.pdf").await, 403);
    let status = c
        .get_bucket_policy_status()
        .bucket("docs")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.policy_status().and_then(|p| p.is_public()),
        Some(false),
        "a policy limited by source address is not public"
    );
    set_policy(
        &c,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::docs/shared/*",
            "Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}}]}"#,
    )
    .await;
    assert_eq!(anon("shared/a.pdf").await, 403);
    // Tags of the existing object can decide.
    c.put_object_tagging()
        .bucket("docs")
        .key("private/c.pdf")
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key("visibility")
                        .value("public")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    set_policy(
        &c,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
            "Resource":"arn:aws:s3:::docs/*",
            "Condition":{"StringEquals":{"s3:ExistingObjectTag/visibility":"public"}}}]}"#,
    )
    .await;
    assert_eq!(anon("private/c.pdf").await, 200);
    assert_eq!(anon("shared/a.pdf").await, 403);
    let status = c
        .get_bucket_policy_status()
        .bucket("docs")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.policy_status().and_then(|p| p.is_public()),
        Some(true)
    );
}

#[tokio::test]
async fn malformed_policies_are_refused_whole() {
    let (_srv, c) = setup().await;
    for bad in [
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObjekt","Resource":"arn:aws:s3:::docs/*"}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::other/*"}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:user/nobody"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/*"}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/*","Condition":{"StringEquals":{"s3:unknown-key":"x"}}}]}"#,
        r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::docs/*","Condition":{"StringSortOf":{"s3:prefix":"x"}}}]}"#,
        "not json",
    ] {
        let e = c
            .put_bucket_policy()
            .bucket("docs")
            .policy(bad)
            .send()
            .await
            .unwrap_err();
        assert_eq!(err_code(&e), "MalformedPolicy", "{bad}");
    }
    let e = c
        .get_bucket_policy()
        .bucket("docs")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchBucketPolicy", "nothing half-applied");
}
