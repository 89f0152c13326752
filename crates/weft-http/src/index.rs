//! The indexd API under `/index/` (indexd's own paths with the commons prefix).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;
use weft_core::WeftError;
use weft_indexd::bundle::Entry;
use weft_indexd::service::Depth;

use serde::Serialize;
use utoipa::{IntoParams, OpenApi, ToSchema};
use weft_indexd::input::{
    AliasesBody, BlankBody, BlankUpdateBody, CreateBody, UpdateBody, VersionsBody,
};
use weft_indexd::service::Ids;

use std::sync::Arc;

use crate::error::ApiError;
use crate::extract::{Body, Creds, Query};
use crate::routes::Routes;
use crate::schemas::{IndexRecord, IndexdError, IndexdReadErrors, IndexdWriteErrors};
use weft_indexd::IndexService;
use weft_indexd::drs::DrsContext;

/// The indexd API's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        list,
        create,
        record_get,
        record_put,
        record_delete,
        record_post,
        versions_get,
        versions_put,
        latest_get,
        aliases_get,
        aliases_post,
        aliases_put,
        aliases_delete,
        alias_delete,
        blank_post,
        blank_version_post,
        blank_put,
        bundle_list,
        bundle_create,
        bundle_get,
        bundle_delete,
        bulk,
        urls,
        query_urls,
        query_urls_metadata,
        mint,
        prefix,
        dist,
        status,
        version,
        stats,
        global_get,
    ),
    components(schemas(IndexRecord, IndexdError, Ids))
)]
pub(crate) struct Api;

type Res = Result<Response, ApiError>;

/// What the indexd API's handlers reach.
pub struct IndexState {
    pub index: Arc<IndexService>,
    /// Renders bundles as indexd documents.
    pub drs: DrsContext,
    /// The DIST list (`/index/_dist`).
    pub dist: Vec<weft_config::DistEntry>,
    pub build: crate::Build,
}

type Shared = Arc<IndexState>;

/// The indexd API's routes.
pub(crate) fn routes() -> Routes<Shared> {
    Routes::new()
        .route("/index/index", get(list).post(create))
        .route("/index/index/", get(list).post(create))
        .route(
            "/index/index/{*rest}",
            get(record_get)
                .put(record_put)
                .delete(record_delete)
                .post(record_post),
        )
        .route("/index/bundle", get(bundle_list).post(bundle_create))
        .route("/index/bundle/", get(bundle_list).post(bundle_create))
        .route("/index/bundle/{*id}", get(bundle_get).delete(bundle_delete))
        .route("/index/bulk/documents", axum::routing::post(bulk))
        .route("/index/bulk/documents/", axum::routing::post(bulk))
        .route("/index/urls", get(urls))
        .route("/index/urls/", get(urls))
        .route("/index/_query/urls/q", get(query_urls))
        .route("/index/_query/urls/metadata/q", get(query_urls_metadata))
        .route("/index/guid/mint", get(mint))
        .route("/index/guid/prefix", get(prefix))
        .route("/index/_dist", get(dist))
        .route("/index/_status", get(status))
        .route("/index/_version", get(version))
        .route("/index/_stats", get(stats))
        // indexd serves every route with or without a trailing slash; without these the
        // global resolver below would take `/index/guid/mint/` for a record id.
        .route("/index/_query/urls/q/", get(query_urls))
        .route("/index/_query/urls/metadata/q/", get(query_urls_metadata))
        .route("/index/guid/mint/", get(mint))
        .route("/index/guid/prefix/", get(prefix))
        .route("/index/_dist/", get(dist))
        .route("/index/_status/", get(status))
        .route("/index/_version/", get(version))
        .route("/index/_stats/", get(stats))
        .route("/index/{*id}", get(global_get))
}

