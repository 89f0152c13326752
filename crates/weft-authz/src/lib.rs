//! weft-authz: the mesh's policy engine, speaking arborist's model.
//!
//! It owns the model ([`model`]: resources in a path tree, roles, policies, users, groups,
//! OAuth clients, grants with expiry) and every rule a change must keep; the decisions
//! ([`engine`]), made in memory from an immutable [`engine::Snapshot`]; the service that keeps
//! the snapshot current across processes ([`service`]); the JSON of arborist's API ([`api`]);
//! and fence's user.yaml sync ([`usersync`]).
//! It must never speak HTTP or name a database driver: `weft-http` serves it, `weft-store-*`
//! keep it.

pub mod api;
pub mod engine;
pub mod error;
pub mod model;
pub mod service;
pub mod usersync;

pub use engine::{Principal, Snapshot};
pub use error::{AuthzError, AuthzResult};
pub use model::{Model, Txn};
pub use service::AuthzService;
