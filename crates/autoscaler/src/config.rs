//! The cluster-wide autoscaler settings: Knative's `config-autoscaler` ConfigMap
//! (`pkg/autoscaler/config/config.go`), with its keys, defaults and validation
//! messages, so an operator's existing ConfigMap means the same thing here.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::duration::{format_go_nanos, go_float, nanos_to_duration, parse_go_duration, Nanos};

/// Name of the ConfigMap (in the system namespace) the settings come from.
pub const CONFIG_MAP_NAME: &str = "config-autoscaler";
/// `autoscaling.knative.dev/class` value of the Knative Pod Autoscaler.
pub const KPA_CLASS: &str = "kpa.autoscaling.knative.dev";
/// `autoscaling.knative.dev/class` value of the Kubernetes Horizontal Pod Autoscaler.
pub const HPA_CLASS: &str = "hpa.autoscaling.knative.dev";
/// Width of one metric bucket (Knative's `BucketSize`).
pub const BUCKET_SIZE: Duration = Duration::from_secs(1);
/// Shortest stable window (Knative's `WindowMin`).
pub const WINDOW_MIN: Duration = Duration::from_secs(6);
/// Longest stable window, scale-down delay and pod retention (Knative's `WindowMax`).
pub const WINDOW_MAX: Duration = Duration::from_secs(3600);
/// Smallest per-instance target (Knative's `TargetMin`).
pub const TARGET_MIN: f64 = 0.01;
/// Bounds of `panic-window-percentage`.
pub const PANIC_WINDOW_PERCENTAGE_MIN: f64 = 1.0;
/// Upper bound of `panic-window-percentage`.
pub const PANIC_WINDOW_PERCENTAGE_MAX: f64 = 100.0;
/// Lower bound of the `panic-threshold-percentage` annotation.
pub const PANIC_THRESHOLD_PERCENTAGE_MIN: f64 = 110.0;
/// Upper bound of the `panic-threshold-percentage` annotation.
pub const PANIC_THRESHOLD_PERCENTAGE_MAX: f64 = 1000.0;
/// Knative's default utilisation of the RPS target (`TargetUtilization`, not configurable).
pub const DEFAULT_TARGET_UTILIZATION: f64 = 0.7;

/// A `config-autoscaler` value that could not be parsed or is out of range; `key`
/// names the offending ConfigMap key and `message` is Knative's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    /// The ConfigMap key at fault.
    pub key: String,
    /// Knative's message, e.g. `stable-window = 1s, must be in [6s; 1h0m0s] range`.
    pub message: String,
}

impl ConfigError {
    fn new(key: &str, message: String) -> Self {
        ConfigError {
            key: key.into(),
            message,
        }
    }
}

/// The effective cluster-wide autoscaler settings (Knative's `autoscalerconfig.Config`).
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscalerConfig {
    /// `enable-scale-to-zero`: whether idle revisions may go to zero instances.
    pub enable_scale_to_zero: bool,
    /// `container-concurrency-target-percentage` as a fraction (70 → 0.7).
    pub container_concurrency_target_fraction: f64,
    /// `container-concurrency-target-default`: concurrency per instance when the
    /// revision's containerConcurrency is 0 (unlimited).
    pub container_concurrency_target_default: f64,
    /// Utilisation applied to the RPS target (fixed at 0.7 as in Knative).
    pub target_utilization: f64,
    /// `requests-per-second-target-default`.
    pub rps_target_default: f64,
    /// `target-burst-capacity`: spare requests to keep; 0 = activator only at zero,
    /// -1 = activator always in the path.
    pub target_burst_capacity: f64,
    /// `stable-window`.
    pub stable_window: Duration,
    /// `panic-window-percentage` of the stable window.
    pub panic_window_percentage: f64,
    /// `panic-threshold-percentage` of the target at which panic mode starts.
    pub panic_threshold_percentage: f64,
    /// `max-scale-up-rate`: at most ready × rate instances per decision.
    pub max_scale_up_rate: f64,
    /// `max-scale-down-rate`: at least ready / rate instances per decision.
    pub max_scale_down_rate: f64,
    /// `scale-to-zero-grace-period`: how long the activator must be in the path
    /// before the last instance goes.
    pub scale_to_zero_grace_period: Duration,
    /// `scale-to-zero-pod-retention-period`: keep the last instance this long after
    /// the revision went idle.
    pub scale_to_zero_pod_retention_period: Duration,
    /// `scale-down-delay`: scale down only to the largest decision of this window.
    pub scale_down_delay: Duration,
    /// `initial-scale`: instances of a new revision.
    pub initial_scale: u32,
    /// `allow-zero-initial-scale`: whether `initial-scale` may be 0.
    pub allow_zero_initial_scale: bool,
    /// `min-scale`: cluster default lower bound.
    pub min_scale: u32,
    /// `max-scale`: cluster default upper bound (0 = unbounded).
    pub max_scale: u32,
    /// `max-scale-limit`: largest max-scale a revision may ask for (0 = no limit).
    pub max_scale_limit: u32,
    /// `activator-capacity`: requests one activator can buffer.
    pub activator_capacity: f64,
    /// `pod-autoscaler-class`: class of revisions without a class annotation.
    pub pod_autoscaler_class: String,
}

