//! `skiff logs`: the logs of a Service's (or Configuration's, Revision's) instances, or
//! of one Pod, prefixed per Pod like `tkn`/`stern` when there are several; and of a
//! TaskRun's steps or a PipelineRun's tasks, prefixed `[task : step]` as `tkn pr logs`
//! does, following new tasks as the run goes on with `-f`.

use anyhow::{bail, Result};
use futures::{AsyncBufReadExt, StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};

use super::client::connect;
use super::errors::describe_error;

/// Arguments of `skiff logs`.
#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// What to show: `ksvc/NAME` (also `service/`), `config/NAME`, `rev/NAME`, `pod/NAME`,
    /// `taskrun/NAME` (`tr/`), `pipelinerun/NAME` (`pr/`), or a bare Pod name.
    target: String,
    /// Keep streaming new lines.
    #[arg(short = 'f', long)]
    follow: bool,
    /// Only the last N lines of each Pod.
    #[arg(long)]
    tail: Option<i64>,
    /// Namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
}

/// The label selecting a target's Pods, or the Pod name itself.
fn selector(target: &str) -> Result<Result<String, String>> {
    let Some((kind, name)) = target.split_once('/') else {
        return Ok(Err(target.to_string()));
    };
    let label = match kind {
        "ksvc" | "kservice" | "service" | "services" | "services.serving.knative.dev" => {
            "serving.knative.dev/service"
        }
        "config" | "cfg" | "configuration" | "configurations" => {
            "serving.knative.dev/configuration"
        }
        "rev" | "revision" | "revisions" => "serving.knative.dev/revision",
        "pod" | "po" | "pods" => return Ok(Err(name.to_string())),
        other => bail!(
            "logs are shown for ksvc/, config/, rev/, pod/, taskrun/ or pipelinerun/ targets, not {other:?}"
        ),
    };
    Ok(Ok(format!("{label}={name}")))
}

/// Runs `skiff logs`.
pub async fn run(kubeconfig: Option<std::path::PathBuf>, args: LogsArgs) -> Result<()> {
    let conn = connect(kubeconfig).await?;
    let ns = args.namespace.clone().unwrap_or(conn.namespace.clone());
    if let Some(run) = tekton::target(&args.target) {
        return tekton::logs(&conn.client, &ns, run, args.follow, args.tail).await;
    }
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), &ns);
    let names: Vec<String> = match selector(&args.target)? {
        Err(pod) => vec![pod],
        Ok(sel) => {
            let list = pods
                .list(&ListParams::default().labels(&sel))
                .await
                .map_err(|e| anyhow::anyhow!(describe_error(&e, None)))?;
            let names: Vec<String> = list
                .items
                .into_iter()
                .filter_map(|p| p.metadata.name)
                .collect();
            if names.is_empty() {
                bail!("no pods found for {} in namespace {ns}", args.target);
            }
            names
        }
    };
    let prefix = names.len() > 1;
    let params = LogParams {
        follow: args.follow,
        tail_lines: args.tail,
        ..Default::default()
    };
    let streams = names.into_iter().map(|name| {
        let pods = pods.clone();
        let params = params.clone();
        async move {
            let lines = pods
                .log_stream(&name, &params)
                .await
                .map_err(|e| anyhow::anyhow!(describe_error(&e, None)))?;
            let mut lines = lines.lines();
            while let Some(line) = lines.try_next().await? {
                if prefix {
                    println!("[{name}] {line}");
                } else {
                    println!("{line}");
                }
            }
            Ok::<_, anyhow::Error>(())
        }
    });
    let results: Vec<Result<()>> = futures::stream::iter(streams)
        .buffer_unordered(64)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Logs of TaskRuns and PipelineRuns.
pub mod tekton {
    use std::collections::HashSet;
    use std::time::Duration;

