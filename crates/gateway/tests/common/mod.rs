//! Test harness: small hyper backends on loopback and a gateway wired to watch
//! channels the test controls.

#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use skiff_gateway::{
    Endpoints, Gateway, GatewayConfig, GatewayOptions, HostRoute, RevisionEndpoints, RevisionKey,
    Split,
};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// What a backend saw, shared with the test.
#[derive(Default)]
pub struct BackendStats {
    pub current: AtomicUsize,
    pub max: AtomicUsize,
    pub requests: AtomicUsize,
    /// `/gate` and `/stream` wait on this before finishing.
    pub gate: Notify,
}

/// A backend instance: answers by path.
/// - `/` → its name
/// - `/headers` → `name: value` lines of the request headers
/// - `/sleep?ms=N` → its name after N ms
/// - `/gate` → its name once `gate` is notified
/// - `/stream` → `first\n`, then (after `gate`) `second\n`
/// - `/ws` → WebSocket echo
/// - `/echo` → the request body back, streamed
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    pub stats: Arc<BackendStats>,
}

fn text(s: impl Into<Bytes>) -> Response<BoxBody> {
    Response::new(Full::new(s.into()).boxed())
}

struct InFlight(Arc<BackendStats>);

impl InFlight {
    fn new(stats: &Arc<BackendStats>) -> Self {
        let now = stats.current.fetch_add(1, Ordering::SeqCst) + 1;
        stats.max.fetch_max(now, Ordering::SeqCst);
        stats.requests.fetch_add(1, Ordering::SeqCst);
        InFlight(stats.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle(
    name: String,
    stats: Arc<BackendStats>,
    mut req: Request<Incoming>,
) -> Result<Response<BoxBody>, Infallible> {
    let _in_flight = InFlight::new(&stats);
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    match req.uri().path() {
        "/headers" => {
            let mut out = String::new();
            for (k, v) in req.headers() {
                out.push_str(&format!("{}: {}\n", k, v.to_str().unwrap_or("?")));
            }
            Ok(text(out))
        }
        "/sleep" => {
            let ms: u64 = query.get("ms").and_then(|v| v.parse().ok()).unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(ms)).await;
            Ok(text(name))
        }
        "/gate" => {
            stats.gate.notified().await;
            Ok(text(name))
        }
        "/stream" => {
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            let stats = stats.clone();
            tokio::spawn(async move {
                let _ = tx.send(Ok(Frame::data(Bytes::from("first\n")))).await;
                stats.gate.notified().await;
                let _ = tx.send(Ok(Frame::data(Bytes::from("second\n")))).await;
            });
            let body = StreamBody::new(tokio_stream_from(rx));
            Ok(Response::new(BodyExt::boxed(body)))
        }
        "/echo" => {
            let body = req
                .into_body()
                .map_err(|_| -> Infallible { unreachable!() });
            // Stream the request body back as it arrives.
            let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(4);
            tokio::spawn(async move {
                let mut body = std::pin::pin!(body);
                while let Some(Ok(frame)) = body.frame().await {
                    if let Ok(data) = frame.into_data() {
                        if tx.send(Ok(Frame::data(data))).await.is_err() {
                            return;
                        }
                    }
                }
            });
            Ok(Response::new(BodyExt::boxed(StreamBody::new(
                tokio_stream_from(rx),
            ))))
        }
        "/ws" => {
            let key = req
                .headers()
                .get("sec-websocket-key")
                .cloned()
                .expect("websocket key");
            let accept =
                tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
            let upgrade = hyper::upgrade::on(&mut req);
            let prefix = name.clone();
            tokio::spawn(async move {
                let upgraded = upgrade.await.expect("backend upgrade");
                let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    tokio_tungstenite::tungstenite::protocol::Role::Server,
                    None,
                )
                .await;
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() {
                        let reply = format!("{prefix}: {}", msg.to_text().unwrap());
                        if ws.send(reply.into()).await.is_err() {
                            return;
                        }
                    } else if msg.is_close() {
                        return;
                    }
                }
            });
            let mut resp = Response::new(Full::new(Bytes::new()).boxed());
            *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let h = resp.headers_mut();
            h.insert("connection", "Upgrade".parse().unwrap());
            h.insert("upgrade", "websocket".parse().unwrap());
            h.insert("sec-websocket-accept", accept.parse().unwrap());
            Ok(resp)
        }
        _ => Ok(text(name)),
    }
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + Sync + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

impl Backend {
    /// Starts a backend named `name` on 127.0.0.1:0.
    pub async fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(BackendStats::default());
        let (n, s) = (name.to_string(), stats.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (n, s) = (n.clone(), s.clone());
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req| handle(n.clone(), s.clone(), req));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Backend {
            name: name.to_string(),
            addr,
            stats,
        }
    }
}

