//! The Service controller (knative/serving `pkg/reconciler/service`): a Service owns a
//! Configuration and a Route of its own name and mirrors their status.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::ResourceExt;
use skiff_api::v1::{Configuration, ConfigurationSpec, Route, RouteSpec, Service, ServiceStatus};

use crate::conditions::{ConditionSet, Conditions, FALSE, READY, TRUE, UNKNOWN};
use crate::labels::{
    controller_ref, is_controlled_by, LAST_APPLIED_ANNOTATION, SERVICE_LABEL, SERVICE_UID_LABEL,
};
use crate::{Ctx, Error};

/// `ConfigurationsReady`.
pub const CONFIGURATIONS_READY: &str = "ConfigurationsReady";
/// `RoutesReady`.
pub const ROUTES_READY: &str = "RoutesReady";

const SET: ConditionSet = ConditionSet {
    dependents: &[CONFIGURATIONS_READY, ROUTES_READY],
};

/// Runs the Service controller until the task is aborted.
pub(crate) async fn run(ctx: Arc<Ctx>) {
    let client = ctx.client.clone();
    Controller::new(
        Api::<Service>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(
        Api::<Configuration>::all(client.clone()),
        watcher::Config::default(),
    )
    .owns(Api::<Route>::all(client), watcher::Config::default())
    .run(reconcile, error_policy, ctx)
    .for_each(|_| futures::future::ready(()))
    .await;
}

fn error_policy(svc: Arc<Service>, err: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::debug!(service = %svc.name_any(), error = %err, "service reconcile failed");
    Action::requeue(std::time::Duration::from_millis(500))
}

/// Metadata of the Service's Configuration (`with_uid`) or Route, as Knative's
/// `MakeConfiguration`/`MakeRoute` (Routes carry no `serviceUID` label).
fn child_meta(svc: &Service, with_uid: bool) -> ObjectMeta {
    let mut labels: BTreeMap<String, String> = svc.labels().clone();
    labels.insert(SERVICE_LABEL.into(), svc.name_any());
    if with_uid {
        labels.insert(SERVICE_UID_LABEL.into(), svc.uid().unwrap_or_default());
    }
    let mut annotations = svc.annotations().clone();
    annotations.remove(LAST_APPLIED_ANNOTATION);
    ObjectMeta {
        name: Some(svc.name_any()),
        namespace: svc.namespace(),
        labels: Some(labels),
        annotations: (!annotations.is_empty()).then_some(annotations),
        owner_references: Some(vec![controller_ref(svc)]),
        ..Default::default()
    }
}

/// Knative's `resources.MakeRoute`: the Service's traffic, `configurationName` filled
/// in for every target without a `revisionName`.
fn route_spec(svc: &Service) -> RouteSpec {
    let traffic = svc.spec.route.traffic.clone().map(|targets| {
        targets
            .into_iter()
            .map(|mut t| {
                if t.revision_name.as_deref().unwrap_or("").is_empty() {
                    t.configuration_name = Some(svc.name_any());
                }
                t
            })
            .collect()
    });
    RouteSpec { traffic }
}

fn same_meta(a: &ObjectMeta, b: &ObjectMeta) -> bool {
    a.labels.clone().unwrap_or_default() == b.labels.clone().unwrap_or_default()
        && a.annotations.clone().unwrap_or_default() == b.annotations.clone().unwrap_or_default()
}

async fn reconcile(svc: Arc<Service>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if svc.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = svc.namespace().unwrap_or_default();
    let name = svc.name_any();
    let uid = svc.uid().unwrap_or_default();
    let mut status: ServiceStatus = svc.status.clone().unwrap_or_default();
    let mut list = status.status.conditions.take().unwrap_or_default();
    let mut conds = Conditions::new(&mut list, ctx.options.clock.now());
    conds.initialize(&SET);

    let result = reconcile_children(&svc, &ctx, &ns, &name, &uid, &mut status, &mut conds).await;
    conds.recompute(&SET);
    status.status.conditions = Some(list);
    if result.is_ok() {
        status.status.observed_generation = svc.metadata.generation;
    }
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
    crate::status::write(&api, &name, svc.status.as_ref(), &status).await?;
    result?;
    Ok(Action::requeue(ctx.options.resync))
}

async fn reconcile_children(
    svc: &Service,
    ctx: &Ctx,
    ns: &str,
    name: &str,
    uid: &str,
    status: &mut ServiceStatus,
    conds: &mut Conditions<'_>,
) -> Result<(), Error> {
    let pp = PostParams::default();
    // Configuration.
    let configs: Api<Configuration> = Api::namespaced(ctx.client.clone(), ns);
    let want_meta = child_meta(svc, true);
    let want_spec: ConfigurationSpec = svc.spec.configuration.clone();
    let config = match configs.get_opt(name).await? {
        None => {
            let c = Configuration {
                metadata: want_meta.clone(),
                spec: want_spec,
                status: None,
            };
            configs.create(&pp, &c).await?
        }
        Some(c) if !is_controlled_by(&c.metadata, uid) => {
            conds.set(
                CONFIGURATIONS_READY,
                FALSE,
                "NotOwned",
                &format!("There is an existing Configuration {name:?} that we do not own."),
            );
            return Err(Error::Other(format!(
                "service: {name:?} does not own configuration: {name:?}"
            )));
        }
        Some(mut c) => {
            if c.spec != want_spec || !same_meta(&c.metadata, &want_meta) {
                c.spec = want_spec;
                c.metadata.labels = want_meta.labels.clone();
                c.metadata.annotations = want_meta.annotations.clone();
                c = configs.replace(name, &pp, &c).await?;
            }
            c
        }
    };
    let config_status = config.status.clone().unwrap_or_default();
    if config.metadata.generation != config_status.status.observed_generation {
        conds.set(
            CONFIGURATIONS_READY,
            UNKNOWN,
            "OutOfDate",
            "The Configuration is still working to reflect the latest desired specification.",
        );
        // With a BYO revision name the Route must wait for the Configuration.
        if svc.spec.configuration.template.metadata.name.is_some() {
            return Ok(());
        }
    } else {
        status.configuration = config_status.configuration.clone();
        propagate(
            conds,
            CONFIGURATIONS_READY,
            config_status.status.conditions.as_deref(),
        );
    }

    // Route.
    let routes: Api<Route> = Api::namespaced(ctx.client.clone(), ns);
    let want_meta = child_meta(svc, false);
    let want_spec = route_spec(svc);
    let route = match routes.get_opt(name).await? {
        None => {
            let r = Route {
                metadata: want_meta.clone(),
                spec: want_spec,
                status: None,
            };
            routes.create(&pp, &r).await?
        }
        Some(r) if !is_controlled_by(&r.metadata, uid) => {
            conds.set(
                ROUTES_READY,
                FALSE,
                "NotOwned",
                &format!("There is an existing Route {name:?} that we do not own."),
            );
            return Err(Error::Other(format!(
                "service: {name:?} does not own route: {name:?}"
            )));
        }
        Some(mut r) => {
            if r.spec != want_spec || !same_meta(&r.metadata, &want_meta) {
                r.spec = want_spec;
                r.metadata.labels = want_meta.labels.clone();
                r.metadata.annotations = want_meta.annotations.clone();
                r = routes.replace(name, &pp, &r).await?;
            }
            r
        }
    };
    let route_status = route.status.clone().unwrap_or_default();
    if route.metadata.generation != route_status.status.observed_generation {
        conds.set(
            ROUTES_READY,
            UNKNOWN,
            "OutOfDate",
            "The Route is still working to reflect the latest desired specification.",
        );
    } else {
        status.route = route_status.route.clone();
        propagate(
            conds,
            ROUTES_READY,
            route_status.status.conditions.as_deref(),
        );
    }
    check_routes_not_ready(&config, &route, conds);
    Ok(())
}

/// Copies a child's `Ready` onto one of the Service's conditions.
fn propagate(conds: &mut Conditions<'_>, t: &str, child: Option<&[skiff_api::v1::Condition]>) {
    let Some(ready) = child.into_iter().flatten().find(|c| c.type_ == READY) else {
        return;
    };
    match ready.status.as_str() {
        TRUE => conds.set(t, TRUE, "", ""),
        s => conds.set(
            t,
            if s == FALSE { FALSE } else { UNKNOWN },
            ready.reason.as_deref().unwrap_or(""),
            ready.message.as_deref().unwrap_or(""),
        ),
    }
}

/// Knative's `checkRoutesNotReady`: a ready Route still serving something other than
/// what the Service asks for (e.g. not yet the latest ready revision) is not ready.
fn check_routes_not_ready(config: &Configuration, route: &Route, conds: &mut Conditions<'_>) {
    if !conds.is_true(ROUTES_READY) {
        return;
    }
    let not_yet = || {
        (
            "TrafficNotMigrated",
            "Traffic is not yet migrated to the latest revision.",
        )
    };
    let want = route.spec.traffic.clone().unwrap_or_default();
    let got = route
        .status
        .as_ref()
        .and_then(|s| s.route.traffic.clone())
        .unwrap_or_default();
    let latest_ready = config
        .status
        .as_ref()
        .and_then(|s| s.configuration.latest_ready_revision_name.clone());
    let config_name = config.name_any();
    let matches = want.len() == got.len()
        && want.iter().zip(&got).all(|(w, g)| {
            let want_rev = if w.configuration_name.as_deref() == Some(config_name.as_str()) {
                latest_ready.clone()
            } else {
                w.revision_name.clone()
            };
            want_rev == g.revision_name && w.tag == g.tag && w.percent == g.percent
        });
    if !matches {
        let (reason, message) = not_yet();
        conds.set(ROUTES_READY, UNKNOWN, reason, message);
    }
}
