//! `tekton.dev/v1`: Task, TaskRun, Pipeline and PipelineRun — the storage version.
//!
//! Field names, optionality and CRD names/columns follow tektoncd/pipeline
//! `pkg/apis/pipeline/v1/*_types.go` and `config/300-crds/*.yaml`, so users' Tekton
//! manifests deserialize unchanged. Like Tekton's own CRDs, the bulky parts that
//! Tekton marks `Schemaless` (task volumes, pod templates, the embedded pipeline spec
//! of a PipelineRun and the spec copies in statuses) keep unknown fields instead of
//! carrying a full schema.

// Each `printcolumn(...)` repeats `type_ = "string"`, which this lint misreads.
#![allow(clippy::duplicated_attributes)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    CSIVolumeSource, ConfigMapVolumeSource, ContainerPort, ContainerState, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, Lifecycle, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource,
    Probe, ProjectedVolumeSource, ResourceRequirements, SecretVolumeSource, SecurityContext,
    Volume, VolumeDevice, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

pub use crate::serving::v1::{Condition, KnativeStatus};

/// API version implemented here.
pub const VERSION: &str = "v1";
/// `apiVersion` of this module's kinds.
pub const API_VERSION: &str = "tekton.dev/v1";

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

// ---------------------------------------------------------------------------
// Params and results
// ---------------------------------------------------------------------------

/// A parameter or result value: a string, an array of strings or an object of
/// strings (Tekton's `ParamValue`, modelled after IntOrString). Any other JSON
/// reads as its JSON text, as Tekton's unmarshaller does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParamValue {
    String(String),
    Array(Vec<String>),
    Object(BTreeMap<String, String>),
}

impl Default for ParamValue {
    fn default() -> Self {
        ParamValue::String(String::new())
    }
}

impl ParamValue {
    /// Reads a JSON value the way Tekton's `ParamValue.UnmarshalJSON` does.
    pub fn from_json(v: &Value) -> ParamValue {
        match v {
            Value::String(s) => ParamValue::String(s.clone()),
            Value::Null => ParamValue::String(String::new()),
            Value::Array(a) if a.iter().all(Value::is_string) => ParamValue::Array(
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect(),
            ),
            Value::Object(m) if m.values().all(Value::is_string) => ParamValue::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
            ),
            other => ParamValue::String(other.to_string()),
        }
    }

    /// `string`, `array` or `object`.
    pub fn type_name(&self) -> &'static str {
        match self {
            ParamValue::String(_) => "string",
            ParamValue::Array(_) => "array",
            ParamValue::Object(_) => "object",
        }
    }

    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ParamValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// Every string held (the value, the array items or the object values).
    pub fn strings(&self) -> Vec<&str> {
        match self {
            ParamValue::String(s) => vec![s.as_str()],
            ParamValue::Array(a) => a.iter().map(String::as_str).collect(),
            ParamValue::Object(m) => m.values().map(String::as_str).collect(),
        }
    }
}

impl From<&str> for ParamValue {
    fn from(s: &str) -> Self {
        ParamValue::String(s.to_string())
    }
}

impl Serialize for ParamValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ParamValue::String(v) => v.serialize(s),
            ParamValue::Array(v) => v.serialize(s),
            ParamValue::Object(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ParamValue::from_json(&Value::deserialize(d)?))
    }
}

impl JsonSchema for ParamValue {
    fn schema_name() -> Cow<'static, str> {
        "ParamValue".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A string, an array of strings or an object of strings.",
            "x-kubernetes-preserve-unknown-fields": true
        })
    }
}

/// Declares a parameter a Task or Pipeline takes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParamSpec {
    /// Name declares the name by which a parameter is referenced.
    pub name: String,
    /// Type is the user-specified type of the parameter: "string" (the default),
    /// "array" or "object".
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Description is a user-facing description of the parameter.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Properties is the JSON Schema properties of an object parameter's keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, PropertySpec>>,
    /// Default is the value a parameter takes if no value is supplied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<ParamValue>,
    /// Enum declares a set of allowed param input values.
    #[serde(default, rename = "enum", skip_serializing_if = "Vec::is_empty")]
    pub enum_: Vec<String>,
}

