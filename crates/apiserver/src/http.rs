//! The HTTP face of the API: Kubernetes' URL layout (`/api/v1/...`,
//! `/apis/{group}/{version}/...`), verbs, query parameters, content negotiation,
//! bearer-token authentication and RBAC authorization of every request, as an axum
//! `Router` — which is also the `tower::Service` an in-process `kube::Client` talks to.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{header, HeaderMap, Method, StatusCode};
use serde_json::{json, Value};

use crate::auth::TokenIssuer;
use crate::body;
use crate::objects::{
    DeleteOptions, Deleted, FieldValidation, ListOptions, Listed, Objects, Propagation,
    WriteOptions,
};
use crate::patch::{PatchType, PATCH_CONTENT_TYPES};
use crate::rbac::{self, Attributes, UserInfo};
use crate::registry::ResourceDef;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::{success_status, ApiError};
use crate::table::{self, IncludeObject, Representation};
use crate::{discovery, openapi, reviews, watch};

/// Settings of the HTTP layer.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Largest accepted request body; bigger ones get 413.
    pub max_body_bytes: usize,
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// The version reported at `/version`.
    pub git_version: String,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            max_body_bytes: 3 * 1024 * 1024,
            bookmark_interval: Duration::from_secs(60),
            git_version: "v1.33.0".into(),
        }
    }
}

/// Everything a request handler needs.
pub struct App {
    pub objects: Arc<Objects>,
    /// Admin bearer tokens: all-powerful (`system:masters`).
    pub tokens: Vec<String>,
    pub options: HttpOptions,
    /// Serves `pods/{name}/log` once a runtime plugs in.
    pub pod_logs: crate::pod_logs::PodLogs,
    /// Signs and verifies service-account tokens (see `App::service_account_token`).
    pub sa_tokens: TokenIssuer,
}

impl App {
    /// An API over `objects` accepting admin `tokens`, with no log source yet and a
    /// fresh service-account signing key (tokens it mints die with the process).
    pub fn new(objects: Arc<Objects>, tokens: Vec<String>, options: HttpOptions) -> App {
        App {
            objects,
            tokens,
            options,
            pod_logs: Default::default(),
            sa_tokens: TokenIssuer::random(),
        }
    }
}

/// Who is calling: an authenticated (and authorized) identity, or skiff's own
/// components in-process. Only the latter may write read-only kinds (Pods mirror
/// instances the runtime owns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    User(Arc<UserInfo>),
    System,
}

impl Caller {
    /// The identity RBAC applies to: None for superusers and skiff itself.
    fn restricted(&self) -> Option<&UserInfo> {
        match self {
            Caller::User(u) if !u.is_superuser() => Some(u),
            _ => None,
        }
    }
}

/// Builds the API router. `authenticate` is false only for the in-process client,
/// which is trusted by construction; otherwise every request is authenticated and
/// authorized (RBAC) before it is served.
pub fn router(app: Arc<App>, authenticate: bool) -> Router {
    let mut r = Router::new()
        .route("/version", get(version))
        .route("/api", get(discovery::core_versions))
        .route("/apis", get(discovery::api_groups))
        .route("/openapi/v2", get(openapi::v2))
        .route("/openapi/v3", get(openapi::v3_index))
        .route("/openapi/v3/{*path}", get(openapi::v3_group_version))
        .fallback(resource_request)
        .with_state(app.clone());
    if authenticate {
        r = r.layer(middleware::from_fn_with_state(
            app,
            authenticate_and_authorize,
        ));
    } else {
        r = r.layer(axum::Extension(Caller::System));
    }
    // Health endpoints are open, as kube-apiserver's are to anonymous clients.
    Router::new()
        .route("/healthz", get(ok))
        .route("/readyz", get(ok))
        .route("/livez", get(ok))
        .merge(r)
}

async fn ok() -> &'static str {
    "ok"
}

