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