impl Default for AutoscalerConfig {
    /// Knative's defaults (`defaultConfig()`).
    fn default() -> Self {
        AutoscalerConfig {
            enable_scale_to_zero: true,
            container_concurrency_target_fraction: DEFAULT_TARGET_UTILIZATION,
            container_concurrency_target_default: 100.0,
            target_utilization: DEFAULT_TARGET_UTILIZATION,
            rps_target_default: 200.0,
            target_burst_capacity: 211.0,
            stable_window: Duration::from_secs(60),
            panic_window_percentage: 10.0,
            panic_threshold_percentage: 200.0,
            max_scale_up_rate: 1000.0,
            max_scale_down_rate: 2.0,
            scale_to_zero_grace_period: Duration::from_secs(30),
            scale_to_zero_pod_retention_period: Duration::ZERO,
            scale_down_delay: Duration::ZERO,
            initial_scale: 1,
            allow_zero_initial_scale: false,
            min_scale: 0,
            max_scale: 0,
            max_scale_limit: 0,
            activator_capacity: 100.0,
            pod_autoscaler_class: KPA_CLASS.into(),
        }
    }
}

/// The values as parsed, before validation and unit conversion (Go's types).
struct Raw {
    enable_scale_to_zero: bool,
    allow_zero_initial_scale: bool,
    max_scale_up_rate: f64,
    max_scale_down_rate: f64,
    cc_target_fraction: f64,
    cc_target_default: f64,
    rps_target_default: f64,
    target_burst_capacity: f64,
    panic_window_percentage: f64,
    activator_capacity: f64,
    panic_threshold_percentage: f64,
    initial_scale: i64,
    min_scale: i64,
    max_scale: i64,
    max_scale_limit: i64,
    stable_window: Nanos,
    scale_down_delay: Nanos,
    scale_to_zero_grace_period: Nanos,
    scale_to_zero_pod_retention_period: Nanos,
    class: String,
}

fn parse_error(key: &str, err: String) -> ConfigError {
    ConfigError::new(
        key,
        format!("failed to parse data: failed to parse {key:?}: {err}"),
    )
}

fn get<'a>(data: &'a BTreeMap<String, String>, key: &str) -> Option<&'a str> {
    data.get(key).map(|v| v.trim())
}

fn as_bool(
    data: &BTreeMap<String, String>,
    key: &str,
    target: &mut bool,
) -> Result<(), ConfigError> {
    if let Some(raw) = get(data, key) {
        *target = match raw {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
            "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
            _ => {
                return Err(parse_error(
                    key,
                    format!("strconv.ParseBool: parsing {raw:?}: invalid syntax"),
                ))
            }
        };
    }
    Ok(())
}

fn as_f64(data: &BTreeMap<String, String>, key: &str, target: &mut f64) -> Result<(), ConfigError> {
    if let Some(raw) = get(data, key) {
        *target = raw.parse::<f64>().map_err(|_| {
            parse_error(
                key,
                format!("strconv.ParseFloat: parsing {raw:?}: invalid syntax"),
            )
        })?;
    }
    Ok(())
}

fn as_i32(data: &BTreeMap<String, String>, key: &str, target: &mut i64) -> Result<(), ConfigError> {
    if let Some(raw) = get(data, key) {
        *target = parse_i32(raw).map_err(|e| parse_error(key, e))?;
    }
    Ok(())
}

