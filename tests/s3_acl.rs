//! S3 ACLs as AWS documents them: canned ACLs and grant headers on buckets and objects,
//! Get/Put Bucket and Object ACL documents, anonymous and authenticated group grants, and
//! object ACL headers on every path that creates an object (issue 8, bug 2). Also the
//! request headers Bascule refuses rather than ignores (bug 3).

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    AccessControlPolicy, BucketCannedAcl, Grant, Grantee, ObjectCannedAcl, Owner, Permission, Type,
};
use common::{err_code, Server};

const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";

async fn setup() -> (Server, aws_sdk_s3::Client) {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    (srv, c)
}

async fn put(c: &aws_sdk_s3::Client, key: &str, acl: Option<ObjectCannedAcl>) {
    c.put_object()
        .bucket("bkt")
        .key(key)
        .set_acl(acl)
        .body(ByteStream::from_static(b"data"))
        .send()
        .await
        .unwrap();
}

async fn anon_status(srv: &Server, method: &str, path: &str) -> u16 {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    reqwest::Client::new()
        .request(m, format!("{}{path}", srv.s3))
        .body(if method == "PUT" { "x" } else { "" })
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn object_acls_decide_anonymous_reads() {
    let (srv, c) = setup().await;
    c.put_bucket_acl()
        .bucket("bkt")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    put(&c, "private", Some(ObjectCannedAcl::Private)).await;
    put(&c, "default", None).await;
    put(&c, "public", Some(ObjectCannedAcl::PublicRead)).await;
    // Bug 2: an object written private into a public-read bucket stays private.
    assert_eq!(anon_status(&srv, "GET", "/bkt/private").await, 403);
    assert_eq!(anon_status(&srv, "GET", "/bkt/default").await, 403);
    assert_eq!(anon_status(&srv, "GET", "/bkt/public").await, 200);
    assert_eq!(anon_status(&srv, "HEAD", "/bkt/public").await, 200);
    assert_eq!(anon_status(&srv, "GET", "/bkt?list-type=2").await, 200);
    assert_eq!(anon_status(&srv, "PUT", "/bkt/anon").await, 403);

    let acl = c
        .get_object_acl()
        .bucket("bkt")
        .key("public")
        .send()
        .await
        .unwrap();
    let perms: Vec<(Option<&str>, Option<&str>)> = acl
        .grants()
        .iter()
        .map(|g| {
            (
                g.grantee().and_then(|e| e.uri()),
                g.permission().map(|p| p.as_str()),
            )
        })
        .collect();
    assert_eq!(
        perms,
        // Groups first, then the owner, as AWS and RGW list them.
        vec![
            (Some(ALL_USERS), Some("READ")),
            (None, Some("FULL_CONTROL"))
        ]
    );
    assert_eq!(acl.owner().and_then(|o| o.display_name()), Some("admin"));

    // PutObjectAcl takes the object back to private, and out again.
    c.put_object_acl()
        .bucket("bkt")
        .key("public")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_eq!(anon_status(&srv, "GET", "/bkt/public").await, 403);
    c.put_object_acl()
        .bucket("bkt")
        .key("default")
        .grant_read(format!("uri=\"{ALL_USERS}\""))
        .send()
        .await
        .unwrap();
    assert_eq!(anon_status(&srv, "GET", "/bkt/default").await, 200);

    // Every path that creates an object honours the ACL headers: multipart and copy.
    let up = c
        .create_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .acl(ObjectCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let part = c
        .upload_part()
        .bucket("bkt")
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .part_number(1)
        .body(ByteStream::from_static(b"part"))
        .send()
        .await
        .unwrap();
    c.complete_multipart_upload()
        .bucket("bkt")
        .key("mp")
        .upload_id(up.upload_id().unwrap())
        .multipart_upload(
            aws_sdk_s3::types::CompletedMultipartUpload::builder()
                .parts(
                    aws_sdk_s3::types::CompletedPart::builder()
                        .part_number(1)
                        .e_tag(part.e_tag().unwrap())
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(anon_status(&srv, "GET", "/bkt/mp").await, 200);
    c.copy_object()
        .bucket("bkt")
        .key("copy")
        .copy_source("bkt/mp")
        .send()
        .await
        .unwrap();
    assert_eq!(
        anon_status(&srv, "GET", "/bkt/copy").await,
        403,
        "a copy does not inherit the source's ACL"
    );
}

#[tokio::test]
async fn bucket_acls_grant_writes_and_groups() {
    let (srv, c) = setup().await;
    c.put_bucket_acl()
        .bucket("bkt")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    assert_eq!(anon_status(&srv, "PUT", "/bkt/anon").await, 200);
    assert_eq!(anon_status(&srv, "DELETE", "/bkt/anon").await, 204);

    // authenticated-read: any signed user lists, nobody anonymous does.
    let (ak, sk) = srv.new_user("frank").await;
    let frank = srv.client_for(&ak, &sk);
    c.put_bucket_acl()
        .bucket("bkt")
        .acl(BucketCannedAcl::AuthenticatedRead)
        .send()
        .await
        .unwrap();
    frank.list_objects_v2().bucket("bkt").send().await.unwrap();
    assert_eq!(anon_status(&srv, "GET", "/bkt?list-type=2").await, 403);
    let e = frank
        .put_object()
        .bucket("bkt")
        .key("f")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");

    // A grant document naming frank by id gives him WRITE; by email (his name) READ_ACP.
    let frank_id = srv.user_id("frank").await;
    let owner_id = srv.user_id("admin").await;
    let policy = AccessControlPolicy::builder()
        .owner(Owner::builder().id(&owner_id).build())
        .grants(
            Grant::builder()
                .grantee(
                    Grantee::builder()
                        .r#type(Type::CanonicalUser)
                        .id(&frank_id)
                        .build()
                        .unwrap(),
                )
                .permission(Permission::Write)
                .build(),
        )
        .build();
    c.put_bucket_acl()
        .bucket("bkt")
        .access_control_policy(policy)
        .send()
        .await
        .unwrap();
    frank
        .put_object()
        .bucket("bkt")
        .key("f")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    // frank owns what he wrote; the bucket owner still controls it.
    let acl = frank
        .get_object_acl()
        .bucket("bkt")
        .key("f")
        .send()
        .await
        .unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(frank_id.as_str()));
    c.get_object().bucket("bkt").key("f").send().await.unwrap();
    let acl = c.get_bucket_acl().bucket("bkt").send().await.unwrap();
    let ids: Vec<_> = acl
        .grants()
        .iter()
        .filter_map(|g| g.grantee().and_then(|e| e.id()))
        .collect();
    // The document named frank alone: the ACL is what it said (the owner keeps the
    // implicit control of its ACL every owner has).
    assert_eq!(ids, vec![frank_id.as_str()]);
}

#[tokio::test]
async fn bad_acls_are_refused_with_aws_errors() {
    let (srv, c) = setup().await;
    put(&c, "k", None).await;
    let raw = srv.raw();
    let r = raw
        .send(
            "PUT",
            "/bkt?acl",
            &[],
            b"<AccessControlPolicy><Nope/></AccessControlPolicy>".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "MalformedACLError".to_string()));
    let r = raw
        .send(
            "PUT",
            "/bkt/k?acl",
            &[
                ("x-amz-acl", "public-read"),
                (
                    "x-amz-grant-read",
                    "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\"",
                ),
            ],
            Vec::new(),
            true,
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidRequest".to_string()));
    let r = raw
        .send(
            "PUT",
            "/bkt/k2",
            &[("x-amz-grant-read", "id=\"no-such-user\"")],
            b"x".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidArgument".to_string()));
    let r = raw
        .send(
            "PUT",
            "/bkt/k2",
            &[("x-amz-grant-read", "emailAddress=\"nobody@example.com\"")],
            b"x".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "UnresolvableGrantByEmailAddress".to_string())
    );
    let r = raw
        .send(
            "PUT",
            "/bkt/k2",
            &[("x-amz-acl", "public")],
            b"x".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidArgument".to_string()));
    let e = c
        .get_object()
        .bucket("bkt")
        .key("k2")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchKey", "no refused write left an object");
}

/// Bug 3: settings Bascule cannot honour are refused, never stored as if honoured
/// (encryption itself is honoured now: `s3_encryption.rs`).
#[tokio::test]
async fn settings_bascule_cannot_honour_are_refused() {
    let (srv, c) = setup().await;
    // Dual-layer KMS is not implemented.
    let e = c
        .put_object()
        .bucket("bkt")
        .key("sse")
        .server_side_encryption(aws_sdk_s3::types::ServerSideEncryption::AwsKmsDsse)
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NotImplemented");
    // A customer key over plain HTTP is refused (AWS: a secure connection is required).
    let e = c
        .put_object()
        .bucket("bkt")
        .key("ssec")
        .sse_customer_algorithm("AES256")
        .sse_customer_key("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=")
        .sse_customer_key_md5("dnF5x6K/8ZZRzpfSlMMM+w==")
        .body(ByteStream::from_static(b"secret"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRequest");
    let e = c
        .put_object()
        .bucket("bkt")
        .key("cold")
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidStorageClass");
    let e = c
        .put_object()
        .bucket("bkt")
        .key("locked")
        .object_lock_legal_hold_status(aws_sdk_s3::types::ObjectLockLegalHoldStatus::On)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRequest");
    let e = c
        .put_object()
        .bucket("bkt")
        .key("other-owner")
        .expected_bucket_owner("111122223333")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    c.put_object()
        .bucket("bkt")
        .key("standard")
        .storage_class(aws_sdk_s3::types::StorageClass::Standard)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let e = c
        .get_object()
        .bucket("bkt")
        .key("standard")
        .sse_customer_algorithm("AES256")
        .sse_customer_key("MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=")
        .sse_customer_key_md5("dnF5x6K/8ZZRzpfSlMMM+w==")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidRequest");
    let listed = common::list_keys(&c, "bkt").await;
    assert_eq!(
        listed,
        vec!["standard".to_string()],
        "nothing refused was stored"
    );
    drop(srv);
}

#[tokio::test]
async fn public_access_block() {
    use aws_sdk_s3::types::PublicAccessBlockConfiguration as Pab;
    let (srv, c) = setup().await;
    put(&c, "open", Some(ObjectCannedAcl::PublicRead)).await;
    let e = c
        .get_public_access_block()
        .bucket("bkt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchPublicAccessBlockConfiguration");
    let set = |cfg: Pab| {
        let c = c.clone();
        async move {
            c.put_public_access_block()
                .bucket("bkt")
                .public_access_block_configuration(cfg)
                .send()
                .await
                .unwrap();
        }
    };
    set(Pab::builder().block_public_acls(true).build()).await;
    let e = c
        .put_object()
        .bucket("bkt")
        .key("more")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    assert_eq!(
        anon_status(&srv, "GET", "/bkt/open").await,
        200,
        "not ignored yet"
    );
    set(Pab::builder().ignore_public_acls(true).build()).await;
    assert_eq!(anon_status(&srv, "GET", "/bkt/open").await, 403);
    let got = c
        .get_public_access_block()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    let cfg = got.public_access_block_configuration().unwrap();
    assert_eq!(
        (cfg.block_public_acls(), cfg.ignore_public_acls()),
        (Some(false), Some(true))
    );
    set(Pab::builder().block_public_policy(true).build()).await;
    let public = r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]}"#;
    let e = c
        .put_bucket_policy()
        .bucket("bkt")
        .policy(public)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    set(Pab::builder().restrict_public_buckets(true).build()).await;
    c.put_bucket_policy()
        .bucket("bkt")
        .policy(public)
        .send()
        .await
        .unwrap();
    put(&c, "private", None).await;
    assert_eq!(anon_status(&srv, "GET", "/bkt/private").await, 403);
    c.delete_public_access_block()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(anon_status(&srv, "GET", "/bkt/private").await, 200);
}

#[tokio::test]
async fn object_ownership_bucket_owner_enforced() {
    let (srv, c) = setup().await;
    c.create_bucket()
        .bucket("enforced")
        .object_ownership(aws_sdk_s3::types::ObjectOwnership::BucketOwnerEnforced)
        .send()
        .await
        .unwrap();
    let got = c
        .get_bucket_ownership_controls()
        .bucket("enforced")
        .send()
        .await
        .unwrap();
    let rule = &got.ownership_controls().unwrap().rules()[0];
    assert_eq!(rule.object_ownership().as_str(), "BucketOwnerEnforced");
    let e = c
        .put_object()
        .bucket("enforced")
        .key("k")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessControlListNotSupported");
    let e = c
        .put_bucket_acl()
        .bucket("enforced")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessControlListNotSupported");
    // A writer granted the bucket writes objects the bucket owner owns.
    let (ak, sk) = srv.new_user("ivan").await;
    srv.admin(
        "PUT",
        "/buckets/enforced/grants/ivan",
        Some(serde_json::json!({"permission": "ReadWrite"})),
    )
    .await;
    srv.client_for(&ak, &sk)
        .put_object()
        .bucket("enforced")
        .key("by-ivan")
        .acl(ObjectCannedAcl::BucketOwnerFullControl)
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let acl = c
        .get_object_acl()
        .bucket("enforced")
        .key("by-ivan")
        .send()
        .await
        .unwrap();
    assert_eq!(
        acl.owner().and_then(|o| o.id()),
        Some(srv.user_id("admin").await.as_str())
    );
    // Enforcement needs a bucket ACL that grants nothing beyond the owner.
    c.put_bucket_acl()
        .bucket("bkt")
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    let e = c
        .put_bucket_ownership_controls()
        .bucket("bkt")
        .ownership_controls(
            aws_sdk_s3::types::OwnershipControls::builder()
                .rules(
                    aws_sdk_s3::types::OwnershipControlsRule::builder()
                        .object_ownership(aws_sdk_s3::types::ObjectOwnership::BucketOwnerEnforced)
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "InvalidBucketAclWithObjectOwnership");
    c.delete_bucket_ownership_controls()
        .bucket("enforced")
        .send()
        .await
        .unwrap();
    let e = c
        .get_bucket_ownership_controls()
        .bucket("enforced")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "OwnershipControlsNotFoundError");
}

/// An ACL is kept as it was set: a document or grant headers that leave the owner out
/// show no owner grant (as on AWS, and as the S3 test suite's revoke-all checks), while
/// the owner keeps the implicit right to read and change the ACL. Canned ACLs and the
/// default always give the owner full control.
#[tokio::test]
async fn acls_that_leave_the_owner_out_are_kept_as_set() {
    let (srv, c) = setup().await;
    let alt = srv.new_user("alt").await;
    let alt_id = srv.user_id("alt").await;
    let owner_id = srv.user_id("admin").await;
    let grantees = |acl: &[Grant]| {
        acl.iter()
            .map(|g| {
                (
                    g.grantee()
                        .and_then(|e| e.id().or(e.uri()))
                        .unwrap_or("")
                        .to_string(),
                    g.permission()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                )
            })
            .collect::<Vec<_>>()
    };
    let fc = |id: &str| (id.to_string(), "FULL_CONTROL".to_string());
    // The default: the owner's full control.
    let got = c.get_bucket_acl().bucket("bkt").send().await.unwrap();
    assert_eq!(grantees(got.grants()), vec![fc(&owner_id)]);
    // Revoke all: an empty list, read back empty; the owner may still read and set it.
    let owner = Owner::builder().id(&owner_id).build();
    c.put_bucket_acl()
        .bucket("bkt")
        .access_control_policy(
            AccessControlPolicy::builder()
                .owner(owner.clone())
                .set_grants(Some(vec![]))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_acl().bucket("bkt").send().await.unwrap();
    assert!(got.grants().is_empty(), "{:?}", got.grants());
    // The owner still owns the bucket's objects and settings.
    put(&c, "k", None).await;
    // Grant headers name only the grantees they name.
    let r = srv
        .raw()
        .send(
            "PUT",
            "/bkt/k?acl",
            &[("x-amz-grant-read", &format!("id=\"{alt_id}\""))],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = c
        .get_object_acl()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        grantees(got.grants()),
        vec![(alt_id.clone(), "READ".to_string())]
    );
    // That grant works; the owner is not locked out of the ACL.
    let alt_client = srv.client_for(&alt.0, &alt.1);
    assert_eq!(common::get(&alt_client, "bkt", "k").await.unwrap(), b"data");
    c.put_object_acl()
        .bucket("bkt")
        .key("k")
        .acl(ObjectCannedAcl::Private)
        .send()
        .await
        .unwrap();
    // A canned ACL gives the owner full control again.
    let got = c
        .get_object_acl()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(grantees(got.grants()), vec![fc(&owner_id)]);
    let e = alt_client
        .get_object()
        .bucket("bkt")
        .key("k")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    // An object written with grant headers that leave its writer out.
    let r = srv
        .raw()
        .send(
            "PUT",
            "/bkt/h",
            &[("x-amz-grant-full-control", &format!("id=\"{alt_id}\""))],
            b"h".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let got = c
        .get_object_acl()
        .bucket("bkt")
        .key("h")
        .send()
        .await
        .unwrap();
    assert_eq!(grantees(got.grants()), vec![fc(&alt_id)]);
}
