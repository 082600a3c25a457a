//! Fixtures for the pipeline integration tests, which have no internet: step images
//! assembled from the host's own binaries, a loopback `docker-registry` to push them
//! to, and a git repository served over plain (dumb-protocol) HTTP.
//!
//! - [`StepImages`]: root filesystem *directories* for `busybox`, `git` and `kubectl`
//!   step images, built once per machine under
//!   `$HOME/.cache/skiff-test-images/<name>-<hash of inputs>`.
//! - [`Registry`], [`push_image`] / [`push_images`], [`import_image`]: pack a directory
//!   with `skiff image pack --rootfs`, push it with `skopeo` (or import it straight into
//!   a data dir's image store).
//! - [`GitServer`]: a temporary repository with given files, served over HTTP on a given
//!   address (the pipeline tests bind it to the skiff bridge's gateway IP, which the step
//!   containers can reach; they cannot reach the host's 127.0.0.1).
//!
//! Declared from `common/mod.rs` (`common::pipelines`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Bump when the way trees are assembled changes: every cached tree is rebuilt.
const TREE_FORMAT: &str = "step-images-v1";

/// The skiff binary under test.
fn skiff_bin() -> &'static str {
    env!("CARGO_BIN_EXE_skiff")
}

/// True when `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// `Err` with what to install when `skopeo` or `docker-registry` is missing, so a test
/// can print it and skip.
pub fn registry_tools() -> Result<(), String> {
    let missing: Vec<&str> = ["skopeo", "docker-registry"]
        .into_iter()
        .filter(|t| !have(t))
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} not installed (run scripts/install-deps.sh)",
            missing.join(" and ")
        ))
    }
}

/// Runs a command, panicking with its output when it fails.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Where built trees and packed archives are cached: `$SKIFF_TEST_IMAGES_CACHE`, else
/// `$HOME/.cache/skiff-test-images`.
pub fn cache_root() -> PathBuf {
    if let Some(d) = std::env::var_os("SKIFF_TEST_IMAGES_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache/skiff-test-images")
}

/// A process-unique suffix for temp names.
fn unique() -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

// ---------------------------------------------------------------------------------
// Step image trees
// ---------------------------------------------------------------------------------

/// One thing to put in a tree, at a path relative to its root.
#[derive(Clone, Debug)]
enum Entry {
    /// A directory with a mode.
    Dir(String, u32),
    /// A host file's content (symlinks followed), keeping its permission bits.
    Copy(String, PathBuf),
    /// A symlink and its target, as is.
    Link(String, String),
    /// Given bytes with a mode.
    Write(String, Vec<u8>, u32),
}

/// The recipe of a tree: entries applied in order (later ones win).
#[derive(Default)]
struct Recipe {
    entries: Vec<Entry>,
}

impl Recipe {
    fn dir(&mut self, path: &str, mode: u32) {
        self.entries.push(Entry::Dir(path.into(), mode));
    }

    fn copy(&mut self, path: &str, src: impl Into<PathBuf>) {
        self.entries.push(Entry::Copy(path.into(), src.into()));
    }

    fn link(&mut self, path: &str, target: &str) {
        self.entries.push(Entry::Link(path.into(), target.into()));
    }

    fn write(&mut self, path: &str, bytes: &[u8], mode: u32) {
        self.entries
            .push(Entry::Write(path.into(), bytes.to_vec(), mode));
    }

    /// `bin` at `dest`, plus its shared-library closure (from `ldd`) at the paths the
    /// loader looks them up by.
    fn binary_with_libs(&mut self, dest: &str, bin: &Path) -> Result<(), String> {
        self.copy(dest, bin);
        for lib in shared_libs(bin)? {
            let rel = lib.to_str().unwrap().trim_start_matches('/').to_string();
            if !self
                .entries
                .iter()
                .any(|e| matches!(e, Entry::Copy(p, _) if *p == rel))
            {
                self.copy(&rel, lib);
            }
        }
        Ok(())
    }

