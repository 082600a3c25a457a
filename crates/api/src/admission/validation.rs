//! Knative's validation (`pkg/apis/serving/v1/*_validation.go`,
//! `pkg/apis/serving/k8s_validation.go`, `metadata_validation.go`) on raw JSON,
//! with the default `config-defaults`/`config-features` values.
//!
//! Messages are Knative's (`missing field(s)`, `expected 0 <= 601 <= 600`, ...);
//! Knative's multi-path errors become one [`FieldError`] per path. Where Knative
//! attaches "details", they are appended to the message in parentheses.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use serde_json::Value;

use super::names::{self, go_list};
use super::{idx, join, FieldError, FieldErrorReason, Kind};

/// `max-revision-timeout-seconds` default.
pub const MAX_REVISION_TIMEOUT_SECONDS: i64 = 600;
/// `container-concurrency-max-limit` default.
pub const CONTAINER_CONCURRENCY_MAX: i64 = 1000;
/// Ports used by the queue-proxy/activator side of a revision.
/// 8012/8013 backend HTTP/HTTP2, 8022 queue admin, 9090/9091 metrics, 8008 profiling.
pub const RESERVED_PORTS: [i64; 6] = [8012, 8013, 8022, 9090, 9091, 8008];
/// Mount paths a user volume may not shadow.
pub const RESERVED_PATHS: [&str; 3] = ["/", "/dev", "/dev/log"];
/// Environment variables the runtime contract sets.
pub const RESERVED_ENV_VARS: [&str; 4] = ["PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION"];
/// Knative's own container.
pub const RESERVED_CONTAINER_NAMES: [&str; 1] = ["queue-proxy"];

const GROUP_PREFIX: &str = "serving.knative.dev/";
const AUTOSCALING_GROUP: &str = "autoscaling.knative.dev";
const VISIBILITY_LABEL: &str = "networking.knative.dev/visibility";
const MAX_INT32: i64 = i32::MAX as i64;

#[derive(Default)]
struct Errs(Vec<FieldError>);

impl Errs {
    fn push(&mut self, field: impl Into<String>, reason: FieldErrorReason, msg: impl Into<String>) {
        let e = FieldError::new(field, reason, msg);
        if !self.0.contains(&e) {
            self.0.push(e);
        }
    }
    fn generic(&mut self, field: impl Into<String>, msg: impl Into<String>) {
        self.push(field, FieldErrorReason::Invalid, msg);
    }
    fn missing(&mut self, field: impl Into<String>) {
        self.push(field, FieldErrorReason::Required, "missing field(s)");
    }
    fn disallowed(&mut self, field: impl Into<String>) {
        self.push(
            field,
            FieldErrorReason::Forbidden,
            "must not set the field(s)",
        );
    }
    fn invalid_value(&mut self, field: impl Into<String>, value: impl Display) {
        self.push(
            field,
            FieldErrorReason::Invalid,
            format!("invalid value: {value}"),
        );
    }
    fn out_of_bounds(
        &mut self,
        field: impl Into<String>,
        v: impl Display,
        lo: impl Display,
        hi: impl Display,
    ) {
        self.push(
            field,
            FieldErrorReason::Invalid,
            format!("expected {lo} <= {v} <= {hi}"),
        );
    }
    fn multiple_one_of(&mut self, fields: &[String]) {
        for f in fields {
            self.push(
                f.clone(),
                FieldErrorReason::Invalid,
                "expected exactly one, got both",
            );
        }
    }
    fn missing_one_of(&mut self, fields: &[String]) {
        for f in fields {
            self.push(
                f.clone(),
                FieldErrorReason::Required,
                "expected exactly one, got neither",
            );
        }
    }
    fn invalid_key_name(&mut self, field: impl Into<String>, key: &str, details: &[String]) {
        let mut msg = format!("invalid key name {key:?}");
        if !details.is_empty() {
            msg.push_str(&format!(" ({})", details.join("; ")));
        }
        self.push(field, FieldErrorReason::Invalid, msg);
    }
}

