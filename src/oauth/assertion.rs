//! Client assertions (RFC 7523 §2.2): a JWT instead of a secret.
//!
//! - `private_key_jwt`: signed by the client with its own key; `iss` = `sub` = the client
//!   id, `aud` this server's issuer or token endpoint, `exp` at most
//!   `assertions.max_lifetime_secs` ahead, and a `jti` that is refused a second time until
//!   the assertion expires (a Redis key set once, in the client's slot, so every instance
//!   sees it).
//! - `federated`: a token of an external issuer (GitHub Actions, Kubernetes, a cloud),
//!   verified with that issuer's published keys and held to the credential's rules:
//!   `aud`, `sub` or required claim values, and a maximum age by `iat`.
//!
//! Every refusal is the same `invalid_client` to the caller; the reason is logged (never
//! the token) for the operator setting the credential up.

use std::borrow::Cow;

use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde_json::Value;

use super::prepared::Prepared;
use super::remote::RemoteKeys;
use crate::config::AssertionSettings;
use crate::domain::proof::{claim_at, key_algorithms};
use crate::domain::{ClientId, ClientKey, Federation, Proof, Timestamp};
use crate::store::{Store, StoreError};

/// Why an assertion was refused (for the log; the caller gets `invalid_client`).
#[derive(Debug)]
pub enum Refusal {
    Invalid(Cow<'static, str>),
    /// Redis could not record the `jti`: not the caller's fault.
    Store(StoreError),
}

fn refuse(why: impl Into<Cow<'static, str>>) -> Refusal {
    Refusal::Invalid(why.into())
}

/// The credential an assertion proved, and the claims its federation maps into the token.
pub struct Accepted {
    pub index: usize,
    pub mapped: Vec<(String, String)>,
}

pub struct Assertions {
    remote: RemoteKeys,
    /// What a `private_key_jwt` assertion's `aud` may be: the issuer or a token endpoint.
    audiences: [String; 3],
    max_lifetime: u64,
    leeway: u64,
}

/// A JWT's payload, unverified: only to find which credential to verify it against.
fn unverified_claims(token: &str) -> Option<Value> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The keys of `set` that may have signed a token with `header`: those of its `kid`, and
/// keys that have none (whatever `kid` the token names); every key when it names none.
fn candidates<'a>(set: &'a JwkSet, header: &'a Header) -> impl Iterator<Item = &'a Jwk> {
    set.keys.iter().filter(
        move |jwk| match (&header.kid, jwk.common.key_id.as_deref()) {
            (Some(kid), Some(own)) => own == kid,
            (Some(_), None) | (None, _) => true,
        },
    )
}

/// Verifies `token`'s signature with `jwk` (refusing an `alg` the key's type does not
/// sign: no HMAC with a public key, no `none`) and its registered claims per `validation`.
fn verified(
    token: &str,
    header: &Header,
    jwk: &Jwk,
    mut validation: Validation,
) -> Result<Value, Refusal> {
    let allowed = key_algorithms(jwk).map_err(|_| refuse("the key is of an unsupported type"))?;
    if !allowed.contains(&header.alg) {
        return Err(refuse("the assertion's alg does not fit the key"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| refuse("the key is not usable"))?;
    validation.algorithms = vec![header.alg];
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            refuse(match e.kind() {
                K::InvalidSignature => "the signature does not verify",
                K::ExpiredSignature => "the assertion has expired",
                K::ImmatureSignature => "the assertion is not valid yet (nbf)",
                K::InvalidAudience => "the assertion's aud is not accepted",
                K::InvalidIssuer => "the assertion's iss is not accepted",
                K::InvalidSubject => "the assertion's sub is not the client",
                K::MissingRequiredClaim(_) => "the assertion lacks a required claim",
                _ => "the assertion does not verify",
            })
        })
}

fn number(claims: &Value, name: &str) -> Option<u64> {
    claims.get(name).and_then(Value::as_u64)
}

impl Assertions {
    pub fn new(settings: &AssertionSettings, issuer: &str) -> Self {
        Self {
            remote: RemoteKeys::new(settings),
            audiences: [
                issuer.to_owned(),
                format!("{issuer}/oauth/token"),
                format!("{issuer}/v1/oauth/token"),
            ],
            max_lifetime: settings.max_lifetime.as_secs(),
            leeway: settings.leeway.as_secs(),
        }
    }

    fn validation(&self, required: &[&str]) -> Validation {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(required);
        validation
    }

