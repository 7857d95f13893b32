//! The web dashboard in a real browser (Debian's chromium through chromedriver): sign-in,
//! users and keys, grants, the lag figures moving while objects are written, and a
//! switchover on a two-zone pair. Screenshots go to the test output folder.

mod common;
use common::browser::{csrf_of, dashboard_session, Browser};
use common::zones::{caught_up, proxied_pair, status, wait_for};
use common::{err_code, get, put, Server};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_manage_users_keys_and_grants() {
    let server = Server::start();
    let b = Browser::start("users-keys-grants").await;

    // Signed out, every page leads to the sign-in form; a wrong token is refused.
    b.goto(&format!("{}/", server.admin)).await;
    b.find("#token").await;
    assert!(
        b.url().await.ends_with("/dashboard/login"),
        "{}",
        b.url().await
    );
    b.type_into("#token", "not-the-token").await;
    b.click("#sign-in").await;
    b.wait_for_text("Wrong admin token").await;
    b.screenshot("01-sign-in-refused").await;

    b.sign_in(&server).await;
    assert!(b.text("#role").await.contains("primary"));
    let cookies = b.cookies().await;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "bascule_session")
        .expect("session cookie");
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");
    b.screenshot("02-zone").await;

    // A user and a key; the secret is shown once, and it signs requests.
    b.goto(&format!("{}/dashboard/users", server.admin)).await;
    b.type_into("#new-user", "teacher").await;
    b.click("#create-user button[type=submit]").await;
    b.flash("Created user teacher").await;
    b.click("tr[data-user=teacher] form[action$='/keys'] button")
        .await;
    let ak = b.text("#new-access-key").await;
    let sk = b.text("#new-secret-key").await;
    assert!(ak.starts_with("BK") && sk.len() == 40, "{ak} {sk}");
    b.wait_for_text("shown only now").await;
    b.screenshot("03-new-key").await;
    let teacher = server.client_for(&ak, &sk);
    teacher
        .list_buckets()
        .send()
        .await
        .expect("the new key signs");
    b.goto(&format!("{}/dashboard/users", server.admin)).await;
    assert!(
        !b.page_text().await.contains(&sk),
        "the secret is never shown again"
    );

    // A bucket the admin owns: the teacher may not write until granted.
    let admin = server.client();
    admin
        .create_bucket()
        .bucket("courses")
        .send()
        .await
        .expect("create bucket");
    put(&admin, "courses", "intro.pdf", b"%PDF-1.7".to_vec()).await;
    let write = || {
        teacher
            .put_object()
            .bucket("courses")
            .key("t.txt")
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"t"))
            .send()
    };
    let e = write().await.expect_err("no grant yet");
    assert_eq!(err_code(&e), "AccessDenied");

    b.goto(&format!("{}/dashboard/buckets", server.admin)).await;
    let row = b.text("#buckets tbody tr").await;
    assert!(row.contains("courses") && row.contains(" 1 "), "{row}");
    b.click("#buckets a").await;
    assert_eq!(b.text("#objects").await, "1");
    b.select("#grant-user", "teacher").await;
    b.select("#grant-permission", "read-write").await;
    b.click("#grant-form button").await;
    b.flash("Granted read-write on courses").await;
    assert!(b.text("#grants").await.contains("teacher"));
    b.screenshot("04-bucket-granted").await;
    write().await.expect("granted read-write");

    b.click("#grants form button").await;
    b.flash("Revoked").await;
    let e = write().await.expect_err("revoked");
    assert_eq!(err_code(&e), "AccessDenied");

    // Disabling the key stops it signing.
    b.goto(&format!("{}/dashboard/users", server.admin)).await;
    b.click(&format!(
        "tr[data-key={ak}] form[action$='/disable'] button"
    ))
    .await;
    b.flash(&format!("Disabled key {ak}")).await;
    let e = teacher
        .list_buckets()
        .send()
        .await
        .expect_err("a disabled key");
    assert_eq!(err_code(&e), "InvalidAccessKeyId");

    // A form without the CSRF token is refused, even with the session cookie.
    let cookie = format!(
        "bascule_session={}",
        session["value"].as_str().expect("cookie value")
    );
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let forged = http
        .post(format!("{}/dashboard/users", server.admin))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("name=intruder&csrf=wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let (_, users) = server.admin("GET", "/users", None).await;
    assert!(!users.to_string().contains("intruder"), "{users}");
    // Pages carry headers that keep them out of caches and frames.
    let page = http
        .get(format!("{}/dashboard/users", server.admin))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    assert_eq!(page.headers()["x-frame-options"], "DENY");

    // Signing out ends the session on the server, not only in the browser.
    b.click("header form button").await;
    b.find("#token").await;
    let after = http
        .get(format!("{}/dashboard/users", server.admin))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303);
    assert_eq!(after.headers()["location"], "/dashboard/login");
}

