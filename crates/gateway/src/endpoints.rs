//! Endpoints: what the routed revision looks like right now (ready instances,
//! containerConcurrency, timeout, labels), and what to do when it has no ready
//! instance. That decision lives in [`no_ready_instance`] on its own: today it answers
//! 503; the activator replaces it with holding the request until an instance is ready.

use http::{Response, StatusCode};

use crate::body::{text_response, Body};
use crate::config::RevisionEndpoints;
use crate::metrics::RevisionLabels;
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
