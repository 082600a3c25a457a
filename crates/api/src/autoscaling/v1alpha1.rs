//! `autoscaling.internal.knative.dev/v1alpha1`: PodAutoscaler.
//!
//! Field names, optionality, names and printer columns follow knative/serving
//! `pkg/apis/autoscaling/v1alpha1/pa_types.go` and
//! `config/core/300-resources/podautoscaler.yaml`.

// Each `printcolumn(...)` repeats `type_`, which this lint misreads.
#![allow(clippy::duplicated_attributes)]

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::serving::v1::KnativeStatus;

/// API group of the PodAutoscaler.
pub const GROUP: &str = "autoscaling.internal.knative.dev";
/// API version implemented here.
pub const VERSION: &str = "v1alpha1";

/// `spec.reachability` of a revision referenced by a route.
pub const REACHABILITY_REACHABLE: &str = "Reachable";
/// `spec.reachability` of a revision no route references (min-scale is ignored).
pub const REACHABILITY_UNREACHABLE: &str = "Unreachable";

/// Condition summarising the PodAutoscaler.
pub const CONDITION_READY: &str = "Ready";
/// Condition that is True while the scale target receives traffic, False when it
/// is scaled to zero and Unknown while it is activating.
pub const CONDITION_ACTIVE: &str = "Active";
/// Condition that becomes True once the scale target first reached its initial scale.
pub const CONDITION_SCALE_TARGET_INITIALIZED: &str = "ScaleTargetInitialized";
/// Condition reflecting the readiness of the revision's ServerlessService.
pub const CONDITION_SKS_READY: &str = "SKSReady";

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// Desired state of a PodAutoscaler: what to scale and how much concurrency one
/// instance takes.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "autoscaling.internal.knative.dev",
    version = "v1alpha1",
    kind = "PodAutoscaler",
    plural = "podautoscalers",
    singular = "podautoscaler",
    shortname = "kpa",
    shortname = "pa",
    category = "knative-internal",
    category = "autoscaling",
    namespaced,
    status = "PodAutoscalerStatus",
    derive = "PartialEq",
    doc = "PodAutoscaler is a Knative abstraction that encapsulates the interface by which Knative components instantiate autoscalers.",
    printcolumn(
        name = "DesiredScale",
        type_ = "integer",
        json_path = ".status.desiredScale"
    ),
    printcolumn(
        name = "ActualScale",
        type_ = "integer",
        json_path = ".status.actualScale"
    ),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type=='Ready')].status"
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = ".status.conditions[?(@.type=='Ready')].reason"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct PodAutoscalerSpec {
    /// Maximum in-flight requests per container of the Revision; 0 means unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub container_concurrency: i64,
    /// The scalable resource (the revision's instances) this PodAutoscaler sizes.
    pub scale_target_ref: ScaleTargetRef,
    /// Whether a route references the scale target: `Reachable`, `Unreachable`, or
    /// unset (unknown, e.g. while activating).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachability: Option<String>,
    /// The application-layer protocol (`http1` or `h2c`), inferred from the revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_type: Option<String>,
}

