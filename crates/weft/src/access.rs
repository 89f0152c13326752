//! Signed access to data objects: the `AccessSigner` behind fence's
//! `/user/data/download/{guid}` and DRS `/access/{access_id}`, on weft-blob's stores.
//!
//! The rules are fence's: a public record (see `weft_indexd::drs::is_public`) is readable
//! by anyone, any other needs `fence` `read-storage` on every `authz` path (through the same
//! `Authorizer` as the index service). The URL lives at most `storage.max_presigned_url_ttl`
//! seconds, the default too.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use weft_blob::{BlobError, Blobs, KeySource, LocalStorage};
use weft_core::WeftError;
use weft_indexd::drs::{AccessSigner, is_public};
use weft_indexd::{Authorizer, Credentials};
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

/// The object stores, as configured: local storage under `root`, URLs under `base_url`.
pub async fn blobs(
    root: &Path,
    base_url: &str,
    identity: Arc<dyn IdentityStore>,
) -> anyhow::Result<Blobs> {
    let source = Arc::new(SigningKeySecrets { store: identity });
    let local = LocalStorage::open(root, base_url, source)
        .await
        .map_err(|e| anyhow::anyhow!("local storage {}: {e}", root.display()))?;
    Ok(Blobs::new(local))
}

/// Checks the policy, then signs the record's URL.
pub struct SignedAccess {
    pub authorizer: Arc<dyn Authorizer>,
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
        if !is_public(record) {
            self.authorizer
                .authorize(credentials, "fence", "read-storage", &record.authz)
                .await?;
        }
        let ttl = expires_in.unwrap_or(self.max_ttl).min(self.max_ttl);
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        Ok(self
            .blobs
            .signed_url(url, Duration::from_secs(ttl), now)
            .await?)
    }
}
