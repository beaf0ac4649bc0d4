//! tokenmint: an OAuth 2.0 authorization server for machine-to-machine access.
//!
//! Admins manage clients and their secrets over HTTP (two API faces over one model);
//! services exchange a client id and secret for a signed JWT (client-credentials grant);
//! resource servers verify the JWT with the published keys. State lives in Redis.
//!
//! # Layout
//! - [`config`]: typed settings (defaults → `TOKENMINT_CONFIG` file → env).
//! - [`startup`]: binds the listener, builds the services (token, admin, HTTP settings,
//!   discovery), serves them, registers every route.
//! - [`telemetry`]: tracing setup.
//! - [`tls`]: optional built-in TLS and the owner-only rule for private key files.
//! - [`commands`]: what `serve`, `bootstrap-admin` and `keys generate` do.
//! - [`cli`]: the admin CLI (`clients`, `secrets`, `token`), a client of the HTTP API.
//! - [`domain`]: clients, secrets, ids, timestamps, and the parsers of every field.
//! - [`store`]: the only module that speaks Redis (plus the in-memory dev store).
//! - [`crypto`]: plain secrets, argon2id behind a limiter, signing keys, JWTs.
//! - [`keystore`]: the key store (`keys.source = "redis"`): sealed keys in Redis, the
//!   schedule every instance follows, rotation.
//! - [`oauth`]: [`oauth::TokenService`], the token endpoint's logic, and RFC 6749 errors.
//! - [`admin`]: admin authentication, the shared admin operations, each face's JSON.
//! - [`audit`]: the audit trail (log target `tokenmint::audit` and a capped Redis stream).
//! - [`http`]: thin actix handlers, each given the service it calls.
//! - [`openapi`]: the OpenAPI 3.1 document, generated from the handlers and views.

#![forbid(unsafe_code)]

pub mod admin;
pub mod audit;
pub mod cli;
pub mod commands;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod grpc;
pub(crate) mod http;
pub mod keystore;
pub(crate) mod listener;
pub mod metrics;
pub mod oauth;
pub mod openapi;
pub mod proto;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tls;

#[cfg(test)]
mod proptests;
