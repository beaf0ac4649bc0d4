//! Brute-force protection for client authentication.
//!
//! Failed authentications are counted in the store over a sliding window, per (client id,
//! source address) and per source address. Counting per pair means an attacker at one
//! address cannot lock the real client out at another; the per-address count stops one
//! address from spraying many ids.
//!
//! The limits hold under any concurrency: before argon2 runs, a request takes a place in
//! both windows atomically ([`Guard::reserve`]); a failure keeps the places, a success
//! (or a request that ends without a verdict) gives them back. So at most `limit` wrong
//! guesses per window ever get an argon2 verdict, however many arrive at once. The cheap
//! pre-check ([`Guard::check`], read through the client-side cache) turns requests away
//! once a window is full without any round trip.

use std::net::{IpAddr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use crate::config::{BruteForceSettings, ProxyRange};
use crate::domain::{ClientId, Timestamp};
use crate::store::{FailureWindows, Store, StoreError, Window, WindowSlot};

#[derive(Clone)]
pub struct Guard {
    store: Store,
    window: Duration,
    per_client_address: u64,
    per_address: u64,
}

/// The failure windows one request is judged by, and the places it holds in them.
pub struct Attempt {
    windows: FailureWindows,
    /// Whether the pair had failures, so that a success needs to clear them.
    pair_failed_before: bool,
    /// The member this request holds in both windows, once it has reserved.
    reserved: OnceLock<String>,
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
            window: settings.window,
            per_client_address: settings.max_per_client_address.get(),
            per_address: settings.max_per_address.get(),
        }
    }

    fn window_ms(&self) -> u64 {
        u64::try_from(self.window.as_millis()).unwrap_or(u64::MAX)
    }

    fn blocked(&self, oldest: Option<u64>, now: u64) -> Verdict {
        let leaves_at = oldest.unwrap_or(now) + self.window_ms();
        Verdict::Blocked {
            retry_after_secs: leaves_at.saturating_sub(now).div_ceil(1000).max(1),
        }
    }

    /// Whether a request for `client_id` from `address` may try to authenticate, judged
    /// by the counts as last seen (no round trip while they are unchanged). Only a
    /// pre-check: [`Self::reserve`] decides, atomically, before any argon2 work.
    pub async fn check(
        &self,
        client_id: Option<&ClientId>,
        address: IpAddr,
    ) -> Result<(Attempt, Verdict), StoreError> {
        let windows = self.store.failure_windows(client_id, address);
        let now = Timestamp::now().as_millis();
        let [(pair, pair_oldest), (by_address, address_oldest)] = self
            .store
            .recent_failures(&windows, now, self.window_ms())
            .await?;
        let verdict = if pair >= self.per_client_address {
            self.blocked(pair_oldest, now)
        } else if by_address >= self.per_address {
            self.blocked(address_oldest, now)
        } else {
            Verdict::Allowed
        };
        let attempt = Attempt {
            windows,
            pair_failed_before: pair > 0,
            reserved: OnceLock::new(),
        };
        Ok((attempt, verdict))
    }

    /// Takes this attempt's place in both windows, or refuses it when either is full.
    /// Idempotent: an attempt reserves once however many argon2 runs it needs.
    pub async fn reserve(&self, attempt: &Attempt) -> Result<Verdict, StoreError> {
        if attempt.reserved.get().is_some() {
            return Ok(Verdict::Allowed);
        }
        let now = Timestamp::now().as_millis();
        let member = format!("{now}-{:016x}", rand::random::<u64>());
        let window = self.window_ms();
        let reserve = |which, limit| {
            self.store
                .reserve_failure(&attempt.windows, which, &member, now, window, limit)
        };
        if let WindowSlot::Full { oldest_ms } =
            reserve(Window::ClientAtAddress, self.per_client_address).await?
        {
            return Ok(self.blocked(Some(oldest_ms), now));
        }
        let by_address = reserve(Window::Address, self.per_address).await;
        if !matches!(by_address, Ok(WindowSlot::Taken)) {
            // Give the pair's place back: this attempt gets no verdict.
            self.release(attempt, Window::ClientAtAddress, &member)
                .await;
        }
        if let WindowSlot::Full { oldest_ms } = by_address? {
            return Ok(self.blocked(Some(oldest_ms), now));
        }
        let _ = attempt.reserved.set(member);
        Ok(Verdict::Allowed)
    }

    async fn release(&self, attempt: &Attempt, which: Window, member: &str) {
        if let Err(e) = self
            .store
            .release_failure(&attempt.windows, which, member)
            .await
        {
            // The place then counts as a failure until it leaves the window.
            tracing::warn!(error = %e, "could not give back a brute-force reservation");
        }
    }

    /// The attempt failed to authenticate: it counts. One that reserved keeps its places;
    /// one that did not (it shared another request's argon2 verdict, or needed no argon2)
    /// takes them now, and is refused if that finds a window full.
    pub async fn failed(&self, attempt: &Attempt) -> Result<Verdict, StoreError> {
        self.reserve(attempt).await
    }

    /// A success forgets the pair's failures; the address's stay counted, but not this
    /// attempt's own place.
    pub async fn succeeded(&self, attempt: &Attempt) -> Result<(), StoreError> {
        if attempt.pair_failed_before || attempt.reserved.get().is_some() {
            self.store
                .clear_failures(&attempt.windows, Window::ClientAtAddress)
                .await?;
        }
        if let Some(member) = attempt.reserved.get() {
            self.store
                .release_failure(&attempt.windows, Window::Address, member)
                .await?;
        }
        Ok(())
    }

    /// The attempt ended without a verdict (argon2 queue full, store or signing error):
    /// its places are given back.
    pub async fn abandoned(&self, attempt: &Attempt) {
        if let Some(member) = attempt.reserved.get() {
            self.release(attempt, Window::ClientAtAddress, member).await;
            self.release(attempt, Window::Address, member).await;
        }
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
        match forwarded_address(hop.trim()) {
            Some(address) if trusted_hop(&address) => source = address,
            Some(address) => return address,
            // A malformed entry ends what can be believed.
            None => return source,
        }
    }
    source
}

/// One `X-Forwarded-For` entry: `203.0.113.5`, `2001:db8::1`, or with a port as some
/// proxies write it, `203.0.113.5:4711` or `[2001:db8::1]:4711`.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(|address| address.to_canonical())
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
            source_address(proxy, Some("203.0.113.5:4711"), &trusted),
            ip("203.0.113.5"),
            "ip:port"
        );
        assert_eq!(
            source_address(proxy, Some("[2001:db8::7]:443, 10.0.0.2:80"), &trusted),
            ip("2001:db8::7"),
            "[v6]:port behind a trusted ip:port"
        );
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
