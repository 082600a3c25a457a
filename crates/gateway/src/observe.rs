//! Observation of every request, when its response body ends: the Knative revision
//! metrics (count, latency), the in-flight gauge, and one JSON request-log line with
//! the fields of Knative's default `logging.request-log-template`.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use http::{Request, Response, Version};
use serde::Serialize;
use tower::{Layer, Service};

use crate::balance::Instance;
use crate::body::{attach, Body, Counted};

use crate::forward::ConnInfo;
use crate::metrics::RevisionMetrics;
use crate::route::Routed;

/// Where request-log lines go.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum RequestLogSink {
    /// No request log.
    #[default]
    Disabled,
    /// One line per request on standard error.
    Stderr,
    /// Appended to this file (created if missing).
    File(PathBuf),
}

/// The request-log writer: lines go through a bounded channel to a writer thread, so
/// a slow disk never stalls the request path (lines beyond the bound are dropped).
#[derive(Clone)]
pub struct RequestLog {
    tx: Option<std::sync::mpsc::SyncSender<String>>,
}

const LOG_BUFFER_LINES: usize = 65_536;

impl RequestLog {
    /// Starts the writer for `sink`. A file that cannot be opened disables the log
    /// with an error message.
    pub fn start(sink: &RequestLogSink) -> Self {
        let out: Box<dyn Write + Send> = match sink {
            RequestLogSink::Disabled => return RequestLog { tx: None },
            RequestLogSink::Stderr => Box::new(std::io::stderr()),
            RequestLogSink::File(path) => {
                match std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                {
                    Ok(f) => Box::new(f),
                    Err(err) => {
                        tracing::error!(path = %path.display(), error = %err,
                            "cannot open the request log; request logging is off");
                        return RequestLog { tx: None };
                    }
                }
            }
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<String>(LOG_BUFFER_LINES);
        let spawned = std::thread::Builder::new()
            .name("skiff-request-log".into())
            .spawn(move || {
                let mut out = std::io::BufWriter::new(out);
                while let Ok(line) = rx.recv() {
                    let _ = out.write_all(line.as_bytes());
                    while let Ok(line) = rx.try_recv() {
                        let _ = out.write_all(line.as_bytes());
                    }
                    let _ = out.flush();
                }
            });
        match spawned {
            Ok(_) => RequestLog { tx: Some(tx) },
            Err(err) => {
                tracing::error!(error = %err, "cannot start the request-log writer");
                RequestLog { tx: None }
            }
        }
    }

    /// True if lines are written somewhere.
    pub fn enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues one line (ending in a newline) for the writer.
    fn write(&self, line: String) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(line);
        }
    }
}

/// Knative's `httpRequest` object (sizes are strings, as its template writes them).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpRequestLog<'a> {
    request_method: &'a str,
    request_url: &'a str,
    request_size: String,
    status: u16,
    response_size: String,
    user_agent: &'a str,
    remote_ip: String,
    server_ip: String,
    referer: &'a str,
    latency: String,
    protocol: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogLine<'a> {
    http_request: HttpRequestLog<'a>,
    host: &'a str,
    revision_name: &'a str,
    namespace: &'a str,
    service: &'a str,
    configuration: &'a str,
}

/// `HTTP/1.1`, `HTTP/2.0`, … as Go's `Request.Proto` spells it.
pub fn protocol_name(v: Version) -> &'static str {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// Everything known about a request when its response body ends.
pub(crate) struct Completion {
    pub(crate) log: RequestLog,
    pub(crate) start: Instant,
    pub(crate) method: http::Method,
    pub(crate) url: String,
    pub(crate) version: Version,
    pub(crate) user_agent: String,
    pub(crate) referer: String,
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) status: u16,
    /// Counted by the request body (only when the request log is on: nothing else
    /// needs it).
    pub(crate) request_bytes: Option<Arc<AtomicU64>>,
    /// Counted by the response body that owns this completion.
    pub(crate) response_bytes: u64,
    pub(crate) revision: Option<Arc<RevisionMetrics>>,
    pub(crate) routed: Option<Arc<Routed>>,
    pub(crate) instance: Option<SocketAddr>,
}

impl Drop for Completion {
    fn drop(&mut self) {
        let latency = self.start.elapsed();
        if let Some(revision) = &self.revision {
            revision.record(self.status, latency);
        }
        if self.log.enabled() {
            self.log.write(self.log_line(latency));
        }
    }
}

