//! The audit trail: one event per admin write on every face and per refused admin
//! authentication, read back newest first through `GET /v1/auditEvents` with paging and a
//! target filter; refused token requests audited at a bounded rate; never a secret inside.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::grpc::{authed, plain_client, seed_client};
use crate::helpers::{ORG, Spawn, TestApp, seed_create_body, seed_update_body, spawn, spawn_app};
use tokenmint::proto::clients as pb;

/// Every audit event, newest first (following page tokens).
async fn all_events(app: &TestApp, query: &str) -> Vec<Value> {
    let mut events = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .get_json(&format!(
                "/v1/auditEvents?pageSize=100&pageToken={token}{query}"
            ))
            .await;
        events.extend(page["auditEvents"].as_array().expect("auditEvents").clone());
        token = page["nextPageToken"].as_str().unwrap().to_owned();
        if token.is_empty() {
            return events;
        }
    }
}

/// The newest event of `action`.
async fn newest(app: &TestApp, action: &str) -> Value {
    all_events(app, "")
        .await
        .into_iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("no {action} event"))
}

/// `builder` sent as the admin with `X-Request-Id: id`.
async fn send_as(app: &TestApp, builder: reqwest::RequestBuilder, id: &str) -> reqwest::Response {
    app.admin(builder)
        .header("x-request-id", id)
        .send()
        .await
        .unwrap()
}

fn assert_event(event: &Value, app: &TestApp, face: &str, target: &str, request_id: &str) {
    assert_eq!(event["face"], face, "{event}");
    assert_eq!(event["target"], target, "{event}");
    assert_eq!(event["outcome"], "OK", "{event}");
    assert_eq!(
        event["actor"],
        format!("clients/{}", app.admin_id),
        "{event}"
    );
    assert_eq!(event["requestId"], request_id, "{event}");
    assert_eq!(event["peer"], "127.0.0.1", "{event}");
    assert!(
        event["name"].as_str().unwrap().starts_with("auditEvents/"),
        "{event}"
    );
    assert!(event["time"].as_str().unwrap().ends_with('Z'), "{event}");
}

