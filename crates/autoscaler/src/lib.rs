//! skiff's autoscaler logic: Knative's Pod Autoscaler (KPA) and the Kubernetes HPA
//! algorithm as pure, deterministic code — no I/O, no async, no sleeping. Time comes
//! in as an `Instant` (or from a [`Clock`]), so every scenario replays in tests.
//!
//! * [`config`] — the `config-autoscaler` ConfigMap ([`AutoscalerConfig`]).
//! * [`annotations`] — `autoscaling.knative.dev/*` validation
//!   ([`validate_annotations`]) and per-revision settings ([`RevisionScaling`]).
//! * [`window`] — per-second buckets averaged over windows, and a max window.
//! * [`kpa`] — the per-second [`Sample`]s, the [`Collector`] and the [`Decider`]
//!   (stable/panic windows, rate limits, excess burst capacity).
//! * [`hpa`] — the Kubernetes HPA replica calculation and stabilisation.
//! * [`pod_autoscaler`] — one revision's [`PodAutoscaler`] lifecycle: bounds,
//!   initial/activation scale, scale to zero, the `Active` condition, and the
//!   [`Decision`] the caller applies.
//!
//! A caller keeps one [`PodAutoscaler`] per revision, feeds it a [`Sample`] every
//! second, resolves [`RevisionScaling`] whenever the revision or the ConfigMap
//! changes, and calls [`PodAutoscaler::tick`] every [`TICK_INTERVAL`] (and at
//! [`Decision::next_tick`]), applying the returned [`Decision`].

#![warn(missing_docs)]

pub mod annotations;
pub mod clock;
pub mod config;
pub mod duration;
pub mod hpa;
pub mod kpa;
pub mod pod_autoscaler;
pub mod window;

pub use annotations::{validate_annotations, AnnotationError, Class, Metric, RevisionScaling};
pub use clock::{Clock, FakeClock, SystemClock};
pub use config::{AutoscalerConfig, ConfigError, HPA_CLASS, KPA_CLASS};
pub use duration::{format_go_duration, parse_go_duration};
pub use hpa::HpaScaler;
pub use kpa::{Collector, Decider, Sample, ScaleResult};
pub use pod_autoscaler::{
    ActiveCondition, ConditionStatus, Decision, PodAutoscaler, HPA_SYNC_PERIOD, TICK_INTERVAL,
};
pub use window::{MaxWindow, TimedBuckets};
