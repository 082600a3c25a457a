//! The PipelineRun reconciler (tektoncd/pipeline `pkg/reconciler/pipelinerun`): resolves
//! the Pipeline (lowering v1alpha1 PipelineResources), reads the run's TaskRuns, asks
//! [`crate::dag::plan`] what to do, and does it — cancels TaskRuns, creates the next
//! ones (owned by the run, so a change of theirs wakes it), writes the status.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::ResourceExt;
use serde_json::json;
use skiff_api::tekton::resources as lowering;
use skiff_api::tekton::v1::{Pipeline, PipelineRun, PipelineRunStatus, PipelineSpec, TaskRun};

use crate::dag::{self, ChildState};
use crate::taskrun::{is_done, set_succeeded};
use crate::{Ctx, Error};

/// Tekton's reason when the Pipeline cannot be found.
pub const REASON_COULDNT_GET_PIPELINE: &str = "CouldntGetPipeline";
/// Tekton's reason when PipelineResources cannot be bound.
pub const REASON_RESOLUTION_FAILED: &str = "PipelineRunResolutionFailed";

/// Reconciles one PipelineRun.
pub async fn reconcile(pr: Arc<PipelineRun>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if pr.metadata.deletion_timestamp.is_some()
        || is_done(
            pr.status
                .as_ref()
                .and_then(|s| s.status.conditions.as_ref()),
        )
    {
        return Ok(Action::await_change());
    }
    let ns = pr.namespace().unwrap_or_default();
    let name = pr.name_any();
    let (spec, run) = match resolve(&pr, &ctx).await {
        Ok(r) => r,
        Err((reason, message)) => {
            let mut st = pr.status.clone().unwrap_or_default();
            let now = ctx.clock.now();
            st.start_time
                .get_or_insert(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
            st.completion_time = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(now));
            set_succeeded(&mut st.status.conditions, "False", reason, &message, now);
            write_status(&ctx, &pr, st).await?;
            return Ok(Action::await_change());
        }
    };
    let trs: Api<TaskRun> = Api::namespaced(ctx.client.clone(), &ns);
    let uid = pr.uid().unwrap_or_default();
    let children: Vec<ChildState> = trs
        .list(&ListParams::default().labels(&format!("{}={name}", dag::LABEL_PIPELINE_RUN)))
        .await
        .map_err(|e| {
            Error::api(
                format!("listing the TaskRuns of PipelineRun {ns}/{name}"),
                e,
            )
        })?
        .items
        .iter()
        .filter(|t| t.owner_references().iter().any(|o| o.uid == uid))
        .map(ChildState::from_task_run)
        .collect();
    let plan = dag::plan(&run, &spec, &children, ctx.clock.now());

    for c in &plan.to_cancel {
        let patch =
            json!({"spec": {"status": dag::TASK_RUN_CANCELLED, "statusMessage": c.status_message}});
        if let Err(e) = trs
            .patch(&c.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            if !is_not_found(&e) {
                return Err(Error::api(format!("cancelling TaskRun {ns}/{}", c.name), e));
            }
        }
    }
    for pvc in &plan.pvcs {
        crate::workdir::own_claim(&ctx.options.data_dir, &ns, &pvc.name, &uid).map_err(|e| {
            Error {
                message: format!("claim {} of PipelineRun {ns}/{name}: {e}", pvc.name),
                conflict: false,
            }
        })?;
    }
    for n in &plan.to_create {
        let tr = n.to_task_run(&run);
        match trs.create(&PostParams::default(), &tr).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => {
                return Err(Error::api(format!("creating TaskRun {ns}/{}", n.name), e));
            }
        }
    }
    let mut st = pr.status.clone().unwrap_or_default();
    plan.apply_to_status(&mut st);
    write_status(&ctx, &pr, st).await?;
    Ok(match plan.requeue_after {
        Some(d) if !plan.is_done() => Action::requeue(d.max(Duration::from_millis(50))),
        _ => Action::await_change(),
    })
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The Pipeline to run and the run with PipelineResource bindings turned into params
/// and workspaces; or the reason and message it fails with.
async fn resolve(
    pr: &PipelineRun,
    ctx: &Ctx,
) -> Result<(PipelineSpec, PipelineRun), (&'static str, String)> {
    let ns = pr.namespace().unwrap_or_default();
    let name = pr.name_any();
    let (spec, declared, task_resources) = match (&pr.spec.pipeline_ref, &pr.spec.pipeline_spec) {
        (Some(r), _) if !r.name.is_empty() => {
            let api: Api<Pipeline> = Api::namespaced(ctx.client.clone(), &ns);
            let not_found = |detail: String| {
                (
                    REASON_COULDNT_GET_PIPELINE,
                    format!("Error retrieving pipeline for pipelinerun {ns}/{name}: {detail}"),
                )
            };
            let p = api
                .get_opt(&r.name)
                .await
                .map_err(|e| not_found(e.to_string()))?
                .ok_or_else(|| not_found(format!("pipelines.tekton.dev {:?} not found", r.name)))?;
            let declared = lowering::pipeline_resources(&p.metadata);
            let tasks = lowering::pipeline_task_resources(&p.metadata, "spec");
            (p.spec, declared, tasks)
        }
        (_, Some(spec)) => (
            spec.clone(),
            Vec::new(),
            lowering::pipeline_task_resources(&pr.metadata, "spec.pipelineSpec"),
        ),
        _ => {
            return Err((
                REASON_COULDNT_GET_PIPELINE,
                format!("PipelineRun {ns}/{name} has neither pipelineRef nor pipelineSpec"),
            ))
        }
    };
    if declared.is_empty() && task_resources.is_empty() {
        return Ok((spec, pr.clone()));
    }
    let fail = |e: lowering::LowerError| (REASON_RESOLUTION_FAILED, e.to_string());
    let spec = lowering::lower_pipeline_spec(&spec, &declared, &task_resources).map_err(fail)?;
    let known = crate::taskrun::pipeline_resources(ctx, &ns).await;
    let bindings = lowering::pipeline_run_resources(&pr.metadata);
    let (params, workspaces) =
        lowering::bind_pipeline_run(&declared, &bindings, &|n| known.get(n).cloned())
            .map_err(fail)?;
    let mut run = pr.clone();
    for p in params {
        if !run.spec.params.iter().any(|q| q.name == p.name) {
            run.spec.params.push(p);
        }
    }
    for w in workspaces {
        if !run.spec.workspaces.iter().any(|q| q.name == w.name) {
            run.spec.workspaces.push(w);
        }
    }
    Ok((spec, run))
}

async fn write_status(ctx: &Ctx, pr: &PipelineRun, mut st: PipelineRunStatus) -> Result<(), Error> {
    st.status.observed_generation = pr.metadata.generation;
    if pr.status.as_ref() == Some(&st) {
        return Ok(());
    }
    let ns = pr.namespace().unwrap_or_default();
    let api: Api<PipelineRun> = Api::namespaced(ctx.client.clone(), &ns);
    let mut obj = pr.clone();
    obj.status = Some(st);
    api.replace_status(&pr.name_any(), &PostParams::default(), &obj)
        .await
        .map_err(|e| {
            Error::api(
                format!("writing the status of PipelineRun {ns}/{}", pr.name_any()),
                e,
            )
        })?;
    Ok(())
}
