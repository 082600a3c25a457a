//! Object semantics of the API: create/get/list/update/patch/delete with Kubernetes'
//! rules — uid, creationTimestamp, generation, resourceVersion preconditions, the status
//! subresource, finalizers and deletionTimestamp, validation (schema + Knative's
//! webhook) — over the store. HTTP lives elsewhere; this module takes parsed input.

use std::sync::{Arc, RwLock};

use serde_json::{json, Map, Value};
use skiff_store::{Key, Mutation, Store};

use crate::clock::{k8s_time, Clock};
use crate::patch::{self, PatchType};
use crate::registry::{Origin, Registry, ResourceDef};
use crate::schema::{self, SchemaErrorKind};
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{ApiError, Cause};

/// How strictly unknown fields are treated (`fieldValidation` query parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FieldValidation {
    Ignore,
    #[default]
    Warn,
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter; absent means Warn, as in Kubernetes 1.27+.
    pub fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}; valid values are Ignore, Warn, Strict"
            ))),
        }
    }
}

/// Options shared by the write verbs.
#[derive(Clone, Debug, Default)]
pub struct WriteOptions {
    pub field_validation: FieldValidation,
    pub dry_run: bool,
    /// The write goes to the `status` subresource: only `.status` changes.
    pub status_only: bool,
}

/// The result of a write: the object as stored and any warnings for the client.
#[derive(Debug)]
pub struct Written {
    pub object: Arc<Value>,
    pub warnings: Vec<String>,
    /// True when a create happened (201 instead of 200).
    pub created: bool,
}

impl Written {
    /// 201 for a create, 200 otherwise.
    pub fn status_code(&self) -> http::StatusCode {
        if self.created {
            http::StatusCode::CREATED
        } else {
            http::StatusCode::OK
        }
    }
}

/// Deletion propagation (`propagationPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Propagation {
    #[default]
    Background,
    Foreground,
    Orphan,
}

/// Parsed `DeleteOptions`.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub propagation: Propagation,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

/// What a delete did.
#[derive(Debug)]
pub enum Deleted {
    /// The object is gone; this was its last state.
    Gone(Arc<Value>),
    /// The object is being deleted but waits for finalizers.
    Pending(Arc<Value>),
}

/// One page of a list: the items, the resourceVersion it is consistent with, and the
/// continue token for the next page.
#[derive(Debug)]
pub struct Listed {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
}

/// List parameters.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub label_selector: Option<LabelSelector>,
    pub field_selector: Option<FieldSelector>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

/// Names of the finalizers the server itself handles.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
pub const ORPHAN_FINALIZER: &str = "orphan";

/// The object API: a store plus the registry of kinds.
pub struct Objects {
    pub store: Arc<Store>,
    registry: RwLock<Arc<Registry>>,
    clock: Arc<dyn Clock>,
}

fn meta(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata").and_then(Value::as_object)
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    meta(obj).and_then(|m| m.get(field)).and_then(Value::as_str)
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = Value::Object(Map::new());
    }
    obj["metadata"]
        .as_object_mut()
        .expect("metadata is an object")
}