    /// A hash of everything the tree is built from (host files by path, size, mtime
    /// and inode, so an upgraded package rebuilds it).
    fn key(&self) -> Result<String, String> {
        use std::hash::{Hash, Hasher};
        use std::os::unix::fs::MetadataExt;
        // Two independent 64-bit SipHashes (different seeds) for a 128-bit key.
        let mut a = std::collections::hash_map::DefaultHasher::new();
        let mut b = std::collections::hash_map::DefaultHasher::new();
        0xa5u8.hash(&mut b);
        let mut feed = |bytes: &[u8]| {
            bytes.hash(&mut a);
            bytes.hash(&mut b);
        };
        feed(TREE_FORMAT.as_bytes());
        for e in &self.entries {
            match e {
                Entry::Dir(p, m) => feed(format!("D {p} {m:o}").as_bytes()),
                Entry::Link(p, t) => feed(format!("L {p} {t}").as_bytes()),
                Entry::Write(p, bytes, m) => {
                    feed(format!("W {p} {m:o}").as_bytes());
                    feed(bytes);
                }
                Entry::Copy(p, src) => {
                    let m = std::fs::metadata(src)
                        .map_err(|e| format!("reading {}: {e}", src.display()))?;
                    feed(
                        format!(
                            "C {p} {} {} {} {} {:o}",
                            src.display(),
                            m.len(),
                            m.mtime(),
                            m.ino(),
                            m.mode()
                        )
                        .as_bytes(),
                    );
                }
            }
        }
        Ok(format!("{:016x}{:016x}", a.finish(), b.finish()))
    }

    /// Creates the tree under `root` (which does not exist yet).
    fn build(&self, root: &Path) -> Result<(), String> {
        let err = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
        std::fs::create_dir_all(root).map_err(|e| err("creating", root, e))?;
        for e in &self.entries {
            let rel = match e {
                Entry::Dir(p, _) | Entry::Copy(p, _) | Entry::Link(p, _) | Entry::Write(p, ..) => p,
            };
            let dest = root.join(rel);
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent).map_err(|e| err("creating", parent, e))?;
            }
            if !matches!(e, Entry::Dir(..)) {
                if let Ok(m) = std::fs::symlink_metadata(&dest) {
                    if !m.is_dir() {
                        std::fs::remove_file(&dest).map_err(|e| err("replacing", &dest, e))?;
                    }
                }
            }
            match e {
                Entry::Dir(_, mode) => {
                    std::fs::create_dir_all(&dest).map_err(|e| err("creating", &dest, e))?;
                    std::fs::set_permissions(&dest, PermissionsExt::from_mode(*mode))
                        .map_err(|e| err("chmod", &dest, e))?;
                }
                Entry::Copy(_, src) => {
                    // fs::copy follows symlinks and keeps the permission bits.
                    std::fs::copy(src, &dest).map_err(|e| err("copying to", &dest, e))?;
                }
                Entry::Link(_, target) => {
                    std::os::unix::fs::symlink(target, &dest)
                        .map_err(|e| err("linking", &dest, e))?;
                }
                Entry::Write(_, bytes, mode) => {
                    std::fs::write(&dest, bytes).map_err(|e| err("writing", &dest, e))?;
                    std::fs::set_permissions(&dest, PermissionsExt::from_mode(*mode))
                        .map_err(|e| err("chmod", &dest, e))?;
                }
            }
        }
        Ok(())
    }

    /// The cached tree `<cache>/<name>-<key>`, built first if missing. Built in a temp
    /// dir and renamed into place, so concurrent builders (test threads or processes)
    /// never see half a tree.
    fn cached(&self, name: &str) -> Result<PathBuf, String> {
        static BUILDING: Mutex<()> = Mutex::new(());
        let _g = BUILDING.lock().unwrap_or_else(|e| e.into_inner());
        let root = cache_root();
        let dir = root.join(format!("{name}-{}", self.key()?));
        if dir.is_dir() {
            return Ok(dir);
        }
        let tmp = root.join(format!(".tmp-{name}-{}", unique()));
        let _ = std::fs::remove_dir_all(&tmp);
        let built = self.build(&tmp).and_then(|()| {
            match std::fs::rename(&tmp, &dir) {
                Ok(()) => Ok(()),
                // Another process finished the same tree first.
                Err(_) if dir.is_dir() => Ok(()),
                Err(e) => Err(format!("renaming into {}: {e}", dir.display())),
            }
        });
        let _ = std::fs::remove_dir_all(&tmp);
        if built.is_ok() {
            prune_stale(&root, &format!("{name}-"), &dir);
        }
        built.map(|()| dir)
    }
}

