//! Knative's decider (`pkg/autoscaler/scaling/autoscaler.go`): from the stable and
//! panic averages of one revision's load and its ready instances, the number of
//! instances it should have, whether it is in panic mode, and its excess burst
//! capacity (which decides whether the activator stays in the request path).

use std::time::{Duration, Instant};

use crate::annotations::{Metric, RevisionScaling};
use crate::config::WINDOW_MAX;
use crate::window::{MaxWindow, TimedBuckets};

/// One second of one revision's traffic, as the gateway observes it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Sample {
    /// Average number of in-flight requests over that second (including requests
    /// buffered by the activator for this revision).
    pub concurrency: f64,
    /// Requests that arrived in that second.
    pub requests: f64,
}

/// The metric history of one revision (Knative's metric `collection`): feeds the
/// per-second [`Sample`]s into buckets and answers the stable/panic averages of
/// whichever metric the revision scales on.
#[derive(Debug, Clone)]
pub struct Collector {
    concurrency: TimedBuckets,
    requests: TimedBuckets,
}

impl Default for Collector {
    fn default() -> Self {
        Self::new()
    }
}

impl Collector {
    /// An empty collector (keeping a minute of history until asked for more).
    pub fn new() -> Self {
        let keep = Duration::from_secs(60);
        Collector {
            concurrency: TimedBuckets::new(keep),
            requests: TimedBuckets::new(keep),
        }
    }

    /// Records one sample. Record one per second while the revision has instances
    /// or buffered requests — zeros included: a second without a sample means "no
    /// report", not "no traffic", exactly as a missed scrape upstream.
    pub fn record(&mut self, now: Instant, sample: Sample) {
        self.concurrency.record(now, sample.concurrency);
        self.requests.record(now, sample.requests);
    }

    /// `(stable, panic)` averages of `metric` at `now` over the two windows, or
    /// `None` when the stable window holds no data (Knative's `ErrNoData`).
    /// Concurrency is averaged for every metric but RPS.
    pub fn stable_and_panic(
        &mut self,
        now: Instant,
        metric: &Metric,
        stable_window: Duration,
        panic_window: Duration,
    ) -> Option<(f64, f64)> {
        let keep = stable_window.max(panic_window).min(WINDOW_MAX);
        let buckets = match metric {
            Metric::Rps => &mut self.requests,
            _ => &mut self.concurrency,
        };
        buckets.set_retention(keep);
        let stable = buckets.window_average(now, stable_window)?;
        let panic = buckets.window_average(now, panic_window).unwrap_or(0.0);
        Some((stable, panic))
    }
}

/// One decision of the [`Decider`] (Knative's `ScaleResult`, plus what was observed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleResult {
    /// Instances the revision should have (before min/max bounds and scale-to-zero rules).
    pub desired_pod_count: u32,
    /// Spare capacity beyond the target burst capacity; negative means the
    /// activator must stay in the request path.
    pub excess_burst_capacity: i64,
    /// Whether the decider had data to decide on; an invalid result must not be applied.
    pub valid: bool,
    /// Whether the decider is in panic mode.
    pub panic_mode: bool,
    /// The observed stable-window average.
    pub stable_value: f64,
    /// The observed panic-window average.
    pub panic_value: f64,
}

impl ScaleResult {
    fn invalid(panic_mode: bool) -> Self {
        ScaleResult {
            desired_pod_count: 0,
            excess_burst_capacity: 0,
            valid: false,
            panic_mode,
            stable_value: 0.0,
            panic_value: 0.0,
        }
    }
}

/// The per-revision decider state: panic mode and the scale-down-delay window.
#[derive(Debug, Clone)]
pub struct Decider {
    panic_time: Option<Instant>,
    max_panic_pods: u32,
    delay_window: Option<MaxWindow>,
}

impl Decider {
    /// A decider for a revision that currently has `ready` instances. Like
    /// upstream it starts in panic mode above one instance, so that a restart
    /// (which loses the metric history) does not scale a busy revision down.
    pub fn new(now: Instant, ready: u32) -> Self {
        Decider {
            panic_time: (ready > 1).then_some(now),
            max_panic_pods: ready,
            delay_window: None,
        }
    }

