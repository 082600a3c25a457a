//! Knative Serving end to end with real runc instances: each test starts its own
//! `skiff server --runtime local` on its own bridge and subnet, with the static sample
//! app (crates/sample-app) imported as `dev.local/helloworld:latest`, applies Knative
//! manifests with the real kubectl and talks to the gateway on loopback with a Host
//! header. Every test ends by stopping the server (SIGTERM) and checking that no network
//! namespace of its bridge is left.
//!
//! Needs root and runc; without them each test prints "skipped: …" and passes.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::serving::*;
use common::stdout;
use futures::{SinkExt, StreamExt};

const HOST: &str = "hello.default.localhost";

// ---------------------------------------------------------------------------------
// Tests

/// Knative's helloworld: TARGET=World answers "Hello World!" at the Service URL, which
/// `kubectl get ksvc` shows with the gateway port and READY True; updating TARGET makes
/// `hello-00002` take 100% with no request failing during the switch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helloworld_and_update_without_failed_requests() {
    skip_unless_supported!();
    let env = Env::start();
    let port = env.gateway().port();
    env.apply(&ksvc("hello", "", &env_target("World"), ""));
    env.wait_ksvc_ready("hello", Some("hello-00001"));
    env.wait_body(HOST, "Hello World!\n").await;

    // kubectl's table: NAME URL LATESTCREATED LATESTREADY READY REASON.
    let table = env.kubectl(&["get", "ksvc", "hello"]);
    let row = table.lines().nth(1).expect("a row");
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[0], "hello", "{table}");
    assert_eq!(
        cols[1],
        format!("http://hello.default.localhost:{port}"),
        "{table}"
    );
    assert!(cols.contains(&"True"), "READY True expected:\n{table}");

    // The URL as a user types it (curl resolves *.localhost to loopback).
    let curl = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "5",
            &format!("http://hello.default.localhost:{port}/"),
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&curl), "Hello World!\n");

    // Background load while TARGET changes.
    let stop = Arc::new(AtomicBool::new(false));
    let env = Arc::new(env);
    let load = {
        let (env, stop) = (env.clone(), stop.clone());
        tokio::spawn(async move {
            let mut results = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                results.push(env.get(HOST, "/").await);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            results
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let env2 = env.clone();
    tokio::task::spawn_blocking(move || {
        env2.apply(&ksvc("hello", "", &env_target("Universe"), ""));
        env2.wait_ksvc_ready("hello", Some("hello-00002"));
    })
    .await
    .unwrap();
    env.wait_body(HOST, "Hello Universe!\n").await;
    // Keep the load on while the old revision's instance is stopped.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let results = load.await.unwrap();
    let failed: Vec<_> = results
        .iter()
        .filter(|r| !matches!(r, Ok((200, _))))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the update, e.g. {:?}",
        failed.len(),
        results.len(),
        &failed[..failed.len().min(5)]
    );
    let bodies: BTreeSet<&str> = results
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|(_, b)| b.as_str()))
        .collect();
    assert!(
        bodies.contains("Hello World!\n") && bodies.contains("Hello Universe!\n"),
        "{bodies:?}"
    );
    assert!(results.len() > 50, "only {} requests ran", results.len());

    let v = env.get_json(&["ksvc", "hello"]).unwrap();
    let traffic = v["status"]["traffic"].as_array().unwrap();
    assert_eq!(traffic.len(), 1, "{traffic:?}");
    assert_eq!(traffic[0]["revisionName"], "hello-00002");
    assert_eq!(traffic[0]["percent"], 100);
    for _ in 0..20 {
        assert_eq!(
            env.get(HOST, "/").await.unwrap(),
            (200, "Hello Universe!\n".into())
        );
    }
    // The old revision stays (Knative keeps it) but runs nothing.
    common::eventually("hello-00001's pod to go", Duration::from_secs(15), || {
        let pods = env.kubectl(&[
            "get",
            "pods",
            "-l",
            "serving.knative.dev/revision=hello-00001",
            "-o",
            "name",
        ]);
        pods.trim().is_empty().then_some(())
    });
    env.kubectl(&["get", "revision", "hello-00001"]);
    Arc::into_inner(env).expect("load task done").finish();
}

