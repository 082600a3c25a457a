//! `skiff server`: the composition root. It starts the API server, then — with the
//! local runtime — the image store, runc runtime, serving controllers (talking to the
//! API in-process), the Pod mirror and the gateway, and stops them all on Ctrl-C or
//! SIGTERM, leaving no instance behind.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use skiff_apiserver::pod_logs::{PodLogRequest, PodLogSource};
use skiff_apiserver::status::ApiError;
use skiff_runtime::{ImageRootfs, LogOptions, Runtime};
use tokio::sync::watch;

/// Flags of `skiff server`.
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// Where the store, certificates, token, kubeconfig, images and instances live.
    #[arg(long, env = "SKIFF_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the HTTPS Kubernetes API.
    #[arg(long, default_value = "127.0.0.1:6443")]
    api_addr: SocketAddr,
    /// Address of the HTTP gateway that serves Knative routes.
    #[arg(long, default_value = "127.0.0.1:8080")]
    gateway_addr: SocketAddr,
    /// Address of the gateway's admin server (`/metrics`, `/healthz`).
    #[arg(long, default_value = "127.0.0.1:9095")]
    metrics_addr: SocketAddr,
    /// Default domain of Route URLs: `{route}.{namespace}.{domain}` (the `config-domain`
    /// ConfigMap in `knative-serving` overrides it, as in Knative).
    #[arg(long, default_value = "localhost")]
    domain: String,
    /// Where instances run: `local` (runc, needs root) or `none` (API only: objects are
    /// stored and validated, nothing is reconciled).
    #[arg(long, value_enum, default_value = "local")]
    runtime: RuntimeKind,
    /// Bridge the local runtime attaches instances to.
    #[arg(long, default_value = "skiff0")]
    bridge: String,
    /// Subnet instance IPs come from.
    #[arg(long, default_value = "10.88.0.0/16")]
    subnet: String,
    /// Where the gateway writes one JSON line per request: `stderr`, a file path, or `off`.
    #[arg(long, default_value = "off")]
    request_log: String,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Registry mirror `REGISTRY=ENDPOINT` (repeatable; e.g. `docker.io=http://127.0.0.1:5000`):
    /// pulls of that registry's images (Revisions, pipeline steps) try the mirrors in
    /// order before the registry itself, as containerd's mirrors do, so air-gapped
    /// machines can run manifests that name public images.
    #[arg(long = "registry-mirror", value_name = "REGISTRY=ENDPOINT")]
    registry_mirrors: Vec<skiff_images::Mirror>,
    /// Image of the clone steps of v1alpha1 git PipelineResources (needs `sh` and `git`).
    #[arg(long, default_value = skiff_api::tekton::resources::DEFAULT_GIT_IMAGE)]
    git_image: String,
    /// Largest request body accepted, in bytes (bigger → 413).
    #[arg(long, default_value_t = 3 * 1024 * 1024)]
    max_request_bytes: usize,
    /// Seconds between watch bookmarks for clients that allow them.
    #[arg(long, default_value_t = 60)]
    watch_bookmark_interval: u64,
    /// How many change events are kept for watches that resume from an old resourceVersion.
    #[arg(long, default_value_t = 100_000)]
    watch_history: u64,
}

/// Which runtime runs instances.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuntimeKind {
    Local,
    None,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

