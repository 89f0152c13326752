//! Peregrine's GraphQL under `/api/v0/submission` (beside sheepdog's routes, as Gen3's
//! gateway mounts them): `POST /graphql` and `GET /getschema`. Answers are peregrine's:
//! 200 `{"data"}`, 400 `{"data", "errors": [text]}`; a malformed body or bad credentials
//! `{"message"}`. Without a configured dictionary both answer 404 saying so.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::http::header::ACCEPT;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use weft_core::WeftError;
use weft_peregrine::Peregrine;
use weft_peregrine::summary::MetadataFormat;

use crate::error::ApiError;
use crate::extract::{Body, Creds, Query};
use crate::routes::Routes;

/// What the GraphQL handlers reach.
pub struct PeregrineState {
    /// `None` when no dictionary is configured.
    pub service: Option<Arc<Peregrine>>,
    /// What `/api/search/_version` reports.
    pub build: crate::Build,
}

type Shared = Arc<PeregrineState>;
type Res = Result<Response, ApiError>;

#[derive(utoipa::OpenApi)]
#[openapi(paths(graphql, getschema))]
pub(crate) struct Api;

/// The summaries under `/api/search`.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    datasets,
    dataset_projects,
    core_metadata,
    search_version,
    search_status
))]
pub(crate) struct SearchApi;

/// Under the submission prefix.
pub(crate) fn routes() -> Routes<Shared> {
    Routes::new()
        .route("/graphql", post(graphql))
        .route("/getschema", get(getschema))
}

/// Where Gen3's gateway serves peregrine's summaries.
pub(crate) fn search_routes() -> Routes<Shared> {
    Routes::new()
        .route("/api/search/datasets", get(datasets))
        .route("/api/search/datasets/projects", get(dataset_projects))
        .route("/api/search/coremetadata/{*object_id}", get(core_metadata))
        .route("/api/search/_version", get(search_version))
        .route("/api/search/_status", get(search_status))
}

fn message(e: WeftError) -> ApiError {
    ApiError::sheepdog(e)
}

fn service(s: &PeregrineState) -> Result<&Arc<Peregrine>, ApiError> {
    s.service.as_ref().ok_or_else(|| {
        message(WeftError::not_found(
            "This commons has no data dictionary configured (dictionary.url), so it serves no GraphQL",
        ))
    })
}

fn json(status: StatusCode, body: &Value) -> Response {
    crate::json_text(status, body.to_string())
}

#[utoipa::path(post, path = "/graphql", tag = "graphql",
    summary = "Query the graph with GraphQL (peregrine): {query, variables}",
    description = "The schema is generated from the data dictionary: a field per node type and its `_<type>_count`, links both ways, peregrine's arguments. Results come only from the projects the caller may `read` (`peregrine` service) and from `Open` projects.",
    request_body = Value, security(("bearer" = []), ()),
    responses(
        (status = 200, description = "{\"data\": ...}", body = Value),
        (status = 400, description = "{\"data\", \"errors\": [text]}, or {\"message\"} for a malformed body", body = Value),
        (status = 401, description = "Unusable credentials", body = Value),
        (status = 403, description = "A token that names neither a user nor a client", body = Value),
        (status = 404, description = "No dictionary configured", body = Value),
        (status = 413, description = "Body over max_body_bytes", body = Value),
    ))]
async fn graphql(State(s): State<Shared>, Creds(c): Creds, body: Result<Body, ApiError>) -> Res {
    let svc = service(&s)?;
    let Body(body) = body.map_err(|e| message(e.error))?;
    let answer = svc.query(&c, &body).await.map_err(message)?;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST);
    Ok(json(status, &answer.body))
}

#[utoipa::path(get, path = "/getschema", tag = "graphql",
    summary = "The GraphQL schema's introspection result (what Gen3's portal build reads)",
    security(()),
    responses(
        (status = 200, description = "{\"data\": {\"__schema\": ...}}", body = Value),
        (status = 404, description = "No dictionary configured", body = Value),
    ))]
async fn getschema(State(s): State<Shared>) -> Res {
    let svc = service(&s)?;
    Ok(json(StatusCode::OK, &svc.introspection().await))
}

