//! Test harness: an in-process API server over a temp store, the serving controllers,
//! a fake runtime and a fake image source.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::BoxStream;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use serde_json::Value;
use skiff_apiserver::clock::SystemClock;
use skiff_apiserver::http::{App, HttpOptions};
use skiff_apiserver::objects::Objects;
use skiff_runtime::{
    ExitInfo, ImageRootfs, InstanceSpec, InstanceStatus, LogOptions, Phase, RevisionKey, Runtime,
    RuntimeError,
};
use skiff_serving::{ImageSource, Serving, ServingOptions};
use skiff_store::{Store, StoreOptions};
use tokio::sync::broadcast;

/// A runtime that runs nothing: instances become Ready at once unless their container
/// has env `CRASH=<code>` (they crash-loop with that exit code) or `HANG=1` (they stay
/// Starting).
pub struct FakeRuntime {
    pub instances: Mutex<BTreeMap<String, InstanceStatus>>,
    pub started: Mutex<Vec<InstanceSpec>>,
    pub stopped: Mutex<Vec<String>>,
    /// What `usage` reports per instance id (tests set it).
    pub usage: Mutex<BTreeMap<String, skiff_runtime::ResourceUsage>>,
    tx: broadcast::Sender<InstanceStatus>,
    next: AtomicU32,
}

impl FakeRuntime {
    pub fn new() -> Arc<Self> {
        Arc::new(FakeRuntime {
            instances: Mutex::new(BTreeMap::new()),
            started: Mutex::new(vec![]),
            usage: Mutex::new(BTreeMap::new()),
            stopped: Mutex::new(vec![]),
            tx: broadcast::channel(1024).0,
            next: AtomicU32::new(1),
        })
    }

    /// Live instances of one revision.
    pub fn live(&self, ns: &str, name: &str) -> Vec<InstanceStatus> {
        self.list()
            .into_iter()
            .filter(|i| i.revision.namespace == ns && i.revision.name == name)
            .filter(|i| i.phase != Phase::Terminated)
            .collect()
    }

    pub fn live_total(&self) -> usize {
        self.list()
            .iter()
            .filter(|i| i.phase != Phase::Terminated)
            .count()
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut InstanceStatus)) {
        let snapshot = {
            let mut all = self.instances.lock().unwrap();
            let Some(inst) = all.get_mut(id) else { return };
            f(inst);
            inst.clone()
        };
        let _ = self.tx.send(snapshot);
    }
}

fn env(spec: &InstanceSpec, name: &str) -> Option<String> {
    spec.container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == name)
        .and_then(|e| e.value.clone())
}

#[async_trait::async_trait]
impl Runtime for FakeRuntime {
    fn usage(&self, id: &str) -> Option<skiff_runtime::ResourceUsage> {
        self.usage.lock().unwrap().get(id).copied()
    }

    async fn start(&self, spec: InstanceSpec) -> Result<InstanceStatus, RuntimeError> {
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let id = format!("inst-{n}");
        let status = InstanceStatus {
            id: id.clone(),
            pod_name: spec.pod_name.clone(),
            revision: spec.revision.clone(),
            labels: spec.labels.clone(),
            address: Some(SocketAddr::from((
                [10, 0, (n / 256) as u8, (n % 256) as u8],
                spec.port,
            ))),
            phase: Phase::Starting,
            restarts: 0,
            last_exit: None,
            started_at: Some(jiff::Timestamp::now()),
            ready_at: None,
        };
        self.instances
            .lock()
            .unwrap()
            .insert(id.clone(), status.clone());
        let crash = env(&spec, "CRASH").and_then(|c| c.parse::<i32>().ok());
        let hang = env(&spec, "HANG").is_some();
        self.started.lock().unwrap().push(spec);
        let _ = self.tx.send(status.clone());
        if let Some(code) = crash {
            self.update(&id, |i| {
                i.phase = Phase::CrashLoop;
                i.restarts = 1;
                i.last_exit = Some(ExitInfo {
                    exit_code: code,
                    reason: "Error".into(),
                    message: format!("exit status {code}"),
                });
            });
        } else if !hang {
            self.update(&id, |i| {
                i.phase = Phase::Ready;
                i.ready_at = Some(jiff::Timestamp::now());
            });
        }
        Ok(status)
    }

