//! A small client for the OCI distribution API: manifests (GET/HEAD with Accept),
//! blobs (streamed to disk, sha256-verified), and the auth flows registries use —
//! anonymous or basic bearer tokens from the `WWW-Authenticate: Bearer realm=…`
//! challenge, and plain basic auth (`htpasswd` registries). Loopback registries and
//! `insecure_registries` are spoken to over plain HTTP, everything else over HTTPS.
//! Every request has a connect and a read timeout, so an unreachable registry fails
//! fast instead of hanging.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use reqwest::{header, Method, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::oci::{digest_hex, MANIFEST_ACCEPT};
use crate::reference::{is_loopback_registry, ImageRef};
use crate::{Auth, ImageError};

/// A manifest as fetched from a registry.
pub(crate) struct FetchedManifest {
    pub bytes: Vec<u8>,
}

/// Talks to registries; caches the Authorization header per repository.
pub(crate) struct RegistryClient {
    http: reqwest::Client,
    insecure: Vec<String>,
    request_timeout: Duration,
    auth_cache: Mutex<HashMap<(String, String), String>>,
}

/// Renders an error with its source chain ("error sending request: connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let m = c.to_string();
        if !s.contains(&m) {
            s.push_str(": ");
            s.push_str(&m);
        }
        cur = c.source();
    }
    s
}

