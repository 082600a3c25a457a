//! Tekton's validation (`pkg/apis/pipeline/v1/*_validation.go`,
//! `pkg/apis/validate/metadata.go`, `pkg/reconciler/pipeline/dag`) on raw v1 JSON,
//! with the default feature flags (`enable-api-fields: beta`).
//!
//! Messages are Tekton's (knative `apis.FieldError`: `missing field(s)`,
//! `invalid value: ...`, `expected exactly one, got both`, ...); where Tekton attaches
//! "details" they are appended in parentheses. Field paths name the real JSON fields
//! (`spec.steps[0].image`, where Tekton writes `Image`).
//!
//! On top of Tekton's rules, skiff refuses what it cannot run, clearly: PipelineResource
//! types other than `git`/`image`, `matrix`, and workspace bindings of an embedded
//! spec that match no declared workspace.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::Kind;
use crate::admission::names::{dns1123_label, dns1123_subdomain, go_list, qualified_name};
use crate::admission::{FieldError, FieldErrorReason};
use crate::tekton::v1alpha1::SUPPORTED_RESOURCE_TYPES;
use crate::tekton::{duration, subst};

/// `stringAndArrayVariableNameFormat`.
static STRING_ARRAY_PARAM_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[_a-zA-Z][_a-zA-Z0-9.-]*$").expect("regex"));
/// `objectVariableNameFormat`.
static OBJECT_PARAM_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[_a-zA-Z][_a-zA-Z0-9-]*$").expect("regex"));
/// `ResultNameFormat`.
pub const RESULT_NAME_FORMAT: &str = r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$";
static RESULT_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(RESULT_NAME_FORMAT).expect("regex"));

/// The sidecar name Tekton reserves for its results sidecar.
const RESERVED_SIDECAR_NAME: &str = "tekton-log-results";
const DNS_LABEL_DETAILS: &str = "For more info refer to https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#names";

#[derive(Default)]
struct Errs(Vec<FieldError>);

impl Errs {
    fn push(&mut self, field: impl Into<String>, reason: FieldErrorReason, msg: impl Into<String>) {
        let e = FieldError::new(field, reason, msg);
        if !self.0.contains(&e) {
            self.0.push(e);
        }
    }
    fn generic(&mut self, field: impl Into<String>, msg: impl Into<String>) {
        self.push(field, FieldErrorReason::Invalid, msg);
    }
    fn missing(&mut self, field: impl Into<String>) {
        self.push(field, FieldErrorReason::Required, "missing field(s)");
    }
    /// `apis.ErrInvalidValue`.
    fn invalid_value(&mut self, field: impl Into<String>, value: impl std::fmt::Display) {
        self.push(
            field,
            FieldErrorReason::Invalid,
            format!("invalid value: {value}"),
        );
    }
    fn multiple_one_of(&mut self, fields: &[String]) {
        for f in fields {
            self.push(
                f.clone(),
                FieldErrorReason::Invalid,
                "expected exactly one, got both",
            );
        }
    }
    fn missing_one_of(&mut self, fields: &[String]) {
        for f in fields {
            self.push(
                f.clone(),
                FieldErrorReason::Required,
                "expected exactly one, got neither",
            );
        }
    }
    fn not_supported(&mut self, field: impl Into<String>, msg: impl Into<String>) {
        self.push(field, FieldErrorReason::NotSupported, msg);
    }
}

// ----- small JSON accessors ------------------------------------------------

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}
fn arr(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}
fn present(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}
fn join(base: &str, field: &str) -> String {
    if base.is_empty() {
        field.to_string()
    } else {
        format!("{base}.{field}")
    }
}
fn idx(base: &str, i: usize) -> String {
    format!("{base}[{i}]")
}
fn key(base: &str, k: &str) -> String {
    format!("{base}[{k}]")
}

/// Every string in a JSON value.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        Value::Object(m) => m.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Nulls removed, for comparing specs.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

pub(crate) fn validate(kind: Kind, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut e = Errs::default();
    let null = Value::Null;
    object_metadata(&mut e, obj.get("metadata").unwrap_or(&null));
    let spec = obj.get("spec").unwrap_or(&null);
    match kind {
        Kind::Task => {
            task_spec(&mut e, spec, "spec");
            let params = param_names(arr(spec.get("params")));
            usage_of_declared_params(&mut e, spec, "spec", &params);
        }
        Kind::Pipeline => {
            pipeline_spec(&mut e, spec, "spec", &BTreeSet::new());
        }
        Kind::TaskRun => task_run(&mut e, obj, old),
        Kind::PipelineRun => pipeline_run(&mut e, obj, old),
        Kind::PipelineResource => {}
    }
    e.0
}

/// `validate.ObjectMetadata`.
fn object_metadata(e: &mut Errs, meta: &Value) {
    let name = s(meta, "name");
    if name.is_empty() {
        return; // generateName; the API server checks the final name.
    }
    if !dns1123_subdomain(name).is_empty() {
        e.generic(
            "metadata.name",
            format!("invalid resource name {name:?}: must be a valid DNS label"),
        );
    } else if name.len() > 63 {
        e.generic(
            "metadata.name",
            "Invalid resource name: length must be no more than 63 characters",
        );
    }
}

// ---------------------------------------------------------------------------
// PipelineResource
// ---------------------------------------------------------------------------

/// The message for a PipelineResource type skiff does not support.
pub fn unsupported_type_message(t: &str) -> String {
    format!(
        "PipelineResource type {t:?} is not supported by skiff: only {}",
        SUPPORTED_RESOURCE_TYPES.join(" and ")
    )
}

pub(crate) fn validate_pipeline_resource(obj: &Value) -> Vec<FieldError> {
    let mut e = Errs::default();
    let null = Value::Null;
    object_metadata(&mut e, obj.get("metadata").unwrap_or(&null));
    let spec = obj.get("spec").unwrap_or(&null);
    let t = s(spec, "type");
    if t.is_empty() {
        e.missing("spec.type");
    } else if !SUPPORTED_RESOURCE_TYPES.contains(&t) {
        e.not_supported("spec.type", unsupported_type_message(t));
    }
    e.0
}

/// PipelineResource declarations and inline resource specs of a type skiff does not
/// support, in any version's shape, with the paths as written.
pub(crate) fn unsupported_resource_types(obj: &Value) -> Vec<FieldError> {
    let mut e = Errs::default();
    if let Some(spec) = obj.get("spec") {
        resource_types_in(&mut e, spec, "spec");
    }
    e.0
}

/// Walks a spec for `type` fields of resource declarations (`resources`,
/// `inputs.resources`, `outputs.resources`, items with a `resourceSpec`).
fn resource_types_in(e: &mut Errs, v: &Value, path: &str) {
    let Some(m) = v.as_object() else { return };
    for (k, child) in m {
        let p = join(path, k);
        match (k.as_str(), child) {
            ("resources", Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    resource_item(e, item, &idx(&p, i));
                }
            }
            ("resources", Value::Object(io)) => {
                for dir in ["inputs", "outputs"] {
                    for (i, item) in arr(io.get(dir)).iter().enumerate() {
                        resource_item(e, item, &idx(&join(&p, dir), i));
                    }
                }
            }
            ("inputs" | "outputs", Value::Object(io)) => {
                for (i, item) in arr(io.get("resources")).iter().enumerate() {
                    resource_item(e, item, &idx(&join(&p, "resources"), i));
                }
            }
            ("taskSpec" | "pipelineSpec", Value::Object(_)) => resource_types_in(e, child, &p),
            ("tasks" | "finally", Value::Array(items)) => {
                for (i, item) in items.iter().enumerate() {
                    resource_types_in(e, item, &idx(&p, i));
                }
            }
            _ => {}
        }
    }
}

