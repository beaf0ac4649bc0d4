//! Builds the server from settings and a store: binds the listener first (port 0 in
//! tests), builds the services ([`Services`]), serves them ([`Application::serve`]), and
//! registers every route in one place ([`routes`]).

use std::net::{SocketAddr, TcpListener};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::StatusCode;
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpResponse, Route, web};
use tracing_actix_web::TracingLogger;

use std::sync::Arc;

use crate::admin::AdminError;
use crate::admin::service::AdminService;
use crate::audit::Auditor;
use crate::config::{KeySource, ServerSettings, Settings};
use crate::crypto::keys::KeyError;
use crate::crypto::secret::HashError;
use crate::crypto::{Hasher, KeyRing, Keys};
use crate::http::{
    Discovery, HttpSettings, audit, discovery, health, introspect, org_clients, signing_keys,
    token, v1_clients,
};
use crate::keystore::{KeyStore, KeyStoreError};
use crate::oauth::TokenService;
use crate::store::Store;
use crate::telemetry::RequestSpan;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("server.bind {0}: cannot listen there: {1}{hint}", hint = bind_hint(.1))]
    Bind(String, std::io::Error),
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    #[error(transparent)]
    Hash(#[from] HashError),
    #[error("{0}")]
    Tls(String),
}

fn bind_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another process holds that port: stop it, or set server.bind (serve --bind) to another"
        }
        std::io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need privileges: use a higher one"
        }
        _ => "",
    }
}

/// The services the handlers are given, each built once from exactly what it needs.
pub struct Services {
    pub tokens: web::Data<TokenService>,
    pub admins: web::Data<AdminService>,
    pub http: web::Data<HttpSettings>,
    pub discovery: web::Data<Discovery>,
    /// The keys every service shares, reloaded on SIGHUP and when the folder changes.
    pub keys: Arc<Keys>,
    /// The key store the keys come from (`keys.source = "redis"`), else the folder.
    pub key_store: Option<Arc<KeyStore>>,
    /// How often to look at the keys folder for changes (zero: only on SIGHUP).
    pub watch_keys: std::time::Duration,
}

/// `tokenmint_signing_key_info{kid, alg}`: the key signing new tokens.
fn count_signing_key(ring: &KeyRing) {
    if let Some(m) = crate::metrics::get() {
        let active = ring.active();
        m.signing_key.reset();
        m.signing_key
            .with_label_values(&[active.kid.as_str(), active.alg.name()])
            .set(1);
    }
}

fn hangups() -> Option<tokio::signal::unix::Signal> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .inspect_err(|e| tracing::error!(error = %e, "cannot watch for SIGHUP; keys reload only on their own"))
        .ok()
}

/// Follows the key store until dropped: reads the schedule every `every` (a cached read),
/// at once on SIGHUP, and whenever a key's state is due to change; rotates on schedule
/// (`keys.rotate_every_secs`) and drops retired keys' private keys. A read that fails is
/// logged and the keys in use stay.
async fn follow_key_store(store: Arc<KeyStore>, every: std::time::Duration) {
    use crate::domain::Timestamp;
    let Some(mut hangup) = hangups() else { return };
    let mut schedule: Option<crate::crypto::schedule::KeySchedule> = None;
    loop {
        let now = Timestamp::now();
        // The first look is at once: a rotation may already be due at startup.
        let mut wait = if schedule.is_some() {
            every
        } else {
            std::time::Duration::ZERO
        };
        if let Some(schedule) = &schedule {
            let due = [
                schedule.next_change(now),
                schedule.rotation_due_at(now, store.policy()),
            ];
            for at in due.into_iter().flatten() {
                // A change overdue (an upkeep write that failed) is tried again after a
                // pause, not in a busy loop.
                let until = match at.as_millis().saturating_sub(now.as_millis()) {
                    0 => std::time::Duration::from_millis(250),
                    ms => std::time::Duration::from_millis(ms),
                };
                wait = wait.min(until);
            }
        }
        let cached = tokio::select! {
            _ = hangup.recv() => false,
            () = tokio::time::sleep(wait) => true,
        };
        match store.refresh(cached).await {
            Ok((changed, read)) => {
                if changed {
                    let set = store.keys().current();
                    let active = set.ring.active();
                    tracing::info!(kid = %active.kid, alg = active.alg.name(), published = set.ring.keys().len(), "signing keys changed (key store)");
                    count_signing_key(&set.ring);
                }
                if let Err(e) = store.maintain(&read).await {
                    tracing::error!(error = %e, "key store upkeep failed; trying again later");
                }
                schedule = Some(read);
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the key store; the keys in use stay")
            }
        }
    }
}

