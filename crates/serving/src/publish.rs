//! What the gateway sees: the routing table (kept by the Route controller, which
//! programs a Route here before reporting it ready) and the ready endpoints of each
//! revision (derived from the runtime's instances and the Revisions' settings).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use skiff_api::v1::{Revision, Route};
use skiff_gateway::config::{Endpoints, GatewayConfig, HostRoute, RevisionEndpoints};
use skiff_runtime::{Phase, RevisionKey};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::labels::{label, CONFIGURATION_LABEL, REVISION_UID_LABEL, SERVICE_LABEL};
use crate::Ctx;

type RouteKey = (String, String);

struct RouteEntry {
    uid: String,
    hosts: Vec<(String, Arc<HostRoute>)>,
}

/// The hosts each Route publishes, merged into one [`GatewayConfig`] on every change.
pub(crate) struct RouteTable {
    routes: Mutex<BTreeMap<RouteKey, RouteEntry>>,
    tx: watch::Sender<Arc<GatewayConfig>>,
}

impl RouteTable {
    pub fn new(tx: watch::Sender<Arc<GatewayConfig>>) -> Self {
        RouteTable {
            routes: Mutex::new(BTreeMap::new()),
            tx,
        }
    }

    /// Replaces the hosts of one Route (an empty list unpublishes it).
    pub fn set(&self, namespace: &str, name: &str, uid: &str, hosts: Vec<(String, HostRoute)>) {
        let mut routes = self.routes.lock().unwrap();
        let key = (namespace.to_string(), name.to_string());
        if hosts.is_empty() {
            routes.remove(&key);
        } else {
            let hosts = hosts.into_iter().map(|(h, r)| (h, Arc::new(r))).collect();
            routes.insert(
                key,
                RouteEntry {
                    uid: uid.to_string(),
                    hosts,
                },
            );
        }
        self.publish(&routes);
    }

    /// Forgets a deleted Route (only the incarnation with `uid`, if given).
    pub fn remove(&self, namespace: &str, name: &str, uid: Option<&str>) {
        let mut routes = self.routes.lock().unwrap();
        let key = (namespace.to_string(), name.to_string());
        if routes
            .get(&key)
            .is_some_and(|e| uid.is_none_or(|u| u == e.uid))
        {
            routes.remove(&key);
            self.publish(&routes);
        }
    }

    /// Forgets every Route not in `live` (namespace, name, uid).
    fn retain(&self, live: &BTreeSet<(String, String, String)>) {
        let mut routes = self.routes.lock().unwrap();
        let before = routes.len();
        routes.retain(|(ns, n), e| live.contains(&(ns.clone(), n.clone(), e.uid.clone())));
        if routes.len() != before {
            self.publish(&routes);
        }
    }

    fn publish(&self, routes: &BTreeMap<RouteKey, RouteEntry>) {
        let mut config = GatewayConfig::default();
        for entry in routes.values() {
            for (host, route) in &entry.hosts {
                // The first Route (by namespace/name) to claim a host keeps it.
                config
                    .hosts
                    .entry(host.clone())
                    .or_insert_with(|| route.clone());
            }
        }
        self.tx.send_if_modified(|cur| {
            if **cur == config {
                false
            } else {
                *cur = Arc::new(config);
                true
            }
        });
    }
}

/// Removes deleted Routes from the routing table (the Route controller never sees a
/// deleted object).
pub(crate) async fn forget_deleted_routes(ctx: Arc<Ctx>) {
    let api: Api<Route> = Api::all(ctx.client.clone());
    let mut events = watcher(api, watcher::Config::default()).boxed();
    let mut listing: BTreeSet<(String, String, String)> = BTreeSet::new();
    while let Some(ev) = events.next().await {
        match ev {
            Ok(watcher::Event::Delete(r)) => ctx.routes.remove(
                r.metadata.namespace.as_deref().unwrap_or_default(),
                r.metadata.name.as_deref().unwrap_or_default(),
                r.metadata.uid.as_deref(),
            ),
            Ok(watcher::Event::Init) => listing.clear(),
            Ok(watcher::Event::InitApply(r)) => {
                listing.insert(identity(&r.metadata));
            }
            Ok(watcher::Event::InitDone) => ctx.routes.retain(&listing),
            Ok(watcher::Event::Apply(_)) => {}
            Err(e) => {
                tracing::debug!(error = %e, "route watch failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

fn identity(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> (String, String, String) {
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
        meta.uid.clone().unwrap_or_default(),
    )
}

/// Keeps `tx` equal to the ready instances of every existing Revision, recomputed on
/// each runtime event and each Revision change.
pub(crate) async fn publish_endpoints(ctx: Arc<Ctx>, tx: watch::Sender<Arc<Endpoints>>) {
    let api: Api<Revision> = Api::all(ctx.client.clone());
    let (reader, writer) = reflector::store();
    let mut revisions = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .boxed();
    let mut runtime_events = ctx.runtime.subscribe();
    let mut runtime_open = true;
    loop {
        tokio::select! {
            ev = revisions.next() => match ev {
                Some(Ok(_)) => {}
                Some(Err(e)) => tracing::debug!(error = %e, "revision watch failed; retrying"),
                None => return,
            },
            ev = runtime_events.recv(), if runtime_open => match ev {
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => runtime_open = false,
            },
        }
        let next = endpoints(&ctx, &reader);
        tx.send_if_modified(|cur| {
            if **cur == next {
                false
            } else {
                *cur = Arc::new(next);
                true
            }
        });
    }
}

/// Endpoints of every revision that exists and is not being deleted: its ready
/// instances (none when scaled to zero or starting: the gateway then holds requests
/// until one is ready), containerConcurrency, timeout and labels.
fn endpoints(ctx: &Ctx, revisions: &reflector::Store<Revision>) -> Endpoints {
    let mut out: HashMap<RevisionKey, RevisionEndpoints> = revisions
        .state()
        .iter()
        .filter(|rev| rev.metadata.deletion_timestamp.is_none())
        .map(|rev| {
            let key = RevisionKey {
                namespace: rev.namespace().unwrap_or_default(),
                name: rev.name_any(),
            };
            (key, revision_endpoints(rev))
        })
        .collect();
    for inst in ctx.runtime.list() {
        let (Phase::Ready, Some(addr)) = (inst.phase, inst.address) else {
            continue;
        };
        let Some(rev) =
            revisions.get(&ObjectRef::new(&inst.revision.name).within(&inst.revision.namespace))
        else {
            continue;
        };
        let uid = inst.labels.get(REVISION_UID_LABEL);
        if uid.is_some() && uid != rev.metadata.uid.as_ref() {
            continue;
        }
        if let Some(ep) = out.get_mut(&inst.revision) {
            ep.addresses.push(addr);
        }
    }
    Endpoints {
        revisions: out
            .into_iter()
            .map(|(k, mut v)| {
                v.addresses.sort();
                (k, Arc::new(v))
            })
            .collect(),
    }
}

/// A revision's endpoints without addresses.
fn revision_endpoints(rev: &Revision) -> RevisionEndpoints {
    RevisionEndpoints {
        addresses: vec![],
        container_concurrency: rev.spec.container_concurrency.unwrap_or(0).max(0) as u32,
        timeout: Duration::from_secs(
            rev.spec
                .timeout_seconds
                .unwrap_or(skiff_api::admission::DEFAULT_TIMEOUT_SECONDS)
                .max(0) as u64,
        ),
        service: label(&rev.metadata, SERVICE_LABEL).to_string(),
        configuration: label(&rev.metadata, CONFIGURATION_LABEL).to_string(),
    }
}
