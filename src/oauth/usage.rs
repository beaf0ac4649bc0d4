//! Recording when secrets are used, off the response path and throttled: each process
//! writes a given secret's last-use time at most once per `usage.write_interval_secs`,
//! so `last_used_time` / `lastSeenTime` may lag by up to that interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::{ClientId, SecretId, Timestamp};
use crate::store::Store;

/// Entries beyond this many are pruned of those older than the interval.
const PRUNE_ABOVE: usize = 100_000;

#[derive(Clone)]
pub struct UsageRecorder {
    store: Store,
    interval: Duration,
    /// When this process last wrote each secret's use. A std Mutex: held for a map lookup,
    /// never across an `.await`.
    last_written: Arc<Mutex<HashMap<SecretId, Instant>>>,
}

impl UsageRecorder {
    pub fn new(store: Store, interval: Duration) -> Self {
        Self {
            store,
            interval,
            last_written: Arc::default(),
        }
    }

    /// Notes a successful authentication; writes it in the background when due.
    pub fn record(&self, client: &ClientId, secret: &SecretId) {
        let now = Instant::now();
        {
            let mut last = self.last_written.lock().unwrap_or_else(|p| p.into_inner());
            if last
                .get(secret)
                .is_some_and(|at| now.duration_since(*at) < self.interval)
            {
                return;
            }
            if last.len() >= PRUNE_ABOVE {
                let interval = self.interval;
                last.retain(|_, at| now.duration_since(*at) < interval);
            }
            last.insert(secret.clone(), now);
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
