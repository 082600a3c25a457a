//! The serving controllers against an in-process API server, a fake runtime and a fake
//! image source: Knative's walkthroughs and failure reasons.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;
use skiff_api::clock::ManualClock;
use skiff_api::v1::{Configuration, Revision, Route, Service};
use skiff_runtime::Phase;
use skiff_serving::ServingOptions;

fn hello(target: &str) -> serde_json::Value {
    json!({
        "apiVersion": "serving.knative.dev/v1", "kind": "Service",
        "metadata": {"name": "hello"},
        "spec": {"template": {"spec": {"containers": [{
            "image": "example.com/helloworld-go:latest",
            "env": [{"name": "TARGET", "value": target}]
        }]}}}
    })
}

async fn ready_service(client: &kube::Client, name: &str) -> Service {
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    eventually(&format!("service {name} ready"), || async {
        let s = api.get(name).await.ok()?;
        let st = s.status.as_ref()?;
        (st.status.observed_generation == s.metadata.generation
            && condition(st.status.conditions.as_ref(), "Ready")?.0 == "True")
            .then_some(s)
    })
    .await
}

#[tokio::test]
async fn helloworld_update_and_delete() {
    let h = start(ServingOptions::default()).await;
    let c = &h.client;
    create::<Service>(c, hello("World")).await;
    let svc = ready_service(c, "hello").await;
    let st = svc.status.clone().unwrap();
    assert_eq!(
        st.route.url.as_deref(),
        Some("http://hello.default.localhost")
    );
    assert_eq!(
        st.route.address.as_ref().unwrap().url.as_deref(),
        Some("http://hello.default.svc.cluster.local")
    );
    assert_eq!(
        st.configuration.latest_created_revision_name.as_deref(),
        Some("hello-00001")
    );
    assert_eq!(
        st.configuration.latest_ready_revision_name.as_deref(),
        Some("hello-00001")
    );
    let traffic = st.route.traffic.clone().unwrap();
    assert_eq!(traffic.len(), 1);
    assert_eq!(traffic[0].revision_name.as_deref(), Some("hello-00001"));
    assert_eq!(traffic[0].percent, Some(100));
    assert_eq!(traffic[0].latest_revision, Some(true));
    for t in ["ConfigurationsReady", "RoutesReady"] {
        assert_eq!(
            condition(st.status.conditions.as_ref(), t).unwrap().0,
            "True"
        );
    }

    // Once settled, nothing is rewritten (no status ping-pong between controllers).
    let versions = || async {
        let mut v = vec![];
        let svcs: Api<Service> = Api::namespaced(c.clone(), "default");
        let configs: Api<Configuration> = Api::namespaced(c.clone(), "default");
        let routes: Api<Route> = Api::namespaced(c.clone(), "default");
        let revs: Api<Revision> = Api::namespaced(c.clone(), "default");
        v.push(svcs.get("hello").await.unwrap().metadata.resource_version);
        v.push(
            configs
                .get("hello")
                .await
                .unwrap()
                .metadata
                .resource_version,
        );
        v.push(routes.get("hello").await.unwrap().metadata.resource_version);
        v.push(
            revs.get("hello-00001")
                .await
                .unwrap()
                .metadata
                .resource_version,
        );
        v
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = versions().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        before,
        versions().await,
        "objects keep changing when nothing happens"
    );

    // Owned children with Knative's labels.
    let svc_uid = svc.metadata.uid.clone().unwrap();
    let config: Configuration = Api::namespaced(c.clone(), "default")
        .get("hello")
        .await
        .unwrap();
    let route: Route = Api::namespaced(c.clone(), "default")
        .get("hello")
        .await
        .unwrap();
    for meta in [&config.metadata, &route.metadata] {
        let owner = &meta.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (owner.kind.as_str(), owner.uid.as_str()),
            ("Service", svc_uid.as_str())
        );
        assert_eq!(owner.controller, Some(true));
        assert_eq!(owner.block_owner_deletion, Some(true));
        assert_eq!(
            meta.labels.as_ref().unwrap()["serving.knative.dev/service"],
            "hello"
        );
    }
    assert_eq!(
        route.spec.traffic.as_ref().unwrap()[0]
            .configuration_name
            .as_deref(),
        Some("hello")
    );
    let revs: Api<Revision> = Api::namespaced(c.clone(), "default");
    let rev = revs.get("hello-00001").await.unwrap();
    let labels = rev.metadata.labels.clone().unwrap();
    assert_eq!(labels["serving.knative.dev/configuration"], "hello");
    assert_eq!(labels["serving.knative.dev/configurationGeneration"], "1");
    assert_eq!(labels["serving.knative.dev/service"], "hello");
    assert_eq!(labels["serving.knative.dev/serviceUID"], svc_uid);
    assert_eq!(
        labels["serving.knative.dev/configurationUID"],
        config.metadata.uid.clone().unwrap()
    );
    let owner = &rev.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Configuration", "hello")
    );
    assert_eq!(rev.spec.containers[0].name, "user-container");
    let rst = rev.status.clone().unwrap();
    let digest = format!(
        "example.com/helloworld-go@{}",
        digest_of("example.com/helloworld-go:latest")
    );
    assert_eq!(
        rst.container_statuses.as_ref().unwrap()[0]
            .image_digest
            .as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(rst.actual_replicas, Some(1));
    assert_eq!(rst.desired_replicas, Some(1));
    for t in ["ResourcesAvailable", "ContainerHealthy", "Active", "Ready"] {
        assert_eq!(
            condition(rst.status.conditions.as_ref(), t).unwrap().0,
            "True",
            "{t}"
        );
    }

    // One instance, described as Knative describes its pod.
    let started = h.runtime.started.lock().unwrap().clone();
    assert_eq!(started.len(), 1);
    let spec = &started[0];
    assert!(
        spec.pod_name.starts_with("hello-00001-deployment-"),
        "{}",
        spec.pod_name
    );
    assert_eq!(spec.port, 8080);
    assert_eq!(spec.labels["serving.knative.dev/revision"], "hello-00001");
    assert_eq!(
        spec.labels["serving.knative.dev/revisionUID"],
        rev.metadata.uid.clone().unwrap()
    );
    assert_eq!(spec.labels["app"], "hello-00001");
    assert_eq!(spec.labels["serving.knative.dev/service"], "hello");
    let env: Vec<(&str, &str)> = spec
        .platform_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for kv in [
        ("PORT", "8080"),
        ("K_REVISION", "hello-00001"),
        ("K_CONFIGURATION", "hello"),
        ("K_SERVICE", "hello"),
    ] {
        assert!(env.contains(&kv), "{kv:?} in {env:?}");
    }
    assert_eq!(
        spec.image.digest,
        digest_of("example.com/helloworld-go:latest")
    );
    assert_eq!(
        spec.container.env.as_ref().unwrap()[0].value.as_deref(),
        Some("World")
    );

    // The gateway routes the host to the revision, which has an endpoint.
    let mut gw = h.serving.gateway.clone();
    let cfg = gw.borrow_and_update().clone();
    let host = &cfg.hosts["hello.default.localhost"];
    assert_eq!(host.splits.len(), 1);
    assert_eq!(host.splits[0].revision, key("hello-00001"));
    assert_eq!(host.splits[0].percent, 100);
    let eps = h.serving.endpoints.clone();
    eventually("endpoints of hello-00001", || async {
        let e = eps.borrow().clone();
        let r = e.revisions.get(&key("hello-00001"))?;
        (r.addresses.len() == 1
            && r.service == "hello"
            && r.configuration == "hello"
            && r.timeout == Duration::from_secs(300))
        .then_some(())
    })
    .await;

    // Update: a second revision takes all traffic once ready; the first stops running.
    let svcs: Api<Service> = Api::namespaced(c.clone(), "default");
    svcs.patch(
        "hello",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{
            "image": "example.com/helloworld-go:latest",
            "env": [{"name": "TARGET", "value": "Skiff"}]
        }]}}}})),
    )
    .await
    .unwrap();
    eventually("traffic on hello-00002", || async {
        let s = svcs.get("hello").await.ok()?;
        let st = s.status?;
        let t = st.route.traffic?;
        (s.metadata.generation == st.status.observed_generation
            && t.len() == 1
            && t[0].revision_name.as_deref() == Some("hello-00002")
            && condition(st.status.conditions.as_ref(), "Ready")?.0 == "True")
            .then_some(())
    })
    .await;
    let cfg = h.serving.gateway.borrow().clone();
    assert_eq!(
        cfg.hosts["hello.default.localhost"].splits[0].revision,
        key("hello-00002")
    );
    eventually("hello-00001 scaled to zero", || async {
        h.runtime
            .live("default", "hello-00001")
            .is_empty()
            .then_some(())
    })
    .await;
    assert_eq!(h.runtime.live("default", "hello-00002").len(), 1);
    let old = eventually("hello-00001 inactive", || async {
        let r = revs.get("hello-00001").await.ok()?;
        let c = condition(r.status.as_ref()?.status.conditions.as_ref(), "Active")?;
        (c.0 == "False" && c.1 == "NoTraffic").then_some(r)
    })
    .await;
    assert_eq!(
        condition(old.status.unwrap().status.conditions.as_ref(), "Ready")
            .unwrap()
            .0,
        "True",
        "a revision without traffic stays Ready"
    );
    // Knative's route labeler: the old revision is in reserve, the new one active.
    eventually("routing states", || async {
        let state = |r: &Revision| {
            r.metadata
                .labels
                .as_ref()?
                .get("serving.knative.dev/routingState")
                .cloned()
        };
        let old = revs.get("hello-00001").await.ok()?;
        let new = revs.get("hello-00002").await.ok()?;
        let routes = new
            .metadata
            .annotations
            .as_ref()?
            .get("serving.knative.dev/routes")?
            .clone();
        (state(&old)? == "reserve" && state(&new)? == "active" && routes == "hello").then_some(())
    })
    .await;

    // Delete: everything owned goes, and every instance stops.
    svcs.delete("hello", &DeleteParams::default())
        .await
        .unwrap();
    eventually("all instances stopped", || async {
        (h.runtime.live_total() == 0).then_some(())
    })
    .await;
    eventually("revisions collected", || async {
        revs.list(&Default::default())
            .await
            .ok()?
            .items
            .is_empty()
            .then_some(())
    })
    .await;
    eventually("host unpublished", || async {
        (!h.serving
            .gateway
            .borrow()
            .hosts
            .contains_key("hello.default.localhost"))
        .then_some(())
    })
    .await;
}

