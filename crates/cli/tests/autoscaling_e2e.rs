//! Knative's autoscaling end to end with real runc instances: scale to zero after the
//! grace period (shortened through the `config-autoscaler` ConfigMap), scale from zero
//! on a request held by the gateway (the activator), bursts, min/max scale, the
//! activator leaving and joining the path under load with no failed request, and the
//! HPA class scaling on CPU.
//!
//! Needs root and runc; without them each test prints "skipped: …" and passes.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::serving::*;
use serde_json::Value;

/// Knative's shortest windows: scale to zero about 12 s after the last request.
const FAST_AUTOSCALER: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: knative-serving
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: config-autoscaler
  namespace: knative-serving
data:
  stable-window: "6s"
  scale-to-zero-grace-period: "6s"
  allow-zero-initial-scale: "true"
"#;

fn host(name: &str) -> String {
    format!("{name}.default.localhost")
}

fn with_annotations(annotations: &[(&str, &str)]) -> String {
    let mut s = String::from("annotations:\n");
    for (k, v) in annotations {
        s.push_str(&format!("        autoscaling.knative.dev/{k}: \"{v}\"\n"));
    }
    s
}

/// Pods (instances) of a Service, as `kubectl get pods -l` lists them.
fn pods(env: &Env, service: &str) -> Vec<Value> {
    env.get_json(&[
        "pods",
        "-l",
        &format!("serving.knative.dev/service={service}"),
    ])
    .and_then(|v| v["items"].as_array().cloned())
    .unwrap_or_default()
}

/// Waits until `f` holds, polling every 100 ms, at most `limit`.
#[track_caller]
fn wait_for(env: &Env, limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "{what}: not within {limit:?}\nserver log:\n{}",
        tail(&env.server.log(), 80)
    );
}

