//! The core kinds the server serves without a CRD: Namespace, ConfigMap, Secret,
//! ServiceAccount, Event, Pod (group ""), the RBAC kinds (Role, ClusterRole, RoleBinding,
//! ClusterRoleBinding) and CustomResourceDefinition itself. Their schemas
//! come from the k8s-openapi types, made structural the same way kube derives CRD
//! schemas, so one validator serves every kind.

use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use schemars::JsonSchema;
use serde_json::{json, Value};

use std::sync::{Arc, OnceLock};

use crate::registry::{ColumnSource, Origin, PrinterColumn, ResourceDef, Schema};

/// A structural openAPIV3Schema for a k8s-openapi type.
pub fn structural_schema<T: JsonSchema>() -> Value {
    let generator = schemars::generate::SchemaSettings::openapi3()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .with_transform(schemars::transform::AddNullable::default())
        .with_transform(kube::core::schema::StructuralSchemaRewriter)
        .with_transform(kube::core::schema::OptionalEnum)
        .with_transform(kube::core::schema::OptionalIntOrString)
        .into_generator();
    let mut schema =
        serde_json::to_value(generator.into_root_schema_for::<T>()).unwrap_or(Value::Null);
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("title");
        obj.remove("$schema");
    }
    schema
}

fn column(name: &str, column_type: &str, priority: i64, f: fn(&Value) -> Value) -> PrinterColumn {
    PrinterColumn {
        name: name.into(),
        column_type: column_type.into(),
        format: String::new(),
        description: String::new(),
        priority,
        source: ColumnSource::Computed(f),
    }
}

fn age() -> PrinterColumn {
    column("Age", "date", 0, |o| {
        o.pointer("/metadata/creationTimestamp")
            .cloned()
            .unwrap_or(Value::Null)
    })
}

fn map_len(v: Option<&Value>) -> usize {
    v.and_then(Value::as_object).map_or(0, |m| m.len())
}

#[allow(clippy::too_many_arguments)]
fn core(
    group: &str,
    kind: &str,
    plural: &str,
    short: &[&str],
    namespaced: bool,
    schema: Option<Value>,
    columns: Vec<PrinterColumn>,
    status: bool,
) -> ResourceDef {
    ResourceDef {
        group: group.into(),
        version: "v1".into(),
        kind: kind.into(),
        list_kind: format!("{kind}List"),
        plural: plural.into(),
        singular: kind.to_lowercase(),
        short_names: short.iter().map(|s| s.to_string()).collect(),
        categories: vec![],
        namespaced,
        schema: schema.as_ref().map(Schema::owned),
        printer_columns: columns,
        status_subresource: status,
        origin: Origin::Core,
    }
}

/// The definitions of the core kinds, built once (schema generation is not free).
pub fn definitions() -> &'static [Arc<ResourceDef>] {
    static DEFS: OnceLock<Vec<Arc<ResourceDef>>> = OnceLock::new();
    DEFS.get_or_init(|| build_definitions().into_iter().map(Arc::new).collect())
}

