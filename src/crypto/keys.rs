//! Signing keys: PKCS#8 PEM files in the keys folder, one per key.
//!
//! RSA keys sign RS256, P-256 keys ES256, Ed25519 keys EdDSA. Each key is parsed once into
//! an aws-lc key pair that signs directly (jsonwebtoken's `encode` re-parses the key on every
//! call). Every key in the folder is published; configuration picks the one that signs, so a
//! new key can be published before it starts signing. Error messages name files, never key
//! material.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
    RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::DecodingKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, EllipticCurveKeyParameters,
    EllipticCurveKeyType, Jwk, JwkSet, KeyAlgorithm, OctetKeyPairParameters, OctetKeyPairType,
    PublicKeyUse, RSAKeyParameters, RSAKeyType, ThumbprintHash,
};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read the keys folder {0}: {1}")]
    Folder(PathBuf, std::io::Error),
    #[error(
        "no signing keys (*.pem) in {0}: create one with `tokenmint keys generate --alg RS256 --dir {0}`"
    )]
    Empty(PathBuf),
    #[error("{file}: {why}")]
    Invalid { file: String, why: String },
    #[error("{0}")]
    Unsafe(String),
    #[error("keys.active = {0:?} names no key in the keys folder (keys: {1})")]
    UnknownActive(String, String),
    #[error("cannot write a key file in {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("key generation failed")]
    Generate,
    #[error("signing failed")]
    Sign,
    #[error("{0}")]
    Kek(String),
    #[error("the signing keys in Redis: {0}")]
    Store(String),
}

/// The JWS algorithms tokenmint signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Alg {
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
    #[value(name = "EdDSA")]
    EdDsa,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub fn jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::Rs256 => jsonwebtoken::Algorithm::RS256,
            Self::Es256 => jsonwebtoken::Algorithm::ES256,
            Self::EdDsa => jsonwebtoken::Algorithm::EdDSA,
        }
    }

    /// The algorithm of a JWS `alg` name, as written in settings and the admin API.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Rs256, Self::Es256, Self::EdDsa]
            .into_iter()
            .find(|alg| alg.name() == name)
    }

    fn jwk(self) -> KeyAlgorithm {
        match self {
            Self::Rs256 => KeyAlgorithm::RS256,
            Self::Es256 => KeyAlgorithm::ES256,
            Self::EdDsa => KeyAlgorithm::EdDSA,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Alg {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!("{name:?} is not RS256, ES256 or EdDSA"))
        })
    }
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One parsed key: signs, and knows its public JWK and kid.
pub struct SigningKey {
    pub kid: String,
    pub alg: Alg,
    pub file_name: String,
    pair: Pair,
    jwk: Jwk,
    decoding: DecodingKey,
    /// `base64url(header)` with `alg`, `kid` and `typ`, prepared once.
    header_b64: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("file_name", &self.file_name)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    /// Parses a PKCS#8 PEM file's contents.
    pub fn from_pem(file_name: &str, text: &[u8], typ: &str) -> Result<Self, KeyError> {
        let invalid = |why: &str| KeyError::Invalid {
            file: file_name.to_owned(),
            why: why.to_owned(),
        };
        let pem = pem::parse(text).map_err(|_| invalid("not a PEM file"))?;
        match pem.tag() {
            "PRIVATE KEY" => {}
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" => {
                return Err(invalid(
                    "is PKCS#1/SEC1; convert it with `openssl pkcs8 -topk8 -nocrypt -in OLD -out NEW`",
                ));
            }
            _ => {
                return Err(invalid(
                    "is not an unencrypted PKCS#8 private key (BEGIN PRIVATE KEY)",
                ));
            }
        }
        Self::from_der(file_name, pem.contents(), typ)
    }

    /// Parses a PKCS#8 DER private key; `name` says where it came from (a file name, or
    /// the key store).
    pub fn from_der(name: &str, der: &[u8], typ: &str) -> Result<Self, KeyError> {
        let file_name = name;
        let invalid = |why: &str| KeyError::Invalid {
            file: file_name.to_owned(),
            why: why.to_owned(),
        };
        let (alg, pair, params) = if let Ok(pair) = RsaKeyPair::from_pkcs8(der) {
            let public = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
            let params = AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: b64(&public.n),
                e: b64(&public.e),
            });
            (Alg::Rs256, Pair::Rsa(pair), params)
        } else if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der) {
            let point = pair.public_key().as_ref();
            let (x, y) = point[1..].split_at(32);
            let params = AlgorithmParameters::EllipticCurve(EllipticCurveKeyParameters {
                key_type: EllipticCurveKeyType::EC,
                curve: EllipticCurve::P256,
                x: b64(x),
                y: b64(y),
            });
            (Alg::Es256, Pair::Ec(pair), params)
        } else if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            let params = AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: b64(pair.public_key().as_ref()),
            });
            (Alg::EdDsa, Pair::Ed(pair), params)
        } else {
            return Err(invalid(
                "is not an RSA (2048+ bits), P-256 or Ed25519 PKCS#8 key",
            ));
        };
        let mut jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(alg.jwk()),
                ..Default::default()
            },
            algorithm: params,
        };
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|_| invalid("cannot compute the key's thumbprint"))?;
        jwk.common.key_id = Some(kid.clone());
        let decoding =
            DecodingKey::from_jwk(&jwk).map_err(|_| invalid("cannot derive the public key"))?;
        let header = serde_json::json!({"alg": alg.name(), "kid": kid, "typ": typ});
        Ok(Self {
            kid,
            alg,
            file_name: file_name.to_owned(),
            pair,
            jwk,
            decoding,
            header_b64: b64(header.to_string()),
        })
    }

    /// The public JWK (with `kid`, `alg` and `use`), as the JWKS publishes it.
    pub fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }

    pub fn header_b64(&self) -> &str {
        &self.header_b64
    }

    /// The JWS signature of `message` (for ES256 the fixed-size `r || s` form JWS wants).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| KeyError::Sign)?;
                Ok(signature)
            }
            Pair::Ec(pair) => pair
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
            Pair::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

