//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`)
//! for the core kinds. kubectl's typed commands (`kubectl create namespace|configmap|
//! secret|serviceaccount`) send built-in kinds this way and kube-apiserver accepts it, so
//! we decode them into the JSON form the rest of the server works with. Responses stay
//! JSON (clients list it in `Accept` as the fallback). Custom resources have no protobuf
//! form, as in Kubernetes: those bodies get 415.
//!
//! The encoding: the magic `k8s\0`, then a `runtime.Unknown` message whose `raw` field
//! holds the object in the field numbering of the `generated.proto` files of
//! k8s.io/api and k8s.io/apimachinery.

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

/// meta/v1 Time (and MicroTime): seconds = 1, nanos = 2.
fn time(w: Wire<'_>) -> Result<Value, DecodeError> {
    let mut secs = 0i64;
    each_field(message(w)?, |n, w| {
        if let (1, Wire::Varint(v)) = (n, w) {
            secs = v as i64;
        }
        Ok(())
    })?;
    // Go's zero time (0001-01-01, encoded for unset non-pointer times) means "unset".
    if secs == 0 || secs == -62_135_596_800 {
        return Ok(json!(""));
    }
    let t = jiff::Timestamp::from_second(secs).map_err(|_| malformed("time out of range"))?;
    Ok(json!(crate::clock::k8s_time(t)))
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
        10 => ("eventTime", time(w)?),
        12 => ("action", string(w)?),
        13 => ("related", decode_with(w, object_reference)?),
        14 => ("reportingComponent", string(w)?),
        15 => ("reportingInstance", string(w)?),
        _ => return Ok(()),
    };
    set(m, key, v);
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
