//! The router and the OpenAPI document describe the same API: every path a service router
//! registers (`weft_http::route_paths`, recorded as the routers are built) answers only the
//! methods the served document lists for it, and every documented operation is routed
//! (`system::every_documented_route_is_served`).

use reqwest::Method;
use serde_json::Value;

use crate::support::{Auth, TestApp};

/// The methods probed on each registered path (HEAD follows GET in axum).
const METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
];

/// A registered axum path with its parameters filled: `{name}` and `{*rest}` become one
/// segment.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "x1"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether a documented path template (`/index/index/{did}`) names `path`; a trailing slash
/// is not a difference (each route answers both spellings where Gen3 does).
fn names(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_end_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
}

/// Whether an answer came from a route rather than the router's fallbacks.
fn routed(status: u16, json: &Value) -> bool {
    status != 405
        && *json != serde_json::json!({"error": "not found"})
        && *json != serde_json::json!({"error": {"message": "not found", "code": 404}})
}

#[tokio::test]
async fn every_registered_route_is_documented() {
    let app = TestApp::start().await;
    let doc = app.get("/openapi.json").await.expect(200);
    let documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(p, ops)| {
            ops.as_object()
                .expect("operations")
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    let paths = weft_http::route_paths();
    assert!(
        paths.len() > 50,
        "the routers register their paths: {paths:?}"
    );
    let mut undocumented = Vec::new();
    for template in &paths {
        let path = concrete(template);
        for method in METHODS {
            let r = app.request(method.clone(), &path, None, Auth::None).await;
            if !routed(r.status, &r.json) {
                continue;
            }
            let listed = documented
                .iter()
                .any(|(m, t)| *m == method.as_str() && names(t, &path));
            if !listed {
                undocumented.push(format!(
                    "{method} {template} (probed as {path}: {})",
                    r.status
                ));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "routes the document does not list:\n{}",
        undocumented.join("\n")
    );
    app.stop().await;
}

#[test]
fn templates_match_paths() {
    assert_eq!(concrete("/index/index/{*rest}"), "/index/index/x1");
    assert_eq!(concrete("/mds/metadata/{*rest}"), "/mds/metadata/x1");
    assert_eq!(concrete("/user/login/{idp}/login"), "/user/login/x1/login");
    assert!(names("/index/index/{did}", "/index/index/x1"));
    assert!(names("/index/index/", "/index/index"));
    assert!(!names("/index/index/{did}/versions", "/index/index/x1"));
    assert!(!names("/index/bundle/{id}", "/index/index/x1"));
}
