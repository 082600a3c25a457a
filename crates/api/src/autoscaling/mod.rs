//! Knative's internal autoscaling API (`autoscaling.internal.knative.dev`): the
//! PodAutoscaler each Revision owns, through which the autoscaler publishes its
//! decisions (`kubectl get kpa`).

pub mod v1alpha1;
