//! PipelineResource lowering: the v1alpha1 tutorial Task, TaskRun, Pipeline and
//! PipelineRun become runnable v1 objects.

use serde_json::{json, Value};

use super::*;
use crate::tekton::v1;

fn yaml(s: &str) -> Value {
    serde_yaml::from_str(s).unwrap()
}

/// The classic v1alpha1 tutorial Task: a git input, params, an image output.
const KANIKO_TASK: &str = r#"
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
        default: $(inputs.resources.docker-source.path)/Dockerfile
      - name: pathToContext
        default: /workspace/docker-source
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
        - --context=$(inputs.params.pathToContext)
        - --oci-layout-path=$(outputs.resources.builtImage.path)
"#;

fn repo() -> PipelineResourceSpec {
    serde_json::from_value(json!({"type": "git", "params": [
        {"name": "url", "value": "http://127.0.0.1:8080/app.git"},
        {"name": "revision", "value": "main"}
    ]}))
    .unwrap()
}

fn image() -> PipelineResourceSpec {
    serde_json::from_value(json!({"type": "image", "params": [
        {"name": "url", "value": "registry.local/app"}
    ]}))
    .unwrap()
}

fn resolve(name: &str) -> Option<PipelineResourceSpec> {
    match name {
        "skaffold-git" => Some(repo()),
        "skaffold-image" => Some(image()),
        _ => None,
    }
}

#[test]
fn v1alpha1_task_becomes_a_runnable_v1_task() {
    let opts = LowerOptions {
        git_image: "registry.local/git:latest".into(),
    };
    let (task, lowered) = task_to_v1(&yaml(KANIKO_TASK), &opts).unwrap();
    let spec = &task.spec;
    // Params moved and added.
    let names: Vec<&str> = spec.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "pathToDockerFile",
            "pathToContext",
            "docker-source-url",
            "docker-source-revision",
            "builtImage-url",
            "builtImage-digest"
        ]
    );
    assert_eq!(
        spec.params[0].default,
        Some(ParamValue::from(
            "$(workspaces.docker-source.path)/Dockerfile"
        ))
    );
    assert!(spec.params[2].default.is_none(), "url is required");
    // Workspaces where Tekton put the resources.
    let ws: Vec<(&str, String)> = spec
        .workspaces
        .iter()
        .map(|w| (w.name.as_str(), w.effective_mount_path()))
        .collect();
    assert_eq!(
        ws,
        [
            ("docker-source", "/workspace/docker-source".to_string()),
            ("builtImage", "/workspace/output/builtImage".to_string())
        ]
    );
    // The clone step comes first, then the Task's steps with references rewritten.
    assert_eq!(spec.steps.len(), 2);
    let clone = &spec.steps[0];
    assert_eq!(clone.name, "git-source-docker-source");
    assert_eq!(clone.image, "registry.local/git:latest");
    assert!(clone.script.starts_with("#!/bin/sh"));
    assert!(clone.script.contains("$(params.docker-source-url)"));
    assert!(clone.script.contains("$(workspaces.docker-source.path)"));
    let args = &spec.steps[1].args;
    assert_eq!(args[0], "--dockerfile=$(params.pathToDockerFile)");
    assert_eq!(args[1], "--destination=$(params.builtImage-url)");
    assert_eq!(args[3], "--oci-layout-path=$(workspaces.builtImage.path)");
    assert!(task
        .metadata
        .annotations
        .as_ref()
        .is_none_or(|a| !a.contains_key(RESOURCES_ANNOTATION)));
    assert_eq!(lowered.len(), 2);
    assert_eq!(lowered[0].params["url"], "docker-source-url");

    // The lowered Task passes admission as a v1 Task.
    let mut obj = serde_json::to_value(&task).unwrap();
    let errs = crate::admit("tekton.dev", "Task", &mut obj, None);
    assert!(errs.is_ok(), "{errs:#?}");
}

