//! Durability: every write acknowledged to a client survives `kill -9` of the server,
//! resourceVersions keep increasing across the restart, and a watch resumes from a
//! resourceVersion handed out before the crash.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::TryStreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::ResourceExt;

use common::TestServer;

const N: usize = 200;
const TASKS: usize = 8;

fn cm(i: usize) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(format!("cm-{i:03}")),
            ..Default::default()
        },
        data: Some(BTreeMap::from([
            ("index".to_string(), i.to_string()),
            (
                "payload".to_string(),
                format!("value-{i}-{}", "z".repeat(i)),
            ),
        ])),
        ..Default::default()
    }
}

fn rv(o: &impl ResourceExt) -> u64 {
    o.resource_version().unwrap().parse().unwrap()
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let mut s = TestServer::start();
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client().await);

    // 8 concurrent writers; remember the newest resourceVersion acknowledged.
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let cms = cms.clone();
        tasks.push(tokio::spawn(async move {
            let mut max = 0;
            for i in (t..N).step_by(TASKS) {
                let created = cms
                    .create(&PostParams::default(), &cm(i))
                    .await
                    .unwrap_or_else(|e| panic!("create {i}: {e}"));
                max = max.max(rv(&created));
            }
            max
        }));
    }
    let mut last_acked = 0;
    for t in tasks {
        last_acked = last_acked.max(t.await.unwrap());
    }

    s.kill9();
    s.restart();

    let cms: Api<ConfigMap> = Api::default_namespaced(s.client().await);
    let list = cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), N);
    for (i, c) in list.items.iter().enumerate() {
        assert_eq!(
            c,
            &ConfigMap {
                metadata: c.metadata.clone(),
                ..cm(i)
            },
            "object {i} after the crash"
        );
        assert_eq!(c.name_any(), format!("cm-{i:03}"));
    }
    let list_rv: u64 = list.metadata.resource_version.unwrap().parse().unwrap();
    assert!(
        list_rv >= last_acked,
        "list rv {list_rv} < last acknowledged {last_acked}"
    );

    // A watch from before the crash gets the next write; the write's rv is higher.
    let stream = cms
        .watch(&WatchParams::default().timeout(20), &last_acked.to_string())
        .await
        .unwrap();
    futures::pin_mut!(stream);
    let created = cms.create(&PostParams::default(), &cm(N)).await.unwrap();
    assert!(
        rv(&created) > last_acked && rv(&created) > list_rv,
        "{} after {last_acked}",
        rv(&created)
    );
    let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .expect("a watch event in time")
        .unwrap()
        .expect("stream open");
    match ev {
        WatchEvent::Added(c) => {
            assert_eq!(c.name_any(), format!("cm-{N:03}"));
            assert_eq!(rv(&c), rv(&created));
        }
        other => panic!("expected ADDED, got {other:?}"),
    }

    // And a second crash right after that write loses nothing either.
    s.restart();
    let cms: Api<ConfigMap> = Api::default_namespaced(s.client().await);
    let list = cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), N + 1);
    let again: u64 = list.metadata.resource_version.unwrap().parse().unwrap();
    assert!(again >= rv(&created));
}
