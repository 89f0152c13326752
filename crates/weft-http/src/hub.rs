//! The data hub: aggregate MDS's endpoints under `/mds/aggregate/`, plus weft's
//! `/mds/aggregate/status` (per-commons sync state) and `/mds/aggregate/search` (discovery
//! search). Errors take MDS's FastAPI shapes: 404 `{"detail": {"message", "code"}}`, a bad
//! parameter 422 `{"detail": [...]}` on aggregate MDS's routes, and 400
//! `{"detail": {"message", "code"}}` on the search.
//!
//! Without a hub configured every route here answers 404, as aggregate MDS's routes do not
//! exist when `USE_AGG_MDS` is off.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, OpenApi, ToSchema};
use weft_hub::{HubError, HubService, SearchRequest};

use crate::extract::serde_urlencoded_pairs;

/// The hub's part of the OpenAPI document, with paths relative to a prefix: the document
/// nests it under each of [`PREFIXES`].
#[derive(OpenApi)]
#[openapi(
    paths(
        commons,
        metadata,
        metadata_rest,
        commons_info,
        study,
        tags,
        info,
        status,
        search
    ),
    components(schemas(HubFailure, HubPathFailure, HubInvalid))
)]
pub(crate) struct Api;

/// Where the hub is mounted: under the gateway's `/mds` prefix, and at the root as a bare
/// (aggregate) MDS serves it.
pub const PREFIXES: [&str; 2] = ["/mds", ""];

/// Under the gateway's `/mds` prefix, and at the root as a bare MDS serves them.
/// What the hub's handlers reach: the hub, when the configuration lists commons.
pub struct HubState {
    pub hub: Option<std::sync::Arc<weft_hub::HubService>>,
}

type SharedState = std::sync::Arc<HubState>;

/// The hub's routes, under each of [`PREFIXES`].
pub(crate) fn routes() -> crate::routes::Routes<SharedState> {
    let mut r = crate::routes::Routes::new();
    for p in PREFIXES {
        r = r
            .route(&format!("{p}/aggregate/commons"), get(commons))
            .route(&format!("{p}/aggregate/metadata"), get(metadata))
            .route(
                &format!("{p}/aggregate/metadata/{{*rest}}"),
                get(metadata_rest),
            )
            .route(&format!("{p}/aggregate/tags"), get(tags))
            .route(&format!("{p}/aggregate/info/{{*what}}"), get(info))
            .route(&format!("{p}/aggregate/status"), get(status))
            .route(&format!("{p}/aggregate/search"), get(search));
    }
    r
}

/// An error answer: a status and its JSON body.
struct Fail(Box<(StatusCode, Value)>);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let (status, body) = *self.0;
        (status, Json(body)).into_response()
    }
}

fn fail(status: StatusCode, body: &impl Serialize) -> Fail {
    Fail(Box::new((
        status,
        serde_json::to_value(body).unwrap_or_default(),
    )))
}

/// An error of the hub's routes, as aggregate MDS (FastAPI) words it:
/// `{"detail": {"message", "code"}}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct HubFailure {
    detail: HubMessage,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct HubMessage {
    message: String,
    /// The HTTP status again.
    code: u16,
}

/// A 404 of a path under `/aggregate/metadata/`: aggregate MDS's own message, or FastAPI's
/// `{"detail": "Not Found"}` for a path no route of it matches.
#[derive(Serialize, ToSchema)]
pub(crate) struct HubPathFailure {
    detail: HubDetail,
}

#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // `Message`: built as a `HubFailure`, whose body is the same
pub(crate) enum HubDetail {
    Message(HubMessage),
    Text(String),
}

