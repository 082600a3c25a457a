//! What an instance of a Revision is made of: the serving container (with ConfigMap and
//! Secret references resolved, since the runtime does not read API objects), its port,
//! Knative's pod labels, the platform environment and the files of its volumes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, EnvVar, KeyToPath, Secret};
use kube::api::Api;
use kube::ResourceExt;
use skiff_api::v1::{Revision, RevisionSpec};
use skiff_runtime::FileMount;

use crate::labels::{
    label, CONFIGURATION_LABEL, REVISION_LABEL, REVISION_UID_LABEL, SERVICE_LABEL,
};

/// The port an app listens on when its container declares none.
pub const DEFAULT_PORT: u16 = 8080;

/// Everything of an instance but its image and pod name.
pub(crate) struct Prepared {
    pub container: Container,
    pub port: u16,
    pub labels: BTreeMap<String, String>,
    pub platform_env: Vec<(String, String)>,
    pub file_mounts: Vec<FileMount>,
}

/// Why an instance cannot be described yet (e.g. a missing ConfigMap), as a
/// Kubernetes-style reason and a message.
pub(crate) struct ConfigError {
    pub reason: &'static str,
    pub message: String,
}

/// The container that serves traffic: the one with a port, else the only (first) one.
pub(crate) fn serving_container(spec: &RevisionSpec) -> Option<&Container> {
    spec.containers
        .iter()
        .find(|c| c.ports.as_ref().is_some_and(|p| !p.is_empty()))
        .or_else(|| spec.containers.first())
}

/// `containerPort` of the serving container, or 8080.
pub(crate) fn container_port(c: &Container) -> u16 {
    c.ports
        .iter()
        .flatten()
        .next()
        .and_then(|p| u16::try_from(p.container_port).ok())
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_PORT)
}

/// Pod labels as Knative sets them: the Revision's labels plus revision, revisionUID
/// and `app`.
pub(crate) fn pod_labels(rev: &Revision) -> BTreeMap<String, String> {
    let mut labels = rev.labels().clone();
    let name = rev.name_any();
    labels.insert(REVISION_LABEL.into(), name.clone());
    labels.insert(REVISION_UID_LABEL.into(), rev.uid().unwrap_or_default());
    labels.insert("app".into(), name);
    labels
}

