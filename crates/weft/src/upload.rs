//! fence's upload flow on weft's parts: the policy engine decides (fence's rules, below),
//! the index service holds the blank records, `weft-blob` signs the URLs and reads the
//! objects back.
//!
//! Who may do what is fence's rules, in `weft_auth::fence::FenceRules`; this module only
//! wires them to the index service and the object stores.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use weft_auth::fence::FenceRules;
use weft_auth::{Authorized, Credentials};
use weft_blob::{Blobs, Bucket, Location, ObjectKey};
use weft_core::{ErrorCode, WeftError};
use weft_indexd::IndexService;
use weft_indexd::upload::{LandedObject, Part, Publish, UploadRequest, Uploads, body_expires_in};
use weft_store::IndexRecord;

/// Where uploads go: local storage or one configured bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Local,
    /// `(scheme, bucket name)`.
    Cloud(String, String),
}

impl Target {
    /// `file`, `s3://b`, `gs://b`, `az://c`.
    pub fn parse(spelling: &str) -> Option<Self> {
        if spelling == "file" {
            return Some(Self::Local);
        }
        let (scheme, name) = spelling.split_once("://")?;
        let name = name.trim_end_matches('/');
        (matches!(scheme, "s3" | "gs" | "az") && !name.is_empty() && !name.contains('/'))
            .then(|| Self::Cloud(scheme.to_owned(), name.to_owned()))
    }

    fn scheme(&self) -> &str {
        match self {
            Self::Local => "file",
            Self::Cloud(s, _) => s,
        }
    }

    fn name(&self) -> &str {
        match self {
            Self::Local => "file",
            Self::Cloud(_, n) => n,
        }
    }
}

pub struct FenceUploads {
    pub index: Arc<IndexService>,
    /// Who may do what.
    pub rules: Arc<FenceRules>,
    pub blobs: Arc<Blobs>,
    /// Longest (and default) lifetime of a signed URL, seconds.
    pub max_ttl: u64,
    /// The default upload target first, then the other allowed ones.
    pub targets: Vec<Target>,
}

fn now() -> u64 {
    u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0)
}

/// The proof a signed upload URL stands for (weft signed it after the policy check).
fn signed_url_proof() -> Authorized {
    Authorized::granted("signed-upload-url".to_owned(), "fence", "write-storage")
}

impl FenceUploads {
    fn ttl(&self, expires_in: Option<u64>) -> Duration {
        Duration::from_secs(expires_in.unwrap_or(self.max_ttl).min(self.max_ttl))
    }

    /// The upload target for `protocol` and `bucket` (either may be absent): the default
    /// one, or the first allowed one that matches both.
    fn target(&self, protocol: Option<&str>, bucket: Option<&str>) -> Result<&Target, WeftError> {
        if let Some(p) = protocol
            && !["s3", "gs", "az", "file"].contains(&p)
        {
            return Err(WeftError::invalid(format!(
                "The specified protocol {p} is not supported for uploads"
            )));
        }
        self.targets
            .iter()
            .find(|t| {
                protocol.is_none_or(|p| t.scheme() == p) && bucket.is_none_or(|b| t.name() == b)
            })
            .ok_or_else(|| {
                WeftError::invalid(match (protocol, bucket) {
                    (_, Some(b)) => format!("Bucket '{b}' is not configured for data upload"),
                    (Some(p), None) => format!("no upload bucket is configured for protocol {p}"),
                    (None, None) => "no upload bucket is configured".to_owned(),
                })
            })
    }

    fn bucket(&self, target: &Target) -> Result<Option<&Bucket>, WeftError> {
        match target {
            Target::Local => Ok(None),
            Target::Cloud(s, n) => {
                self.blobs.bucket(s, n).map(Some).ok_or_else(|| {
                    WeftError::internal(format!("upload bucket {s}://{n} is not open"))
                })
            }
        }
    }

    /// `{guid}/{file_name}`, checked (no traversal, no control characters, …).
    fn key(guid: &str, file_name: &str) -> Result<ObjectKey, WeftError> {
        if file_name.is_empty() || file_name.contains('/') {
            return Err(WeftError::invalid(format!(
                "file_name {file_name:?} must be a non-empty name without `/`"
            )));
        }
        Ok(ObjectKey::parse(&format!("{guid}/{file_name}"))?)
    }

