//! Serves one listener with the bounds of `[limits]`, so that no client, signed or not, can
//! hold the server: a connection limit taken before any TLS handshake (when the listener is
//! full, the connection with no request in progress that has been open longest, from the
//! address holding the most connections, is closed to make room; if every connection is
//! busy, one more is answered `503 SlowDown` and closed), a deadline for the TLS handshake
//! and a request's header (slow senders), an idle deadline between requests, and a stall
//! deadline for request bodies and for responses the client does not read. Shutdown stops
//! accepting and waits for the connections in progress.

use crate::config::Limits;
use axum::extract::ConnectInfo;
use axum::Router;
use bytes::Bytes;
use http::Request;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tokio_util::either::Either;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a listener answers a connection over its limit (a whole HTTP response).
pub fn overload_answer(content_type: &str, body: &str) -> Bytes {
    Bytes::from(format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// Serves `app` on `listener` (over TLS when `tls` is given) until `shutdown` resolves,
/// then waits for the connections in progress (the caller bounds that wait).
///
/// A connection takes its permit as soon as its TCP socket is accepted, before any TLS
/// handshake, and the handshake has the header deadline: silent sockets count against
/// `max_connections` like any other and cannot exhaust file descriptors.
pub async fn serve(
    listener: tokio::net::TcpListener,
    tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    app: Router,
    limits: &Limits,
    overload: Bytes,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let idle = Duration::from_secs(limits.idle_timeout_secs.max(1));
    let stall = Duration::from_secs(limits.body_timeout_secs.max(1));
    let header_deadline = Duration::from_secs(limits.header_timeout_secs.max(1));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's read buffer keeps its default bound (about 400 KiB): a header longer than
    // that is answered 431 by hyper itself; the S3 handler refuses headers over
    // `max_header_bytes` with an S3 error first.
    http.timer(TokioTimer::new())
        .header_read_timeout(header_deadline)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let connections = Connections::default();
    tokio::pin!(shutdown);
    loop {
        let (tcp, addr) = tokio::select! {
            c = listener.accept() => match c {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was taken:
                    // wait a little rather than spin.
                    tracing::warn!(error = %e, "listener accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            // Full: make room by closing a connection that has no request in progress
            // (idle keep-alive, or silent since it connected), so that one client holding
            // connections cannot lock out the others.
            Err(_) if connections.evict_one() => {
                tokio::time::timeout(EVICTION_WAIT, permits.clone().acquire_owned())
                    .await
                    .ok()
                    .and_then(Result::ok)
            }
            Err(_) => None,
        };
        let Some(permit) = permit else {
            match &acceptor {
                // A TLS client cannot read a plain answer: the socket is just closed.
                Some(_) => drop(tcp),
                None => {
                    tokio::spawn(refuse(tcp, overload.clone()));
                }
            }
            continue;
        };
        let in_flight = Arc::new(AtomicUsize::new(0));
        let app = app.clone();
        let busy_count = in_flight.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let busy = Busy::enter(&busy_count);
            // A request with a body: is it read to its end before the answer goes out?
            let body_done = (!req.body().is_end_stream()).then(|| Arc::new(AtomicBool::new(false)));
            let done = body_done.clone();
            let mut req = req.map(|b| axum::body::Body::new(StallingBody::new(b, stall, done)));
            req.extensions_mut().insert(ConnectInfo(addr));
            let mut app = app.clone();
            async move {
                let mut response = tower_service::Service::call(&mut app, req).await;
                // An answer given before the body was read (an error found in the headers,
                // or a client that sent `Expect: 100-continue` and then, seeing the answer,
                // no body) closes the connection: what follows on it could be the unread
                // body or the next request, and a proxy reusing the connection would read
                // one as the other.
                if body_done.is_some_and(|d| !d.load(Ordering::Acquire)) {
                    if let Ok(r) = response.as_mut() {
                        r.headers_mut().insert(
                            http::header::CONNECTION,
                            http::HeaderValue::from_static("close"),
                        );
                    }
                }
                drop(busy);
                response
            }
        });
        let http = http.clone();
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let registered = connections.register(addr.ip(), in_flight.clone());
        tokio::spawn(async move {
            let serve = async move {
                let io = match acceptor {
                    None => Either::Left(tcp),
                    Some(acceptor) => {
                        match tokio::time::timeout(header_deadline, acceptor.accept(tcp)).await {
                            Ok(Ok(tls)) => Either::Right(tls),
                            Ok(Err(e)) => {
                                tracing::debug!(%addr, error = %e, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%addr, "TLS handshake timed out");
                                return;
                            }
                        }
                    }
                };
                let io = TokioIo::new(Watched::new(io, in_flight, idle, stall));
                // A connection ends with an error when a deadline cuts it: nothing to
                // report.
                let _ = watcher.watch(http.serve_connection(io, service)).await;
            };
            tokio::select! {
                _ = serve => {}
                // Evicted to make room: dropping the connection closes it.
                _ = registered.close.notified() => {}
            }
            drop(registered);
            drop(permit);
        });
    }
    graceful.shutdown().await;
}

/// How long a newcomer waits for the room an eviction makes (the evicted connection's
/// task only has to notice and drop its socket).
const EVICTION_WAIT: Duration = Duration::from_millis(500);

/// The connections a listener holds, so that a full listener can make room for a
/// newcomer.
#[derive(Clone, Default)]
struct Connections(Arc<std::sync::Mutex<ConnectionTable>>);

#[derive(Default)]
struct ConnectionTable {
    next_id: u64,
    open: std::collections::HashMap<u64, OpenConnection>,
}

struct OpenConnection {
    addr: std::net::IpAddr,
    in_flight: Arc<AtomicUsize>,
    since: std::time::Instant,
    close: Arc<tokio::sync::Notify>,
}

/// A connection's place in the table, given up when its task ends.
struct Registered {
    id: u64,
    table: Connections,
    close: Arc<tokio::sync::Notify>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut t) = self.table.0.lock() {
            t.open.remove(&self.id);
        }
    }
}

