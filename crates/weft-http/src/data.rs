//! fence's data endpoints under `/user/data/`: signed download and upload URLs (single and
//! multipart), deletes, and the bytes of local objects behind weft's own signed URLs.
//!
//! fence answers errors with HTML pages (clients look only at the status); weft answers
//! `{"error": "..."}` with the same statuses.

use std::ops::Range;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use futures::TryStreamExt as _;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};
use weft_blob::{Grant, ObjectKey};
use weft_core::WeftError;
use weft_indexd::query::Params;
use weft_indexd::upload::{LandedObject, Part, Publish, UploadRequest, body_expires_in};

use crate::error::ApiError;
use crate::extract::{Body as RawBody, Creds, Query};
use crate::schemas::IndexdError;

type Res = Result<Response, ApiError>;

/// fence's data API's part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        download,
        local,
        local_put,
        buckets,
        upload,
        upload_guid,
        multipart_init,
        multipart_upload,
        multipart_complete,
        delete_file,
    ),
    components(schemas(IndexdError))
)]
pub(crate) struct Api;

/// The error answers of a request with a fence token (`{"error": ...}`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum DataErrors {
    #[response(
        status = 400,
        description = "Malformed request (body, parameter, protocol, bucket, file name)"
    )]
    BadRequest(IndexdError),
    #[response(status = 401, description = "No or unusable token")]
    Unauthorized(IndexdError),
    #[response(
        status = 403,
        description = "The token lacks the `data` scope or the policy denies it"
    )]
    Forbidden(IndexdError),
    #[response(status = 404, description = "No such record")]
    NotFound(IndexdError),
}

/// The error answers of a request that also reads a JSON body.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum DataBodyErrors {
    #[response(
        status = 400,
        description = "Malformed body, a missing argument, a bad protocol, bucket or file name"
    )]
    BadRequest(IndexdError),
    #[response(status = 401, description = "No or unusable token")]
    Unauthorized(IndexdError),
    #[response(
        status = 403,
        description = "The token lacks the `data` scope or the policy denies it"
    )]
    Forbidden(IndexdError),
    #[response(status = 413, description = "Body over max_body_bytes")]
    TooLarge(IndexdError),
}

/// A record's GUID (it may contain `/`: `dg.1234/uuid`).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct GuidPath {
    /// A did of the index (with or without the configured prefix).
    guid: String,
}

/// The object key of a local object (it may contain `/`).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct KeyPath {
    /// `{guid}/{file_name}` for uploads.
    key: String,
}

/// Bytes of an object (`application/octet-stream`).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub(crate) struct ObjectBytes(Vec<u8>);

/// `{"url": ...}`: a signed URL.
#[derive(Serialize, ToSchema)]
pub(crate) struct DataUrl {
    url: String,
}

/// What fence's data API's handlers reach.
pub struct DataState {
    pub index: std::sync::Arc<weft_indexd::IndexService>,
    /// Signs download URLs.
    pub access: std::sync::Arc<dyn weft_indexd::drs::AccessSigner>,
    /// fence's upload flow.
    pub uploads: std::sync::Arc<dyn weft_indexd::upload::Uploads>,
    pub blobs: std::sync::Arc<weft_blob::Blobs>,
    /// The configured buckets (`/user/data/buckets`).
    pub storage: weft_config::StorageConfig,
}

type SharedState = std::sync::Arc<DataState>;

/// fence's data API's routes.
pub(crate) fn routes() -> crate::routes::Routes<SharedState> {
    crate::routes::Routes::new()
        .route("/user/data/download/{*guid}", get(download))
        .route("/user/data/buckets", get(buckets))
        .route("/user/data/upload", post(upload))
        .route("/user/data/upload/{*guid}", get(upload_guid))
        .route("/user/data/multipart/init", post(multipart_init))
        .route("/user/data/multipart/upload", post(multipart_upload))
        .route("/user/data/multipart/complete", post(multipart_complete))
        .route("/user/data/local/{*key}", get(local).put(local_put))
        // only DELETE is served here; any other method on an unknown `/user/data/...` path
        // is the usual 404, not a 405
        .route(
            "/user/data/{*guid}",
            delete(delete_file).fallback(crate::error::not_found),
        )
}

