//! Structural OpenAPI v3 schema validation and pruning with CRD
//! `openAPIV3Schema` semantics (k8s.io/apiextensions-apiserver +
//! k8s.io/kube-openapi `pkg/validation`).
//!
//! [`validate`] does, in order, what kube-apiserver does to a custom
//! resource body:
//!
//! 1. **pruning** of fields the schema does not declare (or, with
//!    `strict`, reports them as [`SchemaErrorKind::UnknownField`] like
//!    `fieldValidation=Strict`), honouring `x-kubernetes-preserve-unknown-fields`
//!    and `x-kubernetes-embedded-resource`;
//! 2. removal of `null` values of non-nullable properties
//!    (`PruneNonNullableNullsWithoutDefaults`);
//! 3. value validation (type, enum, lengths, bounds, pattern, format,
//!    required, list types, `allOf`/`anyOf`/`oneOf`/`not`), with messages
//!    shaped like Kubernetes' `field.Error` bodies.
//!
//! Defaulting is separate ([`apply_defaults`]); call it before [`validate`]
//! to get kube-apiserver's full behaviour.
//!
//! Root-level `apiVersion`, `kind` and `metadata` are never checked or
//! pruned here: metadata is validated elsewhere.

use regex::Regex;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// What went wrong, mirroring Kubernetes' `field.ErrorType`s that schema
/// validation produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaErrorKind {
    /// A field the schema does not declare (strict field validation only).
    UnknownField,
    /// `FieldValueInvalid` (also used for type mismatches).
    Invalid,
    /// `FieldValueRequired`.
    Required,
    /// `FieldValueNotSupported` (enum).
    NotSupported,
    /// `FieldValueTooLong` (maxLength).
    TooLong,
    /// `FieldValueTooMany` (maxItems, maxProperties).
    TooMany,
    /// `FieldValueDuplicate` (x-kubernetes-list-type set/map).
    Duplicate,
}

impl SchemaErrorKind {
    /// The Kubernetes `StatusCause.reason` for this kind.
    pub fn reason(&self) -> &'static str {
        match self {
            SchemaErrorKind::UnknownField | SchemaErrorKind::Invalid => "FieldValueInvalid",
            SchemaErrorKind::Required => "FieldValueRequired",
            SchemaErrorKind::NotSupported => "FieldValueNotSupported",
            SchemaErrorKind::TooLong => "FieldValueTooLong",
            SchemaErrorKind::TooMany => "FieldValueTooMany",
            SchemaErrorKind::Duplicate => "FieldValueDuplicate",
        }
    }
}

