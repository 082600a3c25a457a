//! The Tekton API (`tekton.dev`) of a real `skiff server`, driven by the real kubectl,
//! plain HTTPS and kube-rs: Tekton's getting-started manifests apply unchanged, list
//! with Tekton's printer columns and short names, `kubectl explain` works, v1beta1 and
//! v1alpha1 manifests are stored as v1, and bad manifests are refused whole with a 422
//! naming the field.

mod common;

use kube::api::{Api, PostParams};
use serde_json::{json, Value};

use common::{ok, stderr, stdout, TestServer};
use skiff_api::tekton::{v1, v1alpha1};

/// Tekton's getting-started Tasks, Pipeline, PipelineRun and TaskRun (tekton.dev/docs,
/// v1 edition), unchanged.
const GETTING_STARTED: &str = r#"
apiVersion: tekton.dev/v1
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
---
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
---
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
---
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
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: hello-task-run
spec:
  taskRef:
    name: hello
"#;

/// The same tutorial's v1beta1 edition (the Task and the PipelineRun).
const GETTING_STARTED_V1BETA1: &str = r#"
apiVersion: tekton.dev/v1beta1
kind: Task
metadata:
  name: hello-beta
spec:
  steps:
    - name: echo
      image: alpine
      script: |
        #!/bin/sh
        echo "Hello World"
---
apiVersion: tekton.dev/v1beta1
kind: PipelineRun
metadata:
  name: hello-beta-run
spec:
  pipelineRef:
    name: hello-goodbye
  serviceAccountName: builder
  timeout: 30m
  podTemplate:
    nodeSelector:
      disk: ssd
  params:
  - name: username
    value: "Tekton"
"#;

fn header_cols(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

fn json_of(s: &TestServer, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&ok(&s.kubectl(&all))).unwrap()
}

#[test]
fn getting_started_manifests_apply_list_and_explain() {
    let s = TestServer::start();
    let out = ok(&s.kubectl_stdin(&["apply", "-f", "-"], Some(GETTING_STARTED)));
    for created in [
        "task.tekton.dev/hello created",
        "task.tekton.dev/goodbye created",
        "pipeline.tekton.dev/hello-goodbye created",
        "pipelinerun.tekton.dev/hello-goodbye-run created",
        "taskrun.tekton.dev/hello-task-run created",
    ] {
        assert!(out.contains(created), "{out}");
    }

    // Several kinds at once, each with its columns.
    let out = ok(&s.kubectl(&["get", "tasks,pipelines,pipelineruns"]));
    for name in [
        "task.tekton.dev/hello",
        "task.tekton.dev/goodbye",
        "pipeline.tekton.dev/hello-goodbye",
        "pipelinerun.tekton.dev/hello-goodbye-run",
    ] {
        assert!(out.contains(name), "{out}");
    }
    assert!(
        out.lines().any(|l| l.split_whitespace().collect::<Vec<_>>()
            == ["NAME", "SUCCEEDED", "REASON", "STARTTIME", "COMPLETIONTIME"]),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["NAME", "AGE"]),
        "{out}"
    );

    // Short names and the `tekton` category.
    let pr = ok(&s.kubectl(&["get", "pr"]));
    assert_eq!(
        header_cols(&pr),
        ["NAME", "SUCCEEDED", "REASON", "STARTTIME", "COMPLETIONTIME"],
        "{pr}"
    );
    assert!(
        pr.lines().nth(1).unwrap().starts_with("hello-goodbye-run"),
        "{pr}"
    );
    let tr = ok(&s.kubectl(&["get", "tr"]));
    assert!(tr.contains("hello-task-run"), "{tr}");
    let all = ok(&s.kubectl(&["get", "tekton"]));
    for name in ["task.tekton.dev/hello", "taskrun.tekton.dev/hello-task-run"] {
        assert!(all.contains(name), "{all}");
    }

    // Tekton's defaults are on the stored objects.
    let run = json_of(&s, &["get", "pipelinerun", "hello-goodbye-run"]);
    assert_eq!(run["apiVersion"], "tekton.dev/v1");
    assert_eq!(run["spec"]["timeouts"]["pipeline"], "1h0m0s");
    assert_eq!(
        run["spec"]["taskRunTemplate"]["serviceAccountName"],
        "default"
    );
    let task = json_of(&s, &["get", "task", "goodbye"]);
    assert_eq!(task["spec"]["params"][0]["type"], "string");
    let trun = json_of(&s, &["get", "taskrun", "hello-task-run"]);
    assert_eq!(trun["spec"]["timeout"], "1h0m0s");
    assert_eq!(trun["spec"]["serviceAccountName"], "default");

    // A status written the way the pipelines controller will: the columns show it.
    ok(&s.kubectl(&[
        "patch",
        "pipelinerun",
        "hello-goodbye-run",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status": {"startTime": "2024-05-01T10:00:00Z", "completionTime": "2024-05-01T10:01:00Z",
            "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}],
            "childReferences": [{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "hello-goodbye-run-hello", "pipelineTaskName": "hello"}]}}"#,
    ]));
    let pr = ok(&s.kubectl(&["get", "pr", "hello-goodbye-run"]));
    let row: Vec<&str> = pr.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &row[..3],
        ["hello-goodbye-run", "True", "Succeeded"],
        "{pr}"
    );

    // Re-applying the same manifests is accepted (runs are only refused when changed).
    ok(&s.kubectl_stdin(&["apply", "-f", "-"], Some(GETTING_STARTED)));
    // Changing a started run is not.
    let changed = GETTING_STARTED.replace("value: \"Tekton\"", "value: \"Someone\"");
    let o = s.kubectl_stdin(&["apply", "-f", "-"], Some(&changed));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Once the PipelineRun is complete, no updates are allowed"),
        "{}",
        stderr(&o)
    );

    // kubectl explain reads the schema.
    let explain = ok(&s.kubectl(&["explain", "task.spec.steps"]));
    assert!(explain.contains("tekton.dev"), "{explain}");
    for field in ["script", "image", "onError", "computeResources", "timeout"] {
        assert!(explain.contains(field), "{field} missing: {explain}");
    }
    let explain = ok(&s.kubectl(&["explain", "pipelinerun.spec.timeouts"]));
    assert!(
        explain.contains("pipeline") && explain.contains("finally"),
        "{explain}"
    );
}

