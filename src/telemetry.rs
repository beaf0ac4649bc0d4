//! Structured logs through `tracing`. Nothing logged anywhere in tokenmint contains a plain
//! secret, a PHC hash, a private key or an access token: their types redact themselves in
//! `Debug`, token request bodies are never logged, and request logs carry no headers and no
//! query string ([`RequestSpan`]).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings, check_log_filter};

/// Installs the global subscriber: `RUST_LOG` if set, else `log.level`; text or JSON. A
/// `RUST_LOG` that is not a valid filter is refused (as a bad `log.level` is), never
/// replaced by a default.
pub fn init(settings: &LogSettings) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(text) => {
            check_log_filter(&text).map_err(|why| format!("RUST_LOG {why}"))?;
            text
        }
        Err(_) => settings.level.clone(),
    };
    let filter = EnvFilter::try_new(&filter).map_err(|e| format!("log filter: {e}"))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match settings.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    Ok(())
}

/// The root span of every request: method, route, path, peer and status; never the query
/// string (a careless client may put a secret or token there) and no header (the default
/// builder records `User-Agent` and `Host`, which a client controls).
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let peer = request.peer_addr().map(|a| a.ip().to_string());
        let request_id = request.extensions().get::<RequestId>().copied();
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %request.path(),
            http.client_ip = peer.as_deref().unwrap_or(""),
            http.status_code = tracing::field::Empty,
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = request_id.map(tracing::field::display),
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}