#[test]
fn task_run_bindings_become_params_and_workspaces() {
    let (_, lowered) = task_to_v1(&yaml(KANIKO_TASK), &LowerOptions::default()).unwrap();
    let tr = crate::tekton::convert::convert(
        &yaml(
            r#"
apiVersion: tekton.dev/v1alpha1
kind: TaskRun
metadata:
  name: build-run
spec:
  taskRef:
    name: build-docker-image-from-git-source
  inputs:
    resources:
      - name: docker-source
        resourceRef:
          name: skaffold-git
  outputs:
    resources:
      - name: builtImage
        resourceRef:
          name: skaffold-image
"#,
        ),
        "tekton.dev/v1",
    )
    .unwrap();
    let tr: v1::TaskRun = serde_json::from_value(tr).unwrap();
    let bindings = task_run_resources(&tr.metadata).unwrap();
    let (params, workspaces) = bind_task_run(&lowered, &bindings, &resolve).unwrap();
    let p: Vec<(&str, &str)> = params
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str().unwrap()))
        .collect();
    assert_eq!(
        p,
        [
            ("docker-source-revision", "main"),
            ("docker-source-url", "http://127.0.0.1:8080/app.git"),
            ("builtImage-digest", ""),
            ("builtImage-url", "registry.local/app"),
        ]
    );
    let w: Vec<&str> = workspaces.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(w, ["docker-source", "builtImage"]);
    assert!(workspaces[0].empty_dir.is_some());

    // An unknown resource, a wrong type, a missing binding.
    let mut bad = bindings.clone();
    bad.inputs[0].binding.resource_ref.as_mut().unwrap().name = "nope".into();
    let e = bind_task_run(&lowered, &bad, &resolve).unwrap_err();
    assert_eq!(e.message, "PipelineResource \"nope\" not found");
    let mut bad = bindings.clone();
    bad.inputs[0].binding.resource_ref.as_mut().unwrap().name = "skaffold-image".into();
    let e = bind_task_run(&lowered, &bad, &resolve).unwrap_err();
    assert!(e.message.contains("must be of type git, got image"), "{e}");
    let mut bad = bindings;
    bad.outputs.clear();
    let e = bind_task_run(&lowered, &bad, &resolve).unwrap_err();
    assert!(e.message.contains("not bound"), "{e}");
}

#[test]
fn same_resource_in_and_out_shares_the_workspace() {
    let spec: v1::TaskSpec = serde_json::from_value(json!({
        "steps": [{"image": "alpine", "script": "cd $(resources.outputs.src.path) && git commit"}]
    }))
    .unwrap();
    let res: TaskResources = serde_json::from_value(json!({
        "inputs": [{"name": "src", "type": "git", "targetPath": "code"}],
        "outputs": [{"name": "src", "type": "git"}]
    }))
    .unwrap();
    let (out, lowered) = lower_task_spec(&spec, &res, &LowerOptions::default()).unwrap();
    assert_eq!(out.workspaces.len(), 1);
    assert_eq!(out.workspaces[0].mount_path, "/workspace/code");
    assert_eq!(lowered[1].workspace, "src");
    assert_eq!(
        out.steps[1].script,
        "cd $(workspaces.src.path) && git commit"
    );
}

#[test]
fn unsupported_references_and_types_are_errors() {
    let spec: v1::TaskSpec = serde_json::from_value(json!({
        "steps": [{"image": "a", "script": "echo $(resources.inputs.src.depth)"}]
    }))
    .unwrap();
    let git: TaskResources =
        serde_json::from_value(json!({"inputs": [{"name": "src", "type": "git"}]})).unwrap();
    let e = lower_task_spec(&spec, &git, &LowerOptions::default()).unwrap_err();
    assert!(
        e.message
            .contains("unsupported reference $(resources.inputs.src.depth)"),
        "{e}"
    );
    let cluster: TaskResources =
        serde_json::from_value(json!({"inputs": [{"name": "k", "type": "cluster"}]})).unwrap();
    let e = lower_task_spec(&spec, &cluster, &LowerOptions::default()).unwrap_err();
    assert_eq!(e.field, "spec.resources.inputs[0].type");
    assert!(e.message.contains("\"cluster\" is not supported by skiff"));
    let spec: v1::TaskSpec = serde_json::from_value(json!({
        "steps": [{"image": "a", "script": "echo $(resources.inputs.other.url)"}]
    }))
    .unwrap();
    let e = lower_task_spec(&spec, &git, &LowerOptions::default()).unwrap_err();
    assert!(e.message.contains("no such declared resource"), "{e}");
}

