//! One test per admission rule, asserting Knative's field paths and messages.

use serde_json::{json, Value};

use super::*;

const G: &str = "serving.knative.dev";

/// The Knative helloworld-go Service.
fn helloworld() -> Value {
    json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": "default"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [{
                        "image": "ghcr.io/knative/helloworld-go:latest",
                        "ports": [{"containerPort": 8080}],
                        "env": [{"name": "TARGET", "value": "World"}]
                    }]
                }
            }
        }
    })
}

fn route(traffic: Value) -> Value {
    json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Route",
        "metadata": {"name": "rt"},
        "spec": {"traffic": traffic}
    })
}

fn admit_kind(kind: &str, mut obj: Value) -> (Value, Vec<FieldError>) {
    let errs = admit(G, kind, &mut obj, None).err().unwrap_or_default();
    (obj, errs)
}

fn svc_errs(f: impl FnOnce(&mut Value)) -> Vec<FieldError> {
    let mut v = helloworld();
    f(&mut v);
    admit_kind("Service", v).1
}

/// Asserts exactly one error is reported for `field` and returns it.
#[track_caller]
fn one(errs: &[FieldError], field: &str) -> FieldError {
    let found: Vec<_> = errs.iter().filter(|e| e.field == field).collect();
    assert_eq!(
        found.len(),
        1,
        "expected one error at {field}, got {errs:#?}"
    );
    found[0].clone()
}

#[track_caller]
fn assert_err(errs: &[FieldError], field: &str, reason: FieldErrorReason, message: &str) {
    let e = one(errs, field);
    assert_eq!(e.reason, reason, "{e:?}");
    assert!(
        e.message.starts_with(message),
        "message {:?} should start with {message:?}",
        e.message
    );
}

fn container(v: &mut Value) -> &mut Value {
    &mut v["spec"]["template"]["spec"]["containers"][0]
}

// ----- public surface --------------------------------------------------------

#[test]
fn reasons_map_to_kubernetes_cause_types() {
    assert_eq!(FieldErrorReason::Invalid.as_str(), "FieldValueInvalid");
    assert_eq!(FieldErrorReason::Required.as_str(), "FieldValueRequired");
    assert_eq!(FieldErrorReason::Duplicate.as_str(), "FieldValueDuplicate");
    assert_eq!(
        FieldErrorReason::NotSupported.as_str(),
        "FieldValueNotSupported"
    );
    assert_eq!(FieldErrorReason::Forbidden.as_str(), "FieldValueForbidden");
    assert_eq!(FieldErrorReason::TooLong.as_str(), "FieldValueTooLong");
    let e = FieldError::new(
        "spec.traffic",
        FieldErrorReason::Invalid,
        "Traffic targets sum to 150, want 100",
    );
    assert_eq!(
        e.to_string(),
        "Traffic targets sum to 150, want 100: spec.traffic"
    );
    assert_eq!(
        format_errors(&[e]),
        "validation failed: Traffic targets sum to 150, want 100: spec.traffic"
    );
}

#[test]
fn unknown_kinds_and_groups_are_untouched() {
    let mut v = json!({"metadata": {"name": "Not_Valid"}, "spec": {}});
    let before = v.clone();
    assert_eq!(admit("example.com", "Widget", &mut v, None), Ok(()));
    assert_eq!(admit(G, "DomainMapping", &mut v, None), Ok(()));
    assert_eq!(admit("", "Service", &mut v, None), Ok(()));
    assert_eq!(v, before);
}

// ----- golden ------------------------------------------------------------------

#[test]
fn golden_helloworld_is_accepted_and_defaulted() {
    let mut v = helloworld();
    assert_eq!(admit(G, "Service", &mut v, None), Ok(()));
    let rs = &v["spec"]["template"]["spec"];
    assert_eq!(rs["timeoutSeconds"], 300);
    assert_eq!(rs["containerConcurrency"], 0);
    assert_eq!(rs["enableServiceLinks"], false);
    // Containers are stored as written; their defaults land on the Revision.
    assert_eq!(
        rs["containers"],
        helloworld()["spec"]["template"]["spec"]["containers"]
    );
    let (r, errs) = admit_kind("Revision", as_revision(&v));
    assert!(errs.is_empty(), "{errs:#?}");
    assert_eq!(r["spec"]["containers"][0]["name"], "user-container");
    assert_eq!(
        r["spec"]["containers"][0]["readinessProbe"],
        json!({"tcpSocket": {"port": 0}, "successThreshold": 1})
    );
    assert_eq!(
        v["spec"]["traffic"],
        json!([{"latestRevision": true, "percent": 100}])
    );
    // The defaulted object still deserializes into the typed Service, and is stable.
    let typed: crate::v1::Service = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(
        typed.spec.configuration.template.spec.timeout_seconds,
        Some(300)
    );
    let again = v.clone();
    assert_eq!(admit(G, "Service", &mut v, Some(&again)), Ok(()));
    assert_eq!(v, again);
}

#[test]
fn golden_tagged_50_50_split_is_accepted() {
    let mut v = helloworld();
    v["spec"]["template"]["metadata"] = json!({"name": "hello-v2"});
    v["spec"]["traffic"] = json!([
        {"tag": "v1", "revisionName": "hello-v1", "percent": 50},
        {"tag": "v2", "revisionName": "hello-v2", "percent": 50},
        {"tag": "latest", "latestRevision": true, "percent": 0}
    ]);
    assert_eq!(admit(G, "Service", &mut v, None), Ok(()));
    assert_eq!(v["spec"]["traffic"][0]["latestRevision"], false);
    assert_eq!(v["spec"]["traffic"][1]["latestRevision"], false);
    assert_eq!(v["spec"]["traffic"][2]["latestRevision"], true);
}

