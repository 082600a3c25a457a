//! OpenAPI documents generated from the registry: `/openapi/v3` (what kubectl uses to
//! check server-side field validation and for `kubectl explain`) and `/openapi/v2`
//! (JSON, or gnostic protobuf via `openapi_pb`) for older clients and tools.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::http::{json_response, App};
use crate::openapi_pb;
use crate::registry::{Registry, ResourceDef};
use crate::status::ApiError;

/// The schema component name of a kind, Kubernetes style: `io.k8s.api.core.v1.ConfigMap`,
/// `dev.knative.serving.v1.Service`.
pub fn definition_name(def: &ResourceDef) -> String {
    if def.group.is_empty() {
        return format!("io.k8s.api.core.v1.{}", def.kind);
    }
    if def.group == "apiextensions.k8s.io" {
        return format!(
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{}.{}",
            def.version, def.kind
        );
    }
    if let (Some(prefix), crate::registry::Origin::Core) =
        (def.group.strip_suffix(".k8s.io"), def.origin)
    {
        // Kubernetes' own groups: `io.k8s.api.rbac.v1.Role`.
        let short = prefix.split('.').next().unwrap_or(prefix);
        return format!("io.k8s.api.{short}.{}.{}", def.version, def.kind);
    }
    let reversed: Vec<&str> = def.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), def.version, def.kind)
}

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

fn object_meta_schema() -> Value {
    let s = |d: &str| json!({"type": "string", "description": d});
    json!({
        "description": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users must create.",
        "type": "object",
        "properties": {
            "name": s("Name must be unique within a namespace."),
            "generateName": s("GenerateName is an optional prefix, used by the server, to generate a unique name ONLY IF the Name field has not been provided."),
            "namespace": s("Namespace defines the space within which each name must be unique."),
            "uid": s("UID is the unique in time and space value for this object."),
            "resourceVersion": s("An opaque value that represents the internal version of this object."),
            "generation": {"type": "integer", "format": "int64", "description": "A sequence number representing a specific generation of the desired state."},
            "creationTimestamp": {"type": "string", "format": "date-time", "description": "CreationTimestamp is a timestamp representing the server time when this object was created."},
            "deletionTimestamp": {"type": "string", "format": "date-time", "description": "DeletionTimestamp is RFC 3339 date and time at which this resource will be deleted."},
            "deletionGracePeriodSeconds": {"type": "integer", "format": "int64"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Map of string keys and values that can be used to organize and categorize (scope and select) objects."},
            "annotations": {"type": "object", "additionalProperties": {"type": "string"}, "description": "Annotations is an unstructured key value map stored with a resource."},
            "ownerReferences": {"type": "array", "items": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"}, "uid": {"type": "string"},
                "controller": {"type": "boolean"}, "blockOwnerDeletion": {"type": "boolean"}},
                "required": ["apiVersion", "kind", "name", "uid"]},
                "x-kubernetes-patch-merge-key": "uid", "x-kubernetes-patch-strategy": "merge",
                "description": "List of objects depended by this object."},
            "finalizers": {"type": "array", "items": {"type": "string"}, "x-kubernetes-patch-strategy": "merge",
                "description": "Must be empty before the object is deleted from the registry."},
            "managedFields": {"type": "array", "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            "selfLink": s("Deprecated."),
        }
    })
}

fn gvk(def: &ResourceDef) -> Value {
    json!([{"group": def.group, "version": def.version, "kind": def.kind}])
}

