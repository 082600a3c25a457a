//! Body plumbing shared by the layers: one boxed body type for the whole stack, and
//! wrappers that keep something alive (a concurrency permit, an in-flight guard) or
//! count bytes until a streamed body ends. Nothing here buffers: frames pass through.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};

/// Boxed error of any body or service in the gateway.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The body type of every request and response inside the gateway: streamed; boxed,
/// except for the common small kinds (a client's request body,
/// the gateway's own complete bodies), which it holds unboxed. (An instance's
/// response body stays boxed: it carries its connection, and `Body` is moved often.)
/// (A newtype rather than an alias: a `dyn` error type inside the layers' `where`
/// clauses trips rustc's higher-ranked `Send` inference.)
pub struct Body(Kind);

enum Kind {
    Boxed(BoxBody<Bytes, BoxError>),
    Incoming(hyper::body::Incoming),
    Full(Full<Bytes>),
}

impl Body {
    /// Boxes any body with byte chunks.
    pub fn new<B>(body: B) -> Body
    where
        B: HttpBody<Data = Bytes> + Send + Sync + 'static,
        B::Error: Into<BoxError>,
    {
        Body(Kind::Boxed(body.map_err(Into::into).boxed()))
    }

    /// A client's request body, unboxed.
    pub fn incoming(body: hyper::body::Incoming) -> Body {
        Body(Kind::Incoming(body))
    }

    /// An empty body.
    pub fn empty() -> Body {
        full(Bytes::new())
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Body")
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.0 {
            Kind::Boxed(b) => Pin::new(b).poll_frame(cx),
            Kind::Incoming(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(Into::into))),
            Kind::Full(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(|never| match never {}))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.0 {
            Kind::Boxed(b) => b.is_end_stream(),
            Kind::Incoming(b) => b.is_end_stream(),
            Kind::Full(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Kind::Boxed(b) => b.size_hint(),
            Kind::Incoming(b) => b.size_hint(),
            Kind::Full(b) => b.size_hint(),
        }
    }
}

/// A complete body from bytes (the gateway's own small responses).
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Body(Kind::Full(Full::new(bytes.into())))
}

/// A plain-text response from the gateway itself (404, 503, 504, …).
pub(crate) fn text_response(status: http::StatusCode, text: String) -> http::Response<Body> {
    let mut resp = http::Response::new(full(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

pin_project_lite::pin_project! {
    /// A body that adds the length of every data frame to a shared counter.
    pub(crate) struct Counted {
        #[pin]
        inner: Body,
        count: Arc<AtomicU64>,
    }
}

impl Counted {
    /// Counts `inner`'s data bytes into `count`.
    pub(crate) fn new(inner: Body, count: Arc<AtomicU64>) -> Self {
        Counted { inner, count }
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.count.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
