//! The key-encryption key (KEK) that seals signing keys kept in Redis: AES-256-GCM (aws-lc,
//! already the crate's crypto provider), a fresh random 96-bit nonce per seal, and the key's
//! `kid` and algorithm as associated data, so a sealed key moved to another record does not
//! open. The KEK itself never enters Redis: it comes from `keys.kek_file` or the
//! `TOKENMINT_KEK` environment variable (32 random bytes, base64).

use std::path::Path;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::keys::{KeyError, ensure_trusted};

/// The environment variable a KEK may come from instead of `keys.kek_file`.
pub const KEK_ENV: &str = "TOKENMINT_KEK";

/// A private key sealed under a KEK: what Redis holds (base64url fields).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// Which KEK sealed it (a fingerprint, not the key), to name a mismatch plainly.
    pub kek_id: String,
    pub nonce: String,
    /// PKCS#8 DER, encrypted, with the GCM tag appended.
    pub ciphertext: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

pub struct Kek {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek({})", self.id)
    }
}

fn kek_error(why: impl Into<String>) -> KeyError {
    KeyError::Kek(why.into())
}

impl Kek {
    /// The KEK from `file` when given, else from `TOKENMINT_KEK`; neither, or both, is an
    /// error naming the setting. The file must be the owner's alone (mode 0600).
    pub fn configured(file: &Path) -> Result<Self, KeyError> {
        let from_env = std::env::var(KEK_ENV).ok().filter(|v| !v.trim().is_empty());
        let text = match (file.as_os_str().is_empty(), from_env) {
            (false, Some(_)) => {
                return Err(kek_error(format!(
                    "keys.kek_file and {KEK_ENV} are both set: keep one"
                )));
            }
            (true, None) => {
                return Err(kek_error(format!(
                    "keys.source = \"redis\" needs a key-encryption key: set keys.kek_file to a \
                     file made by `tokenmint keys new-kek --out FILE`, or {KEK_ENV}"
                )));
            }
            (true, Some(value)) => Zeroizing::new(value),
            (false, None) => {
                ensure_trusted(file, "keys.kek_file")?;
                crate::tls::ensure_owner_only(file)
                    .map_err(|why| kek_error(format!("keys.kek_file {}: {why}", file.display())))?;
                let text = std::fs::read_to_string(file).map_err(|e| {
                    kek_error(format!(
                        "keys.kek_file {}: cannot read it: {e}",
                        file.display()
                    ))
                })?;
                Zeroizing::new(text)
            }
        };
        let source = if file.as_os_str().is_empty() {
            KEK_ENV.to_owned()
        } else {
            format!("keys.kek_file {}", file.display())
        };
        Self::from_base64(text.trim()).map_err(|why| kek_error(format!("{source}: {why}")))
    }

    /// A KEK from its base64 text (32 bytes).
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text)
                .map_err(|_| "is not base64 (make one with `tokenmint keys new-kek`)")?,
        );
        if bytes.len() != 32 {
            return Err(format!(
                "must hold 32 bytes (base64), not {} (make one with `tokenmint keys new-kek`)",
                bytes.len()
            ));
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| "is not an AES-256 key")?;
        let mut fingerprint_input = Zeroizing::new(b"tokenmint kek id\0".to_vec());
        fingerprint_input.extend_from_slice(&bytes);
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &fingerprint_input);
        Ok(Self {
            key: LessSafeKey::new(key),
            id: URL_SAFE_NO_PAD.encode(&digest.as_ref()[..8]),
        })
    }

    /// 32 fresh random bytes, base64: a new KEK's text.
    pub fn generate() -> Result<Zeroizing<String>, KeyError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        SystemRandom::new()
            .fill(bytes.as_mut())
            .map_err(|_| KeyError::Generate)?;
        Ok(Zeroizing::new(STANDARD.encode(bytes.as_ref())))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn aad(kid: &str, alg: &str) -> Vec<u8> {
        format!("tokenmint signing key\0{kid}\0{alg}").into_bytes()
    }

    /// Seals `der` (a PKCS#8 private key) for the record of `kid`/`alg`.
    pub fn seal(&self, kid: &str, alg: &str, der: &[u8]) -> Result<Sealed, KeyError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| KeyError::Generate)?;
        let mut buffer = der.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(kid, alg)),
                &mut buffer,
            )
            .map_err(|_| kek_error("sealing a signing key failed"))?;
        Ok(Sealed {
            kek_id: self.id.clone(),
            nonce: URL_SAFE_NO_PAD.encode(nonce),
            ciphertext: URL_SAFE_NO_PAD.encode(buffer),
        })
    }

    /// Opens what [`Self::seal`] made for `kid`/`alg`; the error names the key, never its
    /// material.
    pub fn open(
        &self,
        kid: &str,
        alg: &str,
        sealed: &Sealed,
    ) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        if sealed.kek_id != self.id {
            return Err(kek_error(format!(
                "signing key {kid} is sealed under another key-encryption key (id {}; the \
                 configured one is {}): every instance needs the same keys.kek_file or {KEK_ENV}",
                sealed.kek_id, self.id
            )));
        }
        let broken = || {
            kek_error(format!(
                "signing key {kid}: the sealed key does not open (altered?)"
            ))
        };
        let nonce: [u8; NONCE_LEN] = URL_SAFE_NO_PAD
            .decode(&sealed.nonce)
            .ok()
            .and_then(|n| n.try_into().ok())
            .ok_or_else(broken)?;
        let mut buffer = Zeroizing::new(
            URL_SAFE_NO_PAD
                .decode(&sealed.ciphertext)
                .map_err(|_| broken())?,
        );
        let plain_len = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(kid, alg)),
                &mut buffer,
            )
            .map_err(|_| broken())?
            .len();
        buffer.truncate(plain_len);
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_kek() -> Kek {
        Kek::from_base64(&Kek::generate().unwrap()).unwrap()
    }

    #[test]
    fn a_sealed_key_opens_only_under_its_kek_and_for_its_record() {
        let kek = new_kek();
        let sealed = kek.seal("kid1", "ES256", b"private key bytes").unwrap();
        assert!(!sealed.ciphertext.contains("private"));
        assert_eq!(
            &*kek.open("kid1", "ES256", &sealed).unwrap(),
            b"private key bytes"
        );
        assert!(
            kek.open("kid2", "ES256", &sealed).is_err(),
            "another record"
        );
        assert!(
            kek.open("kid1", "RS256", &sealed).is_err(),
            "another algorithm"
        );
        let mut altered = sealed.clone();
        altered.ciphertext.replace_range(
            0..1,
            if altered.ciphertext.starts_with('A') {
                "B"
            } else {
                "A"
            },
        );
        assert!(kek.open("kid1", "ES256", &altered).is_err());
        let other = new_kek();
        let err = other
            .open("kid1", "ES256", &sealed)
            .unwrap_err()
            .to_string();
        assert!(err.contains("another key-encryption key"), "{err}");
        assert_ne!(
            kek.seal("kid1", "ES256", b"x").unwrap().nonce,
            kek.seal("kid1", "ES256", b"x").unwrap().nonce
        );
    }

    #[test]
    fn a_kek_must_be_32_bytes_of_base64() {
        assert!(
            Kek::from_base64("not base64!")
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            Kek::from_base64(&STANDARD.encode([0u8; 16]))
                .unwrap_err()
                .contains("32 bytes")
        );
        assert!(Kek::from_base64(&STANDARD.encode([7u8; 32])).is_ok());
    }
}
