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

#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// Every signing key, newest first.
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKey>>;

    /// Store a new key; `AlreadyExists` if the kid is taken.
    async fn add_signing_key(&self, key: SigningKey) -> StoreResult<()>;
}
