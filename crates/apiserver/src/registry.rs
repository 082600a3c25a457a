//! The resource registry: which kinds the API serves, at which paths, with which
//! schema and printer columns. It is built from CustomResourceDefinitions (user CRDs and
//! the built-in Knative ones alike) plus the handful of core kinds, so the server stays
//! generic over resource definitions.

use std::sync::Arc;

use serde_json::Value;

use crate::core_kinds;

/// How a table column gets its value.
#[derive(Clone, Debug)]
pub enum ColumnSource {
    /// A CRD `additionalPrinterColumns` JSONPath.
    Path(crate::jsonpath::PrinterPath),
    /// A computed column of a core kind (e.g. a ConfigMap's DATA count).
    Computed(fn(&Value) -> Value),
}

/// One printer column (`additionalPrinterColumns`).
#[derive(Clone, Debug)]
pub struct PrinterColumn {
    pub name: String,
    pub column_type: String,
    pub format: String,
    pub description: String,
    pub priority: i64,
    pub source: ColumnSource,
}

/// A kind's `openAPIV3Schema`, held as JSON text and parsed when used: Knative's and
/// Tekton's schemas are hundreds of kB each and, parsed, several times that; a server
/// that does not write those kinds should not hold them. The parsed document is kept
/// while it is in use and dropped by [`Registry::expire_schemas`] once it was not used
/// for a while.
#[derive(Clone, Debug)]
pub struct Schema(Arc<SchemaInner>);

#[derive(Debug)]
struct SchemaInner {
    text: Box<str>,
    parsed: std::sync::Mutex<Option<(Arc<Value>, std::time::Instant)>>,
}

impl Schema {
    /// A schema document.
    pub fn owned(schema: &Value) -> Schema {
        Schema(Arc::new(SchemaInner {
            text: schema.to_string().into_boxed_str(),
            parsed: std::sync::Mutex::new(None),
        }))
    }

    /// The schema document (parsed now unless it was used recently).
    pub fn get(&self) -> Arc<Value> {
        let mut parsed = self.0.parsed.lock().unwrap();
        let now = std::time::Instant::now();
        if let Some((doc, used)) = parsed.as_mut() {
            *used = now;
            return doc.clone();
        }
        let doc = Arc::new(serde_json::from_str(&self.0.text).unwrap_or(Value::Null));
        *parsed = Some((doc.clone(), now));
        doc
    }

    /// Drops the parsed document if it was last used longer than `idle` ago.
    fn expire(&self, idle: std::time::Duration) {
        let mut parsed = self.0.parsed.lock().unwrap();
        if parsed
            .as_ref()
            .is_some_and(|(_, used)| used.elapsed() >= idle)
        {
            *parsed = None;
        }
    }
}

/// Where a kind's definition came from; core kinds get a few built-in behaviours
/// (strategic merge patch, unconditional updates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Core,
    Crd,
}

/// One served resource at one version.
#[derive(Clone, Debug)]
pub struct ResourceDef {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub list_kind: String,
    pub plural: String,
    pub singular: String,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub namespaced: bool,
    /// The version's `openAPIV3Schema`, if any.
    pub schema: Option<Schema>,
    pub printer_columns: Vec<PrinterColumn>,
    pub status_subresource: bool,
    pub origin: Origin,
}

impl ResourceDef {
    /// `group/version`, or just `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// The store key prefix shared by every version of this resource.
    pub fn storage_resource(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }
    /// Whether only skiff itself may write objects of this kind (Pods).
    pub fn read_only(&self) -> bool {
        self.group.is_empty() && self.plural == "pods"
    }
    /// Whether unknown fields are always refused (Knative's webhook does that for its
    /// kinds, whatever `fieldValidation` says).
    pub fn always_strict(&self) -> bool {
        self.group.ends_with("knative.dev")
    }
}

/// All served resources.
#[derive(Default, Debug)]
pub struct Registry {
    pub resources: Vec<Arc<ResourceDef>>,
}