/// One schema violation.
///
/// `message` is Kubernetes' `field.Error.ErrorBody()` — everything after
/// `"<field>: "` — e.g. `Required value`,
/// `Invalid value: "string": spec.replicas in body must be of type integer: "string"`,
/// `Unsupported value: "x": supported values: "a", "b"`; for unknown fields it
/// is `unknown field "spec.foo"`. `Display` renders the complete Kubernetes
/// text (`spec.replicas: Invalid value: ...`).
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    /// Path without leading dot: `spec.template.spec.foo`, `spec.items[2].name`.
    pub field: String,
    pub kind: SchemaErrorKind,
    pub message: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.kind == SchemaErrorKind::UnknownField {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for SchemaError {}

/// Validates `obj` (a whole object incl. apiVersion/kind/metadata) against a
/// CRD version's `openAPIV3Schema` (JSONSchemaProps JSON).
///
/// With `strict`, undeclared fields are reported as `UnknownField` errors and
/// left in place; otherwise they are removed from `obj`. Non-nullable `null`
/// properties are removed in both modes. Returns all errors (empty = valid).
pub fn validate(schema: &Value, obj: &mut Value, strict: bool) -> Vec<SchemaError> {
    let mut errs = Vec::new();
    prune(schema, obj, "", strict, true, &mut errs);
    check(schema, obj, "", true, &mut errs);
    errs
}

/// Removes undeclared fields from `obj` (kube's `structuralpruning.Prune`),
/// without validating. Root `apiVersion`/`kind`/`metadata` are kept.
pub fn prune_unknown(schema: &Value, obj: &mut Value) {
    let mut errs = Vec::new();
    prune(schema, obj, "", false, true, &mut errs);
}

/// Applies schema `default`s (kube's `structuraldefaulting.Default`): a
/// property with a default that is missing, or `null` while not nullable,
/// gets a copy of the default. Recurses through properties,
/// additionalProperties and items. Root `apiVersion`/`kind`/`metadata` are
/// left alone.
pub fn apply_defaults(schema: &Value, obj: &mut Value) {
    default_node(schema, obj, true);
}

fn default_node(s: &Value, v: &mut Value, is_root: bool) {
    let Some(s) = s.as_object() else { return };
    match v {
        Value::Object(map) => {
            if let Some(props) = s.get("properties").and_then(Value::as_object) {
                for (k, ps) in props {
                    if is_root && is_root_meta(k) {
                        continue;
                    }
                    let Some(d) = ps.get("default") else { continue };
                    let nullable = ps.get("nullable").and_then(Value::as_bool).unwrap_or(false);
                    match map.get(k) {
                        None => {
                            map.insert(k.clone(), d.clone());
                        }
                        Some(Value::Null) if !nullable => {
                            map.insert(k.clone(), d.clone());
                        }
                        _ => {}
                    }
                }
                for (k, child) in map.iter_mut() {
                    if is_root && is_root_meta(k) {
                        continue;
                    }
                    if let Some(ps) = props.get(k) {
                        default_node(ps, child, false);
                    } else if let Some(a) = s.get("additionalProperties").filter(|a| a.is_object())
                    {
                        default_node(a, child, false);
                    }
                }
            } else if let Some(a) = s.get("additionalProperties").filter(|a| a.is_object()) {
                for child in map.values_mut() {
                    default_node(a, child, false);
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items").filter(|i| i.is_object()) {
                for it in items {
                    default_node(is, it, false);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

fn is_root_meta(k: &str) -> bool {
    matches!(k, "apiVersion" | "kind" | "metadata")
}

fn flag(s: &Map<String, Value>, key: &str) -> bool {
    s.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// A schema that constrains nothing structurally (`{}`, `true`, only
/// descriptions): treated as preserving unknown fields, so schemas derived
/// for free-form `serde_json::Value` fields don't prune user data.
fn is_unconstrained(s: &Map<String, Value>) -> bool {
    ![
        "type",
        "properties",
        "additionalProperties",
        "items",
        "x-kubernetes-int-or-string",
    ]
    .iter()
    .any(|k| s.contains_key(*k))
}

fn preserves_unknown(s: &Map<String, Value>) -> bool {
    flag(s, "x-kubernetes-preserve-unknown-fields")
        || s.get("additionalProperties") == Some(&Value::Bool(true))
        || is_unconstrained(s)
}

/// Go's `%v` of a float64 (shortest repr, `strconv` 'g' exponent rules).
fn go_float(f: f64) -> String {
    if f == 0.0 {
        return "0".to_string();
    }
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    // strconv 'g' with shortest precision switches to exponent form when
    // exp < -4 || exp >= 6.
    if !(-4..6).contains(&exp) {
        return go_exp(mant, exp);
    }
    format!("{f}")
}

fn go_exp(mant: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.abs())
}

fn go_num(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        i.to_string()
    } else if let Some(u) = n.as_u64() {
        u.to_string()
    } else {
        go_float(n.as_f64().unwrap_or(0.0))
    }
}

/// How `field.Error` prints a bad value.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => go_num(n),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Go's `%#v` of a `map[string]interface{}` of scalars (list-map keys).
fn go_map_literal(m: &[(String, Value)]) -> String {
    let mut sorted: Vec<&(String, Value)> = m.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let parts: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{k:?}:{}", go_value(v)))
        .collect();
    format!("map[string]interface {{}}{{{}}}", parts.join(", "))
}

/// The kube-openapi type name of a JSON value.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn is_integer(v: &Value) -> bool {
    match v {
        Value::Number(n) => {
            n.is_i64()
                || n.is_u64()
                || n.as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
        }
        _ => false,
    }
}

fn type_matches(ty: &str, v: &Value) -> bool {
    match ty {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => is_integer(v),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        _ => true,
    }
}

static REGEX_CACHE: LazyLock<Mutex<HashMap<String, Option<Regex>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn pattern_matches(pattern: &str, s: &str) -> bool {
    let mut cache = REGEX_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() > 1024 {
        cache.clear();
    }
    let re = cache
        .entry(pattern.to_string())
        .or_insert_with(|| Regex::new(pattern).ok());
    // An invalid (e.g. ECMA-only) pattern cannot be checked; accept.
    re.as_ref().is_none_or(|re| re.is_match(s))
}

static DATE_TIME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}(:?\d{2})?)?$")
        .unwrap()
});
static DATE_RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\d{4}-\d{2}-\d{2}$").unwrap());
static UUID_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$").unwrap()
});
static BYTE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$").unwrap()
});

/// Light check of the string formats kube-openapi knows that matter in practice.
fn string_format_ok(format: &str, s: &str) -> bool {
    match format {
        "date-time" => DATE_TIME_RE.is_match(s),
        "date" => DATE_RE.is_match(s),
        "uuid" => UUID_RE.is_match(s),
        "byte" => BYTE_RE.is_match(s),
        _ => true,
    }
}

// ---------------------------------------------------------------------------
// pass 1: pruning / unknown fields / non-nullable nulls
// ---------------------------------------------------------------------------

