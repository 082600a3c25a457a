//! End-to-end tests of the kubectl-like client commands (`skiff apply/get/describe/
//! delete`) against a real `skiff server`.

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

#[test]
fn apply_get_describe_delete_roundtrip() {
    let s = TestServer::start();
    let file = write(s.data_dir(), "hello.yaml", HELLO_AND_SETTINGS);

    let out = ok(&s.skiff(&["apply", "-f", arg(&file)]));
    assert_eq!(
        out,
        "service.serving.knative.dev/hello created\nconfigmap/settings created\n"
    );

    let out = ok(&s.skiff(&["apply", "-f", arg(&file)]));
    assert_eq!(
        out,
        "service.serving.knative.dev/hello unchanged\nconfigmap/settings unchanged\n"
    );

    std::fs::write(
        &file,
        HELLO_AND_SETTINGS.replace("value: World", "value: Skiff"),
    )
    .unwrap();
    let out = ok(&s.skiff(&["apply", "-f", arg(&file)]));
    assert_eq!(
        out,
        "service.serving.knative.dev/hello configured\nconfigmap/settings unchanged\n"
    );
    let yaml = ok(&s.skiff(&["get", "ksvc", "hello", "-o", "yaml"]));
    assert!(yaml.contains("kind: Service"), "{yaml}");
    assert!(yaml.contains("value: Skiff"), "{yaml}");

    // stdin works too, and kubectl agrees with what skiff stored.
    let out = ok(&s.skiff_stdin(
        &["apply", "-f", "-"],
        Some(&HELLO_AND_SETTINGS.replace("value: World", "value: Skiff")),
    ));
    assert!(
        out.contains("service.serving.knative.dev/hello unchanged"),
        "{out}"
    );

    let table = ok(&s.skiff(&["get", "ksvc"]));
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("NAME ") && header.contains("URL"),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.split_whitespace().next() == Some("hello")),
        "{table}"
    );

    let cms = ok(&s.skiff(&["get", "cm", "-A"]));
    assert!(cms.starts_with("NAMESPACE "), "{cms}");
    assert!(
        cms.lines()
            .any(|l| l.starts_with("default ") && l.contains("settings")),
        "{cms}"
    );

    let names = ok(&s.skiff(&["get", "services.serving.knative.dev", "-o", "name"]));
    assert_eq!(names, "service.serving.knative.dev/hello\n");

    let desc = ok(&s.skiff(&["describe", "ksvc", "hello"]));
    assert!(desc.contains("Name:         hello"), "{desc}");
    assert!(desc.contains("Namespace:    default"), "{desc}");
    assert!(desc.contains("Kind:         Service"), "{desc}");
    assert!(desc.contains("Events:"), "{desc}");

    let out = ok(&s.skiff(&["delete", "-f", arg(&file)]));
    assert_eq!(
        out,
        "service.serving.knative.dev \"hello\" deleted\nconfigmap \"settings\" deleted\n"
    );
    let gone = s.skiff(&["get", "ksvc", "hello"]);
    assert_eq!(gone.status.code(), Some(1));
    assert!(
        stderr(&gone).contains(
            "Error from server (NotFound): services.serving.knative.dev \"hello\" not found"
        ),
        "{}",
        stderr(&gone)
    );
    let empty = s.skiff(&["get", "ksvc"]);
    assert!(empty.status.success());
    assert!(
        stderr(&empty).contains("No resources found in default namespace."),
        "{}",
        stderr(&empty)
    );

    let again = s.skiff(&["delete", "ksvc", "hello"]);
    assert_eq!(again.status.code(), Some(1));
    ok(&s.skiff(&["delete", "ksvc", "hello", "--ignore-not-found"]));
}

#[test]
fn user_errors_are_reported_like_kubectl() {
    let s = TestServer::start();

    let out = s.skiff(&["get", "foo"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the server doesn't have a resource type \"foo\""),
        "{}",
        stderr(&out)
    );

    let bad = write(
        s.data_dir(),
        "bad.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n c: d\n",
    );
    let out = s.skiff(&["apply", "-f", arg(&bad)]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("error parsing") && err.contains("bad.yaml") && err.contains("line 7"),
        "{err}"
    );
    assert_eq!(stdout(&out), "");

    // An unknown kind fails its document but the others are still applied.
    let mixed = "apiVersion: x.example.com/v1\nkind: Foo\nmetadata:\n  name: f\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n";
    let out = s.skiff_stdin(&["apply", "-f", "-"], Some(mixed));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "configmap/ok created\n");
    assert!(
        stderr(&out).contains("no matches for kind \"Foo\" in version \"x.example.com/v1\""),
        "{}",
        stderr(&out)
    );

    // A directory applies its manifests in name order.
    let dir = s.data_dir().join("manifests");
    std::fs::create_dir(&dir).unwrap();
    write(
        &dir,
        "b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n",
    );
    write(
        &dir,
        "a.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}"#,
    );
    write(&dir, "notes.txt", "not a manifest");
    let out = ok(&s.skiff(&["apply", "-f", arg(&dir)]));
    assert_eq!(out, "configmap/a created\nconfigmap/b created\n");
}

#[test]
fn get_watch_prints_new_rows() {
    let s = TestServer::start();
    // One service exists before the watch: once its row is printed the list is done,
    // and the watch resumes from the list's resourceVersion, so nothing is missed.
    ok(&s.skiff_stdin(
        &["apply", "-f", "-"],
        Some(&HELLO_AND_SETTINGS.replace("name: hello", "name: first")),
    ));
    let mut child = Command::new(common::skiff_bin())
        .env("KUBECONFIG", s.kubeconfig())
        .args(["get", "ksvc", "-w"])
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
    let has_row = |name: &str| {
        let text = buf.lock().unwrap().clone();
        text.lines()
            .any(|l| l.split_whitespace().next() == Some(name))
            .then_some(text)
    };
    common::eventually("the listed row for first", Duration::from_secs(15), || {
        has_row("first")
    });
    assert!(has_row("hello").is_none());
    ok(&s.skiff_stdin(&["apply", "-f", "-"], Some(HELLO_AND_SETTINGS)));
    let seen = common::eventually("a watch row for hello", Duration::from_secs(15), || {
        has_row("hello")
    });
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();
    assert!(seen.starts_with("NAME "), "{seen}");
}
