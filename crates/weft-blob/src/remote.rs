//! Cloud object stores (S3, GCS, Azure Blob): where their presigned URLs plug in.
//!
//! Each is an `object_store` store that implements `object_store::signer::Signer`
//! (`AmazonS3`, `GoogleCloudStorage`, `MicrosoftAzure`, behind object_store's `aws`, `gcp`
//! and `azure` features). A [`Presigner`] for one of them parses the record URL into bucket
//! and key, picks the store configured for that bucket, and returns
//! `signer.signed_url(Method::GET, &key, ttl)`. None is configured yet, so `s3://`, `gs://`
//! and `az://` records answer "no credentials configured for <scheme>".

use std::time::Duration;

use async_trait::async_trait;

use crate::BlobError;

/// Turns a stored cloud URL (`s3://bucket/key`, …) into a presigned GET URL.
#[async_trait]
pub trait Presigner: Send + Sync + 'static {
    async fn presign_get(&self, url: &str, ttl: Duration) -> Result<String, BlobError>;
}
