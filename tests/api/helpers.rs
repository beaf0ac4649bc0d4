//! Spawning the real server against the real Redis that `scripts/test.sh` started, each test
//! under its own key prefix and on its own port, plus small HTTP helpers.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use rand::RngExt;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokenmint::config::Settings;
use tokenmint::crypto::{Alg, keys};
use tokenmint::startup::Application;
use tokenmint::store::Store;

pub const ORG: &str = "org_59615193906282635";

/// The exact request body of `shared/seeds/scalekit-create-organization-client.mdx`.
pub fn seed_create_body() -> Value {
    json!({
      "audience": ["https://api.example.com/api/analytics", "https://deployment-api.acmecorp.com"],
      "custom_claims": [{"key": "environment", "value": "production"}, {"key": "service", "value": "deployment"}],
      "description": "Service account for GitHub Actions to deploy applications to production",
      "expiry": 3600,
      "name": "GitHub Actions Deployment Service",
      "scopes": ["deploy:applications", "read:deployments"]
    })
}

/// The update seed's body (`scalekit-update-organization-client.mdx`, Python tab).
pub fn seed_update_body() -> Value {
    json!({
      "description": "Service account for GitHub Actions to deploy applications to production_eu",
      "custom_claims": [
        {"key": "github_repository", "value": "acmecorp/inventory"},
        {"key": "environment", "value": "production_eu"}
      ]
    })
}

/// `secret` with its last character changed (never equal to `secret`).
pub fn altered(secret: &str) -> String {
    let (head, last) = secret.split_at(secret.len() - 1);
    format!("{head}{}", if last == "x" { "y" } else { "x" })
}

/// Whether this run puts the test servers on the in-memory store of `serve --dev`
/// (`TOKENMINT_TEST_STORE=memory scripts/test.sh`) instead of the shared Redis.
pub fn on_memory_store() -> bool {
    std::env::var("TOKENMINT_TEST_STORE").is_ok_and(|store| store == "memory")
}

/// Ends a test that needs the shared Redis itself (it inspects Redis, or runs several
/// instances over one store) when the run is on the in-memory store, saying why.
macro_rules! needs_redis {
    ($why:expr) => {
        if crate::helpers::on_memory_store() {
            eprintln!("skipped on the in-memory store: {}", $why);
            return;
        }
    };
}
pub(crate) use needs_redis;

pub fn redis_url() -> String {
    std::env::var("TMTEST_REDIS_URL").expect(
        "TMTEST_REDIS_URL is not set: run the tests with scripts/test.sh, which starts a Redis",
    )
}

pub struct TestApp {
    pub base: String,
    pub issuer: String,
    pub http: reqwest::Client,
    pub prefix: String,
    pub keys_dir: Arc<TempDir>,
    pub admin_id: String,
    pub admin_secret: String,
    pub admin_token: String,
    pub settings: Settings,
    handle: ServerHandle,
}

/// Options for [`spawn`].
pub struct Spawn {
    pub alg: Alg,
    pub prefix: Option<String>,
    pub keys_dir: Option<Arc<TempDir>>,
    /// `keys.active`.
    pub active: Option<String>,
    /// A Redis other than the shared one.
    pub redis_url: Option<String>,
    /// Any other setting a test needs.
    pub configure: Box<dyn FnOnce(&mut Settings) + Send>,
    /// A PEM root certificate to trust (the server then speaks HTTPS).
    pub trust: Option<String>,
    /// The in-memory store of `serve --dev` instead of Redis (also the default for tests
    /// that name no Redis of their own, when the run is on the in-memory store).
    pub memory: bool,
}

