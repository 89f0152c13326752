//! The metadata service (Gen3 MDS API) under `/mds/`, and again under `/mds-admin/`, where
//! the gen3 SDK sends writes. Both check the caller's own credentials: weft has no gateway
//! that swaps a bearer token for an admin password.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use serde::ser::SerializeMap as _;
use serde_json::json;
use weft_core::WeftError;
use weft_mds::{QueryResult, bool_param};
use weft_store::{AliasMode, RawJson, Written};

use crate::error::ApiError;
use crate::extract::{Body, Creds, Query};
use crate::schemas::MdsError;
use std::sync::Arc;

use crate::json_text;
use crate::routes::Routes;

type Res = Result<Response, ApiError>;

/// MDS's part of the OpenAPI document, with paths relative to a prefix: the document nests
/// it under each of [`PREFIXES`].
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        query,
        batch_create,
        read,
        create,
        update,
        delete,
        aliases_get,
        aliases_post,
        aliases_put,
        aliases_delete,
        alias_delete,
        index_list,
        index_create,
        index_drop,
        object_upload,
        objects_upload,
        object_get,
        object_version,
        object_delete,
        object_latest,
        object_download,
    ),
    components(schemas(MdsError))
)]
pub(crate) struct Api;

/// MDS's own health and version, under the prefixes but not at the root.
#[derive(utoipa::OpenApi)]
#[openapi(paths(status, version))]
pub(crate) struct InfoApi;

/// The error answers of an MDS request (`{"detail": ...}`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum MdsErrors {
    #[response(status = 400, description = "Malformed request")]
    BadRequest(MdsError),
    #[response(status = 401, description = "No or unusable credentials")]
    Unauthorized(MdsError),
    #[response(status = 403, description = "Not permitted")]
    Forbidden(MdsError),
    #[response(status = 404, description = "No such record")]
    NotFound(MdsError),
    #[response(status = 409, description = "Exists already")]
    Conflict(MdsError),
    #[response(status = 413, description = "Body over max_body_bytes")]
    TooLarge(MdsError),
    #[response(status = 422, description = "Invalid body or parameter")]
    Unprocessable(MdsError),
}

/// `{"guid", "aliases"}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct GuidAliases<'a> {
    guid: &'a str,
    aliases: &'a [String],
}

/// `{"url": ...}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Url {
    url: String,
}

/// MDS's `/_status`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct Status {
    status: &'static str,
    timestamp: String,
    aggregate_metadata_enabled: bool,
}

/// Where MDS is mounted: reads and writes under both, as the SDK uses them; and at the
/// root, where the SDK looks when its endpoint is `http://localhost...` (a bare MDS).
pub const PREFIXES: [&str; 3] = ["/mds", "/mds-admin", ""];

/// What the metadata service's handlers reach.
pub struct MdsState {
    pub mds: Arc<weft_mds::MetadataService>,
    /// The objects API (index record and metadata together).
    pub objects: Arc<weft_mds::objects::Objects>,
    /// Whether this instance serves the hub's aggregate API (MDS's `_status` says so).
    pub aggregate: bool,
    pub build: crate::Build,
}

type Shared = Arc<MdsState>;

/// The metadata service's routes, under each of [`PREFIXES`].
pub(crate) fn routes() -> Routes<Shared> {
    let mut r = Routes::new();
    for p in PREFIXES {
        r = r
            .route(&format!("{p}/metadata"), get(query).post(batch_create))
            .route(&format!("{p}/metadata/"), get(query).post(batch_create))
            .route(
                &format!("{p}/metadata/{{*rest}}"),
                get(read).post(create).put(update).delete(delete),
            )
            .route(&format!("{p}/metadata_index"), get(index_list))
            .route(&format!("{p}/metadata_index/"), get(index_list))
            .route(
                &format!("{p}/metadata_index/{{*path}}"),
                axum::routing::post(index_create).delete(index_drop),
            );
        r = r
            .route(&format!("{p}/objects"), axum::routing::post(object_upload))
            .route(
                &format!("{p}/objects/upload"),
                axum::routing::post(object_upload),
            )
            .route(
                &format!("{p}/objects/{{*rest}}"),
                get(object_get).post(object_version).delete(object_delete),
            );
        if !p.is_empty() {
            // weft's own `/_status` stays at the root.
            r = r
                .route(&format!("{p}/_status"), get(status))
                .route(&format!("{p}/version"), get(version));
        }
    }
    r
}