#[tokio::test]
async fn named_revisions_split_and_tags() {
    let h = start(ServingOptions {
        url_port: Some(8080),
        ..Default::default()
    })
    .await;
    let c = &h.client;
    let svc = |rev: &str, target: &str, traffic: serde_json::Value| {
        json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "hello"},
            "spec": {
                "template": {
                    "metadata": {"name": rev},
                    "spec": {"containers": [{
                        "image": "example.com/helloworld-go:latest",
                        "env": [{"name": "TARGET", "value": target}]
                    }]}
                },
                "traffic": traffic
            }
        })
    };
    create::<Service>(
        c,
        svc(
            "hello-v1",
            "v1",
            json!([{"latestRevision": true, "percent": 100}]),
        ),
    )
    .await;
    let s = ready_service(c, "hello").await;
    assert_eq!(
        s.status.unwrap().route.url.as_deref(),
        Some("http://hello.default.localhost:8080")
    );
    let svcs: Api<Service> = Api::namespaced(c.clone(), "default");
    let mut cur = svcs.get("hello").await.unwrap();
    let next: Service = serde_json::from_value(svc(
        "hello-v2",
        "v2",
        json!([
            {"tag": "v1", "revisionName": "hello-v1", "percent": 50},
            {"tag": "v2", "revisionName": "hello-v2", "percent": 50}
        ]),
    ))
    .unwrap();
    cur.spec = next.spec;
    svcs.replace("hello", &PostParams::default(), &cur)
        .await
        .unwrap();
    let st = eventually("50/50 split", || async {
        let s = svcs.get("hello").await.ok()?;
        let st = s.status?;
        (st.status.observed_generation == s.metadata.generation
            && st.route.traffic.as_ref()?.len() == 2
            && condition(st.status.conditions.as_ref(), "Ready")?.0 == "True")
            .then_some(st)
    })
    .await;
    let t = st.route.traffic.unwrap();
    assert_eq!(t[0].revision_name.as_deref(), Some("hello-v1"));
    assert_eq!(
        t[0].url.as_deref(),
        Some("http://v1-hello.default.localhost:8080")
    );
    assert_eq!(t[0].latest_revision, Some(false));
    assert_eq!(t[1].revision_name.as_deref(), Some("hello-v2"));
    assert_eq!(
        t[1].url.as_deref(),
        Some("http://v2-hello.default.localhost:8080")
    );
    assert_eq!(
        st.configuration.latest_ready_revision_name.as_deref(),
        Some("hello-v2")
    );
    let cfg = h.serving.gateway.borrow().clone();
    let main = &cfg.hosts["hello.default.localhost"];
    let mut splits: Vec<(String, u32)> = main
        .splits
        .iter()
        .map(|s| (s.revision.name.clone(), s.percent))
        .collect();
    splits.sort();
    assert_eq!(
        splits,
        vec![("hello-v1".into(), 50), ("hello-v2".into(), 50)]
    );
    let v1 = &cfg.hosts["v1-hello.default.localhost"];
    assert_eq!(v1.tag.as_deref(), Some("v1"));
    assert_eq!(v1.splits[0].revision, key("hello-v1"));
    assert_eq!(v1.splits[0].percent, 100);
    assert_eq!(
        cfg.hosts["v2-hello.default.localhost"].splits[0].revision,
        key("hello-v2")
    );
    // Both take traffic, so both run.
    assert_eq!(h.runtime.live("default", "hello-v1").len(), 1);
    eventually("hello-v2 running", || async {
        (h.runtime.live("default", "hello-v2").len() == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn standalone_configuration_and_route() {
    let h = start(ServingOptions::default()).await;
    let c = &h.client;
    create::<Configuration>(
        c,
        json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Configuration",
            "metadata": {"name": "tester"},
            "spec": {"template": {"spec": {"containers": [{"image": "example.com/helloworld-go"}]}}}
        }),
    )
    .await;
    create::<Route>(
        c,
        json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Route",
            "metadata": {"name": "tester-route"},
            "spec": {"traffic": [{"configurationName": "tester", "percent": 100}]}
        }),
    )
    .await;
    let routes: Api<Route> = Api::namespaced(c.clone(), "default");
    let r = eventually("tester-route ready", || async {
        let r = routes.get("tester-route").await.ok()?;
        (condition(r.status.as_ref()?.status.conditions.as_ref(), "Ready")?.0 == "True")
            .then_some(r)
    })
    .await;
    let st = r.status.unwrap();
    assert_eq!(
        st.route.url.as_deref(),
        Some("http://tester-route.default.localhost")
    );
    assert_eq!(
        st.route.traffic.unwrap()[0].revision_name.as_deref(),
        Some("tester-00001")
    );
    for t in [
        "AllTrafficAssigned",
        "IngressReady",
        "CertificateProvisioned",
    ] {
        assert_eq!(
            condition(st.status.conditions.as_ref(), t).unwrap().0,
            "True"
        );
    }
    let rev: Revision = Api::namespaced(c.clone(), "default")
        .get("tester-00001")
        .await
        .unwrap();
    assert!(!rev
        .metadata
        .labels
        .unwrap()
        .contains_key("serving.knative.dev/service"));
    assert!(h
        .serving
        .gateway
        .borrow()
        .hosts
        .contains_key("tester-route.default.localhost"));

    // A Route to a configuration that does not exist says so.
    create::<Route>(
        c,
        json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Route",
            "metadata": {"name": "nowhere"},
            "spec": {"traffic": [{"configurationName": "nope", "percent": 100}]}
        }),
    )
    .await;
    let cond = eventually("nowhere reports the missing configuration", || async {
        let r = routes.get("nowhere").await.ok()?;
        let c = condition(
            r.status.as_ref()?.status.conditions.as_ref(),
            "AllTrafficAssigned",
        )?;
        (c.0 == "False").then_some(c)
    })
    .await;
    assert_eq!(cond.1, "ConfigurationMissing");
    assert!(!h
        .serving
        .gateway
        .borrow()
        .hosts
        .contains_key("nowhere.default.localhost"));
}

