//! Fixtures of the tests that run real runc instances (serving, autoscaling): a
//! `skiff server --runtime local` on its own bridge and subnet with the static sample
//! app imported as an image, kubectl and HTTP helpers, and the leak checks.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{ok, stdout, TestServer};

/// The sample app's image name as the tests import it.
pub const IMAGE: &str = "dev.local/helloworld:latest";

/// Why these tests cannot run here, if they cannot.
pub fn skip_reason() -> Option<String> {
    if unsafe { libc::geteuid() } != 0 {
        return Some("the local runtime needs root".into());
    }
    let runc = Command::new("runc")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !runc.is_ok_and(|s| s.success()) {
        return Some("runc is not installed (scripts/install-deps.sh installs it)".into());
    }
    None
}

#[allow(unused_macros)]
macro_rules! skip_unless_supported {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipped: {why}");
            return;
        }
    };
}

/// The static sample app, built once per test binary (or found, if already built) as
/// `cargo build --release -p skiff-sample-app --target x86_64-unknown-linux-gnu` with
/// `+crt-static`, in the same target dir as this test binary.
pub fn sample_app() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The test binary lives in `$TARGET_DIR/debug/deps/`.
        let target_dir = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                Path::new(super::skiff_bin())
                    .parent()
                    .and_then(Path::parent)
                    .unwrap()
                    .to_path_buf()
            });
        let bin = target_dir.join("x86_64-unknown-linux-gnu/release/skiff-sample-app");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Always ask cargo (a no-op when up to date): a stale app would test old code.
        // The release/target-triple build locks other dirs than this debug test run.
        let out = Command::new(cargo)
            .args([
                "build",
                "-q",
                "--release",
                "-p",
                "skiff-sample-app",
                "--target",
                "x86_64-unknown-linux-gnu",
                "--target-dir",
            ])
            .arg(&target_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .expect("running cargo");
        assert!(
            out.status.success() || bin.exists(),
            "building the static sample app failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        bin
    })
}

/// A random-enough number without a rand dependency.
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.write_u32(std::process::id());
    h.finish()
}

