//! Knative Serving controllers: Service → Configuration → Revision, Route → traffic.
//!
//! They reproduce knative/serving's `pkg/reconciler/{service,configuration,revision,route}`
//! with `kube::runtime::Controller`s that only know a [`kube::Client`] (so they run the
//! same against skiff's in-process API server or a real cluster). What they decide leaves
//! the crate three ways:
//!
//! * API objects and their `status` (conditions with Knative's types and reasons);
//! * instances, through the [`skiff_runtime::Runtime`] trait: as many as the
//!   revision's PodAutoscaler says (Knative's KPA or HPA class, see `autoscaling`)
//!   for revisions that take traffic or are their Configuration's latest, 0 for the rest;
//! * the gateway's routing table and endpoints, on `tokio::sync::watch` channels
//!   ([`skiff_gateway::config::GatewayConfig`], [`skiff_gateway::config::Endpoints`]).
//!
//! Start everything with [`run`].

#![warn(missing_docs)]

mod autoscaling;
mod conditions;
mod config_map;
mod configuration;
mod domain;
mod instance;
mod labels;
pub mod pods;
mod publish;
mod revision;
mod route;
mod service;
mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use skiff_autoscaler::AutoscalerConfig;
use skiff_gateway::config::{Endpoints, GatewayConfig};
use skiff_gateway::ScalingStats;
pub use skiff_runtime::ImageSource;
use skiff_runtime::{ImageRootfs, Runtime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use domain::DomainConfig;
pub use labels::*;

/// The time source of every time-dependent decision (progress deadlines), injectable
/// so tests need not wait.
pub use skiff_api::clock::{Clock, SystemClock};

/// How the controllers behave; defaults match Knative's defaults on one machine.
#[derive(Clone)]
pub struct ServingOptions {
    /// Default domain of Route URLs (`{route}.{namespace}.{domain}`), used unless the
    /// `config-domain` ConfigMap says otherwise. Default `localhost`.
    pub domain: String,
    /// Port shown in public URLs (the gateway's port), e.g. `8080` →
    /// `http://hello.default.localhost:8080`. `None` omits it.
    pub url_port: Option<u16>,
    /// How long a new Revision may take to become ready before it is marked
    /// `ProgressDeadlineExceeded` (Knative's `progress-deadline`, default 600 s); the
    /// `serving.knative.dev/progress-deadline` annotation overrides it per Revision.
    pub progress_deadline: Duration,
    /// Namespace of `config-domain` (Knative's system namespace).
    pub system_namespace: String,
    /// Periodic re-reconcile of every object, in case an event was missed.
    pub resync: Duration,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// The gateway's per-revision concurrency and pokes (the autoscaler's inputs),
    /// and where the autoscaler's decisions are shown on `/metrics`. Share it with
    /// the gateway ([`skiff_gateway::GatewayOptions::stats`]).
    pub scaling_stats: Arc<ScalingStats>,
}

impl Default for ServingOptions {
    fn default() -> Self {
        ServingOptions {
            domain: "localhost".into(),
            url_port: None,
            progress_deadline: Duration::from_secs(600),
            system_namespace: "knative-serving".into(),
            resync: Duration::from_secs(300),
            clock: Arc::new(SystemClock),
            scaling_stats: Arc::default(),
        }
    }
}

impl std::fmt::Debug for ServingOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingOptions")
            .field("domain", &self.domain)
            .field("url_port", &self.url_port)
            .field("progress_deadline", &self.progress_deadline)
            .field("system_namespace", &self.system_namespace)
            .field("resync", &self.resync)
            .finish_non_exhaustive()
    }
}

/// A reconcile failure; the controller retries the object with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API refused or failed a request.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// Anything else (message names the object).
    #[error("{0}")]
    Other(String),
}

/// The running controllers: what they publish for the gateway, and the task that runs
/// them (abort it to stop them all).
pub struct Serving {
    /// Routing table: host → splits of revisions, for every Route whose traffic is
    /// resolved and that is published on the public gateway.
    pub gateway: watch::Receiver<Arc<GatewayConfig>>,
    /// Ready instance addresses (and limits) per revision.
    pub endpoints: watch::Receiver<Arc<Endpoints>>,
    /// Runs all controllers; ends only if aborted. Aborting stops every controller.
    pub handle: JoinHandle<()>,
}

/// State every controller shares.
pub(crate) struct Ctx {
    pub client: kube::Client,
    pub runtime: Arc<dyn Runtime>,
    pub images: Arc<dyn ImageSource>,
    pub options: ServingOptions,
    pub domain: watch::Receiver<Arc<DomainConfig>>,
    /// `config-autoscaler`, as it is now.
    pub autoscaler_config: watch::Receiver<Arc<AutoscalerConfig>>,
    pub routes: Arc<publish::RouteTable>,
    /// Unpacked images by digested reference, so starting more instances pulls nothing.
    pub image_cache: Mutex<HashMap<String, ImageRootfs>>,
}

/// Starts the Service, Configuration, Revision and Route controllers plus the gateway
/// publishers, against `client`, running instances on `runtime` with images from
/// `images`. Returns at once; the controllers run on the returned [`Serving::handle`].
pub async fn run(
    client: kube::Client,
    runtime: Arc<dyn Runtime>,
    images: Arc<dyn ImageSource>,
    options: ServingOptions,
) -> Serving {
    let (gateway_tx, gateway_rx) = watch::channel(Arc::new(GatewayConfig::default()));
    let (endpoints_tx, endpoints_rx) = watch::channel(Arc::new(Endpoints::default()));
    let (domain_tx, domain_rx) = watch::channel(Arc::new(DomainConfig::new(&options.domain)));
    let (autoscaler_tx, autoscaler_rx) = watch::channel(Arc::new(AutoscalerConfig::default()));
    let ctx = Arc::new(Ctx {
        client: client.clone(),
        runtime,
        images,
        options,
        domain: domain_rx,
        autoscaler_config: autoscaler_rx,
        routes: Arc::new(publish::RouteTable::new(gateway_tx)),
        image_cache: Mutex::new(HashMap::new()),
    });
    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(domain::watch_config_domain(ctx.clone(), domain_tx));
    tasks.spawn(autoscaling::watch_config(ctx.clone(), autoscaler_tx));
    tasks.spawn(autoscaling::run(ctx.clone()));
    tasks.spawn(service::run(ctx.clone()));
    tasks.spawn(configuration::run(ctx.clone()));
    tasks.spawn(revision::run(ctx.clone()));
    tasks.spawn(revision::sweep_orphans(ctx.clone()));
    tasks.spawn(route::run(ctx.clone()));
    tasks.spawn(publish::forget_deleted_routes(ctx.clone()));
    tasks.spawn(publish::publish_endpoints(ctx.clone(), endpoints_tx));
    let handle = tokio::spawn(async move {
        while let Some(res) = tasks.join_next().await {
            if let Err(e) = res {
                if e.is_panic() {
                    tracing::error!(error = %e, "a serving controller task panicked");
                }
            }
        }
    });
    Serving {
        gateway: gateway_rx,
        endpoints: endpoints_rx,
        handle,
    }
}
