//! The key store (`keys.source = "redis"`): signing keys kept in Redis as one schedule
//! ([`KeySchedule`]), private keys sealed under the KEK, and every instance following it.
//!
//! Each instance reads the schedule through the client-side cache (a round trip only after
//! a change), derives at the current time which keys to publish and which one signs, and
//! swaps that set into the shared [`Keys`]. Writes (the first key, a rotation, pruning) are
//! compare-and-set on the schedule's version, so of instances racing to rotate exactly one
//! succeeds and the others see its key.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::Serialize;

use crate::audit::{Action, Auditor, Event, Face, Origin};
use crate::config::Settings;
use crate::crypto::kek::Kek;
use crate::crypto::keys::{self, KeyError};
use crate::crypto::schedule::{KeyRecord, KeySchedule, KeyState, Policy, RotateError};
use crate::crypto::{Alg, KeyRing, Keys, SigningKey};
use crate::domain::Timestamp;
use crate::store::{Store, StoreError, WriteOutcome};

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Pending(#[from] RotateError),
    #[error("the signing-key schedule kept changing while this rotation was written; try again")]
    Contended,
    #[error(
        "keys.source is \"folder\": rotate by adding a key file to keys.dir (see README), or set keys.source = \"redis\""
    )]
    FolderSource,
}

/// One key as `keys list` and `GET /v1/signingKeys` show it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub create_time: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub signs_from: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub signs_until: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub retire_time: Option<Timestamp>,
    /// The key file (folder source only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl KeyView {
    pub fn of_record(record: &KeyRecord, now: Timestamp) -> Self {
        Self {
            kid: record.kid.clone(),
            alg: record.alg.clone(),
            state: record.state(now),
            create_time: Some(record.create_time),
            signs_from: Some(record.signs_from),
            signs_until: record.signs_until,
            retire_time: record.retire_time,
            file: None,
        }
    }

    /// The keys of a folder ring: the active one signs, the others are published.
    pub fn of_ring(ring: &KeyRing) -> Vec<Self> {
        let active = &ring.active().kid;
        ring.keys()
            .iter()
            .map(|key| Self {
                kid: key.kid.clone(),
                alg: key.alg.name().to_owned(),
                state: if &key.kid == active {
                    KeyState::Signing
                } else {
                    KeyState::Published
                },
                create_time: None,
                signs_from: None,
                signs_until: None,
                retire_time: None,
                file: Some(key.file_name.clone()),
            })
            .collect()
    }
}

pub struct KeyStore {
    store: Store,
    kek: Kek,
    policy: Policy,
    alg: Alg,
    typ: String,
    keys: Arc<Keys>,
    /// Keys already opened and parsed, by kid (opening RSA keys costs milliseconds).
    parsed: Mutex<HashMap<String, Arc<SigningKey>>>,
    /// Where scheduled rotations are recorded (actor `tokenmint`, face `server`).
    auditor: Auditor,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("kek", &self.kek)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// How often a write is tried again after losing a compare-and-set to another writer.
const WRITE_ATTEMPTS: usize = 5;

impl KeyStore {
    /// Opens the key store of `settings` (KEK from `keys.kek_file` or `TOKENMINT_KEK`),
    /// making the first key when Redis holds none, and loads the keys to use now.
    pub async fn open(settings: &Settings, store: Store) -> Result<Arc<Self>, KeyStoreError> {
        let kek = Kek::configured(&settings.keys.kek_file)?;
        let policy = settings.keys.policy(&settings.tokens);
        let (alg, typ) = (settings.keys.alg, settings.tokens.typ.clone());
        let mut schedule = store.signing_keys(false).await?;
        if schedule.is_none() {
            let now = Timestamp::now();
            let first = KeySchedule::first(new_record(&kek, alg, &typ).await?, now);
            if store.put_signing_keys(&first).await? == WriteOutcome::Done {
                tracing::info!(kid = %first.keys[0].kid, alg = alg.name(), "made the first signing key of the key store");
                schedule = Some(first);
            } else {
                // Another instance made it first.
                schedule = store.signing_keys(false).await?;
            }
        }
        let schedule = schedule.ok_or_else(|| {
            KeyError::Store("the schedule vanished while it was being made".into())
        })?;
        let parsed = Mutex::new(HashMap::new());
        let ring = build_ring(&parsed, &kek, &typ, &schedule, Timestamp::now())?;
        Ok(Arc::new(Self {
            auditor: Auditor::new(store.clone(), &settings.audit),
            store,
            kek,
            policy,
            alg,
            typ,
            keys: Arc::new(Keys::provided(ring)),
            parsed,
        }))
    }

