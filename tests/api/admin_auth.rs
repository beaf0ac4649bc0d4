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