    /// A presigned PUT URL for `key` of record `guid` in `target`.
    async fn put_url(
        &self,
        target: &Target,
        key: &ObjectKey,
        guid: &str,
        ttl: Duration,
    ) -> Result<String, WeftError> {
        match self.bucket(target)? {
            None => Ok(self.blobs.local().signed_put_url(
                key,
                guid,
                now().saturating_add(ttl.as_secs()),
            )?),
            Some(b) => Ok(b.presign_put(key.as_str(), ttl).await?),
        }
    }

    /// The new blank record (or the existing `guid`) an upload goes to.
    async fn upload_record(
        &self,
        creds: &Credentials,
        proof: &Authorized,
        guid: Option<&str>,
        uploader: Option<String>,
        file_name: &str,
        authz: Vec<String>,
    ) -> Result<String, WeftError> {
        match guid {
            Some(g) => {
                let record = self.index.get(g).await?;
                self.rules.may_write(creds, &record).await?;
                Ok(record.did)
            }
            None => Ok(self
                .index
                .upload_blank(proof, uploader, Some(file_name.to_owned()), authz)
                .await?
                .did),
        }
    }

    fn parts_in_order(mut parts: Vec<Part>) -> Result<Vec<String>, WeftError> {
        if parts.is_empty() {
            return Err(WeftError::invalid("parts must not be empty"));
        }
        parts.sort_by_key(|p| p.part_number);
        for (i, p) in parts.iter().enumerate() {
            if u32::try_from(i + 1).ok() != Some(p.part_number) {
                return Err(WeftError::invalid(
                    "parts must be numbered 1, 2, … without gaps or repeats",
                ));
            }
        }
        Ok(parts.into_iter().map(|p| p.etag).collect())
    }
}

/// Publishing `staged` (the `publish` of [`Uploads::landed`]).
fn publish(staged: weft_blob::Staged) -> Publish {
    Box::pin(async move {
        staged.publish().await?;
        Ok(())
    })
}

fn part_number(part: u32) -> Result<u32, WeftError> {
    if (1..=10_000).contains(&part) {
        Ok(part)
    } else {
        Err(WeftError::invalid("partNumber must be between 1 and 10000"))
    }
}

#[async_trait]
impl Uploads for FenceUploads {
    async fn authenticate(&self, creds: &Credentials) -> Result<(), WeftError> {
        self.rules.user(creds, &["data"]).await.map(|_| ())
    }

    async fn upload(
        &self,
        creds: &Credentials,
        req: UploadRequest,
    ) -> Result<(String, String), WeftError> {
        self.rules.user(creds, &["data"]).await?;
        let Some(file_name) = req.file_name.as_deref() else {
            return Err(WeftError::invalid("missing required argument `file_name`"));
        };
        weft_indexd::limits::file_name(file_name)?;
        for path in req.authz.iter().flatten() {
            weft_indexd::limits::resource_path("authz", path)?;
        }
        Self::key("00000000-0000-0000-0000-000000000000", file_name)?;
        let ttl = self.ttl(body_expires_in(req.expires_in.as_ref())?);
        let target = self
            .target(req.protocol.as_deref(), req.bucket.as_deref())?
            .clone();
        let authz = req.authz.clone().unwrap_or_default();
        let weft_auth::fence::NewUpload { proof, uploader } =
            self.rules.new_upload(creds, &authz).await?;
        let guid = self
            .upload_record(
                creds,
                &proof,
                req.guid.as_deref(),
                uploader,
                file_name,
                authz,
            )
            .await?;
        let key = Self::key(&guid, file_name)?;
        let url = self.put_url(&target, &key, &guid, ttl).await?;
        Ok((guid, url))
    }

    async fn upload_url(
        &self,
        creds: &Credentials,
        guid: &str,
        file_name: Option<&str>,
        protocol: Option<&str>,
        bucket: Option<&str>,
        expires_in: Option<u64>,
    ) -> Result<String, WeftError> {
        let target = self.target(protocol, bucket)?.clone();
        let record = self.index.get(guid).await?;
        self.rules.may_write(creds, &record).await?;
        let default_name = record.did.replace('/', "_");
        let key = Self::key(&record.did, file_name.unwrap_or(&default_name))?;
        self.put_url(&target, &key, &record.did, self.ttl(expires_in))
            .await
    }

