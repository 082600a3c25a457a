//! The runtime: what the serving controllers ask for ("run this container of this
//! revision") and what they get back (instances with addresses, readiness, restarts,
//! logs), behind the small [`Runtime`] trait so a Kubernetes runtime can replace the
//! local one. The local implementation runs instances with runc.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use futures::stream::BoxStream;
use tokio::sync::broadcast;

/// Which revision an instance belongs to.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RevisionKey {
    pub namespace: String,
    pub name: String,
}

/// An unpacked image, as the image store hands it over.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ImageRootfs {
    /// The unpacked, read-only root filesystem (shared by every instance of the image).
    pub rootfs: PathBuf,
    /// `sha256:…` of the image manifest.
    pub digest: String,
    /// From the image config: entrypoint, cmd, env (`K=V`), working dir, user.
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    pub user: Option<String>,
}

/// Files to mount read-only into an instance (a ConfigMap or Secret volume).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FileMount {
    /// Absolute path inside the container.
    pub mount_path: String,
    /// File name → contents.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Everything needed to start one instance of a revision.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct InstanceSpec {
    pub revision: RevisionKey,
    /// The Pod name the instance is shown as: `{revision}-deployment-{hash}`.
    pub pod_name: String,
    /// Pod labels (Knative's `serving.knative.dev/*` labels).
    pub labels: BTreeMap<String, String>,
    pub image: ImageRootfs,
    /// The user container, after Knative defaulting (command, args, env, workingDir,
    /// ports, resources, probes, securityContext, volumeMounts).
    pub container: k8s_openapi::api::core::v1::Container,
    /// The port the app listens on (`PORT`).
    pub port: u16,
    /// Environment added by the platform (`PORT`, `K_SERVICE`, `K_CONFIGURATION`,
    /// `K_REVISION`), applied after the image's and before the container's.
    pub platform_env: Vec<(String, String)>,
    /// ConfigMap/Secret volumes, already resolved to file contents.
    pub file_mounts: Vec<FileMount>,
}

/// Where images come from: resolves tags to digests (once per Revision, as Knative does)
/// and hands over unpacked root filesystems. Implemented by the image store; tests fake it. Used by the serving controllers
/// (Revisions) and the pipeline controllers (steps).
#[async_trait::async_trait]
pub trait ImageSource: Send + Sync + 'static {
    /// Resolves `image` (e.g. `registry:5000/app:v1`) to the digest of its manifest,
    /// `sha256:…`. `pull_secrets` are the Revision's `imagePullSecrets` (and its service
    /// account's) as read from the API. The error text ends up in the Revision's status.
    async fn resolve(
        &self,
        image: &str,
        pull_secrets: &[k8s_openapi::api::core::v1::Secret],
    ) -> Result<String, String>;
    /// Fetches and unpacks `image_with_digest` (`registry:5000/app@sha256:…`).
    async fn pull(
        &self,
        image_with_digest: &str,
        pull_secrets: &[k8s_openapi::api::core::v1::Secret],
    ) -> Result<ImageRootfs, String>;
}

/// Where an instance is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Phase {
    /// Created, readiness not yet passed.
    Starting,
    /// Passing its readiness probe: may take traffic.
    Ready,
    /// Exited or failed a liveness probe; restarting after a backoff.
    CrashLoop,
    /// Stopped for good.
    Terminated,
}

/// How the last run of an instance ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExitInfo {
    pub exit_code: i32,
    /// Kubernetes-style reason: `Error`, `Completed`, `OOMKilled`, `StartError`…
    pub reason: String,
    pub message: String,
}

/// A snapshot of one instance.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct InstanceStatus {
    /// Runtime-unique id (the runc container id).
    pub id: String,
    pub pod_name: String,
    pub revision: RevisionKey,
    pub labels: BTreeMap<String, String>,
    /// Where the app can be reached (instance IP and `PORT`), once known.
    pub address: Option<SocketAddr>,
    pub phase: Phase,
    pub restarts: u32,
    pub last_exit: Option<ExitInfo>,
    pub started_at: Option<jiff::Timestamp>,
    pub ready_at: Option<jiff::Timestamp>,
}