/// Reloads the keys folder on SIGHUP, and whenever its key files change (looked at every
/// `every`, unless zero), until dropped. A folder that no longer loads (a bad file, wrong
/// permissions, no key) is logged and the keys in use stay.
async fn watch_keys(keys: Arc<Keys>, every: std::time::Duration) {
    let Some(mut hangup) = hangups() else { return };
    let mut seen = keys.folder_fingerprint();
    loop {
        let why = tokio::select! {
            _ = hangup.recv() => "SIGHUP",
            () = tokio::time::sleep(every), if !every.is_zero() => {
                if keys.folder_fingerprint() == seen {
                    continue;
                }
                "the keys folder changed"
            }
        };
        seen = keys.folder_fingerprint();
        match keys.reload() {
            Ok(true) => {
                let set = keys.current();
                let active = set.ring.active();
                tracing::info!(reason = why, kid = %active.kid, alg = active.alg.name(), "signing keys reloaded");
                count_signing_key(&set.ring);
            }
            Ok(false) => tracing::info!(reason = why, "signing keys unchanged"),
            Err(e) => {
                tracing::error!(reason = why, error = %e, "the keys folder did not load; the keys in use stay")
            }
        }
    }
}

impl Services {
    /// Loads the keys (from the folder or the key store), starts the argon2 pool and builds
    /// every service over `store`.
    pub async fn build(
        settings: &Settings,
        store: Store,
        issuer: String,
    ) -> Result<Self, StartError> {
        let (keys, key_store) = match settings.keys.source {
            KeySource::Folder => (
                Arc::new(Keys::load(
                    &settings.keys.dir,
                    &settings.keys.active,
                    &settings.tokens.typ,
                )?),
                None,
            ),
            KeySource::Redis => {
                let key_store = KeyStore::open(settings, store.clone()).await?;
                (key_store.keys(), Some(key_store))
            }
        };
        let hasher = Hasher::new(&settings.argon2)?;
        crate::metrics::configure(settings.metrics.enabled, settings.metrics.max_client_labels);
        count_signing_key(&keys.current().ring);
        let auditor = Arc::new(Auditor::new(store.clone(), &settings.audit));
        let tokens = TokenService::new(
            settings,
            issuer.clone(),
            store.clone(),
            Arc::clone(&keys),
            hasher.clone(),
            Arc::clone(&auditor),
        );
        let admins = AdminService::new(
            settings,
            issuer.clone(),
            store,
            Arc::clone(&keys),
            key_store.clone(),
            hasher,
            auditor,
        );
        Ok(Self {
            tokens: web::Data::new(tokens),
            admins: web::Data::new(admins),
            http: web::Data::new(HttpSettings::new(settings)),
            discovery: web::Data::new(Discovery::new(
                issuer,
                Arc::clone(&keys),
                settings.keys.jwks_max_age,
            )),
            keys,
            key_store,
            watch_keys: settings.keys.watch,
        })
    }
}

pub struct Application {
    server: Server,
    addr: SocketAddr,
    issuer: String,
    tokens: web::Data<TokenService>,
    admins: web::Data<AdminService>,
    keys: Arc<Keys>,
    key_store: Option<Arc<KeyStore>>,
    watch_keys: std::time::Duration,
}

impl Application {
    /// Binds `server.bind`, derives the issuer from it when `server.issuer` is empty, builds
    /// the services and serves them.
    pub async fn build(settings: Settings, store: Store) -> Result<Self, StartError> {
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
        let services = Services::build(&settings, store, issuer).await?;
        Self::serve(listener, tls, &settings.server, services)
    }