fn mds(e: WeftError) -> ApiError {
    ApiError::mds(e)
}

/// An extractor's rejection (unreadable body or query, body over the limit) in MDS's shape.
fn restyle(e: ApiError) -> ApiError {
    ApiError::mds(e.error)
}

/// A stored JSON document as the response body.
fn raw_json(status: StatusCode, raw: RawJson) -> Response {
    let text: Box<str> = raw.into();
    json_text(status, String::from(text))
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Res {
    let body = serde_json::to_string(value).map_err(|e| mds(WeftError::internal(e)))?;
    Ok((status, [(CONTENT_TYPE, "application/json")], body).into_response())
}

/// `{"guid", "aliases"}`, as MDS answers every aliases route.
fn aliases_response(status: StatusCode, guid: &str, aliases: &[String]) -> Res {
    json_response(status, &GuidAliases { guid, aliases })
}

/// `{guid: data, ...}` in GUID order, written without re-parsing the stored documents.
struct DataMap<'a>(&'a [(String, RawJson)]);

impl Serialize for DataMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (guid, data) in self.0 {
            map.serialize_entry(guid, data)?;
        }
        map.end()
    }
}

/// What a path under `/metadata/` addresses. Like MDS's path converters, the GUID takes as
/// much as it can: `a/aliases/b/aliases/c` is alias `c` of GUID `a/aliases/b`.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    Record(&'a str),
    Aliases(&'a str),
    Alias(&'a str, &'a str),
}

fn target(rest: &str) -> Target<'_> {
    if let Some(guid) = rest.strip_suffix("/aliases") {
        return Target::Aliases(guid);
    }
    if let Some((guid, alias)) = rest.rsplit_once("/aliases/") {
        return Target::Alias(guid, alias);
    }
    Target::Record(rest)
}

#[utoipa::path(get, path = "/metadata", tag = "mds",
    summary = "Query metadata by nested fields (a.b=v, * = present; data, limit, offset)",
    params(("data" = Option<bool>, Query, description = "true: {guid: data} instead of GUIDs"),
        ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)), security((), ("bearer" = [])),
    responses((status = 200, description = "GUIDs, or {guid: data}", body = serde_json::Value), MdsErrors))]
async fn query(State(s): State<Shared>, Creds(c): Creds, q: Result<Query, ApiError>) -> Res {
    let Query(q) = q.map_err(restyle)?;
    match s.mds.query(&c, &q.0).await.map_err(mds)? {
        QueryResult::Guids(guids) => json_response(StatusCode::OK, &guids),
        QueryResult::Data(rows) => json_response(StatusCode::OK, &DataMap(&rows)),
    }
}

#[utoipa::path(post, path = "/metadata", tag = "mds",
    summary = "Create many records in one transaction ([{guid, data}])",
    params(("overwrite" = Option<bool>, Query)), request_body = Vec<serde_json::Value>, security(("bearer" = [])),
    responses((status = 201, description = "{created, updated, conflict, bad_input}", body = serde_json::Value), MdsErrors))]
async fn batch_create(
    State(s): State<Shared>,
    Creds(c): Creds,
    q: Result<Query, ApiError>,
    body: Result<Body, ApiError>,
) -> Res {
    let Query(q) = q.map_err(restyle)?;
    let Body(body) = body.map_err(restyle)?;
    let overwrite = bool_param(&q.0, "overwrite", true).map_err(mds)?;
    let report = s
        .mds
        .batch_create(&c, &body, overwrite)
        .await
        .map_err(mds)?;
    json_response(
        StatusCode::CREATED,
        &json!({
            "created": report.outcome.created,
            "updated": report.outcome.updated,
            "conflict": report.outcome.conflict,
            "bad_input": report.bad_input,
        }),
    )
}

