//! Service accounts and RBAC against a real `skiff server`, driven by the real kubectl:
//! `kubectl create token`, 403s with Kubernetes' messages, Roles/ClusterRoles and their
//! bindings (resourceNames, subresources), `kubectl auth can-i`/`whoami`, impersonation,
//! token revocation and forgery, the escalation check, and bad input.

mod common;

use std::process::Output;
use std::time::Duration;

use common::{ok, stderr, stdout, TestServer};
use serde_json::{json, Value};

const BUILDER: &str = "system:serviceaccount:default:builder";

/// `kubectl create token` for a service account.
fn token(s: &TestServer, ns: &str, sa: &str) -> String {
    ok(&s.kubectl(&["-n", ns, "create", "token", sa]))
        .trim()
        .to_string()
}

/// kubectl with a bearer token instead of the admin's.
fn kubectl_as(s: &TestServer, token: &str, args: &[&str]) -> Output {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    s.kubectl(&all)
}

/// kubectl's error output of a failed command.
#[track_caller]
fn fails(o: &Output) -> String {
    assert!(!o.status.success(), "expected failure, got: {}", stdout(o));
    stderr(o)
}

/// A GET with a bearer token: status code and JSON body.
async fn get(s: &TestServer, token: &str, path: &str) -> (u16, Value) {
    let r = s
        .http()
        .get(format!("{}{path}", s.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let code = r.status().as_u16();
    let text = r.text().await.unwrap();
    (code, serde_json::from_str(&text).unwrap_or(json!(text)))
}

#[tokio::test]
async fn service_account_is_forbidden_until_a_role_binding_allows_it() {
    let s = TestServer::start();
    ok(&s.kubectl(&["create", "serviceaccount", "builder"]));
    let t = token(&s, "default", "builder");
    assert_eq!(t.split('.').count(), 3, "a JWT: {t}");

    // No binding: 403 with Kubernetes' exact message, from kubectl and over HTTP.
    let err = fails(&kubectl_as(&s, &t, &["get", "pods"]));
    assert_eq!(
        err.trim(),
        format!("Error from server (Forbidden): pods is forbidden: User \"{BUILDER}\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"")
    );
    let (code, status) = get(&s, &t, "/api/v1/namespaces/default/configmaps/x").await;
    assert_eq!(code, 403);
    assert_eq!(status["kind"], "Status");
    assert_eq!(status["reason"], "Forbidden");
    assert_eq!(
        status["details"],
        json!({"name": "x", "kind": "configmaps"})
    );
    assert_eq!(
        status["message"],
        format!("configmaps \"x\" is forbidden: User \"{BUILDER}\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"default\"")
    );
    let err = fails(&kubectl_as(&s, &t, &["get", "ksvc", "-A"]));
    assert!(
        err.contains(&format!("services.serving.knative.dev is forbidden: User \"{BUILDER}\" cannot list resource \"services\" in API group \"serving.knative.dev\" at the cluster scope")),
        "{err}"
    );
    // Watches are authorized as watch.
    let (code, status) = get(&s, &t, "/api/v1/namespaces/default/pods?watch=true").await;
    assert_eq!(code, 403);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("cannot watch resource \"pods\""),
        "{status}"
    );
    // Discovery is open to every authenticated identity (system:discovery).
    ok(&kubectl_as(
        &s,
        &t,
        &["api-resources", "--api-group=rbac.authorization.k8s.io"],
    ));
    let (code, _) = get(&s, &t, "/version").await;
    assert_eq!(code, 200);
    // Non-resource URLs outside discovery are not.
    let (code, status) = get(&s, &t, "/metrics").await;
    assert_eq!(code, 403);
    assert_eq!(
        status["message"],
        format!("forbidden: User \"{BUILDER}\" cannot get path \"/metrics\"")
    );

    // A Role and RoleBinding made with kubectl's typed commands (protobuf bodies).
    assert_eq!(
        ok(&s.kubectl(&[
            "create",
            "role",
            "pod-reader",
            "--verb=get,list,watch",
            "--resource=pods"
        ])),
        "role.rbac.authorization.k8s.io/pod-reader created\n"
    );
    assert_eq!(
        ok(&s.kubectl(&[
            "create",
            "rolebinding",
            "read-pods",
            "--role=pod-reader",
            "--serviceaccount=default:builder"
        ])),
        "rolebinding.rbac.authorization.k8s.io/read-pods created\n"
    );
    let out = kubectl_as(&s, &t, &["get", "pods"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("No resources found"),
        "{}",
        stderr(&out)
    );
    let (code, list) = get(&s, &t, "/api/v1/namespaces/default/pods?watch=false").await;
    assert_eq!((code, list["kind"].as_str()), (200, Some("PodList")));
    // Only in the binding's namespace, and not across namespaces.
    ok(&s.kubectl(&["create", "namespace", "other"]));
    let err = fails(&kubectl_as(&s, &t, &["-n", "other", "get", "pods"]));
    assert!(err.contains("in the namespace \"other\""), "{err}");
    let err = fails(&kubectl_as(&s, &t, &["get", "pods", "-A"]));
    assert!(err.contains("at the cluster scope"), "{err}");

    // kubectl apply issues get, then create (new) or patch (existing): each verb counts.
    ok(&s.kubectl(&[
        "create",
        "role",
        "cm-creator",
        "--verb=get,create",
        "--resource=configmaps",
    ]));
    ok(&s.kubectl(&[
        "create",
        "rolebinding",
        "cm-creator",
        "--role=cm-creator",
        "--serviceaccount=default:builder",
    ]));
    let dir = s.data_dir().to_path_buf();
    let cm = |v: &str| {
        common::write(
            &dir,
            "cm.yaml",
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: \"{v}\"\n"),
        )
    };
    let path = cm("1");
    assert_eq!(
        ok(&kubectl_as(
            &s,
            &t,
            &["apply", "-f", path.to_str().unwrap()]
        )),
        "configmap/settings created\n"
    );
    let path = cm("2");
    let err = fails(&kubectl_as(
        &s,
        &t,
        &["apply", "-f", path.to_str().unwrap()],
    ));
    assert!(
        err.contains(&format!("configmaps \"settings\" is forbidden: User \"{BUILDER}\" cannot patch resource \"configmaps\" in API group \"\" in the namespace \"default\"")),
        "{err}"
    );
    // Server-side apply of a new object needs patch and create.
    let path = common::write(
        &dir,
        "cm2.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: b\n",
    );
    let err = fails(&kubectl_as(
        &s,
        &t,
        &["apply", "--server-side", "-f", path.to_str().unwrap()],
    ));
    assert!(
        err.contains("cannot patch resource \"configmaps\""),
        "{err}"
    );
    ok(&s.kubectl(&[
        "patch",
        "role",
        "cm-creator",
        "--type=json",
        "-p",
        r#"[{"op": "add", "path": "/rules/0/verbs/-", "value": "patch"}]"#,
    ]));
    assert_eq!(
        ok(&kubectl_as(
            &s,
            &t,
            &["apply", "-f", path.to_str().unwrap()]
        )),
        "configmap/ssa created\n"
    );
    ok(&kubectl_as(
        &s,
        &t,
        &["apply", "-f", cm("2").to_str().unwrap()],
    ));
    assert_eq!(
        ok(&s.kubectl(&["get", "cm", "settings", "-o", "jsonpath={.data.a}"])),
        "2"
    );

    // The admin token keeps working everywhere.
    ok(&s.kubectl(&["get", "pods", "-A"]));
    ok(&s.kubectl(&["get", "secrets", "-A"]));
    ok(&s.kubectl(&["get", "clusterroles"]));
    ok(&s.kubectl(&["delete", "rolebinding", "read-pods"]));
    fails(&kubectl_as(&s, &t, &["get", "pods"]));
}

#[tokio::test]
async fn cluster_roles_resource_names_and_subresources() {
    let s = TestServer::start();
    ok(&s.kubectl(&["create", "serviceaccount", "builder"]));
    let t = token(&s, "default", "builder");

    // ClusterRole + ClusterRoleBinding: cluster-scoped access.
    let err = fails(&kubectl_as(&s, &t, &["get", "namespaces"]));
    assert!(
        err.contains(&format!("namespaces is forbidden: User \"{BUILDER}\" cannot list resource \"namespaces\" in API group \"\" at the cluster scope")),
        "{err}"
    );
    ok(&s.kubectl(&[
        "create",
        "clusterrole",
        "ns-reader",
        "--verb=get,list",
        "--resource=namespaces",
    ]));
    ok(&s.kubectl(&[
        "create",
        "clusterrolebinding",
        "builder-ns-reader",
        "--clusterrole=ns-reader",
        "--serviceaccount=default:builder",
    ]));
    let out = ok(&kubectl_as(&s, &t, &["get", "namespaces", "-o", "name"]));
    assert!(out.contains("namespace/default"), "{out}");
    let wide = ok(&s.kubectl(&[
        "get",
        "clusterrolebinding",
        "builder-ns-reader",
        "-o",
        "wide",
    ]));
    assert!(
        wide.contains("ClusterRole/ns-reader") && wide.contains("default/builder"),
        "{wide}"
    );

    // resourceNames: one ConfigMap, not the others, and no list.
    ok(&s.kubectl(&["create", "configmap", "app", "--from-literal=a=b"]));
    ok(&s.kubectl(&["create", "configmap", "other", "--from-literal=a=b"]));
    ok(&s.kubectl(&[
        "create",
        "role",
        "app-config",
        "--verb=get,watch,list",
        "--resource=configmaps",
        "--resource-name=app",
    ]));
    ok(&s.kubectl(&[
        "create",
        "rolebinding",
        "app-config",
        "--role=app-config",
        "--serviceaccount=default:builder",
    ]));
    assert_eq!(
        ok(&kubectl_as(&s, &t, &["get", "cm", "app", "-o", "name"])),
        "configmap/app\n"
    );
    let err = fails(&kubectl_as(&s, &t, &["get", "cm", "other"]));
    assert!(
        err.contains(&format!("configmaps \"other\" is forbidden: User \"{BUILDER}\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"default\"")),
        "{err}"
    );
    fails(&kubectl_as(&s, &t, &["get", "cm"]));
    // A list or watch pinned to the name by a field selector is a request about it.
    let (code, list) = get(
        &s,
        &t,
        "/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Dapp",
    )
    .await;
    assert_eq!(code, 200, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    // Subresource rules: pods/log without pods.
    ok(&s.kubectl(&[
        "create",
        "role",
        "log-reader",
        "--verb=get",
        "--resource=pods/log",
    ]));
    ok(&s.kubectl(&[
        "create",
        "rolebinding",
        "log-reader",
        "--role=log-reader",
        "--serviceaccount=default:builder",
    ]));
    let (code, status) = get(&s, &t, "/api/v1/namespaces/default/pods/web/log").await;
    assert_eq!(
        code, 404,
        "allowed, and then there is no such pod: {status}"
    );
    let (code, status) = get(&s, &t, "/api/v1/namespaces/default/pods/web").await;
    assert_eq!(code, 403);
    assert_eq!(
        status["message"],
        format!("pods \"web\" is forbidden: User \"{BUILDER}\" cannot get resource \"pods\" in API group \"\" in the namespace \"default\"")
    );
    ok(&s.kubectl(&["create", "serviceaccount", "reader"]));
    let r = token(&s, "default", "reader");
    let (code, status) = get(&s, &r, "/api/v1/namespaces/default/pods/web/log").await;
    assert_eq!(code, 403);
    assert_eq!(
        status["message"],
        "pods \"web\" is forbidden: User \"system:serviceaccount:default:reader\" cannot get resource \"pods/log\" in API group \"\" in the namespace \"default\""
    );

    // A ClusterRole bound by a RoleBinding applies in that namespace only: the default
    // `edit` role lets a team's service account deploy Knative Services there.
    ok(&s.kubectl(&["create", "namespace", "team"]));
    ok(&s.kubectl(&["-n", "team", "create", "serviceaccount", "deployer"]));
    ok(&s.kubectl(&[
        "-n",
        "team",
        "create",
        "rolebinding",
        "deployer-edit",
        "--clusterrole=edit",
        "--serviceaccount=team:deployer",
    ]));
    let d = token(&s, "team", "deployer");
    let ksvc = common::write(
        s.data_dir(),
        "ksvc.yaml",
        "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\nspec:\n  template:\n    spec:\n      containers:\n        - image: ghcr.io/knative/helloworld-go:latest\n",
    );
    assert_eq!(
        ok(&kubectl_as(
            &s,
            &d,
            &["-n", "team", "apply", "-f", ksvc.to_str().unwrap()]
        )),
        "service.serving.knative.dev/hello created\n"
    );
    let err = fails(&kubectl_as(
        &s,
        &d,
        &["-n", "default", "apply", "-f", ksvc.to_str().unwrap()],
    ));
    assert!(err.contains("in the namespace \"default\""), "{err}");
    // `edit` does not include RBAC.
    fails(&kubectl_as(&s, &d, &["-n", "team", "get", "roles"]));
}

#[tokio::test]
async fn tokens_are_revoked_with_their_service_account_and_cannot_be_forged() {
    let s = TestServer::start();
    ok(&s.kubectl(&["create", "serviceaccount", "builder"]));
    ok(&s.kubectl(&[
        "create",
        "rolebinding",
        "builder-view",
        "--clusterrole=view",
        "--serviceaccount=default:builder",
    ]));
    let t = token(&s, "default", "builder");
    ok(&kubectl_as(&s, &t, &["get", "cm"]));

    // Tokens signed with the server's key (in the data dir) are genuine; anything
    // else, or expired, is 401.
    let key = std::fs::read_to_string(s.data_dir().join("pki/sa.key")).unwrap();
    let issuer = skiff_apiserver::TokenIssuer::new(key.trim().as_bytes());
    let sa: Value =
        serde_json::from_str(&ok(&s.kubectl(&["get", "sa", "builder", "-o", "json"]))).unwrap();
    let now = jiff::Timestamp::now().as_second();
    let claims = |exp: i64| {
        json!({
            "aud": ["https://kubernetes.default.svc.cluster.local"],
            "iss": "https://kubernetes.default.svc.cluster.local",
            "iat": now - 7200, "nbf": now - 7200, "exp": exp,
            "sub": BUILDER,
            "kubernetes.io": {"namespace": "default",
                              "serviceaccount": {"name": "builder", "uid": sa["metadata"]["uid"]}},
        })
    };
    let (code, _) = get(
        &s,
        &issuer.sign(&claims(now + 600)),
        "/api/v1/namespaces/default/configmaps",
    )
    .await;
    assert_eq!(code, 200);
    let expired = issuer.sign(&claims(now - 60));
    let (code, status) = get(&s, &expired, "/api/v1/namespaces/default/configmaps").await;
    assert_eq!(
        (code, status["reason"].as_str()),
        (401, Some("Unauthorized"))
    );
    let forged = skiff_apiserver::TokenIssuer::new(b"not-the-server-key-0123456789abcdef")
        .sign(&claims(now + 600));
    let (code, _) = get(&s, &forged, "/api/v1/namespaces/default/configmaps").await;
    assert_eq!(code, 401);
    // The real token with its payload swapped for another account's keeps the old
    // signature, so it is refused.
    let mut parts: Vec<String> = t.split('.').map(String::from).collect();
    let other = issuer.sign(&json!({"sub": "system:serviceaccount:kube-system:default"}));
    parts[1] = other.split('.').nth(1).unwrap().to_string();
    let (code, _) = get(
        &s,
        &parts.join("."),
        "/api/v1/namespaces/default/configmaps",
    )
    .await;
    assert_eq!(code, 401);
    let err = fails(&kubectl_as(&s, &forged, &["get", "cm"]));
    assert!(err.contains("Unauthorized"), "{err}");

    // A token for another audience does not work against the API.
    let vault = ok(&s.kubectl(&["create", "token", "builder", "--audience=vault"]));
    let (code, _) = get(&s, vault.trim(), "/api/v1/namespaces/default/configmaps").await;
    assert_eq!(code, 401);

    // Expiry as asked (TokenRequest's expirationSeconds, at least 10 minutes).
    let err = fails(&s.kubectl(&["create", "token", "builder", "--duration=1m"]));
    assert!(
        err.contains("TokenRequest.authentication.k8s.io \"builder\" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes"),
        "{err}"
    );
    let tr: Value = serde_json::from_str(&ok(&s.kubectl(&[
        "create",
        "token",
        "builder",
        "--duration=2h",
        "-o",
        "json",
    ])))
    .unwrap();
    assert_eq!(tr["kind"], "TokenRequest");
    assert_eq!(tr["spec"]["expirationSeconds"], 7200);
    let exp: jiff::Timestamp = tr["status"]["expirationTimestamp"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let left = exp.as_second() - jiff::Timestamp::now().as_second();
    assert!((7100..=7200).contains(&left), "{left}");
    let err = fails(&s.kubectl(&["create", "token", "nobody"]));
    assert!(
        err.contains("serviceaccounts \"nobody\" not found"),
        "{err}"
    );

    // Deleting the ServiceAccount invalidates its tokens, and recreating one with the
    // same name does not revive them.
    ok(&s.kubectl(&["delete", "serviceaccount", "builder"]));
    let err = fails(&kubectl_as(&s, &t, &["get", "cm"]));
    assert!(
        err.contains("You must be logged in to the server (Unauthorized)"),
        "{err}"
    );
    let (code, _) = get(&s, &t, "/api/v1/namespaces/default/configmaps").await;
    assert_eq!(code, 401);
    ok(&s.kubectl(&["create", "serviceaccount", "builder"]));
    let (code, _) = get(&s, &t, "/api/v1/namespaces/default/configmaps").await;
    assert_eq!(code, 401);
    let t2 = token(&s, "default", "builder");
    ok(&kubectl_as(&s, &t2, &["get", "cm"]));

    // Every namespace gets a `default` ServiceAccount, as in Kubernetes.
    ok(&s.kubectl(&["create", "namespace", "team"]));
    common::eventually("team/default", Duration::from_secs(5), || {
        s.kubectl(&["-n", "team", "get", "sa", "default"])
            .status
            .success()
            .then_some(())
    });
    token(&s, "team", "default");
}

#[test]
fn kubectl_auth_can_i_and_whoami() {
    let s = TestServer::start();
    ok(&s.kubectl(&["create", "serviceaccount", "builder"]));
    let t = token(&s, "default", "builder");
    let can_i =
        |o: Output| -> (String, bool) { (stdout(&o).trim().to_string(), o.status.success()) };

    // The admin may do anything.
    assert_eq!(
        can_i(s.kubectl(&["auth", "can-i", "list", "pods"])),
        ("yes".into(), true)
    );
    assert_eq!(
        can_i(s.kubectl(&["auth", "can-i", "*", "*"])),
        ("yes".into(), true)
    );
    assert_eq!(
        can_i(s.kubectl(&["auth", "can-i", "delete", "clusterroles"])),
        ("yes".into(), true)
    );

    // The service account, by token, by a kubeconfig of its own, and impersonated.
    assert_eq!(
        can_i(kubectl_as(&s, &t, &["auth", "can-i", "list", "pods"])),
        ("no".into(), false)
    );
    let kc = std::fs::read_to_string(s.kubeconfig())
        .unwrap()
        .replace(&s.token(), &t);
    let sa_kubeconfig = common::write(s.data_dir(), "builder-kubeconfig", &kc);
    let sa_kubectl = |args: &[&str]| {
        std::process::Command::new(common::kubectl_bin())
            .env("KUBECONFIG", &sa_kubeconfig)
            .env("HOME", s.data_dir())
            .args(args)
            .output()
            .unwrap()
    };
    assert_eq!(
        can_i(sa_kubectl(&["auth", "can-i", "list", "pods"])),
        ("no".into(), false)
    );
    assert_eq!(
        can_i(s.kubectl(&[
            "auth",
            "can-i",
            "list",
            "pods",
            "--as=system:serviceaccount:default:builder"
        ])),
        ("no".into(), false)
    );
    // Self-reviews and discovery are allowed to everyone.
    assert_eq!(
        can_i(kubectl_as(
            &s,
            &t,
            &[
                "auth",
                "can-i",
                "create",
                "selfsubjectaccessreviews.authorization.k8s.io"
            ]
        )),
        ("yes".into(), true)
    );
    assert_eq!(
        can_i(kubectl_as(&s, &t, &["auth", "can-i", "get", "/apis"])),
        ("yes".into(), true)
    );

    ok(&s.kubectl(&[
        "create",
        "role",
        "pod-reader",
        "--verb=get,list,watch",
        "--resource=pods,pods/log",
    ]));
    ok(&s.kubectl(&[
        "create",
        "rolebinding",
        "read-pods",
        "--role=pod-reader",
        "--serviceaccount=default:builder",
    ]));
    assert_eq!(
        can_i(kubectl_as(&s, &t, &["auth", "can-i", "list", "pods"])),
        ("yes".into(), true)
    );
    assert_eq!(
        can_i(sa_kubectl(&[
            "auth",
            "can-i",
            "get",
            "pods",
            "--subresource=log"
        ])),
        ("yes".into(), true)
    );
    assert_eq!(
        can_i(s.kubectl(&[
            "auth",
            "can-i",
            "watch",
            "pods",
            "--as=system:serviceaccount:default:builder"
        ])),
        ("yes".into(), true)
    );
    assert_eq!(
        can_i(kubectl_as(&s, &t, &["auth", "can-i", "delete", "pods"])),
        ("no".into(), false)
    );
    assert_eq!(
        can_i(kubectl_as(
            &s,
            &t,
            &["auth", "can-i", "list", "pods", "-n", "kube-system"]
        )),
        ("no".into(), false)
    );
    assert_eq!(
        can_i(kubectl_as(&s, &t, &["auth", "can-i", "list", "pods", "-A"])),
        ("no".into(), false)
    );
    let list = ok(&kubectl_as(&s, &t, &["auth", "can-i", "--list"]));
    assert!(
        list.lines()
            .any(|l| l.starts_with("pods ") && l.contains("[get list watch]")),
        "{list}"
    );
    // The service account may not impersonate anyone.
    let err = fails(&kubectl_as(
        &s,
        &t,
        &[
            "get",
            "pods",
            "--as=system:serviceaccount:kube-system:default",
        ],
    ));
    assert!(
        err.contains(&format!("serviceaccounts \"default\" is forbidden: User \"{BUILDER}\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"kube-system\"")),
        "{err}"
    );

    let me = ok(&kubectl_as(&s, &t, &["auth", "whoami", "-o", "json"]));
    let me: Value = serde_json::from_str(&me).unwrap();
    assert_eq!(me["status"]["userInfo"]["username"], BUILDER);
    assert_eq!(
        me["status"]["userInfo"]["groups"],
        json!([
            "system:serviceaccounts",
            "system:serviceaccounts:default",
            "system:authenticated"
        ])
    );
    let admin = ok(&s.kubectl(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.groups}"]));
    assert!(admin.contains("system:masters"), "{admin}");
}

#[test]
fn rbac_kinds_validation_and_escalation() {
    let s = TestServer::start();
    // The default policy is there, as in Kubernetes.
    let roles = ok(&s.kubectl(&["get", "clusterroles", "-o", "name"]));
    for r in [
        "cluster-admin",
        "admin",
        "edit",
        "view",
        "system:discovery",
        "system:basic-user",
    ] {
        assert!(
            roles.contains(&format!("clusterrole.rbac.authorization.k8s.io/{r}\n")),
            "{roles}"
        );
    }
    let describe = ok(&s.kubectl(&["describe", "clusterrolebinding", "cluster-admin"]));
    assert!(describe.contains("system:masters"), "{describe}");

    // A RoleBinding to a missing role is accepted, grants nothing, and the 403 says why.
    ok(&s.kubectl(&["create", "serviceaccount", "builder"]));
    let manifest = common::write(
        s.data_dir(),
        "rb.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: dangling\nsubjects:\n- kind: ServiceAccount\n  name: builder\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: missing\n",
    );
    assert_eq!(
        ok(&s.kubectl(&["apply", "-f", manifest.to_str().unwrap()])),
        "rolebinding.rbac.authorization.k8s.io/dangling created\n"
    );
    let t = token(&s, "default", "builder");
    let err = fails(&kubectl_as(&s, &t, &["get", "pods"]));
    assert!(
        err.contains(&format!("pods is forbidden: User \"{BUILDER}\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\": RBAC: role.rbac.authorization.k8s.io \"missing\" not found")),
        "{err}"
    );
    // Once the role exists, the binding works.
    ok(&s.kubectl(&[
        "create",
        "role",
        "missing",
        "--verb=list",
        "--resource=pods",
    ]));
    ok(&kubectl_as(&s, &t, &["get", "pods"]));

    // Bad input: refused whole with Kubernetes' field errors.
    let bad = common::write(
        s.data_dir(),
        "bad.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: bad\nsubjects:\n- kind: ServiceAccount\n  name: builder\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: Role\n  name: x\n",
    );
    let err = fails(&s.kubectl(&["apply", "-f", bad.to_str().unwrap()]));
    assert!(
        err.contains("The ClusterRoleBinding \"bad\" is invalid: \n* roleRef.kind: Unsupported value: \"Role\": supported values: \"ClusterRole\"\n* subjects[0].namespace: Required value"),
        "{err}"
    );
    assert!(!s
        .kubectl(&["get", "clusterrolebinding", "bad"])
        .status
        .success());
    let bad = common::write(
        s.data_dir(),
        "bad2.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: bad\nrules:\n- apiGroups: [\"\"]\n  resources: [pods]\n  verbs: []\n",
    );
    let err = fails(&s.kubectl(&["apply", "-f", bad.to_str().unwrap()]));
    assert!(
        err.contains("rules[0].verbs: Required value: verbs must contain at least one value"),
        "{err}"
    );
    let err = fails(&s.kubectl(&[
        "patch",
        "rolebinding",
        "dangling",
        "--type=merge",
        "-p",
        r#"{"roleRef": {"name": "other"}}"#,
    ]));
    assert!(err.contains("roleRef: Invalid value"), "{err}");
    assert!(err.contains("cannot change roleRef"), "{err}");
    assert_eq!(
        ok(&s.kubectl(&[
            "get",
            "rolebinding",
            "dangling",
            "-o",
            "jsonpath={.roleRef.name}"
        ])),
        "missing"
    );

    // A service account allowed to write roles and bindings still cannot grant more
    // than it holds.
    ok(&s.kubectl(&[
        "create",
        "role",
        "rbac-writer",
        "--verb=create,get,list",
        "--resource=roles.rbac.authorization.k8s.io,rolebindings.rbac.authorization.k8s.io,configmaps",
    ]));
    ok(&s.kubectl(&[
        "create",
        "rolebinding",
        "rbac-writer",
        "--role=rbac-writer",
        "--serviceaccount=default:builder",
    ]));
    let err = fails(&kubectl_as(
        &s,
        &t,
        &[
            "create",
            "rolebinding",
            "root",
            "--clusterrole=cluster-admin",
            "--serviceaccount=default:builder",
        ],
    ));
    assert!(
        err.contains(&format!("rolebindings.rbac.authorization.k8s.io \"root\" is forbidden: user \"{BUILDER}\" (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:default\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:")),
        "{err}"
    );
    let err = fails(&kubectl_as(
        &s,
        &t,
        &[
            "create",
            "role",
            "secrets",
            "--verb=get",
            "--resource=secrets",
        ],
    ));
    assert!(
        err.contains("{APIGroups:[\"\"], Resources:[\"secrets\"], Verbs:[\"get\"]}"),
        "{err}"
    );
    // Within its own rights it may.
    ok(&kubectl_as(
        &s,
        &t,
        &[
            "create",
            "role",
            "cm-reader",
            "--verb=get",
            "--resource=configmaps",
        ],
    ));
    ok(&kubectl_as(
        &s,
        &t,
        &[
            "create",
            "rolebinding",
            "cm-reader",
            "--role=cm-reader",
            "--serviceaccount=default:builder",
        ],
    ));
    assert_eq!(
        ok(&s.kubectl(&["get", "roles", "-o", "name"])),
        "role.rbac.authorization.k8s.io/cm-reader\nrole.rbac.authorization.k8s.io/missing\nrole.rbac.authorization.k8s.io/rbac-writer\n"
    );
}
