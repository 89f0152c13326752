//! weft-store: what every storage backend must provide, and nothing about how.
//!
//! It owns the repository traits ([`IndexStore`] and its part [`BundleStore`], and one per
//! service: [`AuthzStore`], [`IdentityStore`], [`OAuthStore`], [`HubStore`],
//! [`MetadataStore`], [`GraphStore`], [`WorkspaceStore`]), the row models they exchange ([`IndexRecord`],
//! [`BundleRecord`], [`ListQuery`], the graph's [`GraphNode`] and [`GraphChange`]), the
//! portable SQL both SQL backends share ([`sql`], [`graph::sql`]), and — behind the
//! `test-suite` feature — the contract tests every backend must pass.
//! It must never name a database driver: only `weft-store-*` crates do.

pub mod authz;
pub mod graph;
pub mod held;
pub mod hub;
pub mod identity;
pub mod metadata;
pub mod model;
pub mod oauth;
pub mod sql;
#[cfg(feature = "test-suite")]
pub mod test_suite;
pub mod workspace;

use async_trait::async_trait;
pub use authz::{AuthzChange, AuthzRows, AuthzStore};
pub use graph::{
    FeedEntry, GraphChange, GraphEdge, GraphLink, GraphListQuery, GraphLogEntry, GraphNode,
    GraphStore, GraphTransaction, Hop, LinkedQuery, NodeFilter, NodeQuery, NodeWrite, PropMatch,
    Reach, ReachGroup, TransactionQuery, UniqueKey,
};
pub use hub::{HubCommons, HubPull, HubScope, HubStore, HubStudy};
pub use identity::{ApiKey, IdentityStore, SigningKey};
pub use metadata::{
    AliasMode, BatchOutcome, FieldPath, FilterValue, MetadataFilter, MetadataQuery, MetadataStore,
    RawJson, Written,
};
pub use model::*;
pub use oauth::{AuthCode, CodeRedemption, OAuthClient, OAuthStore, RefreshToken, Session};
use weft_core::WeftError;
pub use workspace::{
    ExternalTokenRow, ManifestRow, Metered, PayModelRow, UsageRow, WorkspaceRow, WorkspaceStore,
};

/// What a backend can report. Everything else is the caller's business.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no record found")]
    NotFound,
    /// A unique key is taken; the message names it the way indexd does.
    #[error("{0}")]
    AlreadyExists(String),
    #[error("revision mismatch")]
    RevisionMismatch,
    #[error("storage backend error: {0}")]
    Backend(String),
    /// The backend refused a value as it is (PostgreSQL: a NUL character, an index entry
    /// too large). The services check for these first; this is the backstop, a 400.
    #[error("{0}")]
    Invalid(String),
}

impl From<StoreError> for WeftError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => WeftError::not_found("no record found"),
            StoreError::AlreadyExists(m) => WeftError::conflict(m),
            StoreError::RevisionMismatch => WeftError::rev_mismatch(),
            StoreError::Backend(m) => WeftError::internal(m),
            StoreError::Invalid(m) => WeftError::invalid(m),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// A progress callback for long operations: receives the count done so far.
pub type Progress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// One batch of a streamed bulk import ([`IndexStore::import`]); `Err` aborts the import
/// with that message and nothing is kept.
pub type ImportBatch = Result<Vec<IndexRecord>, String>;

/// Records of [`IndexStore::create_many`] as the batches of a streamed import.
pub fn import_batches(records: Vec<IndexRecord>, size: usize) -> impl Iterator<Item = ImportBatch> {
    let mut records = records.into_iter();
    std::iter::from_fn(move || {
        let batch: Vec<IndexRecord> = records.by_ref().take(size.max(1)).collect();
        (!batch.is_empty()).then_some(Ok(batch))
    })
}

/// Storage of indexd bundles. A part of every [`IndexStore`] (a supertrait, so services
/// holding an `Arc<dyn IndexStore>` reach it too); kept apart so backends implement it in
/// its own module.
#[async_trait]
pub trait BundleStore: Send + Sync + 'static {
    /// Insert a bundle. `AlreadyExists` (naming the id as indexd does) when a bundle or a
    /// record already has its id.
    async fn create_bundle(&self, bundle: BundleRecord) -> StoreResult<()>;

    /// One bundle by exact id.
    async fn get_bundle(&self, id: &str) -> StoreResult<Option<BundleRecord>>;

    /// Bundles by exact id; missing ones are left out. Order is unspecified.
    async fn get_bundles(&self, ids: Vec<String>) -> StoreResult<Vec<BundleRecord>>;

    /// Delete a bundle. `NotFound` when there is none with this id.
    async fn delete_bundle(&self, id: &str) -> StoreResult<()>;

    /// Bundles paged as records are: by id after `start`, or by update time for page numbers.
    async fn list_bundles(&self, page: Page, limit: u32) -> StoreResult<Vec<BundleRecord>>;

    /// Records matching `query` and bundles together, merged in the order and page the query
    /// asks for (by id, or by update time for page numbers). The record filters apply to
    /// records only; `ids` and the paging apply to both.
    async fn list_entries(&self, query: ListQuery) -> StoreResult<Vec<(EntryKind, String)>>;
}

