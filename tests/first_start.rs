//! The first start's admin secret is written to the credentials file (0600) and shown only
//! at a terminal: a service manager or `docker-compose logs` must not keep it (issue 21).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

#[test]
fn the_secret_stays_out_of_captured_output() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_bascule"))
        .args(["serve", "--data-dir"])
        .arg(&data)
        .args([
            "--s3-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = String::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line.starts_with("  saved (mode 0600) in") {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let path = data.join("credentials");
    let creds = std::fs::read_to_string(&path).unwrap();
    let secret = creds
        .lines()
        .find_map(|l| l.strip_prefix("aws_secret_access_key = "))
        .expect("a secret in the credentials file");
    assert!(secret.len() >= 20);
    assert!(
        !out.contains(secret),
        "the secret reached captured output:\n{out}"
    );
    assert!(out.contains("access key: "), "{out}");
    assert!(out.contains("not shown"), "{out}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
