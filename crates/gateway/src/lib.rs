//! The gateway: the data plane that answers at a Route's URL. It routes by Host to the
//! Route's revisions, split by percent per request, with tag hosts, and forwards to
//! ready instances with Knative's per-instance concurrency limit and revision timeout
//! (the jobs of Istio's ingress + Knative's activator/queue-proxy).
//!
//! The serving controllers program it through [`config::GatewayConfig`] (routes) and
//! [`config::Endpoints`] (ready instances per revision), published on
//! `tokio::sync::watch` channels; the gateway never reads API objects itself.
//!
//! A request goes through these steps, one concern each (outermost first), fused
//! into one service (`stack::Stack`): one future per request, state passed in locals
//! rather than request/response extensions, and one response-body wrapper holding
//! every per-request guard (slot, in-flight gauge, the record of the request).
//!
//! | module | job |
//! | --- | --- |
//! | [`observe`] | metrics and request log when the response body ends |
//! | [`route`] | host → route → revision by weight; 404 for unknown hosts |
//! | [`endpoints`] | the revision's endpoints; none published → [`endpoints::no_ready_instance`]; none ready → wait (activator) and poke [`stats`] |
//! | [`stats`] | mean concurrency and request counts per revision for the autoscaler |
//! | [`metrics`] | per-revision in-flight gauge, request counts and latencies |
//! | [`timeout`] | `timeoutSeconds` to response headers → 504 |
//! | [`balance`] | least-loaded instance, containerConcurrency slots, FIFO queue |
//! | [`forward`] | proxy headers, HTTP/1.1 to the instance, upgrades |
//!
//! [`backend::BackendPool`] holds the keep-alive connections to instances; a request
//! drives its backend connection itself, so a proxied request runs in one task. A
//! request without a body (nearly all) goes over the gateway's own lean HTTP/1.1
//! exchange (`h1`); one with a body, or an upgrade, over hyper's client.
//! The routing work happens synchronously when the request arrives (no per-request
//! clone of the stack); per-revision metric handles are cached
//! ([`metrics::Metrics::revision`]) so requests build no label sets.

pub mod backend;
pub mod balance;
pub mod body;
pub mod config;
pub mod endpoints;
pub mod forward;
mod h1;
pub mod metrics;
pub mod observe;
pub mod route;
mod stack;
pub mod stats;
pub mod timeout;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::util::BoxCloneSyncService;

pub use crate::body::{Body, BoxError};
pub use crate::config::{
    Endpoints, FastMap, GatewayConfig, HostRoute, RevisionEndpoints, RevisionKey, Split,
};
pub use crate::forward::ConnInfo;
pub use crate::metrics::{AutoscalerReport, RevisionLabels};
pub use crate::observe::RequestLogSink;
pub use crate::stats::{Sample, ScalingStats};

use crate::backend::BackendPool;
use crate::balance::Balancer;
use crate::metrics::Metrics;
use crate::observe::RequestLog;
use crate::route::Dice;

/// Tunables of the gateway.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// Where the one-JSON-line-per-request log goes.
    pub request_log: RequestLogSink,
    /// Requests one revision may have waiting for a free instance slot (when every
    /// instance is at its containerConcurrency); beyond that, 503.
    pub max_queued_per_revision: usize,
    /// On shutdown, how long open connections get to finish their requests.
    pub drain_timeout: Duration,
    /// How long an idle pooled connection to an instance is kept.
    pub backend_idle_timeout: Duration,
    /// Seed for the traffic-split rolls (reproducible splits in tests); `None` uses
    /// the thread-local RNG.
    pub split_seed: Option<u64>,
    /// Where per-revision concurrency and pokes are recorded for the autoscaler
    /// (shared with it; see [`stats`]).
    pub stats: Arc<stats::ScalingStats>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            request_log: RequestLogSink::Disabled,
            // Knative's activator queues up to 10,000 requests per revision.
            max_queued_per_revision: 10_000,
            drain_timeout: Duration::from_secs(30),
            backend_idle_timeout: Duration::from_secs(90),
            split_seed: None,
            stats: Arc::default(),
        }
    }
}

/// The request stack behind every connection.
pub type GatewayService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// The concrete stack (what [`GatewayService`] boxes), served by [`Gateway::serve`].
use crate::stack::Stack;

/// The gateway. Cheap to clone; [`Gateway::serve`] runs the data plane on a listener
/// and [`Gateway::serve_admin`] the `/metrics` + `/healthz` endpoint.
#[derive(Clone)]
pub struct Gateway {
    routes: watch::Receiver<Arc<GatewayConfig>>,
    endpoints: watch::Receiver<Arc<Endpoints>>,
    metrics: Arc<Metrics>,
    balancer: Arc<Balancer>,
    log: RequestLog,
    dice: Dice,
    backends: Arc<BackendPool>,
    stack: Stack,
    options: GatewayOptions,
}

