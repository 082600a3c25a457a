//! Route hostnames and URLs, and Knative's `config-domain` ConfigMap: each key is a
//! domain, each value either "" (the default) or a `selector:` of Route labels.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::labels::{LEGACY_VISIBILITY_LABEL, VISIBILITY_CLUSTER_LOCAL, VISIBILITY_LABEL};
use crate::Ctx;

/// Name of Knative's domain ConfigMap.
pub const CONFIG_DOMAIN: &str = "config-domain";
/// The domain of cluster-local addresses.
pub const CLUSTER_LOCAL_DOMAIN: &str = "svc.cluster.local";

/// Which domain a Route gets (Knative's `config.Domain`).
#[derive(Clone, Debug, PartialEq)]
pub struct DomainConfig {
    /// domain → label selector (empty = matches every Route).
    domains: BTreeMap<String, BTreeMap<String, String>>,
}

impl DomainConfig {
    /// Every Route gets `default`.
    pub fn new(default: &str) -> Self {
        DomainConfig {
            domains: BTreeMap::from([(default.to_string(), BTreeMap::new())]),
        }
    }

    /// From `config-domain`'s data; `default` when it names no domain. Keys starting
    /// with `_` (Knative's `_example`) are ignored, as are values that do not parse.
    pub fn from_data(data: Option<&BTreeMap<String, String>>, default: &str) -> Self {
        let mut domains = BTreeMap::new();
        for (k, v) in data.into_iter().flatten() {
            if k.starts_with('_') {
                continue;
            }
            let selector = if v.trim().is_empty() {
                BTreeMap::new()
            } else {
                #[derive(serde::Deserialize)]
                struct Value {
                    #[serde(default)]
                    selector: BTreeMap<String, String>,
                }
                match serde_yaml::from_str::<Value>(v) {
                    Ok(v) => v.selector,
                    Err(e) => {
                        tracing::warn!(domain = %k, error = %e, "ignoring unparsable config-domain entry");
                        continue;
                    }
                }
            };
            domains.insert(k.clone(), selector);
        }
        if domains.is_empty() {
            return DomainConfig::new(default);
        }
        DomainConfig { domains }
    }

    /// Knative's `LookupDomainForLabels`: cluster-local Routes get `svc.cluster.local`;
    /// otherwise the matching domain with the most specific selector (ties: the
    /// alphabetically first). `None` when no entry matches.
    pub fn domain_for(&self, labels: &BTreeMap<String, String>) -> Option<String> {
        if is_cluster_local(labels) {
            return Some(CLUSTER_LOCAL_DOMAIN.into());
        }
        let mut best: Option<(&String, usize)> = None;
        for (domain, selector) in &self.domains {
            if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                continue;
            }
            // BTreeMap order makes the first of equally specific domains win.
            if best.is_none_or(|(_, n)| selector.len() > n) {
                best = Some((domain, selector.len()));
            }
        }
        best.map(|(d, _)| d.clone())
    }
}

/// Whether the labels keep a Route off the public gateway.
pub fn is_cluster_local(labels: &BTreeMap<String, String>) -> bool {
    [VISIBILITY_LABEL, LEGACY_VISIBILITY_LABEL]
        .iter()
        .any(|k| labels.get(*k).map(String::as_str) == Some(VISIBILITY_CLUSTER_LOCAL))
}

/// `{route}.{namespace}.{domain}`.
pub fn route_host(route: &str, namespace: &str, domain: &str) -> String {
    format!("{route}.{namespace}.{domain}")
}

/// `{tag}-{route}.{namespace}.{domain}`.
pub fn tag_host(tag: &str, route: &str, namespace: &str, domain: &str) -> String {
    format!("{tag}-{route}.{namespace}.{domain}")
}

/// `http://{host}[:{port}]`.
pub fn http_url(host: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("http://{host}:{p}"),
        None => format!("http://{host}"),
    }
}

/// Keeps `tx` in step with `config-domain` in the system namespace, so Routes pick up
/// new domains without a restart (the Route controller re-reconciles on every change).
pub(crate) async fn watch_config_domain(ctx: Arc<Ctx>, tx: watch::Sender<Arc<DomainConfig>>) {
    let default = ctx.options.domain.clone();
    crate::config_map::follow_config_map(
        ctx.client.clone(),
        &ctx.options.system_namespace,
        CONFIG_DOMAIN,
        |data| {
            let next = DomainConfig::from_data(data, &default);
            tx.send_if_modified(|cur| {
                if **cur == next {
                    false
                } else {
                    *cur = Arc::new(next);
                    true
                }
            });
        },
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn domain_lookup() {
        let data = labels(&[
            ("example.com", ""),
            ("example.org", "selector:\n  app: nonprofit\n"),
            ("_example", "docs"),
        ]);
        let d = DomainConfig::from_data(Some(&data), "localhost");
        assert_eq!(d.domain_for(&labels(&[])).as_deref(), Some("example.com"));
        assert_eq!(
            d.domain_for(&labels(&[("app", "nonprofit")])).as_deref(),
            Some("example.org")
        );
        assert_eq!(
            d.domain_for(&labels(&[(VISIBILITY_LABEL, "cluster-local")]))
                .as_deref(),
            Some("svc.cluster.local")
        );
        let d = DomainConfig::from_data(None, "localhost");
        assert_eq!(d.domain_for(&labels(&[])).as_deref(), Some("localhost"));
    }

    #[test]
    fn urls() {
        assert_eq!(
            http_url(&route_host("hello", "default", "localhost"), Some(8080)),
            "http://hello.default.localhost:8080"
        );
    }
}