fn resource_item(e: &mut Errs, item: &Value, path: &str) {
    let t = s(item, "type");
    if !t.is_empty() && !SUPPORTED_RESOURCE_TYPES.contains(&t) {
        e.not_supported(join(path, "type"), unsupported_type_message(t));
    }
    if let Some(spec) = item.get("resourceSpec") {
        let t = s(spec, "type");
        if !t.is_empty() && !SUPPORTED_RESOURCE_TYPES.contains(&t) {
            e.not_supported(join(path, "resourceSpec.type"), unsupported_type_message(t));
        }
    }
}

// ---------------------------------------------------------------------------
// Task spec
// ---------------------------------------------------------------------------

fn param_names(params: &[Value]) -> BTreeSet<String> {
    params.iter().map(|p| s(p, "name").to_string()).collect()
}

/// `TaskSpec.Validate`.
fn task_spec(e: &mut Errs, spec: &Value, path: &str) {
    let steps = arr(spec.get("steps"));
    if steps.is_empty() {
        e.missing(join(path, "steps"));
    }
    // Volumes: unique names.
    let mut vols = BTreeSet::new();
    for (i, v) in arr(spec.get("volumes")).iter().enumerate() {
        let name = s(v, "name");
        if !vols.insert(name) {
            e.generic(
                join(&idx(&join(path, "volumes"), i), "name"),
                format!("multiple volumes with same name {name:?}"),
            );
        }
    }
    declared_workspaces(e, spec, path);
    workspace_usages(e, spec, path);
    let template_image = spec
        .get("stepTemplate")
        .map(|t| s(t, "image"))
        .unwrap_or("");
    let mut names = BTreeSet::new();
    for (i, step) in steps.iter().enumerate() {
        validate_step(
            e,
            step,
            &idx(&join(path, "steps"), i),
            template_image,
            &mut names,
        );
    }
    for (i, sc) in arr(spec.get("sidecars")).iter().enumerate() {
        let p = idx(&join(path, "sidecars"), i);
        if s(sc, "name") == RESERVED_SIDECAR_NAME {
            e.generic(
                join(path, "sidecars"),
                format!("Invalid: cannot use reserved sidecar name {RESERVED_SIDECAR_NAME} "),
            );
        }
        if s(sc, "image").is_empty() {
            e.missing(join(&p, "image"));
        }
        if !s(sc, "script").is_empty() && !arr(sc.get("command")).is_empty() {
            e.generic(join(&p, "script"), "script cannot be used with command");
        }
    }
    let params = arr(spec.get("params"));
    param_types(e, params, &join(path, "params"));
    param_variables(e, spec, params, path);
    context_variables(e, steps, path);
    result_variables(e, spec, path);
    results(e, arr(spec.get("results")), &join(path, "results"));
}

/// `validateDeclaredWorkspaces`: unique names and mount paths.
fn declared_workspaces(e: &mut Errs, spec: &Value, path: &str) {
    let mut mount_paths: BTreeSet<String> = BTreeSet::new();
    for step in arr(spec.get("steps")) {
        for vm in arr(step.get("volumeMounts")) {
            mount_paths.insert(clean_path(s(vm, "mountPath")));
        }
    }
    if let Some(t) = spec.get("stepTemplate") {
        for vm in arr(t.get("volumeMounts")) {
            mount_paths.insert(clean_path(s(vm, "mountPath")));
        }
    }
    let mut ws_names = BTreeSet::new();
    for (i, w) in arr(spec.get("workspaces")).iter().enumerate() {
        let p = idx(&join(path, "workspaces"), i);
        let name = s(w, "name");
        if !ws_names.insert(name) {
            e.generic(
                join(&p, "name"),
                format!("workspace name {name:?} must be unique"),
            );
        }
        let mount = if s(w, "mountPath").is_empty() {
            format!("/workspace/{name}")
        } else {
            s(w, "mountPath").to_string()
        };
        let mount = clean_path(&mount);
        if !mount_paths.insert(mount.clone()) {
            e.generic(
                join(&p, "mountPath"),
                format!("workspace mount path {mount:?} must be unique"),
            );
        }
    }
}

/// `filepath.Clean` for the absolute paths mounts use.
fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if p.starts_with('/') {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".into()
    } else {
        joined
    }
}

/// `validateWorkspaceUsages`: steps and sidecars may only ask for declared workspaces.
fn workspace_usages(e: &mut Errs, spec: &Value, path: &str) {
    let declared: BTreeSet<&str> = arr(spec.get("workspaces"))
        .iter()
        .map(|w| s(w, "name"))
        .collect();
    for list in ["steps", "sidecars"] {
        for (i, c) in arr(spec.get(list)).iter().enumerate() {
            for (j, w) in arr(c.get("workspaces")).iter().enumerate() {
                let name = s(w, "name");
                if !declared.contains(name) {
                    e.generic(
                        join(
                            &idx(&join(&idx(&join(path, list), i), "workspaces"), j),
                            "name",
                        ),
                        format!("undefined workspace {name:?}"),
                    );
                }
            }
        }
    }
}

/// `validateStep`.
fn validate_step(
    e: &mut Errs,
    step: &Value,
    path: &str,
    template_image: &str,
    names: &mut BTreeSet<String>,
) {
    if s(step, "image").is_empty() && template_image.is_empty() {
        e.missing(join(path, "image"));
    }
    if !s(step, "script").is_empty() && !arr(step.get("command")).is_empty() {
        e.generic(join(path, "script"), "script cannot be used with command");
    }
    let name = s(step, "name");
    if !name.is_empty() {
        if names.contains(name) {
            e.invalid_value(join(path, "name"), name);
        }
        if !dns1123_label(name).is_empty() {
            e.generic(
                join(path, "name"),
                format!("invalid value {name:?} (Task step name must be a valid DNS Label, {DNS_LABEL_DETAILS})"),
            );
        }
        names.insert(name.to_string());
    }
    if let Some(t) = step.get("timeout").and_then(Value::as_str) {
        match duration::parse(t) {
            Ok(d) if d < 0 => e.invalid_value(
                join(path, "timeout"),
                format!("{} (negative timeout)", duration::format(d)),
            ),
            Ok(_) => {}
            Err(err) => e.invalid_value(join(path, "timeout"), err),
        }
    }
    for (j, vm) in arr(step.get("volumeMounts")).iter().enumerate() {
        let p = idx(&join(path, "volumeMounts"), j);
        let (vname, mount) = (s(vm, "name"), s(vm, "mountPath"));
        if mount.starts_with("/tekton/") && !mount.starts_with("/tekton/home") {
            e.generic(
                join(&p, "mountPath"),
                format!("volumeMount cannot be mounted under /tekton/ (volumeMount {vname:?} mounted at {mount:?})"),
            );
        }
        if vname.starts_with("tekton-internal-") {
            e.generic(
                join(&p, "name"),
                format!("volumeMount name {vname:?} cannot start with \"tekton-internal-\""),
            );
        }
    }
    let on_error = s(step, "onError");
    if !on_error.is_empty()
        && !on_error.starts_with("$(params")
        && on_error != "continue"
        && on_error != "stopAndFail"
    {
        e.generic(
            join(path, "onError"),
            format!("invalid value: \"{on_error}\" (Task step onError must be either \"continue\" or \"stopAndFail\")"),
        );
    }
}

