//! The gateway end to end on loopback: real hyper backends, a real listener, real
//! HTTP/1.1, h2c and WebSocket clients.

mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use futures::{SinkExt, StreamExt};
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use skiff_gateway::{GatewayOptions, RequestLogSink};

const HOST: &str = "hello.default.localhost";
const T10: Duration = Duration::from_secs(10);

fn opts() -> GatewayOptions {
    GatewayOptions {
        split_seed: Some(7),
        ..GatewayOptions::default()
    }
}

async fn one_backend(name: &str, cc: u32, timeout: Duration) -> (Backend, Harness) {
    let b = Backend::start(name).await;
    let h = Harness::start(
        table(&[(HOST, route(&[(name, 100)], None))]),
        endpoints(&[(name, revision(&[b.addr], cc, timeout))]),
        opts(),
    )
    .await;
    (b, h)
}

#[tokio::test]
async fn routes_by_host_and_404s_unknown_hosts() {
    let (_b, h) = one_backend("hello-00001", 0, T10).await;
    assert_eq!(
        h.get(HOST, "/").await,
        (StatusCode::OK, "hello-00001".into())
    );
    // Case and port do not matter.
    assert_eq!(
        h.get("Hello.Default.Localhost:8080", "/").await,
        (StatusCode::OK, "hello-00001".into())
    );
    let (status, body) = h.get("nope.default.localhost", "/").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body.contains("no route for host \"nope.default.localhost\""),
        "{body}"
    );
}

