//! The audit trail: one structured event per admin write (every face), per refused admin
//! authentication and, rate-limited, per failed token request. Each event is logged under
//! the `tokenmint::audit` target as one JSON object and appended to a capped Redis stream,
//! which environment admins page through at `GET /v1/auditEvents`.
//!
//! An event names who (the actor), where from (face, request id, peer), what (action,
//! target resource, changed field names) and how it ended (outcome, reason). It never holds
//! a secret, a hash or a token: it is built from ids, field names and error messages only,
//! and error messages never quote a secret.

use std::net::IpAddr;
use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::{Deserialize, Serialize};

use crate::config::AuditSettings;
use crate::domain::Timestamp;
use crate::store::{Store, StoreError};
use crate::telemetry::RequestId;

/// Where a request came in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Face {
    /// `/api/v1/organizations/{org}/clients...`
    Organization,
    /// `/v1/clients...`, `/v1/auditEvents`
    V1,
    /// `scalekit.v1.clients.ClientService` over gRPC.
    Grpc,
    /// `/oauth/token`, `/v1/oauth/token`
    Token,
    /// A `tokenmint` command run on a server's settings (`keys rotate`).
    Cli,
    /// The server on its own (a scheduled key rotation).
    Server,
}

impl Face {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Organization => "organization",
            Self::V1 => "v1",
            Self::Grpc => "grpc",
            Self::Token => "token",
            Self::Cli => "cli",
            Self::Server => "server",
        }
    }

    /// The face of an HTTP request path.
    pub fn of_path(path: &str) -> Self {
        if path.starts_with("/api/") {
            Self::Organization
        } else if path.starts_with("/oauth/") || path == "/v1/oauth/token" {
            Self::Token
        } else {
            Self::V1
        }
    }
}

/// Where one request came from: what every event of that request records.
#[derive(Clone, Debug)]
pub struct Origin {
    pub face: Face,
    pub request_id: RequestId,
    /// The source address (behind trusted proxies, the forwarded one).
    pub peer: Option<IpAddr>,
    /// The request path (never its query) or gRPC method: a refused call's target.
    pub path: String,
}

impl Origin {
    /// An origin for calls made inside the process (tests, tools), with a fresh request id.
    pub fn internal(face: Face) -> Self {
        Self {
            face,
            request_id: RequestId::from_header(None),
            peer: None,
            path: String::new(),
        }
    }
}

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    CreateClient,
    UpdateClient,
    DeleteClient,
    AddSecret,
    UpdateSecret,
    DeleteSecret,
    Authenticate,
    IssueToken,
    RevokeTokens,
    RotateKey,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreateClient => "client.create",
            Self::UpdateClient => "client.update",
            Self::DeleteClient => "client.delete",
            Self::AddSecret => "secret.create",
            Self::UpdateSecret => "secret.update",
            Self::DeleteSecret => "secret.delete",
            Self::Authenticate => "admin.authenticate",
            Self::IssueToken => "token.issue",
            Self::RevokeTokens => "tokens.revoke",
            Self::RotateKey => "key.rotate",
        }
    }
}

/// One audit event, as logged, stored and served (camelCase, as the `/v1` face).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// `auditEvents/<stream id>`: set when read back from the stream.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub time: Timestamp,
    /// `clients/<id>` of the authenticated admin, or `anonymous` for a refused or
    /// unauthenticated caller.
    pub actor: String,
    pub face: String,
    pub action: String,
    /// The resource acted on: `clients/<id>`, `clients/<id>/secrets/<secret id>`, or for a
    /// refused authentication the request path (never its query).
    pub target: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_fields: Vec<String>,
    /// `OK`, or the error's status (`NOT_FOUND`, `UNAUTHENTICATED`, `invalid_client`, ...).
    pub outcome: String,
    /// Why it failed (the error message), when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
}

impl Event {
    pub fn new(origin: &Origin, actor: String, action: Action, target: String) -> Self {
        Self {
            name: String::new(),
            time: Timestamp::now(),
            actor,
            face: origin.face.as_str().to_owned(),
            action: action.as_str().to_owned(),
            target,
            changed_fields: Vec::new(),
            outcome: "OK".to_owned(),
            reason: None,
            request_id: origin.request_id.as_str().to_owned(),
            peer: origin.peer.map(|p| p.to_string()),
        }
    }

    /// The event ended in `outcome` for `reason`.
    pub fn failed(mut self, outcome: &str, reason: String) -> Self {
        self.outcome = outcome.to_owned();
        self.reason = Some(reason);
        self
    }

    pub fn with_fields(mut self, fields: Vec<String>) -> Self {
        self.changed_fields = fields;
        self
    }

