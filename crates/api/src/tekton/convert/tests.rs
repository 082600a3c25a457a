//! v1beta1 ↔ v1 and v1alpha1 → v1 conversions, and their round trips.

use serde_json::{json, Value};

use super::*;

fn yaml(s: &str) -> Value {
    serde_yaml::from_str(s).unwrap()
}

/// A v1beta1 Task using everything that moved in v1.
fn beta_task() -> Value {
    yaml(
        r#"
apiVersion: tekton.dev/v1beta1
kind: Task
metadata:
  name: build
spec:
  resources:
    inputs:
      - name: source
        type: git
    outputs:
      - name: image
        type: image
  params:
    - name: IMAGE
      default: app
  stepTemplate:
    image: alpine
    resources:
      requests:
        cpu: 100m
  steps:
    - name: build
      image: golang
      script: go build ./...
      timeout: 5m
      resources:
        limits:
          memory: 1Gi
  sidecars:
    - name: docker
      image: docker:dind
      resources:
        requests:
          memory: 512Mi
"#,
    )
}

#[test]
fn v1beta1_task_to_v1() {
    let mut t = beta_task();
    v1beta1_to_v1(&mut t).unwrap();
    assert_eq!(t["apiVersion"], "tekton.dev/v1");
    let spec = &t["spec"];
    assert_eq!(
        spec["steps"][0]["computeResources"]["limits"]["memory"],
        "1Gi"
    );
    assert!(spec["steps"][0].get("resources").is_none());
    assert_eq!(spec["steps"][0]["timeout"], "5m");
    assert_eq!(
        spec["stepTemplate"]["computeResources"]["requests"]["cpu"],
        "100m"
    );
    assert_eq!(
        spec["sidecars"][0]["computeResources"]["requests"]["memory"],
        "512Mi"
    );
    assert!(spec.get("resources").is_none());
    let ann = t["metadata"]["annotations"][RESOURCES_ANNOTATION]
        .as_str()
        .unwrap();
    let stashed: Value = serde_json::from_str(ann).unwrap();
    assert_eq!(
        stashed["inputs"][0],
        json!({"name": "source", "type": "git"})
    );
    // The v1 object reads as the v1 type.
    let typed: crate::tekton::v1::Task = serde_json::from_value(t.clone()).unwrap();
    assert_eq!(typed.spec.steps[0].name, "build");
    assert!(typed.spec.steps[0].compute_resources.is_some());
}

#[test]
fn task_round_trips_through_v1() {
    let original = beta_task();
    let v1 = convert(&original, "tekton.dev/v1").unwrap();
    let back = convert(&v1, "tekton.dev/v1beta1").unwrap();
    assert_eq!(back, original);
    // And the same for a v1 object through v1beta1.
    let again = convert(&back, "tekton.dev/v1").unwrap();
    assert_eq!(again, v1);
}

#[test]
fn conversion_is_idempotent() {
    let mut once = beta_task();
    v1beta1_to_v1(&mut once).unwrap();
    let mut twice = once.clone();
    twice["apiVersion"] = json!("tekton.dev/v1beta1");
    v1beta1_to_v1(&mut twice).unwrap();
    assert_eq!(once, twice);
}

#[test]
fn a_request_field_wins_over_a_stale_one() {
    // A merge patch of a stored v1 object sent at v1beta1: both names present.
    let mut obj = json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "Task", "metadata": {"name": "t"},
        "spec": {"steps": [{"image": "a", "resources": {"limits": {"cpu": "2"}},
                            "computeResources": {"limits": {"cpu": "1"}}}]}
    });
    v1beta1_to_v1(&mut obj).unwrap();
    assert_eq!(
        obj["spec"]["steps"][0],
        json!({"image": "a", "computeResources": {"limits": {"cpu": "2"}}})
    );
}

#[test]
fn bundles_become_the_bundles_resolver() {
    let tr = json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "TaskRun", "metadata": {"name": "r"},
        "spec": {"taskRef": {"name": "echo", "bundle": "registry.local/tasks:v1"}}
    });
    let v1 = convert(&tr, "tekton.dev/v1").unwrap();
    assert_eq!(
        v1["spec"]["taskRef"],
        json!({"resolver": "bundles", "params": [
            {"name": "bundle", "value": "registry.local/tasks:v1"},
            {"name": "name", "value": "echo"},
            {"name": "kind", "value": "Task"},
        ]})
    );
    let back = convert(&v1, "tekton.dev/v1beta1").unwrap();
    assert_eq!(back, tr);
    let pr = json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "PipelineRun", "metadata": {"name": "r"},
        "spec": {"pipelineRef": {"name": "p", "bundle": "registry.local/p:v1"}}
    });
    let v1 = convert(&pr, "tekton.dev/v1").unwrap();
    assert_eq!(v1["spec"]["pipelineRef"]["params"][2]["value"], "Pipeline");
}

