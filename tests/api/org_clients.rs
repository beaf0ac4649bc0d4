use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ORG, TestApp, assert_error, seed_create_body, seed_update_body, spawn_app};

fn path(org: &str, rest: &str) -> String {
    format!("{}{rest}", TestApp::clients_path(org))
}

#[tokio::test]
async fn creating_with_the_seed_body_returns_the_seed_shape_and_one_secret() {
    let app = spawn_app().await;
    let response = app.post(&path(ORG, ""), &seed_create_body()).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().contains_key("etag"));
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let client = &body["client"];
    let id = client["client_id"].as_str().unwrap();
    assert!(id.starts_with("m2morg_") && id.len() == 7 + 18, "{id}");
    for (key, value) in seed_create_body().as_object().unwrap() {
        assert_eq!(&client[key], value, "{key}");
    }
    assert_eq!(client["organization_id"], ORG);
    for key in ["create_time", "update_time"] {
        assert!(client[key].as_str().unwrap().ends_with('Z'), "{key}");
    }
    let secrets = client["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 1);
    let plain = body["plain_secret"].as_str().unwrap();
    assert!(plain.starts_with("tm_") && plain.len() == 67);
    assert_eq!(secrets[0]["secret_suffix"], &plain[plain.len() - 4..]);
    assert_eq!(secrets[0]["status"], "ACTIVE");
    assert!(secrets[0]["id"].as_str().unwrap().starts_with("sks_"));
    assert_eq!(
        secrets[0]["created_by"],
        format!("clients/{}", app.admin_id)
    );

    let read: Value = app.get_json(&path(ORG, &format!("/{id}"))).await;
    assert_eq!(read["client"]["name"], "GitHub Actions Deployment Service");
    assert!(
        !read.to_string().contains(plain),
        "the plain secret is returned only once"
    );
    assert!(
        !read.to_string().contains("argon2"),
        "no hash leaves the store"
    );
}

#[tokio::test]
async fn the_update_seed_changes_only_the_fields_it_sends() {
    let app = spawn_app().await;
    let (client, _) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let response = app
        .patch(&path(ORG, &format!("/{id}")), &seed_update_body())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let updated: Value = response.json().await.unwrap();
    let updated = &updated["client"];
    assert_eq!(updated["description"], seed_update_body()["description"]);
    assert_eq!(
        updated["custom_claims"],
        seed_update_body()["custom_claims"]
    );
    for unchanged in [
        "name",
        "scopes",
        "audience",
        "expiry",
        "create_time",
        "client_id",
    ] {
        assert_eq!(updated[unchanged], client[unchanged], "{unchanged}");
    }
    assert_ne!(updated["update_time"], client["update_time"]);
}

