//! `skiff server`: opens the store, installs the built-in namespaces and CRDs, and
//! serves the API over HTTPS (HTTP/2 and HTTP/1.1) until interrupted.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use skiff_store::{Key, Store, StoreOptions};
use tokio::net::TcpListener;
use tower::Service;

use crate::clock::{Clock, SystemClock};
use crate::http::{router, App, HttpOptions};
use crate::objects::{Objects, WriteOptions};

/// Everything `skiff server` can be told.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub data_dir: PathBuf,
    pub api_addr: SocketAddr,
    /// Reserved for the gateway (next issue); validated and reported, not yet served.
    pub gateway_addr: SocketAddr,
    pub http: HttpOptions,
    pub event_history: u64,
}

/// The pieces of a started server, for embedding and tests.
pub struct Server {
    pub app: Arc<App>,
    pub local_addr: SocketAddr,
    pub kubeconfig: PathBuf,
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
}

/// Opens the store, installs built-ins and binds the listener.
pub async fn start(config: ServerConfig) -> Result<Server> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let store = Store::open(
        &config.data_dir.join("skiff.db"),
        StoreOptions {
            event_history: config.event_history,
            ..Default::default()
        },
    )
    .context("opening the store")?;
    let t = std::time::Instant::now();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let objects = Arc::new(Objects::new(Arc::new(store), clock));
    tracing::debug!(
        ms = t.elapsed().as_secs_f64() * 1e3,
        "store opened, registry built"
    );
    install_builtins(&objects)?;
    tracing::debug!(ms = t.elapsed().as_secs_f64() * 1e3, "built-ins installed");
    let listener = TcpListener::bind(config.api_addr)
        .await
        .with_context(|| format!("binding {}", config.api_addr))?;
    let local_addr = listener.local_addr()?;
    let creds = crate::pki::ensure(&config.data_dir, local_addr)?;
    let tls = Arc::new(crate::pki::tls_config(&creds)?);
    tracing::debug!(
        ms = t.elapsed().as_secs_f64() * 1e3,
        "credentials and TLS ready"
    );
    let app = Arc::new(App {
        objects,
        tokens: vec![creds.admin_token.clone()],
        options: config.http.clone(),
        pod_logs: Default::default(),
        sa_tokens: crate::auth::TokenIssuer::new(&creds.sa_key),
    });
    Ok(Server {
        app,
        local_addr,
        kubeconfig: creds.kubeconfig_path,
        listener,
        tls,
    })
}

/// Creates the namespaces, default ServiceAccounts, default RBAC policy and CRDs every
/// server has, updating CRDs whose definition changed with a new skiff version.
pub fn install_builtins(objects: &Objects) -> Result<()> {
    install_namespaces_and_crds(objects)?;
    install_rbac_defaults(objects)?;
    let (namespaces, _) = objects.store.list("/namespaces", None);
    for ns in namespaces {
        let terminating = ns.pointer("/metadata/deletionTimestamp").is_some();
        if let (Some(name), false) = (
            ns.pointer("/metadata/name").and_then(Value::as_str),
            terminating,
        ) {
            objects.ensure_default_service_account(name);
        }
    }
    Ok(())
}

/// Kubernetes' bootstrap RBAC policy (see `rbac::bootstrap_cluster_roles`): created
/// when missing, and brought up to date while their
/// `rbac.authorization.kubernetes.io/autoupdate` annotation is "true".
fn install_rbac_defaults(objects: &Objects) -> Result<()> {
    let registry = objects.registry();
    // `admin`/`edit`/`view` cover skiff's own CRD groups.
    let mut groups: Vec<String> = skiff_api::BUILTIN_CRD_NAMES
        .iter()
        .filter_map(|n| n.split_once('.').map(|(_, g)| g.to_string()))
        .collect();
    groups.sort();
    groups.dedup();
    let kinds = [
        (
            "clusterroles",
            crate::rbac::bootstrap_cluster_roles(&groups),
        ),
        (
            "clusterrolebindings",
            crate::rbac::bootstrap_cluster_role_bindings(),
        ),
    ];
    for (plural, wanted) in kinds {
        let def = registry
            .find(crate::rbac::GROUP, "v1", plural)
            .context("RBAC kinds are always served")?;
        for obj in wanted {
            let name = obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            match objects
                .store
                .get(&Key::new(&def.storage_resource(), "", &name))
            {
                None => {
                    objects
                        .create(&def, "", obj, &WriteOptions::default())
                        .map_err(|e| anyhow::anyhow!("creating {plural} {name}: {e}"))?;
                }
                Some(existing) => {
                    let auto = existing
                        .pointer(
                            "/metadata/annotations/rbac.authorization.kubernetes.io~1autoupdate",
                        )
                        .and_then(Value::as_str)
                        == Some("true");
                    let same = ["rules", "subjects", "roleRef"]
                        .iter()
                        .all(|f| existing.get(*f) == obj.get(*f));
                    if auto && !same {
                        let mut updated = (*existing).clone();
                        for f in ["rules", "subjects", "roleRef"] {
                            if let Some(v) = obj.get(f) {
                                updated[f] = v.clone();
                            }
                        }
                        objects
                            .update(&def, "", &name, updated, &WriteOptions::default())
                            .map_err(|e| anyhow::anyhow!("updating {plural} {name}: {e}"))?;
                    }
                }
            }
        }
    }
    Ok(())
}