/// What a path under `/index/index/` addresses.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    Record(&'a str),
    Versions(&'a str),
    Latest(&'a str),
    Aliases(&'a str),
    Alias(&'a str, &'a str),
    Blank(Option<&'a str>),
}

fn target(rest: &str) -> Target<'_> {
    let rest = rest.trim_end_matches('/');
    if rest == "blank" {
        return Target::Blank(None);
    }
    if let Some(did) = rest.strip_prefix("blank/") {
        return Target::Blank(Some(did));
    }
    if let Some(did) = rest.strip_suffix("/versions") {
        return Target::Versions(did);
    }
    if let Some(did) = rest.strip_suffix("/latest") {
        return Target::Latest(did);
    }
    if let Some(did) = rest.strip_suffix("/aliases") {
        return Target::Aliases(did);
    }
    if let Some((did, alias)) = rest.rsplit_once("/aliases/") {
        return Target::Alias(did, alias);
    }
    Target::Record(rest)
}

fn json_ok<T: serde::Serialize>(status: StatusCode, v: &T) -> Response {
    (status, Json(v)).into_response()
}

fn ok<T: serde::Serialize>(v: &T) -> Response {
    json_ok(StatusCode::OK, v)
}

fn wrong_method() -> ApiError {
    WeftError::new(
        weft_core::ErrorCode::InvalidInput,
        "method not allowed on this path",
    )
    .into()
}

#[utoipa::path(get, path = "/index/index/", tag = "index",
    summary = "List and query records", params(ListQuery),
    responses((status = 200, description = "Matching records", body = Listing), IndexdReadErrors))]
async fn list(State(s): State<Shared>, Query(q): Query) -> Res {
    Ok(crate::json_text(
        StatusCode::OK,
        s.index.list(&q).await?.to_json(),
    ))
}

#[utoipa::path(post, path = "/index/index/", tag = "index",
    summary = "Create a record", request_body = CreateBody, security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "Created", body = Ids), IndexdWriteErrors))]
async fn create(State(s): State<Shared>, Creds(c): Creds, Body(b): Body) -> Res {
    Ok(ok(&s.index.create(&c, &b).await?))
}

/// `{"aliases": [{"value": ...}]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Aliases {
    aliases: Vec<Alias>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Alias {
    value: String,
}

fn aliases_json(names: Vec<String>) -> Aliases {
    Aliases {
        aliases: names.into_iter().map(|value| Alias { value }).collect(),
    }
}

/// A did or baseid (it may contain `/`: `dg.1234/uuid`).
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct DidPath {
    /// A did, a baseid, or the did with or without the configured prefix.
    did: String,
}

/// `?rev=`: the revision the write applies to.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct RevQuery {
    /// The record's current `rev`.
    rev: Option<String>,
}

/// The filters and paging of `GET /index/index/`.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct ListQuery {
    /// `type:value` (repeatable).
    hash: Option<Vec<String>>,
    size: Option<i64>,
    /// Comma-separated URLs, all of which a record must have.
    urls: Option<String>,
    /// Comma-separated acl entries.
    acl: Option<String>,
    /// Comma-separated authz resources.
    authz: Option<String>,
    file_name: Option<String>,
    version: Option<String>,
    uploader: Option<String>,
    /// Comma-separated dids (no paging then).
    ids: Option<String>,
    /// `key:value` (repeatable).
    metadata: Option<Vec<String>>,
    /// `key:value` (repeatable).
    urls_metadata: Option<Vec<String>>,
    /// `object`, `bundle` or `all`.
    form: Option<String>,
    /// `true`: only records with a version.
    negate_params: Option<String>,
    limit: Option<i64>,
    /// A did: records after it.
    start: Option<String>,
    page: Option<i64>,
}

/// A listing: the query echoed back, and `records` (indexd documents or bundles).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct Listing {
    records: Vec<serde_json::Value>,
    /// The query's own parameters, echoed (`ids`, `hashes`, `size`, `limit`, `start`, ...).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    echo: serde_json::Map<String, Value>,
}

