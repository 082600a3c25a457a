//! [`plan`](super::plan): one reconcile of Tekton's PipelineRun reconciler (`ReconcileKind`,
//! `reconcile`, `runNextSchedulableTask`), as data.

use std::collections::HashMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use skiff_api::tekton::v1::{
    ChildStatusReference, Condition, PipelineRun, PipelineSpec, PipelineTask, SkippedTask,
    WorkspaceBinding,
};

use super::facts::{Facts, RefError, Timeouts};
use super::replace::Replacements;
use super::taskrun::{self, RunContext};
use super::{
    go_quote, pipeline_name, pvc_name, reason, results, task_run_name, validate_run, CancelTaskRun,
    ChildState, Dag, NewPvc, NewTaskRun, Plan, PlanError, SkipReason, CANCELLED_BY_PIPELINE_MSG,
    CANCELLED_BY_PIPELINE_TIMEOUT_MSG, SPEC_STATUS_CANCELLED, SPEC_STATUS_CANCELLED_RUN_FINALLY,
    SPEC_STATUS_PENDING, SPEC_STATUS_STOPPED_RUN_FINALLY, TASK_RUN_CANCELLED,
};

/// A `Succeeded` condition.
fn condition(status: &str, why: &str, message: String, now: Timestamp) -> Condition {
    Condition {
        type_: "Succeeded".into(),
        status: status.into(),
        severity: None,
        last_transition_time: Some(Time(now)),
        reason: Some(why.into()),
        message: Some(message),
    }
}

fn is_custom(pt: &PipelineTask) -> bool {
    pt.task_ref
        .as_ref()
        .is_some_and(|r| !r.api_version.is_empty() && !r.kind.is_empty())
        || pt
            .task_spec
            .as_ref()
            .is_some_and(|e| !e.api_version.is_empty() && !e.kind.is_empty())
}

/// Refuses what skiff cannot run: custom tasks, tasks without a Task, CEL.
fn check_supported(pipeline: &PipelineSpec) -> Result<(), PlanError> {
    for pt in pipeline.tasks.iter().chain(&pipeline.finally) {
        if is_custom(pt) {
            return Err(PlanError::Unsupported(format!(
                "pipeline task {} is a custom task, which skiff does not run",
                go_quote(&pt.name)
            )));
        }
        if pt.task_ref.is_none() && pt.task_spec.is_none() {
            return Err(PlanError::Unsupported(format!(
                "Currently, Task {} does not support PipelineRef or PipelineSpec, please use TaskRef or TaskSpec instead",
                go_quote(&pt.name)
            )));
        }
        if let Some(w) = pt.when.iter().find(|w| !w.cel.is_empty()) {
            return Err(PlanError::Cel(w.cel.clone()));
        }
    }
    Ok(())
}

/// The pipeline with the run's params (defaults resolved), `$(context.*)` and
/// `$(workspaces.<w>.bound)` substituted (`ApplyParameters`, `ApplyContexts`,
/// `ApplyWorkspaces`).
fn resolve_spec(pipeline: &PipelineSpec, run: &PipelineRun, pipeline_name: &str) -> PipelineSpec {
    let params = results::param_replacements(pipeline, &run.spec.params);
    let context = context_replacements(run, pipeline_name);
    let mut bound = Replacements::default();
    for w in &pipeline.workspaces {
        bound.insert_string(format!("workspaces.{}.bound", w.name), "false");
    }
    for w in &run.spec.workspaces {
        bound.insert_string(format!("workspaces.{}.bound", w.name), "true");
    }
    let mut spec = pipeline.clone();
    for reps in [&params, &context, &bound] {
        for pt in spec.tasks.iter_mut().chain(spec.finally.iter_mut()) {
            reps.pipeline_task(pt, true);
        }
    }
    spec
}

/// `GetContextReplacements`.
fn context_replacements(run: &PipelineRun, pipeline_name: &str) -> Replacements {
    let mut r = Replacements::default();
    r.insert_string(
        "context.pipelineRun.name",
        run.metadata.name.clone().unwrap_or_default(),
    );
    r.insert_string("context.pipeline.name", pipeline_name);
    r.insert_string(
        "context.pipelineRun.namespace",
        run.metadata.namespace.clone().unwrap_or_default(),
    );
    r.insert_string(
        "context.pipelineRun.uid",
        run.metadata.uid.clone().unwrap_or_default(),
    );
    r
}

