//! The token endpoint's one cache: per client, the last version of its document the
//! endpoint read, decoded once, with everything a warm token needs per secret: the encoded
//! claims of its un-narrowed grants (built once), whether it recently passed argon2
//! ([`super::verified`], HMAC-bound to its hash), the verifications of it in flight, and
//! when its use was last written ([`super::usage`]).
//!
//! Exactness comes from the document's bytes: a document that differs in any byte (every
//! write bumps its `version`) is decoded anew and replaces the entry, so nothing derived
//! from an old version is ever served. Only what is bound to a secret's hash (a remembered
//! match) or harmless (when its use was written) is carried from the old entry to the new
//! one, for the secrets both versions hold. The cache is moka's: bounded by the number of
//! secrets its clients hold, evicting one client at a time by frequency and recency (no
//! "start over when full" cliff); a new version is prepared once however many requests
//! bring it at once.

use std::sync::{Arc, OnceLock};

use moka::ops::compute::Op;

use crate::domain::{Client, ClientId};
use crate::store::{ClientDocument, StoreError};

use super::claims::Constant;
use super::usage::LastWrite;
use super::verified::{Verified, Verifier};

/// What a prepared client holds for one of its secrets.
#[derive(Default)]
pub struct SecretState {
    /// The constant claims of the secret's un-narrowed grants, built on first use.
    constant: OnceLock<Arc<Constant>>,
    pub verified: Verified,
    pub last_write: LastWrite,
}

impl SecretState {
    fn carried(&self) -> Self {
        Self {
            constant: OnceLock::new(),
            verified: self.verified.carried(),
            last_write: self.last_write.carried(),
        }
    }
}

/// One version of one client, prepared for the token endpoint.
pub struct Prepared {
    document: ClientDocument,
    pub client: Client,
    /// At each secret's index in `client.secrets`.
    secrets: Box<[SecretState]>,
    /// The counter of this client's successful tokens and the algorithm it is for.
    pub ok_tokens: OnceLock<(&'static str, prometheus::IntCounter)>,
}

impl Prepared {
    /// `document` decoded; state of secrets that `previous` (an older version) also holds
    /// is carried over.
    fn new(document: ClientDocument, previous: Option<&Prepared>) -> Result<Self, StoreError> {
        let client = document.decode()?;
        let secrets = client
            .secrets
            .iter()
            .map(|secret| {
                previous
                    .and_then(|p| {
                        let index = p.client.secrets.iter().position(|s| s.id == secret.id)?;
                        Some(p.secrets[index].carried())
                    })
                    .unwrap_or_default()
            })
            .collect();
        Ok(Self {
            document,
            client,
            secrets,
            ok_tokens: OnceLock::new(),
        })
    }

    /// The state of the secret at `index` in `client.secrets`.
    pub fn secret(&self, index: usize) -> &SecretState {
        &self.secrets[index]
    }

    /// The un-narrowed grant claims of the secret at `index`, built by `build` the first
    /// time (a concurrent first use may build twice; one result is kept).
    pub fn constant<E>(
        &self,
        index: usize,
        build: impl FnOnce() -> Result<Constant, E>,
    ) -> Result<Arc<Constant>, E> {
        let cell = &self.secrets[index].constant;
        if let Some(constant) = cell.get() {
            return Ok(Arc::clone(constant));
        }
        let built = Arc::new(build()?);
        Ok(Arc::clone(cell.get_or_init(|| built)))
    }

    /// How much of the cache's bound this entry takes: its secrets (at least one).
    fn weight(&self) -> u32 {
        u32::try_from(self.secrets.len().max(1)).unwrap_or(u32::MAX)
    }
}

pub struct PreparedClients {
    entries: moka::sync::Cache<ClientId, Arc<Prepared>>,
}

impl PreparedClients {
    /// Holds clients with at most `secrets` secrets in all (a client without any counts
    /// as one).
    pub fn new(secrets: u64) -> Self {
        Self {
            entries: moka::sync::Cache::builder()
                .max_capacity(secrets)
                .weigher(|_, prepared: &Arc<Prepared>| prepared.weight())
                .build(),
        }
    }

    /// The prepared form of `document`, the client `id`'s document just read.
    pub fn get(
        &self,
        id: &ClientId,
        document: ClientDocument,
    ) -> Result<Arc<Prepared>, StoreError> {
        if let Some(prepared) = self.entries.get(id)
            && prepared.document == document
        {
            crate::metrics::inc(|m| &m.client_hit);
            return Ok(prepared);
        }
        crate::metrics::inc(|m| &m.client_miss);
        // Calls for one client run one at a time here: concurrent requests bringing a new
        // version share one preparation (and so one set of verifications in flight).
        let mut prepared = None;
        self.entries
            .entry_by_ref(id)
            .and_try_compute_with(|current| {
                let current = current.map(|entry| entry.into_value());
                Ok::<_, StoreError>(match current {
                    Some(held) if held.document == document => {
                        prepared = Some(held);
                        Op::Nop
                    }
                    previous => {
                        let new = Arc::new(Prepared::new(document, previous.as_deref())?);
                        prepared = Some(Arc::clone(&new));
                        Op::Put(new)
                    }
                })
            })?;
        prepared.ok_or_else(|| StoreError::Failed("the client cache computed nothing".into()))
    }

    /// Calls `each` with every prepared client held now.
    pub fn for_each(&self, mut each: impl FnMut(&Prepared)) {
        for (_, prepared) in self.entries.iter() {
            each(&prepared);
        }
    }