/// `GET /user/data/buckets`'s answer, as fence: the configured buckets without credentials.
#[derive(Serialize, ToSchema)]
pub(crate) struct DataBuckets {
    /// S3 buckets by name.
    #[serde(rename = "S3_BUCKETS")]
    s3_buckets: std::collections::BTreeMap<String, S3BucketInfo>,
    /// Google Cloud Storage buckets by name.
    #[serde(rename = "GS_BUCKETS")]
    gs_buckets: std::collections::BTreeMap<String, GsBucketInfo>,
}

/// One S3 bucket: its region, and its endpoint when not AWS.
#[derive(Serialize, ToSchema)]
pub(crate) struct S3BucketInfo {
    region: String,
    /// Present for an S3-compatible endpoint (MinIO, Ceph, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    endpoint_url: Option<String>,
}

/// One GCS bucket: nothing but its name (an empty object).
#[derive(Serialize, ToSchema)]
pub(crate) struct GsBucketInfo {}

#[utoipa::path(get, path = "/user/data/buckets", tag = "data",
    summary = "The configured buckets, without credentials (fence)",
    responses((status = 200, description = "S3 and GCS buckets by name", body = DataBuckets)))]
async fn buckets(State(s): State<SharedState>) -> Res {
    let storage = &s.storage;
    let body = DataBuckets {
        s3_buckets: storage
            .s3_buckets
            .iter()
            .map(|(name, b)| {
                let info = S3BucketInfo {
                    region: b.region.clone(),
                    endpoint_url: b.endpoint_url.clone(),
                };
                (name.clone(), info)
            })
            .collect(),
        gs_buckets: storage
            .gs_buckets
            .keys()
            .map(|name| (name.clone(), GsBucketInfo {}))
            .collect(),
    };
    Ok(Json(body).into_response())
}

/// A JSON object body (fence: "wrong Content-Type; expected application/json" otherwise).
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    Ok(weft_indexd::input::parse(body)?)
}

/// `POST /user/data/upload`'s body (`weft_indexd::upload::UploadRequest`).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // the handler reads `UploadRequest`
pub(crate) struct DataUploadBody {
    /// The object's file name (no `/`).
    file_name: String,
    /// New records only: the `authz` the blank record gets (none: `/data_file`'s
    /// `file_upload` permission decides, and the caller becomes the uploader).
    authz: Option<Vec<String>>,
    /// Upload to this existing record instead of a new one.
    guid: Option<String>,
    /// Pick the upload bucket of this kind: `s3`, `gs`, `az` or `file`.
    protocol: Option<String>,
    /// Seconds the URL stays valid (a positive integer, or one as a string; capped).
    #[schema(value_type = Option<u64>, minimum = 1)]
    expires_in: Option<serde_json::Value>,
    /// A bucket name from `data_upload_bucket` / `allowed_data_upload_buckets`.
    bucket: Option<String>,
}

/// A new (or named) record and where to PUT its bytes.
#[derive(Serialize, ToSchema)]
pub(crate) struct DataUploadCreated {
    guid: String,
    /// A presigned PUT URL.
    url: String,
}

/// `POST /user/data/upload`: 201 `{"guid", "url"}`.
#[utoipa::path(post, path = "/user/data/upload", tag = "data",
    summary = "A blank record and a presigned PUT URL for its object (fence)",
    request_body = DataUploadBody, security(("bearer" = [])),
    responses((status = 201, description = "The record and the URL", body = DataUploadCreated), DataBodyErrors,
        (status = 404, description = "No record `guid`", body = IndexdError)))]
async fn upload(
    State(s): State<SharedState>,
    Creds(c): Creds,
    body: Result<RawBody, ApiError>,
) -> Res {
    s.uploads.authenticate(&c).await?;
    let req: UploadRequest = json_body(&body?.0)?;
    let (guid, url) = s.uploads.upload(&c, req).await?;
    Ok((StatusCode::CREATED, Json(DataUploadCreated { guid, url })).into_response())
}

/// `GET /user/data/upload/{guid}`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct UploadUrlQuery {
    /// The object's file name (default: the GUID, `/` as `_`).
    file_name: Option<String>,
    /// `s3`, `gs`, `az` or `file`.
    protocol: Option<String>,
    bucket: Option<String>,
    /// Seconds the URL stays valid (capped).
    #[param(minimum = 1)]
    expires_in: Option<u64>,
}

