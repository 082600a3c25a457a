//! Role-based access control as Kubernetes does it (`plugin/pkg/auth/authorizer/rbac`,
//! `pkg/registry/rbac/validation`): identities (`UserInfo`), the attributes of a request
//! (`Attributes`, Kubernetes' `RequestInfo`), the rule evaluation over Roles,
//! ClusterRoles, RoleBindings and ClusterRoleBindings, the privilege-escalation check for
//! writes of those kinds, their validation, and the default ("bootstrap") policy every
//! cluster starts with. Messages are upstream's, word for word.
//!
//! Aggregated ClusterRoles (`aggregationRule`) are accepted and stored, but nothing
//! fills in their rules: only the rules written in a ClusterRole count.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{json, Value};
use skiff_store::Key;

use crate::objects::Objects;
use crate::status::{ApiError, Cause, Subject as StatusSubject};

/// The API group of the RBAC kinds.
pub const GROUP: &str = "rbac.authorization.k8s.io";
/// The group whose members may do anything, whatever the bindings say.
pub const SYSTEM_MASTERS: &str = "system:masters";
/// The group every authenticated identity is in.
pub const ALL_AUTHENTICATED: &str = "system:authenticated";
/// The group of anonymous requests.
pub const ALL_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The group of every service account.
pub const SERVICE_ACCOUNTS_GROUP: &str = "system:serviceaccounts";
const SA_PREFIX: &str = "system:serviceaccount:";

/// An authenticated identity: Kubernetes' `user.Info`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub uid: String,
    pub groups: Vec<String>,
    pub extra: BTreeMap<String, Vec<String>>,
}

impl UserInfo {
    /// The identity of service account `namespace/name`, with the groups Kubernetes
    /// gives it.
    pub fn service_account(namespace: &str, name: &str, uid: &str) -> UserInfo {
        UserInfo {
            name: service_account_username(namespace, name),
            uid: uid.to_string(),
            groups: service_account_groups(namespace),
            extra: BTreeMap::new(),
        }
    }

    /// Whether this identity bypasses authorization (`system:masters`).
    pub fn is_superuser(&self) -> bool {
        self.groups.iter().any(|g| g == SYSTEM_MASTERS)
    }

    /// The `status.userInfo` / `status.user` JSON of reviews.
    pub fn to_json(&self) -> Value {
        let mut v = json!({"username": self.name, "groups": self.groups});
        if !self.uid.is_empty() {
            v["uid"] = json!(self.uid);
        }
        if !self.extra.is_empty() {
            v["extra"] = json!(self.extra);
        }
        v
    }
}

/// `system:serviceaccount:<namespace>:<name>`.
pub fn service_account_username(namespace: &str, name: &str) -> String {
    format!("{SA_PREFIX}{namespace}:{name}")
}

/// The groups of a service account in `namespace`.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        SERVICE_ACCOUNTS_GROUP.to_string(),
        format!("{SERVICE_ACCOUNTS_GROUP}:{namespace}"),
        ALL_AUTHENTICATED.to_string(),
    ]
}

/// The namespace and name in a service account's username, if it is one.
pub fn split_service_account_username(username: &str) -> Option<(String, String)> {
    let rest = username.strip_prefix(SA_PREFIX)?;
    let parts: Vec<&str> = rest.split(':').collect();
    let [ns, name] = parts.as_slice() else {
        return None;
    };
    (crate::names::validate_dns1123_label(ns).is_ok()
        && crate::names::validate_dns1123_subdomain(name).is_ok())
    .then(|| (ns.to_string(), name.to_string()))
}

/// What a request asks to do: Kubernetes' `authorizer.Attributes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    /// False for non-resource URLs (`/api`, `/version`, ...): then only `path` counts.
    pub resource_request: bool,
    pub path: String,
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

impl Attributes {
    /// A resource request.
    pub fn resource(verb: &str, group: &str, resource: &str, namespace: &str, name: &str) -> Self {
        let (resource, subresource) = match resource.split_once('/') {
            Some((r, s)) => (r, s),
            None => (resource, ""),
        };
        Attributes {
            verb: verb.into(),
            resource_request: true,
            api_group: group.into(),
            namespace: namespace.into(),
            resource: resource.into(),
            subresource: subresource.into(),
            name: name.into(),
            ..Default::default()
        }
    }

    /// A non-resource request.
    pub fn non_resource(verb: &str, path: &str) -> Self {
        Attributes {
            verb: verb.into(),
            path: path.into(),
            ..Default::default()
        }
    }

