//! Local storage: a directory behind `object_store`'s `LocalFileSystem`, and weft's own
//! signed URLs for it (local files have no presigning of their own).
//!
//! A signed URL is `<base>/user/data/local/<key>?expires=<unix seconds>&sig=<hex>`, where
//! `sig` is HMAC-SHA256 over `weft-local-url-v1\n<expires>\n<key>` (the key decoded). The
//! HMAC keys come from a [`KeySource`]; the first signs, every one verifies (key rotation),
//! and a URL no loaded key verifies reloads them (at most every 30 s) before it is refused,
//! so a key added by another instance is picked up.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt as _, TryStreamExt as _};
use hmac::{Hmac, Mac};
use object_store::local::LocalFileSystem;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt as _};
use sha2::Sha256;
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _};

use crate::{BlobError, ObjectKey};

type HmacSha256 = Hmac<Sha256>;

/// Where the HMAC keys of signed local URLs come from.
#[async_trait]
pub trait KeySource: Send + Sync + 'static {
    /// Every key, the one that signs first. Never empty.
    async fn keys(&self) -> Result<Vec<[u8; 32]>, BlobError>;
}

/// The fixed key-source for tests and tools.
pub struct StaticKeys(pub Vec<[u8; 32]>);

#[async_trait]
impl KeySource for StaticKeys {
    async fn keys(&self) -> Result<Vec<[u8; 32]>, BlobError> {
        Ok(self.0.clone())
    }
}

const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// Read size when streaming a file: large enough for loopback speed, small enough for flat
/// memory.
const CHUNK: usize = 256 * 1024;
const LABEL: &[u8] = b"weft-local-url-v1\n";
const PUT_LABEL: &[u8] = b"weft-local-put-v1\n";
const PART_LABEL: &[u8] = b"weft-local-part-v1\n";
/// Query values in signed URLs: everything but unreserved characters is encoded.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What a signed local URL allows, each signed under its own label so that one kind can
/// never be used as another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant<'a> {
    /// `GET` the object.
    Get,
    /// `PUT` the object of blank record `guid` (the upload fills the record).
    Put { guid: &'a str },
    /// `PUT` one part of a multipart upload.
    Part { upload_id: &'a str, part: u32 },
}

impl Grant<'_> {
    fn label(&self) -> &'static [u8] {
        match self {
            Self::Get => LABEL,
            Self::Put { .. } => PUT_LABEL,
            Self::Part { .. } => PART_LABEL,
        }
    }
}

/// An upload that landed: its size and MD5 (hex), computed while the bytes streamed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Landed {
    pub size: u64,
    pub md5: String,
}

/// What `multipart_init` records about an upload, read back by parts and completion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MultipartUpload {
    pub key: String,
    pub guid: String,
}

/// An object's bytes on their way out.
pub struct Object {
    /// The whole object's size.
    pub size: u64,
    /// The bytes `body` yields.
    pub range: Range<u64>,
    pub body: BoxStream<'static, io::Result<Bytes>>,
}

/// A file in the staging area, removed when dropped unless kept.
struct StagedFile(PathBuf);

impl StagedFile {
    /// The file was moved away: nothing to remove.
    fn keep(mut self) {
        self.0 = PathBuf::new();
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        // a plain unlink: quick, and it must happen even when the async caller is dropped
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// An upload whose bytes are all in the staging area but not yet visible under its key:
/// [`publish`](Staged::publish) moves it into place; dropping it removes the staged bytes,
/// so an upload that loses (its record was filled by another) leaves nothing behind.
pub struct Staged {
    file: StagedFile,
    /// Where the object goes (its directory exists and is inside the root).
    target: PathBuf,
    /// The multipart upload whose parts this was assembled from, removed once published.
    upload_dir: Option<PathBuf>,
    landed: Landed,
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Staged")
            .field("staged", &self.file.0)
            .field("target", &self.target)
            .field("landed", &self.landed)
            .finish_non_exhaustive()
    }
}

impl Staged {
    /// The staged bytes' size and MD5.
    #[must_use]
    pub fn landed(&self) -> &Landed {
        &self.landed
    }

