//! Tekton pipelines end to end with real runc containers: each test starts its own
//! `skiff server --runtime local` on its own bridge and subnet with step images built
//! from the host's binaries (busybox, git, kubectl; crates/cli/tests/common/pipelines.rs)
//! imported or pushed to a loopback registry, applies Tekton manifests with the real
//! kubectl and checks the runs' status, Pods and logs.
//!
//! Needs root and runc; without them each test prints "skipped: …" and passes.

mod common;

use std::time::Duration;

use common::pipelines::{import_image, StepImages};
use common::serving::*;
use common::stdout;
use serde_json::Value;

const BUSYBOX: &str = "dev.local/busybox:latest";

/// A server with the busybox step image imported as `dev.local/busybox:latest`.
fn env_with_busybox() -> Option<Env> {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return None;
    }
    let busybox = match StepImages::busybox() {
        Ok(dir) => dir,
        Err(why) => {
            eprintln!("skipped: {why}");
            return None;
        }
    };
    Some(Env::start_with(|data| {
        import_image(data, &busybox, BUSYBOX);
    }))
}

/// Waits until the run's `Succeeded` condition is True or False and returns the run.
#[track_caller]
fn wait_done(env: &Env, kind: &str, name: &str, within: Duration) -> Value {
    let deadline = std::time::Instant::now() + within;
    loop {
        let obj = env.get_json(&[kind, name]);
        if let Some(obj) = &obj {
            if condition(obj, "Succeeded").is_some_and(|c| c["status"] != "Unknown") {
                return obj.clone();
            }
        }
        if std::time::Instant::now() > deadline {
            panic!(
                "timed out waiting for {kind} {name} to finish: {obj:#?}\nserver log:\n{}",
                tail(&env.server.log(), 40)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn results(run: &Value) -> Vec<(String, Value)> {
    run["status"]["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["name"].as_str().unwrap().to_string(), r["value"].clone()))
        .collect()
}

/// A Task with scripts, params (default, array) and results (one from a step's stdout,
/// `stdoutConfig`): the steps run in order in one pod, results come back into `status.results`, the Pod shows one
/// container per step and `kubectl logs -c step-x` / `skiff logs taskrun/x` work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_step_task_with_script_params_and_results() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    env.apply(&format!(
        r#"
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: greet
spec:
  params:
  - name: who
    default: World
  - name: words
    type: array
  - name: greeting
    default: Hello
  results:
  - name: greeting
  - name: count
    type: string
  - name: digest
  steps:
  - name: write
    image: {BUSYBOX}
    script: |
      printf '%s' "$(params.greeting) $(params.who)!" > $(results.greeting.path)
      echo "wrote in $(context.taskRun.name)"
  - name: args
    image: {BUSYBOX}
    command: [echo]
    args: ["$(params.words[*])"]
  - name: count
    image: {BUSYBOX}
    script: |
      #!/bin/sh
      printf 3 > /tekton/results/count
      cat $(results.greeting.path)
      echo
      test -s /var/run/secrets/kubernetes.io/serviceaccount/token && echo has-token
      echo "api=$KUBERNETES_SERVICE_HOST"
  - name: digest
    image: {BUSYBOX}
    script: printf sha256:abc
    stdoutConfig:
      path: $(results.digest.path)
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: greet-run
spec:
  taskRef:
    name: greet
  params:
  - name: who
    value: skiff
  - name: words
    value: [a, b, c]
"#
    ));
    let run = wait_done(&env, "taskrun", "greet-run", Duration::from_secs(60));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(c["status"], "True", "{run:#}");
    assert_eq!(c["reason"], "Succeeded");
    assert_eq!(
        results(&run),
        vec![
            ("greeting".to_string(), Value::from("Hello skiff!")),
            ("count".to_string(), Value::from("3")),
            ("digest".to_string(), Value::from("sha256:abc")),
        ]
    );
    let steps = run["status"]["steps"].as_array().unwrap();
    let names: Vec<&str> = steps
        .iter()
        .map(|s| s["container"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["step-write", "step-args", "step-count", "step-digest"]
    );
    for s in steps {
        assert_eq!(s["terminated"]["exitCode"], 0, "{s}");
        assert_eq!(s["terminationReason"], "Completed");
    }
    assert_eq!(run["status"]["podName"], "greet-run-pod");
    assert!(run["status"]["startTime"].is_string());
    assert!(run["status"]["completionTime"].is_string());

    // kubectl get taskrun shows Tekton's columns
    let table = env.kubectl(&["get", "taskrun", "greet-run"]);
    assert!(
        table.contains("SUCCEEDED") && table.contains("Succeeded"),
        "{table}"
    );
    // the Pod: one container per step, Succeeded; logs per step
    let pod = env.get_json(&["pod", "greet-run-pod"]).unwrap();
    assert_eq!(pod["status"]["phase"], "Succeeded");
    assert_eq!(pod["spec"]["containers"].as_array().unwrap().len(), 4);
    assert_eq!(pod["metadata"]["labels"]["tekton.dev/taskRun"], "greet-run");
    assert_eq!(
        env.kubectl(&["logs", "greet-run-pod", "-c", "step-args"]),
        "a b c\n"
    );
    assert_eq!(
        env.kubectl(&["logs", "greet-run-pod", "-c", "step-write"]),
        "wrote in greet-run\n"
    );
    let count = env.kubectl(&["logs", "greet-run-pod", "-c", "step-count"]);
    assert_eq!(
        count,
        "Hello skiff!\nhas-token\napi=kubernetes.default.svc\n"
    );
    // without -c kubectl picks the first container, as on Kubernetes
    let out = env.server.kubectl(&["logs", "greet-run-pod"]);
    assert_eq!(stdout(&out), "wrote in greet-run\n");
    let all = stdout(&env.server.skiff(&["logs", "taskrun/greet-run"]));
    assert_eq!(
        all,
        "[write] wrote in greet-run\n[args] a b c\n[count] Hello skiff!\n[count] has-token\n[count] api=kubernetes.default.svc\n[digest] sha256:abc\n"
    );

    // tkn-style: start a run of the Task from the CLI and follow it
    let out = env.server.skiff(&[
        "task",
        "start",
        "greet",
        "-p",
        "words=x,y",
        "-p",
        "who=cli",
        "--showlog",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    assert!(text.starts_with("TaskRun started: greet-run-"), "{text}");
    assert!(text.contains("[args] x y\n[count] Hello cli!\n"), "{text}");
    let out = env.server.skiff(&["task", "start", "greet", "-p", "who=x"]);
    assert!(!out.status.success());
    assert!(common::stderr(&out).contains("missing values for params without defaults: words"));

    // deleting the run deletes its Pod (owner reference) and its logs
    env.kubectl(&["delete", "taskrun", "greet-run"]);
    common::eventually("the pod to go", Duration::from_secs(20), || {
        env.get_json(&["pods", "-l", "tekton.dev/taskRun=greet-run"])
            .filter(|l| l["items"].as_array().is_some_and(|i| i.is_empty()))
    });
    env.finish();
}

/// Failures are Tekton's: a failing step fails the run (`Failed`, the message names the
/// step, exit code and how to get its logs) and the next steps are skipped, unless the
/// step has `onError: continue`; a missing param, an unknown Task and a bad image fail
/// the run before anything runs, with Tekton's reasons.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_steps_and_bad_runs_fail_with_tekton_reasons() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    env.apply(&format!(
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: fails
spec:
  taskSpec:
    steps:
    - name: tolerated
      image: {BUSYBOX}
      onError: continue
      script: exit 4
    - name: fail
      image: {BUSYBOX}
      script: |
        echo about to fail
        exit 3
    - name: never
      image: {BUSYBOX}
      script: echo never
---
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: needs-param
spec:
  params:
  - name: url
  steps:
  - name: s
    image: {BUSYBOX}
    script: echo $(params.url)
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: missing-param
spec:
  taskRef:
    name: needs-param
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: unknown-task
spec:
  taskRef:
    name: no-such-task
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: bad-image
spec:
  taskSpec:
    steps:
    - name: s
      image: 127.0.0.1:1/nothing/here:v1
      script: echo hi
"#
    ));
    let run = wait_done(&env, "taskrun", "fails", Duration::from_secs(60));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("False"), Some("Failed"))
    );
    let msg = c["message"].as_str().unwrap();
    assert!(msg.contains("\"step-fail\" exited with code 3"), "{msg}");
    assert!(
        msg.contains("kubectl -n default logs fails-pod -c step-fail"),
        "{msg}"
    );
    let steps = run["status"]["steps"].as_array().unwrap();
    assert_eq!(steps[0]["terminationReason"], "Continued");
    assert_eq!(steps[0]["terminated"]["exitCode"], 4);
    assert_eq!(steps[1]["terminationReason"], "Error");
    assert_eq!(steps[2]["terminationReason"], "Skipped");
    assert_eq!(
        env.kubectl(&["logs", "fails-pod", "-c", "step-fail"]),
        "about to fail\n"
    );

    for (name, reason, needle) in [
        (
            "missing-param",
            "TaskRunValidationFailed",
            "missing values for these params which have no default values: [url]",
        ),
        (
            "unknown-task",
            "CouldntGetTask",
            "\"no-such-task\" not found",
        ),
        (
            "bad-image",
            "TaskRunImagePullFailed",
            "failed to pull the image",
        ),
    ] {
        let run = wait_done(&env, "taskrun", name, Duration::from_secs(60));
        let c = condition(&run, "Succeeded").unwrap();
        assert_eq!(c["status"], "False", "{name}: {run:#}");
        assert_eq!(c["reason"], reason, "{name}: {c}");
        assert!(
            c["message"].as_str().unwrap().contains(needle),
            "{name}: {c}"
        );
        assert!(run["status"]["podName"].as_str().unwrap_or("").is_empty() || name != "bad-image");
    }
    env.finish();
}