    /// Which of `prepared`'s usable credentials `token` proves.
    pub async fn verify(
        &self,
        store: &Store,
        prepared: &Prepared,
        client_id: &ClientId,
        token: &str,
    ) -> Result<Accepted, Refusal> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| refuse("not a JWT signed with a supported algorithm"))?;
        if header.jku.is_some() || header.jwk.is_some() || header.x5u.is_some() {
            return Err(refuse("the assertion names its own key (jku, jwk or x5u)"));
        }
        let issuer = unverified_claims(token)
            .and_then(|c| c.get("iss").and_then(Value::as_str).map(str::to_owned));
        let now = Timestamp::now();
        let mut last = refuse("the client has no usable credential for assertions");
        for (index, secret) in prepared.client.secrets.iter().enumerate() {
            if !secret.is_usable(now) {
                continue;
            }
            let result = match &secret.proof {
                Proof::PrivateKeyJwt { key } => self
                    .private_key_jwt(store, key, &header, token, client_id)
                    .await
                    .map(|()| Vec::new()),
                Proof::Federated { federation }
                    if issuer.as_deref() == Some(federation.issuer.as_str()) =>
                {
                    self.federated(federation, &header, token).await
                }
                _ => continue,
            };
            match result {
                Ok(mapped) => return Ok(Accepted { index, mapped }),
                Err(e @ Refusal::Store(_)) => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn private_key_jwt(
        &self,
        store: &Store,
        key: &ClientKey,
        header: &Header,
        token: &str,
        client_id: &ClientId,
    ) -> Result<(), Refusal> {
        let set = match key {
            ClientKey::Jwk(jwk) => {
                let jwk: Jwk = serde_json::from_value(Value::Object(jwk.clone()))
                    .map_err(|_| refuse("the stored key is not a JWK"))?;
                std::sync::Arc::new(JwkSet { keys: vec![jwk] })
            }
            ClientKey::JwksUri(url) => self
                .remote
                .jwks(url, header.kid.as_deref())
                .await
                .map_err(|e| refuse(format!("the client's jwks_uri: {e}")))?,
        };
        let mut validation = self.validation(&["exp", "iss", "sub", "aud"]);
        validation.set_issuer(&[client_id.as_str()]);
        validation.sub = Some(client_id.as_str().to_owned());
        validation.set_audience(&self.audiences);
        let mut last = refuse("no key of the credential matches the assertion's kid");
        for jwk in candidates(&set, header) {
            match verified(token, header, jwk, validation.clone()) {
                Ok(claims) => return self.once(store, client_id, &claims).await,
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Checks a verified `private_key_jwt` assertion's lifetime and records its `jti`.
    async fn once(
        &self,
        store: &Store,
        client_id: &ClientId,
        claims: &Value,
    ) -> Result<(), Refusal> {
        let now = Timestamp::now().as_secs();
        let exp = number(claims, "exp").ok_or_else(|| refuse("exp is not a number"))?;
        if exp > now + self.max_lifetime + self.leeway {
            return Err(refuse(
                "the assertion lives longer than assertions.max_lifetime_secs",
            ));
        }
        if number(claims, "iat").is_some_and(|iat| iat > now + self.leeway) {
            return Err(refuse("the assertion's iat is in the future"));
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .filter(|j| (1..=256).contains(&j.len()) && j.bytes().all(|b| b.is_ascii_graphic()))
            .ok_or_else(|| refuse("the assertion has no usable jti"))?;
        let until = Timestamp::from_millis((exp + self.leeway) * 1000);
        match store.use_assertion_once(client_id, jti, until).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(refuse("the assertion's jti was used before (a replay)")),
            Err(e) => Err(Refusal::Store(e)),
        }
    }

    async fn federated(
        &self,
        federation: &Federation,
        header: &Header,
        token: &str,
    ) -> Result<Vec<(String, String)>, Refusal> {
        let set = self
            .remote
            .issuer_jwks(&federation.issuer, header.kid.as_deref())
            .await
            .map_err(|e| refuse(format!("the issuer's keys: {e}")))?;
        let mut validation = self.validation(&["exp", "iss", "aud"]);
        validation.set_issuer(&[federation.issuer.as_str()]);
        validation.set_audience(&[federation.audience.as_str()]);
        let mut last = refuse("no key of the issuer matches the token's kid");
        let mut claims = None;
        for jwk in candidates(&set, header) {
            match verified(token, header, jwk, validation.clone()) {
                Ok(verified) => {
                    claims = Some(verified);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let claims = claims.ok_or(last)?;
        let now = Timestamp::now().as_secs();
        let iat = number(&claims, "iat").ok_or_else(|| refuse("the token has no iat"))?;
        if iat > now + self.leeway {
            return Err(refuse("the token's iat is in the future"));
        }
        if now.saturating_sub(iat) > u64::from(federation.max_age_secs) + self.leeway {
            return Err(refuse(
                "the token is older than the credential's maxAgeSeconds",
            ));
        }
        if let Some(subject) = &federation.subject
            && claims.get("sub").and_then(Value::as_str) != Some(subject.as_str())
        {
            return Err(refuse(
                "the token's sub does not match the credential's subject",
            ));
        }
        for (path, want) in &federation.claims {
            if claim_at(&claims, path).as_deref() != Some(want.as_str()) {
                return Err(refuse(format!(
                    "the token's {path} does not match the credential's rule"
                )));
            }
        }
        Ok(federation
            .claim_mappings
            .iter()
            .filter_map(|m| {
                let value = claim_at(&claims, &m.from)?;
                // Mapped values follow the custom-claim value rules.
                (value.chars().count() <= 1024 && !value.chars().any(char::is_control))
                    .then(|| (m.to.clone(), value.into_owned()))
            })
            .collect())
    }
}