/// The type of one key of an object parameter or result.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PropertySpec {
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
}

/// A value for the parameter called `name`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Param {
    pub name: String,
    pub value: ParamValue,
}

impl Param {
    /// A string parameter.
    pub fn string(name: &str, value: &str) -> Param {
        Param {
            name: name.to_string(),
            value: value.into(),
        }
    }
}

/// A result a Task produces.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskResult {
    /// Name the given name.
    pub name: String,
    /// Type is "string" (the default), "array" or "object".
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    /// Properties is the JSON Schema properties of an object result's keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<BTreeMap<String, PropertySpec>>,
    /// Description is a human-readable description of the result.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Value the expression used to retrieve the value of the result from a step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<ParamValue>,
}

/// A result a TaskRun produced.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TaskRunResult {
    pub name: String,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    pub value: ParamValue,
}

/// A result a Pipeline produces, computed from its tasks' results.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PipelineResult {
    pub name: String,
    #[serde(default, rename = "type", skip_serializing_if = "String::is_empty")]
    pub type_: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Value the expression used to retrieve the value, e.g. `$(tasks.build.results.digest)`.
    pub value: ParamValue,
}

/// A result a PipelineRun produced.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PipelineRunResult {
    pub name: String,
    pub value: ParamValue,
}

// ---------------------------------------------------------------------------
// Workspaces
// ---------------------------------------------------------------------------

/// A volume a Task requires.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceDeclaration {
    /// Name is the name by which you can bind the volume at runtime.
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// MountPath overrides the directory the volume is made available at
    /// (default `/workspace/<name>`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mount_path: String,
    /// ReadOnly dictates whether a mounted volume is writable.
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// Optional marks a Workspace as not being required in TaskRuns.
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
}

impl WorkspaceDeclaration {
    /// The mount path: `mountPath`, or `/workspace/<name>`.
    pub fn effective_mount_path(&self) -> String {
        if self.mount_path.is_empty() {
            format!("/workspace/{}", self.name)
        } else {
            self.mount_path.clone()
        }
    }
}

/// Maps a declared workspace to a volume.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceBinding {
    /// Name is the name of the workspace populated by the volume.
    pub name: String,
    /// SubPath is optionally a directory on the volume to use for this binding.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub_path: String,
    /// VolumeClaimTemplate is a template for a claim created for each run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub volume_claim_template: Option<VolumeClaimTemplate>,
    /// A reference to a PersistentVolumeClaim in the same namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
    /// EmptyDir represents a temporary directory that shares a Task's lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_dir: Option<EmptyDirVolumeSource>,
    /// ConfigMap represents a configMap that should populate this workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<ConfigMapVolumeSource>,
    /// Secret represents a secret that should populate this workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<SecretVolumeSource>,
    /// Projected represents a projected volume that should populate this workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected: Option<ProjectedVolumeSource>,
    /// CSI represents ephemeral storage handled by a CSI driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csi: Option<CSIVolumeSource>,
}

/// A PersistentVolumeClaim to create for a run (Tekton types it as a whole
/// `PersistentVolumeClaim`; only its metadata and spec matter).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct VolumeClaimTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    #[serde(default)]
    pub spec: PersistentVolumeClaimSpec,
}

/// A workspace slot a Pipeline expects its PipelineRuns to fill.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PipelineWorkspaceDeclaration {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "is_false")]
    pub optional: bool,
}

/// Maps a Pipeline workspace to a workspace declared by a pipeline task's Task.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspacePipelineTaskBinding {
    /// Name is the name of the workspace as declared by the task.
    pub name: String,
    /// Workspace is the name of the workspace declared by the pipeline (default: `name`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workspace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sub_path: String,
}

/// A step's or sidecar's request for isolated access to a Task workspace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceUsage {
    pub name: String,
    pub mount_path: String,
}

// ---------------------------------------------------------------------------
// Steps, step template, sidecars
// ---------------------------------------------------------------------------

/// Where a step's stdout/stderr is also written.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct StepOutputConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
}

