//! Signed access to data objects: the `AccessSigner` behind fence's
//! `/user/data/download/{guid}` and DRS `/access/{access_id}`, on weft-blob's stores.
//!
//! The rules are fence's, in `weft_auth::fence::FenceRules::may_read`: a public record
//! (see `weft_indexd::drs::is_public`) is readable by anyone, a record without `authz` by
//! its `uploader`, any other needs `fence` `read-storage` on every `authz` path (through
//! the same `Authorizer` as the index service). The URL lives at most `storage.max_presigned_url_ttl`
//! seconds, the default too.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use weft_auth::Credentials;
use weft_auth::fence::FenceRules;
use weft_blob::{
    AzureSettings, BlobError, Blobs, Bucket, GcsSettings, KeySource, LocalStorage,
    ReqwestConnector, S3Settings,
};
use weft_config::{Config, Secret};
use weft_core::WeftError;
use weft_indexd::drs::{AccessSigner, is_public};
use weft_store::{IdentityStore, IndexRecord};

/// What the HMAC keys of local URLs are derived for (see `weft_identity::secret`).
const LOCAL_URL_PURPOSE: &str = "local-storage-urls";

/// Local URL keys derived from the token signing keys in the store: shared by every
/// instance on the database, surviving restarts, rotating with the signing keys.
pub struct SigningKeySecrets {
    pub store: Arc<dyn IdentityStore>,
}

#[async_trait]
impl KeySource for SigningKeySecrets {
    async fn keys(&self) -> Result<Vec<[u8; 32]>, BlobError> {
        let keys = self
            .store
            .signing_keys()
            .await
            .map_err(|e| BlobError::Storage(e.to_string()))?;
        Ok(keys
            .iter()
            .map(|k| weft_identity::secret::derived_secret(k, LOCAL_URL_PURPOSE))
            .collect())
    }
}

/// The object stores, as configured: local storage under `config.local_root()` (uploads in
/// progress under `<data_dir>/uploads`), URLs under `base_url`, and every configured S3, GCS
/// and Azure bucket.
pub async fn blobs(
    config: &Config,
    base_url: &str,
    identity: Arc<dyn IdentityStore>,
) -> anyhow::Result<Blobs> {
    let root = config.local_root();
    let source = Arc::new(SigningKeySecrets { store: identity });
    let staging = config.data_dir.join("uploads");
    let local = LocalStorage::open_with_staging(&root, &staging, base_url, source)
        .await
        .map_err(|e| anyhow::anyhow!("local storage {}: {e}", root.display()))?;
    let mut blobs = Blobs::new(local);
    let http = ReqwestConnector::new()?;
    let expose = |s: &Option<Secret>| s.as_ref().map(|s| s.expose().to_owned());
    for (name, b) in &config.storage.s3_buckets {
        let settings = S3Settings {
            region: b.region.clone(),
            endpoint: b.endpoint_url.clone(),
            access_key_id: expose(&b.access_key_id),
            secret_access_key: expose(&b.secret_access_key),
            session_token: expose(&b.session_token),
            path_style: b.path_style.unwrap_or(b.endpoint_url.is_some()),
            allow_http: b.allow_http,
        };
        let bucket = Bucket::s3(name, &settings, &http)
            .map_err(|e| anyhow::anyhow!("storage.s3_buckets.{name}: {e}"))?;
        blobs = blobs.with_bucket(bucket);
    }
    for (name, b) in &config.storage.gs_buckets {
        let key = match &b.service_account_key {
            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("storage.gs_buckets.{name}: {}: {e}", path.display())
            })?),
            None => None,
        };
        let settings = GcsSettings {
            service_account_key: key,
            endpoint: b.endpoint_url.clone(),
            allow_http: b.allow_http,
        };
        let bucket = Bucket::gcs(name, &settings, &http)
            .map_err(|e| anyhow::anyhow!("storage.gs_buckets.{name}: {e}"))?;
        blobs = blobs.with_bucket(bucket);
    }
    for (name, c) in &config.storage.azure_containers {
        let settings = AzureSettings {
            account: c.account.clone(),
            access_key: expose(&c.access_key),
            endpoint: c.endpoint_url.clone(),
            allow_http: c.allow_http,
        };
        let bucket = Bucket::azure(name, &settings, &http)
            .map_err(|e| anyhow::anyhow!("storage.azure_containers.{name}: {e}"))?;
        blobs = blobs.with_bucket(bucket);
    }
    Ok(blobs)
}

/// Checks the policy (fence's read rule), then signs the record's URL.
pub struct SignedAccess {
    pub rules: Arc<FenceRules>,
    pub blobs: Arc<Blobs>,
    /// Longest (and default) lifetime in seconds.
    pub max_ttl: u64,
}

#[async_trait]
impl AccessSigner for SignedAccess {
    async fn access_url(
        &self,
        credentials: &Credentials,
        record: &IndexRecord,
        url: &str,
        expires_in: Option<u64>,
    ) -> Result<String, WeftError> {
        self.rules
            .may_read(credentials, record, is_public(record))
            .await?;
        let ttl = expires_in.unwrap_or(self.max_ttl).min(self.max_ttl);
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        Ok(self
            .blobs
            .signed_url(url, Duration::from_secs(ttl), now)
            .await?)
    }
}
