//! Variable substitution as Tekton's PipelineRun reconciler does it
//! (`pkg/substitution` and `resources/apply.go`): a set of string, array and object
//! replacements keyed by the expression inside `$(...)`, applied to strings, param
//! values (where `$(params.a[*])` turns a string value into an array), `when`
//! expressions and, through JSON, to embedded Task specs.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use skiff_api::tekton::v1::{Param, ParamValue, PipelineTask, TaskSpec, WhenExpression};

/// Replacements keyed by the expression inside `$(...)`, e.g. `params.image`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Replacements {
    pub strings: HashMap<String, String>,
    pub arrays: HashMap<String, Vec<String>>,
    pub objects: HashMap<String, BTreeMap<String, String>>,
}

/// Tekton's `paramPatterns`: `params.x`, `params["x"]`, `params['x']`.
pub(crate) fn param_keys(name: &str) -> [String; 3] {
    [
        format!("params.{name}"),
        format!("params[{}]", super::go_quote(name)),
        format!("params['{name}']"),
    ]
}

/// The keys of a result reference: `tasks.t.results.r` and its bracket spellings.
fn result_keys(task: &str, result: &str) -> [String; 3] {
    [
        format!("tasks.{task}.results.{result}"),
        format!("tasks.{task}.results[{}]", super::go_quote(result)),
        format!("tasks.{task}.results['{result}']"),
    ]
}

/// `$(expr)` when `s` is exactly one reference (Tekton's `exactVariableSubstitutionRegex`).
fn exact_expr(s: &str) -> Option<&str> {
    let inner = s.strip_prefix("$(")?.strip_suffix(')')?;
    let ok = !inner.is_empty()
        && !inner.contains(')')
        && !inner.contains("$(")
        && !inner.contains(char::is_whitespace);
    ok.then_some(inner)
}

/// `substitution.StripStarVarSubExpression`: `params.a[*]` → `params.a`.
fn strip_star(expr: &str) -> &str {
    expr.strip_suffix("[*]").unwrap_or(expr)
}

impl Replacements {
    /// Adds everything from `other`, which wins on conflicts.
    pub fn extend(&mut self, other: &Replacements) {
        self.strings
            .extend(other.strings.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.arrays
            .extend(other.arrays.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.objects
            .extend(other.objects.iter().map(|(k, v)| (k.clone(), v.clone())));
    }

    /// A string replacement for one key.
    pub fn insert_string(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.strings.insert(key.into(), value.into());
    }

    /// A parameter value under all its spellings, with `[i]` and `.key` forms.
    pub fn insert_param(&mut self, name: &str, value: &ParamValue) {
        for key in param_keys(name) {
            self.insert_value(&key, value);
        }
        if let ParamValue::Object(m) = value {
            for (k, v) in m {
                self.strings.insert(format!("params.{name}.{k}"), v.clone());
            }
        }
    }

    /// A task result under all its spellings (`ResolvedResultRefs` replacements).
    pub fn insert_result(&mut self, task: &str, result: &str, value: &ParamValue) {
        for key in result_keys(task, result) {
            self.insert_value(&key, value);
            if let ParamValue::Object(m) = value {
                for (k, v) in m {
                    self.strings.insert(format!("{key}.{k}"), v.clone());
                }
            }
        }
    }

    fn insert_value(&mut self, key: &str, value: &ParamValue) {
        match value {
            ParamValue::String(s) => {
                self.strings.insert(key.to_string(), s.clone());
            }
            ParamValue::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    self.strings.insert(format!("{key}[{i}]"), v.clone());
                }
                self.arrays.insert(key.to_string(), a.clone());
            }
            ParamValue::Object(m) => {
                self.objects.insert(key.to_string(), m.clone());
            }
        }
    }