/// `ValidateParameterTypes` and object property types.
fn param_types(e: &mut Errs, params: &[Value], path: &str) {
    for p in params {
        let name = s(p, "name");
        let t = s(p, "type");
        if !["string", "array", "object"].contains(&t) {
            e.invalid_value(join(path, &format!("{name}.type")), t);
            continue;
        }
        if let Some(d) = p.get("default").filter(|d| !d.is_null()) {
            let dt = match d {
                Value::Array(_) => "array",
                Value::Object(_) => "object",
                _ => "string",
            };
            if dt != t {
                let msg = format!("\"{t}\" type does not match default value's type: \"{dt}\"");
                e.generic(join(path, &format!("{name}.type")), msg.clone());
                e.generic(join(path, &format!("{name}.default.type")), msg);
                continue;
            }
        }
        let invalid: Vec<String> = p
            .get("properties")
            .and_then(Value::as_object)
            .map(|props| {
                props
                    .iter()
                    .filter(|(_, v)| s(v, "type") != "string")
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        if !invalid.is_empty() {
            e.generic(
                join(path, &format!("{name}.properties")),
                format!(
                    "The value type specified for these keys {} is invalid",
                    go_list(&invalid)
                ),
            );
        }
    }
}

/// The strings of a step (or sidecar) Tekton substitutes into, with their paths.
fn step_strings<'a>(step: &'a Value, path: &str) -> Vec<(String, &'a str, Place)> {
    let mut out = Vec::new();
    for f in ["name", "image", "workingDir", "script", "onError"] {
        if let Some(v) = step.get(f).and_then(Value::as_str) {
            out.push((join(path, f), v, Place::Whole));
        }
    }
    for f in ["command", "args"] {
        for (i, v) in arr(step.get(f)).iter().enumerate() {
            if let Some(v) = v.as_str() {
                out.push((idx(&join(path, f), i), v, Place::ListItem));
            }
        }
    }
    for env in arr(step.get("env")) {
        if let Some(v) = env.get("value").and_then(Value::as_str) {
            out.push((key(&join(path, "env"), s(env, "name")), v, Place::Whole));
        }
    }
    for (i, vm) in arr(step.get("volumeMounts")).iter().enumerate() {
        for f in ["name", "mountPath", "subPath"] {
            if let Some(v) = vm.get(f).and_then(Value::as_str) {
                out.push((
                    join(&idx(&join(path, "volumeMounts"), i), f),
                    v,
                    Place::Whole,
                ));
            }
        }
    }
    out
}

/// Where a string sits: array params may be used whole only as a whole list item.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    Whole,
    ListItem,
}

/// `ValidateParameterVariables`: unique names, name formats, array params used only
/// where a list may grow.
fn param_variables(e: &mut Errs, spec: &Value, params: &[Value], path: &str) {
    let mut seen = BTreeSet::new();
    let mut dups = BTreeSet::new();
    for p in params {
        let name = s(p, "name");
        if !seen.insert(name) {
            dups.insert(name);
        }
    }
    for d in dups {
        e.generic(
            key(&join(path, "params"), d),
            "parameter appears more than once",
        );
    }
    let mut bad_names: Vec<String> = params
        .iter()
        .filter(|p| s(p, "type") != "object")
        .map(|p| s(p, "name"))
        .filter(|n| !STRING_ARRAY_PARAM_NAME.is_match(n))
        .map(str::to_string)
        .collect();
    bad_names.sort();
    bad_names.dedup();
    if !bad_names.is_empty() {
        e.generic(
            join(path, "params"),
            format!(
                "The format of following array and string variable names is invalid: {} (String/Array Names: Must only contain alphanumeric characters, hyphens (-), underscores (_), and dots (.); Must begin with a letter or an underscore (_))",
                go_list(&bad_names)
            ),
        );
    }
    let mut bad_objects: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in params.iter().filter(|p| s(p, "type") == "object") {
        let name = s(p, "name");
        if !OBJECT_PARAM_NAME.is_match(name) {
            bad_objects.entry(name.to_string()).or_default();
        }
        if let Some(props) = p.get("properties").and_then(Value::as_object) {
            for k in props.keys() {
                if !OBJECT_PARAM_NAME.is_match(k) {
                    bad_objects
                        .entry(name.to_string())
                        .or_default()
                        .push(k.clone());
                }
            }
        }
    }
    if !bad_objects.is_empty() {
        let rendered: Vec<String> = bad_objects
            .iter()
            .map(|(k, v)| format!("{k}:{}", go_list(v)))
            .collect();
        e.generic(
            join(path, "params"),
            format!(
                "Object param name and key name format is invalid: map[{}] (Object Names: Must only contain alphanumeric characters, hyphens (-), underscores (_); Must begin with a letter or an underscore (_))",
                rendered.join(" ")
            ),
        );
    }
    let arrays: BTreeSet<&str> = params
        .iter()
        .filter(|p| s(p, "type") == "array")
        .map(|p| s(p, "name"))
        .collect();
    if arrays.is_empty() {
        return;
    }
    for (i, step) in arr(spec.get("steps")).iter().enumerate() {
        for (p, value, place) in step_strings(step, &idx(&join(path, "steps"), i)) {
            for r in subst::refs(value, "params") {
                if !arrays.contains(r.name.as_str()) || r.index.as_deref().is_some_and(|x| x != "*")
                {
                    continue;
                }
                let whole = value == format!("$({})", r.expr);
                if place == Place::ListItem {
                    if !whole {
                        e.generic(
                            p.clone(),
                            format!("variable is not properly isolated in {value:?}"),
                        );
                    }
                } else {
                    e.generic(p.clone(), format!("variable type invalid in {value:?}"));
                }
                break;
            }
        }
    }
}

/// `ValidateUsageOfDeclaredParameters`: every `$(params.x)` in the steps names a
/// declared param (and a declared key of an object param, which is not used whole).
fn usage_of_declared_params(e: &mut Errs, spec: &Value, path: &str, declared: &BTreeSet<String>) {
    let params = arr(spec.get("params"));
    let objects: BTreeMap<&str, BTreeSet<&str>> = params
        .iter()
        .filter(|p| s(p, "type") == "object")
        .map(|p| {
            let keys = p
                .get("properties")
                .and_then(Value::as_object)
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            (s(p, "name"), keys)
        })
        .collect();
    for (i, step) in arr(spec.get("steps")).iter().enumerate() {
        for (p, value, _) in step_strings(step, &idx(&join(path, "steps"), i)) {
            for r in subst::refs(value, "params") {
                let unknown = !declared.contains(&r.name)
                    || objects
                        .get(r.name.as_str())
                        .is_some_and(|keys| r.key.as_deref().is_some_and(|k| !keys.contains(k)));
                if unknown {
                    e.generic(p.clone(), format!("non-existent variable in {value:?}"));
                    break;
                }
                if objects.contains_key(r.name.as_str()) && r.key.is_none() {
                    e.generic(p.clone(), format!("variable type invalid in {value:?}"));
                    break;
                }
            }
        }
    }
    for p in params {
        if s(p, "type") == "object" && !present(p, "properties") {
            e.missing(join(path, &format!("params.{}.properties", s(p, "name"))));
        }
    }
}

