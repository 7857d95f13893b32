//! The data-protection promises tried as an attacker would (issue 16): who may set a lock,
//! who may erase history, what a signed URL covers, which documents are refused, and that
//! every request gets an answer. Each case failed on 145a19d.

mod common;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, ObjectLockLegalHoldStatus, ObjectLockMode};
use common::{err_code, set_versioning, Raw, Server};
use std::time::{Duration, SystemTime};

async fn locked_bucket(c: &aws_sdk_s3::Client, bucket: &str) {
    c.create_bucket()
        .bucket(bucket)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
}

const COMPLIANCE_2500: &[(&str, &str)] = &[
    ("x-amz-object-lock-mode", "COMPLIANCE"),
    (
        "x-amz-object-lock-retain-until-date",
        "2500-01-01T00:00:00Z",
    ),
];

/// Hole 1: lock headers need s3:PutObjectRetention / s3:PutObjectLegalHold, which writing
/// alone does not give.
#[tokio::test]
async fn only_who_may_lock_sets_lock_state_on_a_write() {
    let srv = Server::start();
    let c = srv.client();
    locked_bucket(&c, "exams").await;
    let writer = srv.new_user("writer").await;
    let denied = srv.new_user("denied").await;
    let writer_id = srv.user_id("writer").await;
    let denied_id = srv.user_id("denied").await;
    // Everyone may write: public-read-write, plus WRITE grants; a policy lets `denied`
    // write but denies it the lock actions.
    let grants = format!(
        "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\", id=\"{writer_id}\", id=\"{denied_id}\""
    );
    let r = srv
        .raw()
        .send(
            "PUT",
            "/exams?acl",
            &[("x-amz-grant-write", &grants)],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let policy = serde_json::json!({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:user/denied"},
         "Action": "s3:PutObject", "Resource": "arn:aws:s3:::exams/*"},
        {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::1:user/denied"},
         "Action": ["s3:PutObjectRetention", "s3:PutObjectLegalHold"],
         "Resource": "arn:aws:s3:::exams/*"}
    ]});
    c.put_bucket_policy()
        .bucket("exams")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();

    let callers: [(&str, Option<Raw>); 3] = [
        ("anonymous", None),
        ("WRITE grantee", Some(srv.raw_as(&writer))),
        ("policy-denied", Some(srv.raw_as(&denied))),
    ];
    for (who, raw) in &callers {
        let send =
            |method: &'static str, path: String, headers: Vec<(&'static str, &'static str)>| {
                let raw = raw.clone().unwrap_or_else(|| srv.raw());
                let signed = raw.ak != srv.access_key || raw.sk != srv.secret_key;
                async move {
                    raw.send(method, &path, &headers, b"grades".to_vec(), signed, None)
                        .await
                }
            };
        for (case, headers) in [
            ("retention", COMPLIANCE_2500.to_vec()),
            ("legal-hold", vec![("x-amz-object-lock-legal-hold", "ON")]),
        ] {
            let r = send("PUT", format!("/exams/{case}"), headers.clone()).await;
            assert_eq!(
                (r.status, r.code()),
                (403, "AccessDenied".into()),
                "{who} PUT with {case}"
            );
            let r = send("POST", format!("/exams/{case}?uploads"), headers.clone()).await;
            assert_eq!(r.status, 403, "{who} CreateMultipartUpload with {case}");
            let mut copy = headers.clone();
            copy.push(("x-amz-copy-source", "/exams/plain"));
            let r = send("PUT", format!("/exams/{case}-copy"), copy).await;
            assert_eq!(r.status, 403, "{who} CopyObject with {case}");
        }
        // Writing without lock headers is still theirs.
        let r = send("PUT", "/exams/plain".into(), vec![]).await;
        assert_eq!(r.status, 200, "{who} plain PUT: {}", r.text());
    }
    // Nothing was written with a lock: every version can be deleted.
    let versions = c
        .list_object_versions()
        .bucket("exams")
        .send()
        .await
        .unwrap();
    for v in versions.versions() {
        assert_eq!(v.key(), Some("plain"));
    }
    // The owner may.
    let put = c
        .put_object()
        .bucket("exams")
        .key("owned")
        .body(ByteStream::from_static(b"x"))
        .object_lock_mode(ObjectLockMode::Governance)
        .object_lock_retain_until_date(aws_sdk_s3::primitives::DateTime::from(
            SystemTime::now() + Duration::from_secs(86_400),
        ))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await;
    assert!(put.is_ok(), "{put:?}");
}

