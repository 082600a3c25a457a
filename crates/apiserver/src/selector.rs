//! Label and field selectors (k8s.io/apimachinery `pkg/labels`, `pkg/fields`).
//!
//! `LabelSelector::parse` is a port of Kubernetes' label selector lexer and
//! parser, with the same error messages, so `?labelSelector=` behaves (and
//! fails) like kube-apiserver's. `FieldSelector` implements the small
//! `field=value` language used by `?fieldSelector=`.

use crate::names::{label_key_errors, label_value_errors};
use serde_json::{Map, Value};

/// A selector operator, as in `k8s.io/apimachinery/pkg/selection`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `=`
    Equals,
    /// `==`
    DoubleEquals,
    /// `!=`
    NotEquals,
    /// `in`
    In,
    /// `notin`
    NotIn,
    /// bare key
    Exists,
    /// `!key`
    DoesNotExist,
    /// `>` (integer comparison)
    GreaterThan,
    /// `<` (integer comparison)
    LessThan,
}

impl Operator {
    /// The operator as Kubernetes spells it (`selection.Operator`).
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => "in",
            Operator::NotIn => "notin",
            Operator::Exists => "exists",
            Operator::DoesNotExist => "!",
            Operator::GreaterThan => "gt",
            Operator::LessThan => "lt",
        }
    }
}

/// One `key op values` term of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Sorted, de-duplicated (as Kubernetes' `sets.String`).
    pub values: Vec<String>,
}

impl Requirement {
    /// Kubernetes' `NewRequirement`: validates the key, the operator/value
    /// arity and every value, returning Kubernetes' (aggregated) error.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, String> {
        let mut errs: Vec<String> = Vec::new();
        let kerrs = label_key_errors(key);
        if !kerrs.is_empty() {
            errs.push(invalid("key", &go_quote(key), &kerrs.join("; ")));
        }
        // Go's `%#v` of a []string, as field.Invalid prints it.
        let vals_json = || {
            let q: Vec<String> = values.iter().map(|v| go_quote(v)).collect();
            format!("[]string{{{}}}", q.join(", "))
        };
        match operator {
            Operator::In | Operator::NotIn => {
                if values.is_empty() {
                    errs.push(invalid(
                        "values",
                        &vals_json(),
                        "for 'in', 'notin' operators, values set can't be empty",
                    ));
                }
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals => {
                if values.len() != 1 {
                    errs.push(invalid(
                        "values",
                        &vals_json(),
                        "exact-match compatibility requires one single value",
                    ));
                }
            }
            Operator::Exists | Operator::DoesNotExist => {
                if !values.is_empty() {
                    errs.push(invalid(
                        "values",
                        &vals_json(),
                        "values set must be empty for exists and does not exist",
                    ));
                }
            }
            Operator::GreaterThan | Operator::LessThan => {
                if values.len() != 1 {
                    errs.push(invalid(
                        "values",
                        &vals_json(),
                        "for 'Gt', 'Lt' operators, exactly one value is required",
                    ));
                }
                for (i, v) in values.iter().enumerate() {
                    if v.parse::<i64>().is_err() {
                        errs.push(invalid(
                            &format!("values[{i}]"),
                            &go_quote(v),
                            "for 'Gt', 'Lt' operators, the value must be an integer",
                        ));
                    }
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let verrs = label_value_errors(v);
            if !verrs.is_empty() {
                errs.push(invalid(
                    &format!("values[{i}][{key}]"),
                    &go_quote(v),
                    &verrs.join("; "),
                ));
            }
        }
        if !errs.is_empty() {
            return Err(aggregate(errs));
        }
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// Whether this requirement holds for `labels`.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let val = labels.and_then(|l| l.get(&self.key)).map(label_str);
        let has = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::In | Operator::Equals | Operator::DoubleEquals => {
                val.is_some_and(|v| has(&v))
            }
            Operator::NotIn | Operator::NotEquals => val.is_none_or(|v| !has(&v)),
            Operator::Exists => val.is_some(),
            Operator::DoesNotExist => val.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let Some(lv) = val.and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                let Some(rv) = self.values.first().and_then(|v| v.parse::<i64>().ok()) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    lv > rv
                } else {
                    lv < rv
                }
            }
        }
    }
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.operator == Operator::DoesNotExist {
            f.write_str("!")?;
        }
        f.write_str(&self.key)?;
        let op = match self.operator {
            Operator::Exists | Operator::DoesNotExist => return Ok(()),
            Operator::Equals => "=",
            Operator::DoubleEquals => "==",
            Operator::NotEquals => "!=",
            Operator::In => " in (",
            Operator::NotIn => " notin (",
            Operator::GreaterThan => ">",
            Operator::LessThan => "<",
        };
        f.write_str(op)?;
        f.write_str(&self.values.join(","))?;
        if matches!(self.operator, Operator::In | Operator::NotIn) {
            f.write_str(")")?;
        }
        Ok(())
    }
}