    /// Whether the decider is in panic mode.
    pub fn in_panic(&self) -> bool {
        self.panic_time.is_some()
    }

    /// Knative's `Scale`: `observed` is `(stable, panic)` of the scaling metric
    /// (`None` when there is no data), `ready` the ready instances now.
    pub fn scale(
        &mut self,
        now: Instant,
        observed: Option<(f64, f64)>,
        ready: u32,
        spec: &RevisionScaling,
    ) -> ScaleResult {
        let Some((stable, panic)) = observed else {
            return ScaleResult::invalid(self.in_panic());
        };
        // Use 1 if there are zero current pods.
        let ready_f = f64::from(ready.max(1));

        // Always allow growing by at least one instance, however small the rate.
        let max_scale_up = (spec.max_scale_up_rate * ready_f).ceil();
        let max_scale_down = if spec.reachable {
            (ready_f / spec.max_scale_down_rate).floor()
        } else {
            0.0
        };
        let target = spec.target.max(f64::MIN_POSITIVE);
        let dspc = (stable / target).ceil();
        let dppc = (panic / target).ceil();

        let clamp = |x: f64| x.max(max_scale_down).min(max_scale_up);
        let to_u32 = |x: f64| {
            if x.is_nan() || x <= 0.0 {
                0
            } else if x >= f64::from(u32::MAX) {
                u32::MAX
            } else {
                x as u32
            }
        };
        let mut desired_stable = to_u32(clamp(dspc));
        let mut desired_panic = to_u32(clamp(dppc));
        if spec.activation_scale > 1 {
            if dspc > 0.0 && spec.activation_scale > desired_stable {
                desired_stable = spec.activation_scale;
            }
            if dppc > 0.0 && spec.activation_scale > desired_panic {
                desired_panic = spec.activation_scale;
            }
        }

        let over_threshold = dppc / ready_f >= spec.panic_threshold;
        match self.panic_time {
            // Begin panicking, or extend the panic while still over the threshold.
            _ if over_threshold => self.panic_time = Some(now),
            // Stop panicking once the surge has made its way into the stable window.
            Some(t) if t + spec.stable_window < now => {
                self.panic_time = None;
                self.max_panic_pods = 0;
            }
            _ => {}
        }

        let mut desired = desired_stable;
        if self.panic_time.is_some() {
            // Provision for whichever is larger; never scale down while panicking.
            desired = desired.max(desired_panic);
            if desired > self.max_panic_pods {
                self.max_panic_pods = desired;
            }
            desired = self.max_panic_pods;
        }

        // Scale down only to the largest decision within scale-down-delay.
        if spec.scale_down_delay.is_zero() {
            self.delay_window = None;
        } else {
            let size = spec.scale_down_delay.as_secs().max(1);
            if self.delay_window.as_ref().map(MaxWindow::size_secs) != Some(size) {
                self.delay_window = Some(MaxWindow::new(spec.scale_down_delay));
            }
            if let Some(w) = self.delay_window.as_mut() {
                w.record(now, desired);
                desired = w.current();
            }
        }

        // Excess burst capacity = total capacity - in flight - target burst capacity,
        // on the panic value so the activator is not toggled on a whim.
        let excess_burst_capacity = if spec.target_burst_capacity == 0.0 {
            0
        } else if spec.target_burst_capacity > 0.0 {
            let total = f64::from(ready) * spec.total;
            let ebc = (total - spec.target_burst_capacity - panic).floor();
            ebc.clamp(i64::MIN as f64, i64::MAX as f64) as i64
        } else {
            -1
        };

        ScaleResult {
            desired_pod_count: desired,
            excess_burst_capacity,
            valid: true,
            panic_mode: self.panic_time.is_some(),
            stable_value: stable,
            panic_value: panic,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Ports of knative/serving `pkg/autoscaler/scaling/autoscaler_test.go`.
    use super::*;
    use crate::annotations::Class;
    use crate::clock::{Clock, FakeClock};

    const TARGET_UTILIZATION: f64 = 0.75;
    const STABLE_WINDOW: Duration = Duration::from_secs(60);

    /// Knative's `newTestAutoscaler` spec: total = target / 0.75, panic at 2×,
    /// ×10 up/down rates, 60s stable window.
    fn spec(target: f64, tbc: f64) -> RevisionScaling {
        RevisionScaling {
            class: Class::Kpa,
            metric: Metric::Concurrency,
            target,
            total: target / TARGET_UTILIZATION,
            min_scale: 0,
            max_scale: 0,
            initial_scale: 1,
            activation_scale: 1,
            stable_window: STABLE_WINDOW,
            panic_window: Duration::from_secs(6),
            panic_threshold: 2.0,
            target_burst_capacity: tbc,
            max_scale_up_rate: 10.0,
            max_scale_down_rate: 10.0,
            scale_down_delay: Duration::ZERO,
            scale_to_zero_grace_period: Duration::from_secs(30),
            scale_to_zero_pod_retention_period: Duration::ZERO,
            enable_scale_to_zero: true,
            activator_capacity: 150.0,
            container_concurrency: 0,
            reachable: true,
            activation_timeout: Duration::from_secs(610),
        }
    }

    fn ebc(target: f64, tbc: f64, panic: f64, pods: f64) -> i64 {
        (target / TARGET_UTILIZATION * pods - tbc - panic).floor() as i64
    }

    #[track_caller]
    fn expect(r: ScaleResult, desired: u32, ebc: i64) {
        assert!(r.valid, "{r:?}");
        assert_eq!(r.desired_pod_count, desired, "{r:?}");
        assert!(
            (r.excess_burst_capacity - ebc).abs() <= 1,
            "{r:?}, want ebc {ebc}"
        );
    }

    #[test]
    fn no_data_no_decision() {
        let clock = FakeClock::new();
        let mut d = Decider::new(clock.now(), 1);
        let r = d.scale(clock.now(), None, 1, &spec(10.0, 100.0));
        assert!(!r.valid);
    }

    #[test]
    fn table() {
        let now = Instant::now();
        type Prep = fn(&mut Decider, &mut RevisionScaling, Instant);
        /// (label, target, tbc, stable, panic, ready, prep, want, want_ebc)
        type Case = (&'static str, f64, f64, f64, f64, u32, Prep, u32, i64);
        let none: Prep = |_, _, _| {};
        let in_panic: Prep = |d, _, now| {
            d.panic_time = Some(now - Duration::from_secs(5));
            d.max_panic_pods = 5;
        };
        let cases: Vec<Case> = vec![
            (
                "no data at zero",
                10.0,
                100.0,
                0.0,
                0.0,
                1,
                none,
                0,
                ebc(10.0, 100.0, 0.0, 1.0),
            ),
            ("unlimited TBC", 181.0, -1.0, 21.0, 26.0, 1, none, 1, -1),
            ("zero TBC", 10.0, 0.0, 50.0, 49.0, 1, none, 5, 0),
            (
                "stable no change",
                10.0,
                100.0,
                50.0,
                50.0,
                1,
                none,
                5,
                ebc(10.0, 100.0, 50.0, 1.0),
            ),
            (
                "panic: stable larger than panic",
                1.0,
                100.0,
                50.0,
                30.0,
                5,
                in_panic,
                50,
                ebc(1.0, 100.0, 30.0, 5.0),
            ),
            (
                "panic: stable less than panic",
                1.0,
                100.0,
                20.0,
                30.0,
                5,
                in_panic,
                30,
                ebc(1.0, 100.0, 30.0, 5.0),
            ),
            (
                "already scaled",
                10.0,
                100.0,
                50.0,
                50.0,
                5,
                none,
                5,
                ebc(10.0, 100.0, 50.0, 5.0),
            ),
            (
                "small scale up rate",
                1.0,
                1982.0,
                3.0,
                3.1,
                2,
                |_, s, _| s.max_scale_up_rate = 1.1,
                3,
                ebc(1.0, 1982.0, 3.1, 2.0),
            ),
            (
                "small scale down rate",
                10.0,
                1982.0,
                1.0,
                1.0,
                100,
                |_, s, _| s.max_scale_down_rate = 1.1,
                90,
                ebc(10.0, 1982.0, 1.0, 100.0),
            ),
            (
                "decrease non reachable",
                10.0,
                1982.0,
                1.0,
                1.0,
                100,
                |_, s, _| {
                    s.max_scale_down_rate = 1.1;
                    s.reachable = false
                },
                1,
                ebc(10.0, 1982.0, 1.0, 100.0),
            ),
            (
                "panic doubles pod count",
                10.0,
                84.0,
                50.0,
                100.0,
                1,
                none,
                10,
                ebc(10.0, 84.0, 100.0, 1.0),
            ),
        ];
        for (label, target, tbc, stable, panic, ready, prep, want, want_ebc) in cases {
            let mut d = Decider::new(now, ready.min(1));
            let mut s = spec(target, tbc);
            prep(&mut d, &mut s, now);
            let r = d.scale(now, Some((stable, panic)), ready, &s);
            assert!(r.valid, "{label}");
            assert_eq!(r.desired_pod_count, want, "{label}: {r:?}");
            assert!(
                (r.excess_burst_capacity - want_ebc).abs() <= 1,
                "{label}: {r:?} want {want_ebc}"
            );
        }
    }

    #[test]
    fn steady_load_gives_stable_desired() {
        let now = Instant::now();
        let s = spec(10.0, 101.0);
        let mut d = Decider::new(now, 1);
        expect(
            d.scale(now, Some((50.0, 10.0)), 1, &s),
            5,
            ebc(10.0, 101.0, 10.0, 1.0),
        );
        expect(
            d.scale(now, Some((100.0, 10.0)), 1, &s),
            10,
            ebc(10.0, 101.0, 10.0, 1.0),
        );
        // Stable mode decrease.
        let mut d = Decider::new(now, 1);
        expect(
            d.scale(now, Some((100.0, 100.0)), 8, &s),
            10,
            ebc(10.0, 101.0, 100.0, 8.0),
        );
        expect(
            d.scale(now, Some((50.0, 50.0)), 8, &s),
            5,
            ebc(10.0, 101.0, 50.0, 8.0),
        );
    }

    #[test]
    fn no_traffic_scales_to_zero_and_activation_scale_applies() {
        let now = Instant::now();
        let mut s = spec(10.0, 75.0);
        let mut d = Decider::new(now, 1);
        expect(
            d.scale(now, Some((1.0, 0.0)), 1, &s),
            1,
            ebc(10.0, 75.0, 0.0, 1.0),
        );
        expect(
            d.scale(now, Some((0.0, 0.0)), 1, &s),
            0,
            ebc(10.0, 75.0, 0.0, 1.0),
        );
        s.activation_scale = 2;
        expect(
            d.scale(now, Some((0.0, 0.0)), 1, &s),
            0,
            ebc(10.0, 75.0, 0.0, 1.0),
        );
        expect(
            d.scale(now, Some((1.0, 0.0)), 1, &s),
            2,
            ebc(10.0, 75.0, 0.0, 1.0),
        );
    }

    #[test]
    fn unpanic_after_slow_increase() {
        let s = spec(1.0, 98.0);
        let start = Instant::now();
        let mut d = Decider::new(start, 1);
        expect(
            d.scale(start, Some((11.0, 25.0)), 10, &s),
            25,
            ebc(1.0, 98.0, 25.0, 10.0),
        );
        assert_eq!(d.panic_time, Some(start));
        // Half the stable window later, +15 pods; still panicking from the start.
        let tm = start + STABLE_WINDOW / 2;
        expect(
            d.scale(tm, Some((30.0, 41.0)), 40, &s),
            41,
            ebc(1.0, 98.0, 41.0, 40.0),
        );
        assert_eq!(d.panic_time, Some(start));
        // At the end of the window panic ends.
        let tm = tm + STABLE_WINDOW / 2 + Duration::from_secs(2);
        expect(
            d.scale(tm, Some((50.0, 56.0)), 55, &s),
            50,
            ebc(1.0, 98.0, 56.0, 55.0),
        );
        assert!(!d.in_panic());
    }

    #[test]
    fn extend_panic_window() {
        let s = spec(1.0, 98.0);
        let start = Instant::now();
        let mut d = Decider::new(start, 1);
        expect(
            d.scale(start, Some((11.0, 25.0)), 10, &s),
            25,
            ebc(1.0, 98.0, 25.0, 10.0),
        );
        let tm = start + STABLE_WINDOW / 2;
        expect(
            d.scale(tm, Some((30.0, 80.0)), 40, &s),
            80,
            ebc(1.0, 98.0, 80.0, 40.0),
        );
        assert_eq!(d.panic_time, Some(tm));
    }

    #[test]
    fn panic_mode_exponential_track_and_stabilize() {
        let s = spec(1.0, 101.0);
        let tm = Instant::now();
        let mut d = Decider::new(tm, 1);
        expect(
            d.scale(tm, Some((6.0, 6.0)), 1, &s),
            6,
            ebc(1.0, 101.0, 6.0, 1.0),
        );
        expect(
            d.scale(tm, Some((36.0, 36.0)), 6, &s),
            36,
            ebc(1.0, 101.0, 36.0, 6.0),
        );
        assert_eq!(d.panic_time, Some(tm));
        let tm = tm + Duration::from_secs(1);
        expect(
            d.scale(tm, Some((216.0, 216.0)), 36, &s),
            216,
            ebc(1.0, 101.0, 216.0, 36.0),
        );
        expect(
            d.scale(tm, Some((1296.0, 1296.0)), 216, &s),
            1296,
            ebc(1.0, 101.0, 1296.0, 216.0),
        );
        let tm = tm + Duration::from_secs(1);
        expect(
            d.scale(tm, Some((1296.0, 1296.0)), 1296, &s),
            1296,
            ebc(1.0, 101.0, 1296.0, 1296.0),
        );
    }

    #[test]
    fn panic_then_unpanic_scale_down() {
        let s = spec(10.0, 93.0);
        let clock = FakeClock::new();
        let mut d = Decider::new(clock.now(), 1);
        expect(
            d.scale(clock.now(), Some((100.0, 100.0)), 1, &s),
            10,
            ebc(10.0, 93.0, 100.0, 1.0),
        );
        let panic_time = clock.now();
        expect(
            d.scale(panic_time, Some((100.0, 1000.0)), 10, &s),
            100,
            ebc(10.0, 93.0, 1000.0, 10.0),
        );
        // Traffic dropped off; scale stays while still in panic.
        clock.advance(Duration::from_secs(30));
        let r = d.scale(clock.now(), Some((1.0, 1.0)), 10, &s);
        expect(r, 100, ebc(10.0, 93.0, 1.0, 10.0));
        assert!(r.panic_mode);
        // Scale down after the stable window.
        clock.advance(Duration::from_secs(31));
        let r = d.scale(clock.now(), Some((1.0, 1.0)), 10, &s);
        expect(r, 1, ebc(10.0, 93.0, 1.0, 10.0));
        assert!(!r.panic_mode);
    }

    #[test]
    fn rate_limits() {
        let s = spec(10.0, 61.0);
        let now = Instant::now();
        // Need 100 pods but only scale ×10.
        let mut d = Decider::new(now, 1);
        expect(
            d.scale(now, Some((1000.0, 1001.0)), 1, &s),
            10,
            ebc(10.0, 61.0, 1001.0, 1.0),
        );
        expect(
            d.scale(now, Some((1000.0, 1001.0)), 10, &s),
            100,
            ebc(10.0, 61.0, 1001.0, 10.0),
        );
        // Need 1 pod but can only scale down ÷10.
        let mut d = Decider::new(now, 1);
        expect(
            d.scale(now, Some((1.0, 1.0)), 100, &s),
            10,
            ebc(10.0, 61.0, 1.0, 100.0),
        );
        expect(
            d.scale(now, Some((1.0, 1.0)), 10, &s),
            1,
            ebc(10.0, 61.0, 1.0, 10.0),
        );
        // No ready pods count as one for the rate limit.
        let mut d = Decider::new(now, 0);
        expect(
            d.scale(now, Some((1000.0, 888.0)), 0, &s),
            10,
            ebc(10.0, 61.0, 888.0, 0.0),
        );
    }

    #[test]
    fn updated_target_applies() {
        let now = Instant::now();
        let mut d = Decider::new(now, 1);
        expect(
            d.scale(now, Some((100.0, 101.0)), 1, &spec(10.0, 77.0)),
            10,
            ebc(10.0, 77.0, 101.0, 1.0),
        );
        let mut s = spec(1.0, 71.0);
        s.activator_capacity = 21.0;
        expect(
            d.scale(now, Some((100.0, 101.0)), 10, &s),
            100,
            ebc(1.0, 71.0, 101.0, 10.0),
        );
    }

    #[test]
    fn starts_in_panic_above_one_pod() {
        let now = Instant::now();
        for ready in 0..2 {
            let d = Decider::new(now, ready);
            assert!(!d.in_panic());
            assert_eq!(d.max_panic_pods, ready);
        }
        let d = Decider::new(now, 2);
        assert!(d.in_panic());
        assert_eq!(d.max_panic_pods, 2);
    }

    #[test]
    fn scale_down_delay() {
        let mut s = spec(10.0, 0.0);
        s.max_scale_down_rate = 10.0;
        s.panic_threshold = 100.0;
        s.scale_down_delay = Duration::from_secs(300);
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        let mut d = Decider::new(t0, 0);
        // simple
        expect(d.scale(at(2), Some((40.0, 40.0)), 0, &s), 4, 0);
        expect(d.scale(at(300), Some((0.0, 0.0)), 0, &s), 4, 0);
        expect(d.scale(at(302), Some((0.0, 0.0)), 0, &s), 0, 0);
        // gradual
        expect(d.scale(at(540), Some((40.0, 40.0)), 0, &s), 4, 0);
        expect(d.scale(at(600), Some((30.0, 30.0)), 0, &s), 4, 0);
        expect(d.scale(at(660), Some((0.0, 0.0)), 0, &s), 4, 0);
        expect(d.scale(at(840), Some((0.0, 0.0)), 0, &s), 3, 0);
        expect(d.scale(at(900), Some((0.0, 0.0)), 0, &s), 0, 0);
        // Unreachable: no scale-down floor, the delay still applies.
        s.scale_down_delay = Duration::ZERO;
        s.reachable = false;
        expect(d.scale(at(902), Some((40.0, 40.0)), 0, &s), 4, 0);
        expect(d.scale(at(902), Some((20.0, 20.0)), 0, &s), 2, 0);
    }

    #[test]
    fn collector_picks_the_metric() {
        let clock = FakeClock::new();
        let mut c = Collector::new();
        let (sw, pw) = (Duration::from_secs(60), Duration::from_secs(6));
        assert_eq!(
            c.stable_and_panic(clock.now(), &Metric::Concurrency, sw, pw),
            None
        );
        for i in 0..60 {
            let conc = if i < 54 { 1.0 } else { 10.0 };
            c.record(
                clock.now(),
                Sample {
                    concurrency: conc,
                    requests: 20.0,
                },
            );
            if i < 59 {
                clock.advance(Duration::from_secs(1));
            }
        }
        let (stable, panic) = c
            .stable_and_panic(clock.now(), &Metric::Concurrency, sw, pw)
            .unwrap();
        assert!((stable - (54.0 + 60.0) / 60.0).abs() < 1e-9);
        assert_eq!(panic, 10.0);
        assert_eq!(
            c.stable_and_panic(clock.now(), &Metric::Rps, sw, pw),
            Some((20.0, 20.0))
        );
        // Silence longer than the stable window: no data.
        clock.advance(Duration::from_secs(61));
        assert_eq!(
            c.stable_and_panic(clock.now(), &Metric::Concurrency, sw, pw),
            None
        );
    }
}
