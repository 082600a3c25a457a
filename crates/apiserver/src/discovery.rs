//! Discovery documents (`/api`, `/apis`, `/api/v1`, `/apis/{group}/{version}`): how
//! kubectl and kube-rs learn which resources exist, their verbs and short names.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde_json::{json, Value};

use crate::http::{json_response, App};
use crate::registry::ResourceDef;
use crate::status::ApiError;

/// Orders Kubernetes versions the way kube-apiserver prefers them: GA, then beta, then
/// alpha, higher numbers first.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let parse = |s: &str| s.parse::<u32>().ok();
    if let Some(rest) = v.strip_prefix('v') {
        if let Some(n) = parse(rest) {
            return (3, n, 0);
        }
        for (tag, rank) in [("beta", 2u8), ("alpha", 1u8)] {
            if let Some((major, minor)) = rest.split_once(tag) {
                if let (Some(a), Some(b)) = (parse(major), parse(minor)) {
                    return (rank, a, b);
                }
            }
        }
    }
    (0, 0, 0)
}

/// `GET /api`.
pub async fn core_versions(State(_app): State<Arc<App>>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
    )
}

/// `GET /apis`.
pub async fn api_groups(State(app): State<Arc<App>>) -> Response {
    let registry = app.objects.registry();
    let mut groups = Vec::new();
    let mut all = registry.group_versions();
    for (group, version, _) in crate::reviews::virtual_groups() {
        all.push((group.to_string(), vec![version.to_string()]));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    for (group, mut versions) in all {
        if group.is_empty() {
            continue;
        }
        versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        let entries: Vec<Value> = versions
            .iter()
            .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
            .collect();
        groups.push(
            json!({"name": group, "versions": entries, "preferredVersion": entries[0].clone()}),
        );
    }
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

fn resource_entry(def: &ResourceDef) -> Vec<Value> {
    let mut verbs = vec![
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    if def.group.is_empty() && def.plural == "namespaces" {
        verbs.retain(|v| *v != "deletecollection");
    }
    let mut main = json!({
        "name": def.plural,
        "singularName": def.singular,
        "namespaced": def.namespaced,
        "kind": def.kind,
        "verbs": verbs,
    });
    if !def.short_names.is_empty() {
        main["shortNames"] = json!(def.short_names);
    }
    if !def.categories.is_empty() {
        main["categories"] = json!(def.categories);
    }
    let mut out = vec![main];
    if def.status_subresource {
        out.push(json!({
            "name": format!("{}/status", def.plural), "singularName": "", "namespaced": def.namespaced,
            "kind": def.kind, "verbs": ["get", "patch", "update"],
        }));
    }
    out
}

/// `GET /api/v1` or `/apis/{group}/{version}`.
pub fn group_version_response(app: &App, path: &str) -> Result<Response, ApiError> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version) = match segs.as_slice() {
        ["api", v] => ("", *v),
        ["apis", g, v] => (*g, *v),
        ["apis", g] => return group_response(app, g),
        _ => return Err(ApiError::no_route()),
    };
    let registry = app.objects.registry();
    let mut resources: Vec<Value> = registry
        .in_group_version(group, version)
        .flat_map(|d| resource_entry(d))
        .collect();
    if group.is_empty() && version == "v1" {
        resources.push(crate::reviews::token_subresource_entry());
    }
    for (g, v, entries) in crate::reviews::virtual_groups() {
        if g == group && v == version {
            resources.extend(entries);
        }
    }
    if resources.is_empty() {
        return Err(ApiError::no_route());
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    ))
}

fn group_response(app: &App, group: &str) -> Result<Response, ApiError> {
    let registry = app.objects.registry();
    let virtual_group = crate::reviews::virtual_groups()
        .into_iter()
        .find(|(g, _, _)| *g == group)
        .map(|(g, v, _)| (g.to_string(), vec![v.to_string()]));
    let Some((_, mut versions)) = registry
        .group_versions()
        .into_iter()
        .find(|(g, _)| g == group)
        .or(virtual_group)
    else {
        return Err(ApiError::no_route());
    };
    versions.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
    let entries: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0].clone()}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_order() {
        let mut v = vec!["v1alpha1", "v1", "v1beta1", "v2"];
        v.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
        assert_eq!(v, vec!["v2", "v1", "v1beta1", "v1alpha1"]);
    }
}
