//! Typed settings. Defaults live in `config/default.toml` (compiled in); a file named by
//! `TOKENMINT_CONFIG` overrides them; `TOKENMINT_<SECTION>__<KEY>` variables override both.

use std::fmt;
use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::value::{Dict, Value};
use figment::{Figment, Profile, Provider};
use ipnet::IpNet;
use serde::{Deserialize, Deserializer};
use tracing_subscriber::EnvFilter;

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
    pub metrics: MetricsSettings,
    pub audit: AuditSettings,
    pub introspection: IntrospectionSettings,
    pub revocation: RevocationSettings,
    pub assertions: AssertionSettings,
    pub log: LogSettings,
}

/// Client assertions (`private_key_jwt`) and federated credentials.
#[derive(Clone, Debug, Deserialize)]
pub struct AssertionSettings {
    /// The longest an assertion may live (its `exp` after now).
    #[serde(rename = "max_lifetime_secs", deserialize_with = "secs")]
    pub max_lifetime: Duration,
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    #[serde(rename = "leeway_secs", deserialize_with = "secs")]
    pub leeway: Duration,
    #[serde(rename = "fetch_timeout_ms", deserialize_with = "millis")]
    pub fetch_timeout: Duration,
    pub max_jwks_bytes: usize,
    #[serde(rename = "keys_cache_secs", deserialize_with = "secs")]
    pub keys_cache: Duration,
    #[serde(rename = "refresh_min_secs", deserialize_with = "secs")]
    pub refresh_min: Duration,
    /// Whether a `jwksUri` or federated issuer may be `http://` to a loopback address.
    pub allow_http_loopback: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ServerSettings {
    pub bind: String,
    pub issuer: String,
    pub workers: Threads,
    pub admin_body_limit: usize,
    pub token_body_limit: usize,
    #[serde(rename = "request_timeout_ms", deserialize_with = "millis")]
    pub request_timeout: Duration,
    #[serde(rename = "keep_alive_secs", deserialize_with = "secs")]
    pub keep_alive: Duration,
    pub max_connections: NonZeroUsize,
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
    #[serde(rename = "timeout_ms", deserialize_with = "millis")]
    pub timeout: Duration,
    pub client_cache_entries: usize,
    /// `url` is a comma-separated list of Redis Cluster nodes.
    pub cluster: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct KeySettings {
    /// Where the signing keys come from.
    pub source: KeySource,
    pub dir: PathBuf,
    pub active: String,
    pub jwks_max_age: u32,
    /// How often the keys folder (or the key store) is looked at for changes (0: only on
    /// SIGHUP).
    #[serde(rename = "watch_secs", deserialize_with = "secs")]
    pub watch: Duration,
    /// The key-encryption key's file (key store); empty: `TOKENMINT_KEK`.
    pub kek_file: PathBuf,
    /// The algorithm of keys the key store makes.
    pub alg: crate::crypto::Alg,
    #[serde(rename = "publish_ahead_secs", deserialize_with = "secs")]
    pub publish_ahead: Duration,
    #[serde(rename = "retire_margin_secs", deserialize_with = "secs")]
    pub retire_margin: Duration,
    /// Zero: no automatic rotation.
    #[serde(rename = "rotate_every_secs", deserialize_with = "secs")]
    pub rotate_every: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySource {
    /// PEM files in `keys.dir`.
    Folder,
    /// The key store in Redis, private keys sealed under the KEK.
    Redis,
}

impl KeySettings {
    /// The times the key store plans rotations with.
    pub fn policy(&self, tokens: &TokenSettings) -> crate::crypto::schedule::Policy {
        crate::crypto::schedule::Policy {
            publish_ahead: self.publish_ahead,
            longest_token: Duration::from_secs(u64::from(tokens.max_expiry)),
            retire_margin: self.retire_margin,
            rotate_every: (!self.rotate_every.is_zero()).then_some(self.rotate_every),
        }
    }
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
    pub max_per_client: NonZeroUsize,
    #[serde(rename = "verified_cache_secs", deserialize_with = "secs")]
    pub verified_cache_lifetime: Duration,
    pub verified_cache_entries: NonZeroU64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: NonZeroU32,
    pub parallelism: NonZeroU32,
    pub max_concurrent: Threads,
    pub max_queue: usize,
}

/// A number of threads; 0 in the settings means one per CPU core.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threads(Option<NonZeroUsize>);

impl Threads {
    pub const PER_CORE: Self = Self(None);

    pub fn fixed(n: NonZeroUsize) -> Self {
        Self(Some(n))
    }

    /// How many threads this is on this machine.
    pub fn resolve(self) -> NonZeroUsize {
        self.0
            .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
    }

    /// The number as written in the settings (0: one per core).
    fn written(self) -> usize {
        self.0.map_or(0, NonZeroUsize::get)
    }
}

impl<'de> Deserialize<'de> for Threads {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self(NonZeroUsize::new(usize::deserialize(deserializer)?)))
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct BruteForceSettings {
    #[serde(rename = "window_secs", deserialize_with = "secs")]
    pub window: Duration,
    pub max_per_client_address: NonZeroU64,
    pub max_per_address: NonZeroU64,
}

#[derive(Clone, Debug, Deserialize)]
pub struct MetricsSettings {
    pub enabled: bool,
    pub max_client_labels: usize,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IntrospectionSettings {
    pub scope: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RevocationSettings {
    pub with_credential: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AuditSettings {
    pub stream_max_len: usize,
    pub failure_events_per_sec: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct UsageSettings {
    #[serde(rename = "write_interval_secs", deserialize_with = "secs")]
    pub write_interval: Duration,
}

#[derive(Clone, Debug, Deserialize)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// For people.
    Text,
    /// For log pipelines.
    Json,
}

/// Settings plus a fact about where they came from that `serve --dev` needs.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub settings: Settings,
    /// Whether `redis.url` was set by the operator rather than left at its default.
    pub redis_url_explicit: bool,
}

/// Variables Kubernetes sets in every pod for a Service named `tokenmint` (service links):
/// not settings, so not refused.
fn is_service_link(key: &str) -> bool {
    let key = key.to_ascii_uppercase();
    key == "SERVICE_HOST"
        || key.starts_with("SERVICE_PORT")
        || key == "PORT"
        || (key.starts_with("PORT_") && !key.contains("__"))
}

fn overrides(file: Option<&std::path::Path>) -> Figment {
    let mut figment = Figment::new();
    match file {
        Some(path) => figment = figment.merge(Toml::file_exact(path)),
        None => {
            if let Ok(path) = std::env::var("TOKENMINT_CONFIG") {
                figment = figment.merge(Toml::file_exact(path));
            }
        }
    }
    figment.merge(
        Env::prefixed(ENV_PREFIX)
            .split("__")
            // TOKENMINT_CONFIG names the file; the rest are the admin CLI's (`tokenmint
            // clients ...`), which a server's environment may hold too; TOKENMINT_KEK is
            // read by the key store itself (a secret, never part of the settings).
            .ignore(&[
                "config",
                "kek",
                "url",
                "admin_id",
                "admin_secret",
                "client_id",
                "client_secret",
                "ca_file",
            ])
            .filter(|key| !is_service_link(key.as_str())),
    )
}

/// Every setting's dotted path, from the compiled-in defaults (which list them all).
fn known_paths() -> Vec<String> {
    fn walk(prefix: &str, dict: &Dict, out: &mut Vec<String>) {
        for (key, value) in dict {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                Value::Dict(_, inner) => walk(&path, inner, out),
                _ => out.push(path),
            }
        }
    }
    let mut out = Vec::new();
    if let Ok(data) = Toml::string(DEFAULTS).data()
        && let Some(dict) = data.get(&Profile::Default)
    {
        walk("", dict, &mut out);
    }
    out
}

/// Every key the operator set (file or environment) that is not a setting, named with where
/// it came from and the nearest known setting: a typo must not silently leave a default.
fn unknown_keys(overrides: &Figment) -> Vec<String> {
    fn walk(prefix: &str, dict: &Dict, known: &[String], out: &mut Vec<String>) {
        for (key, value) in dict {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value {
                // A table is walked even when unknown, to name its keys in full.
                Value::Dict(_, inner) if !known.contains(&path) => walk(&path, inner, known, out),
                _ if known.contains(&path) => {}
                _ => out.push(path),
            }
        }
    }
    let known = known_paths();
    let mut unknown = Vec::new();
    if let Ok(data) = overrides.data() {
        for dict in data.values() {
            walk("", dict, &known, &mut unknown);
        }
    }
    unknown
        .into_iter()
        .map(|path| {
            let env_name =
                |path: &str| format!("{ENV_PREFIX}{}", path.replace('.', "__").to_uppercase());
            let source = match overrides
                .find_metadata(&path)
                .and_then(|m| m.source.as_ref())
            {
                Some(figment::Source::File(file)) => format!("in {}", file.display()),
                _ => format!("from the environment variable {}", env_name(&path)),
            };
            let nearest = known
                .iter()
                .min_by_key(|k| strsim::damerau_levenshtein(k, &path))
                .map(|k| format!("; did you mean {k} ({})?", env_name(k)))
                .unwrap_or_default();
            format!("unknown setting {path} {source}{nearest}")
        })
        .collect()
}

/// Loads the layered configuration and checks it.
pub fn load() -> Result<Loaded, ConfigError> {
    load_from(None)
}

/// [`load`], with the settings file named by `file` (the `--config` flag) instead of
/// `TOKENMINT_CONFIG`.
pub fn load_from(file: Option<&std::path::Path>) -> Result<Loaded, ConfigError> {
    if let Some(path) = file
        && !path.is_file()
    {
        return Err(ConfigError(format!(
            "--config {}: no such file",
            path.display()
        )));
    }
    let overrides = overrides(file);
    let unknown = unknown_keys(&overrides);
    if !unknown.is_empty() {
        return Err(ConfigError(unknown.join("\n")));
    }
    let redis_url_explicit = overrides.find_value("redis.url").is_ok();
    let settings: Settings = Figment::from(Toml::string(DEFAULTS))
        .merge(overrides)
        .extract()
        .map_err(|errors: figment::Error| {
            let named: Vec<String> = errors
                .into_iter()
                .map(|e| {
                    let setting = e.path.join(".").to_lowercase();
                    let source = match e.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                        Some(figment::Source::File(file)) => format!(" (in {})", file.display()),
                        _ if setting.is_empty() => String::new(),
                        _ => format!(
                            " (from {ENV_PREFIX}{})",
                            setting.replace('.', "__").to_uppercase()
                        ),
                    };
                    let setting = if setting.is_empty() {
                        "TOKENMINT_CONFIG".to_owned()
                    } else {
                        setting
                    };
                    format!("{setting}: {}{source}", e.kind.to_string().trim())
                })
                .collect();
            ConfigError(named.join("\n"))
        })?;
    settings
        .validate()
        .map_err(|errors| ConfigError(errors.join("\n")))?;
    Ok(Loaded {
        settings,
        redis_url_explicit,
    })
}

/// What is wrong with the configuration, each problem naming its setting.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// `setting` must lie in `range` (the message states it).
fn in_range<T: PartialOrd + fmt::Display>(
    errors: &mut Vec<String>,
    setting: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
) {
    if !range.contains(&value) {
        errors.push(format!(
            "{setting} must be from {} to {}{unit} (got {value})",
            range.start(),
            range.end()
        ));
    }
}

/// A `*_ms` setting: whole milliseconds in the file, a `Duration` in the code.
fn millis<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_millis)
}

/// A `*_secs` setting: whole seconds in the file, a `Duration` in the code.
fn secs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    u64::deserialize(deserializer).map(Duration::from_secs)
}

