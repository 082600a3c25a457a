//! Client-side apply logic, as kubectl does it: clean a manifest of server-managed
//! fields, build a JSON merge patch that also deletes fields dropped since the last
//! apply, and decide whether that patch would change the live object at all.

use serde_json::{Map, Value};

/// The annotation holding the manifest of the previous apply.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Metadata fields the server owns; they are never sent or compared.
const SERVER_METADATA: &[&str] = &[
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// The manifest without status, server-owned metadata and the last-applied
/// annotation (what gets stored as the new last-applied configuration).
pub fn clean_manifest(manifest: &Value) -> Value {
    let mut v = manifest.clone();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("status");
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            for f in SERVER_METADATA {
                meta.remove(*f);
            }
            if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                ann.remove(LAST_APPLIED);
                if ann.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
    }
    v
}

/// The object to send: the clean manifest with the last-applied annotation set to it,
/// in kubectl's exact format (sorted keys, `"annotations":{}` kept, trailing newline)
/// so that kubectl and skiff agree on it.
pub fn with_last_applied(clean: &Value) -> Value {
    let mut v = clean.clone();
    let text = serde_json::to_string(&ensure_annotations(clean.clone())).expect("json") + "\n";
    let obj = v.as_object_mut().expect("manifest is an object");
    let meta = obj
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let meta = meta.as_object_mut().expect("metadata is an object");
    let ann = meta
        .entry("annotations")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(ann) = ann.as_object_mut() {
        ann.insert(LAST_APPLIED.into(), Value::String(text));
    }
    v
}

