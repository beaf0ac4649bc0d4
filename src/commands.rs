//! What each command-line command does, once the CLI is parsed and settings loaded.

use serde_json::json;
use std::error::Error;
use std::path::Path;

use crate::admin::service::{BootstrapPolicy, bootstrap_admin};
use crate::config::{Loaded, Settings};
use crate::crypto::keys::{self, Alg};
use crate::crypto::{Hasher, KeyRing};
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
        if KeyRing::folder_is_empty(&settings.keys.dir)? {
            let (path, kid) = keys::generate(&settings.keys.dir, Alg::Rs256)?;
            eprintln!("  generated signing key {} (kid {kid})", path.display());
        }
    }
    let app = Application::build(settings, store)?;
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
