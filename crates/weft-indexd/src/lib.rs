//! weft-indexd: the index service, indexd-compatible, and GA4GH DRS objects over it.
//!
//! It owns the rules of indexd records: validation of bodies and query parameters, GUID
//! minting and prefixes, revisions, versions, aliases, blank records for uploads, bundles,
//! and the mapping of records and bundles to DRS objects. It talks to storage only through
//! [`weft_store::IndexStore`] and decides access only through [`auth::Authorizer`], so the
//! policy engine can replace basic auth without touching this crate's callers.
//! It must never know about HTTP frameworks or SQL.

pub mod auth;
pub mod bundle;
pub mod dist;
pub mod drs;
pub mod input;
pub mod limits;
pub mod query;
pub mod service;
pub mod upload;

pub use auth::{Authorized, Authorizer, Credentials, IndexUserAuthorizer};
pub use service::{IndexService, ManifestRow};
