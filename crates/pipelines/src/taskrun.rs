//! The TaskRun reconciler (tektoncd/pipeline `pkg/reconciler/taskrun`): resolves the
//! Task, prepares the steps ([`crate::prepare`]), pulls their images, lays out the
//! run's dirs ([`crate::workdir`]) with a service-account token, runs the pod on the
//! [`TaskRuntime`], and mirrors its progress into `status` (`Succeeded` condition with
//! Tekton's reasons, `steps`, `results`, `retriesStatus`) and into a Pod.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Secret, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, PostParams};
use kube::runtime::controller::Action;
use kube::ResourceExt;
use skiff_api::serving::v1::Condition;
use skiff_api::tekton::resources as lowering;
use skiff_api::tekton::v1::{StepState, Task, TaskRun, TaskRunSpec, TaskRunStatus, TaskSpec};
use skiff_api::tekton::v1alpha1::PipelineResource;
use skiff_runtime::{
    BindMount, ContainerPhase, ContainerRunState, PodContainerSpec, PodKey, PodPhase, TaskPodSpec,
    TaskPodStatus,
};

use crate::pod_template::PodSettings;
use crate::prepare::{self, PreparedContainer, PreparedTaskRun, RunContext};
use crate::workdir::{self, RunDirs};
use crate::{pod, Ctx, Error};

/// Label naming the TaskRun on its pod (Tekton's).
pub const TASK_RUN_LABEL: &str = "tekton.dev/taskRun";
/// Label carrying the TaskRun's uid on its pod (Tekton's).
pub const TASK_RUN_UID_LABEL: &str = "tekton.dev/taskRunUID";
/// A TaskRun's default timeout (Tekton's `default-timeout-minutes`: 60).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// Tekton's reasons for a TaskRun's `Succeeded` condition.
pub mod reason {
    /// Pod created, steps not started.
    pub const PENDING: &str = "Pending";
    /// Steps are running.
    pub const RUNNING: &str = "Running";
    /// Every step completed.
    pub const SUCCEEDED: &str = "Succeeded";
    /// A step failed.
    pub const FAILED: &str = "Failed";
    /// The run took longer than its timeout.
    pub const TIMEOUT: &str = "TaskRunTimeout";
    /// `spec.status: TaskRunCancelled`.
    pub const CANCELLED: &str = "TaskRunCancelled";
    /// The referenced Task does not exist.
    pub const COULDNT_GET_TASK: &str = "CouldntGetTask";
    /// A step's image could not be pulled.
    pub const IMAGE_PULL_FAILED: &str = "TaskRunImagePullFailed";
    /// The pod could not be created (service account, volumes, runtime).
    pub const POD_CREATION_FAILED: &str = "PodCreationFailed";
    /// A PipelineResource binding is invalid.
    pub const RESOLUTION_FAILED: &str = "TaskRunResolutionFailed";
}

/// Whether a run's `Succeeded` condition (among `conditions`) is final (True or False):
/// the same test for TaskRuns and PipelineRuns.
pub fn is_done(conditions: Option<&Vec<Condition>>) -> bool {
    conditions
        .into_iter()
        .flatten()
        .any(|c| c.type_ == "Succeeded" && c.status != "Unknown")
}

/// Sets the `Succeeded` condition (keeping its transition time if the status is
/// unchanged).
pub fn set_succeeded(
    conditions: &mut Option<Vec<Condition>>,
    status: &str,
    reason: &str,
    message: &str,
    now: jiff::Timestamp,
) {
    let list = conditions.get_or_insert_with(Vec::new);
    let previous = list.iter().find(|c| c.type_ == "Succeeded").cloned();
    list.retain(|c| c.type_ != "Succeeded");
    let transition = match previous {
        Some(p) if p.status == status => p.last_transition_time,
        _ => Some(Time(now)),
    };
    list.push(Condition {
        type_: "Succeeded".into(),
        status: status.into(),
        severity: None,
        last_transition_time: transition,
        reason: Some(reason.into()),
        message: Some(message.into()),
    });
}

/// The pod's name for an attempt: `{taskrun}-pod`, `{taskrun}-pod-retry{n}` (Tekton's).
pub fn pod_name(task_run: &str, retry: usize) -> String {
    let suffix = if retry == 0 {
        "-pod".to_string()
    } else {
        format!("-pod-retry{retry}")
    };
    crate::dag::child_name(task_run, &suffix)
}

