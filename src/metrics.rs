//! Prometheus metrics (`GET /metrics`, text format), on the `prometheus` crate.
//!
//! One process-wide registry, as Prometheus clients keep it: every layer counts where the
//! thing happens (the token service, the argon2 pool, the caches, the store, each admin
//! face), and the route renders the lot. No series carries a secret or a token; the only
//! client-controlled label is a client id, and only a well-formed one: the first
//! `metrics.max_client_labels` ids seen get their own series, every later one is folded
//! into `other`, so a caller cannot grow the series without bound. With `metrics.enabled`
//! off, nothing is counted and `/metrics` answers 404.

use std::collections::HashSet;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

static ENABLED: AtomicBool = AtomicBool::new(true);
static MAX_CLIENT_LABELS: AtomicUsize = AtomicUsize::new(100);

/// Every series this server exports.
pub struct Metrics {
    registry: Registry,
    pub tokens: IntCounterVec,
    pub token_seconds: HistogramVec,
    pub argon2_runs: IntCounter,
    pub argon2_in_flight: IntGauge,
    pub argon2_rejected: IntCounter,
    pub verified_cache: IntCounterVec,
    pub client_cache: IntCounterVec,
    pub lockouts: IntCounter,
    pub admin_requests: IntCounterVec,
    pub redis_errors: IntCounterVec,
    pub signing_key: IntGaugeVec,
    pub audit_events: IntCounterVec,
    pub audit_suppressed: IntCounter,
    pub audit_write_errors: IntCounter,
    /// Series of the warm token path, resolved once (a label lookup hashes and locks).
    pub token_ok_seconds: Histogram,
    pub verified_hit: IntCounter,
    pub verified_miss: IntCounter,
    pub client_hit: IntCounter,
    pub client_miss: IntCounter,
    labelled_clients: Mutex<HashSet<String>>,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let series = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
    registry
        .register(Box::new(series.clone()))
        .expect("registered once");
    series
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let series = IntCounter::new(name, help).expect("a valid metric");
    registry
        .register(Box::new(series.clone()))
        .expect("registered once");
    series
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let registry = Registry::new_custom(Some("tokenmint".into()), None).expect("a registry");
    let token_seconds = HistogramVec::new(
        HistogramOpts::new(
            "token_request_duration_seconds",
            "Time to answer a token request, by outcome",
        )
        .buckets(vec![
            0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ]),
        &["outcome"],
    )
    .expect("a valid metric");
    registry
        .register(Box::new(token_seconds.clone()))
        .expect("registered once");
    let argon2_in_flight = IntGauge::new(
        "argon2_in_flight",
        "argon2 computations running or queued now",
    )
    .expect("a valid metric");
    registry
        .register(Box::new(argon2_in_flight.clone()))
        .expect("registered once");
    let signing_key = IntGaugeVec::new(
        Opts::new("signing_key_info", "The key signing new tokens (value 1)"),
        &["kid", "alg"],
    )
    .expect("a valid metric");
    registry
        .register(Box::new(signing_key.clone()))
        .expect("registered once");
    let build = IntGaugeVec::new(
        Opts::new("build_info", "This build (value 1)"),
        &["version"],
    )
    .expect("a valid metric");
    registry
        .register(Box::new(build.clone()))
        .expect("registered once");
    build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    let verified_cache = counter_vec(
        &registry,
        "verified_secret_cache_total",
        "Secret checks answered by the verified-secret cache (hit) or by argon2 (miss)",
        &["result"],
    );
    let client_cache = counter_vec(
        &registry,
        "client_cache_total",
        "Client documents found prepared (hit) or decoded anew (miss)",
        &["result"],
    );
    Metrics {
        token_ok_seconds: token_seconds.with_label_values(&["ok"]),
        verified_hit: verified_cache.with_label_values(&["hit"]),
        verified_miss: verified_cache.with_label_values(&["miss"]),
        client_hit: client_cache.with_label_values(&["hit"]),
        client_miss: client_cache.with_label_values(&["miss"]),
        verified_cache,
        client_cache,
        tokens: counter_vec(
            &registry,
            "tokens_total",
            "Token requests by client, signing algorithm and outcome",
            &["client", "alg", "outcome"],
        ),
        token_seconds,
        argon2_runs: counter(
            &registry,
            "argon2_runs_total",
            "argon2 computations finished",
        ),
        argon2_in_flight,
        argon2_rejected: counter(
            &registry,
            "argon2_rejected_total",
            "argon2 computations refused at once because the queue was full",
        ),
        lockouts: counter(
            &registry,
            "bruteforce_lockouts_total",
            "Token requests refused by the brute-force limits (429)",
        ),
        admin_requests: counter_vec(
            &registry,
            "admin_requests_total",
            "Admin API requests by face, method and status",
            &["face", "method", "status"],
        ),
        redis_errors: counter_vec(
            &registry,
            "redis_errors_total",
            "Redis commands that failed, by kind (timeout, unavailable, failed)",
            &["kind"],
        ),
        signing_key,
        audit_events: counter_vec(
            &registry,
            "audit_events_total",
            "Audit events recorded, by action",
            &["action"],
        ),
        audit_suppressed: counter(
            &registry,
            "audit_suppressed_total",
            "Failure audit events not recorded because they came faster than audit.failure_events_per_sec",
        ),
        audit_write_errors: counter(
            &registry,
            "audit_write_errors_total",
            "Audit events logged but not stored (the store failed)",
        ),
        labelled_clients: Mutex::new(HashSet::new()),
        registry,
    }
});

