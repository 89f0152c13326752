//! weft's own endpoints: landing page, health, version, metrics, OpenAPI, API browser.

use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Auth, TestApp};

#[tokio::test]
async fn home_page_links_the_api() {
    let app = TestApp::start().await;
    let r = app.get("/").await;
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/html"),
        "{}",
        r.content_type
    );
    assert!(r.text.contains("weft"));
    assert!(r.text.contains(weft::VERSION));
    assert!(r.text.contains(r#"href="/api/""#), "{}", r.text);
    assert!(r.text.contains(r#"href="/openapi.json""#), "{}", r.text);
    assert!(r.text.contains(&app.url), "base URL shown");
    assert!(r.text.contains(r#"href="/authz/health""#), "{}", r.text);
    // every service is listed, the hub as not configured here
    for link in [
        r#"href="/index/index/""#,
        r#"href="/ga4gh/drs/v1/service-info""#,
        r#"href="/user/.well-known/openid-configuration""#,
        r#"href="/mds/_status""#,
    ] {
        assert!(r.text.contains(link), "{link}: {}", r.text);
        let path = link.trim_start_matches("href=\"").trim_end_matches('"');
        assert_eq!(app.get(path).await.status, 200, "{path}");
    }
    assert!(
        r.text
            .contains("Data hub (aggregate MDS)</td><td>not configured here")
    );
    assert!(
        !r.text.contains(r#"href="/metrics""#),
        "metrics are not public"
    );
    let backend = if app.postgres { "PostgreSQL" } else { "SQLite" };
    assert!(r.text.contains(backend));
    app.stop().await;
}

#[tokio::test]
async fn status_and_version() {
    let app = TestApp::start().await;
    let v = app.get("/_status").await.expect(200);
    assert_eq!(v["status"], "ok");
    assert_eq!(v["database"], "ok");
    let mut expected = [store_task(&app), "oauth-purge"];
    expected.sort_unstable();
    assert_eq!(task_names(&v), expected);

    let v = app.get("/_version").await.expect(200);
    assert_eq!(v["version"], weft::VERSION);
    assert_eq!(v["commit"], weft::COMMIT);

    // indexd's own health and version, under /index
    let r = app.get("/index/_status").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "Healthy");
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    let v = app.get("/index/_version").await.expect(200);
    assert_eq!(v["version"], weft::VERSION);
    assert_eq!(v["commit"], weft::COMMIT);
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_off_without_a_handle() {
    let app = TestApp::start().await;
    let r = app.get("/metrics").await;
    r.expect_error(404, "metrics are not enabled");
    app.stop().await;
}

/// The recorder is process-global: installed once, shared by the tests that need it.
fn metrics_handle() -> weft_http::PrometheusHandleAlias {
    static HANDLE: std::sync::OnceLock<weft_http::PrometheusHandleAlias> =
        std::sync::OnceLock::new();
    HANDLE
        .get_or_init(|| weft_http::install_metrics().expect("the first install in this process"))
        .clone()
}

#[tokio::test]
async fn metrics_are_not_on_the_public_port_without_a_token() {
    let app = TestApp::start_full(|_| {}, Some(metrics_handle())).await;
    app.get("/metrics").await.expect_error(
        404,
        "metrics are not served on this port (see metrics.listen and metrics.token)",
    );
    let with_some_token = app
        .client
        .get(format!("{}/metrics", app.url))
        .bearer_auth("anything-at-all-0123")
        .send()
        .await
        .unwrap();
    assert_eq!(with_some_token.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn metrics_with_a_handle_count_requests_by_route() {
    let handle = metrics_handle();
    const TOKEN: &str = "metrics-token-0123456789";
    let app = TestApp::start_full(
        |c| c.metrics.token = Some(weft_config::Secret(TOKEN.to_owned())),
        Some(handle),
    )
    .await;
    app.get("/index/index/").await.expect(200);
    app.get("/index/index/no-such-thing").await.expect(404);
    // the public port serves metrics only to the configured token
    app.get("/metrics")
        .await
        .expect_error(401, "metrics need `Authorization: Bearer <metrics.token>`");
    let scrape = |token: &'static str| {
        app.client
            .get(format!("{}/metrics", app.url))
            .bearer_auth(token)
            .send()
    };
    let wrong = scrape("metrics-token-9876543210").await.unwrap();
    assert_eq!(wrong.status(), 401);
    let r = crate::support::Resp::read(scrape(TOKEN).await.unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    assert!(r.text.contains("weft_http_requests_total"), "{}", r.text);
    assert!(
        r.text.contains(r#"route="/index/index/""#),
        "labelled by matched route: {}",
        r.text
    );
    assert!(r.text.contains(r#"status="404""#), "{}", r.text);
    assert!(r.text.contains("weft_http_request_duration_seconds"));
    app.stop().await;
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    let app = TestApp::start().await;
    for path in ["/nope", "/ga4gh/nope", "/user/nope", "/api-not"] {
        app.get(path).await.expect_error(404, "not found");
    }
    app.stop().await;
}

#[tokio::test]
async fn wrong_methods_are_json_405s() {
    let app = TestApp::start().await;
    for (method, path) in [
        (Method::DELETE, "/_status"),
        (Method::POST, "/_version"),
        (Method::PUT, "/index/guid/mint"),
        (Method::DELETE, "/ga4gh/drs/v1/service-info"),
    ] {
        let r = app.request(method.clone(), path, None, Auth::None).await;
        assert_eq!(r.status, 405, "{method} {path}: {}", r.text);
        assert!(
            r.json["error"].is_string(),
            "{method} {path}: a JSON error body, got {:?}",
            r.text
        );
    }
    app.stop().await;
}

/// The served document: OpenAPI 3.1, every operation with a summary, a unique id and the
/// answers it can give (which paths it lists is `routes::every_registered_route_is_documented`'s
/// and `every_documented_route_is_served`'s to check).
#[tokio::test]
async fn openapi_document_is_whole() {
    let app = TestApp::start().await;
    let doc = app.get("/openapi.json").await.expect(200);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "OpenAPI 3.1, got {}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "weft");
    let mut ids = std::collections::HashSet::new();
    let mut operations = 0;
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (m, op) in ops.as_object().expect("operations") {
            operations += 1;
            assert!(
                op["summary"].as_str().is_some_and(|s| !s.is_empty()),
                "{m} {path} has a summary"
            );
            let id = op["operationId"].as_str().expect("an operationId");
            assert!(
                ids.insert(id.to_owned()),
                "{m} {path}: operationId {id} is taken"
            );
            let statuses: Vec<&String> = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .collect();
            assert!(
                statuses
                    .iter()
                    .any(|s| s.starts_with('2') || s.starts_with('3')),
                "{m} {path} documents its success: {statuses:?}"
            );
        }
    }
    // index, DRS, MDS at three mounts, the hub at two, fence, the policy API, weft's own
    assert!(operations > 200, "{operations} operations");
    // the parts the stubs left out
    for path in [
        "/mds-admin/metadata/{guid}",
        "/metadata/{guid}",
        "/aggregate/metadata",
        "/authz/policy/{id}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
    // two services' bodies of one name stay apart (a merge keeps the first schema of a name)
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["MdsAliasesBody"]["properties"]["aliases"]["items"]["type"], "string",
        "MDS's aliases are strings"
    );
    assert!(schemas["AliasesBody"]["properties"]["aliases"]["items"]["$ref"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = TestApp::start().await;
    let ids = app.create(json!({})).await;
    let doc = app.get("/openapi.json").await.expect(200);
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        let concrete = path
            .replace("{did}", &ids.did)
            .replace("{object_id}", &ids.did)
            .replace("{id}", &ids.did)
            .replace("{alias}", "some-alias")
            .replace("{access_id}", "s3")
            .replace("{path}", "programs/x")
            .replace("{tag}", "some-tag")
            .replace("{name}", "someone")
            .replace("{user}", "someone")
            .replace("{policy}", "some-policy")
            .replace("{jti}", "some-jti")
            .replace("{guid}", "some-guid");
        for method in ops.as_object().expect("operations").keys() {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            // Bodies that every write route rejects or ignores harmlessly.
            let body = match (method.as_str(), path.as_str()) {
                ("get" | "delete", _) => None,
                (_, "/index/bulk/documents") => Some(json!([ids.did])),
                (_, "/ga4gh/drs/v1/objects") => Some(json!({"bulk_object_ids": [ids.did]})),
                _ => Some(json!({})),
            };
            let r = app
                .request(
                    m.clone(),
                    &concrete,
                    body.map(|b| b.to_string().into_bytes()),
                    Auth::Admin,
                )
                .await;
            assert_ne!(r.status, 405, "{method} {path} is routed: {}", r.text);
            assert_ne!(
                r.json,
                json!({"error": "not found"}),
                "{method} {path} reached the fallback"
            );
            assert_ne!(
                r.json,
                json!({"error": {"message": "not found", "code": 404}}),
                "{method} {path} reached the policy API's fallback"
            );
            assert!(r.status < 500, "{method} {path}: {} {}", r.status, r.text);
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn api_browser_serves_swagger_ui_for_our_document() {
    let app = TestApp::start().await;
    let r = app.get("/api/").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(
        r.content_type.starts_with("text/html"),
        "{}",
        r.content_type
    );
    assert!(r.text.to_lowercase().contains("swagger"), "{}", r.text);
    let init = app.get("/api/swagger-initializer.js").await;
    assert_eq!(init.status, 200);
    assert!(init.text.contains("/openapi.json"), "{}", init.text);
    // bundled assets, no CDN
    assert!(!r.text.contains("cdn."), "{}", r.text);
    let css = app.get("/api/swagger-ui.css").await;
    assert_eq!(css.status, 200);
    assert!(css.text.len() > 1000);
    app.stop().await;
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = TestApp::start().await;
    let resp = app
        .client
        .get(format!("{}/_status", app.url))
        .send()
        .await
        .expect("request");
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id header")
        .to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    // a client-chosen id is propagated
    let resp = app
        .client
        .get(format!("{}/_status", app.url))
        .header("x-request-id", "my-id-123")
        .send()
        .await
        .expect("request");
    assert_eq!(
        resp.headers().get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"my-id-123"[..])
    );
    let _: Value = resp.json().await.expect("json");
    app.stop().await;
}

/// The background task each backend's server runs for its store.
fn store_task(app: &TestApp) -> &'static str {
    if app.postgres {
        "authz-listener"
    } else {
        "sqlite-checkpointer"
    }
}

/// The names under `/_status`'s `tasks`, sorted.
fn task_names(status: &Value) -> Vec<String> {
    let mut names: Vec<String> = status["tasks"]
        .as_object()
        .expect("a tasks object")
        .keys()
        .cloned()
        .collect();
    names.sort();
    names
}

/// Poll `/_status` (always a 200 here) until `ok` holds.
async fn wait_status(app: &TestApp, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let start = std::time::Instant::now();
    loop {
        let v = app.get("/_status").await.expect(200);
        if ok(&v) {
            return v;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(20),
            "never reached: {what}; last status {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn succeeded(task: &'static str) -> impl Fn(&Value) -> bool {
    move |v: &Value| v["tasks"][task]["last_success_at"].is_string()
}

/// `/_status` names every background task the configuration asks for: with a hub the hub's
/// syncs, with `storage.index_uploads_interval_secs` the blank-record filler. A commons
/// that cannot be pulled is the hub's business (its sync status), not a failing task.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_the_servers_tasks() {
    let app = TestApp::start_with(|c| {
        c.hub = serde_json::from_value(json!({
            "sync_interval_secs": 60,
            "retry_min_secs": 1,
            "gen3_commons": {"down": {"mds_url": "http://127.0.0.1:9", "commons_url": "down.example"}}
        }))
        .unwrap();
        c.storage.index_uploads_interval_secs = 1;
    })
    .await;
    let v = wait_status(&app, "every task through a good round", |v| {
        ["hub-sync", "index-uploads", "oauth-purge", store_task(&app)]
            .iter()
            .all(|t| v["tasks"][t]["last_success_at"].is_string())
    })
    .await;
    let mut expected = vec![
        "hub-sync".to_owned(),
        "index-uploads".to_owned(),
        "oauth-purge".to_owned(),
        store_task(&app).to_owned(),
    ];
    expected.sort();
    assert_eq!(task_names(&v), expected);
    assert_eq!(v["status"], "ok");
    assert!(v.get("failing").is_none(), "{v}");
    for t in &expected {
        let task = &v["tasks"][t];
        assert_eq!(task["state"], "running", "{t}: {task}");
        assert_eq!(task["restarts"], 0, "{t}: {task}");
        assert_eq!(task["failing"], false, "{t}: {task}");
        assert!(task["last_error"].is_null(), "{t}: {task}");
        assert!(task["started_at"].is_string(), "{t}: {task}");
    }
    // The unreachable commons failed in the hub's own status.
    let hub = app.get("/mds/aggregate/status").await.expect(200);
    assert_ne!(hub["commons"]["down"]["status"], "ok", "{hub}");
    app.stop().await;
}

/// The store's own task: on SQLite the checkpointer keeps reporting good rounds; on
/// PostgreSQL the policy listener, its connection killed, shows the failure, restarts, and
/// this instance again sees what another instance commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_task_is_supervised() {
    let app = TestApp::start().await;
    let task = store_task(&app);
    let first = wait_status(&app, "a first good round", succeeded(task)).await;
    if !app.postgres {
        let at = first["tasks"][task]["last_success_at"].clone();
        wait_status(&app, "the checkpointer keeps going", |v| {
            v["tasks"][task]["last_success_at"] != at
        })
        .await;
        app.stop().await;
        return;
    }
    let url = app
        .config
        .database_url
        .as_ref()
        .map(|u| u.expose().to_owned())
        .unwrap();
    let other = weft_store_postgres::PostgresStore::connect(&url, 1)
        .await
        .unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND query LIKE 'LISTEN%' \
         AND pid <> pg_backend_pid()",
    )
    .fetch_all(other.pool())
    .await
    .unwrap();
    assert_eq!(killed, [true], "one listening connection");
    let v = wait_status(&app, "the listener restarted", |v| {
        let t = &v["tasks"][task];
        t["restarts"].as_u64() >= Some(1) && t["failing"] == false && t["state"] == "running"
    })
    .await;
    let err = v["tasks"][task]["last_error"].as_str().unwrap();
    assert!(err.contains("LISTEN weft_authz"), "{err}");
    assert_eq!(v["status"], "ok");

    // A change committed by another instance reaches this one through the new LISTEN.
    let (twin_url, stop, server) = app.twin().await;
    let created = app
        .client
        .post(format!("{twin_url}/authz/user"))
        .bearer_auth(app.token(crate::support::ROOT))
        .json(&json!({"name": "late@x.org"}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(created, 201);
    let start = std::time::Instant::now();
    loop {
        let r = app.root(Method::GET, "/authz/user/late@x.org", None).await;
        if r.status == 200 {
            break;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "this instance never saw the other's change: {} {}",
            r.status,
            r.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    let _ = server.await;
    other.pool().close().await;
    app.stop().await;
}