async fn measure_split(a: u32, b: u32) -> (usize, usize) {
    let ba = Backend::start("v1").await;
    let bb = Backend::start("v2").await;
    let h = Harness::start(
        table(&[(HOST, route(&[("v1", a), ("v2", b)], None))]),
        endpoints(&[
            ("v1", revision(&[ba.addr], 0, T10)),
            ("v2", revision(&[bb.addr], 0, T10)),
        ]),
        opts(),
    )
    .await;
    let (mut n1, mut n2) = (0, 0);
    for _ in 0..1000 {
        match h.get(HOST, "/").await {
            (StatusCode::OK, body) if body == "v1" => n1 += 1,
            (StatusCode::OK, body) if body == "v2" => n2 += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    (n1, n2)
}

#[tokio::test]
async fn split_50_50_over_1000_requests() {
    let (n1, n2) = measure_split(50, 50).await;
    assert_eq!(n1 + n2, 1000);
    assert!((450..=550).contains(&n1), "v1 got {n1}, v2 {n2}");
}

#[tokio::test]
async fn split_90_10_over_1000_requests() {
    let (n1, n2) = measure_split(90, 10).await;
    assert_eq!(n1 + n2, 1000);
    assert!((850..=950).contains(&n1), "v1 got {n1}, v2 {n2}");
}

#[tokio::test]
async fn tag_host_routes_only_to_its_revision() {
    let ba = Backend::start("hello-v1").await;
    let bb = Backend::start("hello-v2").await;
    let h = Harness::start(
        table(&[
            (HOST, route(&[("hello-v1", 50), ("hello-v2", 50)], None)),
            (
                "v1-hello.default.localhost",
                route(&[("hello-v1", 100)], Some("v1")),
            ),
        ]),
        endpoints(&[
            ("hello-v1", revision(&[ba.addr], 0, T10)),
            ("hello-v2", revision(&[bb.addr], 0, T10)),
        ]),
        opts(),
    )
    .await;
    for _ in 0..100 {
        assert_eq!(
            h.get("v1-hello.default.localhost", "/").await,
            (StatusCode::OK, "hello-v1".into())
        );
    }
    assert_eq!(bb.stats.requests.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn backend_sees_forwarding_headers_and_no_hop_by_hop() {
    let (_b, h) = one_backend("hello-00001", 0, T10).await;
    let resp = h
        .request(
            "hello.default.localhost:8080",
            "/headers",
            &[
                ("x-forwarded-for", "203.0.113.7"),
                ("connection", "keep-alive, x-hop"),
                ("x-hop", "secret"),
                ("x-end", "kept"),
            ],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let seen = String::from_utf8_lossy(&body);
    assert!(
        seen.contains("host: hello.default.localhost:8080\n"),
        "{seen}"
    );
    assert!(
        seen.contains("x-forwarded-for: 203.0.113.7, 127.0.0.1\n"),
        "{seen}"
    );
    assert!(seen.contains("x-forwarded-proto: http\n"), "{seen}");
    assert!(
        seen.contains("x-forwarded-host: hello.default.localhost:8080\n"),
        "{seen}"
    );
    assert!(
        seen.contains(
            "forwarded: for=127.0.0.1;host=\"hello.default.localhost:8080\";proto=http\n"
        ),
        "{seen}"
    );
    assert!(seen.contains("x-end: kept\n"), "{seen}");
    assert!(!seen.contains("x-hop"), "{seen}");
}

#[tokio::test]
async fn revision_timeout_gives_504_and_fast_responses_pass() {
    let (_b, h) = one_backend("slow", 0, Duration::from_millis(300)).await;
    let start = Instant::now();
    let (status, body) = h.get(HOST, "/sleep?ms=3000").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(body.contains("default/slow"), "{body}");
    assert!(
        start.elapsed() < Duration::from_millis(2500),
        "cut at the timeout"
    );

    let (_b, h) = one_backend("fast", 0, Duration::from_secs(2)).await;
    assert_eq!(
        h.get(HOST, "/sleep?ms=50").await,
        (StatusCode::OK, "fast".into())
    );
}

#[tokio::test]
async fn timeout_does_not_cut_a_started_stream() {
    // The timeout must be long enough for response headers to arrive on a loaded
    // machine (the backend sends them at once), and is then let pass with the body open.
    let (b, h) = one_backend("streamer", 0, Duration::from_secs(1)).await;
    let resp = h.request(HOST, "/stream", &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    b.stats.gate.notify_one();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"first\nsecond\n");
}

#[tokio::test]
async fn container_concurrency_1_serialises_requests() {
    let (b, h) = one_backend("cc1", 1, T10).await;
    let h = std::sync::Arc::new(h);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let h = h.clone();
        tasks.push(tokio::spawn(
            async move { h.get(HOST, "/sleep?ms=30").await },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), (StatusCode::OK, "cc1".into()));
    }
    assert_eq!(b.stats.max.load(Ordering::SeqCst), 1);
    assert_eq!(b.stats.requests.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn full_queue_gives_503() {
    let b = Backend::start("q").await;
    let h = Harness::start(
        table(&[(HOST, route(&[("q", 100)], None))]),
        endpoints(&[("q", revision(&[b.addr], 1, T10))]),
        GatewayOptions {
            max_queued_per_revision: 1,
            ..opts()
        },
    )
    .await;
    let h = std::sync::Arc::new(h);
    let first = {
        let h = h.clone();
        tokio::spawn(async move { h.get(HOST, "/gate").await })
    };
    wait_until(T10, "first request at the backend", || {
        b.stats.current.load(Ordering::SeqCst) == 1
    })
    .await;
    let second = {
        let h = h.clone();
        tokio::spawn(async move { h.get(HOST, "/gate").await })
    };
    let labels = skiff_gateway::metrics::RevisionLabels {
        namespace_name: "default".into(),
        service_name: "hello".into(),
        configuration_name: "hello".into(),
        revision_name: "q".into(),
    };
    wait_until(T10, "second request queued", || {
        h.gateway.metrics().in_flight_now(&labels) == 2
    })
    .await;
    let (status, body) = h.get(HOST, "/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("containerConcurrency 1"), "{body}");
    assert!(body.contains("waiting for a free instance"), "{body}");
    b.stats.gate.notify_one();
    assert_eq!(first.await.unwrap().0, StatusCode::OK);
    wait_until(T10, "second request at the backend", || {
        b.stats.requests.load(Ordering::SeqCst) == 2
    })
    .await;
    b.stats.gate.notify_one();
    assert_eq!(second.await.unwrap().0, StatusCode::OK);
    assert_eq!(b.stats.max.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn response_streams_before_backend_finishes() {
    let (b, h) = one_backend("streamer", 0, T10).await;
    let resp = h.request(HOST, "/stream", &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    // The backend holds the second chunk until the gate opens: the first must
    // arrive on its own.
    let first = tokio::time::timeout(T10, body.frame())
        .await
        .expect("first chunk arrives while the backend is still sending")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(&first[..], b"first\n");
    b.stats.gate.notify_one();
    let rest = body.collect().await.unwrap().to_bytes();
    assert_eq!(&rest[..], b"second\n");
}

#[tokio::test]
async fn request_body_streams_to_backend() {
    let (_b, h) = one_backend("echo", 0, T10).await;
    let (mut tx, rx) = futures::channel::mpsc::channel::<
        Result<http_body::Frame<Bytes>, std::convert::Infallible>,
    >(1);
    let body = http_body_util::StreamBody::new(rx);
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
    let req = Request::post(format!("http://{}/echo", h.addr))
        .header("host", HOST)
        .body(body)
        .unwrap();
    let resp_fut = tokio::spawn(client.request(req));
    tx.send(Ok(http_body::Frame::data(Bytes::from("ping\n"))))
        .await
        .unwrap();
    let resp = tokio::time::timeout(T10, resp_fut)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let mut body = resp.into_body();
    let echoed = tokio::time::timeout(T10, body.frame())
        .await
        .expect("the echo comes back before the request body ends")
        .unwrap()
        .unwrap()
        .into_data()
        .unwrap();
    assert_eq!(&echoed[..], b"ping\n");
    drop(tx);
    let _ = body.collect().await;
}

#[tokio::test]
async fn websocket_echo_through_the_gateway() {
    let (_b, h) = one_backend("ws-rev", 0, T10).await;
    let stream = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(format!("ws://{HOST}/ws"), stream)
        .await
        .expect("websocket handshake through the gateway");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    for i in 0..3 {
        ws.send(format!("hi {i}").into()).await.unwrap();
        let msg = tokio::time::timeout(T10, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(msg.to_text().unwrap(), format!("ws-rev: hi {i}"));
    }
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn h2c_prior_knowledge() {
    let (_b, h) = one_backend("h2-rev", 0, T10).await;
    let stream = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    for path in ["/", "/headers"] {
        let req = Request::get(format!("http://{HOST}{path}"))
            .body(Empty::<Bytes>::new())
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body).into_owned();
        if path == "/" {
            assert_eq!(body, "h2-rev");
        } else {
            assert!(body.contains(&format!("host: {HOST}\n")), "{body}");
        }
    }
}

#[tokio::test]
async fn switching_traffic_keeps_in_flight_requests() {
    let ba = Backend::start("rev-a").await;
    let bb = Backend::start("rev-b").await;
    let h = Harness::start(
        table(&[(HOST, route(&[("rev-a", 100)], None))]),
        endpoints(&[
            ("rev-a", revision(&[ba.addr], 0, T10)),
            ("rev-b", revision(&[bb.addr], 0, T10)),
        ]),
        opts(),
    )
    .await;
    let h = std::sync::Arc::new(h);
    let mut slow = Vec::new();
    for _ in 0..20 {
        let h = h.clone();
        slow.push(tokio::spawn(async move { h.get(HOST, "/gate").await }));
    }
    wait_until(T10, "20 requests in flight at rev-a", || {
        ba.stats.current.load(Ordering::SeqCst) == 20
    })
    .await;
    // Switch all traffic to B, and take A out of the endpoints entirely.
    h.routes
        .send(table(&[(HOST, route(&[("rev-b", 100)], None))]))
        .unwrap();
    h.endpoints
        .send(endpoints(&[("rev-b", revision(&[bb.addr], 0, T10))]))
        .unwrap();
    for _ in 0..10 {
        assert_eq!(h.get(HOST, "/").await, (StatusCode::OK, "rev-b".into()));
    }
    assert_eq!(ba.stats.current.load(Ordering::SeqCst), 20);
    ba.stats.gate.notify_waiters();
    for t in slow {
        assert_eq!(t.await.unwrap(), (StatusCode::OK, "rev-a".into()));
    }
}

#[tokio::test]
async fn no_endpoints_gives_503() {
    let h = Harness::start(
        table(&[(HOST, route(&[("hello-00001", 100)], None))]),
        endpoints(&[]),
        opts(),
    )
    .await;
    let (status, body) = h.get(HOST, "/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        body.contains("no ready instance of revision default/hello-00001"),
        "{body}"
    );
}

#[tokio::test]
async fn requests_at_zero_wait_for_an_instance_and_poke_the_autoscaler() {
    let b = Backend::start("cold").await;
    let h = std::sync::Arc::new(
        Harness::start(
            table(&[(HOST, route(&[("cold", 100)], None))]),
            endpoints(&[("cold", revision(&[], 0, T10))]),
            opts(),
        )
        .await,
    );
    let held: Vec<_> = (0..3)
        .map(|_| {
            let h = h.clone();
            tokio::spawn(async move { h.get(HOST, "/").await })
        })
        .collect();
    // The first held request pokes at once (one poke for all of them).
    let poked = tokio::time::timeout(T10, h.gateway.stats().poked())
        .await
        .expect("a poke for the revision at zero");
    assert_eq!(poked.len(), 1);
    assert_eq!(poked[0].name, "cold");
    let labels = skiff_gateway::metrics::RevisionLabels {
        namespace_name: "default".into(),
        service_name: "hello".into(),
        configuration_name: "hello".into(),
        revision_name: "cold".into(),
    };
    wait_until(T10, "three requests held", || {
        h.gateway.metrics().in_flight_now(&labels) == 3
    })
    .await;
    // Held requests count as in flight for the autoscaler too.
    let scraped = h.gateway.stats().scrape(Instant::now());
    let (_, sample) = scraped.iter().find(|(k, _)| k.name == "cold").unwrap();
    assert_eq!(sample.in_flight, 3);
    assert_eq!(sample.requests, 3);
    // An instance appears: every held request goes to it.
    h.endpoints
        .send(endpoints(&[("cold", revision(&[b.addr], 0, T10))]))
        .unwrap();
    for t in held {
        assert_eq!(t.await.unwrap(), (StatusCode::OK, "cold".into()));
    }
    assert_eq!(b.stats.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn requests_held_at_zero_obey_the_revision_timeout() {
    let h = Harness::start(
        table(&[(HOST, route(&[("never", 100)], None))]),
        endpoints(&[("never", revision(&[], 0, Duration::from_millis(300)))]),
        opts(),
    )
    .await;
    let start = Instant::now();
    let (status, body) = h.get(HOST, "/").await;
    assert_eq!(status, StatusCode::GATEWAY_TIMEOUT, "{body}");
    assert!(body.contains("default/never"), "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "cut at the timeout"
    );
}

#[tokio::test]
async fn a_full_queue_at_zero_gives_503_naming_the_cause() {
    let h = std::sync::Arc::new(
        Harness::start(
            table(&[(HOST, route(&[("zero", 100)], None))]),
            endpoints(&[("zero", revision(&[], 0, T10))]),
            GatewayOptions {
                max_queued_per_revision: 1,
                ..opts()
            },
        )
        .await,
    );
    let first = {
        let h = h.clone();
        tokio::spawn(async move { h.get(HOST, "/").await })
    };
    let labels = skiff_gateway::metrics::RevisionLabels {
        namespace_name: "default".into(),
        service_name: "hello".into(),
        configuration_name: "hello".into(),
        revision_name: "zero".into(),
    };
    wait_until(T10, "first request held", || {
        h.gateway.metrics().in_flight_now(&labels) == 1
    })
    .await;
    let (status, body) = h.get(HOST, "/").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("has no ready instance yet"), "{body}");
    assert!(body.contains("1 requests are already waiting"), "{body}");
    first.abort();
}

#[tokio::test]
async fn unreachable_instance_gives_502() {
    // A port nobody listens on.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let h = Harness::start(
        table(&[(HOST, route(&[("dead", 100)], None))]),
        endpoints(&[("dead", revision(&[dead], 0, T10))]),
        opts(),
    )
    .await;
    let (status, body) = h.get(HOST, "/").await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(body.contains("could not forward to instance"), "{body}");
}

#[tokio::test]
async fn a_refused_connection_is_retried_on_another_instance() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let b = Backend::start("alive").await;
    let h = Harness::start(
        table(&[(HOST, route(&[("two", 100)], None))]),
        endpoints(&[("two", revision(&[dead, b.addr], 0, T10))]),
        opts(),
    )
    .await;
    // Round robin sends some requests to the dead instance first: none fails.
    for _ in 0..10 {
        assert_eq!(h.get(HOST, "/").await, (StatusCode::OK, "alive".into()));
    }
    assert_eq!(b.stats.requests.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn metrics_show_knative_request_counts() {
    let (_b, h) = one_backend("hello-00001", 0, T10).await;
    for _ in 0..3 {
        assert_eq!(h.get(HOST, "/").await.0, StatusCode::OK);
    }
    let labels = "namespace_name=\"default\",service_name=\"hello\",\
                  configuration_name=\"hello\",revision_name=\"hello-00001\"";
    let text = h.metrics().await;
    assert!(
        text.contains(&format!(
            "revision_request_count_total{{{labels},response_code=\"200\",response_code_class=\"2xx\"}} 3"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "revision_request_latencies_count{{{labels},response_code=\"200\",response_code_class=\"2xx\"}} 3"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("revision_ready_instances{{{labels}}} 1")),
        "{text}"
    );
    assert!(
        text.contains(&format!("revision_requests_in_flight{{{labels}}} 0")),
        "{text}"
    );
    let health = h
        .client
        .get(format!("http://{}/healthz", h.admin).parse().unwrap())
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn one_request_log_line_per_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("requests.log");
    let b = Backend::start("hello-00001").await;
    let h = Harness::start(
        table(&[(HOST, route(&[("hello-00001", 100)], None))]),
        endpoints(&[("hello-00001", revision(&[b.addr], 0, T10))]),
        GatewayOptions {
            request_log: RequestLogSink::File(path.clone()),
            ..opts()
        },
    )
    .await;
    for i in 0..4 {
        let resp = h
            .request(
                HOST,
                &format!("/?n={i}"),
                &[("user-agent", "skiff-test/1"), ("referer", "http://r/")],
            )
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let _ = resp.into_body().collect().await.unwrap();
    }
    assert_eq!(h.get("unknown.host", "/x").await.0, StatusCode::NOT_FOUND);
    let read = || std::fs::read_to_string(&path).unwrap_or_default();
    wait_until(T10, "5 request-log lines", || read().lines().count() >= 5).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let text = read();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 5, "{text}");
    let first = &lines[0];
    let r = &first["httpRequest"];
    assert_eq!(r["requestMethod"], "GET");
    assert_eq!(r["requestUrl"], "/?n=0");
    assert_eq!(r["status"], 200);
    assert_eq!(r["responseSize"], "11");
    assert_eq!(r["requestSize"], "0");
    assert_eq!(r["userAgent"], "skiff-test/1");
    assert_eq!(r["referer"], "http://r/");
    assert_eq!(r["protocol"], "HTTP/1.1");
    assert_eq!(r["serverIp"], "127.0.0.1");
    assert!(r["remoteIp"].as_str().unwrap().starts_with("127.0.0.1:"));
    let latency = r["latency"].as_str().unwrap();
    assert!(latency.ends_with('s') && latency[..latency.len() - 1].parse::<f64>().is_ok());
    assert_eq!(first["revisionName"], "hello-00001");
    assert_eq!(first["namespace"], "default");
    assert_eq!(first["service"], "hello");
    assert_eq!(lines[4]["httpRequest"]["status"], 404);
    assert_eq!(lines[4]["revisionName"], "");
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish() {
    let (b, h) = one_backend("drain", 0, T10).await;
    let addr = h.addr;
    let client = h.client.clone();
    let req = Request::get(format!("http://{addr}/sleep?ms=200"))
        .header("host", HOST)
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    let pending = tokio::spawn(client.request(req));
    wait_until(T10, "request at the backend", || {
        b.stats.current.load(Ordering::SeqCst) == 1
    })
    .await;
    drop(h);
    let resp = pending.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

/// Thread per core: several SO_REUSEPORT listeners on one port, each on its own
/// current-thread runtime; routes, endpoints and metrics are shared by all threads,
/// and shutdown drains in-flight requests before the threads stop.
#[tokio::test]
async fn serve_per_core_shares_routes_and_metrics_and_drains() {
    let b = Backend::start("hello-00001").await;
    let (_routes_tx, routes_rx) =
        tokio::sync::watch::channel(table(&[(HOST, route(&[("hello-00001", 100)], None))]));
    let (eps_tx, eps_rx) =
        tokio::sync::watch::channel(endpoints(&[("hello-00001", revision(&[b.addr], 0, T10))]));
    let gateway = skiff_gateway::Gateway::new(routes_rx, eps_rx, opts());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = gateway
        .clone()
        .serve_per_core("127.0.0.1:0".parse().unwrap(), 3, async {
            let _ = stop_rx.await;
        })
        .unwrap();
    let addr = serving.local_addr();
    assert_ne!(addr.port(), 0);
    let serving = tokio::spawn(serving);

    // Many connections (the kernel spreads them over the threads), a few requests each.
    let mut clients = Vec::new();
    for _ in 0..12 {
        clients.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            for _ in 0..5 {
                let req = Request::get("/")
                    .header("host", HOST)
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let resp = send.send_request(req).await.unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(body, "hello-00001");
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    // One metrics registry for all threads (a request is recorded when its response
    // body ends, which may be just after the client has read it).
    let counted = |text: &str| {
        text.lines().any(|l| {
            l.starts_with("revision_request_count_total{")
                && l.contains("revision_name=\"hello-00001\"")
                && l.contains("response_code=\"200\"")
                && l.ends_with(" 60")
        })
    };
    wait_until(T10, "60 requests counted", || {
        counted(&gateway.render_metrics())
    })
    .await;

    // Endpoint changes reach every thread: no instance → 503.
    eps_tx.send(endpoints(&[])).unwrap();
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let req = Request::get(format!("http://{addr}/"))
        .header("host", HOST)
        .body(Empty::new())
        .unwrap();
    assert_eq!(
        client.request(req).await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    eps_tx
        .send(endpoints(&[("hello-00001", revision(&[b.addr], 0, T10))]))
        .unwrap();

    // Shutdown lets an in-flight request finish, then every thread stops.
    let req = Request::get(format!("http://{addr}/sleep?ms=200"))
        .header("host", HOST)
        .body(Empty::new())
        .unwrap();
    let pending = tokio::spawn(client.request(req));
    wait_until(T10, "request at the backend", || {
        b.stats.current.load(Ordering::SeqCst) == 1
    })
    .await;
    stop_tx.send(()).unwrap();
    let resp = pending.await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    tokio::time::timeout(T10, serving)
        .await
        .expect("threads stop after shutdown")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no listener left after shutdown"
    );
}
