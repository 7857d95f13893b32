//! Two-zone test harness: a primary and a secondary `bascule` process pointed at each other
//! (optionally through fault-injecting TCP proxies), and helpers to watch replication.

use super::Server;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub const SECRET: &str = "zone-link-secret-for-tests";

pub struct Ports {
    pub s3: u16,
    pub admin: u16,
}

impl Ports {
    pub fn new() -> Ports {
        Ports {
            s3: super::free_port(),
            admin: super::free_port(),
        }
    }
}

/// Starts a zone on fixed ports (so its peer finds it again after a restart).
/// `config` is extra TOML for the `[zone]` table.
pub fn zone(role: &str, ports: &Ports, peer_admin: u16, config: &str, extra: &[&str]) -> Server {
    zone_at(
        role,
        ports,
        &format!("http://127.0.0.1:{peer_admin}"),
        config,
        extra,
        None,
    )
}

/// Like `zone`, with the peer's full URL and, for TLS admin listeners, the CA to trust.
pub fn zone_at(
    role: &str,
    ports: &Ports,
    peer_url: &str,
    config: &str,
    extra: &[&str],
    admin_ca: Option<Vec<u8>>,
) -> Server {
    let mut args = vec![
        "--role".to_string(),
        role.to_string(),
        "--peer".to_string(),
        peer_url.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut s = Server::prepare(&args, |_| {});
    let cfg = s.dir.path().join("zone.toml");
    std::fs::write(&cfg, format!("[zone]\n{config}\n")).expect("write zone config");
    s.s3_listen = format!("127.0.0.1:{}", ports.s3);
    s.admin_listen = format!("127.0.0.1:{}", ports.admin);
    s.env = vec![
        ("BASCULE_REPLICATION_SECRET".into(), SECRET.into()),
        ("BASCULE_CONFIG".into(), cfg.display().to_string()),
    ];
    s.admin_ca = admin_ca;
    s.spawn();
    s
}

pub struct Pair {
    pub a: Server,
    pub b: Server,
    pub a_ports: Ports,
    pub b_ports: Ports,
}

impl Pair {
    /// Zone A primary, zone B its secondary, linked directly.
    pub fn start(config: &str) -> Pair {
        let (a_ports, b_ports) = (Ports::new(), Ports::new());
        let a = zone("primary", &a_ports, b_ports.admin, config, &[]);
        let mut b = zone("secondary", &b_ports, a_ports.admin, config, &[]);
        b.access_key = a.access_key.clone();
        b.secret_key = a.secret_key.clone();
        Pair {
            a,
            b,
            a_ports,
            b_ports,
        }
    }
}

pub async fn status(z: &Server) -> Value {
    let (st, v) = z.admin("GET", "/zone", None).await;
    assert_eq!(st, 200, "zone status: {v}");
    v
}

/// Waits until `secondary` has applied everything `primary` has committed.
pub async fn caught_up(primary: &Server, secondary: &Server, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let p = status(primary).await["last_seq"].as_u64().unwrap_or(0);
        let s = status(secondary).await;
        if s["last_seq"].as_u64() == Some(p) && s["resync"].is_null() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "secondary did not catch up with {p}: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the zone report until `cond` holds.
pub async fn wait_for(
    z: &Server,
    within: Duration,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let s = status(z).await;
        if cond(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {s:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP forwarder that can cut the link (refusing new connections and dropping open
/// ones) and heal it again: a network partition between two zones.
pub struct Proxy {
    pub port: u16,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (c, list) = (cut.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target_port)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                if let Ok(mut l) = list.lock() {
                    l.retain(|t| !t.is_finished());
                    l.push(task);
                }
            }
        });
        Proxy {
            port,
            cut,
            conns,
            accept,
        }
    }

    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        if let Ok(mut l) = self.conns.lock() {
            for t in l.drain(..) {
                t.abort();
            }
        }
    }

    pub fn heal(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Asserts that a PUT on this client's zone is refused as read-only; returns the raw
/// response's `x-bascule-primary` header.
pub async fn assert_read_only(c: &aws_sdk_s3::Client, bucket: &str) -> Option<String> {
    let e = c
        .put_object()
        .bucket(bucket)
        .key("refused")
        .body(aws_sdk_s3::primitives::ByteStream::from(vec![1]))
        .send()
        .await
        .expect_err("a write on a read-only zone");
    assert_eq!(super::err_code(&e), "ZoneReadOnly", "{e:?}");
    let raw = e.raw_response().expect("raw response");
    assert_eq!(raw.status().as_u16(), 403, "final, not retryable");
    raw.headers().get("x-bascule-primary").map(String::from)
}
