//! The error-code catalogue: every error weft reports has one stable code with one HTTP status.

use std::fmt;

/// A stable, machine-readable error category. Each maps to exactly one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The request is malformed or fails validation.
    InvalidInput,
    /// Credentials are missing or do not prove an identity.
    Unauthenticated,
    /// The caller is known but not allowed to do this.
    Forbidden,
    /// The addressed thing does not exist.
    NotFound,
    /// The thing to create already exists.
    AlreadyExists,
    /// The client's `rev` is not the record's current revision.
    RevisionMismatch,
    /// The request body exceeds the configured limit.
    PayloadTooLarge,
    /// The body is valid JSON but semantically unacceptable.
    Unprocessable,
    /// A dependency (database, storage) failed; details are logged, never returned.
    Internal,
    /// A dependency is temporarily unavailable.
    Unavailable,
}

impl ErrorCode {
    /// The HTTP status this code is answered with.
    #[must_use]
    pub const fn http_status(self) -> u16 {
        match self {
            Self::InvalidInput => 400,
            Self::Unauthenticated => 401,
            Self::Forbidden => 403,
            Self::NotFound => 404,
            Self::AlreadyExists | Self::RevisionMismatch => 409,
            Self::PayloadTooLarge => 413,
            Self::Unprocessable => 422,
            Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// The stable snake_case name of the code.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::RevisionMismatch => "revision_mismatch",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Unprocessable => "unprocessable",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
        }
    }
}

/// An error with a catalogue code and a message fit to show the client.
///
/// Internal errors carry their cause in `detail`, which is logged and never sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeftError {
    pub code: ErrorCode,
    pub message: String,
    pub detail: Option<String>,
}

impl WeftError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            detail: None,
        }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
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
    pub fn rev_mismatch() -> Self {
        Self::new(ErrorCode::RevisionMismatch, "revision mismatch")
    }
    /// An internal failure: the client sees a generic message, the cause is kept for the log.
    pub fn internal(detail: impl fmt::Display) -> Self {
        Self {
            code: ErrorCode::Internal,
            message: "internal server error".to_owned(),
            detail: Some(detail.to_string()),
        }
    }
}

impl fmt::Display for WeftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl std::error::Error for WeftError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_follow_the_catalogue() {
        assert_eq!(ErrorCode::RevisionMismatch.http_status(), 409);
        assert_eq!(ErrorCode::AlreadyExists.http_status(), 409);
        assert_eq!(ErrorCode::PayloadTooLarge.http_status(), 413);
        assert_eq!(ErrorCode::InvalidInput.http_status(), 400);
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let e = WeftError::internal("SQL: syntax error near FROM");
        assert_eq!(e.message, "internal server error");
        assert_eq!(e.detail.as_deref(), Some("SQL: syntax error near FROM"));
    }
}
