//! Authentication and access control: SigV4 failures, presigned URLs, clock skew,
//! anonymous access, public-read, bucket policies, grants, CORS and browser POST.

mod common;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use common::{err_code, Server};
use std::time::{Duration, SystemTime};

async fn setup() -> (Server, aws_sdk_s3::Client) {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    c.put_object()
        .bucket("bkt")
        .key("k.txt")
        .body(ByteStream::from_static(b"hello"))
        .send()
        .await
        .unwrap();
    (srv, c)
}

#[tokio::test]
async fn signature_failures() {
    let (srv, _c) = setup().await;
    let bad_secret = srv.client_for(&srv.access_key, "wrong-secret");
    let e = bad_secret
        .get_object()
        .bucket("bkt")
        .key("k.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "SignatureDoesNotMatch");
    let unknown = srv.client_for("BKNOSUCHKEY", "x");
    let e = unknown.list_buckets().send().await.unwrap_err();
    assert_eq!(err_code(&e), "InvalidAccessKeyId");

    let mut raw = srv.raw();
    raw.time = Some(SystemTime::now() - Duration::from_secs(20 * 60));
    let r = raw.send("GET", "/bkt/k.txt", &[], vec![], true, None).await;
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "RequestTimeTooSkewed");
    raw.time = Some(SystemTime::now() - Duration::from_secs(10 * 60));
    let r = raw.send("GET", "/bkt/k.txt", &[], vec![], true, None).await;
    assert_eq!(r.status, 200, "10 minutes of skew is tolerated");

    let r = srv
        .raw()
        .send(
            "GET",
            "/bkt/k.txt",
            &[("authorization", "AWS4-HMAC-SHA256 Credential=x")],
            vec![],
            false,
            None,
        )
        .await;
    assert_eq!(r.code(), "AuthorizationHeaderMalformed");
}

