//! Registry mirrors, as containerd's `hosts.toml` (`[host."…"]` entries before the
//! `server`) and podman's `registries.conf` (`[[registry.mirror]]`) have them: an
//! air-gapped machine can run manifests naming public images (`docker.io/alpine/git`,
//! `gcr.io/…`) by pulling them from a local registry instead.
//!
//! For an image whose registry matches, every registry request (tag resolution,
//! manifests, blobs) goes to each matching mirror in the order given, and to the
//! upstream registry last; the first endpoint that answers successfully wins. The
//! image keeps its original name: the digest and the local index entries name the
//! upstream registry, as they would without a mirror.
//!
//! Mirrors are spoken to anonymously (the pull secret of an image is for its upstream
//! registry and is not sent elsewhere).

use std::fmt;
use std::str::FromStr;

use crate::reference::{is_loopback_registry, DOCKER_HUB};
use crate::ImageError;

/// A mirror for one registry: `docker.io=http://127.0.0.1:5000`.
///
/// `registry` is the registry as images name it (`docker.io`, `gcr.io`,
/// `127.0.0.1:5000`); `index.docker.io` and `registry-1.docker.io` mean `docker.io`,
/// as in image references, and `*` matches every registry. `endpoint` is where the
/// mirror's distribution API is:
///
/// - `host[:port]`: HTTPS, or plain HTTP when the host is on loopback or is listed in
///   [`StoreOptions::insecure_registries`](crate::StoreOptions) (as for registries);
/// - `http://host[:port]` / `https://host[:port]`: that scheme, explicitly;
/// - an optional path, containerd-style: `/v2` is appended to it
///   (`https://h/cache` → `https://h/cache/v2/<repo>/…`), unless it already has a `v2`
///   segment, in which case it is the API root as is and what follows it is a
///   repository prefix (`http://h:5000/v2/hub` → `http://h:5000/v2/hub/<repo>/…`, the
///   way Harbor proxy-cache projects are addressed).
///
/// The repository is the normalised one: `docker.io/nginx` is fetched from the mirror as
/// `library/nginx`, like Docker Hub pull-through caches store it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mirror {
    /// The registry mirrored (`docker.io`, `gcr.io`, `host:port`, or `*` for all).
    pub registry: String,
    /// Where the mirror is: `host[:port]` or `http(s)://host[:port][/path]`.
    pub endpoint: String,
}

impl Mirror {
    /// Parses `REGISTRY=ENDPOINT` (the `--registry-mirror` flag's value), e.g.
    /// `docker.io=http://127.0.0.1:5000` or `gcr.io=mirror.internal:5000`, checking both
    /// sides; the registry is normalised (`index.docker.io` → `docker.io`).
    pub fn parse(s: &str) -> Result<Mirror, ImageError> {
        let invalid = |reason: String| ImageError::InvalidMirror {
            mirror: s.to_string(),
            reason,
        };
        let Some((registry, endpoint)) = s.split_once('=') else {
            return Err(invalid(
                "expected REGISTRY=ENDPOINT, e.g. docker.io=http://127.0.0.1:5000".into(),
            ));
        };
        let mirror = Mirror {
            registry: normalise_registry(registry.trim()).map_err(invalid)?,
            endpoint: endpoint.trim().to_string(),
        };
        ParsedEndpoint::parse(&mirror.endpoint).map_err(invalid)?;
        Ok(mirror)
    }

    /// True when images of `registry` (as [`ImageRef::registry`](crate::ImageRef) has
    /// it, i.e. normalised) go through this mirror.
    pub fn matches(&self, registry: &str) -> bool {
        match normalise_registry(&self.registry) {
            Ok(r) => r == "*" || r.eq_ignore_ascii_case(registry),
            Err(_) => false,
        }
    }
}

impl FromStr for Mirror {
    type Err = ImageError;

    fn from_str(s: &str) -> Result<Mirror, ImageError> {
        Mirror::parse(s)
    }
}

impl fmt::Display for Mirror {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.registry, self.endpoint)
    }
}

/// `docker.io` for Docker Hub's aliases; checks the registry is a bare `host[:port]`.
fn normalise_registry(registry: &str) -> Result<String, String> {
    if registry.is_empty() {
        return Err("the registry is empty (e.g. docker.io)".into());
    }
    if registry == "*" {
        return Ok(registry.to_string());
    }
    if registry.contains("://") || registry.contains('/') {
        return Err(format!(
            "the registry {registry:?} must be a host[:port] as image names have it (e.g. docker.io), without scheme or path"
        ));
    }
    if registry.chars().any(|c| c.is_whitespace() || c == '@') {
        return Err(format!("the registry {registry:?} is not a host[:port]"));
    }
    Ok(match registry.to_ascii_lowercase().as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        _ => registry.to_string(),
    })
}

