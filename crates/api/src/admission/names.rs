//! Kubernetes name checks (`k8s.io/apimachinery/pkg/util/validation`) with
//! Kubernetes' own messages, which Knative embeds in its errors.

use std::sync::LazyLock;

use regex::Regex;

const DNS1035_FMT: &str = "[a-z]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_SUBDOMAIN_FMT: &str =
    r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";
const QUALIFIED_NAME_FMT: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";

fn anchored(fmt: &str) -> Regex {
    Regex::new(&format!("^{fmt}$")).expect("valid regex")
}

static DNS1035: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1035_FMT));
static DNS1123_LABEL: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_LABEL_FMT));
static DNS1123_SUBDOMAIN: LazyLock<Regex> = LazyLock::new(|| anchored(DNS1123_SUBDOMAIN_FMT));
static QUALIFIED_NAME: LazyLock<Regex> = LazyLock::new(|| anchored(QUALIFIED_NAME_FMT));

fn regex_error(msg: &str, fmt: &str, examples: &[&str]) -> String {
    let mut s = format!("{msg} (e.g. ");
    for (i, e) in examples.iter().enumerate() {
        if i > 0 {
            s.push_str(" or ");
        }
        s.push_str(&format!("'{e}', "));
    }
    s.push_str(&format!("regex used for validation is '{fmt}')"));
    s
}

fn max_len_error(n: usize) -> String {
    format!("must be no more than {n} characters")
}

/// `validation.IsDNS1035Label`.
pub fn dns1035_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !DNS1035.is_match(value) {
        errs.push(regex_error(
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character",
            DNS1035_FMT,
            &["my-name", "abc-123"],
        ));
    }
    errs
}

/// `validation.NameIsDNS1035Label(name, prefix)`: with `prefix`, a trailing
/// dash is allowed (generateName).
pub fn name_is_dns1035_label(name: &str, prefix: bool) -> Vec<String> {
    if prefix && name.ends_with('-') {
        let masked = format!("{}a", &name[..name.len() - 1]);
        return dns1035_label(&masked);
    }
    dns1035_label(name)
}

/// `validation.IsDNS1123Label`.
pub fn dns1123_label(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(max_len_error(63));
    }
    if !DNS1123_LABEL.is_match(value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
            DNS1123_LABEL_FMT,
            &["my-name", "123-abc"],
        ));
    }
    errs
}

/// `validation.IsDNS1123Subdomain`.
pub fn dns1123_subdomain(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if value.len() > 253 {
        errs.push(max_len_error(253));
    }
    if !DNS1123_SUBDOMAIN.is_match(value) {
        errs.push(regex_error(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            DNS1123_SUBDOMAIN_FMT,
            &["example.com"],
        ));
    }
    errs
}

/// `validation.IsQualifiedName` (e.g. label keys, revision names).
pub fn qualified_name(value: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let parts: Vec<&str> = value.split('/').collect();
    let name = match parts.as_slice() {
        [name] => *name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                errs.extend(
                    dns1123_subdomain(prefix)
                        .into_iter()
                        .map(|m| format!("prefix part {m}")),
                );
            }
            name
        }
        _ => {
            errs.push(regex_error(
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"],
            ) + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')");
            return errs;
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push(format!("name part {}", max_len_error(63)));
    }
    if !name.is_empty() && !QUALIFIED_NAME.is_match(name) {
        errs.push(format!(
            "name part {}",
            regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
                QUALIFIED_NAME_FMT,
                &["MyName", "my.name", "123-abc"],
            )
        ));
    }
    errs
}

/// Go's `fmt.Sprint(msgs)` for a `[]string`: `[a b]`.
pub fn go_list(msgs: &[String]) -> String {
    format!("[{}]", msgs.join(" "))
}

/// A light version of go-containerregistry's `name.ParseReference(..., WeakValidation)`.
/// Returns the parse error, if any.
pub fn parse_image_reference(image: &str) -> Result<(), String> {
    if image.is_empty() {
        return Err("could not parse reference: empty".into());
    }
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("could not parse reference: {image}"));
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let ok = d
            .split_once(':')
            .map(|(alg, hex)| {
                !alg.is_empty()
                    && alg
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+._-".contains(c))
                    && hex.len() >= 32
                    && hex.chars().all(|c| c.is_ascii_hexdigit())
            })
            .unwrap_or(false);
        if !ok {
            return Err(format!("could not parse reference: {image}"));
        }
    }
    // A tag is the part after the last ':' if that ':' is after the last '/'.
    let (repo, tag) = match name.rfind(':') {
        Some(i) if name.rfind('/').map(|s| i > s).unwrap_or(true) => {
            (&name[..i], Some(&name[i + 1..]))
        }
        _ => (name, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
            && !tag.starts_with(['.', '-']);
        if !ok {
            return Err(format!("tag can only contain the characters `abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.`: {tag}"));
        }
    }
    // Registry is the first component when it looks like a host.
    let path = match repo.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            if !first
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            {
                return Err(format!(
                    "registries must be valid RFC 3986 URI authorities: {first}"
                ));
            }
            rest
        }
        _ => repo,
    };
    if path.is_empty()
        || !path
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-./".contains(c))
        || path.split('/').any(|c| c.is_empty())
    {
        return Err(format!(
            "repository can only contain the characters `abcdefghijklmnopqrstuvwxyz0123456789_-./`: {path}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(dns1035_label("hello-world").is_empty());
        assert_eq!(dns1035_label("1abc").len(), 1);
        assert_eq!(
            dns1035_label(&"a".repeat(64)),
            vec!["must be no more than 63 characters".to_string()]
        );
        assert!(dns1123_label("1abc").is_empty());
        assert!(name_is_dns1035_label("hello-", true).is_empty());
        assert!(!name_is_dns1035_label("hello-", false).is_empty());
        assert!(dns1123_subdomain("default.sa").is_empty());
        assert!(qualified_name("hello-00001").is_empty());
        assert!(qualified_name("example.com/Foo").is_empty());
        assert!(!qualified_name("-x").is_empty());
    }

    #[test]
    fn image_references() {
        for ok in [
            "gcr.io/knative-samples/helloworld-go",
            "ghcr.io/knative/helloworld-go:latest",
            "localhost:5000/app:v1",
            "nginx",
            "library/nginx:1.25",
            "registry.example.com:443/team/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(parse_image_reference(ok), Ok(()), "{ok}");
        }
        for bad in ["Nginx", "nginx:", "a b", "app@sha256:xyz", "foo//bar"] {
            assert!(parse_image_reference(bad).is_err(), "{bad}");
        }
    }
}