/// Reconciles one TaskRun.
pub async fn reconcile(tr: Arc<TaskRun>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = tr.namespace().unwrap_or_default();
    let name = tr.name_any();
    if tr.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let status = tr.status.clone().unwrap_or_default();
    let attempt = status.retries_status.len();
    let key = PodKey {
        namespace: ns.clone(),
        name: if status.pod_name.is_empty() {
            pod_name(&name, attempt)
        } else {
            status.pod_name.clone()
        },
    };
    let live = ctx.tasks.pod(&key);
    if is_done(
        tr.status
            .as_ref()
            .and_then(|s| s.status.conditions.as_ref()),
    ) {
        if let Some(p) = live.filter(|p| !p.finished()) {
            ctx.tasks.cancel_pod(&p.key, "Cancelled").await.ok();
        }
        return Ok(Action::await_change());
    }
    let Some(live) = live else {
        if status.start_time.is_some() && !status.pod_name.is_empty() {
            // Started by an earlier server process: the pod died with it.
            let mut st = status.clone();
            let message = format!(
                "the pod {} of TaskRun {name:?} was lost: skiff server restarted while it ran",
                status.pod_name
            );
            finish_failed(&ctx, &mut st, reason::FAILED, &message);
            pod::mark_lost(&ctx.client, &ns, &status.pod_name, &message).await;
            RunDirs::new(&ctx.options.data_dir, &ns, &tr.uid().unwrap_or_default()).remove();
            write_status(&ctx, &tr, st).await?;
            return Ok(Action::await_change());
        }
        if tr.spec.status == "TaskRunCancelled" {
            let mut st = status.clone();
            let message = cancel_message(&name, &tr.spec.status_message);
            finish_failed(&ctx, &mut st, reason::CANCELLED, &message);
            write_status(&ctx, &tr, st).await?;
            return Ok(Action::await_change());
        }
        return start(&tr, &ctx, status, key).await;
    };

    let timeout = timeout_of(&tr.spec);
    let elapsed = status
        .start_time
        .as_ref()
        .map(|t| ctx.clock.now().duration_since(t.0).unsigned_abs())
        .unwrap_or_default();
    if !live.finished() {
        if tr.spec.status == "TaskRunCancelled" {
            ctx.tasks.cancel_pod(&key, reason::CANCELLED).await.ok();
        } else if elapsed > timeout {
            ctx.tasks.cancel_pod(&key, reason::TIMEOUT).await.ok();
        }
    }
    let mut st = status.clone();
    observe(
        &mut st,
        &live,
        tr.status.as_ref().and_then(|s| s.task_spec.as_ref()),
    );
    if !live.finished() {
        let running = live
            .steps
            .iter()
            .any(|s| s.phase != ContainerPhase::Waiting);
        let (r, m) = if running {
            (
                reason::RUNNING,
                "Not all Steps in the Task have finished executing",
            )
        } else {
            (reason::PENDING, "Pending")
        };
        set_succeeded(&mut st.status.conditions, "Unknown", r, m, ctx.clock.now());
        write_status(&ctx, &tr, st).await?;
        mirror(&ctx, &tr, &live).await;
        let left = timeout.saturating_sub(elapsed);
        return Ok(Action::requeue(
            left.clamp(Duration::from_millis(250), Duration::from_secs(60)),
        ));
    }

    // Finished: results, the condition, maybe a retry.
    mirror(&ctx, &tr, &live).await;
    let dirs = RunDirs::new(&ctx.options.data_dir, &ns, &tr.uid().unwrap_or_default());
    let declared = st
        .task_spec
        .as_ref()
        .map(|t| t.results.clone())
        .unwrap_or_default();
    let continued: Vec<String> = st
        .steps
        .iter()
        .filter(|s| s.termination_reason == "Continued")
        .map(|s| s.container.clone())
        .collect();
    let (reason, message) = outcome(&name, &tr.spec, &live, &key, timeout, &continued);
    let mut failed = reason != reason::SUCCEEDED;
    let (mut reason, mut message) = (reason.to_string(), message);
    match prepare::read_results(&dirs.results(), &declared) {
        Ok(results) => st.results = results,
        Err(e) if !failed => {
            failed = true;
            reason = e.reason;
            message = e.message;
        }
        Err(_) => {}
    }
    dirs.remove();
    st.completion_time = Some(Time(ctx.clock.now()));
    let retries = tr.spec.retries.unwrap_or(0).max(0) as usize;
    let cancelled = reason == reason::CANCELLED;
    if failed && !cancelled && attempt < retries {
        // Tekton: the failed attempt moves to retriesStatus and the run starts over.
        set_succeeded(
            &mut st.status.conditions,
            "False",
            &reason,
            &message,
            ctx.clock.now(),
        );
        let mut previous = st.clone();
        previous.retries_status.clear();
        previous.task_spec = None;
        let mut next = TaskRunStatus {
            retries_status: st.retries_status.clone(),
            ..Default::default()
        };
        next.retries_status.push(previous);
        next.status.observed_generation = tr.metadata.generation;
        let key = PodKey {
            namespace: ns,
            name: pod_name(&name, attempt + 1),
        };
        return start(&tr, &ctx, next, key).await;
    }
    if failed {
        set_succeeded(
            &mut st.status.conditions,
            "False",
            &reason,
            &message,
            ctx.clock.now(),
        );
    } else {
        set_succeeded(
            &mut st.status.conditions,
            "True",
            reason::SUCCEEDED,
            "All Steps have completed executing",
            ctx.clock.now(),
        );
    }
    write_status(&ctx, &tr, st).await?;
    Ok(Action::await_change())
}

