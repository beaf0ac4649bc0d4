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