    /// Move the staged bytes into place under their key (replacing what was there at once:
    /// a rename within one file system); returns their size and MD5.
    pub async fn publish(self) -> Result<Landed, BlobError> {
        let Self {
            file,
            target,
            upload_dir,
            landed,
        } = self;
        if tokio::fs::rename(&file.0, &target).await.is_err() {
            // another file system: copy (the file is removed when `file` drops)
            tokio::fs::copy(&file.0, &target)
                .await
                .map_err(storage_error)?;
        } else {
            file.keep();
        }
        if let Some(dir) = upload_dir {
            let _ = tokio::fs::remove_dir_all(&dir).await;
        }
        Ok(landed)
    }
}

/// The local object store and its URL signer.
pub struct LocalStorage {
    store: LocalFileSystem,
    /// Canonical.
    root: PathBuf,
    /// Uploads in progress (temporary files, multipart parts); outside the root so that no
    /// key reaches them.
    staging: PathBuf,
    /// `<base URL>/user/data/local`.
    base: String,
    keys: ArcSwap<Vec<[u8; 32]>>,
    source: Arc<dyn KeySource>,
    reloaded: tokio::sync::Mutex<Instant>,
}

/// 128 random bits, hex.
fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

fn storage_error(e: impl std::fmt::Display) -> BlobError {
    BlobError::Storage(e.to_string())
}

fn map_store_error(key: &ObjectKey, e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => {
            BlobError::NotFound(format!("no object {:?}", key.as_str()))
        }
        object_store::Error::InvalidPath { .. } => {
            BlobError::InvalidKey(format!("invalid object key {:?}", key.as_str()))
        }
        e => storage_error(e),
    }
}

impl LocalStorage {
    /// Local storage rooted at `root` (created if missing), with signed URLs under
    /// `<base_url>/user/data/local/`.
    pub async fn open(
        root: &Path,
        base_url: &str,
        source: Arc<dyn KeySource>,
    ) -> Result<Self, BlobError> {
        let name = root
            .file_name()
            .map_or_else(|| "files".into(), |n| n.to_string_lossy().into_owned());
        let staging = root.with_file_name(format!(".{name}-uploads"));
        Self::open_with_staging(root, &staging, base_url, source).await
    }