// ----- small JSON accessors ------------------------------------------------

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}
fn arr(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}
fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}
fn present(v: &Value, key: &str) -> bool {
    v.get(key).is_some_and(|x| !x.is_null())
}
fn str_map(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn validate(kind: Kind, obj: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut e = Errs::default();
    let null = Value::Null;
    let meta = obj.get("metadata").unwrap_or(&null);
    let spec = obj.get("spec").unwrap_or(&null);

    if kind == Kind::Revision {
        if let Some(old) = old {
            // Revisions are immutable snapshots: any spec change is refused.
            let old_spec = without_nulls(old.get("spec").unwrap_or(&null));
            let new_spec = without_nulls(spec);
            if old_spec != new_spec {
                let mut lines = Vec::new();
                diff("spec", &old_spec, &new_spec, &mut lines);
                e.generic(
                    "spec",
                    format!(
                        "Immutable fields changed (-old +new) ({})",
                        lines.join("; ")
                    ),
                );
                return e.0;
            }
        }
    }

    validate_object_metadata(&mut e, meta);
    let labels = str_map(meta.get("labels"));
    let owners = owner_refs(meta);
    for (key, val) in &labels {
        match kind {
            Kind::Service => {
                if key == VISIBILITY_LABEL {
                    validate_visibility(&mut e, key, val);
                } else if key.starts_with(GROUP_PREFIX) {
                    e.invalid_key_name("metadata.labels", key, &[]);
                }
            }
            Kind::Route => match key.as_str() {
                VISIBILITY_LABEL => validate_visibility(&mut e, key, val),
                "serving.knative.dev/service" => verify_owner(&mut e, key, val, "Service", &owners),
                k if k.starts_with(GROUP_PREFIX) => e.invalid_key_name("metadata.labels", key, &[]),
                _ => {}
            },
            Kind::Configuration => match key.as_str() {
                "serving.knative.dev/route"
                | "serving.knative.dev/configurationUID"
                | "serving.knative.dev/serviceUID" => {}
                "serving.knative.dev/service" => verify_owner(&mut e, key, val, "Service", &owners),
                k if k.starts_with(GROUP_PREFIX) => e.invalid_key_name("metadata.labels", key, &[]),
                _ => {}
            },
            Kind::Revision => match key.as_str() {
                "serving.knative.dev/routingState"
                | "serving.knative.dev/route"
                | "serving.knative.dev/service"
                | "serving.knative.dev/configurationUID"
                | "serving.knative.dev/serviceUID"
                | "serving.knative.dev/configurationGeneration" => {}
                "serving.knative.dev/configuration" => {
                    verify_owner(&mut e, key, val, "Configuration", &owners)
                }
                k if k.starts_with(GROUP_PREFIX) => e.invalid_key_name("metadata.labels", key, &[]),
                _ => {}
            },
        }
    }

    let annotations = str_map(meta.get("annotations"));
    match kind {
        Kind::Service | Kind::Configuration => {
            for key in annotations
                .keys()
                .filter(|k| k.starts_with(AUTOSCALING_GROUP))
            {
                e.invalid_key_name(
                    "metadata.annotations",
                    key,
                    &["autoscaling annotations must be put under \"spec.template.metadata.annotations\" to work".into()],
                );
            }
        }
        Kind::Revision => {
            validate_autoscaling_annotations(&mut e, &annotations, "metadata.annotations")
        }
        Kind::Route => {}
    }

    let parent_name = s(meta, "name");
    let parent_generate_name = s(meta, "generateName");
    match kind {
        Kind::Service | Kind::Configuration => {
            let template = spec.get("template").unwrap_or(&null);
            validate_template(
                &mut e,
                template,
                "spec.template",
                parent_name,
                parent_generate_name,
            );
            if kind == Kind::Service {
                validate_traffic(&mut e, spec.get("traffic"), "spec.traffic", true);
            }
            if let Some(old) = old {
                let old_template = old.pointer("/spec/template").unwrap_or(&null);
                verify_name_change(&mut e, template, old_template, "spec.template");
            }
        }
        Kind::Revision => validate_revision_spec(&mut e, spec, "spec"),
        Kind::Route => validate_traffic(&mut e, spec.get("traffic"), "spec.traffic", false),
    }
    e.0
}

// ----- metadata --------------------------------------------------------------

/// knative.dev/pkg `apis.ValidateObjectMetadata`: DNS-1035 names (≤ 63 chars).
fn validate_object_metadata(e: &mut Errs, meta: &Value) {
    let name = s(meta, "name");
    let generate_name = s(meta, "generateName");
    if !generate_name.is_empty() {
        let msgs = names::name_is_dns1035_label(generate_name, true);
        if !msgs.is_empty() {
            e.push(
                "metadata.generateName",
                reason_for(&msgs),
                format!("not a DNS 1035 label prefix: {}", go_list(&msgs)),
            );
            return;
        }
    }
    if !name.is_empty() {
        let msgs = names::name_is_dns1035_label(name, false);
        if !msgs.is_empty() {
            e.push(
                "metadata.name",
                reason_for(&msgs),
                format!("not a DNS 1035 label: {}", go_list(&msgs)),
            );
            return;
        }
    }
    if name.is_empty() && generate_name.is_empty() {
        e.push(
            "metadata.name",
            FieldErrorReason::Required,
            "name or generateName is required",
        );
    }
}

fn reason_for(msgs: &[String]) -> FieldErrorReason {
    if msgs.len() == 1 && msgs[0].starts_with("must be no more than") {
        FieldErrorReason::TooLong
    } else {
        FieldErrorReason::Invalid
    }
}

fn validate_visibility(e: &mut Errs, key: &str, val: &str) {
    if val != "cluster-local" {
        e.invalid_value(format!("metadata.labels.{key}"), val);
    }
}

fn owner_refs(meta: &Value) -> Vec<(String, String)> {
    arr(meta.get("ownerReferences"))
        .iter()
        .map(|r| (s(r, "kind").to_string(), s(r, "name").to_string()))
        .collect()
}

/// A Knative-owned label naming a parent must match an owner reference.
fn verify_owner(e: &mut Errs, key: &str, val: &str, kind: &str, owners: &[(String, String)]) {
    if !owners.iter().any(|(k, n)| k == kind && n == val) {
        e.missing(format!("metadata.labels.{key}"));
    }
}

/// Knative's `autoscaling.ValidateAnnotations` (see [`skiff_autoscaler::validate_annotations`]).
/// Admission has no `config-autoscaler` ConfigMap, so the defaults apply, except that
/// the checks which depend on the ConfigMap are skipped: `initial-scale: "0"` (allowed
/// or not by `allow-zero-initial-scale`) and `max-scale-limit` (0, no limit).
fn validate_autoscaling_annotations(
    e: &mut Errs,
    annotations: &BTreeMap<String, String>,
    path: &str,
) {
    let config = skiff_autoscaler::AutoscalerConfig {
        allow_zero_initial_scale: true,
        max_scale_limit: 0,
        ..Default::default()
    };
    for err in skiff_autoscaler::validate_annotations(annotations, &config) {
        e.generic(join(path, &err.key), err.message);
    }
}

// ----- templates ---------------------------------------------------------------

fn validate_template(
    e: &mut Errs,
    template: &Value,
    path: &str,
    parent_name: &str,
    parent_generate_name: &str,
) {
    let null = Value::Null;
    validate_revision_spec(
        e,
        template.get("spec").unwrap_or(&null),
        &join(path, "spec"),
    );
    let meta = template.get("metadata").unwrap_or(&null);
    validate_autoscaling_annotations(
        e,
        &str_map(meta.get("annotations")),
        &join(path, "metadata.annotations"),
    );

    // validateRevisionName
    let generate_name = s(meta, "generateName");
    if !generate_name.is_empty() {
        let msgs = names::name_is_dns1035_label(generate_name, true);
        if !msgs.is_empty() {
            e.invalid_value(
                join(path, "metadata.generateName"),
                format!("not a DNS 1035 label prefix: {}", go_list(&msgs)),
            );
            return;
        }
    }
    let name = s(meta, "name");
    if !name.is_empty() {
        let field = join(path, "metadata.name");
        let msgs = names::name_is_dns1035_label(name, false);
        if !msgs.is_empty() {
            e.invalid_value(field, format!("not a DNS 1035 label: {}", go_list(&msgs)));
            return;
        }
        if parent_name.is_empty() && !parent_generate_name.is_empty() {
            // A generated parent name cannot be known in advance.
            e.disallowed(field);
            return;
        }
        let prefix = format!("{parent_name}-");
        if !name.starts_with(&prefix) {
            e.invalid_value(field, format!("{name:?} must have prefix {prefix:?}"));
        }
    }
}

/// With a user-chosen revision name, the template may only change along with the name.
fn verify_name_change(e: &mut Errs, new: &Value, old: &Value, path: &str) {
    let name = new
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() || Some(name) != old.pointer("/metadata/name").and_then(Value::as_str) {
        return;
    }
    let (old, new) = (without_nulls(old), without_nulls(new));
    if new != old {
        let mut lines = Vec::new();
        diff(path, &old, &new, &mut lines);
        e.generic(
            join(path, "metadata.name"),
            format!(
                "Saw the following changes without a name change (-old +new) ({})",
                lines.join("; ")
            ),
        );
    }
}

/// `v` with null-valued object members removed: like Go's semantic equality,
/// `"x": null` and an absent `x` are the same.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// Flat "path: -old +new" lines for the leaves that differ.
fn diff(path: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                diff(
                    &join(path, k),
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&idx(path, i), x, y, out);
            }
        }
        _ => out.push(format!("{path}: -{old} +{new}")),
    }
}