fn label_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Go's `%q` for the ASCII-ish strings found in selectors.
fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// `field.Invalid(path, value, msg).Error()` with a root (nil) parent path.
fn invalid(path: &str, quoted_value: &str, msg: &str) -> String {
    format!("{path}: Invalid value: {quoted_value}: {msg}")
}

/// `ErrorList.ToAggregate().Error()`.
fn aggregate(errs: Vec<String>) -> String {
    if errs.len() == 1 {
        errs.into_iter().next().unwrap()
    } else {
        format!("[{}]", errs.join(", "))
    }
}

/// A parsed `labelSelector` query parameter: `a=b`, `a==b`, `a!=b`,
/// `a in (x,y)`, `a notin (x)`, `a` (exists), `!a`, `a>1`, `a<1`,
/// comma-separated (AND).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    /// `labels.Nothing()`: matches no object (a `null` selector object).
    nothing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Error(String),
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Ident(String),
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

impl Tok {
    fn literal(&self) -> &str {
        match self {
            Tok::Error(s) | Tok::Ident(s) => s,
            Tok::End => "",
            Tok::ClosedPar => ")",
            Tok::Comma => ",",
            Tok::DoesNotExist => "!",
            Tok::DoubleEquals => "==",
            Tok::Equals => "=",
            Tok::GreaterThan => ">",
            Tok::In => "in",
            Tok::LessThan => "<",
            Tok::NotEquals => "!=",
            Tok::NotIn => "notin",
            Tok::OpenPar => "(",
        }
    }

    fn from_literal(s: &str) -> Option<Tok> {
        Some(match s {
            ")" => Tok::ClosedPar,
            "," => Tok::Comma,
            "!" => Tok::DoesNotExist,
            "==" => Tok::DoubleEquals,
            "=" => Tok::Equals,
            ">" => Tok::GreaterThan,
            "in" => Tok::In,
            "<" => Tok::LessThan,
            "!=" => Tok::NotEquals,
            "notin" => Tok::NotIn,
            "(" => Tok::OpenPar,
            _ => return None,
        })
    }
}

