//! PipelineResources (v1alpha1/v1beta1) turned into what v1 has: workspaces, params and
//! a clone step — pure functions for the runner.
//!
//! A Task or Pipeline written with PipelineResources is stored as v1 with its resource
//! declarations in the `tekton.dev/v1beta1Resources` annotation
//! ([`crate::tekton::convert`]); runs keep their bindings there too. Before running
//! one, the runner lowers it with the functions here, following Tekton's own migration
//! guide ("git resource → git-clone + workspace, image resource → param"):
//!
//! | Task declares | becomes |
//! | --- | --- |
//! | input `git` resource `r` (optional `targetPath` `t`) | workspace `r` mounted at `/workspace/<t or r>`; params `r-url`, `r-revision` (default `""` = the remote's default branch); a first step `git-source-r` that clones `$(params.r-url)` at `$(params.r-revision)` into the workspace (skipped when the workspace already holds a checkout, i.e. the resource came `from` an earlier task) |
//! | input `image` resource `r` | workspace `r` at `/workspace/r`; params `r-url`, `r-digest` (default `""`) |
//! | output `git`/`image` resource `r` | the input's workspace and params when an input has the same name (Tekton: the output path is the input path), else workspace `r` at `/workspace/output/r` and the same params |
//!
//! | reference | becomes |
//! | --- | --- |
//! | `$(resources.inputs.r.path)`, `$(inputs.resources.r.path)` (and `outputs`) | `$(workspaces.r.path)` |
//! | `$(resources.inputs.r.url)`, `$(outputs.resources.r.url)`, ... | `$(params.r-url)` |
//! | `.revision`, `.digest` | `$(params.r-revision)`, `$(params.r-digest)` |
//! | `.type`, `.name` | the literal type, the declared name |
//! | `$(inputs.params.x)` | `$(params.x)` (done on write already) |
//!
//! | Pipeline declares | becomes |
//! | --- | --- |
//! | resource `p` | workspace `p`; params `p-url` and `p-revision` (git) or `p-digest` (image) |
//! | task input/output `{name: r, resource: p}` | task workspace binding `r` → `p`; task params `r-url: $(params.p-url)`, ... |
//! | input `from: [t]` | `runAfter: [t]` (the clone is skipped: `t` left a checkout in `p`) |
//!
//! Runs bind the PipelineResource objects (or inline `resourceSpec`s) they name:
//! [`bind_task_run`] gives the TaskRun params (`r-url` = the resource's `url`, ...) and
//! an `emptyDir` per workspace; [`bind_pipeline_run`] gives the PipelineRun params and
//! a `volumeClaimTemplate` per git resource (shared by the tasks), `emptyDir` per image.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EmptyDirVolumeSource;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use super::convert::{self, NESTED_RESOURCES_ANNOTATION, RESOURCES_ANNOTATION};
use super::v1::{
    Param, ParamSpec, ParamValue, PipelineSpec, PipelineWorkspaceDeclaration, Step, Task, TaskSpec,
    WorkspaceBinding, WorkspaceDeclaration, WorkspacePipelineTaskBinding,
};
use super::v1alpha1::{PipelineResourceSpec, SUPPORTED_RESOURCE_TYPES};
use super::v1beta1::{
    PipelineDeclaredResource, PipelineResourceBinding, PipelineTaskResources, ResourceDeclaration,
    TaskResourceBinding, TaskResources, TaskRunResources,
};

/// The image the clone step runs unless the runner says otherwise (it needs `sh` and
/// `git`; a registry mirror can map it to a local image).
pub const DEFAULT_GIT_IMAGE: &str = "docker.io/alpine/git:latest";

/// Settings of the lowering.
#[derive(Debug, Clone, PartialEq)]
pub struct LowerOptions {
    /// The image of the `git-source-<r>` clone steps.
    pub git_image: String,
}

impl Default for LowerOptions {
    fn default() -> Self {
        LowerOptions {
            git_image: DEFAULT_GIT_IMAGE.to_string(),
        }
    }
}

/// Whether a resource is taken or produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Input,
    Output,
}

/// What one declared resource became.
#[derive(Debug, Clone, PartialEq)]
pub struct LoweredResource {
    /// The declared name.
    pub name: String,
    pub direction: Direction,
    /// `git` or `image`.
    pub type_: String,
    /// The workspace holding the resource's files.
    pub workspace: String,
    /// Resource field (`url`, `revision`, `digest`) → the param carrying it.
    pub params: BTreeMap<String, String>,
    pub optional: bool,
}