    use anyhow::{bail, Result};
    use futures::{AsyncBufReadExt, TryStreamExt};
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams, LogParams};
    use kube::ResourceExt;
    use skiff_api::tekton::v1::{PipelineRun, TaskRun};

    use super::describe_error;

    /// A run whose logs are asked for.
    #[derive(Debug, PartialEq)]
    pub enum Run<'a> {
        Task(&'a str),
        Pipeline(&'a str),
    }

    /// `taskrun/x` (`tr/`, `taskruns/`) or `pipelinerun/x` (`pr/`, `pipelineruns/`).
    pub fn target(target: &str) -> Option<Run<'_>> {
        let (kind, name) = target.split_once('/')?;
        match kind {
            "taskrun" | "taskruns" | "tr" | "taskruns.tekton.dev" => Some(Run::Task(name)),
            "pipelinerun" | "pipelineruns" | "pr" | "pipelineruns.tekton.dev" => {
                Some(Run::Pipeline(name))
            }
            _ => None,
        }
    }

    /// Prints the logs of the run; with `follow`, until it is done.
    pub async fn logs(
        client: &kube::Client,
        ns: &str,
        run: Run<'_>,
        follow: bool,
        tail: Option<i64>,
    ) -> Result<()> {
        let trs: Api<TaskRun> = Api::namespaced(client.clone(), ns);
        let prs: Api<PipelineRun> = Api::namespaced(client.clone(), ns);
        let err = |e: kube::Error| anyhow::anyhow!(describe_error(&e, None));
        let mut started: HashSet<String> = HashSet::new();
        let mut streams = tokio::task::JoinSet::new();
        loop {
            let (runs, finished): (Vec<TaskRun>, bool) = match run {
                Run::Task(name) => {
                    let tr = trs.get(name).await.map_err(err)?;
                    let finished = skiff_pipelines::taskrun::is_done(
                        tr.status
                            .as_ref()
                            .and_then(|s| s.status.conditions.as_ref()),
                    );
                    (vec![tr], finished)
                }
                Run::Pipeline(name) => {
                    let pr = prs.get(name).await.map_err(err)?;
                    let finished = skiff_pipelines::taskrun::is_done(
                        pr.status
                            .as_ref()
                            .and_then(|s| s.status.conditions.as_ref()),
                    );
                    let mut list = trs
                        .list(
                            &ListParams::default()
                                .labels(&format!("tekton.dev/pipelineRun={name}")),
                        )
                        .await
                        .map_err(err)?
                        .items;
                    list.sort_by_key(|t| t.metadata.creation_timestamp.clone().map(|t| t.0));
                    (list, finished)
                }
            };
            for tr in runs {
                let Some(status) = tr.status.as_ref().filter(|s| !s.pod_name.is_empty()) else {
                    continue;
                };
                if !started.insert(status.pod_name.clone()) {
                    continue;
                }
                let task = match run {
                    Run::Task(_) => None,
                    Run::Pipeline(_) => Some(
                        tr.labels()
                            .get("tekton.dev/pipelineTask")
                            .cloned()
                            .unwrap_or_else(|| tr.name_any()),
                    ),
                };
                let containers: Vec<(String, String)> = status
                    .steps
                    .iter()
                    .map(|s| (s.name.clone(), s.container.clone()))
                    .collect();
                let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
                let pod = status.pod_name.clone();
                streams.spawn(async move {
                    for (step, container) in containers {
                        let prefix = match &task {
                            Some(t) => format!("[{t} : {step}] "),
                            None => format!("[{step}] "),
                        };
                        let params = LogParams {
                            follow,
                            tail_lines: tail,
                            container: Some(container),
                            ..Default::default()
                        };
                        let Ok(lines) = pods.log_stream(&pod, &params).await else {
                            continue;
                        };
                        let mut lines = lines.lines();
                        while let Ok(Some(line)) = lines.try_next().await {
                            println!("{prefix}{line}");
                        }
                    }
                });
            }
            if !follow || finished {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        while streams.join_next().await.is_some() {}
        if started.is_empty() && !follow {
            match run {
                Run::Task(n) => bail!("TaskRun {n} has no pod yet"),
                Run::Pipeline(n) => bail!("PipelineRun {n} has no task runs with pods yet"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_map_to_knative_labels() {
        assert_eq!(
            selector("ksvc/hello").unwrap(),
            Ok("serving.knative.dev/service=hello".into())
        );
        assert_eq!(
            selector("rev/hello-00001").unwrap(),
            Ok("serving.knative.dev/revision=hello-00001".into())
        );
        assert_eq!(selector("pod/x").unwrap(), Err("x".into()));
        assert_eq!(selector("x").unwrap(), Err("x".into()));
        assert!(selector("deploy/x").is_err());
        assert_eq!(
            tekton::target("pr/build"),
            Some(tekton::Run::Pipeline("build"))
        );
        assert_eq!(tekton::target("taskrun/t"), Some(tekton::Run::Task("t")));
        assert_eq!(tekton::target("ksvc/t"), None);
    }
}
