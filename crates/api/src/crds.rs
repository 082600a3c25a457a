//! The CRDs skiff serves, generated from the Rust types.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

use crate::autoscaling::v1alpha1::PodAutoscaler;
use crate::serving::v1::{Configuration, Revision, Route, Service};

/// A fingerprint of the sources the built-in CRDs come from; each built-in CRD carries
/// it in the [`FINGERPRINT_ANNOTATION`] annotation.
pub const BUILTIN_CRDS_FINGERPRINT: &str = env!("SKIFF_CRD_FINGERPRINT");

/// The annotation holding [`BUILTIN_CRDS_FINGERPRINT`].
pub const FINGERPRINT_ANNOTATION: &str = "skiff.dev/crd-fingerprint";

/// The names of the built-in CRDs, known without generating them.
pub const BUILTIN_CRD_NAMES: [&str; 10] = [
    "services.serving.knative.dev",
    "configurations.serving.knative.dev",
    "revisions.serving.knative.dev",
    "routes.serving.knative.dev",
    "podautoscalers.autoscaling.internal.knative.dev",
    crate::tekton::CRD_NAMES[0],
    crate::tekton::CRD_NAMES[1],
    crate::tekton::CRD_NAMES[2],
    crate::tekton::CRD_NAMES[3],
    crate::tekton::CRD_NAMES[4],
];

/// How many of the built-in CRDs are Knative's (the rest are Tekton's).
#[cfg(test)]
const KNATIVE_CRDS: usize = 5;

/// The built-in CRDs as generated from the Rust types, stored in the source tree so a
/// server does not run schema generation (the slowest part of a first start). The test
/// `embedded_crds_match_the_types` keeps the file in step with the types.
const EMBEDDED_CRDS: &str = include_str!("../crds/knative-serving.json");

/// The Tekton CRDs (`crate::tekton::crds`), embedded the same way.
const EMBEDDED_TEKTON_CRDS: &str = include_str!("../crds/tekton.json");

/// All built-in CustomResourceDefinitions: the four Knative Serving v1 kinds,
/// Knative's PodAutoscaler and the Tekton Pipelines kinds, with their projects' names,
/// short names, categories and printer columns, each carrying the
/// [`FINGERPRINT_ANNOTATION`].
pub fn builtin_crds() -> Vec<CustomResourceDefinition> {
    let mut crds: Vec<CustomResourceDefinition> =
        serde_json::from_str(EMBEDDED_CRDS).expect("crds/knative-serving.json holds valid CRDs");
    let tekton: Vec<CustomResourceDefinition> =
        serde_json::from_str(EMBEDDED_TEKTON_CRDS).expect("crds/tekton.json holds valid CRDs");
    crds.extend(tekton);
    for crd in &mut crds {
        crd.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(
                FINGERPRINT_ANNOTATION.into(),
                BUILTIN_CRDS_FINGERPRINT.into(),
            );
    }
    crds
}

/// The built-in CRDs generated from the Rust types now (schemars), as
/// `crds/knative-serving.json` and `crds/tekton.json` should hold them.
pub fn generate_builtin_crds() -> Vec<CustomResourceDefinition> {
    let mut crds = vec![
        Service::crd(),
        Configuration::crd(),
        Revision::crd(),
        Route::crd(),
        PodAutoscaler::crd(),
    ];
    crds.extend(crate::tekton::crds());
    crds
}