#[test]
fn golden_route_configuration_and_revision_are_accepted() {
    let (_, errs) = admit_kind(
        "Route",
        route(
            json!([{"configurationName": "hello", "percent": 90}, {"revisionName": "hello-00001", "percent": 10, "tag": "old"}]),
        ),
    );
    assert!(errs.is_empty(), "{errs:#?}");
    let mut cfg = helloworld();
    cfg["kind"] = json!("Configuration");
    cfg["spec"].as_object_mut().unwrap().remove("traffic");
    let (cfg, errs) = admit_kind("Configuration", cfg);
    assert!(errs.is_empty(), "{errs:#?}");
    assert!(
        cfg["spec"].get("traffic").is_none(),
        "Configuration gets no traffic"
    );
    let rev = json!({
        "kind": "Revision",
        "metadata": {
            "name": "hello-00001",
            "labels": {"serving.knative.dev/configuration": "hello", "serving.knative.dev/configurationGeneration": "1", "serving.knative.dev/service": "hello"},
            "ownerReferences": [{"apiVersion": "serving.knative.dev/v1", "kind": "Configuration", "name": "hello", "uid": "u"}]
        },
        "spec": cfg["spec"]["template"]["spec"].clone()
    });
    let (_, errs) = admit_kind("Revision", rev);
    assert!(errs.is_empty(), "{errs:#?}");
}

// ----- defaulting ------------------------------------------------------------------

#[test]
fn defaults_multi_container_names_and_probes() {
    let mut v = helloworld();
    v["spec"]["template"]["spec"]["containers"] = json!([
        {"image": "app", "ports": [{"containerPort": 8080}]},
        {"image": "sidecar"}
    ]);
    let (v, errs) = admit_kind("Revision", as_revision(&v));
    assert!(errs.is_empty(), "{errs:#?}");
    let cs = &v["spec"]["containers"];
    assert_eq!(cs[0]["name"], "user-container-0");
    assert_eq!(cs[1]["name"], "user-container-1");
    assert!(cs[0].get("readinessProbe").is_some());
    assert!(
        cs[1].get("readinessProbe").is_none(),
        "sidecars get no default probe"
    );
}

#[test]
fn defaults_keep_user_values() {
    let mut v = helloworld();
    let c = container(&mut v);
    c["name"] = json!("app");
    c["readinessProbe"] = json!({"httpGet": {"path": "/healthz"}});
    v["spec"]["template"]["spec"]["timeoutSeconds"] = json!(60);
    v["spec"]["template"]["spec"]["containerConcurrency"] = json!(10);
    let (v, errs) = admit_kind("Revision", as_revision(&v));
    assert!(errs.is_empty(), "{errs:#?}");
    let rs = &v["spec"];
    assert_eq!(rs["timeoutSeconds"], 60);
    assert_eq!(rs["containerConcurrency"], 10);
    assert_eq!(rs["containers"][0]["name"], "app");
    assert_eq!(
        rs["containers"][0]["readinessProbe"],
        json!({"httpGet": {"path": "/healthz"}, "successThreshold": 1})
    );
}

#[test]
fn defaults_timeout_zero_to_300() {
    let mut v = helloworld();
    v["spec"]["template"]["spec"]["timeoutSeconds"] = json!(0);
    let (v, _) = admit_kind("Service", v);
    assert_eq!(v["spec"]["template"]["spec"]["timeoutSeconds"], 300);
}

#[test]
fn defaults_empty_service_traffic_but_not_route_traffic() {
    let mut v = helloworld();
    v["spec"]["traffic"] = json!([]);
    let (v, _) = admit_kind("Service", v);
    assert_eq!(
        v["spec"]["traffic"],
        json!([{"latestRevision": true, "percent": 100}])
    );
    let (r, errs) = admit_kind("Route", route(json!([])));
    assert_eq!(r["spec"]["traffic"], json!([]));
    assert_err(
        &errs,
        "spec.traffic",
        FieldErrorReason::Invalid,
        "Traffic targets sum to 0, want 100",
    );
}

#[test]
fn defaults_latest_revision_from_revision_name() {
    let (r, _) = admit_kind(
        "Route",
        route(
            json!([{"configurationName": "c", "percent": 50}, {"revisionName": "c-1", "percent": 50}]),
        ),
    );
    assert_eq!(r["spec"]["traffic"][0]["latestRevision"], true);
    assert_eq!(r["spec"]["traffic"][1]["latestRevision"], false);
}

#[test]
fn defaults_volume_mounts_read_only_except_writable_volumes() {
    let mut v = helloworld();
    v["spec"]["template"]["spec"]["volumes"] = json!([
        {"name": "cfg", "configMap": {"name": "cm"}},
        {"name": "scratch", "emptyDir": {}}
    ]);
    container(&mut v)["volumeMounts"] = json!([
        {"name": "cfg", "mountPath": "/etc/cfg"},
        {"name": "scratch", "mountPath": "/scratch"}
    ]);
    let (v, errs) = admit_kind("Revision", as_revision(&v));
    assert!(errs.is_empty(), "{errs:#?}");
    let m = &v["spec"]["containers"][0]["volumeMounts"];
    assert_eq!(m[0]["readOnly"], true);
    assert!(m[1].get("readOnly").is_none());
}

#[test]
fn defaults_skipped_when_byo_name_unchanged_on_update() {
    let mut old = helloworld();
    old["spec"]["template"]["metadata"] = json!({"name": "hello-v1"});
    admit(G, "Service", &mut old, None).unwrap();
    let mut new = helloworld();
    new["spec"]["template"]["metadata"] = json!({"name": "hello-v1"});
    let errs = admit(G, "Service", &mut new, Some(&old)).unwrap_err();
    assert!(new["spec"]["template"]["spec"]
        .get("timeoutSeconds")
        .is_none());
    assert_err(
        &errs,
        "spec.template.metadata.name",
        FieldErrorReason::Invalid,
        "Saw the following changes without a name change (-old +new)",
    );
}

