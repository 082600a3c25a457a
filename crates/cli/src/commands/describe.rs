//! `skiff describe KIND NAME`: a readable description of one object — identity,
//! labels, annotations, spec and status as indented key/values, a conditions table,
//! and the core Events about it.

use std::path::PathBuf;

use anyhow::{bail, Result};
use serde_json::Value;

use crate::commands::client::{connect, ObjectApi};
use crate::commands::diff::LAST_APPLIED;
use crate::commands::errors::{describe_error, exit_failure};
use crate::commands::get::parse_queries;
use crate::commands::output::{age, render_table};
use crate::commands::resources::Resources;

/// Arguments of `skiff describe`.
#[derive(clap::Args, Debug)]
pub struct DescribeArgs {
    /// `KIND NAME...` or `KIND/NAME...`.
    #[arg(required = true, value_name = "KIND [NAME]...")]
    pub args: Vec<String>,
    /// Namespace (default: the kubeconfig context's, else `default`).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

/// Runs `skiff describe`.
pub async fn run(kubeconfig: Option<PathBuf>, args: DescribeArgs) -> Result<()> {
    let conn = connect(kubeconfig).await?;
    let resources = Resources::discover(&conn.client).await?;
    let queries = parse_queries(&resources, &args.args)?;
    let ns = args.namespace.clone().unwrap_or(conn.namespace.clone());
    let mut failed = false;
    let mut first = true;
    for q in &queries {
        let api = ObjectApi::new(&conn.client, q.info, Some(&ns));
        let names: Vec<String> = if q.names.is_empty() {
            let list = api
                .list(None, None, None)
                .await
                .map_err(|e| anyhow::anyhow!("{}", describe_error(&e, None)))?;
            list["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        } else {
            q.names.clone()
        };
        for name in names {
            match api.get(&name, None).await {
                Ok(obj) => {
                    let events = events_for(&conn.client, &resources, &obj).await;
                    if !first {
                        println!("\n");
                    }
                    first = false;
                    print!("{}", describe_object(&obj, &events));
                }
                Err(e) => {
                    eprintln!("{}", describe_error(&e, None));
                    failed = true;
                }
            }
        }
    }
    if first && !failed {
        bail!("No resources found in {ns} namespace.");
    }
    if failed {
        exit_failure();
    }
    Ok(())
}

/// Core v1 Events whose involvedObject is `obj` (by uid), oldest first. Failures to
/// list events are not errors: the description just shows none.
async fn events_for(client: &kube::Client, resources: &Resources, obj: &Value) -> Vec<Value> {
    let Some(info) = resources.for_kind("v1", "Event") else {
        return Vec::new();
    };
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let api = ObjectApi::new(client, info, Some(ns));
    let Ok(list) = api.list(None, None, None).await else {
        return Vec::new();
    };
    let mut evs: Vec<Value> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            !uid.is_empty() && e.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(uid)
        })
        .cloned()
        .collect();
    evs.sort_by_key(|e| event_time(e).to_string());
    evs
}

fn event_time(e: &Value) -> &str {
    [
        "/lastTimestamp",
        "/eventTime",
        "/firstTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .find_map(|p| {
        e.pointer(p)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    })
    .unwrap_or("")
}

