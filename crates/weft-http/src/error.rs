//! Error rendering per API surface: indexd `{"error": msg}`, DRS `{"msg", "status_code"}`,
//! MDS `{"detail": msg}`, sheepdog `{"message": msg}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use weft_core::{ErrorCode, WeftError};

/// Which wire format an error takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// indexd and weft's own endpoints: `{"error": "..."}`.
    Indexd,
    /// GA4GH DRS: `{"msg": "...", "status_code": n}`.
    Drs,
    /// The metadata service (FastAPI): `{"detail": "..."}`.
    Mds,
    /// Graph submission (sheepdog, Flask): `{"message": "..."}`.
    Sheepdog,
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub error: WeftError,
    pub surface: Surface,
}

impl ApiError {
    #[must_use]
    pub fn drs(error: WeftError) -> Self {
        Self {
            error,
            surface: Surface::Drs,
        }
    }
}

impl ApiError {
    #[must_use]
    pub fn mds(error: WeftError) -> Self {
        Self {
            error,
            surface: Surface::Mds,
        }
    }
}

impl ApiError {
    #[must_use]
    pub fn sheepdog(error: WeftError) -> Self {
        Self {
            error,
            surface: Surface::Sheepdog,
        }
    }
}

impl From<WeftError> for ApiError {
    fn from(error: WeftError) -> Self {
        Self {
            error,
            surface: Surface::Indexd,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.error.code;
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if code == ErrorCode::Internal {
            tracing::error!(detail = ?self.error.detail, "internal error: {}", self.error.message);
        }
        let body = match self.surface {
            Surface::Indexd => json!({"error": self.error.message}),
            Surface::Drs => json!({"msg": self.error.message, "status_code": status.as_u16()}),
            Surface::Mds => json!({"detail": self.error.message}),
            Surface::Sheepdog => json!({"message": self.error.message}),
        };
        (status, Json(body)).into_response()
    }
}

pub async fn not_found() -> ApiError {
    WeftError::not_found("not found").into()
}

/// A path served, but not with this method: 405 with a JSON body like every other error.
pub async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        Json(json!({"error": "method not allowed"})),
    )
        .into_response()
}

pub fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    ApiError::from(WeftError::internal("handler panicked")).into_response()
}
