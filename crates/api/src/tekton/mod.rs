//! Tekton Pipelines (`tekton.dev`) resource types and their admission.
//!
//! * [`v1`] — the storage version: Task, TaskRun, Pipeline, PipelineRun.
//! * [`v1beta1`] — the same kinds as Tekton served them before v1.
//! * [`v1alpha1`] — the older shapes tutorials still use (`inputs`/`outputs`) and
//!   `PipelineResource` (types `git` and `image`).
//! * [`convert`] — conversion between those versions; objects are stored as v1.
//! * [`admission`] — Tekton's webhook: conversion to v1, defaulting, validation.
//! * [`resources`] — turns PipelineResources (v1alpha1/v1beta1) into v1 workspaces,
//!   params and a clone step, for the runner.
//! * [`crds`] — the CRDs, one per kind with all its versions.
//!
//! # Serving three versions from one store
//!
//! Objects are stored at `v1`, like Tekton does: admission converts a `v1beta1` or
//! `v1alpha1` write to `v1` (and sets `apiVersion: tekton.dev/v1`). Reading at another
//! version is the API server's job: [`crate::convert`] (`group`, `kind`, object, target
//! `apiVersion`) is the conversion webhook it should call where it presents a stored
//! object at the requested version, and before applying a patch sent to another
//! version's endpoint. Until it does, a `v1beta1` read shows the `v1` shape under a
//! `v1beta1` label.

pub mod admission;
pub mod convert;
mod crds;
pub mod duration;
pub mod resources;
pub mod subst;
pub mod v1;
pub mod v1alpha1;
pub mod v1beta1;

pub use crds::{crds, CRD_NAMES};

/// API group of all Tekton Pipelines kinds.
pub const GROUP: &str = "tekton.dev";

#[cfg(test)]
mod tests;
