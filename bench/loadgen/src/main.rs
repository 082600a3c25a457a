//! `skiff-loadgen`: the load generator behind `bench/api.sh`.
//!
//! It drives skiff's Kubernetes API (HTTPS, bearer token) and etcd's v3 JSON
//! gRPC-gateway with the *same* object bytes, so the two can be compared in one
//! run. Every subcommand prints its figures as `key=value` lines on stdout (easy
//! for a shell script to read) and diagnostics on stderr.
//!
//! The `app-boot` and `http-*` subcommands (module [`http`]) load skiff's gateway
//! with plain HTTP for `bench/autoscaling.sh`: cold starts, bursts, rate ramps.
//!
//! This is a benchmark tool, not a test: nothing here asserts a target; the
//! driver script compares the figures with the targets.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use clap::{Args, Parser, Subcommand};
use futures::StreamExt;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

mod http;

#[derive(Parser)]
#[command(
    name = "skiff-loadgen",
    about = "Load generator for skiff's API, etcd's v3 gateway and skiff's HTTP gateway"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// N concurrent clients create `total` ConfigMaps in skiff.
    SkiffCreates(CreatesArgs),
    /// Time listing every ConfigMap in a namespace of skiff.
    SkiffList(ListArgs),
    /// N watchers on skiff's ConfigMaps; a writer creates `events` objects; every watcher must see every one.
    SkiffWatchers(WatchArgs),
    /// N concurrent clients put `total` keys into etcd (same value bytes as the ConfigMaps).
    EtcdPuts(CreatesArgs),
    /// Time a prefix range over every key written by etcd-puts.
    EtcdRange(ListArgs),
    /// N watchers on an etcd prefix; a writer puts `events` keys; every watcher must see every one.
    EtcdWatchers(WatchArgs),
    /// Peer of a cold start: spawn an app binary with PORT set, time to its first 200.
    AppBoot(http::BootArgs),
    /// One GET to each --host in turn, each on a fresh connection (cold starts).
    HttpOnce(http::OnceArgs),
    /// N GETs at once, each on its own connection.
    HttpBurst(http::BurstArgs),
    /// Open-loop GETs at a rate rising linearly from --from-rps to --to-rps over --secs.
    HttpRamp(http::RampArgs),
}

/// Where the target is and how to authenticate (skiff only needs token and CA).
#[derive(Args, Clone)]
struct Target {
    /// Base URL, e.g. https://127.0.0.1:6443 (skiff) or http://127.0.0.1:2379 (etcd).
    #[arg(long)]
    url: String,
    /// File holding the bearer token (skiff).
    #[arg(long)]
    token: Option<std::path::PathBuf>,
    /// CA certificate (PEM) that signed the server's certificate (skiff).
    #[arg(long)]
    ca: Option<std::path::PathBuf>,
    /// Namespace (skiff) or key prefix component (etcd).
    #[arg(long, default_value = "default")]
    namespace: String,
}

#[derive(Args, Clone)]
struct Payload {
    /// Object names are PREFIX-000000 …
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Size of the ConfigMap's data value, in bytes.
    #[arg(long, default_value_t = 256)]
    payload_bytes: usize,
}

#[derive(Args)]
struct CreatesArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    payload: Payload,
    #[arg(long, default_value_t = 20)]
    clients: usize,
    #[arg(long, default_value_t = 10_000)]
    total: usize,
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    payload: Payload,
    /// Timed repetitions (after one untimed warm-up).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Expected number of objects (a mismatch is reported as an error).
    #[arg(long)]
    expect: Option<usize>,
}

#[derive(Args)]
struct WatchArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    payload: Payload,
    /// Concurrent watchers, each on its own connection.
    #[arg(long, default_value_t = 100)]
    n: usize,
    /// Objects written while the watchers watch.
    #[arg(long, default_value_t = 200)]
    events: usize,
    /// Concurrent writers producing the events.
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::SkiffCreates(a) => creates(Kind::Skiff, a).await,
        Cmd::EtcdPuts(a) => creates(Kind::Etcd, a).await,
        Cmd::SkiffList(a) => list(Kind::Skiff, a).await,
        Cmd::EtcdRange(a) => list(Kind::Etcd, a).await,
        Cmd::SkiffWatchers(a) => watchers(Kind::Skiff, a).await,
        Cmd::EtcdWatchers(a) => watchers(Kind::Etcd, a).await,
        Cmd::AppBoot(a) => tokio::task::spawn_blocking(move || http::app_boot(a)).await?,
        Cmd::HttpOnce(a) => http::once(a).await,
        Cmd::HttpBurst(a) => http::burst(a).await,
        Cmd::HttpRamp(a) => http::ramp(a).await,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Skiff,
    Etcd,
}

