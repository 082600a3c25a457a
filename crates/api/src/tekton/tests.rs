//! Serde round trips of Tekton manifests (shaped like the examples of Tekton's docs)
//! through the typed kinds of every version, and the CRDs' names, columns and schemas.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use super::*;

fn yaml(s: &str) -> Value {
    serde_yaml::from_str(s).unwrap()
}

/// Deserializes into `T` and serializes back to the same JSON.
#[track_caller]
fn round_trip<T: DeserializeOwned + Serialize>(v: &Value) -> T {
    let typed: T = serde_json::from_value(v.clone()).expect("deserializes");
    assert_eq!(&serde_json::to_value(&typed).unwrap(), v);
    typed
}

const TASK: &str = r#"
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: build-app
  annotations:
    tekton.dev/displayName: Build the app
spec:
  displayName: Build
  description: Builds and tests the app.
  params:
    - name: flags
      type: array
      default: ["-v"]
    - name: gitrepo
      type: object
      properties:
        url:
          type: string
        commit:
          type: string
      default:
        url: https://example.com/app.git
        commit: main
    - name: level
      type: string
      enum: ["debug", "info"]
      default: info
  workspaces:
    - name: source
      description: The sources
    - name: cache
      mountPath: /cache
      readOnly: true
      optional: true
  results:
    - name: digest
      description: Digest of the image
    - name: files
      type: array
    - name: info
      type: object
      properties:
        size:
          type: string
  volumes:
    - name: scratch
      emptyDir: {}
  stepTemplate:
    image: golang:1.22
    env:
      - name: GOFLAGS
        value: -mod=vendor
    computeResources:
      requests:
        cpu: 100m
  sidecars:
    - name: registry
      image: registry:2
      ports:
        - containerPort: 5000
      readinessProbe:
        httpGet:
          path: /v2/
          port: 5000
  steps:
    - name: test
      script: |
        #!/usr/bin/env sh
        go test $(params.flags[*]) ./...
      workingDir: $(workspaces.source.path)
      onError: continue
      timeout: 10m
      volumeMounts:
        - name: scratch
          mountPath: /scratch
    - name: build
      image: golang:1.22
      command: [go]
      args: ["build", "-o", "/scratch/app", "$(params.flags[*])"]
      envFrom:
        - configMapRef:
            name: build-env
      securityContext:
        runAsUser: 1000
      computeResources:
        limits:
          memory: 1Gi
      stdoutConfig:
        path: /scratch/build.log
"#;

const TASK_RUN: &str = r#"
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: build-app-run
spec:
  taskRef:
    name: build-app
    kind: Task
  params:
    - name: flags
      value: ["-race"]
    - name: gitrepo
      value:
        url: https://example.com/app.git
        commit: v1
  serviceAccountName: builder
  timeout: 1h0m0s
  retries: 2
  podTemplate:
    nodeSelector:
      disk: ssd
    hostNetwork: true
  workspaces:
    - name: source
      persistentVolumeClaim:
        claimName: src
      subPath: app
    - name: cache
      emptyDir: {}
    - name: creds
      secret:
        secretName: git-creds
    - name: settings
      configMap:
        name: settings
  stepSpecs:
    - name: build
      computeResources:
        limits:
          cpu: "2"
status:
  podName: build-app-run-pod
  startTime: "2024-05-01T10:00:00Z"
  completionTime: "2024-05-01T10:03:30Z"
  conditions:
    - type: Succeeded
      status: "True"
      reason: Succeeded
      message: All Steps have completed executing
      lastTransitionTime: "2024-05-01T10:03:30Z"
  steps:
    - name: test
      container: step-test
      imageID: docker.io/library/golang@sha256:abc
      terminated:
        exitCode: 0
        reason: Completed
        startedAt: "2024-05-01T10:00:05Z"
        finishedAt: "2024-05-01T10:02:00Z"
        containerID: runc://1
    - name: build
      container: step-build
      running:
        startedAt: "2024-05-01T10:02:01Z"
  results:
    - name: digest
      type: string
      value: sha256:abc
    - name: files
      type: array
      value: ["app"]
  retriesStatus:
    - podName: build-app-run-pod-retry1
      conditions:
        - type: Succeeded
          status: "False"
          reason: Failed
  taskSpec:
    steps:
      - name: test
        image: golang
"#;

