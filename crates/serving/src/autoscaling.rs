//! The autoscaler (Knative's autoscaler component plus its KPA/HPA reconcilers): one
//! [`skiff_autoscaler::PodAutoscaler`] per `PodAutoscaler` object, fed every second
//! with the gateway's per-revision concurrency ([`ScalingStats`]), ticked every
//! [`TICK_INTERVAL`], at once when the gateway pokes a revision held at zero, and when
//! an instance becomes ready. Its decisions go into the PodAutoscaler's status
//! (`desiredScale`, `actualScale`, conditions), which the Revision controller turns
//! into instances, and into `/metrics` (Knative's autoscaler series).
//!
//! The settings of a revision are the `config-autoscaler` ConfigMap (followed live)
//! overridden by the PodAutoscaler's annotations (copied from the Revision).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use skiff_api::autoscaling::v1alpha1::{
    PodAutoscaler, PodAutoscalerStatus, CONDITION_ACTIVE, CONDITION_SCALE_TARGET_INITIALIZED,
    CONDITION_SKS_READY, REACHABILITY_UNREACHABLE,
};
use skiff_autoscaler::{
    AutoscalerConfig, Class, ConditionStatus, Decision, Metric, RevisionScaling, TICK_INTERVAL,
};
use skiff_gateway::{AutoscalerReport, RevisionLabels, ScalingStats};
use skiff_runtime::{Phase, RevisionKey};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::conditions::{ConditionSet, Conditions, TRUE, UNKNOWN};
use crate::labels::{label, CONFIGURATION_LABEL, SERVICE_LABEL};
use crate::Ctx;

/// Knative's name of the autoscaler ConfigMap.
pub const CONFIG_AUTOSCALER: &str = "config-autoscaler";

/// The PodAutoscaler's condition set (Knative's `podCondSet`).
const PA_SET: ConditionSet = ConditionSet {
    dependents: &[
        CONDITION_ACTIVE,
        CONDITION_SCALE_TARGET_INITIALIZED,
        CONDITION_SKS_READY,
    ],
};

/// How often the gateway's concurrency meters are read (Knative's scrape period).
const SCRAPE_INTERVAL: Duration = Duration::from_secs(1);