/// Storage for the index service (indexd records, aliases, bundles, index users).
///
/// Every method that changes more than one row does so in one transaction.
#[async_trait]
pub trait IndexStore: BundleStore + Send + Sync + 'static {
    /// Insert a record and its aliases. `AlreadyExists` if the did or an alias is taken.
    async fn create(&self, record: IndexRecord, aliases: Vec<String>) -> StoreResult<()>;

    /// Insert many records atomically: all or none. Returns how many were inserted.
    /// `progress`, if given, is called now and then with the number inserted so far.
    async fn create_many(
        &self,
        records: Vec<IndexRecord>,
        progress: Option<Progress>,
    ) -> StoreResult<u64>;

    /// Insert every record arriving on `batches` atomically: all or none. The import commits
    /// only when the sender hung up after exactly `expected` records and no `Err` batch;
    /// otherwise nothing is kept. Records should arrive in did order (backends that cluster
    /// by did then fill their tables page by page). A backend may lock the index tables, or
    /// the whole database, until it is done. `progress` is called now and then with the
    /// number inserted so far.
    async fn import(
        &self,
        batches: std::sync::mpsc::Receiver<ImportBatch>,
        expected: u64,
        progress: Option<Progress>,
    ) -> StoreResult<u64>;

    /// One record by exact did.
    async fn get(&self, did: &str) -> StoreResult<Option<IndexRecord>>;

    /// Records by exact did; missing ones are left out. Order is unspecified.
    async fn get_many(&self, dids: Vec<String>) -> StoreResult<Vec<IndexRecord>>;

    /// All versions sharing `baseid`, oldest first.
    async fn versions(&self, baseid: &str) -> StoreResult<Vec<IndexRecord>>;

    /// Replace the record whose did is `record.did` if its current rev is `expected_rev`.
    /// `NotFound` if there is no such did, `RevisionMismatch` if the rev differs.
    async fn update(&self, record: IndexRecord, expected_rev: String) -> StoreResult<()>;

    /// Several guarded replacements in one transaction: all or none.
    async fn update_many(&self, updates: Vec<(IndexRecord, String)>) -> StoreResult<()>;

    /// Delete a record (and its aliases) if its current rev is `expected_rev`.
    async fn delete(&self, did: &str, expected_rev: &str) -> StoreResult<()>;

    /// Records matching `query`, in the order and page it asks for.
    async fn list(&self, query: ListQuery) -> StoreResult<Vec<IndexRecord>>;

    /// [`Self::list`] as stored rows, for serving without decoding the JSON collections.
    async fn list_raw(&self, query: ListQuery) -> StoreResult<Vec<sql::RawRecord>>;

    /// [`Self::get`] as a stored row.
    async fn get_raw(&self, did: &str) -> StoreResult<Option<sql::RawRecord>>;

    /// [`Self::list`] as the JSON text of an array of records, written from the stored rows
    /// ([`sql::RecordRef::write_json`]): a listing's body without building records.
    async fn list_json(&self, query: ListQuery) -> StoreResult<Vec<u8>> {
        let mut array = sql::JsonArray::new();
        for row in self.list_raw(query).await? {
            array.push(&row.borrowed());
        }
        Ok(array.finish())
    }

    /// [`Self::get`] as the record's JSON text, written from the stored row.
    async fn get_json(&self, did: &str) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.get_raw(did).await?.map(|row| row.to_json()))
    }

    /// `(did, urls)` pairs for the URL query endpoint, ordered by did.
    async fn query_urls(&self, query: UrlQuery) -> StoreResult<Vec<IndexRecord>>;

    /// Alias names of a record, in name order.
    async fn aliases(&self, did: &str) -> StoreResult<Vec<String>>;

    /// Add aliases to a record (or replace all of them). `AlreadyExists` if one is taken.
    async fn put_aliases(&self, did: &str, names: Vec<String>, replace: bool) -> StoreResult<()>;

    /// Delete one alias of a record, or all when `name` is `None`.
    /// `NotFound` when the named alias is not this record's.
    async fn delete_aliases(&self, did: &str, name: Option<String>) -> StoreResult<()>;

    /// The did an alias points to.
    async fn resolve_alias(&self, name: &str) -> StoreResult<Option<String>>;

    /// `(count, total size)` of records created before `before` (all when `None`).
    async fn stats(&self, before: Option<String>) -> StoreResult<(i64, i64)>;

    /// Create or replace an index (basic-auth) user with an already-hashed password.
    async fn put_index_user(&self, username: &str, password_hash: &str) -> StoreResult<()>;

    /// The stored password hash of an index user.
    async fn index_user_hash(&self, username: &str) -> StoreResult<Option<String>>;

    /// A cheap round trip to prove the database answers.
    async fn ping(&self) -> StoreResult<()>;
}
