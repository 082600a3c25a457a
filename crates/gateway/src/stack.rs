//! The request stack the gateway serves: the layers of this crate (observe → route →
//! endpoints → in-flight → timeout → balance → forward) fused into one service, with
//! the same behaviour as the layered stack but one future per request (an `async`
//! block, not a boxed future per layer), no request/response extension entries
//! passing state between layers (it travels in locals), and one response-body
//! wrapper, [`ResponseBody`], holding every per-request guard.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use http_body::{Body as HttpBody, Frame, SizeHint};
use tokio::sync::watch;
use tower::Service;

use crate::backend::BackendPool;
use crate::balance::{Balancer, Permit};
use crate::body::{text_response, Body, BoxError, Counted};
use crate::config::{Endpoints, GatewayConfig, RevisionEndpoints};
use crate::endpoints::{labels_for, no_ready_instance};
use crate::forward::{forward, ConnInfo};
use crate::metrics::{InFlightGuard, Metrics, RevisionMetrics};
use crate::observe::{header_str, Completion, RequestLog};
use crate::route::{choose_split, request_host, Dice, Routed};
use crate::timeout::timeout_response;

/// The fused request stack (see the module docs).
#[derive(Clone)]
pub(crate) struct Stack {
    pub(crate) log: RequestLog,
    pub(crate) routes: watch::Receiver<Arc<GatewayConfig>>,
    pub(crate) dice: Dice,
    pub(crate) endpoints: watch::Receiver<Arc<Endpoints>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) balancer: Arc<Balancer>,
    pub(crate) backends: Arc<BackendPool>,
    pub(crate) proto: &'static str,
}

/// A routed request whose revision has ready instances.
struct Ready {
    routed: Arc<Routed>,
    ep: Arc<RevisionEndpoints>,
    revision: Arc<RevisionMetrics>,
    in_flight: InFlightGuard,
}

/// The outcome of the synchronous part of a request (routing and endpoints).
enum Decision {
    /// Answered by the gateway itself (400, 404, 503), with what it knows for metrics.
    Answer {
        resp: Response<Body>,
        routed: Option<Arc<Routed>>,
        revision: Option<Arc<RevisionMetrics>>,
    },
    Forward(Ready),
}

impl Stack {
    /// Host → route → revision (by weight) → its endpoints and metric handles.
    fn decide(&self, req: &Request<Body>, start: Instant) -> Decision {
        let answer = |resp| Decision::Answer {
            resp,
            routed: None,
            revision: None,
        };
        let Some(host) = request_host(req) else {
            return answer(text_response(
                StatusCode::BAD_REQUEST,
                "skiff gateway: the request names no host (no Host header or :authority)\n".into(),
            ));
        };
        let route = self.routes.borrow().hosts.get(&host).cloned();
        let Some(route) = route else {
            return answer(text_response(
                StatusCode::NOT_FOUND,
                format!("skiff gateway: no route for host \"{host}\"\n"),
            ));
        };
        let Some(split) = choose_split(&route, &self.dice) else {
            return answer(text_response(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "skiff gateway: route {}/{} for host \"{host}\" has no traffic targets\n",
                    route.namespace, route.route
                ),
            ));
        };
        let routed = Arc::new(Routed { host, route, split });
        let ep = self
            .endpoints
            .borrow()
            .revisions
            .get(routed.revision())
            .cloned();
        let Some(ep) = ep else {
            let labels = labels_for(&routed, None);
            return Decision::Answer {
                resp: no_ready_instance(&routed),
                revision: Some(self.metrics.revision_with_labels(labels)),
                routed: Some(routed),
            };
        };
        if ep.addresses.is_empty() {
            // The activator's job: the request waits for an instance (in the pool's
            // queue, within the revision timeout) and the autoscaler scales from zero
            // now rather than at its next tick.
            self.metrics.stats().poke(routed.revision());
        }
        let revision = self.metrics.revision(routed.revision(), &ep);
        let in_flight = revision.in_flight(start);
        Decision::Forward(Ready {
            routed,
            ep,
            revision,
            in_flight,
        })
    }

    /// Serves one request that came on the connection `conn`. The synchronous work
    /// (observing the start, routing, endpoints, in-flight gauge) happens now; the
    /// future waits for a slot and the response headers.
    pub(crate) fn handle(
        &self,
        req: Request<Body>,
        conn: Option<ConnInfo>,
    ) -> impl Future<Output = Response<ResponseBody>> + Send + 'static {
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
        // The forwarding future (waiting for a slot, the backend exchange) is big and
        // is boxed once, so the request's own future stays small when hyper moves it.
        let step = match self.decide(&req, start) {
            Decision::Answer {
                resp,
                routed,
                revision,
            } => Step::Answer {
                resp,
                routed,
                revision,
            },
            Decision::Forward(Ready {
                routed,
                ep,
                revision,
                in_flight,
            }) => Step::Forward {
                fut: Box::pin(balance_and_forward(
                    self.balancer.clone(),
                    self.backends.clone(),
                    self.proto,
                    req,
                    routed.clone(),
                    ep,
                    conn,
                )),
                routed,
                revision,
                in_flight,
            },
        };
        async move {
            let (resp, routed, revision, permit, in_flight, instance) = match step {
                Step::Answer {
                    resp,
                    routed,
                    revision,
                } => (resp, routed, revision, None, None, None),
                Step::Forward {
                    fut,
                    routed,
                    revision,
                    in_flight,
                } => {
                    let (resp, permit, instance) = fut.await;
                    (
                        resp,
                        Some(routed),
                        Some(revision),
                        permit,
                        Some(in_flight),
                        instance,
                    )
                }
            };
            let completion = Completion {
                log,
                start,
                method,
                url,
                version,
                user_agent,
                referer,
                remote: conn.map(|c| c.remote),
                status: resp.status().as_u16(),
                request_bytes,
                response_bytes: 0,
                revision,
                routed,
                instance,
            };
            resp.map(|inner| ResponseBody {
                inner,
                permit,
                in_flight,
                completion,
            })
        }
    }
}

