//! The Tekton CRDs, one per kind with every served version: `v1` (storage), `v1beta1`
//! and `v1alpha1`, in Tekton's order of preference; `PipelineResource` is v1alpha1 only.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::core::crd::merge_crds;
use kube::CustomResourceExt;

use super::{v1, v1alpha1, v1beta1};

/// The CRD names, in the order [`crds`] returns them.
pub const CRD_NAMES: [&str; 5] = [
    "tasks.tekton.dev",
    "taskruns.tekton.dev",
    "pipelines.tekton.dev",
    "pipelineruns.tekton.dev",
    "pipelineresources.tekton.dev",
];

/// Merges the per-version CRDs of one kind, `v1` first and stored.
fn merged(versions: Vec<CustomResourceDefinition>) -> CustomResourceDefinition {
    let mut crd = merge_crds(versions, v1::VERSION).expect("versions of one kind merge");
    let rank = |name: &str| match name {
        "v1" => 0,
        "v1beta1" => 1,
        _ => 2,
    };
    crd.spec.versions.sort_by_key(|v| rank(&v.name));
    crd
}

/// The Tekton CRDs generated from the types now (schemars), as `crds/tekton.json`
/// holds them.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![
        merged(vec![
            v1::Task::crd(),
            v1beta1::Task::crd(),
            v1alpha1::Task::crd(),
        ]),
        merged(vec![
            v1::TaskRun::crd(),
            v1beta1::TaskRun::crd(),
            v1alpha1::TaskRun::crd(),
        ]),
        merged(vec![
            v1::Pipeline::crd(),
            v1beta1::Pipeline::crd(),
            v1alpha1::Pipeline::crd(),
        ]),
        merged(vec![
            v1::PipelineRun::crd(),
            v1beta1::PipelineRun::crd(),
            v1alpha1::PipelineRun::crd(),
        ]),
        v1alpha1::PipelineResource::crd(),
    ]
}