/// `GET /user/data/upload/{guid}?file_name=&protocol=&bucket=&expires_in=`: `{"url"}`.
#[utoipa::path(get, path = "/user/data/upload/{guid}", tag = "data",
    summary = "A presigned PUT URL for an existing record (fence)",
    params(GuidPath, UploadUrlQuery), security(("bearer" = [])),
    responses((status = 200, description = "The URL", body = DataUrl), DataErrors))]
async fn upload_guid(
    State(s): State<SharedState>,
    guid: Result<Path<String>, PathRejection>,
    Creds(c): Creds,
    query: Result<Query, ApiError>,
) -> Res {
    let guid = path(guid)?;
    let Query(q) = query?;
    let expires_in = expires_in(&q)?;
    let nonempty = |k: &str| q.get(k).filter(|v| !v.is_empty());
    let url = s
        .uploads
        .upload_url(
            &c,
            &guid,
            nonempty("file_name"),
            nonempty("protocol"),
            nonempty("bucket"),
            expires_in,
        )
        .await?;
    Ok(Json(DataUrl { url }).into_response())
}

/// `POST /user/data/multipart/init`'s body (`weft_indexd::upload::UploadRequest`).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // the handler reads `UploadRequest`
pub(crate) struct MultipartInitBody {
    /// The object's file name (no `/`).
    file_name: String,
    /// Upload to this existing record instead of a new one.
    guid: Option<String>,
    /// A bucket name from `data_upload_bucket` / `allowed_data_upload_buckets` (S3 or local).
    bucket: Option<String>,
    /// Checked as in `/user/data/upload`, otherwise unused.
    #[schema(value_type = Option<u64>, minimum = 1)]
    expires_in: Option<serde_json::Value>,
}

/// A started multipart upload.
#[derive(Serialize, ToSchema)]
pub(crate) struct MultipartStarted {
    guid: String,
    #[serde(rename = "uploadId")]
    upload_id: String,
}

/// `POST /user/data/multipart/init`: 201 `{"guid", "uploadId"}`.
#[utoipa::path(post, path = "/user/data/multipart/init", tag = "data",
    summary = "Start a multipart upload to a new blank record (or `guid`) (fence)",
    request_body = MultipartInitBody, security(("bearer" = [])),
    responses((status = 201, description = "The record and the upload id", body = MultipartStarted), DataBodyErrors,
        (status = 404, description = "No record `guid`", body = IndexdError)))]
async fn multipart_init(
    State(s): State<SharedState>,
    Creds(c): Creds,
    body: Result<RawBody, ApiError>,
) -> Res {
    s.uploads.authenticate(&c).await?;
    let req: UploadRequest = json_body(&body?.0)?;
    let (guid, upload_id) = s.uploads.multipart_init(&c, req).await?;
    Ok((
        StatusCode::CREATED,
        Json(MultipartStarted { guid, upload_id }),
    )
        .into_response())
}

/// `POST /user/data/multipart/upload`'s body.
#[derive(Deserialize, ToSchema)]
#[schema(as = MultipartPartBody)]
struct PartRequest {
    /// The upload's object key, `{guid}/{file_name}`.
    #[schema(required = true, nullable = false)]
    key: Option<String>,
    #[serde(rename = "uploadId")]
    #[schema(required = true, nullable = false)]
    upload_id: Option<String>,
    /// 1 to 10000.
    #[serde(rename = "partNumber")]
    #[schema(required = true, nullable = false, minimum = 1, maximum = 10000)]
    part_number: Option<u32>,
    /// Seconds the URL stays valid (a positive integer, or one as a string; capped).
    #[serde(default)]
    #[schema(value_type = Option<u64>, minimum = 1)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    bucket: Option<String>,
}

/// A presigned URL for one part.
#[derive(Serialize, ToSchema)]
pub(crate) struct MultipartPresigned {
    presigned_url: String,
}

/// fence's message for missing arguments.
fn missing(names: &[&str]) -> ApiError {
    WeftError::invalid(format!("missing required arguments: {names:?}")).into()
}

/// `POST /user/data/multipart/upload`: `{"presigned_url"}` for one part.
#[utoipa::path(post, path = "/user/data/multipart/upload", tag = "data",
    summary = "A presigned URL to PUT one part of a multipart upload (fence)",
    request_body = PartRequest, security(("bearer" = [])),
    responses((status = 200, description = "The part's URL", body = MultipartPresigned), DataBodyErrors))]