impl Default for Spawn {
    fn default() -> Self {
        Self {
            alg: Alg::Es256,
            prefix: None,
            keys_dir: None,
            active: None,
            redis_url: None,
            configure: Box::new(|_| {}),
            trust: None,
            memory: false,
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn(Spawn::default()).await
}

pub async fn spawn(options: Spawn) -> TestApp {
    let memory = options.memory || (on_memory_store() && options.redis_url.is_none());
    let prefix = options
        .prefix
        .unwrap_or_else(|| format!("tmtest{}", rand::rng().random::<u64>()));
    let keys_dir = match options.keys_dir {
        Some(dir) => dir,
        None => {
            let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
            keys::generate(dir.path(), options.alg).expect("generate a key");
            dir
        }
    };
    let mut settings = Settings::defaults();
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.workers = tokenmint::config::Threads::fixed(std::num::NonZeroUsize::MIN);
    settings.redis.url = options.redis_url.unwrap_or_else(redis_url);
    settings.redis.key_prefix = prefix.clone();
    settings.keys.dir = PathBuf::from(keys_dir.path());
    settings.keys.active = options.active.unwrap_or_default();
    // The test OIDC issuer listens on loopback over plain HTTP.
    settings.assertions.allow_http_loopback = true;
    (options.configure)(&mut settings);

    let store = if memory {
        Store::memory(&prefix)
    } else {
        store_for(&settings).await
    };
    let app = Application::build(settings.clone(), store)
        .await
        .expect("the app builds");
    let scheme = if options.trust.is_some() {
        "https"
    } else {
        "http"
    };
    let base = format!("{scheme}://{}", app.addr());
    let issuer = app.issuer().to_owned();
    let handle = app.handle();
    let (admin, secret) = app
        .admins()
        .bootstrap_admin("test admin")
        .await
        .expect("bootstrap admin");
    tokio::spawn(app.run_until_stopped());
    let mut app = TestApp {
        base,
        issuer,
        http: match &options.trust {
            Some(pem) => reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
                .build()
                .unwrap(),
            None => reqwest::Client::new(),
        },
        prefix,
        keys_dir,
        admin_id: admin.client_id.to_string(),
        admin_secret: secret.expose().to_owned(),
        admin_token: String::new(),
        settings,
        handle,
    };
    app.admin_token = app
        .token_for(&app.admin_id.clone(), &app.admin_secret.clone())
        .await;
    app
}

pub async fn store_for(settings: &Settings) -> Store {
    let mut redis = settings.redis.clone();
    redis.timeout = Duration::from_millis(2000);
    Store::redis(&redis).await.expect("Redis is reachable")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    pub fn admin(&self, builder: RequestBuilder) -> RequestBuilder {
        builder.bearer_auth(&self.admin_token)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.admin(self.http.get(self.url(path)))
            .send()
            .await
            .unwrap()
    }

    /// An unauthenticated `GET` (discovery, keys), parsed as JSON.
    pub async fn public_json<T: serde::de::DeserializeOwned>(&self, path: &str) -> T {
        self.http
            .get(self.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET` as the admin, parsed as JSON (whatever the status).
    pub async fn get_json(&self, path: &str) -> Value {
        self.get(path).await.json().await.unwrap()
    }

    /// `GET`s `path` until the JSON pointer `pointer` holds a string (for values written
    /// off the response path), for up to 2.5 s; returns what it last held.
    pub async fn eventually_string(&self, path: &str, pointer: &str) -> Value {
        let mut value = Value::Null;
        for _ in 0..50 {
            value = self
                .get_json(path)
                .await
                .pointer(pointer)
                .cloned()
                .unwrap_or(Value::Null);
            if value.is_string() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        value
    }

    /// argon2 computations run by this server since it started (from `/readyz`).
    pub async fn argon2_runs(&self) -> u64 {
        let ready: Value = self.public_json("/readyz").await;
        ready["argon2"]["runs"]
            .as_u64()
            .expect("/readyz reports argon2.runs")
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.admin(self.http.post(self.url(path)))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Response {
        self.admin(self.http.patch(self.url(path)))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.admin(self.http.delete(self.url(path)))
            .send()
            .await
            .unwrap()
    }

    pub fn clients_path(org: &str) -> String {
        format!("/api/v1/organizations/{org}/clients")
    }

    /// Creates an organization client; returns (client JSON, plain secret).
    pub async fn create_client(&self, org: &str, body: &Value) -> (Value, String) {
        let response = self.post(&Self::clients_path(org), body).await;
        assert_eq!(response.status(), StatusCode::CREATED, "create failed");
        let created: Value = response.json().await.unwrap();
        let secret = created["plain_secret"].as_str().unwrap().to_owned();
        (created["client"].clone(), secret)
    }

    /// `POST /oauth/token` with body credentials and extra form parameters.
    pub async fn token_request(&self, id: &str, secret: &str, extra: &[(&str, &str)]) -> Response {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ];
        form.extend_from_slice(extra);
        self.http
            .post(self.url("/oauth/token"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// `POST /oauth/token` with HTTP Basic credentials.
    pub async fn token_request_basic(
        &self,
        id: &str,
        secret: &str,
        extra: &[(&str, &str)],
    ) -> Response {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        self.http
            .post(self.url("/oauth/token"))
            .basic_auth(id, Some(secret))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    pub async fn token_for(&self, id: &str, secret: &str) -> String {
        let response = self.token_request(id, secret, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "token request failed");
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Verifies a token against the served JWKS with jsonwebtoken; returns its claims.
    pub async fn verify(&self, token: &str) -> Value {
        let jwks: JwkSet = self.public_json("/.well-known/jwks.json").await;
        let header = jsonwebtoken::decode_header(token).expect("a JWT header");
        let jwk = jwks
            .find(header.kid.as_deref().expect("a kid"))
            .expect("the kid is in the JWKS");
        let key = DecodingKey::from_jwk(jwk).expect("a usable JWK");
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.validate_aud = false;
        jsonwebtoken::decode::<Value>(token, &key, &validation)
            .expect("the token verifies")
            .claims
    }

    /// A raw Redis connection, to inspect what the server stored.
    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.settings.redis.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

/// Asserts an AIP-193 error with this status naming these fields (in any order).
pub async fn assert_error(
    response: Response,
    status: StatusCode,
    fields: &[&str],
    case: &str,
) -> Value {
    assert_eq!(response.status(), status, "case: {case}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error"]["code"],
        status.as_u16(),
        "case: {case}: {body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "case: {case}: {body}"
    );
    let mut named: Vec<String> = body["error"]["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|v| v["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default();
    named.sort();
    let mut expected: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    expected.sort();
    assert_eq!(named, expected, "case: {case}: {body}");
    body
}

/// A redis-server of a test's own, on a free loopback port, stopped when dropped.
pub struct OwnRedis {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = Self { port, child: None };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal (`STOP` freezes Redis: connections stay open, nothing answers;
    /// `CONT` thaws it).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Starts (again) on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let child = std::process::Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &self.port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/test.sh installs it)");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port free on 127.0.0.1 now (bound, then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The real binary running `serve --dev` (plus `args`) on `port`, with only `env` and its
/// keys in `keys`; its logs go to `server.log` beside `keys` (a file, so a chatty server
/// never blocks on a full pipe). Started once the admin client it prints is read.
pub struct DevProcess {
    pub child: std::process::Child,
    pub admin: Value,
    pub base: String,
    log: PathBuf,
}

impl DevProcess {
    pub fn start(port: u16, keys: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"));
        command
            .args(["serve", "--dev"])
            .args(args)
            .env_clear()
            .env("TOKENMINT_SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("TOKENMINT_KEYS__DIR", keys)
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(keys.with_file_name("server.log")).unwrap());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let admin: Value = serde_json::from_str(&line).expect("the admin client on stdout");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            admin,
            log: keys.with_file_name("server.log"),
        }
    }

    /// What the server has logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the process (tests that stop it gracefully signal it themselves).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
