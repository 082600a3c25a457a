//! Tekton Pipelines controllers: TaskRuns run as pods of sequential step containers on
//! the runtime, PipelineRuns as DAGs of TaskRuns.
//!
//! * [`prepare`] — pure: a TaskRun + its Task → the containers to run (params and
//!   context substituted, scripts, workspaces, results paths), and results read back.
//! * [`dag`] — pure: a Pipeline's tasks as a DAG, and what a PipelineRun does next
//!   given the state of its TaskRuns.
//! * [`workdir`] — the host dirs a run's containers share.
//! * [`taskrun`] — the TaskRun reconciler; [`pod`] — its Pod view; [`pod_template`] —
//!   what a run's `podTemplate` means on one machine.
//! * [`pipelinerun`] — the PipelineRun reconciler (creates and cancels TaskRuns).
//!
//! The controllers only know a [`kube::Client`], a [`TaskRuntime`], an
//! [`ImageSource`] and a [`TokenIssuer`]; start them with [`run`].

#![warn(missing_docs)]

pub mod dag;
mod gofmt;
pub mod pipelinerun;
pub mod pod;
pub mod pod_template;
pub mod prepare;
pub mod taskrun;
pub mod workdir;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use skiff_api::tekton::v1::{PipelineRun, TaskRun};
use skiff_runtime::{ImageSource, PodKey, TaskRuntime};
use tokio::task::JoinHandle;

/// The host name steps reach the API server at (`KUBERNETES_SERVICE_HOST`); it is in
/// the API server's certificate and in every task pod's `/etc/hosts`.
pub const API_HOST: &str = "kubernetes.default.svc";

/// Issues service-account tokens for the steps (the API server's TokenRequest).
pub trait TokenIssuer: Send + Sync + 'static {
    /// A token for service account `name` in `namespace`, valid for `ttl`; an error
    /// (e.g. the account does not exist) says why not.
    fn token(&self, namespace: &str, name: &str, ttl: Duration) -> Result<String, String>;
}

/// The time source of timeouts and condition times, injectable for tests (the
/// controllers run on [`SecondsClock`], the precision API times are stored with).
pub use skiff_api::clock::{Clock, SecondsClock};

/// How the pipeline controllers are set up.
#[derive(Clone, Debug)]
pub struct PipelinesOptions {
    /// Where run dirs and claims live (`{data}/pipelines/...`).
    pub data_dir: PathBuf,
    /// The port steps reach the API server at on the runtime's host address.
    pub api_port: u16,
    /// The API server's CA certificate (PEM), given to steps as `ca.crt`.
    pub ca_pem: String,
    /// The image of the clone steps of v1alpha1 git resources.
    pub git_image: String,
}

/// A reconcile failure, retried: soon after a write conflict (someone else changed the
/// object since it was read; the next read sees it), later otherwise.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    /// What failed.
    pub message: String,
    /// Whether it was a `409 Conflict` on a write.
    pub conflict: bool,
}

impl Error {
    /// A failure described by `context` and the API error.
    pub fn api(context: impl std::fmt::Display, e: kube::Error) -> Error {
        Error {
            conflict: matches!(&e, kube::Error::Api(s) if s.code == 409),
            message: format!("{context}: {e}"),
        }
    }

    /// How long to wait before reconciling again.
    fn retry_after(&self) -> Duration {
        if self.conflict {
            Duration::from_millis(20)
        } else {
            Duration::from_millis(500)
        }
    }
}

/// What the reconcilers share.
pub struct Ctx {
    /// The API.
    pub client: kube::Client,
    /// Runs the pods.
    pub tasks: Arc<dyn TaskRuntime>,
    /// Pulls the steps' images.
    pub images: Arc<dyn ImageSource>,
    /// Mints service-account tokens.
    pub tokens: Arc<dyn TokenIssuer>,
    /// Settings.
    pub options: PipelinesOptions,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The image references of each pod's containers, for its Pod view.
    pub images_of: Mutex<HashMap<PodKey, Vec<String>>>,
}

/// The running controllers.
pub struct Pipelines {
    /// The controllers' task (abort to stop them).
    pub handle: JoinHandle<()>,
}