async fn multipart_upload(
    State(s): State<SharedState>,
    Creds(c): Creds,
    body: Result<RawBody, ApiError>,
) -> Res {
    s.uploads.authenticate(&c).await?;
    let req: PartRequest = json_body(&body?.0)?;
    let expires_in = body_expires_in(req.expires_in.as_ref())?;
    let (Some(key), Some(upload_id), Some(part)) = (&req.key, &req.upload_id, req.part_number)
    else {
        let mut names = vec![];
        for (name, absent) in [
            ("key", req.key.is_none()),
            ("uploadId", req.upload_id.is_none()),
            ("partNumber", req.part_number.is_none()),
        ] {
            if absent {
                names.push(name);
            }
        }
        return Err(missing(&names));
    };
    let url = s
        .uploads
        .multipart_part(&c, key, upload_id, part, req.bucket.as_deref(), expires_in)
        .await?;
    Ok(Json(MultipartPresigned { presigned_url: url }).into_response())
}

/// `POST /user/data/multipart/complete`'s body.
#[derive(Deserialize, ToSchema)]
#[schema(as = MultipartCompleteBody)]
struct CompleteRequest {
    /// The upload's object key, `{guid}/{file_name}`.
    #[schema(required = true, nullable = false)]
    key: Option<String>,
    #[serde(rename = "uploadId")]
    #[schema(required = true, nullable = false)]
    upload_id: Option<String>,
    /// Every part, numbered 1, 2, ... without gaps, with the ETag its PUT answered.
    #[schema(required = true, nullable = false, value_type = Option<Vec<MultipartPart>>)]
    parts: Option<Vec<Part>>,
    #[serde(default)]
    bucket: Option<String>,
    /// Accepted as fence does, unused.
    #[serde(default)]
    #[allow(dead_code)] // accepted as fence does, unused
    #[schema(value_type = Option<u64>)]
    expires_in: Option<serde_json::Value>,
}

/// One part of a completed multipart upload (`weft_indexd::upload::Part`).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)] // the handler reads `Part`
pub(crate) struct MultipartPart {
    #[serde(rename = "PartNumber")]
    #[schema(minimum = 1)]
    part_number: u32,
    #[serde(rename = "ETag")]
    etag: String,
}

/// `{"message": "OK"}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct DataMessage {
    message: &'static str,
}

/// `POST /user/data/multipart/complete`: `{"message": "OK"}`.
#[utoipa::path(post, path = "/user/data/multipart/complete", tag = "data",
    summary = "Finish a multipart upload: its parts become the record's object (fence)",
    request_body = CompleteRequest, security(("bearer" = [])),
    responses((status = 200, description = "Done: `{\"message\": \"OK\"}`", body = DataMessage), DataBodyErrors,
        (status = 404, description = "The upload's record is gone", body = IndexdError),
        (status = 409, description = "The record has its object already", body = IndexdError)))]
async fn multipart_complete(
    State(s): State<SharedState>,
    Creds(c): Creds,
    body: Result<RawBody, ApiError>,
) -> Res {
    s.uploads.authenticate(&c).await?;
    let req: CompleteRequest = json_body(&body?.0)?;
    let (Some(key), Some(upload_id), Some(parts)) = (req.key, req.upload_id, req.parts) else {
        return Err(missing(&["key", "uploadId", "parts"]));
    };
    // run to the end even if the client goes away meanwhile (a record filled must get its
    // object)
    let uploads = s.uploads.clone();
    tokio::spawn(async move {
        uploads
            .multipart_complete(&c, &key, &upload_id, parts, req.bucket.as_deref())
            .await
    })
    .await
    .map_err(WeftError::internal)??;
    Ok(Json(DataMessage { message: "OK" }).into_response())
}

/// `DELETE /user/data/{guid}`: 204.
#[utoipa::path(delete, path = "/user/data/{guid}", tag = "data",
    summary = "Delete the record's stored objects, then the record (fence)",
    params(GuidPath), security(("bearer" = [])),
    responses((status = 204, description = "Deleted"), DataErrors))]
