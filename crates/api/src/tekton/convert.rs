//! Conversion between the served versions of the Tekton kinds, on JSON objects.
//!
//! `v1` is the storage version (the hub): [`to_storage`] turns a `v1beta1` or
//! `v1alpha1` object into `v1` on write, and [`convert`] turns a stored `v1` object into
//! the version a client asked for on read. The rules are Tekton's
//! (`pkg/apis/pipeline/v1beta1/*_conversion.go`, and for v1alpha1 the 0.11-era
//! `v1alpha1 → v1beta1` conversion):
//!
//! | v1beta1 | v1 |
//! | --- | --- |
//! | `steps[].resources`, `sidecars[].resources`, `stepTemplate.resources` | `computeResources` |
//! | `taskRef.bundle` / `pipelineRef.bundle` | `resolver: bundles` with params `bundle`, `name`, `kind` |
//! | `spec.resources` (PipelineResource declarations or bindings) | annotation `tekton.dev/v1beta1Resources` |
//! | `resources` of pipeline tasks and of embedded task specs | annotation `skiff.dev/v1beta1NestedResources` |
//! | TaskRun `stepOverrides` / `sidecarOverrides` | `stepSpecs` / `sidecarSpecs` (`resources` → `computeResources`) |
//! | PipelineRun `timeout` | `timeouts.pipeline` |
//! | PipelineRun `serviceAccountName`, `podTemplate` | `taskRunTemplate.serviceAccountName`, `.podTemplate` |
//! | PipelineRun `serviceAccountNames[]` (`taskName`, `serviceAccountName`) | `taskRunSpecs[]` (`pipelineTaskName`, `serviceAccountName`) |
//! | PipelineRun `taskRunSpecs[].taskServiceAccountName`, `.taskPodTemplate` | `.serviceAccountName`, `.podTemplate` |
//! | TaskRun status `taskResults`, PipelineRun status `pipelineResults` | `results` |
//! | TaskRun status `cloudEvents`, `resourcesResult` | annotation `skiff.dev/v1beta1NestedResources` |
//!
//! | v1alpha1 | v1beta1 |
//! | --- | --- |
//! | Task `inputs.params` | `params` |
//! | Task `inputs.resources`, `outputs.resources` | `resources.inputs`, `resources.outputs` |
//! | `$(inputs.params.x)` | `$(params.x)` |
//! | `$(inputs.resources.r.f)`, `$(outputs.resources.r.f)` | `$(resources.inputs.r.f)`, `$(resources.outputs.r.f)` |
//! | TaskRun `inputs.params`, `inputs.resources`, `outputs.resources` | `params`, `resources.inputs`, `resources.outputs` |
//!
//! v1 → v1alpha1 gives the v1beta1 shape (which v1alpha1 accepted since Tekton 0.11).
//!
//! Every conversion works in place, leaves fields it does not know alone and is
//! idempotent: converting an object that is already partly in the target shape (a
//! JSON merge patch of a stored object, say) only moves the fields still in the old
//! shape, and the field from the request wins over a stale one.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Map, Value};

use super::{v1, v1alpha1, v1beta1, GROUP};

/// Holds a v1beta1 object's own `spec.resources` once stored as v1 (Tekton's key).
pub const RESOURCES_ANNOTATION: &str = "tekton.dev/v1beta1Resources";
/// Holds the other v1beta1-only fields (resources of pipeline tasks and of embedded task
/// specs, TaskRun `cloudEvents`/`resourcesResult`) once stored as v1, keyed by path
/// (`spec.tasks[build]`, `spec.taskSpec`, `status.cloudEvents`, ...).
pub const NESTED_RESOURCES_ANNOTATION: &str = "skiff.dev/v1beta1NestedResources";

/// The kinds with a v1 storage version.
pub const CONVERTIBLE_KINDS: [&str; 4] = ["Task", "TaskRun", "Pipeline", "PipelineRun"];