#[tokio::test]
async fn v1beta1_manifests_are_stored_as_v1() {
    let s = TestServer::start();
    ok(&s.kubectl_stdin(&["apply", "-f", "-"], Some(GETTING_STARTED)));
    let out = ok(&s.kubectl_stdin(&["apply", "-f", "-"], Some(GETTING_STARTED_V1BETA1)));
    assert!(out.contains("task.tekton.dev/hello-beta created"), "{out}");
    assert!(
        out.contains("pipelinerun.tekton.dev/hello-beta-run created"),
        "{out}"
    );

    // Read back at the preferred version (v1), in v1's shape.
    let run = json_of(&s, &["get", "pipelineruns.v1.tekton.dev", "hello-beta-run"]);
    assert_eq!(run["apiVersion"], "tekton.dev/v1");
    assert_eq!(run["spec"]["timeouts"]["pipeline"], "30m");
    assert_eq!(
        run["spec"]["taskRunTemplate"],
        json!({"serviceAccountName": "builder", "podTemplate": {"nodeSelector": {"disk": "ssd"}}})
    );
    assert!(run["spec"].get("serviceAccountName").is_none(), "{run}");
    let task = json_of(&s, &["get", "tasks", "hello-beta"]);
    assert_eq!(task["apiVersion"], "tekton.dev/v1");
    // Still served at v1beta1.
    let beta = json_of(&s, &["get", "tasks.v1beta1.tekton.dev", "hello-beta"]);
    assert_eq!(beta["apiVersion"], "tekton.dev/v1beta1");
    assert_eq!(beta["metadata"]["name"], "hello-beta");

    // A v1beta1 step's `resources` is v1's `computeResources`, seen by a typed client.
    ok(&s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(
            r#"
apiVersion: tekton.dev/v1beta1
kind: Task
metadata:
  name: sized
spec:
  steps:
    - name: build
      image: golang
      script: go build ./...
      resources:
        limits:
          memory: 1Gi
"#,
        ),
    ));
    let client = s.client().await;
    let tasks: Api<v1::Task> = Api::namespaced(client.clone(), "default");
    let sized = tasks.get("sized").await.unwrap();
    let limits = sized.spec.steps[0]
        .compute_resources
        .as_ref()
        .unwrap()
        .limits
        .as_ref()
        .unwrap();
    assert_eq!(limits["memory"].0, "1Gi");
    assert_eq!(sized.spec.steps[0].on_error, "stopAndFail");

    // Read at v1beta1, it is in v1beta1's shape (converted, not just relabelled) …
    let beta = json_of(&s, &["get", "tasks.v1beta1.tekton.dev", "sized"]);
    assert_eq!(beta["apiVersion"], "tekton.dev/v1beta1");
    assert_eq!(
        beta["spec"]["steps"][0]["resources"]["limits"]["memory"],
        "1Gi"
    );
    assert!(
        beta["spec"]["steps"][0].get("computeResources").is_none(),
        "{beta}"
    );
    // … and a changed v1beta1 manifest re-applies (patched at v1beta1, stored as v1).
    let out = ok(&s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(
            r#"
apiVersion: tekton.dev/v1beta1
kind: Task
metadata:
  name: sized
spec:
  steps:
    - name: build
      image: golang
      script: go build ./...
      resources:
        limits:
          memory: 2Gi
"#,
        ),
    ));
    assert!(out.contains("task.tekton.dev/sized configured"), "{out}");
    let sized = tasks.get("sized").await.unwrap();
    let limits = sized.spec.steps[0].compute_resources.as_ref().unwrap();
    assert_eq!(limits.limits.as_ref().unwrap()["memory"].0, "2Gi");

    // kube-rs creates v1 objects too.
    let pr: v1::PipelineRun = serde_json::from_value(json!({
        "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
        "metadata": {"name": "from-kube-rs"},
        "spec": {"pipelineRef": {"name": "hello-goodbye"}, "params": [{"name": "username", "value": "rs"}]}
    }))
    .unwrap();
    let runs: Api<v1::PipelineRun> = Api::namespaced(client, "default");
    let created = runs.create(&PostParams::default(), &pr).await.unwrap();
    assert_eq!(
        created.spec.timeouts.unwrap().pipeline.as_deref(),
        Some("1h0m0s")
    );
}

