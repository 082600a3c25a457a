//! The lifecycle of one revision's PodAutoscaler: Knative's KPA reconciler
//! (`pkg/reconciler/autoscaling/kpa/kpa.go`) and scaler (`kpa/scaler.go`) as a
//! state machine. Each [`PodAutoscaler::tick`] turns the decider's recommendation
//! into the scale the runtime should run, applying min/max/initial/activation
//! scale and the scale-to-zero rules (stable window, activator in the path for the
//! grace period, pod retention, activation timeout), and computes the `Active`
//! condition and whether the activator must buffer requests.

use std::time::{Duration, Instant};

use crate::annotations::{Class, RevisionScaling};
use crate::hpa::HpaScaler;
use crate::kpa::{Collector, Decider, Sample, ScaleResult};

/// How often Knative's decider runs; a caller should tick at least this often
/// while a revision has instances (the [`Decision::next_tick`] says so).
pub const TICK_INTERVAL: Duration = Duration::from_secs(2);
/// How often the Kubernetes HPA controller evaluates (`--horizontal-pod-autoscaler-sync-period`).
pub const HPA_SYNC_PERIOD: Duration = Duration::from_secs(15);
/// Re-check delay while waiting for the activator to be in the path.
const REENQUEUE_PERIOD: Duration = Duration::from_secs(1);

/// `reason` of the Active condition when scaled to zero.
pub const REASON_NO_TRAFFIC: &str = "NoTraffic";
/// `message` of the Active condition when scaled to zero.
pub const MESSAGE_NO_TRAFFIC: &str = "The target is not receiving traffic.";
/// `reason` of the Active condition while activating.
pub const REASON_QUEUED: &str = "Queued";
/// `message` of the Active condition while activating.
pub const MESSAGE_QUEUED: &str =
    "Requests to the target are being buffered as resources are provisioned.";
/// `reason` of the Active condition when activation timed out.
pub const REASON_TIMED_OUT: &str = "TimedOut";
/// `message` of the Active condition when activation timed out.
pub const MESSAGE_TIMED_OUT: &str = "The target could not be activated.";

/// A Kubernetes condition status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known (yet).
    Unknown,
}

impl ConditionStatus {
    /// `"True"`, `"False"` or `"Unknown"`, as written in `status.conditions[].status`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

/// The PodAutoscaler's `Active` condition: True while instances serve traffic,
/// False when scaled to zero, Unknown while activating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveCondition {
    /// The condition's status.
    pub status: ConditionStatus,
    /// One-word reason (empty when True).
    pub reason: String,
    /// Human-readable message (empty when True).
    pub message: String,
}

