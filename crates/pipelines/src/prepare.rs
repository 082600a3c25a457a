//! The pure part of running a TaskRun: a Task spec and a TaskRun spec in, the
//! containers to run out, and the results the steps wrote read back.
//!
//! This follows tektoncd/pipeline step by step, so a Task behaves here as it does on
//! a Tekton cluster:
//!
//! 1. **Run-time validation** (`pkg/reconciler/taskrun/taskrun.go` `prepare`, in
//!    Tekton's order): step requests against limits, params supplied against params
//!    declared (missing, wrong type, object keys), `enum`s, array indexes in range,
//!    workspace bindings against declarations, `stepSpecs`/`sidecarSpecs` naming real
//!    steps. Everything the admission webhook already checks is not checked again.
//! 2. **Substitution** (`pkg/reconciler/taskrun/resources/apply.go`), in Tekton's
//!    passes: params (run values over defaults; `$(params.x)`, `$(params["x"])`,
//!    `$(params['x'])`, the legacy `$(inputs.params.x)`, `$(params.arr[i])`,
//!    `$(params.obj.key)`, and a whole `command`/`args` element `$(params.arr[*])`
//!    expanding into several), then `$(context.*)`, then `$(results.r.path)`, then
//!    `$(steps.step-<name>.exitCode.path)`, then `$(workspaces.w.path|bound|claim|volume)`,
//!    then `$(credentials.path)`. Each pass replaces every known `$(...)` once
//!    (Go's `strings.Replacer`): a value is never re-scanned within its own pass, and
//!    an unknown reference is left as written.
//! 3. **Pod building** (`pkg/workspace/apply.go`, `pkg/apis/pipeline/v1/merge.go`,
//!    `pkg/pod/pod.go`, `pkg/pod/script.go`, `pkg/internal/computeresources/tasklevel`):
//!    workspace mounts, the `stepTemplate` merged under each step (strategic merge:
//!    step fields win, `env` merged by name, `volumeMounts` by mount path), task-level
//!    `computeResources` then `stepSpecs`/`sidecarSpecs`, scripts turned into files
//!    under [`SCRIPTS_DIR`] run as the container command, Tekton's container names.
//!
//! Tekton's random name suffixes (script files, workspace volumes) are derived here
//! from the TaskRun's uid instead, so preparing the same run twice gives the same
//! result. Nothing here adds platform environment (`HOME` is not set, as in Tekton
//! v1) or the fixed Tekton mounts ([`WORKSPACE_DIR`], [`HOME_DIR`], [`RESULTS_DIR`],
//! [`STEPS_DIR`], [`SCRIPTS_DIR`]): the runner provides those to every container.
//!
//! Not supported: Windows scripts (`#!win`), StepActions and step results
//! (`$(step.results...)`), debug breakpoints, LimitRange adjustments, and expanding a
//! whole object (`$(params.obj[*])`) in a step, which Tekton does not do either.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use crate::gofmt::{go_list, go_map};
use k8s_openapi::api::core::v1::{Container, EnvFromSource, EnvVar, ResourceRequirements, Volume};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use serde_json::Value;
use skiff_api::tekton::v1::{
    Param, ParamSpec, ParamValue, Sidecar, Step, StepTemplate, TaskResult, TaskRunResult,
    TaskRunSpec, TaskRunStepSpec, TaskSpec, WorkspaceBinding, WorkspaceDeclaration,
};
use skiff_api::tekton::{duration, subst};

// ---------------------------------------------------------------------------
// Fixed paths and limits
// ---------------------------------------------------------------------------

/// Where workspaces are mounted by default (`/workspace/<name>`); also Tekton's
/// implicit scratch volume.
pub const WORKSPACE_DIR: &str = "/workspace";
/// Where steps write results, one file per result name (`$(results.r.path)`).
pub const RESULTS_DIR: &str = "/tekton/results";
/// Tekton's shared home volume, mounted into every step.
pub const HOME_DIR: &str = "/tekton/home";
/// Where step and sidecar scripts are placed; a script step's command is a file here.
pub const SCRIPTS_DIR: &str = "/tekton/scripts";
/// Per-step state (`/tekton/steps/step-<name>/exitCode`).
pub const STEPS_DIR: &str = "/tekton/steps";
/// What `$(credentials.path)` becomes: where Tekton's credential helper writes.
pub const CREDS_DIR: &str = "/tekton/creds";
/// Prepended to a script that has no `#!` line (`pkg/pod/script.go`).
pub const SCRIPT_PREAMBLE: &str = "#!/bin/sh\nset -e\n";
/// How many bytes all results of a TaskRun may hold together: Tekton passes results
/// through the 4096-byte container termination message.
pub const DEFAULT_MAX_RESULT_SIZE: usize = 4096;

// ---------------------------------------------------------------------------
// Reasons (pkg/apis/pipeline/v1/taskrun_types.go, pkg/pod/status.go)
// ---------------------------------------------------------------------------

/// `TaskRunReasonFailedValidation`: the run failed run-time validation.
pub const REASON_VALIDATION_FAILED: &str = "TaskRunValidationFailed";
/// `TaskRunReasonInvalidParamValue`: a param value is not in its `enum`.
pub const REASON_INVALID_PARAM_VALUE: &str = "InvalidParamValue";
/// `TaskRunReasonResultLargerThanAllowedLimit`: the results are too large.
pub const REASON_RESULT_TOO_LARGE: &str = "TaskRunResultLargerThanAllowedLimit";
/// `ReasonPodCreationFailed`: the run's containers could not be built.
pub const REASON_POD_CREATION_FAILED: &str = "PodCreationFailed";
/// `TaskRunReasonFailed`: the run failed (here: its results could not be read).
pub const REASON_FAILED: &str = "Failed";

/// Tekton's `pipelineErrors.UserErrorLabel`, which prefixes the condition message of
/// failures the user caused.
const USER_ERROR: &str = "[User error] ";

// ---------------------------------------------------------------------------
// Public types
// ---------------------------------------------------------------------------

/// Identity of the run, for `$(context.*)` variables and the generated names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunContext {
    /// `$(context.taskRun.name)`.
    pub task_run_name: String,
    /// `$(context.taskRun.namespace)`.
    pub task_run_namespace: String,
    /// `$(context.taskRun.uid)`; also seeds the generated name suffixes.
    pub task_run_uid: String,
    /// `$(context.task.name)`: the referenced Task's name. For an embedded `taskSpec`
    /// Tekton uses the TaskRun's own name here (its `GetTaskData` takes the TaskRun's
    /// metadata); pass that to match it, or `""`.
    pub task_name: String,
    /// `$(context.task.retry-count)`: how many attempts came before this one
    /// (`len(status.retriesStatus)`).
    pub retry_count: u32,
}

/// A script a step or sidecar runs, to be placed at `SCRIPTS_DIR/<file_name>`
/// (executable) before the container starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFile {
    /// File name under [`SCRIPTS_DIR`], e.g. `script-0-b7x2k` (`sidecar-script-0-...`
    /// for sidecars).
    pub file_name: String,
    /// The script, with [`SCRIPT_PREAMBLE`] prepended when it has no `#!` line.
    pub contents: String,
}

/// One step or sidecar, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedContainer {
    /// The step's name as written, or `unnamed-<i>` like Tekton when it has none.
    pub name: String,
    /// The container's name: `step-<name>` / `sidecar-<name>` (Tekton's names,
    /// `step-unnamed-<i>` included, at most 63 characters).
    pub container_name: String,
    /// The image, after the `stepTemplate` merge and substitution.
    pub image: String,
    /// The container: `stepTemplate` merged in, variables substituted, compute
    /// resources overridden by the TaskRun, and for a script the command set to the
    /// script file (the args stay the step's). Its `volumeMounts` are the Task's own
    /// (they name [`PreparedTaskRun::volumes`]); workspaces are in `workspace_mounts`.
    pub container: Container,
    /// The workspaces this container mounts, by Tekton's rules (shared workspaces in
    /// every step; isolated ones only where asked for, maybe at another path).
    pub workspace_mounts: Vec<WorkspaceMount>,
    /// The script file to place, when the step has a `script`.
    pub script: Option<ScriptFile>,
    /// The step's `timeout`; `None` when unset or zero (no timeout).
    pub timeout: Option<Duration>,
    /// `onError: continue`: a failure of this step does not fail the run.
    pub on_error_continue: bool,
    /// `stdoutConfig.path`: a file the step's stdout is also written to.
    pub stdout_path: Option<String>,
    /// `stderrConfig.path`: a file the step's stderr is also written to.
    pub stderr_path: Option<String>,
}

/// One workspace mounted into one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceMount {
    /// The workspace's name (see [`PreparedTaskRun::workspaces`]).
    pub workspace: String,
    /// Where it appears in the container.
    pub mount_path: String,
    /// The binding's `subPath` (params substituted): the directory of the volume to
    /// mount; empty for its root.
    pub sub_path: String,
    /// Mounted read-only (the declaration's `readOnly`).
    pub read_only: bool,
}

/// A workspace declared by the Task (or propagated from an embedded spec's binding).
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedWorkspace {
    /// The workspace's name.
    pub name: String,
    /// Where it is mounted: its `mountPath` or `/workspace/<name>` (a step that asks
    /// for it in `workspaces:` may mount it elsewhere; see its `workspace_mounts`).
    pub mount_path: String,
    /// Mounted read-only.
    pub read_only: bool,
    /// The TaskRun's binding, params substituted; `None` only for an optional
    /// workspace the run does not bind.
    pub binding: Option<WorkspaceBinding>,
    /// The volume name Tekton would give it (`ws-xxxxx`, shared by bindings of the
    /// same PVC), what `$(workspaces.<name>.volume)` becomes; `None` when unbound.
    pub volume_name: Option<String>,
}

/// Everything needed to run a TaskRun's pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedTaskRun {
    /// The steps, in order.
    pub steps: Vec<PreparedContainer>,
    /// The sidecars, started before the steps and stopped after them.
    pub sidecars: Vec<PreparedContainer>,
    /// The workspaces, in declaration order.
    pub workspaces: Vec<PreparedWorkspace>,
    /// The results the Task declares (what [`read_results`] reads).
    pub results: Vec<TaskResult>,
    /// The Task's own volumes, substituted.
    pub volumes: Vec<Volume>,
    /// The Task spec after substitution (before the template merge and scripts), which
    /// Tekton records as the TaskRun's `status.taskSpec`.
    pub task_spec: TaskSpec,
}

/// A run that cannot start (or whose results are unusable), with Tekton's reason for
/// the `Succeeded=False` condition and its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct PrepareError {
    /// The condition's reason, one of the `REASON_*` constants.
    pub reason: String,
    /// The condition's message (Tekton's wording, `[User error] ` prefix included).
    pub message: String,
}

