//! GA4GH DRS 1.x under `/ga4gh/drs/v1/`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use weft_core::WeftError;
use weft_indexd::bundle::Entry;
use weft_indexd::service::Depth;

use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use std::sync::Arc;

use crate::error::ApiError;
use crate::extract::{Body, Creds, Query};
use crate::routes::Routes;
use crate::schemas::DrsError;
use weft_indexd::IndexService;
use weft_indexd::drs::DrsContext;

/// The DRS API's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        service_info,
        list,
        bulk,
        bulk_options,
        object_or_access,
        object_post,
        object_options,
        access_get,
        access_post,
    ),
    components(schemas(DrsError))
)]
pub(crate) struct Api;

/// The error answers of a DRS request.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum DrsErrors {
    #[response(status = 400, description = "Malformed request")]
    BadRequest(DrsError),
    #[response(status = 401, description = "No or unusable credentials")]
    Unauthorized(DrsError),
    #[response(status = 403, description = "Not permitted")]
    Forbidden(DrsError),
    #[response(status = 404, description = "No such object or access method")]
    NotFound(DrsError),
    #[response(status = 413, description = "Too many ids or body over max_body_bytes")]
    TooLarge(DrsError),
}

type Res = Result<Response, ApiError>;

/// What the DRS API's handlers reach.
pub struct DrsState {
    pub index: Arc<IndexService>,
    pub drs: DrsContext,
    /// Signs access URLs (`/access/{access_id}`).
    pub access: Arc<dyn weft_indexd::drs::AccessSigner>,
    /// service-info's `organization.name` and `.url`.
    pub organization_name: String,
    pub organization_url: String,
    /// The most ids one bulk request may name.
    pub max_bulk_request_length: usize,
}

type Shared = Arc<DrsState>;

/// The DRS API's routes.
pub(crate) fn routes() -> Routes<Shared> {
    Routes::new()
        .route("/ga4gh/drs/v1/service-info", get(service_info))
        .route(
            "/ga4gh/drs/v1/objects",
            get(list).post(bulk).options(bulk_options),
        )
        .route(
            "/ga4gh/drs/v1/objects/",
            get(list).post(bulk).options(bulk_options),
        )
        .route(
            "/ga4gh/drs/v1/objects/{*rest}",
            get(object_or_access)
                .post(object_or_access)
                .options(object_options),
        )
}

fn drs_err(e: WeftError) -> ApiError {
    ApiError::drs(e)
}

/// Extractor rejections (body too large or unreadable, bad query string) in the DRS format.
fn on_drs<T>(extracted: Result<T, ApiError>) -> Result<T, ApiError> {
    extracted.map_err(|e| drs_err(e.error))
}

/// `prefix:id` and `drs://host/id` forms to the id indexd would look up.
fn object_id(raw: &str) -> String {
    let raw = raw.trim_end_matches('/');
    if let Some(rest) = raw.strip_prefix("drs://") {
        return match rest.split_once('/') {
            Some((_host, id)) => id.to_owned(),
            None => rest.to_owned(),
        };
    }
    raw.to_owned()
}

#[utoipa::path(get, path = "/ga4gh/drs/v1/service-info", tag = "drs",
    summary = "DRS service-info",
    responses((status = 200, description = "GA4GH service-info", body = serde_json::Value)))]
async fn service_info(State(s): State<Shared>) -> Res {
    Ok(Json(
        s.drs
            .service_info(&s.organization_name, &s.organization_url),
    )
    .into_response())
}

/// The record or bundle a DRS id names (a bundle's members read `depth` deep).
async fn resolve(s: &Shared, raw: &str, depth: Depth) -> Result<Entry, ApiError> {
    let id = object_id(raw);
    if let Some(e) = s.index.resolve_entry(&id, depth).await.map_err(drs_err)? {
        return Ok(e);
    }
    // compact identifier `prefix:accession` as written in self_uri
    if let Some((prefix, accession)) = id.split_once(':') {
        for candidate in [format!("{prefix}/{accession}"), accession.to_owned()] {
            if let Some(e) = s
                .index
                .resolve_entry(&candidate, depth)
                .await
                .map_err(drs_err)?
            {
                return Ok(e);
            }
        }
    }
    Err(drs_err(WeftError::not_found("no record found")))
}

