//! The token endpoint's logic: authenticate the client, decide what the token grants,
//! mint it (contract §3).
//!
//! # Layout
//! - [`request`]: parsing the HTTP request into a [`TokenRequest`].
//! - [`assertion`]: client assertions (RFC 7523): `private_key_jwt` with a replay store,
//!   and federated credentials (an external issuer's token held to the credential's rules).
//! - [`remote`]: keys fetched from a `jwks_uri` or an issuer's discovery document, with
//!   time, size and refresh limits, cached.
//! - [`bruteforce`]: failure windows per (client, address) and per address, places reserved
//!   atomically before argon2; the source address behind trusted proxies.
//! - [`error`]: RFC 6749 errors, [`OAuthError`].
//! - [`introspect`]: RFC 7662 introspection and RFC 7009 revocation: whether a token is
//!   still good (signature, expiry, client, credential, not-before times, `jti` denylist).
//! - [`usage`]: throttled, off-path recording of `last_used_time`.
//! - [`verified`]: secrets that recently passed argon2, checked again by HMAC; identical
//!   verifications in flight share one argon2 run.
//! - [`claims`]: the access token's claims, the part constant per grant encoded once.
//! - [`prepared`]: the one cache: each client's last document decoded once, with, per
//!   secret, its grants' claims, its verified match, its flights and its last-use write.

pub(crate) mod assertion;
pub(crate) mod bruteforce;
pub(crate) mod claims;
pub(crate) mod error;
pub(crate) mod introspect;
pub(crate) mod prepared;
pub(crate) mod remote;
pub(crate) mod request;
pub(crate) mod usage;
pub(crate) mod verified;

use std::net::IpAddr;
use std::sync::Arc;

use rand::RngExt;
use serde::Serialize;

use crate::audit::{Action, Auditor, Event, Origin};
use crate::config::Settings;
use crate::crypto::secret::HashError;
use crate::crypto::{Hasher, Keys, jwt};
use crate::domain::{Client, ClientId, Secret, Timestamp};
use crate::store::{Store, StoreError};
use bruteforce::{Attempt, Guard, Verdict};
use claims::{Constant, Grant};
pub use error::OAuthError;
use prepared::{Prepared, PreparedClients, SecretState};
pub use request::{Credentials, Dialect, GrantType, Presented, TokenRequest};
use usage::UsageRecorder;
use verified::Verifier;

#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u32,
    pub scope: String,
}

impl TokenResponse {
    /// The JSON body. The token is base64url and dots, so only `scope` needs escaping; this
    /// skips scanning the (long) token for characters to escape.
    pub fn to_json(&self) -> Vec<u8> {
        debug_assert!(
            self.access_token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        );
        let mut out = Vec::with_capacity(self.access_token.len() + self.scope.len() + 96);
        out.extend_from_slice(b"{\"access_token\":\"");
        out.extend_from_slice(self.access_token.as_bytes());
        out.extend_from_slice(b"\",\"token_type\":");
        serde_json::to_writer(&mut out, self.token_type).expect("writing to a Vec");
        out.extend_from_slice(format!(",\"expires_in\":{},\"scope\":", self.expires_in).as_bytes());
        serde_json::to_writer(&mut out, &self.scope).expect("writing to a Vec");
        out.push(b'}');
        out
    }

    /// The body in Confidence's camelCase (its SDKs read `accessToken` and `expiresIn`).
    pub fn to_confidence_json(&self) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "accessToken": self.access_token,
            "tokenType": self.token_type,
            "expiresIn": self.expires_in,
            "scope": self.scope,
        }))
        .expect("a JSON value serializes")
    }
}

