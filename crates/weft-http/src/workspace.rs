//! hatchery's API at `/lw-workspace/` (`options`, `launch`, `status`, `terminate`, pay
//! models) and the proxy to each user's notebook at `/lw-workspace/proxy/`: plain HTTP and
//! websockets (kernels), reachable only by the notebook's owner. Errors are JSON
//! `{"error": …}`; without workspaces configured every route answers 404 saying so.

use std::sync::Arc;

use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use hyper_util::rt::TokioIo;
use serde_json::json;
use weft_core::WeftError;
use weft_workspace::WorkspaceService;

use crate::error::ApiError;
use crate::extract::{Creds, Query};
use crate::routes::Routes;

/// What hatchery's handlers reach.
pub struct WorkspaceState {
    /// `None` when workspaces are off.
    pub service: Option<Arc<WorkspaceService>>,
}

type Shared = Arc<WorkspaceState>;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    options,
    launch,
    status,
    terminate,
    paymodels,
    allpaymodels,
    setpaymodel,
    resetpaymodels,
    proxy_root,
    proxy
))]
pub(crate) struct Api;

pub(crate) fn routes() -> Routes<Shared> {
    Routes::new()
        .route("/lw-workspace/options", get(options))
        .route("/lw-workspace/launch", post(launch))
        .route("/lw-workspace/status", get(status))
        .route("/lw-workspace/terminate", post(terminate))
        .route("/lw-workspace/paymodels", get(paymodels))
        .route("/lw-workspace/allpaymodels", get(allpaymodels))
        .route("/lw-workspace/setpaymodel", post(setpaymodel))
        .route("/lw-workspace/resetpaymodels", post(resetpaymodels))
        .route("/lw-workspace/proxy/", any(proxy_root))
        .route("/lw-workspace/proxy/{*path}", any(proxy))
}

fn off() -> Response {
    ApiError::from(WeftError::not_found(
        "workspaces are not enabled on this commons ([workspace])",
    ))
    .into_response()
}

fn text(body: &'static str) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

fn service(s: &WorkspaceState) -> Result<&Arc<WorkspaceService>, Box<Response>> {
    s.service.as_ref().ok_or_else(|| Box::new(off()))
}

macro_rules! svc {
    ($s:expr) => {
        match service(&$s) {
            Ok(svc) => svc,
            Err(r) => return *r,
        }
    };
}

fn answer<T: serde::Serialize>(r: Result<T, WeftError>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(get, path = "/lw-workspace/options", tag = "hatchery",
    summary = "The workspace kinds the caller may launch, or one of them (?id=)",
    params(("id" = Option<String>, Query, description = "One kind's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "[{name, cpu-limit, memory-limit, id, gpu, idle-time-limit}], or one such object with ?id=", body = serde_json::Value),
        (status = 400, description = "An id the caller may not launch: {\"error\"}", body = serde_json::Value),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 403, description = "No `jupyterhub` `access` on /workspace", body = serde_json::Value),
        (status = 404, description = "Workspaces are off", body = serde_json::Value),
    ))]
async fn options(State(s): State<Shared>, Creds(c): Creds, Query(q): Query) -> Response {
    let svc = svc!(s);
    let all = match svc.options(&c).await {
        Ok(all) => all,
        Err(e) => return ApiError::from(e).into_response(),
    };
    match q.get("id") {
        None => axum::Json(all).into_response(),
        Some(id) => match all.into_iter().find(|o| o.id == id) {
            Some(o) => axum::Json(o).into_response(),
            None => ApiError::from(WeftError::invalid("Invalid 'id' parameter")).into_response(),
        },
    }
}

#[utoipa::path(post, path = "/lw-workspace/launch", tag = "hatchery",
    summary = "Launch a workspace of kind ?id= for the caller",
    description = "The workspace gets an API key of its user (API_KEY, API_KEY_ID, ~/.gen3/credentials.json), GEN3_ENDPOINT, and the user's manifests in manifests/. Poll /status until Running.",
    params(("id" = String, Query, description = "The kind's id (from /options)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "text `Success`", body = String),
        (status = 400, description = "No or an unknown id, or pay models but none current: {\"error\"}", body = serde_json::Value),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 403, description = "No access, or the current pay model is past its hard limit", body = serde_json::Value),
        (status = 404, description = "Workspaces are off", body = serde_json::Value),
        (status = 409, description = "A workspace already runs", body = serde_json::Value),
        (status = 503, description = "The backend could not start it: {\"error\"}", body = serde_json::Value),
    ))]
