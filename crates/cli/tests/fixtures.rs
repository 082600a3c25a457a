//! The pipeline test fixtures (`common/pipelines.rs`) checked on their own, so a broken
//! fixture shows up here rather than as a puzzling pipeline failure: the git server is
//! cloned by the host's `git`, the step image trees run in a `chroot` (root only), and
//! a step image goes through `skiff image pack --rootfs`, `skopeo` and a registry
//! into skiff's image store.

mod common;

use common::pipelines;
use common::pipelines::run;

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::Command;

use pipelines::{GitServer, Registry, StepImages};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn git(cwd: &Path, args: &[&str]) -> String {
    let out = run(Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// Runs `args` in a chroot of a scratch copy of `tree` (so the cached tree stays as
/// built) with a /dev/null, with a clean environment; returns stdout.
fn in_chroot(tree: &Path, args: &[&str]) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("root");
    run(Command::new("cp").arg("-a").arg(tree).arg(&root));
    // What the container runtime provides in /dev, git needs /dev/null.
    run(Command::new("mknod")
        .args(["-m", "666"])
        .arg(root.join("dev/null"))
        .args(["c", "1", "3"]));
    let out = run(Command::new("chroot")
        .arg(&root)
        .args(args)
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root"));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn git_server_serves_a_clonable_repository() {
    let files = [
        ("README.md", "hello from the fixture\n"),
        ("src/build.sh", "#!/bin/sh\necho built\n"),
    ];
    let server = GitServer::start(LOCALHOST, &files);
    assert!(
        server.url().starts_with("http://127.0.0.1:"),
        "{}",
        server.url()
    );
    assert!(server.url().ends_with("/repo.git"));
    let head = server.head_commit();
    assert_eq!(head.len(), 40, "{head}");
    // A fixed author and clock: the same files give the same commit.
    let twin = GitServer::start(LOCALHOST, &files);
    assert_eq!(twin.head_commit(), head);
    drop(twin);

    let tmp = tempfile::tempdir().unwrap();
    git(tmp.path(), &["clone", "-q", &server.url(), "src"]);
    let src = tmp.path().join("src");
    assert_eq!(
        std::fs::read_to_string(src.join("README.md")).unwrap(),
        "hello from the fixture\n"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(src.join("src/build.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "scripts are committed executable");
    assert_eq!(git(&src, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(&src, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");

    // A second commit is served too.
    let next = server.commit(&[("NEW", "more\n")], "second");
    assert_ne!(next, head);
    assert_eq!(server.head_commit(), next);
    git(&src, &["pull", "-q", "--ff-only"]);
    assert_eq!(git(&src, &["rev-parse", "HEAD"]), next);
    assert!(src.join("NEW").is_file());
    let served = server.requests();
    assert!(
        served
            .iter()
            .any(|r| r.starts_with("GET /repo.git/info/refs")),
        "{served:?}"
    );

    // Nothing outside the served directory, and 404 for what is not there.
    let client = std::net::TcpStream::connect(server.addr()).unwrap();
    use std::io::{Read, Write};
    let mut c = client;
    c.write_all(b"GET /../work/README.md HTTP/1.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    c.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 404"), "{resp}");
}

#[test]
fn step_image_trees_run_in_a_chroot() {
    if !is_root() {
        eprintln!("skipped: chroot needs root");
        return;
    }
    let busybox = StepImages::busybox().unwrap();
    assert!(busybox
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("busybox-"));
    // Built once: asking again gives the same directory.
    assert_eq!(StepImages::busybox().unwrap(), busybox);
    assert_eq!(in_chroot(&busybox, &["/bin/sh", "-c", "echo ok"]), "ok\n");
    let out = in_chroot(
        &busybox,
        &[
            "sh",
            "-c",
            "env true && id -un && stat -c %a /tmp && ls /root",
        ],
    );
    assert_eq!(out, "root\n1777\n");

    let git = StepImages::git().unwrap();
    let out = in_chroot(&git, &["git", "--version"]);
    assert!(out.starts_with("git version "), "{out}");
    // A real clone over HTTP inside the chroot (same network namespace as the host).
    let server = GitServer::start(LOCALHOST, &[("README.md", "cloned in a chroot\n")]);
    let out = in_chroot(
        &git,
        &[
            "sh",
            "-c",
            &format!(
                "git clone -q {} /tmp/src && cat /tmp/src/README.md && git -C /tmp/src rev-parse HEAD \
                 && cd /tmp/src && git submodule update --init --recursive",
                server.url()
            ),
        ],
    );
    assert_eq!(
        out,
        format!("cloned in a chroot\n{}\n", server.head_commit())
    );

    match StepImages::kubectl() {
        Ok(kubectl) => {
            let out = in_chroot(&kubectl, &["kubectl", "version", "--client"]);
            assert!(out.contains("Client Version: v1."), "{out}");
        }
        Err(e) => eprintln!("kubectl image skipped: {e}"),
    }
}

#[test]
fn step_image_through_a_registry_into_the_store() {
    if let Err(e) = pipelines::registry_tools() {
        eprintln!("skipped: {e}");
        return;
    }
    let busybox = StepImages::busybox().unwrap();
    let reg = Registry::start(None);
    let pushed = pipelines::push_images(&reg, &[(busybox.as_path(), "library/busybox:latest")]);
    let image = &pushed[0];
    assert_eq!(
        image.reference,
        format!("{}/library/busybox:latest", reg.host())
    );
    let out = run(Command::new("skopeo").args([
        "--insecure-policy",
        "inspect",
        "--tls-verify=false",
        &format!("docker://{}", image.reference),
    ]));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Digest"].as_str(), Some(image.digest.as_str()));
    assert_eq!(
        image.pinned(),
        format!("{}/library/busybox@{}", reg.host(), image.digest)
    );

    // skiff pulls it; the rootfs is the tree.
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let out = run(Command::new(common::skiff_bin())
        .args(["image", "pull", &image.reference])
        .env("SKIFF_DATA_DIR", &data));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&image.digest), "{text}");
    let rootfs = data.join("images/rootfs").join(&image.digest[7..]);
    assert_eq!(
        std::fs::read_link(rootfs.join("bin/sh")).unwrap(),
        Path::new("/bin/busybox")
    );
    assert!(rootfs.join("bin/busybox").is_file());

    // The same tree imported straight into a data dir has the same digest; a copy of it
    // elsewhere (not cached) packs to the same digest too.
    let data2 = tmp.path().join("data2");
    let digest = pipelines::import_image(&data2, &busybox, "dev.local/busybox:v1");
    assert_eq!(digest, image.digest);
    let copy = tmp.path().join("copy");
    run(Command::new("cp").arg("-a").arg(&busybox).arg(&copy));
    let archive = pipelines::pack_dir(&copy, "dev.local/busybox:v1", tmp.path());
    assert_eq!(pipelines::archive_digest(&archive), image.digest);
}
