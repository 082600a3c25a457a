//! A run's `podTemplate` (Tekton's `pod.Template`) as it applies to a task pod on one
//! machine: `env` (for every container, over the steps' own, as in Tekton),
//! `securityContext.runAsUser`/`runAsGroup`/`runAsNonRoot` (defaults for containers
//! that set none), `imagePullSecrets`, `hostAliases` (`/etc/hosts` entries), `volumes`
//! (for the steps' `volumeMounts`) and `automountServiceAccountToken: false`.
//! Scheduling fields (`nodeSelector`, `tolerations`, `affinity`, `priorityClassName`,
//! `schedulerName`, `topologySpreadConstraints`, `runtimeClassName`) have nothing to
//! choose between on one machine and are not used.

use k8s_openapi::api::core::v1::{
    Container, HostAlias, LocalObjectReference, SecurityContext, Volume,
};
use serde_json::Value;
use skiff_api::tekton::v1::PodTemplate;

/// What a task pod takes from its run's `podTemplate`.
#[derive(Clone, Debug, Default)]
pub struct PodSettings {
    template: PodTemplate,
    run_as_user: Option<i64>,
    run_as_group: Option<i64>,
    run_as_non_root: Option<bool>,
    /// `imagePullSecrets` names.
    pub image_pull_secrets: Vec<String>,
    /// `hostAliases` as `(hostname, ip)`.
    pub host_aliases: Vec<(String, std::net::IpAddr)>,
    /// `automountServiceAccountToken` (default true).
    pub mount_service_account_token: bool,
}

fn field<T: serde::de::DeserializeOwned>(t: &PodTemplate, name: &str) -> Result<Option<T>, String> {
    match t.extra.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| format!("podTemplate.{name}: {e}")),
    }
}

impl PodSettings {
    /// Reads a run's pod template (`None`: the defaults). An ill-formed field or a
    /// `hostAliases` IP that is not an address is an error naming it.
    pub fn new(template: Option<&PodTemplate>) -> Result<PodSettings, String> {
        let Some(t) = template else {
            return Ok(PodSettings {
                mount_service_account_token: true,
                ..Default::default()
            });
        };
        let sc: Option<k8s_openapi::api::core::v1::PodSecurityContext> =
            field(t, "securityContext")?;
        let secrets: Option<Vec<LocalObjectReference>> = field(t, "imagePullSecrets")?;
        let aliases: Option<Vec<HostAlias>> = field(t, "hostAliases")?;
        let mut host_aliases = Vec::new();
        for (i, a) in aliases.unwrap_or_default().into_iter().enumerate() {
            let ip = a.ip.parse().map_err(|_| {
                format!(
                    "podTemplate.hostAliases[{i}].ip: {:?} is not an IP address",
                    a.ip
                )
            })?;
            for h in a.hostnames.unwrap_or_default() {
                host_aliases.push((h, ip));
            }
        }
        Ok(PodSettings {
            template: t.clone(),
            run_as_user: sc.as_ref().and_then(|s| s.run_as_user),
            run_as_group: sc.as_ref().and_then(|s| s.run_as_group),
            run_as_non_root: sc.as_ref().and_then(|s| s.run_as_non_root),
            image_pull_secrets: secrets
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.name)
                .filter(|n| !n.is_empty())
                .collect(),
            host_aliases,
            mount_service_account_token: field::<bool>(t, "automountServiceAccountToken")?
                .unwrap_or(true),
        })
    }

    /// The template's volumes (added to the Task's, for `volumeMounts`).
    pub fn volumes(&self) -> &[Volume] {
        &self.template.volumes
    }

    /// Applies the template's env and security defaults to one container.
    pub fn apply(&self, c: &mut Container) {
        if !self.template.env.is_empty() {
            let env = c.env.get_or_insert_with(Vec::new);
            for e in &self.template.env {
                env.retain(|x| x.name != e.name);
                env.push(e.clone());
            }
        }
        if self.run_as_user.is_some()
            || self.run_as_group.is_some()
            || self.run_as_non_root.is_some()
        {
            let sc = c
                .security_context
                .get_or_insert_with(SecurityContext::default);
            if sc.run_as_user.is_none() {
                sc.run_as_user = self.run_as_user;
            }
            if sc.run_as_group.is_none() {
                sc.run_as_group = self.run_as_group;
            }
            if sc.run_as_non_root.is_none() {
                sc.run_as_non_root = self.run_as_non_root;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_fields_apply_to_containers() {
        let t: PodTemplate = serde_json::from_value(serde_json::json!({
            "env": [{"name": "A", "value": "template"}],
            "securityContext": {"runAsUser": 1000},
            "imagePullSecrets": [{"name": "regcred"}],
            "hostAliases": [{"ip": "10.0.0.9", "hostnames": ["git.local"]}],
            "automountServiceAccountToken": false,
            "nodeSelector": {"disk": "ssd"},
        }))
        .unwrap();
        let s = PodSettings::new(Some(&t)).unwrap();
        assert_eq!(s.image_pull_secrets, ["regcred"]);
        assert_eq!(
            s.host_aliases,
            [("git.local".to_string(), "10.0.0.9".parse().unwrap())]
        );
        assert!(!s.mount_service_account_token);
        let mut c: Container = serde_json::from_value(serde_json::json!({
            "name": "step-x", "env": [{"name": "A", "value": "step"}, {"name": "B", "value": "b"}],
            "securityContext": {"runAsGroup": 5},
        }))
        .unwrap();
        s.apply(&mut c);
        let env = c.env.unwrap();
        assert_eq!(
            env.iter().find(|e| e.name == "A").unwrap().value.as_deref(),
            Some("template")
        );
        assert_eq!(env.len(), 2);
        let sc = c.security_context.unwrap();
        assert_eq!((sc.run_as_user, sc.run_as_group), (Some(1000), Some(5)));

        let bad: PodTemplate = serde_json::from_value(
            serde_json::json!({"hostAliases": [{"ip": "nope", "hostnames": ["x"]}]}),
        )
        .unwrap();
        assert!(PodSettings::new(Some(&bad))
            .unwrap_err()
            .contains("hostAliases[0].ip"));
        assert!(PodSettings::new(None).unwrap().mount_service_account_token);
    }
}