/// Why an object cannot be converted: a field with no home in the target version.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionError {
    /// Path of the field, e.g. `spec.tasks[0].conditions`.
    pub field: String,
    pub message: String,
}

impl ConversionError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConversionError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConversionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.message, self.field)
        }
    }
}

impl std::error::Error for ConversionError {}

/// Tekton's message for a field a version has no place for.
pub const FIELD_NOT_AVAILABLE: &str = "the specified field/section is not available in v1beta1";

/// `tekton.dev/<version>` → `<version>`, for Tekton API versions.
fn tekton_version(api_version: &str) -> Option<&str> {
    api_version
        .strip_prefix(GROUP)
        .and_then(|v| v.strip_prefix('/'))
}

/// Converts `obj` (a Task, TaskRun, Pipeline or PipelineRun at any served version) to
/// `to_api_version` (`tekton.dev/v1`, `tekton.dev/v1beta1` or `tekton.dev/v1alpha1`).
/// Other kinds (PipelineResource) are returned unchanged apart from `apiVersion`.
pub fn convert(obj: &Value, to_api_version: &str) -> Result<Value, ConversionError> {
    let mut out = obj.clone();
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let from = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if from == to_api_version {
        return Ok(out);
    }
    let Some(target) = tekton_version(to_api_version) else {
        return Err(ConversionError::new(
            "apiVersion",
            format!("cannot convert to {to_api_version}: not a {GROUP} version"),
        ));
    };
    if !CONVERTIBLE_KINDS.contains(&kind.as_str()) {
        out["apiVersion"] = json!(to_api_version);
        return Ok(out);
    }
    to_storage(&mut out)?;
    match target {
        v1::VERSION => {}
        v1beta1::VERSION => v1_to_v1beta1(&mut out)?,
        v1alpha1::VERSION => v1_to_v1alpha1(&mut out)?,
        other => {
            return Err(ConversionError::new(
                "apiVersion",
                format!("cannot convert to {GROUP}/{other}: not a served version"),
            ))
        }
    }
    Ok(out)
}

/// Converts a Task, TaskRun, Pipeline or PipelineRun to the storage version (`v1`) in
/// place. Returns whether it was at another version.
pub fn to_storage(obj: &mut Value) -> Result<bool, ConversionError> {
    let from = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(tekton_version)
        .unwrap_or(v1::VERSION)
        .to_string();
    match from.as_str() {
        v1beta1::VERSION => v1beta1_to_v1(obj)?,
        v1alpha1::VERSION => {
            v1alpha1_to_v1beta1(obj)?;
            v1beta1_to_v1(obj)?;
        }
        _ => return Ok(false),
    }
    Ok(true)
}

// ---------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------

fn kind_of(obj: &Value) -> String {
    obj.get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn child<'a>(m: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Map<String, Value>> {
    m.get_mut(key).and_then(Value::as_object_mut)
}

fn list<'a>(m: &'a mut Map<String, Value>, key: &str) -> Vec<&'a mut Map<String, Value>> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .map(|a| a.iter_mut().filter_map(Value::as_object_mut).collect())
        .unwrap_or_default()
}

/// Whether a value carries nothing (absent, null, empty string/list/object).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Moves `from` to `to`; the moved value wins over one already at `to`.
fn rename(m: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = m.remove(from) {
        if !v.is_null() {
            m.insert(to.to_string(), v);
        }
    }
}

fn meta_annotations(obj: &mut Value) -> &mut Map<String, Value> {
    let root = obj.as_object_mut().expect("object");
    let meta = root.entry("metadata").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    let ann = meta
        .as_object_mut()
        .expect("object")
        .entry("annotations")
        .or_insert_with(|| json!({}));
    if !ann.is_object() {
        *ann = json!({});
    }
    ann.as_object_mut().expect("object")
}

/// The v1beta1-only values kept in annotations while an object is stored as v1, keyed
/// by path; `spec` is the object's own `spec.resources`.
#[derive(Default)]
struct Stash(BTreeMap<String, Value>);

