//! The only module that speaks to Redis. It stores domain records and returns domain
//! records; a missing record is `Ok(None)`.
//!
//! # Layout
//! - `keys`: every key name (contract §6), private to the store.
//! - `redis`: the Redis backend (multiplexed, reconnecting, Lua compare-and-set).
//! - `memory`: the in-memory backend behind `serve --dev`.
//!
//! # Consistency without multi-key transactions
//! A client's document and its index entries live in different cluster slots, so they are
//! written in an order that a crash between the writes cannot turn into harm:
//! - create: index entries first, then the document. A crash leaves an index entry without
//!   a document, which lists skip and remove.
//! - delete: the document first (its secrets stop working at once), then the index entries.
//!   A crash again leaves only a dangling index entry.
//!
//! So no client can authenticate without also being listable and deletable.

mod keys;
mod memory;
mod redis;

use std::collections::HashMap;
use std::net::IpAddr;

use tracing::warn;

use crate::config::RedisSettings;
use crate::crypto::schedule::KeySchedule;
use crate::domain::{Client, ClientId, OrganizationId, SecretId, Timestamp, Usage};
use keys::{KeyNames, SEEN_CLIENT_FIELD};
use memory::MemoryBackend;
use redis::RedisBackend;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Redis cannot answer now (down, frozen, out of memory, failing over): retry later (503).
    #[error("{0}")]
    Unavailable(String),
    /// Redis answered with an error that retrying will not fix (a broken script, a key of
    /// the wrong type): a defect (500, with the reason logged).
    #[error("{0}")]
    Failed(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Config(String),
}

/// The two failure windows a token request is judged by: of one presented client id (all
/// ids that are no client's share one) from one address, and of the address whatever the
/// client. Their keys stay inside the store.
pub struct FailureWindows {
    of_client: String,
    of_address: String,
}

/// One of the two [`FailureWindows`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Window {
    ClientAtAddress,
    Address,
}

impl FailureWindows {
    fn key(&self, window: Window) -> &str {
        match window {
            Window::ClientAtAddress => &self.of_client,
            Window::Address => &self.of_address,
        }
    }
}

/// The result of a conditional write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    Done,
    /// The stored version differs from the expected one (or, on create, the key exists).
    Conflict,
    Missing,
}

/// The answer of [`Store::reserve_failure`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowSlot {
    Taken,
    /// The window is full; its oldest entry is from this time (ms).
    Full {
        oldest_ms: u64,
    },
}

/// A position in a creation-time index: pages continue strictly after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    pub score: u64,
    pub member: String,
}

/// One page of clients and where the next one starts.
#[derive(Debug)]
pub struct ClientPage {
    pub clients: Vec<Client>,
    pub next: Option<IndexEntry>,
}

#[derive(Clone)]
enum Backend {
    Redis(RedisBackend),
    Memory(MemoryBackend),
}

/// Dispatches a primitive to the backend; the in-memory one cannot fail.
macro_rules! call {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Redis(b) => b.$method($($arg),*).await?,
            Backend::Memory(b) => b.$method($($arg),*),
        }
    };
}

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    names: KeyNames,
}

/// A client's stored document as read, not yet decoded: two reads of the same bytes are the
/// same version, so a caller can keep what it derived from it until the bytes change.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientDocument(String);

impl ClientDocument {
    pub fn decode(&self) -> Result<Client, StoreError> {
        decode(&self.0)
    }

    /// A document from its JSON text, for unit tests elsewhere in the crate.
    #[cfg(test)]
    pub(crate) fn for_tests(json: String) -> Self {
        Self(json)
    }
}

impl std::fmt::Debug for ClientDocument {
    /// The document holds secret hashes: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientDocument(<hidden>)")
    }
}

impl Store {
    /// A single Redis or a Redis Cluster, as `settings` say; `client_cache_entries` > 0
    /// enables client-side caching of the token endpoint's reads.
    pub async fn redis(settings: &RedisSettings) -> Result<Self, StoreError> {
        Ok(Self {
            backend: Backend::Redis(RedisBackend::connect(settings).await?),
            names: KeyNames::new(&settings.key_prefix),
        })
    }

