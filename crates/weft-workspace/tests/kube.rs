//! The Kubernetes backend against a small fake API server (axum on 127.0.0.1:0) that keeps
//! objects in memory and answers the REST calls kube-rs makes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use weft_config::Secret;
use weft_config::workspace::KubernetesConfig;
use weft_workspace::kube::{KubeBackend, default_instance};
use weft_workspace::{Backend, BackendError, Condition, Kind, LaunchSpec, Probe};

const TOKEN: &str = "k8s-test-token";
const NS: &str = "jupyter-pods";
const INSTANCE: &str = "weft-a";

/// One request the fake saw.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    plural: String,
    name: Option<String>,
    auth: Option<String>,
    content_type: Option<String>,
    /// The label selector of a list.
    selector: Option<String>,
}

/// A call the fake answers with an error instead.
struct Refusal {
    method: Method,
    plural: &'static str,
    code: u16,
    reason: &'static str,
    message: &'static str,
}

#[derive(Default)]
struct Fake {
    /// By (plural, namespace, name).
    objects: Mutex<BTreeMap<(String, String, String), Value>>,
    log: Mutex<Vec<Seen>>,
    refusals: Mutex<Vec<Refusal>>,
    version: AtomicU64,
}

impl Fake {
    fn get(&self, plural: &str, name: &str) -> Option<Value> {
        let key = (plural.to_owned(), NS.to_owned(), name.to_owned());
        self.objects.lock().unwrap().get(&key).cloned()
    }

    fn put(&self, plural: &str, name: &str, object: Value) {
        let key = (plural.to_owned(), NS.to_owned(), name.to_owned());
        self.objects.lock().unwrap().insert(key, object);
    }

    fn forget(&self, plural: &str, name: &str) {
        let key = (plural.to_owned(), NS.to_owned(), name.to_owned());
        self.objects.lock().unwrap().remove(&key);
    }

    fn names(&self, plural: &str) -> Vec<String> {
        self.objects
            .lock()
            .unwrap()
            .keys()
            .filter(|(p, _, _)| p == plural)
            .map(|(_, _, n)| n.clone())
            .collect()
    }

    fn set_pod_status(&self, name: &str, status: Value) {
        let mut pod = self.get("pods", name).expect("pod");
        pod["status"] = status;
        self.put("pods", name, pod);
    }

