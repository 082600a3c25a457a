//! Reading manifests: `-f FILE|DIR|-` into multi-document YAML/JSON objects, with
//! parse errors that name the file and line, and `kind: List` expanded.

use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

/// One object from a manifest, with where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// File name as given (or `STDIN`), used in messages.
    pub source: String,
    /// The object.
    pub object: Value,
}

/// Reads every `-f` argument: files, directories (their `*.yaml`, `*.yml`, `*.json`
/// in name order) and `-` for stdin. Returns `(source, text)` pairs.
pub fn read_sources(args: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for arg in args {
        if arg == "-" {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("reading stdin")?;
            out.push(("STDIN".to_string(), s));
            continue;
        }
        let path = Path::new(arg);
        let meta =
            std::fs::metadata(path).map_err(|_| anyhow!("the path \"{arg}\" does not exist"))?;
        if meta.is_dir() {
            let mut files: Vec<_> = std::fs::read_dir(path)
                .with_context(|| format!("reading directory {arg}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && is_manifest_file(p))
                .collect();
            files.sort();
            for f in files {
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("reading {}", f.display()))?;
                out.push((f.display().to_string(), text));
            }
        } else {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {arg}"))?;
            out.push((arg.clone(), text));
        }
    }
    Ok(out)
}

fn is_manifest_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// Parses a multi-document YAML (or JSON) text into objects. Empty documents are
/// skipped; `List` kinds are expanded into their items.
pub fn parse_documents(source: &str, text: &str) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    for de in serde_yaml::Deserializer::from_str(text) {
        let value = Value::deserialize(de).map_err(|e| anyhow!(format_yaml_error(source, &e)))?;
        match value {
            Value::Null => continue,
            Value::Object(_) => expand_list(source, value, &mut out)?,
            _ => bail!("error parsing {source}: a document is not an object (expected apiVersion, kind, metadata)"),
        }
    }
    Ok(out)
}

fn expand_list(source: &str, value: Value, out: &mut Vec<Document>) -> Result<()> {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k == "List" || k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array);
    if is_list {
        for item in value["items"].as_array().into_iter().flatten() {
            expand_list(source, item.clone(), out)?;
        }
        return Ok(());
    }
    validate(source, &value)?;
    out.push(Document {
        source: source.to_string(),
        object: value,
    });
    Ok(())
}

/// kubectl's client-side check that apiVersion and kind are set.
fn validate(source: &str, value: &Value) -> Result<()> {
    let mut missing = Vec::new();
    for field in ["apiVersion", "kind"] {
        if value
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            missing.push(format!("{field} not set"));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    bail!(
        "error validating \"{source}\": error validating data: [{}]",
        missing.join(", ")
    )
}

/// `error parsing hello.yaml: line 7 column 3: <message>`.
pub fn format_yaml_error(source: &str, err: &serde_yaml::Error) -> String {
    let full = err.to_string();
    match err.location() {
        Some(loc) => {
            let suffix = format!(" at line {} column {}", loc.line(), loc.column());
            let msg = full.replace(&suffix, "");
            format!(
                "error parsing {source}: line {} column {}: {msg}",
                loc.line(),
                loc.column()
            )
        }
        None => format!("error parsing {source}: {full}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_and_lists() {
        let text = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"b\"}}]}\n";
        let docs = parse_documents("x.yaml", text).unwrap();
        let names: Vec<_> = docs
            .iter()
            .map(|d| d.object["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(docs[0].source, "x.yaml");
    }

    #[test]
    fn yaml_errors_name_file_and_line() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: ConfigMap\ndata:\n  a: b\n c: d\n";
        let err = parse_documents("hello.yaml", text).unwrap_err().to_string();
        assert!(
            err.starts_with("error parsing hello.yaml: line 10 column"),
            "{err}"
        );
        assert!(!err.contains("at line 10 column"), "{err}");
    }

    #[test]
    fn missing_kind_is_reported() {
        let err = parse_documents("x.yaml", "apiVersion: v1\nmetadata: {name: a}\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "error validating \"x.yaml\": error validating data: [kind not set]"
        );
    }
}
