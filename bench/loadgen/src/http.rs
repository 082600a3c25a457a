//! Plain-HTTP load against skiff's gateway (for `bench/autoscaling.sh`).
//!
//! Requests go to the gateway's address with a `Host` header naming the route
//! (`NAME.default.localhost`), as a client behind DNS would send them. Every
//! subcommand is bounded in request count and in time, prints its figures as
//! `key=value` lines on stdout and writes raw samples to a file when asked:
//!
//! - `app-boot`: the peer of a cold start: spawn the app binary directly with
//!   `PORT` set and time the first 200 (tight poll).
//! - `http-once`: one request to each of several hosts, one at a time, each on a
//!   fresh connection (cold starts: every host is a Service at zero instances).
//! - `http-burst`: N requests at once, each on its own connection.
//! - `http-ramp`: open loop: requests leave at a scheduled rate rising linearly
//!   from one rate to another, whatever the responses do (no coordinated
//!   omission: latency counts from the scheduled send time).
//!
//! `http-burst` and `http-ramp` can sample the gateway's `/metrics` (Knative's
//! autoscaler series for one Service) while they run and write a timeline.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use hdrhistogram::Histogram;

/// Where requests go: the gateway's base URL, the route's Host and the path.
#[derive(Args, Clone)]
pub struct HttpTarget {
    /// Gateway base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    /// Path and query of every request.
    #[arg(long, default_value = "/")]
    path: String,
    /// Per-request timeout (connect + response + body), seconds.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

/// Optional `/metrics` sampling while the load runs.
#[derive(Args, Clone)]
pub struct Sampling {
    /// The gateway's metrics URL (e.g. http://127.0.0.1:9095/metrics); no sampling without it.
    #[arg(long)]
    metrics_url: Option<String>,
    /// Sample the series whose `service_name` label is this (default: the Host's first label).
    #[arg(long)]
    service: Option<String>,
    /// Sampling period, milliseconds.
    #[arg(long, default_value_t = 1000)]
    sample_ms: u64,
    /// Where to write the timeline (one row per sample, header first).
    #[arg(long)]
    timeline: Option<PathBuf>,
}

#[derive(Args)]
pub struct BootArgs {
    /// The app binary (static), spawned with PORT and TARGET=boot.
    #[arg(long)]
    binary: PathBuf,
    /// Port the app listens on (must be free).
    #[arg(long)]
    port: u16,
    #[arg(long, default_value_t = 30)]
    samples: usize,
    /// Pause between connection attempts while the app is not listening yet, microseconds.
    #[arg(long, default_value_t = 200)]
    poll_us: u64,
    /// Pause between samples, milliseconds.
    #[arg(long, default_value_t = 50)]
    gap_ms: u64,
    /// Raw samples (ms, one per line).
    #[arg(long)]
    raw: Option<PathBuf>,
}

#[derive(Args)]
pub struct OnceArgs {
    #[command(flatten)]
    target: HttpTarget,
    /// Host header of a request (repeat for several; they are sent one at a time, in order).
    #[arg(long = "host", required = true)]
    hosts: Vec<String>,
    /// The body must contain this (per host: `{host}` is replaced by the Host's first label).
    #[arg(long)]
    expect: Option<String>,
    /// Pause between requests, milliseconds.
    #[arg(long, default_value_t = 200)]
    gap_ms: u64,
    /// Raw samples: `host status total_ms headers_ms`.
    #[arg(long)]
    raw: Option<PathBuf>,
}

#[derive(Args)]
pub struct BurstArgs {
    #[command(flatten)]
    target: HttpTarget,
    /// Host header (routes the request).
    #[arg(long)]
    host: String,
    /// Requests sent at once, each on its own connection.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    #[command(flatten)]
    sampling: Sampling,
    /// Raw samples: `status_or_error ms`.
    #[arg(long)]
    raw: Option<PathBuf>,
}

#[derive(Args)]
pub struct RampArgs {
    #[command(flatten)]
    target: HttpTarget,
    /// Host header (routes the request).
    #[arg(long)]
    host: String,
    /// Request rate at the start, per second.
    #[arg(long, default_value_t = 100.0)]
    from_rps: f64,
    /// Request rate at the end, per second (linear in between).
    #[arg(long, default_value_t = 1000.0)]
    to_rps: f64,
    /// Length of the ramp, seconds.
    #[arg(long, default_value_t = 60.0)]
    secs: f64,
    /// Requests in flight beyond this are not sent (counted as errors of kind not_sent).
    #[arg(long, default_value_t = 2000)]
    max_in_flight: usize,
    #[command(flatten)]
    sampling: Sampling,
}

// ------------------------------------------------------------------- helpers

fn new_hist() -> Histogram<u64> {
    // microseconds, 1 µs .. 10 min, 3 significant figures
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram")
}

fn q_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    h.value_at_quantile(q) as f64 / 1000.0
}

