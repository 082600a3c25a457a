//! `skiff pipeline start NAME` and `skiff task start NAME`, as `tkn pipeline start` /
//! `tkn task start` do: a run of the Pipeline (Task) with `generateName: NAME-run-`,
//! params from `-p k=v` (comma-separated for array params), workspaces from
//! `-w name=W,emptyDir=` / `claimName=` / `config=` / `secret=`, a service account, and
//! with `--showlog` its logs followed until it ends.

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, EmptyDirVolumeSource, PersistentVolumeClaimVolumeSource,
    SecretVolumeSource,
};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::ResourceExt;
use skiff_api::tekton::v1::{
    Param, ParamSpec, ParamValue, Pipeline, PipelineRef, PipelineRun, PipelineRunSpec, Task,
    TaskRef, TaskRun, TaskRunSpec, WorkspaceBinding,
};

use super::client::connect;
use super::errors::describe_error;
use super::logs::tekton;

/// `skiff pipeline …`.
#[derive(clap::Args, Debug)]
pub struct PipelineArgs {
    #[command(subcommand)]
    command: StartCommand,
}

/// `skiff task …`.
#[derive(clap::Args, Debug)]
pub struct TaskArgs {
    #[command(subcommand)]
    command: StartCommand,
}

#[derive(clap::Subcommand, Debug)]
enum StartCommand {
    /// Start a run of it (a PipelineRun or TaskRun named NAME-run-xxxxx).
    Start(StartArgs),
}

/// Flags of `start` (tkn's).
#[derive(clap::Args, Debug)]
pub struct StartArgs {
    /// The Pipeline (Task) to run.
    name: String,
    /// A param value, `key=value` (array params: `key=a,b,c`). Repeatable.
    #[arg(short = 'p', long = "param")]
    params: Vec<String>,
    /// A workspace binding: `name=W,emptyDir=`, `name=W,claimName=PVC[,subPath=S]`,
    /// `name=W,config=CONFIGMAP`, `name=W,secret=SECRET`. Repeatable.
    #[arg(short = 'w', long = "workspace")]
    workspaces: Vec<String>,
    /// The service account the run's steps use.
    #[arg(short = 's', long = "serviceaccount")]
    service_account: Option<String>,
    /// The run's timeout (a Go duration, e.g. `10m`).
    #[arg(long)]
    timeout: Option<String>,
    /// Follow the run's logs until it ends.
    #[arg(long)]
    showlog: bool,
    /// Namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
}

/// Runs `skiff pipeline start`.
pub async fn pipeline(kubeconfig: Option<std::path::PathBuf>, args: PipelineArgs) -> Result<()> {
    let StartCommand::Start(args) = args.command;
    let conn = connect(kubeconfig).await?;
    let ns = args.namespace.clone().unwrap_or(conn.namespace.clone());
    let pipelines: Api<Pipeline> = Api::namespaced(conn.client.clone(), &ns);
    let pipeline = pipelines
        .get(&args.name)
        .await
        .map_err(|e| anyhow::anyhow!(describe_error(&e, None)))?;
    let params = params(&pipeline.spec.params, &args.params)?;
    let run = PipelineRun {
        metadata: run_meta(&args.name),
        spec: PipelineRunSpec {
            pipeline_ref: Some(PipelineRef {
                name: args.name.clone(),
                ..Default::default()
            }),
            params,
            workspaces: workspaces(&args.workspaces)?,
            timeouts: args
                .timeout
                .clone()
                .map(|t| skiff_api::tekton::v1::TimeoutFields {
                    pipeline: Some(t),
                    ..Default::default()
                }),
            task_run_template: args.service_account.clone().map(|sa| {
                skiff_api::tekton::v1::PipelineTaskRunTemplate {
                    service_account_name: sa,
                    ..Default::default()
                }
            }),
            ..Default::default()
        },
        status: None,
    };
    let runs: Api<PipelineRun> = Api::namespaced(conn.client.clone(), &ns);
    let created = runs
        .create(&PostParams::default(), &run)
        .await
        .map_err(|e| anyhow::anyhow!(describe_error(&e, None)))?;
    let name = created.name_any();
    started("PipelineRun", "pipelinerun", &name, &ns);
    if args.showlog {
        tekton::logs(&conn.client, &ns, tekton::Run::Pipeline(&name), true, None).await?;
    }
    Ok(())
}

/// Runs `skiff task start`.
pub async fn task(kubeconfig: Option<std::path::PathBuf>, args: TaskArgs) -> Result<()> {
    let StartCommand::Start(args) = args.command;
    let conn = connect(kubeconfig).await?;
    let ns = args.namespace.clone().unwrap_or(conn.namespace.clone());
    let tasks: Api<Task> = Api::namespaced(conn.client.clone(), &ns);
    let task = tasks
        .get(&args.name)
        .await
        .map_err(|e| anyhow::anyhow!(describe_error(&e, None)))?;
    let run = TaskRun {
        metadata: run_meta(&args.name),
        spec: TaskRunSpec {
            task_ref: Some(TaskRef {
                name: args.name.clone(),
                ..Default::default()
            }),
            params: params(&task.spec.params, &args.params)?,
            workspaces: workspaces(&args.workspaces)?,
            service_account_name: args.service_account.clone().unwrap_or_default(),
            timeout: args.timeout.clone(),
            ..Default::default()
        },
        status: None,
    };
    let runs: Api<TaskRun> = Api::namespaced(conn.client.clone(), &ns);
    let created = runs
        .create(&PostParams::default(), &run)
        .await
        .map_err(|e| anyhow::anyhow!(describe_error(&e, None)))?;
    let name = created.name_any();
    started("TaskRun", "taskrun", &name, &ns);
    if args.showlog {
        tekton::logs(&conn.client, &ns, tekton::Run::Task(&name), true, None).await?;
    }
    Ok(())
}

