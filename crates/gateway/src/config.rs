//! What the serving controllers tell the gateway.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use skiff_runtime::RevisionKey;

/// The gateway's maps looked up on every request (host → route, revision →
/// endpoints, metrics, pools): foldhash, seeded per process, hashes a host name in a
/// fraction of SipHash's time and still resists flooding by chosen keys.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// One share of a Route's traffic.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub revision: RevisionKey,
    /// 0..=100; the splits of a host add up to 100.
    pub percent: u32,
}

/// Where requests for one host go.
#[derive(Clone, Debug, PartialEq)]
pub struct HostRoute {
    pub namespace: String,
    /// The Route (and, for a Service, the Service) name, for metrics and logs.
    pub route: String,
    /// The tag this host belongs to (`{tag}-{route}.{ns}.{domain}`), if any.
    pub tag: Option<String>,
    pub splits: Vec<Split>,
}

/// The routing table: host (lowercase, no port) → route.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GatewayConfig {
    pub hosts: FastMap<String, Arc<HostRoute>>,
}

/// How to reach one revision's instances.
#[derive(Clone, Debug, PartialEq)]
pub struct RevisionEndpoints {
    /// Ready instances.
    pub addresses: Vec<SocketAddr>,
    /// Knative `containerConcurrency`: 0 = unlimited, else the most in-flight
    /// requests one instance gets (more wait in a queue).
    pub container_concurrency: u32,
    /// Knative `timeoutSeconds`: a response not started by then gets 504.
    pub timeout: Duration,
    /// Labels for metrics and request logs.
    pub service: String,
    pub configuration: String,
}

/// Ready endpoints of every revision that has any.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Endpoints {
    pub revisions: FastMap<RevisionKey, Arc<RevisionEndpoints>>,
}
