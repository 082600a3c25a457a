//! `skiff`: the server and a kubectl-like client in one binary.

mod commands;
mod server;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// skiff — a self-hosted serverless platform that speaks Knative and Tekton YAML.
#[derive(Parser, Debug)]
#[command(name = "skiff", version, about)]
struct Cli {
    /// Path to the kubeconfig file (client commands). Defaults to $KUBECONFIG, then
    /// ~/.kube/config, then the server's default data dir kubeconfig.
    #[arg(long, global = true, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the skiff server: API server, controllers, runtime and gateway.
    Server(server::ServerArgs),
    /// Create or update objects from YAML/JSON files, directories or stdin (`-`).
    Apply(commands::apply::ApplyArgs),
    /// List or show objects.
    Get(commands::get::GetArgs),
    /// Show an object in detail, with its conditions.
    Describe(commands::describe::DescribeArgs),
    /// Show the logs of a Service's instances (`ksvc/NAME`), a TaskRun's or PipelineRun's
    /// steps (`taskrun/NAME`, `pipelinerun/NAME`) or of one Pod.
    Logs(commands::logs::LogsArgs),
    /// Delete objects by file or by kind and name.
    Delete(commands::delete::DeleteArgs),
    /// Manage the local image store: import tarballs, pack a binary, list, pull.
    Image(commands::image::ImageArgs),
    /// Tekton Pipelines: `skiff pipeline start NAME` (as `tkn pipeline start`).
    Pipeline(commands::start::PipelineArgs),
    /// Tekton Tasks: `skiff task start NAME` (as `tkn task start`).
    Task(commands::start::TaskArgs),
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Server(args) => server::run(args).await,
            Command::Apply(args) => commands::apply::run(cli.kubeconfig, args).await,
            Command::Get(args) => commands::get::run(cli.kubeconfig, args).await,
            Command::Describe(args) => commands::describe::run(cli.kubeconfig, args).await,
            Command::Delete(args) => commands::delete::run(cli.kubeconfig, args).await,
            Command::Logs(args) => commands::logs::run(cli.kubeconfig, args).await,
            Command::Image(args) => commands::image::run(args).await,
            Command::Pipeline(args) => commands::start::pipeline(cli.kubeconfig, args).await,
            Command::Task(args) => commands::start::task(cli.kubeconfig, args).await,
        }
    });
    if let Err(e) = result {
        let msg = format!("{e:#}");
        if msg.starts_with("error:") {
            eprintln!("{msg}");
        } else {
            eprintln!("error: {msg}");
        }
        std::process::exit(1);
    }
}
