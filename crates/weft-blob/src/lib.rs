//! weft-blob: where the bytes of data objects live, and the time-limited URLs that reach them.
//!
//! It owns the object stores (through the `object_store` crate), the mapping from a record's
//! URL to an object, and URL signing per scheme: `file:///<key>` objects under the local
//! root get weft's own HMAC-signed URLs (`<base>/user/data/local/<key>?expires=&sig=`, served
//! by weft); `s3://`, `gs://` and `az://` objects get the store's presigned URL through a
//! [`remote::Presigner`] when one is configured for the scheme; other schemes (`https`,
//! `http`, `ftp`) are returned as stored, as fence does. It must never decide who may read
//! an object: callers check the policy first.

pub mod key;
pub mod local;
pub mod remote;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use weft_core::{ErrorCode, WeftError};

pub use key::ObjectKey;
pub use local::{KeySource, LocalStorage, Object, StaticKeys};
pub use remote::Presigner;

/// What can go wrong reaching an object.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// A key or URL that names no object weft may serve (traversal, bad encoding).
    #[error("{0}")]
    InvalidKey(String),
    /// A cloud scheme without a configured presigner.
    #[error("no credentials configured for {0}")]
    NoCredentials(String),
    /// A signed URL that is tampered with, signed by another key, or expired.
    #[error("{0}")]
    BadSignature(String),
    #[error("{0}")]
    NotFound(String),
    #[error("storage error: {0}")]
    Storage(String),
}

impl From<BlobError> for WeftError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::InvalidKey(m) => WeftError::invalid(m),
            e @ BlobError::NoCredentials(_) => WeftError::invalid(e.to_string()),
            BlobError::BadSignature(m) => WeftError::new(ErrorCode::Forbidden, m),
            BlobError::NotFound(m) => WeftError::not_found(m),
            BlobError::Storage(m) => WeftError::internal(m),
        }
    }
}

/// The URL scheme (`s3://b/k` → `s3`), `""` if none.
#[must_use]
pub fn scheme(url: &str) -> &str {
    url.split_once("://").map_or("", |(s, _)| s)
}

/// Protocols a download may ask for (fence's `SUPPORTED_PROTOCOLS`, plus `file` for local
/// objects).
pub const PROTOCOLS: &[&str] = &["s3", "gs", "az", "http", "https", "ftp", "file"];

/// fence's choice among a record's URLs: without `protocol` the first; with one, the first
/// URL of that scheme (`http` also takes `https`). No URL, or none of that scheme: 404; a
/// protocol weft does not know: 400.
pub fn select_url<'a>(urls: &'a [String], protocol: Option<&str>) -> Result<&'a str, WeftError> {
    let Some(p) = protocol else {
        return urls
            .first()
            .map(String::as_str)
            .ok_or_else(|| WeftError::not_found("Can't find any file locations."));
    };
    if !PROTOCOLS.contains(&p) {
        return Err(WeftError::invalid(format!(
            "The specified protocol {p} is not supported"
        )));
    }
    urls.iter()
        .map(String::as_str)
        .find(|u| scheme(u) == p || (p == "http" && scheme(u) == "https"))
        .ok_or_else(|| WeftError::not_found(format!("The file has no location with protocol {p}.")))
}

/// Every store weft reaches, by URL scheme.
pub struct Blobs {
    local: LocalStorage,
    remote: HashMap<String, Arc<dyn Presigner>>,
}

impl Blobs {
    #[must_use]
    pub fn new(local: LocalStorage) -> Self {
        Self {
            local,
            remote: HashMap::new(),
        }
    }

    /// Presign `scheme://` URLs (`s3`, `gs`, `az`) with `presigner`.
    #[must_use]
    pub fn with_presigner(mut self, scheme: &str, presigner: Arc<dyn Presigner>) -> Self {
        self.remote.insert(scheme.to_owned(), presigner);
        self
    }

    #[must_use]
    pub fn local(&self) -> &LocalStorage {
        &self.local
    }

    /// A URL the holder may fetch until `now + ttl` (unix seconds) for the stored `url`.
    pub async fn signed_url(
        &self,
        url: &str,
        ttl: Duration,
        now: u64,
    ) -> Result<String, BlobError> {
        match scheme(url) {
            "file" => {
                let key = ObjectKey::from_file_url(url)?;
                self.local
                    .signed_url(&key, now.saturating_add(ttl.as_secs()))
            }
            s @ ("s3" | "gs" | "az") => match self.remote.get(s) {
                Some(p) => p.presign_get(url, ttl).await,
                None => Err(BlobError::NoCredentials(s.to_owned())),
            },
            _ => Ok(url.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_selection() {
        let urls: Vec<String> = ["s3://b/k", "https://x/k", "file:///k"]
            .map(str::to_owned)
            .into();
        assert_eq!(select_url(&urls, None).unwrap(), "s3://b/k");
        assert_eq!(select_url(&urls, Some("file")).unwrap(), "file:///k");
        assert_eq!(select_url(&urls, Some("http")).unwrap(), "https://x/k");
        assert_eq!(
            select_url(&urls, Some("gs")).unwrap_err().code,
            ErrorCode::NotFound
        );
        assert_eq!(
            select_url(&urls, Some("foo")).unwrap_err().code,
            ErrorCode::InvalidInput
        );
        assert_eq!(select_url(&[], None).unwrap_err().code, ErrorCode::NotFound);
    }
}