/// Builds the instance description of `rev`, reading the ConfigMaps and Secrets it
/// refers to.
pub(crate) async fn prepare(
    client: &kube::Client,
    rev: &Revision,
) -> Result<Result<Prepared, ConfigError>, kube::Error> {
    let ns = rev.namespace().unwrap_or_default();
    let Some(container) = serving_container(&rev.spec) else {
        return Ok(Err(ConfigError {
            reason: "NoContainer",
            message: "the revision has no container".into(),
        }));
    };
    let mut container = container.clone();
    let port = container_port(&container);
    let mut refs = Refs::new(client, &ns);

    // envFrom first, then env (which wins), with every reference resolved.
    let mut env: Vec<EnvVar> = vec![];
    for src in container.env_from.take().into_iter().flatten() {
        let prefix = src.prefix.clone().unwrap_or_default();
        let data = if let Some(r) = &src.config_map_ref {
            match refs
                .config_map(&r.name, r.optional.unwrap_or(false))
                .await?
            {
                Ok(d) => d,
                Err(e) => return Ok(Err(e)),
            }
        } else if let Some(r) = &src.secret_ref {
            match refs.secret(&r.name, r.optional.unwrap_or(false)).await? {
                Ok(d) => d,
                Err(e) => return Ok(Err(e)),
            }
        } else {
            BTreeMap::new()
        };
        for (k, v) in data {
            set_env(
                &mut env,
                format!("{prefix}{k}"),
                String::from_utf8_lossy(&v).into(),
            );
        }
    }
    for var in container.env.take().into_iter().flatten() {
        let value = match var.value_from.as_ref() {
            None => var.value.clone().unwrap_or_default(),
            Some(from) => {
                if let Some(r) = &from.config_map_key_ref {
                    let optional = r.optional.unwrap_or(false);
                    match refs.config_map(&r.name, optional).await? {
                        Ok(d) => match d.get(&r.key) {
                            Some(v) => String::from_utf8_lossy(v).into(),
                            None if optional => continue,
                            None => {
                                return Ok(Err(ConfigError {
                                    reason: "CreateContainerConfigError",
                                    message: format!(
                                        "couldn't find key {} in ConfigMap {ns}/{}",
                                        r.key, r.name
                                    ),
                                }))
                            }
                        },
                        Err(e) => return Ok(Err(e)),
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    let optional = r.optional.unwrap_or(false);
                    match refs.secret(&r.name, optional).await? {
                        Ok(d) => match d.get(&r.key) {
                            Some(v) => String::from_utf8_lossy(v).into(),
                            None if optional => continue,
                            None => {
                                return Ok(Err(ConfigError {
                                    reason: "CreateContainerConfigError",
                                    message: format!(
                                        "couldn't find key {} in Secret {ns}/{}",
                                        r.key, r.name
                                    ),
                                }))
                            }
                        },
                        Err(e) => return Ok(Err(e)),
                    }
                } else if let Some(f) = &from.field_ref {
                    match f.field_path.as_str() {
                        "metadata.namespace" => ns.clone(),
                        _ => {
                            // Fields only the runtime knows (pod name, IP) stay references.
                            env.push(var.clone());
                            continue;
                        }
                    }
                } else {
                    env.push(var.clone());
                    continue;
                }
            }
        };
        set_env(&mut env, var.name.clone(), value);
    }
    container.env = (!env.is_empty()).then_some(env);

    // Volumes.
    let mut file_mounts = vec![];
    let volumes = rev.spec.volumes.clone().unwrap_or_default();
    for mount in container.volume_mounts.iter().flatten() {
        let Some(vol) = volumes.iter().find(|v| v.name == mount.name) else {
            continue;
        };
        let mut files = BTreeMap::new();
        if let Some(cm) = &vol.config_map {
            match refs
                .config_map(&cm.name, cm.optional.unwrap_or(false))
                .await?
            {
                Ok(d) => project(&mut files, d, cm.items.as_deref()),
                Err(e) => return Ok(Err(e)),
            }
        } else if let Some(s) = &vol.secret {
            let name = s.secret_name.clone().unwrap_or_default();
            match refs.secret(&name, s.optional.unwrap_or(false)).await? {
                Ok(d) => project(&mut files, d, s.items.as_deref()),
                Err(e) => return Ok(Err(e)),
            }
        } else if let Some(p) = &vol.projected {
            for src in p.sources.iter().flatten() {
                if let Some(cm) = &src.config_map {
                    match refs
                        .config_map(&cm.name, cm.optional.unwrap_or(false))
                        .await?
                    {
                        Ok(d) => project(&mut files, d, cm.items.as_deref()),
                        Err(e) => return Ok(Err(e)),
                    }
                }
                if let Some(s) = &src.secret {
                    match refs.secret(&s.name, s.optional.unwrap_or(false)).await? {
                        Ok(d) => project(&mut files, d, s.items.as_deref()),
                        Err(e) => return Ok(Err(e)),
                    }
                }
            }
        } else {
            continue;
        }
        file_mounts.push(FileMount {
            mount_path: mount.mount_path.clone(),
            files,
        });
    }

    let platform_env = vec![
        ("PORT".to_string(), port.to_string()),
        ("K_REVISION".to_string(), rev.name_any()),
        (
            "K_CONFIGURATION".to_string(),
            label(&rev.metadata, CONFIGURATION_LABEL).to_string(),
        ),
        (
            "K_SERVICE".to_string(),
            label(&rev.metadata, SERVICE_LABEL).to_string(),
        ),
    ];
    Ok(Ok(Prepared {
        container,
        port,
        labels: pod_labels(rev),
        platform_env,
        file_mounts,
    }))
}

fn set_env(env: &mut Vec<EnvVar>, name: String, value: String) {
    env.retain(|e| e.name != name);
    env.push(EnvVar {
        name,
        value: Some(value),
        value_from: None,
    });
}

fn project(
    files: &mut BTreeMap<String, Vec<u8>>,
    data: BTreeMap<String, Vec<u8>>,
    items: Option<&[KeyToPath]>,
) {
    match items {
        Some(items) if !items.is_empty() => {
            for item in items {
                if let Some(v) = data.get(&item.key) {
                    files.insert(item.path.clone(), v.clone());
                }
            }
        }
        _ => files.extend(data),
    }
}

/// ConfigMaps and Secrets read once per preparation.
struct Refs {
    config_maps: Api<ConfigMap>,
    secrets: Api<Secret>,
    ns: String,
}

impl Refs {
    fn new(client: &kube::Client, ns: &str) -> Self {
        Refs {
            config_maps: Api::namespaced(client.clone(), ns),
            secrets: Api::namespaced(client.clone(), ns),
            ns: ns.to_string(),
        }
    }

    async fn config_map(
        &mut self,
        name: &str,
        optional: bool,
    ) -> Result<Result<BTreeMap<String, Vec<u8>>, ConfigError>, kube::Error> {
        match self.config_maps.get_opt(name).await? {
            Some(cm) => {
                let mut out: BTreeMap<String, Vec<u8>> = cm
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.into_bytes()))
                    .collect();
                for (k, v) in cm.binary_data.unwrap_or_default() {
                    out.insert(k, v.0);
                }
                Ok(Ok(out))
            }
            None if optional => Ok(Ok(BTreeMap::new())),
            None => Ok(Err(ConfigError {
                reason: "CreateContainerConfigError",
                message: format!("configmap {name:?} not found in namespace {:?}", self.ns),
            })),
        }
    }

    async fn secret(
        &mut self,
        name: &str,
        optional: bool,
    ) -> Result<Result<BTreeMap<String, Vec<u8>>, ConfigError>, kube::Error> {
        match self.secrets.get_opt(name).await? {
            Some(s) => {
                let mut out: BTreeMap<String, Vec<u8>> = s
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                for (k, v) in s.string_data.unwrap_or_default() {
                    out.insert(k, v.into_bytes());
                }
                Ok(Ok(out))
            }
            None if optional => Ok(Ok(BTreeMap::new())),
            None => Ok(Err(ConfigError {
                reason: "CreateContainerConfigError",
                message: format!("secret {name:?} not found in namespace {:?}", self.ns),
            })),
        }
    }
}