/// Named revisions v1/v2 (`spec.template.metadata.name`), a 50/50 split measured over
/// 1,000 requests, tag hosts reaching one revision only, then v3 taking 100%.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn named_revisions_split_and_tags() {
    skip_unless_supported!();
    let env = Env::start();
    env.apply(&ksvc("hello", "name: hello-v1", &env_target("v1"), ""));
    env.wait_ksvc_ready("hello", Some("hello-v1"));
    let split = "  traffic:\n  - tag: v1\n    revisionName: hello-v1\n    percent: 50\n  - tag: v2\n    revisionName: hello-v2\n    percent: 50\n";
    env.apply(&ksvc("hello", "name: hello-v2", &env_target("v2"), split));
    let v = env.wait_ksvc_ready("hello", Some("hello-v2"));
    let port = env.gateway().port();
    let traffic = v["status"]["traffic"].as_array().unwrap().clone();
    assert_eq!(traffic.len(), 2, "{traffic:?}");
    for t in &traffic {
        let tag = t["tag"].as_str().unwrap();
        assert_eq!(t["percent"], 50);
        assert_eq!(t["revisionName"], format!("hello-{tag}"));
        assert_eq!(
            t["url"],
            format!("http://{tag}-hello.default.localhost:{port}")
        );
    }
    env.wait_body("v1-hello.default.localhost", "Hello v1!\n")
        .await;
    env.wait_body("v2-hello.default.localhost", "Hello v2!\n")
        .await;

    let envr = &env;
    let results: Vec<_> = futures::stream::iter(0..1000)
        .map(|_| async move { envr.get(HOST, "/").await })
        .buffer_unordered(8)
        .collect()
        .await;
    let (mut v1, mut v2) = (0, 0);
    for r in &results {
        match r {
            Ok((200, b)) if b == "Hello v1!\n" => v1 += 1,
            Ok((200, b)) if b == "Hello v2!\n" => v2 += 1,
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert!(
        (450..=550).contains(&v1),
        "50/50 split gave v1={v1} v2={v2} over 1000 requests"
    );

    for _ in 0..50 {
        assert_eq!(
            env.get("v1-hello.default.localhost", "/").await.unwrap(),
            (200, "Hello v1!\n".into())
        );
        assert_eq!(
            env.get("v2-hello.default.localhost", "/").await.unwrap(),
            (200, "Hello v2!\n".into())
        );
    }
    let (code, body) = env.get("nope.default.localhost", "/").await.unwrap();
    assert_eq!(code, 404, "{body}");

    // v3 takes everything; all three revisions are listed.
    env.apply(&ksvc("hello", "name: hello-v3", &env_target("v3"), ""));
    env.wait_ksvc_ready("hello", Some("hello-v3"));
    env.wait_body(HOST, "Hello v3!\n").await;
    let revs = env.kubectl(&["get", "revisions", "-o", "name"]);
    for r in ["hello-v1", "hello-v2", "hello-v3"] {
        assert!(
            revs.contains(&format!("revision.serving.knative.dev/{r}")),
            "{revs}"
        );
    }
    for _ in 0..20 {
        assert_eq!(
            env.get(HOST, "/").await.unwrap(),
            (200, "Hello v3!\n".into())
        );
    }
    env.finish();
}

/// An image that is not there: the Revision says so (Ready False, `ContainerMissing`,
/// naming the image) instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_image_gives_a_revision_condition() {
    skip_unless_supported!();
    let env = Env::start();
    let yaml = ksvc("hello", "", "", "").replace(IMAGE, "dev.local/nope:latest");
    env.apply(&yaml);
    let rev = common::eventually("hello-00001 Ready=False", Duration::from_secs(20), || {
        let v = env.get_json(&["revision", "hello-00001"])?;
        condition(&v, "Ready")
            .is_some_and(|c| c["status"] == "False")
            .then_some(v)
    });
    let ready = condition(&rev, "Ready").unwrap();
    assert_eq!(ready["reason"], "ContainerMissing", "{ready}");
    let msg = ready["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("dev.local/nope"),
        "message should name the image: {msg}"
    );
    let svc = env.get_json(&["ksvc", "hello"]).unwrap();
    common::eventually("ksvc Ready=False", Duration::from_secs(10), || {
        let svc = env.get_json(&["ksvc", "hello"])?;
        condition(&svc, "Ready")
            .is_some_and(|c| c["status"] == "False")
            .then_some(())
    });
    drop(svc);
    assert!(env.netns().is_empty());
    env.finish();
}