fn ensure_annotations(mut v: Value) -> Value {
    if let Some(obj) = v.as_object_mut() {
        let meta = obj
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.entry("annotations")
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    v
}

/// The previous apply's manifest stored on the live object, if any, cleaned like a
/// manifest (so kubectl's and skiff's spellings compare equal).
pub fn last_applied(live: &Value) -> Option<Value> {
    let text = live
        .pointer("/metadata/annotations")?
        .get(LAST_APPLIED)?
        .as_str()?;
    serde_json::from_str::<Value>(text)
        .ok()
        .map(|v| clean_manifest(&v))
}

/// Whether applying `clean` (a cleaned manifest) to `live` would change nothing:
/// the stored last-applied configuration is the same manifest and every field the
/// manifest names already has its value.
pub fn is_unchanged(clean: &Value, live: &Value) -> bool {
    let previous = last_applied(live);
    if previous.as_ref() != Some(clean) {
        return false;
    }
    let patch = merge_patch(previous.as_ref(), clean);
    patch_is_noop(&patch, live)
}

/// A JSON merge patch: `desired`, plus `null` for every key present in `previous`
/// (the last applied manifest) but absent from `desired`, recursively through maps.
pub fn merge_patch(previous: Option<&Value>, desired: &Value) -> Value {
    let mut patch = desired.clone();
    if let Some(prev) = previous {
        add_deletions(prev, desired, &mut patch);
    }
    patch
}

fn add_deletions(prev: &Value, desired: &Value, patch: &mut Value) {
    let (Some(prev), Some(desired), Some(patch)) =
        (prev.as_object(), desired.as_object(), patch.as_object_mut())
    else {
        return;
    };
    for (k, pv) in prev {
        match desired.get(k) {
            None => {
                patch.insert(k.clone(), Value::Null);
            }
            Some(dv) => {
                if let Some(p) = patch.get_mut(k) {
                    add_deletions(pv, dv, p);
                }
            }
        }
    }
}

/// Whether applying `patch` to `live` changes nothing: every non-null value in the
/// patch is already in `live` (lists compared element by element, only on the fields
/// the patch names, so server defaults do not count as differences) and every
/// `null` names a field `live` does not have.
pub fn patch_is_noop(patch: &Value, live: &Value) -> bool {
    match (patch, live) {
        (Value::Object(p), Value::Object(l)) => p.iter().all(|(k, pv)| match (pv, l.get(k)) {
            (Value::Null, None | Some(Value::Null)) => true,
            (Value::Null, Some(_)) => false,
            (pv, Some(lv)) => patch_is_noop(pv, lv),
            (pv, None) => is_empty(pv),
        }),
        (Value::Object(_), _) => false,
        (Value::Array(p), Value::Array(l)) => {
            p.len() == l.len() && p.iter().zip(l).all(|(a, b)| contained(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// Like [`patch_is_noop`] but inside lists, where `null` is a value, not a deletion.
fn contained(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d.iter().all(|(k, dv)| match l.get(k) {
            Some(lv) => contained(dv, lv),
            None => dv.is_null() || is_empty(dv),
        }),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| contained(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// Empty maps/lists the server may drop when storing.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.values().all(is_empty),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ksvc(target: &str) -> Value {
        json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "hello", "namespace": "default"},
               "spec": {"template": {"spec": {"containers": [{"image": "img", "env": [{"name": "TARGET", "value": target}]}]}}}})
    }

    fn live_of(manifest: &Value) -> Value {
        let mut live = with_last_applied(&clean_manifest(manifest));
        live["metadata"]["uid"] = json!("u1");
        live["metadata"]["resourceVersion"] = json!("5");
        live["spec"]["template"]["spec"]["containers"][0]["resources"] = json!({});
        live["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] =
            json!({"successThreshold": 1});
        live["spec"]["traffic"] = json!([{"latestRevision": true, "percent": 100}]);
        live["status"] = json!({"url": "http://hello.default.example.com"});
        live
    }

    #[test]
    fn unchanged_ignores_server_defaults_and_status() {
        let m = ksvc("World");
        let live = live_of(&m);
        assert!(is_unchanged(&clean_manifest(&m), &live));
        assert!(!is_unchanged(&clean_manifest(&ksvc("Skiff")), &live));
    }

    #[test]
    fn last_applied_matches_kubectl_format() {
        let m = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg1", "namespace": "default"}, "data": {"a": "b"}});
        let sent = with_last_applied(&clean_manifest(&m));
        assert_eq!(
            sent["metadata"]["annotations"][LAST_APPLIED],
            "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"b\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"cfg1\",\"namespace\":\"default\"}}\n"
        );
        // An object kubectl applied (its own spelling of the annotation) is unchanged.
        let mut live = m.clone();
        live["metadata"]["annotations"] = json!({LAST_APPLIED: "{\"apiVersion\":\"v1\",\"data\":{\"a\":\"b\"},\"kind\":\"ConfigMap\",\"metadata\":{\"annotations\":{},\"name\":\"cfg1\",\"namespace\":\"default\"}}\n"});
        assert!(is_unchanged(&clean_manifest(&m), &live));
        // Without a last-applied annotation, kubectl reports `configured` (it adds one).
        assert!(!is_unchanged(&clean_manifest(&m), &m));
    }

    #[test]
    fn changed_value_is_detected() {
        let live = live_of(&ksvc("World"));
        let m = ksvc("Skiff");
        let patch = merge_patch(
            last_applied(&live).as_ref(),
            &with_last_applied(&clean_manifest(&m)),
        );
        assert!(!patch_is_noop(&patch, &live));
        assert_eq!(
            patch["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
            "Skiff"
        );
    }

    #[test]
    fn removed_fields_become_nulls() {
        let mut old = ksvc("World");
        old["metadata"]["labels"] = json!({"a": "1", "b": "2"});
        let live = live_of(&old);
        let mut new = ksvc("World");
        new["metadata"]["labels"] = json!({"a": "1"});
        let patch = merge_patch(
            last_applied(&live).as_ref(),
            &with_last_applied(&clean_manifest(&new)),
        );
        assert_eq!(patch["metadata"]["labels"], json!({"a": "1", "b": null}));
        assert!(!patch_is_noop(&patch, &live));
    }

    #[test]
    fn list_length_change_is_a_change() {
        let live = live_of(&ksvc("World"));
        let mut m = ksvc("World");
        m["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array_mut()
            .unwrap()
            .push(json!({"name": "X", "value": "1"}));
        let patch = merge_patch(
            last_applied(&live).as_ref(),
            &with_last_applied(&clean_manifest(&m)),
        );
        assert!(!patch_is_noop(&patch, &live));
    }

    #[test]
    fn clean_drops_server_fields() {
        let m = json!({"kind": "ConfigMap", "metadata": {"name": "a", "uid": "x", "resourceVersion": "3",
            "annotations": {LAST_APPLIED: "{}"}}, "status": {}, "data": {"k": "v"}});
        assert_eq!(
            clean_manifest(&m),
            json!({"kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}})
        );
        assert_eq!(
            last_applied(&with_last_applied(&clean_manifest(&m))),
            Some(clean_manifest(&m))
        );
    }
}
