//! Task pods on the local runtime: the steps of a Tekton TaskRun run one after another,
//! each in its own runc container from its own image, inside one sandbox (one network
//! namespace, hostname and `/etc/hosts`), with sidecars started before the first step
//! and stopped after the last.
//!
//! Files: the sandbox (generated `/etc`, one bundle with an overlay rootfs per
//! container) lives in `{state_dir}/pods/{id}` and is removed once the pod finishes
//! (or by recovery after a crash); each container's output goes to
//! `{state_dir}/pod-logs/{namespace}/{pod}/{container}.log`, which is kept until the
//! pod is deleted, also across restarts, as `kubectl logs` of a completed Pod works
//! until the Pod is deleted. A step's container is removed as soon as it exits, so a
//! pod holds one step's resources at a time.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::network::{self, Endpoint};
use super::process::{Exit, ProcessWatch};
use super::rootfs::{self, Layout};
use super::{logs, probes, spec, LocalRuntime, Shared};
use crate::{
    ContainerPhase, ContainerRunState, InstanceSpec, LogOptions, PodContainerSpec, PodKey,
    PodPhase, RevisionKey, RuntimeError, TaskPodSpec, TaskPodStatus, TaskRuntime,
};

/// How long a sidecar gets after SIGTERM when the steps are done.
const SIDECAR_GRACE: Duration = Duration::from_secs(2);

/// One task pod the runtime knows.
pub(super) struct PodEntry {
    status: TaskPodStatus,
    /// The reason to stop the pod early, once asked.
    cancel: watch::Sender<Option<String>>,
    task: Option<JoinHandle<()>>,
}

/// The pods of a runtime and their change events.
pub(super) struct Pods {
    entries: std::sync::Mutex<std::collections::HashMap<PodKey, PodEntry>>,
    events: broadcast::Sender<TaskPodStatus>,
}

impl Default for Pods {
    fn default() -> Self {
        Pods {
            entries: Default::default(),
            events: broadcast::channel(1024).0,
        }
    }
}

impl Pods {
    fn update(&self, key: &PodKey, f: impl FnOnce(&mut TaskPodStatus)) {
        let snapshot = {
            let mut map = self.entries.lock().unwrap();
            let Some(entry) = map.get_mut(key) else {
                return;
            };
            f(&mut entry.status);
            entry.status.clone()
        };
        let _ = self.events.send(snapshot);
    }

    /// Cancels every running pod and waits for them (runtime shutdown).
    pub(super) async fn cancel_all(&self, reason: &str) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut map = self.entries.lock().unwrap();
            map.values_mut()
                .filter_map(|e| {
                    let _ = e.cancel.send(Some(reason.to_string()));
                    e.task.take()
                })
                .collect()
        };
        futures::future::join_all(tasks).await;
    }

    /// Aborts the pods' tasks (the runtime is dropped without a shutdown).
    pub(super) fn abort_all(&self) {
        for e in self.entries.lock().unwrap().values_mut() {
            if let Some(t) = e.task.take() {
                t.abort();
            }
        }
    }
}

impl Shared {
    fn pod_dir(&self, id: &str) -> PathBuf {
        self.opts.state_dir.join("pods").join(id)
    }

    fn pod_log_dir(&self, key: &PodKey) -> PathBuf {
        self.opts
            .state_dir
            .join("pod-logs")
            .join(&key.namespace)
            .join(&key.name)
    }

    fn container_log(&self, key: &PodKey, container: &str) -> PathBuf {
        self.pod_log_dir(key).join(format!("{container}.log"))
    }
}

fn waiting(c: &PodContainerSpec) -> ContainerRunState {
    ContainerRunState {
        name: c.name.clone(),
        phase: ContainerPhase::Waiting,
        started_at: None,
        finished_at: None,
        exit_code: None,
        reason: String::new(),
        message: String::new(),
        image_digest: c.image.digest.clone(),
    }
}

