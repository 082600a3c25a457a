//! Test harness: starts a real `skiff server` process on a free loopback port with a
//! temporary data dir, and gives tests real clients for it (kubectl, kube::Client,
//! plain HTTPS, the skiff CLI).
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The skiff binary under test.
pub fn skiff_bin() -> &'static str {
    env!("CARGO_BIN_EXE_skiff")
}

/// The kubectl the tests drive: `$SKIFF_TEST_KUBECTL` when set (e.g. to run the whole
/// kubectl suite with an older release), else `kubectl` from PATH.
pub fn kubectl_bin() -> PathBuf {
    std::env::var_os("SKIFF_TEST_KUBECTL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kubectl"))
}

/// A free loopback port for a server to bind right after. Picked below Linux's
/// ephemeral range (32768+), so outgoing connections (curl, kubectl) never hold it,
/// and never handed out twice in one test binary, so concurrent tests cannot race for
/// the same port between this check and the server's bind.
pub fn free_port() -> u16 {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
    loop {
        // xorshift: good enough to spread test binaries over the range.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let port = 20000 + (seed % 12000) as u16;
        let mut used = HANDED_OUT.lock().unwrap();
        if used.get_or_insert_with(HashSet::new).contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            used.as_mut().unwrap().insert(port);
            return port;
        }
    }
}

/// A running `skiff server`.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    /// The gateway's address (serves Knative routes when the runtime is on).
    pub gateway: SocketAddr,
    /// The gateway's admin address (`/metrics`).
    pub metrics: SocketAddr,
    pub extra_args: Vec<String>,
    child: Option<Child>,
}

impl TestServer {
    /// Starts a server with default flags.
    pub fn start() -> TestServer {
        Self::start_with(&[])
    }

    /// Starts a server with extra `skiff server` flags.
    pub fn start_with(extra: &[&str]) -> TestServer {
        Self::start_prepared(extra, |_| {})
    }