impl Stash {
    fn put(&mut self, path: &str, v: Option<Value>) {
        if let Some(v) = v.filter(|v| !is_empty(v)) {
            self.0.insert(path.to_string(), v);
        }
    }

    fn take(&mut self, path: &str) -> Option<Value> {
        self.0.remove(path)
    }

    /// Reads (and removes) the stash from an object's annotations.
    fn load(obj: &mut Value) -> Stash {
        let mut stash = Stash::default();
        let Some(ann) = obj
            .pointer_mut("/metadata/annotations")
            .and_then(Value::as_object_mut)
        else {
            return stash;
        };
        if let Some(v) = ann.remove(RESOURCES_ANNOTATION) {
            if let Some(parsed) = v.as_str().and_then(|s| serde_json::from_str(s).ok()) {
                stash.0.insert("spec".into(), parsed);
            }
        }
        if let Some(v) = ann.remove(NESTED_RESOURCES_ANNOTATION) {
            if let Some(Value::Object(m)) = v.as_str().and_then(|s| serde_json::from_str(s).ok()) {
                stash.0.extend(m);
            }
        }
        if ann.is_empty() {
            if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("annotations");
            }
        }
        stash
    }

    /// Writes the stash into an object's annotations (nothing when empty).
    fn store(mut self, obj: &mut Value) {
        if self.0.is_empty() {
            return;
        }
        let own = self.0.remove("spec");
        let ann = meta_annotations(obj);
        if let Some(own) = own {
            ann.insert(RESOURCES_ANNOTATION.into(), json!(own.to_string()));
        }
        if !self.0.is_empty() {
            let nested = Value::Object(self.0.into_iter().collect());
            ann.insert(
                NESTED_RESOURCES_ANNOTATION.into(),
                json!(nested.to_string()),
            );
        }
    }
}

/// Which way a v1beta1 ↔ v1 conversion goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// v1beta1 → v1.
    Up,
    /// v1 → v1beta1.
    Down,
}

struct Ctx {
    dir: Dir,
    stash: Stash,
}

impl Ctx {
    /// Moves `m[key]` into the stash at `path` (Up) or back (Down).
    fn stash_field(&mut self, m: &mut Map<String, Value>, key: &str, path: &str) {
        match self.dir {
            Dir::Up => {
                let v = m.remove(key);
                self.stash.put(path, v);
            }
            Dir::Down => {
                if let Some(v) = self.stash.take(path) {
                    m.insert(key.to_string(), v);
                }
            }
        }
    }

    fn rename(&self, m: &mut Map<String, Value>, beta: &str, v1: &str) {
        match self.dir {
            Dir::Up => rename(m, beta, v1),
            Dir::Down => rename(m, v1, beta),
        }
    }
}

// ---------------------------------------------------------------------------
// v1beta1 <-> v1
// ---------------------------------------------------------------------------

/// Converts a v1beta1 Task, TaskRun, Pipeline or PipelineRun to v1 in place.
pub fn v1beta1_to_v1(obj: &mut Value) -> Result<(), ConversionError> {
    beta_v1(obj, Dir::Up)?;
    obj["apiVersion"] = json!(v1::API_VERSION);
    Ok(())
}

/// Converts a v1 Task, TaskRun, Pipeline or PipelineRun to v1beta1 in place.
pub fn v1_to_v1beta1(obj: &mut Value) -> Result<(), ConversionError> {
    beta_v1(obj, Dir::Down)?;
    obj["apiVersion"] = json!(v1beta1::API_VERSION);
    Ok(())
}

/// Converts a v1 object to the shape a v1alpha1 client reads: the v1beta1 fields,
/// which v1alpha1 accepts.
pub fn v1_to_v1alpha1(obj: &mut Value) -> Result<(), ConversionError> {
    v1_to_v1beta1(obj)?;
    obj["apiVersion"] = json!(v1alpha1::API_VERSION);
    Ok(())
}

