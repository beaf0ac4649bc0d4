//! Brute-force protection for client authentication.
//!
//! Failed authentications are counted in the store over a sliding window, per (client id,
//! source address) and per source address. Past either limit a request is refused before
//! any argon2 work. Counting per pair means an attacker at one address cannot lock the real
//! client out at another; the per-address count stops one address from spraying many ids.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::{BruteForceSettings, ProxyRange};
use crate::domain::{ClientId, Timestamp};
use crate::store::{Store, StoreError};

#[derive(Clone)]
pub struct Guard {
    store: Store,
    window: Duration,
    per_client_address: u64,
    per_address: u64,
}

/// The failure counters one request is judged by.
pub struct Attempt {
    pair_key: String,
    address_key: String,
    /// Whether the pair had failures, so that a success needs to clear them.
    pair_failed_before: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Refused; the oldest counted failure leaves the window after this many seconds.
    Blocked {
        retry_after_secs: u64,
    },
}

impl Guard {
    pub fn new(store: Store, settings: &BruteForceSettings) -> Self {
        Self {
            store,
            window: Duration::from_secs(settings.window_secs),
            per_client_address: settings.max_per_client_address,
            per_address: settings.max_per_address,
        }
    }

    fn window_ms(&self) -> u64 {
        u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether a request for `client_id` from `address` may try to authenticate.
    pub async fn check(
        &self,
        client_id: Option<&ClientId>,
        address: IpAddr,
    ) -> Result<(Attempt, Verdict), StoreError> {
        let names = self.store.names();
        let [pair_key, address_key] = names.failures(client_id, address);
        let now = Timestamp::now().as_millis();
        let [(pair, pair_oldest), (by_address, address_oldest)] = self
            .store
            .recent_failures([&pair_key, &address_key], now, self.window_ms())
            .await?;
        let retry_after = |oldest: Option<u64>| {
            let leaves_at = oldest.unwrap_or(now) + self.window_ms();
            leaves_at.saturating_sub(now).div_ceil(1000).max(1)
        };
        let verdict = if pair >= self.per_client_address {
            Verdict::Blocked {
                retry_after_secs: retry_after(pair_oldest),
            }
        } else if by_address >= self.per_address {
            Verdict::Blocked {
                retry_after_secs: retry_after(address_oldest),
            }
        } else {
            Verdict::Allowed
        };
        let attempt = Attempt {
            pair_key,
            address_key,
            pair_failed_before: pair > 0,
        };
        Ok((attempt, verdict))
    }

    pub async fn failed(&self, attempt: &Attempt) -> Result<(), StoreError> {
        let keys = [attempt.pair_key.as_str(), attempt.address_key.as_str()];
        self.store
            .record_failure(keys, Timestamp::now().as_millis(), self.window_ms())
            .await
    }

    /// A success forgets the pair's failures (the address's stay counted).
    pub async fn succeeded(&self, attempt: &Attempt) -> Result<(), StoreError> {
        if attempt.pair_failed_before {
            self.store.clear_failures(&attempt.pair_key).await?;
        }
        Ok(())
    }
}

/// The address a request comes from: the peer, or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn source_address(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[ProxyRange]) -> IpAddr {
    let trusted_hop = |address: &IpAddr| trusted.iter().any(|range| range.contains(address));
    if !trusted_hop(&peer) {
        return peer;
    }
    let Some(header) = forwarded_for else {
        return peer;
    };
    let mut source = peer;
    for hop in header.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(address) if trusted_hop(&address) => source = address,
            Ok(address) => return address,
            // A malformed entry ends what can be believed.
            Err(_) => return source,
        }
    }
    source
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy = ip("10.0.0.1");
        let trusted: Vec<ProxyRange> =
            vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()];
        assert_eq!(
            source_address(ip("192.0.2.9"), Some("203.0.113.5"), &trusted),
            ip("192.0.2.9")
        );
        assert_eq!(
            source_address(proxy, Some("203.0.113.5"), &trusted),
            ip("203.0.113.5")
        );
        assert_eq!(
            source_address(proxy, Some("198.51.100.1, 203.0.113.5, 10.0.0.2"), &trusted),
            ip("203.0.113.5")
        );
        assert_eq!(source_address(proxy, None, &trusted), proxy);
        assert_eq!(
            source_address(proxy, Some("junk, 10.0.0.2"), &trusted),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn trusted_proxies_may_be_cidr_ranges() {
        let trusted: Vec<ProxyRange> =
            vec!["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()];
        assert_eq!(
            source_address(ip("10.20.30.40"), Some("203.0.113.5, 10.1.1.1"), &trusted),
            ip("203.0.113.5")
        );
        assert_eq!(
            source_address(ip("fd12::1"), Some("2001:db8::7"), &trusted),
            ip("2001:db8::7")
        );
        assert_eq!(
            source_address(ip("11.0.0.1"), Some("203.0.113.5"), &trusted),
            ip("11.0.0.1"),
            "outside the range"
        );
        for bad in ["10.0.0.0/33", "proxy.example.com", "10.0.0"] {
            let error = bad.parse::<ProxyRange>().unwrap_err();
            assert!(error.contains(bad), "{error}");
        }
    }
}