#[tokio::test(flavor = "multi_thread")]
async fn lag_moves_with_writes_and_a_switchover_runs() {
    let (a, b_zone, to_a, _to_b) = proxied_pair().await;
    let c = a.client();
    c.create_bucket()
        .bucket("videos")
        .send()
        .await
        .expect("bucket");
    caught_up(&a, &b_zone, WITHIN).await;

    let b = Browser::start("lag-and-switchover").await;
    b.sign_in(&a).await;
    assert_eq!(b.text("#entries-pending").await, "0");
    let peer = b.text("#peer").await;
    assert!(
        peer.contains("reachable") && !peer.contains("unreachable"),
        "{peer}"
    );
    // The write lease: held, granted by the peer, no witness.
    let lease = b
        .wait_text("#lease", WITHIN, |t| {
            t.contains("held") && t.contains("granting")
        })
        .await;
    assert!(lease.contains("no witness"), "{lease}");

    // The secondary cannot pull: the primary's entries pending grow on the live panel.
    to_a.cut();
    for i in 0..12 {
        put(&c, "videos", &format!("v{i}.mp4"), vec![i as u8; 2000]).await;
    }
    let pending = b
        .wait_text("#entries-pending", WITHIN, |t| {
            t.parse::<u64>().is_ok_and(|n| n >= 12)
        })
        .await;
    assert!(pending.parse::<u64>().unwrap() >= 12);
    b.screenshot("01-lag-growing").await;

    // The link heals: the secondary catches up and the figure falls back to 0.
    to_a.heal();
    b.wait_text("#entries-pending", WITHIN, |t| t == "0").await;
    caught_up(&a, &b_zone, WITHIN).await;
    b.screenshot("02-caught-up").await;

    // A cross-zone verify from the primary's page: the zones agree. The repair is the
    // secondary's, so the primary offers none.
    assert!(b.try_find("#verify-repair").await.is_none());
    b.click("#verify-now").await;
    b.flash("Verify started").await;
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        b.goto(&format!("{}/dashboard", a.admin)).await;
        // Table headings are shown in capitals.
        let last = b.text("#verify-last").await.to_lowercase();
        if last.contains("keys compared 12") {
            assert!(last.contains("missing on the secondary 0"), "{last}");
            assert!(
                b.try_find("#verify-last .badge.bad").await.is_none(),
                "{last}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no verify result: {last}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.screenshot("02b-verified").await;

    // Switchover from the primary's dashboard, behind a confirmation naming what is at
    // risk.
    b.click("#switchover").await;
    let consequence = b.text("#consequence").await;
    assert!(consequence.contains("Entries at risk: 0"), "{consequence}");
    b.screenshot("03-confirm-switchover").await;
    // A wrong confirmation changes nothing.
    b.type_into("#confirm", "yes").await;
    b.click("#confirm-button").await;
    b.flash("type switchover to confirm").await;
    assert_eq!(status(&a).await["role"], "primary");

    b.click("#switchover").await;
    b.type_into("#confirm", "switchover").await;
    b.click("#confirm-button").await;
    b.flash("Switchover done").await;
    assert!(b.text("#role").await.contains("secondary"));
    b.screenshot("04-switched-over").await;
    wait_for(&b_zone, WITHIN, "B primary", |s| s["role"] == "primary").await;
    assert_eq!(status(&a).await["role"], "secondary");

    // On the new secondary, promotion asks for confirmation and names the entries at risk.
    b.click("#promote").await;
    let consequence = b.text("#consequence").await;
    assert!(
        consequence.contains("Entries at risk: at least 0")
            && consequence.contains("a switchover loses nothing"),
        "{consequence}"
    );
    b.screenshot("05-confirm-promote").await;

    // Users change on the primary only: the secondary's dashboard refuses, as the API does.
    b.goto(&format!("{}/dashboard/users", a.admin)).await;
    b.type_into("#new-user", "late").await;
    b.click("#create-user button[type=submit]").await;
    let refused = b.text(".flash.bad").await;
    assert!(refused.contains("read-only"), "{refused}");
    let (_, users) = a.admin("GET", "/users", None).await;
    assert!(!users.to_string().contains("\"late\""), "{users}");

    // The console on a secondary browses but offers no change it would refuse.
    b.goto(&format!("{}/dashboard/buckets/videos/objects", a.admin))
        .await;
    assert!(b.text("#objects").await.contains("v11.mp4"));
    b.find("#read-only").await;
    assert!(b.try_find("#upload").await.is_none());
    b.goto(&format!("{}/dashboard/buckets/videos", a.admin))
        .await;
    assert!(b.try_find("#delete-bucket").await.is_none());
    for form in [
        "#cors-form",
        "#lifecycle-form",
        "#tags-form",
        "#access-block-form",
    ] {
        assert!(b.try_find(form).await.is_none(), "{form} on a secondary");
    }
    b.goto(&format!("{}/dashboard", a.admin)).await;
    assert!(b.try_find("#create-kms-key").await.is_none());
    // Its gateway is S3's, which refuses the write with the zone's answer.
    let (http, cookie) = dashboard_session(&a).await;
    let csrf = csrf_of(
        &http,
        &cookie,
        &format!("{}/dashboard/buckets/videos", a.admin),
    )
    .await;
    let r = http
        .put(format!("{}/dashboard/s3/videos/late.mp4", a.admin))
        .header("cookie", &cookie)
        .header("x-bascule-csrf", &csrf)
        .body("late")
        .send()
        .await
        .unwrap();
    assert!(!r.status().is_success(), "{}", r.status());
    assert_eq!(get(&b_zone.client(), "videos", "late.mp4").await, None);
}

#[tokio::test(flavor = "multi_thread")]
async fn buckets_page_through_many_buckets() {
    let server = Server::start();
    let c = server.client();
    let mut names: Vec<String> = (0..120).map(|i| format!("course-{i:04}")).collect();
    names.push("archive".into());
    for n in &names {
        c.create_bucket().bucket(n).send().await.expect("bucket");
    }
    put(&c, "course-0007", "a", vec![1; 10]).await;
    put(&c, "course-0007", "b", vec![1; 20]).await;
    names.sort();
    let (http, cookie) = dashboard_session(&server).await;

    let mut seen = Vec::new();
    let mut url = format!("{}/dashboard/buckets?prefix=course-", server.admin);
    let mut pages = 0;
    loop {
        let r = http
            .get(&url)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        pages += 1;
        for part in html
            .split("<a class=\"mono\" href=\"/dashboard/buckets/")
            .skip(1)
        {
            seen.push(part.split('"').next().unwrap().to_string());
        }
        if html.contains("course-0007") {
            // Objects and bytes come from the bucket's counters.
            let row = html.split("course-0007</a>").nth(1).unwrap();
            assert!(row.contains(">2</td>") && row.contains("30 B"), "{row}");
        }
        match html.split("id=\"next-page\" href=\"").nth(1) {
            Some(rest) => {
                let next = rest.split('"').next().unwrap().replace("&amp;", "&");
                url = format!("{}{next}", server.admin);
            }
            None => break,
        }
    }
    let expected: Vec<String> = names
        .into_iter()
        .filter(|n| n.starts_with("course-"))
        .collect();
    assert_eq!(seen, expected, "each bucket once, in name order");
    assert_eq!(pages, 3, "50 a page");
}

#[tokio::test(flavor = "multi_thread")]
async fn encryption_keys_created_rotated_disabled_and_retired() {
    use aws_sdk_s3::types::ServerSideEncryption;
    let server = Server::start();
    let c = server.client();
    c.create_bucket()
        .bucket("exams")
        .send()
        .await
        .expect("bucket");
    let b = Browser::start("kms-keys").await;
    b.sign_in(&server).await;

    b.type_into("#kms-name", "exam-papers").await;
    b.click("#create-kms-key button[type=submit]").await;
    b.flash("Created KMS key exam-papers").await;
    c.put_object()
        .bucket("exams")
        .key("final.pdf")
        .server_side_encryption(ServerSideEncryption::AwsKms)
        .ssekms_key_id("exam-papers")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"%PDF final",
        ))
        .send()
        .await
        .expect("put under the new key");
    b.goto(&format!("{}/dashboard", server.admin)).await;
    let row = b.text("tr[data-key=exam-papers]").await;
    assert!(row.contains("v1: 1"), "{row}");
    // The zone key (SSE-S3) rotates but is never disabled.
    assert!(b
        .try_find("tr[data-key='aws/s3'] form[action$='/disable'] button")
        .await
        .is_none());

    b.click("tr[data-key=exam-papers] form[action$='/rotate'] button")
        .await;
    b.flash("Rotated exam-papers").await;
    // The re-wrap worker moves the object's data key to version 2; version 1 can then
    // be retired from the page.
    let retire = "tr[data-key=exam-papers] form[action$='/retire/1'] button";
    let deadline = std::time::Instant::now() + WITHIN;
    while b.try_find(retire).await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            b.text("#keys").await
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        b.goto(&format!("{}/dashboard", server.admin)).await;
    }
    b.screenshot("kms-01-rewrapped").await;
    b.click(retire).await;
    b.flash("Retired version 1 of exam-papers").await;
    let row = b.text("tr[data-key=exam-papers]").await;
    assert!(row.contains("v2: 1") && !row.contains("v1"), "{row}");
    let got = c
        .get_object()
        .bucket("exams")
        .key("final.pdf")
        .send()
        .await
        .expect("reads after the retirement");
    assert_eq!(got.body.collect().await.unwrap().to_vec(), b"%PDF final");

    // Disabled, the key refuses its objects until it is enabled again.
    b.click("tr[data-key=exam-papers] form[action$='/disable'] button")
        .await;
    b.flash("Disabled exam-papers").await;
    let e = c
        .get_object()
        .bucket("exams")
        .key("final.pdf")
        .send()
        .await
        .expect_err("a disabled key opens nothing");
    assert_eq!(err_code(&e), "KMS.DisabledException");
    b.click("tr[data-key=exam-papers] form[action$='/enable'] button")
        .await;
    b.flash("Enabled exam-papers").await;
    b.screenshot("kms-02-enabled").await;
    c.get_object()
        .bucket("exams")
        .key("final.pdf")
        .send()
        .await
        .expect("enabled again");
}