/// The record a DRS id names; bundles have no bytes to access.
async fn resolve_record(
    s: &Shared,
    raw: &str,
    access_id: &str,
) -> Result<weft_store::IndexRecord, ApiError> {
    match resolve(s, raw, Depth::Members).await? {
        Entry::Record(r) => Ok(r),
        Entry::Bundle(_) => Err(drs_err(WeftError::not_found(format!(
            "no access method \"{access_id}\""
        )))),
    }
}

#[utoipa::path(get, path = "/ga4gh/drs/v1/objects/{object_id}", tag = "drs",
    summary = "A DRS object or bundle (id, prefix:id or drs://host/id; ?expand=true)",
    params(("object_id" = String, Path), ("expand" = Option<bool>, Query)),
    responses((status = 200, description = "The DRS object", body = serde_json::Value),
        (status = 307, description = "Held by a peer commons: the same request there"), DrsErrors))]
async fn object_or_access(
    State(s): State<Shared>,
    Path(rest): Path<String>,
    uri: axum::http::Uri,
    creds: Creds,
    query: Result<Query, ApiError>,
) -> Res {
    match object_or_access_here(&s, &rest, creds, query).await {
        Err(e) if e.error.code == weft_core::ErrorCode::NotFound => {
            match peer_redirect(&s, &rest, uri.query()).await? {
                Some(r) => Ok(r),
                None => Err(e),
            }
        }
        other => other,
    }
}

#[utoipa::path(post, path = "/ga4gh/drs/v1/objects/{object_id}", tag = "drs",
    summary = "A DRS object (POST form)",
    params(("object_id" = String, Path), ("expand" = Option<bool>, Query)),
    responses((status = 200, description = "The DRS object", body = serde_json::Value),
        (status = 307, description = "Held by a peer commons: the same request there"), DrsErrors))]
#[allow(dead_code)]
fn object_post() {}

// The access routes are branches of `object_or_access` (an object id may contain `/`).
#[utoipa::path(get, path = "/ga4gh/drs/v1/objects/{object_id}/access/{access_id}", tag = "drs",
    summary = "An access URL for the object",
    params(("object_id" = String, Path), ("access_id" = String, Path, description = "A URL scheme of the record: s3, gs, az, https, file"),
        ("expires_in" = Option<u64>, Query, description = "Seconds the URL stays valid")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The signed URL", body = AccessUrl),
        (status = 307, description = "Held by a peer commons: the same request there"), DrsErrors))]
#[allow(dead_code)]
fn access_get() {}

#[utoipa::path(post, path = "/ga4gh/drs/v1/objects/{object_id}/access/{access_id}", tag = "drs",
    summary = "An access URL (POST form)",
    params(("object_id" = String, Path), ("access_id" = String, Path, description = "A URL scheme of the record: s3, gs, az, https, file"),
        ("expires_in" = Option<u64>, Query, description = "Seconds the URL stays valid")),
    security((), ("bearer" = [])),
    responses((status = 200, description = "The signed URL", body = AccessUrl),
        (status = 307, description = "Held by a peer commons: the same request there"), DrsErrors))]
#[allow(dead_code)]
fn access_post() {}

/// `{"url": ...}`: a signed URL.
#[derive(Serialize, ToSchema)]
pub(crate) struct AccessUrl {
    url: String,
}

