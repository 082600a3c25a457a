//! Cold-start latency of the local runtime: from `start()` being called to the
//! instance turning Ready (its port answers), per step, against the app's own boot.
//!
//! Starts the static sample app N times one after another (each stopped before the
//! next), on its own bridge and subnet, and prints p50/p95 of every step of
//! [`StartTimings`]; then spawns the same binary directly N times and times it to its
//! first accepted TCP connection and its first HTTP 200 (the app's own boot).
//!
//! ```text
//! source scripts/env.sh
//! RUSTFLAGS="-C target-feature=+crt-static" cargo build --release \
//!     -p skiff-sample-app --target x86_64-unknown-linux-gnu
//! cargo run --release -p skiff-runtime --example start_latency     # as root
//! ```
//!
//! Environment: `N` (30) starts, `POOL` (the runtime's default) pre-created network
//! namespaces, `GAP_MS` (100) idle time between a stop and the next start (a scale
//! from zero follows some idle time; 0 starts back to back), `SAMPLE_APP` (the binary;
//! default `$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release/skiff-sample-app`),
//! `RUNC` (the runc binary, e.g. a wrapper that logs or times it).
//! `bench/runtime-start.sh` builds everything and runs this.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Container;
use skiff_runtime::{
    ImageRootfs, InstanceSpec, LocalRuntime, LocalRuntimeOptions, Phase, RevisionKey, Runtime,
    StartTimings,
};

const PORT: u16 = 8080;
/// Unrecorded runs before the measured ones (page cache, code paths, allocator).
const WARMUP: usize = 2;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

