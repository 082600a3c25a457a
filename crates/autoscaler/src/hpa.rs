//! The Kubernetes Horizontal Pod Autoscaler algorithm, for revisions of class
//! `hpa.autoscaling.knative.dev` (scaled on CPU or memory rather than requests):
//! `pkg/controller/podautoscaler/replica_calculator.go` and `horizontal.go`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Usage within ±10% of the target causes no change (`--horizontal-pod-autoscaler-tolerance`).
pub const TOLERANCE: f64 = 0.1;
/// Scale-down decisions use the largest recommendation of this trailing window
/// (`--horizontal-pod-autoscaler-downscale-stabilization`).
pub const DOWNSCALE_STABILIZATION: Duration = Duration::from_secs(300);

/// The replica count the metric asks for, before stabilisation and bounds
/// (`GetResourceReplicas`): `ceil(ready × current / target)`, or `current_replicas`
/// when the usage ratio is within the tolerance or nothing is ready to measure.
/// `current_value` and `target_value` are in the same unit: average utilisation
/// in % of the containers' requests for CPU, average MiB per instance for memory.
pub fn replicas_for_metric(
    current_replicas: u32,
    ready: u32,
    current_value: f64,
    target_value: f64,
) -> u32 {
    if ready == 0 || target_value.is_nan() || target_value <= 0.0 || !current_value.is_finite() {
        return current_replicas;
    }
    let ratio = current_value / target_value;
    if (1.0 - ratio).abs() <= TOLERANCE {
        return current_replicas;
    }
    let desired = (ratio * f64::from(ready)).ceil();
    if desired >= f64::from(u32::MAX) {
        u32::MAX
    } else {
        desired.max(0.0) as u32
    }
}

/// The HPA's largest allowed step up: `max(2 × current, 4)`.
pub fn scale_up_limit(current_replicas: u32) -> u32 {
    current_replicas.saturating_mul(2).max(4)
}

/// The per-revision HPA state: the recent recommendations that stabilise scale-down.
#[derive(Debug, Clone, Default)]
pub struct HpaScaler {
    recommendations: VecDeque<(Instant, u32)>,
}

impl HpaScaler {
    /// A scaler with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// One HPA evaluation: the metric's proposal, stabilised over the last five
    /// minutes (the largest recommendation wins, so scale-down waits while scale-up
    /// is immediate), then limited to `max(2 × current, 4)` and to the bounds
    /// (`min` is at least 1; `max` 0 = unbounded).
    #[allow(clippy::too_many_arguments)]
    pub fn recommend(
        &mut self,
        now: Instant,
        current_replicas: u32,
        ready: u32,
        current_value: f64,
        target_value: f64,
        min: u32,
        max: u32,
    ) -> u32 {
        let min = min.max(1);
        let max = if max == 0 { u32::MAX } else { max.max(min) };
        if current_replicas == 0 {
            // The HPA does not act on a target scaled to zero; start at the minimum.
            return min;
        }
        let proposal = replicas_for_metric(current_replicas, ready, current_value, target_value);
        // stabilizeRecommendation
        while self
            .recommendations
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) > DOWNSCALE_STABILIZATION)
        {
            self.recommendations.pop_front();
        }
        let stabilized = self
            .recommendations
            .iter()
            .map(|(_, r)| *r)
            .fold(proposal, u32::max);
        self.recommendations.push_back((now, proposal));
        // convertDesiredReplicasWithRules
        let upper = max.min(scale_up_limit(current_replicas));
        stabilized.clamp(min, upper.max(min))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FakeClock};

    #[test]
    fn proposal_follows_the_usage_ratio() {
        // 4 replicas at 100% of an 50% target → 8.
        assert_eq!(replicas_for_metric(4, 4, 100.0, 50.0), 8);
        // 4 replicas at 20% of an 80% target → 1.
        assert_eq!(replicas_for_metric(4, 4, 20.0, 80.0), 1);
        // Ready instances are what is measured.
        assert_eq!(replicas_for_metric(4, 2, 100.0, 50.0), 4);
        assert_eq!(replicas_for_metric(4, 0, 100.0, 50.0), 4);
    }

    #[test]
    fn tolerance_keeps_the_current_count() {
        assert_eq!(replicas_for_metric(5, 5, 87.0, 80.0), 5, "ratio 1.0875");
        assert_eq!(replicas_for_metric(5, 5, 73.0, 80.0), 5, "ratio 0.9125");
        assert_eq!(replicas_for_metric(5, 5, 100.0, 100.0), 5, "on target");
        assert_eq!(replicas_for_metric(5, 5, 89.0, 80.0), 6, "ratio 1.1125");
        assert_eq!(
            replicas_for_metric(5, 5, 71.0, 80.0),
            5,
            "ratio 0.8875 → ceil(4.44)"
        );
        assert_eq!(replicas_for_metric(10, 10, 71.0, 80.0), 9);
    }

    #[test]
    fn scale_up_is_limited() {
        let clock = FakeClock::new();
        let mut h = HpaScaler::new();
        // 1 replica at 1000% of the target wants 10; limited to max(2, 4) = 4.
        assert_eq!(h.recommend(clock.now(), 1, 1, 800.0, 80.0, 1, 0), 4);
        // 4 → at most 8.
        assert_eq!(h.recommend(clock.now(), 4, 4, 800.0, 80.0, 1, 0), 8);
        // max-scale caps it.
        assert_eq!(h.recommend(clock.now(), 8, 8, 800.0, 80.0, 1, 10), 10);
    }

    #[test]
    fn scale_down_is_stabilised_for_five_minutes() {
        let clock = FakeClock::new();
        let mut h = HpaScaler::new();
        assert_eq!(h.recommend(clock.now(), 4, 4, 80.0, 80.0, 1, 0), 4);
        // Load drops: the proposal is 1, but 4 was recommended within 5 minutes.
        clock.advance(Duration::from_secs(60));
        assert_eq!(h.recommend(clock.now(), 4, 4, 20.0, 80.0, 1, 0), 4);
        clock.advance(Duration::from_secs(239));
        assert_eq!(h.recommend(clock.now(), 4, 4, 20.0, 80.0, 1, 0), 4);
        clock.advance(Duration::from_secs(2));
        assert_eq!(h.recommend(clock.now(), 4, 4, 20.0, 80.0, 1, 0), 1);
        // Min-scale still holds, and never below one.
        assert_eq!(h.recommend(clock.now(), 4, 4, 0.0, 80.0, 2, 0), 2);
        assert_eq!(h.recommend(clock.now(), 0, 0, 0.0, 80.0, 0, 0), 1);
    }
}