fn beta_v1(obj: &mut Value, dir: Dir) -> Result<(), ConversionError> {
    if !obj.is_object() {
        return Err(ConversionError::new("", "object expected"));
    }
    let kind = kind_of(obj);
    let mut ctx = Ctx {
        dir,
        stash: if dir == Dir::Down {
            Stash::load(obj)
        } else {
            Stash::default()
        },
    };
    let root = obj.as_object_mut().expect("object");
    if let Some(spec) = child(root, "spec") {
        match kind.as_str() {
            "Task" => task_spec(&mut ctx, spec, "spec")?,
            "Pipeline" => pipeline_spec(&mut ctx, spec, "spec")?,
            "TaskRun" => task_run_spec(&mut ctx, spec)?,
            "PipelineRun" => pipeline_run_spec(&mut ctx, spec)?,
            _ => {}
        }
    }
    if let Some(status) = child(root, "status") {
        match kind.as_str() {
            "TaskRun" => task_run_status(&mut ctx, status, "status")?,
            "PipelineRun" => pipeline_run_status(&mut ctx, status)?,
            _ => {}
        }
    }
    if dir == Dir::Up {
        // Keep what an earlier write stashed (a merge patch carries no `resources`).
        let mut old = Stash::load(obj);
        old.0.extend(std::mem::take(&mut ctx.stash.0));
        old.store(obj);
    } else {
        // What has no v1beta1 home stays stashed.
        ctx.stash.store(obj);
    }
    Ok(())
}

/// `resources` ↔ `computeResources` of a step, sidecar or step template.
fn container(ctx: &Ctx, c: &mut Map<String, Value>) {
    ctx.rename(c, "resources", "computeResources");
}

fn task_spec(
    ctx: &mut Ctx,
    spec: &mut Map<String, Value>,
    path: &str,
) -> Result<(), ConversionError> {
    for key in ["steps", "sidecars"] {
        for c in list(spec, key) {
            container(ctx, c);
        }
    }
    if let Some(t) = child(spec, "stepTemplate") {
        container(ctx, t);
    }
    ctx.stash_field(spec, "resources", path);
    Ok(())
}

/// `bundle` ↔ the `bundles` resolver.
fn reference(ctx: &Ctx, r: &mut Map<String, Value>, default_kind: &str) {
    match ctx.dir {
        Dir::Up => {
            let bundle = r
                .remove("bundle")
                .and_then(|b| b.as_str().map(str::to_string))
                .unwrap_or_default();
            if bundle.is_empty() {
                return;
            }
            let name = r
                .remove("name")
                .and_then(|n| n.as_str().map(str::to_string))
                .unwrap_or_default();
            let kind = r
                .get("kind")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty())
                .unwrap_or(default_kind)
                .to_string();
            r.insert("resolver".into(), json!("bundles"));
            r.insert(
                "params".into(),
                json!([
                    {"name": "bundle", "value": bundle},
                    {"name": "name", "value": name},
                    {"name": "kind", "value": kind},
                ]),
            );
        }
        Dir::Down => {
            if r.get("resolver").and_then(Value::as_str) != Some("bundles") {
                return;
            }
            let param = |name: &str| {
                r.get("params")
                    .and_then(Value::as_array)
                    .and_then(|ps| {
                        ps.iter()
                            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
                    })
                    .and_then(|p| p.get("value"))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            let (Some(bundle), name) = (param("bundle"), param("name")) else {
                return;
            };
            r.remove("resolver");
            r.remove("params");
            r.insert("bundle".into(), json!(bundle));
            if let Some(name) = name {
                r.insert("name".into(), json!(name));
            }
        }
    }
}