/// One HTTP client (= one connection, HTTP/2 over TLS for skiff via ALPN,
/// HTTP/1.1 keep-alive for etcd's plain-HTTP gateway) plus what a request needs.
#[derive(Clone)]
struct Conn {
    kind: Kind,
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    ns: String,
}

impl Conn {
    fn new(kind: Kind, t: &Target) -> Result<Conn> {
        let mut b = reqwest::Client::builder()
            .pool_max_idle_per_host(4)
            .tcp_nodelay(true);
        if let Some(ca) = &t.ca {
            let pem = std::fs::read(ca).with_context(|| format!("reading CA {}", ca.display()))?;
            b = b
                .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
                .use_rustls_tls();
        }
        let token = match &t.token {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .with_context(|| format!("reading token {}", p.display()))?
                    .trim()
                    .to_string(),
            ),
            None => None,
        };
        Ok(Conn {
            kind,
            http: b.build()?,
            base: t.url.trim_end_matches('/').to_string(),
            token,
            ns: t.namespace.clone(),
        })
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    fn collection(&self) -> String {
        format!("/api/v1/namespaces/{}/configmaps", self.ns)
    }

    /// etcd key of object `name`: kube-apiserver's layout.
    fn etcd_key(&self, name: &str) -> String {
        format!("/registry/configmaps/{}/{}", self.ns, name)
    }

    fn etcd_prefix(&self, p: &Payload) -> String {
        format!("/registry/configmaps/{}/{}-", self.ns, p.prefix)
    }

    /// Creates object `name` with body `obj` (the same JSON bytes for both peers).
    async fn create(&self, name: &str, obj: &[u8]) -> Result<()> {
        match self.kind {
            Kind::Skiff => {
                let resp = self
                    .req(reqwest::Method::POST, &self.collection())
                    .header("content-type", "application/json")
                    .body(obj.to_vec())
                    .send()
                    .await?;
                let st = resp.status();
                let body = resp.bytes().await?;
                if st.as_u16() != 201 {
                    bail!(
                        "create {name}: HTTP {st}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
            Kind::Etcd => {
                let body =
                    json!({"key": B64.encode(self.etcd_key(name)), "value": B64.encode(obj)});
                let resp = self
                    .req(reqwest::Method::POST, "/v3/kv/put")
                    .json(&body)
                    .send()
                    .await?;
                let st = resp.status();
                let body = resp.bytes().await?;
                if !st.is_success() {
                    bail!("put {name}: HTTP {st}: {}", String::from_utf8_lossy(&body));
                }
            }
        }
        Ok(())
    }

    /// A cheap request that opens the connection (TLS handshake included) before timing starts.
    async fn warm_up(&self) -> Result<()> {
        match self.kind {
            Kind::Skiff => {
                let r = self.req(reqwest::Method::GET, "/version").send().await?;
                if !r.status().is_success() {
                    bail!("warm-up: HTTP {}", r.status());
                }
                r.bytes().await?;
            }
            Kind::Etcd => {
                let body = json!({"key": B64.encode("/warmup")});
                let r = self
                    .req(reqwest::Method::POST, "/v3/kv/range")
                    .json(&body)
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("warm-up: HTTP {}", r.status());
                }
                r.bytes().await?;
            }
        }
        Ok(())
    }

    /// Current store revision / resourceVersion, so watches start exactly "now".
    async fn current_revision(&self) -> Result<u64> {
        match self.kind {
            Kind::Skiff => {
                let v: Value = self
                    .req(
                        reqwest::Method::GET,
                        &format!("{}?limit=1", self.collection()),
                    )
                    .send()
                    .await?
                    .json()
                    .await?;
                let rv = v["metadata"]["resourceVersion"]
                    .as_str()
                    .context("list has no metadata.resourceVersion")?;
                Ok(rv.parse()?)
            }
            Kind::Etcd => {
                let v: Value = self
                    .req(reqwest::Method::POST, "/v3/kv/range")
                    .json(&json!({"key": B64.encode("/warmup")}))
                    .send()
                    .await?
                    .json()
                    .await?;
                let rev = v["header"]["revision"]
                    .as_str()
                    .context("range has no header.revision")?;
                Ok(rev.parse()?)
            }
        }
    }
}

/// A ConfigMap as a client would send it; `payload_bytes` of data.
fn configmap(ns: &str, name: &str, payload_bytes: usize) -> Vec<u8> {
    let data: String = std::iter::repeat("0123456789abcdef")
        .flat_map(|s| s.chars())
        .take(payload_bytes)
        .collect();
    serde_json::to_vec(&json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "bench", "tier": "load"}},
        "data": {"payload": data},
    }))
    .expect("serialize")
}