/// The finalizers listed on an object.
pub fn finalizers(obj: &Value) -> Vec<String> {
    meta(obj)
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn random_suffix() -> String {
    use rand::Rng;
    // Kubernetes' generateName alphabet: no vowels, no confusable characters.
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::thread_rng();
    (0..5)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The parts of an object that make up its "spec" for generation purposes: everything
/// but metadata and status.
fn spec_part(obj: &Value) -> Map<String, Value> {
    obj.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Compares two objects ignoring resourceVersion and managedFields.
fn same_object(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        v
    };
    strip(a) == strip(b)
}

impl Objects {
    /// Wraps a store, building the registry from the CRDs in it.
    pub fn new(store: Arc<Store>, clock: Arc<dyn Clock>) -> Self {
        let objects = Objects {
            store,
            registry: RwLock::new(Arc::new(Registry::default())),
            clock,
        };
        objects.reload_registry();
        objects
    }

    /// The current registry.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().unwrap().clone()
    }

    /// Rebuilds the registry after a CRD changed.
    pub fn reload_registry(&self) {
        let (crds, _) = self
            .store
            .list("apiextensions.k8s.io/customresourcedefinitions", None);
        *self.registry.write().unwrap() = Arc::new(Registry::build(&crds));
    }

    /// The clock objects are stamped with.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn key(def: &ResourceDef, ns: &str, name: &str) -> Key {
        Key::new(
            &def.storage_resource(),
            if def.namespaced { ns } else { "" },
            name,
        )
    }

    /// Presents a stored object at the requested version: converted by the kind's
    /// conversion (the built-in kinds' "webhook", e.g. Tekton v1 ↔ v1beta1), or with
    /// only `apiVersion` changed (conversion strategy None: user CRDs, one-version kinds).
    pub fn present(def: &ResourceDef, obj: &Arc<Value>) -> Arc<Value> {
        let want = def.api_version();
        if obj.get("apiVersion").and_then(Value::as_str) == Some(want.as_str()) {
            return obj.clone();
        }
        if def.origin == Origin::Crd {
            if let Ok(converted) = skiff_api::convert(&def.group, &def.kind, obj, &want) {
                return Arc::new(converted);
            }
        }
        let mut o = (**obj).clone();
        o["apiVersion"] = json!(want);
        Arc::new(o)
    }

    /// GET one object.
    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Result<Arc<Value>, ApiError> {
        self.store
            .get(&Self::key(def, ns, name))
            .map(|o| Self::present(def, &o))
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))
    }

    /// LIST: the matching objects (in key order) and the list's resourceVersion and
    /// continue token.
    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> Result<Listed, ApiError> {
        let ns = if def.namespaced { ns } else { None };
        let (items, store_rv) = self.store.list(&def.storage_resource(), ns);
        let (start_after, list_rv) = match &opts.continue_token {
            Some(token) => {
                let (rv, key) = decode_continue(token)?;
                (Some(key), rv)
            }
            None => (None, store_rv),
        };
        let mut out = Vec::new();
        let mut next = None;
        for item in items {
            if let Some(after) = &start_after {
                let k = format!(
                    "{}/{}",
                    meta_str(&item, "namespace").unwrap_or_default(),
                    meta_str(&item, "name").unwrap_or_default()
                );
                if k <= *after {
                    continue;
                }
            }
            if let Some(sel) = &opts.label_selector {
                if !sel.matches(
                    meta(&item)
                        .and_then(|m| m.get("labels"))
                        .and_then(Value::as_object),
                ) {
                    continue;
                }
            }
            if let Some(sel) = &opts.field_selector {
                if !sel.matches(&item) {
                    continue;
                }
            }
            if opts.limit.is_some_and(|l| l > 0 && out.len() >= l) {
                let last: &Arc<Value> = out.last().expect("limit > 0");
                let k = format!(
                    "{}/{}",
                    meta_str(last, "namespace").unwrap_or_default(),
                    meta_str(last, "name").unwrap_or_default()
                );
                next = Some(encode_continue(list_rv, &k));
                break;
            }
            out.push(Self::present(def, &item));
        }
        Ok(Listed {
            items: out,
            resource_version: list_rv,
            continue_token: next,
        })
    }

    fn namespace_must_exist(&self, def: &ResourceDef, ns: &str) -> Result<(), ApiError> {
        if !def.namespaced {
            return Ok(());
        }
        match self.store.get(&Key::new("/namespaces", "", ns)) {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if meta(&n).is_some_and(|m| m.contains_key("deletionTimestamp")) => {
                Err(ApiError::forbidden(format!(
                    "unable to create new content in namespace {ns} because it is being terminated"
                )))
            }
            Some(_) => Ok(()),
        }
    }

    /// CREATE.
    pub fn create(
        &self,
        def: &ResourceDef,
        ns: &str,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        self.check_type(def, &mut obj)?;
        {
            let m = meta_mut(&mut obj);
            if def.namespaced {
                match m.get("namespace").and_then(Value::as_str) {
                    Some(n) if !n.is_empty() && n != ns => {
                        return Err(ApiError::bad_request(
                            "the namespace of the provided object does not match the namespace sent on the request",
                        ))
                    }
                    _ => {
                        m.insert("namespace".into(), json!(ns));
                    }
                }
            } else {
                m.remove("namespace");
            }
            let name = m
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if name.is_empty() {
                if let Some(prefix) = m
                    .get("generateName")
                    .and_then(Value::as_str)
                    .filter(|p| !p.is_empty())
                {
                    let generated = format!("{prefix}{}", random_suffix());
                    m.insert("name".into(), json!(generated));
                }
            }
        }
        let name = meta_str(&obj, "name").unwrap_or_default().to_string();
        self.namespace_must_exist(def, ns)?;
        let warnings = self.validate(def, &mut obj, None, opts, true)?;
        let now = k8s_time(self.clock.now());
        {
            let m = meta_mut(&mut obj);
            m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
            m.insert("creationTimestamp".into(), json!(now));
            m.remove("deletionTimestamp");
            m.remove("deletionGracePeriodSeconds");
            m.remove("resourceVersion");
            m.remove("selfLink");
            if def.origin == Origin::Crd || def.kind == "CustomResourceDefinition" {
                m.insert("generation".into(), json!(1));
            }
        }
        if def.status_subresource && def.origin == Origin::Crd {
            obj.as_object_mut().expect("object").remove("status");
        }
        self.prepare_core(def, &mut obj, None);
        if opts.dry_run {
            return Ok(Written {
                object: Arc::new(obj),
                warnings,
                created: true,
            });
        }
        let key = Self::key(def, ns, &name);
        let outcome = self
            .store
            .mutate(&key, |cur| match cur {
                Some(_) => Err(ApiError::already_exists(&def.group, &def.plural, &name)),
                None => Ok(Mutation::Put(obj)),
            })
            .map_err(ApiError::internal)??;
        self.after_write(def);
        if def.group.is_empty() && def.plural == "namespaces" {
            // Kubernetes' service-account controller gives every namespace one.
            self.ensure_default_service_account(&name);
        }
        Ok(Written {
            object: Self::present(def, &outcome.object.expect("created")),
            warnings,
            created: true,
        })
    }

    /// Creates the `default` ServiceAccount of `namespace` if it is missing (and the
    /// namespace exists and is not being deleted), as Kubernetes' service-account
    /// controller does for every namespace.
    pub fn ensure_default_service_account(&self, namespace: &str) {
        if self
            .store
            .get(&Key::new("/serviceaccounts", namespace, "default"))
            .is_some()
        {
            return;
        }
        let Some(def) = self.registry().find("", "v1", "serviceaccounts") else {
            return;
        };
        let sa =
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}});
        match self.create(&def, namespace, sa, &WriteOptions::default()) {
            Ok(_) => {}
            Err(e) if e.code == 409 || e.code == 404 || e.code == 403 => {}
            Err(e) => tracing::warn!(namespace, error = %e, "creating the default ServiceAccount"),
        }
    }

    /// UPDATE (PUT) of the object or its status subresource.
    pub fn update(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        mut obj: Value,
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        self.check_type(def, &mut obj)?;
        match meta_str(&obj, "name") {
            Some(n) if n != name => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )))
            }
            _ => {
                meta_mut(&mut obj).insert("name".into(), json!(name));
            }
        }
        if def.namespaced {
            if let Some(n) = meta_str(&obj, "namespace").filter(|n| !n.is_empty() && *n != ns) {
                let _ = n;
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            meta_mut(&mut obj).insert("namespace".into(), json!(ns));
        }
        let wanted_rv = meta_str(&obj, "resourceVersion")
            .filter(|s| !s.is_empty())
            .map(String::from);
        if wanted_rv.is_none() && def.origin == Origin::Crd && !opts.status_only {
            return Err(ApiError::invalid(
                &def.group,
                &def.kind,
                name,
                vec![Cause {
                    reason: "FieldValueInvalid".into(),
                    message: "Invalid value: 0x0: must be specified for an update".into(),
                    field: "metadata.resourceVersion".into(),
                }],
            ));
        }
        self.write_existing(def, ns, name, opts, move |this, current| {
            if let Some(rv) = &wanted_rv {
                if meta_str(current, "resourceVersion") != Some(rv.as_str()) {
                    return Err(ApiError::conflict(
                        &def.group,
                        &def.plural,
                        name,
                        "the object has been modified; please apply your changes to the latest version and try again",
                    ));
                }
            }
            let _ = this;
            Ok(obj)
        })
    }

    /// PATCH of the object or its status subresource. A server-side apply patch of an
    /// object that does not exist creates it.
    pub fn patch(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        patch_type: PatchType,
        body: &[u8],
        opts: &WriteOptions,
    ) -> Result<Written, ApiError> {
        let patch_doc = patch::parse_patch(patch_type, body)?;
        if patch_type == PatchType::Apply && self.store.get(&Self::key(def, ns, name)).is_none() {
            let mut obj = patch_doc;
            meta_mut(&mut obj).insert("name".into(), json!(name));
            return self.create(def, ns, obj, opts);
        }
        if patch_type == PatchType::Strategic && def.origin == Origin::Crd {
            return Err(ApiError::unsupported_media_type(
                "application/strategic-merge-patch+json",
                &[
                    "application/json-patch+json",
                    "application/merge-patch+json",
                    "application/apply-patch+yaml",
                ],
            ));
        }
        self.write_existing(def, ns, name, opts, |_, current| {
            // The patch is written against the version the client asked for.
            let current = Self::present(def, &Arc::new(current.clone()));
            let current = &*current;
            let mut patched = patch::apply_patch(patch_type, current, &patch_doc)?;
            if !patched.is_object() {
                return Err(ApiError::bad_request("the patched object is not a JSON object"));
            }
            let wanted = meta_str(&patched, "resourceVersion").map(String::from);
            if let Some(rv) = wanted {
                if meta_str(current, "resourceVersion") != Some(rv.as_str()) {
                    return Err(ApiError::conflict(
                        &def.group,
                        &def.plural,
                        name,
                        "the object has been modified; please apply your changes to the latest version and try again",
                    ));
                }
            }
            self.check_type(def, &mut patched)?;
            Ok(patched)
        })
    }

    /// The shared read-modify-write of update and patch: `make_new` turns the current
    /// object into the requested one; immutable metadata is restored, the status or
    /// main part is kept as the subresource rules say, generation bumped on spec
    /// changes, the result validated, and an object whose last finalizer went away while
    /// being deleted is removed.
    fn write_existing(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        opts: &WriteOptions,
        make_new: impl FnOnce(&Self, &Value) -> Result<Value, ApiError>,
    ) -> Result<Written, ApiError> {
        let key = Self::key(def, ns, name);
        let mut warnings = Vec::new();
        let mut dry_run_result = None;
        let outcome = self
            .store
            .mutate(&key, |cur| {
                let current =
                    cur.ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
                let requested = make_new(self, current)?;
                let mut new = if opts.status_only {
                    // The status as the stored version spells it.
                    let requested = match current.get("apiVersion").and_then(Value::as_str) {
                        Some(stored)
                            if requested.get("apiVersion") != current.get("apiVersion") =>
                        {
                            skiff_api::convert(&def.group, &def.kind, &requested, stored)
                                .unwrap_or(requested)
                        }
                        _ => requested,
                    };
                    let mut n = (**current).clone();
                    match requested.get("status") {
                        Some(s) => n["status"] = s.clone(),
                        None => {
                            n.as_object_mut().expect("object").remove("status");
                        }
                    }
                    n
                } else {
                    let mut n = requested;
                    if def.status_subresource {
                        match current.get("status") {
                            Some(s) => n["status"] = s.clone(),
                            None => {
                                n.as_object_mut().expect("object").remove("status");
                            }
                        }
                    }
                    n
                };
                // Immutable and server-owned metadata.
                {
                    let old_meta = meta(current).cloned().unwrap_or_default();
                    let m = meta_mut(&mut new);
                    for field in [
                        "uid",
                        "creationTimestamp",
                        "deletionTimestamp",
                        "deletionGracePeriodSeconds",
                        "generation",
                        "namespace",
                        "name",
                    ] {
                        match old_meta.get(field) {
                            Some(v) => {
                                m.insert(field.into(), v.clone());
                            }
                            None => {
                                m.remove(field);
                            }
                        }
                    }
                    m.remove("resourceVersion");
                }
                warnings = self.validate(def, &mut new, Some(current), opts, !opts.status_only)?;
                self.prepare_core(def, &mut new, Some(current));
                // Generation counts changes of the desired state, after defaulting.
                if meta(&new).is_some_and(|m| m.contains_key("generation"))
                    && spec_part(&new) != spec_part(current)
                {
                    let g = meta(current)
                        .and_then(|m| m.get("generation"))
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    meta_mut(&mut new).insert("generation".into(), json!(g + 1));
                }
                if let Some(rv) = meta_str(current, "resourceVersion") {
                    meta_mut(&mut new).insert("resourceVersion".into(), json!(rv));
                }
                if same_object(&new, current) {
                    return Ok(Mutation::Unchanged);
                }
                if opts.dry_run {
                    dry_run_result = Some(new);
                    return Ok(Mutation::Unchanged);
                }
                if meta(&new).is_some_and(|m| m.contains_key("deletionTimestamp"))
                    && finalizers(&new).is_empty()
                {
                    return Ok(Mutation::Delete);
                }
                Ok(Mutation::Put(new))
            })
            .map_err(ApiError::internal)??;
        if let Some(obj) = dry_run_result {
            return Ok(Written {
                object: Arc::new(obj),
                warnings,
                created: false,
            });
        }
        self.after_write(def);
        let obj = outcome.object.expect("existing object");
        Ok(Written {
            object: Self::present(def, &obj),
            warnings,
            created: false,
        })
    }

    /// DELETE: immediate, or marked with deletionTimestamp while finalizers (including
    /// the foreground/orphan ones the garbage collector handles) remain.
    pub fn delete(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> Result<Deleted, ApiError> {
        let key = Self::key(def, ns, name);
        let now = k8s_time(self.clock.now());
        let mut gone = false;
        let outcome = self
            .store
            .mutate(&key, |cur| {
                let current = cur.ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
                if let Some(uid) = &opts.precondition_uid {
                    if meta_str(current, "uid") != Some(uid.as_str()) {
                        return Err(ApiError::conflict(&def.group, &def.plural, name, &format!(
                            "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                            meta_str(current, "uid").unwrap_or_default()
                        )));
                    }
                }
                if let Some(rv) = &opts.precondition_rv {
                    if meta_str(current, "resourceVersion") != Some(rv.as_str()) {
                        return Err(ApiError::conflict(&def.group, &def.plural, name, &format!(
                            "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                            meta_str(current, "resourceVersion").unwrap_or_default()
                        )));
                    }
                }
                let mut fins = finalizers(current);
                let extra = match opts.propagation {
                    Propagation::Foreground => Some(FOREGROUND_FINALIZER),
                    Propagation::Orphan => Some(ORPHAN_FINALIZER),
                    Propagation::Background => None,
                };
                // Namespaces always go through Terminating so their content is removed first.
                let is_namespace = def.group.is_empty() && def.plural == "namespaces";
                if fins.is_empty() && extra.is_none() && !is_namespace {
                    if opts.dry_run {
                        return Ok(Mutation::Unchanged);
                    }
                    gone = true;
                    return Ok(Mutation::Delete);
                }
                let mut new = (**current).clone();
                if let Some(f) = extra {
                    if !fins.iter().any(|x| x == f) {
                        fins.push(f.to_string());
                    }
                    meta_mut(&mut new).insert("finalizers".into(), json!(fins));
                }
                let m = meta_mut(&mut new);
                if !m.contains_key("deletionTimestamp") {
                    m.insert("deletionTimestamp".into(), json!(now));
                    m.insert("deletionGracePeriodSeconds".into(), json!(0));
                }
                if is_namespace {
                    new["status"] = json!({"phase": "Terminating"});
                }
                if opts.dry_run || same_object(&new, current) {
                    return Ok(Mutation::Unchanged);
                }
                Ok(Mutation::Put(new))
            })
            .map_err(ApiError::internal)??;
        self.after_write(def);
        let obj = Self::present(def, &outcome.object.expect("existing object"));
        Ok(if gone {
            Deleted::Gone(obj)
        } else {
            Deleted::Pending(obj)
        })
    }

    fn after_write(&self, def: &ResourceDef) {
        if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
            self.reload_registry();
        }
    }

    /// Checks `apiVersion`/`kind` of a body against the endpoint.
    fn check_type(&self, def: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
        let want_version = def.api_version();
        let map = obj
            .as_object_mut()
            .ok_or_else(|| ApiError::bad_request("the request body must be a JSON object"))?;
        match map.get("kind").and_then(Value::as_str) {
            None | Some("") => {
                map.insert("kind".into(), json!(def.kind));
            }
            Some(k) if k != def.kind => {
                return Err(ApiError::bad_request(format!(
                    "the kind in the data ({k}) does not match the expected kind ({})",
                    def.kind
                )))
            }
            Some(_) => {}
        }
        match map.get("apiVersion").and_then(Value::as_str) {
            None | Some("") => {
                map.insert("apiVersion".into(), json!(want_version));
            }
            Some(v) if v != want_version => {
                return Err(ApiError::bad_request(format!(
                    "the API version in the data ({v}) does not match the expected API version ({want_version})"
                )))
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Validation shared by create and update: metadata, schema (pruning or refusing
    /// unknown fields), kind-specific admission. Returns warnings.
    /// `admission` is false for status writes: webhooks validate the desired state only.
    fn validate(
        &self,
        def: &ResourceDef,
        obj: &mut Value,
        old: Option<&Value>,
        opts: &WriteOptions,
        admission: bool,
    ) -> Result<Vec<String>, ApiError> {
        let name = meta_str(obj, "name").unwrap_or_default().to_string();
        let mut causes = Vec::new();
        let mut warnings = Vec::new();
        if def.group == crate::rbac::GROUP {
            crate::rbac::apply_defaults(&def.kind, obj);
        }
        validate_metadata(def, obj, &mut causes);
        if let Some(schema_doc) = def.schema.as_ref().map(|s| s.get()) {
            let schema_doc = &*schema_doc;
            let strict = def.always_strict() || opts.field_validation == FieldValidation::Strict;
            let mut body = obj.clone();
            if def.origin == Origin::Crd {
                schema::apply_defaults(schema_doc, &mut body);
            }
            let errors = schema::validate(schema_doc, &mut body, strict);
            for e in errors {
                if e.kind == SchemaErrorKind::UnknownField {
                    causes.push(Cause {
                        reason: "FieldValueInvalid".into(),
                        message: if def.always_strict() {
                            format!("must not set the field(s): {}", e.field)
                        } else {
                            format!("unknown field \"{}\"", e.field)
                        },
                        field: e.field,
                    });
                } else {
                    causes.push(Cause {
                        reason: e.kind.reason().into(),
                        message: e.message,
                        field: e.field,
                    });
                }
            }
            if !strict && opts.field_validation == FieldValidation::Warn && causes.is_empty() {
                let mut probe = obj.clone();
                for e in schema::validate(schema_doc, &mut probe, true) {
                    if e.kind == SchemaErrorKind::UnknownField {
                        warnings.push(format!("unknown field \"{}\"", e.field));
                    }
                }
            }
            *obj = body;
        }
        if causes.is_empty() && admission {
            self.admit(def, obj, old, &mut causes);
        }
        if causes.is_empty() {
            Ok(warnings)
        } else {
            Err(ApiError::invalid(&def.group, &def.kind, &name, causes))
        }
    }

    /// Kind-specific checks: Knative's webhook for serving.knative.dev, CRD structure.
    fn admit(
        &self,
        def: &ResourceDef,
        obj: &mut Value,
        old: Option<&Value>,
        causes: &mut Vec<Cause>,
    ) {
        if def.kind == "CustomResourceDefinition" && def.group == "apiextensions.k8s.io" {
            validate_crd(obj, old, causes);
            return;
        }
        if def.group == crate::rbac::GROUP {
            crate::rbac::validate(&def.kind, obj, old, causes);
            return;
        }
        if let Err(errors) = skiff_api::admit(&def.group, &def.kind, obj, old) {
            causes.extend(errors.into_iter().map(|e| Cause {
                reason: e.reason.as_str().to_string(),
                message: e.message,
                field: e.field,
            }));
        }
    }

    /// Server-side defaults of core kinds (Secret stringData, Namespace phase, CRD status).
    fn prepare_core(&self, def: &ResourceDef, obj: &mut Value, old: Option<&Value>) {
        match (def.group.as_str(), def.plural.as_str()) {
            ("", "secrets") => {
                use base64::Engine;
                if let Some(Value::Object(string_data)) =
                    obj.as_object_mut().and_then(|m| m.remove("stringData"))
                {
                    let data = obj
                        .as_object_mut()
                        .expect("object")
                        .entry("data")
                        .or_insert(json!({}));
                    if let Some(d) = data.as_object_mut() {
                        for (k, v) in string_data {
                            let text = v.as_str().unwrap_or_default();
                            d.insert(
                                k,
                                json!(base64::engine::general_purpose::STANDARD.encode(text)),
                            );
                        }
                    }
                }
                if obj.get("type").is_none() {
                    obj["type"] = json!("Opaque");
                }
            }
            ("", "namespaces") => {
                if obj.pointer("/spec/finalizers").is_none() {
                    obj["spec"] = json!({"finalizers": ["kubernetes"]});
                }
                if old.is_none() || obj.pointer("/status/phase").is_none() {
                    let terminating =
                        meta(obj).is_some_and(|m| m.contains_key("deletionTimestamp"));
                    obj["status"] =
                        json!({"phase": if terminating { "Terminating" } else { "Active" }});
                }
            }
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
                let versions: Vec<Value> = obj
                    .pointer("/spec/versions")
                    .and_then(Value::as_array)
                    .map(|v| {
                        v.iter()
                            .filter(|v| v.get("storage") == Some(&json!(true)))
                            .filter_map(|v| v.get("name").cloned())
                            .collect()
                    })
                    .unwrap_or_default();
                let now = old
                    .and_then(|o| {
                        o.pointer("/status/conditions/0/lastTransitionTime")
                            .cloned()
                    })
                    .unwrap_or_else(|| json!(k8s_time(self.clock.now())));
                obj["status"] = json!({
                    "acceptedNames": names,
                    "storedVersions": versions,
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now},
                    ]
                });
            }
            _ => {}
        }
    }
}