fn print_lat(prefix: &str, h: &Histogram<u64>) {
    println!("{prefix}n={}", h.len());
    println!(
        "{prefix}min_ms={:.2}",
        if h.is_empty() {
            0.0
        } else {
            h.min() as f64 / 1000.0
        }
    );
    println!("{prefix}p50_ms={:.2}", q_ms(h, 0.50));
    println!("{prefix}p95_ms={:.2}", q_ms(h, 0.95));
    println!("{prefix}p99_ms={:.2}", q_ms(h, 0.99));
    println!(
        "{prefix}max_ms={:.2}",
        if h.is_empty() {
            0.0
        } else {
            h.max() as f64 / 1000.0
        }
    );
}

/// A client for the gateway: HTTP/1.1 only, no proxy, connections pooled unless `fresh`.
fn client(t: &HttpTarget, fresh: bool) -> Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .http1_only()
        .no_proxy()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(t.timeout_secs))
        .connect_timeout(Duration::from_secs(t.timeout_secs.min(10)));
    if fresh {
        b = b.pool_max_idle_per_host(0);
    }
    Ok(b.build()?)
}

fn full_url(t: &HttpTarget) -> String {
    format!("{}{}", t.url.trim_end_matches('/'), t.path)
}

/// What one request came to: a status, or the kind of error.
#[derive(Clone, Debug)]
enum Outcome {
    Status(u16),
    Error(&'static str),
}

impl Outcome {
    fn key(&self) -> String {
        match self {
            Outcome::Status(s) => format!("status_{s}"),
            Outcome::Error(k) => format!("error_{k}"),
        }
    }
    fn ok(&self) -> bool {
        matches!(self, Outcome::Status(200))
    }
}

fn classify(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else if e.is_request() {
        "request"
    } else {
        "other"
    }
}

/// One GET with Host; the response is read to the end. Returns the outcome, the
/// time to the response head and the time to the end of the body, and the body.
async fn get(
    c: &reqwest::Client,
    url: &str,
    host: &str,
    start: Instant,
) -> (Outcome, Duration, Duration, Vec<u8>) {
    let r = c.get(url).header(reqwest::header::HOST, host).send().await;
    let head = start.elapsed();
    match r {
        Ok(resp) => {
            let st = resp.status().as_u16();
            match resp.bytes().await {
                Ok(b) => (Outcome::Status(st), head, start.elapsed(), b.to_vec()),
                Err(e) => (
                    Outcome::Error(classify(&e)),
                    head,
                    start.elapsed(),
                    Vec::new(),
                ),
            }
        }
        Err(e) => (Outcome::Error(classify(&e)), head, head, Vec::new()),
    }
}

fn print_counts(counts: &BTreeMap<String, u64>) {
    for (k, v) in counts {
        println!("{k}={v}");
    }
}

// ------------------------------------------------------------------- app-boot

/// One raw HTTP/1.1 GET / on a fresh connection; true on a 200.
fn probe(addr: &SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_nodelay(true);
    if s.write_all(b"GET / HTTP/1.1\r\nHost: boot\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    buf.starts_with(b"HTTP/1.1 200")
}

pub fn app_boot(a: BootArgs) -> Result<()> {
    let addr: SocketAddr = ([127, 0, 0, 1], a.port).into();
    if probe(&addr) {
        bail!("something already answers on port {}", a.port);
    }
    let mut h = new_hist();
    let mut raw = Vec::new();
    for i in 0..a.samples {
        let t0 = Instant::now();
        let mut child = std::process::Command::new(&a.binary)
            .env("PORT", a.port.to_string())
            .env("TARGET", "boot")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {}", a.binary.display()))?;
        let mut up = None;
        while t0.elapsed() < Duration::from_secs(10) {
            if probe(&addr) {
                up = Some(t0.elapsed());
                break;
            }
            std::thread::sleep(Duration::from_micros(a.poll_us));
        }
        let _ = child.kill();
        let _ = child.wait();
        let Some(up) = up else {
            bail!("sample {i}: the app did not answer 200 within 10 s");
        };
        h.saturating_record(up.as_micros() as u64);
        raw.push(format!("{:.3}", up.as_secs_f64() * 1000.0));
        // The port must be free again before the next spawn.
        let t = Instant::now();
        while probe(&addr) && t.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(a.gap_ms));
    }
    if let Some(p) = &a.raw {
        std::fs::write(p, raw.join("\n") + "\n")?;
    }
    print_lat("", &h);
    Ok(())
}

// ------------------------------------------------------------------- http-once

pub async fn once(a: OnceArgs) -> Result<()> {
    let c = client(&a.target, true)?;
    let url = full_url(&a.target);
    let mut total = new_hist();
    let mut heads = new_hist();
    let mut counts = BTreeMap::new();
    let mut raw = Vec::new();
    let mut mismatched = 0u64;
    for (i, host) in a.hosts.iter().enumerate() {
        if i > 0 {
            tokio::time::sleep(Duration::from_millis(a.gap_ms)).await;
        }
        let t0 = Instant::now();
        let (o, head, all, body) = get(&c, &url, host, t0).await;
        *counts.entry(o.key()).or_insert(0u64) += 1;
        if o.ok() {
            if let Some(e) = &a.expect {
                let want = e.replace("{host}", host.split('.').next().unwrap_or(host));
                if !String::from_utf8_lossy(&body).contains(&want) {
                    mismatched += 1;
                    eprintln!("{host}: body does not contain {want:?}");
                }
            }
            total.saturating_record(all.as_micros() as u64);
            heads.saturating_record(head.as_micros() as u64);
        } else {
            eprintln!("{host}: {}", o.key());
        }
        raw.push(format!(
            "{host} {} {:.3} {:.3}",
            o.key(),
            all.as_secs_f64() * 1000.0,
            head.as_secs_f64() * 1000.0
        ));
    }
    if let Some(p) = &a.raw {
        std::fs::write(p, raw.join("\n") + "\n")?;
    }
    let ok = counts.get("status_200").copied().unwrap_or(0);
    println!("requests={}", a.hosts.len());
    println!("ok={ok}");
    println!("errors={}", a.hosts.len() as u64 - ok + mismatched);
    println!("body_mismatch={mismatched}");
    print_counts(&counts);
    print_lat("", &total);
    print_lat("head_", &heads);
    Ok(())
}

// ------------------------------------------------------------------- metrics sampling

/// The autoscaler series sampled from `/metrics`, in timeline column order.
const SERIES: [&str; 8] = [
    "desired_pods",
    "actual_pods",
    "panic_mode",
    "stable_request_concurrency",
    "panic_request_concurrency",
    "excess_burst_capacity",
    "revision_ready_instances",
    "revision_requests_in_flight",
];

/// One `/metrics` sample: seconds since the start and each series' value (summed
/// over the Service's revisions; NaN when absent).
struct MetricsSample {
    t: f64,
    v: [f64; SERIES.len()],
}

fn parse_metrics(text: &str, service: &str) -> [f64; SERIES.len()] {
    let mut v = [f64::NAN; SERIES.len()];
    let label = format!("service_name=\"{service}\"");
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(brace) = line.find('{') else {
            continue;
        };
        let name = &line[..brace];
        let Some(i) = SERIES.iter().position(|s| *s == name) else {
            continue;
        };
        let Some(close) = line.rfind('}') else {
            continue;
        };
        if !line[brace..close].contains(&label) {
            continue;
        }
        if let Ok(x) = line[close + 1..].trim().parse::<f64>() {
            v[i] = if v[i].is_nan() { x } else { v[i] + x };
        }
    }
    v
}