    /// The attributes of an HTTP request, as kube-apiserver's `RequestInfoFactory`
    /// derives them: `/api/v1/namespaces/ns/pods/x/log` is "get pods/log x in ns", a GET
    /// without a name is list (or watch with `watch=true`), a DELETE without a name is
    /// deletecollection, and everything outside `/api/v1/...`, `/apis/g/v/...` (discovery,
    /// `/version`, `/openapi`) is a non-resource request with the lower-case HTTP verb.
    pub fn from_request(method: &http::Method, path: &str, query: Option<&str>) -> Self {
        let mut a = Attributes {
            path: path.to_string(),
            verb: method.as_str().to_lowercase(),
            ..Default::default()
        };
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        if parts.len() < 3 {
            return a;
        }
        let mut rest: &[&str] = match parts[0] {
            "api" => &parts[1..],
            "apis" => {
                if parts.len() < 4 {
                    return a;
                }
                a.api_group = parts[1].to_string();
                &parts[2..]
            }
            _ => return a,
        };
        a.resource_request = true;
        a.api_version = rest[0].to_string();
        rest = &rest[1..];
        let mut special_verb = false;
        if matches!(rest.first(), Some(&"watch") | Some(&"proxy")) {
            special_verb = true;
            a.verb = rest[0].to_string();
            rest = &rest[1..];
        } else {
            a.verb = match *method {
                http::Method::POST => "create",
                http::Method::GET | http::Method::HEAD => "get",
                http::Method::PUT => "update",
                http::Method::PATCH => "patch",
                http::Method::DELETE => "delete",
                _ => "",
            }
            .to_string();
        }
        if rest.first() == Some(&"namespaces") && rest.len() > 1 {
            a.namespace = rest[1].to_string();
            // `/namespaces/{ns}/{resource}/...` is about a resource in the namespace;
            // `/namespaces/{ns}/status|finalize` about the namespace itself.
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        let no_subresource = special_verb && a.verb == "proxy";
        if rest.len() >= 3 && !no_subresource {
            a.subresource = rest[2].to_string();
        }
        if rest.len() >= 2 {
            a.name = rest[1].to_string();
        }
        if let Some(r) = rest.first() {
            a.resource = r.to_string();
        }
        let query: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        if a.name.is_empty() && a.verb == "get" {
            a.verb = if matches!(q("watch"), Some("true" | "1" | "t" | "T" | "TRUE" | "True")) {
                "watch".into()
            } else {
                "list".into()
            };
            // A list or watch of one object by field selector is a request about it.
            if let Some(sel) = q("fieldSelector") {
                if let Some(name) = exact_name_selector(sel) {
                    a.name = name;
                }
            }
        }
        if a.name.is_empty() && a.verb == "delete" {
            a.verb = "deletecollection".into();
        }
        a
    }
}

/// The name a field selector pins down (`metadata.name=x` and nothing else).
fn exact_name_selector(sel: &str) -> Option<String> {
    let terms: Vec<&str> = sel.split(',').filter(|t| !t.is_empty()).collect();
    let mut found = None;
    for t in terms {
        let (k, v) = t.split_once("==").or_else(|| {
            if t.contains("!=") {
                None
            } else {
                t.split_once('=')
            }
        })?;
        if k.trim() == "metadata.name" {
            found = Some(v.trim().to_string());
        }
    }
    found.filter(|n| !n.is_empty() && n != "." && n != ".." && !n.contains(['/', '%']))
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// One rule of a Role or ClusterRole.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

fn has(set: &[String], s: &str) -> bool {
    set.iter().any(|x| x == s)
}

impl PolicyRule {
    /// Reads a rule from its JSON form.
    pub fn from_json(v: &Value) -> PolicyRule {
        PolicyRule {
            verbs: strings(v, "verbs"),
            api_groups: strings(v, "apiGroups"),
            resources: strings(v, "resources"),
            resource_names: strings(v, "resourceNames"),
            non_resource_urls: strings(v, "nonResourceURLs"),
        }
    }

    /// The rule's JSON form, empty lists left out.
    pub fn to_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        for (k, v) in [
            ("verbs", &self.verbs),
            ("apiGroups", &self.api_groups),
            ("resources", &self.resources),
            ("resourceNames", &self.resource_names),
            ("nonResourceURLs", &self.non_resource_urls),
        ] {
            if !v.is_empty() || k == "verbs" {
                m.insert(k.into(), json!(v));
            }
        }
        Value::Object(m)
    }

    /// `RuleAllows`: whether this rule permits the request.
    pub fn allows(&self, a: &Attributes) -> bool {
        let verb = has(&self.verbs, "*") || has(&self.verbs, &a.verb);
        if !a.resource_request {
            return verb
                && self.non_resource_urls.iter().any(|u| {
                    u == "*"
                        || *u == a.path
                        || (u.ends_with('*') && a.path.starts_with(u.trim_end_matches('*')))
                });
        }
        let combined = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        verb && (has(&self.api_groups, "*") || has(&self.api_groups, &a.api_group))
            && self.resources.iter().any(|r| {
                r == "*"
                    || *r == combined
                    || (!a.subresource.is_empty()
                        && r.len() == a.subresource.len() + 2
                        && r.starts_with("*/")
                        && r.ends_with(a.subresource.as_str()))
            })
            && (self.resource_names.is_empty() || has(&self.resource_names, &a.name))
    }

    /// Upstream's `PolicyRule.CompactString`: `{APIGroups:["apps"], Resources:["x"], Verbs:["get"]}`.
    pub fn compact_string(&self) -> String {
        let q = |v: &[String]| {
            format!(
                "[{}]",
                v.iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        let mut parts = Vec::new();
        for (label, v) in [
            ("APIGroups", &self.api_groups),
            ("Resources", &self.resources),
            ("NonResourceURLs", &self.non_resource_urls),
            ("ResourceNames", &self.resource_names),
            ("Verbs", &self.verbs),
        ] {
            if !v.is_empty() {
                parts.push(format!("{label}:{}", q(v)));
            }
        }
        format!("{{{}}}", parts.join(", "))
    }
}

/// A subject of a binding.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    pub kind: String,
    pub api_group: String,
    pub name: String,
    pub namespace: String,
}

impl Subject {
    fn from_json(v: &Value) -> Subject {
        Subject {
            kind: str_of(v, "kind").into(),
            api_group: str_of(v, "apiGroup").into(),
            name: str_of(v, "name").into(),
            namespace: str_of(v, "namespace").into(),
        }
    }

    /// `appliesToUser`: whether the subject names this user. Service account subjects
    /// without a namespace mean the binding's namespace.
    fn applies_to(&self, user: &UserInfo, binding_namespace: &str) -> bool {
        match self.kind.as_str() {
            "User" => user.name == self.name,
            "Group" => has(&user.groups, &self.name),
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() {
                    binding_namespace
                } else {
                    &self.namespace
                };
                !ns.is_empty() && user.name == service_account_username(ns, &self.name)
            }
            _ => false,
        }
    }

    fn describe(&self, binding_namespace: &str) -> String {
        match self.kind.as_str() {
            "ServiceAccount" => {
                let ns = if self.namespace.is_empty() {
                    binding_namespace
                } else {
                    &self.namespace
                };
                format!("{} {:?}", self.kind, format!("{}/{ns}", self.name))
            }
            _ => format!("{} {:?}", self.kind, self.name),
        }
    }
}

/// A binding's `roleRef`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleRef {
    pub api_group: String,
    pub kind: String,
    pub name: String,
}

impl RoleRef {
    fn from_json(v: &Value) -> RoleRef {
        let r = v.get("roleRef").cloned().unwrap_or(Value::Null);
        RoleRef {
            api_group: str_of(&r, "apiGroup").into(),
            kind: str_of(&r, "kind").into(),
            name: str_of(&r, "name").into(),
        }
    }
}

/// Where the RBAC objects come from: the store in the server, fixed lists in tests.
pub trait RbacSource {
    fn cluster_role_bindings(&self) -> Vec<Arc<Value>>;
    fn role_bindings(&self, namespace: &str) -> Vec<Arc<Value>>;
    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Value>>;
    fn cluster_role(&self, name: &str) -> Option<Arc<Value>>;
}

fn storage(plural: &str) -> String {
    format!("{GROUP}/{plural}")
}

impl RbacSource for Objects {
    fn cluster_role_bindings(&self) -> Vec<Arc<Value>> {
        self.store.list(&storage("clusterrolebindings"), None).0
    }
    fn role_bindings(&self, namespace: &str) -> Vec<Arc<Value>> {
        self.store.list(&storage("rolebindings"), Some(namespace)).0
    }
    fn role(&self, namespace: &str, name: &str) -> Option<Arc<Value>> {
        self.store
            .get(&Key::new(&storage("roles"), namespace, name))
    }
    fn cluster_role(&self, name: &str) -> Option<Arc<Value>> {
        self.store
            .get(&Key::new(&storage("clusterroles"), "", name))
    }
}

/// `GetRoleReferenceRules`: the rules a binding's roleRef points at, or the error
/// Kubernetes reports when it cannot be resolved.
pub fn role_ref_rules(
    src: &dyn RbacSource,
    role_ref: &RoleRef,
    binding_namespace: &str,
) -> Result<Vec<PolicyRule>, String> {
    let obj = match role_ref.kind.as_str() {
        "Role" => src.role(binding_namespace, &role_ref.name).ok_or_else(|| {
            format!(
                "role.rbac.authorization.k8s.io {:?} not found",
                role_ref.name
            )
        })?,
        "ClusterRole" => src.cluster_role(&role_ref.name).ok_or_else(|| {
            format!(
                "clusterrole.rbac.authorization.k8s.io {:?} not found",
                role_ref.name
            )
        })?,
        other => return Err(format!("unsupported role reference kind: {other:?}")),
    };
    Ok(obj
        .get("rules")
        .and_then(Value::as_array)
        .map(|rules| rules.iter().map(PolicyRule::from_json).collect())
        .unwrap_or_default())
}

