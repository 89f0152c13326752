//! Peregrine's GraphQL under `/api/v0/submission` (beside sheepdog's routes, as Gen3's
//! gateway mounts them): `POST /graphql` and `GET /getschema`. Answers are peregrine's:
//! 200 `{"data"}`, 400 `{"data", "errors": [text]}`; a malformed body or bad credentials
//! `{"message"}`. Without a configured dictionary both answer 404 saying so.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;
use weft_core::WeftError;
use weft_peregrine::Peregrine;

use crate::error::ApiError;
use crate::extract::{Body, Creds};
use crate::routes::Routes;

/// What the GraphQL handlers reach.
pub struct PeregrineState {
    /// `None` when no dictionary is configured.
    pub service: Option<Arc<Peregrine>>,
}

type Shared = Arc<PeregrineState>;
type Res = Result<Response, ApiError>;

#[derive(utoipa::OpenApi)]
#[openapi(paths(graphql, getschema))]
pub(crate) struct Api;

pub(crate) fn routes() -> Routes<Shared> {
    Routes::new()
        .route("/graphql", post(graphql))
        .route("/getschema", get(getschema))
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
    (
        status,
        [(CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[utoipa::path(post, path = "/graphql", tag = "graphql",
    summary = "Query the graph with GraphQL (peregrine): {query, variables}",
    description = "The schema is generated from the data dictionary: a field per node type and its `_<type>_count`, links both ways, peregrine's arguments. Results come only from the projects the caller may `read` (`peregrine` service) and from `Open` projects.",
    request_body = Value, security(("bearer" = []), ()),
    responses(
        (status = 200, description = "{\"data\": ...}", body = Value),
        (status = 400, description = "{\"data\", \"errors\": [text]}, or {\"message\"} for a malformed body", body = Value),
        (status = 401, description = "Unusable credentials", body = Value),
        (status = 404, description = "No dictionary configured", body = Value),
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
