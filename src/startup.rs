//! Builds the server from settings and a store: binds the listener first (port 0 in
//! tests), loads keys, and registers every route in one place ([`routes`]).

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpResponse, HttpServer, web};
use tracing_actix_web::TracingLogger;

use crate::admin::AdminError;
use crate::config::Settings;
use crate::crypto::keys::KeyError;
use crate::crypto::secret::HashError;
use crate::crypto::{Hasher, KeyRing};
use crate::http::{discovery, health, org_clients, token, v1_clients};
use crate::oauth::bruteforce::Guard;
use crate::oauth::claims::ConstantCache;
use crate::oauth::usage::UsageRecorder;
use crate::oauth::verified::VerifiedCache;
use crate::state::AppState;
use crate::store::Store;
use crate::telemetry::RequestSpan;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {0}: {1}")]
    Bind(String, std::io::Error),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("{0}")]
    Tls(String),
}

/// Grants whose constant claims are kept encoded (a few hundred bytes each).
const CLAIMS_CACHE_ENTRIES: usize = 10_000;

pub struct Application {
    server: Server,
    addr: SocketAddr,
    state: web::Data<AppState>,
}

impl Application {
    pub fn build(settings: Settings, store: Store) -> Result<Self, StartError> {
        let bind = settings.server.bind.clone();
        let listener = TcpListener::bind(&bind).map_err(|e| StartError::Bind(bind.clone(), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(bind.clone(), e))?;
        let tls = crate::tls::server_config(&settings.server.tls).map_err(StartError::Tls)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        if tls.is_none() && !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "serving plain HTTP on a non-loopback address: secrets and tokens cross the network \
                 unencrypted; set server.tls.cert and server.tls.key, or terminate TLS in a proxy"
            );
        }
        let issuer = if settings.server.issuer.is_empty() {
            format!("{scheme}://{addr}")
        } else {
            settings.server.issuer.clone()
        };
        let keys = KeyRing::load(
            &settings.keys.dir,
            &settings.keys.active,
            &settings.tokens.typ,
        )?;
        let hasher = Hasher::new(&settings.argon2)?;
        let guard = Guard::new(store.clone(), &settings.bruteforce);
        let verified = VerifiedCache::new(
            Duration::from_secs(settings.secrets.verified_cache_secs),
            settings.secrets.verified_cache_entries,
        );
        let usage = UsageRecorder::new(
            store.clone(),
            Duration::from_secs(settings.usage.write_interval_secs),
        );
        let server_settings = settings.server.clone();
        tracing::info!(%addr, %issuer, kid = %keys.active().kid, alg = keys.active().alg.name(), "tokenmint listening");
        let state = web::Data::new(AppState {
            settings,
            issuer,
            store,
            keys,
            hasher,
            usage,
            guard,
            verified,
            claims: ConstantCache::new(CLAIMS_CACHE_ENTRIES),
        });
        let app_state = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(from_fn(limit_header_bytes))
                .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
                .wrap(TracingLogger::<RequestSpan>::new())
                .app_data(app_state.clone())
                .configure(routes)
        })
        .shutdown_timeout(10)
        .client_request_timeout(Duration::from_millis(server_settings.request_timeout_ms))
        .client_disconnect_timeout(Duration::from_secs(1))
        .keep_alive(Duration::from_secs(server_settings.keep_alive_secs))
        .max_connections(server_settings.max_connections);
        if server_settings.workers > 0 {
            server = server.workers(server_settings.workers);
        }
        let server = match tls {
            Some(config) => server.listen_rustls_0_23(listener, config),
            None => server.listen(listener),
        }
        .map_err(|e| StartError::Bind(bind, e))?
        .run();
        Ok(Self {
            server,
            addr,
            state,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn issuer(&self) -> &str {
        &self.state.issuer
    }

    /// The state the handlers share (its store and hasher serve tools such as
    /// `serve --dev`'s admin bootstrap).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops the server: `graceful` finishes in-flight requests first.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGTERM / Ctrl-C stop accepting and finish in-flight requests).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        // Expired verified-secret entries are dropped even when no request comes to do it.
        let state = self.state.clone();
        let sweeper = tokio::spawn(async move {
            let every = state.verified.sweep_interval();
            loop {
                tokio::time::sleep(every).await;
                state.verified.sweep();
            }
        });
        let stopped = self.server.await;
        sweeper.abort();
        stopped
    }
}

/// 431 for a request whose headers add up to more than `server.max_header_bytes` (actix
/// itself only caps the whole head, at 128 KiB).
async fn limit_header_bytes(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(usize::MAX, |state| state.settings.server.max_header_bytes);
    let size: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if size > limit {
        let response = HttpResponse::build(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE).json(
            serde_json::json!({"error": {
                "code": 431,
                "status": "INVALID_ARGUMENT",
                "message": format!("request headers exceed {limit} bytes"),
            }}),
        );
        return Ok(req.into_response(response));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
}

async fn not_found() -> HttpResponse {
    actix_web::ResponseError::error_response(&AdminError::NotFound("no such endpoint".into()))
}

async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed().json(serde_json::json!({
        "error": {"code": 405, "status": "UNIMPLEMENTED", "message": "method not allowed on this path"}
    }))
}

/// Every route of the server.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let resource = |path: &str| web::resource(path).default_service(web::to(method_not_allowed));
    cfg.service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(resource("/oauth/token").route(web::post().to(token::token)))
        .service(resource("/.well-known/jwks.json").route(web::get().to(discovery::jwks)))
        .service(resource("/keys").route(web::get().to(discovery::jwks)))
        .service(
            resource("/.well-known/oauth-authorization-server")
                .route(web::get().to(discovery::oauth_metadata)),
        )
        .service(
            resource("/.well-known/openid-configuration")
                .route(web::get().to(discovery::openid_configuration)),
        )
        .service(
            web::scope("/api/v1/organizations/{organization_id}/clients")
                .wrap(DefaultHeaders::new().add(("Cache-Control", "no-store")))
                .service(
                    resource("")
                        .route(web::post().to(org_clients::create))
                        .route(web::get().to(org_clients::list)),
                )
                .service(
                    resource("/{client_id}")
                        .route(web::get().to(org_clients::get))
                        .route(web::patch().to(org_clients::update))
                        .route(web::delete().to(org_clients::delete)),
                )
                .service(
                    resource("/{client_id}/secrets").route(web::post().to(org_clients::add_secret)),
                )
                .service(
                    resource("/{client_id}/secrets/{secret_id}")
                        .route(web::delete().to(org_clients::delete_secret)),
                ),
        )
        .service(
            web::scope("/v1/clients")
                .wrap(DefaultHeaders::new().add(("Cache-Control", "no-store")))
                .service(
                    resource("")
                        .route(web::post().to(v1_clients::create))
                        .route(web::get().to(v1_clients::list)),
                )
                .service(
                    resource("/{client}")
                        .route(web::get().to(v1_clients::get))
                        .route(web::patch().to(v1_clients::update))
                        .route(web::delete().to(v1_clients::delete)),
                )
                .service(
                    resource("/{client}/credentials")
                        .route(web::post().to(v1_clients::create_credential))
                        .route(web::get().to(v1_clients::list_credentials)),
                )
                .service(
                    resource("/{client}/credentials/{credential}")
                        .route(web::get().to(v1_clients::get_credential))
                        .route(web::patch().to(v1_clients::update_credential))
                        .route(web::delete().to(v1_clients::delete_credential)),
                ),
        )
        .default_service(web::to(not_found));
}
