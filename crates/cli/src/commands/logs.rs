//! `skiff logs`: the logs of a Service's (or Configuration's, Revision's) instances, or
//! of one Pod, prefixed per Pod like `tkn`/`stern` when there are several.

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
    /// or a bare Pod name.
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
        other => bail!("logs are shown for ksvc/, config/, rev/ or pod/ targets, not {other:?}"),
    };
    Ok(Ok(format!("{label}={name}")))
}

/// Runs `skiff logs`.
pub async fn run(kubeconfig: Option<std::path::PathBuf>, args: LogsArgs) -> Result<()> {
    let conn = connect(kubeconfig).await?;
    let ns = args.namespace.clone().unwrap_or(conn.namespace.clone());
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
    }
}