/// The whole description text of `obj` with its `events`.
pub fn describe_object(obj: &Value, events: &[Value]) -> String {
    let meta = &obj["metadata"];
    let mut out = String::new();
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut head: Vec<(String, String)> = vec![("Name".into(), s(&meta["name"]))];
    if meta.get("namespace").is_some() {
        head.push(("Namespace".into(), s(&meta["namespace"])));
    }
    for (label, key, skip) in [
        ("Labels", "labels", None),
        ("Annotations", "annotations", Some(LAST_APPLIED)),
    ] {
        let pairs: Vec<String> = meta[key]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| Some(k.as_str()) != skip)
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                )
            })
            .collect();
        head.push((
            label.into(),
            if pairs.is_empty() {
                "<none>".into()
            } else {
                pairs.join("\n")
            },
        ));
    }
    head.push(("API Version".into(), s(&obj["apiVersion"])));
    head.push(("Kind".into(), s(&obj["kind"])));
    let width = head.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 3;
    for (label, value) in head {
        let mut lines = value.lines();
        out.push_str(&format!(
            "{:<width$}{}\n",
            format!("{label}:"),
            lines.next().unwrap_or("")
        ));
        for l in lines {
            out.push_str(&format!("{:width$}{l}\n", ""));
        }
    }
    let mut shown_meta = serde_json::Map::new();
    for k in [
        "creationTimestamp",
        "deletionTimestamp",
        "generation",
        "resourceVersion",
        "uid",
        "ownerReferences",
        "finalizers",
    ] {
        if let Some(v) = meta.get(k) {
            shown_meta.insert(k.into(), v.clone());
        }
    }
    out.push_str("Metadata:\n");
    render_value(&Value::Object(shown_meta), 2, &mut out);
    let secret = obj["kind"] == "Secret" && obj["apiVersion"] == "v1";
    for (key, v) in obj.as_object().into_iter().flatten() {
        if matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        let mut v = v.clone();
        if key == "status" {
            if let Some(o) = v.as_object_mut() {
                o.remove("conditions");
            }
        }
        if secret && (key == "data" || key == "stringData") {
            v = redact(&v);
        }
        if is_empty(&v) {
            continue;
        }
        out.push_str(&format!("{}:", smart_label(key)));
        if v.is_object() || v.is_array() {
            out.push('\n');
            render_value(&v, 2, &mut out);
        } else {
            out.push_str(&format!("  {}\n", scalar(&v)));
        }
    }
    if let Some(conds) = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
    {
        out.push_str("Conditions:\n");
        let headers: Vec<String> = ["Type", "Status", "Reason", "Message"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let rows: Vec<Vec<String>> = conds
            .iter()
            .map(|c| {
                ["type", "status", "reason", "message"]
                    .iter()
                    .map(|k| c[*k].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .collect();
        let mut all = vec![
            headers.clone(),
            headers.iter().map(|h| "-".repeat(h.len())).collect(),
        ];
        all.extend(rows);
        for line in render_table(&all[0], &all[1..], true).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out.push_str(&events_text(events));
    out
}

fn redact(v: &Value) -> Value {
    match v.as_object() {
        Some(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Value::String(format!("{} bytes", v.as_str().map(str::len).unwrap_or(0))),
                    )
                })
                .collect(),
        ),
        None => v.clone(),
    }
}

/// The `Events:` section.
pub fn events_text(events: &[Value]) -> String {
    if events.is_empty() {
        return "Events:  <none>\n".into();
    }
    let headers: Vec<String> = ["Type", "Reason", "Age", "From", "Message"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut rows = vec![headers
        .iter()
        .map(|h| "-".repeat(h.len()))
        .collect::<Vec<_>>()];
    for e in events {
        let from = [
            "/source/component",
            "/reportingComponent",
            "/reportingController",
        ]
        .iter()
        .find_map(|p| {
            e.pointer(p)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or("");
        let t = event_time(e);
        rows.push(vec![
            e["type"].as_str().unwrap_or("").into(),
            e["reason"].as_str().unwrap_or("").into(),
            if t.is_empty() {
                "<unknown>".into()
            } else {
                age(t)
            },
            from.into(),
            e["message"].as_str().unwrap_or("").trim().into(),
        ]);
    }
    let mut out = String::from("Events:\n");
    for line in render_table(&headers, &rows, true).lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// kubectl's label for a field name: `creationTimestamp` → `Creation Timestamp`,
/// `uid` → `UID`, `apiVersion` → `API Version`.
pub fn smart_label(key: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    let mut cur = String::new();
    let chars: Vec<char> = key.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let boundary = c.is_uppercase()
            && !cur.is_empty()
            && (!chars[i - 1].is_uppercase() || chars.get(i + 1).is_some_and(|n| n.is_lowercase()));
        if boundary || c == '_' || c == '-' || c == ' ' {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            if !c.is_alphanumeric() {
                continue;
            }
        }
        cur.push(c);
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
        .iter()
        .map(|w| {
            let lower = w.to_lowercase();
            if matches!(
                lower.as_str(),
                "api"
                    | "url"
                    | "uid"
                    | "id"
                    | "ip"
                    | "cpu"
                    | "dns"
                    | "tls"
                    | "http"
                    | "https"
                    | "tcp"
                    | "udp"
                    | "json"
                    | "yaml"
            ) {
                lower.to_uppercase()
            } else {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        other => other.to_string(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Null => true,
        _ => false,
    }
}

/// Renders a value as kubectl describe does for unstructured content: maps as
/// aligned `Label:  value` lines, nested values indented by two spaces, lists of
/// maps as consecutive blocks.
pub fn render_value(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            let scalars: Vec<_> = m
                .iter()
                .filter(|(_, v)| !v.is_object() && !v.is_array())
                .collect();
            let width = scalars
                .iter()
                .map(|(k, _)| smart_label(k).len())
                .max()
                .unwrap_or(0)
                + 3;
            for (k, val) in m {
                if is_empty(val) && (val.is_object() || val.is_array()) {
                    continue;
                }
                let label = format!("{}:", smart_label(k));
                if val.is_object() || val.is_array() {
                    out.push_str(&format!("{pad}{label}\n"));
                    render_value(val, indent + 2, out);
                } else {
                    let text = scalar(val);
                    let mut lines = text.lines();
                    out.push_str(&format!(
                        "{pad}{label:<width$}{}\n",
                        lines.next().unwrap_or("")
                    ));
                    for l in lines {
                        out.push_str(&format!("{pad}{:width$}{l}\n", ""));
                    }
                }
            }
        }
        Value::Array(a) => {
            for item in a {
                if item.is_object() || item.is_array() {
                    render_value(item, indent, out);
                } else {
                    out.push_str(&format!("{pad}{}\n", scalar(item)));
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_like_kubectl() {
        assert_eq!(smart_label("creationTimestamp"), "Creation Timestamp");
        assert_eq!(smart_label("uid"), "UID");
        assert_eq!(smart_label("apiVersion"), "API Version");
        assert_eq!(smart_label("url"), "URL");
        assert_eq!(
            smart_label("latestReadyRevisionName"),
            "Latest Ready Revision Name"
        );
        assert_eq!(smart_label("containerConcurrency"), "Container Concurrency");
    }

    #[test]
    fn describes_a_service() {
        let obj = json!({
            "apiVersion": "serving.knative.dev/v1", "kind": "Service",
            "metadata": {"name": "hello", "namespace": "default", "uid": "u-1", "generation": 1,
                "creationTimestamp": "2024-01-01T00:00:00Z", "labels": {"app": "hello"},
                "annotations": {LAST_APPLIED: "{}", "note": "x"}},
            "spec": {"template": {"spec": {"containers": [{"image": "img", "env": [{"name": "TARGET", "value": "World"}]}]}}},
            "status": {"url": "http://hello.default.example.com", "conditions": [
                {"type": "Ready", "status": "True", "reason": "", "message": ""},
                {"type": "RoutesReady", "status": "False", "reason": "NotReady", "message": "waiting"}]}
        });
        let text = describe_object(&obj, &[]);
        let expected = "\
Name:         hello
Namespace:    default
Labels:       app=hello
Annotations:  note=x
API Version:  serving.knative.dev/v1
Kind:         Service
Metadata:
  Creation Timestamp:  2024-01-01T00:00:00Z
  Generation:          1
  UID:                 u-1
Spec:
  Template:
    Spec:
      Containers:
        Env:
          Name:   TARGET
          Value:  World
        Image:  img
Status:
  URL:  http://hello.default.example.com
Conditions:
  Type          Status   Reason     Message
  ----          ------   ------     -------
  Ready         True
  RoutesReady   False    NotReady   waiting
Events:  <none>
";
        assert_eq!(text, expected);
    }

    #[test]
    fn events_table() {
        let e = json!({"type": "Normal", "reason": "Created", "message": "Created Configuration \"hello\"",
            "source": {"component": "service-controller"}, "lastTimestamp": "2000-01-01T00:00:00Z"});
        let text = events_text(&[e]);
        assert!(
            text.starts_with("Events:\n  Type     Reason    Age"),
            "{text}"
        );
        assert!(
            text.contains("service-controller   Created Configuration \"hello\""),
            "{text}"
        );
    }
}
