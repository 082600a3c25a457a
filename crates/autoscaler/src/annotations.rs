//! Per-revision overrides: the `autoscaling.knative.dev/*` annotations, validated as
//! Knative's webhook does (`pkg/apis/autoscaling/annotation_validation.go`) and
//! resolved into the effective settings of one revision
//! ([`RevisionScaling`], Knative's `MakeDecider` + `ResolveMetricTarget`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{
    AutoscalerConfig, HPA_CLASS, KPA_CLASS, PANIC_THRESHOLD_PERCENTAGE_MAX,
    PANIC_THRESHOLD_PERCENTAGE_MIN, PANIC_WINDOW_PERCENTAGE_MAX, PANIC_WINDOW_PERCENTAGE_MIN,
    TARGET_MIN, WINDOW_MAX, WINDOW_MIN,
};
use crate::duration::{format_go_duration, go_float, nanos_to_duration, parse_go_duration};

/// The annotation group.
pub const GROUP: &str = "autoscaling.knative.dev";
/// `autoscaling.knative.dev/class`.
pub const CLASS_KEY: &str = "autoscaling.knative.dev/class";
/// `autoscaling.knative.dev/metric`.
pub const METRIC_KEY: &str = "autoscaling.knative.dev/metric";
/// `autoscaling.knative.dev/target`.
pub const TARGET_KEY: &str = "autoscaling.knative.dev/target";
/// `autoscaling.knative.dev/target-utilization-percentage`.
pub const TARGET_UTILIZATION_PERCENTAGE_KEY: &str =
    "autoscaling.knative.dev/target-utilization-percentage";
/// `autoscaling.knative.dev/min-scale`.
pub const MIN_SCALE_KEY: &str = "autoscaling.knative.dev/min-scale";
/// `autoscaling.knative.dev/max-scale`.
pub const MAX_SCALE_KEY: &str = "autoscaling.knative.dev/max-scale";
/// `autoscaling.knative.dev/initial-scale`.
pub const INITIAL_SCALE_KEY: &str = "autoscaling.knative.dev/initial-scale";
/// `autoscaling.knative.dev/activation-scale`.
pub const ACTIVATION_SCALE_KEY: &str = "autoscaling.knative.dev/activation-scale";
/// `autoscaling.knative.dev/scale-down-delay`.
pub const SCALE_DOWN_DELAY_KEY: &str = "autoscaling.knative.dev/scale-down-delay";
/// `autoscaling.knative.dev/window` (the stable window).
pub const WINDOW_KEY: &str = "autoscaling.knative.dev/window";
/// `autoscaling.knative.dev/panic-window-percentage`.
pub const PANIC_WINDOW_PERCENTAGE_KEY: &str = "autoscaling.knative.dev/panic-window-percentage";
/// `autoscaling.knative.dev/panic-threshold-percentage`.
pub const PANIC_THRESHOLD_PERCENTAGE_KEY: &str =
    "autoscaling.knative.dev/panic-threshold-percentage";
/// `autoscaling.knative.dev/target-burst-capacity`.
pub const TARGET_BURST_CAPACITY_KEY: &str = "autoscaling.knative.dev/target-burst-capacity";
/// `autoscaling.knative.dev/scale-to-zero-pod-retention-period`.
pub const SCALE_TO_ZERO_POD_RETENTION_PERIOD_KEY: &str =
    "autoscaling.knative.dev/scale-to-zero-pod-retention-period";
/// `autoscaling.knative.dev/metric-aggregation-algorithm` (validated only).
pub const METRIC_AGGREGATION_ALGORITHM_KEY: &str =
    "autoscaling.knative.dev/metric-aggregation-algorithm";

/// Knative's `kmap.KeyPriority` lists: the current key first, then the legacy
/// camelCase spelling Knative still accepts.
const CLASS: &[&str] = &[CLASS_KEY];
const METRIC: &[&str] = &[METRIC_KEY];
const TARGET: &[&str] = &[TARGET_KEY];
const TARGET_UTILIZATION: &[&str] = &[
    TARGET_UTILIZATION_PERCENTAGE_KEY,
    "autoscaling.knative.dev/targetUtilizationPercentage",
];
const MIN_SCALE: &[&str] = &[MIN_SCALE_KEY, "autoscaling.knative.dev/minScale"];
const MAX_SCALE: &[&str] = &[MAX_SCALE_KEY, "autoscaling.knative.dev/maxScale"];
const INITIAL_SCALE: &[&str] = &[INITIAL_SCALE_KEY, "autoscaling.knative.dev/initialScale"];
const ACTIVATION_SCALE: &[&str] = &[
    ACTIVATION_SCALE_KEY,
    "autoscaling.knative.dev/activationScale",
];
const SCALE_DOWN_DELAY: &[&str] = &[
    SCALE_DOWN_DELAY_KEY,
    "autoscaling.knative.dev/scaleDownDelay",
];
const WINDOW: &[&str] = &[WINDOW_KEY];
const PANIC_WINDOW_PERCENTAGE: &[&str] = &[
    PANIC_WINDOW_PERCENTAGE_KEY,
    "autoscaling.knative.dev/panicWindowPercentage",
];
const PANIC_THRESHOLD_PERCENTAGE: &[&str] = &[
    PANIC_THRESHOLD_PERCENTAGE_KEY,
    "autoscaling.knative.dev/panicThresholdPercentage",
];
const TARGET_BURST_CAPACITY: &[&str] = &[
    TARGET_BURST_CAPACITY_KEY,
    "autoscaling.knative.dev/targetBurstCapacity",
];
const POD_RETENTION: &[&str] = &[
    SCALE_TO_ZERO_POD_RETENTION_PERIOD_KEY,
    "autoscaling.knative.dev/scaleToZeroPodRetentionPeriod",
];
const ALGORITHM: &[&str] = &[
    METRIC_AGGREGATION_ALGORITHM_KEY,
    "autoscaling.knative.dev/metricAggregationAlgorithm",
];

