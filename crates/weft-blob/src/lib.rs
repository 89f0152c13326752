//! weft-blob: where the bytes of data objects live, and the time-limited URLs that reach them.
//!
//! It owns the object stores (through the `object_store` crate), the mapping from a record's
//! URL to an object, and URL signing per scheme: `file:///<key>` objects under the local
//! root get weft's own HMAC-signed URLs (`<base>/user/data/local/<key>?expires=&sig=`, served
//! by weft, for downloads, uploads and multipart parts); `s3://`, `gs://` and `az://` objects
//! (and Azure `https` blob URLs) get the store's presigned URL when their bucket is
//! configured ([`remote::Bucket`]); other schemes (`https`, `http`, `ftp`) are returned as
//! stored, as fence does. It also reads uploaded objects back (size, MD5) so their records
//! can be filled. It must never decide who may read or write an object: callers check the
//! policy first.

pub mod key;
pub mod local;
pub mod remote;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use weft_core::{ErrorCode, WeftError};

pub use key::ObjectKey;
pub use local::{
    Grant, KeySource, Landed, LocalStorage, MultipartUpload, Object, Staged, StaticKeys,
};
pub use remote::{AzureSettings, Bucket, GcsSettings, ReqwestConnector, S3Settings};

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
    /// A request the store cannot satisfy as asked (bad upload id, wrong ETag, …).
    #[error("{0}")]
    Invalid(String),
    /// Something this kind of store does not do (multipart uploads to GCS, …).
    #[error("{0}")]
    Unsupported(String),
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
            BlobError::Invalid(m) | BlobError::Unsupported(m) => WeftError::invalid(m),
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

/// Where a record URL's bytes are.
pub enum Location<'a> {
    /// Local storage.
    Local(ObjectKey),
    /// A configured cloud bucket, and the key in it.
    Cloud(&'a Bucket, String),
    /// A URL weft hands out as stored (`https`, `ftp`, …).
    External,
}

/// Every store weft reaches, by URL scheme.
pub struct Blobs {
    local: LocalStorage,
    /// `(scheme, bucket name)` → bucket.
    buckets: HashMap<(String, String), Arc<Bucket>>,
}

impl Blobs {
    #[must_use]
    pub fn new(local: LocalStorage) -> Self {
        Self {
            local,
            buckets: HashMap::new(),
        }
    }

    /// Reach `s3://`, `gs://` or `az://` URLs of this bucket.
    #[must_use]
    pub fn with_bucket(mut self, bucket: Bucket) -> Self {
        self.buckets.insert(
            (bucket.scheme().to_owned(), bucket.name().to_owned()),
            Arc::new(bucket),
        );
        self
    }

    #[must_use]
    pub fn local(&self) -> &LocalStorage {
        &self.local
    }

    /// The bucket `scheme://name`, if configured.
    #[must_use]
    pub fn bucket(&self, scheme: &str, name: &str) -> Option<&Bucket> {
        self.buckets
            .get(&(scheme.to_owned(), name.to_owned()))
            .map(AsRef::as_ref)
    }