fn cancel_message(name: &str, extra: &str) -> String {
    format!("TaskRun {name:?} was cancelled. {extra}")
        .trim_end()
        .to_string()
}

/// The TaskRun's timeout (`spec.timeout`, default 1h; `0` means none).
pub fn timeout_of(spec: &TaskRunSpec) -> Duration {
    match spec
        .timeout
        .as_deref()
        .map(skiff_api::tekton::duration::parse)
    {
        Some(Ok(0)) => Duration::from_secs(100 * 365 * 24 * 3600),
        Some(Ok(n)) if n > 0 => Duration::from_nanos(n.min(u64::MAX as i128) as u64),
        _ => DEFAULT_TIMEOUT,
    }
}

/// Why a finished pod ended as it did: (reason, message) for the condition.
fn outcome(
    name: &str,
    spec: &TaskRunSpec,
    pod: &TaskPodStatus,
    key: &PodKey,
    timeout: Duration,
    continued: &[String],
) -> (&'static str, String) {
    if pod.phase == PodPhase::Succeeded {
        return (reason::SUCCEEDED, String::new());
    }
    let stopped_by = |r: &str| pod.steps.iter().any(|s| s.reason == r);
    if stopped_by(reason::TIMEOUT) {
        return (
            reason::TIMEOUT,
            format!(
                "TaskRun {name:?} failed to finish within {:?}",
                skiff_api::tekton::duration::format(timeout.as_nanos() as i128)
            ),
        );
    }
    if stopped_by(reason::CANCELLED) || spec.status == "TaskRunCancelled" {
        return (
            reason::CANCELLED,
            cancel_message(name, &spec.status_message),
        );
    }
    let failed = pod.sidecars.iter().chain(&pod.steps).find(|s| {
        s.reason != "Completed"
            && s.reason != "Skipped"
            && s.exit_code != Some(0)
            && !continued.contains(&s.name)
    });
    let message = match failed {
        Some(s) if s.reason == "StartError" => {
            format!("{:?} could not start: {}", s.name, s.message)
        }
        Some(s) if s.reason == "TimeoutExceeded" => format!(
            "{:?} exited because the step exceeded the specified timeout limit; for logs run: kubectl -n {} logs {} -c {}",
            s.name, key.namespace, key.name, s.name
        ),
        Some(s) => format!(
            "{:?} exited with code {}: for logs run: kubectl -n {} logs {} -c {}",
            s.name,
            s.exit_code.unwrap_or(1),
            key.namespace,
            key.name,
            s.name
        ),
        None => "the TaskRun's pod failed".to_string(),
    };
    (reason::FAILED, message)
}

/// Copies the pod's container states into `steps` / `sidecars` and the pod name.
fn observe(st: &mut TaskRunStatus, pod: &TaskPodStatus, task: Option<&TaskSpec>) {
    st.pod_name = pod.key.name.clone();
    let on_error_continue = |container: &str| {
        task.is_some_and(|t| {
            t.steps.iter().enumerate().any(|(i, s)| {
                s.on_error == "continue" && prepare::step_container_name(&s.name, i) == container
            })
        })
    };
    let state = |c: &ContainerRunState, step: bool| {
        let k8s: k8s_openapi::api::core::v1::ContainerState =
            serde_json::from_value(pod::container_state(c)).unwrap_or_default();
        let termination_reason = match (c.phase, c.reason.as_str()) {
            (ContainerPhase::Terminated, "Error") if step && on_error_continue(&c.name) => {
                "Continued"
            }
            (ContainerPhase::Terminated, "Completed") => "Completed",
            (ContainerPhase::Terminated, "Skipped") => "Skipped",
            (ContainerPhase::Terminated, "TimeoutExceeded") => "TimeoutExceeded",
            (ContainerPhase::Terminated, _) => "Error",
            _ => "",
        };
        let short = if step {
            c.name.strip_prefix("step-")
        } else {
            c.name.strip_prefix("sidecar-")
        };
        StepState {
            state: k8s,
            name: short.unwrap_or(&c.name).to_string(),
            container: c.name.clone(),
            image_id: c.image_digest.clone(),
            termination_reason: termination_reason.to_string(),
        }
    };
    st.steps = pod.steps.iter().map(|c| state(c, true)).collect();
    st.sidecars = pod.sidecars.iter().map(|c| state(c, false)).collect();
}

fn finish_failed(ctx: &Ctx, st: &mut TaskRunStatus, reason: &str, message: &str) {
    let now = ctx.clock.now();
    st.start_time.get_or_insert(Time(now));
    st.completion_time = Some(Time(now));
    set_succeeded(&mut st.status.conditions, "False", reason, message, now);
}