/// Where a visited rule comes from, for "RBAC: allowed by ..." reasons.
pub struct RuleSource<'a> {
    binding: &'a Value,
    role_ref: &'a RoleRef,
    subject: &'a Subject,
    cluster: bool,
}

impl RuleSource<'_> {
    /// Upstream's describer: `ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`,
    /// `RoleBinding "x/ns" of Role "y" to ServiceAccount "sa/ns"`.
    pub fn describe(&self) -> String {
        let name = self
            .binding
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if self.cluster {
            format!(
                "ClusterRoleBinding {:?} of {} {:?} to {}",
                name,
                self.role_ref.kind,
                self.role_ref.name,
                self.subject.describe("")
            )
        } else {
            let ns = self
                .binding
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default();
            format!(
                "RoleBinding {:?} of {} {:?} to {}",
                format!("{name}/{ns}"),
                self.role_ref.kind,
                self.role_ref.name,
                self.subject.describe(ns)
            )
        }
    }
}

/// One step of `VisitRulesFor`.
pub enum Visit<'a> {
    Rule(&'a RuleSource<'a>, &'a PolicyRule),
    Error(String),
}

fn subjects(binding: &Value) -> Vec<Subject> {
    binding
        .get("subjects")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(Subject::from_json).collect())
        .unwrap_or_default()
}

/// `VisitRulesFor`: calls `visit` with every rule that applies to `user` in `namespace`
/// (ClusterRoleBindings first, then the namespace's RoleBindings) and every error met
/// resolving them, until `visit` returns false.
pub fn visit_rules(
    src: &dyn RbacSource,
    user: &UserInfo,
    namespace: &str,
    visit: &mut dyn FnMut(Visit<'_>) -> bool,
) {
    let mut bindings: Vec<(bool, Arc<Value>)> = src
        .cluster_role_bindings()
        .into_iter()
        .map(|b| (true, b))
        .collect();
    if !namespace.is_empty() {
        bindings.extend(src.role_bindings(namespace).into_iter().map(|b| (false, b)));
    }
    for (cluster, binding) in &bindings {
        let binding_ns = if *cluster { "" } else { namespace };
        let subjects = subjects(binding);
        let Some(subject) = subjects.iter().find(|s| s.applies_to(user, binding_ns)) else {
            continue;
        };
        let role_ref = RoleRef::from_json(binding);
        match role_ref_rules(src, &role_ref, binding_ns) {
            Err(e) => {
                if !visit(Visit::Error(e)) {
                    return;
                }
            }
            Ok(rules) => {
                let source = RuleSource {
                    binding,
                    role_ref: &role_ref,
                    subject,
                    cluster: *cluster,
                };
                for rule in &rules {
                    if !visit(Visit::Rule(&source, rule)) {
                        return;
                    }
                }
            }
        }
    }
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as is, several (deduplicated)
/// in brackets.
pub fn aggregate(errors: &[String]) -> String {
    let mut seen: Vec<&String> = Vec::new();
    for e in errors {
        if !seen.contains(&e) {
            seen.push(e);
        }
    }
    match seen.len() {
        0 => String::new(),
        1 => seen[0].clone(),
        _ => format!(
            "[{}]",
            seen.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// An authorization decision with Kubernetes' reason text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// `RBAC: allowed by ...` when allowed; `RBAC: <resolution errors>` or empty when not.
    pub reason: String,
}

/// Authorizes one request: `system:masters` may do anything; everyone else what the
/// RBAC rules bound to them allow.
pub fn authorize(src: &dyn RbacSource, user: &UserInfo, a: &Attributes) -> Decision {
    if user.is_superuser() {
        return Decision {
            allowed: true,
            reason: String::new(),
        };
    }
    let mut allowed_by = None;
    let mut errors = Vec::new();
    visit_rules(src, user, &a.namespace, &mut |v| match v {
        Visit::Rule(source, rule) => {
            if rule.allows(a) {
                allowed_by = Some(format!("RBAC: allowed by {}", source.describe()));
                false
            } else {
                true
            }
        }
        Visit::Error(e) => {
            errors.push(e);
            true
        }
    });
    match allowed_by {
        Some(reason) => Decision {
            allowed: true,
            reason,
        },
        None => Decision {
            allowed: false,
            reason: if errors.is_empty() {
                String::new()
            } else {
                format!("RBAC: {}", aggregate(&errors))
            },
        },
    }
}

/// `RulesFor`: every rule that applies to `user` in `namespace`, and the resolution
/// errors met. Superusers get the all-powerful rules.
pub fn rules_for(
    src: &dyn RbacSource,
    user: &UserInfo,
    namespace: &str,
) -> (Vec<PolicyRule>, Vec<String>) {
    if user.is_superuser() {
        return (
            vec![
                PolicyRule {
                    verbs: vec!["*".into()],
                    api_groups: vec!["*".into()],
                    resources: vec!["*".into()],
                    ..Default::default()
                },
                PolicyRule {
                    verbs: vec!["*".into()],
                    non_resource_urls: vec!["*".into()],
                    ..Default::default()
                },
            ],
            vec![],
        );
    }
    let mut rules = Vec::new();
    let mut errors = Vec::new();
    visit_rules(src, user, namespace, &mut |v| {
        match v {
            Visit::Rule(_, r) => rules.push(r.clone()),
            Visit::Error(e) => errors.push(e),
        }
        true
    });
    (rules, errors)
}

/// The 403 for a denied request, with upstream's message:
/// `pods is forbidden: User "u" cannot list resource "pods" in API group "" in the namespace "default"`.
pub fn forbidden(user: &UserInfo, a: &Attributes, reason: &str) -> ApiError {
    let msg = if !a.resource_request {
        format!("User {:?} cannot {} path {:?}", user.name, a.verb, a.path)
    } else {
        let resource = if a.subresource.is_empty() {
            a.resource.clone()
        } else {
            format!("{}/{}", a.resource, a.subresource)
        };
        if a.namespace.is_empty() {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} at the cluster scope",
                user.name, a.verb, resource, a.api_group
            )
        } else {
            format!(
                "User {:?} cannot {} resource {:?} in API group {:?} in the namespace {:?}",
                user.name, a.verb, resource, a.api_group, a.namespace
            )
        }
    };
    let msg = if reason.is_empty() {
        msg
    } else {
        format!("{msg}: {reason}")
    };
    let msg = msg
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    forbidden_error(&a.api_group, &a.resource, &a.name, &msg)
}

/// `errors.NewForbidden(groupResource, name, err)`.
pub fn forbidden_error(group: &str, resource: &str, name: &str, err: &str) -> ApiError {
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let message = if qualified.is_empty() {
        format!("forbidden: {err}")
    } else if name.is_empty() {
        format!("{qualified} is forbidden: {err}")
    } else {
        format!("{qualified} {name:?} is forbidden: {err}")
    };
    let mut e = ApiError::forbidden(message);
    if !resource.is_empty() {
        e.subject = Some(StatusSubject {
            group: group.into(),
            kind: resource.into(),
            name: name.into(),
        });
    }
    e
}

/// Breaks a rule into rules of one group, resource, verb and name (`BreakdownRule`).
fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    for g in &rule.api_groups {
        for r in &rule.resources {
            for v in &rule.verbs {
                let one = |names: Vec<String>| PolicyRule {
                    api_groups: vec![g.clone()],
                    resources: vec![r.clone()],
                    verbs: vec![v.clone()],
                    resource_names: names,
                    non_resource_urls: vec![],
                };
                if rule.resource_names.is_empty() {
                    out.push(one(vec![]));
                } else {
                    for n in &rule.resource_names {
                        out.push(one(vec![n.clone()]));
                    }
                }
            }
        }
    }
    for u in &rule.non_resource_urls {
        for v in &rule.verbs {
            out.push(PolicyRule {
                non_resource_urls: vec![u.clone()],
                verbs: vec![v.clone()],
                ..Default::default()
            });
        }
    }
    out
}

fn has_all(set: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|w| has(set, w))
}

