//! weft-identity: who a request comes from.
//!
//! It owns the RS256 signing keys (kept in the store, generated on first start, rotated by
//! adding a newer key: the newest signs, every stored key verifies), access tokens with
//! fence's claim layout, and [`Tokens::verify`], the one verifier every weft service uses.
//! It must never decide what a verified identity may do: that is `weft-authz`.

pub mod secret;
mod tokens;

pub use tokens::{Claims, ContextClaims, Identity, PublicKey, TokenError, Tokens, UserClaims};