/// Authentication (bearer token, then impersonation headers) and authorization of
/// the request as a whole (the verb on the resource, or on the non-resource URL), as
/// kube-apiserver's filter chain does: 401 for an unknown token, 403 with Kubernetes'
/// message when RBAC does not allow it.
async fn authenticate_and_authorize(
    State(app): State<Arc<App>>,
    mut req: Request,
    next: Next,
) -> Response {
    let user = match app
        .authenticate(req.headers())
        .and_then(|u| app.impersonate(u, req.headers()))
    {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let attrs = Attributes::from_request(req.method(), req.uri().path(), req.uri().query());
    let decision = app.authorize(&user, &attrs);
    if !decision.allowed {
        tracing::debug!(user = %user.name, verb = %attrs.verb, resource = %attrs.resource, path = %attrs.path, "forbidden");
        return rbac::forbidden(&user, &attrs, &decision.reason).into_response();
    }
    req.extensions_mut().insert(Caller::User(Arc::new(user)));
    next.run(req).await
}

async fn version(State(app): State<Arc<App>>) -> Response {
    let v = &app.options.git_version;
    let minor = v.split('.').nth(1).unwrap_or("33").to_string();
    json_response(
        StatusCode::OK,
        &json!({
            "major": "1", "minor": minor, "gitVersion": v,
            "gitCommit": "skiff", "gitTreeState": "clean", "buildDate": "2026-11-26T00:00:00Z",
            "goVersion": "skiff", "compiler": "rustc", "platform": format!("{}/{}", std::env::consts::OS, go_arch()),
        }),
    )
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A JSON response.
pub fn json_response(code: StatusCode, v: &Value) -> Response {
    let body = serde_json::to_vec(v).unwrap_or_default();
    (code, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// A parsed resource URL.
struct Target {
    def: Arc<ResourceDef>,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_target(objects: &Objects, path: &str) -> Result<Option<Target>, ApiError> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        // `/apis/{group}`: the group's discovery document.
        ["apis", _] => return Ok(None),
        _ => return Err(ApiError::no_route()),
    };
    if rest.is_empty() {
        return Ok(None);
    }
    let registry = objects.registry();
    let namespaced_request =
        rest.len() >= 3 && rest[0] == "namespaces" && !matches!(rest[2], "status" | "finalize");
    let (namespace, plural, name, sub) = if namespaced_request {
        (
            Some(rest[1]),
            rest[2],
            rest.get(3).copied(),
            rest.get(4).copied(),
        )
    } else {
        (None, rest[0], rest.get(1).copied(), rest.get(2).copied())
    };
    if rest.len() > if namespaced_request { 5 } else { 3 } {
        return Err(ApiError::no_route());
    }
    let def = registry
        .find(group, version, plural)
        .ok_or_else(ApiError::no_route)?;
    if namespaced_request && !def.namespaced {
        return Err(ApiError::no_route());
    }
    if let Some(s) = sub {
        let served = (s == "status" && def.status_subresource)
            || (s == "log" && def.group.is_empty() && def.plural == "pods")
            || (s == "token" && def.group.is_empty() && def.plural == "serviceaccounts");
        if !served {
            return Err(ApiError::no_route());
        }
    }
    Ok(Some(Target {
        def,
        namespace: namespace.map(String::from),
        name: name.map(String::from),
        subresource: sub.map(String::from),
    }))
}

fn query_map(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

async fn resource_request(State(app): State<Arc<App>>, req: Request) -> Response {
    match handle(app, req).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn read_body(app: &App, body: Body) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, app.options.max_body_bytes)
        .await
        .map_err(|_| ApiError::too_large(app.options.max_body_bytes))
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn write_options(q: &HashMap<String, String>) -> Result<WriteOptions, ApiError> {
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid dryRun value: {other}; valid values are All"
            )))
        }
    };
    Ok(WriteOptions {
        status_only: false,
        field_validation: FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?,
        dry_run,
    })
}

fn list_options(q: &HashMap<String, String>, def: &ResourceDef) -> Result<ListOptions, ApiError> {
    let label_selector = match q.get("labelSelector").filter(|s| !s.is_empty()) {
        Some(s) => Some(LabelSelector::parse(s).map_err(ApiError::bad_request)?),
        None => None,
    };
    let extra: &[&str] = if def.plural == "events" {
        &[
            "involvedObject.name",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.uid",
            "reason",
            "type",
        ]
    } else if def.plural == "secrets" {
        &["type"]
    } else if def.plural == "namespaces" {
        &["status.phase"]
    } else {
        &[]
    };
    let field_selector = match q.get("fieldSelector").filter(|s| !s.is_empty()) {
        Some(s) => Some(FieldSelector::parse(s, extra).map_err(ApiError::bad_request)?),
        None => None,
    };
    let limit = match q.get("limit").filter(|s| !s.is_empty()) {
        Some(s) => Some(
            s.parse::<usize>()
                .map_err(|_| ApiError::bad_request(format!("invalid limit: {s}")))?,
        ),
        None => None,
    };
    Ok(ListOptions {
        label_selector,
        field_selector,
        limit,
        continue_token: q.get("continue").filter(|s| !s.is_empty()).cloned(),
    })
}