/// `timeout` fails the run with `TaskRunTimeout`; `spec.status: TaskRunCancelled`
/// stops a running one with `TaskRunCancelled`; `retries` re-runs a flaky one, keeping
/// the failed attempt in `retriesStatus`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_cancel_and_retries() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    env.apply(&format!(
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: slow
spec:
  timeout: 2s
  taskSpec:
    steps:
    - name: sleep
      image: {BUSYBOX}
      script: sleep 60
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: to-cancel
spec:
  taskSpec:
    steps:
    - name: sleep
      image: {BUSYBOX}
      script: |
        echo started
        sleep 60
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: flaky-state
data: {{}}
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: flaky
spec:
  retries: 2
  workspaces:
  - name: state
    persistentVolumeClaim:
      claimName: flaky-state
  taskSpec:
    workspaces:
    - name: state
    steps:
    - name: try
      image: {BUSYBOX}
      script: |
        n=$(cat $(workspaces.state.path)/n 2>/dev/null || echo 0)
        n=$((n+1))
        echo $n > $(workspaces.state.path)/n
        echo "attempt $n"
        [ $n -ge 2 ]
"#
    ));
    common::eventually("to-cancel to run", Duration::from_secs(30), || {
        let out = env
            .server
            .kubectl(&["logs", "to-cancel-pod", "-c", "step-sleep"]);
        stdout(&out).contains("started").then_some(())
    });
    env.kubectl(&[
        "patch",
        "taskrun",
        "to-cancel",
        "--type=merge",
        "-p",
        r#"{"spec":{"status":"TaskRunCancelled","statusMessage":"no longer needed"}}"#,
    ]);
    let run = wait_done(&env, "taskrun", "to-cancel", Duration::from_secs(30));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(c["reason"], "TaskRunCancelled", "{c}");
    assert_eq!(
        c["message"],
        "TaskRun \"to-cancel\" was cancelled. no longer needed"
    );

    let run = wait_done(&env, "taskrun", "slow", Duration::from_secs(30));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(c["reason"], "TaskRunTimeout", "{c}");
    assert_eq!(
        c["message"],
        "TaskRun \"slow\" failed to finish within \"2s\""
    );

    let run = wait_done(&env, "taskrun", "flaky", Duration::from_secs(60));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(c["status"], "True", "{run:#}");
    let retries = run["status"]["retriesStatus"].as_array().unwrap();
    assert_eq!(retries.len(), 1, "{run:#}");
    assert_eq!(retries[0]["conditions"][0]["status"], "False");
    assert_eq!(run["status"]["podName"], "flaky-pod-retry1");
    assert_eq!(
        env.kubectl(&["logs", "flaky-pod-retry1", "-c", "step-try"]),
        "attempt 2\n"
    );
    env.finish();
}