async fn delete_file(
    State(s): State<SharedState>,
    guid: Result<Path<String>, PathRejection>,
    Creds(c): Creds,
) -> Res {
    let guid = path(guid)?;
    s.uploads.delete(&c, &guid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The signature of a URL weft signed for a local object.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct SignedQuery {
    /// Unix seconds until which the URL is valid.
    expires: String,
    /// The HMAC of the URL's grant, hex.
    sig: String,
}

/// What a signed upload URL grants: a whole object for a blank record, or one part.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct SignedPutQuery {
    /// Unix seconds until which the URL is valid.
    expires: String,
    /// The HMAC of the URL's grant, hex.
    sig: String,
    /// An upload: the blank record the object fills.
    guid: Option<String>,
    /// A multipart part (with `part`): the upload's id.
    upload_id: Option<String>,
    /// A multipart part (with `upload_id`): its number.
    part: Option<u32>,
}

/// The error answers of a signed local URL (`{"error": ...}`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum SignedErrors {
    #[response(status = 400, description = "Malformed key or query")]
    BadRequest(IndexdError),
    #[response(
        status = 403,
        description = "No, a malformed, a mismatched or an expired signature, or a URL that grants something else"
    )]
    Forbidden(IndexdError),
    #[response(
        status = 404,
        description = "No such object (GET), no such record (PUT)"
    )]
    NotFound(IndexdError),
}

/// `PUT /user/data/local/{key}?expires=&guid=&sig=` (an upload, which fills blank record
/// `guid`) or `?expires=&upload_id=&part=&sig=` (one part of a multipart upload, answered
/// with its `ETag`). The body streams to disk and is hashed on the way.
#[utoipa::path(put, path = "/user/data/local/{key}", tag = "data",
    summary = "Upload a local object, or one part of a multipart upload, behind a URL weft signed",
    params(KeyPath, SignedPutQuery),
    request_body(content = ObjectBytes, content_type = "application/octet-stream", description = "The object's (or part's) bytes"),
    responses((status = 200, description = "Stored; no body", headers(("ETag" = String, description = "The MD5 of the bytes, quoted"))),
        SignedErrors,
        (status = 409, description = "The record has its object already", body = IndexdError)))]
async fn local_put(
    State(s): State<SharedState>,
    key: Result<Path<String>, PathRejection>,
    query: Result<Query, ApiError>,
    body: axum::body::Body,
) -> Res {
    let key = ObjectKey::parse(&path(key)?).map_err(WeftError::from)?;
    let Query(q) = query?;
    let (Some(expires), Some(sig)) = (q.get("expires"), q.get("sig")) else {
        return Err(WeftError::forbidden("a signed URL needs `expires` and `sig`").into());
    };
    let storage = s.blobs.local();
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    if let Some(guid) = q.get("guid") {
        storage
            .verify_grant(&Grant::Put { guid }, &key, expires, sig, now())
            .await
            .map_err(WeftError::from)?;
        s.uploads.check_blank(guid).await?;
        let staged = storage
            .stage_stream(&key, Box::pin(stream))
            .await
            .map_err(WeftError::from)?;
        let md5 = staged.landed().md5.clone();
        let object = LandedObject {
            url: key.file_url(),
            size: staged.landed().size,
            md5: md5.clone(),
        };
        let publish: Publish = Box::pin(async move {
            staged.publish().await?;
            Ok(())
        });
        // filling the record and publishing the object run to the end even if the client
        // goes away meanwhile (a record filled must get its object)
        let uploads = s.uploads.clone();
        let guid = guid.to_owned();
        tokio::spawn(async move { uploads.landed(&guid, object, publish).await })
            .await
            .map_err(WeftError::internal)??;
        return Ok(etag_response(&md5));
    }
    let (Some(upload_id), Some(part)) = (q.get("upload_id"), q.get("part")) else {
        return Err(WeftError::forbidden("this URL does not allow uploads").into());
    };
    let Ok(part) = part.parse::<u32>() else {
        return Err(WeftError::forbidden("part is not a number").into());
    };
    storage
        .verify_grant(&Grant::Part { upload_id, part }, &key, expires, sig, now())
        .await
        .map_err(WeftError::from)?;
    let landed = storage
        .multipart_put_part(&key, upload_id, part, Box::pin(stream))
        .await
        .map_err(WeftError::from)?;
    Ok(etag_response(&landed.md5))
}

