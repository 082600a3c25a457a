//! `skiff image import|pack|list|pull|resolve`: the local image store under the data
//! dir (`DATA_DIR/images`), shared with a later `skiff server`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use skiff_images::{Auth, ImageStore, Mirror, StoreOptions};

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
    /// Pack one binary (at /app, Entrypoint ["/app"]) or a directory tree into an OCI
    /// image.
    Pack(PackArgs),
    /// List the images imported into the local store.
    List,
    /// Pull an image from its registry into the local store.
    Pull(RemoteArgs),
    /// Print the digest a reference resolves to.
    Resolve(RemoteArgs),
}

/// Arguments of `skiff image pack`: what to pack is `--binary FILE` or `--rootfs DIR`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("content").required(true).args(["binary", "rootfs"])))]
pub struct PackArgs {
    /// The (preferably static) binary to pack; it becomes /app, the entrypoint.
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// A directory to pack as the whole root filesystem (files with their modes,
    /// directories, symlinks; owned by root, mtime 0, so the same tree gives the same
    /// digest). Without --entrypoint the image has none, and Cmd ["/bin/sh"] when the
    /// tree has /bin/sh.
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
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
    /// The image's Entrypoint, one argument per flag (repeatable): `--entrypoint
    /// /usr/bin/kubectl`. Default: ["/app"] for --binary, none for --rootfs.
    #[arg(long = "entrypoint", value_name = "ARG")]
    pub entrypoint: Vec<String>,
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
    /// A mirror to try before a registry, repeatable, tried in order (containerd's
    /// hosts.toml): `docker.io=http://127.0.0.1:5000`, `gcr.io=mirror.lan:5000`,
    /// `*=https://cache.lan/v2/proxy`. The image keeps its original name and digest.
    #[arg(long = "registry-mirror", value_name = "REGISTRY=ENDPOINT")]
    pub registry_mirrors: Vec<Mirror>,
}

impl RemoteArgs {
    fn store_options(&self) -> StoreOptions {
        StoreOptions {
            insecure_registries: self.insecure_registries.clone(),
            mirrors: self.registry_mirrors.clone(),
            ..Default::default()
        }
    }

    fn auth(&self) -> Auth {
        match (&self.username, &self.password) {
            (Some(u), Some(p)) => Auth::basic(u, p),
            _ => Auth::Anonymous,
        }
    }
}

fn open_store(data_dir: Option<PathBuf>, options: StoreOptions) -> Result<ImageStore> {
    let root = data_dir
        .unwrap_or_else(crate::server::default_data_dir)
        .join("images");
    ImageStore::open_with(root.clone(), options)
        .with_context(|| format!("opening the image store at {}", root.display()))
}

/// Runs a `skiff image` subcommand.
pub async fn run(args: ImageArgs) -> Result<()> {
    match args.command {
        ImageCommand::Import { files } => {
            let store = open_store(args.data_dir, StoreOptions::default())?;
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
            let bytes = match (&p.binary, &p.rootfs) {
                (Some(bin), _) => skiff_images::pack_binary(bin, &p.name, &p.entrypoint, &p.env)?,
                (None, Some(dir)) => {
                    let (dir, name) = (dir.clone(), p.name.clone());
                    let (entrypoint, env) = (p.entrypoint.clone(), p.env.clone());
                    tokio::task::spawn_blocking(move || {
                        skiff_images::pack_rootfs(&dir, &name, &entrypoint, &env)
                    })
                    .await??
                }
                (None, None) => unreachable!("clap requires --binary or --rootfs"),
            };
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
                let store = open_store(args.data_dir, StoreOptions::default())?;
                for i in store.import_archive(&path)? {
                    println!("Imported {} {}", i.name, i.digest);
                }
            }
            if let Some(o) = &p.output {
                println!("Wrote {}", o.display());
            }
        }
        ImageCommand::List => {
            let store = open_store(args.data_dir, StoreOptions::default())?;
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
            let store = open_store(args.data_dir, r.store_options())?;
            let img = store.pull(&r.reference, &r.auth()).await?;
            println!("Pulled {} {}", r.reference, img.digest);
        }
        ImageCommand::Resolve(r) => {
            let store = open_store(args.data_dir, r.store_options())?;
            println!("{}", store.resolve(&r.reference, &r.auth()).await?);
        }
    }
    Ok(())
}
