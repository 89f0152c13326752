//! weft-auth: the one authorization seam every service uses.
//!
//! It owns what a caller presented ([`Credentials`]: none, basic, bearer), who a verified
//! caller is ([`Principal`]: user and/or OAuth client, how they authenticated, their
//! scopes), the single token-verification entry point ([`verify_bearer`]: a bearer token
//! and the scopes and purpose a route needs become a `Principal` or an [`AuthError`]), the
//! [`Authorized`] proofs service methods that change data take and the [`Authorizer`] trait
//! that hands them out, the policy engine's authorizer ([`PolicyAuthorizer`]), and fence's
//! data rules ([`fence::FenceRules`]).
//!
//! It sits above `weft-identity` (tokens) and `weft-authz` (decisions) and below the
//! service crates (`weft-indexd`, `weft-mds`) and `weft-http`. It must never speak HTTP or
//! SQL, and never verify a token any other way than through [`verify_bearer`].

mod authorizer;
mod credentials;
pub mod fence;
mod policy;
mod principal;
mod verify;

pub use authorizer::{Authorized, Authorizer};
pub use credentials::Credentials;
pub use policy::PolicyAuthorizer;
pub use principal::{AuthMethod, Principal};
pub use verify::{AuthError, Purpose, verify_bearer};
