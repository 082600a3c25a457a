//! The image store: a content-addressed blob cache, unpacked root filesystems (one per
//! manifest digest), and an index of locally imported images.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use skiff_runtime::ImageRootfs;

use crate::oci::{
    digest_hex, sha256_digest, sha256_reader, Descriptor, ImageConfigFile, Manifest,
    CONTAINERD_NAME, OCI_CONFIG, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_MANIFEST, REF_NAME,
};
use crate::reference::validate_digest;
use crate::registry::RegistryClient;
use crate::{Auth, ImageError, ImageRef, Mirror, Result};

/// A boxed future (for the recursive index → manifest step).
type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A process-unique number for temp names.
pub(crate) fn unique() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ImageError {
    let context = context.into();
    move |source| ImageError::Io { context, source }
}

/// How the store talks to registries.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Registries (`host[:port]`) spoken to over plain HTTP besides loopback ones (also
    /// decides the scheme of mirrors given without `http://`/`https://`).
    pub insecure_registries: Vec<String>,
    /// Registry mirrors, tried in this order before an image's own registry for every
    /// request (see [`Mirror`]); pulled images keep their original names and digests.
    pub mirrors: Vec<Mirror>,
    /// Connect timeout for every registry request.
    pub connect_timeout: Duration,
    /// Whole-request timeout for manifests and tokens; per-read timeout for blobs.
    pub request_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            insecure_registries: Vec::new(),
            mirrors: Vec::new(),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// An image name in the local index and the manifest digest it points to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedImage {
    /// Normalised `registry/repository:tag`.
    pub name: String,
    /// `sha256:…` of its manifest (or index).
    pub digest: String,
}

/// `index.json` of the store.
#[derive(Default, Serialize, Deserialize)]
struct Index {
    /// Imported (or packed) images: name → digest. Consulted before any registry.
    #[serde(default)]
    images: BTreeMap<String, String>,
    /// Tags last pulled from registries: name → digest (fallback when offline).
    #[serde(default)]
    pulled: BTreeMap<String, String>,
}

/// The local image store under `DATA_DIR/images`. Cheap to share (`Arc`); all methods
/// take `&self` and are safe to call concurrently, also from several processes.
pub struct ImageStore {
    root: PathBuf,
    client: RegistryClient,
    /// One lock per manifest digest, so concurrent pulls of an image unpack it once.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Serialises read-modify-write of `index.json` within this process.
    index_lock: Mutex<()>,
}

impl ImageStore {
    /// Opens (creating if needed) the store at `root` with default options.
    pub fn open(root: PathBuf) -> Result<ImageStore> {
        Self::open_with(root, StoreOptions::default())
    }