async fn handle(app: Arc<App>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let caller = parts
        .extensions
        .get::<Caller>()
        .cloned()
        .unwrap_or_else(|| Caller::User(Arc::new(UserInfo::default())));
    if let Some(review) = reviews::review_at(&path) {
        if parts.method != Method::POST {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
        let ct = content_type(&parts.headers);
        let bytes = read_body(&app, body).await?;
        let obj = body::parse_object(&ct, &bytes)?;
        return reviews::handle_review(&app, &caller, &review, obj);
    }
    let Some(target) = parse_target(&app.objects, &path)? else {
        if parts.method != Method::GET {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
        return discovery::group_version_response(&app, &path);
    };
    let q = query_map(parts.uri.query());
    let accept = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let repr = Representation::from_accept(accept);
    let include = IncludeObject::parse(q.get("includeObject").map(String::as_str));
    let def = target.def.clone();
    let ns = target.namespace.clone().unwrap_or_default();
    if def.namespaced && target.name.is_some() && target.namespace.is_none() {
        return Err(ApiError::no_route());
    }
    if def.read_only() && caller != Caller::System && parts.method != Method::GET {
        return Err(ApiError::method_not_allowed(format!(
            "{} are read-only in skiff: they mirror instances, which their Revision manages",
            def.plural
        )));
    }
    if target.subresource.as_deref() == Some("log") {
        return pod_log(&app, &ns, target.name.as_deref().unwrap_or_default(), &q).await;
    }
    if target.subresource.as_deref() == Some("token") {
        if parts.method != Method::POST {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            ));
        }
        let ct = content_type(&parts.headers);
        let bytes = read_body(&app, body).await?;
        let obj = body::parse_object(&ct, &bytes)?;
        let name = target.name.as_deref().unwrap_or_default();
        return reviews::token_request(&app, &ns, name, obj);
    }
    // Writes of roles and bindings by RBAC-restricted callers must not grant more than
    // the caller holds (checked on the object as it would be written).
    let escalation_check = |candidate: &Value, old: Option<&Value>| -> Result<(), ApiError> {
        match caller.restricted() {
            Some(user) if def.group == rbac::GROUP => {
                let mut candidate = candidate.clone();
                rbac::apply_defaults(&def.kind, &mut candidate);
                rbac::check_escalation(&*app.objects, user, &def.plural, &ns, &candidate, old)
            }
            _ => Ok(()),
        }
    };
    let status_only = target.subresource.as_deref() == Some("status");
    let objects = &app.objects;
    let now = objects.clock().now();
    let present_one = |obj: &Value, code: StatusCode, warnings: &[String]| -> Response {
        let v = match repr {
            Representation::Table => {
                table::table(&def, std::iter::once(obj), None, None, include, now)
            }
            Representation::PartialMetadata => table::partial_metadata(obj),
            Representation::Full => obj.clone(),
        };
        let mut r = json_response(code, &v);
        for w in warnings {
            if let Ok(h) =
                http::HeaderValue::from_str(&format!("299 - \"{}\"", w.replace('"', "\\\"")))
            {
                r.headers_mut().append(header::WARNING, h);
            }
        }
        r
    };
    match (&parts.method, &target.name) {
        (&Method::GET, Some(name)) => {
            let obj = objects.get(&def, &ns, name)?;
            Ok(present_one(&obj, StatusCode::OK, &[]))
        }
        (&Method::GET, None) => {
            let opts = list_options(&q, &def)?;
            let ns_filter = target.namespace.as_deref();
            if matches!(q.get("watch").map(String::as_str), Some("true") | Some("1")) {
                let timeout = q
                    .get("timeoutSeconds")
                    .and_then(|s| s.parse::<u64>().ok())
                    .map(Duration::from_secs);
                let params = watch::WatchParams {
                    resource_version: q.get("resourceVersion").cloned().unwrap_or_default(),
                    bookmarks: q
                        .get("allowWatchBookmarks")
                        .is_some_and(|v| v == "true" || v == "1"),
                    send_initial_events: q.get("sendInitialEvents").is_some_and(|v| v == "true"),
                    timeout,
                    repr,
                    include,
                };
                return watch::watch(
                    app.clone(),
                    def.clone(),
                    ns_filter.map(String::from),
                    opts,
                    params,
                );
            }
            let Listed {
                items,
                resource_version: rv,
                continue_token: next,
            } = objects.list(&def, ns_filter, &opts)?;
            let v = match repr {
                Representation::Table => table::table(
                    &def,
                    items.iter().map(|o| &**o),
                    Some(rv),
                    next.as_deref(),
                    include,
                    now,
                ),
                Representation::PartialMetadata => json!({
                    "kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                    "metadata": list_meta(rv, next.as_deref()),
                    "items": items.iter().map(|o| table::partial_metadata(o)).collect::<Vec<_>>(),
                }),
                Representation::Full => {
                    return Ok(list_response(&def, &items, rv, next.as_deref()))
                }
            };
            Ok(json_response(StatusCode::OK, &v))
        }
        (&Method::POST, None) => {
            if def.namespaced && target.namespace.is_none() {
                return Err(ApiError::no_route());
            }
            let opts = write_options(&q)?;
            let ct = content_type(&parts.headers);
            let bytes = read_body(&app, body).await?;
            let obj = body::parse_object(&ct, &bytes)?;
            escalation_check(&obj, None)?;
            let w = objects.create(&def, &ns, obj, &opts)?;
            Ok(present_one(&w.object, w.status_code(), &w.warnings))
        }
        (&Method::PUT, Some(name)) => {
            let opts = write_options(&q)?;
            let ct = content_type(&parts.headers);
            let bytes = read_body(&app, body).await?;
            let obj = body::parse_object(&ct, &bytes)?;
            if caller.restricted().is_some() && def.group == rbac::GROUP {
                let current = objects.get(&def, &ns, name).ok();
                let mut candidate = obj.clone();
                set_name(&mut candidate, name);
                escalation_check(&candidate, current.as_deref())?;
            }
            let w = objects.update(
                &def,
                &ns,
                name,
                obj,
                &WriteOptions {
                    status_only,
                    ..opts
                },
            )?;
            Ok(present_one(&w.object, w.status_code(), &w.warnings))
        }
        (&Method::PATCH, Some(name)) => {
            let opts = write_options(&q)?;
            let ct = content_type(&parts.headers);
            let patch_type = PatchType::from_content_type(&ct)
                .ok_or_else(|| ApiError::unsupported_media_type(&ct, PATCH_CONTENT_TYPES))?;
            let bytes = read_body(&app, body).await?;
            if let Some(user) = caller.restricted() {
                let current = objects.get(&def, &ns, name).ok();
                let candidate = match &current {
                    Some(cur) => crate::patch::parse_patch(patch_type, &bytes)
                        .and_then(|doc| crate::patch::apply_patch(patch_type, cur, &doc))
                        .ok(),
                    // A server-side apply of a missing object creates it: that takes
                    // the create verb too, as in Kubernetes.
                    None if patch_type == PatchType::Apply && !status_only => {
                        let mut a = Attributes::resource(
                            "create",
                            &def.group,
                            &def.plural,
                            target.namespace.as_deref().unwrap_or_default(),
                            name,
                        );
                        a.api_version = def.version.clone();
                        let d = app.authorize(user, &a);
                        if !d.allowed {
                            return Err(rbac::forbidden(user, &a, &d.reason));
                        }
                        crate::patch::parse_patch(patch_type, &bytes)
                            .ok()
                            .map(|mut doc| {
                                set_name(&mut doc, name);
                                doc
                            })
                    }
                    None => None,
                };
                if let Some(candidate) = candidate.filter(Value::is_object) {
                    escalation_check(&candidate, current.as_deref())?;
                }
            }
            let w = objects.patch(
                &def,
                &ns,
                name,
                patch_type,
                &bytes,
                &WriteOptions {
                    status_only,
                    ..opts
                },
            )?;
            Ok(present_one(&w.object, w.status_code(), &w.warnings))
        }
        (&Method::DELETE, Some(name)) => {
            let ct = content_type(&parts.headers);
            let bytes = read_body(&app, body).await?;
            let opts = delete_options(&q, &ct, &bytes)?;
            // Gone or still finalizing, the answer is the object as it is now.
            let (Deleted::Gone(obj) | Deleted::Pending(obj)) =
                objects.delete(&def, &ns, name, &opts)?;
            Ok(present_one(&obj, StatusCode::OK, &[]))
        }
        (&Method::DELETE, None) => {
            let ct = content_type(&parts.headers);
            let bytes = read_body(&app, body).await?;
            let opts = delete_options(&q, &ct, &bytes)?;
            let list_opts = list_options(&q, &def)?;
            let items = objects
                .list(
                    &def,
                    target.namespace.as_deref(),
                    &ListOptions {
                        limit: None,
                        continue_token: None,
                        ..list_opts
                    },
                )?
                .items;
            for item in &items {
                let item_ns = item
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let item_name = item
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                match objects.delete(&def, item_ns, item_name, &opts) {
                    Ok(_) => {}
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(json_response(
                StatusCode::OK,
                &success_status(&def.group, &def.plural, "", ""),
            ))
        }
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

/// Sets `metadata.name` of an object body, if it is one with an object (or no)
/// metadata.
fn set_name(obj: &mut Value, name: &str) {
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    let meta = m.entry("metadata").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("name".into(), json!(name));
    }
}

fn list_meta(rv: u64, next: Option<&str>) -> Value {
    let mut m = json!({"resourceVersion": rv.to_string()});
    if let Some(c) = next {
        m["continue"] = json!(c);
    }
    m
}

/// A full list, serialised item by item without copying the stored objects.
fn list_response(def: &ResourceDef, items: &[Arc<Value>], rv: u64, next: Option<&str>) -> Response {
    let mut out = Vec::with_capacity(64 + items.len() * 512);
    out.extend_from_slice(b"{\"kind\":");
    serde_json::to_writer(&mut out, &def.list_kind).ok();
    out.extend_from_slice(b",\"apiVersion\":");
    serde_json::to_writer(&mut out, &def.api_version()).ok();
    out.extend_from_slice(b",\"metadata\":");
    serde_json::to_writer(&mut out, &list_meta(rv, next)).ok();
    out.extend_from_slice(b",\"items\":[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, &**item).ok();
    }
    out.extend_from_slice(b"]}");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response()
}

fn delete_options(
    q: &HashMap<String, String>,
    ct: &str,
    body: &[u8],
) -> Result<DeleteOptions, ApiError> {
    let doc: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        body::parse_object(
            if ct.is_empty() {
                "application/json"
            } else {
                ct
            },
            body,
        )?
    };
    let policy = q
        .get("propagationPolicy")
        .map(String::as_str)
        .or_else(|| doc.get("propagationPolicy").and_then(Value::as_str))
        .or_else(
            || match doc.get("orphanDependents").and_then(Value::as_bool) {
                Some(true) => Some("Orphan"),
                Some(false) => Some("Background"),
                None => None,
            },
        );
    let propagation = match policy {
        None | Some("Background") => Propagation::Background,
        Some("Foreground") => Propagation::Foreground,
        Some("Orphan") => Propagation::Orphan,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )))
        }
    };
    let dry_run = q.get("dryRun").is_some_and(|v| v == "All")
        || doc
            .get("dryRun")
            .and_then(Value::as_array)
            .is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOptions {
        propagation,
        precondition_uid: doc
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(String::from),
        precondition_rv: doc
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(String::from),
        dry_run,
    })
}

/// `GET .../pods/{name}/log`: plain text, streamed when following.
async fn pod_log(
    app: &App,
    ns: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    let pods = app
        .objects
        .registry()
        .find("", "v1", "pods")
        .ok_or_else(ApiError::no_route)?;
    app.objects.get(&pods, ns, name)?;
    let source = app
        .pod_logs
        .get()
        .ok_or_else(|| ApiError::not_found("", "pods/log", name))?;
    let request = crate::pod_logs::PodLogRequest {
        namespace: ns.to_string(),
        pod: name.to_string(),
        container: q.get("container").filter(|c| !c.is_empty()).cloned(),
        follow: q.get("follow").is_some_and(|v| v == "true" || v == "1"),
        tail_lines: q.get("tailLines").and_then(|v| v.parse().ok()),
    };
    let stream = source.logs(request).await?;
    let body = Body::from_stream(futures::StreamExt::map(stream, Ok::<_, std::io::Error>));
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response())
}