/// Go's `strconv.ParseInt(raw, 10, 32)` with its error texts.
pub(crate) fn parse_i32(raw: &str) -> Result<i64, String> {
    let digits = raw.strip_prefix(['+', '-']).unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing {raw:?}: invalid syntax"));
    }
    match raw.parse::<i32>() {
        Ok(v) => Ok(i64::from(v)),
        Err(_) => Err(format!(
            "strconv.ParseInt: parsing {raw:?}: value out of range"
        )),
    }
}

fn as_duration(
    data: &BTreeMap<String, String>,
    key: &str,
    target: &mut Nanos,
) -> Result<(), ConfigError> {
    if let Some(raw) = get(data, key) {
        *target = parse_go_duration(raw).map_err(|e| parse_error(key, e))?;
    }
    Ok(())
}

fn whole_seconds(n: Nanos) -> bool {
    n % 1_000_000_000 == 0
}

fn dur(d: Duration) -> String {
    crate::duration::format_go_duration(d)
}

impl AutoscalerConfig {
    /// Parses the `data` of the `config-autoscaler` ConfigMap: missing keys keep
    /// Knative's defaults, unknown keys (such as `_example`) are ignored, and the
    /// first bad value is reported with Knative's message, naming its key.
    pub fn from_config_map(data: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let d = AutoscalerConfig::default();
        let secs = |x: Duration| i64::try_from(x.as_nanos()).unwrap_or(i64::MAX);
        let mut r = Raw {
            enable_scale_to_zero: d.enable_scale_to_zero,
            allow_zero_initial_scale: d.allow_zero_initial_scale,
            max_scale_up_rate: d.max_scale_up_rate,
            max_scale_down_rate: d.max_scale_down_rate,
            cc_target_fraction: d.container_concurrency_target_fraction,
            cc_target_default: d.container_concurrency_target_default,
            rps_target_default: d.rps_target_default,
            target_burst_capacity: d.target_burst_capacity,
            panic_window_percentage: d.panic_window_percentage,
            activator_capacity: d.activator_capacity,
            panic_threshold_percentage: d.panic_threshold_percentage,
            initial_scale: i64::from(d.initial_scale),
            min_scale: i64::from(d.min_scale),
            max_scale: i64::from(d.max_scale),
            max_scale_limit: i64::from(d.max_scale_limit),
            stable_window: secs(d.stable_window),
            scale_down_delay: secs(d.scale_down_delay),
            scale_to_zero_grace_period: secs(d.scale_to_zero_grace_period),
            scale_to_zero_pod_retention_period: secs(d.scale_to_zero_pod_retention_period),
            class: d.pod_autoscaler_class.clone(),
        };
        if let Some(class) = get(data, "pod-autoscaler-class") {
            r.class = class.to_string();
        }
        as_bool(data, "enable-scale-to-zero", &mut r.enable_scale_to_zero)?;
        as_bool(
            data,
            "allow-zero-initial-scale",
            &mut r.allow_zero_initial_scale,
        )?;
        as_f64(data, "max-scale-up-rate", &mut r.max_scale_up_rate)?;
        as_f64(data, "max-scale-down-rate", &mut r.max_scale_down_rate)?;
        as_f64(
            data,
            "container-concurrency-target-percentage",
            &mut r.cc_target_fraction,
        )?;
        as_f64(
            data,
            "container-concurrency-target-default",
            &mut r.cc_target_default,
        )?;
        as_f64(
            data,
            "requests-per-second-target-default",
            &mut r.rps_target_default,
        )?;
        as_f64(data, "target-burst-capacity", &mut r.target_burst_capacity)?;
        as_f64(
            data,
            "panic-window-percentage",
            &mut r.panic_window_percentage,
        )?;
        as_f64(data, "activator-capacity", &mut r.activator_capacity)?;
        as_f64(
            data,
            "panic-threshold-percentage",
            &mut r.panic_threshold_percentage,
        )?;
        as_i32(data, "initial-scale", &mut r.initial_scale)?;
        as_i32(data, "min-scale", &mut r.min_scale)?;
        as_i32(data, "max-scale", &mut r.max_scale)?;
        as_i32(data, "max-scale-limit", &mut r.max_scale_limit)?;
        as_duration(data, "stable-window", &mut r.stable_window)?;
        as_duration(data, "scale-down-delay", &mut r.scale_down_delay)?;
        as_duration(
            data,
            "scale-to-zero-grace-period",
            &mut r.scale_to_zero_grace_period,
        )?;
        as_duration(
            data,
            "scale-to-zero-pod-retention-period",
            &mut r.scale_to_zero_pod_retention_period,
        )?;

        // For legacy reasons values in (0, 1] are fractions; larger ones percentages.
        if r.cc_target_fraction > 1.0 {
            r.cc_target_fraction /= 100.0;
        }
        validate(&r)?;
        Ok(AutoscalerConfig {
            enable_scale_to_zero: r.enable_scale_to_zero,
            container_concurrency_target_fraction: r.cc_target_fraction,
            container_concurrency_target_default: r.cc_target_default,
            target_utilization: DEFAULT_TARGET_UTILIZATION,
            rps_target_default: r.rps_target_default,
            target_burst_capacity: r.target_burst_capacity,
            stable_window: nanos_to_duration(r.stable_window),
            panic_window_percentage: r.panic_window_percentage,
            panic_threshold_percentage: r.panic_threshold_percentage,
            max_scale_up_rate: r.max_scale_up_rate,
            max_scale_down_rate: r.max_scale_down_rate,
            scale_to_zero_grace_period: nanos_to_duration(r.scale_to_zero_grace_period),
            scale_to_zero_pod_retention_period: nanos_to_duration(
                r.scale_to_zero_pod_retention_period,
            ),
            scale_down_delay: nanos_to_duration(r.scale_down_delay),
            initial_scale: u32::try_from(r.initial_scale).unwrap_or(0),
            allow_zero_initial_scale: r.allow_zero_initial_scale,
            min_scale: u32::try_from(r.min_scale).unwrap_or(0),
            max_scale: u32::try_from(r.max_scale).unwrap_or(0),
            max_scale_limit: u32::try_from(r.max_scale_limit).unwrap_or(0),
            activator_capacity: r.activator_capacity,
            pod_autoscaler_class: r.class,
        })
    }

