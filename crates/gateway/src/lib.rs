//! The gateway: the data plane that answers at a Route's URL. It routes by Host to the
//! Route's revisions, split by percent per request, with tag hosts, and forwards to
//! ready instances with Knative's per-instance concurrency limit and revision timeout
//! (the jobs of Istio's ingress + Knative's activator/queue-proxy).
//!
//! The serving controllers program it through [`config::GatewayConfig`] (routes) and
//! [`config::Endpoints`] (ready instances per revision), published on
//! `tokio::sync::watch` channels; the gateway never reads API objects itself.
//!
//! A request goes through small tower layers, one concern each (outermost first):
//!
//! | layer | job |
//! | --- | --- |
//! | [`observe::ObserveLayer`] | metrics and request log when the response body ends |
//! | [`route::RouteLayer`] | host → route → revision by weight; 404 for unknown hosts |
//! | [`endpoints::EndpointsLayer`] | the revision's endpoints; no ready instance → [`endpoints::no_ready_instance`] |
//! | [`observe::InFlightLayer`] | per-revision in-flight gauge |
//! | [`timeout::TimeoutLayer`] | `timeoutSeconds` to response headers → 504 |
//! | [`balance::BalanceLayer`] | least-loaded instance, containerConcurrency slots, FIFO queue |
//! | [`forward::Forward`] | proxy headers, HTTP/1.1 to the instance, upgrades |
//!
//! [`backend::BackendPool`] holds the keep-alive connections to instances; a request
//! drives its backend connection itself, so a proxied request runs in one task.
//! Layers do their work synchronously in `call` and call the next layer in place (no
//! per-request clone of the stack); per-revision metric handles are cached
//! ([`metrics::Metrics::revision`]) so requests build no label sets.

pub mod backend;
pub mod balance;
pub mod body;
pub mod config;
pub mod endpoints;
pub mod forward;
pub mod metrics;
pub mod observe;
pub mod route;
pub mod timeout;

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
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
use tower::{Service, ServiceBuilder};

pub use crate::body::{Body, BoxError};
pub use crate::config::{
    Endpoints, GatewayConfig, HostRoute, RevisionEndpoints, RevisionKey, Split,
};
pub use crate::forward::ConnInfo;
pub use crate::observe::RequestLogSink;

use crate::backend::BackendPool;
use crate::balance::{BalanceLayer, Balancer};
use crate::endpoints::EndpointsLayer;
use crate::forward::Forward;
use crate::metrics::Metrics;
use crate::observe::{InFlightLayer, ObserveLayer, RequestLog};
use crate::route::{Dice, RouteLayer};
use crate::timeout::TimeoutLayer;

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
        }
    }
}

/// The request stack behind every connection.
pub type GatewayService = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// The concrete stack (what [`GatewayService`] boxes), served by [`Gateway::serve`].
type Stack = observe::ObserveService<
    route::RouteService<
        endpoints::EndpointsService<
            observe::InFlightService<timeout::TimeoutService<balance::BalanceService<Forward>>>,
        >,
    >,
>;

/// The gateway. Cheap to clone; [`Gateway::serve`] runs the data plane on a listener
/// and [`Gateway::serve_admin`] the `/metrics` + `/healthz` endpoint.
#[derive(Clone)]
pub struct Gateway {
    endpoints: watch::Receiver<Arc<Endpoints>>,
    metrics: Arc<Metrics>,
    balancer: Arc<Balancer>,
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
        let metrics = Arc::new(Metrics::new());
        let balancer = Arc::new(Balancer::new(options.max_queued_per_revision));
        let log = RequestLog::start(&options.request_log);
        let backends = forward::backend_pool(options.backend_idle_timeout);
        let service = ServiceBuilder::new()
            .layer(ObserveLayer::new(log))
            .layer(RouteLayer::new(routes, Dice::new(options.split_seed)))
            .layer(EndpointsLayer::new(endpoints.clone(), metrics.clone()))
            .layer(InFlightLayer)
            .layer(TimeoutLayer)
            .layer(BalanceLayer::new(balancer.clone()))
            .service(Forward::new(backends.clone(), "http"));
        Gateway {
            endpoints,
            metrics,
            balancer,
            backends,
            stack: service,
            options,
        }
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

    /// The per-revision instance pools (in-flight counts per instance).
    pub fn balancer(&self) -> &Arc<Balancer> {
        &self.balancer
    }

    /// The metrics in Prometheus (OpenMetrics) text format, with the ready-instance
    /// gauges refreshed from the current endpoints.
    pub fn render_metrics(&self) -> String {
        self.metrics.set_ready_instances(&self.endpoints.borrow());
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
        let builder = auto::Builder::new(TokioExecutor::new());
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
            // One stack per connection, called in place: every layer is always ready
            // and `call` never re-enters (hyper calls the service synchronously, one
            // call at a time), so the RefCell borrow cannot fail.
            let stack = RefCell::new(self.stack.clone());
            let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                let mut req = req.map(Body::new);
                req.extensions_mut().insert(info);
                stack.borrow_mut().call(req)
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
            () = tokio::time::sleep(self.options.drain_timeout) => {
                tracing::warn!("gateway drain timeout: closing remaining connections");
            }
        }
        Ok(())
    }

    /// Serves the admin endpoint on `listener` until `shutdown`: `GET /metrics`
    /// (Prometheus text) and `GET /healthz`.
    pub async fn serve_admin(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let builder = auto::Builder::new(TokioExecutor::new());
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
