//! Go's `fmt` forms that Tekton's messages are made of, so skiff's messages read the
//! same: `%q` of a string, `%v` of a `[]string` and of a `map[string][]string`.

use std::collections::BTreeMap;

/// Go's `%q` for the names and values in Tekton's messages.
pub(crate) fn go_quote(s: &str) -> String {
    format!("{s:?}")
}

/// Go's `%v` of a `[]string`: `[a b]`.
pub(crate) fn go_list<S: AsRef<str>>(items: &[S]) -> String {
    let items: Vec<&str> = items.iter().map(AsRef::as_ref).collect();
    format!("[{}]", items.join(" "))
}

/// Go's `%v` of a `map[string][]string` (keys sorted): `map[k:[a b]]`.
pub(crate) fn go_map(m: &BTreeMap<String, Vec<String>>) -> String {
    let parts: Vec<String> = m
        .iter()
        .map(|(k, v)| format!("{k}:{}", go_list(v)))
        .collect();
    format!("map[{}]", parts.join(" "))
}
