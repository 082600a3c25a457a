//! The TaskRun a pipeline task becomes (`createTaskRun`, `getTaskrunWorkspaces`,
//! `combineTaskRunAndTaskSpecLabels` in `pipelinerun.go`, and the TaskRun timeout Tekton
//! computed from the PipelineRun's timeouts).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource;
use skiff_api::tekton::duration;
use skiff_api::tekton::subst;
use skiff_api::tekton::v1::{
    PipelineRun, PipelineSpec, PipelineTask, PipelineTaskRunSpec, PodTemplate, TaskRunSpec,
    TaskSpec, WorkspaceBinding, WorkspacePipelineTaskBinding,
};

use super::facts::{Timeouts, SECOND};
use super::replace::Replacements;
use super::{
    hash, NewTaskRun, PlanError, ANNOTATION_PIPELINE_TASK_ON_ERROR, LABEL_MEMBER_OF,
    LABEL_PIPELINE, LABEL_PIPELINE_RUN, LABEL_PIPELINE_TASK, MEMBER_OF_FINALLY, MEMBER_OF_TASKS,
};

/// What every TaskRun of one PipelineRun shares.
pub(crate) struct RunContext<'a> {
    pub run: &'a PipelineRun,
    pub name: &'a str,
    pub pipeline_name: &'a str,
    /// The PipelineRun's workspace bindings, params and results substituted.
    pub bindings: Vec<WorkspaceBinding>,
    /// `$(context.pipelineRun.*)` for workspace sub-paths.
    pub context: Replacements,
    /// The resolved pipeline (for optional workspace declarations).
    pub pipeline: &'a PipelineSpec,
    pub timeouts: &'a Timeouts,
}

/// `PipelineRun.GetTaskRunSpec`: the run settings of one pipeline task, from
/// `taskRunSpecs` over `taskRunTemplate`.
fn task_run_spec(
    run: &PipelineRun,
    task: &str,
) -> (String, Option<PodTemplate>, Option<PipelineTaskRunSpec>) {
    let template = run.spec.task_run_template.clone().unwrap_or_default();
    let mut sa = template.service_account_name.clone();
    let mut pod = template.pod_template.clone();
    let specific = run
        .spec
        .task_run_specs
        .iter()
        .find(|s| s.pipeline_task_name == task)
        .cloned();
    if let Some(s) = &specific {
        pod = merge_pod_template(s.pod_template.as_ref(), pod.as_ref());
        if !s.service_account_name.is_empty() {
            sa = s.service_account_name.clone();
        }
    }
    (sa, pod, specific)
}

/// `pod.MergePodTemplateWithDefault`: the task's template over the run's default.
fn merge_pod_template(
    tpl: Option<&PodTemplate>,
    default: Option<&PodTemplate>,
) -> Option<PodTemplate> {
    match (tpl, default) {
        (None, d) => d.cloned(),
        (Some(t), None) => Some(t.clone()),
        (Some(t), Some(d)) => {
            let mut out = d.clone();
            if !t.node_selector.is_empty() {
                out.node_selector = t.node_selector.clone();
            }
            for e in &t.env {
                out.env.retain(|x| x.name != e.name);
                out.env.push(e.clone());
            }
            for v in &t.volumes {
                out.volumes.retain(|x| x.name != v.name);
                out.volumes.push(v.clone());
            }
            for (k, v) in &t.extra {
                out.extra.insert(k.clone(), v.clone());
            }
            Some(out)
        }
    }
}

/// `addMetadataByPrecedence`: adds what is not there yet (earlier sources win).
fn add_missing(to: &mut BTreeMap<String, String>, from: &BTreeMap<String, String>) {
    for (k, v) in from {
        to.entry(k.clone()).or_insert_with(|| v.clone());
    }
}

/// Annotations Tekton never copies from a PipelineRun to its TaskRuns
/// (`TektonReservedAnnotationExpr`).
fn reserved_annotation(key: &str) -> bool {
    key.starts_with("results.tekton.dev/") || key.starts_with("chains.tekton.dev/")
}

