//! The image path end to end, with real processes on loopback: the sample app packed by
//! `skiff image pack`, pushed by `skopeo` to Debian's `docker-registry`, then resolved
//! and pulled by skiff's image store (anonymous and htpasswd basic auth), served from
//! cache when the registry is gone, clear errors for unreachable registries and
//! unknown tags, `skiff image import` of a docker-archive written by skopeo, and
//! registry mirrors (`--registry-mirror docker.io=http://…`).
//!
//! Needs `skopeo` and `docker-registry` (scripts/install-deps.sh installs them);
//! without them the tests say "skipped" and pass.

mod common;

use common::pipelines;
use common::pipelines::run;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::free_port;
use pipelines::Registry;
use skiff_images::{
    auth_from_docker_config_json, Auth, ImageError, ImageStore, Mirror, StoreOptions,
};

fn skiff_bin() -> &'static str {
    env!("CARGO_BIN_EXE_skiff")
}

/// False (with a note) when the external tools are missing.
fn tools_present() -> bool {
    match pipelines::registry_tools() {
        Ok(()) => true,
        Err(e) => {
            eprintln!("skipped: {e}");
            false
        }
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_hub_image_through_a_mirror() {
    if !tools_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let archive = pack(tmp.path(), "docker.io/alpine/git:latest");
    let mirror = Registry::start(None);
    // The mirror has Docker Hub's repository names: alpine/git, library/busybox.
    push(
        &archive,
        &format!("{}/alpine/git:latest", mirror.host()),
        None,
    );
    push(
        &archive,
        &format!("{}/library/busybox:1", mirror.host()),
        None,
    );
    let expected = skopeo_digest(&format!("{}/alpine/git:latest", mirror.host()), None);
    let flag = format!("docker.io=http://{}", mirror.host());

    // No internet here: docker.io itself is never asked, the mirror answers.
    let out = skiff(
        &data,
        &[
            "image",
            "pull",
            "--registry-mirror",
            &flag,
            "docker.io/alpine/git:latest",
        ],
    );
    assert_eq!(
        out.trim(),
        format!("Pulled docker.io/alpine/git:latest {expected}")
    );
    // Short names and Docker Hub's other host names go through the same mirror; a
    // scheme-less loopback endpoint is plain HTTP.
    for (flag, image) in [
        (flag.clone(), "alpine/git"),
        (
            format!("index.docker.io={}", mirror.host()),
            "alpine/git:latest",
        ),
        (
            format!("registry-1.docker.io=http://{}/", mirror.host()),
            "registry-1.docker.io/alpine/git",
        ),
    ] {
        let out = skiff(
            &data,
            &["image", "resolve", "--registry-mirror", &flag, image],
        );
        assert_eq!(out.trim(), expected, "{flag} {image}");
    }
    let out = skiff(
        &data,
        &["image", "resolve", "--registry-mirror", &flag, "busybox:1"],
    );
    assert_eq!(out.trim(), expected, "library/ images");

    // The pulled image is recorded under its original name, not the mirror's.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("images/index.json")).unwrap()).unwrap();
    assert_eq!(
        index["pulled"]["docker.io/alpine/git:latest"].as_str(),
        Some(expected.as_str()),
        "{index}"
    );
    assert!(!index.to_string().contains(&mirror.host()), "{index}");
    let rootfs = data.join("images/rootfs").join(&expected[7..]);
    assert!(rootfs.join("app").is_file(), "{}", rootfs.display());

    // Mirrors are tried in order and the upstream registry last: a dead mirror and one
    // without the image are skipped, and the image comes from its own registry.
    let upstream = Registry::start(None);
    let image = format!("{}/sample/hello:v1", upstream.host());
    push(&archive, &image, None);
    let dead = free_port();
    let store = ImageStore::open_with(
        tmp.path().join("store"),
        StoreOptions {
            mirrors: vec![
                Mirror::parse(&format!("{}=http://127.0.0.1:{dead}", upstream.host())).unwrap(),
                Mirror::parse(&format!("{}={}", upstream.host(), mirror.host())).unwrap(),
            ],
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(3),
            ..Default::default()
        },
    )
    .unwrap();
    let img = store.pull(&image, &Auth::Anonymous).await.unwrap();
    assert_eq!(img.digest, expected);
    // When nobody has it, the error names the image and what each endpoint said.
    let err = store
        .pull(
            &format!("{}/sample/none:v1", upstream.host()),
            &Auth::Anonymous,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::NotFound { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("sample/none:v1"), "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{dead}")), "{msg}");
    assert!(msg.contains("mirrors tried first"), "{msg}");

    // A bad flag is refused before anything is pulled.
    let out = Command::new(skiff_bin())
        .args([
            "image",
            "pull",
            "--registry-mirror",
            "docker.io",
            "alpine/git",
        ])
        .env("SKIFF_DATA_DIR", &data)
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("REGISTRY=ENDPOINT"), "{stderr}");
}

#[test]
fn pack_rootfs_from_the_cli() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("tree");
    std::fs::create_dir_all(tree.join("bin")).unwrap();
    std::fs::create_dir_all(tree.join("etc")).unwrap();
    std::fs::copy(sample_app(), tree.join("bin/hello")).unwrap();
    std::os::unix::fs::symlink("hello", tree.join("bin/hi")).unwrap();
    std::fs::write(tree.join("etc/motd"), "hello\n").unwrap();
    let data = tmp.path().join("data");
    let pack = |out: &str, extra: &[&str]| {
        let out = tmp.path().join(out);
        let mut args = vec![
            "image",
            "pack",
            "--rootfs",
            tree.to_str().unwrap(),
            "--name",
            "dev.local/tree:v1",
            "--output",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let text = skiff(&data, &args);
        assert!(text.contains("Wrote"), "{text}");
        std::fs::read(out).unwrap()
    };
    let a = pack("a.tar", &[]);
    let b = pack("b.tar", &[]);
    assert_eq!(a, b, "the same tree packs to the same bytes");
    let text = skiff(
        &data,
        &[
            "image",
            "pack",
            "--rootfs",
            tree.to_str().unwrap(),
            "--name",
            "dev.local/tree:v1",
            "--entrypoint",
            "/bin/hi",
            "--import",
        ],
    );
    assert!(
        text.contains("Imported dev.local/tree:v1 sha256:"),
        "{text}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let store = ImageStore::open(data.join("images")).unwrap();
    let img = rt
        .block_on(store.pull("dev.local/tree:v1", &Auth::Anonymous))
        .unwrap();
    assert_eq!(img.entrypoint, vec!["/bin/hi".to_string()]);
    assert_eq!(
        std::fs::read_link(img.rootfs.join("bin/hi")).unwrap(),
        Path::new("hello")
    );
    assert_eq!(
        std::fs::read_to_string(img.rootfs.join("etc/motd")).unwrap(),
        "hello\n"
    );
    // --binary and --rootfs exclude each other; one of them is needed.
    for args in [
        vec!["image", "pack", "--name", "x", "--import"],
        vec![
            "image",
            "pack",
            "--name",
            "x",
            "--import",
            "--binary",
            "/bin/true",
            "--rootfs",
            "/",
        ],
    ] {
        let out = Command::new(skiff_bin())
            .args(&args)
            .env("SKIFF_DATA_DIR", &data)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--rootfs"), "{stderr}");
    }
}
