//! weft-hub: the data hub (Gen3's aggregate metadata service).
//!
//! It owns pulling each configured commons' discovery metadata (`pull`, over HTTP with
//! reqwest, paging as aggregate MDS does), normalizing it (`mapping`: field mappings,
//! filters, schema defaults and coercion, `columns_to_fields`, `select_field`), keeping the
//! last good copy per commons in the [`weft_store::HubStore`] with its sync status, the
//! discovery search index (`search`, tantivy: full text and facets, replaced per commons),
//! and the answers of the `/mds/aggregate/...` endpoints (`service`).
//!
//! It must never name axum or a database driver; the HTTP layer renders what
//! [`HubService`] returns, and a backend implements `HubStore`.

pub mod mapping;
pub mod pull;
pub mod search;
pub mod service;

pub use search::{SearchRequest, SearchResult};
pub use service::HubService;

/// What the hub reports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HubError {
    /// The hub configuration cannot be used (a startup error).
    #[error("hub configuration: {0}")]
    Config(String),
    /// A commons could not be pulled (down, an HTTP error, not JSON, not an object).
    #[error("{0}")]
    Pull(String),
    /// A search request is malformed.
    #[error("{0}")]
    BadQuery(String),
    #[error("not found")]
    NotFound,
    /// The search index or the store failed.
    #[error("{0}")]
    Internal(String),
}

impl From<weft_store::StoreError> for HubError {
    fn from(e: weft_store::StoreError) -> Self {
        Self::Internal(e.to_string())
    }
}

impl From<tantivy::TantivyError> for HubError {
    fn from(e: tantivy::TantivyError) -> Self {
        Self::Internal(format!("search index: {e}"))
    }
}

impl From<HubError> for weft_core::WeftError {
    fn from(e: HubError) -> Self {
        match e {
            HubError::BadQuery(m) => Self::invalid(m),
            HubError::NotFound => Self::not_found("not found"),
            other => Self::internal(other.to_string()),
        }
    }
}
