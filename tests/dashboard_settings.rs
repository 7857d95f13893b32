//! The console's bucket settings in a real browser (Debian's chromium): CORS and lifecycle
//! documents, tags, public access block and default retention, each saved through S3 (so
//! S3's parser refuses a broken document with its own message) and read back with the
//! SDK; the lifecycle rules listed. Then the traffic and capacity pages: request rates,
//! errors and latency by operation from the zone's counters, data directories' space, and
//! usage over time, on charts with time axes.

mod common;
use common::browser::Browser;
use common::{err_code, get, put, Server};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread")]
async fn bucket_settings_are_saved_through_s3_from_the_page() {
    let server = Server::start();
    let c = server.client();
    c.create_bucket()
        .bucket("media")
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    c.create_bucket().bucket("plain").send().await.unwrap();
    let b = Browser::start("settings").await;
    b.sign_in(&server).await;
    let page = format!("{}/dashboard/buckets/media", server.admin);
    b.goto(&page).await;

    // CORS: a broken document is refused by S3's parser; a good one is saved, shown
    // again from S3's answer, then deleted.
    b.click("#cors-editor summary").await;
    b.type_into("#cors-xml", "<CORSConfiguration><CORSRule>")
        .await;
    b.click("#cors-form button[value=save]").await;
    b.flash("MalformedXML").await;
    let cors = "<CORSConfiguration><CORSRule><AllowedOrigin>https://app.example.org</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedHeader>*</AllowedHeader></CORSRule></CORSConfiguration>";
    b.click("#cors-editor summary").await;
    b.type_into("#cors-xml", cors).await;
    b.click("#cors-form button[value=save]").await;
    b.flash("Saved the CORS of media").await;
    let got = c.get_bucket_cors().bucket("media").send().await.unwrap();
    let rule = &got.cors_rules()[0];
    assert_eq!(rule.allowed_origins(), ["https://app.example.org"]);
    assert_eq!(rule.allowed_methods(), ["PUT"]);
    let shown = b.property("#cors-xml", "value").await;
    assert!(
        shown.contains("<AllowedOrigin>https://app.example.org</AllowedOrigin>\n"),
        "S3's document, one element a line: {shown}"
    );
    b.click("#cors-form button[value=delete]").await;
    b.flash("Deleted the CORS of media").await;
    let gone = c
        .get_bucket_cors()
        .bucket("media")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&gone), "NoSuchCORSConfiguration");

    // Lifecycle: saved through S3, then listed as rules with what they do.
    let rules = "<LifecycleConfiguration><Rule><ID>expire-tmp</ID><Filter><Prefix>tmp/</Prefix></Filter><Status>Enabled</Status><Expiration><Days>7</Days></Expiration></Rule><Rule><ID>old-versions</ID><Filter/><Status>Disabled</Status><NoncurrentVersionExpiration><NoncurrentDays>30</NoncurrentDays></NoncurrentVersionExpiration><AbortIncompleteMultipartUpload><DaysAfterInitiation>2</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule></LifecycleConfiguration>";
    b.click("#lifecycle-editor summary").await;
    b.type_into("#lifecycle-xml", rules).await;
    b.click("#lifecycle-form button[value=save]").await;
    b.flash("Saved the Lifecycle rules of media").await;
    let got = c
        .get_bucket_lifecycle_configuration()
        .bucket("media")
        .send()
        .await
        .unwrap();
    assert_eq!(got.rules().len(), 2);
    let listed = b.text("#lifecycle-rules").await;
    for expected in [
        "expire-tmp",
        "keys starting with \"tmp/\"",
        "expire after 7 days",
        "old-versions",
        "disabled",
        "every object",
        "remove older versions after 30 days",
        "abort unfinished uploads after 2 days",
    ] {
        assert!(listed.contains(expected), "{expected:?} in {listed}");
    }
    assert!(b.text("#lifecycle-run").await.contains("passes"));
    // A rule S3 refuses leaves the rules as they were.
    b.type_into(
        "#lifecycle-xml",
        "<LifecycleConfiguration><Rule><Status>Maybe</Status></Rule></LifecycleConfiguration>",
    )
    .await;
    b.click("#lifecycle-form button[value=save]").await;
    let refused = b.text(".flash.bad").await;
    assert!(refused.contains("Malformed"), "{refused}");
    let still = c
        .get_bucket_lifecycle_configuration()
        .bucket("media")
        .send()
        .await
        .unwrap();
    assert_eq!(still.rules().len(), 2);

    // Tags: the client's bytes, spaces kept; a row emptied is removed.
    b.type_into("input[name=key0]", "course").await;
    b.type_into("input[name=value0]", " math 101 ").await;
    b.type_into("input[name=key1]", "term").await;
    b.type_into("input[name=value1]", "fall & <winter>").await;
    b.click("#tags-form button[type=submit]").await;
    b.flash("Saved the tags of media (2)").await;
    let tags = c.get_bucket_tagging().bucket("media").send().await.unwrap();
    let mut pairs: Vec<(String, String)> = tags
        .tag_set()
        .iter()
        .map(|t| (t.key().to_string(), t.value().to_string()))
        .collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("course".to_string(), " math 101 ".to_string()),
            ("term".to_string(), "fall & <winter>".to_string())
        ]
    );
    let first_key = b.property("input[name=key0]", "value").await;
    b.type_into("input[name=key0]", "").await;
    b.click("#tags-form button[type=submit]").await;
    b.flash("Saved the tags of media (1)").await;
    let tags = c.get_bucket_tagging().bucket("media").send().await.unwrap();
    assert_eq!(tags.tag_set().len(), 1);
    assert_ne!(tags.tag_set()[0].key(), first_key);

    // Public access block: S3 then refuses a public policy.
    b.click("#access-block-form input[name=BlockPublicPolicy]")
        .await;
    b.click("#access-block-form button[type=submit]").await;
    b.flash("Saved the public access block of media").await;
    let block = c
        .get_public_access_block()
        .bucket("media")
        .send()
        .await
        .unwrap()
        .public_access_block_configuration
        .unwrap();
    assert_eq!(block.block_public_policy, Some(true));
    assert_eq!(block.block_public_acls, Some(false));
    let public = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::media/*"}]}"#;
    let denied = c
        .put_bucket_policy()
        .bucket("media")
        .policy(public)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&denied), "AccessDenied");

    // Default retention: a bad period is S3's to refuse; a good one applies to new
    // versions.
    b.select("#retention-mode", "governance").await;
    b.type_into("#retention-period", "36501").await;
    b.click("#retention-form button[type=submit]").await;
    b.flash("InvalidRetentionPeriod").await;
    b.select("#retention-mode", "governance").await;
    b.type_into("#retention-period", "5").await;
    b.select("#retention-unit", "days").await;
    b.click("#retention-form button[type=submit]").await;
    b.flash("Saved the default retention of media").await;
    let lock = c
        .get_object_lock_configuration()
        .bucket("media")
        .send()
        .await
        .unwrap()
        .object_lock_configuration
        .unwrap();
    let d = lock.rule.unwrap().default_retention.unwrap();
    assert_eq!(
        d.mode.map(|m| m.as_str().to_string()).as_deref(),
        Some("GOVERNANCE")
    );
    assert_eq!(d.days, Some(5));
    put(&c, "media", "lecture.mp4", b"frames".to_vec()).await;
    let head = c
        .head_object()
        .bucket("media")
        .key("lecture.mp4")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode
            .map(|m| m.as_str().to_string())
            .as_deref(),
        Some("GOVERNANCE")
    );
    assert_eq!(b.property("#retention-period", "value").await, "5");
    b.screenshot("01-bucket-settings").await;

    // A bucket without object lock has no retention form.
    b.goto(&format!("{}/dashboard/buckets/plain", server.admin))
        .await;
    b.find("#tags-form").await;
    assert!(b.try_find("#retention-form").await.is_none());
    assert!(b.text("#settings").await.contains("No lifecycle rules"));
}

#[tokio::test(flavor = "multi_thread")]
async fn traffic_and_capacity_are_charted_from_the_zones_counters() {
    let server = Server::start();
    let c = server.client();
    c.create_bucket().bucket("courses").send().await.unwrap();
    let b = Browser::start("traffic").await;

    // The sign-in field fits its card.
    b.goto(&format!("{}/dashboard/login", server.admin)).await;
    let card = b.rect(".login").await;
    let field = b.rect("#token").await;
    assert!(
        field.0 >= card.0 && field.0 + field.2 <= card.0 + card.2,
        "field {field:?} inside card {card:?}"
    );
    b.sign_in(&server).await;

    // Requests of several kinds, errors among them, until the page has counted them
    // (the counters are read every 10 s).
    let deadline = Instant::now() + Duration::from_secs(60);
    let table = loop {
        for i in 0..5 {
            put(&c, "courses", &format!("week{i}.pdf"), vec![7u8; 10_000]).await;
            assert!(get(&c, "courses", &format!("week{i}.pdf")).await.is_some());
        }
        assert_eq!(get(&c, "courses", "missing.pdf").await, None);
        b.goto(&format!("{}/dashboard/traffic", server.admin)).await;
        let t = b.text("#operations").await;
        if t.contains("PutObject") && t.contains("GetObject") {
            break t;
        }
        assert!(Instant::now() < deadline, "no traffic counted: {t}");
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let get_row = table
        .lines()
        .find(|l| l.starts_with("GetObject"))
        .unwrap_or_default()
        .to_string();
    let cells: Vec<&str> = get_row.split_whitespace().collect();
    let requests: u64 = cells[1].parse().unwrap();
    let errors: u64 = cells[3].parse().unwrap();
    assert!(requests >= 6 && errors >= 1, "{get_row}");
    for chart in [
        "#requests-chart",
        "#errors-chart",
        "#latency-chart",
        "#bytes-chart",
    ] {
        let caption = b.text(&format!("{chart} figcaption")).await;
        assert!(!caption.is_empty(), "{chart}");
        b.find(&format!("{chart} svg text.time")).await;
    }
    assert!(b
        .text("#requests-chart figcaption")
        .await
        .contains("PutObject"));
    assert!(b.text("#latency-chart figcaption").await.contains("p99"));
    b.find("#requests-chart .line, #requests-chart .dot").await;
    b.screenshot("02-traffic").await;

    // Capacity: the data directory's filesystem, the zone's totals and the largest
    // buckets, with the usage charts.
    b.goto(&format!("{}/dashboard/capacity", server.admin))
        .await;
    let dirs = b.text("#directories").await;
    assert!(dirs.contains("data") && dirs.contains('%'), "{dirs}");
    let totals = b.text("#zone-usage").await;
    assert!(totals.contains("1 buckets, 5 objects"), "{totals}");
    b.find("#zone-usage-bytes svg polyline").await;
    assert!(b.text("#largest").await.contains("courses"));
    b.screenshot("03-capacity").await;
    b.goto(&format!("{}/dashboard/buckets/courses", server.admin))
        .await;
    b.find("#bucket-usage-objects svg").await;
    assert!(b.text("#bucket-usage").await.contains("Objects, last day"));

    // The lag chart has its time axis too.
    b.goto(&format!("{}/dashboard", server.admin)).await;
    b.find("#lag-chart svg text.time").await;
}