    async fn stop(&self, id: &str) -> Result<(), RuntimeError> {
        let removed = self.instances.lock().unwrap().remove(id);
        let Some(mut inst) = removed else {
            return Err(RuntimeError::NotFound(id.to_string()));
        };
        self.stopped.lock().unwrap().push(id.to_string());
        inst.phase = Phase::Terminated;
        let _ = self.tx.send(inst);
        Ok(())
    }

    fn list(&self) -> Vec<InstanceStatus> {
        self.instances.lock().unwrap().values().cloned().collect()
    }

    fn subscribe(&self) -> broadcast::Receiver<InstanceStatus> {
        self.tx.subscribe()
    }

    async fn logs(
        &self,
        id: &str,
        _options: LogOptions,
    ) -> Result<BoxStream<'static, bytes::Bytes>, RuntimeError> {
        Err(RuntimeError::NotFound(id.to_string()))
    }
}

/// Fixed digests; any image whose name contains `bad` does not exist.
pub struct FakeImages;

pub fn digest_of(image: &str) -> String {
    let mut h: u64 = 1469598103934665603;
    for b in image.split(':').next().unwrap().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(1099511628211);
    }
    format!("sha256:{h:064x}")
}

#[async_trait::async_trait]
impl ImageSource for FakeImages {
    async fn resolve(&self, image: &str, _secrets: &[Secret]) -> Result<String, String> {
        if image.contains("bad") {
            return Err("manifest unknown: the image does not exist".into());
        }
        Ok(digest_of(image))
    }

    async fn pull(&self, image: &str, _secrets: &[Secret]) -> Result<ImageRootfs, String> {
        Ok(ImageRootfs {
            rootfs: "/nonexistent/rootfs".into(),
            digest: image.split('@').nth(1).unwrap_or_default().to_string(),
            entrypoint: vec!["/app".into()],
            cmd: vec![],
            env: vec![],
            working_dir: None,
            user: None,
        })
    }
}

pub struct Harness {
    _dir: tempfile::TempDir,
    pub client: kube::Client,
    pub runtime: Arc<FakeRuntime>,
    pub serving: Serving,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.serving.handle.abort();
    }
}

pub async fn start(options: ServingOptions) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.db"), StoreOptions::default()).unwrap();
    let objects = Arc::new(Objects::new(Arc::new(store), Arc::new(SystemClock)));
    skiff_apiserver::server::install_builtins(&objects).unwrap();
    tokio::spawn(skiff_apiserver::gc::run(
        objects.clone(),
        Duration::from_millis(200),
    ));
    let app = Arc::new(App::new(objects, vec![], HttpOptions::default()));
    let client = skiff_apiserver::in_process_client(app);
    let runtime = FakeRuntime::new();
    let serving = skiff_serving::run(
        client.clone(),
        runtime.clone(),
        Arc::new(FakeImages),
        options,
    )
    .await;
    Harness {
        _dir: dir,
        client,
        runtime,
        serving,
    }
}

/// Polls `f` until it returns `Some`, failing after 10 s with `what`.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates an object from JSON in namespace `default`.
pub async fn create<K>(client: &kube::Client, v: Value) -> K
where
    K: kube::Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), "default");
    let obj: K = serde_json::from_value(v).unwrap();
    api.create(&PostParams::default(), &obj).await.unwrap()
}

/// A condition of a status as (status, reason, message).
pub fn condition(
    conds: Option<&Vec<skiff_api::v1::Condition>>,
    t: &str,
) -> Option<(String, String, String)> {
    conds?.iter().find(|c| c.type_ == t).map(|c| {
        (
            c.status.clone(),
            c.reason.clone().unwrap_or_default(),
            c.message.clone().unwrap_or_default(),
        )
    })
}

pub fn key(name: &str) -> RevisionKey {
    RevisionKey {
        namespace: "default".into(),
        name: name.into(),
    }
}