/// Every network namespace on the host.
pub fn netns_list() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    stdout(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// A `skiff server --runtime local` on its own bridge/subnet with the sample app image
/// imported; stops the server (SIGTERM) and removes the bridge when dropped.
pub struct Env {
    pub server: TestServer,
    pub bridge: String,
    /// The bridge's address: the host as instances and task pods reach it.
    pub host_ip: std::net::IpAddr,
    pub http: reqwest::Client,
}

impl Env {
    pub fn start() -> Env {
        Self::start_with(|_| {})
    }

    /// Like [`Env::start`], running `prepare` on the data dir (e.g. to import more
    /// images) before the server starts.
    pub fn start_with(prepare: impl FnOnce(&std::path::Path)) -> Env {
        Self::start_with_args(&[], prepare)
    }

    /// Like [`Env::start_with`], with more `skiff server` flags.
    pub fn start_with_args(extra: &[&str], prepare: impl FnOnce(&std::path::Path)) -> Env {
        let app = sample_app();
        let r = random_u64();
        let bridge = format!("skf{:04x}", r & 0xffff);
        let (a, b) = (100 + (r >> 16) % 151, (r >> 24) % 256);
        let subnet = format!("10.{a}.{b}.0/24");
        let host_ip: std::net::IpAddr = format!("10.{a}.{b}.1").parse().unwrap();
        let mut args = vec![
            "--runtime",
            "local",
            "--bridge",
            &bridge,
            "--subnet",
            &subnet,
        ];
        args.extend_from_slice(extra);
        let server = TestServer::start_prepared(&args, |dir| {
            let out = Command::new(super::skiff_bin())
                .args(["image", "pack", "--data-dir"])
                .arg(dir)
                .arg("--binary")
                .arg(app)
                .args(["--name", IMAGE, "--import"])
                .output()
                .unwrap();
            ok(&out);
            prepare(dir);
        });
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(32)
            .build()
            .unwrap();
        Env {
            server,
            bridge,
            host_ip,
            http,
        }
    }

    pub fn gateway(&self) -> SocketAddr {
        self.server.gateway
    }

    pub fn netns_prefix(&self) -> String {
        format!("{}-", self.bridge)
    }

    /// This server's network namespaces.
    pub fn netns(&self) -> Vec<String> {
        let p = self.netns_prefix();
        netns_list()
            .into_iter()
            .filter(|n| n.starts_with(&p))
            .collect()
    }

    /// runc container ids under the server's runtime state dir.
    pub fn runc_containers(&self) -> Vec<String> {
        let root = self.server.data_dir().join("runtime/runc");
        let out = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["list", "-q"])
            .output()
            .unwrap();
        stdout(&out)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[track_caller]
    pub fn apply(&self, yaml: &str) {
        ok(&self.server.kubectl_stdin(&["apply", "-f", "-"], Some(yaml)));
    }

    #[track_caller]
    pub fn kubectl(&self, args: &[&str]) -> String {
        ok(&self.server.kubectl(args))
    }

    /// `kubectl get <what> -o json`, or None if it fails (e.g. not found yet).
    pub fn get_json(&self, args: &[&str]) -> Option<Value> {
        let mut a = vec!["get"];
        a.extend_from_slice(args);
        a.extend_from_slice(&["-o", "json"]);
        let out = self.server.kubectl(&a);
        if !out.status.success() {
            return None;
        }
        serde_json::from_slice(&out.stdout).ok()
    }

    /// Waits for the Service's Ready condition to be True (and, if given, for its
    /// latest ready revision to be `revision`).
    #[track_caller]
    pub fn wait_ksvc_ready(&self, name: &str, revision: Option<&str>) -> Value {
        let deadline = Duration::from_secs(30);
        let started = Instant::now();
        loop {
            if let Some(v) = self.get_json(&["ksvc", name]) {
                let ready = condition(&v, "Ready").is_some_and(|c| c["status"] == "True");
                let gen_ok = v["status"]["observedGeneration"] == v["metadata"]["generation"];
                let rev_ok = revision
                    .is_none_or(|r| v["status"]["latestReadyRevisionName"].as_str() == Some(r));
                if ready && gen_ok && rev_ok {
                    return v;
                }
                if started.elapsed() > deadline {
                    panic!(
                        "ksvc {name} not ready after {deadline:?}: {}\nserver log:\n{}",
                        serde_json::to_string_pretty(&v["status"]).unwrap(),
                        tail(&self.server.log(), 60)
                    );
                }
            } else if started.elapsed() > deadline {
                panic!("ksvc {name} not found; server log:\n{}", self.server.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One request to the gateway with `host` as the Host header.
    pub async fn get(&self, host: &str, path: &str) -> Result<(u16, String), String> {
        let url = format!("http://{}{path}", self.gateway());
        let resp = self
            .http
            .get(url)
            .header("Host", host)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| format!("{e:?}"))?;
        Ok((status, body))
    }

    /// Polls `host` until it answers 200 with `body`.
    pub async fn wait_body(&self, host: &str, body: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = Err(String::new());
        while Instant::now() < deadline {
            last = self.get(host, "/").await;
            if matches!(&last, Ok((200, b)) if b == body) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{host} never answered 200 {body:?}; last: {last:?}\nserver log:\n{}",
            tail(&self.server.log(), 60)
        );
    }

    /// Stops the server with SIGTERM and asserts that it left no instance behind: no
    /// network namespace of its bridge, no runc container.
    #[track_caller]
    pub fn finish(mut self) {
        let exited = self.server.terminate();
        assert!(exited, "server did not exit within 15 s of SIGTERM");
        let left = self.netns();
        assert!(left.is_empty(), "network namespaces left behind: {left:?}");
        // Nor namespaces kept ready for future instances (`{bridge}:pool-…`).
        let pooled = format!("{}:", self.bridge);
        let pool_left: Vec<String> = netns_list()
            .into_iter()
            .filter(|n| n.starts_with(&pooled))
            .collect();
        assert!(
            pool_left.is_empty(),
            "pooled network namespaces left behind: {pool_left:?}"
        );
        let containers = self.runc_containers();
        assert!(
            containers.is_empty(),
            "runc containers left behind: {containers:?}"
        );
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.server.terminate();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
    }
}

pub fn condition<'a>(obj: &'a Value, t: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == t)
}

pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

pub fn ksvc(
    name: &str,
    extra_template_meta: &str,
    container_extra: &str,
    spec_extra: &str,
) -> String {
    format!(
        r#"apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: {name}
  namespace: default
spec:
  template:
    metadata:
      {meta}
    spec:
      containers:
      - image: {IMAGE}
{container_extra}
{spec_extra}
"#,
        meta = if extra_template_meta.is_empty() {
            "annotations: {}"
        } else {
            extra_template_meta
        },
    )
}

pub fn env_target(target: &str) -> String {
    format!("        env:\n        - name: TARGET\n          value: {target}\n")
}

#[allow(unused_imports)]
pub(crate) use skip_unless_supported;
