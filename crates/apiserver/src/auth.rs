//! Authentication: who a request is from. The admin token (a `system:masters`
//! identity), service-account tokens (JWTs, HS256-signed with a key kept in the data
//! dir's pki, checked against the live ServiceAccount on every use so deleting it revokes
//! them), and Kubernetes' impersonation headers. Also the Rust API skiff's own
//! components use to mint a service account's token (`App::service_account_token`).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use http::HeaderMap;
use serde_json::{json, Value};
use skiff_store::Key;

use crate::http::App;
use crate::rbac::{self, Attributes, Decision, UserInfo};
use crate::status::ApiError;

/// The audience (and issuer) of the tokens the API accepts: the in-cluster API name.
pub const API_AUDIENCE: &str = "https://kubernetes.default.svc.cluster.local";
/// The username of the admin token.
pub const ADMIN_USER: &str = "skiff-admin";
/// How long a TokenRequest's token lives when the request does not say (Kubernetes'
/// default `expirationSeconds`).
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Signs and verifies service-account tokens. Holding the key is what makes a token
/// genuine, so tokens need no store lookup to be checked for forgery.
pub struct TokenIssuer {
    key: ring::hmac::Key,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenIssuer { .. }")
    }
}

impl TokenIssuer {
    /// An issuer with the given secret key (`pki/sa.key`).
    pub fn new(secret: &[u8]) -> TokenIssuer {
        TokenIssuer {
            key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
        }
    }

    /// An issuer with a fresh random key: tokens die with the process (in-process
    /// servers of tests).
    pub fn random() -> TokenIssuer {
        use rand::RngCore;
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        TokenIssuer::new(&secret)
    }

    /// Signs `claims` as a JWT. Whoever holds the key can mint any token this way;
    /// skiff itself only signs through `App::request_token`. Public for tools and tests.
    pub fn sign(&self, claims: &Value) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = B64.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let tag = ring::hmac::sign(&self.key, signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(tag.as_ref()))
    }

    /// The claims of a token this issuer signed, or None (forged, corrupt, or not a JWT).
    fn verify(&self, token: &str) -> Option<Value> {
        let mut parts = token.split('.');
        let (header, payload, sig) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let sig = B64.decode(sig).ok()?;
        let signed = &token[..header.len() + 1 + payload.len()];
        ring::hmac::verify(&self.key, signed.as_bytes(), &sig).ok()?;
        let header: Value = serde_json::from_slice(&B64.decode(header).ok()?).ok()?;
        if header.get("alg").and_then(Value::as_str) != Some("HS256") {
            return None;
        }
        serde_json::from_slice(&B64.decode(payload).ok()?).ok()
    }
}

/// An object a token is bound to besides its service account: the token stops working
/// when it is deleted (TokenRequest's `boundObjectRef`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundObject {
    /// `Pod` or `Secret`.
    pub kind: String,
    pub name: String,
    pub uid: String,
}

/// What a token is for: audiences (default: the API), lifetime, bound object.
#[derive(Clone, Debug)]
pub struct TokenOptions {
    pub audiences: Vec<String>,
    pub expiration: Duration,
    pub bound: Option<BoundObject>,
}

impl Default for TokenOptions {
    fn default() -> Self {
        TokenOptions {
            audiences: vec![],
            expiration: DEFAULT_TOKEN_TTL,
            bound: None,
        }
    }
}

/// A minted token and when it expires.
#[derive(Clone, Debug)]
pub struct IssuedToken {
    pub token: String,
    pub expiration: jiff::Timestamp,
    /// The audiences it was minted for.
    pub audiences: Vec<String>,
}

fn service_account_key(namespace: &str, name: &str) -> Key {
    Key::new("/serviceaccounts", namespace, name)
}

