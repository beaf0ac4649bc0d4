use redis::AsyncCommands;
use serde_json::Value;

use crate::helpers::{ORG, Spawn, TestApp, seed_create_body, spawn, spawn_app, store_for};

#[tokio::test]
async fn a_restarted_server_keeps_clients_and_keys() {
    crate::helpers::needs_redis!("a second server reads what the first stored in Redis");
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
    crate::helpers::needs_redis!("it reads every Redis key");
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
            "stream" => {
                let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
                    .arg(key)
                    .arg("-")
                    .arg("+")
                    .query_async(&mut redis)
                    .await
                    .unwrap();
                assert!(!entries.is_empty(), "the audit stream holds the writes");
                format!("{entries:?}")
            }
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
    crate::helpers::needs_redis!("it reads the Redis key layout");
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
    crate::helpers::needs_redis!("it writes a dangling index entry into Redis");
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

/// A token request that is still in argon2 when its client (or secret) is deleted must not
/// write a last-use record afterwards: no key may outlive the client.
#[tokio::test]
async fn a_use_recorded_after_a_delete_leaves_no_keys_behind() {
    crate::helpers::needs_redis!("it reads the seen-hash in Redis");
    use std::time::Duration;
    let app = spawn(Spawn {
        // argon2 of about 0.1 s: the delete lands while the token request is verifying.
        configure: Box::new(|s| s.argon2.iterations = 12.try_into().unwrap()),
        ..Spawn::default()
    })
    .await;
    let mut redis = app.redis().await;
    for round in 0..6 {
        let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
        let id = client["client_id"].as_str().unwrap().to_owned();
        let sid = client["secrets"][0]["id"].as_str().unwrap().to_owned();
        let path = format!("{}/{id}", TestApp::clients_path(ORG));
        let token = app.token_request(&id, &secret, &[]);
        // Half the rounds delete the client, half only the secret that is in use.
        let delete = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let target = if round % 2 == 0 {
                path.clone()
            } else {
                format!("{path}/secrets/{sid}")
            };
            app.delete(&target).await.status()
        };
        let (token, deleted) = tokio::join!(token, delete);
        assert_eq!(deleted, reqwest::StatusCode::OK, "round {round}");
        assert_eq!(
            token.status(),
            reqwest::StatusCode::OK,
            "round {round}: the request read the client before the delete"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
        // The contract's layout (§6): {prefix}:client:{<client_id>}:seen.
        let seen_key = format!("{}:client:{{{id}}}:seen", app.prefix);
        let seen: std::collections::HashMap<String, String> =
            redis.hgetall(seen_key).await.unwrap();
        assert!(
            !seen.contains_key(&sid),
            "round {round}: a use of the deleted secret was recorded after the delete"
        );
        if round % 2 == 0 {
            assert!(
                seen.is_empty(),
                "round {round}: the deleted client's seen-hash was recreated: {seen:?}"
            );
        }
    }
}

/// A Redis that refuses writes (`maxmemory` reached with `noeviction`): every write is a
/// 503, reads go on, nothing stored is lost or half-written, and writes resume after.
#[tokio::test]
async fn a_redis_that_refuses_writes_gives_503_and_loses_nothing() {
    use crate::helpers::{OwnRedis, assert_error};
    use reqwest::StatusCode;
    use serde_json::json;
    let redis = OwnRedis::start();
    let app = spawn(Spawn {
        redis_url: Some(redis.url()),
        ..Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let path = format!("{}/{id}", TestApp::clients_path(ORG));
    app.token_for(&id, &secret).await;
    let before: Value = app.get_json(&path).await;
    let mut raw = app.redis().await;
    let dump_before: usize = redis::cmd("DBSIZE").query_async(&mut raw).await.unwrap();

    let full = |limit: &str| {
        let mut raw = raw.clone();
        let limit = limit.to_owned();
        async move {
            let () = redis::cmd("CONFIG")
                .arg("SET")
                .arg("maxmemory-policy")
                .arg("noeviction")
                .arg("maxmemory")
                .arg(limit)
                .query_async(&mut raw)
                .await
                .unwrap();
        }
    };
    full("1").await;
    let writes = [
        (
            "create",
            app.post(&TestApp::clients_path(ORG), &seed_create_body())
                .await,
        ),
        (
            "update",
            app.patch(&path, &json!({"description": "lost?"})).await,
        ),
        (
            "add a secret",
            app.post(&format!("{path}/secrets"), &json!({})).await,
        ),
        (
            "create on /v1",
            app.post("/v1/clients", &json!({"displayName": "x"})).await,
        ),
    ];
    for (case, response) in writes {
        assert_eq!(response.headers()["retry-after"], "1", "case: {case}");
        assert_error(response, StatusCode::SERVICE_UNAVAILABLE, &[], case).await;
    }
    // Reads and warm tokens are still served.
    assert_eq!(app.get_json(&path).await, before);
    assert_eq!(
        app.token_request(&id, &secret, &[]).await.status(),
        StatusCode::OK
    );

    full("0").await;
    let dump_after: usize = redis::cmd("DBSIZE").query_async(&mut raw).await.unwrap();
    assert_eq!(dump_after, dump_before, "a refused write left a key behind");
    assert_eq!(app.get_json(&path).await, before, "nothing was lost");
    let response = app
        .patch(&path, &json!({"description": "now it lands"}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    app.create_client(ORG, &seed_create_body()).await;
}
