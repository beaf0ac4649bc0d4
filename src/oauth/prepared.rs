//! Prepared clients: for each client, the last version of its document the token endpoint
//! read, decoded once, with the encoded claims of its un-narrowed grants built once per
//! secret. Everything a warm token needs beyond the secret check ([`super::verified`]).
//!
//! Exactness comes from the document's bytes: a document that differs in any byte (every
//! write bumps its `version`) is decoded anew and replaces the entry, so nothing derived
//! from an old version is ever served. The cache is moka's: bounded, evicting one entry at
//! a time by frequency and recency (no "start over when full" cliff).

use std::sync::{Arc, OnceLock};

use crate::domain::{Client, ClientId};
use crate::store::{ClientDocument, StoreError};

use super::claims::Constant;

/// One version of one client, prepared for the token endpoint.
pub struct Prepared {
    document: ClientDocument,
    pub client: Client,
    /// Per secret, at the secret's index in `client.secrets`: the constant claims of its
    /// un-narrowed grants, built on first use.
    constants: Box<[OnceLock<Arc<Constant>>]>,
}

impl Prepared {
    fn new(document: ClientDocument) -> Result<Self, StoreError> {
        let client = document.decode()?;
        let constants = client.secrets.iter().map(|_| OnceLock::new()).collect();
        Ok(Self {
            document,
            client,
            constants,
        })
    }

    /// The un-narrowed grant claims of the secret at `index`, built by `build` the first
    /// time (a concurrent first use may build twice; one result is kept).
    pub fn constant<E>(
        &self,
        index: usize,
        build: impl FnOnce() -> Result<Constant, E>,
    ) -> Result<Arc<Constant>, E> {
        let cell = &self.constants[index];
        if let Some(constant) = cell.get() {
            return Ok(Arc::clone(constant));
        }
        let built = Arc::new(build()?);
        Ok(Arc::clone(cell.get_or_init(|| built)))
    }
}

pub struct PreparedClients {
    /// `None` when configured to hold nothing.
    entries: Option<moka::sync::Cache<ClientId, Arc<Prepared>>>,
}

impl PreparedClients {
    /// Holds at most `capacity` clients (0: none, every request decodes).
    pub fn new(capacity: u64) -> Self {
        Self {
            entries: (capacity > 0).then(|| moka::sync::Cache::new(capacity)),
        }
    }

    /// The prepared form of `document`, the client `id`'s document just read.
    pub fn get(
        &self,
        id: &ClientId,
        document: ClientDocument,
    ) -> Result<Arc<Prepared>, StoreError> {
        let Some(entries) = &self.entries else {
            return Ok(Arc::new(Prepared::new(document)?));
        };
        if let Some(prepared) = entries.get(id)
            && prepared.document == document
        {
            return Ok(prepared);
        }
        let prepared = Arc::new(Prepared::new(document)?);
        entries.insert(id.clone(), Arc::clone(&prepared));
        Ok(prepared)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::oauth::claims::Grant;

    fn document(version: u64) -> ClientDocument {
        let doc = json!({
            "version": version,
            "client_id": "m2morg_000000000000000042",
            "name": "n",
            "scopes": ["read"],
            "expiry": 3600,
            "create_time": "2026-01-01T00:00:00Z",
            "update_time": "2026-01-01T00:00:00Z",
            "secrets": [{
                "id": "sks_000000000000000001",
                "secret_suffix": "abcd",
                "create_time": "2026-01-01T00:00:00Z",
                "update_time": "2026-01-01T00:00:00Z",
                "hash": "$argon2id$x"
            }],
        });
        ClientDocument::for_tests(doc.to_string())
    }

    #[test]
    fn a_document_is_prepared_once_per_version_and_its_claims_built_once_per_secret() {
        let cache = PreparedClients::new(10);
        let id = ClientId::parse("m2morg_000000000000000042").unwrap();
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
                    }
                    .constant(),
                )
            })
            .unwrap()
        };
        let first = cache.get(&id, document(1)).unwrap();
        claims(&first);
        let again = cache.get(&id, document(1)).unwrap();
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
        let newer = cache.get(&id, document(2)).unwrap();
        assert_eq!(newer.client.version, 2, "a new version replaces the entry");
        claims(&newer);
        assert_eq!(built.get(), 2, "a new version builds its claims anew");
        let uncached = PreparedClients::new(0);
        let a = uncached.get(&id, document(1)).unwrap();
        let b = uncached.get(&id, document(1)).unwrap();
        assert!(!Arc::ptr_eq(&a, &b), "capacity 0 holds nothing");
    }
}