#[tokio::test]
async fn disabled_keys_and_users() {
    let (srv, _c) = setup().await;
    let (ak, sk) = srv.new_user("carol").await;
    let carol = srv.client_for(&ak, &sk);
    carol.list_buckets().send().await.unwrap();
    let (st, _) = srv
        .admin("POST", &format!("/keys/{ak}/disable"), None)
        .await;
    assert_eq!(st, 200);
    assert_eq!(
        err_code(&carol.list_buckets().send().await.unwrap_err()),
        "InvalidAccessKeyId"
    );
    srv.admin("POST", &format!("/keys/{ak}/enable"), None).await;
    carol.list_buckets().send().await.unwrap();
    srv.admin("POST", "/users/carol/disable", None).await;
    assert_eq!(
        err_code(&carol.list_buckets().send().await.unwrap_err()),
        "InvalidAccessKeyId"
    );
    srv.admin("POST", "/users/carol/enable", None).await;
    let (st, _) = srv.admin("DELETE", &format!("/keys/{ak}"), None).await;
    assert_eq!(st, 200);
    assert_eq!(
        err_code(&carol.list_buckets().send().await.unwrap_err()),
        "InvalidAccessKeyId"
    );
    let (st, _) = srv.admin("DELETE", "/users/admin", None).await;
    assert_eq!(st, 409, "a user who owns buckets is kept");
    let (st, _) = srv.admin("GET", "/users", None).await;
    assert_eq!(st, 200);
    let r = reqwest::Client::new()
        .get(format!("{}/admin/v1/users", srv.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401, "the admin API needs the token");
    let r = reqwest::Client::new()
        .get(format!("{}/health/ready", srv.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn presigned_urls() {
    let (_srv, c) = setup().await;
    let url = c
        .get_object()
        .bucket("bkt")
        .key("k.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let r = reqwest::get(url.uri()).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "hello");

    let put = c
        .put_object()
        .bucket("bkt")
        .key("up.pdf")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .put(put.uri())
        .body("uploaded with a presigned URL")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let got = c
        .get_object()
        .bucket("bkt")
        .key("up.pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"uploaded with a presigned URL"
    );

    // Signed an hour ago, valid for 60 s: expired.
    let old = PresigningConfig::builder()
        .start_time(SystemTime::now() - Duration::from_secs(3600))
        .expires_in(Duration::from_secs(60))
        .build()
        .unwrap();
    let url = c
        .get_object()
        .bucket("bkt")
        .key("k.txt")
        .presigned(old)
        .await
        .unwrap();
    let r = reqwest::get(url.uri()).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("Request has expired"));

    let url = c
        .get_object()
        .bucket("bkt")
        .key("k.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let tampered = url.uri().replace("k.txt", "other.txt");
    let r = reqwest::get(tampered).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("SignatureDoesNotMatch"));
    let too_long = url
        .uri()
        .replace("X-Amz-Expires=300", "X-Amz-Expires=604801");
    // Lifetimes out of range are refused as AWS refuses them: 403 AccessDenied.
    let r = reqwest::get(too_long).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let text = r.text().await.unwrap();
    assert!(text.contains("AccessDenied"), "{text}");
    assert!(text.contains("less than a week"), "{text}");
    let negative = url.uri().replace("X-Amz-Expires=300", "X-Amz-Expires=-1");
    let r = reqwest::get(negative).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let text = r.text().await.unwrap();
    assert!(text.contains("must be non-negative"), "{text}");
}

#[tokio::test]
async fn anonymous_public_read_and_policy() {
    let (srv, c) = setup().await;
    let anon = |path: &str| reqwest::get(format!("{}{path}", srv.s3));
    let r = anon("/bkt/k.txt").await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("AccessDenied"));
    c.put_bucket_acl()
        .bucket("bkt")
        .acl(aws_sdk_s3::types::BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap();
    // As on AWS, a public-read bucket lets everyone list it; its objects stay private.
    assert_eq!(
        anon("/bkt?list-type=2").await.unwrap().status().as_u16(),
        200
    );
    let r = anon("/bkt/k.txt").await.unwrap();
    assert_eq!(r.status().as_u16(), 403, "the object's own ACL is private");
    let r = reqwest::Client::new()
        .put(format!("{}/bkt/evil", srv.s3))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "public-read is not public-write");
    let acl = c.get_bucket_acl().bucket("bkt").send().await.unwrap();
    assert_eq!(acl.grants().len(), 2);
    c.put_bucket_acl()
        .bucket("bkt")
        .acl(aws_sdk_s3::types::BucketCannedAcl::Private)
        .send()
        .await
        .unwrap();
    assert_eq!(
        anon("/bkt?list-type=2").await.unwrap().status().as_u16(),
        403
    );

    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bkt/*"}]}"#;
    c.put_bucket_policy()
        .bucket("bkt")
        .policy(policy)
        .send()
        .await
        .unwrap();
    assert_eq!(anon("/bkt/k.txt").await.unwrap().status().as_u16(), 200);
    assert_eq!(
        anon("/bkt?list-type=2").await.unwrap().status().as_u16(),
        403,
        "the policy grants GetObject only"
    );
    let got = c.get_bucket_policy().bucket("bkt").send().await.unwrap();
    assert_eq!(got.policy(), Some(policy));
    let e = c
        .put_bucket_policy()
        .bucket("bkt")
        .policy(policy.replace("s3:GetObject", "s3:GetObjekt"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err_code(&e),
        "MalformedPolicy",
        "an unknown action is refused"
    );
    c.delete_bucket_policy().bucket("bkt").send().await.unwrap();
    assert_eq!(anon("/bkt/k.txt").await.unwrap().status().as_u16(), 403);
    let e = c
        .get_bucket_policy()
        .bucket("bkt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "NoSuchBucketPolicy");
}

#[tokio::test]
async fn grants_between_users() {
    let (srv, _c) = setup().await;
    let (ak, sk) = srv.new_user("dave").await;
    let dave = srv.client_for(&ak, &sk);
    let e = dave
        .get_object()
        .bucket("bkt")
        .key("k.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    let (st, _) = srv
        .admin(
            "PUT",
            "/buckets/bkt/grants/dave",
            Some(serde_json::json!({"permission": "Read"})),
        )
        .await;
    assert_eq!(st, 200);
    dave.get_object()
        .bucket("bkt")
        .key("k.txt")
        .send()
        .await
        .unwrap();
    dave.list_objects_v2().bucket("bkt").send().await.unwrap();
    let e = dave
        .put_object()
        .bucket("bkt")
        .key("d")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    srv.admin(
        "PUT",
        "/buckets/bkt/grants/dave",
        Some(serde_json::json!({"permission": "ReadWrite"})),
    )
    .await;
    dave.put_object()
        .bucket("bkt")
        .key("d")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap();
    let e = dave.delete_bucket().bucket("bkt").send().await.unwrap_err();
    assert_eq!(
        err_code(&e),
        "AccessDenied",
        "only the owner deletes the bucket"
    );
    srv.admin("DELETE", "/buckets/bkt/grants/dave", None).await;
    let e = dave
        .get_object()
        .bucket("bkt")
        .key("k.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
}

/// Issue 8, bug 6: a deleted user's grants never pass to a user re-created with the same
/// name. Deleting removes every grant naming the user, and the new user gets a new id.
#[tokio::test]
async fn a_recreated_user_inherits_nothing() {
    let (srv, _c) = setup().await;
    srv.new_user("erin").await;
    let (st, old) = srv.admin("GET", "/users", None).await;
    assert_eq!(st, 200);
    let old_id = old
        .as_array()
        .and_then(|us| us.iter().find(|u| u["name"] == "erin"))
        .and_then(|u| u["id"].as_str())
        .expect("erin's id")
        .to_string();
    assert_ne!(old_id, "erin", "ids are not names");
    let (st, _) = srv
        .admin(
            "PUT",
            "/buckets/bkt/grants/erin",
            Some(serde_json::json!({"permission": "ReadWrite"})),
        )
        .await;
    assert_eq!(st, 200);
    // A bucket ACL grant naming erin by id goes with her too.
    let r = srv
        .raw()
        .send(
            "PUT",
            "/bkt?acl",
            &[("x-amz-grant-read", &format!("id=\"{old_id}\""))],
            Vec::new(),
            true,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (st, _) = srv.admin("DELETE", "/users/erin", None).await;
    assert_eq!(st, 200);
    let r = srv
        .raw()
        .send("GET", "/bkt?acl", &[], Vec::new(), true, None)
        .await;
    assert!(!r.text().contains(&old_id), "{}", r.text());
    let (_, buckets) = srv.admin("GET", "/buckets", None).await;
    let grants = buckets
        .as_array()
        .and_then(|bs| bs.iter().find(|b| b["name"] == "bkt"))
        .map(|b| b["grants"].clone())
        .expect("bkt");
    assert_eq!(
        grants,
        serde_json::json!({}),
        "the grant went with the user"
    );

    let (ak, sk) = srv.new_user("erin").await;
    let (_, users) = srv.admin("GET", "/users", None).await;
    let new_id = users
        .as_array()
        .and_then(|us| us.iter().find(|u| u["name"] == "erin"))
        .and_then(|u| u["id"].as_str())
        .expect("new erin's id")
        .to_string();
    assert_ne!(new_id, old_id, "ids are never reused");
    let erin = srv.client_for(&ak, &sk);
    let e = erin
        .get_object()
        .bucket("bkt")
        .key("k.txt")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    let e = erin
        .put_object()
        .bucket("bkt")
        .key("x")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    // A name that is taken cannot be created twice.
    let (st, _) = srv
        .admin("POST", "/users", Some(serde_json::json!({"name": "erin"})))
        .await;
    assert_eq!(st, 409);
}

#[tokio::test]
async fn cors_configuration_and_preflight() {
    let (srv, c) = setup().await;
    let http = reqwest::Client::new();
    let preflight = || {
        http.request(reqwest::Method::OPTIONS, format!("{}/bkt/k.txt", srv.s3))
            .header("origin", "https://app.example.edu")
            .header("access-control-request-method", "PUT")
            .header("access-control-request-headers", "content-type, x-amz-date")
            .send()
    };
    assert_eq!(preflight().await.unwrap().status().as_u16(), 403);
    use aws_sdk_s3::types::{CorsConfiguration, CorsRule};
    let rule = CorsRule::builder()
        .allowed_origins("https://*.example.edu")
        .allowed_methods("GET")
        .allowed_methods("PUT")
        .allowed_headers("*")
        .expose_headers("ETag")
        .max_age_seconds(600)
        .build()
        .unwrap();
    c.put_bucket_cors()
        .bucket("bkt")
        .cors_configuration(
            CorsConfiguration::builder()
                .cors_rules(rule)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let got = c.get_bucket_cors().bucket("bkt").send().await.unwrap();
    assert_eq!(
        got.cors_rules()[0].allowed_methods(),
        &["GET".to_string(), "PUT".to_string()]
    );
    let r = preflight().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.edu"
    );
    assert!(r.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .contains("PUT"));
    assert_eq!(r.headers()["access-control-max-age"], "600");
    let r = http
        .request(reqwest::Method::OPTIONS, format!("{}/bkt/k.txt", srv.s3))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "PUT")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Actual responses carry CORS headers for a matching origin.
    let url = c
        .get_object()
        .bucket("bkt")
        .key("k.txt")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(60)).unwrap())
        .await
        .unwrap();
    let r = http
        .get(url.uri())
        .header("origin", "https://www.example.edu")
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://www.example.edu"
    );
    assert_eq!(r.headers()["access-control-expose-headers"], "ETag");
    c.delete_bucket_cors().bucket("bkt").send().await.unwrap();
    let e = c.get_bucket_cors().bucket("bkt").send().await.unwrap_err();
    assert_eq!(err_code(&e), "NoSuchCORSConfiguration");
}

/// A browser form POST: policy signed with the user's key, conditions enforced.
#[tokio::test]
async fn browser_post_upload() {
    use base64::Engine;
    let (srv, c) = setup().await;
    let now = time::OffsetDateTime::now_utc();
    let date = format!("{:04}{:02}{:02}", now.year(), now.month() as u8, now.day());
    let amz_date = bascule_api::sigv4::format_amz_date(now);
    let credential = format!("{}/{date}/us-east-1/s3/aws4_request", srv.access_key);
    let expiration =
        bascule_api::headers::format_iso8601(SystemTime::now() + Duration::from_secs(600));
    let policy = serde_json::json!({
        "expiration": expiration,
        "conditions": [
            {"bucket": "bkt"},
            ["starts-with", "$key", "uploads/"],
            ["content-length-range", 1, 1000],
            ["starts-with", "$Content-Type", "image/"],
            {"x-amz-algorithm": "AWS4-HMAC-SHA256"},
            {"x-amz-credential": credential},
            {"x-amz-date": amz_date},
            {"success_action_status": "201"}
        ]
    });
    let policy_b64 = base64::engine::general_purpose::STANDARD.encode(policy.to_string());
    let scope = bascule_api::sigv4::Scope {
        access_key: srv.access_key.clone(),
        date: date.clone(),
        region: "us-east-1".into(),
        service: "s3".into(),
    };
    let signature = bascule_api::sigv4::SigningKey::derive(&srv.secret_key, &scope)
        .unwrap()
        .sign(&policy_b64);
    let form_signed = |key: &str, content_type: &str, file: Vec<u8>, signature: String| {
        reqwest::multipart::Form::new()
            .text("key", key.to_string())
            .text("Content-Type", content_type.to_string())
            .text("success_action_status", "201")
            .text("x-amz-algorithm", "AWS4-HMAC-SHA256")
            .text("x-amz-credential", credential.clone())
            .text("x-amz-date", amz_date.clone())
            .text("policy", policy_b64.clone())
            .text("x-amz-signature", signature)
            .part(
                "file",
                reqwest::multipart::Part::bytes(file).file_name("photo.png"),
            )
    };
    let form = |key: &str, content_type: &str, file: Vec<u8>| {
        form_signed(key, content_type, file, signature.clone())
    };
    let http = reqwest::Client::new();
    let post = |f| http.post(format!("{}/bkt", srv.s3)).multipart(f).send();
    let r = post(form(
        "uploads/${filename}",
        "image/png",
        b"PNGDATA".to_vec(),
    ))
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let body = r.text().await.unwrap();
    assert!(body.contains("<Key>uploads/photo.png</Key>"), "{body}");
    let got = c
        .get_object()
        .bucket("bkt")
        .key("uploads/photo.png")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("image/png"));
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"PNGDATA"
    );

    let r = post(form("elsewhere/x.png", "image/png", b"PNG".to_vec()))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403, "key condition");
    let r = post(form(
        "uploads/x.exe",
        "application/x-msdownload",
        b"MZ".to_vec(),
    ))
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403, "content-type condition");
    let r = post(form("uploads/big.png", "image/png", vec![0u8; 1001]))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("EntityTooLarge"));
    let e = c
        .head_object()
        .bucket("bkt")
        .key("uploads/big.png")
        .send()
        .await
        .unwrap_err();
    assert!(e.raw_response().is_some_and(|r| r.status().as_u16() == 404));
    let bad_sig = form_signed("uploads/y.png", "image/png", b"x".to_vec(), "00".repeat(32));
    let r = post(bad_sig).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn virtual_host_style_addressing() {
    let srv = Server::start_with(&["--domain", "s3.bascule.test"]);
    srv.client()
        .create_bucket()
        .bucket("vhost")
        .send()
        .await
        .unwrap();
    let port = srv.s3.rsplit(':').next().unwrap().to_string();
    let mut raw = srv.raw();
    raw.endpoint = format!("http://vhost.s3.bascule.test:{port}");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Resolve the virtual host to loopback for this test only.
    let client = reqwest::Client::builder()
        .resolve("vhost.s3.bascule.test", addr)
        .build()
        .unwrap();
    let url = format!("{}/doc.txt", raw.endpoint);
    let hdrs = raw.sign_headers(
        "PUT",
        &url,
        &[],
        &hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"vh")),
    );
    let mut req = client.put(&url).body("vh");
    for (k, v) in &hdrs {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status().as_u16(), 200);
    let got = srv
        .client()
        .get_object()
        .bucket("vhost")
        .key("doc.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.body.collect().await.unwrap().into_bytes().as_ref(),
        b"vh"
    );
}

/// A presigned PUT cannot be turned into a copy (or anything else) by adding x-amz-*
/// headers the signer did not sign; neither can a header-signed request.
#[tokio::test]
async fn unsigned_amz_headers_are_refused() {
    let (srv, c) = setup().await;
    let put = c
        .put_object()
        .bucket("bkt")
        .key("target")
        .presigned(PresigningConfig::expires_in(Duration::from_secs(300)).unwrap())
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .put(put.uri())
        .header("x-amz-copy-source", "/bkt/k.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let body = r.text().await.unwrap();
    assert!(body.contains("<Code>AccessDenied</Code>"), "{body}");
    assert!(body.contains("x-amz-copy-source"), "{body}");
    let e = c
        .head_object()
        .bucket("bkt")
        .key("target")
        .send()
        .await
        .unwrap_err();
    assert_eq!(e.raw_response().map(|r| r.status().as_u16()), Some(404));

    // Header auth: the same header added after signing.
    let raw = srv.raw();
    let url = format!("{}/bkt/target2", raw.endpoint);
    let empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let mut signed = raw.sign_headers("PUT", &url, &[], empty_sha256);
    signed.push(("x-amz-copy-source".into(), "/bkt/k.txt".into()));
    let mut req = reqwest::Client::new().put(&url);
    for (k, v) in &signed {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("HeadersNotSigned"));
}

/// A SigV2-signed request (HMAC-SHA1), built the way boto's HmacV1 signer builds it.
async fn send_v2(
    srv: &Server,
    method: &str,
    path_and_query: &str,
    resource: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> reqwest::Response {
    let date = httpdate::fmt_http_date(SystemTime::now());
    let amz = bascule_api::sigv2::canonical_amz_headers(headers.iter().copied());
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| *v)
            .unwrap_or("")
    };
    let sts = bascule_api::sigv2::string_to_sign(
        method,
        get("content-md5"),
        get("content-type"),
        &date,
        &amz,
        resource,
    );
    let sig = bascule_api::sigv2::sign(&srv.secret_key, &sts).unwrap();
    let mut req = reqwest::Client::new()
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path_and_query}", srv.s3),
        )
        .header("date", date)
        .header("authorization", format!("AWS {}:{sig}", srv.access_key));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.body(body).send().await.unwrap()
}

/// A SigV2 presigned URL (`AWSAccessKeyId`, `Expires`, `Signature`).
fn presign_v2(srv: &Server, method: &str, path: &str, extra_query: &str, expires: i64) -> String {
    let resource = if extra_query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{extra_query}")
    };
    let sts =
        bascule_api::sigv2::string_to_sign(method, "", "", &expires.to_string(), "", &resource);
    let sig = bascule_api::sigv2::sign(&srv.secret_key, &sts).unwrap();
    let enc = bascule_api::encoding::uri_encode(&sig);
    let sep = if extra_query.is_empty() { "" } else { "&" };
    format!(
        "{}{path}?{extra_query}{sep}AWSAccessKeyId={}&Expires={expires}&Signature={enc}",
        srv.s3, srv.access_key
    )
}

#[tokio::test]
async fn signature_version_2() {
    let (srv, c) = setup().await;
    // Header auth: a PUT with metadata and a content type, read back with SigV4.
    let r = send_v2(
        &srv,
        "PUT",
        "/bkt/v2.txt",
        "/bkt/v2.txt",
        &[
            ("content-type", "text/plain"),
            ("x-amz-meta-course", "maths"),
        ],
        b"signed the old way",
    )
    .await;
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let head = c
        .head_object()
        .bucket("bkt")
        .key("v2.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(head.content_type(), Some("text/plain"));
    assert_eq!(
        head.metadata()
            .and_then(|m| m.get("course"))
            .map(String::as_str),
        Some("maths")
    );
    let r = send_v2(&srv, "GET", "/bkt/v2.txt", "/bkt/v2.txt", &[], b"").await;
    assert_eq!(r.text().await.unwrap(), "signed the old way");
    // boto's signer names a path-style bucket `/bucket/` (CreateBucket): the same resource.
    let r = send_v2(&srv, "PUT", "/v2-created", "/v2-created/", &[], b"").await;
    assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
    let r = send_v2(&srv, "GET", "/v2-created", "/v2-created/", &[], b"").await;
    assert_eq!(r.status().as_u16(), 200);
    // Still the signed resource: another bucket's name is refused.
    let r = send_v2(&srv, "GET", "/v2-created", "/bkt/", &[], b"").await;
    assert_eq!(r.status().as_u16(), 403);
    // Sub-resources are signed: ?acl with the resource "/bkt?acl".
    let r = send_v2(&srv, "GET", "/bkt?acl", "/bkt?acl", &[], b"").await;
    assert_eq!(r.status().as_u16(), 200);
    // A wrong signature (the resource without its sub-resource) is refused.
    let r = send_v2(&srv, "GET", "/bkt?acl", "/bkt", &[], b"").await;
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("SignatureDoesNotMatch"));

    // Presigned: works, tampering and expiry are refused, response-* overrides are signed.
    let later = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 300;
    let url = presign_v2(&srv, "GET", "/bkt/k.txt", "", later);
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.unwrap(), "hello");
    let r = reqwest::get(url.replace("k.txt", "v2.txt")).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("SignatureDoesNotMatch"));
    let r = reqwest::get(presign_v2(&srv, "GET", "/bkt/k.txt", "", later - 600))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert!(r.text().await.unwrap().contains("Request has expired"));
    let url = presign_v2(
        &srv,
        "GET",
        "/bkt/k.txt",
        "response-content-type=application/x-course",
        later,
    );
    let r = reqwest::get(&url).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "application/x-course"
    );
    // An x-amz-* header added to a presigned URL is not what was signed.
    let r = reqwest::Client::new()
        .put(presign_v2(&srv, "PUT", "/bkt/copy", "", later))
        .header("x-amz-copy-source", "/bkt/k.txt")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(common::get(&c, "bkt", "copy").await, None);
}

#[tokio::test]
async fn signature_version_2_can_be_turned_off() {
    let mut srv = Server::prepare(&[], |_| {});
    let config = srv.write_config("allow_sigv2 = false\n");
    srv.add_args(&["--config", &config]);
    srv.spawn();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    let r = send_v2(&srv, "GET", "/bkt", "/bkt", &[], b"").await;
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("InvalidRequest"));
}