/// A container that exits: it is restarted (Pod RESTARTS > 0) and the Revision says
/// `ExitCode1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashing_container_restarts_with_condition() {
    skip_unless_supported!();
    let env = Env::start();
    let container = "        env:\n        - name: EXIT_AFTER_MS\n          value: \"100\"\n";
    env.apply(&ksvc("hello", "", container, ""));
    common::eventually("a pod with restarts", Duration::from_secs(20), || {
        let table = env.kubectl(&["get", "pods", "-l", "serving.knative.dev/service=hello"]);
        // NAME READY STATUS RESTARTS AGE
        let restarts: u32 = table
            .lines()
            .nth(1)?
            .split_whitespace()
            .nth(3)?
            .parse()
            .ok()?;
        (restarts > 0).then_some(())
    });
    let rev = common::eventually("ExitCode1 condition", Duration::from_secs(20), || {
        let v = env.get_json(&["revision", "hello-00001"])?;
        let c = condition(&v, "ContainerHealthy")?;
        (c["status"] == "False" && c["reason"] == "ExitCode1").then_some(v)
    });
    let c = condition(&rev, "ContainerHealthy").unwrap();
    assert!(
        c["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Container failed with"),
        "{c}"
    );
    let ready = condition(&rev, "Ready").unwrap();
    assert_ne!(ready["status"], "True", "{ready}");
    env.finish();
}

