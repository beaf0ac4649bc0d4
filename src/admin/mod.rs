//! The admin APIs: authentication, the shared operations, and each face's JSON.
//!
//! # Layout
//! - [`auth`]: [`Admin`], the authenticated caller (contract §2), proven by
//!   [`AdminService::authenticate`].
//! - [`error`]: [`AdminError`] and its one mapping to HTTP (AIP-193).
//! - [`changes`]: validated changes to clients and secrets, shared by both faces.
//! - [`service`]: [`AdminService`], the operations (read, list, create, update, delete,
//!   compare-and-set) every face translates onto, with its own store, hasher and keys.
//! - [`paging`]: opaque page tokens and page sizes.
//! - [`org`]: the organization face's JSON (Scalekit style, snake_case).
//! - [`v1`]: the clients-and-credentials face's JSON (Confidence style, camelCase, updateMask).

pub mod auth;
pub(crate) mod changes;
pub mod error;
pub(crate) mod grpc;
pub(crate) mod org;
pub(crate) mod paging;
pub mod service;
pub(crate) mod v1;

pub use auth::Admin;
pub use error::AdminError;
pub use service::AdminService;
