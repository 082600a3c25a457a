//! The create-only APIs of `authentication.k8s.io/v1` and `authorization.k8s.io/v1`
//! (nothing is stored): SelfSubjectAccessReview (`kubectl auth can-i`),
//! SubjectAccessReview, LocalSubjectAccessReview, SelfSubjectRulesReview
//! (`kubectl auth can-i --list`), SelfSubjectReview (`kubectl auth whoami`),
//! TokenReview — and the `serviceaccounts/token` subresource (TokenRequest,
//! `kubectl create token`). Also their discovery entries.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::response::Response;
use http::StatusCode;
use serde_json::{json, Value};
use skiff_store::Key;

use crate::auth::{BoundObject, TokenOptions, API_AUDIENCE};
use crate::http::{json_response, App, Caller};
use crate::rbac::{self, Attributes, PolicyRule, UserInfo};
use crate::status::{ApiError, Cause};

const AUTHN: &str = "authentication.k8s.io";
const AUTHZ: &str = "authorization.k8s.io";

/// Which review an URL is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Review {
    SelfSubjectAccess,
    SubjectAccess,
    LocalSubjectAccess(String),
    SelfSubjectRules,
    SelfSubject,
    Token,
}

impl Review {
    fn kind(&self) -> &'static str {
        match self {
            Review::SelfSubjectAccess => "SelfSubjectAccessReview",
            Review::SubjectAccess => "SubjectAccessReview",
            Review::LocalSubjectAccess(_) => "LocalSubjectAccessReview",
            Review::SelfSubjectRules => "SelfSubjectRulesReview",
            Review::SelfSubject => "SelfSubjectReview",
            Review::Token => "TokenReview",
        }
    }
    fn group(&self) -> &'static str {
        match self {
            Review::SelfSubject | Review::Token => AUTHN,
            _ => AUTHZ,
        }
    }
}

/// The review served at `path`, if any.
pub fn review_at(path: &str) -> Option<Review> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segs.as_slice() {
        ["apis", AUTHZ, "v1", "selfsubjectaccessreviews"] => Some(Review::SelfSubjectAccess),
        ["apis", AUTHZ, "v1", "subjectaccessreviews"] => Some(Review::SubjectAccess),
        ["apis", AUTHZ, "v1", "selfsubjectrulesreviews"] => Some(Review::SelfSubjectRules),
        ["apis", AUTHZ, "v1", "namespaces", ns, "localsubjectaccessreviews"] => {
            Some(Review::LocalSubjectAccess(ns.to_string()))
        }
        ["apis", AUTHN, "v1", "selfsubjectreviews"] => Some(Review::SelfSubject),
        ["apis", AUTHN, "v1", "tokenreviews"] => Some(Review::Token),
        _ => None,
    }
}

/// The groups served here rather than from the registry, with their resources'
/// discovery entries.
pub fn virtual_groups() -> Vec<(&'static str, &'static str, Vec<Value>)> {
    let entry = |name: &str, kind: &str, namespaced: bool| json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["create"]});
    vec![
        (
            AUTHN,
            "v1",
            vec![
                entry("selfsubjectreviews", "SelfSubjectReview", false),
                entry("tokenreviews", "TokenReview", false),
            ],
        ),
        (
            AUTHZ,
            "v1",
            vec![
                entry(
                    "localsubjectaccessreviews",
                    "LocalSubjectAccessReview",
                    true,
                ),
                entry("selfsubjectaccessreviews", "SelfSubjectAccessReview", false),
                entry("selfsubjectrulesreviews", "SelfSubjectRulesReview", false),
                entry("subjectaccessreviews", "SubjectAccessReview", false),
            ],
        ),
    ]
}

/// The `serviceaccounts/token` entry of `/api/v1` discovery.
pub fn token_subresource_entry() -> Value {
    json!({"name": "serviceaccounts/token", "singularName": "", "namespaced": true,
           "group": AUTHN, "version": "v1", "kind": "TokenRequest", "verbs": ["create"]})
}

