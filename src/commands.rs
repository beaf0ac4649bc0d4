//! What each command-line command does, once the CLI is parsed and settings loaded.

use serde_json::json;
use std::error::Error;
use std::path::Path;

use crate::admin::service::{BootstrapPolicy, bootstrap_admin};
use crate::audit::{Action, Auditor, Event, Face, Origin};
use crate::config::{KeySource, Loaded, Settings};
use crate::crypto::keys::{self, Alg};
use crate::crypto::{Hasher, KeyRing};
use crate::keystore::{KeyStore, KeyView};
use crate::startup::Application;
use crate::store::Store;

pub type CommandResult = Result<(), Box<dyn Error>>;

async fn redis_store(settings: &Settings) -> Result<Store, Box<dyn Error>> {
    Store::redis(&settings.redis)
        .await
        .map_err(|e| e.to_string().into())
}

/// `tokenmint serve [--dev [--tls]]`.
pub async fn serve(loaded: Loaded, dev: bool, dev_tls: bool) -> CommandResult {
    let mut settings = loaded.settings;
    if dev_tls {
        let mut certs = crate::tls::dev_certificates(&settings.keys.dir.join("dev-tls"))?;
        certs.ca = std::fs::canonicalize(&certs.ca).unwrap_or(certs.ca);
        let port = settings
            .server
            .bind
            .rsplit(':')
            .next()
            .unwrap_or("8080")
            .to_owned();
        if settings.server.issuer.is_empty() {
            settings.server.issuer = format!("https://localhost:{port}");
        }
        eprintln!(
            "\n  HTTPS with a throwaway local CA ({ca}). For Scalekit's SDKs and curl:\n  \
             export SCALEKIT_ENVIRONMENT_URL={issuer}\n  \
             export GRPC_DEFAULT_SSL_ROOTS_FILE_PATH={ca} REQUESTS_CA_BUNDLE={ca} \
             NODE_EXTRA_CA_CERTS={ca} CURL_CA_BUNDLE={ca}",
            ca = certs.ca.display(),
            issuer = settings.server.issuer,
        );
        settings.server.tls.cert = certs.cert;
        settings.server.tls.key = certs.key;
    }
    if !dev {
        settings.check_issuer_for_serving()?;
    }
    let store = if dev && !loaded.redis_url_explicit {
        Store::memory(&settings.redis.key_prefix)
    } else {
        redis_store(&settings).await?
    };
    if dev {
        eprintln!(
            "\n  *** tokenmint DEV MODE: NOT FOR PRODUCTION ***\n  \
             {} store, keys in {}, an admin client printed below.\n",
            if loaded.redis_url_explicit {
                "Redis"
            } else {
                "in-memory (lost on exit)"
            },
            settings.keys.dir.display()
        );
        if settings.keys.source == KeySource::Folder
            && KeyRing::folder_is_empty(&settings.keys.dir)?
        {
            let (path, kid) = keys::generate(&settings.keys.dir, Alg::Rs256)?;
            eprintln!("  generated signing key {} (kid {kid})", path.display());
        }
    }
    let app = Application::build(settings, store).await?;
    if dev {
        let (client, secret) = app.admins().bootstrap_admin("dev admin").await?;
        println!(
            "{}",
            json!({"issuer": app.issuer(), "client_id": client.client_id, "client_secret": secret.expose()})
        );
        eprintln!(
            "\n  get an admin token:\n  curl -s -u '{}:<client_secret>' -d grant_type=client_credentials {}/oauth/token\n",
            client.client_id,
            app.issuer()
        );
    }
    let handle = app.handle();
    tokio::spawn(async move {
        // SIGTERM and SIGINT (Ctrl-C) both stop accepting and finish in-flight requests
        // (for up to 10 s); SIGQUIT stops at once.
        let graceful = match stop_signal().await {
            Ok(graceful) => graceful,
            Err(e) => {
                tracing::error!(error = %e, "cannot watch for stop signals");
                return;
            }
        };
        tracing::info!(graceful, "stop signal received");
        handle.stop(graceful).await;
    });
    app.run_until_stopped().await?;
    tracing::info!("tokenmint stopped");
    Ok(())
}

/// Waits for SIGTERM, SIGINT or SIGQUIT; whether the stop should be graceful.
async fn stop_signal() -> std::io::Result<bool> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int, mut quit) = (
        signal(SignalKind::terminate())?,
        signal(SignalKind::interrupt())?,
        signal(SignalKind::quit())?,
    );
    Ok(tokio::select! {
        _ = term.recv() => true,
        _ = int.recv() => true,
        _ = quit.recv() => false,
    })
}