/// The token endpoint's service: everything a token request needs, built once at startup.
pub struct TokenService {
    /// The `iss` of every token.
    issuer: String,
    store: Store,
    keys: Arc<Keys>,
    hasher: Hasher,
    usage: UsageRecorder,
    guard: Guard,
    verifier: Verifier,
    prepared: PreparedClients,
    assertions: assertion::Assertions,
    auditor: Arc<Auditor>,
    /// The scope a client needs to introspect tokens.
    introspection_scope: String,
    /// Whether a token dies with its credential (admin tokens always do).
    revoke_with_credential: bool,
    admin_scope: String,
}

/// What `/readyz` reports of the token service.
pub struct Readiness {
    pub kid: String,
    pub argon2_bound: usize,
    pub argon2_peak: usize,
    pub argon2_runs: u64,
    pub verified_entries: usize,
}

impl TokenService {
    pub fn new(
        settings: &Settings,
        issuer: String,
        store: Store,
        keys: Arc<Keys>,
        hasher: Hasher,
        auditor: Arc<Auditor>,
    ) -> Self {
        Self {
            auditor,
            introspection_scope: settings.introspection.scope.clone(),
            revoke_with_credential: settings.revocation.with_credential,
            admin_scope: settings.admin.scope.clone(),
            issuer: issuer.clone(),
            guard: Guard::new(store.clone(), &settings.bruteforce),
            usage: UsageRecorder::new(store.clone(), settings.usage.write_interval),
            verifier: Verifier::new(settings.secrets.verified_cache_lifetime),
            prepared: PreparedClients::new(settings.secrets.verified_cache_entries.get()),
            assertions: assertion::Assertions::new(&settings.assertions, &issuer),
            store,
            keys,
            hasher,
        }
    }

    /// Forgets expired verified-secret matches, every [`Verifier::sweep_interval`], until
    /// dropped: nothing about a secret outlives its lifetime, even without traffic.
    pub async fn sweep_forever(&self) {
        let every = self.verifier.sweep_interval();
        loop {
            tokio::time::sleep(every).await;
            self.prepared.sweep(&self.verifier);
        }
    }

    /// Whether the store answers, and what the service holds.
    pub async fn readiness(&self) -> Result<Readiness, StoreError> {
        self.store.ping().await?;
        let (argon2_bound, argon2_peak) = self.hasher.concurrency();
        Ok(Readiness {
            kid: self.keys.current().ring.active().kid.clone(),
            argon2_bound,
            argon2_peak,
            argon2_runs: self.hasher.runs(),
            verified_entries: self.prepared.verified(&self.verifier),
        })
    }

    /// Issues an access token for a client-credentials request from `source`. A refusal
    /// is audited (rate-limited; see [`Auditor::record_failure`]), a success only counted.
    pub async fn issue(
        &self,
        request: TokenRequest,
        source: IpAddr,
        origin: impl FnOnce() -> Origin,
    ) -> Result<TokenResponse, OAuthError> {
        // `None` for a presented id that cannot be a client's: it fails like an unknown one,
        // and is never logged or used as a label (a caller may put anything in that field).
        let client = ClientId::parse(&request.credentials.client_id);
        let result = self.issue_counted(request, client.as_ref(), source).await;
        if let Err(e) = &result {
            self.audit_refusal(client.as_ref(), e, origin());
        }
        result
    }

    /// Audits a refused token request, off the response path. Failures of the server
    /// itself are not the caller's doing and are not audited (they are logged).
    fn audit_refusal(&self, client: Option<&ClientId>, error: &OAuthError, origin: Origin) {
        if matches!(
            error,
            OAuthError::ServerError | OAuthError::TemporarilyUnavailable(_)
        ) {
            return;
        }
        let target = client.map_or_else(|| "clients/-".to_owned(), |id| format!("clients/{id}"));
        let event = Event::new(&origin, "anonymous".into(), Action::IssueToken, target)
            .failed(error.code(), error.to_string());
        let auditor = Arc::clone(&self.auditor);
        tokio::spawn(async move { auditor.record_failure(event).await });
    }

