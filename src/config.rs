//! Typed settings. Defaults live in `config/default.toml` (compiled in); a file named by
//! `TOKENMINT_CONFIG` overrides them; `TOKENMINT_<SECTION>__<KEY>` variables override both.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};

use crate::domain::ExpiryBounds;

const DEFAULTS: &str = include_str!("../config/default.toml");
const ENV_PREFIX: &str = "TOKENMINT_";

#[derive(Clone, Debug, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub redis: RedisSettings,
    pub keys: KeySettings,
    pub tokens: TokenSettings,
    pub admin: AdminSettings,
    pub secrets: SecretSettings,
    pub argon2: Argon2Settings,
    pub bruteforce: BruteForceSettings,
    pub usage: UsageSettings,
    pub log: LogSettings,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    pub bind: String,
    pub issuer: String,
    pub workers: usize,
    pub admin_body_limit: usize,
    pub token_body_limit: usize,
    pub request_timeout_ms: u64,
    pub keep_alive_secs: u64,
    pub max_connections: usize,
    pub max_header_bytes: usize,
    pub trusted_proxies: Vec<ProxyRange>,
    pub tls: TlsSettings,
}

/// A proxy address (`10.0.0.1`) or range of them (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyRange(IpNet);

impl ProxyRange {
    pub fn contains(&self, address: &IpAddr) -> bool {
        self.0.contains(address)
    }
}

impl FromStr for ProxyRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<IpNet>()
            .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
            .map(Self)
            .map_err(|_| format!("{text:?} is not an IP address or CIDR range (like 10.0.0.0/8)"))
    }
}