impl RegistryClient {
    pub fn new(
        insecure: Vec<String>,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Self, ImageError> {
        let http = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            .read_timeout(request_timeout)
            .user_agent(concat!("skiff/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ImageError::Io {
                context: "building the registry HTTP client".into(),
                source: std::io::Error::other(chain(&e)),
            })?;
        Ok(RegistryClient {
            http,
            insecure,
            request_timeout,
            auth_cache: Mutex::new(HashMap::new()),
        })
    }

    fn base_url(&self, r: &ImageRef) -> String {
        let plain = is_loopback_registry(&r.registry)
            || self
                .insecure
                .iter()
                .any(|h| h == &r.registry || h == r.api_host());
        let scheme = if plain { "http" } else { "https" };
        format!("{scheme}://{}", r.api_host())
    }

    fn transport_error(&self, r: &ImageRef, e: reqwest::Error) -> ImageError {
        let detail = if e.is_timeout() {
            format!(
                "registry {} did not answer within {:?}",
                r.registry, self.request_timeout
            )
        } else if e.is_connect() {
            format!("cannot connect to registry {}: {}", r.registry, chain(&e))
        } else {
            format!("registry {}: {}", r.registry, chain(&e))
        };
        ImageError::Unreachable {
            image: r.to_string(),
            detail,
        }
    }

    /// Sends a request, answering an auth challenge once if the registry asks for one.
    /// `whole` requests (manifests, tokens) get the overall request timeout; blob
    /// downloads only the per-read timeout.
    async fn send(
        &self,
        r: &ImageRef,
        auth: &Auth,
        method: Method,
        url: &str,
        accept: Option<&str>,
        whole: bool,
    ) -> Result<reqwest::Response, ImageError> {
        let key = (r.registry.clone(), r.repository.clone());
        let build = |authz: Option<&str>| {
            let mut req = self.http.request(method.clone(), url);
            if whole {
                req = req.timeout(self.request_timeout);
            }
            if let Some(a) = accept {
                req = req.header(header::ACCEPT, a);
            }
            if let Some(z) = authz {
                req = req.header(header::AUTHORIZATION, z);
            }
            req
        };
        let cached = self.auth_cache.lock().unwrap().get(&key).cloned();
        let resp = build(cached.as_deref())
            .send()
            .await
            .map_err(|e| self.transport_error(r, e))?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let authz = self.authorize(r, auth, &challenge).await?;
        let Some(authz) = authz else {
            return Ok(resp);
        };
        let resp = build(Some(&authz))
            .send()
            .await
            .map_err(|e| self.transport_error(r, e))?;
        if resp.status().is_success() {
            self.auth_cache.lock().unwrap().insert(key, authz);
        }
        Ok(resp)
    }

    /// Turns a `WWW-Authenticate` challenge into an Authorization header value.
    async fn authorize(
        &self,
        r: &ImageRef,
        auth: &Auth,
        challenge: &str,
    ) -> Result<Option<String>, ImageError> {
        let basic = match auth {
            Auth::Basic { username, password } => Some(format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            )),
            Auth::Anonymous => None,
        };
        let (scheme, params) = parse_challenge(challenge);
        if scheme.eq_ignore_ascii_case("basic") {
            return Ok(basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Ok(None);
        }
        let Some(realm) = params.get("realm") else {
            return Ok(None);
        };
        let mut url = reqwest::Url::parse(realm).map_err(|e| ImageError::Registry {
            image: r.to_string(),
            detail: format!("bad token realm {realm:?}: {e}"),
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = params.get("service") {
                q.append_pair("service", s);
            }
            let scope = params
                .get("scope")
                .cloned()
                .unwrap_or_else(|| format!("repository:{}:pull", r.repository));
            q.append_pair("scope", &scope);
        }
        let mut req = self.http.get(url).timeout(self.request_timeout);
        if let Some(b) = &basic {
            req = req.header(header::AUTHORIZATION, b);
        }
        let resp = req.send().await.map_err(|e| self.transport_error(r, e))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ImageError::Unauthorized {
                image: r.to_string(),
                detail: format!(
                    "the token service of registry {} refused the {} (HTTP {status})",
                    r.registry,
                    if basic.is_some() {
                        "credentials"
                    } else {
                        "anonymous request"
                    }
                ),
            });
        }
        if !status.is_success() {
            return Err(ImageError::Registry {
                image: r.to_string(),
                detail: format!(
                    "token service of registry {} answered HTTP {status}",
                    r.registry
                ),
            });
        }
        let bytes = resp.bytes().await.map_err(|e| self.transport_error(r, e))?;
        let body: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| ImageError::Registry {
                image: r.to_string(),
                detail: format!("bad token response: {e}"),
            })?;
        let token = body
            .get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .ok_or_else(|| ImageError::Registry {
                image: r.to_string(),
                detail: "token response has no token".into(),
            })?;
        Ok(Some(format!("Bearer {token}")))
    }

    /// Maps a non-success status to the error a user understands.
    async fn status_error(r: &ImageRef, what: &str, resp: reqwest::Response) -> ImageError {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.trim().chars().take(300).collect();
        match status {
            StatusCode::NOT_FOUND => ImageError::NotFound {
                image: r.to_string(),
                detail: format!("{what} not found in registry {}", r.registry),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ImageError::Unauthorized {
                image: r.to_string(),
                detail: format!(
                    "registry {} answered HTTP {status} for the {what}{}",
                    r.registry,
                    if body.is_empty() {
                        String::new()
                    } else {
                        format!(": {body}")
                    }
                ),
            },
            _ => ImageError::Registry {
                image: r.to_string(),
                detail: format!(
                    "registry {} answered HTTP {status} for the {what}: {body}",
                    r.registry
                ),
            },
        }
    }

    /// The digest the registry has for the reference (HEAD, `Docker-Content-Digest`),
    /// falling back to GET + hashing when the header is missing.
    pub async fn resolve_digest(&self, r: &ImageRef, auth: &Auth) -> Result<String, ImageError> {
        let url = format!(
            "{}/v2/{}/manifests/{}",
            self.base_url(r),
            r.repository,
            r.manifest_reference()
        );
        let resp = self
            .send(r, auth, Method::HEAD, &url, Some(MANIFEST_ACCEPT), true)
            .await?;
        if !resp.status().is_success() {
            return Err(Self::status_error(r, "manifest", resp).await);
        }
        if let Some(d) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| crate::reference::validate_digest(d).is_ok())
        {
            return Ok(d.to_string());
        }
        let m = self.get_manifest(r, r.manifest_reference(), auth).await?;
        Ok(crate::oci::sha256_digest(&m.bytes))
    }

    /// GETs a manifest by tag or digest.
    pub async fn get_manifest(
        &self,
        r: &ImageRef,
        reference: &str,
        auth: &Auth,
    ) -> Result<FetchedManifest, ImageError> {
        let url = format!(
            "{}/v2/{}/manifests/{reference}",
            self.base_url(r),
            r.repository
        );
        let resp = self
            .send(r, auth, Method::GET, &url, Some(MANIFEST_ACCEPT), true)
            .await?;
        if !resp.status().is_success() {
            return Err(Self::status_error(r, "manifest", resp).await);
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(r, e))?
            .to_vec();
        Ok(FetchedManifest { bytes })
    }

    /// Streams a blob into `dest` (via a temp file beside it), verifying its sha256.
    pub async fn download_blob(
        &self,
        r: &ImageRef,
        digest: &str,
        auth: &Auth,
        dest: &Path,
    ) -> Result<(), ImageError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base_url(r), r.repository);
        let mut resp = self.send(r, auth, Method::GET, &url, None, false).await?;
        if !resp.status().is_success() {
            return Err(Self::status_error(r, &format!("blob {digest}"), resp).await);
        }
        let dir = dest.parent().expect("blob path has a parent");
        let tmp = dir.join(format!(
            ".tmp-{}-{}-{}",
            digest_hex(digest),
            std::process::id(),
            crate::store::unique()
        ));
        let io_err = |e: std::io::Error| ImageError::Io {
            context: format!("writing blob {digest}"),
            source: e,
        };
        let mut file = tokio::fs::File::create(&tmp).await.map_err(io_err)?;
        let mut hasher = Sha256::new();
        let result: Result<(), ImageError> = async {
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport_error(r, e))? {
                hasher.update(&chunk);
                file.write_all(&chunk).await.map_err(io_err)?;
            }
            file.flush().await.map_err(io_err)?;
            file.sync_all().await.map_err(io_err)?;
            Ok(())
        }
        .await;
        drop(file);
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != digest {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(ImageError::DigestMismatch {
                what: format!("blob of image {r}"),
                expected: digest.to_string(),
                actual,
            });
        }
        tokio::fs::rename(&tmp, dest).await.map_err(io_err)
    }
}

/// Parses `Bearer realm="…",service="…",scope="…"` into its scheme and parameters.
pub(crate) fn parse_challenge(h: &str) -> (String, HashMap<String, String>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n)
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        params.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/nginx:pull");
        let (s, p) = parse_challenge(r#"Basic realm="r""#);
        assert_eq!(s, "Basic");
        assert_eq!(p["realm"], "r");
    }
}