fn name_of(p: &Payload, i: usize) -> String {
    format!("{}-{:06}", p.prefix, i)
}

fn new_hist() -> Histogram<u64> {
    // microseconds, 1 µs .. 60 s, 3 significant figures
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram")
}

fn print_hist(prefix: &str, h: &Histogram<u64>) {
    let ms = |us: u64| us as f64 / 1000.0;
    println!("{prefix}p50_ms={:.3}", ms(h.value_at_quantile(0.50)));
    println!("{prefix}p90_ms={:.3}", ms(h.value_at_quantile(0.90)));
    println!("{prefix}p99_ms={:.3}", ms(h.value_at_quantile(0.99)));
    println!("{prefix}max_ms={:.3}", ms(h.max()));
}

async fn creates(kind: Kind, a: CreatesArgs) -> Result<()> {
    let next = Arc::new(AtomicUsize::new(0));
    let errors = Arc::new(AtomicUsize::new(0));
    let mut conns = Vec::new();
    for _ in 0..a.clients {
        let c = Conn::new(kind, &a.target)?;
        c.warm_up().await?;
        conns.push(c);
    }
    // Bodies are built before the clock starts: the client's JSON work is not the server's.
    let bodies: Arc<Vec<(String, Vec<u8>)>> = Arc::new(
        (0..a.total)
            .map(|i| {
                let n = name_of(&a.payload, i);
                let b = configmap(&a.target.namespace, &n, a.payload.payload_bytes);
                (n, b)
            })
            .collect(),
    );
    let obj_bytes = bodies.first().map(|b| b.1.len()).unwrap_or(0);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in conns {
        let (next, errors, bodies) = (next.clone(), errors.clone(), bodies.clone());
        let total = a.total;
        tasks.push(tokio::spawn(async move {
            let mut h = new_hist();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let (name, body) = &bodies[i];
                let t = Instant::now();
                let r = c.create(name, body).await;
                h.saturating_record(t.elapsed().as_micros() as u64);
                if let Err(e) = r {
                    if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("error: {e:#}");
                    }
                }
            }
            h
        }));
    }
    let mut all = new_hist();
    for t in tasks {
        all.add(t.await?)?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!("total={}", a.total);
    println!("clients={}", a.clients);
    println!("object_bytes={obj_bytes}");
    println!("errors={}", errors.load(Ordering::Relaxed));
    println!("seconds={secs:.3}");
    println!("rate={:.1}", a.total as f64 / secs);
    print_hist("", &all);
    Ok(())
}

