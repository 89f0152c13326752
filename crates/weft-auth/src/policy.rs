//! The policy engine's authorizer, as Gen3 wires indexd (and fence, MDS) to arborist.
//!
//! Basic auth stays what indexd keeps it for: index users may do anything the index
//! service does (checked by the authorizer given for them, `weft_indexd`'s
//! `IndexUserAuthorizer`). A bearer token is verified and its user (or OAuth client) must
//! be allowed the action on every one of the resources, or hold it on
//! `/services/indexd/admin` for the index service. No credentials is the anonymous user,
//! which the policy set may allow (public data), and is denied by default.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use weft_authz::AuthzService;
use weft_core::WeftError;
use weft_identity::Tokens;

use crate::{Authorized, Authorizer, Credentials, Principal, Purpose, verify_bearer};

/// Where indexd's admin override lives.
const INDEXD_ADMIN: &str = "/services/indexd/admin";
/// What an empty `authz` list is checked against, as indexd does.
const EMPTY_AUTHZ: &str = "/programs";

/// Basic credentials anywhere but the index service.
fn basic_refused() -> WeftError {
    WeftError::unauthenticated(
        "Permission denied: basic auth is for index users; this needs a token",
    )
}

pub struct PolicyAuthorizer {
    index_users: Arc<dyn Authorizer>,
    authz: Arc<AuthzService>,
    tokens: Arc<Tokens>,
}

impl PolicyAuthorizer {
    /// `index_users` decides for basic auth on the index service.
    #[must_use]
    pub fn new(
        index_users: Arc<dyn Authorizer>,
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
                verify_bearer(&self.tokens, token, &["openid"], Purpose::Access)
                    .await
                    .map_err(|e| match e {
                        crate::AuthError::NoSubject => WeftError::forbidden(
                            "Permission denied: the token names neither a user nor a client",
                        ),
                        e => WeftError::unauthenticated(format!("Permission denied. {e}")),
                    })
            }
            _ => Ok(Principal::anonymous()),
        }
    }
}

#[async_trait]
impl Authorizer for PolicyAuthorizer {
    async fn authenticate(
        &self,
        credentials: &Credentials,
        service: &'static str,
        method: &'static str,
    ) -> Result<(), WeftError> {
        match credentials {
            Credentials::Basic { .. } if service == "indexd" => {
                self.index_users
                    .authenticate(credentials, service, method)
                    .await
            }
            Credentials::Basic { .. } => Err(basic_refused()),
            Credentials::Bearer(_) => self.principal(credentials).await.map(|_| ()),
            Credentials::None => {
                // Anonymous callers may write only where a policy lets the anonymous group
                // do `method` of `service` somewhere; else no body can make it allowed.
                let snap = self.authz.fresh().await.map_err(WeftError::from)?;
                let mapping = snap.mapping(&weft_authz::Principal::Anonymous, Utc::now());
                if mapping
                    .values()
                    .any(|actions| actions.iter().any(|a| a.covers(service, method)))
                {
                    Ok(())
                } else {
                    Err(WeftError::unauthenticated("Permission denied."))
                }
            }
        }
    }

    async fn permitted(
        &self,
        credentials: &Credentials,
        service: &'static str,
        method: &'static str,
    ) -> Result<Vec<String>, WeftError> {
        if let Credentials::Basic { .. } = credentials {
            return Err(basic_refused());
        }
        let who = self.principal(credentials).await?.subject();
        let snap = self.authz.fresh().await.map_err(WeftError::from)?;
        let mapping = snap.mapping(&who, Utc::now());
        Ok(mapping
            .iter()
            .filter(|(_, actions)| actions.iter().any(|a| a.covers(service, method)))
            .map(|(path, _)| path.clone())
            .collect())
    }

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
            return Err(basic_refused());
        }
        let caller = self.principal(credentials).await?;
        let who = caller.subject();
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
            return Ok(Authorized::granted(caller.name(), service, method));
        }
        Err(match who {
            weft_authz::Principal::Anonymous => WeftError::unauthenticated("Permission denied."),
            _ => WeftError::forbidden(format!(
                "Permission denied: `{service}` `{method}` is not allowed on {}",
                paths.join(", ")
            )),
        })
    }
}