// ----- metadata ----------------------------------------------------------------------

#[test]
fn metadata_name_must_be_dns1035_label() {
    let errs = svc_errs(|v| v["metadata"]["name"] = json!("Hello_World"));
    assert_err(&errs, "metadata.name", FieldErrorReason::Invalid, "not a DNS 1035 label: [a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character");
    let errs = svc_errs(|v| v["metadata"]["name"] = json!("1hello"));
    one(&errs, "metadata.name");
}

#[test]
fn metadata_name_too_long() {
    let errs = svc_errs(|v| v["metadata"]["name"] = json!("a".repeat(64)));
    let e = one(&errs, "metadata.name");
    assert_eq!(e.reason, FieldErrorReason::TooLong);
    assert_eq!(
        e.message,
        "not a DNS 1035 label: [must be no more than 63 characters]"
    );
}

#[test]
fn metadata_name_or_generate_name_required() {
    let (_, errs) = admit_kind(
        "Route",
        json!({"metadata": {}, "spec": {"traffic": [{"configurationName": "c", "percent": 100}]}}),
    );
    assert_err(
        &errs,
        "metadata.name",
        FieldErrorReason::Required,
        "name or generateName is required",
    );
    let (_, errs) = admit_kind(
        "Route",
        json!({"metadata": {"generateName": "rt-"}, "spec": {"traffic": [{"configurationName": "c", "percent": 100}]}}),
    );
    assert!(errs.is_empty(), "{errs:#?}");
    let (_, errs) = admit_kind(
        "Route",
        json!({"metadata": {"generateName": "Rt-"}, "spec": {"traffic": [{"configurationName": "c", "percent": 100}]}}),
    );
    assert_err(
        &errs,
        "metadata.generateName",
        FieldErrorReason::Invalid,
        "not a DNS 1035 label prefix: [",
    );
}

#[test]
fn metadata_knative_labels_are_reserved() {
    let errs = svc_errs(|v| {
        v["metadata"]["labels"] = json!({"serving.knative.dev/foo": "x", "app": "ok"})
    });
    assert_err(
        &errs,
        "metadata.labels",
        FieldErrorReason::Invalid,
        "invalid key name \"serving.knative.dev/foo\"",
    );
}

#[test]
fn metadata_visibility_label_must_be_cluster_local() {
    let errs = svc_errs(|v| {
        v["metadata"]["labels"] = json!({"networking.knative.dev/visibility": "public"})
    });
    assert_err(
        &errs,
        "metadata.labels.networking.knative.dev/visibility",
        FieldErrorReason::Invalid,
        "invalid value: public",
    );
    assert!(svc_errs(
        |v| v["metadata"]["labels"] = json!({"networking.knative.dev/visibility": "cluster-local"})
    )
    .is_empty());
}

#[test]
fn metadata_owner_labels_need_owner_references() {
    let mut cfg = helloworld();
    cfg["spec"].as_object_mut().unwrap().remove("traffic");
    cfg["metadata"]["labels"] = json!({"serving.knative.dev/service": "hello"});
    let (_, errs) = admit_kind("Configuration", cfg.clone());
    assert_err(
        &errs,
        "metadata.labels.serving.knative.dev/service",
        FieldErrorReason::Required,
        "missing field(s)",
    );
    cfg["metadata"]["ownerReferences"] = json!([{"kind": "Service", "name": "hello", "apiVersion": "serving.knative.dev/v1", "uid": "u"}]);
    assert!(admit_kind("Configuration", cfg).1.is_empty());
}

#[test]
fn metadata_autoscaling_annotations_belong_on_template() {
    let errs = svc_errs(|v| {
        v["metadata"]["annotations"] = json!({"autoscaling.knative.dev/min-scale": "1"})
    });
    assert_err(
        &errs,
        "metadata.annotations",
        FieldErrorReason::Invalid,
        "invalid key name \"autoscaling.knative.dev/min-scale\"",
    );
    assert!(svc_errs(|v| v["spec"]["template"]["metadata"] =
        json!({"annotations": {"autoscaling.knative.dev/min-scale": "1"}}))
    .is_empty());
}

#[test]
fn template_autoscaling_annotation_values() {
    let errs = svc_errs(|v| {
        v["spec"]["template"]["metadata"] = json!({"annotations": {
            "autoscaling.knative.dev/min-scale": "5",
            "autoscaling.knative.dev/max-scale": "2",
            "autoscaling.knative.dev/target": "nope"
        }})
    });
    assert_err(
        &errs,
        "spec.template.metadata.annotations.autoscaling.knative.dev/max-scale",
        FieldErrorReason::Invalid,
        "max-scale=2 is less than min-scale=5",
    );
    assert_err(
        &errs,
        "spec.template.metadata.annotations.autoscaling.knative.dev/target",
        FieldErrorReason::Invalid,
        "invalid value: nope",
    );
}

