//! The real `kubectl` against a real `skiff server`: apply (created / unchanged /
//! configured), CRDs and their objects with printer columns, tables, `-o yaml`, watch,
//! delete, explain, api-resources, label selectors, patch.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::manifests::*;
use common::{ok, stderr, stdout, write, TestServer};

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn header_cols(table: &str) -> Vec<String> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn apply_get_watch_delete_with_real_kubectl() {
    let s = TestServer::start();
    let app = write(s.data_dir(), "app.yaml", HELLO_AND_SETTINGS);

    // Multi-document apply creates both objects.
    let out = ok(&s.kubectl(&["apply", "-f", arg(&app)]));
    assert!(
        out.contains("service.serving.knative.dev/hello created"),
        "{out}"
    );
    assert!(out.contains("configmap/settings created"), "{out}");

    // A COUNTDOWN_CRD, then (in a later command, as kubectl maps every document first) its object.
    let crd = write(s.data_dir(), "crd.yaml", COUNTDOWN_CRD);
    let out = ok(&s.kubectl(&["apply", "-f", arg(&crd)]));
    assert!(
        out.contains(
            "customresourcedefinition.apiextensions.k8s.io/countdowns.stable.example.com created"
        ),
        "{out}"
    );
    let cd = write(s.data_dir(), "cd.yaml", COUNTDOWN);
    let out = common::eventually("countdown created", Duration::from_secs(10), || {
        let o = s.kubectl(&["apply", "-f", arg(&cd)]);
        o.status.success().then(|| stdout(&o))
    });
    assert!(
        out.contains("countdown.stable.example.com/launch created"),
        "{out}"
    );

    // The COUNTDOWN_CRD's schema is enforced.
    let bad = s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(&COUNTDOWN.replace("launch", "bad").replace("42", "0")),
    );
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("spec.seconds"), "{}", stderr(&bad));

    // Tables with printer columns.
    let table = ok(&s.kubectl(&["get", "ksvc"]));
    assert_eq!(
        header_cols(&table)[..6],
        [
            "NAME",
            "URL",
            "LATESTCREATED",
            "LATESTREADY",
            "READY",
            "REASON"
        ],
        "{table}"
    );
    assert!(table.lines().any(|l| l.starts_with("hello ")), "{table}");
    let table = ok(&s.kubectl(&["get", "countdowns"]));
    assert_eq!(header_cols(&table), ["NAME", "SECONDS", "AGE"], "{table}");
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["launch", "42"], "{table}");
    let table = ok(&s.kubectl(&["get", "cd"]));
    assert!(table.contains("launch"), "{table}");

    // -o yaml shows the stored object with Knative's defaults.
    let yaml = ok(&s.kubectl(&["get", "ksvc", "hello", "-o", "yaml"]));
    assert!(
        yaml.contains("kind: Service")
            && yaml.contains("value: World")
            && yaml.contains("generation: 1"),
        "{yaml}"
    );
    assert!(
        yaml.contains("timeoutSeconds: 300") && yaml.contains("latestRevision: true"),
        "{yaml}"
    );
    let back: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(
        back["spec"]["template"]["spec"]["containers"][0]["image"].as_str(),
        Some("ghcr.io/knative/helloworld-go:latest")
    );

    // Apply again: unchanged, for every document.
    let out = ok(&s.kubectl(&["apply", "-f", arg(&app)]));
    assert!(
        out.contains("service.serving.knative.dev/hello unchanged"),
        "{out}"
    );
    assert!(out.contains("configmap/settings unchanged"), "{out}");
    let out = ok(&s.kubectl(&["apply", "-f", arg(&cd)]));
    assert!(
        out.contains("countdown.stable.example.com/launch unchanged"),
        "{out}"
    );
    let out = ok(&s.kubectl(&["apply", "-f", arg(&crd)]));
    assert!(out.contains("unchanged"), "{out}");

    // Watch in the background, then change TARGET via apply.
    let mut child = Command::new(common::kubectl_bin())
        .env("KUBECONFIG", s.kubeconfig())
        .env("HOME", s.data_dir())
        .args([
            "get",
            "ksvc",
            "-w",
            "-o",
            "custom-columns=NAME:.metadata.name,GEN:.metadata.generation",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let buf = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.stdout.take().unwrap();
    let sink = buf.clone();
    let reader = std::thread::spawn(move || {
        let mut chunk = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&chunk[..n]));
        }
    });
    // The watch prints the current state first: once it has, it is watching.
    common::eventually("the initial watch row", Duration::from_secs(10), || {
        buf.lock()
            .unwrap()
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["hello", "1"])
            .then_some(())
    });

    std::fs::write(
        &app,
        HELLO_AND_SETTINGS.replace("value: World", "value: Skiff"),
    )
    .unwrap();
    let out = ok(&s.kubectl(&["apply", "-f", arg(&app)]));
    assert!(
        out.contains("service.serving.knative.dev/hello configured"),
        "{out}"
    );
    assert!(out.contains("configmap/settings unchanged"), "{out}");
    let gen = ok(&s.kubectl(&[
        "get",
        "ksvc",
        "hello",
        "-o",
        "jsonpath={.metadata.generation}",
    ]));
    assert_eq!(gen, "2");

    common::eventually(
        "the watch to see generation 2",
        Duration::from_secs(10),
        || {
            buf.lock()
                .unwrap()
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["hello", "2"])
                .then_some(())
        },
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();

    // Label selectors.
    ok(&s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n  labels:\n    a: c\n"),
    ));
    let names = ok(&s.kubectl(&["get", "cm", "-l", "a=b", "-o", "name"]));
    assert_eq!(names, "configmap/settings\n");
    let names = ok(&s.kubectl(&["get", "cm", "-l", "a!=b,a", "-o", "name"]));
    assert_eq!(names, "configmap/other\n");
    let names = ok(&s.kubectl(&["get", "cm", "-l", "a in (b,c)", "-o", "name"]));
    assert_eq!(names, "configmap/other\nconfigmap/settings\n");

    // Patches.
    let out = ok(&s.kubectl(&[
        "patch",
        "cm",
        "settings",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"greeting":"hello"}}"#,
    ]));
    assert!(out.contains("configmap/settings patched"), "{out}");
    let out = ok(&s.kubectl(&[
        "patch",
        "cm",
        "settings",
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/data/extra","value":"x"}]"#,
    ]));
    assert!(out.contains("configmap/settings patched"), "{out}");
    let data = ok(&s.kubectl(&[
        "get",
        "cm",
        "settings",
        "-o",
        "jsonpath={.data.greeting}/{.data.extra}",
    ]));
    assert_eq!(data, "hello/x");
    let out = ok(&s.kubectl(&[
        "patch",
        "ksvc",
        "hello",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"labels":{"team":"x"}}}"#,
    ]));
    assert!(
        out.contains("service.serving.knative.dev/hello patched"),
        "{out}"
    );
    let out = ok(&s.kubectl(&[
        "patch",
        "cd",
        "launch",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/seconds","value":7}]"#,
    ]));
    assert!(out.contains("patched"), "{out}");
    assert_eq!(
        ok(&s.kubectl(&["get", "cd", "launch", "-o", "jsonpath={.spec.seconds}"])),
        "7"
    );

    // -o yaml round trip: what comes back is a valid object that `kubectl replace` takes
    // back as it is (its resourceVersion is current), without a new generation.
    let yaml = ok(&s.kubectl(&["get", "ksvc", "hello", "-o", "yaml"]));
    let back: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let out = ok(&s.kubectl_stdin(&["replace", "-f", "-"], Some(&yaml)));
    assert!(
        out.contains("service.serving.knative.dev/hello replaced"),
        "{out}"
    );
    // (kubectl replace refreshes the last-applied annotation, so compare the rest.)
    let again: serde_yaml::Value =
        serde_yaml::from_str(&ok(&s.kubectl(&["get", "ksvc", "hello", "-o", "yaml"]))).unwrap();
    assert_eq!(again["spec"], back["spec"]);
    assert_eq!(again["metadata"]["uid"], back["metadata"]["uid"]);
    assert_eq!(again["metadata"]["generation"].as_i64(), Some(2));

    // All namespaces.
    let out = ok(&s.kubectl(&["get", "ksvc", "-A"]));
    assert!(out.starts_with("NAMESPACE "), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("default ") && l.contains("hello")),
        "{out}"
    );

    // Delete, then NotFound.
    let out = ok(&s.kubectl(&["delete", "ksvc", "hello"]));
    assert!(
        out.contains("service.serving.knative.dev \"hello\" deleted"),
        "{out}"
    );
    let gone = s.kubectl(&["get", "ksvc", "hello"]);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("NotFound") && stderr(&gone).contains("\"hello\" not found"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn explain_and_api_resources() {
    let s = TestServer::start();
    let out = ok(&s.kubectl(&["explain", "ksvc.spec"]));
    assert!(out.contains("template"), "{out}");
    assert!(out.contains("traffic"), "{out}");

    let out = ok(&s.kubectl(&["api-resources"]));
    let ksvc = out
        .lines()
        .find(|l| l.starts_with("services ") && l.contains("serving.knative.dev"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(ksvc.contains("ksvc") && ksvc.contains("kservice"), "{ksvc}");
    assert!(ksvc.contains("Service"), "{ksvc}");
    for short in ["cfg", "rev", "rt"] {
        assert!(
            out.lines().any(|l| l.contains("serving.knative.dev")
                && l.split_whitespace()
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|s| s == short))),
            "{short}: {out}"
        );
    }
    assert!(
        out.lines()
            .any(|l| l.starts_with("configmaps ") && l.contains(" cm ")),
        "{out}"
    );
}

/// kubectl's typed commands send core kinds as protobuf, as to kube-apiserver.
#[test]
fn imperative_create_commands() {
    let s = TestServer::start();
    assert_eq!(
        ok(&s.kubectl(&["create", "namespace", "team"])),
        "namespace/team created\n"
    );
    assert_eq!(
        ok(&s.kubectl(&[
            "-n",
            "team",
            "create",
            "configmap",
            "cfg",
            "--from-literal=a=b",
            "--from-literal=c="
        ])),
        "configmap/cfg created\n"
    );
    assert_eq!(
        ok(&s.kubectl(&[
            "-n",
            "team",
            "create",
            "secret",
            "generic",
            "pw",
            "--from-literal=p=q"
        ])),
        "secret/pw created\n"
    );
    assert_eq!(
        ok(&s.kubectl(&["-n", "team", "create", "serviceaccount", "bot"])),
        "serviceaccount/bot created\n"
    );
    let cm: serde_json::Value = serde_json::from_str(&ok(
        &s.kubectl(&["-n", "team", "get", "cm", "cfg", "-o", "json"])
    ))
    .unwrap();
    assert_eq!(cm["data"], serde_json::json!({"a": "b", "c": ""}));
    assert_eq!(cm["metadata"]["namespace"], "team");
    assert!(
        cm["metadata"].get("generateName").is_none() && cm["metadata"].get("generation").is_none(),
        "{cm}"
    );
    assert_eq!(
        ok(&s.kubectl(&[
            "-n",
            "team",
            "get",
            "secret",
            "pw",
            "-o",
            "jsonpath={.type} {.data.p}"
        ])),
        "Opaque cQ=="
    );
    assert_eq!(
        ok(&s.kubectl(&["-n", "team", "get", "sa", "-o", "name"])),
        // Every namespace gets a `default` ServiceAccount, as in Kubernetes.
        "serviceaccount/bot\nserviceaccount/default\n"
    );
    let dup = s.kubectl(&["create", "namespace", "team"]);
    assert!(stderr(&dup).contains("AlreadyExists"), "{}", stderr(&dup));
    // The namespace's content goes with it.
    ok(&s.kubectl(&["delete", "namespace", "team"]));
    common::eventually("namespace team to go", Duration::from_secs(10), || {
        let o = s.kubectl(&["get", "namespace", "team"]);
        (!o.status.success()).then_some(())
    });
    assert_eq!(ok(&s.kubectl(&["get", "cm", "-A", "-o", "name"])), "");
}