    async fn multipart_init(
        &self,
        creds: &Credentials,
        req: UploadRequest,
    ) -> Result<(String, String), WeftError> {
        let user = self.rules.file_upload(creds).await?;
        let Some(file_name) = req.file_name.as_deref() else {
            return Err(WeftError::invalid("missing required argument `file_name`"));
        };
        weft_indexd::limits::file_name(file_name)?;
        Self::key("00000000-0000-0000-0000-000000000000", file_name)?;
        body_expires_in(req.expires_in.as_ref())?;
        let target = self.target(None, req.bucket.as_deref())?.clone();
        let bucket = self.bucket(&target)?;
        if let Some(b) = bucket
            && b.scheme() != "s3"
        {
            return Err(WeftError::invalid(format!(
                "multipart uploads are served for s3 and local storage, not {}",
                b.scheme()
            )));
        }
        let proof = Authorized::granted(user.clone(), "fence", "file_upload");
        let guid = self
            .upload_record(
                creds,
                &proof,
                req.guid.as_deref(),
                Some(user),
                file_name,
                vec![],
            )
            .await?;
        let key = Self::key(&guid, file_name)?;
        let upload_id = match bucket {
            None => self.blobs.local().multipart_init(&key, &guid).await?,
            Some(b) => b.multipart_init(key.as_str()).await?,
        };
        Ok((guid, upload_id))
    }

    async fn multipart_part(
        &self,
        creds: &Credentials,
        key: &str,
        upload_id: &str,
        part: u32,
        bucket: Option<&str>,
        expires_in: Option<u64>,
    ) -> Result<String, WeftError> {
        self.rules.file_upload(creds).await?;
        let key = ObjectKey::parse(key)?;
        let part = part_number(part)?;
        let ttl = self.ttl(expires_in);
        let target = self.target(None, bucket)?.clone();
        match self.bucket(&target)? {
            None => {
                let local = self.blobs.local();
                local.multipart_upload(&key, upload_id).await?;
                Ok(local.signed_part_url(
                    &key,
                    upload_id,
                    part,
                    now().saturating_add(ttl.as_secs()),
                )?)
            }
            Some(b) => Ok(b
                .multipart_part_url(key.as_str(), upload_id, part, ttl)
                .await?),
        }
    }

    async fn multipart_complete(
        &self,
        creds: &Credentials,
        key: &str,
        upload_id: &str,
        parts: Vec<Part>,
        bucket: Option<&str>,
    ) -> Result<(), WeftError> {
        self.rules.file_upload(creds).await?;
        let key = ObjectKey::parse(key)?;
        let etags = Self::parts_in_order(parts)?;
        let target = self.target(None, bucket)?.clone();
        match self.bucket(&target)? {
            None => {
                let local = self.blobs.local();
                let result: Result<(), WeftError> = async {
                    let meta = local.multipart_upload(&key, upload_id).await?;
                    self.check_blank(&meta.guid).await?;
                    let (staged, meta) = local.multipart_stage(&key, upload_id, &etags).await?;
                    let object = LandedObject {
                        url: key.file_url(),
                        size: staged.landed().size,
                        md5: staged.landed().md5.clone(),
                    };
                    self.landed(&meta.guid, object, publish(staged)).await
                }
                .await;
                // Whether another upload filled the record before this one was checked or
                // while it was assembled, its parts are removed.
                if result.as_ref().is_err_and(|e| e.code.http_status() == 409) {
                    // the record has its object: this upload can never land
                    local.multipart_abort(upload_id).await?;
                }
                result
            }
            Some(b) => Ok(b.multipart_complete(key.as_str(), upload_id, etags).await?),
        }
    }

    async fn delete(&self, creds: &Credentials, guid: &str) -> Result<(), WeftError> {
        self.rules.user(creds, &["data"]).await?;
        let record = self.index.get(guid).await?;
        let proof = self.rules.may_delete(creds, &record).await?;
        // every location must be reachable before anything is deleted
        for url in &record.urls {
            self.blobs.locate(url)?;
        }
        for url in &record.urls {
            self.blobs.delete(url).await?;
        }
        self.index.delete_record(&proof, &record.did).await
    }