/// Why a resource could not be lowered or bound.
#[derive(Debug, Clone, PartialEq)]
pub struct LowerError {
    /// Path of the offending field, e.g. `spec.resources.inputs[0].type`.
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for LowerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.message, self.field)
    }
}

impl std::error::Error for LowerError {}

fn err(field: impl Into<String>, message: impl Into<String>) -> LowerError {
    LowerError {
        field: field.into(),
        message: message.into(),
    }
}

/// The fields a resource type carries as params.
fn fields(type_: &str) -> &'static [&'static str] {
    match type_ {
        "git" => &["url", "revision"],
        _ => &["url", "digest"],
    }
}

fn check_type(type_: &str, field: &str) -> Result<(), LowerError> {
    if SUPPORTED_RESOURCE_TYPES.contains(&type_) {
        Ok(())
    } else {
        Err(err(
            field,
            format!(
                "PipelineResource type {type_:?} is not supported by skiff: only git and image"
            ),
        ))
    }
}

/// A DNS label from a resource name, for step names.
fn label(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    out.truncate(63 - "git-source-".len());
    out.trim_matches('-').to_string()
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("serializable")
}

fn from_value<T: DeserializeOwned>(v: Value, field: &str) -> Result<T, LowerError> {
    serde_json::from_value(v).map_err(|e| err(field, format!("invalid value: {e}")))
}

// ---------------------------------------------------------------------------
// Reading what conversion stashed
// ---------------------------------------------------------------------------

fn annotation(meta: &ObjectMeta, key: &str) -> Option<Value> {
    meta.annotations
        .as_ref()?
        .get(key)
        .and_then(|s| serde_json::from_str(s).ok())
}

/// The PipelineResources a stored Task declares (from `tekton.dev/v1beta1Resources`).
pub fn task_resources(meta: &ObjectMeta) -> Option<TaskResources> {
    annotation(meta, RESOURCES_ANNOTATION).and_then(|v| serde_json::from_value(v).ok())
}

/// The PipelineResource bindings of a stored TaskRun.
pub fn task_run_resources(meta: &ObjectMeta) -> Option<TaskRunResources> {
    annotation(meta, RESOURCES_ANNOTATION).and_then(|v| serde_json::from_value(v).ok())
}

