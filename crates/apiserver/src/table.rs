//! `meta.k8s.io/v1` Table output (what `kubectl get` asks for with
//! `Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), and PartialObjectMetadata.

use serde_json::{json, Value};

use crate::jsonpath::cell_value;
use crate::registry::{ColumnSource, ResourceDef};

/// Which representation the client asked for in its Accept header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Representation {
    Full,
    Table,
    PartialMetadata,
}

impl Representation {
    /// Reads the Accept header the way kube-apiserver negotiates: the first acceptable
    /// alternative wins.
    pub fn from_accept(accept: &str) -> Representation {
        for alt in accept.split(',') {
            let alt = alt.trim();
            if alt.contains("as=Table") {
                return Representation::Table;
            }
            if alt.contains("as=PartialObjectMetadata") {
                return Representation::PartialMetadata;
            }
            if alt.starts_with("application/json")
                || alt.starts_with("*/*")
                || alt.starts_with("application/")
            {
                return Representation::Full;
            }
        }
        Representation::Full
    }
}

/// Whether a Table row carries the whole object, its metadata, or nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    /// The `includeObject` query parameter (default Metadata).
    pub fn parse(s: Option<&str>) -> IncludeObject {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// The column definitions of a kind's table.
pub fn column_definitions(def: &ResourceDef) -> Value {
    let mut cols = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
    })];
    for c in &def.printer_columns {
        cols.push(json!({"name": c.name, "type": c.column_type, "format": c.format, "description": c.description, "priority": c.priority}));
    }
    Value::Array(cols)
}

/// PartialObjectMetadata of one object.
pub fn partial_metadata(obj: &Value) -> Value {
    json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
    })
}

/// One table row.
pub fn row(def: &ResourceDef, obj: &Value, include: IncludeObject, now: jiff::Timestamp) -> Value {
    let name = obj
        .pointer("/metadata/name")
        .cloned()
        .unwrap_or(Value::Null);
    let mut cells = vec![name];
    for c in &def.printer_columns {
        let v = match &c.source {
            ColumnSource::Path(p) => cell_value(&p.eval(obj), &c.column_type, now),
            ColumnSource::Computed(f) => {
                let v = f(obj);
                cell_value(&[&v], &c.column_type, now)
            }
        };
        cells.push(v);
    }
    let mut row = json!({"cells": cells});
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => row["object"] = partial_metadata(obj),
        IncludeObject::Object => row["object"] = obj.clone(),
    }
    row
}

/// A Table of objects.
pub fn table<'a>(
    def: &ResourceDef,
    objects: impl Iterator<Item = &'a Value>,
    rv: Option<u64>,
    continue_token: Option<&str>,
    include: IncludeObject,
    now: jiff::Timestamp,
) -> Value {
    let mut metadata = serde_json::Map::new();
    if let Some(rv) = rv {
        metadata.insert("resourceVersion".into(), json!(rv.to_string()));
    }
    if let Some(c) = continue_token {
        metadata.insert("continue".into(), json!(c));
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": column_definitions(def),
        "rows": objects.map(|o| row(def, o, include, now)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_negotiation() {
        assert_eq!(
            Representation::from_accept("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"),
            Representation::Table
        );
        assert_eq!(
            Representation::from_accept("application/json"),
            Representation::Full
        );
        assert_eq!(Representation::from_accept(""), Representation::Full);
    }
}
