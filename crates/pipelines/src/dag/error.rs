//! Tekton's reasons for a PipelineRun's `Succeeded` condition, and the errors that
//! fail a run, worded as Tekton's reconciler words them.

use std::collections::BTreeMap;

pub(crate) use crate::gofmt::go_quote;
use crate::gofmt::{go_list, go_map};

/// Reasons of a PipelineRun's `Succeeded` condition (`PipelineRunReason` in Tekton's
/// `pipelinerun_types.go`).
pub mod reason {
    /// Just started.
    pub const STARTED: &str = "Started";
    /// Tasks are running or left to run.
    pub const RUNNING: &str = "Running";
    /// Every task succeeded.
    pub const SUCCEEDED: &str = "Succeeded";
    /// Every task succeeded or was skipped, and some were skipped.
    pub const COMPLETED: &str = "Completed";
    /// A task failed.
    pub const FAILED: &str = "Failed";
    /// Cancelled by the user.
    pub const CANCELLED: &str = "Cancelled";
    /// `spec.status: PipelineRunPending`.
    pub const PENDING: &str = "PipelineRunPending";
    /// `timeouts.pipeline` passed.
    pub const TIMED_OUT: &str = "PipelineRunTimeout";
    /// A task failed or was cancelled: nothing new starts, running tasks end.
    pub const STOPPING: &str = "PipelineRunStopping";
    /// `CancelledRunFinally` in progress.
    pub const CANCELLED_RUNNING_FINALLY: &str = "CancelledRunningFinally";
    /// `StoppedRunFinally` in progress.
    pub const STOPPED_RUNNING_FINALLY: &str = "StoppedRunningFinally";
    /// The pipeline's tasks do not form a DAG.
    pub const INVALID_GRAPH: &str = "PipelineInvalidGraph";
    /// A param without default is not given.
    pub const PARAMETER_MISSING: &str = "ParameterMissing";
    /// A param is given with another type than declared.
    pub const PARAMETER_TYPE_MISMATCH: &str = "ParameterTypeMismatch";
    /// An object param lacks declared keys.
    pub const OBJECT_PARAMETER_MISS_KEYS: &str = "ObjectParameterMissKeys";
    /// A required Pipeline workspace is not bound.
    pub const INVALID_WORKSPACE_BINDINGS: &str = "InvalidWorkspaceBindings";
    /// `taskRunSpecs` names a task the pipeline does not have.
    pub const INVALID_TASK_RUN_SPECS: &str = "InvalidTaskRunSpecs";
    /// Run-time validation failed.
    pub const FAILED_VALIDATION: &str = "PipelineValidationFailed";
    /// A task consumes a result its producer did not write.
    pub const INVALID_TASK_RESULT_REFERENCE: &str = "InvalidTaskResultReference";
    /// A pipeline result references a result that does not exist.
    pub const COULDNT_GET_PIPELINE_RESULT: &str = "CouldntGetPipelineResult";
    /// A TaskRun could not be made.
    pub const CREATE_RUN_FAILED: &str = "CreateRunFailed";
    /// A CEL `when` expression could not be evaluated.
    pub const CEL_EVALUATION_FAILED: &str = "CELEvaluationFailed";
}

/// Why a PipelineRun cannot go on; [`PlanError::reason`] and
/// [`PlanError::failure_message`] give its failed `Succeeded` condition. `Display` is
/// the inner error as Tekton words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Two pipeline tasks share a name.
    #[error("task {0} is already present in Graph, can't add it again: duplicate pipeline task")]
    DuplicateTask(String),
    /// The tasks depend on each other in a circle; the message names the smallest task
    /// left in it and what it depends on.
    #[error("cycle detected; {0}")]
    Cycle(String),
    /// A task depends on a task that is not in the pipeline.
    #[error("couldn't add link between {task} and {dep}: task {task} depends on {dep} but {dep} wasn't present in Pipeline")]
    UnknownTask {
        /// The depending task.
        task: String,
        /// The missing task.
        dep: String,
    },
    /// `finally` repeats a name (also one of `tasks`).
    #[error("{0}")]
    FinallyGraph(Box<PlanError>),
    /// Params without default that the run does not give.
    #[error("PipelineRun missing parameters: {}", go_list(.0))]
    MissingParams(Vec<String>),
    /// Params given with another type than declared.
    #[error("parameters have inconsistent types : {}", go_list(.0))]
    ParamTypeMismatch(Vec<String>),
    /// Object params lacking keys their `properties` declare.
    #[error("PipelineRun missing object keys for parameters: {}", go_map(.0))]
    MissingObjectKeys(BTreeMap<String, Vec<String>>),
    /// A required Pipeline workspace the run does not bind.
    #[error("pipeline requires workspace with name {} be provided by pipelinerun", go_quote(.0))]
    MissingWorkspace(String),
    /// `taskRunSpecs` for a task the pipeline does not have.
    #[error("pipelineRun's taskrunSpecs defined wrong taskName: {}, does not exist in Pipeline", go_quote(.0))]
    UnknownTaskRunSpec(String),
    /// A task skiff cannot run (a custom task, or neither `taskRef` nor `taskSpec`).
    #[error("{0}")]
    Unsupported(String),
    /// A CEL `when` expression (not supported by skiff).
    #[error("CEL in when expressions is not supported by skiff: {0}")]
    Cel(String),
    /// A task consumes a result that its finished producer did not write.
    #[error(
        "Invalid task result reference: Could not find result with name {result} for task {task}"
    )]
    InvalidTaskResultReference {
        /// The producing task.
        task: String,
        /// The missing result.
        result: String,
    },
    /// A task's workspace is not bound by the run (and not optional).
    #[error("expected workspace {} to be provided by pipelinerun for pipeline task {}", go_quote(.workspace), go_quote(.task))]
    MissingTaskWorkspace {
        /// The Pipeline workspace.
        workspace: String,
        /// The pipeline task.
        task: String,
    },
    /// Pipeline results that reference results that do not exist.
    #[error("invalid pipelineresults {}, the referenced results don't exist", go_list(.0))]
    PipelineResults(Vec<String>),
}

