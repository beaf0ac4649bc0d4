//! Secrets that recently passed argon2, remembered so that later requests are checked in
//! microseconds.
//!
//! An entry holds one HMAC-SHA256, under a per-process random key, of the secret's stored
//! hash together with the presented secret (never the secret itself), keyed by the secret's
//! id. A changed, deactivated or deleted secret, or a deleted client, takes effect on the
//! next request: the client document is read every time, a new hash no longer matches the
//! MAC, and status and expiry are checked after a match. Entries expire after a configurable
//! lifetime, and the cache is bounded (moka: entries are evicted one at a time by frequency
//! and recency, so a full cache never makes every client pay argon2 again at once).
//!
//! Identical verifications in flight at once share one argon2 run (a fresh process that
//! sees many connections of one client at once would otherwise run argon2 for each).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use parking_lot::Mutex;
use std::time::Duration;

use tokio::sync::OnceCell;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;

use crate::crypto::PlainSecret;
use crate::domain::{Secret, SecretId};

/// A verification in flight: its key is the secret id and the MAC of what it verifies.
type FlightKey = (SecretId, Vec<u8>);

pub struct VerifiedCache {
    key: hmac::Key,
    lifetime: Duration,
    /// Per secret id, [`VerifiedCache::tag`] of its stored PHC hash and the secret that
    /// verified against it; each entry lives `lifetime`. `None` when disabled.
    entries: Option<moka::sync::Cache<SecretId, hmac::Tag>>,
    /// Verifications running now; an entry lives while its first caller waits.
    flights: Mutex<HashMap<FlightKey, Arc<OnceCell<bool>>>>,
}

/// Removes a flight from the map when the caller that started it is done or dropped.
struct Landing<'a> {
    flights: &'a Mutex<HashMap<FlightKey, Arc<OnceCell<bool>>>>,
    key: FlightKey,
    flight: Arc<OnceCell<bool>>,
}

impl Drop for Landing<'_> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock();
        if flights
            .get(&self.key)
            .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
        {
            flights.remove(&self.key);
        }
    }
}

