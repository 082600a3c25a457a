//! Tekton's defaulting (`pkg/apis/pipeline/v1/*_defaults.go`) on raw v1 JSON, with the
//! default `config-defaults` values.

use serde_json::{json, Map, Value};

use super::Kind;

/// `default-timeout-minutes`: 60, as a Go duration.
pub const DEFAULT_TIMEOUT: &str = "1h0m0s";
/// `default-service-account`.
pub const DEFAULT_SERVICE_ACCOUNT: &str = "default";
/// What a step does when it fails, when it does not say.
pub const DEFAULT_ON_ERROR: &str = "stopAndFail";
/// The label Tekton puts on TaskRuns it manages.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// `default-managed-by-label-value`.
pub const DEFAULT_MANAGED_BY: &str = "tekton-pipelines";

pub(crate) fn set_defaults(kind: Kind, obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    if kind == Kind::TaskRun {
        let meta = object_entry(root, "metadata");
        if let Some(meta) = meta {
            if let Some(labels) = object_entry(meta, "labels") {
                if !labels.contains_key(MANAGED_BY_LABEL) {
                    labels.insert(MANAGED_BY_LABEL.into(), json!(DEFAULT_MANAGED_BY));
                }
            }
        }
    }
    let Some(spec) = object_entry(root, "spec") else {
        return;
    };
    match kind {
        Kind::Task => task_spec(spec),
        Kind::Pipeline => pipeline_spec(spec),
        Kind::TaskRun => task_run_spec(spec),
        Kind::PipelineRun => pipeline_run_spec(spec),
        Kind::PipelineResource => {}
    }
}

/// `m[key]` as an object, created when absent/null. None if it is another type.
fn object_entry<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let entry = m.entry(key).or_insert_with(|| json!({}));
    if entry.is_null() {
        *entry = json!({});
    }
    entry.as_object_mut()
}

fn list<'a>(m: &'a mut Map<String, Value>, key: &str) -> Vec<&'a mut Map<String, Value>> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .map(|a| a.iter_mut().filter_map(Value::as_object_mut).collect())
        .unwrap_or_default()
}

fn empty_str(m: &Map<String, Value>, key: &str) -> bool {
    m.get(key).and_then(Value::as_str).is_none_or(str::is_empty)
}

/// `ParamSpec.SetDefaults`: the type from `properties`, then from the default's shape,
/// else `string`; object property types default to `string`.
fn param_spec(p: &mut Map<String, Value>) {
    if empty_str(p, "type") {
        let has_properties = p.get("properties").is_some_and(|v| !v.is_null());
        let t = if has_properties {
            "object"
        } else {
            match p.get("default") {
                Some(Value::Array(_)) => "array",
                Some(Value::Object(_)) => "object",
                _ => "string",
            }
        };
        p.insert("type".into(), json!(t));
    }
    property_types(p);
}

fn property_types(m: &mut Map<String, Value>) {
    if let Some(Value::Object(props)) = m.get_mut("properties") {
        for prop in props.values_mut() {
            if prop.is_null() {
                *prop = json!({});
            }
            if let Some(prop) = prop.as_object_mut() {
                if empty_str(prop, "type") {
                    prop.insert("type".into(), json!("string"));
                }
            }
        }
    }
}

/// `TaskResult.SetDefaults`: `object` when it has properties, else `string`.
fn result(r: &mut Map<String, Value>) {
    if empty_str(r, "type") {
        let t = if r.get("properties").is_some_and(|v| !v.is_null()) {
            "object"
        } else {
            "string"
        };
        r.insert("type".into(), json!(t));
    }
    property_types(r);
}

/// Task spec defaults: param and result types, and each step's `onError`.
pub(crate) fn task_spec(spec: &mut Map<String, Value>) {
    for p in list(spec, "params") {
        param_spec(p);
    }
    for r in list(spec, "results") {
        result(r);
    }
    for s in list(spec, "steps") {
        if empty_str(s, "onError") {
            s.insert("onError".into(), json!(DEFAULT_ON_ERROR));
        }
    }
}

/// `PipelineTask.SetDefaults`: `taskRef.kind` is `Task`; embedded task specs get the
/// Task defaults.
fn pipeline_task(pt: &mut Map<String, Value>) {
    if let Some(Value::Object(r)) = pt.get_mut("taskRef") {
        if empty_str(r, "kind") {
            r.insert("kind".into(), json!("Task"));
        }
    }
    if let Some(Value::Object(ts)) = pt.get_mut("taskSpec") {
        task_spec(ts);
    }
}

pub(crate) fn pipeline_spec(spec: &mut Map<String, Value>) {
    for p in list(spec, "params") {
        param_spec(p);
    }
    for key in ["tasks", "finally"] {
        for pt in list(spec, key) {
            pipeline_task(pt);
        }
    }
}

/// `TaskRunSpec.SetDefaults`.
fn task_run_spec(spec: &mut Map<String, Value>) {
    if let Some(Value::Object(r)) = spec.get_mut("taskRef") {
        if empty_str(r, "kind") && empty_str(r, "resolver") {
            r.insert("kind".into(), json!("Task"));
        }
    }
    if spec.get("timeout").is_none_or(Value::is_null) {
        spec.insert("timeout".into(), json!(DEFAULT_TIMEOUT));
    }
    if empty_str(spec, "serviceAccountName") {
        spec.insert("serviceAccountName".into(), json!(DEFAULT_SERVICE_ACCOUNT));
    }
    if let Some(Value::Object(ts)) = spec.get_mut("taskSpec") {
        task_spec(ts);
    }
}

/// `PipelineRunSpec.SetDefaults`; unlike Tekton v1 (which only fills a half-set
/// `timeouts`), an absent `timeouts.pipeline` is set to the default, as Tekton's
/// v1beta1 did, so the effective timeout is visible on the object.
fn pipeline_run_spec(spec: &mut Map<String, Value>) {
    if let Some(timeouts) = object_entry(spec, "timeouts") {
        if timeouts.get("pipeline").is_none_or(Value::is_null) {
            timeouts.insert("pipeline".into(), json!(DEFAULT_TIMEOUT));
        }
    }
    if let Some(tmpl) = object_entry(spec, "taskRunTemplate") {
        if empty_str(tmpl, "serviceAccountName") {
            tmpl.insert("serviceAccountName".into(), json!(DEFAULT_SERVICE_ACCOUNT));
        }
    }
    if let Some(Value::Object(ps)) = spec.get_mut("pipelineSpec") {
        pipeline_spec(ps);
    }
}