    /// Opens (creating if needed) the store at `root`. Fails with
    /// [`ImageError::InvalidMirror`] when a mirror's endpoint does not parse.
    pub fn open_with(root: PathBuf, options: StoreOptions) -> Result<ImageStore> {
        for d in ["blobs/sha256", "rootfs", "tmp"] {
            fs::create_dir_all(root.join(d))
                .map_err(io(format!("creating {}", root.join(d).display())))?;
        }
        let client = RegistryClient::new(
            options.insecure_registries,
            options.mirrors,
            options.connect_timeout,
            options.request_timeout,
        )?;
        Ok(ImageStore {
            root,
            client,
            locks: Mutex::new(HashMap::new()),
            index_lock: Mutex::new(()),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where a blob lives (whether or not it is present).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(digest_hex(digest))
    }

    fn rootfs_path(&self, manifest_digest: &str) -> PathBuf {
        self.root.join("rootfs").join(digest_hex(manifest_digest))
    }

    fn read_index(&self) -> Result<Index> {
        let path = self.root.join("index.json");
        match fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| ImageError::Io {
                context: format!("reading {}", path.display()),
                source: std::io::Error::other(e),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(io(format!("reading {}", path.display()))(e)),
        }
    }

    fn update_index(&self, f: impl FnOnce(&mut Index)) -> Result<()> {
        let _g = self.index_lock.lock().unwrap();
        let mut idx = self.read_index()?;
        f(&mut idx);
        let path = self.root.join("index.json");
        let tmp = self.root.join(format!(
            "tmp/index-{}-{}.json",
            std::process::id(),
            unique()
        ));
        let bytes = serde_json::to_vec_pretty(&idx).expect("index serialises");
        fs::write(&tmp, bytes).map_err(io(format!("writing {}", tmp.display())))?;
        fs::rename(&tmp, &path).map_err(io(format!("writing {}", path.display())))
    }

    /// Images imported or packed into this store, by name.
    pub fn list(&self) -> Result<Vec<ImportedImage>> {
        Ok(self
            .read_index()?
            .images
            .into_iter()
            .map(|(name, digest)| ImportedImage { name, digest })
            .collect())
    }

    /// Resolves a reference to a manifest digest (`sha256:…`), as Knative does when a
    /// Revision is created: a pinned digest as is, then locally imported images, then
    /// the registry (HEAD on the manifest).
    pub async fn resolve(&self, reference: &str, auth: &Auth) -> Result<String> {
        let r = ImageRef::parse(reference)?;
        if let Some(d) = &r.digest {
            return Ok(d.clone());
        }
        if let Some(d) = self.read_index()?.images.get(&r.name_and_tag()) {
            return Ok(d.clone());
        }
        self.client.resolve_digest(&r, auth).await
    }

    /// Pulls an image (by tag or digest) and returns its unpacked rootfs and config.
    /// Everything already in the store is used without network access: a reference
    /// pinned by digest whose image is cached never touches the registry.
    pub async fn pull(&self, reference: &str, auth: &Auth) -> Result<ImageRootfs> {
        let r = ImageRef::parse(reference)?;
        let digest = match &r.digest {
            Some(d) => d.clone(),
            None => {
                let idx = self.read_index()?;
                if let Some(d) = idx.images.get(&r.name_and_tag()) {
                    d.clone()
                } else {
                    match self.client.resolve_digest(&r, auth).await {
                        Ok(d) => d,
                        Err(e @ ImageError::Unreachable { .. }) => {
                            // Offline: use the digest this tag had last time, if cached.
                            match idx.pulled.get(&r.name_and_tag()) {
                                Some(d) if self.rootfs_path(d).exists() => {
                                    tracing::warn!(image = %r, "{e}; using the cached {d}");
                                    d.clone()
                                }
                                _ => return Err(e),
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        };
        let pinned = r.with_digest(&digest);
        let out = self.ensure(&pinned, &digest, auth, 0).await?;
        if r.digest.is_none() {
            let key = r.name_and_tag();
            let _ = self.update_index(|i| {
                i.pulled.insert(key, digest.clone());
            });
        }
        Ok(out)
    }

    /// Reads a manifest from the blob cache or fetches (and caches) it by digest.
    async fn manifest(&self, r: &ImageRef, digest: &str, auth: &Auth) -> Result<Manifest> {
        let path = self.blob_path(digest);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(_) => {
                let fetched = self.client.get_manifest(r, digest, auth).await?;
                let actual = sha256_digest(&fetched.bytes);
                if actual != digest {
                    return Err(ImageError::DigestMismatch {
                        what: format!("manifest of image {r}"),
                        expected: digest.to_string(),
                        actual,
                    });
                }
                self.write_blob(digest, &fetched.bytes)?;
                fetched.bytes
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| ImageError::BadManifest {
            image: r.to_string(),
            detail: format!("manifest {digest} is not valid JSON: {e}"),
        })
    }

    fn write_blob(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let path = self.blob_path(digest);
        if path.exists() {
            return Ok(());
        }
        let tmp = self.root.join(format!(
            "blobs/sha256/.tmp-{}-{}-{}",
            digest_hex(digest),
            std::process::id(),
            unique()
        ));
        fs::write(&tmp, bytes).map_err(io(format!("writing blob {digest}")))?;
        fs::rename(&tmp, &path).map_err(io(format!("writing blob {digest}")))
    }

    async fn ensure_blob(&self, r: &ImageRef, digest: &str, auth: &Auth) -> Result<PathBuf> {
        validate_digest(digest).map_err(|d| ImageError::BadManifest {
            image: r.to_string(),
            detail: d,
        })?;
        let path = self.blob_path(digest);
        if !path.exists() {
            self.client.download_blob(r, digest, auth, &path).await?;
        }
        Ok(path)
    }

    /// Makes sure the image `digest` (manifest or index) is unpacked; returns its rootfs.
    fn ensure<'a>(
        &'a self,
        r: &'a ImageRef,
        digest: &'a str,
        auth: &'a Auth,
        depth: u32,
    ) -> BoxFuture<'a, Result<ImageRootfs>> {
        Box::pin(async move {
            let manifest = self.manifest(r, digest, auth).await?;
            if manifest.is_index(None) {
                if depth > 2 {
                    return Err(ImageError::BadManifest {
                        image: r.to_string(),
                        detail: "image indexes nested too deeply".into(),
                    });
                }
                let child = manifest
                    .pick_linux_amd64()
                    .ok_or_else(|| ImageError::BadManifest {
                        image: r.to_string(),
                        detail: "the image index has no linux/amd64 image".into(),
                    })?;
                let child = child.digest.clone();
                return self.ensure(r, &child, auth, depth + 1).await;
            }
            let bad = |detail: String| ImageError::BadManifest {
                image: r.to_string(),
                detail,
            };
            let config_desc = manifest
                .config
                .as_ref()
                .ok_or_else(|| bad(format!("manifest {digest} has no config")))?;
            let config_path = self.ensure_blob(r, &config_desc.digest, auth).await?;
            let config: ImageConfigFile = serde_json::from_slice(
                &fs::read(&config_path).map_err(io("reading the image config"))?,
            )
            .map_err(|e| bad(format!("image config is not valid JSON: {e}")))?;
            if !config.os.is_empty() && config.os != "linux" {
                return Err(bad(format!("image is for {}, not linux", config.os)));
            }
            let rootfs = self.rootfs_path(digest);
            if !rootfs.exists() {
                let lock = self
                    .locks
                    .lock()
                    .unwrap()
                    .entry(digest.to_string())
                    .or_default()
                    .clone();
                let _g = lock.lock().await;
                if !rootfs.exists() {
                    let mut layers = Vec::new();
                    for l in manifest.layers.as_deref().unwrap_or_default() {
                        layers.push(self.ensure_blob(r, &l.digest, auth).await?);
                    }
                    let tmp_parent = self.root.join("rootfs");
                    let target = rootfs.clone();
                    let image = r.to_string();
                    tokio::task::spawn_blocking(move || unpack_all(&tmp_parent, &target, &layers))
                        .await
                        .map_err(|e| ImageError::Io {
                            context: format!("unpacking image {image}"),
                            source: std::io::Error::other(e),
                        })?
                        .map_err(|e| ImageError::Io {
                            context: format!("unpacking image {image}"),
                            source: e,
                        })?;
                }
            }
            let rc = config.config.unwrap_or_default();
            Ok(ImageRootfs {
                rootfs,
                digest: digest.to_string(),
                entrypoint: rc.entrypoint.unwrap_or_default(),
                cmd: rc.cmd.unwrap_or_default(),
                env: rc.env.unwrap_or_default(),
                working_dir: rc.working_dir.filter(|w| !w.is_empty()),
                user: rc.user.filter(|u| !u.is_empty()),
            })
        })
    }

    /// Imports an OCI image layout tarball or a docker-archive tarball (what `skopeo
    /// copy … oci-archive:` / `docker-archive:`, `podman save` and `docker save` write;
    /// gzip-compressed archives too). Blobs are verified and cached; named images go
    /// into the local index (names from `io.containerd.image.name` /
    /// `org.opencontainers.image.ref.name`, or docker's `RepoTags`). Images are unpacked
    /// on first pull.
    pub fn import_archive(&self, path: &Path) -> Result<Vec<ImportedImage>> {
        let bad = |detail: String| ImageError::BadArchive {
            path: path.display().to_string(),
            detail,
        };
        let tmp = tempfile::Builder::new()
            .prefix("import-")
            .tempdir_in(self.root.join("tmp"))
            .map_err(io("creating a temp dir"))?;
        let file = File::open(path).map_err(io(format!("opening {}", path.display())))?;
        let mut magic = [0u8; 2];
        let gz = {
            use std::io::Read;
            let mut f = File::open(path).map_err(io(format!("opening {}", path.display())))?;
            f.read(&mut magic)
                .map_err(io(format!("reading {}", path.display())))?
                == 2
                && magic == [0x1f, 0x8b]
        };
        let reader: Box<dyn std::io::Read> = if gz {
            Box::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)))
        } else {
            Box::new(std::io::BufReader::new(file))
        };
        let mut archive = tar::Archive::new(reader);
        archive
            .unpack(tmp.path())
            .map_err(|e| bad(format!("not a readable tar archive: {e}")))?;
        let dir = tmp.path();
        let stem = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("image")
            .split('.')
            .next()
            .unwrap_or("image")
            .to_ascii_lowercase();
        let imported = if dir.join("index.json").exists() && dir.join("blobs").is_dir() {
            self.import_oci_layout(dir, &stem).map_err(|e| match e {
                ImageError::BadArchive { detail, .. } => bad(detail),
                e => e,
            })?
        } else if dir.join("manifest.json").exists() {
            self.import_docker_archive(dir).map_err(|e| match e {
                ImageError::BadArchive { detail, .. } => bad(detail),
                e => e,
            })?
        } else {
            return Err(bad(
                "neither an OCI image layout (index.json, blobs/) nor a docker archive (manifest.json)"
                    .into(),
            ));
        };
        let named: Vec<_> = imported
            .iter()
            .filter(|i| !i.name.starts_with("sha256:"))
            .cloned()
            .collect();
        self.update_index(|idx| {
            for i in named {
                idx.images.insert(i.name, i.digest);
            }
        })?;
        Ok(imported)
    }

    /// Moves a verified file into the blob cache.
    fn adopt_blob(&self, file: &Path, expected: Option<&str>) -> Result<String> {
        let f = File::open(file).map_err(io(format!("reading {}", file.display())))?;
        let actual = sha256_reader(std::io::BufReader::new(f))
            .map_err(io(format!("reading {}", file.display())))?;
        if let Some(e) = expected {
            if e != actual {
                return Err(ImageError::DigestMismatch {
                    what: format!("archive blob {}", file.display()),
                    expected: e.to_string(),
                    actual,
                });
            }
        }
        let dest = self.blob_path(&actual);
        if !dest.exists() {
            fs::rename(file, &dest).map_err(io(format!("storing blob {actual}")))?;
        }
        Ok(actual)
    }

    fn import_oci_layout(&self, dir: &Path, stem: &str) -> Result<Vec<ImportedImage>> {
        let bad = |detail: String| ImageError::BadArchive {
            path: String::new(),
            detail,
        };
        let index: Manifest = serde_json::from_slice(
            &fs::read(dir.join("index.json")).map_err(io("reading index.json"))?,
        )
        .map_err(|e| bad(format!("index.json is not valid JSON: {e}")))?;
        let blobs = dir.join("blobs/sha256");
        if let Ok(rd) = fs::read_dir(&blobs) {
            for e in rd {
                let e = e.map_err(io("reading blobs/sha256"))?;
                let name = e.file_name().to_string_lossy().to_string();
                self.adopt_blob(&e.path(), Some(&format!("sha256:{name}")))?;
            }
        }
        let mut out = Vec::new();
        for m in index.manifests.unwrap_or_default() {
            if !self.blob_path(&m.digest).exists() {
                return Err(bad(format!("manifest blob {} is missing", m.digest)));
            }
            let name = m
                .annotations
                .get(CONTAINERD_NAME)
                .or_else(|| m.annotations.get(REF_NAME))
                .map(|n| {
                    let bare_tag = !n.contains('/') && !n.contains(':');
                    if bare_tag {
                        ImageRef::parse(&format!("dev.local/{stem}:{n}"))
                    } else {
                        ImageRef::parse(n)
                    }
                })
                .transpose()
                .map_err(|e| bad(format!("bad image name in index.json: {e}")))?
                .map(|r| r.name_and_tag())
                .unwrap_or_else(|| m.digest.clone());
            out.push(ImportedImage {
                name,
                digest: m.digest,
            });
        }
        if out.is_empty() {
            return Err(bad("index.json lists no images".into()));
        }
        Ok(out)
    }

    fn import_docker_archive(&self, dir: &Path) -> Result<Vec<ImportedImage>> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Entry {
            config: String,
            #[serde(default)]
            repo_tags: Option<Vec<String>>,
            layers: Vec<String>,
        }
        let bad = |detail: String| ImageError::BadArchive {
            path: String::new(),
            detail,
        };
        let entries: Vec<Entry> = serde_json::from_slice(
            &fs::read(dir.join("manifest.json")).map_err(io("reading manifest.json"))?,
        )
        .map_err(|e| bad(format!("manifest.json is not valid: {e}")))?;
        let inside = |p: &str| -> Result<PathBuf> {
            let rel = Path::new(p);
            if rel.is_absolute()
                || rel
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
            {
                return Err(bad(format!("path {p:?} escapes the archive")));
            }
            let full = dir.join(rel);
            // Archives may use symlinks between their own files; never out of the archive.
            match (full.canonicalize(), dir.canonicalize()) {
                (Ok(real), Ok(base)) if real.starts_with(&base) && real.is_file() => Ok(real),
                (Ok(_), _) => Err(bad(format!("{p} is not a file inside the archive"))),
                _ => Err(bad(format!("{p} is missing"))),
            }
        };
        let mut out = Vec::new();
        for e in entries {
            let config_path = inside(&e.config)?;
            let config_bytes = fs::read(&config_path).map_err(io("reading the image config"))?;
            let config_digest = sha256_digest(&config_bytes);
            self.write_blob(&config_digest, &config_bytes)?;
            let mut layers = Vec::new();
            for l in &e.layers {
                let p = inside(l)?;
                let size = fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
                let gz = {
                    use std::io::Read;
                    let mut m = [0u8; 2];
                    File::open(&p)
                        .and_then(|mut f| f.read_exact(&mut m))
                        .is_ok()
                        && m == [0x1f, 0x8b]
                };
                // Layers may be listed twice (shared); copy rather than move then.
                let copy = dir.join(format!(".layer-{}", unique()));
                fs::copy(&p, &copy).map_err(io(format!("reading layer {l}")))?;
                let digest = self.adopt_blob(&copy, None)?;
                layers.push(Descriptor {
                    media_type: if gz { OCI_LAYER_GZIP } else { OCI_LAYER_TAR }.into(),
                    digest,
                    size,
                    platform: None,
                    annotations: BTreeMap::new(),
                });
            }
            let manifest = Manifest {
                schema_version: 2,
                media_type: Some(OCI_MANIFEST.into()),
                config: Some(Descriptor {
                    media_type: OCI_CONFIG.into(),
                    digest: config_digest,
                    size: config_bytes.len() as u64,
                    platform: None,
                    annotations: BTreeMap::new(),
                }),
                layers: Some(layers),
                manifests: None,
                annotations: BTreeMap::new(),
            };
            let bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
            let digest = sha256_digest(&bytes);
            self.write_blob(&digest, &bytes)?;
            let tags = e.repo_tags.unwrap_or_default();
            if tags.is_empty() {
                out.push(ImportedImage {
                    name: digest.clone(),
                    digest: digest.clone(),
                });
            }
            for t in tags {
                let name = ImageRef::parse(&t)
                    .map_err(|err| bad(format!("bad RepoTag {t:?}: {err}")))?
                    .name_and_tag();
                out.push(ImportedImage {
                    name,
                    digest: digest.clone(),
                });
            }
        }
        if out.is_empty() {
            return Err(bad("manifest.json lists no images".into()));
        }
        Ok(out)
    }
}

/// Unpacks layers into a fresh temp dir beside `target`, then renames it into place
/// atomically; if another process won the race, its result is kept.
fn unpack_all(tmp_parent: &Path, target: &Path, layers: &[PathBuf]) -> std::io::Result<()> {
    let tmp = tempfile::Builder::new()
        .prefix(".unpack-")
        .tempdir_in(tmp_parent)?;
    let dir = tmp.path().join("rootfs");
    fs::create_dir(&dir)?;
    for l in layers {
        crate::unpack::apply_layer(&dir, l)?;
    }
    match fs::rename(&dir, target) {
        Ok(()) => Ok(()),
        Err(_) if target.exists() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn import_packed_then_pull_offline() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path().join("images")).unwrap();
        let bin = tmp.path().join("bin");
        std::fs::write(&bin, b"binary").unwrap();
        let archive = tmp.path().join("hello.tar");
        let digest =
            crate::write_packed_binary(&bin, "dev.local/hello:v1", &[], &[], &archive).unwrap();
        let imported = store.import_archive(&archive).unwrap();
        assert_eq!(
            imported,
            vec![ImportedImage {
                name: "dev.local/hello:v1".into(),
                digest: digest.clone()
            }]
        );
        assert_eq!(store.list().unwrap(), imported);
        assert_eq!(
            store
                .resolve("dev.local/hello:v1", &Auth::Anonymous)
                .await
                .unwrap(),
            digest
        );
        let img = store
            .pull("dev.local/hello:v1", &Auth::Anonymous)
            .await
            .unwrap();
        assert_eq!(img.digest, digest);
        assert_eq!(img.entrypoint, vec!["/app".to_string()]);
        assert_eq!(std::fs::read(img.rootfs.join("app")).unwrap(), b"binary");
        assert!(img.rootfs.join("etc/passwd").exists());
        assert!(img.rootfs.join("tmp").is_dir());
        // Concurrent pulls by digest share one unpack.
        let by_digest = format!("dev.local/hello@{digest}");
        let (a, b) = tokio::join!(
            store.pull(&by_digest, &Auth::Anonymous),
            store.pull(&by_digest, &Auth::Anonymous)
        );
        assert_eq!(a.unwrap().rootfs, b.unwrap().rootfs);
    }