fn is_whitespace(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn lex(s: &str) -> Vec<Tok> {
    let b = s.as_bytes();
    let mut pos = 0;
    let mut out = Vec::new();
    loop {
        while pos < b.len() && is_whitespace(b[pos]) {
            pos += 1;
        }
        if pos >= b.len() {
            out.push(Tok::End);
            return out;
        }
        if is_special(b[pos]) {
            let start = pos;
            let mut last: Option<(Tok, usize)> = None;
            while pos < b.len() && is_special(b[pos]) {
                pos += 1;
                if let Some(t) = Tok::from_literal(&s[start..pos]) {
                    last = Some((t, pos));
                } else if last.is_some() {
                    pos -= 1;
                    break;
                }
            }
            match last {
                Some((t, end)) => {
                    pos = end;
                    out.push(t);
                }
                None => out.push(Tok::Error(format!(
                    "error expected: keyword found '{}'",
                    &s[start..pos]
                ))),
            }
        } else {
            let start = pos;
            while pos < b.len() && !is_special(b[pos]) && !is_whitespace(b[pos]) {
                pos += 1;
            }
            let lit = &s[start..pos];
            out.push(match lit {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Ident(lit.to_string()),
            });
        }
    }
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    /// Lookahead; in the "values" context `in`/`notin` are identifiers.
    fn peek(&self, values: bool) -> Tok {
        let t = self.toks[self.pos.min(self.toks.len() - 1)].clone();
        if values {
            match t {
                Tok::In => return Tok::Ident("in".into()),
                Tok::NotIn => return Tok::Ident("notin".into()),
                _ => {}
            }
        }
        t
    }

    fn next(&mut self, values: bool) -> Tok {
        let t = self.peek(values);
        if self.pos < self.toks.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut reqs = Vec::new();
        loop {
            let t = self.peek(true);
            match t {
                Tok::Ident(_) | Tok::DoesNotExist => {
                    let r = self
                        .parse_requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    let t = self.next(true);
                    match t {
                        Tok::End => return Ok(reqs),
                        Tok::Comma => {
                            let t2 = self.peek(true);
                            if !matches!(t2, Tok::Ident(_) | Tok::DoesNotExist) {
                                return Err(format!(
                                    "found '{}', expected: identifier after ','",
                                    t2.literal()
                                ));
                            }
                        }
                        other => {
                            return Err(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                other.literal()
                            ))
                        }
                    }
                }
                Tok::End => return Ok(reqs),
                other => {
                    return Err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        other.literal()
                    ))
                }
            }
        }
    }

    fn parse_requirement(&mut self) -> Result<Requirement, String> {
        let (key, op) = self.parse_key_and_infer_operator()?;
        if let Some(op) = op {
            return Requirement::new(&key, op, vec![]);
        }
        let op = self.parse_operator()?;
        let values = match op {
            Operator::In | Operator::NotIn => self.parse_values()?,
            _ => self.parse_exact_value()?,
        };
        Requirement::new(&key, op, values)
    }

    fn parse_key_and_infer_operator(&mut self) -> Result<(String, Option<Operator>), String> {
        let mut t = self.next(true);
        let mut not = false;
        if t == Tok::DoesNotExist {
            not = true;
            t = self.next(true);
        }
        let Tok::Ident(key) = t else {
            return Err(format!("found '{}', expected: identifier", t.literal()));
        };
        let kerrs = label_key_errors(&key);
        if !kerrs.is_empty() {
            return Err(format!(
                "<nil>: Invalid value: {}: {}",
                go_quote(&key),
                kerrs.join("; ")
            ));
        }
        let la = self.peek(true);
        if la == Tok::End || la == Tok::Comma {
            return Ok((
                key,
                Some(if not {
                    Operator::DoesNotExist
                } else {
                    Operator::Exists
                }),
            ));
        }
        if not {
            // Kubernetes leaves the operator as DoesNotExist here and then
            // NewRequirement complains about values; mirror the outcome.
            return Ok((key, Some(Operator::DoesNotExist)));
        }
        Ok((key, None))
    }

    fn parse_operator(&mut self) -> Result<Operator, String> {
        let t = self.next(false);
        Ok(match t {
            Tok::In => Operator::In,
            Tok::Equals => Operator::Equals,
            Tok::DoubleEquals => Operator::DoubleEquals,
            Tok::GreaterThan => Operator::GreaterThan,
            Tok::LessThan => Operator::LessThan,
            Tok::NotIn => Operator::NotIn,
            Tok::NotEquals => Operator::NotEquals,
            other => {
                return Err(format!(
                    "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                    other.literal()
                ))
            }
        })
    }

    fn parse_values(&mut self) -> Result<Vec<String>, String> {
        let t = self.next(true);
        if t != Tok::OpenPar {
            return Err(format!("found '{}' expected: '('", t.literal()));
        }
        let t = self.peek(true);
        match t {
            Tok::Ident(_) | Tok::Comma => {
                let s = self.parse_identifiers_list()?;
                if self.next(true) != Tok::ClosedPar {
                    return Err(format!("found '{}', expected: ')'", t.literal()));
                }
                Ok(s)
            }
            Tok::ClosedPar => {
                self.next(true);
                Ok(vec![String::new()])
            }
            other => Err(format!(
                "found '{}', expected: ',', ')' or identifier",
                other.literal()
            )),
        }
    }

    fn parse_identifiers_list(&mut self) -> Result<Vec<String>, String> {
        let mut s: Vec<String> = Vec::new();
        loop {
            let t = self.next(true);
            match t {
                Tok::Ident(lit) => {
                    s.push(lit);
                    let t2 = self.peek(true);
                    match t2 {
                        Tok::Comma => continue,
                        Tok::ClosedPar => return Ok(s),
                        other => {
                            return Err(format!(
                                "found '{}', expected: ',' or ')'",
                                other.literal()
                            ))
                        }
                    }
                }
                Tok::Comma => {
                    if s.is_empty() {
                        s.push(String::new());
                    }
                    let t2 = self.peek(true);
                    if t2 == Tok::ClosedPar {
                        s.push(String::new());
                        return Ok(s);
                    }
                    if t2 == Tok::Comma {
                        s.push(String::new());
                    }
                }
                other => {
                    return Err(format!(
                        "found '{}', expected: ',', or identifier",
                        other.literal()
                    ))
                }
            }
        }
    }

    fn parse_exact_value(&mut self) -> Result<Vec<String>, String> {
        let t = self.peek(true);
        if t == Tok::End || t == Tok::Comma {
            return Ok(vec![String::new()]);
        }
        match self.next(true) {
            Tok::Ident(lit) => Ok(vec![lit]),
            other => Err(format!("found '{}', expected: identifier", other.literal())),
        }
    }
}

