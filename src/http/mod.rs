//! Thin actix handlers: extract → parse → one call → respond. Routes are registered in
//! [`crate::startup`].
//!
//! # Layout
//! - [`body`]: reading bodies with a size limit and the right content type; ETag/If-Match.
//! - [`token`]: `POST /oauth/token`.
//! - [`discovery`]: JWKS and the two discovery documents.
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`org_clients`]: the organization face (`/api/v1/organizations/{org}/clients...`).
//! - [`v1_clients`]: the clients-and-credentials face (`/v1/clients...`).

pub mod body;
pub mod discovery;
pub mod health;
pub mod org_clients;
pub mod token;
pub mod v1_clients;