    fn count(&self, method: &Method, plural: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == *method && s.plural == plural)
            .count()
    }

    fn refuse(&self, method: Method, plural: &'static str, code: u16, message: &'static str) {
        let reason = match code {
            403 => "Forbidden",
            422 => "Invalid",
            _ => "InternalError",
        };
        self.refusals.lock().unwrap().push(Refusal {
            method,
            plural,
            code,
            reason,
            message,
        });
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().unwrap().clone()
    }

    fn next_version(&self) -> String {
        (self.version.fetch_add(1, Ordering::SeqCst) + 1).to_string()
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    (
        StatusCode::from_u16(code).unwrap(),
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn object(code: StatusCode, value: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        value.to_string(),
    )
        .into_response()
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let target = target.as_object_mut().unwrap();
    for (k, v) in patch {
        if v.is_null() {
            target.remove(k);
        } else {
            merge(target.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

fn matches_selector(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap();
        object["metadata"]["labels"][k] == v
    })
}

fn kind_of(plural: &str) -> &'static str {
    match plural {
        "pods" => "Pod",
        "services" => "Service",
        "configmaps" => "ConfigMap",
        "secrets" => "Secret",
        "persistentvolumeclaims" => "PersistentVolumeClaim",
        _ => "Unknown",
    }
}

async fn api(
    State(fake): State<Arc<Fake>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parts: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let (ns, plural, name) = match parts.as_slice() {
        ["api", "v1", "namespaces", ns, plural] => (*ns, *plural, None),
        ["api", "v1", "namespaces", ns, plural, name] => (*ns, *plural, Some(*name)),
        _ => {
            return status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            );
        }
    };
    let text = |h: header::HeaderName| {
        headers
            .get(h)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let auth = text(header::AUTHORIZATION);
    let query: BTreeMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    fake.log.lock().unwrap().push(Seen {
        method: method.clone(),
        plural: plural.to_owned(),
        name: name.map(str::to_owned),
        auth: auth.clone(),
        content_type: text(header::CONTENT_TYPE),
        selector: query.get("labelSelector").cloned(),
    });
    if auth.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return status(401, "Unauthorized", "Unauthorized");
    }
    if let Some(r) = fake
        .refusals
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.method == method && r.plural == plural)
    {
        return status(r.code, r.reason, r.message);
    }
    let key = |n: &str| (plural.to_owned(), ns.to_owned(), n.to_owned());
    let not_found = |n: &str| status(404, "NotFound", &format!("{plural} \"{n}\" not found"));
    let mut objects = fake.objects.lock().unwrap();
    match (method, name) {
        (Method::GET, None) => {
            let selector = query.get("labelSelector").cloned().unwrap_or_default();
            let items: Vec<Value> = objects
                .iter()
                .filter(|((p, n, _), o)| p == plural && n == ns && matches_selector(o, &selector))
                .map(|(_, o)| o.clone())
                .collect();
            let list = json!({
                "apiVersion": "v1",
                "kind": format!("{}List", kind_of(plural)),
                "metadata": { "resourceVersion": fake.next_version() },
                "items": items,
            });
            object(StatusCode::OK, &list)
        }
        (Method::POST, None) => {
            let mut new: Value = serde_json::from_slice(&body).unwrap();
            let n = new["metadata"]["name"].as_str().unwrap().to_owned();
            if objects.contains_key(&key(&n)) {
                return status(
                    409,
                    "AlreadyExists",
                    &format!("{plural} \"{n}\" already exists"),
                );
            }
            new["metadata"]["resourceVersion"] = json!(fake.next_version());
            new["metadata"]["uid"] = json!(format!("uid-{n}"));
            new["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
            if plural == "pods" {
                new["status"] = json!({ "phase": "Pending" });
            }
            objects.insert(key(&n), new.clone());
            object(StatusCode::CREATED, &new)
        }
        (Method::GET, Some(n)) => match objects.get(&key(n)) {
            Some(o) => object(StatusCode::OK, o),
            None => not_found(n),
        },
        (Method::DELETE, Some(n)) => match objects.remove(&key(n)) {
            Some(o) => object(StatusCode::OK, &o),
            None => not_found(n),
        },
        (Method::PATCH, Some(n)) => {
            let patch: Value = serde_json::from_slice(&body).unwrap();
            match objects.get_mut(&key(n)) {
                Some(o) => {
                    merge(o, &patch);
                    o["metadata"]["resourceVersion"] = json!(fake.next_version());
                    object(StatusCode::OK, o)
                }
                None => not_found(n),
            }
        }
        _ => status(405, "MethodNotAllowed", "method not allowed"),
    }
}

async fn serve() -> (Arc<Fake>, String) {
    let fake = Arc::new(Fake::default());
    let app = Router::new().fallback(api).with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (fake, format!("http://{addr}"))
}

fn config(url: &str, token: &str) -> KubernetesConfig {
    KubernetesConfig {
        namespace: NS.into(),
        api_url: Some(url.into()),
        token: Some(Secret(token.into())),
        volume_size: "20Gi".into(),
        storage_class: Some("fast".into()),
        user_volume_location: "/home/jovyan/pd".into(),
        ..KubernetesConfig::default()
    }
}

async fn backend() -> (Arc<Fake>, KubeBackend) {
    let (fake, url) = serve().await;
    let backend = KubeBackend::new(&config(&url, TOKEN), INSTANCE)
        .await
        .unwrap();
    (fake, backend)
}

fn kind() -> Kind {
    Kind {
        id: String::new(),
        name: "Jupyter".into(),
        command: Vec::new(),
        image: "quay.io/jupyter/base-notebook:2026-01-01".into(),
        target_port: 8888,
        cpu_limit: "1500m".into(),
        memory_limit: "3Gi".into(),
        idle_limit_secs: Some(3600),
        rate_per_hour: 0.0,
        env: vec![
            ("FROM_KIND".into(), "kind".into()),
            ("GEN3_ENDPOINT".into(), "replaced".into()),
        ],
        resource_paths: Vec::new(),
        pay_models: Vec::new(),
    }
}

fn spec(slug: &str) -> LaunchSpec {
    LaunchSpec {
        user: format!("{slug}@example.org"),
        slug: slug.into(),
        kind: kind(),
        secret: "nb-secret".into(),
        base_path: "/lw-workspace/proxy/".into(),
        env: vec![
            ("API_KEY".into(), "key-1".into()),
            ("API_KEY_ID".into(), "kid-1".into()),
            ("GEN3_ENDPOINT".into(), "https://weft.example.org".into()),
        ],
        files: vec![
            (
                ".gen3/credentials.json".into(),
                br#"{"api_key":"key-1","key_id":"kid-1"}"#.to_vec(),
            ),
            ("manifests/manifest-1.json".into(), b"[]".to_vec()),
        ],
    }
}

/// The ConfigMap key holding the file at `path`, found through its `.path` companion.
fn key_for(configmap: &Value, path: &str) -> String {
    let data = configmap["data"].as_object().unwrap();
    let (k, _) = data
        .iter()
        .find(|(k, v)| k.ends_with(".path") && v.as_str() == Some(path))
        .unwrap_or_else(|| panic!("no key for {path} in {configmap}"));
    k.trim_end_matches(".path").to_owned()
}

/// The Secret key holding the file at `path`, found through its `.path` companion.
fn secret_key_for(secret: &Value, path: &str) -> String {
    let data = secret["data"].as_object().unwrap();
    let (k, _) = data
        .iter()
        .find(|(k, v)| k.ends_with(".path") && decode(v) == path.as_bytes())
        .unwrap_or_else(|| panic!("no key for {path} in {secret}"));
    k.trim_end_matches(".path").to_owned()
}

fn decode(v: &Value) -> Vec<u8> {
    B64.decode(v.as_str().unwrap()).unwrap()
}

fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    pod["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

#[tokio::test]
async fn launch_creates_the_claim_files_pod_and_service() {
    let (fake, backend) = backend().await;
    assert_eq!(backend.name(), "kubernetes");
    let launched = backend.launch(spec("alice")).await.unwrap();

    let handle: Value = serde_json::from_str(&launched.handle).unwrap();
    assert_eq!(
        handle,
        json!({"namespace": NS, "pod": "hatchery-alice", "service": "h-alice-svc",
               "slug": "alice", "port": 80})
    );
    let target = backend.target(&launched.handle).unwrap();
    assert_eq!(target.scheme(), "http");
    assert_eq!(
        target.host_str(),
        Some("h-alice-svc.jupyter-pods.svc.cluster.local")
    );
    assert_eq!(target.port_or_known_default(), Some(80));

    // The claim: the configured size and class.
    let claim = fake.get("persistentvolumeclaims", "claim-alice").unwrap();
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "20Gi");
    assert_eq!(claim["spec"]["storageClassName"], "fast");
    assert_eq!(claim["spec"]["accessModes"], json!(["ReadWriteOnce"]));
    assert_eq!(claim["metadata"]["labels"]["managed-by"], "weft");
    assert_eq!(claim["metadata"]["labels"]["weft-instance"], INSTANCE);

    // The pod.
    let pod = fake.get("pods", "hatchery-alice").unwrap();
    assert_eq!(pod["metadata"]["namespace"], NS);
    let labels = &pod["metadata"]["labels"];
    assert_eq!(labels["app"], "hatchery");
    assert_eq!(labels["managed-by"], "weft");
    assert_eq!(labels["weft-user"], "alice");
    assert_eq!(labels["weft-instance"], INSTANCE);
    assert_eq!(
        pod["metadata"]["annotations"]["gen3username"],
        "alice@example.org"
    );
    assert_eq!(pod["spec"]["restartPolicy"], "Never");
    let nb = container(&pod, "notebook");
    assert_eq!(nb["image"], "quay.io/jupyter/base-notebook:2026-01-01");
    let args: Vec<&str> = nb["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "start-notebook.sh");
    assert!(
        args.contains(&"--ServerApp.base_url=/lw-workspace/proxy/"),
        "{args:?}"
    );
    assert!(args.contains(&"--ServerApp.port=8888"), "{args:?}");
    assert!(
        !args.iter().any(|a| a.contains("token")),
        "no secret in the arguments: {args:?}"
    );
    let env: BTreeMap<&str, &Value> = nb["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();
    assert_eq!(env["API_KEY_ID"]["value"], "kid-1");
    assert_eq!(env["GEN3_ENDPOINT"]["value"], "https://weft.example.org");
    assert_eq!(env["FROM_KIND"]["value"], "kind");
    // The notebook's secret and the API key come from the Secret.
    assert_eq!(
        env["JUPYTER_TOKEN"],
        &json!({"name": "JUPYTER_TOKEN", "valueFrom": {"secretKeyRef":
            {"name": "hatchery-alice-token", "key": "token", "optional": false}}})
    );
    assert_eq!(
        env["API_KEY"],
        &json!({"name": "API_KEY", "valueFrom": {"secretKeyRef":
            {"name": "hatchery-alice-token", "key": "env.API_KEY", "optional": false}}})
    );
    assert_eq!(nb["env"].as_array().unwrap().len(), 5, "GEN3_ENDPOINT once");
    assert_eq!(nb["resources"]["limits"]["cpu"], "1500m");
    assert_eq!(nb["resources"]["limits"]["memory"], "3Gi");
    let mounts = nb["volumeMounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0]["mountPath"], "/home/jovyan/pd");
    let volumes = pod["spec"]["volumes"].as_array().unwrap();
    let user_data = volumes
        .iter()
        .find(|v| v["name"] == mounts[0]["name"])
        .unwrap();
    assert_eq!(
        user_data["persistentVolumeClaim"]["claimName"],
        "claim-alice"
    );
    // A readiness probe that needs no secret.
    assert_eq!(
        nb["readinessProbe"],
        json!({"tcpSocket": {"port": 8888}, "periodSeconds": 5})
    );
    // Nothing secret anywhere in the pod.
    let text = pod.to_string();
    for secret in ["nb-secret", "key-1"] {
        assert!(!text.contains(secret), "{secret} in the pod: {text}");
    }

    // The Secret: the notebook's secret, the API key, the credentials file.
    let secret = fake.get("secrets", "hatchery-alice-token").unwrap();
    assert_eq!(secret["type"], "Opaque");
    assert_eq!(secret["metadata"]["labels"], pod["metadata"]["labels"]);
    assert_eq!(decode(&secret["data"]["token"]), b"nb-secret");
    assert_eq!(decode(&secret["data"]["env.API_KEY"]), b"key-1");
    let creds = secret_key_for(&secret, ".gen3/credentials.json");
    assert!(creds.ends_with(".gen3_credentials.json"), "{creds}");
    assert_eq!(
        decode(&secret["data"][&creds]),
        br#"{"api_key":"key-1","key_id":"kid-1"}"#
    );
    assert_eq!(secret["data"].as_object().unwrap().len(), 4);

    // The other files: in the ConfigMap. Both are mounted whole in the containers that
    // place them, not in the notebook.
    let files = fake.get("configmaps", "hatchery-alice-files").unwrap();
    assert_eq!(files["metadata"]["labels"], pod["metadata"]["labels"]);
    assert_eq!(
        files["data"][key_for(&files, "manifests/manifest-1.json")],
        "[]"
    );
    assert!(!files.to_string().contains("key-1"), "{files}");
    assert_eq!(files["data"].as_object().unwrap().len(), 2);
    let files_volume = volumes.iter().find(|v| v["configMap"].is_object()).unwrap();
    assert_eq!(files_volume["configMap"]["name"], "hatchery-alice-files");
    assert!(files_volume["configMap"].get("items").is_none());
    let secret_volume = volumes.iter().find(|v| v["secret"].is_object()).unwrap();
    assert_eq!(
        secret_volume["secret"],
        json!({"secretName": "hatchery-alice-token"})
    );
    let init = &pod["spec"]["initContainers"][0];
    let sidecar = container(&pod, "files");
    for placer in [init, sidecar] {
        assert_eq!(placer["image"], nb["image"]);
        assert_eq!(
            placer["env"][0],
            json!({"name": "WEFT_HOME", "value": "/home/jovyan/pd"})
        );
        assert!(
            placer["env"]
                .as_array()
                .unwrap()
                .contains(&json!({"name": "WEFT_SECRET", "value": "/var/run/weft/secret"}))
        );
        let mounted: Vec<(&str, &str)> = placer["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap(),
                    m["mountPath"].as_str().unwrap(),
                )
            })
            .collect();
        assert!(mounted.contains(&(
            files_volume["name"].as_str().unwrap(),
            "/var/run/weft/files"
        )));
        assert!(mounted.contains(&(
            secret_volume["name"].as_str().unwrap(),
            "/var/run/weft/secret"
        )));
        assert!(mounted.contains(&(user_data["name"].as_str().unwrap(), "/home/jovyan/pd")));
    }

    // The service.
    let svc = fake.get("services", "h-alice-svc").unwrap();
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert_eq!(svc["spec"]["selector"], pod["metadata"]["labels"]);
    assert_eq!(svc["metadata"]["labels"], pod["metadata"]["labels"]);
    assert_eq!(svc["spec"]["ports"][0]["port"], 80);
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], 8888);

    // The Secret exists before the pod that reads it.
    let posts: Vec<String> = fake
        .seen()
        .iter()
        .filter(|s| s.method == Method::POST)
        .map(|s| s.plural.clone())
        .collect();
    assert_eq!(
        posts,
        [
            "persistentvolumeclaims",
            "secrets",
            "configmaps",
            "pods",
            "services"
        ]
    );

    // Every request carried the token.
    let seen = fake.seen();
    assert!(!seen.is_empty());
    for s in &seen {
        assert_eq!(s.auth.as_deref(), Some("Bearer k8s-test-token"), "{s:?}");
    }
}

