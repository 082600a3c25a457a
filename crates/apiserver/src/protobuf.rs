//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`)
//! for the built-in kinds. kubectl's typed commands (`kubectl create namespace|configmap|
//! secret|serviceaccount|role|rolebinding|token`, `kubectl auth can-i|whoami`) send
//! built-in kinds this way and kube-apiserver accepts it, so
//! we decode them into the JSON form the rest of the server works with. Responses stay
//! JSON (clients list it in `Accept` as the fallback). Custom resources have no protobuf
//! form, as in Kubernetes: those bodies get 415.
//!
//! The encoding: the magic `k8s\0`, then a `runtime.Unknown` message whose `raw` field
//! holds the object in the field numbering of the `generated.proto` files of
//! k8s.io/api and k8s.io/apimachinery. Every field number here was checked against
//! upstream's `core/v1/generated.proto`, `pkg/apis/meta/v1/generated.proto` and
//! `pkg/runtime/generated.proto`; the tests encode each kind with those numbers.

use base64::Engine;
use serde_json::{json, Map, Value};

/// The Content-Type of protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

/// Why a body could not be decoded.
#[derive(Debug, PartialEq)]
pub enum DecodeError {
    /// Not a well-formed protobuf envelope or message.
    Malformed(String),
    /// Well-formed, but of a kind this server has no protobuf form for.
    UnsupportedKind(String),
}

/// One field of a message: its number and wire value.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

struct Fields<'a> {
    buf: &'a [u8],
}

fn malformed(what: &str) -> DecodeError {
    DecodeError::Malformed(what.to_string())
}

impl<'a> Fields<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Fields { buf }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = self
                .buf
                .split_first()
                .ok_or_else(|| malformed("truncated varint"))?;
            self.buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(malformed("varint too long"))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(malformed("truncated field"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn next_field(&mut self) -> Result<Option<(u64, Wire<'a>)>, DecodeError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Fixed
            }
            2 => {
                let n =
                    usize::try_from(self.varint()?).map_err(|_| malformed("length too large"))?;
                Wire::Bytes(self.take(n)?)
            }
            5 => {
                self.take(4)?;
                Wire::Fixed
            }
            other => {
                return Err(DecodeError::Malformed(format!(
                    "unsupported wire type {other}"
                )))
            }
        };
        Ok(Some((tag >> 3, wire)))
    }
}

/// Calls `f` for every field of a message.
fn each_field<'a>(
    buf: &'a [u8],
    mut f: impl FnMut(u64, Wire<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut fields = Fields::new(buf);
    while let Some((n, w)) = fields.next_field()? {
        f(n, w)?;
    }
    Ok(())
}

fn string(w: Wire<'_>) -> Result<Value, DecodeError> {
    match w {
        Wire::Bytes(b) => Ok(json!(
            std::str::from_utf8(b).map_err(|_| malformed("string is not UTF-8"))?
        )),
        _ => Err(malformed("expected a string")),
    }
}

fn bytes_b64(w: Wire<'_>) -> Result<Value, DecodeError> {
    match w {
        Wire::Bytes(b) => Ok(json!(base64::engine::general_purpose::STANDARD.encode(b))),
        _ => Err(malformed("expected bytes")),
    }
}

fn message(w: Wire<'_>) -> Result<&[u8], DecodeError> {
    match w {
        Wire::Bytes(b) => Ok(b),
        _ => Err(malformed("expected a message")),
    }
}

fn int(w: Wire<'_>) -> Result<Value, DecodeError> {
    match w {
        // int32/int64 are two's complement varints.
        Wire::Varint(v) => Ok(json!(v as i64)),
        _ => Err(malformed("expected an integer")),
    }
}

fn boolean(w: Wire<'_>) -> Result<Value, DecodeError> {
    match w {
        Wire::Varint(v) => Ok(json!(v != 0)),
        _ => Err(malformed("expected a bool")),
    }
}

/// Sets a scalar field, leaving out the zero values gogo-protobuf always encodes for
/// non-pointer fields (`""`, `0`), which Kubernetes' JSON form omits.
fn set(obj: &mut Map<String, Value>, key: &str, v: Value) {
    if v != json!("") && v != json!(0) {
        obj.insert(key.into(), v);
    }
}

fn push(obj: &mut Map<String, Value>, key: &str, v: Value) {
    match obj.entry(key).or_insert_with(|| json!([])) {
        Value::Array(a) => a.push(v),
        other => *other = json!([v]),
    }
}

