//! Cloud object stores (S3, GCS, Azure Blob) through `object_store`: presigned URLs
//! (`object_store::signer::Signer`), S3 multipart uploads (`MultipartStore` plus presigned
//! part URLs), and reading an object back to fill its index record.
//!
//! Every bucket is configured by name; a record URL `s3://<bucket>/<key>`,
//! `gs://<bucket>/<key>` or `az://<container>/<blob>` (or an Azure `https` URL under a
//! configured container) reaches it. HTTP goes through weft's one `reqwest` client stack
//! ([`ReqwestConnector`]), so object_store pulls in no second TLS implementation.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use http_body_util::BodyExt as _;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::azure::{MicrosoftAzure, MicrosoftAzureBuilder};
use object_store::client::{
    ClientOptions, HttpClient, HttpConnector, HttpError, HttpErrorKind, HttpRequest, HttpResponse,
    HttpResponseBody, HttpService,
};
use object_store::gcp::{
    GcpCredential, GcpSigningCredential, GoogleCloudStorage, GoogleCloudStorageBuilder,
    ServiceAccountKey,
};
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path;
use object_store::signer::{SignedUrlOptions, Signer};
use object_store::{ObjectStore, ObjectStoreExt as _, StaticCredentialProvider};

use crate::BlobError;

/// object_store's HTTP through reqwest 0.12 (the workspace's client, rustls on ring).
#[derive(Debug, Clone)]
pub struct ReqwestConnector {
    client: reqwest::Client,
    /// For reading whole objects: no total timeout, only between reads.
    streaming: reqwest::Client,
}

impl ReqwestConnector {
    pub fn new() -> Result<Self, BlobError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300))
            .build()
            .map_err(storage_error)?;
        let streaming = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(storage_error)?;
        Ok(Self { client, streaming })
    }
}

#[derive(Debug)]
struct ReqwestService(reqwest::Client);

#[async_trait]
impl HttpService for ReqwestService {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let (parts, body) = req.into_parts();
        // Request bodies object_store sends are small (XML, JSON) or already in memory.
        let body = body
            .collect()
            .await
            .map_err(|e| HttpError::new(HttpErrorKind::Request, e))?
            .to_bytes();
        let url = reqwest::Url::parse(&parts.uri.to_string())
            .map_err(|e| HttpError::new(HttpErrorKind::Request, e))?;
        let mut request = reqwest::Request::new(parts.method, url);
        *request.headers_mut() = parts.headers;
        *request.body_mut() = Some(body.into());
        let response = self.0.execute(request).await.map_err(|e| {
            let kind = if e.is_connect() {
                HttpErrorKind::Connect
            } else if e.is_timeout() {
                HttpErrorKind::Timeout
            } else {
                HttpErrorKind::Unknown
            };
            HttpError::new(kind, e)
        })?;
        let response: http::Response<reqwest::Body> = response.into();
        let (parts, body) = response.into_parts();
        let body =
            HttpResponseBody::new(body.map_err(|e| HttpError::new(HttpErrorKind::Decode, e)));
        Ok(HttpResponse::from_parts(parts, body))
    }
}

impl HttpConnector for ReqwestConnector {
    fn connect(&self, _options: &ClientOptions) -> object_store::Result<HttpClient> {
        Ok(HttpClient::new(ReqwestService(self.client.clone())))
    }
}

fn storage_error(e: impl std::fmt::Display) -> BlobError {
    BlobError::Storage(e.to_string())
}

fn map_error(url: &str, e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound(format!("no object {url}")),
        e => storage_error(e),
    }
}

/// How to reach one S3 bucket.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub region: String,
    pub endpoint: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub path_style: bool,
    pub allow_http: bool,
}

/// How to reach one GCS bucket.
#[derive(Debug, Clone, Default)]
pub struct GcsSettings {
    /// The service-account key file's contents (JSON).
    pub service_account_key: Option<String>,
    /// Another endpoint (an emulator): object requests skip OAuth, URLs are still signed
    /// with the key.
    pub endpoint: Option<String>,
    pub allow_http: bool,
}

/// How to reach one Azure container.
#[derive(Debug, Clone, Default)]
pub struct AzureSettings {
    pub account: String,
    pub access_key: Option<String>,
    /// The account's blob endpoint; default `https://<account>.blob.core.windows.net`.
    pub endpoint: Option<String>,
    pub allow_http: bool,
}

enum Backend {
    S3(AmazonS3),
    Gcs(GoogleCloudStorage),
    Azure(MicrosoftAzure),
}