/// An object this service does not hold but a peer (indexd `DIST`, or a hub's commons)
/// does: `307` to the same request there, as Gen3's distributed resolution sends clients
/// to the owning commons. `None` when every peer answered and none holds it; a 503 when
/// none that answered holds it and some could not be reached.
async fn peer_redirect(
    s: &Shared,
    rest: &str,
    query: Option<&str>,
) -> Result<Option<Response>, ApiError> {
    let Some(dist) = s.index.dist() else {
        return Ok(None);
    };
    let rest = rest.trim_end_matches('/');
    let (raw, tail) = match rest.rsplit_once("/access") {
        Some((id, access)) if access.is_empty() || access.starts_with('/') => {
            (id, &rest[id.len()..])
        }
        _ => (rest, ""),
    };
    let id = object_id(raw);
    let mut candidates = vec![id.clone()];
    if let Some((prefix, accession)) = id.split_once(':') {
        candidates.push(format!("{prefix}/{accession}"));
    }
    let mut unreachable = None;
    for c in candidates {
        let base = match dist.locate(&c).await {
            Ok(Some(base)) => base,
            Ok(None) => continue,
            Err(e) => {
                unreachable.get_or_insert(e);
                continue;
            }
        };
        let mut url = format!("{base}ga4gh/drs/v1/objects/{id}{tail}");
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(q);
        }
        return Ok(Some(
            (
                axum::http::StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, url)],
            )
                .into_response(),
        ));
    }
    unreachable.map_or(Ok(None), |e| Err(drs_err(e)))
}

async fn object_or_access_here(
    s: &Shared,
    rest: &str,
    Creds(c): Creds,
    query: Result<Query, ApiError>,
) -> Res {
    let Query(q) = on_drs(query)?;
    let s = s.clone();
    let rest = rest.trim_end_matches('/');
    if let Some((id, access_id)) = rest.rsplit_once("/access/") {
        let r = resolve_record(&s, id, access_id).await?;
        let url = r
            .urls
            .iter()
            .find(|u| weft_indexd::drs::scheme(u) == access_id)
            .ok_or_else(|| {
                drs_err(WeftError::not_found(format!(
                    "no access method \"{access_id}\""
                )))
            })?;
        let expires_in = crate::data::expires_in(&q).map_err(drs_err)?;
        let signed = s
            .access
            .access_url(&c, &r, url, expires_in)
            .await
            .map_err(drs_err)?;
        return Ok(Json(AccessUrl { url: signed }).into_response());
    }
    if let Some(id) = rest.strip_suffix("/access") {
        let _ = resolve(&s, id, Depth::Members).await?;
        return Err(drs_err(WeftError::invalid("access_id is required")));
    }
    let expand = q.get("expand") == Some("true");
    let depth = if expand { Depth::Full } else { Depth::Members };
    let e = resolve(&s, rest, depth).await?;
    Ok(Json(s.drs.entry_object(&e, expand)).into_response())
}

#[utoipa::path(options, path = "/ga4gh/drs/v1/objects/{object_id}", tag = "drs",
    summary = "Authorizations of a DRS object", params(("object_id" = String, Path)),
    responses((status = 200, description = "`{drs_object_id, supported_types, passport_auth_issuers, bearer_auth_issuers}`", body = serde_json::Value), DrsErrors))]
async fn object_options(State(s): State<Shared>, Path(rest): Path<String>) -> Res {
    let auth = match resolve(&s, &rest, Depth::Members).await? {
        Entry::Record(r) => s.drs.authorizations(&r, true),
        // bundles carry no authz: nothing to present
        Entry::Bundle(b) => weft_indexd::drs::Authorizations {
            drs_object_id: Some(b.record.bundle_id),
            supported_types: vec![],
            passport_auth_issuers: vec![],
            bearer_auth_issuers: vec![],
        },
    };
    Ok(Json(auth).into_response())
}

/// `{"bulk_object_ids": [...]}`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BulkBody {
    bulk_object_ids: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    passports: Option<Vec<String>>,
}

async fn bulk_records(
    s: &Shared,
    body: &[u8],
) -> Result<(usize, Vec<weft_store::IndexRecord>, Vec<String>), ApiError> {
    let b: BulkBody = weft_indexd::input::parse(body).map_err(drs_err)?;
    if b.bulk_object_ids.is_empty() {
        return Err(drs_err(WeftError::invalid(
            "bulk_object_ids must not be empty",
        )));
    }
    let max = s.max_bulk_request_length;
    if b.bulk_object_ids.len() > max {
        return Err(drs_err(WeftError::new(
            weft_core::ErrorCode::PayloadTooLarge,
            format!("at most {max} ids per bulk request"),
        )));
    }
    let requested = b.bulk_object_ids.len();
    let ids: Vec<String> = b.bulk_object_ids.iter().map(|i| object_id(i)).collect();
    for id in &ids {
        weft_indexd::limits::no_nul("id", id).map_err(drs_err)?;
    }
    let found = s
        .index
        .store()
        .get_many(ids.clone())
        .await
        .map_err(|e| drs_err(e.into()))?;
    let missing = ids
        .into_iter()
        .filter(|i| !found.iter().any(|r| &r.did == i))
        .collect();
    Ok((requested, found, missing))
}