    #[test]
    fn corrupt_blob_in_archive_is_rejected() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open(tmp.path().join("images")).unwrap();
        let archive = tmp.path().join("bad.tar");
        let mut b = tar::Builder::new(File::create(&archive).unwrap());
        let mut add = |p: &str, data: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, p, data).unwrap();
        };
        add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
        add("index.json", br#"{"schemaVersion":2,"manifests":[]}"#);
        add(
            &format!("blobs/sha256/{}", "0".repeat(64)),
            b"not what the name says",
        );
        b.finish().unwrap();
        drop(b);
        let err = store.import_archive(&archive).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
    }

    #[tokio::test]
    async fn unreachable_registry_fails_fast() {
        let tmp = tempfile::tempdir().unwrap();
        let store = ImageStore::open_with(
            tmp.path().join("images"),
            StoreOptions {
                connect_timeout: Duration::from_secs(2),
                request_timeout: Duration::from_secs(2),
                ..Default::default()
            },
        )
        .unwrap();
        // A loopback port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = store
            .pull(&format!("127.0.0.1:{port}/x/y:v1"), &Auth::Anonymous)
            .await
            .unwrap_err();
        assert!(matches!(err, ImageError::Unreachable { .. }), "{err}");
        assert!(err
            .to_string()
            .contains(&format!("127.0.0.1:{port}/x/y:v1")));
    }
}
