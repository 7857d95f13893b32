//! Serves one listener with the bounds of `[limits]`, so that no client, signed or not, can
//! hold the server: a connection limit (one more connection is answered `503 SlowDown` and
//! closed), a deadline for a request's header (slow senders), an idle deadline between
//! requests, and a stall deadline for request bodies and for responses the client does not
//! read. Shutdown stops accepting and waits for the connections in progress.

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
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How a listener answers a connection over its limit (a whole HTTP response).
pub fn overload_answer(content_type: &str, body: &str) -> Bytes {
    Bytes::from(format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
}

/// Serves `app` on `listener` until `shutdown` resolves, then waits for the connections in
/// progress (the caller bounds that wait).
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: &Limits,
    overload: Bytes,
    shutdown: impl Future<Output = ()>,
) where
    L: axum::serve::Listener,
    L::Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    L::Addr: Clone + Send + Sync + 'static,
{
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let idle = Duration::from_secs(limits.idle_timeout_secs.max(1));
    let stall = Duration::from_secs(limits.body_timeout_secs.max(1));
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's read buffer keeps its default bound (about 400 KiB): a header longer than
    // that is answered 431 by hyper itself; the S3 handler refuses headers over
    // `max_header_bytes` with an S3 error first.
    http.timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(limits.header_timeout_secs.max(1)))
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (io, addr) = tokio::select! {
            c = listener.accept() => c,
            _ = &mut shutdown => break,
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tokio::spawn(refuse(io, overload.clone()));
            continue;
        };
        let in_flight = Arc::new(AtomicUsize::new(0));
        let io = TokioIo::new(Watched::new(io, in_flight.clone(), idle, stall));
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let busy = Busy::enter(&in_flight);
            let mut req = req.map(|b| axum::body::Body::new(StallingBody::new(b, stall)));
            req.extensions_mut().insert(ConnectInfo(addr.clone()));
            let mut app = app.clone();
            async move {
                let response = tower_service::Service::call(&mut app, req).await;
                drop(busy);
                response
            }
        });
        let conn = graceful.watch(http.serve_connection(io, service));
        tokio::spawn(async move {
            // A connection ends with an error when a deadline cuts it: nothing to report.
            let _ = conn.await;
            drop(permit);
        });
    }
    graceful.shutdown().await;
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
    /// Set while the handler waits for data (created on the first wait: most bodies never
    /// make a handler wait).
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> StallingBody<B> {
    fn new(inner: B, stall: Duration) -> Self {
        StallingBody {
            inner,
            stall,
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