/// The default data dir: `$XDG_DATA_HOME/skiff` or `~/.local/share/skiff`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("skiff");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".local/share/skiff")
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Resolves once Ctrl-C or SIGTERM arrives.
async fn interrupted() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Gives memory the allocator holds but no longer uses back to the OS, every 10 s.
/// glibc keeps freed memory in its per-thread arenas; after a burst of traffic that
/// would stay resident for good, so an idle server would not shrink back.
async fn return_freed_memory() {
    let mut every = tokio::time::interval(Duration::from_secs(10));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only walks the allocator's own free lists.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

/// Runs `skiff server` until interrupted.
pub async fn run(args: ServerArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let started = std::time::Instant::now();
    let data_dir = args.data_dir.clone().unwrap_or_else(default_data_dir);
    let config = skiff_apiserver::ServerConfig {
        data_dir: data_dir.clone(),
        api_addr: args.api_addr,
        gateway_addr: args.gateway_addr,
        http: skiff_apiserver::http::HttpOptions {
            max_body_bytes: args.max_request_bytes,
            bookmark_interval: Duration::from_secs(args.watch_bookmark_interval.max(1)),
            ..Default::default()
        },
        event_history: args.watch_history,
    };
    let api = skiff_apiserver::start(config).await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };

    let mut serving_parts = None;
    if args.runtime == RuntimeKind::Local {
        serving_parts = Some(start_serving(&args, &data_dir, &api.app, api.local_addr).await?);
    }
    eprintln!("skiff API server listening on https://{}", api.local_addr);
    eprintln!("kubeconfig: export KUBECONFIG={}", api.kubeconfig.display());
    tracing::info!(startup_ms = started.elapsed().as_millis() as u64, runtime = ?args.runtime, "skiff server ready");

    let api_task = tokio::spawn(api.serve(stopped()));
    let mut tasks = Vec::new();
    if let Some((gateway, _, _)) = &serving_parts {
        let admin = tokio::net::TcpListener::bind(args.metrics_addr)
            .await
            .with_context(|| format!("binding the metrics server to {}", args.metrics_addr))?;
        // One current-thread runtime per core, each with its own SO_REUSEPORT listener:
        // a request stays on one thread from client to instance.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_core = gateway
            .clone()
            .serve_per_core(args.gateway_addr, threads, stopped())
            .with_context(|| format!("binding the gateway to {}", args.gateway_addr))?;
        tasks.push(tokio::spawn(per_core));
        eprintln!(
            "gateway listening on http://{} (metrics on http://{}/metrics)",
            args.gateway_addr, args.metrics_addr
        );
        tasks.push(tokio::spawn(gateway.clone().serve_admin(admin, stopped())));
    }

    let trimmer = tokio::spawn(return_freed_memory());
    interrupted().await;
    trimmer.abort();
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    if let Some((_, runtime, serving)) = serving_parts {
        serving.handle.abort();
        runtime.shutdown().await;
    }
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), api_task).await;
    Ok(())
}

/// Starts the image store, the local runtime, the serving controllers, the Pod mirror
/// and the gateway (not yet listening).
async fn start_serving(
    args: &ServerArgs,
    data_dir: &std::path::Path,
    app: &Arc<skiff_apiserver::http::App>,
    api_addr: SocketAddr,
) -> anyhow::Result<(
    skiff_gateway::Gateway,
    Arc<skiff_runtime::LocalRuntime>,
    skiff_serving::Serving,
)> {
    // The local runtime creates network namespaces and runs runc: root only.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!(
            "the local runtime needs root (network namespaces, runc); run skiff server as root, or with --runtime none to serve the API only"
        );
    }
    let images = Arc::new(
        skiff_images::ImageStore::open_with(
            data_dir.join("images"),
            skiff_images::StoreOptions {
                mirrors: args.registry_mirrors.clone(),
                ..Default::default()
            },
        )
        .context("opening the image store")?,
    );
    let mut options = skiff_runtime::LocalRuntimeOptions::new(data_dir.join("runtime"));
    options.bridge = args.bridge.clone();
    options.subnet = args.subnet.clone();
    let runtime = skiff_runtime::LocalRuntime::new(options)
        .await
        .context("starting the local runtime")?;
    app.pod_logs.set(Arc::new(RuntimeLogs(runtime.clone())));

    let client = skiff_apiserver::in_process_client(app.clone());
    // The gateway records per-revision concurrency and pokes; the autoscaler reads them.
    let scaling_stats = Arc::new(skiff_gateway::ScalingStats::default());
    let url_port = match args.gateway_addr.port() {
        80 => None,
        p => Some(p),
    };
    let serving = skiff_serving::run(
        client.clone(),
        runtime.clone(),
        Arc::new(StoreImages(images.clone())),
        skiff_serving::ServingOptions {
            domain: args.domain.clone(),
            url_port,
            scaling_stats: scaling_stats.clone(),
            ..Default::default()
        },
    )
    .await;
    tokio::spawn(skiff_serving::pods::mirror_pods(
        client.clone(),
        runtime.clone(),
    ));
    start_pipelines(
        client,
        &runtime,
        images.clone(),
        data_dir,
        app,
        api_addr,
        &args.git_image,
    )
    .await?;
    let request_log = match args.request_log.as_str() {
        "off" | "" => skiff_gateway::RequestLogSink::Disabled,
        "stderr" => skiff_gateway::RequestLogSink::Stderr,
        path => skiff_gateway::RequestLogSink::File(PathBuf::from(path)),
    };
    let gateway = skiff_gateway::Gateway::new(
        serving.gateway.clone(),
        serving.endpoints.clone(),
        skiff_gateway::GatewayOptions {
            request_log,
            stats: scaling_stats,
            ..Default::default()
        },
    );
    Ok((gateway, runtime, serving))
}

