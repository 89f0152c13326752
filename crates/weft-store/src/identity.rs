//! Storage of identity secrets: the keys tokens are signed with.

use async_trait::async_trait;

use crate::StoreResult;

/// A signing key pair, private half in PKCS#8 PEM.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub kid: String,
    pub private_pem: String,
    /// RFC 3339.
    pub created_at: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// An API key as stored: enough to list and revoke it (the key itself is a signed JWT the
/// user keeps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub jti: String,
    pub username: String,
    /// Unix seconds.
    pub expires_at: i64,
    pub revoked: bool,
}

#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    async fn add_api_key(&self, key: ApiKey) -> StoreResult<()>;

    /// One API key by id, revoked or not.
    async fn api_key(&self, jti: &str) -> StoreResult<Option<ApiKey>>;

    /// A user's API keys that are neither revoked nor expired at `now`.
    async fn api_keys(&self, username: &str, now: i64) -> StoreResult<Vec<ApiKey>>;

    /// Revoke a user's key; false if the user has no such key.
    async fn revoke_api_key(&self, username: &str, jti: &str) -> StoreResult<bool>;

    /// Every signing key, newest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>>;

    /// Store a new key; `AlreadyExists` if the kid is taken.
    async fn add_signing_key(&self, key: SigningKey) -> StoreResult<()>;
}
