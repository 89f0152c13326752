//! weft-identity: who a request comes from.
//!
//! It owns the RS256 signing keys (kept in the store, generated on first start, rotated by
//! adding a newer key: the newest signs, every stored key verifies), access tokens with
//! fence's claim layout, and [`Tokens::verify_for`], the token check every service reaches
//! through `weft_auth::verify_bearer`.
//! [`oauth`] makes weft an OAuth2/OIDC provider (clients, codes, refresh tokens, browser
//! sessions); [`login`] makes it an OIDC client of external providers.
//! It must never decide what a verified identity may do: that is `weft-authz`.

pub mod login;
pub mod oauth;
pub mod secret;
mod tokens;

pub use tokens::{
    CLOCK_LEEWAY_SECS, Claims, ContextClaims, Identity, KEY_RELOAD_EVERY, PublicKey, TokenError,
    Tokens, UserClaims,
};