    /// Forgets every expired remembered match (and applies pending evictions) now.
    pub fn sweep(&self, verifier: &Verifier) {
        self.entries.run_pending_tasks();
        self.for_each(|p| {
            for slot in &p.secrets {
                verifier.forget_expired(&slot.verified);
            }
        });
    }

    /// Secrets whose match is remembered now (reported by `/readyz`), expired ones forgotten.
    pub fn verified(&self, verifier: &Verifier) -> usize {
        self.entries.run_pending_tasks();
        let mut held = 0;
        self.for_each(|p| {
            held += p
                .secrets
                .iter()
                .filter(|slot| verifier.forget_expired(&slot.verified))
                .count();
        });
        held
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::crypto::PlainSecret;
    use crate::oauth::claims::Grant;

    fn document(version: u64, secrets: &[(&str, &str)]) -> ClientDocument {
        let secrets: Vec<_> = secrets
            .iter()
            .map(|(id, hash)| {
                json!({
                    "id": id,
                    "secret_suffix": "abcd",
                    "create_time": "2026-01-01T00:00:00Z",
                    "update_time": "2026-01-01T00:00:00Z",
                    "hash": hash
                })
            })
            .collect();
        let doc = json!({
            "version": version,
            "client_id": "m2morg_000000000000000042",
            "name": "n",
            "scopes": ["read"],
            "expiry": 3600,
            "create_time": "2026-01-01T00:00:00Z",
            "update_time": "2026-01-01T00:00:00Z",
            "secrets": secrets,
        });
        ClientDocument::for_tests(doc.to_string())
    }

    const ONE: (&str, &str) = ("sks_000000000000000001", "$argon2id$one");
    const TWO: (&str, &str) = ("sks_000000000000000002", "$argon2id$two");

    fn id(n: u32) -> ClientId {
        ClientId::parse(&format!("m2morg_{n:018}")).unwrap()
    }

    #[test]
    fn a_document_is_prepared_once_per_version_and_its_claims_built_once_per_secret() {
        let cache = PreparedClients::new(10);
        let id = id(42);
        let built = std::cell::Cell::new(0);
        let claims = |p: &Prepared| {
            p.constant(0, || {
                built.set(built.get() + 1);
                Ok::<_, ()>(
                    Grant {
                        issuer: "i",
                        client: &p.client,
                        credential: &p.client.secrets[0].id,
                        audience: &[],
                        scopes: &["read"],
                        environments: None,
                        mapped: &[],
                    }
                    .constant(),
                )
            })
            .unwrap()
        };
        let first = cache.get(&id, document(1, &[ONE])).unwrap();
        claims(&first);
        let again = cache.get(&id, document(1, &[ONE])).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same bytes are not decoded again"
        );
        claims(&again);
        assert_eq!(
            built.get(),
            1,
            "claims are built once per version and secret"
        );
        let newer = cache.get(&id, document(2, &[ONE])).unwrap();
        assert_eq!(newer.client.version, 2, "a new version replaces the entry");
        claims(&newer);
        assert_eq!(built.get(), 2, "a new version builds its claims anew");
    }

    #[tokio::test]
    async fn a_new_version_keeps_the_matches_of_the_secrets_it_still_holds() {
        let cache = PreparedClients::new(10);
        let verifier = Verifier::new(Duration::from_secs(60));
        let id = id(42);
        let right = PlainSecret::from_presented("tm_right".into());
        let old = cache.get(&id, document(1, &[ONE, TWO])).unwrap();
        for index in 0..2 {
            let secret = &old.client.secrets[index];
            let slot = &old.secret(index).verified;
            let matched = verifier
                .verify_once(slot, secret, &right, || async { Ok::<_, ()>(true) })
                .await;
            assert_eq!(matched, Ok(true));
        }
        assert_eq!(cache.verified(&verifier), 2);
        // Secret one's hash is replaced, secret two stays, a third one is new.
        let three = ("sks_000000000000000003", "$argon2id$three");
        let new = cache
            .get(
                &id,
                document(
                    2,
                    &[("sks_000000000000000001", "$argon2id$new"), TWO, three],
                ),
            )
            .unwrap();
        let still = |index: usize| {
            verifier.matches(
                &new.secret(index).verified,
                &new.client.secrets[index],
                &right,
            )
        };
        assert!(
            !still(0),
            "a replaced hash does not match what the old one did"
        );
        assert!(still(1), "an unchanged secret is still known");
        assert!(!still(2), "a new secret is not");
        let gone = cache.get(&id, document(3, &[three])).unwrap();
        assert!(!verifier.matches(&gone.secret(0).verified, &gone.client.secrets[0], &right));
    }

    #[test]
    fn the_cache_holds_at_most_its_bound_in_secrets() {
        let cache = PreparedClients::new(3);
        for n in 0..10 {
            cache.get(&id(n), document(1, &[ONE, TWO])).unwrap();
            cache.entries.run_pending_tasks();
            assert!(cache.entries.weighted_size() <= 3);
        }
        assert!(
            cache.entries.entry_count() >= 1,
            "a full cache still holds clients"
        );
    }

    #[test]
    fn concurrent_requests_bringing_a_new_version_share_one_preparation() {
        let cache = Arc::new(PreparedClients::new(10));
        let prepared: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| cache.get(&id(7), document(1, &[ONE])).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(prepared.iter().all(|p| Arc::ptr_eq(p, &prepared[0])));
    }
}
