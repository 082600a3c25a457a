//! The image path end to end, with real processes on loopback: the sample app packed by
//! `skiff image pack`, pushed by `skopeo` to Debian's `docker-registry`, then resolved
//! and pulled by skiff's image store (anonymous and htpasswd basic auth), served from
//! cache when the registry is gone, clear errors for unreachable registries and
//! unknown tags, and `skiff image import` of a docker-archive written by skopeo.
//!
//! Needs `skopeo` and `docker-registry` (scripts/install-deps.sh installs them);
//! without them the tests say "skipped" and pass.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::free_port;
use skiff_images::{auth_from_docker_config_json, Auth, ImageError, ImageStore, StoreOptions};

fn skiff_bin() -> &'static str {
    env!("CARGO_BIN_EXE_skiff")
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// False (with a note) when the external tools are missing.
fn tools_present() -> bool {
    let ok = have("skopeo") && have("docker-registry");
    if !ok {
        eprintln!("skipped: skopeo and docker-registry are needed (run scripts/install-deps.sh)");
    }
    ok
}

fn run(cmd: &mut Command) -> Output {
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

fn skiff(data_dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new(skiff_bin())
        .args(args)
        .env("SKIFF_DATA_DIR", data_dir));
    String::from_utf8(out.stdout).unwrap()
}

/// The sample app binary: beside the skiff binary when the workspace was built, else
/// built here (in a separate target dir, so no lock is shared with this cargo run).
fn sample_app() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let beside = Path::new(skiff_bin()).with_file_name("skiff-sample-app");
        if beside.exists() {
            return beside;
        }
        let target = Path::new(skiff_bin())
            .parent()
            .unwrap()
            .join("images-test-sample-app");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        run(Command::new(cargo)
            .args(["build", "-q", "-p", "skiff-sample-app", "--target-dir"])
            .arg(&target)
            .current_dir(env!("CARGO_MANIFEST_DIR")));
        target.join("debug/skiff-sample-app")
    })
    .clone()
}

/// A `docker-registry` process on a free loopback port; killed on drop.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start(htpasswd: Option<&str>) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
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
            .unwrap();
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

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Packs the sample app with `skiff image pack` into an OCI archive.
fn pack(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join("hello-oci.tar");
    let text = skiff(
        &dir.join("data"),
        &[
            "image",
            "pack",
            "--binary",
            sample_app().to_str().unwrap(),
            "--name",
            name,
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert!(text.contains("Wrote"), "{text}");
    out
}

fn push(archive: &Path, dest: &str, creds: Option<&str>) {
    let mut cmd = Command::new("skopeo");
    cmd.args(["--insecure-policy", "copy", "-q", "--dest-tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--dest-creds", c]);
    }
    cmd.arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("docker://{dest}"));
    run(&mut cmd);
}

fn skopeo_digest(image: &str, creds: Option<&str>) -> String {
    let mut cmd = Command::new("skopeo");
    cmd.args(["--insecure-policy", "inspect", "--tls-verify=false"]);
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let out = run(cmd.arg(format!("docker://{image}")));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["Digest"].as_str().unwrap().to_string()
}

