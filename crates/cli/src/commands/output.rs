//! Rendering: server `Table` responses as kubectl-style aligned text, objects as
//! YAML/JSON, and durations as kubectl ages (`5s`, `3m2s`, `4d`).

use serde_json::Value;

/// Output format selected with `-o`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The object(s) as YAML.
    Yaml,
    /// The object(s) as JSON.
    Json,
    /// The table including priority > 0 columns.
    Wide,
    /// `kind.group/name` per object.
    Name,
}

/// Which of a Table's columns to show, and how a row's cells become strings.
#[derive(Clone, Debug)]
pub struct TableLayout {
    /// Indices into `columnDefinitions`/`cells` that are shown.
    pub columns: Vec<usize>,
    /// Uppercase headers, with NAMESPACE first when listing all namespaces.
    pub headers: Vec<String>,
    /// Whether a NAMESPACE column (from each row's object metadata) comes first.
    pub with_namespace: bool,
    /// Prefix for the NAME cell (`service.serving.knative.dev/`) when several kinds are shown.
    pub name_prefix: String,
}

impl TableLayout {
    /// The layout for a Table: priority-0 columns (all with `wide`).
    pub fn new(
        table: &Value,
        wide: bool,
        with_namespace: bool,
        name_prefix: String,
    ) -> TableLayout {
        let defs = table
            .get("columnDefinitions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut columns = Vec::new();
        let mut headers = Vec::new();
        if with_namespace {
            headers.push("NAMESPACE".to_string());
        }
        for (i, d) in defs.iter().enumerate() {
            if wide || d.get("priority").and_then(Value::as_i64).unwrap_or(0) == 0 {
                columns.push(i);
                headers.push(
                    d.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_uppercase(),
                );
            }
        }
        TableLayout {
            columns,
            headers,
            with_namespace,
            name_prefix,
        }
    }

    /// A row's cells as strings, in header order.
    pub fn row_cells(&self, row: &Value) -> Vec<String> {
        let cells = row
            .get("cells")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut out = Vec::new();
        if self.with_namespace {
            out.push(
                row.pointer("/object/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            );
        }
        for (n, &i) in self.columns.iter().enumerate() {
            let mut s = cells.get(i).map(cell_text).unwrap_or_default();
            if n == 0 && i == 0 {
                s = format!("{}{s}", self.name_prefix);
            }
            out.push(s);
        }
        out
    }
}

/// A Table cell as kubectl prints it: nothing for null, strings cut at the first
/// line break (with `...`).
pub fn cell_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => match s.find(['\n', '\r', '\x0c']) {
            Some(i) => format!("{}...", &s[..i]),
            None => s.clone(),
        },
        Value::Array(a) => a.iter().map(cell_text).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// Column widths for `lines` (each a list of cells).
pub fn widths(lines: &[Vec<String>]) -> Vec<usize> {
    let mut w = Vec::new();
    for line in lines {
        for (i, c) in line.iter().enumerate() {
            if w.len() <= i {
                w.push(0);
            }
            w[i] = w[i].max(c.chars().count());
        }
    }
    w
}

/// One aligned line: cells padded to `widths` and separated by 3 spaces, no
/// trailing padding.
pub fn format_line(cells: &[String], widths: &[usize]) -> String {
    let mut s = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i + 1 == cells.len() {
            s.push_str(c);
        } else {
            let w = widths.get(i).copied().unwrap_or(0);
            s.push_str(c);
            s.push_str(&" ".repeat(w.saturating_sub(c.chars().count()) + 3));
        }
    }
    s.trim_end().to_string()
}

/// Renders header + rows, aligned.
pub fn render_table(headers: &[String], rows: &[Vec<String>], show_headers: bool) -> String {
    let mut all: Vec<Vec<String>> = Vec::new();
    if show_headers {
        all.push(headers.to_vec());
    }
    all.extend(rows.iter().cloned());
    let w = widths(&all);
    all.iter().map(|l| format_line(l, &w) + "\n").collect()
}

/// An object or list as YAML (no leading `---`).
pub fn to_yaml(v: &Value) -> String {
    serde_yaml::to_string(v).unwrap_or_default()
}

/// An object or list as indented JSON with a trailing newline.
pub fn to_json(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default() + "\n"
}

/// kubectl's short human duration: `45s`, `3m2s`, `12m`, `5h3m`, `3d4h`, `12d`, `2y30d`.
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    if s < 120 {
        return format!("{s}s");
    }
    let m = s / 60;
    if m < 10 {
        let rs = s % 60;
        return if rs == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{rs}s")
        };
    }
    if m < 180 {
        return format!("{m}m");
    }
    let h = m / 60;
    if h < 8 {
        let rm = m % 60;
        return if rm == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{rm}m")
        };
    }
    if h < 48 {
        return format!("{h}h");
    }
    let d = h / 24;
    if d < 8 {
        let rh = h % 24;
        return if rh == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{rh}h")
        };
    }
    if d < 365 * 2 {
        return format!("{d}d");
    }
    let y = d / 365;
    let rd = d % 365;
    if y < 8 && rd != 0 {
        format!("{y}y{rd}d")
    } else {
        format!("{y}y")
    }
}

/// Age of an RFC 3339 timestamp relative to now (`<unknown>` if unparsable).
pub fn age(ts: &str) -> String {
    match ts.parse::<jiff::Timestamp>() {
        Ok(t) => human_duration((jiff::Timestamp::now().as_second() - t.as_second()).max(0)),
        Err(_) => "<unknown>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ksvc_table() -> Value {
        json!({
            "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": "7"},
            "columnDefinitions": [
                {"name": "Name", "type": "string", "priority": 0},
                {"name": "URL", "type": "string", "priority": 0},
                {"name": "LatestCreated", "type": "string", "priority": 1},
                {"name": "Ready", "type": "string", "priority": 0},
            ],
            "rows": [
                {"cells": ["hello", "http://hello.default.example.com", "hello-00001", "True"], "object": {"metadata": {"namespace": "default"}}},
                {"cells": ["a", null, null, "Unknown\nmore"], "object": {"metadata": {"namespace": "ns2"}}},
            ]
        })
    }

    #[test]
    fn renders_table_like_kubectl() {
        let t = ksvc_table();
        let layout = TableLayout::new(&t, false, false, String::new());
        assert_eq!(layout.headers, ["NAME", "URL", "READY"]);
        assert_eq!(cell_text(&json!(3)), "3");
        let rows: Vec<_> = t["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| layout.row_cells(r))
            .collect();
        let out = render_table(&layout.headers, &rows, true);
        assert_eq!(
            out,
            "NAME    URL                                READY\n\
             hello   http://hello.default.example.com   True\n\
             a                                          Unknown...\n"
        );
    }

    #[test]
    fn wide_and_all_namespaces() {
        let t = ksvc_table();
        let layout = TableLayout::new(&t, true, true, "service.serving.knative.dev/".into());
        assert_eq!(
            layout.headers,
            ["NAMESPACE", "NAME", "URL", "LATESTCREATED", "READY"]
        );
        assert_eq!(
            layout.row_cells(&t["rows"][1])[..2],
            [
                "ns2".to_string(),
                "service.serving.knative.dev/a".to_string()
            ]
        );
    }

    #[test]
    fn durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(182), "3m2s");
        assert_eq!(human_duration(60 * 12), "12m");
        assert_eq!(human_duration(3600 * 5 + 180), "5h3m");
        assert_eq!(human_duration(3600 * 30), "30h");
        assert_eq!(human_duration(86400 * 3 + 3600 * 4), "3d4h");
        assert_eq!(human_duration(86400 * 12), "12d");
    }
}
