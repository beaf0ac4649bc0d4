//! Secrets that recently passed argon2, remembered so that later requests are checked in
//! microseconds.
//!
//! What a secret remembers lives in its [`Verified`] slot, part of its client's entry in the
//! one token-endpoint cache ([`super::prepared`]). A slot holds one HMAC-SHA256, under a
//! per-process random key ([`Verifier`]), of the secret's stored hash together with the
//! presented secret (never the secret itself), and when it was made. A changed, deactivated
//! or deleted secret, or a deleted client, takes effect on the next request: the client
//! document is read every time, a new hash no longer matches the MAC, and status and expiry
//! are checked after a match. A remembered match counts for a configurable lifetime;
//! [`Verifier::forget_expired`] clears older ones even when no request comes.
//!
//! Identical verifications in flight at once share one argon2 run (a fresh process that
//! sees many connections of one client at once would otherwise run argon2 for each).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::OnceCell;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;

use crate::crypto::PlainSecret;
use crate::domain::Secret;

/// A verification in flight, keyed by the MAC of what it verifies.
type Flights = Mutex<HashMap<Vec<u8>, Arc<OnceCell<bool>>>>;

/// What one secret remembers of its verifications.
#[derive(Default)]
pub struct Verified {
    /// [`Verifier::tag`] of the stored PHC hash and the secret that last verified against
    /// it, and when.
    last: Mutex<Option<(hmac::Tag, Instant)>>,
    /// Verifications running now; an entry lives while its first caller waits.
    flights: Flights,
}

impl Verified {
    /// A new slot that remembers what this one does (for the same secret in a newer version
    /// of its client's document: the MAC binds the hash, so a changed hash cannot match).
    pub fn carried(&self) -> Self {
        Self {
            last: Mutex::new(*self.last.lock()),
            flights: Flights::default(),
        }
    }
}

/// Removes a flight from its slot when the caller that started it is done or dropped.
struct Landing<'a> {
    flights: &'a Flights,
    key: Vec<u8>,
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

/// The MAC key and the lifetime of a remembered match.
pub struct Verifier {
    key: hmac::Key,
    lifetime: Duration,
}

