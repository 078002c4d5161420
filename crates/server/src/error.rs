//! Errors of the service and how the API shows them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use phishloop_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// Errors of API requests and of service start-up.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("missing bearer token: send the header `Authorization: Bearer <token>`")]
    Unauthenticated,

    #[error("invalid or revoked token")]
    InvalidToken,

    #[error("the token's role {role} may not {action}")]
    Forbidden { role: &'static str, action: &'static str },

    #[error("{0}")]
    BadRequest(String),

    #[error("unsupported content type {0:?}: send message/rfc822 or multipart/form-data with a `message` part")]
    UnsupportedMediaType(String),

    #[error("message of {size} bytes exceeds the limit of {limit} bytes (server.max_message_bytes)")]
    MessageTooLarge { size: usize, limit: usize },

    #[error("request body exceeds the limit of {limit} bytes for a message (server.max_message_bytes)")]
    BodyTooLarge { limit: usize },

    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: uuid::Uuid },

    #[error("{0}")]
    Conflict(String),

    #[error("invalid configuration: {0}")]
    Config(String),

    #[error(transparent)]
    Store(#[from] StoreError),

    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),

    #[error("cannot listen on {address}")]
    Listen {
        address: String,
        #[source]
        source: std::io::Error,
    },

    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code such as `unauthenticated`.
    pub code: &'static str,
    /// The failure, in words.
    pub error: String,
}

impl ServiceError {
    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            Self::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            Self::Forbidden { .. } => (StatusCode::FORBIDDEN, "forbidden"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            Self::MessageTooLarge { .. } | Self::BodyTooLarge { .. } => {
                (StatusCode::PAYLOAD_TOO_LARGE, "message_too_large")
            }
            Self::Store(StoreError::MessageTooLarge { .. }) => (StatusCode::PAYLOAD_TOO_LARGE, "message_too_large"),
            Self::Store(StoreError::InvalidInput { .. }) => (StatusCode::BAD_REQUEST, "bad_request"),
            Self::NotFound { .. } => (StatusCode::NOT_FOUND, "not_found"),
            Self::Store(StoreError::ActionNotFound(_)) => (StatusCode::NOT_FOUND, "not_found"),
            Self::Conflict(_) | Self::Store(StoreError::ActionStatusConflict { .. }) => {
                (StatusCode::CONFLICT, "conflict")
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // Internal details go to the log only; bad client input is not an error of ours.
        let error = if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %self, "request failed");
            "internal error; the server log has the details".to_owned()
        } else {
            tracing::debug!(error = %self, %status, "request rejected");
            self.to_string()
        };
        (status, Json(ErrorBody { code, error })).into_response()
    }
}