/// A `map<string, X>` entry (key = 1, value = 2) added to `obj[key]`.
fn map_entry(
    obj: &mut Map<String, Value>,
    key: &str,
    w: Wire<'_>,
    value: fn(Wire<'_>) -> Result<Value, DecodeError>,
) -> Result<(), DecodeError> {
    let mut k = String::new();
    let mut v = None;
    each_field(message(w)?, |n, w| {
        match n {
            1 => k = string(w)?.as_str().unwrap_or_default().to_string(),
            2 => v = Some(value(w)?),
            _ => {}
        }
        Ok(())
    })?;
    let m = obj.entry(key).or_insert_with(|| json!({}));
    if let Some(m) = m.as_object_mut() {
        // An absent value is the type's zero value.
        m.insert(k, v.unwrap_or_else(|| json!("")));
    }
    Ok(())
}

/// meta/v1 Time and MicroTime (both `seconds = 1, nanos = 2`) as a timestamp; `None`
/// for Go's zero time (0001-01-01, encoded for unset non-pointer times) and the epoch.
fn timestamp(w: Wire<'_>) -> Result<Option<jiff::Timestamp>, DecodeError> {
    let (mut secs, mut nanos) = (0i64, 0i32);
    each_field(message(w)?, |n, w| {
        match (n, w) {
            (1, Wire::Varint(v)) => secs = v as i64,
            (2, Wire::Varint(v)) => nanos = v as i32,
            _ => {}
        }
        Ok(())
    })?;
    if secs == 0 || secs == -62_135_596_800 {
        return Ok(None);
    }
    jiff::Timestamp::new(secs, nanos)
        .map(Some)
        .map_err(|_| malformed("time out of range"))
}

/// meta/v1 Time: RFC 3339 with whole seconds, as Kubernetes' JSON has it.
fn time(w: Wire<'_>) -> Result<Value, DecodeError> {
    Ok(match timestamp(w)? {
        Some(t) => json!(crate::clock::k8s_time(t)),
        None => json!(""),
    })
}

/// meta/v1 MicroTime: RFC 3339 with six fractional digits (Go's
/// `2006-01-02T15:04:05.000000Z07:00`).
fn micro_time(w: Wire<'_>) -> Result<Value, DecodeError> {
    Ok(match timestamp(w)? {
        Some(t) => json!(t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()),
        None => json!(""),
    })
}

/// Decodes one field of a message into the message's JSON object.
type FieldDecoder = fn(&mut Map<String, Value>, u64, Wire<'_>) -> Result<(), DecodeError>;

fn decode_with(w: Wire<'_>, f: FieldDecoder) -> Result<Value, DecodeError> {
    let mut obj = Map::new();
    each_field(message(w)?, |n, w| f(&mut obj, n, w))?;
    Ok(Value::Object(obj))
}

fn object_meta(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            set(m, "name", string(w)?);
        }
        2 => {
            set(m, "generateName", string(w)?);
        }
        3 => {
            set(m, "namespace", string(w)?);
        }
        5 => {
            set(m, "uid", string(w)?);
        }
        6 => {
            set(m, "resourceVersion", string(w)?);
        }
        7 => {
            set(m, "generation", int(w)?);
        }
        8 => {
            set(m, "creationTimestamp", time(w)?);
        }
        9 => {
            set(m, "deletionTimestamp", time(w)?);
        }
        10 => {
            set(m, "deletionGracePeriodSeconds", int(w)?);
        }
        11 => map_entry(m, "labels", w, string)?,
        12 => map_entry(m, "annotations", w, string)?,
        13 => push(m, "ownerReferences", decode_with(w, owner_reference)?),
        14 => push(m, "finalizers", string(w)?),
        _ => {} // selfLink, managedFields: server-owned
    }
    Ok(())
}

fn owner_reference(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    let (key, v) = match n {
        1 => ("kind", string(w)?),
        3 => ("name", string(w)?),
        4 => ("uid", string(w)?),
        5 => ("apiVersion", string(w)?),
        6 => ("controller", boolean(w)?),
        7 => ("blockOwnerDeletion", boolean(w)?),
        _ => return Ok(()),
    };
    set(m, key, v);
    Ok(())
}

fn object_reference(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    let key = match n {
        1 => "kind",
        2 => "namespace",
        3 => "name",
        4 => "uid",
        5 => "apiVersion",
        6 => "resourceVersion",
        7 => "fieldPath",
        _ => return Ok(()),
    };
    set(m, key, string(w)?);
    Ok(())
}

fn local_object_reference(
    m: &mut Map<String, Value>,
    n: u64,
    w: Wire<'_>,
) -> Result<(), DecodeError> {
    if n == 1 {
        set(m, "name", string(w)?);
    }
    Ok(())
}

fn config_map(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            m.insert("metadata".into(), decode_with(w, object_meta)?);
        }
        2 => map_entry(m, "data", w, string)?,
        3 => map_entry(m, "binaryData", w, bytes_b64)?,
        4 => {
            m.insert("immutable".into(), boolean(w)?);
        }
        _ => {}
    }
    Ok(())
}