/// Removes older trees (other input hashes) of the same image, once they are an hour
/// old (a test process still using one is not disturbed).
fn prune_stale(root: &Path, prefix: &str, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > Duration::from_secs(3600));
        if name.starts_with(prefix) && name.len() == prefix.len() + 32 && path != keep && old {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

/// True when `path` starts with the ELF magic.
fn is_elf(path: &Path) -> bool {
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && magic == *b"\x7fELF"
}

/// The shared libraries `bin` loads (with the dynamic loader), as `ldd` lists them;
/// empty for a static binary.
fn shared_libs(bin: &Path) -> Result<Vec<PathBuf>, String> {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .map_err(|e| format!("running ldd {}: {e}", bin.display()))?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(vec![]);
    }
    if !out.status.success() {
        return Err(format!("ldd {} failed: {text}", bin.display()));
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        // "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x…)" or "/lib64/ld-linux… (0x…)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        match path {
            Some(p) if p.starts_with('/') => libs.push(PathBuf::from(p)),
            Some("not") => return Err(format!("ldd {}: {line}", bin.display())),
            _ => {}
        }
        if line.contains("not found") {
            return Err(format!("ldd {}: {}", bin.display(), line.trim()));
        }
    }
    Ok(libs)
}

/// The busybox tree's recipe: `/bin/busybox` with a symlink per applet (where
/// `busybox --list-full` puts them: /bin, /sbin, /usr/bin, /usr/sbin), /etc/passwd and
/// /etc/group (root, nobody), /etc/nsswitch.conf, /tmp (1777), /root.
fn busybox_recipe() -> Result<Recipe, String> {
    let host = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| is_elf(p))
        .ok_or("busybox is not installed (apt-get install busybox-static)")?;
    let mut r = Recipe::default();
    for (d, mode) in [
        ("bin", 0o755),
        ("sbin", 0o755),
        ("usr/bin", 0o755),
        ("usr/sbin", 0o755),
        ("etc", 0o755),
        ("root", 0o700),
        ("tmp", 0o1777),
        ("var/tmp", 0o1777),
        ("home", 0o755),
        ("dev", 0o755),
        ("proc", 0o755),
        ("sys", 0o755),
    ] {
        r.dir(d, mode);
    }
    r.binary_with_libs("bin/busybox", &host)?;
    let list = |arg: &str| {
        Command::new(&host)
            .arg(arg)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
    };
    let applets: Vec<String> = match list("--list-full") {
        Some(l) => l.lines().map(str::to_string).collect(),
        None => list("--list")
            .ok_or_else(|| format!("{} --list failed", host.display()))?
            .lines()
            .map(|a| format!("bin/{a}"))
            .collect(),
    };
    for a in applets {
        let a = a.trim().trim_start_matches('/');
        if a.is_empty() || a == "bin/busybox" || a.contains("..") {
            continue;
        }
        r.link(a, "/bin/busybox");
    }
    r.link("bin/sh", "/bin/busybox");
    r.write(
        "etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        0o644,
    );
    r.write("etc/group", b"root:x:0:\nnobody:x:65534:\n", 0o644);
    r.write(
        "etc/nsswitch.conf",
        b"passwd: files\ngroup: files\nhosts: files dns\n",
        0o644,
    );
    Ok(r)
}

/// Adds the host's CA bundle (for HTTPS clients) when there is one.
fn add_ca_certs(r: &mut Recipe) {
    let bundle = Path::new("/etc/ssl/certs/ca-certificates.crt");
    if bundle.is_file() {
        r.copy("etc/ssl/certs/ca-certificates.crt", bundle);
    }
}

