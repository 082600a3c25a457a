//! The gateway's own HTTP/1.1 exchange with instances, for requests without a body
//! (GET, HEAD, DELETE, …: nearly all traffic). hyper's client, which carries every
//! other request, costs a channel, a oneshot and a dispatcher per request and
//! re-encodes through its own buffers; on the gateway's hot path that was a third of
//! its user-space work (bench/gateway-instructions.sh). Here the request head is
//! written from the prepared request in one `send`, the response head is parsed by
//! `httparse` straight from the read buffer (header values share it, no copy), and
//! the body is framed as RFC 9112 §6.3 says: none for HEAD, 1xx, 204 and 304;
//! chunked (with trailers); Content-Length; or until the instance closes.
//!
//! A connection goes back to its pool when its response body has ended and nothing
//! else was sent on it; anything unexpected (a malformed head, extra bytes, `close`)
//! closes it instead.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode, Version};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::backend::BackendPool;
use crate::body::BoxError;
use crate::forward::{has_token, list_items};

/// Most bytes a response head (status line and header fields) may take.
const MAX_HEAD: usize = 64 * 1024;
/// Most header fields in a response head, or in a trailer section.
const MAX_HEADERS: usize = 100;
/// Most bytes a chunk-size line may take (extensions included).
const MAX_CHUNK_LINE: usize = 4 * 1024;
/// Header fields a response's map has room for (see [`parse_head`]).
const RECYCLED_MAP_CAPACITY: usize = 24;
/// Room a read asks for when the buffer is nearly full.
const READ_SIZE: usize = 8 * 1024;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum H1Error {
    /// Reading or writing the connection failed.
    #[error("connection error: {0}")]
    Io(#[from] io::Error),
    /// The instance answered with something that is not HTTP/1.x.
    #[error("malformed response from the instance: {0}")]
    Malformed(&'static str),
    /// The instance closed the connection before a complete response head.
    #[error("the instance closed the connection before responding")]
    ClosedBeforeResponse,
    /// The instance closed the connection before the end of the response body.
    #[error("the instance closed the connection before the end of the response body")]
    ClosedInBody,
}

/// A failed exchange, and whether the request may go again on a new connection: it
/// never reached the instance, or it is idempotent and nothing came back (a pooled
/// connection the instance had closed while it idled).
#[derive(Debug)]
pub(crate) struct ExchangeError {
    pub error: H1Error,
    pub retry_safe: bool,
}

/// How the response body is delimited (RFC 9112 §6.3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Framing {
    Length(u64),
    Chunked,
    Close,
}

/// A TCP connection to an instance, with what was read from it and not consumed yet.
pub(crate) struct RawConn {
    io: TcpStream,
    buf: BytesMut,
    head: Vec<u8>,
}

impl RawConn {
    /// Connects to `addr`, without Nagle's delay (requests are written whole).
    pub(crate) async fn connect(addr: SocketAddr) -> io::Result<Box<RawConn>> {
        let io = TcpStream::connect(addr).await?;
        let _ = io.set_nodelay(true);
        Ok(Box::new(RawConn {
            io,
            buf: BytesMut::with_capacity(READ_SIZE),
            head: Vec::with_capacity(512),
        }))
    }

    /// True if the idle connection can take a request: nothing unread, and the
    /// instance has not closed it (a read would block; this costs no system call
    /// unless the runtime saw the socket become readable).
    pub(crate) fn usable(&self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Reads what the instance sent into the buffer; 0 at end of stream.
    async fn read_more(&mut self) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(READ_SIZE);
        }
        self.io.read_buf(&mut self.buf).await
    }

    fn poll_read_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // The read future keeps no state of its own: dropping it while pending
        // leaves the socket's readiness registered with `cx`'s waker.
        pin!(self.read_more()).poll(cx)
    }

    /// Sends `req` (which has no body) and reads the response head. The response's
    /// body then comes from [`RawBody`], which owns the connection.
    pub(crate) async fn exchange(
        &mut self,
        req: &Request<crate::body::Body>,
    ) -> Result<(http::response::Parts, Framing, bool), ExchangeError> {
        encode_head(req, &mut self.head);
        if let Err(err) = self.io.write_all(&self.head).await {
            return Err(ExchangeError {
                error: err.into(),
                retry_safe: true,
            });
        }
        let head_request = req.method() == Method::HEAD;
        let mut received = false;
        loop {
            if !self.buf.is_empty() {
                received = true;
                match parse_head(&mut self.buf, head_request) {
                    Ok(Some(Head::Interim)) => continue,
                    Ok(Some(Head::Final(parts, framing, keep_alive))) => {
                        return Ok((parts, framing, keep_alive))
                    }
                    Ok(None) if self.buf.len() > MAX_HEAD => {
                        return Err(ExchangeError {
                            error: H1Error::Malformed("response head too large"),
                            retry_safe: false,
                        })
                    }
                    Ok(None) => {}
                    Err(error) => {
                        return Err(ExchangeError {
                            error,
                            retry_safe: false,
                        })
                    }
                }
            }
            match self.read_more().await {
                Ok(0) if received => {
                    return Err(ExchangeError {
                        error: H1Error::Malformed("connection closed in the response head"),
                        retry_safe: false,
                    })
                }
                Ok(0) => {
                    return Err(ExchangeError {
                        error: H1Error::ClosedBeforeResponse,
                        retry_safe: idempotent(req.method()),
                    })
                }
                Ok(_) => {}
                Err(err) => {
                    return Err(ExchangeError {
                        error: err.into(),
                        retry_safe: !received && idempotent(req.method()),
                    })
                }
            }
        }
    }
}