fn resource_covers_all(owner: &[String], wanted: &[String]) -> bool {
    if has(owner, "*") || has_all(owner, wanted) {
        return true;
    }
    wanted.iter().all(|path| {
        has(owner, path)
            || path
                .split_once('/')
                .is_some_and(|(_, sub)| has(owner, &format!("*/{sub}")))
    })
}

fn rule_covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, "*") || has_all(&owner.verbs, &sub.verbs);
    let groups = has(&owner.api_groups, "*") || has_all(&owner.api_groups, &sub.api_groups);
    let resources = resource_covers_all(&owner.resources, &sub.resources);
    let urls = sub.non_resource_urls.iter().all(|p| {
        owner
            .non_resource_urls
            .iter()
            .any(|o| o == p || (o.ends_with('*') && p.starts_with(o.trim_end_matches('*'))))
    });
    let names = owner.resource_names.is_empty()
        || (!sub.resource_names.is_empty() && has_all(&owner.resource_names, &sub.resource_names));
    verbs && groups && resources && names && urls
}

/// `Covers`: whether `owner` rules allow everything `servant` rules do, and the atomic
/// rules they do not cover.
pub fn covers(owner: &[PolicyRule], servant: &[PolicyRule]) -> (bool, Vec<PolicyRule>) {
    let missing: Vec<PolicyRule> = servant
        .iter()
        .flat_map(breakdown)
        .filter(|sub| !owner.iter().any(|o| rule_covers(o, sub)))
        .collect();
    (missing.is_empty(), missing)
}

fn rules_of(obj: &Value) -> Vec<PolicyRule> {
    obj.get("rules")
        .and_then(Value::as_array)
        .map(|r| r.iter().map(PolicyRule::from_json).collect())
        .unwrap_or_default()
}

/// `ConfirmNoEscalation`: `user` may only grant rules it holds in `namespace`.
fn confirm_no_escalation(
    src: &dyn RbacSource,
    user: &UserInfo,
    namespace: &str,
    rules: &[PolicyRule],
) -> Result<(), String> {
    let (owner, errors) = rules_for(src, user, namespace);
    let (ok, missing) = covers(&owner, rules);
    if ok {
        return Ok(());
    }
    let described: BTreeSet<String> = missing.iter().map(PolicyRule::compact_string).collect();
    let groups = format!(
        "[{}]",
        user.groups
            .iter()
            .map(|g| format!("{g:?}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut msg = format!(
        "user {:?} (groups={groups}) is attempting to grant RBAC permissions not currently held:\n{}",
        user.name,
        described.into_iter().collect::<Vec<_>>().join("\n")
    );
    if !errors.is_empty() {
        msg.push_str(&format!("; resolution errors: [{}]", errors.join(" ")));
    }
    Err(msg)
}

/// The privilege-escalation check of writes to the RBAC kinds (Kubernetes' policy-based
/// storage): a Role/ClusterRole may only hold rules its writer holds (or the writer has
/// `escalate` on it); a binding may only point at a role whose rules the writer holds (or
/// the writer has `bind` on it). `old` is the current object on update; unchanged rules
/// or roleRefs are not checked again. Superusers skip the check.
pub fn check_escalation(
    src: &dyn RbacSource,
    user: &UserInfo,
    plural: &str,
    namespace: &str,
    obj: &Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    if user.is_superuser() {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let ns = if matches!(plural, "roles" | "rolebindings") {
        namespace
    } else {
        ""
    };
    match plural {
        "roles" | "clusterroles" => {
            let rules = rules_of(obj);
            if old.is_some_and(|o| rules_of(o) == rules) {
                return Ok(());
            }
            let escalate = Attributes::resource("escalate", GROUP, plural, ns, name);
            if authorize(src, user, &escalate).allowed {
                return Ok(());
            }
            confirm_no_escalation(src, user, ns, &rules)
                .map_err(|e| forbidden_error(GROUP, plural, name, &e))
        }
        "rolebindings" | "clusterrolebindings" => {
            let role_ref = RoleRef::from_json(obj);
            if old.is_some_and(|o| RoleRef::from_json(o) == role_ref) {
                return Ok(());
            }
            let resource = match role_ref.kind.as_str() {
                "Role" => Some("roles"),
                "ClusterRole" => Some("clusterroles"),
                _ => None,
            };
            if let Some(resource) = resource {
                let bind =
                    Attributes::resource("bind", &role_ref.api_group, resource, ns, &role_ref.name);
                if authorize(src, user, &bind).allowed {
                    return Ok(());
                }
            }
            let rules = role_ref_rules(src, &role_ref, ns)
                .map_err(|e| forbidden_error(GROUP, plural, name, &e))?;
            confirm_no_escalation(src, user, ns, &rules)
                .map_err(|e| forbidden_error(GROUP, plural, name, &e))
        }
        _ => Ok(()),
    }
}

/// Server-side defaults of the RBAC kinds (`pkg/apis/rbac/v1/defaults.go`): a binding's
/// `roleRef.apiGroup` and User/Group subjects' `apiGroup` default to the RBAC group.
pub fn apply_defaults(kind: &str, obj: &mut Value) {
    if !matches!(kind, "RoleBinding" | "ClusterRoleBinding") {
        return;
    }
    if let Some(r) = obj.get_mut("roleRef").and_then(Value::as_object_mut) {
        if r.get("apiGroup")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            r.insert("apiGroup".into(), json!(GROUP));
        }
    }
    if let Some(subjects) = obj.get_mut("subjects").and_then(Value::as_array_mut) {
        for s in subjects {
            let kind = s.get("kind").and_then(Value::as_str).unwrap_or_default();
            let unset = s
                .get("apiGroup")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty);
            if unset && matches!(kind, "User" | "Group") {
                s["apiGroup"] = json!(GROUP);
            }
        }
    }
}

fn required(field: String, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueRequired".into(),
        message: if detail.is_empty() {
            "Required value".into()
        } else {
            format!("Required value: {detail}")
        },
        field,
    }
}

