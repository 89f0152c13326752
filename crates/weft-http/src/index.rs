//! The indexd API under `/index/` (indexd's own paths with the commons prefix).

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use weft_core::WeftError;
use weft_indexd::bundle::Entry;
use weft_indexd::service::Depth;

use crate::SharedState;
use crate::error::ApiError;
use crate::extract::{Body, Creds, Query};

type Res = Result<Response, ApiError>;

pub fn router() -> Router<SharedState> {
    Router::new()
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

async fn list(State(s): State<SharedState>, Query(q): Query) -> Res {
    Ok(crate::json_text(
        StatusCode::OK,
        s.index.list(&q).await?.to_json(),
    ))
}

async fn create(State(s): State<SharedState>, Creds(c): Creds, Body(b): Body) -> Res {
    Ok(ok(&s.index.create(&c, &b).await?))
}

fn aliases_json(names: Vec<String>) -> Value {
    json!({"aliases": names.into_iter().map(|v| json!({"value": v})).collect::<Vec<_>>()})
}

/// A record by baseid or the other prefix spelling, or a bundle (after no exact did matched).
async fn record_or_bundle(s: &SharedState, id: &str) -> Res {
    match s.index.resolve_entry(id, Depth::Full).await? {
        Some(Entry::Record(r)) => Ok(ok(&r)),
        Some(Entry::Bundle(b)) => Ok(ok(&s.drs.bundle_index_document(&b))),
        None => Err(WeftError::not_found("no record found").into()),
    }
}

async fn record_get(
    State(s): State<SharedState>,
    Path(rest): Path<String>,
    Query(q): Query,
) -> Res {
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

async fn record_put(
    State(s): State<SharedState>,
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

async fn record_delete(
    State(s): State<SharedState>,
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

async fn record_post(
    State(s): State<SharedState>,
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

/// `GET /bundle/`: `GET /index/` listing bundles unless `form` says otherwise.
async fn bundle_list(State(s): State<SharedState>, Query(mut q): Query) -> Res {
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
async fn bundle_create(State(s): State<SharedState>, Creds(c): Creds, Body(b): Body) -> Res {
    let bundle = s.index.create_bundle(&c, &b).await?;
    let contents = Value::Array(s.drs.bundle_contents(&bundle.contents, true)).to_string();
    Ok(ok(&json!({
        "bundle_id": bundle.record.bundle_id,
        "name": bundle.record.name,
        "contents": contents,
    })))
}

async fn bundle_get(State(s): State<SharedState>, Path(id): Path<String>, Query(q): Query) -> Res {
    let expand = q.get("expand") == Some("true");
    let entry = s.index.bundle(id.trim_end_matches('/'), expand).await?;
    Ok(ok(&s.drs.bundle_document(&entry, expand)))
}

async fn bundle_delete(
    State(s): State<SharedState>,
    Path(id): Path<String>,
    Creds(c): Creds,
) -> Res {
    s.index.delete_bundle(&c, id.trim_end_matches('/')).await?;
    Ok(StatusCode::OK.into_response())
}

async fn bulk(State(s): State<SharedState>, Body(b): Body) -> Res {
    Ok(ok(&s.index.bulk_documents(&b).await?))
}

async fn urls(State(s): State<SharedState>, Query(q): Query) -> Res {
    Ok(ok(&s.index.urls(&q).await?))
}

async fn query_urls(State(s): State<SharedState>, Query(q): Query) -> Res {
    Ok(ok(&s.index.query_urls(&q, false).await?))
}

async fn query_urls_metadata(State(s): State<SharedState>, Query(q): Query) -> Res {
    Ok(ok(&s.index.query_urls(&q, true).await?))
}

async fn mint(State(s): State<SharedState>, Query(q): Query) -> Res {
    let count = match q.get("count") {
        None => 1,
        Some(c) => c
            .parse::<usize>()
            .ok()
            .filter(|n| *n <= 10_000)
            .ok_or_else(|| WeftError::invalid("count must be an integer between 0 and 10000"))?,
    };
    Ok(ok(&json!({"guids": s.index.mint(count)})))
}

async fn prefix(State(s): State<SharedState>) -> Res {
    Ok(ok(&json!({"prefix": s.index.prefix()})))
}

async fn dist(State(s): State<SharedState>) -> Res {
    Ok(ok(&s.config.index.dist))
}

async fn status(State(s): State<SharedState>) -> Response {
    match s.index.store().ping().await {
        Ok(()) => (StatusCode::OK, "Healthy").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "index health check failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Unhealthy").into_response()
        }
    }
}

async fn version(State(s): State<SharedState>) -> Res {
    Ok(ok(&json!({"version": s.version, "commit": s.commit})))
}

async fn stats(State(s): State<SharedState>, Query(q): Query) -> Res {
    Ok(ok(&s.index.stats(&q).await?))
}

async fn global_get(State(s): State<SharedState>, Path(id): Path<String>, Query(q): Query) -> Res {
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
