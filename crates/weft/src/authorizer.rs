//! The index service's authorizer on the policy engine, as Gen3 wires indexd to arborist.
//!
//! Basic auth stays what indexd keeps it for: index users (stored, argon2) may do anything
//! the index service does. A bearer token is verified and its user (or OAuth client) must be
//! allowed the action on every one of the record's `authz` paths, or hold it on
//! `/services/indexd/admin` for the index service. No credentials is the anonymous user,
//! which the policy set may allow (public data), and is denied by default.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use weft_authz::{AuthzService, Principal};
use weft_core::WeftError;
use weft_identity::Tokens;
use weft_indexd::{Authorized, Authorizer, Credentials, IndexUserAuthorizer};

/// Where indexd's admin override lives.
const INDEXD_ADMIN: &str = "/services/indexd/admin";
/// What an empty `authz` list is checked against, as indexd does.
const EMPTY_AUTHZ: &str = "/programs";

pub struct PolicyAuthorizer {
    index_users: IndexUserAuthorizer,
    authz: Arc<AuthzService>,
    tokens: Arc<Tokens>,
}

impl PolicyAuthorizer {
    #[must_use]
    pub fn new(
        index_users: IndexUserAuthorizer,
        authz: Arc<AuthzService>,
        tokens: Arc<Tokens>,
    ) -> Self {
        Self {
            index_users,
            authz,
            tokens,
        }
    }

    async fn principal(&self, credentials: &Credentials) -> Result<Principal, WeftError> {
        match credentials {
            Credentials::Bearer(token) => {
                let id =
                    self.tokens.verify(token, &["openid"]).await.map_err(|e| {
                        WeftError::unauthenticated(format!("Permission denied. {e}"))
                    })?;
                Principal::of_token(id.user, id.client).ok_or_else(|| {
                    WeftError::forbidden(
                        "Permission denied: the token names neither a user nor a client",
                    )
                })
            }
            _ => Ok(Principal::Anonymous),
        }
    }
}

fn name(p: &Principal) -> String {
    match p {
        Principal::Anonymous => "anonymous".to_owned(),
        Principal::User(u) | Principal::UserViaClient { user: u, .. } => u.clone(),
        Principal::Client(c) => format!("client:{c}"),
    }
}

#[async_trait]
impl Authorizer for PolicyAuthorizer {
    async fn authorize(
        &self,
        credentials: &Credentials,
        service: &'static str,
        method: &'static str,
        resources: &[String],
    ) -> Result<Authorized, WeftError> {
        if let Credentials::Basic { .. } = credentials {
            if service == "indexd" {
                return self
                    .index_users
                    .authorize(credentials, service, method, resources)
                    .await;
            }
            return Err(WeftError::unauthenticated(
                "Permission denied: basic auth is for index users; this needs a token",
            ));
        }
        let who = self.principal(credentials).await?;
        let now = Utc::now();
        let snap = self.authz.fresh().await.map_err(WeftError::from)?;
        let admin = service == "indexd" && snap.decide(&who, INDEXD_ADMIN, service, method, now);
        let paths: Vec<&str> = if resources.is_empty() {
            vec![EMPTY_AUTHZ]
        } else {
            resources.iter().map(String::as_str).collect()
        };
        if admin
            || paths
                .iter()
                .all(|p| snap.decide_on(&who, p, service, method, now))
        {
            return Ok(Authorized::granted(name(&who), service, method));
        }
        Err(match who {
            Principal::Anonymous => WeftError::unauthenticated("Permission denied."),
            _ => WeftError::forbidden(format!(
                "Permission denied: `{service}` `{method}` is not allowed on {}",
                paths.join(", ")
            )),
        })
    }
}
