//! Knative's defaulting (`pkg/apis/serving/v1/*_defaults.go`) on raw JSON, with
//! the default `config-defaults` values.

use serde_json::{json, Map, Value};

use super::Kind;

/// `revision-timeout-seconds` default.
pub const DEFAULT_TIMEOUT_SECONDS: i64 = 300;
/// `container-concurrency` default (0 = unlimited).
pub const DEFAULT_CONTAINER_CONCURRENCY: i64 = 0;
/// `container-name-template` default.
pub const DEFAULT_USER_CONTAINER_NAME: &str = "user-container";

pub(crate) fn set_defaults(kind: Kind, obj: &mut Value, old: Option<&Value>) {
    let create = old.is_none();
    match kind {
        Kind::Service => {
            let old_template_name = old.and_then(|o| template_name(o.pointer("/spec/template")));
            let spec = object_entry(obj, "spec");
            if let Some(spec) = spec {
                configuration_spec_defaults(spec, old_template_name, create);
                // Within a Service the RouteSpec has a default configuration name,
                // so an empty traffic block means "100% to the latest revision".
                let empty = match spec.get("traffic") {
                    None | Some(Value::Null) => true,
                    Some(Value::Array(a)) => a.is_empty(),
                    _ => false,
                };
                if empty {
                    spec.insert(
                        "traffic".into(),
                        json!([{"latestRevision": true, "percent": 100}]),
                    );
                }
                traffic_defaults(spec);
            }
        }
        Kind::Configuration => {
            let old_template_name = old.and_then(|o| template_name(o.pointer("/spec/template")));
            if let Some(spec) = object_entry(obj, "spec") {
                configuration_spec_defaults(spec, old_template_name, create);
            }
        }
        Kind::Revision => {
            if let Some(spec) = object_entry(obj, "spec") {
                revision_spec_defaults(spec, create);
            }
        }
        Kind::Route => {
            if let Some(Value::Object(spec)) = obj.get_mut("spec") {
                traffic_defaults(spec);
            }
        }
    }
}

/// `obj[key]` as an object, created when absent/null. None if it is another type.
fn object_entry<'a>(obj: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    let map = obj.as_object_mut()?;
    let entry = map.entry(key).or_insert_with(|| json!({}));
    if entry.is_null() {
        *entry = json!({});
    }
    entry.as_object_mut()
}

fn template_name(template: Option<&Value>) -> Option<String> {
    template?
        .pointer("/metadata/name")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `ConfigurationSpec.SetDefaults`: skipped on update when the user brings their
/// own revision name and keeps it (defaulting would otherwise look like an
/// unnamed change).
fn configuration_spec_defaults(
    spec: &mut Map<String, Value>,
    old_template_name: Option<String>,
    create: bool,
) {
    let template = spec.entry("template").or_insert_with(|| json!({}));
    if template.is_null() {
        *template = json!({});
    }
    let Some(template) = template.as_object_mut() else {
        return;
    };
    if let Some(old_name) = old_template_name {
        let new_name = template
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str);
        if new_name == Some(old_name.as_str()) {
            return;
        }
    }
    let rspec = template.entry("spec").or_insert_with(|| json!({}));
    if rspec.is_null() {
        *rspec = json!({});
    }
    if let Some(rspec) = rspec.as_object_mut() {
        revision_spec_defaults(rspec, create);
    }
}

/// `TrafficTarget.SetDefaults`: `latestRevision` = "no revisionName given".
fn traffic_defaults(spec: &mut Map<String, Value>) {
    if let Some(Value::Array(targets)) = spec.get_mut("traffic") {
        for tt in targets.iter_mut().filter_map(Value::as_object_mut) {
            if tt.get("latestRevision").is_none_or(Value::is_null) {
                let pinned = tt
                    .get("revisionName")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty());
                tt.insert("latestRevision".into(), Value::Bool(!pinned));
            }
        }
    }
}

/// `RevisionSpec.SetDefaults`.
pub(crate) fn revision_spec_defaults(spec: &mut Map<String, Value>, create: bool) {
    match spec.get("timeoutSeconds") {
        None | Some(Value::Null) => {
            spec.insert("timeoutSeconds".into(), json!(DEFAULT_TIMEOUT_SECONDS));
        }
        Some(v) if v.as_i64() == Some(0) => {
            spec.insert("timeoutSeconds".into(), json!(DEFAULT_TIMEOUT_SECONDS));
        }
        _ => {}
    }
    if spec.get("containerConcurrency").is_none_or(Value::is_null) {
        spec.insert(
            "containerConcurrency".into(),
            json!(DEFAULT_CONTAINER_CONCURRENCY),
        );
    }
    if create && spec.get("enableServiceLinks").is_none_or(Value::is_null) {
        spec.insert("enableServiceLinks".into(), Value::Bool(false));
    }

    // Volumes that may be written to; mounts of anything else are read-only.
    let writable: Vec<String> = spec
        .get("volumes")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("emptyDir").is_some() || v.get("persistentVolumeClaim").is_some())
                .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
                .collect()
        })
        .unwrap_or_default();

    let Some(Value::Array(containers)) = spec.get_mut("containers") else {
        return;
    };
    let n = containers.len();
    for (i, c) in containers.iter_mut().enumerate() {
        let Some(c) = c.as_object_mut() else { continue };
        if c.get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            let name = if n > 1 {
                format!("{DEFAULT_USER_CONTAINER_NAME}-{i}")
            } else {
                DEFAULT_USER_CONTAINER_NAME.to_string()
            };
            c.insert("name".into(), Value::String(name));
        }
        let has_ports = c
            .get("ports")
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty());
        if n == 1 || has_ports {
            apply_probes(c);
        }
        if let Some(Value::Array(mounts)) = c.get_mut("volumeMounts") {
            for m in mounts.iter_mut().filter_map(Value::as_object_mut) {
                let name = m.get("name").and_then(Value::as_str).unwrap_or("");
                if !writable.iter().any(|w| w == name) {
                    m.insert("readOnly".into(), Value::Bool(true));
                }
            }
        }
    }
}

/// Serving containers get a readiness probe: TCP on the serving port (port 0 =
/// "the container port") with `successThreshold: 1`.
fn apply_probes(c: &mut Map<String, Value>) {
    let probe = c.entry("readinessProbe").or_insert_with(|| json!({}));
    if probe.is_null() {
        *probe = json!({});
    }
    let Some(probe) = probe.as_object_mut() else {
        return;
    };
    let has_handler = ["tcpSocket", "httpGet", "exec", "grpc"]
        .iter()
        .any(|h| probe.get(*h).is_some_and(|v| !v.is_null()));
    if !has_handler {
        probe.insert("tcpSocket".into(), json!({"port": 0}));
    }
    if probe
        .get("successThreshold")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        == 0
    {
        probe.insert("successThreshold".into(), json!(1));
    }
}