/// Every key in the keys folder, and which one signs.
#[derive(Debug)]
pub struct KeyRing {
    keys: Vec<Arc<SigningKey>>,
    active: usize,
}

/// Refuses a keys folder or key file that someone other than this process's user (or root)
/// could change: writable by group or others, or owned by another non-root user. Whoever
/// can add a `*.pem` there can make it sign (and so forge admin tokens). A path on a
/// read-only mount (a Kubernetes secret volume, say) cannot be written whatever its mode
/// bits, so only its owner is checked. Symbolic links are followed (secret volumes use them).
pub fn ensure_trusted(path: &Path, what: &str) -> Result<(), KeyError> {
    use std::os::unix::fs::MetadataExt;
    let shown = path.display();
    let metadata =
        fs::metadata(path).map_err(|e| KeyError::Unsafe(format!("{what} {shown}: {e}")))?;
    let me = rustix::process::geteuid().as_raw();
    if metadata.uid() != me && metadata.uid() != 0 {
        return Err(KeyError::Unsafe(format!(
            "{what} {shown} is owned by another user (uid {}); it must belong to the user \
             tokenmint runs as (uid {me}) or to root: `chown {me} {shown}`",
            metadata.uid()
        )));
    }
    let mode = metadata.permissions().mode() & 0o7777;
    let read_only_mount = rustix::fs::statvfs(path)
        .is_ok_and(|fs| fs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY));
    if mode & 0o022 != 0 && !read_only_mount {
        let fix = if metadata.is_dir() { "700" } else { "600" };
        return Err(KeyError::Unsafe(format!(
            "{what} {shown} can be written by group or others (mode {mode:o}), so another user \
             could plant a signing key; restrict it with `chmod {fix} {shown}`"
        )));
    }
    Ok(())
}

fn pem_files(dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(KeyError::Folder(dir.to_owned(), e)),
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.extension().is_some_and(|ext| ext == "pem"))
        .collect();
    files.sort();
    Ok(files)
}

impl KeyRing {
    /// A ring of `keys` (published in this order) of which `keys[active]` signs.
    pub fn new(keys: Vec<Arc<SigningKey>>, active: usize) -> Self {
        assert!(active < keys.len(), "the signing key is one of the ring");
        Self { keys, active }
    }

    /// Every published key, in order.
    pub fn keys(&self) -> &[Arc<SigningKey>] {
        &self.keys
    }

    /// Whether the folder holds no key file yet (`serve --dev` then generates one).
    pub fn folder_is_empty(dir: &Path) -> Result<bool, KeyError> {
        Ok(pem_files(dir)?.is_empty())
    }