/// The TaskRun timeout (nanoseconds, `0` = none): the pipeline task's own timeout,
/// capped by what is left of `timeouts.tasks` (or `timeouts.pipeline`) since the run
/// started; finally tasks by what is left of `timeouts.pipeline` and by
/// `timeouts.finally`. Once a budget is spent, one second (Tekton's
/// `calculateTaskRunTimeout` / `getFinallyTaskRunTimeout`).
pub(crate) fn task_run_timeout(t: &Timeouts, own: Option<i128>, finally: bool) -> i128 {
    let own = own.filter(|d| *d > 0);
    let capped = |budget: i128| -> i128 {
        if budget == 0 {
            return own.unwrap_or(0);
        }
        let elapsed = t.elapsed();
        if elapsed > budget {
            return SECOND;
        }
        let left = budget - elapsed;
        own.map_or(left, |o| o.min(left))
    };
    if !finally {
        return capped(t.tasks.unwrap_or(t.pipeline));
    }
    let tr = capped(t.pipeline);
    match t.finally {
        Some(f) if f > 0 && (tr == 0 || f < tr) => f,
        _ => tr,
    }
}

/// `filepath.Join`: joins and cleans a path.
pub(crate) fn join_path(a: &str, b: &str) -> String {
    if a.is_empty() {
        return b.to_string();
    }
    if b.is_empty() {
        return a.to_string();
    }
    let joined = format!("{a}/{b}");
    let absolute = joined.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let body = parts.join("/");
    match (absolute, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

/// `workspace.FindWorkspacesUsedByTask`: workspaces an embedded Task's steps refer to.
fn workspaces_used(ts: &TaskSpec) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for step in &ts.steps {
        let mut strings: Vec<&str> = vec![step.script.as_str(), step.working_dir.as_str()];
        strings.extend(step.args.iter().map(String::as_str));
        strings.extend(step.command.iter().map(String::as_str));
        strings.extend(step.env.iter().filter_map(|e| e.value.as_deref()));
        for s in strings {
            out.extend(subst::refs(s, "workspaces").into_iter().map(|r| r.name));
        }
    }
    out
}

/// `getTaskrunWorkspaces`: the task's workspace bindings from the PipelineRun's, with
/// sub-paths joined; `volumeClaimTemplate` bindings become the claim Tekton creates
/// for them. An unbound workspace is an error unless the Task (or Pipeline) declares it
/// optional.
fn task_workspaces(cx: &RunContext, pt: &PipelineTask) -> Result<Vec<WorkspaceBinding>, PlanError> {
    let mut wanted = pt.workspaces.clone();
    if let Some(emb) = &pt.task_spec {
        for w in workspaces_used(&emb.task_spec) {
            if !wanted.iter().any(|b| b.name == w) {
                wanted.push(WorkspacePipelineTaskBinding {
                    name: w,
                    ..Default::default()
                });
            }
        }
    }
    let mut out = Vec::new();
    for b in &wanted {
        let pipeline_ws = if b.workspace.is_empty() {
            &b.name
        } else {
            &b.workspace
        };
        match cx.bindings.iter().find(|w| w.name == *pipeline_ws) {
            Some(rb) => {
                let sub_path = join_path(&rb.sub_path, &b.sub_path);
                let binding = match &rb.volume_claim_template {
                    Some(tpl) => WorkspaceBinding {
                        name: b.name.clone(),
                        sub_path,
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: hash::pvc_name(
                                tpl.metadata
                                    .as_ref()
                                    .and_then(|m| m.name.as_deref())
                                    .unwrap_or(""),
                                &rb.name,
                                cx.name,
                            ),
                            read_only: None,
                        }),
                        ..Default::default()
                    },
                    None => WorkspaceBinding {
                        name: b.name.clone(),
                        sub_path,
                        ..rb.clone()
                    },
                };
                out.push(binding);
            }
            None => {
                let optional_in_task = pt.task_spec.as_ref().is_some_and(|e| {
                    e.task_spec
                        .workspaces
                        .iter()
                        .any(|d| d.name == b.name && d.optional)
                });
                let optional_in_pipeline = cx
                    .pipeline
                    .workspaces
                    .iter()
                    .any(|d| d.name == *pipeline_ws && d.optional);
                if !optional_in_task && !optional_in_pipeline {
                    return Err(PlanError::MissingTaskWorkspace {
                        workspace: pipeline_ws.clone(),
                        task: pt.name.clone(),
                    });
                }
            }
        }
    }
    for w in &mut out {
        w.sub_path = cx.context.str(&w.sub_path);
    }
    Ok(out)
}

