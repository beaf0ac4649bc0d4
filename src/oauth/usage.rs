//! Recording when secrets are used, off the response path and throttled: each process
//! writes a given secret's last-use time at most once per `usage.write_interval_secs`,
//! so `last_used_time` / `lastSeenTime` may lag by up to that interval.

use std::time::Duration;

use crate::domain::{ClientId, SecretId, Timestamp};
use crate::store::Store;

/// Secrets whose last write this process remembers (an entry is a few dozen bytes).
const REMEMBERED: u64 = 1_000_000;

#[derive(Clone)]
pub struct UsageRecorder {
    store: Store,
    /// The secrets this process wrote a use of within the last interval (each entry lives
    /// one interval).
    written: moka::sync::Cache<SecretId, ()>,
}

impl UsageRecorder {
    pub fn new(store: Store, interval: Duration) -> Self {
        Self {
            store,
            written: moka::sync::Cache::builder()
                .max_capacity(REMEMBERED)
                .time_to_live(interval)
                .build(),
        }
    }

    /// Notes a successful authentication; writes it in the background when due.
    pub fn record(&self, client: &ClientId, secret: &SecretId) {
        if self.written.contains_key(secret) {
            return;
        }
        self.written.insert(secret.clone(), ());
        let store = self.store.clone();
        let (client, secret) = (client.clone(), secret.clone());
        tokio::spawn(async move {
            if let Err(e) = store.record_use(&client, &secret, Timestamp::now()).await {
                tracing::warn!(client_id = %client, error = %e, "could not record a secret's use");
            }
        });
    }
}
