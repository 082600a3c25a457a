//! The four patch formats Kubernetes clients send: JSON merge patch (RFC 7386), JSON
//! patch (RFC 6902), strategic merge patch (what kubectl uses on core kinds) and
//! server-side apply (`application/apply-patch+yaml`, create-or-merge here).

use serde_json::{Map, Value};

use crate::status::ApiError;

/// Which patch format a PATCH request carries, from its Content-Type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Merge,
    Json,
    Strategic,
    Apply,
}

/// The Content-Types PATCH accepts.
pub const PATCH_CONTENT_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
];

impl PatchType {
    /// Maps a Content-Type (parameters ignored) to a patch type.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or_default().trim() {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Parses a patch body: YAML for apply patches, JSON otherwise.
pub fn parse_patch(patch_type: PatchType, body: &[u8]) -> Result<Value, ApiError> {
    match patch_type {
        PatchType::Apply => crate::body::parse_yaml_or_json(body),
        _ => serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}"))),
    }
}

/// Applies `patch` to `current` and returns the patched object.
pub fn apply_patch(
    patch_type: PatchType,
    current: &Value,
    patch: &Value,
) -> Result<Value, ApiError> {
    let mut target = current.clone();
    match patch_type {
        PatchType::Merge => json_patch::merge(&mut target, patch),
        PatchType::Apply => apply_merge(&mut target, patch),
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("the json patch is invalid: {e}")))?;
            json_patch::patch(&mut target, &ops).map_err(|e| {
                ApiError::new_invalid_patch(format!(
                    "the server rejected our request due to an error in our request: {e}"
                ))
            })?;
        }
        PatchType::Strategic => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "strategic merge patch must be a JSON object",
                ));
            }
            strategic_merge(&mut target, patch, "");
        }
    }
    Ok(target)
}

impl ApiError {
    fn new_invalid_patch(message: String) -> ApiError {
        let mut e = ApiError::bad_request(message);
        e.code = 422;
        e.reason = "Invalid";
        e
    }
}

/// Server-side apply without field ownership: fields in the applied configuration are
/// set (maps merged recursively), nothing else is removed.
fn apply_merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                match t.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        apply_merge(existing, v)
                    }
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// Merge keys of the core lists kubectl sends strategic merge patches for (from the
/// `patchMergeKey` tags of the Kubernetes types).
fn merge_key(path: &str, field: &str) -> Option<&'static str> {
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "secrets"
        | "volumeMounts"
        | "hostAliases" => Some(if field == "volumeMounts" {
            "mountPath"
        } else if field == "hostAliases" {
            "ip"
        } else {
            "name"
        }),
        "ports" if path.contains("containers") => Some("containerPort"),
        "ownerReferences" => Some("uid"),
        "conditions" => Some("type"),
        _ => None,
    }
}

/// A strategic merge patch: like a JSON merge patch, except lists with a merge key are
/// merged element by element, and the `$patch`, `$retainKeys`,
/// `$deleteFromPrimitiveList/` and `$setElementOrder/` directives are honoured.
fn strategic_merge(target: &mut Value, patch: &Value, path: &str) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut replaced = p.clone();
        replaced.remove("$patch");
        *target = Value::Object(replaced);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let t = target.as_object_mut().expect("object");
    if let Some(Value::Array(keep)) = p.get("$retainKeys") {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        t.retain(|k, _| keep.contains(&k.as_str()) || p.contains_key(k));
    }
    for (k, v) in p {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Value::Array(remove)) = (t.get_mut(field), v) {
                list.retain(|item| !remove.contains(item));
            }
            continue;
        }
        let child_path = format!("{path}.{k}");
        match v {
            Value::Null => {
                t.remove(k);
            }
            Value::Object(_) => {
                let entry = t.entry(k.clone()).or_insert(Value::Object(Map::new()));
                if v.get("$patch").and_then(Value::as_str) == Some("delete") {
                    t.remove(k);
                } else {
                    strategic_merge(entry, v, &child_path);
                }
            }
            Value::Array(items) => match (merge_key(path, k), t.get_mut(k)) {
                (Some(key), Some(Value::Array(existing))) => {
                    merge_list(existing, items, key, &child_path)
                }
                _ => {
                    let cleaned: Vec<Value> = items
                        .iter()
                        .filter(|i| i.get("$patch").is_none())
                        .cloned()
                        .collect();
                    t.insert(k.clone(), Value::Array(cleaned));
                }
            },
            _ => {
                t.insert(k.clone(), v.clone());
            }
        }
    }
}

fn merge_list(existing: &mut Vec<Value>, items: &[Value], key: &str, path: &str) {
    for item in items {
        let id = item.get(key);
        let pos = existing
            .iter()
            .position(|e| id.is_some() && e.get(key) == id);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                existing.remove(i);
            }
            (Some(i), false) => strategic_merge(&mut existing[i], item, path),
            (None, true) => {}
            (None, false) => existing.push(item.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_removes_nulls() {
        let out = apply_patch(
            PatchType::Merge,
            &json!({"a": 1, "b": {"c": 2}}),
            &json!({"b": {"c": null}, "d": 3}),
        )
        .unwrap();
        assert_eq!(out, json!({"a": 1, "b": {}, "d": 3}));
    }

    #[test]
    fn json_patch_ops() {
        let out = apply_patch(
            PatchType::Json,
            &json!({"a": [1]}),
            &json!([{"op": "add", "path": "/a/-", "value": 2}]),
        )
        .unwrap();
        assert_eq!(out, json!({"a": [1, 2]}));
        let err = apply_patch(
            PatchType::Json,
            &json!({}),
            &json!([{"op": "remove", "path": "/x"}]),
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
    }

    #[test]
    fn strategic_merges_lists_by_key() {
        let cur = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let patch = json!({"spec": {"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
            "containers": [{"name": "b", "image": "z"}]}});
        let out = apply_patch(PatchType::Strategic, &cur, &patch).unwrap();
        assert_eq!(out["spec"]["containers"][1]["image"], "z");
        assert_eq!(out["spec"]["containers"][0]["image"], "x");
        assert!(out["spec"].get("$setElementOrder/containers").is_none());
    }

    #[test]
    fn strategic_data_map_like_merge() {
        let cur = json!({"data": {"a": "1", "b": "2"}, "metadata": {"annotations": {"x": "y"}}});
        let patch = json!({"data": {"a": null, "c": "3"}});
        let out = apply_patch(PatchType::Strategic, &cur, &patch).unwrap();
        assert_eq!(out["data"], json!({"b": "2", "c": "3"}));
    }
}
