//! weft as an OAuth2 / OpenID Connect provider, as fence is: registered clients, the
//! authorization-code grant with PKCE, refresh tokens that can be revoked, the
//! client-credentials grant, and browser sessions.
//!
//! Secrets are never stored in the clear: client secrets as argon2 hashes, codes and
//! session ids as their SHA-256. Codes are single-use; a replayed code revokes the refresh
//! tokens issued for it (RFC 6749 §4.1.2).

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use chrono::Utc;
use rand::Rng as _;
use serde::Serialize;
use sha2::{Digest, Sha256};
use weft_store::{
    AuthCode, CodeRedemption, OAuthClient, OAuthStore, RefreshToken, Session, StoreError,
};

use crate::tokens::{Claims, Identity, TokenError, Tokens};

/// Scopes a user's token may carry (fence `USER_ALLOWED_SCOPES`).
pub const USER_ALLOWED_SCOPES: [&str; 9] = [
    "fence",
    "openid",
    "user",
    "data",
    "admin",
    "google_credentials",
    "google_service_account",
    "google_link",
    "ga4gh_passport_v1",
];

/// What a browser session may do: the user scopes and `credentials` (API-key management),
/// as fence's `SESSION_ALLOWED_SCOPES`.
pub const SESSION_SCOPES: [&str; 10] = [
    "fence",
    "openid",
    "user",
    "data",
    "admin",
    "google_credentials",
    "google_service_account",
    "google_link",
    "ga4gh_passport_v1",
    "credentials",
];

/// Default scopes of a new client (fence `CLIENT_ALLOWED_SCOPES`).
pub const CLIENT_ALLOWED_SCOPES: [&str; 7] = [
    "openid",
    "user",
    "data",
    "google_credentials",
    "google_service_account",
    "google_link",
    "ga4gh_passport_v1",
];

/// Standard OIDC scopes that only ask for claims; accepted and ignored (OIDC Core §5.4).
const CLAIM_SCOPES: [&str; 4] = ["email", "profile", "address", "phone"];

/// The grant types weft serves.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// Seconds an authorization code lives (RFC 6749 recommends at most 10 minutes).
const CODE_TTL: i64 = 60;

/// An OAuth2 error as RFC 6749 §5.2 names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// `invalid_request`, `invalid_client`, `invalid_grant`, `unauthorized_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `access_denied`, `server_error`.
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            error,
            description: description.into(),
        }
    }
    #[must_use]
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new("invalid_request", d)
    }
    #[must_use]
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new("invalid_client", d)
    }
    #[must_use]
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new("invalid_grant", d)
    }
    #[must_use]
    pub fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new("invalid_scope", d)
    }
    #[must_use]
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new("unauthorized_client", d)
    }
    #[must_use]
    pub fn unsupported_grant_type(d: impl Into<String>) -> Self {
        Self::new("unsupported_grant_type", d)
    }
    fn server(e: impl std::fmt::Display) -> Self {
        Self::new("server_error", e.to_string())
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.description)
    }
}

impl std::error::Error for OAuthError {}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        match e {
            // A value the store refuses (PostgreSQL: a NUL in text) is the request's fault.
            StoreError::Invalid(m) => Self::invalid_request(m),
            e => Self::server(e),
        }
    }
}

impl From<TokenError> for OAuthError {
    fn from(e: TokenError) -> Self {
        Self::invalid_grant(e.to_string())
    }
}

/// The token endpoint's answer (RFC 6749 §5.1, plus OIDC's `id_token`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    pub token_type: &'static str,
    pub access_token: String,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

/// What `weft client create` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    /// Empty: fence's `CLIENT_ALLOWED_SCOPES`.
    pub allowed_scopes: Vec<String>,
    /// Empty: `authorization_code` and `refresh_token`.
    pub grant_types: Vec<String>,
    pub auto_approve: bool,
    /// A public client has no secret and must use PKCE.
    pub public: bool,
    pub owner: Option<String>,
}