fn build_definitions() -> Vec<ResourceDef> {
    vec![
        core(
            "",
            "Pod",
            "pods",
            &["po"],
            true,
            // Pods are written only by skiff itself (they mirror runtime instances).
            None,
            vec![
                column("Ready", "string", 0, pod_ready),
                column("Status", "string", 0, pod_status),
                column("Restarts", "integer", 0, |o| {
                    json!(container_statuses(o)
                        .iter()
                        .map(|c| c.get("restartCount").and_then(Value::as_i64).unwrap_or(0))
                        .sum::<i64>())
                }),
                age(),
                column("IP", "string", 1, |o| {
                    o.pointer("/status/podIP").cloned().unwrap_or(Value::Null)
                }),
                column("Node", "string", 1, |o| {
                    o.pointer("/spec/nodeName").cloned().unwrap_or(Value::Null)
                }),
            ],
            true,
        ),
        core(
            "",
            "Namespace",
            "namespaces",
            &["ns"],
            false,
            Some(structural_schema::<Namespace>()),
            vec![
                column("Status", "string", 0, |o| {
                    o.pointer("/status/phase").cloned().unwrap_or(Value::Null)
                }),
                age(),
            ],
            true,
        ),
        core(
            "",
            "ConfigMap",
            "configmaps",
            &["cm"],
            true,
            Some(structural_schema::<ConfigMap>()),
            vec![
                column("Data", "integer", 0, |o| {
                    json!(map_len(o.get("data")) + map_len(o.get("binaryData")))
                }),
                age(),
            ],
            false,
        ),
        core(
            "",
            "Secret",
            "secrets",
            &[],
            true,
            Some(structural_schema::<Secret>()),
            vec![
                column("Type", "string", 0, |o| {
                    o.get("type").cloned().unwrap_or(Value::Null)
                }),
                column("Data", "integer", 0, |o| json!(map_len(o.get("data")))),
                age(),
            ],
            false,
        ),
        core(
            "",
            "ServiceAccount",
            "serviceaccounts",
            &["sa"],
            true,
            Some(structural_schema::<ServiceAccount>()),
            vec![
                column("Secrets", "integer", 0, |o| {
                    json!(o
                        .get("secrets")
                        .and_then(Value::as_array)
                        .map_or(0, |a| a.len()))
                }),
                age(),
            ],
            false,
        ),
        core(
            "",
            "Event",
            "events",
            &["ev"],
            true,
            Some(structural_schema::<Event>()),
            vec![
                column("Last Seen", "date", 0, |o| {
                    o.get("lastTimestamp")
                        .filter(|v| !v.is_null())
                        .or_else(|| o.get("eventTime"))
                        .or_else(|| o.pointer("/metadata/creationTimestamp"))
                        .cloned()
                        .unwrap_or(Value::Null)
                }),
                column("Type", "string", 0, |o| {
                    o.get("type").cloned().unwrap_or(Value::Null)
                }),
                column("Reason", "string", 0, |o| {
                    o.get("reason").cloned().unwrap_or(Value::Null)
                }),
                column("Object", "string", 0, |o| {
                    let kind = o
                        .pointer("/involvedObject/kind")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let name = o
                        .pointer("/involvedObject/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    json!(format!("{}/{}", kind.to_lowercase(), name))
                }),
                column("Message", "string", 0, |o| {
                    o.get("message").cloned().unwrap_or(Value::Null)
                }),
            ],
            false,
        ),
        core(
            crate::rbac::GROUP,
            "Role",
            "roles",
            &[],
            true,
            Some(structural_schema::<Role>()),
            vec![created_at()],
            false,
        ),
        core(
            crate::rbac::GROUP,
            "ClusterRole",
            "clusterroles",
            &[],
            false,
            Some(structural_schema::<ClusterRole>()),
            vec![created_at()],
            false,
        ),
        core(
            crate::rbac::GROUP,
            "RoleBinding",
            "rolebindings",
            &[],
            true,
            Some(structural_schema::<RoleBinding>()),
            binding_columns(),
            false,
        ),
        core(
            crate::rbac::GROUP,
            "ClusterRoleBinding",
            "clusterrolebindings",
            &[],
            false,
            Some(structural_schema::<ClusterRoleBinding>()),
            binding_columns(),
            false,
        ),
        core(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            &["crd", "crds"],
            false,
            // JSONSchemaProps is recursive; CRDs are checked by typed decoding instead.
            None,
            vec![column("Created At", "date", 0, |o| {
                o.pointer("/metadata/creationTimestamp")
                    .cloned()
                    .unwrap_or(Value::Null)
            })],
            true,
        ),
    ]
}

/// Roles' CREATED AT column: the timestamp itself, as kube-apiserver prints it.
fn created_at() -> PrinterColumn {
    column("Created At", "string", 0, |o| {
        o.pointer("/metadata/creationTimestamp")
            .cloned()
            .unwrap_or(Value::Null)
    })
}

/// The subjects of a binding of one kind, joined as kubectl shows them.
fn subjects_of(binding: &Value, kind: &str) -> Value {
    let names: Vec<String> = binding
        .get("subjects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|s| s.get("kind").and_then(Value::as_str) == Some(kind))
        .map(|s| {
            let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
            if kind == "ServiceAccount" {
                let ns = s
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                format!("{ns}/{name}")
            } else {
                name.to_string()
            }
        })
        .collect();
    json!(names.join(", "))
}

/// ROLE, AGE, and (wide) USERS, GROUPS, SERVICEACCOUNTS of role bindings.
fn binding_columns() -> Vec<PrinterColumn> {
    vec![
        column("Role", "string", 0, |o| {
            let kind = o
                .pointer("/roleRef/kind")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let name = o
                .pointer("/roleRef/name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            json!(format!("{kind}/{name}"))
        }),
        age(),
        column("Users", "string", 1, |o| subjects_of(o, "User")),
        column("Groups", "string", 1, |o| subjects_of(o, "Group")),
        column("ServiceAccounts", "string", 1, |o| {
            subjects_of(o, "ServiceAccount")
        }),
    ]
}

fn container_statuses(pod: &Value) -> Vec<&Value> {
    pod.pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// kubectl's READY column: ready containers / containers.
fn pod_ready(pod: &Value) -> Value {
    let total = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map_or(0, |c| c.len());
    let ready = container_statuses(pod)
        .iter()
        .filter(|c| c.get("ready") == Some(&json!(true)))
        .count();
    json!(format!("{ready}/{total}"))
}

/// kubectl's STATUS column: a waiting/terminated container's reason (e.g.
/// `CrashLoopBackOff`), `Terminating`, else the phase.
fn pod_status(pod: &Value) -> Value {
    if pod.pointer("/metadata/deletionTimestamp").is_some() {
        return json!("Terminating");
    }
    for c in container_statuses(pod) {
        for state in ["waiting", "terminated"] {
            if let Some(reason) = c
                .pointer(&format!("/state/{state}/reason"))
                .and_then(Value::as_str)
            {
                return json!(reason);
            }
        }
    }
    pod.pointer("/status/phase")
        .cloned()
        .unwrap_or(json!("Pending"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_columns_like_kubectl() {
        let pod = json!({
            "spec": {"containers": [{"name": "user-container"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "user-container", "ready": false, "restartCount": 3,
                 "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
        });
        assert_eq!(pod_ready(&pod), json!("0/1"));
        assert_eq!(pod_status(&pod), json!("CrashLoopBackOff"));
    }

    #[test]
    fn configmap_schema_is_structural_and_inline() {
        let s = structural_schema::<ConfigMap>();
        assert_eq!(s["type"], "object");
        assert!(s["properties"]["data"].is_object());
        assert!(!serde_json::to_string(&s).unwrap().contains("$ref"));
    }
}
