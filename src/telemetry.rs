//! Structured logs through `tracing`. Nothing logged anywhere in tokenmint contains a plain
//! secret, a PHC hash, a private key or an access token: their types redact themselves in
//! `Debug`, token request bodies are never logged, and request logs carry no headers.

use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;

/// Installs the global subscriber: `RUST_LOG` if set, else `log.level`; text or JSON.
pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if settings.format.eq_ignore_ascii_case("json") {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