    /// Loads every `*.pem` in `dir`. `active` is a file name (with or without `.pem`) or a
    /// kid; empty means the only key, else the one whose file name sorts last.
    pub fn load(dir: &Path, active: &str, typ: &str) -> Result<Self, KeyError> {
        if dir.exists() {
            ensure_trusted(dir, "the keys folder")?;
        }
        let mut keys: Vec<Arc<SigningKey>> = Vec::new();
        for path in pem_files(dir)? {
            let file_name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            ensure_trusted(&path, "key file")?;
            crate::tls::ensure_owner_only(&path).map_err(|why| KeyError::Invalid {
                file: file_name.clone(),
                why,
            })?;
            let text = fs::read(&path).map_err(|e| KeyError::Folder(path.clone(), e))?;
            let key = SigningKey::from_pem(&file_name, &text, typ)?;
            if !keys.iter().any(|k| k.kid == key.kid) {
                keys.push(Arc::new(key));
            }
        }
        if keys.is_empty() {
            return Err(KeyError::Empty(dir.to_owned()));
        }
        let active = if active.is_empty() {
            keys.len() - 1
        } else {
            keys.iter()
                .position(|k| {
                    k.file_name == active
                        || k.file_name.strip_suffix(".pem") == Some(active)
                        || k.kid == active
                })
                .ok_or_else(|| {
                    let names: Vec<&str> = keys.iter().map(|k| k.file_name.as_str()).collect();
                    KeyError::UnknownActive(active.to_owned(), names.join(", "))
                })?
        };
        Ok(Self { keys, active })
    }

    pub fn active(&self) -> &Arc<SigningKey> {
        &self.keys[self.active]
    }

    pub fn find(&self, kid: &str) -> Option<&Arc<SigningKey>> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().map(|k| k.jwk.clone()).collect(),
        }
    }
}

/// A key ring as the server publishes it: the ring, its JWK Set rendered once, and that
/// rendering's strong ETag.
pub struct KeySet {
    pub ring: KeyRing,
    pub jwks_body: String,
    pub jwks_etag: String,
}

impl KeySet {
    fn new(ring: KeyRing) -> Self {
        let jwks_body = serde_json::to_string(&ring.jwks()).expect("a JWK Set serializes");
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, jwks_body.as_bytes());
        let jwks_etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]));
        Self {
            ring,
            jwks_body,
            jwks_etag,
        }
    }
}

/// The keys the server signs and verifies with, swapped whole when they change (the keys
/// folder reloaded on SIGHUP or a change the folder watch sees, or the key store's schedule
/// moving on): every request works on one consistent set, and keys that fail to load leave
/// the previous set in place.
pub struct Keys {
    current: arc_swap::ArcSwap<KeySet>,
    /// The folder the keys come from; `None` when the key store in Redis provides them.
    folder: Option<Folder>,
}

struct Folder {
    dir: PathBuf,
    active: String,
    typ: String,
}

impl Keys {
    /// Loads the folder, as at startup (`keys.dir`, `keys.active`, `tokens.typ`).
    pub fn load(dir: &Path, active: &str, typ: &str) -> Result<Self, KeyError> {
        let ring = KeyRing::load(dir, active, typ)?;
        Ok(Self {
            current: arc_swap::ArcSwap::from_pointee(KeySet::new(ring)),
            folder: Some(Folder {
                dir: dir.to_owned(),
                active: active.to_owned(),
                typ: typ.to_owned(),
            }),
        })
    }

    /// Keys that another source (the key store) provides and replaces.
    pub fn provided(ring: KeyRing) -> Self {
        Self {
            current: arc_swap::ArcSwap::from_pointee(KeySet::new(ring)),
            folder: None,
        }
    }

    /// Whether the keys come from a folder (else from the key store).
    pub fn from_folder(&self) -> bool {
        self.folder.is_some()
    }

    /// The current set (a cheap reference-count increment).
    pub fn current(&self) -> Arc<KeySet> {
        self.current.load_full()
    }

    /// Swaps `ring` in when it publishes other keys or signs with another: whether it did.
    pub fn replace(&self, ring: KeyRing) -> bool {
        let next = KeySet::new(ring);
        let now = self.current();
        if next.jwks_etag == now.jwks_etag && next.ring.active().kid == now.ring.active().kid {
            return false;
        }
        self.current.store(Arc::new(next));
        true
    }

    /// Reads the folder again (with the same ownership and permission checks as at
    /// startup) and swaps the set in when it differs: `Ok(true)` then, `Ok(false)` when
    /// nothing changed (or the keys come from the key store). An error leaves the current
    /// set in place.
    pub fn reload(&self) -> Result<bool, KeyError> {
        let Some(folder) = &self.folder else {
            return Ok(false);
        };
        let ring = KeyRing::load(&folder.dir, &folder.active, &folder.typ)?;
        Ok(self.replace(ring))
    }

    /// A fingerprint of the folder's key files (names, sizes, modification times): it
    /// changes when a key is added, removed or rewritten.
    pub fn folder_fingerprint(&self) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
        let Some(folder) = &self.folder else {
            return Vec::new();
        };
        let mut out: Vec<_> = pem_files(&folder.dir)
            .unwrap_or_default()
            .into_iter()
            .map(|path| {
                let meta = fs::metadata(&path).ok();
                let size = meta.as_ref().map_or(0, fs::Metadata::len);
                let modified = meta.and_then(|m| m.modified().ok());
                (path, size, modified)
            })
            .collect();
        out.sort();
        out
    }
}

