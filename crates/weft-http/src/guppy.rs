//! guppy's API under `/guppy/` (the explorer): `POST /graphql`, `POST /download` (every
//! matching document, streamed), `GET /_status`, `GET /_version`. Without a configured
//! dictionary each answers 404 saying so.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use weft_explore::Guppy;

use crate::error::ApiError;
use crate::extract::{Body, Creds};
use crate::routes::Routes;

/// What guppy's handlers reach.
pub struct GuppyState {
    /// `None` when no dictionary is configured.
    pub service: Option<Arc<Guppy>>,
    /// What `/guppy/_version` reports.
    pub build: crate::Build,
}

type Shared = Arc<GuppyState>;

#[derive(utoipa::OpenApi)]
#[openapi(paths(graphql, download, status, version))]
pub(crate) struct Api;

pub(crate) fn routes() -> Routes<Shared> {
    Routes::new()
        .route("/guppy/graphql", post(graphql))
        .route("/guppy/download", post(download))
        .route("/guppy/_status", get(status))
        .route("/guppy/_version", get(version))
}

fn json_body(status: StatusCode, body: &Value) -> Response {
    crate::json_text(status, body.to_string())
}

fn unavailable() -> Response {
    json_body(
        StatusCode::NOT_FOUND,
        &json!({"message": "This commons has no data dictionary configured (dictionary.url), so it serves no explorer"}),
    )
}

/// The service and the request's body, or the answer when either is missing.
fn service_and_body(
    s: &GuppyState,
    body: Result<Body, ApiError>,
) -> Result<(&Arc<Guppy>, axum::body::Bytes), Box<Response>> {
    let Some(svc) = &s.service else {
        return Err(Box::new(unavailable()));
    };
    match body {
        Ok(Body(b)) => Ok((svc, b)),
        Err(e) => Err(Box::new(e.into_response())),
    }
}

#[utoipa::path(post, path = "/guppy/graphql", tag = "guppy",
    summary = "Query the explorer's documents with guppy's GraphQL: {query, variables}",
    description = "A row list per index (`offset`, `first` (10 by default, no 10,000 cap), `filter`, `sort`, `accessibility`), `_aggregation` (`_totalCount`, histograms, `_cardinalityCount`) and `_mapping`. Documents come only from what the caller may `read` through the `guppy` service (private tier), or with small counts hidden (regular tier).",
    request_body = Value, security(("bearer" = []), ()),
    responses(
        (status = 200, description = "{\"data\"}, with {\"errors\"} a resolver raised (bad filters, regular-tier refusals)", body = Value),
        (status = 400, description = "A body, query or variables that cannot run: {\"errors\"}", body = Value),
        (status = 401, description = "A bad or expired token", body = Value),
        (status = 403, description = "A token that names neither a user nor a client", body = Value),
        (status = 404, description = "No dictionary configured", body = Value),
        (status = 413, description = "Body over max_body_bytes", body = Value),
    ))]
async fn graphql(
    State(s): State<Shared>,
    Creds(c): Creds,
    body: Result<Body, ApiError>,
) -> Response {
    let (svc, body) = match service_and_body(&s, body) {
        Ok(sb) => sb,
        Err(r) => return *r,
    };
    match svc.graphql(&c, &body).await {
        Ok(answer) => json_body(
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST),
            &answer.body,
        ),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Documents written per piece of a download's body.
const PIECE: usize = 2000;

#[utoipa::path(post, path = "/guppy/download", tag = "guppy",
    summary = "Every document matching a filter, as one JSON array streamed as it is written",
    description = "Body: {type, filter?, sort?, fields?, accessibility?, format?}. No page limit. `format`: `json` (default, guppy's), `tsv` or `csv` (a header line, then a line per document).",
    request_body = Value, security(("bearer" = []), ()),
    responses(
        (status = 200, description = "[{...}, ...], or TSV/CSV lines", body = Value),
        (status = 400, description = "Unknown type or fields, a bad filter or sort: {\"message\"}", body = Value),
        (status = 401, description = "A bad or expired token; or, regular tier, the filter reaches documents the caller may not read", body = Value),
        (status = 403, description = "A token that names neither a user nor a client", body = Value),
        (status = 404, description = "No dictionary configured", body = Value),
    ))]
async fn download(
    State(s): State<Shared>,
    Creds(c): Creds,
    body: Result<Body, ApiError>,
) -> Response {
    let (svc, body) = match service_and_body(&s, body) {
        Ok(sb) => sb,
        Err(r) => return *r,
    };
    let dl = match svc.download(&c, &body).await {
        Ok(d) => Arc::new(d),
        Err(r) => {
            return json_body(
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::BAD_REQUEST),
                &json!({"message": r.text}),
            );
        }
    };
    let total = dl.rows.len();
    let content_type = dl.format.content_type();
    let stream = futures::stream::unfold(Some(0usize), move |at| {
        let dl = Arc::clone(&dl);
        async move {
            let at = at?;
            if at > total {
                return None;
            }
            let mut piece = if at == 0 { dl.head() } else { Vec::new() };
            if at < total {
                piece.extend(dl.piece(at, PIECE).await);
            }
            let next = at + PIECE;
            if next >= total {
                piece.extend(dl.tail());
                return Some((Ok::<_, std::io::Error>(Bytes::from(piece)), None));
            }
            Some((Ok(Bytes::from(piece)), Some(next)))
        }
    });
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, content_type)],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

#[utoipa::path(get, path = "/guppy/_status", tag = "guppy",
    summary = "The explorer's indices: documents held and array fields",
    security(()),
    responses(
        (status = 200, description = "{\"statusCode\": 200, \"warnings\", \"indices\"}", body = Value),
        (status = 404, description = "No dictionary configured", body = Value),
    ))]
async fn status(State(s): State<Shared>) -> Response {
    match &s.service {
        Some(svc) => json_body(StatusCode::OK, &svc.status().await),
        None => unavailable(),
    }
}

#[utoipa::path(get, path = "/guppy/_version", tag = "guppy",
    summary = "The build's version and commit",
    security(()),
    responses((status = 200, description = "{\"version\", \"commit\"}", body = Value)))]
async fn version(State(s): State<Shared>) -> Response {
    json_body(
        StatusCode::OK,
        &json!({"version": s.build.version, "commit": s.build.commit}),
    )
}
