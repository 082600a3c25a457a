//! Connections to instances: HTTP/1.1 over keep-alive TCP connections kept in a pool
//! per instance address, and driven *inline* by the request that uses them. A request
//! polls its backend connection itself (while waiting for the response head, and from
//! the response body while it streams), so a proxied request runs in one task: no
//! connection task, no channel hop and no cross-thread wake-up per request (what a
//! spawned-connection client such as hyper-util's costs). When the response body has
//! ended and the connection is idle again, it goes back to the pool.
//!
//! Requests without a body (nearly all) skip hyper's client: [`crate::h1`] writes
//! them and reads the response on connections of its own pool.
//!
//! Upgrade requests (WebSocket) get a fresh connection driven by its own task, since
//! the upgraded tunnel outlives the request.
//!
//! Idle connections are not polled while pooled; [`BackendPool::reap`] (run every
//! second by [`crate::Gateway::serve`]) closes those the instance closed and those idle
//! longer than the idle timeout, and checkout re-checks a connection before using it.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::body::{Body, BoxError};
use crate::config::FastMap;
use crate::h1::{H1Error, RawBody, RawConn};

type Io = TokioIo<TcpStream>;

/// One HTTP/1.1 connection to an instance: the request half and the connection
/// state machine, polled by whoever holds it. Boxed once per connection: it moves
/// between the pool, the request and the response body, and inline it would make
/// every request's future kilobytes bigger (and every move of it a big copy).
struct Conn(Box<ConnParts>);

struct ConnParts {
    sender: http1::SendRequest<Body>,
    conn: http1::Connection<Io, Body>,
}

impl Conn {
    /// Drives the connection; false once it has finished (closed or failed), after
    /// which it must not be polled again.
    fn drive(&mut self, cx: &mut Context<'_>) -> bool {
        Pin::new(&mut self.0.conn).poll(cx).is_pending()
    }

    /// True if the connection is open and idle (can take a request now). Polls it
    /// once with `cx` so it notices an end of stream or a finished response.
    fn usable(&mut self, cx: &mut Context<'_>) -> bool {
        self.drive(cx) && self.0.sender.is_ready()
    }
}

struct Idle<C> {
    conn: C,
    since: Instant,
}

/// Pooled keep-alive connections to instances, keyed by instance address: hyper's
/// (for requests with a body) and [`crate::h1`]'s (for the rest).
pub struct BackendPool {
    idle: Mutex<FastMap<SocketAddr, Vec<Idle<Conn>>>>,
    idle_raw: Mutex<FastMap<SocketAddr, Vec<Idle<Box<RawConn>>>>>,
    idle_timeout: Duration,
    max_idle_per_instance: usize,
}