#[tokio::test]
async fn patch_clears_with_empty_arrays_and_resets_with_null() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let body: Value = app
        .patch(
            &path(ORG, &format!("/{id}")),
            &json!({"scopes": [], "expiry": null, "custom_claims": null, "description": null}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["client"]["scopes"], json!([]));
    assert_eq!(body["client"]["expiry"], 3600);
    assert_eq!(body["client"]["custom_claims"], json!([]));
    assert_eq!(body["client"]["description"], "");
    let body: Value = app
        .patch(&path(ORG, &format!("/{id}")), &json!({"expiry": "120"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["client"]["expiry"], 120,
        "a numeric string is accepted"
    );
    let token = app.token_for(id, &secret).await;
    let claims = app.verify(&token).await;
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        120
    );
    assert_eq!(claims["scopes"], json!([]));
}

#[tokio::test]
async fn every_validation_rule_rejects_its_bad_inputs_naming_the_field() {
    let app = spawn_app().await;
    let with = |key: &str, value: Value| {
        let mut body = seed_create_body();
        body[key] = value;
        body
    };
    let long_scopes: Vec<String> = (0..101).map(|i| format!("s{i}")).collect();
    let many_claims: Vec<Value> = (0..51)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    let cases: Vec<(&str, Value, Vec<&str>)> = vec![
        (
            "name missing",
            {
                let mut b = seed_create_body();
                b.as_object_mut().unwrap().remove("name");
                b
            },
            vec!["name"],
        ),
        ("name empty", with("name", json!("")), vec!["name"]),
        (
            "name too long",
            with("name", json!("n".repeat(257))),
            vec!["name"],
        ),
        (
            "name control char",
            with("name", json!("a\u{0}b")),
            vec!["name"],
        ),
        (
            "name only spaces",
            with("name", json!("  \t ")),
            vec!["name"],
        ),
        (
            "name with a bidi override",
            with("name", json!("deploy\u{202E}nimda")),
            vec!["name"],
        ),
        (
            "name with a zero-width space",
            with("name", json!("ad\u{200B}min")),
            vec!["name"],
        ),
        (
            "claim value with NUL",
            with(
                "custom_claims",
                json!([{"key": "env", "value": "prod\u{0}uction"}]),
            ),
            vec!["custom_claims[0].value"],
        ),
        (
            "claim value with ESC",
            with(
                "custom_claims",
                json!([{"key": "env", "value": "\u{1b}[2Jprod"}]),
            ),
            vec!["custom_claims[0].value"],
        ),
        (
            "scp as a claim key",
            with("custom_claims", json!([{"key": "scp", "value": "admin"}])),
            vec!["custom_claims[0].key"],
        ),
        (
            "credential_id as a claim key",
            with(
                "custom_claims",
                json!([{"key": "credential_id", "value": "sks_1"}]),
            ),
            vec!["custom_claims[0].key"],
        ),
        ("name not a string", with("name", json!(7)), vec!["name"]),
        (
            "description too long",
            with("description", json!("d".repeat(2049))),
            vec!["description"],
        ),
        (
            "scopes not a list",
            with("scopes", json!("read")),
            vec!["scopes"],
        ),
        (
            "scope with space",
            with("scopes", json!(["ok", "a b"])),
            vec!["scopes[1]"],
        ),
        (
            "scope with quote",
            with("scopes", json!(["a\"b"])),
            vec!["scopes[0]"],
        ),
        (
            "scope empty",
            with("scopes", json!([""])),
            vec!["scopes[0]"],
        ),
        (
            "scope duplicated",
            with("scopes", json!(["a", "a"])),
            vec!["scopes[1]"],
        ),
        (
            "too many scopes",
            with("scopes", json!(long_scopes)),
            vec!["scopes"],
        ),
        (
            "audience with space",
            with("audience", json!(["https://a b"])),
            vec!["audience[0]"],
        ),
        (
            "audience duplicated",
            with("audience", json!(["x", "x"])),
            vec!["audience[1]"],
        ),
        (
            "audience too long",
            with("audience", json!(["a".repeat(2049)])),
            vec!["audience[0]"],
        ),
        (
            "too many audiences",
            with(
                "audience",
                json!((0..21).map(|i| format!("a{i}")).collect::<Vec<_>>()),
            ),
            vec!["audience"],
        ),
        (
            "reserved claim",
            with("custom_claims", json!([{"key": "sub", "value": "x"}])),
            vec!["custom_claims[0].key"],
        ),
        (
            "claim key shape",
            with("custom_claims", json!([{"key": "9lives", "value": "x"}])),
            vec!["custom_claims[0].key"],
        ),
        (
            "duplicate claim",
            with(
                "custom_claims",
                json!([{"key": "a", "value": "x"}, {"key": "a", "value": "y"}]),
            ),
            vec!["custom_claims[1].key"],
        ),
        (
            "claim value too long",
            with(
                "custom_claims",
                json!([{"key": "a", "value": "v".repeat(1025)}]),
            ),
            vec!["custom_claims[0].value"],
        ),
        (
            "too many claims",
            with("custom_claims", json!(many_claims)),
            vec!["custom_claims"],
        ),
        (
            "expiry too short",
            with("expiry", json!(59)),
            vec!["expiry"],
        ),
        (
            "expiry too long",
            with("expiry", json!(86401)),
            vec!["expiry"],
        ),
        (
            "expiry not numeric",
            with("expiry", json!("an hour")),
            vec!["expiry"],
        ),
        (
            "unknown field",
            with("colour", json!("red")),
            vec!["colour"],
        ),
        (
            "several at once",
            {
                let mut b = with("scopes", json!(["a b"]));
                b["expiry"] = json!(1);
                b["name"] = json!("");
                b
            },
            vec!["expiry", "name", "scopes[0]"],
        ),
    ];
    for (case, body, fields) in cases {
        let response = app.post(&path(ORG, ""), &body).await;
        assert_error(response, StatusCode::BAD_REQUEST, &fields, case).await;
    }
    let (client, _) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let response = app
        .patch(&path(ORG, &format!("/{id}")), &json!({"name": null}))
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        &["name"],
        "name cannot be reset",
    )
    .await;
    let after: Value = app.get_json(&path(ORG, &format!("/{id}"))).await;
    assert_eq!(
        after["client"]["name"], client["name"],
        "a rejected PATCH changes nothing"
    );
}

