//! `tekton.dev/v1alpha1`: the older shapes real tutorials still use, and
//! `PipelineResource`.
//!
//! A v1alpha1 Task declares its params and PipelineResources under `inputs` and
//! `outputs` (`inputs.params`, `inputs.resources`, `outputs.resources`) and refers to
//! them as `$(inputs.params.x)`, `$(inputs.resources.source.path)`,
//! `$(outputs.resources.image.url)`; a TaskRun binds them under `inputs`/`outputs`.
//! Since Tekton 0.11 v1alpha1 also accepted the v1beta1 fields, so these types are the
//! v1beta1 ones plus `inputs`/`outputs`. Objects written at this version are stored as
//! v1 (see [`super::convert`]); [`super::resources`] turns their PipelineResources into
//! workspaces, params and a clone step for the runner.
//!
//! `PipelineResource` (`tekton.dev/v1alpha1` only) of type `git` (`url`, `revision`)
//! and `image` (`url`, `digest`) is supported; the other Tekton types (`cluster`,
//! `storage`, `pullRequest`, `cloudEvent`, `gcs`, ...) are refused by admission.

// Each `printcolumn(...)` repeats `type_ = "string"`, which this lint misreads.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::api::core::v1::Volume;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::v1::{
    drop_default, preserve_object, preserve_object_list, Param, ParamSpec, PipelineResult,
    PipelineWorkspaceDeclaration, PodTemplate, TaskResult, TimeoutFields, WhenExpression,
    WorkspaceBinding, WorkspaceDeclaration, WorkspacePipelineTaskBinding,
};
use super::v1beta1::{
    self, PipelineDeclaredResource, PipelineResourceBinding, PipelineRunSpecServiceAccountName,
    PipelineTaskCondition, PipelineTaskResources, ResourceDeclaration, Sidecar, Step, StepTemplate,
    TaskResourceBinding, TaskResources, TaskRunResources,
};

/// API version implemented here.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of this module's kinds.
pub const API_VERSION: &str = "tekton.dev/v1alpha1";

/// The PipelineResource types skiff supports.
pub const SUPPORTED_RESOURCE_TYPES: [&str; 2] = ["git", "image"];

// ---------------------------------------------------------------------------
// PipelineResource
// ---------------------------------------------------------------------------

/// Desired state of a PipelineResource: its type and the params of that type.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tekton.dev",
    version = "v1alpha1",
    kind = "PipelineResource",
    plural = "pipelineresources",
    singular = "pipelineresource",
    category = "tekton",
    category = "tekton-pipelines",
    namespaced,
    derive = "PartialEq",
    doc = "PipelineResource describes a resource that is an input to or output from a Task: a git repository (url, revision) or an image (url)."
)]
#[serde(rename_all = "camelCase")]
pub struct PipelineResourceSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Type of the resource: `git` or `image` (other Tekton types are refused).
    #[serde(rename = "type")]
    pub type_: String,
    /// Params of the resource: `url` and `revision` for git, `url` and `digest` for image.
    #[serde(default)]
    #[schemars(transform = drop_default)]
    pub params: Vec<ResourceParam>,
    /// Secrets to fetch to populate some of the resource's fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretParam>,
}

impl PipelineResourceSpec {
    /// The value of param `name` (case-insensitive, as Tekton matches them).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_str())
    }
}

/// A string value of a PipelineResource param.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ResourceParam {
    pub name: String,
    pub value: String,
}

/// Which secret key populates a field of the resource.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretParam {
    pub field_name: String,
    pub secret_key: String,
    pub secret_name: String,
}

// ---------------------------------------------------------------------------
// Task
// ---------------------------------------------------------------------------

/// What a v1alpha1 Task takes: params and PipelineResources.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Inputs {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceDeclaration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
}

/// What a v1alpha1 Task produces.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Outputs {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceDeclaration>,
    /// Test results (Tekton never used them; kept as written, ignored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<TestResult>,
}

/// Where a v1alpha1 Task left test results.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TestResult {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub format: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
}

