//! Scenario tests: a small simulator feeds each plan's TaskRuns back as children and
//! finishes them as a TaskRun controller would.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use skiff_api::tekton::v1::{
    EmbeddedTask, Param, ParamSpec, ParamValue, PipelineRef, PipelineResult, PipelineRun,
    PipelineRunSpec, PipelineSpec, PipelineTask, PipelineTaskRunSpec, PipelineTaskRunTemplate,
    PipelineWorkspaceDeclaration, Step, TaskRef, TaskRunResult, TaskSpec, TimeoutFields,
    WhenExpression, WorkspaceBinding, WorkspacePipelineTaskBinding,
};

use super::*;

fn t0() -> Timestamp {
    "2024-05-01T10:00:00Z".parse().unwrap()
}

fn mins(m: i64) -> Timestamp {
    t0().checked_add(SignedDuration::from_mins(m)).unwrap()
}

fn task(name: &str) -> PipelineTask {
    PipelineTask {
        name: name.into(),
        task_ref: Some(TaskRef {
            name: format!("{name}-task"),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn after(name: &str, deps: &[&str]) -> PipelineTask {
    PipelineTask {
        run_after: deps.iter().map(|d| d.to_string()).collect(),
        ..task(name)
    }
}

fn with_params(mut pt: PipelineTask, params: &[(&str, &str)]) -> PipelineTask {
    pt.params = params.iter().map(|(n, v)| Param::string(n, v)).collect();
    pt
}

fn when(input: &str, op: &str, values: &[&str]) -> WhenExpression {
    WhenExpression {
        input: input.into(),
        operator: op.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
        cel: String::new(),
    }
}

fn pipeline(tasks: Vec<PipelineTask>, finally: Vec<PipelineTask>) -> PipelineSpec {
    PipelineSpec {
        tasks,
        finally,
        ..Default::default()
    }
}

fn run_of(spec: PipelineRunSpec) -> PipelineRun {
    let mut run = PipelineRun::new("pr", spec);
    run.metadata.namespace = Some("ns".into());
    run.metadata.uid = Some("uid-1".into());
    run
}

fn pipeline_run() -> PipelineRun {
    run_of(PipelineRunSpec {
        pipeline_ref: Some(PipelineRef {
            name: "p".into(),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// Feeds plans back: created TaskRuns become running children, the status is updated.
struct Sim {
    run: PipelineRun,
    pipeline: PipelineSpec,
    children: Vec<ChildState>,
    now: Timestamp,
}

impl Sim {
    fn new(pipeline: PipelineSpec) -> Sim {
        Sim::with_run(pipeline_run(), pipeline)
    }

    fn with_run(run: PipelineRun, pipeline: PipelineSpec) -> Sim {
        Sim {
            run,
            pipeline,
            children: Vec::new(),
            now: t0(),
        }
    }

    fn step(&mut self) -> Plan {
        let p = plan(&self.run, &self.pipeline, &self.children, self.now);
        p.apply_to_status(self.run.status.get_or_insert_with(Default::default));
        for c in &p.to_create {
            self.children.push(ChildState {
                pipeline_task: c.pipeline_task.clone(),
                name: c.name.clone(),
                ..Default::default()
            });
        }
        for c in &p.to_cancel {
            let child = self.children.iter_mut().find(|x| x.name == c.name).unwrap();
            child.spec_status = TASK_RUN_CANCELLED.into();
            child.spec_status_message = c.status_message.clone();
        }
        p
    }

    fn child(&mut self, task: &str) -> &mut ChildState {
        self.children
            .iter_mut()
            .find(|c| c.pipeline_task == task)
            .unwrap_or_else(|| panic!("no TaskRun for {task}"))
    }

    fn succeed(&mut self, task: &str, results: &[(&str, &str)]) {
        let c = self.child(task);
        c.succeeded = Some(true);
        c.reason = "Succeeded".into();
        c.results = results
            .iter()
            .map(|(n, v)| TaskRunResult {
                name: n.to_string(),
                type_: "string".into(),
                value: ParamValue::String(v.to_string()),
            })
            .collect();
    }

    fn fail(&mut self, task: &str) {
        let c = self.child(task);
        c.succeeded = Some(false);
        c.reason = "Failed".into();
    }

    /// The TaskRun controller honouring a cancel request.
    fn cancelled(&mut self, task: &str) {
        let c = self.child(task);
        assert_eq!(
            c.spec_status, TASK_RUN_CANCELLED,
            "{task} was not cancelled"
        );
        c.succeeded = Some(false);
        c.reason = TASK_RUN_CANCELLED.into();
    }
}

fn created(p: &Plan) -> Vec<&str> {
    p.to_create
        .iter()
        .map(|c| c.pipeline_task.as_str())
        .collect()
}

fn cond(p: &Plan) -> (&str, &str, &str) {
    let c = p.condition.as_ref().expect("a condition");
    (
        c.status.as_str(),
        c.reason.as_deref().unwrap_or(""),
        c.message.as_deref().unwrap_or(""),
    )
}

fn skipped(p: &Plan) -> Vec<(&str, &str)> {
    p.skipped
        .iter()
        .map(|s| (s.name.as_str(), s.reason.as_str()))
        .collect()
}

fn param<'a>(p: &'a Plan, task: &str, name: &str) -> &'a ParamValue {
    let tr = p
        .to_create
        .iter()
        .find(|c| c.pipeline_task == task)
        .unwrap();
    &tr.spec
        .params
        .iter()
        .find(|x| x.name == name)
        .unwrap()
        .value
}

#[test]
fn linear_chain() {
    let mut sim = Sim::new(pipeline(
        vec![task("a"), after("b", &["a"]), after("c", &["b"])],
        vec![],
    ));
    let p = sim.step();
    assert_eq!(p.start_time, Some(t0()));
    assert_eq!(created(&p), ["a"]);
    assert_eq!(p.to_create[0].name, "pr-a");
    assert_eq!(
        cond(&p),
        (
            "Unknown",
            "Running",
            "Tasks Completed: 0 (Failed: 0, Cancelled 0), Incomplete: 3, Skipped: 0"
        )
    );
    assert!(sim.step().to_create.is_empty(), "nothing new while a runs");
    sim.succeed("a", &[]);
    assert_eq!(created(&sim.step()), ["b"]);
    sim.succeed("b", &[]);
    let p = sim.step();
    assert_eq!(created(&p), ["c"]);
    assert_eq!(
        cond(&p).2,
        "Tasks Completed: 2 (Failed: 0, Cancelled 0), Incomplete: 1, Skipped: 0"
    );
    sim.succeed("c", &[]);
    let p = sim.step();
    assert!(p.is_done());
    assert_eq!(
        cond(&p),
        (
            "True",
            "Succeeded",
            "Tasks Completed: 3 (Failed: 0, Cancelled 0), Skipped: 0"
        )
    );
    assert_eq!(p.completion_time, Some(t0()));
    let refs: Vec<_> = p.child_references.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(refs, ["pr-a", "pr-b", "pr-c"]);
    assert_eq!(p.child_references[0].kind, "TaskRun");
    assert_eq!(p.child_references[0].api_version, "tekton.dev/v1");
    // Done: nothing more to decide.
    assert_eq!(sim.step(), Plan::default());
}

#[test]
fn diamond() {
    let mut sim = Sim::new(pipeline(
        vec![
            task("a"),
            after("b", &["a"]),
            after("c", &["a"]),
            after("d", &["b", "c"]),
        ],
        vec![],
    ));
    assert_eq!(created(&sim.step()), ["a"]);
    sim.succeed("a", &[]);
    assert_eq!(created(&sim.step()), ["b", "c"]);
    sim.succeed("b", &[]);
    assert!(created(&sim.step()).is_empty(), "d waits for c");
    sim.succeed("c", &[]);
    assert_eq!(created(&sim.step()), ["d"]);
}

#[test]
fn dag_shape_and_cycles() {
    let tasks = vec![
        task("a"),
        after("b", &["a"]),
        with_params(task("c"), &[("digest", "$(tasks.b.results.digest)")]),
    ];
    let dag = Dag::build(&tasks).unwrap();
    assert_eq!(dag.roots(), ["a"]);
    assert_eq!(dag.parents("c"), ["b"]);
    assert_eq!(dag.children("a"), ["b"]);
    assert_eq!(dag.topological_order(), ["a", "b", "c"]);
    let done = ["a".to_string()].into();
    assert_eq!(dag.candidates(&done), ["b"]);

    let cyclic = vec![after("a", &["b"]), after("b", &["a"]), after("c", &["a"])];
    let err = Dag::build(&cyclic).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cycle detected; task \"a\" depends on \"b\""
    );
    assert_eq!(err.reason(), "PipelineInvalidGraph");
    let err = Dag::build(&[after("a", &["ghost"])]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "couldn't add link between a and ghost: task a depends on ghost but ghost wasn't present in Pipeline"
    );
    let err = Dag::build(&[task("a"), task("a")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "task a is already present in Graph, can't add it again: duplicate pipeline task"
    );

    // The run fails with Tekton's condition and does not loop.
    let mut sim = Sim::new(pipeline(cyclic, vec![]));
    let p = sim.step();
    assert!(p.to_create.is_empty());
    assert_eq!(
        cond(&p),
        (
            "False",
            "PipelineInvalidGraph",
            "[User error] PipelineRun ns/pr's Pipeline DAG is invalid: cycle detected; task \"a\" depends on \"b\""
        )
    );
}

#[test]
fn results_pass_from_task_to_task() {
    let mut consumer = with_params(
        task("b"),
        &[("image", "registry/app@$(tasks.a.results.digest)")],
    );
    consumer.params.push(Param {
        name: "tags".into(),
        value: ParamValue::String("$(tasks.a.results.tags[*])".into()),
    });
    let mut sim = Sim::new(pipeline(vec![task("a"), consumer], vec![]));
    assert_eq!(created(&sim.step()), ["a"], "b waits for the result");
    sim.succeed("a", &[("digest", "sha256:abc")]);
    sim.child("a").results.push(TaskRunResult {
        name: "tags".into(),
        type_: "array".into(),
        value: ParamValue::Array(vec!["v1".into(), "latest".into()]),
    });
    let p = sim.step();
    assert_eq!(created(&p), ["b"]);
    assert_eq!(
        param(&p, "b", "image"),
        &ParamValue::String("registry/app@sha256:abc".into())
    );
    assert_eq!(
        param(&p, "b", "tags"),
        &ParamValue::Array(vec!["v1".into(), "latest".into()])
    );
}

#[test]
fn missing_result_of_a_finished_task_fails_the_run() {
    let mut sim = Sim::new(pipeline(
        vec![
            task("a"),
            with_params(task("b"), &[("x", "$(tasks.a.results.out)")]),
        ],
        vec![],
    ));
    sim.step();
    sim.succeed("a", &[]);
    let p = sim.step();
    assert!(p.to_create.is_empty());
    assert_eq!(
        cond(&p),
        (
            "False",
            "InvalidTaskResultReference",
            "Invalid task result reference: Could not find result with name out for task a"
        )
    );
}

#[test]
fn when_false_skips_only_that_task() {
    let mut guarded = task("deploy");
    guarded.when = vec![when("$(params.env)", "in", &["prod"])];
    let mut spec = pipeline(vec![guarded, after("notify", &["deploy"])], vec![]);
    spec.params = vec![ParamSpec {
        name: "env".into(),
        default: Some(ParamValue::String("dev".into())),
        ..Default::default()
    }];
    let mut sim = Sim::new(spec);
    let p = sim.step();
    assert_eq!(
        created(&p),
        ["notify"],
        "runAfter a when-skipped task still runs"
    );
    assert_eq!(
        skipped(&p),
        [("deploy", "When Expressions evaluated to false")]
    );
    assert_eq!(
        p.skipped[0].when_expressions,
        [when("dev", "in", &["prod"])],
        "the evaluated expressions are reported"
    );
    sim.succeed("notify", &[]);
    let p = sim.step();
    assert_eq!(
        cond(&p),
        (
            "True",
            "Completed",
            "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 1"
        )
    );
}

#[test]
fn skip_cascades_through_missing_results() {
    let mut a = task("a");
    a.when = vec![when("x", "notin", &["x"])];
    let tasks = vec![
        a,
        with_params(task("b"), &[("v", "$(tasks.a.results.out)")]),
        after("c", &["b"]),
        after("d", &["a"]),
    ];
    let mut sim = Sim::new(pipeline(tasks, vec![]));
    let p = sim.step();
    assert_eq!(created(&p), ["d"]);
    assert_eq!(
        skipped(&p),
        [
            ("a", "When Expressions evaluated to false"),
            ("b", "Results were missing"),
            ("c", "Parent Tasks were skipped"),
        ]
    );
    sim.succeed("d", &[]);
    assert_eq!(
        cond(&sim.step()),
        (
            "True",
            "Completed",
            "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 3"
        )
    );
}

#[test]
fn finally_after_success() {
    let mut sim = Sim::new(pipeline(vec![task("a")], vec![task("cleanup")]));
    assert_eq!(created(&sim.step()), ["a"]);
    sim.now = mins(5);
    sim.succeed("a", &[]);
    let p = sim.step();
    assert_eq!(created(&p), ["cleanup"]);
    assert!(p.to_create[0].finally);
    assert_eq!(p.to_create[0].labels[LABEL_MEMBER_OF], "finally");
    assert_eq!(p.finally_start_time, Some(mins(5)));
    sim.succeed("cleanup", &[]);
    let p = sim.step();
    assert_eq!(
        cond(&p),
        (
            "True",
            "Succeeded",
            "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0"
        )
    );
    assert_eq!(p.finally_start_time, None, "set once");
}

#[test]
fn failure_stops_the_dag_and_runs_finally() {
    let mut sim = Sim::new(pipeline(
        vec![task("a"), task("b"), after("c", &["a"])],
        vec![task("report")],
    ));
    assert_eq!(created(&sim.step()), ["a", "b"]);
    sim.fail("a");
    let p = sim.step();
    assert!(p.to_create.is_empty(), "finally waits for b");
    assert_eq!(skipped(&p), [("c", "PipelineRun was stopping")]);
    assert_eq!(
        cond(&p),
        (
            "Unknown",
            "Running",
            "Tasks Completed: 1 (Failed: 1, Cancelled 0), Incomplete: 2, Skipped: 1"
        )
    );
    sim.succeed("b", &[]);
    let p = sim.step();
    assert_eq!(created(&p), ["report"]);
    sim.succeed("report", &[]);
    assert_eq!(
        cond(&sim.step()),
        (
            "False",
            "Failed",
            "Tasks Completed: 3 (Failed: 1, Cancelled 0), Skipped: 1"
        )
    );
}

#[test]
fn failure_without_finally_is_stopping() {
    let mut sim = Sim::new(pipeline(vec![task("a"), task("b")], vec![]));
    sim.step();
    sim.fail("a");
    let p = sim.step();
    assert_eq!(cond(&p).1, "PipelineRunStopping");
}

#[test]
fn finally_sees_execution_status() {
    let mut report = with_params(
        task("report"),
        &[
            ("all", "$(tasks.status)"),
            ("build", "$(tasks.build.status)"),
        ],
    );
    report.when = vec![when("$(tasks.build.status)", "in", &["Failed"])];
    let mut on_success = task("celebrate");
    on_success.when = vec![when("$(tasks.status)", "in", &["Succeeded"])];
    let mut sim = Sim::new(pipeline(vec![task("build")], vec![report, on_success]));
    sim.step();
    sim.fail("build");
    let p = sim.step();
    assert_eq!(created(&p), ["report"]);
    assert_eq!(
        param(&p, "report", "all"),
        &ParamValue::String("Failed".into())
    );
    assert_eq!(
        param(&p, "report", "build"),
        &ParamValue::String("Failed".into())
    );
    assert_eq!(
        skipped(&p),
        [("celebrate", "When Expressions evaluated to false")]
    );
    assert_eq!(
        p.skipped[0].when_expressions,
        [when("Failed", "in", &["Succeeded"])]
    );

    let mut sim = Sim::new(pipeline(
        vec![task("build")],
        vec![with_params(task("report"), &[("all", "$(tasks.status)")])],
    ));
    sim.step();
    sim.succeed("build", &[]);
    assert_eq!(
        param(&sim.step(), "report", "all"),
        &ParamValue::String("Succeeded".into())
    );
}

#[test]
fn retries_go_to_the_taskrun() {
    let mut pt = with_params(
        task("flaky"),
        &[("attempts", "$(context.pipelineTask.retries)")],
    );
    pt.retries = Some(3);
    let mut sim = Sim::new(pipeline(vec![pt, task("solid")], vec![]));
    let p = sim.step();
    assert_eq!(p.to_create[0].spec.retries, Some(3));
    assert_eq!(
        param(&p, "flaky", "attempts"),
        &ParamValue::String("3".into())
    );
    assert_eq!(p.to_create[1].spec.retries, None);
    // The TaskRun controller retries in place: the child stays running meanwhile.
    sim.child("flaky").retries_done = 2;
    assert!(!sim.step().is_done());
}

#[test]
fn pipeline_timeout_cancels_everything() {
    let mut sim = Sim::new(pipeline(
        vec![task("a"), task("b"), after("c", &["a"])],
        vec![task("f")],
    ));
    sim.step();
    sim.succeed("b", &[]);
    sim.now = mins(61);
    let p = sim.step();
    assert!(p.to_create.is_empty());
    assert_eq!(
        p.to_cancel,
        [CancelTaskRun {
            name: "pr-a".into(),
            pipeline_task: "a".into(),
            status_message: CANCELLED_BY_PIPELINE_TIMEOUT_MSG.into(),
        }]
    );
    assert_eq!(
        cond(&p),
        (
            "False",
            "PipelineRunTimeout",
            "PipelineRun \"pr\" failed to finish within \"1h0m0s\""
        )
    );
    assert_eq!(p.completion_time, Some(mins(61)));
}

#[test]
fn tasks_timeout_still_runs_finally() {
    let run = run_of(PipelineRunSpec {
        timeouts: Some(TimeoutFields {
            pipeline: Some("2h".into()),
            tasks: Some("1h".into()),
            finally: None,
        }),
        ..Default::default()
    });
    let mut sim = Sim::with_run(
        run,
        pipeline(vec![task("a"), after("b", &["a"])], vec![task("f")]),
    );
    let p = sim.step();
    assert_eq!(p.to_create[0].spec.timeout.as_deref(), Some("1h0m0s"));
    assert_eq!(
        p.requeue_after,
        Some(std::time::Duration::from_secs(3600) + std::time::Duration::from_nanos(1))
    );
    sim.now = mins(61);
    let p = sim.step();
    assert!(p.to_create.is_empty());
    assert_eq!(p.to_cancel.len(), 1);
    assert_eq!(
        p.to_cancel[0].status_message,
        CANCELLED_BY_PIPELINE_TIMEOUT_MSG
    );
    assert_eq!(cond(&p).0, "Unknown");
    sim.cancelled("a");
    sim.now = mins(62);
    let p = sim.step();
    assert_eq!(created(&p), ["f"]);
    assert_eq!(skipped(&p), [("b", "PipelineRun was stopping")]);
    // Finally gets what is left of the pipeline timeout (`timeouts.finally` = 1h).
    assert_eq!(p.to_create[0].spec.timeout.as_deref(), Some("58m0s"));
    sim.succeed("f", &[]);
    assert_eq!(
        cond(&sim.step()),
        (
            "False",
            "Failed",
            "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 1"
        )
    );
}

#[test]
fn taskrun_timeouts_are_capped_by_what_is_left() {
    let run = run_of(PipelineRunSpec {
        timeouts: Some(TimeoutFields {
            pipeline: Some("1h".into()),
            ..Default::default()
        }),
        ..Default::default()
    });
    let mut short = after("short", &["a"]);
    short.timeout = Some("5m".into());
    let mut sim = Sim::with_run(
        run,
        pipeline(vec![task("a"), short, after("long", &["a"])], vec![]),
    );
    sim.step();
    sim.now = mins(10);
    sim.succeed("a", &[]);
    let p = sim.step();
    assert_eq!(p.to_create[0].spec.timeout.as_deref(), Some("5m0s"));
    assert_eq!(p.to_create[1].spec.timeout.as_deref(), Some("50m0s"));
}

#[test]
fn cancelled_cancels_all() {
    let mut sim = Sim::new(pipeline(vec![task("a"), task("b")], vec![task("f")]));
    sim.step();
    sim.succeed("b", &[]);
    sim.run.spec.status = SPEC_STATUS_CANCELLED.into();
    let p = sim.step();
    assert!(p.to_create.is_empty());
    assert_eq!(
        p.to_cancel,
        [CancelTaskRun {
            name: "pr-a".into(),
            pipeline_task: "a".into(),
            status_message: CANCELLED_BY_PIPELINE_MSG.into(),
        }]
    );
    assert_eq!(
        cond(&p),
        ("False", "Cancelled", "PipelineRun \"pr\" was cancelled")
    );
    assert_eq!(p.completion_time, Some(t0()));
}

#[test]
fn cancelled_run_finally() {
    let mut sim = Sim::new(pipeline(
        vec![task("a"), after("b", &["a"])],
        vec![task("f")],
    ));
    sim.step();
    sim.run.spec.status = SPEC_STATUS_CANCELLED_RUN_FINALLY.into();
    let p = sim.step();
    assert_eq!(p.to_cancel.len(), 1);
    assert_eq!(p.to_cancel[0].status_message, CANCELLED_BY_PIPELINE_MSG);
    assert_eq!(cond(&p).1, "CancelledRunningFinally");
    assert_eq!(skipped(&p), [("b", "PipelineRun was gracefully cancelled")]);
    // Asked once: the next reconcile does not cancel again.
    assert!(sim.step().to_cancel.is_empty());
    sim.cancelled("a");
    let p = sim.step();
    assert_eq!(created(&p), ["f"]);
    assert_eq!(
        cond(&p),
        (
            "Unknown",
            "CancelledRunningFinally",
            "Tasks Completed: 1 (Failed: 0, Cancelled 1), Incomplete: 1, Skipped: 1"
        )
    );
    sim.succeed("f", &[]);
    assert_eq!(
        cond(&sim.step()),
        ("False", "Cancelled", "PipelineRun \"pr\" was cancelled")
    );
}

#[test]
fn stopped_run_finally_lets_running_tasks_end() {
    let mut sim = Sim::new(pipeline(
        vec![task("a"), after("b", &["a"])],
        vec![task("f")],
    ));
    sim.step();
    sim.run.spec.status = SPEC_STATUS_STOPPED_RUN_FINALLY.into();
    let p = sim.step();
    assert!(p.to_cancel.is_empty());
    assert_eq!(cond(&p).1, "StoppedRunningFinally");
    sim.succeed("a", &[]);
    let p = sim.step();
    assert_eq!(created(&p), ["f"]);
    assert_eq!(skipped(&p), [("b", "PipelineRun was gracefully stopped")]);
    sim.succeed("f", &[]);
    assert_eq!(
        cond(&sim.step()),
        ("False", "Cancelled", "PipelineRun \"pr\" was cancelled")
    );
}

#[test]
fn pending_waits() {
    let mut run = pipeline_run();
    run.spec.status = SPEC_STATUS_PENDING.into();
    let mut sim = Sim::with_run(run, pipeline(vec![task("a")], vec![]));
    let p = sim.step();
    assert!(p.to_create.is_empty());
    assert_eq!(p.start_time, None);
    assert_eq!(
        cond(&p),
        (
            "Unknown",
            "PipelineRunPending",
            "PipelineRun \"pr\" is pending"
        )
    );
    sim.run.spec.status.clear();
    let p = sim.step();
    assert_eq!(created(&p), ["a"]);
    assert_eq!(p.start_time, Some(t0()));
}

#[test]
fn fan_out_fan_in_of_twenty() {
    let mids: Vec<String> = (0..20).map(|i| format!("m{i:02}")).collect();
    let mut tasks = vec![task("root")];
    tasks.extend(mids.iter().map(|m| after(m, &["root"])));
    let refs: Vec<&str> = mids.iter().map(String::as_str).collect();
    tasks.push(after("sink", &refs));
    let mut sim = Sim::new(pipeline(tasks, vec![]));
    assert_eq!(created(&sim.step()), ["root"]);
    sim.succeed("root", &[]);
    let p = sim.step();
    assert_eq!(created(&p), refs);
    for m in &mids[..19] {
        sim.succeed(m, &[]);
    }
    let p = sim.step();
    assert!(p.to_create.is_empty());
    assert_eq!(
        cond(&p).2,
        "Tasks Completed: 20 (Failed: 0, Cancelled 0), Incomplete: 2, Skipped: 0"
    );
    sim.succeed("m19", &[]);
    assert_eq!(created(&sim.step()), ["sink"]);
    sim.succeed("sink", &[]);
    assert_eq!(
        cond(&sim.step()).2,
        "Tasks Completed: 22 (Failed: 0, Cancelled 0), Skipped: 0"
    );
}

#[test]
fn child_names_are_shortened() {
    let mut run = pipeline_run();
    run.metadata.name = Some("nightly-release-pipeline-run-with-a-long-name-x7k2p-2024".into());
    let long = "a-very-long-pipeline-task-name-that-goes-on-and-on-and-on";
    let mut sim = Sim::with_run(run, pipeline(vec![task("build-image"), task(long)], vec![]));
    let p = sim.step();
    // Values from Knative's kmeta.ChildName.
    assert_eq!(
        p.to_create[0].name,
        "nightly-release-pipe7d25c3814668c531a2572aa67c79ef5-build-image"
    );
    assert_eq!(
        task_run_name("release-run", &[], long),
        "release-run0e05639806017dae9ea2b454d36907ad-a-very-long-pipelin"
    );
    assert!(p.to_create.iter().all(|c| c.name.len() <= 63));
    // A name already recorded in the status is reused.
    let refs = vec![skiff_api::tekton::v1::ChildStatusReference {
        name: "custom".into(),
        pipeline_task_name: "x".into(),
        kind: "TaskRun".into(),
        ..Default::default()
    }];
    assert_eq!(task_run_name("pr", &refs, "x"), "custom");
}

#[test]
fn params_context_and_labels() {
    let mut pt = with_params(
        task("build"),
        &[
            ("image", "$(params.registry)/$(params.app):$(params.cfg.tag)"),
            ("who", "$(context.pipelineRun.namespace)/$(context.pipelineRun.name)/$(context.pipeline.name)/$(context.pipelineRun.uid)"),
        ],
    );
    pt.params.push(Param {
        name: "flags".into(),
        value: ParamValue::Array(vec!["-v".into(), "$(params.flags[*])".into()]),
    });
    pt.params.push(Param {
        name: "cfg".into(),
        value: ParamValue::String("$(params.cfg[*])".into()),
    });
    pt.on_error = "continue".into();
    let mut spec = pipeline(vec![pt], vec![]);
    spec.params = vec![
        ParamSpec {
            name: "registry".into(),
            default: Some(ParamValue::String("$(params.host)/lib".into())),
            ..Default::default()
        },
        ParamSpec {
            name: "host".into(),
            default: Some(ParamValue::String("r.io".into())),
            ..Default::default()
        },
        ParamSpec {
            name: "app".into(),
            ..Default::default()
        },
        ParamSpec {
            name: "flags".into(),
            type_: "array".into(),
            default: Some(ParamValue::Array(vec!["-x".into()])),
            ..Default::default()
        },
        ParamSpec {
            name: "cfg".into(),
            type_: "object".into(),
            ..Default::default()
        },
    ];
    let mut run = pipeline_run();
    run.metadata.labels = Some([("team".to_string(), "web".to_string())].into());
    run.metadata.annotations = Some(
        [
            ("note".to_string(), "hi".to_string()),
            ("chains.tekton.dev/signed".to_string(), "true".to_string()),
        ]
        .into(),
    );
    let cfg: BTreeMap<String, String> = [("tag".to_string(), "v2".to_string())].into();
    run.spec.params = vec![
        Param::string("app", "shop"),
        Param {
            name: "cfg".into(),
            value: ParamValue::Object(cfg.clone()),
        },
    ];
    run.spec.task_run_template = Some(PipelineTaskRunTemplate {
        service_account_name: "builder".into(),
        ..Default::default()
    });
    let mut sim = Sim::with_run(run, spec);
    let p = sim.step();
    assert_eq!(
        param(&p, "build", "image"),
        &ParamValue::String("r.io/lib/shop:v2".into())
    );
    assert_eq!(
        param(&p, "build", "who"),
        &ParamValue::String("ns/pr/p/uid-1".into())
    );
    assert_eq!(
        param(&p, "build", "flags"),
        &ParamValue::Array(vec!["-v".into(), "-x".into()])
    );
    assert_eq!(param(&p, "build", "cfg"), &ParamValue::Object(cfg));
    let tr = &p.to_create[0];
    assert_eq!(tr.spec.service_account_name, "builder");
    assert_eq!(tr.spec.task_ref.as_ref().unwrap().name, "build-task");
    let labels: Vec<(&str, &str)> = tr
        .labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        labels,
        [
            ("team", "web"),
            ("tekton.dev/memberOf", "tasks"),
            ("tekton.dev/pipeline", "p"),
            ("tekton.dev/pipelineRun", "pr"),
            ("tekton.dev/pipelineTask", "build"),
        ]
    );
    assert_eq!(tr.annotations.get("note").map(String::as_str), Some("hi"));
    assert!(!tr.annotations.contains_key("chains.tekton.dev/signed"));
    assert_eq!(
        tr.annotations[ANNOTATION_PIPELINE_TASK_ON_ERROR],
        "continue"
    );
    let obj = tr.to_task_run(&sim.run);
    assert_eq!(obj.metadata.namespace.as_deref(), Some("ns"));
    let owner = &obj.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("PipelineRun", "uid-1", Some(true))
    );
    // The status keeps the pipeline with params substituted.
    let stored = sim
        .run
        .status
        .as_ref()
        .unwrap()
        .pipeline_spec
        .as_ref()
        .unwrap();
    assert_eq!(
        stored.tasks[0].params[0].value,
        ParamValue::String("r.io/lib/shop:v2".into())
    );
}

#[test]
fn embedded_task_spec_gets_params_and_results() {
    let emb = EmbeddedTask {
        task_spec: TaskSpec {
            steps: vec![Step {
                name: "echo".into(),
                image: "alpine".into(),
                script: "echo $(params.msg) $(tasks.a.results.id) $(workspaces.src.path)".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
        metadata: Some(skiff_api::tekton::v1::PipelineTaskMetadata {
            labels: [
                ("tekton.dev/pipelineTask".to_string(), "ignored".to_string()),
                ("kind".to_string(), "inline".to_string()),
            ]
            .into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let b = PipelineTask {
        name: "b".into(),
        task_spec: Some(emb),
        run_after: vec!["a".into()],
        ..Default::default()
    };
    let mut spec = pipeline(vec![task("a"), b], vec![]);
    spec.params = vec![ParamSpec {
        name: "msg".into(),
        default: Some(ParamValue::String("hello".into())),
        ..Default::default()
    }];
    spec.workspaces = vec![PipelineWorkspaceDeclaration {
        name: "src".into(),
        ..Default::default()
    }];
    let mut run = pipeline_run();
    run.spec.workspaces = vec![WorkspaceBinding {
        name: "src".into(),
        empty_dir: Some(Default::default()),
        ..Default::default()
    }];
    let mut sim = Sim::with_run(run, spec);
    sim.step();
    sim.succeed("a", &[("id", "42")]);
    let p = sim.step();
    let tr = &p.to_create[0];
    let ts = tr.spec.task_spec.as_ref().unwrap();
    assert_eq!(ts.steps[0].script, "echo hello 42 $(workspaces.src.path)");
    assert_eq!(tr.spec.workspaces.len(), 1, "used workspace propagated");
    assert_eq!(tr.spec.workspaces[0].name, "src");
    assert!(tr.spec.workspaces[0].empty_dir.is_some());
    assert_eq!(
        tr.labels["tekton.dev/pipelineTask"], "b",
        "Tekton's labels win"
    );
    assert_eq!(tr.labels["kind"], "inline");
}

#[test]
fn workspaces_are_mapped() {
    let mut pt = task("build");
    pt.workspaces = vec![
        WorkspacePipelineTaskBinding {
            name: "source".into(),
            workspace: "shared".into(),
            sub_path: "app/$(context.pipelineRun.name)".into(),
        },
        WorkspacePipelineTaskBinding {
            name: "cache".into(),
            workspace: String::new(),
            sub_path: String::new(),
        },
    ];
    let mut spec = pipeline(vec![pt], vec![]);
    spec.workspaces = vec![
        PipelineWorkspaceDeclaration {
            name: "shared".into(),
            ..Default::default()
        },
        PipelineWorkspaceDeclaration {
            name: "cache".into(),
            ..Default::default()
        },
    ];
    let mut run = pipeline_run();
    run.spec.workspaces = vec![
        WorkspaceBinding {
            name: "shared".into(),
            sub_path: "runs".into(),
            persistent_volume_claim: Some(
                k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource {
                    claim_name: "data".into(),
                    read_only: None,
                },
            ),
            ..Default::default()
        },
        WorkspaceBinding {
            name: "cache".into(),
            volume_claim_template: Some(Default::default()),
            ..Default::default()
        },
    ];
    let mut sim = Sim::with_run(run, spec);
    let p = sim.step();
    let ws = &p.to_create[0].spec.workspaces;
    assert_eq!(ws[0].name, "source");
    assert_eq!(ws[0].sub_path, "runs/app/pr");
    assert_eq!(
        ws[0].persistent_volume_claim.as_ref().unwrap().claim_name,
        "data"
    );
    assert_eq!(ws[1].name, "cache");
    let claim = pvc_name("", "cache", "pr");
    assert_eq!(
        ws[1].persistent_volume_claim.as_ref().unwrap().claim_name,
        claim
    );
    assert_eq!(p.pvcs.len(), 1);
    assert_eq!(p.pvcs[0].name, claim);
}

#[test]
fn run_validation() {
    let mut spec = pipeline(vec![task("a")], vec![]);
    spec.params = vec![
        ParamSpec {
            name: "url".into(),
            ..Default::default()
        },
        ParamSpec {
            name: "rev".into(),
            ..Default::default()
        },
        ParamSpec {
            name: "level".into(),
            default: Some(ParamValue::String("1".into())),
            ..Default::default()
        },
    ];
    spec.workspaces = vec![
        PipelineWorkspaceDeclaration {
            name: "src".into(),
            ..Default::default()
        },
        PipelineWorkspaceDeclaration {
            name: "extra".into(),
            optional: true,
            ..Default::default()
        },
    ];
    let mut run = pipeline_run();
    let err = validate_run(&spec, &run.spec).unwrap_err();
    assert_eq!(
        err,
        PlanError::MissingParams(vec!["url".into(), "rev".into()])
    );
    let p = plan(&run, &spec, &[], t0());
    assert_eq!(
        cond(&p),
        (
            "False",
            "ParameterMissing",
            "PipelineRun ns/pr is missing some parameters required by Pipeline ns/p: PipelineRun missing parameters: [url rev]"
        )
    );
    assert!(p.to_create.is_empty());

    run.spec.params = vec![
        Param::string("url", "u"),
        Param::string("rev", "r"),
        Param {
            name: "level".into(),
            value: ParamValue::Array(vec![]),
        },
    ];
    let p = plan(&run, &spec, &[], t0());
    assert_eq!(
        cond(&p),
        (
            "False",
            "ParameterTypeMismatch",
            "PipelineRun ns/pr parameters have mismatching types with Pipeline ns/p's parameters: parameters have inconsistent types : [level]"
        )
    );

    run.spec.params.pop();
    let p = plan(&run, &spec, &[], t0());
    assert_eq!(
        cond(&p),
        (
            "False",
            "InvalidWorkspaceBindings",
            "[User error] PipelineRun ns/pr doesn't bind Pipeline ns/p's Workspaces correctly: pipeline requires workspace with name \"src\" be provided by pipelinerun"
        )
    );

    run.spec.workspaces = vec![WorkspaceBinding {
        name: "src".into(),
        empty_dir: Some(Default::default()),
        ..Default::default()
    }];
    run.spec.task_run_specs = vec![PipelineTaskRunSpec {
        pipeline_task_name: "nope".into(),
        ..Default::default()
    }];
    assert_eq!(
        cond(&plan(&run, &spec, &[], t0())),
        (
            "False",
            "InvalidTaskRunSpecs",
            "[User error] PipelineRun ns/pr doesn't define taskRunSpecs correctly: pipelineRun's taskrunSpecs defined wrong taskName: \"nope\", does not exist in Pipeline"
        )
    );
    run.spec.task_run_specs.clear();
    assert!(validate_run(&spec, &run.spec).is_ok());

    let obj = ParamSpec {
        name: "git".into(),
        type_: "object".into(),
        properties: Some(
            [
                ("url".to_string(), Default::default()),
                ("rev".to_string(), Default::default()),
            ]
            .into(),
        ),
        ..Default::default()
    };
    let spec2 = PipelineSpec {
        params: vec![obj],
        ..spec.clone()
    };
    run.spec.params = vec![Param {
        name: "git".into(),
        value: ParamValue::Object([("url".to_string(), "u".to_string())].into()),
    }];
    assert_eq!(
        validate_run(&spec2, &run.spec).unwrap_err().to_string(),
        "PipelineRun missing object keys for parameters: map[git:[rev]]"
    );
}

#[test]
fn task_workspace_unbound_fails_creation() {
    let mut pt = task("a");
    pt.workspaces = vec![WorkspacePipelineTaskBinding {
        name: "src".into(),
        workspace: "ghost".into(),
        sub_path: String::new(),
    }];
    let p = plan(&pipeline_run(), &pipeline(vec![pt], vec![]), &[], t0());
    assert_eq!(
        cond(&p),
        (
            "False",
            "CreateRunFailed",
            "expected workspace \"ghost\" to be provided by pipelinerun for pipeline task \"a\""
        )
    );
}

#[test]
fn cel_is_refused() {
    let mut pt = task("a");
    pt.when = vec![WhenExpression {
        cel: "'a' == 'a'".into(),
        ..Default::default()
    }];
    let p = plan(&pipeline_run(), &pipeline(vec![pt], vec![]), &[], t0());
    assert_eq!(cond(&p).1, "CELEvaluationFailed");
    assert!(cond(&p).2.contains("not supported by skiff"));
}

#[test]
fn pipeline_results() {
    let mut spec = pipeline(vec![task("build"), task("test"), task("lint")], vec![]);
    spec.results = vec![
        PipelineResult {
            name: "digest".into(),
            value: ParamValue::String("$(tasks.build.results.digest)".into()),
            ..Default::default()
        },
        PipelineResult {
            name: "report".into(),
            value: ParamValue::String("$(tasks.test.results.report)".into()),
            ..Default::default()
        },
        PipelineResult {
            name: "both".into(),
            value: ParamValue::Array(vec![
                "$(tasks.build.results.digest)".into(),
                "$(tasks.lint.results.ok)".into(),
            ]),
            ..Default::default()
        },
    ];
    let mut sim = Sim::new(spec.clone());
    sim.step();
    sim.succeed("build", &[("digest", "sha256:1")]);
    sim.fail("test");
    sim.succeed("lint", &[("ok", "yes")]);
    let p = sim.step();
    assert_eq!(cond(&p).1, "Failed");
    assert_eq!(
        p.results,
        [
            PipelineRunResult {
                name: "digest".into(),
                value: ParamValue::String("sha256:1".into()),
            },
            PipelineRunResult {
                name: "both".into(),
                value: ParamValue::Array(vec!["sha256:1".into(), "yes".into()]),
            },
        ],
        "the failed task's result is left out"
    );
    assert_eq!(sim.run.status.as_ref().unwrap().results, p.results);

    // A result that a successful task did not write fails the run.
    let mut sim = Sim::new(spec);
    sim.step();
    sim.succeed("build", &[]);
    sim.succeed("test", &[("report", "ok")]);
    sim.succeed("lint", &[("ok", "yes")]);
    let p = sim.step();
    assert_eq!(
        cond(&p),
        (
            "False",
            "CouldntGetPipelineResult",
            "Failed to get PipelineResult from TaskRun Results for PipelineRun pr: invalid pipelineresults [digest both], the referenced results don't exist"
        )
    );
}

#[test]
fn child_state_from_task_run() {
    let tr = skiff_api::tekton::v1::TaskRun {
        metadata: ObjectMeta {
            name: Some("pr-a".into()),
            labels: Some([(LABEL_PIPELINE_TASK.to_string(), "a".to_string())].into()),
            ..Default::default()
        },
        spec: skiff_api::tekton::v1::TaskRunSpec {
            status: TASK_RUN_CANCELLED.into(),
            status_message: CANCELLED_BY_PIPELINE_MSG.into(),
            ..Default::default()
        },
        status: Some(skiff_api::tekton::v1::TaskRunStatus {
            status: skiff_api::tekton::v1::KnativeStatus {
                conditions: Some(vec![skiff_api::tekton::v1::Condition {
                    type_: "Succeeded".into(),
                    status: "False".into(),
                    reason: Some(TASK_RUN_CANCELLED.into()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            ..Default::default()
        }),
    };
    let c = ChildState::from_task_run(&tr);
    assert_eq!(c.pipeline_task, "a");
    assert_eq!(c.succeeded, Some(false));
    assert_eq!(c.reason, TASK_RUN_CANCELLED);
    assert_eq!(c.spec_status_message, CANCELLED_BY_PIPELINE_MSG);
}

#[test]
fn on_error_continue_is_an_ignored_failure() {
    let mut lint = task("lint");
    lint.on_error = "continue".into();
    let mut sim = Sim::new(pipeline(
        vec![lint, after("build", &["lint"])],
        vec![with_params(
            task("report"),
            &[("v", "$(tasks.build.results.missing)")],
        )],
    ));
    sim.step();
    sim.fail("lint");
    let p = sim.step();
    assert_eq!(created(&p), ["build"], "the run does not stop");
    sim.succeed("build", &[]);
    let p = sim.step();
    assert!(p.to_create.is_empty());
    assert_eq!(skipped(&p), [("report", "Results were missing")]);
    assert!(p.skipped[0].when_expressions.is_empty());
    assert_eq!(p.finally_start_time, None, "no finally task could start");
    assert_eq!(
        cond(&p),
        (
            "True",
            "Completed",
            "Tasks Completed: 2 (Failed: 1 (Ignored: 1), Cancelled 0), Skipped: 1"
        )
    );
}