/// Starts the Tekton controllers on the local runtime, and the API's address for steps:
/// a TCP forwarder from the bridge's address (what `kubernetes.default.svc` resolves to
/// inside task pods) to the API server, on the API's port.
async fn start_pipelines(
    client: kube::Client,
    runtime: &Arc<skiff_runtime::LocalRuntime>,
    images: Arc<skiff_images::ImageStore>,
    data_dir: &std::path::Path,
    app: &Arc<skiff_apiserver::http::App>,
    api_addr: SocketAddr,
    git_image: &str,
) -> anyhow::Result<()> {
    use skiff_runtime::TaskRuntime;
    // An API on every address is reachable from pods already.
    if !api_addr.ip().is_unspecified() {
        let inside = SocketAddr::new(runtime.host_address(), api_addr.port());
        let listener = tokio::net::TcpListener::bind(inside)
            .await
            .with_context(|| format!("binding the API forwarder for task pods to {inside}"))?;
        tokio::spawn(forward_tcp(listener, api_addr));
    }
    let ca_pem = std::fs::read_to_string(data_dir.join("pki/ca.crt"))
        .context("reading the API server's CA certificate")?;
    skiff_pipelines::run(
        client,
        runtime.clone(),
        Arc::new(StoreImages(images)),
        Arc::new(ApiTokens(app.clone())),
        skiff_pipelines::PipelinesOptions {
            data_dir: data_dir.to_path_buf(),
            api_port: api_addr.port(),
            ca_pem,
            git_image: git_image.to_string(),
        },
        Arc::new(skiff_pipelines::SecondsClock),
    );
    Ok(())
}

/// Accepts connections and pipes each to `to` (the API server on loopback).
async fn forward_tcp(listener: tokio::net::TcpListener, to: SocketAddr) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(to).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

/// Service-account tokens for steps, minted by the API server.
struct ApiTokens(Arc<skiff_apiserver::http::App>);

impl skiff_pipelines::TokenIssuer for ApiTokens {
    fn token(&self, namespace: &str, name: &str, ttl: Duration) -> Result<String, String> {
        self.0
            .service_account_token(namespace, name, ttl)
            .map(|t| t.token)
            .map_err(|e| e.to_string())
    }
}