/// The kubectl to put in the kubectl image: `$SKIFF_TEST_STEP_KUBECTL`; else, where
/// `/usr/bin/kubectl` is google-cloud-sdk's dispatcher, the versioned binary beside it
/// matching the v1.33 skiff's `/version` reports (else the newest there); else
/// `~/.cache/skiff-tools/kubectl-1.20/kubectl`; else `kubectl` from PATH if it is a
/// real ELF binary and not the dispatcher.
pub fn find_kubectl() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SKIFF_TEST_STEP_KUBECTL").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if is_elf(&p) {
            Ok(p)
        } else {
            Err(format!(
                "$SKIFF_TEST_STEP_KUBECTL={} is not an ELF binary",
                p.display()
            ))
        };
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v kubectl"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let mut sdk_dirs = vec![PathBuf::from("/usr/lib/google-cloud-sdk/bin")];
    if let Some(dir) = on_path
        .as_ref()
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        sdk_dirs.insert(0, dir);
    }
    for dir in &sdk_dirs {
        // kubectl.1.27 … kubectl.1.33: prefer the server's minor, else the newest.
        let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().to_string();
                let minor = name.strip_prefix("kubectl.1.")?.parse::<u32>().ok()?;
                Some((minor, e.path()))
            })
            .filter(|(_, p)| is_elf(p))
            .collect();
        versioned.sort();
        if let Some((_, p)) = versioned.iter().find(|(m, _)| *m == 33) {
            return Ok(p.clone());
        }
        if let Some((_, p)) = versioned.last() {
            return Ok(p.clone());
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = PathBuf::from(home).join(".cache/skiff-tools/kubectl-1.20/kubectl");
        if is_elf(&p) {
            return Ok(p);
        }
    }
    if let Some(p) = on_path.and_then(|p| std::fs::canonicalize(p).ok()) {
        let dispatcher = p.to_string_lossy().contains("google-cloud-sdk");
        if is_elf(&p) && !dispatcher {
            return Ok(p);
        }
    }
    Err(
        "no real kubectl binary found (google-cloud-sdk's versioned kubectl.1.NN, \
         ~/.cache/skiff-tools/kubectl-1.20/kubectl, or an ELF kubectl on PATH); \
         set SKIFF_TEST_STEP_KUBECTL"
            .into(),
    )
}

/// Root filesystem directories for pipeline step images, built from the host's
/// binaries once per machine and cached (see [`cache_root`]). Each returns the
/// directory, or why it cannot be built (a test prints it and skips). Pack them with
/// [`push_images`] / [`import_image`].
pub struct StepImages;

impl StepImages {
    /// `busybox`: Debian's static busybox at /bin/busybox with a symlink per applet
    /// (/bin/sh among them), /etc/passwd and /etc/group (root, nobody), /tmp (1777),
    /// /root.
    pub fn busybox() -> Result<PathBuf, String> {
        busybox_recipe()?.cached("busybox")
    }