fn invalid_value(field: &str, value: &str, detail: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        message: format!("Invalid value: {value}: {detail}"),
        field: field.into(),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// Checks `kind`/`apiVersion` of a review body against the endpoint.
fn check_type(obj: &Value, group: &str, kind: &str) -> Result<(), ApiError> {
    let want = format!("{group}/v1");
    match obj.get("kind").and_then(Value::as_str) {
        None | Some("") => {}
        Some(k) if k == kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({kind})"
            )))
        }
    }
    match obj.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => Ok(()),
        Some(v) if v == want => Ok(()),
        Some(v) => Err(ApiError::bad_request(format!(
            "the API version in the data ({v}) does not match the expected API version ({want})"
        ))),
    }
}

/// The attributes a review's spec asks about.
fn spec_attributes(spec: &Value) -> Attributes {
    if let Some(r) = spec.get("resourceAttributes").filter(|v| v.is_object()) {
        let mut a = Attributes::resource(
            str_at(r, "/verb"),
            str_at(r, "/group"),
            str_at(r, "/resource"),
            str_at(r, "/namespace"),
            str_at(r, "/name"),
        );
        a.subresource = str_at(r, "/subresource").to_string();
        a.api_version = str_at(r, "/version").to_string();
        return a;
    }
    let n = spec
        .get("nonResourceAttributes")
        .cloned()
        .unwrap_or(Value::Null);
    Attributes::non_resource(str_at(&n, "/verb"), str_at(&n, "/path"))
}

fn created(
    kind: &str,
    group: &str,
    metadata: Value,
    spec: Option<Value>,
    status: Value,
) -> Response {
    let mut body = json!({
        "kind": kind,
        "apiVersion": format!("{group}/v1"),
        "metadata": metadata,
        "status": status,
    });
    if let Some(spec) = spec {
        body["spec"] = spec;
    }
    json_response(StatusCode::CREATED, &body)
}

fn caller_user(caller: &Caller) -> Option<&UserInfo> {
    match caller {
        Caller::User(u) => Some(u),
        Caller::System => None,
    }
}