/// FastAPI's answer to a query parameter of the wrong type.
#[derive(Serialize, ToSchema)]
pub(crate) struct HubInvalid {
    detail: Vec<HubInvalidParam>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct HubInvalidParam {
    /// `parsing`.
    #[serde(rename = "type")]
    kind: &'static str,
    /// `["query", name]`.
    loc: [&'static str; 2],
    msg: &'static str,
    /// The value given.
    input: String,
}

fn message(status: StatusCode, message: String) -> Fail {
    fail(
        status,
        &HubFailure {
            detail: HubMessage {
                message,
                code: status.as_u16(),
            },
        },
    )
}

/// `404 {"detail": {"message", "code": 404}}`, as aggregate MDS words it.
fn not_found(message_text: String) -> Fail {
    message(StatusCode::NOT_FOUND, message_text)
}

fn bad_request(message_text: String) -> Fail {
    message(StatusCode::BAD_REQUEST, message_text)
}

/// FastAPI's answer to a query parameter of the wrong type.
fn unprocessable(param: &'static str, msg: &'static str, input: &str) -> Fail {
    fail(
        StatusCode::UNPROCESSABLE_ENTITY,
        &HubInvalid {
            detail: vec![HubInvalidParam {
                kind: "parsing",
                loc: ["query", param],
                msg,
                input: input.to_owned(),
            }],
        },
    )
}

fn internal(e: &HubError) -> Fail {
    tracing::error!(error = %e, "hub: internal error");
    message(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
}

fn failed(e: HubError) -> Fail {
    match e {
        HubError::BadQuery(m) => bad_request(m),
        HubError::NotFound => not_found("not found".into()),
        other => internal(&other),
    }
}

/// The hub, or the 404 every aggregate route gives when none is configured.
fn hub(s: &SharedState) -> Result<&HubService, Fail> {
    s.hub
        .as_deref()
        .ok_or_else(|| not_found("the aggregate metadata service is not enabled".into()))
}

/// The error answer of every hub route when this server has no hub.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum HubErrors {
    #[response(
        status = 404,
        description = "Nothing found, or no hub here (`[hub]` lists no commons): the aggregate routes then answer 404"
    )]
    NotFound(HubFailure),
}

/// `{"commons": [names]}`.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct HubCommonsList {
    /// The `commons_name`s that have studies, most studies first.
    commons: Vec<String>,
}

/// A page of studies: by commons name, or (`flatten`) one list; each study is
/// `{guid: document}`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum HubStudies {
    /// `{commons_name: [{guid: doc}]}`.
    Grouped(BTreeMap<String, Vec<BTreeMap<String, Value>>>),
    /// `[{guid: doc}]` (`flatten=true`).
    Flat(Vec<BTreeMap<String, Value>>),
}

/// `GET /aggregate/metadata`'s answer: the page, with `pagination=true` inside
/// `{results, pagination}`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub(crate) enum HubMetadata {
    Page(HubStudies),
    Paginated(HubPaginated),
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct HubPaginated {
    results: HubStudies,
    pagination: HubPagination,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct HubPagination {
    /// Studies in all.
    hits: i64,
    offset: i64,
    #[serde(rename = "pageSize")]
    page_size: i64,
    pages: i64,
}

/// One tag category's counts.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct HubTagCounts {
    /// Tags of the category, over every study.
    total: u64,
    /// One object: tag name to count.
    names: Vec<BTreeMap<String, u64>>,
}

/// `GET /aggregate/status`'s answer.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct HubSyncStatus {
    /// Each configured commons' sync state, by its name in the configuration.
    commons: BTreeMap<String, HubCommonsSync>,
    sync_interval_secs: u64,
    /// Studies in the discovery search index.
    indexed_studies: u64,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct HubCommonsSync {
    status: HubSyncState,
    commons_name: String,
    mds_url: String,
    /// Studies held from the last good pull.
    studies: i64,
    #[schema(format = DateTime)]
    last_attempt: Option<String>,
    #[schema(format = DateTime)]
    last_success: Option<String>,
    /// The last pull's error, until a pull succeeds.
    last_error: Option<String>,
    consecutive_failures: i64,
    #[schema(format = DateTime)]
    next_attempt: Option<String>,
    drs_prefixes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)]
pub(crate) enum HubSyncState {
    /// Pulled.
    Ok,
    /// The last pull failed.
    Error,
    /// Not pulled yet.
    Pending,
}

/// A discovery search's answer (`weft_hub::SearchResult`).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct HubSearchResult {
    /// Matches in all.
    total: u64,
    limit: u64,
    offset: u64,
    hits: Vec<HubHit>,
    facets: HubFacets,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct HubHit {
    guid: String,
    /// The study's `commons_name`.
    commons: String,
    score: f32,
    /// The study's document.
    doc: Value,
}

/// Counts over every match, not only the page.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub(crate) struct HubFacets {
    /// Matches by `commons_name`.
    commons: BTreeMap<String, u64>,
    /// Matches by tag category, then tag name.
    tags: BTreeMap<String, BTreeMap<String, u64>>,
}

/// `GET /aggregate/metadata`'s query.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct MetadataQuery {
    /// Studies per page (default 20, at most 2000 are answered).
    #[param(minimum = 0)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
    /// Comma-separated study fields whose values are replaced by their lengths.
    counts: Option<String>,
    /// One list of `{guid: doc}` instead of lists by commons.
    flatten: Option<bool>,
    /// `{results, pagination}`.
    pagination: Option<bool>,
}