/// One step of a Task: a container run to completion.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Name of the Step specified as a DNS_LABEL. Each Step in a Task must have a unique name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// DisplayName is a user-facing name of the step.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Container image name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    /// Entrypoint array. Not executed within a shell. The image's ENTRYPOINT is used if not provided.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments to the entrypoint (or to the script).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Step's working directory.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    /// List of sources to populate environment variables in the Step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    /// List of environment variables to set in the Step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// ComputeResources required by this Step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_resources: Option<ResourceRequirements>,
    /// Volumes to mount into the Step's filesystem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    /// Block devices to be used by the Step.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_devices: Vec<VolumeDevice>,
    /// Image pull policy: Always, Never or IfNotPresent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_pull_policy: String,
    /// SecurityContext defines the security options the Step should be run with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    /// Script is the contents of an executable file to execute. If Script is not empty,
    /// the Step cannot have a Command and the Args are passed to the Script.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub script: String,
    /// Timeout is the time after which the step times out (a Go duration, e.g. `30s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Workspaces from the Task that this Step wants exclusive access to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceUsage>,
    /// OnError defines the exiting behavior on error: `continue` or `stopAndFail` (default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub on_error: String,
    /// Stores configuration for the stdout stream of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout_config: Option<StepOutputConfig>,
    /// Stores configuration for the stderr stream of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr_config: Option<StepOutputConfig>,
}

/// A template every step of the Task starts from.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepTemplate {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_devices: Vec<VolumeDevice>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_pull_policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
}

/// A container run alongside the steps: started before them, stopped after them.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Sidecar {
    /// Name of the Sidecar specified as a DNS_LABEL.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<ContainerPort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_from: Vec<EnvFromSource>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_mounts: Vec<VolumeMount>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volume_devices: Vec<VolumeDevice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub termination_message_path: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub termination_message_policy: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub image_pull_policy: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin_once: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    /// Script is the contents of an executable file to execute.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub script: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceUsage>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub restart_policy: String,
}

// ---------------------------------------------------------------------------
// Task
// ---------------------------------------------------------------------------

/// Desired state of a Task: the steps to run, the params, workspaces and results.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tekton.dev",
    version = "v1",
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
    /// Params is a list of input parameters required to run the task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
    /// DisplayName is a user-facing name of the task.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Description is a user-facing description of the task.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Steps are the steps of the build; each step is run sequentially.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
    /// Volumes available to mount into the steps (Pod.spec.volumes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "preserve_object_list")]
    pub volumes: Vec<Volume>,
    /// StepTemplate is the basis for all step containers within the Task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_template: Option<StepTemplate>,
    /// Sidecars are run alongside the Task's step containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<Sidecar>,
    /// Workspaces are the volumes that this Task requires.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceDeclaration>,
    /// Results are values that this Task can output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<TaskResult>,
}

/// Refers to a Task, by name or through a resolver.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskRef {
    /// Name of the referent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Kind of the referent: `Task` (the default) or a custom task kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// API version of the referent (custom tasks).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Resolver is the name of the resolver that should resolve the Task (e.g. `bundles`, `git`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resolver: String,
    /// Params identify the Task for the resolver.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

/// Refers to a Pipeline, by name or through a resolver.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRef {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resolver: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

// ---------------------------------------------------------------------------
// Pipeline
// ---------------------------------------------------------------------------

/// A guard on a pipeline task: `input` `operator` (`in`/`notin`) `values`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct WhenExpression {
    /// Input is the string for guard checking: static or a result reference.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub input: String,
    /// Operator that represents an Input's relationship to the values: `in` or `notin`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub operator: String,
    /// Values is a non-empty array of strings compared against the input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// CEL is a CEL expression (needs Tekton's enable-cel-in-whenexpression; not in skiff).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cel: String,
}

/// Labels and annotations of an embedded task.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct PipelineTaskMetadata {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A Task defined inline in a pipeline task (or a custom task's spec).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedTask {
    /// API version of a custom task; empty for an embedded Task.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    /// Kind of a custom task; empty for an embedded Task.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Spec is the specification of a custom task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub spec: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PipelineTaskMetadata>,
    /// The Task spec, inline.
    #[serde(flatten)]
    pub task_spec: TaskSpec,
}

/// Fans a pipeline task out over array params (not supported by skiff).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct Matrix {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<IncludeParams>,
}

