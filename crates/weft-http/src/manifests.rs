//! manifestservice at `/manifests/`: a user's manifests (exported from the explorer or
//! discovery, placed in their workspace), cohorts and exported metadata. Every route needs
//! a user's token; without one, 403 `{"error": "Please log in."}` as manifestservice.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use weft_auth::{Credentials, Purpose};
use weft_identity::Tokens;
use weft_workspace::manifests::{Manifests, folder};

use crate::error::ApiError;
use crate::extract::{Body, Creds};
use crate::routes::Routes;

/// What manifestservice's handlers reach.
pub struct ManifestsState {
    pub service: Arc<Manifests>,
    pub tokens: Arc<Tokens>,
}

type Shared = Arc<ManifestsState>;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list,
    create,
    file,
    cohorts,
    create_cohort,
    metadata,
    create_metadata,
    metadata_file,
    status
))]
pub(crate) struct Api;

pub(crate) fn routes() -> Routes<Shared> {
    Routes::new()
        .route("/manifests/", get(list).post(create).put(create))
        .route("/manifests", get(list).post(create).put(create))
        .route("/manifests/file/{name}", get(file))
        .route(
            "/manifests/cohorts",
            get(cohorts).post(create_cohort).put(create_cohort),
        )
        .route(
            "/manifests/metadata",
            get(metadata).post(create_metadata).put(create_metadata),
        )
        .route("/manifests/metadata/{name}", get(metadata_file))
        .route("/manifests/_status", get(status))
}

fn please_log_in() -> Response {
    (
        StatusCode::FORBIDDEN,
        axum::Json(json!({"error": "Please log in."})),
    )
        .into_response()
}

/// The caller's user name, from a user token.
async fn user(s: &ManifestsState, creds: &Credentials) -> Option<String> {
    let Credentials::Bearer(token) = creds else {
        return None;
    };
    weft_auth::verify_bearer(&s.tokens, token, &["user"], Purpose::Access)
        .await
        .ok()
        .and_then(|p| p.user)
}

macro_rules! user_or_403 {
    ($s:expr, $c:expr) => {
        match user(&$s, &$c).await {
            Some(u) => u,
            None => return please_log_in(),
        }
    };
}

async fn listing(s: &ManifestsState, user: &str, folder: &str, key: &str) -> Response {
    match s.service.list(user, folder).await {
        Ok(files) => axum::Json(json!({ key: files })).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn created(r: Result<String, weft_core::WeftError>) -> Response {
    match r {
        Ok(name) => axum::Json(json!({"filename": name})).into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn raw(r: Result<String, weft_core::WeftError>) -> Response {
    match r {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[utoipa::path(get, path = "/manifests/", tag = "manifestservice",
    summary = "The caller's manifests, oldest first",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "{\"manifests\": [{filename, last_modified, last_modified_timestamp}]}", body = serde_json::Value),
        (status = 403, description = "{\"error\": \"Please log in.\"}", body = serde_json::Value),
    ))]
async fn list(State(s): State<Shared>, Creds(c): Creds) -> Response {
    let u = user_or_403!(s, c);
    listing(&s, &u, folder::MANIFEST, "manifests").await
}

#[utoipa::path(method(post, put), path = "/manifests/", tag = "manifestservice",
    summary = "Store a manifest (POST or PUT): a JSON array of objects, each with an object_id",
    description = "Also placed in the caller's running workspace at manifests/<filename>.",
    request_body = serde_json::Value, security(("bearer" = [])),
    responses(
        (status = 200, description = "{\"filename\": \"manifest-<time>.json\"}", body = serde_json::Value),
        (status = 400, description = "Not a JSON array, or an entry without object_id: {\"error\"}", body = serde_json::Value),
        (status = 403, description = "{\"error\": \"Please log in.\"}", body = serde_json::Value),
        (status = 413, description = "Body over max_body_bytes", body = serde_json::Value),
    ))]
async fn create(
    State(s): State<Shared>,
    Creds(c): Creds,
    body: Result<Body, ApiError>,
) -> Response {
    let u = user_or_403!(s, c);
    match body {
        Ok(Body(b)) => created(s.service.create_manifest(&u, &b).await),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(get, path = "/manifests/file/{name}", tag = "manifestservice",
    summary = "One of the caller's manifests, as stored",
    params(("name" = String, Path, description = "Its file name (ends in json)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The JSON array", body = serde_json::Value),
        (status = 400, description = "A name not ending in json", body = serde_json::Value),
        (status = 403, description = "{\"error\": \"Please log in.\"}", body = serde_json::Value),
        (status = 404, description = "No such manifest", body = serde_json::Value),
    ))]
async fn file(State(s): State<Shared>, Creds(c): Creds, Path(name): Path<String>) -> Response {
    let u = user_or_403!(s, c);
    raw(s.service.get(&u, folder::MANIFEST, &name).await)
}

#[utoipa::path(get, path = "/manifests/cohorts", tag = "manifestservice",
    summary = "The caller's cohorts (PFB GUIDs)",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "{\"cohorts\": [{filename, last_modified, last_modified_timestamp}]}", body = serde_json::Value),
        (status = 403, description = "{\"error\": \"Please log in.\"}", body = serde_json::Value),
    ))]