/// The revision timeout around waiting for a slot and for the response headers; the
/// slot (if taken) goes with the response.
async fn balance_and_forward(
    balancer: Arc<Balancer>,
    backends: Arc<BackendPool>,
    proto: &'static str,
    req: Request<Body>,
    routed: Arc<Routed>,
    ep: Arc<RevisionEndpoints>,
    conn: Option<ConnInfo>,
) -> Forwarded {
    let routed = &*routed;
    let ep = &ep;
    let timeout = ep.timeout;
    let work = async {
        let pool = balancer.pool(routed.revision(), ep);
        let permit = match pool.acquire().await {
            Ok(permit) => permit,
            Err(err) => {
                let rev = routed.revision();
                let why = if ep.addresses.is_empty() {
                    "has no ready instance yet".to_string()
                } else {
                    format!(
                        "is at its concurrency limit (containerConcurrency {})",
                        ep.container_concurrency
                    )
                };
                let resp = text_response(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "skiff gateway: revision {}/{} {why}: {err}\n",
                        rev.namespace, rev.name
                    ),
                );
                return (resp, None, None);
            }
        };
        let mut permit = Some(permit);
        let (resp, addr) = forward(&backends, proto, req, &mut permit, Some(routed), conn).await;
        (resp, permit, addr)
    };
    // Pinned where it is: the timeout wraps a pointer to it, not a moved copy.
    let work = std::pin::pin!(work);
    if timeout.is_zero() {
        return work.await;
    }
    match tokio::time::timeout(timeout, work).await {
        Ok(done) => done,
        Err(_) => (timeout_response(Some(routed), timeout), None, None),
    }
}

/// The response, the instance slot it holds (if any) and the instance's address.
type Forwarded = (Response<Body>, Option<Permit>, Option<std::net::SocketAddr>);

/// What remains of a request after its synchronous part.
enum Step {
    Answer {
        resp: Response<Body>,
        routed: Option<Arc<Routed>>,
        revision: Option<Arc<RevisionMetrics>>,
    },
    Forward {
        fut: Pin<Box<dyn Future<Output = Forwarded> + Send>>,
        routed: Arc<Routed>,
        revision: Arc<RevisionMetrics>,
        in_flight: InFlightGuard,
    },
}

impl Service<Request<Body>> for Stack {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let conn = req.extensions().get::<ConnInfo>().copied();
        let fut = self.handle(req, conn);
        Box::pin(async move { Ok(fut.await.map(Body::new)) })
    }
}

pin_project_lite::pin_project! {
    /// The response body as the client gets it: counts its bytes, holds the
    /// instance's concurrency slot and the in-flight gauge until it ends, then records
    /// the request (metrics, log line). Dropped in that order: the body, the slot, the
    /// in-flight count, then the record.
    pub(crate) struct ResponseBody {
        #[pin]
        inner: Body,
        permit: Option<Permit>,
        in_flight: Option<InFlightGuard>,
        completion: Completion,
    }
}

impl HttpBody for ResponseBody {
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
                this.completion.response_bytes += data.len() as u64;
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