    /// Local storage rooted at `root`, with uploads in progress under `staging` (best on
    /// the same file system, so that a finished upload is renamed into place).
    pub async fn open_with_staging(
        root: &Path,
        staging: &Path,
        base_url: &str,
        source: Arc<dyn KeySource>,
    ) -> Result<Self, BlobError> {
        tokio::fs::create_dir_all(root)
            .await
            .map_err(|e| storage_error(format!("creating {}: {e}", root.display())))?;
        tokio::fs::create_dir_all(staging)
            .await
            .map_err(|e| storage_error(format!("creating {}: {e}", staging.display())))?;
        let root = tokio::fs::canonicalize(root)
            .await
            .map_err(|e| storage_error(format!("{}: {e}", root.display())))?;
        let store = LocalFileSystem::new_with_prefix(&root).map_err(storage_error)?;
        let keys = source.keys().await?;
        if keys.is_empty() {
            return Err(storage_error("no key to sign local URLs with"));
        }
        Ok(Self {
            store,
            root,
            staging: staging.to_owned(),
            base: format!("{}/user/data/local", base_url.trim_end_matches('/')),
            keys: ArcSwap::from_pointee(keys),
            source,
            reloaded: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    /// The directory objects live in (canonical).
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The object store itself (writes, listings).
    #[must_use]
    pub fn store(&self) -> &LocalFileSystem {
        &self.store
    }

    fn mac(
        secret: &[u8; 32],
        grant: &Grant<'_>,
        key: &ObjectKey,
        expires: &str,
    ) -> Result<HmacSha256, BlobError> {
        let mut mac = HmacSha256::new_from_slice(secret).map_err(storage_error)?;
        mac.update(grant.label());
        mac.update(expires.as_bytes());
        mac.update(b"\n");
        match grant {
            Grant::Get => {}
            Grant::Put { guid } => {
                mac.update(guid.as_bytes());
                mac.update(b"\n");
            }
            Grant::Part { upload_id, part } => {
                mac.update(upload_id.as_bytes());
                mac.update(b"\n");
                mac.update(part.to_string().as_bytes());
                mac.update(b"\n");
            }
        }
        mac.update(key.as_str().as_bytes());
        Ok(mac)
    }

    fn sign(&self, grant: &Grant<'_>, key: &ObjectKey, expires: &str) -> Result<String, BlobError> {
        let keys = self.keys.load();
        let secret = keys
            .first()
            .ok_or_else(|| storage_error("no key to sign local URLs with"))?;
        Ok(hex::encode(
            Self::mac(secret, grant, key, expires)?
                .finalize()
                .into_bytes(),
        ))
    }

    /// The signed URL of `key`, valid until `expires` (unix seconds).
    pub fn signed_url(&self, key: &ObjectKey, expires: u64) -> Result<String, BlobError> {
        let expires = expires.to_string();
        let sig = self.sign(&Grant::Get, key, &expires)?;
        Ok(format!(
            "{}/{}?expires={expires}&sig={sig}",
            self.base,
            key.url_path()
        ))
    }

    /// A signed URL to `PUT` the object `key` of record `guid`, valid until `expires`.
    pub fn signed_put_url(
        &self,
        key: &ObjectKey,
        guid: &str,
        expires: u64,
    ) -> Result<String, BlobError> {
        let expires = expires.to_string();
        let sig = self.sign(&Grant::Put { guid }, key, &expires)?;
        let guid = percent_encoding::utf8_percent_encode(guid, QUERY_VALUE);
        Ok(format!(
            "{}/{}?expires={expires}&guid={guid}&sig={sig}",
            self.base,
            key.url_path()
        ))
    }

    /// A signed URL to `PUT` part `part` of multipart upload `upload_id` of `key`.
    pub fn signed_part_url(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part: u32,
        expires: u64,
    ) -> Result<String, BlobError> {
        let expires = expires.to_string();
        let sig = self.sign(&Grant::Part { upload_id, part }, key, &expires)?;
        Ok(format!(
            "{}/{}?expires={expires}&upload_id={upload_id}&part={part}&sig={sig}",
            self.base,
            key.url_path()
        ))
    }

    fn verifies(
        keys: &[[u8; 32]],
        grant: &Grant<'_>,
        key: &ObjectKey,
        expires: &str,
        sig: &[u8],
    ) -> bool {
        keys.iter().any(|secret| {
            Self::mac(secret, grant, key, expires).is_ok_and(|m| m.verify_slice(sig).is_ok())
        })
    }

    /// Check a signed download URL's `expires` and `sig` for `key` at `now` (unix seconds);
    /// the signature is compared in constant time.
    pub async fn verify(
        &self,
        key: &ObjectKey,
        expires: &str,
        sig: &str,
        now: u64,
    ) -> Result<(), BlobError> {
        self.verify_grant(&Grant::Get, key, expires, sig, now).await
    }

    /// Check a signed URL for what it grants (a download, an upload, a part upload).
    pub async fn verify_grant(
        &self,
        grant: &Grant<'_>,
        key: &ObjectKey,
        expires: &str,
        sig: &str,
        now: u64,
    ) -> Result<(), BlobError> {
        let refused = |why: &str| Err(BlobError::BadSignature(why.to_owned()));
        let Ok(sig) = hex::decode(sig) else {
            return refused("signature is not hex");
        };
        let Ok(until) = expires.parse::<u64>() else {
            return refused("expires is not a unix time");
        };
        if !Self::verifies(&self.keys.load(), grant, key, expires, &sig)
            && !self.reload_and_verify(grant, key, expires, &sig).await?
        {
            return refused("signature mismatch");
        }
        if until < now {
            return refused("signed URL expired");
        }
        Ok(())
    }

    /// Reload the keys (if not done lately) and verify again.
    async fn reload_and_verify(
        &self,
        grant: &Grant<'_>,
        key: &ObjectKey,
        expires: &str,
        sig: &[u8],
    ) -> Result<bool, BlobError> {
        let mut last = self.reloaded.lock().await;
        if last.elapsed() < RELOAD_EVERY {
            return Ok(false);
        }
        *last = Instant::now();
        let keys = self.source.keys().await?;
        if keys.is_empty() {
            return Ok(false);
        }
        let ok = Self::verifies(&keys, grant, key, expires, sig);
        self.keys.store(Arc::new(keys));
        Ok(ok)
    }

    /// A file reached through a symlink out of the root is treated as absent.
    async fn inside_root(&self, key: &ObjectKey) -> Result<(), BlobError> {
        let path = self
            .store
            .path_to_filesystem(&key.location())
            .map_err(|e| map_store_error(key, e))?;
        match tokio::fs::canonicalize(&path).await {
            Ok(real) if real.starts_with(&self.root) => Ok(()),
            Ok(_) => {
                tracing::warn!(
                    key = key.as_str(),
                    "local object resolves outside the storage root"
                );
                Err(BlobError::NotFound(format!("no object {:?}", key.as_str())))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(BlobError::NotFound(format!("no object {:?}", key.as_str())))
            }
            Err(e) => Err(storage_error(e)),
        }
    }

    /// The object's size.
    pub async fn size(&self, key: &ObjectKey) -> Result<u64, BlobError> {
        self.inside_root(key).await?;
        let meta = self
            .store
            .head(&key.location())
            .await
            .map_err(|e| map_store_error(key, e))?;
        Ok(meta.size)
    }

    /// The object's bytes, all or a (non-empty, in-bounds) `range`, as a stream.
    pub async fn get(
        &self,
        key: &ObjectKey,
        range: Option<Range<u64>>,
    ) -> Result<Object, BlobError> {
        self.inside_root(key).await?;
        let options = GetOptions::default().with_range(range.map(GetRange::Bounded));
        let got = self
            .store
            .get_opts(&key.location(), options)
            .await
            .map_err(|e| map_store_error(key, e))?;
        let size = got.meta.size;
        let range = got.range.clone();
        let body = match got.payload {
            GetResultPayload::File(file, _) => {
                let mut file = tokio::fs::File::from_std(file);
                file.seek(io::SeekFrom::Start(range.start))
                    .await
                    .map_err(storage_error)?;
                let reader = file.take(range.end - range.start);
                tokio_util::io::ReaderStream::with_capacity(reader, CHUNK).boxed()
            }
            GetResultPayload::Stream(s) => s.map_err(io::Error::other).boxed(),
        };
        Ok(Object { size, range, body })
    }

    /// Write `body` to a new staging file, hashing it on the way; returns the file (removed
    /// again when the [`Staged`] is dropped unpublished).
    async fn stage<E: std::fmt::Display>(
        &self,
        body: BoxStream<'_, Result<Bytes, E>>,
    ) -> Result<(StagedFile, Landed), BlobError> {
        let file = StagedFile(self.staging.join(format!("{}.tmp", random_id())));
        let landed = Self::write_hashed(&file.0, body).await?;
        Ok((file, landed))
    }

    async fn write_hashed<E: std::fmt::Display>(
        path: &Path,
        mut body: BoxStream<'_, Result<Bytes, E>>,
    ) -> Result<Landed, BlobError> {
        use md5::Digest as _;
        use tokio::io::AsyncWriteExt as _;
        let mut file = tokio::fs::File::create(path).await.map_err(storage_error)?;
        let mut md5 = md5::Md5::new();
        let mut size = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| BlobError::Invalid(format!("reading the upload: {e}")))?;
            md5.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(storage_error)?;
        }
        file.sync_all().await.map_err(storage_error)?;
        Ok(Landed {
            size,
            md5: hex::encode(md5.finalize()),
        })
    }

    /// Where `key` lives on disk, its directory created; a key whose directory resolves
    /// outside the root (a symlink) is refused.
    async fn target(&self, key: &ObjectKey) -> Result<PathBuf, BlobError> {
        let target = self
            .store
            .path_to_filesystem(&key.location())
            .map_err(|e| map_store_error(key, e))?;
        let parent = target.parent().ok_or_else(|| {
            BlobError::InvalidKey(format!("invalid object key {:?}", key.as_str()))
        })?;
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(storage_error)?;
        let real = tokio::fs::canonicalize(parent)
            .await
            .map_err(storage_error)?;
        if !real.starts_with(&self.root) {
            tracing::warn!(
                key = key.as_str(),
                "upload target resolves outside the storage root"
            );
            return Err(BlobError::InvalidKey(format!(
                "invalid object key {:?}",
                key.as_str()
            )));
        }
        Ok(target)
    }

    /// Stream `body` to the staging area as the next version of `key`, hashing it on the
    /// way; nothing is visible under `key` until the result is [published](Staged::publish),
    /// and dropping it unpublished removes the staged bytes.
    pub async fn stage_stream<E: std::fmt::Display>(
        &self,
        key: &ObjectKey,
        body: BoxStream<'_, Result<Bytes, E>>,
    ) -> Result<Staged, BlobError> {
        let target = self.target(key).await?;
        let (file, landed) = self.stage(body).await?;
        Ok(Staged {
            file,
            target,
            upload_dir: None,
            landed,
        })
    }

    /// Store the streamed `body` as `key` (replacing it once complete, never half-written);
    /// returns its size and MD5.
    pub async fn write_stream<E: std::fmt::Display>(
        &self,
        key: &ObjectKey,
        body: BoxStream<'_, Result<Bytes, E>>,
    ) -> Result<Landed, BlobError> {
        self.stage_stream(key, body).await?.publish().await
    }

    fn upload_dir(&self, upload_id: &str) -> Result<PathBuf, BlobError> {
        let ok = upload_id.len() == 32 && upload_id.bytes().all(|b| b.is_ascii_hexdigit());
        if !ok {
            return Err(BlobError::Invalid(format!(
                "no multipart upload {upload_id:?}"
            )));
        }
        Ok(self.staging.join(format!("multipart-{upload_id}")))
    }

    /// Start a multipart upload of `key` for record `guid`; returns its id.
    pub async fn multipart_init(&self, key: &ObjectKey, guid: &str) -> Result<String, BlobError> {
        let id = random_id();
        let dir = self.upload_dir(&id)?;
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(storage_error)?;
        let meta = MultipartUpload {
            key: key.as_str().to_owned(),
            guid: guid.to_owned(),
        };
        let json = serde_json::to_vec(&meta).map_err(storage_error)?;
        tokio::fs::write(dir.join("upload.json"), json)
            .await
            .map_err(storage_error)?;
        Ok(id)
    }

    /// The upload `upload_id`, which must be of `key`.
    pub async fn multipart_upload(
        &self,
        key: &ObjectKey,
        upload_id: &str,
    ) -> Result<MultipartUpload, BlobError> {
        let dir = self.upload_dir(upload_id)?;
        let unknown =
            || BlobError::Invalid(format!("no multipart upload {upload_id:?} of this key"));
        let json = tokio::fs::read(dir.join("upload.json"))
            .await
            .map_err(|_| unknown())?;
        let meta: MultipartUpload = serde_json::from_slice(&json).map_err(storage_error)?;
        if meta.key != key.as_str() {
            return Err(unknown());
        }
        Ok(meta)
    }

    /// Store part `part` of an upload; returns its size and MD5 (its ETag).
    pub async fn multipart_put_part<E: std::fmt::Display>(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        part: u32,
        body: BoxStream<'_, Result<Bytes, E>>,
    ) -> Result<Landed, BlobError> {
        self.multipart_upload(key, upload_id).await?;
        let dir = self.upload_dir(upload_id)?;
        let (staged, landed) = self.stage(body).await?;
        match tokio::fs::rename(&staged.0, dir.join(format!("part-{part}"))).await {
            Ok(()) => {
                staged.keep();
                Ok(landed)
            }
            // completed (or never started) while the part streamed in
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(BlobError::Invalid(format!(
                "no multipart upload {upload_id:?} of this key"
            ))),
            Err(e) => Err(storage_error(e)),
        }
    }

    /// Assemble parts `1..=n` (whose MD5s must be `etags`, in order) into the next version
    /// of `key`, staged as [`LocalStorage::stage_stream`] does: nothing is visible until it is
    /// published, which also ends the upload. Returns it with the record the upload is for.
    /// Each part is read from the file whose MD5 was checked, even if the part is uploaded
    /// again meanwhile.
    pub async fn multipart_stage(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(Staged, MultipartUpload), BlobError> {
        use md5::Digest as _;
        let meta = self.multipart_upload(key, upload_id).await?;
        let dir = self.upload_dir(upload_id)?;
        let mut files = Vec::with_capacity(etags.len());
        for (i, etag) in etags.iter().enumerate() {
            let path = dir.join(format!("part-{}", i + 1));
            let mut md5 = md5::Md5::new();
            let mut file = tokio::fs::File::open(&path)
                .await
                .map_err(|_| BlobError::Invalid(format!("part {} was not uploaded", i + 1)))?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = file.read(&mut buf).await.map_err(storage_error)?;
                if n == 0 {
                    break;
                }
                md5.update(&buf[..n]);
            }
            if !etag
                .trim_matches('"')
                .eq_ignore_ascii_case(&hex::encode(md5.finalize()))
            {
                return Err(BlobError::Invalid(format!(
                    "part {} has another ETag than {etag}",
                    i + 1
                )));
            }
            file.seek(io::SeekFrom::Start(0))
                .await
                .map_err(storage_error)?;
            files.push(file);
        }
        let parts = futures::stream::iter(files)
            .map(|f| tokio_util::io::ReaderStream::with_capacity(f, CHUNK))
            .flatten()
            .boxed();
        let mut staged = self.stage_stream(key, parts).await?;
        staged.upload_dir = Some(dir);
        Ok((staged, meta))
    }

    /// Assemble and publish a multipart upload at once (see
    /// [`LocalStorage::multipart_stage`]); returns the object's size and MD5 and the record
    /// the upload is for.
    pub async fn multipart_complete(
        &self,
        key: &ObjectKey,
        upload_id: &str,
        etags: &[String],
    ) -> Result<(Landed, MultipartUpload), BlobError> {
        let (staged, meta) = self.multipart_stage(key, upload_id, etags).await?;
        Ok((staged.publish().await?, meta))
    }

    /// Drop multipart upload `upload_id` and its parts (absent is fine).
    pub async fn multipart_abort(&self, upload_id: &str) -> Result<(), BlobError> {
        let dir = self.upload_dir(upload_id)?;
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(storage_error(e)),
        }
    }

