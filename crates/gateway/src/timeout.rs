//! The revision timeout (Knative `timeoutSeconds`): if no response headers came back
//! within it, counting any wait for a free instance, the client gets 504 and the
//! backend request is abandoned. A response that has started streams on uncut.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response, StatusCode};
use tower::{Layer, Service};

use crate::body::{text_response, Body};
use crate::config::RevisionEndpoints;
use crate::route::Routed;

/// The 504 a timed-out request gets.
pub fn timeout_response(routed: Option<&Routed>, timeout: Duration) -> Response<Body> {
    let what = routed.map_or_else(
        || "the revision".to_string(),
        |r| format!("revision {}/{}", r.revision().namespace, r.revision().name),
    );
    text_response(
        StatusCode::GATEWAY_TIMEOUT,
        format!(
            "skiff gateway: {what} did not start a response within its timeout of {:?}\n",
            timeout
        ),
    )
}

/// Layer for [`TimeoutService`].
#[derive(Clone, Copy, Debug, Default)]
pub struct TimeoutLayer;

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService { inner }
    }
}

/// Bounds the time to response headers by the request's `RevisionEndpoints.timeout`
/// (from the extensions; zero means no limit).
#[derive(Clone)]
pub struct TimeoutService<S> {
    inner: S,
}

impl<S> Service<Request<Body>> for TimeoutService<S>
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
        let timeout = req
            .extensions()
            .get::<Arc<RevisionEndpoints>>()
            .map_or(Duration::ZERO, |ep| ep.timeout);
        let routed = req.extensions().get::<Arc<Routed>>().cloned();
        let fut = self.inner.call(req);
        if timeout.is_zero() {
            return Box::pin(fut);
        }
        Box::pin(async move {
            match tokio::time::timeout(timeout, fut).await {
                Ok(resp) => resp,
                Err(_) => Ok(timeout_response(routed.as_deref(), timeout)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body::full;
    use tower::ServiceExt;

    fn with_timeout(ms: u64) -> Request<Body> {
        let mut req = Request::new(full(""));
        req.extensions_mut().insert(Arc::new(RevisionEndpoints {
            addresses: vec![],
            container_concurrency: 0,
            timeout: Duration::from_millis(ms),
            service: "s".into(),
            configuration: "c".into(),
        }));
        req
    }

    fn slow(
        delay: Duration,
    ) -> impl Service<
        Request<Body>,
        Response = Response<Body>,
        Error = Infallible,
        Future = BoxFuture<'static, Result<Response<Body>, Infallible>>,
    > + Clone {
        tower::service_fn(move |_req: Request<Body>| -> BoxFuture<'static, _> {
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok(Response::new(full("done")))
            })
        })
    }

    #[tokio::test(start_paused = true)]
    async fn slow_backend_gets_504_fast_one_200() {
        let svc = TimeoutLayer.layer(slow(Duration::from_secs(12)));
        let resp = svc.clone().oneshot(with_timeout(10_000)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);

        let svc = TimeoutLayer.layer(slow(Duration::from_secs(2)));
        let resp = svc.oneshot(with_timeout(10_000)).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
    }
}
