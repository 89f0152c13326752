//! Errors of the policy engine, shaped as arborist reports them.

use weft_core::{ErrorCode, WeftError};
use weft_store::StoreError;

/// A failed policy operation. `exists` carries the conflicting object where arborist returns
/// it beside the error (a duplicate resource on create).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthzError {
    pub code: ErrorCode,
    pub message: String,
    pub exists: Option<Box<serde_json::Value>>,
    /// The cause of an internal error, for the log only.
    pub detail: Option<String>,
}

pub type AuthzResult<T> = Result<T, AuthzError>;

impl AuthzError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            exists: None,
            detail: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::AlreadyExists, message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }
    #[must_use]
    pub fn with_exists(mut self, exists: serde_json::Value) -> Self {
        self.exists = Some(Box::new(exists));
        self
    }
    /// The HTTP status arborist answers with.
    #[must_use]
    pub const fn status(&self) -> u16 {
        self.code.http_status()
    }
}

impl std::fmt::Display for AuthzError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AuthzError {}

impl From<WeftError> for AuthzError {
    fn from(e: WeftError) -> Self {
        Self {
            code: e.code,
            message: e.message,
            exists: None,
            detail: e.detail,
        }
    }
}

impl From<StoreError> for AuthzError {
    fn from(e: StoreError) -> Self {
        WeftError::from(e).into()
    }
}

impl From<AuthzError> for WeftError {
    fn from(e: AuthzError) -> Self {
        Self {
            code: e.code,
            message: e.message,
            detail: e.detail,
        }
    }
}
