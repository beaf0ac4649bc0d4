//! Everything cryptographic: plain secrets and their argon2id hashes, signing keys, JWTs.
//!
//! # Layout
//! - [`secret`]: plain-secret generation, and [`Hasher`], which runs argon2 on its own fixed
//!   pool of threads (each reusing one memory buffer) behind a bounded queue, so hashing
//!   never stalls the async workers and memory stays flat.
//! - [`keys`]: PKCS#8 PEM signing keys (RS256, ES256, EdDSA), JWKs with RFC 7638 kids, key
//!   generation.
//! - [`jwt`]: minting access tokens with the active key, verifying our own tokens.

pub mod jwt;
pub mod keys;
pub mod secret;

pub use keys::{Alg, KeyRing, KeySet, Keys, SigningKey};
pub use secret::{Hasher, PlainSecret};