impl VerifiedCache {
    /// `lifetime` zero disables the cache.
    pub fn new(lifetime: Duration, capacity: usize) -> Self {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .expect("the system RNG works");
        let entries = (!lifetime.is_zero()).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(capacity as u64)
                .time_to_live(lifetime)
                .build()
        });
        Self {
            key,
            lifetime,
            entries,
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// How often [`Self::sweep`] should run: entries outlive their lifetime by at most this.
    pub fn sweep_interval(&self) -> Duration {
        if self.lifetime.is_zero() {
            return Duration::from_secs(60); // nothing is ever remembered
        }
        (self.lifetime / 4).clamp(Duration::from_millis(100), Duration::from_secs(15))
    }

    /// Entries held now (reported by `/readyz`), expired ones already forgotten.
    pub fn held(&self) -> usize {
        self.sweep();
        self.entries.as_ref().map_or(0, |e| {
            usize::try_from(e.entry_count()).unwrap_or(usize::MAX)
        })
    }

    /// Forgets every expired entry (and applies pending evictions) now.
    pub fn sweep(&self) {
        if let Some(entries) = &self.entries {
            entries.run_pending_tasks();
        }
    }

    /// One MAC over the stored hash and the presented secret: the hash's length comes first,
    /// so no (hash, secret) pair can be shifted into another.
    fn tag(&self, secret: &Secret, presented: &PlainSecret) -> hmac::Tag {
        let hash = secret.hash.as_str().as_bytes();
        let mut context = hmac::Context::with_key(&self.key);
        context.update(&(hash.len() as u64).to_le_bytes());
        context.update(hash);
        context.update(presented.expose().as_bytes());
        context.sign()
    }

    /// Whether `presented` is the secret that last verified against `secret`'s current hash.
    pub fn matches(&self, secret: &Secret, presented: &PlainSecret) -> bool {
        let Some(entries) = &self.entries else {
            return false;
        };
        // An expired entry is not returned, swept or not.
        let Some(known) = entries.get(&secret.id) else {
            return false;
        };
        let tag = self.tag(secret, presented);
        verify_slices_are_equal(known.as_ref(), tag.as_ref()).is_ok()
    }

    /// Runs `verify` (argon2 of `presented` against `secret`'s hash), unless the same
    /// verification is already running: then waits for that one's answer. A match is
    /// remembered. If the running one fails (say the argon2 queue is full), a waiter runs
    /// its own.
    pub async fn verify_once<E, F, Fut>(
        &self,
        secret: &Secret,
        presented: &PlainSecret,
        verify: F,
    ) -> Result<bool, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<bool, E>>,
    {
        let tag = self.tag(secret, presented);
        let key = (secret.id.clone(), tag.as_ref().to_vec());
        let flight = {
            let mut flights = self.flights.lock();
            Arc::clone(flights.entry(key.clone()).or_default())
        };
        let _landing = Landing {
            flights: &self.flights,
            key,
            flight: Arc::clone(&flight),
        };
        let matched = *flight.get_or_try_init(verify).await?;
        if matched {
            self.remember(secret, tag);
        }
        Ok(matched)
    }

    /// Remembers that the secret behind `tag` verified against `secret`'s hash.
    fn remember(&self, secret: &Secret, tag: hmac::Tag) {
        if let Some(entries) = &self.entries {
            entries.insert(secret.id.clone(), tag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SecretHash, SecretStatus, Timestamp};

    fn secret(id: &str, hash: &str) -> Secret {
        Secret {
            id: SecretId::parse(id).unwrap(),
            display_name: String::new(),
            secret_suffix: "abcd".into(),
            status: SecretStatus::Active,
            environments: Default::default(),
            labels: Default::default(),
            sdk_type: Default::default(),
            create_time: Timestamp::now(),
            update_time: Timestamp::now(),
            creator: None,
            updater: None,
            expire_time: None,
            hash: SecretHash::new(hash.into()),
        }
    }

    fn remember(cache: &VerifiedCache, secret: &Secret, presented: &PlainSecret) {
        cache.remember(secret, cache.tag(secret, presented));
    }

    #[tokio::test]
    async fn identical_verifications_in_flight_share_one_run() {
        let cache = VerifiedCache::new(Duration::from_secs(60), 10);
        let s = secret("sks_000000000000000001", "$argon2id$one");
        let right = PlainSecret::from_presented("tm_right".into());
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let verify = || async {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, ()>(true)
        };
        let all =
            futures_util::future::join_all((0..10).map(|_| cache.verify_once(&s, &right, verify)))
                .await;
        assert!(all.iter().all(|r| *r == Ok(true)));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(cache.matches(&s, &right), "the match is remembered");
        assert!(cache.flights.lock().is_empty(), "no flight is left behind");

        // A different presented secret is a different flight; a failed run lets a waiter
        // run its own.
        let wrong = PlainSecret::from_presented("tm_wrong".into());
        let failing = || async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<bool, &str>("busy")
        };
        let answering = || async { Ok::<_, &str>(false) };
        let (first, second) = tokio::join!(
            cache.verify_once(&s, &wrong, failing),
            cache.verify_once(&s, &wrong, answering)
        );
        assert_eq!((first, second), (Err("busy"), Ok(false)));
        assert!(!cache.matches(&s, &wrong));
    }

    #[test]
    fn only_the_verified_secret_against_the_same_hash_matches() {
        let cache = VerifiedCache::new(Duration::from_secs(60), 10);
        let s = secret("sks_000000000000000001", "$argon2id$one");
        let right = PlainSecret::from_presented("tm_right".into());
        assert!(!cache.matches(&s, &right), "nothing remembered yet");
        remember(&cache, &s, &right);
        assert!(cache.matches(&s, &right));
        assert!(!cache.matches(&s, &PlainSecret::from_presented("tm_wrong".into())));
        let rehashed = secret("sks_000000000000000001", "$argon2id$two");
        assert!(
            !cache.matches(&rehashed, &right),
            "a replaced secret no longer matches"
        );
        let other = secret("sks_000000000000000002", "$argon2id$one");
        assert!(
            !cache.matches(&other, &right),
            "entries belong to one secret id"
        );
    }

    #[test]
    fn entries_expire_and_a_zero_lifetime_disables_the_cache() {
        let cache = VerifiedCache::new(Duration::from_millis(30), 10);
        let s = secret("sks_000000000000000001", "$argon2id$one");
        let right = PlainSecret::from_presented("tm_right".into());
        remember(&cache, &s, &right);
        assert_eq!(cache.held(), 1);
        std::thread::sleep(Duration::from_millis(40));
        assert!(!cache.matches(&s, &right));
        cache.sweep();
        assert_eq!(cache.held(), 0, "a sweep forgets expired entries");
        let off = VerifiedCache::new(Duration::ZERO, 10);
        remember(&off, &s, &right);
        assert!(!off.matches(&s, &right));
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let cache = VerifiedCache::new(Duration::from_secs(60), 3);
        let right = PlainSecret::from_presented("tm_right".into());
        for n in 0..10 {
            remember(
                &cache,
                &secret(&format!("sks_{n:018}"), "$argon2id$h"),
                &right,
            );
            assert!(cache.held() <= 3);
        }
    }
}
