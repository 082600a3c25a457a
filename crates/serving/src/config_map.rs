//! Following one ConfigMap of Knative's system namespace (`config-domain`,
//! `config-autoscaler`…): its data as it is now, on every change, so settings take
//! effect without a restart, as Knative's configmap watchers do.

use std::collections::BTreeMap;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use kube::runtime::watcher;

/// Calls `on_change` with the data of ConfigMap `namespace/name` (None while it does
/// not exist) after the initial list and after every change. Runs until the task is
/// aborted; watch failures are retried.
pub(crate) async fn follow_config_map(
    client: kube::Client,
    namespace: &str,
    name: &str,
    mut on_change: impl FnMut(Option<&BTreeMap<String, String>>),
) {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let is_it = |cm: &ConfigMap| cm.metadata.name.as_deref() == Some(name);
    let mut seen: Option<ConfigMap> = None;
    let mut init: Option<ConfigMap> = None;
    let mut events = watcher(api, cfg).boxed();
    while let Some(ev) = events.next().await {
        let ev = match ev {
            Ok(ev) => ev,
            Err(e) => {
                tracing::debug!(configmap = name, error = %e, "configmap watch failed; retrying");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                continue;
            }
        };
        match ev {
            watcher::Event::Apply(cm) if is_it(&cm) => seen = Some(cm),
            watcher::Event::Delete(cm) if is_it(&cm) => seen = None,
            watcher::Event::Init => init = None,
            watcher::Event::InitApply(cm) if is_it(&cm) => init = Some(cm),
            watcher::Event::InitDone => seen = init.take(),
            _ => continue,
        }
        on_change(seen.as_ref().and_then(|cm| cm.data.as_ref()));
    }
}
