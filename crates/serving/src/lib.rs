//! Knative Serving controllers (being built).