impl LabelSelector {
    /// Parses the `labelSelector` query-parameter syntax (Kubernetes' `labels.Parse`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut p = Parser {
            toks: lex(s),
            pos: 0,
        };
        let mut reqs = p.parse()?;
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector {
            requirements: reqs,
            nothing: false,
        })
    }

    /// A selector that matches everything.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector that matches nothing (`labels.Nothing()`).
    pub fn nothing() -> Self {
        LabelSelector {
            requirements: vec![],
            nothing: true,
        }
    }

    /// Whether an object with these `metadata.labels` is selected.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        !self.nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Whether this selector does not restrict the selection (matches all).
    pub fn is_empty(&self) -> bool {
        !self.nothing && self.requirements.is_empty()
    }

    /// Whether this selector matches no object at all.
    pub fn matches_nothing(&self) -> bool {
        self.nothing
    }

    /// The parsed terms, sorted by key.
    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// If the selector requires `label` to have one specific value, return it.
    pub fn requires_exact_match(&self, label: &str) -> Option<&str> {
        let r = self.requirements.iter().find(|r| r.key == label)?;
        match r.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In if r.values.len() == 1 => {
                Some(&r.values[0])
            }
            _ => None,
        }
    }
}

impl std::fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.requirements.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// Builds a selector from a `metav1.LabelSelector` JSON object
/// (`{matchLabels, matchExpressions}`), as `LabelSelectorAsSelector` does:
/// `null` matches nothing, `{}` matches everything.
pub fn selector_from_label_selector_json(sel: &Value) -> Result<LabelSelector, String> {
    let obj = match sel {
        Value::Null => return Ok(LabelSelector::nothing()),
        Value::Object(o) => o,
        other => return Err(format!("label selector must be an object, got {other}")),
    };
    let mut reqs = Vec::new();
    match obj.get("matchLabels") {
        None | Some(Value::Null) => {}
        Some(Value::Object(ml)) => {
            for (k, v) in ml {
                let v = v
                    .as_str()
                    .ok_or_else(|| format!("matchLabels[{k}] must be a string"))?;
                reqs.push(Requirement::new(k, Operator::Equals, vec![v.to_string()])?);
            }
        }
        Some(_) => return Err("matchLabels must be an object".into()),
    }
    match obj.get("matchExpressions") {
        None | Some(Value::Null) => {}
        Some(Value::Array(exprs)) => {
            for e in exprs {
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                let op_s = e.get("operator").and_then(Value::as_str).unwrap_or("");
                let op = match op_s {
                    "In" => Operator::In,
                    "NotIn" => Operator::NotIn,
                    "Exists" => Operator::Exists,
                    "DoesNotExist" => Operator::DoesNotExist,
                    other => {
                        return Err(format!("{other:?} is not a valid label selector operator"))
                    }
                };
                let values: Vec<String> = match e.get("values") {
                    None | Some(Value::Null) => vec![],
                    Some(Value::Array(a)) => a
                        .iter()
                        .map(|v| {
                            v.as_str()
                                .map(str::to_string)
                                .ok_or("values must be strings")
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => return Err("values must be an array".into()),
                };
                reqs.push(Requirement::new(key, op, values)?);
            }
        }
        Some(_) => return Err("matchExpressions must be an array".into()),
    }
    reqs.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(LabelSelector {
        requirements: reqs,
        nothing: false,
    })
}

// ---------------------------------------------------------------------------
// Field selectors
// ---------------------------------------------------------------------------

/// One `field=value` / `field!=value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    /// `true` for `=`/`==`, `false` for `!=`.
    pub equals: bool,
    pub value: String,
}

/// A parsed `fieldSelector`: `metadata.name=x`, `metadata.name==x`,
/// `metadata.name!=x`, `metadata.namespace=...`, comma-separated (AND).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    terms: Vec<FieldRequirement>,
}

