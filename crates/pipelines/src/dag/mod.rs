//! What a PipelineRun does next: the pure decision logic of Tekton's PipelineRun
//! reconciler (tektoncd/pipeline `pkg/reconciler/pipelinerun/pipelinerun.go`,
//! `resources/pipelinerunstate.go`, `pipelinerunresolution.go`, `apply.go`,
//! `resultrefresolution.go` and `pkg/reconciler/pipeline/dag/dag.go`), with Tekton's
//! reasons and messages.
//!
//! There is no I/O here. The controller resolves the Pipeline (`pipelineRef` or
//! `pipelineSpec`), lists the PipelineRun's TaskRuns, and calls [`plan`] with the
//! PipelineRun, the [`PipelineSpec`], one [`ChildState`] per TaskRun and the time. The
//! [`Plan`] says which TaskRuns to create ([`NewTaskRun`], with Tekton's name, labels,
//! substituted params, workspaces and timeout), which to cancel ([`CancelTaskRun`]),
//! the `Succeeded` condition, skipped tasks, child references, pipeline results and
//! times; [`Plan::apply_to_status`] writes it into the PipelineRun's status.
//!
//! * [`Dag`] — the graph of pipeline tasks from `runAfter` and result references;
//!   cycles are refused with Tekton's message.
//! * [`validate_run`] — what only run time knows: missing or mistyped params, unbound
//!   workspaces, `taskRunSpecs` for unknown tasks.
//! * [`child_name`] — `kmeta.ChildName`, which names TaskRuns `{run}-{task}`.
//!
//! # Retries
//!
//! Tekton v1 retries a failed TaskRun inside the same TaskRun object: the TaskRun
//! controller re-runs it and keeps the failed attempts in `status.retriesStatus`,
//! and its `Succeeded` condition stays `Unknown` until the last attempt. So a plan
//! only copies the pipeline task's `retries` into the child's `spec.retries`, and a
//! child counts as failed once its condition is `False`.
//!
//! # Not supported
//!
//! Custom tasks (`apiVersion`/`kind` task references, which would need CustomRuns),
//! `matrix` (refused by admission; ignored here), CEL `when` expressions (the run fails
//! with `CELEvaluationFailed`), pipelines in pipelines, and checks that need the
//! referenced Tasks' specs (declared results and optional workspaces of `taskRef`
//! tasks): the TaskRun controller reports those on the TaskRun.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use skiff_api::tekton::v1::{
    ChildStatusReference, Condition, PipelineRun, PipelineRunResult, PipelineRunStatus,
    PipelineSpec, SkippedTask, TaskRun, TaskRunResult, TaskRunSpec, VolumeClaimTemplate,
};

mod error;
mod facts;
mod graph;
mod hash;
mod reconcile;
mod replace;
mod results;
mod taskrun;
mod validate;

#[cfg(test)]
mod tests;

pub use error::{reason, PlanError};
pub use graph::{task_deps, Dag};
pub use hash::{child_name, pvc_name};
pub use reconcile::plan;
pub use validate::validate_run;

pub(crate) use error::go_quote;

/// Label: the Pipeline a TaskRun's PipelineRun runs.
pub const LABEL_PIPELINE: &str = "tekton.dev/pipeline";
/// Label: the PipelineRun a TaskRun belongs to.
pub const LABEL_PIPELINE_RUN: &str = "tekton.dev/pipelineRun";
/// Label: the pipeline task a TaskRun runs.
pub const LABEL_PIPELINE_TASK: &str = "tekton.dev/pipelineTask";
/// Label: whether a TaskRun runs one of the `tasks` or the `finally` tasks.
pub const LABEL_MEMBER_OF: &str = "tekton.dev/memberOf";
/// [`LABEL_MEMBER_OF`] value for `tasks`.
pub const MEMBER_OF_TASKS: &str = "tasks";
/// [`LABEL_MEMBER_OF`] value for `finally`.
pub const MEMBER_OF_FINALLY: &str = "finally";
/// Annotation on TaskRuns of pipeline tasks with `onError: continue`.
pub const ANNOTATION_PIPELINE_TASK_ON_ERROR: &str = "pipeline.tekton.dev/pipeline-task-on-error";