fn secret(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            m.insert("metadata".into(), decode_with(w, object_meta)?);
        }
        2 => map_entry(m, "data", w, bytes_b64)?,
        3 => {
            set(m, "type", string(w)?);
        }
        4 => map_entry(m, "stringData", w, string)?,
        5 => {
            m.insert("immutable".into(), boolean(w)?);
        }
        _ => {}
    }
    Ok(())
}

fn namespace(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            m.insert("metadata".into(), decode_with(w, object_meta)?);
        }
        2 => {
            let spec = decode_with(w, |m, n, w| {
                if n == 1 {
                    push(m, "finalizers", string(w)?);
                }
                Ok(())
            })?;
            m.insert("spec".into(), spec);
        }
        _ => {} // status is the server's
    }
    Ok(())
}

fn service_account(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            m.insert("metadata".into(), decode_with(w, object_meta)?);
        }
        2 => push(m, "secrets", decode_with(w, object_reference)?),
        3 => push(
            m,
            "imagePullSecrets",
            decode_with(w, local_object_reference)?,
        ),
        4 => {
            m.insert("automountServiceAccountToken".into(), boolean(w)?);
        }
        _ => {}
    }
    Ok(())
}

fn event(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    let (key, v) = match n {
        1 => ("metadata", decode_with(w, object_meta)?),
        2 => ("involvedObject", decode_with(w, object_reference)?),
        3 => ("reason", string(w)?),
        4 => ("message", string(w)?),
        5 => (
            "source",
            decode_with(w, |m, n, w| {
                match n {
                    1 => set(m, "component", string(w)?),
                    2 => set(m, "host", string(w)?),
                    _ => {}
                };
                Ok(())
            })?,
        ),
        6 => ("firstTimestamp", time(w)?),
        7 => ("lastTimestamp", time(w)?),
        8 => ("count", int(w)?),
        9 => ("type", string(w)?),
        10 => ("eventTime", micro_time(w)?),
        11 => (
            "series",
            decode_with(w, |m, n, w| {
                match n {
                    1 => set(m, "count", int(w)?),
                    2 => set(m, "lastObservedTime", micro_time(w)?),
                    _ => {}
                };
                Ok(())
            })?,
        ),
        12 => ("action", string(w)?),
        13 => ("related", decode_with(w, object_reference)?),
        14 => ("reportingComponent", string(w)?),
        15 => ("reportingInstance", string(w)?),
        _ => return Ok(()),
    };
    set(m, key, v);
    Ok(())
}

/// rbac/v1 PolicyRule: verbs 1, apiGroups 2, resources 3, resourceNames 4,
/// nonResourceURLs 5. gogo-protobuf writes empty strings of repeated fields (the core
/// group `""`), so they are kept.
fn policy_rule(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    let key = match n {
        1 => "verbs",
        2 => "apiGroups",
        3 => "resources",
        4 => "resourceNames",
        5 => "nonResourceURLs",
        _ => return Ok(()),
    };
    push(m, key, string(w)?);
    Ok(())
}

/// meta/v1 LabelSelector: matchLabels 1, matchExpressions 2 (key 1, operator 2, values 3).
fn label_selector(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => map_entry(m, "matchLabels", w, string)?,
        2 => push(
            m,
            "matchExpressions",
            decode_with(w, |m, n, w| {
                match n {
                    1 => set(m, "key", string(w)?),
                    2 => set(m, "operator", string(w)?),
                    3 => push(m, "values", string(w)?),
                    _ => {}
                }
                Ok(())
            })?,
        ),
        _ => {}
    }
    Ok(())
}

/// rbac/v1 Role and ClusterRole: metadata 1, rules 2, aggregationRule 3
/// (clusterRoleSelectors 1).
fn role(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            m.insert("metadata".into(), decode_with(w, object_meta)?);
        }
        2 => push(m, "rules", decode_with(w, policy_rule)?),
        3 => {
            let agg = decode_with(w, |m, n, w| {
                if n == 1 {
                    push(m, "clusterRoleSelectors", decode_with(w, label_selector)?);
                }
                Ok(())
            })?;
            m.insert("aggregationRule".into(), agg);
        }
        _ => {}
    }
    Ok(())
}

/// rbac/v1 RoleBinding and ClusterRoleBinding: metadata 1, subjects 2 (Subject: kind 1,
/// apiGroup 2, name 3, namespace 4), roleRef 3 (RoleRef: apiGroup 1, kind 2, name 3).
fn role_binding(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            m.insert("metadata".into(), decode_with(w, object_meta)?);
        }
        2 => push(
            m,
            "subjects",
            decode_with(w, |m, n, w| {
                let key = match n {
                    1 => "kind",
                    2 => "apiGroup",
                    3 => "name",
                    4 => "namespace",
                    _ => return Ok(()),
                };
                set(m, key, string(w)?);
                Ok(())
            })?,
        ),
        3 => {
            let r = decode_with(w, |m, n, w| {
                let key = match n {
                    1 => "apiGroup",
                    2 => "kind",
                    3 => "name",
                    _ => return Ok(()),
                };
                set(m, key, string(w)?);
                Ok(())
            })?;
            m.insert("roleRef".into(), r);
        }
        _ => {}
    }
    Ok(())
}