#[tokio::test]
async fn bad_bodies_and_paths_get_their_status() {
    let app = spawn_app().await;
    let response = app
        .admin(app.http.post(app.url(&path(ORG, ""))))
        .body("{}")
        .header("content-type", "text/plain")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &[],
        "text body",
    )
    .await;
    let response = app
        .admin(app.http.post(app.url(&path(ORG, ""))))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        &["body"],
        "malformed JSON",
    )
    .await;
    let response = app.post(&path(ORG, ""), &json!(["array"])).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        &["body"],
        "not an object",
    )
    .await;
    let mut huge = seed_create_body();
    huge["description"] = json!("x".repeat(70 * 1024));
    let response = app.post(&path(ORG, ""), &huge).await;
    assert_error(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        &[],
        "body over 64 KiB",
    )
    .await;
    let response = app.get(&path("bad org!", "")).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        &["organization_id"],
        "bad organization id",
    )
    .await;
    for missing in ["/m2morg_000000000000000000", "/not-an-id"] {
        assert_error(
            app.get(&path(ORG, missing)).await,
            StatusCode::NOT_FOUND,
            &[],
            missing,
        )
        .await;
        assert_error(
            app.patch(&path(ORG, missing), &json!({})).await,
            StatusCode::NOT_FOUND,
            &[],
            missing,
        )
        .await;
        assert_error(
            app.delete(&path(ORG, missing)).await,
            StatusCode::NOT_FOUND,
            &[],
            missing,
        )
        .await;
    }
    let response = app.get(&path(ORG, "?page_size=101")).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        &["page_size"],
        "page size",
    )
    .await;
    let response = app.get(&path(ORG, "?page_token=garbage")).await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        &["page_token"],
        "page token",
    )
    .await;
}

#[tokio::test]
async fn a_client_holds_at_most_five_secrets() {
    let app = spawn_app().await;
    let (client, _) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let secrets_path = path(ORG, &format!("/{id}/secrets"));
    for n in 2..=5 {
        let response = app.post(&secrets_path, &json!({})).await;
        assert_eq!(response.status(), StatusCode::CREATED, "secret {n}");
        let body: Value = response.json().await.unwrap();
        assert!(body["plain_secret"].as_str().unwrap().starts_with("tm_"));
        assert!(body["secret"]["id"].as_str().unwrap().starts_with("sks_"));
    }
    let response = app.post(&secrets_path, &json!({})).await;
    assert_error(response, StatusCode::CONFLICT, &[], "sixth secret").await;
    let body: Value = app.get_json(&path(ORG, &format!("/{id}"))).await;
    assert_eq!(body["client"]["secrets"].as_array().unwrap().len(), 5);
    let response = app
        .delete(&path(ORG, &format!("/{id}/secrets/sks_000000000000000000")))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, &[], "unknown secret").await;
}