fn invalid(field: String, value: String, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {value}: {detail}"),
        field,
    }
}

fn not_supported(field: String, value: &str, supported: &[&str]) -> Cause {
    Cause {
        reason: "FieldValueNotSupported".into(),
        message: format!(
            "Unsupported value: {value:?}: supported values: {}",
            supported
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        field,
    }
}

fn go_strings(v: &[String]) -> String {
    format!(
        "[]string{{{}}}",
        v.iter()
            .map(|s| format!("{s:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `path.IsValidPathSegmentName`: the name rule of the RBAC kinds (colons allowed, as in
/// `system:discovery`).
pub fn validate_path_segment_name(name: &str) -> Result<(), String> {
    let mut msgs = Vec::new();
    if name == "." || name == ".." {
        msgs.push(format!("may not be '{name}'"));
    }
    for bad in ["/", "%"] {
        if name.contains(bad) {
            msgs.push(format!("may not contain '{bad}'"));
        }
    }
    if msgs.is_empty() {
        Ok(())
    } else {
        Err(msgs.join(", "))
    }
}

/// `ValidateRole`/`ValidateClusterRole`/`ValidateRoleBinding`/`ValidateClusterRoleBinding`
/// (+ their update forms: a binding's roleRef cannot change), with upstream's messages.
pub fn validate(kind: &str, obj: &Value, old: Option<&Value>, causes: &mut Vec<Cause>) {
    match kind {
        "Role" | "ClusterRole" => {
            let namespaced = kind == "Role";
            for (i, rule) in obj
                .get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let r = PolicyRule::from_json(rule);
                let p = |f: &str| format!("rules[{i}].{f}");
                if r.verbs.is_empty() {
                    causes.push(required(
                        p("verbs"),
                        "verbs must contain at least one value",
                    ));
                }
                if !r.non_resource_urls.is_empty() {
                    if namespaced {
                        causes.push(invalid(
                            p("nonResourceURLs"),
                            go_strings(&r.non_resource_urls),
                            "namespaced rules cannot apply to non-resource URLs",
                        ));
                    }
                    if !r.api_groups.is_empty()
                        || !r.resources.is_empty()
                        || !r.resource_names.is_empty()
                    {
                        causes.push(invalid(
                            p("nonResourceURLs"),
                            go_strings(&r.non_resource_urls),
                            "rules cannot apply to both regular resources and non-resource URLs",
                        ));
                    }
                    continue;
                }
                if r.api_groups.is_empty() {
                    causes.push(required(
                        p("apiGroups"),
                        "resource rules must supply at least one api group",
                    ));
                }
                if r.resources.is_empty() {
                    causes.push(required(
                        p("resources"),
                        "resource rules must supply at least one resource",
                    ));
                }
                if !r.resource_names.is_empty() && r.resources.len() > 1 {
                    causes.push(required(
                        p("resourceNames"),
                        "resource names cannot apply to multiple resources",
                    ));
                }
            }
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            let namespaced = kind == "RoleBinding";
            let role_ref = RoleRef::from_json(obj);
            if role_ref.api_group != GROUP {
                causes.push(not_supported(
                    "roleRef.apiGroup".into(),
                    &role_ref.api_group,
                    &[GROUP],
                ));
            }
            let kinds: &[&str] = if namespaced {
                &["Role", "ClusterRole"]
            } else {
                &["ClusterRole"]
            };
            if !kinds.contains(&role_ref.kind.as_str()) {
                causes.push(not_supported("roleRef.kind".into(), &role_ref.kind, kinds));
            }
            if role_ref.name.is_empty() {
                causes.push(required("roleRef.name".into(), ""));
            } else if let Err(msg) = validate_path_segment_name(&role_ref.name) {
                causes.push(invalid(
                    "roleRef.name".into(),
                    format!("{:?}", role_ref.name),
                    &msg,
                ));
            }
            for (i, s) in subjects(obj).iter().enumerate() {
                let p = |f: &str| format!("subjects[{i}].{f}");
                if s.name.is_empty() {
                    causes.push(required(p("name"), ""));
                }
                match s.kind.as_str() {
                    "ServiceAccount" => {
                        if !s.name.is_empty() {
                            if let Err(msg) = crate::names::validate_dns1123_subdomain(&s.name) {
                                causes.push(invalid(p("name"), format!("{:?}", s.name), &msg));
                            }
                        }
                        if !s.api_group.is_empty() {
                            causes.push(not_supported(p("apiGroup"), &s.api_group, &[""]));
                        }
                        if !namespaced && s.namespace.is_empty() {
                            causes.push(required(p("namespace"), ""));
                        }
                    }
                    "User" | "Group" => {
                        if s.name.is_empty() {
                            let what = if s.kind == "User" { "user" } else { "group" };
                            causes.push(invalid(
                                p("name"),
                                "\"\"".into(),
                                &format!("{what} name cannot be empty"),
                            ));
                        }
                        if s.api_group != GROUP {
                            causes.push(not_supported(p("apiGroup"), &s.api_group, &[GROUP]));
                        }
                    }
                    other => causes.push(not_supported(
                        p("kind"),
                        other,
                        &["ServiceAccount", "User", "Group"],
                    )),
                }
            }
            if let Some(old) = old {
                let was = RoleRef::from_json(old);
                if was != role_ref {
                    causes.push(invalid(
                        "roleRef".into(),
                        format!(
                            "rbac.RoleRef{{APIGroup:{:?}, Kind:{:?}, Name:{:?}}}",
                            role_ref.api_group, role_ref.kind, role_ref.name
                        ),
                        "cannot change roleRef",
                    ));
                }
            }
        }
        _ => {}
    }
}

fn bootstrap_meta(name: &str) -> Value {
    json!({
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    })
}

fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> Value {
    json!({"verbs": verbs, "apiGroups": groups, "resources": resources})
}

fn url_rule(verbs: &[&str], urls: &[&str]) -> Value {
    json!({"verbs": verbs, "nonResourceURLs": urls})
}

const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];

/// The default ClusterRoles, as Kubernetes' bootstrap policy has them: `cluster-admin`,
/// the discovery/self-review roles every authenticated identity is bound to, and the
/// user-facing `admin`, `edit` and `view` — written out (no aggregation) over the core
/// kinds skiff serves plus `extra_groups` (skiff's CRD groups: Knative, Tekton, ...).
pub fn bootstrap_cluster_roles(extra_groups: &[String]) -> Vec<Value> {
    let groups: Vec<&str> = extra_groups.iter().map(String::as_str).collect();
    let core_read = &[
        "configmaps",
        "events",
        "pods",
        "pods/log",
        "pods/status",
        "serviceaccounts",
    ];
    let view = vec![
        rule(READ, &[""], core_read),
        rule(READ, &[""], &["namespaces", "namespaces/status"]),
        rule(READ, &groups, &["*"]),
    ];
    let edit = vec![
        rule(READ, &[""], core_read),
        rule(READ, &[""], &["namespaces", "namespaces/status", "secrets"]),
        rule(
            WRITE,
            &[""],
            &["configmaps", "events", "secrets", "serviceaccounts"],
        ),
        rule(&["create"], &[""], &["serviceaccounts/token"]),
        rule(&["impersonate"], &[""], &["serviceaccounts"]),
        rule(&["*"], &groups, &["*"]),
    ];
    let mut admin = edit.clone();
    admin.push(rule(
        &[
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ],
        &[GROUP],
        &["rolebindings", "roles"],
    ));
    admin.push(rule(
        &["create"],
        &["authorization.k8s.io"],
        &["localsubjectaccessreviews"],
    ));
    let role = |name: &str, rules: Vec<Value>| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": bootstrap_meta(name), "rules": rules})
    };
    vec![
        role(
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), url_rule(&["*"], &["*"])],
        ),
        role("admin", admin),
        role("edit", edit),
        role("view", view),
        role(
            "system:discovery",
            vec![url_rule(
                &["get"],
                &[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/healthz",
                    "/livez",
                    "/openapi",
                    "/openapi/*",
                    "/readyz",
                    "/version",
                    "/version/",
                ],
            )],
        ),
        role(
            "system:basic-user",
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        ),
        role(
            "system:public-info-viewer",
            vec![url_rule(
                &["get"],
                &["/healthz", "/livez", "/readyz", "/version", "/version/"],
            )],
        ),
    ]
}