impl PrepareError {
    fn new(reason: &str, message: impl Into<String>) -> PrepareError {
        PrepareError {
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    /// A failure Tekton wraps with `WrapUserError`.
    fn user(reason: &str, message: impl std::fmt::Display) -> PrepareError {
        PrepareError::new(reason, format!("{USER_ERROR}{message}"))
    }
}

// ---------------------------------------------------------------------------
// prepare
// ---------------------------------------------------------------------------

/// Turns a TaskRun and its (resolved, defaulted) Task spec into the containers to run.
///
/// `task` is the Task's spec, or `run.task_spec` for an embedded one; `run.task_spec`
/// being set is how an embedded spec is recognised (it may use workspaces it does not
/// declare). A binding with only a `volumeClaimTemplate` should be turned into a
/// `persistentVolumeClaim` binding by the caller first, as Tekton's reconciler does,
/// for `$(workspaces.w.claim)` to name the claim.
pub fn prepare(
    task: &TaskSpec,
    run: &TaskRunSpec,
    ctx: &RunContext,
) -> Result<PreparedTaskRun, PrepareError> {
    validate_request_resources(task)?;
    validate_params(task, &run.params, ctx)?;
    validate_enums(task, &run.params)?;
    validate_array_indexes(task, &run.params)?;
    let embedded = run.task_spec.is_some();
    validate_bindings(&task.workspaces, &run.workspaces, embedded)?;
    validate_overrides(task, run)?;

    // resources.ApplyParametersToWorkspaceBindings, workspace.CreateVolumes.
    let params = param_replacements(task, &run.params);
    let bindings: Vec<WorkspaceBinding> = run
        .workspaces
        .iter()
        .map(|b| binding_with_params(b, &params))
        .collect();
    let volume_names = workspace_volume_names(&bindings, ctx);

    // applyParamsContextsResultsAndWorkspaces, then ApplyCredentialsPath.
    let mut spec = task.clone();
    apply_spec(&mut spec, &params);
    apply_spec(&mut spec, &Replacements::strings(context_replacements(ctx)));
    let results = Replacements::strings(result_replacements(&spec));
    apply_spec(&mut spec, &results);
    let exit_codes = Replacements::strings(exit_code_replacements(&spec));
    apply_spec(&mut spec, &exit_codes);
    for b in &bindings {
        if !spec.workspaces.iter().any(|w| w.name == b.name) {
            spec.workspaces.push(WorkspaceDeclaration {
                name: b.name.clone(),
                ..Default::default()
            });
        }
    }
    apply_workspaces(&mut spec, &bindings, &volume_names);
    apply_spec(
        &mut spec,
        &Replacements::strings(HashMap::from([(
            "credentials.path".to_string(),
            CREDS_DIR.to_string(),
        )])),
    );

    build(spec, run, &bindings, &volume_names, ctx)
}

/// The pod-building half: workspace mounts, template merge, resources, scripts, names.
fn build(
    spec: TaskSpec,
    run: &TaskRunSpec,
    bindings: &[WorkspaceBinding],
    volume_names: &HashMap<String, String>,
    ctx: &RunContext,
) -> Result<PreparedTaskRun, PrepareError> {
    let steps = &spec.steps;
    let sidecars = &spec.sidecars;
    let (step_ws, sidecar_ws) = workspace_mounts(&spec, bindings);

    // MergeStepsWithStepTemplate.
    for (i, s) in steps.iter().enumerate() {
        if !s.script.is_empty() && !s.command.is_empty() {
            return Err(PrepareError::new(
                REASON_VALIDATION_FAILED,
                format!(
                    "step {:?}: script cannot be used with command",
                    step_name(&s.name, i)
                ),
            ));
        }
    }
    let template_container = spec.step_template.as_ref().map(template_container);
    let mut containers: Vec<Container> = steps
        .iter()
        .map(|s| {
            let c = step_container(s);
            match &template_container {
                Some(t) => merge_with_template(t, c, &s.env),
                None => c,
            }
        })
        .collect();
    apply_task_level_resources(&mut containers, run.compute_resources.as_ref());
    let step_names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    apply_resource_overrides(&mut containers, &step_names, &run.step_specs);

    let mut prepared_steps = Vec::with_capacity(steps.len());
    for (i, ((step, mut c), workspace_mounts)) in
        steps.iter().zip(containers).zip(step_ws).enumerate()
    {
        let name = step_name(&step.name, i);
        let script = convert_script(&step.script, "script", i, &name, ctx, &mut c)?;
        let container_name = step_container_name(&step.name, i);
        c.name = container_name.clone();
        let timeout = match &step.timeout {
            None => None,
            Some(t) => parse_timeout(t, &name)?,
        };
        let on_error_continue = match step.on_error.as_str() {
            "continue" => true,
            "" | "stopAndFail" => false,
            other => {
                return Err(PrepareError::new(
                    REASON_VALIDATION_FAILED,
                    format!(
                        "step {name:?}: invalid value: \"{other}\" (Task step onError must be either \"continue\" or \"stopAndFail\")"
                    ),
                ))
            }
        };
        prepared_steps.push(PreparedContainer {
            name,
            container_name,
            image: c.image.clone().unwrap_or_default(),
            container: c,
            workspace_mounts,
            script,
            timeout,
            on_error_continue,
            stdout_path: step.stdout_config.as_ref().and_then(|o| opt_str(&o.path)),
            stderr_path: step.stderr_config.as_ref().and_then(|o| opt_str(&o.path)),
        });
    }

    let mut sidecar_containers: Vec<Container> = sidecars.iter().map(sidecar_container).collect();
    let sidecar_names: Vec<&str> = sidecars.iter().map(|s| s.name.as_str()).collect();
    apply_resource_overrides(&mut sidecar_containers, &sidecar_names, &run.sidecar_specs);
    let mut prepared_sidecars = Vec::with_capacity(sidecars.len());
    for (i, ((sc, mut c), workspace_mounts)) in sidecars
        .iter()
        .zip(sidecar_containers)
        .zip(sidecar_ws)
        .enumerate()
    {
        let name = step_name(&sc.name, i);
        let script = convert_script(&sc.script, "sidecar-script", i, &name, ctx, &mut c)?;
        let container_name = sidecar_container_name(&sc.name, i);
        c.name = container_name.clone();
        prepared_sidecars.push(PreparedContainer {
            name,
            container_name,
            image: c.image.clone().unwrap_or_default(),
            container: c,
            workspace_mounts,
            script,
            timeout: None,
            on_error_continue: false,
            stdout_path: None,
            stderr_path: None,
        });
    }

    let workspaces = spec
        .workspaces
        .iter()
        .map(|d| PreparedWorkspace {
            name: d.name.clone(),
            mount_path: d.effective_mount_path(),
            read_only: d.read_only,
            binding: bindings.iter().find(|b| b.name == d.name).cloned(),
            volume_name: volume_names.get(&d.name).cloned(),
        })
        .collect();

    Ok(PreparedTaskRun {
        steps: prepared_steps,
        sidecars: prepared_sidecars,
        workspaces,
        results: spec.results.clone(),
        volumes: spec.volumes.clone(),
        task_spec: spec,
    })
}

/// A step's container name (`pod.StepName`): `step-<name>`, or `step-unnamed-<i>` for
/// the unnamed step at index `i`, at most 63 characters.
pub fn step_container_name(name: &str, i: usize) -> String {
    restrict_length(&format!("step-{}", step_name(name, i)))
}

/// A sidecar's container name: `sidecar-<name>`, or `sidecar-unnamed-<i>`.
pub fn sidecar_container_name(name: &str, i: usize) -> String {
    restrict_length(&format!("sidecar-{}", step_name(name, i)))
}

/// `workspace.Apply`: the workspaces each step and each sidecar mount. A workspace
/// no step or sidecar names in its `workspaces:` is shared: every step mounts it, and
/// every sidecar without another mount at that path. One that some container names
/// is isolated: only those containers mount it, at their own `mountPath` if given.
fn workspace_mounts(
    spec: &TaskSpec,
    bindings: &[WorkspaceBinding],
) -> (Vec<Vec<WorkspaceMount>>, Vec<Vec<WorkspaceMount>>) {
    let mut steps = vec![Vec::new(); spec.steps.len()];
    let mut sidecars = vec![Vec::new(); spec.sidecars.len()];
    let isolated: HashSet<&str> = spec
        .steps
        .iter()
        .flat_map(|s| &s.workspaces)
        .chain(spec.sidecars.iter().flat_map(|s| &s.workspaces))
        .map(|u| u.name.as_str())
        .collect();
    for b in bindings {
        let Some(decl) = spec.workspaces.iter().find(|w| w.name == b.name) else {
            continue;
        };
        let mount = WorkspaceMount {
            workspace: decl.name.clone(),
            mount_path: decl.effective_mount_path(),
            sub_path: b.sub_path.clone(),
            read_only: decl.read_only,
        };
        if isolated.contains(decl.name.as_str()) {
            let at = |path: &str| {
                let mut m = mount.clone();
                if !path.is_empty() {
                    m.mount_path = path.to_string();
                }
                m
            };
            for (i, s) in spec.steps.iter().enumerate() {
                if let Some(u) = s.workspaces.iter().find(|u| u.name == decl.name) {
                    steps[i].push(at(&u.mount_path));
                }
            }
            for (i, s) in spec.sidecars.iter().enumerate() {
                if let Some(u) = s.workspaces.iter().find(|u| u.name == decl.name) {
                    sidecars[i].push(at(&u.mount_path));
                }
            }
        } else {
            for m in &mut steps {
                m.push(mount.clone());
            }
            for (i, s) in spec.sidecars.iter().enumerate() {
                let taken = s
                    .volume_mounts
                    .iter()
                    .any(|v| v.mount_path == mount.mount_path)
                    || sidecars[i].iter().any(|w| w.mount_path == mount.mount_path);
                if !taken {
                    sidecars[i].push(mount.clone());
                }
            }
        }
    }
    (steps, sidecars)
}

/// The name Tekton shows for a step or sidecar: its own, or `unnamed-<i>`.
fn step_name(name: &str, i: usize) -> String {
    if name.is_empty() {
        format!("unnamed-{i}")
    } else {
        name.to_string()
    }
}

fn parse_timeout(t: &str, step: &str) -> Result<Option<Duration>, PrepareError> {
    match duration::parse(t) {
        Ok(n) if n > 0 => Ok(Some(Duration::from_nanos(
            u64::try_from(n).unwrap_or(u64::MAX),
        ))),
        Ok(0) => Ok(None),
        Ok(_) => Err(PrepareError::new(
            REASON_VALIDATION_FAILED,
            format!("step {step:?}: invalid timeout {t:?} (negative timeout)"),
        )),
        Err(e) => Err(PrepareError::new(
            REASON_VALIDATION_FAILED,
            format!("step {step:?}: invalid timeout {t:?}: {e}"),
        )),
    }
}

/// `convertListOfSteps`: a script becomes a file and the container's command.
fn convert_script(
    script: &str,
    prefix: &str,
    i: usize,
    name: &str,
    ctx: &RunContext,
    c: &mut Container,
) -> Result<Option<ScriptFile>, PrepareError> {
    if script.is_empty() {
        return Ok(None);
    }
    let cleaned = script.trim();
    if cleaned.starts_with("#!win") {
        return Err(PrepareError::new(
            REASON_POD_CREATION_FAILED,
            format!("{name:?}: Windows scripts (#!win) are not supported"),
        ));
    }
    let contents = if cleaned.starts_with("#!") {
        script.to_string()
    } else {
        format!("{SCRIPT_PREAMBLE}{script}")
    };
    let base = format!("{prefix}-{i}");
    let file_name = restrict_length_with_suffix(&base, &format!("{}/{base}", ctx.task_run_uid));
    c.command = Some(vec![format!("{SCRIPTS_DIR}/{file_name}")]);
    Ok(Some(ScriptFile {
        file_name,
        contents,
    }))
}

// ---------------------------------------------------------------------------
// Run-time validation
// ---------------------------------------------------------------------------

/// The declared type of a param, as Tekton's defaulting would set it.
fn param_type(p: &ParamSpec) -> &str {
    if !p.type_.is_empty() {
        return &p.type_;
    }
    if p.properties.is_some() {
        return "object";
    }
    match &p.default {
        Some(ParamValue::Array(_)) => "array",
        Some(ParamValue::Object(_)) => "object",
        _ => "string",
    }
}

/// `ValidateResolvedTask`: every param without a default has a value, values have the
/// declared types, object params have all their keys.
fn validate_params(
    task: &TaskSpec,
    params: &[Param],
    ctx: &RunContext,
) -> Result<(), PrepareError> {
    if task.params.is_empty() {
        return Ok(());
    }
    let task_name = if ctx.task_name.is_empty() {
        &ctx.task_run_name
    } else {
        &ctx.task_name
    };
    let fail = |msg: String| {
        PrepareError::user(
            REASON_VALIDATION_FAILED,
            format!("invalid input params for task {task_name}: {msg}"),
        )
    };
    let provided: HashSet<&str> = params.iter().map(|p| p.name.as_str()).collect();
    let missing: Vec<&str> = task
        .params
        .iter()
        .filter(|p| !provided.contains(p.name.as_str()) && p.default.is_none())
        .map(|p| p.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(fail(format!(
            "missing values for these params which have no default values: {}",
            go_list(&missing)
        )));
    }
    let mut wrong = Vec::new();
    for p in params {
        let Some(spec) = task.params.iter().find(|s| s.name == p.name) else {
            continue; // Extra params are allowed.
        };
        let want = param_type(spec);
        let got = p.value.type_name();
        // A string that is a reference (e.g. to an array result) may fill an array or
        // object param (Tekton issue #4879).
        if let ParamValue::String(s) = &p.value {
            if want != "string" && !subst::expressions(s).is_empty() {
                continue;
            }
        }
        if got != want {
            wrong.push(p.name.as_str());
        }
    }
    if !wrong.is_empty() {
        return Err(fail(format!(
            "param types don't match the user-specified type: {}",
            go_list(&wrong)
        )));
    }
    // MissingKeysObjectParamNames: the keys in `properties` must come from the
    // default or the run's value.
    let mut needed: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut given: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for spec in &task.params {
        if param_type(spec) != "object" {
            continue;
        }
        if let Some(props) = &spec.properties {
            needed.insert(&spec.name, props.keys().map(String::as_str).collect());
        }
        if let Some(ParamValue::Object(d)) = &spec.default {
            given
                .entry(&spec.name)
                .or_default()
                .extend(d.keys().map(String::as_str));
        }
    }
    for p in params {
        if let ParamValue::Object(o) = &p.value {
            given
                .entry(&p.name)
                .or_default()
                .extend(o.keys().map(String::as_str));
        }
    }
    let mut missing_keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, keys) in &given {
        let Some(need) = needed.get(name) else {
            continue;
        };
        let absent: Vec<String> = need
            .iter()
            .filter(|k| !keys.contains(*k))
            .map(|k| k.to_string())
            .collect();
        if !absent.is_empty() {
            missing_keys.insert(name.to_string(), absent);
        }
    }
    if !missing_keys.is_empty() {
        return Err(fail(format!(
            "missing keys for these params which are required in ParamSpec's properties {}",
            go_map(&missing_keys)
        )));
    }
    Ok(())
}

/// `ValidateEnumParam`: a non-empty string the run gives must be in the param's `enum`.
/// (Tekton gates this behind `enable-param-enum`; skiff always checks. Defaults were
/// checked by the webhook.)
fn validate_enums(task: &TaskSpec, params: &[Param]) -> Result<(), PrepareError> {
    for p in params {
        let ParamValue::String(v) = &p.value else {
            continue;
        };
        if v.is_empty() {
            continue;
        }
        let Some(spec) = task
            .params
            .iter()
            .find(|s| s.name == p.name && !s.enum_.is_empty())
        else {
            continue;
        };
        if !spec.enum_.contains(v) {
            return Err(PrepareError::user(
                REASON_INVALID_PARAM_VALUE,
                format!("param `{}` value: {v} is not in the enum list", p.name),
            ));
        }
    }
    Ok(())
}

/// Calls `f` on every string inside `v`.
fn walk_strings(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::String(s) => f(s),
        Value::Array(a) => a.iter().for_each(|x| walk_strings(x, f)),
        Value::Object(m) => m.values().for_each(|x| walk_strings(x, f)),
        _ => {}
    }
}