/// Writes `status` if it changed (a replace of the status subresource, so fields the
/// new status lacks are cleared; a conflict retries the reconcile).
async fn write_status(ctx: &Ctx, tr: &TaskRun, mut st: TaskRunStatus) -> Result<(), Error> {
    st.status.observed_generation = tr.metadata.generation;
    if tr.status.as_ref() == Some(&st) {
        return Ok(());
    }
    let ns = tr.namespace().unwrap_or_default();
    let api: Api<TaskRun> = Api::namespaced(ctx.client.clone(), &ns);
    let mut obj = tr.clone();
    obj.status = Some(st);
    api.replace_status(&tr.name_any(), &PostParams::default(), &obj)
        .await
        .map_err(|e| {
            Error::api(
                format!("writing the status of TaskRun {ns}/{}", tr.name_any()),
                e,
            )
        })?;
    Ok(())
}

/// Writes the pod's Pod object (errors are logged: the Pod is a view).
async fn mirror(ctx: &Ctx, tr: &TaskRun, live: &TaskPodStatus) {
    let images: Vec<String> = ctx
        .images_of
        .lock()
        .unwrap()
        .get(&live.key)
        .cloned()
        .unwrap_or_default();
    let uid = tr.uid().unwrap_or_default();
    let value = pod::pod_for(live, &images, (&tr.name_any(), &uid));
    if let Err(e) = pod::write(&ctx.client, &value).await {
        tracing::debug!(pod = %live.key, error = %e, "could not mirror the task pod");
    }
}

// ---------------------------------------------------------------------------
// Starting a run
// ---------------------------------------------------------------------------