#[test]
fn template_autoscaling_annotations_follow_knative() {
    let ann = |pairs: Value| {
        svc_errs(|v| v["spec"]["template"]["metadata"] = json!({ "annotations": pairs }))
    };
    let field = |k: &str| format!("spec.template.metadata.annotations.autoscaling.knative.dev/{k}");
    let errs = ann(json!({"autoscaling.knative.dev/class": "foo.knative.dev"}));
    assert_err(
        &errs,
        &field("class"),
        FieldErrorReason::Invalid,
        "invalid value: foo.knative.dev",
    );
    let errs = ann(json!({
        "autoscaling.knative.dev/metric": "cpu",
        "autoscaling.knative.dev/window": "5s",
        "autoscaling.knative.dev/panic-window-percentage": "202",
        "autoscaling.knative.dev/panic-threshold-percentage": "109",
        "autoscaling.knative.dev/target-utilization-percentage": "0",
        "autoscaling.knative.dev/target-burst-capacity": "-2",
        "autoscaling.knative.dev/scale-down-delay": "1.5s",
        "autoscaling.knative.dev/scale-to-zero-pod-retention-period": "2h",
        "autoscaling.knative.dev/activation-scale": "0",
        "autoscaling.knative.dev/min-scale": "-1"
    }));
    let cases = [
        ("metric", "invalid value: cpu"),
        ("window", "expected 6s <= 5s <= 1h0m0s"),
        ("panic-window-percentage", "expected 1 <= 202 <= 100"),
        ("panic-threshold-percentage", "expected 110 <= 109 <= 1000"),
        ("target-utilization-percentage", "expected 1 <= 0 <= 100"),
        ("target-burst-capacity", "invalid value: -2"),
        (
            "scale-down-delay",
            "must be specified with at most second precision",
        ),
        (
            "scale-to-zero-pod-retention-period",
            "expected 0s <= 2h <= 1h0m0s",
        ),
        ("activation-scale", "expected 1 <= 0 <= 2147483647"),
        ("min-scale", "expected 0 <= -1 <= 2147483647"),
    ];
    for (key, message) in cases {
        assert_err(&errs, &field(key), FieldErrorReason::Invalid, message);
    }
    assert_eq!(errs.len(), cases.len(), "{errs:#?}");

    // Legacy camelCase keys are checked too, under the key as written.
    let errs = ann(json!({"autoscaling.knative.dev/maxScale": "lots"}));
    assert_err(
        &errs,
        &field("maxScale"),
        FieldErrorReason::Invalid,
        "invalid value: lots",
    );

    // HPA metrics are fine with the HPA class; a good set of annotations passes.
    assert!(ann(json!({
        "autoscaling.knative.dev/class": "hpa.autoscaling.knative.dev",
        "autoscaling.knative.dev/metric": "memory",
        "autoscaling.knative.dev/target": "256"
    }))
    .is_empty());
    assert!(ann(json!({
        "autoscaling.knative.dev/minScale": "1",
        "autoscaling.knative.dev/max-scale": "10",
        "autoscaling.knative.dev/activation-scale": "3",
        "autoscaling.knative.dev/window": "2m",
        "autoscaling.knative.dev/scale-down-delay": "30s",
        "autoscaling.knative.dev/metric": "rps",
        "autoscaling.knative.dev/target": "50"
    }))
    .is_empty());
    // Without the ConfigMap, initial-scale 0 is left to the autoscaler.
    assert!(ann(json!({"autoscaling.knative.dev/initial-scale": "0"})).is_empty());
    let errs = ann(json!({"autoscaling.knative.dev/initial-scale": "-1"}));
    assert_err(
        &errs,
        &field("initial-scale"),
        FieldErrorReason::Invalid,
        "invalid value: -1",
    );
}

#[test]
fn revision_autoscaling_annotations_are_validated() {
    let rev = json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Revision",
        "metadata": {
            "name": "hello-00001",
            "annotations": {"autoscaling.knative.dev/window": "soon"}
        },
        "spec": {"containers": [{"image": "app"}]}
    });
    let errs = admit_kind("Revision", rev).1;
    assert_err(
        &errs,
        "metadata.annotations.autoscaling.knative.dev/window",
        FieldErrorReason::Invalid,
        "invalid value: soon",
    );
}

// ----- template name -----------------------------------------------------------------

#[test]
fn template_name_must_have_parent_prefix() {
    let errs = svc_errs(|v| v["spec"]["template"]["metadata"] = json!({"name": "foo"}));
    assert_err(
        &errs,
        "spec.template.metadata.name",
        FieldErrorReason::Invalid,
        r#"invalid value: "foo" must have prefix "hello-""#,
    );
}

#[test]
fn template_name_disallowed_with_parent_generate_name() {
    let errs = svc_errs(|v| {
        v["metadata"] = json!({"generateName": "hello-"});
        v["spec"]["template"]["metadata"] = json!({"name": "hello-v1"});
    });
    assert_err(
        &errs,
        "spec.template.metadata.name",
        FieldErrorReason::Forbidden,
        "must not set the field(s)",
    );
}

#[test]
fn template_name_change_required_when_template_changes() {
    let mut old = helloworld();
    old["spec"]["template"]["metadata"] = json!({"name": "hello-v1"});
    admit(G, "Service", &mut old, None).unwrap();
    let mut new = old.clone();
    container(&mut new)["image"] = json!("ghcr.io/knative/helloworld-go:v2");
    let errs = admit(G, "Service", &mut new, Some(&old)).unwrap_err();
    let e = one(&errs, "spec.template.metadata.name");
    assert!(
        e.message.contains("spec.template.spec.containers[0].image"),
        "{}",
        e.message
    );
    // Renaming together with the change is fine.
    new["spec"]["template"]["metadata"]["name"] = json!("hello-v2");
    assert_eq!(admit(G, "Service", &mut new, Some(&old)), Ok(()));
}

// ----- traffic ------------------------------------------------------------------------