/// Field names every resource supports in field selectors.
pub const DEFAULT_FIELDS: &[&str] = &["metadata.name", "metadata.namespace"];

/// Splits on commas not preceded by a backslash escape (`fields.splitTerms`).
fn split_terms(s: &str) -> Vec<String> {
    if s.is_empty() {
        return vec![];
    }
    let mut terms = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in s.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            cur.push(c);
            escaped = true;
        } else if c == ',' {
            terms.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    terms.push(cur);
    terms
}

/// Splits `lhs op rhs` at the first unescaped `!=`, `==` or `=` (`fields.splitTerm`).
fn split_term(term: &str) -> Option<(&str, &'static str, &str)> {
    let b = term.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            i += 2;
            continue;
        }
        for op in ["!=", "==", "="] {
            if term[i..].starts_with(op) {
                return Some((&term[..i], op, &term[i + op.len()..]));
            }
        }
        i += 1;
    }
    None
}

/// `fields.UnescapeValue`: `\\`, `\,` and `\=` are the only escapes, and
/// `,`/`=` must be escaped.
fn unescape_value(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::new();
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                _ => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{c}"
                    ))
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            ',' | '=' => return Err(format!("invalid field selector: unescaped character {c}")),
            _ => out.push(c),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

impl FieldSelector {
    /// Parses a `fieldSelector`. Fields other than `metadata.name`,
    /// `metadata.namespace` and `extra_fields` are refused with Kubernetes'
    /// `field label not supported: <field>`.
    pub fn parse(s: &str, extra_fields: &[&str]) -> Result<Self, String> {
        let mut parts = split_terms(s);
        parts.sort();
        let mut terms = Vec::new();
        for part in &parts {
            if part.is_empty() {
                continue;
            }
            let Some((lhs, op, rhs)) = split_term(part) else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            let value = unescape_value(rhs)?;
            if !DEFAULT_FIELDS.contains(&lhs) && !extra_fields.contains(&lhs) {
                return Err(format!("field label not supported: {lhs}"));
            }
            terms.push(FieldRequirement {
                field: lhs.to_string(),
                equals: op != "!=",
                value,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Whether `obj` satisfies every term. A field is looked up by its dotted
    /// path in the object; a missing field counts as the empty string, scalars
    /// are compared by their text (`true`, `3`).
    pub fn matches(&self, obj: &Value) -> bool {
        self.terms.iter().all(|t| {
            let actual = field_value(obj, &t.field);
            (actual == t.value) == t.equals
        })
    }

    /// Whether the selector does not restrict the selection.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The parsed terms (sorted as Kubernetes sorts them).
    pub fn terms(&self) -> &[FieldRequirement] {
        &self.terms
    }

    /// If the selector pins `metadata.name` with `=`/`==`, return it (fast path).
    pub fn exact_name(&self) -> Option<&str> {
        self.requires_exact_match("metadata.name")
    }

    /// If the selector pins `field` with `=`/`==`, return the value.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.equals)
            .map(|t| t.value.as_str())
    }
}

fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for seg in path.split('.') {
        match cur.get(seg) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn parse_and_match() {
        let l = labels(json!({"app": "web", "tier": "front", "n": "5"}));
        let cases = [
            ("", true),
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app!=db", true),
            ("missing!=x", true),
            ("app in (web, db)", true),
            ("app in (db)", false),
            ("app notin (db)", true),
            ("missing notin (db)", true),
            ("app", true),
            ("!app", false),
            ("!missing", true),
            ("app=web,tier=front", true),
            ("app=web, tier=back", false),
            ("n>3", true),
            ("n<3", false),
            ("missing>3", false),
            ("app in (in, notin)", false),
        ];
        for (s, want) in cases {
            let sel = LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(sel.matches(Some(&l)), want, "{s}");
        }
        assert!(LabelSelector::parse("").unwrap().is_empty());
        assert!(LabelSelector::parse("!app").unwrap().matches(None));
        assert!(!LabelSelector::parse("app").unwrap().matches(None));
    }

    #[test]
    fn empty_values() {
        let sel = LabelSelector::parse("x in (foo,,baz),y,z notin ()").unwrap();
        assert_eq!(sel.to_string(), "x in (,baz,foo),y,z notin ()");
        let sel = LabelSelector::parse("a=").unwrap();
        assert!(sel.matches(Some(&labels(json!({"a": ""})))));
        assert!(!sel.matches(Some(&labels(json!({})))));
    }

    #[test]
    fn keys_with_prefix() {
        let sel = LabelSelector::parse("serving.knative.dev/service=hello").unwrap();
        assert!(sel.matches(Some(&labels(
            json!({"serving.knative.dev/service": "hello"})
        ))));
        assert_eq!(
            sel.requires_exact_match("serving.knative.dev/service"),
            Some("hello")
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            LabelSelector::parse("a=b,").unwrap_err(),
            "found '', expected: identifier after ','"
        );
        assert_eq!(
            LabelSelector::parse("a b").unwrap_err(),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            LabelSelector::parse("a in b").unwrap_err(),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            LabelSelector::parse("a in (b").unwrap_err(),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            LabelSelector::parse("=a").unwrap_err(),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        let e = LabelSelector::parse("-bad=x").unwrap_err();
        assert!(
            e.starts_with("unable to parse requirement: <nil>: Invalid value: \"-bad\": name part must consist"),
            "{e}"
        );
        let e = LabelSelector::parse("a=-x").unwrap_err();
        assert!(
            e.starts_with("unable to parse requirement: values[0][a]: Invalid value: \"-x\": a valid label must"),
            "{e}"
        );
        let e = LabelSelector::parse("a>x").unwrap_err();
        assert!(
            e.contains("for 'Gt', 'Lt' operators, the value must be an integer"),
            "{e}"
        );
        assert!(LabelSelector::parse("a=b c").is_err());
        assert!(LabelSelector::parse("a=b)").is_err());
    }

    #[test]
    fn from_json() {
        let sel = selector_from_label_selector_json(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "mid"]},
                {"key": "legacy", "operator": "DoesNotExist"}
            ]
        }))
        .unwrap();
        assert!(sel.matches(Some(&labels(json!({"app": "web", "tier": "mid"})))));
        assert!(!sel.matches(Some(&labels(
            json!({"app": "web", "tier": "mid", "legacy": "1"})
        ))));
        assert!(selector_from_label_selector_json(&json!({}))
            .unwrap()
            .is_empty());
        let nothing = selector_from_label_selector_json(&Value::Null).unwrap();
        assert!(!nothing.matches(None) && !nothing.is_empty());
        assert_eq!(
            selector_from_label_selector_json(
                &json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]})
            )
            .unwrap_err(),
            "\"Foo\" is not a valid label selector operator"
        );
        assert_eq!(
            selector_from_label_selector_json(&json!({"matchExpressions": [{"key": "a", "operator": "In"}]}))
                .unwrap_err(),
            "values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"
        );
    }

    #[test]
    fn field_selectors() {
        let obj = json!({"metadata": {"name": "hello", "namespace": "default"}, "status": {"phase": "Running", "ready": true}});
        let s = FieldSelector::parse("metadata.name=hello", &[]).unwrap();
        assert!(s.matches(&obj));
        assert_eq!(s.exact_name(), Some("hello"));
        let s = FieldSelector::parse("metadata.name==hello,metadata.namespace!=kube-system", &[])
            .unwrap();
        assert!(s.matches(&obj));
        assert_eq!(s.exact_name(), Some("hello"));
        let s = FieldSelector::parse("metadata.name!=hello", &[]).unwrap();
        assert!(!s.matches(&obj));
        assert_eq!(s.exact_name(), None);
        assert_eq!(
            FieldSelector::parse("spec.foo=bar", &[]).unwrap_err(),
            "field label not supported: spec.foo"
        );
        let s = FieldSelector::parse(
            "status.phase=Running,status.ready=true",
            &["status.phase", "status.ready"],
        )
        .unwrap();
        assert!(s.matches(&obj));
        assert!(FieldSelector::parse("", &[]).unwrap().is_empty());
        assert_eq!(
            FieldSelector::parse("metadata.name", &[]).unwrap_err(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        let s = FieldSelector::parse(r"metadata.name=a\,b", &[]).unwrap();
        assert_eq!(s.exact_name(), Some("a,b"));
        assert!(FieldSelector::parse(r"metadata.name=a\x", &[]).is_err());
        assert!(FieldSelector::parse("metadata.name=a=b", &[]).is_err());
    }
}