    /// `substitution.ApplyReplacements`: every `$(key)` with a string replacement.
    pub fn str(&self, s: &str) -> String {
        if !s.contains("$(") || self.strings.is_empty() {
            return s.to_string();
        }
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find("$(") {
            out.push_str(&rest[..i]);
            let body = &rest[i + 2..];
            let Some(j) = body.find(')') else {
                out.push_str(&rest[i..]);
                rest = "";
                break;
            };
            let expr = &body[..j];
            match self.strings.get(expr) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(expr);
                    out.push(')');
                }
            }
            rest = &body[j + 1..];
        }
        out.push_str(rest);
        out
    }

    /// `substitution.ApplyArrayReplacements`: an item that is exactly `$(arr[*])`
    /// becomes the array's items; any other item gets string replacements.
    pub fn array_item(&self, s: &str) -> Vec<String> {
        if let Some(expr) = exact_expr(s) {
            if let Some(a) = self.arrays.get(strip_star(expr)) {
                return a.clone();
            }
        }
        vec![self.str(s)]
    }

    /// `ParamValue.ApplyReplacements`: arrays expand items, objects replace values, and
    /// a string that is exactly a reference to an array or object takes its type.
    pub fn value(&self, v: &ParamValue) -> ParamValue {
        match v {
            ParamValue::Array(items) => {
                ParamValue::Array(items.iter().flat_map(|s| self.array_item(s)).collect())
            }
            ParamValue::Object(m) => {
                ParamValue::Object(m.iter().map(|(k, v)| (k.clone(), self.str(v))).collect())
            }
            ParamValue::String(s) => {
                if let Some(expr) = exact_expr(s) {
                    let key = strip_star(expr);
                    if let Some(o) = self.objects.get(key) {
                        return ParamValue::Object(o.clone());
                    }
                    if let Some(a) = self.arrays.get(key) {
                        return ParamValue::Array(a.clone());
                    }
                }
                ParamValue::String(self.str(s))
            }
        }
    }

    /// Replaces in every param value.
    pub fn params(&self, params: &mut [Param]) {
        for p in params {
            p.value = self.value(&p.value);
        }
    }

    /// `WhenExpressions.ReplaceVariables`: the input gets string replacements, the
    /// values may expand arrays.
    pub fn when(&self, when: &mut [WhenExpression]) {
        for w in when {
            w.input = self.str(&w.input);
            w.values = w.values.iter().flat_map(|v| self.array_item(v)).collect();
        }
    }

    /// Replaces in every string of a JSON document; array items that are exactly an
    /// array reference expand in place.
    pub fn json(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.str(s),
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for mut item in std::mem::take(items) {
                    match &item {
                        Value::String(s) => {
                            out.extend(self.array_item(s).into_iter().map(Value::String));
                        }
                        _ => {
                            self.json(&mut item);
                            out.push(item);
                        }
                    }
                }
                *items = out;
            }
            Value::Object(m) => m.values_mut().for_each(|x| self.json(x)),
            _ => {}
        }
    }

    /// `resources.ApplyReplacements` on a Task spec (through its JSON form).
    pub fn task_spec(&self, ts: &TaskSpec) -> TaskSpec {
        let Ok(mut v) = serde_json::to_value(ts) else {
            return ts.clone();
        };
        self.json(&mut v);
        serde_json::from_value(v).unwrap_or_else(|_| ts.clone())
    }

    /// The pipeline-task fields Tekton substitutes (`replaceVariablesInPipelineTasks`,
    /// `ApplyTaskResults`): params, `when`, display name, workspace sub-paths,
    /// `taskRef` name and params, `onError`; with `propagate`, also the embedded Task
    /// spec (`propagateParams`: the task's own params win over pipeline params).
    pub fn pipeline_task(&self, pt: &mut PipelineTask, propagate: bool) {
        self.params(&mut pt.params);
        self.when(&mut pt.when);
        pt.display_name = self.str(&pt.display_name);
        for w in &mut pt.workspaces {
            w.sub_path = self.str(&w.sub_path);
        }
        if let Some(r) = &mut pt.task_ref {
            r.name = self.str(&r.name);
            self.params(&mut r.params);
        }
        pt.on_error = self.str(&pt.on_error);
        if !propagate {
            return;
        }
        if let Some(emb) = &mut pt.task_spec {
            let mut scoped = self.clone();
            for p in &pt.params {
                for key in param_keys(&p.name) {
                    if scoped.strings.contains_key(&key) {
                        if let ParamValue::String(s) = &p.value {
                            scoped.strings.insert(key.clone(), s.clone());
                        }
                    }
                    if scoped.arrays.contains_key(&key) {
                        if let ParamValue::Array(a) = &p.value {
                            scoped.arrays.insert(key.clone(), a.clone());
                        }
                    }
                    if scoped.objects.contains_key(&key) {
                        if let ParamValue::Object(o) = &p.value {
                            scoped.objects.insert(key.clone(), o.clone());
                            for (k, v) in o {
                                scoped
                                    .strings
                                    .insert(format!("params.{}.{k}", p.name), v.clone());
                            }
                        }
                    }
                }
            }
            emb.task_spec = scoped.task_spec(&emb.task_spec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_arrays_objects() {
        let mut r = Replacements::default();
        r.insert_param("image", &ParamValue::String("alpine".into()));
        r.insert_param("args", &ParamValue::Array(vec!["-a".into(), "-b".into()]));
        let obj: BTreeMap<String, String> = [("url".to_string(), "https://x".to_string())].into();
        r.insert_param("git", &ParamValue::Object(obj.clone()));

        assert_eq!(
            r.str("run $(params.image) $(params[\"image\"]) $(params['image'])"),
            "run alpine alpine alpine"
        );
        assert_eq!(
            r.str("$(params.args[1]) $(params.git.url) $(params.nope)"),
            "-b https://x $(params.nope)"
        );
        assert_eq!(
            r.str("unterminated $(params.image"),
            "unterminated $(params.image"
        );
        assert_eq!(
            r.value(&ParamValue::String("$(params.args[*])".into())),
            ParamValue::Array(vec!["-a".into(), "-b".into()])
        );
        assert_eq!(
            r.value(&ParamValue::String("$(params.git[*])".into())),
            ParamValue::Object(obj)
        );
        assert_eq!(
            r.value(&ParamValue::Array(vec![
                "x".into(),
                "$(params.args[*])".into(),
                "$(params.image)".into()
            ])),
            ParamValue::Array(vec!["x".into(), "-a".into(), "-b".into(), "alpine".into()])
        );
        let mut v =
            serde_json::json!({"args": ["$(params.args[*])", "--image=$(params.image)"], "n": 1});
        r.json(&mut v);
        assert_eq!(
            v,
            serde_json::json!({"args": ["-a", "-b", "--image=alpine"], "n": 1})
        );
    }
}