#[utoipa::path(get, path = "/metadata/{guid}", tag = "mds",
    summary = "A record's metadata, by GUID or alias", params(("guid" = String, Path, description = "A GUID (may contain /) or an alias")), security((), ("bearer" = [])),
    responses((status = 200, description = "The record's data", body = serde_json::Value), MdsErrors))]
async fn read(State(s): State<Shared>, Creds(c): Creds, Path(rest): Path<String>) -> Res {
    match target(&rest) {
        Target::Record(guid) => Ok(json_text(
            StatusCode::OK,
            s.mds.get(&c, guid).await.map_err(mds)?,
        )),
        Target::Aliases(guid) => {
            let aliases = s.mds.aliases(&c, guid).await.map_err(mds)?;
            aliases_response(StatusCode::OK, guid, &aliases)
        }
        Target::Alias(..) => Err(mds(WeftError::not_found("Not Found"))),
    }
}

#[utoipa::path(post, path = "/metadata/{guid}", tag = "mds",
    summary = "Create a record (201), or with ?overwrite=true replace its data (200)",
    params(("guid" = String, Path, description = "A GUID (may contain /) or an alias"), ("overwrite" = Option<bool>, Query)), request_body = serde_json::Value, security(("bearer" = [])),
    responses((status = 201, description = "Created: its data", body = serde_json::Value),
        (status = 200, description = "Overwritten: its data", body = serde_json::Value), MdsErrors))]
async fn create(
    State(s): State<Shared>,
    Creds(c): Creds,
    q: Result<Query, ApiError>,
    Path(rest): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    let Query(q) = q.map_err(restyle)?;
    let Body(body) = body.map_err(restyle)?;
    match target(&rest) {
        Target::Record(guid) => {
            let overwrite = bool_param(&q.0, "overwrite", false).map_err(mds)?;
            let (written, data) = s
                .mds
                .create(&c, guid, &body, overwrite)
                .await
                .map_err(mds)?;
            let status = match written {
                Written::Created => StatusCode::CREATED,
                Written::Updated => StatusCode::OK,
            };
            Ok(raw_json(status, data))
        }
        Target::Aliases(guid) => {
            let aliases = s
                .mds
                .set_aliases(&c, guid, &body, AliasMode::Create)
                .await
                .map_err(mds)?;
            aliases_response(StatusCode::CREATED, guid, &aliases)
        }
        Target::Alias(..) => Err(mds(WeftError::not_found("Not Found"))),
    }
}

#[utoipa::path(put, path = "/metadata/{guid}", tag = "mds",
    summary = "Replace a record's data, or with ?merge=true merge its top-level keys",
    params(("guid" = String, Path, description = "A GUID (may contain /) or an alias"), ("merge" = Option<bool>, Query)), request_body = serde_json::Value, security(("bearer" = [])),
    responses((status = 200, description = "Its data now", body = serde_json::Value), MdsErrors))]
async fn update(
    State(s): State<Shared>,
    Creds(c): Creds,
    q: Result<Query, ApiError>,
    Path(rest): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    let Query(q) = q.map_err(restyle)?;
    let Body(body) = body.map_err(restyle)?;
    let merge = bool_param(&q.0, "merge", false).map_err(mds)?;
    match target(&rest) {
        Target::Record(guid) => Ok(raw_json(
            StatusCode::OK,
            s.mds.update(&c, guid, &body, merge).await.map_err(mds)?,
        )),
        Target::Aliases(guid) => {
            let mode = if merge {
                AliasMode::Merge
            } else {
                AliasMode::Replace
            };
            let aliases = s
                .mds
                .set_aliases(&c, guid, &body, mode)
                .await
                .map_err(mds)?;
            aliases_response(StatusCode::CREATED, guid, &aliases)
        }
        Target::Alias(..) => Err(mds(WeftError::not_found("Not Found"))),
    }
}