/// `ValidateParamArrayIndex`: `$(params.arr[i])` must be within the array the run
/// (or the default) gives.
fn validate_array_indexes(task: &TaskSpec, params: &[Param]) -> Result<(), PrepareError> {
    let arrays: HashSet<&str> = task
        .params
        .iter()
        .filter(|p| param_type(p) == "array")
        .map(|p| p.name.as_str())
        .collect();
    if arrays.is_empty() {
        return Ok(());
    }
    let mut lengths: HashMap<&str, usize> = HashMap::new();
    for p in &task.params {
        if let Some(ParamValue::Array(a)) = &p.default {
            lengths.insert(&p.name, a.len());
        }
    }
    for p in params {
        if let ParamValue::Array(a) = &p.value {
            lengths.insert(&p.name, a.len());
        }
    }
    let mut out_of_bounds = BTreeSet::new();
    let mut check = |s: &str| {
        for r in subst::refs(s, "params") {
            let Some(idx) = r.index.as_deref().and_then(|i| i.parse::<usize>().ok()) else {
                continue;
            };
            if !arrays.contains(r.name.as_str()) {
                continue;
            }
            if let Some(len) = lengths.get(r.name.as_str()) {
                if idx >= *len {
                    out_of_bounds.insert(format!("$({})", r.expr));
                }
            }
        }
    };
    for part in [
        serde_json::to_value(&task.steps),
        serde_json::to_value(&task.step_template),
        serde_json::to_value(&task.sidecars),
        serde_json::to_value(&task.volumes),
    ]
    .into_iter()
    .flatten()
    {
        walk_strings(&part, &mut check);
    }
    if out_of_bounds.is_empty() {
        return Ok(());
    }
    let refs: Vec<String> = out_of_bounds.into_iter().collect();
    Err(PrepareError::new(
        REASON_VALIDATION_FAILED,
        format!("non-existent param references:{}", go_list(&refs)),
    ))
}

