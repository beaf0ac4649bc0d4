//! The admin APIs' one error type and its single mapping to HTTP (AIP-193 shape):
//! `{"error": {"code", "status", "message", "details": [{"field", "description"}]}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

use crate::domain::FieldViolation;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{message}")]
    InvalidArgument {
        message: String,
        details: Vec<FieldViolation>,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal,
}

impl AdminError {
    pub fn fields(details: Vec<FieldViolation>) -> Self {
        let message = match details.as_slice() {
            [one] => format!("{}: {}", one.field, one.description),
            many => format!("{} fields are invalid", many.len()),
        };
        Self::InvalidArgument { message, details }
    }

    pub fn field(field: &str, description: impl Into<String>) -> Self {
        Self::fields(vec![FieldViolation::new(field, description)])
    }

    pub(crate) fn status_name(&self) -> &'static str {
        match self {
            Self::InvalidArgument { .. } => "INVALID_ARGUMENT",
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::PermissionDenied(_) => "PERMISSION_DENIED",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Conflict(_) => "ABORTED",
            Self::PreconditionFailed(_) => "FAILED_PRECONDITION",
            Self::PayloadTooLarge(_) | Self::UnsupportedMediaType(_) => "INVALID_ARGUMENT",
            Self::RequestTimeout(_) => "DEADLINE_EXCEEDED",
            Self::Unavailable(_) => "UNAVAILABLE",
            Self::Internal => "INTERNAL",
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => {
                Self::Unavailable(format!("the store is unavailable: {why}"))
            }
            StoreError::Failed(_) | StoreError::Corrupt(_) | StoreError::Config(_) => {
                tracing::error!(error = %e, "store error");
                Self::Internal
            }
        }
    }
}

impl From<crate::keystore::KeyStoreError> for AdminError {
    fn from(e: crate::keystore::KeyStoreError) -> Self {
        use crate::keystore::KeyStoreError as E;
        match e {
            E::Store(e) => e.into(),
            E::Pending(_) | E::Contended | E::FolderSource => Self::Conflict(e.to_string()),
            E::Key(e) => {
                tracing::error!(error = %e, "key store error");
                Self::Internal
            }
        }
    }
}

impl ResponseError for AdminError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::InvalidArgument { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::PermissionDenied(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let details = match self {
            Self::InvalidArgument { details, .. } => details.clone(),
            _ => Vec::new(),
        };
        let mut body = json!({
            "code": status.as_u16(),
            "status": self.status_name(),
            "message": self.to_string(),
        });
        if !details.is_empty() {
            body["details"] = json!(details);
        }
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if status == StatusCode::UNAUTHORIZED {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
        }
        response.json(json!({ "error": body }))
    }
}