// ----- RevisionSpec / PodSpec ----------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum ContainerKind {
    User,
    Sidecar,
    Init,
}

fn validate_revision_spec(e: &mut Errs, spec: &Value, path: &str) {
    let containers = arr(spec.get("containers"));
    let init_containers = arr(spec.get("initContainers"));

    if let Some(sc) = spec.get("securityContext") {
        let p = join(path, "securityContext");
        for f in ["runAsUser", "runAsGroup", "fsGroup"] {
            check_id(e, sc, f, &p);
        }
        for (i, g) in arr(sc.get("supplementalGroups")).iter().enumerate() {
            if let Some(g) = g.as_i64().filter(|g| !(0..=MAX_INT32).contains(g)) {
                e.out_of_bounds(idx(&join(&p, "supplementalGroups"), i), g, 0, MAX_INT32);
            }
        }
    }

    let mounted: BTreeSet<&str> = init_containers
        .iter()
        .chain(containers)
        .flat_map(|c| arr(c.get("volumeMounts")))
        .map(|m| s(m, "name"))
        .collect();
    let volumes = validate_volumes(
        e,
        arr(spec.get("volumes")),
        &join(path, "volumes"),
        &mounted,
    );

    // Init containers.
    let names: BTreeSet<&str> = containers.iter().map(|c| s(c, "name")).collect();
    for (i, c) in init_containers.iter().enumerate() {
        let p = idx(&join(path, "initContainers"), i);
        if names.contains(s(c, "name")) {
            e.push(
                join(&p, "name"),
                FieldErrorReason::Duplicate,
                format!("duplicate container name {:?}", s(c, "name")),
            );
        }
        for f in [
            "livenessProbe",
            "readinessProbe",
            "startupProbe",
            "lifecycle",
        ] {
            if present(c, f) {
                e.push(
                    join(&p, f),
                    FieldErrorReason::Forbidden,
                    "field not allowed in an init container",
                );
            }
        }
        validate_container(e, c, &p, &volumes, ContainerKind::Init);
    }

    // Exactly one serving port across all containers.
    let mut count = 0;
    let mut port_name = String::new();
    for c in containers {
        let ports = arr(c.get("ports"));
        if !ports.is_empty() {
            count += ports.len();
            port_name = s(&ports[0], "name").to_string();
        }
    }
    if port_name.is_empty() {
        port_name = "http".into();
    }
    let all_ports = join(path, "containers[*].ports");
    if count == 0 && containers.len() > 1 {
        e.missing(&all_ports);
    }
    if count > 1 {
        e.generic(&all_ports, "more than one container port is set (Only a single port is allowed across all containers)");
    }

    let cpath = join(path, "containers");
    match containers.len() {
        0 => e.missing(&cpath),
        1 => validate_user_container(e, &containers[0], &idx(&cpath, 0), &volumes, &port_name),
        _ => {
            let mut seen = BTreeSet::new();
            for (i, c) in containers.iter().enumerate() {
                let p = idx(&cpath, i);
                let name = s(c, "name");
                if !seen.insert(name) {
                    e.push(
                        join(&p, "name"),
                        FieldErrorReason::Duplicate,
                        format!("duplicate container name {name:?}"),
                    );
                }
                if arr(c.get("ports")).is_empty() {
                    validate_container(e, c, &p, &volumes, ContainerKind::Sidecar);
                } else {
                    validate_user_container(e, c, &p, &volumes, &port_name);
                }
            }
        }
    }

    let sa = s(spec, "serviceAccountName");
    if !sa.is_empty() {
        for m in names::dns1123_subdomain(sa) {
            e.invalid_value(join(path, "serviceAccountName"), format!("{sa} ({m})"));
        }
    }

    // Knative's own fields.
    let timeout = int(spec, "timeoutSeconds");
    if let Some(t) = timeout.filter(|t| *t != 0) {
        if !(0..=MAX_REVISION_TIMEOUT_SECONDS).contains(&t) {
            e.out_of_bounds(
                join(path, "timeoutSeconds"),
                t,
                0,
                MAX_REVISION_TIMEOUT_SECONDS,
            );
        }
    }
    if let Some(rst) = int(spec, "responseStartTimeoutSeconds").filter(|t| *t != 0) {
        let max = timeout
            .filter(|t| *t != 0)
            .unwrap_or(MAX_REVISION_TIMEOUT_SECONDS);
        if !(0..=max).contains(&rst) {
            e.out_of_bounds(join(path, "responseStartTimeoutSeconds"), rst, 0, max);
        }
    }
    if let Some(idle) = int(spec, "idleTimeoutSeconds").filter(|t| *t != 0) {
        if !(0..=MAX_REVISION_TIMEOUT_SECONDS).contains(&idle) {
            e.out_of_bounds(
                join(path, "idleTimeoutSeconds"),
                idle,
                0,
                MAX_REVISION_TIMEOUT_SECONDS,
            );
        }
    }
    if let Some(cc) = int(spec, "containerConcurrency") {
        if !(0..=CONTAINER_CONCURRENCY_MAX).contains(&cc) {
            e.out_of_bounds(
                join(path, "containerConcurrency"),
                cc,
                0,
                CONTAINER_CONCURRENCY_MAX,
            );
        }
    }
}

