//! The Revision controller (knative/serving `pkg/reconciler/revision`, with the
//! Deployment layer folded in): resolves image digests once, keeps a PodAutoscaler per
//! Revision, runs as many instances on the [`skiff_runtime::Runtime`] as that
//! PodAutoscaler's `desiredScale` says (see `autoscaling`), and reports
//! `ResourcesAvailable`, `ContainerHealthy`, `Active` and `Ready` with Knative's reasons.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::Api;
use kube::api::PostParams;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::ResourceExt;
use skiff_api::autoscaling::v1alpha1::{
    PodAutoscaler, PodAutoscalerSpec, ScaleTargetRef, CONDITION_ACTIVE, REACHABILITY_REACHABLE,
    REACHABILITY_UNREACHABLE,
};
use skiff_api::v1::{Configuration, ContainerStatus, Revision, RevisionStatus, Route};
use skiff_runtime::{ImageRootfs, InstanceSpec, InstanceStatus, Phase, RevisionKey};
use tokio::sync::broadcast::error::RecvError;

use crate::conditions::{ConditionSet, Conditions, FALSE, TRUE, UNKNOWN};
use crate::instance::{prepare, serving_container};
use crate::labels::{
    annotation, controller_ref, label, parse_go_duration, pod_name, CONFIGURATION_LABEL,
    LAST_APPLIED_ANNOTATION, PROGRESS_DEADLINE_ANNOTATION, REVISION_LABEL, REVISION_UID_LABEL,
};
use crate::{Ctx, Error};

/// `ResourcesAvailable`.
pub const RESOURCES_AVAILABLE: &str = "ResourcesAvailable";
/// `ContainerHealthy`.
pub const CONTAINER_HEALTHY: &str = "ContainerHealthy";
/// `Active` (outside the Ready set: a scaled-to-zero Revision stays Ready).
pub const ACTIVE: &str = "Active";

const SET: ConditionSet = ConditionSet {
    dependents: &[CONTAINER_HEALTHY, RESOURCES_AVAILABLE],
};

/// How often to look again at a Revision waiting for its first ready instance (runtime
/// events usually come first; this bounds how late a progress deadline is noticed).
const PENDING_RECHECK: Duration = Duration::from_secs(1);
/// How soon to retry a failed digest resolution or image pull.
const IMAGE_RETRY: Duration = Duration::from_secs(30);

/// Runs the Revision controller until the task is aborted. A Revision is reconciled
/// when it changes, when a Route or Configuration of its namespace changes (traffic and
/// "latest created" decide its scale), and when the runtime reports on its instances.
pub(crate) async fn run(ctx: Arc<Ctx>) {
    let client = ctx.client.clone();
    let controller = Controller::new(
        Api::<Revision>::all(client.clone()),
        watcher::Config::default(),
    );
    let (s1, s2, s3) = (controller.store(), controller.store(), controller.store());
    let runtime_events = futures::stream::unfold(
        (ctx.runtime.subscribe(), s3),
        |(mut rx, store)| async move {
            let refs = match rx.recv().await {
                Ok(st) => vec![ObjectRef::new(&st.revision.name).within(&st.revision.namespace)],
                Err(RecvError::Lagged(_)) => store
                    .state()
                    .iter()
                    .map(|r| ObjectRef::from_obj(&**r))
                    .collect(),
                Err(RecvError::Closed) => return None,
            };
            Some((futures::stream::iter(refs), (rx, store)))
        },
    )
    .flatten();
    controller
        .owns(
            Api::<PodAutoscaler>::all(client.clone()),
            watcher::Config::default(),
        )
        .watches(
            Api::<Route>::all(client.clone()),
            watcher::Config::default(),
            move |r: Route| revisions_where(&s1, |rev| rev.namespace() == r.namespace()),
        )
        .watches(
            Api::<Configuration>::all(client),
            watcher::Config::default(),
            move |c: Configuration| {
                revisions_where(&s2, |rev| {
                    rev.namespace() == c.namespace()
                        && label(&rev.metadata, CONFIGURATION_LABEL) == c.name_any()
                })
            },
        )
        .reconcile_on(runtime_events)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| futures::future::ready(()))
        .await;
}

