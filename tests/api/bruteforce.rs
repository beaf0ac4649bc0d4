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
            s.bruteforce.max_per_address = 5.try_into().unwrap();
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
        configure: Box::new(|s| s.bruteforce.max_per_client_address = 3.try_into().unwrap()),
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

/// Sends `guesses` wrong secrets at once for `ids[i % ids.len()]` from `address`; returns
/// how many got 401 and how many 429.
async fn storm(app: &TestApp, ids: &[String], guesses: usize, address: &str) -> (usize, usize) {
    let requests = (0..guesses).map(|n| {
        let id = ids[n % ids.len()].clone();
        async move {
            // Distinct guesses: none shares another's argon2 run.
            attempt(app, &id, &format!("tm_wrong-guess-{n}"), address)
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(requests).await;
    let count = |code| statuses.iter().filter(|s| **s == code).count();
    let (refused, blocked) = (
        count(StatusCode::UNAUTHORIZED),
        count(StatusCode::TOO_MANY_REQUESTS),
    );
    assert_eq!(refused + blocked, guesses, "other statuses: {statuses:?}");
    (refused, blocked)
}

#[tokio::test]
async fn concurrent_wrong_guesses_get_at_most_the_limit_of_verdicts() {
    concurrent_wrong_guesses(false).await;
}

#[tokio::test]
async fn concurrent_wrong_guesses_are_limited_on_the_in_memory_store_too() {
    concurrent_wrong_guesses(true).await;
}

/// argon2 slow enough (about 0.1 s) that every guess of a burst is in flight before the
/// first verdict: a limit checked before argon2 and counted after would let them all in.
fn slow_argon2(settings: &mut Settings) {
    behind_proxy(settings);
    settings.argon2.iterations = 12.try_into().unwrap();
}

async fn concurrent_wrong_guesses(memory: bool) {
    let app = spawn(Spawn {
        configure: Box::new(slow_argon2),
        memory,
        ..Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let attacker = "203.0.113.70";
    let runs = app.argon2_runs().await;
    let (refused, blocked) = storm(&app, std::slice::from_ref(&id), 60, attacker).await;
    assert!(
        refused <= 10,
        "{refused} wrong guesses got a verdict (limit 10)"
    );
    let verdicts = app.argon2_runs().await - runs;
    assert!(verdicts <= 10, "argon2 ran {verdicts} times (limit 10)");
    assert_eq!(refused + blocked, 60);
    assert!(refused >= 1);
    // Still locked afterwards, and the real client gets in from elsewhere.
    assert_blocked(
        attempt(&app, &id, &secret, attacker).await,
        "after the storm",
    )
    .await;
    let response = attempt(&app, &id, &secret, "198.51.100.70").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_per_address_limit_holds_under_concurrency_too() {
    let app = spawn(Spawn {
        configure: Box::new(|s| {
            slow_argon2(s);
            s.bruteforce.max_per_address = 20.try_into().unwrap();
        }),
        ..Spawn::default()
    })
    .await;
    // Sequential failures first, then a parallel burst over many client ids (so no pair
    // limit is reached): together never more than the address's limit.
    let ids: Vec<String> = (0..30)
        .map(|n| format!("m2morg_{:018}", 1000 + n))
        .collect();
    let sprayer = "203.0.113.71";
    for id in &ids[..15] {
        let response = attempt(&app, id, "tm_x", sprayer).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let runs = app.argon2_runs().await;
    let (refused, _) = storm(&app, &ids, 60, sprayer).await;
    let verdicts = app.argon2_runs().await - runs;
    assert!(verdicts <= 5, "argon2 ran {verdicts} times for the burst");
    assert!(
        refused <= 5,
        "{} failures from one address got a verdict (limit 20)",
        15 + refused
    );
}

#[tokio::test]
async fn forwarded_for_entries_with_ports_are_parsed() {
    let app = spawn(Spawn {
        configure: Box::new(|s| {
            behind_proxy(s);
            s.bruteforce.max_per_client_address = 3.try_into().unwrap();
        }),
        ..Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    for port in [1111, 2222, 3333] {
        let response = attempt(&app, id, "tm_x", &format!("203.0.113.8:{port}")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // The same address with yet another port is the same attacker...
    assert_blocked(
        attempt(&app, id, &secret, "203.0.113.8:4444").await,
        "ip:port",
    )
    .await;
    // ...but neither the proxy's own address nor other clients behind it are blamed.
    for address in ["[2001:db8::8]:443", "198.51.100.8:80", "198.51.100.9"] {
        let response = attempt(&app, id, &secret, address).await;
        assert_eq!(response.status(), StatusCode::OK, "from {address}");
    }
}