/// `spec.status` of a PipelineRun: cancel everything, finally tasks included.
pub const SPEC_STATUS_CANCELLED: &str = "Cancelled";
/// `spec.status` of a PipelineRun: cancel the running tasks, then run finally.
pub const SPEC_STATUS_CANCELLED_RUN_FINALLY: &str = "CancelledRunFinally";
/// `spec.status` of a PipelineRun: start nothing new, let running tasks end, run finally.
pub const SPEC_STATUS_STOPPED_RUN_FINALLY: &str = "StoppedRunFinally";
/// `spec.status` of a PipelineRun: do not start yet.
pub const SPEC_STATUS_PENDING: &str = "PipelineRunPending";
/// `spec.status` that cancels a TaskRun, and the reason of a cancelled TaskRun.
pub const TASK_RUN_CANCELLED: &str = "TaskRunCancelled";
/// `spec.statusMessage` of a TaskRun cancelled because its PipelineRun was.
pub const CANCELLED_BY_PIPELINE_MSG: &str =
    "TaskRun cancelled as the PipelineRun it belongs to has been cancelled.";
/// `spec.statusMessage` of a TaskRun cancelled because its PipelineRun timed out.
pub const CANCELLED_BY_PIPELINE_TIMEOUT_MSG: &str =
    "TaskRun cancelled as the PipelineRun it belongs to has timed out.";

/// Why a pipeline task was skipped (`SkippingReason` in Tekton's v1 API); the string
/// goes into `status.skippedTasks[].reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// Its `when` expressions are false. Only this task is skipped: tasks after it
    /// still run unless they consume its results.
    When,
    /// A task it waits for was skipped (other than by its own `when` expressions).
    ParentTasks,
    /// A task failed, so nothing new starts.
    Stopping,
    /// `spec.status: CancelledRunFinally`.
    GracefullyCancelled,
    /// `spec.status: StoppedRunFinally`.
    GracefullyStopped,
    /// It consumes results a skipped task never produced.
    MissingResults,
    /// `timeouts.pipeline` passed before it could start.
    PipelineTimedOut,
    /// `timeouts.tasks` passed before it could start.
    TasksTimedOut,
    /// `timeouts.finally` passed before it could start.
    FinallyTimedOut,
}

impl SkipReason {
    /// Tekton's text for the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::When => "When Expressions evaluated to false",
            SkipReason::ParentTasks => "Parent Tasks were skipped",
            SkipReason::Stopping => "PipelineRun was stopping",
            SkipReason::GracefullyCancelled => "PipelineRun was gracefully cancelled",
            SkipReason::GracefullyStopped => "PipelineRun was gracefully stopped",
            SkipReason::MissingResults => "Results were missing",
            SkipReason::PipelineTimedOut => "PipelineRun timeout has been reached",
            SkipReason::TasksTimedOut => "PipelineRun Tasks timeout has been reached",
            SkipReason::FinallyTimedOut => "PipelineRun Finally timeout has been reached",
        }
    }
}

/// What the controller observed of one TaskRun of the PipelineRun.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChildState {
    /// The pipeline task it runs (its `tekton.dev/pipelineTask` label).
    pub pipeline_task: String,
    /// The TaskRun's name.
    pub name: String,
    /// Its `Succeeded` condition: `Some(true)`/`Some(false)` once done, `None` while
    /// running (also between retry attempts).
    pub succeeded: Option<bool>,
    /// The reason of that condition (`TaskRunCancelled` marks a cancelled TaskRun).
    pub reason: String,
    /// `status.results`.
    pub results: Vec<TaskRunResult>,
    /// `spec.status` (`TaskRunCancelled` once cancellation was requested).
    pub spec_status: String,
    /// `spec.statusMessage` (tells a timeout from a cancel).
    pub spec_status_message: String,
    /// Attempts that already failed (`status.retriesStatus`), for information.
    pub retries_done: u32,
}

