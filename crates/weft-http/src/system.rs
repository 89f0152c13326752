//! weft's own endpoints: health (with the CSRF value Gen3's portals read), version, metrics.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::Serialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq as _;
use utoipa::{OpenApi, ToSchema};

use crate::schemas::IndexdError;

/// weft's own endpoints' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(status, version, metrics),
    components(schemas(Health, TaskHealth, TaskStateName, WeftVersion, IndexdError)),
    modifiers(&MetricsToken)
)]
pub(crate) struct Api;

/// Adds the `metrics_token` security scheme: `Authorization: Bearer <metrics.token>`, a
/// shared secret from the configuration (not a fence token).
struct MetricsToken;

impl utoipa::Modify for MetricsToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "metrics_token",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some("`metrics.token` of the configuration"))
                        .build(),
                ),
            );
    }
}

/// What weft's own routes reach.
pub struct SystemState {
    pub index: std::sync::Arc<weft_indexd::IndexService>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    /// `metrics.token`: the bearer token of `/metrics` on the public port.
    pub metrics_token: Option<weft_config::Secret>,
    /// The background tasks' states.
    pub tasks: weft_tasks::Tasks,
    pub base_url: String,
    pub uses_postgres: bool,
    pub started: std::time::Instant,
    pub build: crate::Build,
}

type SharedState = std::sync::Arc<SystemState>;

/// weft's own routes.
pub(crate) fn routes() -> crate::routes::Routes<SharedState> {
    crate::routes::Routes::new()
        .route("/_status", get(status))
        .route("/_version", get(version))
        .route("/metrics", get(metrics))
}

/// Health: 503 when the database does not answer. Each background task's state is listed
/// under `tasks`; a task that keeps failing turns `status` into `"degraded"` (naming it in
/// `failing`) but not into a 503: the server still serves, and a balancer should not take it
/// out of rotation for, say, one unreachable hub commons' search refresh.
#[utoipa::path(get, path = "/_status", tag = "weft",
    summary = "Health of weft, its database and its background tasks",
    responses((status = 200, description = "The database answers (`status` ok, or degraded while a task keeps failing)", body = Health),
        (status = 503, description = "The database does not answer (`status` unhealthy)", body = Health)))]