/// The default ClusterRoleBindings: `system:masters` to cluster-admin, every
/// authenticated identity to discovery and self-reviews.
pub fn bootstrap_cluster_role_bindings() -> Vec<Value> {
    let binding = |name: &str, groups: &[&str]| {
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": bootstrap_meta(name),
               "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
               "subjects": groups.iter().map(|g| json!({"apiGroup": GROUP, "kind": "Group", "name": g})).collect::<Vec<_>>()})
    };
    vec![
        binding("cluster-admin", &[SYSTEM_MASTERS]),
        binding("system:discovery", &[ALL_AUTHENTICATED]),
        binding("system:basic-user", &[ALL_AUTHENTICATED]),
        binding(
            "system:public-info-viewer",
            &[ALL_AUTHENTICATED, ALL_UNAUTHENTICATED],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Static {
        roles: Vec<Value>,
        cluster_roles: Vec<Value>,
        bindings: Vec<Value>,
        cluster_bindings: Vec<Value>,
    }

    fn name_ns(v: &Value) -> (&str, &str) {
        (
            v.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            v.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        )
    }

    impl RbacSource for Static {
        fn cluster_role_bindings(&self) -> Vec<Arc<Value>> {
            self.cluster_bindings
                .iter()
                .cloned()
                .map(Arc::new)
                .collect()
        }
        fn role_bindings(&self, namespace: &str) -> Vec<Arc<Value>> {
            self.bindings
                .iter()
                .filter(|b| name_ns(b).1 == namespace)
                .cloned()
                .map(Arc::new)
                .collect()
        }
        fn role(&self, namespace: &str, name: &str) -> Option<Arc<Value>> {
            self.roles
                .iter()
                .find(|r| name_ns(r) == (name, namespace))
                .cloned()
                .map(Arc::new)
        }
        fn cluster_role(&self, name: &str) -> Option<Arc<Value>> {
            self.cluster_roles
                .iter()
                .find(|r| name_ns(r).0 == name)
                .cloned()
                .map(Arc::new)
        }
    }

    fn sa(ns: &str, name: &str) -> UserInfo {
        UserInfo::service_account(ns, name, "uid-1")
    }

    fn role(ns: &str, name: &str, rules: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": ns}, "rules": rules})
    }

    fn binding(ns: &str, name: &str, kind: &str, role: &str, subjects: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": ns},
               "roleRef": {"apiGroup": GROUP, "kind": kind, "name": role},
               "subjects": subjects})
    }

    fn with_defaults() -> Static {
        Static {
            cluster_roles: bootstrap_cluster_roles(&["serving.knative.dev".into()]),
            cluster_bindings: bootstrap_cluster_role_bindings(),
            ..Default::default()
        }
    }

    fn get(path: &str) -> Attributes {
        Attributes::from_request(&http::Method::GET, path, None)
    }

    #[test]
    fn request_attributes_like_request_info_factory() {
        let a = get("/api/v1/namespaces/default/pods");
        assert_eq!(
            (
                a.verb.as_str(),
                a.resource.as_str(),
                a.namespace.as_str(),
                a.resource_request
            ),
            ("list", "pods", "default", true)
        );
        let a = Attributes::from_request(
            &http::Method::GET,
            "/api/v1/namespaces/default/pods",
            Some("watch=true&fieldSelector=metadata.name%3Dweb"),
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("watch", "web"));
        let a = get("/api/v1/namespaces/ns1/pods/web/log");
        assert_eq!(
            (a.verb.as_str(), a.subresource.as_str(), a.name.as_str()),
            ("get", "log", "web")
        );
        let a = get("/apis/serving.knative.dev/v1/services");
        assert_eq!(
            (a.api_group.as_str(), a.namespace.as_str(), a.verb.as_str()),
            ("serving.knative.dev", "", "list")
        );
        // A namespace is a request in that namespace.
        let a = get("/api/v1/namespaces/team");
        assert_eq!(
            (a.resource.as_str(), a.name.as_str(), a.namespace.as_str()),
            ("namespaces", "team", "team")
        );
        let a =
            Attributes::from_request(&http::Method::PUT, "/api/v1/namespaces/team/status", None);
        assert_eq!(
            (a.verb.as_str(), a.resource.as_str(), a.subresource.as_str()),
            ("update", "namespaces", "status")
        );
        let a = Attributes::from_request(
            &http::Method::DELETE,
            "/api/v1/namespaces/d/configmaps",
            None,
        );
        assert_eq!(a.verb, "deletecollection");
        for p in [
            "/api",
            "/apis",
            "/api/v1",
            "/apis/serving.knative.dev/v1",
            "/version",
            "/openapi/v3",
        ] {
            let a = get(p);
            assert!(!a.resource_request, "{p}");
            assert_eq!(a.verb, "get");
        }
        let a = Attributes::from_request(
            &http::Method::POST,
            "/api/v1/namespaces/d/serviceaccounts/b/token",
            None,
        );
        assert_eq!(
            (a.verb.as_str(), a.resource.as_str(), a.subresource.as_str()),
            ("create", "serviceaccounts", "token")
        );
    }

    #[test]
    fn no_binding_no_access_with_upstream_message() {
        let src = with_defaults();
        let user = sa("default", "builder");
        let a = get("/api/v1/namespaces/default/pods");
        let d = authorize(&src, &user, &a);
        assert!(!d.allowed);
        assert_eq!(d.reason, "");
        assert_eq!(
            forbidden(&user, &a, &d.reason).message,
            "pods is forbidden: User \"system:serviceaccount:default:builder\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""
        );
        let a = get("/apis/serving.knative.dev/v1/services");
        assert_eq!(
            forbidden(&user, &a, "").message,
            "services.serving.knative.dev is forbidden: User \"system:serviceaccount:default:builder\" cannot list resource \"services\" in API group \"serving.knative.dev\" at the cluster scope"
        );
        let a = get("/api/v1/namespaces/default/pods/web/log");
        assert_eq!(
            forbidden(&user, &a, "").message,
            "pods \"web\" is forbidden: User \"system:serviceaccount:default:builder\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"default\""
        );
        let a = get("/logs");
        assert_eq!(
            forbidden(&user, &a, "").message,
            "forbidden: User \"system:serviceaccount:default:builder\" cannot get path \"/logs\""
        );
    }

    #[test]
    fn discovery_and_self_reviews_for_everyone_authenticated() {
        let src = with_defaults();
        let user = sa("default", "builder");
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/serving.knative.dev/v1",
            "/version",
            "/openapi/v3/apis/x/v1",
            "/healthz",
        ] {
            assert!(authorize(&src, &user, &get(p)).allowed, "{p}");
        }
        let ssar = Attributes::resource(
            "create",
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "",
            "",
        );
        let d = authorize(&src, &user, &ssar);
        assert!(d.allowed);
        assert_eq!(d.reason, "RBAC: allowed by ClusterRoleBinding \"system:basic-user\" of ClusterRole \"system:basic-user\" to Group \"system:authenticated\"");
        assert!(!authorize(&src, &user, &get("/metrics")).allowed);
    }

    #[test]
    fn role_binding_grants_in_its_namespace_only() {
        let mut src = with_defaults();
        src.roles.push(role(
            "default",
            "pod-reader",
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]),
        ));
        src.bindings.push(binding(
            "default",
            "read-pods",
            "Role",
            "pod-reader",
            json!([{"kind": "ServiceAccount", "name": "builder"}]),
        ));
        let user = sa("default", "builder");
        let d = authorize(&src, &user, &get("/api/v1/namespaces/default/pods"));
        assert!(d.allowed);
        assert_eq!(d.reason, "RBAC: allowed by RoleBinding \"read-pods/default\" of Role \"pod-reader\" to ServiceAccount \"builder/default\"");
        assert!(!authorize(&src, &user, &get("/api/v1/namespaces/other/pods")).allowed);
        assert!(!authorize(&src, &user, &get("/api/v1/pods")).allowed);
        assert!(
            !authorize(
                &src,
                &sa("other", "builder"),
                &get("/api/v1/namespaces/default/pods")
            )
            .allowed
        );
        // Verbs are exact.
        let del = Attributes::from_request(
            &http::Method::DELETE,
            "/api/v1/namespaces/default/pods/x",
            None,
        );
        assert!(!authorize(&src, &user, &del).allowed);
        // Subresources need their own rule.
        assert!(!authorize(&src, &user, &get("/api/v1/namespaces/default/pods/x/log")).allowed);
    }

    #[test]
    fn cluster_role_binding_grants_everywhere() {
        let mut src = with_defaults();
        src.cluster_roles.push(role(
            "",
            "ns-reader",
            json!([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["*"]}]),
        ));
        src.cluster_bindings.push(binding(
            "",
            "b",
            "ClusterRole",
            "ns-reader",
            json!([{"kind": "ServiceAccount", "name": "builder", "namespace": "ci"}]),
        ));
        let user = sa("ci", "builder");
        assert!(authorize(&src, &user, &get("/api/v1/namespaces")).allowed);
        assert!(authorize(&src, &user, &get("/api/v1/namespaces/x")).allowed);
        // A ClusterRoleBinding's service account subject needs its namespace.
        src.cluster_bindings.push(binding(
            "",
            "c",
            "ClusterRole",
            "ns-reader",
            json!([{"kind": "ServiceAccount", "name": "other"}]),
        ));
        assert!(!authorize(&src, &sa("ci", "other"), &get("/api/v1/namespaces")).allowed);
    }

    #[test]
    fn cluster_role_in_a_role_binding_is_namespaced() {
        let mut src = with_defaults();
        src.bindings.push(binding(
            "team",
            "edit",
            "ClusterRole",
            "edit",
            json!([{"kind": "Group", "apiGroup": GROUP, "name": "system:serviceaccounts:team"}]),
        ));
        let user = sa("team", "bot");
        let create = Attributes::from_request(
            &http::Method::POST,
            "/apis/serving.knative.dev/v1/namespaces/team/services",
            None,
        );
        assert!(authorize(&src, &user, &create).allowed);
        let elsewhere = Attributes::from_request(
            &http::Method::POST,
            "/apis/serving.knative.dev/v1/namespaces/prod/services",
            None,
        );
        assert!(!authorize(&src, &user, &elsewhere).allowed);
    }

    #[test]
    fn resource_names_and_subresources() {
        let mut src = with_defaults();
        src.roles.push(role(
            "d",
            "r",
            json!([
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["app"], "verbs": ["get", "update", "list", "watch"]},
                {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                {"apiGroups": ["serving.knative.dev"], "resources": ["*/status"], "verbs": ["get"]}
            ]),
        ));
        src.bindings.push(binding(
            "d",
            "b",
            "Role",
            "r",
            json!([{"kind": "User", "apiGroup": GROUP, "name": "alice"}]),
        ));
        let alice = UserInfo {
            name: "alice".into(),
            groups: vec![ALL_AUTHENTICATED.into()],
            ..Default::default()
        };
        assert!(authorize(&src, &alice, &get("/api/v1/namespaces/d/configmaps/app")).allowed);
        assert!(!authorize(&src, &alice, &get("/api/v1/namespaces/d/configmaps/other")).allowed);
        // A list has no name, so resourceNames rules do not allow it...
        assert!(!authorize(&src, &alice, &get("/api/v1/namespaces/d/configmaps")).allowed);
        // ...unless the list is pinned to the name by a field selector.
        let pinned = Attributes::from_request(
            &http::Method::GET,
            "/api/v1/namespaces/d/configmaps",
            Some("fieldSelector=metadata.name%3Dapp&watch=1"),
        );
        assert!(authorize(&src, &alice, &pinned).allowed);
        assert!(authorize(&src, &alice, &get("/api/v1/namespaces/d/pods/p/log")).allowed);
        assert!(!authorize(&src, &alice, &get("/api/v1/namespaces/d/pods/p")).allowed);
        assert!(
            authorize(
                &src,
                &alice,
                &get("/apis/serving.knative.dev/v1/namespaces/d/services/s/status")
            )
            .allowed
        );
        assert!(
            !authorize(
                &src,
                &alice,
                &get("/apis/serving.knative.dev/v1/namespaces/d/services/s")
            )
            .allowed
        );
    }

    #[test]
    fn missing_role_grants_nothing_and_says_why() {
        let mut src = with_defaults();
        src.bindings.push(binding(
            "d",
            "b",
            "Role",
            "missing",
            json!([{"kind": "ServiceAccount", "name": "x"}]),
        ));
        src.bindings.push(binding(
            "d",
            "c",
            "ClusterRole",
            "gone",
            json!([{"kind": "ServiceAccount", "name": "x"}]),
        ));
        let user = sa("d", "x");
        let a = get("/api/v1/namespaces/d/pods");
        let d = authorize(&src, &user, &a);
        assert!(!d.allowed);
        assert_eq!(d.reason, "RBAC: [role.rbac.authorization.k8s.io \"missing\" not found, clusterrole.rbac.authorization.k8s.io \"gone\" not found]");
        assert!(forbidden(&user, &a, &d.reason).message.ends_with(
            "in the namespace \"d\": RBAC: [role.rbac.authorization.k8s.io \"missing\" not found, clusterrole.rbac.authorization.k8s.io \"gone\" not found]"
        ));
    }

    #[test]
    fn superusers_skip_rbac() {
        let src = Static::default();
        let admin = UserInfo {
            name: "skiff-admin".into(),
            groups: vec![SYSTEM_MASTERS.into(), ALL_AUTHENTICATED.into()],
            ..Default::default()
        };
        assert!(authorize(&src, &admin, &get("/api/v1/secrets")).allowed);
        assert!(authorize(&src, &admin, &get("/anything")).allowed);
    }

    #[test]
    fn non_resource_url_wildcards() {
        let r = PolicyRule::from_json(
            &json!({"verbs": ["get"], "nonResourceURLs": ["/healthz/*", "/version"]}),
        );
        assert!(r.allows(&get("/healthz/etcd")));
        assert!(r.allows(&get("/version")));
        assert!(!r.allows(&get("/version/x")));
        assert!(!r.allows(&Attributes::non_resource("post", "/version")));
    }

    #[test]
    fn covers_like_upstream() {
        let owner = vec![
            PolicyRule::from_json(
                &json!({"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods", "*/log"]}),
            ),
            PolicyRule::from_json(
                &json!({"verbs": ["*"], "apiGroups": ["serving.knative.dev"], "resources": ["services"], "resourceNames": ["a"]}),
            ),
        ];
        let ok = vec![PolicyRule::from_json(
            &json!({"verbs": ["get"], "apiGroups": [""], "resources": ["pods", "pods/log"]}),
        )];
        assert!(covers(&owner, &ok).0);
        let named = vec![PolicyRule::from_json(
            &json!({"verbs": ["delete"], "apiGroups": ["serving.knative.dev"], "resources": ["services"], "resourceNames": ["a"]}),
        )];
        assert!(covers(&owner, &named).0);
        let all_names = vec![PolicyRule::from_json(
            &json!({"verbs": ["delete"], "apiGroups": ["serving.knative.dev"], "resources": ["services"]}),
        )];
        let (ok, missing) = covers(&owner, &all_names);
        assert!(!ok);
        assert_eq!(
            missing[0].compact_string(),
            "{APIGroups:[\"serving.knative.dev\"], Resources:[\"services\"], Verbs:[\"delete\"]}"
        );
        let star = vec![PolicyRule::from_json(
            &json!({"verbs": ["*"], "apiGroups": [""], "resources": ["pods"]}),
        )];
        assert!(!covers(&owner, &star).0);
    }

    #[test]
    fn escalation_needs_held_rules_or_bind() {
        let mut src = with_defaults();
        src.roles.push(role(
            "d",
            "binder",
            json!([{"apiGroups": [GROUP], "resources": ["rolebindings", "roles"], "verbs": ["create"]},
                   {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
        ));
        src.bindings.push(binding(
            "d",
            "b",
            "Role",
            "binder",
            json!([{"kind": "ServiceAccount", "name": "x"}]),
        ));
        let user = sa("d", "x");
        let small = role(
            "d",
            "small",
            json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]),
        );
        assert!(check_escalation(&src, &user, "roles", "d", &small, None).is_ok());
        let big = role(
            "d",
            "big",
            json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]),
        );
        let e = check_escalation(&src, &user, "roles", "d", &big, None).unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(e.message, "roles.rbac.authorization.k8s.io \"big\" is forbidden: user \"system:serviceaccount:d:x\" (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:d\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}");
        let to_admin = binding(
            "d",
            "mine",
            "ClusterRole",
            "cluster-admin",
            json!([{"kind": "ServiceAccount", "name": "x"}]),
        );
        assert_eq!(
            check_escalation(&src, &user, "rolebindings", "d", &to_admin, None)
                .unwrap_err()
                .code,
            403
        );
        let to_missing = binding(
            "d",
            "m",
            "Role",
            "missing",
            json!([{"kind": "ServiceAccount", "name": "x"}]),
        );
        assert_eq!(
            check_escalation(&src, &user, "rolebindings", "d", &to_missing, None)
                .unwrap_err()
                .message,
            "rolebindings.rbac.authorization.k8s.io \"m\" is forbidden: role.rbac.authorization.k8s.io \"missing\" not found"
        );
        // With `bind` on cluster-admin, the binding is fine.
        src.roles.push(role(
            "d",
            "binder2",
            json!([{"apiGroups": [GROUP], "resources": ["clusterroles"], "verbs": ["bind"], "resourceNames": ["cluster-admin"]}]),
        ));
        src.bindings.push(binding(
            "d",
            "b2",
            "Role",
            "binder2",
            json!([{"kind": "ServiceAccount", "name": "x"}]),
        ));
        assert!(check_escalation(&src, &user, "rolebindings", "d", &to_admin, None).is_ok());
    }

    #[test]
    fn validation_messages() {
        let mut causes = Vec::new();
        validate(
            "Role",
            &json!({"rules": [{"verbs": [], "apiGroups": [""], "resources": ["pods"]},
                              {"verbs": ["get"], "nonResourceURLs": ["/x"]}]}),
            None,
            &mut causes,
        );
        let msgs: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(
            msgs,
            vec![
                "rules[0].verbs: Required value: verbs must contain at least one value",
                "rules[1].nonResourceURLs: Invalid value: []string{\"/x\"}: namespaced rules cannot apply to non-resource URLs",
            ]
        );
        let mut causes = Vec::new();
        let mut b = json!({"roleRef": {"kind": "Role", "name": "r"},
                           "subjects": [{"kind": "ServiceAccount", "name": "x"}, {"kind": "Robot", "name": "y"}]});
        apply_defaults("ClusterRoleBinding", &mut b);
        validate("ClusterRoleBinding", &b, None, &mut causes);
        let msgs: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(
            msgs,
            vec![
                "roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"",
                "subjects[0].namespace: Required value",
                "subjects[1].kind: Unsupported value: \"Robot\": supported values: \"ServiceAccount\", \"User\", \"Group\"",
            ]
        );
        let old = json!({"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "a"}});
        let new = json!({"roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "b"}});
        let mut causes = Vec::new();
        validate("RoleBinding", &new, Some(&old), &mut causes);
        assert_eq!(causes[0].field, "roleRef");
        assert!(causes[0].message.ends_with("cannot change roleRef"));
    }

    #[test]
    fn service_account_usernames() {
        assert_eq!(
            split_service_account_username("system:serviceaccount:ns:sa"),
            Some(("ns".into(), "sa".into()))
        );
        assert_eq!(
            split_service_account_username("system:serviceaccount:ns"),
            None
        );
        assert_eq!(split_service_account_username("alice"), None);
        assert_eq!(
            split_service_account_username("system:serviceaccount:a:b:c"),
            None
        );
    }
}
