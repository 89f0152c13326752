//! fence's data endpoints under `/user/data/`: signed download and upload URLs (single and
//! multipart), deletes, and the bytes of local objects behind weft's own signed URLs.
//!
//! fence answers errors with HTML pages (clients look only at the status); weft answers
//! `{"error": "..."}` with the same statuses.

use std::ops::Range;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use futures::TryStreamExt as _;
use serde::Deserialize;
use serde_json::json;
use weft_blob::{Grant, ObjectKey};
use weft_core::WeftError;
use weft_indexd::query::Params;
use weft_indexd::upload::{LandedObject, Part, Publish, UploadRequest, body_expires_in};

use crate::SharedState;
use crate::error::ApiError;
use crate::extract::{Body as RawBody, Creds, Query};

type Res = Result<Response, ApiError>;

pub fn router() -> Router<SharedState> {
    Router::new()
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

/// `GET /user/data/buckets`: the configured buckets without credentials, as fence:
/// `{"S3_BUCKETS": {name: {region, endpoint_url?}}, "GS_BUCKETS": {name: {}}}`.
async fn buckets(State(s): State<SharedState>) -> Res {
    let storage = &s.config.storage;
    let s3: serde_json::Map<String, serde_json::Value> = storage
        .s3_buckets
        .iter()
        .map(|(name, b)| {
            let mut v = json!({"region": b.region});
            if let Some(e) = &b.endpoint_url {
                v["endpoint_url"] = json!(e);
            }
            (name.clone(), v)
        })
        .collect();
    let gs: serde_json::Map<String, serde_json::Value> = storage
        .gs_buckets
        .keys()
        .map(|name| (name.clone(), json!({})))
        .collect();
    Ok(Json(json!({"S3_BUCKETS": s3, "GS_BUCKETS": gs})).into_response())
}

/// A JSON object body (fence: "wrong Content-Type; expected application/json" otherwise).
fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    Ok(weft_indexd::input::parse(body)?)
}

/// `POST /user/data/upload`: 201 `{"guid", "url"}`.
async fn upload(
    State(s): State<SharedState>,
    Creds(c): Creds,
    body: Result<RawBody, ApiError>,
) -> Res {
    s.uploads.authenticate(&c).await?;
    let req: UploadRequest = json_body(&body?.0)?;
    let (guid, url) = s.uploads.upload(&c, req).await?;
    Ok((StatusCode::CREATED, Json(json!({"guid": guid, "url": url}))).into_response())
}

/// `GET /user/data/upload/{guid}?file_name=&protocol=&bucket=&expires_in=`: `{"url"}`.
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
    Ok(Json(json!({"url": url})).into_response())
}

/// `POST /user/data/multipart/init`: 201 `{"guid", "uploadId"}`.
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
        Json(json!({"guid": guid, "uploadId": upload_id})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct PartRequest {
    key: Option<String>,
    #[serde(rename = "uploadId")]
    upload_id: Option<String>,
    #[serde(rename = "partNumber")]
    part_number: Option<u32>,
    #[serde(default)]
    expires_in: Option<serde_json::Value>,
    #[serde(default)]
    bucket: Option<String>,
}

/// fence's message for missing arguments.
fn missing(names: &[&str]) -> ApiError {
    WeftError::invalid(format!("missing required arguments: {names:?}")).into()
}

/// `POST /user/data/multipart/upload`: `{"presigned_url"}` for one part.
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
    Ok(Json(json!({"presigned_url": url})).into_response())
}

#[derive(Deserialize)]
struct CompleteRequest {
    key: Option<String>,
    #[serde(rename = "uploadId")]
    upload_id: Option<String>,
    parts: Option<Vec<Part>>,
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    #[allow(dead_code)] // accepted as fence does, unused
    expires_in: Option<serde_json::Value>,
}

/// `POST /user/data/multipart/complete`: `{"message": "OK"}`.
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
    Ok(Json(json!({"message": "OK"})).into_response())
}

/// `DELETE /user/data/{guid}`: 204.
async fn delete_file(
    State(s): State<SharedState>,
    guid: Result<Path<String>, PathRejection>,
    Creds(c): Creds,
) -> Res {
    let guid = path(guid)?;
    s.uploads.delete(&c, &guid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `PUT /user/data/local/{key}?expires=&guid=&sig=` (an upload, which fills blank record
/// `guid`) or `?expires=&upload_id=&part=&sig=` (one part of a multipart upload, answered
/// with its `ETag`). The body streams to disk and is hashed on the way.
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

/// `GET /user/data/download/{guid}?protocol=&expires_in=&redirect`: `{"url": signed URL}`.
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
    Ok(Json(json!({"url": signed})).into_response())
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
