//! What an unauthenticated client can hold of the server, tested with raw sockets
//! (issue 8, "Limits"): idle and slow connections are cut, a connection over the limit is
//! answered `503 SlowDown`, a stalled body ends in `RequestTimeout`, an oversized header in
//! `RequestHeaderSectionTooLarge`, and a huge browser-POST field is refused while it is
//! read, never buffered.

mod common;
use common::Server;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn start() -> Server {
    let mut srv = Server::prepare(&[], |_| {});
    let config = srv.write_config(
        "[limits]\nmax_connections = 8\nheader_timeout_secs = 2\nidle_timeout_secs = 2\n\
         body_timeout_secs = 2\nmax_header_bytes = 4096\n",
    );
    srv.add_args(&["--config", &config]);
    srv.spawn();
    srv
}

fn addr(srv: &Server) -> String {
    srv.s3.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or `limit` passes); returns what came.
async fn read_to_close(sock: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut out = Vec::new();
    let read = tokio::time::timeout(limit, sock.read_to_end(&mut out)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&out).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn idle_and_slow_connections_are_closed() {
    let srv = start();
    // Idle: connected, never a byte.
    let mut idle = TcpStream::connect(addr(&srv)).await.unwrap();
    let began = Instant::now();
    let got = read_to_close(&mut idle, Duration::from_secs(10)).await;
    assert!(got.is_some(), "an idle connection was never closed");
    assert!(
        began.elapsed() < Duration::from_secs(6),
        "{:?}",
        began.elapsed()
    );

    // Slowloris: a header trickled one byte at a time never completes.
    let mut slow = TcpStream::connect(addr(&srv)).await.unwrap();
    let began = Instant::now();
    let header = b"GET /bkt/k HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut closed = false;
    for b in header.iter() {
        if slow.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        if began.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    if !closed {
        closed = read_to_close(&mut slow, Duration::from_secs(5))
            .await
            .is_some();
    }
    assert!(closed, "a slow header was never cut off");
    assert!(
        began.elapsed() < Duration::from_secs(9),
        "{:?}",
        began.elapsed()
    );

    // After a finished request, the kept-alive connection is closed once idle.
    let mut ka = TcpStream::connect(addr(&srv)).await.unwrap();
    ka.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let began = Instant::now();
    let got = read_to_close(&mut ka, Duration::from_secs(10))
        .await
        .expect("closed after idling");
    assert!(got.starts_with("HTTP/1.1 403"), "{got}");
    assert!(began.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn connections_over_the_limit_get_slow_down() {
    let srv = start();
    srv.client()
        .create_bucket()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    // Eight connections each in the middle of a request (a body that stalls): none of
    // them can be closed to make room. (Idle ones can: see tls.rs.)
    let mut held = Vec::new();
    for i in 0..8 {
        let raw = srv.raw();
        held.push(tokio::spawn(async move {
            raw.send_tcp(
                "PUT",
                &format!("/bkt/held{i}"),
                &[("content-length", "100")],
                b"only ten b",
                false,
            )
            .await
        }));
    }
    // Let the server accept all eight first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut extra = TcpStream::connect(addr(&srv)).await.unwrap();
    let got = read_to_close(&mut extra, Duration::from_secs(5))
        .await
        .expect("answered and closed");
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(got.contains("<Code>SlowDown</Code>"), "{got}");
    for h in held {
        let answer = h.await.unwrap();
        assert!(answer.contains("RequestTimeout"), "{answer}");
    }
    // Once they go, the server takes requests again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = reqwest::get(format!("{}/", srv.s3)).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test]
async fn stalled_bodies_and_large_headers_get_s3_errors() {
    let srv = start();
    let c = srv.client();
    c.create_bucket().bucket("bkt").send().await.unwrap();

    let raw = srv.raw();
    let began = Instant::now();
    let resp = raw
        .send_tcp(
            "PUT",
            "/bkt/stalled",
            &[("content-length", "100")],
            b"only ten b",
            false,
        )
        .await;
    assert!(resp.contains(" 400 "), "{resp}");
    assert!(resp.contains("<Code>RequestTimeout</Code>"), "{resp}");
    assert!(began.elapsed() < Duration::from_secs(8));
    assert_eq!(common::get(&c, "bkt", "stalled").await, None);

    let big = "v".repeat(5000);
    let r = raw
        .send("GET", "/bkt/x", &[("x-big", &big)], Vec::new(), false, None)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "RequestHeaderSectionTooLarge".to_string())
    );
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

#[tokio::test]
async fn a_huge_form_field_is_refused_while_read() {
    let srv = start();
    let before = rss_kib(srv.pid());
    let boundary = "XyZ";
    let head = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n");
    // 256 MiB of field, streamed: the server must stop reading long before the end.
    let chunk = vec![b'a'; 1024 * 1024];
    let stream = futures::stream::iter(
        std::iter::once(bytes::Bytes::from(head))
            .chain((0..256).map(move |_| bytes::Bytes::from(chunk.clone())))
            .map(Ok::<_, std::io::Error>),
    );
    let r = reqwest::Client::new()
        .post(format!("{}/no-such-bucket", srv.s3))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    if let Ok(r) = r {
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        assert_eq!(status, 400, "{text}");
        assert!(text.contains("MaxMessageLengthExceeded"), "{text}");
    }
    let after = rss_kib(srv.pid());
    assert!(
        after < before + 64 * 1024,
        "memory grew from {before} KiB to {after} KiB"
    );
    // And the server still serves.
    let r = reqwest::get(format!("{}/", srv.s3)).await.unwrap();
    assert_eq!(r.status().as_u16(), 403);
}