/// Methods a client may repeat (RFC 9110 §9.2.2): a request with one of them goes
/// again on a new connection if a pooled one turns out closed.
fn idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Writes the request line and header fields of `req` into `out`. A POST, PUT or
/// PATCH without a body says so with `content-length: 0` (as hyper does: some
/// servers refuse those requests without a length).
fn encode_head<B>(req: &Request<B>, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(req.method().as_str().as_bytes());
    out.push(b' ');
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    out.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in req.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let has_payload_semantics = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if has_payload_semantics && !req.headers().contains_key(header::CONTENT_LENGTH) {
        out.extend_from_slice(b"content-length: 0\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// A parsed response head.
enum Head {
    /// A 1xx response before the final one (skipped).
    Interim,
    /// The final response head, how its body is framed, and whether the connection
    /// can carry another request after it.
    Final(http::response::Parts, Framing, bool),
}

/// Parses a response head at the start of `buf`, consuming it if complete; `None`
/// if more bytes are needed.
fn parse_head(buf: &mut BytesMut, head_request: bool) -> Result<Option<Head>, H1Error> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut fields);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(H1Error::Malformed("too many header fields"))
        }
        Err(_) => return Err(H1Error::Malformed("invalid response head")),
    };
    let code = resp.code.unwrap_or(0);
    let status =
        StatusCode::from_u16(code).map_err(|_| H1Error::Malformed("invalid status code"))?;
    let version = if resp.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    // Where each field's name and value sit in the head, so that the values can
    // share the head's bytes once it is split off the buffer.
    let base = buf.as_ptr() as usize;
    let mut spans = Vec::with_capacity(resp.headers.len());
    for field in resp.headers.iter() {
        let name = HeaderName::from_bytes(field.name.as_bytes())
            .map_err(|_| H1Error::Malformed("invalid header name"))?;
        spans.push((
            name,
            field.value.as_ptr() as usize - base,
            field.value.len(),
        ));
    }
    let head = buf.split_to(len).freeze();
    if status.is_informational() {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            return Err(H1Error::Malformed(
                "switched protocols without being asked to",
            ));
        }
        return Ok(Some(Head::Interim));
    }
    // Room to spare: hyper's server keeps a response's map, cleared, as the map the
    // next request on its connection is parsed into, and that request gains the
    // forwarding headers; without room it would grow (rehash) on every request.
    let mut headers = HeaderMap::with_capacity(spans.len().max(RECYCLED_MAP_CAPACITY));
    for (name, start, len) in spans {
        let value = HeaderValue::from_maybe_shared(head.slice(start..start + len))
            .map_err(|_| H1Error::Malformed("invalid header value"))?;
        headers.append(name, value);
    }
    let mut keep_alive =
        version == Version::HTTP_11 && !has_token(&headers, header::CONNECTION, "close");
    let framing =
        if head_request || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            Framing::Length(0)
        } else if headers.contains_key(header::TRANSFER_ENCODING) {
            // Chunked only if it is the last coding; the length comes from it, not from
            // a Content-Length sent as well (RFC 9112 §6.3).
            headers.remove(header::CONTENT_LENGTH);
            let last = list_items(&headers, header::TRANSFER_ENCODING).rfind(|c| !c.is_empty());
            if last.is_some_and(|c| c.eq_ignore_ascii_case("chunked")) {
                Framing::Chunked
            } else {
                keep_alive = false;
                Framing::Close
            }
        } else if let Some(length) = content_length(&headers)? {
            Framing::Length(length)
        } else {
            keep_alive = false;
            Framing::Close
        };
    let mut parts = Response::new(()).into_parts().0;
    parts.status = status;
    parts.version = version;
    parts.headers = headers;
    Ok(Some(Head::Final(parts, framing, keep_alive)))
}