async fn cohorts(State(s): State<Shared>, Creds(c): Creds) -> Response {
    let u = user_or_403!(s, c);
    listing(&s, &u, folder::COHORT, "cohorts").await
}

#[utoipa::path(method(post, put), path = "/manifests/cohorts", tag = "manifestservice",
    summary = "Record a cohort (POST or PUT): {\"guid\"}", request_body = serde_json::Value, security(("bearer" = [])),
    responses(
        (status = 200, description = "{\"filename\": guid}", body = serde_json::Value),
        (status = 400, description = "No guid, or not a GUID", body = serde_json::Value),
        (status = 403, description = "{\"error\": \"Please log in.\"}", body = serde_json::Value),
        (status = 413, description = "Body over max_body_bytes", body = serde_json::Value),
    ))]
async fn create_cohort(
    State(s): State<Shared>,
    Creds(c): Creds,
    body: Result<Body, ApiError>,
) -> Response {
    let u = user_or_403!(s, c);
    match body {
        Ok(Body(b)) => created(s.service.create_cohort(&u, &b).await),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(get, path = "/manifests/metadata", tag = "manifestservice",
    summary = "The caller's exported metadata files",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "{\"external_file_metadata\": [{filename, last_modified, last_modified_timestamp}]}", body = serde_json::Value),
        (status = 403, description = "{\"error\": \"Please log in.\"}", body = serde_json::Value),
    ))]
async fn metadata(State(s): State<Shared>, Creds(c): Creds) -> Response {
    let u = user_or_403!(s, c);
    listing(&s, &u, folder::METADATA, "external_file_metadata").await
}

#[utoipa::path(method(post, put), path = "/manifests/metadata", tag = "manifestservice",
    summary = "Store exported metadata (POST or PUT; any JSON)", request_body = serde_json::Value, security(("bearer" = [])),
    responses(
        (status = 200, description = "{\"filename\": \"metadata-<time>.json\"}", body = serde_json::Value),
        (status = 400, description = "Not JSON", body = serde_json::Value),
        (status = 403, description = "{\"error\": \"Please log in.\"}", body = serde_json::Value),
        (status = 413, description = "Body over max_body_bytes", body = serde_json::Value),
    ))]
async fn create_metadata(
    State(s): State<Shared>,
    Creds(c): Creds,
    body: Result<Body, ApiError>,
) -> Response {
    let u = user_or_403!(s, c);
    match body {
        Ok(Body(b)) => created(s.service.create_metadata(&u, &b).await),
        Err(e) => e.into_response(),
    }
}

#[utoipa::path(get, path = "/manifests/metadata/{name}", tag = "manifestservice",
    summary = "One exported metadata file",
    params(("name" = String, Path, description = "Its file name (ends in json)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The stored JSON", body = serde_json::Value),
        (status = 400, description = "A name not ending in json", body = serde_json::Value),
        (status = 403, description = "{\"error\": \"Please log in.\"}", body = serde_json::Value),
        (status = 404, description = "No such file", body = serde_json::Value),
    ))]
async fn metadata_file(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(name): Path<String>,
) -> Response {
    let u = user_or_403!(s, c);
    raw(s.service.get(&u, folder::METADATA, &name).await)
}

#[utoipa::path(get, path = "/manifests/_status", tag = "manifestservice",
    summary = "Health",
    responses((status = 200, description = "{\"status\": \"OK\"}", body = serde_json::Value)))]
async fn status() -> Response {
    axum::Json(json!({"status": "OK"})).into_response()
}