fn revisions_where(
    store: &Store<Revision>,
    f: impl Fn(&Revision) -> bool,
) -> Vec<ObjectRef<Revision>> {
    store
        .state()
        .iter()
        .filter(|r| f(r))
        .map(|r| ObjectRef::from_obj(&**r))
        .collect()
}

fn error_policy(r: Arc<Revision>, err: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::debug!(revision = %r.name_any(), error = %err, "revision reconcile failed");
    Action::requeue(Duration::from_millis(500))
}

/// `repo@digest` for `image` (tag dropped) and a `sha256:…` digest.
pub fn digested_reference(image: &str, digest: &str) -> String {
    let repo = image.split('@').next().unwrap_or(image);
    let (path, last) = match repo.rsplit_once('/') {
        Some((p, l)) => (Some(p), l),
        None => (None, repo),
    };
    let last = last.split(':').next().unwrap_or(last);
    match path {
        Some(p) => format!("{p}/{last}@{digest}"),
        None => format!("{last}@{digest}"),
    }
}

/// What one reconcile wants to say about the Revision's resources.
struct Outcome {
    requeue: Duration,
}

async fn reconcile(rev: Arc<Revision>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = rev.namespace().unwrap_or_default();
    let name = rev.name_any();
    let key = RevisionKey {
        namespace: ns.clone(),
        name: name.clone(),
    };
    if rev.metadata.deletion_timestamp.is_some() {
        stop_all(&ctx, instances_of(&ctx, &key)).await;
        return Ok(Action::await_change());
    }
    let mut status: RevisionStatus = rev.status.clone().unwrap_or_default();
    let mut list = status.status.conditions.take().unwrap_or_default();
    let mut conds = Conditions::new(&mut list, ctx.options.clock.now());
    conds.initialize(&SET);

    let outcome = reconcile_instances(&rev, &ctx, &key, &mut status, &mut conds).await;
    conds.recompute(&SET);
    status.status.conditions = Some(list);
    status.status.observed_generation = rev.metadata.generation;
    let api: Api<Revision> = Api::namespaced(ctx.client.clone(), &ns);
    crate::status::write(&api, &name, rev.status.as_ref(), &status).await?;
    Ok(Action::requeue(outcome?.requeue))
}