/// The response's Content-Length, if any: every value (repeated fields, lists) must be
/// the same number.
fn content_length(headers: &HeaderMap) -> Result<Option<u64>, H1Error> {
    let mut length = None;
    for value in headers.get_all(header::CONTENT_LENGTH) {
        let text = value
            .to_str()
            .map_err(|_| H1Error::Malformed("invalid content-length"))?;
        for item in text.split(',') {
            let item = item.trim();
            if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
                return Err(H1Error::Malformed("invalid content-length"));
            }
            let n: u64 = item
                .parse()
                .map_err(|_| H1Error::Malformed("invalid content-length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(H1Error::Malformed("conflicting content-length values"));
            }
            length = Some(n);
        }
    }
    Ok(length)
}

/// Where a response body is in its framing.
#[derive(Clone, Copy, Debug, PartialEq)]
enum BodyState {
    /// This many bytes to go.
    Length(u64),
    /// A chunk-size line next.
    ChunkSize,
    /// This many bytes of the current chunk to go.
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    /// The trailer section after the last chunk.
    Trailers,
    /// Everything until the instance closes the connection.
    UntilClose,
    /// Ended.
    Done,
}

/// A response body read from an instance's connection, which goes back to the pool
/// once the body has ended (if it can carry another request).
pub(crate) struct RawBody {
    conn: Option<Box<RawConn>>,
    state: BodyState,
    keep_alive: bool,
    pool: Arc<BackendPool>,
    addr: SocketAddr,
}

impl RawBody {
    /// The body of a response whose head `conn` has just read.
    pub(crate) fn new(
        conn: Box<RawConn>,
        framing: Framing,
        keep_alive: bool,
        pool: Arc<BackendPool>,
        addr: SocketAddr,
    ) -> RawBody {
        let state = match framing {
            Framing::Length(n) => BodyState::Length(n),
            Framing::Chunked => BodyState::ChunkSize,
            Framing::Close => BodyState::UntilClose,
        };
        let mut body = RawBody {
            conn: Some(conn),
            state,
            keep_alive,
            pool,
            addr,
        };
        if state == BodyState::Length(0) {
            body.end();
        }
        body
    }

    /// The body has ended: the connection goes back to the pool if it can carry
    /// another request (nothing unread, keep-alive), else it is closed.
    fn end(&mut self) {
        self.state = BodyState::Done;
        if let Some(conn) = self.conn.take() {
            if self.keep_alive && conn.buf.is_empty() {
                self.pool.checkin_raw(self.addr, conn);
            }
        }
    }

    fn fail(&mut self, error: H1Error) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.state = BodyState::Done;
        self.conn = None;
        Poll::Ready(Some(Err(Box::new(error))))
    }
}