/// A record by baseid or the other prefix spelling, or a bundle (after no exact did matched).
async fn record_or_bundle(s: &Shared, id: &str) -> Res {
    match s.index.resolve_entry(id, Depth::Full).await? {
        Some(Entry::Record(r)) => Ok(ok(&r)),
        Some(Entry::Bundle(b)) => Ok(ok(&s.drs.bundle_index_document(&b))),
        None => Err(WeftError::not_found("no record found").into()),
    }
}

#[utoipa::path(get, path = "/index/index/{did}", tag = "index",
    summary = "A record by did or baseid (non-strict prefix), or a bundle by id", params(DidPath),
    responses((status = 200, description = "The record (or bundle)", body = IndexRecord), IndexdReadErrors))]
async fn record_get(State(s): State<Shared>, Path(rest): Path<String>, Query(q): Query) -> Res {
    match target(&rest) {
        Target::Record(id) => {
            // the hot path: an exact did, served from the stored row as it is
            weft_indexd::limits::no_nul("id", id)?;
            if let Some(json) = s
                .index
                .store()
                .get_json(id)
                .await
                .map_err(WeftError::from)?
            {
                return Ok(crate::json_text(StatusCode::OK, json));
            }
            record_or_bundle(&s, id).await
        }
        Target::Versions(id) => {
            let versions = s.index.versions(id).await?;
            let keyed: serde_json::Map<String, Value> = versions
                .into_iter()
                .enumerate()
                .map(|(i, r)| Ok((i.to_string(), serde_json::to_value(r)?)))
                .collect::<Result<_, serde_json::Error>>()
                .map_err(WeftError::internal)?;
            Ok(ok(&keyed))
        }
        Target::Latest(id) => {
            let has_version = q
                .get("has_version")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            Ok(ok(&s.index.latest(id, has_version).await?))
        }
        Target::Aliases(did) => Ok(ok(&aliases_json(s.index.aliases(did).await?))),
        Target::Alias(..) | Target::Blank(_) => Err(WeftError::not_found("no record found").into()),
    }
}

#[utoipa::path(put, path = "/index/index/{did}", tag = "index",
    summary = "Update a record; ?rev= required, 409 on mismatch", params(DidPath, RevQuery),
    request_body = UpdateBody, security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "Updated", body = Ids), IndexdWriteErrors))]
async fn record_put(
    State(s): State<Shared>,
    Path(rest): Path<String>,
    Query(q): Query,
    Creds(c): Creds,
    Body(b): Body,
) -> Res {
    let rev = q.get("rev");
    match target(&rest) {
        Target::Record(did) => Ok(ok(&s.index.update(&c, did, rev, &b).await?)),
        Target::Versions(did) => Ok(ok(&s.index.update_versions(&c, did, &b).await?)),
        Target::Aliases(did) => Ok(ok(&aliases_json(
            s.index.put_aliases(&c, did, &b, true).await?,
        ))),
        Target::Blank(Some(did)) => Ok(ok(&s.index.blank_update(&c, did, rev, &b).await?)),
        _ => Err(wrong_method()),
    }
}

#[utoipa::path(delete, path = "/index/index/{did}", tag = "index",
    summary = "Delete a record; ?rev= required", params(DidPath, RevQuery), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "Deleted (empty body)"), IndexdWriteErrors))]
async fn record_delete(
    State(s): State<Shared>,
    Path(rest): Path<String>,
    Query(q): Query,
    Creds(c): Creds,
) -> Res {
    match target(&rest) {
        Target::Record(did) => {
            s.index.delete(&c, did, q.get("rev")).await?;
            Ok(StatusCode::OK.into_response())
        }
        Target::Aliases(did) => {
            s.index.delete_aliases(&c, did, None).await?;
            Ok(ok(&"Aliases deleted successfully"))
        }
        Target::Alias(did, alias) => {
            s.index
                .delete_aliases(&c, did, Some(alias.to_owned()))
                .await?;
            Ok(ok(&"Aliases deleted successfully"))
        }
        _ => Err(wrong_method()),
    }
}

