//! fence's upload flow, as a seam: the HTTP layer parses fence's requests into these types
//! and calls [`Uploads`]; the binary implements it on the policy engine, the token verifier,
//! this crate's [`IndexService`](crate::IndexService) (blank records) and the object stores.

use std::pin::Pin;

use async_trait::async_trait;
use serde::Deserialize;
use weft_core::WeftError;

use crate::Credentials;

/// `POST /user/data/upload` and `POST /user/data/multipart/init`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct UploadRequest {
    pub file_name: Option<String>,
    /// New records only: the `authz` the blank record gets.
    #[serde(default)]
    pub authz: Option<Vec<String>>,
    /// Upload to this existing record instead of a new one.
    #[serde(default)]
    pub guid: Option<String>,
    /// `s3`, `gs`, `az` or `file`: pick the upload bucket of that kind.
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub expires_in: Option<serde_json::Value>,
    /// A bucket name from `data_upload_bucket` / `allowed_data_upload_buckets`.
    #[serde(default)]
    pub bucket: Option<String>,
}

/// One part of `POST /user/data/multipart/complete`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Part {
    #[serde(rename = "PartNumber")]
    pub part_number: u32,
    #[serde(rename = "ETag")]
    pub etag: String,
}

/// Makes a staged upload visible (see [`Uploads::landed`]).
pub type Publish = Pin<Box<dyn Future<Output = Result<(), WeftError>> + Send + 'static>>;

/// A finished upload: the record is filled with these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LandedObject {
    pub url: String,
    pub size: u64,
    pub md5: String,
}

#[async_trait]
pub trait Uploads: Send + Sync + 'static {
    /// Whether `creds` can start or continue an upload at all (a token with the `data`
    /// scope): checked before the request body is read.
    async fn authenticate(&self, creds: &Credentials) -> Result<(), WeftError> {
        let _ = creds;
        Ok(())
    }

    /// `POST /user/data/upload`: a blank record (or `guid`'s) and a presigned PUT URL;
    /// returns `(guid, url)`.
    async fn upload(
        &self,
        creds: &Credentials,
        req: UploadRequest,
    ) -> Result<(String, String), WeftError>;

    /// `GET /user/data/upload/{guid}`: a presigned PUT URL for an existing record.
    async fn upload_url(
        &self,
        creds: &Credentials,
        guid: &str,
        file_name: Option<&str>,
        protocol: Option<&str>,
        bucket: Option<&str>,
        expires_in: Option<u64>,
    ) -> Result<String, WeftError>;

    /// `POST /user/data/multipart/init`: returns `(guid, uploadId)`.
    async fn multipart_init(
        &self,
        creds: &Credentials,
        req: UploadRequest,
    ) -> Result<(String, String), WeftError>;

    /// `POST /user/data/multipart/upload`: a presigned URL for one part.
    async fn multipart_part(
        &self,
        creds: &Credentials,
        key: &str,
        upload_id: &str,
        part: u32,
        bucket: Option<&str>,
        expires_in: Option<u64>,
    ) -> Result<String, WeftError>;

    /// `POST /user/data/multipart/complete`.
    async fn multipart_complete(
        &self,
        creds: &Credentials,
        key: &str,
        upload_id: &str,
        parts: Vec<Part>,
        bucket: Option<&str>,
    ) -> Result<(), WeftError>;

    /// `DELETE /user/data/{guid}`: the record's objects, then the record.
    async fn delete(&self, creds: &Credentials, guid: &str) -> Result<(), WeftError>;

    /// Before a signed local upload for `guid` is accepted: the record must still be blank.
    async fn check_blank(&self, guid: &str) -> Result<(), WeftError>;

    /// A signed local upload is staged: fill record `guid` (this decides between uploads
    /// racing for it; a loser gets 409 and `publish` is dropped unrun, which removes its
    /// bytes), then `publish` it (make the object visible). A failed publish leaves the
    /// record blank.
    async fn landed(
        &self,
        guid: &str,
        object: LandedObject,
        publish: Publish,
    ) -> Result<(), WeftError>;
}

/// fence's `expires_in` in a JSON body: absent/null, or a positive integer (number or
/// numeric string); anything else is 400 with fence's message.
pub fn body_expires_in(v: Option<&serde_json::Value>) -> Result<Option<u64>, WeftError> {
    let bad = |v: &serde_json::Value| {
        WeftError::invalid(format!(
            "Requested expiry must be a positive integer; instead got {v}"
        ))
    };
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(n @ serde_json::Value::Number(_)) => match n.as_u64() {
            Some(x) if x > 0 => Ok(Some(x)),
            _ => Err(bad(n)),
        },
        Some(s @ serde_json::Value::String(t)) => match t.parse::<u64>() {
            Ok(x) if x > 0 => Ok(Some(x)),
            _ => Err(bad(s)),
        },
        Some(other) => Err(bad(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiry_in_bodies() {
        assert_eq!(body_expires_in(None).unwrap(), None);
        assert_eq!(body_expires_in(Some(&json!(null))).unwrap(), None);
        assert_eq!(body_expires_in(Some(&json!(60))).unwrap(), Some(60));
        assert_eq!(body_expires_in(Some(&json!("60"))).unwrap(), Some(60));
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("x"),
            json!([1]),
            json!(true),
        ] {
            assert!(body_expires_in(Some(&bad)).is_err(), "{bad}");
        }
    }
}