fn run_meta(name: &str) -> ObjectMeta {
    ObjectMeta {
        generate_name: Some(format!("{name}-run-")),
        ..Default::default()
    }
}

fn started(kind: &str, target: &str, name: &str, ns: &str) {
    println!("{kind} started: {name}\n");
    println!("In order to track the {kind} progress run:");
    println!("skiff logs {target}/{name} -f -n {ns}");
}

/// `-p` values typed by the declared params; a declared param without a default and
/// without a value is an error naming it (tkn would prompt).
fn params(declared: &[ParamSpec], given: &[String]) -> Result<Vec<Param>> {
    let mut out = Vec::new();
    for g in given {
        let (k, v) = g
            .split_once('=')
            .with_context(|| format!("invalid param {g:?}: expected key=value"))?;
        let spec = declared.iter().find(|p| p.name == k);
        let Some(spec) = spec else {
            bail!(
                "param {k:?} is not declared (declared: {})",
                declared
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let value = match spec.type_.as_str() {
            "array" => ParamValue::Array(v.split(',').map(str::to_string).collect()),
            "object" => {
                let mut map = std::collections::BTreeMap::new();
                for kv in v.split(',') {
                    let (a, b) = kv.split_once(':').with_context(|| {
                        format!("object param {k:?}: expected key:value,key:value")
                    })?;
                    map.insert(a.to_string(), b.to_string());
                }
                ParamValue::Object(map)
            }
            _ => ParamValue::String(v.to_string()),
        };
        out.push(Param {
            name: k.to_string(),
            value,
        });
    }
    let missing: Vec<&str> = declared
        .iter()
        .filter(|p| p.default.is_none() && !out.iter().any(|q| q.name == p.name))
        .map(|p| p.name.as_str())
        .collect();
    if !missing.is_empty() {
        bail!(
            "missing values for params without defaults: {} (give them with -p name=value)",
            missing.join(", ")
        );
    }
    Ok(out)
}

/// `-w name=W,emptyDir=` and friends (tkn's syntax).
fn workspaces(given: &[String]) -> Result<Vec<WorkspaceBinding>> {
    given
        .iter()
        .map(|w| {
            let mut b = WorkspaceBinding::default();
            for part in w.split(',') {
                let (k, v) = part
                    .split_once('=')
                    .with_context(|| format!("invalid workspace {w:?}: expected key=value pairs"))?;
                match k {
                    "name" => b.name = v.to_string(),
                    "emptyDir" => b.empty_dir = Some(EmptyDirVolumeSource::default()),
                    "claimName" => {
                        b.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                            claim_name: v.to_string(),
                            ..Default::default()
                        })
                    }
                    "subPath" => b.sub_path = v.to_string(),
                    "config" => {
                        b.config_map = Some(ConfigMapVolumeSource {
                            name: v.to_string(),
                            ..Default::default()
                        })
                    }
                    "secret" => {
                        b.secret = Some(SecretVolumeSource {
                            secret_name: Some(v.to_string()),
                            ..Default::default()
                        })
                    }
                    other => bail!(
                        "invalid workspace {w:?}: unknown key {other:?} (name, emptyDir, claimName, subPath, config, secret)"
                    ),
                }
            }
            if b.name.is_empty() {
                bail!("invalid workspace {w:?}: name=… is required");
            }
            Ok(b)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_are_typed_and_required_ones_checked() {
        let declared: Vec<ParamSpec> = serde_json::from_value(serde_json::json!([
            {"name": "url"},
            {"name": "args", "type": "array"},
            {"name": "level", "default": "info"},
        ]))
        .unwrap();
        let p = params(&declared, &["url=x".into(), "args=a,b".into()]).unwrap();
        assert_eq!(p[0].value, ParamValue::String("x".into()));
        assert_eq!(p[1].value, ParamValue::Array(vec!["a".into(), "b".into()]));
        let err = params(&declared, &["args=a".into()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("url"), "{err}");
        assert!(params(
            &declared,
            &["nope=1".into(), "url=x".into(), "args=a".into()]
        )
        .is_err());
    }

    #[test]
    fn workspaces_in_tkn_syntax() {
        let w = workspaces(&[
            "name=src,claimName=pvc,subPath=a".into(),
            "name=tmp,emptyDir=".into(),
        ])
        .unwrap();
        assert_eq!(
            w[0].persistent_volume_claim.as_ref().unwrap().claim_name,
            "pvc"
        );
        assert_eq!(w[0].sub_path, "a");
        assert!(w[1].empty_dir.is_some());
        assert!(workspaces(&["claimName=x".into()]).is_err());
        assert!(workspaces(&["name=x,bogus=1".into()]).is_err());
    }
}