#[test]
fn v1beta1_pipelinerun_fields_move() {
    let pr = yaml(
        r#"
apiVersion: tekton.dev/v1beta1
kind: PipelineRun
metadata:
  name: run
spec:
  pipelineRef:
    name: build
  serviceAccountName: builder
  serviceAccountNames:
    - taskName: deploy
      serviceAccountName: deployer
  timeout: 30m
  podTemplate:
    nodeSelector:
      disk: ssd
  resources:
    - name: source
      resourceRef:
        name: my-repo
  taskRunSpecs:
    - pipelineTaskName: build
      taskServiceAccountName: sa-build
      taskPodTemplate:
        hostNetwork: true
      stepOverrides:
        - name: compile
          resources:
            limits:
              cpu: "2"
status:
  pipelineResults:
    - name: digest
      value: sha256:abc
  taskRuns:
    run-build:
      pipelineTaskName: build
"#,
    );
    let v1 = convert(&pr, "tekton.dev/v1").unwrap();
    let spec = &v1["spec"];
    assert_eq!(spec["timeouts"], json!({"pipeline": "30m"}));
    assert_eq!(
        spec["taskRunTemplate"],
        json!({"serviceAccountName": "builder", "podTemplate": {"nodeSelector": {"disk": "ssd"}}})
    );
    assert_eq!(
        spec["taskRunSpecs"],
        json!([
            {"pipelineTaskName": "build", "serviceAccountName": "sa-build",
             "podTemplate": {"hostNetwork": true},
             "stepSpecs": [{"name": "compile", "computeResources": {"limits": {"cpu": "2"}}}]},
            {"pipelineTaskName": "deploy", "serviceAccountName": "deployer"},
        ])
    );
    for gone in [
        "serviceAccountName",
        "serviceAccountNames",
        "timeout",
        "podTemplate",
        "resources",
    ] {
        assert!(spec.get(gone).is_none(), "{gone} left: {spec}");
    }
    assert_eq!(v1["status"]["results"][0]["value"], "sha256:abc");
    assert!(v1["status"].get("taskRuns").is_none());
    let stashed = v1["metadata"]["annotations"][RESOURCES_ANNOTATION]
        .as_str()
        .unwrap();
    assert!(stashed.contains("my-repo"));
    let typed: crate::tekton::v1::PipelineRun = serde_json::from_value(v1.clone()).unwrap();
    assert_eq!(
        typed.spec.task_run_template.unwrap().service_account_name,
        "builder"
    );

    let back = convert(&v1, "tekton.dev/v1beta1").unwrap();
    assert_eq!(back["spec"]["serviceAccountName"], "builder");
    assert_eq!(back["spec"]["podTemplate"]["nodeSelector"]["disk"], "ssd");
    assert_eq!(back["spec"]["timeouts"]["pipeline"], "30m");
    assert_eq!(
        back["spec"]["resources"][0]["resourceRef"]["name"],
        "my-repo"
    );
    assert_eq!(
        back["spec"]["taskRunSpecs"][0]["taskServiceAccountName"],
        "sa-build"
    );
    assert_eq!(
        back["spec"]["taskRunSpecs"][0]["stepOverrides"][0]["resources"]["limits"]["cpu"],
        "2"
    );
    assert_eq!(back["status"]["pipelineResults"][0]["name"], "digest");
    assert!(back["metadata"].get("annotations").is_none(), "{back}");
}

#[test]
fn timeout_and_timeouts_together_are_refused() {
    let pr = json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "PipelineRun", "metadata": {"name": "r"},
        "spec": {"pipelineRef": {"name": "p"}, "timeout": "1h", "timeouts": {"tasks": "30m"}}
    });
    let e = convert(&pr, "tekton.dev/v1").unwrap_err();
    assert_eq!(e.message, "expected exactly one, got both");
}