pub fn key(name: &str) -> RevisionKey {
    RevisionKey {
        namespace: "default".into(),
        name: name.into(),
    }
}

pub fn route(splits: &[(&str, u32)], tag: Option<&str>) -> Arc<HostRoute> {
    Arc::new(HostRoute {
        namespace: "default".into(),
        route: "hello".into(),
        tag: tag.map(Into::into),
        splits: splits
            .iter()
            .map(|(rev, percent)| Split {
                revision: key(rev),
                percent: *percent,
            })
            .collect(),
    })
}

pub fn table(hosts: &[(&str, Arc<HostRoute>)]) -> Arc<GatewayConfig> {
    Arc::new(GatewayConfig {
        hosts: hosts
            .iter()
            .map(|(h, r)| (h.to_string(), r.clone()))
            .collect(),
    })
}

pub fn revision(addrs: &[SocketAddr], cc: u32, timeout: Duration) -> Arc<RevisionEndpoints> {
    Arc::new(RevisionEndpoints {
        addresses: addrs.to_vec(),
        container_concurrency: cc,
        timeout,
        service: "hello".into(),
        configuration: "hello".into(),
    })
}

pub fn endpoints(revs: &[(&str, Arc<RevisionEndpoints>)]) -> Arc<Endpoints> {
    Arc::new(Endpoints {
        revisions: revs.iter().map(|(n, e)| (key(n), e.clone())).collect(),
    })
}

/// A running gateway with the channels that program it.
pub struct Harness {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub gateway: Gateway,
    pub routes: watch::Sender<Arc<GatewayConfig>>,
    pub endpoints: watch::Sender<Arc<Endpoints>>,
    pub client: Client<HttpConnector, Full<Bytes>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Harness {
    pub async fn start(
        routes: Arc<GatewayConfig>,
        eps: Arc<Endpoints>,
        options: GatewayOptions,
    ) -> Harness {
        let (routes_tx, routes_rx) = watch::channel(routes);
        let (eps_tx, eps_rx) = watch::channel(eps);
        let gateway = Gateway::new(routes_rx, eps_rx, options);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let admin_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let admin = admin_listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (admin_tx, admin_rx) = tokio::sync::watch::channel(false);
        let g = gateway.clone();
        tokio::spawn(async move {
            g.serve(listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
            let _ = admin_tx.send(true);
        });
        let g = gateway.clone();
        tokio::spawn(async move {
            let mut admin_rx = admin_rx;
            g.serve_admin(admin_listener, async move {
                let _ = admin_rx.wait_for(|done| *done).await;
            })
            .await
            .unwrap();
        });
        Harness {
            addr,
            admin,
            gateway,
            routes: routes_tx,
            endpoints: eps_tx,
            client: Client::builder(TokioExecutor::new()).build_http(),
            shutdown: Some(tx),
        }
    }

    /// Sends `GET path` with `Host: host` and returns status and body.
    pub async fn get(&self, host: &str, path: &str) -> (StatusCode, String) {
        let resp = self.request(host, path, &[]).await;
        let status = resp.status();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Sends `GET path` with `Host: host` and extra headers; returns the response.
    pub async fn request(
        &self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Response<Incoming> {
        let mut req = Request::get(format!("http://{}{}", self.addr, path)).header("host", host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.client
            .request(req.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap()
    }

    /// The admin `/metrics` text.
    pub async fn metrics(&self) -> String {
        let resp = self
            .client
            .get(format!("http://{}/metrics", self.admin).parse().unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(body.to_vec()).unwrap()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Polls `f` every 5 ms until it is true, failing after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