fn pipeline_task(
    ctx: &mut Ctx,
    pt: &mut Map<String, Value>,
    path: &str,
    error_path: &str,
) -> Result<(), ConversionError> {
    if ctx.dir == Dir::Up && pt.get("conditions").is_some_and(|c| !is_empty(c)) {
        return Err(ConversionError::new(
            format!("{error_path}.conditions"),
            "conditions are not supported: use when expressions",
        ));
    }
    pt.remove("conditions");
    if let Some(r) = child(pt, "taskRef") {
        reference(ctx, r, "Task");
    }
    if let Some(ts) = child(pt, "taskSpec") {
        task_spec(ctx, ts, &format!("{path}.taskSpec"))?;
    }
    ctx.stash_field(pt, "resources", path);
    Ok(())
}

fn pipeline_spec(
    ctx: &mut Ctx,
    spec: &mut Map<String, Value>,
    path: &str,
) -> Result<(), ConversionError> {
    ctx.stash_field(spec, "resources", path);
    for key in ["tasks", "finally"] {
        for (i, pt) in list(spec, key).into_iter().enumerate() {
            let name = pt
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            pipeline_task(
                ctx,
                pt,
                &format!("{path}.{key}[{name}]"),
                &format!("{path}.{key}[{i}]"),
            )?;
        }
    }
    Ok(())
}

/// `stepOverrides` ↔ `stepSpecs` (and sidecars), with their `resources`.
fn overrides(ctx: &Ctx, m: &mut Map<String, Value>) {
    for (beta, v1) in [
        ("stepOverrides", "stepSpecs"),
        ("sidecarOverrides", "sidecarSpecs"),
    ] {
        ctx.rename(m, beta, v1);
        let key = if ctx.dir == Dir::Up { v1 } else { beta };
        for o in list(m, key) {
            container(ctx, o);
        }
    }
}

fn task_run_spec(ctx: &mut Ctx, spec: &mut Map<String, Value>) -> Result<(), ConversionError> {
    if let Some(r) = child(spec, "taskRef") {
        reference(ctx, r, "Task");
    }
    if let Some(ts) = child(spec, "taskSpec") {
        task_spec(ctx, ts, "spec.taskSpec")?;
    }
    ctx.stash_field(spec, "resources", "spec");
    overrides(ctx, spec);
    Ok(())
}

fn task_run_status(
    ctx: &mut Ctx,
    st: &mut Map<String, Value>,
    path: &str,
) -> Result<(), ConversionError> {
    ctx.rename(st, "taskResults", "results");
    ctx.stash_field(st, "cloudEvents", &format!("{path}.cloudEvents"));
    ctx.stash_field(st, "resourcesResult", &format!("{path}.resourcesResult"));
    if let Some(ts) = child(st, "taskSpec") {
        task_spec(ctx, ts, &format!("{path}.taskSpec"))?;
    }
    for (i, r) in list(st, "retriesStatus").into_iter().enumerate() {
        task_run_status(ctx, r, &format!("{path}.retriesStatus[{i}]"))?;
    }
    Ok(())
}

