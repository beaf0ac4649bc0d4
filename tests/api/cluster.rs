//! The same server against a three-node Redis Cluster (started by `scripts/test.sh`).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ORG, Spawn, TestApp, seed_create_body, spawn};

fn cluster_urls() -> String {
    std::env::var("TMTEST_REDIS_CLUSTER_URLS").expect(
        "TMTEST_REDIS_CLUSTER_URLS is not set: run the tests with scripts/test.sh, \
         which starts a Redis Cluster",
    )
}

fn on_cluster() -> Spawn {
    Spawn {
        redis_url: Some(cluster_urls()),
        configure: Box::new(|s| s.redis.cluster = true),
        ..Spawn::default()
    }
}

/// How many of this app's keys each cluster node holds.
async fn keys_per_node(app: &TestApp) -> Vec<usize> {
    let mut counts = Vec::new();
    for url in cluster_urls().split(',') {
        let client = redis::Client::open(url).unwrap();
        let mut node = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = node.keys(format!("{}:*", app.prefix)).await.unwrap();
        counts.push(keys.len());
    }
    counts
}

#[tokio::test]
async fn every_operation_works_on_a_redis_cluster() {
    let app = spawn(on_cluster()).await;

    // Several clients: their keys land in different slots, on different nodes.
    let mut created = BTreeSet::new();
    let mut first = None;
    for n in 0..6 {
        let mut body = seed_create_body();
        body["name"] = json!(format!("cluster client {n}"));
        let (client, secret) = app.create_client(ORG, &body).await;
        let id = client["client_id"].as_str().unwrap().to_owned();
        created.insert(id.clone());
        first.get_or_insert((id, secret, client));
    }
    let (id, secret, client) = first.unwrap();
    let nodes_used = keys_per_node(&app).await.iter().filter(|n| **n > 0).count();
    assert!(nodes_used >= 2, "keys on {nodes_used} node(s)");

    // Paging reads the index and then documents and usage from many slots.
    let mut listed = BTreeSet::new();
    let mut page_token = String::new();
    loop {
        let page = app
            .get_json(&format!(
                "{}?page_size=4&page_token={page_token}",
                TestApp::clients_path(ORG)
            ))
            .await;
        for c in page["clients"].as_array().unwrap() {
            listed.insert(c["client_id"].as_str().unwrap().to_owned());
        }
        page_token = page["next_page_token"].as_str().unwrap_or("").to_owned();
        if page_token.is_empty() {
            break;
        }
    }
    assert!(
        created.is_subset(&listed),
        "{created:?} not all in {listed:?}"
    );

    // Tokens, brute-force counting across two slots, compare-and-set updates.
    let token = app.token_for(&id, &secret).await;
    assert_eq!(app.verify(&token).await["sub"], id.as_str());
    let wrong = app
        .token_request(&id, &crate::helpers::altered(&secret), &[])
        .await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let path = format!("{}/{id}", TestApp::clients_path(ORG));
    let updated = app
        .patch(&path, &json!({"description": "on a cluster"}))
        .await;
    assert_eq!(updated.status(), StatusCode::OK);
    let fetched: Value = app.get_json(&path).await;
    assert_eq!(fetched["client"]["description"], "on a cluster");

    // A second secret, then deleting the first one and the client.
    let added = app.post(&format!("{path}/secrets"), &json!({})).await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let sid = client["secrets"][0]["id"].as_str().unwrap();
    let removed = app.delete(&format!("{path}/secrets/{sid}")).await;
    assert_eq!(removed.status(), StatusCode::OK);
    assert_eq!(
        app.token_request(&id, &secret, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.delete(&path).await.status(), StatusCode::OK);
    assert_eq!(app.get(&path).await.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_secret_deleted_through_one_instance_is_refused_by_another_on_a_cluster() {
    let one = spawn(on_cluster()).await;
    let two = spawn(Spawn {
        prefix: Some(one.prefix.clone()),
        keys_dir: Some(one.keys_dir.clone()),
        ..on_cluster()
    })
    .await;
    let (client, secret) = one.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let sid = client["secrets"][0]["id"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(
            two.token_request(&id, &secret, &[]).await.status(),
            StatusCode::OK
        );
    }
    let deleted = one
        .delete(&format!(
            "{}/{id}/secrets/{sid}",
            TestApp::clients_path(ORG)
        ))
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(1);
    while two.token_request(&id, &secret, &[]).await.status() != StatusCode::UNAUTHORIZED {
        assert!(
            Instant::now() < deadline,
            "instance two still accepts the deleted secret"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn concurrent_wrong_guesses_through_two_instances_stay_within_the_limit_on_a_cluster() {
    let one = spawn(on_cluster()).await;
    let two = spawn(Spawn {
        prefix: Some(one.prefix.clone()),
        keys_dir: Some(one.keys_dir.clone()),
        ..on_cluster()
    })
    .await;
    let (client, _) = one.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let runs = one.argon2_runs().await + two.argon2_runs().await;
    let guesses = (0..60).map(|n| {
        let app = if n % 2 == 0 { &one } else { &two };
        let id = id.clone();
        async move {
            app.token_request(&id, &format!("tm_wrong-{n}"), &[])
                .await
                .status()
        }
    });
    let statuses = futures_util::future::join_all(guesses).await;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let blocked = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(refused + blocked, 60, "{statuses:?}");
    assert!(
        (1..=10).contains(&refused),
        "{refused} wrong guesses got a verdict (limit 10)"
    );
    let verdicts = one.argon2_runs().await + two.argon2_runs().await - runs;
    assert!(verdicts <= 10, "argon2 ran {verdicts} times (limit 10)");
}

#[tokio::test]
async fn revocation_and_introspection_work_on_a_redis_cluster() {
    let app = spawn(on_cluster()).await;
    let mut body = seed_create_body();
    body["scopes"] = json!([app.settings.introspection.scope]);
    let (caller, caller_secret) = app.create_client(ORG, &body).await;
    let caller = caller["client_id"].as_str().unwrap().to_owned();
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let token = app.token_for(&id, &secret).await;
    let introspect = |token: String| {
        let (http, url) = (app.http.clone(), app.url("/oauth/introspect"));
        let (caller, caller_secret) = (caller.clone(), caller_secret.clone());
        async move {
            let answer: Value = http
                .post(url)
                .basic_auth(caller, Some(caller_secret))
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["active"].clone()
        }
    };
    assert_eq!(introspect(token.clone()).await, true);
    let response = app
        .http
        .post(app.url("/oauth/revoke"))
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        introspect(token).await,
        false,
        "the denylist key lives in the client's slot"
    );
}

#[tokio::test]
async fn the_key_store_works_on_a_redis_cluster_and_a_second_instance_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let kek = dir.path().join("kek");
    tokenmint::commands::new_kek(&kek).unwrap();
    let key_store = move |kek: std::path::PathBuf| {
        Box::new(move |s: &mut tokenmint::config::Settings| {
            s.redis.cluster = true;
            s.keys.source = tokenmint::config::KeySource::Redis;
            s.keys.kek_file = kek;
            s.keys.watch = Duration::from_secs(1);
        })
    };
    let one = spawn(Spawn {
        redis_url: Some(cluster_urls()),
        configure: key_store(kek.clone()),
        ..Spawn::default()
    })
    .await;
    let two = spawn(Spawn {
        redis_url: Some(cluster_urls()),
        prefix: Some(one.prefix.clone()),
        configure: key_store(kek),
        ..Spawn::default()
    })
    .await;
    let token = two.token_for(&two.admin_id, &two.admin_secret).await;
    two.verify(&token).await;
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let jwks: Value = one.get_json("/keys").await;
    assert_eq!(
        jwks["keys"][0]["kid"],
        kid.as_str(),
        "one key store, one key"
    );

    let response = one.post("/v1/signingKeys/rotate", &json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let made: Value = response.json().await.unwrap();
    let kid = made["kid"].as_str().unwrap();
    let started = Instant::now();
    loop {
        let jwks: Value = two.get_json("/keys").await;
        let kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        if kids.contains(&kid) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the other instance publishes the new key within keys.watch_secs: {kids:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