/// `workspace.ValidateBindings`: required workspaces are bound, and bindings match a
/// declaration (an embedded spec declares every workspace it is bound).
fn validate_bindings(
    decls: &[WorkspaceDeclaration],
    binds: &[WorkspaceBinding],
    embedded: bool,
) -> Result<(), PrepareError> {
    let bound: HashSet<&str> = binds.iter().map(|b| b.name.as_str()).collect();
    for d in decls {
        if !d.optional && !bound.contains(d.name.as_str()) {
            return Err(PrepareError::user(
                REASON_VALIDATION_FAILED,
                format!(
                    "declared workspace {:?} is required but has not been bound",
                    d.name
                ),
            ));
        }
    }
    if !embedded {
        for b in binds {
            if !decls.iter().any(|d| d.name == b.name) {
                return Err(PrepareError::user(
                    REASON_VALIDATION_FAILED,
                    format!(
                        "workspace binding {:?} does not match any declared workspace",
                        b.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `validateOverrides`: `stepSpecs` and `sidecarSpecs` name existing containers.
fn validate_overrides(task: &TaskSpec, run: &TaskRunSpec) -> Result<(), PrepareError> {
    let mut errs = Vec::new();
    for o in &run.step_specs {
        if !task.steps.iter().any(|s| s.name == o.name) {
            errs.push(format!("invalid StepOverride: No Step named {}", o.name));
        }
    }
    for o in &run.sidecar_specs {
        if !task.sidecars.iter().any(|s| s.name == o.name) {
            errs.push(format!(
                "invalid SidecarOverride: No Sidecar named {}",
                o.name
            ));
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(PrepareError::user(
            REASON_VALIDATION_FAILED,
            errs.join("; "),
        ))
    }
}

/// `validateTaskSpecRequestResources`: a step's request is at most its limit (or the
/// step template's limit when the step has none for that resource).
fn validate_request_resources(task: &TaskSpec) -> Result<(), PrepareError> {
    let template_limits = task
        .step_template
        .as_ref()
        .and_then(|t| t.compute_resources.as_ref())
        .and_then(|r| r.limits.as_ref());
    for step in &task.steps {
        let Some(res) = &step.compute_resources else {
            continue;
        };
        for (k, req) in res.requests.iter().flatten() {
            let limit = res
                .limits
                .as_ref()
                .and_then(|l| l.get(k))
                .or_else(|| template_limits.and_then(|l| l.get(k)));
            let Some(limit) = limit else {
                continue;
            };
            if let (Some(r), Some(l)) = (parse_quantity(&req.0), parse_quantity(&limit.0)) {
                if l.0 < r.0 {
                    return Err(PrepareError::user(
                        REASON_VALIDATION_FAILED,
                        format!(
                            "invalid request resource value: {} must be less or equal to limit {}",
                            format_quantity(r.0, r.1),
                            format_quantity(l.0, l.1)
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Substitution
// ---------------------------------------------------------------------------

/// Tekton's `stringReplacements` and `arrayReplacements`, keyed by the expression
/// inside `$(...)`.
#[derive(Debug, Default)]
struct Replacements {
    strings: HashMap<String, String>,
    arrays: HashMap<String, Vec<String>>,
}

impl Replacements {
    fn strings(strings: HashMap<String, String>) -> Replacements {
        Replacements {
            strings,
            arrays: HashMap::new(),
        }
    }

    /// `substitution.ApplyReplacements`: every known `$(key)` replaced in one pass.
    fn apply(&self, s: &str) -> String {
        if self.strings.is_empty() || !s.contains("$(") {
            return s.to_string();
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(start) = rest.find("$(") {
            out.push_str(&rest[..start]);
            let body = &rest[start + 2..];
            // Keys never contain ')', so the first one closes the only candidate.
            if let Some(value) = body.find(')').and_then(|end| {
                self.strings
                    .get(&body[..end])
                    .map(|v| (v, &body[end + 1..]))
            }) {
                out.push_str(value.0);
                rest = value.1;
            } else {
                out.push('$');
                rest = &rest[start + 1..];
            }
        }
        out.push_str(rest);
        out
    }

    fn apply_mut(&self, s: &mut String) {
        if s.contains("$(") {
            *s = self.apply(s);
        }
    }

    fn apply_opt(&self, s: &mut Option<String>) {
        if let Some(s) = s {
            self.apply_mut(s);
        }
    }

    /// `substitution.ApplyArrayReplacements` over a list: an element that is exactly
    /// `$(arr)` or `$(arr[*])` for an array becomes the array's items.
    fn apply_list(&self, items: &mut Vec<String>) {
        if items.iter().all(|s| !s.contains("$(")) {
            return;
        }
        let mut out = Vec::with_capacity(items.len());
        for s in items.iter() {
            let whole = s
                .strip_prefix("$(")
                .and_then(|r| r.strip_suffix(')'))
                .map(|k| k.strip_suffix("[*]").unwrap_or(k))
                .and_then(|k| self.arrays.get(k));
            match whole {
                Some(values) => out.extend(values.iter().cloned()),
                None => out.push(self.apply(s)),
            }
        }
        *items = out;
    }
}

/// The ways to name param `name`: `params.%s`, `params[%q]`, `params['%s']`,
/// `inputs.params.%s`.
fn param_keys(name: &str) -> [String; 4] {
    [
        format!("params.{name}"),
        format!("params[\"{name}\"]"),
        format!("params['{name}']"),
        format!("inputs.params.{name}"),
    ]
}

fn add_param(r: &mut Replacements, name: &str, value: &ParamValue) {
    match value {
        ParamValue::String(s) => {
            for k in param_keys(name) {
                r.strings.insert(k, s.clone());
            }
        }
        ParamValue::Array(a) => {
            for k in param_keys(name) {
                for (i, v) in a.iter().enumerate() {
                    r.strings.insert(format!("{k}[{i}]"), v.clone());
                }
                r.arrays.insert(k, a.clone());
            }
        }
        ParamValue::Object(o) => {
            for (key, v) in o {
                r.strings.insert(format!("params.{name}.{key}"), v.clone());
            }
        }
    }
}

/// `getTaskParameters`: the Task's defaults, then every param the run gives (declared
/// or not), object keys merged one by one.
fn param_replacements(task: &TaskSpec, params: &[Param]) -> Replacements {
    let mut r = Replacements::default();
    for p in &task.params {
        if let Some(d) = &p.default {
            add_param(&mut r, &p.name, d);
        }
    }
    for p in params {
        add_param(&mut r, &p.name, &p.value);
    }
    r
}

fn context_replacements(ctx: &RunContext) -> HashMap<String, String> {
    HashMap::from([
        ("context.taskRun.name".into(), ctx.task_run_name.clone()),
        ("context.task.name".into(), ctx.task_name.clone()),
        (
            "context.taskRun.namespace".into(),
            ctx.task_run_namespace.clone(),
        ),
        ("context.taskRun.uid".into(), ctx.task_run_uid.clone()),
        (
            "context.task.retry-count".into(),
            ctx.retry_count.to_string(),
        ),
    ])
}

fn result_replacements(spec: &TaskSpec) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for r in &spec.results {
        let path = format!("{RESULTS_DIR}/{}", r.name);
        for k in [
            format!("results.{}.path", r.name),
            format!("results[\"{}\"].path", r.name),
            format!("results['{}'].path", r.name),
        ] {
            m.insert(k, path.clone());
        }
    }
    m
}

/// `ApplyStepExitCodePath`: `$(steps.step-<name>.exitCode.path)`.
fn exit_code_replacements(spec: &TaskSpec) -> HashMap<String, String> {
    spec.steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let c = format!("step-{}", step_name(&s.name, i));
            (
                format!("steps.{c}.exitCode.path"),
                format!("{STEPS_DIR}/{c}/exitCode"),
            )
        })
        .collect()
}

/// `ApplyWorkspaces`: `bound`, `path` (a step's own `workspaces[].mountPath` wins for
/// that step), `volume` and `claim`.
fn apply_workspaces(
    spec: &mut TaskSpec,
    bindings: &[WorkspaceBinding],
    volume_names: &HashMap<String, String>,
) {
    let bound: HashSet<&str> = bindings.iter().map(|b| b.name.as_str()).collect();
    let mut strings = HashMap::new();
    for d in spec.workspaces.clone() {
        let prefix = format!("workspaces.{}.", d.name);
        if d.optional && !bound.contains(d.name.as_str()) {
            strings.insert(format!("{prefix}bound"), "false".to_string());
            strings.insert(format!("{prefix}path"), String::new());
            continue;
        }
        strings.insert(format!("{prefix}bound"), "true".to_string());
        // applyWorkspaceMountPath.
        let var = format!("{prefix}path");
        let single =
            |path: &str| Replacements::strings(HashMap::from([(var.clone(), path.to_string())]));
        for s in &mut spec.steps {
            for u in s.workspaces.clone() {
                if u.name == d.name && !u.mount_path.is_empty() {
                    apply_step(s, &single(&u.mount_path));
                }
            }
        }
        for s in &mut spec.sidecars {
            for u in s.workspaces.clone() {
                if u.name == d.name && !u.mount_path.is_empty() {
                    apply_sidecar(s, &single(&u.mount_path));
                }
            }
        }
        apply_spec(spec, &single(&d.effective_mount_path()));
    }
    for (name, vol) in volume_names {
        strings.insert(format!("workspaces.{name}.volume"), vol.clone());
    }
    for b in bindings {
        let claim = b
            .persistent_volume_claim
            .as_ref()
            .map(|c| c.claim_name.clone())
            .unwrap_or_default();
        strings.insert(format!("workspaces.{}.claim", b.name), claim);
    }
    apply_spec(spec, &Replacements::strings(strings));
}

/// `ApplyParametersToWorkspaceBindings`: params (not context) in the names a binding
/// refers to.
fn binding_with_params(b: &WorkspaceBinding, r: &Replacements) -> WorkspaceBinding {
    let mut b = b.clone();
    if let Some(pvc) = &mut b.persistent_volume_claim {
        r.apply_mut(&mut pvc.claim_name);
    }
    r.apply_mut(&mut b.sub_path);
    if let Some(cm) = &mut b.config_map {
        r.apply_mut(&mut cm.name);
    }
    if let Some(s) = &mut b.secret {
        r.apply_opt(&mut s.secret_name);
    }
    if let Some(csi) = &mut b.csi {
        r.apply_mut(&mut csi.driver);
        if let Some(s) = &mut csi.node_publish_secret_ref {
            r.apply_mut(&mut s.name);
        }
    }
    if let Some(p) = &mut b.projected {
        for s in p.sources.iter_mut().flatten() {
            if let Some(cm) = &mut s.config_map {
                r.apply_mut(&mut cm.name);
            }
            if let Some(sec) = &mut s.secret {
                r.apply_mut(&mut sec.name);
            }
        }
    }
    b
}

/// `workspace.CreateVolumes`: a volume name per binding (`ws-xxxxx`); bindings of the
/// same PVC share one.
fn workspace_volume_names(
    bindings: &[WorkspaceBinding],
    ctx: &RunContext,
) -> HashMap<String, String> {
    let mut by_claim: HashMap<&str, String> = HashMap::new();
    let mut out = HashMap::new();
    for b in bindings {
        let fresh =
            || restrict_length_with_suffix("ws", &format!("{}/ws/{}", ctx.task_run_uid, b.name));
        let name = match &b.persistent_volume_claim {
            Some(pvc) => by_claim
                .entry(pvc.claim_name.as_str())
                .or_insert_with(fresh)
                .clone(),
            None => fresh(),
        };
        out.insert(b.name.clone(), name);
    }
    out
}

/// `ApplyReplacements` on a whole Task spec.
fn apply_spec(spec: &mut TaskSpec, r: &Replacements) {
    for s in &mut spec.steps {
        apply_step(s, r);
    }
    if let Some(t) = &mut spec.step_template {
        apply_template(t, r);
    }
    for v in &mut spec.volumes {
        apply_volume(v, r);
    }
    for w in &mut spec.workspaces {
        r.apply_mut(&mut w.mount_path);
    }
    for s in &mut spec.sidecars {
        apply_sidecar(s, r);
    }
}

/// `applyContainerReplacements` on the fields steps, templates and sidecars share.
macro_rules! apply_container_fields {
    ($c:expr, $r:expr) => {{
        let (c, r) = ($c, $r);
        r.apply_mut(&mut c.image);
        r.apply_mut(&mut c.image_pull_policy);
        r.apply_list(&mut c.args);
        for e in &mut c.env {
            apply_env(e, r);
        }
        for e in &mut c.env_from {
            apply_env_from(e, r);
        }
        r.apply_mut(&mut c.working_dir);
        r.apply_list(&mut c.command);
        for vm in &mut c.volume_mounts {
            r.apply_mut(&mut vm.name);
            r.apply_mut(&mut vm.mount_path);
            r.apply_opt(&mut vm.sub_path);
        }
        if let Some(res) = &mut c.compute_resources {
            apply_resources(res, r);
        }
    }};
}

fn apply_step(s: &mut Step, r: &Replacements) {
    r.apply_mut(&mut s.script);
    r.apply_mut(&mut s.on_error);
    if let Some(o) = &mut s.stdout_config {
        r.apply_mut(&mut o.path);
    }
    if let Some(o) = &mut s.stderr_config {
        r.apply_mut(&mut o.path);
    }
    apply_container_fields!(s, r);
}

fn apply_template(t: &mut StepTemplate, r: &Replacements) {
    apply_container_fields!(t, r);
}

fn apply_sidecar(s: &mut Sidecar, r: &Replacements) {
    r.apply_mut(&mut s.script);
    apply_container_fields!(s, r);
}

fn apply_env(e: &mut EnvVar, r: &Replacements) {
    r.apply_opt(&mut e.value);
    if let Some(from) = &mut e.value_from {
        if let Some(s) = &mut from.secret_key_ref {
            r.apply_mut(&mut s.name);
            r.apply_mut(&mut s.key);
        }
        if let Some(c) = &mut from.config_map_key_ref {
            r.apply_mut(&mut c.name);
            r.apply_mut(&mut c.key);
        }
    }
}

fn apply_env_from(e: &mut EnvFromSource, r: &Replacements) {
    r.apply_opt(&mut e.prefix);
    if let Some(c) = &mut e.config_map_ref {
        r.apply_mut(&mut c.name);
    }
    if let Some(s) = &mut e.secret_ref {
        r.apply_mut(&mut s.name);
    }
}

/// `ResourceRequirements.ApplyReplacements` (quantities written as variables).
fn apply_resources(res: &mut ResourceRequirements, r: &Replacements) {
    for q in res
        .limits
        .iter_mut()
        .chain(res.requests.iter_mut())
        .flat_map(|m| m.values_mut())
    {
        r.apply_mut(&mut q.0);
    }
}

fn apply_volume(v: &mut Volume, r: &Replacements) {
    r.apply_mut(&mut v.name);
    if let Some(cm) = &mut v.config_map {
        r.apply_mut(&mut cm.name);
        for item in cm.items.iter_mut().flatten() {
            r.apply_mut(&mut item.key);
            r.apply_mut(&mut item.path);
        }
    }
    if let Some(s) = &mut v.secret {
        r.apply_opt(&mut s.secret_name);
        for item in s.items.iter_mut().flatten() {
            r.apply_mut(&mut item.key);
            r.apply_mut(&mut item.path);
        }
    }
    if let Some(pvc) = &mut v.persistent_volume_claim {
        r.apply_mut(&mut pvc.claim_name);
    }
    if let Some(p) = &mut v.projected {
        for s in p.sources.iter_mut().flatten() {
            if let Some(cm) = &mut s.config_map {
                r.apply_mut(&mut cm.name);
            }
            if let Some(sec) = &mut s.secret {
                r.apply_mut(&mut sec.name);
            }
            if let Some(t) = &mut s.service_account_token {
                r.apply_opt(&mut t.audience);
            }
        }
    }
    if let Some(csi) = &mut v.csi {
        if let Some(s) = &mut csi.node_publish_secret_ref {
            r.apply_mut(&mut s.name);
        }
        for val in csi
            .volume_attributes
            .iter_mut()
            .flat_map(|m| m.values_mut())
        {
            r.apply_mut(val);
        }
    }
}

// ---------------------------------------------------------------------------
// Containers: conversion, step template merge, compute resources
// ---------------------------------------------------------------------------

fn opt_str(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn opt_vec<T: Clone>(v: &[T]) -> Option<Vec<T>> {
    (!v.is_empty()).then(|| v.to_vec())
}

fn step_container(s: &Step) -> Container {
    Container {
        name: s.name.clone(),
        image: opt_str(&s.image),
        command: opt_vec(&s.command),
        args: opt_vec(&s.args),
        working_dir: opt_str(&s.working_dir),
        env_from: opt_vec(&s.env_from),
        env: opt_vec(&s.env),
        resources: s.compute_resources.clone(),
        volume_mounts: opt_vec(&s.volume_mounts),
        volume_devices: opt_vec(&s.volume_devices),
        image_pull_policy: opt_str(&s.image_pull_policy),
        security_context: s.security_context.clone(),
        ..Default::default()
    }
}

fn template_container(t: &StepTemplate) -> Container {
    Container {
        image: opt_str(&t.image),
        command: opt_vec(&t.command),
        args: opt_vec(&t.args),
        working_dir: opt_str(&t.working_dir),
        env_from: opt_vec(&t.env_from),
        env: opt_vec(&t.env),
        resources: t.compute_resources.clone(),
        volume_mounts: opt_vec(&t.volume_mounts),
        volume_devices: opt_vec(&t.volume_devices),
        image_pull_policy: opt_str(&t.image_pull_policy),
        security_context: t.security_context.clone(),
        ..Default::default()
    }
}

fn sidecar_container(s: &Sidecar) -> Container {
    Container {
        name: s.name.clone(),
        image: opt_str(&s.image),
        command: opt_vec(&s.command),
        args: opt_vec(&s.args),
        working_dir: opt_str(&s.working_dir),
        ports: opt_vec(&s.ports),
        env_from: opt_vec(&s.env_from),
        env: opt_vec(&s.env),
        resources: s.compute_resources.clone(),
        volume_mounts: opt_vec(&s.volume_mounts),
        volume_devices: opt_vec(&s.volume_devices),
        liveness_probe: s.liveness_probe.clone(),
        readiness_probe: s.readiness_probe.clone(),
        startup_probe: s.startup_probe.clone(),
        lifecycle: s.lifecycle.clone(),
        termination_message_path: opt_str(&s.termination_message_path),
        termination_message_policy: opt_str(&s.termination_message_policy),
        image_pull_policy: opt_str(&s.image_pull_policy),
        security_context: s.security_context.clone(),
        stdin: s.stdin.then_some(true),
        stdin_once: s.stdin_once.then_some(true),
        tty: s.tty.then_some(true),
        restart_policy: opt_str(&s.restart_policy),
        ..Default::default()
    }
}

/// The patch merge key of a container list field (`patchMergeKey` in k8s core/v1).
fn merge_key(field: &str) -> Option<&'static str> {
    match field {
        "env" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "ports" => Some("containerPort"),
        _ => None,
    }
}

/// A strategic merge of `patch` onto `base`: objects merged field by field, keyed
/// lists merged by key, other values (and lists) replaced.
fn merge_value(base: &mut Value, patch: &Value) {
    let (Value::Object(b), Value::Object(p)) = (&mut *base, patch) else {
        *base = patch.clone();
        return;
    };
    for (k, pv) in p {
        if pv.is_null() {
            continue;
        }
        let Some(bv) = b.get_mut(k) else {
            b.insert(k.clone(), pv.clone());
            continue;
        };
        match (merge_key(k), &*bv, pv) {
            (Some(key), Value::Array(ba), Value::Array(pa)) => {
                *bv = Value::Array(merge_keyed_list(ba, pa, key));
            }
            (_, Value::Object(_), Value::Object(_)) => merge_value(bv, pv),
            _ => *bv = pv.clone(),
        }
    }
}

/// Strategic merge of a keyed list, with Kubernetes' element order
/// (`normalizeElementOrder`/`mergeSortedSlice`): the patch's items in its order,
/// interleaved with the base-only items where the base order puts them.
fn merge_keyed_list(base: &[Value], patch: &[Value], key: &str) -> Vec<Value> {
    let key_of = |v: &Value| v.get(key).map(Value::to_string);
    let base_keys: Vec<Option<String>> = base.iter().map(key_of).collect();
    let patch_keys: Vec<Option<String>> = patch.iter().map(key_of).collect();
    let right: Vec<Value> = patch
        .iter()
        .zip(&patch_keys)
        .map(|(p, k)| {
            match k
                .as_ref()
                .and_then(|k| base_keys.iter().position(|b| b.as_ref() == Some(k)))
            {
                Some(i) => {
                    let mut m = base[i].clone();
                    merge_value(&mut m, p);
                    m
                }
                None => p.clone(),
            }
        })
        .collect();
    let left: Vec<&Value> = base
        .iter()
        .zip(&base_keys)
        .filter(|(_, k)| k.is_none() || !patch_keys.contains(k))
        .map(|(v, _)| v)
        .collect();
    let index = |v: &Value| {
        key_of(v).and_then(|k| {
            base_keys
                .iter()
                .position(|b| b.as_deref() == Some(k.as_str()))
        })
    };
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(left.len() + right.len());
    while i < left.len() || j < right.len() {
        let take_left = if i >= left.len() {
            false
        } else if j >= right.len() {
            true
        } else {
            matches!((index(left[i]), index(&right[j])), (Some(l), Some(r)) if l < r)
        };
        if take_left {
            out.push(left[i].clone());
            i += 1;
        } else {
            out.push(right[j].clone());
            j += 1;
        }
    }
    out
}

/// `MergeStepsWithStepTemplate` for one step.
fn merge_with_template(template: &Container, step: Container, step_env: &[EnvVar]) -> Container {
    let (Ok(mut base), Ok(patch)) = (serde_json::to_value(template), serde_json::to_value(&step))
    else {
        return step;
    };
    merge_value(&mut base, &patch);
    let Ok(mut merged) = serde_json::from_value::<Container>(base) else {
        return step;
    };
    // amendConflictingContainerFields: an env var that ended up with both a value and
    // a valueFrom is the step's own.
    for e in merged.env.iter_mut().flatten() {
        if e.value_from.is_some() && e.value.as_deref().is_some_and(|v| !v.is_empty()) {
            if let Some(own) = step_env.iter().find(|s| s.name == e.name) {
                *e = own.clone();
            }
        }
    }
    merged
}

/// `tasklevel.ApplyTaskLevelComputeResources`: the TaskRun's requests spread evenly
/// over the steps, its limits given to each.
fn apply_task_level_resources(containers: &mut [Container], task: Option<&ResourceRequirements>) {
    let Some(task) = task else {
        return;
    };
    let requests = task.requests.as_ref().filter(|m| !m.is_empty());
    let limits = task.limits.as_ref().filter(|m| !m.is_empty());
    if requests.is_none() && limits.is_none() {
        return;
    }
    let n = containers.len();
    let avg_requests = requests.and_then(|m| average_quantities(m, n));
    let avg_limits = limits.and_then(|m| average_quantities(m, n));
    for c in containers {
        let res = c.resources.get_or_insert_with(Default::default);
        let own_requests = res.requests.as_ref().is_some_and(|m| !m.is_empty());
        res.requests = if !own_requests && requests.is_none() {
            avg_limits.clone()
        } else {
            avg_requests.clone()
        };
        res.limits = limits.cloned();
    }
}

fn average_quantities(
    m: &BTreeMap<String, Quantity>,
    n: usize,
) -> Option<BTreeMap<String, Quantity>> {
    if m.is_empty() || n == 0 {
        return None;
    }
    Some(
        m.iter()
            .map(|(k, q)| {
                let avg = match parse_quantity(&q.0) {
                    Some((nanos, format)) => {
                        // MilliValue rounds up; NewMilliQuantity(milli / n).
                        let milli = ceil_div(nanos, 1_000_000) / n as i128;
                        Quantity(format_quantity(milli * 1_000_000, format))
                    }
                    None => q.clone(),
                };
                (k.clone(), avg)
            })
            .collect(),
    )
}

/// `MergeStepsWithSpecs` / `MergeSidecarsWithSpecs`: the TaskRun's `computeResources`
/// for a named container merged over its own.
fn apply_resource_overrides(
    containers: &mut [Container],
    names: &[&str],
    overrides: &[TaskRunStepSpec],
) {
    for (c, name) in containers.iter_mut().zip(names) {
        let Some(o) = overrides.iter().rev().find(|o| o.name == *name) else {
            continue;
        };
        let own = c.resources.clone().unwrap_or_default();
        let (Ok(mut base), Ok(patch)) = (
            serde_json::to_value(&own),
            serde_json::to_value(&o.compute_resources),
        ) else {
            continue;
        };
        merge_value(&mut base, &patch);
        if let Ok(merged) = serde_json::from_value(base) {
            c.resources = Some(merged);
        }
    }
}

// ---------------------------------------------------------------------------
// Quantities (k8s.io/apimachinery resource.Quantity, as far as needed here)
// ---------------------------------------------------------------------------

/// How a quantity prints, from how it was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum QuantityFormat {
    DecimalSI,
    BinarySI,
    DecimalExponent,
}

const NANOS: i128 = 1_000_000_000;

fn ceil_div(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b > 0 {
        q + 1
    } else {
        q
    }
}

/// Parses a quantity (`500m`, `1.5`, `2Gi`, `1e3`) into nanounits (rounded up) and
/// its format.
fn parse_quantity(s: &str) -> Option<(i128, QuantityFormat)> {
    let s = s.trim();
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (int_part, mut rest) = rest.split_at(int_len);
    let mut frac_part = "";
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.bytes().take_while(u8::is_ascii_digit).count();
        frac_part = &r[..n];
        rest = &r[n..];
    }
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mantissa: i128 = format!("{int_part}{frac_part}").parse().ok()?;
    let frac_len = frac_part.len() as i32;
    let pow10 = |e: i32| 10i128.checked_pow(u32::try_from(e).ok()?);
    let binary = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let (nanos, format) = if let Some(k) = binary.iter().position(|b| *b == rest) {
        let scaled = mantissa
            .checked_mul(1024i128.checked_pow(k as u32 + 1)?)?
            .checked_mul(NANOS)?;
        (ceil_div(scaled, pow10(frac_len)?), QuantityFormat::BinarySI)
    } else {
        let (exp, format) = match rest {
            "" => (0, QuantityFormat::DecimalSI),
            "n" => (-9, QuantityFormat::DecimalSI),
            "u" => (-6, QuantityFormat::DecimalSI),
            "m" => (-3, QuantityFormat::DecimalSI),
            "k" => (3, QuantityFormat::DecimalSI),
            "M" => (6, QuantityFormat::DecimalSI),
            "G" => (9, QuantityFormat::DecimalSI),
            "T" => (12, QuantityFormat::DecimalSI),
            "P" => (15, QuantityFormat::DecimalSI),
            "E" => (18, QuantityFormat::DecimalSI),
            e if e.len() > 1 && (e.starts_with('e') || e.starts_with('E')) => {
                (e[1..].parse::<i32>().ok()?, QuantityFormat::DecimalExponent)
            }
            _ => return None,
        };
        let pow = 9 + exp - frac_len;
        let nanos = if pow >= 0 {
            mantissa.checked_mul(pow10(pow)?)?
        } else {
            ceil_div(mantissa, pow10(-pow)?)
        };
        (nanos, format)
    };
    Some((if neg { -nanos } else { nanos }, format))
}

/// A quantity's canonical text (`Quantity.String()`): `1500m`, `2k`, `1Gi`, `5e3`.
fn format_quantity(nanos: i128, format: QuantityFormat) -> String {
    if nanos == 0 {
        return "0".into();
    }
    if format == QuantityFormat::BinarySI && nanos % NANOS == 0 && nanos.abs() >= 1024 * NANOS {
        let mut v = nanos / NANOS;
        let mut k = 0;
        while k < 6 && v % 1024 == 0 {
            v /= 1024;
            k += 1;
        }
        return format!("{v}{}", ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][k]);
    }
    let mut v = nanos;
    let mut exp = -9;
    while exp < 18 && v % 1000 == 0 {
        v /= 1000;
        exp += 3;
    }
    if format == QuantityFormat::DecimalExponent {
        return if exp == 0 {
            v.to_string()
        } else {
            format!("{v}e{exp}")
        };
    }
    let suffix = match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        _ => "E",
    };
    format!("{v}{suffix}")
}

// ---------------------------------------------------------------------------
// Generated names (pkg/names)
// ---------------------------------------------------------------------------

/// `k8s.io/apimachinery/pkg/util/rand`'s alphabet (no vowels, no confusable digits).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Five characters of `ALPHANUMS` derived from `seed` (FNV-1a), in place of Tekton's
/// random suffix, so the same run always gets the same names.
fn name_suffix(seed: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (0..5)
        .map(|_| {
            let c = ALPHANUMS[(h % ALPHANUMS.len() as u64) as usize];
            h /= ALPHANUMS.len() as u64;
            c as char
        })
        .collect()
}

/// `RestrictLengthWithRandomSuffix`: at most 57 characters of `base`, `-`, a suffix.
fn restrict_length_with_suffix(base: &str, seed: &str) -> String {
    let base: String = base.chars().take(57).collect();
    format!("{base}-{}", name_suffix(seed))
}

/// `RestrictLength`: at most 63 characters, ending in an alphanumeric.
fn restrict_length(base: &str) -> String {
    let mut s: String = base.chars().take(63).collect();
    while s.len() > 1 && !s.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        s.pop();
    }
    s
}

// ---------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------

/// Reads the results the steps wrote to `dir` (the host side of [`RESULTS_DIR`], one
/// file per result name) with the default size limit.
///
/// As in Tekton v1:
/// * values are taken as written: a trailing newline is part of the value (Tekton's
///   docs tell authors to use `echo -n`/`printf`);
/// * a `string` result is the file's text; an `array` or `object` result is parsed as
///   JSON the way Tekton's `ResultValue.UnmarshalJSON` does, and one that does not
///   parse as its declared type fails the run with `TaskRunValidationFailed`, as do
///   object results missing keys their `properties` declare;
/// * a declared result no step wrote is simply absent: the TaskRun does not fail for
///   it (tektoncd/pipeline#3497); a PipelineRun consuming it fails instead, with
///   `InvalidTaskResultReference`;
/// * files for undeclared results are ignored;
/// * all results together may hold at most [`DEFAULT_MAX_RESULT_SIZE`] bytes
///   (the termination-message budget), else `TaskRunResultLargerThanAllowedLimit`.
///
/// On error no results are returned (Tekton keeps the well-typed ones in the status).
pub fn read_results(
    dir: &Path,
    declared: &[TaskResult],
) -> Result<Vec<TaskRunResult>, PrepareError> {
    read_results_with_limit(dir, declared, DEFAULT_MAX_RESULT_SIZE)
}

/// [`read_results`] with another size limit (Tekton's `max-result-size` when results
/// are read from sidecar logs).
pub fn read_results_with_limit(
    dir: &Path,
    declared: &[TaskResult],
    limit: usize,
) -> Result<Vec<TaskRunResult>, PrepareError> {
    let mut raw: Vec<(&TaskResult, Vec<u8>)> = Vec::new();
    for r in declared {
        match std::fs::read(dir.join(&r.name)) {
            Ok(bytes) => raw.push((r, bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(PrepareError::new(
                    REASON_FAILED,
                    format!("error reading the results file {:?}: {e}", r.name),
                ))
            }
        }
    }
    let total: usize = raw.iter().map(|(_, b)| b.len()).sum();
    if total > limit {
        let names: Vec<String> = raw.iter().map(|(r, _)| format!("{:?}", r.name)).collect();
        return Err(PrepareError::user(
            REASON_RESULT_TOO_LARGE,
            format!(
                "results exceeded size limit {limit} bytes: {total} bytes in results {}",
                names.join(", ")
            ),
        ));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut mismatched = Vec::new();
    let mut missing_keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (r, bytes) in raw {
        let want = if r.type_.is_empty() {
            if r.properties.is_some() {
                "object"
            } else {
                "string"
            }
        } else {
            r.type_.as_str()
        };
        let value = if want == "string" {
            ParamValue::String(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            unmarshal_result(&bytes)
        };
        let got = value.type_name();
        if got != want {
            mismatched.push(format!(
                " \"{}\": task result is expected to be \"{want}\" type but was initialized to a different type \"{got}\"",
                r.name
            ));
            continue;
        }
        if let (ParamValue::Object(o), Some(props)) = (&value, &r.properties) {
            let absent: Vec<String> = props
                .keys()
                .filter(|k| !o.contains_key(*k))
                .cloned()
                .collect();
            if !absent.is_empty() {
                missing_keys.insert(r.name.clone(), absent);
            }
        }
        out.push(TaskRunResult {
            name: r.name.clone(),
            type_: got.to_string(),
            value,
        });
    }
    if !mismatched.is_empty() {
        mismatched.sort();
        return Err(PrepareError::user(
            REASON_VALIDATION_FAILED,
            format!(
                "Provided results don't match declared results; may be invalid JSON or missing result declaration: {}",
                mismatched.join(",")
            ),
        ));
    }
    if !missing_keys.is_empty() {
        return Err(PrepareError::user(
            REASON_VALIDATION_FAILED,
            format!(
                "missing keys for these results which are required in TaskResult's properties {}",
                go_map(&missing_keys)
            ),
        ));
    }
    Ok(out)
}

/// Tekton's `ParamValue.UnmarshalJSON`: `[...]` of strings is an array, `{...}` of
/// strings an object, a JSON string its text, anything else the raw text.
fn unmarshal_result(bytes: &[u8]) -> ParamValue {
    match bytes.first() {
        None => return ParamValue::String(String::new()),
        Some(b'[') => {
            if let Ok(a) = serde_json::from_slice::<Vec<String>>(bytes) {
                return ParamValue::Array(a);
            }
        }
        Some(b'{') => {
            if let Ok(m) = serde_json::from_slice::<BTreeMap<String, String>>(bytes) {
                return ParamValue::Object(m);
            }
        }
        _ => {}
    }
    match serde_json::from_slice::<String>(bytes) {
        Ok(s) => ParamValue::String(s),
        Err(_) => ParamValue::String(String::from_utf8_lossy(bytes).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::VolumeMount;
    use serde_json::json;

    fn task(v: Value) -> TaskSpec {
        serde_json::from_value(v).expect("task spec")
    }

    fn run(v: Value) -> TaskRunSpec {
        serde_json::from_value(v).expect("taskrun spec")
    }

    fn ctx() -> RunContext {
        RunContext {
            task_run_name: "build-run".into(),
            task_run_namespace: "ci".into(),
            task_run_uid: "6f1c2a9e-uid".into(),
            task_name: "build".into(),
            retry_count: 0,
        }
    }

    fn args(c: &PreparedContainer) -> Vec<String> {
        c.container.args.clone().unwrap_or_default()
    }

    fn env(c: &PreparedContainer) -> Vec<(String, String)> {
        c.container
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect()
    }

    fn mounts(c: &PreparedContainer) -> Vec<VolumeMount> {
        c.container.volume_mounts.clone().unwrap_or_default()
    }

    fn err(task: &TaskSpec, run: &TaskRunSpec) -> PrepareError {
        prepare(task, run, &ctx()).expect_err("prepare should fail")
    }

    fn realistic_task() -> TaskSpec {
        task(json!({
            "params": [
                {"name": "url", "type": "string"},
                {"name": "revision", "type": "string", "default": "main"},
                {"name": "flags", "type": "array", "default": ["-v"]}
            ],
            "workspaces": [{"name": "source"}],
            "results": [
                {"name": "commit", "type": "string"},
                {"name": "files", "type": "array"}
            ],
            "stepTemplate": {"env": [{"name": "GOFLAGS", "value": "-mod=vendor"}]},
            "steps": [
                {
                    "name": "clone",
                    "image": "alpine/git",
                    "script": "git clone $(params.url) $(workspaces.source.path)\ncd $(workspaces.source.path) && git checkout $(params.revision)\ngit rev-parse HEAD | tr -d '\\n' > $(results.commit.path)\n",
                    "onError": "stopAndFail"
                },
                {
                    "name": "build",
                    "image": "golang:1.22",
                    "command": ["go"],
                    "args": ["build", "$(params.flags[*])", "./..."],
                    "workingDir": "$(workspaces.source.path)",
                    "timeout": "10m"
                },
                {
                    "image": "alpine",
                    "script": "#!/bin/bash\necho built by $(context.taskRun.name) in $(context.taskRun.namespace)\n",
                    "onError": "continue"
                }
            ]
        }))
    }

    fn realistic_run() -> TaskRunSpec {
        run(json!({
            "taskRef": {"name": "build"},
            "params": [
                {"name": "url", "value": "https://example.com/repo.git"},
                {"name": "flags", "value": ["-race", "-trimpath"]}
            ],
            "workspaces": [{"name": "source", "persistentVolumeClaim": {"claimName": "src-pvc"}}]
        }))
    }

    #[test]
    fn realistic_three_step_task() {
        let p = prepare(&realistic_task(), &realistic_run(), &ctx()).unwrap();
        assert_eq!(p.steps.len(), 3);
        let names: Vec<_> = p.steps.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["clone", "build", "unnamed-2"]);
        let cnames: Vec<_> = p.steps.iter().map(|s| s.container_name.as_str()).collect();
        assert_eq!(cnames, ["step-clone", "step-build", "step-unnamed-2"]);
        assert_eq!(p.steps[1].container.name, "step-build");

        // Step 1: a script without #!, params defaulted and given, workspace path.
        let clone = &p.steps[0];
        let script = clone.script.as_ref().unwrap();
        assert!(
            script.file_name.starts_with("script-0-"),
            "{}",
            script.file_name
        );
        assert_eq!(script.file_name.len(), "script-0-".len() + 5);
        assert_eq!(
            script.contents,
            "#!/bin/sh\nset -e\ngit clone https://example.com/repo.git /workspace/source\n\
             cd /workspace/source && git checkout main\n\
             git rev-parse HEAD | tr -d '\\n' > /tekton/results/commit\n"
        );
        assert_eq!(
            clone.container.command,
            Some(vec![format!("/tekton/scripts/{}", script.file_name)])
        );
        assert_eq!(clone.image, "alpine/git");
        assert!(!clone.on_error_continue);
        assert_eq!(clone.timeout, None);

        // Step 2: the array param expanded in args, the template's env, a timeout.
        let build = &p.steps[1];
        assert_eq!(build.container.command, Some(vec!["go".to_string()]));
        assert_eq!(args(build), ["build", "-race", "-trimpath", "./..."]);
        assert_eq!(
            build.container.working_dir.as_deref(),
            Some("/workspace/source")
        );
        assert_eq!(
            env(build),
            [("GOFLAGS".to_string(), "-mod=vendor".to_string())]
        );
        assert_eq!(build.timeout, Some(Duration::from_secs(600)));
        assert!(build.script.is_none());
        assert_eq!(
            build.workspace_mounts,
            [WorkspaceMount {
                workspace: "source".into(),
                mount_path: "/workspace/source".into(),
                sub_path: String::new(),
                read_only: false,
            }]
        );
        assert!(build.container.volume_mounts.is_none());

        // Step 3: a script with its own #!, context variables, onError: continue.
        let last = &p.steps[2];
        let script = last.script.as_ref().unwrap();
        assert!(script.file_name.starts_with("script-2-"));
        assert_eq!(
            script.contents,
            "#!/bin/bash\necho built by build-run in ci\n"
        );
        assert!(last.on_error_continue);

        assert_eq!(p.workspaces.len(), 1);
        let ws = &p.workspaces[0];
        assert_eq!(ws.mount_path, "/workspace/source");
        assert!(ws.volume_name.as_deref().unwrap().starts_with("ws-"));
        assert_eq!(
            ws.binding
                .as_ref()
                .unwrap()
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            "src-pvc"
        );
        assert_eq!(p.results.len(), 2);
        // status.taskSpec: substituted, not yet merged or converted.
        assert_eq!(
            p.task_spec.steps[1].args,
            ["build", "-race", "-trimpath", "./..."]
        );
        assert!(p.task_spec.steps[0]
            .script
            .starts_with("git clone https://"));

        // Deterministic: the same run prepares to the same containers.
        assert_eq!(
            p,
            prepare(&realistic_task(), &realistic_run(), &ctx()).unwrap()
        );
        let mut other = ctx();
        other.task_run_uid = "another-uid".into();
        let q = prepare(&realistic_task(), &realistic_run(), &other).unwrap();
        assert_ne!(q.steps[0].script, p.steps[0].script);

        // The results the steps write come back typed.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("commit"), "3f2a9c1").unwrap();
        std::fs::write(dir.path().join("files"), r#"["main.go","go.mod"]"#).unwrap();
        let results = read_results(dir.path(), &p.results).unwrap();
        assert_eq!(
            results,
            [
                TaskRunResult {
                    name: "commit".into(),
                    type_: "string".into(),
                    value: ParamValue::String("3f2a9c1".into()),
                },
                TaskRunResult {
                    name: "files".into(),
                    type_: "array".into(),
                    value: ParamValue::Array(vec!["main.go".into(), "go.mod".into()]),
                },
            ]
        );
    }

    #[test]
    fn missing_param_fails_validation() {
        let r = run(json!({
            "workspaces": [{"name": "source", "emptyDir": {}}]
        }));
        let e = err(&realistic_task(), &r);
        assert_eq!(e.reason, REASON_VALIDATION_FAILED);
        assert_eq!(
            e.message,
            "[User error] invalid input params for task build: missing values for these params which have no default values: [url]"
        );
        // Embedded spec: Tekton names the task after the TaskRun.
        let mut c = ctx();
        c.task_name = String::new();
        let e = prepare(&realistic_task(), &r, &c).unwrap_err();
        assert!(e.message.contains("for task build-run:"), "{}", e.message);
    }

    #[test]
    fn extra_params_are_allowed_and_substituted() {
        let t = task(json!({
            "steps": [{"image": "alpine", "args": ["$(params.extra)"]}]
        }));
        let r = run(json!({"params": [{"name": "extra", "value": "given"}]}));
        let p = prepare(&t, &r, &ctx()).unwrap();
        assert_eq!(args(&p.steps[0]), ["given"]);
    }

    #[test]
    fn wrong_param_type_fails_validation() {
        let mut r = realistic_run();
        r.params[1] = Param::string("flags", "-race");
        let e = err(&realistic_task(), &r);
        assert_eq!(e.reason, REASON_VALIDATION_FAILED);
        assert!(
            e.message
                .ends_with("param types don't match the user-specified type: [flags]"),
            "{}",
            e.message
        );
        // A reference may stand for an array (an array result, say).
        r.params[1] = Param::string("flags", "$(tasks.a.results.list[*])");
        assert!(prepare(&realistic_task(), &r, &ctx()).is_ok());
    }

    #[test]
    fn enum_violation_is_invalid_param_value() {
        let t = task(json!({
            "params": [{"name": "env", "type": "string", "enum": ["dev", "prod"], "default": "dev"}],
            "steps": [{"image": "alpine", "args": ["deploy", "$(params.env)"]}]
        }));
        let e = err(
            &t,
            &run(json!({"params": [{"name": "env", "value": "staging"}]})),
        );
        assert_eq!(e.reason, REASON_INVALID_PARAM_VALUE);
        assert_eq!(
            e.message,
            "[User error] param `env` value: staging is not in the enum list"
        );
        let p = prepare(
            &t,
            &run(json!({"params": [{"name": "env", "value": "prod"}]})),
            &ctx(),
        )
        .unwrap();
        assert_eq!(args(&p.steps[0]), ["deploy", "prod"]);
        // The default is used when the run gives nothing.
        let p = prepare(&t, &run(json!({})), &ctx()).unwrap();
        assert_eq!(args(&p.steps[0]), ["deploy", "dev"]);
    }

    #[test]
    fn object_params_merge_keys_with_defaults() {
        let t = task(json!({
            "params": [{
                "name": "git",
                "type": "object",
                "properties": {"url": {"type": "string"}, "rev": {"type": "string"}},
                "default": {"url": "https://default.example", "rev": "main"}
            }],
            "steps": [{
                "image": "alpine/git",
                "args": ["$(params.git.url)", "$(params.git.rev)", "$(params.git[*])"]
            }]
        }));
        let r = run(json!({"params": [{"name": "git", "value": {"url": "https://x.example"}}]}));
        let p = prepare(&t, &r, &ctx()).unwrap();
        // A whole object is not expanded in a step (Tekton does not either).
        assert_eq!(
            args(&p.steps[0]),
            ["https://x.example", "main", "$(params.git[*])"]
        );

        // Without a default, the run's object must have every declared key.
        let mut t2 = t.clone();
        t2.params[0].default = None;
        let e = err(&t2, &r);
        assert_eq!(e.reason, REASON_VALIDATION_FAILED);
        assert!(
            e.message.ends_with(
                "missing keys for these params which are required in ParamSpec's properties map[git:[rev]]"
            ),
            "{}",
            e.message
        );
    }

    #[test]
    fn array_params_expand_only_whole_elements() {
        let t = task(json!({
            "params": [{"name": "flags", "type": "array", "default": ["a", "b"]}],
            "steps": [{
                "image": "alpine",
                "command": ["$(params.flags)"],
                "args": ["$(params.flags[*])", "x $(params.flags[*])", "$(params.flags[1])", "$(params[\"flags\"][*])"],
                "env": [{"name": "FIRST", "value": "$(params.flags[0])"}]
            }]
        }));
        let p = prepare(&t, &run(json!({})), &ctx()).unwrap();
        let s = &p.steps[0];
        assert_eq!(
            s.container.command,
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(args(s), ["a", "b", "x $(params.flags[*])", "b", "a", "b"]);
        assert_eq!(env(s), [("FIRST".to_string(), "a".to_string())]);
    }

    #[test]
    fn array_index_out_of_range_fails() {
        let t = task(json!({
            "params": [{"name": "flags", "type": "array"}],
            "steps": [{"image": "alpine", "args": ["$(params.flags[2])", "$(params.flags[0])"]}]
        }));
        let e = err(
            &t,
            &run(json!({"params": [{"name": "flags", "value": ["a", "b"]}]})),
        );
        assert_eq!(e.reason, REASON_VALIDATION_FAILED);
        assert_eq!(
            e.message,
            "non-existent param references:[$(params.flags[2])]"
        );
        let ok = prepare(
            &t,
            &run(json!({"params": [{"name": "flags", "value": ["a", "b", "c"]}]})),
            &ctx(),
        )
        .unwrap();
        assert_eq!(args(&ok.steps[0]), ["c", "a"]);
    }

    #[test]
    fn param_reference_spellings_and_passes() {
        let t = task(json!({
            "params": [
                {"name": "rev", "default": "main"},
                {"name": "a"},
                {"name": "who"}
            ],
            "steps": [{
                "image": "alpine:$(params.rev)",
                "args": [
                    "$(params[\"rev\"])", "$(params['rev'])", "$(inputs.params.rev)",
                    "$(params.a)", "$(params.who)", "$(params.nope)", "$$(params.rev)"
                ]
            }]
        }));
        let r = run(json!({"params": [
            {"name": "a", "value": "$(params.rev)"},
            {"name": "who", "value": "$(context.taskRun.name)"}
        ]}));
        let p = prepare(&t, &r, &ctx()).unwrap();
        assert_eq!(p.steps[0].image, "alpine:main");
        // One pass per kind: a param's value is not re-read for params, but the later
        // context pass does see it.
        assert_eq!(
            args(&p.steps[0]),
            [
                "main",
                "main",
                "main",
                "$(params.rev)",
                "build-run",
                "$(params.nope)",
                "$main"
            ]
        );
    }

    #[test]
    fn context_results_exit_code_and_credentials() {
        let t = task(json!({
            "results": [{"name": "digest"}],
            "steps": [
                {"name": "a", "image": "alpine", "args": [
                    "$(context.taskRun.name)", "$(context.taskRun.namespace)",
                    "$(context.taskRun.uid)", "$(context.task.name)",
                    "$(context.task.retry-count)"
                ]},
                {"image": "alpine", "args": [
                    "$(results.digest.path)", "$(results[\"digest\"].path)",
                    "$(results['digest'].path)", "$(steps.step-a.exitCode.path)",
                    "$(steps.step-unnamed-1.exitCode.path)", "$(credentials.path)"
                ]}
            ]
        }));
        let mut c = ctx();
        c.retry_count = 2;
        let p = prepare(&t, &run(json!({})), &c).unwrap();
        assert_eq!(
            args(&p.steps[0]),
            ["build-run", "ci", "6f1c2a9e-uid", "build", "2"]
        );
        assert_eq!(
            args(&p.steps[1]),
            [
                "/tekton/results/digest",
                "/tekton/results/digest",
                "/tekton/results/digest",
                "/tekton/steps/step-a/exitCode",
                "/tekton/steps/step-unnamed-1/exitCode",
                "/tekton/creds"
            ]
        );
    }

    fn workspace_task() -> TaskSpec {
        task(json!({
            "params": [{"name": "suffix", "default": "x"}],
            "workspaces": [
                {"name": "cache", "mountPath": "/cache", "readOnly": true},
                {"name": "opt", "optional": true},
                {"name": "src"}
            ],
            "steps": [
                {"name": "use", "image": "alpine", "args": [
                    "$(workspaces.cache.path)", "$(workspaces.opt.bound)",
                    "$(workspaces.opt.path)", "$(workspaces.src.claim)",
                    "$(workspaces.src.volume)", "$(workspaces.cache.bound)",
                    "$(workspaces.cache.claim)"
                ]},
                {"name": "own", "image": "alpine",
                 "workspaces": [{"name": "src", "mountPath": "/mine"}],
                 "args": ["$(workspaces.src.path)"]}
            ],
            "sidecars": [{"name": "cache-server", "image": "redis"}]
        }))
    }

    #[test]
    fn workspaces_paths_bindings_and_mounts() {
        let r = run(json!({"workspaces": [
            {"name": "cache", "emptyDir": {}},
            {"name": "src", "subPath": "dir-$(params.suffix)",
             "persistentVolumeClaim": {"claimName": "claim-$(params.suffix)"}}
        ]}));
        let p = prepare(&workspace_task(), &r, &ctx()).unwrap();
        let src = p.workspaces.iter().find(|w| w.name == "src").unwrap();
        let src_vol = src.volume_name.clone().unwrap();
        let cache = p.workspaces.iter().find(|w| w.name == "cache").unwrap();
        let cache_vol = cache.volume_name.clone().unwrap();
        assert_ne!(src_vol, cache_vol);
        assert_eq!(
            args(&p.steps[0]),
            [
                "/cache",
                "false",
                "",
                "claim-x",
                src_vol.as_str(),
                "true",
                ""
            ]
        );
        // `src` is isolated (a step asked for it): only that step mounts it, at its path.
        assert_eq!(args(&p.steps[1]), ["/mine"]);
        let cache_mount = WorkspaceMount {
            workspace: "cache".into(),
            mount_path: "/cache".into(),
            sub_path: String::new(),
            read_only: true,
        };
        assert_eq!(p.steps[0].workspace_mounts, vec![cache_mount.clone()]);
        assert_eq!(
            p.steps[1].workspace_mounts,
            [
                cache_mount.clone(),
                WorkspaceMount {
                    workspace: "src".into(),
                    mount_path: "/mine".into(),
                    sub_path: "dir-x".into(),
                    read_only: false,
                }
            ]
        );
        // Shared workspaces reach sidecars too.
        assert_eq!(p.sidecars[0].workspace_mounts, [cache_mount]);
        assert_eq!(
            src.binding
                .as_ref()
                .unwrap()
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            "claim-x"
        );
        let opt = p.workspaces.iter().find(|w| w.name == "opt").unwrap();
        assert_eq!(opt.binding, None);
        assert_eq!(opt.volume_name, None);
        assert_eq!(opt.mount_path, "/workspace/opt");
        assert!(cache.read_only);
    }

    #[test]
    fn workspace_binding_errors_and_propagation() {
        let e = err(
            &workspace_task(),
            &run(json!({"workspaces": [{"name": "cache", "emptyDir": {}}]})),
        );
        assert_eq!(e.reason, REASON_VALIDATION_FAILED);
        assert_eq!(
            e.message,
            "[User error] declared workspace \"src\" is required but has not been bound"
        );
        let t = task(json!({"steps": [{"image": "alpine", "args": ["$(workspaces.extra.path)"]}]}));
        let r = run(json!({"workspaces": [{"name": "extra", "emptyDir": {}}]}));
        let e = err(&t, &r);
        assert_eq!(
            e.message,
            "[User error] workspace binding \"extra\" does not match any declared workspace"
        );
        // An embedded spec may use workspaces it does not declare.
        let mut r = r;
        r.task_spec = Some(t.clone());
        let p = prepare(&t, &r, &ctx()).unwrap();
        assert_eq!(args(&p.steps[0]), ["/workspace/extra"]);
        assert_eq!(
            p.steps[0].workspace_mounts[0].mount_path,
            "/workspace/extra"
        );
        assert_eq!(p.workspaces[0].name, "extra");
    }

    #[test]
    fn bindings_of_one_claim_share_a_volume() {
        let t = task(json!({
            "workspaces": [{"name": "a"}, {"name": "b"}],
            "steps": [{"image": "alpine"}]
        }));
        let r = run(json!({"workspaces": [
            {"name": "a", "persistentVolumeClaim": {"claimName": "shared"}},
            {"name": "b", "persistentVolumeClaim": {"claimName": "shared"}, "subPath": "b"}
        ]}));
        let p = prepare(&t, &r, &ctx()).unwrap();
        assert_eq!(p.workspaces[0].volume_name, p.workspaces[1].volume_name);
        assert_eq!(p.steps[0].workspace_mounts.len(), 2);
        assert_eq!(p.steps[0].workspace_mounts[1].sub_path, "b");
    }

    #[test]
    fn step_template_merges_like_tekton() {
        let t = task(json!({
            "stepTemplate": {
                "image": "golang",
                "workingDir": "/src",
                "command": ["/bin/tool"],
                "env": [
                    {"name": "KEEP_THIS", "value": "A_VALUE"},
                    {"name": "SOME_KEY", "value": "ORIGINAL_VALUE"},
                    {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
                ],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "computeResources": {"limits": {"cpu": "1"}},
                "securityContext": {"runAsUser": 1000, "privileged": false}
            },
            "steps": [
                {"name": "a", "env": [
                    {"name": "NEW_KEY", "value": "A_VALUE"},
                    {"name": "SOME_KEY", "value": "NEW_VALUE"},
                    {"name": "FROM_SECRET", "value": "plain"}
                 ],
                 "volumeMounts": [{"name": "other", "mountPath": "/data", "readOnly": true}],
                 "computeResources": {"requests": {"cpu": "500m"}},
                 "securityContext": {"runAsUser": 0}
                },
                {"name": "b", "image": "alpine", "workingDir": "/elsewhere", "args": ["x"]}
            ]
        }));
        let p = prepare(&t, &run(json!({})), &ctx()).unwrap();
        let a = &p.steps[0];
        assert_eq!(a.image, "golang");
        assert_eq!(a.container.working_dir.as_deref(), Some("/src"));
        assert_eq!(a.container.command, Some(vec!["/bin/tool".to_string()]));
        assert_eq!(
            env(a),
            [
                ("NEW_KEY".to_string(), "A_VALUE".to_string()),
                ("KEEP_THIS".to_string(), "A_VALUE".to_string()),
                ("SOME_KEY".to_string(), "NEW_VALUE".to_string()),
                ("FROM_SECRET".to_string(), "plain".to_string()),
            ]
        );
        assert!(a.container.env.as_ref().unwrap()[3].value_from.is_none());
        let m = mounts(a);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].name, "other");
        assert_eq!(m[0].read_only, Some(true));
        let res = a.container.resources.as_ref().unwrap();
        assert_eq!(res.limits.as_ref().unwrap()["cpu"], Quantity("1".into()));
        assert_eq!(
            res.requests.as_ref().unwrap()["cpu"],
            Quantity("500m".into())
        );
        let sc = a.container.security_context.as_ref().unwrap();
        assert_eq!(sc.run_as_user, Some(0));
        assert_eq!(sc.privileged, Some(false));

        let b = &p.steps[1];
        assert_eq!(b.image, "alpine");
        assert_eq!(b.container.working_dir.as_deref(), Some("/elsewhere"));
        assert_eq!(args(b), ["x"]);
        assert_eq!(env(b).len(), 3);
    }

    #[test]
    fn task_level_and_step_compute_resources() {
        let t = task(json!({
            "steps": [
                {"name": "a", "image": "alpine", "computeResources": {"requests": {"cpu": "2"}}},
                {"name": "b", "image": "alpine"}
            ]
        }));
        let r = run(json!({"computeResources": {
            "requests": {"cpu": "1", "memory": "1Gi"},
            "limits": {"memory": "2Gi"}
        }}));
        let p = prepare(&t, &r, &ctx()).unwrap();
        for s in &p.steps {
            let res = s.container.resources.as_ref().unwrap();
            let req = res.requests.as_ref().unwrap();
            assert_eq!(req["cpu"], Quantity("500m".into()));
            assert_eq!(req["memory"], Quantity("512Mi".into()));
            assert_eq!(
                res.limits.as_ref().unwrap()["memory"],
                Quantity("2Gi".into())
            );
        }
        // Only limits: requests are the averaged limits.
        let r = run(json!({"computeResources": {"limits": {"cpu": "3"}}}));
        let p = prepare(&t, &r, &ctx()).unwrap();
        let req = p.steps[1]
            .container
            .resources
            .as_ref()
            .unwrap()
            .requests
            .clone()
            .unwrap();
        assert_eq!(req["cpu"], Quantity("1500m".into()));

        // stepSpecs merge over the step's own resources.
        let r = run(
            json!({"stepSpecs": [{"name": "a", "computeResources": {"requests": {"memory": "3Gi"}}}]}),
        );
        let p = prepare(&t, &r, &ctx()).unwrap();
        let req = p.steps[0]
            .container
            .resources
            .as_ref()
            .unwrap()
            .requests
            .clone()
            .unwrap();
        assert_eq!(req["cpu"], Quantity("2".into()));
        assert_eq!(req["memory"], Quantity("3Gi".into()));
        assert!(p.steps[1].container.resources.is_none());

        let e = err(
            &t,
            &run(json!({"stepSpecs": [{"name": "nope", "computeResources": {}}]})),
        );
        assert_eq!(e.reason, REASON_VALIDATION_FAILED);
        assert_eq!(
            e.message,
            "[User error] invalid StepOverride: No Step named nope"
        );
    }

    #[test]
    fn requests_above_limits_fail() {
        let t = task(json!({
            "steps": [{"image": "alpine", "computeResources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}}]
        }));
        let e = err(&t, &run(json!({})));
        assert_eq!(e.reason, REASON_VALIDATION_FAILED);
        assert_eq!(
            e.message,
            "[User error] invalid request resource value: 2 must be less or equal to limit 1500m"
        );
        // The template's limit applies when the step has none.
        let t = task(json!({
            "stepTemplate": {"computeResources": {"limits": {"memory": "1Gi"}}},
            "steps": [{"image": "alpine", "computeResources": {"requests": {"memory": "2Gi"}}}]
        }));
        assert!(err(&t, &run(json!({})))
            .message
            .contains("2Gi must be less or equal to limit 1Gi"));
    }

    #[test]
    fn scripts_and_sidecars() {
        let t = task(json!({
            "steps": [
                {"image": "alpine", "script": "\n  #!/usr/bin/env python3\nprint('hi')\n", "args": ["one"]},
                {"image": "alpine", "script": "echo $1", "args": ["two"]}
            ],
            "sidecars": [
                {"name": "redis", "image": "redis", "script": "redis-server", "ports": [{"containerPort": 6379}]},
                {"image": "busybox", "command": ["sleep", "infinity"]}
            ]
        }));
        let p = prepare(&t, &run(json!({})), &ctx()).unwrap();
        // A #! after leading blank space still counts (Tekton trims before checking).
        assert_eq!(
            p.steps[0].script.as_ref().unwrap().contents,
            "\n  #!/usr/bin/env python3\nprint('hi')\n"
        );
        assert_eq!(args(&p.steps[0]), ["one"]);
        let s1 = p.steps[1].script.as_ref().unwrap();
        assert_eq!(s1.contents, "#!/bin/sh\nset -e\necho $1");
        assert_eq!(args(&p.steps[1]), ["two"]);
        assert_ne!(p.steps[0].script, p.steps[1].script);

        assert_eq!(p.sidecars.len(), 2);
        let redis = &p.sidecars[0];
        assert_eq!(redis.container_name, "sidecar-redis");
        let rs = redis.script.as_ref().unwrap();
        assert!(rs.file_name.starts_with("sidecar-script-0-"));
        assert_eq!(
            redis.container.command,
            Some(vec![format!("/tekton/scripts/{}", rs.file_name)])
        );
        assert_eq!(
            redis.container.ports.as_ref().unwrap()[0].container_port,
            6379
        );
        assert_eq!(p.sidecars[1].name, "unnamed-1");
        assert_eq!(p.sidecars[1].container_name, "sidecar-unnamed-1");
        assert_eq!(
            p.sidecars[1].container.command,
            Some(vec!["sleep".to_string(), "infinity".to_string()])
        );

        let win = task(
            json!({"steps": [{"name": "w", "image": "mcr", "script": "#!win pwsh\nWrite-Host hi"}]}),
        );
        let e = err(&win, &run(json!({})));
        assert_eq!(e.reason, REASON_POD_CREATION_FAILED);
        assert!(e.message.contains("Windows"), "{}", e.message);

        let both = task(
            json!({"steps": [{"name": "x", "image": "a", "script": "echo", "command": ["sh"]}]}),
        );
        assert_eq!(err(&both, &run(json!({}))).reason, REASON_VALIDATION_FAILED);
    }

    #[test]
    fn timeouts_and_on_error() {
        let t = task(json!({
            "params": [{"name": "mode", "default": "continue"}],
            "steps": [
                {"image": "a", "timeout": "0s"},
                {"image": "a", "timeout": "1h30m", "onError": "$(params.mode)"},
                {"image": "a", "stdoutConfig": {"path": "$(results.out.path)"}, "stderrConfig": {"path": "/tmp/err"}}
            ],
            "results": [{"name": "out"}]
        }));
        let p = prepare(&t, &run(json!({})), &ctx()).unwrap();
        assert_eq!(p.steps[0].timeout, None);
        assert_eq!(p.steps[1].timeout, Some(Duration::from_secs(5400)));
        assert!(p.steps[1].on_error_continue);
        assert!(!p.steps[0].on_error_continue);
        assert_eq!(
            p.steps[2].stdout_path.as_deref(),
            Some("/tekton/results/out")
        );
        assert_eq!(p.steps[2].stderr_path.as_deref(), Some("/tmp/err"));

        let e = err(
            &t,
            &run(json!({"params": [{"name": "mode", "value": "maybe"}]})),
        );
        assert_eq!(e.reason, REASON_VALIDATION_FAILED);
        assert!(e.message.contains("onError"), "{}", e.message);
    }

    #[test]
    fn volumes_are_substituted() {
        let t = task(json!({
            "params": [{"name": "cm"}, {"name": "sec"}],
            "volumes": [
                {"name": "conf", "configMap": {"name": "$(params.cm)", "items": [{"key": "$(params.cm).yaml", "path": "c.yaml"}]}},
                {"name": "creds", "secret": {"secretName": "$(params.sec)"}}
            ],
            "steps": [{"image": "a", "volumeMounts": [{"name": "conf", "mountPath": "/etc/$(params.cm)"}]}]
        }));
        let r = run(
            json!({"params": [{"name": "cm", "value": "app"}, {"name": "sec", "value": "token"}]}),
        );
        let p = prepare(&t, &r, &ctx()).unwrap();
        let cm = p.volumes[0].config_map.as_ref().unwrap();
        assert_eq!(cm.name, "app");
        assert_eq!(cm.items.as_ref().unwrap()[0].key, "app.yaml");
        assert_eq!(
            p.volumes[1].secret.as_ref().unwrap().secret_name.as_deref(),
            Some("token")
        );
        assert_eq!(mounts(&p.steps[0])[0].mount_path, "/etc/app");
    }

    #[test]
    fn long_names_are_shortened() {
        let long = "a".repeat(70);
        let t = task(json!({"steps": [{"name": long, "image": "a"}]}));
        let p = prepare(&t, &run(json!({})), &ctx()).unwrap();
        assert_eq!(p.steps[0].container_name.len(), 63);
        assert_eq!(p.steps[0].name.len(), 70);
        assert_eq!(restrict_length("step-ab-"), "step-ab");
    }

    fn results_decl(v: Value) -> Vec<TaskResult> {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn results_are_read_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("tag"), "v1.2.3\n").unwrap();
        std::fs::write(d.join("empty"), "").unwrap();
        std::fs::write(d.join("meta"), r#"{"url":"u","digest":"sha256:x"}"#).unwrap();
        std::fs::write(d.join("undeclared"), "ignored").unwrap();
        let declared = results_decl(json!([
            {"name": "tag", "type": "string"},
            {"name": "empty"},
            {"name": "missing", "type": "string"},
            {"name": "meta", "type": "object", "properties": {"url": {}, "digest": {}}}
        ]));
        let r = read_results(d, &declared).unwrap();
        let names: Vec<_> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["tag", "empty", "meta"]);
        assert_eq!(r[0].value, ParamValue::String("v1.2.3\n".into()));
        assert_eq!(r[1].value, ParamValue::String(String::new()));
        assert_eq!(r[2].type_, "object");
        assert_eq!(
            r[2].value,
            ParamValue::Object(BTreeMap::from([
                ("digest".to_string(), "sha256:x".to_string()),
                ("url".to_string(), "u".to_string())
            ]))
        );
    }

    #[test]
    fn results_of_the_wrong_type_fail() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("list"), "not json").unwrap();
        let declared = results_decl(json!([{"name": "list", "type": "array"}]));
        let e = read_results(d, &declared).unwrap_err();
        assert_eq!(e.reason, REASON_VALIDATION_FAILED);
        assert_eq!(
            e.message,
            "[User error] Provided results don't match declared results; may be invalid JSON or missing result declaration:  \"list\": task result is expected to be \"array\" type but was initialized to a different type \"string\""
        );
        std::fs::write(d.join("list"), "[\"a\", \"b\"]\n").unwrap();
        assert_eq!(
            read_results(d, &declared).unwrap()[0].value,
            ParamValue::Array(vec!["a".into(), "b".into()])
        );

        std::fs::write(d.join("obj"), r#"{"url":"u"}"#).unwrap();
        let declared = results_decl(json!([
            {"name": "obj", "type": "object", "properties": {"url": {}, "digest": {}}}
        ]));
        let e = read_results(d, &declared).unwrap_err();
        assert_eq!(
            e.message,
            "[User error] missing keys for these results which are required in TaskResult's properties map[obj:[digest]]"
        );
    }

    #[test]
    fn results_over_the_size_limit_fail() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("a"), "x".repeat(3000)).unwrap();
        std::fs::write(d.join("b"), "y".repeat(1500)).unwrap();
        let declared = results_decl(json!([{"name": "a"}, {"name": "b"}]));
        let e = read_results(d, &declared).unwrap_err();
        assert_eq!(e.reason, REASON_RESULT_TOO_LARGE);
        assert!(e.message.contains("4096"), "{}", e.message);
        assert!(e.message.contains("4500 bytes"), "{}", e.message);
        // Exactly at the limit is fine; another limit can be given.
        std::fs::write(d.join("b"), "y".repeat(1096)).unwrap();
        assert_eq!(read_results(d, &declared).unwrap().len(), 2);
        assert!(read_results_with_limit(d, &declared, 100).is_err());
    }

    #[test]
    fn quantities_parse_and_print_like_kubernetes() {
        let canon = |s: &str| {
            let (n, f) = parse_quantity(s).unwrap();
            format_quantity(n, f)
        };
        assert_eq!(canon("500m"), "500m");
        assert_eq!(canon("1.5"), "1500m");
        assert_eq!(canon("0.1"), "100m");
        assert_eq!(canon("2000"), "2k");
        assert_eq!(canon("2Gi"), "2Gi");
        assert_eq!(canon("1.5Gi"), "1536Mi");
        assert_eq!(canon("512"), "512");
        assert_eq!(canon("1e3"), "1e3");
        assert_eq!(canon("100M"), "100M");
        assert_eq!(canon("0"), "0");
        assert!(parse_quantity("abc").is_none());
        assert!(parse_quantity("1Zi").is_none());
        assert!(parse_quantity("1Gi").unwrap().0 > parse_quantity("1G").unwrap().0);
    }

    #[test]
    fn replacement_is_single_pass() {
        let r = Replacements::strings(HashMap::from([
            ("a".to_string(), "$(b)".to_string()),
            ("b".to_string(), "B".to_string()),
        ]));
        assert_eq!(r.apply("$(a)-$(b)-$(c)-$($(b))-$("), "$(b)-B-$(c)-$(B)-$(");
    }
}
