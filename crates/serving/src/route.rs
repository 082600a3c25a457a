//! The Route controller (knative/serving `pkg/reconciler/route`): resolves traffic
//! targets to revisions, reports URLs, and programs the gateway's routing table.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::ResourceExt;
use skiff_api::v1::{Addressable, Configuration, Revision, Route, RouteStatus, TrafficTarget};
use skiff_gateway::config::{HostRoute, Split};
use skiff_runtime::RevisionKey;

use crate::conditions::{ConditionSet, Conditions, FALSE, READY, TRUE, UNKNOWN};
use crate::configuration::revision_ready;
use crate::domain::{http_url, is_cluster_local, route_host, tag_host, CLUSTER_LOCAL_DOMAIN};
use crate::{Ctx, Error};

/// `AllTrafficAssigned`.
pub const ALL_TRAFFIC_ASSIGNED: &str = "AllTrafficAssigned";
/// `IngressReady`.
pub const INGRESS_READY: &str = "IngressReady";
/// `CertificateProvisioned`.
pub const CERTIFICATE_PROVISIONED: &str = "CertificateProvisioned";

const SET: ConditionSet = ConditionSet {
    dependents: &[ALL_TRAFFIC_ASSIGNED, INGRESS_READY, CERTIFICATE_PROVISIONED],
};