const PIPELINE: &str = r#"
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: build-and-deploy
spec:
  description: Clones, builds and deploys.
  params:
    - name: repo-url
    - name: deploy
      default: "true"
  workspaces:
    - name: shared-data
    - name: git-credentials
      optional: true
  results:
    - name: image-digest
      description: The digest of the built image
      value: $(tasks.build.results.digest)
  tasks:
    - name: fetch-source
      taskRef:
        resolver: git
        params:
          - name: url
            value: https://github.com/tektoncd/catalog.git
          - name: pathInRepo
            value: task/git-clone/0.9/git-clone.yaml
      workspaces:
        - name: output
          workspace: shared-data
      params:
        - name: url
          value: $(params.repo-url)
    - name: build
      runAfter: ["fetch-source"]
      retries: 2
      timeout: 30m
      taskRef:
        name: build-app
      workspaces:
        - name: source
          workspace: shared-data
          subPath: app
    - name: deploy
      when:
        - input: $(params.deploy)
          operator: in
          values: ["true"]
      onError: continue
      taskSpec:
        metadata:
          labels:
            app: deploy
        params:
          - name: image
        steps:
          - image: bitnami/kubectl
            script: kubectl set image deploy/app app=$(params.image)
      params:
        - name: image
          value: app@$(tasks.build.results.digest)
  finally:
    - name: notify
      params:
        - name: status
          value: $(tasks.status)
      taskSpec:
        params:
          - name: status
        steps:
          - image: alpine
            script: echo $(params.status)
"#;

const PIPELINE_RUN: &str = r#"
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  generateName: build-and-deploy-run-
spec:
  pipelineRef:
    name: build-and-deploy
  params:
    - name: repo-url
      value: https://example.com/app.git
  timeouts:
    pipeline: 1h0m0s
    tasks: 50m
    finally: 10m
  taskRunTemplate:
    serviceAccountName: builder
    podTemplate:
      securityContext:
        fsGroup: 65532
  taskRunSpecs:
    - pipelineTaskName: deploy
      serviceAccountName: deployer
  workspaces:
    - name: shared-data
      volumeClaimTemplate:
        spec:
          accessModes: [ReadWriteOnce]
          resources:
            requests:
              storage: 1Gi
  status: CancelledRunFinally
status:
  startTime: "2024-05-01T10:00:00Z"
  conditions:
    - type: Succeeded
      status: Unknown
      reason: Running
  childReferences:
    - apiVersion: tekton.dev/v1
      kind: TaskRun
      name: build-and-deploy-run-x-build
      pipelineTaskName: build
  skippedTasks:
    - name: deploy
      reason: When Expressions evaluated to false
      whenExpressions:
        - input: "false"
          operator: in
          values: ["true"]
  results:
    - name: image-digest
      value: sha256:abc
  pipelineSpec:
    tasks:
      - name: build
        taskRef:
          name: build-app
"#;

#[test]
fn v1_kinds_round_trip() {
    let t: v1::Task = round_trip(&yaml(TASK));
    assert_eq!(
        t.spec.params[1].default,
        Some(v1::ParamValue::Object(
            [
                ("commit".to_string(), "main".to_string()),
                ("url".to_string(), "https://example.com/app.git".to_string())
            ]
            .into()
        ))
    );
    assert_eq!(t.spec.steps[0].on_error, "continue");
    assert_eq!(t.spec.workspaces[1].effective_mount_path(), "/cache");
    assert_eq!(
        t.spec.workspaces[0].effective_mount_path(),
        "/workspace/source"
    );

    let tr: v1::TaskRun = round_trip(&yaml(TASK_RUN));
    let st = tr.status.unwrap();
    let term = st.steps[0].state.terminated.as_ref().unwrap();
    assert_eq!(
        (term.exit_code, term.reason.as_deref()),
        (0, Some("Completed"))
    );
    assert!(st.steps[1].state.running.is_some());
    assert_eq!(
        st.results[1].value,
        v1::ParamValue::Array(vec!["app".into()])
    );
    assert_eq!(st.status.conditions.unwrap()[0].type_, "Succeeded");
    assert!(tr
        .spec
        .pod_template
        .unwrap()
        .extra
        .contains_key("hostNetwork"));

    let p: v1::Pipeline = round_trip(&yaml(PIPELINE));
    assert_eq!(p.spec.tasks[0].task_ref.as_ref().unwrap().resolver, "git");
    assert_eq!(p.spec.tasks[2].when[0].operator, "in");
    assert_eq!(
        p.spec.tasks[2]
            .task_spec
            .as_ref()
            .unwrap()
            .task_spec
            .steps
            .len(),
        1
    );

    let pr: v1::PipelineRun = round_trip(&yaml(PIPELINE_RUN));
    assert_eq!(pr.spec.status, "CancelledRunFinally");
    assert_eq!(
        pr.status.unwrap().child_references[0].pipeline_task_name,
        "build"
    );
}

