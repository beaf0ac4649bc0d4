use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ORG, Spawn, TestApp, seed_create_body, spawn, spawn_app};
use tokenmint::crypto::Alg;

async fn oauth_error(
    response: reqwest::Response,
    status: StatusCode,
    code: &str,
    case: &str,
) -> Value {
    assert_eq!(response.status(), status, "case: {case}");
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "case: {case}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "case: {case}: {body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "case: {case}"
    );
    body
}

#[tokio::test]
async fn a_token_verifies_against_the_jwks_for_each_algorithm() {
    for alg in [Alg::Rs256, Alg::Es256, Alg::EdDsa] {
        let app = spawn(Spawn {
            alg,
            ..Spawn::default()
        })
        .await;
        let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
        let id = client["client_id"].as_str().unwrap();
        let token = app.token_for(id, &secret).await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(header.alg, alg.jwt(), "{alg:?}");
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let claims = app.verify(&token).await;
        assert_eq!(claims["sub"], id, "{alg:?}");
    }
}

#[tokio::test]
async fn the_token_carries_every_claim_of_the_contract() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let response = app.token_request(id, &secret, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "deploy:applications read:deployments");
    let claims = app.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["iss"], app.issuer);
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert_eq!(
        claims["aud"],
        json!([
            "https://api.example.com/api/analytics",
            "https://deployment-api.acmecorp.com"
        ])
    );
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        3600
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    let jti = claims["jti"].as_str().unwrap();
    assert!(jti.starts_with("tkn_") && jti.len() == 36, "{jti}");
    assert_eq!(claims["scope"], "deploy:applications read:deployments");
    assert_eq!(
        claims["scopes"],
        json!(["deploy:applications", "read:deployments"])
    );
    assert_eq!(claims["oid"], ORG);
    assert_eq!(claims["environment"], "production");
    assert_eq!(claims["service"], "deployment");
    assert!(claims.get("environments").is_none());
}

#[tokio::test]
async fn a_client_update_shows_in_the_very_next_token() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let before = app.verify(&app.token_for(id, &secret).await).await;
    assert_eq!(before["service"], "deployment");
    // Tokens of the same grant differ only in their own claims.
    let again = app.verify(&app.token_for(id, &secret).await).await;
    assert_ne!(before["jti"], again["jti"]);

    let path = format!("{}/{id}", crate::helpers::TestApp::clients_path(ORG));
    let update = json!({
        "scopes": ["read:deployments"],
        "audience": ["https://other.example.com"],
        "custom_claims": [{"key": "service", "value": "billing"}],
        "expiry": 600,
    });
    assert_eq!(app.patch(&path, &update).await.status(), StatusCode::OK);
    let response = app.token_request(id, &secret, &[]).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "read:deployments");
    assert_eq!(body["expires_in"], 600);
    let after = app.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(after["scopes"], json!(["read:deployments"]));
    assert_eq!(after["scope"], "read:deployments");
    assert_eq!(after["aud"], "https://other.example.com");
    assert_eq!(after["service"], "billing");
    assert!(after.get("environment").is_none(), "custom claims replaced");
    assert_eq!(
        after["exp"].as_u64().unwrap() - after["iat"].as_u64().unwrap(),
        600
    );
}

#[tokio::test]
async fn basic_and_post_authentication_both_work_and_json_bodies_too() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let basic = app.token_request_basic(id, &secret, &[]).await;
    assert_eq!(basic.status(), StatusCode::OK);
    let post = app.token_request(id, &secret, &[]).await;
    assert_eq!(post.status(), StatusCode::OK);
    let json_body = app
        .http
        .post(app.url("/oauth/token"))
        .json(&json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret, "scope": "read:deployments"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), StatusCode::OK);
    let body: Value = json_body.json().await.unwrap();
    assert_eq!(body["scope"], "read:deployments");
    // A stale Bearer header next to body credentials is ignored (Scalekit SDKs send one).
    let with_bearer = app
        .http
        .post(app.url("/oauth/token"))
        .bearer_auth("stale.token.value")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(with_bearer.status(), StatusCode::OK);
}