/// The TaskRuns of a PipelineRun by pipeline task.
fn task_runs(env: &Env, pipeline_run: &str) -> std::collections::BTreeMap<String, Value> {
    let list = env
        .get_json(&[
            "taskruns",
            "-l",
            &format!("tekton.dev/pipelineRun={pipeline_run}"),
        ])
        .unwrap();
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["metadata"]["labels"]["tekton.dev/pipelineTask"]
                    .as_str()
                    .unwrap()
                    .to_string(),
                t.clone(),
            )
        })
        .collect()
}

/// A diamond (a → b, c → d) with results passed along, a `when`-skipped task, a
/// `finally` task that sees `$(tasks.status)` and a result, a workspace from a
/// `volumeClaimTemplate` shared by all tasks, and a pipeline result: b and c run at the
/// same time (their start/end stamps overlap), d waits for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diamond_pipeline_with_results_when_and_finally() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    env.apply(&format!(
        r#"
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: stamp
spec:
  params:
  - name: label
  - name: sleep
    default: "0"
  workspaces:
  - name: shared
  results:
  - name: out
  steps:
  - name: stamp
    image: {BUSYBOX}
    script: |
      cut -d' ' -f1 /proc/uptime > "$(workspaces.shared.path)/$(params.label).start"
      sleep $(params.sleep)
      printf '%s' "$(params.label)-done" > $(results.out.path)
      cut -d' ' -f1 /proc/uptime > "$(workspaces.shared.path)/$(params.label).end"
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: diamond
spec:
  params:
  - name: flag
    default: "no"
  workspaces:
  - name: ws
  results:
  - name: final
    value: $(tasks.d.results.out)
  tasks:
  - name: a
    taskRef: {{name: stamp}}
    params: [{{name: label, value: a}}]
    workspaces: [{{name: shared, workspace: ws}}]
  - name: b
    runAfter: [a]
    taskRef: {{name: stamp}}
    params: [{{name: label, value: b}}, {{name: sleep, value: "1"}}]
    workspaces: [{{name: shared, workspace: ws}}]
  - name: c
    runAfter: [a]
    taskRef: {{name: stamp}}
    params: [{{name: label, value: c}}, {{name: sleep, value: "1"}}]
    workspaces: [{{name: shared, workspace: ws}}]
  - name: d
    taskRef: {{name: stamp}}
    params:
    - name: label
      value: $(tasks.b.results.out)+$(tasks.c.results.out)
    workspaces: [{{name: shared, workspace: ws}}]
  - name: only-if-yes
    when:
    - input: $(params.flag)
      operator: in
      values: ["yes"]
    taskRef: {{name: stamp}}
    params: [{{name: label, value: never}}]
    workspaces: [{{name: shared, workspace: ws}}]
  finally:
  - name: report
    workspaces: [{{name: shared, workspace: ws}}]
    params:
    - name: status
      value: $(tasks.status)
    taskSpec:
      params: [{{name: status}}]
      workspaces: [{{name: shared}}]
      steps:
      - name: report
        image: {BUSYBOX}
        script: |
          echo "status=$(params.status)"
          cd $(workspaces.shared.path)
          for f in b.start b.end c.start c.end; do echo "$f $(cat $f)"; done
          ls
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: diamond-run
spec:
  pipelineRef:
    name: diamond
  workspaces:
  - name: ws
    volumeClaimTemplate:
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests:
            storage: 1Mi