impl PlanError {
    /// The reason of the failed `Succeeded` condition.
    pub fn reason(&self) -> &'static str {
        match self {
            PlanError::DuplicateTask(_)
            | PlanError::Cycle(_)
            | PlanError::UnknownTask { .. }
            | PlanError::FinallyGraph(_) => reason::INVALID_GRAPH,
            PlanError::MissingParams(_) => reason::PARAMETER_MISSING,
            PlanError::ParamTypeMismatch(_) => reason::PARAMETER_TYPE_MISMATCH,
            PlanError::MissingObjectKeys(_) => reason::OBJECT_PARAMETER_MISS_KEYS,
            PlanError::MissingWorkspace(_) => reason::INVALID_WORKSPACE_BINDINGS,
            PlanError::UnknownTaskRunSpec(_) => reason::INVALID_TASK_RUN_SPECS,
            PlanError::Unsupported(_) => reason::FAILED_VALIDATION,
            PlanError::Cel(_) => reason::CEL_EVALUATION_FAILED,
            PlanError::InvalidTaskResultReference { .. } => reason::INVALID_TASK_RESULT_REFERENCE,
            PlanError::MissingTaskWorkspace { .. } => reason::CREATE_RUN_FAILED,
            PlanError::PipelineResults(_) => reason::COULDNT_GET_PIPELINE_RESULT,
        }
    }

    /// The message of the failed `Succeeded` condition, worded as Tekton's reconciler
    /// does (user errors prefixed `[User error] `), for PipelineRun `namespace/run` of
    /// Pipeline `pipeline`.
    pub fn failure_message(&self, namespace: &str, run: &str, pipeline: &str) -> String {
        match self {
            PlanError::DuplicateTask(_) | PlanError::Cycle(_) | PlanError::UnknownTask { .. } => {
                format!("[User error] PipelineRun {namespace}/{run}'s Pipeline DAG is invalid: {self}")
            }
            PlanError::FinallyGraph(e) => format!(
                "[User error] PipelineRun {namespace}/{run}'s Pipeline DAG is invalid for finally clause: {e}"
            ),
            PlanError::MissingParams(_) => format!(
                "PipelineRun {namespace}/{run} is missing some parameters required by Pipeline {namespace}/{pipeline}: {self}"
            ),
            PlanError::ParamTypeMismatch(_) => format!(
                "PipelineRun {namespace}/{run} parameters have mismatching types with Pipeline {namespace}/{pipeline}'s parameters: {self}"
            ),
            PlanError::MissingObjectKeys(_) => format!(
                "PipelineRun {namespace}/{run} parameters is missing object keys required by Pipeline {namespace}/{pipeline}'s parameters: {self}"
            ),
            PlanError::MissingWorkspace(_) => format!(
                "[User error] PipelineRun {namespace}/{run} doesn't bind Pipeline {namespace}/{pipeline}'s Workspaces correctly: {self}"
            ),
            PlanError::UnknownTaskRunSpec(_) => format!(
                "[User error] PipelineRun {namespace}/{run} doesn't define taskRunSpecs correctly: {self}"
            ),
            PlanError::Unsupported(_) => format!(
                "[User error] PipelineRun {namespace}/{run} can't be Run; couldn't resolve all references: {self}"
            ),
            PlanError::Cel(_) => format!("[User error] Error evaluating CEL {run}: {self}"),
            PlanError::InvalidTaskResultReference { .. } | PlanError::MissingTaskWorkspace { .. } => {
                self.to_string()
            }
            PlanError::PipelineResults(_) => format!(
                "Failed to get PipelineResult from TaskRun Results for PipelineRun {run}: {self}"
            ),
        }
    }
}