#[tokio::test]
async fn every_write_of_the_organization_face_is_one_event() {
    let app = spawn_app().await;
    let base = TestApp::clients_path(ORG);
    let created: Value = send_as(
        &app,
        app.http.post(app.url(&base)).json(&seed_create_body()),
        "org-create",
    )
    .await
    .json()
    .await
    .unwrap();
    let id = created["client"]["client_id"].as_str().unwrap().to_owned();
    let plain = created["plain_secret"].as_str().unwrap().to_owned();
    let first_secret = created["client"]["secrets"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let target = format!("clients/{id}");
    let event = newest(&app, "client.create").await;
    assert_event(&event, &app, "organization", &target, "org-create");

    let path = format!("{base}/{id}");
    let response = send_as(
        &app,
        app.http.patch(app.url(&path)).json(&seed_update_body()),
        "org-update",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let event = newest(&app, "client.update").await;
    assert_event(&event, &app, "organization", &target, "org-update");
    assert_eq!(
        event["changedFields"],
        json!(["description", "custom_claims"])
    );

    let added: Value = send_as(
        &app,
        app.http
            .post(app.url(&format!("{path}/secrets")))
            .json(&json!({})),
        "org-add-secret",
    )
    .await
    .json()
    .await
    .unwrap();
    let sid = added["secret"]["id"].as_str().unwrap();
    let event = newest(&app, "secret.create").await;
    assert_event(
        &event,
        &app,
        "organization",
        &format!("{target}/secrets/{sid}"),
        "org-add-secret",
    );

    let response = send_as(
        &app,
        app.http
            .delete(app.url(&format!("{path}/secrets/{first_secret}"))),
        "org-delete-secret",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let event = newest(&app, "secret.delete").await;
    assert_event(
        &event,
        &app,
        "organization",
        &format!("{target}/secrets/{first_secret}"),
        "org-delete-secret",
    );

    let response = send_as(&app, app.http.delete(app.url(&path)), "org-delete").await;
    assert_eq!(response.status(), StatusCode::OK);
    let event = newest(&app, "client.delete").await;
    assert_event(&event, &app, "organization", &target, "org-delete");

    // A write that fails is an event too, with its outcome and reason.
    let response = send_as(&app, app.http.delete(app.url(&path)), "org-delete-again").await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let event = newest(&app, "client.delete").await;
    assert_eq!(event["requestId"], "org-delete-again");
    assert_eq!(event["outcome"], "NOT_FOUND");
    assert!(event["reason"].as_str().unwrap().contains("not found"));

    // Exactly one event per write, and nothing of the secrets in any of them.
    let events = all_events(&app, "").await;
    assert_eq!(events.len(), 6, "{events:#?}");
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&plain), "no plain secret in the trail");
    assert!(!text.contains("$argon2"), "no hash in the trail");
    assert!(!text.contains(&app.admin_token), "no token in the trail");
}

#[tokio::test]
async fn every_write_of_the_v1_face_is_one_event() {
    let app = spawn_app().await;
    let created: Value = send_as(
        &app,
        app.http
            .post(app.url("/v1/clients"))
            .json(&json!({"displayName": "flags", "scopes": ["flags:resolve"]})),
        "v1-create",
    )
    .await
    .json()
    .await
    .unwrap();
    let target = created["name"].as_str().unwrap().to_owned();
    let event = newest(&app, "client.create").await;
    assert_event(&event, &app, "v1", &target, "v1-create");

    let response = send_as(
        &app,
        app.http
            .patch(app.url(&format!("/v1/{target}?updateMask=displayName,labels")))
            .json(&json!({"displayName": "flags 2", "labels": {"team": "a"}})),
        "v1-update",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let event = newest(&app, "client.update").await;
    assert_event(&event, &app, "v1", &target, "v1-update");
    assert_eq!(event["changedFields"], json!(["name", "labels"]));

    let credential: Value = send_as(
        &app,
        app.http
            .post(app.url(&format!("/v1/{target}/credentials")))
            .json(&json!({"displayName": "backend"})),
        "v1-add",
    )
    .await
    .json()
    .await
    .unwrap();
    let plain = credential["clientSecret"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let credential_name = credential["name"].as_str().unwrap().to_owned();
    let sid = credential_name.rsplit('/').next().unwrap();
    let secret_target = format!("{target}/secrets/{sid}");
    let event = newest(&app, "secret.create").await;
    assert_event(&event, &app, "v1", &secret_target, "v1-add");
    assert_eq!(event["changedFields"], json!(["display_name"]));

    let replacement = "a-replacement-secret-value-0123456789";
    let response = send_as(
        &app,
        app.http
            .patch(app.url(&format!("/v1/{credential_name}?updateMask=clientSecret")))
            .json(&json!({"clientSecret": {"secret": replacement}})),
        "v1-replace",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let event = newest(&app, "secret.update").await;
    assert_event(&event, &app, "v1", &secret_target, "v1-replace");
    assert_eq!(event["changedFields"], json!(["secret"]));

    let response = send_as(
        &app,
        app.http.delete(app.url(&format!("/v1/{credential_name}"))),
        "v1-del-cred",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_event(
        &newest(&app, "secret.delete").await,
        &app,
        "v1",
        &secret_target,
        "v1-del-cred",
    );

    let response = send_as(
        &app,
        app.http.delete(app.url(&format!("/v1/{target}"))),
        "v1-delete",
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_event(
        &newest(&app, "client.delete").await,
        &app,
        "v1",
        &target,
        "v1-delete",
    );

    let events = all_events(&app, "").await;
    assert_eq!(events.len(), 6, "{events:#?}");
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&plain) && !text.contains(replacement));
}

/// `request` with `X-Request-Id: id` metadata.
fn with_id<T>(mut request: tonic::Request<T>, id: &str) -> tonic::Request<T> {
    request
        .metadata_mut()
        .insert("x-request-id", id.parse().unwrap());
    request
}

#[tokio::test]
async fn every_write_of_the_grpc_face_is_one_event() {
    let app = spawn_app().await;
    let mut grpc = plain_client(&app).await;
    let token = app.admin_token.clone();
    let created = grpc
        .create_organization_client(with_id(
            authed(
                &token,
                pb::CreateOrganizationClientRequest {
                    organization_id: ORG.into(),
                    client: Some(seed_client()),
                },
            ),
            "grpc-create",
        ))
        .await
        .unwrap()
        .into_inner();
    let client = created.client.unwrap();
    let target = format!("clients/{}", client.client_id);
    let event = newest(&app, "client.create").await;
    assert_event(&event, &app, "grpc", &target, "grpc-create");

    grpc.update_organization_client(with_id(
        authed(
            &token,
            pb::UpdateOrganizationClientRequest {
                organization_id: ORG.into(),
                client_id: client.client_id.clone(),
                client: Some(pb::OrganizationClient {
                    description: "changed".into(),
                    ..Default::default()
                }),
            },
        ),
        "grpc-update",
    ))
    .await
    .unwrap();
    let event = newest(&app, "client.update").await;
    assert_event(&event, &app, "grpc", &target, "grpc-update");
    assert_eq!(event["changedFields"], json!(["description"]));

    let added = grpc
        .create_organization_client_secret(with_id(
            authed(
                &token,
                pb::CreateOrganizationClientSecretRequest {
                    organization_id: ORG.into(),
                    client_id: client.client_id.clone(),
                },
            ),
            "grpc-add",
        ))
        .await
        .unwrap()
        .into_inner();
    let sid = added.secret.unwrap().id;
    assert_event(
        &newest(&app, "secret.create").await,
        &app,
        "grpc",
        &format!("{target}/secrets/{sid}"),
        "grpc-add",
    );
    grpc.delete_organization_client_secret(with_id(
        authed(
            &token,
            pb::DeleteOrganizationClientSecretRequest {
                organization_id: ORG.into(),
                client_id: client.client_id.clone(),
                secret_id: sid.clone(),
            },
        ),
        "grpc-del-secret",
    ))
    .await
    .unwrap();
    assert_event(
        &newest(&app, "secret.delete").await,
        &app,
        "grpc",
        &format!("{target}/secrets/{sid}"),
        "grpc-del-secret",
    );
    grpc.delete_organization_client(with_id(
        authed(
            &token,
            pb::DeleteOrganizationClientRequest {
                organization_id: ORG.into(),
                client_id: client.client_id.clone(),
            },
        ),
        "grpc-delete",
    ))
    .await
    .unwrap();
    assert_event(
        &newest(&app, "client.delete").await,
        &app,
        "grpc",
        &target,
        "grpc-delete",
    );
    assert_eq!(all_events(&app, "").await.len(), 5);
}

#[tokio::test]
async fn refused_admin_authentications_are_events_naming_the_reason() {
    let app = spawn_app().await;
    let path = TestApp::clients_path(ORG);
    let response = app
        .http
        .get(app.url(&path))
        .bearer_auth("not-a-token")
        .header("x-request-id", "refused-1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // A client without the admin scope: its token proves who it is, so it is the actor.
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let token = app.token_for(id, &secret).await;
    let response = app
        .http
        .post(app.url(&path))
        .bearer_auth(&token)
        .header("x-request-id", "refused-2")
        .json(&seed_create_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let events = all_events(&app, "").await;
    let refused: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "admin.authenticate")
        .collect();
    assert_eq!(refused.len(), 2, "{events:#?}");
    let (second, first) = (refused[0], refused[1]);
    assert_eq!(first["requestId"], "refused-1");
    assert_eq!(first["actor"], "anonymous");
    assert_eq!(first["outcome"], "UNAUTHENTICATED");
    assert_eq!(first["target"], path);
    assert!(first["reason"].as_str().unwrap().len() > 5);
    assert_eq!(second["requestId"], "refused-2");
    assert_eq!(second["actor"], format!("clients/{id}"));
    assert_eq!(second["outcome"], "PERMISSION_DENIED");
    assert!(second["reason"].as_str().unwrap().contains("scope"));
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&token) && !text.contains(&secret));
}

#[tokio::test]
async fn the_trail_pages_newest_first_and_filters_by_target() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let mut body = seed_create_body();
        body["name"] = json!(format!("client {n}"));
        let (client, _) = app.create_client(ORG, &body).await;
        ids.push(client["client_id"].as_str().unwrap().to_owned());
    }
    let first = &ids[0];
    let path = format!("{}/{first}", TestApp::clients_path(ORG));
    assert_eq!(
        app.patch(&path, &seed_update_body()).await.status(),
        StatusCode::OK
    );
    let added: Value = app
        .post(&format!("{path}/secrets"), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    let sid = added["secret"]["id"].as_str().unwrap();

    // Five events in all, two per page, newest first, none repeated or skipped.
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = app
            .get_json(&format!("/v1/auditEvents?pageSize=2&pageToken={token}"))
            .await;
        let events = page["auditEvents"].as_array().unwrap();
        assert!(events.len() <= 2);
        seen.extend(
            events
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        token = page["nextPageToken"].as_str().unwrap().to_owned();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(pages, 3);
    let everything = all_events(&app, "").await;
    let names: Vec<String> = everything
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(seen, names);
    assert_eq!(names.len(), 5);
    let actions: Vec<&str> = everything
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "secret.create",
            "client.update",
            "client.create",
            "client.create",
            "client.create"
        ]
    );

    // The filter keeps the client's events and its secrets', newest first.
    let about_first = all_events(&app, &format!("&target=clients/{first}")).await;
    let targets: Vec<&str> = about_first
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            format!("clients/{first}/secrets/{sid}"),
            format!("clients/{first}"),
            format!("clients/{first}"),
        ]
    );
    let page = app
        .get_json(&format!(
            "/v1/auditEvents?pageSize=1&target=clients/{first}"
        ))
        .await;
    assert_eq!(page["auditEvents"].as_array().unwrap().len(), 1);
    assert_ne!(page["nextPageToken"], "");

    // A made-up page token is a clear error.
    let response = app.get("/v1/auditEvents?pageToken=bogus").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["details"][0]["field"], "pageToken");
}