    /// Where `url`'s bytes are. A cloud scheme whose bucket is not configured is
    /// `NoCredentials`; an Azure `https` URL under a configured container is that container.
    pub fn locate(&self, url: &str) -> Result<Location<'_>, BlobError> {
        match scheme(url) {
            "file" => Ok(Location::Local(ObjectKey::from_file_url(url)?)),
            s @ ("s3" | "gs" | "az") => {
                let rest = &url[s.len() + 3..];
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                match self.bucket(s, bucket) {
                    Some(b) if !key.is_empty() => Ok(Location::Cloud(b, key.to_owned())),
                    Some(_) => Err(BlobError::InvalidKey(format!("no object key in {url}"))),
                    None => Err(BlobError::NoCredentials(s.to_owned())),
                }
            }
            "http" | "https" => Ok(self
                .buckets
                .values()
                .find_map(|b| {
                    let key = url.strip_prefix(b.https_prefix()?)?;
                    (!key.is_empty()).then(|| Location::Cloud(b, key.to_owned()))
                })
                .unwrap_or(Location::External)),
            _ => Ok(Location::External),
        }
    }

    /// A URL the holder may fetch until `now + ttl` (unix seconds) for the stored `url`.
    pub async fn signed_url(
        &self,
        url: &str,
        ttl: Duration,
        now: u64,
    ) -> Result<String, BlobError> {
        match self.locate(url)? {
            Location::Local(key) => self
                .local
                .signed_url(&key, now.saturating_add(ttl.as_secs())),
            Location::Cloud(b, key) => b.presign(http::Method::GET, &key, ttl).await,
            Location::External => Ok(url.to_owned()),
        }
    }

    /// The size and MD5 (hex) of the object at `url`, read through once (streaming).
    pub async fn checksum(&self, url: &str) -> Result<Landed, BlobError> {
        use futures::StreamExt as _;
        use md5::Digest as _;
        let (size, mut body) = match self.locate(url)? {
            Location::Local(key) => {
                let o = self.local.get(&key, None).await?;
                (o.size, o.body)
            }
            Location::Cloud(b, key) => b.read(&key).await?,
            Location::External => {
                return Err(BlobError::Unsupported(format!("weft does not read {url}")));
            }
        };
        let mut md5 = md5::Md5::new();
        let mut read = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| BlobError::Storage(format!("reading {url}: {e}")))?;
            read += chunk.len() as u64;
            md5.update(&chunk);
        }
        if read != size {
            return Err(BlobError::Storage(format!(
                "{url}: read {read} bytes of {size}"
            )));
        }
        Ok(Landed {
            size,
            md5: hex::encode(md5.finalize()),
        })
    }

    /// Delete the object at `url` (absent is fine); URLs weft does not manage are left.
    pub async fn delete(&self, url: &str) -> Result<bool, BlobError> {
        match self.locate(url)? {
            Location::Local(key) => self.local.delete(&key).await.map(|()| true),
            Location::Cloud(b, key) => b.delete(&key).await.map(|()| true),
            Location::External => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn locations_and_presigned_urls() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalStorage::open(
            &dir.path().join("files"),
            "http://h",
            Arc::new(StaticKeys(vec![[1; 32]])),
        )
        .await
        .unwrap();
        let http = ReqwestConnector::new().unwrap();
        let s3 = S3Settings {
            region: "us-east-1".into(),
            access_key_id: Some("AK".into()),
            secret_access_key: Some("SK".into()),
            ..S3Settings::default()
        };
        let az = AzureSettings {
            account: "acct".into(),
            access_key: Some("a2V5a2V5a2V5".into()),
            ..AzureSettings::default()
        };
        let blobs = Blobs::new(local)
            .with_bucket(Bucket::s3("bkt", &s3, &http).unwrap())
            .with_bucket(Bucket::azure("box", &az, &http).unwrap());
        let cloud = |url: &str| match blobs.locate(url).unwrap() {
            Location::Cloud(b, key) => format!("{}://{}/{key}", b.scheme(), b.name()),
            _ => panic!("{url} is not a cloud object"),
        };
        assert_eq!(cloud("s3://bkt/a/b.txt"), "s3://bkt/a/b.txt");
        assert_eq!(cloud("az://box/c"), "az://box/c");
        assert_eq!(
            cloud("https://acct.blob.core.windows.net/box/d/e"),
            "az://box/d/e"
        );
        assert!(matches!(
            blobs.locate("https://acct.blob.core.windows.net/other/d"),
            Ok(Location::External)
        ));
        assert!(matches!(blobs.locate("file:///k"), Ok(Location::Local(_))));
        assert!(matches!(
            blobs.locate("s3://other/k"),
            Err(BlobError::NoCredentials(s)) if s == "s3"
        ));
        assert!(matches!(
            blobs.locate("gs://b/k"),
            Err(BlobError::NoCredentials(_))
        ));
        assert!(matches!(
            blobs.locate("s3://bkt/"),
            Err(BlobError::InvalidKey(_))
        ));

        // presigning makes no request: SigV4 query auth, an Azure SAS
        let url = blobs
            .signed_url("s3://bkt/a/b.txt", Duration::from_secs(60), 0)
            .await
            .unwrap();
        assert!(
            url.starts_with("https://bkt.s3.us-east-1.amazonaws.com/a/b.txt?"),
            "{url}"
        );
        assert!(
            url.contains("X-Amz-Expires=60") && url.contains("X-Amz-Signature="),
            "{url}"
        );
        let url = blobs
            .signed_url("az://box/c", Duration::from_secs(60), 0)
            .await
            .unwrap();
        assert!(
            url.starts_with("https://acct.blob.core.windows.net/box/c?"),
            "{url}"
        );
        assert!(url.contains("sig=") && url.contains("sp=r"), "{url}");
        let put = blobs
            .bucket("s3", "bkt")
            .unwrap()
            .presign_put("g/f", Duration::from_secs(60))
            .await
            .unwrap();
        assert!(put.contains("X-Amz-Signature="), "{put}");
    }

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
