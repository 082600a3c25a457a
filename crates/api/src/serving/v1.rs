//! `serving.knative.dev/v1`: Service, Configuration, Revision and Route.
//!
//! Field names, optionality and CRD names/columns follow knative/serving
//! `pkg/apis/serving/v1/*_types.go` and `config/core/300-resources/*.yaml`, so
//! users' Knative manifests deserialize unchanged and round-trip cleanly.

// Each `printcolumn(...)` repeats `type_ = "string"`, which this lint misreads.
#![allow(clippy::duplicated_attributes)]

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, Container, HostAlias, LocalObjectReference, PodDNSConfig, PodSecurityContext,
    Toleration, TopologySpreadConstraint, Volume,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of all Knative Serving kinds.
pub const GROUP: &str = "serving.knative.dev";
/// API version implemented here.
pub const VERSION: &str = "v1";

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

// ---------------------------------------------------------------------------
// Service
// ---------------------------------------------------------------------------

/// Desired state of a Knative Service: a revision template plus a traffic split
/// (Knative inlines ConfigurationSpec and RouteSpec).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "serving.knative.dev",
    version = "v1",
    kind = "Service",
    plural = "services",
    singular = "service",
    shortname = "kservice",
    shortname = "ksvc",
    category = "all",
    category = "knative",
    category = "serving",
    namespaced,
    status = "ServiceStatus",
    derive = "PartialEq",
    doc = "Service acts as a top-level container that manages a Route and Configuration which implement a network service.",
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url"),
    printcolumn(
        name = "LatestCreated",
        type_ = "string",
        json_path = ".status.latestCreatedRevisionName"
    ),
    printcolumn(
        name = "LatestReady",
        type_ = "string",
        json_path = ".status.latestReadyRevisionName"
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
pub struct ServiceSpec {
    /// The revision template (ConfigurationSpec, inlined).
    #[serde(flatten)]
    pub configuration: ConfigurationSpec,
    /// The traffic split (RouteSpec, inlined).
    #[serde(flatten)]
    pub route: RouteSpec,
}

/// Observed state of a Service (Knative inlines ConfigurationStatusFields and RouteStatusFields).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatus {
    #[serde(flatten)]
    pub status: KnativeStatus,
    #[serde(flatten)]
    pub configuration: ConfigurationStatusFields,
    #[serde(flatten)]
    pub route: RouteStatusFields,
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// Desired state of a Configuration: the template each new Revision is stamped from.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "serving.knative.dev",
    version = "v1",
    kind = "Configuration",
    plural = "configurations",
    singular = "configuration",
    shortname = "config",
    shortname = "cfg",
    category = "all",
    category = "knative",
    category = "serving",
    namespaced,
    status = "ConfigurationStatus",
    derive = "PartialEq",
    doc = "Configuration represents the \"floating HEAD\" of a linear history of Revisions.",
    printcolumn(
        name = "LatestCreated",
        type_ = "string",
        json_path = ".status.latestCreatedRevisionName"
    ),
    printcolumn(
        name = "LatestReady",
        type_ = "string",
        json_path = ".status.latestReadyRevisionName"
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
pub struct ConfigurationSpec {
    /// Template holds the latest specification for the Revision to be stamped out.
    #[serde(default)]
    #[schemars(transform = drop_default)]
    pub template: RevisionTemplateSpec,
}

/// Observed state of a Configuration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationStatus {
    #[serde(flatten)]
    pub status: KnativeStatus,
    #[serde(flatten)]
    pub configuration: ConfigurationStatusFields,
}

/// Configuration status fields shared by Configuration and Service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConfigurationStatusFields {
    /// Last Revision created from this Configuration (may not be ready yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_created_revision_name: Option<String>,
    /// Last Revision created from this Configuration that became ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_ready_revision_name: Option<String>,
}

/// A Revision template: metadata (labels/annotations/optional name) and RevisionSpec.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionTemplateSpec {
    #[serde(default, skip_serializing_if = "is_default")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    #[schemars(transform = drop_default)]
    pub spec: RevisionSpec,
}

// ---------------------------------------------------------------------------
// Revision
// ---------------------------------------------------------------------------

