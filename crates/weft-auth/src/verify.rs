//! The one token-verification entry point.

use weft_identity::{TokenError, Tokens};

use crate::{AuthMethod, Principal};

/// What a token must be for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An access token (`pur: access`): every API call.
    Access,
}

impl Purpose {
    fn claim(self) -> &'static str {
        match self {
            Self::Access => "access",
        }
    }
}

/// Why a caller was not accepted as anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The token did not verify, or lacks a scope or the purpose asked for.
    Token(TokenError),
    /// The token verified but speaks for neither a user nor an OAuth client.
    NoSubject,
}

impl AuthError {
    /// Whether the token is fine but lacks a scope (some surfaces answer 403 for it).
    #[must_use]
    pub fn is_missing_scope(&self) -> bool {
        matches!(self, Self::Token(TokenError::MissingScope(_)))
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Token(e) => e.fmt(f),
            Self::NoSubject => f.write_str("the token names neither a user nor a client"),
        }
    }
}

impl std::error::Error for AuthError {}

impl From<TokenError> for AuthError {
    fn from(e: TokenError) -> Self {
        Self::Token(e)
    }
}

/// Verify a bearer token for `purpose` carrying every scope in `scopes`, and say who it
/// speaks for. Every service verifies tokens here (signature by a known key, issuer,
/// audience, expiry, `nbf`/`iat`: see `weft_identity::Tokens::verify_for`).
pub async fn verify_bearer(
    tokens: &Tokens,
    token: &str,
    scopes: &[&str],
    purpose: Purpose,
) -> Result<Principal, AuthError> {
    let id = tokens.verify_for(token, purpose.claim(), scopes).await?;
    if id.user.is_none() && id.client.is_none() {
        return Err(AuthError::NoSubject);
    }
    Ok(Principal::of_identity(id, AuthMethod::Token))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn tokens_become_principals_or_say_why_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = weft_store_sqlite::SqliteStore::open(&dir.path().join("t.db"), 2).unwrap();
        let t = Tokens::open(Arc::new(store), "http://weft.test/user".into())
            .await
            .unwrap();
        let tok = t.issue_access("Ann", &["openid".into()], 60).unwrap();
        let p = verify_bearer(&t, &tok, &["openid"], Purpose::Access)
            .await
            .unwrap();
        assert_eq!(p.user.as_deref(), Some("Ann"));
        assert_eq!(p.method, AuthMethod::Token);
        assert_eq!(p.subject(), weft_authz::Principal::User("Ann".into()));
        assert!(p.has_scope("openid"));
        let e = verify_bearer(&t, &tok, &["data"], Purpose::Access)
            .await
            .unwrap_err();
        assert!(e.is_missing_scope());
        assert_eq!(e.to_string(), "token lacks scope data");
        // Neither user nor client.
        let nobody = t
            .sign(&t.claims(None, None, &["openid".into()], 60, "access"))
            .unwrap();
        assert_eq!(
            verify_bearer(&t, &nobody, &[], Purpose::Access)
                .await
                .unwrap_err(),
            AuthError::NoSubject
        );
        // An API key is not an access token.
        let (key, _) = t
            .issue_api_key("Ann", &["openid".into(), "fence".into()], 60)
            .await
            .unwrap();
        assert!(matches!(
            verify_bearer(&t, &key, &[], Purpose::Access).await,
            Err(AuthError::Token(TokenError::WrongPurpose(_)))
        ));
    }
}