async fn list(kind: Kind, a: ListArgs) -> Result<()> {
    let c = Conn::new(kind, &a.target)?;
    c.warm_up().await?;
    let mut times = Vec::new();
    let mut count = 0usize;
    let mut bytes = 0usize;
    for rep in 0..=a.reps {
        let t = Instant::now();
        let resp = match kind {
            Kind::Skiff => c.req(reqwest::Method::GET, &c.collection()).send().await?,
            Kind::Etcd => {
                let p = c.etcd_prefix(&a.payload);
                let mut end = p.clone().into_bytes();
                *end.last_mut().unwrap() += 1;
                c.req(reqwest::Method::POST, "/v3/kv/range")
                    .json(&json!({"key": B64.encode(&p), "range_end": B64.encode(&end)}))
                    .send()
                    .await?
            }
        };
        let st = resp.status();
        let body = resp.bytes().await?;
        let el = t.elapsed();
        if !st.is_success() {
            bail!(
                "list: HTTP {st}: {}",
                String::from_utf8_lossy(&body[..body.len().min(500)])
            );
        }
        // Parsing is the client's work: done outside the timed part, only to check the count.
        let v: Value = serde_json::from_slice(&body)?;
        count = match kind {
            Kind::Skiff => v["items"].as_array().map(|x| x.len()).unwrap_or(0),
            Kind::Etcd => v["kvs"].as_array().map(|x| x.len()).unwrap_or(0),
        };
        bytes = body.len();
        if rep > 0 {
            times.push(el.as_secs_f64() * 1000.0);
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("items={count}");
    println!("response_bytes={bytes}");
    println!("reps={}", times.len());
    println!("min_ms={:.2}", times[0]);
    println!("median_ms={:.2}", times[times.len() / 2]);
    println!("max_ms={:.2}", times[times.len() - 1]);
    if let Some(e) = a.expect {
        if e != count {
            println!("errors=1");
            eprintln!("error: expected {e} items, got {count}");
            return Ok(());
        }
    }
    println!("errors=0");
    Ok(())
}

/// Extracts the bench object index from each event in one decoded stream message.
fn event_indices(kind: Kind, prefix: &str, v: &Value, out: &mut Vec<usize>) {
    let parse = |name: &str| {
        name.strip_prefix(prefix)
            .and_then(|s| s.parse::<usize>().ok())
    };
    match kind {
        Kind::Skiff => {
            if v["type"] == "ADDED" {
                if let Some(i) = v["object"]["metadata"]["name"].as_str().and_then(parse) {
                    out.push(i);
                }
            }
        }
        Kind::Etcd => {
            if let Some(evs) = v["result"]["events"].as_array() {
                for e in evs {
                    // PUT events have no "type" field in proto3 JSON (PUT = 0 is the default).
                    if e.get("type").is_some_and(|t| t != "PUT") {
                        continue;
                    }
                    let key = e["kv"]["key"].as_str().and_then(|k| B64.decode(k).ok());
                    if let Some(key) = key {
                        let key = String::from_utf8_lossy(&key);
                        if let Some(name) = key.rsplit('/').next() {
                            if let Some(i) = parse(name) {
                                out.push(i);
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn watchers(kind: Kind, a: WatchArgs) -> Result<()> {
    let base = Instant::now();
    let ctl = Conn::new(kind, &a.target)?;
    let rev = ctl.current_revision().await?;
    let name_prefix = format!("{}-", a.payload.prefix);
    // nanos since `base` at which create i was sent (0 = not yet).
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..a.events).map(|_| AtomicU64::new(0)).collect());
    let connected = Arc::new(AtomicUsize::new(0));
    let deadline = Duration::from_secs(a.timeout_secs);

    let mut handles = Vec::new();
    for w in 0..a.n {
        let c = Conn::new(kind, &a.target)?;
        let sent = sent.clone();
        let connected = connected.clone();
        let events = a.events;
        let name_prefix = name_prefix.clone();
        let payload = a.payload.clone();
        handles.push(tokio::spawn(async move {
            let resp = match kind {
                Kind::Skiff => {
                    c.req(reqwest::Method::GET, &format!("{}?watch=true&resourceVersion={rev}", c.collection())).send().await
                }
                Kind::Etcd => {
                    let p = c.etcd_prefix(&payload);
                    let mut end = p.clone().into_bytes();
                    *end.last_mut().unwrap() += 1;
                    let body = json!({"create_request": {"key": B64.encode(&p), "range_end": B64.encode(&end), "start_revision": (rev + 1).to_string()}});
                    c.req(reqwest::Method::POST, "/v3/watch").json(&body).send().await
                }
            };
            let mut seen = vec![false; events];
            let mut got = 0usize;
            let mut dup = 0usize;
            let mut h = new_hist();
            let mut last_at = Duration::ZERO;
            let resp = match resp {
                Ok(r) if r.status().is_success() => r,
                Ok(r) => {
                    eprintln!("watcher {w}: HTTP {}", r.status());
                    return (got, dup, h, last_at);
                }
                Err(e) => {
                    eprintln!("watcher {w}: {e:#}");
                    return (got, dup, h, last_at);
                }
            };
            connected.fetch_add(1, Ordering::SeqCst);
            let mut stream = resp.bytes_stream();
            let mut buf: Vec<u8> = Vec::new();
            let mut idx = Vec::new();
            while got < events {
                let chunk = match tokio::time::timeout(deadline, stream.next()).await {
                    Ok(Some(Ok(c))) => c,
                    Ok(Some(Err(e))) => {
                        eprintln!("watcher {w}: stream error: {e:#}");
                        break;
                    }
                    Ok(None) => {
                        eprintln!("watcher {w}: stream ended after {got} events");
                        break;
                    }
                    Err(_) => {
                        eprintln!("watcher {w}: timed out after {got} events");
                        break;
                    }
                };
                buf.extend_from_slice(&chunk);
                // Decode every complete JSON value in the buffer (NDJSON or concatenated).
                let mut consumed = 0;
                {
                    let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
                    loop {
                        match it.next() {
                            Some(Ok(v)) => {
                                consumed = it.byte_offset();
                                idx.clear();
                                event_indices(kind, &name_prefix, &v, &mut idx);
                                let now = base.elapsed();
                                for &i in &idx {
                                    if i < events && !seen[i] {
                                        seen[i] = true;
                                        got += 1;
                                        let s = sent[i].load(Ordering::SeqCst);
                                        if s > 0 {
                                            h.saturating_record((now.as_nanos() as u64).saturating_sub(s) / 1000);
                                        }
                                        last_at = now;
                                    } else {
                                        dup += 1;
                                    }
                                }
                            }
                            Some(Err(e)) if e.is_eof() => break,
                            Some(Err(e)) => {
                                eprintln!("watcher {w}: bad JSON in stream: {e}");
                                return (got, dup, h, last_at);
                            }
                            None => break,
                        }
                    }
                }
                buf.drain(..consumed);
            }
            (got, dup, h, last_at)
        }));
    }
    // Wait until every watch has its response headers (or failed), up to 10 s.
    let t = Instant::now();
    while connected.load(Ordering::SeqCst) < a.n && t.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let connect_ms = t.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Writers.
    let next = Arc::new(AtomicUsize::new(0));
    let write_start = base.elapsed();
    let mut ws = Vec::new();
    for _ in 0..a.writers {
        let c = Conn::new(kind, &a.target)?;
        c.warm_up().await?;
        let (next, sent) = (next.clone(), sent.clone());
        let (events, payload, ns) = (a.events, a.payload.clone(), a.target.namespace.clone());
        ws.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= events {
                    return Ok::<_, anyhow::Error>(());
                }
                let name = name_of(&payload, i);
                let body = configmap(&ns, &name, payload.payload_bytes);
                sent[i].store(base.elapsed().as_nanos() as u64, Ordering::SeqCst);
                c.create(&name, &body).await?;
            }
        }));
    }
    for w in ws {
        w.await??;
    }
    let write_end = base.elapsed();

    let mut min_got = usize::MAX;
    let mut max_got = 0;
    let mut dups = 0;
    let mut complete = 0;
    let mut all = new_hist();
    let mut last = Duration::ZERO;
    for hnd in handles {
        let (got, dup, h, last_at) = hnd.await?;
        min_got = min_got.min(got);
        max_got = max_got.max(got);
        dups += dup;
        if got == a.events {
            complete += 1;
        }
        all.add(h)?;
        last = last.max(last_at);
    }
    println!("watchers={}", a.n);
    println!("connected={}", connected.load(Ordering::SeqCst));
    println!("connect_ms={connect_ms:.1}");
    println!("events={}", a.events);
    println!("min_received={min_got}");
    println!("max_received={max_got}");
    println!("complete_watchers={complete}");
    println!("duplicates={dups}");
    println!(
        "write_ms={:.1}",
        (write_end - write_start).as_secs_f64() * 1000.0
    );
    println!(
        "all_received_ms={:.1}",
        last.saturating_sub(write_start).as_secs_f64() * 1000.0
    );
    println!("deliveries={}", all.len());
    print_hist("delivery_", &all);
    println!("errors={}", usize::from(complete != a.n));
    Ok(())
}
