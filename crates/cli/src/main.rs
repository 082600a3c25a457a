//! `skiff`: the server and a kubectl-like client in one binary.

mod commands;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Run the skiff server (API server; controllers and gateway come in later releases).
    Server(ServerArgs),
    /// Create or update objects from YAML/JSON files, directories or stdin (`-`).
    Apply(commands::apply::ApplyArgs),
    /// List or show objects.
    Get(commands::get::GetArgs),
    /// Show an object in detail, with its conditions.
    Describe(commands::describe::DescribeArgs),
    /// Delete objects by file or by kind and name.
    Delete(commands::delete::DeleteArgs),
    /// Manage the local image store: import tarballs, pack a binary, list, pull.
    Image(commands::image::ImageArgs),
}

#[derive(clap::Args, Debug)]
struct ServerArgs {
    /// Where the store, certificates, token and kubeconfig live.
    #[arg(long, env = "SKIFF_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address of the HTTPS Kubernetes API.
    #[arg(long, default_value = "127.0.0.1:6443")]
    api_addr: SocketAddr,
    /// Address of the HTTP gateway that serves Knative routes (used from the serving release on).
    #[arg(long, default_value = "127.0.0.1:8080")]
    gateway_addr: SocketAddr,
    /// Log format.
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Largest request body accepted, in bytes (bigger → 413).
    #[arg(long, default_value_t = 3 * 1024 * 1024)]
    max_request_bytes: usize,
    /// Seconds between watch bookmarks for clients that allow them.
    #[arg(long, default_value_t = 60)]
    watch_bookmark_interval: u64,
    /// How many change events are kept for watches that resume from an old resourceVersion.
    #[arg(long, default_value_t = 100_000)]
    watch_history: u64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LogFormat {
    Text,
    Json,
}

/// The default data dir: `$XDG_DATA_HOME/skiff` or `~/.local/share/skiff`.
pub fn default_data_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(x).join("skiff");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".local/share/skiff")
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SKIFF_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Server(args) => {
                init_logging(args.log_format);
                let config = skiff_apiserver::ServerConfig {
                    data_dir: args.data_dir.unwrap_or_else(default_data_dir),
                    api_addr: args.api_addr,
                    gateway_addr: args.gateway_addr,
                    http: skiff_apiserver::http::HttpOptions {
                        max_body_bytes: args.max_request_bytes,
                        bookmark_interval: Duration::from_secs(args.watch_bookmark_interval.max(1)),
                        ..Default::default()
                    },
                    event_history: args.watch_history,
                };
                skiff_apiserver::run(config).await
            }
            Command::Apply(args) => commands::apply::run(cli.kubeconfig, args).await,
            Command::Get(args) => commands::get::run(cli.kubeconfig, args).await,
            Command::Describe(args) => commands::describe::run(cli.kubeconfig, args).await,
            Command::Delete(args) => commands::delete::run(cli.kubeconfig, args).await,
            Command::Image(args) => commands::image::run(args).await,
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
