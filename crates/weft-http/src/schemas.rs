//! Schemas of the OpenAPI document shared by several routers: the error body of each API
//! surface, and the shapes of documents the service crates serialize (mirrored here, with
//! the same field names and types, so the service crates stay free of utoipa).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// indexd's error body (also weft's own endpoints, fence and the 404/405 fallbacks).
#[derive(Serialize, ToSchema)]
pub struct IndexdError {
    /// What is wrong.
    pub error: String,
}

/// A GA4GH DRS error body.
#[derive(Serialize, ToSchema)]
pub struct DrsError {
    pub msg: String,
    pub status_code: u16,
}

/// The metadata service's (FastAPI's) error body.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // only in the document: ApiError renders the body
pub struct MdsError {
    /// What is wrong.
    pub detail: String,
}

/// arborist's error body (the policy API under `/authz` renders its errors through it).
#[derive(Serialize, ToSchema)]
pub struct ArboristError {
    pub error: ArboristErrorInner,
    /// Beside a 409 of a resource create only: the resource that exists already.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub exists: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct ArboristErrorInner {
    /// What is wrong.
    pub message: String,
    /// The HTTP status again.
    pub code: u16,
}

/// An indexd record ("document"), as `weft_store::IndexRecord` serializes.
#[derive(Serialize, ToSchema)]
pub struct IndexRecord {
    pub did: String,
    pub baseid: String,
    pub rev: String,
    pub form: Option<String>,
    pub size: Option<i64>,
    pub file_name: Option<String>,
    pub version: Option<String>,
    pub uploader: Option<String>,
    pub description: Option<String>,
    pub urls: Vec<String>,
    /// Per URL, a JSON object of metadata.
    #[schema(value_type = BTreeMap<String, Object>)]
    pub urls_metadata: BTreeMap<String, Value>,
    pub acl: Vec<String>,
    pub authz: Vec<String>,
    /// Hash type to hex digest.
    pub hashes: BTreeMap<String, String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub created_date: String,
    pub updated_date: String,
    pub content_created_date: Option<String>,
    pub content_updated_date: Option<String>,
}

/// The error answers of an indexd read.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum IndexdReadErrors {
    #[response(status = 400, description = "Malformed query or id")]
    BadRequest(IndexdError),
    #[response(status = 404, description = "No such record")]
    NotFound(IndexdError),
}

/// The error answers of an indexd write (basic auth of an index user, or a bearer token
/// whose policy allows the write).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum IndexdWriteErrors {
    #[response(status = 400, description = "Malformed body or query")]
    BadRequest(IndexdError),
    #[response(status = 401, description = "No or unusable credentials")]
    Unauthorized(IndexdError),
    #[response(status = 403, description = "Credentials without this permission")]
    Forbidden(IndexdError),
    #[response(status = 404, description = "No such record")]
    NotFound(IndexdError),
    #[response(status = 409, description = "Conflict (revision mismatch, id taken)")]
    Conflict(IndexdError),
    #[response(status = 413, description = "Body over max_body_bytes")]
    TooLarge(IndexdError),
}

/// Adds the security schemes every router refers to: `bearer` (a fence access token, a JWT)
/// and `basic` (an index user of `weft index-user`).
pub struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}
