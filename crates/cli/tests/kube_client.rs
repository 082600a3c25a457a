//! A real `kube::Client`, built from the kubeconfig `skiff server` writes, against a
//! real server: CRUD, patches, the status subresource, generation, conflicts, selectors,
//! pagination, cascading deletion, finalizers, watches (raw and `kube::runtime::watcher`,
//! across a server restart), too-old resourceVersions and Table output.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Client, ResourceExt};
use serde_json::{json, Value};

use common::TestServer;

/// Polls an async condition until it returns Some, with a deadline.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn api_error(e: kube::Error) -> kube::core::Status {
    match e {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn cm(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    }
}

fn ksvc_api(client: Client) -> Api<DynamicObject> {
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("serving.knative.dev", "v1", "Service"),
        "services",
    );
    Api::namespaced_with(client, "default", &ar)
}

fn ksvc(name: &str, target: &str) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"containers": [{
            "image": "ghcr.io/knative/helloworld-go:latest",
            "env": [{"name": "TARGET", "value": target}]
        }]}}}
    }))
    .unwrap()
}

fn generation(o: &DynamicObject) -> i64 {
    o.metadata.generation.unwrap()
}

#[tokio::test]
async fn crud_patches_and_conflicts() {
    let s = TestServer::start();
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());

    // Create, get, replace, list.
    let created = cms
        .create(&PostParams::default(), &cm("one", &[("a", "1")]))
        .await
        .unwrap();
    let uid = created.metadata.uid.clone().unwrap();
    assert!(created.metadata.creation_timestamp.is_some());
    let rv1: u64 = created.resource_version().unwrap().parse().unwrap();
    let got = cms.get("one").await.unwrap();
    assert_eq!(got.data.as_ref().unwrap()["a"], "1");
    let mut changed = got.clone();
    changed
        .data
        .as_mut()
        .unwrap()
        .insert("b".into(), "2".into());
    let replaced = cms
        .replace("one", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced.resource_version().unwrap().parse().unwrap();
    assert!(rv2 > rv1);
    assert_eq!(replaced.metadata.uid.as_deref(), Some(uid.as_str()));

    // A stale resourceVersion is a Conflict.
    let stale = cms
        .replace("one", &PostParams::default(), &got)
        .await
        .unwrap_err();
    let st = api_error(stale);
    assert_eq!((st.code, st.reason.as_str()), (409, "Conflict"), "{st:?}");
    assert!(
        st.message.contains("the object has been modified"),
        "{st:?}"
    );

    // Merge patch, then JSON patch.
    let p = cms
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"c": "3", "a": null}})),
        )
        .await
        .unwrap();
    assert_eq!(
        p.data.clone().unwrap(),
        BTreeMap::from([
            ("b".to_string(), "2".to_string()),
            ("c".to_string(), "3".to_string())
        ])
    );
    let jp: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/b", "value": "2"},
        {"op": "replace", "path": "/data/b", "value": "20"},
        {"op": "remove", "path": "/data/c"}
    ]))
    .unwrap();
    let p = cms
        .patch("one", &PatchParams::default(), &Patch::<()>::Json(jp))
        .await
        .unwrap();
    assert_eq!(
        p.data.clone().unwrap(),
        BTreeMap::from([("b".to_string(), "20".to_string())])
    );
    // A failing JSON-patch test refuses the whole patch.
    let bad: json_patch::Patch =
        serde_json::from_value(json!([{"op": "test", "path": "/data/b", "value": "nope"}]))
            .unwrap();
    assert!(cms
        .patch("one", &PatchParams::default(), &Patch::<()>::Json(bad))
        .await
        .is_err());

    // Existing name: AlreadyExists.
    let dup = api_error(
        cms.create(&PostParams::default(), &cm("one", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (dup.code, dup.reason.as_str()),
        (409, "AlreadyExists"),
        "{dup:?}"
    );

    // A namespace that does not exist: NotFound.
    let nowhere: Api<ConfigMap> = Api::namespaced(client.clone(), "nope");
    let missing = api_error(
        nowhere
            .create(&PostParams::default(), &cm("x", &[]))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (missing.code, missing.reason.as_str()),
        (404, "NotFound"),
        "{missing:?}"
    );
    assert!(
        missing.message.contains("namespaces \"nope\" not found"),
        "{missing:?}"
    );

    // generateName.
    let gen = ConfigMap {
        metadata: ObjectMeta {
            generate_name: Some("gen-".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let a = cms.create(&PostParams::default(), &gen).await.unwrap();
    let b = cms.create(&PostParams::default(), &gen).await.unwrap();
    assert!(
        a.name_any().starts_with("gen-") && a.name_any().len() == "gen-".len() + 5,
        "{}",
        a.name_any()
    );
    assert_ne!(a.name_any(), b.name_any());

    // Delete; then it is gone.
    cms.delete("one", &DeleteParams::default()).await.unwrap();
    let gone = api_error(cms.get("one").await.unwrap_err());
    assert_eq!(gone.code, 404);
    let names: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .map(|c| c.name_any())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");

    // The same verbs on a Knative Service through the dynamic API.
    let svcs = ksvc_api(client.clone());
    let created = svcs
        .create(&PostParams::default(), &ksvc("hello", "World"))
        .await
        .unwrap();
    assert_eq!(generation(&created), 1);
    assert_eq!(
        created.data["spec"]["template"]["spec"]["timeoutSeconds"],
        json!(300),
        "Knative defaults apply"
    );
    let p = svcs
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containerConcurrency": 5}}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        p.data["spec"]["template"]["spec"]["containerConcurrency"],
        json!(5)
    );
    assert_eq!(generation(&p), 2);
    let list = svcs.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    svcs.delete("hello", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(api_error(svcs.get("hello").await.unwrap_err()).code, 404);
}

#[tokio::test]
async fn status_subresource_and_generation() {
    let s = TestServer::start();
    let svcs = ksvc_api(s.client().await);
    svcs.create(&PostParams::default(), &ksvc("hello", "World"))
        .await
        .unwrap();

    // replace_status writes the status and nothing else.
    let mut o = svcs.get("hello").await.unwrap();
    o.data["status"] = json!({"observedGeneration": 1, "url": "http://hello.default.example.com", "latestReadyRevisionName": "hello-00001"});
    o.data["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("Ignored");
    let after = svcs
        .replace_status("hello", &PostParams::default(), &o)
        .await
        .unwrap();
    assert_eq!(
        after.data["status"]["url"],
        json!("http://hello.default.example.com")
    );
    assert_eq!(
        after.data["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        json!("World")
    );
    assert_eq!(generation(&after), 1);

    // patch_status too.
    let after = svcs
        .patch_status("hello", &PatchParams::default(), &Patch::Merge(json!({"status": {"latestCreatedRevisionName": "hello-00001"}, "spec": {"traffic": []}})))
        .await
        .unwrap();
    assert_eq!(
        after.data["status"]["latestCreatedRevisionName"],
        json!("hello-00001")
    );
    assert_eq!(
        after.data["status"]["url"],
        json!("http://hello.default.example.com")
    );
    assert_eq!(after.data["spec"]["traffic"][0]["percent"], json!(100));
    assert_eq!(generation(&after), 1);

    // A main-endpoint update ignores status, and a spec change bumps generation.
    let mut o = svcs.get("hello").await.unwrap();
    o.data["status"] = json!({"url": "http://evil.example.com"});
    o.data["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"] = json!("Skiff");
    let after = svcs
        .replace("hello", &PostParams::default(), &o)
        .await
        .unwrap();
    assert_eq!(
        after.data["status"]["url"],
        json!("http://hello.default.example.com")
    );
    assert_eq!(
        after.data["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        json!("Skiff")
    );
    assert_eq!(generation(&after), 2);

    // Metadata-only changes do not bump generation.
    let after = svcs
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"team": "a"}, "annotations": {"x": "y"}}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(generation(&after), 2);
    assert_eq!(after.labels()["team"], "a");
    // Neither does a no-op spec write.
    let after = svcs
        .replace("hello", &PostParams::default(), &after)
        .await
        .unwrap();
    assert_eq!(generation(&after), 2);
    let after = svcs
        .patch(
            "hello",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"timeoutSeconds": 60}}}})),
        )
        .await
        .unwrap();
    assert_eq!(generation(&after), 3);
}

