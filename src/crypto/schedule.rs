//! The signing-key schedule the key store keeps in Redis: every key with the times that
//! decide its state, so every instance, reading the same document, agrees on which keys
//! are published and which one signs, with no message between them.
//!
//! A key's life: **published** (in the JWKS, not signing yet) from its creation until
//! `signs_from`, which is `keys.publish_ahead_secs` later, so that every verifier's cached
//! JWKS holds it before the first token it signs; **signing** until its successor's
//! `signs_from`; **retiring** (still published, for the tokens it signed) until
//! `retire_time`, the longest token lifetime plus `keys.retire_margin_secs` after it
//! stopped signing; then **retired**: gone from the JWKS, its sealed private key dropped.
//! At most one key is ever pending (published, not yet signing), so a rotation is one
//! compare-and-set on the document's version.

use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use serde::{Deserialize, Serialize};

use super::kek::Sealed;
use crate::domain::Timestamp;

/// How many retired keys the document remembers (for `keys list`), newest kept.
pub const KEEP_RETIRED: usize = 5;

/// The stored schedule (`version` counts writes; every write expects the one it read).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KeySchedule {
    pub version: u64,
    pub keys: Vec<KeyRecord>,
}

/// One key of the schedule.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: String,
    pub create_time: Timestamp,
    pub signs_from: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signs_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retire_time: Option<Timestamp>,
    /// The public JWK, in clear (it is published anyway).
    pub public_jwk: Jwk,
    /// The private key, sealed under the KEK; dropped once the key retires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<Sealed>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    Published,
    Signing,
    Retiring,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Published => "published",
            Self::Signing => "signing",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }
}

/// The times a rotation is planned with (from settings).
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// From a key's creation until it signs (`keys.publish_ahead_secs`).
    pub publish_ahead: Duration,
    /// The longest lifetime a token may have (`tokens.max_expiry`).
    pub longest_token: Duration,
    /// Added to the longest lifetime before a key retires, for verifiers' clock leeway
    /// (`keys.retire_margin_secs`).
    pub retire_margin: Duration,
    /// How long each key signs when instances rotate on their own (`keys.rotate_every_secs`).
    pub rotate_every: Option<Duration>,
}

/// Why a rotation was not planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RotateError {
    #[error(
        "a rotation is already under way: key {kid} is published and signs from {signs_from}; \
         rotate again after that"
    )]
    Pending { kid: String, signs_from: Timestamp },
}

fn plus(at: Timestamp, by: Duration) -> Timestamp {
    let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
    Timestamp::from_millis(at.as_millis().saturating_add(ms))
}

impl KeyRecord {
    pub fn state(&self, now: Timestamp) -> KeyState {
        if self.retire_time.is_some_and(|t| now >= t) {
            KeyState::Retired
        } else if now < self.signs_from {
            KeyState::Published
        } else if self.signs_until.is_some_and(|t| now >= t) {
            KeyState::Retiring
        } else {
            KeyState::Signing
        }
    }
}

impl KeySchedule {
    /// A first schedule: `key` (created now) signs at once. No token exists yet that a
    /// verifier could lack the key for.
    pub fn first(mut key: KeyRecord, now: Timestamp) -> Self {
        key.create_time = now;
        key.signs_from = now;
        Self {
            version: 1,
            keys: vec![key],
        }
    }

    /// The key that signs at `now`: the newest whose `signs_from` has come and that is
    /// not retired.
    pub fn signer(&self, now: Timestamp) -> Option<&KeyRecord> {
        self.keys
            .iter()
            .filter(|k| k.signs_from <= now && k.state(now) != KeyState::Retired)
            .max_by_key(|k| k.signs_from)
    }

    /// The keys the JWKS publishes at `now` (all but the retired), oldest first.
    pub fn published(&self, now: Timestamp) -> impl Iterator<Item = &KeyRecord> {
        self.keys
            .iter()
            .filter(move |k| k.state(now) != KeyState::Retired)
    }

    /// The key that is published but does not sign yet, if any.
    pub fn pending(&self, now: Timestamp) -> Option<&KeyRecord> {
        self.keys
            .iter()
            .find(|k| k.state(now) == KeyState::Published)
    }

