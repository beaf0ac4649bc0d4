//! Public keys fetched from elsewhere: a `private_key_jwt` client's `jwks_uri`, and a
//! federated issuer's JWKS (found through its OIDC discovery document). Only URLs that an
//! admin configured are fetched (and the `jwks_uri` that issuer's own metadata names),
//! never one a presented token names.
//!
//! Every fetch has a time limit and a size limit (`assertions.fetch_timeout_ms`,
//! `assertions.max_jwks_bytes`), follows no redirects, and is kept for
//! `assertions.keys_cache_secs`; a `kid` not in the kept set fetches again at most once per
//! `assertions.refresh_min_secs` (so a flood of tokens with made-up kids costs one fetch),
//! and a failed fetch is remembered as long. Concurrent requests for one URL share one
//! fetch. So a warm assertion request makes no network call.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use parking_lot::Mutex;

use crate::config::AssertionSettings;

/// Why keys could not be had; logged, never shown to the caller (who gets
/// `invalid_client`).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {why}")]
    Failed { url: String, why: String },
    #[error("{0}: a fetch failed moments ago; not tried again yet")]
    Backoff(String),
}

#[derive(Clone)]
enum Fetched {
    Keys(Arc<JwkSet>),
    /// A discovery document's `jwks_uri`.
    Metadata(String),
    Failed(String),
}

struct Entry {
    fetched: Fetched,
    at: Instant,
}

/// One URL's cache slot: the last fetch, behind a lock that one fetch holds at a time.
type Slot = Arc<tokio::sync::Mutex<Option<Entry>>>;

pub struct RemoteKeys {
    http: reqwest::Client,
    max_bytes: usize,
    lifetime: Duration,
    refresh_min: Duration,
    slots: Mutex<HashMap<String, Slot>>,
    allow_http_loopback: bool,
}

/// Most URLs kept at once (each one an admin configured); past it the cache starts over.
const MAX_SLOTS: usize = 10_000;

impl RemoteKeys {
    pub fn new(settings: &AssertionSettings) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.fetch_timeout)
            .connect_timeout(settings.fetch_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client with default TLS builds");
        Self {
            http,
            max_bytes: settings.max_jwks_bytes,
            lifetime: settings.keys_cache,
            refresh_min: settings.refresh_min,
            slots: Mutex::new(HashMap::new()),
            allow_http_loopback: settings.allow_http_loopback,
        }
    }

    /// GETs `url` as JSON, within the size limit.
    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        if url.starts_with("http://") && !self.allow_http_loopback {
            return Err("plain http is off (assertions.allow_http_loopback)".into());
        }
        let mut response = self
            .http
            .get(url)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| {
                if e.is_timeout() {
                    "timed out".to_owned()
                } else {
                    "unreachable".to_owned()
                }
            })?;
        if !response.status().is_success() {
            return Err(format!("answered {}", response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(format!("larger than {} bytes", self.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| {
            if e.is_timeout() {
                "timed out".to_owned()
            } else {
                "the body broke off".to_owned()
            }
        })? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(format!("larger than {} bytes", self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body).map_err(|_| "not JSON".to_owned())
    }

    fn slot(&self, url: &str) -> Slot {
        let mut slots = self.slots.lock();
        if slots.len() >= MAX_SLOTS && !slots.contains_key(url) {
            slots.clear();
        }
        Arc::clone(slots.entry(url.to_owned()).or_default())
    }

    /// What `url` gave last, or a new fetch when `stale` says the kept answer will not do
    /// (a failure is kept, and not retried, for the refresh minimum).
    async fn cached(
        &self,
        url: &str,
        stale: impl Fn(&Fetched, Duration) -> bool,
        parse: impl FnOnce(serde_json::Value) -> Result<Fetched, String>,
    ) -> Result<Fetched, FetchError> {
        let slot = self.slot(url);
        let mut entry = slot.lock().await;
        if let Some(kept) = entry.as_ref() {
            let age = kept.at.elapsed();
            match &kept.fetched {
                Fetched::Failed(_) if age < self.refresh_min => {
                    return Err(FetchError::Backoff(url.to_owned()));
                }
                Fetched::Failed(_) => {}
                fetched if age < self.lifetime && !stale(fetched, age) => {
                    return Ok(fetched.clone());
                }
                _ => {}
            }
        }
        let fetched = match self.get_json(url).await.and_then(parse) {
            Ok(fetched) => fetched,
            Err(why) => Fetched::Failed(why),
        };
        *entry = Some(Entry {
            fetched: fetched.clone(),
            at: Instant::now(),
        });
        match fetched {
            Fetched::Failed(why) => Err(FetchError::Failed {
                url: url.to_owned(),
                why,
            }),
            fetched => Ok(fetched),
        }
    }

    /// The JWK Set at `url`: kept, or fetched when none is kept, the kept one is older
    /// than the cache lifetime, or `kid` is not in it and the last fetch is older than the
    /// refresh minimum.
    pub async fn jwks(&self, url: &str, kid: Option<&str>) -> Result<Arc<JwkSet>, FetchError> {
        let refresh_min = self.refresh_min;
        let stale = |fetched: &Fetched, age: Duration| match fetched {
            Fetched::Keys(keys) => {
                kid.is_some_and(|kid| keys.find(kid).is_none()) && age >= refresh_min
            }
            _ => true,
        };
        let parse = |json| {
            serde_json::from_value::<JwkSet>(json)
                .map(|keys| Fetched::Keys(Arc::new(keys)))
                .map_err(|_| "not a JWK Set".to_owned())
        };
        match self.cached(url, stale, parse).await? {
            Fetched::Keys(keys) => Ok(keys),
            _ => Err(FetchError::Failed {
                url: url.to_owned(),
                why: "not a JWK Set".into(),
            }),
        }
    }

    /// The JWKS of the OIDC issuer `issuer`: its discovery document's `jwks_uri` (which
    /// must be https, or loopback http), then that.
    pub async fn issuer_jwks(
        &self,
        issuer: &str,
        kid: Option<&str>,
    ) -> Result<Arc<JwkSet>, FetchError> {
        let url = format!("{issuer}/.well-known/openid-configuration");
        let parse = |metadata: serde_json::Value| {
            if metadata.get("issuer").and_then(|v| v.as_str()) != Some(issuer) {
                return Err("names another issuer".to_owned());
            }
            let uri = metadata
                .get("jwks_uri")
                .and_then(|v| v.as_str())
                .ok_or("has no jwks_uri")?;
            crate::domain::proof::fetch_url(&serde_json::Value::from(uri), "jwks_uri")
                .map_err(|_| "names a jwks_uri that is not https".to_owned())?;
            Ok(Fetched::Metadata(uri.to_owned()))
        };
        let jwks_uri = match self.cached(&url, |_, _| false, parse).await? {
            Fetched::Metadata(uri) => uri,
            _ => {
                return Err(FetchError::Failed {
                    url,
                    why: "not a discovery document".into(),
                });
            }
        };
        self.jwks(&jwks_uri, kid).await
    }
}
