//! Registry credentials, and reading them from `kubernetes.io/dockerconfigjson`
//! Secrets (`imagePullSecrets`).

use base64::Engine;

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Auth {
    /// No credentials (public images; token flows still run anonymously).
    #[default]
    Anonymous,
    /// Username and password (or token), sent as HTTP basic auth or to the token realm.
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: String,
    },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Anonymous => write!(f, "Anonymous"),
            Auth::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
        }
    }
}

impl Auth {
    /// Basic credentials.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Auth {
        Auth::Basic {
            username: username.into(),
            password: password.into(),
        }
    }
}

/// Canonical form of a registry key from a docker config: no scheme, no path,
/// Docker Hub's aliases folded to `docker.io`.
fn canonical_host(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or("").to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        _ => host,
    }
}

/// Finds the credentials for `registry_host` (e.g. `ghcr.io`, `127.0.0.1:5000`,
/// `docker.io`) in a docker config JSON, as stored in a `kubernetes.io/dockerconfigjson`
/// Secret's `.dockerconfigjson` (also accepts the legacy `.dockercfg` shape without
/// `auths`). Uses `auth` (base64 `user:pass`) or the `username`/`password` fields.
pub fn auth_from_docker_config_json(bytes: &[u8], registry_host: &str) -> Option<Auth> {
    let v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let auths = v.get("auths").unwrap_or(&v).as_object()?;
    let want = canonical_host(registry_host);
    let entry = auths
        .iter()
        .find(|(k, _)| canonical_host(k) == want)
        .map(|(_, e)| e)?;
    if let Some(encoded) = entry.get("auth").and_then(|a| a.as_str()) {
        if !encoded.is_empty() {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (user, pass) = decoded.split_once(':')?;
            return Some(Auth::basic(user, pass));
        }
    }
    let user = entry.get("username")?.as_str()?;
    let pass = entry.get("password").and_then(|p| p.as_str()).unwrap_or("");
    Some(Auth::basic(user, pass))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_field_and_username_password() {
        let json = br#"{"auths":{
            "https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
            "127.0.0.1:5000":{"username":"alice","password":"secret"},
            "ghcr.io":{"auth":""}
        }}"#;
        assert_eq!(
            auth_from_docker_config_json(json, "docker.io"),
            Some(Auth::basic("user", "pa:ss"))
        );
        assert_eq!(
            auth_from_docker_config_json(json, "127.0.0.1:5000"),
            Some(Auth::basic("alice", "secret"))
        );
        assert_eq!(auth_from_docker_config_json(json, "ghcr.io"), None);
        assert_eq!(auth_from_docker_config_json(json, "quay.io"), None);
        assert_eq!(auth_from_docker_config_json(b"not json", "quay.io"), None);
    }

    #[test]
    fn legacy_dockercfg_shape() {
        let json = br#"{"quay.io":{"auth":"YTpi"}}"#;
        assert_eq!(
            auth_from_docker_config_json(json, "quay.io"),
            Some(Auth::basic("a", "b"))
        );
    }

    #[test]
    fn debug_hides_password() {
        assert!(!format!("{:?}", Auth::basic("u", "hunter2")).contains("hunter2"));
    }
}