#[tokio::test]
/// `{token}` still works in a kind's command (which then shows the secret to whoever reads
/// pods); the notebook has `JUPYTER_TOKEN` either way.
async fn the_kinds_command_is_filled_in() {
    let (fake, backend) = backend().await;
    let mut s = spec("bob");
    s.kind.command = vec![
        "jupyter".into(),
        "lab".into(),
        "--port={port}".into(),
        "--token={token}".into(),
        "--base={base_url}".into(),
        "--dir={home}".into(),
    ];
    backend.launch(s).await.unwrap();
    let pod = fake.get("pods", "hatchery-bob").unwrap();
    assert_eq!(
        container(&pod, "notebook")["args"],
        json!([
            "jupyter",
            "lab",
            "--port=8888",
            "--token=nb-secret",
            "--base=/lw-workspace/proxy/",
            "--dir=/home/jovyan/pd"
        ])
    );
    let env = container(&pod, "notebook")["env"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(env.last().unwrap()["name"], "JUPYTER_TOKEN");
}

#[tokio::test]
async fn the_launch_names_the_token_the_notebook_reads() {
    let (fake, backend) = backend().await;
    let mut s = spec("bob");
    // A kind cannot set the notebook's secret, nor a plain API_KEY over the launch's.
    s.kind
        .env
        .push(("JUPYTER_TOKEN".into(), "guessable".into()));
    s.kind.env.push(("API_KEY".into(), "kind-key".into()));
    backend.launch(s).await.unwrap();
    let pod = fake.get("pods", "hatchery-bob").unwrap();
    let env = container(&pod, "notebook")["env"]
        .as_array()
        .unwrap()
        .clone();
    let named = |n: &str| env.iter().filter(|e| e["name"] == n).collect::<Vec<_>>();
    assert_eq!(named("JUPYTER_TOKEN").len(), 1);
    assert_eq!(
        named("JUPYTER_TOKEN")[0]["valueFrom"]["secretKeyRef"]["key"],
        "token"
    );
    assert_eq!(named("API_KEY").len(), 1);
    assert!(named("API_KEY")[0].get("value").is_none());
    assert!(!pod.to_string().contains("guessable"));
    assert!(!pod.to_string().contains("kind-key"));
}

#[tokio::test]
async fn stop_keeps_the_claim_and_a_second_launch_reuses_it() {
    let (fake, backend) = backend().await;
    let first = backend.launch(spec("alice")).await.unwrap();
    backend.stop(&first.handle).await.unwrap();

    assert!(fake.names("pods").is_empty());
    assert!(fake.names("services").is_empty());
    assert!(fake.names("configmaps").is_empty());
    assert!(fake.names("secrets").is_empty());
    assert_eq!(fake.names("persistentvolumeclaims"), ["claim-alice"]);
    let deleted: Vec<String> = fake
        .seen()
        .iter()
        .filter(|s| s.method == Method::DELETE)
        .map(|s| format!("{}/{}", s.plural, s.name.clone().unwrap()))
        .collect();
    assert_eq!(
        deleted,
        [
            "pods/hatchery-alice",
            "services/h-alice-svc",
            "configmaps/hatchery-alice-files",
            "secrets/hatchery-alice-token"
        ]
    );

    // Stopping what is gone is not an error.
    backend.stop(&first.handle).await.unwrap();

    let second = backend.launch(spec("alice")).await.unwrap();
    assert_eq!(second, first);
    assert_eq!(fake.count(&Method::POST, "persistentvolumeclaims"), 1);
    assert_eq!(fake.count(&Method::POST, "pods"), 2);
    assert!(fake.get("pods", "hatchery-alice").is_some());
}

#[tokio::test]
async fn a_running_pod_is_not_launched_over() {
    let (fake, backend) = backend().await;
    backend.launch(spec("alice")).await.unwrap();
    let err = backend.launch(spec("alice")).await.unwrap_err();
    let BackendError::Failed(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("already running"), "{msg}");
    // The running workspace keeps all it had.
    assert!(fake.get("pods", "hatchery-alice").is_some());
    assert!(fake.get("services", "h-alice-svc").is_some());
    assert!(fake.get("configmaps", "hatchery-alice-files").is_some());
    assert!(fake.get("secrets", "hatchery-alice-token").is_some());
    assert_eq!(fake.count(&Method::POST, "pods"), 1);
}

#[tokio::test]
async fn leftovers_of_an_ended_workspace_are_replaced() {
    let (fake, backend) = backend().await;
    backend.launch(spec("alice")).await.unwrap();
    // The pod ended but was never stopped; its Service and ConfigMap remain.
    fake.set_pod_status("hatchery-alice", json!({"phase": "Succeeded"}));
    let err = backend.launch(spec("alice")).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Failed(m) if m.contains("being removed")),
        "{err:?}"
    );
    assert!(fake.get("pods", "hatchery-alice").is_none());
    // The next launch replaces the Service and ConfigMap left behind.
    backend.launch(spec("alice")).await.unwrap();
    assert!(fake.get("pods", "hatchery-alice").is_some());
    assert_eq!(fake.count(&Method::POST, "services"), 3);
    assert_eq!(fake.count(&Method::DELETE, "services"), 1);
    assert_eq!(fake.count(&Method::DELETE, "configmaps"), 1);
    assert_eq!(fake.count(&Method::DELETE, "secrets"), 1);
    assert!(fake.get("secrets", "hatchery-alice-token").is_some());
}

