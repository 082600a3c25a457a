//! One test per admission rule, asserting Tekton's field paths and messages.

use serde_json::{json, Value};

use super::*;
use crate::admission::FieldErrorReason;

fn yaml(s: &str) -> Value {
    serde_yaml::from_str(s).unwrap()
}

/// Admits `obj` as `kind` (create); returns the admitted object and the errors.
fn admit_obj(mut obj: Value) -> (Value, Vec<FieldError>) {
    let kind = obj["kind"].as_str().unwrap().to_string();
    let errs = crate::admit("tekton.dev", &kind, &mut obj, None)
        .err()
        .unwrap_or_default();
    (obj, errs)
}

fn ok(obj: Value) -> Value {
    let (obj, errs) = admit_obj(obj);
    assert!(errs.is_empty(), "unexpected errors: {errs:#?}");
    obj
}

/// Asserts an error at `field` whose message contains `msg`.
#[track_caller]
fn refused(obj: Value, field: &str, msg: &str) -> Vec<FieldError> {
    let (_, errs) = admit_obj(obj);
    assert!(
        errs.iter()
            .any(|e| e.field == field && e.message.contains(msg)),
        "no error at {field} containing {msg:?}: {errs:#?}"
    );
    errs
}

fn task(spec: Value) -> Value {
    json!({"apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "t", "namespace": "default"}, "spec": spec})
}

fn pipeline(spec: Value) -> Value {
    json!({"apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
}

fn pipeline_run(spec: Value) -> Value {
    json!({"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "pr", "namespace": "default"}, "spec": spec})
}

fn task_run(spec: Value) -> Value {
    json!({"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": "tr", "namespace": "default"}, "spec": spec})
}

fn step(image: &str, script: &str) -> Value {
    json!({"name": "s", "image": image, "script": script})
}

fn ref_task(name: &str) -> Value {
    json!({"name": name, "taskRef": {"name": "echo"}})
}

// ---------------------------------------------------------------------------
// Getting-started manifests (tekton.dev docs) pass unchanged.
// ---------------------------------------------------------------------------

const HELLO_TASK: &str = r#"
apiVersion: tekton.dev/v1beta1
kind: Task
metadata:
  name: hello
spec:
  steps:
    - name: echo
      image: alpine
      script: |
        #!/bin/sh
        echo "Hello World"
"#;

const GOODBYE_TASK: &str = r#"
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: goodbye
spec:
  params:
  - name: username
    type: string
  steps:
    - name: goodbye
      image: ubuntu
      script: |
        #!/bin/bash
        echo "Goodbye $(params.username)!"
"#;

const HELLO_GOODBYE: &str = r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: hello-goodbye
spec:
  params:
  - name: username
    type: string
  tasks:
    - name: hello
      taskRef:
        name: hello
    - name: goodbye
      runAfter:
        - hello
      taskRef:
        name: goodbye
      params:
      - name: username
        value: $(params.username)
"#;

const HELLO_GOODBYE_RUN: &str = r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: hello-goodbye-run
spec:
  pipelineRef:
    name: hello-goodbye
  params:
  - name: username
    value: "Tekton"
"#;

#[test]
fn getting_started_manifests_are_admitted_and_defaulted() {
    let t = ok(yaml(HELLO_TASK));
    assert_eq!(t["apiVersion"], "tekton.dev/v1", "stored as v1");
    assert_eq!(t["spec"]["steps"][0]["onError"], "stopAndFail");
    let g = ok(yaml(GOODBYE_TASK));
    assert_eq!(g["spec"]["params"][0]["type"], "string");
    let p = ok(yaml(HELLO_GOODBYE));
    assert_eq!(p["spec"]["tasks"][0]["taskRef"]["kind"], "Task");
    let pr = ok(yaml(HELLO_GOODBYE_RUN));
    assert_eq!(pr["spec"]["timeouts"]["pipeline"], DEFAULT_TIMEOUT);
    assert_eq!(
        pr["spec"]["taskRunTemplate"]["serviceAccountName"],
        DEFAULT_SERVICE_ACCOUNT
    );
    let tr = ok(yaml(
        "apiVersion: tekton.dev/v1beta1\nkind: TaskRun\nmetadata:\n  name: hello-task-run\nspec:\n  taskRef:\n    name: hello\n",
    ));
    assert_eq!(tr["spec"]["timeout"], "1h0m0s");
    assert_eq!(tr["spec"]["serviceAccountName"], "default");
    assert_eq!(tr["spec"]["taskRef"]["kind"], "Task");
    assert_eq!(
        tr["metadata"]["labels"][MANAGED_BY_LABEL],
        DEFAULT_MANAGED_BY
    );
}

/// A catalog-style Task (git-clone/kaniko shapes): array and object params, results,
/// optional workspaces with mount paths, step securityContext, shell `$(...)`.
#[test]
fn catalog_style_task_is_admitted() {
    let t = ok(yaml(
        r#"
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: build-push
spec:
  params:
    - name: IMAGE
    - name: EXTRA_ARGS
      type: array
      default: [--ignore-path=/product_uuid]
    - name: gitrepo
      properties:
        url: {}
        commit: {}
  workspaces:
    - name: source
    - name: dockerconfig
      optional: true
      mountPath: /kaniko/.docker
  results:
    - name: IMAGE_DIGEST
    - name: info
      properties:
        size: {}
  stepTemplate:
    env:
      - name: HOME
        value: /tekton/home
  steps:
    - name: build-and-push
      workingDir: $(workspaces.source.path)
      image: gcr.io/kaniko-project/executor:v1.8.1
      args:
        - $(params.EXTRA_ARGS[*])
        - --destination=$(params.IMAGE)
        - --digest-file=$(results.IMAGE_DIGEST.path)
        - --label=commit=$(params.gitrepo.commit)
      securityContext:
        runAsUser: 0
    - name: write-url
      image: bash
      onError: continue
      timeout: 30s
      script: |
        set -e
        echo "$(git rev-parse HEAD) $(context.taskRun.name) $(params.EXTRA_ARGS[0])" > $(results.IMAGE_DIGEST.path)
"#,
    ));
    let params = &t["spec"]["params"];
    assert_eq!(params[0]["type"], "string");
    assert_eq!(params[1]["type"], "array");
    assert_eq!(params[2]["type"], "object");
    assert_eq!(params[2]["properties"]["url"]["type"], "string");
    assert_eq!(t["spec"]["results"][0]["type"], "string");
    assert_eq!(t["spec"]["results"][1]["type"], "object");
    assert_eq!(t["spec"]["steps"][1]["onError"], "continue");
}

// ---------------------------------------------------------------------------
// Task rules
// ---------------------------------------------------------------------------

#[test]
fn task_needs_steps() {
    refused(task(json!({})), "spec.steps", "missing field(s)");
}

#[test]
fn step_without_image_is_refused() {
    let errs = refused(
        task(json!({"steps": [{"name": "a", "script": "echo"}]})),
        "spec.steps[0].image",
        "missing field(s)",
    );
    assert_eq!(errs[0].reason, FieldErrorReason::Required);
    // A step template image is enough.
    ok(task(
        json!({"stepTemplate": {"image": "alpine"}, "steps": [{"script": "echo"}]}),
    ));
}

#[test]
fn script_with_command_is_refused() {
    refused(
        task(json!({"steps": [{"image": "a", "script": "echo", "command": ["sh"]}]})),
        "spec.steps[0].script",
        "script cannot be used with command",
    );
}

#[test]
fn duplicate_and_invalid_step_names() {
    refused(
        task(json!({"steps": [step("a", "x"), step("a", "y")]})),
        "spec.steps[1].name",
        "invalid value: s",
    );
    refused(
        task(json!({"steps": [{"name": "Build_It", "image": "a"}]})),
        "spec.steps[0].name",
        "invalid value \"Build_It\" (Task step name must be a valid DNS Label",
    );
}

#[test]
fn duplicate_params_and_bad_param_types() {
    refused(
        task(json!({"params": [{"name": "a"}, {"name": "a"}], "steps": [step("i", "x")]})),
        "spec.params[a]",
        "parameter appears more than once",
    );
    refused(
        task(json!({"params": [{"name": "a", "type": "number"}], "steps": [step("i", "x")]})),
        "spec.params.a.type",
        "invalid value: number",
    );
    refused(
        task(
            json!({"params": [{"name": "a", "type": "array", "default": "x"}], "steps": [step("i", "x")]}),
        ),
        "spec.params.a.default.type",
        "\"array\" type does not match default value's type: \"string\"",
    );
    refused(
        task(json!({"params": [{"name": "1bad"}], "steps": [step("i", "x")]})),
        "spec.params",
        "The format of following array and string variable names is invalid: [1bad]",
    );
}

#[test]
fn unknown_param_reference_is_refused() {
    let errs = refused(
        task(
            json!({"params": [{"name": "who"}], "steps": [step("alpine", "echo $(params.whom)")]}),
        ),
        "spec.steps[0].script",
        "non-existent variable in \"echo $(params.whom)\"",
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    refused(
        task(json!({"steps": [{"image": "a", "args": ["--x=$(params.x)"]}]})),
        "spec.steps[0].args[0]",
        "non-existent variable",
    );
    refused(
        task(json!({"steps": [{"image": "a", "env": [{"name": "X", "value": "$(params.x)"}]}]})),
        "spec.steps[0].env[X]",
        "non-existent variable",
    );
    // Object keys must be declared; a whole object cannot be used in a string.
    let obj = json!({"name": "o", "properties": {"k": {}}});
    refused(
        task(json!({"params": [obj], "steps": [step("a", "echo $(params.o.nope)")]})),
        "spec.steps[0].script",
        "non-existent variable",
    );
    refused(
        task(json!({"params": [obj], "steps": [step("a", "echo $(params.o)")]})),
        "spec.steps[0].script",
        "variable type invalid",
    );
}

#[test]
fn array_params_are_used_whole_only_as_list_items() {
    let arr = json!({"name": "flags", "type": "array"});
    refused(
        task(
            json!({"params": [arr], "steps": [{"image": "a", "args": ["--f=$(params.flags[*])"]}]}),
        ),
        "spec.steps[0].args[0]",
        "variable is not properly isolated in \"--f=$(params.flags[*])\"",
    );
    refused(
        task(json!({"params": [arr], "steps": [step("a", "echo $(params.flags)")]})),
        "spec.steps[0].script",
        "variable type invalid in \"echo $(params.flags)\"",
    );
    ok(task(
        json!({"params": [arr], "steps": [{"image": "a", "args": ["$(params.flags[*])", "$(params.flags[1])"]}]}),
    ));
}

#[test]
fn context_and_result_variables() {
    refused(
        task(json!({"steps": [step("a", "echo $(context.taskRun.owner)")]})),
        "spec.steps[0].script",
        "non-existent variable in \"echo $(context.taskRun.owner)\"",
    );
    refused(
        task(
            json!({"results": [{"name": "out"}], "steps": [step("a", "echo > $(results.other.path)")]}),
        ),
        "spec.steps[0].script",
        "non-existent variable",
    );
    refused(
        task(json!({"results": [{"name": "-bad-"}], "steps": [step("a", "x")]})),
        "spec.results[0].name",
        "invalid key name \"-bad-\"",
    );
    refused(
        task(json!({"results": [{"name": "r", "type": "number"}], "steps": [step("a", "x")]})),
        "spec.results[0].type",
        "invalid value: number",
    );
}

#[test]
fn step_fields() {
    refused(
        task(json!({"steps": [{"image": "a", "onError": "ignore"}]})),
        "spec.steps[0].onError",
        "invalid value: \"ignore\" (Task step onError must be either \"continue\" or \"stopAndFail\")",
    );
    refused(
        task(json!({"steps": [{"image": "a", "timeout": "-1s"}]})),
        "spec.steps[0].timeout",
        "negative timeout",
    );
    refused(
        task(json!({"steps": [{"image": "a", "timeout": "soon"}]})),
        "spec.steps[0].timeout",
        "time: invalid duration \"soon\"",
    );
    refused(
        task(
            json!({"steps": [{"image": "a", "volumeMounts": [{"name": "v", "mountPath": "/tekton/results"}]}]}),
        ),
        "spec.steps[0].volumeMounts[0].mountPath",
        "volumeMount cannot be mounted under /tekton/",
    );
    refused(
        task(
            json!({"sidecars": [{"name": "tekton-log-results", "image": "a"}], "steps": [step("a", "x")]}),
        ),
        "spec.sidecars",
        "cannot use reserved sidecar name",
    );
}

#[test]
fn workspaces_and_volumes() {
    refused(
        task(json!({"workspaces": [{"name": "w"}, {"name": "w"}], "steps": [step("a", "x")]})),
        "spec.workspaces[1].name",
        "workspace name \"w\" must be unique",
    );
    refused(
        task(
            json!({"workspaces": [{"name": "a", "mountPath": "/data"}, {"name": "b", "mountPath": "/data/"}], "steps": [step("a", "x")]}),
        ),
        "spec.workspaces[1].mountPath",
        "workspace mount path \"/data\" must be unique",
    );
    refused(
        task(
            json!({"steps": [{"image": "a", "workspaces": [{"name": "nope", "mountPath": "/x"}]}]}),
        ),
        "spec.steps[0].workspaces[0].name",
        "undefined workspace \"nope\"",
    );
    refused(
        task(
            json!({"volumes": [{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}], "steps": [step("a", "x")]}),
        ),
        "spec.volumes[1].name",
        "multiple volumes with same name \"v\"",
    );
}

#[test]
fn metadata_name_rules() {
    let mut t = task(json!({"steps": [step("a", "x")]}));
    t["metadata"]["name"] = json!("a".repeat(64));
    refused(
        t,
        "metadata.name",
        "Invalid resource name: length must be no more than 63 characters",
    );
}

// ---------------------------------------------------------------------------
// Pipeline rules
// ---------------------------------------------------------------------------

#[test]
fn cycles_are_refused_as_tekton_words_them() {
    let errs = refused(
        pipeline(json!({"tasks": [
            {"name": "a", "taskRef": {"name": "t"}, "runAfter": ["b"]},
            {"name": "b", "taskRef": {"name": "t"}, "runAfter": ["a"]},
            {"name": "c", "taskRef": {"name": "t"}},
        ]})),
        "spec.tasks",
        "invalid value: cycle detected; task \"a\" depends on \"b\"",
    );
    assert_eq!(errs.len(), 1, "{errs:#?}");
    // Through a result reference, and to itself.
    refused(
        pipeline(json!({"tasks": [
            {"name": "x", "taskRef": {"name": "t"}, "params": [{"name": "p", "value": "$(tasks.y.results.r)"}]},
            {"name": "y", "taskRef": {"name": "t"}, "runAfter": ["x"]},
        ]})),
        "spec.tasks",
        "cycle detected; task \"x\" depends on \"y\"",
    );
    refused(
        pipeline(
            json!({"tasks": [{"name": "self", "taskRef": {"name": "t"}, "runAfter": ["self"]}]}),
        ),
        "spec.tasks",
        "cycle detected; task \"self\" depends on \"self\"",
    );
}

#[test]
fn run_after_an_unknown_task_is_refused() {
    refused(
        pipeline(json!({"tasks": [ref_task("a"), {"name": "b", "taskRef": {"name": "t"}, "runAfter": ["nope"]}]})),
        "spec.tasks",
        "couldn't add link between b and nope: task b depends on nope but nope wasn't present in Pipeline",
    );
}

#[test]
fn pipeline_task_names_and_refs() {
    refused(
        pipeline(json!({"tasks": [ref_task("a"), ref_task("a")]})),
        "spec.tasks[1].name",
        "expected exactly one, got both",
    );
    refused(
        pipeline(json!({"tasks": [ref_task("Bad_Name")]})),
        "spec.tasks[0].name",
        "invalid value \"Bad_Name\"",
    );
    refused(
        pipeline(json!({"tasks": [{"name": "a"}]})),
        "spec.tasks[0].taskRef",
        "expected exactly one, got neither",
    );
    refused(
        pipeline(
            json!({"tasks": [{"name": "a", "taskRef": {"name": "t"}, "taskSpec": {"steps": [step("a", "x")]}}]}),
        ),
        "spec.tasks[0].taskSpec",
        "expected exactly one, got both",
    );
    refused(
        pipeline(json!({"tasks": [{"name": "a", "taskRef": {}}]})),
        "spec.tasks[0].taskRef.name",
        "invalid value: taskRef must specify name",
    );
    refused(
        pipeline(json!({"tasks": [{"name": "a", "taskSpec": {"steps": [{"script": "x"}]}}]})),
        "spec.tasks[0].taskSpec.steps[0].image",
        "missing field(s)",
    );
    refused(
        pipeline(json!({})),
        "spec.tasks",
        "expected at least one, got none",
    );
}

#[test]
fn finally_tasks() {
    refused(
        pipeline(
            json!({"tasks": [ref_task("a")], "finally": [{"name": "f", "taskRef": {"name": "t"}, "runAfter": ["a"]}]}),
        ),
        "spec.finally[0]",
        "no runAfter allowed under spec.finally, final task f has runAfter specified",
    );
    refused(
        pipeline(json!({"finally": [ref_task("f")]})),
        "spec.finally",
        "spec.tasks is empty but spec.finally has 1 tasks",
    );
    refused(
        pipeline(
            json!({"tasks": [ref_task("a")], "finally": [ref_task("f"), {"name": "g", "taskRef": {"name": "t"}, "params": [{"name": "x", "value": "$(tasks.f.results.r)"}]}]}),
        ),
        "spec.finally[1].params[x].value",
        "final task has task result reference from a final task f",
    );
    // Finally tasks may read the status of dag tasks, dag tasks may not.
    ok(pipeline(
        json!({"tasks": [ref_task("a")], "finally": [{"name": "f", "taskRef": {"name": "t"}, "params": [{"name": "s", "value": "$(tasks.a.status)"}]}]}),
    ));
    refused(
        pipeline(
            json!({"tasks": [ref_task("a"), {"name": "b", "taskRef": {"name": "t"}, "params": [{"name": "s", "value": "$(tasks.a.status)"}]}]}),
        ),
        "spec.tasks[1].params[s].value",
        "pipeline tasks can not refer to execution status",
    );
}

#[test]
fn when_expressions() {
    let with_when = |w: Value| {
        pipeline(json!({"tasks": [{"name": "a", "taskRef": {"name": "t"}, "when": [w]}]}))
    };
    refused(
        with_when(json!({"input": "x", "operator": "exists", "values": ["y"]})),
        "spec.tasks[0].when[0]",
        "invalid value: operator \"exists\" is not recognized. valid operators: in,notin",
    );
    refused(
        with_when(json!({"input": "x", "operator": "in", "values": []})),
        "spec.tasks[0].when[0]",
        "invalid value: expecting non-empty values field",
    );
    refused(
        with_when(json!({"cel": "'a' == 'a'"})),
        "spec.tasks[0].when[0]",
        "enable-cel-in-whenexpression",
    );
    ok(
        with_when(json!({"input": "$(params.x)", "operator": "notin", "values": ["a"]})).pipe(
            |mut p| {
                p["spec"]["params"] = json!([{"name": "x"}]);
                p
            },
        ),
    );
}

trait Pipe: Sized {
    fn pipe<T>(self, f: impl FnOnce(Self) -> T) -> T {
        f(self)
    }
}
impl Pipe for Value {}

#[test]
fn pipeline_params_and_workspaces() {
    refused(
        pipeline(
            json!({"tasks": [{"name": "a", "taskRef": {"name": "t"}, "params": [{"name": "x", "value": "$(params.nope)"}]}]}),
        ),
        "spec.tasks[0].params[x]",
        "non-existent variable in \"$(params.nope)\"",
    );
    refused(
        pipeline(
            json!({"tasks": [{"name": "a", "taskRef": {"name": "t"}, "params": [{"name": "x", "value": "1"}, {"name": "x", "value": "2"}]}]}),
        ),
        "spec.tasks[0].params[1].name",
        "parameter names must be unique",
    );
    refused(
        pipeline(
            json!({"tasks": [{"name": "a", "taskRef": {"name": "t"}, "workspaces": [{"name": "src", "workspace": "nope"}]}]}),
        ),
        "spec.tasks[0].workspaces[0]",
        "pipeline task \"a\" expects workspace with name \"nope\" but none exists in pipeline spec",
    );
    refused(
        pipeline(json!({"workspaces": [{"name": "w"}, {"name": "w"}], "tasks": [ref_task("a")]})),
        "spec.workspaces[1]",
        "workspace with name \"w\" appears more than once",
    );
    refused(
        pipeline(
            json!({"tasks": [{"name": "a", "taskRef": {"name": "t"}, "matrix": {"params": [{"name": "x", "value": ["1", "2"]}]}}]}),
        ),
        "spec.tasks[0].matrix",
        "matrix is not supported by skiff",
    );
}

#[test]
fn pipeline_results() {
    refused(
        pipeline(json!({"tasks": [ref_task("a")], "results": [{"name": "r", "value": "plain"}]})),
        "spec.results[0].value",
        "expected pipeline results to be task result expressions but no expressions were found",
    );
    refused(
        pipeline(
            json!({"tasks": [ref_task("a")], "results": [{"name": "r", "value": "$(tasks.b.results.x)"}]}),
        ),
        "spec.results[0].value",
        "referencing a nonexistent task",
    );
    ok(pipeline(
        json!({"tasks": [ref_task("a")], "results": [{"name": "r", "value": "$(tasks.a.results.x)"}]}),
    ));
}

// ---------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------

#[test]
fn pipeline_run_ref_or_spec() {
    refused(
        pipeline_run(json!({})),
        "spec.pipelineRef",
        "expected exactly one, got neither",
    );
    refused(
        pipeline_run(
            json!({"pipelineRef": {"name": "p"}, "pipelineSpec": {"tasks": [ref_task("a")]}}),
        ),
        "spec.pipelineSpec",
        "expected exactly one, got both",
    );
    // An embedded pipeline is validated as one, with the run's params propagated.
    refused(
        pipeline_run(
            json!({"pipelineSpec": {"tasks": [ref_task("a"), {"name": "b", "taskRef": {"name": "t"}, "runAfter": ["b"]}]}}),
        ),
        "spec.pipelineSpec.tasks",
        "cycle detected",
    );
    ok(pipeline_run(json!({
        "params": [{"name": "who", "value": "me"}],
        "pipelineSpec": {"tasks": [{"name": "a", "taskSpec": {"steps": [step("alpine", "echo $(params.who)")]}}]}
    })));
}

#[test]
fn pipeline_run_fields() {
    let base = || json!({"pipelineRef": {"name": "p"}});
    let with = |k: &str, v: Value| {
        let mut s = base();
        s[k] = v;
        pipeline_run(s)
    };
    refused(
        with("status", json!("Stop")),
        "spec.status",
        "invalid value: Stop should be Cancelled, CancelledRunFinally, StoppedRunFinally or PipelineRunPending",
    );
    for st in [
        "Cancelled",
        "CancelledRunFinally",
        "StoppedRunFinally",
        "PipelineRunPending",
    ] {
        ok(with("status", json!(st)));
    }
    refused(
        with(
            "params",
            json!([{"name": "a", "value": "1"}, {"name": "A", "value": "2"}]),
        ),
        "spec.params[A].name",
        "expected exactly one, got both",
    );
    refused(
        with("timeouts", json!({"pipeline": "1h", "tasks": "2h"})),
        "spec.timeouts.tasks",
        "invalid value: 2h0m0s should be <= pipeline duration",
    );
    refused(
        with(
            "timeouts",
            json!({"pipeline": "1h", "tasks": "40m", "finally": "30m"}),
        ),
        "spec.timeouts.finally",
        "40m0s + 30m0s should be <= pipeline duration",
    );
    refused(
        with("timeouts", json!({"pipeline": "-5m"})),
        "spec.timeouts.pipeline",
        "invalid value: -5m0s should be >= 0",
    );
    refused(
        with(
            "params",
            json!([{"name": "a", "value": "$(tasks.x.results.y)"}]),
        ),
        "spec.params[a].value",
        "cannot use result expressions in [tasks.x.results.y] as PipelineRun parameter values",
    );
    refused(
        with(
            "workspaces",
            json!([{"name": "w", "emptyDir": {}}, {"name": "w", "emptyDir": {}}]),
        ),
        "spec.workspaces[1].name",
        "workspace \"w\" provided by pipelinerun more than once, at index 0 and 1",
    );
    refused(
        with(
            "workspaces",
            json!([{"name": "w", "emptyDir": {}, "secret": {"secretName": "s"}}]),
        ),
        "spec.workspaces[0].secret",
        "expected exactly one, got both",
    );
    refused(
        with(
            "workspaces",
            json!([{"name": "w", "persistentVolumeClaim": {}}]),
        ),
        "spec.workspaces[0].persistentVolumeClaim.claimName",
        "missing field(s)",
    );
    refused(
        with("workspaces", json!([{"name": "w"}])),
        "spec.workspaces[0].emptyDir",
        "expected exactly one, got neither",
    );
    // volumeClaimTemplate, configMap, secret are fine.
    ok(with(
        "workspaces",
        json!([
            {"name": "a", "volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}},
            {"name": "b", "configMap": {"name": "cm"}},
            {"name": "c", "secret": {"secretName": "s"}},
        ]),
    ));
}

#[test]
fn embedded_workspace_bindings_must_match_declarations() {
    refused(
        pipeline_run(json!({
            "pipelineSpec": {"workspaces": [{"name": "src"}], "tasks": [ref_task("a")]},
            "workspaces": [{"name": "source", "emptyDir": {}}]
        })),
        "spec.workspaces[0].name",
        "workspace binding \"source\" does not match any workspace declared by the pipeline",
    );
    refused(
        pipeline_run(
            json!({"pipelineSpec": {"workspaces": [{"name": "src"}], "tasks": [ref_task("a")]}}),
        ),
        "spec.workspaces",
        "pipeline requires workspace with name \"src\" be provided by pipelinerun",
    );
    refused(
        task_run(json!({"taskSpec": {"workspaces": [{"name": "w"}], "steps": [step("a", "x")]}})),
        "spec.workspaces",
        "declared workspace \"w\" is required but has not been bound",
    );
    ok(task_run(json!({
        "taskSpec": {"workspaces": [{"name": "w"}, {"name": "o", "optional": true}], "steps": [step("a", "x")]},
        "workspaces": [{"name": "w", "emptyDir": {}}]
    })));
}

#[test]
fn task_run_fields() {
    refused(
        task_run(json!({})),
        "spec.taskRef",
        "expected exactly one, got neither",
    );
    refused(
        task_run(json!({"taskRef": {"name": "t"}, "status": "Cancelled"})),
        "spec.status",
        "invalid value: Cancelled should be TaskRunCancelled",
    );
    ok(task_run(
        json!({"taskRef": {"name": "t"}, "status": "TaskRunCancelled"}),
    ));
    refused(
        task_run(json!({"taskRef": {"name": "t"}, "retries": -1})),
        "spec.retries",
        "invalid value: -1 should be >= 0",
    );
    refused(
        task_run(json!({"taskRef": {"name": "t"}, "timeout": "-1h"})),
        "spec.timeout",
        "invalid value: -1h0m0s should be >= 0",
    );
    refused(
        task_run(
            json!({"taskRef": {"name": "t"}, "params": [{"name": "p", "value": "a"}, {"name": "p", "value": "b"}]}),
        ),
        "spec.params[p].name",
        "expected exactly one, got both",
    );
    // Params of the run are propagated into an embedded task spec.
    ok(task_run(
        json!({"params": [{"name": "x", "value": "1"}], "taskSpec": {"steps": [step("a", "echo $(params.x)")]}}),
    ));
    refused(
        task_run(json!({"taskSpec": {"steps": [step("a", "echo $(params.x)")]}})),
        "spec.taskSpec.steps[0].script",
        "non-existent variable",
    );
}

#[test]
fn started_runs_only_accept_cancellation() {
    let (old, errs) = admit_obj(yaml(HELLO_GOODBYE_RUN));
    assert!(errs.is_empty());
    let update = |change: &dyn Fn(&mut Value), old: &Value| {
        let mut new = yaml(HELLO_GOODBYE_RUN);
        change(&mut new);
        crate::admit("tekton.dev", "PipelineRun", &mut new, Some(old))
    };
    // Unchanged (re-applied) and cancellation are fine.
    assert!(update(&|_| {}, &old).is_ok());
    assert!(update(&|n| n["spec"]["status"] = json!("Cancelled"), &old).is_ok());
    let errs = update(&|n| n["spec"]["params"][0]["value"] = json!("other"), &old).unwrap_err();
    assert_eq!(errs[0].field, "spec");
    assert_eq!(
        errs[0].message,
        "invalid value: Once the PipelineRun has started, only status updates are allowed"
    );
    let mut done = old.clone();
    done["status"] = json!({"conditions": [{"type": "Succeeded", "status": "True"}]});
    let errs = update(&|n| n["spec"]["status"] = json!("Cancelled"), &done).unwrap_err();
    assert!(errs[0]
        .message
        .contains("Once the PipelineRun is complete, no updates are allowed"));

    let tr = task_run(json!({"taskRef": {"name": "t"}}));
    let (old, _) = admit_obj(tr.clone());
    let mut new = tr.clone();
    new["spec"]["params"] = json!([{"name": "p", "value": "x"}]);
    let errs = crate::admit("tekton.dev", "TaskRun", &mut new, Some(&old)).unwrap_err();
    assert!(errs[0]
        .message
        .contains("only status and statusMessage updates are allowed"));
}

// ---------------------------------------------------------------------------
// Older versions and PipelineResources
// ---------------------------------------------------------------------------

#[test]
fn v1beta1_objects_are_stored_as_v1() {
    let obj = ok(yaml(
        r#"
apiVersion: tekton.dev/v1beta1
kind: PipelineRun
metadata:
  name: r
spec:
  pipelineRef:
    name: p
  serviceAccountName: builder
  timeout: 10m
"#,
    ));
    assert_eq!(obj["apiVersion"], "tekton.dev/v1");
    assert_eq!(obj["spec"]["timeouts"]["pipeline"], "10m");
    assert_eq!(
        obj["spec"]["taskRunTemplate"]["serviceAccountName"],
        "builder"
    );
    assert!(obj["spec"].get("serviceAccountName").is_none());
}

#[test]
fn pipeline_resources_of_unsupported_types_are_refused() {
    let pr = |t: &str| {
        json!({"apiVersion": "tekton.dev/v1alpha1", "kind": "PipelineResource",
               "metadata": {"name": "r"}, "spec": {"type": t, "params": []}})
    };
    for t in ["cluster", "storage", "pullRequest", "cloudEvent", "gcs"] {
        let errs = refused(
            pr(t),
            "spec.type",
            &format!("PipelineResource type \"{t}\" is not supported by skiff: only git and image"),
        );
        assert_eq!(errs[0].reason, FieldErrorReason::NotSupported);
    }
    ok(pr("git"));
    ok(pr("image"));
    refused(
        json!({"apiVersion": "tekton.dev/v1alpha1", "kind": "PipelineResource", "metadata": {"name": "r"}, "spec": {}}),
        "spec.type",
        "missing field(s)",
    );
    // Declarations and inline specs of those types, in any version's shape.
    refused(
        json!({"apiVersion": "tekton.dev/v1alpha1", "kind": "Task", "metadata": {"name": "t"},
               "spec": {"inputs": {"resources": [{"name": "k8s", "type": "cluster"}]}, "steps": [step("a", "x")]}}),
        "spec.inputs.resources[0].type",
        "PipelineResource type \"cluster\" is not supported by skiff",
    );
    refused(
        json!({"apiVersion": "tekton.dev/v1beta1", "kind": "Pipeline", "metadata": {"name": "p"},
               "spec": {"resources": [{"name": "b", "type": "storage"}], "tasks": [ref_task("a")]}}),
        "spec.resources[0].type",
        "\"storage\" is not supported",
    );
    refused(
        json!({"apiVersion": "tekton.dev/v1beta1", "kind": "TaskRun", "metadata": {"name": "r"},
               "spec": {"taskRef": {"name": "t"}, "resources": {"inputs": [{"name": "x", "resourceSpec": {"type": "gcs", "params": []}}]}}}),
        "spec.resources.inputs[0].resourceSpec.type",
        "\"gcs\" is not supported",
    );
}

#[test]
fn v1alpha1_task_with_resources_is_admitted() {
    let obj = ok(yaml(
        r#"
apiVersion: tekton.dev/v1alpha1
kind: Task
metadata:
  name: echo-source
spec:
  inputs:
    resources:
      - name: source
        type: git
    params:
      - name: greeting
        default: hello
  outputs:
    resources:
      - name: image
        type: image
  steps:
    - name: show
      image: alpine
      script: |
        cd $(inputs.resources.source.path) && echo $(inputs.params.greeting) > $(outputs.resources.image.url)
"#,
    ));
    assert_eq!(obj["apiVersion"], "tekton.dev/v1");
    assert_eq!(obj["spec"]["params"][0]["name"], "greeting");
    assert_eq!(obj["spec"]["params"][0]["type"], "string");
    let script = obj["spec"]["steps"][0]["script"].as_str().unwrap();
    assert!(script.contains("$(params.greeting)"), "{script}");
    assert!(
        script.contains("$(resources.inputs.source.path)"),
        "{script}"
    );
    assert!(obj["metadata"]["annotations"]["tekton.dev/v1beta1Resources"].is_string());
}

#[test]
fn pipeline_task_conditions_are_refused() {
    refused(
        json!({"apiVersion": "tekton.dev/v1alpha1", "kind": "Pipeline", "metadata": {"name": "p"},
               "spec": {"tasks": [{"name": "a", "taskRef": {"name": "t"}, "conditions": [{"conditionRef": "c"}]}]}}),
        "spec.tasks[0].conditions",
        "conditions are not supported: use when expressions",
    );
}

#[test]
fn other_groups_and_kinds_are_untouched() {
    let mut obj = json!({"apiVersion": "tekton.dev/v1", "kind": "ClusterTask", "spec": {}});
    assert!(crate::admit("tekton.dev", "ClusterTask", &mut obj, None).is_ok());
    assert_eq!(
        obj,
        json!({"apiVersion": "tekton.dev/v1", "kind": "ClusterTask", "spec": {}})
    );
}

#[test]
fn runner_helpers_apply_the_same_defaults() {
    let mut spec = json!({"params": [{"name": "a", "default": ["x"]}], "steps": [{"image": "i"}]});
    default_task_spec(&mut spec);
    assert_eq!(spec["params"][0]["type"], "array");
    assert_eq!(spec["steps"][0]["onError"], DEFAULT_ON_ERROR);
    let mut p = json!({"tasks": [{"name": "a", "taskRef": {"name": "t"}}]});
    default_pipeline_spec(&mut p);
    assert_eq!(p["tasks"][0]["taskRef"]["kind"], "Task");
}