#[utoipa::path(post, path = "/index/index/{did}", tag = "index",
    summary = "Add a new version sharing the record's baseid", params(DidPath),
    request_body = CreateBody, security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "The new version", body = Ids), IndexdWriteErrors))]
async fn record_post(
    State(s): State<Shared>,
    Path(rest): Path<String>,
    Creds(c): Creds,
    Body(b): Body,
) -> Res {
    match target(&rest) {
        Target::Blank(None) => Ok(json_ok(
            StatusCode::CREATED,
            &s.index.blank_create(&c, &b).await?,
        )),
        Target::Blank(Some(did)) => Ok(json_ok(
            StatusCode::CREATED,
            &s.index.blank_version(&c, did, &b).await?,
        )),
        Target::Aliases(did) => Ok(ok(&aliases_json(
            s.index.put_aliases(&c, did, &b, false).await?,
        ))),
        Target::Record(did) => Ok(ok(&s.index.add_version(&c, did, &b).await?)),
        _ => Err(wrong_method()),
    }
}

// The routes below are the branches of the wildcard dispatchers above (`record_get`,
// `record_put`, `record_delete`, `record_post`: a did may contain `/`, so one route serves
// them all); each is documented here, next to its dispatcher.

#[utoipa::path(get, path = "/index/index/{did}/versions", tag = "index",
    summary = "All versions, keyed \"0\", \"1\", ... oldest first", params(DidPath),
    responses((status = 200, description = "Versions by position", body = std::collections::BTreeMap<String, IndexRecord>), IndexdReadErrors))]
#[allow(dead_code)]
fn versions_get() {}

#[utoipa::path(put, path = "/index/index/{did}/versions", tag = "index",
    summary = "Set acl/authz of every version", params(DidPath), request_body = VersionsBody, security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "Every version's ids", body = Vec<Ids>), IndexdWriteErrors))]
#[allow(dead_code)]
fn versions_put() {}

/// `?has_version=true` skips versions without a `version`.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct LatestQuery {
    has_version: Option<bool>,
}

#[utoipa::path(get, path = "/index/index/{did}/latest", tag = "index",
    summary = "Newest version", params(DidPath, LatestQuery),
    responses((status = 200, description = "The newest version", body = IndexRecord), IndexdReadErrors))]
#[allow(dead_code)]
fn latest_get() {}

#[utoipa::path(get, path = "/index/index/{did}/aliases", tag = "index",
    summary = "Aliases of a record", params(DidPath),
    responses((status = 200, description = "Its aliases", body = Aliases), IndexdReadErrors))]
#[allow(dead_code)]
fn aliases_get() {}

#[utoipa::path(post, path = "/index/index/{did}/aliases", tag = "index",
    summary = "Add aliases", params(DidPath), request_body = AliasesBody, security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "Every alias now", body = Aliases), IndexdWriteErrors))]
#[allow(dead_code)]
fn aliases_post() {}

#[utoipa::path(put, path = "/index/index/{did}/aliases", tag = "index",
    summary = "Replace aliases", params(DidPath), request_body = AliasesBody, security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "Every alias now", body = Aliases), IndexdWriteErrors))]
#[allow(dead_code)]
fn aliases_put() {}

#[utoipa::path(delete, path = "/index/index/{did}/aliases", tag = "index",
    summary = "Delete all aliases", params(DidPath), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "Done", body = String, content_type = "application/json"), IndexdWriteErrors))]
#[allow(dead_code)]
fn aliases_delete() {}

/// An alias of a record.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct AliasPath {
    did: String,
    alias: String,
}

#[utoipa::path(delete, path = "/index/index/{did}/aliases/{alias}", tag = "index",
    summary = "Delete one alias", params(AliasPath), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "Done", body = String, content_type = "application/json"), IndexdWriteErrors))]