/// A mirror endpoint taken apart.
#[derive(Debug, PartialEq, Eq)]
struct ParsedEndpoint {
    /// `Some("http")`/`Some("https")` when given.
    scheme: Option<String>,
    /// `host[:port]`.
    host: String,
    /// The API root path, ending in the `v2` segment or the repository prefix after it.
    path: String,
}

impl ParsedEndpoint {
    fn parse(endpoint: &str) -> Result<ParsedEndpoint, String> {
        if endpoint.is_empty() {
            return Err("the endpoint is empty (e.g. http://127.0.0.1:5000)".into());
        }
        let (scheme, rest) = match endpoint.split_once("://") {
            Some((s, rest)) => {
                let s = s.to_ascii_lowercase();
                if s != "http" && s != "https" {
                    return Err(format!(
                        "unsupported scheme {s:?} in endpoint {endpoint:?} (http or https)"
                    ));
                }
                (Some(s), rest)
            }
            None => (None, endpoint),
        };
        if rest.contains(['?', '#']) || rest.chars().any(char::is_whitespace) {
            return Err(format!(
                "the endpoint {endpoint:?} must be [http(s)://]host[:port][/path] (no query, fragment or spaces)"
            ));
        }
        let (host, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if host.contains('@') {
            return Err(format!(
                "credentials in the endpoint {endpoint:?} are not supported (mirrors are used anonymously)"
            ));
        }
        if host.is_empty() {
            return Err(format!("the endpoint {endpoint:?} has no host"));
        }
        // The port, if any, follows the host name or the IPv6 literal's brackets.
        let port = match host.strip_prefix('[') {
            Some(v6) => match v6.split_once(']') {
                Some((_, "")) => None,
                Some((_, tail)) => match tail.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return Err(format!("bad host {host:?} in endpoint {endpoint:?}")),
                },
                None => return Err(format!("bad host {host:?} in endpoint {endpoint:?}")),
            },
            None => host.split_once(':').map(|(_, p)| p),
        };
        if let Some(p) = port {
            if p.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(format!("bad port {p:?} in endpoint {endpoint:?}"));
            }
        }
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let mut path = String::new();
        for s in &segments {
            path.push('/');
            path.push_str(s);
        }
        if !segments.contains(&"v2") {
            path.push_str("/v2");
        }
        let parsed = ParsedEndpoint {
            scheme,
            host: host.to_string(),
            path,
        };
        reqwest::Url::parse(&parsed.base_url(&[]))
            .map_err(|e| format!("the endpoint {endpoint:?} is not a valid URL: {e}"))?;
        Ok(parsed)
    }

    /// `scheme://host[:port]/…/v2[/prefix]`: the URL repositories are appended to.
    fn base_url(&self, insecure: &[String]) -> String {
        let scheme = match &self.scheme {
            Some(s) => s.as_str(),
            None if is_loopback_registry(&self.host) || insecure.contains(&self.host) => "http",
            None => "https",
        };
        format!("{scheme}://{}{}", self.host, self.path)
    }
}

/// Where one registry request goes: a mirror or the upstream registry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `scheme://host[:port]/…/v2[/prefix]`; `/<repository>/manifests/…` follows.
    pub base: String,
    /// The `host[:port]` spoken to (the key of the credentials cache).
    pub host: String,
    /// For messages: `registry ghcr.io` or `mirror http://… of docker.io`.
    pub label: String,
    /// False for the upstream registry; mirrors get no credentials.
    pub mirror: bool,
}

impl Endpoint {
    /// The upstream registry of an image, spoken to over `scheme`.
    pub fn upstream(registry: &str, api_host: &str, plain_http: bool) -> Endpoint {
        let scheme = if plain_http { "http" } else { "https" };
        Endpoint {
            base: format!("{scheme}://{api_host}/v2"),
            host: registry.to_string(),
            label: format!("registry {registry}"),
            mirror: false,
        }
    }