/// Extra combinations of a matrix.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct IncludeParams {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
}

/// One task of a Pipeline.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineTask {
    /// Name of this task within the Pipeline, used by `runAfter` and result references.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// TaskRef is a reference to a task definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ref: Option<TaskRef>,
    /// TaskSpec is a specification of a task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_spec: Option<EmbeddedTask>,
    /// When is a list of when expressions that need to be true for the task to run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when: Vec<WhenExpression>,
    /// OnError: `continue` lets the pipeline go on when this task fails, `stopAndFail` (default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub on_error: String,
    /// Retries represents how many times this task should be retried on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    /// RunAfter is the list of pipeline task names that must complete before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_after: Vec<String>,
    /// Parameters passed to this task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// Matrix declares parameters used to fan out this task (refused by skiff).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matrix: Option<Matrix>,
    /// Workspaces maps pipeline workspaces to the workspaces declared by the Task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspacePipelineTaskBinding>,
    /// Time after which the TaskRun times out (a Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Desired state of a Pipeline: a graph of tasks plus finally tasks.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tekton.dev",
    version = "v1",
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
    pub display_name: String,
    /// Description is a user-facing description of the pipeline.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Tasks declares the graph of Tasks that execute when this Pipeline is run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<PipelineTask>,
    /// Params declares input parameters that must be supplied when this Pipeline is run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamSpec>,
    /// Workspaces declares named workspaces that PipelineRuns are expected to provide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<PipelineWorkspaceDeclaration>,
    /// Results are values that this pipeline can output once run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<PipelineResult>,
    /// Finally declares tasks that run after all other tasks, whether they failed or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub finally: Vec<PipelineTask>,
}

// ---------------------------------------------------------------------------
// TaskRun
// ---------------------------------------------------------------------------

/// Pod-level settings of a run's pods (Tekton's `pod.Template`); kept as written.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Every other `pod.Template` field, as written.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// Breakpoints of a debugged TaskRun.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TaskRunDebug {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakpoints: Option<TaskBreakpoints>,
}

/// `onFailure: enabled` pauses a failed step.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskBreakpoints {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub on_failure: String,
}

/// Overrides the compute resources of one step or sidecar.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskRunStepSpec {
    pub name: String,
    #[serde(default)]
    #[schemars(transform = drop_default)]
    pub compute_resources: ResourceRequirements,
}

/// Desired state of a TaskRun: which Task to run, with which params and workspaces.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tekton.dev",
    version = "v1",
    kind = "TaskRun",
    plural = "taskruns",
    singular = "taskrun",
    shortname = "tr",
    shortname = "trs",
    category = "tekton",
    category = "tekton-pipelines",
    namespaced,
    status = "TaskRunStatus",
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debug: Option<TaskRunDebug>,
    /// Params are the values of the Task's params.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// The service account the steps run as (default `default`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    /// TaskRef refers to the Task to run; exactly one of taskRef and taskSpec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_ref: Option<TaskRef>,
    /// TaskSpec is the Task to run, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_spec: Option<TaskSpec>,
    /// `TaskRunCancelled` cancels the run.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Status message for cancellation.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status_message: String,
    /// Retries represents how many times this TaskRun is retried on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
    /// Time after which one retry attempt times out (a Go duration; default 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// PodTemplate holds pod specific configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub pod_template: Option<PodTemplate>,
    /// Workspaces binds volumes to the Task's workspaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceBinding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_specs: Vec<TaskRunStepSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecar_specs: Vec<TaskRunStepSpec>,
    /// Compute resources to use for this TaskRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_resources: Option<ResourceRequirements>,
}

/// The state of one step's container.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepState {
    /// `running`, `waiting` or `terminated` (`exitCode`, `reason`, `startedAt`, `finishedAt`).
    #[serde(flatten)]
    pub state: ContainerState,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The container's name, `step-<name>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub container: String,
    #[serde(default, rename = "imageID", skip_serializing_if = "String::is_empty")]
    pub image_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub termination_reason: String,
}