fn store(dir: &Path) -> ImageStore {
    ImageStore::open_with(
        dir.join("store"),
        StoreOptions {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
            ..Default::default()
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_resolve_pull_cache_and_errors() {
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let archive = pack(tmp.path(), "dev.local/hello:v1");
    let mut reg = Registry::start(None);
    let image = format!("{}/sample/hello:v1", reg.host());
    push(&archive, &image, None);
    let expected = skopeo_digest(&image, None);

    let store = store(tmp.path());
    let anon = Auth::Anonymous;
    assert_eq!(store.resolve(&image, &anon).await.unwrap(), expected);
    // The CLI resolves the same way.
    let cli = skiff(&tmp.path().join("data"), &["image", "resolve", &image]);
    assert_eq!(cli.trim(), expected);

    let img = store.pull(&image, &anon).await.unwrap();
    assert_eq!(img.digest, expected);
    assert_eq!(img.entrypoint, vec!["/app".to_string()]);
    let app = img.rootfs.join("app");
    assert!(app.is_file(), "{} missing", app.display());
    assert_eq!(
        std::fs::metadata(&app).unwrap().len(),
        std::fs::metadata(sample_app()).unwrap().len()
    );
    assert!(img.rootfs.join("etc/passwd").is_file());

    // Unknown tag: a not-found error naming the image.
    let missing = format!("{}/sample/hello:nope", reg.host());
    let err = store.pull(&missing, &anon).await.unwrap_err();
    assert!(matches!(err, ImageError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
    let err = store
        .resolve(&format!("{}/sample/other:v1", reg.host()), &anon)
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::NotFound { .. }), "{err}");

    // No registry any more: pulls of what is cached still work, by digest and by tag.
    reg.stop();
    let pinned = format!("{}/sample/hello@{expected}", reg.host());
    let again = store.pull(&pinned, &anon).await.unwrap();
    assert_eq!(again.rootfs, img.rootfs);
    let again = store.pull(&image, &anon).await.unwrap();
    assert_eq!(again.digest, expected);

    // Something not cached from the stopped registry: a quick, clear error.
    let t = Instant::now();
    let err = store
        .pull(&format!("{}/sample/other:v1", reg.host()), &anon)
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::Unreachable { .. }), "{err}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert!(err.to_string().contains("sample/other:v1"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_that_never_answers_times_out() {
    // Accepts connections and says nothing.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hold = std::thread::spawn(move || {
        let mut conns = Vec::new();
        for c in listener.incoming().take(8) {
            conns.push(c);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let t = Instant::now();
    let err = store
        .resolve(&format!("127.0.0.1:{port}/x/y:v1"), &Auth::Anonymous)
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::Unreachable { .. }), "{err}");
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_registry() {
    if !tools_present() {
        return;
    }
    let hash = bcrypt::hash_with_result("s3cret", 4)
        .unwrap()
        .format_for_version(bcrypt::Version::TwoY);
    let reg = Registry::start(Some(&format!("alice:{hash}")));
    let tmp = tempfile::tempdir().unwrap();
    let archive = pack(tmp.path(), "dev.local/hello:v1");
    let image = format!("{}/private/hello:v1", reg.host());
    push(&archive, &image, Some("alice:s3cret"));
    let expected = skopeo_digest(&image, Some("alice:s3cret"));

    let store = store(tmp.path());
    let err = store.pull(&image, &Auth::Anonymous).await.unwrap_err();
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains(&image), "{err}");
    let err = store
        .pull(&image, &Auth::basic("alice", "wrong"))
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::Unauthorized { .. }), "{err}");

    // Credentials as an imagePullSecret carries them.
    let secret = format!(
        r#"{{"auths":{{"{}":{{"username":"alice","password":"s3cret"}}}}}}"#,
        reg.host()
    );
    let auth = auth_from_docker_config_json(secret.as_bytes(), &reg.host()).unwrap();
    assert_eq!(store.resolve(&image, &auth).await.unwrap(), expected);
    let img = store.pull(&image, &auth).await.unwrap();
    assert_eq!(img.digest, expected);
    assert!(img.rootfs.join("app").is_file());
}

#[test]
fn import_docker_archive_and_oci_archive() {
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let archive = pack(tmp.path(), "dev.local/hello:v1");
    let docker = tmp.path().join("hello-docker.tar");
    run(Command::new("skopeo").args([
        "--insecure-policy",
        "copy",
        "-q",
        &format!("oci-archive:{}", archive.display()),
        &format!("docker-archive:{}:dev.local/hello:v2", docker.display()),
    ]));

    let out = skiff(&data, &["image", "import", docker.to_str().unwrap()]);
    assert!(
        out.starts_with("Imported dev.local/hello:v2 sha256:"),
        "{out}"
    );
    let out = skiff(&data, &["image", "import", archive.to_str().unwrap()]);
    assert!(
        out.starts_with("Imported dev.local/hello:v1 sha256:"),
        "{out}"
    );
    let list = skiff(&data, &["image", "list"]);
    assert!(list.contains("dev.local/hello:v1"), "{list}");
    assert!(list.contains("dev.local/hello:v2"), "{list}");

    // The imported images pull from the local store, with no registry at all.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = ImageStore::open(data.join("images")).unwrap();
    for name in ["dev.local/hello:v1", "dev.local/hello:v2"] {
        let img = rt.block_on(store.pull(name, &Auth::Anonymous)).unwrap();
        assert!(img.rootfs.join("app").is_file(), "{name}");
        assert_eq!(img.entrypoint, vec!["/app".to_string()], "{name}");
    }

    // pack --import puts the image straight into the store.
    let out = skiff(
        &data,
        &[
            "image",
            "pack",
            "--binary",
            sample_app().to_str().unwrap(),
            "--name",
            "dev.local/packed",
            "--import",
        ],
    );
    assert!(
        out.contains("Imported dev.local/packed:latest sha256:"),
        "{out}"
    );
}