/// Starts the TaskRun and PipelineRun controllers (and the sweeper that removes the pods of deleted
/// TaskRuns).
pub fn run(
    client: kube::Client,
    tasks: Arc<dyn TaskRuntime>,
    images: Arc<dyn ImageSource>,
    tokens: Arc<dyn TokenIssuer>,
    options: PipelinesOptions,
    clock: Arc<dyn Clock>,
) -> Pipelines {
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        tasks: tasks.clone(),
        images,
        tokens,
        options,
        clock,
        images_of: Mutex::new(HashMap::new()),
    });
    let handle = tokio::spawn(async move {
        let api: Api<TaskRun> = Api::all(client.clone());
        // Pod progress wakes the pod's TaskRun.
        let events = tokio_stream_from(tasks.subscribe_pods());
        let controller = Controller::new(api, watcher::Config::default());
        let store = controller.store();
        // A change of a TaskRun wakes the PipelineRun that owns it.
        let pipeline_runs = Controller::new(
            Api::<PipelineRun>::all(client.clone()),
            watcher::Config::default(),
        )
        .owns(
            Api::<TaskRun>::all(client.clone()),
            watcher::Config::default(),
        );
        let sweeper = tokio::spawn(sweep(ctx.clone(), store, pipeline_runs.store()));
        let task_runs = controller
            .reconcile_on(events.filter_map(|st| async move {
                let name = st.labels.get(taskrun::TASK_RUN_LABEL)?;
                Some(ObjectRef::<TaskRun>::new(name).within(&st.key.namespace))
            }))
            .run(taskrun::reconcile, error_policy, ctx.clone())
            .for_each(|_| async {});
        let pipeline_runs = pipeline_runs
            .run(pipelinerun::reconcile, pipeline_error_policy, ctx)
            .for_each(|_| async {});
        futures::join!(task_runs, pipeline_runs);
        sweeper.abort();
    });
    Pipelines { handle }
}

fn error_policy(_: Arc<TaskRun>, error: &Error, _: Arc<Ctx>) -> Action {
    if error.conflict {
        tracing::debug!(%error, "TaskRun changed while reconciling; again");
    } else {
        tracing::warn!(%error, "TaskRun reconcile failed; retrying");
    }
    Action::requeue(error.retry_after())
}

fn pipeline_error_policy(_: Arc<PipelineRun>, error: &Error, _: Arc<Ctx>) -> Action {
    if error.conflict {
        tracing::debug!(%error, "PipelineRun changed while reconciling; again");
    } else {
        tracing::warn!(%error, "PipelineRun reconcile failed; retrying");
    }
    Action::requeue(error.retry_after())
}

fn tokio_stream_from<T: Clone + Send + 'static>(
    rx: tokio::sync::broadcast::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(v) => return Some((v, rx)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}

/// Every few seconds: pods (and their logs and dirs) of TaskRuns that are gone are
/// deleted, as Kubernetes' garbage collector deletes a deleted TaskRun's Pod; claims of
/// deleted PipelineRuns and run dirs a restart left behind are removed.
async fn sweep(
    ctx: Arc<Ctx>,
    task_runs: kube::runtime::reflector::Store<TaskRun>,
    pipeline_runs: kube::runtime::reflector::Store<PipelineRun>,
) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        if task_runs.wait_until_ready().await.is_err()
            || pipeline_runs.wait_until_ready().await.is_err()
        {
            return;
        }
        let pods = ctx.tasks.list_pods();
        for pod in &pods {
            let Some(name) = pod.labels.get(taskrun::TASK_RUN_LABEL) else {
                continue;
            };
            let uid = pod.labels.get(taskrun::TASK_RUN_UID_LABEL);
            let alive = task_runs
                .get(&ObjectRef::new(name).within(&pod.key.namespace))
                .is_some_and(|tr| tr.metadata.uid.as_ref() == uid);
            if !alive {
                let _ = ctx.tasks.delete_pod(&pod.key).await;
                ctx.images_of.lock().unwrap().remove(&pod.key);
                if let Some(uid) = uid {
                    workdir::RunDirs::new(&ctx.options.data_dir, &pod.key.namespace, uid).remove();
                }
            }
        }
        let data_dir = ctx.options.data_dir.clone();
        let runs = pipeline_runs.state();
        let running: std::collections::HashSet<(String, String)> = pods
            .iter()
            .filter(|p| !p.finished())
            .filter_map(|p| {
                let uid = p.labels.get(taskrun::TASK_RUN_UID_LABEL)?;
                Some((p.key.namespace.clone(), uid.clone()))
            })
            .collect();
        let _ = tokio::task::spawn_blocking(move || {
            workdir::remove_orphaned_claims(&data_dir, |ns, uid| {
                runs.iter().any(|r| {
                    r.metadata.namespace.as_deref() == Some(ns)
                        && r.metadata.uid.as_deref() == Some(uid)
                })
            });
            // A run dir is made just before its pod starts: give that a minute.
            workdir::remove_stale_runs(&data_dir, Duration::from_secs(60), |ns, uid| {
                running.contains(&(ns.to_string(), uid.to_string()))
            });
        })
        .await;
    }
}