#[tokio::test]
async fn bad_image_is_container_missing() {
    let h = start(ServingOptions::default()).await;
    let c = &h.client;
    create::<Service>(
        c,
        json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "broken"},
            "spec": {"template": {"spec": {"containers": [{"image": "example.com/bad:v1"}]}}}
        }),
    )
    .await;
    let revs: Api<Revision> = Api::namespaced(c.clone(), "default");
    let ready = eventually("broken-00001 failed", || async {
        let r = revs.get("broken-00001").await.ok()?;
        let c = condition(r.status.as_ref()?.status.conditions.as_ref(), "Ready")?;
        (c.0 == "False").then_some(c)
    })
    .await;
    assert_eq!(ready.1, "ContainerMissing");
    assert!(
        ready
            .2
            .contains("Unable to fetch image \"example.com/bad:v1\""),
        "{}",
        ready.2
    );
    let svcs: Api<Service> = Api::namespaced(c.clone(), "default");
    let (ready, configs) = eventually("service reports the failure", || async {
        let s = svcs.get("broken").await.ok()?;
        let conds = s.status?.status.conditions;
        let r = condition(conds.as_ref(), "Ready")?;
        let cr = condition(conds.as_ref(), "ConfigurationsReady")?;
        (r.0 == "False" && cr.0 == "False").then_some((r, cr))
    })
    .await;
    assert_eq!(configs.1, "RevisionFailed");
    assert!(configs.2.contains("broken-00001"), "{}", configs.2);
    assert_eq!(ready.1, "RevisionFailed");
    assert!(h.runtime.started.lock().unwrap().is_empty());
}

