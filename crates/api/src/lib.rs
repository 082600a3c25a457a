//! skiff resource types and their admission rules.
//!
//! * [`serving::v1`] — Knative Serving v1 types (`serving.knative.dev/v1`).
//! * [`autoscaling::v1alpha1`] — Knative's PodAutoscaler
//!   (`autoscaling.internal.knative.dev/v1alpha1`).
//! * [`tekton`] — Tekton Pipelines (`tekton.dev/v1`, `v1beta1`, `v1alpha1`): Task,
//!   TaskRun, Pipeline, PipelineRun, PipelineResource, their conversions and admission.
//! * [`builtin_crds`] — the CustomResourceDefinitions generated from those types
//!   (installed as-is in cluster mode; their schemas drive generic validation in
//!   the standalone API server).
//! * [`admit`] — Knative's and Tekton's webhook behaviour: (conversion to the storage
//!   version,) defaulting, then validation, reporting [`FieldError`]s the way
//!   Kubernetes does in `Status.details.causes`.
//! * [`convert`] — conversion between the served versions of a built-in kind.

pub mod admission;
pub mod autoscaling;
pub mod clock;
mod crds;
pub mod serving;
pub mod tekton;

pub use admission::{admit, format_errors, FieldError, FieldErrorReason};
pub use crds::{
    builtin_crds, convert, generate_builtin_crds, BUILTIN_CRDS_FINGERPRINT, BUILTIN_CRD_NAMES,
    FINGERPRINT_ANNOTATION,
};
pub use serving::v1;
pub use tekton::convert::ConversionError;