#[test]
fn v1beta1_taskrun_status_and_overrides() {
    let tr = json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "TaskRun", "metadata": {"name": "r"},
        "spec": {
            "taskRef": {"name": "t"},
            "resources": {"inputs": [{"name": "src", "resourceRef": {"name": "repo"}}]},
            "sidecarOverrides": [{"name": "db", "resources": {"limits": {"memory": "1Gi"}}}]
        },
        "status": {
            "podName": "r-pod",
            "taskResults": [{"name": "out", "type": "string", "value": "x"}],
            "cloudEvents": [{"target": "http://sink"}],
            "steps": [{"name": "s", "container": "step-s", "terminated": {"exitCode": 0}}],
            "retriesStatus": [{"podName": "r-pod-retry1", "taskResults": [{"name": "out", "value": "y"}]}]
        }
    });
    let v1 = convert(&tr, "tekton.dev/v1").unwrap();
    assert_eq!(v1["status"]["results"][0]["value"], "x");
    assert_eq!(v1["status"]["retriesStatus"][0]["results"][0]["value"], "y");
    assert!(v1["status"].get("cloudEvents").is_none());
    assert_eq!(
        v1["spec"]["sidecarSpecs"][0]["computeResources"]["limits"]["memory"],
        "1Gi"
    );
    assert_eq!(v1["status"]["steps"][0]["terminated"]["exitCode"], 0);
    let typed: crate::tekton::v1::TaskRun = serde_json::from_value(v1.clone()).unwrap();
    let st = typed.status.unwrap();
    assert_eq!(st.steps[0].state.terminated.as_ref().unwrap().exit_code, 0);
    assert_eq!(st.retries_status[0].pod_name, "r-pod-retry1");
    let back = convert(&v1, "tekton.dev/v1beta1").unwrap();
    assert_eq!(back, tr);
}