/// Desired state of a Revision: the subset of a PodSpec Knative allows, plus
/// Knative's concurrency and timeout settings.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "serving.knative.dev",
    version = "v1",
    kind = "Revision",
    plural = "revisions",
    singular = "revision",
    shortname = "rev",
    category = "all",
    category = "knative",
    category = "serving",
    namespaced,
    status = "RevisionStatus",
    derive = "PartialEq",
    doc = "Revision is an immutable snapshot of code and configuration.",
    printcolumn(
        name = "Config Name",
        type_ = "string",
        json_path = ".metadata.labels['serving\\.knative\\.dev/configuration']"
    ),
    printcolumn(
        name = "Generation",
        type_ = "string",
        json_path = ".metadata.labels['serving\\.knative\\.dev/configurationGeneration']"
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
    ),
    printcolumn(
        name = "Actual Replicas",
        type_ = "integer",
        json_path = ".status.actualReplicas"
    ),
    printcolumn(
        name = "Desired Replicas",
        type_ = "integer",
        json_path = ".status.desiredReplicas"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RevisionSpec {
    // --- PodSpec subset (inlined, as in Knative) ---
    /// Containers of the revision; exactly one of them serves traffic.
    #[serde(default)]
    #[schemars(schema_with = "containers_schema", transform = drop_default)]
    pub containers: Vec<Container>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<Volume>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_service_links: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automount_service_account_token: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "containers_schema_opt")]
    pub init_containers: Option<Vec<Container>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_aliases: Option<Vec<HostAlias>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<PodDNSConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_process_namespace: Option<bool>,

    // --- Knative fields ---
    /// Maximum in-flight requests per instance; 0 means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_concurrency: Option<i64>,
    /// Maximum duration in seconds a request may take to be served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i64>,
    /// Maximum seconds to wait for the first response byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_start_timeout_seconds: Option<i64>,
    /// Maximum seconds a request may stay open without sending any bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_timeout_seconds: Option<i64>,
}

/// Observed state of a Revision.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RevisionStatus {
    #[serde(flatten)]
    pub status: KnativeStatus,
    /// URL of this revision's logs, if a log backend is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_url: Option<String>,
    /// Resolved image digests of the serving/sidecar containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_statuses: Option<Vec<ContainerStatus>>,
    /// Resolved image digests of the init containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_container_statuses: Option<Vec<ContainerStatus>>,
    /// Number of ready instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actual_replicas: Option<i32>,
    /// Number of instances the autoscaler wants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_replicas: Option<i32>,
}

/// A container's name and the digest its image tag resolved to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_digest: Option<String>,
}

// ---------------------------------------------------------------------------
// Route
// ---------------------------------------------------------------------------

/// Desired state of a Route: how traffic is split across revisions/configurations.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "serving.knative.dev",
    version = "v1",
    kind = "Route",
    plural = "routes",
    singular = "route",
    shortname = "rt",
    category = "all",
    category = "knative",
    category = "serving",
    namespaced,
    status = "RouteStatus",
    derive = "PartialEq",
    doc = "Route is responsible for configuring ingress over a collection of Revisions.",
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url"),
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
pub struct RouteSpec {
    /// Traffic distribution over a collection of revisions and configurations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Vec<TrafficTarget>>,
}

/// One entry of a routing table.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrafficTarget {
    /// Exposes a dedicated URL `{tag}-{route}` for this target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// A specific revision to send this portion of traffic to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_name: Option<String>,
    /// A configuration whose latest ready revision gets this portion of traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_name: Option<String>,
    /// Float to the latest ready revision (must be the opposite of "revisionName is set").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_revision: Option<bool>,
    /// Percentage of traffic (0..=100); all percents must sum to 100.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<i64>,
    /// URL of a tagged target (status only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Observed state of a Route.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    #[serde(flatten)]
    pub status: KnativeStatus,
    #[serde(flatten)]
    pub route: RouteStatusFields,
}

/// Route status fields shared by Route and Service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatusFields {
    /// External URL, usually `http://{route}.{namespace}.{domain}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// In-cluster address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Addressable>,
    /// The traffic split actually in effect (always by revisionName).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Vec<TrafficTarget>>,
}

/// Knative duck type `Addressable`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Addressable {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

// ---------------------------------------------------------------------------
// Shared status (knative.dev/pkg duckv1.Status)
// ---------------------------------------------------------------------------

/// Knative's common status fields (`duckv1.Status`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KnativeStatus {
    /// The `metadata.generation` last processed by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Latest observations of the resource's state (`Ready` is the summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// Additional status information from the reconciler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Knative's `apis.Condition`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type, e.g. `Ready`, `ConfigurationsReady`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// `Error` (default when empty), `Warning` or `Info`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// One-word CamelCase reason for the last transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Human-readable details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

// ---------------------------------------------------------------------------
// Schema helpers
// ---------------------------------------------------------------------------

/// Knative defaults container names, so unlike core/v1 `name` is not required.
fn containers_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Container>>();
    relax_container_requirements(&mut schema);
    drop_default(&mut schema);
    schema
}

fn containers_schema_opt(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Option<Vec<Container>>>();
    relax_container_requirements(&mut schema);
    schema
}

/// Also relaxes the probes: Knative's schema leaves a probe handler's `port` out (it
/// defaults to the container port), so `readinessProbe: {httpGet: {path: /healthz}}`
/// from Knative's docs is valid.
fn relax_container_requirements(schema: &mut schemars::Schema) {
    let Some(items) = schema.get_mut("items") else {
        return;
    };
    if let Some(required) = items.get_mut("required").and_then(|r| r.as_array_mut()) {
        required.retain(|v| v != "name");
    }
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        for handler in ["httpGet", "tcpSocket", "grpc"] {
            if let Some(required) = items
                .pointer_mut(&format!(
                    "/properties/{probe}/properties/{handler}/required"
                ))
                .and_then(|r| r.as_array_mut())
            {
                required.retain(|v| v != "port");
            }
        }
    }
}