/// Converts an object of a built-in kind to another served version of its CRD: what
/// Kubernetes asks a CRD's conversion webhook (`spec.conversion.strategy: Webhook`) to
/// do. The Tekton kinds convert through their storage version `v1`
/// ([`crate::tekton::convert`]); every other built-in kind has one version, so only
/// `apiVersion` changes.
pub fn convert(
    group: &str,
    kind: &str,
    obj: &serde_json::Value,
    to_api_version: &str,
) -> Result<serde_json::Value, crate::tekton::convert::ConversionError> {
    if group == crate::tekton::GROUP && crate::tekton::convert::CONVERTIBLE_KINDS.contains(&kind) {
        return crate::tekton::convert::convert(obj, to_api_version);
    }
    let mut out = obj.clone();
    if let Some(m) = out.as_object_mut() {
        m.insert("apiVersion".into(), serde_json::json!(to_api_version));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn convert_dispatches_to_the_tekton_conversions() {
        let task = serde_json::json!({
            "apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "t"},
            "spec": {"steps": [{"image": "a", "computeResources": {"limits": {"cpu": "1"}}}]}
        });
        let beta = convert("tekton.dev", "Task", &task, "tekton.dev/v1beta1").unwrap();
        assert_eq!(beta["apiVersion"], "tekton.dev/v1beta1");
        assert_eq!(beta["spec"]["steps"][0]["resources"]["limits"]["cpu"], "1");
        let svc = serde_json::json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service"});
        assert_eq!(
            convert(
                "serving.knative.dev",
                "Service",
                &svc,
                "serving.knative.dev/v1"
            )
            .unwrap(),
            svc
        );
    }

    fn columns(crd: &CustomResourceDefinition) -> Vec<(String, String)> {
        crd.spec.versions[0]
            .additional_printer_columns
            .as_ref()
            .unwrap()
            .iter()
            .map(|c| (c.name.clone(), c.json_path.clone()))
            .collect()
    }

    /// Fails when the types changed but `crds/knative-serving.json` or `crds/tekton.json`
    /// was not regenerated; `SKIFF_UPDATE_CRDS=1 cargo test -p skiff-api embedded_crds`
    /// rewrites them.
    #[test]
    fn embedded_crds_match_the_types() {
        let all = generate_builtin_crds();
        let (knative, tekton) = all.split_at(KNATIVE_CRDS);
        let files = [
            ("knative-serving.json", knative, EMBEDDED_CRDS),
            ("tekton.json", tekton, EMBEDDED_TEKTON_CRDS),
        ];
        for (file, crds, embedded) in files {
            // One compact CRD per line: the text is parsed once at start, and its pages
            // stay resident, so whitespace would cost the idle server memory.
            let lines: Vec<String> = crds
                .iter()
                .map(|c| serde_json::to_string(c).unwrap())
                .collect();
            let generated = format!("[\n{}\n]\n", lines.join(",\n"));
            if std::env::var_os("SKIFF_UPDATE_CRDS").is_some() {
                let path = format!("{}/crds/{file}", env!("CARGO_MANIFEST_DIR"));
                std::fs::write(path, &generated).unwrap();
                continue;
            }
            assert!(
                generated == embedded,
                "crds/{file} is stale: run SKIFF_UPDATE_CRDS=1 cargo test -p skiff-api embedded_crds"
            );
        }
    }

    #[test]
    fn builtin_names_match_generated_crds() {
        let names: Vec<String> = builtin_crds()
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(names, BUILTIN_CRD_NAMES.to_vec());
    }

    #[test]
    fn crds_have_knative_names_and_columns() {
        let crds = builtin_crds();
        let names: Vec<_> = crds[..KNATIVE_CRDS]
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "services.serving.knative.dev",
                "configurations.serving.knative.dev",
                "revisions.serving.knative.dev",
                "routes.serving.knative.dev",
                "podautoscalers.autoscaling.internal.knative.dev",
            ]
        );
        for crd in &crds[..4] {
            let yaml = serde_yaml::to_string(crd).unwrap();
            assert!(yaml.contains("group: serving.knative.dev"), "{yaml}");
            let back: CustomResourceDefinition = serde_yaml::from_str(&yaml).unwrap();
            assert_eq!(&back, crd);
            assert_eq!(crd.spec.scope, "Namespaced");
            assert_eq!(
                crd.spec.names.categories.as_deref().unwrap(),
                ["all", "knative", "serving"]
            );
            let v = &crd.spec.versions[0];
            assert_eq!(v.name, "v1");
            assert!(v.served && v.storage);
            assert!(v.subresources.as_ref().unwrap().status.is_some());
        }
        let ksvc = &crds[0];
        assert_eq!(ksvc.spec.names.kind, "Service");
        assert_eq!(ksvc.spec.names.singular.as_deref(), Some("service"));
        assert_eq!(
            ksvc.spec.names.short_names.as_deref().unwrap(),
            ["kservice", "ksvc"]
        );
        assert_eq!(
            columns(ksvc),
            [
                ("URL".into(), ".status.url".into()),
                (
                    "LatestCreated".into(),
                    ".status.latestCreatedRevisionName".into()
                ),
                (
                    "LatestReady".into(),
                    ".status.latestReadyRevisionName".into()
                ),
                (
                    "Ready".into(),
                    ".status.conditions[?(@.type=='Ready')].status".into()
                ),
                (
                    "Reason".into(),
                    ".status.conditions[?(@.type=='Ready')].reason".into()
                ),
            ]
        );
        let mut short = crds[1].spec.names.short_names.clone().unwrap();
        short.sort();
        assert_eq!(short, ["cfg", "config"]);
        assert_eq!(columns(&crds[1]).len(), 4);
        assert_eq!(crds[2].spec.names.short_names.as_deref().unwrap(), ["rev"]);
        let rev_cols = columns(&crds[2]);
        assert_eq!(
            rev_cols[0],
            (
                "Config Name".to_string(),
                r".metadata.labels['serving\.knative\.dev/configuration']".to_string()
            )
        );
        assert_eq!(
            rev_cols[1].1,
            r".metadata.labels['serving\.knative\.dev/configurationGeneration']"
        );
        assert_eq!(
            rev_cols[4],
            ("Actual Replicas".into(), ".status.actualReplicas".into())
        );
        assert_eq!(
            rev_cols[5],
            ("Desired Replicas".into(), ".status.desiredReplicas".into())
        );
        assert_eq!(crds[3].spec.names.short_names.as_deref().unwrap(), ["rt"]);
        assert_eq!(
            columns(&crds[3])
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>(),
            ["URL", "Ready", "Reason"]
        );
        let pa = &crds[4];
        assert_eq!(pa.spec.group, "autoscaling.internal.knative.dev");
        assert_eq!(pa.spec.scope, "Namespaced");
        assert_eq!(pa.spec.names.short_names.as_deref().unwrap(), ["kpa", "pa"]);
        assert_eq!(pa.spec.versions[0].name, "v1alpha1");
        assert!(pa.spec.versions[0]
            .subresources
            .as_ref()
            .unwrap()
            .status
            .is_some());
        assert_eq!(
            columns(pa).iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            ["DesiredScale", "ActualScale", "Ready", "Reason"]
        );
        let back: CustomResourceDefinition =
            serde_yaml::from_str(&serde_yaml::to_string(pa).unwrap()).unwrap();
        assert_eq!(&back, pa);
    }

    fn schema(crd: &CustomResourceDefinition) -> Value {
        serde_json::to_value(
            crd.spec.versions[0]
                .schema
                .as_ref()
                .unwrap()
                .open_api_v3_schema
                .as_ref()
                .unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn spec_schemas_are_closed_and_structural() {
        let crds = builtin_crds();
        let svc = schema(&crds[0]);
        let spec = &svc["properties"]["spec"];
        assert!(spec.get("x-kubernetes-preserve-unknown-fields").is_none());
        let props = spec["properties"].as_object().unwrap();
        assert!(props.contains_key("template"), "{spec:#}");
        assert!(props.contains_key("traffic"), "{spec:#}");
        let rs = &spec["properties"]["template"]["properties"]["spec"];
        for f in [
            "containers",
            "volumes",
            "containerConcurrency",
            "timeoutSeconds",
            "serviceAccountName",
        ] {
            assert!(rs["properties"].get(f).is_some(), "missing {f}: {rs:#}");
        }
        let container = &rs["properties"]["containers"]["items"];
        assert!(container["properties"].get("image").is_some());
        let required = container
            .get("required")
            .and_then(|r| r.as_array())
            .cloned()
            .unwrap_or_default();
        assert!(
            !required.iter().any(|r| r == "name"),
            "container name must be optional"
        );
        // No $ref / definitions in a structural schema.
        let text = serde_json::to_string(&svc).unwrap();
        assert!(!text.contains("$ref"));
        let tt = &schema(&crds[3])["properties"]["spec"]["properties"]["traffic"]["items"];
        for f in [
            "tag",
            "revisionName",
            "configurationName",
            "latestRevision",
            "percent",
            "url",
        ] {
            assert!(tt["properties"].get(f).is_some(), "missing {f}");
        }
        let st = &svc["properties"]["status"]["properties"];
        for f in [
            "conditions",
            "observedGeneration",
            "url",
            "address",
            "traffic",
            "latestReadyRevisionName",
        ] {
            assert!(st.get(f).is_some(), "missing status.{f}");
        }
    }
}
#[cfg(test)]
mod dump {
    /// Prints the CRD YAML: `cargo test -p skiff-api dump_crds -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn dump_crds() {
        for c in super::builtin_crds() {
            println!("---\n{}", serde_yaml::to_string(&c).unwrap());
        }
    }
}