#[test]
fn pipeline_task_resources_and_embedded_specs_round_trip() {
    let p = yaml(
        r#"
apiVersion: tekton.dev/v1beta1
kind: Pipeline
metadata:
  name: p
spec:
  resources:
    - name: repo
      type: git
  tasks:
    - name: build
      taskSpec:
        resources:
          inputs:
            - name: src
              type: git
        steps:
          - image: golang
            resources:
              limits:
                cpu: "1"
      resources:
        inputs:
          - name: src
            resource: repo
"#,
    );
    let v1 = convert(&p, "tekton.dev/v1").unwrap();
    let task = &v1["spec"]["tasks"][0];
    assert!(task.get("resources").is_none());
    assert!(task["taskSpec"].get("resources").is_none());
    assert_eq!(
        task["taskSpec"]["steps"][0]["computeResources"]["limits"]["cpu"],
        "1"
    );
    let nested: Value = serde_json::from_str(
        v1["metadata"]["annotations"][NESTED_RESOURCES_ANNOTATION]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(nested["spec.tasks[build]"]["inputs"][0]["resource"], "repo");
    assert_eq!(
        nested["spec.tasks[build].taskSpec"]["inputs"][0]["type"],
        "git"
    );
    assert_eq!(convert(&v1, "tekton.dev/v1beta1").unwrap(), p);
}

#[test]
fn conditions_have_no_v1_home() {
    let p = json!({
        "apiVersion": "tekton.dev/v1beta1", "kind": "Pipeline", "metadata": {"name": "p"},
        "spec": {"tasks": [{"name": "a", "taskRef": {"name": "t"},
                            "conditions": [{"conditionRef": "is-ready"}]}]}
    });
    let e = convert(&p, "tekton.dev/v1").unwrap_err();
    assert_eq!(e.field, "spec.tasks[0].conditions");
    assert!(e.message.contains("when expressions"), "{e}");
}

/// The classic v1alpha1 tutorial Task (Tekton's "build-docker-image-from-git-source").
fn alpha_task() -> Value {
    yaml(
        r#"
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
      - name: pathToContext
        type: string
        description: The build context used by Kaniko
        default: /workspace/docker-source
  outputs:
    resources:
      - name: builtImage
        type: image
  steps:
    - name: build-and-push
      image: gcr.io/kaniko-project/executor:v0.16.0
      env:
        - name: "DOCKER_CONFIG"
          value: "/tekton/home/.docker/"
      command:
        - /kaniko/executor
      args:
        - --dockerfile=$(inputs.params.pathToDockerFile)
        - --destination=$(outputs.resources.builtImage.url)
        - --context=$(inputs.params.pathToContext)
        - --oci-layout-path=$(inputs.resources.docker-source.path)
"#,
    )
}

#[test]
fn v1alpha1_task_to_v1() {
    let v1 = convert(&alpha_task(), "tekton.dev/v1").unwrap();
    assert_eq!(v1["apiVersion"], "tekton.dev/v1");
    let spec = &v1["spec"];
    assert!(spec.get("inputs").is_none() && spec.get("outputs").is_none());
    assert_eq!(spec["params"][0]["name"], "pathToDockerFile");
    assert_eq!(spec["params"][1]["default"], "/workspace/docker-source");
    let args = &spec["steps"][0]["args"];
    assert_eq!(args[0], "--dockerfile=$(params.pathToDockerFile)");
    assert_eq!(args[1], "--destination=$(resources.outputs.builtImage.url)");
    assert_eq!(
        args[3],
        "--oci-layout-path=$(resources.inputs.docker-source.path)"
    );
    let stashed: Value = serde_json::from_str(
        v1["metadata"]["annotations"][RESOURCES_ANNOTATION]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        stashed,
        json!({"inputs": [{"name": "docker-source", "type": "git"}],
               "outputs": [{"name": "builtImage", "type": "image"}]})
    );
    // Read back as v1alpha1: the v1beta1 shape, which v1alpha1 accepts.
    let alpha = convert(&v1, "tekton.dev/v1alpha1").unwrap();
    assert_eq!(alpha["apiVersion"], "tekton.dev/v1alpha1");
    assert_eq!(
        alpha["spec"]["resources"]["inputs"][0]["name"],
        "docker-source"
    );
    let typed: crate::tekton::v1alpha1::Task = serde_json::from_value(alpha).unwrap();
    assert_eq!(typed.spec.params.len(), 2);
}

#[test]
fn v1alpha1_taskrun_and_pipeline_to_v1() {
    let tr = yaml(
        r#"
apiVersion: tekton.dev/v1alpha1
kind: TaskRun
metadata:
  name: build-docker-image-from-git-source-task-run
spec:
  serviceAccountName: dockerhub-service
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
    );
    let v1 = convert(&tr, "tekton.dev/v1").unwrap();
    assert_eq!(
        v1["spec"]["params"],
        json!([{"name": "pathToDockerFile", "value": "Dockerfile"}])
    );
    assert_eq!(v1["spec"]["serviceAccountName"], "dockerhub-service");
    let stashed: Value = serde_json::from_str(
        v1["metadata"]["annotations"][RESOURCES_ANNOTATION]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stashed["inputs"][0]["resourceRef"]["name"], "skaffold-git");
    assert_eq!(stashed["outputs"][0]["name"], "builtImage");

    let p = yaml(
        r#"
apiVersion: tekton.dev/v1alpha1
kind: Pipeline
metadata:
  name: tutorial-pipeline
spec:
  resources:
    - name: source-repo
      type: git
  tasks:
    - name: build
      taskSpec:
        inputs:
          params:
            - name: msg
        steps:
          - image: alpine
            script: echo $(inputs.params.msg)
      params:
        - name: msg
          value: hi
      resources:
        inputs:
          - name: source
            resource: source-repo
"#,
    );
    let v1 = convert(&p, "tekton.dev/v1").unwrap();
    let ts = &v1["spec"]["tasks"][0]["taskSpec"];
    assert_eq!(ts["params"][0]["name"], "msg");
    assert_eq!(ts["steps"][0]["script"], "echo $(params.msg)");
}

#[test]
fn v1alpha1_test_results_have_no_home() {
    let mut t = alpha_task();
    t["spec"]["outputs"]["results"] = json!([{"name": "junit", "format": "junit", "path": "/r"}]);
    let e = convert(&t, "tekton.dev/v1").unwrap_err();
    assert_eq!(e.field, "spec.outputs.results");
    assert_eq!(e.message, FIELD_NOT_AVAILABLE);
}

#[test]
fn pipeline_resources_and_unknown_versions() {
    let pr = json!({
        "apiVersion": "tekton.dev/v1alpha1", "kind": "PipelineResource", "metadata": {"name": "r"},
        "spec": {"type": "git", "params": [{"name": "url", "value": "https://example.com/r.git"}]}
    });
    assert_eq!(convert(&pr, "tekton.dev/v1alpha1").unwrap(), pr);
    assert!(convert(&beta_task(), "tekton.dev/v2").is_err());
    assert!(convert(&beta_task(), "serving.knative.dev/v1").is_err());
}
