//! kubectl 1.20 (Debian 12's `kubernetes-client`, what a fresh Debian machine gets)
//! against a real `skiff server`, validation on. kubectl 1.20 validates on the client
//! from `/openapi/v2` served as gnostic protobuf, so this proves that document parses
//! and carries the kinds: apply (created / unchanged / configured), an unknown field
//! refused client-side, tables, `-o yaml`, watch, explain, COUNTDOWN_CRD + custom object,
//! imperative create, delete.
//!
//! The binary comes from `$SKIFF_KUBECTL_120`, else
//! `~/.cache/skiff-tools/kubectl-1.20/kubectl` (put there by scripts/install-deps.sh).
//! Without one the test prints "skipped: no kubectl 1.20" and passes.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::manifests::*;
use common::{ok, stderr, stdout, write, TestServer};

/// The kubectl 1.20 binary, if this machine has one.
fn kubectl_120() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SKIFF_KUBECTL_120")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/skiff-tools/kubectl-1.20/kubectl")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn kubectl_1_20_with_validation() {
    let Some(k) = kubectl_120() else {
        println!("skipped: no kubectl 1.20 (set SKIFF_KUBECTL_120 or run scripts/install-deps.sh)");
        return;
    };
    let version = ok(&Command::new(&k)
        .args(["version", "--client"])
        .output()
        .unwrap());
    assert!(
        version.contains("v1.20."),
        "{} is not kubectl 1.20: {version}",
        k.display()
    );

    let s = TestServer::start();
    let kubectl = |args: &[&str]| s.kubectl_bin(&k, args);
    let app = write(s.data_dir(), "app.yaml", HELLO_AND_SETTINGS);

    // Apply with client-side validation (the default): both created.
    let out = ok(&kubectl(&["apply", "-f", arg(&app)]));
    assert!(
        out.contains("service.serving.knative.dev/hello created"),
        "{out}"
    );
    assert!(out.contains("configmap/settings created"), "{out}");

    // kubectl 1.20 itself refuses an unknown field, from the protobuf /openapi/v2 document,
    // for a core kind and for a Knative kind (the nested path proves the schema is deep).
    let bad = write(
        s.data_dir(),
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\ndatax: 1\n",
    );
    let o = kubectl(&["apply", "-f", arg(&bad)]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("error validating data"), "{err}");
    assert!(err.contains(r#"unknown field "datax""#), "{err}");
    let bad = write(
        s.data_dir(),
        "badk.yaml",
        &HELLO_AND_SETTINGS
            .split("---")
            .next()
            .unwrap()
            .replace("      containers:", "      foo: 1\n      containers:"),
    );
    let o = kubectl(&["apply", "-f", arg(&bad)]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("error validating data"), "{err}");
    assert!(
        err.contains(r#"unknown field "foo""#) && err.contains("spec.template.spec"),
        "{err}"
    );
    assert!(
        stdout(&kubectl(&["get", "cm", "bad", "--ignore-not-found"])).is_empty(),
        "nothing written"
    );

    // Tables with Knative's printer columns.
    let table = ok(&kubectl(&["get", "ksvc"]));
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
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
    assert!(
        table.lines().nth(1).unwrap().starts_with("hello"),
        "{table}"
    );

    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&ok(&kubectl(&["get", "ksvc", "hello", "-o", "yaml"]))).unwrap();
    assert_eq!(yaml["kind"], "Service");
    assert_eq!(
        yaml["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "World"
    );

    // Apply again: unchanged; then edits: configured (merge patch for the ksvc,
    // strategic merge patch computed from the openapi document for the ConfigMap).
    let out = ok(&kubectl(&["apply", "-f", arg(&app)]));
    assert!(
        out.contains("service.serving.knative.dev/hello unchanged"),
        "{out}"
    );
    assert!(out.contains("configmap/settings unchanged"), "{out}");

    // Watch in the background, then change the ksvc via apply.
    let mut child = Command::new(&k)
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
    let row = |gen: &'static str| {
        let want = ["hello", gen];
        let buf = buf.clone();
        move || {
            buf.lock()
                .unwrap()
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>() == want)
                .then_some(())
        }
    };
    common::eventually("the initial watch row", Duration::from_secs(10), row("1"));

    let edited = write(
        s.data_dir(),
        "app2.yaml",
        &HELLO_AND_SETTINGS
            .replace("value: World", "value: Skiff")
            .replace("greeting: hi", "greeting: hello"),
    );
    let out = ok(&kubectl(&["apply", "-f", arg(&edited)]));
    assert!(
        out.contains("service.serving.knative.dev/hello configured"),
        "{out}"
    );
    assert!(out.contains("configmap/settings configured"), "{out}");
    common::eventually(
        "the watch to see generation 2",
        Duration::from_secs(10),
        row("2"),
    );
    let _ = child.kill();
    let _ = child.wait();
    reader.join().unwrap();
    assert_eq!(
        ok(&kubectl(&[
            "get",
            "cm",
            "settings",
            "-o",
            "jsonpath={.data.greeting}"
        ])),
        "hello"
    );

    // explain reads the protobuf document.
    let out = ok(&kubectl(&["explain", "ksvc.spec"]));
    assert!(out.contains("KIND:     Service"), "{out}");
    assert!(out.contains("template"), "{out}");
    assert!(out.contains("traffic"), "{out}");

    // A COUNTDOWN_CRD, then its objects, with the COUNTDOWN_CRD's printer columns; explain sees the new kind
    // once the document is fetched again.
    let crd = write(s.data_dir(), "crd.yaml", COUNTDOWN_CRD);
    let out = ok(&kubectl(&["apply", "-f", arg(&crd)]));
    assert!(out.contains("created"), "{out}");
    let cd = write(s.data_dir(), "cd.yaml", COUNTDOWN);
    let out = common::eventually("the countdown kind", Duration::from_secs(10), || {
        let o = kubectl(&["apply", "-f", arg(&cd)]);
        o.status.success().then(|| stdout(&o))
    });
    assert!(
        out.contains("countdown.stable.example.com/launch created"),
        "{out}"
    );
    let out = ok(&kubectl(&["apply", "-f", arg(&cd)]));
    assert!(out.contains("unchanged"), "{out}");
    let table = ok(&kubectl(&["get", "cd"]));
    assert!(table.lines().next().unwrap().contains("SECONDS"), "{table}");
    assert!(table.contains("launch") && table.contains("42"), "{table}");
    let out = ok(&kubectl(&["explain", "countdown.spec"]));
    assert!(
        out.contains("seconds") && out.contains("-required-"),
        "{out}"
    );
    // A wrong type is refused by kubectl 1.20 itself, from the COUNTDOWN_CRD's published schema.
    let bad = write(
        s.data_dir(),
        "badcd.yaml",
        &COUNTDOWN.replace("seconds: 42", "seconds: soon"),
    );
    let o = kubectl(&["apply", "-f", arg(&bad)]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("error validating data"),
        "{}",
        stderr(&o)
    );

    // Imperative create.
    let out = ok(&kubectl(&[
        "create",
        "configmap",
        "x",
        "--from-literal=a=b",
    ]));
    assert!(out.contains("configmap/x created"), "{out}");
    assert_eq!(
        ok(&kubectl(&["get", "cm", "x", "-o", "jsonpath={.data.a}"])),
        "b"
    );

    // Delete.
    let out = ok(&kubectl(&["delete", "ksvc", "hello"]));
    assert!(
        out.contains(r#"service.serving.knative.dev "hello" deleted"#),
        "{out}"
    );
    let gone = kubectl(&["get", "ksvc", "hello"]);
    assert!(!gone.status.success());
    assert!(stderr(&gone).contains("NotFound"), "{}", stderr(&gone));
    ok(&kubectl(&["delete", "-f", arg(&cd)]));
    ok(&kubectl(&["delete", "cm", "x", "settings"]));
}
