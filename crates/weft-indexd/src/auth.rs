//! indexd's own users: HTTP basic auth against its user table ([`IndexUserAuthorizer`]).
//!
//! The seam itself ([`Credentials`], [`Authorized`] proofs, the [`Authorizer`] trait) is
//! `weft_auth`'s; service methods that change data take an [`Authorized`] proof, which
//! only an [`Authorizer`] hands out, so a forgotten check does not compile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use weft_core::WeftError;
use weft_store::IndexStore;

pub use weft_auth::{Authorized, Authorizer, Credentials};

/// How long a verified basic-auth password is trusted without re-running argon2.
const VERIFIED_TTL: Duration = Duration::from_secs(60);
const VERIFIED_MAX: usize = 4096;

/// indexd's own access model: a valid index user (basic auth) may do everything; nobody
/// else may write.
pub struct IndexUserAuthorizer {
    store: Arc<dyn IndexStore>,
    /// sha256(username NUL password) -> when argon2 last accepted it.
    verified: Mutex<HashMap<[u8; 32], Instant>>,
    /// Held while argon2 runs: one verification at a time. Each holds about 19 MiB and tens
    /// of milliseconds of CPU, and a burst of requests with the same new credentials (a client
    /// opening many connections) needs only the first: the others find it remembered.
    verifying: tokio::sync::Mutex<()>,
    /// How many times argon2 ran.
    verifications: AtomicU64,
}

impl IndexUserAuthorizer {
    #[must_use]
    pub fn new(store: Arc<dyn IndexStore>) -> Self {
        Self {
            store,
            verified: Mutex::new(HashMap::new()),
            verifying: tokio::sync::Mutex::new(()),
            verifications: AtomicU64::new(0),
        }
    }

    /// How many passwords argon2 has verified (remembered ones are not verified again).
    #[must_use]
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    fn remembered(&self, key: &[u8; 32]) -> bool {
        self.verified
            .lock()
            .is_ok_and(|cache| cache.get(key).is_some_and(|t| t.elapsed() < VERIFIED_TTL))
    }

    fn cache_key(username: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(username.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Whether the basic-auth pair matches a stored index user.
    pub async fn check_password(&self, username: &str, password: &str) -> Result<bool, WeftError> {
        let key = Self::cache_key(username, password);
        if self.remembered(&key) {
            return Ok(true);
        }
        let Some(stored) = self.store.index_user_hash(username).await? else {
            return Ok(false);
        };
        let _turn = self.verifying.lock().await;
        if self.remembered(&key) {
            return Ok(true);
        }
        self.verifications.fetch_add(1, Ordering::Relaxed);
        // Off the async workers: the requests they serve meanwhile are not held up.
        let password = password.to_owned();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &stored))
            .await
            .map_err(WeftError::internal)?;
        if ok && let Ok(mut cache) = self.verified.lock() {
            if cache.len() >= VERIFIED_MAX {
                cache.clear();
            }
            cache.insert(key, Instant::now());
        }
        Ok(ok)
    }
}

#[async_trait]
impl Authorizer for IndexUserAuthorizer {
    async fn authenticate(
        &self,
        credentials: &Credentials,
        service: &'static str,
        method: &'static str,
    ) -> Result<(), WeftError> {
        self.authorize(credentials, service, method, &[])
            .await
            .map(|_| ())
    }

    async fn authorize(
        &self,
        credentials: &Credentials,
        service: &'static str,
        method: &'static str,
        _resources: &[String],
    ) -> Result<Authorized, WeftError> {
        match credentials {
            Credentials::Basic { username, password } => {
                if self.check_password(username, password).await? {
                    Ok(Authorized::granted(username.clone(), service, method))
                } else {
                    Err(WeftError::forbidden("username / password mismatch"))
                }
            }
            Credentials::None | Credentials::Bearer(_) => {
                Err(WeftError::unauthenticated("Permission denied."))
            }
        }
    }
}

/// Hash a password for storage (argon2id, random salt, PHC string).
pub fn hash_password(password: &str) -> Result<String, WeftError> {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(WeftError::internal)?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(WeftError::internal)
}

/// Check a password against a stored PHC string.
#[must_use]
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3cret!", &h));
        assert!(!verify_password("s3cret", "not a hash"));
        assert_ne!(h, hash_password("s3cret").unwrap(), "salts must differ");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_of_new_credentials_runs_argon2_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = weft_store_sqlite::SqliteStore::open(&dir.path().join("a.db"), 2).unwrap();
        store
            .put_index_user("u", &hash_password("pw").unwrap())
            .await
            .unwrap();
        let auth = Arc::new(IndexUserAuthorizer::new(Arc::new(store)));
        let checks: Vec<_> = (0..16)
            .map(|i| {
                let auth = Arc::clone(&auth);
                let password = if i == 15 { "wrong" } else { "pw" };
                tokio::spawn(async move { auth.check_password("u", password).await })
            })
            .collect();
        let mut accepted = 0;
        for c in checks {
            accepted += usize::from(c.await.unwrap().unwrap());
        }
        assert_eq!(accepted, 15);
        // one run for the right password, one for the wrong one (never remembered)
        assert_eq!(auth.verifications(), 2);
        assert!(auth.check_password("u", "pw").await.unwrap());
        assert!(!auth.check_password("nobody", "pw").await.unwrap());
        assert_eq!(auth.verifications(), 2);
    }
}