fn invalid(field: &str, message: String) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message,
        field: field.into(),
    }
}

/// Metadata rules every kind shares: a valid name, valid labels.
fn validate_metadata(def: &ResourceDef, obj: &Value, causes: &mut Vec<Cause>) {
    let name = meta_str(obj, "name").unwrap_or_default();
    if name.is_empty() {
        causes.push(Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value: name or generateName is required".into(),
            field: "metadata.name".into(),
        });
    } else {
        let check = if def.group.is_empty() && def.plural == "namespaces" {
            crate::names::validate_dns1123_label(name)
        } else if def.group == crate::rbac::GROUP {
            // Role and binding names are path segments: `system:discovery` is valid.
            crate::rbac::validate_path_segment_name(name)
        } else {
            crate::names::validate_dns1123_subdomain(name)
        };
        if let Err(msg) = check {
            causes.push(invalid(
                "metadata.name",
                format!("Invalid value: \"{name}\": {msg}"),
            ));
        }
    }
    if let Some(labels) = meta(obj).and_then(|m| m.get("labels")) {
        match labels.as_object() {
            Some(labels) => {
                for (k, v) in labels {
                    if let Err(msg) = crate::names::validate_label_key(k) {
                        causes.push(invalid(
                            "metadata.labels",
                            format!("Invalid value: \"{k}\": {msg}"),
                        ));
                    }
                    match v.as_str() {
                        Some(v) => {
                            if let Err(msg) = crate::names::validate_label_value(v) {
                                causes.push(invalid(
                                    &format!("metadata.labels.{k}"),
                                    format!("Invalid value: \"{v}\": {msg}"),
                                ));
                            }
                        }
                        None => causes.push(invalid(
                            &format!("metadata.labels.{k}"),
                            "must be a string".into(),
                        )),
                    }
                }
            }
            None if !labels.is_null() => causes.push(invalid(
                "metadata.labels",
                "must be a map of strings".into(),
            )),
            None => {}
        }
    }
    if let Some(ann) = meta(obj).and_then(|m| m.get("annotations")) {
        if let Some(ann) = ann.as_object() {
            let total: usize = ann
                .iter()
                .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                .sum();
            if total > 256 * 1024 {
                causes.push(Cause {
                    reason: "FieldValueTooLong".into(),
                    message: format!("Too long: must have at most 262144 bytes (got {total})"),
                    field: "metadata.annotations".into(),
                });
            }
            for (k, v) in ann {
                if !v.is_string() {
                    causes.push(invalid(
                        &format!("metadata.annotations.{k}"),
                        "must be a string".into(),
                    ));
                }
            }
        }
    }
}