/// The first of `keys` present in `m`, with its value.
fn lookup<'a>(m: &'a BTreeMap<String, String>, keys: &[&'a str]) -> Option<(&'a str, &'a str)> {
    keys.iter()
        .find_map(|k| m.get(*k).map(|v| (*k, v.as_str())))
}

/// One invalid autoscaling annotation; Knative's multi-path errors (e.g. max-scale
/// below min-scale) become one error per key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnotationError {
    /// The full annotation key, e.g. `autoscaling.knative.dev/max-scale`.
    pub key: String,
    /// Knative's message, e.g. `max-scale=2 is less than min-scale=5`.
    pub message: String,
}

#[derive(Default)]
struct Errors(Vec<AnnotationError>);

impl Errors {
    fn push(&mut self, key: &str, message: impl Into<String>) {
        let e = AnnotationError {
            key: key.into(),
            message: message.into(),
        };
        if !self.0.contains(&e) {
            self.0.push(e);
        }
    }
    fn invalid_value(&mut self, key: &str, value: impl std::fmt::Display) {
        self.push(key, format!("invalid value: {value}"));
    }
    fn out_of_bounds(
        &mut self,
        key: &str,
        value: impl std::fmt::Display,
        lower: impl std::fmt::Display,
        upper: impl std::fmt::Display,
    ) {
        self.push(key, format!("expected {lower} <= {value} <= {upper}"));
    }
}

/// Go's `strconv.ParseFloat(v, 64)` closely enough: Rust's grammar is Go's minus
/// hex floats and underscores.
fn parse_f64(v: &str) -> Option<f64> {
    v.parse::<f64>().ok()
}

/// Validates the autoscaling annotations of a revision (or revision template) the
/// way Knative's webhook does, against the cluster `config`. An empty result means
/// the annotations are acceptable.
pub fn validate_annotations(
    annotations: &BTreeMap<String, String>,
    config: &AutoscalerConfig,
) -> Vec<AnnotationError> {
    let mut e = Errors::default();
    validate_class(&mut e, annotations);
    validate_min_max_scale(&mut e, annotations, config);
    validate_floats(&mut e, annotations);
    validate_window(&mut e, annotations);
    validate_last_pod_retention(&mut e, annotations);
    validate_scale_down_delay(&mut e, annotations);
    validate_metric(&mut e, annotations);
    validate_algorithm(&mut e, annotations);
    validate_initial_scale(&mut e, annotations, config);
    e.0
}

fn validate_class(e: &mut Errors, m: &BTreeMap<String, String>) {
    if let Some((k, v)) = lookup(m, CLASS) {
        if v.ends_with(".knative.dev") && v != KPA_CLASS && v != HPA_CLASS {
            e.invalid_value(k, v);
        }
    }
}

/// Knative's `getIntGE0`: a non-negative int32, 0 when absent or invalid.
fn get_int_ge0(e: &mut Errors, m: &BTreeMap<String, String>, keys: &[&str]) -> i64 {
    let Some((k, v)) = lookup(m, keys) else {
        return 0;
    };
    match crate::config::parse_i32(v) {
        Ok(i) if i >= 0 => i,
        Ok(_) => {
            e.out_of_bounds(k, v, 0, i32::MAX);
            0
        }
        Err(err) if err.ends_with("value out of range") => {
            e.out_of_bounds(k, v, 0, i32::MAX);
            0
        }
        Err(_) => {
            e.invalid_value(k, v);
            0
        }
    }
}