    async fn issue_counted(
        &self,
        request: TokenRequest,
        client: Option<&ClientId>,
        source: IpAddr,
    ) -> Result<TokenResponse, OAuthError> {
        let Some(metrics) = crate::metrics::get() else {
            return issue(self, request, client, source).await;
        };
        let started = std::time::Instant::now();
        let result = issue(self, request, client, source).await;
        match &result {
            // Counted by `issue`, with the counter its prepared client keeps.
            Ok(_) => metrics
                .token_ok_seconds
                .observe(started.elapsed().as_secs_f64()),
            Err(e) => metrics.token(
                client.map(ClientId::as_str),
                self.keys.current().ring.active().alg.name(),
                e.code(),
                started.elapsed(),
            ),
        }
        result
    }

    /// Counts a token request refused before it reached [`Self::issue`] (a malformed one).
    pub fn count_refused(&self, error: &OAuthError, started: std::time::Instant) {
        if let Some(metrics) = crate::metrics::get() {
            metrics.token(
                None,
                self.keys.current().ring.active().alg.name(),
                error.code(),
                started.elapsed(),
            );
        }
    }

    /// argon2 computations running or queued now.
    pub fn argon2_in_flight(&self) -> usize {
        self.hasher.in_flight()
    }
}

#[tracing::instrument(skip_all, fields(client_id = tracing::field::Empty))]
async fn issue(
    state: &TokenService,
    request: TokenRequest,
    client_id: Option<&ClientId>,
    source: IpAddr,
) -> Result<TokenResponse, OAuthError> {
    // The only grant there is; parsing refused every other.
    let GrantType::ClientCredentials = request.grant_type;
    if let Some(id) = client_id {
        tracing::Span::current().record("client_id", tracing::field::display(id));
    }
    let Proven {
        prepared,
        index,
        mapped,
    } = authenticated(state, &request.credentials, client_id, source).await?;
    let client = &prepared.client;
    let secret = &client.secrets[index];
    // The claims every token of this grant shares; kept with the prepared client when
    // nothing is narrowed and no claim comes from the presented token.
    let grant = || grant_claims(&state.issuer, client, secret, &request, &mapped);
    let narrowed = request.scope.is_some()
        || !request.targets.is_empty()
        || request.environment.is_some()
        || !mapped.is_empty();
    let constant = if narrowed {
        Arc::new(grant()?)
    } else {
        prepared.constant(index, grant)?
    };

    let now = Timestamp::now().as_secs();
    let payload = constant.payload(now, now + u64::from(client.expiry.secs()), &token_id());
    let keys = state.keys.current();
    let signer = keys.ring.active();
    let access_token = jwt::mint_payload(signer, &payload).map_err(|e| {
        tracing::error!(error = %e, "signing a token failed");
        OAuthError::ServerError
    })?;
    state.usage.record(
        &client.client_id,
        &secret.id,
        &prepared.secret(index).last_write,
    );
    if let Some(metrics) = crate::metrics::get() {
        let alg = signer.alg.name();
        let (counted_alg, counter) = prepared.ok_tokens.get_or_init(|| {
            (
                alg,
                metrics.token_ok_counter(client.client_id.as_str(), alg),
            )
        });
        if *counted_alg == alg {
            counter.inc();
        } else {
            metrics
                .token_ok_counter(client.client_id.as_str(), alg)
                .inc();
        }
    }
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: client.expiry.secs(),
        scope: constant.scope.clone(),
    })
}

/// What a request's credentials proved: the client, the credential (its index), and
/// claims a federated credential maps from the presented token into the new one.
pub(crate) struct Proven {
    pub prepared: Arc<Prepared>,
    pub index: usize,
    pub mapped: Vec<(String, String)>,
}

