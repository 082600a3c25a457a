//! Mirrors runtime instances as read-only core v1 Pods (`{revision}-deployment-{hash}`),
//! so `kubectl get pods [-w]` and `kubectl logs` work as on Knative, and serves their logs
//! to the API server.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{json, Value};
use skiff_runtime::{InstanceStatus, Phase, Runtime};
use tokio::sync::broadcast::error::RecvError;

/// The label Knative puts the revision's uid in; the Pod's owner is that Revision.
const REVISION_UID_LABEL: &str = "serving.knative.dev/revisionUID";
/// The field manager skiff writes Pods with.
const MANAGER: &str = "skiff-runtime";

/// The Pod object that shows one instance.
pub fn pod_for(instance: &InstanceStatus) -> Value {
    let ready = instance.phase == Phase::Ready;
    let ts = |t: &Option<jiff::Timestamp>| t.map(skiff_api::clock::k8s_time);
    let state = match instance.phase {
        Phase::Starting | Phase::Ready => {
            json!({"running": {"startedAt": ts(&instance.started_at)}})
        }
        Phase::CrashLoop => json!({"waiting": {"reason": "CrashLoopBackOff",
            "message": instance.last_exit.as_ref().map(|e| e.message.clone()).unwrap_or_default()}}),
        Phase::Terminated => json!({"terminated": {
            "exitCode": instance.last_exit.as_ref().map_or(0, |e| e.exit_code),
            "reason": instance.last_exit.as_ref().map(|e| e.reason.clone()).unwrap_or_else(|| "Completed".into())}}),
    };
    let mut container_status = json!({
        "name": "user-container",
        "ready": ready,
        "started": matches!(instance.phase, Phase::Starting | Phase::Ready),
        "restartCount": instance.restarts,
        "state": state,
        "image": "", "imageID": "",
    });
    if let Some(exit) = &instance.last_exit {
        container_status["lastState"] = json!({"terminated": {"exitCode": exit.exit_code, "reason": exit.reason, "message": exit.message}});
    }
    let phase = match instance.phase {
        Phase::Terminated => "Failed",
        Phase::Starting if instance.started_at.is_none() => "Pending",
        _ => "Running",
    };
    let mut metadata = json!({
        "name": instance.pod_name,
        "namespace": instance.revision.namespace,
        "labels": instance.labels,
    });
    if let Some(uid) = instance.labels.get(REVISION_UID_LABEL) {
        metadata["ownerReferences"] = json!([{
            "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
            "name": instance.revision.name, "uid": uid,
            "controller": true, "blockOwnerDeletion": true,
        }]);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {"containers": [{"name": "user-container", "image": ""}], "nodeName": "skiff", "restartPolicy": "Always"},
        "status": {
            "phase": phase,
            "podIP": instance.address.map(|a| a.ip().to_string()),
            "startTime": ts(&instance.started_at),
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": [container_status],
        },
    })
}

/// Keeps Pods in step with the runtime until the runtime's event channel closes.
pub async fn mirror_pods(client: kube::Client, runtime: Arc<dyn Runtime>) {
    let mut events = runtime.subscribe();
    // Pods left from an earlier run whose instances are gone.
    let all: Api<Pod> = Api::all(client.clone());
    let live: std::collections::HashSet<String> =
        runtime.list().into_iter().map(|i| i.pod_name).collect();
    if let Ok(pods) = all
        .list(&ListParams::default().labels("serving.knative.dev/revision"))
        .await
    {
        for pod in pods {
            let name = pod.metadata.name.clone().unwrap_or_default();
            if !live.contains(&name) {
                let ns = pod.metadata.namespace.clone().unwrap_or_default();
                let _ = Api::<Pod>::namespaced(client.clone(), &ns)
                    .delete(&name, &DeleteParams::default())
                    .await;
            }
        }
    }
    for instance in runtime.list() {
        write(&client, &instance).await;
    }
    loop {
        match events.recv().await {
            Ok(instance) => write(&client, &instance).await,
            Err(RecvError::Lagged(_)) => {
                for instance in runtime.list() {
                    write(&client, &instance).await;
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

async fn write(client: &kube::Client, instance: &InstanceStatus) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &instance.revision.namespace);
    let result = if instance.phase == Phase::Terminated {
        pods.delete(&instance.pod_name, &DeleteParams::default())
            .await
            .map(|_| ())
    } else {
        // Status is a subresource: the object first, then its status.
        let pod = pod_for(instance);
        let params = PatchParams::apply(MANAGER);
        match pods
            .patch(&instance.pod_name, &params, &Patch::Apply(&pod))
            .await
        {
            Ok(_) => pods
                .patch_status(
                    &instance.pod_name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": pod["status"]})),
                )
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        }
    };
    if let Err(e) = result {
        tracing::debug!(pod = %instance.pod_name, error = %e, "could not mirror instance as a Pod");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_runtime::{ExitInfo, RevisionKey};

    fn instance(phase: Phase) -> InstanceStatus {
        InstanceStatus {
            id: "c1".into(),
            pod_name: "hello-00001-deployment-abcde".into(),
            revision: RevisionKey {
                namespace: "default".into(),
                name: "hello-00001".into(),
            },
            labels: [(REVISION_UID_LABEL.to_string(), "uid-1".to_string())].into(),
            address: Some("10.88.0.2:8080".parse().unwrap()),
            phase,
            restarts: 2,
            last_exit: Some(ExitInfo {
                exit_code: 1,
                reason: "Error".into(),
                message: "boom".into(),
            }),
            started_at: None,
            ready_at: None,
        }
    }

    #[test]
    fn ready_instance_is_a_running_ready_pod_owned_by_its_revision() {
        let pod = pod_for(&instance(Phase::Ready));
        assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(pod["status"]["podIP"], "10.88.0.2");
        assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(pod["status"]["containerStatuses"][0]["restartCount"], 2);
        assert_eq!(
            pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"],
            1
        );
    }

    #[test]
    fn crash_looping_instance_shows_crash_loop_back_off() {
        let pod = pod_for(&instance(Phase::CrashLoop));
        assert_eq!(
            pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
            "CrashLoopBackOff"
        );
    }
}
