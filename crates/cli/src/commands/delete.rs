//! `skiff delete`: delete objects named in manifests (`-f`) or by `KIND NAME...`,
//! printing `service.serving.knative.dev "hello" deleted` like kubectl.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::commands::apply::{load_documents, target};
use crate::commands::client::{connect, ObjectApi};
use crate::commands::errors::{describe_error, exit_failure, is_not_found};
use crate::commands::get::parse_queries;
use crate::commands::resources::{ResourceInfo, Resources};

/// Arguments of `skiff delete`.
#[derive(clap::Args, Debug)]
pub struct DeleteArgs {
    /// `KIND NAME...` or `KIND/NAME...` (when not using -f).
    #[arg(value_name = "KIND [NAME]...")]
    pub args: Vec<String>,
    /// Files, directories or `-` whose objects are deleted.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<String>,
    /// Namespace (default: the kubeconfig context's, else `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Treat "not found" as success.
    #[arg(long)]
    pub ignore_not_found: bool,
    /// Wait until the objects are gone (true by default, like kubectl).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub wait: bool,
}

/// One object to delete and the context its errors are reported in.
struct Victim<'r> {
    info: &'r ResourceInfo,
    name: String,
    namespace: Option<String>,
    source: Option<String>,
}

/// Runs `skiff delete`.
pub async fn run(kubeconfig: Option<PathBuf>, args: DeleteArgs) -> Result<()> {
    if args.filename.is_empty() && args.args.is_empty() {
        bail!("You must provide one or more resources by argument or filename.");
    }
    if !args.filename.is_empty() && !args.args.is_empty() {
        bail!("there is no need to specify a resource type as a separate argument when passing arguments in resource/name form or with -f");
    }
    let docs = if args.filename.is_empty() {
        Vec::new()
    } else {
        load_documents(&args.filename)?
    };
    let conn = connect(kubeconfig).await?;
    let resources = Resources::discover(&conn.client).await?;
    let ns = args.namespace.clone().unwrap_or(conn.namespace.clone());
    let mut failed = false;
    let mut victims = Vec::new();
    for doc in &docs {
        match target(&resources, doc, args.namespace.as_deref(), &ns) {
            Ok(t) => victims.push(Victim {
                info: t.info,
                name: t.name,
                namespace: t.namespace,
                source: Some(doc.source.clone()),
            }),
            Err(msg) => {
                eprintln!("{msg}");
                failed = true;
            }
        }
    }
    if !args.args.is_empty() {
        let queries = parse_queries(&resources, &args.args)?;
        for q in queries {
            if q.names.is_empty() {
                bail!("resource(s) were provided, but no name was specified");
            }
            for name in q.names {
                let namespace = q.info.namespaced.then(|| ns.clone());
                victims.push(Victim {
                    info: q.info,
                    name,
                    namespace,
                    source: None,
                });
            }
        }
    }
    let mut deleted = Vec::new();
    for v in &victims {
        let api = ObjectApi::new(&conn.client, v.info, v.namespace.as_deref());
        match api.delete(&v.name).await {
            Ok(_) => {
                println!("{} \"{}\" deleted", v.info.kind_group(), v.name);
                deleted.push(v);
            }
            Err(e) if is_not_found(&e) && args.ignore_not_found => {}
            Err(e) => {
                let ctx = v
                    .source
                    .as_ref()
                    .map(|s| format!("error when deleting \"{s}\""));
                eprintln!("{}", describe_error(&e, ctx.as_deref()));
                failed = true;
            }
        }
    }
    if args.wait {
        wait_gone(&conn.client, &deleted).await;
    }
    if failed {
        exit_failure();
    }
    Ok(())
}

/// Polls until every deleted object is gone (finalizers, cascading), for up to a minute.
async fn wait_gone(client: &kube::Client, victims: &[&Victim<'_>]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for v in victims {
        let api = ObjectApi::new(client, v.info, v.namespace.as_deref());
        while Instant::now() < deadline {
            match api.get_opt(&v.name).await {
                Ok(Some(_)) => tokio::time::sleep(Duration::from_millis(100)).await,
                _ => break,
            }
        }
    }
}