    pub fn memory(prefix: &str) -> Self {
        Self {
            backend: Backend::Memory(MemoryBackend::default()),
            names: KeyNames::new(prefix),
        }
    }

    /// The failure windows of `client` (`None`: an id that is no client's) at `address`.
    pub fn failure_windows(&self, client: Option<&ClientId>, address: IpAddr) -> FailureWindows {
        let [of_client, of_address] = self.names.failures(client, address);
        FailureWindows {
            of_client,
            of_address,
        }
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Redis(b) => b.ping().await,
            Backend::Memory(_) => Ok(()),
        }
    }

    #[tracing::instrument(skip_all, fields(client_id = %id))]
    pub async fn get_client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let doc = call!(self.get(&self.names.client(id)));
        doc.map(|doc| decode(&doc)).transpose()
    }

    /// The client's document, read through the client-side cache (the token endpoint's
    /// read: no round trip while the document is unchanged; a change anywhere invalidates
    /// it).
    pub async fn get_client_document(
        &self,
        id: &ClientId,
    ) -> Result<Option<ClientDocument>, StoreError> {
        Ok(call!(self.get_cached(&self.names.client(id))).map(ClientDocument))
    }

    /// Stores a new client (version 1). `Conflict` if its id is taken.
    #[tracing::instrument(skip_all, fields(client_id = %client.client_id))]
    pub async fn create_client(&self, client: &Client) -> Result<WriteOutcome, StoreError> {
        let id = client.client_id.as_str();
        let score = client.create_time.as_millis();
        if let Some(org) = &client.organization_id {
            call!(self.index_add(&self.names.organization_clients(org), score, id));
        }
        call!(self.index_add(&self.names.all_clients(), score, id));
        let doc = encode(client)?;
        Ok(call!(self.put_if_version(
            &self.names.client(&client.client_id),
            None,
            &doc
        )))
    }

    /// Replaces a client whose stored version is `client.version - 1`.
    #[tracing::instrument(skip_all, fields(client_id = %client.client_id))]
    pub async fn update_client(&self, client: &Client) -> Result<WriteOutcome, StoreError> {
        let doc = encode(client)?;
        let expected = Some(client.version - 1);
        Ok(call!(self.put_if_version(
            &self.names.client(&client.client_id),
            expected,
            &doc
        )))
    }

    /// Deletes a client (only at `expected` version, if given), then its index entries.
    #[tracing::instrument(skip_all, fields(client_id = %client.client_id))]
    pub async fn delete_client(
        &self,
        client: &Client,
        expected: Option<u64>,
    ) -> Result<WriteOutcome, StoreError> {
        let id = &client.client_id;
        let outcome =
            call!(self.delete_if_version(&self.names.client(id), &self.names.seen(id), expected));
        if outcome == WriteOutcome::Done {
            self.remove_from_indexes(id, client.organization_id.as_ref())
                .await?;
        }
        Ok(outcome)
    }

    async fn remove_from_indexes(
        &self,
        id: &ClientId,
        org: Option<&OrganizationId>,
    ) -> Result<(), StoreError> {
        if let Some(org) = org {
            call!(self.index_remove(&self.names.organization_clients(org), id.as_str()));
        }
        call!(self.index_remove(&self.names.all_clients(), id.as_str()));
        Ok(())
    }

    pub async fn count_clients(&self, org: Option<&OrganizationId>) -> Result<u64, StoreError> {
        Ok(call!(self.index_len(&self.index_key(org))))
    }

    fn index_key(&self, org: Option<&OrganizationId>) -> String {
        org.map_or_else(
            || self.names.all_clients(),
            |org| self.names.organization_clients(org),
        )
    }

    /// Up to `limit` clients in creation order after `after`. Index entries whose document
    /// is gone (a crash mid-create or mid-delete) are skipped and removed.
    #[tracing::instrument(skip_all)]
    pub async fn list_clients(
        &self,
        org: Option<&OrganizationId>,
        after: Option<IndexEntry>,
        limit: usize,
    ) -> Result<ClientPage, StoreError> {
        let index = self.index_key(org);
        let mut clients = Vec::with_capacity(limit);
        let mut cursor = after;
        let mut next = None;
        loop {
            let want = limit - clients.len() + 1;
            let entries = call!(self.index_after(&index, cursor.as_ref(), want));
            let exhausted = entries.len() < want;
            let keys: Vec<Option<String>> = entries
                .iter()
                .map(|e| ClientId::parse(&e.member).map(|id| self.names.client(&id)))
                .collect();
            let present: Vec<String> = keys.iter().flatten().cloned().collect();
            let mut docs = call!(self.get_many(&present)).into_iter();
            for (entry, key) in entries.into_iter().zip(keys) {
                let doc = if key.is_some() {
                    docs.next().flatten()
                } else {
                    None
                };
                match doc {
                    Some(doc) if clients.len() < limit => {
                        clients.push(decode(&doc)?);
                        cursor = Some(entry);
                    }
                    Some(_) => {
                        next = cursor.clone();
                        break;
                    }
                    None => {
                        warn!(client_id = %entry.member, "removing an index entry whose client is gone");
                        call!(self.index_remove(&index, &entry.member));
                        cursor = Some(entry);
                    }
                }
            }
            if next.is_some() || exhausted {
                break;
            }
        }
        Ok(ClientPage { clients, next })
    }

    /// Last-use times of a client and its secrets.
    pub async fn usage(&self, id: &ClientId) -> Result<Usage, StoreError> {
        Ok(self.usages(&[id]).await?.pop().unwrap_or_default())
    }

    /// Last-use times of several clients, in one round trip, in the order given.
    pub async fn usages(&self, ids: &[&ClientId]) -> Result<Vec<Usage>, StoreError> {
        let keys: Vec<String> = ids.iter().map(|id| self.names.seen(id)).collect();
        let raw = call!(self.hash_get_all_many(&keys));
        Ok(raw.into_iter().map(usage_from).collect())
    }

    /// Records that `secret` of client `id` authenticated at `at`, if the client still
    /// holds that secret (a use recorded after a delete must not recreate keys).
    pub async fn record_use(
        &self,
        id: &ClientId,
        secret: &SecretId,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let (client, seen) = (self.names.client(id), self.names.seen(id));
        call!(self.record_use(&client, &seen, secret.as_str(), at.as_millis()));
        Ok(())
    }

    /// Failed authentications in each window ending at `now_ms`: (count, oldest ms), client
    /// window first. Read through the client-side cache: no round trip while nothing changes.
    pub async fn recent_failures(
        &self,
        windows: &FailureWindows,
        now_ms: u64,
        window_ms: u64,
    ) -> Result<[(u64, Option<u64>); 2], StoreError> {
        let since = now_ms.saturating_sub(window_ms);
        let keys = [windows.of_client.as_str(), windows.of_address.as_str()];
        let sets = call!(self.window_entries(keys));
        Ok(sets.map(|entries| {
            let recent = entries.into_iter().filter(|at| *at > since);
            recent.fold((0, None), |(count, oldest): (u64, Option<u64>), at| {
                (count + 1, Some(oldest.map_or(at, |o| o.min(at))))
            })
        }))
    }

    /// Takes a place for `member` at `now_ms` in `window`, unless it already holds `limit`
    /// entries within `window_ms`: atomically, however many requests race for the last
    /// place.
    pub async fn reserve_failure(
        &self,
        windows: &FailureWindows,
        window: Window,
        member: &str,
        now_ms: u64,
        window_ms: u64,
        limit: u64,
    ) -> Result<WindowSlot, StoreError> {
        let key = windows.key(window);
        Ok(call!(
            self.window_reserve(key, member, now_ms, window_ms, limit)
        ))
    }

    /// Gives back a place taken by [`Self::reserve_failure`].
    pub async fn release_failure(
        &self,
        windows: &FailureWindows,
        window: Window,
        member: &str,
    ) -> Result<(), StoreError> {
        call!(self.window_release(windows.key(window), member));
        Ok(())
    }

    /// Puts token `jti` of client `id` on the denylist until `expires` (the token's own
    /// expiry: a revoked token is forgotten once it could not be used anyway).
    pub async fn revoke_token(
        &self,
        id: &ClientId,
        jti: &str,
        expires: Timestamp,
    ) -> Result<(), StoreError> {
        let now = Timestamp::now().as_millis();
        let ttl_ms = expires.as_millis().saturating_sub(now).max(1);
        call!(self.set_expiring(&self.names.revoked(id, jti), expires.as_millis(), ttl_ms));
        Ok(())
    }

    /// Records that client `id` used an assertion with this `jti`, until `expires`: false
    /// when it was used before (a replay), atomically however many instances race.
    pub async fn use_assertion_once(
        &self,
        id: &ClientId,
        jti: &str,
        expires: Timestamp,
    ) -> Result<bool, StoreError> {
        let now = Timestamp::now().as_millis();
        let ttl_ms = expires.as_millis().saturating_sub(now).max(1);
        Ok(call!(self.set_new_expiring(
            &self.names.used_assertion(id, jti),
            expires.as_millis(),
            ttl_ms
        )))
    }

    /// Whether token `jti` of client `id` is on the denylist; read through the client-side
    /// cache (no round trip while nothing changes, an invalidation when it does).
    pub async fn is_token_revoked(&self, id: &ClientId, jti: &str) -> Result<bool, StoreError> {
        let value = call!(self.get_cached(&self.names.revoked(id, jti)));
        let now = Timestamp::now().as_millis();
        Ok(value
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|expires| expires > now))
    }

    /// The key store's schedule; `cached` reads through the client-side cache (what every
    /// instance polls: no round trip while it is unchanged).
    pub async fn signing_keys(&self, cached: bool) -> Result<Option<KeySchedule>, StoreError> {
        let key = self.names.signing_keys();
        let doc = if cached {
            call!(self.get_cached(&key))
        } else {
            call!(self.get(&key))
        };
        doc.map(|doc| serde_json::from_str(&doc).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    /// Writes `schedule` if the stored one is at `schedule.version - 1` (or, at version 1,
    /// if none is stored): `Conflict` when another writer came first.
    pub async fn put_signing_keys(
        &self,
        schedule: &KeySchedule,
    ) -> Result<WriteOutcome, StoreError> {
        let doc =
            serde_json::to_string(schedule).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let expected = (schedule.version > 1).then(|| schedule.version - 1);
        let outcome = call!(self.put_if_version(&self.names.signing_keys(), expected, &doc));
        Ok(match outcome {
            // Stored and expected-version mismatch, or gone after it was read: either way
            // someone else wrote; the caller reads again.
            WriteOutcome::Missing => WriteOutcome::Conflict,
            other => other,
        })
    }

    /// Appends an audit event (its JSON) to the capped audit stream; returns its id.
    pub async fn append_audit(&self, entry: &str, max_len: usize) -> Result<String, StoreError> {
        let now = Timestamp::now().as_millis();
        Ok(call!(self.stream_append(
            &self.names.audit(),
            entry,
            max_len,
            now
        )))
    }

    /// Up to `count` audit events (id, JSON), newest first, strictly older than `before`.
    pub async fn audit_before(
        &self,
        before: Option<&str>,
        count: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(call!(self.stream_before(
            &self.names.audit(),
            before,
            count
        )))
    }

    /// Forgets the failures recorded in `window`.
    pub async fn clear_failures(
        &self,
        windows: &FailureWindows,
        window: Window,
    ) -> Result<(), StoreError> {
        call!(self.delete(windows.key(window)));
        Ok(())
    }
}

fn usage_from(raw: HashMap<String, String>) -> Usage {
    let mut usage = Usage::default();
    for (field, value) in raw {
        let Ok(ms) = value.parse::<u64>() else {
            continue;
        };
        let at = Timestamp::from_millis(ms);
        if field == SEEN_CLIENT_FIELD {
            usage.client = Some(at);
        } else if let Some(id) = SecretId::parse(&field) {
            usage.secrets.insert(id, at);
        }
    }
    usage
}

fn encode(client: &Client) -> Result<String, StoreError> {
    serde_json::to_string(client).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(doc: &str) -> Result<Client, StoreError> {
    // serde_json's message names the position and expected type, never the content.
    serde_json::from_str(doc).map_err(|e| StoreError::Corrupt(e.to_string()))
}