impl Connections {
    fn register(&self, addr: std::net::IpAddr, in_flight: Arc<AtomicUsize>) -> Registered {
        let close = Arc::new(tokio::sync::Notify::new());
        let mut id = 0;
        if let Ok(mut t) = self.0.lock() {
            t.next_id += 1;
            id = t.next_id;
            t.open.insert(
                id,
                OpenConnection {
                    addr,
                    in_flight,
                    since: std::time::Instant::now(),
                    close: close.clone(),
                },
            );
        }
        Registered {
            id,
            table: self.clone(),
            close,
        }
    }

    /// Closes one connection that has no request in progress: from the address that holds
    /// the most connections, the one open longest. Returns whether one was found.
    fn evict_one(&self) -> bool {
        let Ok(mut t) = self.0.lock() else {
            return false;
        };
        let mut per_addr: std::collections::HashMap<std::net::IpAddr, usize> = Default::default();
        for c in t.open.values() {
            *per_addr.entry(c.addr).or_default() += 1;
        }
        let victim = t
            .open
            .iter()
            .filter(|(_, c)| c.in_flight.load(Ordering::Relaxed) == 0)
            .max_by_key(|(_, c)| {
                (
                    per_addr.get(&c.addr).copied().unwrap_or(0),
                    std::cmp::Reverse(c.since),
                )
            })
            .map(|(id, _)| *id);
        match victim.and_then(|id| t.open.remove(&id)) {
            Some(c) => {
                c.close.notify_one();
                true
            }
            None => false,
        }
    }
}

async fn refuse<T: AsyncWrite + Unpin>(mut io: T, answer: Bytes) {
    let write = async {
        io.write_all(&answer).await?;
        io.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), write).await;
}

/// Counts a connection's requests in progress, so the idle deadline applies only between
/// requests (a handler may take longer than the idle time without the client sending).
struct Busy(Arc<AtomicUsize>);