#[test]
fn traffic_must_sum_to_100() {
    let errs = svc_errs(
        |v| v["spec"]["traffic"] = json!([{"revisionName": "hello-a", "percent": 100}, {"latestRevision": true, "percent": 50}]),
    );
    assert_err(
        &errs,
        "spec.traffic",
        FieldErrorReason::Invalid,
        "Traffic targets sum to 150, want 100",
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
}

#[test]
fn traffic_percent_bounds() {
    let (_, errs) = admit_kind(
        "Route",
        route(
            json!([{"configurationName": "c", "percent": 150}, {"revisionName": "r", "percent": -50}]),
        ),
    );
    assert_err(
        &errs,
        "spec.traffic[0].percent",
        FieldErrorReason::Invalid,
        "expected 0 <= 150 <= 100",
    );
    assert_err(
        &errs,
        "spec.traffic[1].percent",
        FieldErrorReason::Invalid,
        "expected 0 <= -50 <= 100",
    );
    assert!(
        errs.iter().all(|e| e.field != "spec.traffic"),
        "sum is 100: {errs:#?}"
    );
}

#[test]
fn traffic_duplicate_tags() {
    let errs = svc_errs(|v| {
        v["spec"]["traffic"] = json!([
            {"tag": "v1", "revisionName": "hello-a", "percent": 50},
            {"tag": "v1", "revisionName": "hello-b", "percent": 50}
        ])
    });
    let e = one(&errs, "spec.traffic[1].tag");
    assert_eq!(e.reason, FieldErrorReason::Duplicate);
    assert_eq!(e.message, r#"Multiple definitions for "v1""#);
    assert_eq!(errs.len(), 1);
}

#[test]
fn traffic_tag_must_be_dns_label() {
    let errs = svc_errs(|v| {
        v["spec"]["traffic"] = json!([{"tag": "V_1", "latestRevision": true, "percent": 100}])
    });
    assert_err(
        &errs,
        "spec.traffic[0].tag",
        FieldErrorReason::Invalid,
        "invalid value: not a DNS 1035 label: [",
    );
}

#[test]
fn traffic_latest_revision_with_revision_name() {
    let errs = svc_errs(|v| {
        v["spec"]["traffic"] =
            json!([{"revisionName": "hello-a", "latestRevision": true, "percent": 100}])
    });
    assert_err(
        &errs,
        "spec.traffic[0].latestRevision",
        FieldErrorReason::Invalid,
        r#"may not set revisionName "hello-a" when latestRevision is true"#,
    );
    let errs =
        svc_errs(|v| v["spec"]["traffic"] = json!([{"latestRevision": false, "percent": 100}]));
    assert_err(
        &errs,
        "spec.traffic[0].latestRevision",
        FieldErrorReason::Invalid,
        r#"may not set revisionName "" when latestRevision is false"#,
    );
}

#[test]
fn traffic_revision_and_configuration_name_are_exclusive() {
    let (_, errs) = admit_kind(
        "Route",
        route(json!([{"revisionName": "r", "configurationName": "c", "percent": 100}])),
    );
    assert_err(
        &errs,
        "spec.traffic[0].revisionName",
        FieldErrorReason::Invalid,
        "expected exactly one, got both",
    );
    assert_err(
        &errs,
        "spec.traffic[0].configurationName",
        FieldErrorReason::Invalid,
        "expected exactly one, got both",
    );
}

#[test]
fn traffic_route_target_needs_revision_or_configuration() {
    let (_, errs) = admit_kind("Route", route(json!([{"percent": 100}])));
    assert_err(
        &errs,
        "spec.traffic[0].revisionName",
        FieldErrorReason::Required,
        "expected exactly one, got neither",
    );
    assert_err(
        &errs,
        "spec.traffic[0].configurationName",
        FieldErrorReason::Required,
        "expected exactly one, got neither",
    );
}

#[test]
fn traffic_service_may_not_name_a_configuration() {
    let errs = svc_errs(|v| {
        v["spec"]["traffic"] = json!([{"configurationName": "other", "percent": 100}])
    });
    assert_err(
        &errs,
        "spec.traffic[0].configurationName",
        FieldErrorReason::Forbidden,
        "must not set the field(s)",
    );
}

#[test]
fn traffic_revision_name_must_be_qualified_name() {
    let (_, errs) = admit_kind(
        "Route",
        route(json!([{"revisionName": "-bad-", "percent": 100}])),
    );
    assert_err(
        &errs,
        "spec.traffic[0].revisionName",
        FieldErrorReason::Invalid,
        r#"invalid key name "-bad-""#,
    );
}

#[test]
fn traffic_url_is_status_only() {
    let (_, errs) = admit_kind(
        "Route",
        route(
            json!([{"tag": "a", "revisionName": "r", "percent": 100, "url": "http://a-rt.default.example.com"}]),
        ),
    );
    assert_err(
        &errs,
        "spec.traffic[0].url",
        FieldErrorReason::Forbidden,
        "must not set the field(s)",
    );
}

// ----- containers ----------------------------------------------------------------------

#[test]
fn containers_at_least_one() {
    let errs = svc_errs(|v| v["spec"]["template"]["spec"]["containers"] = json!([]));
    assert_err(
        &errs,
        "spec.template.spec.containers",
        FieldErrorReason::Required,
        "missing field(s)",
    );
}

#[test]
fn containers_image_required() {
    let errs = svc_errs(|v| {
        container(v).as_object_mut().unwrap().remove("image");
    });
    assert_err(
        &errs,
        "spec.template.spec.containers[0].image",
        FieldErrorReason::Required,
        "missing field(s)",
    );
}

#[test]
fn containers_image_must_parse() {
    let errs = svc_errs(|v| container(v)["image"] = json!("Not A/Ref"));
    assert_err(
        &errs,
        "spec.template.spec.containers[0].image",
        FieldErrorReason::Invalid,
        "Failed to parse image reference",
    );
}

#[test]
fn containers_exactly_one_port_with_multiple_containers() {
    let errs = svc_errs(|v| {
        v["spec"]["template"]["spec"]["containers"] = json!([{"image": "a"}, {"image": "b"}])
    });
    assert_err(
        &errs,
        "spec.template.spec.containers[*].ports",
        FieldErrorReason::Required,
        "missing field(s)",
    );
    let errs = svc_errs(|v| {
        v["spec"]["template"]["spec"]["containers"] = json!([
            {"image": "a", "ports": [{"containerPort": 8080}]},
            {"image": "b", "ports": [{"containerPort": 8081}]}
        ])
    });
    assert_err(
        &errs,
        "spec.template.spec.containers[*].ports",
        FieldErrorReason::Invalid,
        "more than one container port is set",
    );
}

#[test]
fn containers_duplicate_names() {
    let errs = svc_errs(|v| {
        v["spec"]["template"]["spec"]["containers"] = json!([
            {"name": "a", "image": "a", "ports": [{"containerPort": 8080}]},
            {"name": "a", "image": "b"}
        ])
    });
    assert_err(
        &errs,
        "spec.template.spec.containers[1].name",
        FieldErrorReason::Duplicate,
        r#"duplicate container name "a""#,
    );
}

#[test]
fn containers_reserved_name() {
    let errs = svc_errs(|v| container(v)["name"] = json!("queue-proxy"));
    assert_err(
        &errs,
        "spec.template.spec.containers[0].name",
        FieldErrorReason::Invalid,
        r#"invalid value: "queue-proxy" is a reserved container name"#,
    );
}

#[test]
fn containers_reserved_env_vars() {
    for name in ["K_SERVICE", "K_CONFIGURATION", "K_REVISION", "PORT"] {
        let errs = svc_errs(|v| {
            container(v)["env"] =
                json!([{"name": "OK", "value": "1"}, {"name": name, "value": "x"}])
        });
        assert_err(
            &errs,
            "spec.template.spec.containers[0].env[1].name",
            FieldErrorReason::Invalid,
            &format!("{name:?} is a reserved environment variable"),
        );
    }
}

#[test]
fn containers_sidecars_may_set_port_env() {
    let errs = svc_errs(|v| {
        v["spec"]["template"]["spec"]["containers"] = json!([
            {"image": "a", "ports": [{"containerPort": 8080}]},
            {"image": "b", "env": [{"name": "PORT", "value": "9000"}]}
        ])
    });
    assert!(errs.is_empty(), "{errs:#?}");
}

#[test]
fn containers_reserved_ports() {
    for port in [8012, 8013, 8022, 9090, 9091, 8008] {
        let errs = svc_errs(|v| container(v)["ports"] = json!([{"containerPort": port}]));
        assert_err(
            &errs,
            "spec.template.spec.containers[0].ports[0].containerPort",
            FieldErrorReason::Invalid,
            &format!("invalid value: {port} is a reserved port"),
        );
    }
}

#[test]
fn containers_port_name_and_protocol() {
    let errs = svc_errs(|v| {
        container(v)["ports"] = json!([{"containerPort": 8080, "name": "grpc", "protocol": "UDP"}])
    });
    assert_err(
        &errs,
        "spec.template.spec.containers[0].ports[0].name",
        FieldErrorReason::NotSupported,
        "Port name grpc is not allowed",
    );
    assert_err(
        &errs,
        "spec.template.spec.containers[0].ports[0].protocol",
        FieldErrorReason::NotSupported,
        "invalid value: UDP",
    );
    assert!(
        svc_errs(|v| container(v)["ports"] = json!([{"containerPort": 8080, "name": "h2c"}]))
            .is_empty()
    );
}

#[test]
fn containers_disallowed_fields() {
    let errs = svc_errs(|v| container(v)["stdin"] = json!(true));
    assert_err(
        &errs,
        "spec.template.spec.containers[0].stdin",
        FieldErrorReason::Forbidden,
        "must not set the field(s)",
    );
}

#[test]
fn containers_probe_needs_one_handler() {
    let errs = svc_errs(|v| {
        container(v)["livenessProbe"] =
            json!({"httpGet": {"path": "/"}, "tcpSocket": {"port": 8080}})
    });
    assert_err(
        &errs,
        "spec.template.spec.containers[0].livenessProbe.httpGet",
        FieldErrorReason::Invalid,
        "expected exactly one, got both",
    );
    let errs = svc_errs(|v| container(v)["livenessProbe"] = json!({"periodSeconds": 3}));
    assert_err(
        &errs,
        "spec.template.spec.containers[0].livenessProbe.exec",
        FieldErrorReason::Required,
        "expected exactly one, got neither",
    );
}

#[test]
fn containers_probe_port_must_match() {
    let errs = svc_errs(|v| {
        container(v)["readinessProbe"] = json!({"httpGet": {"path": "/", "port": "admin"}})
    });
    assert_err(
        &errs,
        "spec.template.spec.containers[0].readinessProbe.httpGet.port",
        FieldErrorReason::Invalid,
        "invalid value: admin",
    );
}

#[test]
fn containers_readiness_probe_period_zero_rules() {
    let errs = svc_errs(|v| {
        container(v)["readinessProbe"] =
            json!({"httpGet": {"path": "/"}, "failureThreshold": 3, "timeoutSeconds": 1})
    });
    assert_err(
        &errs,
        "spec.template.spec.containers[0].readinessProbe.failureThreshold",
        FieldErrorReason::Invalid,
        "failureThreshold is disallowed when periodSeconds is zero",
    );
    assert_err(
        &errs,
        "spec.template.spec.containers[0].readinessProbe.timeoutSeconds",
        FieldErrorReason::Invalid,
        "timeoutSeconds is disallowed when periodSeconds is zero",
    );
    let errs = svc_errs(|v| {
        container(v)["readinessProbe"] =
            json!({"httpGet": {"path": "/"}, "periodSeconds": 5, "failureThreshold": 0})
    });
    assert_err(
        &errs,
        "spec.template.spec.containers[0].readinessProbe.failureThreshold",
        FieldErrorReason::Invalid,
        "expected 1 <= 0 <= 2147483647",
    );
    assert!(svc_errs(|v| container(v)["readinessProbe"] =
        json!({"httpGet": {"path": "/"}, "periodSeconds": 5, "timeoutSeconds": 2}))
    .is_empty());
}

// ----- revision spec fields ------------------------------------------------------------

#[test]
fn timeout_seconds_bounds() {
    let errs = svc_errs(|v| v["spec"]["template"]["spec"]["timeoutSeconds"] = json!(601));
    assert_err(
        &errs,
        "spec.template.spec.timeoutSeconds",
        FieldErrorReason::Invalid,
        "expected 0 <= 601 <= 600",
    );
    let errs = svc_errs(|v| v["spec"]["template"]["spec"]["timeoutSeconds"] = json!(-1));
    assert_err(
        &errs,
        "spec.template.spec.timeoutSeconds",
        FieldErrorReason::Invalid,
        "expected 0 <= -1 <= 600",
    );
    assert!(svc_errs(|v| v["spec"]["template"]["spec"]["timeoutSeconds"] = json!(600)).is_empty());
}

#[test]
fn response_start_and_idle_timeouts() {
    let errs = svc_errs(|v| {
        let rs = &mut v["spec"]["template"]["spec"];
        rs["timeoutSeconds"] = json!(100);
        rs["responseStartTimeoutSeconds"] = json!(200);
        rs["idleTimeoutSeconds"] = json!(700);
    });
    assert_err(
        &errs,
        "spec.template.spec.responseStartTimeoutSeconds",
        FieldErrorReason::Invalid,
        "expected 0 <= 200 <= 100",
    );
    assert_err(
        &errs,
        "spec.template.spec.idleTimeoutSeconds",
        FieldErrorReason::Invalid,
        "expected 0 <= 700 <= 600",
    );
}

#[test]
fn container_concurrency_bounds() {
    let errs = svc_errs(|v| v["spec"]["template"]["spec"]["containerConcurrency"] = json!(1001));
    assert_err(
        &errs,
        "spec.template.spec.containerConcurrency",
        FieldErrorReason::Invalid,
        "expected 0 <= 1001 <= 1000",
    );
    let errs = svc_errs(|v| v["spec"]["template"]["spec"]["containerConcurrency"] = json!(-1));
    assert_err(
        &errs,
        "spec.template.spec.containerConcurrency",
        FieldErrorReason::Invalid,
        "expected 0 <= -1 <= 1000",
    );
}

#[test]
fn service_account_name_must_be_subdomain() {
    let errs = svc_errs(|v| v["spec"]["template"]["spec"]["serviceAccountName"] = json!("Bad_SA"));
    assert_err(
        &errs,
        "spec.template.spec.serviceAccountName",
        FieldErrorReason::Invalid,
        "invalid value: Bad_SA",
    );
}

#[test]
fn security_context_ids_bounded() {
    let errs = svc_errs(|v| container(v)["securityContext"] = json!({"runAsUser": -1}));
    assert_err(
        &errs,
        "spec.template.spec.containers[0].securityContext.runAsUser",
        FieldErrorReason::Invalid,
        "expected 0 <= -1 <= 2147483647",
    );
}

// ----- volumes ---------------------------------------------------------------------------

fn with_volumes(volumes: Value, mounts: Value) -> Vec<FieldError> {
    svc_errs(|v| {
        v["spec"]["template"]["spec"]["volumes"] = volumes;
        container(v)["volumeMounts"] = mounts;
    })
}

#[test]
fn volume_mount_path_must_be_absolute() {
    let errs = with_volumes(
        json!([{"name": "s", "secret": {"secretName": "x"}}]),
        json!([{"name": "s", "mountPath": "etc/s"}]),
    );
    assert_err(
        &errs,
        "spec.template.spec.containers[0].volumeMounts[0].mountPath",
        FieldErrorReason::Invalid,
        "invalid value: etc/s",
    );
}

#[test]
fn volume_mount_path_not_reserved() {
    for path in ["/", "/dev", "/dev/log", "/dev/log/"] {
        let errs = with_volumes(
            json!([{"name": "s", "emptyDir": {}}]),
            json!([{"name": "s", "mountPath": path}]),
        );
        let cleaned = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        assert_err(
            &errs,
            "spec.template.spec.containers[0].volumeMounts[0].mountPath",
            FieldErrorReason::Invalid,
            &format!("invalid value: mountPath {cleaned:?} is a reserved path"),
        );
    }
}

#[test]
fn volume_mount_path_unique_and_required() {
    let errs = with_volumes(
        json!([{"name": "a", "emptyDir": {}}, {"name": "b", "emptyDir": {}}]),
        json!([{"name": "a", "mountPath": "/data"}, {"name": "b", "mountPath": "/data/"}]),
    );
    assert_err(
        &errs,
        "spec.template.spec.containers[0].volumeMounts[1].mountPath",
        FieldErrorReason::Invalid,
        r#"invalid value: "/data/" must be unique"#,
    );
    let errs = with_volumes(
        json!([{"name": "a", "emptyDir": {}}]),
        json!([{"name": "a"}]),
    );
    assert_err(
        &errs,
        "spec.template.spec.containers[0].volumeMounts[0].mountPath",
        FieldErrorReason::Required,
        "missing field(s)",
    );
}

#[test]
fn volume_mount_needs_matching_volume() {
    let errs = with_volumes(json!([]), json!([{"name": "ghost", "mountPath": "/g"}]));
    assert_err(
        &errs,
        "spec.template.spec.containers[0].volumeMounts[0].name",
        FieldErrorReason::Invalid,
        "volumeMount has no matching volume",
    );
}

#[test]
fn volume_names_unique() {
    let errs = with_volumes(
        json!([{"name": "a", "emptyDir": {}}, {"name": "a", "configMap": {"name": "c"}}]),
        json!([{"name": "a", "mountPath": "/a"}]),
    );
    assert_err(
        &errs,
        "spec.template.spec.volumes[1].name",
        FieldErrorReason::Duplicate,
        r#"duplicate volume name "a""#,
    );
}

#[test]
fn volumes_must_be_mounted() {
    let errs = with_volumes(
        json!([{"name": "a", "emptyDir": {}}, {"name": "unused", "emptyDir": {}}]),
        json!([{"name": "a", "mountPath": "/a"}]),
    );
    assert_err(
        &errs,
        "spec.template.spec.volumes[1].name",
        FieldErrorReason::Invalid,
        r#"volume with name "unused" not mounted"#,
    );
}

#[test]
fn volume_source_exactly_one_and_supported() {
    let errs = with_volumes(
        json!([{"name": "a"}]),
        json!([{"name": "a", "mountPath": "/a"}]),
    );
    assert_err(
        &errs,
        "spec.template.spec.volumes[0].secret",
        FieldErrorReason::Required,
        "expected exactly one, got neither",
    );
    let errs = with_volumes(
        json!([{"name": "a", "emptyDir": {}, "configMap": {"name": "c"}}]),
        json!([{"name": "a", "mountPath": "/a"}]),
    );
    assert_err(
        &errs,
        "spec.template.spec.volumes[0].emptyDir",
        FieldErrorReason::Invalid,
        "expected exactly one, got both",
    );
    let errs = with_volumes(
        json!([{"name": "a", "hostPath": {"path": "/etc"}}]),
        json!([{"name": "a", "mountPath": "/a"}]),
    );
    assert_err(
        &errs,
        "spec.template.spec.volumes[0].hostPath",
        FieldErrorReason::Forbidden,
        "must not set the field(s)",
    );
}

#[test]
fn volume_name_must_be_dns_label() {
    let errs = with_volumes(
        json!([{"name": "Bad", "emptyDir": {}}]),
        json!([{"name": "Bad", "mountPath": "/a"}]),
    );
    assert_err(
        &errs,
        "spec.template.spec.volumes[0].name",
        FieldErrorReason::Invalid,
        "invalid value: Bad",
    );
}

#[test]
fn init_containers_no_probes() {
    let errs = svc_errs(|v| {
        v["spec"]["template"]["spec"]["initContainers"] = json!([{"name": "init", "image": "busybox", "readinessProbe": {"exec": {"command": ["true"]}}}]);
    });
    assert_err(
        &errs,
        "spec.template.spec.initContainers[0].readinessProbe",
        FieldErrorReason::Forbidden,
        "field not allowed in an init container",
    );
}

// ----- Revision ---------------------------------------------------------------------------

fn revision() -> Value {
    json!({
        "kind": "Revision",
        "metadata": {"name": "hello-00001"},
        "spec": {"containers": [{"image": "ghcr.io/knative/helloworld-go"}]}
    })
}

#[test]
fn revision_spec_is_validated_at_spec() {
    let mut r = revision();
    r["spec"]["timeoutSeconds"] = json!(1000);
    let (_, errs) = admit_kind("Revision", r);
    assert_err(
        &errs,
        "spec.timeoutSeconds",
        FieldErrorReason::Invalid,
        "expected 0 <= 1000 <= 600",
    );
}

#[test]
fn revision_spec_is_immutable() {
    let mut old = revision();
    admit(G, "Revision", &mut old, None).unwrap();
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"app": "x"});
    assert_eq!(
        admit(G, "Revision", &mut new, Some(&old)),
        Ok(()),
        "metadata may change"
    );
    new["spec"]["volumes"] = Value::Null;
    assert_eq!(
        admit(G, "Revision", &mut new, Some(&old)),
        Ok(()),
        "null is the same as absent"
    );
    new["spec"]["containerConcurrency"] = json!(5);
    let errs = admit(G, "Revision", &mut new, Some(&old)).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].field, "spec");
    assert!(
        errs[0]
            .message
            .starts_with("Immutable fields changed (-old +new)"),
        "{}",
        errs[0].message
    );
    assert!(
        errs[0].message.contains("spec.containerConcurrency: -0 +5"),
        "{}",
        errs[0].message
    );
}