#[tokio::test]
async fn probe_reads_the_pod() {
    let (fake, backend) = backend().await;
    let h = backend.launch(spec("alice")).await.unwrap().handle;
    let cond = |kind: &str, ok: bool| Condition {
        kind: kind.into(),
        ok,
    };

    // Pending, nothing yet.
    assert_eq!(
        backend.probe(&h).await.unwrap(),
        Probe::Alive(vec![
            cond("PodScheduled", false),
            cond("Initialized", false),
            cond("ContainersReady", false),
            cond("Ready", false),
        ])
    );

    fake.set_pod_status(
        "hatchery-alice",
        json!({
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True"},
                {"type": "Ready", "status": "False"},
                {"type": "ContainersReady", "status": "False"},
                {"type": "PodScheduled", "status": "True"},
            ],
            "containerStatuses": [
                {"name": "notebook", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                 "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}},
            ],
        }),
    );
    assert_eq!(
        backend.probe(&h).await.unwrap(),
        Probe::Alive(vec![
            cond("PodScheduled", true),
            cond("Initialized", true),
            cond("ContainersReady", false),
            cond("Ready", false),
        ])
    );

    // The notebook exited while the files container runs on.
    fake.set_pod_status(
        "hatchery-alice",
        json!({
            "phase": "Running",
            "containerStatuses": [
                {"name": "notebook", "ready": false, "restartCount": 0, "image": "i", "imageID": "",
                 "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}},
            ],
        }),
    );
    let Probe::Gone(why) = backend.probe(&h).await.unwrap() else {
        panic!("alive")
    };
    assert!(why.contains("137") && why.contains("OOMKilled"), "{why}");

    fake.set_pod_status(
        "hatchery-alice",
        json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."}),
    );
    let Probe::Gone(why) = backend.probe(&h).await.unwrap() else {
        panic!("alive")
    };
    assert!(
        why.contains("Evicted") && why.contains("low on memory"),
        "{why}"
    );

    fake.forget("pods", "hatchery-alice");
    assert_eq!(
        backend.probe(&h).await.unwrap(),
        Probe::Gone("the pod is gone".into())
    );

    assert!(matches!(
        backend.probe("not json").await,
        Err(BackendError::Invalid(_))
    ));
}

#[tokio::test]
async fn put_file_patches_the_configmap() {
    let (fake, backend) = backend().await;
    backend.launch(spec("alice")).await.unwrap();
    backend
        .put_file(
            "alice",
            "manifests/manifest-2.json",
            br#"[{"object_id":"dg.1/x"}]"#,
        )
        .await
        .unwrap();
    let patch = fake
        .seen()
        .into_iter()
        .find(|s| s.method == Method::PATCH)
        .unwrap();
    assert_eq!(patch.plural, "configmaps");
    assert_eq!(patch.name.as_deref(), Some("hatchery-alice-files"));
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    let files = fake.get("configmaps", "hatchery-alice-files").unwrap();
    assert_eq!(
        files["data"][key_for(&files, "manifests/manifest-2.json")],
        r#"[{"object_id":"dg.1/x"}]"#
    );
    // Earlier files stay.
    assert_eq!(
        files["data"][key_for(&files, "manifests/manifest-1.json")],
        "[]"
    );

    // Bytes that are not UTF-8 go to binaryData; replacing them with text moves them back.
    backend
        .put_file("alice", "data/blob.bin", &[0xff, 0xfe, 0x00])
        .await
        .unwrap();
    let files = fake.get("configmaps", "hatchery-alice-files").unwrap();
    let key = key_for(&files, "data/blob.bin");
    assert_eq!(files["binaryData"][&key], "//4A");
    assert!(files["data"].get(&key).is_none());
    backend
        .put_file("alice", "data/blob.bin", b"text")
        .await
        .unwrap();
    let files = fake.get("configmaps", "hatchery-alice-files").unwrap();
    assert_eq!(files["data"][&key], "text");
    assert!(files["binaryData"].get(&key).is_none());

    // No workspace, no ConfigMap.
    let err = backend
        .put_file("carol", "a.json", b"{}")
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Failed(_)), "{err:?}");
    let err = backend
        .put_file("alice", "../a.json", b"{}")
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn put_file_keeps_credentials_in_the_secret() {
    let (fake, backend) = backend().await;
    backend.launch(spec("alice")).await.unwrap();
    backend
        .put_file("alice", ".gen3/credentials.json", br#"{"api_key":"key-2"}"#)
        .await
        .unwrap();
    let patch = fake
        .seen()
        .into_iter()
        .find(|s| s.method == Method::PATCH)
        .unwrap();
    assert_eq!(patch.plural, "secrets");
    assert_eq!(patch.name.as_deref(), Some("hatchery-alice-token"));
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    let secret = fake.get("secrets", "hatchery-alice-token").unwrap();
    let key = secret_key_for(&secret, ".gen3/credentials.json");
    assert_eq!(decode(&secret["data"][&key]), br#"{"api_key":"key-2"}"#);
    assert_eq!(decode(&secret["data"]["token"]), b"nb-secret");
    let files = fake.get("configmaps", "hatchery-alice-files").unwrap();
    assert!(!files.to_string().contains("key-2"));
    assert_eq!(fake.count(&Method::PATCH, "configmaps"), 0);

    fake.forget("secrets", "hatchery-alice-token");
    let err = backend
        .put_file("alice", ".gen3/credentials.json", b"{}")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::Failed(m) if m.contains("hatchery-alice-token is gone")),
        "{err:?}"
    );
}