/// Cancellations for the children `pick` selects that are neither done nor already
/// being cancelled.
fn cancellations<'c>(
    children: impl IntoIterator<Item = &'c ChildState>,
    message: &str,
    already: &[CancelTaskRun],
) -> Vec<CancelTaskRun> {
    children
        .into_iter()
        .filter(|c| !c.is_done() && c.spec_status != TASK_RUN_CANCELLED)
        .filter(|c| !already.iter().any(|a| a.name == c.name))
        .map(|c| CancelTaskRun {
            name: c.name.clone(),
            pipeline_task: c.pipeline_task.clone(),
            status_message: message.to_string(),
        })
        .collect()
}

/// The status' child references plus one for each TaskRun observed or created.
fn child_references(
    existing: &[ChildStatusReference],
    facts: Option<&Facts>,
    children: &[ChildState],
) -> Vec<ChildStatusReference> {
    let mut out = existing.to_vec();
    let mut add = |name: &str, task: &str, pt: Option<PipelineTask>| {
        if name.is_empty() || out.iter().any(|r| r.name == name) {
            return;
        }
        out.push(ChildStatusReference {
            api_version: "tekton.dev/v1".into(),
            kind: "TaskRun".into(),
            name: name.into(),
            display_name: pt
                .as_ref()
                .map(|p| p.display_name.clone())
                .unwrap_or_default(),
            pipeline_task_name: task.into(),
            when_expressions: pt.map(|p| p.when).unwrap_or_default(),
        });
    };
    match facts {
        Some(f) => {
            for (i, n) in f.nodes.iter().enumerate() {
                if let Some(c) = &n.child {
                    add(&c.name, &n.pt.name, Some(f.view(i)));
                }
            }
        }
        None => {
            for c in children {
                add(&c.name, &c.pipeline_task, None);
            }
        }
    }
    out
}