#[allow(dead_code)]
fn alias_delete() {}

#[utoipa::path(post, path = "/index/index/blank/", tag = "index",
    summary = "Create a blank record for an upload", request_body = BlankBody, security(("basic" = []), ("bearer" = [])),
    responses((status = 201, description = "Created", body = Ids), IndexdWriteErrors))]
#[allow(dead_code)]
fn blank_post() {}

#[utoipa::path(post, path = "/index/index/blank/{did}", tag = "index",
    summary = "Create a blank new version", params(DidPath), request_body = BlankBody, security(("basic" = []), ("bearer" = [])),
    responses((status = 201, description = "Created", body = Ids), IndexdWriteErrors))]
#[allow(dead_code)]
fn blank_version_post() {}

#[utoipa::path(put, path = "/index/index/blank/{did}", tag = "index",
    summary = "Fill size, hashes and urls of a blank record; ?rev=", params(DidPath, RevQuery),
    request_body = BlankUpdateBody, security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "Filled", body = Ids), IndexdWriteErrors))]
#[allow(dead_code)]
fn blank_put() {}

/// `GET /bundle/`:
/// `GET /bundle/`: `GET /index/` listing bundles unless `form` says otherwise.
#[utoipa::path(get, path = "/index/bundle/", tag = "index",
    summary = "List bundles (form=bundle by default; form=all adds records)", params(ListQuery),
    responses((status = 200, description = "Matching bundles", body = Listing), IndexdReadErrors))]
async fn bundle_list(State(s): State<Shared>, Query(mut q): Query) -> Res {
    if q.get("form").is_none_or(str::is_empty) {
        q.0.retain(|(k, _)| k != "form");
        q.0.push(("form".to_owned(), "bundle".to_owned()));
    }
    Ok(crate::json_text(
        StatusCode::OK,
        s.index.list(&q).await?.to_json(),
    ))
}

/// `POST /bundle/`: `{bundle_id, name, contents}`, `contents` being (as in indexd) the JSON
/// text of the members, fully expanded.
#[utoipa::path(post, path = "/index/bundle/", tag = "index",
    summary = "Create a bundle of records and bundles", request_body = BundleBody, security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "Created", body = BundleCreated), IndexdWriteErrors))]
async fn bundle_create(State(s): State<Shared>, Creds(c): Creds, Body(b): Body) -> Res {
    let bundle = s.index.create_bundle(&c, &b).await?;
    let contents = Value::Array(s.drs.bundle_contents(&bundle.contents, true)).to_string();
    Ok(ok(&BundleCreated {
        bundle_id: bundle.record.bundle_id,
        name: bundle.record.name,
        contents,
    }))
}

/// `POST /index/bundle/`'s answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct BundleCreated {
    bundle_id: String,
    name: String,
    /// The JSON text of the members, fully expanded (as indexd answers).
    contents: String,
}

/// `POST /index/bundle/`'s body.
#[derive(serde::Deserialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct BundleBody {
    /// The bundle id; minted when absent.
    bundle_id: Option<String>,
    name: Option<String>,
    /// Dids of records and ids of bundles.
    bundles: Vec<String>,
    size: Option<i64>,
    checksums: Option<Vec<serde_json::Value>>,
    description: Option<String>,
    version: Option<String>,
    aliases: Option<Vec<String>>,
}

#[utoipa::path(get, path = "/index/bundle/{id}", tag = "index",
    summary = "A bundle as indexd's DRS-style document (?expand=true shows nested contents)",
    params(("id" = String, Path, description = "Bundle id"), ("expand" = Option<bool>, Query, description = "Nested contents")),
    responses((status = 200, description = "The bundle", body = serde_json::Value), IndexdReadErrors))]
async fn bundle_get(State(s): State<Shared>, Path(id): Path<String>, Query(q): Query) -> Res {
    let expand = q.get("expand") == Some("true");
    let entry = s.index.bundle(id.trim_end_matches('/'), expand).await?;
    Ok(ok(&s.drs.bundle_document(&entry, expand)))
}