impl fmt::Display for ProxyRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for ProxyRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct TlsSettings {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RedisSettings {
    pub url: String,
    pub key_prefix: String,
    pub timeout_ms: u64,
    pub client_cache_entries: usize,
    /// `url` is a comma-separated list of Redis Cluster nodes.
    pub cluster: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct KeySettings {
    pub dir: PathBuf,
    pub active: String,
    pub jwks_max_age: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TokenSettings {
    pub typ: String,
    pub default_expiry: u32,
    pub min_expiry: u32,
    pub max_expiry: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AdminSettings {
    pub scope: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct SecretSettings {
    pub prefix: String,
    pub max_per_client: usize,
    pub verified_cache_secs: u64,
    pub verified_cache_entries: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub max_concurrent: usize,
    pub max_queue: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct BruteForceSettings {
    pub window_secs: u64,
    pub max_per_client_address: u64,
    pub max_per_address: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct UsageSettings {
    pub write_interval_secs: u64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    pub level: String,
    pub format: String,
}

/// Settings plus a fact about where they came from that `serve --dev` needs.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub settings: Settings,
    /// Whether `redis.url` was set by the operator rather than left at its default.
    pub redis_url_explicit: bool,
}

fn overrides() -> Figment {
    let mut figment = Figment::new();
    if let Ok(path) = std::env::var("TOKENMINT_CONFIG") {
        figment = figment.merge(Toml::file_exact(path));
    }
    figment.merge(Env::prefixed(ENV_PREFIX).split("__").ignore(&["config"]))
}

/// Loads the layered configuration and checks it.
pub fn load() -> Result<Loaded, Box<figment::Error>> {
    let overrides = overrides();
    let redis_url_explicit = overrides.find_value("redis.url").is_ok();
    let settings: Settings = Figment::from(Toml::string(DEFAULTS))
        .merge(overrides)
        .extract()?;
    settings
        .validate()
        .map_err(|e| Box::new(figment::Error::from(e)))?;
    Ok(Loaded {
        settings,
        redis_url_explicit,
    })
}

impl Settings {
    /// The compiled-in defaults alone, for tests and tools.
    pub fn defaults() -> Self {
        Figment::from(Toml::string(DEFAULTS))
            .extract()
            .expect("config/default.toml is valid")
    }

    pub fn expiry_bounds(&self) -> ExpiryBounds {
        ExpiryBounds {
            min: self.tokens.min_expiry,
            max: self.tokens.max_expiry,
            default: self.tokens.default_expiry,
        }
    }

    fn validate(&self) -> Result<(), String> {
        let t = &self.tokens;
        if !(t.min_expiry <= t.default_expiry && t.default_expiry <= t.max_expiry)
            || t.min_expiry == 0
        {
            return Err("tokens: need 0 < min_expiry <= default_expiry <= max_expiry".into());
        }
        if self.admin.scope.is_empty()
            || crate::domain::fields::scope_token(&self.admin.scope).is_err()
        {
            return Err("admin.scope must be a valid scope token".into());
        }
        let b = &self.bruteforce;
        if b.window_secs == 0 || b.max_per_client_address == 0 || b.max_per_address == 0 {
            return Err("bruteforce: window_secs and both limits must be at least 1".into());
        }
        if self.secrets.max_per_client == 0 {
            return Err("secrets.max_per_client must be at least 1".into());
        }
        if self.redis.key_prefix.is_empty() || self.redis.key_prefix.contains(['{', '}']) {
            return Err("redis.key_prefix must be non-empty and must not contain braces".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_defaults_match_the_contract() {
        let s = Settings::defaults();
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(s.redis.url, "redis://127.0.0.1:6379");
        assert_eq!(s.redis.key_prefix, "tokenmint");
        assert_eq!(s.admin.scope, "tokenmint:admin");
        assert_eq!(s.secrets.prefix, "tm_");
        assert_eq!(
            (
                s.argon2.memory_kib,
                s.argon2.iterations,
                s.argon2.parallelism
            ),
            (19456, 2, 1)
        );
        assert!(s.validate().is_ok());
    }

    #[test]
    // Jail's closure must return figment's (large) error type.
    #[allow(clippy::result_large_err)]
    fn a_config_file_and_env_vars_override_the_defaults_in_that_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "over.toml",
                "[server]\nbind = \"0.0.0.0:9000\"\n[redis]\nkey_prefix = \"fromfile\"\n",
            )?;
            jail.set_env("TOKENMINT_CONFIG", "over.toml");
            jail.set_env("TOKENMINT_REDIS__KEY_PREFIX", "fromenv");
            jail.set_env("TOKENMINT_ADMIN__SCOPE", "ops:admin");
            let loaded = load().map_err(|e| e.to_string())?;
            assert_eq!(
                loaded.settings.server.bind, "0.0.0.0:9000",
                "file over default"
            );
            assert_eq!(loaded.settings.redis.key_prefix, "fromenv", "env over file");
            assert_eq!(loaded.settings.admin.scope, "ops:admin");
            assert_eq!(
                loaded.settings.keys.dir,
                std::path::PathBuf::from("keys"),
                "untouched default"
            );
            assert!(!loaded.redis_url_explicit);
            jail.set_env("TOKENMINT_REDIS__URL", "redis://127.0.0.1:7000");
            let loaded = load().map_err(|e| e.to_string())?;
            assert!(loaded.redis_url_explicit);
            assert_eq!(loaded.settings.redis.url, "redis://127.0.0.1:7000");
            jail.set_env(
                "TOKENMINT_SERVER__TRUSTED_PROXIES",
                r#"["10.0.0.0/8", "192.0.2.7"]"#,
            );
            let loaded = load().map_err(|e| e.to_string())?;
            let proxies = &loaded.settings.server.trusted_proxies;
            assert!(proxies[0].contains(&"10.9.8.7".parse().unwrap()));
            assert!(proxies[1].contains(&"192.0.2.7".parse().unwrap()));
            jail.set_env("TOKENMINT_SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/33"]"#);
            let refused = load().expect_err("a bad range is refused").to_string();
            assert!(refused.contains("10.0.0.0/33"), "{refused}");
            jail.set_env("TOKENMINT_SERVER__TRUSTED_PROXIES", "[]");
            jail.set_env("TOKENMINT_TOKENS__MIN_EXPIRY", "0");
            assert!(load().is_err(), "invalid settings are refused");
            Ok(())
        });
    }
}