impl Completion {
    fn log_line(&self, latency: Duration) -> String {
        let labels = self.revision.as_deref().map(|r| &r.labels);
        let line = LogLine {
            http_request: HttpRequestLog {
                request_method: self.method.as_str(),
                request_url: &self.url,
                request_size: self
                    .request_bytes
                    .as_ref()
                    .map_or(0, |n| n.load(Ordering::Relaxed))
                    .to_string(),
                status: self.status,
                response_size: self.response_bytes.to_string(),
                user_agent: &self.user_agent,
                remote_ip: self.remote.map_or_else(String::new, |a| a.to_string()),
                server_ip: self
                    .instance
                    .map_or_else(String::new, |a| a.ip().to_string()),
                referer: &self.referer,
                latency: format!("{:.6}s", latency.as_secs_f64()),
                protocol: protocol_name(self.version),
            },
            host: self.routed.as_ref().map_or("", |r| r.host.as_str()),
            revision_name: labels.map_or("", |l| l.revision_name.as_str()),
            namespace: labels.map_or("", |l| l.namespace_name.as_str()),
            service: labels.map_or("", |l| l.service_name.as_str()),
            configuration: labels.map_or("", |l| l.configuration_name.as_str()),
        };
        let mut out = Vec::with_capacity(512);
        serde_json::to_writer(&mut out, &line).expect("a log line always serialises");
        out.push(b'\n');
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

pin_project_lite::pin_project! {
    /// The response body as the client gets it: counts its bytes and owns the
    /// [`Completion`], so the request is recorded when the body ends (or is dropped).
    struct Observed {
        #[pin]
        inner: Body,
        completion: Completion,
    }
}

impl http_body::Body for Observed {
    type Data = bytes::Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.completion.response_bytes += data.len() as u64;
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Layer for [`ObserveService`].
#[derive(Clone)]
pub struct ObserveLayer {
    log: RequestLog,
}

impl ObserveLayer {
    /// Records into the revision's metrics (the `Arc<RevisionMetrics>` the inner
    /// layers put in the response extensions) and writes lines to `log`.
    pub fn new(log: RequestLog) -> Self {
        ObserveLayer { log }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = ObserveService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ObserveService {
            inner,
            log: self.log.clone(),
        }
    }
}

/// Outermost layer: counts body bytes both ways and records the request when the
/// response body is done (so latency and size cover a streamed body).
#[derive(Clone)]
pub struct ObserveService<S> {
    inner: S,
    log: RequestLog,
}

pub(crate) fn header_str(req: &Request<Body>, name: http::header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

impl<S> Service<Request<Body>> for ObserveService<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let start = Instant::now();
        let logging = self.log.enabled();
        let (url, user_agent, referer) = if logging {
            (
                req.uri()
                    .path_and_query()
                    .map_or("/", |p| p.as_str())
                    .to_string(),
                header_str(&req, http::header::USER_AGENT),
                header_str(&req, http::header::REFERER),
            )
        } else {
            Default::default()
        };
        let method = req.method().clone();
        let version = req.version();
        let remote = req.extensions().get::<ConnInfo>().map(|c| c.remote);
        let (req, request_bytes) = if logging {
            let count = Arc::new(AtomicU64::new(0));
            let counted = count.clone();
            (
                req.map(|b| Body::new(Counted::new(b, counted))),
                Some(count),
            )
        } else {
            (req, None)
        };
        let log = self.log.clone();
        // The inner layers do their work synchronously in `call`; only the response
        // is awaited (no clone of the inner stack per request).
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            let completion = Completion {
                log,
                start,
                method,
                url,
                version,
                user_agent,
                referer,
                remote,
                status: resp.status().as_u16(),
                request_bytes,
                response_bytes: 0,
                revision: resp.extensions().get::<Arc<RevisionMetrics>>().cloned(),
                routed: resp.extensions().get::<Arc<Routed>>().cloned(),
                instance: resp.extensions().get::<Instance>().map(|i| i.0),
            };
            Ok(resp.map(|inner| Body::new(Observed { inner, completion })))
        })
    }
}

/// Layer for [`InFlightService`].
#[derive(Clone, Copy, Debug, Default)]
pub struct InFlightLayer;

impl<S> Layer<S> for InFlightLayer {
    type Service = InFlightService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        InFlightService { inner }
    }
}

/// Keeps a revision's in-flight gauge (from the `Arc<RevisionMetrics>` in the
/// request extensions) up for as long as a request lasts (queueing,
/// waiting for headers, streaming the body).
#[derive(Clone)]
pub struct InFlightService<S> {
    inner: S,
}

impl<S> Service<Request<Body>> for InFlightService<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let guard = req
            .extensions()
            .get::<Arc<RevisionMetrics>>()
            .map(|revision| revision.in_flight());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = fut.await?;
            Ok(match guard {
                Some(guard) => attach(resp, guard),
                None => resp,
            })
        })
    }
}