#[utoipa::path(delete, path = "/index/bundle/{id}", tag = "index",
    summary = "Delete a bundle", params(("id" = String, Path, description = "Bundle id")), security(("basic" = []), ("bearer" = [])),
    responses((status = 200, description = "Deleted (empty body)"), IndexdWriteErrors))]
async fn bundle_delete(State(s): State<Shared>, Path(id): Path<String>, Creds(c): Creds) -> Res {
    s.index.delete_bundle(&c, id.trim_end_matches('/')).await?;
    Ok(StatusCode::OK.into_response())
}

#[utoipa::path(post, path = "/index/bulk/documents", tag = "index",
    summary = "Records for a JSON list of dids", request_body = Vec<String>,
    responses((status = 200, description = "The records found", body = Vec<IndexRecord>), IndexdReadErrors))]
async fn bulk(State(s): State<Shared>, Body(b): Body) -> Res {
    Ok(ok(&s.index.bulk_documents(&b).await?))
}

#[utoipa::path(get, path = "/index/urls/", tag = "index",
    summary = "URLs of records matching size/hash/ids",
    params(("size" = Option<i64>, Query), ("hash" = Option<String>, Query, description = "type:value"),
        ("ids" = Option<String>, Query, description = "Comma-separated dids"),
        ("start" = Option<i64>, Query), ("limit" = Option<i64>, Query)),
    responses((status = 200, description = "`{urls: [{url, metadata}], limit, start, size, hashes}`", body = serde_json::Value), IndexdReadErrors))]
async fn urls(State(s): State<Shared>, Query(q): Query) -> Res {
    Ok(ok(&s.index.urls(&q).await?))
}

#[utoipa::path(get, path = "/index/_query/urls/q", tag = "index",
    summary = "Records whose URLs include/exclude a substring",
    params(("include" = Option<String>, Query), ("exclude" = Option<String>, Query),
        ("versioned" = Option<bool>, Query), ("fields" = Option<String>, Query, description = "Comma-separated: did, urls, rev"),
        ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, description = "`[{did, urls, rev?}]`", body = Vec<serde_json::Value>), IndexdReadErrors))]
async fn query_urls(State(s): State<Shared>, Query(q): Query) -> Res {
    Ok(ok(&s.index.query_urls(&q, false).await?))
}

#[utoipa::path(get, path = "/index/_query/urls/metadata/q", tag = "index",
    summary = "Records whose URL metadata has key=value",
    params(("key" = String, Query), ("value" = String, Query), ("url" = Option<String>, Query),
        ("versioned" = Option<bool>, Query), ("fields" = Option<String>, Query, description = "Comma-separated: did, urls, rev"),
        ("limit" = Option<i64>, Query), ("offset" = Option<i64>, Query)),
    responses((status = 200, description = "`[{did, urls, rev?}]`", body = Vec<serde_json::Value>), IndexdReadErrors))]
async fn query_urls_metadata(State(s): State<Shared>, Query(q): Query) -> Res {
    Ok(ok(&s.index.query_urls(&q, true).await?))
}

#[utoipa::path(get, path = "/index/guid/mint", tag = "index",
    summary = "Mint new GUIDs", params(("count" = Option<u32>, Query, description = "At most 10000; default 1")),
    responses((status = 200, description = "Minted GUIDs", body = Guids),
        (status = 400, description = "count out of range", body = IndexdError)))]
async fn mint(State(s): State<Shared>, Query(q): Query) -> Res {
    let count = match q.get("count") {
        None => 1,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 10_000)
            .ok_or_else(|| WeftError::invalid("count must be an integer between 0 and 10000"))?,
    };
    Ok(ok(&Guids {
        guids: s.index.mint(count),
    }))
}