/// Checks what runc would otherwise fail on late: names (they become file names and
/// must be unique) and mount paths.
fn validate(spec: &TaskPodSpec) -> Result<(), RuntimeError> {
    let mut seen = std::collections::HashSet::new();
    for c in spec.sidecars.iter().chain(&spec.steps) {
        let ok = !c.name.is_empty()
            && c.name.len() <= 253
            && c.name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '.' || ch == '_');
        if !ok || c.name.starts_with('.') {
            return Err(RuntimeError::Failed(format!(
                "pod {}: invalid container name {:?}",
                spec.key, c.name
            )));
        }
        if !seen.insert(c.name.as_str()) {
            return Err(RuntimeError::Failed(format!(
                "pod {}: two containers are named {:?}",
                spec.key, c.name
            )));
        }
        for m in &c.mounts {
            if !m.container_path.starts_with('/') {
                return Err(RuntimeError::Failed(format!(
                    "pod {}: container {:?}: mount path {:?} must be absolute",
                    spec.key, c.name, m.container_path
                )));
            }
        }
    }
    if spec.steps.is_empty() {
        return Err(RuntimeError::Failed(format!(
            "pod {} has no steps",
            spec.key
        )));
    }
    Ok(())
}

#[async_trait::async_trait]
impl TaskRuntime for LocalRuntime {
    async fn run_pod(&self, spec: TaskPodSpec) -> Result<TaskPodStatus, RuntimeError> {
        validate(&spec)?;
        let shared = &self.shared;
        if shared.pods.entries.lock().unwrap().contains_key(&spec.key) {
            return Err(RuntimeError::Failed(format!(
                "pod {} exists already",
                spec.key
            )));
        }
        // Logs of an earlier pod of the same name (finished before a restart) go.
        let log_dir = shared.pod_log_dir(&spec.key);
        let _ = std::fs::remove_dir_all(&log_dir);
        std::fs::create_dir_all(&log_dir).map_err(network::io_err("create", &log_dir))?;
        for c in spec.sidecars.iter().chain(&spec.steps) {
            let log = shared.container_log(&spec.key, &c.name);
            std::fs::write(&log, b"").map_err(network::io_err("create", &log))?;
        }
        let (ep, _) = shared.network.setup().await?;
        let sandbox = Layout {
            dir: shared.pod_dir(&ep.id),
        };
        if let Err(e) = std::fs::create_dir_all(&sandbox.dir)
            .map_err(network::io_err("create", &sandbox.dir))
            .and_then(|_| rootfs::write_etc(&sandbox, &spec.key.name, ep.ip, &spec.extra_hosts))
        {
            shared.network.teardown(&ep).await;
            rootfs::remove(&sandbox);
            return Err(e);
        }
        let status = TaskPodStatus {
            key: spec.key.clone(),
            labels: spec.labels.clone(),
            ip: Some(ep.ip.into()),
            phase: PodPhase::Pending,
            steps: spec.steps.iter().map(waiting).collect(),
            sidecars: spec.sidecars.iter().map(waiting).collect(),
            started_at: None,
            finished_at: None,
        };
        let (cancel_tx, cancel_rx) = watch::channel(None);
        shared.pods.entries.lock().unwrap().insert(
            spec.key.clone(),
            PodEntry {
                status: status.clone(),
                cancel: cancel_tx,
                task: None,
            },
        );
        let _ = shared.pods.events.send(status.clone());
        let key = spec.key.clone();
        let task = tokio::spawn(run(shared.clone(), spec, ep, sandbox, cancel_rx));
        if let Some(e) = shared.pods.entries.lock().unwrap().get_mut(&key) {
            e.task = Some(task);
        }
        Ok(status)
    }

