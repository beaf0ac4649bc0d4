//! RFC 7662 introspection and RFC 7009 revocation against the real server: every answer of
//! introspection (active, expired, revoked, foreign, malformed), revocation by the client,
//! by an admin, of a whole client, of a credential and of one `jti`, seen by another
//! instance at once, and honoured by admin authentication.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ORG, Spawn, TestApp, seed_create_body, spawn, spawn_app};

/// A client that may introspect (its id and secret).
async fn introspector(app: &TestApp) -> (String, String) {
    let mut body = seed_create_body();
    body["name"] = json!("resource server");
    body["scopes"] = json!([app.settings.introspection.scope]);
    let (client, secret) = app.create_client(ORG, &body).await;
    (client["client_id"].as_str().unwrap().to_owned(), secret)
}

async fn introspect(app: &TestApp, caller: &(String, String), token: &str) -> Value {
    let response = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(&caller.0, Some(&caller.1))
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

async fn revoke(app: &TestApp, id: &str, secret: &str, token: &str) -> reqwest::Response {
    app.http
        .post(app.url("/oauth/revoke"))
        .form(&[
            ("token", token),
            ("client_id", id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn introspection_tells_active_tokens_from_every_kind_of_dead_one() {
    let app = spawn(Spawn {
        configure: Box::new(|s| s.tokens.min_expiry = 1),
        ..Spawn::default()
    })
    .await;
    let caller = introspector(&app).await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let token = app.token_for(&id, &secret).await;

    let answer = introspect(&app, &caller, &token).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["sub"], id.as_str());
    assert_eq!(answer["client_id"], id.as_str());
    assert_eq!(answer["scope"], "deploy:applications read:deployments");
    assert_eq!(answer["token_type"], "Bearer");
    assert!(answer["jti"].as_str().unwrap().starts_with("tkn_"));
    assert_eq!(answer["iss"], app.issuer.as_str());

    // Malformed, and signed by a key that is not this server's.
    assert_eq!(
        introspect(&app, &caller, "not.a.token").await,
        json!({"active": false})
    );
    let other = spawn_app().await;
    let foreign = other.token_for(&other.admin_id, &other.admin_secret).await;
    assert_eq!(introspect(&app, &caller, &foreign).await["active"], false);

    // Expired (a 1 s client; jsonwebtoken allows 5 s of clock skew).
    let mut short = seed_create_body();
    short["expiry"] = json!(1);
    let (client, secret) = app.create_client(ORG, &short).await;
    let brief = app
        .token_for(client["client_id"].as_str().unwrap(), &secret)
        .await;
    assert_eq!(introspect(&app, &caller, &brief).await["active"], true);
    tokio::time::sleep(Duration::from_millis(7_200)).await;
    assert_eq!(introspect(&app, &caller, &brief).await["active"], false);

    // Its client deleted.
    let path = format!("{}/{id}", TestApp::clients_path(ORG));
    assert_eq!(app.delete(&path).await.status(), StatusCode::OK);
    assert_eq!(introspect(&app, &caller, &token).await["active"], false);
}

#[tokio::test]
async fn only_clients_with_the_scope_introspect() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let token = app.token_for(id, &secret).await;
    let response = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(id, Some(&secret))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
    let response = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(id, Some(format!("{secret}x")))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .http
        .post(app.url("/oauth/introspect"))
        .basic_auth(id, Some(&secret))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "token is required"
    );
}

#[tokio::test]
async fn a_client_revokes_its_own_tokens_and_only_those() {
    let app = spawn_app().await;
    let caller = introspector(&app).await;
    let (a, a_secret) = app.create_client(ORG, &seed_create_body()).await;
    let a = a["client_id"].as_str().unwrap().to_owned();
    let (b, b_secret) = app.create_client(ORG, &seed_create_body()).await;
    let b = b["client_id"].as_str().unwrap().to_owned();
    let (first, second) = (
        app.token_for(&a, &a_secret).await,
        app.token_for(&a, &a_secret).await,
    );
    let of_b = app.token_for(&b, &b_secret).await;

    assert_eq!(
        revoke(&app, &a, &a_secret, &first).await.status(),
        StatusCode::OK
    );
    assert_eq!(introspect(&app, &caller, &first).await["active"], false);
    assert_eq!(
        introspect(&app, &caller, &second).await["active"],
        true,
        "one token only"
    );
    // Again, and garbage: still 200 (RFC 7009 §2.2).
    assert_eq!(
        revoke(&app, &a, &a_secret, &first).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        revoke(&app, &a, &a_secret, "garbage").await.status(),
        StatusCode::OK
    );
    // Another client's token: refused, and it stays active.
    let response = revoke(&app, &a, &a_secret, &of_b).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
    assert_eq!(introspect(&app, &caller, &of_b).await["active"], true);
    // A wrong secret cannot revoke.
    let response = revoke(&app, &a, &format!("{a_secret}x"), &second).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // An admin's bearer token revokes any token of its tenant.
    let response = app
        .admin(app.http.post(app.url("/oauth/revoke")))
        .form(&[("token", of_b.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(introspect(&app, &caller, &of_b).await["active"], false);
}

#[tokio::test]
async fn admins_revoke_a_clients_a_credentials_or_one_tokens_and_another_instance_sees_it() {
    crate::helpers::needs_redis!("two instances share one Redis");
    let app = spawn_app().await;
    // One fleet: the same store, keys and issuer.
    let issuer = app.issuer.clone();
    let other = spawn(Spawn {
        prefix: Some(app.prefix.clone()),
        keys_dir: Some(app.keys_dir.clone()),
        configure: Box::new(move |s| s.server.issuer = issuer),
        ..Spawn::default()
    })
    .await;
    let caller = introspector(&app).await;
    let (client, first_secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let first_sid = client["secrets"][0]["id"].as_str().unwrap().to_owned();
    let added: Value = app
        .post(
            &format!("{}/{id}/secrets", TestApp::clients_path(ORG)),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let second_secret = added["plain_secret"].as_str().unwrap().to_owned();
    let by_first = app.token_for(&id, &first_secret).await;
    let by_second = app.token_for(&id, &second_secret).await;
    let one = app.token_for(&id, &second_secret).await;
    // The other instance has the tokens prepared (its cache warm) before they are revoked.
    for token in [&by_first, &by_second, &one] {
        assert_eq!(introspect(&other, &caller, token).await["active"], true);
    }

    /// Polls the other instance until `token` is inactive; how long that took.
    async fn seen_dead(other: &TestApp, caller: &(String, String), token: &str) -> Duration {
        let started = std::time::Instant::now();
        while introspect(other, caller, token).await["active"] == true {
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "not seen within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        started.elapsed()
    }

    // One token by its jti.
    let jti = introspect(&app, &caller, &one).await["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .post(
            &format!("/v1/clients/{id}/revokeTokens"),
            &json!({"jti": jti}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    seen_dead(&other, &caller, &one).await;
    assert_eq!(
        introspect(&other, &caller, &by_second).await["active"],
        true
    );

    // Every token of the first credential.
    let response = app
        .post(
            &format!("/v1/clients/{id}/credentials/{first_sid}/revokeTokens"),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    seen_dead(&other, &caller, &by_first).await;
    assert_eq!(
        introspect(&other, &caller, &by_second).await["active"],
        true
    );

    // Every token of the client until now; a token minted after it (the next second:
    // tokens carry whole seconds) is active.
    let response = app
        .post(&format!("/v1/clients/{id}/revokeTokens"), &json!({}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    seen_dead(&other, &caller, &by_second).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let fresh = other.token_for(&id, &second_secret).await;
    let answer = introspect(&app, &caller, &fresh).await;
    assert_eq!(
        answer["active"],
        true,
        "{answer} {}",
        other.verify(&fresh).await
    );

    // Each revocation is an audit event.
    let events = app
        .get_json(&format!("/v1/auditEvents?target=clients/{id}"))
        .await;
    let revocations = events["auditEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "tokens.revoke")
        .count();
    assert_eq!(revocations, 3);
    let bad = app
        .post(
            &format!("/v1/clients/{id}/revokeTokens"),
            &json!({"jti": 5}),
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_revoked_admin_token_no_longer_authenticates() {
    let app = spawn_app().await;
    assert_eq!(app.get("/v1/clients").await.status(), StatusCode::OK);
    let response = revoke(&app, &app.admin_id, &app.admin_secret, &app.admin_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app.get("/v1/clients").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
}

#[tokio::test]
async fn with_credential_on_a_deleted_secrets_tokens_die_with_it() {
    let app = spawn(Spawn {
        configure: Box::new(|s| s.revocation.with_credential = true),
        ..Spawn::default()
    })
    .await;
    let caller = introspector(&app).await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let sid = client["secrets"][0]["id"].as_str().unwrap();
    let token = app.token_for(id, &secret).await;
    assert_eq!(introspect(&app, &caller, &token).await["active"], true);
    let path = format!("{}/{id}/secrets/{sid}", TestApp::clients_path(ORG));
    assert_eq!(app.delete(&path).await.status(), StatusCode::OK);
    assert_eq!(introspect(&app, &caller, &token).await["active"], false);
}

#[tokio::test]
async fn by_default_a_deleted_secrets_tokens_live_on_until_they_expire() {
    let app = spawn_app().await;
    let caller = introspector(&app).await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let sid = client["secrets"][0]["id"].as_str().unwrap();
    let token = app.token_for(id, &secret).await;
    let path = format!("{}/{id}/secrets/{sid}", TestApp::clients_path(ORG));
    assert_eq!(app.delete(&path).await.status(), StatusCode::OK);
    assert_eq!(introspect(&app, &caller, &token).await["active"], true);
    // Discovery names both endpoints.
    let metadata: Value = app
        .public_json("/.well-known/oauth-authorization-server")
        .await;
    assert_eq!(
        metadata["introspection_endpoint"],
        format!("{}/oauth/introspect", app.issuer)
    );
    assert_eq!(
        metadata["revocation_endpoint"],
        format!("{}/oauth/revoke", app.issuer)
    );
}