/// Desired state of a v1alpha1 Task: the v1beta1 fields plus `inputs` and `outputs`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tekton.dev",
    version = "v1alpha1",
    kind = "Task",
    plural = "tasks",
    singular = "task",
    category = "tekton",
    category = "tekton-pipelines",
    namespaced,
    derive = "PartialEq",
    doc = "Task represents a collection of sequential steps that are run as part of a Pipeline using a set of inputs and producing a set of outputs."
)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    /// Params and PipelineResources the Task takes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<Inputs>,
    /// PipelineResources the Task produces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Outputs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<TaskResources>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Steps are the steps of the build; each step is run sequentially.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "preserve_object_list")]
    pub volumes: Vec<Volume>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_template: Option<StepTemplate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<Sidecar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceDeclaration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<TaskResult>,
}

// ---------------------------------------------------------------------------
// TaskRun
// ---------------------------------------------------------------------------

/// The params and PipelineResources a v1alpha1 TaskRun gives its Task.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TaskRunInputs {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<TaskResourceBinding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

/// The PipelineResources a v1alpha1 TaskRun's Task produces.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TaskRunOutputs {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<TaskResourceBinding>,
}

/// Desired state of a v1alpha1 TaskRun.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tekton.dev",
    version = "v1alpha1",
    kind = "TaskRun",
    plural = "taskruns",
    singular = "taskrun",
    shortname = "tr",
    shortname = "trs",
    category = "tekton",
    category = "tekton-pipelines",
    namespaced,
    status = "v1beta1::TaskRunStatus",
    derive = "PartialEq",
    doc = "TaskRun represents a single execution of a Task.",
    printcolumn(
        name = "Succeeded",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Succeeded\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Succeeded\")].reason"
    ),
    printcolumn(name = "StartTime", type_ = "date", json_path = ".status.startTime"),
    printcolumn(
        name = "CompletionTime",
        type_ = "date",
        json_path = ".status.completionTime"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TaskRunSpec {
    /// Params and PipelineResources given to the Task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<TaskRunInputs>,
    /// PipelineResources the Task produces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<TaskRunOutputs>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<TaskRunResources>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ref: Option<v1beta1::TaskRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_spec: Option<TaskSpec>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub pod_template: Option<PodTemplate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceBinding>,
}

// ---------------------------------------------------------------------------
// Pipeline
// ---------------------------------------------------------------------------

/// One task of a v1alpha1 Pipeline.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineTask {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ref: Option<v1beta1::TaskRef>,
    /// A v1alpha1 Task spec, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_spec: Option<TaskSpec>,
    /// Conditions (refused by skiff: use `when`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<PipelineTaskCondition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<WhenExpression>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_after: Vec<String>,
    /// PipelineResources this task takes (`from` earlier tasks) and produces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<PipelineTaskResources>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspacePipelineTaskBinding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Desired state of a v1alpha1 Pipeline.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tekton.dev",
    version = "v1alpha1",
    kind = "Pipeline",
    plural = "pipelines",
    singular = "pipeline",
    category = "tekton",
    category = "tekton-pipelines",
    namespaced,
    derive = "PartialEq",
    doc = "Pipeline describes a list of Tasks to execute. It expresses how outputs of tasks feed into inputs of subsequent tasks."
)]
#[serde(rename_all = "camelCase")]
pub struct PipelineSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// PipelineResources the Pipeline takes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<PipelineDeclaredResource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<PipelineTask>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<PipelineWorkspaceDeclaration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<PipelineResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finally: Vec<PipelineTask>,
}

// ---------------------------------------------------------------------------
// PipelineRun
// ---------------------------------------------------------------------------

/// Desired state of a v1alpha1 PipelineRun.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tekton.dev",
    version = "v1alpha1",
    kind = "PipelineRun",
    plural = "pipelineruns",
    singular = "pipelinerun",
    shortname = "pr",
    shortname = "prs",
    category = "tekton",
    category = "tekton-pipelines",
    namespaced,
    status = "v1beta1::PipelineRunStatus",
    derive = "PartialEq",
    doc = "PipelineRun represents a single execution of a Pipeline.",
    printcolumn(
        name = "Succeeded",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Succeeded\")].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Succeeded\")].reason"
    ),
    printcolumn(name = "StartTime", type_ = "date", json_path = ".status.startTime"),
    printcolumn(
        name = "CompletionTime",
        type_ = "date",
        json_path = ".status.completionTime"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRunSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_ref: Option<v1beta1::PipelineRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub pipeline_spec: Option<PipelineSpec>,
    /// PipelineResources given to the Pipeline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<PipelineResourceBinding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_account_names: Vec<PipelineRunSpecServiceAccountName>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<TimeoutFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub pod_template: Option<PodTemplate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceBinding>,
}