#[tokio::test]
async fn v1alpha1_tutorial_manifests_are_accepted() {
    let s = TestServer::start();
    let out = ok(&s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(
            r#"
apiVersion: tekton.dev/v1alpha1
kind: PipelineResource
metadata:
  name: skaffold-git
spec:
  type: git
  params:
    - name: revision
      value: main
    - name: url
      value: https://github.com/GoogleContainerTools/skaffold
---
apiVersion: tekton.dev/v1alpha1
kind: PipelineResource
metadata:
  name: skaffold-image-leeroy-web
spec:
  type: image
  params:
    - name: url
      value: gcr.io/example/leeroy-web
---
apiVersion: tekton.dev/v1alpha1
kind: Task
metadata:
  name: build-docker-image-from-git-source
spec:
  inputs:
    resources:
      - name: docker-source
        type: git
    params:
      - name: pathToDockerFile
        type: string
        description: The path to the dockerfile to build
        default: /workspace/docker-source/Dockerfile
  outputs:
    resources:
      - name: builtImage
        type: image
  steps:
    - name: build-and-push
      image: gcr.io/kaniko-project/executor:v0.16.0
      command:
        - /kaniko/executor
      args:
        - --dockerfile=$(inputs.params.pathToDockerFile)
        - --destination=$(outputs.resources.builtImage.url)
        - --context=$(inputs.resources.docker-source.path)
---
apiVersion: tekton.dev/v1alpha1
kind: TaskRun
metadata:
  name: build-docker-image-from-git-source-task-run
spec:
  taskRef:
    name: build-docker-image-from-git-source
  inputs:
    resources:
      - name: docker-source
        resourceRef:
          name: skaffold-git
    params:
      - name: pathToDockerFile
        value: Dockerfile
  outputs:
    resources:
      - name: builtImage
        resourceRef:
          name: skaffold-image-leeroy-web
"#,
        ),
    ));
    assert!(
        out.contains("pipelineresource.tekton.dev/skaffold-git created"),
        "{out}"
    );
    assert!(
        out.contains("task.tekton.dev/build-docker-image-from-git-source created"),
        "{out}"
    );

    let resources = ok(&s.kubectl(&["get", "pipelineresources"]));
    assert!(
        resources.contains("skaffold-image-leeroy-web"),
        "{resources}"
    );

    // Stored as v1: params moved, variables rewritten, resources kept for the runner.
    let client = s.client().await;
    let tasks: Api<v1::Task> = Api::namespaced(client.clone(), "default");
    let task = tasks
        .get("build-docker-image-from-git-source")
        .await
        .unwrap();
    assert_eq!(task.spec.params[0].name, "pathToDockerFile");
    assert_eq!(
        task.spec.steps[0].args[0],
        "--dockerfile=$(params.pathToDockerFile)"
    );
    let declared = skiff_api::tekton::resources::task_resources(&task.metadata).unwrap();
    assert_eq!(declared.inputs[0].name, "docker-source");
    assert_eq!(declared.outputs[0].type_, "image");
    let runs: Api<v1::TaskRun> = Api::namespaced(client.clone(), "default");
    let run = runs
        .get("build-docker-image-from-git-source-task-run")
        .await
        .unwrap();
    assert_eq!(run.spec.params[0].name, "pathToDockerFile");
    let bindings = skiff_api::tekton::resources::task_run_resources(&run.metadata).unwrap();
    assert_eq!(
        bindings.inputs[0]
            .binding
            .resource_ref
            .as_ref()
            .unwrap()
            .name,
        "skaffold-git"
    );
    let prs: Api<v1alpha1::PipelineResource> = Api::namespaced(client, "default");
    let git = prs.get("skaffold-git").await.unwrap();
    assert_eq!(
        git.spec.param("url"),
        Some("https://github.com/GoogleContainerTools/skaffold")
    );
}

