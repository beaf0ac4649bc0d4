//! The keys folder reloaded by the real binary without a restart: on SIGHUP, and on its own
//! when the folder changes; a folder that no longer loads leaves the keys in use.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{DevProcess, free_port};

/// A new key in `keys`, a second after any other: generated names start with the UTC time
/// in seconds, and with `keys.active` empty the name that sorts last signs.
fn generate(keys: &Path) -> String {
    std::thread::sleep(Duration::from_millis(1_100));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokenmint"))
        .args(["keys", "generate", "--alg", "ES256", "--dir"])
        .arg(keys)
        .env_clear()
        .output()
        .unwrap();
    assert!(output.status.success());
    let made: Value = serde_json::from_slice(&output.stdout).unwrap();
    made["kid"].as_str().unwrap().to_owned()
}

async fn kids(http: &reqwest::Client, base: &str) -> Vec<String> {
    let jwks: Value = http
        .get(format!("{base}/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The `kid` of a token the dev admin gets now.
async fn signing_kid(http: &reqwest::Client, server: &DevProcess) -> String {
    let answer: Value = http
        .post(format!("{}/oauth/token", server.base))
        .basic_auth(
            server.admin["client_id"].as_str().unwrap(),
            server.admin["client_secret"].as_str(),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = answer["access_token"].as_str().unwrap();
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Polls until `kids` returns `want` keys, for up to `limit`.
async fn until_keys(
    http: &reqwest::Client,
    base: &str,
    want: usize,
    limit: Duration,
) -> Vec<String> {
    let started = Instant::now();
    loop {
        let now = kids(http, base).await;
        if now.len() == want || started.elapsed() > limit {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hangup(server: &DevProcess) {
    let status = std::process::Command::new("kill")
        .args(["-HUP", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn sighup_reloads_the_keys_folder_and_a_broken_one_leaves_the_keys_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let server = DevProcess::start(
        free_port(),
        &keys,
        &[],
        &[("TOKENMINT_KEYS__WATCH_SECS", "0")],
    );
    let http = reqwest::Client::new();
    let first = kids(&http, &server.base).await;
    assert_eq!(first.len(), 1);
    let etag_before = http
        .get(format!("{}/keys", server.base))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .clone();

    let new_kid = generate(&keys);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        kids(&http, &server.base).await,
        first,
        "no reload before SIGHUP (watch off)"
    );
    hangup(&server);
    let now = until_keys(&http, &server.base, 2, Duration::from_secs(5)).await;
    assert_eq!(now.len(), 2, "{now:?}");
    assert!(
        now.contains(&first[0]),
        "the old key stays published for its tokens"
    );
    assert_eq!(
        signing_kid(&http, &server).await,
        new_kid,
        "the newest key signs"
    );
    let etag_after = http
        .get(format!("{}/keys", server.base))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .clone();
    assert_ne!(etag_before, etag_after, "a new set, a new ETag");

    // A file that is not a key: the reload fails, the keys in use stay, tokens still work.
    std::fs::write(keys.join("zz-broken.pem"), "not a key").unwrap();
    std::fs::set_permissions(
        keys.join("zz-broken.pem"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    hangup(&server);
    let started = Instant::now();
    while !server.logs().contains("did not load") {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(kids(&http, &server.base).await, now);
    assert_eq!(signing_kid(&http, &server).await, new_kid);
    server.kill();
}

#[tokio::test]
async fn a_change_of_the_keys_folder_is_picked_up_without_a_signal() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let server = DevProcess::start(
        free_port(),
        &keys,
        &[],
        &[("TOKENMINT_KEYS__WATCH_SECS", "1")],
    );
    let http = reqwest::Client::new();
    assert_eq!(kids(&http, &server.base).await.len(), 1);
    let new_kid = generate(&keys);
    let now = until_keys(&http, &server.base, 2, Duration::from_secs(5)).await;
    assert_eq!(now.len(), 2, "{now:?}\n{}", server.logs());
    assert_eq!(signing_kid(&http, &server).await, new_kid);
    assert!(server.logs().contains("the keys folder changed"));
    server.kill();
}