    /// A mirror's endpoint; `insecure` decides the scheme of a scheme-less endpoint.
    pub fn mirror(m: &Mirror, insecure: &[String]) -> Result<Endpoint, ImageError> {
        let invalid = |reason: String| ImageError::InvalidMirror {
            mirror: m.to_string(),
            reason,
        };
        normalise_registry(&m.registry).map_err(invalid)?;
        let p = ParsedEndpoint::parse(&m.endpoint).map_err(invalid)?;
        let base = p.base_url(insecure);
        Ok(Endpoint {
            label: format!(
                "mirror {} of {}",
                base.trim_end_matches("/v2"),
                if m.registry == "*" {
                    "all registries"
                } else {
                    m.registry.as_str()
                }
            ),
            base,
            host: p.host,
            mirror: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ImageRef;

    fn base(s: &str) -> String {
        Endpoint::mirror(&Mirror::parse(s).unwrap(), &["mirror.lan:5000".into()])
            .unwrap()
            .base
    }

    #[test]
    fn parses_and_normalises() {
        let m = Mirror::parse("docker.io=http://127.0.0.1:5000").unwrap();
        assert_eq!(m.registry, "docker.io");
        assert_eq!(m.endpoint, "http://127.0.0.1:5000");
        assert_eq!(m.to_string(), "docker.io=http://127.0.0.1:5000");
        assert_eq!("gcr.io=m:1".parse::<Mirror>().unwrap().registry, "gcr.io");
        for alias in [
            "index.docker.io",
            "registry-1.docker.io",
            "Registry-1.Docker.io",
        ] {
            let m = Mirror::parse(&format!("{alias}=m.lan")).unwrap();
            assert_eq!(m.registry, "docker.io", "{alias}");
        }
    }

    #[test]
    fn matches_what_image_references_normalise_to() {
        let hub = Mirror::parse("docker.io=http://127.0.0.1:5000").unwrap();
        for image in [
            "alpine/git",
            "docker.io/alpine/git:latest",
            "index.docker.io/library/nginx",
            "registry-1.docker.io/library/nginx:1",
            "nginx",
        ] {
            let r = ImageRef::parse(image).unwrap();
            assert!(hub.matches(&r.registry), "{image}");
        }
        assert!(!hub.matches("gcr.io"));
        assert!(!hub.matches("127.0.0.1:5000"));
        // A struct literal with an alias matches too.
        let literal = Mirror {
            registry: "registry-1.docker.io".into(),
            endpoint: "m".into(),
        };
        assert!(literal.matches("docker.io"));
        let gcr = Mirror::parse("gcr.io=m").unwrap();
        assert!(gcr.matches("gcr.io") && !gcr.matches("docker.io"));
        let all = Mirror::parse("*=m").unwrap();
        assert!(all.matches("docker.io") && all.matches("quay.io"));
    }

    #[test]
    fn endpoint_urls() {
        assert_eq!(
            base("docker.io=http://127.0.0.1:5000"),
            "http://127.0.0.1:5000/v2"
        );
        assert_eq!(
            base("docker.io=http://127.0.0.1:5000/"),
            "http://127.0.0.1:5000/v2"
        );
        // No scheme: loopback and insecure registries are plain HTTP, others HTTPS.
        assert_eq!(base("docker.io=127.0.0.1:5000"), "http://127.0.0.1:5000/v2");
        assert_eq!(base("docker.io=localhost"), "http://localhost/v2");
        assert_eq!(
            base("docker.io=mirror.lan:5000"),
            "http://mirror.lan:5000/v2"
        );
        assert_eq!(base("docker.io=mirror.lan"), "https://mirror.lan/v2");
        assert_eq!(
            base("docker.io=https://127.0.0.1:5000"),
            "https://127.0.0.1:5000/v2"
        );
        assert_eq!(base("docker.io=HTTP://[::1]:5000"), "http://[::1]:5000/v2");
        // A path prefix gets /v2 appended; a path with v2 is the API root as is.
        assert_eq!(base("docker.io=https://h/cache/"), "https://h/cache/v2");
        assert_eq!(
            base("docker.io=http://h:5000/v2/hub"),
            "http://h:5000/v2/hub"
        );
        assert_eq!(base("docker.io=http://h:5000/v2/"), "http://h:5000/v2");
        let ep = Endpoint::mirror(
            &Mirror::parse("docker.io=http://h:5000/v2/hub").unwrap(),
            &[],
        )
        .unwrap();
        assert_eq!(ep.host, "h:5000");
        assert!(ep.mirror);
        assert_eq!(ep.label, "mirror http://h:5000/v2/hub of docker.io");
        let up = Endpoint::upstream("docker.io", "registry-1.docker.io", false);
        assert_eq!(up.base, "https://registry-1.docker.io/v2");
        assert_eq!(up.label, "registry docker.io");
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        for (bad, why) in [
            ("docker.io", "REGISTRY=ENDPOINT"),
            ("=http://h", "registry is empty"),
            ("docker.io=", "endpoint is empty"),
            ("http://docker.io=http://h", "without scheme or path"),
            ("docker.io/library=http://h", "without scheme or path"),
            ("docker.io=ftp://h", "unsupported scheme"),
            ("docker.io=http://", "no host"),
            ("docker.io=http://h:port", "bad port"),
            ("docker.io=http://h:0", "bad port"),
            ("docker.io=http://h:99999", "bad port"),
            ("docker.io=http://u:p@h", "credentials"),
            ("docker.io=http://h/x?y=1", "no query"),
            ("docker.io=http://[::1", "bad host"),
        ] {
            let err = Mirror::parse(bad).unwrap_err();
            assert!(
                matches!(err, ImageError::InvalidMirror { .. }),
                "{bad}: {err}"
            );
            let msg = err.to_string();
            assert!(msg.contains(why), "{bad}: {msg}");
            assert!(msg.contains("invalid registry mirror"), "{bad}: {msg}");
        }
        // Struct literals are checked when the store opens.
        let bad = Mirror {
            registry: "docker.io".into(),
            endpoint: "gopher://x".into(),
        };
        assert!(Endpoint::mirror(&bad, &[]).is_err());
    }
}
