use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ORG, TestApp, assert_error, seed_create_body, spawn_app};

async fn new_client(app: &TestApp) -> String {
    let response = app
        .post(
            "/v1/clients",
            &json!({"displayName": "flags backend", "scopes": ["flags:resolve"]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["name"]
        .as_str()
        .unwrap()
        .strip_prefix("clients/")
        .unwrap()
        .to_owned()
}

async fn new_credential(app: &TestApp, client: &str, body: Value) -> (String, String) {
    let response = app
        .post(&format!("/v1/clients/{client}/credentials"), &body)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let name = body["name"].as_str().unwrap();
    let sid = name.rsplit('/').next().unwrap().to_owned();
    (
        sid,
        body["clientSecret"]["secret"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_credential_created_here_authenticates_at_the_token_endpoint() {
    let app = spawn_app().await;
    let client = new_client(&app).await;
    assert!(
        client.starts_with("m2m_"),
        "a /v1 client has no organization: {client}"
    );
    let response = app
        .post(
            &format!("/v1/clients/{client}/credentials"),
            &json!({"displayName": "backend", "environments": ["production", "staging"]}),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["name"].as_str().unwrap().split('/').count(), 4);
    assert_eq!(body["creator"], format!("clients/{}", app.admin_id));
    assert_eq!(body["status"], "ACTIVE");
    assert_eq!(body["sdkType"], "SDK_TYPE_UNSPECIFIED");
    let secret = body["clientSecret"]["secret"].as_str().unwrap();
    let sid = body["name"].as_str().unwrap().rsplit('/').next().unwrap();

    let token = app.token_for(&client, secret).await;
    let claims = app.verify(&token).await;
    assert_eq!(
        claims["environments"],
        json!(["production", "staging"]),
        "a restricted secret carries all its environments"
    );
    assert!(claims.get("oid").is_none());
    let response = app
        .token_request(&client, secret, &[("environment", "staging")])
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        app.verify(body["access_token"].as_str().unwrap()).await["environments"],
        json!(["staging"])
    );
    let response = app
        .token_request(&client, secret, &[("environment", "dev")])
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].as_str().unwrap().contains("dev"));

    let read: Value = app
        .get_json(&format!("/v1/clients/{client}/credentials/{sid}"))
        .await;
    assert!(
        read.get("clientSecret").is_none(),
        "the secret is returned only at creation"
    );
    // lastSeenTime follows use (written off the response path).
    let seen = app
        .eventually_string(
            &format!("/v1/clients/{client}/credentials/{sid}"),
            "/lastSeenTime",
        )
        .await;
    assert!(seen.is_string(), "credential lastSeenTime: {seen}");
    let read: Value = app.get_json(&format!("/v1/clients/{client}")).await;
    assert!(
        read["lastSeenTime"].is_string(),
        "client lastSeenTime: {read}"
    );
}

#[tokio::test]
async fn the_seed_patch_changes_exactly_the_masked_fields() {
    let app = spawn_app().await;
    let client = new_client(&app).await;
    let (sid, _) = new_credential(&app, &client, json!({"displayName": "old", "labels": {"team": "a"}, "sdkType": "FRONTEND", "environments": ["x"]})).await;
    let path = format!("/v1/clients/{client}/credentials/{sid}");
    let before: Value = app.get_json(&path).await;
    let seed = json!({"displayName": "backend prod", "environments": ["production"], "labels": {"tier": "gold"}, "sdkType": "BACKEND"});
    let response = app
        .patch(
            &format!("{path}?updateMask=display_name,environments"),
            &seed,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let after: Value = response.json().await.unwrap();
    assert_eq!(after["displayName"], "backend prod");
    assert_eq!(after["environments"], json!(["production"]));
    assert_eq!(after["labels"], before["labels"], "not in the mask");
    assert_eq!(after["sdkType"], "FRONTEND", "not in the mask");
    assert_eq!(after["updater"], format!("clients/{}", app.admin_id));
    // camelCase paths; a listed field absent from the body is cleared.
    let after: Value = app
        .patch(
            &format!("{path}?updateMask=labels,sdkType"),
            &json!({"sdkType": "BACKEND"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(after["labels"], json!({}));
    assert_eq!(after["sdkType"], "BACKEND");
    // Without a mask, the fields present change.
    let after: Value = app
        .patch(&path, &json!({"labels": {"k": "v"}}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (after["labels"].clone(), after["displayName"].clone()),
        (json!({"k": "v"}), json!("backend prod"))
    );
}

#[tokio::test]
async fn replacing_a_credentials_secret_through_the_mask_swaps_the_value() {
    let app = spawn_app().await;
    let client = new_client(&app).await;
    let (sid, old) = new_credential(&app, &client, json!({"displayName": "c"})).await;
    let path = format!("/v1/clients/{client}/credentials/{sid}?updateMask=clientSecret");
    let replacement = "a-very-long-admin-chosen-secret-0123456789";
    let response = app
        .patch(&path, &json!({"clientSecret": {"secret": replacement}}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(
        body.get("clientSecret").is_none() && !body.to_string().contains(replacement),
        "never returned"
    );
    assert_eq!(body["secretSuffix"], "6789");
    assert_eq!(
        app.token_request(&client, &old, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.token_request(&client, replacement, &[]).await.status(),
        StatusCode::OK
    );
    let response = app
        .patch(&path, &json!({"clientSecret": {"secret": "too-short"}}))
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        &["clientSecret.secret"],
        "short secret",
    )
    .await;
    let response = app.patch(&path, &json!({})).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        &["clientSecret"],
        "secret cannot be cleared",
    )
    .await;
    // Deactivating a credential stops it.
    let response = app
        .patch(
            &format!("/v1/clients/{client}/credentials/{sid}?updateMask=status"),
            &json!({"status": "INACTIVE"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.token_request(&client, replacement, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn every_bad_mask_and_bad_field_is_a_400_naming_it() {
    let app = spawn_app().await;
    let client = new_client(&app).await;
    let (sid, _) = new_credential(&app, &client, json!({"displayName": "c"})).await;
    let cred = format!("/v1/clients/{client}/credentials/{sid}");
    let cli = format!("/v1/clients/{client}");
    let cases: Vec<(&str, String, Value, Vec<&str>)> = vec![
        (
            "unknown mask path",
            format!("{cred}?updateMask=colour"),
            json!({}),
            vec!["updateMask"],
        ),
        (
            "output-only mask path",
            format!("{cred}?updateMask=createTime"),
            json!({}),
            vec!["updateMask"],
        ),
        (
            "credential displayName emptied through the mask",
            format!("{cred}?updateMask=displayName"),
            json!({"displayName": ""}),
            vec!["displayName"],
        ),
        (
            "credential displayName of spaces",
            format!("{cred}?updateMask=displayName"),
            json!({"displayName": "   "}),
            vec!["displayName"],
        ),
        (
            "credential displayName with a bidi isolate",
            format!("{cred}?updateMask=displayName"),
            json!({"displayName": "ops\u{2067}x"}),
            vec!["displayName"],
        ),
        (
            "client displayName with a zero-width joiner",
            format!("{cli}?updateMask=displayName"),
            json!({"displayName": "a\u{200D}b"}),
            vec!["displayName"],
        ),
        (
            "name in mask",
            format!("{cli}?updateMask=name"),
            json!({}),
            vec!["updateMask"],
        ),
        (
            "creator in mask",
            format!("{cli}?update_mask=creator"),
            json!({}),
            vec!["updateMask"],
        ),
        (
            "displayName cleared",
            format!("{cred}?updateMask=displayName"),
            json!({}),
            vec!["displayName"],
        ),
        (
            "client displayName cleared",
            format!("{cli}?updateMask=display_name"),
            json!({}),
            vec!["displayName"],
        ),
        (
            "unknown body field",
            cred.clone(),
            json!({"colour": "red"}),
            vec!["colour"],
        ),
        (
            "bad sdkType",
            cred.clone(),
            json!({"sdkType": "MOBILE"}),
            vec!["sdkType"],
        ),
        (
            "bad status",
            cred.clone(),
            json!({"status": "ON"}),
            vec!["status"],
        ),
        (
            "bad environments",
            cred.clone(),
            json!({"environments": ["a b"]}),
            vec!["environments[0]"],
        ),
        (
            "bad labels",
            cred.clone(),
            json!({"labels": {"Bad": "x"}}),
            vec!["labels.Bad"],
        ),
        (
            "bad expireTime",
            cred.clone(),
            json!({"expireTime": "tomorrow"}),
            vec!["expireTime"],
        ),
        (
            "bad scopes",
            cli.clone(),
            json!({"scopes": ["a b"], "expiry": 1}),
            vec!["scopes[0]", "expiry"],
        ),
        (
            "bad customClaims",
            cli.clone(),
            json!({"customClaims": [{"key": "iss", "value": "x"}]}),
            vec!["customClaims[0].key"],
        ),
    ];
    for (case, path, body, fields) in cases {
        assert_error(
            app.patch(&path, &body).await,
            StatusCode::BAD_REQUEST,
            &fields,
            case,
        )
        .await;
    }
    assert_error(
        app.post("/v1/clients", &json!({"description": "x"})).await,
        StatusCode::BAD_REQUEST,
        &["displayName"],
        "create without displayName",
    )
    .await;
    assert_error(
        app.post(&format!("{cli}/credentials"), &json!({})).await,
        StatusCode::BAD_REQUEST,
        &["displayName"],
        "credential without displayName",
    )
    .await;
    let output_only_ignored = app.patch(&cli, &json!({"name": "clients/other", "createTime": "2020-01-01T00:00:00Z", "description": "d"})).await;
    assert_eq!(
        output_only_ignored.status(),
        StatusCode::OK,
        "output-only fields in a body are ignored"
    );
}

#[tokio::test]
async fn a_client_is_one_record_seen_from_both_faces() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let v1: Value = app.get_json(&format!("/v1/clients/{id}")).await;
    assert_eq!(v1["name"], format!("clients/{id}"));
    assert_eq!(v1["displayName"], client["name"]);
    assert_eq!(v1["organizationId"], ORG);
    assert_eq!(v1["customClaims"], client["custom_claims"]);
    let updated: Value = app
        .patch(
            &format!("/v1/clients/{id}?updateMask=description,labels"),
            &json!({"description": "via v1", "labels": {"team": "ops"}}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(updated["labels"], json!({"team": "ops"}));
    let org: Value = app
        .get_json(&format!("{}/{id}", TestApp::clients_path(ORG)))
        .await;
    assert_eq!(org["client"]["description"], "via v1");
    assert_eq!(org["client"]["scopes"], client["scopes"]);
    let creds: Value = app.get_json(&format!("/v1/clients/{id}/credentials")).await;
    assert_eq!(
        creds["clientCredentials"][0]["secretSuffix"],
        &secret[secret.len() - 4..]
    );
    assert_eq!(
        app.delete(&format!("/v1/clients/{id}")).await.status(),
        StatusCode::OK
    );
    assert_error(
        app.get(&format!("{}/{id}", TestApp::clients_path(ORG)))
            .await,
        StatusCode::NOT_FOUND,
        &[],
        "deleted via v1",
    )
    .await;
    assert_eq!(
        app.token_request(id, &secret, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn pagination_holds_under_concurrent_inserts_and_deletes() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(new_client(&app).await);
    }
    // Page through while clients are added and others (not yet seen) deleted concurrently.
    let mut seen: Vec<String> = Vec::new();
    let mut token = String::new();
    let mut deleted = Vec::new();
    let mut added = Vec::new();
    loop {
        let body: Value = app
            .get_json(&format!("/v1/clients?pageSize=2&pageToken={token}"))
            .await;
        for c in body["clients"].as_array().unwrap() {
            seen.push(
                c["name"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("clients/")
                    .to_owned(),
            );
        }
        token = body["nextPageToken"].as_str().unwrap().to_owned();
        if token.is_empty() {
            break;
        }
        let victim = ids
            .iter()
            .find(|id| !seen.contains(id) && !deleted.contains(*id))
            .cloned();
        let (insert, ()) = tokio::join!(new_client(&app), async {
            if let Some(v) = &victim {
                assert_eq!(
                    app.delete(&format!("/v1/clients/{v}")).await.status(),
                    StatusCode::OK
                );
            }
        });
        added.push(insert);
        deleted.extend(victim);
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), seen.len(), "an item was repeated: {seen:?}");
    for id in ids.iter().chain(std::iter::once(&app.admin_id)) {
        if !deleted.contains(id) {
            assert!(seen.contains(id), "{id} was skipped");
        }
    }
    for id in &deleted {
        assert!(!seen.contains(id), "deleted {id} was listed");
    }

    // Credentials page the same way.
    let client = &ids[ids.len() - 1];
    for n in 0..4 {
        new_credential(&app, client, json!({"displayName": format!("c{n}")})).await;
    }
    let first: Value = app
        .get_json(&format!("/v1/clients/{client}/credentials?pageSize=3"))
        .await;
    assert_eq!(first["clientCredentials"].as_array().unwrap().len(), 3);
    let token = first["nextPageToken"].as_str().unwrap();
    let second: Value = app
        .get_json(&format!(
            "/v1/clients/{client}/credentials?pageSize=3&pageToken={token}"
        ))
        .await;
    let names: Vec<&str> = second["clientCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["displayName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["c3"]);
    assert_eq!(second["nextPageToken"], "");
}

#[tokio::test]
async fn organization_admins_are_refused_on_this_face() {
    let app = spawn_app().await;
    let mut body = seed_create_body();
    body["scopes"] = json!(["tokenmint:admin"]);
    let (admin, secret) = app.create_client(ORG, &body).await;
    let token = app
        .token_for(admin["client_id"].as_str().unwrap(), &secret)
        .await;
    let response = app
        .http
        .get(app.url("/v1/clients"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(response, StatusCode::FORBIDDEN, &[], "org admin on /v1").await;
    let response = app.http.get(app.url("/v1/clients")).send().await.unwrap();
    assert_error(response, StatusCode::UNAUTHORIZED, &[], "no token").await;
    let client = new_client(&app).await;
    assert_error(
        app.get(&format!(
            "/v1/clients/{client}/credentials/sks_000000000000000000"
        ))
        .await,
        StatusCode::NOT_FOUND,
        &[],
        "unknown credential",
    )
    .await;
    let etag = app.get(&format!("/v1/clients/{client}")).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    app.patch(
        &format!("/v1/clients/{client}"),
        &json!({"description": "moved on"}),
    )
    .await;
    let stale = app
        .admin(app.http.delete(app.url(&format!("/v1/clients/{client}"))))
        .header("if-match", etag)
        .send()
        .await
        .unwrap();
    assert_error(
        stale,
        StatusCode::PRECONDITION_FAILED,
        &[],
        "stale If-Match on /v1",
    )
    .await;
}