fn pipeline_run_spec(ctx: &mut Ctx, spec: &mut Map<String, Value>) -> Result<(), ConversionError> {
    if let Some(r) = child(spec, "pipelineRef") {
        reference(ctx, r, "Pipeline");
    }
    if let Some(ps) = child(spec, "pipelineSpec") {
        pipeline_spec(ctx, ps, "spec.pipelineSpec")?;
    }
    ctx.stash_field(spec, "resources", "spec");
    match ctx.dir {
        Dir::Up => {
            if let Some(timeout) = spec.remove("timeout").filter(|t| !t.is_null()) {
                let has_timeouts = spec.get("timeouts").is_some_and(|t| !is_empty(t));
                if has_timeouts {
                    return Err(ConversionError::new(
                        "spec.timeout, spec.timeouts",
                        "expected exactly one, got both",
                    ));
                }
                spec.insert("timeouts".into(), json!({"pipeline": timeout}));
            }
            // `serviceAccountName` and `podTemplate` move into `taskRunTemplate`.
            for key in ["serviceAccountName", "podTemplate"] {
                if let Some(v) = spec.remove(key).filter(|v| !is_empty(v)) {
                    let tmpl = spec.entry("taskRunTemplate").or_insert_with(|| json!({}));
                    if !tmpl.is_object() {
                        *tmpl = json!({});
                    }
                    tmpl[key] = v;
                }
            }
            if let Some(Value::Array(names)) = spec.remove("serviceAccountNames") {
                let specs = spec.entry("taskRunSpecs").or_insert_with(|| json!([]));
                if !specs.is_array() {
                    *specs = json!([]);
                }
                let specs = specs.as_array_mut().expect("array");
                for n in names {
                    let task = n.get("taskName").cloned().unwrap_or(json!(""));
                    let sa = n.get("serviceAccountName").cloned().unwrap_or(json!(""));
                    match specs
                        .iter_mut()
                        .find(|s| s.get("pipelineTaskName") == Some(&task))
                    {
                        Some(s) => {
                            if s.get("serviceAccountName").is_none_or(is_empty) {
                                s["serviceAccountName"] = sa;
                            }
                        }
                        None => {
                            specs.push(json!({"pipelineTaskName": task, "serviceAccountName": sa}))
                        }
                    }
                }
            }
        }
        Dir::Down => {
            if let Some(Value::Object(mut tmpl)) = spec.remove("taskRunTemplate") {
                for key in ["serviceAccountName", "podTemplate"] {
                    if let Some(v) = tmpl.remove(key).filter(|v| !is_empty(v)) {
                        spec.insert(key.into(), v);
                    }
                }
            }
        }
    }
    for trs in list(spec, "taskRunSpecs") {
        ctx.rename(trs, "taskServiceAccountName", "serviceAccountName");
        ctx.rename(trs, "taskPodTemplate", "podTemplate");
        overrides(ctx, trs);
    }
    Ok(())
}