/// Defaults are Knative's webhook's job, not the schema's: keep `default:`
/// out of the CRD so the API server does not invent empty templates.
fn drop_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn round_trip<T: serde::de::DeserializeOwned + Serialize>(v: Value) {
        let typed: T = serde_json::from_value(v.clone()).expect("deserializes");
        assert_eq!(serde_json::to_value(&typed).unwrap(), v);
    }

    #[test]
    fn service_round_trips() {
        let yaml = r#"
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
  namespace: default
spec:
  template:
    metadata:
      name: hello-v2
      annotations:
        autoscaling.knative.dev/min-scale: "1"
    spec:
      containerConcurrency: 10
      timeoutSeconds: 300
      containers:
        - name: user-container
          image: ghcr.io/knative/helloworld-go:latest
          ports:
            - containerPort: 8080
          env:
            - name: TARGET
              value: World
          readinessProbe:
            tcpSocket:
              port: 0
            successThreshold: 1
  traffic:
    - tag: v1
      revisionName: hello-v1
      percent: 50
    - tag: v2
      revisionName: hello-v2
      percent: 50
status:
  observedGeneration: 2
  url: http://hello.default.example.com
  address:
    url: http://hello.default.svc.cluster.local
  latestCreatedRevisionName: hello-v2
  latestReadyRevisionName: hello-v2
  conditions:
    - type: Ready
      status: "True"
      lastTransitionTime: "2024-01-02T03:04:05Z"
  traffic:
    - tag: v1
      revisionName: hello-v1
      latestRevision: false
      percent: 50
      url: http://v1-hello.default.example.com
"#;
        let v: Value = serde_yaml::from_str(yaml).unwrap();
        round_trip::<Service>(v.clone());
        let svc: Service = serde_json::from_value(v).unwrap();
        assert_eq!(svc.spec.route.traffic.as_ref().unwrap().len(), 2);
        assert_eq!(
            svc.spec.configuration.template.spec.containers[0].name,
            "user-container"
        );
        let st = svc.status.unwrap();
        assert_eq!(
            st.configuration.latest_ready_revision_name.as_deref(),
            Some("hello-v2")
        );
        assert_eq!(st.status.conditions.unwrap()[0].type_, "Ready");
    }

    /// core/v1 `Container.name` is a plain String, so an unnamed container
    /// (allowed before admission defaults it) reads as `""` and writes `name: ""`.
    #[test]
    fn unnamed_container_deserializes() {
        let c: Configuration = serde_json::from_value(json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Configuration",
            "metadata": {"name": "c"},
            "spec": {"template": {"spec": {"containers": [{"image": "app"}]}}}
        }))
        .unwrap();
        assert_eq!(c.spec.template.spec.containers[0].name, "");
    }

    #[test]
    fn revision_and_route_round_trip() {
        round_trip::<Revision>(json!({
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Revision",
            "metadata": {"name": "hello-00001", "labels": {"serving.knative.dev/configuration": "hello"}},
            "spec": {
                "containers": [{"name": "user-container", "image": "app"}],
                "enableServiceLinks": false,
                "containerConcurrency": 0,
                "timeoutSeconds": 300,
                "responseStartTimeoutSeconds": 10,
                "idleTimeoutSeconds": 0
            },
            "status": {
                "logUrl": "http://logs",
                "containerStatuses": [{"name": "user-container", "imageDigest": "app@sha256:abc"}],
                "actualReplicas": 1,
                "desiredReplicas": 2,
                "annotations": {"a": "b"}
            }
        }));
        round_trip::<Route>(json!({
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Route",
            "metadata": {"name": "rt"},
            "spec": {"traffic": [{"configurationName": "c", "latestRevision": true, "percent": 100}]}
        }));
        round_trip::<Configuration>(json!({
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Configuration",
            "metadata": {"name": "c"},
            "spec": {"template": {"spec": {"containers": [{"name": "", "image": "app"}]}}}
        }));
    }

    /// Knative's docs write probes without a port (it is the container port).
    #[test]
    fn probe_ports_are_optional_in_the_schema() {
        use kube::CustomResourceExt;
        let crd = serde_json::to_value(Service::crd()).unwrap();
        let containers = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
            ["spec"]["properties"]["template"]["properties"]["spec"]["properties"]["containers"]
            ["items"]["properties"];
        for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
            for handler in ["httpGet", "tcpSocket", "grpc"] {
                let h = &containers[probe]["properties"][handler];
                assert!(h.is_object(), "{probe}.{handler} missing");
                let required = h["required"].as_array().cloned().unwrap_or_default();
                assert!(
                    !required.contains(&json!("port")),
                    "{probe}.{handler}: {required:?}"
                );
            }
        }
    }
}