/// The client and (the index of) the secret `credentials` prove, within the brute-force
/// limits: a failure takes a place in the windows, a success clears the client's.
pub(crate) async fn authenticated(
    state: &TokenService,
    credentials: &Credentials,
    client_id: Option<&ClientId>,
    source: IpAddr,
) -> Result<Proven, OAuthError> {
    let (attempt, verdict) = state
        .guard
        .check(client_id, source)
        .await
        .map_err(store_error)?;
    if let Verdict::Blocked { retry_after_secs } = verdict {
        crate::metrics::inc(|m| &m.lockouts);
        return Err(OAuthError::TooManyAttempts { retry_after_secs });
    }
    match authenticate(state, credentials, client_id, &attempt).await {
        Ok(found) => {
            state.guard.succeeded(&attempt).await.map_err(store_error)?;
            Ok(found)
        }
        Err(e @ OAuthError::InvalidClient { .. }) => {
            let verdict = state.guard.failed(&attempt).await.map_err(store_error)?;
            Err(match verdict {
                Verdict::Blocked { retry_after_secs } => {
                    crate::metrics::inc(|m| &m.lockouts);
                    OAuthError::TooManyAttempts { retry_after_secs }
                }
                Verdict::Allowed => e,
            })
        }
        Err(e) => {
            state.guard.abandoned(&attempt).await;
            Err(e)
        }
    }
}

/// What the request is granted (its scope, audience/resource and environment narrowing
/// checked against the client and secret), as the claims its tokens share.
fn grant_claims(
    issuer: &str,
    client: &Client,
    secret: &Secret,
    request: &TokenRequest,
    mapped: &[(String, String)],
) -> Result<Constant, OAuthError> {
    let scopes = client
        .scopes
        .narrow(request.scope.as_deref())
        .map_err(|scope| {
            OAuthError::InvalidScope(format!("scope {scope:?} is not granted to this client"))
        })?;
    let audience = client
        .audience
        .narrow(request.targets.iter().map(String::as_str))
        .map_err(|target| {
            OAuthError::InvalidTarget(format!("{target:?} is not an audience of this client"))
        })?;
    let environments = secret
        .environments
        .grant(request.environment.as_deref())
        .map_err(|env| {
            OAuthError::InvalidRequest(format!(
                "environment {env:?} is not enabled for this credential"
            ))
        })?;
    Ok(Grant {
        issuer,
        client,
        credential: &secret.id,
        audience: &audience,
        scopes: &scopes,
        environments: environments.as_deref(),
        mapped,
    }
    .constant())
}

/// A store error at the token endpoint: 503 when Redis cannot answer now, 500 (reason
/// logged) when retrying would not help.
fn store_error(e: StoreError) -> OAuthError {
    match e {
        StoreError::Unavailable(_) => {
            tracing::warn!(error = %e, "store unavailable at the token endpoint");
            OAuthError::TemporarilyUnavailable(
                "the token service is temporarily unavailable; retry shortly".into(),
            )
        }
        StoreError::Failed(_) | StoreError::Corrupt(_) | StoreError::Config(_) => {
            tracing::error!(error = %e, "store failure at the token endpoint");
            OAuthError::ServerError
        }
    }
}

/// `tkn_` + 128 random bits, hex.
fn token_id() -> String {
    let bits: u128 = rand::rng().random();
    format!("tkn_{bits:032x}")
}