/// One configured bucket (or Azure container).
pub struct Bucket {
    scheme: &'static str,
    name: String,
    /// For Azure: `<endpoint>/<container>/`, the `https` spelling of its blob URLs.
    https_prefix: Option<String>,
    backend: Backend,
    streaming: reqwest::Client,
}

/// The fields of a service-account key file weft reads itself (for emulators).
#[derive(serde::Deserialize)]
struct KeyFile {
    client_email: String,
    private_key: String,
}

impl Bucket {
    pub fn s3(name: &str, s: &S3Settings, http: &ReqwestConnector) -> Result<Self, BlobError> {
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(name)
            .with_region(&s.region)
            .with_allow_http(s.allow_http)
            .with_virtual_hosted_style_request(!s.path_style)
            .with_http_connector(http.clone());
        if let Some(e) = &s.endpoint {
            b = b.with_endpoint(e.trim_end_matches('/'));
        }
        if let (Some(id), Some(secret)) = (&s.access_key_id, &s.secret_access_key) {
            b = b.with_access_key_id(id).with_secret_access_key(secret);
        }
        if let Some(t) = &s.session_token {
            b = b.with_token(t);
        }
        let store = b.build().map_err(storage_error)?;
        Ok(Self {
            scheme: "s3",
            name: name.to_owned(),
            https_prefix: None,
            backend: Backend::S3(store),
            streaming: http.streaming.clone(),
        })
    }

    pub fn gcs(name: &str, s: &GcsSettings, http: &ReqwestConnector) -> Result<Self, BlobError> {
        let mut b = GoogleCloudStorageBuilder::new()
            .with_bucket_name(name)
            .with_client_options(ClientOptions::new().with_allow_http(s.allow_http))
            .with_http_connector(http.clone());
        match (&s.endpoint, &s.service_account_key) {
            (Some(endpoint), Some(key)) => {
                let key: KeyFile = serde_json::from_str(key)
                    .map_err(|e| storage_error(format!("service account key: {e}")))?;
                let private = ServiceAccountKey::from_pem(key.private_key.as_bytes())
                    .map_err(storage_error)?;
                b = b
                    .with_base_url(endpoint.trim_end_matches('/'))
                    .with_credentials(Arc::new(StaticCredentialProvider::new(GcpCredential {
                        bearer: String::new(),
                    })))
                    .with_signing_credentials(Arc::new(StaticCredentialProvider::new(
                        GcpSigningCredential {
                            email: key.client_email,
                            private_key: Some(private),
                        },
                    )));
            }
            (Some(_), None) => {
                return Err(storage_error(format!(
                    "gs bucket {name}: an endpoint_url needs a service_account_key"
                )));
            }
            (None, Some(key)) => b = b.with_service_account_key(key),
            (None, None) => {}
        }
        let store = b.build().map_err(storage_error)?;
        Ok(Self {
            scheme: "gs",
            name: name.to_owned(),
            https_prefix: None,
            backend: Backend::Gcs(store),
            streaming: http.streaming.clone(),
        })
    }

    pub fn azure(
        name: &str,
        s: &AzureSettings,
        http: &ReqwestConnector,
    ) -> Result<Self, BlobError> {
        let endpoint = s
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://{}.blob.core.windows.net", s.account));
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let mut b = MicrosoftAzureBuilder::new()
            .with_account(&s.account)
            .with_container_name(name)
            .with_endpoint(endpoint.clone())
            .with_allow_http(s.allow_http)
            .with_http_connector(http.clone());
        if let Some(k) = &s.access_key {
            b = b.with_access_key(k);
        }
        let store = b.build().map_err(storage_error)?;
        Ok(Self {
            scheme: "az",
            name: name.to_owned(),
            https_prefix: Some(format!("{endpoint}/{name}/")),
            backend: Backend::Azure(store),
            streaming: http.streaming.clone(),
        })
    }

    #[must_use]
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `https` spelling of the container's blob URLs (Azure only).
    #[must_use]
    pub fn https_prefix(&self) -> Option<&str> {
        self.https_prefix.as_deref()
    }

    /// The record URL of `key` in this bucket.
    #[must_use]
    pub fn object_url(&self, key: &str) -> String {
        format!("{}://{}/{key}", self.scheme, self.name)
    }

    fn store(&self) -> &dyn ObjectStore {
        match &self.backend {
            Backend::S3(s) => s,
            Backend::Gcs(s) => s,
            Backend::Azure(s) => s,
        }
    }