/// CRD checks: it decodes as a CustomResourceDefinition, its name is `plural.group`,
/// exactly one storage version, and names/scope do not change on update.
fn validate_crd(obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    if let Err(e) = serde_json::from_value::<CustomResourceDefinition>(obj.clone()) {
        causes.push(invalid("spec", format!("Invalid value: {e}")));
        return;
    }
    let group = obj
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = obj
        .pointer("/spec/names/plural")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let name = meta_str(obj, "name").unwrap_or_default();
    if name != format!("{plural}.{group}") {
        causes.push(invalid(
            "metadata.name",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if !group.contains('.') {
        causes.push(invalid(
            "spec.group",
            format!("Invalid value: \"{group}\": should be a domain with at least one dot"),
        ));
    }
    let storage = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map_or(0, |v| {
            v.iter()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .count()
        });
    if storage != 1 {
        causes.push(invalid("spec.versions", format!("Invalid value: must have exactly one version marked as storage version (found {storage})")));
    }
    if let Some(old) = old {
        for field in [
            "/spec/group",
            "/spec/scope",
            "/spec/names/plural",
            "/spec/names/kind",
        ] {
            if old.pointer(field) != obj.pointer(field) {
                causes.push(invalid(
                    &field[1..].replace('/', "."),
                    "Invalid value: field is immutable".into(),
                ));
            }
        }
    }
}

fn encode_continue(rv: u64, key: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&json!({"v": "meta.k8s.io/v1", "rv": rv, "start": key}))
            .unwrap_or_default(),
    )
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    use base64::Engine;
    let bad = || {
        ApiError::bad_request("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    Ok((
        v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?,
        v.get("start")
            .and_then(Value::as_str)
            .ok_or_else(bad)?
            .to_string(),
    ))
}