#[utoipa::path(delete, path = "/metadata/{guid}", tag = "mds",
    summary = "Delete a record and its aliases; returns its data", params(("guid" = String, Path, description = "A GUID (may contain /) or an alias")), security(("bearer" = [])),
    responses((status = 200, description = "The deleted data", body = serde_json::Value), MdsErrors))]
async fn delete(State(s): State<Shared>, Creds(c): Creds, Path(rest): Path<String>) -> Res {
    match target(&rest) {
        Target::Record(guid) => Ok(raw_json(
            StatusCode::OK,
            s.mds.delete(&c, guid).await.map_err(mds)?,
        )),
        Target::Aliases(guid) => {
            s.mds.delete_aliases(&c, guid).await.map_err(mds)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Target::Alias(guid, alias) => {
            s.mds.delete_alias(&c, guid, alias).await.map_err(mds)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}

/// What a path under `/objects/` addresses.
#[derive(Debug, PartialEq, Eq)]
enum ObjectTarget<'a> {
    Object(&'a str),
    Latest(&'a str),
    Download(&'a str),
}

fn object_target(rest: &str) -> ObjectTarget<'_> {
    if let Some(guid) = rest.strip_suffix("/latest") {
        return ObjectTarget::Latest(guid);
    }
    if let Some(guid) = rest.strip_suffix("/download") {
        return ObjectTarget::Download(guid);
    }
    ObjectTarget::Object(rest)
}

#[utoipa::path(post, path = "/objects", tag = "mds",
    summary = "Same as /objects/upload (the path the gen3 SDK's Gen3Object uses)",
    request_body = serde_json::Value, security(("bearer" = [])),
    responses((status = 201, description = "{guid, upload_url, aliases, metadata}", body = serde_json::Value), MdsErrors))]
async fn object_upload(
    State(s): State<Shared>,
    Creds(c): Creds,
    body: Result<Body, ApiError>,
) -> Res {
    let Body(body) = body.map_err(restyle)?;
    let out = s.objects.upload(&c, &body).await.map_err(mds)?;
    json_response(StatusCode::CREATED, &out)
}

#[utoipa::path(post, path = "/objects/upload", tag = "mds",
    summary = "A blank index record with an upload URL, its aliases and metadata",
    request_body = serde_json::Value, security(("bearer" = [])),
    responses((status = 201, description = "{guid, upload_url, aliases, metadata}", body = serde_json::Value), MdsErrors))]
#[allow(dead_code)]
fn objects_upload() {}

#[utoipa::path(post, path = "/objects/{guid}", tag = "mds",
    summary = "A new blank version of an object with an upload URL", params(("guid" = String, Path, description = "A GUID (may contain /) or an alias")),
    request_body = serde_json::Value, security(("bearer" = [])),
    responses((status = 201, description = "{guid, upload_url, ...}", body = serde_json::Value), MdsErrors))]
async fn object_version(
    State(s): State<Shared>,
    Creds(c): Creds,
    Path(rest): Path<String>,
    body: Result<Body, ApiError>,
) -> Res {
    let Body(body) = body.map_err(restyle)?;
    let ObjectTarget::Object(id) = object_target(&rest) else {
        return Err(mds(WeftError::not_found("Not Found")));
    };
    let out = s.objects.new_version(&c, id, &body).await.map_err(mds)?;
    json_response(StatusCode::CREATED, &out)
}

#[utoipa::path(get, path = "/objects/{guid}", tag = "mds",
    summary = "{record, metadata}: the index record and the metadata of a GUID or alias",
    params(("guid" = String, Path, description = "A GUID (may contain /) or an alias")), security((), ("bearer" = [])),
    responses((status = 200, description = "{record, metadata}", body = serde_json::Value), MdsErrors))]