/// A run that cannot start: the reason and message for the condition.
struct StartError(std::borrow::Cow<'static, str>, String);

/// Records that the run's pod has started (start time, the pod's state,
/// `Succeeded: Unknown` with reason Pending); the run is looked at again by its
/// timeout at the latest.
async fn started(
    ctx: &Arc<Ctx>,
    tr: &TaskRun,
    mut st: TaskRunStatus,
    pod: &TaskPodStatus,
) -> Result<Action, Error> {
    let now = ctx.clock.now();
    st.start_time.get_or_insert(Time(now));
    st.completion_time = None;
    let task = st.task_spec.clone();
    observe(&mut st, pod, task.as_ref());
    set_succeeded(
        &mut st.status.conditions,
        "Unknown",
        reason::PENDING,
        "Pending",
        now,
    );
    write_status(ctx, tr, st).await?;
    Ok(Action::requeue(
        timeout_of(&tr.spec).min(Duration::from_secs(60)),
    ))
}

async fn start(
    tr: &TaskRun,
    ctx: &Arc<Ctx>,
    mut st: TaskRunStatus,
    key: PodKey,
) -> Result<Action, Error> {
    if let Some(pod) = ctx.tasks.pod(&key) {
        // An earlier reconcile started this pod and this (cached) object does not
        // show its status write yet, or that write lost a conflict. Preparing again
        // would wipe the running pod's directories: adopt the pod instead.
        if let Err(StartError(reason, message)) = resolve(tr, ctx, &mut st).await {
            tracing::debug!(%reason, %message, pod = %key, "resolving the Task of a started pod");
        }
        return started(ctx, tr, st, &pod).await;
    }
    match prepare_pod(tr, ctx, &mut st, &key).await {
        Ok(spec) => {
            let images: Vec<String> = spec
                .sidecars
                .iter()
                .chain(&spec.steps)
                .map(|c| c.container.image.clone().unwrap_or_default())
                .collect();
            ctx.images_of.lock().unwrap().insert(key.clone(), images);
            match ctx.tasks.run_pod(spec).await {
                Ok(pod) => {
                    let action = started(ctx, tr, st, &pod).await?;
                    mirror(ctx, tr, &pod).await;
                    Ok(action)
                }
                Err(e) => {
                    RunDirs::new(
                        &ctx.options.data_dir,
                        &key.namespace,
                        &tr.uid().unwrap_or_default(),
                    )
                    .remove();
                    finish_failed(
                        ctx,
                        &mut st,
                        reason::POD_CREATION_FAILED,
                        &format!("failed to create task run pod {:?}: {e}", key.name),
                    );
                    write_status(ctx, tr, st).await?;
                    Ok(Action::await_change())
                }
            }
        }
        Err(StartError(reason, message)) => {
            RunDirs::new(
                &ctx.options.data_dir,
                &key.namespace,
                &tr.uid().unwrap_or_default(),
            )
            .remove();
            finish_failed(ctx, &mut st, &reason, &message);
            write_status(ctx, tr, st).await?;
            Ok(Action::await_change())
        }
    }
}

/// Resolves the Task (lowering v1alpha1 resources), prepares the containers, pulls
/// the images and lays out the dirs: everything up to the runtime call.
/// Resolves the run's Task and substitutes its params (recording the result as
/// `status.taskSpec`): what the pod will run, without touching anything on disk.
async fn resolve(
    tr: &TaskRun,
    ctx: &Arc<Ctx>,
    st: &mut TaskRunStatus,
) -> Result<(prepare::PreparedTaskRun, TaskRunSpec), StartError> {
    let (task_spec, task_name, run_spec) = resolve_task(tr, ctx).await?;
    st.task_spec = Some(task_spec.clone());
    let run_ctx = RunContext {
        task_run_name: tr.name_any(),
        task_run_namespace: tr.namespace().unwrap_or_default(),
        task_run_uid: tr.uid().unwrap_or_default(),
        task_name,
        retry_count: st.retries_status.len() as u32,
    };
    let prepared = prepare::prepare(&task_spec, &run_spec, &run_ctx)
        .map_err(|e| StartError(e.reason.into(), e.message))?;
    st.task_spec = Some(prepared.task_spec.clone());
    Ok((prepared, run_spec))
}

async fn prepare_pod(
    tr: &TaskRun,
    ctx: &Arc<Ctx>,
    st: &mut TaskRunStatus,
    key: &PodKey,
) -> Result<TaskPodSpec, StartError> {
    let ns = key.namespace.clone();
    let name = tr.name_any();
    let (prepared, run_spec) = resolve(tr, ctx, st).await?;

    let sa_name = if run_spec.service_account_name.is_empty() {
        "default".to_string()
    } else {
        run_spec.service_account_name.clone()
    };
    let settings = PodSettings::new(run_spec.pod_template.as_ref())
        .map_err(|e| StartError(reason::POD_CREATION_FAILED.into(), e))?;
    let mut pull_secrets = pull_secrets(ctx, &ns, &sa_name).await;
    pull_secrets.extend(named_secrets(ctx, &ns, &settings.image_pull_secrets).await);
    let dirs = RunDirs::new(&ctx.options.data_dir, &ns, &tr.uid().unwrap_or_default());
    dirs.remove();
    dirs.create()
        .map_err(|e| StartError(reason::POD_CREATION_FAILED.into(), e))?;
    let token_ttl =
        timeout_of(&run_spec).min(Duration::from_secs(48 * 3600)) + Duration::from_secs(3600);
    let token = ctx
        .tokens
        .token(&ns, &sa_name, token_ttl)
        .map_err(|e| {
            StartError(reason::POD_CREATION_FAILED.into(),
                format!("failed to create task run pod {:?}: error looking up service account {ns}/{sa_name}: {e}", key.name),
            )
        })?;
    dirs.write_service_account(&token, &ctx.options.ca_pem, &ns)
        .map_err(|e| StartError(reason::POD_CREATION_FAILED.into(), e))?;

    let mut prepared = prepared;
    prepared.volumes.extend(settings.volumes().iter().cloned());
    let volume_dirs = volumes(ctx, &dirs, &ns, &prepared).await?;
    let platform_env = vec![
        (
            "KUBERNETES_SERVICE_HOST".to_string(),
            crate::API_HOST.to_string(),
        ),
        (
            "KUBERNETES_SERVICE_PORT".to_string(),
            ctx.options.api_port.to_string(),
        ),
        (
            "KUBERNETES_SERVICE_PORT_HTTPS".to_string(),
            ctx.options.api_port.to_string(),
        ),
    ];
    let mut containers = Vec::new();
    for (i, c) in prepared.sidecars.iter().chain(&prepared.steps).enumerate() {
        if let Some(script) = &c.script {
            dirs.write_script(&script.file_name, &script.contents)
                .map_err(|e| StartError(reason::POD_CREATION_FAILED.into(), e))?;
        }
        let image = pull(ctx, &name, c, &pull_secrets).await?;
        let mut container = c.container.clone();
        container.image = Some(c.image.clone());
        settings.apply(&mut container);
        resolve_env(ctx, &ns, &mut container).await.map_err(|e| {
            StartError(
                reason::POD_CREATION_FAILED.into(),
                format!("{:?}: {e}", c.container_name),
            )
        })?;
        let mut mounts = dirs.fixed_mounts();
        if !settings.mount_service_account_token {
            mounts.retain(|m| m.container_path != workdir::SERVICE_ACCOUNT_DIR);
        }
        mounts.extend(workspace_mounts(&volume_dirs, c)?);
        let on_host = |path: &Option<String>| -> Result<Option<std::path::PathBuf>, StartError> {
            let Some(path) = path else { return Ok(None) };
            host_path(&mounts, path).map(Some).ok_or_else(|| {
                StartError(prepare::REASON_VALIDATION_FAILED.into(),
                    format!(
                        "{:?}: stdoutConfig/stderrConfig path {path:?} must be under /workspace, /tekton/results, /tekton/home or a workspace",
                        c.container_name
                    ),
                )
            })
        };
        let (stdout_file, stderr_file) = (on_host(&c.stdout_path)?, on_host(&c.stderr_path)?);
        containers.push((
            i < prepared.sidecars.len(),
            PodContainerSpec {
                name: c.container_name.clone(),
                image,
                container,
                platform_env: platform_env.clone(),
                mounts,
                timeout: c.timeout,
                continue_on_error: c.on_error_continue,
                stdout_file,
                stderr_file,
            },
        ));
    }
    let (sidecars, steps): (Vec<_>, Vec<_>) = containers.into_iter().partition(|(s, _)| *s);
    let mut labels: BTreeMap<String, String> = tr.labels().clone();
    labels.insert(TASK_RUN_LABEL.into(), name.clone());
    labels.insert(TASK_RUN_UID_LABEL.into(), tr.uid().unwrap_or_default());
    labels.insert(
        "app.kubernetes.io/managed-by".into(),
        "tekton-pipelines".into(),
    );
    if let Some(t) = tr.spec.task_ref.as_ref().filter(|t| !t.name.is_empty()) {
        labels.insert("tekton.dev/task".into(), t.name.clone());
    }
    let host = ctx.tasks.host_address();
    Ok(TaskPodSpec {
        key: key.clone(),
        labels,
        steps: steps.into_iter().map(|(_, c)| c).collect(),
        sidecars: sidecars.into_iter().map(|(_, c)| c).collect(),
        extra_hosts: [
            (crate::API_HOST.to_string(), host),
            ("kubernetes.default".to_string(), host),
            ("kubernetes".to_string(), host),
        ]
        .into_iter()
        .chain(settings.host_aliases.iter().cloned())
        .collect(),
    })
}

/// Where a path inside the containers is on the host: under the writable bind mount
/// that holds it (the deepest one), or `None`.
fn host_path(mounts: &[BindMount], path: &str) -> Option<std::path::PathBuf> {
    let path = std::path::Path::new(path);
    if path
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return None;
    }
    mounts
        .iter()
        .filter(|m| !m.read_only)
        .filter_map(|m| {
            let rest = path.strip_prefix(&m.container_path).ok()?;
            Some((m.container_path.len(), m.host_path.join(rest)))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, p)| p)
}

