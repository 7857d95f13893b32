//! The access log: one line per S3 request with its id, remote address, user, operation,
//! status, S3 error code, bytes and duration; `--log-format json` gives one JSON object a
//! line; signatures in presigned URLs never reach the log.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[tokio::test]
async fn every_request_is_logged_once_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bascule"))
        .args(["serve", "--log-format", "json", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--s3-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .env("BASCULE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let s3 = loop {
        let line = lines.next().expect("server output").unwrap();
        if let Some(e) = line.strip_prefix("S3 endpoint: ") {
            break e.trim().to_string();
        }
    };
    // A presigned-looking URL whose signature must not be logged, and a refusal.
    let r = reqwest::get(format!("{s3}/bkt/k?X-Amz-Signature=SECRETSIG"))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let r = reqwest::get(format!("{s3}/")).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    child.wait().unwrap();
    let access: Vec<serde_json::Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "bascule::access")
        .collect();
    assert_eq!(access.len(), 2, "{err}");
    let first = &access[0]["fields"];
    assert_eq!(first["status"], 404);
    assert_eq!(first["error"], "NoSuchBucket");
    assert_eq!(access[1]["fields"]["error"], "AccessDenied");
    assert_eq!(first["resource"], "/bkt/k");
    assert_eq!(first["user"], "-");
    assert!(first["request_id"]
        .as_str()
        .is_some_and(|id| id.len() == 16));
    assert!(first["remote"]
        .as_str()
        .is_some_and(|r| r.contains("127.0.0.1")));
    assert!(first["duration_ms"].is_number());
    assert!(!err.contains("SECRETSIG"), "a signature reached the log");
    assert!(!err.contains('\u{1b}'), "no colour codes off a terminal");
}