fn presign_v2(srv: &Server, method: &str, resource: &str, expires: i64) -> String {
    let sts =
        bascule_api::sigv2::string_to_sign(method, "", "", &expires.to_string(), "", resource);
    let sig = bascule_api::sigv2::sign(&srv.secret_key, &sts).unwrap();
    let sep = if resource.contains('?') { '&' } else { '?' };
    format!(
        "{}{resource}{sep}AWSAccessKeyId={}&Expires={expires}&Signature={}",
        srv.s3,
        srv.access_key,
        bascule_api::encoding::uri_encode(&sig)
    )
}

/// Hole 2: every sub-resource Bascule routes on is signed in SigV2: a presigned PUT cannot
/// be turned into a legal-hold or retention change.
#[tokio::test]
async fn a_sigv2_presigned_put_cannot_become_another_operation() {
    let srv = Server::start();
    let c = srv.client();
    locked_bucket(&c, "exams").await;
    c.put_object()
        .bucket("exams")
        .key("held")
        .body(ByteStream::from_static(b"x"))
        .object_lock_legal_hold_status(ObjectLockLegalHoldStatus::On)
        .send()
        .await
        .unwrap();
    let later = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 300;
    let url = presign_v2(&srv, "PUT", "/exams/held", later);
    let http = reqwest::Client::new();
    for (sub, body) in [
        ("legal-hold", "<LegalHold><Status>OFF</Status></LegalHold>"),
        ("retention", "<Retention/>"),
        ("acl", ""),
        ("tagging", "<Tagging><TagSet/></Tagging>"),
    ] {
        let r = http
            .put(format!("{url}&{sub}"))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 403, "&{sub}");
        assert!(
            r.text().await.unwrap().contains("SignatureDoesNotMatch"),
            "&{sub}"
        );
    }
    // A sub-resource no PUT selects is no PutObject either: refused before anything else.
    let r = http.put(format!("{url}&attributes")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 501, "&attributes");
    assert!(r.text().await.unwrap().contains("NotImplemented"));
    for sub in [
        "publicAccessBlock",
        "ownershipControls",
        "policyStatus",
        "versioning",
    ] {
        let url = presign_v2(&srv, "GET", "/exams", later);
        let r = http.get(format!("{url}&{sub}")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 403, "&{sub}");
    }
    // The hold is still on; the same sub-resource signed works.
    let hold = c
        .get_object_legal_hold()
        .bucket("exams")
        .key("held")
        .send()
        .await
        .unwrap();
    assert_eq!(
        hold.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    let signed = presign_v2(&srv, "GET", "/exams/held?legal-hold", later);
    let r = http.get(signed).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

/// Hole 3: deleting a version is s3:DeleteObjectVersion, which an ACL WRITE grant or a
/// public-read-write bucket does not give.
#[tokio::test]
async fn writers_cannot_erase_history() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("courses").send().await.unwrap();
    set_versioning(&c, "courses", "Enabled").await;
    let mut ids = Vec::new();
    for body in ["v1", "v2"] {
        let out = c
            .put_object()
            .bucket("courses")
            .key("notes")
            .body(ByteStream::from_static(body.as_bytes()))
            .send()
            .await
            .unwrap();
        ids.push(out.version_id().unwrap().to_string());
    }
    c.put_bucket_acl()
        .bucket("courses")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    let writer = srv.new_user("writer").await;
    let writer_id = srv.user_id("writer").await;
    let grants =
        format!("uri=\"http://acs.amazonaws.com/groups/global/AllUsers\", id=\"{writer_id}\"");
    let r = srv
        .raw()
        .send(
            "PUT",
            "/courses?acl",
            &[("x-amz-grant-write", &grants)],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    for (who, raw, signed) in [
        ("anonymous", srv.raw(), false),
        ("WRITE grantee", srv.raw_as(&writer), true),
    ] {
        let r = raw
            .send(
                "DELETE",
                &format!("/courses/notes?versionId={}", ids[0]),
                &[],
                vec![],
                signed,
                None,
            )
            .await;
        assert_eq!((r.status, r.code()), (403, "AccessDenied".into()), "{who}");
        let doc = format!(
            "<Delete><Object><Key>notes</Key><VersionId>{}</VersionId></Object><Object><Key>notes</Key><VersionId>{}</VersionId></Object></Delete>",
            ids[0], ids[1]
        );
        let r = raw
            .send(
                "POST",
                "/courses?delete",
                &[],
                doc.into_bytes(),
                signed,
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{who}");
        let text = r.text();
        assert_eq!(
            text.matches("<Code>AccessDenied</Code>").count(),
            2,
            "{who}: {text}"
        );
        assert!(!text.contains("<Deleted>"), "{who}: {text}");
        // A plain delete (a marker) is still a writer's right.
        let r = raw
            .send("DELETE", "/courses/notes", &[], vec![], signed, None)
            .await;
        assert_eq!(r.status, 204, "{who}: {}", r.text());
    }
    let versions = c
        .list_object_versions()
        .bucket("courses")
        .send()
        .await
        .unwrap();
    let kept: Vec<&str> = versions
        .versions()
        .iter()
        .filter_map(|v| v.version_id())
        .collect();
    for id in &ids {
        assert!(kept.contains(&id.as_str()), "version {id} was erased");
    }
}

/// Medium 5: DeleteObjects decides the governance bypass per key, as DELETE does.
#[tokio::test]
async fn a_multi_delete_bypasses_governance_key_by_key() {
    let srv = Server::start();
    let c = srv.client();
    let owner = srv.new_user("owner").await;
    let oc = srv.client_for(&owner.0, &owner.1);
    locked_bucket(&oc, "exams").await;
    let mut ids = Vec::new();
    for key in ["drafts/a", "final/b"] {
        let out = oc
            .put_object()
            .bucket("exams")
            .key(key)
            .body(ByteStream::from_static(b"x"))
            .object_lock_mode(ObjectLockMode::Governance)
            .object_lock_retain_until_date(aws_sdk_s3::primitives::DateTime::from(
                SystemTime::now() + Duration::from_secs(86_400),
            ))
            .send()
            .await
            .unwrap();
        ids.push(out.version_id().unwrap().to_string());
    }
    let policy = serde_json::json!({"Statement": [
        {"Effect": "Deny", "Principal": "*", "Action": "s3:BypassGovernanceRetention",
         "Resource": "arn:aws:s3:::exams/final/*"}
    ]});
    oc.put_bucket_policy()
        .bucket("exams")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let doc = format!(
        "<Delete><Object><Key>drafts/a</Key><VersionId>{}</VersionId></Object><Object><Key>final/b</Key><VersionId>{}</VersionId></Object></Delete>",
        ids[0], ids[1]
    );
    let r = srv
        .raw_as(&owner)
        .send(
            "POST",
            "/exams?delete",
            &[("x-amz-bypass-governance-retention", "true")],
            doc.into_bytes(),
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let text = r.text();
    assert!(text.contains("<Deleted><Key>drafts/a</Key>"), "{text}");
    assert!(
        text.contains("<Key>final/b</Key>") && text.contains("AccessDenied"),
        "{text}"
    );
    // The single DELETE agrees.
    let r = srv
        .raw_as(&owner)
        .send(
            "DELETE",
            &format!("/exams/final/b?versionId={}", ids[1]),
            &[("x-amz-bypass-governance-retention", "true")],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    drop(c);
}

/// Medium 6: retention periods are bounded; nothing overflows into a date in 1970.
#[tokio::test]
async fn retention_periods_out_of_range_are_refused() {
    let srv = Server::start();
    let c = srv.client();
    locked_bucket(&c, "exams").await;
    let raw = srv.raw();
    let doc = |rule: &str| {
        format!(
            "<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode>{rule}</DefaultRetention></Rule></ObjectLockConfiguration>"
        )
        .into_bytes()
    };
    for rule in [
        "<Years>584942361</Years>",
        "<Years>101</Years>",
        "<Years>0</Years>",
        "<Years>-1</Years>",
        "<Days>36501</Days>",
        "<Days>0</Days>",
        "<Days>18446744073709551615</Days>",
    ] {
        let r = raw
            .send("PUT", "/exams?object-lock", &[], doc(rule), true, None)
            .await;
        assert_eq!(r.status, 400, "{rule}: {}", r.text());
        assert!(
            ["InvalidRetentionPeriod", "MalformedXML"].contains(&r.code().as_str()),
            "{rule}: {}",
            r.text()
        );
    }
    let r = raw
        .send(
            "PUT",
            "/exams?object-lock",
            &[],
            doc("<Days>1</Days><Years>1</Years>"),
            true,
            None,
        )
        .await;
    assert_eq!(r.code(), "MalformedXML");
    let r = raw
        .send(
            "PUT",
            "/exams?object-lock",
            &[],
            doc("<Years>100</Years>"),
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let head = raw
        .send("PUT", "/exams/k", &[], b"x".to_vec(), true, None)
        .await;
    assert_eq!(head.status, 200);
    let got = raw.send("HEAD", "/exams/k", &[], vec![], true, None).await;
    let until = got.header("x-amz-object-lock-retain-until-date").unwrap();
    assert!(until.starts_with("21"), "{until}");
}

/// Medium 7: a lifecycle rule whose dates would pass the year 9999 is refused, and no
/// request ends without an answer.
#[tokio::test]
async fn lifecycle_days_out_of_range_are_refused_and_requests_answer() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let raw = srv.raw();
    let rule = |days: &str| {
        format!(
            "<LifecycleConfiguration><Rule><ID>r</ID><Filter><Prefix></Prefix></Filter><Status>Enabled</Status><Expiration><Days>{days}</Days></Expiration></Rule></LifecycleConfiguration>"
        )
        .into_bytes()
    };
    let r = raw
        .send("PUT", "/bkt?lifecycle", &[], rule("3000000"), true, None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidArgument".into()),
        "{}",
        r.text()
    );
    let r = raw
        .send("PUT", "/bkt?lifecycle", &[], rule("1000000"), true, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = raw
        .send("PUT", "/bkt/k", &[], b"x".to_vec(), true, None)
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-amz-expiration").is_some());
    let r = raw.send("GET", "/bkt/k", &[], vec![], true, None).await;
    assert_eq!(r.body, b"x");
}

/// Medium 8: a policy letting everyone in under an aws:PrincipalType condition is public.
#[tokio::test]
async fn principal_type_conditions_leave_a_policy_public() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let policy = serde_json::json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
         "Resource": "arn:aws:s3:::bkt/*",
         "Condition": {"StringEquals": {"aws:PrincipalType": "Anonymous"}}}
    ]});
    c.put_bucket_policy()
        .bucket("bkt")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let status = c
        .get_bucket_policy_status()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        status.policy_status().and_then(|s| s.is_public()),
        Some(true)
    );
    common::put(&c, "bkt", "k", b"x".to_vec()).await;
    let anon = |path: &'static str| {
        let s3 = srv.s3.clone();
        async move {
            reqwest::get(format!("{s3}{path}"))
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(anon("/bkt/k").await, 200);
    // RestrictPublicBuckets stops it; BlockPublicPolicy refuses it.
    let raw = srv.raw();
    let block = |restrict: bool, block: bool| {
        format!("<PublicAccessBlockConfiguration><BlockPublicPolicy>{block}</BlockPublicPolicy><RestrictPublicBuckets>{restrict}</RestrictPublicBuckets></PublicAccessBlockConfiguration>").into_bytes()
    };
    let r = raw
        .send(
            "PUT",
            "/bkt?publicAccessBlock",
            &[],
            block(true, false),
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(anon("/bkt/k").await, 403);
    let r = raw
        .send(
            "PUT",
            "/bkt?publicAccessBlock",
            &[],
            block(false, true),
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let e = c
        .put_bucket_policy()
        .bucket("bkt")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
}

/// Medium 9: a bucket's settings are never an anonymous caller's, whatever a policy says.
#[tokio::test]
async fn anonymous_callers_never_manage_a_bucket() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let policy = serde_json::json!({"Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::bkt", "arn:aws:s3:::bkt/*"]}
    ]});
    c.put_bucket_policy()
        .bucket("bkt")
        .policy(policy.to_string())
        .send()
        .await
        .unwrap();
    let raw = srv.raw();
    for (method, path, body) in [
        ("GET", "/bkt?policy", ""),
        ("DELETE", "/bkt?policy", ""),
        ("PUT", "/bkt?policy", "{}"),
        ("PUT", "/bkt?acl", ""),
        (
            "PUT",
            "/bkt?publicAccessBlock",
            "<PublicAccessBlockConfiguration/>",
        ),
        ("DELETE", "/bkt?publicAccessBlock", ""),
        ("PUT", "/bkt?ownershipControls", ""),
        ("PUT", "/bkt?cors", ""),
        ("DELETE", "/bkt?cors", ""),
        ("PUT", "/bkt?lifecycle", ""),
        ("DELETE", "/bkt?lifecycle", ""),
        ("PUT", "/bkt?object-lock", ""),
        ("PUT", "/bkt?versioning", ""),
        ("DELETE", "/bkt", ""),
    ] {
        let r = raw
            .send(
                method,
                path,
                &[("x-amz-acl", "public-read-write")],
                body.as_bytes().to_vec(),
                false,
                None,
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (403, "AccessDenied".into()),
            "{method} {path}"
        );
    }
    // The policy still stands, and reads it allows still work.
    assert!(c.get_bucket_policy().bucket("bkt").send().await.is_ok());
    let r = raw
        .send("GET", "/bkt?list-type=2", &[], vec![], false, None)
        .await;
    assert_eq!(r.status, 200);
}