/// A new private key of `alg`, PKCS#8 DER (wiped from memory when dropped).
pub fn generate_der(alg: Alg) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let rng = SystemRandom::new();
    match alg {
        Alg::Rs256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|pair| pair.as_der())
            .map(|der| der.as_ref().to_vec()),
        Alg::Es256 => EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map(|d| d.as_ref().to_vec()),
        Alg::EdDsa => Ed25519KeyPair::generate_pkcs8v1(&rng).map(|d| d.as_ref().to_vec()),
    }
    .map(Zeroizing::new)
    .map_err(|_| KeyError::Generate)
}

/// Writes a new key to `dir` (created if missing) with mode 0600 and returns its path and
/// kid. File names start with the UTC time, so the newest key sorts last.
pub fn generate(dir: &Path, alg: Alg) -> Result<(PathBuf, String), KeyError> {
    let der = generate_der(alg)?;
    let text = Zeroizing::new(pem::encode(&pem::Pem::new("PRIVATE KEY", der.to_vec())));
    let key = SigningKey::from_pem("generated", text.as_bytes(), "JWT")?;

    // A folder made here is the owner's alone, whatever the umask: the server refuses a
    // keys folder that others may write.
    let created = !dir.exists();
    fs::create_dir_all(dir).map_err(|e| KeyError::Write(dir.to_owned(), e))?;
    if created {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| KeyError::Write(dir.to_owned(), e))?;
    }
    let stamp: String = humantime::format_rfc3339_seconds(std::time::SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let path = dir.join(format!(
        "{stamp}-{}-{}.pem",
        alg.name().to_lowercase(),
        &key.kid[..8]
    ));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| KeyError::Write(dir.to_owned(), e))?;
    file.write_all(text.as_bytes())
        .map_err(|e| KeyError::Write(dir.to_owned(), e))?;
    // create_new with a mode is subject to the umask; make 0600 exact.
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
        .map_err(|e| KeyError::Write(dir.to_owned(), e))?;
    Ok((path, key.kid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_of_each_algorithm_load_sign_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        for alg in [Alg::Rs256, Alg::Es256, Alg::EdDsa] {
            let (path, kid) = generate(dir.path(), alg).unwrap();
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{alg:?}");
            let text = fs::read(&path).unwrap();
            let key = SigningKey::from_pem("k.pem", &text, "at+jwt").unwrap();
            assert_eq!((key.alg, key.kid.as_str()), (alg, kid.as_str()));
            let message = b"header.claims";
            let signature = key.sign(message).unwrap();
            let ok = jsonwebtoken::crypto::verify(
                &b64(&signature),
                message,
                key.decoding_key(),
                alg.jwt(),
            )
            .unwrap();
            assert!(ok, "{alg:?} signature does not verify");
        }
        let ring = KeyRing::load(dir.path(), "", "at+jwt").unwrap();
        assert_eq!(ring.jwks().keys.len(), 3);
        let fresh = dir.path().join("new");
        generate(&fresh, Alg::EdDsa).unwrap();
        let mode = fs::metadata(&fresh).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "a folder generate makes is the owner's alone");
        KeyRing::load(&fresh, "", "at+jwt").expect("and the server accepts it");
    }

    #[test]
    fn non_pkcs8_and_garbage_files_are_refused_by_name() {
        let err = SigningKey::from_pem(
            "old.pem",
            b"-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
            "JWT",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("old.pem:") && err.contains("pkcs8"),
            "{err}"
        );
        assert!(SigningKey::from_pem("x.pem", b"hello", "JWT").is_err());
    }

    #[test]
    fn the_active_key_is_chosen_by_name_or_kid_and_defaults_to_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let (first, first_kid) = generate(dir.path(), Alg::Es256).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let (_, second_kid) = generate(dir.path(), Alg::EdDsa).unwrap();
        assert_eq!(
            KeyRing::load(dir.path(), "", "JWT").unwrap().active().kid,
            second_kid
        );
        assert_eq!(
            KeyRing::load(dir.path(), &first_kid, "JWT")
                .unwrap()
                .active()
                .kid,
            first_kid
        );
        let name = first
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches(".pem")
            .to_owned();
        assert_eq!(
            KeyRing::load(dir.path(), &name, "JWT")
                .unwrap()
                .active()
                .kid,
            first_kid
        );
        assert!(matches!(
            KeyRing::load(dir.path(), "nope", "JWT"),
            Err(KeyError::UnknownActive(..))
        ));
    }
}