// ---------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------

struct Http {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Http {
    fn new(s: &TestServer) -> Http {
        Http {
            client: s.http(),
            base: s.url(),
            token: s.token(),
        }
    }

    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        (code, r.json().await.unwrap())
    }

    async fn count(&self, path: &str) -> usize {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let v: Value = r.json().await.unwrap();
        v["items"].as_array().unwrap().len()
    }
}

/// Asserts a 422 Invalid Status with a cause at `field` whose message contains `msg`.
#[track_caller]
fn assert_invalid(got: &(u16, Value), field: &str, msg: &str) {
    let (code, v) = got;
    assert_eq!(*code, 422, "{v}");
    assert_eq!(v["kind"], "Status", "{v}");
    assert_eq!(v["reason"], "Invalid", "{v}");
    let causes = v["details"]["causes"].as_array().expect("causes");
    assert!(
        causes.iter().any(|c| c["field"] == field
            && c["message"].as_str().unwrap_or_default().contains(msg)),
        "no cause at {field} containing {msg:?}: {v}"
    );
}

const PIPELINES: &str = "/apis/tekton.dev/v1/namespaces/default/pipelines";
const PIPELINERUNS: &str = "/apis/tekton.dev/v1/namespaces/default/pipelineruns";
const TASKS: &str = "/apis/tekton.dev/v1/namespaces/default/tasks";
const ALPHA_TASKS: &str = "/apis/tekton.dev/v1alpha1/namespaces/default/tasks";
const RESOURCES: &str = "/apis/tekton.dev/v1alpha1/namespaces/default/pipelineresources";

const CYCLIC: &str = r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: cyclic
spec:
  tasks:
    - name: a
      runAfter: [b]
      taskRef:
        name: hello
    - name: b
      runAfter: [a]
      taskRef:
        name: hello
"#;

const CLUSTER_RESOURCE: &str = r#"
apiVersion: tekton.dev/v1alpha1
kind: PipelineResource
metadata:
  name: target-cluster