    /// The panic window: `panic-window-percentage` of `stable_window`, rounded to
    /// whole buckets and at least one bucket (Knative's `MakeMetric`).
    pub fn panic_window_for(stable_window: Duration, percentage: f64) -> Duration {
        let nanos = stable_window.as_nanos() as f64 * percentage / 100.0;
        let bucket = BUCKET_SIZE.as_nanos() as f64;
        let rounded = (nanos / bucket).round() * bucket;
        let d = Duration::from_nanos(rounded.max(0.0) as u64);
        d.max(BUCKET_SIZE)
    }
}

/// Knative's `validate`, in Knative's order, with Knative's messages.
fn validate(r: &Raw) -> Result<(), ConfigError> {
    let err = |key: &str, msg: String| Err(ConfigError::new(key, msg));
    if r.scale_to_zero_grace_period <= 0 {
        return err(
            "scale-to-zero-grace-period",
            format!(
                "scale-to-zero-grace-period must be positive, was: {}",
                format_go_nanos(r.scale_to_zero_grace_period)
            ),
        );
    }
    if r.scale_down_delay < 0 {
        return err(
            "scale-down-delay",
            format!(
                "scale-down-delay cannot be negative, was: {}",
                format_go_nanos(r.scale_down_delay)
            ),
        );
    }
    if !whole_seconds(r.scale_down_delay) {
        return err(
            "scale-down-delay",
            format!(
                "scale-down-delay = {}, must be specified with at most second precision",
                format_go_nanos(r.scale_down_delay)
            ),
        );
    }
    if r.scale_to_zero_pod_retention_period < 0 {
        return err(
            "scale-to-zero-pod-retention-period",
            format!(
                "scale-to-zero-pod-retention-period cannot be negative, was: {}",
                format_go_nanos(r.scale_to_zero_pod_retention_period)
            ),
        );
    }
    if r.target_burst_capacity < 0.0 && r.target_burst_capacity != -1.0 {
        return err(
            "target-burst-capacity",
            format!(
                "target-burst-capacity must be either non-negative or -1 (for unlimited), was: {:.6}",
                r.target_burst_capacity
            ),
        );
    }
    if r.cc_target_fraction <= 0.0 || r.cc_target_fraction > 1.0 {
        return err(
            "container-concurrency-target-percentage",
            format!(
                "container-concurrency-target-percentage = {:.6} is outside of valid range of (0, 100]",
                r.cc_target_fraction
            ),
        );
    }
    let x = r.cc_target_fraction * r.cc_target_default;
    if x < TARGET_MIN {
        return err(
            "container-concurrency-target-default",
            format!(
                "container-concurrency-target-percentage and container-concurrency-target-default yield target concurrency of {}, can't be less than {}",
                go_float(x),
                go_float(TARGET_MIN)
            ),
        );
    }
    if r.rps_target_default < TARGET_MIN {
        return err(
            "requests-per-second-target-default",
            format!(
                "requests-per-second-target-default must be at least {}, was: {}",
                go_float(TARGET_MIN),
                go_float(r.rps_target_default)
            ),
        );
    }
    if r.activator_capacity < 1.0 {
        return err(
            "activator-capacity",
            format!(
                "activator-capacity = {}, must be at least 1",
                go_float(r.activator_capacity)
            ),
        );
    }
    if r.max_scale_up_rate <= 1.0 {
        return err(
            "max-scale-up-rate",
            format!(
                "max-scale-up-rate = {}, must be greater than 1.0",
                go_float(r.max_scale_up_rate)
            ),
        );
    }
    if r.max_scale_down_rate <= 1.0 {
        return err(
            "max-scale-down-rate",
            format!(
                "max-scale-down-rate = {}, must be greater than 1.0",
                go_float(r.max_scale_down_rate)
            ),
        );
    }
    let window_min = WINDOW_MIN.as_nanos() as i64;
    let window_max = WINDOW_MAX.as_nanos() as i64;
    if r.stable_window < window_min || r.stable_window > window_max {
        return err(
            "stable-window",
            format!(
                "stable-window = {}, must be in [{}; {}] range",
                format_go_nanos(r.stable_window),
                dur(WINDOW_MIN),
                dur(WINDOW_MAX)
            ),
        );
    }
    if !whole_seconds(r.stable_window) {
        return err(
            "stable-window",
            format!(
                "stable-window = {}, must be specified with at most second precision",
                format_go_nanos(r.stable_window)
            ),
        );
    }
    if r.panic_window_percentage < PANIC_WINDOW_PERCENTAGE_MIN
        || r.panic_window_percentage > PANIC_WINDOW_PERCENTAGE_MAX
    {
        return err(
            "panic-window-percentage",
            format!(
                "panic-window-percentage = {}, must be in [{}, {}] interval",
                go_float(r.panic_window_percentage),
                go_float(PANIC_WINDOW_PERCENTAGE_MIN),
                go_float(PANIC_WINDOW_PERCENTAGE_MAX)
            ),
        );
    }
    if r.initial_scale < 0 || (r.initial_scale == 0 && !r.allow_zero_initial_scale) {
        return err(
            "initial-scale",
            format!(
                "initial-scale = {}, must be at least 0 (or at least 1 when allow-zero-initial-scale is false)",
                r.initial_scale
            ),
        );
    }
    let min_max_scale = i64::from(r.max_scale_limit > 0);
    if r.max_scale < min_max_scale || (r.max_scale_limit > 0 && r.max_scale > r.max_scale_limit) {
        return err(
            "max-scale",
            format!(
                "max-scale = {}, must be in [{}, max-scale-limit({})] range",
                r.max_scale, min_max_scale, r.max_scale_limit
            ),
        );
    }
    if r.max_scale_limit < 0 {
        return err(
            "max-scale-limit",
            format!(
                "max-scale-limit = {}, must be at least 0",
                r.max_scale_limit
            ),
        );
    }
    if r.min_scale < 0 || (r.max_scale > 0 && r.min_scale > r.max_scale) {
        return err(
            "min-scale",
            format!(
                "min-scale = {}, must be in [0, max-scale({})] range",
                r.min_scale, r.max_scale
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<AutoscalerConfig, ConfigError> {
        let data: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AutoscalerConfig::from_config_map(&data)
    }

    #[track_caller]
    fn bad(pairs: &[(&str, &str)], key: &str, message: &str) {
        let e = parse(pairs).unwrap_err();
        assert_eq!(e.key, key);
        assert_eq!(e.message, message);
        assert_eq!(e.to_string(), message);
    }

    #[test]
    fn empty_config_map_gives_knative_defaults() {
        let c = parse(&[("_example", "ignored")]).unwrap();
        assert_eq!(c, AutoscalerConfig::default());
        assert_eq!(c.container_concurrency_target_default, 100.0);
        assert_eq!(c.container_concurrency_target_fraction, 0.7);
        assert_eq!(c.rps_target_default, 200.0);
        assert_eq!(c.target_burst_capacity, 211.0);
        assert_eq!(c.stable_window, Duration::from_secs(60));
        assert_eq!(c.panic_window_percentage, 10.0);
        assert_eq!(c.panic_threshold_percentage, 200.0);
        assert_eq!(c.max_scale_up_rate, 1000.0);
        assert_eq!(c.max_scale_down_rate, 2.0);
        assert!(c.enable_scale_to_zero);
        assert_eq!(c.scale_to_zero_grace_period, Duration::from_secs(30));
        assert_eq!(c.scale_to_zero_pod_retention_period, Duration::ZERO);
        assert_eq!(c.initial_scale, 1);
        assert!(!c.allow_zero_initial_scale);
        assert_eq!((c.min_scale, c.max_scale, c.max_scale_limit), (0, 0, 0));
        assert_eq!(c.scale_down_delay, Duration::ZERO);
        assert_eq!(c.activator_capacity, 100.0);
        assert_eq!(c.pod_autoscaler_class, KPA_CLASS);
    }

    #[test]
    fn values_override_defaults() {
        let c = parse(&[
            ("container-concurrency-target-percentage", "80"),
            ("container-concurrency-target-default", "10"),
            ("stable-window", "1m30s"),
            ("scale-to-zero-grace-period", "500ms"),
            ("scale-to-zero-pod-retention-period", "2m"),
            ("scale-down-delay", "15s"),
            ("enable-scale-to-zero", "false"),
            ("target-burst-capacity", "-1"),
            ("max-scale", "10"),
            ("max-scale-limit", "20"),
            ("min-scale", "2"),
            ("initial-scale", "0"),
            ("allow-zero-initial-scale", "true"),
            ("pod-autoscaler-class", HPA_CLASS),
        ])
        .unwrap();
        assert!((c.container_concurrency_target_fraction - 0.8).abs() < 1e-12);
        assert_eq!(c.container_concurrency_target_default, 10.0);
        assert_eq!(c.stable_window, Duration::from_secs(90));
        assert_eq!(c.scale_to_zero_grace_period, Duration::from_millis(500));
        assert_eq!(
            c.scale_to_zero_pod_retention_period,
            Duration::from_secs(120)
        );
        assert_eq!(c.scale_down_delay, Duration::from_secs(15));
        assert!(!c.enable_scale_to_zero);
        assert_eq!(c.target_burst_capacity, -1.0);
        assert_eq!((c.min_scale, c.max_scale, c.max_scale_limit), (2, 10, 20));
        assert_eq!(c.initial_scale, 0);
        assert_eq!(c.pod_autoscaler_class, HPA_CLASS);
        // Legacy fractions stay fractions.
        let c = parse(&[("container-concurrency-target-percentage", "0.5")]).unwrap();
        assert_eq!(c.container_concurrency_target_fraction, 0.5);
    }

    #[test]
    fn parse_errors_name_the_key() {
        bad(
            &[("stable-window", "sixty")],
            "stable-window",
            "failed to parse data: failed to parse \"stable-window\": time: invalid duration \"sixty\"",
        );
        bad(
            &[("enable-scale-to-zero", "yes")],
            "enable-scale-to-zero",
            "failed to parse data: failed to parse \"enable-scale-to-zero\": strconv.ParseBool: parsing \"yes\": invalid syntax",
        );
        bad(
            &[("max-scale-up-rate", "fast")],
            "max-scale-up-rate",
            "failed to parse data: failed to parse \"max-scale-up-rate\": strconv.ParseFloat: parsing \"fast\": invalid syntax",
        );
        bad(
            &[("initial-scale", "3000000000")],
            "initial-scale",
            "failed to parse data: failed to parse \"initial-scale\": strconv.ParseInt: parsing \"3000000000\": value out of range",
        );
    }

    #[test]
    fn validation_messages_are_knatives() {
        bad(
            &[("stable-window", "5s")],
            "stable-window",
            "stable-window = 5s, must be in [6s; 1h0m0s] range",
        );
        bad(
            &[("stable-window", "2h")],
            "stable-window",
            "stable-window = 2h0m0s, must be in [6s; 1h0m0s] range",
        );
        bad(
            &[("stable-window", "6500ms")],
            "stable-window",
            "stable-window = 6.5s, must be specified with at most second precision",
        );
        bad(
            &[("panic-window-percentage", "0.5")],
            "panic-window-percentage",
            "panic-window-percentage = 0.5, must be in [1, 100] interval",
        );
        bad(
            &[("target-burst-capacity", "-2")],
            "target-burst-capacity",
            "target-burst-capacity must be either non-negative or -1 (for unlimited), was: -2.000000",
        );
        bad(
            &[("max-scale-up-rate", "1")],
            "max-scale-up-rate",
            "max-scale-up-rate = 1, must be greater than 1.0",
        );
        bad(
            &[("max-scale-down-rate", "0.5")],
            "max-scale-down-rate",
            "max-scale-down-rate = 0.5, must be greater than 1.0",
        );
        bad(
            &[("scale-to-zero-grace-period", "0s")],
            "scale-to-zero-grace-period",
            "scale-to-zero-grace-period must be positive, was: 0s",
        );
        bad(
            &[("scale-down-delay", "-1s")],
            "scale-down-delay",
            "scale-down-delay cannot be negative, was: -1s",
        );
        bad(
            &[("scale-down-delay", "1.5s")],
            "scale-down-delay",
            "scale-down-delay = 1.5s, must be specified with at most second precision",
        );
        bad(
            &[("scale-to-zero-pod-retention-period", "-1m")],
            "scale-to-zero-pod-retention-period",
            "scale-to-zero-pod-retention-period cannot be negative, was: -1m0s",
        );
        bad(
            &[("container-concurrency-target-percentage", "0")],
            "container-concurrency-target-percentage",
            "container-concurrency-target-percentage = 0.000000 is outside of valid range of (0, 100]",
        );
        bad(
            &[("container-concurrency-target-default", "0.001")],
            "container-concurrency-target-default",
            "container-concurrency-target-percentage and container-concurrency-target-default yield target concurrency of 0.0007, can't be less than 0.01",
        );
        bad(
            &[("requests-per-second-target-default", "0")],
            "requests-per-second-target-default",
            "requests-per-second-target-default must be at least 0.01, was: 0",
        );
        bad(
            &[("activator-capacity", "0.5")],
            "activator-capacity",
            "activator-capacity = 0.5, must be at least 1",
        );
        bad(
            &[("initial-scale", "0")],
            "initial-scale",
            "initial-scale = 0, must be at least 0 (or at least 1 when allow-zero-initial-scale is false)",
        );
        bad(
            &[("max-scale-limit", "5"), ("max-scale", "10")],
            "max-scale",
            "max-scale = 10, must be in [1, max-scale-limit(5)] range",
        );
        bad(
            &[("max-scale-limit", "5")],
            "max-scale",
            "max-scale = 0, must be in [1, max-scale-limit(5)] range",
        );
        bad(
            &[("max-scale-limit", "-1")],
            "max-scale-limit",
            "max-scale-limit = -1, must be at least 0",
        );
        bad(
            &[("min-scale", "3"), ("max-scale", "2")],
            "min-scale",
            "min-scale = 3, must be in [0, max-scale(2)] range",
        );
    }

    #[test]
    fn panic_window_rounds_to_buckets() {
        let pw = |s, p| AutoscalerConfig::panic_window_for(Duration::from_secs(s), p);
        assert_eq!(pw(60, 10.0), Duration::from_secs(6));
        assert_eq!(pw(60, 1.0), Duration::from_secs(1));
        assert_eq!(pw(6, 1.0), Duration::from_secs(1));
        assert_eq!(pw(61, 10.0), Duration::from_secs(6));
        assert_eq!(pw(65, 10.0), Duration::from_secs(7));
    }
}
