//! Resource discovery and kubectl-style resolution of KIND arguments (`ksvc`,
//! `services`, `Service`, `services.serving.knative.dev`) and of manifests'
//! apiVersion/kind to the REST resource that serves them.

use anyhow::{anyhow, Result};
use kube::core::{ApiResource, DynamicObject};
use kube::{Client, Resource};

/// One served resource type, as discovery describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceInfo {
    /// Group, version, kind and plural, in kube's form.
    pub ar: ApiResource,
    /// Namespaced (true) or cluster-scoped.
    pub namespaced: bool,
    /// Lowercase singular name (may be empty in discovery; then the lowercased kind).
    pub singular: String,
    /// Short names such as `ksvc`.
    pub short_names: Vec<String>,
    /// Whether this is the group's preferred version (used to resolve KIND arguments).
    pub preferred: bool,
}

impl ResourceInfo {
    /// kubectl's `kind.group` name used in `service.serving.knative.dev/hello` (just
    /// `configmap` for the core group).
    pub fn kind_group(&self) -> String {
        let kind = self.ar.kind.to_lowercase();
        if self.ar.group.is_empty() {
            kind
        } else {
            format!("{kind}.{}", self.ar.group)
        }
    }

    /// `plural.group`, as kube-apiserver names a resource in messages.
    #[cfg(test)]
    pub fn plural_group(&self) -> String {
        if self.ar.group.is_empty() {
            self.ar.plural.clone()
        } else {
            format!("{}.{}", self.ar.plural, self.ar.group)
        }
    }

    /// The collection URL path, in `namespace` when the resource is namespaced
    /// (`None` → across all namespaces).
    pub fn url_path(&self, namespace: Option<&str>) -> String {
        let ns = if self.namespaced { namespace } else { None };
        DynamicObject::url_path(&self.ar, ns)
    }

    fn singular_name(&self) -> String {
        if self.singular.is_empty() {
            self.ar.kind.to_lowercase()
        } else {
            self.singular.clone()
        }
    }
}

/// Every resource type the server serves.
#[derive(Clone, Debug, Default)]
pub struct Resources {
    /// All group-versions' resources (subresources excluded).
    pub list: Vec<ResourceInfo>,
}

impl Resources {
    /// Reads the discovery documents (`/api/v1`, `/apis`, `/apis/G/V`).
    pub async fn discover(client: &Client) -> Result<Resources> {
        let mut list = Vec::new();
        let core = client.list_core_api_resources("v1").await?;
        push_resources(&mut list, "", "v1", true, core);
        let groups = client.list_api_groups().await?;
        let mut fetches = Vec::new();
        for g in groups.groups {
            let preferred = g
                .preferred_version
                .as_ref()
                .map(|p| p.version.clone())
                .or_else(|| g.versions.first().map(|v| v.version.clone()));
            for v in g.versions {
                let is_pref = preferred.as_deref() == Some(v.version.as_str());
                let (name, ver, gv) = (g.name.clone(), v.version.clone(), v.group_version.clone());
                fetches.push(async move {
                    (
                        name,
                        ver,
                        is_pref,
                        client.list_api_group_resources(&gv).await,
                    )
                });
            }
        }
        for (group, version, is_pref, res) in futures::future::join_all(fetches).await {
            push_resources(&mut list, &group, &version, is_pref, res?);
        }
        Ok(Resources { list })
    }

    /// Resolves a KIND argument like kubectl: plural, singular, short name or kind
    /// (case-insensitive), optionally qualified as `resource.group` or
    /// `resource.version.group`. Ties prefer the core group, then groups alphabetically.
    pub fn resolve(&self, arg: &str) -> Result<&ResourceInfo> {
        let lower = arg.to_lowercase();
        let mut attempts: Vec<(String, Option<String>, Option<String>)> =
            vec![(lower.clone(), None, None)];
        if let Some((res, rest)) = lower.split_once('.') {
            attempts.push((res.to_string(), None, Some(rest.to_string())));
            if let Some((ver, group)) = rest.split_once('.') {
                attempts.push((
                    res.to_string(),
                    Some(ver.to_string()),
                    Some(group.to_string()),
                ));
            }
        }
        for (name, version, group) in attempts {
            let candidates: Vec<&ResourceInfo> = self
                .list
                .iter()
                .filter(|r| match (&version, &group) {
                    (Some(v), Some(g)) => &r.ar.version == v && &r.ar.group == g,
                    (None, Some(g)) => r.preferred && &r.ar.group == g,
                    _ => r.preferred,
                })
                .collect();
            let levels: [&dyn Fn(&ResourceInfo) -> bool; 3] = [
                &|r| r.ar.plural == name || r.singular_name() == name,
                &|r| r.short_names.iter().any(|s| s.eq_ignore_ascii_case(&name)),
                &|r| r.ar.kind.to_lowercase() == name,
            ];
            for matches in levels {
                let mut found: Vec<&ResourceInfo> =
                    candidates.iter().copied().filter(|r| matches(r)).collect();
                found.sort_by(|a, b| {
                    (!a.ar.group.is_empty(), &a.ar.group)
                        .cmp(&(!b.ar.group.is_empty(), &b.ar.group))
                });
                if let Some(r) = found.first() {
                    return Ok(r);
                }
            }
        }
        Err(anyhow!("the server doesn't have a resource type \"{arg}\""))
    }