#[test]
fn revision_configuration_label_needs_owner() {
    let mut r = revision();
    r["metadata"]["labels"] = json!({"serving.knative.dev/configuration": "hello"});
    let (_, errs) = admit_kind("Revision", r);
    assert_err(
        &errs,
        "metadata.labels.serving.knative.dev/configuration",
        FieldErrorReason::Required,
        "missing field(s)",
    );
}

#[test]
fn non_object_input_is_rejected() {
    let mut v = json!("nope");
    let errs = admit(G, "Service", &mut v, None).unwrap_err();
    assert_eq!(errs[0].reason, FieldErrorReason::Invalid);
}

#[test]
fn malformed_fields_do_not_panic() {
    let mut v = json!({"metadata": {"name": 5, "labels": [1]}, "spec": {"template": 3, "traffic": {"a": 1}}});
    let _ = admit(G, "Service", &mut v, None);
    let mut v = json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {"containers": [1, null, {"ports": "x", "env": [3]}], "volumes": [7]}}}});
    let _ = admit(G, "Service", &mut v, None);
    let mut v = json!({"metadata": {"name": "x"}, "spec": null});
    let _ = admit(G, "Revision", &mut v, Some(&json!(null)));
}

/// A Revision stamped from a Service's template, as the Configuration controller does.
fn as_revision(svc: &Value) -> Value {
    json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Revision",
        "metadata": {"name": "hello-00001", "namespace": "default"},
        "spec": svc["spec"]["template"]["spec"].clone(),
    })
}

#[test]
fn config_autoscaler_must_parse() {
    let mut cm = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "config-autoscaler", "namespace": "knative-serving"},
        "data": {"stable-window": "2s"}
    });
    let errs = crate::admission::admit("", "ConfigMap", &mut cm, None).unwrap_err();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].field, "data.stable-window");
    assert!(errs[0].message.contains("stable-window"), "{errs:?}");
    cm["data"]["stable-window"] = json!("10s");
    assert!(crate::admission::admit("", "ConfigMap", &mut cm, None).is_ok());
    // Other ConfigMaps (and namesakes elsewhere) are not Knative's.
    cm["data"]["stable-window"] = json!("2s");
    cm["metadata"]["namespace"] = json!("default");
    assert!(crate::admission::admit("", "ConfigMap", &mut cm, None).is_ok());
}