/// Samples `/metrics` every `sample_ms` until `stop` is set.
fn spawn_sampler(
    s: &Sampling,
    host: &str,
    start: Instant,
    stop: Arc<AtomicBool>,
) -> Option<tokio::task::JoinHandle<Vec<MetricsSample>>> {
    let url = s.metrics_url.clone()?;
    let service = s
        .service
        .clone()
        .unwrap_or_else(|| host.split('.').next().unwrap_or(host).to_string());
    let period = Duration::from_millis(s.sample_ms.max(10));
    Some(tokio::spawn(async move {
        let c = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        let mut out = Vec::new();
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let t = start.elapsed().as_secs_f64();
            if let Ok(r) = c.get(&url).send().await {
                if let Ok(text) = r.text().await {
                    out.push(MetricsSample {
                        t,
                        v: parse_metrics(&text, &service),
                    });
                }
            }
            if stop.load(Ordering::SeqCst) {
                break;
            }
        }
        out
    }))
}

/// Prints the maxima of the sampled series (and whether panic mode was seen).
fn print_sample_summary(samples: &[MetricsSample]) {
    println!("metric_samples={}", samples.len());
    for (i, name) in SERIES.iter().enumerate() {
        let max = samples
            .iter()
            .map(|s| s.v[i])
            .filter(|x| !x.is_nan())
            .fold(f64::NAN, f64::max);
        if max.is_nan() {
            println!("max_{name}=-");
        } else {
            println!("max_{name}={max}");
        }
    }
    let panic_at = samples
        .iter()
        .find(|s| s.v[2] >= 1.0)
        .map(|s| format!("{:.1}", s.t));
    println!("panic_seen={}", u8::from(panic_at.is_some()));
    println!("panic_first_s={}", panic_at.unwrap_or_else(|| "-".into()));
    let panic_samples = samples.iter().filter(|s| s.v[2] >= 1.0).count();
    println!("panic_samples={panic_samples}");
}