/// `validateTaskContextVariables`.
fn context_variables(e: &mut Errs, steps: &[Value], path: &str) {
    let checks: [(&str, &[&str]); 2] = [
        ("context.taskRun", &["name", "namespace", "uid"]),
        ("context.task", &["name", "retry-count"]),
    ];
    for (i, step) in steps.iter().enumerate() {
        for (p, value, _) in step_strings(step, &idx(&join(path, "steps"), i)) {
            for (prefix, known) in checks {
                if subst::refs(value, prefix)
                    .iter()
                    .any(|r| !known.contains(&r.name.as_str()))
                {
                    e.generic(p.clone(), format!("non-existent variable in {value:?}"));
                }
            }
        }
    }
}

/// `validateTaskResultsVariables`: `$(results.r.path)` in scripts names a declared result.
fn result_variables(e: &mut Errs, spec: &Value, path: &str) {
    let declared: BTreeSet<&str> = arr(spec.get("results"))
        .iter()
        .map(|r| s(r, "name"))
        .collect();
    for (i, step) in arr(spec.get("steps")).iter().enumerate() {
        let script = s(step, "script");
        if subst::refs(script, "results")
            .iter()
            .any(|r| !declared.contains(r.name.as_str()))
        {
            e.generic(
                join(&idx(&join(path, "steps"), i), "script"),
                format!("non-existent variable in {script:?}"),
            );
        }
    }
}

/// `TaskResult.Validate`.
fn results(e: &mut Errs, results: &[Value], path: &str) {
    for (i, r) in results.iter().enumerate() {
        let p = idx(path, i);
        let name = s(r, "name");
        if !RESULT_NAME.is_match(name) {
            e.generic(
                join(&p, "name"),
                format!("invalid key name {name:?} (Name must consist of alphanumeric characters, '-', '_', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my-name',  or 'my_name', regex used for validation is '{RESULT_NAME_FORMAT}'))"),
            );
            continue;
        }
        match s(r, "type") {
            "" | "string" | "array" => {}
            "object" => match r.get("properties").and_then(Value::as_object) {
                None => e.missing(join(&p, &format!("{name}.properties"))),
                Some(props) => {
                    let invalid: Vec<String> = props
                        .iter()
                        .filter(|(_, v)| s(v, "type") != "string")
                        .map(|(k, _)| k.clone())
                        .collect();
                    if !invalid.is_empty() {
                        e.generic(
                                join(&p, &format!("{name}.properties")),
                                format!("The value type specified for these keys {} is invalid, the type must be string", go_list(&invalid)),
                            );
                    }
                }
            },
            other => e.generic(
                join(&p, "type"),
                format!("invalid value: {other} (type must be string)"),
            ),
        }
    }
}

// ---------------------------------------------------------------------------
// Pipeline spec
// ---------------------------------------------------------------------------

/// `PipelineSpec.Validate` plus the checks Tekton runs on Pipeline objects (param and
/// workspace usage). `extra_params` are params a PipelineRun propagates into its
/// embedded spec.
fn pipeline_spec(e: &mut Errs, spec: &Value, path: &str, extra_params: &BTreeSet<String>) {
    let tasks = arr(spec.get("tasks"));
    let finally = arr(spec.get("finally"));
    let empty = [
        "description",
        "params",
        "tasks",
        "workspaces",
        "results",
        "finally",
    ]
    .iter()
    .all(|k| {
        spec.get(*k)
            .is_none_or(|v| v.is_null() || v == "" || v.as_array().is_some_and(Vec::is_empty))
    });
    if empty {
        for f in ["description", "params", "resources", "tasks", "workspaces"] {
            e.generic(join(path, f), "expected at least one, got none");
        }
    }
    let params = arr(spec.get("params"));
    let mut pipeline_params = param_names(params);
    pipeline_params.extend(extra_params.iter().cloned());

    // Pipeline tasks: names, refs/specs.
    let mut names = BTreeSet::new();
    for (list, items) in [("tasks", tasks), ("finally", finally)] {
        for (i, pt) in items.iter().enumerate() {
            let p = idx(&join(path, list), i);
            let name = s(pt, "name");
            if !dns1123_label(name).is_empty() {
                e.generic(
                    join(&p, "name"),
                    format!("invalid value {name:?} (Pipeline Task name must be a valid DNS Label.{DNS_LABEL_DETAILS})"),
                );
            }
            if !names.insert(name.to_string()) {
                e.multiple_one_of(&[join(&p, "name")]);
            }
            pipeline_task(e, pt, &p, &pipeline_params);
        }
    }
    graph(e, tasks, &join(path, "tasks"));
    param_types(e, params, &join(path, "params"));
    let mut seen = BTreeSet::new();
    for p in params {
        let name = s(p, "name");
        if !seen.insert(name) {
            e.generic(
                key(&join(path, "params"), name),
                "parameter appears more than once",
            );
        }
    }
    pipeline_param_usage(e, spec, path, &pipeline_params);
    execution_status_variables(e, tasks, finally, path);
    pipeline_workspaces(e, spec, path);
    pipeline_results(e, spec, path);
    if !finally.is_empty() && tasks.is_empty() {
        e.invalid_value(
            join(path, "finally"),
            format!(
                "spec.tasks is empty but spec.finally has {} tasks",
                finally.len()
            ),
        );
    }
    final_tasks(e, tasks, finally, path);
    for (list, items) in [("tasks", tasks), ("finally", finally)] {
        for (i, pt) in items.iter().enumerate() {
            when_expressions(e, pt, &idx(&join(path, list), i));
        }
    }
}

/// `PipelineTask.Validate` (ref or spec, custom tasks, embedded task spec) and skiff's
/// refusal of `matrix`.
fn pipeline_task(e: &mut Errs, pt: &Value, path: &str, pipeline_params: &BTreeSet<String>) {
    let task_ref = pt.get("taskRef").filter(|v| !v.is_null());
    let task_spec_v = pt.get("taskSpec").filter(|v| !v.is_null());
    match (task_ref, task_spec_v) {
        (Some(_), Some(_)) => e.multiple_one_of(&[join(path, "taskRef"), join(path, "taskSpec")]),
        (None, None) => e.missing_one_of(&[join(path, "taskRef"), join(path, "taskSpec")]),
        _ => {}
    }
    if let Some(ts) = task_spec_v {
        let has_steps = !arr(ts.get("steps")).is_empty();
        if has_steps && !s(ts, "apiVersion").is_empty() {
            e.generic(
                join(path, "taskSpec.apiVersion"),
                "taskSpec.apiVersion cannot be specified when using taskSpec.steps",
            );
        }
        if has_steps && !s(ts, "kind").is_empty() {
            e.generic(
                join(path, "taskSpec.kind"),
                "taskSpec.kind cannot be specified when using taskSpec.steps",
            );
        }
    }
    let custom_ref = task_ref.is_some_and(|r| {
        !["", "Task", "ClusterTask"].contains(&s(r, "kind")) || !s(r, "apiVersion").is_empty()
    });
    let custom_spec = task_spec_v.is_some_and(|t| {
        !["", "Task", "ClusterTask"].contains(&s(t, "kind")) || !s(t, "apiVersion").is_empty()
    });
    if custom_ref || custom_spec {
        if let Some(r) = task_ref {
            if s(r, "kind").is_empty() {
                e.invalid_value(
                    join(path, "taskRef.kind"),
                    "custom task ref must specify kind",
                );
            }
            if s(r, "apiVersion").is_empty() {
                e.invalid_value(
                    join(path, "taskRef.apiVersion"),
                    "custom task ref must specify apiVersion",
                );
            }
        }
        if let Some(t) = task_spec_v {
            if s(t, "kind").is_empty() {
                e.invalid_value(
                    join(path, "taskSpec.kind"),
                    "custom task spec must specify kind",
                );
            }
            if s(t, "apiVersion").is_empty() {
                e.invalid_value(
                    join(path, "taskSpec.apiVersion"),
                    "custom task spec must specify apiVersion",
                );
            }
        }
    } else {
        if let Some(ts) = task_spec_v {
            let tsp = join(path, "taskSpec");
            task_spec(e, ts, &tsp);
            // Embedded specs may use their own params and the pipeline's (propagated).
            let mut declared = param_names(arr(ts.get("params")));
            declared.extend(pipeline_params.iter().cloned());
            declared.extend(param_names(arr(pt.get("params"))));
            usage_of_declared_params(e, ts, &tsp, &declared);
        }
        if let Some(r) = task_ref {
            task_ref_fields(e, r, &join(path, "taskRef"));
        }
    }
    // Pipeline task params: unique names.
    let mut names = BTreeSet::new();
    for (i, p) in arr(pt.get("params")).iter().enumerate() {
        let name = s(p, "name");
        if !names.insert(name) {
            e.generic(
                join(&idx(&join(path, "params"), i), "name"),
                format!(
                    "parameter names must be unique, the parameter \"{name}\" is also defined at"
                ),
            );
        }
    }
    if let Some(m) = pt.get("matrix").filter(|m| !m.is_null()) {
        if !arr(m.get("params")).is_empty() || !arr(m.get("include")).is_empty() {
            e.not_supported(
                join(path, "matrix"),
                "matrix is not supported by skiff: fan the task out into several pipeline tasks",
            );
        }
    }
    if let Some(t) = pt.get("timeout").and_then(Value::as_str) {
        duration_field(e, t, &join(path, "timeout"));
    }
    if let Some(r) = pt.get("retries").and_then(Value::as_i64) {
        if r < 0 {
            e.invalid_value(join(path, "retries"), format!("{r} should be >= 0"));
        }
    }
    let on_error = s(pt, "onError");
    if !on_error.is_empty() && on_error != "continue" && on_error != "stopAndFail" {
        e.generic(
            join(path, "onError"),
            format!("invalid value: \"{on_error}\" (PipelineTask OnError must be either \"continue\" or \"stopAndFail\")"),
        );
    }
}