fn check_id(e: &mut Errs, sc: &Value, field: &str, path: &str) {
    if let Some(v) = int(sc, field) {
        if !(0..=MAX_INT32).contains(&v) {
            e.out_of_bounds(join(path, field), v, 0, MAX_INT32);
        }
    }
}

/// Volume sources Knative accepts (emptyDir is on by default; PVCs are behind a feature flag that is off).
const VOLUME_SOURCES: [&str; 5] = [
    "secret",
    "configMap",
    "projected",
    "emptyDir",
    "persistentVolumeClaim",
];

fn validate_volumes<'a>(
    e: &mut Errs,
    vols: &'a [Value],
    path: &str,
    mounted: &BTreeSet<&str>,
) -> BTreeMap<String, &'a Value> {
    let mut volumes: BTreeMap<String, &Value> = BTreeMap::new();
    for (i, v) in vols.iter().enumerate() {
        let p = idx(path, i);
        let name = s(v, "name");
        if volumes.contains_key(name) {
            e.push(
                join(&p, "name"),
                FieldErrorReason::Duplicate,
                format!("duplicate volume name {name:?}"),
            );
        }
        if !mounted.contains(name) {
            e.generic(
                join(&p, "name"),
                format!("volume with name {name:?} not mounted"),
            );
        }
        if name.is_empty() {
            e.missing(join(&p, "name"));
        } else if !names::dns1123_label(name).is_empty() {
            e.invalid_value(join(&p, "name"), name);
        }
        if let Some(obj) = v.as_object() {
            for k in obj
                .keys()
                .filter(|k| *k != "name" && !VOLUME_SOURCES.contains(&k.as_str()))
            {
                e.disallowed(join(&p, k));
            }
        }
        let specified: Vec<String> = VOLUME_SOURCES
            .iter()
            .filter(|k| present(v, k))
            .map(|k| join(&p, k))
            .collect();
        match specified.len() {
            0 => e.missing_one_of(
                &["secret", "configMap", "projected", "emptyDir"].map(|k| join(&p, k)),
            ),
            1 => {}
            _ => e.multiple_one_of(&specified),
        }
        for src in ["secret", "configMap"] {
            for (j, item) in arr(v.get(src).and_then(|x| x.get("items")))
                .iter()
                .enumerate()
            {
                validate_key_to_path(e, item, &idx(&join(&p, &format!("{src}.items")), j));
            }
        }
        if let Some(pvc) = v.get("persistentVolumeClaim") {
            e.generic(
                join(&p, "persistentVolumeClaim"),
                format!(
                    "Persistent volume claim support is disabled, but found persistent volume claim {}",
                    s(pvc, "claimName")
                ),
            );
        }
        if let Some(ed) = v.get("emptyDir") {
            let medium = s(ed, "medium");
            if !medium.is_empty() && medium != "Memory" {
                e.invalid_value(join(&p, "emptyDir.medium"), medium);
            }
        }
        for (j, src) in arr(v.pointer("/projected/sources")).iter().enumerate() {
            let sp = idx(&join(&p, "projected.sources"), j);
            let kinds = ["secret", "configMap", "serviceAccountToken", "downwardAPI"];
            let specified: Vec<String> = kinds
                .iter()
                .filter(|k| present(src, k))
                .map(|k| join(&sp, k))
                .collect();
            match specified.len() {
                0 => e.missing_one_of(&kinds.map(|k| join(&sp, k))),
                1 => {}
                _ => e.multiple_one_of(&specified),
            }
            for k in ["secret", "configMap"] {
                if let Some(x) = src.get(k) {
                    if s(x, "name").is_empty() {
                        e.missing(join(&sp, &format!("{k}.name")));
                    }
                    for (n, item) in arr(x.get("items")).iter().enumerate() {
                        validate_key_to_path(e, item, &idx(&join(&sp, &format!("{k}.items")), n));
                    }
                }
            }
            if let Some(t) = src.get("serviceAccountToken") {
                if s(t, "path").is_empty() {
                    e.missing(join(&sp, "serviceAccountToken.path"));
                }
            }
        }
        volumes.insert(name.to_string(), v);
    }
    volumes
}