impl Gateway {
    /// A gateway following the routing table on `routes` and the ready instances on
    /// `endpoints`. Starts the request-log writer (if any); needs no runtime.
    pub fn new(
        routes: watch::Receiver<Arc<GatewayConfig>>,
        endpoints: watch::Receiver<Arc<Endpoints>>,
        options: GatewayOptions,
    ) -> Gateway {
        let metrics = Arc::new(Metrics::with_stats(options.stats.clone()));
        let balancer = Arc::new(Balancer::new(options.max_queued_per_revision));
        let log = RequestLog::start(&options.request_log);
        let backends = forward::backend_pool(options.backend_idle_timeout);
        let dice = Dice::new(options.split_seed);
        let stack = build_stack(
            &routes, &endpoints, &metrics, &balancer, &log, &dice, &backends,
        );
        Gateway {
            routes,
            endpoints,
            metrics,
            balancer,
            log,
            dice,
            backends,
            stack,
            options,
        }
    }

    /// The request stack forwarding over `backends` (everything else shared).
    fn stack_with(&self, backends: &Arc<BackendPool>) -> Stack {
        build_stack(
            &self.routes,
            &self.endpoints,
            &self.metrics,
            &self.balancer,
            &self.log,
            &self.dice,
            backends,
        )
    }

    /// The request stack, for embedding the gateway in another server or calling it
    /// in-process. Requests need a [`ConnInfo`] extension for forwarding headers.
    pub fn service(&self) -> GatewayService {
        BoxCloneSyncService::new(self.stack.clone())
    }

    /// The gateway's metrics (rendered by [`Gateway::render_metrics`]).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The autoscaler's inputs: per-revision mean concurrency and request counts,
    /// and pokes for revisions with requests waiting at zero instances.
    pub fn stats(&self) -> &Arc<stats::ScalingStats> {
        self.metrics.stats()
    }

    /// The per-revision instance pools (in-flight counts per instance).
    pub fn balancer(&self) -> &Arc<Balancer> {
        &self.balancer
    }

    /// The metrics in Prometheus (OpenMetrics) text format, with the ready-instance
    /// gauges refreshed from the current endpoints.
    pub fn render_metrics(&self) -> String {
        self.metrics.set_ready_instances(&self.endpoints.borrow());
        self.metrics.sync_autoscaler();
        self.metrics.render()
    }

    /// Serves HTTP/1.1 and h2c (prior knowledge) on `listener` until `shutdown`
    /// completes, then stops accepting and lets open connections finish their
    /// requests (at most `drain_timeout`).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let follower = tokio::spawn(follow_endpoints(
            self.endpoints.clone(),
            self.balancer.clone(),
        ));
        let _follower = AbortOnDrop(follower);
        let reaper = tokio::spawn(reap_backends(self.backends.clone()));
        let _reaper = AbortOnDrop(reaper);
        accept_loop(self.stack, listener, shutdown, self.options.drain_timeout).await;
        Ok(())
    }

    /// Serves like [`Gateway::serve`], thread per core: binds `threads` listeners to
    /// `addr` with `SO_REUSEPORT` (the kernel spreads incoming connections over them)
    /// and starts one OS thread per listener, each with a current-thread tokio runtime
    /// and its own pool of backend connections. A connection and every request on it
    /// (the client side, the backend connection, the response body) then stay on one
    /// thread with no cross-thread wake-up; routes, endpoints, metrics, the balancer's
    /// concurrency slots and the request log stay shared by all threads.
    ///
    /// Binding happens now (errors are returned here) and the threads serve at once;
    /// the returned future resolves once `shutdown` has completed and every thread has
    /// drained its connections (at most `drain_timeout`). Dropping the future stops
    /// the threads the same way. With port 0, all threads share the one port the
    /// first listener got (see [`PerCore::local_addr`]).
    pub fn serve_per_core(
        self,
        addr: SocketAddr,
        threads: usize,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<PerCore> {
        let threads = threads.max(1);
        let first = reuse_port_listener(addr)?;
        let local_addr = first.local_addr()?;
        let mut listeners = vec![first];
        for _ in 1..threads {
            listeners.push(reuse_port_listener(local_addr)?);
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut done = Vec::with_capacity(threads);
        for (i, listener) in listeners.into_iter().enumerate() {
            let backends = forward::backend_pool(self.options.backend_idle_timeout);
            let stack = self.stack_with(&backends);
            // One thread follows endpoints for the shared balancer.
            let follow = (i == 0).then(|| (self.endpoints.clone(), self.balancer.clone()));
            let drain = self.options.drain_timeout;
            let mut stop = stop_rx.clone();
            let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
            done.push(done_rx);
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name(format!("skiff-gateway-{i}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        let _follower = follow.map(|(endpoints, balancer)| {
                            AbortOnDrop(tokio::spawn(follow_endpoints(endpoints, balancer)))
                        });
                        let _reaper = AbortOnDrop(tokio::spawn(reap_backends(backends)));
                        let listener = match TcpListener::from_std(listener) {
                            Ok(l) => l,
                            Err(err) => {
                                tracing::error!(error = %err, "gateway thread cannot use its listener");
                                return;
                            }
                        };
                        // A dropped sender (the PerCore future dropped) stops too.
                        let stopped = async move {
                            let _ = stop.wait_for(|s| *s).await;
                        };
                        accept_loop(stack, listener, stopped, drain).await;
                    });
                    drop(runtime);
                    let _ = done_tx.send(());
                })?;
        }
        let run = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
            for d in done {
                let _ = d.await;
            }
            Ok(())
        };
        Ok(PerCore {
            local_addr,
            run: Box::pin(run),
        })
    }

    /// Serves the admin endpoint on `listener` until `shutdown`: `GET /metrics`
    /// (Prometheus text) and `GET /healthz`.
    pub async fn serve_admin(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().writev(false);
        tokio::pin!(shutdown);
        loop {
            let (stream, _) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        tracing::warn!(error = %err, "gateway admin accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                },
                () = &mut shutdown => return Ok(()),
            };
            let gateway = self.clone();
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let gateway = gateway.clone();
                async move { Ok::<_, Infallible>(gateway.admin(&req)) }
            });
            let conn = builder
                .serve_connection(TokioIo::new(stream), svc)
                .into_owned();
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
    }

    fn admin<B>(&self, req: &Request<B>) -> Response<Body> {
        match (req.method(), req.uri().path()) {
            (&http::Method::GET, "/metrics") => {
                let mut resp = Response::new(body::full(self.render_metrics()));
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                resp
            }
            (&http::Method::GET, "/healthz") => body::text_response(StatusCode::OK, "ok\n".into()),
            _ => body::text_response(
                StatusCode::NOT_FOUND,
                "skiff gateway admin: try /metrics or /healthz\n".into(),
            ),
        }
    }
}