/// The TaskRun for a pipeline task whose params, `when` and references are already
/// substituted. `propagated` holds the results of finished tasks, substituted into an
/// embedded Task spec (`PropagateResults`).
pub(crate) fn build(
    cx: &RunContext,
    pt: &PipelineTask,
    finally: bool,
    name: String,
    propagated: &Replacements,
) -> Result<NewTaskRun, PlanError> {
    // `ApplyPipelineTaskContexts`.
    let mut pt = pt.clone();
    let mut ctx = Replacements::default();
    ctx.insert_string(
        "context.pipelineTask.retries",
        pt.retries.unwrap_or(0).to_string(),
    );
    ctx.params(&mut pt.params);
    pt.display_name = ctx.str(&pt.display_name);

    let (service_account_name, pod_template, specific) = task_run_spec(cx.run, &pt.name);
    let specific_meta = specific
        .as_ref()
        .and_then(|s| s.metadata.clone())
        .unwrap_or_default();
    let embedded_meta = pt
        .task_spec
        .as_ref()
        .and_then(|e| e.metadata.clone())
        .unwrap_or_default();

    let mut labels = BTreeMap::new();
    add_missing(&mut labels, &specific_meta.labels);
    let mut own = cx.run.metadata.labels.clone().unwrap_or_default();
    own.insert(LABEL_PIPELINE.into(), cx.pipeline_name.into());
    own.insert(LABEL_PIPELINE_RUN.into(), cx.name.into());
    own.insert(LABEL_PIPELINE_TASK.into(), pt.name.clone());
    own.insert(
        LABEL_MEMBER_OF.into(),
        if finally {
            MEMBER_OF_FINALLY
        } else {
            MEMBER_OF_TASKS
        }
        .into(),
    );
    add_missing(&mut labels, &own);
    add_missing(&mut labels, &embedded_meta.labels);

    let mut annotations = BTreeMap::new();
    add_missing(&mut annotations, &specific_meta.annotations);
    let run_annotations: BTreeMap<String, String> = cx
        .run
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !reserved_annotation(k))
        .collect();
    add_missing(&mut annotations, &run_annotations);
    add_missing(&mut annotations, &embedded_meta.annotations);
    if pt.continue_on_error() {
        annotations.insert(ANNOTATION_PIPELINE_TASK_ON_ERROR.into(), "continue".into());
    }

    let own_timeout = specific
        .as_ref()
        .and_then(|s| s.timeout.as_deref())
        .or(pt.timeout.as_deref())
        .and_then(|s| duration::parse(s).ok());
    let timeout = task_run_timeout(cx.timeouts, own_timeout, finally);

    let workspaces = task_workspaces(cx, &pt)?;
    let (task_ref, task_spec) = match (&pt.task_ref, &pt.task_spec) {
        (Some(r), _) => (Some(r.clone()), None),
        (None, Some(e)) => (None, Some(propagated.task_spec(&e.task_spec))),
        (None, None) => (None, None),
    };
    let spec = TaskRunSpec {
        params: pt.params.clone(),
        service_account_name,
        task_ref,
        task_spec,
        retries: pt.retries.filter(|r| *r > 0),
        timeout: Some(duration::format(timeout)),
        pod_template,
        workspaces,
        step_specs: specific
            .as_ref()
            .map(|s| s.step_specs.clone())
            .unwrap_or_default(),
        sidecar_specs: specific
            .as_ref()
            .map(|s| s.sidecar_specs.clone())
            .unwrap_or_default(),
        compute_resources: specific.as_ref().and_then(|s| s.compute_resources.clone()),
        ..Default::default()
    };
    Ok(NewTaskRun {
        name,
        pipeline_task: pt.name.clone(),
        finally,
        labels,
        annotations,
        spec,
    })
}

trait OnError {
    fn continue_on_error(&self) -> bool;
}

impl OnError for PipelineTask {
    fn continue_on_error(&self) -> bool {
        self.on_error == "continue"
    }
}
