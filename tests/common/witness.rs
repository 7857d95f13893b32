//! `bascule witness` as a real process, for the witness and lease tests.

use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Witness {
    pub secret: String,
    child: Child,
    /// `http://127.0.0.1:PORT/replication/v1`
    pub base: String,
    pub port: u16,
}

impl Witness {
    pub fn start(dir: &std::path::Path, port: u16, secret: &str, lease_seconds: &str) -> Witness {
        let child = Command::new(env!("CARGO_BIN_EXE_bascule"))
            .args(["witness", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(dir)
            .args(["--lease-seconds", lease_seconds])
            .env("BASCULE_REPLICATION_SECRET", secret)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the witness");
        let w = Witness {
            secret: secret.to_string(),
            port,
            child,
            base: format!("http://127.0.0.1:{port}/replication/v1"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the witness did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        w
    }

    pub async fn call(&self, path: &str, body: Value) -> (u16, Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.secret)
            .json(&body)
            .send()
            .await
            .expect("witness answers");
        let status = r.status().as_u16();
        (status, r.json().await.expect("json"))
    }

    pub async fn lease(&self, holder: &str, epoch: u64) -> Value {
        let (status, v) = self
            .call("/lease", json!({"holder": holder, "epoch": epoch}))
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }

    pub async fn vote(&self, candidate: &str, epoch: u64) -> Value {
        let (status, v) = self
            .call(
                "/witness/promote",
                json!({"candidate": candidate, "epoch": epoch}),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