/// Why a request could not be sent to an instance.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// TCP connect failed.
    #[error("tcp connect error: {0}")]
    Connect(#[source] std::io::Error),
    /// The HTTP/1.1 exchange failed.
    #[error(transparent)]
    Http(#[from] hyper::Error),
    /// The HTTP/1.1 exchange of a request without a body failed.
    #[error(transparent)]
    Exchange(#[from] H1Error),
}

/// A request that failed, and the request itself if it was never sent.
#[derive(Debug)]
pub struct SendError {
    /// What went wrong.
    pub error: BackendError,
    /// The request, when it never reached the instance (safe to send elsewhere).
    pub unsent: Option<Request<Body>>,
}

impl SendError {
    fn sent(error: hyper::Error) -> Self {
        SendError {
            error: error.into(),
            unsent: None,
        }
    }
}

impl BackendPool {
    /// A pool keeping idle connections for `idle_timeout`, at most
    /// `max_idle_per_instance` per instance (more than the gateway's client
    /// connections need: each in-flight request holds one connection).
    pub fn new(idle_timeout: Duration, max_idle_per_instance: usize) -> Self {
        BackendPool {
            idle: Mutex::new(FastMap::default()),
            idle_raw: Mutex::new(FastMap::default()),
            idle_timeout,
            max_idle_per_instance,
        }
    }

    /// An idle connection to `addr` that is still open, if any (most recently used
    /// first: it is the least likely to have been closed by the instance).
    async fn checkout(&self, addr: SocketAddr) -> Option<Conn> {
        loop {
            let idle = {
                let mut pools = self.idle.lock().unwrap();
                pools.get_mut(&addr)?.pop()?
            };
            if idle.since.elapsed() >= self.idle_timeout {
                continue;
            }
            let mut conn = idle.conn;
            if poll_fn(|cx| Poll::Ready(conn.usable(cx))).await {
                return Some(conn);
            }
        }
    }

    /// An idle [`crate::h1`] connection to `addr` that is still open, if any.
    fn checkout_raw(&self, addr: SocketAddr) -> Option<Box<RawConn>> {
        let mut pools = self.idle_raw.lock().unwrap();
        let list = pools.get_mut(&addr)?;
        while let Some(idle) = list.pop() {
            if idle.since.elapsed() < self.idle_timeout && idle.conn.usable() {
                return Some(idle.conn);
            }
        }
        None
    }

    /// Pools a [`crate::h1`] connection whose response has ended.
    pub(crate) fn checkin_raw(&self, addr: SocketAddr, conn: Box<RawConn>) {
        let mut pools = self.idle_raw.lock().unwrap();
        let list = pools.entry(addr).or_default();
        if list.len() < self.max_idle_per_instance {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    fn checkin(&self, addr: SocketAddr, conn: Conn) {
        let mut pools = self.idle.lock().unwrap();
        let list = pools.entry(addr).or_default();
        if list.len() < self.max_idle_per_instance {
            list.push(Idle {
                conn,
                since: Instant::now(),
            });
        }
    }

    /// Closes idle connections that the instance closed or that have been idle longer
    /// than the idle timeout.
    pub fn reap(&self) {
        let mut cx = Context::from_waker(Waker::noop());
        let mut pools = self.idle.lock().unwrap();
        pools.retain(|_, list| {
            list.retain_mut(|idle| {
                idle.since.elapsed() < self.idle_timeout && idle.conn.usable(&mut cx)
            });
            !list.is_empty()
        });
        drop(pools);
        let mut pools = self.idle_raw.lock().unwrap();
        pools.retain(|_, list| {
            list.retain(|idle| idle.since.elapsed() < self.idle_timeout && idle.conn.usable());
            !list.is_empty()
        });
    }

    /// Idle pooled connections (all instances), for tests and diagnostics.
    pub fn idle_count(&self) -> usize {
        let hyper: usize = self.idle.lock().unwrap().values().map(Vec::len).sum();
        let raw: usize = self.idle_raw.lock().unwrap().values().map(Vec::len).sum();
        hyper + raw
    }

    async fn connect(addr: SocketAddr) -> Result<Conn, BackendError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(BackendError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::Builder::new()
            .writev(false)
            .handshake(TokioIo::new(stream))
            .await?;
        Ok(Conn(Box::new(ConnParts { sender, conn })))
    }

    /// Sends `req` to the instance at `addr` on a pooled (or new) connection and
    /// returns the response, whose body drives the connection and returns it to the
    /// pool when it has ended. When the request never left (the instance refused the
    /// connection), the error gives it back so it can go to another instance.
    pub async fn send(
        self: &Arc<Self>,
        addr: SocketAddr,
        req: Request<Body>,
    ) -> Result<Response<Body>, SendError> {
        if req.body().is_end_stream() {
            return self.send_without_body(addr, req).await;
        }
        let mut req = req;
        // A pooled connection may turn out closed when the request is handed to it;
        // then the request was not sent and goes on a new connection.
        let mut pooled = true;
        loop {
            let conn = match self.checkout(addr).await {
                Some(conn) if pooled => conn,
                _ => {
                    pooled = false;
                    // Boxed: a new connection is rare (keep-alive), and its future is big;
                    // inline, it would make every request's future as big.
                    match Box::pin(Self::connect(addr)).await {
                        Ok(conn) => conn,
                        Err(error) => {
                            return Err(SendError {
                                error,
                                unsent: Some(req),
                            })
                        }
                    }
                }
            };
            match exchange(conn, req).await {
                Ok((resp, conn)) => {
                    return Ok(resp.map(|inner| {
                        Body::new(BackendBody {
                            inner,
                            conn,
                            pool: self.clone(),
                            addr,
                        })
                    }))
                }
                Err(mut err) if pooled => match err.take_message() {
                    Some(unsent) => {
                        req = unsent;
                        pooled = false;
                    }
                    None => return Err(SendError::sent(err.into_error())),
                },
                Err(err) => return Err(SendError::sent(err.into_error())),
            }
        }
    }

    /// [`BackendPool::send`] for a request without a body, over [`crate::h1`].
    async fn send_without_body(
        self: &Arc<Self>,
        addr: SocketAddr,
        req: Request<Body>,
    ) -> Result<Response<Body>, SendError> {
        let mut pooled = true;
        loop {
            let mut conn = match self.checkout_raw(addr).filter(|_| pooled) {
                Some(conn) => conn,
                None => {
                    pooled = false;
                    match RawConn::connect(addr).await {
                        Ok(conn) => conn,
                        Err(err) => {
                            return Err(SendError {
                                error: BackendError::Connect(err),
                                unsent: Some(req),
                            })
                        }
                    }
                }
            };
            match conn.exchange(&req).await {
                Ok((parts, framing, keep_alive)) => {
                    let body = RawBody::new(conn, framing, keep_alive, self.clone(), addr);
                    return Ok(Response::from_parts(parts, Body::new(body)));
                }
                // A pooled connection the instance closed while it idled: again, on a
                // new one.
                Err(err) if pooled && err.retry_safe => pooled = false,
                Err(err) => {
                    return Err(SendError {
                        error: err.error.into(),
                        unsent: None,
                    })
                }
            }
        }
    }

    /// Sends an upgrade request on a new connection driven by its own task (with
    /// upgrades), so the upgraded tunnel can outlive the request.
    pub async fn send_upgrade(
        &self,
        addr: SocketAddr,
        req: Request<Body>,
    ) -> Result<Response<Incoming>, BackendError> {
        let ConnParts { mut sender, conn } = *Self::connect(addr).await?.0;
        tokio::spawn(async move {
            if let Err(err) = conn.with_upgrades().await {
                tracing::debug!(error = %err, "upgrade connection to instance ended with an error");
            }
        });
        Ok(sender.send_request(req).await?)
    }
}

type TrySendError = hyper::client::conn::TrySendError<Request<Body>>;

/// Sends `req` on `conn`, driving the connection until the response head arrives.
/// Returns the connection too if it is still open (it then carries the body).
async fn exchange(
    mut conn: Conn,
    req: Request<Body>,
) -> Result<(Response<Incoming>, Option<Conn>), TrySendError> {
    let mut sent = std::pin::pin!(conn.0.sender.try_send_request(req));
    let mut conn = Some(conn);
    let resp = poll_fn(|cx| {
        if let Poll::Ready(r) = sent.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        if let Some(c) = conn.as_mut() {
            if !c.drive(cx) {
                // The connection finished: dropping it resolves the request with
                // its error (or the response it already delivered).
                conn = None;
                return sent.as_mut().poll(cx);
            }
        }
        Poll::Pending
    })
    .await;
    resp.map(|resp| (resp, conn))
}

pin_project_lite::pin_project! {
    /// A response body from an instance that drives its connection while it is
    /// read, and hands the connection back to the pool once the body has ended.
    struct BackendBody {
        #[pin]
        inner: Incoming,
        conn: Option<Conn>,
        pool: Arc<BackendPool>,
        addr: SocketAddr,
    }

    impl PinnedDrop for BackendBody {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if this.inner.is_end_stream() {
                if let Some(mut conn) = this.conn.take() {
                    let mut cx = Context::from_waker(Waker::noop());
                    if conn.usable(&mut cx) {
                        this.pool.checkin(*this.addr, conn);
                    }
                }
            }
        }
    }
}

impl HttpBody for BackendBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        let mut drove = false;
        loop {
            if let Poll::Ready(frame) = this.inner.as_mut().poll_frame(cx) {
                return Poll::Ready(frame.map(|r| r.map_err(Into::into)));
            }
            if drove {
                return Poll::Pending;
            }
            drove = true;
            // The body is fed by the connection: drive it, then look again.
            if let Some(conn) = this.conn.as_mut() {
                if !conn.drive(cx) {
                    *this.conn = None;
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