    /// The next time after `now` at which some key changes state.
    pub fn next_change(&self, now: Timestamp) -> Option<Timestamp> {
        self.keys
            .iter()
            .flat_map(|k| [Some(k.signs_from), k.signs_until, k.retire_time])
            .flatten()
            .filter(|t| *t > now)
            .min()
    }

    /// When the next key must be published for the signer to hand over exactly
    /// `rotate_every` after it began to sign (`None`: no automatic rotation, or one is
    /// already under way).
    pub fn rotation_due_at(&self, now: Timestamp, policy: &Policy) -> Option<Timestamp> {
        let every = policy.rotate_every?;
        if self.pending(now).is_some() {
            return None;
        }
        let signer = self.signer(now)?;
        let hand_over = plus(signer.signs_from, every);
        Some(Timestamp::from_millis(
            hand_over
                .as_millis()
                .saturating_sub(u64::try_from(policy.publish_ahead.as_millis()).unwrap_or(0)),
        ))
    }

    /// Adds `key` as published now, signing after the publish-ahead time; the current
    /// signer then retires after the longest token lifetime and the margin. Refused while
    /// another key is pending.
    pub fn rotate(
        &mut self,
        mut key: KeyRecord,
        now: Timestamp,
        policy: &Policy,
    ) -> Result<&KeyRecord, RotateError> {
        if let Some(pending) = self.pending(now) {
            return Err(RotateError::Pending {
                kid: pending.kid.clone(),
                signs_from: pending.signs_from,
            });
        }
        let signs_from = plus(now, policy.publish_ahead);
        let retire_time = plus(signs_from, policy.longest_token + policy.retire_margin);
        let signer = self.signer(now).map(|k| k.kid.clone());
        for record in &mut self.keys {
            if Some(&record.kid) == signer.as_ref() {
                record.signs_until = Some(signs_from);
                record.retire_time = Some(retire_time);
            }
        }
        key.create_time = now;
        key.signs_from = signs_from;
        key.signs_until = None;
        key.retire_time = None;
        self.prune(now);
        self.keys.push(key);
        self.version += 1;
        Ok(self.keys.last().expect("just pushed"))
    }

    /// Drops the sealed private key of every retired key and forgets all but the newest
    /// [`KEEP_RETIRED`] retired keys: whether anything changed (the caller then writes).
    pub fn prune(&mut self, now: Timestamp) -> bool {
        let mut changed = false;
        for record in &mut self.keys {
            if record.state(now) == KeyState::Retired && record.sealed.is_some() {
                record.sealed = None;
                changed = true;
            }
        }
        let retired = self
            .keys
            .iter()
            .filter(|k| k.state(now) == KeyState::Retired)
            .count();
        let mut forget = retired.saturating_sub(KEEP_RETIRED);
        if forget > 0 {
            changed = true;
            self.keys.retain(|k| {
                if forget > 0 && k.state(now) == KeyState::Retired {
                    forget -= 1;
                    false
                } else {
                    true
                }
            });
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Timestamp {
        Timestamp::from_millis(secs * 1000)
    }

    fn record(kid: &str) -> KeyRecord {
        KeyRecord {
            kid: kid.into(),
            alg: "ES256".into(),
            create_time: at(0),
            signs_from: at(0),
            signs_until: None,
            retire_time: None,
            public_jwk: serde_json::from_value(serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
            }))
            .unwrap(),
            sealed: Some(Sealed {
                kek_id: "x".into(),
                nonce: "n".into(),
                ciphertext: "c".into(),
            }),
        }
    }

    fn policy() -> Policy {
        Policy {
            publish_ahead: Duration::from_secs(10),
            longest_token: Duration::from_secs(100),
            retire_margin: Duration::from_secs(5),
            rotate_every: Some(Duration::from_secs(50)),
        }
    }

    fn states(schedule: &KeySchedule, now: Timestamp) -> Vec<(String, KeyState)> {
        schedule
            .keys
            .iter()
            .map(|k| (k.kid.clone(), k.state(now)))
            .collect()
    }

