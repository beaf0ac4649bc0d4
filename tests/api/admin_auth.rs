use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ORG, TestApp, assert_error, seed_create_body, spawn_app};

/// A client holding the admin scope in `org`, and a token for it.
async fn org_admin(app: &TestApp, org: &str) -> (String, String) {
    let mut body = seed_create_body();
    body["scopes"] = json!(["tokenmint:admin"]);
    body["audience"] = json!([]);
    let (client, secret) = app.create_client(org, &body).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let token = app.token_for(&id, &secret).await;
    (id, token)
}

#[tokio::test]
async fn admin_calls_without_a_valid_admin_token_are_refused() {
    let app = spawn_app().await;
    let list = app.url(&TestApp::clients_path(ORG));
    let response = app.http.get(&list).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_error(response, StatusCode::UNAUTHORIZED, &[], "no token").await;
    let response = app
        .http
        .get(&list)
        .basic_auth(&app.admin_id, Some(&app.admin_secret))
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, &[], "basic credentials").await;
    let response = app
        .http
        .get(&list)
        .bearer_auth("not.a.jwt")
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, &[], "garbage token").await;
    let mut forged = app.admin_token.clone();
    forged.pop();
    forged.push(if app.admin_token.ends_with('A') {
        'B'
    } else {
        'A'
    });
    let response = app
        .http
        .get(&list)
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, &[], "bad signature").await;

    // A token of another tokenmint (other keys) does not verify here.
    let other = crate::helpers::spawn_app().await;
    let response = app
        .http
        .get(&list)
        .bearer_auth(&other.admin_token)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, &[], "foreign token").await;

    // A valid token without the admin scope is forbidden.
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let token = app
        .token_for(client["client_id"].as_str().unwrap(), &secret)
        .await;
    let response = app
        .http
        .get(&list)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::FORBIDDEN, &[], "no admin scope").await;
}

#[tokio::test]
async fn a_deleted_admin_clients_tokens_stop_working() {
    let app = spawn_app().await;
    let (id, token) = org_admin(&app, ORG).await;
    let list = app.url(&TestApp::clients_path(ORG));
    assert_eq!(
        app.http
            .get(&list)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&format!("{}/{id}", TestApp::clients_path(ORG)))
            .await
            .status(),
        StatusCode::OK
    );
    let response = app
        .http
        .get(&list)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, &[], "deleted admin").await;
}

