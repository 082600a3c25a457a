//! A TaskRun's pod as a read-only core v1 Pod (`{taskrun}-pod`), one container per
//! step (`step-<name>`) and sidecar, owned by the TaskRun (so it goes with it), so
//! `kubectl get pods` and `kubectl logs <pod> -c step-x` work as on Tekton.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{json, Value};
use skiff_api::clock::k8s_time;
use skiff_runtime::{ContainerPhase, ContainerRunState, PodPhase, TaskPodStatus};

/// The field manager the Pods are written with.
const MANAGER: &str = "skiff-pipelines";

/// A container's state as Kubernetes shows it (`waiting`, `running`, `terminated`).
pub fn container_state(c: &ContainerRunState) -> Value {
    match c.phase {
        ContainerPhase::Waiting => json!({"waiting": {"reason": "PodInitializing"}}),
        ContainerPhase::Running => {
            json!({"running": {"startedAt": c.started_at.map(k8s_time)}})
        }
        ContainerPhase::Terminated => {
            let mut t = json!({
                "exitCode": c.exit_code.unwrap_or(0),
                "reason": c.reason,
                "startedAt": c.started_at.map(k8s_time),
                "finishedAt": c.finished_at.map(k8s_time),
            });
            if !c.message.is_empty() {
                t["message"] = json!(c.message);
            }
            json!({ "terminated": t })
        }
    }
}

/// The Pod showing a task pod; `images` are the containers' image references in
/// sidecar-then-step order, `owner` the TaskRun (`name`, `uid`).
pub fn pod_for(status: &TaskPodStatus, images: &[String], owner: (&str, &str)) -> Value {
    let all: Vec<&ContainerRunState> = status.sidecars.iter().chain(&status.steps).collect();
    let containers: Vec<Value> = all
        .iter()
        .enumerate()
        .map(|(i, c)| json!({"name": c.name, "image": images.get(i).cloned().unwrap_or_default()}))
        .collect();
    let statuses: Vec<Value> = all
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({
                "name": c.name,
                "image": images.get(i).cloned().unwrap_or_default(),
                "imageID": c.image_digest,
                "ready": c.phase == ContainerPhase::Running,
                "started": c.phase == ContainerPhase::Running,
                "restartCount": 0,
                "state": container_state(c),
            })
        })
        .collect();
    let phase = match status.phase {
        PodPhase::Pending => "Pending",
        PodPhase::Running => "Running",
        PodPhase::Succeeded => "Succeeded",
        PodPhase::Failed => "Failed",
    };
    let ready = status.phase == PodPhase::Running;
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": status.key.name,
            "namespace": status.key.namespace,
            "labels": status.labels,
            "ownerReferences": [{
                "apiVersion": "tekton.dev/v1", "kind": "TaskRun",
                "name": owner.0, "uid": owner.1,
                "controller": true, "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "containers": containers,
            "nodeName": "skiff",
            "restartPolicy": "Never",
        },
        "status": {
            "phase": phase,
            "podIP": status.ip.map(|ip| ip.to_string()),
            "startTime": status.started_at.map(k8s_time),
            "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
            "containerStatuses": statuses,
        },
    })
}

/// Creates or updates the Pod (object, then its status subresource).
pub async fn write(client: &kube::Client, pod: &Value) -> Result<(), kube::Error> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.patch(name, &PatchParams::apply(MANAGER), &Patch::Apply(pod))
        .await?;
    pods.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": pod["status"]})),
    )
    .await?;
    Ok(())
}

/// Marks the Pod of a pod that no longer runs (lost in a restart) as Failed.
pub async fn mark_lost(client: &kube::Client, namespace: &str, name: &str, message: &str) {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"status": {"phase": "Failed", "reason": "Lost", "message": message,
        "conditions": [{"type": "Ready", "status": "False"}]}});
    if let Err(e) = pods
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::debug!(pod = %name, error = %e, "could not mark the lost pod failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_runtime::PodKey;

    #[test]
    fn steps_are_containers_with_their_states() {
        let st = TaskPodStatus {
            key: PodKey {
                namespace: "default".into(),
                name: "build-pod".into(),
            },
            labels: [("tekton.dev/taskRun".to_string(), "build".to_string())].into(),
            ip: None,
            phase: PodPhase::Failed,
            steps: vec![ContainerRunState {
                name: "step-compile".into(),
                phase: ContainerPhase::Terminated,
                started_at: Some(jiff::Timestamp::UNIX_EPOCH),
                finished_at: Some(jiff::Timestamp::UNIX_EPOCH),
                exit_code: Some(2),
                reason: "Error".into(),
                message: "exited with code 2".into(),
                image_digest: "sha256:x".into(),
            }],
            sidecars: vec![],
            started_at: None,
            finished_at: None,
        };
        let pod = pod_for(&st, &["busybox".into()], ("build", "uid-1"));
        assert_eq!(pod["spec"]["containers"][0]["name"], "step-compile");
        assert_eq!(pod["status"]["phase"], "Failed");
        assert_eq!(
            pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"],
            2
        );
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "TaskRun");
    }
}