impl ChildState {
    /// The state of a TaskRun as read from the API.
    pub fn from_task_run(tr: &TaskRun) -> ChildState {
        let status = tr.status.clone().unwrap_or_default();
        let cond = status
            .status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == "Succeeded");
        ChildState {
            pipeline_task: tr
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(LABEL_PIPELINE_TASK))
                .cloned()
                .unwrap_or_default(),
            name: tr.metadata.name.clone().unwrap_or_default(),
            succeeded: cond.and_then(|c| match c.status.as_str() {
                "True" => Some(true),
                "False" => Some(false),
                _ => None,
            }),
            reason: cond.and_then(|c| c.reason.clone()).unwrap_or_default(),
            results: status.results.clone(),
            spec_status: tr.spec.status.clone(),
            spec_status_message: tr.spec.status_message.clone(),
            retries_done: status.retries_status.len() as u32,
        }
    }

    fn is_done(&self) -> bool {
        self.succeeded.is_some()
    }
}

/// A TaskRun to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTaskRun {
    /// Its name: the one already in the status' child references, else
    /// [`child_name`]`(run, "-" + task)`.
    pub name: String,
    /// The pipeline task it runs.
    pub pipeline_task: String,
    /// Whether it is a finally task.
    pub finally: bool,
    /// `taskRunSpecs` metadata, the PipelineRun's labels, `tekton.dev/pipeline`,
    /// `tekton.dev/pipelineRun`, `tekton.dev/pipelineTask`, `tekton.dev/memberOf`, and
    /// an embedded task's labels (earlier sources win, as in Tekton).
    pub labels: BTreeMap<String, String>,
    /// `taskRunSpecs` metadata, the PipelineRun's annotations, the embedded task's, and
    /// [`ANNOTATION_PIPELINE_TASK_ON_ERROR`] for `onError: continue`.
    pub annotations: BTreeMap<String, String>,
    /// Params substituted, task reference or spec, workspaces, service account, pod
    /// template, `retries` and `timeout`.
    pub spec: TaskRunSpec,
}

impl NewTaskRun {
    /// The TaskRun object: in the PipelineRun's namespace, controlled by it.
    pub fn to_task_run(&self, run: &PipelineRun) -> TaskRun {
        let owner = OwnerReference {
            api_version: "tekton.dev/v1".into(),
            kind: "PipelineRun".into(),
            name: run.metadata.name.clone().unwrap_or_default(),
            uid: run.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        TaskRun {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: run.metadata.namespace.clone(),
                labels: Some(self.labels.clone()),
                annotations: (!self.annotations.is_empty()).then(|| self.annotations.clone()),
                owner_references: Some(vec![owner]),
                ..Default::default()
            },
            spec: self.spec.clone(),
            status: None,
        }
    }
}

/// A TaskRun to cancel: set `spec.status` to [`TASK_RUN_CANCELLED`] and
/// `spec.statusMessage` to `status_message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelTaskRun {
    /// The TaskRun's name.
    pub name: String,
    /// The pipeline task it runs.
    pub pipeline_task: String,
    /// [`CANCELLED_BY_PIPELINE_MSG`] or [`CANCELLED_BY_PIPELINE_TIMEOUT_MSG`].
    pub status_message: String,
}

/// A PersistentVolumeClaim a `volumeClaimTemplate` workspace binding needs (create it,
/// owned by the PipelineRun, if it does not exist yet).
#[derive(Debug, Clone, PartialEq)]
pub struct NewPvc {
    /// The claim's name ([`pvc_name`]).
    pub name: String,
    /// The PipelineRun workspace it backs.
    pub workspace: String,
    /// The template.
    pub template: VolumeClaimTemplate,
}