#[tokio::test]
async fn selectors_and_pagination() {
    let s = TestServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client().await);
    for i in 0..25 {
        let mut c = cm(&format!("cm-{i:02}"), &[]);
        let mut labels = BTreeMap::from([(
            "tier".to_string(),
            ["web", "db", "cache"][i % 3].to_string(),
        )]);
        if i % 5 == 0 {
            labels.insert("canary".into(), "true".into());
        }
        c.metadata.labels = Some(labels);
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    let names = |sel: &'static str| {
        let cms = cms.clone();
        async move {
            let l = cms
                .list(&ListParams::default().labels(sel))
                .await
                .unwrap_or_else(|e| panic!("{sel}: {e}"));
            l.items.iter().map(|c| c.name_any()).collect::<Vec<_>>()
        }
    };
    assert_eq!(names("tier=web").await.len(), 9);
    assert_eq!(names("tier==db").await.len(), 8);
    assert_eq!(names("tier!=web").await.len(), 16);
    assert_eq!(names("tier in (db,cache)").await.len(), 16);
    assert_eq!(names("tier notin (db,cache)").await.len(), 9);
    assert_eq!(
        names("canary").await,
        ["cm-00", "cm-05", "cm-10", "cm-15", "cm-20"]
    );
    assert_eq!(names("!canary").await.len(), 20);
    assert_eq!(names("canary,tier=web").await, ["cm-00", "cm-15"]);
    let bad = api_error(
        cms.list(&ListParams::default().labels("tier in ("))
            .await
            .unwrap_err(),
    );
    assert_eq!(bad.code, 400, "{bad:?}");

    let l = cms
        .list(&ListParams::default().fields("metadata.name=cm-07"))
        .await
        .unwrap();
    assert_eq!(
        l.items.iter().map(|c| c.name_any()).collect::<Vec<_>>(),
        ["cm-07"]
    );
    let l = cms
        .list(&ListParams::default().fields("metadata.name!=cm-07,metadata.namespace=default"))
        .await
        .unwrap();
    assert_eq!(l.items.len(), 24);

    // limit/continue: three pages of 10, 10 and 5, in order, no duplicates.
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    for _ in 0..10 {
        let mut lp = ListParams::default().limit(10);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = cms.list(&lp).await.unwrap();
        pages.push(page.items.len());
        seen.extend(page.items.iter().map(|c| c.name_any()));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, [10, 10, 5]);
    let want: Vec<String> = (0..25).map(|i| format!("cm-{i:02}")).collect();
    assert_eq!(seen, want);
    // Pagination combines with selectors.
    let page = cms
        .list(&ListParams::default().labels("tier=web").limit(4))
        .await
        .unwrap();
    assert_eq!(page.items.len(), 4);
    let rest = cms
        .list(
            &ListParams::default()
                .labels("tier=web")
                .limit(10)
                .continue_token(page.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 5);
    assert!(rest.metadata.continue_.is_none_or(|c| c.is_empty()));
}

