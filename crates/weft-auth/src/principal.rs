//! Who a verified caller is.

use weft_identity::{Claims, Identity};

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// Nothing presented.
    Anonymous,
    /// A bearer token (access token) verified by [`crate::verify_bearer`].
    Token,
    /// A browser session cookie of this weft.
    Session,
}

/// A verified caller: the user and/or OAuth client a token speaks for, how they
/// authenticated, and the scopes they hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `context.user.name`, if the caller is a user.
    pub user: Option<String>,
    /// `azp`, if the token was issued to an OAuth client.
    pub client: Option<String>,
    pub method: AuthMethod,
    pub scopes: Vec<String>,
    /// The verified claims (none for an anonymous caller).
    pub claims: Option<Claims>,
}

impl Principal {
    /// The caller who presented nothing.
    #[must_use]
    pub fn anonymous() -> Self {
        Self {
            user: None,
            client: None,
            method: AuthMethod::Anonymous,
            scopes: Vec::new(),
            claims: None,
        }
    }

    /// The principal of a verified token or session.
    #[must_use]
    pub fn of_identity(id: Identity, method: AuthMethod) -> Self {
        Self {
            user: id.user,
            client: id.client,
            method,
            scopes: id.claims.scope.clone(),
            claims: Some(id.claims),
        }
    }

    /// Whether the caller holds `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    /// Who the policy engine decides for: the user, the client, both, or `anonymous`.
    #[must_use]
    pub fn subject(&self) -> weft_authz::Principal {
        weft_authz::Principal::of_token(self.user.clone(), self.client.clone())
            .unwrap_or(weft_authz::Principal::Anonymous)
    }

    /// A name for logs and [`crate::Authorized`] proofs.
    #[must_use]
    pub fn name(&self) -> String {
        match (&self.user, &self.client) {
            (Some(u), _) => u.clone(),
            (None, Some(c)) => format!("client:{c}"),
            (None, None) => "anonymous".to_owned(),
        }
    }
}