/// The Task to run (by reference or inline, v1alpha1 resources lowered) and the run
/// spec with the resources' params and workspaces added.
async fn resolve_task(
    tr: &TaskRun,
    ctx: &Ctx,
) -> Result<(TaskSpec, String, TaskRunSpec), StartError> {
    let ns = tr.namespace().unwrap_or_default();
    let opts = lowering::LowerOptions {
        git_image: ctx.options.git_image.clone(),
    };
    let mut run = tr.spec.clone();
    let (spec, task_name, resources) = match (&tr.spec.task_ref, &tr.spec.task_spec) {
        (Some(r), _) if !r.name.is_empty() => {
            if !r.kind.is_empty() && r.kind != "Task" {
                return Err(StartError(
                    reason::COULDNT_GET_TASK.into(),
                    format!(
                        "taskRef kind {:?} is not supported by skiff (only Task)",
                        r.kind
                    ),
                ));
            }
            let api: Api<Task> = Api::namespaced(ctx.client.clone(), &ns);
            let task = api.get_opt(&r.name).await.map_err(|e| {
                StartError(
                    reason::COULDNT_GET_TASK.into(),
                    format!(
                        "error when listing tasks for taskRun {}: {e}",
                        tr.name_any()
                    ),
                )
            })?;
            let Some(task) = task else {
                return Err(StartError(
                    reason::COULDNT_GET_TASK.into(),
                    format!(
                        "error when listing tasks for taskRun {}: tasks.tekton.dev {:?} not found",
                        tr.name_any(),
                        r.name
                    ),
                ));
            };
            let resources = lowering::task_resources(&task.metadata);
            (task.spec, r.name.clone(), resources)
        }
        (_, Some(spec)) => (
            spec.clone(),
            String::new(),
            lowering::embedded_task_resources(&tr.metadata, "spec.taskSpec"),
        ),
        _ => {
            return Err(StartError(
                reason::COULDNT_GET_TASK.into(),
                format!("TaskRun {} has neither taskRef nor taskSpec", tr.name_any()),
            ))
        }
    };
    let Some(resources) = resources else {
        return Ok((spec, task_name, run));
    };
    let (spec, lowered) = lowering::lower_task_spec(&spec, &resources, &opts)
        .map_err(|e| StartError(reason::RESOLUTION_FAILED.into(), e.to_string()))?;
    // A TaskRun of a PipelineRun gets the params and workspaces from the lowered
    // Pipeline; one of its own binds PipelineResources by name.
    let Some(bindings) = lowering::task_run_resources(&tr.metadata) else {
        return Ok((spec, task_name, run));
    };
    let known = pipeline_resources(ctx, &ns).await;
    let (params, workspaces) =
        lowering::bind_task_run(&lowered, &bindings, &|n| known.get(n).cloned())
            .map_err(|e| StartError(reason::RESOLUTION_FAILED.into(), e.to_string()))?;
    for p in params {
        if !run.params.iter().any(|q| q.name == p.name) {
            run.params.push(p);
        }
    }
    for w in workspaces {
        if !run.workspaces.iter().any(|q| q.name == w.name) {
            run.workspaces.push(w);
        }
    }
    Ok((spec, task_name, run))
}

