//! Printer-column JSONPath (kubectl / CRD `additionalPrinterColumns` syntax)
//! and the cell rendering of kube-apiserver's CRD table convertor.
//!
//! Kubernetes' JSONPath dialect (`.status.conditions[?(@.type=='Ready')].status`,
//! `.metadata.labels['serving\.knative\.dev/configuration']`,
//! `{.status.url}`) is translated once into RFC 9535 syntax and evaluated with
//! `serde_json_path`: every dotted member name becomes a bracketed
//! `['name']` selector (so names with `-`, `/` or escaped dots work) and
//! kubectl's `\.` escapes inside quoted names are dropped.

use serde_json::Value;
use serde_json_path::JsonPath;
use std::time::Duration;

/// A parsed printer-column path. Parse once, evaluate many times.
#[derive(Debug, Clone)]
pub struct PrinterPath {
    source: String,
    path: JsonPath,
}

impl PrinterPath {
    /// Parses a kubectl-style JSONPath (with or without surrounding `{}`).
    pub fn parse(path: &str) -> Result<Self, String> {
        let rfc = to_rfc9535(path)?;
        let parsed =
            JsonPath::parse(&rfc).map_err(|e| format!("invalid JSONPath {path:?}: {e}"))?;
        Ok(PrinterPath {
            source: path.to_string(),
            path: parsed,
        })
    }

    /// The path as written by the user.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// All values the path selects in `obj`, in document order (empty if none).
    pub fn eval<'a>(&self, obj: &'a Value) -> Vec<&'a Value> {
        self.path.query(obj).all()
    }
}

fn is_name_stop(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '.' | '['
                | ']'
                | '('
                | ')'
                | '='
                | '!'
                | '<'
                | '>'
                | ','
                | '&'
                | '|'
                | '\''
                | '"'
                | '*'
                | '?'
                | '@'
                | '$'
        )
}

/// Emits `['name']` with RFC 9535 single-quoted string escaping.
fn push_bracket_name(out: &mut String, name: &str) {
    out.push_str("['");
    for c in name.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push_str("']");
}

/// Translates a kubectl JSONPath into RFC 9535 syntax.
fn to_rfc9535(path: &str) -> Result<String, String> {
    let mut p = path.trim();
    if p.is_empty() {
        return Err("JSONPath must not be empty".to_string());
    }
    if let Some(inner) = p.strip_prefix('{') {
        p = inner
            .strip_suffix('}')
            .ok_or_else(|| format!("invalid JSONPath {path:?}: unclosed action"))?
            .trim();
    }
    let mut out = String::from("$");
    let body = p.strip_prefix('$').unwrap_or(p);
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    // A bare leading name (`status.url`) is treated like `.status.url`.
    let mut expect_name = !chars.is_empty() && !matches!(chars[0], '.' | '[');
    while i < chars.len() || expect_name {
        if expect_name {
            expect_name = false;
            if i < chars.len() && !is_name_stop(chars[i]) {
                let mut name = String::new();
                while i < chars.len() && !is_name_stop(chars[i]) {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        name.push(chars[i + 1]);
                        i += 2;
                    } else {
                        name.push(chars[i]);
                        i += 1;
                    }
                }
                push_bracket_name(&mut out, &name);
            }
            continue;
        }
        let c = chars[i];
        match c {
            '\'' | '"' => {
                // Quoted string: copy, dropping kubectl-only escapes like `\.`.
                let quote = c;
                out.push(quote);
                i += 1;
                let mut closed = false;
                while i < chars.len() {
                    let ch = chars[i];
                    if ch == '\\' && i + 1 < chars.len() {
                        let n = chars[i + 1];
                        match n {
                            'b' | 'f' | 'n' | 'r' | 't' | 'u' | '/' | '\\' => {
                                out.push('\\');
                                out.push(n);
                            }
                            n if n == quote => {
                                out.push('\\');
                                out.push(n);
                            }
                            n => out.push(n),
                        }
                        i += 2;
                        continue;
                    }
                    out.push(ch);
                    i += 1;
                    if ch == quote {
                        closed = true;
                        break;
                    }
                }
                if !closed {
                    return Err(format!(
                        "invalid JSONPath {path:?}: unterminated quoted string"
                    ));
                }
            }
            '.' => {
                if i + 1 < chars.len() && chars[i + 1] == '.' {
                    out.push_str("..");
                    i += 2;
                    if i < chars.len() && chars[i] == '*' {
                        out.push('*');
                        i += 1;
                    } else if i < chars.len() && chars[i] != '[' {
                        expect_name = true;
                    }
                } else {
                    i += 1;
                    if i < chars.len() && chars[i] == '*' {
                        out.push_str(".*");
                        i += 1;
                    } else if i < chars.len() && chars[i] == '[' {
                        // `.[0]` → `[0]`
                    } else {
                        expect_name = i < chars.len();
                    }
                }
            }
            c if c.is_ascii_digit() => {
                // A number literal (index, slice bound, filter operand): keep
                // its fraction/exponent so `1.5` is not read as member `5`.
                while i < chars.len() && chars[i].is_ascii_digit() {
                    out.push(chars[i]);
                    i += 1;
                }
                if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
                    out.push('.');
                    i += 1;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        out.push(chars[i]);
                        i += 1;
                    }
                }
                if i < chars.len() && matches!(chars[i], 'e' | 'E') {
                    out.push(chars[i]);
                    i += 1;
                    if i < chars.len() && matches!(chars[i], '+' | '-') {
                        out.push(chars[i]);
                        i += 1;
                    }
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        out.push(chars[i]);
                        i += 1;
                    }
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Text of one value as kubectl's JSONPath printer renders it: strings
/// verbatim, objects/arrays as compact JSON, scalars via their JSON text.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".to_string(),
        other => other.to_string(),
    }
}

