//! weft's own endpoints: the landing page, health, version, metrics.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;

use crate::SharedState;

pub fn router() -> Router<SharedState> {
    Router::new()
        .route("/", get(home))
        .route("/_status", get(status))
        .route("/_version", get(version))
        .route("/metrics", get(metrics))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn home(State(s): State<SharedState>) -> Html<String> {
    let base = escape(&s.config.public_base_url());
    let backend = if s.config.uses_postgres() {
        "PostgreSQL"
    } else {
        "SQLite (embedded)"
    };
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>weft</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}
code{{background:#f3f3f3;padding:0 .25rem}}td{{padding:.2rem .8rem .2rem 0}}</style></head>
<body>
<h1>weft</h1>
<p>This is <strong>weft {version}</strong>, a Gen3-compatible data commons, at <code>{base}</code>.
Storage: {backend}.</p>
<h2>Services</h2>
<table>
<tr><td>Index (indexd API)</td><td><a href="/index/index/">/index/</a></td></tr>
<tr><td>GA4GH DRS 1.5</td><td><a href="/ga4gh/drs/v1/service-info">/ga4gh/drs/v1/</a></td></tr>
<tr><td>Policy engine (arborist API)</td><td><a href="/authz/health">/authz/</a></td></tr>
<tr><td>Identity and data access (fence API)</td><td><a href="/user/.well-known/openid-configuration">/user/</a></td></tr>
<tr><td>Metadata service (MDS API)</td><td><a href="/mds/_status">/mds/</a></td></tr>
{hub}</table>
<h2>For people and programs</h2>
<ul>
<li><a href="/api/">API browser</a> (OpenAPI: <a href="/openapi.json">/openapi.json</a>)</li>
<li><a href="/_status">Health</a>, <a href="/_version">version</a></li>
<li>Documentation: <code>README.md</code> and <code>docs/</code> in the weft repository.</li>
</ul>
</body></html>"#,
        version = escape(s.version),
        hub = if s.hub.is_some() {
            "<tr><td>Data hub (aggregate MDS, discovery search)</td>\
             <td><a href=\"/mds/aggregate/commons\">/mds/aggregate/</a></td></tr>\n"
        } else {
            "<tr><td>Data hub (aggregate MDS)</td><td>not configured here (<code>[hub]</code>)</td></tr>\n"
        },
    ))
}

/// Health: 503 when the database does not answer. Each background task's state is listed
/// under `tasks`; a task that keeps failing turns `status` into `"degraded"` (naming it in
/// `failing`) but not into a 503: the server still serves, and a balancer should not take it
/// out of rotation for, say, one unreachable hub commons' search refresh.
async fn status(State(s): State<SharedState>) -> Response {
    let database = s.index.store().ping().await;
    if let Err(e) = &database {
        tracing::error!(error = %e, "health check failed");
    }
    let (code, body) = status_body(database.is_ok(), &s.tasks.snapshot());
    (code, Json(body)).into_response()
}

/// `/_status`'s answer: 503 when the database does not answer. Each background task's state
/// is listed under `tasks` by name; a task failing (its last run failed and nothing succeeded
/// since) turns `status` into `"degraded"` and is named in `failing`, but the answer stays a
/// 200: the server still serves, and a balancer should not take it out of rotation because,
/// say, a hub's search refresh keeps failing.
fn status_body(database_ok: bool, snapshot: &[weft_tasks::TaskSnapshot]) -> (StatusCode, Value) {
    let failing: Vec<&str> = snapshot
        .iter()
        .filter(|t| t.failing())
        .map(|t| t.name.as_str())
        .collect();
    let mut tasks = serde_json::Map::new();
    for t in snapshot {
        let mut v = serde_json::to_value(t).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.remove("name");
            o.insert("failing".to_owned(), json!(t.failing()));
        }
        tasks.insert(t.name.clone(), v);
    }
    if !database_ok {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"status": "unhealthy", "database": "unreachable", "tasks": tasks}),
        );
    }
    let mut body = json!({
        "status": if failing.is_empty() { "ok" } else { "degraded" },
        "database": "ok",
        "tasks": tasks,
    });
    if !failing.is_empty() {
        body["failing"] = json!(failing);
    }
    (StatusCode::OK, body)
}

async fn version(State(s): State<SharedState>) -> Json<serde_json::Value> {
    Json(json!({"version": s.version, "commit": s.commit}))
}

/// `/metrics` on the public port: only with the configured bearer token
/// (`metrics.token`); without one the port does not serve metrics at all (a scraper uses the
/// listener of `metrics.listen`, [`metrics_app`]).
async fn metrics(State(s): State<SharedState>, headers: HeaderMap) -> Response {
    let Some(handle) = &s.metrics else {
        return error(StatusCode::NOT_FOUND, "metrics are not enabled");
    };
    let Some(token) = &s.config.metrics.token else {
        return error(
            StatusCode::NOT_FOUND,
            "metrics are not served on this port (see metrics.listen and metrics.token)",
        );
    };
    match crate::extract::bearer(&headers) {
        Some(t) if bool::from(t.as_bytes().ct_eq(token.expose().as_bytes())) => render(handle),
        Some(_) => error(StatusCode::UNAUTHORIZED, "the metrics token does not match"),
        None => error(
            StatusCode::UNAUTHORIZED,
            "metrics need `Authorization: Bearer <metrics.token>`",
        ),
    }
}

fn render(handle: &PrometheusHandle) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

/// The application of the metrics listener (`metrics.listen`): `/metrics`, open to whoever
/// reaches that address, and nothing else.
pub fn metrics_app(handle: PrometheusHandle) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move { render(&handle) }
        }),
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use weft_tasks::{Backoff, Runner, TaskState};

    /// A failing task degrades the status without a 503; the database alone decides that.
    #[tokio::test]
    async fn a_failing_task_degrades_the_status_but_keeps_it_a_200() {
        let runner = Runner::new(Backoff {
            min: Duration::from_secs(3600),
            max: Duration::from_secs(3600),
        });
        runner.spawn("fine", |ctx| async move {
            ctx.succeeded();
            ctx.cancelled().await;
            Ok(())
        });
        runner.spawn("broken", |_ctx| async { Err("the commons is down".into()) });
        let tasks = runner.tasks();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let snap = loop {
            let snap = tasks.snapshot();
            if snap[0].last_success_at.is_some() && snap[1].state == TaskState::BackingOff {
                break snap;
            }
            assert!(std::time::Instant::now() < deadline, "{snap:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let (code, body) = status_body(true, &snap);
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["database"], "ok");
        assert_eq!(body["failing"], json!(["broken"]));
        assert_eq!(body["tasks"]["broken"]["state"], "backing_off");
        assert_eq!(body["tasks"]["broken"]["failing"], true);
        assert_eq!(body["tasks"]["broken"]["last_error"], "the commons is down");
        assert_eq!(body["tasks"]["broken"]["restarts"], 0);
        assert!(body["tasks"]["broken"]["retry_at"].is_string());
        assert_eq!(body["tasks"]["fine"]["state"], "running");
        assert_eq!(body["tasks"]["fine"]["failing"], false);
        assert!(body["tasks"]["fine"]["last_success_at"].is_string());

        let (code, body) = status_body(true, &snap[..1]);
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body["status"], "ok");
        assert!(body.get("failing").is_none());

        let (code, body) = status_body(false, &snap);
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["status"], "unhealthy");
        assert_eq!(body["database"], "unreachable");
        assert!(runner.shutdown(Duration::from_secs(1)).await);
    }
}
