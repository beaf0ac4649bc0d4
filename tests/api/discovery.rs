use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Spawn, spawn, spawn_app};
use tokenmint::crypto::Alg;

#[tokio::test]
async fn health_is_up_and_ready_when_redis_answers() {
    let app = spawn_app().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(ready.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn both_discovery_documents_describe_the_token_endpoint_and_keys() {
    let app = spawn_app().await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/openid-configuration",
    ] {
        let doc: Value = app.public_json(path).await;
        assert_eq!(doc["issuer"], app.issuer, "{path}");
        assert_eq!(
            doc["token_endpoint"],
            format!("{}/oauth/token", app.issuer),
            "{path}"
        );
        assert_eq!(
            doc["jwks_uri"],
            format!("{}/.well-known/jwks.json", app.issuer),
            "{path}"
        );
        assert_eq!(
            doc["grant_types_supported"],
            serde_json::json!(["client_credentials"])
        );
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            serde_json::json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ])
        );
    }
    let oidc: Value = app.public_json("/.well-known/openid-configuration").await;
    assert_eq!(
        oidc["subject_types_supported"],
        serde_json::json!(["public"])
    );
    assert!(oidc["id_token_signing_alg_values_supported"].is_array());
}

#[tokio::test]
async fn the_jwks_is_served_at_both_paths_with_thumbprint_kids_and_caching() {
    let app = spawn_app().await;
    let mut bodies = Vec::new();
    for path in ["/.well-known/jwks.json", "/keys"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let cache = response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(cache.starts_with("public, max-age="), "{path}: {cache}");
        bodies.push(response.json::<jsonwebtoken::jwk::JwkSet>().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
    let jwk = &bodies[0].keys[0];
    let kid = jwk.common.key_id.clone().unwrap();
    assert_eq!(
        kid,
        jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap()
    );
    let raw: Value = app.public_json("/keys").await;
    assert_eq!(raw["keys"][0]["use"], "sig");
    assert_eq!(raw["keys"][0]["alg"], "ES256");
    assert!(
        raw["keys"][0].get("d").is_none(),
        "no private part is published"
    );
}

#[tokio::test]
async fn every_key_in_the_folder_is_published_and_the_configured_one_signs() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let (_, first) = tokenmint::crypto::keys::generate(dir.path(), Alg::Es256).unwrap();
    let (_, second) = tokenmint::crypto::keys::generate(dir.path(), Alg::EdDsa).unwrap();
    for active in [&first, &second] {
        let app = spawn(Spawn {
            keys_dir: Some(dir.clone()),
            active: Some(active.clone()),
            ..Spawn::default()
        })
        .await;
        let jwks: Value = app.public_json("/keys").await;
        let mut kids: Vec<&str> = jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap())
            .collect();
        kids.sort();
        let mut expected = vec![first.as_str(), second.as_str()];
        expected.sort();
        assert_eq!(kids, expected);
        let header = jsonwebtoken::decode_header(&app.admin_token).unwrap();
        assert_eq!(header.kid.as_deref(), Some(active.as_str()));
        app.verify(&app.admin_token).await;
    }
}

#[tokio::test]
async fn the_openapi_document_describes_this_server_and_every_route_answers() {
    let app = spawn_app().await;
    let response = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], app.issuer.as_str());
    // Every documented operation is served: none answers "no such endpoint" or 405.
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 19, "{}", paths.len());
    for (path, item) in paths {
        let concrete = path
            .replace("{organization_id}", "org_x")
            .replace("{client_id}", "m2morg_1")
            .replace("{secret_id}", "sks_1")
            .replace("{client}", "m2m_1")
            .replace("{credential}", "sks_1");
        for method in item.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let response = app
                .admin(app.http.request(method.clone(), app.url(&concrete)))
                .send()
                .await
                .unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                !body.contains("no such endpoint"),
                "{method} {path}: {body}"
            );
            let documented = item[method.as_str().to_lowercase()]["responses"]
                .as_object()
                .unwrap();
            assert!(
                documented.contains_key(status.as_str()),
                "{method} {path} answered {status}, which it does not document"
            );
        }
    }
}

#[tokio::test]
async fn verifiers_revalidate_the_jwks_with_its_etag() {
    let app = spawn_app().await;
    let first = app.http.get(app.url("/keys")).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 10,
        "{etag}"
    );
    let other = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.headers()["etag"], etag.as_str(), "one set, one tag");
    for tag in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
        let again = app
            .http
            .get(app.url("/keys"))
            .header("if-none-match", &tag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{tag}");
        assert!(again.headers().contains_key("cache-control"));
        assert!(again.text().await.unwrap().is_empty());
    }
    let stale = app
        .http
        .get(app.url("/keys"))
        .header("if-none-match", "\"old\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), StatusCode::OK);
    // A server with another key set has another tag.
    let elsewhere = spawn_app().await;
    let response = elsewhere
        .http
        .get(elsewhere.url("/keys"))
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["etag"], etag.as_str());
}