async fn object_get(State(s): State<Shared>, Creds(c): Creds, Path(rest): Path<String>) -> Res {
    match object_target(&rest) {
        ObjectTarget::Object(id) => json_response(
            StatusCode::OK,
            &s.objects.get(&c, id, false).await.map_err(mds)?,
        ),
        ObjectTarget::Latest(id) => json_response(
            StatusCode::OK,
            &s.objects.get(&c, id, true).await.map_err(mds)?,
        ),
        ObjectTarget::Download(id) => {
            let url = s.objects.download(&c, id).await.map_err(mds)?;
            json_response(StatusCode::OK, &Url { url })
        }
    }
}

// `latest` and `download` are branches of `object_get`.
#[utoipa::path(get, path = "/objects/{guid}/latest", tag = "mds",
    summary = "{record, metadata} of the latest version", params(("guid" = String, Path, description = "A GUID (may contain /) or an alias")), security((), ("bearer" = [])),
    responses((status = 200, description = "{record, metadata}", body = serde_json::Value), MdsErrors))]
#[allow(dead_code)]
fn object_latest() {}

#[utoipa::path(get, path = "/objects/{guid}/download", tag = "mds",
    summary = "A signed download URL (fence's /data/download)", params(("guid" = String, Path, description = "A GUID (may contain /) or an alias")), security((), ("bearer" = [])),
    responses((status = 200, description = "The URL", body = Url), MdsErrors))]
#[allow(dead_code)]
fn object_download() {}

#[utoipa::path(delete, path = "/objects/{guid}", tag = "mds",
    summary = "Delete the index record (?delete_file_locations: and its files) and the metadata",
    params(("guid" = String, Path, description = "A GUID (may contain /) or an alias"), ("delete_file_locations" = Option<String>, Query, description = "Present, without a value")), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), MdsErrors))]
async fn object_delete(
    State(s): State<Shared>,
    Creds(c): Creds,
    q: Result<Query, ApiError>,
    Path(rest): Path<String>,
) -> Res {
    let Query(q) = q.map_err(restyle)?;
    let ObjectTarget::Object(id) = object_target(&rest) else {
        return Err(mds(WeftError::not_found("Not Found")));
    };
    // The flag takes no value, as in MDS.
    let delete_files = match q.0.iter().find(|(k, _)| k == "delete_file_locations") {
        None => false,
        Some((_, v)) if v.is_empty() => true,
        Some(_) => {
            return Err(mds(WeftError::invalid(
                "delete_file_locations takes no value",
            )));
        }
    };
    s.objects.delete(&c, id, delete_files).await.map_err(mds)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// The aliases routes are branches of `read`, `create`, `update` and `delete` (a GUID may
// contain `/`, so one wildcard route serves them).
#[utoipa::path(get, path = "/metadata/{guid}/aliases", tag = "mds",
    summary = "A record's aliases, sorted", params(("guid" = String, Path, description = "A GUID (may contain /) or an alias")), security((), ("bearer" = [])),
    responses((status = 200, description = "Its aliases", body = GuidAliases<'_>), MdsErrors))]
#[allow(dead_code)]
fn aliases_get() {}

/// `{"aliases": [...]}` (MDS's shape; indexd's `AliasesBody` holds `{value}` objects, so
/// the document names this one apart).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[schema(as = MdsAliasesBody)]
#[allow(dead_code)]
pub(crate) struct AliasesBody {
    aliases: Vec<String>,
}

#[utoipa::path(post, path = "/metadata/{guid}/aliases", tag = "mds",
    summary = "Give a record its first aliases", params(("guid" = String, Path, description = "A GUID (may contain /) or an alias")), request_body = AliasesBody, security(("bearer" = [])),
    responses((status = 201, description = "Its aliases", body = GuidAliases<'_>), MdsErrors))]
#[allow(dead_code)]
fn aliases_post() {}

#[utoipa::path(put, path = "/metadata/{guid}/aliases", tag = "mds",
    summary = "Replace a record's aliases, or with ?merge=true add to them",
    params(("guid" = String, Path, description = "A GUID (may contain /) or an alias"), ("merge" = Option<bool>, Query)), request_body = AliasesBody, security(("bearer" = [])),
    responses((status = 201, description = "Its aliases", body = GuidAliases<'_>), MdsErrors))]
#[allow(dead_code)]
fn aliases_put() {}

#[utoipa::path(delete, path = "/metadata/{guid}/aliases", tag = "mds",
    summary = "Remove every alias of a record", params(("guid" = String, Path, description = "A GUID (may contain /) or an alias")), security(("bearer" = [])),
    responses((status = 204, description = "Removed"), MdsErrors))]
#[allow(dead_code)]
fn aliases_delete() {}

#[utoipa::path(delete, path = "/metadata/{guid}/aliases/{alias}", tag = "mds",
    summary = "Remove one alias", params(("guid" = String, Path, description = "A GUID (may contain /) or an alias"), ("alias" = String, Path)), security(("bearer" = [])),
    responses((status = 204, description = "Removed"), MdsErrors))]
#[allow(dead_code)]
fn alias_delete() {}

#[utoipa::path(get, path = "/metadata_index", tag = "mds",
    summary = "Indexed key paths", security((), ("bearer" = [])),
    responses((status = 200, description = "Key paths", body = Vec<String>), MdsErrors))]
async fn index_list(State(s): State<Shared>, Creds(c): Creds) -> Res {
    let paths = s.mds.index_paths(&c).await.map_err(mds)?;
    json_response(StatusCode::OK, &paths)
}

#[utoipa::path(post, path = "/metadata_index/{path}", tag = "mds",
    summary = "Index a key path so equality filters on it do not scan", params(("path" = String, Path, description = "A key path: a.b")), security(("bearer" = [])),
    responses((status = 201, description = "The key path", body = String, content_type = "application/json"), MdsErrors))]
