//! The model every other module shares: clients, their secrets, and the parsers that turn
//! untrusted input into values the rest of the server can trust.
//!
//! # Layout
//! - [`ids`]: client, secret and organization identifiers (generated and parsed).
//! - [`time`]: [`Timestamp`], nanoseconds since the Unix epoch, printed as RFC 3339.
//! - [`fields`]: one parser per client or secret field; each names what is wrong.
//! - [`client`]: [`Client`] and [`Secret`], the stored records.
//! - [`proof`]: what a credential proves its client with (a secret's hash, a public key,
//!   an external issuer), and the parsers of the latter two.

pub mod client;
pub mod fields;
pub mod grants;
pub mod ids;
pub mod proof;
pub mod time;

pub use client::{
    Actor, Client, CustomClaim, Labels, SdkType, Secret, SecretHash, SecretStatus, Usage,
};
pub use fields::{ExpiryBounds, FieldViolation};
pub use grants::{Audience, Environments, Expiry, ScopeSet};
pub use ids::{ClientId, OrganizationId, SecretId};
pub use proof::{ClaimMapping, ClientKey, CredentialKind, Federation, Proof};
pub use time::Timestamp;