async fn reconcile_instances(
    rev: &Revision,
    ctx: &Ctx,
    key: &RevisionKey,
    status: &mut RevisionStatus,
    conds: &mut Conditions<'_>,
) -> Result<Outcome, Error> {
    let uid = rev.uid().unwrap_or_default();
    let mut secrets: Option<Vec<Secret>> = None;

    // 1. Digests: resolved once, then used forever (the Revision is immutable).
    let containers = &rev.spec.containers;
    if status.container_statuses.as_ref().map_or(0, Vec::len) != containers.len() {
        let secrets = pull_secrets_cached(ctx, rev, &mut secrets).await?;
        let mut resolved = vec![];
        for c in containers {
            let image = c.image.clone().unwrap_or_default();
            match ctx.images.resolve(&image, &secrets).await {
                Ok(digest) => resolved.push(ContainerStatus {
                    name: Some(c.name.clone()),
                    image_digest: Some(digested_reference(&image, &digest)),
                }),
                Err(msg) => {
                    conds.set(
                        CONTAINER_HEALTHY,
                        FALSE,
                        "ContainerMissing",
                        &format!("Unable to fetch image {image:?}: {msg}"),
                    );
                    return Ok(Outcome {
                        requeue: IMAGE_RETRY,
                    });
                }
            }
        }
        status.container_statuses = Some(resolved);
        if conds
            .get(CONTAINER_HEALTHY)
            .is_some_and(|c| c.reason.as_deref() == Some("ContainerMissing"))
        {
            conds.set(CONTAINER_HEALTHY, UNKNOWN, "", "");
        }
    }

    // 2. How many instances: what the PodAutoscaler decided, while a route sends the
    //    revision traffic or it is its Configuration's latest (it must become ready);
    //    none otherwise. Before the autoscaler's first decision, the initial scale.
    let reachable = takes_traffic(ctx, rev).await? || is_latest_created(ctx, rev).await?;
    let pa = ensure_pod_autoscaler(ctx, rev, reachable).await?;
    let initial_scale = {
        let config = ctx.autoscaler_config.borrow().clone();
        crate::autoscaling::scaling_of(&pa, &config).initial_scale as usize
    };
    let pa_status = pa.status.as_ref();
    let desired = if !reachable {
        0
    } else {
        pa_status
            .and_then(|s| s.desired_scale)
            .map_or(initial_scale, |d| d.max(0) as usize)
    };
    let pa_active = pa_status
        .and_then(|s| s.status.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == CONDITION_ACTIVE))
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        });

    // 3. Converge the runtime.
    let gone: Vec<InstanceStatus> = ctx
        .runtime
        .list()
        .into_iter()
        .filter(|inst| {
            let stale = inst.revision == *key
                && inst
                    .labels
                    .get(REVISION_UID_LABEL)
                    .is_some_and(|u| *u != uid);
            stale || (inst.revision == *key && inst.phase == Phase::Terminated)
        })
        .collect();
    stop_all(ctx, gone).await;
    let mut live = instances_of(ctx, key);
    let mut blocked = None;
    if live.len() < desired {
        match start_instances(ctx, rev, status, &mut secrets, desired - live.len()).await? {
            Ok(()) => {}
            Err((reason, message)) => {
                conds.set(RESOURCES_AVAILABLE, FALSE, reason, &message);
                // Retry soon: a missing ConfigMap may appear any moment; pulls are dearer.
                blocked = Some(if reason == "ImagePullBackOff" {
                    IMAGE_RETRY
                } else {
                    PENDING_RECHECK
                });
            }
        }
        live = instances_of(ctx, key);
    } else if live.len() > desired {
        // Stop the ones not serving first.
        live.sort_by_key(|i| i.phase == Phase::Ready);
        let excess = live.len() - desired;
        stop_all(ctx, live.drain(..excess).collect()).await;
    }

    // 4. Report.
    let ready = live.iter().filter(|i| i.phase == Phase::Ready).count();
    status.actual_replicas = Some(ready as i32);
    status.desired_replicas = Some(desired as i32);
    let mut requeue = blocked.unwrap_or(ctx.options.resync);
    if ready > 0 {
        conds.set(RESOURCES_AVAILABLE, TRUE, "", "");
        conds.set(CONTAINER_HEALTHY, TRUE, "", "");
        conds.set_with_severity(ACTIVE, TRUE, "", "", Some("Info"));
    } else if desired == 0 {
        // The autoscaler's reason when it scaled to zero (NoTraffic, TimedOut);
        // NoTraffic for a revision no route references.
        let (reason, message) = pa_active
            .filter(|(status, reason, _)| status == FALSE && !reason.is_empty())
            .map(|(_, reason, message)| (reason, message))
            .unwrap_or_else(|| {
                (
                    "NoTraffic".into(),
                    "The target is not receiving traffic.".into(),
                )
            });
        conds.set_with_severity(ACTIVE, FALSE, &reason, &message, Some("Info"));
        if reachable && initial_scale == 0 && !conds.is_false(RESOURCES_AVAILABLE) {
            // initial-scale 0 (allow-zero-initial-scale): the scale target is
            // initialised at zero, as Knative's PodAutoscaler says.
            conds.set(RESOURCES_AVAILABLE, TRUE, "", "");
            if !conds.is_false(CONTAINER_HEALTHY) {
                conds.set(CONTAINER_HEALTHY, TRUE, "", "");
            }
        }
    } else {
        match pa_active.filter(|(status, reason, _)| status == UNKNOWN && !reason.is_empty()) {
            // Scaling from zero: the autoscaler's reason (Queued).
            Some((_, reason, message)) if conds.is_true(RESOURCES_AVAILABLE) => {
                conds.set_with_severity(ACTIVE, UNKNOWN, &reason, &message, Some("Info"))
            }
            _ => conds.set_with_severity(ACTIVE, UNKNOWN, "Deploying", "", Some("Info")),
        }
        match live.iter().find_map(crash) {
            Some((reason, message)) => conds.set(CONTAINER_HEALTHY, FALSE, &reason, &message),
            None if !conds.is_true(CONTAINER_HEALTHY) => {
                conds.set(CONTAINER_HEALTHY, UNKNOWN, "", "")
            }
            None => {}
        }
        if blocked.is_none() && !conds.is_true(RESOURCES_AVAILABLE) {
            let deadline = progress_deadline(ctx, rev);
            let created = rev
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| t.0)
                .unwrap_or_else(|| ctx.options.clock.now());
            let elapsed = ctx
                .options
                .clock
                .now()
                .duration_since(created)
                .unsigned_abs();
            if elapsed >= deadline {
                conds.set(
                    RESOURCES_AVAILABLE,
                    FALSE,
                    "ProgressDeadlineExceeded",
                    "Initial scale was never achieved",
                );
            } else {
                conds.set(RESOURCES_AVAILABLE, UNKNOWN, "Deploying", "");
                requeue = (deadline - elapsed).min(PENDING_RECHECK);
            }
        }
    }
    Ok(Outcome { requeue })
}

