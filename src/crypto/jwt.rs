//! Access tokens as compact JWS: minted with the active key, verified against any key of
//! ours (admin authentication accepts only tokens this server issued).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Validation;
use serde::Deserialize;

use super::keys::{KeyError, KeyRing, SigningKey};

/// Signs `payload` (base64url-encoded JSON claims) with `key`: `header.payload.signature`,
/// each part base64url.
pub fn mint_payload(key: &SigningKey, payload: &str) -> Result<String, KeyError> {
    let header = key.header_b64();
    let mut token = String::with_capacity(header.len() + payload.len() + 400);
    token.push_str(header);
    token.push('.');
    token.push_str(payload);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
    Ok(token)
}

/// The claims admin authentication reads from a verified token.
#[derive(Debug, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    #[serde(default)]
    pub scope: String,
    /// The credential that minted the token; tokens from before the claim existed lack it.
    #[serde(default)]
    pub credential_id: Option<String>,
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
    #[serde(default)]
    pub jti: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token was not signed by a key of this server")]
    UnknownKey,
    #[error("the token is invalid: {0}")]
    Invalid(String),
}

/// Verifies signature, `iss`, `exp` and `nbf` of a token issued by this server.
pub fn verify(ring: &KeyRing, token: &str, issuer: &str) -> Result<AccessClaims, VerifyError> {
    decode(ring, token, issuer)
}

/// [`verify`], returning every claim as well (introspection answers with them).
pub fn verify_all(
    ring: &KeyRing,
    token: &str,
    issuer: &str,
) -> Result<(AccessClaims, serde_json::Map<String, serde_json::Value>), VerifyError> {
    let all: serde_json::Map<String, serde_json::Value> = decode(ring, token, issuer)?;
    let claims = serde_json::from_value(serde_json::Value::Object(all.clone()))
        .map_err(|e| VerifyError::Invalid(e.to_string()))?;
    Ok((claims, all))
}

fn decode<T: serde::de::DeserializeOwned>(
    ring: &KeyRing,
    token: &str,
    issuer: &str,
) -> Result<T, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| ring.find(kid))
        .ok_or(VerifyError::UnknownKey)?;
    let mut validation = Validation::new(key.alg.jwt());
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.leeway = 5;
    jsonwebtoken::decode::<T>(token, key.decoding_key(), &validation)
        .map(|data| data.claims)
        .map_err(|e| VerifyError::Invalid(e.to_string()))
}