/// A taskRef needs a (qualified) name unless a resolver finds the Task.
fn task_ref_fields(e: &mut Errs, r: &Value, path: &str) {
    let name = s(r, "name");
    let resolver = s(r, "resolver");
    if !name.is_empty() {
        if !resolver.is_empty() {
            e.multiple_one_of(&[join(path, "name"), join(path, "resolver")]);
        }
        let errs = qualified_name(name);
        if !errs.is_empty() {
            e.invalid_value(join(path, "name"), errs.join(","));
        }
    } else if resolver.is_empty() {
        e.invalid_value(
            join(path, "name"),
            format!("{} must specify name", last(path)),
        );
    }
}

fn last(path: &str) -> &str {
    path.rsplit('.').next().unwrap_or(path)
}

fn duration_field(e: &mut Errs, v: &str, path: &str) -> Option<i128> {
    match duration::parse(v) {
        Ok(d) if d < 0 => {
            e.invalid_value(path, format!("{} should be >= 0", duration::format(d)));
            None
        }
        Ok(d) => Some(d),
        Err(err) => {
            e.invalid_value(path, err);
            None
        }
    }
}

/// The tasks a pipeline task depends on: `runAfter` and result references.
fn deps(pt: &Value) -> Vec<String> {
    let mut out: BTreeSet<String> = arr(pt.get("runAfter"))
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    for text in pipeline_task_strings(pt) {
        for r in subst::result_refs(text) {
            out.insert(r.pipeline_task);
        }
    }
    out.into_iter().collect()
}

/// The strings of a pipeline task's params and when expressions.
fn pipeline_task_strings(pt: &Value) -> Vec<&str> {
    let mut out = Vec::new();
    for p in arr(pt.get("params")) {
        if let Some(v) = p.get("value") {
            out.extend(strings(v));
        }
    }
    for w in arr(pt.get("when")) {
        out.push(s(w, "input"));
        out.extend(arr(w.get("values")).iter().filter_map(Value::as_str));
    }
    out
}

/// `dag.Build`: no cycles (Kahn's algorithm, reporting the smallest task left, as
/// Tekton does) and no link to a task that is not in the pipeline.
fn graph(e: &mut Errs, tasks: &[Value], path: &str) {
    let mut present = BTreeSet::new();
    for pt in tasks {
        let name = s(pt, "name");
        if !present.insert(name) {
            e.invalid_value(
                path,
                format!("task {name} is already present in Graph, can't add it again: duplicate pipeline task"),
            );
            return;
        }
    }
    let deps: Vec<(String, Vec<String>)> = tasks
        .iter()
        .map(|pt| (s(pt, "name").to_string(), deps(pt)))
        .filter(|(_, d)| !d.is_empty())
        .collect();
    if let Some(msg) = find_cycle(&deps) {
        e.invalid_value(path, format!("cycle detected; {msg}"));
        return;
    }
    for (task, ds) in &deps {
        for d in ds {
            if !present.contains(d.as_str()) {
                e.invalid_value(
                    path,
                    format!("couldn't add link between {task} and {d}: task {task} depends on {d} but {d} wasn't present in Pipeline"),
                );
                return;
            }
        }
    }
}

/// Tekton's `findCyclesInDependencies`.
fn find_cycle(deps: &[(String, Vec<String>)]) -> Option<String> {
    let dep_map: BTreeMap<&str, &Vec<String>> = deps.iter().map(|(t, d)| (t.as_str(), d)).collect();
    let mut dag: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut children: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut independent: Vec<String> = Vec::new();
    for (task, ds) in deps {
        dag.insert(task.clone(), ds.iter().cloned().collect());
        for d in ds {
            if dep_map.get(d.as_str()).is_none_or(|x| x.is_empty()) && !independent.contains(d) {
                independent.push(d.clone());
            }
            children.entry(d.clone()).or_default().insert(task.clone());
        }
    }
    while let Some(parent) = independent.pop() {
        let kids = children.remove(&parent).unwrap_or_default();
        for child in kids {
            if let Some(set) = dag.get_mut(&child) {
                set.remove(&parent);
                if set.is_empty() {
                    dag.remove(&child);
                    independent.push(child);
                }
            }
        }
    }
    let (first, ds) = dag.iter().next()?;
    let quoted: Vec<String> = ds.iter().map(|d| format!("{d:?}")).collect();
    Some(format!("task {first:?} depends on {}", quoted.join(", ")))
}

