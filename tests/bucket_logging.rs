//! Server access logging as AWS documents it: Get/PutBucketLogging (only the bucket owner;
//! the target must exist, not be the source, not log itself and let the service principal
//! `logging.s3.amazonaws.com` write under the prefix through its policy), and
//! delivery of records in AWS's 26-field line format as objects of the target bucket.

mod common;
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::types::{
    BucketLoggingStatus, LoggingEnabled, PartitionDateSource, PartitionedPrefix, SimplePrefix,
    TargetObjectKeyFormat,
};
use common::{err_code, Server};
use std::time::{Duration, Instant};

fn delivery_policy(target: &str, prefix: &str, source: &str, account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "S3ServerAccessLogsPolicy",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": ["s3:PutObject"],
            "Resource": format!("arn:aws:s3:::{target}/{prefix}*"),
            "Condition": {
                "ArnLike": {"aws:SourceArn": format!("arn:aws:s3:::{source}")},
                "StringEquals": {"aws:SourceAccount": account}
            }
        }]
    })
    .to_string()
}

fn enabled(target: &str, prefix: &str) -> BucketLoggingStatus {
    enabled_as(target, prefix, None)
}

/// Logging to `target` under `prefix`, with a key format when given.
fn enabled_as(
    target: &str,
    prefix: &str,
    format: Option<TargetObjectKeyFormat>,
) -> BucketLoggingStatus {
    BucketLoggingStatus::builder()
        .logging_enabled(
            LoggingEnabled::builder()
                .target_bucket(target)
                .target_prefix(prefix)
                .set_target_object_key_format(format)
                .build()
                .unwrap(),
        )
        .build()
}

async fn put_policy(c: &aws_sdk_s3::Client, bucket: &str, policy: impl Into<String>) {
    c.put_bucket_policy()
        .bucket(bucket)
        .policy(policy)
        .send()
        .await
        .unwrap();
}

async fn put_logging(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    status: BucketLoggingStatus,
) -> Result<(), String> {
    c.put_bucket_logging()
        .bucket(bucket)
        .bucket_logging_status(status)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| err_code(&e))
}