fn revision_condition(env: &Env, revision: &str, t: &str) -> Option<Value> {
    let rev = env.get_json(&["revision", revision])?;
    condition(&rev, t).cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_to_zero_after_the_grace_period_and_back_on_a_request() {
    skip_unless_supported!();
    let env = Env::start();
    env.apply(FAST_AUTOSCALER);
    env.apply(&ksvc("idle", "", &env_target("Zero"), ""));
    env.wait_ksvc_ready("idle", Some("idle-00001"));
    env.wait_body(&host("idle"), "Hello Zero!\n").await;
    assert_eq!(pods(&env, "idle").len(), 1);

    // No traffic: the revision goes to zero, stays Ready, and says why it is inactive.
    wait_for(&env, Duration::from_secs(45), "scaled to zero", || {
        pods(&env, "idle").is_empty() && env.netns().is_empty()
    });
    let active = revision_condition(&env, "idle-00001", "Active").unwrap();
    assert_eq!(active["status"], "False", "{active}");
    assert_eq!(active["reason"], "NoTraffic", "{active}");
    let ready = revision_condition(&env, "idle-00001", "Ready").unwrap();
    assert_eq!(
        ready["status"], "True",
        "a scaled-to-zero revision stays Ready"
    );
    let kpa = env
        .get_json(&["kpa", "idle-00001"])
        .expect("the PodAutoscaler");
    assert_eq!(kpa["status"]["desiredScale"], 0, "{kpa}");

    // A request wakes it: held by the gateway until the instance is ready.
    let started = Instant::now();
    let answer = env.get(&host("idle"), "/").await.unwrap();
    assert_eq!(answer, (200, "Hello Zero!\n".to_string()));
    let cold = started.elapsed();
    eprintln!("cold start through skiff: {cold:?}");
    assert!(cold < Duration::from_secs(5), "cold start took {cold:?}");
    assert_eq!(pods(&env, "idle").len(), 1);
    wait_for(&env, Duration::from_secs(10), "active again", || {
        revision_condition(&env, "idle-00001", "Active").is_some_and(|c| c["status"] == "True")
    });
    env.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_from_zero_is_served_and_scales_out() {
    skip_unless_supported!();
    let env = Env::start();
    env.apply(FAST_AUTOSCALER);
    // Starts at zero (initial-scale 0), at most 5 requests per instance.
    env.apply(&ksvc(
        "burst",
        &with_annotations(&[("initial-scale", "0")]),
        "",
        "      containerConcurrency: 5\n",
    ));
    env.wait_ksvc_ready("burst", Some("burst-00001"));
    assert!(
        pods(&env, "burst").is_empty(),
        "initial-scale 0 starts none"
    );

    let env = Arc::new(env);
    let most = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (env, most, done) = (env.clone(), most.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                most.fetch_max(pods(&env, "burst").len(), Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let env = env.clone();
            tokio::spawn(async move { env.get(&host("burst"), "/sleep?ms=1500").await })
        })
        .collect();
    for r in requests {
        let (status, body) = r.await.unwrap().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    done.store(true, Ordering::SeqCst);
    sampler.join().unwrap();
    // 50 in flight, 5 per instance at 70% utilisation → Knative wants ⌈50/3.5⌉ = 15.
    let most = most.load(Ordering::SeqCst);
    assert!(most >= 8, "only {most} instances for a burst of 50 at cc 5");
    Arc::try_unwrap(env).ok().unwrap().finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_scale_keeps_instances_and_max_scale_caps_them() {
    skip_unless_supported!();
    let env = Env::start();
    env.apply(FAST_AUTOSCALER);
    env.apply(&ksvc(
        "floor",
        &with_annotations(&[("min-scale", "2")]),
        "",
        "",
    ));
    env.apply(&ksvc(
        "ceiling",
        &with_annotations(&[("max-scale", "2")]),
        "",
        "      containerConcurrency: 1\n",
    ));
    env.wait_ksvc_ready("floor", None);
    env.wait_ksvc_ready("ceiling", None);
    wait_for(&env, Duration::from_secs(20), "min-scale 2 reached", || {
        pods(&env, "floor").len() == 2
    });

    let env = Arc::new(env);
    let most = Arc::new(AtomicUsize::new(0));
    let requests: Vec<_> = (0..12)
        .map(|_| {
            let env = env.clone();
            tokio::spawn(async move { env.get(&host("ceiling"), "/sleep?ms=1000").await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        most.fetch_max(pods(&env, "ceiling").len(), Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for r in requests {
        assert_eq!(r.await.unwrap().unwrap().0, 200);
    }
    let most = most.load(Ordering::SeqCst);
    assert!(most <= 2, "max-scale 2 but {most} instances");
    assert!(most >= 1);

    // Past the stable window and the grace period with no traffic: min-scale holds.
    tokio::time::sleep(Duration::from_secs(16)).await;
    assert_eq!(
        pods(&env, "floor").len(),
        2,
        "min-scale 2 keeps two instances"
    );
    Arc::try_unwrap(env).ok().unwrap().finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_activator_joins_and_leaves_the_path_under_load_without_failures() {
    skip_unless_supported!();
    let env = Env::start();
    env.apply(FAST_AUTOSCALER);
    // A target burst capacity of 5: with one instance (total 100) and light load the
    // gateway sends straight to instances; at zero it holds requests (activator).
    env.apply(&ksvc(
        "flip",
        &with_annotations(&[("target-burst-capacity", "5")]),
        "",
        "",
    ));
    env.wait_ksvc_ready("flip", Some("flip-00001"));
    let env = Arc::new(env);
    let failures = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    let load = |secs: u64| {
        let (env, failures, served) = (env.clone(), failures.clone(), served.clone());
        async move {
            let until = Instant::now() + Duration::from_secs(secs);
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    let (env, failures, served) = (env.clone(), failures.clone(), served.clone());
                    tokio::spawn(async move {
                        let mut n = 0;
                        while Instant::now() < until && n < 2000 {
                            match env.get(&host("flip"), "/sleep?ms=20").await {
                                Ok((200, _)) => served.fetch_add(1, Ordering::SeqCst),
                                other => {
                                    eprintln!("failed request: {other:?}");
                                    failures.fetch_add(1, Ordering::SeqCst)
                                }
                            };
                            n += 1;
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.unwrap();
            }
        }
    };
    // Direct (instances up), then idle to zero (activator in the path), then load
    // again from zero (activator holds, instance starts, direct again).
    load(4).await;
    let metrics = |env: &Env| -> Option<f64> {
        let text = reqwest_blocking_metrics(env);
        text.lines()
            .find(|l| l.starts_with("excess_burst_capacity{") && l.contains("flip-00001"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    let before = metrics(&env);
    assert!(
        before.is_some_and(|e| e >= 0.0),
        "excess burst capacity with an instance and light load: {before:?}"
    );
    wait_for(&env, Duration::from_secs(45), "scaled to zero", || {
        pods(&env, "flip").is_empty()
    });
    let at_zero = metrics(&env);
    assert!(
        at_zero.is_some_and(|e| e < 0.0),
        "at zero the activator is in the path: {at_zero:?}"
    );
    load(4).await;
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    assert!(served.load(Ordering::SeqCst) > 100);
    Arc::try_unwrap(env).ok().unwrap().finish();
}

/// `/metrics` of the gateway's admin port.
fn reqwest_blocking_metrics(env: &Env) -> String {
    let url = format!("http://{}/metrics", env.server.metrics);
    std::process::Command::new("curl")
        .args(["-sf", &url])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hpa_class_scales_on_cpu() {
    skip_unless_supported!();
    let env = Env::start();
    env.apply(FAST_AUTOSCALER);
    env.apply(&ksvc(
        "cpu",
        &with_annotations(&[
            ("class", "hpa.autoscaling.knative.dev"),
            ("metric", "cpu"),
            ("target", "50"),
            ("max-scale", "3"),
        ]),
        "        resources:\n          requests:\n            cpu: 100m\n",
        "",
    ));
    env.wait_ksvc_ready("cpu", Some("cpu-00001"));
    assert_eq!(pods(&env, "cpu").len(), 1);
    let env = Arc::new(env);
    // Two clients keeping an instance's CPU busy: ~10× its 100m request.
    let until = Instant::now() + Duration::from_secs(25);
    let burners: Vec<_> = (0..2)
        .map(|_| {
            let env = env.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < until && n < 500 {
                    let _ = env.get(&host("cpu"), "/burn?ms=200").await;
                    n += 1;
                }
            })
        })
        .collect();
    let grew = {
        let env = env.clone();
        tokio::task::spawn_blocking(move || {
            let deadline = Instant::now() + Duration::from_secs(25);
            while Instant::now() < deadline {
                if pods(&env, "cpu").len() >= 2 {
                    return true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            false
        })
        .await
        .unwrap()
    };
    for b in burners {
        b.await.unwrap();
    }
    assert!(grew, "the HPA class did not scale out on CPU use");
    assert!(pods(&env, "cpu").len() <= 3, "max-scale 3");
    Arc::try_unwrap(env).ok().unwrap().finish();
}
