//! Errors of web requests and the pages that show them.

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use phishloop_store::{StoreError, UserRole};

use crate::error::ServiceError;

/// The reason a page or form request failed.
#[derive(Debug)]
pub(crate) enum WebError {
    /// No valid session: sign in, then come back to `next`.
    SignIn {
        next: String,
    },
    /// The role may not do this.
    Forbidden {
        role: UserRole,
        action: &'static str,
    },
    /// The form's CSRF token or origin does not match the session.
    InvalidForm,
    NotFound(String),
    BadRequest(String),
    Conflict(String),
    Internal(ServiceError),
}

impl From<ServiceError> for WebError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound { what, id } => Self::NotFound(format!("{what} {id} not found")),
            ServiceError::BadRequest(text) => Self::BadRequest(text),
            ServiceError::Conflict(text) => Self::Conflict(text),
            ServiceError::Store(error) => error.into(),
            other => Self::Internal(other),
        }
    }
}

impl From<StoreError> for WebError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ActionNotFound(_) | StoreError::CaseNotFound(_) | StoreError::ReportNotFound(_) => {
                Self::NotFound(error.to_string())
            }
            StoreError::ActionStatusConflict { .. } => Self::Conflict(error.to_string()),
            StoreError::InvalidInput { .. } => Self::BadRequest(error.to_string()),
            other => Self::Internal(ServiceError::Store(other)),
        }
    }
}

/// Reads a submitted form, or fails with the page for an invalid request:
/// axum's own rejection is a plain-text reply.
pub(crate) fn form_of<T>(form: Result<Form<T>, FormRejection>) -> Result<T, WebError> {
    match form {
        Ok(Form(form)) => Ok(form),
        Err(rejection) => Err(WebError::BadRequest(format!(
            "The form could not be read: {}. Go back and send it from the page's own form.",
            rejection.body_text()
        ))),
    }
}

impl WebError {
    fn status_and_title(&self) -> (StatusCode, &'static str) {
        match self {
            Self::SignIn { .. } => (StatusCode::SEE_OTHER, "Sign in"),
            Self::Forbidden { .. } => (StatusCode::FORBIDDEN, "Not allowed"),
            Self::InvalidForm => (StatusCode::FORBIDDEN, "Form expired"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "Not found"),
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "Invalid request"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "Not possible now"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error"),
        }
    }

    fn message(&self) -> String {
        match self {
            Self::SignIn { .. } => "Sign in to continue.".to_owned(),
            Self::Forbidden { role, action } => {
                format!("Your role, {role}, may not {action}. Ask an administrator if you need to.")
            }
            Self::InvalidForm => "The form did not come from this session, or the session changed since the page \
                                  loaded. Go back, reload the page and try again."
                .to_owned(),
            Self::NotFound(text) | Self::BadRequest(text) | Self::Conflict(text) => text.clone(),
            Self::Internal(_) => "The request failed on the server; the server log has the details.".to_owned(),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let Self::SignIn { next } = &self {
            return Redirect::to(&format!("/login?next={}", percent_encode(next))).into_response();
        }
        let (status, title) = self.status_and_title();
        match &self {
            Self::Internal(error) => tracing::error!(%error, "web request failed"),
            _ => tracing::debug!(%status, message = %self.message(), "web request rejected"),
        }
        let page = super::templates::render_error(status.as_u16(), title, &self.message());
        (status, Html(page)).into_response()
    }
}

/// Encodes a path for a query value: everything but unreserved characters and `/`.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_keeps_paths() {
        assert_eq!(percent_encode("/cases/1?a=b&c"), "/cases/1%3Fa%3Db%26c");
    }
}