#[test]
fn param_values_read_like_tekton() {
    use v1::ParamValue;
    assert_eq!(
        ParamValue::from_json(&json!("a")),
        ParamValue::String("a".into())
    );
    assert_eq!(
        ParamValue::from_json(&json!(3)),
        ParamValue::String("3".into())
    );
    assert_eq!(
        ParamValue::from_json(&json!(true)),
        ParamValue::String("true".into())
    );
    assert_eq!(
        ParamValue::from_json(&json!([1, 2])),
        ParamValue::String("[1,2]".into())
    );
    assert_eq!(ParamValue::from_json(&json!(["a"])).type_name(), "array");
    assert_eq!(
        ParamValue::from_json(&json!({"k": "v"})).type_name(),
        "object"
    );
}

#[test]
fn v1beta1_and_v1alpha1_kinds_round_trip() {
    round_trip::<v1beta1::Task>(&yaml(
        r#"
apiVersion: tekton.dev/v1beta1
kind: Task
metadata:
  name: t
spec:
  resources:
    inputs:
      - name: source
        type: git
        targetPath: src
  steps:
    - name: s
      image: alpine
      resources:
        limits:
          cpu: "1"
"#,
    ));
    round_trip::<v1beta1::PipelineRun>(&yaml(
        r#"
apiVersion: tekton.dev/v1beta1
kind: PipelineRun
metadata:
  name: r
spec:
  pipelineRef:
    name: p
    bundle: registry.local/p:1
  serviceAccountName: sa
  serviceAccountNames:
    - taskName: a
      serviceAccountName: sa-a
  timeout: 1h
  resources:
    - name: source
      resourceRef:
        name: repo
status:
  pipelineResults:
    - name: r
      value: v
"#,
    ));
    round_trip::<v1beta1::TaskRun>(&yaml(
        r#"
apiVersion: tekton.dev/v1beta1
kind: TaskRun
metadata:
  name: r
spec:
  taskRef:
    name: t
  resources:
    inputs:
      - name: source
        resourceSpec:
          type: git
          params:
            - name: url
              value: https://example.com/r.git
  stepOverrides:
    - name: s
      resources:
        limits:
          cpu: "1"
status:
  taskResults:
    - name: out
      value: x
"#,
    ));
    let t: v1alpha1::Task = round_trip(&yaml(
        r#"
apiVersion: tekton.dev/v1alpha1
kind: Task
metadata:
  name: echo-hello-world
spec:
  inputs:
    params:
      - name: who
        default: World
    resources:
      - name: source
        type: git
  outputs:
    resources:
      - name: image
        type: image
  steps:
    - name: echo
      image: ubuntu
      command: [echo]
      args: ["Hello $(inputs.params.who)"]
"#,
    ));
    assert_eq!(t.spec.inputs.unwrap().params[0].name, "who");
    let r: v1alpha1::PipelineResource = round_trip(&yaml(
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
"#,
    ));
    assert_eq!(
        r.spec.param("URL"),
        Some("https://github.com/GoogleContainerTools/skaffold")
    );
    round_trip::<v1alpha1::TaskRun>(&yaml(
        r#"
apiVersion: tekton.dev/v1alpha1
kind: TaskRun
metadata:
  name: r
spec:
  taskRef:
    name: echo-hello-world
  inputs:
    params:
      - name: who
        value: you
    resources:
      - name: source
        resourceRef:
          name: skaffold-git
  outputs:
    resources:
      - name: image
        resourceRef:
          name: skaffold-image
"#,
    ));
}

// ---------------------------------------------------------------------------
// CRDs
// ---------------------------------------------------------------------------

fn columns(crd: &CustomResourceDefinition, version: usize) -> Vec<(String, String, String)> {
    crd.spec.versions[version]
        .additional_printer_columns
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.name, c.type_, c.json_path))
        .collect()
}