    async fn check_blank(&self, guid: &str) -> Result<(), WeftError> {
        let record = self.index.get(guid).await?;
        if record.size.is_some() || !record.hashes.is_empty() {
            return Err(WeftError::new(
                ErrorCode::AlreadyExists,
                format!("record {guid} already has an object"),
            ));
        }
        Ok(())
    }

    async fn landed(
        &self,
        guid: &str,
        object: LandedObject,
        publish: Publish,
    ) -> Result<(), WeftError> {
        self.index
            .fill_blank_then(
                &signed_url_proof(),
                guid,
                object.size,
                &object.md5,
                &object.url,
                publish,
            )
            .await?;
        Ok(())
    }
}

/// What one pass of [`index_uploads`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct IndexReport {
    /// Blank records looked at.
    pub blank: usize,
    /// Records filled.
    pub filled: usize,
    /// Records whose object is not (yet) there.
    pub pending: usize,
    /// Records that could not be filled (errors logged).
    pub failed: usize,
}

/// Fill every blank record whose uploaded object is in one of the upload `targets`: read
/// the object (streaming) for its size and MD5, then fill the record with its URL. The
/// object is `{guid}/{file_name}` in the first target that holds it.
pub async fn index_uploads(
    index: &IndexService,
    blobs: &Blobs,
    targets: &[Target],
) -> Result<IndexReport, WeftError> {
    let mut report = IndexReport::default();
    let mut after = None;
    loop {
        let page = index.blank_records(after.clone(), 500).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = Some(last.did.clone());
        for record in &page {
            report.blank += 1;
            match index_one(index, blobs, targets, record).await {
                Ok(true) => report.filled += 1,
                Ok(false) => report.pending += 1,
                Err(e) => {
                    tracing::warn!(did = %record.did, "index-uploads: {e}");
                    report.failed += 1;
                }
            }
        }
    }
    Ok(report)
}

async fn index_one(
    index: &IndexService,
    blobs: &Blobs,
    targets: &[Target],
    record: &IndexRecord,
) -> Result<bool, WeftError> {
    let Some(file_name) = record.file_name.as_deref() else {
        return Ok(false);
    };
    let Ok(key) = FenceUploads::key(&record.did, file_name) else {
        return Ok(false);
    };
    for target in targets {
        let url = match target {
            Target::Local => key.file_url(),
            Target::Cloud(s, n) => format!("{s}://{n}/{}", key.as_str()),
        };
        if !matches!(
            blobs.locate(&url),
            Ok(Location::Local(_) | Location::Cloud(..))
        ) {
            continue;
        }
        match blobs.checksum(&url).await {
            Ok(landed) => {
                index
                    .fill_blank(
                        &signed_url_proof(),
                        &record.did,
                        landed.size,
                        &landed.md5,
                        &url,
                    )
                    .await?;
                tracing::info!(did = %record.did, %url, size = landed.size, "indexed upload");
                return Ok(true);
            }
            Err(weft_blob::BlobError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(Target::parse("file"), Some(Target::Local));
        assert_eq!(
            Target::parse("s3://b"),
            Some(Target::Cloud("s3".into(), "b".into()))
        );
        assert_eq!(
            Target::parse("az://c/"),
            Some(Target::Cloud("az".into(), "c".into()))
        );
        assert_eq!(Target::parse("s3://"), None);
        assert_eq!(Target::parse("s3://b/k"), None);
        assert_eq!(Target::parse("ftp://b"), None);
    }

    #[test]
    fn part_order() {
        let p = |n: u32| Part {
            part_number: n,
            etag: format!("e{n}"),
        };
        assert_eq!(
            FenceUploads::parts_in_order(vec![p(2), p(1)]).unwrap(),
            vec!["e1", "e2"]
        );
        assert!(FenceUploads::parts_in_order(vec![p(1), p(3)]).is_err());
        assert!(FenceUploads::parts_in_order(vec![p(1), p(1)]).is_err());
        assert!(FenceUploads::parts_in_order(vec![]).is_err());
    }
}
