use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;

use crate::helpers::{ORG, Spawn, seed_create_body, spawn};
use tokenmint::config::Settings;
use tokenmint::startup::{Application, StartError};
use tokenmint::store::Store;

/// A self-signed certificate for 127.0.0.1 and its key (mode 0600) in `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf, String) {
    let issued =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, issued.cert.pem()).unwrap();
    std::fs::write(&key, issued.signing_key.serialize_pem()).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    (cert, key, issued.cert.pem())
}

#[tokio::test]
async fn a_token_is_issued_and_verified_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, pem) = certificate(dir.path());
    let app = spawn(Spawn {
        configure: Box::new(move |s: &mut Settings| {
            s.server.tls.cert = cert;
            s.server.tls.key = key;
        }),
        trust: Some(pem),
        ..Spawn::default()
    })
    .await;
    assert!(app.base.starts_with("https://") && app.issuer.starts_with("https://"));
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let token = app
        .token_for(client["client_id"].as_str().unwrap(), &secret)
        .await;
    let claims = app.verify(&token).await;
    assert_eq!(claims["iss"], app.issuer);
    // Plain HTTP to the TLS port gets no token.
    let plain = app.base.replace("https://", "http://");
    let response = reqwest::Client::new()
        .get(format!("{plain}/healthz"))
        .send()
        .await;
    assert!(response.is_err() || response.unwrap().status() != StatusCode::OK);
}

async fn start_error(settings: Settings) -> String {
    match Application::build(settings, Store::memory("tmtls")).await {
        Err(e @ (StartError::Tls(_) | StartError::Keys(_))) => e.to_string(),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("the server started"),
    }
}

#[tokio::test]
async fn private_keys_readable_by_others_stop_the_server_with_a_fix() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = certificate(dir.path());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (signing, _) =
        tokenmint::crypto::keys::generate(keys.path(), tokenmint::crypto::Alg::Es256).unwrap();

    let mut settings = Settings::defaults();
    settings.server.bind = "127.0.0.1:0".into();
    settings.keys.dir = keys.path().to_owned();
    settings.server.tls.cert = cert.clone();
    settings.server.tls.key = key.clone();
    let message = start_error(settings.clone()).await;
    assert!(
        message.contains("chmod 600") && message.contains("key.pem"),
        "{message}"
    );

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&signing, std::fs::Permissions::from_mode(0o640)).unwrap();
    let message = start_error(settings.clone()).await;
    assert!(
        message.contains("chmod 600"),
        "a group-readable signing key: {message}"
    );

    settings.server.tls.key = PathBuf::new();
    let message = start_error(settings).await;
    assert!(message.contains("set together"), "{message}");
}
