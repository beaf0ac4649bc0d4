use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{ORG, OwnRedis, Spawn, TestApp, assert_error, seed_create_body, spawn};

#[tokio::test]
async fn while_redis_is_down_everything_answers_503_and_recovers_after() {
    let mut redis = OwnRedis::start();
    let app = spawn(Spawn {
        redis_url: Some(redis.url()),
        ..Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();

    redis.stop();
    let started = Instant::now();
    let response = app.get(&TestApp::clients_path(ORG)).await;
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        &[],
        "admin while Redis is down",
    )
    .await;
    let response = app.token_request(&id, &secret, &[]).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "failures must not hang: {:?}",
        started.elapsed()
    );

    // Redis comes back (empty: it had no persistence); service resumes by itself.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
        if ready.status() == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "readyz did not recover");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let response = app.get(&TestApp::clients_path(ORG)).await;
    // The admin client was lost with Redis's data, so the token no longer authenticates:
    // an answer from the store, not an outage.
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_frozen_redis_gets_503_within_the_timeout_not_a_hang() {
    let mut redis = OwnRedis::start();
    let app = spawn(Spawn {
        redis_url: Some(redis.url()),
        ..Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();

    // Connections stay open but nothing answers: only a timeout can end a request.
    redis.signal("STOP");
    let started = Instant::now();
    let response = app.token_request(&id, &secret, &[]).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let response = app.get(&TestApp::clients_path(ORG)).await;
    assert_error(
        response,
        StatusCode::SERVICE_UNAVAILABLE,
        &[],
        "admin while Redis is frozen",
    )
    .await;
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "requests hung: {:?}",
        started.elapsed()
    );

    redis.signal("CONT");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if app.token_request(&id, &secret, &[]).await.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the token endpoint did not recover"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    redis.stop();
}