/// authentication/v1 TokenRequest: metadata 1, spec 2 (audiences 1, boundObjectRef 3
/// (kind 1, apiVersion 2, name 3, uid 4), expirationSeconds 4).
fn token_request(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            m.insert("metadata".into(), decode_with(w, object_meta)?);
        }
        2 => {
            let spec = decode_with(w, |m, n, w| {
                match n {
                    1 => push(m, "audiences", string(w)?),
                    3 => {
                        let r = decode_with(w, |m, n, w| {
                            let key = match n {
                                1 => "kind",
                                2 => "apiVersion",
                                3 => "name",
                                4 => "uid",
                                _ => return Ok(()),
                            };
                            set(m, key, string(w)?);
                            Ok(())
                        })?;
                        m.insert("boundObjectRef".into(), r);
                    }
                    4 => set(m, "expirationSeconds", int(w)?),
                    _ => {}
                }
                Ok(())
            })?;
            m.insert("spec".into(), spec);
        }
        _ => {}
    }
    Ok(())
}

/// authentication/v1 TokenReview: metadata 1, spec 2 (token 1, audiences 2).
fn token_review(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            m.insert("metadata".into(), decode_with(w, object_meta)?);
        }
        2 => {
            let spec = decode_with(w, |m, n, w| {
                match n {
                    1 => set(m, "token", string(w)?),
                    2 => push(m, "audiences", string(w)?),
                    _ => {}
                }
                Ok(())
            })?;
            m.insert("spec".into(), spec);
        }
        _ => {}
    }
    Ok(())
}

/// authentication/v1 SelfSubjectReview: metadata 1 (status 2 is the server's).
fn self_subject_review(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    if n == 1 {
        m.insert("metadata".into(), decode_with(w, object_meta)?);
    }
    Ok(())
}

/// authorization/v1 ResourceAttributes: namespace 1, verb 2, group 3, version 4,
/// resource 5, subresource 6, name 7 (selectors 8, 9 are not evaluated).
fn resource_attributes(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    let key = match n {
        1 => "namespace",
        2 => "verb",
        3 => "group",
        4 => "version",
        5 => "resource",
        6 => "subresource",
        7 => "name",
        _ => return Ok(()),
    };
    set(m, key, string(w)?);
    Ok(())
}

/// authorization/v1 (Self/Local)SubjectAccessReviewSpec: resourceAttributes 1,
/// nonResourceAttributes 2 (path 1, verb 2), user 3, groups 4, extra 5
/// (map<string, ExtraValue{items 1}>), uid 6.
fn access_review_spec(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            m.insert(
                "resourceAttributes".into(),
                decode_with(w, resource_attributes)?,
            );
        }
        2 => {
            let a = decode_with(w, |m, n, w| {
                match n {
                    1 => set(m, "path", string(w)?),
                    2 => set(m, "verb", string(w)?),
                    _ => {}
                }
                Ok(())
            })?;
            m.insert("nonResourceAttributes".into(), a);
        }
        3 => set(m, "user", string(w)?),
        4 => push(m, "groups", string(w)?),
        5 => map_entry(m, "extra", w, |w| {
            let mut items = Vec::new();
            each_field(message(w)?, |n, w| {
                if n == 1 {
                    items.push(string(w)?);
                }
                Ok(())
            })?;
            Ok(Value::Array(items))
        })?,
        6 => set(m, "uid", string(w)?),
        _ => {}
    }
    Ok(())
}

/// authorization/v1 access reviews: metadata 1, spec 2 (status 3 is the server's).
fn access_review(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            m.insert("metadata".into(), decode_with(w, object_meta)?);
        }
        2 => {
            m.insert("spec".into(), decode_with(w, access_review_spec)?);
        }
        _ => {}
    }
    Ok(())
}

/// authorization/v1 SelfSubjectRulesReview: metadata 1, spec 2 (namespace 1).
fn rules_review(m: &mut Map<String, Value>, n: u64, w: Wire<'_>) -> Result<(), DecodeError> {
    match n {
        1 => {
            m.insert("metadata".into(), decode_with(w, object_meta)?);
        }
        2 => {
            let spec = decode_with(w, |m, n, w| {
                if n == 1 {
                    set(m, "namespace", string(w)?);
                }
                Ok(())
            })?;
            m.insert("spec".into(), spec);
        }
        _ => {}
    }
    Ok(())
}