fn owned_by(name: &str, owner: &ConfigMap, finalizer: Option<&str>) -> ConfigMap {
    let mut c = cm(name, &[]);
    c.metadata.owner_references = Some(vec![OwnerReference {
        api_version: "v1".into(),
        kind: "ConfigMap".into(),
        name: owner.name_any(),
        uid: owner.metadata.uid.clone().unwrap(),
        block_owner_deletion: Some(true),
        ..Default::default()
    }]);
    c.metadata.finalizers = finalizer.map(|f| vec![f.to_string()]);
    c
}

async fn exists(cms: &Api<ConfigMap>, name: &str) -> Option<ConfigMap> {
    match cms.get(name).await {
        Ok(c) => Some(c),
        Err(kube::Error::Api(s)) if s.code == 404 => None,
        Err(e) => panic!("get {name}: {e}"),
    }
}

#[tokio::test]
async fn cascading_delete_and_finalizers() {
    let s = TestServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client().await);
    let pp = PostParams::default();
    let wait = Duration::from_secs(10);

    // Background: the owner goes at once, its dependents shortly after.
    let owner = cms.create(&pp, &cm("bg-owner", &[])).await.unwrap();
    cms.create(&pp, &owned_by("bg-dep-1", &owner, None))
        .await
        .unwrap();
    cms.create(&pp, &owned_by("bg-dep-2", &owner, None))
        .await
        .unwrap();
    cms.delete("bg-owner", &DeleteParams::background())
        .await
        .unwrap();
    assert!(exists(&cms, "bg-owner").await.is_none());
    eventually("background dependents to go", wait, || async {
        (exists(&cms, "bg-dep-1").await.is_none() && exists(&cms, "bg-dep-2").await.is_none())
            .then_some(())
    })
    .await;

    // Foreground: the owner stays, marked, until its dependents are gone. A dependent
    // with its own finalizer holds it up.
    let owner = cms.create(&pp, &cm("fg-owner", &[])).await.unwrap();
    cms.create(&pp, &owned_by("fg-dep-1", &owner, None))
        .await
        .unwrap();
    cms.create(&pp, &owned_by("fg-dep-2", &owner, Some("example.com/hold")))
        .await
        .unwrap();
    cms.delete("fg-owner", &DeleteParams::foreground())
        .await
        .unwrap();
    let marked = exists(&cms, "fg-owner")
        .await
        .expect("foreground owner stays while dependents exist");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(
        marked
            .finalizers()
            .iter()
            .any(|f| f == "foregroundDeletion"),
        "{:?}",
        marked.finalizers()
    );
    eventually("fg-dep-1 to go and fg-dep-2 to be marked", wait, || async {
        let held = exists(&cms, "fg-dep-2").await?;
        (exists(&cms, "fg-dep-1").await.is_none() && held.metadata.deletion_timestamp.is_some())
            .then_some(())
    })
    .await;
    let still = exists(&cms, "fg-owner")
        .await
        .expect("owner waits for the held dependent");
    assert!(still.finalizers().iter().any(|f| f == "foregroundDeletion"));
    cms.patch(
        "fg-dep-2",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    eventually("foreground owner to go", wait, || async {
        exists(&cms, "fg-owner").await.is_none().then_some(())
    })
    .await;
    assert!(exists(&cms, "fg-dep-2").await.is_none());

    // Orphan: the dependents stay, without the owner reference.
    let owner = cms.create(&pp, &cm("or-owner", &[])).await.unwrap();
    cms.create(&pp, &owned_by("or-dep", &owner, None))
        .await
        .unwrap();
    cms.delete("or-owner", &DeleteParams::orphan())
        .await
        .unwrap();
    eventually("orphaning owner to go", wait, || async {
        exists(&cms, "or-owner").await.is_none().then_some(())
    })
    .await;
    let dep = exists(&cms, "or-dep")
        .await
        .expect("orphaned dependent remains");
    assert!(
        dep.metadata
            .owner_references
            .as_ref()
            .is_none_or(|r| r.is_empty()),
        "{:?}",
        dep.metadata.owner_references
    );
    assert!(dep.metadata.deletion_timestamp.is_none());

    // A custom finalizer: delete marks the object; removing the finalizer removes it.
    let mut held = cm("held", &[]);
    held.metadata.finalizers = Some(vec!["example.com/cleanup".into()]);
    cms.create(&pp, &held).await.unwrap();
    let r = cms.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = r.left().expect("a pending deletion returns the object");
    assert!(marked.metadata.deletion_timestamp.is_some());
    let again = exists(&cms, "held")
        .await
        .expect("still there while the finalizer is set");
    assert!(again.metadata.deletion_timestamp.is_some());
    assert_eq!(again.finalizers(), ["example.com/cleanup"]);
    // Updates still work while it is being deleted; the deletionTimestamp cannot be removed.
    let upd = cms
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}, "deletionTimestamp": null}})),
        )
        .await
        .unwrap();
    assert!(upd.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(exists(&cms, "held").await.is_none());
}