fn uid_of(obj: &Value) -> &str {
    obj.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The identity of the admin token.
pub fn admin_user() -> UserInfo {
    UserInfo {
        name: ADMIN_USER.into(),
        groups: vec![rbac::SYSTEM_MASTERS.into(), rbac::ALL_AUTHENTICATED.into()],
        ..Default::default()
    }
}

impl App {
    /// Mints a token for ServiceAccount `namespace/name`, valid for `ttl` against this
    /// API (audience [`API_AUDIENCE`]). This is what skiff's own components (the
    /// pipeline runner) mount at `/var/run/secrets/kubernetes.io/serviceaccount/token`.
    /// The token authenticates as `system:serviceaccount:<namespace>:<name>` until it
    /// expires or the ServiceAccount is deleted. The `default` ServiceAccount is created
    /// if it is missing, as Kubernetes' service-account controller would; any other
    /// missing one is a 404 error.
    pub fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
        ttl: Duration,
    ) -> Result<IssuedToken, ApiError> {
        if name == "default" {
            self.objects.ensure_default_service_account(namespace);
        }
        self.request_token(
            namespace,
            name,
            &TokenOptions {
                expiration: ttl,
                ..Default::default()
            },
        )
    }

    /// Mints a token for a service account with explicit options (TokenRequest).
    pub fn request_token(
        &self,
        namespace: &str,
        name: &str,
        opts: &TokenOptions,
    ) -> Result<IssuedToken, ApiError> {
        let sa = self
            .objects
            .store
            .get(&service_account_key(namespace, name))
            .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
        let now = self.objects.clock().now();
        let secs = i64::try_from(opts.expiration.as_secs()).unwrap_or(i64::MAX / 2);
        let exp = now
            .checked_add(jiff::SignedDuration::from_secs(secs))
            .map_err(ApiError::internal)?;
        let audiences = if opts.audiences.is_empty() {
            vec![API_AUDIENCE.to_string()]
        } else {
            opts.audiences.clone()
        };
        let mut k8s = json!({
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": uid_of(&sa)},
        });
        if let Some(b) = &opts.bound {
            k8s[b.kind.to_lowercase()] = json!({"name": b.name, "uid": b.uid});
        }
        let claims = json!({
            "aud": audiences,
            "exp": exp.as_second(),
            "iat": now.as_second(),
            "nbf": now.as_second(),
            "iss": API_AUDIENCE,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": k8s,
            "sub": rbac::service_account_username(namespace, name),
        });
        Ok(IssuedToken {
            token: self.sa_tokens.sign(&claims),
            expiration: jiff::Timestamp::from_second(exp.as_second()).unwrap_or(exp),
            audiences,
        })
    }

    /// The identity a bearer token stands for, and the audiences it was accepted for:
    /// an admin token, or a genuine, unexpired service-account token for one of
    /// `audiences` (default: the API) whose ServiceAccount (and bound object) still
    /// exists with the same uid.
    pub fn authenticate_token(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Option<(UserInfo, Vec<String>)> {
        if self
            .tokens
            .iter()
            .any(|known| constant_time_eq(known.as_bytes(), token.as_bytes()))
        {
            return Some((admin_user(), vec![]));
        }
        let claims = self.sa_tokens.verify(token)?;
        let now = self.objects.clock().now().as_second();
        let exp = claims.get("exp").and_then(Value::as_i64)?;
        if now >= exp || claims.get("nbf").and_then(Value::as_i64).unwrap_or(0) > now + 60 {
            return None;
        }
        if claims.get("iss").and_then(Value::as_str) != Some(API_AUDIENCE) {
            return None;
        }
        let wanted: Vec<String> = if audiences.is_empty() {
            vec![API_AUDIENCE.to_string()]
        } else {
            audiences.to_vec()
        };
        let token_auds: Vec<&str> = match claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let accepted: Vec<String> = wanted
            .into_iter()
            .filter(|a| token_auds.contains(&a.as_str()))
            .collect();
        if accepted.is_empty() {
            return None;
        }
        let k8s = claims.get("kubernetes.io")?;
        let ns = k8s.get("namespace").and_then(Value::as_str)?;
        let name = k8s
            .pointer("/serviceaccount/name")
            .and_then(Value::as_str)?;
        let uid = k8s.pointer("/serviceaccount/uid").and_then(Value::as_str)?;
        let sa = self.objects.store.get(&service_account_key(ns, name))?;
        if uid_of(&sa) != uid || sa.pointer("/metadata/deletionTimestamp").is_some() {
            return None;
        }
        let mut user = UserInfo::service_account(ns, name, uid);
        if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
            user.extra.insert(
                "authentication.kubernetes.io/credential-id".into(),
                vec![format!("JTI={jti}")],
            );
        }
        for (kind, resource) in [("pod", "/pods"), ("secret", "/secrets")] {
            if let Some(b) = k8s.get(kind) {
                let bname = b.get("name").and_then(Value::as_str).unwrap_or_default();
                let buid = b.get("uid").and_then(Value::as_str).unwrap_or_default();
                let obj = self.objects.store.get(&Key::new(resource, ns, bname))?;
                if uid_of(&obj) != buid || obj.pointer("/metadata/deletionTimestamp").is_some() {
                    return None;
                }
                if kind == "pod" {
                    user.extra.insert(
                        "authentication.kubernetes.io/pod-name".into(),
                        vec![bname.into()],
                    );
                    user.extra.insert(
                        "authentication.kubernetes.io/pod-uid".into(),
                        vec![buid.into()],
                    );
                }
            }
        }
        Some((user, accepted))
    }

    /// Authenticates a request by its `Authorization: Bearer` header; 401 otherwise.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<UserInfo, ApiError> {
        let token = headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        self.authenticate_token(token, &[])
            .map(|(u, _)| u)
            .ok_or_else(ApiError::unauthorized)
    }

    /// RBAC over the store.
    pub fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Decision {
        rbac::authorize(&*self.objects, user, attrs)
    }

    /// Applies `Impersonate-User`/`-Group`/`-Uid`/`-Extra-*` headers: each impersonated
    /// thing must be allowed to `requestor` by the `impersonate` verb (on users, groups,
    /// serviceaccounts, uids, userextras), as kube-apiserver's impersonation filter
    /// checks. Without those headers the requestor is returned unchanged.
    pub fn impersonate(
        &self,
        requestor: UserInfo,
        headers: &HeaderMap,
    ) -> Result<UserInfo, ApiError> {
        let text = |v: &http::HeaderValue| v.to_str().unwrap_or_default().to_string();
        let user = headers
            .get("impersonate-user")
            .map(text)
            .filter(|u| !u.is_empty());
        let groups: Vec<String> = headers
            .get_all("impersonate-group")
            .iter()
            .map(text)
            .collect();
        let uid = headers.get("impersonate-uid").map(text);
        let mut extras: Vec<(String, String)> = Vec::new();
        for (name, value) in headers {
            if let Some(key) = name.as_str().strip_prefix("impersonate-extra-") {
                let key = percent_decode(key).to_lowercase();
                extras.push((key, text(value)));
            }
        }
        let Some(username) = user else {
            if !groups.is_empty() || !extras.is_empty() || uid.is_some() {
                return Err(ApiError::internal(
                    "requested impersonation of groups, uid or extras without impersonating a user",
                ));
            }
            return Ok(requestor);
        };
        let mut checks = Vec::new();
        let mut new_groups = Vec::new();
        match rbac::split_service_account_username(&username) {
            Some((ns, name)) => {
                checks.push(Attributes::resource(
                    "impersonate",
                    "",
                    "serviceaccounts",
                    &ns,
                    &name,
                ));
                if groups.is_empty() {
                    new_groups = rbac::service_account_groups(&ns);
                    new_groups.retain(|g| g != rbac::ALL_AUTHENTICATED);
                }
            }
            None => checks.push(Attributes::resource(
                "impersonate",
                "",
                "users",
                "",
                &username,
            )),
        }
        for g in &groups {
            checks.push(Attributes::resource("impersonate", "", "groups", "", g));
            new_groups.push(g.clone());
        }
        if let Some(u) = &uid {
            checks.push(Attributes::resource(
                "impersonate",
                "authentication.k8s.io",
                "uids",
                "",
                u,
            ));
        }
        let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in &extras {
            let mut a =
                Attributes::resource("impersonate", "authentication.k8s.io", "userextras", "", v);
            a.subresource = k.clone();
            checks.push(a);
            extra.entry(k.clone()).or_default().push(v.clone());
        }
        for a in &checks {
            let d = self.authorize(&requestor, a);
            if !d.allowed {
                return Err(rbac::forbidden(&requestor, a, &d.reason));
            }
        }
        if username != "system:anonymous"
            && !new_groups
                .iter()
                .any(|g| g == rbac::ALL_AUTHENTICATED || g == rbac::ALL_UNAUTHENTICATED)
        {
            new_groups.push(rbac::ALL_AUTHENTICATED.into());
        }
        Ok(UserInfo {
            name: username,
            uid: uid.unwrap_or_default(),
            groups: new_groups,
            extra,
        })
    }
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("k={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_and_forgeries_do_not() {
        let issuer = TokenIssuer::new(b"secret-one");
        let t = issuer.sign(&json!({"sub": "x"}));
        assert_eq!(issuer.verify(&t).unwrap()["sub"], "x");
        assert!(TokenIssuer::new(b"secret-two").verify(&t).is_none());
        // A changed payload under the old signature is refused.
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = B64.encode(br#"{"sub":"admin"}"#);
        parts[1] = &forged;
        assert!(issuer.verify(&parts.join(".")).is_none());
        assert!(issuer.verify("not-a-jwt").is_none());
        // alg=none with no signature is refused.
        let none = format!(
            "{}.{}.",
            B64.encode(br#"{"alg":"none"}"#),
            B64.encode(br#"{"sub":"x"}"#)
        );
        assert!(issuer.verify(&none).is_none());
    }

    fn app_with_clock(
        dir: &std::path::Path,
    ) -> (
        std::sync::Arc<App>,
        std::sync::Arc<crate::clock::ManualClock>,
    ) {
        let store = skiff_store::Store::open(&dir.join("s.db"), Default::default()).unwrap();
        let clock = std::sync::Arc::new(crate::clock::ManualClock::new(
            "2026-01-01T00:00:00Z".parse().unwrap(),
        ));
        let objects = std::sync::Arc::new(crate::objects::Objects::new(
            std::sync::Arc::new(store),
            clock.clone(),
        ));
        crate::server::install_builtins(&objects).unwrap();
        let app = App::new(objects, vec!["admin-token".into()], Default::default());
        (std::sync::Arc::new(app), clock)
    }

    #[test]
    fn service_account_tokens_expire_and_die_with_their_account() {
        let dir = tempfile::tempdir().unwrap();
        let (app, clock) = app_with_clock(dir.path());
        // Every namespace has a `default` ServiceAccount.
        let t = app
            .service_account_token("default", "default", Duration::from_secs(600))
            .unwrap();
        assert_eq!(
            t.expiration.to_string(),
            "2026-01-01T00:10:00Z",
            "expiry is now + ttl"
        );
        let (user, _) = app.authenticate_token(&t.token, &[]).unwrap();
        assert_eq!(user.name, "system:serviceaccount:default:default");
        assert_eq!(
            user.groups,
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:default",
                "system:authenticated"
            ]
        );
        clock.advance(Duration::from_secs(599));
        assert!(app.authenticate_token(&t.token, &[]).is_some());
        clock.advance(Duration::from_secs(1));
        assert!(app.authenticate_token(&t.token, &[]).is_none(), "expired");
        // Deleting the ServiceAccount revokes its tokens; a new one of the same name
        // does not bring them back (the uid differs).
        let t = app
            .service_account_token("default", "default", Duration::from_secs(600))
            .unwrap();
        let def = app
            .objects
            .registry()
            .find("", "v1", "serviceaccounts")
            .unwrap();
        app.objects
            .delete(&def, "default", "default", &Default::default())
            .unwrap();
        assert!(app.authenticate_token(&t.token, &[]).is_none());
        app.objects.ensure_default_service_account("default");
        assert!(app.authenticate_token(&t.token, &[]).is_none());
        // Missing accounts other than `default` are a 404.
        let e = app
            .service_account_token("default", "nobody", Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(e.message, "serviceaccounts \"nobody\" not found");
        // Tokens for another audience do not authenticate to the API.
        let t = app
            .request_token(
                "default",
                "default",
                &TokenOptions {
                    audiences: vec!["vault".into()],
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(app.authenticate_token(&t.token, &[]).is_none());
        assert!(app
            .authenticate_token(&t.token, &["vault".into()])
            .is_some());
        // The admin token is the superuser.
        let (admin, _) = app.authenticate_token("admin-token", &[]).unwrap();
        assert!(admin.is_superuser());
    }

    #[test]
    fn impersonation_needs_the_impersonate_verb() {
        let dir = tempfile::tempdir().unwrap();
        let (app, _) = app_with_clock(dir.path());
        let mut headers = HeaderMap::new();
        headers.insert(
            "impersonate-user",
            "system:serviceaccount:ci:bot".parse().unwrap(),
        );
        let u = app.impersonate(admin_user(), &headers).unwrap();
        assert_eq!(u.name, "system:serviceaccount:ci:bot");
        assert_eq!(
            u.groups,
            vec![
                "system:serviceaccounts",
                "system:serviceaccounts:ci",
                "system:authenticated"
            ]
        );
        headers.append("impersonate-group", "devs".parse().unwrap());
        let u = app.impersonate(admin_user(), &headers).unwrap();
        assert_eq!(u.groups, vec!["devs", "system:authenticated"]);
        let sa = UserInfo::service_account("default", "default", "u");
        let e = app.impersonate(sa, &headers).unwrap_err();
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "serviceaccounts \"bot\" is forbidden: User \"system:serviceaccount:default:default\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"ci\""
        );
    }

    #[test]
    fn extra_header_keys_are_decoded() {
        assert_eq!(percent_decode("scopes%2Fa"), "scopes/a");
        assert_eq!(percent_decode("plain"), "plain");
    }
}
