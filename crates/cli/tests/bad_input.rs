//! Bad input over plain HTTPS (and kubectl where that is what a user would run): each
//! refusal is a clear `Status` with the right code, and nothing is written.

mod common;

use serde_json::{json, Value};

use common::{stderr, TestServer};

const KSVC: &str = "/apis/serving.knative.dev/v1/namespaces/default/services";
const CMS: &str = "/api/v1/namespaces/default/configmaps";

struct Http {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Http {
    fn new(s: &TestServer) -> Http {
        Http {
            client: s.http(),
            base: s.url(),
            token: s.token(),
        }
    }

    /// Sends a request with the admin token; returns the code and the body as JSON.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let r = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Content-Type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let code = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            code,
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
        )
    }

    async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            reqwest::Method::POST,
            path,
            "application/json",
            serde_json::to_vec(body).unwrap(),
        )
        .await
    }

    /// The list's resourceVersion and how many items it has.
    async fn list(&self, path: &str) -> (String, usize) {
        let (code, v) = self
            .send(reqwest::Method::GET, path, "application/json", Vec::new())
            .await;
        assert_eq!(code, 200, "{v}");
        (
            v["metadata"]["resourceVersion"]
                .as_str()
                .unwrap()
                .to_string(),
            v["items"].as_array().unwrap().len(),
        )
    }
}

