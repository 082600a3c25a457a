//! Tekton's variable references (`pkg/substitution`): `$(params.x)`,
//! `$(params["x.y"])`, `$(params.obj.key)`, `$(params.arr[*])`,
//! `$(context.taskRun.name)`, `$(results.r.path)`, `$(workspaces.w.path)`,
//! `$(tasks.t.results.r)`, `$(tasks.t.status)`.

/// The contents of every `$(...)` in `s`, in order.
pub fn expressions(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("$(") {
        let body = &rest[start + 2..];
        // Brackets may hold quoted names with ')' only in pathological cases; Tekton's
        // regex stops at the first ')'.
        let Some(end) = body.find(')') else { break };
        out.push(&body[..end]);
        rest = &body[end + 1..];
    }
    out
}

/// One reference to a variable under a prefix, e.g. `params.obj.key` under `params`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// The variable's name (`obj`).
    pub name: String,
    /// A key after the name (`key` in `params.obj.key`).
    pub key: Option<String>,
    /// An index after the name: `*` or a number (`arr[*]`, `arr[0]`).
    pub index: Option<String>,
    /// The whole expression, without `$(` and `)`.
    pub expr: String,
}

/// The references to variables under `prefix` (e.g. `params`, `context.taskRun`,
/// `results`) in `s`.
pub fn refs(s: &str, prefix: &str) -> Vec<VarRef> {
    expressions(s)
        .into_iter()
        .filter_map(|e| parse_ref(e, prefix))
        .collect()
}

fn parse_ref(expr: &str, prefix: &str) -> Option<VarRef> {
    let rest = expr.strip_prefix(prefix)?;
    let (name, after) = if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(['.', '[']).unwrap_or(r.len());
        (r[..end].to_string(), &r[end..])
    } else if let Some(r) = rest.strip_prefix('[') {
        let quote = r.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let r = &r[1..];
        let close = r.find(quote)?;
        let name = r[..close].to_string();
        let after = r[close + 1..].strip_prefix(']')?;
        (name, after)
    } else {
        return None;
    };
    if name.is_empty() {
        return None;
    }
    let mut key = None;
    let mut index = None;
    let mut after = after;
    if let Some(r) = after.strip_prefix('[') {
        let close = r.find(']')?;
        index = Some(r[..close].to_string());
        after = &r[close + 1..];
    }
    if let Some(r) = after.strip_prefix('.') {
        key = Some(r.to_string());
    }
    Some(VarRef {
        name,
        key,
        index,
        expr: expr.to_string(),
    })
}

/// A `$(tasks.<task>.results.<result>)` (or `finally.`) reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRef {
    pub pipeline_task: String,
    pub result: String,
}

/// Whether an expression looks like a result reference (`tasks.t.results.r`).
pub fn looks_like_result_ref(expr: &str) -> bool {
    (expr.starts_with("tasks.") || expr.starts_with("finally.")) && expr.contains(".results")
}

/// The result references in `s`.
pub fn result_refs(s: &str) -> Vec<ResultRef> {
    expressions(s)
        .into_iter()
        .filter_map(parse_result_ref)
        .collect()
}

/// Parses `tasks.<task>.results.<result>[...]` or `finally.<task>.results.<result>`.
pub fn parse_result_ref(expr: &str) -> Option<ResultRef> {
    let rest = expr
        .strip_prefix("tasks.")
        .or_else(|| expr.strip_prefix("finally."))?;
    let (task, rest) = rest.split_once('.')?;
    let rest = rest.strip_prefix("results")?;
    let result = if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(['.', '[']).unwrap_or(r.len());
        &r[..end]
    } else if let Some(r) = rest.strip_prefix('[') {
        let quote = r.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let r = &r[1..];
        &r[..r.find(quote)?]
    } else {
        return None;
    };
    if task.is_empty() || result.is_empty() {
        return None;
    }
    Some(ResultRef {
        pipeline_task: task.to_string(),
        result: result.to_string(),
    })
}

/// Whether an expression is an execution status reference: `tasks.<t>.status` or the
/// aggregate `tasks.status`.
pub fn is_execution_status(expr: &str) -> bool {
    !looks_like_result_ref(expr) && expr.starts_with("tasks.") && expr.ends_with(".status")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_expressions_and_refs() {
        let s = r#"echo $(params.a) $(params["b.c"]) $(params.obj.key) $(params.arr[*]) $(params.arr[1]) $(context.taskRun.name) $(params['d'])"#;
        assert_eq!(expressions(s).len(), 7);
        let r = refs(s, "params");
        let names: Vec<_> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b.c", "obj", "arr", "arr", "d"]);
        assert_eq!(r[2].key.as_deref(), Some("key"));
        assert_eq!(r[3].index.as_deref(), Some("*"));
        assert_eq!(r[4].index.as_deref(), Some("1"));
        assert_eq!(refs(s, "context.taskRun")[0].name, "name");
        assert!(refs("$(paramsx.a) $(params)", "params").is_empty());
    }

    #[test]
    fn result_and_status_refs() {
        let r = result_refs("$(tasks.build.results.digest) and $(tasks.a.results.list[*])");
        assert_eq!(
            r,
            [
                ResultRef {
                    pipeline_task: "build".into(),
                    result: "digest".into()
                },
                ResultRef {
                    pipeline_task: "a".into(),
                    result: "list".into()
                }
            ]
        );
        assert_eq!(
            parse_result_ref("finally.f.results.out")
                .unwrap()
                .pipeline_task,
            "f"
        );
        assert!(parse_result_ref("tasks.build.status").is_none());
        assert!(looks_like_result_ref("tasks.t.results.r"));
        assert!(is_execution_status("tasks.build.status"));
        assert!(is_execution_status("tasks.status"));
        assert!(!is_execution_status("tasks.build.results.status"));
    }
}
