//! What only run time can check about a PipelineRun against its Pipeline
//! (`resources/validate_params.go`, `ValidateWorkspaceBindings`,
//! `ValidateTaskRunSpecs` in `pipelinerunresolution.go`).

use std::collections::{BTreeMap, BTreeSet};

use skiff_api::tekton::v1::{ParamSpec, ParamValue, PipelineRunSpec, PipelineSpec};

use super::PlanError;

/// A declared param's type after Tekton's defaulting (`ParamSpec.SetDefaults`): the
/// written type, else `object` with properties, else the default's shape, else `string`.
pub(crate) fn declared_type(ps: &ParamSpec) -> &str {
    if !ps.type_.is_empty() {
        return &ps.type_;
    }
    if ps.properties.is_some() {
        return "object";
    }
    match &ps.default {
        Some(ParamValue::Array(_)) => "array",
        Some(ParamValue::Object(_)) => "object",
        _ => "string",
    }
}

/// Checks a PipelineRun against its (resolved) Pipeline, in the order Tekton's
/// reconciler does, returning the first problem:
///
/// * every param without a default is given ([`PlanError::MissingParams`],
///   reason `ParameterMissing`);
/// * given params have the declared type ([`PlanError::ParamTypeMismatch`],
///   `ParameterTypeMismatch`);
/// * object params have the keys their `properties` declare
///   ([`PlanError::MissingObjectKeys`], `ObjectParameterMissKeys`);
/// * every non-optional Pipeline workspace is bound ([`PlanError::MissingWorkspace`],
///   `InvalidWorkspaceBindings`);
/// * `taskRunSpecs` only name pipeline tasks ([`PlanError::UnknownTaskRunSpec`],
///   `InvalidTaskRunSpecs`).
pub fn validate_run(pipeline: &PipelineSpec, run: &PipelineRunSpec) -> Result<(), PlanError> {
    let provided: BTreeSet<&str> = run.params.iter().map(|p| p.name.as_str()).collect();
    let missing: Vec<String> = pipeline
        .params
        .iter()
        .filter(|p| p.default.is_none() && !provided.contains(p.name.as_str()))
        .map(|p| p.name.clone())
        .collect();
    if !missing.is_empty() {
        return Err(PlanError::MissingParams(missing));
    }

    let types: BTreeMap<&str, &str> = pipeline
        .params
        .iter()
        .map(|p| (p.name.as_str(), declared_type(p)))
        .collect();
    let wrong: Vec<String> = run
        .params
        .iter()
        .filter(|p| {
            types
                .get(p.name.as_str())
                .is_some_and(|t| *t != p.value.type_name())
        })
        .map(|p| p.name.clone())
        .collect();
    if !wrong.is_empty() {
        return Err(PlanError::ParamTypeMismatch(wrong));
    }

    // `MissingKeysObjectParamNames`: only objects given a value (by the run or a
    // default) are checked.
    let mut missing_keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ps in pipeline
        .params
        .iter()
        .filter(|p| declared_type(p) == "object")
    {
        let needed: Vec<&String> = ps.properties.iter().flat_map(|m| m.keys()).collect();
        let mut given: Option<BTreeSet<&String>> = None;
        if let Some(ParamValue::Object(m)) = &ps.default {
            given.get_or_insert_with(BTreeSet::new).extend(m.keys());
        }
        for p in run.params.iter().filter(|p| p.name == ps.name) {
            if let ParamValue::Object(m) = &p.value {
                given.get_or_insert_with(BTreeSet::new).extend(m.keys());
            }
        }
        let Some(given) = given else { continue };
        let absent: Vec<String> = needed
            .into_iter()
            .filter(|k| !given.contains(k))
            .cloned()
            .collect();
        if !absent.is_empty() {
            missing_keys.insert(ps.name.clone(), absent);
        }
    }
    if !missing_keys.is_empty() {
        return Err(PlanError::MissingObjectKeys(missing_keys));
    }

    for ws in pipeline.workspaces.iter().filter(|w| !w.optional) {
        if !run.workspaces.iter().any(|b| b.name == ws.name) {
            return Err(PlanError::MissingWorkspace(ws.name.clone()));
        }
    }

    for trs in &run.task_run_specs {
        let known = pipeline
            .tasks
            .iter()
            .chain(&pipeline.finally)
            .any(|t| t.name == trs.pipeline_task_name);
        if !known {
            return Err(PlanError::UnknownTaskRunSpec(
                trs.pipeline_task_name.clone(),
            ));
        }
    }
    Ok(())
}
