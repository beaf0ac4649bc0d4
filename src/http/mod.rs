//! Thin actix handlers: extract → parse → one call → respond. Routes are registered in
//! [`crate::startup`].
//!
//! # Layout
//! - [`body`]: reading bodies with a size limit and the right content type; ETag/If-Match.
//! - [`token`]: `POST /oauth/token`.
//! - [`introspect`]: `POST /oauth/introspect`, `POST /oauth/revoke`.
//! - [`discovery`]: JWKS and the two discovery documents.
//! - [`health`]: `/healthz`, `/readyz`.
//! - [`org_clients`]: the organization face (`/api/v1/organizations/{org}/clients...`).
//! - [`v1_clients`]: the clients-and-credentials face (`/v1/clients...`).
//! - [`audit`]: the audit trail (`/v1/auditEvents`).

use std::sync::Arc;
use std::time::Duration;

use crate::config::{ProxyRange, Settings};
use crate::crypto::Keys;

/// What the HTTP layer itself enforces (from `server.*`), handed to the handlers that
/// need it.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub admin_body_limit: usize,
    pub token_body_limit: usize,
    /// A body must arrive within this (the head has the same limit, enforced by actix).
    pub request_timeout: Duration,
    pub trusted_proxies: Vec<ProxyRange>,
    pub max_header_bytes: usize,
}

impl HttpSettings {
    pub fn new(settings: &Settings) -> Self {
        let server = &settings.server;
        Self {
            admin_body_limit: server.admin_body_limit,
            token_body_limit: server.token_body_limit,
            request_timeout: server.request_timeout,
            trusted_proxies: server.trusted_proxies.clone(),
            max_header_bytes: server.max_header_bytes,
        }
    }
}

/// What the discovery endpoints publish: the issuer, every public key (their JWK Set
/// rendered with its ETag, in [`Keys`]) and the OpenAPI document.
pub struct Discovery {
    pub issuer: String,
    pub keys: Arc<Keys>,
    pub jwks_max_age: u32,
    /// The OpenAPI document, rendered once.
    pub openapi: String,
}

impl Discovery {
    pub fn new(issuer: String, keys: Arc<Keys>, jwks_max_age: u32) -> Self {
        Self {
            openapi: crate::openapi::render(&issuer),
            issuer,
            keys,
            jwks_max_age,
        }
    }
}

pub mod audit;
pub mod body;
pub mod discovery;
pub mod health;
pub mod introspect;
pub mod org_clients;
pub mod signing_keys;
pub mod token;
pub mod v1_clients;