spec:
  type: cluster
  params:
    - name: url
      value: https://10.10.10.10
"#;

#[tokio::test]
async fn bad_manifests_are_refused_whole_with_422() {
    let s = TestServer::start();
    let h = Http::new(&s);

    // With kubectl: the message names the field; nothing is stored.
    let o = s.kubectl_stdin(&["apply", "-f", "-"], Some(CYCLIC));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains(r#"spec.tasks: invalid value: cycle detected; task "a" depends on "b""#),
        "{err}"
    );
    let o = s.kubectl(&["get", "pipeline", "cyclic"]);
    assert!(
        !o.status.success() && stderr(&o).contains("NotFound"),
        "{}",
        stdout(&o)
    );

    let o = s.kubectl_stdin(&["apply", "-f", "-"], Some(CLUSTER_RESOURCE));
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(
            r#"PipelineResource type "cluster" is not supported by skiff: only git and image"#
        ),
        "{}",
        stderr(&o)
    );
    assert_eq!(h.count(RESOURCES).await, 0);

    // Over HTTP: 422 with Status causes.
    let cyclic: Value = serde_yaml::from_str(CYCLIC).unwrap();
    assert_invalid(
        &h.post(PIPELINES, &cyclic).await,
        "spec.tasks",
        r#"cycle detected; task "a" depends on "b""#,
    );
    let mut unknown = cyclic.clone();
    unknown["spec"]["tasks"][0]["runAfter"] = json!(["nope"]);
    unknown["spec"]["tasks"][1]["runAfter"] = json!([]);
    assert_invalid(
        &h.post(PIPELINES, &unknown).await,
        "spec.tasks",
        "task a depends on nope but nope wasn't present in Pipeline",
    );
    assert_eq!(h.count(PIPELINES).await, 0);

    let cluster: Value = serde_yaml::from_str(CLUSTER_RESOURCE).unwrap();
    assert_invalid(
        &h.post(RESOURCES, &cluster).await,
        "spec.type",
        r#"PipelineResource type "cluster" is not supported by skiff"#,
    );

    let both = json!({
        "apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "both"},
        "spec": {"pipelineRef": {"name": "p"}, "pipelineSpec": {"tasks": [{"name": "a", "taskRef": {"name": "t"}}]}}
    });
    let got = h.post(PIPELINERUNS, &both).await;
    assert_invalid(&got, "spec.pipelineRef", "expected exactly one, got both");
    assert_invalid(&got, "spec.pipelineSpec", "expected exactly one, got both");
    let neither = json!({
        "apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "neither"}, "spec": {}
    });
    assert_invalid(
        &h.post(PIPELINERUNS, &neither).await,
        "spec.pipelineRef",
        "expected exactly one, got neither",
    );
    assert_eq!(h.count(PIPELINERUNS).await, 0);

    let no_image = json!({
        "apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "no-image"},
        "spec": {"steps": [{"name": "build", "script": "make"}]}
    });
    assert_invalid(
        &h.post(TASKS, &no_image).await,
        "spec.steps[0].image",
        "missing field(s)",
    );
    let unknown_param = json!({
        "apiVersion": "tekton.dev/v1", "kind": "Task", "metadata": {"name": "unknown-param"},
        "spec": {"params": [{"name": "who"}], "steps": [{"image": "alpine", "script": "echo $(params.whom)"}]}
    });
    assert_invalid(
        &h.post(TASKS, &unknown_param).await,
        "spec.steps[0].script",
        r#"non-existent variable in "echo $(params.whom)""#,
    );
    let alpha_cluster = json!({
        "apiVersion": "tekton.dev/v1alpha1", "kind": "Task", "metadata": {"name": "deploy"},
        "spec": {"inputs": {"resources": [{"name": "k8s", "type": "cluster"}]},
                 "steps": [{"image": "bitnami/kubectl", "script": "kubectl get pods"}]}
    });
    assert_invalid(
        &h.post(ALPHA_TASKS, &alpha_cluster).await,
        "spec.inputs.resources[0].type",
        r#"PipelineResource type "cluster" is not supported by skiff"#,
    );
    assert_eq!(h.count(TASKS).await, 0);
}
