//! TLS on the S3 listener, and a certificate reloaded on SIGHUP without a restart: new
//! connections get the new certificate.

mod common;
use common::Server;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use std::path::Path;

/// A CA and a leaf for 127.0.0.1 signed by it, written as PEM; returns the CA's PEM.
fn issue(cert: &Path, key: &Path) -> String {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &ca, &ca_key)
        .unwrap();
    std::fs::write(cert, leaf.pem()).unwrap();
    std::fs::write(key, leaf_key.serialize_pem()).unwrap();
    ca.pem()
}

async fn status_trusting(ca_pem: &str, url: &str) -> Result<u16, reqwest::Error> {
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    Ok(client.get(url).send().await?.status().as_u16())
}

#[tokio::test]
async fn s3_over_tls_with_certificate_reload() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("s3.crt"), certs.path().join("s3.key"));
    let first_ca = issue(&cert, &key);
    let mut srv = Server::prepare(&[], |_| {});
    let config = srv.write_config(&format!(
        "s3_tls_cert = {:?}\ns3_tls_key = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    ));
    srv.add_args(&["--config", &config]);
    srv.spawn();
    assert!(srv.s3.starts_with("https://127.0.0.1:"), "{}", srv.s3);
    let url = format!("{}/", srv.s3);
    assert_eq!(status_trusting(&first_ca, &url).await.unwrap(), 403);
    // Plain HTTP to the TLS port gets no S3 answer.
    let plain = srv.s3.replace("https://", "http://");
    let plain_status = reqwest::get(&plain).await.ok().map(|r| r.status().as_u16());
    assert_ne!(plain_status, Some(403), "plain HTTP got an S3 answer");

    let second_ca = issue(&cert, &key);
    std::process::Command::new("kill")
        .args(["-HUP", &srv.pid().to_string()])
        .status()
        .unwrap();
    let mut reloaded = false;
    for _ in 0..50 {
        if status_trusting(&second_ca, &url).await.is_ok() {
            reloaded = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(reloaded, "the new certificate was not served after SIGHUP");
    assert!(
        status_trusting(&first_ca, &url).await.is_err(),
        "the old certificate is no longer served"
    );
    // A broken file on reload keeps the certificate in use.
    std::fs::write(&key, "not a key").unwrap();
    std::process::Command::new("kill")
        .args(["-HUP", &srv.pid().to_string()])
        .status()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(status_trusting(&second_ca, &url).await.unwrap(), 403);
}

/// Open file descriptors of a process.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Silent TCP connections to the TLS listener take connection permits before any
/// handshake: `max_connections` holds (no file descriptors beyond it), and a real client's
/// handshake still goes through (a silent socket is closed to make room for it).
#[tokio::test]
async fn silent_sockets_cannot_hold_the_tls_listener() {
    let certs = tempfile::tempdir().unwrap();
    let (cert, key) = (certs.path().join("s3.crt"), certs.path().join("s3.key"));
    let ca = issue(&cert, &key);
    let mut srv = Server::prepare(&[], |_| {});
    let config = srv.write_config(&format!(
        "s3_tls_cert = {:?}\ns3_tls_key = {:?}\n[limits]\nmax_connections = 50\nheader_timeout_secs = 30\n",
        cert.display().to_string(),
        key.display().to_string()
    ));
    srv.add_args(&["--config", &config]);
    srv.spawn();
    let before = open_fds(srv.pid());
    let addr = srv.s3.trim_start_matches("https://").to_string();
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let during = open_fds(srv.pid());
    assert!(
        during <= before + 50 + 10,
        "300 silent sockets hold {} descriptors (limit 50)",
        during - before
    );
    // A real client is served at once, long before the silent ones' deadline.
    let started = std::time::Instant::now();
    let status = status_trusting(&ca, &format!("{}/", srv.s3)).await.unwrap();
    assert_eq!(status, 403);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    drop(silent);
}

/// One address holding every connection of a plain listener does not lock out another:
/// an idle connection is closed to make room.
#[tokio::test]
async fn one_address_holding_connections_does_not_lock_out_others() {
    let mut srv = Server::prepare(&[], |_| {});
    let config = srv.write_config(
        "[limits]\nmax_connections = 40\nidle_timeout_secs = 60\nheader_timeout_secs = 60\n",
    );
    srv.add_args(&["--config", &config]);
    srv.spawn();
    let port = srv.s3.rsplit(':').next().unwrap().to_string();
    let mut idle = Vec::new();
    for _ in 0..100 {
        let s = tokio::net::TcpSocket::new_v4().unwrap();
        s.bind("127.0.0.2:0".parse().unwrap()).unwrap();
        idle.push(
            s.connect(format!("127.0.0.1:{port}").parse().unwrap())
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let r = reqwest::Client::new()
        .get(format!("{}/", srv.s3))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    // Anonymous ListBuckets: refused, but answered by S3, not 503.
    assert_eq!(r.status().as_u16(), 403);
    drop(idle);
}