    async fn cancel_pod(&self, key: &PodKey, reason: &str) -> Result<(), RuntimeError> {
        let map = self.shared.pods.entries.lock().unwrap();
        let entry = map
            .get(key)
            .ok_or_else(|| RuntimeError::NotFound(key.to_string()))?;
        entry.cancel.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason.to_string());
                true
            } else {
                false
            }
        });
        Ok(())
    }

    async fn delete_pod(&self, key: &PodKey) -> Result<(), RuntimeError> {
        let task = {
            let mut map = self.shared.pods.entries.lock().unwrap();
            map.get_mut(key).and_then(|e| {
                let _ = e.cancel.send(Some("Cancelled".into()));
                e.task.take()
            })
        };
        if let Some(task) = task {
            let _ = task.await;
        }
        let known = self
            .shared
            .pods
            .entries
            .lock()
            .unwrap()
            .remove(key)
            .is_some();
        let log_dir = self.shared.pod_log_dir(key);
        let had_logs = log_dir.exists();
        let _ = std::fs::remove_dir_all(&log_dir);
        if known || had_logs {
            Ok(())
        } else {
            Err(RuntimeError::NotFound(key.to_string()))
        }
    }

    fn list_pods(&self) -> Vec<TaskPodStatus> {
        let mut v: Vec<TaskPodStatus> = self
            .shared
            .pods
            .entries
            .lock()
            .unwrap()
            .values()
            .map(|e| e.status.clone())
            .collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    fn pod(&self, key: &PodKey) -> Option<TaskPodStatus> {
        self.shared
            .pods
            .entries
            .lock()
            .unwrap()
            .get(key)
            .map(|e| e.status.clone())
    }

    fn subscribe_pods(&self) -> broadcast::Receiver<TaskPodStatus> {
        self.shared.pods.events.subscribe()
    }

    async fn pod_logs(
        &self,
        key: &PodKey,
        container: &str,
        options: LogOptions,
    ) -> Result<BoxStream<'static, bytes::Bytes>, RuntimeError> {
        let log = self.shared.container_log(key, container);
        let live = self.shared.pods.entries.lock().unwrap().contains_key(key);
        if !log.exists() {
            return Err(RuntimeError::NotFound(if live {
                format!("container {container:?} in pod {key}")
            } else {
                key.to_string()
            }));
        }
        let weak = Arc::downgrade(&self.shared);
        let key = key.clone();
        let container = container.to_string();
        let done = move || {
            weak.upgrade().is_none_or(|s| {
                s.pods.entries.lock().unwrap().get(&key).is_none_or(|e| {
                    e.status.finished()
                        || e.status
                            .steps
                            .iter()
                            .chain(&e.status.sidecars)
                            .find(|c| c.name == container)
                            .is_none_or(|c| c.phase == ContainerPhase::Terminated)
                })
            })
        };
        Ok(logs::stream(log, options.tail_lines, options.follow, done))
    }

    fn host_address(&self) -> std::net::IpAddr {
        self.shared.host_ip.into()
    }
}

/// A container of the pod that runs now.
struct Running {
    id: String,
    layout: Layout,
    proc: ProcessWatch,
    /// Copies of stdout/stderr into extra files (see [`tee`]).
    tees: Vec<JoinHandle<()>>,
}

impl Running {
    /// Waits for the process to exit and its output copies to be complete.
    async fn wait(&mut self) -> Exit {
        let exit = self.proc.wait().await;
        for t in self.tees.drain(..) {
            let _ = t.await;
        }
        exit
    }
}