    /// `git`: busybox plus the host's `git` (/usr/bin/git, and /usr/lib/git-core/git
    /// with the builtins' symlinks for the subcommands it runs), `git-remote-http(s)`
    /// for `git clone http://…`, git-core's shell-script commands (`git submodule`, …),
    /// their shared libraries (from `ldd`) at the same paths, an empty templates dir and
    /// the CA bundle. No perl, so `git add -i` and the like are missing.
    pub fn git() -> Result<PathBuf, String> {
        let git = Path::new("/usr/bin/git");
        let remote = Path::new("/usr/lib/git-core/git-remote-http");
        if !is_elf(git) || !is_elf(remote) {
            return Err(
                "git is not installed (/usr/bin/git, /usr/lib/git-core/git-remote-http)".into(),
            );
        }
        let mut r = busybox_recipe()?;
        r.binary_with_libs("usr/bin/git", git)?;
        // git-core: the builtins' symlinks, the shell-script commands (git-submodule,
        // git-sh-setup, …; they run on busybox sh) and the helpers they need.
        let core = Path::new("/usr/lib/git-core");
        let mut names: Vec<_> = std::fs::read_dir(core)
            .map_err(|e| format!("reading {}: {e}", core.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        for name in names {
            let src = core.join(&name);
            let dest = format!("usr/lib/git-core/{name}");
            let Ok(meta) = std::fs::symlink_metadata(&src) else {
                continue;
            };
            if meta.file_type().is_symlink() {
                if let Ok(target) = std::fs::read_link(&src) {
                    r.link(&dest, &target.to_string_lossy());
                }
            } else if meta.is_file() && !is_elf(&src) {
                r.copy(&dest, src);
            }
        }
        r.link("usr/lib/git-core/git", "/usr/bin/git");
        r.binary_with_libs("usr/lib/git-core/git-remote-http", remote)?;
        r.link("usr/lib/git-core/git-remote-https", "git-remote-http");
        let envsubst = core.join("git-sh-i18n--envsubst");
        if is_elf(&envsubst) {
            r.binary_with_libs("usr/lib/git-core/git-sh-i18n--envsubst", &envsubst)?;
        }
        r.dir("usr/share/git-core/templates", 0o755);
        add_ca_certs(&mut r);
        r.cached("git")
    }

    /// `kubectl`: busybox plus one real kubectl binary ([`find_kubectl`]) at
    /// /usr/bin/kubectl (with its libraries if it is not static) and the CA bundle.
    pub fn kubectl() -> Result<PathBuf, String> {
        let kubectl = find_kubectl()?;
        let mut r = busybox_recipe()?;
        r.binary_with_libs("usr/bin/kubectl", &kubectl)?;
        add_ca_certs(&mut r);
        r.cached("kubectl")
    }
}

// ---------------------------------------------------------------------------------
// Registry, packing, pushing
// ---------------------------------------------------------------------------------

/// A `docker-registry` process on a free loopback port, storing into a temp dir;
/// killed on drop.
pub struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    /// Starts one (anonymous, or with one `user:bcrypt-hash` htpasswd line) and waits
    /// until it accepts connections. Needs `docker-registry` ([`registry_tools`]).
    pub fn start(htpasswd: Option<&str>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::common::free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some(line) = htpasswd {
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, format!("{line}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: r\n    path: {}\n",
                file.display()
            ));
        }
        let cfg = dir.path().join("config.yml");
        std::fs::write(&cfg, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let reg = Registry {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        reg
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills it (also done on drop).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An image pushed to a [`Registry`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushedImage {
    /// `127.0.0.1:PORT/NAME` (with NAME's tag).
    pub reference: String,
    /// `sha256:…` of its manifest (as the registry serves it).
    pub digest: String,
}

impl PushedImage {
    /// `127.0.0.1:PORT/REPO@sha256:…`.
    pub fn pinned(&self) -> String {
        let name = match self.reference.rsplit_once(':') {
            Some((n, tag)) if !tag.contains('/') => n,
            _ => self.reference.as_str(),
        };
        format!("{name}@{}", self.digest)
    }
}

/// The manifest digest an OCI layout tarball's `index.json` names first.
pub fn archive_digest(archive: &Path) -> String {
    let out = run(Command::new("tar")
        .arg("-xOf")
        .arg(archive)
        .arg("index.json"));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["manifests"][0]["digest"]
        .as_str()
        .unwrap_or_else(|| panic!("{} has no manifest in index.json", archive.display()))
        .to_string()
}

/// `dir` packed by `skiff image pack --rootfs DIR --name NAME` into an OCI archive.
/// Trees from [`StepImages`] are packed once per skiff binary and name and cached
/// beside them (a 60 MB kubectl takes ~10 s to compress in a debug build); other
/// directories are packed into `scratch`.
pub fn pack_dir(dir: &Path, name: &str, scratch: &Path) -> PathBuf {
    static PACKING: Mutex<()> = Mutex::new(());
    let root = cache_root();
    let cacheable = dir.parent() == Some(root.as_path());
    let safe_name: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let out = if cacheable {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(skiff_bin()).unwrap();
        let stem = format!(
            "{}--{safe_name}",
            dir.file_name().unwrap().to_string_lossy()
        );
        let out = root
            .join("packed")
            .join(format!("{stem}--{}-{}.tar", m.mtime(), m.size()));
        let _g = PACKING.lock().unwrap_or_else(|e| e.into_inner());
        if out.is_file() {
            return out;
        }
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        // Archives of older skiff binaries for the same tree and name are stale.
        for e in std::fs::read_dir(out.parent().unwrap()).unwrap().flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{stem}--"))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
        out
    } else {
        scratch.join(format!("{safe_name}-{}.tar", unique()))
    };
    let tmp = out.with_extension(format!("tmp-{}", unique()));
    run(Command::new(skiff_bin())
        .args(["image", "pack", "--rootfs"])
        .arg(dir)
        .args(["--name", name, "--output"])
        .arg(&tmp)
        .env("SKIFF_DATA_DIR", scratch.join("pack-data")));
    std::fs::rename(&tmp, &out).unwrap();
    out
}

/// Packs `dir` as `name` ([`pack_dir`]) and pushes it with `skopeo copy` to
/// `registry` as `127.0.0.1:PORT/NAME`.
pub fn push_image(registry: &Registry, dir: &Path, name: &str) -> PushedImage {
    let scratch = tempfile::tempdir().unwrap();
    let archive = pack_dir(dir, name, scratch.path());
    let reference = format!("{}/{name}", registry.host());
    run(Command::new("skopeo")
        .args(["--insecure-policy", "copy", "-q", "--dest-tls-verify=false"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("docker://{reference}")));
    PushedImage {
        reference,
        digest: archive_digest(&archive),
    }
}

/// [`push_image`] for each `(dir, name)`.
pub fn push_images(registry: &Registry, images: &[(&Path, &str)]) -> Vec<PushedImage> {
    images
        .iter()
        .map(|(dir, name)| push_image(registry, dir, name))
        .collect()
}

/// Packs `dir` as `name` and imports it into the image store of the skiff data dir
/// `data_dir` (`skiff image import`), where a server finds it without any registry;
/// returns the image's digest.
pub fn import_image(data_dir: &Path, dir: &Path, name: &str) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let archive = pack_dir(dir, name, scratch.path());
    let out = run(Command::new(skiff_bin())
        .args(["image", "import"])
        .arg(&archive)
        .env("SKIFF_DATA_DIR", data_dir));
    let text = String::from_utf8_lossy(&out.stdout);
    let digest = archive_digest(&archive);
    assert!(text.contains(&digest), "{text}");
    digest
}

// ---------------------------------------------------------------------------------
// Git over HTTP
// ---------------------------------------------------------------------------------

/// The fixed identity and clock of fixture commits (same files, same commit ids).
const GIT_ENV: &[(&str, &str)] = &[
    ("GIT_AUTHOR_NAME", "skiff tests"),
    ("GIT_AUTHOR_EMAIL", "tests@skiff.dev"),
    ("GIT_COMMITTER_NAME", "skiff tests"),
    ("GIT_COMMITTER_EMAIL", "tests@skiff.dev"),
    ("GIT_CONFIG_NOSYSTEM", "1"),
    ("GIT_CONFIG_GLOBAL", "/dev/null"),
    ("GIT_TERMINAL_PROMPT", "0"),
];

/// A git repository served over plain HTTP with git's "dumb" protocol (static files of
/// a bare repository after `git update-server-info`), from a thread of the test
/// process. `git clone {url()}` works from anywhere that can reach the bind address.
/// Stopped on drop.
pub struct GitServer {
    addr: SocketAddr,
    dir: tempfile::TempDir,
    commits: AtomicU32,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl GitServer {
    /// The branch the repository has.
    pub const BRANCH: &'static str = "main";

    /// Creates a repository with `repo_files` (`(path, content)`; parents created,
    /// content starting with `#!` made executable) committed on `main` by a fixed author
    /// at a fixed time, and serves it on `bind` (port chosen by the OS) as
    /// `/repo.git`.
    pub fn start(bind: IpAddr, repo_files: &[(&str, &str)]) -> GitServer {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        let server = |addr| GitServer {
            addr,
            dir,
            commits: AtomicU32::new(0),
            stop: Arc::new(AtomicBool::new(false)),
            requests: Arc::new(Mutex::new(Vec::new())),
            thread: None,
        };
        let listener = TcpListener::bind((bind, 0))
            .unwrap_or_else(|e| panic!("GitServer: cannot bind {bind}: {e}"));
        let mut s = server(listener.local_addr().unwrap());
        s.git(&work, &["init", "-q", "-b", Self::BRANCH]);
        s.commit(repo_files, "initial commit");
        let root = s.dir.path().join("www");
        let stop = s.stop.clone();
        let requests = s.requests.clone();
        s.thread = Some(std::thread::spawn(move || {
            serve_files(listener, root, stop, requests)
        }));
        s
    }

    fn git(&self, cwd: &Path, args: &[&str]) -> String {
        let n = self.commits.load(Ordering::SeqCst);
        // 2024-01-01T00:00:00Z, one minute per commit.
        let date = format!("{} +0000", 1_704_067_200 + 60 * n as u64);
        let out = run(Command::new("git")
            .args(args)
            .current_dir(cwd)
            .envs(GIT_ENV.iter().copied())
            .env("HOME", self.dir.path())
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Writes `files` into the working copy, commits them and publishes the commit to
    /// the served repository; returns the new commit id.
    pub fn commit(&self, files: &[(&str, &str)], message: &str) -> String {
        let work = self.dir.path().join("work");
        for (path, content) in files {
            let p = work.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, content).unwrap();
            let mode = if content.starts_with("#!") {
                0o755
            } else {
                0o644
            };
            std::fs::set_permissions(&p, PermissionsExt::from_mode(mode)).unwrap();
        }
        self.git(&work, &["add", "-A"]);
        self.git(&work, &["commit", "-q", "--allow-empty", "-m", message]);
        self.commits.fetch_add(1, Ordering::SeqCst);
        let bare = self.dir.path().join("www/repo.git");
        if bare.exists() {
            self.git(&work, &["push", "-q", bare.to_str().unwrap(), Self::BRANCH]);
        } else {
            std::fs::create_dir_all(bare.parent().unwrap()).unwrap();
            self.git(
                self.dir.path(),
                &["clone", "-q", "--bare", "work", bare.to_str().unwrap()],
            );
        }
        self.git(&bare, &["update-server-info"]);
        self.head_commit()
    }

    /// `http://IP:PORT/repo.git`.
    pub fn url(&self) -> String {
        format!("http://{}/repo.git", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The commit id `main` points to.
    pub fn head_commit(&self) -> String {
        self.git(&self.dir.path().join("work"), &["rev-parse", "HEAD"])
    }

    /// The request lines served so far (`GET /repo.git/info/refs 200`), for diagnostics.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop; if that is impossible (the address is gone), leave the
        // thread blocked rather than the test.
        let woken = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok();
        if let Some(t) = self.thread.take().filter(|_| woken) {
            let _ = t.join();
        }
    }
}

/// Accepts connections until `stop`; each is answered on its own thread.
fn serve_files(
    listener: TcpListener,
    root: PathBuf,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<String>>>,
) {
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(conn) = conn else { continue };
        let (root, requests) = (root.clone(), requests.clone());
        std::thread::spawn(move || {
            let _ = answer(conn, &root, &requests);
        });
    }
}

/// Answers requests on one connection (keep-alive) with the files under `root`.
fn answer(conn: TcpStream, root: &Path, requests: &Mutex<Vec<String>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/").to_string();
        let path = target.split(['?', '#']).next().unwrap_or("/");
        let rel = Path::new(path.trim_start_matches('/'));
        let safe = rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        let file = root.join(rel);
        let body = match (method.as_str(), safe) {
            ("GET" | "HEAD", true) if file.is_file() => std::fs::read(&file).ok(),
            _ => None,
        };
        let status = if body.is_some() {
            "200 OK"
        } else {
            "404 Not Found"
        };
        requests
            .lock()
            .unwrap()
            .push(format!("{method} {target} {}", &status[..3]));
        let body = body.unwrap_or_default();
        let close = headers
            .get("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n{}\r\n",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        );
        conn.write_all(head.as_bytes())?;
        if method != "HEAD" {
            conn.write_all(&body)?;
        }
        conn.flush()?;
        if close {
            return Ok(());
        }
    }
}