#[tokio::test]
async fn scope_and_audience_requests_narrow_the_token() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let response = app
        .token_request(
            id,
            &secret,
            &[
                ("scope", "read:deployments"),
                ("audience", "https://deployment-api.acmecorp.com"),
            ],
        )
        .await;
    let body: Value = response.json().await.unwrap();
    let claims = app.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["scope"], "read:deployments");
    assert_eq!(claims["scopes"], json!(["read:deployments"]));
    assert_eq!(
        claims["aud"], "https://deployment-api.acmecorp.com",
        "one audience is a string"
    );
    let response = app
        .token_request(
            id,
            &secret,
            &[("resource", "https://api.example.com/api/analytics")],
        )
        .await;
    let body: Value = response.json().await.unwrap();
    let claims = app.verify(body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], "https://api.example.com/api/analytics");

    let mut no_audience = seed_create_body();
    no_audience["audience"] = json!([]);
    let (client, secret) = app.create_client(ORG, &no_audience).await;
    let token = app
        .token_for(client["client_id"].as_str().unwrap(), &secret)
        .await;
    assert!(
        app.verify(&token).await.get("aud").is_none(),
        "no audience, no aud claim"
    );
}

#[tokio::test]
async fn bad_token_requests_get_the_rfc_6749_error() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let cases: Vec<(&str, reqwest::Response, StatusCode, &str)> = vec![
        (
            "unknown scope",
            app.token_request(id, &secret, &[("scope", "admin:all")])
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            "unknown audience",
            app.token_request(id, &secret, &[("audience", "https://evil.example")])
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            "unknown resource",
            app.token_request(id, &secret, &[("resource", "urn:x")])
                .await,
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (
            "other grant type",
            app.http
                .post(app.url("/oauth/token"))
                .form(&[
                    ("grant_type", "password"),
                    ("client_id", id),
                    ("client_secret", &secret),
                ])
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            "basic and body credentials",
            app.http
                .post(app.url("/oauth/token"))
                .basic_auth(id, Some(&secret))
                .form(&[("grant_type", "client_credentials"), ("client_id", id)])
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "repeated parameter",
            app.token_request(
                id,
                &secret,
                &[
                    ("scope", "read:deployments"),
                    ("scope", "deploy:applications"),
                ],
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "text body",
            app.http
                .post(app.url("/oauth/token"))
                .header("content-type", "text/plain")
                .body("grant_type=client_credentials")
                .send()
                .await
                .unwrap(),
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "oversized body",
            app.token_request(id, &secret, &[("x", &"a".repeat(9000))])
                .await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
        ),
    ];
    for (case, response, status, code) in cases {
        oauth_error(response, status, code, case).await;
    }
}

#[tokio::test]
async fn every_client_authentication_failure_is_the_same_invalid_client() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let (deleted, deleted_secret) = app.create_client(ORG, &seed_create_body()).await;
    let deleted_id = deleted["client_id"].as_str().unwrap().to_owned();
    let response = app
        .delete(&format!("{}/{deleted_id}", TestApp::clients_path(ORG)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let wrong = crate::helpers::altered(&secret);
    let mut descriptions = Vec::new();
    for (case, id, secret) in [
        ("wrong secret", id.as_str(), wrong.as_str()),
        (
            "wrong secret with the right suffix",
            id.as_str(),
            &format!("tm_{}", &secret[secret.len() - 4..]),
        ),
        (
            "unknown client",
            "m2morg_000000000000000000",
            secret.as_str(),
        ),
        ("malformed client id", "nobody", secret.as_str()),
        (
            "deleted client",
            deleted_id.as_str(),
            deleted_secret.as_str(),
        ),
    ] {
        let body = oauth_error(
            app.token_request(id, secret, &[]).await,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            case,
        )
        .await;
        assert!(
            !body.to_string().contains(secret),
            "case: {case}: the secret is echoed"
        );
        descriptions.push(body["error_description"].clone());
        let basic = app.token_request_basic(id, secret, &[]).await;
        assert_eq!(
            basic.headers()["www-authenticate"],
            "Basic realm=\"tokenmint\"",
            "case: {case}"
        );
        oauth_error(basic, StatusCode::UNAUTHORIZED, "invalid_client", case).await;
    }
    descriptions.dedup();
    assert_eq!(
        descriptions.len(),
        1,
        "failures must be indistinguishable: {descriptions:?}"
    );
    let no_credentials = app
        .http
        .post(app.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    oauth_error(
        no_credentials,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "no credentials",
    )
    .await;
}

#[tokio::test]
async fn a_deleted_secret_stops_working_and_the_others_keep_working() {
    let app = spawn_app().await;
    let (client, first) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let first_id = client["secrets"][0]["id"].as_str().unwrap();
    let added: Value = app
        .post(
            &format!("{}/{id}/secrets", TestApp::clients_path(ORG)),
            &json!({}),
        )
        .await
        .json()
        .await
        .unwrap();
    let second = added["plain_secret"].as_str().unwrap();
    assert_eq!(
        app.token_request(id, second, &[]).await.status(),
        StatusCode::OK
    );
    let response = app
        .delete(&format!(
            "{}/{id}/secrets/{first_id}",
            TestApp::clients_path(ORG)
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.token_request(id, &first, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.token_request(id, second, &[]).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn use_of_a_secret_shows_as_last_used_time() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    assert!(
        client["secrets"][0].get("last_used_time").is_none(),
        "never used: omitted"
    );
    app.token_for(id, &secret).await;
    let path = format!("{}/{id}", TestApp::clients_path(ORG));
    let seen = app
        .eventually_string(&path, "/client/secrets/0/last_used_time")
        .await;
    assert!(
        seen.as_str().is_some_and(|t| t.ends_with('Z')),
        "last_used_time: {seen}"
    );
}

#[tokio::test]
async fn parameters_in_the_url_query_are_refused() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let body = [("grant_type", "client_credentials")];
    let queries = [
        format!("client_id={id}&client_secret={secret}"),
        "scope=read:deployments".to_owned(),
        "x=1".to_owned(),
    ];
    for query in &queries {
        // Even with good credentials in the body: the URL is not where they belong.
        let response = app
            .http
            .post(app.url(&format!("/oauth/token?{query}")))
            .basic_auth(id, Some(&secret))
            .form(&body)
            .send()
            .await
            .unwrap();
        let error = oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request", query).await;
        assert!(!error.to_string().contains(&secret), "{error}");
    }
}

#[tokio::test]
async fn json_bodies_follow_the_form_rules_for_repeats_and_unknown_parameters() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let post_json = |body: String| {
        app.http
            .post(app.url("/oauth/token"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let credentials = format!(
        r#""grant_type":"client_credentials","client_id":"{id}","client_secret":"{secret}""#
    );
    // Unknown parameters of any JSON type are ignored.
    let extra = format!(r#"{{{credentials},"extra":{{"a":1}},"n":5,"list":[1,{{}}],"flag":true}}"#);
    let response = post_json(extra).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "unknown members");
    // A repeated key is refused, as a repeated form parameter is (the last does not win).
    for repeated in [
        format!(r#"{{{credentials},"scope":"read:deployments","scope":"admin:all"}}"#),
        format!(r#"{{{credentials},"client_id":"m2morg_000000000000000001"}}"#),
        format!(r#"{{{credentials},"extra":1,"extra":2}}"#),
    ] {
        let response = post_json(repeated.clone()).await.unwrap();
        oauth_error(
            response,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &repeated,
        )
        .await;
    }
}

#[tokio::test]
async fn the_confidence_alias_issues_the_same_tokens_in_camel_case() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let confidence = |body: Value| {
        let app = &app;
        async move {
            app.http
                .post(app.url("/v1/oauth/token"))
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let answer = confidence(
        json!({"clientId": id, "clientSecret": secret, "grantType": "client_credentials"}),
    )
    .await;
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["expiresIn"], 3600, "{body}");
    assert_eq!(body["tokenType"], "Bearer");
    let claims = app.verify(body["accessToken"].as_str().unwrap()).await;
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["scope"], "deploy:applications read:deployments");

    // The same grant rules and the same errors as /oauth/token.
    let narrowed = confidence(json!({"clientId": id, "clientSecret": secret, "grantType": "client_credentials", "scope": "read:deployments"})).await;
    let body: Value = narrowed.json().await.unwrap();
    assert_eq!(body["scope"], "read:deployments");
    let wrong = confidence(
        json!({"clientId": id, "clientSecret": "tm_wrong", "grantType": "client_credentials"}),
    )
    .await;
    oauth_error(
        wrong,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "wrong secret",
    )
    .await;
    let scope = confidence(json!({"clientId": id, "clientSecret": secret, "grantType": "client_credentials", "scope": "admin"})).await;
    oauth_error(
        scope,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        "scope not granted",
    )
    .await;
    let grant =
        confidence(json!({"clientId": id, "clientSecret": secret, "grantType": "password"})).await;
    oauth_error(
        grant,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        "grant",
    )
    .await;
    let missing = confidence(json!({"clientId": id, "clientSecret": secret})).await;
    let body = oauth_error(
        missing,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "no grantType",
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("grantType")
    );
    let form = app
        .http
        .post(app.url("/v1/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    oauth_error(
        form,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "form body",
    )
    .await;
    let query = app
        .http
        .post(app.url(&format!("/v1/oauth/token?clientSecret={secret}")))
        .json(&json!({"clientId": id, "clientSecret": secret, "grantType": "client_credentials"}))
        .send()
        .await
        .unwrap();
    oauth_error(
        query,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "query string",
    )
    .await;
}