#[tokio::test]
async fn lists_page_through_an_organization_in_creation_order() {
    let app = spawn_app().await;
    let mut created = Vec::new();
    for i in 0..7 {
        let mut body = seed_create_body();
        body["name"] = json!(format!("client {i}"));
        let (client, _) = app.create_client(ORG, &body).await;
        created.push(client["client_id"].as_str().unwrap().to_owned());
    }
    app.create_client("other_org", &seed_create_body()).await;
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let body: Value = app
            .get_json(&path(ORG, &format!("?page_size=3&page_token={token}")))
            .await;
        assert_eq!(body["total_size"], 7);
        assert_eq!(body["prev_page_token"], "");
        for client in body["clients"].as_array().unwrap() {
            seen.push(client["client_id"].as_str().unwrap().to_owned());
        }
        token = body["next_page_token"].as_str().unwrap().to_owned();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen, created);
    let default_page: Value = app.get_json(&path(ORG, "")).await;
    assert_eq!(default_page["clients"].as_array().unwrap().len(), 7);
}

#[tokio::test]
async fn a_page_boundary_survives_deletes_and_inserts_between_pages() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (client, _) = app.create_client(ORG, &seed_create_body()).await;
        ids.push(client["client_id"].as_str().unwrap().to_owned());
    }
    let first: Value = app.get_json(&path(ORG, "?page_size=2")).await;
    let token = first["next_page_token"].as_str().unwrap().to_owned();
    // The page's last item is deleted and a new client added before the next page.
    assert_eq!(
        app.delete(&path(ORG, &format!("/{}", ids[1])))
            .await
            .status(),
        StatusCode::OK
    );
    let (late, _) = app.create_client(ORG, &seed_create_body()).await;
    let second: Value = app
        .get_json(&path(ORG, &format!("?page_size=10&page_token={token}")))
        .await;
    let rest: Vec<&str> = second["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        rest,
        [
            ids[2].as_str(),
            ids[3].as_str(),
            late["client_id"].as_str().unwrap()
        ]
    );
}