fn prune(
    s: &Value,
    v: &mut Value,
    path: &str,
    strict: bool,
    is_root: bool,
    errs: &mut Vec<SchemaError>,
) {
    let Some(s) = s.as_object() else { return };
    match v {
        Value::Object(map) => {
            let props = s.get("properties").and_then(Value::as_object);
            let addl = s.get("additionalProperties").filter(|a| a.is_object());
            let preserve = preserves_unknown(s);
            let embedded = flag(s, "x-kubernetes-embedded-resource");
            let keys: Vec<String> = map.keys().cloned().collect();
            for k in keys {
                if is_root && is_root_meta(&k) {
                    continue;
                }
                let declared = props.and_then(|p| p.get(&k));
                if embedded && declared.is_none() && is_root_meta(&k) {
                    continue;
                }
                match declared.or(addl) {
                    Some(sub) => {
                        let nullable = sub.as_object().is_some_and(|o| flag(o, "nullable"));
                        let Some(c) = map.get_mut(&k) else { continue };
                        if c.is_null() && sub.is_object() && !nullable {
                            map.remove(&k);
                            continue;
                        }
                        prune(sub, c, &child(path, &k), strict, false, errs);
                    }
                    None if preserve => {}
                    None if strict => {
                        let f = child(path, &k);
                        errs.push(SchemaError {
                            message: format!("unknown field {f:?}"),
                            field: f,
                            kind: SchemaErrorKind::UnknownField,
                        });
                    }
                    None => {
                        map.remove(&k);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(is) = s.get("items").filter(|i| i.is_object()) {
                for (i, it) in items.iter_mut().enumerate() {
                    prune(is, it, &index(path, i), strict, false, errs);
                }
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// pass 2: value validation
// ---------------------------------------------------------------------------

fn err(errs: &mut Vec<SchemaError>, path: &str, kind: SchemaErrorKind, message: String) {
    errs.push(SchemaError {
        field: path.to_string(),
        kind,
        message,
    });
}

/// `field.Invalid(path, value, "<path> in body <detail>")`.
fn invalid(errs: &mut Vec<SchemaError>, path: &str, shown: &str, detail: &str) {
    err(
        errs,
        path,
        SchemaErrorKind::Invalid,
        format!("Invalid value: {shown}: {path} in body {detail}"),
    );
}

fn type_error(errs: &mut Vec<SchemaError>, path: &str, expected: &str, v: &Value) {
    let actual = json_type(v);
    invalid(
        errs,
        path,
        &format!("{actual:?}"),
        &format!("must be of type {expected}: {actual:?}"),
    );
}

fn check(s: &Value, v: &Value, path: &str, is_root: bool, errs: &mut Vec<SchemaError>) {
    let Some(s) = s.as_object() else { return };
    let ty = s
        .get("type")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let int_or_string = flag(s, "x-kubernetes-int-or-string");

    if v.is_null() {
        if flag(s, "nullable") {
            return;
        }
        if int_or_string {
            type_error(errs, path, "integer,string", v);
            return;
        }
        if let Some(ty) = ty {
            type_error(errs, path, ty, v);
            return;
        }
    }

    if int_or_string && ty.is_none() {
        if !(is_integer(v) || v.is_string()) {
            type_error(errs, path, "integer,string", v);
            return;
        }
    } else if let Some(ty) = ty {
        if !type_matches(ty, v) {
            type_error(errs, path, ty, v);
            return;
        }
    }

    // enum
    if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
        if !allowed.is_empty() && !allowed.iter().any(|a| json_eq(a, v)) {
            let shown: Vec<String> = allowed
                .iter()
                .map(|a| match a {
                    Value::String(s) => format!("{s:?}"),
                    other => format!("{:?}", other.to_string()),
                })
                .collect();
            err(
                errs,
                path,
                SchemaErrorKind::NotSupported,
                format!(
                    "Unsupported value: {}: supported values: {}",
                    go_value(v),
                    shown.join(", ")
                ),
            );
        }
    }

    match v {
        Value::String(st) => check_string(s, st, v, path, errs),
        Value::Number(n) => check_number(s, n, v, path, errs),
        Value::Array(items) => check_array(s, items, path, errs),
        Value::Object(map) => check_object(s, map, path, is_root, errs),
        _ => {}
    }

    check_combinators(s, v, path, errs);
}

fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn get_u64(s: &Map<String, Value>, key: &str) -> Option<u64> {
    s.get(key)
        .and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64)))
}

fn check_string(
    s: &Map<String, Value>,
    st: &str,
    v: &Value,
    path: &str,
    errs: &mut Vec<SchemaError>,
) {
    let len = st.chars().count() as u64;
    if let Some(max) = get_u64(s, "maxLength") {
        if len > max {
            err(
                errs,
                path,
                SchemaErrorKind::TooLong,
                format!("Too long: may not be longer than {max}"),
            );
        }
    }
    if let Some(min) = get_u64(s, "minLength") {
        if len < min {
            invalid(
                errs,
                path,
                &go_value(v),
                &format!("should be at least {min} chars long"),
            );
        }
    }
    if let Some(p) = s.get("pattern").and_then(Value::as_str) {
        if !pattern_matches(p, st) {
            invalid(errs, path, &go_value(v), &format!("should match '{p}'"));
        }
    }
    if let Some(f) = s.get("format").and_then(Value::as_str) {
        if !string_format_ok(f, st) {
            invalid(
                errs,
                path,
                &go_value(v),
                &format!("must be of type {f}: {st:?}"),
            );
        }
    }
}

fn check_number(
    s: &Map<String, Value>,
    n: &Number,
    v: &Value,
    path: &str,
    errs: &mut Vec<SchemaError>,
) {
    let val = n.as_f64().unwrap_or(0.0);
    let int_value = n.is_i64() || n.is_u64();
    let bound = |b: f64| {
        if int_value && b.fract() == 0.0 && b.abs() < 9.2e18 {
            (b as i64).to_string()
        } else {
            go_float(b)
        }
    };
    let shown = go_value(v);
    if let Some(f) = s.get("format").and_then(Value::as_str) {
        let ok = match f {
            "int32" => !int_value || n.as_i64().is_some_and(|i| i32::try_from(i).is_ok()),
            "int64" => !int_value || n.as_i64().is_some(),
            _ => true,
        };
        if !ok {
            invalid(errs, path, &shown, &format!("must be of type {f}"));
        }
    }
    if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
        let excl = flag(s, "exclusiveMaximum");
        if (excl && val >= max) || (!excl && val > max) {
            let what = if excl {
                "less than"
            } else {
                "less than or equal to"
            };
            invalid(
                errs,
                path,
                &shown,
                &format!("should be {what} {}", bound(max)),
            );
        }
    }
    if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
        let excl = flag(s, "exclusiveMinimum");
        if (excl && val <= min) || (!excl && val < min) {
            let what = if excl {
                "greater than"
            } else {
                "greater than or equal to"
            };
            invalid(
                errs,
                path,
                &shown,
                &format!("should be {what} {}", bound(min)),
            );
        }
    }
    if let Some(m) = s.get("multipleOf").and_then(Value::as_f64) {
        if m > 0.0 {
            let q = val / m;
            if (q - q.round()).abs() > 1e-9 {
                invalid(
                    errs,
                    path,
                    &shown,
                    &format!("should be a multiple of {}", bound(m)),
                );
            }
        }
    }
}

fn check_array(s: &Map<String, Value>, items: &[Value], path: &str, errs: &mut Vec<SchemaError>) {
    let n = items.len() as u64;
    if let Some(max) = get_u64(s, "maxItems") {
        if n > max {
            err(
                errs,
                path,
                SchemaErrorKind::TooMany,
                format!("Too many: {n}: must have at most {max} items"),
            );
        }
    }
    if let Some(min) = get_u64(s, "minItems") {
        if n < min {
            invalid(
                errs,
                path,
                &n.to_string(),
                &format!("should have at least {min} items"),
            );
        }
    }
    if flag(s, "uniqueItems") {
        let dup = items
            .iter()
            .enumerate()
            .any(|(i, a)| items[..i].iter().any(|b| json_eq(a, b)));
        if dup {
            invalid(errs, path, "\"\"", "shouldn't contain duplicates");
        }
    }
    match s.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            for (i, a) in items.iter().enumerate() {
                if items[..i].iter().any(|b| json_eq(a, b)) {
                    let p = index(path, i);
                    err(
                        errs,
                        &p,
                        SchemaErrorKind::Duplicate,
                        format!("Duplicate value: {}", go_value(a)),
                    );
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = s
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if !keys.is_empty() {
                let tuple = |it: &Value| -> Vec<(String, Value)> {
                    keys.iter()
                        .filter_map(|k| it.get(*k).map(|v| (k.to_string(), v.clone())))
                        .collect()
                };
                let tuples: Vec<Vec<(String, Value)>> = items.iter().map(tuple).collect();
                for i in 0..tuples.len() {
                    if !items[i].is_object() {
                        continue;
                    }
                    if tuples[..i]
                        .iter()
                        .enumerate()
                        .any(|(j, t)| items[j].is_object() && *t == tuples[i])
                    {
                        err(
                            errs,
                            &index(path, i),
                            SchemaErrorKind::Duplicate,
                            format!("Duplicate value: {}", go_map_literal(&tuples[i])),
                        );
                    }
                }
            }
        }
        _ => {}
    }
    if let Some(is) = s.get("items") {
        for (i, it) in items.iter().enumerate() {
            check(is, it, &index(path, i), false, errs);
        }
    }
}

fn check_object(
    s: &Map<String, Value>,
    map: &Map<String, Value>,
    path: &str,
    is_root: bool,
    errs: &mut Vec<SchemaError>,
) {
    if let Some(req) = s.get("required").and_then(Value::as_array) {
        for r in req.iter().filter_map(Value::as_str) {
            if !map.contains_key(r) {
                err(
                    errs,
                    &child(path, r),
                    SchemaErrorKind::Required,
                    "Required value".to_string(),
                );
            }
        }
    }
    let n = map.len() as u64;
    if let Some(max) = get_u64(s, "maxProperties") {
        if n > max {
            err(
                errs,
                path,
                SchemaErrorKind::TooMany,
                format!("Too many: {n}: must have at most {max} items"),
            );
        }
    }
    if let Some(min) = get_u64(s, "minProperties") {
        if n < min {
            invalid(
                errs,
                path,
                &min.to_string(),
                &format!("should have at least {min} properties"),
            );
        }
    }
    let props = s.get("properties").and_then(Value::as_object);
    let addl = s.get("additionalProperties").filter(|a| a.is_object());
    for (k, cv) in map {
        if is_root && is_root_meta(k) {
            continue;
        }
        if let Some(ps) = props.and_then(|p| p.get(k)) {
            check(ps, cv, &child(path, k), false, errs);
        } else if let Some(a) = addl {
            check(a, cv, &child(path, k), false, errs);
        }
    }
}

fn check_combinators(s: &Map<String, Value>, v: &Value, path: &str, errs: &mut Vec<SchemaError>) {
    let name = if path.is_empty() {
        "body".to_string()
    } else {
        path.to_string()
    };
    let combinator_err = |errs: &mut Vec<SchemaError>, msg: String| {
        err(
            errs,
            path,
            SchemaErrorKind::Invalid,
            format!("Invalid value: \"\": {msg}"),
        );
    };
    if let Some(all) = s.get("allOf").and_then(Value::as_array) {
        let mut sub = Vec::new();
        let mut failed = 0;
        for a in all {
            let before = sub.len();
            check(a, v, path, false, &mut sub);
            if sub.len() > before {
                failed += 1;
            }
        }
        if failed > 0 {
            let extra = if failed == all.len() {
                ". Found none valid"
            } else {
                ""
            };
            combinator_err(
                errs,
                format!("{name} must validate all the schemas (allOf){extra}"),
            );
            errs.extend(sub);
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
        if !any.is_empty() {
            let mut subs = Vec::new();
            let mut ok = false;
            for a in any {
                let mut sub = Vec::new();
                check(a, v, path, false, &mut sub);
                if sub.is_empty() {
                    ok = true;
                    break;
                }
                subs.extend(sub);
            }
            if !ok {
                errs.extend(subs);
                combinator_err(
                    errs,
                    format!("{name} must validate at least one schema (anyOf)"),
                );
            }
        }
    }
    if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
        if !one.is_empty() {
            let mut subs = Vec::new();
            let mut valid = 0;
            for a in one {
                let mut sub = Vec::new();
                check(a, v, path, false, &mut sub);
                if sub.is_empty() {
                    valid += 1;
                } else {
                    subs.extend(sub);
                }
            }
            if valid != 1 {
                if valid == 0 {
                    errs.extend(subs);
                    combinator_err(
                        errs,
                        format!("{name} must validate one and only one schema (oneOf). Found none valid"),
                    );
                } else {
                    combinator_err(
                        errs,
                        format!("{name} must validate one and only one schema (oneOf). Found {valid} valid alternatives"),
                    );
                }
            }
        }
    }
    if let Some(not) = s.get("not").filter(|n| n.is_object()) {
        let mut sub = Vec::new();
        check(not, v, path, false, &mut sub);
        if sub.is_empty() {
            combinator_err(errs, format!("{name} must not validate the schema (not)"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A hand-written CRD schema shaped like Knative's Service.
    fn ksvc_schema() -> Value {
        // (a string: `json!` would exceed the macro recursion limit)
        serde_json::from_str(
            r#"{
            "type": "object",
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
                "spec": {
                    "type": "object",
                    "properties": {
                        "template": {
                            "type": "object",
                            "properties": {
                                "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "containerConcurrency": {"type": "integer", "format": "int64", "minimum": 0, "maximum": 1000},
                                        "timeoutSeconds": {"type": "integer", "format": "int64", "nullable": true},
                                        "containers": {
                                            "type": "array",
                                            "maxItems": 10,
                                            "items": {
                                                "type": "object",
                                                "required": ["image"],
                                                "properties": {
                                                    "name": {"type": "string", "maxLength": 63},
                                                    "image": {"type": "string", "minLength": 1},
                                                    "args": {"type": "array", "items": {"type": "string"}},
                                                    "env": {
                                                        "type": "array",
                                                        "x-kubernetes-list-type": "map",
                                                        "x-kubernetes-list-map-keys": ["name"],
                                                        "items": {
                                                            "type": "object",
                                                            "required": ["name"],
                                                            "properties": {
                                                                "name": {"type": "string"},
                                                                "value": {"type": "string"}
                                                            }
                                                        }
                                                    },
                                                    "ports": {
                                                        "type": "array",
                                                        "items": {
                                                            "type": "object",
                                                            "properties": {
                                                                "containerPort": {"type": "integer", "format": "int32"},
                                                                "protocol": {"type": "string", "enum": ["TCP", "UDP", "SCTP"]}
                                                            }
                                                        }
                                                    },
                                                    "resources": {
                                                        "type": "object",
                                                        "properties": {
                                                            "limits": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}], "pattern": "^[0-9]+[a-zA-Z]*$"}},
                                                            "requests": {"type": "object", "additionalProperties": {"x-kubernetes-int-or-string": true}}
                                                        }
                                                    }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        },
                        "traffic": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "percent": {"type": "integer", "minimum": 0, "maximum": 100},
                                    "latestRevision": {"type": "boolean"},
                                    "revisionName": {"type": "string"},
                                    "tag": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
                                }
                            }
                        }
                    }
                },
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        }"#,
        )
        .unwrap()
    }

    fn ksvc() -> Value {
        json!({
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {"name": "hello", "namespace": "default", "creationTimestamp": null, "whatever": 1},
            "spec": {
                "template": {
                    "metadata": {"annotations": {"autoscaling.knative.dev/min-scale": "1"}},
                    "spec": {
                        "containerConcurrency": 10,
                        "timeoutSeconds": null,
                        "containers": [{
                            "name": "user-container",
                            "image": "ghcr.io/knative/helloworld-go:latest",
                            "env": [{"name": "TARGET", "value": "World"}, {"name": "B", "value": "x"}],
                            "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                            "resources": {"limits": {"cpu": "1", "memory": "512Mi"}, "requests": {"cpu": 1}}
                        }]
                    }
                },
                "traffic": [{"percent": 100, "latestRevision": true, "tag": "current"}]
            },
            "status": {"url": "http://x", "anything": {"goes": true}}
        })
    }

    #[test]
    fn ordinary_manifest_is_valid() {
        let mut o = ksvc();
        let before = o.clone();
        assert_eq!(validate(&ksvc_schema(), &mut o, true), vec![]);
        assert_eq!(o, before);
        assert_eq!(validate(&ksvc_schema(), &mut o, false), vec![]);
        assert_eq!(o, before);
    }

    #[test]
    fn unknown_fields_strict_and_pruned() {
        let mut o = ksvc();
        o["spec"]["template"]["spec"]["containers"][0]["foo"] = json!(1);
        o["spec"]["bar"] = json!({"x": 1});
        let errs = validate(&ksvc_schema(), &mut o.clone(), true);
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"spec.bar"), "{errs:?}");
        assert!(
            fields.contains(&"spec.template.spec.containers[0].foo"),
            "{errs:?}"
        );
        let e = errs.iter().find(|e| e.field == "spec.bar").unwrap();
        assert_eq!(e.kind, SchemaErrorKind::UnknownField);
        assert_eq!(e.message, "unknown field \"spec.bar\"");
        assert_eq!(e.to_string(), "unknown field \"spec.bar\"");

        let errs = validate(&ksvc_schema(), &mut o, false);
        assert_eq!(errs, vec![]);
        assert!(o["spec"].get("bar").is_none());
        assert!(o["spec"]["template"]["spec"]["containers"][0]
            .get("foo")
            .is_none());
        // preserved subtrees and root metadata untouched
        assert_eq!(o["status"]["anything"], json!({"goes": true}));
        assert_eq!(o["metadata"]["whatever"], json!(1));
        assert_eq!(
            o["spec"]["template"]["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"],
            json!("1")
        );
    }

    #[test]
    fn type_errors() {
        let mut o = ksvc();
        o["spec"]["template"]["spec"]["containerConcurrency"] = json!("ten");
        o["spec"]["traffic"][0]["latestRevision"] = json!("yes");
        let errs = validate(&ksvc_schema(), &mut o, false);
        assert_eq!(errs.len(), 2, "{errs:?}");
        let e = &errs[0];
        assert_eq!(e.field, "spec.template.spec.containerConcurrency");
        assert_eq!(e.kind, SchemaErrorKind::Invalid);
        assert_eq!(
            e.message,
            "Invalid value: \"string\": spec.template.spec.containerConcurrency in body must be of type integer: \"string\""
        );
        assert_eq!(
            e.to_string(),
            "spec.template.spec.containerConcurrency: Invalid value: \"string\": spec.template.spec.containerConcurrency in body must be of type integer: \"string\""
        );
        assert_eq!(errs[1].field, "spec.traffic[0].latestRevision");
        assert!(errs[1]
            .message
            .ends_with("must be of type boolean: \"string\""));
    }

    #[test]
    fn integer_and_number() {
        let s = json!({"type": "object", "properties": {
            "i": {"type": "integer"}, "n": {"type": "number"}}});
        assert!(validate(&s, &mut json!({"i": 3, "n": 3}), true).is_empty());
        assert!(validate(&s, &mut json!({"i": 3.0, "n": 3.5}), true).is_empty());
        let errs = validate(&s, &mut json!({"i": 3.5}), true);
        assert_eq!(
            errs[0].message,
            "Invalid value: \"number\": i in body must be of type integer: \"number\""
        );
        let errs = validate(&s, &mut json!({"n": "1"}), true);
        assert_eq!(
            errs[0].message,
            "Invalid value: \"string\": n in body must be of type number: \"string\""
        );
    }

    #[test]
    fn required_enum_bounds() {
        let mut o = ksvc();
        o["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("image");
        o["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("HTTP");
        o["spec"]["traffic"][0]["percent"] = json!(120);
        o["spec"]["traffic"][0]["tag"] = json!("Bad_Tag");
        o["spec"]["template"]["spec"]["containers"][0]["name"] = json!("x".repeat(64));
        let errs = validate(&ksvc_schema(), &mut o, false);
        let by_field = |f: &str| {
            errs.iter()
                .find(|e| e.field == f)
                .unwrap_or_else(|| panic!("{f}: {errs:?}"))
        };
        let e = by_field("spec.template.spec.containers[0].image");
        assert_eq!(
            (e.kind.clone(), e.message.as_str()),
            (SchemaErrorKind::Required, "Required value")
        );
        let e = by_field("spec.template.spec.containers[0].ports[0].protocol");
        assert_eq!(e.kind, SchemaErrorKind::NotSupported);
        assert_eq!(
            e.message,
            "Unsupported value: \"HTTP\": supported values: \"TCP\", \"UDP\", \"SCTP\""
        );
        let e = by_field("spec.traffic[0].percent");
        assert_eq!(e.message, "Invalid value: 120: spec.traffic[0].percent in body should be less than or equal to 100");
        let e = by_field("spec.traffic[0].tag");
        assert_eq!(
            e.message,
            "Invalid value: \"Bad_Tag\": spec.traffic[0].tag in body should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"
        );
        let e = by_field("spec.template.spec.containers[0].name");
        assert_eq!(
            (e.kind.clone(), e.message.as_str()),
            (
                SchemaErrorKind::TooLong,
                "Too long: may not be longer than 63"
            )
        );
        assert_eq!(errs.len(), 5, "{errs:?}");
    }

    #[test]
    fn nulls() {
        let s = json!({"type": "object", "required": ["a"], "properties": {
            "a": {"type": "string"},
            "b": {"type": "string", "nullable": true},
            "c": {"type": "array", "items": {"type": "string"}}}});
        let mut o = json!({"a": null, "b": null, "c": ["x", null]});
        let errs = validate(&s, &mut o, true);
        assert_eq!(o, json!({"b": null, "c": ["x", null]}));
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(
            (errs[0].field.as_str(), errs[0].kind.clone()),
            ("a", SchemaErrorKind::Required)
        );
        assert_eq!(errs[1].field, "c[1]");
        assert_eq!(
            errs[1].message,
            "Invalid value: \"null\": c[1] in body must be of type string: \"null\""
        );
    }

    #[test]
    fn int_or_string() {
        let s =
            json!({"type": "object", "properties": {"p": {"x-kubernetes-int-or-string": true}}});
        assert!(validate(&s, &mut json!({"p": 80}), true).is_empty());
        assert!(validate(&s, &mut json!({"p": "http"}), true).is_empty());
        let errs = validate(&s, &mut json!({"p": true}), true);
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].message,
            "Invalid value: \"boolean\": p in body must be of type integer,string: \"boolean\""
        );
    }

    #[test]
    fn items_and_properties_counts() {
        let s = json!({"type": "object", "properties": {
            "l": {"type": "array", "minItems": 2, "maxItems": 3, "uniqueItems": true, "items": {"type": "integer"}},
            "m": {"type": "object", "minProperties": 1, "maxProperties": 2, "additionalProperties": {"type": "string"}}}});
        let errs = validate(&s, &mut json!({"l": [1], "m": {}}), true);
        assert_eq!(
            errs[0].message,
            "Invalid value: 1: l in body should have at least 2 items"
        );
        assert_eq!(
            errs[1].message,
            "Invalid value: 1: m in body should have at least 1 properties"
        );
        let errs = validate(
            &s,
            &mut json!({"l": [1, 2, 2, 3], "m": {"a": "1", "b": "2", "c": 3}}),
            true,
        );
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "l: Too many: 4: must have at most 3 items",
                "l: Invalid value: \"\": l in body shouldn't contain duplicates",
                "m: Too many: 3: must have at most 2 items",
                "m.c: Invalid value: \"integer\": m.c in body must be of type string: \"integer\"",
            ]
        );
    }

    #[test]
    fn additional_properties_schema_prunes_inside() {
        let s = json!({"type": "object", "properties": {
            "m": {"type": "object", "additionalProperties": {"type": "object", "properties": {"x": {"type": "string"}}}}}});
        let mut o = json!({"m": {"a": {"x": "1", "y": 2}}});
        assert!(validate(&s, &mut o, false).is_empty());
        assert_eq!(o, json!({"m": {"a": {"x": "1"}}}));
        let errs = validate(&s, &mut json!({"m": {"a": {"y": 2}}}), true);
        assert_eq!(errs[0].field, "m.a.y");
        // `type: object` without properties keeps nothing.
        let s = json!({"type": "object", "properties": {"o": {"type": "object"}}});
        let mut o = json!({"o": {"a": 1}});
        assert!(validate(&s, &mut o, false).is_empty());
        assert_eq!(o, json!({"o": {}}));
    }

    #[test]
    fn embedded_resource() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "template": {"type": "object", "x-kubernetes-embedded-resource": true, "properties": {
                "spec": {"type": "object", "properties": {"x": {"type": "string"}}}}}}}}});
        let mut o = json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": "1", "y": 1}, "other": 1}}});
        assert!(validate(&s, &mut o, false).is_empty());
        assert_eq!(
            o,
            json!({"spec": {"template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": "1"}}}})
        );
    }

    #[test]
    fn preserve_unknown_still_validates_declared() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-preserve-unknown-fields": true,
            "properties": {"n": {"type": "integer"}, "o": {"type": "object", "properties": {"k": {"type": "string"}}}}}}});
        let mut o = json!({"spec": {"free": {"a": 1}, "n": 1, "o": {"k": "v", "drop": 1}}});
        assert!(validate(&s, &mut o, false).is_empty());
        assert_eq!(
            o,
            json!({"spec": {"free": {"a": 1}, "n": 1, "o": {"k": "v"}}})
        );
        let errs = validate(&s, &mut json!({"spec": {"n": "x"}}), true);
        assert_eq!(errs.len(), 1);
    }

    #[test]
    fn combinators() {
        let s = json!({"type": "object", "properties": {"v": {
            "type": "object",
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
            "oneOf": [{"required": ["a"]}, {"required": ["b"]}],
            "not": {"required": ["c"]}
        }}});
        assert!(validate(&s, &mut json!({"v": {"a": "1"}}), true).is_empty());
        let errs = validate(&s, &mut json!({"v": {"a": "1", "b": "2"}}), true);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0]
            .message
            .contains("v must validate one and only one schema (oneOf)"));
        let errs = validate(&s, &mut json!({"v": {}}), true);
        assert!(errs
            .iter()
            .any(|e| e.field == "v.a" && e.kind == SchemaErrorKind::Required));
        assert!(errs
            .iter()
            .any(|e| e.message.contains("(oneOf). Found none valid")));

        let s = json!({"type": "object", "properties": {"q": {
            "x-kubernetes-int-or-string": true,
            "anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+m$"}]}}});
        assert!(validate(&s, &mut json!({"q": 5}), true).is_empty());
        assert!(validate(&s, &mut json!({"q": "500m"}), true).is_empty());
        let errs = validate(&s, &mut json!({"q": "abc"}), true);
        assert!(
            errs.iter().any(|e| e
                .message
                .ends_with("q must validate at least one schema (anyOf)")),
            "{errs:?}"
        );

        let s = json!({"type": "object", "properties": {"n": {"type": "integer",
            "allOf": [{"minimum": 1}, {"maximum": 5}]}}});
        assert!(validate(&s, &mut json!({"n": 3}), true).is_empty());
        let errs = validate(&s, &mut json!({"n": 9}), true);
        assert!(errs
            .iter()
            .any(|e| e.message.contains("must validate all the schemas (allOf)")));
        assert!(errs
            .iter()
            .any(|e| e.message.contains("should be less than or equal to 5")));
    }

    #[test]
    fn list_types() {
        let s = json!({"type": "object", "properties": {
            "set": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "map": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name", "port"],
                    "items": {"type": "object", "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}}}}});
        assert!(validate(&s, &mut json!({"set": ["a", "b"], "map": [{"name": "a", "port": 1}, {"name": "a", "port": 2}]}), true).is_empty());
        let errs = validate(
            &s,
            &mut json!({"set": ["a", "b", "a"], "map": [{"name": "a", "port": 1}, {"name": "a", "port": 1}]}),
            true,
        );
        let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            vec![
                "map[1]: Duplicate value: map[string]interface {}{\"name\":\"a\", \"port\":1}",
                "set[2]: Duplicate value: \"a\"",
            ]
        );
    }

    #[test]
    fn formats() {
        let s = json!({"type": "object", "properties": {
            "t": {"type": "string", "format": "date-time"},
            "i": {"type": "integer", "format": "int32"}}});
        assert!(validate(&s, &mut json!({"t": "2024-01-01T00:00:00Z", "i": 5}), true).is_empty());
        assert!(validate(&s, &mut json!({"t": "2024-01-01T00:00:00.123+02:00"}), true).is_empty());
        let errs = validate(
            &s,
            &mut json!({"t": "yesterday", "i": 4_000_000_000u64}),
            true,
        );
        let msgs: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            msgs,
            vec![
                "Invalid value: 4000000000: i in body must be of type int32",
                "Invalid value: \"yesterday\": t in body must be of type date-time: \"yesterday\"",
            ]
        );
    }

    #[test]
    fn root_meta_is_not_checked() {
        let s = json!({"type": "object", "required": ["spec"], "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "metadata": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 3}}},
            "spec": {"type": "object"}}});
        let mut o = json!({"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "long-name", "labels": {"a": "b"}}});
        let errs = validate(&s, &mut o, true);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].to_string(), "spec: Required value");
        assert_eq!(o["metadata"]["labels"]["a"], json!("b"));
    }

    #[test]
    fn defaults() {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "replicas": {"type": "integer", "default": 1},
            "mode": {"type": "string", "default": "fast"},
            "items": {"type": "array", "items": {"type": "object", "properties": {"w": {"type": "integer", "default": 5}}}}}}}});
        let mut o = json!({"spec": {"mode": null, "items": [{}, {"w": 2}]}});
        apply_defaults(&s, &mut o);
        assert_eq!(
            o,
            json!({"spec": {"replicas": 1, "mode": "fast", "items": [{"w": 5}, {"w": 2}]}})
        );
    }

    #[test]
    fn go_number_formatting() {
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(10.0), "10");
        assert_eq!(go_float(1e6), "1e+06");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(123456.0), "123456");
    }

    mod derived {
        use super::*;
        use k8s_openapi::api::core::v1::Container;
        use kube::{CustomResource, CustomResourceExt};
        use schemars::JsonSchema;
        use serde::{Deserialize, Serialize};
        use std::collections::BTreeMap;

        #[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub enum Mode {
            Fast,
            Slow,
        }

        #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, JsonSchema)]
        #[kube(
            group = "skiff.dev",
            version = "v1alpha1",
            kind = "Countdown",
            namespaced
        )]
        #[kube(status = "CountdownStatus")]
        #[serde(rename_all = "camelCase")]
        pub struct CountdownSpec {
            pub seconds: i32,
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub message: Option<String>,
            #[serde(default)]
            pub labels: BTreeMap<String, String>,
            pub mode: Mode,
            #[serde(default)]
            pub containers: Vec<Container>,
        }

        #[derive(Serialize, Deserialize, Clone, Debug, Default, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct CountdownStatus {
            pub remaining: Option<i64>,
            pub done: bool,
        }

        fn schema() -> Value {
            let crd = Countdown::crd();
            let v = crd.spec.versions[0]
                .schema
                .clone()
                .unwrap()
                .open_api_v3_schema
                .unwrap();
            serde_json::to_value(v).unwrap()
        }

        #[test]
        fn derived_schema_accepts_ordinary_manifests() {
            let s = schema();
            let mut o = json!({
                "apiVersion": "skiff.dev/v1alpha1",
                "kind": "Countdown",
                "metadata": {"name": "c", "namespace": "default", "labels": {"a": "b"}, "creationTimestamp": null},
                "spec": {
                    "seconds": 42,
                    "mode": "fast",
                    "labels": {"x": "y"},
                    "containers": [{
                        "name": "app",
                        "image": "nginx:1.27",
                        "command": ["sh", "-c", "sleep 1"],
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
                        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 1}},
                        "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 5},
                        "livenessProbe": {"tcpSocket": {"port": "http"}},
                        "securityContext": {"runAsNonRoot": true, "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "v", "mountPath": "/data"}]
                    }]
                },
                "status": {"remaining": 3, "done": false}
            });
            let before = o.clone();
            let errs = validate(&s, &mut o, true);
            assert!(errs.is_empty(), "{errs:#?}");
            assert_eq!(o, before);

            // A typed object round-trips without errors too.
            let typed = Countdown::new(
                "d",
                CountdownSpec {
                    seconds: 1,
                    message: Some("hi".into()),
                    labels: BTreeMap::new(),
                    mode: Mode::Slow,
                    containers: vec![Container {
                        name: "c".into(),
                        image: Some("busybox".into()),
                        ..Default::default()
                    }],
                },
            );
            let mut v = serde_json::to_value(&typed).unwrap();
            let errs = validate(&s, &mut v, true);
            assert!(errs.is_empty(), "{errs:#?}");
        }

        #[test]
        fn derived_schema_rejects_bad_values() {
            let s = schema();
            let mut o = json!({
                "apiVersion": "skiff.dev/v1alpha1", "kind": "Countdown", "metadata": {"name": "c"},
                "spec": {"seconds": "ten", "mode": "medium", "extra": 1,
                         "containers": [{"name": "a", "ports": [{"containerPort": "x"}]}]}
            });
            let errs = validate(&s, &mut o, true);
            let fields: Vec<(&str, SchemaErrorKind)> = errs
                .iter()
                .map(|e| (e.field.as_str(), e.kind.clone()))
                .collect();
            assert!(
                fields.contains(&("spec.extra", SchemaErrorKind::UnknownField)),
                "{errs:#?}"
            );
            assert!(
                fields.contains(&("spec.seconds", SchemaErrorKind::Invalid)),
                "{errs:#?}"
            );
            assert!(
                fields.contains(&("spec.mode", SchemaErrorKind::NotSupported)),
                "{errs:#?}"
            );
            assert!(
                fields.contains(&(
                    "spec.containers[0].ports[0].containerPort",
                    SchemaErrorKind::Invalid
                )),
                "{errs:#?}"
            );
            let mut o2 = o.clone();
            o2["spec"] = json!({"mode": "fast"});
            let errs = validate(&s, &mut o2, false);
            assert_eq!(
                errs.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
                vec!["spec.seconds: Required value"]
            );
        }
    }
}