/// 200 with the object's (or part's) MD5 as a quoted `ETag`, as S3 answers a `PUT`.
fn etag_response(md5: &str) -> Response {
    let mut resp = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{md5}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// fence's `expires_in`: absent, or a positive integer (the signer caps it).
pub(crate) fn expires_in(q: &Params) -> Result<Option<u64>, WeftError> {
    match q.get("expires_in") {
        None => Ok(None),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(WeftError::invalid(format!(
                "Requested expiry must be a positive integer; instead got {v}"
            ))),
        },
    }
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(v)| v)
        .map_err(|e| WeftError::invalid(format!("malformed path: {e}")).into())
}

fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// `GET /user/data/download/{guid}`'s query.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct DownloadQuery {
    /// The URL scheme to sign (`s3`, `gs`, `az`, `http`, `https`, `ftp`, `file`; `http`
    /// takes `https` too); default: the record's first URL.
    protocol: Option<String>,
    /// Seconds the URL stays valid (capped).
    #[param(minimum = 1)]
    expires_in: Option<u64>,
    /// Present (any value): answer 302 to the URL instead of `{"url"}`.
    redirect: Option<String>,
}

/// `GET /user/data/download/{guid}?protocol=&expires_in=&redirect`: `{"url": signed URL}`.
#[utoipa::path(get, path = "/user/data/download/{guid}", tag = "data",
    summary = "A signed download URL for the record's object (fence)",
    params(GuidPath, DownloadQuery), security((), ("bearer" = [])),
    responses((status = 200, description = "The signed URL", body = DataUrl),
        (status = 302, description = "With `redirect`: to the signed URL; no body", headers(("Location" = String, description = "The signed URL"))),
        DataErrors))]
async fn download(
    State(s): State<SharedState>,
    guid: Result<Path<String>, PathRejection>,
    Creds(c): Creds,
    query: Result<Query, ApiError>,
) -> Res {
    let guid = path(guid)?;
    let Query(q) = query?;
    let expires_in = expires_in(&q)?;
    let protocol = q.get("protocol").filter(|p| !p.is_empty());
    let record = s.index.get(&guid).await?;
    let url = weft_blob::select_url(&record.urls, protocol)?;
    let signed = s.access.access_url(&c, &record, url, expires_in).await?;
    if q.has("redirect") {
        // fence (flask.redirect) answers 302
        let location = HeaderValue::from_str(&signed).map_err(WeftError::internal)?;
        return Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response());
    }
    Ok(Json(DataUrl { url: signed }).into_response())
}

/// What a `Range` header asks of an object of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Wanted {
    All,
    Part(Range<u64>),
    Unsatisfiable,
}

/// One `bytes=` range (`a-b`, `a-`, `-n`), parsed by `http-range-header`; anything else
/// (other units, several ranges, bad syntax) is ignored and the whole object served, as RFC
/// 9110 allows.
fn wanted(header: Option<&HeaderValue>, size: u64) -> Wanted {
    use http_range_header::RangeUnsatisfiableError;
    let Some(parsed) = header
        .and_then(|h| h.to_str().ok())
        .and_then(|h| http_range_header::parse_range_header(h.trim()).ok())
    else {
        return Wanted::All;
    };
    if parsed.len() != 1 {
        return Wanted::All;
    }
    match parsed.validate(size) {
        Ok(ranges) => ranges.first().map_or(Wanted::Unsatisfiable, |r| {
            Wanted::Part(*r.start()..r.end().saturating_add(1))
        }),
        Err(RangeUnsatisfiableError::Unsatisfiable) => Wanted::Unsatisfiable,
        Err(_) => Wanted::All,
    }
}

/// `GET /user/data/local/{key}?expires=&sig=`: a local object's bytes, if the URL was signed
/// by this commons and has not expired; `Range` supported.
#[utoipa::path(get, path = "/user/data/local/{key}", tag = "data",
    summary = "The bytes of a local object behind a URL weft signed; one bytes Range supported",
    params(KeyPath, SignedQuery,
        ("Range" = Option<String>, Header, nullable = false, description = "One `bytes=` range (`a-b`, `a-`, `-n`); anything else is ignored")),
    responses((status = 200, description = "The whole object", content_type = "application/octet-stream", body = ObjectBytes,
            headers(("Accept-Ranges" = String), ("Content-Length" = u64))),
        (status = 206, description = "The range asked for", content_type = "application/octet-stream", body = ObjectBytes,
            headers(("Content-Range" = String, description = "`bytes a-b/size`"), ("Content-Length" = u64))),
        (status = 416, description = "The range is past the object's end", body = IndexdError,
            headers(("Content-Range" = String, description = "`bytes */size`"))),
        SignedErrors))]