fn fmt_v(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x.fract() == 0.0 {
        format!("{x}")
    } else {
        format!("{x:.2}")
    }
}

// ------------------------------------------------------------------- http-burst

pub async fn burst(a: BurstArgs) -> Result<()> {
    let url = full_url(&a.target);
    // One client per request: each request has its own connection.
    let clients: Vec<reqwest::Client> = (0..a.concurrency)
        .map(|_| client(&a.target, true))
        .collect::<Result<_>>()?;
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = spawn_sampler(&a.sampling, &a.host, start, stop.clone());
    let in_flight = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Barrier::new(a.concurrency + 1));
    let mut tasks = Vec::new();
    for c in clients {
        let (url, host, gate, in_flight) =
            (url.clone(), a.host.clone(), gate.clone(), in_flight.clone());
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            in_flight.fetch_add(1, Ordering::SeqCst);
            let t0 = Instant::now();
            let (o, _, all, _) = get(&c, &url, &host, t0).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            (o, all, t0.duration_since(start) + all)
        }));
    }
    gate.wait().await;
    let t_send = start.elapsed();
    let mut h = new_hist();
    let mut ok_h = new_hist();
    let mut counts = BTreeMap::new();
    let mut raw = Vec::new();
    let mut last_done = Duration::ZERO;
    for t in tasks {
        let (o, all, done) = t.await?;
        *counts.entry(o.key()).or_insert(0u64) += 1;
        h.saturating_record(all.as_micros() as u64);
        if o.ok() {
            ok_h.saturating_record(all.as_micros() as u64);
        }
        last_done = last_done.max(done);
        raw.push(format!("{} {:.3}", o.key(), all.as_secs_f64() * 1000.0));
    }
    // A few samples after the burst too (the instances that came up stay a while).
    tokio::time::sleep(Duration::from_millis(a.sampling.sample_ms.max(10) * 2)).await;
    stop.store(true, Ordering::SeqCst);
    let samples = match sampler {
        Some(s) => s.await?,
        None => Vec::new(),
    };
    if let Some(p) = &a.raw {
        std::fs::write(p, raw.join("\n") + "\n")?;
    }
    if let Some(p) = &a.sampling.timeline {
        write_metric_timeline(p, &samples)?;
    }
    let ok = counts.get("status_200").copied().unwrap_or(0);
    let n5xx: u64 = counts
        .iter()
        .filter(|(k, _)| k.starts_with("status_5"))
        .map(|(_, v)| v)
        .sum();
    println!("requests={}", a.concurrency);
    println!("ok={ok}");
    println!("non_200={}", a.concurrency as u64 - ok);
    println!("status_5xx={n5xx}");
    println!(
        "transport_errors={}",
        counts
            .iter()
            .filter(|(k, _)| k.starts_with("error_"))
            .map(|(_, v)| v)
            .sum::<u64>()
    );
    print_counts(&counts);
    println!(
        "seconds={:.3}",
        last_done.saturating_sub(t_send).as_secs_f64()
    );
    print_lat("", &h);
    print_lat("ok_", &ok_h);
    print_sample_summary(&samples);
    Ok(())
}

