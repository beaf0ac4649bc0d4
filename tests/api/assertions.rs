//! Credentials without shared secrets, against real Redis: `private_key_jwt` (RFC 7523)
//! and federated credentials (a workload's OIDC token from a test issuer on loopback).
//! Every rejection is the same `invalid_client` as a wrong secret.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ORG, Spawn, TestApp, seed_create_body, spawn};
use crate::issuer::{Behaviour, TestIssuer, new_key, now, sign, with_header};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

async fn assertion_request(
    app: &TestApp,
    client_id: Option<&str>,
    assertion: &str,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    app.http
        .post(app.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

async fn refused(app: &TestApp, client_id: Option<&str>, assertion: &str, case: &str) {
    let response = assertion_request(app, client_id, assertion).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client", "{case}: {body}");
}

async fn token_claims(app: &TestApp, client_id: Option<&str>, assertion: &str) -> Value {
    let response = assertion_request(app, client_id, assertion).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}");
    app.verify(body["access_token"].as_str().unwrap()).await
}

async fn new_client(app: &TestApp) -> String {
    let (client, _) = app.create_client(ORG, &seed_create_body()).await;
    client["client_id"].as_str().unwrap().to_owned()
}

/// Adds a credential on the `/v1` face; returns its JSON.
async fn add_credential(app: &TestApp, client: &str, body: Value) -> Value {
    let response = app
        .post(&format!("/v1/clients/{client}/credentials"), &body)
        .await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{created}");
    created
}

fn assertion_claims(client: &str, audience: &str) -> Value {
    json!({
        "iss": client,
        "sub": client,
        "aud": audience,
        "iat": now(),
        "exp": now() + 60,
        "jti": format!("{:x}", rand::random::<u128>()),
    })
}

#[tokio::test]
async fn private_key_jwt_assertions_get_tokens_and_every_bad_one_is_invalid_client() {
    let app = spawn(Spawn::default()).await;
    let client = new_client(&app).await;
    let key = new_key();
    let created = add_credential(
        &app,
        &client,
        json!({"displayName": "deployer key", "kind": "private_key_jwt", "publicKey": key.jwk()}),
    )
    .await;
    assert_eq!(created["kind"], "private_key_jwt");
    assert!(
        created.get("clientSecret").is_none() && created.get("secretSuffix").is_none(),
        "{created}"
    );
    assert_eq!(created["publicKey"]["kid"], key.kid.as_str());
    let credential = created["name"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();

    let token_endpoint = app.url("/oauth/token");
    let good = sign(&key, &assertion_claims(&client, &token_endpoint));
    let claims = token_claims(&app, None, &good).await;
    assert_eq!(
        claims["client_id"],
        client.as_str(),
        "client_id from the assertion's sub"
    );
    assert_eq!(claims["credential_id"], credential.as_str());
    refused(&app, None, &good, "the same assertion again (replayed jti)").await;
    // The issuer itself is an accepted audience, and client_id may be sent.
    let by_issuer = sign(&key, &assertion_claims(&client, &app.issuer));
    token_claims(&app, Some(&client), &by_issuer).await;

    let other = new_key();
    // The organization face makes the same kind of credential.
    let org_key = new_key();
    let response = app
        .post(
            &format!("{}/{client}/secrets", TestApp::clients_path(ORG)),
            &json!({"kind": "private_key_jwt", "public_key": org_key.jwk()}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let made: Value = response.json().await.unwrap();
    assert!(made.get("plain_secret").is_none(), "{made}");
    assert_eq!(made["secret"]["kind"], "private_key_jwt");
    token_claims(
        &app,
        Some(&client),
        &sign(&org_key, &assertion_claims(&client, &token_endpoint)),
    )
    .await;

    let claims = |f: &dyn Fn(&mut Value)| {
        let mut c = assertion_claims(&client, &token_endpoint);
        f(&mut c);
        c
    };
    let cases: Vec<(&str, String)> = vec![
        ("signed by another key", sign(&other, &claims(&|_| {}))),
        (
            "another audience",
            sign(
                &key,
                &claims(&|c| c["aud"] = json!("https://elsewhere.example")),
            ),
        ),
        (
            "expired",
            sign(&key, &claims(&|c| c["exp"] = json!(now() - 120))),
        ),
        (
            "lives too long",
            sign(&key, &claims(&|c| c["exp"] = json!(now() + 3600))),
        ),
        (
            "no jti",
            sign(
                &key,
                &claims(&|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
            ),
        ),
        (
            "iss is not the client",
            sign(&key, &claims(&|c| c["iss"] = json!("someone"))),
        ),
        (
            "alg none",
            with_header(
                &json!({"alg": "none", "kid": key.kid}),
                &claims(&|_| {}),
                b"",
            ),
        ),
        ("HS256 keyed with the public key", {
            let header = json!({"alg": "HS256", "kid": key.kid});
            let c = claims(&|_| {});
            let unsigned = format!(
                "{}.{}",
                base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    header.to_string()
                ),
                base64::Engine::encode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    c.to_string()
                )
            );
            let mac = aws_lc_rs::hmac::sign(
                &aws_lc_rs::hmac::Key::new(
                    aws_lc_rs::hmac::HMAC_SHA256,
                    serde_json::to_string(key.jwk()).unwrap().as_bytes(),
                ),
                unsigned.as_bytes(),
            );
            with_header(&header, &c, mac.as_ref())
        }),
        ("a key of its own in the header", {
            let c = claims(&|_| {});
            with_header(&json!({"alg": "ES256", "jwk": other.jwk()}), &c, b"x")
        }),
        ("not a JWT", "abc.def".to_owned()),
    ];
    // Ten refusals: the brute-force limit (10 per client and address), all counted.
    for (case, assertion) in &cases {
        refused(&app, Some(&client), assertion, case).await;
    }
    // A secret and an assertion together is a malformed request, not a guess.
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(&client, Some("x"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", good.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let metadata: Value = app
        .get_json("/.well-known/oauth-authorization-server")
        .await;
    assert!(
        metadata["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    assert_eq!(
        metadata["token_endpoint_auth_signing_alg_values_supported"],
        json!(["RS256", "ES256", "EdDSA"])
    );
}

#[tokio::test]
async fn bad_credential_bodies_are_refused_naming_the_field() {
    let app = spawn(Spawn::default()).await;
    let client = new_client(&app).await;
    let key = new_key();
    let mut private = serde_json::to_value(key.jwk()).unwrap();
    private["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
    let cases = [
        (
            json!({"displayName": "k", "kind": "private_key_jwt"}),
            "publicKey",
        ),
        (
            json!({"displayName": "k", "kind": "private_key_jwt", "publicKey": private}),
            "publicKey.d",
        ),
        (
            json!({"displayName": "k", "kind": "federated", "federation": {"issuer": "https://i.example", "audience": "a"}}),
            "federation",
        ),
        (
            json!({"displayName": "k", "kind": "federated", "federation": {"issuer": "http://10.1.2.3", "audience": "a", "subject": "s"}}),
            "federation.issuer",
        ),
        (
            json!({"displayName": "k", "kind": "client_secret", "publicKey": key.jwk()}),
            "publicKey",
        ),
        (json!({"displayName": "k", "kind": "magic"}), "kind"),
        (json!({"displayName": "k", "jwksUri": "ftp://x"}), "jwksUri"),
    ];
    for (body, field) in cases {
        let response = app
            .post(&format!("/v1/clients/{client}/credentials"), &body)
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        let fields: Vec<&str> = error["error"]["details"][0]["fieldViolations"]
            .as_array()
            .map(|v| v.iter().filter_map(|f| f["field"].as_str()).collect())
            .unwrap_or_default();
        assert!(
            fields.contains(&field)
                || error["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with(field),
            "{body}: {error}"
        );
    }
    // Plain http to a loopback issuer only where assertions.allow_http_loopback says so.
    let strict = spawn(Spawn {
        configure: Box::new(|s| s.assertions.allow_http_loopback = false),
        ..Spawn::default()
    })
    .await;
    let strict_client = new_client(&strict).await;
    let response = strict
        .post(
            &format!("/v1/clients/{strict_client}/credentials"),
            &json!({"displayName": "k", "kind": "federated", "federation": {"issuer": "http://127.0.0.1:9", "audience": "a", "subject": "s"}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("allow_http_loopback"),
        "{error}"
    );

    // A kind's fields cannot be given to a credential of another kind on update.
    let made = add_credential(
        &app,
        &client,
        json!({"displayName": "k", "kind": "private_key_jwt", "publicKey": key.jwk()}),
    )
    .await;
    let name = made["name"].as_str().unwrap();
    let response = app
        .patch(&format!("/v1/{name}"), &json!({"federation": {"issuer": "https://i.example", "audience": "a", "subject": "s"}}))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app
        .patch(&format!("/v1/{name}"), &json!({"kind": "federated"}))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_replayed_assertion_is_refused_by_another_instance() {
    crate::helpers::needs_redis!("the replay store is shared through Redis");
    // Two instances of one deployment: one issuer, one Redis prefix.
    let issuer = || -> Box<dyn FnOnce(&mut tokenmint::config::Settings) + Send> {
        Box::new(|s| s.server.issuer = "http://tokenmint.test".into())
    };
    let one = spawn(Spawn {
        configure: issuer(),
        ..Spawn::default()
    })
    .await;
    let two = spawn(Spawn {
        prefix: Some(one.prefix.clone()),
        keys_dir: Some(one.keys_dir.clone()),
        configure: issuer(),
        ..Spawn::default()
    })
    .await;
    let client = new_client(&one).await;
    let key = new_key();
    add_credential(
        &one,
        &client,
        json!({"displayName": "k", "kind": "private_key_jwt", "publicKey": key.jwk()}),
    )
    .await;
    let assertion = sign(
        &key,
        &assertion_claims(&client, "http://tokenmint.test/oauth/token"),
    );
    token_claims(&one, None, &assertion).await;
    refused(&two, None, &assertion, "replayed through another instance").await;
}

#[tokio::test]
async fn federated_credentials_exchange_workload_tokens_and_map_claims() {
    let app = spawn(Spawn::default()).await;
    let issuer = TestIssuer::start().await;
    let github = new_client(&app).await;
    let created = add_credential(
        &app,
        &github,
        json!({
            "displayName": "GitHub Actions, main branch",
            "kind": "federated",
            "federation": {
                "issuer": issuer.url,
                "audience": "tokenmint",
                "claims": {"repository": "acmecorp/inventory", "ref": "refs/heads/main"},
                "claimMappings": [{"from": "repository", "to": "github_repository"}, {"from": "workflow", "to": "github_workflow"}],
                "maxAgeSeconds": 600
            }
        }),
    )
    .await;
    assert_eq!(created["kind"], "federated");
    assert_eq!(created["federation"]["maxAgeSeconds"], 600);

    let token = issuer.github_token("tokenmint", "acmecorp/inventory", "refs/heads/main");
    let claims = token_claims(&app, Some(&github), &token).await;
    assert_eq!(claims["github_repository"], "acmecorp/inventory");
    assert_eq!(claims["github_workflow"], "deploy");
    assert_eq!(claims["sub"], github.as_str());
    assert_eq!(
        claims["environment"], "production",
        "the client's own custom claims stay"
    );
    let fetched = issuer.fetches.load(std::sync::atomic::Ordering::SeqCst);
    token_claims(
        &app,
        Some(&github),
        &issuer.github_token("tokenmint", "acmecorp/inventory", "refs/heads/main"),
    )
    .await;
    assert_eq!(
        issuer.fetches.load(std::sync::atomic::Ordering::SeqCst),
        fetched,
        "a warm request fetches nothing"
    );

    let kubernetes = new_client(&app).await;
    add_credential(
        &app,
        &kubernetes,
        json!({
            "displayName": "prod deployer service account",
            "kind": "federated",
            "federation": {
                "issuer": issuer.url,
                "audience": "https://auth.example.com",
                "subject": "system:serviceaccount:prod:deployer",
                "claims": {"kubernetes.io/namespace": "prod", "kubernetes.io/serviceaccount/name": "deployer"}
            }
        }),
    )
    .await;
    token_claims(
        &app,
        Some(&kubernetes),
        &issuer.kubernetes_token("https://auth.example.com", "prod", "deployer"),
    )
    .await;

    let stranger = TestIssuer::start().await;
    let cases: Vec<(&str, &str, String)> = vec![
        ("another branch", &github, issuer.github_token("tokenmint", "acmecorp/inventory", "refs/heads/dev")),
        ("another repository", &github, issuer.github_token("tokenmint", "evil/inventory", "refs/heads/main")),
        ("another audience", &github, issuer.github_token("someone-else", "acmecorp/inventory", "refs/heads/main")),
        ("expired", &github, issuer.token(json!({"aud": "tokenmint", "repository": "acmecorp/inventory", "ref": "refs/heads/main", "iat": now() - 400, "exp": now() - 100}))),
        ("too old", &github, issuer.token(json!({"aud": "tokenmint", "repository": "acmecorp/inventory", "ref": "refs/heads/main", "iat": now() - 700, "exp": now() + 300}))),
        ("another issuer's key", &github, {
            // Claims to be from the trusted issuer, signed by another's key.
            stranger.token(json!({"iss": issuer.url, "aud": "tokenmint", "repository": "acmecorp/inventory", "ref": "refs/heads/main"}))
        }),
        ("another namespace", &kubernetes, issuer.kubernetes_token("https://auth.example.com", "dev", "deployer")),
        ("alg none", &github, with_header(&json!({"alg": "none"}), &json!({"iss": issuer.url, "aud": "tokenmint", "repository": "acmecorp/inventory", "ref": "refs/heads/main", "iat": now(), "exp": now() + 60}), b"")),
        ("a token for another client", &kubernetes, issuer.github_token("tokenmint", "acmecorp/inventory", "refs/heads/main")),
    ];
    for (case, client, token) in &cases {
        refused(&app, Some(client), token, case).await;
    }
}

#[tokio::test]
async fn an_issuer_that_is_down_slow_or_too_large_gives_invalid_client_quickly() {
    let app = spawn(Spawn {
        configure: Box::new(|s| s.assertions.fetch_timeout = Duration::from_millis(500)),
        ..Spawn::default()
    })
    .await;
    for behaviour in [Behaviour::Huge, Behaviour::Slow, Behaviour::Down] {
        let issuer = TestIssuer::start().await;
        issuer.behave(behaviour);
        let client = new_client(&app).await;
        add_credential(
            &app,
            &client,
            json!({"displayName": "k", "kind": "federated", "federation": {"issuer": issuer.url, "audience": "tokenmint", "subject": "w"}}),
        )
        .await;
        let token = issuer.token(json!({"aud": "tokenmint", "sub": "w"}));
        let started = Instant::now();
        refused(&app, Some(&client), &token, &format!("{behaviour:?}")).await;
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{behaviour:?}: the fetch is cut off at assertions.fetch_timeout_ms"
        );
        // Remembered: the next request does not wait for the issuer again.
        let started = Instant::now();
        refused(&app, Some(&client), &token, &format!("{behaviour:?} again")).await;
        assert!(
            started.elapsed() < Duration::from_millis(300),
            "{behaviour:?}: backoff"
        );
    }
}

#[tokio::test]
async fn failed_assertions_count_against_the_brute_force_limit() {
    let app = spawn(Spawn {
        configure: Box::new(|s| {
            s.bruteforce.max_per_client_address = std::num::NonZeroU64::new(3).unwrap();
        }),
        ..Spawn::default()
    })
    .await;
    let client = new_client(&app).await;
    let key = new_key();
    add_credential(
        &app,
        &client,
        json!({"displayName": "k", "kind": "private_key_jwt", "publicKey": key.jwk()}),
    )
    .await;
    let wrong = new_key();
    for _ in 0..3 {
        let bad = sign(&wrong, &assertion_claims(&client, &app.issuer));
        refused(&app, Some(&client), &bad, "wrong key").await;
    }
    let good = sign(&key, &assertion_claims(&client, &app.issuer));
    let response = assertion_request(&app, Some(&client), &good).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn keys_and_federation_rules_are_updated_on_both_faces() {
    let app = spawn(Spawn::default()).await;
    let issuer = TestIssuer::start().await;
    let client = new_client(&app).await;
    let (old, new) = (new_key(), new_key());
    // Organization face: create with one key, PATCH to another.
    let response = app
        .post(
            &format!("{}/{client}/secrets", TestApp::clients_path(ORG)),
            &json!({"kind": "private_key_jwt", "public_key": old.jwk()}),
        )
        .await;
    let made: Value = response.json().await.unwrap();
    let secret = made["secret"]["id"].as_str().unwrap().to_owned();
    let path = format!("{}/{client}/secrets/{secret}", TestApp::clients_path(ORG));
    let response = app.patch(&path, &json!({"public_key": new.jwk()})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["secret"]["public_key"]["kid"], new.kid.as_str());
    token_claims(
        &app,
        Some(&client),
        &sign(&new, &assertion_claims(&client, &app.issuer)),
    )
    .await;
    refused(
        &app,
        Some(&client),
        &sign(&old, &assertion_claims(&client, &app.issuer)),
        "the replaced key",
    )
    .await;
    let response = app.patch(&path, &json!({"kind": "federated"})).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // /v1 face: a federated credential's rules, changed under an updateMask.
    let created = add_credential(
        &app,
        &client,
        json!({"displayName": "ci", "kind": "federated", "federation": {"issuer": issuer.url, "audience": "tokenmint", "claims": {"ref": "refs/heads/main"}}}),
    )
    .await;
    let name = created["name"].as_str().unwrap();
    let main = || issuer.github_token("tokenmint", "acmecorp/inventory", "refs/heads/main");
    token_claims(&app, Some(&client), &main()).await;
    let response = app
        .patch(
            &format!("/v1/{name}?updateMask=federation"),
            &json!({"federation": {"issuer": issuer.url, "audience": "tokenmint", "claims": {"ref": "refs/heads/release"}}}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    refused(
        &app,
        Some(&client),
        &main(),
        "a branch the new rules no longer accept",
    )
    .await;
    token_claims(
        &app,
        Some(&client),
        &issuer.github_token("tokenmint", "acmecorp/inventory", "refs/heads/release"),
    )
    .await;
    let listed: Value = app
        .get_json(&format!("/v1/clients/{client}/credentials"))
        .await;
    let kinds: Vec<&str> = listed["clientCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["client_secret", "private_key_jwt", "federated"]);

    // private_key_jwt with a jwks_uri: the keys are fetched from there (here: the test
    // issuer's JWKS, so tokens it signs with iss = sub = the client are assertions).
    let other = new_client(&app).await;
    add_credential(
        &app,
        &other,
        json!({"displayName": "published keys", "kind": "private_key_jwt", "jwksUri": format!("{}/jwks", issuer.url)}),
    )
    .await;
    let assertion = issuer.token(json!({"iss": other, "sub": other, "aud": app.issuer}));
    token_claims(&app, Some(&other), &assertion).await;
}

#[tokio::test]
async fn credentials_of_every_kind_are_managed_over_grpc() {
    use tokenmint::proto::credentials as cpb;
    use tokenmint::proto::credentials::credential_service_client::CredentialServiceClient;
    let app = spawn(Spawn::default()).await;
    let issuer = TestIssuer::start().await;
    let client = new_client(&app).await;
    let channel = tonic::transport::Endpoint::from_shared(app.base.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut grpc = CredentialServiceClient::new(channel);
    let token = app.admin_token.clone();
    let key = new_key();

    let made = grpc
        .create_credential(crate::grpc::authed(
            &token,
            cpb::CreateCredentialRequest {
                organization_id: ORG.into(),
                client_id: client.clone(),
                kind: "private_key_jwt".into(),
                public_key_json: serde_json::to_string(key.jwk()).unwrap(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let pkj = made.credential.unwrap();
    assert_eq!(
        (pkj.kind.as_str(), made.plain_secret.as_str()),
        ("private_key_jwt", "")
    );
    token_claims(
        &app,
        Some(&client),
        &sign(&key, &assertion_claims(&client, &app.issuer)),
    )
    .await;

    let federation = |git_ref: &str| cpb::Federation {
        issuer: issuer.url.clone(),
        audience: "tokenmint".into(),
        claims: [("ref".to_owned(), git_ref.to_owned())]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let made = grpc
        .create_credential(crate::grpc::authed(
            &token,
            cpb::CreateCredentialRequest {
                organization_id: ORG.into(),
                client_id: client.clone(),
                kind: "federated".into(),
                federation: Some(federation("refs/heads/main")),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let fed = made.credential.unwrap();
    assert_eq!(fed.federation.as_ref().unwrap().max_age_seconds, 3600);
    let main = issuer.github_token("tokenmint", "acmecorp/inventory", "refs/heads/main");
    token_claims(&app, Some(&client), &main).await;

    let updated = grpc
        .update_credential(crate::grpc::authed(
            &token,
            cpb::UpdateCredentialRequest {
                organization_id: ORG.into(),
                client_id: client.clone(),
                id: fed.id.clone(),
                federation: Some(federation("refs/heads/release")),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        updated.federation.unwrap().claims["ref"],
        "refs/heads/release"
    );
    refused(
        &app,
        Some(&client),
        &issuer.github_token("tokenmint", "acmecorp/inventory", "refs/heads/main"),
        "old rule",
    )
    .await;

    // The same validation as the REST faces, as INVALID_ARGUMENT naming the field.
    let err = grpc
        .create_credential(crate::grpc::authed(
            &token,
            cpb::CreateCredentialRequest {
                organization_id: ORG.into(),
                client_id: client.clone(),
                kind: "federated".into(),
                federation: Some(cpb::Federation {
                    issuer: issuer.url.clone(),
                    audience: "tokenmint".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("subject or claims"),
        "{}",
        err.message()
    );

    let listed = grpc
        .list_credentials(crate::grpc::authed(
            &token,
            cpb::ListCredentialsRequest {
                organization_id: ORG.into(),
                client_id: client.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let kinds: Vec<&str> = listed.credentials.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(kinds, ["client_secret", "private_key_jwt", "federated"]);
    grpc.delete_credential(crate::grpc::authed(
        &token,
        cpb::CredentialRef {
            organization_id: ORG.into(),
            client_id: client.clone(),
            id: pkj.id.clone(),
        },
    ))
    .await
    .unwrap();
    let err = grpc
        .get_credential(crate::grpc::authed(
            &token,
            cpb::CredentialRef {
                organization_id: ORG.into(),
                client_id: client.clone(),
                id: pkj.id,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    // Scalekit's ClientService still answers on the same port.
    let mut scalekit = crate::grpc::plain_client(&app).await;
    scalekit
        .get_organization_client(crate::grpc::authed(
            &token,
            tokenmint::proto::clients::GetOrganizationClientRequest {
                organization_id: ORG.into(),
                client_id: client.clone(),
            },
        ))
        .await
        .unwrap();
}