async fn status(State(s): State<SharedState>, headers: HeaderMap) -> Response {
    let database = s.index.store().ping().await;
    if let Err(e) = &database {
        tracing::error!(error = %e, "health check failed");
    }
    let (code, mut body) = status_body(database.is_ok(), &s.tasks.snapshot());
    // The value a browser's cookie-authenticated changes repeat in `x-csrf-token` (Gen3's
    // portals read it here): the `csrftoken` cookie's, set now when the browser has none.
    let (csrf, fresh) = match crate::oauth::cookie_value(&headers, crate::gateway::CSRF_COOKIE)
        .filter(|c| (16..=128).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        Some(c) => (c, false),
        None => (weft_identity::oauth::random_string(32), true),
    };
    body["csrf"] = Value::String(csrf.clone());
    let mut resp = (code, Json(body)).into_response();
    if fresh {
        let cookie = cookie::Cookie::build((crate::gateway::CSRF_COOKIE, csrf))
            .path("/")
            .same_site(cookie::SameSite::Strict)
            .secure(s.base_url.starts_with("https://"))
            .build();
        if let Ok(v) = header::HeaderValue::from_str(&cookie.to_string()) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// `/_status`'s answer: 503 when the database does not answer. Each background task's state
/// is listed under `tasks` by name; a task failing (its last run failed and nothing succeeded
/// since) turns `status` into `"degraded"` and is named in `failing`, but the answer stays a
/// 200: the server still serves, and a balancer should not take it out of rotation because,
/// say, a hub's search refresh keeps failing.
fn status_body(database_ok: bool, snapshot: &[weft_tasks::TaskSnapshot]) -> (StatusCode, Value) {
    let tasks: BTreeMap<String, TaskHealth> = snapshot
        .iter()
        .map(|t| (t.name.clone(), TaskHealth::from(t)))
        .collect();
    let failing: Vec<String> = snapshot
        .iter()
        .filter(|t| t.failing())
        .map(|t| t.name.clone())
        .collect();
    let (code, health) = if database_ok {
        let status = if failing.is_empty() {
            HealthStatus::Ok
        } else {
            HealthStatus::Degraded
        };
        let health = Health {
            status,
            database: DatabaseState::Ok,
            tasks,
            failing,
            csrf: None,
        };
        (StatusCode::OK, health)
    } else {
        let health = Health {
            status: HealthStatus::Unhealthy,
            database: DatabaseState::Unreachable,
            tasks,
            failing: Vec::new(),
            csrf: None,
        };
        (StatusCode::SERVICE_UNAVAILABLE, health)
    };
    (code, serde_json::to_value(health).unwrap_or_default())
}

/// `/_status`'s body.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    status: HealthStatus,
    database: DatabaseState,
    /// Each background task's state, by task name.
    tasks: BTreeMap<String, TaskHealth>,
    /// The tasks failing (absent when none, and when the database does not answer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    failing: Vec<String>,
    /// The value cookie-authenticated changes send in `x-csrf-token` (Gen3's `csrf`); the
    /// `csrftoken` cookie's, set by this answer when the browser sent none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(required = false)]
    csrf: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum HealthStatus {
    Ok,
    Degraded,
    Unhealthy,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum DatabaseState {
    Ok,
    Unreachable,
}

/// One background task's state.
#[derive(Serialize, ToSchema)]
pub(crate) struct TaskHealth {
    state: TaskStateName,
    /// How many times the task was started again after a failure.
    restarts: u64,
    #[schema(value_type = String, format = DateTime)]
    started_at: chrono::DateTime<chrono::Utc>,
    /// The message of the last failure.
    last_error: Option<String>,
    #[schema(value_type = Option<String>, format = DateTime)]
    last_error_at: Option<chrono::DateTime<chrono::Utc>>,
    #[schema(value_type = Option<String>, format = DateTime)]
    last_success_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When a task backing off is started again.
    #[schema(value_type = Option<String>, format = DateTime)]
    retry_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Its last run failed and nothing has succeeded since.
    failing: bool,
}

impl From<&weft_tasks::TaskSnapshot> for TaskHealth {
    fn from(t: &weft_tasks::TaskSnapshot) -> Self {
        Self {
            state: match t.state {
                weft_tasks::TaskState::Running => TaskStateName::Running,
                weft_tasks::TaskState::BackingOff => TaskStateName::BackingOff,
                weft_tasks::TaskState::Stopped => TaskStateName::Stopped,
            },
            restarts: t.restarts,
            started_at: t.started_at,
            last_error: t.last_error.clone(),
            last_error_at: t.last_error_at,
            last_success_at: t.last_success_at,
            retry_at: t.retry_at,
            failing: t.failing(),
        }
    }
}

/// Where a background task is.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TaskStateName {
    /// Its body is running.
    Running,
    /// Its body failed; it is started again at `retry_at`.
    BackingOff,
    /// It ended.
    Stopped,
}

/// weft's version and the commit it was built from.
#[derive(Serialize, ToSchema)]
pub(crate) struct WeftVersion {
    version: &'static str,
    commit: &'static str,
}

#[utoipa::path(get, path = "/_version", tag = "weft",
    summary = "weft's version and commit",
    responses((status = 200, description = "Version and commit", body = WeftVersion)))]
async fn version(State(s): State<SharedState>) -> Json<WeftVersion> {
    Json(WeftVersion {
        version: s.build.version,
        commit: s.build.commit,
    })
}

/// `/metrics` on the public port: only with the configured bearer token
/// (`metrics.token`); without one the port does not serve metrics at all (a scraper uses the
/// listener of `metrics.listen`, [`metrics_app`]).
#[utoipa::path(get, path = "/metrics", tag = "weft",
    summary = "Prometheus metrics, on the public port only with metrics.token",
    security(("metrics_token" = [])),
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "No bearer token, or not metrics.token", body = IndexdError),
        (status = 404, description = "Metrics are off, or not served on this port (no metrics.token; a scraper uses metrics.listen)", body = IndexdError)))]
async fn metrics(State(s): State<SharedState>, headers: HeaderMap) -> Response {
    let Some(handle) = &s.metrics else {
        return error(StatusCode::NOT_FOUND, "metrics are not enabled");
    };
    let Some(token) = &s.metrics_token else {
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
pub fn metrics_app(handle: PrometheusHandle) -> axum::Router {
    axum::Router::new().route(
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