impl Registry {
    /// Builds the registry from the core kinds and the stored CRDs.
    pub fn build(crds: &[Arc<Value>]) -> Registry {
        let mut resources: Vec<Arc<ResourceDef>> = core_kinds::definitions().to_vec();
        for crd in crds {
            if crd.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            resources.extend(defs_from_crd(crd).into_iter().map(Arc::new));
        }
        Registry { resources }
    }

    /// The resource served at `group/version/plural`.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
            .cloned()
    }

    /// The resource for a kind at `group/version`.
    pub fn find_kind(&self, group: &str, version: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
            .cloned()
    }

    /// Served group/versions in a stable order: core first, then groups alphabetically,
    /// with versions in the order their CRDs list them.
    pub fn group_versions(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for r in &self.resources {
            match out.iter_mut().find(|(g, _)| *g == r.group) {
                Some((_, versions)) => {
                    if !versions.contains(&r.version) {
                        versions.push(r.version.clone());
                    }
                }
                None => out.push((r.group.clone(), vec![r.version.clone()])),
            }
        }
        out.sort_by(|a, b| (!a.0.is_empty(), &a.0).cmp(&(!b.0.is_empty(), &b.0)));
        out
    }

    /// Drops the parsed schema documents not used for `idle` (they are parsed again
    /// from their text when next needed).
    pub fn expire_schemas(&self, idle: std::time::Duration) {
        for r in &self.resources {
            if let Some(s) = &r.schema {
                s.expire(idle);
            }
        }
    }

    /// Resources of one group/version.
    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ResourceDef>> {
        self.resources
            .iter()
            .filter(move |r| r.group == group && r.version == version)
    }
}

fn str_at(v: &Value, ptr: &str) -> String {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn strings_at(v: &Value, ptr: &str) -> Vec<String> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The served versions of one CRD object, as resource definitions.
pub fn defs_from_crd(crd: &Arc<Value>) -> Vec<ResourceDef> {
    let group = str_at(crd, "/spec/group");
    let names = crd.pointer("/spec/names").cloned().unwrap_or(Value::Null);
    let kind = str_at(&names, "/kind");
    let plural = str_at(&names, "/plural");
    let singular = {
        let s = str_at(&names, "/singular");
        if s.is_empty() {
            kind.to_lowercase()
        } else {
            s
        }
    };
    let list_kind = {
        let s = str_at(&names, "/listKind");
        if s.is_empty() {
            format!("{kind}List")
        } else {
            s
        }
    };
    let namespaced = str_at(crd, "/spec/scope") != "Cluster";
    let mut out = Vec::new();
    for v in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        let mut columns: Vec<PrinterColumn> = v
            .get("additionalPrinterColumns")
            .and_then(Value::as_array)
            .map(|cols| cols.iter().filter_map(column_from_crd).collect())
            .unwrap_or_default();
        if columns.is_empty() {
            // The apiserver defaults a CRD without printer columns to an Age column.
            columns.extend(column_from_crd(&serde_json::json!({
                "name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"
            })));
        }
        out.push(ResourceDef {
            group: group.clone(),
            version: str_at(v, "/name"),
            kind: kind.clone(),
            list_kind: list_kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            short_names: strings_at(&names, "/shortNames"),
            categories: strings_at(&names, "/categories"),
            namespaced,
            schema: v.pointer("/schema/openAPIV3Schema").map(Schema::owned),
            printer_columns: columns,
            status_subresource: v.pointer("/subresources/status").is_some(),
            origin: Origin::Crd,
        });
    }
    out
}

fn column_from_crd(col: &Value) -> Option<PrinterColumn> {
    let path = crate::jsonpath::PrinterPath::parse(col.get("jsonPath")?.as_str()?).ok()?;
    Some(PrinterColumn {
        name: str_at(col, "/name"),
        column_type: str_at(col, "/type"),
        format: str_at(col, "/format"),
        description: str_at(col, "/description"),
        priority: col.get("priority").and_then(Value::as_i64).unwrap_or(0),
        source: ColumnSource::Path(path),
    })
}