async fn local(
    State(s): State<SharedState>,
    key: Result<Path<String>, PathRejection>,
    query: Result<Query, ApiError>,
    headers: HeaderMap,
) -> Res {
    let key = ObjectKey::parse(&path(key)?).map_err(WeftError::from)?;
    let Query(q) = query?;
    let (Some(expires), Some(sig)) = (q.get("expires"), q.get("sig")) else {
        return Err(WeftError::forbidden("a signed URL needs `expires` and `sig`").into());
    };
    let storage = s.blobs.local();
    storage
        .verify(&key, expires, sig, now())
        .await
        .map_err(WeftError::from)?;
    let size = storage.size(&key).await.map_err(WeftError::from)?;
    let (status, range) = match wanted(headers.get(header::RANGE), size) {
        Wanted::All => (StatusCode::OK, None),
        Wanted::Part(r) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        Wanted::Unsatisfiable => {
            let mut resp = (
                StatusCode::RANGE_NOT_SATISFIABLE,
                Json(
                    json!({"error": format!("range not satisfiable: the object has {size} bytes")}),
                ),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{size}")) {
                resp.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return Ok(resp);
        }
    };
    let object = storage.get(&key, range).await.map_err(WeftError::from)?;
    let mut resp = Response::new(Body::from_stream(object.body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    h.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(object.range.end - object.range.start),
    );
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{}",
            object.range.start,
            object.range.end - 1,
            object.size
        ))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(h: &str, size: u64) -> Wanted {
        wanted(Some(&HeaderValue::from_str(h).unwrap()), size)
    }

    #[test]
    fn ranges() {
        assert_eq!(wanted(None, 10), Wanted::All);
        assert_eq!(w("bytes=2-5", 10), Wanted::Part(2..6));
        assert_eq!(w("bytes=2-", 10), Wanted::Part(2..10));
        assert_eq!(w("bytes=2-100", 10), Wanted::Part(2..10));
        assert_eq!(w("bytes=-3", 10), Wanted::Part(7..10));
        assert_eq!(w("bytes=-30", 10), Wanted::Part(0..10));
        assert_eq!(w("bytes=10-", 10), Wanted::Unsatisfiable);
        assert_eq!(w("bytes=10-20", 10), Wanted::Unsatisfiable);
        assert_eq!(w("bytes=-0", 10), Wanted::Unsatisfiable);
        assert_eq!(w("bytes=0-", 0), Wanted::Unsatisfiable);
        assert_eq!(w("bytes=5-3", 10), Wanted::All);
        assert_eq!(w("bytes=0-1,4-5", 10), Wanted::All);
        assert_eq!(w("items=0-1", 10), Wanted::All);
        assert_eq!(w("bytes=x-1", 10), Wanted::All);
        assert_eq!(w("bytes= 2-5", 10), Wanted::Part(2..6));
        assert_eq!(w("bytes=-5", 0), Wanted::Unsatisfiable);
        assert_eq!(w("bytes=9-9", 10), Wanted::Part(9..10));
    }

    /// Malformed ranges are ignored: the whole object, 200, never a 4xx or a panic.
    #[test]
    fn malformed_ranges_serve_everything() {
        for h in [
            "bytes=",
            "bytes=-",
            "bytes=1-2-3",
            "bytes=+1-2",
            "bytes=1--2",
            "bytes=a",
            "bytes=,",
            "bytes",
            "",
            "0-1",
            "bytes=5-3,",
        ] {
            assert_eq!(w(h, 10), Wanted::All, "{h:?}");
        }
        // an empty list element is no second range (RFC 9110 lists allow them)
        assert_eq!(w("bytes=0-1,", 10), Wanted::Part(0..2));
        // a number past u64 asks for bytes no object has
        assert_eq!(
            w("bytes=99999999999999999999999-", 10),
            Wanted::Unsatisfiable
        );
    }
}
