//! Structured logs through `tracing`. Nothing logged anywhere in tokenmint contains a plain
//! secret, a PHC hash, a private key or an access token: their types redact themselves in
//! `Debug`, token request bodies are never logged, and request logs carry no headers and no
//! query string ([`RequestSpan`]).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RootSpanBuilder};
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
    // Colours only for a person at a terminal, and never when NO_COLOR is set (no-color.org).
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
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
        let request_id = request.extensions().get::<RequestId>().cloned();
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
        // An access line per request at debug (errors are logged at info and above
        // anyway); at the default level the token path writes no line per success.
        if let Ok(response) = outcome {
            tracing::debug!(parent: &span, status = response.status().as_u16(), "request done");
        }
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The id of one request: the caller's `X-Request-Id` when it is well-formed (1-128
/// characters of `[A-Za-z0-9._:-]`), else 128 random bits in hex. Sent back in the response
/// header and recorded in the request's log span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    pub const HEADER: &'static str = "x-request-id";

    /// The caller's id if well-formed, else a new one.
    pub fn from_header(value: Option<&[u8]>) -> Self {
        match value {
            Some(v)
                if (1..=128).contains(&v.len())
                    && v.iter()
                        .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b)) =>
            {
                Self(String::from_utf8_lossy(v).into_owned())
            }
            _ => {
                let bits: u128 = rand::RngExt::random(&mut rand::rng());
                Self(format!("{bits:032x}"))
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Middleware (outermost): gives every request its [`RequestId`] before the request span
/// opens, and every response its `X-Request-Id` header.
pub async fn request_id(
    req: ServiceRequest,
    next: actix_web::middleware::Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = RequestId::from_header(
        req.headers()
            .get(RequestId::HEADER)
            .map(actix_web::http::header::HeaderValue::as_bytes),
    );
    req.extensions_mut().insert(id.clone());
    let mut response = next.call(req).await?;
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(id.as_str()) {
        response.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static(RequestId::HEADER),
            value,
        );
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_well_formed_caller_id_is_kept_and_anything_else_replaced() {
        assert_eq!(
            RequestId::from_header(Some(b"abc-123.x:y_z")).as_str(),
            "abc-123.x:y_z"
        );
        for bad in [&b""[..], b"has space", b"new\nline", &[b'a'; 129]] {
            let id = RequestId::from_header(Some(bad));
            assert_eq!(id.as_str().len(), 32, "{bad:?} replaced");
        }
        assert_ne!(RequestId::from_header(None), RequestId::from_header(None));
    }
}
