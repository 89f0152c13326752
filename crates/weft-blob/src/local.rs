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

/// An object's bytes on their way out.
pub struct Object {
    /// The whole object's size.
    pub size: u64,
    /// The bytes `body` yields.
    pub range: Range<u64>,
    pub body: BoxStream<'static, io::Result<Bytes>>,
}

/// The local object store and its URL signer.
pub struct LocalStorage {
    store: LocalFileSystem,
    /// Canonical.
    root: PathBuf,
    /// `<base URL>/user/data/local`.
    base: String,
    keys: ArcSwap<Vec<[u8; 32]>>,
    source: Arc<dyn KeySource>,
    reloaded: tokio::sync::Mutex<Instant>,
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
        tokio::fs::create_dir_all(root)
            .await
            .map_err(|e| storage_error(format!("creating {}: {e}", root.display())))?;
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

    fn mac(secret: &[u8; 32], key: &ObjectKey, expires: &str) -> Result<HmacSha256, BlobError> {
        let mut mac = HmacSha256::new_from_slice(secret).map_err(storage_error)?;
        mac.update(LABEL);
        mac.update(expires.as_bytes());
        mac.update(b"\n");
        mac.update(key.as_str().as_bytes());
        Ok(mac)
    }

    /// The signed URL of `key`, valid until `expires` (unix seconds).
    pub fn signed_url(&self, key: &ObjectKey, expires: u64) -> Result<String, BlobError> {
        let keys = self.keys.load();
        let secret = keys
            .first()
            .ok_or_else(|| storage_error("no key to sign local URLs with"))?;
        let expires = expires.to_string();
        let sig = hex::encode(Self::mac(secret, key, &expires)?.finalize().into_bytes());
        Ok(format!(
            "{}/{}?expires={expires}&sig={sig}",
            self.base,
            key.url_path()
        ))
    }

    fn verifies(keys: &[[u8; 32]], key: &ObjectKey, expires: &str, sig: &[u8]) -> bool {
        keys.iter().any(|secret| {
            Self::mac(secret, key, expires).is_ok_and(|m| m.verify_slice(sig).is_ok())
        })
    }

    /// Check a signed URL's `expires` and `sig` for `key` at `now` (unix seconds); the
    /// signature is compared in constant time.
    pub async fn verify(
        &self,
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
        if !Self::verifies(&self.keys.load(), key, expires, &sig)
            && !self.reload_and_verify(key, expires, &sig).await?
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
        let ok = Self::verifies(&keys, key, expires, sig);
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
