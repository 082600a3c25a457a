//! Endpoints: what the routed revision looks like right now (ready instances,
//! containerConcurrency, timeout, labels), and what to do when it has no ready
//! instance. That decision lives in [`no_ready_instance`] on its own: today it answers
//! 503; the activator replaces it with holding the request until an instance is ready.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use tokio::sync::watch;
use tower::{Layer, Service};

use crate::body::{text_response, Body};
use crate::config::{Endpoints, RevisionEndpoints};
use crate::metrics::{Metrics, RevisionLabels};
use crate::route::Routed;

/// What happens to a request whose revision has no ready instance: a 503 naming the
/// revision. (The activator's job, later: hold it and trigger a scale-up instead.)
pub fn no_ready_instance(routed: &Routed) -> Response<Body> {
    text_response(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "skiff gateway: no ready instance of revision {}/{} (host \"{}\")\n",
            routed.revision().namespace,
            routed.revision().name,
            routed.host
        ),
    )
}

/// The metric labels of a routed request: from the revision's endpoints when known,
/// else from the route (the Service name is the Route name for a Knative Service).
pub(crate) fn labels_for(routed: &Routed, ep: Option<&RevisionEndpoints>) -> RevisionLabels {
    RevisionLabels {
        namespace_name: routed.revision().namespace.clone(),
        service_name: ep.map_or_else(|| routed.route.route.clone(), |e| e.service.clone()),
        configuration_name: ep.map_or_else(String::new, |e| e.configuration.clone()),
        revision_name: routed.revision().name.clone(),
    }
}

/// Layer for [`EndpointsService`].
#[derive(Clone)]
pub struct EndpointsLayer {
    endpoints: watch::Receiver<Arc<Endpoints>>,
    metrics: Arc<Metrics>,
}

impl EndpointsLayer {
    /// Resolves revisions against the endpoints published on `endpoints`, with metric
    /// handles from `metrics`.
    pub fn new(endpoints: watch::Receiver<Arc<Endpoints>>, metrics: Arc<Metrics>) -> Self {
        EndpointsLayer { endpoints, metrics }
    }
}

impl<S> Layer<S> for EndpointsLayer {
    type Service = EndpointsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        EndpointsService {
            inner,
            endpoints: self.endpoints.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// Adds the routed revision's `Arc<RevisionEndpoints>` (to the request) and its
/// metric handles, `Arc<RevisionMetrics>` (to the request and the response), or
/// answers [`no_ready_instance`].
#[derive(Clone)]
pub struct EndpointsService<S> {
    inner: S,
    endpoints: watch::Receiver<Arc<Endpoints>>,
    metrics: Arc<Metrics>,
}

impl<S> Service<Request<Body>> for EndpointsService<S>
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

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let Some(routed) = req.extensions().get::<Arc<Routed>>().cloned() else {
            // Only reachable if the stack is assembled without routing.
            return Box::pin(std::future::ready(Ok(text_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "skiff gateway: request was not routed\n".into(),
            ))));
        };
        let ep = self
            .endpoints
            .borrow()
            .revisions
            .get(routed.revision())
            .cloned();
        let ep = match ep {
            Some(ep) if !ep.addresses.is_empty() => ep,
            _ => {
                let labels = labels_for(&routed, ep.as_deref());
                let mut resp = no_ready_instance(&routed);
                resp.extensions_mut()
                    .insert(self.metrics.revision_with_labels(labels));
                return Box::pin(std::future::ready(Ok(resp)));
            }
        };
        let revision = self.metrics.revision(routed.revision(), &ep);
        req.extensions_mut().insert(ep);
        req.extensions_mut().insert(revision.clone());
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut resp = fut.await?;
            resp.extensions_mut().insert(revision);
            Ok(resp)
        })
    }
}