/// Medium 10: BucketOwnerEnforced makes the bucket's owner the owner of every object,
/// including those written before.
#[tokio::test]
async fn bucket_owner_enforced_takes_over_existing_objects() {
    let srv = Server::start();
    let c = srv.client();
    let owner = srv.new_user("owner").await;
    let writer = srv.new_user("writer").await;
    let oc = srv.client_for(&owner.0, &owner.1);
    oc.create_bucket().bucket("bkt").send().await.unwrap();
    let writer_id = srv.user_id("writer").await;
    let owner_id = srv.user_id("owner").await;
    let r = srv
        .raw_as(&owner)
        .send(
            "PUT",
            "/bkt?acl",
            &[("x-amz-grant-write", &format!("id=\"{writer_id}\""))],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let wraw = srv.raw_as(&writer);
    let r = wraw
        .send("PUT", "/bkt/mine", &[], b"x".to_vec(), true, None)
        .await;
    assert_eq!(r.status, 200);
    let r = wraw.send("GET", "/bkt/mine", &[], vec![], true, None).await;
    assert_eq!(r.status, 200, "the writer owns its object");
    // ACLs must be gone before they can be disabled (as on AWS).
    let r = srv
        .raw_as(&owner)
        .send(
            "PUT",
            "/bkt?acl",
            &[("x-amz-acl", "private")],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let r = srv.raw_as(&owner)
        .send(
            "PUT",
            "/bkt?ownershipControls",
            &[],
            b"<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>".to_vec(),
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let acl = oc
        .get_object_acl()
        .bucket("bkt")
        .key("mine")
        .send()
        .await
        .unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(owner_id.as_str()));
    let r = wraw.send("GET", "/bkt/mine", &[], vec![], true, None).await;
    assert_eq!(r.status, 403, "a former owner keeps nothing");
    drop(c);
}

/// Low 11: response-* overrides need a signed request.
#[tokio::test]
async fn anonymous_gets_cannot_override_response_headers() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    c.put_object()
        .bucket("bkt")
        .key("page.txt")
        .acl(aws_sdk_s3::types::ObjectCannedAcl::PublicRead)
        .content_type("text/plain")
        .body(ByteStream::from_static(b"<script>alert(1)</script>"))
        .send()
        .await
        .unwrap();
    let raw = srv.raw();
    let r = raw
        .send(
            "GET",
            "/bkt/page.txt?response-content-type=text/html",
            &[],
            vec![],
            false,
            None,
        )
        .await;
    assert_eq!((r.status, r.code()), (400, "InvalidRequest".into()));
    let r = raw
        .send("GET", "/bkt/page.txt", &[], vec![], false, None)
        .await;
    assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
    let r = raw
        .send(
            "GET",
            "/bkt/page.txt?response-content-type=text/html",
            &[],
            vec![],
            true,
            None,
        )
        .await;
    assert_eq!(r.header("content-type").as_deref(), Some("text/html"));
}

/// Lock settings in a browser form are honoured as on a PUT, and need the same
/// permissions: an anonymous form on a public-read-write bucket cannot lock.
#[tokio::test]
async fn lock_fields_in_a_browser_form() {
    let srv = Server::start();
    let c = srv.client();
    locked_bucket(&c, "exams").await;
    c.put_bucket_acl()
        .bucket("exams")
        .acl(BucketCannedAcl::PublicReadWrite)
        .send()
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let post = |form| {
        http.post(format!("{}/exams", srv.s3))
            .multipart(form)
            .send()
    };
    let lock_fields: &[(&str, &str)] = &[
        ("key", "paper.pdf"),
        ("x-amz-object-lock-mode", "GOVERNANCE"),
        (
            "x-amz-object-lock-retain-until-date",
            "2500-01-01T00:00:00Z",
        ),
        ("x-amz-object-lock-legal-hold", "ON"),
    ];
    let r = post(common::post_form(
        &srv,
        "exams",
        lock_fields,
        b"exam".to_vec(),
        false,
    ))
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403, "{}", r.text().await.unwrap());
    // Without lock fields the same anonymous form writes.
    let r = post(common::post_form(
        &srv,
        "exams",
        &[("key", "anon.pdf")],
        b"exam".to_vec(),
        false,
    ))
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    // The owner's signed form sets both.
    let r = post(common::post_form(
        &srv,
        "exams",
        lock_fields,
        b"exam".to_vec(),
        true,
    ))
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 204, "{}", r.text().await.unwrap());
    let retention = c
        .get_object_retention()
        .bucket("exams")
        .key("paper.pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(
        retention.retention().and_then(|r| r.mode()),
        Some(&aws_sdk_s3::types::ObjectLockRetentionMode::Governance)
    );
    let hold = c
        .get_object_legal_hold()
        .bucket("exams")
        .key("paper.pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(
        hold.legal_hold().and_then(|h| h.status()),
        Some(&ObjectLockLegalHoldStatus::On)
    );
    // A malformed lock field is refused like the header.
    let r = post(common::post_form(
        &srv,
        "exams",
        &[("key", "bad.pdf"), ("x-amz-object-lock-mode", "FOREVER")],
        b"exam".to_vec(),
        true,
    ))
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}