/// Knative's `ExitCode<N>` reason and `Container failed with: …` message for an
/// instance whose container has exited since it started.
fn crash(inst: &InstanceStatus) -> Option<(String, String)> {
    let exit = inst.last_exit.as_ref()?;
    if inst.phase != Phase::CrashLoop && inst.restarts == 0 {
        return None;
    }
    let detail = if !exit.message.is_empty() {
        exit.message.clone()
    } else if exit.exit_code == 0 {
        "container exited with no error".to_string()
    } else {
        exit.reason.clone()
    };
    Some((
        format!("ExitCode{}", exit.exit_code),
        format!("Container failed with: {detail}"),
    ))
}

/// Starts `n` instances; `Ok(Err((reason, message)))` when they cannot be described or
/// started (missing ConfigMap, image pull failure, runtime refusal).
async fn start_instances(
    ctx: &Ctx,
    rev: &Revision,
    status: &RevisionStatus,
    secrets: &mut Option<Vec<Secret>>,
    n: usize,
) -> Result<Result<(), (&'static str, String)>, Error> {
    let prepared = match prepare(&ctx.client, rev).await? {
        Ok(p) => p,
        Err(e) => return Ok(Err((e.reason, e.message))),
    };
    let container_name = serving_container(&rev.spec)
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let Some(image_ref) = status
        .container_statuses
        .iter()
        .flatten()
        .find(|c| c.name.as_deref() == Some(container_name.as_str()))
        .and_then(|c| c.image_digest.clone())
    else {
        return Ok(Err((
            "ContainerMissing",
            format!("no resolved image for container {container_name:?}"),
        )));
    };
    let image = match pull(ctx, rev, &image_ref, secrets).await? {
        Ok(i) => i,
        Err(msg) => return Ok(Err(("ImagePullBackOff", msg))),
    };
    let uid = rev.uid().unwrap_or_default();
    for _ in 0..n {
        let spec = InstanceSpec {
            revision: RevisionKey {
                namespace: rev.namespace().unwrap_or_default(),
                name: rev.name_any(),
            },
            pod_name: pod_name(&rev.name_any(), &uid),
            labels: prepared.labels.clone(),
            image: image.clone(),
            container: prepared.container.clone(),
            port: prepared.port,
            platform_env: prepared.platform_env.clone(),
            file_mounts: prepared.file_mounts.clone(),
        };
        if let Err(e) = ctx.runtime.start(spec).await {
            return Ok(Err(("CreateContainerError", e.to_string())));
        }
    }
    Ok(Ok(()))
}

async fn pull(
    ctx: &Ctx,
    rev: &Revision,
    image_ref: &str,
    secrets: &mut Option<Vec<Secret>>,
) -> Result<Result<ImageRootfs, String>, Error> {
    if let Some(i) = ctx.image_cache.lock().unwrap().get(image_ref) {
        return Ok(Ok(i.clone()));
    }
    let secrets = pull_secrets_cached(ctx, rev, secrets).await?;
    Ok(match ctx.images.pull(image_ref, &secrets).await {
        Ok(i) => {
            ctx.image_cache
                .lock()
                .unwrap()
                .insert(image_ref.to_string(), i.clone());
            Ok(i)
        }
        Err(e) => Err(format!("Unable to fetch image {image_ref:?}: {e}")),
    })
}

async fn pull_secrets_cached(
    ctx: &Ctx,
    rev: &Revision,
    cache: &mut Option<Vec<Secret>>,
) -> Result<Vec<Secret>, Error> {
    if cache.is_none() {
        *cache = Some(pull_secrets(ctx, rev).await?);
    }
    Ok(cache.clone().unwrap_or_default())
}