/// What an instance uses right now, from its cgroup: the inputs of the HPA class
/// of autoscaling (CPU and memory as a share of the container's requests).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ResourceUsage {
    /// CPU time used since the instance's container started.
    pub cpu_time: std::time::Duration,
    /// Memory in use (bytes), as the cgroup accounts it.
    pub memory_bytes: u64,
}

/// Runtime failures.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("instance {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Failed(String),
}

/// Options for reading an instance's log.
#[derive(Clone, Debug, Default)]
pub struct LogOptions {
    pub follow: bool,
    /// Only the last N lines.
    pub tail_lines: Option<usize>,
}

/// Runs instances. Implementations restart crashed instances themselves (with
/// exponential backoff, like kubelet's `restartPolicy: Always`) and report every change
/// of an instance on [`Runtime::subscribe`].
#[async_trait::async_trait]
pub trait Runtime: Send + Sync + 'static {
    /// Starts one instance and returns as soon as it is created (readiness arrives as
    /// a later status change).
    async fn start(&self, spec: InstanceSpec) -> Result<InstanceStatus, RuntimeError>;
    /// Stops an instance and frees everything it held (process, network, mounts).
    async fn stop(&self, id: &str) -> Result<(), RuntimeError>;
    /// All instances this runtime manages.
    fn list(&self) -> Vec<InstanceStatus>;
    /// Every status change of any instance, as it happens.
    fn subscribe(&self) -> broadcast::Receiver<InstanceStatus>;
    /// CPU and memory the instance's container uses now (`None` if unknown, e.g.
    /// stopped). Sampled twice, the CPU time gives the usage rate.
    fn usage(&self, id: &str) -> Option<ResourceUsage>;
    /// The instance's output (stdout and stderr interleaved, as kubectl logs shows it).
    async fn logs(
        &self,
        id: &str,
        options: LogOptions,
    ) -> Result<BoxStream<'static, bytes::Bytes>, RuntimeError>;
}

/// A host directory bind-mounted into a container (a Tekton workspace, the results or
/// scripts dir, a service-account token dir).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BindMount {
    pub host_path: PathBuf,
    /// Absolute path inside the container.
    pub container_path: String,
    pub read_only: bool,
}

/// Names a run-to-completion pod: the Pod it is shown as.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct PodKey {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for PodKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One container of a run-to-completion pod: a Tekton step or sidecar.
#[derive(Clone, Debug)]
pub struct PodContainerSpec {
    /// The container's name in the Pod (`step-build`, `sidecar-db`).
    pub name: String,
    pub image: ImageRootfs,
    /// Command/args/env/workingDir/resources/securityContext (probes for sidecars);
    /// `$(VAR)` references are expanded as Kubernetes does.
    pub container: k8s_openapi::api::core::v1::Container,
    /// Environment added by the platform, applied after the image's and before the
    /// container's.
    pub platform_env: Vec<(String, String)>,
    pub mounts: Vec<BindMount>,
    /// A step that runs longer is killed (`TimeoutExceeded`).
    pub timeout: Option<std::time::Duration>,
    /// Whether the next steps run after this one failed (Tekton's `onError: continue`).
    pub continue_on_error: bool,
    /// A host file the container's stdout is also written to (Tekton's
    /// `stdoutConfig.path`); complete once the container is reported terminated.
    pub stdout_file: Option<PathBuf>,
    /// The same for stderr (`stderrConfig.path`).
    pub stderr_file: Option<PathBuf>,
}

