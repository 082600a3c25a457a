//! `skiff apply -f FILE|DIR|-`: client-side apply like `kubectl apply` — create what
//! is missing, merge-patch what differs, report the rest `unchanged`.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use crate::commands::client::{connect, ObjectApi};
use crate::commands::diff::{
    clean_manifest, is_unchanged, last_applied, merge_patch, with_last_applied,
};
use crate::commands::errors::{describe_error, exit_failure};
use crate::commands::manifest::{parse_documents, read_sources, Document};
use crate::commands::resources::{ResourceInfo, Resources};

/// Arguments of `skiff apply`.
#[derive(clap::Args, Debug)]
pub struct ApplyArgs {
    /// Files, directories (their *.yaml, *.yml, *.json) or `-` for stdin.
    #[arg(short = 'f', long = "filename", required = true)]
    pub filename: Vec<String>,
    /// Namespace for objects that do not name one.
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

/// Applies every object of every file; a failing object does not stop the others,
/// but makes the command exit 1.
pub async fn run(kubeconfig: Option<PathBuf>, args: ApplyArgs) -> Result<()> {
    let docs = load_documents(&args.filename)?;
    let conn = connect(kubeconfig).await?;
    let resources = Resources::discover(&conn.client).await?;
    let default_ns = args.namespace.clone().unwrap_or(conn.namespace.clone());
    let mut failed = false;
    for doc in &docs {
        match apply_one(
            &conn.client,
            &resources,
            doc,
            args.namespace.as_deref(),
            &default_ns,
        )
        .await
        {
            Ok(line) => println!("{line}"),
            Err(msg) => {
                eprintln!("{msg}");
                failed = true;
            }
        }
    }
    if failed {
        exit_failure();
    }
    Ok(())
}

/// Reads and parses all `-f` sources before anything is sent (a parse error applies nothing).
pub fn load_documents(filenames: &[String]) -> Result<Vec<Document>> {
    let mut docs = Vec::new();
    for (source, text) in read_sources(filenames)? {
        docs.extend(parse_documents(&source, &text)?);
    }
    if docs.is_empty() {
        anyhow::bail!("no objects passed to apply");
    }
    Ok(docs)
}

/// The resource, name and namespace a manifest object addresses, or kubectl's error.
pub struct Target<'r> {
    /// The resource serving the object's kind.
    pub info: &'r ResourceInfo,
    /// metadata.name.
    pub name: String,
    /// The namespace used (None for cluster-scoped kinds).
    pub namespace: Option<String>,
}

/// Maps a document to its resource, name and namespace (doc, then `-n`, then default).
pub fn target<'r>(
    resources: &'r Resources,
    doc: &Document,
    ns_flag: Option<&str>,
    default_ns: &str,
) -> Result<Target<'r>, String> {
    let obj = &doc.object;
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let doc_ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let Some(info) = resources.for_kind(api_version, kind) else {
        return Err(format!(
            "error: resource mapping not found for name: \"{name}\" namespace: \"{}\" from \"{}\": no matches for kind \"{kind}\" in version \"{api_version}\"\nensure CRDs are installed first",
            doc_ns.unwrap_or(""),
            doc.source
        ));
    };
    if name.is_empty() {
        return Err(format!("error: error when retrieving current configuration of \"{}\": resource name may not be empty", doc.source));
    }
    let namespace = if info.namespaced {
        if let (Some(d), Some(f)) = (doc_ns, ns_flag) {
            if d != f {
                return Err(format!(
                    "error: the namespace from the provided object \"{d}\" does not match the namespace \"{f}\". You must pass '--namespace={d}' to perform this operation."
                ));
            }
        }
        Some(doc_ns.unwrap_or(default_ns).to_string())
    } else {
        None
    };
    Ok(Target {
        info,
        name,
        namespace,
    })
}

async fn apply_one(
    client: &kube::Client,
    resources: &Resources,
    doc: &Document,
    ns_flag: Option<&str>,
    default_ns: &str,
) -> Result<String, String> {
    let t = target(resources, doc, ns_flag, default_ns)?;
    let mut manifest = doc.object.clone();
    if let Some(ns) = &t.namespace {
        manifest["metadata"]["namespace"] = Value::String(ns.clone());
    }
    let clean = clean_manifest(&manifest);
    let desired = with_last_applied(&clean);
    let api = ObjectApi::new(client, t.info, t.namespace.as_deref());
    let what = format!("{}/{}", t.info.kind_group(), t.name);
    let source = &doc.source;
    let live = api.get_opt(&t.name).await.map_err(|e| {
        describe_error(
            &e,
            Some(&format!(
                "error when retrieving current configuration of \"{source}\""
            )),
        )
    })?;
    match live {
        None => {
            api.create(&desired).await.map_err(|e| {
                describe_error(&e, Some(&format!("error when creating \"{source}\"")))
            })?;
            Ok(format!("{what} created"))
        }
        Some(live) => {
            if is_unchanged(&clean, &live) {
                return Ok(format!("{what} unchanged"));
            }
            let patch = merge_patch(last_applied(&live).as_ref(), &desired);
            api.merge_patch(&t.name, &patch).await.map_err(|e| {
                describe_error(&e, Some(&format!("error when patching \"{source}\"")))
            })?;
            Ok(format!("{what} configured"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::resources::tests::sample;
    use serde_json::json;

    fn doc(v: Value) -> Document {
        Document {
            source: "f.yaml".into(),
            object: v,
        }
    }

    #[test]
    fn targets_resolve_namespace_and_errors() {
        let r = sample();
        let d = doc(
            json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "hello"}}),
        );
        let t = target(&r, &d, None, "default").unwrap();
        assert_eq!(
            (t.name.as_str(), t.namespace.as_deref()),
            ("hello", Some("default"))
        );
        let t = target(&r, &d, Some("dev"), "dev").unwrap();
        assert_eq!(t.namespace.as_deref(), Some("dev"));

        let d = doc(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}));
        assert_eq!(target(&r, &d, Some("dev"), "dev").unwrap().namespace, None);

        let d = doc(json!({"apiVersion": "x/v1", "kind": "Foo", "metadata": {"name": "x"}}));
        let e = target(&r, &d, None, "default").err().unwrap();
        assert!(e.starts_with("error: resource mapping not found for name: \"x\" namespace: \"\" from \"f.yaml\": no matches for kind \"Foo\" in version \"x/v1\""), "{e}");

        let d = doc(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "a"}}),
        );
        assert!(target(&r, &d, Some("b"), "b")
            .err()
            .unwrap()
            .contains("does not match the namespace \"b\""));
    }
}