#[tokio::test]
async fn crashing_container_reports_exit_code() {
    let h = start(ServingOptions::default()).await;
    create::<Service>(
        &h.client,
        json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "crasher"},
            "spec": {"template": {"spec": {"containers": [{
                "image": "example.com/app", "env": [{"name": "CRASH", "value": "1"}]
            }]}}}
        }),
    )
    .await;
    let revs: Api<Revision> = Api::namespaced(h.client.clone(), "default");
    let (ready, healthy) = eventually("crasher-00001 failed", || async {
        let r = revs.get("crasher-00001").await.ok()?;
        let conds = r.status?.status.conditions;
        let ready = condition(conds.as_ref(), "Ready")?;
        (ready.0 == "False").then_some((ready, condition(conds.as_ref(), "ContainerHealthy")?))
    })
    .await;
    assert_eq!(ready.1, "ExitCode1");
    assert_eq!(healthy.0, "False");
    assert_eq!(healthy.1, "ExitCode1");
    assert_eq!(healthy.2, "Container failed with: exit status 1");
}

#[tokio::test]
async fn progress_deadline_exceeded() {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let h = start(ServingOptions {
        clock: clock.clone(),
        ..Default::default()
    })
    .await;
    create::<Service>(
        &h.client,
        json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "slow"},
            "spec": {"template": {"spec": {"containers": [{
                "image": "example.com/app", "env": [{"name": "HANG", "value": "1"}]
            }]}}}
        }),
    )
    .await;
    eventually("slow instance started", || async {
        (h.runtime.live("default", "slow-00001").len() == 1).then_some(())
    })
    .await;
    let revs: Api<Revision> = Api::namespaced(h.client.clone(), "default");
    let r = revs.get("slow-00001").await.unwrap();
    assert_eq!(
        condition(
            r.status.unwrap().status.conditions.as_ref(),
            "ResourcesAvailable"
        )
        .unwrap()
        .1,
        "Deploying"
    );
    // creationTimestamp comes from the API server's wall clock, so the test clock (set to
    // the wall clock when the test began) is moved well past the 600 s deadline: however
    // long the set-up took in real time, the deadline has then passed.
    clock.advance(Duration::from_secs(900));
    let ready = eventually("slow-00001 past its deadline", || async {
        let r = revs.get("slow-00001").await.ok()?;
        let c = condition(r.status?.status.conditions.as_ref(), "Ready")?;
        (c.0 == "False").then_some(c)
    })
    .await;
    assert_eq!(ready.1, "ProgressDeadlineExceeded");
    assert_eq!(ready.2, "Initial scale was never achieved");
}