/// Applies `metrics.*`: whether to count at all, and the client-label cap.
pub fn configure(enabled: bool, max_client_labels: usize) {
    ENABLED.store(enabled, Ordering::Relaxed);
    MAX_CLIENT_LABELS.store(max_client_labels, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The metrics, when counting is on.
pub fn get() -> Option<&'static Metrics> {
    enabled().then(|| &*METRICS)
}

impl Metrics {
    /// The label for a client id: its own for the first ones seen, `other` past the cap.
    pub fn client_label(&self, id: Option<&str>) -> String {
        let Some(id) = id else {
            return "unknown".into();
        };
        let mut seen = self.labelled_clients.lock();
        if seen.contains(id) {
            return id.to_owned();
        }
        if seen.len() < MAX_CLIENT_LABELS.load(Ordering::Relaxed) {
            seen.insert(id.to_owned());
            return id.to_owned();
        }
        "other".into()
    }

    /// The counter of successful tokens of `client` signed with `alg` (the warm path keeps
    /// it with its prepared client, so it looks this up once per client version).
    pub fn token_ok_counter(&self, client: &str, alg: &str) -> IntCounter {
        let client = self.client_label(Some(client));
        self.tokens.with_label_values(&[client.as_str(), alg, "ok"])
    }

    /// One refused token request's outcome and time.
    pub fn token(&self, client: Option<&str>, alg: &str, outcome: &str, took: Duration) {
        let client = self.client_label(client);
        self.tokens
            .with_label_values(&[client.as_str(), alg, outcome])
            .inc();
        self.token_seconds
            .with_label_values(&[outcome])
            .observe(took.as_secs_f64());
    }

    /// The text exposition of every series.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec of metric families this registry made cannot fail.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Counts `n` on `counter` when metrics are on.
pub fn inc(counter: impl FnOnce(&Metrics) -> &IntCounter) {
    if let Some(m) = get() {
        counter(m).inc();
    }
}

/// Counts one on the `labels` series of `counter` when metrics are on.
pub fn inc_vec(counter: impl FnOnce(&Metrics) -> &IntCounterVec, labels: &[&str]) {
    if let Some(m) = get() {
        counter(m).with_label_values(labels).inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_labels_are_capped_and_the_rest_folded_into_other() {
        configure(true, 2);
        let m = get().unwrap();
        let a = m.client_label(Some("m2m_000000000000000001"));
        let b = m.client_label(Some("m2m_000000000000000002"));
        assert_eq!(
            (a.as_str(), b.as_str()),
            ("m2m_000000000000000001", "m2m_000000000000000002")
        );
        assert_eq!(m.client_label(Some("m2m_000000000000000003")), "other");
        assert_eq!(
            m.client_label(Some("m2m_000000000000000001")),
            "m2m_000000000000000001"
        );
        assert_eq!(m.client_label(None), "unknown");
        configure(true, 100);
        assert!(m.render().contains("tokenmint_build_info"));
    }
}
