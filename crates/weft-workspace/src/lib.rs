//! weft-workspace: notebooks next to the data, as Gen3's hatchery, manifestservice and
//! workspace token service serve them.
//!
//! - [`WorkspaceService`] (`service.rs`): the kinds a user may launch (`options`), one
//!   workspace per user (launch, status, terminate), its readiness and activity read from
//!   the notebook itself, idle stops, pay models with usage metered into the database and
//!   limits enforced, and adoption of what a previous process started.
//! - [`Backend`] (`backend.rs`) with two implementations: [`local::LocalBackend`] (a
//!   process per user on this machine, each with its own home and, as root, its own uid) and
//!   [`kube::KubeBackend`] (hatchery's pod, service and volume claim).
//! - [`manifests::Manifests`]: manifestservice's per-user files.
//! - [`wts::TokenService`]: tokens for other commons from refresh tokens held per user.

pub mod backend;
pub mod kind;
pub mod kube;
pub mod local;
pub mod manifests;
pub mod service;
pub mod wts;

pub use backend::{Backend, BackendError, Condition, LaunchSpec, Launched, Probe};
pub use kind::Kind;
pub use service::{WorkspaceService, slug};
