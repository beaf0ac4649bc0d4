//! Recording when secrets are used, off the response path and throttled: each process
//! writes a given secret's last-use time at most once per `usage.write_interval_secs`,
//! so `last_used_time` / `lastSeenTime` may lag by up to that interval.
//!
//! When a secret's use was last written is kept in its [`LastWrite`] slot, part of its
//! client's entry in the token-endpoint cache ([`super::prepared`]): a client evicted from
//! that cache costs at most one extra write.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::domain::{ClientId, SecretId, Timestamp};
use crate::store::Store;

/// When this process last wrote a secret's use.
#[derive(Default)]
pub struct LastWrite(Mutex<Option<Instant>>);

impl LastWrite {
    /// A new slot that remembers what this one does (the same secret, a newer document).
    pub fn carried(&self) -> Self {
        Self(Mutex::new(*self.0.lock()))
    }

    /// Whether a write is due now; if so, it counts as made.
    fn take_due(&self, interval: Duration) -> bool {
        let mut last = self.0.lock();
        if last.is_some_and(|at| at.elapsed() < interval) {
            return false;
        }
        *last = Some(Instant::now());
        true
    }
}

pub struct UsageRecorder {
    store: Store,
    interval: Duration,
}

impl UsageRecorder {
    pub fn new(store: Store, interval: Duration) -> Self {
        Self { store, interval }
    }

    /// Notes a successful authentication with `secret` (whose slot is `slot`); writes it in
    /// the background when due.
    pub fn record(&self, client: &ClientId, secret: &SecretId, slot: &LastWrite) {
        if !slot.take_due(self.interval) {
            return;
        }
        let store = self.store.clone();
        let (client, secret) = (client.clone(), secret.clone());
        tokio::spawn(async move {
            if let Err(e) = store.record_use(&client, &secret, Timestamp::now()).await {
                tracing::warn!(client_id = %client, error = %e, "could not record a secret's use");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_is_due_once_per_interval_and_carried_slots_remember_it() {
        let slot = LastWrite::default();
        assert!(
            slot.take_due(Duration::from_millis(30)),
            "the first use is written"
        );
        assert!(!slot.take_due(Duration::from_millis(30)));
        assert!(!slot.carried().take_due(Duration::from_millis(30)));
        std::thread::sleep(Duration::from_millis(40));
        assert!(
            slot.take_due(Duration::from_millis(30)),
            "due again after the interval"
        );
    }
}