/// Serves one review `obj` (already parsed) for `caller`.
pub fn handle_review(
    app: &App,
    caller: &Caller,
    review: &Review,
    obj: Value,
) -> Result<Response, ApiError> {
    let (kind, group) = (review.kind(), review.group());
    check_type(&obj, group, kind)?;
    let mut metadata = obj.get("metadata").cloned().unwrap_or(json!({}));
    if !metadata.is_object() {
        metadata = json!({});
    }
    metadata["creationTimestamp"] = Value::Null;
    let spec = obj.get("spec").cloned().unwrap_or(json!({}));
    let invalid = |causes: Vec<Cause>| ApiError::invalid(group, kind, "", causes);
    match review {
        Review::SelfSubjectAccess | Review::SubjectAccess | Review::LocalSubjectAccess(_) => {
            let mut spec = spec;
            let mut causes = Vec::new();
            let has_res = spec.get("resourceAttributes").is_some_and(Value::is_object);
            let has_non = spec
                .get("nonResourceAttributes")
                .is_some_and(Value::is_object);
            if has_res && has_non {
                causes.push(invalid_value(
                    "spec.nonResourceAttributes",
                    &spec["nonResourceAttributes"].to_string(),
                    "cannot be specified in combination with resourceAttributes",
                ));
            }
            if !has_res && !has_non {
                causes.push(invalid_value(
                    "spec.resourceAttributes",
                    "\"null\"",
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                ));
            }
            let user = if *review == Review::SelfSubjectAccess {
                None
            } else {
                let name = str_at(&spec, "/user").to_string();
                let groups = strings(spec.get("groups"));
                if name.is_empty() && groups.is_empty() {
                    causes.push(invalid_value(
                        "spec.user",
                        "\"\"",
                        "at least one of user or group must be specified",
                    ));
                }
                let extra: BTreeMap<String, Vec<String>> = spec
                    .get("extra")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), strings(Some(v))))
                            .collect()
                    })
                    .unwrap_or_default();
                Some(UserInfo {
                    name,
                    uid: str_at(&spec, "/uid").to_string(),
                    groups,
                    extra,
                })
            };
            if let Review::LocalSubjectAccess(ns) = review {
                if let Some(r) = spec
                    .get_mut("resourceAttributes")
                    .and_then(Value::as_object_mut)
                {
                    match r.get("namespace").and_then(Value::as_str) {
                        None | Some("") => {
                            r.insert("namespace".into(), json!(ns));
                        }
                        Some(n) if n == ns => {}
                        Some(n) => causes.push(invalid_value(
                            "spec.resourceAttributes.namespace",
                            &format!("{n:?}"),
                            "must match metadata.namespace",
                        )),
                    }
                }
                if has_non {
                    causes.push(invalid_value(
                        "spec.nonResourceAttributes",
                        &spec["nonResourceAttributes"].to_string(),
                        "disallowed on this kind of request",
                    ));
                }
                metadata["namespace"] = json!(ns);
            }
            if !causes.is_empty() {
                return Err(invalid(causes));
            }
            let attrs = spec_attributes(&spec);
            let decision = match (&user, caller_user(caller)) {
                (Some(u), _) => app.authorize(u, &attrs),
                (None, Some(me)) => app.authorize(me, &attrs),
                (None, None) => rbac::Decision {
                    allowed: true,
                    reason: String::new(),
                },
            };
            let mut status = json!({"allowed": decision.allowed});
            if !decision.reason.is_empty() {
                status["reason"] = json!(decision.reason);
            }
            Ok(created(kind, group, metadata, Some(spec), status))
        }
        Review::SelfSubjectRules => {
            let ns = str_at(&spec, "/namespace").to_string();
            if ns.is_empty() {
                return Err(ApiError::bad_request("no namespace on request"));
            }
            let (rules, errors) = match caller_user(caller) {
                Some(me) => rbac::rules_for(&*app.objects, me, &ns),
                None => rbac::rules_for(&*app.objects, &crate::auth::admin_user(), &ns),
            };
            let resource_rules: Vec<Value> = rules
                .iter()
                .filter(|r| !r.resources.is_empty())
                .map(|r: &PolicyRule| {
                    let mut v = json!({"verbs": r.verbs, "apiGroups": r.api_groups, "resources": r.resources});
                    if !r.resource_names.is_empty() {
                        v["resourceNames"] = json!(r.resource_names);
                    }
                    v
                })
                .collect();
            let non_resource_rules: Vec<Value> = rules
                .iter()
                .filter(|r| !r.non_resource_urls.is_empty())
                .map(|r| json!({"verbs": r.verbs, "nonResourceURLs": r.non_resource_urls}))
                .collect();
            let mut status = json!({
                "resourceRules": resource_rules,
                "nonResourceRules": non_resource_rules,
                "incomplete": false,
            });
            if !errors.is_empty() {
                status["evaluationError"] = json!(rbac::aggregate(&errors));
            }
            Ok(created(kind, group, metadata, Some(spec), status))
        }
        Review::SelfSubject => {
            let user = match caller_user(caller) {
                Some(u) => u.clone(),
                None => UserInfo {
                    name: "system:skiff".into(),
                    groups: vec![rbac::SYSTEM_MASTERS.into()],
                    ..Default::default()
                },
            };
            Ok(created(
                kind,
                group,
                metadata,
                None,
                json!({"userInfo": user.to_json()}),
            ))
        }
        Review::Token => {
            let token = str_at(&spec, "/token");
            if token.is_empty() {
                return Err(invalid(vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: token must not be empty".into(),
                    field: "spec.token".into(),
                }]));
            }
            let audiences = strings(spec.get("audiences"));
            let status = match app.authenticate_token(token, &audiences) {
                Some((user, accepted)) => {
                    let mut s = json!({"authenticated": true, "user": user.to_json()});
                    if !audiences.is_empty() {
                        s["audiences"] = json!(accepted);
                    }
                    s
                }
                None => json!({"user": {}, "error": "invalid bearer token"}),
            };
            Ok(created(kind, group, metadata, Some(spec), status))
        }
    }
}