async fn launch(State(s): State<Shared>, Creds(c): Creds, Query(q): Query) -> Response {
    let svc = svc!(s);
    let Some(id) = q.get("id").filter(|id| !id.is_empty()) else {
        return ApiError::from(WeftError::invalid("Missing 'id' parameter")).into_response();
    };
    match svc.launch(&c, id).await {
        Ok(()) => text("Success"),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(get, path = "/lw-workspace/status", tag = "hatchery",
    summary = "The caller's workspace: Not Found, Launching, Running, Terminating, Stopped or Errored",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "{status, conditions, containerStates, idleTimeLimit, lastActivityTime, workspaceType, message?, kind?}", body = serde_json::Value),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 403, description = "No `jupyterhub` `access` on /workspace", body = serde_json::Value),
        (status = 404, description = "Workspaces are off", body = serde_json::Value),
    ))]
async fn status(State(s): State<Shared>, Creds(c): Creds) -> Response {
    let svc = svc!(s);
    answer(svc.status(&c).await)
}

#[utoipa::path(post, path = "/lw-workspace/terminate", tag = "hatchery",
    summary = "Stop the caller's workspace (its persistent directory stays)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "text `Terminated workspace`", body = String),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 403, description = "No `jupyterhub` `access` on /workspace", body = serde_json::Value),
        (status = 404, description = "No workspace to terminate, or workspaces are off", body = serde_json::Value),
    ))]
async fn terminate(State(s): State<Shared>, Creds(c): Creds) -> Response {
    let svc = svc!(s);
    match svc.terminate(&c).await {
        Ok(()) => text("Terminated workspace"),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(get, path = "/lw-workspace/paymodels", tag = "hatchery",
    summary = "The caller's current pay model",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "{bmh_workspace_id, workspace_type, user_id, account_id, request_status, local, region, ecs, subnet, hard-limit, soft-limit, total-usage, current_pay_model}", body = serde_json::Value),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 403, description = "No `jupyterhub` `access` on /workspace", body = serde_json::Value),
        (status = 404, description = "Current paymodel not set, or workspaces are off", body = serde_json::Value),
    ))]
async fn paymodels(State(s): State<Shared>, Creds(c): Creds) -> Response {
    let svc = svc!(s);
    answer(svc.pay_model(&c).await)
}

#[utoipa::path(get, path = "/lw-workspace/allpaymodels", tag = "hatchery",
    summary = "Every pay model of the caller, and the current one",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "{current_pay_model, all_pay_models}", body = serde_json::Value),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 403, description = "No `jupyterhub` `access` on /workspace", body = serde_json::Value),
        (status = 404, description = "No paymodel set, or workspaces are off", body = serde_json::Value),
    ))]
async fn allpaymodels(State(s): State<Shared>, Creds(c): Creds) -> Response {
    let svc = svc!(s);
    answer(svc.all_pay_models(&c).await)
}

#[utoipa::path(post, path = "/lw-workspace/setpaymodel", tag = "hatchery",
    summary = "Make pay model ?id= (its bmh_workspace_id) the caller's current one",
    params(("id" = String, Query, description = "bmh_workspace_id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The pay model", body = serde_json::Value),
        (status = 400, description = "No id", body = serde_json::Value),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 403, description = "No `jupyterhub` `access` on /workspace", body = serde_json::Value),
        (status = 404, description = "No such pay model for the caller, or workspaces are off", body = serde_json::Value),
        (status = 409, description = "A workspace runs", body = serde_json::Value),
    ))]
async fn setpaymodel(State(s): State<Shared>, Creds(c): Creds, Query(q): Query) -> Response {
    let svc = svc!(s);
    let Some(id) = q.get("id").filter(|id| !id.is_empty()) else {
        return ApiError::from(WeftError::invalid("Missing 'id' parameter")).into_response();
    };
    answer(svc.set_pay_model(&c, id).await)
}

#[utoipa::path(post, path = "/lw-workspace/resetpaymodels", tag = "hatchery",
    summary = "Make none of the caller's pay models current",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "text", body = String),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 403, description = "No `jupyterhub` `access` on /workspace", body = serde_json::Value),
        (status = 404, description = "Workspaces are off", body = serde_json::Value),
        (status = 409, description = "A workspace runs", body = serde_json::Value),
    ))]
async fn resetpaymodels(State(s): State<Shared>, Creds(c): Creds) -> Response {
    let svc = svc!(s);
    match svc.reset_pay_models(&c).await {
        Ok(()) => text("Current Paymodel has been reset"),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Headers that belong to one hop, never forwarded (RFC 9110 §7.6.1).
const HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a websocket upgrade comes from a page of this commons: the browser sends the
/// session cookie with any site's websocket, so its `Origin` must name our host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // not a browser
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    url::Url::parse(origin).is_ok_and(|u| {
        let o = match u.port() {
            Some(p) => format!("{}:{p}", u.host_str().unwrap_or_default()),
            None => u.host_str().unwrap_or_default().to_owned(),
        };
        o.eq_ignore_ascii_case(host)
    })
}

/// The cookies the notebook may see: not this weft's session or CSRF cookies.
fn notebook_cookies(headers: &HeaderMap) -> Option<HeaderValue> {
    let kept: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|c| {
            let name = c.split('=').next().unwrap_or_default();
            !name.is_empty() && name != "weft_session" && name != "csrftoken"
        })
        .collect();
    if kept.is_empty() {
        None
    } else {
        HeaderValue::from_str(&kept.join("; ")).ok()
    }
}