/// Reference to the scaled resource (Knative uses a core/v1 ObjectReference, of
/// which only these fields are in its schema).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScaleTargetRef {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Observed state of a PodAutoscaler (Knative's `PodAutoscalerStatus`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodAutoscalerStatus {
    /// `observedGeneration`, `conditions` (Ready, Active, ScaleTargetInitialized,
    /// SKSReady) and `annotations`.
    #[serde(flatten)]
    pub status: KnativeStatus,
    /// The Service that serves the revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// The Service that provides the revision's metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_service_name: Option<String>,
    /// Instances the autoscaler currently wants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_scale: Option<i32>,
    /// Instances currently ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_scale: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;
    use serde_json::{json, Value};

    /// A PodAutoscaler as Knative's revision reconciler writes it.
    #[test]
    fn knative_pod_autoscaler_round_trips() {
        let v = json!({
            "apiVersion": "autoscaling.internal.knative.dev/v1alpha1",
            "kind": "PodAutoscaler",
            "metadata": {
                "name": "hello-00001",
                "namespace": "default",
                "annotations": {"autoscaling.knative.dev/class": "kpa.autoscaling.knative.dev"}
            },
            "spec": {
                "containerConcurrency": 10,
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "hello-00001-deployment"},
                "reachability": "Reachable",
                "protocolType": "http1"
            },
            "status": {
                "observedGeneration": 1,
                "conditions": [
                    {"type": "Active", "status": "False", "reason": "NoTraffic",
                     "message": "The target is not receiving traffic.",
                     "lastTransitionTime": "2024-01-02T03:04:05Z"},
                    {"type": "Ready", "status": "False", "reason": "NoTraffic"}
                ],
                "serviceName": "hello-00001",
                "metricsServiceName": "hello-00001-private",
                "desiredScale": 0,
                "actualScale": 0
            }
        });
        let pa: PodAutoscaler = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(pa.spec.container_concurrency, 10);
        assert_eq!(
            pa.spec.scale_target_ref.name.as_deref(),
            Some("hello-00001-deployment")
        );
        let status = pa.status.as_ref().unwrap();
        assert_eq!(status.desired_scale, Some(0));
        assert_eq!(
            status.status.conditions.as_ref().unwrap()[0].type_,
            CONDITION_ACTIVE
        );
        assert_eq!(serde_json::to_value(&pa).unwrap(), v);
        // Unset optional fields stay unset.
        let minimal = json!({
            "apiVersion": "autoscaling.internal.knative.dev/v1alpha1",
            "kind": "PodAutoscaler",
            "metadata": {"name": "p"},
            "spec": {"scaleTargetRef": {"name": "d"}}
        });
        let pa: PodAutoscaler = serde_json::from_value(minimal.clone()).unwrap();
        assert_eq!(serde_json::to_value(&pa).unwrap(), minimal);
    }

    #[test]
    fn crd_has_knative_names_and_columns() {
        let crd = PodAutoscaler::crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("podautoscalers.autoscaling.internal.knative.dev")
        );
        assert_eq!(crd.spec.group, GROUP);
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.kind, "PodAutoscaler");
        assert_eq!(crd.spec.names.singular.as_deref(), Some("podautoscaler"));
        assert_eq!(
            crd.spec.names.short_names.as_deref().unwrap(),
            ["kpa", "pa"]
        );
        assert_eq!(
            crd.spec.names.categories.as_deref().unwrap(),
            ["knative-internal", "autoscaling"]
        );
        let v = &crd.spec.versions[0];
        assert_eq!(v.name, VERSION);
        assert!(v.served && v.storage);
        assert!(v.subresources.as_ref().unwrap().status.is_some());
        let cols: Vec<(String, String, String)> = v
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| (c.name.clone(), c.type_.clone(), c.json_path.clone()))
            .collect();
        let col = |n: &str, t: &str, p: &str| (n.to_string(), t.to_string(), p.to_string());
        assert_eq!(
            cols,
            [
                col("DesiredScale", "integer", ".status.desiredScale"),
                col("ActualScale", "integer", ".status.actualScale"),
                col(
                    "Ready",
                    "string",
                    ".status.conditions[?(@.type=='Ready')].status"
                ),
                col(
                    "Reason",
                    "string",
                    ".status.conditions[?(@.type=='Ready')].reason"
                ),
            ]
        );
        let schema = serde_json::to_value(v.schema.as_ref().unwrap()).unwrap();
        let props = &schema["openAPIV3Schema"]["properties"];
        let spec = &props["spec"]["properties"];
        for f in [
            "containerConcurrency",
            "scaleTargetRef",
            "reachability",
            "protocolType",
        ] {
            assert!(spec.get(f).is_some(), "spec.{f}: {spec:#}");
        }
        for f in ["apiVersion", "kind", "name"] {
            assert!(spec["scaleTargetRef"]["properties"].get(f).is_some(), "{f}");
        }
        let status = &props["status"]["properties"];
        for f in [
            "observedGeneration",
            "conditions",
            "serviceName",
            "metricsServiceName",
            "desiredScale",
            "actualScale",
        ] {
            assert!(status.get(f).is_some(), "status.{f}: {status:#}");
        }
        let text = serde_json::to_string(&schema).unwrap();
        assert!(!text.contains("$ref"), "structural schema: {text}");
        assert_eq!(props["spec"]["required"], json!(["scaleTargetRef"]));
        assert!(props["spec"].get("default").is_none() || props["spec"]["default"] == Value::Null);
    }
}