#[tokio::test]
async fn running_lists_the_pods_weft_started() {
    let (fake, backend) = backend().await;
    let a = backend.launch(spec("alice")).await.unwrap().handle;
    let b = backend.launch(spec("bob")).await.unwrap().handle;
    fake.put(
        "pods",
        "someone-else",
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "someone-else", "namespace": NS, "labels": {"app": "other"}}}),
    );
    // weft's, but of no instance (made before instances were labelled).
    fake.put(
        "pods",
        "hatchery-old",
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "hatchery-old", "namespace": NS,
                            "labels": {"managed-by": "weft", "weft-user": "old"}}}),
    );
    let mut running = backend.running().await.unwrap();
    running.sort();
    assert_eq!(running, [a, b]);
    let list = fake
        .seen()
        .into_iter()
        .find(|s| s.method == Method::GET && s.plural == "pods" && s.name.is_none())
        .unwrap();
    assert_eq!(list.auth.as_deref(), Some("Bearer k8s-test-token"));
    assert_eq!(
        list.selector.as_deref(),
        Some("managed-by=weft,weft-instance=weft-a")
    );
}

#[tokio::test]
async fn wefts_sharing_a_namespace_keep_to_their_own() {
    let (fake, url) = serve().await;
    let a = KubeBackend::new(&config(&url, TOKEN), "weft-a")
        .await
        .unwrap();
    let b = KubeBackend::new(&config(&url, TOKEN), "weft-b")
        .await
        .unwrap();
    let alice = a.launch(spec("alice")).await.unwrap().handle;
    let bob = b.launch(spec("bob")).await.unwrap().handle;
    for (plural, name, instance) in [
        ("pods", "hatchery-alice", "weft-a"),
        ("services", "h-alice-svc", "weft-a"),
        ("configmaps", "hatchery-alice-files", "weft-a"),
        ("secrets", "hatchery-alice-token", "weft-a"),
        ("persistentvolumeclaims", "claim-alice", "weft-a"),
        ("pods", "hatchery-bob", "weft-b"),
    ] {
        let o = fake.get(plural, name).unwrap();
        assert_eq!(o["metadata"]["labels"]["weft-instance"], instance, "{name}");
    }
    assert_eq!(
        fake.get("services", "h-bob-svc").unwrap()["spec"]["selector"]["weft-instance"],
        "weft-b"
    );

    // What adopt stops is what `running` returns: each weft lists its own only.
    assert_eq!(a.running().await.unwrap(), std::slice::from_ref(&alice));
    assert_eq!(b.running().await.unwrap(), [bob]);

    // Another weft's pod with the same name: not launched over, not this weft's to probe
    // or stop.
    let err = b.launch(spec("alice")).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Failed(m) if m.contains("another weft")),
        "{err:?}"
    );
    let Probe::Gone(why) = b.probe(&alice).await.unwrap() else {
        panic!("alive")
    };
    assert!(why.contains("weft-a"), "{why}");
    b.stop(&alice).await.unwrap();
    for (plural, name) in [
        ("pods", "hatchery-alice"),
        ("services", "h-alice-svc"),
        ("configmaps", "hatchery-alice-files"),
        ("secrets", "hatchery-alice-token"),
    ] {
        assert!(fake.get(plural, name).is_some(), "{plural}/{name} kept");
    }
    assert!(matches!(a.probe(&alice).await.unwrap(), Probe::Alive(_)));

    // Its own, it stops.
    a.stop(&alice).await.unwrap();
    assert!(fake.get("pods", "hatchery-alice").is_none());
    assert!(fake.get("secrets", "hatchery-alice-token").is_none());
    assert!(fake.get("pods", "hatchery-bob").is_some());
}

