//! A small client for the OCI distribution API: manifests (GET/HEAD with Accept),
//! blobs (streamed to disk, sha256-verified), and the auth flows registries use —
//! anonymous or basic bearer tokens from the `WWW-Authenticate: Bearer realm=…`
//! challenge, and plain basic auth (`htpasswd` registries). Loopback registries and
//! `insecure_registries` are spoken to over plain HTTP, everything else over HTTPS.
//! Every request has a connect and a read timeout, so an unreachable registry fails
//! fast instead of hanging. Registry mirrors ([`Mirror`]) are tried in order before the
//! upstream registry, for every request.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine;
use reqwest::{header, Method, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::mirror::Endpoint;
use crate::oci::{digest_hex, MANIFEST_ACCEPT};
use crate::reference::{is_loopback_registry, ImageRef};
use crate::{Auth, ImageError, Mirror};

/// A manifest as fetched from a registry.
pub(crate) struct FetchedManifest {
    pub bytes: Vec<u8>,
}

/// Talks to registries (and their mirrors); caches the Authorization header per
/// endpoint host and repository.
pub(crate) struct RegistryClient {
    http: reqwest::Client,
    insecure: Vec<String>,
    /// Mirrors in the order given, with their parsed endpoints.
    mirrors: Vec<(Mirror, Endpoint)>,
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
        mirrors: Vec<Mirror>,
        connect_timeout: Duration,
        request_timeout: Duration,
    ) -> Result<Self, ImageError> {
        let mirrors = mirrors
            .into_iter()
            .map(|m| Endpoint::mirror(&m, &insecure).map(|e| (m, e)))
            .collect::<Result<Vec<_>, _>>()?;
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
            mirrors,
            request_timeout,
            auth_cache: Mutex::new(HashMap::new()),
        })
    }

    /// Where requests for `r` go, in order: its matching mirrors, then the registry.
    pub(crate) fn endpoints(&self, r: &ImageRef) -> Vec<Endpoint> {
        let plain = is_loopback_registry(&r.registry)
            || self
                .insecure
                .iter()
                .any(|h| h == &r.registry || h == r.api_host());
        let mut out: Vec<Endpoint> = self
            .mirrors
            .iter()
            .filter(|(m, _)| m.matches(&r.registry))
            .map(|(_, e)| e.clone())
            .collect();
        out.push(Endpoint::upstream(&r.registry, r.api_host(), plain));
        out
    }

    /// Runs `op` against each endpoint of `r` until one succeeds. When all fail, the
    /// upstream registry's error is returned (its kind decides, e.g. `Unreachable`
    /// lets a pull fall back to the cache), with the mirrors' failures added to it.
    async fn each_endpoint<T, F, Fut>(&self, r: &ImageRef, mut op: F) -> Result<T, ImageError>
    where
        F: FnMut(Endpoint) -> Fut,
        Fut: std::future::Future<Output = Result<T, ImageError>>,
    {
        let endpoints = self.endpoints(r);
        let mut failures: Vec<String> = Vec::new();
        let last = endpoints.len() - 1;
        for (i, ep) in endpoints.into_iter().enumerate() {
            let label = ep.label.clone();
            match op(ep).await {
                Ok(v) => {
                    if !failures.is_empty() {
                        tracing::debug!(image = %r, "served by {label} after: {}", failures.join("; "));
                    }
                    return Ok(v);
                }
                Err(e) if i < last => {
                    tracing::debug!(image = %r, "{label} failed, trying the next: {e}");
                    failures.push(format!("{label}: {}", short(&e)));
                }
                Err(e) if failures.is_empty() => return Err(e),
                Err(e) => {
                    return Err(with_detail(
                        e,
                        &format!("(mirrors tried first: {})", failures.join("; ")),
                    ))
                }
            }
        }
        unreachable!("there is always the upstream endpoint")
    }

    fn transport_error(&self, r: &ImageRef, ep: &Endpoint, e: reqwest::Error) -> ImageError {
        let detail = if e.is_timeout() {
            format!(
                "{} did not answer within {:?}",
                ep.label, self.request_timeout
            )
        } else if e.is_connect() {
            format!("cannot connect to {}: {}", ep.label, chain(&e))
        } else {
            format!("{}: {}", ep.label, chain(&e))
        };
        ImageError::Unreachable {
            image: r.to_string(),
            detail,
        }
    }

    /// Sends a request, answering an auth challenge once if the registry asks for one.
    /// `whole` requests (manifests, tokens) get the overall request timeout; blob
    /// downloads only the per-read timeout.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &self,
        r: &ImageRef,
        ep: &Endpoint,
        auth: &Auth,
        method: Method,
        url: &str,
        accept: Option<&str>,
        whole: bool,
    ) -> Result<reqwest::Response, ImageError> {
        // Credentials are for the upstream registry: mirrors are asked anonymously.
        let auth = if ep.mirror { &Auth::Anonymous } else { auth };
        let key = (ep.host.clone(), r.repository.clone());
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
            .map_err(|e| self.transport_error(r, ep, e))?;
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Ok(resp);
        }
        let challenge = resp
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let authz = self.authorize(r, ep, auth, &challenge).await?;
        let Some(authz) = authz else {
            return Ok(resp);
        };
        let resp = build(Some(&authz))
            .send()
            .await
            .map_err(|e| self.transport_error(r, ep, e))?;
        if resp.status().is_success() {
            self.auth_cache.lock().unwrap().insert(key, authz);
        }
        Ok(resp)
    }

    /// Turns a `WWW-Authenticate` challenge into an Authorization header value.
    async fn authorize(
        &self,
        r: &ImageRef,
        ep: &Endpoint,
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
        let resp = req
            .send()
            .await
            .map_err(|e| self.transport_error(r, ep, e))?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(ImageError::Unauthorized {
                image: r.to_string(),
                detail: format!(
                    "the token service of {} refused the {} (HTTP {status})",
                    ep.label,
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
                detail: format!("token service of {} answered HTTP {status}", ep.label),
            });
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(r, ep, e))?;
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
    async fn status_error(
        r: &ImageRef,
        ep: &Endpoint,
        what: &str,
        resp: reqwest::Response,
    ) -> ImageError {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let body: String = body.trim().chars().take(300).collect();
        match status {
            StatusCode::NOT_FOUND => ImageError::NotFound {
                image: r.to_string(),
                detail: format!("{what} not found in {}", ep.label),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ImageError::Unauthorized {
                image: r.to_string(),
                detail: format!(
                    "{} answered HTTP {status} for the {what}{}",
                    ep.label,
                    if body.is_empty() {
                        String::new()
                    } else {
                        format!(": {body}")
                    }
                ),
            },
            _ => ImageError::Registry {
                image: r.to_string(),
                detail: format!("{} answered HTTP {status} for the {what}: {body}", ep.label),
            },
        }
    }

    /// The digest the reference has (HEAD, `Docker-Content-Digest`, falling back to
    /// GET and hashing when the header is missing), from the first mirror or the
    /// registry that has it.
    pub async fn resolve_digest(&self, r: &ImageRef, auth: &Auth) -> Result<String, ImageError> {
        self.each_endpoint(r, |ep| async move { self.resolve_at(r, &ep, auth).await })
            .await
    }

    async fn resolve_at(
        &self,
        r: &ImageRef,
        ep: &Endpoint,
        auth: &Auth,
    ) -> Result<String, ImageError> {
        let url = format!(
            "{}/{}/manifests/{}",
            ep.base,
            r.repository,
            r.manifest_reference()
        );
        let resp = self
            .send(r, ep, auth, Method::HEAD, &url, Some(MANIFEST_ACCEPT), true)
            .await?;
        if !resp.status().is_success() {
            return Err(Self::status_error(r, ep, "manifest", resp).await);
        }
        if let Some(d) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| crate::reference::validate_digest(d).is_ok())
        {
            return Ok(d.to_string());
        }
        let m = self
            .get_manifest_at(r, ep, r.manifest_reference(), auth)
            .await?;
        Ok(crate::oci::sha256_digest(&m.bytes))
    }

    /// GETs a manifest by tag or digest (mirrors first).
    pub async fn get_manifest(
        &self,
        r: &ImageRef,
        reference: &str,
        auth: &Auth,
    ) -> Result<FetchedManifest, ImageError> {
        self.each_endpoint(r, |ep| async move {
            self.get_manifest_at(r, &ep, reference, auth).await
        })
        .await
    }

    async fn get_manifest_at(
        &self,
        r: &ImageRef,
        ep: &Endpoint,
        reference: &str,
        auth: &Auth,
    ) -> Result<FetchedManifest, ImageError> {
        let url = format!("{}/{}/manifests/{reference}", ep.base, r.repository);
        let resp = self
            .send(r, ep, auth, Method::GET, &url, Some(MANIFEST_ACCEPT), true)
            .await?;
        if !resp.status().is_success() {
            return Err(Self::status_error(r, ep, "manifest", resp).await);
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| self.transport_error(r, ep, e))?
            .to_vec();
        Ok(FetchedManifest { bytes })
    }

    /// Streams a blob into `dest` (via a temp file beside it), verifying its sha256;
    /// mirrors first.
    pub async fn download_blob(
        &self,
        r: &ImageRef,
        digest: &str,
        auth: &Auth,
        dest: &Path,
    ) -> Result<(), ImageError> {
        self.each_endpoint(r, |ep| async move {
            self.download_blob_at(r, &ep, digest, auth, dest).await
        })
        .await
    }

    async fn download_blob_at(
        &self,
        r: &ImageRef,
        ep: &Endpoint,
        digest: &str,
        auth: &Auth,
        dest: &Path,
    ) -> Result<(), ImageError> {
        let url = format!("{}/{}/blobs/{digest}", ep.base, r.repository);
        let mut resp = self
            .send(r, ep, auth, Method::GET, &url, None, false)
            .await?;
        if !resp.status().is_success() {
            return Err(Self::status_error(r, ep, &format!("blob {digest}"), resp).await);
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
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| self.transport_error(r, ep, e))?
            {
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

/// An error's message without the `image X …:` preamble the final error repeats.
fn short(e: &ImageError) -> String {
    match e {
        ImageError::NotFound { detail, .. }
        | ImageError::Unauthorized { detail, .. }
        | ImageError::Unreachable { detail, .. }
        | ImageError::BadManifest { detail, .. }
        | ImageError::Registry { detail, .. } => detail.clone(),
        e => e.to_string(),
    }
}

/// `e` with `extra` appended to its detail.
fn with_detail(e: ImageError, extra: &str) -> ImageError {
    let add = |d: String| format!("{d} {extra}");
    match e {
        ImageError::NotFound { image, detail } => ImageError::NotFound {
            image,
            detail: add(detail),
        },
        ImageError::Unauthorized { image, detail } => ImageError::Unauthorized {
            image,
            detail: add(detail),
        },
        ImageError::Unreachable { image, detail } => ImageError::Unreachable {
            image,
            detail: add(detail),
        },
        ImageError::BadManifest { image, detail } => ImageError::BadManifest {
            image,
            detail: add(detail),
        },
        ImageError::Registry { image, detail } => ImageError::Registry {
            image,
            detail: add(detail),
        },
        ImageError::DigestMismatch {
            what,
            expected,
            actual,
        } => ImageError::DigestMismatch {
            what: add(what),
            expected,
            actual,
        },
        ImageError::Io { context, source } => ImageError::Io {
            context: add(context),
            source,
        },
        e => e,
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
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::Arc;

    /// A registry on loopback that has one manifest at `path` (HEAD/GET) and answers
    /// 404 to everything else; records the request lines it saw.
    struct FakeRegistry {
        port: u16,
        seen: Arc<Mutex<Vec<String>>>,
    }

    impl FakeRegistry {
        fn start(path: &'static str, body: &'static [u8]) -> FakeRegistry {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let seen = Arc::new(Mutex::new(Vec::new()));
            let log = seen.clone();
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    let Ok(mut conn) = conn else { return };
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                            break;
                        }
                    }
                    let mut parts = line.split_whitespace();
                    let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
                    log.lock().unwrap().push(format!("{method} {target}"));
                    let resp = if target == path {
                        let mut r = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nDocker-Content-Digest: {}\r\nConnection: close\r\n\r\n",
                            body.len(),
                            crate::oci::sha256_digest(body)
                        )
                        .into_bytes();
                        if method == "GET" {
                            r.extend_from_slice(body);
                        }
                        r
                    } else {
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec()
                    };
                    let _ = conn.write_all(&resp);
                }
            });
            FakeRegistry { port, seen }
        }

        fn seen(&self) -> Vec<String> {
            self.seen.lock().unwrap().clone()
        }
    }

    /// A loopback port nothing listens on.
    fn dead_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    fn client(mirrors: &[String]) -> RegistryClient {
        let mirrors = mirrors.iter().map(|m| Mirror::parse(m).unwrap()).collect();
        RegistryClient::new(
            vec![],
            mirrors,
            Duration::from_secs(2),
            Duration::from_secs(3),
        )
        .unwrap()
    }

    const MANIFEST: &[u8] = br#"{"schemaVersion":2,"layers":[]}"#;

    #[tokio::test]
    async fn mirrors_in_order_then_upstream() {
        // docker.io image: a dead mirror, then one with a repository prefix that has it.
        let hub = FakeRegistry::start("/v2/hub/alpine/git/manifests/latest", MANIFEST);
        let c = client(&[
            format!("docker.io=http://127.0.0.1:{}", dead_port()),
            "gcr.io=http://127.0.0.1:1".to_string(),
            format!("registry-1.docker.io=127.0.0.1:{}/v2/hub", hub.port),
        ]);
        let r = ImageRef::parse("alpine/git").unwrap();
        assert_eq!(
            c.endpoints(&r).len(),
            3,
            "the gcr.io mirror is not for docker.io"
        );
        let d = c.resolve_digest(&r, &Auth::Anonymous).await.unwrap();
        assert_eq!(d, crate::oci::sha256_digest(MANIFEST));
        let m = c.get_manifest(&r, &d, &Auth::Anonymous).await;
        assert!(m.is_err(), "the fake only has the tag");
        let m = c
            .get_manifest(&r, "latest", &Auth::Anonymous)
            .await
            .unwrap();
        assert_eq!(m.bytes, MANIFEST);
        assert_eq!(
            hub.seen()[0],
            "HEAD /v2/hub/alpine/git/manifests/latest",
            "{:?}",
            hub.seen()
        );

        // A mirror without the image: the upstream registry serves it.
        let upstream = FakeRegistry::start("/v2/team/app/manifests/v1", MANIFEST);
        let empty = FakeRegistry::start("/nothing", b"");
        let c = client(&[format!(
            "127.0.0.1:{}=http://127.0.0.1:{}",
            upstream.port, empty.port
        )]);
        let r = ImageRef::parse(&format!("127.0.0.1:{}/team/app:v1", upstream.port)).unwrap();
        let d = c.resolve_digest(&r, &Auth::Anonymous).await.unwrap();
        assert_eq!(d, crate::oci::sha256_digest(MANIFEST));
        assert_eq!(
            empty.seen(),
            vec!["HEAD /v2/team/app/manifests/v1".to_string()]
        );
        assert_eq!(
            upstream.seen(),
            vec!["HEAD /v2/team/app/manifests/v1".to_string()]
        );

        // Nobody has it: the upstream's error kind, with what the mirror said.
        let dead = dead_port();
        let gone = format!("127.0.0.1:{dead}/team/app:v1");
        let c = client(&[format!("127.0.0.1:{dead}=http://127.0.0.1:{}", empty.port)]);
        let r = ImageRef::parse(&gone).unwrap();
        let err = c.resolve_digest(&r, &Auth::Anonymous).await.unwrap_err();
        assert!(matches!(err, ImageError::Unreachable { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&gone), "{msg}");
        assert!(msg.contains("mirrors tried first"), "{msg}");
        assert!(
            msg.contains(&format!("mirror http://127.0.0.1:{} of", empty.port))
                && msg.contains("not found"),
            "{msg}"
        );
    }

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