#[tokio::test]
async fn only_environment_admins_read_the_trail() {
    let app = spawn_app().await;
    let mut body = seed_create_body();
    body["scopes"] = json!([app.settings.admin.scope]);
    let (client, secret) = app.create_client(ORG, &body).await;
    let token = app
        .token_for(client["client_id"].as_str().unwrap(), &secret)
        .await;
    let response = app
        .http
        .get(app.url("/v1/auditEvents"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app
        .http
        .get(app.url("/v1/auditEvents"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refused_token_requests_are_audited_at_a_bounded_rate_and_successes_never() {
    let app = spawn(Spawn {
        configure: Box::new(|s| s.audit.failure_events_per_sec = 2),
        ..Spawn::default()
    })
    .await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    for _ in 0..3 {
        assert_eq!(
            app.token_request(id, &secret, &[]).await.status(),
            StatusCode::OK
        );
    }
    let wrong = format!("{secret}x");
    for _ in 0..8 {
        let status = app.token_request(id, &wrong, &[]).await.status();
        assert!(status == StatusCode::UNAUTHORIZED || status == StatusCode::TOO_MANY_REQUESTS);
    }
    // Written off the response path: wait for the first ones to land.
    let mut token_events = Vec::new();
    for _ in 0..50 {
        token_events = all_events(&app, "")
            .await
            .into_iter()
            .filter(|e| e["action"] == "token.issue")
            .collect();
        if !token_events.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        (1..=3).contains(&token_events.len()),
        "8 failures at 2 events/s give at most the burst (and one refill): {token_events:#?}"
    );
    let event = &token_events[0];
    assert_eq!(event["face"], "token");
    assert_eq!(event["actor"], "anonymous");
    assert_eq!(event["target"], format!("clients/{id}"));
    assert_eq!(event["outcome"], "invalid_client");
    let text = serde_json::to_string(&token_events).unwrap();
    assert!(!text.contains(&wrong) && !text.contains(&secret));
}