/// A new revision whose readiness probe fails never takes traffic: the Route stays on
/// the last ready revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_readiness_probe_keeps_traffic_on_old_revision() {
    skip_unless_supported!();
    let env = Env::start();
    // v1 has a passing HTTP probe (no port: it is the container port, as in Knative's docs).
    let v1 = "        env:\n        - name: TARGET\n          value: v1\n        readinessProbe:\n          httpGet:\n            path: /healthz\n";
    env.apply(&ksvc("hello", "name: hello-v1", v1, ""));
    env.wait_ksvc_ready("hello", Some("hello-v1"));
    env.wait_body(HOST, "Hello v1!\n").await;
    let v2 = "        env:\n        - name: TARGET\n          value: v2\n        - name: FAIL_READINESS\n          value: \"1\"\n        readinessProbe:\n          httpGet:\n            path: /healthz\n";
    env.apply(&ksvc("hello", "name: hello-v2", v2, ""));
    // v2 runs (its instance is up and answering, just not ready)...
    common::eventually("hello-v2's pod", Duration::from_secs(15), || {
        let v = env.get_json(&["pods", "-l", "serving.knative.dev/revision=hello-v2"])?;
        let pod = v["items"].as_array()?.first()?.clone();
        (pod["status"]["phase"] == "Running").then_some(())
    });
    // ...yet every one of the next 30 requests (spread over at least 0.6 s) goes to v1.
    for _ in 0..30 {
        assert_eq!(
            env.get(HOST, "/").await.unwrap(),
            (200, "Hello v1!\n".into())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rev = env.get_json(&["revision", "hello-v2"]).unwrap();
    let ready = condition(&rev, "Ready").unwrap();
    assert_ne!(ready["status"], "True", "{ready}");
    let pods = env
        .get_json(&["pods", "-l", "serving.knative.dev/revision=hello-v2"])
        .unwrap();
    assert_eq!(
        pods["items"][0]["status"]["containerStatuses"][0]["ready"], false,
        "{pods}"
    );
    let svc = env.get_json(&["ksvc", "hello"]).unwrap();
    assert_eq!(svc["status"]["latestReadyRevisionName"], "hello-v1");
    assert_eq!(svc["status"]["latestCreatedRevisionName"], "hello-v2");
    let traffic = svc["status"]["traffic"].as_array().unwrap();
    assert_eq!(traffic.len(), 1, "{traffic:?}");
    assert_eq!(traffic[0]["revisionName"], "hello-v1");
    env.finish();
}

/// `timeoutSeconds: 1`: a 3 s response gets 504 after about a second, a 100 ms one 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_timeout_gives_504() {
    skip_unless_supported!();
    let env = Env::start();
    let yaml = ksvc("hello", "", "", "").replace(
        "      containers:",
        "      timeoutSeconds: 1\n      containers:",
    );
    env.apply(&yaml);
    env.wait_ksvc_ready("hello", None);
    env.wait_body(HOST, "Hello World!\n").await;
    let t = Instant::now();
    let (code, body) = env.get(HOST, "/sleep?ms=3000").await.unwrap();
    let took = t.elapsed();
    assert_eq!(code, 504, "{body}");
    assert!(
        // Not before the 1 s timeout, and before the app's 3 s answer would have come.
        took >= Duration::from_millis(900) && took < Duration::from_millis(3000),
        "504 after {took:?}"
    );
    assert_eq!(
        env.get(HOST, "/sleep?ms=100").await.unwrap(),
        (200, "slept 100 ms\n".into())
    );
    env.finish();
}

/// Streaming bodies are not buffered (the first chunk arrives long before the last),
/// WebSocket upgrades echo through the gateway, and `kubectl logs` shows the app's
/// request lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_websocket_and_logs() {
    skip_unless_supported!();
    let env = Env::start();
    env.apply(&ksvc("hello", "", &env_target("World"), ""));
    env.wait_ksvc_ready("hello", None);
    env.wait_body(HOST, "Hello World!\n").await;

    // Streaming: 5 chunks 200 ms apart.
    let t = Instant::now();
    let resp = env
        .http
        .get(format!(
            "http://{}/stream?chunks=5&interval_ms=200",
            env.gateway()
        ))
        .header("Host", HOST)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut stream = resp.bytes_stream();
    let mut first_at = None;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        if first_at.is_none() && !chunk.is_empty() {
            first_at = Some(t.elapsed());
        }
        body.extend_from_slice(&chunk);
    }
    let total = t.elapsed();
    let first = first_at.unwrap();
    assert_eq!(
        String::from_utf8(body).unwrap(),
        (0..5).map(|i| format!("chunk {i}\n")).collect::<String>()
    );
    assert!(total >= Duration::from_millis(800), "total {total:?}");
    assert!(
        first + Duration::from_millis(500) < total,
        "first chunk after {first:?}, whole body after {total:?}: the body was buffered"
    );

    // WebSocket echo.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let mut req = format!("ws://{}/ws", env.gateway())
        .into_client_request()
        .unwrap();
    req.headers_mut().insert("Host", HOST.parse().unwrap());
    let (mut ws, resp) = tokio::time::timeout(
        Duration::from_secs(5),
        tokio_tungstenite::connect_async(req),
    )
    .await
    .expect("websocket handshake timed out")
    .expect("websocket handshake");
    assert_eq!(resp.status(), 101);
    for text in ["hello", "skiff", "ü"] {
        ws.send(Message::text(text)).await.unwrap();
        let echoed = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("echo timed out")
            .unwrap()
            .unwrap();
        assert_eq!(echoed, Message::text(text));
    }
    ws.send(Message::binary(vec![0u8, 1, 2, 255]))
        .await
        .unwrap();
    let echoed = ws.next().await.unwrap().unwrap();
    assert_eq!(echoed, Message::binary(vec![0u8, 1, 2, 255]));
    let _ = ws.close(None).await;

    // kubectl logs shows the app's request lines.
    let pods = env.kubectl(&[
        "get",
        "pods",
        "-l",
        "serving.knative.dev/service=hello",
        "-o",
        "name",
    ]);
    let pod = pods
        .lines()
        .next()
        .expect("a pod")
        .trim_start_matches("pod/")
        .to_string();
    assert!(pod.starts_with("hello-00001-deployment-"), "{pod}");
    common::eventually(
        "request lines in kubectl logs",
        Duration::from_secs(10),
        || {
            let logs = env.kubectl(&["logs", &pod]);
            (logs.contains("GET / 200")
                && logs.contains("GET /stream?chunks=5&interval_ms=200 200"))
            .then_some(())
        },
    );
    env.finish();
}