fn gateway_error(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_GATEWAY,
        axum::Json(json!({"error": format!("the workspace did not answer: {e}")})),
    )
        .into_response()
}

#[utoipa::path(method(get, post, put, delete, patch, options), path = "/lw-workspace/proxy/{path}", tag = "hatchery",
    summary = "The caller's own notebook (JupyterLab), HTTP and websockets",
    description = "Forwarded to the caller's running workspace, which serves under /lw-workspace/proxy/. Only its owner reaches it; a browser's websocket must come from a page of this commons (Origin).",
    params(("path" = String, Path, description = "The notebook's own path")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The notebook's answer (any status it gives)", body = String),
        (status = 101, description = "A websocket, switched"),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 403, description = "No access, or a websocket from another site", body = serde_json::Value),
        (status = 404, description = "No running workspace, or workspaces are off", body = serde_json::Value),
        (status = 502, description = "The notebook did not answer", body = serde_json::Value),
    ))]
async fn proxy(state: State<Shared>, creds: Creds, req: Request) -> Response {
    forward(state, creds, req).await
}

#[utoipa::path(method(get, post, put, delete, patch, options), path = "/lw-workspace/proxy/", tag = "hatchery",
    summary = "The caller's own notebook's root (the portal polls it: 200 once the notebook answers)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The notebook's answer (any status it gives; JupyterLab redirects to lab)", body = String),
        (status = 401, description = "No or a bad token", body = serde_json::Value),
        (status = 403, description = "No access", body = serde_json::Value),
        (status = 404, description = "No running workspace, or workspaces are off", body = serde_json::Value),
        (status = 502, description = "The notebook did not answer", body = serde_json::Value),
    ))]
async fn proxy_root(state: State<Shared>, creds: Creds, req: Request) -> Response {
    forward(state, creds, req).await
}

async fn forward(State(s): State<Shared>, Creds(c): Creds, req: Request) -> Response {
    let svc = svc!(s);
    let target = match svc.proxy_target(&c).await {
        Ok(t) => t,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let upgrade = req.headers().contains_key(header::UPGRADE);
    if upgrade && !same_origin(req.headers()) {
        return ApiError::from(WeftError::forbidden(
            "a websocket to the workspace must come from a page of this commons",
        ))
        .into_response();
    }
    let (mut parts, body) = req.into_parts();
    let incoming_upgrade = if upgrade {
        parts.extensions.remove::<hyper::upgrade::OnUpgrade>()
    } else {
        None
    };
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str)
        .to_owned();
    let mut builder = hyper::Request::builder()
        .method(parts.method.clone())
        .uri(path);
    for (name, value) in &parts.headers {
        let n = name.as_str();
        if HOP.contains(&n) || n == "authorization" || n == "cookie" || n == "x-csrf-token" {
            continue;
        }
        builder = builder.header(name, value);
    }
    if upgrade {
        for n in [header::CONNECTION, header::UPGRADE] {
            if let Some(v) = parts.headers.get(&n) {
                builder = builder.header(n, v);
            }
        }
    }
    if let Some(cookies) = notebook_cookies(&parts.headers) {
        builder = builder.header(header::COOKIE, cookies);
    }
    builder = builder.header(header::AUTHORIZATION, format!("token {}", target.secret));
    let Ok(out) = builder.body(body) else {
        return gateway_error("the request could not be forwarded");
    };
    let host = target.origin.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = target.origin.port_or_known_default().unwrap_or(80);
    let stream = match tokio::net::TcpStream::connect((host.as_str(), port)).await {
        Ok(s) => s,
        Err(e) => return gateway_error(e),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(x) => x,
        Err(e) => return gateway_error(e),
    };
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    let mut resp = match sender.send_request(out).await {
        Ok(r) => r,
        Err(e) => return gateway_error(e),
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        let Some(client_side) = incoming_upgrade else {
            return gateway_error("the notebook switched protocols unasked");
        };
        let upstream = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            let (Ok(a), Ok(b)) = (client_side.await, upstream.await) else {
                return;
            };
            let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b)).await;
        });
        let (parts, _) = resp.into_parts();
        let mut out = Response::new(AxumBody::empty());
        *out.status_mut() = parts.status;
        *out.headers_mut() = parts.headers;
        return out;
    }
    let (mut parts, body) = resp.into_parts();
    for n in HOP {
        parts.headers.remove(n);
    }
    Response::from_parts(parts, AxumBody::new(body))
}
