//! Endpoints: what the routed revision looks like right now (ready instances,
//! containerConcurrency, timeout, labels). A revision with endpoints but no ready
//! instance (scaled to zero, or starting) holds its requests until one is ready (the
//! activator's job, see `stack`); one the serving controllers published no endpoints
//! for at all gets [`no_ready_instance`].

use http::{Response, StatusCode};

use crate::body::{text_response, Body};
use crate::config::RevisionEndpoints;
use crate::metrics::RevisionLabels;
use crate::route::Routed;

/// The answer for a request routed to a revision the gateway has no endpoints for
/// (not published by the serving controllers: being deleted, or not created yet): a
/// 503 naming the revision.
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