/// What an authorization request asks for, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizeRequest {
    pub client: OAuthClient,
    pub redirect_uri: String,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// A user-facing identity claim set weft adds to ID tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserProfile {
    pub email: Option<String>,
}

/// `len` random letters and digits (session ids, client ids, CSRF values).
#[must_use]
pub fn random_string(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// SHA-256 of a secret, hex: how codes and session ids are stored.
#[must_use]
pub fn secret_hash(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// PKCE (RFC 7636 §4.6): does `verifier` answer `challenge` under `method`?
fn pkce_matches(challenge: &str, method: &str, verifier: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    let computed = match method {
        "S256" => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha256::digest(verifier.as_bytes())),
        _ => verifier.to_owned(),
    };
    computed.as_bytes().ct_eq(challenge.as_bytes()).into()
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of SHA-256 of the access token.
fn at_hash(access_token: &str) -> String {
    let d = Sha256::digest(access_token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&d[..16])
}

/// Is `uri` acceptable as a registered redirect URI? Absolute http(s) without a fragment;
/// plain http only for loopback hosts (RFC 8252 §7.3) unless `allow_http`.
pub fn check_redirect_uri(uri: &str, allow_http: bool) -> Result<(), String> {
    let parsed = url::Url::parse(uri).map_err(|e| format!("`{uri}` is not a URL: {e}"))?;
    if parsed.fragment().is_some() {
        return Err(format!("`{uri}` has a fragment"));
    }
    match parsed.scheme() {
        "https" => Ok(()),
        "http" => {
            let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if loopback || allow_http {
                Ok(())
            } else {
                Err(format!(
                    "`{uri}`: plain http is only allowed for loopback hosts"
                ))
            }
        }
        s => Err(format!("`{uri}`: scheme `{s}` is not allowed")),
    }
}

/// The OAuth2 provider and session keeper of one weft.
pub struct OAuth {
    store: Arc<dyn OAuthStore>,
    tokens: Arc<Tokens>,
    pub access_ttl: i64,
    pub refresh_ttl: i64,
    pub session_ttl: i64,
}

impl OAuth {
    #[must_use]
    pub fn new(store: Arc<dyn OAuthStore>, tokens: Arc<Tokens>) -> Self {
        Self {
            store,
            tokens,
            access_ttl: 1_200,
            refresh_ttl: 2_592_000,
            session_ttl: 28_800,
        }
    }

    #[must_use]
    pub fn tokens(&self) -> &Arc<Tokens> {
        &self.tokens
    }

    /// Register a client; returns it and, for a confidential client, its secret (shown
    /// once: only its hash is kept).
    pub async fn create_client(
        &self,
        new: NewClient,
    ) -> Result<(OAuthClient, Option<String>), OAuthError> {
        if new.name.trim().is_empty() {
            return Err(OAuthError::invalid_request("a client needs a name"));
        }
        for uri in &new.redirect_uris {
            check_redirect_uri(uri, true).map_err(OAuthError::invalid_request)?;
        }
        let grant_types = if new.grant_types.is_empty() {
            vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
        } else {
            new.grant_types.clone()
        };
        if let Some(bad) = grant_types
            .iter()
            .find(|g| !GRANT_TYPES.contains(&g.as_str()))
        {
            return Err(OAuthError::invalid_request(format!(
                "grant type `{bad}` is not served (one of {})",
                GRANT_TYPES.join(", ")
            )));
        }
        if new.public && grant_types.iter().any(|g| g == "client_credentials") {
            return Err(OAuthError::invalid_request(
                "a public client cannot use client_credentials: it has no secret",
            ));
        }
        if grant_types.iter().any(|g| g == "authorization_code") && new.redirect_uris.is_empty() {
            return Err(OAuthError::invalid_request(
                "the authorization_code grant needs at least one redirect URI",
            ));
        }
        let allowed_scopes = if new.allowed_scopes.is_empty() {
            CLIENT_ALLOWED_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        } else {
            new.allowed_scopes.clone()
        };
        if let Some(bad) = allowed_scopes
            .iter()
            .find(|s| !USER_ALLOWED_SCOPES.contains(&s.as_str()))
        {
            return Err(OAuthError::invalid_scope(format!(
                "scope `{bad}` cannot be given to a client"
            )));
        }
        let secret = (!new.public).then(|| random_string(55));
        let secret_hash = match &secret {
            Some(s) => Some(hash_secret(s)?),
            None => None,
        };
        let client = OAuthClient {
            client_id: random_string(40),
            name: new.name,
            secret_hash,
            redirect_uris: new.redirect_uris,
            allowed_scopes,
            grant_types,
            auto_approve: new.auto_approve,
            owner: new.owner,
            created_at: Utc::now().timestamp(),
        };
        self.store
            .add_client(client.clone())
            .await
            .map_err(|e| match e {
                StoreError::AlreadyExists(m) => OAuthError::invalid_request(m),
                e => OAuthError::server(e),
            })?;
        Ok((client, secret))
    }

    pub async fn clients(&self) -> Result<Vec<OAuthClient>, OAuthError> {
        Ok(self.store.clients().await?)
    }

    pub async fn delete_client(&self, name: &str) -> Result<bool, OAuthError> {
        Ok(self.store.delete_client(name).await?)
    }

    /// The client with this id, if any. No client id holds a NUL character (PostgreSQL
    /// refuses one in text), so an id with one is no client, on every backend.
    pub async fn client(&self, client_id: &str) -> Result<Option<OAuthClient>, OAuthError> {
        if client_id.contains('\0') {
            return Ok(None);
        }
        Ok(self.store.client(client_id).await?)
    }

    /// Authenticate a client at the token endpoint: a confidential client by its secret,
    /// a public one by its id alone.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: Option<&str>,
    ) -> Result<OAuthClient, OAuthError> {
        let client = self
            .client(client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_client("unknown client"))?;
        match (&client.secret_hash, secret) {
            (None, None) => Ok(client),
            (None, Some(_)) => Err(OAuthError::invalid_client("a public client has no secret")),
            (Some(_), None) => Err(OAuthError::invalid_client(
                "client authentication is required",
            )),
            (Some(hash), Some(secret)) => {
                let hash = hash.clone();
                let secret = secret.to_owned();
                let ok = tokio::task::spawn_blocking(move || {
                    PasswordHash::new(&hash).is_ok_and(|h| {
                        Argon2::default()
                            .verify_password(secret.as_bytes(), &h)
                            .is_ok()
                    })
                })
                .await
                .map_err(OAuthError::server)?;
                if ok {
                    Ok(client)
                } else {
                    Err(OAuthError::invalid_client("wrong client secret"))
                }
            }
        }
    }

    /// Check an authorization request's client and redirect URI. An error here must not
    /// be sent to the redirect URI (it may be an attacker's): answer it directly.
    pub async fn authorize_target(
        &self,
        client_id: Option<&str>,
        redirect_uri: Option<&str>,
    ) -> Result<(OAuthClient, String), OAuthError> {
        let client_id =
            client_id.ok_or_else(|| OAuthError::invalid_request("client_id is required"))?;
        let client = self
            .client(client_id)
            .await?
            .ok_or_else(|| OAuthError::invalid_client("unknown client_id"))?;
        let uri = match redirect_uri {
            Some(u) if client.redirect_uris.iter().any(|r| r == u) => u.to_owned(),
            Some(u) => {
                return Err(OAuthError::invalid_request(format!(
                    "redirect_uri `{u}` is not registered for this client"
                )));
            }
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => {
                return Err(OAuthError::invalid_request(
                    "redirect_uri is required: the client has several",
                ));
            }
        };
        Ok((client, uri))
    }

    /// Check the rest of an authorization request, whose parameters `param` looks up
    /// (`response_type`, `scope`, `state`, `nonce`, `code_challenge`,
    /// `code_challenge_method`). These errors go to the redirect URI.
    pub fn authorize_request(
        client: OAuthClient,
        redirect_uri: String,
        param: impl Fn(&str) -> Option<String>,
    ) -> Result<AuthorizeRequest, OAuthError> {
        let scope = param("scope");
        let (state, nonce) = (param("state"), param("nonce"));
        let (code_challenge, code_challenge_method) =
            (param("code_challenge"), param("code_challenge_method"));
        // Stored with the code: no NUL (PostgreSQL refuses one in text).
        if nonce
            .iter()
            .chain(&code_challenge)
            .any(|v| v.contains('\0'))
        {
            return Err(OAuthError::invalid_request(
                "nonce and code_challenge must not contain NUL characters (U+0000)",
            ));
        }
        if param("response_type").as_deref() != Some("code") {
            return Err(OAuthError::new(
                "unsupported_response_type",
                "only response_type=code is served",
            ));
        }
        if !client.grant_types.iter().any(|g| g == "authorization_code") {
            return Err(OAuthError::unauthorized_client(
                "this client may not use the authorization_code grant",
            ));
        }
        let scopes = requested_scopes(scope.as_deref(), &client)?;
        let method = match (&code_challenge, code_challenge_method.as_deref()) {
            (None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method without code_challenge",
                ));
            }
            (None, None) if client.secret_hash.is_none() => {
                return Err(OAuthError::invalid_request(
                    "a public client must use PKCE (code_challenge)",
                ));
            }
            (None, None) => None,
            (Some(_), None | Some("plain")) => Some("plain".to_owned()),
            (Some(_), Some("S256")) => Some("S256".to_owned()),
            (Some(_), Some(m)) => {
                return Err(OAuthError::invalid_request(format!(
                    "code_challenge_method `{m}` is not S256 or plain"
                )));
            }
        };
        if let Some(c) = &code_challenge
            && !(43..=128).contains(&c.len())
        {
            return Err(OAuthError::invalid_request(
                "code_challenge must be 43 to 128 characters",
            ));
        }
        Ok(AuthorizeRequest {
            client,
            redirect_uri,
            scopes,
            state,
            nonce,
            code_challenge,
            code_challenge_method: method,
        })
    }

    /// A code for an approved request of a logged-in user; returns the code.
    pub async fn issue_code(
        &self,
        req: &AuthorizeRequest,
        username: &str,
        auth_time: i64,
    ) -> Result<String, OAuthError> {
        let code = random_string(48);
        self.store
            .add_code(AuthCode {
                code_hash: secret_hash(&code),
                client_id: req.client.client_id.clone(),
                username: username.to_owned(),
                redirect_uri: req.redirect_uri.clone(),
                scopes: req.scopes.clone(),
                nonce: req.nonce.clone(),
                code_challenge: req.code_challenge.clone(),
                code_challenge_method: req.code_challenge_method.clone(),
                auth_time,
                expires_at: Utc::now().timestamp() + CODE_TTL,
            })
            .await?;
        Ok(code)
    }

    /// The authorization-code grant.
    pub async fn exchange_code(
        &self,
        client: &OAuthClient,
        code: Option<&str>,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        profile: &(dyn Fn(&str) -> UserProfile + Sync),
    ) -> Result<TokenResponse, OAuthError> {
        allow_grant(client, "authorization_code")?;
        let code = code.ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let hash = secret_hash(code);
        let stored = match self.store.redeem_code(&hash).await? {
            CodeRedemption::Fresh(c) => c,
            CodeRedemption::Reused(c) => {
                let n = self
                    .store
                    .revoke_refresh_tokens_of_code(&c.code_hash)
                    .await?;
                tracing::warn!(
                    client = %c.client_id, user = %c.username, revoked = n,
                    "an authorization code was presented twice; its refresh tokens are revoked"
                );
                return Err(OAuthError::invalid_grant(
                    "the authorization code was already used",
                ));
            }
            CodeRedemption::Unknown => {
                return Err(OAuthError::invalid_grant("unknown authorization code"));
            }
        };
        if stored.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the authorization code was issued to another client",
            ));
        }
        if stored.expires_at <= Utc::now().timestamp() {
            return Err(OAuthError::invalid_grant("the authorization code expired"));
        }
        if redirect_uri != Some(stored.redirect_uri.as_str()) {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        if let Some(challenge) = &stored.code_challenge {
            let method = stored.code_challenge_method.as_deref().unwrap_or("plain");
            let verifier = code_verifier
                .ok_or_else(|| OAuthError::invalid_grant("code_verifier is required (PKCE)"))?;
            if !pkce_matches(challenge, method, verifier) {
                return Err(OAuthError::invalid_grant(
                    "code_verifier does not match the code_challenge",
                ));
            }
        } else if code_verifier.is_some() {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent, but the authorization request had no code_challenge",
            ));
        }
        let access = self.access_token(Some(&stored.username), client, &stored.scopes)?;
        let id_token = if stored.scopes.iter().any(|s| s == "openid") {
            Some(self.id_token(&stored, client, &access, &profile(&stored.username))?)
        } else {
            None
        };
        let refresh_token = if client.grant_types.iter().any(|g| g == "refresh_token") {
            Some(
                self.refresh_token_for(
                    &stored.username,
                    client,
                    &stored.scopes,
                    Some(&stored.code_hash),
                )
                .await?,
            )
        } else {
            None
        };
        Ok(TokenResponse {
            token_type: "Bearer",
            access_token: access,
            expires_in: self.access_ttl,
            refresh_token,
            id_token,
            scope: stored.scopes.join(" "),
        })
    }

    /// The refresh-token grant: a new access token; the same refresh token (as fence).
    pub async fn refresh(
        &self,
        client: &OAuthClient,
        refresh_token: Option<&str>,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        allow_grant(client, "refresh_token")?;
        let token = refresh_token
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let claims = self.verify_refresh(token).await?;
        if claims.azp != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        // A narrower scope may be asked for, never a wider one (RFC 6749 §6).
        let scopes = match scope {
            None => claims.scope.clone(),
            Some(s) => {
                let asked: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
                if let Some(bad) = asked.iter().find(|a| !claims.scope.contains(a)) {
                    return Err(OAuthError::invalid_scope(format!(
                        "scope `{bad}` was not granted to this refresh token"
                    )));
                }
                asked
            }
        };
        let user = claims
            .context
            .user
            .as_ref()
            .map(|u| u.name.clone())
            .ok_or_else(|| OAuthError::invalid_grant("the refresh token names no user"))?;
        let access = self.access_token(Some(&user), client, &scopes)?;
        Ok(TokenResponse {
            token_type: "Bearer",
            access_token: access,
            expires_in: self.access_ttl,
            refresh_token: Some(token.to_owned()),
            id_token: None,
            scope: scopes.join(" "),
        })
    }

    /// The client-credentials grant: a token for the client itself (no user).
    pub fn client_credentials(
        &self,
        client: &OAuthClient,
        scope: Option<&str>,
    ) -> Result<TokenResponse, OAuthError> {
        allow_grant(client, "client_credentials")?;
        let scopes = requested_scopes(scope, client)?;
        let access = self.access_token(None, client, &scopes)?;
        Ok(TokenResponse {
            token_type: "Bearer",
            access_token: access,
            expires_in: self.access_ttl,
            refresh_token: None,
            id_token: None,
            scope: scopes.join(" "),
        })
    }

    /// Verify a refresh token: signature, issuer, expiry, purpose, and that it was not
    /// revoked. The one place refresh tokens are accepted.
    pub async fn verify_refresh(&self, token: &str) -> Result<Claims, OAuthError> {
        let claims = self.tokens.verify_claims(token).await?;
        if claims.pur != "refresh" {
            return Err(OAuthError::invalid_grant(format!(
                "a `{}` token is not a refresh token",
                claims.pur
            )));
        }
        match self.store.refresh_token(&claims.jti).await? {
            Some(t) if !t.revoked => Ok(claims),
            Some(_) => Err(OAuthError::invalid_grant("the refresh token was revoked")),
            None => Err(OAuthError::invalid_grant("unknown refresh token")),
        }
    }

    /// RFC 7009 revocation of a refresh token by the client it was issued to. Anything
    /// else (unknown, malformed, someone else's, an access token) is silently ignored, as
    /// the RFC asks; returns whether a token was revoked.
    pub async fn revoke(&self, client: &OAuthClient, token: &str) -> Result<bool, OAuthError> {
        let Ok(claims) = self.tokens.verify_claims(token).await else {
            return Ok(false);
        };
        if claims.pur != "refresh" || claims.azp != client.client_id {
            return Ok(false);
        }
        Ok(self.store.revoke_refresh_token(&claims.jti).await?)
    }

    fn access_token(
        &self,
        user: Option<&str>,
        client: &OAuthClient,
        scopes: &[String],
    ) -> Result<String, OAuthError> {
        let claims = self.tokens.claims(
            user,
            Some(&client.client_id),
            scopes,
            self.access_ttl,
            "access",
        );
        Ok(self.tokens.sign(&claims)?)
    }

    async fn refresh_token_for(
        &self,
        user: &str,
        client: &OAuthClient,
        scopes: &[String],
        code_hash: Option<&str>,
    ) -> Result<String, OAuthError> {
        let claims = self.tokens.claims(
            Some(user),
            Some(&client.client_id),
            scopes,
            self.refresh_ttl,
            "refresh",
        );
        let jwt = self.tokens.sign(&claims)?;
        self.store
            .add_refresh_token(RefreshToken {
                jti: claims.jti,
                username: user.to_owned(),
                client_id: client.client_id.clone(),
                code_hash: code_hash.map(str::to_owned),
                expires_at: claims.exp,
                revoked: false,
            })
            .await?;
        Ok(jwt)
    }

    fn id_token(
        &self,
        code: &AuthCode,
        client: &OAuthClient,
        access_token: &str,
        profile: &UserProfile,
    ) -> Result<String, OAuthError> {
        let now = Utc::now().timestamp();
        let email = profile
            .email
            .clone()
            .or_else(|| code.username.contains('@').then(|| code.username.clone()));
        let claims = serde_json::json!({
            "iss": self.tokens.issuer(),
            "sub": code.username,
            "aud": [client.client_id],
            "azp": client.client_id,
            "iat": now,
            "exp": now + self.access_ttl,
            "auth_time": code.auth_time,
            "jti": uuid::Uuid::new_v4().to_string(),
            "pur": "id",
            "nonce": code.nonce,
            "at_hash": at_hash(access_token),
            "preferred_username": code.username,
            "email": email,
            "context": {"user": {"name": code.username, "is_admin": false, "email": email}},
        });
        Ok(self.tokens.sign_value(&claims)?)
    }

    /// Start a browser session for `username`; returns the cookie value.
    pub async fn create_session(&self, username: &str, idp: &str) -> Result<String, OAuthError> {
        let id = random_string(43);
        let now = Utc::now().timestamp();
        self.store
            .add_session(Session {
                id_hash: secret_hash(&id),
                username: username.to_owned(),
                idp: idp.to_owned(),
                created_at: now,
                expires_at: now + self.session_ttl,
            })
            .await?;
        Ok(id)
    }

    /// The live session a cookie value names.
    pub async fn session(&self, cookie: &str) -> Result<Option<Session>, OAuthError> {
        Ok(self
            .store
            .session(&secret_hash(cookie), Utc::now().timestamp())
            .await?)
    }

    /// End the session a cookie value names.
    pub async fn end_session(&self, cookie: &str) -> Result<bool, OAuthError> {
        Ok(self.store.delete_session(&secret_hash(cookie)).await?)
    }

    /// A session seen as a verified identity with the session scopes (fence's session
    /// token), for endpoints that accept a browser session instead of a bearer token.
    #[must_use]
    pub fn session_identity(&self, s: &Session) -> Identity {
        let scopes: Vec<String> = SESSION_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        let mut claims = self.tokens.claims(
            Some(&s.username),
            None,
            &scopes,
            s.expires_at - Utc::now().timestamp(),
            "session",
        );
        claims.iat = s.created_at;
        claims.exp = s.expires_at;
        Identity {
            user: Some(s.username.clone()),
            client: None,
            claims,
        }
    }

    /// Forget expired codes, sessions and refresh tokens.
    pub async fn purge_expired(&self) -> Result<u64, OAuthError> {
        Ok(self.store.purge_expired(Utc::now().timestamp()).await?)
    }
}