fn pipeline_run_status(ctx: &mut Ctx, st: &mut Map<String, Value>) -> Result<(), ConversionError> {
    ctx.rename(st, "pipelineResults", "results");
    if let Some(ps) = child(st, "pipelineSpec") {
        pipeline_spec(ctx, ps, "status.pipelineSpec")?;
    }
    if ctx.dir == Dir::Up {
        // The embedded child statuses were replaced by childReferences.
        st.remove("taskRuns");
        st.remove("runs");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// v1alpha1 -> v1beta1
// ---------------------------------------------------------------------------

/// Converts a v1alpha1 Task, TaskRun, Pipeline or PipelineRun to v1beta1 in place.
pub fn v1alpha1_to_v1beta1(obj: &mut Value) -> Result<(), ConversionError> {
    if !obj.is_object() {
        return Err(ConversionError::new("", "object expected"));
    }
    let kind = kind_of(obj);
    if let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) {
        match kind.as_str() {
            "Task" => alpha_task_spec(spec, "spec")?,
            "TaskRun" => alpha_task_run_spec(spec)?,
            "Pipeline" => alpha_pipeline_spec(spec, "spec")?,
            "PipelineRun" => {
                if let Some(ps) = child(spec, "pipelineSpec") {
                    alpha_pipeline_spec(ps, "spec.pipelineSpec")?;
                }
            }
            _ => {}
        }
    }
    obj["apiVersion"] = json!(v1beta1::API_VERSION);
    Ok(())
}

/// Appends `items` to the list `m[key]`, skipping entries whose `name` is there already.
fn append_named(m: &mut Map<String, Value>, key: &str, items: Vec<Value>) {
    if items.is_empty() {
        return;
    }
    let target = m.entry(key).or_insert_with(|| json!([]));
    if !target.is_array() {
        *target = json!([]);
    }
    let target = target.as_array_mut().expect("array");
    for item in items {
        let name = item.get("name").cloned();
        if name.is_some() && target.iter().any(|t| t.get("name") == name.as_ref()) {
            continue;
        }
        target.push(item);
    }
}

fn take_list(m: &mut Map<String, Value>, key: &str) -> Vec<Value> {
    match m.remove(key) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}

/// `inputs.resources`/`outputs.resources` → `resources.inputs`/`resources.outputs`.
fn alpha_resources(spec: &mut Map<String, Value>, inputs: Vec<Value>, outputs: Vec<Value>) {
    if inputs.is_empty() && outputs.is_empty() {
        return;
    }
    let res = spec.entry("resources").or_insert_with(|| json!({}));
    if !res.is_object() {
        *res = json!({});
    }
    let res = res.as_object_mut().expect("object");
    append_named(res, "inputs", inputs);
    append_named(res, "outputs", outputs);
}

fn alpha_task_spec(spec: &mut Map<String, Value>, path: &str) -> Result<(), ConversionError> {
    let mut in_resources = Vec::new();
    let mut out_resources = Vec::new();
    if let Some(Value::Object(mut inputs)) = spec.remove("inputs") {
        let params = take_list(&mut inputs, "params");
        append_named(spec, "params", params);
        in_resources = take_list(&mut inputs, "resources");
    }
    if let Some(Value::Object(mut outputs)) = spec.remove("outputs") {
        if outputs.get("results").is_some_and(|r| !is_empty(r)) {
            return Err(ConversionError::new(
                format!("{path}.outputs.results"),
                FIELD_NOT_AVAILABLE,
            ));
        }
        out_resources = take_list(&mut outputs, "resources");
    }
    alpha_resources(spec, in_resources, out_resources);
    for v in spec.values_mut() {
        rewrite_alpha_variables(v);
    }
    Ok(())
}

fn alpha_task_run_spec(spec: &mut Map<String, Value>) -> Result<(), ConversionError> {
    let mut in_resources = Vec::new();
    let mut out_resources = Vec::new();
    if let Some(Value::Object(mut inputs)) = spec.remove("inputs") {
        let params = take_list(&mut inputs, "params");
        append_named(spec, "params", params);
        in_resources = take_list(&mut inputs, "resources");
    }
    if let Some(Value::Object(mut outputs)) = spec.remove("outputs") {
        out_resources = take_list(&mut outputs, "resources");
    }
    alpha_resources(spec, in_resources, out_resources);
    if let Some(ts) = child(spec, "taskSpec") {
        alpha_task_spec(ts, "spec.taskSpec")?;
    }
    Ok(())
}

fn alpha_pipeline_spec(spec: &mut Map<String, Value>, path: &str) -> Result<(), ConversionError> {
    for key in ["tasks", "finally"] {
        for (i, pt) in list(spec, key).into_iter().enumerate() {
            if let Some(ts) = child(pt, "taskSpec") {
                alpha_task_spec(ts, &format!("{path}.{key}[{i}].taskSpec"))?;
            }
        }
    }
    Ok(())
}

/// `$(inputs.params.x)` → `$(params.x)`, `$(inputs.resources.r.f)` →
/// `$(resources.inputs.r.f)`, `$(outputs.resources.r.f)` → `$(resources.outputs.r.f)`,
/// in every string of `v`.
pub fn rewrite_alpha_variables(v: &mut Value) {
    match v {
        Value::String(s) if s.contains("$(") => *s = rewrite_alpha_string(s),
        Value::Array(a) => a.iter_mut().for_each(rewrite_alpha_variables),
        Value::Object(m) => m.values_mut().for_each(rewrite_alpha_variables),
        _ => {}
    }
}

fn rewrite_alpha_string(s: &str) -> String {
    s.replace("$(inputs.params.", "$(params.")
        .replace("$(inputs.params[", "$(params[")
        .replace("$(inputs.resources.", "$(resources.inputs.")
        .replace("$(outputs.resources.", "$(resources.outputs.")
}

#[cfg(test)]
mod tests;
