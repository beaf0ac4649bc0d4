//! The token endpoint's logic: authenticate the client, decide what the token grants,
//! mint it (contract §3).
//!
//! # Layout
//! - [`request`]: parsing the HTTP request into a [`TokenRequest`].
//! - [`error`]: RFC 6749 errors, [`OAuthError`].
//! - [`usage`]: throttled, off-path recording of `last_used_time`.
//! - [`verified`]: secrets that recently passed argon2, checked again by HMAC.

pub mod bruteforce;
pub mod error;
pub mod request;
pub mod usage;
pub mod verified;

use std::net::IpAddr;

use rand::RngExt;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::crypto::jwt;
use crate::crypto::secret::HashError;
use crate::domain::{Client, ClientId, Secret, Timestamp};
use crate::state::AppState;
use crate::store::StoreError;
use bruteforce::Verdict;
pub use error::OAuthError;
pub use request::TokenRequest;

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u32,
    pub scope: String,
}

/// Issues an access token for a client-credentials request.
#[tracing::instrument(skip_all, fields(client_id = %request.credentials.client_id))]
pub async fn issue(
    state: &AppState,
    request: TokenRequest,
    source: IpAddr,
) -> Result<TokenResponse, OAuthError> {
    if request.grant_type != "client_credentials" {
        return Err(OAuthError::UnsupportedGrantType(format!(
            "grant_type {:?} is not supported; use client_credentials",
            request.grant_type
        )));
    }
    let (attempt, verdict) = state
        .guard
        .check(&request.credentials.client_id, source)
        .await
        .map_err(unavailable)?;
    if let Verdict::Blocked { retry_after_secs } = verdict {
        return Err(OAuthError::TooManyAttempts { retry_after_secs });
    }
    let (client, secret) = match authenticate(state, &request).await {
        Ok(found) => {
            state.guard.succeeded(&attempt).await.map_err(unavailable)?;
            found
        }
        Err(e @ OAuthError::InvalidClient { .. }) => {
            state.guard.failed(&attempt).await.map_err(unavailable)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let scopes = narrow(
        &client.scopes,
        request.scope.as_deref().unwrap_or("").split(' '),
        |scope| OAuthError::InvalidScope(format!("scope {scope:?} is not granted to this client")),
    )?;
    let audience = narrow(
        &client.audience,
        request.targets.iter().map(String::as_str),
        |target| OAuthError::InvalidTarget(format!("{target:?} is not an audience of this client")),
    )?;
    let environments = granted_environments(&secret, request.environment.as_deref())?;

    let now = Timestamp::now().as_secs();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(state.issuer));
    claims.insert("sub".into(), json!(client.client_id));
    claims.insert("client_id".into(), json!(client.client_id));
    match audience.as_slice() {
        [] => {}
        [one] => {
            claims.insert("aud".into(), json!(one));
        }
        many => {
            claims.insert("aud".into(), json!(many));
        }
    }
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(now + u64::from(client.expiry)));
    claims.insert("jti".into(), json!(token_id()));
    let scope = scopes.join(" ");
    claims.insert("scope".into(), json!(scope));
    claims.insert("scopes".into(), json!(scopes));
    if let Some(org) = &client.organization_id {
        claims.insert("oid".into(), json!(org));
    }
    if let Some(environments) = environments {
        claims.insert("environments".into(), json!(environments));
    }
    for claim in &client.custom_claims {
        claims.insert(claim.key.clone(), Value::String(claim.value.clone()));
    }

    let access_token = jwt::mint(state.keys.active(), &claims).map_err(|e| {
        tracing::error!(error = %e, "signing a token failed");
        OAuthError::ServerError
    })?;
    state.usage.record(&client.client_id, &secret.id);
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: client.expiry,
        scope,
    })
}

fn unavailable(e: StoreError) -> OAuthError {
    tracing::warn!(error = %e, "store unavailable at the token endpoint");
    OAuthError::TemporarilyUnavailable(
        "the token service is temporarily unavailable; retry shortly".into(),
    )
}