    fn signer(&self) -> &dyn Signer {
        match &self.backend {
            Backend::S3(s) => s,
            Backend::Gcs(s) => s,
            Backend::Azure(s) => s,
        }
    }

    /// A presigned URL for `method` on `key`.
    pub async fn presign(
        &self,
        method: http::Method,
        key: &str,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        let url = self
            .signer()
            .signed_url(method, &Path::from(key), ttl)
            .await
            .map_err(storage_error)?;
        Ok(url.to_string())
    }

    /// A presigned URL to upload `key` with one `PUT` (Azure also wants the header
    /// `x-ms-blob-type: BlockBlob`).
    pub async fn presign_put(&self, key: &str, ttl: Duration) -> Result<String, BlobError> {
        self.presign(http::Method::PUT, key, ttl).await
    }

    /// Start a multipart upload of `key`; S3 only.
    pub async fn multipart_init(&self, key: &str) -> Result<String, BlobError> {
        let Backend::S3(s3) = &self.backend else {
            return Err(self.no_multipart());
        };
        s3.create_multipart(&Path::from(key))
            .await
            .map_err(storage_error)
    }

    fn no_multipart(&self) -> BlobError {
        BlobError::Unsupported(format!(
            "multipart uploads are served for s3 and local storage, not {}",
            self.scheme
        ))
    }

    /// A presigned `UploadPart` URL (part numbers start at 1).
    pub async fn multipart_part_url(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        let Backend::S3(s3) = &self.backend else {
            return Err(self.no_multipart());
        };
        let options = SignedUrlOptions::default().with_query([
            ("partNumber", part.to_string()),
            ("uploadId", upload_id.to_owned()),
        ]);
        let url = s3
            .signed_url_opts(http::Method::PUT, &Path::from(key), ttl, &options)
            .await
            .map_err(storage_error)?;
        Ok(url.to_string())
    }

    /// Complete a multipart upload from its parts' ETags, in part order (1, 2, …).
    pub async fn multipart_complete(
        &self,
        key: &str,
        upload_id: &str,
        etags: Vec<String>,
    ) -> Result<(), BlobError> {
        let Backend::S3(s3) = &self.backend else {
            return Err(self.no_multipart());
        };
        let parts = etags
            .into_iter()
            .map(|content_id| PartId { content_id })
            .collect();
        s3.complete_multipart(&Path::from(key), &upload_id.to_owned(), parts)
            .await
            .map_err(|e| BlobError::Invalid(format!("completing the multipart upload: {e}")))?;
        Ok(())
    }

    /// The object's bytes as a stream, and its size.
    pub async fn read(
        &self,
        key: &str,
    ) -> Result<(u64, BoxStream<'static, io::Result<bytes::Bytes>>), BlobError> {
        if let Backend::Gcs(_) = self.backend {
            // object_store's GCS object requests percent-encode every character of the key
            // (`a%2Fb%2Ebin`), which GCS accepts but its emulators do not route; a signed
            // GET is the request any client makes, so weft reads GCS objects that way.
            return self.read_signed(key).await;
        }
        let got = self
            .store()
            .get(&Path::from(key))
            .await
            .map_err(|e| map_error(&self.object_url(key), e))?;
        let size = got.meta.size;
        Ok((size, got.into_stream().map_err(io::Error::other).boxed()))
    }

    async fn read_signed(
        &self,
        key: &str,
    ) -> Result<(u64, BoxStream<'static, io::Result<bytes::Bytes>>), BlobError> {
        let url = self
            .presign(http::Method::GET, key, Duration::from_secs(600))
            .await?;
        let resp = self
            .streaming
            .get(url)
            .send()
            .await
            .map_err(storage_error)?;
        match resp.status().as_u16() {
            200 => {}
            404 => {
                return Err(BlobError::NotFound(format!(
                    "no object {}",
                    self.object_url(key)
                )));
            }
            s => {
                return Err(storage_error(format!(
                    "reading {}: HTTP {s}",
                    self.object_url(key)
                )));
            }
        }
        let size = resp
            .content_length()
            .ok_or_else(|| storage_error("the store sent no Content-Length"))?;
        let body = futures::stream::try_unfold(resp, |mut r| async move {
            match r.chunk().await {
                Ok(Some(chunk)) => Ok(Some((chunk, r))),
                Ok(None) => Ok(None),
                Err(e) => Err(io::Error::other(e)),
            }
        });
        Ok((size, body.boxed()))
    }

    /// Delete the object (absent is fine).
    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        match self.store().delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(storage_error(e)),
        }
    }
}