/// `validatePipelineTaskParameterUsage`: `$(params.x)` in task params and when
/// expressions names a pipeline param.
fn pipeline_param_usage(e: &mut Errs, spec: &Value, path: &str, declared: &BTreeSet<String>) {
    let objects: BTreeMap<&str, BTreeSet<&str>> = arr(spec.get("params"))
        .iter()
        .filter(|p| s(p, "type") == "object")
        .map(|p| {
            let keys = p
                .get("properties")
                .and_then(Value::as_object)
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            (s(p, "name"), keys)
        })
        .collect();
    let unknown = |text: &str| {
        subst::refs(text, "params").iter().any(|r| {
            !declared.contains(&r.name)
                || objects
                    .get(r.name.as_str())
                    .is_some_and(|keys| r.key.as_deref().is_some_and(|k| !keys.contains(k)))
        })
    };
    for list in ["tasks", "finally"] {
        for (i, pt) in arr(spec.get(list)).iter().enumerate() {
            let p = idx(&join(path, list), i);
            for param in arr(pt.get("params")) {
                let name = s(param, "name");
                if let Some(v) = param.get("value") {
                    if let Some(bad) = strings(v).into_iter().find(|t| unknown(t)) {
                        e.generic(
                            key(&join(&p, "params"), name),
                            format!("non-existent variable in {bad:?}"),
                        );
                    }
                }
            }
            for (j, w) in arr(pt.get("when")).iter().enumerate() {
                let wp = idx(&join(&p, "when"), j);
                if unknown(s(w, "input")) {
                    e.generic(
                        join(&wp, "input"),
                        format!("non-existent variable in {:?}", s(w, "input")),
                    );
                }
                for v in arr(w.get("values")).iter().filter_map(Value::as_str) {
                    if unknown(v) {
                        e.generic(
                            join(&wp, "values"),
                            format!("non-existent variable in {v:?}"),
                        );
                    }
                }
            }
            // Context variables in param values.
            let checks: [(&str, &[&str]); 3] = [
                ("context.pipelineRun", &["name", "namespace", "uid"]),
                ("context.pipeline", &["name"]),
                ("context.pipelineTask", &["retries"]),
            ];
            for param in arr(pt.get("params")) {
                for text in param.get("value").map(strings).unwrap_or_default() {
                    for (prefix, known) in checks {
                        if subst::refs(text, prefix)
                            .iter()
                            .any(|r| !known.contains(&r.name.as_str()))
                        {
                            e.generic(
                                join(&key(&join(&p, "params"), s(param, "name")), "value"),
                                format!("non-existent variable in {text:?}"),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// `validateExecutionStatusVariables`: only finally tasks may read `$(tasks.x.status)`,
/// and only of dag tasks.
fn execution_status_variables(e: &mut Errs, tasks: &[Value], finally: &[Value], path: &str) {
    let dag_names: BTreeSet<&str> = tasks.iter().map(|t| s(t, "name")).collect();
    for (list, items, allowed) in [("tasks", tasks, false), ("finally", finally, true)] {
        for (i, pt) in items.iter().enumerate() {
            let p = idx(&join(path, list), i);
            let mut check = |texts: Vec<&str>, field: String| {
                let exprs: Vec<&str> = texts.iter().flat_map(|t| subst::expressions(t)).collect();
                if exprs.iter().any(|x| subst::looks_like_result_ref(x)) {
                    return;
                }
                for x in exprs.iter().filter(|x| x.starts_with("tasks.")) {
                    if !allowed {
                        if subst::is_execution_status(x) || *x == "tasks.status" {
                            e.invalid_value(field.clone(), "pipeline tasks can not refer to execution status of any other pipeline task or aggregate status of tasks");
                            return;
                        }
                    } else if *x != "tasks.status" && subst::is_execution_status(x) {
                        let t = x.trim_start_matches("tasks.").trim_end_matches(".status");
                        if !dag_names.contains(t) {
                            e.invalid_value(
                                field.clone(),
                                format!("pipeline task {t} is not defined in the pipeline"),
                            );
                        }
                    }
                }
            };
            for param in arr(pt.get("params")) {
                let texts = param.get("value").map(strings).unwrap_or_default();
                check(
                    texts,
                    join(&key(&join(&p, "params"), s(param, "name")), "value"),
                );
            }
            for (j, w) in arr(pt.get("when")).iter().enumerate() {
                let mut texts = vec![s(w, "input")];
                texts.extend(arr(w.get("values")).iter().filter_map(Value::as_str));
                check(texts, idx(&join(&p, "when"), j));
            }
        }
    }
}

/// Pipeline workspace declarations and the pipeline tasks' bindings to them.
fn pipeline_workspaces(e: &mut Errs, spec: &Value, path: &str) {
    let mut declared = BTreeSet::new();
    for (i, w) in arr(spec.get("workspaces")).iter().enumerate() {
        let p = idx(&join(path, "workspaces"), i);
        let name = s(w, "name");
        if name.is_empty() {
            e.invalid_value(p.clone(), format!("workspace {i} has empty name"));
        }
        if !declared.insert(name) {
            e.invalid_value(
                p,
                format!("workspace with name {name:?} appears more than once"),
            );
        }
    }
    for list in ["tasks", "finally"] {
        for (i, pt) in arr(spec.get(list)).iter().enumerate() {
            let p = idx(&join(path, list), i);
            let pt_name = s(pt, "name");
            let mut bound = BTreeSet::new();
            for (j, ws) in arr(pt.get("workspaces")).iter().enumerate() {
                let wp = idx(&join(&p, "workspaces"), j);
                let name = s(ws, "name");
                if !bound.insert(name) {
                    e.generic(
                        wp.clone(),
                        format!("workspace name {name:?} must be unique"),
                    );
                }
                let target = if s(ws, "workspace").is_empty() {
                    name
                } else {
                    s(ws, "workspace")
                };
                if !declared.contains(target) {
                    e.invalid_value(
                        wp,
                        format!("pipeline task {pt_name:?} expects workspace with name {target:?} but none exists in pipeline spec"),
                    );
                }
            }
        }
    }
}

/// `validatePipelineResults`.
fn pipeline_results(e: &mut Errs, spec: &Value, path: &str) {
    let tasks: BTreeSet<&str> = arr(spec.get("tasks"))
        .iter()
        .map(|t| s(t, "name"))
        .collect();
    let finally: BTreeSet<&str> = arr(spec.get("finally"))
        .iter()
        .map(|t| s(t, "name"))
        .collect();
    for (i, r) in arr(spec.get("results")).iter().enumerate() {
        let p = join(&idx(&join(path, "results"), i), "value");
        let texts = r.get("value").map(strings).unwrap_or_default();
        let exprs: Vec<&str> = texts.iter().flat_map(|t| subst::expressions(t)).collect();
        if exprs.is_empty() {
            e.invalid_value(
                p.clone(),
                "expected pipeline results to be task result expressions but no expressions were found",
            );
        }
        if !exprs.iter().any(|x| subst::looks_like_result_ref(x)) {
            e.invalid_value(
                p.clone(),
                "expected pipeline results to be task result expressions but an invalid expressions was found",
            );
        }
        let result_like: Vec<&str> = exprs
            .iter()
            .copied()
            .filter(|x| subst::looks_like_result_ref(x))
            .collect();
        let parsed: Vec<subst::ResultRef> = result_like
            .iter()
            .filter_map(|x| subst::parse_result_ref(x))
            .collect();
        if parsed.len() != result_like.len() {
            e.invalid_value(
                p.clone(),
                format!(
                    "expected all of the expressions {} to be result expressions but only {} were",
                    go_list(
                        &result_like
                            .iter()
                            .map(|x| x.to_string())
                            .collect::<Vec<_>>()
                    ),
                    parsed.len()
                ),
            );
        }
        let nonexistent = exprs.iter().any(|x| {
            subst::parse_result_ref(x).is_some_and(|r| {
                if x.starts_with("finally.") {
                    !finally.contains(r.pipeline_task.as_str())
                } else {
                    !tasks.contains(r.pipeline_task.as_str())
                }
            })
        });
        if nonexistent {
            e.invalid_value(p, "referencing a nonexistent task");
        }
    }
}

/// `validateFinalTasks`: no runAfter; result references only to dag tasks.
fn final_tasks(e: &mut Errs, tasks: &[Value], finally: &[Value], path: &str) {
    let dag: BTreeSet<&str> = tasks.iter().map(|t| s(t, "name")).collect();
    let fin: BTreeSet<&str> = finally.iter().map(|t| s(t, "name")).collect();
    for (i, f) in finally.iter().enumerate() {
        let p = idx(&join(path, "finally"), i);
        if !arr(f.get("runAfter")).is_empty() {
            e.invalid_value(
                p.clone(),
                format!(
                    "no runAfter allowed under spec.finally, final task {} has runAfter specified",
                    s(f, "name")
                ),
            );
        }
        let mut check = |texts: Vec<&str>, field: String| {
            for t in texts {
                for r in subst::result_refs(t) {
                    if fin.contains(r.pipeline_task.as_str()) {
                        e.invalid_value(field.clone(), format!("invalid task result reference, final task has task result reference from a final task {}", r.pipeline_task));
                    } else if !dag.contains(r.pipeline_task.as_str()) {
                        e.invalid_value(field.clone(), format!("invalid task result reference, final task has task result reference from a task {} which is not defined in the pipeline", r.pipeline_task));
                    }
                }
            }
        };
        for param in arr(f.get("params")) {
            let texts = param.get("value").map(strings).unwrap_or_default();
            check(
                texts,
                join(&key(&join(&p, "params"), s(param, "name")), "value"),
            );
        }
        for (j, w) in arr(f.get("when")).iter().enumerate() {
            let mut texts = vec![s(w, "input")];
            texts.extend(arr(w.get("values")).iter().filter_map(Value::as_str));
            check(texts, idx(&join(&p, "when"), j));
        }
    }
}

/// `WhenExpression` validation: operators `in`/`notin`, non-empty values; CEL needs a
/// feature flag skiff does not have.
fn when_expressions(e: &mut Errs, pt: &Value, path: &str) {
    for (j, w) in arr(pt.get("when")).iter().enumerate() {
        let p = idx(&join(path, "when"), j);
        let cel = s(w, "cel");
        if !cel.is_empty() {
            e.generic(
                p,
                format!("feature flag enable-cel-in-whenexpression should be set to true to use CEL: {cel} in WhenExpression"),
            );
            continue;
        }
        let op = s(w, "operator");
        if s(w, "input").is_empty() && op.is_empty() && arr(w.get("values")).is_empty() {
            e.missing(p);
            continue;
        }
        if op != "in" && op != "notin" {
            e.invalid_value(
                p,
                format!("operator {op:?} is not recognized. valid operators: in,notin"),
            );
            continue;
        }
        if arr(w.get("values")).is_empty() {
            e.invalid_value(p, "expecting non-empty values field");
        }
    }
}

// ---------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------

/// Whether a run's `Succeeded` condition says it is done (True or False).
fn is_done(obj: &Value) -> bool {
    arr(obj.pointer("/status/conditions"))
        .iter()
        .any(|c| s(c, "type") == "Succeeded" && matches!(s(c, "status"), "True" | "False"))
}

/// `ValidateUpdate` of runs: once created only the cancellation fields may change,
/// and nothing once done.
fn run_update(e: &mut Errs, obj: &Value, old: &Value, kind: &str, mutable: &[&str]) {
    let null = Value::Null;
    let mut new_spec = without_nulls(obj.get("spec").unwrap_or(&null));
    let mut old_spec = without_nulls(old.get("spec").unwrap_or(&null));
    let done = is_done(old);
    let tips = if done {
        format!("Once the {kind} is complete, no updates are allowed")
    } else {
        for f in mutable {
            if let Some(m) = old_spec.as_object_mut() {
                m.remove(*f);
            }
            if let Some(m) = new_spec.as_object_mut() {
                m.remove(*f);
            }
        }
        if kind == "TaskRun" {
            format!(
                "Once the {kind} has started, only status and statusMessage updates are allowed"
            )
        } else {
            format!("Once the {kind} has started, only status updates are allowed")
        }
    };
    if old_spec != new_spec {
        e.invalid_value("spec", tips);
    }
}

/// Params given by a run: unique names, case-insensitively.
fn run_params(e: &mut Errs, params: &[Value], path: &str) {
    let mut seen = BTreeSet::new();
    for p in params {
        let name = s(p, "name");
        if !seen.insert(name.to_lowercase()) {
            e.multiple_one_of(&[join(&key(path, name), "name")]);
        }
    }
}

/// `WorkspaceBinding.Validate` for each binding, plus unique names.
fn workspace_bindings(
    e: &mut Errs,
    bindings: &[Value],
    path: &str,
    by_index: bool,
) -> BTreeSet<String> {
    let sources = [
        "persistentVolumeClaim",
        "volumeClaimTemplate",
        "emptyDir",
        "configMap",
        "secret",
        "projected",
        "csi",
    ];
    let mut names = BTreeSet::new();
    for (i, b) in bindings.iter().enumerate() {
        let p = idx(path, i);
        let name = s(b, "name");
        if !names.insert(name.to_lowercase()) && by_index {
            e.multiple_one_of(&[join(&p, "name")]);
        }
        let n = sources.iter().filter(|k| present(b, k)).count();
        if n > 1 {
            e.multiple_one_of(&sources[..5].iter().map(|k| join(&p, k)).collect::<Vec<_>>());
            continue;
        }
        if n == 0 {
            e.missing_one_of(&sources[..5].iter().map(|k| join(&p, k)).collect::<Vec<_>>());
            continue;
        }
        if present(b, "persistentVolumeClaim")
            && s(&b["persistentVolumeClaim"], "claimName").is_empty()
        {
            e.missing(join(&p, "persistentVolumeClaim.claimName"));
        }
        if present(b, "configMap") && s(&b["configMap"], "name").is_empty() {
            e.missing(join(&p, "configMap.name"));
        }
        if present(b, "secret") && s(&b["secret"], "secretName").is_empty() {
            e.missing(join(&p, "secret.secretName"));
        }
        if present(b, "projected") && arr(b["projected"].get("sources")).is_empty() {
            e.missing(join(&p, "projected.sources"));
        }
        if present(b, "csi") && s(&b["csi"], "driver").is_empty() {
            e.missing(join(&p, "csi.driver"));
        }
    }
    bindings.iter().map(|b| s(b, "name").to_string()).collect()
}

/// An embedded spec's declared workspaces must all be bound (unless optional), and
/// every binding must match one (skiff refuses bindings that would be ignored).
fn bindings_match(e: &mut Errs, declared: &[Value], bindings: &[Value], path: &str, owner: &str) {
    let bound: BTreeSet<&str> = bindings.iter().map(|b| s(b, "name")).collect();
    let names: BTreeSet<&str> = declared.iter().map(|d| s(d, "name")).collect();
    for d in declared {
        let name = s(d, "name");
        if !bound.contains(name) && d.get("optional") != Some(&Value::Bool(true)) {
            let msg = if owner == "task" {
                format!("declared workspace {name:?} is required but has not been bound")
            } else {
                format!("pipeline requires workspace with name {name:?} be provided by pipelinerun")
            };
            e.generic(path, msg);
        }
    }
    for (i, b) in bindings.iter().enumerate() {
        let name = s(b, "name");
        if !names.contains(name) {
            e.invalid_value(
                join(&idx(path, i), "name"),
                format!("workspace binding {name:?} does not match any workspace declared by the {owner}"),
            );
        }
    }
}

fn task_run(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let null = Value::Null;
    let spec = obj.get("spec").unwrap_or(&null);
    if let Some(old) = old {
        run_update(e, obj, old, "TaskRun", &["status", "statusMessage"]);
    }
    let task_ref = spec.get("taskRef").filter(|v| !v.is_null());
    let ts = spec.get("taskSpec").filter(|v| !v.is_null());
    match (task_ref, ts) {
        (None, None) => e.missing_one_of(&["spec.taskRef".into(), "spec.taskSpec".into()]),
        (Some(_), Some(_)) => e.multiple_one_of(&["spec.taskRef".into(), "spec.taskSpec".into()]),
        _ => {}
    }
    if let Some(r) = task_ref {
        task_ref_fields(e, r, "spec.taskRef");
    }
    let params = arr(spec.get("params"));
    if let Some(ts) = ts {
        task_spec(e, ts, "spec.taskSpec");
        // Params given by the run are propagated into the embedded spec.
        let mut declared = param_names(arr(ts.get("params")));
        declared.extend(param_names(params));
        usage_of_declared_params(e, ts, "spec.taskSpec", &declared);
        bindings_match(
            e,
            arr(ts.get("workspaces")),
            arr(spec.get("workspaces")),
            "spec.workspaces",
            "task",
        );
    }
    run_params(e, params, "spec.params");
    workspace_bindings(e, arr(spec.get("workspaces")), "spec.workspaces", true);
    for f in ["stepSpecs", "sidecarSpecs"] {
        let mut seen = BTreeSet::new();
        for (i, o) in arr(spec.get(f)).iter().enumerate() {
            let p = idx(&format!("spec.{f}"), i);
            let name = s(o, "name");
            if name.is_empty() {
                e.missing(join(&p, "name"));
            } else if !seen.insert(name.to_lowercase()) {
                e.multiple_one_of(&[join(&p, "name")]);
            }
        }
    }
    let status = s(spec, "status");
    if !status.is_empty() && status != "TaskRunCancelled" {
        e.invalid_value(
            "spec.status",
            format!("{status} should be TaskRunCancelled"),
        );
    }
    if status.is_empty() && !s(spec, "statusMessage").is_empty() {
        e.invalid_value(
            "spec.statusMessage",
            format!(
                "statusMessage should not be set if status is not set, but it is currently set to {}",
                s(spec, "statusMessage")
            ),
        );
    }
    if let Some(r) = spec.get("retries").and_then(Value::as_i64) {
        if r < 0 {
            e.invalid_value("spec.retries", format!("{r} should be >= 0"));
        }
    }
    if let Some(t) = spec.get("timeout").and_then(Value::as_str) {
        duration_field(e, t, "spec.timeout");
    }
    if let Some(onf) = spec
        .pointer("/debug/breakpoints/onFailure")
        .and_then(Value::as_str)
    {
        if !onf.is_empty() && onf != "enabled" {
            e.invalid_value(
                "spec.debug.breakpoints.onFailure",
                format!("{onf} is not a valid onFailure breakpoint value, onFailure breakpoint is only allowed to be set as enabled"),
            );
        }
    }
}

fn pipeline_run(e: &mut Errs, obj: &Value, old: Option<&Value>) {
    let null = Value::Null;
    let spec = obj.get("spec").unwrap_or(&null);
    let status = s(spec, "status");
    if status == "PipelineRunPending"
        && obj
            .pointer("/status/startTime")
            .is_some_and(|t| !t.is_null())
    {
        e.invalid_value(
            "spec.status",
            "PipelineRun cannot be Pending after it is started",
        );
    }
    if let Some(old) = old {
        run_update(e, obj, old, "PipelineRun", &["status"]);
    }
    let pipeline_ref = spec.get("pipelineRef").filter(|v| !v.is_null());
    let ps = spec.get("pipelineSpec").filter(|v| !v.is_null());
    match (pipeline_ref, ps) {
        (None, None) => e.missing_one_of(&["spec.pipelineRef".into(), "spec.pipelineSpec".into()]),
        (Some(_), Some(_)) => {
            e.multiple_one_of(&["spec.pipelineRef".into(), "spec.pipelineSpec".into()])
        }
        _ => {}
    }
    if let Some(r) = pipeline_ref {
        task_ref_fields(e, r, "spec.pipelineRef");
    }
    let params = arr(spec.get("params"));
    if let Some(ps) = ps {
        pipeline_spec(e, ps, "spec.pipelineSpec", &param_names(params));
        bindings_match(
            e,
            arr(ps.get("workspaces")),
            arr(spec.get("workspaces")),
            "spec.workspaces",
            "pipeline",
        );
    }
    run_params(e, params, "spec.params");
    for p in params {
        let texts = p.get("value").map(strings).unwrap_or_default();
        let refs: Vec<&str> = texts
            .iter()
            .flat_map(|t| subst::expressions(t))
            .filter(|x| subst::looks_like_result_ref(x))
            .collect();
        if !refs.is_empty() {
            let list: Vec<String> = refs.iter().map(|x| x.to_string()).collect();
            e.invalid_value(
                join(&key("spec.params", s(p, "name")), "value"),
                format!(
                    "cannot use result expressions in {} as PipelineRun parameter values",
                    go_list(&list)
                ),
            );
        }
    }
    if let Some(t) = spec.get("timeouts").filter(|t| !t.is_null()) {
        let get = |f: &str, e: &mut Errs| {
            t.get(f)
                .and_then(Value::as_str)
                .and_then(|v| duration_field(e, v, &format!("spec.timeouts.{f}")))
        };
        let tasks = get("tasks", e);
        let finally = get("finally", e);
        let pipeline = get("pipeline", e);
        let timeout = pipeline.unwrap_or(duration::HOUR_NANOS);
        let msg = if pipeline.is_some() {
            "should be <= pipeline duration"
        } else {
            "should be <= default timeout duration"
        };
        if timeout != 0 {
            for (f, d) in [("tasks", tasks), ("finally", finally)] {
                match d {
                    Some(0) => e.invalid_value(
                        format!("spec.timeouts.{f}"),
                        format!("0s (no timeout) {msg}"),
                    ),
                    Some(d) if d > timeout => e.invalid_value(
                        format!("spec.timeouts.{f}"),
                        format!("{} {msg}", duration::format(d)),
                    ),
                    _ => {}
                }
            }
            if let (Some(ta), Some(fi)) = (tasks, finally) {
                if ta + fi > timeout {
                    let m = format!("{} + {} {msg}", duration::format(ta), duration::format(fi));
                    e.invalid_value("spec.timeouts.tasks", m.clone());
                    e.invalid_value("spec.timeouts.finally", m);
                }
            }
        }
    }
    if ![
        "",
        "Cancelled",
        "CancelledRunFinally",
        "StoppedRunFinally",
        "PipelineRunPending",
    ]
    .contains(&status)
    {
        e.invalid_value(
            "spec.status",
            format!("{status} should be Cancelled, CancelledRunFinally, StoppedRunFinally or PipelineRunPending"),
        );
    }
    let bindings = arr(spec.get("workspaces"));
    workspace_bindings(e, bindings, "spec.workspaces", false);
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, b) in bindings.iter().enumerate() {
        let name = s(b, "name");
        if let Some(prev) = seen.insert(name, i) {
            e.generic(
                join(&idx("spec.workspaces", i), "name"),
                format!("workspace {name:?} provided by pipelinerun more than once, at index {prev} and {i}"),
            );
        }
    }
    for trs in arr(spec.get("taskRunSpecs")) {
        let p = key("spec.taskRunSpecs", s(trs, "pipelineTaskName"));
        if let Some(t) = trs.get("timeout").and_then(Value::as_str) {
            duration_field(e, t, &join(&p, "timeout"));
        }
    }
}