    /// The keys this store provides (shared with every service).
    pub fn keys(&self) -> Arc<Keys> {
        Arc::clone(&self.keys)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Reads the schedule (`cached`: through the client-side cache) and swaps in the keys
    /// it gives now: whether they changed, and the schedule read. An error (Redis down, a
    /// key that does not open) leaves the keys in use.
    pub async fn refresh(&self, cached: bool) -> Result<(bool, KeySchedule), KeyStoreError> {
        let schedule = self.read(cached).await?;
        let ring = build_ring(
            &self.parsed,
            &self.kek,
            &self.typ,
            &schedule,
            Timestamp::now(),
        )?;
        Ok((self.keys.replace(ring), schedule))
    }

    async fn read(&self, cached: bool) -> Result<KeySchedule, KeyStoreError> {
        self.store
            .signing_keys(cached)
            .await?
            .ok_or_else(|| KeyError::Store("no schedule in Redis (deleted?)".into()).into())
    }

    /// The schedule's keys as they stand now.
    pub async fn list(&self) -> Result<Vec<KeyView>, KeyStoreError> {
        let now = Timestamp::now();
        let schedule = self.read(false).await?;
        Ok(schedule
            .keys
            .iter()
            .map(|k| KeyView::of_record(k, now))
            .collect())
    }

    /// Publishes a new key (of `alg`, else `keys.alg`) that signs after the publish-ahead
    /// time; refused while another rotation is under way.
    pub async fn rotate(&self, alg: Option<Alg>) -> Result<KeyView, KeyStoreError> {
        let alg = alg.unwrap_or(self.alg);
        let record = new_record(&self.kek, alg, &self.typ).await?;
        let mut schedule = self.read(false).await?;
        for _ in 0..WRITE_ATTEMPTS {
            let now = Timestamp::now();
            let view = KeyView::of_record(schedule.rotate(record.clone(), now, &self.policy)?, now);
            if self.store.put_signing_keys(&schedule).await? == WriteOutcome::Done {
                tracing::info!(kid = %view.kid, alg = %view.alg, signs_from = %view.signs_from.map(|t| t.to_string()).unwrap_or_default(), "published a new signing key");
                return Ok(view);
            }
            schedule = self.read(false).await?;
        }
        Err(KeyStoreError::Contended)
    }

    /// What an instance does on its own: with `keys.rotate_every_secs`, publishes the next
    /// key when it is due (exactly one instance's write lands; the others see it pending),
    /// and drops retired keys' private keys. The new key, if this instance rotated.
    pub async fn maintain(&self, schedule: &KeySchedule) -> Result<Option<KeyView>, KeyStoreError> {
        let now = Timestamp::now();
        let due = schedule
            .rotation_due_at(now, &self.policy)
            .is_some_and(|at| at <= now);
        if due {
            let mut fresh = self.read(false).await?;
            if fresh
                .rotation_due_at(now, &self.policy)
                .is_some_and(|at| at <= now)
            {
                let record = new_record(&self.kek, self.alg, &self.typ).await?;
                let view = KeyView::of_record(fresh.rotate(record, now, &self.policy)?, now);
                if self.store.put_signing_keys(&fresh).await? == WriteOutcome::Done {
                    tracing::info!(kid = %view.kid, alg = %view.alg, signs_from = %view.signs_from.map(|t| t.to_string()).unwrap_or_default(), "rotated the signing key on schedule (keys.rotate_every_secs)");
                    let event = Event::new(
                        &Origin::internal(Face::Server),
                        "tokenmint".into(),
                        Action::RotateKey,
                        format!("signingKeys/{}", view.kid),
                    )
                    .with_fields(vec!["rotate_every_secs".into()]);
                    self.auditor.record(event).await;
                    return Ok(Some(view));
                }
            }
            return Ok(None);
        }
        let mut pruned = schedule.clone();
        if pruned.prune(now) {
            pruned.version += 1;
            // Losing the race is fine: the winner pruned, or will on its next look.
            self.store.put_signing_keys(&pruned).await?;
        }
        Ok(None)
    }
}

/// A new key of `alg`, sealed under `kek` (generated off the async workers: an RSA key
/// takes tens of milliseconds).
async fn new_record(kek: &Kek, alg: Alg, typ: &str) -> Result<KeyRecord, KeyError> {
    let typ = typ.to_owned();
    let (der, key) = tokio::task::spawn_blocking(move || {
        let der = keys::generate_der(alg)?;
        let key = SigningKey::from_der("key store", &der, &typ)?;
        Ok::<_, KeyError>((der, key))
    })
    .await
    .map_err(|_| KeyError::Generate)??;
    let now = Timestamp::now();
    Ok(KeyRecord {
        sealed: Some(kek.seal(&key.kid, alg.name(), &der)?),
        kid: key.kid.clone(),
        alg: alg.name().to_owned(),
        create_time: now,
        signs_from: now,
        signs_until: None,
        retire_time: None,
        public_jwk: key.jwk().clone(),
    })
}

/// The ring `schedule` gives at `now`: every published key, oldest first, the signer
/// active. Keys are opened once and kept in `parsed`.
fn build_ring(
    parsed: &Mutex<HashMap<String, Arc<SigningKey>>>,
    kek: &Kek,
    typ: &str,
    schedule: &KeySchedule,
    now: Timestamp,
) -> Result<KeyRing, KeyError> {
    let signer = schedule.signer(now).ok_or_else(|| {
        KeyError::Store("no key signs now (every key is retired or pending)".into())
    })?;
    let mut parsed = parsed.lock();
    let mut ring = Vec::new();
    let mut active = 0;
    for record in schedule.published(now) {
        let key = match parsed.get(&record.kid) {
            Some(key) => Arc::clone(key),
            None => {
                let sealed = record.sealed.as_ref().ok_or_else(|| {
                    KeyError::Store(format!("key {} has no private key", record.kid))
                })?;
                let der = kek.open(&record.kid, &record.alg, sealed)?;
                let key = SigningKey::from_der("key store", &der, typ)?;
                if key.kid != record.kid || key.alg.name() != record.alg {
                    return Err(KeyError::Store(format!(
                        "key {}: the sealed key is another key",
                        record.kid
                    )));
                }
                let key = Arc::new(key);
                parsed.insert(record.kid.clone(), Arc::clone(&key));
                key
            }
        };
        if record.kid == signer.kid {
            active = ring.len();
        }
        ring.push(key);
    }
    parsed.retain(|kid, _| schedule.published(now).any(|r| &r.kid == kid));
    Ok(KeyRing::new(ring, active))
}
