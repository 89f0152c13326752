//! The metadata service (Gen3 MDS API) under `/mds/`, and again under `/mds-admin/`, where
//! the gen3 SDK sends writes. Both check the caller's own credentials: weft has no gateway
//! that swaps a bearer token for an admin password.

use axum::Router;
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
use crate::{SharedState, json_text};

type Res = Result<Response, ApiError>;

/// Where MDS is mounted: reads and writes under both, as the SDK uses them; and at the
/// root, where the SDK looks when its endpoint is `http://localhost...` (a bare MDS).
pub const PREFIXES: [&str; 3] = ["/mds", "/mds-admin", ""];

pub fn router() -> Router<SharedState> {
    let mut r = Router::new();
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
    json_response(status, &json!({"guid": guid, "aliases": aliases}))
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

async fn query(State(s): State<SharedState>, Creds(c): Creds, q: Result<Query, ApiError>) -> Res {
    let Query(q) = q.map_err(restyle)?;
    match s.mds.query(&c, &q.0).await.map_err(mds)? {
        QueryResult::Guids(guids) => json_response(StatusCode::OK, &guids),
        QueryResult::Data(rows) => json_response(StatusCode::OK, &DataMap(&rows)),
    }
}

async fn batch_create(
    State(s): State<SharedState>,
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

async fn read(State(s): State<SharedState>, Creds(c): Creds, Path(rest): Path<String>) -> Res {
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

async fn create(
    State(s): State<SharedState>,
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

async fn update(
    State(s): State<SharedState>,
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

async fn delete(State(s): State<SharedState>, Creds(c): Creds, Path(rest): Path<String>) -> Res {
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

async fn object_upload(
    State(s): State<SharedState>,
    Creds(c): Creds,
    body: Result<Body, ApiError>,
) -> Res {
    let Body(body) = body.map_err(restyle)?;
    let out = s.objects.upload(&c, &body).await.map_err(mds)?;
    json_response(StatusCode::CREATED, &out)
}

async fn object_version(
    State(s): State<SharedState>,
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

async fn object_get(
    State(s): State<SharedState>,
    Creds(c): Creds,
    Path(rest): Path<String>,
) -> Res {
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
            json_response(StatusCode::OK, &json!({"url": url}))
        }
    }
}

async fn object_delete(
    State(s): State<SharedState>,
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

async fn index_list(State(s): State<SharedState>, Creds(c): Creds) -> Res {
    let paths = s.mds.index_paths(&c).await.map_err(mds)?;
    json_response(StatusCode::OK, &paths)
}

async fn index_create(
    State(s): State<SharedState>,
    Creds(c): Creds,
    Path(path): Path<String>,
) -> Res {
    let path = s.mds.create_index(&c, &path).await.map_err(mds)?;
    json_response(StatusCode::CREATED, &path)
}

async fn index_drop(
    State(s): State<SharedState>,
    Creds(c): Creds,
    Path(path): Path<String>,
) -> Res {
    s.mds.drop_index(&c, &path).await.map_err(mds)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn status(State(s): State<SharedState>) -> Res {
    json_response(
        StatusCode::OK,
        &json!({
            "status": "OK",
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "aggregate_metadata_enabled": s.hub.is_some(),
        }),
    )
}

async fn version(State(s): State<SharedState>) -> Res {
    json_response(StatusCode::OK, &s.version)
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
