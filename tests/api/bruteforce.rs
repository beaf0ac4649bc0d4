use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ORG, Spawn, TestApp, seed_create_body, spawn};
use tokenmint::config::Settings;

/// The test client connects from 127.0.0.1: a trusted proxy, given as a range.
fn behind_proxy(settings: &mut Settings) {
    settings.server.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
}

/// A token request with body credentials, as if from `address` behind the proxy.
async fn attempt(app: &TestApp, id: &str, secret: &str, address: &str) -> reqwest::Response {
    app.http
        .post(app.url("/oauth/token"))
        .header("x-forwarded-for", address)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
}

async fn assert_blocked(response: reqwest::Response, case: &str) {
    assert_eq!(
        response.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "case: {case}"
    );
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (1..=60).contains(&retry),
        "case: {case}: Retry-After {retry}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests", "case: {case}");
    assert!(body["error_description"].is_string());
}

#[tokio::test]
async fn failures_from_one_address_lock_out_that_address_only() {
    let app = spawn(Spawn {
        configure: Box::new(behind_proxy),
        ..Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let attacker = "203.0.113.7";
    for n in 1..=10 {
        let response = attempt(&app, id, "tm_wrong-guess", attacker).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "failure {n}");
    }
    // The 11th try from that address is refused even with the right secret...
    assert_blocked(
        attempt(&app, id, &secret, attacker).await,
        "right secret, locked address",
    )
    .await;
    assert_blocked(
        attempt(&app, id, "tm_wrong-guess", attacker).await,
        "wrong secret, locked address",
    )
    .await;
    // ...while the real client, elsewhere, is not locked out.
    let response = attempt(&app, id, &secret, "198.51.100.2").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_success_clears_the_pairs_failures() {
    let app = spawn(Spawn {
        configure: Box::new(behind_proxy),
        ..Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let address = "192.0.2.44";
    for _ in 0..9 {
        attempt(&app, id, "tm_typo", address).await;
    }
    assert_eq!(
        attempt(&app, id, &secret, address).await.status(),
        StatusCode::OK
    );
    for n in 0..9 {
        let response = attempt(&app, id, "tm_typo", address).await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "failure {n} after a success"
        );
    }
}

#[tokio::test]
async fn one_address_spraying_many_client_ids_is_stopped() {
    let app = spawn(Spawn {
        configure: Box::new(|s| {
            behind_proxy(s);
            s.bruteforce.max_per_address = 5;
        }),
        ..Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let sprayer = "203.0.113.99";
    for n in 0..5 {
        let unknown = format!("m2morg_00000000000000000{n}");
        assert_eq!(
            attempt(&app, &unknown, "tm_x", sprayer).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_blocked(
        attempt(&app, id, &secret, sprayer).await,
        "sprayer, real client",
    )
    .await;
    assert_eq!(
        attempt(&app, id, &secret, "198.51.100.3").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn(Spawn {
        configure: Box::new(|s| s.bruteforce.max_per_client_address = 3),
        ..Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    // A new X-Forwarded-For each time does not spread the failures: the peer is counted.
    for n in 0..3 {
        let spoofed = format!("203.0.113.{n}");
        assert_eq!(
            attempt(&app, id, "tm_x", &spoofed).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_blocked(
        attempt(&app, id, &secret, "203.0.113.200").await,
        "spoofed header",
    )
    .await;
}
