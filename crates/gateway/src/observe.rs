//! Observation of every request, when its response body ends: the Knative revision
//! metrics (count, latency), the in-flight gauge, and one JSON request-log line with
//! the fields of Knative's default `logging.request-log-template`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Version};
use serde::Serialize;

use crate::body::Body;

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

pub(crate) fn header_str(req: &Request<Body>, name: http::header::HeaderName) -> String {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}