/// A kind's schema with its metadata referring to ObjectMeta, as kube-apiserver
/// publishes CRD schemas.
fn kind_schema(def: &ResourceDef, ref_prefix: &str) -> Value {
    let mut schema = def
        .schema
        .as_ref()
        .map(|s| (*s.get()).clone())
        .unwrap_or_else(|| json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}));
    if let Some(obj) = schema.as_object_mut() {
        let props = obj.entry("properties").or_insert_with(|| json!({}));
        if let Some(p) = props.as_object_mut() {
            p.insert("apiVersion".into(), json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."}));
            p.insert("kind".into(), json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents."}));
            p.insert("metadata".into(), json!({"allOf": [{"$ref": format!("{ref_prefix}{OBJECT_META}")}], "description": "Standard object's metadata."}));
        }
        obj.insert("x-kubernetes-group-version-kind".into(), gvk(def));
    }
    schema
}

fn operation(
    def: &ResourceDef,
    verb: &str,
    action: &str,
    extra_params: &[&str],
    v3: bool,
) -> Value {
    let params: Vec<Value> = extra_params
        .iter()
        .map(|p| {
            if v3 {
                json!({"name": p, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
            } else {
                json!({"name": p, "in": "query", "type": "string", "uniqueItems": true})
            }
        })
        .collect();
    json!({
        "operationId": format!("{verb}{}", def.kind),
        "parameters": params,
        "responses": {"200": {"description": "OK"}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": def.group, "version": def.version, "kind": def.kind},
    })
}

fn paths_for(def: &ResourceDef, v3: bool) -> Vec<(String, Value)> {
    let base = if def.group.is_empty() {
        format!("/api/{}", def.version)
    } else {
        format!("/apis/{}/{}", def.group, def.version)
    };
    let scope = if def.namespaced {
        "/namespaces/{namespace}"
    } else {
        ""
    };
    let collection = format!("{base}{scope}/{}", def.plural);
    let item = format!("{collection}/{{name}}");
    let write = ["dryRun", "fieldManager", "fieldValidation"];
    let mut out = vec![
        (
            collection,
            json!({
                "get": operation(def, "list", "list", &["labelSelector", "fieldSelector", "limit", "continue", "watch", "resourceVersion"], v3),
                "post": operation(def, "create", "post", &write, v3),
                "delete": operation(def, "deletecollection", "deletecollection", &[], v3),
            }),
        ),
        (
            item.clone(),
            json!({
                "get": operation(def, "read", "get", &[], v3),
                "put": operation(def, "replace", "put", &write, v3),
                "patch": operation(def, "patch", "patch", &["dryRun", "fieldManager", "fieldValidation", "force"], v3),
                "delete": operation(def, "delete", "delete", &[], v3),
            }),
        ),
    ];
    if def.status_subresource {
        out.push((
            format!("{item}/status"),
            json!({
                "get": operation(def, "read", "get", &[], v3),
                "put": operation(def, "replace", "put", &write, v3),
                "patch": operation(def, "patch", "patch", &["dryRun", "fieldManager", "fieldValidation", "force"], v3),
            }),
        ));
    }
    out
}

fn v3_document(
    registry: &Registry,
    group: &str,
    version: &str,
    git_version: &str,
) -> Option<Value> {
    let defs: Vec<&Arc<ResourceDef>> = registry.in_group_version(group, version).collect();
    if defs.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    schemas.insert(OBJECT_META.into(), object_meta_schema());
    for def in defs {
        for (p, ops) in paths_for(def, true) {
            paths.insert(p, ops);
        }
        schemas.insert(
            definition_name(def),
            kind_schema(def, "#/components/schemas/"),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": git_version},
        "paths": paths,
        "components": {"schemas": schemas},
    }))
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// A cheap content hash so clients can cache per-group documents.
fn etag(v: &Value) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    serde_json::to_string(v).unwrap_or_default().hash(&mut h);
    format!("{:016X}", h.finish())
}

/// `GET /openapi/v3`: the index of per-group-version documents.
pub async fn v3_index(State(app): State<Arc<App>>) -> Response {
    let registry = app.objects.registry();
    let mut paths = Map::new();
    for (group, versions) in registry.group_versions() {
        for v in versions {
            if let Some(doc) = v3_document(&registry, &group, &v, &app.options.git_version) {
                let p = gv_path(&group, &v);
                paths.insert(
                    p.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", etag(&doc))}),
                );
            }
        }
    }
    json_response(StatusCode::OK, &json!({"paths": paths}))
}

/// `GET /openapi/v3/{api/v1 | apis/group/version}`.
pub async fn v3_group_version(State(app): State<Arc<App>>, Path(path): Path<String>) -> Response {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version) = match segs.as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        _ => return ApiError::no_route().into_response(),
    };
    match v3_document(
        &app.objects.registry(),
        group,
        version,
        &app.options.git_version,
    ) {
        Some(doc) => json_response(StatusCode::OK, &doc),
        None => ApiError::no_route().into_response(),
    }
}

/// `GET /openapi/v2`: the Swagger 2.0 document, as gnostic protobuf when the client
/// asks for it (kubectl ≤ 1.2x, for client-side validation and `explain`), JSON
/// otherwise. CRD schemas get kube-apiserver's v2 rewrites (`openapi_pb::v2_compatible`).
pub async fn v2(State(app): State<Arc<App>>, headers: http::HeaderMap) -> Response {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let protobuf = openapi_pb::wants_protobuf(accept);
    if !(protobuf
        || accept.contains("application/json")
        || accept.contains("*/*")
        || accept.is_empty())
    {
        return ApiError::not_acceptable(format!(
            "/openapi/v2 is served as application/json or {}, not {accept}",
            openapi_pb::ACCEPT_TYPE
        ))
        .into_response();
    }
    let registry = app.objects.registry();
    let mut paths = Map::new();
    let mut definitions = Map::new();
    definitions.insert(OBJECT_META.into(), object_meta_schema());
    for def in &registry.resources {
        for (p, ops) in paths_for(def, false) {
            paths.insert(p, ops);
        }
        let mut schema = kind_schema(def, "#/definitions/");
        openapi_pb::v2_compatible(&mut schema);
        definitions.insert(definition_name(def), schema);
    }
    let doc = json!({
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": app.options.git_version},
        "paths": paths,
        "definitions": definitions,
    });
    if protobuf {
        return (
            StatusCode::OK,
            [(http::header::CONTENT_TYPE, openapi_pb::CONTENT_TYPE)],
            openapi_pb::encode(&doc),
        )
            .into_response();
    }
    json_response(StatusCode::OK, &doc)
}