fn validate_key_to_path(e: &mut Errs, item: &Value, path: &str) {
    if s(item, "key").is_empty() {
        e.missing(join(path, "key"));
    }
    if s(item, "path").is_empty() {
        e.missing(join(path, "path"));
    }
}

/// The serving container: probes must target the serving port.
fn validate_user_container(
    e: &mut Errs,
    c: &Value,
    path: &str,
    volumes: &BTreeMap<String, &Value>,
    port_name: &str,
) {
    if let Some(p) = c.get("livenessProbe").filter(|p| !p.is_null()) {
        validate_probe(e, p, &join(path, "livenessProbe"), port_name);
    }
    if let Some(p) = c.get("readinessProbe").filter(|p| !p.is_null()) {
        validate_readiness_probe(e, p, &join(path, "readinessProbe"), port_name);
    }
    validate_container(e, c, path, volumes, ContainerKind::User);
}

/// Container fields Knative's ContainerMask does not allow.
const DISALLOWED_CONTAINER_FIELDS: [&str; 7] = [
    "lifecycle",
    "stdin",
    "stdinOnce",
    "tty",
    "volumeDevices",
    "resizePolicy",
    "restartPolicy",
];

fn validate_container(
    e: &mut Errs,
    c: &Value,
    path: &str,
    volumes: &BTreeMap<String, &Value>,
    kind: ContainerKind,
) {
    if c.as_object().is_none_or(|o| o.is_empty()) {
        e.missing(path);
        return;
    }
    for f in DISALLOWED_CONTAINER_FIELDS {
        if f == "lifecycle" && kind == ContainerKind::Init {
            continue; // reported as "field not allowed in an init container"
        }
        if present(c, f) {
            e.disallowed(join(path, f));
        }
    }
    let name = s(c, "name");
    if RESERVED_CONTAINER_NAMES.contains(&name) {
        e.invalid_value(
            join(path, "name"),
            format!("{name:?} is a reserved container name"),
        );
    }

    // Env
    for (i, env) in arr(c.get("env")).iter().enumerate() {
        let p = idx(&join(path, "env"), i);
        let n = s(env, "name");
        let reserved =
            RESERVED_ENV_VARS.contains(&n) && !(n == "PORT" && kind != ContainerKind::User);
        if n.is_empty() {
            e.missing(join(&p, "name"));
        } else if reserved {
            e.generic(
                join(&p, "name"),
                format!("{n:?} is a reserved environment variable"),
            );
        }
    }
    for (i, ef) in arr(c.get("envFrom")).iter().enumerate() {
        let p = idx(&join(path, "envFrom"), i);
        match (present(ef, "configMapRef"), present(ef, "secretRef")) {
            (true, true) => e.multiple_one_of(&[join(&p, "configMapRef"), join(&p, "secretRef")]),
            (false, false) => e.missing_one_of(&[join(&p, "configMapRef"), join(&p, "secretRef")]),
            _ => {}
        }
    }

    // Image
    let image = s(c, "image");
    if image.is_empty() {
        e.missing(join(path, "image"));
    } else if let Err(err) = names::parse_image_reference(image) {
        e.generic(
            join(path, "image"),
            format!("Failed to parse image reference (image: {image:?}, error: {err})"),
        );
    }

    // Ports
    let ports = arr(c.get("ports"));
    let ppath = join(path, "ports");
    if kind == ContainerKind::Init {
        for (i, p) in ports.iter().enumerate() {
            validate_port_basic(e, p, &idx(&ppath, i));
        }
    } else if let Some(p) = ports.first() {
        let pp = idx(&ppath, 0);
        validate_port_basic(e, p, &pp);
        let proto = s(p, "protocol");
        if !proto.is_empty() && proto != "TCP" {
            e.push(
                join(&pp, "protocol"),
                FieldErrorReason::NotSupported,
                format!("invalid value: {proto}"),
            );
        }
        let pname = s(p, "name");
        if !["", "h2c", "http1"].contains(&pname) {
            e.push(
                join(&pp, "name"),
                FieldErrorReason::NotSupported,
                format!("Port name {pname} is not allowed (Name must be empty, or one of: 'h2c', 'http1')"),
            );
        }
    }

    if let Some(sc) = c.get("securityContext") {
        let p = join(path, "securityContext");
        check_id(e, sc, "runAsUser", &p);
        check_id(e, sc, "runAsGroup", &p);
    }
    let tmp = s(c, "terminationMessagePolicy");
    if !["", "File", "FallbackToLogsOnError"].contains(&tmp) {
        e.push(
            join(path, "terminationMessagePolicy"),
            FieldErrorReason::NotSupported,
            format!("invalid value: {tmp}"),
        );
    }

    validate_volume_mounts(
        e,
        arr(c.get("volumeMounts")),
        &join(path, "volumeMounts"),
        volumes,
    );
}