    /// The resource serving `kind` in `apiVersion` (exact version).
    pub fn for_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceInfo> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        self.list
            .iter()
            .find(|r| r.ar.group == group && r.ar.version == version && r.ar.kind == kind)
    }
}

fn push_resources(
    out: &mut Vec<ResourceInfo>,
    group: &str,
    version: &str,
    preferred: bool,
    list: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList,
) {
    for r in list.resources {
        if r.name.contains('/') {
            continue;
        }
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        out.push(ResourceInfo {
            ar: ApiResource {
                group: group.into(),
                version: version.into(),
                api_version,
                kind: r.kind,
                plural: r.name,
            },
            namespaced: r.namespaced,
            singular: r.singular_name,
            short_names: r.short_names.unwrap_or_default(),
            preferred,
        });
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn info(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        short: &[&str],
        namespaced: bool,
        preferred: bool,
    ) -> ResourceInfo {
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        ResourceInfo {
            ar: ApiResource {
                group: group.into(),
                version: version.into(),
                api_version,
                kind: kind.into(),
                plural: plural.into(),
            },
            namespaced,
            singular: kind.to_lowercase(),
            short_names: short.iter().map(|s| s.to_string()).collect(),
            preferred,
        }
    }

    /// A small registry like skiff's.
    pub(crate) fn sample() -> Resources {
        Resources {
            list: vec![
                info("", "v1", "ConfigMap", "configmaps", &["cm"], true, true),
                info("", "v1", "Namespace", "namespaces", &["ns"], false, true),
                info("", "v1", "Event", "events", &["ev"], true, true),
                info(
                    "serving.knative.dev",
                    "v1",
                    "Service",
                    "services",
                    &["ksvc", "ksvcs"],
                    true,
                    true,
                ),
                info(
                    "serving.knative.dev",
                    "v1",
                    "Configuration",
                    "configurations",
                    &["config", "cfg"],
                    true,
                    true,
                ),
                info(
                    "serving.knative.dev",
                    "v1",
                    "Revision",
                    "revisions",
                    &["rev"],
                    true,
                    true,
                ),
                info(
                    "serving.knative.dev",
                    "v1",
                    "Route",
                    "routes",
                    &["rt"],
                    true,
                    true,
                ),
                info("tekton.dev", "v1", "Task", "tasks", &[], true, true),
                info("tekton.dev", "v1beta1", "Task", "tasks", &[], true, false),
                info(
                    "zz.example.com",
                    "v1",
                    "Service",
                    "services",
                    &[],
                    true,
                    true,
                ),
            ],
        }
    }

    #[test]
    fn resolves_like_kubectl() {
        let r = sample();
        let g = |a: &str| r.resolve(a).map(|i| i.plural_group()).unwrap();
        assert_eq!(g("ksvc"), "services.serving.knative.dev");
        assert_eq!(g("services"), "services.serving.knative.dev");
        assert_eq!(g("service"), "services.serving.knative.dev");
        assert_eq!(g("Service"), "services.serving.knative.dev");
        assert_eq!(
            g("services.serving.knative.dev"),
            "services.serving.knative.dev"
        );
        assert_eq!(g("services.zz.example.com"), "services.zz.example.com");
        assert_eq!(g("cm"), "configmaps");
        assert_eq!(g("ConfigMap"), "configmaps");
        assert_eq!(g("ns"), "namespaces");
        assert_eq!(g("cfg"), "configurations.serving.knative.dev");
        assert_eq!(g("rev"), "revisions.serving.knative.dev");
        assert_eq!(g("rt"), "routes.serving.knative.dev");
        assert_eq!(
            r.resolve("tasks.v1beta1.tekton.dev").unwrap().ar.version,
            "v1beta1"
        );
        assert_eq!(r.resolve("tasks").unwrap().ar.version, "v1");
        assert_eq!(
            r.resolve("foo").unwrap_err().to_string(),
            "the server doesn't have a resource type \"foo\""
        );
    }

    #[test]
    fn names_and_kinds() {
        let r = sample();
        let ksvc = r.for_kind("serving.knative.dev/v1", "Service").unwrap();
        assert_eq!(ksvc.kind_group(), "service.serving.knative.dev");
        assert_eq!(
            ksvc.url_path(Some("default")),
            "/apis/serving.knative.dev/v1/namespaces/default/services"
        );
        let cm = r.for_kind("v1", "ConfigMap").unwrap();
        assert_eq!(cm.kind_group(), "configmap");
        assert_eq!(
            r.for_kind("v1", "Namespace").unwrap().url_path(Some("x")),
            "/api/v1/namespaces"
        );
        assert!(r.for_kind("x/v1", "Foo").is_none());
    }
}