    /// Whether this event is about `target` or a resource inside it (`clients/a` matches
    /// `clients/a/secrets/b`).
    fn concerns(&self, target: &str) -> bool {
        self.target
            .strip_prefix(target)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// One page of events, newest first, and the token of the next (older) page.
pub struct Page {
    pub events: Vec<Event>,
    pub next: Option<String>,
}

/// How many stream entries one filtered page request may read before it answers (with a
/// token to go on): a filter that matches nothing cannot make one request scan the stream.
const SCAN_BUDGET: usize = 5_000;
const SCAN_BATCH: usize = 500;

/// Records and reads audit events. Built once at startup; shared by the services.
pub struct Auditor {
    store: Store,
    max_len: usize,
    /// `None`: failure events are not recorded at all (`audit.failure_events_per_sec = 0`).
    failures: Option<DefaultDirectRateLimiter>,
}

impl Auditor {
    pub fn new(store: Store, settings: &AuditSettings) -> Self {
        Self {
            store,
            max_len: settings.stream_max_len,
            failures: NonZeroU32::new(settings.failure_events_per_sec)
                .map(|rate| RateLimiter::direct(Quota::per_second(rate))),
        }
    }

    /// Logs `event` and appends it to the stream. A store failure is logged and counted,
    /// never returned: the write it describes has already happened.
    pub async fn record(&self, event: Event) {
        let json = serde_json::to_string(&event).expect("an audit event serializes");
        tracing::info!(target: "tokenmint::audit", event = %json, "audit");
        crate::metrics::inc_vec(|m| &m.audit_events, &[event.action.as_str()]);
        if let Err(e) = self.store.append_audit(&json, self.max_len).await {
            crate::metrics::inc(|m| &m.audit_write_errors);
            tracing::warn!(error = %e, request_id = %event.request_id, "the audit event could not be stored");
        }
    }

    /// Records a failure event (a refused authentication, a failed token request) unless
    /// failures arrive faster than `audit.failure_events_per_sec`; then it is only counted.
    pub async fn record_failure(&self, event: Event) {
        match &self.failures {
            Some(limiter) if limiter.check().is_ok() => self.record(event).await,
            _ => crate::metrics::inc(|m| &m.audit_suppressed),
        }
    }

    /// Up to `size` events newest first, older than the page `token`'s position, about
    /// `target` (and what is inside it) when given.
    pub async fn page(
        &self,
        token: Option<&str>,
        size: usize,
        target: Option<&str>,
    ) -> Result<Page, StoreError> {
        let mut events = Vec::with_capacity(size);
        let mut cursor: Option<String> = token.map(str::to_owned);
        let mut scanned = 0;
        loop {
            let want = if target.is_some() {
                SCAN_BATCH
            } else {
                size + 1 - events.len()
            };
            let batch = self.store.audit_before(cursor.as_deref(), want).await?;
            let exhausted = batch.len() < want;
            for (id, json) in batch {
                let mut event: Event = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Corrupt(format!("audit event {id}: {e}")))?;
                if target.is_none_or(|t| event.concerns(t)) {
                    if events.len() == size {
                        return Ok(Page {
                            events,
                            next: cursor.map(|c| encode_token(&c)),
                        });
                    }
                    event.name = format!("auditEvents/{id}");
                    events.push(event);
                }
                cursor = Some(id);
                scanned += 1;
            }
            if exhausted {
                return Ok(Page { events, next: None });
            }
            if scanned >= SCAN_BUDGET {
                return Ok(Page {
                    events,
                    next: cursor.map(|c| encode_token(&c)),
                });
            }
        }
    }
}

fn encode_token(stream_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("a1:{stream_id}"))
}

/// The stream position a page token names; `None` for a token this API did not make.
pub fn decode_token(token: &str) -> Option<String> {
    let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let id = text.strip_prefix("a1:")?;
    let (ms, seq) = id.split_once('-')?;
    (ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok()).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_filter_matches_the_resource_and_what_is_inside_it() {
        let origin = Origin::internal(Face::V1);
        let event = |target: &str| {
            Event::new(
                &origin,
                "anonymous".into(),
                Action::DeleteSecret,
                target.into(),
            )
        };
        assert!(event("clients/a").concerns("clients/a"));
        assert!(event("clients/a/secrets/b").concerns("clients/a"));
        assert!(!event("clients/ab").concerns("clients/a"));
        assert!(!event("clients/a").concerns("clients/a/secrets/b"));
    }

    #[test]
    fn page_tokens_round_trip_and_strangers_are_refused() {
        let token = encode_token("1700000000000-3");
        assert_eq!(decode_token(&token).as_deref(), Some("1700000000000-3"));
        for bad in [
            "",
            "x",
            &URL_SAFE_NO_PAD.encode("a1:12"),
            &URL_SAFE_NO_PAD.encode("a1:1-x"),
        ] {
            assert_eq!(decode_token(bad), None, "{bad}");
        }
    }
}
