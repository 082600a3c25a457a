//! Admission for Knative Serving kinds: what Knative's webhook does on
//! create/update — defaulting (`*_defaults.go`), then validation
//! (`*_validation.go`, `k8s_validation.go`).
//!
//! Everything works on `serde_json::Value` so that a malformed object yields
//! field errors rather than a deserialization failure. It runs after generic
//! schema validation, so it focuses on Knative's semantic rules.

mod defaults;
pub(crate) mod names;
mod validation;

#[cfg(test)]
mod tests;

pub use defaults::{
    DEFAULT_CONTAINER_CONCURRENCY, DEFAULT_TIMEOUT_SECONDS, DEFAULT_USER_CONTAINER_NAME,
};
pub use validation::{
    CONTAINER_CONCURRENCY_MAX, MAX_REVISION_TIMEOUT_SECONDS, RESERVED_CONTAINER_NAMES,
    RESERVED_ENV_VARS, RESERVED_PATHS, RESERVED_PORTS,
};

use std::fmt;

use serde_json::Value;

/// One invalid field, as Kubernetes reports it in `Status.details.causes`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Path of the offending field without a leading dot, e.g. `spec.traffic[1].percent`.
    pub field: String,
    /// Kubernetes cause type.
    pub reason: FieldErrorReason,
    /// Knative's message, e.g. `expected 0 <= 400 <= 300`.
    pub message: String,
}

/// Kubernetes `CauseType` of a field error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldErrorReason {
    Invalid,
    Required,
    Duplicate,
    NotSupported,
    Forbidden,
    TooLong,
}

impl FieldErrorReason {
    /// The `Status.details.causes[].reason` string Kubernetes uses.
    pub fn as_str(&self) -> &'static str {
        match self {
            FieldErrorReason::Invalid => "FieldValueInvalid",
            FieldErrorReason::Required => "FieldValueRequired",
            FieldErrorReason::Duplicate => "FieldValueDuplicate",
            FieldErrorReason::NotSupported => "FieldValueNotSupported",
            FieldErrorReason::Forbidden => "FieldValueForbidden",
            FieldErrorReason::TooLong => "FieldValueTooLong",
        }
    }
}

impl fmt::Display for FieldErrorReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FieldError {
    pub fn new(
        field: impl Into<String>,
        reason: FieldErrorReason,
        message: impl Into<String>,
    ) -> Self {
        FieldError {
            field: field.into(),
            reason,
            message: message.into(),
        }
    }
}

/// Knative's rendering: `message: field`.
impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.message, self.field)
        }
    }
}

/// Renders errors the way Knative's webhook denies a request
/// (`validation failed: msg: field; msg2: field2`), for `Status.message`.
pub fn format_errors(errors: &[FieldError]) -> String {
    let parts: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    format!("validation failed: {}", parts.join("; "))
}

/// Knative's ConfigMap webhook: `config-autoscaler` in the system namespace must
/// parse (a refused ConfigMap changes nothing; the running settings stay).
fn validate_config_map(obj: &Value) -> Result<(), Vec<FieldError>> {
    let meta = &obj["metadata"];
    if meta["namespace"].as_str() != Some(SYSTEM_NAMESPACE)
        || meta["name"].as_str() != Some(skiff_autoscaler::config::CONFIG_MAP_NAME)
    {
        return Ok(());
    }
    let data: std::collections::BTreeMap<String, String> = obj
        .get("data")
        .and_then(|d| serde_json::from_value(d.clone()).ok())
        .unwrap_or_default();
    skiff_autoscaler::AutoscalerConfig::from_config_map(&data)
        .map(|_| ())
        .map_err(|e| {
            vec![FieldError::new(
                format!("data.{}", e.key),
                FieldErrorReason::Invalid,
                e.message,
            )]
        })
}

/// Knative's system namespace, where its ConfigMaps live.
pub const SYSTEM_NAMESPACE: &str = "knative-serving";

/// Knative webhook behaviour for group/kind: default `obj` in place, then validate it.
/// `old` is the stored object on update (None on create). Returns all errors found.
/// Kinds it does not know → `Ok(())` (object untouched).
pub fn admit(
    group: &str,
    kind: &str,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), Vec<FieldError>> {
    if group.is_empty() && kind == "ConfigMap" {
        return validate_config_map(obj);
    }
    if group == crate::tekton::GROUP {
        return crate::tekton::admission::admit(kind, obj, old);
    }
    if group != crate::serving::v1::GROUP {
        return Ok(());
    }
    let kind = match Kind::from_str(kind) {
        Some(k) => k,
        None => return Ok(()),
    };
    if !obj.is_object() {
        return Err(vec![FieldError::new(
            "",
            FieldErrorReason::Invalid,
            "object expected",
        )]);
    }
    let as_written = obj.pointer("/spec/template/spec/containers").cloned();
    defaults::set_defaults(kind, obj, old);
    let errs = validation::validate(kind, obj, old);
    if !errs.is_empty() {
        return Err(errs);
    }
    // Services and Configurations keep their containers as the user wrote them: the
    // per-container defaults (name, readiness probe, read-only mounts) land on the
    // Revision stamped from the template. Persisting them here would make every
    // `kubectl apply` of an unchanged manifest a change, since JSON merge patches
    // replace lists whole.
    if matches!(kind, Kind::Service | Kind::Configuration) {
        if let (Some(containers), Some(slot)) = (
            as_written,
            obj.pointer_mut("/spec/template/spec/containers"),
        ) {
            *slot = containers;
        }
    }
    Ok(())
}

/// The Knative Serving kinds admission knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Service,
    Configuration,
    Revision,
    Route,
}

impl Kind {
    fn from_str(kind: &str) -> Option<Kind> {
        match kind {
            "Service" => Some(Kind::Service),
            "Configuration" => Some(Kind::Configuration),
            "Revision" => Some(Kind::Revision),
            "Route" => Some(Kind::Route),
            _ => None,
        }
    }
}

/// `base.field`, or `field` when base is empty.
pub(crate) fn join(base: &str, field: &str) -> String {
    if base.is_empty() {
        field.to_string()
    } else {
        format!("{base}.{field}")
    }
}

/// `base[i]`.
pub(crate) fn idx(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}
