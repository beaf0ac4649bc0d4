//! Everything cryptographic: plain secrets and their argon2id hashes, signing keys, JWTs.
//!
//! # Layout
//! - [`secret`]: plain-secret generation, and [`Hasher`], which runs argon2 on its own fixed
//!   pool of threads (each reusing one memory buffer) behind a bounded queue, so hashing
//!   never stalls the async workers and memory stays flat.
//! - [`keys`]: PKCS#8 PEM signing keys (RS256, ES256, EdDSA), JWKs with RFC 7638 kids, key
//!   generation.
//! - [`kek`]: the key-encryption key that seals private keys kept in Redis (AES-256-GCM).
//! - [`schedule`]: the key store's schedule of keys and the times that decide each key's
//!   state (published, signing, retiring, retired); rotation planning.
//! - [`jwt`]: minting access tokens with the active key, verifying our own tokens.

pub mod jwt;
pub mod kek;
pub mod keys;
pub mod schedule;
pub mod secret;

pub use keys::{Alg, KeyRing, KeySet, Keys, SigningKey};
pub use secret::{Hasher, PlainSecret};
