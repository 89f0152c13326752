//! Proofs of permission and who hands them out.

use async_trait::async_trait;
use weft_core::WeftError;

use crate::Credentials;

/// Proof that a principal may perform `method` of `service` on some resources. Service
/// methods that change data take one, and only an [`Authorizer`] (or a rule of this crate)
/// hands them out, so a forgotten check does not compile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    principal: String,
    service: &'static str,
    method: &'static str,
}

impl Authorized {
    /// Issued by an [`Authorizer`] after a successful check.
    #[must_use]
    pub fn granted(principal: String, service: &'static str, method: &'static str) -> Self {
        Self {
            principal,
            service,
            method,
        }
    }
    #[must_use]
    pub fn principal(&self) -> &str {
        &self.principal
    }
    #[must_use]
    pub fn method(&self) -> &'static str {
        self.method
    }
    #[must_use]
    pub fn service(&self) -> &'static str {
        self.service
    }
}

/// Decides whether `credentials` may perform `method` of `service` on every one of
/// `resources` (AND semantics, as arborist's `auth/request` for indexd).
#[async_trait]
pub trait Authorizer: Send + Sync + 'static {
    async fn authorize(
        &self,
        credentials: &Credentials,
        service: &'static str,
        method: &'static str,
        resources: &[String],
    ) -> Result<Authorized, WeftError>;

    /// Whether `credentials` can be anyone allowed `method` of `service` at all: checked
    /// before a write's body is read, so a caller without valid credentials learns nothing
    /// about what the body should be (401/403 before any 400). Bad credentials fail as
    /// [`Authorizer::authorize`] would; the full decision on the resources comes after.
    async fn authenticate(
        &self,
        credentials: &Credentials,
        service: &'static str,
        method: &'static str,
    ) -> Result<(), WeftError> {
        let _ = (credentials, service, method);
        Ok(())
    }

    /// The resource paths on which `credentials` may perform `method` of `service` (the
    /// policy engine's `auth/mapping`, filtered), for services that filter what they read
    /// instead of checking one resource. None by default.
    async fn permitted(
        &self,
        credentials: &Credentials,
        service: &'static str,
        method: &'static str,
    ) -> Result<Vec<String>, WeftError> {
        self.authenticate(credentials, service, method).await?;
        Ok(Vec::new())
    }
}