/// Deleting the Service removes its Pods, stops its instances and frees their network
/// namespaces (while the server keeps running).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_stops_instances_and_frees_netns() {
    skip_unless_supported!();
    let env = Env::start();
    let yaml = ksvc(
        "hello",
        "annotations:\n        autoscaling.knative.dev/min-scale: \"2\"",
        &env_target("World"),
        "",
    );
    env.apply(&yaml);
    env.wait_ksvc_ready("hello", None);
    env.wait_body(HOST, "Hello World!\n").await;
    common::eventually("2 pods", Duration::from_secs(15), || {
        let pods = env.kubectl(&["get", "pods", "-o", "name"]);
        (pods.lines().count() == 2).then_some(())
    });
    assert_eq!(env.netns().len(), 2, "{:?}", env.netns());
    assert_eq!(env.runc_containers().len(), 2);

    env.kubectl(&["delete", "ksvc", "hello"]);
    common::eventually(
        "pods, instances and netns to go",
        Duration::from_secs(20),
        || {
            let pods = env.kubectl(&["get", "pods", "-o", "name"]);
            (pods.trim().is_empty() && env.netns().is_empty() && env.runc_containers().is_empty())
                .then_some(())
        },
    );
    for kind in ["revisions", "routes", "configurations"] {
        let left = env.kubectl(&["get", kind, "-o", "name"]);
        assert!(left.trim().is_empty(), "{kind} left: {left}");
    }
    let (code, _) = env.get(HOST, "/").await.unwrap();
    assert_eq!(code, 404);
    env.finish();
}

/// `kill -9` of the server, then a restart on the same data dir and ports: the
/// Service answers again, and nothing of the first run's instances is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_kill9_and_restart_recovers_without_orphans() {
    skip_unless_supported!();
    let mut env = Env::start();
    env.apply(&ksvc("hello", "", &env_target("World"), ""));
    env.wait_ksvc_ready("hello", None);
    env.wait_body(HOST, "Hello World!\n").await;
    let old_containers = env.runc_containers();
    let old_netns = env.netns();
    assert_eq!(old_containers.len(), 1, "{old_containers:?}");
    assert_eq!(old_netns.len(), 1, "{old_netns:?}");

    env.server.restart(); // kill -9, then start again on the same dir and ports
    env.wait_ksvc_ready("hello", None);
    env.wait_body(HOST, "Hello World!\n").await;
    let containers = env.runc_containers();
    let netns = env.netns();
    for c in &old_containers {
        assert!(
            !containers.contains(c),
            "orphan container {c} from the first run"
        );
    }
    for n in &old_netns {
        assert!(!netns.contains(n), "orphan netns {n} from the first run");
    }
    assert_eq!(containers.len(), 1, "{containers:?}");
    assert_eq!(netns.len(), 1, "{netns:?}");
    let pods = env.kubectl(&["get", "pods", "-o", "name"]);
    assert_eq!(pods.lines().count(), 1, "stale pods after restart: {pods}");
    env.finish();
}