/// A bulk answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct Envelope {
    summary: Summary,
    unresolved_drs_objects: Vec<Unresolved>,
    /// DRS objects (POST) or authorizations (OPTIONS).
    resolved_drs_objects: Vec<Value>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Summary {
    requested: usize,
    resolved: usize,
    unresolved: usize,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct Unresolved {
    error_code: u16,
    object_ids: Vec<String>,
}

fn envelope(requested: usize, resolved: Vec<Value>, missing: Vec<String>) -> Envelope {
    let unresolved = if missing.is_empty() {
        vec![]
    } else {
        vec![Unresolved {
            error_code: 404,
            object_ids: missing,
        }]
    };
    Envelope {
        summary: Summary {
            requested,
            resolved: resolved.len(),
            unresolved: requested - resolved.len(),
        },
        unresolved_drs_objects: unresolved,
        resolved_drs_objects: resolved,
    }
}

#[utoipa::path(post, path = "/ga4gh/drs/v1/objects", tag = "drs",
    summary = "Bulk DRS objects", request_body = BulkBody,
    responses((status = 200, description = "Resolved and unresolved objects", body = Envelope), DrsErrors))]
async fn bulk(State(s): State<Shared>, body: Result<Body, ApiError>) -> Res {
    let Body(b) = on_drs(body)?;
    let (requested, found, missing) = bulk_records(&s, &b).await?;
    let resolved = found.iter().map(|r| json!(s.drs.object(r))).collect();
    Ok(Json(envelope(requested, resolved, missing)).into_response())
}

#[utoipa::path(options, path = "/ga4gh/drs/v1/objects", tag = "drs",
    summary = "Bulk authorizations", request_body = BulkBody,
    responses((status = 200, description = "Authorizations of each object", body = Envelope), DrsErrors))]
async fn bulk_options(State(s): State<Shared>, body: Result<Body, ApiError>) -> Res {
    let Body(b) = on_drs(body)?;
    let (requested, found, missing) = bulk_records(&s, &b).await?;
    let resolved = found
        .iter()
        .map(|r| json!(s.drs.authorizations(r, true)))
        .collect();
    Ok(Json(envelope(requested, resolved, missing)).into_response())
}

#[utoipa::path(get, path = "/ga4gh/drs/v1/objects", tag = "drs",
    summary = "List DRS objects and bundles",
    params(("limit" = Option<i64>, Query), ("start" = Option<String>, Query), ("page" = Option<i64>, Query),
        ("form" = Option<String>, Query, description = "object or bundle")),
    responses((status = 200, description = "`{drs_objects: [...]}`", body = DrsObjects), DrsErrors))]
async fn list(State(s): State<Shared>, query: Result<Query, ApiError>) -> Res {
    let Query(q) = on_drs(query)?;
    let entries = s.index.list_drs(&q).await.map_err(drs_err)?;
    let objects: Vec<_> = entries
        .iter()
        .map(|e| s.drs.entry_object(e, false))
        .collect();
    Ok(Json(DrsObjects {
        drs_objects: objects,
    })
    .into_response())
}

/// `GET /objects`'s answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct DrsObjects {
    #[schema(value_type = Vec<Object>)]
    drs_objects: Vec<weft_indexd::drs::DrsObject>,
}

#[cfg(test)]
mod tests {
    use super::object_id;

    #[test]
    fn id_forms() {
        assert_eq!(object_id("abc"), "abc");
        assert_eq!(object_id("drs://host.org/abc"), "abc");
        assert_eq!(object_id("drs://host.org/dg.1/abc"), "dg.1/abc");
        assert_eq!(object_id("drs://dg.1:abc"), "dg.1:abc");
        assert_eq!(object_id("dg.1/abc/"), "dg.1/abc");
    }
}
