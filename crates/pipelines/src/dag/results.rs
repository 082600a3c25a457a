//! Params in, results out: the replacements for a run's params with the Pipeline's
//! defaults (`ApplyParameters`), and pipeline results computed from task results
//! (`ApplyTaskResultsToPipelineResults`).

use std::collections::BTreeSet;

use skiff_api::tekton::subst;
use skiff_api::tekton::v1::{Param, ParamValue, PipelineResult, PipelineRunResult, PipelineSpec};

use super::facts::Facts;
use super::replace::Replacements;
use super::validate::declared_type;
use super::PlanError;

/// How deep defaults may refer to other params (`maxParamReferenceDepth`).
const MAX_DEPTH: usize = 10;

/// The run's params, then the defaults of the params it does not give. String
/// defaults may refer to other params (`$(params.registry)/app`) and are resolved in
/// dependency order; array and object defaults then get string replacements.
pub(crate) fn param_replacements(pipeline: &PipelineSpec, given: &[Param]) -> Replacements {
    let mut r = Replacements::default();
    for p in given {
        r.insert_param(&p.name, &p.value);
    }
    let provided: BTreeSet<&str> = given.iter().map(|p| p.name.as_str()).collect();
    let defaults: Vec<(&str, &str, &ParamValue)> = pipeline
        .params
        .iter()
        .filter(|p| !provided.contains(p.name.as_str()))
        .filter_map(|p| Some((p.name.as_str(), declared_type(p), p.default.as_ref()?)))
        .collect();
    let mut pending: Vec<(&str, &str)> = defaults
        .iter()
        .filter_map(|(n, _, v)| match v {
            ParamValue::String(s) => Some((*n, s.as_str())),
            _ => None,
        })
        .collect();
    for _ in 0..=MAX_DEPTH {
        let before = pending.len();
        pending.retain(|(n, v)| {
            let ready = subst::refs(v, "params")
                .iter()
                .all(|x| r.strings.contains_key(&x.expr));
            if ready {
                let value = ParamValue::String(r.str(v));
                r.insert_param(n, &value);
            }
            !ready
        });
        if pending.is_empty() || pending.len() == before {
            break;
        }
    }
    // Circular or undefined references: substitute what is known.
    for (n, v) in pending {
        let value = ParamValue::String(r.str(v));
        r.insert_param(n, &value);
    }
    for (n, _, v) in defaults {
        if !matches!(v, ParamValue::String(_)) {
            let value = r.value(v);
            r.insert_param(n, &value);
        }
    }
    r
}

/// `ParseResultName`: `r[*]` → (`r`, `*`), `r[1]` → (`r`, `1`), `r` → (`r`, ``).
fn parse_result_name(s: &str) -> (&str, &str) {
    match s.split_once('[') {
        Some((name, rest)) => (name, rest.trim_end_matches(']')),
        None => (s, ""),
    }
}

/// The pipeline results from the results of tasks that succeeded. A result referring
/// to a task that did not succeed (failed, skipped) is left out silently; one
/// referring to a result that does not exist is left out and reported (Tekton then
/// fails the run with `CouldntGetPipelineResult`).
pub(crate) fn pipeline_results(
    results: &[PipelineResult],
    facts: &Facts,
) -> Result<Vec<PipelineRunResult>, (Vec<PipelineRunResult>, PlanError)> {
    let status = facts.all_status();
    let mut out = Vec::new();
    let mut invalid: Vec<String> = Vec::new();
    for pr in results {
        let exprs: Vec<String> = pr
            .value
            .strings()
            .into_iter()
            .flat_map(subst::expressions)
            .map(str::to_string)
            .collect();
        if exprs.is_empty() {
            continue;
        }
        let mut reps = Replacements::default();
        let mut valid = true;
        for var in &exprs {
            let parts: Vec<&str> = var.split('.').collect();
            if parts.len() < 4
                || (parts[0] != "tasks" && parts[0] != "finally")
                || parts[2] != "results"
            {
                valid = false;
                invalid.push(pr.name.clone());
                continue;
            }
            let task = parts[1];
            let (result, idx) = parse_result_name(parts[3]);
            let node = facts
                .index_of(task)
                .map(|i| &facts.nodes[i])
                .filter(|n| n.successful());
            let value = node
                .and_then(|n| n.child.as_ref())
                .and_then(|c| c.results.iter().find(|r| r.name == result))
                .map(|r| &r.value);
            let Some(value) = value else {
                valid = false;
                let succeeded = status.get(task).is_some_and(|s| *s == "Succeeded");
                if status.contains_key(task) && !succeeded {
                    continue;
                }
                invalid.push(pr.name.clone());
                continue;
            };
            match (parts.len(), value) {
                (4, ParamValue::String(s)) => {
                    reps.strings.insert(var.clone(), s.clone());
                }
                (4, ParamValue::Array(a)) => {
                    if idx.is_empty() || idx == "*" {
                        reps.arrays
                            .insert(var.trim_end_matches("[*]").to_string(), a.clone());
                    } else {
                        match idx.parse::<usize>().ok().and_then(|i| a.get(i)) {
                            Some(v) => {
                                reps.strings.insert(var.clone(), v.clone());
                            }
                            None => {
                                valid = false;
                                invalid.push(pr.name.clone());
                            }
                        }
                    }
                }
                (4, ParamValue::Object(o)) => {
                    reps.objects
                        .insert(var.trim_end_matches("[*]").to_string(), o.clone());
                }
                (5, ParamValue::Object(o)) => match o.get(parts[4]) {
                    Some(v) => {
                        reps.strings.insert(var.clone(), v.clone());
                    }
                    None => {
                        valid = false;
                        invalid.push(pr.name.clone());
                    }
                },
                _ => {
                    valid = false;
                    invalid.push(pr.name.clone());
                }
            }
        }
        if valid {
            out.push(PipelineRunResult {
                name: pr.name.clone(),
                value: reps.value(&pr.value),
            });
        }
    }
    if invalid.is_empty() {
        Ok(out)
    } else {
        Err((out, PlanError::PipelineResults(invalid)))
    }
}