#[tokio::test]
async fn config_domain_changes_urls() {
    let h = start(ServingOptions::default()).await;
    let c = &h.client;
    create::<Service>(c, hello("World")).await;
    ready_service(c, "hello").await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "knative-serving");
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "config-domain"},
        "data": {"example.com": "", "_example": "ignored"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let svcs: Api<Service> = Api::namespaced(c.clone(), "default");
    let url = |want: &'static str| {
        let svcs = svcs.clone();
        async move {
            eventually(want, || async {
                let s = svcs.get("hello").await.ok()?;
                (s.status?.route.url.as_deref() == Some(want)).then_some(())
            })
            .await
        }
    };
    url("http://hello.default.example.com").await;
    assert!(h
        .serving
        .gateway
        .borrow()
        .hosts
        .contains_key("hello.default.example.com"));
    assert!(!h
        .serving
        .gateway
        .borrow()
        .hosts
        .contains_key("hello.default.localhost"));
    cms.patch(
        "config-domain",
        &PatchParams::default(),
        &Patch::Json::<()>(
            serde_json::from_value(json!([
                {"op": "replace", "path": "/data", "value": {"127.0.0.1.sslip.io": ""}}
            ]))
            .unwrap(),
        ),
    )
    .await
    .unwrap();
    url("http://hello.default.127.0.0.1.sslip.io").await;
    cms.delete("config-domain", &DeleteParams::default())
        .await
        .unwrap();
    url("http://hello.default.localhost").await;
}

