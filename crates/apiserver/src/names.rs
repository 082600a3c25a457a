//! Kubernetes name validation (k8s.io/apimachinery `pkg/util/validation`).
//!
//! Pure functions producing the exact message strings Kubernetes uses, so a
//! 422 `Status` from skiff reads the same as one from kube-apiserver. Each
//! `validate_*` returns `Err` with all messages joined by `"; "`; the
//! `*_errors` variants return the individual messages (Kubernetes emits one
//! `field.Invalid` per message).

use regex::Regex;
use std::sync::LazyLock;

/// Regex (unanchored form, as quoted in messages) for a DNS-1123 label.
pub const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
/// Regex for a DNS-1123 subdomain.
pub const DNS1123_SUBDOMAIN_FMT: &str =
    "[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
/// Regex for the name part of a qualified name / label key.
pub const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
/// Regex for a label value.
pub const LABEL_VALUE_FMT: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";

/// Max length of a DNS-1123 label (namespaces, many names).
pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
/// Max length of a DNS-1123 subdomain (most object names).
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
/// Max length of a label key's name part.
pub const QUALIFIED_NAME_MAX_LENGTH: usize = 63;
/// Max length of a label value.
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;

const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_ERR: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

fn anchored(fmt: &str) -> Regex {
    Regex::new(&format!("^(?:{fmt})$")).expect("static regex")
}

static DNS1123_LABEL_RE: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_LABEL_FMT));
static DNS1123_SUBDOMAIN_RE: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_SUBDOMAIN_FMT));
static QUALIFIED_NAME_RE: LazyLock<Regex> = LazyLock::new(|| anchored(QUALIFIED_NAME_FMT));
static LABEL_VALUE_RE: LazyLock<Regex> = LazyLock::new(|| anchored(LABEL_VALUE_FMT));

/// Kubernetes' `MaxLenError`.
pub fn max_len_error(length: usize) -> String {
    format!("must be no more than {length} characters")
}

/// Kubernetes' `EmptyError`.
pub fn empty_error() -> &'static str {
    "must be non-empty"
}

/// Kubernetes' `RegexError`: `msg (e.g. 'a' or 'b', regex used for validation is 're')`.
pub fn regex_error(msg: &str, re: &str, examples: &[&str]) -> String {
    if examples.is_empty() {
        return format!("{msg} (regex used for validation is '{re}')");
    }
    let mut out = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            out.push_str(" or ");
        }
        out.push('\'');
        out.push_str(e);
        out.push_str("', ");
    }
    out.push_str("regex used for validation is '");
    out.push_str(re);
    out.push_str("')");
    out
}

fn to_result(errs: Vec<String>) -> Result<(), String> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs.join("; "))
    }
}

/// Messages of Kubernetes' `IsDNS1123Subdomain` (empty = valid).
pub fn dns1123_subdomain_errors(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_SUBDOMAIN_MAX_LENGTH));
    }
    if !DNS1123_SUBDOMAIN_RE.is_match(name) {
        errs.push(regex_error(
            DNS1123_SUBDOMAIN_ERR,
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// Messages of Kubernetes' `IsDNS1123Label` (empty = valid).
pub fn dns1123_label_errors(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(max_len_error(DNS1123_LABEL_MAX_LENGTH));
    }
    if !DNS1123_LABEL_RE.is_match(name) {
        if DNS1123_SUBDOMAIN_RE.is_match(name) {
            // A valid subdomain but not a label: must be the dots.
            errs.push("must not contain dots".to_string());
        } else {
            errs.push(regex_error(
                DNS1123_LABEL_ERR,
                DNS1123_LABEL_FMT,
                &["my-name", "123-abc"],
            ));
        }
    }
    errs
}

/// Messages of Kubernetes' `IsQualifiedName` / `IsLabelKey` (empty = valid).
pub fn label_key_errors(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push(format!("prefix part {}", empty_error()));
            } else {
                for m in dns1123_subdomain_errors(prefix) {
                    errs.push(format!("prefix part {m}"));
                }
            }
            *name
        }
        _ => {
            errs.push(format!(
                "a qualified name {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                regex_error(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, &["MyName", "my.name", "123-abc"])
            ));
            return errs;
        }
    };
    if name.is_empty() {
        errs.push(format!("name part {}", empty_error()));
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!(
            "name part {}",
            max_len_error(QUALIFIED_NAME_MAX_LENGTH)
        ));
    }
    if !QUALIFIED_NAME_RE.is_match(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                QUALIFIED_NAME_ERR,
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"]
            )
        ));
    }
    errs
}