fn ksvc(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

fn container() -> Value {
    json!({"image": "ghcr.io/knative/helloworld-go:latest"})
}

/// Asserts a refusal: code, Status kind and reason, and (for 422) a cause naming `field`.
#[track_caller]
fn assert_status(got: &(u16, Value), code: u16, reason: &str, field: Option<&str>) {
    let (c, v) = got;
    assert_eq!(*c, code, "{v}");
    assert_eq!(v["kind"], json!("Status"), "{v}");
    assert_eq!(v["apiVersion"], json!("v1"), "{v}");
    assert_eq!(v["status"], json!("Failure"), "{v}");
    assert_eq!(v["code"], json!(code), "{v}");
    assert_eq!(v["reason"], json!(reason), "{v}");
    assert!(!v["message"].as_str().unwrap_or_default().is_empty(), "{v}");
    if let Some(f) = field {
        let causes = v["details"]["causes"]
            .as_array()
            .unwrap_or_else(|| panic!("no causes: {v}"));
        assert!(
            causes.iter().any(|c| c["field"] == json!(f)),
            "no cause names {f}: {v}"
        );
        assert!(
            v["message"].as_str().unwrap().contains(f),
            "message does not name {f}: {v}"
        );
    }
}

#[tokio::test]
async fn invalid_knative_services_are_refused_whole() {
    let s = TestServer::start();
    let h = Http::new(&s);
    let before = h.list(KSVC).await;
    assert_eq!(before.1, 0);

    // An unknown field, as Knative's webhook words it.
    let mut spec = json!({"template": {"spec": {"containers": [container()]}}});
    spec["template"]["spec"]["foo"] = json!("bar");
    let got = h.post_json(KSVC, &ksvc("hello", spec)).await;
    assert_status(&got, 422, "Invalid", Some("spec.template.spec.foo"));
    assert!(
        got.1["message"]
            .as_str()
            .unwrap()
            .contains("must not set the field(s)"),
        "{}",
        got.1
    );
    assert_eq!(got.1["details"]["name"], json!("hello"));
    assert_eq!(got.1["details"]["group"], json!("serving.knative.dev"));

    // A name that is not DNS-1123.
    let got = h
        .post_json(
            KSVC,
            &ksvc(
                "Bad_Name",
                json!({"template": {"spec": {"containers": [container()]}}}),
            ),
        )
        .await;
    assert_status(&got, 422, "Invalid", Some("metadata.name"));

    // Traffic that does not add up to 100.
    let traffic = json!([{"latestRevision": true, "percent": 100}, {"revisionName": "hello-00001", "percent": 50}]);
    let got = h
        .post_json(
            KSVC,
            &ksvc(
                "hello",
                json!({"template": {"spec": {"containers": [container()]}}, "traffic": traffic}),
            ),
        )
        .await;
    assert_status(&got, 422, "Invalid", Some("spec.traffic"));
    assert!(
        got.1["message"].as_str().unwrap().contains("150"),
        "{}",
        got.1
    );

    // Duplicate tags.
    let traffic = json!([
        {"latestRevision": true, "percent": 50, "tag": "a"},
        {"revisionName": "hello-00001", "percent": 50, "tag": "a"}
    ]);
    let got = h
        .post_json(
            KSVC,
            &ksvc(
                "hello",
                json!({"template": {"spec": {"containers": [container()]}}, "traffic": traffic}),
            ),
        )
        .await;
    assert_status(&got, 422, "Invalid", None);
    let fields: Vec<&str> = got.1["details"]["causes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert!(
        fields
            .iter()
            .any(|f| f.starts_with("spec.traffic") && f.ends_with("tag")),
        "{}",
        got.1
    );

    // timeoutSeconds out of range.
    let got = h.post_json(KSVC, &ksvc("hello", json!({"template": {"spec": {"containers": [container()], "timeoutSeconds": 9999}}}))).await;
    assert_status(
        &got,
        422,
        "Invalid",
        Some("spec.template.spec.timeoutSeconds"),
    );

    // Several problems at once are all reported.
    let got = h
        .post_json(KSVC, &ksvc("hello", json!({"template": {"spec": {"containers": [container()], "timeoutSeconds": 9999}}, "traffic": [{"latestRevision": true, "percent": 30}]})))
        .await;
    assert_status(&got, 422, "Invalid", Some("spec.traffic"));
    assert_status(
        &got,
        422,
        "Invalid",
        Some("spec.template.spec.timeoutSeconds"),
    );

    assert_eq!(
        h.list(KSVC).await,
        before,
        "a refused request wrote something"
    );

    // The same through kubectl: the error names the field, nothing is created.
    let yaml = "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata:\n  name: hello\nspec:\n  template:\n    spec:\n      foo: bar\n      containers:\n        - image: ghcr.io/knative/helloworld-go:latest\n";
    let out = s.kubectl_stdin(&["apply", "-f", "-"], Some(yaml));
    assert!(!out.status.success());
    // The server says `spec.template.spec.foo`; kubectl ≤ 1.2x (SKIFF_TEST_KUBECTL)
    // refuses it itself from /openapi/v2 and says `unknown field "foo"` in `...spec`.
    let err = stderr(&out);
    assert!(
        err.contains("spec.template.spec.foo")
            || (err.contains(r#"unknown field "foo""#) && err.contains("spec.template.spec")),
        "{err}"
    );
    let out = s.kubectl_stdin(
        &["apply", "-f", "-"],
        Some(
            &yaml
                .replace("      foo: bar\n", "")
                .replace("name: hello", "name: Bad_Name"),
        ),
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("metadata.name"), "{}", stderr(&out));
    assert_eq!(
        h.list(KSVC).await,
        before,
        "a refused kubectl apply wrote something"
    );

    // A valid one still goes through, and a bad update of it is refused whole too.
    let (code, created) = h
        .post_json(
            KSVC,
            &ksvc(
                "hello",
                json!({"template": {"spec": {"containers": [container()]}}}),
            ),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let (code, v) = h
        .send(
            reqwest::Method::PATCH,
            &format!("{KSVC}/hello"),
            "application/merge-patch+json",
            serde_json::to_vec(&json!({"metadata": {"labels": {"x": "y"}}, "spec": {"template": {"spec": {"timeoutSeconds": 9999}}}})).unwrap(),
        )
        .await;
    assert_eq!(code, 422, "{v}");
    let (code, now) = h
        .send(
            reqwest::Method::GET,
            &format!("{KSVC}/hello"),
            "",
            Vec::new(),
        )
        .await;
    assert_eq!(code, 200);
    assert_eq!(
        now["metadata"]["resourceVersion"],
        created["metadata"]["resourceVersion"]
    );
    assert!(now["metadata"]["labels"].is_null(), "{now}");
}

#[tokio::test]
async fn malformed_bodies_and_content_types() {
    let s = TestServer::start();
    let h = Http::new(&s);
    let before = h.list(CMS).await;

    let got = h
        .send(
            reqwest::Method::POST,
            CMS,
            "application/json",
            b"{\"metadata\": {\"name\": \"x\"".to_vec(),
        )
        .await;
    assert_status(&got, 400, "BadRequest", None);

    let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n c: d\n";
    let got = h
        .send(
            reqwest::Method::POST,
            CMS,
            "application/yaml",
            yaml.as_bytes().to_vec(),
        )
        .await;
    assert_status(&got, 400, "BadRequest", None);
    assert!(
        got.1["message"].as_str().unwrap().contains("line 7"),
        "{}",
        got.1
    );

    // A well-formed body that is not an object.
    let got = h
        .send(
            reqwest::Method::POST,
            CMS,
            "application/json",
            b"[1, 2]".to_vec(),
        )
        .await;
    assert_status(&got, 400, "BadRequest", None);

    let got = h
        .send(
            reqwest::Method::POST,
            CMS,
            "text/plain",
            b"{\"metadata\": {\"name\": \"x\"}}".to_vec(),
        )
        .await;
    assert_status(&got, 415, "UnsupportedMediaType", None);
    let got = h
        .send(
            reqwest::Method::PATCH,
            &format!("{CMS}/x"),
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert_status(&got, 415, "UnsupportedMediaType", None);

    // A malformed patch.
    let (code, _) = h.post_json(CMS, &json!({"metadata": {"name": "x"}})).await;
    assert_eq!(code, 201);
    let before_patch = h.list(CMS).await;
    let got = h
        .send(
            reqwest::Method::PATCH,
            &format!("{CMS}/x"),
            "application/json-patch+json",
            b"[{\"op\": \"explode\"}]".to_vec(),
        )
        .await;
    assert_status(&got, 400, "BadRequest", None);
    let got = h
        .send(
            reqwest::Method::PATCH,
            &format!("{CMS}/x"),
            "application/merge-patch+json",
            b"{not json".to_vec(),
        )
        .await;
    assert_status(&got, 400, "BadRequest", None);
    assert_eq!(h.list(CMS).await, before_patch);
    assert_eq!(before_patch.1, before.1 + 1);
}

#[tokio::test]
async fn authentication_is_required() {
    let s = TestServer::start();
    let h = Http::new(&s);
    let before = h.list(CMS).await;
    let body = serde_json::to_vec(&json!({"metadata": {"name": "x"}})).unwrap();

    for token in [None, Some("wrong"), Some("")] {
        let mut req = h
            .client
            .post(format!("{}{CMS}", h.base))
            .header("Content-Type", "application/json")
            .body(body.clone());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let code = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        assert_status(&(code, v), 401, "Unauthorized", None);
    }
    // Reads need the token too; health checks do not.
    let r = h
        .client
        .get(format!("{}{CMS}", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = h
        .client
        .get(format!("{}/api", h.base))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = h
        .client
        .get(format!("{}/readyz", h.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);

    assert_eq!(h.list(CMS).await, before);

    // kubectl with a bad token says it is unauthorized.
    let kc = std::fs::read_to_string(s.kubeconfig())
        .unwrap()
        .replace(&s.token(), "not-the-token");
    let bad_kc = s.data_dir().join("bad-kubeconfig");
    std::fs::write(&bad_kc, kc).unwrap();
    let out = std::process::Command::new(common::kubectl_bin())
        .env("KUBECONFIG", &bad_kc)
        .env("HOME", s.data_dir())
        .args(["get", "cm"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("Unauthorized") || err.contains("provide credentials"),
        "{err}"
    );
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let s = TestServer::start_with(&["--max-request-bytes", "65536"]);
    let h = Http::new(&s);
    let before = h.list(CMS).await;
    let big = "x".repeat(100 * 1024);
    let got = h
        .post_json(
            CMS,
            &json!({"metadata": {"name": "big"}, "data": {"big": big}}),
        )
        .await;
    assert_status(&got, 413, "RequestEntityTooLarge", None);
    assert_eq!(h.list(CMS).await, before);

    // Just under the limit is fine.
    let small = "x".repeat(60 * 1024);
    let (code, v) = h
        .post_json(
            CMS,
            &json!({"metadata": {"name": "small"}, "data": {"small": small}}),
        )
        .await;
    assert_eq!(code, 201, "{v}");

    // An update over the limit is refused too and leaves the object as it was.
    let (code, v) = h
        .send(
            reqwest::Method::PUT,
            &format!("{CMS}/small"),
            "application/json",
            serde_json::to_vec(&json!({"metadata": {"name": "small"}, "data": {"small": big}}))
                .unwrap(),
        )
        .await;
    assert_eq!(code, 413, "{v}");
    let (_, now) = h
        .send(
            reqwest::Method::GET,
            &format!("{CMS}/small"),
            "",
            Vec::new(),
        )
        .await;
    assert_eq!(now["data"]["small"].as_str().unwrap().len(), 60 * 1024);
}

#[tokio::test]
async fn invalid_autoscaling_settings_are_refused() {
    let s = TestServer::start();
    let h = Http::new(&s);
    // (skiff creates Knative's system namespace at start, as Knative's install does.)
    let cms = "/api/v1/namespaces/knative-serving/configmaps";
    // Knative's ConfigMap webhook: a stable window under 6 s is refused, nothing stored.
    let got = h
        .post_json(
            cms,
            &json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "config-autoscaler"},
                    "data": {"stable-window": "1s"}}),
        )
        .await;
    assert_status(&got, 422, "Invalid", Some("data.stable-window"));
    assert_eq!(h.list(cms).await.1, 0);

    // A template annotation out of range, named with its full key.
    let spec = json!({"template": {
        "metadata": {"annotations": {"autoscaling.knative.dev/max-scale": "-1"}},
        "spec": {"containers": [container()]}}});
    let got = h.post_json(KSVC, &ksvc("hello", spec)).await;
    assert_status(
        &got,
        422,
        "Invalid",
        Some("spec.template.metadata.annotations.autoscaling.knative.dev/max-scale"),
    );
    assert_eq!(h.list(KSVC).await.1, 0);
}