/// `POST .../serviceaccounts/{name}/token`: a TokenRequest, answered with a token for
/// the service account (default lifetime 1h, at least 10 minutes, as Kubernetes).
pub fn token_request(app: &App, ns: &str, name: &str, obj: Value) -> Result<Response, ApiError> {
    check_type(&obj, AUTHN, "TokenRequest")?;
    let mut spec = obj.get("spec").cloned().unwrap_or(json!({}));
    if !spec.is_object() {
        spec = json!({});
    }
    let expiration = match spec.get("expirationSeconds") {
        None | Some(Value::Null) => DEFAULT_SECONDS,
        Some(v) => v
            .as_i64()
            .ok_or_else(|| ApiError::bad_request("spec.expirationSeconds must be an integer"))?,
    };
    spec["expirationSeconds"] = json!(expiration);
    let mut causes = Vec::new();
    if expiration < 600 {
        causes.push(invalid_value(
            "spec.expirationSeconds",
            &expiration.to_string(),
            "may not specify a duration less than 10 minutes",
        ));
    }
    if expiration > i64::from(u32::MAX) {
        causes.push(invalid_value(
            "spec.expirationSeconds",
            &expiration.to_string(),
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(AUTHN, "TokenRequest", name, causes));
    }
    if app
        .objects
        .store
        .get(&Key::new("/serviceaccounts", ns, name))
        .is_none()
    {
        return Err(ApiError::not_found("", "serviceaccounts", name));
    }
    let bound = match spec.get("boundObjectRef").filter(|v| v.is_object()) {
        None => None,
        Some(r) => Some(bound_object(app, ns, name, r)?),
    };
    let mut audiences = strings(spec.get("audiences"));
    if audiences.is_empty() {
        audiences = vec![API_AUDIENCE.to_string()];
    }
    spec["audiences"] = json!(audiences);
    let issued = app.request_token(
        ns,
        name,
        &TokenOptions {
            audiences,
            expiration: Duration::from_secs(expiration as u64),
            bound,
        },
    )?;
    let body = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
        "spec": spec,
        "status": {
            "token": issued.token,
            "expirationTimestamp": crate::clock::k8s_time(issued.expiration),
        },
    });
    Ok(json_response(StatusCode::CREATED, &body))
}

const DEFAULT_SECONDS: i64 = 3600;

/// Resolves a TokenRequest's `boundObjectRef` (a Pod or Secret of the namespace).
fn bound_object(app: &App, ns: &str, sa: &str, r: &Value) -> Result<BoundObject, ApiError> {
    let kind = str_at(r, "/kind");
    let api_version = str_at(r, "/apiVersion");
    let name = str_at(r, "/name");
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let resource = match (group, kind) {
        ("", "Pod") => "pods",
        ("", "Secret") => "secrets",
        _ => {
            return Err(ApiError::bad_request(format!(
                "cannot bind token to object of type {group}/{version}, Kind={kind}"
            )))
        }
    };
    let obj = app
        .objects
        .store
        .get(&Key::new(&format!("/{resource}"), ns, name))
        .ok_or_else(|| ApiError::not_found("", resource, name))?;
    if kind == "Pod" {
        let pod_sa = str_at(&obj, "/spec/serviceAccountName");
        let pod_sa = if pod_sa.is_empty() { "default" } else { pod_sa };
        if pod_sa != sa {
            return Err(ApiError::bad_request(format!(
                "cannot bind token for serviceaccount {sa:?} to pod running with serviceaccount {pod_sa:?}"
            )));
        }
    }
    let uid = str_at(&obj, "/metadata/uid").to_string();
    let wanted = str_at(r, "/uid");
    if !wanted.is_empty() && wanted != uid {
        return Err(ApiError::conflict(
            "",
            kind,
            name,
            &format!("the UID in the bound object reference ({wanted}) does not match the UID in record ({uid}). The object might have been deleted and then recreated"),
        ));
    }
    Ok(BoundObject {
        kind: kind.to_string(),
        name: name.to_string(),
        uid,
    })
}