/// Decides what a PipelineRun does next, as Tekton's reconciler would on this
/// reconcile.
///
/// * `run` — the PipelineRun as stored (spec, labels, annotations, status);
/// * `pipeline` — its resolved Pipeline spec (from `pipelineRef` or `pipelineSpec`);
/// * `children` — every TaskRun of the run (see [`ChildState::from_task_run`]);
/// * `now` — the current time (timeouts are measured from `status.startTime`, or from
///   `now` when the run starts).
///
/// A run already done gets an empty plan. A `Cancelled` run cancels its running
/// TaskRuns and fails with reason `Cancelled`; a pending one reports
/// `PipelineRunPending`. Otherwise the pipeline is validated (graph, params,
/// workspaces, `taskRunSpecs`, supported features — failing the run with Tekton's
/// reason and message), then: `CancelledRunFinally` cancels running tasks, a passed
/// `timeouts.tasks`/`timeouts.finally` cancels the running tasks/finally tasks, the
/// DAG tasks whose parents are done start (unless skipped, or the run is stopping),
/// finally tasks start once every DAG task is done, and a passed `timeouts.pipeline`
/// cancels everything and fails the run with `PipelineRunTimeout`.
pub fn plan(
    run: &PipelineRun,
    pipeline: &PipelineSpec,
    children: &[ChildState],
    now: Timestamp,
) -> Plan {
    let mut out = Plan::default();
    let status = run.status.clone().unwrap_or_default();
    let done = status
        .status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Succeeded" && (c.status == "True" || c.status == "False"));
    if done {
        return out;
    }
    let name = run.metadata.name.clone().unwrap_or_default();
    let namespace = run.metadata.namespace.clone().unwrap_or_default();
    let spec_status = run.spec.status.as_str();
    let pending = spec_status == SPEC_STATUS_PENDING;
    let start = match &status.start_time {
        Some(t) => t.0,
        None => {
            if !pending {
                out.start_time = Some(now);
            }
            now
        }
    };
    let existing_refs = status.child_references.clone();

    if spec_status == SPEC_STATUS_CANCELLED {
        out.to_cancel = cancellations(children, CANCELLED_BY_PIPELINE_MSG, &[]);
        out.condition = Some(condition(
            "False",
            reason::CANCELLED,
            format!("PipelineRun {} was cancelled", go_quote(&name)),
            now,
        ));
        out.completion_time = Some(now);
        out.child_references = child_references(&existing_refs, None, children);
        return out;
    }
    if pending {
        out.condition = Some(condition(
            "Unknown",
            reason::PENDING,
            format!("PipelineRun {} is pending", go_quote(&name)),
            now,
        ));
        return out;
    }

    let pipeline_name = pipeline_name(run);
    let fail = |out: &mut Plan, err: &PlanError| {
        out.condition = Some(condition(
            "False",
            err.reason(),
            err.failure_message(&namespace, &name, &pipeline_name),
            now,
        ));
        out.completion_time = Some(now);
        out.requeue_after = None;
    };
    out.child_references = child_references(&existing_refs, None, children);
    let dag = match Dag::build(&pipeline.tasks) {
        Ok(d) => d,
        Err(e) => {
            fail(&mut out, &e);
            return out;
        }
    };
    let finally_check = Dag::independent(&pipeline.finally).and_then(|_| {
        match pipeline.finally.iter().find(|f| dag.contains(&f.name)) {
            Some(f) => Err(PlanError::DuplicateTask(f.name.clone())),
            None => Ok(()),
        }
    });
    let checks = finally_check
        .map_err(|e| PlanError::FinallyGraph(Box::new(e)))
        .and_then(|_| validate_run(pipeline, &run.spec))
        .and_then(|_| check_supported(pipeline));
    if let Err(e) = checks {
        fail(&mut out, &e);
        return out;
    }

    let resolved = resolve_spec(pipeline, run, &pipeline_name);
    out.pipeline_spec = Some(resolved.clone());
    let expected: HashMap<String, String> = existing_refs
        .iter()
        .map(|r| (r.pipeline_task_name.clone(), r.name.clone()))
        .collect();
    let timeouts = Timeouts::new(
        &run.spec,
        start,
        status.finally_start_time.as_ref().map(|t| t.0),
        now,
    );
    let mut facts = Facts::new(&resolved, &dag, children, &expected, spec_status, timeouts);

    // Graceful cancel: cancel what runs, then finally runs as usual.
    let mut cancel = Vec::new();
    if spec_status == SPEC_STATUS_CANCELLED_RUN_FINALLY && facts.dag_running() {
        cancel = cancellations(children, CANCELLED_BY_PIPELINE_MSG, &cancel);
    }
    // `timeouts.tasks` / `timeouts.finally`: cancel what runs of that section.
    let section_timed_out = |finally: bool| {
        if finally {
            facts.timeouts.finally_timed_out()
        } else {
            facts.timeouts.finally_start.is_none() && facts.timeouts.tasks_timed_out()
        }
    };
    for finally in [false, true] {
        if section_timed_out(finally) {
            let running: Vec<&ChildState> = facts
                .nodes
                .iter()
                .filter(|n| n.finally == finally && n.running())
                .filter_map(|n| n.child.as_ref())
                .collect();
            let more = cancellations(running, CANCELLED_BY_PIPELINE_TIMEOUT_MSG, &cancel);
            cancel.extend(more);
        }
    }

    // PipelineRun workspace bindings with params and finished tasks' results
    // (`ApplyParametersToWorkspaceBindings`, `ApplyResultsToWorkspaceBindings`).
    let mut binding_reps = Replacements::default();
    for p in &run.spec.params {
        binding_reps.insert_param(&p.name, &p.value);
    }
    let propagated = facts.successful_results();
    binding_reps.extend(&propagated);
    let bindings: Vec<WorkspaceBinding> = run
        .spec
        .workspaces
        .iter()
        .map(|b| match serde_json::to_value(b) {
            Ok(mut v) => {
                binding_reps.json(&mut v);
                serde_json::from_value(v).unwrap_or_else(|_| b.clone())
            }
            Err(_) => b.clone(),
        })
        .collect();
    let cx = RunContext {
        run,
        name: &name,
        pipeline_name: &pipeline_name,
        bindings,
        context: context_replacements(
            run,
            run.spec
                .pipeline_ref
                .as_ref()
                .map_or("", |r| r.name.as_str()),
        ),
        pipeline: &resolved,
        timeouts: &facts.timeouts,
    };

    let scheduled = schedule(&facts, &cx, &existing_refs, &propagated);
    let (create, finally_started) = match scheduled {
        Ok(s) => s,
        Err(e) => {
            out.to_cancel = cancel;
            fail(&mut out, &e);
            out.child_references = child_references(&existing_refs, Some(&facts), children);
            return out;
        }
    };
    drop(cx);
    if finally_started && facts.timeouts.finally_start.is_none() {
        out.finally_start_time = Some(now);
        facts.timeouts.finally_start = Some(now);
    }
    let mut create = create;
    if facts.timeouts.pipeline_timed_out() {
        create.clear();
        let more = cancellations(children, CANCELLED_BY_PIPELINE_TIMEOUT_MSG, &cancel);
        cancel.extend(more);
    }
    if !create.is_empty() {
        out.pvcs = run
            .spec
            .workspaces
            .iter()
            .filter_map(|b| {
                let tpl = b.volume_claim_template.as_ref()?;
                let tpl_name = tpl
                    .metadata
                    .as_ref()
                    .and_then(|m| m.name.as_deref())
                    .unwrap_or("");
                Some(NewPvc {
                    name: pvc_name(tpl_name, &b.name, &name),
                    workspace: b.name.clone(),
                    template: tpl.clone(),
                })
            })
            .collect();
    }
    for c in &create {
        facts.set_child(ChildState {
            pipeline_task: c.pipeline_task.clone(),
            name: c.name.clone(),
            ..Default::default()
        });
    }

    let (cond_status, why, message) = facts.condition(&name);
    out.condition = Some(condition(cond_status, why, message, now));
    out.skipped = (0..facts.nodes.len())
        .filter_map(|i| {
            let r = facts.skip(i)?;
            let when = if facts.is_dag(i) || r == SkipReason::When {
                facts.view(i).when
            } else {
                Vec::new()
            };
            Some(SkippedTask {
                name: facts.nodes[i].pt.name.clone(),
                reason: r.as_str().into(),
                when_expressions: when,
            })
        })
        .collect();
    out.child_references = child_references(&existing_refs, Some(&facts), children);
    out.to_create = create;
    out.to_cancel = cancel;

    if out.is_done() {
        match results::pipeline_results(&pipeline.results, &facts) {
            Ok(r) => out.results = r,
            Err((partial, e)) => {
                out.results = partial;
                fail(&mut out, &e);
            }
        }
        out.completion_time = Some(now);
    } else {
        out.requeue_after = requeue_after(&facts.timeouts);
    }
    out
}