/// Observed state of a TaskRun.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskRunStatus {
    /// `observedGeneration`, `conditions` (the `Succeeded` condition) and `annotations`.
    #[serde(flatten)]
    pub status: KnativeStatus,
    /// PodName is the name of the pod running this task's steps.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Steps describes the state of each step container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepState>,
    /// The statuses of earlier, failed attempts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "preserve_object_list")]
    pub retries_status: Vec<TaskRunStatus>,
    /// Results written out by the task's steps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<TaskRunResult>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecars: Vec<StepState>,
    /// The Task spec this run used (resolved from its taskRef).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub task_spec: Option<TaskSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub provenance: Option<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub span_context: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------
// PipelineRun
// ---------------------------------------------------------------------------

/// Timeouts of a PipelineRun (Go durations): pipeline >= tasks + finally.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct TimeoutFields {
    /// The whole run (default 1h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline: Option<String>,
    /// The tasks (not finally).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tasks: Option<String>,
    /// The finally tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finally: Option<String>,
}

/// Run settings for every TaskRun of a PipelineRun.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineTaskRunTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub pod_template: Option<PodTemplate>,
    /// The service account of the TaskRuns (default `default`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
}

/// Run settings for the TaskRun of one pipeline task.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineTaskRunSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pipeline_task_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_account_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub pod_template: Option<PodTemplate>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub step_specs: Vec<TaskRunStepSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sidecar_specs: Vec<TaskRunStepSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<PipelineTaskMetadata>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Desired state of a PipelineRun: which Pipeline to run, with which params and workspaces.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tekton.dev",
    version = "v1",
    kind = "PipelineRun",
    plural = "pipelineruns",
    singular = "pipelinerun",
    shortname = "pr",
    shortname = "prs",
    category = "tekton",
    category = "tekton-pipelines",
    namespaced,
    status = "PipelineRunStatus",
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
    /// PipelineRef refers to the Pipeline to run; exactly one of pipelineRef and pipelineSpec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_ref: Option<PipelineRef>,
    /// PipelineSpec is the Pipeline to run, inline (see Pipeline.spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub pipeline_spec: Option<PipelineSpec>,
    /// Params are the values of the Pipeline's params.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    /// `Cancelled`, `CancelledRunFinally`, `StoppedRunFinally` or `PipelineRunPending`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Timeouts of the whole run, its tasks and its finally tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<TimeoutFields>,
    /// TaskRunTemplate holds the service account and pod template of the TaskRuns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_run_template: Option<PipelineTaskRunTemplate>,
    /// Workspaces binds volumes to the Pipeline's workspaces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub workspaces: Vec<WorkspaceBinding>,
    /// TaskRunSpecs holds run settings of individual pipeline tasks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_run_specs: Vec<PipelineTaskRunSpec>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub managed_by: String,
}

/// A pipeline task skipped because of its when expressions (or a skipped parent).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkippedTask {
    pub name: String,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when_expressions: Vec<WhenExpression>,
}

/// Points at a TaskRun (or custom run) of a PipelineRun.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChildStatusReference {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Name of the TaskRun.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub display_name: String,
    /// Name of the pipeline task the TaskRun runs.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pipeline_task_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub when_expressions: Vec<WhenExpression>,
}

/// Observed state of a PipelineRun.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRunStatus {
    /// `observedGeneration`, `conditions` (the `Succeeded` condition) and `annotations`.
    #[serde(flatten)]
    pub status: KnativeStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Results of the pipeline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<PipelineRunResult>,
    /// The Pipeline spec this run used (resolved from its pipelineRef).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub pipeline_spec: Option<PipelineSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_tasks: Vec<SkippedTask>,
    /// The TaskRuns of this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub child_references: Vec<ChildStatusReference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finally_start_time: Option<Time>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_object")]
    pub provenance: Option<Value>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub span_context: BTreeMap<String, String>,
}

// ---------------------------------------------------------------------------
// Schema helpers
// ---------------------------------------------------------------------------

/// An object kept as written (Tekton's `Schemaless` + `PreserveUnknownFields`).
pub(crate) fn preserve_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

/// Defaults are the webhook's job, not the schema's.
pub(crate) fn drop_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// A list of objects kept as written.
pub(crate) fn preserve_object_list(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
    })
}