/// The Revision's `imagePullSecrets` plus its service account's, as Kubernetes uses
/// them; missing ones are skipped (as kubelet does).
async fn pull_secrets(ctx: &Ctx, rev: &Revision) -> Result<Vec<Secret>, Error> {
    let ns = rev.namespace().unwrap_or_default();
    let mut names: BTreeSet<String> = rev
        .spec
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|r| r.name.clone())
        .collect();
    let sa_name = rev
        .spec
        .service_account_name
        .clone()
        .unwrap_or_else(|| "default".into());
    let sas: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
    if let Ok(Some(sa)) = sas.get_opt(&sa_name).await {
        names.extend(sa.image_pull_secrets.into_iter().flatten().map(|r| r.name));
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let mut out = vec![];
    for n in names.into_iter().filter(|n| !n.is_empty()) {
        if let Some(s) = api.get_opt(&n).await? {
            out.push(s);
        }
    }
    Ok(out)
}

/// Whether any Route of the namespace sends (or is asked to send) traffic to `rev`.
async fn takes_traffic(ctx: &Ctx, rev: &Revision) -> Result<bool, Error> {
    let name = rev.name_any();
    let routes: Api<Route> =
        Api::namespaced(ctx.client.clone(), &rev.namespace().unwrap_or_default());
    let list = routes.list(&Default::default()).await?;
    Ok(list.items.iter().any(|r| {
        let in_status = r
            .status
            .as_ref()
            .and_then(|s| s.route.traffic.as_ref())
            .into_iter()
            .flatten();
        let in_spec = r.spec.traffic.iter().flatten();
        in_status
            .chain(in_spec)
            .any(|t| t.revision_name.as_deref() == Some(name.as_str()))
    }))
}

/// Whether `rev` is its Configuration's latest created Revision (so it must run to
/// become ready).
async fn is_latest_created(ctx: &Ctx, rev: &Revision) -> Result<bool, Error> {
    let config = label(&rev.metadata, CONFIGURATION_LABEL);
    if config.is_empty() {
        return Ok(false);
    }
    let api: Api<Configuration> =
        Api::namespaced(ctx.client.clone(), &rev.namespace().unwrap_or_default());
    Ok(api.get_opt(config).await?.is_some_and(|c| {
        c.status
            .and_then(|s| s.configuration.latest_created_revision_name)
            .is_some_and(|n| n == rev.name_any())
    }))
}

/// The Revision's PodAutoscaler (Knative's `makePA`): created if missing, its spec
/// and annotations kept in step with the Revision and its reachability.
async fn ensure_pod_autoscaler(
    ctx: &Ctx,
    rev: &Revision,
    reachable: bool,
) -> Result<PodAutoscaler, Error> {
    let ns = rev.namespace().unwrap_or_default();
    let name = rev.name_any();
    let api: Api<PodAutoscaler> = Api::namespaced(ctx.client.clone(), &ns);
    let spec = PodAutoscalerSpec {
        container_concurrency: rev.spec.container_concurrency.unwrap_or(0),
        scale_target_ref: ScaleTargetRef {
            api_version: Some("apps/v1".into()),
            kind: Some("Deployment".into()),
            name: Some(format!("{name}-deployment")),
        },
        reachability: Some(
            if reachable {
                REACHABILITY_REACHABLE
            } else {
                REACHABILITY_UNREACHABLE
            }
            .into(),
        ),
        protocol_type: Some("http1".into()),
    };
    let mut annotations = rev.metadata.annotations.clone().unwrap_or_default();
    annotations.remove(LAST_APPLIED_ANNOTATION);
    let mut labels = rev.metadata.labels.clone().unwrap_or_default();
    labels.insert(REVISION_LABEL.into(), name.clone());
    labels.insert(REVISION_UID_LABEL.into(), rev.uid().unwrap_or_default());
    match api.get_opt(&name).await? {
        Some(pa)
            if pa.spec == spec
                && pa.metadata.annotations.clone().unwrap_or_default() == annotations =>
        {
            Ok(pa)
        }
        Some(mut pa) => {
            pa.spec = spec;
            pa.metadata.annotations = Some(annotations);
            Ok(api.replace(&name, &PostParams::default(), &pa).await?)
        }
        None => {
            let pa = PodAutoscaler {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    namespace: Some(ns),
                    labels: Some(labels),
                    annotations: Some(annotations),
                    owner_references: Some(vec![controller_ref(rev)]),
                    ..Default::default()
                },
                spec,
                status: None,
            };
            Ok(api.create(&PostParams::default(), &pa).await?)
        }
    }
}