fn validate_min_max_scale(e: &mut Errors, m: &BTreeMap<String, String>, config: &AutoscalerConfig) {
    let min = get_int_ge0(e, m, MIN_SCALE);
    let max = get_int_ge0(e, m, MAX_SCALE);
    if max != 0 && max < min {
        let msg = format!("max-scale={max} is less than min-scale={min}");
        e.push(MAX_SCALE_KEY, msg.clone());
        e.push(MIN_SCALE_KEY, msg);
    }
    if let Some((k, _)) = lookup(m, MAX_SCALE) {
        let limit = i64::from(config.max_scale_limit);
        if limit != 0 {
            if max > limit {
                e.out_of_bounds(k, max, 1, limit);
            }
            if max == 0 {
                e.push(
                    k,
                    format!("max-scale=0 (unlimited), must be less than {limit}"),
                );
            }
        }
    }
    if let Some((k, v)) = lookup(m, ACTIVATION_SCALE) {
        match crate::config::parse_i32(v) {
            Err(_) => e.invalid_value(k, v),
            Ok(a) if a < 1 => e.out_of_bounds(k, a, 1, i32::MAX),
            Ok(a) if max != 0 && max < a => e.push(
                k,
                format!("max-scale={max} is less than activation-scale={a}"),
            ),
            Ok(_) => {}
        }
    }
}

fn validate_floats(e: &mut Errors, m: &BTreeMap<String, String>) {
    if let Some((k, v)) = lookup(m, PANIC_WINDOW_PERCENTAGE) {
        match parse_f64(v) {
            None => e.invalid_value(k, v),
            Some(f)
                if !(PANIC_WINDOW_PERCENTAGE_MIN..=PANIC_WINDOW_PERCENTAGE_MAX).contains(&f) =>
            {
                e.out_of_bounds(
                    k,
                    v,
                    go_float(PANIC_WINDOW_PERCENTAGE_MIN),
                    go_float(PANIC_WINDOW_PERCENTAGE_MAX),
                )
            }
            Some(_) => {}
        }
    }
    if let Some((k, v)) = lookup(m, PANIC_THRESHOLD_PERCENTAGE) {
        match parse_f64(v) {
            None => e.invalid_value(k, v),
            Some(f)
                if !(PANIC_THRESHOLD_PERCENTAGE_MIN..=PANIC_THRESHOLD_PERCENTAGE_MAX)
                    .contains(&f) =>
            {
                e.out_of_bounds(
                    k,
                    v,
                    go_float(PANIC_THRESHOLD_PERCENTAGE_MIN),
                    go_float(PANIC_THRESHOLD_PERCENTAGE_MAX),
                )
            }
            Some(_) => {}
        }
    }
    if let Some((k, v)) = lookup(m, TARGET) {
        match parse_f64(v) {
            None => e.invalid_value(k, v),
            Some(f) if f < TARGET_MIN => e.push(
                k,
                format!("target {v} should be at least {}", go_float(TARGET_MIN)),
            ),
            Some(_) => {}
        }
    }
    if let Some((k, v)) = lookup(m, TARGET_UTILIZATION) {
        match parse_f64(v) {
            None => e.invalid_value(k, v),
            Some(f) if !(1.0..=100.0).contains(&f) => e.out_of_bounds(k, v, 1, 100),
            Some(_) => {}
        }
    }
    if let Some((k, v)) = lookup(m, TARGET_BURST_CAPACITY) {
        match parse_f64(v) {
            Some(f) if f >= 0.0 || f == -1.0 => {}
            _ => e.invalid_value(k, v),
        }
    }
}

fn validate_scale_down_delay(e: &mut Errors, m: &BTreeMap<String, String>) {
    if let Some((k, v)) = lookup(m, SCALE_DOWN_DELAY) {
        let max = WINDOW_MAX.as_nanos() as i64;
        match parse_go_duration(v) {
            Err(_) => e.invalid_value(k, v),
            Ok(d) if d < 0 || d > max => e.out_of_bounds(
                k,
                v,
                format_go_duration(Duration::ZERO),
                format_go_duration(WINDOW_MAX),
            ),
            Ok(d) if d % 1_000_000_000 != 0 => {
                e.push(k, "must be specified with at most second precision")
            }
            Ok(_) => {}
        }
    }
}

fn validate_last_pod_retention(e: &mut Errors, m: &BTreeMap<String, String>) {
    if let Some((k, v)) = lookup(m, POD_RETENTION) {
        let max = WINDOW_MAX.as_nanos() as i64;
        match parse_go_duration(v) {
            Err(_) => e.invalid_value(k, v),
            Ok(d) if d < 0 || d > max => e.out_of_bounds(
                k,
                v,
                format_go_duration(Duration::ZERO),
                format_go_duration(WINDOW_MAX),
            ),
            Ok(_) => {}
        }
    }
}

fn validate_window(e: &mut Errors, m: &BTreeMap<String, String>) {
    if let Some((_, v)) = lookup(m, WINDOW) {
        let (min, max) = (WINDOW_MIN.as_nanos() as i64, WINDOW_MAX.as_nanos() as i64);
        match parse_go_duration(v) {
            Err(_) => e.invalid_value(WINDOW_KEY, v),
            Ok(d) if d < min || d > max => e.out_of_bounds(
                WINDOW_KEY,
                v,
                format_go_duration(WINDOW_MIN),
                format_go_duration(WINDOW_MAX),
            ),
            Ok(d) if d % 1_000_000_000 != 0 => e.push(
                WINDOW_KEY,
                "must be specified with at most second precision",
            ),
            Ok(_) => {}
        }
    }
}