fn validate_port_basic(e: &mut Errs, port: &Value, path: &str) {
    if let Some(cp) = int(port, "containerPort") {
        let field = join(path, "containerPort");
        if RESERVED_PORTS.contains(&cp) {
            e.invalid_value(&field, format!("{cp} is a reserved port"));
        }
        if !(0..=65535).contains(&cp) {
            e.out_of_bounds(&field, cp, 0, 65535);
        }
    }
}

fn validate_volume_mounts(
    e: &mut Errs,
    mounts: &[Value],
    path: &str,
    volumes: &BTreeMap<String, &Value>,
) {
    let mut seen_paths = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = idx(path, i);
        let name = s(m, "name");
        let volume = volumes.get(name);
        if volume.is_none() {
            e.generic(join(&p, "name"), "volumeMount has no matching volume");
        }
        let mount_path = s(m, "mountPath");
        let cleaned = clean_path(mount_path);
        if mount_path.is_empty() {
            e.missing(join(&p, "mountPath"));
        } else if RESERVED_PATHS.contains(&cleaned.as_str()) {
            e.invalid_value(
                join(&p, "mountPath"),
                format!("mountPath {cleaned:?} is a reserved path"),
            );
        } else if !mount_path.starts_with('/') {
            e.invalid_value(join(&p, "mountPath"), mount_path);
        } else if seen_paths.contains(&cleaned) {
            e.invalid_value(
                join(&p, "mountPath"),
                format!("{mount_path:?} must be unique"),
            );
        }
        seen_paths.insert(cleaned);

        let writable =
            volume.is_some_and(|v| present(v, "emptyDir") || present(v, "persistentVolumeClaim"));
        let read_only = m.get("readOnly").and_then(Value::as_bool).unwrap_or(false);
        if volume.is_some() && !writable && !read_only {
            e.generic(
                join(&p, "readOnly"),
                "volume mount should be readOnly for this type of volume",
            );
        }
        if let Some(pvc) = volume.and_then(|v| v.get("persistentVolumeClaim")) {
            if pvc
                .get("readOnly")
                .and_then(Value::as_bool)
                .unwrap_or(false)
                && !read_only
            {
                e.generic(
                    join(&p, "readOnly"),
                    "volume is readOnly but volume mount is not",
                );
            }
        }
    }
}