fn progress_deadline(ctx: &Ctx, rev: &Revision) -> Duration {
    annotation(&rev.metadata, PROGRESS_DEADLINE_ANNOTATION)
        .and_then(parse_go_duration)
        .unwrap_or(ctx.options.progress_deadline)
}

/// The runtime's live (not terminated) instances of one Revision.
fn instances_of(ctx: &Ctx, key: &RevisionKey) -> Vec<InstanceStatus> {
    ctx.runtime
        .list()
        .into_iter()
        .filter(|i| i.revision == *key && i.phase != Phase::Terminated)
        .collect()
}

/// Stops instances concurrently: each stop drains its instance first (about a
/// second), which must not add up over many instances.
async fn stop_all(ctx: &Ctx, instances: Vec<InstanceStatus>) {
    futures::future::join_all(instances.iter().map(|inst| stop(ctx, &inst.id))).await;
}

async fn stop(ctx: &Ctx, id: &str) {
    match ctx.runtime.stop(id).await {
        Ok(()) | Err(skiff_runtime::RuntimeError::NotFound(_)) => {}
        Err(e) => tracing::warn!(instance = %id, error = %e, "stopping an instance failed"),
    }
}

/// Stops instances whose Revision no longer exists (deleted directly or by garbage
/// collection of its Configuration/Service), or was replaced by a namesake. Runs on
/// every Revision deletion, every runtime event and every 30 s; each candidate is
/// confirmed with a fresh read so a lagging watch never stops a new Revision.
pub(crate) async fn sweep_orphans(ctx: Arc<Ctx>) {
    let api: Api<Revision> = Api::all(ctx.client.clone());
    let mut deletions = watcher(api, watcher::Config::default()).boxed();
    let mut runtime_events = ctx.runtime.subscribe();
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            ev = deletions.next() => match ev {
                Some(Ok(watcher::Event::Delete(_))) | Some(Ok(watcher::Event::InitDone)) => {}
                Some(Ok(_)) => continue,
                Some(Err(_)) => { tokio::time::sleep(Duration::from_millis(500)).await; continue; }
                None => return,
            },
            ev = runtime_events.recv() => match ev {
                Ok(st) if st.phase == Phase::Terminated => continue,
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => runtime_events = ctx.runtime.subscribe(),
            },
        }
        sweep(&ctx).await;
    }
}

async fn sweep(ctx: &Ctx) {
    let mut by_rev: BTreeMap<RevisionKey, Vec<InstanceStatus>> = BTreeMap::new();
    for inst in ctx.runtime.list() {
        if inst.phase != Phase::Terminated {
            by_rev.entry(inst.revision.clone()).or_default().push(inst);
        }
    }
    for (key, instances) in by_rev {
        let api: Api<Revision> = Api::namespaced(ctx.client.clone(), &key.namespace);
        let uid = match api.get_opt(&key.name).await {
            Ok(Some(r)) if r.metadata.deletion_timestamp.is_none() => r.metadata.uid,
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(error = %e, "orphan sweep could not read a revision");
                continue;
            }
        };
        let orphans: Vec<InstanceStatus> = instances
            .into_iter()
            .filter(|inst| match (&uid, inst.labels.get(REVISION_UID_LABEL)) {
                (None, _) => true,
                (Some(u), Some(iu)) => u != iu,
                (Some(_), None) => false,
            })
            .inspect(|inst| {
                tracing::info!(revision = %key.name, pod = %inst.pod_name, "stopping an instance of a deleted revision");
            })
            .collect();
        stop_all(ctx, orphans).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(
            digested_reference("localhost:5000/app:v1", "sha256:ab"),
            "localhost:5000/app@sha256:ab"
        );
        assert_eq!(digested_reference("app", "sha256:ab"), "app@sha256:ab");
        assert_eq!(
            digested_reference("ghcr.io/x/app@sha256:00", "sha256:ab"),
            "ghcr.io/x/app@sha256:ab"
        );
    }
}