#[test]
fn v1alpha1_pipeline_and_run_lower_to_workspaces_and_params() {
    let p = crate::tekton::convert::convert(
        &yaml(
            r#"
apiVersion: tekton.dev/v1alpha1
kind: Pipeline
metadata:
  name: tutorial-pipeline
spec:
  resources:
    - name: source-repo
      type: git
    - name: web-image
      type: image
  tasks:
    - name: build-skaffold-web
      taskRef:
        name: build-docker-image-from-git-source
      params:
        - name: pathToDockerFile
          value: Dockerfile
      resources:
        inputs:
          - name: docker-source
            resource: source-repo
        outputs:
          - name: builtImage
            resource: web-image
    - name: deploy-web
      taskRef:
        name: deploy-using-kubectl
      resources:
        inputs:
          - name: source
            resource: source-repo
          - name: image
            resource: web-image
            from:
              - build-skaffold-web
"#,
        ),
        "tekton.dev/v1",
    )
    .unwrap();
    let p: v1::Pipeline = serde_json::from_value(p).unwrap();
    let declared = pipeline_resources(&p.metadata);
    let per_task = pipeline_task_resources(&p.metadata, "spec");
    assert_eq!(declared.len(), 2);
    assert_eq!(per_task.len(), 2);
    let spec = lower_pipeline_spec(&p.spec, &declared, &per_task).unwrap();
    let ws: Vec<&str> = spec.workspaces.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(ws, ["source-repo", "web-image"]);
    let params: Vec<&str> = spec.params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        params,
        [
            "source-repo-url",
            "source-repo-revision",
            "web-image-url",
            "web-image-digest"
        ]
    );
    let build = &spec.tasks[0];
    assert_eq!(build.workspaces[0].name, "docker-source");
    assert_eq!(build.workspaces[0].workspace, "source-repo");
    assert!(build
        .params
        .iter()
        .any(|p| p.name == "docker-source-url"
            && p.value.as_str() == Some("$(params.source-repo-url)")));
    assert!(build.params.iter().any(|p| p.name == "builtImage-url"));
    let deploy = &spec.tasks[1];
    assert_eq!(deploy.run_after, ["build-skaffold-web"]);

    // The lowered pipeline passes admission.
    let mut obj = serde_json::to_value(v1::Pipeline {
        metadata: p.metadata.clone(),
        spec: spec.clone(),
    })
    .unwrap();
    let r = crate::admit("tekton.dev", "Pipeline", &mut obj, None);
    assert!(r.is_ok(), "{r:#?}");

    let pr = crate::tekton::convert::convert(
        &yaml(
            r#"
apiVersion: tekton.dev/v1alpha1
kind: PipelineRun
metadata:
  name: tutorial-pipeline-run-1
spec:
  serviceAccountName: tutorial-service
  pipelineRef:
    name: tutorial-pipeline
  resources:
    - name: source-repo
      resourceRef:
        name: skaffold-git
    - name: web-image
      resourceSpec:
        type: image
        params:
          - name: url
            value: registry.local/web
"#,
        ),
        "tekton.dev/v1",
    )
    .unwrap();
    let pr: v1::PipelineRun = serde_json::from_value(pr).unwrap();
    assert_eq!(
        pr.spec
            .task_run_template
            .as_ref()
            .unwrap()
            .service_account_name,
        "tutorial-service"
    );
    let bindings = pipeline_run_resources(&pr.metadata);
    let (params, workspaces) = bind_pipeline_run(&declared, &bindings, &resolve).unwrap();
    let p: Vec<(&str, &str)> = params
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str().unwrap()))
        .collect();
    assert_eq!(
        p,
        [
            ("source-repo-revision", "main"),
            ("source-repo-url", "http://127.0.0.1:8080/app.git"),
            ("web-image-digest", ""),
            ("web-image-url", "registry.local/web"),
        ]
    );
    assert!(workspaces[0].volume_claim_template.is_some());
    assert!(workspaces[1].empty_dir.is_some());
}