/// A count or duration as a `u64` for range checks (saturating: nothing here is that big).
fn wide<T: TryInto<u64>>(value: T) -> u64 {
    value.try_into().unwrap_or(u64::MAX)
}

/// The machine's memory in bytes, if it can be read.
fn machine_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Checks a log filter more strictly than `EnvFilter` does: EnvFilter takes a bare word it
/// does not know (`verbose`) as a target name and so logs nothing at all. Every directive
/// must be a level, or `target=level`.
pub fn check_log_filter(filter: &str) -> Result<(), String> {
    const LEVELS: &[&str] = &["off", "error", "warn", "info", "debug", "trace"];
    let is_level = |word: &str| LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word.trim()));
    let usage = "use a level (off, error, warn, info, debug, trace) or target=level, comma-separated, \
                 e.g. \"info\" or \"tokenmint=debug,info\"";
    if filter.trim().is_empty() {
        return Err(format!("is empty; {usage}"));
    }
    for directive in filter.split(',').map(str::trim) {
        let ok = match directive.rsplit_once('=') {
            Some((target, level)) => !target.trim().is_empty() && is_level(level),
            None => is_level(directive),
        };
        if !ok {
            return Err(format!("{directive:?} is not a log directive; {usage}"));
        }
    }
    EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|e| format!("is not a valid filter ({e}); {usage}"))
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

    /// Every problem with the settings, each naming its setting and the allowed values.
    fn validate(&self) -> Result<(), Vec<String>> {
        let mut errors = Vec::new();
        let e = &mut errors;
        let server = &self.server;
        let (redis, t, secrets, a, b) = (
            &self.redis,
            &self.tokens,
            &self.secrets,
            &self.argon2,
            &self.bruteforce,
        );
        // Every numeric setting and the range it must lie in (the message states it).
        #[rustfmt::skip]
        let ranges: &[(&str, u64, std::ops::RangeInclusive<u64>, &str)] = &[
            ("server.workers", wide(server.workers.written()), 0..=512, " (0: one per core)"),
            ("server.admin_body_limit", wide(server.admin_body_limit), 1024..=16 << 20, " bytes"),
            ("server.token_body_limit", wide(server.token_body_limit), 512..=1 << 20, " bytes"),
            ("server.request_timeout_ms", wide(server.request_timeout.as_millis()), 1..=600_000, " ms"),
            ("server.keep_alive_secs", wide(server.keep_alive.as_secs()), 1..=3600, " s"),
            ("server.max_connections", wide(server.max_connections.get()), 1..=1_000_000, ""),
            ("server.max_header_bytes", wide(server.max_header_bytes), 1024..=131_072, " bytes"),
            ("redis.timeout_ms", wide(redis.timeout.as_millis()), 1..=60_000, " ms"),
            ("redis.client_cache_entries", wide(redis.client_cache_entries), 0..=10_000_000, ""),
            ("keys.jwks_max_age", wide(self.keys.jwks_max_age), 0..=86_400, " s"),
            ("keys.watch_secs", wide(self.keys.watch.as_secs()), 0..=86_400, " s (0: only on SIGHUP)"),
            ("keys.publish_ahead_secs", wide(self.keys.publish_ahead.as_secs()), 0..=2_592_000, " s"),
            ("keys.retire_margin_secs", wide(self.keys.retire_margin.as_secs()), 0..=86_400, " s"),
            ("keys.rotate_every_secs", wide(self.keys.rotate_every.as_secs()), 0..=31_536_000, " s (0: off)"),
            ("tokens.min_expiry", wide(t.min_expiry), 1..=31_536_000, " s"),
            ("tokens.max_expiry", wide(t.max_expiry), 1..=31_536_000, " s"),
            ("secrets.max_per_client", wide(secrets.max_per_client.get()), 1..=100, ""),
            ("secrets.verified_cache_secs", wide(secrets.verified_cache_lifetime.as_secs()), 0..=86_400, " s"),
            ("secrets.verified_cache_entries", wide(secrets.verified_cache_entries.get()), 1..=10_000_000, ""),
            ("argon2.memory_kib", wide(a.memory_kib), u64::from(8 * a.parallelism.get())..=1 << 20, " KiB"),
            ("argon2.iterations", wide(a.iterations.get()), 1..=64, ""),
            ("argon2.parallelism", wide(a.parallelism.get()), 1..=64, ""),
            ("argon2.max_concurrent", wide(a.max_concurrent.written()), 0..=256, " (0: one per core)"),
            ("argon2.max_queue", wide(a.max_queue), 0..=100_000, ""),
            ("bruteforce.window_secs", wide(b.window.as_secs()), 1..=86_400, " s"),
            ("bruteforce.max_per_client_address", wide(b.max_per_client_address.get()), 1..=1_000_000, ""),
            ("bruteforce.max_per_address", wide(b.max_per_address.get()), 1..=1_000_000, ""),
            ("metrics.max_client_labels", wide(self.metrics.max_client_labels), 0..=10_000, ""),
            ("audit.stream_max_len", wide(self.audit.stream_max_len), 100..=10_000_000, ""),
            ("audit.failure_events_per_sec", wide(self.audit.failure_events_per_sec), 0..=10_000, ""),
            ("assertions.max_lifetime_secs", wide(self.assertions.max_lifetime.as_secs()), 10..=3600, " s"),
            ("assertions.leeway_secs", wide(self.assertions.leeway.as_secs()), 0..=300, " s"),
            ("assertions.fetch_timeout_ms", wide(self.assertions.fetch_timeout.as_millis()), 100..=30_000, " ms"),
            ("assertions.max_jwks_bytes", wide(self.assertions.max_jwks_bytes), 1024..=1 << 20, " bytes"),
            ("assertions.keys_cache_secs", wide(self.assertions.keys_cache.as_secs()), 1..=86_400, " s"),
            ("assertions.refresh_min_secs", wide(self.assertions.refresh_min.as_secs()), 1..=3600, " s"),
            ("usage.write_interval_secs", wide(self.usage.write_interval.as_secs()), 1..=86_400, " s"),
        ];
        for (setting, value, range, unit) in ranges {
            in_range(e, setting, *value, range.clone(), unit);
        }
        let issuer = &server.issuer;
        if !issuer.is_empty()
            && (!(issuer.starts_with("https://") || issuer.starts_with("http://"))
                || issuer.contains(['?', '#'])
                || issuer.ends_with('/')
                || issuer
                    .split_once("://")
                    .is_some_and(|(_, rest)| rest.is_empty()))
        {
            e.push(format!(
                "server.issuer must be an http(s) URL without query, fragment or trailing slash, \
                 e.g. https://auth.example.com (got {issuer:?})"
            ));
        }
        if redis.key_prefix.is_empty() || redis.key_prefix.contains(['{', '}']) {
            e.push("redis.key_prefix must be non-empty and must not contain braces".into());
        }
        if !(t.min_expiry <= t.default_expiry && t.default_expiry <= t.max_expiry) {
            e.push(format!(
                "tokens: need min_expiry <= default_expiry <= max_expiry (got {} <= {} <= {})",
                t.min_expiry, t.default_expiry, t.max_expiry
            ));
        }
        self.validate_key_source(e);
        if !matches!(t.typ.as_str(), "at+jwt" | "JWT") {
            e.push(format!(
                "tokens.typ must be at+jwt or JWT (got {:?})",
                t.typ
            ));
        }
        if self.admin.scope.is_empty()
            || crate::domain::fields::scope_token(&self.admin.scope).is_err()
        {
            e.push("admin.scope must be a valid scope token (printable ASCII, no spaces)".into());
        }
        if crate::domain::fields::scope_token(&self.introspection.scope).is_err() {
            e.push(
                "introspection.scope must be a valid scope token (printable ASCII, no spaces)"
                    .into(),
            );
        }
        if secrets.prefix.len() > 16 || !secrets.prefix.bytes().all(|b| b.is_ascii_graphic()) {
            e.push("secrets.prefix must be at most 16 printable ASCII characters".into());
        }
        let threads = a.max_concurrent.resolve().get();
        let needed = wide(a.memory_kib) * 1024 * threads as u64;
        if let Some(memory) = machine_memory()
            && needed > memory / 2
        {
            e.push(format!(
                "argon2.memory_kib x argon2.max_concurrent ({} KiB x {threads}) needs {} MiB, more \
                 than half of this machine's {} MiB; lower either",
                a.memory_kib,
                needed >> 20,
                memory >> 20
            ));
        }
        if let Err(why) = check_log_filter(&self.log.level) {
            e.push(format!("log.level {why}"));
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The key store's timing rules: a key is published at least as long before it signs
    /// as a verifier may cache the JWKS (plus the time instances take to see it), and an
    /// automatic rotation never starts before the previous key signs.
    fn validate_key_source(&self, e: &mut Vec<String>) {
        let k = &self.keys;
        match k.source {
            KeySource::Folder => {
                if !k.rotate_every.is_zero() {
                    e.push(
                        "keys.rotate_every_secs needs keys.source = \"redis\" (a keys folder \
                         rotates by adding files)"
                            .into(),
                    );
                }
            }
            KeySource::Redis => {
                if !k.active.is_empty() {
                    e.push(
                        "keys.active names a key of the keys folder: leave it empty with \
                         keys.source = \"redis\" (the key store's schedule picks the signer)"
                            .into(),
                    );
                }
                if k.watch.is_zero() {
                    e.push(
                        "keys.watch_secs must be at least 1 with keys.source = \"redis\": it is \
                         how often each instance looks for new keys"
                            .into(),
                    );
                }
                let needed = u64::from(k.jwks_max_age) + k.watch.as_secs();
                if k.publish_ahead.as_secs() < needed {
                    e.push(format!(
                        "keys.publish_ahead_secs ({}) must be at least keys.jwks_max_age + \
                         keys.watch_secs ({} + {} = {needed} s): a new key must reach every \
                         verifier's cached JWKS before it signs",
                        k.publish_ahead.as_secs(),
                        k.jwks_max_age,
                        k.watch.as_secs()
                    ));
                }
                if !k.rotate_every.is_zero() && k.rotate_every < k.publish_ahead {
                    e.push(format!(
                        "keys.rotate_every_secs ({}) must be 0 or at least keys.publish_ahead_secs ({})",
                        k.rotate_every.as_secs(),
                        k.publish_ahead.as_secs()
                    ));
                }
            }
        }
    }

    /// Refuses to serve with an issuer derived from a wildcard address: tokens would name
    /// `http://0.0.0.0:PORT`, which no verifier can reach (allowed with `--dev`).
    pub fn check_issuer_for_serving(&self) -> Result<(), ConfigError> {
        let wildcard = self
            .server
            .bind
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|addr| addr.ip().is_unspecified());
        if wildcard && self.server.issuer.is_empty() {
            return Err(ConfigError(format!(
                "server.issuer must be set when server.bind listens on every address ({}): \
                 tokens and discovery would otherwise name it as their issuer; set \
                 TOKENMINT_SERVER__ISSUER=https://<the public name of this server>",
                self.server.bind
            )));
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
                s.argon2.iterations.get(),
                s.argon2.parallelism.get()
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

    #[test]
    fn the_key_store_timing_rules_name_their_settings() {
        let errors = |f: &dyn Fn(&mut Settings)| {
            let mut s = Settings::defaults();
            f(&mut s);
            s.validate().err().unwrap_or_default().join("\n")
        };
        let redis = |s: &mut Settings| s.keys.source = KeySource::Redis;
        assert_eq!(errors(&redis), "", "the defaults hold");
        let short = errors(&|s| {
            redis(s);
            s.keys.jwks_max_age = 600;
        });
        assert!(
            short.contains("keys.publish_ahead_secs (360) must be at least keys.jwks_max_age + keys.watch_secs (600 + 10 = 610 s)"),
            "{short}"
        );
        let early = errors(&|s| {
            redis(s);
            s.keys.rotate_every = Duration::from_secs(60);
        });
        assert!(early.contains("keys.rotate_every_secs (60)"), "{early}");
        let blind = errors(&|s| {
            redis(s);
            s.keys.watch = Duration::ZERO;
        });
        assert!(
            blind.contains("keys.watch_secs must be at least 1"),
            "{blind}"
        );
        let named = errors(&|s| {
            redis(s);
            s.keys.active = "old.pem".into();
        });
        assert!(named.contains("keys.active"), "{named}");
        let folder = errors(&|s| s.keys.rotate_every = Duration::from_secs(3600));
        assert!(
            folder.contains("keys.rotate_every_secs needs keys.source"),
            "{folder}"
        );
    }
}