#[test]
fn crds_have_tektons_names_versions_and_columns() {
    let crds = crate::builtin_crds();
    let tekton: Vec<&CustomResourceDefinition> =
        crds.iter().filter(|c| c.spec.group == GROUP).collect();
    let names: Vec<String> = tekton
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, CRD_NAMES);
    for crd in &tekton {
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.categories.as_deref().unwrap(),
            ["tekton", "tekton-pipelines"]
        );
        let storage: Vec<&str> = crd
            .spec
            .versions
            .iter()
            .filter(|v| v.storage)
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(storage.len(), 1);
        assert!(crd.spec.versions.iter().all(|v| v.served));
    }
    for crd in &tekton[..4] {
        let versions: Vec<&str> = crd.spec.versions.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(versions, ["v1", "v1beta1", "v1alpha1"]);
        assert!(crd.spec.versions[0].storage);
    }
    let pres = tekton[4];
    assert_eq!(pres.spec.names.kind, "PipelineResource");
    assert_eq!(pres.spec.versions[0].name, "v1alpha1");
    assert!(tekton[0].spec.names.short_names.is_none());
    assert_eq!(
        tekton[1].spec.names.short_names.as_deref().unwrap(),
        ["tr", "trs"]
    );
    assert_eq!(
        tekton[3].spec.names.short_names.as_deref().unwrap(),
        ["pr", "prs"]
    );
    for run in [tekton[1], tekton[3]] {
        for v in 0..3 {
            assert_eq!(
                columns(run, v),
                [
                    (
                        "Succeeded".into(),
                        "string".into(),
                        ".status.conditions[?(@.type==\"Succeeded\")].status".into()
                    ),
                    (
                        "Reason".into(),
                        "string".into(),
                        ".status.conditions[?(@.type==\"Succeeded\")].reason".into()
                    ),
                    (
                        "StartTime".into(),
                        "date".into(),
                        ".status.startTime".into()
                    ),
                    (
                        "CompletionTime".into(),
                        "date".into(),
                        ".status.completionTime".into()
                    ),
                ]
            );
            assert!(run.spec.versions[v]
                .subresources
                .as_ref()
                .unwrap()
                .status
                .is_some());
        }
    }
    // Tasks and Pipelines get the API server's Age column.
    assert!(columns(tekton[0], 0).is_empty());
}

fn schema(crd: &CustomResourceDefinition, version: usize) -> Value {
    serde_json::to_value(
        crd.spec.versions[version]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap()
}

/// Whether a schema has a `default` keyword (`properties.default` is a field's name).
fn has_default(v: &Value, in_properties: bool) -> bool {
    match v {
        Value::Object(m) => m
            .iter()
            .any(|(k, v)| (k == "default" && !in_properties) || has_default(v, k == "properties")),
        Value::Array(a) => a.iter().any(|v| has_default(v, false)),
        _ => false,
    }
}

#[test]
fn schemas_are_structural_and_explainable() {
    let crds = crds();
    let text = serde_json::to_string(&crds).unwrap();
    assert!(!text.contains("$ref"), "no $ref in a structural schema");
    assert!(
        !has_default(&serde_json::to_value(&crds).unwrap(), false),
        "defaults are the webhook's job"
    );
    let task = schema(&crds[0], 0);
    let step = &task["properties"]["spec"]["properties"]["steps"]["items"];
    for f in [
        "name",
        "image",
        "script",
        "command",
        "args",
        "env",
        "envFrom",
        "workingDir",
        "computeResources",
        "securityContext",
        "onError",
        "timeout",
        "volumeMounts",
    ] {
        assert!(step["properties"].get(f).is_some(), "step.{f} missing");
    }
    assert!(step["properties"]["script"]["description"]
        .as_str()
        .unwrap()
        .contains("executable file"));
    let spec = &task["properties"]["spec"]["properties"];
    for f in [
        "params",
        "results",
        "workspaces",
        "sidecars",
        "stepTemplate",
        "volumes",
    ] {
        assert!(spec.get(f).is_some(), "spec.{f} missing");
    }
    // v1beta1 steps say `resources`, v1 `computeResources`.
    let beta = schema(&crds[0], 1);
    let beta_step = &beta["properties"]["spec"]["properties"]["steps"]["items"]["properties"];
    assert!(beta_step.get("resources").is_some());
    assert!(beta_step.get("computeResources").is_none());
    // v1alpha1 tasks have inputs/outputs.
    let alpha = schema(&crds[0], 2);
    assert!(
        alpha["properties"]["spec"]["properties"]["inputs"]["properties"]
            .get("resources")
            .is_some()
    );
    // Param values take any shape.
    let default = &spec["params"]["items"]["properties"]["default"];
    assert_eq!(default["x-kubernetes-preserve-unknown-fields"], json!(true));
    let pr = schema(&crds[3], 0);
    let prs = &pr["properties"]["spec"]["properties"];
    for f in [
        "pipelineRef",
        "pipelineSpec",
        "params",
        "timeouts",
        "taskRunTemplate",
        "workspaces",
        "status",
    ] {
        assert!(prs.get(f).is_some(), "pipelinerun spec.{f} missing");
    }
    let st = &pr["properties"]["status"]["properties"];
    for f in [
        "conditions",
        "startTime",
        "completionTime",
        "childReferences",
        "results",
        "pipelineSpec",
    ] {
        assert!(st.get(f).is_some(), "pipelinerun status.{f} missing");
    }
    let tr = schema(&crds[1], 0);
    let step_state = &tr["properties"]["status"]["properties"]["steps"]["items"]["properties"];
    for f in ["name", "container", "terminated", "running", "waiting"] {
        assert!(
            step_state.get(f).is_some(),
            "taskrun status.steps[].{f} missing"
        );
    }
    assert!(step_state["terminated"]["properties"]
        .get("exitCode")
        .is_some());
}
