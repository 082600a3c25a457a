//! A kube::Client talking to the API router in-process (no TCP): the path controllers
//! will use in standalone mode.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;
use skiff_apiserver::clock::SystemClock;
use skiff_apiserver::http::{App, HttpOptions};
use skiff_apiserver::objects::Objects;
use skiff_store::{Store, StoreOptions};

fn app(dir: &std::path::Path) -> Arc<App> {
    let store = Store::open(&dir.join("s.db"), StoreOptions::default()).unwrap();
    let objects = Arc::new(Objects::new(Arc::new(store), Arc::new(SystemClock)));
    skiff_apiserver::server::install_builtins(&objects).unwrap();
    Arc::new(App::new(objects, vec![], HttpOptions::default()))
}

#[tokio::test]
async fn in_process_client_crud_and_watch() {
    let dir = tempfile::tempdir().unwrap();
    let client = skiff_apiserver::in_process_client(app(dir.path()));

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "a"}, "data": {"k": "v"}})).unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    assert!(created.metadata.uid.is_some());
    let patched = cms
        .patch(
            "a",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"k2": "v2"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.unwrap().len(), 2);
    let list = cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);

    let gvk = GroupVersionKind::gvk("serving.knative.dev", "v1", "Service");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "services");
    let ksvcs: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let svc: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "hello"},
        "spec": {"template": {"spec": {"containers": [{"image": "example.com/hello:latest"}]}}}
    }))
    .unwrap();
    let created = ksvcs.create(&PostParams::default(), &svc).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    // Knative defaulting happened on the way in.
    assert_eq!(
        created.data["spec"]["template"]["spec"]["timeoutSeconds"],
        300
    );
    // Containers are kept as written (their defaults go to the Revision).
    assert_eq!(
        created.data["spec"]["template"]["spec"]["containers"],
        json!([{"image": "example.com/hello:latest"}])
    );
}