    #[test]
    fn a_rotation_publishes_ahead_then_hands_over_then_retires_the_old_key() {
        let policy = policy();
        let mut s = KeySchedule::first(record("a"), at(0));
        assert_eq!(s.signer(at(0)).unwrap().kid, "a");
        s.rotate(record("b"), at(20), &policy).unwrap();
        assert_eq!(s.version, 2);
        use KeyState::*;
        let a_b = |x, y| vec![("a".to_owned(), x), ("b".to_owned(), y)];
        assert_eq!(states(&s, at(29)), a_b(Signing, Published));
        assert_eq!(s.signer(at(29)).unwrap().kid, "a");
        assert_eq!(
            s.published(at(29)).count(),
            2,
            "b is in the JWKS before it signs"
        );
        assert_eq!(states(&s, at(30)), a_b(Retiring, Signing));
        assert_eq!(s.signer(at(30)).unwrap().kid, "b");
        // a signed until 30; its last token lives until 130, plus 5 s margin.
        assert_eq!(states(&s, at(134)), a_b(Retiring, Signing));
        assert_eq!(states(&s, at(135)), a_b(Retired, Signing));
        assert_eq!(
            s.published(at(135))
                .map(|k| k.kid.as_str())
                .collect::<Vec<_>>(),
            ["b"]
        );
        assert_eq!(s.next_change(at(20)), Some(at(30)));
        assert_eq!(s.next_change(at(30)), Some(at(135)));
        assert_eq!(s.next_change(at(135)), None);
    }

    #[test]
    fn only_one_rotation_is_under_way_at_a_time() {
        let policy = policy();
        let mut s = KeySchedule::first(record("a"), at(0));
        s.rotate(record("b"), at(20), &policy).unwrap();
        let err = s.rotate(record("c"), at(25), &policy).unwrap_err();
        assert_eq!(
            err,
            RotateError::Pending {
                kid: "b".into(),
                signs_from: at(30)
            }
        );
        assert_eq!(s.version, 2, "a refused rotation changes nothing");
        s.rotate(record("c"), at(30), &policy).unwrap();
        assert_eq!(s.signer(at(40)).unwrap().kid, "c");
        assert_eq!(
            s.published(at(40)).count(),
            3,
            "a and b still verify their tokens"
        );
    }

    #[test]
    fn automatic_rotation_is_due_publish_ahead_before_the_hand_over() {
        let policy = policy();
        let mut s = KeySchedule::first(record("a"), at(0));
        // a signs from 0 for 50 s: the next key is published at 40.
        assert_eq!(s.rotation_due_at(at(1), &policy), Some(at(40)));
        s.rotate(record("b"), at(40), &policy).unwrap();
        assert_eq!(s.rotation_due_at(at(41), &policy), None, "b is pending");
        assert_eq!(s.rotation_due_at(at(50), &policy), Some(at(90)));
        let off = Policy {
            rotate_every: None,
            ..policy
        };
        assert_eq!(s.rotation_due_at(at(50), &off), None);
    }

    #[test]
    fn retired_keys_lose_their_private_key_and_only_the_newest_are_remembered() {
        let policy = Policy {
            rotate_every: None,
            ..policy()
        };
        let mut s = KeySchedule::first(record("k0"), at(0));
        for i in 1..10 {
            s.rotate(record(&format!("k{i}")), at(i * 1000), &policy)
                .unwrap();
        }
        let later = at(100_000);
        assert!(s.prune(later));
        let retired: Vec<_> = s
            .keys
            .iter()
            .filter(|k| k.state(later) == KeyState::Retired)
            .collect();
        assert_eq!(retired.len(), KEEP_RETIRED);
        assert!(retired.iter().all(|k| k.sealed.is_none()));
        assert_eq!(s.keys.last().unwrap().kid, "k9", "the signer stays");
        assert!(
            s.keys.last().unwrap().sealed.is_some(),
            "with its private key"
        );
        assert!(!s.prune(later), "nothing left to prune");
    }

    #[test]
    fn the_schedule_round_trips_through_json() {
        let mut s = KeySchedule::first(record("a"), at(0));
        s.rotate(record("b"), at(20), &policy()).unwrap();
        let text = serde_json::to_string(&s).unwrap();
        let back: KeySchedule = serde_json::from_str(&text).unwrap();
        assert_eq!(back.version, 2);
        assert_eq!(states(&back, at(31)), states(&s, at(31)));
    }
}