#[tokio::test]
async fn logging_is_configured_as_on_aws() {
    let srv = Server::start();
    let c = srv.client();
    let owner = srv.user_id("admin").await;
    for b in ["src", "logs", "chained", "locked"] {
        c.create_bucket().bucket(b).send().await.unwrap();
    }
    // No configuration: an empty status.
    let got = c.get_bucket_logging().bucket("src").send().await.unwrap();
    assert!(got.logging_enabled().is_none());

    // The target's policy decides: nothing, `*`, another service or another action do
    // not let the log delivery service in.
    assert_eq!(
        put_logging(&c, "src", enabled("logs", "log/")).await,
        Err("AccessDenied".into())
    );
    let good = delivery_policy("logs", "log/", "src", &owner);
    let star = good.replace(
        r#"{"Service":"logging.s3.amazonaws.com"}"#,
        r#"{"AWS":"*"}"#,
    );
    assert_ne!(star, good);
    let wrong_source = good.replace("arn:aws:s3:::src", "arn:aws:s3:::other");
    let wrong_account = good.replace(&owner, "someone-else");
    let wrong_action = good.replace("s3:PutObject", "s3:GetObject");
    for policy in [&star, &wrong_source, &wrong_account, &wrong_action] {
        put_policy(&c, "logs", policy.as_str()).await;
        assert_eq!(
            put_logging(&c, "src", enabled("logs", "log/")).await,
            Err("AccessDenied".into()),
            "{policy}"
        );
    }
    put_policy(&c, "logs", good).await;
    // A prefix the policy does not cover is still refused.
    assert_eq!(
        put_logging(&c, "src", enabled("logs", "elsewhere/")).await,
        Err("AccessDenied".into())
    );
    put_logging(&c, "src", enabled("logs", "log/"))
        .await
        .unwrap();
    let got = c.get_bucket_logging().bucket("src").send().await.unwrap();
    let le = got.logging_enabled().expect("logging enabled");
    assert_eq!(le.target_bucket(), "logs");
    assert_eq!(le.target_prefix(), "log/");
    assert!(le
        .target_object_key_format()
        .and_then(|f| f.simple_prefix())
        .is_some());

    // Partitioned keys, dated by delivery.
    let partitioned = enabled_as(
        "logs",
        "log/",
        Some(
            TargetObjectKeyFormat::builder()
                .partitioned_prefix(
                    PartitionedPrefix::builder()
                        .partition_date_source(PartitionDateSource::DeliveryTime)
                        .build(),
                )
                .build(),
        ),
    );
    put_logging(&c, "src", partitioned).await.unwrap();
    let got = c.get_bucket_logging().bucket("src").send().await.unwrap();
    let format = got
        .logging_enabled()
        .and_then(|l| l.target_object_key_format())
        .expect("key format");
    assert_eq!(
        format
            .partitioned_prefix()
            .and_then(|p| p.partition_date_source()),
        Some(&PartitionDateSource::DeliveryTime)
    );
    let simple = enabled_as(
        "logs",
        "log/",
        Some(
            TargetObjectKeyFormat::builder()
                .simple_prefix(SimplePrefix::builder().build())
                .build(),
        ),
    );
    put_logging(&c, "src", simple).await.unwrap();

    // Refused targets.
    let raw = srv.raw();
    let doc = |target: &str, extra: &str| {
        format!(
            "<BucketLoggingStatus xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LoggingEnabled><TargetBucket>{target}</TargetBucket><TargetPrefix>log/</TargetPrefix>{extra}</LoggingEnabled></BucketLoggingStatus>"
        )
    };
    let put_doc = |body: String| {
        let raw = raw.clone();
        async move {
            raw.send("PUT", "/src?logging", &[], body.into_bytes(), true, None)
                .await
                .code()
        }
    };
    assert_eq!(
        put_doc(doc("missing", "")).await,
        "InvalidTargetBucketForLogging"
    );
    assert_eq!(put_doc(doc("src", "")).await, "InvalidArgument");
    assert_eq!(
        put_doc(doc(
            "logs",
            "<TargetObjectKeyFormat><PartitionedPrefix><PartitionDateSource>kaboom</PartitionDateSource></PartitionedPrefix></TargetObjectKeyFormat>"
        ))
        .await,
        "MalformedXML"
    );
    // An element Bascule does not know is refused, not ignored.
    assert_eq!(
        put_doc(doc("logs", "<LoggingType>Journal</LoggingType>")).await,
        "MalformedXML"
    );
    // A target that logs itself would chain deliveries.
    put_policy(
        &c,
        "chained",
        delivery_policy("chained", "log/", "src", &owner),
    )
    .await;
    c.put_bucket_policy()
        .bucket("logs")
        .policy(
            serde_json::json!({
                "Version": "2012-10-17",
                "Statement": [
                    serde_json::from_str::<serde_json::Value>(&delivery_policy("logs", "log/", "src", &owner)).unwrap()["Statement"][0].clone(),
                    serde_json::from_str::<serde_json::Value>(&delivery_policy("logs", "log/", "chained", &owner)).unwrap()["Statement"][0].clone(),
                ]
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    put_logging(&c, "chained", enabled("logs", "log/"))
        .await
        .unwrap();
    assert_eq!(put_doc(doc("chained", "")).await, "InvalidArgument");

    // A target owned by someone else takes records only once its owner's policy consents
    // for this source bucket and its owner.
    let bob = srv.new_user("bob").await;
    let bob_client = srv.client_for(&bob.0, &bob.1);
    bob_client
        .create_bucket()
        .bucket("bobs")
        .send()
        .await
        .unwrap();
    assert_eq!(put_doc(doc("bobs", "")).await, "AccessDenied");
    put_policy(
        &bob_client,
        "bobs",
        delivery_policy("bobs", "log/", "src", &owner),
    )
    .await;
    put_logging(&c, "src", enabled("bobs", "log/"))
        .await
        .unwrap();
    // Bob's consent names the source and its owner: his own bucket's records may not go
    // there through it, nor may another source of ours.
    assert_eq!(
        put_logging(&c, "locked", enabled("bobs", "log/")).await,
        Err("AccessDenied".into())
    );

    // Only the bucket owner, whatever a policy allows.
    put_policy(&c, "src", r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:PutBucketLogging","s3:GetBucketLogging"],"Resource":"arn:aws:s3:::src"}]}"#,).await;
    assert_eq!(
        put_logging(&bob_client, "src", BucketLoggingStatus::builder().build()).await,
        Err("AccessDenied".into())
    );
    let e = bob_client
        .get_bucket_logging()
        .bucket("src")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err_code(&e), "AccessDenied");
    let anon = reqwest::get(format!("{}/src?logging", srv.s3))
        .await
        .unwrap();
    assert_eq!(anon.status().as_u16(), 403);
    assert!(c
        .get_bucket_logging()
        .bucket("src")
        .send()
        .await
        .unwrap()
        .logging_enabled()
        .is_some());

    // DELETE ?logging is no operation: never DeleteBucket.
    let r = raw
        .send("DELETE", "/locked?logging", &[], Vec::new(), true, None)
        .await;
    assert_eq!(r.status, 501, "{}", r.text());
    c.head_bucket().bucket("locked").send().await.unwrap();

    // An empty status turns logging off.
    put_logging(&c, "src", BucketLoggingStatus::builder().build())
        .await
        .unwrap();
    let got = c.get_bucket_logging().bucket("src").send().await.unwrap();
    assert!(got.logging_enabled().is_none());
}

/// Splits a record as a shell does (the S3 test suites parse records with `shlex`), with
/// the time's brackets as quotes.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur: Option<String> = None;
    let (mut quoted, mut escaped) = (false, false);
    for c in line.replace(['[', ']'], "\"").chars() {
        if escaped {
            cur.get_or_insert_with(String::new).push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                cur.get_or_insert_with(String::new);
            }
            ' ' if !quoted => {
                if let Some(f) = cur.take() {
                    out.push(f);
                }
            }
            c => cur.get_or_insert_with(String::new).push(c),
        }
    }
    out.extend(cur);
    out
}

async fn log_text(c: &aws_sdk_s3::Client, min_lines: usize, deadline: Duration) -> String {
    let start = Instant::now();
    loop {
        let mut text = String::new();
        for key in common::list_keys(c, "logs").await {
            assert!(key.starts_with("log/"), "{key}");
            text.push_str(&String::from_utf8(common::get(c, "logs", &key).await.unwrap()).unwrap());
        }
        if text.lines().count() >= min_lines || start.elapsed() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn records_are_delivered_as_log_objects() {
    let mut srv = Server::prepare(&[], |_| {});
    let config = srv.write_config("[bucket_logging]\nflush_seconds = 1\n");
    srv.add_args(&["--config", &config]);
    srv.spawn();
    let c = srv.client();
    let owner = srv.user_id("admin").await;
    for b in ["src", "logs"] {
        c.create_bucket().bucket(b).send().await.unwrap();
    }
    put_policy(&c, "logs", delivery_policy("logs", "log/", "src", &owner)).await;
    put_logging(&c, "src", enabled("logs", "log/"))
        .await
        .unwrap();

    let put = c
        .put_object()
        .bucket("src")
        .key("notes é.pdf")
        .body(vec![7u8; 1234].into())
        .send()
        .await
        .unwrap();
    let put_id = put.request_id().expect("request id").to_string();
    let got = c
        .get_object()
        .bucket("src")
        .key("notes é.pdf")
        .range("bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_length(), Some(10));
    let missing = c
        .head_object()
        .bucket("src")
        .key("missing")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        missing.raw_response().map(|r| r.status().as_u16()),
        Some(404)
    );
    // An anonymous caller, refused, with a presigned-looking signature.
    let anon = reqwest::Client::new()
        .get(format!("{}/src/notes?X-Amz-Signature=SECRETSIG", srv.s3))
        .header("user-agent", "student \"browser\"")
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status().as_u16(), 403);

    let text = log_text(&c, 4, Duration::from_secs(20)).await;
    assert!(
        !text.contains("SECRETSIG"),
        "a signature reached a log object"
    );
    let records: Vec<Vec<String>> = text.lines().map(fields).collect();
    for r in &records {
        assert_eq!(r.len(), 26, "{r:?}");
        assert_eq!(r[0], owner);
        assert_eq!(r[1], "src");
    }
    let find = |op: &str| {
        records
            .iter()
            .find(|r| r[6] == op)
            .unwrap_or_else(|| panic!("no {op} record in {text}"))
    };
    let p = find("REST.PUT.OBJECT");
    assert_eq!(p[4], owner, "the requester");
    assert_eq!(p[5], put_id, "the request id");
    assert_eq!(p[7], "notes%20%C3%A9.pdf");
    assert!(p[8].starts_with("PUT /src/notes%20%C3%A9.pdf"), "{}", p[8]);
    assert_eq!(p[9], "200");
    assert_eq!(p[12], "1234", "the object size");
    assert_eq!(p[19], "SigV4");
    assert_eq!(p[21], "AuthHeader");
    let g = find("REST.GET.OBJECT");
    // Two GET records: the owner's ranged read and the anonymous refusal.
    let owner_get = records
        .iter()
        .find(|r| r[6] == "REST.GET.OBJECT" && r[9] == "206")
        .expect("the ranged GET");
    assert_eq!(owner_get[11], "10", "bytes sent");
    assert_eq!(owner_get[12], "1234", "the whole object's size");
    let _ = g;
    let h = find("REST.HEAD.OBJECT");
    assert_eq!(h[9], "404");
    assert_eq!(h[10], "NoSuchKey");
    let refused = records
        .iter()
        .find(|r| r[9] == "403")
        .expect("the anonymous refusal");
    assert_eq!(refused[4], "-", "anonymous requester");
    assert_eq!(refused[10], "AccessDenied");
    assert_eq!(refused[16], "student \"browser\"");
    assert!(refused[8].contains("X-Amz-Signature=-"), "{}", refused[8]);

    // Deliveries are objects like any other: journaled (replicated) and owned by the
    // target's owner.
    let keys = common::list_keys(&c, "logs").await;
    let acl = c
        .get_object_acl()
        .bucket("logs")
        .key(&keys[0])
        .send()
        .await
        .unwrap();
    assert_eq!(acl.owner().and_then(|o| o.id()), Some(owner.as_str()));

    // Taking the grant away stops deliveries; the records are counted as dropped.
    c.delete_bucket_policy()
        .bucket("logs")
        .send()
        .await
        .unwrap();
    let before = keys.len();
    common::put(&c, "src", "later", b"x".to_vec()).await;
    let start = Instant::now();
    let dropped = loop {
        let metrics = srv.metrics().await;
        let dropped =
            common::metric_value(&metrics, "bascule_bucket_logging_dropped_records_total")
                .unwrap_or(0.0);
        if dropped > 0.0 || start.elapsed() > Duration::from_secs(20) {
            break dropped;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(dropped >= 1.0, "the undeliverable record is counted");
    assert_eq!(common::list_keys(&c, "logs").await.len(), before);
}
