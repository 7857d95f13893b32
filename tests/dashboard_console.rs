//! The dashboard as a console, in a real browser (Debian's chromium): buckets created,
//! versioned and given a policy from the page; the object browser with folders, versions,
//! download, delete and share links; uploads from the browser (a 100 MiB file goes up as a
//! multipart upload); a bucket of 10,000 keys paged quickly. Every action is an S3 request
//! through the zone's own S3 router, so what S3 refuses the console cannot do, and the
//! gateway the page's script uses refuses requests without the session's CSRF token.

mod common;
use common::browser::{csrf_of, dashboard_session, Browser};
use common::{err_code, get, put, Server};
use std::time::{Duration, Instant};

const WITHIN: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread")]
async fn buckets_objects_versions_uploads_and_share_links_from_the_browser() {
    let server = Server::start();
    let c = server.client();
    let b = Browser::start("console").await;
    b.sign_in(&server).await;

    // A bucket created from the page belongs to the owner chosen there.
    b.goto(&format!("{}/dashboard/buckets", server.admin)).await;
    b.type_into("#new-bucket", "courses").await;
    b.click("#create-bucket button[type=submit]").await;
    b.flash("Created bucket courses").await;
    // S3's own rules: a bad name is refused with S3's answer.
    b.goto(&format!("{}/dashboard/buckets", server.admin)).await;
    b.type_into("#new-bucket", "Bad_Name").await;
    b.click("#create-bucket button[type=submit]").await;
    b.flash("InvalidBucketName").await;

    // Versioning and a policy from the bucket's page; a broken policy is refused with
    // the parser's message and the old one stays.
    b.goto(&format!("{}/dashboard/buckets/courses", server.admin))
        .await;
    b.select("#versioning-status", "Enabled").await;
    b.click("#versioning-form button[type=submit]").await;
    b.flash("Versioning of courses: Enabled").await;
    let v = c
        .get_bucket_versioning()
        .bucket("courses")
        .send()
        .await
        .unwrap();
    assert_eq!(
        v.status.map(|s| s.as_str().to_string()).as_deref(),
        Some("Enabled")
    );
    b.type_into("#policy-json", "{ not json").await;
    b.click("#policy-form button[value=save]").await;
    b.flash("MalformedPolicy").await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::courses/public/*"}]}"#;
    b.type_into("#policy-json", policy).await;
    b.click("#policy-form button[value=save]").await;
    b.flash("Saved the policy of courses").await;
    let got = c
        .get_bucket_policy()
        .bucket("courses")
        .send()
        .await
        .unwrap();
    assert!(got.policy.unwrap().contains("courses/public/*"));
    b.screenshot("01-bucket-settings").await;

    // Folders: keys with a slash are grouped; a folder opens its keys.
    put(&c, "courses", "docs/a.pdf", b"%PDF a".to_vec()).await;
    put(&c, "courses", "docs/b.pdf", b"%PDF b".to_vec()).await;
    put(&c, "courses", "syllabus.txt", b"version one".to_vec()).await;
    put(&c, "courses", "syllabus.txt", b"version two".to_vec()).await;
    b.goto(&format!(
        "{}/dashboard/buckets/courses/objects",
        server.admin
    ))
    .await;
    let listing = b.text("#objects").await;
    assert!(
        listing.contains("docs/") && listing.contains("syllabus.txt"),
        "{listing}"
    );
    assert!(!listing.contains("a.pdf"), "inside a folder: {listing}");
    b.click("tr.folder a").await;
    let inside = b.text("#objects").await;
    assert!(
        inside.contains("a.pdf") && inside.contains("b.pdf"),
        "{inside}"
    );
    assert!(b.text("#breadcrumb").await.contains("docs/"));
    b.screenshot("02-folder").await;

    // A key's versions; deleting it adds a delete marker, deleting a version removes it.
    b.goto(&format!(
        "{}/dashboard/buckets/courses/object?key=syllabus.txt",
        server.admin
    ))
    .await;
    assert!(b.text("#object-facts").await.contains("11 bytes"));
    assert_eq!(
        b.text("#versions").await.matches("download").count(),
        2,
        "two versions"
    );
    b.click("#delete-current button").await;
    b.flash("delete marker").await;
    assert_eq!(get(&c, "courses", "syllabus.txt").await, None);
    b.goto(&format!(
        "{}/dashboard/buckets/courses/object?key=syllabus.txt",
        server.admin
    ))
    .await;
    assert!(b.text("#versions").await.contains("(delete marker)"));
    b.click("#versions tr[data-version]:first-child button")
        .await;
    b.flash("Deleted version").await;
    assert_eq!(
        get(&c, "courses", "syllabus.txt").await.as_deref(),
        Some(&b"version two"[..]),
        "removing the marker brings the newest version back"
    );

    // Uploads from the browser: a small file in one PUT, a 100 MiB one in parts.
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("notes.txt");
    std::fs::write(&small, b"uploaded from chromium").unwrap();
    let big = dir.path().join("lecture.mp4");
    let big_data: Vec<u8> = (0..100 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&big, &big_data).unwrap();
    b.goto(&format!(
        "{}/dashboard/buckets/courses/objects?prefix=docs/",
        server.admin
    ))
    .await;
    b.choose_files("#upload-files", &[&small, &big]).await;
    b.click("#upload button[type=submit]").await;
    // When every file is up, the listing reloads and shows them.
    let listed = b
        .wait_text("#objects", WITHIN, |t| {
            t.contains("notes.txt") && t.contains("lecture.mp4")
        })
        .await;
    assert!(listed.contains("100.0 MiB"), "{listed}");
    b.screenshot("03-uploaded").await;
    assert_eq!(
        get(&c, "courses", "docs/notes.txt").await.as_deref(),
        Some(&b"uploaded from chromium"[..])
    );
    let head = c
        .head_object()
        .bucket("courses")
        .key("docs/lecture.mp4")
        .send()
        .await
        .unwrap();
    assert!(
        head.e_tag.unwrap().ends_with("-13\""),
        "a multipart upload of 13 parts"
    );

    // Downloads go through S3 and are never rendered on the dashboard's origin.
    let (http, cookie) = dashboard_session(&server).await;
    let r = http
        .get(format!(
            "{}/dashboard/buckets/courses/download?key=docs/lecture.mp4",
            server.admin
        ))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment"));
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert!(r.bytes().await.unwrap() == big_data, "the downloaded bytes");
    // Signed out, nothing downloads.
    let r = http
        .get(format!(
            "{}/dashboard/buckets/courses/download?key=docs/a.pdf",
            server.admin
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // A share link works without credentials, until it expires.
    b.goto(&format!(
        "{}/dashboard/buckets/courses/object?key=docs/a.pdf",
        server.admin
    ))
    .await;
    b.type_into("#share-minutes", "5").await;
    b.click("#share button[type=submit]").await;
    let url = b.property("#share-url", "value").await;
    assert!(
        url.starts_with(&server.s3) && url.contains("X-Amz-Expires=300"),
        "{url}"
    );
    let shared = reqwest::get(&url).await.unwrap();
    assert_eq!(shared.status(), 200);
    assert_eq!(&shared.bytes().await.unwrap()[..], b"%PDF a");
    let tampered = reqwest::get(
        url.replace("docs%2Fa.pdf", "docs%2Fb.pdf")
            .replace("docs/a.pdf", "docs/b.pdf"),
    )
    .await
    .unwrap();
    assert_eq!(tampered.status(), 403, "the link opens only its object");
    b.screenshot("04-share").await;

    // Deleting a bucket with objects is S3's to refuse.
    b.goto(&format!("{}/dashboard/buckets/courses", server.admin))
        .await;
    b.click("#delete-bucket button").await;
    b.flash("BucketNotEmpty").await;
    let e = c
        .delete_bucket()
        .bucket("courses")
        .send()
        .await
        .expect_err("still there");
    assert_eq!(err_code(&e), "BucketNotEmpty");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gateway_refuses_requests_without_the_session_or_its_csrf_token() {
    let server = Server::start();
    let c = server.client();
    c.create_bucket().bucket("exams").send().await.unwrap();
    let (http, cookie) = dashboard_session(&server).await;
    let csrf = csrf_of(
        &http,
        &cookie,
        &format!("{}/dashboard/buckets/exams", server.admin),
    )
    .await;
    let gateway = format!("{}/dashboard/s3/exams/answers.txt", server.admin);
    // No session: sent to the sign-in page, nothing written.
    let r = http
        .put(&gateway)
        .header("x-bascule-csrf", &csrf)
        .body("forged")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // A session but no token, or another token (a page of another site posting with the
    // browser's cookie): refused.
    for token in [None, Some("not-the-token")] {
        let mut req = http.put(&gateway).header("cookie", &cookie).body("forged");
        if let Some(t) = token {
            req = req.header("x-bascule-csrf", t);
        }
        assert_eq!(req.send().await.unwrap().status(), 403, "{token:?}");
    }
    assert_eq!(get(&c, "exams", "answers.txt").await, None);
    // With both, the request is S3's: written, and S3's answers come back.
    let r = http
        .put(&gateway)
        .header("cookie", &cookie)
        .header("x-bascule-csrf", &csrf)
        .header("content-type", "text/html")
        .body("<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        get(&c, "exams", "answers.txt").await.as_deref(),
        Some(&b"<script>alert(1)</script>"[..])
    );
    // Read back through the gateway, a stored page is not rendered on the dashboard's
    // origin.
    let r = http
        .get(&gateway)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    // A bucket that does not exist is not created through the gateway.
    let r = http
        .put(format!("{}/dashboard/s3/newbucket", server.admin))
        .header("cookie", &cookie)
        .header("x-bascule-csrf", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(c.head_bucket().bucket("newbucket").send().await.is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_of_ten_thousand_keys_pages_quickly() {
    let server = Server::start();
    let c = server.client();
    c.create_bucket().bucket("archive").send().await.unwrap();
    let mut tasks = Vec::new();
    for t in 0..16u32 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            for n in (t..10_000).step_by(16) {
                put(&c, "archive", &format!("k{n:05}"), vec![b'x'; 10]).await;
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let (http, cookie) = dashboard_session(&server).await;
    let mut url = format!("{}/dashboard/buckets/archive/objects", server.admin);
    let (mut pages, mut keys, mut slowest) = (0, 0, Duration::ZERO);
    loop {
        let began = Instant::now();
        let html = http
            .get(&url)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        slowest = slowest.max(began.elapsed());
        pages += 1;
        keys += html.matches("<tr data-key=").count();
        match html.split("id=\"next-page\" href=\"").nth(1) {
            Some(rest) => {
                let next = rest.split('"').next().unwrap().replace("&amp;", "&");
                url = format!("{}{next}", server.admin);
            }
            None => break,
        }
    }
    assert_eq!((keys, pages), (10_000, 100), "100 keys a page, each once");
    assert!(
        slowest < Duration::from_millis(300),
        "slowest page {slowest:?}"
    );
}