/// How long until the next timeout that has not passed yet: `timeouts.pipeline`,
/// `timeouts.tasks` (before finally starts) or `timeouts.finally` (after). Tekton
/// requeues at the same deadlines; a deadline already acted upon is left out here so
/// that a controller waiting for cancellations to land does not spin.
fn requeue_after(t: &Timeouts) -> Option<std::time::Duration> {
    let elapsed = t.elapsed();
    let mut waits = Vec::new();
    if t.pipeline != 0 {
        waits.push(t.pipeline - elapsed);
    }
    match (t.finally_start, t.tasks, t.finally) {
        (None, Some(tasks), _) if tasks != 0 => waits.push(tasks - elapsed),
        (Some(fs), _, Some(f)) if f != 0 => waits.push(f - t.now.duration_since(fs).as_nanos()),
        _ => {}
    }
    let next = waits.into_iter().filter(|w| *w > 0).min()?;
    // Tekton compares with `>`: reconcile just after the deadline.
    Some(std::time::Duration::from_nanos(
        (next + 1).min(u64::MAX as i128) as u64,
    ))
}

/// `runNextSchedulableTask`: the TaskRuns to create now, and whether finally tasks
/// have started.
fn schedule(
    facts: &Facts,
    cx: &RunContext,
    refs: &[ChildStatusReference],
    propagated: &Replacements,
) -> Result<(Vec<NewTaskRun>, bool), PlanError> {
    let mut create = Vec::new();
    let halted = facts.spec_status == SPEC_STATUS_CANCELLED_RUN_FINALLY
        || facts.spec_status == SPEC_STATUS_STOPPED_RUN_FINALLY
        || facts.stopping();
    if !halted {
        for i in 0..facts.dag.len() {
            let node = &facts.nodes[i];
            if node.child.is_some() || facts.skip(i).is_some() || !facts.parents_done(i) {
                continue;
            }
            let mut pt = node.pt.clone();
            match facts.resolve(&pt) {
                Ok(r) => r.pipeline_task(&mut pt, false),
                Err(RefError::MissingResult { task, result }) => {
                    return Err(PlanError::InvalidTaskResultReference { task, result })
                }
                Err(_) => continue,
            }
            let name = task_run_name(cx.name, refs, &pt.name);
            create.push(taskrun::build(cx, &pt, false, name, propagated)?);
        }
    }
    let mut finally_started = false;
    if facts.dag_done() {
        for i in facts.dag.len()..facts.nodes.len() {
            if facts.nodes[i].child.is_some() {
                finally_started = true;
                continue;
            }
            let mut pt = facts.final_view(i);
            match facts.resolve(&pt) {
                Ok(r) => r.pipeline_task(&mut pt, false),
                Err(_) => continue,
            }
            finally_started = true;
            if facts.skip(i).is_some() {
                continue;
            }
            let name = task_run_name(cx.name, refs, &pt.name);
            create.push(taskrun::build(cx, &pt, true, name, propagated)?);
        }
    }
    Ok((create, finally_started))
}
