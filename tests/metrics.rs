//! `/metrics` as Prometheus reads it: S3 requests by operation and status class, latency,
//! errors by code, bytes, space, buckets, build and process figures; no replication gauge
//! on a standalone zone; and `promtool check metrics` accepts it (when promtool is
//! installed, as `.ci/run` does).

mod common;
use common::Server;

#[tokio::test]
async fn request_and_zone_metrics_for_prometheus() {
    let mut srv = Server::prepare(&[], |_| {});
    let config = srv.write_config("[metrics]\nbucket_labels = true\n");
    srv.add_args(&["--config", &config]);
    srv.spawn();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    common::put(&c, "bkt", "k", vec![7u8; 1000]).await;
    assert!(common::get(&c, "bkt", "missing").await.is_none());
    // Two uploads started, one aborted: one in progress.
    let mut ids = Vec::new();
    for key in ["u1", "u2"] {
        let up = c
            .create_multipart_upload()
            .bucket("bkt")
            .key(key)
            .send()
            .await
            .unwrap();
        ids.push(up.upload_id().unwrap().to_string());
    }
    c.abort_multipart_upload()
        .bucket("bkt")
        .key("u1")
        .upload_id(&ids[0])
        .send()
        .await
        .unwrap();
    let text = srv.metrics().await;
    for expected in [
        r#"bascule_s3_requests_total{operation="PutObject",status="2xx"} 1"#,
        r#"bascule_s3_requests_total{operation="CreateBucket",status="2xx"} 1"#,
        r#"bascule_s3_errors_total{code="NoSuchKey"} 1"#,
        r#"bascule_s3_request_duration_seconds_bucket{operation="PutObject",le="+Inf"} 1"#,
        "bascule_s3_received_bytes_total 1000",
        r#"bascule_bucket_objects{bucket="bkt"} 1"#,
        r#"bascule_bucket_bytes{bucket="bkt"} 1000"#,
        "bascule_build_info{version=",
        "bascule_disk_free_bytes{dir=",
        "bascule_zone_primary 1",
        "bascule_zone_writable 1",
        "bascule_multipart_uploads_in_progress 1",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(expected), "{expected} missing in:\n{text}");
    }
    assert!(
        !text.contains("bascule_replication_"),
        "a standalone zone has no replication figures to alarm on:\n{text}"
    );
    if let Ok(out) = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())?;
            child.wait_with_output()
        })
    {
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Bucket names stay out of `/metrics` unless asked for, and a configured token closes it.
#[tokio::test]
async fn bucket_names_and_the_metrics_token() {
    let srv = Server::start();
    let c = srv.client();
    c.create_bucket()
        .bucket("secret-exams-2027")
        .send()
        .await
        .unwrap();
    common::put(&c, "secret-exams-2027", "k", vec![7u8; 10]).await;
    let text = srv.metrics().await;
    assert!(!text.contains("secret-exams-2027"), "{text}");
    assert!(text.contains("bascule_buckets_objects 1"), "{text}");
    drop(srv);

    let mut srv = Server::prepare(&[], |_| {});
    let config = srv.write_config("[metrics]\ntoken = \"scrape-me\"\n");
    srv.add_args(&["--config", &config]);
    srv.spawn();
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", srv.admin);
    assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 401);
    let wrong = http.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let ok = http
        .get(&url)
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert!(ok.text().await.unwrap().contains("bascule_build_info"));
    // Health probes stay open for load balancers.
    let live = http
        .get(format!("{}/health/live", srv.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status().as_u16(), 200);
}

/// The alert rules and scrape configuration shipped in `deploy/prometheus` are valid.
#[test]
fn shipped_prometheus_files_are_valid() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus");
    for (what, file) in [("rules", "alerts.yml"), ("config", "prometheus.yml")] {
        let Ok(out) = std::process::Command::new("promtool")
            .args(["check", what, &format!("{dir}/{file}")])
            .output()
        else {
            eprintln!("promtool is not installed: {file} not checked");
            return;
        };
        assert!(
            out.status.success(),
            "{file}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every metric the shipped Grafana dashboard and alert rules query is one a zone exports
/// (a secondary with a peer exports the most).
#[tokio::test(flavor = "multi_thread")]
async fn dashboard_and_alerts_query_exported_metrics() {
    let pair = common::zones::Pair::start("");
    let c = pair.a.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();
    common::put(&c, "bkt", "k", vec![1u8; 10]).await;
    // Error counters appear with the first error.
    assert!(common::get(&c, "bkt", "missing").await.is_none());
    common::zones::caught_up(&pair.a, &pair.b, std::time::Duration::from_secs(30)).await;
    let mut exported = String::new();
    for z in [&pair.a, &pair.b] {
        exported += &z.metrics().await;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let dashboard = std::fs::read_to_string(format!("{root}/deploy/grafana/bascule.json")).unwrap();
    let rules = std::fs::read_to_string(format!("{root}/deploy/prometheus/alerts.yml")).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&dashboard).expect("dashboard JSON");
    assert!(doc["panels"].as_array().is_some_and(|p| p.len() >= 8));
    let mut checked = 0;
    for text in [&dashboard, &rules] {
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if !(word.starts_with("bascule_") || word.starts_with("process_")) {
                continue;
            }
            // Histogram series are exported with _bucket/_sum/_count suffixes.
            let base = word.trim_end_matches("_bucket");
            assert!(
                exported.contains(&format!("\n{base}"))
                    || exported.contains(&format!("# TYPE {base} ")),
                "{word} is queried but not exported"
            );
            checked += 1;
        }
    }
    assert!(checked > 15, "checked {checked} metric names");
}
