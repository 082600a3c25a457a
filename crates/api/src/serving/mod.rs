//! Knative Serving (`serving.knative.dev`) resource types.

pub mod v1;
