//! The local runtime: instances as runc containers on this machine.
//!
//! Per instance: a network namespace on the runtime's bridge (`network`; taken ready
//! from a small pool when one is there, so a cold start spawns no `ip`), an overlay
//! rootfs over the image's shared unpacked rootfs (`rootfs`), a runc bundle whose
//! `config.json` comes from the image config and the Kubernetes container (`spec`),
//! a container started with `runc run --detach` and watched through a pidfd, with no
//! runc process left running (`process`), probes (`probes`), a log file (`logs`).
//! One small tokio task per instance supervises it: it restarts the container after
//! an exponential backoff when it exits or fails its liveness probe, and reports every
//! change on [`Runtime::subscribe`]. A new runtime removes whatever a previous process
//! left behind (`recovery`): the controllers re-create the instances they want.
//!
//! Cold start (`start()` → Ready) is network from the pool (~0.1 ms), `/etc` files,
//! `config.json` and the overlay mount (~1 ms), `runc run --detach` (~30-40 ms with
//! runc 1.1 on cgroup v1: two Go process starts and a cgroup attach that waits for an
//! RCU grace period) and the app's own boot, probed right after runc returns and then
//! at 1, 2, 4… ms; [`LocalRuntime::start_timings`] reports each step, and
//! `examples/start_latency.rs` measures them.

mod logs;
mod network;
mod pods;
mod probes;
mod process;
mod recovery;
mod rootfs;
mod spec;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::BoxStream;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

pub use network::Subnet;
use network::{Endpoint, Network, StartGuard};
use probes::ProbeConfig;
use process::{Cgroup, Exit, ProcessWatch, Runc};
use rootfs::Layout;

use crate::{ExitInfo, InstanceSpec, InstanceStatus, LogOptions, Phase, Runtime, RuntimeError};

/// Exponential restart backoff, like kubelet's crash-loop backoff: `base`, doubling
/// per consecutive crash, capped at `max`; reset after a run of `reset_after`.
#[derive(Clone, Debug)]
pub struct BackoffPolicy {
    /// Delay before the first restart.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    /// A run at least this long resets the doubling.
    pub reset_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            base: Duration::from_secs(1),
            max: Duration::from_secs(300),
            reset_after: Duration::from_secs(600),
        }
    }
}

impl BackoffPolicy {
    /// The delay after `crashes` consecutive crashes (0 = the first).
    pub fn delay(&self, crashes: u32) -> Duration {
        let factor = 2u32.saturating_pow(crashes.min(31));
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// How a [`LocalRuntime`] is set up.
#[derive(Clone, Debug)]
pub struct LocalRuntimeOptions {
    /// Where instance dirs, runc state and IP allocations live (`DATA_DIR/runtime`).
    pub state_dir: PathBuf,
    /// The runc binary.
    pub runc: PathBuf,
    /// The bridge instances attach to (at most 10 characters; namespaces are named
    /// `{bridge}-{id}`, so the bridge name also scopes recovery).
    pub bridge: String,
    /// The instances' subnet; its first address is the bridge's (the gateway).
    pub subnet: String,
    /// Restart backoff.
    pub backoff: BackoffPolicy,
    /// How long `stop` waits after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
    /// How long a Ready instance is reported not-ready before it gets SIGTERM, so the
    /// gateway stops routing to it and its in-flight requests finish (Knative's
    /// queue-proxy drains the same way).
    pub drain: Duration,
    /// A log file larger than this is rotated (one rotated file is kept).
    pub log_max_bytes: u64,
    /// The parent cgroup of every instance (`/{cgroup_parent}/{id}`).
    pub cgroup_parent: String,
    /// How many network namespaces (veth on the bridge, address, `lo` up, default
    /// route) are kept ready for the next starts, so a cold start does not wait for
    /// `ip` to make one (~5-10 ms); 0 turns the pool off. Each holds an address of
    /// the subnet while it waits.
    pub network_pool: usize,
}

impl LocalRuntimeOptions {
    /// The defaults with the given state dir: runc from `PATH`, bridge `skiff0`,
    /// subnet `10.88.0.0/16`, backoff 1 s doubling to 5 min, 10 s stop grace,
    /// 10 MiB logs, 4 pooled network namespaces.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        LocalRuntimeOptions {
            state_dir: state_dir.into(),
            runc: "runc".into(),
            bridge: "skiff0".into(),
            subnet: "10.88.0.0/16".into(),
            backoff: BackoffPolicy::default(),
            stop_grace: Duration::from_secs(10),
            drain: Duration::from_secs(1),
            log_max_bytes: 10 << 20,
            cgroup_parent: "skiff".into(),
            network_pool: 4,
        }
    }
}