/// Finds the client and (the index of) the secret that matches, running argon2 exactly once
/// whatever the outcome (against a dummy hash when there is nothing to verify against), so
/// that failures take the same time and all answer the same `invalid_client`.
///
/// Before argon2 runs, the attempt takes its place in the brute-force windows (refused with
/// 429 when they are full); requests that share another's argon2 run do not.
async fn authenticate(
    state: &TokenService,
    credentials: &Credentials,
    client_id: Option<&ClientId>,
    attempt: &Attempt,
) -> Result<Proven, OAuthError> {
    let failed = OAuthError::InvalidClient {
        basic: credentials.basic,
    };
    let presented = match &credentials.proof {
        Presented::Secret(secret) => secret,
        Presented::Assertion(token) => {
            return authenticate_assertion(state, token, client_id).await;
        }
    };
    let document = match client_id {
        Some(id) => state
            .store
            .get_client_document(id)
            .await
            .map_err(store_error)?
            .map(|doc| (id, doc)),
        None => None,
    };
    let prepared = match document {
        Some((id, doc)) => Some(state.prepared.get(id, doc).map_err(store_error)?),
        None => None,
    };
    // The stored suffix narrows the candidates to (almost always) one secret.
    let suffix = presented.suffix();
    let candidates: Vec<(usize, &Secret, &SecretState)> = prepared
        .iter()
        .flat_map(|p| {
            let secrets = p.client.secrets.iter().enumerate();
            secrets.map(move |(index, secret)| (index, secret, p.secret(index)))
        })
        .filter(|(_, s, _)| s.hash().is_some() && s.suffix() == suffix)
        .collect();
    // A secret verified recently is checked by HMAC; otherwise argon2 runs exactly once per
    // candidate, and once against the dummy hash when there is none.
    let mut matched = candidates
        .iter()
        .find(|(_, s, slot)| state.verifier.matches(&slot.verified, s, presented))
        .map(|(index, _, _)| *index);
    if !candidates.is_empty() {
        if matched.is_some() {
            crate::metrics::inc(|m| &m.verified_hit);
        } else {
            crate::metrics::inc(|m| &m.verified_miss);
        }
    }
    if matched.is_none() {
        let verify = |hash| async move {
            if let Verdict::Blocked { retry_after_secs } =
                state.guard.reserve(attempt).await.map_err(store_error)?
            {
                return Err(OAuthError::TooManyAttempts { retry_after_secs });
            }
            state
                .hasher
                .verify(hash, presented)
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
        for (index, secret, slot) in &candidates {
            let verified = state
                .verifier
                .verify_once(&slot.verified, secret, presented, || verify(secret.hash()))
                .await?;
            if verified {
                matched = Some(*index);
                break;
            }
        }
    }
    match (prepared, matched) {
        (Some(prepared), Some(index))
            if prepared.client.secrets[index].is_usable(Timestamp::now()) =>
        {
            Ok(Proven {
                prepared,
                index,
                mapped: Vec::new(),
            })
        }
        _ => Err(failed),
    }
}

/// A client assertion: the client's document through the cache, then one signature
/// verification against its credentials (keys fetched only when not kept). Every refusal
/// is `invalid_client`, its reason logged.
async fn authenticate_assertion(
    state: &TokenService,
    token: &str,
    client_id: Option<&ClientId>,
) -> Result<Proven, OAuthError> {
    let failed = OAuthError::InvalidClient { basic: false };
    let Some(id) = client_id else {
        return Err(failed);
    };
    let Some(document) = state
        .store
        .get_client_document(id)
        .await
        .map_err(store_error)?
    else {
        return Err(failed);
    };
    let prepared = state.prepared.get(id, document).map_err(store_error)?;
    match state
        .assertions
        .verify(&state.store, &prepared, id, token)
        .await
    {
        Ok(accepted) => Ok(Proven {
            prepared,
            index: accepted.index,
            mapped: accepted.mapped,
        }),
        Err(assertion::Refusal::Store(e)) => Err(store_error(e)),
        Err(assertion::Refusal::Invalid(why)) => {
            tracing::info!(client_id = %id, reason = %why, "client assertion refused");
            Err(failed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hand_written_response_body_is_the_serialized_response() {
        let response = TokenResponse {
            access_token: "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln-_".into(),
            token_type: "Bearer",
            expires_in: 3600,
            scope: "read:things \"quoted\\\" \u{1}".into(),
        };
        let by_hand: serde_json::Value = serde_json::from_slice(&response.to_json()).unwrap();
        assert_eq!(by_hand, serde_json::to_value(&response).unwrap());
    }
}