/// Decodes a protobuf request body into the object's JSON form.
pub fn decode(body: &[u8]) -> Result<Value, DecodeError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| malformed("missing the k8s protobuf magic prefix"))?;
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    each_field(envelope, |n, w| {
        match n {
            1 => each_field(message(w)?, |n, w| {
                match n {
                    1 => api_version = string(w)?.as_str().unwrap_or_default().to_string(),
                    2 => kind = string(w)?.as_str().unwrap_or_default().to_string(),
                    _ => {}
                }
                Ok(())
            })?,
            2 => raw = Some(message(w)?),
            3 if string(w)? != json!("") => {
                return Err(malformed("compressed protobuf bodies are not supported"))
            }
            _ => {}
        }
        Ok(())
    })?;
    let decoder: FieldDecoder = match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap") => config_map,
        ("v1", "Secret") => secret,
        ("v1", "Namespace") => namespace,
        ("v1", "ServiceAccount") => service_account,
        ("v1", "Event") => event,
        ("rbac.authorization.k8s.io/v1", "Role" | "ClusterRole") => role,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => role_binding,
        ("authentication.k8s.io/v1", "TokenRequest") => token_request,
        ("authentication.k8s.io/v1", "TokenReview") => token_review,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => self_subject_review,
        (
            "authorization.k8s.io/v1",
            "SelfSubjectAccessReview" | "SubjectAccessReview" | "LocalSubjectAccessReview",
        ) => access_review,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => rules_review,
        _ => {
            return Err(DecodeError::UnsupportedKind(format!(
                "{api_version}/{kind}"
            )))
        }
    };
    let mut obj = match decode_with(Wire::Bytes(raw.unwrap_or_default()), decoder)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        varint(n << 3 | 2, &mut out);
        varint(bytes.len() as u64, &mut out);
        out.extend_from_slice(bytes);
        out
    }

    /// A varint field (int32/int64/bool).
    fn vfield(n: u64, v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        varint(n << 3, &mut out);
        varint(v, &mut out);
        out
    }

    /// A `map<string, string|bytes>` entry (key = 1, value = 2).
    fn entry(n: u64, k: &str, v: &[u8]) -> Vec<u8> {
        field(n, &[field(1, k.as_bytes()), field(2, v)].concat())
    }

    /// meta/v1 Time / MicroTime: seconds = 1, nanos = 2.
    fn ts(n: u64, secs: i64, nanos: u64) -> Vec<u8> {
        field(n, &[vfield(1, secs as u64), vfield(2, nanos)].concat())
    }

    /// 2023-11-14T22:13:20Z.
    const T: i64 = 1_700_000_000;

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [field(1, api_version.as_bytes()), field(2, kind.as_bytes())].concat();
        [MAGIC.to_vec(), field(1, &type_meta), field(2, raw)].concat()
    }

    #[test]
    fn decodes_a_config_map() {
        let meta = [
            field(1, b"settings"),
            field(3, b"default"),
            field(11, &[field(1, b"app"), field(2, b"web")].concat()),
        ]
        .concat();
        let data = [field(1, b"greeting"), field(2, b"hi")].concat();
        let bin = [field(1, b"blob"), field(2, &[0, 1, 2])].concat();
        let raw = [field(1, &meta), field(2, &data), field(3, &bin)].concat();
        let obj = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(
            obj,
            json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings", "namespace": "default", "labels": {"app": "web"}},
                "data": {"greeting": "hi"},
                "binaryData": {"blob": "AAEC"},
            })
        );
    }

    #[test]
    fn secrets_are_base64_and_namespaces_keep_finalizers() {
        let raw = [
            field(1, &field(1, b"s")),
            field(2, &[field(1, b"p"), field(2, b"q")].concat()),
            field(3, b"Opaque"),
        ]
        .concat();
        let obj = decode(&envelope("v1", "Secret", &raw)).unwrap();
        assert_eq!(obj["data"], json!({"p": "cQ=="}));
        assert_eq!(obj["type"], json!("Opaque"));
        let raw = [
            field(1, &field(1, b"foo")),
            field(2, &field(1, b"kubernetes")),
        ]
        .concat();
        let obj = decode(&envelope("v1", "Namespace", &raw)).unwrap();
        assert_eq!(obj["spec"], json!({"finalizers": ["kubernetes"]}));
    }

    /// meta/v1 ObjectMeta: name 1, generateName 2, namespace 3, selfLink 4, uid 5,
    /// resourceVersion 6, generation 7, creationTimestamp 8, deletionTimestamp 9,
    /// deletionGracePeriodSeconds 10, labels 11, annotations 12, ownerReferences 13,
    /// finalizers 14, managedFields 17; OwnerReference: kind 1, name 3, uid 4,
    /// apiVersion 5, controller 6, blockOwnerDeletion 7.
    #[test]
    fn decodes_every_object_meta_field() {
        let owner = [
            field(1, b"Service"),
            field(3, b"hello"),
            field(4, b"u-1"),
            field(5, b"serving.knative.dev/v1"),
            vfield(6, 1),
            vfield(7, 1),
        ]
        .concat();
        let meta = [
            field(1, b"n"),
            field(2, b"n-"),
            field(3, b"ns"),
            field(4, b"/api/v1/namespaces/ns/configmaps/n"),
            field(5, b"uid-1"),
            field(6, b"42"),
            vfield(7, 3),
            ts(8, T, 0),
            ts(9, T + 30, 0),
            vfield(10, 30),
            entry(11, "app", b"web"),
            entry(12, "note", b"x"),
            field(13, &owner),
            field(14, b"example.com/cleanup"),
            field(17, &field(1, b"kubectl")),
        ]
        .concat();
        let obj = decode(&envelope("v1", "ConfigMap", &field(1, &meta))).unwrap();
        assert_eq!(
            obj["metadata"],
            json!({
                "name": "n", "generateName": "n-", "namespace": "ns", "uid": "uid-1",
                "resourceVersion": "42", "generation": 3,
                "creationTimestamp": "2023-11-14T22:13:20Z",
                "deletionTimestamp": "2023-11-14T22:13:50Z",
                "deletionGracePeriodSeconds": 30,
                "labels": {"app": "web"}, "annotations": {"note": "x"},
                "ownerReferences": [{"kind": "Service", "name": "hello", "uid": "u-1",
                    "apiVersion": "serving.knative.dev/v1", "controller": true,
                    "blockOwnerDeletion": true}],
                "finalizers": ["example.com/cleanup"],
            })
        );
        // Go's zero time, which gogo-protobuf writes for an unset creationTimestamp.
        let meta = [field(1, b"n"), ts(8, -62_135_596_800, 0)].concat();
        let obj = decode(&envelope("v1", "ConfigMap", &field(1, &meta))).unwrap();
        assert_eq!(obj["metadata"], json!({"name": "n"}));
    }

    /// core/v1 ConfigMap: metadata 1, data 2, binaryData 3, immutable 4.
    #[test]
    fn config_map_immutable() {
        let raw = [
            field(1, &field(1, b"c")),
            entry(2, "k", b"v"),
            entry(3, "b", &[0xff]),
            vfield(4, 1),
        ]
        .concat();
        let obj = decode(&envelope("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(obj["data"], json!({"k": "v"}));
        assert_eq!(obj["binaryData"], json!({"b": "/w=="}));
        assert_eq!(obj["immutable"], json!(true));
    }

    /// core/v1 Secret: metadata 1, data 2 (bytes), type 3, stringData 4, immutable 5.
    #[test]
    fn secret_every_field() {
        let raw = [
            field(1, &field(1, b"s")),
            entry(2, "p", b"q"),
            field(3, b"kubernetes.io/basic-auth"),
            entry(4, "username", b"admin"),
            vfield(5, 1),
        ]
        .concat();
        let obj = decode(&envelope("v1", "Secret", &raw)).unwrap();
        assert_eq!(
            obj,
            json!({
                "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "data": {"p": "cQ=="}, "type": "kubernetes.io/basic-auth",
                "stringData": {"username": "admin"}, "immutable": true,
            })
        );
    }

    /// core/v1 Namespace: metadata 1, spec 2 (NamespaceSpec: finalizers 1), status 3
    /// (server-owned, dropped).
    #[test]
    fn namespace_spec_and_status() {
        let raw = [
            field(1, &field(1, b"team")),
            field(2, &[field(1, b"kubernetes"), field(1, b"other")].concat()),
            field(3, &field(1, b"Active")),
        ]
        .concat();
        let obj = decode(&envelope("v1", "Namespace", &raw)).unwrap();
        assert_eq!(
            obj,
            json!({
                "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"},
                "spec": {"finalizers": ["kubernetes", "other"]},
            })
        );
    }

    /// core/v1 ServiceAccount: metadata 1, secrets 2 (ObjectReference: kind 1,
    /// namespace 2, name 3, uid 4, apiVersion 5, resourceVersion 6, fieldPath 7),
    /// imagePullSecrets 3 (LocalObjectReference: name 1), automountServiceAccountToken 4.
    #[test]
    fn service_account_every_field() {
        let secret_ref = [
            field(1, b"Secret"),
            field(2, b"team"),
            field(3, b"token"),
            field(4, b"u-2"),
            field(5, b"v1"),
            field(6, b"7"),
            field(7, b"data.token"),
        ]
        .concat();
        let raw = [
            field(1, &field(1, b"bot")),
            field(2, &secret_ref),
            field(3, &field(1, b"registry")),
            vfield(4, 0),
        ]
        .concat();
        let obj = decode(&envelope("v1", "ServiceAccount", &raw)).unwrap();
        assert_eq!(
            obj,
            json!({
                "apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "bot"},
                "secrets": [{"kind": "Secret", "namespace": "team", "name": "token", "uid": "u-2",
                    "apiVersion": "v1", "resourceVersion": "7", "fieldPath": "data.token"}],
                "imagePullSecrets": [{"name": "registry"}],
                "automountServiceAccountToken": false,
            })
        );
    }

    /// core/v1 Event: metadata 1, involvedObject 2, reason 3, message 4, source 5
    /// (component 1, host 2), firstTimestamp 6, lastTimestamp 7, count 8, type 9,
    /// eventTime 10 (MicroTime), series 11 (count 1, lastObservedTime 2), action 12,
    /// related 13, reportingComponent 14, reportingInstance 15.
    #[test]
    fn event_every_field() {
        let raw = [
            field(1, &field(1, b"e1")),
            field(2, &[field(1, b"Pod"), field(3, b"web-0")].concat()),
            field(3, b"Started"),
            field(4, b"started container"),
            field(5, &[field(1, b"kubelet"), field(2, b"node-1")].concat()),
            ts(6, T, 0),
            ts(7, T + 1, 0),
            vfield(8, 2),
            field(9, b"Normal"),
            ts(10, T, 123_456_789),
            field(11, &[vfield(1, 5), ts(2, T + 2, 500_000_000)].concat()),
            field(12, b"Start"),
            field(13, &[field(1, b"Node"), field(3, b"node-1")].concat()),
            field(14, b"kubelet"),
            field(15, b"kubelet-node-1"),
        ]
        .concat();
        let obj = decode(&envelope("v1", "Event", &raw)).unwrap();
        assert_eq!(
            obj,
            json!({
                "apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
                "involvedObject": {"kind": "Pod", "name": "web-0"},
                "reason": "Started", "message": "started container",
                "source": {"component": "kubelet", "host": "node-1"},
                "firstTimestamp": "2023-11-14T22:13:20Z",
                "lastTimestamp": "2023-11-14T22:13:21Z",
                "count": 2, "type": "Normal",
                "eventTime": "2023-11-14T22:13:20.123456Z",
                "series": {"count": 5, "lastObservedTime": "2023-11-14T22:13:22.500000Z"},
                "action": "Start",
                "related": {"kind": "Node", "name": "node-1"},
                "reportingComponent": "kubelet", "reportingInstance": "kubelet-node-1",
            })
        );
    }

    /// runtime.Unknown: typeMeta 1 (runtime.TypeMeta: apiVersion 1, kind 2 — the
    /// reverse of meta/v1 TypeMeta), raw 2, contentEncoding 3, contentType 4.
    #[test]
    fn unknown_envelope_fields() {
        let raw = field(1, &field(1, b"c"));
        // contentType (4) is informational and accepted.
        let body = [
            envelope("v1", "ConfigMap", &raw),
            field(4, b"application/vnd.kubernetes.protobuf"),
        ]
        .concat();
        assert_eq!(decode(&body).unwrap()["metadata"], json!({"name": "c"}));
        // A non-empty contentEncoding (3) is refused.
        let body = [envelope("v1", "ConfigMap", &raw), field(3, b"gzip")].concat();
        assert!(matches!(decode(&body), Err(DecodeError::Malformed(_))));
        // TypeMeta order matters: apiVersion is 1, kind is 2.
        let swapped = [field(1, b"ConfigMap"), field(2, b"v1")].concat();
        let body = [MAGIC.to_vec(), field(1, &swapped), field(2, &raw)].concat();
        assert_eq!(
            decode(&body),
            Err(DecodeError::UnsupportedKind("ConfigMap/v1".into()))
        );
    }

    /// rbac/v1 Role: metadata 1, rules 2 (PolicyRule: verbs 1, apiGroups 2,
    /// resources 3, resourceNames 4, nonResourceURLs 5); ClusterRole adds
    /// aggregationRule 3 (clusterRoleSelectors 1: LabelSelector matchLabels 1).
    #[test]
    fn decodes_roles() {
        let rule = [
            field(1, b"get"),
            field(1, b"list"),
            field(2, b""),
            field(3, b"pods"),
            field(4, b"web"),
        ]
        .concat();
        let raw = [field(1, &field(1, b"pod-reader")), field(2, &rule)].concat();
        assert_eq!(
            decode(&envelope("rbac.authorization.k8s.io/v1", "Role", &raw)).unwrap(),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "pod-reader"},
                "rules": [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]}],
            })
        );
        let url_rule = [field(1, b"get"), field(5, b"/healthz")].concat();
        let selector = field(1, &[field(1, b"agg"), field(2, b"true")].concat());
        let raw = [
            field(1, &field(1, b"c")),
            field(2, &url_rule),
            field(3, &field(1, &selector)),
        ]
        .concat();
        assert_eq!(
            decode(&envelope(
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                &raw
            ))
            .unwrap(),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "c"},
                "rules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}],
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg": "true"}}]},
            })
        );
    }

    /// rbac/v1 RoleBinding: metadata 1, subjects 2 (kind 1, apiGroup 2, name 3,
    /// namespace 4), roleRef 3 (apiGroup 1, kind 2, name 3).
    #[test]
    fn decodes_role_bindings() {
        let subject = [
            field(1, b"ServiceAccount"),
            field(2, b""),
            field(3, b"builder"),
            field(4, b"default"),
        ]
        .concat();
        let role_ref = [
            field(1, b"rbac.authorization.k8s.io"),
            field(2, b"Role"),
            field(3, b"pod-reader"),
        ]
        .concat();
        let raw = [
            field(1, &field(1, b"rb")),
            field(2, &subject),
            field(3, &role_ref),
        ]
        .concat();
        assert_eq!(
            decode(&envelope(
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                &raw
            ))
            .unwrap(),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "rb"},
                "subjects": [{"kind": "ServiceAccount", "name": "builder", "namespace": "default"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            })
        );
    }

    /// authentication/v1 TokenRequest: spec 2 (audiences 1, boundObjectRef 3 (kind 1,
    /// apiVersion 2, name 3, uid 4), expirationSeconds 4).
    #[test]
    fn decodes_token_requests() {
        let bound = [
            field(1, b"Pod"),
            field(2, b"v1"),
            field(3, b"p"),
            field(4, b"u"),
        ]
        .concat();
        let spec = [field(1, b"api"), field(3, &bound), vfield(4, 600)].concat();
        let raw = [field(1, &field(1, b"builder")), field(2, &spec)].concat();
        assert_eq!(
            decode(&envelope("authentication.k8s.io/v1", "TokenRequest", &raw)).unwrap(),
            json!({
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "metadata": {"name": "builder"},
                "spec": {"audiences": ["api"], "expirationSeconds": 600,
                         "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u"}},
            })
        );
        let raw = field(2, &[field(1, b"tok"), field(2, b"aud")].concat());
        assert_eq!(
            decode(&envelope("authentication.k8s.io/v1", "TokenReview", &raw)).unwrap()["spec"],
            json!({"token": "tok", "audiences": ["aud"]})
        );
    }

    /// authorization/v1 SubjectAccessReviewSpec: resourceAttributes 1 (namespace 1,
    /// verb 2, group 3, version 4, resource 5, subresource 6, name 7),
    /// nonResourceAttributes 2 (path 1, verb 2), user 3, groups 4, extra 5, uid 6.
    #[test]
    fn decodes_access_reviews() {
        let attrs = [
            field(1, b"default"),
            field(2, b"list"),
            field(3, b""),
            field(4, b"v1"),
            field(5, b"pods"),
            field(6, b"log"),
            field(7, b""),
        ]
        .concat();
        let raw = field(2, &field(1, &attrs));
        assert_eq!(
            decode(&envelope(
                "authorization.k8s.io/v1",
                "SelfSubjectAccessReview",
                &raw
            ))
            .unwrap(),
            json!({
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": {"namespace": "default", "verb": "list", "version": "v1", "resource": "pods", "subresource": "log"}},
            })
        );
        let extra = field(5, &[field(1, b"k"), field(2, &field(1, b"v"))].concat());
        let spec = [
            field(2, &[field(1, b"/api"), field(2, b"get")].concat()),
            field(3, b"alice"),
            field(4, b"devs"),
            extra,
            field(6, b"u1"),
        ]
        .concat();
        let raw = field(2, &spec);
        assert_eq!(
            decode(&envelope(
                "authorization.k8s.io/v1",
                "SubjectAccessReview",
                &raw
            ))
            .unwrap()["spec"],
            json!({"nonResourceAttributes": {"path": "/api", "verb": "get"}, "user": "alice",
                   "groups": ["devs"], "extra": {"k": ["v"]}, "uid": "u1"})
        );
        // An empty but present resourceAttributes stays present.
        let raw = field(2, &field(1, &[]));
        assert_eq!(
            decode(&envelope(
                "authorization.k8s.io/v1",
                "SelfSubjectAccessReview",
                &raw
            ))
            .unwrap()["spec"],
            json!({"resourceAttributes": {}})
        );
        let raw = field(2, &field(1, b"team"));
        assert_eq!(
            decode(&envelope(
                "authorization.k8s.io/v1",
                "SelfSubjectRulesReview",
                &raw
            ))
            .unwrap()["spec"],
            json!({"namespace": "team"})
        );
    }

    #[test]
    fn refuses_unknown_kinds_and_garbage() {
        assert_eq!(
            decode(&envelope("example.com/v1", "Foo", &[])),
            Err(DecodeError::UnsupportedKind("example.com/v1/Foo".into()))
        );
        assert!(matches!(decode(b"{}"), Err(DecodeError::Malformed(_))));
        assert!(matches!(
            decode(&[MAGIC, &[0x0a, 0x05, 0x01]].concat()),
            Err(DecodeError::Malformed(_))
        ));
    }
}