    /// Starts a server with extra flags after `prepare` has filled its (still unused)
    /// data dir, e.g. with images imported by `skiff image pack --import`.
    pub fn start_prepared(extra: &[&str], prepare: impl FnOnce(&Path)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let loopback = |p: u16| -> SocketAddr { format!("127.0.0.1:{p}").parse().unwrap() };
        let mut s = TestServer {
            dir,
            addr,
            gateway: loopback(free_port()),
            metrics: loopback(free_port()),
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
        };
        s.spawn();
        s
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    pub fn token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pki/admin.token"))
            .unwrap()
            .trim()
            .to_string()
    }

    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("server.log"))
            .unwrap();
        let child = Command::new(skiff_bin())
            .arg("server")
            .arg("--data-dir")
            .arg(self.dir.path())
            .arg("--api-addr")
            .arg(self.addr.to_string())
            .arg("--gateway-addr")
            .arg(self.gateway.to_string())
            .arg("--metrics-addr")
            .arg(self.metrics.to_string())
            // API tests run without instances unless a test asks for a runtime.
            .args(if self.extra_args.iter().any(|a| a == "--runtime") {
                vec![]
            } else {
                vec!["--runtime", "none"]
            })
            .args(&self.extra_args)
            .env(
                "SKIFF_LOG",
                std::env::var("SKIFF_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn skiff server");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Polls /readyz until it answers, with a deadline.
    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(self.addr).is_ok()
                && self.dir.path().join("kubeconfig").exists()
            {
                let out = Command::new("curl")
                    .args([
                        "-sk",
                        "-o",
                        "/dev/null",
                        "-w",
                        "%{http_code}",
                        &format!("{}/readyz", self.url()),
                    ])
                    .output();
                if let Ok(o) = out {
                    if String::from_utf8_lossy(&o.stdout) == "200" {
                        return;
                    }
                }
            }
            if Instant::now() > deadline {
                panic!("server did not become ready; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `kill -9` the server.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops the server as Ctrl-C would: SIGTERM, then up to 15 s for it to exit (it
    /// stops its instances first), then `kill -9`. Returns whether it exited by itself.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return true;
        };
        unsafe {
            libc::kill(c.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = c.kill();
        let _ = c.wait();
        false
    }

    /// Whether the server runs instances (`--runtime local`): such servers get SIGTERM
    /// on drop so they stop their instances instead of leaking them.
    fn runs_instances(&self) -> bool {
        self.extra_args
            .windows(2)
            .any(|w| w[0] == "--runtime" && w[1] == "local")
            || self.extra_args.iter().any(|a| a == "--runtime=local")
    }

    /// Starts the server again on the same port and data dir.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// Runs the real kubectl against this server.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_stdin(args, None)
    }

    /// Runs kubectl with `stdin` piped in.
    pub fn kubectl_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.kubectl_bin_stdin(&kubectl_bin(), args, stdin)
    }

    /// Runs a specific kubectl binary (e.g. an older release) against this server.
    pub fn kubectl_bin(&self, bin: &Path, args: &[&str]) -> Output {
        self.kubectl_bin_stdin(bin, args, None)
    }

    /// Runs a specific kubectl binary with `stdin` piped in.
    pub fn kubectl_bin_stdin(&self, bin: &Path, args: &[&str], stdin: Option<&str>) -> Output {
        run_with_stdin(
            Command::new(bin)
                .env("KUBECONFIG", self.kubeconfig())
                .env("HOME", self.dir.path())
                .args(args),
            stdin,
        )
    }

    /// Runs the skiff CLI against this server.
    pub fn skiff(&self, args: &[&str]) -> Output {
        self.skiff_stdin(args, None)
    }

    /// Runs the skiff CLI with `stdin` piped in.
    pub fn skiff_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        run_with_stdin(
            Command::new(skiff_bin())
                .env("KUBECONFIG", self.kubeconfig())
                .args(args),
            stdin,
        )
    }

    /// A kube::Client from the written kubeconfig.
    pub async fn client(&self) -> kube::Client {
        let kc = kube::config::Kubeconfig::read_from(self.kubeconfig()).unwrap();
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .unwrap();
        kube::Client::try_from(cfg).unwrap()
    }

    /// A reqwest client trusting the server's CA (no token set).
    pub fn http(&self) -> reqwest::Client {
        let ca = std::fs::read(self.dir.path().join("pki/ca.crt")).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if self.runs_instances() {
            self.terminate();
        }
        self.kill9();
    }
}

fn run_with_stdin(cmd: &mut Command, stdin: Option<&str>) -> Output {
    use std::io::Write;
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

/// stdout as a string.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// stderr as a string.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "command failed: {}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Polls `f` until it returns Some or the deadline passes.
#[track_caller]
pub fn eventually<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Test manifests shared by the kubectl, legacy-kubectl and CLI tests.
pub mod manifests {
    /// The Knative helloworld Service plus a labelled ConfigMap, in one multi-document file.
    pub const HELLO_AND_SETTINGS: &str = "\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: hello
spec:
  template:
    spec:
      containers:
        - image: ghcr.io/knative/helloworld-go:latest
          env:
            - name: TARGET
              value: World
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels:
    a: b
data:
  greeting: hi
";

    /// The `Countdown` CRD of the Kubernetes course example, with printer columns.
    pub const COUNTDOWN_CRD: &str = "\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: countdowns.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    kind: Countdown
    plural: countdowns
    singular: countdown
    shortNames: [cd]
  versions:
    - name: v1
      served: true
      storage: true
      additionalPrinterColumns:
        - name: Seconds
          type: integer
          jsonPath: .spec.seconds
        - name: Age
          type: date
          jsonPath: .metadata.creationTimestamp
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [seconds]
              properties:
                seconds:
                  type: integer
                  minimum: 1
";

    /// One `Countdown` object.
    pub const COUNTDOWN: &str = "\
apiVersion: stable.example.com/v1
kind: Countdown
metadata:
  name: launch
spec:
  seconds: 42
";
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}
pub mod pipelines;
pub mod serving;