/// Go's `path.Clean` for absolute and relative slash paths.
fn clean_path(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            x => out.push(x),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

fn validate_probe(e: &mut Errs, p: &Value, path: &str, port_name: &str) {
    let mut handlers = Vec::new();
    for (key, label) in [
        ("httpGet", "httpGet"),
        ("tcpSocket", "tcpSocket"),
        ("exec", "exec"),
        ("grpc", "grpc"),
    ] {
        if let Some(h) = p.get(key).filter(|h| !h.is_null()) {
            handlers.push(join(path, label));
            if key == "httpGet" || key == "tcpSocket" {
                if let Some(port) = h.get("port").and_then(Value::as_str) {
                    if !port.is_empty() && port != port_name {
                        e.invalid_value(
                            join(path, &format!("{key}.port")),
                            format!("{port} (Probe port must match container port)"),
                        );
                    }
                }
            }
        }
    }
    match handlers.len() {
        0 => e.missing_one_of(&["httpGet", "tcpSocket", "exec", "grpc"].map(|k| join(path, k))),
        1 => {}
        _ => e.multiple_one_of(&handlers),
    }
}

fn validate_readiness_probe(e: &mut Errs, p: &Value, path: &str, port_name: &str) {
    validate_probe(e, p, path, port_name);
    let period = int(p, "periodSeconds").unwrap_or(0);
    if period < 0 {
        e.out_of_bounds(join(path, "periodSeconds"), period, 0, MAX_INT32);
    }
    let delay = int(p, "initialDelaySeconds").unwrap_or(0);
    if delay < 0 {
        e.out_of_bounds(join(path, "initialDelaySeconds"), delay, 0, MAX_INT32);
    }
    let success = int(p, "successThreshold").unwrap_or(0);
    if success < 1 {
        e.out_of_bounds(join(path, "successThreshold"), success, 1, MAX_INT32);
    }
    let failure = int(p, "failureThreshold");
    let timeout = int(p, "timeoutSeconds");
    if period == 0 {
        // periodSeconds 0 selects Knative's aggressive sub-second probing.
        if failure.unwrap_or(0) != 0 {
            e.generic(
                join(path, "failureThreshold"),
                "failureThreshold is disallowed when periodSeconds is zero",
            );
        }
        if timeout.unwrap_or(0) != 0 {
            e.generic(
                join(path, "timeoutSeconds"),
                "timeoutSeconds is disallowed when periodSeconds is zero",
            );
        }
    } else {
        // Absent values take Kubernetes' defaults (1 and 3), so only explicit ones are checked.
        if let Some(t) = timeout.filter(|t| *t < 1) {
            e.out_of_bounds(join(path, "timeoutSeconds"), t, 1, MAX_INT32);
        }
        if let Some(f) = failure.filter(|f| *f < 1) {
            e.out_of_bounds(join(path, "failureThreshold"), f, 1, MAX_INT32);
        }
    }
}

// ----- traffic -------------------------------------------------------------------

/// `validateTrafficList`: per-target rules, tags, and the 100% sum.
/// `default_config` is true inside a Service (targets implicitly refer to its
/// own Configuration, so `configurationName` is not allowed).
fn validate_traffic(e: &mut Errs, traffic: Option<&Value>, path: &str, default_config: bool) {
    let mut tags: BTreeMap<&str, usize> = BTreeMap::new();
    let mut sum: i64 = 0;
    for (i, tt) in arr(traffic).iter().enumerate() {
        let p = idx(path, i);
        let rev = s(tt, "revisionName");
        let cfg = s(tt, "configurationName");

        if let Some(lr) = tt.get("latestRevision").and_then(Value::as_bool) {
            let pinned = !rev.is_empty();
            if pinned == lr {
                e.generic(
                    join(&p, "latestRevision"),
                    format!("may not set revisionName {rev:?} when latestRevision is {lr}"),
                );
            }
        }

        if default_config && !cfg.is_empty() {
            e.disallowed(join(&p, "configurationName"));
        } else if !rev.is_empty() && !cfg.is_empty() {
            e.multiple_one_of(&[join(&p, "revisionName"), join(&p, "configurationName")]);
        } else if !rev.is_empty() {
            let msgs = names::qualified_name(rev);
            if !msgs.is_empty() {
                e.invalid_key_name(join(&p, "revisionName"), rev, &msgs);
            }
        } else if !cfg.is_empty() {
            let msgs = names::qualified_name(cfg);
            if !msgs.is_empty() {
                e.invalid_key_name(join(&p, "configurationName"), cfg, &msgs);
            }
        } else if !default_config {
            e.missing_one_of(&[join(&p, "revisionName"), join(&p, "configurationName")]);
        }

        if let Some(pct) = int(tt, "percent") {
            if !(0..=100).contains(&pct) {
                e.out_of_bounds(join(&p, "percent"), pct, 0, 100);
            }
            sum = sum.saturating_add(pct);
        }

        if !s(tt, "url").is_empty() {
            // URL is status-only.
            e.disallowed(join(&p, "url"));
        }

        let tag = s(tt, "tag");
        if tag.is_empty() {
            continue;
        }
        let msgs = names::dns1035_label(tag);
        if !msgs.is_empty() {
            e.invalid_value(
                join(&p, "tag"),
                format!("not a DNS 1035 label: {}", go_list(&msgs)),
            );
        }
        if tags.contains_key(tag) {
            // Reported at the repeated entry; the first one stays valid.
            e.push(
                join(&p, "tag"),
                FieldErrorReason::Duplicate,
                format!("Multiple definitions for {tag:?}"),
            );
        } else {
            tags.insert(tag, i);
        }
    }
    if sum != 100 {
        e.generic(path, format!("Traffic targets sum to {sum}, want 100"));
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn clean_path_matches_go() {
        assert_eq!(clean_path("/var/log/"), "/var/log");
        assert_eq!(clean_path("/dev/../dev//log"), "/dev/log");
        assert_eq!(clean_path("/.."), "/");
        assert_eq!(clean_path("data/x/.."), "data");
    }
}