fn write_metric_timeline(p: &PathBuf, samples: &[MetricsSample]) -> Result<()> {
    let mut f = std::fs::File::create(p)?;
    writeln!(f, "t_s {}", SERIES.join(" "))?;
    for s in samples {
        let vals: Vec<String> = s.v.iter().map(|x| fmt_v(*x)).collect();
        writeln!(f, "{:.2} {}", s.t, vals.join(" "))?;
    }
    Ok(())
}

// ------------------------------------------------------------------- http-ramp

/// Send time of request `k` (seconds from the start) when the rate rises linearly
/// from `r0` to `r1` over `secs`: the k-th request leaves when the integral of the
/// rate reaches k.
fn schedule(k: f64, r0: f64, r1: f64, secs: f64) -> f64 {
    let a = (r1 - r0) / (2.0 * secs);
    if a.abs() < 1e-12 {
        k / r0
    } else {
        (-r0 + (r0 * r0 + 4.0 * a * k).sqrt()) / (2.0 * a)
    }
}

/// Per-second request figures (by the second the request was scheduled in).
struct Second {
    sent: u64,
    ok: u64,
    errors: u64,
    lat: Histogram<u64>,
}

pub async fn ramp(a: RampArgs) -> Result<()> {
    if a.from_rps <= 0.0 || a.to_rps <= 0.0 || a.secs <= 0.0 {
        bail!("--from-rps, --to-rps and --secs must be > 0");
    }
    let total = (a.secs * (a.from_rps + a.to_rps) / 2.0).floor() as u64;
    if total > 10_000_000 {
        bail!("{total} requests: too many");
    }
    let c = client(&a.target, false)?;
    let url = Arc::new(full_url(&a.target));
    let host = Arc::new(a.host.clone());
    let nsecs = a.secs.ceil() as usize;
    let seconds: Arc<Mutex<Vec<Second>>> = Arc::new(Mutex::new(
        (0..nsecs)
            .map(|_| Second {
                sent: 0,
                ok: 0,
                errors: 0,
                lat: new_hist(),
            })
            .collect(),
    ));
    let all = Arc::new(Mutex::new((
        new_hist(),
        new_hist(),
        BTreeMap::<String, u64>::new(),
    )));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let max_in_flight = Arc::new(AtomicUsize::new(0));
    let mut lag = new_hist();
    let mut not_sent = 0u64;

    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = spawn_sampler(&a.sampling, &a.host, start, stop.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for k in 0..total {
        let at = Duration::from_secs_f64(schedule(k as f64, a.from_rps, a.to_rps, a.secs));
        tokio::time::sleep_until((start + at).into()).await;
        let sched = start + at;
        lag.saturating_record(sched.elapsed().as_micros() as u64);
        let sec = (at.as_secs() as usize).min(nsecs - 1);
        if in_flight.load(Ordering::SeqCst) >= a.max_in_flight {
            not_sent += 1;
            let mut s = seconds.lock().unwrap();
            s[sec].sent += 1;
            s[sec].errors += 1;
            continue;
        }
        let n = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        max_in_flight.fetch_max(n, Ordering::SeqCst);
        let (c, url, host, seconds, all, in_flight) = (
            c.clone(),
            url.clone(),
            host.clone(),
            seconds.clone(),
            all.clone(),
            in_flight.clone(),
        );
        tasks.spawn(async move {
            let t0 = Instant::now();
            let (o, _, _, _) = get(&c, &url, &host, t0).await;
            // From the scheduled send time: a late send counts against the latency.
            let lat = sched.elapsed().as_micros() as u64;
            let uncorrected = t0.elapsed().as_micros() as u64;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            {
                let mut s = seconds.lock().unwrap();
                s[sec].sent += 1;
                if o.ok() {
                    s[sec].ok += 1;
                    s[sec].lat.saturating_record(lat);
                } else {
                    s[sec].errors += 1;
                }
            }
            let mut g = all.lock().unwrap();
            if o.ok() {
                g.0.saturating_record(lat);
                g.1.saturating_record(uncorrected);
            }
            *g.2.entry(o.key()).or_insert(0) += 1;
        });
        // Reap finished tasks as we go (keeps the set small).
        while let Some(r) = tasks.try_join_next() {
            r?;
        }
    }
    let sched_end = start.elapsed();
    // Every request has its own timeout; wait for them all (bounded by it).
    let drain = Instant::now();
    while let Some(r) = tasks.join_next().await {
        r?;
    }
    let drain_ms = drain.elapsed().as_secs_f64() * 1000.0;
    stop.store(true, Ordering::SeqCst);
    let samples = match sampler {
        Some(s) => s.await?,
        None => Vec::new(),
    };

    let (lat, uncorrected, mut counts) = {
        let g = all.lock().unwrap();
        (g.0.clone(), g.1.clone(), g.2.clone())
    };
    if not_sent > 0 {
        counts.insert("error_not_sent".into(), not_sent);
    }
    let ok = counts.get("status_200").copied().unwrap_or(0);
    if let Some(p) = &a.sampling.timeline {
        let mut f = std::fs::File::create(p)?;
        writeln!(
            f,
            "t_s target_rps sent ok errors p50_ms p95_ms p99_ms max_ms {}",
            SERIES.join(" ")
        )?;
        let s = seconds.lock().unwrap();
        for (i, sec) in s.iter().enumerate() {
            let target = a.from_rps + (a.to_rps - a.from_rps) * (i as f64 + 0.5) / a.secs;
            // The last metrics sample taken in this second.
            let m = samples
                .iter()
                .rfind(|m| m.t >= i as f64 && m.t < i as f64 + 1.0);
            let mv: Vec<String> = match m {
                Some(m) => m.v.iter().map(|x| fmt_v(*x)).collect(),
                None => SERIES.iter().map(|_| "-".to_string()).collect(),
            };
            writeln!(
                f,
                "{i} {target:.0} {} {} {} {:.1} {:.1} {:.1} {:.1} {}",
                sec.sent,
                sec.ok,
                sec.errors,
                q_ms(&sec.lat, 0.5),
                q_ms(&sec.lat, 0.95),
                q_ms(&sec.lat, 0.99),
                if sec.lat.is_empty() {
                    0.0
                } else {
                    sec.lat.max() as f64 / 1000.0
                },
                mv.join(" ")
            )?;
        }
        // Samples after the schedule ended (while the last requests finished).
        for m in samples.iter().filter(|m| m.t >= nsecs as f64) {
            let mv: Vec<String> = m.v.iter().map(|x| fmt_v(*x)).collect();
            writeln!(f, "{:.0} 0 0 0 0 - - - - {}", m.t.floor(), mv.join(" "))?;
        }
    }
    println!("requests={total}");
    println!("ok={ok}");
    println!("errors={}", total - ok);
    print_counts(&counts);
    println!("schedule_secs={:.3}", sched_end.as_secs_f64());
    println!("drain_ms={drain_ms:.1}");
    println!("achieved_rps={:.1}", total as f64 / sched_end.as_secs_f64());
    println!("max_in_flight={}", max_in_flight.load(Ordering::SeqCst));
    println!("send_lag_p99_ms={:.2}", q_ms(&lag, 0.99));
    println!(
        "send_lag_max_ms={:.2}",
        if lag.is_empty() {
            0.0
        } else {
            lag.max() as f64 / 1000.0
        }
    );
    print_lat("", &lat);
    print_lat("uncorrected_", &uncorrected);
    print_sample_summary(&samples);
    Ok(())
}