/// The namespace's PipelineResources by name (what v1alpha1 runs bind).
pub async fn pipeline_resources(
    ctx: &Ctx,
    ns: &str,
) -> BTreeMap<String, skiff_api::tekton::v1alpha1::PipelineResourceSpec> {
    let api: Api<PipelineResource> = Api::namespaced(ctx.client.clone(), ns);
    api.list(&Default::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
        .into_iter()
        .map(|r| (r.name_any(), r.spec))
        .collect()
}

/// The service account's `imagePullSecrets`, read (missing ones are skipped).
async fn pull_secrets(ctx: &Ctx, ns: &str, sa: &str) -> Vec<Secret> {
    let sas: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), ns);
    let names: Vec<String> = match sas.get_opt(sa).await {
        Ok(Some(sa)) => sa
            .image_pull_secrets
            .unwrap_or_default()
            .into_iter()
            .map(|r| r.name)
            .collect(),
        _ => Vec::new(),
    };
    named_secrets(ctx, ns, &names).await
}

/// The Secrets of these names that exist.
async fn named_secrets(ctx: &Ctx, ns: &str, names: &[String]) -> Vec<Secret> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut out = Vec::new();
    for name in names {
        if let Ok(Some(s)) = secrets.get_opt(name).await {
            out.push(s);
        }
    }
    out
}

/// Resolves and pulls a container's image.
async fn pull(
    ctx: &Ctx,
    task_run: &str,
    c: &PreparedContainer,
    secrets: &[Secret],
) -> Result<skiff_runtime::ImageRootfs, StartError> {
    let fail = |e: String| {
        StartError(reason::IMAGE_PULL_FAILED.into(),
            format!(
                "the step {:?} in TaskRun {task_run:?} failed to pull the image {:?}. The pod errored with the message: {e}",
                c.name, c.image
            ),
        )
    };
    let digest = ctx.images.resolve(&c.image, secrets).await.map_err(fail)?;
    let base = c.image.split('@').next().unwrap_or(&c.image);
    let base = match base.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => base,
    };
    ctx.images
        .pull(&format!("{base}@{digest}"), secrets)
        .await
        .map_err(fail)
}