fn sample_app() -> PathBuf {
    if let Some(p) = std::env::var_os("SAMPLE_APP") {
        return p.into();
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("x86_64-unknown-linux-gnu/release/skiff-sample-app")
}

/// p-th percentile (nearest rank) in milliseconds.
fn pct(samples: &[Duration], p: f64) -> f64 {
    let mut v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

fn row(name: &str, samples: &[Duration]) {
    println!(
        "  {name:<34} p50 {:>7.2} ms   p95 {:>7.2} ms   max {:>7.2} ms",
        pct(samples, 50.0),
        pct(samples, 95.0),
        pct(samples, 100.0)
    );
}

/// An image rootfs with the app as `/app` (what `skiff image pack --binary` makes).
fn make_rootfs(dir: &Path, app: &Path) -> PathBuf {
    let root = dir.join("image");
    for d in ["etc", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(app, root.join("app")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    root
}

fn spec(rootfs: &Path, i: usize) -> InstanceSpec {
    let name = format!("lat-{i:05}");
    InstanceSpec {
        revision: RevisionKey {
            namespace: "default".into(),
            name: name.clone(),
        },
        pod_name: format!("{name}-deployment-abc12"),
        labels: BTreeMap::new(),
        image: ImageRootfs {
            rootfs: rootfs.to_path_buf(),
            digest: "sha256:bench".into(),
            entrypoint: vec!["/app".into()],
            cmd: vec![],
            env: vec![],
            working_dir: Some("/".into()),
            user: None,
        },
        container: Container {
            name: "user-container".into(),
            ..Default::default()
        },
        port: PORT,
        platform_env: vec![
            ("PORT".into(), PORT.to_string()),
            ("K_SERVICE".into(), "lat".into()),
            ("K_CONFIGURATION".into(), "lat".into()),
            ("K_REVISION".into(), name),
        ],
        file_mounts: vec![],
    }
}

/// The app spawned directly: time to first accepted connection and to first HTTP 200.
fn app_boot(app: &Path, port: u16) -> (Duration, Duration) {
    use std::io::{Read, Write};
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let t0 = Instant::now();
    let mut child = Command::new(app)
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawning the sample app");
    let (listening, ok) = loop {
        if let Ok(mut s) = TcpStream::connect(addr) {
            let listening = t0.elapsed();
            s.write_all(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
            let mut buf = Vec::new();
            let _ = s.read_to_end(&mut buf);
            assert!(buf.starts_with(b"HTTP/1.1 200") || buf.starts_with(b"HTTP/1.0 200"));
            break (listening, t0.elapsed());
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "app never listened");
        std::thread::sleep(Duration::from_micros(200));
    };
    let _ = child.kill();
    let _ = child.wait();
    (listening, ok)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let n = env_num("N", 30) as usize;
    let gap = Duration::from_millis(env_num("GAP_MS", 100));
    let app = sample_app();
    assert!(
        app.exists(),
        "{} missing: build it (see the docs of this example) or set SAMPLE_APP",
        app.display()
    );
    assert!(
        unsafe { libc::geteuid() } == 0,
        "needs root (runc, network namespaces)"
    );
    let dir = tempfile::Builder::new()
        .prefix("skiff-lat-")
        .tempdir()
        .unwrap();
    let rootfs = make_rootfs(dir.path(), &app);
    let r: u32 = rand::random();
    let mut opts = LocalRuntimeOptions::new(dir.path().join("state"));
    opts.bridge = format!("sklat{:04x}", r & 0xffff);
    opts.subnet = format!("10.{}.{}.0/24", 100 + (r >> 24) % 150, (r >> 16) & 0xff);
    opts.drain = Duration::ZERO;
    opts.stop_grace = Duration::from_secs(2);
    if let Some(runc) = std::env::var_os("RUNC") {
        opts.runc = runc.into();
    }
    if let Ok(p) = std::env::var("POOL") {
        opts.network_pool = p.parse().expect("POOL: a number");
    }
    println!(
        "runtime: bridge {} subnet {} pool {} | {n} starts, {gap:?} between a stop and the next start",
        opts.bridge, opts.subnet, opts.network_pool
    );
    let rt = LocalRuntime::new(opts).await.expect("runtime");
    let measured = measure(&rt, &rootfs, n, gap).await;
    rt.shutdown().await;
    // every namespace of this runtime, instances' (`{bridge}-…`) and pooled (`{bridge}:…`)
    let bridge = rt.options().bridge.clone();
    let leftover: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.starts_with(&format!("{bridge}-")) || n.starts_with(&format!("{bridge}:"))
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = Command::new("ip").args(["link", "del", &bridge]).status();
    let samples = match measured {
        Ok(s) => s,
        Err(e) => {
            eprintln!("start_latency: {e}");
            drop(dir);
            std::process::exit(1);
        }
    };

    let col = |f: &dyn Fn(&StartTimings, Duration) -> Duration| -> Vec<Duration> {
        samples.iter().map(|(t, total)| f(t, *total)).collect()
    };
    let pooled = samples.iter().filter(|(t, _)| t.network_pooled).count();
    println!(
        "\nruntime cold start ({} samples; namespace from the pool in {pooled}):",
        samples.len()
    );
    row(
        "network (namespace, veth, address)",
        &col(&|t, _| t.network),
    );
    row(
        "rootfs (etc, config.json, overlay)",
        &col(&|t, _| t.rootfs - t.network),
    );
    row("start() returned (cumulative)", &col(&|t, _| t.returned));
    row(
        "runc run --detach",
        &col(&|t, _| t.runc.unwrap_or_default().saturating_sub(t.returned)),
    );
    row(
        "first probe success after runc",
        &col(&|t, _| {
            t.ready
                .unwrap_or_default()
                .saturating_sub(t.runc.unwrap_or_default())
        }),
    );
    row("total: start() -> Ready event", &col(&|_, total| total));

    let mut listening = Vec::new();
    let mut ok = Vec::new();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for _ in 0..n + WARMUP {
        let (l, o) = app_boot(&app, port);
        listening.push(l);
        ok.push(o);
    }
    let (listening, ok) = (&listening[WARMUP..], &ok[WARMUP..]);
    println!("\napp's own boot (spawned directly, polled every 0.2 ms):");
    row("spawn -> first TCP accept", listening);
    row("spawn -> first HTTP 200", ok);
    let totals = col(&|_, total| total);
    println!(
        "\noverhead over the app's own boot: p50 {:.2} ms, p95 {:.2} ms (total p95 - boot p95)",
        pct(&totals, 50.0) - pct(listening, 50.0),
        pct(&totals, 95.0) - pct(listening, 95.0)
    );
    if !leftover.is_empty() {
        eprintln!("LEAK: network namespaces left after shutdown: {leftover:?}");
        drop(dir);
        std::process::exit(1);
    }
}

/// Starts the app `n` times (after 2 unrecorded warm-up starts), each stopped before
/// the next: the timings of each start and its time to the Ready event.
async fn measure(
    rt: &LocalRuntime,
    rootfs: &Path,
    n: usize,
    gap: Duration,
) -> Result<Vec<(StartTimings, Duration)>, String> {
    let mut events = rt.subscribe();
    let mut samples = Vec::new();
    for i in 0..n + WARMUP {
        tokio::time::sleep(gap).await;
        while events.try_recv().is_ok() {}
        let t0 = Instant::now();
        let st = rt
            .start(spec(rootfs, i))
            .await
            .map_err(|e| format!("start: {e}"))?;
        let total = loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Ok(ev)) if ev.id == st.id && ev.phase == Phase::Ready => break t0.elapsed(),
                Ok(Ok(ev)) if ev.id == st.id && ev.phase == Phase::CrashLoop => {
                    return Err(format!("instance crashed: {:?}", ev.last_exit));
                }
                Ok(_) => {}
                Err(_) => return Err(format!("instance {} not Ready after 10 s", st.id)),
            }
        };
        let t = rt.start_timings(&st.id).ok_or("no timings")?;
        rt.stop(&st.id).await.map_err(|e| format!("stop: {e}"))?;
        if i >= WARMUP {
            samples.push((t, total));
        }
    }
    Ok(samples)
}