/// Messages of Kubernetes' `IsValidLabelValue` (empty = valid).
pub fn label_value_errors(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(max_len_error(LABEL_VALUE_MAX_LENGTH));
    }
    if !LABEL_VALUE_RE.is_match(v) {
        errs.push(regex_error(
            LABEL_VALUE_ERR,
            LABEL_VALUE_FMT,
            &["MyValue", "my_value", "12345"],
        ));
    }
    errs
}

/// DNS-1123 subdomain (≤253, lowercase alnum, '-', '.'), as used for most
/// object names. Returns the Kubernetes message(s) on failure.
pub fn validate_dns1123_subdomain(name: &str) -> Result<(), String> {
    to_result(dns1123_subdomain_errors(name))
}

/// DNS-1123 label (≤63, `[a-z0-9]([-a-z0-9]*[a-z0-9])?`), used for namespaces.
pub fn validate_dns1123_label(name: &str) -> Result<(), String> {
    to_result(dns1123_label_errors(name))
}

/// Label key (qualified name with optional DNS subdomain prefix) for
/// `metadata.labels` / annotation keys.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    to_result(label_key_errors(key))
}

/// Label value (empty, or ≤63 alnum with '-', '_', '.' inside).
pub fn validate_label_value(v: &str) -> Result<(), String> {
    to_result(label_value_errors(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomain() {
        assert!(validate_dns1123_subdomain("example.com").is_ok());
        assert!(validate_dns1123_subdomain("hello-world-00001").is_ok());
        assert!(validate_dns1123_subdomain("a").is_ok());
        assert_eq!(
            validate_dns1123_subdomain("Hello").unwrap_err(),
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        assert!(validate_dns1123_subdomain("").is_err());
        assert!(validate_dns1123_subdomain("-a").is_err());
        assert!(validate_dns1123_subdomain("a.").is_err());
        assert!(validate_dns1123_subdomain("a..b").is_err());
        let long = "a".repeat(254);
        assert_eq!(
            validate_dns1123_subdomain(&long).unwrap_err(),
            "must be no more than 253 characters"
        );
        assert!(validate_dns1123_subdomain(&"a".repeat(253)).is_ok());
    }

    #[test]
    fn label() {
        assert!(validate_dns1123_label("default").is_ok());
        assert!(validate_dns1123_label("123-abc").is_ok());
        assert_eq!(
            validate_dns1123_label("a.b").unwrap_err(),
            "must not contain dots"
        );
        assert_eq!(
            validate_dns1123_label("My_ns").unwrap_err(),
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        );
        let long = "a".repeat(64);
        assert_eq!(
            dns1123_label_errors(&long),
            vec!["must be no more than 63 characters".to_string()]
        );
    }

    #[test]
    fn label_keys() {
        for ok in [
            "app",
            "serving.knative.dev/service",
            "app.kubernetes.io/name",
            "A_b-c.d",
            "x/y",
        ] {
            assert!(validate_label_key(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            validate_label_key("/a").unwrap_err(),
            "prefix part must be non-empty"
        );
        assert!(validate_label_key("a/b/c")
            .unwrap_err()
            .starts_with("a qualified name must consist"));
        assert!(validate_label_key("Foo.com/a")
            .unwrap_err()
            .starts_with("prefix part a lowercase RFC 1123 subdomain"));
        let e = validate_label_key("a/").unwrap_err();
        assert!(
            e.starts_with("name part must be non-empty; name part must consist"),
            "{e}"
        );
        assert!(validate_label_key("-a")
            .unwrap_err()
            .starts_with("name part must consist of alphanumeric characters"));
        assert_eq!(
            label_key_errors(&"a".repeat(64)),
            vec!["name part must be no more than 63 characters".to_string()]
        );
    }

    #[test]
    fn label_values() {
        assert!(validate_label_value("").is_ok());
        assert!(validate_label_value("v1.2_3-x").is_ok());
        assert_eq!(
            validate_label_value("-x").unwrap_err(),
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        assert!(validate_label_value(&"a".repeat(64)).is_err());
    }
}