/// `kubectl logs` of a task pod: `-c` picks the step; without it a pod of one
/// container shows that one, else Kubernetes' error naming the choices.
async fn task_pod_logs(
    runtime: &Arc<skiff_runtime::LocalRuntime>,
    request: PodLogRequest,
) -> Result<BoxStream<'static, bytes::Bytes>, ApiError> {
    use skiff_runtime::TaskRuntime;
    let key = skiff_runtime::PodKey {
        namespace: request.namespace.clone(),
        name: request.pod.clone(),
    };
    let container = match request.container.clone() {
        Some(c) => c,
        None => {
            let names: Vec<String> = match runtime.pod(&key) {
                Some(p) => p
                    .sidecars
                    .iter()
                    .chain(&p.steps)
                    .map(|c| c.name.clone())
                    .collect(),
                None => Vec::new(),
            };
            match names.as_slice() {
                [one] => one.clone(),
                [] => return Err(ApiError::not_found("", "pods", &request.pod)),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "a container name must be specified for pod {}, choose one of: [{}]",
                        request.pod,
                        names.join(" ")
                    )))
                }
            }
        }
    };
    let options = LogOptions {
        follow: request.follow,
        tail_lines: request.tail_lines,
    };
    match runtime.pod_logs(&key, &container, options).await {
        Ok(stream) => Ok(stream),
        Err(skiff_runtime::RuntimeError::NotFound(_)) => match runtime.pod(&key) {
            Some(_) => Err(ApiError::bad_request(format!(
                "container {container} is not valid for pod {}",
                request.pod
            ))),
            None => Err(ApiError::not_found("", "pods", &request.pod)),
        },
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The image store as the serving controllers' image source; pull secrets of type
/// `kubernetes.io/dockerconfigjson` supply registry credentials.
struct StoreImages(Arc<skiff_images::ImageStore>);

impl StoreImages {
    fn auth_for(image: &str, secrets: &[k8s_openapi::api::core::v1::Secret]) -> skiff_images::Auth {
        let Ok(reference) = skiff_images::ImageRef::parse(image) else {
            return skiff_images::Auth::Anonymous;
        };
        secrets
            .iter()
            .filter_map(|s| s.data.as_ref()?.get(".dockerconfigjson"))
            .find_map(|bytes| {
                skiff_images::auth_from_docker_config_json(&bytes.0, &reference.registry)
            })
            .unwrap_or_default()
    }
}

#[async_trait::async_trait]
impl skiff_serving::ImageSource for StoreImages {
    async fn resolve(
        &self,
        image: &str,
        pull_secrets: &[k8s_openapi::api::core::v1::Secret],
    ) -> Result<String, String> {
        self.0
            .resolve(image, &Self::auth_for(image, pull_secrets))
            .await
            .map_err(|e| e.to_string())
    }

    async fn pull(
        &self,
        image_with_digest: &str,
        pull_secrets: &[k8s_openapi::api::core::v1::Secret],
    ) -> Result<ImageRootfs, String> {
        self.0
            .pull(
                image_with_digest,
                &Self::auth_for(image_with_digest, pull_secrets),
            )
            .await
            .map_err(|e| e.to_string())
    }
}

/// Serves `kubectl logs` from the runtime: finds the instance behind a Pod name, or the
/// task pod of that name (whose containers are its steps and sidecars).
struct RuntimeLogs(Arc<skiff_runtime::LocalRuntime>);

impl PodLogSource for RuntimeLogs {
    fn logs(
        &self,
        request: PodLogRequest,
    ) -> BoxFuture<'static, Result<BoxStream<'static, bytes::Bytes>, ApiError>> {
        let runtime = self.0.clone();
        Box::pin(async move {
            let instance = runtime
                .list()
                .into_iter()
                .find(|i| i.pod_name == request.pod && i.revision.namespace == request.namespace);
            let Some(instance) = instance else {
                return task_pod_logs(&runtime, request).await;
            };
            if let Some(c) = request
                .container
                .as_deref()
                .filter(|c| *c != "user-container")
            {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {}",
                    request.pod
                )));
            }
            runtime
                .logs(
                    &instance.id,
                    LogOptions {
                        follow: request.follow,
                        tail_lines: request.tail_lines,
                    },
                )
                .await
                .map_err(ApiError::internal)
        })
    }
}