/// The PipelineResources a stored Pipeline declares.
pub fn pipeline_resources(meta: &ObjectMeta) -> Vec<PipelineDeclaredResource> {
    annotation(meta, RESOURCES_ANNOTATION)
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// The PipelineResource bindings of a stored PipelineRun.
pub fn pipeline_run_resources(meta: &ObjectMeta) -> Vec<PipelineResourceBinding> {
    annotation(meta, RESOURCES_ANNOTATION)
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

/// The resources of the pipeline tasks of a stored Pipeline (or of the embedded
/// `pipelineSpec`, with `prefix` `spec.pipelineSpec`), by pipeline task name.
pub fn pipeline_task_resources(
    meta: &ObjectMeta,
    prefix: &str,
) -> BTreeMap<String, PipelineTaskResources> {
    let Some(Value::Object(nested)) = annotation(meta, NESTED_RESOURCES_ANNOTATION) else {
        return BTreeMap::new();
    };
    let mut out = BTreeMap::new();
    for list in ["tasks", "finally"] {
        let start = format!("{prefix}.{list}[");
        for (k, v) in &nested {
            let Some(name) = k.strip_prefix(&start).and_then(|r| r.strip_suffix(']')) else {
                continue;
            };
            if let Ok(r) = serde_json::from_value(v.clone()) {
                out.insert(name.to_string(), r);
            }
        }
    }
    out
}

/// The PipelineResources an embedded task spec declares, at `path`
/// (`spec.taskSpec`, `spec.tasks[build].taskSpec`, ...).
pub fn embedded_task_resources(meta: &ObjectMeta, path: &str) -> Option<TaskResources> {
    let Some(Value::Object(nested)) = annotation(meta, NESTED_RESOURCES_ANNOTATION) else {
        return None;
    };
    nested
        .get(path)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

// ---------------------------------------------------------------------------
// Tasks
// ---------------------------------------------------------------------------

/// The clone step of input git resource `r`.
fn clone_step(r: &str, image: &str) -> Step {
    let script = format!(
        r#"#!/bin/sh
set -eu
url="$(params.{r}-url)"
revision="$(params.{r}-revision)"
dest="$(workspaces.{r}.path)"
if [ -d "$dest/.git" ]; then
  echo "git-source-{r}: $dest already holds a checkout"
  exit 0
fi
mkdir -p "$dest"
cd "$dest"
git init -q
git remote add origin "$url"
if [ -z "$revision" ]; then
  # (servers speaking git's dumb HTTP protocol cannot do shallow fetches)
  git fetch -q --depth=1 origin HEAD 2>/dev/null || git fetch -q origin HEAD
  git checkout -q FETCH_HEAD
elif git fetch -q --depth=1 origin "$revision" 2>/dev/null; then
  git checkout -q FETCH_HEAD
else
  git fetch -q origin '+refs/heads/*:refs/remotes/origin/*' '+refs/tags/*:refs/tags/*'
  git checkout -q "$revision" 2>/dev/null || git checkout -q "origin/$revision"
fi
echo "Successfully cloned $url @ `git rev-parse HEAD` in path $dest"
"#
    );
    Step {
        name: format!("git-source-{}", label(r)),
        image: image.to_string(),
        script,
        on_error: "stopAndFail".into(),
        ..Default::default()
    }
}

/// Rewrites the resource references of `v` (see the module docs); an unknown field of a
/// known resource is an error.
fn rewrite_resource_refs(v: &mut Value, lowered: &[LoweredResource]) -> Result<(), LowerError> {
    match v {
        Value::String(s) if s.contains("$(") => {
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("$(") {
                out.push_str(&rest[..start]);
                let body = &rest[start + 2..];
                let Some(end) = body.find(')') else {
                    out.push_str(&rest[start..]);
                    rest = "";
                    break;
                };
                let expr = &body[..end];
                out.push_str(&replacement(expr, lowered)?);
                rest = &body[end + 1..];
            }
            out.push_str(rest);
            *s = out;
        }
        Value::Array(a) => {
            for x in a {
                rewrite_resource_refs(x, lowered)?;
            }
        }
        Value::Object(m) => {
            for x in m.values_mut() {
                rewrite_resource_refs(x, lowered)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// The text that replaces `$(expr)`.
fn replacement(expr: &str, lowered: &[LoweredResource]) -> Result<String, LowerError> {
    let keep = || Ok(format!("$({expr})"));
    let (dir, rest) = if let Some(r) = expr.strip_prefix("resources.inputs.") {
        (Direction::Input, r)
    } else if let Some(r) = expr.strip_prefix("resources.outputs.") {
        (Direction::Output, r)
    } else {
        return keep();
    };
    let Some((name, field)) = rest.split_once('.') else {
        return keep();
    };
    let Some(r) = lowered
        .iter()
        .find(|l| l.name == name && l.direction == dir)
    else {
        return Err(err(
            format!("$({expr})"),
            format!("non-existent variable in \"$({expr})\": no such declared resource"),
        ));
    };
    match field {
        "path" => Ok(format!("$(workspaces.{}.path)", r.workspace)),
        "type" => Ok(r.type_.clone()),
        "name" => Ok(r.name.clone()),
        f => match r.params.get(f) {
            Some(p) => Ok(format!("$(params.{p})")),
            None => Err(err(
                format!("$({expr})"),
                format!(
                    "unsupported reference $({expr}): skiff supports path, url and {} of {} resources",
                    if r.type_ == "git" { "revision" } else { "digest" },
                    r.type_
                ),
            )),
        },
    }
}

/// Lowers a Task spec's PipelineResources (see the module docs): returns the v1 spec
/// that runs without them and what each resource became.
pub fn lower_task_spec(
    spec: &TaskSpec,
    resources: &TaskResources,
    opts: &LowerOptions,
) -> Result<(TaskSpec, Vec<LoweredResource>), LowerError> {
    let mut out = spec.clone();
    let mut lowered: Vec<LoweredResource> = Vec::new();
    let mut clone_steps = Vec::new();
    let all = resources
        .inputs
        .iter()
        .enumerate()
        .map(|(i, r)| (Direction::Input, i, r))
        .chain(
            resources
                .outputs
                .iter()
                .enumerate()
                .map(|(i, r)| (Direction::Output, i, r)),
        );
    for (dir, i, r) in all {
        let dir_name = if dir == Direction::Input {
            "inputs"
        } else {
            "outputs"
        };
        check_type(&r.type_, &format!("spec.resources.{dir_name}[{i}].type"))?;
        let same_input = (dir == Direction::Output)
            .then(|| {
                lowered
                    .iter()
                    .find(|l| l.direction == Direction::Input && l.name == r.name)
                    .cloned()
            })
            .flatten();
        if let Some(input) = same_input {
            if input.type_ != r.type_ {
                return Err(err(
                    format!("spec.resources.outputs[{i}].type"),
                    format!(
                        "resource {:?} is an input of type {} and an output of type {}",
                        r.name, input.type_, r.type_
                    ),
                ));
            }
            lowered.push(LoweredResource {
                direction: Direction::Output,
                optional: r.optional,
                ..input
            });
            continue;
        }
        let mount = match dir {
            Direction::Input => format!(
                "/workspace/{}",
                if r.target_path.is_empty() {
                    &r.name
                } else {
                    &r.target_path
                }
            ),
            Direction::Output => format!("/workspace/output/{}", r.name),
        };
        declare_workspace(&mut out, &r.name, &mount, r, i)?;
        let mut params = BTreeMap::new();
        for f in fields(&r.type_) {
            let pname = format!("{}-{f}", r.name);
            declare_param(&mut out, &pname, *f != "url", r)?;
            params.insert(f.to_string(), pname);
        }
        if dir == Direction::Input && r.type_ == "git" {
            clone_steps.push(clone_step(&r.name, &opts.git_image));
        }
        lowered.push(LoweredResource {
            name: r.name.clone(),
            direction: dir,
            type_: r.type_.clone(),
            workspace: r.name.clone(),
            params,
            optional: r.optional,
        });
    }
    for step in &clone_steps {
        if out.steps.iter().any(|s| s.name == step.name) {
            return Err(err(
                "spec.steps",
                format!(
                    "step name {:?} is taken by the clone step of a git resource",
                    step.name
                ),
            ));
        }
    }
    let mut v = to_value(&out);
    convert::rewrite_alpha_variables(&mut v);
    rewrite_resource_refs(&mut v, &lowered)?;
    let mut out: TaskSpec = from_value(v, "spec")?;
    out.steps.splice(0..0, clone_steps);
    Ok((out, lowered))
}

fn declare_workspace(
    spec: &mut TaskSpec,
    name: &str,
    mount: &str,
    r: &ResourceDeclaration,
    i: usize,
) -> Result<(), LowerError> {
    if spec.workspaces.iter().any(|w| w.name == name) {
        return Err(err(
            format!("spec.resources[{i}].name"),
            format!(
                "workspace {name:?} is already declared; cannot turn resource {:?} into it",
                r.name
            ),
        ));
    }
    spec.workspaces.push(WorkspaceDeclaration {
        name: name.to_string(),
        description: format!("The {} PipelineResource {:?}", r.type_, r.name),
        mount_path: mount.to_string(),
        optional: r.optional,
        ..Default::default()
    });
    Ok(())
}

fn declare_param(
    spec: &mut TaskSpec,
    name: &str,
    with_default: bool,
    r: &ResourceDeclaration,
) -> Result<(), LowerError> {
    if spec.params.iter().any(|p| p.name == name) {
        return Err(err(
            "spec.params",
            format!(
                "param {name:?} is already declared; cannot turn resource {:?} into it",
                r.name
            ),
        ));
    }
    spec.params.push(ParamSpec {
        name: name.to_string(),
        type_: "string".into(),
        description: format!("From the {} PipelineResource {:?}", r.type_, r.name),
        default: (with_default || r.optional).then(|| ParamValue::String(String::new())),
        ..Default::default()
    });
    Ok(())
}

/// A v1alpha1 (or v1beta1) Task object turned into a runnable v1 Task: converted to v1
/// (`inputs.params` → `params`, `$(inputs.params.x)` → `$(params.x)`, ...) and its
/// PipelineResources lowered.
pub fn task_to_v1(
    task: &Value,
    opts: &LowerOptions,
) -> Result<(Task, Vec<LoweredResource>), LowerError> {
    let mut obj = task.clone();
    convert::to_storage(&mut obj).map_err(|e| err(e.field, e.message))?;
    let mut task: Task = from_value(obj, "")?;
    let resources = task_resources(&task.metadata).unwrap_or_default();
    let (spec, lowered) = lower_task_spec(&task.spec, &resources, opts)?;
    task.spec = spec;
    if let Some(ann) = task.metadata.annotations.as_mut() {
        ann.remove(RESOURCES_ANNOTATION);
    }
    Ok((task, lowered))
}

/// Resolves a binding to a resource spec: inline, or the named PipelineResource.
fn resolve_binding(
    b: &PipelineResourceBinding,
    resolve: &dyn Fn(&str) -> Option<PipelineResourceSpec>,
    field: &str,
) -> Result<PipelineResourceSpec, LowerError> {
    if let Some(spec) = &b.resource_spec {
        return Ok(spec.clone());
    }
    let name = b
        .resource_ref
        .as_ref()
        .map(|r| r.name.as_str())
        .unwrap_or_default();
    if name.is_empty() {
        return Err(err(
            field,
            "expected exactly one, got neither: resourceRef, resourceSpec",
        ));
    }
    resolve(name).ok_or_else(|| {
        err(
            format!("{field}.resourceRef.name"),
            format!("PipelineResource {name:?} not found"),
        )
    })
}

/// The params a resource spec gives to `params` (field → param name).
fn resource_params(spec: &PipelineResourceSpec, params: &BTreeMap<String, String>) -> Vec<Param> {
    params
        .iter()
        .map(|(field, pname)| Param::string(pname, spec.param(field).unwrap_or_default()))
        .collect()
}

/// A TaskRun's PipelineResource bindings → the params and workspace bindings of the
/// lowered Task. `resolve` looks PipelineResources up by name in the run's namespace.
pub fn bind_task_run(
    lowered: &[LoweredResource],
    bindings: &TaskRunResources,
    resolve: &dyn Fn(&str) -> Option<PipelineResourceSpec>,
) -> Result<(Vec<Param>, Vec<WorkspaceBinding>), LowerError> {
    let mut params: Vec<Param> = Vec::new();
    let mut workspaces: Vec<WorkspaceBinding> = Vec::new();
    for r in lowered {
        let (list, dir_name): (&[TaskResourceBinding], &str) = match r.direction {
            Direction::Input => (&bindings.inputs, "inputs"),
            Direction::Output => (&bindings.outputs, "outputs"),
        };
        let found = list
            .iter()
            .enumerate()
            .find(|(_, b)| b.binding.name == r.name);
        let Some((i, b)) = found else {
            if r.optional {
                continue;
            }
            return Err(err(
                format!("spec.resources.{dir_name}"),
                format!(
                    "resource {:?} is declared by the Task but not bound",
                    r.name
                ),
            ));
        };
        let field = format!("spec.resources.{dir_name}[{i}]");
        let spec = resolve_binding(&b.binding, resolve, &field)?;
        if spec.type_ != r.type_ {
            return Err(err(
                field,
                format!(
                    "resource {:?} must be of type {}, got {}",
                    r.name, r.type_, spec.type_
                ),
            ));
        }
        for p in resource_params(&spec, &r.params) {
            if !params.iter().any(|q| q.name == p.name) {
                params.push(p);
            }
        }
        if !workspaces.iter().any(|w| w.name == r.workspace) {
            workspaces.push(WorkspaceBinding {
                name: r.workspace.clone(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Default::default()
            });
        }
    }
    Ok((params, workspaces))
}

// ---------------------------------------------------------------------------
// Pipelines
// ---------------------------------------------------------------------------

/// Lowers a Pipeline spec's PipelineResources: pipeline workspaces and params for the
/// declared resources, workspace bindings, params and `runAfter` for the tasks that use
/// them (by pipeline task name). The tasks' Tasks are lowered with
/// [`lower_task_spec`], whose param and workspace names these match.
pub fn lower_pipeline_spec(
    spec: &PipelineSpec,
    declared: &[PipelineDeclaredResource],
    task_resources: &BTreeMap<String, PipelineTaskResources>,
) -> Result<PipelineSpec, LowerError> {
    let mut out = spec.clone();
    for (i, d) in declared.iter().enumerate() {
        check_type(&d.type_, &format!("spec.resources[{i}].type"))?;
        if !out.workspaces.iter().any(|w| w.name == d.name) {
            out.workspaces.push(PipelineWorkspaceDeclaration {
                name: d.name.clone(),
                description: format!("The {} PipelineResource {:?}", d.type_, d.name),
                optional: d.optional,
            });
        }
        for f in fields(&d.type_) {
            let pname = format!("{}-{f}", d.name);
            if out.params.iter().any(|p| p.name == pname) {
                return Err(err(
                    "spec.params",
                    format!(
                        "param {pname:?} is already declared; cannot turn resource {:?} into it",
                        d.name
                    ),
                ));
            }
            out.params.push(ParamSpec {
                name: pname,
                type_: "string".into(),
                default: (*f != "url" || d.optional).then(|| ParamValue::String(String::new())),
                ..Default::default()
            });
        }
    }
    for list in [&mut out.tasks, &mut out.finally] {
        for pt in list.iter_mut() {
            let Some(res) = task_resources.get(&pt.name) else {
                continue;
            };
            let uses = res
                .inputs
                .iter()
                .map(|r| (r.name.as_str(), r.resource.as_str(), r.from.as_slice()))
                .chain(
                    res.outputs
                        .iter()
                        .map(|r| (r.name.as_str(), r.resource.as_str(), &[][..])),
                );
            for (name, resource, from) in uses {
                let Some(d) = declared.iter().find(|d| d.name == resource) else {
                    return Err(err(
                        format!("spec.tasks[{}].resources", pt.name),
                        format!("pipeline task {:?} uses resource {resource:?} which the pipeline does not declare", pt.name),
                    ));
                };
                if !pt.workspaces.iter().any(|w| w.name == name) {
                    pt.workspaces.push(WorkspacePipelineTaskBinding {
                        name: name.to_string(),
                        workspace: resource.to_string(),
                        ..Default::default()
                    });
                }
                for f in fields(&d.type_) {
                    let pname = format!("{name}-{f}");
                    if !pt.params.iter().any(|p| p.name == pname) {
                        pt.params
                            .push(Param::string(&pname, &format!("$(params.{resource}-{f})")));
                    }
                }
                for t in from {
                    if !pt.run_after.contains(t) {
                        pt.run_after.push(t.clone());
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A PipelineRun's PipelineResource bindings → the params and workspace bindings of
/// the lowered Pipeline: a `volumeClaimTemplate` per git resource (the tasks share the
/// checkout), an `emptyDir` per image resource.
pub fn bind_pipeline_run(
    declared: &[PipelineDeclaredResource],
    bindings: &[PipelineResourceBinding],
    resolve: &dyn Fn(&str) -> Option<PipelineResourceSpec>,
) -> Result<(Vec<Param>, Vec<WorkspaceBinding>), LowerError> {
    let mut params = Vec::new();
    let mut workspaces = Vec::new();
    for d in declared {
        let Some((i, b)) = bindings.iter().enumerate().find(|(_, b)| b.name == d.name) else {
            if d.optional {
                continue;
            }
            return Err(err(
                "spec.resources",
                format!(
                    "resource {:?} is declared by the Pipeline but not bound",
                    d.name
                ),
            ));
        };
        let field = format!("spec.resources[{i}]");
        let spec = resolve_binding(b, resolve, &field)?;
        if spec.type_ != d.type_ {
            return Err(err(
                field,
                format!(
                    "resource {:?} must be of type {}, got {}",
                    d.name, d.type_, spec.type_
                ),
            ));
        }
        let names: BTreeMap<String, String> = fields(&d.type_)
            .iter()
            .map(|f| (f.to_string(), format!("{}-{f}", d.name)))
            .collect();
        params.extend(resource_params(&spec, &names));
        let mut binding = WorkspaceBinding {
            name: d.name.clone(),
            ..Default::default()
        };
        if d.type_ == "git" {
            binding.volume_claim_template = Some(
                serde_json::from_value(json!({
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}}
                    }
                }))
                .expect("a valid claim"),
            );
        } else {
            binding.empty_dir = Some(EmptyDirVolumeSource::default());
        }
        workspaces.push(binding);
    }
    Ok((params, workspaces))
}

#[cfg(test)]
mod tests;