#[tokio::test]
async fn raw_watch_sees_every_event_type_and_bookmarks() {
    let s = TestServer::start_with(&["--watch-bookmark-interval", "1"]);
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client().await);
    let list = cms.list(&ListParams::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let stream = cms
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap();
    futures::pin_mut!(stream);

    cms.create(&PostParams::default(), &cm("w", &[("a", "1")]))
        .await
        .unwrap();
    cms.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "2"}})),
    )
    .await
    .unwrap();
    cms.delete("w", &DeleteParams::default()).await.unwrap();

    let mut got = Vec::new();
    let mut bookmarks = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.len() < 3 || bookmarks == 0 {
        assert!(
            Instant::now() < deadline,
            "watch saw {got:?} and {bookmarks} bookmarks"
        );
        let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("a watch event in time")
            .unwrap()
            .expect("stream open");
        match ev {
            WatchEvent::Added(c) => {
                got.push(format!("ADDED {} {}", c.name_any(), c.data.unwrap()["a"]))
            }
            WatchEvent::Modified(c) => got.push(format!(
                "MODIFIED {} {}",
                c.name_any(),
                c.data.unwrap()["a"]
            )),
            WatchEvent::Deleted(c) => got.push(format!("DELETED {}", c.name_any())),
            WatchEvent::Bookmark(b) => {
                assert!(!b.metadata.resource_version.is_empty());
                bookmarks += 1;
            }
            WatchEvent::Error(e) => panic!("watch error {e:?}"),
        }
    }
    assert_eq!(got, ["ADDED w 1", "MODIFIED w 2", "DELETED w"]);
}