#[tokio::test]
async fn cluster_local_and_min_scale() {
    let h = start(ServingOptions {
        url_port: Some(8080),
        ..Default::default()
    })
    .await;
    create::<Service>(
        &h.client,
        json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "private", "labels": {"networking.knative.dev/visibility": "cluster-local"}},
            "spec": {"template": {
                "metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "2"}},
                "spec": {"containers": [{"image": "example.com/app", "ports": [{"containerPort": 9000}]}]}
            }}
        }),
    )
    .await;
    let s = ready_service(&h.client, "private").await;
    assert_eq!(
        s.status.unwrap().route.url.as_deref(),
        Some("http://private.default.svc.cluster.local")
    );
    assert!(h.serving.gateway.borrow().hosts.is_empty());
    let live = h.runtime.live("default", "private-00001");
    assert_eq!(live.len(), 2);
    assert!(live.iter().all(|i| i.phase == Phase::Ready));
    let started = h.runtime.started.lock().unwrap().clone();
    assert!(started.iter().all(|s| s.port == 9000));
    assert_ne!(started[0].pod_name, started[1].pod_name);
    let rev: Revision = Api::namespaced(h.client.clone(), "default")
        .get("private-00001")
        .await
        .unwrap();
    assert_eq!(
        rev.metadata.annotations.unwrap()["autoscaling.knative.dev/min-scale"],
        "2"
    );
}