/// `tokenmint bootstrap-admin [--name NAME]`: prints the new admin's id and secret once.
pub async fn bootstrap(settings: Settings, name: &str) -> CommandResult {
    let store = redis_store(&settings).await?;
    let hasher = Hasher::new(&settings.argon2)?;
    let policy = BootstrapPolicy::from_settings(&settings);
    let (client, secret) = bootstrap_admin(&store, &hasher, policy, name).await?;
    println!(
        "{}",
        json!({"client_id": client.client_id, "client_secret": secret.expose()})
    );
    Ok(())
}

/// `tokenmint keys generate --alg ALG [--dir DIR]`.
pub fn generate_key(dir: &Path, alg: Alg) -> CommandResult {
    let (path, kid) = keys::generate(dir, alg)?;
    println!("{}", json!({"path": path, "kid": kid, "alg": alg.name()}));
    Ok(())
}

/// The key store of the configured Redis (`keys.source = "redis"`), for `keys rotate`.
async fn key_store(settings: &Settings) -> Result<std::sync::Arc<KeyStore>, Box<dyn Error>> {
    if settings.keys.source != KeySource::Redis {
        return Err(crate::keystore::KeyStoreError::FolderSource.into());
    }
    let store = redis_store(settings).await?;
    Ok(KeyStore::open(settings, store).await?)
}

/// `tokenmint keys rotate [--alg ALG]`: publishes the next key of the key store; it signs
/// after `keys.publish_ahead_secs`. Audited like the admin API's rotation.
pub async fn rotate_key(settings: &Settings, alg: Option<Alg>) -> CommandResult {
    let keys = key_store(settings).await?;
    let result = keys.rotate(alg).await;
    let auditor = Auditor::new(redis_store(settings).await?, &settings.audit);
    let actor = format!("cli:{}", whoami());
    let event = match &result {
        Ok(view) => Event::new(
            &cli_origin(),
            actor,
            Action::RotateKey,
            format!("signingKeys/{}", view.kid),
        ),
        Err(e) => Event::new(
            &cli_origin(),
            actor,
            Action::RotateKey,
            "signingKeys".into(),
        )
        .failed("ABORTED", e.to_string()),
    };
    auditor.record(event).await;
    let view = result?;
    println!("{}", serde_json::to_string(&view)?);
    Ok(())
}

fn cli_origin() -> Origin {
    let mut origin = Origin::internal(Face::Cli);
    origin.path = "keys rotate".into();
    origin
}

/// The user running a command, for its audit event.
fn whoami() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| format!("uid {}", rustix::process::geteuid().as_raw()))
}

/// `tokenmint keys list [--output json]`: each key's state and times (key store), or the
/// keys folder's keys and which one signs.
pub async fn list_keys(settings: &Settings, json_output: bool) -> CommandResult {
    let views = match settings.keys.source {
        KeySource::Redis => {
            // Listing needs no KEK: the schedule's public part is enough.
            let store = redis_store(settings).await?;
            let schedule = store
                .signing_keys(false)
                .await?
                .ok_or("the key store holds no keys yet: start a server, which makes the first")?;
            let now = crate::domain::Timestamp::now();
            schedule
                .keys
                .iter()
                .map(|k| KeyView::of_record(k, now))
                .collect()
        }
        KeySource::Folder => {
            let ring = KeyRing::load(
                &settings.keys.dir,
                &settings.keys.active,
                &settings.tokens.typ,
            )?;
            KeyView::of_ring(&ring)
        }
    };
    if json_output {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "signingKeys": views }))?
        );
        return Ok(());
    }
    let time = |t: Option<crate::domain::Timestamp>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_millis(t.as_millis()),
                )
                .to_string()
            },
        )
    };
    println!(
        "{:<43}  {:<5}  {:<9}  {:<20}  {:<20}  {:<20}  {:<20}",
        "KID", "ALG", "STATE", "CREATED", "SIGNS FROM", "SIGNS UNTIL", "RETIRES"
    );
    for v in views {
        println!(
            "{:<43}  {:<5}  {:<9}  {:<20}  {:<20}  {:<20}  {:<20}",
            v.kid,
            v.alg,
            v.state.as_str(),
            time(v.create_time),
            time(v.signs_from),
            time(v.signs_until),
            v.file
                .map_or_else(|| time(v.retire_time), |f| format!("(file {f})")),
        );
    }
    Ok(())
}

/// `tokenmint keys new-kek --out FILE`: writes a new key-encryption key (mode 0600; never
/// over an existing file).
pub fn new_kek(out: &Path) -> CommandResult {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let text = crate::crypto::kek::Kek::generate()?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .map_err(|e| format!("{}: {e}", out.display()))?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o600))?;
    println!(
        "{}",
        json!({"path": out, "kek_id": crate::crypto::kek::Kek::from_base64(&text)?.id()})
    );
    Ok(())
}
