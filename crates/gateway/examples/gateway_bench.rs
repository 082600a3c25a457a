//! A gateway in front of a trivial hyper backend, for quick load checks with `wrk`:
//! `cargo run --release -p skiff-gateway --example gateway_bench -- 127.0.0.1:18080 127.0.0.1:18081`
//! then `wrk -c64 -d5s -H 'Host: hello.default.localhost' http://127.0.0.1:18080/`
//! (and the same against the backend port directly for comparison). With `-` as the
//! gateway address only the backend runs (so it can be its own process); with
//! `=ADDR` as the backend address the gateway uses a backend already running there.
//! The gateway serves thread per core ([`Gateway::serve_per_core`]), as `skiff server`.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use skiff_gateway::{
    Endpoints, FastMap, Gateway, GatewayConfig, GatewayOptions, HostRoute, RevisionEndpoints,
    RevisionKey, Split,
};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let gw_addr = args.next().unwrap_or_else(|| "127.0.0.1:18080".into());
    let backend_addr = args.next().unwrap_or_else(|| "127.0.0.1:18081".into());
    if let Some(existing) = backend_addr.strip_prefix('=') {
        return run_gateway(&gw_addr, existing.parse().unwrap()).await;
    }
    let backend = TcpListener::bind(&backend_addr).await.unwrap();
    let backend_addr = backend.local_addr().unwrap();
    let serve_backend = async move {
        loop {
            let (stream, _) = backend.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(
                        b"Hello World!\n",
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    };
    if gw_addr == "-" {
        eprintln!("backend on {backend_addr}");
        return serve_backend.await;
    }
    tokio::spawn(serve_backend);
    run_gateway(&gw_addr, backend_addr).await;
}

async fn run_gateway(gw_addr: &str, backend_addr: std::net::SocketAddr) {
    let key = RevisionKey {
        namespace: "default".into(),
        name: "hello-00001".into(),
    };
    let route = Arc::new(HostRoute {
        namespace: "default".into(),
        route: "hello".into(),
        tag: None,
        splits: vec![Split {
            revision: key.clone(),
            percent: 100,
        }],
    });
    let (_routes_tx, routes) = tokio::sync::watch::channel(Arc::new(GatewayConfig {
        hosts: FastMap::from_iter([("hello.default.localhost".to_string(), route)]),
    }));
    let (_eps_tx, eps) = tokio::sync::watch::channel(Arc::new(Endpoints {
        revisions: FastMap::from_iter([(
            key,
            Arc::new(RevisionEndpoints {
                addresses: vec![backend_addr],
                container_concurrency: 0,
                timeout: Duration::from_secs(300),
                service: "hello".into(),
                configuration: "hello".into(),
            }),
        )]),
    }));
    let gateway = Gateway::new(routes, eps, GatewayOptions::default());
    // As `skiff server` runs it: thread per core, SO_REUSEPORT listeners.
    let threads = std::env::var("GATEWAY_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let serving = gateway
        .serve_per_core(gw_addr.parse().unwrap(), threads, std::future::pending())
        .unwrap();
    eprintln!(
        "gateway on {} ({threads} threads), backend on {backend_addr}",
        serving.local_addr()
    );
    serving.await.unwrap();
}