#[tokio::test]
async fn an_organization_admin_manages_its_own_organization_only() {
    let app = spawn_app().await;
    let (own_admin, token) = org_admin(&app, "org_a").await;
    let own = app.url(&TestApp::clients_path("org_a"));
    let response = app
        .http
        .post(&own)
        .bearer_auth(&token)
        .json(&seed_create_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    assert_eq!(
        created["client"]["secrets"][0]["created_by"],
        format!("clients/{own_admin}")
    );
    let listed: Value = app
        .http
        .get(&own)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total_size"], 2);

    let (other, _) = app.create_client("org_b", &seed_create_body()).await;
    let other_id = other["client_id"].as_str().unwrap();
    let foreign = app.url(&TestApp::clients_path("org_b"));
    for (case, response) in [
        (
            "list",
            app.http
                .get(&foreign)
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        ),
        (
            "create",
            app.http
                .post(&foreign)
                .bearer_auth(&token)
                .json(&seed_create_body())
                .send()
                .await
                .unwrap(),
        ),
        (
            "get",
            app.http
                .get(format!("{foreign}/{other_id}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        ),
        (
            "delete",
            app.http
                .delete(format!("{foreign}/{other_id}"))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap(),
        ),
    ] {
        assert_error(response, StatusCode::FORBIDDEN, &[], case).await;
    }
    // Through its own organization's path, another organization's client is simply absent.
    let response = app
        .http
        .get(format!("{own}/{other_id}"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::NOT_FOUND,
        &[],
        "other org's client via own path",
    )
    .await;
}

/// `GET` of the organization's client list with `token`: the status.
async fn list_with(app: &TestApp, token: &str) -> StatusCode {
    app.http
        .get(app.url(&TestApp::clients_path(ORG)))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn an_admin_token_dies_with_the_credential_that_minted_it() {
    let app = spawn_app().await;
    let (id, first_token) = org_admin(&app, ORG).await;
    let client_path = format!("{}/{id}", TestApp::clients_path(ORG));
    // Three more secrets, a token from each.
    let mut credentials = Vec::new();
    for _ in 0..3 {
        let added: Value = app
            .post(&format!("{client_path}/secrets"), &json!({}))
            .await
            .json()
            .await
            .unwrap();
        let secret = added["plain_secret"].as_str().unwrap().to_owned();
        let sid = added["secret"]["id"].as_str().unwrap().to_owned();
        let token = app.token_for(&id, &secret).await;
        assert_eq!(app.verify(&token).await["credential_id"], sid.as_str());
        assert_eq!(list_with(&app, &token).await, StatusCode::OK);
        credentials.push((sid, token));
    }
    let [
        (deleted, deleted_token),
        (deactivated, inactive_token),
        (expired, expired_token),
    ] = credentials.try_into().unwrap();

    let response = app
        .delete(&format!("{client_path}/secrets/{deleted}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .patch(
            &format!("/v1/clients/{id}/credentials/{deactivated}?updateMask=status"),
            &json!({"status": "INACTIVE"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = app
        .patch(
            &format!("/v1/clients/{id}/credentials/{expired}?updateMask=expireTime"),
            &json!({"expireTime": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    for (case, token) in [
        ("secret deleted", &deleted_token),
        ("secret deactivated", &inactive_token),
        ("secret expired", &expired_token),
    ] {
        let response = app
            .http
            .get(app.url(&TestApp::clients_path(ORG)))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, &[], case).await;
    }
    // The token of the credential left alone keeps working.
    assert_eq!(list_with(&app, &first_token).await, StatusCode::OK);
}

#[tokio::test]
async fn admin_tokens_in_the_url_are_refused() {
    let app = spawn_app().await;
    for path in [
        format!("/v1/clients?access_token={}", app.admin_token),
        format!(
            "{}?access_token={}",
            TestApp::clients_path(ORG),
            app.admin_token
        ),
    ] {
        // Refused even beside a good header: the token has leaked into a URL.
        let response = app.get(&path).await;
        let body = assert_error(response, StatusCode::UNAUTHORIZED, &[], &path).await;
        assert!(!body.to_string().contains(&app.admin_token));
        let response = app.http.get(app.url(&path)).send().await.unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, &[], "query only").await;
    }
}

/// The claims of `token` (not verified).
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// `header.payload.signature` from raw parts.
fn compact(header: &Value, claims: &Value, signature: &[u8]) -> String {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// A P-256 PKCS#8 PEM key file as a jsonwebtoken signing key.
fn ec_key(path: &std::path::Path) -> jsonwebtoken::EncodingKey {
    let pem = pem::parse(std::fs::read(path).unwrap()).unwrap();
    jsonwebtoken::EncodingKey::from_ec_der(pem.contents())
}

#[tokio::test]
async fn forged_and_misissued_admin_tokens_are_refused() {
    use jsonwebtoken::{EncodingKey, Header, encode};
    use tokenmint::crypto::{Alg, keys};
    let app = spawn_app().await;
    let pem_path = std::fs::read_dir(app.keys_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "pem"))
        .unwrap();
    let ours = ec_key(&pem_path);
    let real = jsonwebtoken::decode_header(&app.admin_token).unwrap();
    let kid = real.kid.clone().unwrap();
    let claims = claims_of(&app.admin_token);
    let now = claims["iat"].as_u64().unwrap();
    let with = |changes: Value| {
        let mut c = claims.clone();
        for (k, v) in changes.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    };
    let header = |kid: &str| {
        let mut h = Header::new(jsonwebtoken::Algorithm::ES256);
        h.kid = Some(kid.to_owned());
        h.typ = Some("at+jwt".into());
        h
    };
    // An attacker's own key, offered through every header that could name a key.
    let attacker_dir = tempfile::tempdir().unwrap();
    let (attacker_pem, attacker_kid) = keys::generate(attacker_dir.path(), Alg::Es256).unwrap();
    let attacker = ec_key(&attacker_pem);
    let attacker_jwk: Value = {
        let ring = tokenmint::crypto::KeyRing::load(attacker_dir.path(), "", "at+jwt").unwrap();
        serde_json::to_value(ring.jwks().keys[0].clone()).unwrap()
    };
    let jwks: Value = app.public_json("/.well-known/jwks.json").await;

    // The harness itself is right: our key over the genuine claims passes.
    let control = encode(&header(&kid), &claims, &ours).unwrap();
    assert_eq!(list_with(&app, &control).await, StatusCode::OK, "control");

    let mut cases: Vec<(&str, String)> = vec![
        (
            "alg none",
            compact(
                &json!({"alg": "none", "kid": kid, "typ": "at+jwt"}),
                &claims,
                b"",
            ),
        ),
        (
            "alg none, no kid",
            compact(&json!({"alg": "none"}), &claims, b""),
        ),
        (
            "unknown kid",
            encode(&header("no-such-kid"), &claims, &ours).unwrap(),
        ),
        (
            "expired",
            encode(
                &header(&kid),
                &with(json!({"exp": now - 120, "iat": now - 4000, "nbf": now - 4000})),
                &ours,
            )
            .unwrap(),
        ),
        (
            "nbf in the future",
            encode(&header(&kid), &with(json!({"nbf": now + 3600})), &ours).unwrap(),
        ),
        (
            "another issuer",
            encode(
                &header(&kid),
                &with(json!({"iss": "https://evil.example"})),
                &ours,
            )
            .unwrap(),
        ),
        (
            "no expiry",
            encode(
                &header(&kid),
                &{
                    let mut c = claims.clone();
                    c.as_object_mut().unwrap().remove("exp");
                    c
                },
                &ours,
            )
            .unwrap(),
        ),
    ];
    // HS256 keyed with our public key (the JWK, its x coordinate, its JSON): the classic
    // algorithm-confusion forgery.
    let public = &jwks["keys"][0];
    for secret in [
        public.to_string(),
        public["x"].as_str().unwrap().to_owned(),
        jwks.to_string(),
    ] {
        let mut h = Header::new(jsonwebtoken::Algorithm::HS256);
        h.kid = Some(kid.clone());
        cases.push((
            "HS256 with the public key",
            encode(&h, &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap(),
        ));
    }
    // Keys named by the token itself are never fetched or trusted.
    let mut jwk_header = header(&attacker_kid);
    jwk_header.jwk = Some(serde_json::from_value(attacker_jwk.clone()).unwrap());
    cases.push((
        "embedded jwk",
        encode(&jwk_header, &claims, &attacker).unwrap(),
    ));
    let mut jwk_ours = header(&kid);
    jwk_ours.jwk = Some(serde_json::from_value(attacker_jwk).unwrap());
    cases.push((
        "our kid, embedded attacker jwk",
        encode(&jwk_ours, &claims, &attacker).unwrap(),
    ));
    let mut jku = header(&kid);
    jku.jku = Some("http://127.0.0.1:9/jwks.json".into());
    cases.push(("jku", encode(&jku, &claims, &attacker).unwrap()));
    let mut x5u = header(&kid);
    x5u.x5u = Some("http://127.0.0.1:9/cert.pem".into());
    cases.push(("x5u", encode(&x5u, &claims, &attacker).unwrap()));

    for (case, token) in &cases {
        let response = app
            .http
            .get(app.url(&TestApp::clients_path(ORG)))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_error(response, StatusCode::UNAUTHORIZED, &[], case).await;
    }
}