/// `valueFrom` (ConfigMap/Secret keys) and `envFrom` resolved into plain values.
async fn resolve_env(ctx: &Ctx, ns: &str, c: &mut Container) -> Result<(), String> {
    let cms: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut extra = Vec::new();
    for from in c.env_from.take().unwrap_or_default() {
        let prefix = from.prefix.clone().unwrap_or_default();
        if let Some(r) = &from.config_map_ref {
            match cms.get_opt(&r.name).await.map_err(|e| e.to_string())? {
                Some(cm) => {
                    for (k, v) in cm.data.unwrap_or_default() {
                        extra.push((format!("{prefix}{k}"), v));
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("configmap {:?} not found", r.name)),
            }
        }
        if let Some(r) = &from.secret_ref {
            match secrets.get_opt(&r.name).await.map_err(|e| e.to_string())? {
                Some(s) => {
                    for (k, v) in s.data.unwrap_or_default() {
                        extra.push((
                            format!("{prefix}{k}"),
                            String::from_utf8_lossy(&v.0).into_owned(),
                        ));
                    }
                }
                None if r.optional == Some(true) => {}
                None => return Err(format!("secret {:?} not found", r.name)),
            }
        }
    }
    let mut env = c.env.take().unwrap_or_default();
    for e in env.iter_mut() {
        let Some(from) = e.value_from.take() else {
            continue;
        };
        if let Some(r) = &from.config_map_key_ref {
            let cm = cms.get_opt(&r.name).await.map_err(|e| e.to_string())?;
            match cm.and_then(|cm| cm.data.unwrap_or_default().remove(&r.key)) {
                Some(v) => e.value = Some(v),
                None if r.optional == Some(true) => e.value = Some(String::new()),
                None => {
                    return Err(format!(
                        "env {:?}: key {:?} of configmap {:?} not found",
                        e.name, r.key, r.name
                    ))
                }
            }
        } else if let Some(r) = &from.secret_key_ref {
            let s = secrets.get_opt(&r.name).await.map_err(|e| e.to_string())?;
            match s.and_then(|s| s.data.unwrap_or_default().remove(&r.key)) {
                Some(v) => e.value = Some(String::from_utf8_lossy(&v.0).into_owned()),
                None if r.optional == Some(true) => e.value = Some(String::new()),
                None => {
                    return Err(format!(
                        "env {:?}: key {:?} of secret {:?} not found",
                        e.name, r.key, r.name
                    ))
                }
            }
        } else {
            return Err(format!(
                "env {:?}: only configMapKeyRef and secretKeyRef are supported in valueFrom",
                e.name
            ));
        }
    }
    // envFrom first, explicit env wins (Kubernetes' order).
    let mut all: Vec<k8s_openapi::api::core::v1::EnvVar> = extra
        .into_iter()
        .filter(|(k, _)| !env.iter().any(|e| e.name == *k))
        .map(|(name, value)| k8s_openapi::api::core::v1::EnvVar {
            name,
            value: Some(value),
            value_from: None,
        })
        .collect();
    all.extend(env);
    c.env = Some(all);
    Ok(())
}

/// Host dirs of the run's workspaces and volumes, by name.
struct VolumeDirs {
    workspaces: BTreeMap<String, std::path::PathBuf>,
    volumes: BTreeMap<String, std::path::PathBuf>,
}

async fn volumes(
    ctx: &Ctx,
    dirs: &RunDirs,
    ns: &str,
    prepared: &PreparedTaskRun,
) -> Result<VolumeDirs, StartError> {
    let fail = |e: String| StartError(reason::POD_CREATION_FAILED.into(), e);
    let mut out = VolumeDirs {
        workspaces: BTreeMap::new(),
        volumes: BTreeMap::new(),
    };
    for w in &prepared.workspaces {
        let Some(b) = &w.binding else { continue };
        let source = if let Some(pvc) = &b.persistent_volume_claim {
            Source::Claim(&pvc.claim_name)
        } else if let Some(cm) = &b.config_map {
            Source::ConfigMap(&cm.name)
        } else if let Some(s) = &b.secret {
            Source::Secret(s.secret_name.as_deref().unwrap_or_default())
        } else if b.empty_dir.is_some() || b.volume_claim_template.is_some() {
            Source::Empty
        } else {
            return Err(fail(format!(
                "workspace {:?}: only emptyDir, persistentVolumeClaim, volumeClaimTemplate, configMap and secret bindings are supported by skiff",
                w.name
            )));
        };
        let dir = source_dir(ctx, dirs, ns, &format!("ws-{}", w.name), source)
            .await
            .map_err(fail)?;
        out.workspaces.insert(w.name.clone(), dir);
    }
    for v in &prepared.volumes {
        let source = if v.empty_dir.is_some() {
            Source::Empty
        } else if let Some(cm) = &v.config_map {
            Source::ConfigMap(&cm.name)
        } else if let Some(s) = &v.secret {
            Source::Secret(s.secret_name.as_deref().unwrap_or_default())
        } else if let Some(pvc) = &v.persistent_volume_claim {
            Source::Claim(&pvc.claim_name)
        } else {
            return Err(fail(format!(
                "volume {:?}: only emptyDir, configMap, secret and persistentVolumeClaim volumes are supported by skiff",
                v.name
            )));
        };
        let dir = source_dir(ctx, dirs, ns, &format!("vol-{}", v.name), source)
            .await
            .map_err(fail)?;
        out.volumes.insert(v.name.clone(), dir);
    }
    Ok(out)
}

/// Where a workspace's or volume's files come from.
enum Source<'a> {
    Claim(&'a str),
    ConfigMap(&'a str),
    Secret(&'a str),
    Empty,
}

/// The host dir of a workspace or volume (`name` is its dir under the run).
async fn source_dir(
    ctx: &Ctx,
    dirs: &RunDirs,
    ns: &str,
    name: &str,
    source: Source<'_>,
) -> Result<std::path::PathBuf, String> {
    match source {
        Source::Claim(claim) => dirs.claim(claim),
        Source::ConfigMap(cm) => dirs.files(name, &config_map_files(ctx, ns, cm).await?),
        Source::Secret(secret) => dirs.files(name, &secret_files(ctx, ns, secret).await?),
        Source::Empty => dirs.empty_dir(name),
    }
}

async fn config_map_files(
    ctx: &Ctx,
    ns: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
    let cm = api
        .get_opt(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("configmap {name:?} not found"))?;
    let mut files: BTreeMap<String, Vec<u8>> = cm
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    files.extend(
        cm.binary_data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0)),
    );
    Ok(files)
}

async fn secret_files(
    ctx: &Ctx,
    ns: &str,
    name: &str,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let s = api
        .get_opt(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("secret {name:?} not found"))?;
    Ok(s.data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect())
}

/// The workspace and volume mounts of one container.
fn workspace_mounts(
    dirs: &VolumeDirs,
    c: &PreparedContainer,
) -> Result<Vec<BindMount>, StartError> {
    let fail = |e: String| StartError(reason::POD_CREATION_FAILED.into(), e);
    let mut out = Vec::new();
    for w in &c.workspace_mounts {
        // An optional workspace left unbound has no dir.
        let Some(dir) = dirs.workspaces.get(&w.workspace) else {
            continue;
        };
        out.push(BindMount {
            host_path: workdir::sub_path(dir, &w.sub_path).map_err(fail)?,
            container_path: w.mount_path.clone(),
            read_only: w.read_only,
        });
    }
    for m in c.container.volume_mounts.iter().flatten() {
        let dir = dirs.volumes.get(&m.name).ok_or_else(|| {
            StartError(
                reason::POD_CREATION_FAILED.into(),
                format!(
                    "{:?}: volumeMount {:?} names no volume of the Task",
                    c.container_name, m.name
                ),
            )
        })?;
        let dir = workdir::sub_path(dir, m.sub_path.as_deref().unwrap_or(""))
            .map_err(|e| StartError(reason::POD_CREATION_FAILED.into(), e))?;
        out.push(BindMount {
            host_path: dir,
            container_path: m.mount_path.clone(),
            read_only: m.read_only.unwrap_or(false),
        });
    }
    Ok(out)
}