#[tokio::test]
async fn the_instance_is_a_label_value() {
    let (fake, url) = serve().await;
    for bad in ["", "-a", "a b", "a/b", &"x".repeat(64)] {
        let err = KubeBackend::new(&config(&url, TOKEN), bad)
            .await
            .unwrap_err();
        assert!(matches!(err, BackendError::Invalid(_)), "{bad:?}: {err:?}");
    }
    assert!(fake.seen().is_empty());

    let id = default_instance(NS, "https://weft.example.org");
    assert_eq!(id.len(), 12);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    assert_eq!(id, default_instance(NS, "https://weft.example.org"));
    assert_ne!(id, default_instance(NS, "https://other.example.org"));
    assert_ne!(id, default_instance("other-ns", "https://weft.example.org"));
    KubeBackend::new(&config(&url, TOKEN), &id).await.unwrap();
}

#[tokio::test]
async fn a_refused_pod_leaves_nothing_behind() {
    let (fake, backend) = backend().await;
    fake.refuse(
        Method::POST,
        "pods",
        403,
        "pods is forbidden: exceeded quota: jupyter-quota",
    );
    let err = backend.launch(spec("alice")).await.unwrap_err();
    let BackendError::Failed(msg) = err else {
        panic!("{err:?}")
    };
    assert!(msg.contains("exceeded quota: jupyter-quota"), "{msg}");
    assert!(fake.names("pods").is_empty());
    assert!(fake.names("services").is_empty());
    assert!(fake.names("configmaps").is_empty());
    assert!(fake.names("secrets").is_empty());
    // The claim was made by this launch, so it goes too.
    assert!(fake.names("persistentvolumeclaims").is_empty());
    assert_eq!(fake.count(&Method::POST, "services"), 0);
}