impl ActiveCondition {
    fn new(status: ConditionStatus, reason: &str, message: &str) -> Self {
        ActiveCondition {
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// What one [`PodAutoscaler::tick`] decided, for the caller to apply.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Instances the runtime should run now (converge to it; do not wait for it).
    pub desired_scale: u32,
    /// The `Active` condition to publish on the PodAutoscaler (and Revision).
    pub active: ActiveCondition,
    /// Whether requests must go through the activator (buffering) rather than
    /// straight to instances: at zero, without ready instances, or when the
    /// excess burst capacity is negative.
    pub activator_in_path: bool,
    /// Spare capacity beyond target-burst-capacity (negative: not enough).
    pub excess_burst_capacity: i64,
    /// Whether the decider is in panic mode.
    pub panic_mode: bool,
    /// Stable-window average of the scaling metric (concurrency, or requests/s for rps).
    pub stable_concurrency: f64,
    /// Panic-window average of the scaling metric.
    pub panic_concurrency: f64,
    /// When to tick again even if nothing else happens (end of a grace period,
    /// activation timeout, next decider evaluation); `None` when idle at zero.
    pub next_tick: Option<Instant>,
}

/// Knative's `applyBounds`: min first, then max (0 = unbounded).
fn apply_bounds(min: u32, max: u32, x: i64) -> i64 {
    if x < i64::from(min) {
        return i64::from(min);
    }
    if max != 0 && x > i64::from(max) {
        return i64::from(max);
    }
    x
}

fn earliest(next: &mut Option<Instant>, at: Instant) {
    *next = Some(next.map_or(at, |n| n.min(at)));
}

/// Knative's initial excess burst capacity of a new decider: the initial instances'
/// capacity minus the target burst capacity (or TBC itself when 0 or -1).
fn initial_ebc(scaling: &RevisionScaling, scale: u32) -> i64 {
    let tbc = scaling.target_burst_capacity;
    if tbc == 0.0 || tbc == -1.0 {
        tbc as i64
    } else {
        (f64::from(scale) * scaling.total - tbc).trunc() as i64
    }
}

/// One revision's autoscaler: metric history, decider, HPA state and the `Active`
/// condition, advanced by [`tick`](Self::tick).
#[derive(Debug, Clone)]
pub struct PodAutoscaler {
    collector: Collector,
    decider: Decider,
    hpa: HpaScaler,
    resource_usage: Option<f64>,
    active: ActiveCondition,
    active_since: Instant,
    scale_target_initialized: bool,
    /// The decider's latest valid recommendation; -1 until it had data.
    decider_desired: i64,
    decider_ebc: i64,
    /// The scale last handed to the runtime.
    applied: u32,
    /// Since when the activator has been in the request path.
    activator_since: Option<Instant>,
    poked: bool,
}

impl PodAutoscaler {
    /// The autoscaler of a new revision: it starts at the revision's initial scale,
    /// activating (`Active` Unknown) until that many instances are ready.
    pub fn new(now: Instant, scaling: &RevisionScaling) -> Self {
        PodAutoscaler {
            collector: Collector::new(),
            decider: Decider::new(now, 0),
            hpa: HpaScaler::new(),
            resource_usage: None,
            active: ActiveCondition::new(ConditionStatus::Unknown, "", ""),
            active_since: now,
            scale_target_initialized: false,
            decider_desired: -1,
            decider_ebc: initial_ebc(scaling, scaling.initial_scale),
            applied: scaling.initial_scale,
            activator_since: None,
            poked: false,
        }
    }

    /// The autoscaler of a revision that already runs `current_scale` instances,
    /// `ready` of them ready (e.g. after a server restart, which loses the metric
    /// history): like upstream it starts in panic mode above one ready instance so
    /// it does not scale down before it has data.
    pub fn resume(now: Instant, scaling: &RevisionScaling, current_scale: u32, ready: u32) -> Self {
        let mut pa = PodAutoscaler::new(now, scaling);
        pa.decider = Decider::new(now, ready);
        pa.scale_target_initialized = true;
        pa.applied = current_scale;
        pa.decider_ebc = initial_ebc(scaling, current_scale);
        let (min, _) = scaling.scale_bounds();
        pa.active = if current_scale == 0 {
            ActiveCondition::new(
                ConditionStatus::False,
                REASON_NO_TRAFFIC,
                MESSAGE_NO_TRAFFIC,
            )
        } else if ready >= min.max(1) {
            ActiveCondition::new(ConditionStatus::True, "", "")
        } else {
            ActiveCondition::new(ConditionStatus::Unknown, REASON_QUEUED, MESSAGE_QUEUED)
        };
        pa
    }

    /// Records one second of traffic (see [`Collector::record`]: one sample per
    /// second while the revision has instances or buffered requests, zeros included).
    pub fn record(&mut self, now: Instant, sample: Sample) {
        self.collector.record(now, sample);
    }

    /// Records the HPA metric of the revision (class hpa only): the average CPU
    /// utilisation in % of the containers' CPU requests, or for the memory metric
    /// the average MiB per instance — the unit of [`RevisionScaling::target`].
    pub fn record_resource_usage(&mut self, _now: Instant, value: f64) {
        if value.is_finite() {
            self.resource_usage = Some(value);
        }
    }

    /// A request arrived for a revision scaled to zero: the next
    /// [`tick`](Self::tick) scales to at least activation-scale at once, whatever
    /// the windows say. Returns whether a tick is needed now.
    pub fn poke(&mut self, _now: Instant) -> bool {
        if self.applied == 0 {
            self.poked = true;
        }
        self.poked
    }

    /// The current `Active` condition.
    pub fn active(&self) -> &ActiveCondition {
        &self.active
    }

    /// The scale last handed to the runtime.
    pub fn desired_scale(&self) -> u32 {
        self.applied
    }

    /// Whether the revision has reached its initial scale once.
    pub fn scale_target_initialized(&self) -> bool {
        self.scale_target_initialized
    }

    /// Runs one evaluation with `ready` ready instances and the revision's current
    /// settings, returning what to apply. Call it every [`TICK_INTERVAL`] while the
    /// revision has instances, right after [`poke`](Self::poke), when the ready
    /// count changes, and at [`Decision::next_tick`].
    pub fn tick(&mut self, now: Instant, ready: u32, scaling: &RevisionScaling) -> Decision {
        match scaling.class {
            Class::Kpa => self.tick_kpa(now, ready, scaling),
            Class::Hpa => self.tick_hpa(now, ready, scaling),
        }
    }

    fn set_active(&mut self, now: Instant, status: ConditionStatus, reason: &str, message: &str) {
        let cond = ActiveCondition::new(status, reason, message);
        if cond != self.active {
            self.active = cond;
            self.active_since = now;
        }
    }

    /// Knative's `activeThreshold`: ready instances needed to count as active.
    fn active_threshold(&self, scaling: &RevisionScaling) -> u32 {
        let (min, _) = scaling.scale_bounds();
        if self.scale_target_initialized {
            min.max(1)
        } else {
            min.max(scaling.initial_scale)
        }
    }

    fn tick_kpa(&mut self, now: Instant, ready: u32, scaling: &RevisionScaling) -> Decision {
        let observed = self.collector.stable_and_panic(
            now,
            &scaling.metric,
            scaling.stable_window,
            scaling.panic_window,
        );
        let result: ScaleResult = self.decider.scale(now, observed, ready, scaling);
        if result.valid {
            self.decider_desired = i64::from(result.desired_pod_count);
            self.decider_ebc = result.excess_burst_capacity;
        }
        let mut desired = self.decider_desired;
        if std::mem::take(&mut self.poked) {
            desired = desired.max(i64::from(scaling.activation_scale.max(1)));
        }

        // scaler.scale
        let mut next = None;
        let activating = self.active.status == ConditionStatus::Unknown;
        let (want, apply) = if desired < 0 && !activating {
            // Metrics are not yet being collected.
            (desired, false)
        } else {
            let (mut min, max) = scaling.scale_bounds();
            if scaling.initial_scale > 1 && !self.scale_target_initialized {
                min = min.max(scaling.initial_scale);
            }
            let bounded = apply_bounds(min, max, desired);
            self.handle_scale_to_zero(now, bounded, scaling, &mut next)
        };
        if apply {
            self.applied = u32::try_from(want).unwrap_or(0);
        }

        // The activator goes in the path at zero, on negative excess burst capacity,
        // when an inactive revision has no recommendation, and without ready instances.
        let inactive = self.active.status == ConditionStatus::False;
        let activator_in_path =
            want == 0 || self.decider_ebc < 0 || (want == -1 && inactive) || ready == 0;
        if activator_in_path {
            self.activator_since.get_or_insert(now);
        } else {
            self.activator_since = None;
        }

        self.compute_active_condition(now, want, ready, scaling);

        // The decider needs evaluating while instances run; at zero a request pokes.
        if self.applied > 0 || ready > 0 {
            earliest(&mut next, now + TICK_INTERVAL);
        }
        Decision {
            desired_scale: self.applied,
            active: self.active.clone(),
            activator_in_path,
            excess_burst_capacity: self.decider_ebc,
            panic_mode: self.decider.in_panic(),
            stable_concurrency: if result.valid {
                result.stable_value
            } else {
                0.0
            },
            panic_concurrency: if result.valid {
                result.panic_value
            } else {
                0.0
            },
            next_tick: next,
        }
    }

    /// Knative's `handleScaleToZero`: returns the scale to report and whether to
    /// apply it; records in `next` when the decision must be revisited.
    fn handle_scale_to_zero(
        &mut self,
        now: Instant,
        desired: i64,
        scaling: &RevisionScaling,
        next: &mut Option<Instant>,
    ) -> (i64, bool) {
        if desired != 0 {
            return (desired, true);
        }
        if !scaling.enable_scale_to_zero {
            return (1, true);
        }
        let in_status_for = now.saturating_duration_since(self.active_since);
        match self.active.status {
            ConditionStatus::Unknown => {
                // Stuck activating past the progress deadline: give up, scale to zero.
                let deadline = self.active_since + scaling.activation_timeout;
                if now >= deadline {
                    return (0, true);
                }
                earliest(next, deadline);
                (-1, false)
            }
            ConditionStatus::True => {
                // Active for a stable window: mark inactive (activator in the path)
                // without scaling yet; before that keep one instance.
                let sw = scaling.stable_window;
                if in_status_for >= sw {
                    return (0, false);
                }
                earliest(next, now + (sw - in_status_for));
                (1, true)
            }
            ConditionStatus::False => {
                let backed_by_activator =
                    scaling.target_burst_capacity == -1.0 || self.activator_since.is_some();
                if !backed_by_activator {
                    earliest(next, now + REENQUEUE_PERIOD);
                    return (0, false);
                }
                let grace = scaling.scale_to_zero_grace_period;
                let retention = scaling.scale_to_zero_pod_retention_period;
                if in_status_for >= grace.max(retention) {
                    return (0, true);
                }
                if !retention.is_zero() && in_status_for < retention {
                    earliest(next, now + (retention - in_status_for));
                    return (0, false);
                }
                let proxy_for = self
                    .activator_since
                    .map(|s| now.saturating_duration_since(s))
                    .unwrap_or(Duration::ZERO);
                if proxy_for >= grace {
                    return (0, true);
                }
                earliest(next, now + (grace - proxy_for));
                (0, false)
            }
        }
    }

    /// Knative's `computeActiveCondition`.
    fn compute_active_condition(
        &mut self,
        now: Instant,
        want: i64,
        ready: u32,
        scaling: &RevisionScaling,
    ) {
        let min_ready = self.active_threshold(scaling);
        if ready >= min_ready {
            self.scale_target_initialized = true;
        }
        let activating = self.active.status == ConditionStatus::Unknown;
        let inactive = self.active.status == ConditionStatus::False;
        if want == 0 || min_ready == 0 {
            if activating && min_ready > 0 {
                // Only reached when activation timed out.
                self.set_active(
                    now,
                    ConditionStatus::False,
                    REASON_TIMED_OUT,
                    MESSAGE_TIMED_OUT,
                );
            } else {
                self.set_active(
                    now,
                    ConditionStatus::False,
                    REASON_NO_TRAFFIC,
                    MESSAGE_NO_TRAFFIC,
                );
            }
        } else if ready < min_ready {
            if want > 0 || !inactive {
                self.set_active(now, ConditionStatus::Unknown, REASON_QUEUED, MESSAGE_QUEUED);
            } else {
                self.set_active(
                    now,
                    ConditionStatus::False,
                    REASON_NO_TRAFFIC,
                    MESSAGE_NO_TRAFFIC,
                );
            }
        } else if want > 0 || !inactive {
            self.scale_target_initialized = true;
            self.set_active(now, ConditionStatus::True, "", "");
        }
    }

    /// The HPA class: the Kubernetes algorithm on the recorded resource usage; the
    /// HPA is always Active and never scales to zero.
    fn tick_hpa(&mut self, now: Instant, ready: u32, scaling: &RevisionScaling) -> Decision {
        let (min, max) = scaling.scale_bounds();
        let desired = match self.resource_usage {
            Some(value) => {
                self.hpa
                    .recommend(now, self.applied, ready, value, scaling.target, min, max)
            }
            None => u32::try_from(apply_bounds(min, max, i64::from(self.applied))).unwrap_or(min),
        };
        self.applied = desired;
        if ready >= self.active_threshold(scaling) {
            self.scale_target_initialized = true;
        }
        self.set_active(now, ConditionStatus::True, "", "");
        let activator_in_path = ready == 0;
        if activator_in_path {
            self.activator_since.get_or_insert(now);
        } else {
            self.activator_since = None;
        }
        Decision {
            desired_scale: self.applied,
            active: self.active.clone(),
            activator_in_path,
            excess_burst_capacity: 0,
            panic_mode: false,
            stable_concurrency: 0.0,
            panic_concurrency: 0.0,
            next_tick: Some(now + HPA_SYNC_PERIOD),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Scenarios after knative/serving `kpa/scaler_test.go` and `kpa/kpa_test.go`,
    //! replayed second by second on a fake clock.
    use std::collections::BTreeMap;

    use super::*;
    use crate::clock::{Clock, FakeClock};
    use crate::config::{AutoscalerConfig, HPA_CLASS};

    const SEC: Duration = Duration::from_secs(1);

    /// A revision driven the way the gateway and runtime would: a sample every
    /// second while instances exist or requests arrive, a tick every second, and
    /// instances that become ready `start_delay` seconds after being asked for.
    struct Sim {
        clock: FakeClock,
        pa: PodAutoscaler,
        scaling: RevisionScaling,
        ready: u32,
        start_delay: u32,
        pending: Vec<(u32, u32)>,
        last: Option<Decision>,
    }

    impl Sim {
        fn new(pairs: &[(&str, &str)]) -> Sim {
            Sim::with_config(pairs, AutoscalerConfig::default(), 0)
        }

        fn with_config(pairs: &[(&str, &str)], config: AutoscalerConfig, cc: u32) -> Sim {
            let anns: BTreeMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (format!("autoscaling.knative.dev/{k}"), v.to_string()))
                .collect();
            let scaling = RevisionScaling::resolve(&config, &anns, cc);
            let clock = FakeClock::new();
            let pa = PodAutoscaler::new(clock.now(), &scaling);
            Sim {
                clock,
                pa,
                scaling,
                ready: 0,
                start_delay: 0,
                pending: Vec::new(),
                last: None,
            }
        }

        fn now(&self) -> Instant {
            self.clock.now()
        }

        fn elapsed(&self) -> u64 {
            self.clock.elapsed().as_secs()
        }

        /// One second with `concurrency` in-flight requests on average.
        fn step(&mut self, concurrency: f64) -> Decision {
            let now = self.now();
            let desired = self.pa.desired_scale();
            if desired > 0 || self.ready > 0 || concurrency > 0.0 {
                self.pa.record(
                    now,
                    Sample {
                        concurrency,
                        requests: concurrency,
                    },
                );
            }
            if desired == 0 && concurrency > 0.0 {
                assert!(self.pa.poke(now));
            }
            let d = self.tick();
            self.clock.advance(SEC);
            d
        }

        fn tick(&mut self) -> Decision {
            let now = self.now();
            let d = self.pa.tick(now, self.ready, &self.scaling);
            // The runtime converges: scale-downs at once, scale-ups after the delay.
            let want = d.desired_scale;
            if want <= self.ready {
                self.ready = want;
                self.pending.clear();
            } else if !self.pending.iter().any(|(_, w)| *w == want) {
                self.pending
                    .push((self.elapsed() as u32 + self.start_delay, want));
            }
            let t = self.elapsed() as u32;
            if let Some(w) = self
                .pending
                .iter()
                .filter(|(at, _)| *at <= t)
                .map(|(_, w)| *w)
                .max()
            {
                self.ready = w;
                self.pending.retain(|(at, _)| *at > t);
            }
            self.last = Some(d.clone());
            d
        }

        /// Steps at `concurrency` until `pred` holds (at most `limit` seconds);
        /// returns the elapsed seconds at which it held.
        fn until(&mut self, concurrency: f64, limit: u64, pred: impl Fn(&Decision) -> bool) -> u64 {
            for _ in 0..limit {
                let d = self.step(concurrency);
                if pred(&d) {
                    return self.elapsed() - 1;
                }
            }
            panic!(
                "condition not reached in {limit}s; last decision {:?}",
                self.last
            );
        }
    }

    fn status(d: &Decision) -> ConditionStatus {
        d.active.status
    }

    #[test]
    fn new_revision_activates_then_idles_to_zero_after_stable_window_and_grace() {
        // TBC 0: the activator is in the path only at zero, so the grace period shows.
        let mut sim = Sim::new(&[("target-burst-capacity", "0")]);
        sim.start_delay = 3;
        let d = sim.step(0.0);
        assert_eq!(d.desired_scale, 1, "initial scale");
        assert_eq!(status(&d), ConditionStatus::Unknown);
        assert_eq!(d.active.reason, REASON_QUEUED);
        assert_eq!(d.active.message, MESSAGE_QUEUED);
        assert!(d.activator_in_path, "nothing ready yet");
        // Ready 3s after the first tick, seen by the next tick.
        let active_at = sim.until(0.0, 10, |d| status(d) == ConditionStatus::True);
        assert_eq!(active_at, 4);
        let d = sim.last.clone().unwrap();
        assert!(!d.activator_in_path, "EBC 0 with a ready instance");
        assert_eq!(d.excess_burst_capacity, 0);
        // Idle: one instance stays for the stable window after activation.
        let inactive_at = sim.until(0.0, 120, |d| status(d) == ConditionStatus::False);
        assert_eq!(inactive_at, active_at + 60);
        let d = sim.last.clone().unwrap();
        assert_eq!(d.desired_scale, 1, "marked inactive first, scaled later");
        assert_eq!(d.active.reason, REASON_NO_TRAFFIC);
        assert_eq!(d.active.message, MESSAGE_NO_TRAFFIC);
        assert!(d.activator_in_path);
        assert_eq!(d.next_tick, Some(sim.now() - SEC + TICK_INTERVAL));
        // Zero only once the activator has been in the path for the grace period.
        let zero_at = sim.until(0.0, 120, |d| d.desired_scale == 0);
        assert_eq!(zero_at, inactive_at + 30);
        let d = sim.step(0.0);
        assert_eq!(d.desired_scale, 0);
        assert!(d.activator_in_path);
        assert_eq!(d.next_tick, None, "idle at zero needs no ticks");
    }

    #[test]
    fn next_tick_announces_the_end_of_the_grace_period() {
        let mut sim = Sim::new(&[("target-burst-capacity", "0")]);
        sim.until(0.0, 200, |d| status(d) == ConditionStatus::False);
        // Tick only when told to: the grace period ends 30s after going inactive.
        let inactive = sim.now() - SEC;
        let d = sim.tick();
        assert_eq!(d.desired_scale, 1);
        let mut next = d.next_tick.unwrap();
        for _ in 0..100 {
            let now = sim.now();
            if next > now {
                sim.clock.advance(next - now);
            }
            let d = sim.tick();
            if d.desired_scale == 0 {
                assert_eq!(sim.now() - inactive, Duration::from_secs(30));
                return;
            }
            next = d.next_tick.unwrap();
        }
        panic!("never scaled to zero");
    }

    #[test]
    fn activator_in_path_long_enough_takes_the_fast_path() {
        // Default TBC 211 > one instance's capacity: the activator never left the
        // path, so zero follows right after the revision goes inactive.
        let mut sim = Sim::new(&[]);
        let d = sim.step(0.0);
        assert!(d.excess_burst_capacity < 0);
        sim.until(0.0, 10, |d| status(d) == ConditionStatus::True);
        let d = sim.last.clone().unwrap();
        assert!(d.activator_in_path);
        assert_eq!(d.excess_burst_capacity, (100.0f64 - 211.0).floor() as i64);
        let inactive_at = sim.until(0.0, 120, |d| status(d) == ConditionStatus::False);
        let zero_at = sim.until(0.0, 120, |d| d.desired_scale == 0);
        assert_eq!(zero_at, inactive_at + 1);
    }

    #[test]
    fn pod_retention_keeps_the_last_instance() {
        let mut sim = Sim::new(&[("scale-to-zero-pod-retention-period", "2m")]);
        let inactive_at = sim.until(0.0, 120, |d| status(d) == ConditionStatus::False);
        let zero_at = sim.until(0.0, 300, |d| d.desired_scale == 0);
        assert_eq!(zero_at, inactive_at + 120);
    }

    #[test]
    fn scale_to_zero_disabled_keeps_one() {
        let config = AutoscalerConfig {
            enable_scale_to_zero: false,
            ..Default::default()
        };
        let mut sim = Sim::with_config(&[], config, 0);
        for _ in 0..300 {
            let d = sim.step(0.0);
            assert_eq!(d.desired_scale, 1);
        }
        assert_eq!(status(sim.last.as_ref().unwrap()), ConditionStatus::True);
        // min-scale still wins over one.
        let config = AutoscalerConfig {
            enable_scale_to_zero: false,
            ..Default::default()
        };
        let mut sim = Sim::with_config(&[("min-scale", "2")], config, 0);
        for _ in 0..200 {
            sim.step(0.0);
        }
        assert_eq!(sim.last.as_ref().unwrap().desired_scale, 2);
    }

    #[test]
    fn min_and_max_scale_bound_the_decider() {
        let mut sim = Sim::new(&[("min-scale", "2"), ("max-scale", "4")]);
        let d = sim.step(0.0);
        assert_eq!(d.desired_scale, 2, "min-scale from the start");
        for _ in 0..300 {
            let d = sim.step(0.0);
            assert_eq!(d.desired_scale, 2);
        }
        assert_eq!(status(sim.last.as_ref().unwrap()), ConditionStatus::True);
        // 10× the target: max-scale caps at 4.
        for _ in 0..30 {
            sim.step(700.0);
        }
        assert_eq!(sim.last.as_ref().unwrap().desired_scale, 4);
        // Unreachable revisions ignore min-scale.
        sim.scaling.reachable = false;
        let zero_at = sim.until(0.0, 600, |d| d.desired_scale == 0);
        assert!(zero_at > 330, "{zero_at}");
    }

    #[test]
    fn initial_scale_holds_until_reached() {
        let mut sim = Sim::new(&[("initial-scale", "3")]);
        sim.start_delay = 5;
        for _ in 0..5 {
            let d = sim.step(0.0);
            assert_eq!(d.desired_scale, 3);
            assert_eq!(status(&d), ConditionStatus::Unknown);
        }
        let d = sim.step(0.0);
        assert_eq!(sim.ready, 3);
        assert_eq!(d.desired_scale, 3);
        let d = sim.step(0.0);
        assert_eq!(status(&d), ConditionStatus::True);
        assert!(sim.pa.scale_target_initialized());
        // Once reached, the decider may scale down (stable window keeps 1 first).
        let d = sim.step(0.0);
        assert!(d.desired_scale < 3, "{d:?}");
    }

    #[test]
    fn initial_scale_zero_starts_inactive() {
        let config = AutoscalerConfig {
            allow_zero_initial_scale: true,
            ..Default::default()
        };
        let mut sim = Sim::with_config(&[("initial-scale", "0")], config, 0);
        let d = sim.step(0.0);
        assert_eq!(d.desired_scale, 0);
        assert_eq!(status(&d), ConditionStatus::False);
        assert_eq!(d.active.reason, REASON_NO_TRAFFIC);
        assert!(d.activator_in_path);
        let d = sim.step(0.0);
        assert_eq!((d.desired_scale, status(&d)), (0, ConditionStatus::False));
        // The first request activates it.
        let d = sim.step(1.0);
        assert_eq!(d.desired_scale, 1);
        assert_eq!(status(&d), ConditionStatus::Unknown);
    }

    #[test]
    fn poke_from_zero_scales_to_activation_scale_at_once() {
        let mut sim = Sim::new(&[("activation-scale", "3")]);
        sim.until(0.0, 300, |d| d.desired_scale == 0);
        sim.clock.advance(Duration::from_secs(600));
        // A request arrives: poke, then tick at once — no sample recorded at all.
        let now = sim.now();
        assert!(sim.pa.poke(now));
        let d = sim.tick();
        assert_eq!(d.desired_scale, 3);
        assert_eq!(status(&d), ConditionStatus::Unknown);
        assert_eq!(d.active.reason, REASON_QUEUED);
        assert!(d.activator_in_path);
        // Poking a running revision is a no-op.
        sim.clock.advance(SEC);
        sim.tick();
        assert!(!sim.pa.poke(sim.now()));
        // With samples flowing the decider asks for activation-scale too.
        let mut sim = Sim::new(&[("activation-scale", "3")]);
        sim.until(0.0, 300, |d| d.desired_scale == 0);
        let d = sim.step(1.0);
        assert_eq!(d.desired_scale, 3);
        let d = sim.step(1.0);
        assert_eq!(d.desired_scale, 3);
        assert_eq!(status(&d), ConditionStatus::True);
    }

    #[test]
    fn activation_times_out_to_zero() {
        let mut sim = Sim::new(&[]);
        sim.start_delay = 10_000;
        let d = sim.step(0.0);
        assert_eq!(d.next_tick, Some(sim.now() - SEC + TICK_INTERVAL));
        let zero_at = sim.until(0.0, 700, |d| d.desired_scale == 0);
        assert_eq!(zero_at, 610);
        let d = sim.last.clone().unwrap();
        assert_eq!(status(&d), ConditionStatus::False);
        assert_eq!(d.active.reason, REASON_TIMED_OUT);
        assert_eq!(d.active.message, MESSAGE_TIMED_OUT);
    }

    #[test]
    fn steady_load_is_stable_and_bursts_panic() {
        // containerConcurrency 10 → target 7 per instance.
        let mut sim = Sim::with_config(&[], AutoscalerConfig::default(), 10);
        for _ in 0..120 {
            sim.step(21.0);
        }
        let d = sim.last.clone().unwrap();
        assert_eq!(d.desired_scale, 3);
        assert!(!d.panic_mode);
        assert!((d.stable_concurrency - 21.0).abs() < 1e-9);
        // Burst to 10× within the panic window: panic, scale up at once.
        let d = sim.step(210.0);
        assert!(d.panic_mode, "{d:?}");
        assert!(d.desired_scale > 3);
        let panic_started = sim.elapsed() - 1;
        for _ in 0..10 {
            sim.step(210.0);
        }
        let peak = sim.last.as_ref().unwrap().desired_scale;
        assert_eq!(peak, 30);
        // Load drops: no scale-down while panicking, which lasts a stable window
        // after the last decision over the panic threshold (the first burst second:
        // afterwards the ready instances covered the demand).
        let calm_at = loop {
            let d = sim.step(7.0);
            if !d.panic_mode {
                break sim.elapsed() - 1;
            }
            assert_eq!(d.desired_scale, peak, "{d:?}");
        };
        assert_eq!(calm_at, panic_started + 61);
        // Then the stable window decides, rate limited to halving per decision.
        let d = sim.last.clone().unwrap();
        assert_eq!(d.desired_scale, peak / 2, "{d:?}");
        let d = sim.step(7.0);
        assert!(d.desired_scale < peak / 2, "{d:?}");
    }

    #[test]
    fn rps_metric_uses_request_counts() {
        let mut sim = Sim::new(&[("metric", "rps"), ("target", "10")]);
        for _ in 0..70 {
            sim.step(35.0);
        }
        // target 10 rps × 70% = 7 per instance.
        assert_eq!(sim.last.as_ref().unwrap().desired_scale, 5);
    }

    #[test]
    fn scale_down_delay_holds_the_peak() {
        let mut sim = Sim::with_config(
            &[("scale-down-delay", "30s")],
            AutoscalerConfig::default(),
            10,
        );
        for _ in 0..90 {
            sim.step(35.0);
        }
        assert_eq!(sim.last.as_ref().unwrap().desired_scale, 5);
        // With no delay the stable average would drop within the window; with it
        // nothing drops for 30s after the load fell.
        for _ in 0..30 {
            let d = sim.step(0.0);
            assert_eq!(d.desired_scale, 5, "{d:?}");
        }
        sim.until(0.0, 120, |d| d.desired_scale < 5);
    }

    #[test]
    fn high_capacity_takes_the_activator_out_of_the_path() {
        let mut sim = Sim::new(&[("target-burst-capacity", "50"), ("min-scale", "3")]);
        sim.until(0.0, 10, |d| status(d) == ConditionStatus::True);
        // 3 × 100 − 50 − 0 = 250 spare.
        let d = sim.step(0.0);
        assert_eq!(d.excess_burst_capacity, 250);
        assert!(!d.activator_in_path);
        // Heavy load eats the spare capacity: the activator comes back.
        for _ in 0..8 {
            sim.step(290.0);
        }
        let d = sim.last.clone().unwrap();
        assert!(d.excess_burst_capacity < 0 || d.desired_scale > 3, "{d:?}");
        // Unlimited TBC: always in the path.
        let mut sim = Sim::new(&[("target-burst-capacity", "-1"), ("min-scale", "3")]);
        sim.until(0.0, 10, |d| status(d) == ConditionStatus::True);
        let d = sim.step(0.0);
        assert_eq!(d.excess_burst_capacity, -1);
        assert!(d.activator_in_path);
    }

    #[test]
    fn hpa_class_follows_utilisation() {
        let mut sim = Sim::new(&[("class", HPA_CLASS), ("metric", "cpu"), ("target", "50")]);
        let d = sim.step(0.0);
        assert_eq!(d.desired_scale, 1);
        assert_eq!(
            status(&d),
            ConditionStatus::True,
            "the HPA is always active"
        );
        assert_eq!(d.next_tick, Some(sim.now() - SEC + HPA_SYNC_PERIOD));
        sim.step(0.0);
        // 200% of a 50% target on one instance: 4, limited to max(2×1, 4).
        sim.pa.record_resource_usage(sim.now(), 200.0);
        let d = sim.step(0.0);
        assert_eq!(d.desired_scale, 4);
        // Within tolerance: no change.
        sim.pa.record_resource_usage(sim.now(), 52.0);
        assert_eq!(sim.step(0.0).desired_scale, 4);
        // Load falls: stabilised for five minutes, never below one.
        sim.pa.record_resource_usage(sim.now(), 1.0);
        for _ in 0..295 {
            assert_eq!(sim.step(0.0).desired_scale, 4);
        }
        sim.until(0.0, 10, |d| d.desired_scale == 1);
        for _ in 0..10 {
            let d = sim.step(0.0);
            assert_eq!(d.desired_scale, 1);
            assert!(!d.activator_in_path);
        }
    }

    #[test]
    fn resume_keeps_a_busy_revision_up() {
        let scaling = RevisionScaling::resolve(&AutoscalerConfig::default(), &BTreeMap::new(), 0);
        let clock = FakeClock::new();
        let mut pa = PodAutoscaler::resume(clock.now(), &scaling, 5, 5);
        assert_eq!(pa.active().status, ConditionStatus::True);
        // No data yet: nothing changes.
        let d = pa.tick(clock.now(), 5, &scaling);
        assert_eq!(d.desired_scale, 5);
        assert!(
            d.panic_mode,
            "restarts above one instance start in panic mode"
        );
        // Little load: panic mode holds the scale for a stable window.
        for _ in 0..30 {
            clock.advance(SEC);
            pa.record(
                clock.now(),
                Sample {
                    concurrency: 1.0,
                    requests: 1.0,
                },
            );
            assert_eq!(pa.tick(clock.now(), 5, &scaling).desired_scale, 5);
        }
        let at_zero = PodAutoscaler::resume(clock.now(), &scaling, 0, 0);
        assert_eq!(at_zero.active().status, ConditionStatus::False);
        assert_eq!(at_zero.desired_scale(), 0);
    }

    #[test]
    fn bounds_helper() {
        assert_eq!(apply_bounds(0, 0, -1), 0);
        assert_eq!(apply_bounds(2, 0, 0), 2);
        assert_eq!(apply_bounds(0, 8, 10), 8);
        assert_eq!(apply_bounds(5, 3, 4), 5, "min wins as upstream");
        assert_eq!(ConditionStatus::Unknown.as_str(), "Unknown");
    }
}

#[cfg(test)]
mod burst_from_zero {
    use super::*;
    use crate::AutoscalerConfig;
    use std::collections::BTreeMap;

    /// 190 requests held at zero for a containerConcurrency-10 revision: one poke
    /// starts one instance at once; the first second of data asks for all of them
    /// (⌈190 / (10 × 0.7)⌉ = 28) in panic mode.
    #[test]
    fn first_second_of_data_sizes_the_burst() {
        let config = AutoscalerConfig {
            allow_zero_initial_scale: true,
            ..Default::default()
        };
        let annotations = BTreeMap::from([(
            "autoscaling.knative.dev/initial-scale".to_string(),
            "0".to_string(),
        )]);
        let scaling = RevisionScaling::resolve(&config, &annotations, 10);
        let t0 = Instant::now();
        let mut pa = PodAutoscaler::new(t0, &scaling);
        assert_eq!(pa.tick(t0, 0, &scaling).desired_scale, 0);
        assert!(pa.poke(t0));
        let d = pa.tick(t0, 0, &scaling);
        assert_eq!(d.desired_scale, 1);
        assert_eq!(d.active.reason, REASON_QUEUED);
        let t1 = t0 + Duration::from_secs(1);
        pa.record(
            t1,
            Sample {
                concurrency: 190.0,
                requests: 200.0,
            },
        );
        let d = pa.tick(t1, 1, &scaling);
        assert_eq!(d.desired_scale, 28, "{d:?}");
        assert!(d.panic_mode);
        assert!(d.activator_in_path);
    }
}
