//! An answer given before the request body was read closes the connection (issue 21,
//! point 1): botocore sends `Expect: 100-continue`, gets an early error, skips the body and
//! reuses the connection; a proxy in between then read the next request's first bytes as
//! the skipped body, and the client's later PUTs failed. Tried directly and through the
//! real HAProxy with the shipped configuration's options.

mod common;
use common::{haproxy, Raw, Server};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One answer: status, headers (lowercase names) and body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one HTTP/1.1 response (with a Content-Length body) from `sock`; `None` when the
/// connection is closed before one arrives.
async fn read_answer(sock: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Answer> {
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), sock.read(&mut chunk))
            .await
            .expect("an answer in time")
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
    buf.drain(..head_end + len);
    Some(Answer {
        status,
        headers,
        body,
    })
}

/// A signed PUT's head as botocore sends it: `Expect: 100-continue`, body to follow.
fn put_head(raw: &Raw, host: &str, path: &str, len: usize) -> String {
    let url = format!("http://{host}{path}");
    let hdrs = raw.sign_headers(
        "PUT",
        &url,
        &[("host".to_string(), host.to_string())],
        "UNSIGNED-PAYLOAD",
    );
    let mut head = format!("PUT {path} HTTP/1.1\r\n");
    for (k, v) in hdrs {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {len}\r\nexpect: 100-continue\r\n\r\n"
    ));
    head
}

/// What botocore does, on one connection while the server keeps it: PUT to a bucket that
/// exists, PUT to one that does not (the body is never sent once the error arrives), then
/// four more PUTs to the bucket that exists. Returns the statuses seen.
async fn boto_like_session(raw: &Raw, host: &str) -> Vec<u16> {
    let mut statuses = Vec::new();
    let mut sock = TcpStream::connect(host).await.expect("connect");
    let mut buf = Vec::new();
    let paths = [
        "/bkt/a",
        "/missing/b",
        "/bkt/c",
        "/bkt/d",
        "/bkt/e",
        "/bkt/f",
    ];
    for path in paths {
        let body = b"hello";
        sock.write_all(put_head(raw, host, path, body.len()).as_bytes())
            .await
            .expect("write head");
        // Wait for 100 Continue or an early answer, as botocore does.
        let first = match read_answer(&mut sock, &mut buf).await {
            Some(a) => a,
            None => panic!("the connection closed before answering {path}"),
        };
        let answer = if first.status == 100 {
            sock.write_all(body).await.expect("write body");
            read_answer(&mut sock, &mut buf)
                .await
                .expect("final answer")
        } else {
            first
        };
        statuses.push(answer.status);
        assert!(answer.status != 501, "{path} was misread: {}", answer.body);
        // A client reuses the connection unless the answer says it is closed.
        if answer.header("connection") == Some("close") {
            sock = TcpStream::connect(host).await.expect("reconnect");
            buf.clear();
        }
    }
    statuses
}

async fn server_with_bucket() -> Server {
    let srv = Server::start();
    srv.client()
        .create_bucket()
        .bucket("bkt")
        .send()
        .await
        .unwrap();
    srv
}

fn host_of(endpoint: &str) -> String {
    endpoint.trim_start_matches("http://").to_string()
}

#[tokio::test]
async fn an_early_answer_closes_the_connection() {
    let srv = server_with_bucket().await;
    let raw = srv.raw();
    let host = host_of(&srv.s3);
    let mut sock = TcpStream::connect(&host).await.unwrap();
    let mut buf = Vec::new();
    sock.write_all(put_head(&raw, &host, "/missing/k", 5).as_bytes())
        .await
        .unwrap();
    let a = read_answer(&mut sock, &mut buf).await.expect("an answer");
    assert_eq!(a.status, 404, "{}", a.body);
    assert!(a.body.contains("NoSuchBucket"));
    assert_eq!(a.header("connection"), Some("close"));
    // And the server does close it.
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(5), sock.read_to_end(&mut rest))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing more on a closed connection");

    // A request whose body is read keeps its connection.
    let mut sock = TcpStream::connect(&host).await.unwrap();
    let mut buf = Vec::new();
    sock.write_all(put_head(&raw, &host, "/bkt/k", 5).as_bytes())
        .await
        .unwrap();
    let cont = read_answer(&mut sock, &mut buf).await.expect("100");
    assert_eq!(cont.status, 100);
    sock.write_all(b"hello").await.unwrap();
    let a = read_answer(&mut sock, &mut buf).await.expect("an answer");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("connection"), None);

    assert_eq!(
        boto_like_session(&raw, &host).await,
        vec![200, 404, 200, 200, 200, 200]
    );
    assert_eq!(
        common::get(&srv.client(), "bkt", "f").await.unwrap(),
        b"hello"
    );
}

/// The same session through HAProxy with the options the shipped configuration uses.
#[tokio::test]
async fn an_early_answer_through_haproxy_breaks_no_later_request() {
    let srv = server_with_bucket().await;
    let port = common::free_port();
    let config = format!(
        "global\n    maxconn 256\n\ndefaults\n{}\n\nfrontend s3\n    bind 127.0.0.1:{port}\n{}\n    default_backend zone\n\nbackend zone\n    server z {}\n",
        haproxy::shipped_section("defaults").join("\n"),
        haproxy::shipped_frontend_rules().join("\n"),
        host_of(&srv.s3)
    );
    let proxy = haproxy::Haproxy::start(config, port).await;
    let host = format!("127.0.0.1:{}", proxy.listen);
    let raw = srv.raw();
    let statuses = boto_like_session(&raw, &host).await;
    drop(proxy);
    assert_eq!(statuses, vec![200, 404, 200, 200, 200, 200]);
}
