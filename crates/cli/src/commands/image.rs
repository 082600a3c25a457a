//! `skiff image import|pack|list|pull|resolve`: the local image store under the data
//! dir (`DATA_DIR/images`), shared with a later `skiff server`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use skiff_images::{Auth, ImageStore, StoreOptions};

/// Arguments of `skiff image`.
#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// The server's data dir; images live in `DATA_DIR/images`.
    #[arg(long, env = "SKIFF_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: ImageCommand,
}

/// The `skiff image` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
    /// Import OCI-layout or docker-archive tarballs (skopeo, podman save, docker save).
    Import {
        /// Archive files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Pack one binary into an OCI image (binary at /app, Entrypoint ["/app"]).
    Pack(PackArgs),
    /// List the images imported into the local store.
    List,
    /// Pull an image from its registry into the local store.
    Pull(RemoteArgs),
    /// Print the digest a reference resolves to.
    Resolve(RemoteArgs),
}

/// Arguments of `skiff image pack`.
#[derive(clap::Args, Debug)]
pub struct PackArgs {
    /// The (preferably static) binary to pack.
    #[arg(long)]
    pub binary: PathBuf,
    /// Image name, e.g. `dev.local/hello:latest`.
    #[arg(long)]
    pub name: String,
    /// Write the OCI layout tarball here.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Also import the image into the local store.
    #[arg(long)]
    pub import: bool,
    /// Environment for the image config (`K=V`), repeatable.
    #[arg(long = "env", short = 'e')]
    pub env: Vec<String>,
}

/// Arguments of `skiff image pull` / `resolve`.
#[derive(clap::Args, Debug)]
pub struct RemoteArgs {
    /// Image reference.
    pub reference: String,
    /// Registry user name (basic auth / token flow).
    #[arg(long, requires = "password")]
    pub username: Option<String>,
    /// Registry password.
    #[arg(long, env = "SKIFF_REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// Registries (`host[:port]`) to reach over plain HTTP (loopback ones always are).
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
}

impl RemoteArgs {
    fn auth(&self) -> Auth {
        match (&self.username, &self.password) {
            (Some(u), Some(p)) => Auth::basic(u, p),
            _ => Auth::Anonymous,
        }
    }
}

fn open_store(data_dir: Option<PathBuf>, insecure: Vec<String>) -> Result<ImageStore> {
    let root = data_dir
        .unwrap_or_else(crate::server::default_data_dir)
        .join("images");
    ImageStore::open_with(
        root.clone(),
        StoreOptions {
            insecure_registries: insecure,
            ..Default::default()
        },
    )
    .with_context(|| format!("opening the image store at {}", root.display()))
}

/// Runs a `skiff image` subcommand.
pub async fn run(args: ImageArgs) -> Result<()> {
    match args.command {
        ImageCommand::Import { files } => {
            let store = open_store(args.data_dir, vec![])?;
            for f in files {
                let store_ref = &store;
                let imported = tokio::task::block_in_place(|| store_ref.import_archive(&f))?;
                for i in imported {
                    println!("Imported {} {}", i.name, i.digest);
                }
            }
        }
        ImageCommand::Pack(p) => {
            if p.output.is_none() && !p.import {
                anyhow::bail!("skiff image pack needs --output FILE, --import, or both");
            }
            let bytes = skiff_images::pack_binary(&p.binary, &p.name, &[], &p.env)?;
            let tmp;
            let path = match &p.output {
                Some(o) => {
                    std::fs::write(o, &bytes)
                        .with_context(|| format!("writing {}", o.display()))?;
                    o.clone()
                }
                None => {
                    tmp = tempfile::NamedTempFile::new().context("creating a temp file")?;
                    std::fs::write(tmp.path(), &bytes).context("writing the image")?;
                    tmp.path().to_path_buf()
                }
            };
            if p.import {
                let store = open_store(args.data_dir, vec![])?;
                for i in store.import_archive(&path)? {
                    println!("Imported {} {}", i.name, i.digest);
                }
            }
            if let Some(o) = &p.output {
                println!("Wrote {}", o.display());
            }
        }
        ImageCommand::List => {
            let store = open_store(args.data_dir, vec![])?;
            let images = store.list()?;
            let width = images
                .iter()
                .map(|i| i.name.len())
                .max()
                .unwrap_or(4)
                .max(4);
            println!("{:<width$}  DIGEST", "NAME");
            for i in images {
                println!("{:<width$}  {}", i.name, i.digest);
            }
        }
        ImageCommand::Pull(r) => {
            let store = open_store(args.data_dir, r.insecure_registries.clone())?;
            let img = store.pull(&r.reference, &r.auth()).await?;
            println!("Pulled {} {}", r.reference, img.digest);
        }
        ImageCommand::Resolve(r) => {
            let store = open_store(args.data_dir, r.insecure_registries.clone())?;
            println!("{}", store.resolve(&r.reference, &r.auth()).await?);
        }
    }
    Ok(())
}