    /// Serves `services` on an already bound `listener` (with TLS when `tls` is given).
    pub fn serve(
        listener: TcpListener,
        tls: Option<rustls::ServerConfig>,
        server_settings: &ServerSettings,
        services: Services,
    ) -> Result<Self, StartError> {
        let addr = listener
            .local_addr()
            .map_err(|e| StartError::Bind(server_settings.bind.clone(), e))?;
        let issuer = services.discovery.issuer.clone();
        let set = services.keys.current();
        let active = set.ring.active();
        tracing::info!(%addr, %issuer, kid = %active.kid, alg = active.alg.name(), "tokenmint listening");
        let (keys, watch) = (Arc::clone(&services.keys), services.watch_keys);
        let key_store = services.key_store.clone();
        let (tokens, admins) = (services.tokens.clone(), services.admins.clone());
        let max_header_bytes = services.http.max_header_bytes;
        let grpc = crate::grpc::Routes::new(services.admins.clone().into_inner());
        let app = move || {
            App::new()
                .wrap(from_fn(move |req, next| {
                    limit_header_bytes(max_header_bytes, req, next)
                }))
                .wrap(DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
                .wrap(TracingLogger::<RequestSpan>::new())
                .wrap(from_fn(crate::telemetry::request_id))
                .app_data(services.tokens.clone())
                .app_data(services.admins.clone())
                .app_data(services.http.clone())
                .app_data(services.discovery.clone())
                .configure(routes)
        };
        let bind = server_settings.bind.clone();
        let server =
            crate::listener::serve(listener, tls, server_settings, max_header_bytes, app, grpc)
                .map_err(|e| StartError::Bind(bind, e))?;
        Ok(Self {
            server,
            addr,
            issuer,
            tokens,
            admins,
            keys,
            key_store,
            watch_keys: watch,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The admin service (tools such as `serve --dev`'s admin bootstrap use it).
    pub fn admins(&self) -> &AdminService {
        &self.admins
    }

    /// Stops the server: `graceful` finishes in-flight requests first.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped (SIGTERM / Ctrl-C stop accepting and finish in-flight requests).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let tokens = self.tokens.clone();
        let sweeper = tokio::spawn(async move { tokens.sweep_forever().await });
        let watcher = match self.key_store {
            Some(store) => tokio::spawn(follow_key_store(store, self.watch_keys)),
            None => tokio::spawn(watch_keys(self.keys, self.watch_keys)),
        };
        let stopped = self.server.await;
        sweeper.abort();
        watcher.abort();
        stopped
    }
}

/// Counts an admin request by face, method and status (`tokenmint_admin_requests_total`).
async fn count_admin(
    face: &'static str,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let method = req.method().clone();
    let response = next.call(req).await?;
    crate::metrics::inc_vec(
        |m| &m.admin_requests,
        &[face, method.as_str(), response.status().as_str()],
    );
    Ok(response)
}

/// 431 for a request whose headers add up to more than `server.max_header_bytes` (actix
/// itself only caps the whole head, at 128 KiB).
async fn limit_header_bytes(
    limit: usize,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
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

/// One registered endpoint: its method and path (as the OpenAPI document writes them), the
/// admin face it belongs to (counted and `Cache-Control: no-store`), and its handler.
pub struct Endpoint {
    pub method: Method,
    pub path: &'static str,
    pub face: Option<&'static str>,
    route: fn() -> Route,
}

const ORG: Option<&str> = Some("organization");
const V1: Option<&str> = Some("v1");
const ORG_CLIENTS: &str = "/api/v1/organizations/{organization_id}/clients";
const ORG_CLIENT: &str = "/api/v1/organizations/{organization_id}/clients/{client_id}";
const ORG_SECRETS: &str = "/api/v1/organizations/{organization_id}/clients/{client_id}/secrets";
const ORG_SECRET: &str =
    "/api/v1/organizations/{organization_id}/clients/{client_id}/secrets/{secret_id}";
const CREDENTIALS: &str = "/v1/clients/{client}/credentials";
const CREDENTIAL: &str = "/v1/clients/{client}/credentials/{credential}";

/// Every endpoint of the server, in one table: [`routes`] registers exactly these, and the
/// OpenAPI document must list exactly these (a test in [`crate::openapi`] compares them).
pub fn endpoints() -> Vec<Endpoint> {
    let e = |method: Method, path, face, route| Endpoint {
        method,
        path,
        face,
        route,
    };
    use Method as M;
    vec![
        e(M::GET, "/healthz", None, || web::get().to(health::healthz)),
        e(M::GET, "/readyz", None, || web::get().to(health::readyz)),
        e(M::GET, "/metrics", None, || web::get().to(health::metrics)),
        e(M::GET, "/openapi.json", None, || {
            web::get().to(discovery::openapi_document)
        }),
        e(M::POST, "/oauth/token", None, || {
            web::post().to(token::token)
        }),
        e(M::POST, "/oauth/introspect", None, || {
            web::post().to(introspect::introspect)
        }),
        e(M::POST, "/oauth/revoke", None, || {
            web::post().to(introspect::revoke)
        }),
        e(M::POST, "/v1/oauth/token", None, || {
            web::post().to(token::confidence_token)
        }),
        e(M::GET, "/.well-known/jwks.json", None, || {
            web::get().to(discovery::jwks)
        }),
        e(M::GET, "/keys", None, || web::get().to(discovery::keys)),
        e(
            M::GET,
            "/.well-known/oauth-authorization-server",
            None,
            || web::get().to(discovery::oauth_metadata),
        ),
        e(M::GET, "/.well-known/openid-configuration", None, || {
            web::get().to(discovery::openid_configuration)
        }),
        e(M::POST, ORG_CLIENTS, ORG, || {
            web::post().to(org_clients::create)
        }),
        e(M::GET, ORG_CLIENTS, ORG, || {
            web::get().to(org_clients::list)
        }),
        e(M::GET, ORG_CLIENT, ORG, || web::get().to(org_clients::get)),
        e(M::PATCH, ORG_CLIENT, ORG, || {
            web::patch().to(org_clients::update)
        }),
        e(M::DELETE, ORG_CLIENT, ORG, || {
            web::delete().to(org_clients::delete)
        }),
        e(M::POST, ORG_SECRETS, ORG, || {
            web::post().to(org_clients::add_secret)
        }),
        e(M::PATCH, ORG_SECRET, ORG, || {
            web::patch().to(org_clients::update_secret)
        }),
        e(M::DELETE, ORG_SECRET, ORG, || {
            web::delete().to(org_clients::delete_secret)
        }),
        e(M::POST, "/v1/clients", V1, || {
            web::post().to(v1_clients::create)
        }),
        e(M::GET, "/v1/clients", V1, || {
            web::get().to(v1_clients::list)
        }),
        e(M::GET, "/v1/clients/{client}", V1, || {
            web::get().to(v1_clients::get)
        }),
        e(M::PATCH, "/v1/clients/{client}", V1, || {
            web::patch().to(v1_clients::update)
        }),
        e(M::DELETE, "/v1/clients/{client}", V1, || {
            web::delete().to(v1_clients::delete)
        }),
        e(M::POST, CREDENTIALS, V1, || {
            web::post().to(v1_clients::create_credential)
        }),
        e(M::GET, CREDENTIALS, V1, || {
            web::get().to(v1_clients::list_credentials)
        }),
        e(M::GET, CREDENTIAL, V1, || {
            web::get().to(v1_clients::get_credential)
        }),
        e(M::PATCH, CREDENTIAL, V1, || {
            web::patch().to(v1_clients::update_credential)
        }),
        e(M::DELETE, CREDENTIAL, V1, || {
            web::delete().to(v1_clients::delete_credential)
        }),
        e(M::POST, "/v1/clients/{client}/revokeTokens", V1, || {
            web::post().to(v1_clients::revoke_tokens)
        }),
        e(
            M::POST,
            "/v1/clients/{client}/credentials/{credential}/revokeTokens",
            V1,
            || web::post().to(v1_clients::revoke_credential_tokens),
        ),
        e(M::GET, "/v1/auditEvents", V1, || web::get().to(audit::list)),
        e(M::GET, "/v1/signingKeys", V1, || {
            web::get().to(signing_keys::list)
        }),
        e(M::POST, "/v1/signingKeys/rotate", V1, || {
            web::post().to(signing_keys::rotate)
        }),
    ]
}

/// Registers every [`endpoints`] entry: one resource per path (405 for its other
/// methods), admin faces counted and marked `no-store`; 404 for any other path.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<(&'static str, Option<&'static str>)> = Vec::new();
    let table = endpoints();
    for endpoint in &table {
        if !paths.iter().any(|(p, _)| *p == endpoint.path) {
            paths.push((endpoint.path, endpoint.face));
        }
    }
    for (path, face) in paths {
        let mut resource = web::resource(path).default_service(web::to(method_not_allowed));
        for endpoint in table.iter().filter(|e| e.path == path) {
            resource = resource.route((endpoint.route)());
        }
        match face {
            Some(face) => cfg.service(
                resource
                    .wrap(DefaultHeaders::new().add(("Cache-Control", "no-store")))
                    .wrap(from_fn(move |req, next| count_admin(face, req, next))),
            ),
            None => cfg.service(resource),
        };
    }
    cfg.default_service(web::to(not_found));
}