impl HttpBody for RawBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        loop {
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            let buffered = conn.buf.len() as u64;
            match this.state {
                BodyState::Done => return Poll::Ready(None),
                BodyState::Length(left) | BodyState::ChunkData(left) if buffered > 0 => {
                    let take = left.min(buffered);
                    let data = conn.buf.split_to(take as usize).freeze();
                    this.state = match this.state {
                        BodyState::Length(_) => BodyState::Length(left - take),
                        _ if left == take => BodyState::ChunkEnd,
                        _ => BodyState::ChunkData(left - take),
                    };
                    if this.state == BodyState::Length(0) {
                        this.end();
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                BodyState::ChunkSize if buffered > 0 => {
                    match httparse::parse_chunk_size(&conn.buf) {
                        Ok(httparse::Status::Complete((used, 0))) => {
                            conn.buf.advance(used);
                            this.state = BodyState::Trailers;
                            continue;
                        }
                        Ok(httparse::Status::Complete((used, size))) => {
                            conn.buf.advance(used);
                            this.state = BodyState::ChunkData(size);
                            continue;
                        }
                        Ok(httparse::Status::Partial) if conn.buf.len() > MAX_CHUNK_LINE => {
                            return this.fail(H1Error::Malformed("chunk-size line too long"))
                        }
                        Ok(httparse::Status::Partial) => {}
                        Err(_) => return this.fail(H1Error::Malformed("invalid chunk-size line")),
                    }
                }
                BodyState::ChunkEnd if buffered >= 2 => {
                    if &conn.buf[..2] != b"\r\n" {
                        return this.fail(H1Error::Malformed("chunk data longer than its size"));
                    }
                    conn.buf.advance(2);
                    this.state = BodyState::ChunkSize;
                    continue;
                }
                BodyState::Trailers if buffered > 0 => {
                    if conn.buf.starts_with(b"\r\n") {
                        conn.buf.advance(2);
                        this.end();
                        return Poll::Ready(None);
                    }
                    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
                    match httparse::parse_headers(&conn.buf, &mut fields) {
                        Ok(httparse::Status::Complete((used, fields))) => {
                            let mut trailers = HeaderMap::with_capacity(fields.len());
                            for field in fields.iter() {
                                let (Ok(name), Ok(value)) = (
                                    HeaderName::from_bytes(field.name.as_bytes()),
                                    HeaderValue::from_bytes(field.value),
                                ) else {
                                    return this.fail(H1Error::Malformed("invalid trailer field"));
                                };
                                trailers.append(name, value);
                            }
                            conn.buf.advance(used);
                            this.end();
                            return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                        }
                        Ok(httparse::Status::Partial) if conn.buf.len() > MAX_HEAD => {
                            return this.fail(H1Error::Malformed("trailer section too large"))
                        }
                        Ok(httparse::Status::Partial) => {}
                        Err(_) => return this.fail(H1Error::Malformed("invalid trailer section")),
                    }
                }
                BodyState::UntilClose if buffered > 0 => {
                    let data = conn.buf.split().freeze();
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                _ => {}
            }
            // More bytes are needed.
            match conn.poll_read_more(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) if this.state == BodyState::UntilClose => {
                    this.state = BodyState::Done;
                    this.conn = None;
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(0)) => return this.fail(H1Error::ClosedInBody),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(err)) => return this.fail(err.into()),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.state == BodyState::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.state {
            BodyState::Length(n) => SizeHint::with_exact(n),
            BodyState::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str, head_request: bool) -> Result<Option<Head>, H1Error> {
        let mut buf = BytesMut::from(raw.as_bytes());
        parse_head(&mut buf, head_request)
    }

    fn final_head(raw: &str) -> (http::response::Parts, Framing, bool) {
        match head(raw, false) {
            Ok(Some(Head::Final(parts, framing, keep_alive))) => (parts, framing, keep_alive),
            Ok(Some(Head::Interim)) => panic!("interim"),
            Ok(None) => panic!("partial"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn request_head_is_origin_form_with_every_field() {
        let req = Request::post("/a?b=1")
            .header("host", "h.example:8080")
            .header("x-two", "1")
            .header("x-two", "2")
            .body(())
            .unwrap();
        let mut out = Vec::new();
        encode_head(&req, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /a?b=1 HTTP/1.1\r\nhost: h.example:8080\r\nx-two: 1\r\nx-two: 2\r\ncontent-length: 0\r\n\r\n"
        );
        let req = Request::get("/").header("host", "h").body(()).unwrap();
        let mut out = Vec::new();
        encode_head(&req, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET / HTTP/1.1\r\nhost: h\r\n\r\n"
        );
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let (parts, framing, keep) =
            final_head("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nX-A: b\r\n\r\n");
        assert_eq!(
            (parts.status, framing, keep),
            (StatusCode::OK, Framing::Length(13), true)
        );
        assert_eq!(parts.headers["x-a"], "b");
        let (_, framing, keep) = final_head(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
        );
        assert_eq!((framing, keep), (Framing::Chunked, true));
        let (_, framing, keep) = final_head("HTTP/1.1 200 OK\r\n\r\n");
        assert_eq!((framing, keep), (Framing::Close, false));
        let (_, framing, keep) = final_head("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert_eq!((framing, keep), (Framing::Close, false));
        let (_, framing, keep) = final_head("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
        assert_eq!((framing, keep), (Framing::Length(0), false));
        let (_, framing, keep) = final_head("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n");
        assert_eq!((framing, keep), (Framing::Length(2), false));
        let (_, framing, _) = final_head("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n");
        assert_eq!(framing, Framing::Length(0));
        match head("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", true) {
            Ok(Some(Head::Final(parts, Framing::Length(0), true))) => {
                assert_eq!(parts.headers["content-length"], "9")
            }
            _ => panic!("a HEAD response has no body"),
        }
        assert!(matches!(
            head("HTTP/1.1 100 Continue\r\n\r\n", false),
            Ok(Some(Head::Interim))
        ));
        assert!(matches!(
            head("HTTP/1.1 200 OK\r\nContent-Le", false),
            Ok(None)
        ));
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(head(bad, false).is_err(), "{bad}");
        }
    }

    /// A server on loopback that answers the requests on each connection it accepts
    /// with the next scripted responses (raw bytes, written `piece` bytes at a time),
    /// closing the connection after a response marked `close`; counts connections.
    async fn scripted(
        responses: Vec<(&'static str, bool)>,
        piece: usize,
    ) -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            let mut script = responses.into_iter();
            'conns: loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut seen = Vec::new();
                loop {
                    // One request head.
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        let mut chunk = [0u8; 1024];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => continue 'conns,
                            Ok(n) => seen.extend_from_slice(&chunk[..n]),
                        }
                    }
                    seen.clear();
                    let Some((response, close)) = script.next() else {
                        return;
                    };
                    for part in response.as_bytes().chunks(piece) {
                        stream.write_all(part).await.unwrap();
                        stream.flush().await.unwrap();
                        tokio::task::yield_now().await;
                    }
                    if close {
                        continue 'conns;
                    }
                }
            }
        });
        (addr, accepted)
    }

    fn get(path: &str) -> Request<crate::body::Body> {
        Request::get(path)
            .header("host", "app.example")
            .body(crate::body::Body::empty())
            .unwrap()
    }

    async fn fetch(
        pool: &Arc<BackendPool>,
        addr: SocketAddr,
    ) -> Result<(StatusCode, Bytes, Option<HeaderMap>), BoxError> {
        use http_body_util::BodyExt;
        let resp = pool
            .send(addr, get("/"))
            .await
            .map_err(|e| Box::new(e.error) as BoxError)?;
        let status = resp.status();
        let collected = resp.into_body().collect().await?;
        let trailers = collected.trailers().cloned();
        Ok((status, collected.to_bytes(), trailers))
    }

    fn pool() -> Arc<BackendPool> {
        Arc::new(BackendPool::new(std::time::Duration::from_secs(30), 16))
    }

    #[tokio::test]
    async fn chunked_body_with_trailers_arriving_in_pieces_and_the_connection_is_reused() {
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nHello\r\n7;ext=1\r\n, World\r\n0\r\nX-Checksum: abc\r\n\r\n";
        let (addr, accepted) = scripted(
            vec![
                (chunked, false),
                ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", false),
            ],
            3,
        )
        .await;
        let pool = pool();
        let (status, body, trailers) = fetch(&pool, addr).await.unwrap();
        assert_eq!((status, &body[..]), (StatusCode::OK, &b"Hello, World"[..]));
        assert_eq!(trailers.unwrap()["x-checksum"], "abc");
        assert_eq!(pool.idle_count(), 1);
        let (_, body, _) = fetch(&pool, addr).await.unwrap();
        assert_eq!(&body[..], b"abc");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(pool.idle_count(), 1);
    }

    #[tokio::test]
    async fn body_until_close_and_after_interim_responses() {
        let (addr, _) = scripted(
            vec![(
                "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n\r\nstreamed until close",
                true,
            )],
            7,
        )
        .await;
        let pool = pool();
        let (status, body, _) = fetch(&pool, addr).await.unwrap();
        assert_eq!(
            (status, &body[..]),
            (StatusCode::OK, &b"streamed until close"[..])
        );
        assert_eq!(
            pool.idle_count(),
            0,
            "a body delimited by close leaves no connection"
        );
    }

    #[tokio::test]
    async fn a_body_cut_short_is_an_error() {
        let (addr, _) = scripted(
            vec![("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true)],
            64,
        )
        .await;
        let pool = pool();
        let err = fetch(&pool, addr).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("before the end of the response body"),
            "{err}"
        );
        assert_eq!(pool.idle_count(), 0);
    }

    #[tokio::test]
    async fn a_pooled_connection_the_instance_closed_is_replaced() {
        let (addr, accepted) = scripted(
            vec![
                ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", true),
                ("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb", false),
            ],
            64,
        )
        .await;
        let pool = pool();
        let (_, body, _) = fetch(&pool, addr).await.unwrap();
        assert_eq!(&body[..], b"a");
        // The instance closes its side after the response; the next request finds the
        // pooled connection closed (now or when it reads) and goes on a new one.
        let (_, body, _) = fetch(&pool, addr).await.unwrap();
        assert_eq!(&body[..], b"b");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