/// Runs the Route controller until the task is aborted. Routes re-reconcile when any
/// Configuration or Revision in their namespace changes, and all of them when the
/// domain configuration changes.
pub(crate) async fn run(ctx: Arc<Ctx>) {
    let client = ctx.client.clone();
    let controller = Controller::new(
        Api::<Route>::all(client.clone()),
        watcher::Config::default(),
    );
    let (s1, s2) = (controller.store(), controller.store());
    let domain_changes = futures::stream::unfold(ctx.domain.clone(), |mut rx| async move {
        rx.changed().await.ok()?;
        Some(((), rx))
    });
    controller
        .watches(
            Api::<Configuration>::all(client.clone()),
            watcher::Config::default(),
            move |c: Configuration| routes_in(&s1, c.namespace()),
        )
        .watches(
            Api::<Revision>::all(client),
            watcher::Config::default(),
            move |r: Revision| routes_in(&s2, r.namespace()),
        )
        .reconcile_all_on(domain_changes)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn routes_in(store: &Store<Route>, ns: Option<String>) -> Vec<ObjectRef<Route>> {
    store
        .state()
        .iter()
        .filter(|r| r.namespace() == ns)
        .map(|r| ObjectRef::from_obj(&**r))
        .collect()
}

fn error_policy(r: Arc<Route>, err: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::debug!(route = %r.name_any(), error = %err, "route reconcile failed");
    Action::requeue(std::time::Duration::from_millis(500))
}

/// A traffic target that cannot be assigned yet (Unknown) or at all (False).
struct TargetError {
    status: &'static str,
    reason: &'static str,
    message: String,
}

async fn reconcile(route: Arc<Route>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = route.namespace().unwrap_or_default();
    let name = route.name_any();
    let uid = route.uid().unwrap_or_default();
    if route.metadata.deletion_timestamp.is_some() {
        ctx.routes.remove(&ns, &name, Some(&uid));
        label_revisions(&ctx, &ns, &name, &[]).await?;
        return Ok(Action::await_change());
    }
    let labels: BTreeMap<String, String> = route.labels().clone();
    let cluster_local = is_cluster_local(&labels);
    let domain = ctx
        .domain
        .borrow()
        .domain_for(&labels)
        .unwrap_or_else(|| ctx.options.domain.clone());
    let port = if cluster_local {
        None
    } else {
        ctx.options.url_port
    };

    let mut status: RouteStatus = route.status.clone().unwrap_or_default();
    let mut list = status.status.conditions.take().unwrap_or_default();
    let mut conds = Conditions::new(&mut list, ctx.options.clock.now());
    conds.initialize(&SET);
    status.route.url = Some(http_url(&route_host(&name, &ns, &domain), port));
    status.route.address = Some(Addressable {
        name: None,
        url: Some(http_url(
            &route_host(&name, &ns, CLUSTER_LOCAL_DOMAIN),
            None,
        )),
    });

    match resolve(&route, &ctx, &ns).await? {
        Err(e) => {
            // Keep serving what was resolved before (Knative leaves the ingress alone).
            conds.set(ALL_TRAFFIC_ASSIGNED, e.status, e.reason, &e.message);
        }
        Ok(mut targets) => {
            for t in &mut targets {
                t.url = t
                    .tag
                    .as_ref()
                    .map(|tag| http_url(&tag_host(tag, &name, &ns, &domain), port));
            }
            conds.set(ALL_TRAFFIC_ASSIGNED, TRUE, "", "");
            let hosts = if cluster_local {
                vec![]
            } else {
                gateway_hosts(&ns, &name, &domain, &targets)
            };
            ctx.routes.set(&ns, &name, &uid, hosts);
            label_revisions(&ctx, &ns, &name, &targets).await?;
            status.route.traffic = Some(targets);
            conds.set(INGRESS_READY, TRUE, "", "");
        }
    }
    conds.set(
        CERTIFICATE_PROVISIONED,
        TRUE,
        "TLSNotEnabled",
        if cluster_local {
            "TLS is not enabled for cluster-local"
        } else {
            "external-domain-tls is not enabled"
        },
    );
    conds.recompute(&SET);
    status.status.conditions = Some(list);
    status.status.observed_generation = route.metadata.generation;
    let api: Api<Route> = Api::namespaced(ctx.client.clone(), &ns);
    crate::status::write(&api, &name, route.status.as_ref(), &status).await?;
    Ok(Action::requeue(ctx.options.resync))
}

/// Knative's traffic configuration: every target by revision name; the first target
/// that cannot be resolved decides the condition.
async fn resolve(
    route: &Route,
    ctx: &Ctx,
    ns: &str,
) -> Result<Result<Vec<TrafficTarget>, TargetError>, Error> {
    let revisions: Api<Revision> = Api::namespaced(ctx.client.clone(), ns);
    let configs: Api<Configuration> = Api::namespaced(ctx.client.clone(), ns);
    let mut out = vec![];
    for t in route.spec.traffic.iter().flatten() {
        let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let (revision_name, latest) = if let Some(rev_name) = nonempty(&t.revision_name) {
            let Some(rev) = revisions.get_opt(&rev_name).await? else {
                return Ok(Err(TargetError {
                    status: FALSE,
                    reason: "RevisionMissing",
                    message: format!("Revision {rev_name:?} referenced in traffic not found."),
                }));
            };
            match revision_ready(&rev) {
                Some(TRUE) => {}
                Some(FALSE) => {
                    return Ok(Err(TargetError {
                        status: FALSE,
                        reason: "RevisionMissing",
                        message: format!("Revision {rev_name:?} failed to become ready."),
                    }))
                }
                _ => {
                    return Ok(Err(TargetError {
                        status: UNKNOWN,
                        reason: "RevisionMissing",
                        message: format!("Revision {rev_name:?} is not yet ready."),
                    }))
                }
            }
            (rev_name, false)
        } else if let Some(cfg_name) = nonempty(&t.configuration_name) {
            let Some(config) = configs.get_opt(&cfg_name).await? else {
                return Ok(Err(TargetError {
                    status: FALSE,
                    reason: "ConfigurationMissing",
                    message: format!("Configuration {cfg_name:?} referenced in traffic not found."),
                }));
            };
            let st = config.status.clone().unwrap_or_default();
            match st.configuration.latest_ready_revision_name {
                Some(ready) => (ready, true),
                None => {
                    let failed = st
                        .status
                        .conditions
                        .iter()
                        .flatten()
                        .any(|c| c.type_ == READY && c.status == FALSE);
                    return Ok(Err(if failed {
                        TargetError {
                            status: FALSE,
                            reason: "RevisionMissing",
                            message: format!(
                                "Configuration {cfg_name:?} does not have any ready Revision."
                            ),
                        }
                    } else {
                        TargetError {
                            status: UNKNOWN,
                            reason: "RevisionMissing",
                            message: format!(
                                "Configuration {cfg_name:?} is waiting for a Revision to become ready."
                            ),
                        }
                    }));
                }
            }
        } else {
            continue;
        };
        out.push(TrafficTarget {
            tag: t.tag.clone(),
            revision_name: Some(revision_name),
            configuration_name: None,
            latest_revision: Some(latest),
            percent: t.percent,
            url: None,
        });
    }
    Ok(Ok(out))
}

/// The public hosts of a resolved Route: its own host split by percent (targets with the
/// same revision merged), and one host per tag sending everything to that revision.
fn gateway_hosts(
    ns: &str,
    name: &str,
    domain: &str,
    targets: &[TrafficTarget],
) -> Vec<(String, HostRoute)> {
    let key = |t: &TrafficTarget| RevisionKey {
        namespace: ns.to_string(),
        name: t.revision_name.clone().unwrap_or_default(),
    };
    let mut splits: Vec<Split> = vec![];
    for t in targets {
        let percent = t.percent.unwrap_or(0).clamp(0, 100) as u32;
        if percent == 0 {
            continue;
        }
        match splits.iter_mut().find(|s| s.revision == key(t)) {
            Some(s) => s.percent += percent,
            None => splits.push(Split {
                revision: key(t),
                percent,
            }),
        }
    }
    let mut hosts = vec![];
    if !splits.is_empty() {
        hosts.push((
            route_host(name, ns, domain).to_ascii_lowercase(),
            HostRoute {
                namespace: ns.to_string(),
                route: name.to_string(),
                tag: None,
                splits,
            },
        ));
    }
    for t in targets {
        if let Some(tag) = &t.tag {
            hosts.push((
                tag_host(tag, name, ns, domain).to_ascii_lowercase(),
                HostRoute {
                    namespace: ns.to_string(),
                    route: name.to_string(),
                    tag: Some(tag.clone()),
                    splits: vec![Split {
                        revision: key(t),
                        percent: 100,
                    }],
                },
            ));
        }
    }
    hosts
}

/// Knative's route labeler: every Revision of the namespace lists the Routes that send
/// it traffic (`serving.knative.dev/routes`) and carries `routingState` `active` while
/// one does, `reserve` once none does, with the time of the last change.
async fn label_revisions(
    ctx: &Ctx,
    ns: &str,
    route: &str,
    targets: &[TrafficTarget],
) -> Result<(), Error> {
    use crate::labels::{
        ROUTES_ANNOTATION, ROUTING_STATE_LABEL, ROUTING_STATE_MODIFIED_ANNOTATION,
    };
    let api: Api<Revision> = Api::namespaced(ctx.client.clone(), ns);
    let routed: std::collections::BTreeSet<&str> = targets
        .iter()
        .filter_map(|t| t.revision_name.as_deref())
        .collect();
    for rev in api.list(&Default::default()).await?.items {
        let rev_name = rev.name_any();
        let mut routes: std::collections::BTreeSet<String> = rev
            .annotations()
            .get(ROUTES_ANNOTATION)
            .map(|v| {
                v.split(',')
                    .filter(|r| !r.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let had = routes.contains(route);
        let wants = routed.contains(rev_name.as_str());
        if had == wants && rev.labels().contains_key(ROUTING_STATE_LABEL) {
            continue;
        }
        if !had && !wants {
            // Never routed by this Route: another Route's business (or pending).
            continue;
        }
        if wants {
            routes.insert(route.to_string());
        } else {
            routes.remove(route);
        }
        let state = if routes.is_empty() {
            "reserve"
        } else {
            "active"
        };
        let mut annotations = serde_json::Map::new();
        annotations.insert(
            ROUTES_ANNOTATION.into(),
            if routes.is_empty() {
                serde_json::Value::Null
            } else {
                routes.iter().cloned().collect::<Vec<_>>().join(",").into()
            },
        );
        if rev.labels().get(ROUTING_STATE_LABEL).map(String::as_str) != Some(state) {
            annotations.insert(
                ROUTING_STATE_MODIFIED_ANNOTATION.into(),
                ctx.options.clock.now().to_string().into(),
            );
        }
        let patch = serde_json::json!({"metadata": {
            "labels": {ROUTING_STATE_LABEL: state},
            "annotations": annotations,
        }});
        api.patch(
            &rev_name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await?;
    }
    Ok(())
}