/// Runs instances as runc containers. Dropping it without [`LocalRuntime::shutdown`]
/// abandons the instances as a crash would (the next runtime on the same state dir
/// removes them).
pub struct LocalRuntime {
    shared: Arc<Shared>,
}

struct Shared {
    opts: LocalRuntimeOptions,
    runc: Runc,
    network: Arc<Network>,
    instances: Mutex<HashMap<String, Instance>>,
    events: broadcast::Sender<InstanceStatus>,
    ticker: Mutex<Option<JoinHandle<()>>>,
    /// Task pods (see `pods`).
    pods: pods::Pods,
    /// The bridge's address: the host as seen from instances and pods.
    host_ip: std::net::Ipv4Addr,
}

struct Instance {
    status: InstanceStatus,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
    timings: StartTimings,
    /// Held from `start()` until the instance first turns Ready or its first run
    /// ends: the network pool refills after that, not while the app boots.
    starting: Option<StartGuard>,
}

/// Where the time of an instance's first start went: each field is the time from the
/// `start()` call to the end of that step. For benchmarks and diagnostics (the cold
/// start of scale-from-zero is the sum of these and the app's own boot).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StartTimings {
    /// The network namespace was ready (taken from the pool, or created).
    pub network: Duration,
    /// Whether the namespace came from the pool of pre-created ones.
    pub network_pooled: bool,
    /// `/etc` files and `config.json` written, overlay rootfs mounted.
    pub rootfs: Duration,
    /// `start()` returned.
    pub returned: Duration,
    /// `runc run --detach` returned: the app's process runs.
    pub runc: Option<Duration>,
    /// The first readiness probe passed (the instance turned Ready).
    pub ready: Option<Duration>,
}