/// A pod whose steps run one after another, each to completion, in one sandbox (one
/// network namespace and hostname), with sidecars running beside them: what a Tekton
/// TaskRun's Pod does.
#[derive(Clone, Debug)]
pub struct TaskPodSpec {
    pub key: PodKey,
    pub labels: BTreeMap<String, String>,
    pub steps: Vec<PodContainerSpec>,
    pub sidecars: Vec<PodContainerSpec>,
    /// Extra `/etc/hosts` entries (name → address), e.g. `kubernetes.default.svc`.
    pub extra_hosts: Vec<(String, std::net::IpAddr)>,
}

/// Where one container of a task pod is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ContainerPhase {
    Waiting,
    Running,
    Terminated,
}

/// The state of one container of a task pod.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContainerRunState {
    pub name: String,
    pub phase: ContainerPhase,
    pub started_at: Option<jiff::Timestamp>,
    pub finished_at: Option<jiff::Timestamp>,
    /// Set once terminated.
    pub exit_code: Option<i32>,
    /// Once terminated: `Completed`, `Error`, `OOMKilled`, `StartError`,
    /// `TimeoutExceeded`, `Cancelled`, or `Skipped` (never ran: an earlier step failed
    /// or the pod was cancelled).
    pub reason: String,
    pub message: String,
    /// The image's manifest digest.
    pub image_digest: String,
}

/// Where a task pod is, as a Pod's `status.phase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum PodPhase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

/// A snapshot of one task pod.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskPodStatus {
    pub key: PodKey,
    pub labels: BTreeMap<String, String>,
    pub ip: Option<std::net::IpAddr>,
    pub phase: PodPhase,
    pub steps: Vec<ContainerRunState>,
    pub sidecars: Vec<ContainerRunState>,
    pub started_at: Option<jiff::Timestamp>,
    pub finished_at: Option<jiff::Timestamp>,
}

impl TaskPodStatus {
    /// Whether every step has finished (the pod succeeded or failed).
    pub fn finished(&self) -> bool {
        matches!(self.phase, PodPhase::Succeeded | PodPhase::Failed)
    }
}

/// Runs task pods (see [`TaskPodSpec`]). A pod's record and its containers' logs stay
/// after it finishes, until [`TaskRuntime::delete_pod`] (as a completed Pod and its
/// logs stay in Kubernetes until the Pod is deleted); logs also outlive a restart of
/// the runtime.
#[async_trait::async_trait]
pub trait TaskRuntime: Send + Sync + 'static {
    /// Creates the pod's sandbox and starts its first container; returns as soon as it
    /// is under way (progress arrives on [`TaskRuntime::subscribe_pods`]). An existing
    /// pod of the same key is an error.
    async fn run_pod(&self, spec: TaskPodSpec) -> Result<TaskPodStatus, RuntimeError>;
    /// Stops a running pod: the running step is killed and reported with `reason`
    /// (`Cancelled`, `TimeoutExceeded`), steps not yet run are `Skipped`.
    async fn cancel_pod(&self, key: &PodKey, reason: &str) -> Result<(), RuntimeError>;
    /// Stops the pod if it runs and forgets it, its files and its logs.
    async fn delete_pod(&self, key: &PodKey) -> Result<(), RuntimeError>;
    /// All pods this runtime knows (running and finished).
    fn list_pods(&self) -> Vec<TaskPodStatus>;
    /// One pod, if this runtime knows it.
    fn pod(&self, key: &PodKey) -> Option<TaskPodStatus>;
    /// Every status change of any pod, as it happens.
    fn subscribe_pods(&self) -> broadcast::Receiver<TaskPodStatus>;
    /// One container's output; `follow` ends when the container has finished. Works
    /// for pods finished before a restart too (their log files are kept).
    async fn pod_logs(
        &self,
        key: &PodKey,
        container: &str,
        options: LogOptions,
    ) -> Result<BoxStream<'static, bytes::Bytes>, RuntimeError>;
    /// The address pods reach this host at (the bridge's own address).
    fn host_address(&self) -> std::net::IpAddr;
}

pub mod local;
pub use local::{BackoffPolicy, LocalRuntime, LocalRuntimeOptions, StartTimings};
