//! Pods are a read-only mirror of runtime instances: skiff's components write them
//! in-process, users only read them (and their logs).

use std::sync::Arc;

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use http_body_util::BodyExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;
use skiff_apiserver::clock::SystemClock;
use skiff_apiserver::http::{router, App, HttpOptions};
use skiff_apiserver::objects::Objects;
use skiff_apiserver::pod_logs::{PodLogRequest, PodLogSource};
use skiff_apiserver::status::ApiError;
use skiff_store::{Store, StoreOptions};
use tower::ServiceExt;

fn app(dir: &std::path::Path) -> Arc<App> {
    let store = Store::open(&dir.join("s.db"), StoreOptions::default()).unwrap();
    let objects = Arc::new(Objects::new(Arc::new(store), Arc::new(SystemClock)));
    skiff_apiserver::server::install_builtins(&objects).unwrap();
    Arc::new(App::new(
        objects,
        vec!["t0ken".into()],
        HttpOptions::default(),
    ))
}

struct Canned;

impl PodLogSource for Canned {
    fn logs(
        &self,
        r: PodLogRequest,
    ) -> BoxFuture<'static, Result<BoxStream<'static, Bytes>, ApiError>> {
        Box::pin(async move {
            let lines = vec![Bytes::from(format!("log of {}/{}\n", r.namespace, r.pod))];
            Ok(Box::pin(futures::stream::iter(lines)) as BoxStream<'static, Bytes>)
        })
    }
}

async fn user_request(app: &Arc<App>, method: &str, uri: &str, body: &str) -> (u16, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("Authorization", "Bearer t0ken")
        .header("Content-Type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap();
    let resp = router(app.clone(), true).oneshot(req).await.unwrap();
    let code = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (code, String::from_utf8_lossy(&bytes).to_string())
}

#[tokio::test]
async fn pods_are_written_by_skiff_and_read_by_users() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path());
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "hello-00001-deployment-abc", "labels": {"serving.knative.dev/revision": "hello-00001"}},
        "spec": {"containers": [{"name": "user-container", "image": "x"}]},
    });

    // A user cannot create one.
    let (code, body) = user_request(
        &app,
        "POST",
        "/api/v1/namespaces/default/pods",
        &pod.to_string(),
    )
    .await;
    assert_eq!(code, 405, "{body}");
    assert!(body.contains("read-only"), "{body}");

    // skiff's own in-process client can.
    let client = skiff_apiserver::in_process_client(app.clone());
    let pods: Api<Pod> = Api::namespaced(client, "default");
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(pod).unwrap(),
    )
    .await
    .unwrap();

    // Users read it, as a table too.
    let (code, body) = user_request(
        &app,
        "GET",
        "/api/v1/namespaces/default/pods/hello-00001-deployment-abc",
        "",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = user_request(
        &app,
        "DELETE",
        "/api/v1/namespaces/default/pods/hello-00001-deployment-abc",
        "",
    )
    .await;
    assert_eq!(code, 405, "{body}");

    // Logs: a clear 404 until a runtime plugs in a source, then the source's stream.
    let (code, body) = user_request(
        &app,
        "GET",
        "/api/v1/namespaces/default/pods/hello-00001-deployment-abc/log",
        "",
    )
    .await;
    assert_eq!(code, 404, "{body}");
    app.pod_logs.set(Arc::new(Canned));
    let (code, body) = user_request(
        &app,
        "GET",
        "/api/v1/namespaces/default/pods/hello-00001-deployment-abc/log?follow=true",
        "",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, "log of default/hello-00001-deployment-abc\n");
    let (code, _) = user_request(&app, "GET", "/api/v1/namespaces/default/pods/nope/log", "").await;
    assert_eq!(code, 404);
}
