use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{ORG, TestApp, seed_create_body, spawn_app};

async fn warm(app: &TestApp, id: &str, secret: &str) {
    for _ in 0..3 {
        assert_eq!(
            app.token_request(id, secret, &[]).await.status(),
            StatusCode::OK
        );
    }
}

#[tokio::test]
async fn a_remembered_secret_stops_working_on_the_very_next_request_after_a_change() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let sid = client["secrets"][0]["id"].as_str().unwrap().to_owned();
    let credential = format!("/v1/clients/{id}/credentials/{sid}");

    warm(&app, &id, &secret).await;
    let patch = |mask: &'static str, body: serde_json::Value| {
        let path = format!("{credential}?updateMask={mask}");
        let app = &app;
        async move { app.patch(&path, &body).await }
    };
    assert_eq!(
        patch("status", json!({"status": "INACTIVE"}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.token_request(&id, &secret, &[]).await.status(),
        StatusCode::UNAUTHORIZED,
        "deactivated"
    );
    assert_eq!(
        patch("status", json!({"status": "ACTIVE"})).await.status(),
        StatusCode::OK
    );
    warm(&app, &id, &secret).await;

    assert_eq!(
        patch("expireTime", json!({"expireTime": "2001-01-01T00:00:00Z"}))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.token_request(&id, &secret, &[]).await.status(),
        StatusCode::UNAUTHORIZED,
        "expired"
    );
    assert_eq!(
        patch("expireTime", json!({})).await.status(),
        StatusCode::OK
    );
    warm(&app, &id, &secret).await;

    let replacement = "replacement-secret-of-sufficient-length-42";
    assert_eq!(
        patch(
            "clientSecret",
            json!({"clientSecret": {"secret": replacement}})
        )
        .await
        .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.token_request(&id, &secret, &[]).await.status(),
        StatusCode::UNAUTHORIZED,
        "replaced"
    );
    warm(&app, &id, replacement).await;

    let added: serde_json::Value = app
        .post(
            &format!("{}/{id}/secrets", TestApp::clients_path(ORG)),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let other = added["plain_secret"].as_str().unwrap().to_owned();
    warm(&app, &id, &other).await;
    assert_eq!(app.delete(&credential).await.status(), StatusCode::OK);
    assert_eq!(
        app.token_request(&id, replacement, &[]).await.status(),
        StatusCode::UNAUTHORIZED,
        "deleted secret"
    );
    assert_eq!(
        app.token_request(&id, &other, &[]).await.status(),
        StatusCode::OK,
        "the other secret"
    );

    assert_eq!(
        app.delete(&format!("/v1/clients/{id}")).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.token_request(&id, &other, &[]).await.status(),
        StatusCode::UNAUTHORIZED,
        "deleted client"
    );
}

#[tokio::test]
async fn a_secret_deleted_through_one_instance_is_refused_by_another_within_a_second() {
    crate::helpers::needs_redis!("two instances share one Redis");
    let one = crate::helpers::spawn_app().await;
    let two = crate::helpers::spawn(crate::helpers::Spawn {
        prefix: Some(one.prefix.clone()),
        keys_dir: Some(one.keys_dir.clone()),
        ..crate::helpers::Spawn::default()
    })
    .await;
    let (client, secret) = one.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let sid = client["secrets"][0]["id"].as_str().unwrap();
    // Instance two has the client document and the verified secret cached.
    warm(&two, &id, &secret).await;
    let deleted = one
        .delete(&format!(
            "{}/{id}/secrets/{sid}",
            TestApp::clients_path(ORG)
        ))
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    loop {
        if two.token_request(&id, &secret, &[]).await.status() == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "instance two still accepts the deleted secret"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Calls of `command` Redis has served so far (INFO commandstats).
async fn served(redis: &mut redis::aio::MultiplexedConnection, command: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(redis)
        .await
        .unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

#[tokio::test]
async fn warm_token_requests_need_no_redis_round_trip() {
    let redis = crate::helpers::OwnRedis::start();
    let app = crate::helpers::spawn(crate::helpers::Spawn {
        redis_url: Some(redis.url()),
        ..crate::helpers::Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    warm(&app, &id, &secret).await;
    let mut conn = app.redis().await;
    let before = (
        served(&mut conn, "get").await,
        served(&mut conn, "zrange").await,
    );
    for _ in 0..30 {
        assert_eq!(
            app.token_request(&id, &secret, &[]).await.status(),
            StatusCode::OK
        );
    }
    let after = (
        served(&mut conn, "get").await,
        served(&mut conn, "zrange").await,
    );
    assert_eq!(
        after, before,
        "warm requests read Redis (GET, ZRANGE calls before/after)"
    );
}

#[tokio::test]
async fn remembered_secrets_are_forgotten_after_their_lifetime_without_any_traffic() {
    let app = crate::helpers::spawn(crate::helpers::Spawn {
        configure: Box::new(|s| {
            s.secrets.verified_cache_lifetime = std::time::Duration::from_secs(1)
        }),
        ..crate::helpers::Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    warm(&app, &id, &secret).await;
    let entries = |ready: serde_json::Value| ready["verified_cache"]["entries"].as_u64().unwrap();
    // The admin's own secret and this one.
    assert_eq!(entries(app.get_json("/readyz").await), 2);
    // Lifetime 1 s, swept every 250 ms: gone by 1.6 s with no token request in between.
    tokio::time::sleep(std::time::Duration::from_millis(1600)).await;
    assert_eq!(entries(app.get_json("/readyz").await), 0);
}

#[tokio::test]
async fn a_change_to_a_client_does_not_make_its_unchanged_secrets_pay_argon2_again() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    warm(&app, &id, &secret).await;
    let runs = app.argon2_runs().await;
    let patched = app
        .patch(
            &format!("{}/{id}", TestApp::clients_path(ORG)),
            &json!({"description": "a new version of the document"}),
        )
        .await;
    assert_eq!(patched.status(), StatusCode::OK);
    // Two new versions of the document: a changed description, then a second secret.
    let extra = app
        .post(
            &format!("{}/{id}/secrets", TestApp::clients_path(ORG)),
            &json!({}),
        )
        .await;
    assert_eq!(extra.status(), StatusCode::CREATED);
    let runs_after_create = app.argon2_runs().await;
    warm(&app, &id, &secret).await;
    assert_eq!(
        app.argon2_runs().await,
        runs_after_create,
        "the unchanged secret is still known after two new versions"
    );
    assert!(runs_after_create > runs, "creating a secret hashes it");
}