#[tokio::test]
async fn watcher_survives_a_server_restart() {
    let mut s = TestServer::start_with(&["--watch-bookmark-interval", "1"]);
    let client = s.client().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    cms.create(&PostParams::default(), &cm("before", &[]))
        .await
        .unwrap();

    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let inits = Arc::new(Mutex::new(0usize));
    let (seen2, inits2) = (seen.clone(), inits.clone());
    let w = watcher::watcher(cms.clone(), watcher::Config::default()).default_backoff();
    let task = tokio::spawn(async move {
        futures::pin_mut!(w);
        while let Some(ev) = w.next().await {
            match ev {
                Ok(Event::Init) => *inits2.lock().unwrap() += 1,
                Ok(Event::InitApply(c)) | Ok(Event::Apply(c)) => seen2
                    .lock()
                    .unwrap()
                    .push(format!("apply {}", c.name_any())),
                Ok(Event::Delete(c)) => seen2
                    .lock()
                    .unwrap()
                    .push(format!("delete {}", c.name_any())),
                Ok(Event::InitDone) => {}
                Err(_) => {} // the server is down for a moment; the watcher retries
            }
        }
    });
    let has = |what: &str| seen.lock().unwrap().iter().any(|e| e == what);
    eventually("initial list", Duration::from_secs(10), || async {
        has("apply before").then_some(())
    })
    .await;
    cms.create(&PostParams::default(), &cm("during", &[]))
        .await
        .unwrap();
    eventually("a live event", Duration::from_secs(10), || async {
        has("apply during").then_some(())
    })
    .await;
    // The watcher now holds a resourceVersion (from that event, then from bookmarks
    // every second) to resume from after the crash.
    s.restart();
    let cms_after: Api<ConfigMap> = Api::default_namespaced(s.client().await);
    cms_after
        .create(&PostParams::default(), &cm("after", &[]))
        .await
        .unwrap();
    cms_after
        .delete("during", &DeleteParams::default())
        .await
        .unwrap();
    eventually(
        "events after the restart",
        Duration::from_secs(15),
        || async { (has("apply after") && has("delete during")).then_some(()) },
    )
    .await;
    let n = *inits.lock().unwrap();
    assert!(n <= 2, "the watcher re-listed {n} times");
    task.abort();
}

#[tokio::test]
async fn too_old_resource_version_is_gone() {
    let s = TestServer::start_with(&["--watch-history", "10"]);
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client().await);
    for i in 0..30 {
        cms.create(&PostParams::default(), &cm(&format!("c{i}"), &[]))
            .await
            .unwrap();
    }
    let stream = cms.watch(&WatchParams::default(), "1").await.unwrap();
    futures::pin_mut!(stream);
    let first = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .expect("an event in time")
        .unwrap()
        .expect("an event");
    match first {
        WatchEvent::Error(st) => {
            assert_eq!(st.code, 410, "{st:?}");
            assert_eq!(st.reason, "Expired", "{st:?}");
            assert!(st.message.contains("too old resource version"), "{st:?}");
        }
        other => panic!("expected a 410 error event, got {other:?}"),
    }
    // A recent resourceVersion still works.
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let stream = cms.watch(&WatchParams::default(), &rv).await.unwrap();
    futures::pin_mut!(stream);
    cms.create(&PostParams::default(), &cm("fresh", &[]))
        .await
        .unwrap();
    let ev = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .expect("an event in time")
        .unwrap()
        .unwrap();
    assert!(
        matches!(ev, WatchEvent::Added(ref c) if c.name_any() == "fresh"),
        "{ev:?}"
    );
}

#[tokio::test]
async fn table_output() {
    let s = TestServer::start();
    let client = s.client().await;
    ksvc_api(client.clone())
        .create(&PostParams::default(), &ksvc("hello", "World"))
        .await
        .unwrap();
    let req = http::Request::get("/apis/serving.knative.dev/v1/namespaces/default/services")
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new())
        .unwrap();
    let table: Value = serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
    assert_eq!(table["kind"], json!("Table"));
    assert_eq!(table["apiVersion"], json!("meta.k8s.io/v1"));
    let cols: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        cols[..6],
        [
            "Name",
            "URL",
            "LatestCreated",
            "LatestReady",
            "Ready",
            "Reason"
        ],
        "{table}"
    );
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["cells"][0], json!("hello"));
    assert_eq!(
        rows[0]["object"]["metadata"]["name"],
        json!("hello"),
        "rows carry partial metadata by default"
    );
    assert!(table["metadata"]["resourceVersion"].is_string());

    // One object as a Table.
    let req = http::Request::get("/api/v1/namespaces")
        .header(
            "Accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io, application/json",
        )
        .body(Vec::new())
        .unwrap();
    let table: Value = serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
    assert_eq!(table["kind"], json!("Table"));
    let names: Vec<&str> = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cells"][0].as_str().unwrap())
        .collect();
    assert!(names.contains(&"default"), "{names:?}");
}