/// Follows `config-autoscaler`; an invalid ConfigMap keeps the last good settings.
pub(crate) async fn watch_config(ctx: Arc<Ctx>, tx: watch::Sender<Arc<AutoscalerConfig>>) {
    crate::config_map::follow_config_map(
        ctx.client.clone(),
        &ctx.options.system_namespace,
        CONFIG_AUTOSCALER,
        |data| {
            let empty = BTreeMap::new();
            match AutoscalerConfig::from_config_map(data.unwrap_or(&empty)) {
                Ok(next) => {
                    tx.send_if_modified(|cur| {
                        if **cur == next {
                            false
                        } else {
                            *cur = Arc::new(next);
                            true
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "ignoring invalid {CONFIG_AUTOSCALER}"),
            }
        },
    )
    .await;
}

/// The effective settings of a PodAutoscaler's revision.
pub(crate) fn scaling_of(pa: &PodAutoscaler, config: &AutoscalerConfig) -> RevisionScaling {
    let mut scaling = RevisionScaling::resolve(
        config,
        pa.metadata.annotations.as_ref().unwrap_or(&BTreeMap::new()),
        pa.spec.container_concurrency.max(0) as u32,
    );
    // Knative ignores min-scale for revisions no route references.
    scaling.reachable = pa.spec.reachability.as_deref() != Some(REACHABILITY_UNREACHABLE);
    scaling
}

/// One revision's autoscaler and what it needs between ticks.
struct Scaled {
    pa: skiff_autoscaler::PodAutoscaler,
    scaling: RevisionScaling,
    labels: RevisionLabels,
    next_tick: Option<Instant>,
    last_ready: u32,
    /// CPU time per instance id at the last HPA sample.
    cpu: HashMap<String, (Instant, Duration)>,
    /// The serving container's CPU request in cores (HPA class, metric cpu).
    cpu_request: Option<f64>,
}

/// Runs the autoscaler until the task is aborted.
pub(crate) async fn run(ctx: Arc<Ctx>) {
    let api: Api<PodAutoscaler> = Api::all(ctx.client.clone());
    let (store, writer) = reflector::store();
    let mut changes = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .touched_objects()
        .boxed();
    let stats = ctx.options.scaling_stats.clone();
    let mut config = ctx.autoscaler_config.clone();
    let mut runtime_events = ctx.runtime.subscribe();
    let mut scrape = tokio::time::interval(SCRAPE_INTERVAL);
    let mut tick = tokio::time::interval(TICK_INTERVAL);
    for t in [&mut scrape, &mut tick] {
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    }
    let mut states: HashMap<RevisionKey, Scaled> = HashMap::new();
    loop {
        let wake = states
            .values()
            .filter_map(|s| s.next_tick)
            .min()
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        let due: Vec<RevisionKey> = tokio::select! {
            // Revisions with more load than their scale targets are looked at right
            // after the scrape (a burst is sized within a second, not at the next tick).
            _ = scrape.tick() => record_samples(&ctx, &stats, &mut states),
            // Revisions idle at zero need no tick: a poke or a change wakes them.
            _ = tick.tick() => states
                .iter()
                .filter(|(_, s)| s.pa.desired_scale() > 0 || s.last_ready > 0)
                .map(|(k, _)| k.clone())
                .collect(),
            keys = stats.poked() => {
                let now = Instant::now();
                keys.into_iter()
                    .filter(|k| states.get_mut(k).is_some_and(|s| s.pa.poke(now)))
                    .collect()
            }
            ev = changes.next() => match ev {
                Some(Ok(pa)) => vec![key_of(&pa)],
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "podautoscaler watch failed; retrying");
                    Vec::new()
                }
                None => return,
            },
            _ = config.changed() => states.keys().cloned().collect(),
            ev = runtime_events.recv() => match ev {
                Ok(inst) => vec![inst.revision],
                Err(RecvError::Lagged(_)) => states.keys().cloned().collect(),
                Err(RecvError::Closed) => {
                    runtime_events = ctx.runtime.subscribe();
                    Vec::new()
                }
            },
            _ = tokio::time::sleep_until(wake.into()) => {
                let now = Instant::now();
                states
                    .iter()
                    .filter(|(_, s)| s.next_tick.is_some_and(|t| t <= now))
                    .map(|(k, _)| k.clone())
                    .collect()
            }
        };
        forget_deleted(&store, &stats, &mut states);
        if due.is_empty() {
            continue;
        }
        let live = instances(&ctx);
        for key in due {
            evaluate(&ctx, &store, &stats, &mut states, &live, &key).await;
        }
    }
}

fn key_of(pa: &PodAutoscaler) -> RevisionKey {
    RevisionKey {
        namespace: pa.namespace().unwrap_or_default(),
        name: pa.name_any(),
    }
}

/// Ready and all live instances of each revision, by id.
fn instances(ctx: &Ctx) -> HashMap<RevisionKey, Vec<skiff_runtime::InstanceStatus>> {
    let mut out: HashMap<RevisionKey, Vec<_>> = HashMap::new();
    for inst in ctx.runtime.list() {
        if inst.phase != Phase::Terminated {
            out.entry(inst.revision.clone()).or_default().push(inst);
        }
    }
    out
}

/// One second of traffic for every revision (zeros included: silence is data), and
/// for the HPA class the instances' resource use. Returns the revisions whose load
/// exceeds what their current scale targets.
fn record_samples(
    ctx: &Ctx,
    stats: &ScalingStats,
    states: &mut HashMap<RevisionKey, Scaled>,
) -> Vec<RevisionKey> {
    let mut under_provisioned = Vec::new();
    let now = Instant::now();
    let mut scraped: HashMap<RevisionKey, skiff_gateway::Sample> =
        stats.scrape(now).into_iter().collect();
    let live = instances(ctx);
    for (key, s) in states.iter_mut() {
        let sample = scraped.remove(key);
        let running = live.get(key).map_or(0, Vec::len);
        if sample.is_none() && running == 0 && s.pa.desired_scale() == 0 {
            // Idle at zero: nothing to learn (and no busy work per idle service).
            continue;
        }
        let (concurrency, requests) = sample.map_or((0.0, 0.0), |x| {
            let secs = x.interval.as_secs_f64().max(1e-3);
            (x.concurrency, x.requests as f64 / secs)
        });
        s.pa.record(
            now,
            skiff_autoscaler::Sample {
                concurrency,
                requests,
            },
        );
        let observed = match s.scaling.metric {
            Metric::Rps => requests,
            _ => concurrency,
        };
        if s.scaling.class == Class::Kpa
            && observed > f64::from(s.pa.desired_scale()) * s.scaling.target
        {
            under_provisioned.push(key.clone());
        }
        if s.scaling.class == Class::Hpa {
            if let Some(v) = resource_usage(ctx, s, live.get(key).map_or(&[][..], |v| v), now) {
                s.pa.record_resource_usage(now, v);
            }
        }
    }
    under_provisioned
}

/// The HPA metric of a revision: mean CPU use in % of the container's CPU request
/// (metric cpu), or mean memory per instance in MiB (metric memory).
fn resource_usage(
    ctx: &Ctx,
    s: &mut Scaled,
    instances: &[skiff_runtime::InstanceStatus],
    now: Instant,
) -> Option<f64> {
    let ready: Vec<_> = instances
        .iter()
        .filter(|i| i.phase == Phase::Ready)
        .collect();
    if ready.is_empty() {
        return None;
    }
    let mut total = 0.0;
    let mut counted = 0usize;
    let mut seen = HashMap::new();
    for inst in &ready {
        let Some(usage) = ctx.runtime.usage(&inst.id) else {
            continue;
        };
        match s.scaling.metric {
            Metric::Memory => {
                total += usage.memory_bytes as f64 / (1024.0 * 1024.0);
                counted += 1;
            }
            _ => {
                if let Some((at, cpu)) = s.cpu.get(&inst.id) {
                    let wall = now.saturating_duration_since(*at).as_secs_f64();
                    if wall > 0.0 {
                        let used = usage.cpu_time.saturating_sub(*cpu).as_secs_f64() / wall;
                        let request = s.cpu_request.unwrap_or(1.0).max(1e-3);
                        total += 100.0 * used / request;
                        counted += 1;
                    }
                }
                seen.insert(inst.id.clone(), (now, usage.cpu_time));
            }
        }
    }
    if s.scaling.metric != Metric::Memory {
        s.cpu = seen;
    }
    (counted > 0).then(|| total / counted as f64)
}

/// Drops the autoscalers of PodAutoscalers that are gone.
fn forget_deleted(
    store: &Store<PodAutoscaler>,
    stats: &ScalingStats,
    states: &mut HashMap<RevisionKey, Scaled>,
) {
    states.retain(|key, _| {
        let keep = store
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
            .is_some();
        if !keep {
            stats.forget_report(key);
        }
        keep
    });
}

/// Ticks one revision's autoscaler and publishes the decision.
async fn evaluate(
    ctx: &Ctx,
    store: &Store<PodAutoscaler>,
    stats: &ScalingStats,
    states: &mut HashMap<RevisionKey, Scaled>,
    live: &HashMap<RevisionKey, Vec<skiff_runtime::InstanceStatus>>,
    key: &RevisionKey,
) {
    let Some(pa) = store.get(&ObjectRef::new(&key.name).within(&key.namespace)) else {
        return;
    };
    if pa.metadata.deletion_timestamp.is_some() {
        return;
    }
    let config = ctx.autoscaler_config.borrow().clone();
    let scaling = scaling_of(&pa, &config);
    let ready = live
        .get(key)
        .map_or(0, |v| v.iter().filter(|i| i.phase == Phase::Ready).count()) as u32;
    let now = Instant::now();
    if !states.contains_key(key) {
        // A PodAutoscaler seen for the first time: new (no decision yet), or one this
        // process did not follow before (server restart): resume from what runs.
        let decided = pa.status.as_ref().and_then(|st| st.desired_scale);
        let pa_state = match decided {
            None => skiff_autoscaler::PodAutoscaler::new(now, &scaling),
            Some(d) => {
                skiff_autoscaler::PodAutoscaler::resume(now, &scaling, d.max(0) as u32, ready)
            }
        };
        // Read once: the Revision (and so its resources) never changes.
        let cpu_request = match scaling.class {
            Class::Hpa => cpu_request_of(ctx, key).await,
            Class::Kpa => None,
        };
        states.insert(
            key.clone(),
            Scaled {
                pa: pa_state,
                scaling: scaling.clone(),
                labels: labels_of(&pa),
                next_tick: None,
                last_ready: ready,
                cpu: HashMap::new(),
                cpu_request,
            },
        );
    }
    let Some(s) = states.get_mut(key) else {
        return;
    };
    s.scaling = scaling;
    s.last_ready = ready;
    let decision = s.pa.tick(now, ready, &s.scaling);
    s.next_tick = decision.next_tick;
    stats.report(key, s.labels.clone(), report(&decision, ready, &s.scaling));
    let status = pa_status(ctx, &pa, &decision, s.pa.scale_target_initialized(), ready);
    let api: Api<PodAutoscaler> = Api::namespaced(ctx.client.clone(), &key.namespace);
    if let Err(e) = crate::status::write(&api, &key.name, pa.status.as_ref(), &status).await {
        tracing::debug!(revision = %key.name, error = %e, "writing the podautoscaler status failed");
    }
}

/// The serving container's `resources.requests.cpu` in cores (None if unset).
async fn cpu_request_of(ctx: &Ctx, key: &RevisionKey) -> Option<f64> {
    let api: Api<skiff_api::v1::Revision> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let rev = api.get_opt(&key.name).await.ok().flatten()?;
    let container = crate::instance::serving_container(&rev.spec)?;
    let cpu = container
        .resources
        .as_ref()?
        .requests
        .as_ref()?
        .get("cpu")?;
    parse_cpu(&cpu.0)
}

/// A CPU quantity (`100m`, `0.5`, `2`) in cores.
fn parse_cpu(q: &str) -> Option<f64> {
    let q = q.trim();
    match q.strip_suffix('m') {
        Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
        None => q.parse::<f64>().ok(),
    }
}

fn labels_of(pa: &PodAutoscaler) -> RevisionLabels {
    RevisionLabels {
        namespace_name: pa.namespace().unwrap_or_default(),
        service_name: label(&pa.metadata, SERVICE_LABEL).to_string(),
        configuration_name: label(&pa.metadata, CONFIGURATION_LABEL).to_string(),
        revision_name: pa.name_any(),
    }
}

fn report(d: &Decision, ready: u32, scaling: &RevisionScaling) -> AutoscalerReport {
    AutoscalerReport {
        desired_pods: i64::from(d.desired_scale),
        actual_pods: i64::from(ready),
        panic_mode: d.panic_mode,
        stable_request_concurrency: d.stable_concurrency,
        panic_request_concurrency: d.panic_concurrency,
        target_concurrency_per_pod: scaling.target,
        excess_burst_capacity: d.excess_burst_capacity as f64,
    }
}

/// The PodAutoscaler status for a decision: scales, `Active` from the decision,
/// `ScaleTargetInitialized` once initial scale was reached, `SKSReady` (the gateway is
/// always ready to route), and `Ready` rolled up from them.
fn pa_status(
    ctx: &Ctx,
    pa: &PodAutoscaler,
    d: &Decision,
    initialized: bool,
    ready: u32,
) -> PodAutoscalerStatus {
    let mut status = pa.status.clone().unwrap_or_default();
    let mut list = status.status.conditions.take().unwrap_or_default();
    let mut conds = Conditions::new(&mut list, ctx.options.clock.now());
    conds.initialize(&PA_SET);
    let active = match d.active.status {
        ConditionStatus::True => TRUE,
        ConditionStatus::False => crate::conditions::FALSE,
        ConditionStatus::Unknown => UNKNOWN,
    };
    conds.set(
        CONDITION_ACTIVE,
        active,
        &d.active.reason,
        &d.active.message,
    );
    if initialized {
        conds.set(CONDITION_SCALE_TARGET_INITIALIZED, TRUE, "", "");
    }
    conds.set(CONDITION_SKS_READY, TRUE, "", "");
    conds.recompute(&PA_SET);
    status.status.conditions = Some(list);
    status.status.observed_generation = pa.metadata.generation;
    status.service_name = Some(pa.name_any());
    status.metrics_service_name = Some(format!("{}-private", pa.name_any()));
    status.desired_scale = Some(d.desired_scale as i32);
    status.actual_scale = Some(ready as i32);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities() {
        assert_eq!(parse_cpu("100m"), Some(0.1));
        assert_eq!(parse_cpu("2"), Some(2.0));
        assert_eq!(parse_cpu("0.25"), Some(0.25));
        assert_eq!(parse_cpu("lots"), None);
    }
}