/// `tkn_` + 128 random bits, hex.
fn token_id() -> String {
    let bits: u128 = rand::rng().random();
    format!("tkn_{bits:032x}")
}

/// Finds the client and the secret that matches, running argon2 exactly once whatever
/// the outcome (against a dummy hash when there is nothing to verify against), so that
/// failures take the same time and all answer the same `invalid_client`.
async fn authenticate(
    state: &AppState,
    request: &TokenRequest,
) -> Result<(Client, Secret), OAuthError> {
    let credentials = &request.credentials;
    let failed = OAuthError::InvalidClient {
        basic: credentials.basic,
    };
    let client = match ClientId::parse(&credentials.client_id) {
        Some(id) => state
            .store
            .get_client_cached(&id)
            .await
            .map_err(unavailable)?,
        None => None,
    };
    // The stored suffix narrows the candidates to (almost always) one secret.
    let suffix = credentials.secret.suffix();
    let candidates: Vec<&Secret> = client
        .iter()
        .flat_map(|c| &c.secrets)
        .filter(|s| s.secret_suffix == suffix)
        .collect();
    // A secret verified recently is checked by HMAC; otherwise argon2 runs exactly once per
    // candidate, and once against the dummy hash when there is none.
    let mut matched = candidates
        .iter()
        .find(|s| state.verified.matches(s, &credentials.secret))
        .map(|s| (*s).clone());
    if matched.is_none() {
        let verify = |hash| async move {
            state
                .hasher
                .verify(hash, &credentials.secret)
                .await
                .map_err(|e| match e {
                    HashError::Busy => OAuthError::TemporarilyUnavailable(
                        "too many first-time authentications at once; retry shortly".into(),
                    ),
                    e => {
                        tracing::error!(error = %e, "argon2 verification failed to run");
                        OAuthError::ServerError
                    }
                })
        };
        if candidates.is_empty() {
            verify(None).await?;
        }
        for secret in &candidates {
            if verify(Some(&secret.hash)).await? {
                state.verified.remember(secret, &credentials.secret);
                matched = Some((*secret).clone());
                break;
            }
        }
    }
    match (client, matched) {
        (Some(client), Some(secret)) if secret.is_usable(Timestamp::now()) => Ok((client, secret)),
        _ => Err(failed),
    }
}

/// The requested values, each one of `allowed` (else `refuse(value)`), without repeats;
/// none requested → all of `allowed`. Used for scopes and for audiences/resources.
fn narrow<'a>(
    allowed: &[String],
    requested: impl IntoIterator<Item = &'a str>,
    refuse: impl Fn(&str) -> OAuthError,
) -> Result<Vec<String>, OAuthError> {
    let mut granted: Vec<String> = Vec::new();
    for value in requested.into_iter().filter(|v| !v.is_empty()) {
        if !allowed.iter().any(|a| a == value) {
            return Err(refuse(value));
        }
        if !granted.iter().any(|g| g == value) {
            granted.push(value.to_owned());
        }
    }
    if granted.is_empty() {
        granted = allowed.to_vec();
    }
    Ok(granted)
}

/// The `environments` claim: the requested environment if the secret allows it, all of a
/// restricted secret's environments if none was requested, nothing for an open secret.
fn granted_environments(
    secret: &Secret,
    requested: Option<&str>,
) -> Result<Option<Vec<String>>, OAuthError> {
    match requested {
        Some(env)
            if secret.environments.is_empty() || secret.environments.iter().any(|e| e == env) =>
        {
            Ok(Some(vec![env.to_owned()]))
        }
        Some(env) => Err(OAuthError::InvalidRequest(format!(
            "environment {env:?} is not enabled for this credential"
        ))),
        None if secret.environments.is_empty() => Ok(None),
        None => Ok(Some(secret.environments.clone())),
    }
}