impl Verifier {
    /// `lifetime` zero remembers nothing.
    pub fn new(lifetime: Duration) -> Self {
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &SystemRandom::new())
            .expect("the system RNG works");
        Self { key, lifetime }
    }

    /// How often [`Self::forget_expired`] should run over every slot: a match is remembered
    /// at most this long past its lifetime.
    pub fn sweep_interval(&self) -> Duration {
        if self.lifetime.is_zero() {
            return Duration::from_secs(60); // nothing is ever remembered
        }
        (self.lifetime / 4).clamp(Duration::from_millis(100), Duration::from_secs(15))
    }

    /// Forgets `slot`'s match if its lifetime is over; whether one is still remembered.
    pub fn forget_expired(&self, slot: &Verified) -> bool {
        let mut last = slot.last.lock();
        if last.is_some_and(|(_, at)| at.elapsed() >= self.lifetime) {
            *last = None;
        }
        last.is_some()
    }

    /// One MAC over the stored hash and the presented secret: the hash's length comes first,
    /// so no (hash, secret) pair can be shifted into another.
    fn tag(&self, secret: &Secret, presented: &PlainSecret) -> hmac::Tag {
        // Only secrets reach here; another kind has no hash and never matches a tag.
        let hash = secret.hash().map_or(&b""[..], |h| h.as_str().as_bytes());
        let mut context = hmac::Context::with_key(&self.key);
        context.update(&(hash.len() as u64).to_le_bytes());
        context.update(hash);
        context.update(presented.expose().as_bytes());
        context.sign()
    }

    /// Whether `presented` is the secret that last verified against `secret`'s current hash
    /// within the lifetime (`slot` is `secret`'s).
    pub fn matches(&self, slot: &Verified, secret: &Secret, presented: &PlainSecret) -> bool {
        let Some((known, at)) = *slot.last.lock() else {
            return false;
        };
        if at.elapsed() >= self.lifetime {
            return false;
        }
        let tag = self.tag(secret, presented);
        verify_slices_are_equal(known.as_ref(), tag.as_ref()).is_ok()
    }

    /// Runs `verify` (argon2 of `presented` against `secret`'s hash), unless the same
    /// verification is already running: then waits for that one's answer. A match is
    /// remembered in `slot`. If the running one fails (say the argon2 queue is full), a
    /// waiter runs its own.
    pub async fn verify_once<E, F, Fut>(
        &self,
        slot: &Verified,
        secret: &Secret,
        presented: &PlainSecret,
        verify: F,
    ) -> Result<bool, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<bool, E>>,
    {
        let tag = self.tag(secret, presented);
        let key = tag.as_ref().to_vec();
        let flight = Arc::clone(slot.flights.lock().entry(key.clone()).or_default());
        let _landing = Landing {
            flights: &slot.flights,
            key,
            flight: Arc::clone(&flight),
        };
        let matched = *flight.get_or_try_init(verify).await?;
        if matched {
            self.remember(slot, tag);
        }
        Ok(matched)
    }

    /// Remembers that the secret behind `tag` verified, unless nothing is remembered.
    fn remember(&self, slot: &Verified, tag: hmac::Tag) {
        if !self.lifetime.is_zero() {
            *slot.last.lock() = Some((tag, Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{SecretHash, SecretId, SecretStatus, Timestamp};

    fn secret(id: &str, hash: &str) -> Secret {
        Secret {
            id: SecretId::parse(id).unwrap(),
            display_name: String::new(),
            status: SecretStatus::Active,
            environments: Default::default(),
            labels: Default::default(),
            sdk_type: Default::default(),
            create_time: Timestamp::now(),
            update_time: Timestamp::now(),
            creator: None,
            updater: None,
            expire_time: None,
            proof: crate::domain::Proof::ClientSecret {
                secret_suffix: "abcd".into(),
                hash: SecretHash::new(hash.into()),
            },
            tokens_not_before: None,
        }
    }

    fn remember(verifier: &Verifier, slot: &Verified, secret: &Secret, presented: &PlainSecret) {
        verifier.remember(slot, verifier.tag(secret, presented));
    }

    #[tokio::test]
    async fn identical_verifications_in_flight_share_one_run() {
        let verifier = Verifier::new(Duration::from_secs(60));
        let slot = Verified::default();
        let s = secret("sks_000000000000000001", "$argon2id$one");
        let right = PlainSecret::from_presented("tm_right".into());
        let runs = std::sync::atomic::AtomicUsize::new(0);
        let verify = || async {
            runs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok::<_, ()>(true)
        };
        let all = futures_util::future::join_all(
            (0..10).map(|_| verifier.verify_once(&slot, &s, &right, verify)),
        )
        .await;
        assert!(all.iter().all(|r| *r == Ok(true)));
        assert_eq!(runs.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(
            verifier.matches(&slot, &s, &right),
            "the match is remembered"
        );
        assert!(slot.flights.lock().is_empty(), "no flight is left behind");

        // A different presented secret is a different flight; a failed run lets a waiter
        // run its own.
        let wrong = PlainSecret::from_presented("tm_wrong".into());
        let failing = || async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err::<bool, &str>("busy")
        };
        let answering = || async { Ok::<_, &str>(false) };
        let (first, second) = tokio::join!(
            verifier.verify_once(&slot, &s, &wrong, failing),
            verifier.verify_once(&slot, &s, &wrong, answering)
        );
        assert_eq!((first, second), (Err("busy"), Ok(false)));
        assert!(!verifier.matches(&slot, &s, &wrong));
        assert!(
            verifier.matches(&slot, &s, &right),
            "a failed guess forgets nothing"
        );
    }

    #[test]
    fn only_the_verified_secret_against_the_same_hash_matches() {
        let verifier = Verifier::new(Duration::from_secs(60));
        let slot = Verified::default();
        let s = secret("sks_000000000000000001", "$argon2id$one");
        let right = PlainSecret::from_presented("tm_right".into());
        assert!(
            !verifier.matches(&slot, &s, &right),
            "nothing remembered yet"
        );
        remember(&verifier, &slot, &s, &right);
        assert!(verifier.matches(&slot, &s, &right));
        assert!(!verifier.matches(&slot, &s, &PlainSecret::from_presented("tm_wrong".into())));
        let rehashed = secret("sks_000000000000000001", "$argon2id$two");
        let carried = slot.carried();
        assert!(
            !verifier.matches(&carried, &rehashed, &right),
            "a replaced secret no longer matches, even carried into a new version"
        );
        assert!(
            verifier.matches(&carried, &s, &right),
            "an unchanged one does"
        );
        let other = Verifier::new(Duration::from_secs(60));
        assert!(
            !other.matches(&slot, &s, &right),
            "the MAC key is the process's own"
        );
    }

    #[test]
    fn matches_expire_and_a_zero_lifetime_remembers_nothing() {
        let verifier = Verifier::new(Duration::from_millis(30));
        let slot = Verified::default();
        let s = secret("sks_000000000000000001", "$argon2id$one");
        let right = PlainSecret::from_presented("tm_right".into());
        remember(&verifier, &slot, &s, &right);
        assert!(verifier.forget_expired(&slot), "still within its lifetime");
        std::thread::sleep(Duration::from_millis(40));
        assert!(!verifier.matches(&slot, &s, &right));
        assert!(!verifier.forget_expired(&slot));
        assert!(slot.last.lock().is_none(), "an expired match is forgotten");
        let off = Verifier::new(Duration::ZERO);
        remember(&off, &slot, &s, &right);
        assert!(!off.matches(&slot, &s, &right));
        assert!(!off.forget_expired(&slot));
    }
}
