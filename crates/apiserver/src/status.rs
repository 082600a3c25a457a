//! API errors as Kubernetes reports them: a `meta.k8s.io/v1` `Status` object with an
//! HTTP code, a machine-readable `reason` and, for invalid objects, `details.causes`
//! naming each bad field.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Value};

/// One bad field of a refused object (`details.causes[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    /// Kubernetes cause type, e.g. `FieldValueInvalid`, `FieldValueRequired`.
    pub reason: String,
    pub message: String,
    /// Dotted path without a leading dot, e.g. `spec.template.spec.timeoutSeconds`.
    pub field: String,
}

/// Which object an error is about (`details.{name,group,kind}`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Subject {
    pub group: String,
    /// The resource (plural), which is what kube-apiserver puts in `details.kind`.
    pub kind: String,
    pub name: String,
}

/// An error the API returns to a client.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub subject: Option<Subject>,
    pub causes: Vec<Cause>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            subject: None,
            causes: Vec::new(),
        }
    }
    /// 400 BadRequest.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
    /// 401 Unauthorized.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }
    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }
    /// 404 NotFound for a named object: `configmaps "x" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let qualified = qualified(group, resource);
        let mut e = Self::new(404, "NotFound", format!("{qualified} \"{name}\" not found"));
        e.subject = Some(Subject {
            group: group.into(),
            kind: resource.into(),
            name: name.into(),
        });
        e
    }
    /// 404 for a path the server does not serve.
    pub fn no_route() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    }
    /// 405 for a verb a resource does not support.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }
    /// 409 AlreadyExists.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let mut e = Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(group, resource)),
        );
        e.subject = Some(Subject {
            group: group.into(),
            kind: resource.into(),
            name: name.into(),
        });
        e
    }
    /// 409 Conflict on a stale resourceVersion.
    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let mut e = Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": {why}",
                qualified(group, resource)
            ),
        );
        e.subject = Some(Subject {
            group: group.into(),
            kind: resource.into(),
            name: name.into(),
        });
        e
    }
    /// 410 Gone for a compacted resourceVersion.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }
    /// 413 for a body over the configured limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: limit is {limit}"),
        )
    }
    /// 415 for a body in a format the endpoint does not take.
    pub fn unsupported_media_type(content_type: &str, accepted: &[&str]) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!("the body of the request was in an unknown format - accepted media types include: {}", accepted.join(", "))
                + &if content_type.is_empty() { String::new() } else { format!(" (got {content_type})") },
        )
    }
    /// 406 when the client accepts nothing we can produce.
    pub fn not_acceptable(message: impl Into<String>) -> Self {
        Self::new(406, "NotAcceptable", message)
    }
    /// 422 Invalid: `Service.serving.knative.dev "hello" is invalid: <causes>`.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let what = if group.is_empty() {
            kind.to_string()
        } else {
            format!("{kind}.{group}")
        };
        let summary: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let message = if summary.len() == 1 {
            format!("{what} \"{name}\" is invalid: {}", summary[0])
        } else {
            format!("{what} \"{name}\" is invalid: [{}]", summary.join(", "))
        };
        ApiError {
            code: 422,
            reason: "Invalid",
            message,
            subject: Some(Subject {
                group: group.into(),
                kind: kind.into(),
                name: name.into(),
            }),
            causes,
        }
    }
    /// 500 for failures that are ours, not the client's.
    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.subject.is_some() || !self.causes.is_empty() {
            let mut details = serde_json::Map::new();
            if let Some(s) = &self.subject {
                if !s.name.is_empty() {
                    details.insert("name".into(), json!(s.name));
                }
                if !s.group.is_empty() {
                    details.insert("group".into(), json!(s.group));
                }
                details.insert("kind".into(), json!(s.kind));
            }
            if !self.causes.is_empty() {
                details.insert(
                    "causes".into(),
                    Value::Array(
                        self.causes
                            .iter()
                            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                            .collect(),
                    ),
                );
            }
            status["details"] = Value::Object(details);
        }
        status
    }
}

fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        (
            code,
            [(http::header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response()
    }
}

/// The `Status` a successful delete of a collection or a non-returning delete gives.
pub fn success_status(group: &str, resource: &str, name: &str, uid: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
        "details": {"name": name, "group": group, "kind": resource, "uid": uid}
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_names_each_field() {
        let e = ApiError::invalid(
            "serving.knative.dev",
            "Service",
            "hello",
            vec![Cause {
                reason: "FieldValueInvalid".into(),
                message: "bad".into(),
                field: "spec.x".into(),
            }],
        );
        let s = e.to_status();
        assert_eq!(s["code"], 422);
        assert_eq!(s["details"]["causes"][0]["field"], "spec.x");
        assert_eq!(
            s["message"],
            "Service.serving.knative.dev \"hello\" is invalid: spec.x: bad"
        );
    }

    #[test]
    fn not_found_message_matches_kubernetes() {
        assert_eq!(
            ApiError::not_found("", "configmaps", "x").message,
            "configmaps \"x\" not found"
        );
        assert_eq!(
            ApiError::not_found("serving.knative.dev", "services", "x").message,
            "services.serving.knative.dev \"x\" not found"
        );
    }
}
