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
/// The master key both test zones use (base64 of 32 bytes).
pub const MASTER_KEY: &str = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=";

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
        // Both zones of a pair share the master key (as they share the link's secret).
        ("BASCULE_MASTER_KEY".into(), MASTER_KEY.into()),
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
        holds_lease_blocking(&a, Duration::from_secs(20));
        Pair {
            a,
            b,
            a_ports,
            b_ports,
        }
    }
}

/// Waits (blocking: callable from a sync constructor) until primary `z` holds a write
/// lease granted by its secondary (a new zone takes writes before its first one).
pub fn holds_lease_blocking(z: &Server, within: Duration) {
    use std::io::{Read, Write};
    let addr = z.admin.trim_start_matches("http://").to_string();
    let deadline = Instant::now() + within;
    loop {
        let mut body = String::new();
        if let Ok(mut conn) = std::net::TcpStream::connect(&addr) {
            let req = format!(
                "GET /admin/v1/zone HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\r\n",
                z.token
            );
            if conn.write_all(req.as_bytes()).is_ok() {
                let _ = conn.read_to_string(&mut body);
            }
        }
        let report: Option<Value> = body
            .split_once("\r\n\r\n")
            .and_then(|(_, b)| serde_json::from_str(b).ok());
        let leased =
            |r: &Value| r["lease"]["held"] == true && r["lease"]["rule"] != "until_first_grant";
        if report.as_ref().is_some_and(leased) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the primary did not get its write lease: {report:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until primary `z` holds its write lease.
pub async fn holds_lease(z: &Server, within: Duration) -> Value {
    wait_for(z, within, "the write lease", |s| {
        s["lease"]["held"] == true && s["lease"]["rule"] == "required"
    })
    .await
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
    /// While set: a request containing these bytes goes through, but its answer is
    /// dropped and the connection closed (and the link is cut, if `cut_after_swallow`).
    swallow: Arc<Mutex<Option<Vec<u8>>>>,
    cut_after_swallow: Arc<AtomicBool>,
    swallowed: Arc<AtomicBool>,
}

/// Forwards one connection; with a `swallow` pattern, drops the answer to a request
/// that contains it.
async fn forward(
    inbound: TcpStream,
    outbound: TcpStream,
    swallow: Option<Vec<u8>>,
    on_swallow: impl FnOnce() + Send + 'static,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut ri, mut wi) = inbound.into_split();
    let (mut ro, mut wo) = outbound.into_split();
    let hit = Arc::new(AtomicBool::new(false));
    let seen = hit.clone();
    let up = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match ri.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Some(p) = &swallow {
                if buf[..n].windows(p.len()).any(|w| w == p.as_slice()) {
                    seen.store(true, Ordering::SeqCst);
                }
            }
            if wo.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = wo.shutdown().await;
    };
    let down = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match ro.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if hit.load(Ordering::SeqCst) {
                // The answer is lost on the way back.
                on_swallow();
                let _ = wi.shutdown().await;
                return;
            }
            if wi.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = wi.shutdown().await;
    };
    tokio::join!(up, down);
}

impl Proxy {
    pub async fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy bind");
        let port = listener.local_addr().expect("proxy addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let swallow: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let cut_after_swallow = Arc::new(AtomicBool::new(false));
        let swallowed = Arc::new(AtomicBool::new(false));
        let (c, list) = (cut.clone(), conns.clone());
        let (sw, cas, swd) = (
            swallow.clone(),
            cut_after_swallow.clone(),
            swallowed.clone(),
        );
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let pattern = sw.lock().ok().and_then(|p| p.clone());
                let (c2, cas2, swd2) = (c.clone(), cas.clone(), swd.clone());
                let task = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(("127.0.0.1", target_port)).await {
                        forward(inbound, outbound, pattern, move || {
                            swd2.store(true, Ordering::SeqCst);
                            if cas2.load(Ordering::SeqCst) {
                                c2.store(true, Ordering::SeqCst);
                            }
                        })
                        .await;
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
            swallow,
            cut_after_swallow,
            swallowed,
        }
    }

    /// From now on, the answer to a request containing `pattern` is dropped (new
    /// connections only); with `then_cut`, the link is cut at that moment too.
    pub fn swallow_answers_to(&self, pattern: &str, then_cut: bool) {
        self.cut_after_swallow.store(then_cut, Ordering::SeqCst);
        if let Ok(mut p) = self.swallow.lock() {
            *p = Some(pattern.as_bytes().to_vec());
        }
        // Connections already open would not look for it: make the next call reconnect.
        if let Ok(mut l) = self.conns.lock() {
            for t in l.drain(..) {
                t.abort();
            }
        }
    }

    /// Whether an answer was dropped.
    pub fn swallowed(&self) -> bool {
        self.swallowed.load(Ordering::SeqCst)
    }

    pub fn stop_swallowing(&self) {
        if let Ok(mut p) = self.swallow.lock() {
            *p = None;
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

/// A one-byte PUT that must be refused, sent once (no SDK retry: a retry could land after
/// the refusal ended); returns the SDK's error.
async fn refused_write(
    c: &aws_sdk_s3::Client,
    bucket: &str,
) -> aws_sdk_s3::error::SdkError<
    aws_sdk_s3::operation::put_object::PutObjectError,
    aws_sdk_s3::config::http::HttpResponse,
> {
    let once = c
        .config()
        .to_builder()
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_s3::Client::from_conf(once)
        .put_object()
        .bucket(bucket)
        .key("refused")
        .body(aws_sdk_s3::primitives::ByteStream::from(vec![1]))
        .send()
        .await
        .expect_err("a write on a zone that takes none")
}

/// Asserts that a PUT on this client's zone is refused as read-only; returns the raw
/// response's `x-bascule-primary` header.
pub async fn assert_read_only(c: &aws_sdk_s3::Client, bucket: &str) -> Option<String> {
    let e = refused_write(c, bucket).await;
    assert_eq!(super::err_code(&e), "ZoneReadOnly", "{e:?}");
    let raw = e.raw_response().expect("raw response");
    assert_eq!(raw.status().as_u16(), 403, "final, not retryable");
    raw.headers().get("x-bascule-primary").map(String::from)
}

/// Asserts that a PUT on a zone that stopped being primary a moment ago is refused as
/// retryable (503 with `Retry-After`, which SDKs and HAProxy retry) and names the new
/// primary; returns its `x-bascule-primary` header.
pub async fn assert_just_demoted(c: &aws_sdk_s3::Client, bucket: &str) -> Option<String> {
    let e = refused_write(c, bucket).await;
    assert_eq!(super::err_code(&e), "ServiceUnavailable", "{e:?}");
    let raw = e.raw_response().expect("raw response");
    assert_eq!(raw.status().as_u16(), 503, "retryable");
    assert_eq!(raw.headers().get("retry-after"), Some("1"));
    raw.headers().get("x-bascule-primary").map(String::from)
}

/// Asserts that a PUT on this client's zone is refused for a moment only: 503 with
/// `Retry-After` (which the SDKs retry), as a fenced or handing-over primary answers.
pub async fn assert_retry_later(c: &aws_sdk_s3::Client, bucket: &str) {
    let e = refused_write(c, bucket).await;
    assert_eq!(super::err_code(&e), "ServiceUnavailable", "{e:?}");
    let raw = e.raw_response().expect("raw response");
    assert_eq!(raw.status().as_u16(), 503, "retryable");
    assert_eq!(raw.headers().get("retry-after"), Some("1"));
}

/// Zone A primary and zone B its secondary, each reaching the other through a proxy that
/// can cut the link: (A, B, proxy to A, proxy to B).
pub async fn proxied_pair() -> (Server, Server, Proxy, Proxy) {
    let (a_ports, b_ports) = (Ports::new(), Ports::new());
    let to_a = Proxy::start(a_ports.admin).await;
    let to_b = Proxy::start(b_ports.admin).await;
    let za = zone("primary", &a_ports, to_b.port, "", &[]);
    let mut zb = zone("secondary", &b_ports, to_a.port, "", &[]);
    zb.access_key = za.access_key.clone();
    zb.secret_key = za.secret_key.clone();
    (za, zb, to_a, to_b)
}