#[utoipa::path(get, path = "/api/search/datasets", tag = "graphql",
    summary = "Counts of node types per readable project (the portal's home page)",
    params(("nodes" = String, Query, description = "node types, comma-separated")),
    security(("bearer" = []), ()),
    responses(
        (status = 200, description = "{\"<project_id>\": {\"<node>\": n}}", body = Value),
        (status = 400, description = "No or unknown nodes", body = Value),
        (status = 401, description = "Unusable credentials", body = Value),
        (status = 403, description = "A token that names neither a user nor a client", body = Value),
        (status = 404, description = "No dictionary configured", body = Value),
    ))]
async fn datasets(State(s): State<Shared>, Creds(c): Creds, q: Result<Query, ApiError>) -> Res {
    let svc = service(&s)?;
    let q = q.map_err(|e| message(e.error))?;
    let nodes: Vec<String> =
        q.0.0
            .iter()
            .filter(|(k, _)| k == "nodes")
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
            .collect();
    let out = svc.datasets(&c, &nodes).await.map_err(message)?;
    Ok(json(StatusCode::OK, &out))
}

#[utoipa::path(get, path = "/api/search/datasets/projects", tag = "graphql",
    summary = "The readable projects: name, code, dbgap_accession_number",
    security(("bearer" = []), ()),
    responses(
        (status = 200, description = "{\"projects\": [...]}", body = Value),
        (status = 401, description = "Unusable credentials", body = Value),
        (status = 403, description = "A token that names neither a user nor a client", body = Value),
        (status = 404, description = "No dictionary configured", body = Value),
    ))]
async fn dataset_projects(State(s): State<Shared>, Creds(c): Creds) -> Res {
    let svc = service(&s)?;
    let out = svc.dataset_projects(&c).await.map_err(message)?;
    Ok(json(StatusCode::OK, &out))
}

#[utoipa::path(get, path = "/api/search/coremetadata/{object_id}", tag = "graphql",
    summary = "Core metadata of a data file: JSON, schema.org JSON-LD or BibTeX, by Accept",
    params(("object_id" = String, Path)),
    security(("bearer" = []), ()),
    responses(
        (status = 200, description = "The file's core metadata with a citation", body = Value),
        (status = 401, description = "Unusable credentials", body = Value),
        (status = 403, description = "A token that names neither a user nor a client", body = Value),
        (status = 404, description = "No readable file has this object_id", body = Value),
    ))]
async fn core_metadata(
    State(s): State<Shared>,
    Creds(c): Creds,
    headers: HeaderMap,
    Path(object_id): Path<String>,
) -> Res {
    let svc = service(&s)?;
    let accept = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let format = MetadataFormat::from_accept(accept);
    let out = svc
        .core_metadata(&c, &object_id, format)
        .await
        .map_err(message)?;
    Ok((StatusCode::OK, [(CONTENT_TYPE, format.content_type())], out).into_response())
}

#[utoipa::path(get, path = "/api/search/_version", tag = "graphql",
    summary = "Version of the query service and its dictionary",
    security(()),
    responses((status = 200, description = "{version, commit, dictionary: {version, commit}}", body = Value)))]
async fn search_version(State(s): State<Shared>) -> Res {
    let dict = s.service.as_ref().map(|p| Arc::clone(p.dictionary()));
    let out = serde_json::json!({
        "version": s.build.version,
        "commit": s.build.commit,
        "dictionary": {
            "version": dict.as_ref().and_then(|d| d.version().map(str::to_owned)).unwrap_or_default(),
            "commit": dict.as_ref().and_then(|d| d.commit().map(str::to_owned)).unwrap_or_default(),
        },
    });
    Ok(json(StatusCode::OK, &out))
}

#[utoipa::path(get, path = "/api/search/_status", tag = "graphql",
    summary = "Health of the query service",
    security(()),
    responses((status = 200, description = "Healthy", body = String)))]
async fn search_status() -> Res {
    Ok((StatusCode::OK, [(CONTENT_TYPE, "text/plain")], "Healthy").into_response())
}