fn validate_metric(e: &mut Errors, m: &BTreeMap<String, String>) {
    if let Some((_, metric)) = lookup(m, METRIC) {
        let class = lookup(m, CLASS).map(|(_, c)| c).unwrap_or(KPA_CLASS);
        let ok = match class {
            KPA_CLASS => matches!(metric, "concurrency" | "rps"),
            HPA_CLASS => !metric.is_empty(),
            // Other classes of PodAutoscaler are left alone.
            _ => true,
        };
        if !ok {
            e.invalid_value(METRIC_KEY, metric);
        }
    }
}

fn validate_algorithm(e: &mut Errors, m: &BTreeMap<String, String>) {
    // Only the KPA has aggregation algorithms; custom autoscalers may have their own.
    if lookup(m, CLASS).map(|(_, c)| c) != Some(KPA_CLASS) {
        return;
    }
    if let Some((k, v)) = lookup(m, ALGORITHM) {
        if !v.is_empty() && !matches!(v, "linear" | "weighted-exponential" | "weightedExponential")
        {
            e.invalid_value(k, v);
        }
    }
}

fn validate_initial_scale(e: &mut Errors, m: &BTreeMap<String, String>, config: &AutoscalerConfig) {
    if let Some((k, v)) = lookup(m, INITIAL_SCALE) {
        // Knative folds the explanation into the path; here it follows the value.
        match v.parse::<i64>() {
            Err(_) => e.invalid_value(k, v),
            Ok(i) if i < 0 => e.push(
                k,
                format!("invalid value: {v} ({k} must be greater than 0)"),
            ),
            Ok(0) if !config.allow_zero_initial_scale => e.push(
                k,
                format!("invalid value: {v} ({k}=0 not allowed by cluster)"),
            ),
            Ok(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------
// Resolution
// ---------------------------------------------------------------------------

/// Which autoscaler scales a revision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Knative's request-driven autoscaler (`kpa.autoscaling.knative.dev`).
    Kpa,
    /// The Kubernetes HPA algorithm on CPU/memory (`hpa.autoscaling.knative.dev`).
    Hpa,
}

/// What a revision is scaled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Metric {
    /// Average in-flight requests per instance (KPA default).
    Concurrency,
    /// Requests per second per instance.
    Rps,
    /// CPU utilisation, % of the containers' requests (HPA default).
    Cpu,
    /// Average memory per instance in MiB (Knative's HPA memory target).
    Memory,
    /// Any other HPA metric name (a custom metric the caller supplies).
    Custom(String),
}

/// The effective autoscaling settings of one revision: the ConfigMap, overridden by
/// the revision's annotations, resolved the way Knative's PA reconciler does.
#[derive(Debug, Clone, PartialEq)]
pub struct RevisionScaling {
    /// The autoscaler class.
    pub class: Class,
    /// The scaling metric.
    pub metric: Metric,
    /// Per-instance value the autoscaler aims for (`TargetValue`).
    pub target: f64,
    /// Per-instance value an instance can take at most (`TotalValue`).
    pub total: f64,
    /// Lower bound (ignored while the revision is unreachable).
    pub min_scale: u32,
    /// Upper bound; 0 = unbounded.
    pub max_scale: u32,
    /// Instances a new revision starts with.
    pub initial_scale: u32,
    /// Least instances when scaling up from zero.
    pub activation_scale: u32,
    /// Window the stable average is taken over.
    pub stable_window: Duration,
    /// Window the panic average is taken over.
    pub panic_window: Duration,
    /// Panic when the panic-window demand reaches this multiple of the ready capacity.
    pub panic_threshold: f64,
    /// Spare requests to keep before the activator is put in the path (0, >0, or -1).
    pub target_burst_capacity: f64,
    /// Largest growth factor per decision.
    pub max_scale_up_rate: f64,
    /// Largest shrink factor per decision.
    pub max_scale_down_rate: f64,
    /// Scale down only to the largest decision of this trailing window.
    pub scale_down_delay: Duration,
    /// How long the activator must be in the path before the last instance goes.
    pub scale_to_zero_grace_period: Duration,
    /// How long the last instance stays after the revision went idle.
    pub scale_to_zero_pod_retention_period: Duration,
    /// Whether the revision may go to zero at all.
    pub enable_scale_to_zero: bool,
    /// Requests one activator can buffer.
    pub activator_capacity: f64,
    /// The revision's containerConcurrency (0 = unlimited).
    pub container_concurrency: u32,
    /// Whether a route references the revision (`spec.reachability != Unreachable`);
    /// an unreachable revision ignores min-scale and may drop straight to zero.
    pub reachable: bool,
    /// How long activation may take before giving up and scaling to zero (the
    /// progress deadline, 600s, plus Knative's 10s buffer).
    pub activation_timeout: Duration,
}

/// Knative's default progress deadline plus its `activationTimeoutBuffer`.
pub const DEFAULT_ACTIVATION_TIMEOUT: Duration = Duration::from_secs(600 + 10);

/// The Kubernetes HPA's default CPU utilisation target when none is annotated.
pub const HPA_DEFAULT_CPU_UTILIZATION: f64 = 80.0;

fn ann_f64(m: &BTreeMap<String, String>, keys: &[&str]) -> Option<f64> {
    lookup(m, keys).and_then(|(_, v)| parse_f64(v))
}

fn ann_u32(m: &BTreeMap<String, String>, keys: &[&str]) -> Option<u32> {
    lookup(m, keys).and_then(|(_, v)| v.parse::<u32>().ok().filter(|n| *n <= i32::MAX as u32))
}

fn ann_duration(m: &BTreeMap<String, String>, keys: &[&str]) -> Option<Duration> {
    lookup(m, keys)
        .and_then(|(_, v)| parse_go_duration(v).ok())
        .filter(|n| *n >= 0)
        .map(nanos_to_duration)
}

impl RevisionScaling {
    /// Resolves one revision's settings: annotations win over the ConfigMap;
    /// annotations that fail validation are ignored (admission refused them).
    /// `container_concurrency` is the revision's `spec.containerConcurrency`.
    pub fn resolve(
        config: &AutoscalerConfig,
        annotations: &BTreeMap<String, String>,
        container_concurrency: u32,
    ) -> RevisionScaling {
        let m = annotations;
        let class_name = lookup(m, CLASS)
            .map(|(_, c)| c)
            .unwrap_or(config.pod_autoscaler_class.as_str());
        // skiff has no pluggable autoscalers: anything but the HPA class gets the KPA.
        let class = if class_name == HPA_CLASS {
            Class::Hpa
        } else {
            Class::Kpa
        };
        let metric_name = lookup(m, METRIC).map(|(_, v)| v).unwrap_or("");
        let annotated_target = ann_f64(m, TARGET).filter(|t| *t >= TARGET_MIN);
        let utilization = ann_f64(m, TARGET_UTILIZATION)
            .filter(|u| (1.0..=100.0).contains(u))
            .map(|u| u / 100.0);
        let cc = f64::from(container_concurrency);

        let (metric, target, total) = match class {
            Class::Kpa => {
                let metric = if metric_name == "rps" {
                    Metric::Rps
                } else {
                    Metric::Concurrency
                };
                // ResolveMetricTarget.
                let (mut total, mut tu) = match metric {
                    Metric::Rps => (config.rps_target_default, config.target_utilization),
                    _ => (
                        if container_concurrency == 0 {
                            config.container_concurrency_target_default
                        } else {
                            cc
                        },
                        config.container_concurrency_target_fraction,
                    ),
                };
                if let Some(t) = annotated_target {
                    total = t;
                    if metric == Metric::Concurrency && container_concurrency != 0 {
                        total = t.min(cc);
                    }
                }
                if let Some(u) = utilization {
                    tu = u;
                }
                (metric, TARGET_MIN.max(total * tu), total)
            }
            Class::Hpa => {
                // Knative's MakeHPA sets a metric only with a target; without one the
                // Kubernetes default (80% CPU) applies.
                match (metric_name, annotated_target) {
                    ("memory", Some(t)) => (Metric::Memory, t, t),
                    ("cpu" | "", Some(t)) => (Metric::Cpu, t.ceil(), t.ceil()),
                    (custom, Some(t)) => (Metric::Custom(custom.to_string()), t, t),
                    (_, None) => (
                        Metric::Cpu,
                        HPA_DEFAULT_CPU_UTILIZATION,
                        HPA_DEFAULT_CPU_UTILIZATION,
                    ),
                }
            }
        };

        let stable_window = lookup(m, WINDOW)
            .and_then(|(_, v)| parse_go_duration(v).ok())
            .filter(|n| (WINDOW_MIN.as_nanos() as i64..=WINDOW_MAX.as_nanos() as i64).contains(n))
            .map(nanos_to_duration)
            .unwrap_or(config.stable_window);
        let panic_pct = ann_f64(m, PANIC_WINDOW_PERCENTAGE)
            .filter(|p| (PANIC_WINDOW_PERCENTAGE_MIN..=PANIC_WINDOW_PERCENTAGE_MAX).contains(p))
            .unwrap_or(config.panic_window_percentage);
        let panic_threshold_pct = ann_f64(m, PANIC_THRESHOLD_PERCENTAGE)
            .filter(|p| {
                (PANIC_THRESHOLD_PERCENTAGE_MIN..=PANIC_THRESHOLD_PERCENTAGE_MAX).contains(p)
            })
            .unwrap_or(config.panic_threshold_percentage);
        let tbc = ann_f64(m, TARGET_BURST_CAPACITY)
            .filter(|t| *t >= 0.0 || *t == -1.0)
            .unwrap_or(config.target_burst_capacity);
        let initial_scale = match ann_u32(m, INITIAL_SCALE) {
            Some(0) if !config.allow_zero_initial_scale => config.initial_scale,
            Some(n) => n,
            None => config.initial_scale,
        };
        let min_scale = ann_u32(m, MIN_SCALE).unwrap_or(config.min_scale);
        let max_scale = ann_u32(m, MAX_SCALE).unwrap_or(config.max_scale);

        RevisionScaling {
            class,
            metric,
            target,
            total,
            min_scale,
            max_scale,
            initial_scale,
            activation_scale: ann_u32(m, ACTIVATION_SCALE)
                .filter(|a| *a >= 1)
                .unwrap_or(1),
            stable_window,
            panic_window: AutoscalerConfig::panic_window_for(stable_window, panic_pct),
            panic_threshold: panic_threshold_pct / 100.0,
            target_burst_capacity: tbc,
            max_scale_up_rate: config.max_scale_up_rate,
            max_scale_down_rate: config.max_scale_down_rate,
            scale_down_delay: ann_duration(m, SCALE_DOWN_DELAY)
                .filter(|d| *d <= WINDOW_MAX)
                .unwrap_or(config.scale_down_delay),
            scale_to_zero_grace_period: config.scale_to_zero_grace_period,
            scale_to_zero_pod_retention_period: ann_duration(m, POD_RETENTION)
                .filter(|d| *d <= WINDOW_MAX)
                .unwrap_or(config.scale_to_zero_pod_retention_period),
            enable_scale_to_zero: config.enable_scale_to_zero && class == Class::Kpa,
            activator_capacity: config.activator_capacity,
            container_concurrency,
            reachable: true,
            activation_timeout: DEFAULT_ACTIVATION_TIMEOUT,
        }
    }

    /// The `(min, max)` bounds in force (Knative's `ScaleBounds`): min is dropped
    /// while the revision is unreachable, max 0 means unbounded, and the HPA never
    /// goes below one instance.
    pub fn scale_bounds(&self) -> (u32, u32) {
        let mut min = if self.reachable { self.min_scale } else { 0 };
        if self.class == Class::Hpa {
            min = min.max(1);
        }
        (min, self.max_scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anns(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (format!("{GROUP}/{k}"), v.to_string()))
            .collect()
    }

    fn errs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        errs_with(pairs, &AutoscalerConfig::default())
    }

    fn errs_with(pairs: &[(&str, &str)], config: &AutoscalerConfig) -> Vec<(String, String)> {
        validate_annotations(&anns(pairs), config)
            .into_iter()
            .map(|e| {
                (
                    e.key
                        .trim_start_matches("autoscaling.knative.dev/")
                        .to_string(),
                    e.message,
                )
            })
            .collect()
    }

    fn e(key: &str, msg: &str) -> (String, String) {
        (key.to_string(), msg.to_string())
    }

    #[test]
    fn valid_annotations_pass() {
        assert!(errs(&[]).is_empty());
        assert!(errs(&[
            ("min-scale", "2"),
            ("max-scale", "5"),
            ("initial-scale", "3"),
            ("activation-scale", "4"),
            ("target", "10"),
            ("target-utilization-percentage", "80"),
            ("window", "2m"),
            ("panic-window-percentage", "20"),
            ("panic-threshold-percentage", "150"),
            ("target-burst-capacity", "-1"),
            ("scale-down-delay", "30s"),
            ("scale-to-zero-pod-retention-period", "1m"),
            ("class", KPA_CLASS),
            ("metric", "rps"),
        ])
        .is_empty());
        assert!(errs(&[("class", HPA_CLASS), ("metric", "memory")]).is_empty());
        assert!(errs(&[("class", "custom.example.com"), ("metric", "anything")]).is_empty());
        assert!(errs(&[("minScale", "0"), ("maxScale", "0")]).is_empty());
    }

    #[test]
    fn scale_bounds() {
        assert_eq!(
            errs(&[("min-scale", "5"), ("max-scale", "2")]),
            [
                e("max-scale", "max-scale=2 is less than min-scale=5"),
                e("min-scale", "max-scale=2 is less than min-scale=5"),
            ]
        );
        // Legacy keys are reported under the canonical keys, as upstream does.
        assert_eq!(
            errs(&[("minScale", "5"), ("maxScale", "2")])[0],
            e("max-scale", "max-scale=2 is less than min-scale=5")
        );
        assert_eq!(
            errs(&[("min-scale", "-1")]),
            [e("min-scale", "expected 0 <= -1 <= 2147483647")]
        );
        assert_eq!(
            errs(&[("maxScale", "nope")]),
            [e("maxScale", "invalid value: nope")]
        );
        assert_eq!(
            errs(&[("max-scale", "3000000000")]),
            [e("max-scale", "expected 0 <= 3000000000 <= 2147483647")]
        );
    }

    #[test]
    fn max_scale_limit_from_config() {
        let c = AutoscalerConfig {
            max_scale_limit: 5,
            max_scale: 5,
            ..Default::default()
        };
        assert_eq!(
            errs_with(&[("max-scale", "10")], &c),
            [e("max-scale", "expected 1 <= 10 <= 5")]
        );
        assert_eq!(
            errs_with(&[("max-scale", "0")], &c),
            [e(
                "max-scale",
                "max-scale=0 (unlimited), must be less than 5"
            )]
        );
        assert!(errs_with(&[("max-scale", "5")], &c).is_empty());
        assert!(errs(&[("max-scale", "10")]).is_empty());
    }

    #[test]
    fn activation_scale() {
        assert_eq!(
            errs(&[("activation-scale", "0")]),
            [e("activation-scale", "expected 1 <= 0 <= 2147483647")]
        );
        assert_eq!(
            errs(&[("activationScale", "x")]),
            [e("activationScale", "invalid value: x")]
        );
        assert_eq!(
            errs(&[("activation-scale", "5"), ("max-scale", "3")]),
            [e(
                "activation-scale",
                "max-scale=3 is less than activation-scale=5"
            )]
        );
    }

    #[test]
    fn floats() {
        assert_eq!(
            errs(&[("panic-window-percentage", "202")]),
            [e("panic-window-percentage", "expected 1 <= 202 <= 100")]
        );
        assert_eq!(
            errs(&[("panicWindowPercentage", "fifty")]),
            [e("panicWindowPercentage", "invalid value: fifty")]
        );
        assert_eq!(
            errs(&[("panic-threshold-percentage", "109")]),
            [e(
                "panic-threshold-percentage",
                "expected 110 <= 109 <= 1000"
            )]
        );
        assert_eq!(
            errs(&[("target", "nope")]),
            [e("target", "invalid value: nope")]
        );
        assert_eq!(
            errs(&[("target", "0")]),
            [e("target", "target 0 should be at least 0.01")]
        );
        assert_eq!(
            errs(&[("target-utilization-percentage", "0")]),
            [e("target-utilization-percentage", "expected 1 <= 0 <= 100")]
        );
        assert_eq!(
            errs(&[("target-burst-capacity", "-2")]),
            [e("target-burst-capacity", "invalid value: -2")]
        );
        assert_eq!(
            errs(&[("targetBurstCapacity", "lots")]),
            [e("targetBurstCapacity", "invalid value: lots")]
        );
    }

    #[test]
    fn durations() {
        assert_eq!(
            errs(&[("window", "5s")]),
            [e("window", "expected 6s <= 5s <= 1h0m0s")]
        );
        assert_eq!(
            errs(&[("window", "7200s")]),
            [e("window", "expected 6s <= 7200s <= 1h0m0s")]
        );
        assert_eq!(
            errs(&[("window", "6500ms")]),
            [e(
                "window",
                "must be specified with at most second precision"
            )]
        );
        assert_eq!(
            errs(&[("window", "soon")]),
            [e("window", "invalid value: soon")]
        );
        assert_eq!(
            errs(&[("scale-down-delay", "2h")]),
            [e("scale-down-delay", "expected 0s <= 2h <= 1h0m0s")]
        );
        assert_eq!(
            errs(&[("scaleDownDelay", "1.5s")]),
            [e(
                "scaleDownDelay",
                "must be specified with at most second precision"
            )]
        );
        assert_eq!(
            errs(&[("scale-to-zero-pod-retention-period", "-1s")]),
            [e(
                "scale-to-zero-pod-retention-period",
                "expected 0s <= -1s <= 1h0m0s"
            )]
        );
        assert_eq!(
            errs(&[("scaleToZeroPodRetentionPeriod", "x")]),
            [e("scaleToZeroPodRetentionPeriod", "invalid value: x")]
        );
    }

    #[test]
    fn class_and_metric() {
        assert_eq!(
            errs(&[("class", "foo.knative.dev")]),
            [e("class", "invalid value: foo.knative.dev")]
        );
        assert_eq!(
            errs(&[("metric", "cpu")]),
            [e("metric", "invalid value: cpu")]
        );
        assert_eq!(
            errs(&[("class", KPA_CLASS), ("metric", "memory")]),
            [e("metric", "invalid value: memory")]
        );
        assert_eq!(
            errs(&[("class", HPA_CLASS), ("metric", "")]),
            [e("metric", "invalid value: ")]
        );
        assert_eq!(
            errs(&[
                ("class", KPA_CLASS),
                ("metric-aggregation-algorithm", "magic")
            ]),
            [e("metric-aggregation-algorithm", "invalid value: magic")]
        );
    }

    #[test]
    fn initial_scale() {
        assert_eq!(
            errs(&[("initial-scale", "0")]),
            [e(
                "initial-scale",
                "invalid value: 0 (autoscaling.knative.dev/initial-scale=0 not allowed by cluster)"
            )]
        );
        let allow = AutoscalerConfig {
            allow_zero_initial_scale: true,
            ..Default::default()
        };
        assert!(errs_with(&[("initial-scale", "0")], &allow).is_empty());
        assert_eq!(
            errs(&[("initialScale", "-1")]),
            [e(
                "initialScale",
                "invalid value: -1 (autoscaling.knative.dev/initialScale must be greater than 0)"
            )]
        );
        assert_eq!(
            errs(&[("initial-scale", "some")]),
            [e("initial-scale", "invalid value: some")]
        );
    }

    fn resolve(pairs: &[(&str, &str)], cc: u32) -> RevisionScaling {
        RevisionScaling::resolve(&AutoscalerConfig::default(), &anns(pairs), cc)
    }

    #[test]
    fn resolves_defaults() {
        let s = resolve(&[], 0);
        assert_eq!(s.class, Class::Kpa);
        assert_eq!(s.metric, Metric::Concurrency);
        assert_eq!(s.total, 100.0);
        assert!((s.target - 70.0).abs() < 1e-9);
        assert_eq!(
            (
                s.min_scale,
                s.max_scale,
                s.initial_scale,
                s.activation_scale
            ),
            (0, 0, 1, 1)
        );
        assert_eq!(s.stable_window, Duration::from_secs(60));
        assert_eq!(s.panic_window, Duration::from_secs(6));
        assert_eq!(s.panic_threshold, 2.0);
        assert_eq!(s.target_burst_capacity, 211.0);
        assert!(s.enable_scale_to_zero && s.reachable);
        assert_eq!(s.activation_timeout, Duration::from_secs(610));
    }

    #[test]
    fn resolves_metric_target_like_knative() {
        // containerConcurrency is the total.
        let s = resolve(&[], 10);
        assert_eq!(s.total, 10.0);
        assert!((s.target - 7.0).abs() < 1e-9);
        // An annotated target is clamped to containerConcurrency.
        let s = resolve(&[("target", "50")], 10);
        assert_eq!(s.total, 10.0);
        let s = resolve(
            &[("target", "5"), ("target-utilization-percentage", "50")],
            10,
        );
        assert_eq!((s.total, s.target), (5.0, 2.5));
        // RPS uses its own default and the fixed 70% utilisation.
        let s = resolve(&[("metric", "rps")], 10);
        assert_eq!(s.metric, Metric::Rps);
        assert_eq!(s.total, 200.0);
        assert!((s.target - 140.0).abs() < 1e-9);
        // Never below TargetMin.
        let s = resolve(
            &[("target", "0.01"), ("target-utilization-percentage", "1")],
            0,
        );
        assert_eq!(s.target, 0.01);
    }

    #[test]
    fn annotations_override_config_and_invalid_ones_are_ignored() {
        let s = resolve(
            &[
                ("minScale", "2"),
                ("max-scale", "9"),
                ("initial-scale", "3"),
                ("activation-scale", "4"),
                ("window", "2m"),
                ("panic-window-percentage", "5"),
                ("panic-threshold-percentage", "150"),
                ("target-burst-capacity", "0"),
                ("scale-down-delay", "30s"),
                ("scale-to-zero-pod-retention-period", "1m"),
            ],
            0,
        );
        assert_eq!(
            (
                s.min_scale,
                s.max_scale,
                s.initial_scale,
                s.activation_scale
            ),
            (2, 9, 3, 4)
        );
        assert_eq!(s.stable_window, Duration::from_secs(120));
        assert_eq!(s.panic_window, Duration::from_secs(6));
        assert_eq!(s.panic_threshold, 1.5);
        assert_eq!(s.target_burst_capacity, 0.0);
        assert_eq!(s.scale_down_delay, Duration::from_secs(30));
        assert_eq!(
            s.scale_to_zero_pod_retention_period,
            Duration::from_secs(60)
        );
        let s = resolve(
            &[
                ("window", "1s"),
                ("min-scale", "-3"),
                ("initial-scale", "0"),
            ],
            0,
        );
        assert_eq!(s.stable_window, Duration::from_secs(60));
        assert_eq!(s.min_scale, 0);
        assert_eq!(
            s.initial_scale, 1,
            "initial-scale 0 needs allow-zero-initial-scale"
        );
    }

    #[test]
    fn hpa_class() {
        let s = resolve(&[("class", HPA_CLASS)], 0);
        assert_eq!(
            (s.class, s.metric.clone(), s.target),
            (Class::Hpa, Metric::Cpu, 80.0)
        );
        assert!(!s.enable_scale_to_zero);
        assert_eq!(s.scale_bounds(), (1, 0));
        let s = resolve(
            &[
                ("class", HPA_CLASS),
                ("metric", "memory"),
                ("target", "256"),
            ],
            0,
        );
        assert_eq!((s.metric.clone(), s.target), (Metric::Memory, 256.0));
        let s = resolve(
            &[("class", HPA_CLASS), ("metric", "cpu"), ("target", "62.5")],
            0,
        );
        assert_eq!(s.target, 63.0);
        let config = AutoscalerConfig {
            pod_autoscaler_class: HPA_CLASS.into(),
            ..Default::default()
        };
        let s = RevisionScaling::resolve(&config, &BTreeMap::new(), 0);
        assert_eq!(s.class, Class::Hpa);
    }

    #[test]
    fn unreachable_drops_min_scale() {
        let mut s = resolve(&[("min-scale", "3"), ("max-scale", "5")], 0);
        assert_eq!(s.scale_bounds(), (3, 5));
        s.reachable = false;
        assert_eq!(s.scale_bounds(), (0, 5));
    }
}