/// Freshly minted GUIDs.
#[derive(Serialize, ToSchema)]
pub(crate) struct Guids {
    guids: Vec<String>,
}

/// The configured GUID prefix (empty when none).
#[derive(Serialize, ToSchema)]
pub(crate) struct Prefix<'a> {
    prefix: &'a str,
}

/// indexd's `/_version`.
#[derive(Serialize, ToSchema)]
pub(crate) struct Version {
    version: &'static str,
    commit: &'static str,
}

#[utoipa::path(get, path = "/index/guid/prefix", tag = "index",
    summary = "The configured GUID prefix",
    responses((status = 200, description = "The prefix", body = Prefix<'_>)))]
async fn prefix(State(s): State<Shared>) -> Res {
    Ok(ok(&Prefix {
        prefix: s.index.prefix(),
    }))
}

#[utoipa::path(get, path = "/index/_dist", tag = "index",
    summary = "Distributed resolution configuration (indexd DIST)",
    responses((status = 200, description = "`[{name, host, hints, type}]`", body = Vec<serde_json::Value>)))]
async fn dist(State(s): State<Shared>) -> Res {
    Ok(ok(&s.dist))
}

#[utoipa::path(get, path = "/index/_status", tag = "index",
    summary = "indexd health: text Healthy",
    responses((status = 200, description = "Healthy", body = String, content_type = "text/plain"),
        (status = 500, description = "Unhealthy", body = String, content_type = "text/plain")))]
async fn status(State(s): State<Shared>) -> Response {
    match s.index.store().ping().await {
        Ok(()) => (StatusCode::OK, "Healthy").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "index health check failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Unhealthy").into_response()
        }
    }
}

#[utoipa::path(get, path = "/index/_version", tag = "index",
    summary = "indexd-style version",
    responses((status = 200, description = "Version and commit", body = Version)))]
async fn version(State(s): State<Shared>) -> Res {
    Ok(ok(&Version {
        version: s.build.version,
        commit: s.build.commit,
    }))
}

#[utoipa::path(get, path = "/index/_stats", tag = "index",
    summary = "File count and total size (?month=&year=: before the month after)",
    params(("month" = Option<u32>, Query), ("year" = Option<i32>, Query)),
    responses((status = 200, description = "`{fileCount, totalFileSize}`", body = serde_json::Value),
        (status = 400, description = "Bad month/year", body = IndexdError)))]
async fn stats(State(s): State<Shared>, Query(q): Query) -> Res {
    Ok(ok(&s.index.stats(&q).await?))
}

#[utoipa::path(get, path = "/index/{id}", tag = "index",
    summary = "Global resolver: did, baseid, bundle id or alias (also at the DIST peers unless ?no_dist)",
    params(("id" = String, Path), ("no_dist" = Option<String>, Query)),
    responses((status = 200, description = "The record or bundle", body = serde_json::Value), IndexdReadErrors))]
async fn global_get(State(s): State<Shared>, Path(id): Path<String>, Query(q): Query) -> Res {
    let id = id.trim_end_matches('/');
    match s.index.resolve_global(id, q.has("no_dist"), &s.drs).await? {
        Some(r) => Ok(ok(&r)),
        None => Err(WeftError::not_found("no record found").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let u = "dg.1/0f9a6c6e-2b41-4e4b-9f0c-1b0b5b7c1a2e";
        assert_eq!(target(u), Target::Record(u));
        assert_eq!(target(&format!("{u}/")), Target::Record(u));
        assert_eq!(target(&format!("{u}/versions")), Target::Versions(u));
        assert_eq!(target(&format!("{u}/latest")), Target::Latest(u));
        assert_eq!(target(&format!("{u}/aliases")), Target::Aliases(u));
        assert_eq!(target(&format!("{u}/aliases/x")), Target::Alias(u, "x"));
        assert_eq!(target("blank/"), Target::Blank(None));
        assert_eq!(target(&format!("blank/{u}")), Target::Blank(Some(u)));
    }
}
