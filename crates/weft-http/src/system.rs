//! weft's own endpoints: the landing page, health, version, metrics.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

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
</table>
<h2>For people and programs</h2>
<ul>
<li><a href="/api/">API browser</a> (OpenAPI: <a href="/openapi.json">/openapi.json</a>)</li>
<li><a href="/_status">Health</a>, <a href="/_version">version</a>, <a href="/metrics">metrics</a></li>
<li>Documentation: <code>README.md</code> and <code>docs/</code> in the weft repository.</li>
</ul>
</body></html>"#,
        version = escape(s.version),
    ))
}

async fn status(State(s): State<SharedState>) -> Response {
    match s.index.store().ping().await {
        Ok(()) => Json(json!({"status": "ok", "database": "ok"})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"status": "unhealthy", "database": "unreachable"})),
            )
                .into_response()
        }
    }
}

async fn version(State(s): State<SharedState>) -> Json<serde_json::Value> {
    Json(json!({"version": s.version, "commit": s.commit}))
}

async fn metrics(State(s): State<SharedState>) -> Response {
    match &s.metrics {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"error": "metrics are not enabled"})),
        )
            .into_response(),
    }
}
