use serde_json::json;

use crate::helpers::{ORG, TestApp, seed_create_body, spawn_app};

#[tokio::test]
async fn every_token_and_admin_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let (client, secret) = app.create_client(ORG, &seed_create_body()).await;
    let id = client["client_id"].as_str().unwrap();
    let org = TestApp::clients_path(ORG);
    let responses = vec![
        ("token", app.token_request(id, &secret, &[]).await),
        ("token error", app.token_request(id, "tm_wrong", &[]).await),
        ("org list", app.get(&org).await),
        ("org get", app.get(&format!("{org}/{id}")).await),
        ("org create error", app.post(&org, &json!({})).await),
        (
            "org not found",
            app.get(&format!("{org}/m2morg_000000000000000000")).await,
        ),
        ("v1 list", app.get("/v1/clients").await),
        ("v1 get", app.get(&format!("/v1/clients/{id}")).await),
        (
            "v1 credentials",
            app.get(&format!("/v1/clients/{id}/credentials")).await,
        ),
        (
            "v1 patch error",
            app.patch(&format!("/v1/clients/{id}?updateMask=nope"), &json!({}))
                .await,
        ),
        (
            "unauthenticated",
            app.http.get(app.url("/v1/clients")).send().await.unwrap(),
        ),
    ];
    for (case, response) in responses {
        let headers = response.headers();
        assert_eq!(
            headers.get("cache-control").map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{case}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff", "{case}");
        assert!(headers.get("server").is_none(), "{case}: a server banner");
    }
}

#[tokio::test]
async fn every_response_carries_a_request_id_kept_from_the_caller_when_well_formed() {
    let app = crate::helpers::spawn_app().await;
    let plain = app.get("/healthz").await;
    let generated = plain.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32);
    let again = app.get("/healthz").await;
    assert_ne!(
        again.headers()["x-request-id"],
        generated.as_str(),
        "one id per request"
    );
    let send = |id: &'static str| {
        app.http
            .post(app.url("/oauth/token"))
            .header("x-request-id", id)
            .form(&[("grant_type", "client_credentials")])
            .send()
    };
    let kept = send("caller-id_1.2:3").await.unwrap();
    assert_eq!(
        kept.headers()["x-request-id"],
        "caller-id_1.2:3",
        "errors carry it too"
    );
    let replaced = send("not well formed!").await.unwrap();
    assert_eq!(replaced.headers()["x-request-id"].len(), 32);
}
