//! skiff resource types and their admission rules.
//!
//! * [`serving::v1`] — Knative Serving v1 types (`serving.knative.dev/v1`).
//! * [`autoscaling::v1alpha1`] — Knative's PodAutoscaler
//!   (`autoscaling.internal.knative.dev/v1alpha1`).
//! * [`builtin_crds`] — the CustomResourceDefinitions generated from those types
//!   (installed as-is in cluster mode; their schemas drive generic validation in
//!   the standalone API server).
//! * [`admit`] — Knative's webhook behaviour: defaulting, then validation,
//!   reporting [`FieldError`]s the way Kubernetes does in `Status.details.causes`.

pub mod admission;
pub mod autoscaling;
mod crds;
pub mod serving;

pub use admission::{admit, format_errors, FieldError, FieldErrorReason};
pub use crds::{
    builtin_crds, generate_builtin_crds, BUILTIN_CRDS_FINGERPRINT, BUILTIN_CRD_NAMES,
    FINGERPRINT_ANNOTATION,
};
pub use serving::v1;