/// What to do for a PipelineRun now. Apply `to_cancel`, `pvcs` and `to_create`
/// (treating "already exists" as done), then write the status
/// ([`Plan::apply_to_status`]); if an API call fails, retry the whole reconcile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// `status.startTime`, when the run starts now.
    pub start_time: Option<Timestamp>,
    /// TaskRuns to create.
    pub to_create: Vec<NewTaskRun>,
    /// TaskRuns to cancel.
    pub to_cancel: Vec<CancelTaskRun>,
    /// Claims to ensure before creating TaskRuns.
    pub pvcs: Vec<NewPvc>,
    /// `status.skippedTasks`.
    pub skipped: Vec<SkippedTask>,
    /// `status.childReferences` (existing ones kept, new ones added).
    pub child_references: Vec<ChildStatusReference>,
    /// The `Succeeded` condition; `None` when the run was already done (nothing to do).
    pub condition: Option<Condition>,
    /// `status.results`, once the run is done.
    pub results: Vec<PipelineRunResult>,
    /// `status.finallyStartTime`, when finally tasks start now.
    pub finally_start_time: Option<Timestamp>,
    /// `status.completionTime`, when the run ends now.
    pub completion_time: Option<Timestamp>,
    /// `status.pipelineSpec`: the pipeline with the run's params substituted.
    pub pipeline_spec: Option<PipelineSpec>,
    /// Reconcile again after this long at the latest (the next timeout).
    pub requeue_after: Option<std::time::Duration>,
}

impl Plan {
    /// Whether the run is finished (its condition is `True` or `False`).
    pub fn is_done(&self) -> bool {
        self.condition
            .as_ref()
            .is_some_and(|c| c.status == "True" || c.status == "False")
    }

    /// Writes the plan into a PipelineRun status. A condition equal to the current one
    /// (but for its time) keeps its `lastTransitionTime`, as Knative's condition sets do.
    pub fn apply_to_status(&self, status: &mut PipelineRunStatus) {
        let Some(cond) = &self.condition else {
            return;
        };
        if let Some(t) = self.start_time {
            status.start_time = Some(Time(t));
        }
        let conditions = status.status.conditions.get_or_insert_with(Vec::new);
        match conditions.iter_mut().find(|c| c.type_ == cond.type_) {
            Some(c) => {
                let same =
                    c.status == cond.status && c.reason == cond.reason && c.message == cond.message;
                if !same {
                    *c = cond.clone();
                }
            }
            None => conditions.push(cond.clone()),
        }
        if let Some(t) = self.finally_start_time {
            status.finally_start_time = Some(Time(t));
        }
        if let Some(t) = self.completion_time {
            status.completion_time = Some(Time(t));
        }
        status.skipped_tasks = self.skipped.clone();
        status.child_references = self.child_references.clone();
        if self.is_done() {
            status.results = self.results.clone();
        }
        if let Some(spec) = &self.pipeline_spec {
            status.pipeline_spec = Some(spec.clone());
        }
    }
}

/// The name of the Pipeline a run runs (`tekton.dev/pipeline`, `$(context.pipeline.name)`):
/// its `pipelineRef` name, else its `tekton.dev/pipeline` label, else the run's name
/// (embedded `pipelineSpec`), as Tekton's `propagatePipelineNameLabelToPipelineRun`.
pub fn pipeline_name(run: &PipelineRun) -> String {
    if let Some(r) = run
        .spec
        .pipeline_ref
        .as_ref()
        .filter(|r| !r.name.is_empty())
    {
        return r.name.clone();
    }
    if let Some(l) = run
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_PIPELINE))
    {
        return l.clone();
    }
    run.metadata.name.clone().unwrap_or_default()
}

/// `GetTaskRunName`: the TaskRun name already recorded for `task` in the status' child
/// references, else `kmeta.ChildName(run, "-" + task)`.
pub fn task_run_name(run: &str, child_references: &[ChildStatusReference], task: &str) -> String {
    child_references
        .iter()
        .find(|r| r.pipeline_task_name == task && (r.kind.is_empty() || r.kind == "TaskRun"))
        .map(|r| r.name.clone())
        .unwrap_or_else(|| child_name(run, &format!("-{task}")))
}
