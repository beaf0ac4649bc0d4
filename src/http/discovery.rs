//! Published keys and metadata: the JWKS (at two paths) and the RFC 8414 / OIDC documents.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use serde_json::{Value, json};

use super::Discovery;

/// Every public signing key (RFC 7517), cacheable for `keys.jwks_max_age` seconds.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery",
    responses((status = 200, description = "The JWK Set", body = crate::openapi::schemas::Jwks)))]
pub async fn jwks(state: web::Data<Discovery>) -> HttpResponse {
    publish_keys(&state)
}

/// The same JWK Set at the path Confidence's verifiers read.
#[utoipa::path(get, path = "/keys", tag = "discovery",
    responses((status = 200, description = "The JWK Set", body = crate::openapi::schemas::Jwks)))]
pub async fn keys(state: web::Data<Discovery>) -> HttpResponse {
    publish_keys(&state)
}

/// This document: the OpenAPI 3.1 description of every endpoint.
#[utoipa::path(get, path = "/openapi.json", tag = "discovery",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn openapi_document(state: web::Data<Discovery>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.clone())
}

fn publish_keys(state: &Discovery) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", state.jwks_max_age),
        ))
        .json(state.keys.jwks())
}

fn metadata(state: &Discovery) -> Value {
    let issuer = state.issuer.trim_end_matches('/');
    json!({
        "issuer": state.issuer,
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "response_types_supported": ["token"],
    })
}

/// RFC 8414 authorization server metadata.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "discovery",
    responses((status = 200, description = "RFC 8414 metadata", body = crate::openapi::schemas::ServerMetadata)))]
pub async fn oauth_metadata(state: web::Data<Discovery>) -> HttpResponse {
    HttpResponse::Ok().json(metadata(&state))
}

/// The same document plus the OIDC fields discovery clients insist on.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "discovery",
    responses((status = 200, description = "RFC 8414 metadata with OIDC discovery fields", body = crate::openapi::schemas::ServerMetadata)))]
pub async fn openid_configuration(state: web::Data<Discovery>) -> HttpResponse {
    let mut doc = metadata(&state);
    doc["subject_types_supported"] = json!(["public"]);
    doc["id_token_signing_alg_values_supported"] = json!([state.keys.active().alg.name()]);
    doc["claims_supported"] = json!([
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "client_id",
        "credential_id",
        "scope",
        "scopes",
        "oid",
        "environments"
    ]);
    HttpResponse::Ok().json(doc)
}
