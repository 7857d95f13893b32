//! HAProxy in front of test zones, with the shipped configuration's sections
//! (`deploy/haproxy/haproxy.cfg`), so the tests try what operators run. Debian's haproxy
//! package provides the binary (`.ci/run` installs it).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shipped configuration's section `name` (`defaults`, `frontend s3`, ...), as lines.
pub fn shipped_section(name: &str) -> Vec<String> {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/haproxy/haproxy.cfg"
    ))
    .expect("the shipped HAProxy configuration");
    shipped
        .split(&format!("\n{name}\n"))
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no section {name} in the shipped configuration"))
        .lines()
        .map(String::from)
        .collect()
}

/// The shipped S3 frontend's request and response rules.
pub fn shipped_frontend_rules() -> Vec<String> {
    let rules: Vec<String> = shipped_section("frontend s3")
        .into_iter()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with("http-request ") || l.starts_with("http-response ")
        })
        .collect();
    assert!(!rules.is_empty(), "the shipped frontend's rules");
    rules
}

/// The haproxy binary: on the PATH, or where Debian puts it (`/usr/sbin`, which a
/// non-root PATH may lack).
fn binary() -> &'static str {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("haproxy").is_file()));
    if on_path {
        "haproxy"
    } else {
        "/usr/sbin/haproxy"
    }
}

/// A running HAProxy, stopped when dropped.
pub struct Haproxy {
    child: Child,
    _dir: tempfile::TempDir,
    pub listen: u16,
}

impl Haproxy {
    /// Checks `config` with `haproxy -c`, starts it, and waits until it listens on
    /// `listen`.
    pub async fn start(config: String, listen: u16) -> Haproxy {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path: PathBuf = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("write the configuration");
        let check = Command::new(binary())
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .expect("haproxy (Debian's haproxy package; .ci/run installs it)");
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(binary())
            .arg("-f")
            .arg(&path)
            .arg("-db")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("haproxy");
        let start = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", listen))
            .await
            .is_err()
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "haproxy did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Haproxy {
            child,
            _dir: dir,
            listen,
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
