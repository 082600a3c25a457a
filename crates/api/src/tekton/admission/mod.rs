//! Admission for the Tekton kinds: what Tekton's webhook does on create/update.
//!
//! 1. Things skiff refuses before anything else, with the paths the user wrote:
//!    PipelineResource types other than `git` and `image`.
//! 2. Conversion to the storage version `v1` ([`crate::tekton::convert::to_storage`]):
//!    a `v1beta1` or `v1alpha1` object is stored as `v1`, fields with no v1 home in
//!    Tekton's annotations; fields with no home at all (pipeline task `conditions`,
//!    v1alpha1 `outputs.results`) are refused.
//! 3. Defaulting (`*_defaults.go`).
//! 4. Validation (`*_validation.go`) with Tekton's messages and field paths.
//!
//! Like the Knative admission, everything works on `serde_json::Value` so that a
//! malformed object yields field errors rather than a deserialization failure.

mod defaults;
mod validation;

#[cfg(test)]
mod tests;

pub use defaults::{
    DEFAULT_MANAGED_BY, DEFAULT_ON_ERROR, DEFAULT_SERVICE_ACCOUNT, DEFAULT_TIMEOUT,
    MANAGED_BY_LABEL,
};

use serde_json::Value;

use crate::admission::{FieldError, FieldErrorReason};
use crate::tekton::convert;

/// The Tekton kinds admission knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Task,
    TaskRun,
    Pipeline,
    PipelineRun,
    PipelineResource,
}

impl Kind {
    fn from_str(kind: &str) -> Option<Kind> {
        match kind {
            "Task" => Some(Kind::Task),
            "TaskRun" => Some(Kind::TaskRun),
            "Pipeline" => Some(Kind::Pipeline),
            "PipelineRun" => Some(Kind::PipelineRun),
            "PipelineResource" => Some(Kind::PipelineResource),
            _ => None,
        }
    }
}

/// Tekton webhook behaviour for `kind` in group `tekton.dev`: refuse what skiff does not
/// support, convert to v1 (the storage version), default, then validate. `obj` is
/// changed in place (its `apiVersion` becomes `tekton.dev/v1` for the four convertible
/// kinds); `old` is the stored object on update. Kinds it does not know → `Ok(())`.
pub fn admit(kind: &str, obj: &mut Value, old: Option<&Value>) -> Result<(), Vec<FieldError>> {
    let Some(kind) = Kind::from_str(kind) else {
        return Ok(());
    };
    if !obj.is_object() {
        return Err(vec![FieldError::new(
            "",
            FieldErrorReason::Invalid,
            "object expected",
        )]);
    }
    if kind == Kind::PipelineResource {
        let errs = validation::validate_pipeline_resource(obj);
        return if errs.is_empty() { Ok(()) } else { Err(errs) };
    }
    let errs = validation::unsupported_resource_types(obj);
    if !errs.is_empty() {
        return Err(errs);
    }
    convert::to_storage(obj).map_err(|e| {
        vec![FieldError::new(
            e.field,
            FieldErrorReason::Invalid,
            e.message,
        )]
    })?;
    let old = old.map(|o| {
        let mut o = o.clone();
        // Stored objects are v1 already; anything older is converted the same way.
        let _ = convert::to_storage(&mut o);
        o
    });
    defaults::set_defaults(kind, obj);
    let errs = validation::validate(kind, obj, old.as_ref());
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// Tekton's defaults for a v1 Task spec (param and result types, step `onError`), for
/// the runner to apply to Task specs it resolves.
pub fn default_task_spec(spec: &mut Value) {
    if let Some(spec) = spec.as_object_mut() {
        defaults::task_spec(spec);
    }
}

/// Tekton's defaults for a v1 Pipeline spec.
pub fn default_pipeline_spec(spec: &mut Value) {
    if let Some(spec) = spec.as_object_mut() {
        defaults::pipeline_spec(spec);
    }
}