/// `GET /aggregate/search`'s query.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct SearchQuery {
    /// Words (all must match), `"phrases"`, `field:value`, `OR`, `-word`.
    q: Option<String>,
    /// `Category:Name` (repeatable; every one must match).
    tag: Option<Vec<String>>,
    /// A `commons_name` (repeatable; any may match).
    commons: Option<Vec<String>>,
    /// Hits per page (default 20).
    #[param(minimum = 0)]
    limit: Option<u64>,
    #[param(minimum = 0)]
    offset: Option<u64>,
}

/// A commons' name in the hub (`commons_name`).
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct CommonsPath {
    #[param(min_length = 1, pattern = "^[^/]+$")]
    name: String,
}

type Res = Result<Response, Fail>;

fn query_pairs(uri: &axum::http::Uri) -> Result<Vec<(String, String)>, Fail> {
    serde_urlencoded_pairs(uri.query().unwrap_or("")).map_err(|e| bad_request(e.error.message))
}

fn last<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Booleans as FastAPI reads them.
fn boolean(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

#[utoipa::path(get, path = "/aggregate/commons", tag = "hub",
    summary = "The commons the hub holds studies of",
    responses((status = 200, description = "Their names", body = HubCommonsList), HubErrors))]
async fn commons(State(s): State<SharedState>) -> Res {
    let hub = hub(&s)?;
    Ok(Json(hub.commons().await.map_err(failed)?).into_response())
}

#[utoipa::path(get, path = "/aggregate/metadata", tag = "hub",
    summary = "A page of the aggregated studies, by commons or flat",
    params(MetadataQuery),
    responses((status = 200, description = "The studies", body = HubMetadata),
        (status = 400, description = "A negative limit or offset, or a malformed query string", body = HubFailure),
        HubErrors,
        (status = 422, description = "A parameter of the wrong type", body = HubInvalid)))]
async fn metadata(State(s): State<SharedState>, uri: axum::http::Uri) -> Res {
    let hub = hub(&s)?;
    let q = query_pairs(&uri)?;
    let int = |key: &'static str, default: i64| -> Result<i64, Fail> {
        match last(&q, key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                unprocessable(
                    key,
                    "Input should be a valid integer, unable to parse string as an integer",
                    v,
                )
            }),
        }
    };
    let flag = |key: &'static str| -> Result<bool, Fail> {
        match last(&q, key) {
            None => Ok(false),
            Some(v) => {
                boolean(v).ok_or_else(|| unprocessable(key, "Input should be a valid boolean", v))
            }
        }
    };
    let limit = int("limit", 20)?;
    let offset = int("offset", 0)?;
    let flatten = flag("flatten")?;
    let pagination = flag("pagination")?;
    if limit < 0 || offset < 0 {
        return Err(bad_request("limit and offset must be >= 0".into()));
    }
    let counts: Vec<String> = last(&q, "counts")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect();
    let (results, page) = hub
        .metadata(limit, offset, &counts, flatten)
        .await
        .map_err(failed)?;
    let body = if pagination {
        json!({"results": results, "pagination": page})
    } else {
        results
    };
    Ok(Json(body).into_response())
}

/// `{name}`, `{name}/info` and `guid/{guid:path}`, matched in aggregate MDS's order.
#[utoipa::path(get, path = "/aggregate/metadata/{name}", tag = "hub",
    summary = "Every study of one commons", params(CommonsPath),
    responses((status = 200, description = "Their documents", body = Vec<Value>),
        (status = 400, description = "A NUL in the name", body = HubFailure),
        (status = 404, description = "No studies of that commons, or no hub here", body = HubPathFailure)))]
async fn metadata_rest(State(s): State<SharedState>, Path(rest): Path<String>) -> Res {
    let hub = hub(&s)?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments.as_slice() {
        [name] => match hub.commons_metadata(name).await.map_err(failed)? {
            Some(v) => Ok(Json(v).into_response()),
            None => Err(not_found(format!(
                "no common exists with the given: {name}"
            ))),
        },
        [name, "info"] => match hub.commons_info(name).await.map_err(failed)? {
            Some(v) => Ok(Json(v).into_response()),
            None => Err(not_found(format!(
                "no common exists with the given: {name}"
            ))),
        },
        ["guid", ..] => {
            let guid = &rest["guid/".len()..];
            match hub.study(guid).await.map_err(failed)? {
                Some(v) => Ok(Json(v).into_response()),
                None => Err(not_found(format!(
                    "no entry exists with the given guid: {guid}"
                ))),
            }
        }
        _ => Err(fail(
            StatusCode::NOT_FOUND,
            &HubPathFailure {
                detail: HubDetail::Text("Not Found".into()),
            },
        )),
    }
}

