//! RFC 6749 §5.2 errors of the token endpoint.
//!
//! Unknown client, wrong secret, inactive or expired secret and deleted client are one
//! error, [`OAuthError::InvalidClient`], with one description: telling them apart would tell
//! an attacker which client ids exist and which secrets were once valid.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(String),
    /// An `invalid_request` whose body exceeded the limit: 413 rather than 400.
    #[error("{0}")]
    BodyTooLarge(String),
    /// An `invalid_request` whose body did not arrive in time: 408.
    #[error("{0}")]
    BodyTimeout(String),
    #[error("client authentication failed")]
    InvalidClient {
        /// Whether the client tried HTTP Basic (then the 401 carries a Basic challenge).
        basic: bool,
    },
    #[error("{0}")]
    UnsupportedGrantType(String),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidTarget(String),
    /// The caller authenticated but may not do this (RFC 6750 `insufficient_scope`).
    #[error("{0}")]
    InsufficientScope(String),
    /// RFC 7009 §2.2.1: the token is not the caller's to revoke.
    #[error("{0}")]
    UnauthorizedClient(String),
    #[error("too many failed authentications; retry after {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    #[error("the server could not issue a token")]
    ServerError,
    #[error("{0}")]
    TemporarilyUnavailable(String),
}

impl OAuthError {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) | Self::BodyTooLarge(_) | Self::BodyTimeout(_) => {
                "invalid_request"
            }
            Self::InvalidClient { .. } => "invalid_client",
            Self::UnsupportedGrantType(_) => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidTarget(_) => "invalid_target",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::TooManyAttempts { .. } => "too_many_requests",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable(_) => "temporarily_unavailable",
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidClient { .. } => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            Self::TemporarilyUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
            .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
        if let Self::InvalidClient { basic: true } = self {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"tokenmint\""),
            ));
        }
        match self {
            Self::TemporarilyUnavailable(_) => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            Self::TooManyAttempts { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            _ => {}
        }
        response.json(json!({"error": self.code(), "error_description": self.to_string()}))
    }
}