impl LocalRuntime {
    /// Sets up the bridge, removes everything a previous process left (containers,
    /// mounts, namespaces, IP allocations) and starts the log rotator. Makes this
    /// process a child subreaper (exit detection, see `process`).
    pub async fn new(options: LocalRuntimeOptions) -> Result<Arc<LocalRuntime>, RuntimeError> {
        let subnet = Subnet::parse(&options.subnet)?;
        std::fs::create_dir_all(&options.state_dir)
            .map_err(network::io_err("create", &options.state_dir))?;
        let state_dir = std::fs::canonicalize(&options.state_dir)
            .map_err(network::io_err("resolve", &options.state_dir))?;
        let options = LocalRuntimeOptions {
            state_dir,
            ..options
        };
        process::become_subreaper()?;
        let runc = Runc {
            binary: options.runc.clone(),
            root: options.state_dir.join("runc"),
        };
        let network = Arc::new(Network::new(&options.bridge, subnet, &options.state_dir).await?);
        recovery::recover(&runc, &network, &options.state_dir).await?;
        network.start_pool(options.network_pool);
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            opts: options,
            runc,
            network,
            instances: Mutex::new(HashMap::new()),
            events,
            ticker: Mutex::new(None),
            pods: pods::Pods::default(),
            host_ip: subnet.gateway(),
        });
        let weak = Arc::downgrade(&shared);
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let Some(shared) = weak.upgrade() else { return };
                let ids: Vec<String> = shared.instances.lock().unwrap().keys().cloned().collect();
                for id in ids {
                    logs::rotate_if_needed(&shared.log_path(&id), shared.opts.log_max_bytes);
                }
            }
        });
        *shared.ticker.lock().unwrap() = Some(ticker);
        Ok(Arc::new(LocalRuntime { shared }))
    }

    /// Stops every instance and task pod and removes the pooled network namespaces (used when
    /// `skiff server` exits).
    pub async fn shutdown(&self) {
        let ids: Vec<String> = self
            .shared
            .instances
            .lock()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        futures::future::join_all(ids.iter().map(|id| self.stop(id))).await;
        self.shared.pods.cancel_all("Cancelled").await;
        self.shared.network.close_pool().await;
    }

    /// The runtime's options (after defaults and path resolution).
    pub fn options(&self) -> &LocalRuntimeOptions {
        &self.shared.opts
    }

    /// The instance's cgroup directory for a controller (`memory`, `cpu`…; the
    /// unified directory on cgroup v2).
    pub fn cgroup_dir(&self, id: &str, controller: &str) -> PathBuf {
        self.shared.cgroup(id).dir(controller)
    }

    /// The host pid of an instance's init process, while it runs.
    pub fn pid(&self, id: &str) -> Option<i32> {
        std::fs::read_to_string(self.shared.layout(id).dir.join("init.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// The names of this runtime's instances' network namespaces that exist right now
    /// (`{bridge}-{id}`; pooled ones are not among them).
    pub fn network_namespaces(&self) -> Vec<String> {
        self.shared.network.namespaces()
    }

    /// The names of the pre-created network namespaces ready in the pool
    /// (`{bridge}:pool-{id}`; see [`LocalRuntimeOptions::network_pool`]).
    pub fn pooled_network_namespaces(&self) -> Vec<String> {
        self.shared.network.pooled_namespaces()
    }

    /// Where the time of an instance's first start went (`None` for an unknown id).
    pub fn start_timings(&self, id: &str) -> Option<StartTimings> {
        self.shared
            .instances
            .lock()
            .unwrap()
            .get(id)
            .map(|i| i.timings)
    }

    /// Whether an instance address is allocated.
    pub fn ip_allocated(&self, ip: std::net::Ipv4Addr) -> bool {
        self.shared.network.is_allocated(ip)
    }
}

impl Drop for LocalRuntime {
    fn drop(&mut self) {
        if let Some(t) = self.shared.ticker.lock().unwrap().take() {
            t.abort();
        }
        self.shared.network.abandon_pool();
        self.shared.pods.abort_all();
        for inst in self.shared.instances.lock().unwrap().values_mut() {
            if let Some(t) = inst.task.take() {
                t.abort();
            }
        }
    }
}

impl Shared {
    fn layout(&self, id: &str) -> Layout {
        Layout {
            dir: self.opts.state_dir.join("instances").join(id),
        }
    }

    fn log_path(&self, id: &str) -> PathBuf {
        logs::log_path(&self.layout(id).dir)
    }

    fn cgroup(&self, id: &str) -> Cgroup {
        Cgroup {
            path: format!("/{}/{id}", self.opts.cgroup_parent.trim_matches('/')),
        }
    }

    /// Applies `f` to an instance's status and broadcasts the result.
    fn update(&self, id: &str, f: impl FnOnce(&mut InstanceStatus)) {
        let snapshot = {
            let mut map = self.instances.lock().unwrap();
            let Some(inst) = map.get_mut(id) else { return };
            f(&mut inst.status);
            inst.status.clone()
        };
        let _ = self.events.send(snapshot);
    }

    /// The instance's first start is over (Ready, or its first run ended).
    fn first_start_done(&self, id: &str) {
        let guard = self
            .instances
            .lock()
            .unwrap()
            .get_mut(id)
            .and_then(|i| i.starting.take());
        drop(guard);
    }

    /// Notes a step of an instance's first start (see [`StartTimings`]).
    fn record(&self, id: &str, f: impl FnOnce(&mut StartTimings)) {
        if let Some(inst) = self.instances.lock().unwrap().get_mut(id) {
            f(&mut inst.timings);
        }
    }

    /// Creates network, rootfs and bundle for a new instance; the instance's id is its
    /// network endpoint's.
    async fn prepare(
        &self,
        spec: &InstanceSpec,
        began: Instant,
        timings: &mut StartTimings,
    ) -> Result<(Endpoint, Layout), RuntimeError> {
        let (ep, pooled) = self.network.setup().await?;
        timings.network = began.elapsed();
        timings.network_pooled = pooled;
        let id = ep.id.as_str();
        let layout = self.layout(id);
        let result = (|| {
            std::fs::create_dir_all(&layout.dir).map_err(network::io_err("create", &layout.dir))?;
            rootfs::write_etc(&layout, &spec.pod_name, ep.ip, &[])?;
            let file_mounts = rootfs::write_file_mounts(&layout, &spec.file_mounts)?;
            let netns = ep.netns_path();
            let cgroup = self.cgroup(id).path;
            let oci = spec::build(
                spec,
                &spec::SpecPaths {
                    rootfs: &layout.rootfs(),
                    netns: &netns,
                    etc_dir: &layout.etc(),
                    binds: file_mounts,
                    cgroup: &cgroup,
                },
            )?;
            let config = layout.dir.join("config.json");
            oci.save(&config)
                .map_err(|e| RuntimeError::Failed(format!("writing {}: {e}", config.display())))?;
            rootfs::mount_overlay(&layout, &spec.image.rootfs)
        })();
        if let Err(e) = result {
            self.network.teardown(&ep).await;
            rootfs::remove(&layout);
            return Err(e);
        }
        timings.rootfs = began.elapsed();
        Ok((ep, layout))
    }
}

#[async_trait::async_trait]
impl Runtime for LocalRuntime {
    async fn start(&self, spec: InstanceSpec) -> Result<InstanceStatus, RuntimeError> {
        let began = Instant::now();
        let busy = self.shared.network.start_in_progress();
        let mut timings = StartTimings::default();
        let (ep, layout) = self.shared.prepare(&spec, began, &mut timings).await?;
        let id = ep.id.clone();
        let status = InstanceStatus {
            id: id.clone(),
            pod_name: spec.pod_name.clone(),
            revision: spec.revision.clone(),
            labels: spec.labels.clone(),
            address: Some(SocketAddr::new(ep.ip.into(), spec.port)),
            phase: Phase::Starting,
            restarts: 0,
            last_exit: None,
            started_at: None,
            ready_at: None,
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        self.shared.instances.lock().unwrap().insert(
            id.clone(),
            Instance {
                status: status.clone(),
                stop: stop_tx,
                task: None,
                timings,
                starting: Some(busy),
            },
        );
        let _ = self.shared.events.send(status.clone());
        let task = tokio::spawn(supervise(
            self.shared.clone(),
            id.clone(),
            spec,
            ep,
            layout,
            stop_rx,
            began,
        ));
        if let Some(inst) = self.shared.instances.lock().unwrap().get_mut(&id) {
            inst.task = Some(task);
            inst.timings.returned = began.elapsed();
        }
        Ok(status)
    }

    async fn stop(&self, id: &str) -> Result<(), RuntimeError> {
        let task = {
            let mut map = self.shared.instances.lock().unwrap();
            let inst = map
                .get_mut(id)
                .ok_or_else(|| RuntimeError::NotFound(id.to_string()))?;
            let _ = inst.stop.send(true);
            inst.task.take()
        };
        if let Some(task) = task {
            let _ = task.await;
        }
        Ok(())
    }

    fn list(&self) -> Vec<InstanceStatus> {
        let mut v: Vec<InstanceStatus> = self
            .shared
            .instances
            .lock()
            .unwrap()
            .values()
            .map(|i| i.status.clone())
            .collect();
        v.sort_by(|a, b| a.pod_name.cmp(&b.pod_name).then(a.id.cmp(&b.id)));
        v
    }

    fn subscribe(&self) -> broadcast::Receiver<InstanceStatus> {
        self.shared.events.subscribe()
    }

    fn usage(&self, id: &str) -> Option<crate::ResourceUsage> {
        if !self.shared.instances.lock().unwrap().contains_key(id) {
            return None;
        }
        self.shared.cgroup(id).usage()
    }

    async fn logs(
        &self,
        id: &str,
        options: LogOptions,
    ) -> Result<BoxStream<'static, bytes::Bytes>, RuntimeError> {
        if !self.shared.instances.lock().unwrap().contains_key(id) {
            return Err(RuntimeError::NotFound(id.to_string()));
        }
        let weak = Arc::downgrade(&self.shared);
        let key = id.to_string();
        let done = move || {
            weak.upgrade().is_none_or(|s| {
                s.instances
                    .lock()
                    .unwrap()
                    .get(&key)
                    .is_none_or(|i| i.status.phase == Phase::Terminated)
            })
        };
        Ok(logs::stream(
            self.shared.log_path(id),
            options.tail_lines,
            options.follow,
            done,
        ))
    }
}

enum Outcome {
    Exited(Exit, Option<String>),
    Stop,
}

/// The life of one instance: run, probe, restart with backoff, until stopped; then
/// free everything.
async fn supervise(
    shared: Arc<Shared>,
    id: String,
    spec: InstanceSpec,
    ep: Endpoint,
    layout: Layout,
    mut stop: watch::Receiver<bool>,
    start_called: Instant,
) {
    let addr = SocketAddr::new(ep.ip.into(), spec.port);
    let c = &spec.container;
    let readiness = c
        .readiness_probe
        .as_ref()
        .and_then(|p| ProbeConfig::from_k8s(p, c, ep.ip.into(), spec.port))
        .unwrap_or_else(|| ProbeConfig::default_readiness(addr));
    let liveness = c
        .liveness_probe
        .as_ref()
        .and_then(|p| ProbeConfig::from_k8s(p, c, ep.ip.into(), spec.port));
    let log = logs::log_path(&layout.dir);
    let cgroup = shared.cgroup(&id);
    let mut crashes: u32 = 0;
    loop {
        let began = Instant::now();
        let exit = match shared.runc.run(&id, &layout.dir, &log).await {
            Ok(proc) => {
                shared.record(&id, |t| {
                    t.runc.get_or_insert(start_called.elapsed());
                });
                shared.update(&id, |s| {
                    s.phase = Phase::Starting;
                    s.started_at = Some(jiff::Timestamp::now());
                    s.ready_at = None;
                });
                let outcome = tokio::select! {
                    exit = proc.wait() => Outcome::Exited(exit, None),
                    _ = readiness_loop(&shared, &id, &readiness, start_called) => unreachable!("readiness loop ends never"),
                    msg = liveness_loop(&shared.runc, &id, liveness.as_ref()) => {
                        kill(&shared, &id, &proc, libc::SIGKILL).await;
                        Outcome::Exited(proc.wait().await, Some(msg))
                    }
                    _ = stopped(&mut stop) => Outcome::Stop,
                };
                match outcome {
                    Outcome::Stop => {
                        drain(&shared, &id).await;
                        graceful_stop(&shared, &id, &proc).await;
                        break;
                    }
                    Outcome::Exited(exit, msg) => {
                        let oom = cgroup.oom_kills() > 0;
                        shared.runc.delete(&id).await;
                        let code = exit.code();
                        let reason = if oom && matches!(exit, Exit::Signal(9)) {
                            "OOMKilled"
                        } else if code == 0 {
                            "Completed"
                        } else {
                            "Error"
                        };
                        ExitInfo {
                            exit_code: code,
                            reason: reason.into(),
                            message: msg.unwrap_or_else(|| match exit {
                                Exit::Signal(s) => format!("killed by signal {s}"),
                                Exit::Code(c) => format!("exited with code {c}"),
                                Exit::Unknown => "exited (status unknown)".into(),
                            }),
                        }
                    }
                }
            }
            Err(e) => {
                shared.runc.delete(&id).await;
                ExitInfo {
                    exit_code: 128,
                    reason: "StartError".into(),
                    message: e.to_string(),
                }
            }
        };
        shared.first_start_done(&id);
        if began.elapsed() >= shared.opts.backoff.reset_after {
            crashes = 0;
        }
        let delay = shared.opts.backoff.delay(crashes);
        crashes = crashes.saturating_add(1);
        tracing::info!(instance = %id, pod = %spec.pod_name, exit_code = exit.exit_code, reason = %exit.reason, ?delay, "instance exited; restarting after backoff");
        shared.update(&id, |s| {
            s.phase = Phase::CrashLoop;
            s.last_exit = Some(exit);
            s.ready_at = None;
        });
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stopped(&mut stop) => break,
        }
        shared.update(&id, |s| s.restarts += 1);
    }
    shared.runc.delete(&id).await;
    rootfs::remove(&layout);
    shared.network.teardown(&ep).await;
    shared.update(&id, |s| {
        s.phase = Phase::Terminated;
        s.ready_at = None;
    });
    shared.instances.lock().unwrap().remove(&id);
}

/// Resolves once a stop was asked for (or the instance's entry is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Takes a Ready instance out of rotation before it is stopped. For the first half of
/// `drain` it keeps serving (a traffic switch that triggered the stop may still be on
/// its way to the gateway), then it is reported not ready (the gateway drops it from
/// the revision's endpoints) and gets the second half for in-flight requests.
async fn drain(shared: &Shared, id: &str) {
    let was_ready = shared
        .instances
        .lock()
        .unwrap()
        .get(id)
        .is_some_and(|i| i.status.phase == Phase::Ready);
    if was_ready && !shared.opts.drain.is_zero() {
        tokio::time::sleep(shared.opts.drain / 2).await;
        shared.update(id, |s| s.phase = Phase::Starting);
        tokio::time::sleep(shared.opts.drain / 2).await;
    }
}

/// Signals the container's init process through its pidfd (as `runc kill` would),
/// falling back to `runc kill` if that fails for another reason than the process
/// being gone.
async fn kill(shared: &Shared, id: &str, proc: &ProcessWatch, signal: i32) {
    if let Err(e) = proc.signal(signal) {
        tracing::debug!(instance = %id, error = %e, "pidfd_send_signal failed; using runc kill");
        let name = if signal == libc::SIGKILL {
            "KILL"
        } else {
            "TERM"
        };
        shared.runc.kill(id, name).await;
    }
}

/// SIGTERM, up to the grace period, then SIGKILL.
async fn graceful_stop(shared: &Shared, id: &str, proc: &ProcessWatch) {
    kill(shared, id, proc, libc::SIGTERM).await;
    if tokio::time::timeout(shared.opts.stop_grace, proc.wait())
        .await
        .is_err()
    {
        kill(shared, id, proc, libc::SIGKILL).await;
        let _ = tokio::time::timeout(Duration::from_secs(10), proc.wait()).await;
    }
}

/// Probes readiness (aggressively from the start until the first success, then every
/// period) and flips the instance between Starting and Ready. Never returns.
async fn readiness_loop(shared: &Shared, id: &str, probe: &ProbeConfig, start_called: Instant) {
    // (a zero sleep would still wait for the timer's next 1 ms tick)
    if !probe.initial_delay.is_zero() {
        tokio::time::sleep(probe.initial_delay).await;
    }
    let mut intervals = probes::aggressive_intervals();
    while !probe.check_starting(&shared.runc, id).await {
        tokio::time::sleep(intervals.next().unwrap_or(probes::AGGRESSIVE_INTERVAL)).await;
    }
    let set_ready = |ready: bool| {
        shared.update(id, |s| {
            if ready {
                s.phase = Phase::Ready;
                s.ready_at = Some(jiff::Timestamp::now());
            } else {
                s.phase = Phase::Starting;
                s.ready_at = None;
            }
        })
    };
    shared.record(id, |t| {
        t.ready.get_or_insert(start_called.elapsed());
    });
    shared.first_start_done(id);
    set_ready(true);
    let (mut ready, mut successes, mut failures) = (true, 0u32, 0u32);
    loop {
        tokio::time::sleep(probe.period).await;
        if probe.check(&shared.runc, id).await {
            successes += 1;
            failures = 0;
            if !ready && successes >= probe.success_threshold {
                ready = true;
                set_ready(true);
            }
        } else {
            failures += 1;
            successes = 0;
            if ready && failures >= probe.failure_threshold {
                ready = false;
                set_ready(false);
            }
        }
    }
}

/// Returns (with a message) once the liveness probe has failed `failureThreshold`
/// times in a row; pends forever without a probe.
async fn liveness_loop(runc: &Runc, id: &str, probe: Option<&ProbeConfig>) -> String {
    let Some(probe) = probe else {
        return std::future::pending().await;
    };
    tokio::time::sleep(probe.initial_delay).await;
    let mut failures = 0;
    loop {
        tokio::time::sleep(probe.period).await;
        if probe.check(runc, id).await {
            failures = 0;
        } else {
            failures += 1;
            if failures >= probe.failure_threshold {
                return format!(
                    "Liveness probe failed {failures} times ({:?}); container killed",
                    probe.action
                );
            }
        }
    }
}

/// Where an instance's files are, for a runtime on `state_dir` (tests and tooling).
pub fn instance_dir(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join("instances").join(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let b = BackoffPolicy::default();
        assert_eq!(b.delay(0), Duration::from_secs(1));
        assert_eq!(b.delay(1), Duration::from_secs(2));
        assert_eq!(b.delay(3), Duration::from_secs(8));
        assert_eq!(b.delay(9), Duration::from_secs(300));
        assert_eq!(b.delay(100), Duration::from_secs(300));
    }
}
