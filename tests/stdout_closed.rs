//! A server whose stdout is closed (a supervisor that stopped reading) keeps running:
//! announcing its endpoints must not kill it.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn server_survives_a_closed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let (s3, admin) = (free_port(), free_port());
    let mut child = Command::new(env!("CARGO_BIN_EXE_bascule"))
        .arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args([
            "--s3-listen",
            &format!("127.0.0.1:{s3}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin}"),
        ])
        .env("BASCULE_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Close our end of its stdout before it prints anything.
    drop(child.stdout.take());
    let url = format!("http://127.0.0.1:{s3}/");
    let deadline = Instant::now() + Duration::from_secs(15);
    let response = loop {
        match reqwest::get(&url).await {
            Ok(r) => break r,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => {
                let status = child.try_wait().unwrap();
                let _ = child.kill();
                panic!("server not reachable ({e}); exit status: {status:?}");
            }
        }
    };
    assert_eq!(response.status().as_u16(), 403);
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("<Code>AccessDenied</Code>"));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the server is still running"
    );
    let _ = child.kill();
    let _ = child.wait();
}