async fn index_create(State(s): State<Shared>, Creds(c): Creds, Path(path): Path<String>) -> Res {
    let path = s.mds.create_index(&c, &path).await.map_err(mds)?;
    json_response(StatusCode::CREATED, &path)
}

#[utoipa::path(delete, path = "/metadata_index/{path}", tag = "mds",
    summary = "Drop a key-path index", params(("path" = String, Path, description = "A key path: a.b")), security(("bearer" = [])),
    responses((status = 204, description = "Dropped"), MdsErrors))]
async fn index_drop(State(s): State<Shared>, Creds(c): Creds, Path(path): Path<String>) -> Res {
    s.mds.drop_index(&c, &path).await.map_err(mds)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[utoipa::path(get, path = "/_status", tag = "mds", summary = "Metadata service health",
    responses((status = 200, description = "Healthy", body = Status)))]
async fn status(State(s): State<Shared>) -> Res {
    json_response(
        StatusCode::OK,
        &Status {
            status: "OK",
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            aggregate_metadata_enabled: s.aggregate,
        },
    )
}

#[utoipa::path(get, path = "/version", tag = "mds",
    summary = "Metadata service version (a JSON string)",
    responses((status = 200, description = "The version", body = String, content_type = "application/json")))]
async fn version(State(s): State<Shared>) -> Res {
    json_response(StatusCode::OK, &s.build.version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_take_as_much_of_the_path_as_they_can() {
        assert_eq!(target("dg.1/abc"), Target::Record("dg.1/abc"));
        assert_eq!(target("dg.1/abc/aliases"), Target::Aliases("dg.1/abc"));
        assert_eq!(target("g/aliases/x"), Target::Alias("g", "x"));
        assert_eq!(
            target("a/aliases/b/aliases/c"),
            Target::Alias("a/aliases/b", "c")
        );
        assert_eq!(target("g/aliases/dg.2/y"), Target::Alias("g", "dg.2/y"));
    }
}
