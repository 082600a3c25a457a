//! Building a `kube::Client` from a kubeconfig the way kubectl finds one, plus raw
//! JSON requests for the things typed APIs do not cover (Tables, arbitrary Accept).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use serde_json::Value;

/// A connected client and the namespace the kubeconfig context selects.
pub struct Connection {
    /// The API client.
    pub client: Client,
    /// The context's namespace, or `default`.
    pub namespace: String,
}

/// The kubeconfig candidates in kubectl's order: the explicit flag/`$KUBECONFIG`
/// (a `:`-separated list), `~/.kube/config`, then skiff's default data dir.
pub fn kubeconfig_candidates(
    explicit: Option<&Path>,
    home: Option<&Path>,
    xdg_data: Option<&Path>,
) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        let s = p.to_string_lossy();
        if !s.is_empty() {
            return s
                .split(':')
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
                .collect();
        }
    }
    let mut out = Vec::new();
    if let Some(h) = home {
        out.push(h.join(".kube/config"));
    }
    match (xdg_data, home) {
        (Some(x), _) => out.push(x.join("skiff/kubeconfig")),
        (None, Some(h)) => out.push(h.join(".local/share/skiff/kubeconfig")),
        _ => {}
    }
    out
}

/// Finds the kubeconfig file to use (the first candidate that exists).
pub fn find_kubeconfig(explicit: Option<&Path>) -> Result<PathBuf> {
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let xdg = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let candidates = kubeconfig_candidates(explicit, home.as_deref(), xdg.as_deref());
    if explicit.is_some() {
        // kubectl fails loudly when an explicitly named kubeconfig is missing.
        return candidates
            .iter()
            .find(|p| p.exists())
            .cloned()
            .ok_or_else(|| {
                anyhow!(
                    "stat {}: no such file or directory",
                    candidates
                        .first()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )
            });
    }
    candidates.iter().find(|p| p.exists()).cloned().ok_or_else(|| {
        anyhow!(
            "no kubeconfig found (looked for {}); start a server with `skiff server` or pass --kubeconfig",
            candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        )
    })
}

/// Connects using the kubeconfig kubectl would pick.
pub async fn connect(explicit: Option<PathBuf>) -> Result<Connection> {
    let path = find_kubeconfig(explicit.as_deref())?;
    let kc = Kubeconfig::read_from(&path)
        .with_context(|| format!("reading kubeconfig {}", path.display()))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("loading kubeconfig {}", path.display()))?;
    let namespace = config.default_namespace.clone();
    let client = Client::try_from(config).context("building the API client")?;
    Ok(Connection {
        client,
        namespace: if namespace.is_empty() {
            "default".into()
        } else {
            namespace
        },
    })
}

/// Sends `req` with the given Accept header and decodes the JSON answer.
pub async fn request_json(
    client: &Client,
    mut req: http::Request<Vec<u8>>,
    accept: Option<&str>,
) -> Result<Value, kube::Error> {
    if let Some(a) = accept {
        req.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_str(a).expect("valid header"),
        );
    }
    client.request::<Value>(req).await
}

/// The Accept header that asks the server for a `meta.k8s.io/v1` Table.
pub const TABLE_ACCEPT: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/// JSON requests against one resource collection (namespaced or cluster-wide).
pub struct ObjectApi<'a> {
    client: &'a Client,
    request: kube::core::Request,
}

impl<'a> ObjectApi<'a> {
    /// The collection of `info` in `namespace` (`None` → all namespaces, or the
    /// cluster-scoped collection).
    pub fn new(
        client: &'a Client,
        info: &crate::commands::resources::ResourceInfo,
        namespace: Option<&str>,
    ) -> Self {
        ObjectApi {
            client,
            request: kube::core::Request::new(info.url_path(namespace)),
        }
    }

    /// GET one object; `Ok(None)` when it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<Value>, kube::Error> {
        match self.get(name, None).await {
            Ok(v) => Ok(Some(v)),
            Err(e) if crate::commands::errors::is_not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// GET one object, optionally with a different Accept header (e.g. a Table).
    pub async fn get(&self, name: &str, accept: Option<&str>) -> Result<Value, kube::Error> {
        let req = self
            .request
            .get(name, &Default::default())
            .map_err(kube::Error::BuildRequest)?;
        request_json(self.client, req, accept).await
    }

    /// LIST the collection, optionally with a label/field selector and Accept header.
    pub async fn list(
        &self,
        labels: Option<&str>,
        fields: Option<&str>,
        accept: Option<&str>,
    ) -> Result<Value, kube::Error> {
        let lp = kube::api::ListParams {
            label_selector: labels.map(str::to_string),
            field_selector: fields.map(str::to_string),
            ..Default::default()
        };
        let req = self.request.list(&lp).map_err(kube::Error::BuildRequest)?;
        request_json(self.client, req, accept).await
    }

    /// POST a new object.
    pub async fn create(&self, obj: &Value) -> Result<Value, kube::Error> {
        let body = serde_json::to_vec(obj).map_err(kube::Error::SerdeError)?;
        let req = self
            .request
            .create(&Default::default(), body)
            .map_err(kube::Error::BuildRequest)?;
        request_json(self.client, req, None).await
    }

    /// PATCH with a JSON merge patch.
    pub async fn merge_patch(&self, name: &str, patch: &Value) -> Result<Value, kube::Error> {
        let req = self
            .request
            .patch(name, &Default::default(), &kube::api::Patch::Merge(patch))
            .map_err(kube::Error::BuildRequest)?;
        request_json(self.client, req, None).await
    }

    /// DELETE one object (background propagation, like kubectl).
    pub async fn delete(&self, name: &str) -> Result<Value, kube::Error> {
        let dp = kube::api::DeleteParams::background();
        let req = self
            .request
            .delete(name, &dp)
            .map_err(kube::Error::BuildRequest)?;
        request_json(self.client, req, None).await
    }

    /// A watch request (`watch=true&resourceVersion=rv`) for streaming.
    pub fn watch_request(
        &self,
        labels: Option<&str>,
        fields: Option<&str>,
        rv: &str,
        accept: &str,
    ) -> Result<http::Request<Vec<u8>>> {
        let wp = kube::api::WatchParams {
            label_selector: labels.map(str::to_string),
            field_selector: fields.map(str::to_string),
            ..Default::default()
        };
        let mut req = self.request.watch(&wp, rv)?;
        req.headers_mut()
            .insert(http::header::ACCEPT, http::HeaderValue::from_str(accept)?);
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_kubectl_order() {
        let home = Path::new("/h");
        assert_eq!(
            kubeconfig_candidates(None, Some(home), None),
            vec![
                PathBuf::from("/h/.kube/config"),
                PathBuf::from("/h/.local/share/skiff/kubeconfig")
            ]
        );
        assert_eq!(
            kubeconfig_candidates(None, Some(home), Some(Path::new("/x")))[1],
            PathBuf::from("/x/skiff/kubeconfig")
        );
        assert_eq!(
            kubeconfig_candidates(Some(Path::new("/a:/b")), Some(home), None),
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
    }
}