fn hash_secret(secret: &str) -> Result<String, OAuthError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(OAuthError::server)
}

fn allow_grant(client: &OAuthClient, grant: &str) -> Result<(), OAuthError> {
    if client.grant_types.iter().any(|g| g == grant) {
        Ok(())
    } else {
        Err(OAuthError::unauthorized_client(format!(
            "this client may not use the {grant} grant"
        )))
    }
}

/// The scopes of a request: space-separated, each allowed for the client (claim-only OIDC
/// scopes such as `email` are dropped); none asked: every allowed one.
fn requested_scopes(scope: Option<&str>, client: &OAuthClient) -> Result<Vec<String>, OAuthError> {
    let Some(scope) = scope.filter(|s| !s.trim().is_empty()) else {
        return Ok(client.allowed_scopes.clone());
    };
    let mut scopes = Vec::new();
    for s in scope.split_whitespace() {
        if CLAIM_SCOPES.contains(&s) || scopes.iter().any(|x| x == s) {
            continue;
        }
        if !client.allowed_scopes.iter().any(|a| a == s) {
            return Err(OAuthError::invalid_scope(format!(
                "scope `{s}` is not allowed for this client"
            )));
        }
        scopes.push(s.to_owned());
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_rfc_7636_appendix_b() {
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(challenge, "S256", verifier));
        assert!(!pkce_matches(challenge, "S256", "another-verifier"));
        assert!(pkce_matches("plain-v", "plain", "plain-v"));
        assert!(!pkce_matches(challenge, "plain", verifier));
    }

    #[test]
    fn redirect_uris_must_be_absolute_and_safe() {
        assert!(check_redirect_uri("https://app.example/cb", false).is_ok());
        assert!(check_redirect_uri("http://127.0.0.1:9000/cb", false).is_ok());
        assert!(check_redirect_uri("http://localhost/cb", false).is_ok());
        assert!(check_redirect_uri("http://app.example/cb", false).is_err());
        assert!(check_redirect_uri("http://app.example/cb", true).is_ok());
        assert!(check_redirect_uri("https://app.example/cb#x", true).is_err());
        assert!(check_redirect_uri("javascript:alert(1)", true).is_err());
        assert!(check_redirect_uri("/relative", true).is_err());
    }

    #[test]
    fn scopes_within_the_client_and_claim_scopes_dropped() {
        let client = OAuthClient {
            client_id: "c".into(),
            name: "n".into(),
            secret_hash: None,
            redirect_uris: vec![],
            allowed_scopes: vec!["openid".into(), "user".into()],
            grant_types: vec![],
            auto_approve: false,
            owner: None,
            created_at: 0,
        };
        assert_eq!(
            requested_scopes(Some("openid email user openid"), &client).unwrap(),
            vec!["openid", "user"]
        );
        assert_eq!(
            requested_scopes(None, &client).unwrap(),
            vec!["openid", "user"]
        );
        assert_eq!(
            requested_scopes(Some("openid data"), &client)
                .unwrap_err()
                .error,
            "invalid_scope"
        );
    }

    #[test]
    fn at_hash_is_the_left_half_of_sha256() {
        let h = at_hash("token");
        assert_eq!(h.len(), 22, "16 bytes, base64url without padding");
        assert_ne!(h, at_hash("token2"));
    }
}