"#
    ));
    let run = wait_done(&env, "pipelinerun", "diamond-run", Duration::from_secs(90));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(c["status"], "True", "{run:#}");
    // one task was skipped by its when expression: Tekton's "Completed"
    assert_eq!(c["reason"], "Completed", "{c}");
    assert_eq!(
        c["message"],
        "Tasks Completed: 5 (Failed: 0, Cancelled 0), Skipped: 1"
    );
    assert_eq!(run["status"]["skippedTasks"][0]["name"], "only-if-yes");
    assert_eq!(
        run["status"]["skippedTasks"][0]["reason"],
        "When Expressions evaluated to false"
    );
    assert_eq!(run["status"]["results"][0]["name"], "final");
    assert_eq!(run["status"]["results"][0]["value"], "b-done+c-done-done");
    let refs = run["status"]["childReferences"].as_array().unwrap();
    assert_eq!(refs.len(), 5, "{refs:#?}");
    assert!(refs
        .iter()
        .any(|r| r["name"] == "diamond-run-a" && r["kind"] == "TaskRun"));

    let trs = task_runs(&env, "diamond-run");
    assert_eq!(
        trs.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "c", "d", "report"]
    );
    assert_eq!(trs["d"]["spec"]["params"][0]["value"], "b-done+c-done");
    assert_eq!(
        trs["report"]["metadata"]["labels"]["tekton.dev/memberOf"],
        "finally"
    );
    // b and c overlapped; d started after both ended
    let log = env.kubectl(&["logs", "diamond-run-report-pod", "-c", "step-report"]);
    assert!(log.starts_with("status=Completed\n"), "{log}");
    let stamp = |name: &str| -> f64 {
        log.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} in {log}"))
            .trim()
            .parse()
            .unwrap()
    };
    assert!(
        stamp("b.start") < stamp("c.end") && stamp("c.start") < stamp("b.end"),
        "{log}"
    );
    assert!(log.contains("b-done+c-done.start"), "{log}");
    assert!(!log.contains("never"), "{log}");

    // skiff logs pipelinerun/x: every task's steps, prefixed like tkn
    let all = stdout(&env.server.skiff(&["logs", "pipelinerun/diamond-run"]));
    assert!(all.contains("[report : report] status=Completed"), "{all}");

    // tkn-style: start a run of the Pipeline from the CLI and follow it
    let out = env.server.skiff(&[
        "pipeline",
        "start",
        "diamond",
        "-w",
        "name=ws,emptyDir=",
        "-p",
        "flag=yes",
        "--showlog",
    ]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", common::stderr(&out));
    assert!(
        text.starts_with("PipelineRun started: diamond-run-"),
        "{text}"
    );
    assert!(
        text.contains("[report : report] status=Succeeded"),
        "{text}"
    );

    // the volumeClaimTemplate's claim goes with its PipelineRun
    let claims = env.server.data_dir().join("pipelines/claims/default");
    let claim_dirs = || -> Vec<String> {
        std::fs::read_dir(&claims)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect()
    };
    assert_eq!(claim_dirs().len(), 1, "{:?}", claim_dirs());
    env.kubectl(&["delete", "pipelinerun", "diamond-run"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !claim_dirs().is_empty() {
        if std::time::Instant::now() > deadline {
            panic!(
                "the claim did not go: {:?}; owners: {:?}; pipelineruns: {}\nserver log:\n{}",
                claim_dirs(),
                std::fs::read_dir(claims.join(".owners"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .collect::<Vec<_>>(),
                env.kubectl(&["get", "pipelineruns", "-o", "name"]),
                common::serving::tail(&env.server.log(), 80)
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    env.finish();
}

/// A pipeline timeout cancels the running task (`PipelineRunTimeout`); `spec.status:
/// Cancelled` cancels a run (`Cancelled`); a pipeline task with `retries` survives a
/// flaky first attempt; a task that fails fails the run and `finally` still runs; a
/// missing param fails the run before anything runs; an unknown Task fails its TaskRun
/// (`CouldntGetTask`) and so the run; a cyclic `runAfter` is refused at admission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_timeout_cancel_retries_failures() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    env.apply(&format!(
        r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: sleepy
spec:
  tasks:
  - name: sleep
    taskSpec:
      steps:
      - name: sleep
        image: {BUSYBOX}
        script: |
          echo sleeping
          sleep 60
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: times-out
spec:
  pipelineRef: {{name: sleepy}}
  timeouts:
    pipeline: 3s
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: cancelled
spec:
  pipelineRef: {{name: sleepy}}
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: flaky
spec:
  workspaces:
  - name: ws
  tasks:
  - name: flaky
    retries: 2
    workspaces: [{{name: ws, workspace: ws}}]
    taskSpec:
      workspaces: [{{name: ws}}]
      steps:
      - name: try
        image: {BUSYBOX}
        script: |
          n=$(cat $(workspaces.ws.path)/n 2>/dev/null || echo 0)
          n=$((n+1)); echo $n > $(workspaces.ws.path)/n
          [ $n -ge 2 ]
  - name: fails
    runAfter: [flaky]
    taskSpec:
      steps:
      - name: fail
        image: {BUSYBOX}
        script: exit 1
  - name: after-failure
    runAfter: [fails]
    taskSpec:
      steps:
      - name: s
        image: {BUSYBOX}
        script: echo unreachable
  finally:
  - name: cleanup
    taskSpec:
      steps:
      - name: s
        image: {BUSYBOX}
        script: echo cleaned
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: flaky-run
spec:
  pipelineRef: {{name: flaky}}
  workspaces:
  - name: ws
    volumeClaimTemplate:
      spec:
        accessModes: [ReadWriteOnce]
        resources: {{requests: {{storage: 1Mi}}}}
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: needs-param
spec:
  params:
  - name: url
  tasks:
  - name: t
    params: [{{name: url, value: $(params.url)}}]
    taskRef: {{name: no-such-task}}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: missing-param
spec:
  pipelineRef: {{name: needs-param}}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: unknown-task
spec:
  pipelineRef: {{name: needs-param}}
  params:
  - name: url
    value: x
"#
    ));
    common::eventually("cancelled to run", Duration::from_secs(30), || {
        let out = env
            .server
            .kubectl(&["logs", "cancelled-sleep-pod", "-c", "step-sleep"]);
        stdout(&out).contains("sleeping").then_some(())
    });
    env.kubectl(&[
        "patch",
        "pipelinerun",
        "cancelled",
        "--type=merge",
        "-p",
        r#"{"spec":{"status":"Cancelled"}}"#,
    ]);
    let run = wait_done(&env, "pipelinerun", "cancelled", Duration::from_secs(30));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(c["reason"], "Cancelled", "{c}");
    assert_eq!(c["message"], "PipelineRun \"cancelled\" was cancelled");
    let tr = wait_done(&env, "taskrun", "cancelled-sleep", Duration::from_secs(30));
    assert_eq!(
        condition(&tr, "Succeeded").unwrap()["reason"],
        "TaskRunCancelled"
    );

    let run = wait_done(&env, "pipelinerun", "times-out", Duration::from_secs(30));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(c["reason"], "PipelineRunTimeout", "{c}");
    assert_eq!(
        c["message"],
        "PipelineRun \"times-out\" failed to finish within \"3s\""
    );
    // its TaskRun's own timeout was capped to what was left of the pipeline's: it
    // stops by that or by the pipeline's cancel, whichever comes first
    let tr = wait_done(&env, "taskrun", "times-out-sleep", Duration::from_secs(30));
    let reason = condition(&tr, "Succeeded").unwrap()["reason"].clone();
    assert!(
        reason == "TaskRunTimeout" || reason == "TaskRunCancelled",
        "{tr:#}"
    );

    let run = wait_done(&env, "pipelinerun", "flaky-run", Duration::from_secs(60));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(
        (c["status"].as_str(), c["reason"].as_str()),
        (Some("False"), Some("Failed")),
        "{c}"
    );
    let trs = task_runs(&env, "flaky-run");
    assert_eq!(
        condition(&trs["flaky"], "Succeeded").unwrap()["status"],
        "True"
    );
    assert_eq!(
        trs["flaky"]["status"]["retriesStatus"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        condition(&trs["fails"], "Succeeded").unwrap()["status"],
        "False"
    );
    assert!(!trs.contains_key("after-failure"));
    assert_eq!(
        condition(&trs["cleanup"], "Succeeded").unwrap()["status"],
        "True"
    );
    assert!(run["status"]["skippedTasks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["name"] == "after-failure" && s["reason"] == "PipelineRun was stopping"));

    let run = wait_done(
        &env,
        "pipelinerun",
        "missing-param",
        Duration::from_secs(30),
    );
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(c["reason"], "ParameterMissing", "{c}");
    assert!(c["message"].as_str().unwrap().contains("[url]"), "{c}");
    assert!(task_runs(&env, "missing-param").is_empty());

    let run = wait_done(&env, "pipelinerun", "unknown-task", Duration::from_secs(30));
    assert_eq!(condition(&run, "Succeeded").unwrap()["reason"], "Failed");
    let tr = wait_done(&env, "taskrun", "unknown-task-t", Duration::from_secs(30));
    assert_eq!(
        condition(&tr, "Succeeded").unwrap()["reason"],
        "CouldntGetTask"
    );

    // a cycle never gets stored
    let out = env.server.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(&format!(
            r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: cyclic
spec:
  tasks:
  - name: first
    runAfter: [second]
    taskSpec: {{steps: [{{name: s, image: {BUSYBOX}, script: "true"}}]}}
  - name: second
    runAfter: [first]
    taskSpec: {{steps: [{{name: s, image: {BUSYBOX}, script: "true"}}]}}
"#
        )),
    );
    assert!(!out.status.success());
    assert!(
        common::stderr(&out).contains("cycle"),
        "{}",
        common::stderr(&out)
    );
    env.finish();
}

/// Tekton's v1alpha1 shapes, as older tutorials write them: a Pipeline with a `git`
/// PipelineResource cloned (by the clone step skiff adds, whose image
/// `docker.io/alpine/git:latest` comes through a registry mirror to a loopback
/// registry) from a repository served over HTTP, and an `image` resource whose url the
/// step sees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1alpha1_pipeline_with_git_and_image_resources() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let (busybox, git) = match (StepImages::busybox(), StepImages::git()) {
        (Ok(b), Ok(g)) => (b, g),
        (Err(why), _) | (_, Err(why)) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    if let Err(why) = common::pipelines::registry_tools() {
        eprintln!("skipped: {why}");
        return;
    }
    let registry = common::pipelines::Registry::start(None);
    common::pipelines::push_image(&registry, &git, "alpine/git:latest");
    let mirror = format!("docker.io=http://{}", registry.host());
    let env = Env::start_with_args(&["--registry-mirror", &mirror], |data| {
        import_image(data, &busybox, BUSYBOX);
    });
    let repo = common::pipelines::GitServer::start(
        env.host_ip,
        &[("README", "hello from git\n"), ("src/main.txt", "code\n")],
    );
    env.apply(&format!(
        r#"
apiVersion: tekton.dev/v1alpha1
kind: PipelineResource
metadata:
  name: source-repo
spec:
  type: git
  params:
  - name: url
    value: {url}
  - name: revision
    value: main
---
apiVersion: tekton.dev/v1alpha1
kind: PipelineResource
metadata:
  name: app-image
spec:
  type: image
  params:
  - name: url
    value: registry.example/app:v1
---
apiVersion: tekton.dev/v1alpha1
kind: Task
metadata:
  name: build-from-source
spec:
  inputs:
    resources:
    - name: source
      type: git
    params:
    - name: greeting
      default: building
  outputs:
    resources:
    - name: image
      type: image
  steps:
  - name: build
    image: {BUSYBOX}
    command: [sh, -c]
    args:
    - |
      cat $(inputs.resources.source.path)/README
      ls $(inputs.resources.source.path)/src
      echo "$(inputs.params.greeting) $(outputs.resources.image.url)"
---
apiVersion: tekton.dev/v1alpha1
kind: Pipeline
metadata:
  name: build-pipeline
spec:
  resources:
  - name: source-repo
    type: git
  - name: app-image
    type: image
  tasks:
  - name: build
    taskRef:
      name: build-from-source
    resources:
      inputs:
      - name: source
        resource: source-repo
      outputs:
      - name: image
        resource: app-image
---
apiVersion: tekton.dev/v1alpha1
kind: PipelineRun
metadata:
  name: build-run
spec:
  pipelineRef:
    name: build-pipeline
  resources:
  - name: source-repo
    resourceRef:
      name: source-repo
  - name: app-image
    resourceRef:
      name: app-image
"#,
        url = repo.url()
    ));
    let run = wait_done(&env, "pipelinerun", "build-run", Duration::from_secs(120));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(
        c["status"],
        "True",
        "{run:#}\n{}",
        tail(&env.server.log(), 30)
    );
    let tr = &task_runs(&env, "build-run")["build"];
    let pod = tr["status"]["podName"].as_str().unwrap();
    let clone = env.kubectl(&["logs", pod, "-c", "step-git-source-source"]);
    assert!(
        clone.contains(&format!(
            "Successfully cloned {} @ {}",
            repo.url(),
            repo.head_commit()
        )),
        "{clone}"
    );
    let build = env.kubectl(&["logs", pod, "-c", "step-build"]);
    assert_eq!(
        build,
        "hello from git\nmain.txt\nbuilding registry.example/app:v1\n"
    );
    // read back at v1alpha1, the run still has its resources
    let old = env
        .get_json(&["pipelineruns.v1alpha1.tekton.dev", "build-run"])
        .unwrap();
    assert_eq!(old["apiVersion"], "tekton.dev/v1alpha1");
    env.finish();
}

/// A step runs the real `kubectl apply` of a Knative Service with its TaskRun's service
/// account (in-cluster config: the token, `ca.crt` and `KUBERNETES_SERVICE_HOST`): with
/// a RoleBinding the Service is created and answers at its URL; without one kubectl gets
/// Kubernetes' 403, which is in the step's log, and the run fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_in_a_step_deploys_with_its_service_account() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let kubectl = match StepImages::kubectl() {
        Ok(dir) => dir,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let env = Env::start_with(|data| {
        import_image(data, &kubectl, "dev.local/kubectl:latest");
    });
    let task = |name: &str, sa: &str, target: &str| {
        format!(
            r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: {name}
spec:
  serviceAccountName: {sa}
  taskSpec:
    steps:
    - name: deploy
      image: dev.local/kubectl:latest
      script: |
        #!/bin/sh
        set -e
        cat <<EOF | kubectl apply -f -
        apiVersion: serving.knative.dev/v1
        kind: Service
        metadata:
          name: from-pipeline
        spec:
          template:
            spec:
              containers:
              - image: {IMAGE}
                env:
                - name: TARGET
                  value: {target}
        EOF
"#
        )
    };
    env.apply(&format!(
        r#"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: deployer
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: nobody
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: deploy-services
rules:
- apiGroups: [serving.knative.dev]
  resources: [services]
  verbs: [get, list, watch, create, update, patch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: deployer-deploys
subjects:
- kind: ServiceAccount
  name: deployer
  namespace: default
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: deploy-services
---
{}
---
{}
"#,
        task("deploy-allowed", "deployer", "Pipeline"),
        task("deploy-denied", "nobody", "Denied"),
    ));
    let run = wait_done(&env, "taskrun", "deploy-allowed", Duration::from_secs(90));
    let log = env.kubectl(&["logs", "deploy-allowed-pod", "-c", "step-deploy"]);
    assert_eq!(
        condition(&run, "Succeeded").unwrap()["status"],
        "True",
        "{run:#}\n{log}"
    );
    assert!(
        log.contains("service.serving.knative.dev/from-pipeline created"),
        "{log}"
    );
    env.wait_ksvc_ready("from-pipeline", None);
    env.wait_body("from-pipeline.default.localhost", "Hello Pipeline!\n")
        .await;

    let run = wait_done(&env, "taskrun", "deploy-denied", Duration::from_secs(90));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(c["status"], "False", "{run:#}");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("\"step-deploy\" exited with code 1"),
        "{c}"
    );
    let log = env
        .server
        .kubectl(&["logs", "deploy-denied-pod", "-c", "step-deploy"]);
    let log = stdout(&log);
    assert!(
        log.contains("system:serviceaccount:default:nobody") && log.contains("forbidden"),
        "{log}"
    );
    env.finish();
}

/// A sidecar serves the steps (started first, ready by its probe, stopped after);
/// ConfigMap and Secret workspaces, `secretKeyRef` env, the podTemplate's env and
/// hostAliases reach the step, whose `workingDir` is created; `skiff logs
/// pipelinerun/x -f` started before the run streams every task's steps as they run
/// and exits when the run is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sidecars_config_workspaces_and_following_logs() {
    let Some(env) = env_with_busybox() else {
        return;
    };
    env.apply(&format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
data:
  greeting: hola
---
apiVersion: v1
kind: Secret
metadata:
  name: app-secret
stringData:
  token: s3cret
---
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: with-sidecar
spec:
  workspaces:
  - name: config
    readOnly: true
  - name: secret
  sidecars:
  - name: web
    image: {BUSYBOX}
    script: |
      echo sidecar-says-hi > /tmp/index.html
      exec httpd -f -p 8080 -h /tmp
    readinessProbe:
      tcpSocket:
        port: 8080
  steps:
  - name: use
    image: {BUSYBOX}
    env:
    - name: TOKEN
      valueFrom:
        secretKeyRef:
          name: app-secret
          key: token
    script: |
      wget -q -O - http://127.0.0.1:8080/
      cat $(workspaces.config.path)/greeting; echo
      cat $(workspaces.secret.path)/token; echo
      echo "env $TOKEN $FROM_TEMPLATE $(pwd)"
      grep -q "10.1.2.3	git.example" /etc/hosts && echo alias
      sleep 1
      echo first-done
    workingDir: /workspace/made/by/skiff
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: follow
spec:
  workspaces:
  - name: config
  - name: secret
  tasks:
  - name: first
    taskRef: {{name: with-sidecar}}
    workspaces:
    - {{name: config, workspace: config}}
    - {{name: secret, workspace: secret}}
  - name: second
    runAfter: [first]
    taskSpec:
      steps:
      - name: one
        image: {BUSYBOX}
        script: |
          sleep 1
          echo second-one
      - name: two
        image: {BUSYBOX}
        script: echo second-two
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: follow-run
spec:
  pipelineRef: {{name: follow}}
  taskRunTemplate:
    podTemplate:
      env:
      - name: FROM_TEMPLATE
        value: template-env
      hostAliases:
      - ip: 10.1.2.3
        hostnames: [git.example]
  workspaces:
  - name: config
    configMap:
      name: app-config
  - name: secret
    secret:
      secretName: app-secret
"#
    ));
    let follow = std::process::Command::new(common::skiff_bin())
        .args(["logs", "pipelinerun/follow-run", "-f"])
        .env("KUBECONFIG", env.server.kubeconfig())
        .output()
        .unwrap();
    let out = stdout(&follow);
    assert!(
        follow.status.success(),
        "{out}\n{}",
        common::stderr(&follow)
    );
    assert_eq!(
        out,
        "[first : use] sidecar-says-hi\n[first : use] hola\n[first : use] s3cret\n[first : use] env s3cret template-env /workspace/made/by/skiff\n[first : use] alias\n[first : use] first-done\n[second : one] second-one\n[second : two] second-two\n"
    );
    let run = wait_done(&env, "pipelinerun", "follow-run", Duration::from_secs(10));
    assert_eq!(condition(&run, "Succeeded").unwrap()["status"], "True");
    let tr = &task_runs(&env, "follow-run")["first"];
    assert_eq!(tr["status"]["sidecars"][0]["container"], "sidecar-web");
    assert!(
        tr["status"]["sidecars"][0]["terminated"].is_object(),
        "{tr:#}"
    );
    env.finish();
}

/// A restart of `skiff server` loses a running TaskRun's pod: the run fails saying so
/// and its Pod shows Failed; a run that finished before the restart keeps its logs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_fails_running_runs_and_keeps_finished_logs() {
    let Some(mut env) = env_with_busybox() else {
        return;
    };
    env.apply(&format!(
        r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: before
spec:
  taskSpec:
    steps:
    - name: hello
      image: {BUSYBOX}
      script: echo kept across restarts
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: interrupted
spec:
  taskSpec:
    steps:
    - name: sleep
      image: {BUSYBOX}
      script: |
        echo sleeping
        sleep 600
"#
    ));
    wait_done(&env, "taskrun", "before", Duration::from_secs(30));
    common::eventually("interrupted to run", Duration::from_secs(30), || {
        let out = env
            .server
            .kubectl(&["logs", "interrupted-pod", "-c", "step-sleep"]);
        stdout(&out).contains("sleeping").then_some(())
    });
    env.server.restart();
    env.server.wait_ready();
    let run = wait_done(&env, "taskrun", "interrupted", Duration::from_secs(30));
    let c = condition(&run, "Succeeded").unwrap();
    assert_eq!(c["status"], "False");
    assert!(
        c["message"]
            .as_str()
            .unwrap()
            .contains("skiff server restarted"),
        "{c}"
    );
    common::eventually(
        "the lost pod to show Failed",
        Duration::from_secs(10),
        || {
            let pod = env.get_json(&["pod", "interrupted-pod"])?;
            (pod["status"]["phase"] == "Failed").then_some(())
        },
    );
    assert_eq!(
        env.kubectl(&["logs", "before-pod", "-c", "step-hello"]),
        "kept across restarts\n"
    );
    env.finish();
}
