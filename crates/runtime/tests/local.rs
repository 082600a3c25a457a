//! The local runtime against real runc, real network namespaces and a busybox rootfs.
//! Needs root, runc and busybox (scripts/install-deps.sh); skipped (with a message)
//! without them. Every test has its own temp dir, bridge (`skt…`) and /24 subnet, and
//! a Drop guard removes containers, mounts, namespaces and the bridge even on failure.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{
    Container, EnvVar, ExecAction, HTTPGetAction, Probe, ResourceRequirements, SecurityContext,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use skiff_runtime::{
    BackoffPolicy, BindMount, ContainerPhase, FileMount, ImageRootfs, InstanceSpec, InstanceStatus,
    LocalRuntime, LocalRuntimeOptions, LogOptions, Phase, PodContainerSpec, PodKey, PodPhase,
    RevisionKey, Runtime, TaskPodSpec, TaskPodStatus, TaskRuntime,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PORT: u16 = 8080;

/// Test environment: temp dir with a busybox rootfs, a unique bridge and subnet.
struct Env {
    dir: tempfile::TempDir,
    bridge: String,
    subnet: String,
}

impl Env {
    /// `None` (test skipped) without root, runc or a static busybox.
    fn new() -> Option<Env> {
        let busybox = Path::new("/bin/busybox");
        let root = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
        let runc = Command::new("runc").arg("--version").output().is_ok();
        // a dynamically linked busybox cannot run in a rootfs without libc
        let static_busybox = std::fs::read(busybox).is_ok_and(|b| is_static_elf64(&b));
        if !root || !runc || !static_busybox {
            eprintln!("skipped: needs root, runc and busybox-static (scripts/install-deps.sh)");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("skiff-rt-")
            .tempdir()
            .unwrap();
        let rootfs = dir.path().join("image");
        for d in ["bin", "www", "etc", "tmp", "config-ro"] {
            std::fs::create_dir_all(rootfs.join(d)).unwrap();
        }
        std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
        for applet in [
            "sh", "httpd", "sleep", "cat", "echo", "nc", "id", "ls", "pwd", "true", "wget", "date",
            "mkdir",
        ] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        std::fs::write(rootfs.join("www/index.html"), "hello from skiff\n").unwrap();
        std::fs::write(
            rootfs.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/www:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(rootfs.join("etc/group"), "root:x:0:\napp:x:1000:\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        for d in ["www", "tmp"] {
            std::fs::set_permissions(rootfs.join(d), std::fs::Permissions::from_mode(0o1777))
                .unwrap();
        }
        let r: u32 = rand::random();
        Some(Env {
            dir,
            bridge: format!("skt{:06x}", r & 0xff_ffff),
            subnet: format!("10.{}.{}.0/24", 100 + (r >> 24) % 150, (r >> 16) & 0xff),
        })
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    fn options(&self) -> LocalRuntimeOptions {
        let mut o = LocalRuntimeOptions::new(self.state_dir());
        o.bridge = self.bridge.clone();
        o.subnet = self.subnet.clone();
        o.stop_grace = Duration::from_millis(300);
        o.backoff = BackoffPolicy {
            base: Duration::from_millis(50),
            max: Duration::from_millis(400),
            reset_after: Duration::from_secs(600),
        };
        o
    }

    async fn runtime(&self) -> std::sync::Arc<LocalRuntime> {
        LocalRuntime::new(self.options()).await.expect("runtime")
    }

    fn spec(&self, name: &str, container: Container) -> InstanceSpec {
        InstanceSpec {
            revision: RevisionKey {
                namespace: "default".into(),
                name: name.into(),
            },
            pod_name: format!("{name}-deployment-abc12"),
            labels: BTreeMap::from([("serving.knative.dev/revision".into(), name.into())]),
            image: ImageRootfs {
                rootfs: self.dir.path().join("image"),
                digest: "sha256:test".into(),
                entrypoint: vec![],
                cmd: vec![
                    "sh".into(),
                    "-c".into(),
                    "exec httpd -f -p $PORT -h /www".into(),
                ],
                env: vec!["FROM_IMAGE=yes".into()],
                working_dir: None,
                user: None,
            },
            container,
            port: PORT,
            platform_env: vec![
                ("PORT".into(), PORT.to_string()),
                ("K_SERVICE".into(), "svc".into()),
                ("K_CONFIGURATION".into(), "svc".into()),
                ("K_REVISION".into(), name.into()),
            ],
            file_mounts: vec![],
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let state = self.state_dir();
        let root = state.join("runc");
        if let Ok(out) = Command::new("runc")
            .arg("--root")
            .arg(&root)
            .args(["list", "-q"])
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = Command::new("runc")
                    .arg("--root")
                    .arg(&root)
                    .args(["delete", "--force", id.trim()])
                    .output();
            }
        }
        for ns in namespaces(&self.bridge) {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
        for m in mounts_under(self.dir.path()) {
            let _ = Command::new("umount").arg("-l").arg(&m).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

/// An ELF64 file without a `PT_INTERP` program header (no dynamic loader needed).
fn is_static_elf64(b: &[u8]) -> bool {
    if b.len() < 64 || &b[..4] != b"\x7fELF" || b[4] != 2 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).all(|i| {
        let o = phoff + i * size;
        b.get(o..o + 4) != Some(&3u32.to_le_bytes()[..])
    })
}

/// Every network namespace of the runtime on `bridge`: instances' (`{bridge}-…`) and
/// pooled (`{bridge}:pool-…`), as `ip netns list` shows them.
fn namespaces(bridge: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(&format!("{bridge}-")) || n.starts_with(&format!("{bridge}:")))
        .map(str::to_string)
        .collect()
}

fn mounts_under(dir: &Path) -> Vec<String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| Path::new(m).starts_with(dir))
        .collect()
}

/// Whether a process is gone (absent, or a zombie awaiting its reaper).
fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(s) => s
            .rsplit_once(')')
            .map(|(_, rest)| rest.trim_start().starts_with('Z'))
            .unwrap_or(false),
    }
}

/// Polls `list()` until `pred` holds for instance `id`, or panics at the deadline.
async fn wait_for(
    rt: &LocalRuntime,
    id: &str,
    within: Duration,
    what: &str,
    pred: impl Fn(&InstanceStatus) -> bool,
) -> InstanceStatus {
    let deadline = Instant::now() + within;
    loop {
        let st = rt.list().into_iter().find(|s| s.id == id);
        if let Some(st) = &st {
            if pred(st) {
                return st.clone();
            }
        }
        if Instant::now() > deadline {
            let log = rt
                .logs(id, LogOptions::default())
                .await
                .map(|s| s.collect::<Vec<_>>());
            let log = match log {
                Ok(f) => String::from_utf8_lossy(&f.await.concat()).into_owned(),
                Err(e) => e.to_string(),
            };
            panic!("timed out waiting for {what}: {st:?}\nlog:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn until<T>(within: Duration, what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A plain HTTP/1.0 GET: (status, body).
async fn http_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
        .await
        .map_err(|_| std::io::Error::other("connect timeout"))??;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut buf))
        .await
        .map_err(|_| std::io::Error::other("read timeout"))??;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(0),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_http_with_spec_applied_then_stops_cleanly() {
    let Some(env) = Env::new() else { return };
    let rt = env.runtime().await;
    let mut events = rt.subscribe();
    let script = "echo $K_SERVICE $GREETING $FROM_IMAGE > /www/env; id -u > /www/uid; pwd > /www/cwd; \
                  cat /config/app.conf > /www/conf; \
                  if (echo x > /config/app.conf) 2>/dev/null; then echo writable; else echo readonly; fi > /www/ro; \
                  echo started; exec httpd -f -p $PORT -h /www";
    let mut spec = env.spec(
        "hello-00001",
        Container {
            name: "user-container".into(),
            command: Some(vec!["sh".into(), "-c".into()]),
            args: Some(vec![script.into()]),
            env: Some(vec![EnvVar {
                name: "GREETING".into(),
                value: Some("hi".into()),
                ..Default::default()
            }]),
            working_dir: Some("/www".into()),
            security_context: Some(SecurityContext {
                run_as_user: Some(1000),
                ..Default::default()
            }),
            resources: Some(ResourceRequirements {
                limits: Some(BTreeMap::from([("memory".into(), Quantity("64Mi".into()))])),
                ..Default::default()
            }),
            ..Default::default()
        },
    );
    spec.file_mounts = vec![FileMount {
        mount_path: "/config".into(),
        files: BTreeMap::from([("app.conf".into(), b"key=value\n".to_vec())]),
    }];

    let t0 = Instant::now();
    let st = rt.start(spec).await.expect("start");
    let created = t0.elapsed();
    let addr = st.address.expect("address known at start");
    let ready = wait_for(&rt, &st.id, Duration::from_secs(10), "Ready", |s| {
        s.phase == Phase::Ready
    })
    .await;
    let to_ready = t0.elapsed();
    println!("time to ready: {to_ready:?} (start() returned after {created:?})");
    assert!(ready.started_at.is_some() && ready.ready_at.is_some());
    assert!(
        to_ready < Duration::from_secs(2),
        "slow start: {to_ready:?}"
    );

    let (code, body) = http_get(addr, "/").await.unwrap();
    assert_eq!((code, body.as_str()), (200, "hello from skiff\n"));
    let get = |p: &'static str| async move { http_get(addr, p).await.unwrap().1 };
    assert_eq!(get("/env").await, "svc hi yes\n");
    assert_eq!(get("/uid").await, "1000\n");
    assert_eq!(get("/cwd").await, "/www\n");
    assert_eq!(get("/conf").await, "key=value\n");
    assert_eq!(get("/ro").await, "readonly\n");

    let limit = std::fs::read_to_string(rt.cgroup_dir(&st.id, "memory").join(
        if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            "memory.max"
        } else {
            "memory.limit_in_bytes"
        },
    ))
    .unwrap();
    assert_eq!(limit.trim(), (64u64 << 20).to_string());

    let log = rt
        .logs(
            &st.id,
            LogOptions {
                follow: false,
                tail_lines: Some(5),
            },
        )
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await
        .concat();
    assert!(String::from_utf8_lossy(&log).contains("started"), "{log:?}");

    // stop frees everything
    let pid = rt.pid(&st.id).expect("pid");
    let netns = rt.network_namespaces();
    assert_eq!(netns.len(), 1);
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) => ip,
        _ => unreachable!(),
    };
    assert!(rt.ip_allocated(ip));
    let veth = format!("sk{}", &st.id[..12.min(st.id.len())]);
    assert!(
        Path::new("/sys/class/net").join(&veth).exists(),
        "veth {veth}"
    );
    let t1 = Instant::now();
    rt.stop(&st.id).await.unwrap();
    println!("stop took {:?}", t1.elapsed());
    assert!(process_gone(pid), "container process {pid} still alive");
    assert!(rt.list().is_empty());
    assert!(rt.network_namespaces().is_empty());
    assert!(!Path::new("/sys/class/net").join(&veth).exists());
    assert!(!rt.ip_allocated(ip));
    assert!(
        mounts_under(&env.state_dir()).is_empty(),
        "{:?}",
        mounts_under(&env.state_dir())
    );
    assert!(!skiff_runtime::local::instance_dir(&rt.options().state_dir, &st.id).exists());
    assert!(http_get(addr, "/").await.is_err());
    // the whole life was broadcast, ending in Terminated
    let mut phases = Vec::new();
    while let Ok(ev) = events.try_recv() {
        phases.push(ev.phase);
    }
    assert_eq!(phases.first(), Some(&Phase::Starting));
    assert!(phases.contains(&Phase::Ready));
    assert_eq!(phases.last(), Some(&Phase::Terminated));
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_container_restarts_with_backoff() {
    let Some(env) = Env::new() else { return };
    let rt = env.runtime().await;
    let st = rt
        .start(env.spec(
            "crash-00001",
            Container {
                command: Some(vec!["sh".into(), "-c".into(), "echo boom; exit 3".into()]),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let s = wait_for(&rt, &st.id, Duration::from_secs(10), "2 restarts", |s| {
        s.restarts >= 2 && s.last_exit.is_some()
    })
    .await;
    let exit = s.last_exit.unwrap();
    assert_eq!(exit.exit_code, 3);
    assert_eq!(exit.reason, "Error");
    wait_for(&rt, &st.id, Duration::from_secs(5), "CrashLoop", |s| {
        s.phase == Phase::CrashLoop
    })
    .await;
    rt.shutdown().await;
    assert!(rt.list().is_empty());
    assert!(rt.network_namespaces().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_readiness_probe_keeps_instance_starting() {
    let Some(env) = Env::new() else { return };
    let rt = env.runtime().await;
    let st = rt
        .start(env.spec(
            "notready-00001",
            Container {
                readiness_probe: Some(http_probe("/healthz-missing", 1, 1)),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let addr = st.address.unwrap();
    // the app answers...
    until(Duration::from_secs(10), "app listening", async || {
        http_get(addr, "/").await.ok().filter(|(c, _)| *c == 200)
    })
    .await;
    // ...but over many aggressive probe rounds and a periodic one it never turns Ready
    let deadline = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < deadline {
        let s = rt.list().into_iter().find(|s| s.id == st.id).unwrap();
        assert_eq!(s.phase, Phase::Starting, "{s:?}");
        assert_eq!(s.restarts, 0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_failure_restarts_and_exec_readiness_works() {
    let Some(env) = Env::new() else { return };
    let rt = env.runtime().await;
    let st = rt
        .start(env.spec(
            "live-00001",
            Container {
                readiness_probe: Some(Probe {
                    exec: Some(ExecAction {
                        command: Some(vec!["cat".into(), "/www/index.html".into()]),
                    }),
                    ..Default::default()
                }),
                liveness_probe: Some(http_probe("/alive-missing", 1, 1)),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    wait_for(
        &rt,
        &st.id,
        Duration::from_secs(10),
        "Ready via exec probe",
        |s| s.phase == Phase::Ready,
    )
    .await;
    let s = wait_for(
        &rt,
        &st.id,
        Duration::from_secs(10),
        "liveness restart",
        |s| s.restarts >= 1,
    )
    .await;
    let exit = s.last_exit.unwrap();
    assert!(exit.message.contains("Liveness"), "{exit:?}");
    assert_eq!(exit.exit_code, 137);
    wait_for(&rt, &st.id, Duration::from_secs(10), "Ready again", |s| {
        s.phase == Phase::Ready
    })
    .await;
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_tail_and_follow() {
    let Some(env) = Env::new() else { return };
    let rt = env.runtime().await;
    let st = rt
        .start(env.spec(
            "logs-00001",
            Container {
                command: Some(vec![
                    "sh".into(),
                    "-c".into(),
                    "echo line1; echo line2; echo line3 >&2; i=0; while true; do i=$((i+1)); echo tick$i; sleep 0.1; done"
                        .into(),
                ]),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let tail = until(Duration::from_secs(10), "output", async || {
        let out = rt
            .logs(
                &st.id,
                LogOptions {
                    follow: false,
                    tail_lines: None,
                },
            )
            .await
            .unwrap()
            .collect::<Vec<_>>()
            .await
            .concat();
        let text = String::from_utf8_lossy(&out).into_owned();
        text.contains("tick2").then_some(text)
    })
    .await;
    assert!(tail.starts_with("line1\nline2\nline3\ntick1\n"), "{tail}");
    let two = rt
        .logs(
            &st.id,
            LogOptions {
                follow: false,
                tail_lines: Some(2),
            },
        )
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await
        .concat();
    assert_eq!(String::from_utf8_lossy(&two).lines().count(), 2);

    let mut follow = rt
        .logs(
            &st.id,
            LogOptions {
                follow: true,
                tail_lines: Some(1),
            },
        )
        .await
        .unwrap();
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.matches("tick").count() < 4 {
        let chunk = tokio::time::timeout_at(deadline.into(), follow.next())
            .await
            .expect("follow produced new lines")
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    rt.stop(&st.id).await.unwrap();
    // the stream ends once the instance is gone
    tokio::time::timeout(Duration::from_secs(5), async {
        while follow.next().await.is_some() {}
    })
    .await
    .expect("follow ends after stop");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_runtime_removes_what_a_crashed_one_left() {
    let Some(env) = Env::new() else { return };
    let rt = env.runtime().await;
    let mut ids = Vec::new();
    for i in 0..2 {
        let st = rt
            .start(env.spec(&format!("rec-0000{i}"), Container::default()))
            .await
            .unwrap();
        wait_for(&rt, &st.id, Duration::from_secs(10), "Ready", |s| {
            s.phase == Phase::Ready
        })
        .await;
        ids.push((st.id.clone(), rt.pid(&st.id).unwrap(), st.address.unwrap()));
    }
    assert_eq!(rt.network_namespaces().len(), 2);
    let old_pool = until(Duration::from_secs(10), "pool filled", async || {
        let p = rt.pooled_network_namespaces();
        (p.len() == rt.options().network_pool).then_some(p)
    })
    .await;
    drop(rt); // as if the process died: nothing is stopped

    let rt = env.runtime().await;
    assert!(rt.list().is_empty());
    let now = namespaces(&env.bridge);
    assert!(
        !old_pool.iter().any(|n| now.contains(n)),
        "pooled namespaces of the old runtime left: {now:?}"
    );
    assert!(
        rt.network_namespaces().is_empty(),
        "{:?}",
        rt.network_namespaces()
    );
    assert!(mounts_under(&env.state_dir()).is_empty());
    for (id, pid, addr) in &ids {
        assert!(
            process_gone(*pid),
            "old container {id} (pid {pid}) still running"
        );
        // the address is free again (the new runtime's pool may have taken it anew)
        let owner =
            std::fs::read_to_string(env.state_dir().join("ips").join(addr.ip().to_string()));
        assert!(owner.is_err() || owner.as_deref().ok() != Some(id.as_str()));
    }
    let out = Command::new("runc")
        .arg("--root")
        .arg(env.state_dir().join("runc"))
        .args(["list", "-q"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).trim().is_empty());
    // and it works as new
    let st = rt
        .start(env.spec("rec-00009", Container::default()))
        .await
        .unwrap();
    wait_for(&rt, &st.id, Duration::from_secs(10), "Ready", |s| {
        s.phase == Phase::Ready
    })
    .await;
    rt.shutdown().await;
    assert!(rt.network_namespaces().is_empty());
    assert!(
        namespaces(&env.bridge).is_empty(),
        "{:?}",
        namespaces(&env.bridge)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_namespaces_are_used_and_removed_on_shutdown() {
    let Some(env) = Env::new() else { return };
    let mut opts = env.options();
    opts.network_pool = 2;
    let rt = LocalRuntime::new(opts).await.expect("runtime");
    let pool_prefix = format!("{}:pool-", env.bridge);
    // the bridge's MAC address is pinned: veths coming and going (pool refills,
    // stops) must not change the instances' gateway address
    let sys = Path::new("/sys/class/net").join(&env.bridge);
    let read = |f: &str| std::fs::read_to_string(sys.join(f)).unwrap();
    assert_eq!(read("addr_assign_type").trim(), "3", "NET_ADDR_SET");
    let bridge_mac = read("address");
    let pooled = until(Duration::from_secs(10), "pool filled", async || {
        let p = rt.pooled_network_namespaces();
        (p.len() == 2).then_some(p)
    })
    .await;
    assert!(
        pooled.iter().all(|n| n.starts_with(&pool_prefix)),
        "{pooled:?}"
    );
    // pooled namespaces are not instances' namespaces
    assert!(rt.network_namespaces().is_empty());

    // a start takes a pooled namespace: the instance gets its id, and the namespace
    // its instance name
    let st = rt
        .start(env.spec("pool-00001", Container::default()))
        .await
        .unwrap();
    assert!(
        pooled.contains(&format!("{pool_prefix}{}", st.id)),
        "{} not from {pooled:?}",
        st.id
    );
    assert!(rt.start_timings(&st.id).unwrap().network_pooled);
    assert_eq!(
        rt.network_namespaces(),
        vec![format!("{}-{}", env.bridge, st.id)]
    );
    wait_for(&rt, &st.id, Duration::from_secs(10), "Ready", |s| {
        s.phase == Phase::Ready
    })
    .await;
    let (code, body) = http_get(st.address.unwrap(), "/").await.unwrap();
    assert_eq!((code, body.as_str()), (200, "hello from skiff\n"));
    // the pool refills, and the taken namespace's pool name goes
    until(Duration::from_secs(10), "pool refilled", async || {
        let gone = !namespaces(&env.bridge).contains(&format!("{pool_prefix}{}", st.id));
        (rt.pooled_network_namespaces().len() == 2 && gone).then_some(())
    })
    .await;

    // more starts at once than the pool holds: the rest make their own; addresses
    // stay unique
    let specs: Vec<_> = (2..5)
        .map(|i| env.spec(&format!("pool-0000{i}"), Container::default()))
        .collect();
    let more = futures::future::join_all(specs.into_iter().map(|s| rt.start(s))).await;
    let mut all = vec![st.clone()];
    all.extend(more.into_iter().map(|r| r.unwrap()));
    let pooled_starts = all
        .iter()
        .filter(|s| rt.start_timings(&s.id).unwrap().network_pooled)
        .count();
    assert_eq!(pooled_starts, 3, "the first start and two of the three");
    let mut addrs: Vec<_> = all.iter().map(|s| s.address.unwrap().ip()).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 4);
    for s in &all[1..] {
        wait_for(&rt, &s.id, Duration::from_secs(10), "Ready", |s| {
            s.phase == Phase::Ready
        })
        .await;
    }
    assert_eq!(rt.network_namespaces().len(), 4);

    // a stop frees the instance's namespace (and any pool name it still had)
    rt.stop(&all[1].id).await.unwrap();
    assert_eq!(rt.network_namespaces().len(), 3);
    assert!(!namespaces(&env.bridge)
        .iter()
        .any(|n| n.ends_with(&all[1].id)));

    assert_eq!(read("address"), bridge_mac);

    // shutdown leaves nothing: no namespace, veth or address of this runtime
    rt.shutdown().await;
    assert!(
        namespaces(&env.bridge).is_empty(),
        "{:?}",
        namespaces(&env.bridge)
    );
    let brif = std::fs::read_dir(Path::new("/sys/class/net").join(&env.bridge).join("brif"))
        .unwrap()
        .count();
    assert_eq!(brif, 0, "veths left on the bridge");
    let ips = std::fs::read_dir(env.state_dir().join("ips"))
        .unwrap()
        .count();
    assert_eq!(ips, 0, "IP allocations left");
    // and starts still work after the pool closed (without it)
    let st = rt
        .start(env.spec("pool-00009", Container::default()))
        .await
        .unwrap();
    assert!(!rt.start_timings(&st.id).unwrap().network_pooled);
    rt.shutdown().await;
    assert!(namespaces(&env.bridge).is_empty());
}

/// Measures what the runtime itself holds per idle instance (RSS of this process,
/// which runs no runc or shim per instance). `cargo test -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement"]
async fn overhead_per_idle_instance() {
    let Some(env) = Env::new() else { return };
    let rt = env.runtime().await;
    let rss = || {
        std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
            .unwrap()
    };
    // warm up allocator and code paths with one instance
    let warm = rt
        .start(env.spec("warm-00001", Container::default()))
        .await
        .unwrap();
    wait_for(&rt, &warm.id, Duration::from_secs(10), "Ready", |s| {
        s.phase == Phase::Ready
    })
    .await;
    let before = rss();
    let n = 30;
    let t0 = Instant::now();
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(
            rt.start(env.spec(&format!("idle-{i:05}"), Container::default()))
                .await
                .unwrap()
                .id,
        );
    }
    for id in &ids {
        wait_for(&rt, id, Duration::from_secs(30), "Ready", |s| {
            s.phase == Phase::Ready
        })
        .await;
    }
    println!("{n} instances ready in {:?}", t0.elapsed());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss();
    println!(
        "runtime RSS {before} kB -> {after} kB: {:.1} kB per idle instance",
        (after.saturating_sub(before)) as f64 / n as f64
    );
    rt.shutdown().await;
}

#[test]
fn static_elf_check() {
    assert!(!is_static_elf64(&std::fs::read("/bin/ls").unwrap()));
    assert!(!is_static_elf64(b"not an elf"));
}

// ---------------------------------------------------------------------------
// Task pods (TaskRun steps)
// ---------------------------------------------------------------------------

impl Env {
    /// A step (or sidecar) running `script` with `sh -c`, the workspace dir mounted at
    /// `/workspace`.
    fn step(&self, name: &str, script: &str) -> PodContainerSpec {
        let image = self.spec("unused", Container::default()).image;
        PodContainerSpec {
            name: name.into(),
            image,
            container: Container {
                name: name.into(),
                command: Some(vec!["sh".into(), "-c".into(), script.into()]),
                ..Default::default()
            },
            platform_env: vec![("FROM_PLATFORM".into(), "1".into())],
            mounts: vec![BindMount {
                host_path: self.dir.path().join("workspace"),
                container_path: "/workspace".into(),
                read_only: false,
            }],
            timeout: None,
            continue_on_error: false,
            stdout_file: None,
            stderr_file: None,
        }
    }

    fn pod(&self, name: &str, steps: Vec<PodContainerSpec>) -> TaskPodSpec {
        std::fs::create_dir_all(self.dir.path().join("workspace")).unwrap();
        TaskPodSpec {
            key: PodKey {
                namespace: "default".into(),
                name: name.into(),
            },
            labels: BTreeMap::from([("tekton.dev/taskRun".into(), name.into())]),
            steps,
            sidecars: vec![],
            extra_hosts: vec![("kubernetes.default.svc".into(), "10.0.0.1".parse().unwrap())],
        }
    }
}

/// Waits for the pod to finish (polling its status) and returns its last status.
async fn finished(rt: &LocalRuntime, key: &PodKey, within: Duration) -> TaskPodStatus {
    until(within, "the pod to finish", async || {
        rt.list_pods()
            .into_iter()
            .find(|p| p.key == *key && p.finished())
    })
    .await
}

async fn container_log(rt: &LocalRuntime, key: &PodKey, container: &str) -> String {
    let out = rt
        .pod_logs(key, container, LogOptions::default())
        .await
        .unwrap()
        .collect::<Vec<_>>()
        .await
        .concat();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_pod_runs_steps_in_order_sharing_the_workspace() {
    let Some(env) = Env::new() else { return };
    let rt = env.runtime().await;
    let pod = env.pod(
        "build-pod",
        vec![
            env.step("step-one", "echo one > /workspace/out; echo from one; echo $FROM_PLATFORM"),
            env.step("step-two", "cat /workspace/out; echo two >> /workspace/out; grep kubernetes /etc/hosts; hostname"),
            {
                let mut s = env.step("step-three", "cat /workspace/out >&2; echo to-stdout");
                s.stderr_file = Some(env.dir.path().join("workspace/err.txt"));
                s
            },
        ],
    );
    let key = pod.key.clone();
    let mut events = rt.subscribe_pods();
    rt.run_pod(pod).await.unwrap();
    let st = finished(&rt, &key, Duration::from_secs(30)).await;
    assert_eq!(st.phase, PodPhase::Succeeded, "{st:#?}");
    for s in &st.steps {
        assert_eq!(s.phase, ContainerPhase::Terminated);
        assert_eq!(s.exit_code, Some(0), "{s:?}");
        assert_eq!(s.reason, "Completed");
    }
    // strictly one after another
    for w in st.steps.windows(2) {
        assert!(
            w[0].finished_at.unwrap() <= w[1].started_at.unwrap(),
            "{st:#?}"
        );
    }
    assert_eq!(container_log(&rt, &key, "step-one").await, "from one\n1\n");
    let two = container_log(&rt, &key, "step-two").await;
    assert!(
        two.starts_with("one\n10.0.0.1\tkubernetes.default.svc\nbuild-pod\n"),
        "{two}"
    );
    let three = container_log(&rt, &key, "step-three").await;
    assert!(
        three.contains("one\ntwo\n") && three.contains("to-stdout\n"),
        "{three}"
    );
    // stderr also went to its own file (stdoutConfig/stderrConfig), complete at the end
    assert_eq!(
        std::fs::read_to_string(env.dir.path().join("workspace/err.txt")).unwrap(),
        "one\ntwo\n"
    );
    // events told the story as it happened: a Running step-two was seen
    let mut saw_running = false;
    while let Ok(ev) = events.try_recv() {
        saw_running |= ev.steps[1].phase == ContainerPhase::Running;
    }
    assert!(saw_running);
    // the sandbox is gone, the logs stay until the pod is deleted
    assert!(
        namespaces(&env.bridge).iter().all(|n| n.contains(":pool-")),
        "{:?}",
        namespaces(&env.bridge)
    );
    assert!(mounts_under(&env.state_dir()).is_empty());
    assert!(rt
        .pod_logs(&key, "step-nope", LogOptions::default())
        .await
        .is_err());
    rt.delete_pod(&key).await.unwrap();
    assert!(rt.list_pods().is_empty());
    assert!(rt
        .pod_logs(&key, "step-one", LogOptions::default())
        .await
        .is_err());
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_pod_failures_skip_later_steps_unless_continued() {
    let Some(env) = Env::new() else { return };
    let rt = env.runtime().await;
    let mut tolerated = env.step("step-flaky", "echo trying; exit 3");
    tolerated.continue_on_error = true;
    let pod = env.pod(
        "fail-pod",
        vec![
            tolerated,
            env.step("step-bad", "exit 7"),
            env.step("step-never", "echo never"),
        ],
    );
    let key = pod.key.clone();
    rt.run_pod(pod.clone()).await.unwrap();
    assert!(
        rt.run_pod(pod).await.is_err(),
        "a second pod of the same name is refused"
    );
    let st = finished(&rt, &key, Duration::from_secs(30)).await;
    assert_eq!(st.phase, PodPhase::Failed);
    assert_eq!(
        (st.steps[0].exit_code, st.steps[0].reason.as_str()),
        (Some(3), "Error")
    );
    assert_eq!(
        (st.steps[1].exit_code, st.steps[1].reason.as_str()),
        (Some(7), "Error")
    );
    assert_eq!(st.steps[2].reason, "Skipped");
    assert!(st.steps[2].started_at.is_none());
    assert_eq!(container_log(&rt, &key, "step-never").await, "");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_pod_step_timeout_and_cancel() {
    let Some(env) = Env::new() else { return };
    let rt = env.runtime().await;
    let mut slow = env.step("step-slow", "echo started; sleep 30");
    slow.timeout = Some(Duration::from_millis(300));
    let pod = env.pod("timeout-pod", vec![slow, env.step("step-after", "true")]);
    let key = pod.key.clone();
    let began = Instant::now();
    rt.run_pod(pod).await.unwrap();
    let st = finished(&rt, &key, Duration::from_secs(20)).await;
    assert!(began.elapsed() < Duration::from_secs(10));
    assert_eq!(st.phase, PodPhase::Failed);
    assert_eq!(st.steps[0].reason, "TimeoutExceeded");
    assert_eq!(st.steps[1].reason, "Skipped");

    let pod = env.pod(
        "cancel-pod",
        vec![
            env.step("step-wait", "echo waiting; sleep 30"),
            env.step("step-after", "true"),
        ],
    );
    let key = pod.key.clone();
    rt.run_pod(pod).await.unwrap();
    until(Duration::from_secs(10), "the step to run", async || {
        let log = container_log(&rt, &key, "step-wait").await;
        log.contains("waiting").then_some(())
    })
    .await;
    // follow ends when the pod is cancelled
    let follow = rt
        .pod_logs(
            &key,
            "step-wait",
            LogOptions {
                follow: true,
                tail_lines: None,
            },
        )
        .await
        .unwrap();
    rt.cancel_pod(&key, "Cancelled").await.unwrap();
    let st = finished(&rt, &key, Duration::from_secs(20)).await;
    assert_eq!(st.steps[0].reason, "Cancelled");
    assert_eq!(st.steps[1].reason, "Skipped");
    let all = tokio::time::timeout(Duration::from_secs(5), follow.collect::<Vec<_>>())
        .await
        .expect("follow ends");
    assert_eq!(String::from_utf8_lossy(&all.concat()), "waiting\n");
    rt.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_pod_sidecar_serves_the_steps_then_stops() {
    let Some(env) = Env::new() else { return };
    let rt = env.runtime().await;
    let mut pod = env.pod(
        "sidecar-pod",
        vec![env.step(
            "step-client",
            "wget -q -O - http://127.0.0.1:8080/index.html",
        )],
    );
    let mut sidecar = env.step("sidecar-web", "exec httpd -f -p 8080 -h /www");
    sidecar.container.readiness_probe = Some(Probe {
        tcp_socket: Some(k8s_openapi::api::core::v1::TCPSocketAction {
            port: IntOrString::Int(8080),
            ..Default::default()
        }),
        ..Default::default()
    });
    pod.sidecars.push(sidecar);
    let key = pod.key.clone();
    rt.run_pod(pod).await.unwrap();
    let st = finished(&rt, &key, Duration::from_secs(30)).await;
    assert_eq!(st.phase, PodPhase::Succeeded, "{st:#?}");
    assert_eq!(
        container_log(&rt, &key, "step-client").await,
        "hello from skiff\n"
    );
    assert_eq!(st.sidecars[0].phase, ContainerPhase::Terminated);
    assert!(env_runc_ids(&env).is_empty());
    rt.shutdown().await;
}

fn env_runc_ids(env: &Env) -> Vec<String> {
    let out = Command::new("runc")
        .arg("--root")
        .arg(env.state_dir().join("runc"))
        .args(["list", "-q"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}
