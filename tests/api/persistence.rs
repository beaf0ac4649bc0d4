use redis::AsyncCommands;
use serde_json::Value;

use crate::helpers::{ORG, Spawn, TestApp, seed_create_body, spawn, spawn_app, store_for};

#[tokio::test]
async fn a_restarted_server_keeps_clients_and_keys() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let old_token = app.token_for(&id, &secret).await;
    app.stop().await;
    assert!(
        app.http.get(app.url("/healthz")).send().await.is_err(),
        "the first server is down"
    );

    let again = spawn(Spawn {
        prefix: Some(app.prefix.clone()),
        keys_dir: Some(app.keys_dir.clone()),
        ..Spawn::default()
    })
    .await;
    let body: Value = again
        .get_json(&format!("{}/{id}", TestApp::clients_path(ORG)))
        .await;
    assert_eq!(body["client"]["name"], "GitHub Actions Deployment Service");
    let new_token = again.token_for(&id, &secret).await;
    let old_header = jsonwebtoken::decode_header(&old_token).unwrap();
    let new_header = jsonwebtoken::decode_header(&new_token).unwrap();
    assert_eq!(
        old_header.kid, new_header.kid,
        "the same key signs after a restart"
    );
    // The restarted server listens on a new port (a new issuer), so check that a token
    // from before the restart still finds its key in the new server's JWKS.
    let jwks: jsonwebtoken::jwk::JwkSet = again.public_json("/keys").await;
    assert!(jwks.find(old_header.kid.as_deref().unwrap()).is_some());
}

#[tokio::test]
async fn no_redis_key_holds_a_plain_secret() {
    let app = spawn_app().await;
    let (client, first) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let added: Value = app
        .post(
            &format!("{}/{id}/secrets", TestApp::clients_path(ORG)),
            &serde_json::json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let second = added["plain_secret"].as_str().unwrap().to_owned();
    app.token_for(id, &first).await;
    let mut plains = vec![first, second, app.admin_secret.clone()];
    plains.retain(|p| p.len() > 10);
    assert_eq!(plains.len(), 3);

    let mut redis = app.redis().await;
    let keys: Vec<String> = {
        let mut iter: redis::AsyncIter<String> =
            redis.scan_match(format!("{}:*", app.prefix)).await.unwrap();
        let mut keys = Vec::new();
        while let Some(key) = iter.next_item().await {
            keys.push(key.unwrap());
        }
        keys
    };
    assert!(
        keys.iter().any(|k| k.contains(id)),
        "the client is stored under the prefix: {keys:?}"
    );
    let mut dumped = String::new();
    for key in &keys {
        let kind: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut redis)
            .await
            .unwrap();
        let text = match kind.as_str() {
            "string" => redis.get::<_, String>(key).await.unwrap(),
            "hash" => format!(
                "{:?}",
                redis
                    .hgetall::<_, Vec<(String, String)>>(key)
                    .await
                    .unwrap()
            ),
            "zset" => format!(
                "{:?}",
                redis.zrange::<_, Vec<String>>(key, 0, -1).await.unwrap()
            ),
            other => panic!("unexpected key type {other} for {key}"),
        };
        dumped.push_str(&text);
    }
    assert!(dumped.contains("$argon2id$"), "hashes are stored");
    for plain in &plains {
        assert!(
            !dumped.contains(plain.as_str()),
            "a plain secret is stored in Redis"
        );
        assert!(
            !dumped.contains(&plain[3..]),
            "a plain secret's random part is stored in Redis"
        );
    }
}

#[tokio::test]
async fn the_key_layout_follows_the_contract() {
    let app = spawn_app().await;
    let (client, _) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let mut redis = app.redis().await;
    let p = &app.prefix;
    let doc: String = redis.get(format!("{p}:client:{{{id}}}")).await.unwrap();
    let doc: Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(doc["version"], 1);
    let org_index: Vec<String> = redis
        .zrange(format!("{p}:org:{{{ORG}}}:clients"), 0, -1)
        .await
        .unwrap();
    assert_eq!(org_index, [id]);
    let all: Vec<String> = redis.zrange(format!("{p}:clients"), 0, -1).await.unwrap();
    assert!(all.contains(&id.to_owned()));
}

#[tokio::test]
async fn an_index_entry_left_by_a_crash_is_skipped_and_removed() {
    let app = spawn_app().await;
    let (client, _) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let mut redis = app.redis().await;
    // As if a create crashed after writing its index entry but before its document.
    let ghost = "m2morg_999999999999999999";
    let _: () = redis
        .zadd(format!("{}:org:{{{ORG}}}:clients", app.prefix), ghost, 1)
        .await
        .unwrap();
    let list: Value = app.get_json(&TestApp::clients_path(ORG)).await;
    let ids: Vec<&str> = list["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id]);
    let index: Vec<String> = redis
        .zrange(format!("{}:org:{{{ORG}}}:clients", app.prefix), 0, -1)
        .await
        .unwrap();
    assert_eq!(index, [id], "the dangling entry is cleaned up");
    let store = store_for(&app.settings).await;
    assert_eq!(
        store.count_clients(None).await.unwrap(),
        2,
        "admin + client in the global index"
    );
}