#[tokio::test]
async fn etags_make_writes_conditional() {
    let app = spawn_app().await;
    let (client, _) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let client_path = path(ORG, &format!("/{id}"));
    let etag = app.get(&client_path).await.headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let ok = app
        .admin(app.http.patch(app.url(&client_path)))
        .header("if-match", &etag)
        .json(&json!({"name": "v2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let new_etag = ok.headers()["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    let stale = app
        .admin(app.http.patch(app.url(&client_path)))
        .header("if-match", &etag)
        .json(&json!({"name": "v3"}))
        .send()
        .await
        .unwrap();
    assert_error(
        stale,
        StatusCode::PRECONDITION_FAILED,
        &[],
        "stale If-Match on PATCH",
    )
    .await;
    let stale = app
        .admin(app.http.delete(app.url(&client_path)))
        .header("if-match", &etag)
        .send()
        .await
        .unwrap();
    assert_error(
        stale,
        StatusCode::PRECONDITION_FAILED,
        &[],
        "stale If-Match on DELETE",
    )
    .await;
    let body: Value = app.get_json(&client_path).await;
    assert_eq!(body["client"]["name"], "v2");
    let ok = app
        .admin(app.http.delete(app.url(&client_path)))
        .header("if-match", &new_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    assert_eq!(ok.json::<Value>().await.unwrap(), json!({}));
}

#[tokio::test]
async fn concurrent_patches_of_different_fields_all_survive() {
    let app = spawn_app().await;
    let (client, _) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let client_path = path(ORG, &format!("/{id}"));
    let bodies = [
        json!({"name": "renamed"}),
        json!({"description": "described"}),
        json!({"scopes": ["only:this"]}),
        json!({"expiry": 600}),
        json!({"audience": ["https://one.example"]}),
    ];
    let requests = bodies.iter().map(|body| app.patch(&client_path, body));
    for response in futures_util::future::join_all(requests).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let body: Value = app.get_json(&client_path).await;
    let c = &body["client"];
    assert_eq!(
        (c["name"].as_str(), c["description"].as_str()),
        (Some("renamed"), Some("described"))
    );
    assert_eq!(c["scopes"], json!(["only:this"]));
    assert_eq!(c["expiry"], 600);
    assert_eq!(c["audience"], json!(["https://one.example"]));
}

#[tokio::test]
async fn fifty_concurrent_updates_are_each_applied_exactly_once() {
    let app = spawn_app().await;
    let (client, _) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    let client_path = path(ORG, &format!("/{id}"));
    let body = |i: usize| match i % 5 {
        0 => json!({"name": format!("name {i}")}),
        1 => json!({"description": format!("description {i}")}),
        2 => json!({"scopes": [format!("scope:{i}")]}),
        3 => json!({"expiry": 600 + i}),
        _ => json!({"audience": [format!("https://{i}.example")]}),
    };
    let bodies: Vec<Value> = (0..50).map(body).collect();
    let requests = bodies.iter().map(|b| app.patch(&client_path, b));
    for response in futures_util::future::join_all(requests).await {
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = app.get(&client_path).await;
    // Created at version 1; each of the 50 writes bumps it once, so none was lost.
    assert_eq!(response.headers()["etag"], "\"51\"");
    let c: Value = response.json().await.unwrap();
    let c = &c["client"];
    let written = |field: &str| -> Vec<Value> {
        bodies
            .iter()
            .filter_map(|b| b.get(field).cloned())
            .collect()
    };
    for field in ["name", "description", "scopes", "expiry", "audience"] {
        assert!(
            written(field).contains(&c[field]),
            "{field} = {} was never written",
            c[field]
        );
    }
}

#[tokio::test]
async fn another_organizations_clients_are_invisible() {
    let app = spawn_app().await;
    let (client, _) = app.create_client("org_a", &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    for (case, response) in [
        ("get", app.get(&path("org_b", &format!("/{id}"))).await),
        (
            "patch",
            app.patch(&path("org_b", &format!("/{id}")), &json!({"name": "x"}))
                .await,
        ),
        (
            "delete",
            app.delete(&path("org_b", &format!("/{id}"))).await,
        ),
        (
            "add secret",
            app.post(&path("org_b", &format!("/{id}/secrets")), &json!({}))
                .await,
        ),
    ] {
        assert_error(response, StatusCode::NOT_FOUND, &[], case).await;
    }
    let list: Value = app.get_json(&path("org_b", "")).await;
    assert_eq!(list["total_size"], 0);
    let body: Value = app.get_json(&path("org_a", &format!("/{id}"))).await;
    assert_eq!(
        body["client"]["name"], "GitHub Actions Deployment Service",
        "untouched"
    );
}

#[tokio::test]
async fn deleting_a_client_stops_its_secrets_and_unlists_it() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    assert_eq!(
        app.token_request(id, &secret, &[]).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.delete(&path(ORG, &format!("/{id}"))).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.token_request(id, &secret, &[]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let list: Value = app.get_json(&path(ORG, "")).await;
    assert_eq!(list["total_size"], 0);
    assert_error(
        app.get(&path(ORG, &format!("/{id}"))).await,
        StatusCode::NOT_FOUND,
        &[],
        "deleted",
    )
    .await;
}

#[tokio::test]
async fn concurrent_secret_creation_never_exceeds_five_secrets() {
    let app = spawn_app().await;
    let (client, _) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap().to_owned();
    // Twelve at once, through both faces: exactly four fit beside the first secret.
    let secrets_path = path(ORG, &format!("/{id}/secrets"));
    let credentials_path = format!("/v1/clients/{id}/credentials");
    let app = &app;
    let attempts = (0..12).map(|n| {
        let (target, body) = if n % 2 == 0 {
            (secrets_path.clone(), json!({}))
        } else {
            (
                credentials_path.clone(),
                json!({"displayName": format!("c{n}")}),
            )
        };
        async move { app.post(&target, &body).await.status() }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    let made = statuses.iter().filter(|s| s.is_success()).count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!((made, refused), (4, 8), "{statuses:?}");
    let body: Value = app.get_json(&path(ORG, &format!("/{id}"))).await;
    assert_eq!(body["client"]["secrets"].as_array().unwrap().len(), 5);
}