/// Copies what comes out of a container's stdout or stderr pipe into its log and into
/// `also` (until the pipe closes: the container's processes are gone).
fn tee(reader: std::io::PipeReader, log: PathBuf, also: PathBuf) -> JoinHandle<()> {
    use std::io::{Read, Write};
    tokio::task::spawn_blocking(move || {
        let mut reader = reader;
        let log = super::process::open_log(&log);
        if let Some(dir) = also.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let also = std::fs::File::create(&also);
        let (Ok(mut log), Ok(mut also)) = (log, also) else {
            // Still drain the pipe so the container never blocks on a full one.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
            return;
        };
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return,
                Ok(n) => {
                    let _ = log.write_all(&buf[..n]);
                    let _ = also.write_all(&buf[..n]);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    })
}

/// Resolves with the cancel reason once one is given.
async fn cancelled(cancel: &mut watch::Receiver<Option<String>>) -> String {
    match cancel.wait_for(|r| r.is_some()).await {
        Ok(r) => r.clone().unwrap_or_default(),
        // The entry is gone: nobody waits for this pod any more.
        Err(_) => "Cancelled".into(),
    }
}

/// The life of one task pod: sidecars up, steps in order, sidecars down, sandbox gone.
async fn run(
    shared: Arc<Shared>,
    spec: TaskPodSpec,
    ep: Endpoint,
    sandbox: Layout,
    mut cancel: watch::Receiver<Option<String>>,
) {
    let key = spec.key.clone();
    let now = jiff::Timestamp::now;
    shared.pods.update(&key, |s| {
        s.phase = PodPhase::Running;
        s.started_at = Some(now());
    });
    let mut serial = 0usize;
    let mut next_id = || {
        serial += 1;
        format!("{}-{serial}", ep.id)
    };

    // Sidecars: started first; steps begin once each is running (and Ready, if it has
    // a readiness probe), as Tekton's steps wait for sidecars.
    let mut sidecars: Vec<(usize, Running)> = Vec::new();
    let mut failed: Option<String> = None;
    for (i, c) in spec.sidecars.iter().enumerate() {
        let id = next_id();
        match start_container(&shared, &spec, c, &id, &ep, &sandbox).await {
            Ok(r) => {
                shared.pods.update(&key, |s| {
                    s.sidecars[i].phase = ContainerPhase::Running;
                    s.sidecars[i].started_at = Some(now());
                });
                if let Some(probe) = c.container.readiness_probe.as_ref().and_then(|p| {
                    let port = c
                        .container
                        .ports
                        .iter()
                        .flatten()
                        .next()
                        .map_or(0, |p| p.container_port as u16);
                    probes::ProbeConfig::from_k8s(p, &c.container, ep.ip.into(), port)
                }) {
                    let ready = async {
                        let mut intervals = probes::aggressive_intervals();
                        while !probe.check_starting(&shared.runc, &r.id).await {
                            tokio::time::sleep(
                                intervals.next().unwrap_or(probes::AGGRESSIVE_INTERVAL),
                            )
                            .await;
                        }
                    };
                    tokio::select! {
                        _ = ready => {}
                        reason = cancelled(&mut cancel) => failed = Some(reason),
                    }
                }
                sidecars.push((i, r));
            }
            Err(e) => {
                shared.pods.update(&key, |s| {
                    terminate(&mut s.sidecars[i], 128, "StartError", &e.to_string());
                });
                failed = Some("Error".into());
            }
        }
        if failed.is_some() {
            break;
        }
    }

    let mut pod_failed = failed.is_some();
    let mut removals = Vec::new();
    let mut stop_reason = failed;
    for (i, c) in spec.steps.iter().enumerate() {
        if stop_reason.is_none() {
            if let Some(r) = cancel.borrow().clone() {
                stop_reason = Some(r);
                pod_failed = true;
            }
        }
        if stop_reason.is_some() {
            shared.pods.update(&key, |s| {
                terminate(
                    &mut s.steps[i],
                    1,
                    "Skipped",
                    "not run: an earlier step failed or the run was stopped",
                );
            });
            continue;
        }
        let id = next_id();
        let r = match start_container(&shared, &spec, c, &id, &ep, &sandbox).await {
            Ok(r) => r,
            Err(e) => {
                shared.pods.update(&key, |s| {
                    terminate(&mut s.steps[i], 128, "StartError", &e.to_string());
                });
                pod_failed = true;
                stop_reason = Some("Error".into());
                continue;
            }
        };
        shared.pods.update(&key, |s| {
            s.steps[i].phase = ContainerPhase::Running;
            s.steps[i].started_at = Some(now());
        });
        let timeout = async {
            match c.timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        let mut r = r;
        let (exit, reason, message) = tokio::select! {
            exit = r.wait() => {
                let oom = shared.cgroup(&r.id).oom_kills() > 0;
                let reason = if oom && matches!(exit, Exit::Signal(9)) {
                    "OOMKilled"
                } else if exit.code() == 0 {
                    "Completed"
                } else {
                    "Error"
                };
                (exit, reason.to_string(), describe(exit))
            }
            _ = timeout => {
                let exit = kill_now(&r).await;
                let t = c.timeout.unwrap_or_default();
                (exit, "TimeoutExceeded".to_string(), format!("step {:?} exceeded its timeout of {t:?}", c.name))
            }
            reason = cancelled(&mut cancel) => {
                let exit = kill_now(&r).await;
                let message = format!("step {:?} stopped: {reason}", c.name);
                (exit, reason, message)
            }
        };
        // Removed while the next step starts (runc delete and the unmount take ~10 ms).
        let remover = shared.clone();
        removals.push(tokio::spawn(
            async move { remove_container(&remover, r).await },
        ));
        let code = exit.code();
        shared.pods.update(&key, |s| {
            terminate(&mut s.steps[i], code, &reason, &message)
        });
        if reason != "Completed" && !(reason == "Error" && c.continue_on_error) {
            pod_failed = true;
            stop_reason = Some(reason);
        }
    }

    for (i, r) in sidecars {
        let _ = r.proc.signal(libc::SIGTERM);
        let exit = match tokio::time::timeout(SIDECAR_GRACE, r.proc.wait()).await {
            Ok(exit) => exit,
            Err(_) => kill_now(&r).await,
        };
        remove_container(&shared, r).await;
        shared.pods.update(&key, |s| {
            let reason = if exit.code() == 0 {
                "Completed"
            } else {
                "Error"
            };
            terminate(&mut s.sidecars[i], exit.code(), reason, &describe(exit));
        });
    }
    futures::future::join_all(removals).await;
    shared.pods.update(&key, |s| {
        for c in s
            .sidecars
            .iter_mut()
            .filter(|c| c.phase == ContainerPhase::Waiting)
        {
            terminate(c, 1, "Skipped", "not started: the run was stopped");
        }
    });
    shared.network.teardown(&ep).await;
    rootfs::remove(&sandbox);
    shared.pods.update(&key, |s| {
        s.phase = if pod_failed {
            PodPhase::Failed
        } else {
            PodPhase::Succeeded
        };
        s.finished_at = Some(now());
        s.ip = None;
    });
}

fn describe(exit: Exit) -> String {
    match exit {
        Exit::Signal(s) => format!("killed by signal {s}"),
        Exit::Code(c) => format!("exited with code {c}"),
        Exit::Unknown => "exited (status unknown)".into(),
    }
}

fn terminate(c: &mut ContainerRunState, code: i32, reason: &str, message: &str) {
    c.phase = ContainerPhase::Terminated;
    c.exit_code = Some(code);
    c.reason = reason.to_string();
    c.message = message.to_string();
    c.finished_at = Some(jiff::Timestamp::now());
}

async fn kill_now(r: &Running) -> Exit {
    let _ = r.proc.signal(libc::SIGKILL);
    tokio::time::timeout(Duration::from_secs(10), r.proc.wait())
        .await
        .unwrap_or(Exit::Unknown)
}

/// Writes the container's bundle (config.json, overlay rootfs) under the sandbox and
/// starts it with runc.
async fn start_container(
    shared: &Shared,
    pod: &TaskPodSpec,
    c: &PodContainerSpec,
    id: &str,
    ep: &Endpoint,
    sandbox: &Layout,
) -> Result<Running, RuntimeError> {
    let layout = Layout {
        dir: sandbox.dir.join(id),
    };
    let instance = InstanceSpec {
        revision: RevisionKey {
            namespace: pod.key.namespace.clone(),
            name: pod.key.name.clone(),
        },
        pod_name: pod.key.name.clone(),
        labels: Default::default(),
        image: c.image.clone(),
        container: c.container.clone(),
        port: 0,
        platform_env: c.platform_env.clone(),
        file_mounts: Vec::new(),
    };
    let prepared = (|| {
        std::fs::create_dir_all(&layout.dir).map_err(network::io_err("create", &layout.dir))?;
        let oci = spec::build(
            &instance,
            &spec::SpecPaths {
                rootfs: &layout.rootfs(),
                netns: &ep.netns_path(),
                etc_dir: &sandbox.etc(),
                binds: c.mounts.clone(),
                cgroup: &shared.cgroup(id).path,
            },
        )?;
        let config = layout.dir.join("config.json");
        oci.save(&config)
            .map_err(|e| RuntimeError::Failed(format!("writing {}: {e}", config.display())))?;
        rootfs::mount_overlay(&layout, &c.image.rootfs)
    })();
    if let Err(e) = prepared {
        rootfs::remove(&layout);
        return Err(e);
    }
    let log = shared.container_log(&pod.key, &c.name);
    // Each stream goes to the log file directly, or through a pipe when it is also
    // written to a file of its own.
    let mut tees = Vec::new();
    let mut stream = |also: &Option<PathBuf>| -> Result<std::process::Stdio, RuntimeError> {
        match also {
            None => Ok(super::process::open_log(&log)?.into()),
            Some(path) => {
                let (reader, writer) = std::io::pipe()
                    .map_err(|e| RuntimeError::Failed(format!("creating a pipe: {e}")))?;
                tees.push(tee(reader, log.clone(), path.clone()));
                Ok(writer.into())
            }
        }
    };
    let stdio = stream(&c.stdout_file).and_then(|out| Ok((out, stream(&c.stderr_file)?)));
    let (stdout, stderr) = match stdio {
        Ok(s) => s,
        Err(e) => {
            rootfs::remove(&layout);
            return Err(e);
        }
    };
    match shared
        .runc
        .run_with(id, &layout.dir, &log, stdout, stderr)
        .await
    {
        Ok(proc) => Ok(Running {
            id: id.to_string(),
            layout,
            proc,
            tees,
        }),
        Err(e) => {
            shared.runc.delete(id).await;
            rootfs::remove(&layout);
            Err(e)
        }
    }
}

async fn remove_container(shared: &Shared, r: Running) {
    shared.runc.delete(&r.id).await;
    rootfs::remove(&r.layout);
}