    /// Remove the object `key` (absent is fine).
    pub async fn delete(&self, key: &ObjectKey) -> Result<(), BlobError> {
        match self.store.delete(&key.location()).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(map_store_error(key, e)),
        }
    }

    /// Store `bytes` as `key` (replacing it).
    pub async fn put(&self, key: &ObjectKey, bytes: Bytes) -> Result<(), BlobError> {
        self.store
            .put(&key.location(), bytes.into())
            .await
            .map_err(|e| map_store_error(key, e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn storage(dir: &Path, keys: Vec<[u8; 32]>) -> LocalStorage {
        LocalStorage::open(
            &dir.join("files"),
            "http://h:1/",
            Arc::new(StaticKeys(keys)),
        )
        .await
        .unwrap()
    }

    fn query(url: &str) -> (String, String, String) {
        let (path, q) = url.split_once('?').unwrap();
        let mut expires = String::new();
        let mut sig = String::new();
        for pair in q.split('&') {
            match pair.split_once('=').unwrap() {
                ("expires", v) => v.clone_into(&mut expires),
                ("sig", v) => v.clone_into(&mut sig),
                _ => panic!("{pair}"),
            }
        }
        (path.to_owned(), expires, sig)
    }

    #[tokio::test]
    async fn sign_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let s = storage(dir.path(), vec![[1; 32]]).await;
        let key = ObjectKey::parse("a/b c.txt").unwrap();
        let url = s.signed_url(&key, 1000).unwrap();
        let (path, expires, sig) = query(&url);
        assert_eq!(path, "http://h:1/user/data/local/a/b%20c.txt");
        assert_eq!(expires, "1000");
        assert_eq!(sig.len(), 64);
        s.verify(&key, &expires, &sig, 1000).await.unwrap();

        let refused = |r: Result<(), BlobError>| matches!(r, Err(BlobError::BadSignature(_)));
        assert!(
            refused(s.verify(&key, &expires, &sig, 1001).await),
            "expired"
        );
        assert!(
            refused(s.verify(&key, "1001", &sig, 0).await),
            "expiry moved"
        );
        assert!(
            refused(s.verify(&key, "+1000", &sig, 0).await),
            "expiry respelled"
        );
        let other = ObjectKey::parse("a/b d.txt").unwrap();
        assert!(
            refused(s.verify(&other, &expires, &sig, 0).await),
            "other key"
        );
        let mut flipped = sig.clone().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let flipped = String::from_utf8(flipped).unwrap();
        assert!(
            refused(s.verify(&key, &expires, &flipped, 0).await),
            "bit flip"
        );
        assert!(refused(s.verify(&key, &expires, "zz", 0).await), "not hex");
        assert!(
            refused(s.verify(&key, &expires, &sig[..62], 0).await),
            "short"
        );

        // another secret does not verify it; an older secret still listed does
        let other_secret = storage(dir.path(), vec![[2; 32]]).await;
        assert!(refused(other_secret.verify(&key, &expires, &sig, 0).await));
        let rotated = storage(dir.path(), vec![[2; 32], [1; 32]]).await;
        rotated.verify(&key, &expires, &sig, 0).await.unwrap();
    }

    #[tokio::test]
    async fn grants_do_not_cross() {
        let dir = tempfile::tempdir().unwrap();
        let s = storage(dir.path(), vec![[1; 32]]).await;
        let key = ObjectKey::parse("g/f.bin").unwrap();
        let param = |url: &str, name: &str| {
            url.split_once('?')
                .unwrap()
                .1
                .split('&')
                .find_map(|p| p.strip_prefix(&format!("{name}=")).map(str::to_owned))
                .unwrap()
        };
        let put = s.signed_put_url(&key, "g", 1000).unwrap();
        assert!(put.starts_with("http://h:1/user/data/local/g/f.bin?expires=1000&guid=g&sig="));
        let sig = param(&put, "sig");
        let part = s.signed_part_url(&key, "ab", 2, 1000).unwrap();
        let part_sig = param(&part, "sig");
        let get_sig = param(&s.signed_url(&key, 1000).unwrap(), "sig");
        let put_grant = Grant::Put { guid: "g" };
        let part_grant = Grant::Part {
            upload_id: "ab",
            part: 2,
        };
        s.verify_grant(&put_grant, &key, "1000", &sig, 0)
            .await
            .unwrap();
        s.verify_grant(&part_grant, &key, "1000", &part_sig, 0)
            .await
            .unwrap();
        s.verify(&key, "1000", &get_sig, 0).await.unwrap();
        let refused = |r: Result<(), BlobError>| matches!(r, Err(BlobError::BadSignature(_)));
        // each signature grants only its own kind, record, upload and part
        assert!(refused(s.verify(&key, "1000", &sig, 0).await));
        assert!(refused(
            s.verify_grant(&put_grant, &key, "1000", &get_sig, 0).await
        ));
        assert!(refused(
            s.verify_grant(&put_grant, &key, "1000", &part_sig, 0).await
        ));
        let other_guid = Grant::Put { guid: "h" };
        assert!(refused(
            s.verify_grant(&other_guid, &key, "1000", &sig, 0).await
        ));
        let other_part = Grant::Part {
            upload_id: "ab",
            part: 3,
        };
        assert!(refused(
            s.verify_grant(&other_part, &key, "1000", &part_sig, 0)
                .await
        ));
    }

    #[tokio::test]
    async fn streamed_writes_and_multipart() {
        let dir = tempfile::tempdir().unwrap();
        let s = storage(dir.path(), vec![[1; 32]]).await;
        let key = ObjectKey::parse("g/whole.bin").unwrap();
        let chunks = |parts: Vec<&'static [u8]>| {
            futures::stream::iter(
                parts
                    .into_iter()
                    .map(|p| Ok::<_, io::Error>(Bytes::from_static(p))),
            )
            .boxed()
        };
        let landed = s
            .write_stream(&key, chunks(vec![b"hello, ", b"world"]))
            .await
            .unwrap();
        assert_eq!(landed.size, 12);
        assert_eq!(landed.md5, "e4d7f1b4ed2e42d15898f4b27b019da4");
        assert_eq!(
            std::fs::read(s.root().join("g/whole.bin")).unwrap(),
            b"hello, world"
        );
        // a failing body leaves nothing behind
        let failing = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"half")),
            Err(io::Error::other("connection reset")),
        ])
        .boxed();
        let broken = ObjectKey::parse("g/broken.bin").unwrap();
        assert!(matches!(
            s.write_stream(&broken, failing).await,
            Err(BlobError::Invalid(_))
        ));
        assert!(!s.root().join("g/broken.bin").exists());

        let key = ObjectKey::parse("g/parts.bin").unwrap();
        let id = s.multipart_init(&key, "g").await.unwrap();
        let one = s
            .multipart_put_part(&key, &id, 1, chunks(vec![b"abc"]))
            .await
            .unwrap();
        let two = s
            .multipart_put_part(&key, &id, 2, chunks(vec![b"def"]))
            .await
            .unwrap();
        let other = ObjectKey::parse("g/other.bin").unwrap();
        assert!(
            s.multipart_upload(&other, &id).await.is_err(),
            "another key"
        );
        assert!(s.multipart_upload(&key, "../x").await.is_err(), "not an id");
        let (landed, meta) = s
            .multipart_complete(&key, &id, &[one.md5, format!("\"{}\"", two.md5)])
            .await
            .unwrap();
        assert_eq!(meta.guid, "g");
        assert_eq!(landed.size, 6);
        assert_eq!(
            std::fs::read(s.root().join("g/parts.bin")).unwrap(),
            b"abcdef"
        );
        assert!(
            s.multipart_upload(&key, &id).await.is_err(),
            "gone once complete"
        );
        // nothing of the staging area is reachable as a key, and it is empty again
        let staging = s.root().with_file_name(".files-uploads");
        assert_eq!(std::fs::read_dir(staging).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn staged_uploads_are_invisible_until_published() {
        let dir = tempfile::tempdir().unwrap();
        let s = storage(dir.path(), vec![[1; 32]]).await;
        let staging = s.root().with_file_name(".files-uploads");
        let key = ObjectKey::parse("g/s.bin").unwrap();
        let body = |b: &'static [u8]| {
            futures::stream::iter(vec![Ok::<_, io::Error>(Bytes::from_static(b))]).boxed()
        };
        s.write_stream(&key, body(b"first")).await.unwrap();
        // staged, then dropped: the object is untouched and nothing is left behind
        let loser = s.stage_stream(&key, body(b"second")).await.unwrap();
        assert_eq!(loser.landed().size, 6);
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 1);
        assert_eq!(std::fs::read(s.root().join("g/s.bin")).unwrap(), b"first");
        drop(loser);
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
        assert_eq!(std::fs::read(s.root().join("g/s.bin")).unwrap(), b"first");
        // staged, then published: replaced at once
        let winner = s.stage_stream(&key, body(b"third")).await.unwrap();
        let landed = winner.publish().await.unwrap();
        assert_eq!(
            landed.md5,
            hex::encode(<md5::Md5 as md5::Digest>::digest(b"third"))
        );
        assert_eq!(std::fs::read(s.root().join("g/s.bin")).unwrap(), b"third");
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);

        // multipart: a part sent after the upload completed is refused (400), not a 500
        let key = ObjectKey::parse("g/m.bin").unwrap();
        let id = s.multipart_init(&key, "g").await.unwrap();
        let one = s
            .multipart_put_part(&key, &id, 1, body(b"ab"))
            .await
            .unwrap();
        let (staged, meta) = s.multipart_stage(&key, &id, &[one.md5]).await.unwrap();
        assert_eq!(meta.guid, "g");
        staged.publish().await.unwrap();
        assert_eq!(std::fs::read(s.root().join("g/m.bin")).unwrap(), b"ab");
        assert!(matches!(
            s.multipart_put_part(&key, &id, 2, body(b"late")).await,
            Err(BlobError::Invalid(_))
        ));
        assert_eq!(std::fs::read_dir(&staging).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn ranges_and_missing_objects() {
        let dir = tempfile::tempdir().unwrap();
        let s = storage(dir.path(), vec![[1; 32]]).await;
        let key = ObjectKey::parse("d/x.bin").unwrap();
        s.put(&key, Bytes::from_static(b"0123456789"))
            .await
            .unwrap();
        assert_eq!(s.size(&key).await.unwrap(), 10);
        let collect = |o: Object| async move {
            let chunks: Vec<Bytes> = o.body.try_collect().await.unwrap();
            chunks.concat()
        };
        let o = s.get(&key, None).await.unwrap();
        assert_eq!((o.size, o.range.clone()), (10, 0..10));
        assert_eq!(collect(o).await, b"0123456789");
        let o = s.get(&key, Some(3..7)).await.unwrap();
        assert_eq!(o.range, 3..7);
        assert_eq!(collect(o).await, b"3456");
        let missing = ObjectKey::parse("d/none").unwrap();
        assert!(matches!(
            s.get(&missing, None).await,
            Err(BlobError::NotFound(_))
        ));
        assert!(matches!(
            s.size(&missing).await,
            Err(BlobError::NotFound(_))
        ));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlinks_out_of_the_root_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let s = storage(dir.path(), vec![[1; 32]]).await;
        std::fs::write(dir.path().join("secret"), b"outside").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret"), s.root().join("link")).unwrap();
        let key = ObjectKey::parse("link").unwrap();
        assert!(matches!(
            s.get(&key, None).await,
            Err(BlobError::NotFound(_))
        ));
    }
}