fn install_namespaces_and_crds(objects: &Objects) -> Result<()> {
    let registry = objects.registry();
    let ns_def = registry
        .find("", "v1", "namespaces")
        .context("namespaces are always served")?;
    for ns in ["default", "kube-system", "kube-public", "knative-serving"] {
        if objects
            .store
            .get(&Key::new("/namespaces", "", ns))
            .is_none()
        {
            objects
                .create(
                    &ns_def,
                    "",
                    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
                    &WriteOptions::default(),
                )
                .map_err(|e| anyhow::anyhow!("creating namespace {ns}: {e}"))?;
        }
    }
    let crd_def = registry
        .find("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        .context("CRDs are always served")?;
    let crd_key = |name: &str| Key::new("apiextensions.k8s.io/customresourcedefinitions", "", name);
    let current = skiff_api::BUILTIN_CRD_NAMES.iter().all(|name| {
        objects.store.get(&crd_key(name)).is_some_and(|crd| {
            crd.pointer("/metadata/annotations")
                .and_then(|a| a.get(skiff_api::FINGERPRINT_ANNOTATION))
                .and_then(Value::as_str)
                == Some(skiff_api::BUILTIN_CRDS_FINGERPRINT)
        })
    });
    if current {
        // Generating the CRDs is the slow part of start-up; skip it when nothing changed.
        return Ok(());
    }
    for crd in skiff_api::builtin_crds() {
        let mut crd: Value = serde_json::to_value(&crd)?;
        let name = crd
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        match objects.store.get(&crd_key(&name)) {
            None => {
                objects
                    .create(&crd_def, "", crd, &WriteOptions::default())
                    .map_err(|e| anyhow::anyhow!("installing CRD {name}: {e}"))?;
            }
            Some(existing) => {
                crd["metadata"]["resourceVersion"] =
                    existing["metadata"]["resourceVersion"].clone();
                objects
                    .update(&crd_def, "", &name, crd, &WriteOptions::default())
                    .map_err(|e| anyhow::anyhow!("updating CRD {name}: {e}"))?;
            }
        }
    }
    Ok(())
}

impl Server {
    /// Serves connections until `shutdown` resolves.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) -> Result<()> {
        let router = router(self.app.clone(), true);
        let acceptor = tokio_rustls::TlsAcceptor::from(self.tls.clone());
        tokio::spawn(crate::gc::run(
            self.app.objects.clone(),
            Duration::from_secs(30),
        ));
        // Parsed schemas nobody used for a minute go (see `registry::Schema`).
        let objects = self.app.objects.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(15));
            loop {
                every.tick().await;
                objects.registry().expire_schemas(Duration::from_secs(60));
            }
        });
        tokio::pin!(shutdown);
        loop {
            let (tcp, peer) = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => { tracing::warn!(error = %e, "accept failed"); continue; }
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let router = router.clone();
            tokio::spawn(async move {
                let tls = match acceptor.accept(tcp).await {
                    Ok(t) => t,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let mut router = router.clone();
                        async move { router.call(req.map(axum::body::Body::new)).await }
                    },
                );
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                if let Err(e) = builder
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await
                {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
            });
        }
    }
}

/// Runs `skiff server` until Ctrl-C or SIGTERM.
pub async fn run(config: ServerConfig) -> Result<()> {
    let started = std::time::Instant::now();
    let server = start(config.clone()).await?;
    tracing::info!(
        api = %format!("https://{}", server.local_addr),
        kubeconfig = %server.kubeconfig.display(),
        gateway = %config.gateway_addr,
        startup_ms = started.elapsed().as_millis() as u64,
        "skiff API server ready"
    );
    eprintln!(
        "skiff API server listening on https://{}",
        server.local_addr
    );
    eprintln!(
        "kubeconfig: export KUBECONFIG={}",
        server.kubeconfig.display()
    );
    server
        .serve(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        })
        .await
}

/// A `kube::Client` that calls the API router in-process: no TCP, no TLS, no token.
pub fn in_process_client(app: Arc<App>) -> kube::Client {
    let router = router(app, false);
    kube::Client::new(router, "default")
}