impl Busy {
    fn enter(count: &Arc<AtomicUsize>) -> Busy {
        count.fetch_add(1, Ordering::Relaxed);
        Busy(count.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection that fails with `TimedOut` when a read waits longer than the idle time
/// with no request in progress, or a write waits longer than the stall time.
struct Watched<T> {
    io: T,
    in_flight: Arc<AtomicUsize>,
    idle: Duration,
    stall: Duration,
    last_progress: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<T> Watched<T> {
    fn new(io: T, in_flight: Arc<AtomicUsize>, idle: Duration, stall: Duration) -> Self {
        let now = Instant::now();
        Watched {
            io,
            in_flight,
            idle,
            stall,
            last_progress: now,
            timer: Box::pin(tokio::time::sleep_until(now + idle)),
        }
    }

    /// An operation is pending: is it past its deadline? If not, make sure to wake by then.
    /// The timer is moved only when it fires early (progress was made since it was set) or
    /// is set too late, not on every operation: resetting a timer costs more than a read.
    fn overdue(&mut self, cx: &mut Context<'_>, limit: Option<Duration>) -> bool {
        let Some(limit) = limit else { return false };
        let deadline = self.last_progress + limit;
        if Instant::now() >= deadline {
            return true;
        }
        if self.timer.deadline() > deadline {
            self.timer.as_mut().reset(deadline);
        }
        while self.timer.as_mut().poll(cx).is_ready() {
            self.timer.as_mut().reset(deadline);
        }
        false
    }

    fn timed_out() -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, "connection made no progress")
    }

    fn after<R>(&mut self, cx: &mut Context<'_>, poll: Poll<R>, limit: Option<Duration>) -> Poll<R>
    where
        R: From<io::Error>,
    {
        match poll {
            Poll::Ready(r) => {
                self.last_progress = Instant::now();
                Poll::Ready(r)
            }
            Poll::Pending if self.overdue(cx, limit) => Poll::Ready(Self::timed_out().into()),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// `io::Result<T>` from an error, for `Watched::after`.
struct IoResult<T>(io::Result<T>);

impl<T> From<io::Error> for IoResult<T> {
    fn from(e: io::Error) -> Self {
        IoResult(Err(e))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_read(cx, buf).map(IoResult);
        let limit = (this.in_flight.load(Ordering::Relaxed) == 0).then_some(this.idle);
        this.after(cx, poll, limit).map(|r| r.0)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf).map(IoResult);
        let stall = this.stall;
        this.after(cx, poll, Some(stall)).map(|r| r.0)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io)
            .poll_write_vectored(cx, bufs)
            .map(IoResult);
        let stall = this.stall;
        this.after(cx, poll, Some(stall)).map(|r| r.0)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_flush(cx).map(IoResult);
        let stall = this.stall;
        this.after(cx, poll, Some(stall)).map(|r| r.0)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// A request body that fails with [`BodyStalled`] when no data arrives for the stall time
/// while the handler waits for it.
struct StallingBody<B> {
    inner: B,
    stall: Duration,
    /// Set once the body has been read to its end (requests that have a body).
    done: Option<Arc<AtomicBool>>,
    /// Set while the handler waits for data (created on the first wait: most bodies never
    /// make a handler wait).
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> StallingBody<B> {
    fn new(inner: B, stall: Duration, done: Option<Arc<AtomicBool>>) -> Self {
        StallingBody {
            inner,
            stall,
            done,
            timer: None,
        }
    }
}

/// The error a stalled request body ends with; handlers answer it with `RequestTimeout`.
#[derive(Debug)]
pub struct BodyStalled;

impl std::fmt::Display for BodyStalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body made no progress")
    }
}

impl std::error::Error for BodyStalled {}

/// Did reading a body fail because it stalled (anywhere in the error's chain)?
pub fn stalled(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut e: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cur) = e {
        if cur.is::<BodyStalled>() {
            return true;
        }
        e = cur.source();
    }
    false
}

/// The S3 error for a request body that could not be read: `RequestTimeout` when it
/// stalled, `otherwise` when the client went away or sent a broken body.
pub fn body_error(
    err: &(dyn std::error::Error + 'static),
    otherwise: bascule_api::S3Error,
) -> bascule_api::S3Error {
    if stalled(err) {
        bascule_api::S3Error::new(bascule_api::S3ErrorCode::RequestTimeout)
    } else {
        otherwise
    }
}

impl<B> HttpBody for StallingBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.timer = None;
                let ended = match &frame {
                    None => true,
                    Some(Ok(_)) => this.inner.is_end_stream(),
                    Some(Err(_)) => false,
                };
                if ended {
                    if let Some(done) = &this.done {
                        done.store(true, Ordering::Release);
                    }
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let stall = this.stall;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