/// Renders one table cell as kube-apiserver's CRD table convertor does for
/// a column `type` (`string`, `integer`, `number`, `boolean`, `date`).
///
/// - no match → JSON `null`;
/// - `string` → the value's text; several matches are joined by `","`
///   (kube-apiserver itself shows only the first match);
/// - `integer` / `number` / `boolean` → the first match if it has a fitting
///   JSON type (floats are truncated for `integer`), else `null`;
/// - `date` → an RFC 3339 string rendered as age against `now`
///   (`"<invalid>"` if unparsable, `"<unknown>"` if empty/zero).
pub fn cell_value(values: &[&Value], column_type: &str, now: jiff::Timestamp) -> Value {
    let Some(first) = values.first().copied() else {
        return Value::Null;
    };
    if column_type == "string" {
        if values.len() == 1 {
            return match first {
                Value::Null => Value::Null,
                v => Value::String(value_text(v)),
            };
        }
        let parts: Vec<String> = values.iter().map(|v| value_text(v)).collect();
        return Value::String(parts.join(","));
    }
    if first.is_null() {
        return Value::Null;
    }
    match column_type {
        "integer" => {
            if let Some(i) = first.as_i64() {
                Value::from(i)
            } else if let Some(f) = first.as_f64() {
                Value::from(f as i64)
            } else {
                Value::Null
            }
        }
        "number" => first.as_f64().map(Value::from).unwrap_or(Value::Null),
        "boolean" => first.as_bool().map(Value::Bool).unwrap_or(Value::Null),
        "date" => match first.as_str() {
            Some(s) => Value::String(date_age(s, now)),
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

/// `metav1.Time.UnmarshalQueryParameter` + `ConvertToHumanReadableDateType`.
fn date_age(s: &str, now: jiff::Timestamp) -> String {
    if s.is_empty() || s == "null" {
        return "<unknown>".to_string();
    }
    let Ok(ts) = s.parse::<jiff::Timestamp>() else {
        return "<invalid>".to_string();
    };
    // Go's zero time (0001-01-01T00:00:00Z) means "unset".
    if ts.as_second() == -62135596800 && ts.subsec_nanosecond() == 0 {
        return "<unknown>".to_string();
    }
    let nanos = now.as_nanosecond() - ts.as_nanosecond();
    human_duration_nanos(nanos)
}

/// kube's `duration.HumanDuration` (e.g. 90s → "90s", 3m → "3m", 90m →
/// "90m", 3h → "3h", 50h → "2d2h"), used for AGE columns.
pub fn human_duration(d: Duration) -> String {
    human_duration_nanos(d.as_nanos() as i128)
}

/// `HumanDuration` over a signed nanosecond count (future timestamps give
/// `"0s"` within 2s of skew, `"<invalid>"` beyond).
pub fn human_duration_nanos(nanos: i128) -> String {
    const S: i128 = 1_000_000_000;
    let seconds = nanos / S; // truncates toward zero, like Go's int(d.Seconds())
    if seconds < -1 {
        return "<invalid>".to_string();
    } else if seconds < 0 {
        return "0s".to_string();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = nanos / (60 * S);
    if minutes < 10 {
        let s = seconds % 60;
        if s == 0 {
            return format!("{minutes}m");
        }
        return format!("{minutes}m{s}s");
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = nanos / (3600 * S);
    if hours < 8 {
        let m = minutes % 60;
        if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        }
    } else if hours < 48 {
        format!("{hours}h")
    } else if hours < 24 * 8 {
        let h = hours % 24;
        if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{}h", hours / 24, h)
        }
    } else if hours < 24 * 365 * 2 {
        format!("{}d", hours / 24)
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{}d", hours / 24 / 365, dy)
        }
    } else {
        format!("{}y", hours / 24 / 365)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ksvc() -> Value {
        json!({
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "metadata": {
                "name": "hello",
                "namespace": "default",
                "creationTimestamp": "2024-01-01T00:00:00Z",
                "labels": {
                    "serving.knative.dev/configuration": "hello",
                    "serving.knative.dev/configurationGeneration": "3",
                    "app-name": "x"
                }
            },
            "spec": {"replicas": 3, "template": {"spec": {"containers": [{"image": "a"}, {"image": "b"}]}}},
            "status": {
                "url": "http://hello.default.example.com",
                "latestCreatedRevisionName": "hello-00003",
                "latestReadyRevisionName": "hello-00002",
                "conditions": [
                    {"type": "ConfigurationsReady", "status": "True"},
                    {"type": "Ready", "status": "Unknown", "reason": "RevisionMissing"},
                    {"type": "RoutesReady", "status": "True"}
                ]
            }
        })
    }

    fn eval1(path: &str, obj: &Value) -> Option<Value> {
        let p = PrinterPath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let v = p.eval(obj);
        assert!(v.len() <= 1, "{path}: {v:?}");
        v.first().map(|v| (*v).clone())
    }

    #[test]
    fn translation() {
        assert_eq!(
            to_rfc9535(".spec.replicas").unwrap(),
            "$['spec']['replicas']"
        );
        assert_eq!(to_rfc9535("{.status.url}").unwrap(), "$['status']['url']");
        assert_eq!(
            to_rfc9535(".metadata.labels['serving\\.knative\\.dev/configuration']").unwrap(),
            "$['metadata']['labels']['serving.knative.dev/configuration']"
        );
        assert_eq!(
            to_rfc9535(".status.conditions[?(@.type=='Ready')].status").unwrap(),
            "$['status']['conditions'][?(@['type']=='Ready')]['status']"
        );
        assert_eq!(to_rfc9535("{.}").unwrap(), "$");
        assert_eq!(to_rfc9535("..image").unwrap(), "$..['image']");
        assert_eq!(
            to_rfc9535(".items[*].metadata.name").unwrap(),
            "$['items'][*]['metadata']['name']"
        );
        assert_eq!(
            to_rfc9535(".a[?(@.w > 1.5)].b").unwrap(),
            "$['a'][?(@['w'] > 1.5)]['b']"
        );
        assert_eq!(to_rfc9535(".a[0:2]").unwrap(), "$['a'][0:2]");
        assert_eq!(to_rfc9535(".a[-1]").unwrap(), "$['a'][-1]");
    }

    #[test]
    fn knative_columns() {
        let o = ksvc();
        assert_eq!(
            eval1(".status.url", &o),
            Some(json!("http://hello.default.example.com"))
        );
        assert_eq!(
            eval1(".status.latestCreatedRevisionName", &o),
            Some(json!("hello-00003"))
        );
        assert_eq!(
            eval1(".status.latestReadyRevisionName", &o),
            Some(json!("hello-00002"))
        );
        assert_eq!(
            eval1(".status.conditions[?(@.type=='Ready')].status", &o),
            Some(json!("Unknown"))
        );
        assert_eq!(
            eval1(".status.conditions[?(@.type=='Ready')].reason", &o),
            Some(json!("RevisionMissing"))
        );
        assert_eq!(
            eval1(
                ".metadata.labels['serving\\.knative\\.dev/configuration']",
                &o
            ),
            Some(json!("hello"))
        );
        assert_eq!(
            eval1(
                ".metadata.labels['serving\\.knative\\.dev/configurationGeneration']",
                &o
            ),
            Some(json!("3"))
        );
        assert_eq!(
            eval1(".metadata.labels.serving\\.knative\\.dev/configuration", &o),
            Some(json!("hello"))
        );
        assert_eq!(eval1(".metadata.labels.app-name", &o), Some(json!("x")));
        assert_eq!(eval1(".spec.replicas", &o), Some(json!(3)));
        assert_eq!(
            eval1("{.status.url}", &o),
            Some(json!("http://hello.default.example.com"))
        );
        assert_eq!(eval1(".status.missing", &o), None);
        assert_eq!(
            eval1(".status.conditions[?(@.type=='Nope')].status", &o),
            None
        );
        let p = PrinterPath::parse(".spec.template.spec.containers[*].image").unwrap();
        let v = p.eval(&o);
        assert_eq!(v, vec![&json!("a"), &json!("b")]);
        let now: jiff::Timestamp = "2024-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(cell_value(&v, "string", now), json!("a,b"));
        let w = json!({"t": [{"w": 1, "n": "a"}, {"w": 2.5, "n": "b"}]});
        let p = PrinterPath::parse(".t[?(@.w > 1.5)].n").unwrap();
        assert_eq!(p.eval(&w), vec![&json!("b")]);
    }

    #[test]
    fn tekton_columns() {
        let tr = json!({
            "apiVersion": "tekton.dev/v1",
            "kind": "TaskRun",
            "metadata": {"name": "build-1"},
            "status": {
                "startTime": "2024-05-01T10:00:00Z",
                "completionTime": "2024-05-01T10:03:30Z",
                "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]
            }
        });
        let now: jiff::Timestamp = "2024-05-01T13:12:00Z".parse().unwrap();
        let p = PrinterPath::parse(r#".status.conditions[?(@.type=="Succeeded")].status"#).unwrap();
        assert_eq!(cell_value(&p.eval(&tr), "string", now), json!("True"));
        let p = PrinterPath::parse(".status.startTime").unwrap();
        assert_eq!(cell_value(&p.eval(&tr), "date", now), json!("3h12m"));
        let p = PrinterPath::parse(".status.completionTime").unwrap();
        assert_eq!(cell_value(&p.eval(&tr), "date", now), json!("3h8m"));
        let p = PrinterPath::parse(".status.nothing").unwrap();
        assert_eq!(cell_value(&p.eval(&tr), "date", now), Value::Null);
    }

    #[test]
    fn countdown_column() {
        let cd = json!({"apiVersion": "example.com/v1", "kind": "Countdown", "metadata": {"name": "c"}, "spec": {"seconds": 42}});
        let now = jiff::Timestamp::UNIX_EPOCH;
        let p = PrinterPath::parse(".spec.seconds").unwrap();
        assert_eq!(cell_value(&p.eval(&cd), "integer", now), json!(42));
        assert_eq!(cell_value(&p.eval(&cd), "number", now), json!(42.0));
        assert_eq!(cell_value(&p.eval(&cd), "string", now), json!("42"));
        assert_eq!(cell_value(&p.eval(&cd), "boolean", now), Value::Null);
    }

    #[test]
    fn cells() {
        let now: jiff::Timestamp = "2024-01-10T00:00:00Z".parse().unwrap();
        assert_eq!(cell_value(&[], "string", now), Value::Null);
        assert_eq!(cell_value(&[&json!(2.9)], "integer", now), json!(2));
        assert_eq!(cell_value(&[&json!("3")], "integer", now), Value::Null);
        assert_eq!(cell_value(&[&json!(true)], "boolean", now), json!(true));
        assert_eq!(cell_value(&[&json!(true)], "string", now), json!("true"));
        assert_eq!(
            cell_value(&[&json!({"a": 1})], "string", now),
            json!("{\"a\":1}")
        );
        assert_eq!(cell_value(&[&json!("x")], "date", now), json!("<invalid>"));
        assert_eq!(cell_value(&[&json!("")], "date", now), json!("<unknown>"));
        assert_eq!(
            cell_value(&[&json!("2024-01-08T00:00:00Z")], "date", now),
            json!("2d")
        );
        assert_eq!(
            cell_value(&[&json!("2024-01-10T00:00:30Z")], "date", now),
            json!("<invalid>")
        );
        assert_eq!(
            cell_value(&[&json!("2024-01-10T00:00:01.5Z")], "date", now),
            json!("0s")
        );
    }

    #[test]
    fn human_durations() {
        let h = |s: u64| human_duration(Duration::from_secs(s));
        assert_eq!(h(0), "0s");
        assert_eq!(h(90), "90s");
        assert_eq!(h(119), "119s");
        assert_eq!(h(120), "2m");
        assert_eq!(h(3 * 60), "3m");
        assert_eq!(h(3 * 60 + 5), "3m5s");
        assert_eq!(h(90 * 60), "90m");
        assert_eq!(h(3 * 3600), "3h");
        assert_eq!(h(3 * 3600 + 12 * 60 + 7), "3h12m");
        assert_eq!(h(10 * 3600), "10h");
        assert_eq!(h(50 * 3600), "2d2h");
        assert_eq!(h(48 * 3600), "2d");
        assert_eq!(h(30 * 86400), "30d");
        assert_eq!(h(3 * 365 * 86400), "3y");
        assert_eq!(h(3 * 365 * 86400 + 10 * 86400), "3y10d");
        assert_eq!(h(10 * 365 * 86400), "10y");
    }

    #[test]
    fn bad_paths() {
        assert!(PrinterPath::parse("").is_err());
        assert!(PrinterPath::parse(".a[").is_err());
        assert!(PrinterPath::parse(".a['x").is_err());
        assert!(PrinterPath::parse("{.a").is_err());
    }
}
