//! Storage of the policy engine's objects.
//!
//! The policy set is small enough to hold in memory, and decisions are made there; the
//! store keeps it durable and shared. Each object (resource, role, policy, user, group,
//! client) is one row `(kind, key, JSON body)`, and one counter, the version, goes up with
//! every committed change so that every weft sharing the database can tell it is behind.

use async_trait::async_trait;

use crate::StoreResult;

/// One object written (`body: Some`) or deleted (`body: None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzChange {
    pub kind: String,
    pub key: String,
    pub body: Option<String>,
}

/// Everything stored, at one version.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthzRows {
    pub version: u64,
    /// `(kind, key, body)`.
    pub rows: Vec<(String, String, String)>,
}

#[async_trait]
pub trait AuthzStore: Send + Sync + 'static {
    /// Every object and the version they reflect, read in one transaction.
    async fn authz_load(&self) -> StoreResult<AuthzRows>;

    /// Apply `changes` in one transaction if the stored version is still `expected`, and
    /// return the new version. `RevisionMismatch` (and nothing written) when another writer
    /// committed first.
    async fn authz_write(&self, expected: u64, changes: Vec<AuthzChange>) -> StoreResult<u64>;

    /// The stored version.
    async fn authz_version(&self) -> StoreResult<u64>;

    /// A channel that receives the version of every change other processes commit, where
    /// the backend can push them (PostgreSQL `LISTEN`); `None` where it cannot, and callers
    /// ask [`AuthzStore::authz_version`] instead.
    async fn authz_watch(&self) -> StoreResult<Option<tokio::sync::watch::Receiver<u64>>>;
}