/// The threads of [`Gateway::serve_per_core`]: a future that resolves once they have
/// all stopped after shutdown.
pub struct PerCore {
    local_addr: SocketAddr,
    run: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>>,
}

impl PerCore {
    /// The address the threads listen on (the actual port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Future for PerCore {
    type Output = std::io::Result<()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.run.as_mut().poll(cx)
    }
}

/// A non-blocking listener on `addr` with `SO_REUSEPORT` (and `SO_REUSEADDR`), so
/// several can share the port and the kernel balances connections between them.
fn reuse_port_listener(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

fn build_stack(
    routes: &watch::Receiver<Arc<GatewayConfig>>,
    endpoints: &watch::Receiver<Arc<Endpoints>>,
    metrics: &Arc<Metrics>,
    balancer: &Arc<Balancer>,
    log: &RequestLog,
    dice: &Dice,
    backends: &Arc<BackendPool>,
) -> Stack {
    Stack {
        log: log.clone(),
        routes: routes.clone(),
        dice: dice.clone(),
        endpoints: endpoints.clone(),
        metrics: metrics.clone(),
        balancer: balancer.clone(),
        backends: backends.clone(),
        proto: "http",
    }
}

/// Accepts connections on `listener` and serves them with `stack` (HTTP/1.1 and h2c
/// prior knowledge) until `shutdown` completes, then stops accepting and lets open
/// connections finish their requests (at most `drain_timeout`).
async fn accept_loop(
    stack: Stack,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    drain_timeout: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().writev(false);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(err) => {
                    // E.g. out of file descriptors: back off instead of spinning.
                    tracing::warn!(error = %err, "gateway accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(remote);
        let info = ConnInfo { remote, local };
        // One stack per connection, called in place (no per-request clone); the
        // connection's addresses go straight to the request, not via extensions.
        let stack = stack.clone();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let resp = stack.handle(req.map(Body::incoming), Some(info));
            async move { Ok::<_, Infallible>(resp.await) }
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), svc)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(err) = conn.await {
                tracing::debug!(error = %err, %remote, "gateway connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain_timeout) => {
            tracing::warn!("gateway drain timeout: closing remaining connections");
        }
    }
}

/// Keeps the balancer's pools in step with published endpoints, so queued requests
/// move as soon as an instance appears and departed instances drain.
async fn follow_endpoints(mut endpoints: watch::Receiver<Arc<Endpoints>>, balancer: Arc<Balancer>) {
    loop {
        let current = endpoints.borrow_and_update().clone();
        balancer.update(&current);
        if endpoints.changed().await.is_err() {
            return;
        }
    }
}

/// Closes idle backend connections that instances closed or that idled too long.
async fn reap_backends(backends: Arc<BackendPool>) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        backends.reap();
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