#[tokio::test]
async fn a_failed_launch_keeps_a_claim_that_was_there() {
    let (fake, backend) = backend().await;
    let existing = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "claim-alice", "namespace": NS},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}});
    fake.put("persistentvolumeclaims", "claim-alice", existing.clone());
    fake.refuse(
        Method::POST,
        "services",
        500,
        "etcdserver: request timed out",
    );
    let err = backend.launch(spec("alice")).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Failed(m) if m.contains("etcdserver: request timed out")),
        "{err:?}"
    );
    assert!(fake.names("pods").is_empty(), "the pod is removed");
    assert!(fake.names("configmaps").is_empty());
    assert!(fake.names("secrets").is_empty());
    assert_eq!(
        fake.get("persistentvolumeclaims", "claim-alice"),
        Some(existing)
    );
    assert_eq!(fake.count(&Method::POST, "persistentvolumeclaims"), 0);
}

#[tokio::test]
async fn a_refused_configmap_removes_the_secret() {
    let (fake, backend) = backend().await;
    fake.refuse(Method::POST, "configmaps", 422, "configmaps is invalid");
    let err = backend.launch(spec("alice")).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Failed(m) if m.contains("configmaps is invalid")),
        "{err:?}"
    );
    assert_eq!(fake.count(&Method::POST, "secrets"), 1);
    assert_eq!(fake.count(&Method::DELETE, "secrets"), 1);
    assert!(fake.names("secrets").is_empty());
    assert!(fake.names("persistentvolumeclaims").is_empty());
    assert_eq!(fake.count(&Method::POST, "pods"), 0);
}

#[tokio::test]
async fn bad_requests_reach_no_cluster() {
    let (fake, backend) = backend().await;
    let mut s = spec("Alice");
    assert!(matches!(
        backend.launch(s.clone()).await,
        Err(BackendError::Invalid(_))
    ));
    s.slug = "alice".into();
    s.files.push(("/etc/passwd".into(), Vec::new()));
    assert!(matches!(
        backend.launch(s.clone()).await,
        Err(BackendError::Invalid(_))
    ));
    s.files.pop();
    s.kind.image = String::new();
    assert!(matches!(
        backend.launch(s).await,
        Err(BackendError::Invalid(_))
    ));
    assert!(fake.seen().is_empty());
}

#[tokio::test]
async fn a_wrong_token_is_refused() {
    let (fake, url) = serve().await;
    let backend = KubeBackend::new(&config(&url, "wrong"), INSTANCE)
        .await
        .unwrap();
    let err = backend.launch(spec("alice")).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Failed(m) if m.contains("Unauthorized")),
        "{err:?}"
    );
    assert_eq!(fake.seen()[0].auth.as_deref(), Some("Bearer wrong"));
    assert!(fake.names("persistentvolumeclaims").is_empty());
}