#[tokio::test]
async fn volumes_and_missing_config_map() {
    let h = start(ServingOptions::default()).await;
    let c = &h.client;
    create::<Service>(
        c,
        json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "vols"},
            "spec": {"template": {"spec": {
                "containers": [{
                    "image": "example.com/app",
                    "env": [{"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}}],
                    "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}]
                }],
                "volumes": [{"name": "cfg", "configMap": {"name": "settings"}}]
            }}}
        }),
    )
    .await;
    let revs: Api<Revision> = Api::namespaced(c.clone(), "default");
    let ra = eventually("missing configmap reported", || async {
        let r = revs.get("vols-00001").await.ok()?;
        let c = condition(r.status?.status.conditions.as_ref(), "ResourcesAvailable")?;
        (c.0 == "False").then_some(c)
    })
    .await;
    assert_eq!(ra.1, "CreateContainerConfigError");
    assert!(ra.2.contains("settings"), "{}", ra.2);
    create::<ConfigMap>(
        c,
        json!({"metadata": {"name": "settings"}, "data": {"greeting": "hi", "app.conf": "x=1"}}),
    )
    .await;
    // The revision is retried (error requeue) and starts once the ConfigMap exists.
    ready_service(c, "vols").await;
    let spec = h.runtime.started.lock().unwrap()[0].clone();
    assert_eq!(spec.file_mounts[0].mount_path, "/etc/app");
    assert_eq!(spec.file_mounts[0].files["app.conf"], b"x=1");
    let env = spec.container.env.unwrap();
    assert_eq!(env[0].name, "GREETING");
    assert_eq!(env[0].value.as_deref(), Some("hi"));
}

/// Each Revision gets a PodAutoscaler it owns; with `initial-scale: 0` nothing runs and
/// the Revision is still Ready (Active False, NoTraffic); a request waiting at zero
/// (a poke from the gateway) scales it to one instance at once.
#[tokio::test]
async fn pod_autoscaler_per_revision_and_scale_from_zero_on_a_poke() {
    let options = ServingOptions::default();
    let stats = options.scaling_stats.clone();
    let h = start(options).await;
    let c = &h.client;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "knative-serving");
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "metadata": {"name": "config-autoscaler"},
            "data": {"allow-zero-initial-scale": "true"}
        }))
        .unwrap(),
    )
    .await
    .unwrap();
    let mut svc = hello("Zero");
    svc["spec"]["template"]["metadata"] =
        json!({"annotations": {"autoscaling.knative.dev/initial-scale": "0"}});
    create::<Service>(c, svc).await;
    ready_service(c, "hello").await;

    let pas: Api<skiff_api::autoscaling::v1alpha1::PodAutoscaler> =
        Api::namespaced(c.clone(), "default");
    let pa = eventually("the revision's PodAutoscaler at scale 0", || async {
        let pa = pas.get("hello-00001").await.ok()?;
        (pa.status.as_ref()?.desired_scale == Some(0)).then_some(pa)
    })
    .await;
    let owner = &pa.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Revision", "hello-00001")
    );
    assert_eq!(pa.spec.reachability.as_deref(), Some("Reachable"));
    assert!(h.runtime.live("default", "hello-00001").is_empty());
    let revs: Api<Revision> = Api::namespaced(c.clone(), "default");
    let rev = revs.get("hello-00001").await.unwrap();
    let conds = rev.status.as_ref().unwrap().status.conditions.as_ref();
    assert_eq!(condition(conds, "Ready").unwrap().0, "True");
    let active = condition(conds, "Active").unwrap();
    assert_eq!(
        (active.0.as_str(), active.1.as_str()),
        ("False", "NoTraffic")
    );

    // A request held at zero.
    stats.poke(&skiff_runtime::RevisionKey {
        namespace: "default".into(),
        name: "hello-00001".into(),
    });
    eventually("one instance after the poke", || async {
        (h.runtime.live("default", "hello-00001").len() == 1).then_some(())
    })
    .await;
    eventually("the PodAutoscaler and Revision report it", || async {
        let pa = pas.get("hello-00001").await.ok()?;
        let st = pa.status.as_ref()?;
        let rev = revs.get("hello-00001").await.ok()?;
        let rst = rev.status.as_ref()?;
        (st.desired_scale == Some(1)
            && st.actual_scale == Some(1)
            && rst.actual_replicas == Some(1)
            && condition(rst.status.conditions.as_ref(), "Active")?.0 == "True")
            .then_some(())
    })
    .await;
}
