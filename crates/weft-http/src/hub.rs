//! The data hub: aggregate MDS's endpoints under `/mds/aggregate/`, plus weft's
//! `/mds/aggregate/status` (per-commons sync state) and `/mds/aggregate/search` (discovery
//! search). Errors take MDS's FastAPI shapes: 404 `{"detail": {"message", "code"}}`, a bad
//! parameter 422 `{"detail": [...]}` on aggregate MDS's routes, and 400
//! `{"detail": {"message", "code"}}` on the search.
//!
//! Without a hub configured every route here answers 404, as aggregate MDS's routes do not
//! exist when `USE_AGG_MDS` is off.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use weft_hub::{HubError, HubService, SearchRequest};

use crate::SharedState;
use crate::extract::serde_urlencoded_pairs;

/// Under the gateway's `/mds` prefix, and at the root as a bare MDS serves them.
pub fn router() -> Router<SharedState> {
    let mut r = Router::new();
    for p in ["/mds", ""] {
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

fn fail(status: StatusCode, body: Value) -> Fail {
    Fail(Box::new((status, body)))
}

/// `404 {"detail": {"message", "code": 404}}`, as aggregate MDS words it.
fn not_found(message: String) -> Fail {
    fail(
        StatusCode::NOT_FOUND,
        json!({"detail": {"message": message, "code": 404}}),
    )
}

fn bad_request(message: String) -> Fail {
    fail(
        StatusCode::BAD_REQUEST,
        json!({"detail": {"message": message, "code": 400}}),
    )
}

/// FastAPI's answer to a query parameter of the wrong type.
fn unprocessable(param: &str, message: &str, input: &str) -> Fail {
    fail(
        StatusCode::UNPROCESSABLE_ENTITY,
        json!({"detail": [{"type": "parsing", "loc": ["query", param],
                           "msg": message, "input": input}]}),
    )
}

fn internal(e: &HubError) -> Fail {
    tracing::error!(error = %e, "hub: internal error");
    fail(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"detail": {"message": "internal error", "code": 500}}),
    )
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

async fn commons(State(s): State<SharedState>) -> Res {
    let hub = hub(&s)?;
    Ok(Json(hub.commons().await.map_err(failed)?).into_response())
}

async fn metadata(State(s): State<SharedState>, uri: axum::http::Uri) -> Res {
    let hub = hub(&s)?;
    let q = query_pairs(&uri)?;
    let int = |key: &str, default: i64| -> Result<i64, Fail> {
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
    let flag = |key: &str| -> Result<bool, Fail> {
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
        _ => Err(fail(StatusCode::NOT_FOUND, json!({"detail": "Not Found"}))),
    }
}

async fn tags(State(s): State<SharedState>) -> Res {
    let hub = hub(&s)?;
    let t = hub.tags().await.map_err(failed)?;
    if t.as_object().is_none_or(serde_json::Map::is_empty) {
        return Err(not_found("error retrieving tags from service".into()));
    }
    Ok(Json(t).into_response())
}

async fn info(State(s): State<SharedState>, Path(what): Path<String>) -> Res {
    let hub = hub(&s)?;
    match hub.info(&what).await.map_err(failed)? {
        Some(v) => Ok(Json(v).into_response()),
        None => Err(not_found(format!("information for {what} not found"))),
    }
}

async fn status(State(s): State<SharedState>) -> Res {
    let hub = hub(&s)?;
    Ok(Json(hub.status().await.map_err(failed)?).into_response())
}

/// `GET /mds/aggregate/search?q=&tag=Category:Name&commons=&limit=&offset=`.
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