// `{name}/info` and `guid/{guid}` are branches of `metadata_rest`.
#[utoipa::path(get, path = "/aggregate/metadata/{name}/info", tag = "hub",
    summary = "A commons' info document ({commons_url})", params(CommonsPath),
    responses((status = 200, description = "The info", body = Object),
        (status = 404, description = "No such commons pulled, or no hub here", body = HubPathFailure)))]
#[allow(dead_code)]
fn commons_info() {}

#[utoipa::path(get, path = "/aggregate/metadata/guid/{guid}", tag = "hub",
    summary = "One aggregated study by GUID",
    params(("guid" = String, Path, min_length = 1, description = "A study's GUID (may contain /)")),
    responses((status = 200, description = "Its document", body = Value),
        (status = 400, description = "A NUL in the GUID", body = HubFailure),
        (status = 404, description = "No such study, or no hub here", body = HubPathFailure)))]
#[allow(dead_code)]
fn study() {}

#[utoipa::path(get, path = "/aggregate/tags", tag = "hub",
    summary = "Tag counts across commons, categories with most tags first",
    responses((status = 200, description = "Counts by category", body = BTreeMap<String, HubTagCounts>), HubErrors))]
async fn tags(State(s): State<SharedState>) -> Res {
    let hub = hub(&s)?;
    let t = hub.tags().await.map_err(failed)?;
    if t.as_object().is_none_or(serde_json::Map::is_empty) {
        return Err(not_found("error retrieving tags from service".into()));
    }
    Ok(Json(t).into_response())
}

#[utoipa::path(get, path = "/aggregate/info/{what}", tag = "hub",
    summary = "schema, aggregations, a commons' info, or a DRS prefix's {host, name, type}",
    params(("what" = String, Path, min_length = 1, description = "`schema`, `aggregations`, a commons name or a DRS prefix")),
    responses((status = 200, description = "The document", body = Object), HubErrors))]
async fn info(State(s): State<SharedState>, Path(what): Path<String>) -> Res {
    let hub = hub(&s)?;
    match hub.info(&what).await.map_err(failed)? {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(not_found(format!("information for {what} not found"))),
    }
}

#[utoipa::path(get, path = "/aggregate/status", tag = "hub",
    summary = "weft: each commons' sync state (last success, last error, studies, next attempt)",
    responses((status = 200, description = "Sync states", body = HubSyncStatus), HubErrors))]
async fn status(State(s): State<SharedState>) -> Res {
    let hub = hub(&s)?;
    Ok(Json(hub.status().await.map_err(failed)?).into_response())
}

/// `GET /mds/aggregate/search?q=&tag=Category:Name&commons=&limit=&offset=`.
#[utoipa::path(get, path = "/aggregate/search", tag = "hub",
    summary = "weft: discovery search over the aggregated studies, with facet counts",
    params(SearchQuery),
    responses((status = 200, description = "A page of hits", body = HubSearchResult),
        (status = 400, description = "A malformed query, tag, limit or offset", body = HubFailure),
        HubErrors))]
async fn search(State(s): State<SharedState>, uri: axum::http::Uri) -> Res {
    let hub = hub(&s)?;
    let q = query_pairs(&uri)?;
    let mut req = SearchRequest {
        limit: 20,
        ..SearchRequest::default()
    };
    for (k, v) in &q {
        match k.as_str() {
            "q" => req.q = Some(v.clone()),
            "tag" => {
                let (c, n) = v
                    .split_once(':')
                    .ok_or_else(|| bad_request(format!("tag must be Category:Name, not {v:?}")))?;
                req.tags.push((c.trim().to_owned(), n.trim().to_owned()));
            }
            "commons" => req.commons.push(v.clone()),
            "limit" | "offset" => {
                let n: usize = v.trim().parse().map_err(|_| {
                    bad_request(format!("{k} must be a non-negative integer, not {v:?}"))
                })?;
                if k == "limit" {
                    req.limit = n;
                } else {
                    req.offset = n;
                }
            }
            _ => {}
        }
    }
    let r = hub.search(req).await.map_err(failed)?;
    let v: Value = serde_json::to_value(&r).unwrap_or(Value::Null);
    Ok(Json(v).into_response())
}

#[cfg(test)]
mod tests {
    use super::boolean;

    #[test]
    fn booleans_as_fastapi_reads_them() {
        for (v, want) in [
            ("True", Some(true)),
            ("false", Some(false)),
            ("1", Some(true)),
            ("off", Some(false)),
            ("maybe", None),
        ] {
            assert_eq!(boolean(v), want, "{v}");
        }
    }
}
