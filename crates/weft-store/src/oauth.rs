//! Storage of OAuth2/OIDC state: registered clients, authorization codes, refresh tokens
//! and browser sessions. Secrets are never stored in the clear: clients keep a password
//! hash, codes and sessions are kept under the SHA-256 of their value.

use async_trait::async_trait;

use crate::StoreResult;

/// An OAuth2 client registered with `weft client create` (fence-create client-create).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub client_id: String,
    /// Unique, as fence's client names.
    pub name: String,
    /// PHC string of the secret's hash; `None` for a public client (PKCE, no secret).
    pub secret_hash: Option<String>,
    /// Exact redirect URIs the client may receive codes at.
    pub redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    /// Skip the consent page.
    pub auto_approve: bool,
    /// The user who registered it, if any.
    pub owner: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
}

/// An authorization code, stored under the SHA-256 (hex) of the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    pub code_hash: String,
    pub client_id: String,
    pub username: String,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    /// PKCE (RFC 7636): the challenge and its method (`S256` or `plain`).
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    /// When the user logged in (OIDC `auth_time`), unix seconds.
    pub auth_time: i64,
    pub expires_at: i64,
}

/// What redeeming a code found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeRedemption {
    /// First use: the code, now spent.
    Fresh(AuthCode),
    /// The code was spent before: a replay (RFC 6749 §4.1.2 asks to revoke what it gave).
    Reused(AuthCode),
    /// No such code.
    Unknown,
}

/// A refresh token as stored: the token itself is a signed JWT the client keeps; this row
/// lets it be revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub jti: String,
    pub username: String,
    pub client_id: String,
    /// The code it was issued for (hash), so a replayed code can revoke it.
    pub code_hash: Option<String>,
    pub expires_at: i64,
    pub revoked: bool,
}

/// A browser session, stored under the SHA-256 (hex) of the cookie's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: String,
    pub username: String,
    /// How the user logged in: the identity provider's name.
    pub idp: String,
    pub created_at: i64,
    pub expires_at: i64,
}

#[async_trait]
pub trait OAuthStore: Send + Sync + 'static {
    /// Register a client; `AlreadyExists` if the name or id is taken.
    async fn add_client(&self, client: OAuthClient) -> StoreResult<()>;

    async fn client(&self, client_id: &str) -> StoreResult<Option<OAuthClient>>;

    /// Every client, by name.
    async fn clients(&self) -> StoreResult<Vec<OAuthClient>>;

    /// Delete a client by name with its refresh tokens; false if there is none.
    async fn delete_client(&self, name: &str) -> StoreResult<bool>;

    async fn add_code(&self, code: AuthCode) -> StoreResult<()>;

    /// Spend a code: the first call returns it `Fresh`, later calls `Reused`. Atomic, so
    /// two concurrent redemptions never both see `Fresh`.
    async fn redeem_code(&self, code_hash: &str) -> StoreResult<CodeRedemption>;

    async fn add_refresh_token(&self, token: RefreshToken) -> StoreResult<()>;

    async fn refresh_token(&self, jti: &str) -> StoreResult<Option<RefreshToken>>;

    /// Revoke one refresh token; false if there is none.
    async fn revoke_refresh_token(&self, jti: &str) -> StoreResult<bool>;

    /// Revoke every refresh token issued for a code; returns how many.
    async fn revoke_refresh_tokens_of_code(&self, code_hash: &str) -> StoreResult<u64>;

    async fn add_session(&self, session: Session) -> StoreResult<()>;

    /// A session that has not expired at `now`.
    async fn session(&self, id_hash: &str, now: i64) -> StoreResult<Option<Session>>;

    /// End a session; false if there was none.
    async fn delete_session(&self, id_hash: &str) -> StoreResult<bool>;

    /// Forget expired codes, sessions and refresh tokens; returns how many rows went.
    async fn purge_expired(&self, now: i64) -> StoreResult<u64>;
}
