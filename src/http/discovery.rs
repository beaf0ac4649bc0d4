//! Published keys and metadata: the JWKS (at two paths) and the RFC 8414 / OIDC documents.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use super::Discovery;

/// Every public signing key (RFC 7517), cacheable for `keys.jwks_max_age` seconds.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer")),
    responses(
        (status = 200, description = "The JWK Set (ETag, Cache-Control: max-age)", body = crate::openapi::schemas::Jwks),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
    ))]
pub async fn jwks(req: HttpRequest, state: web::Data<Discovery>) -> HttpResponse {
    publish_keys(&req, &state)
}

/// The same JWK Set at the path Confidence's verifiers read.
#[utoipa::path(get, path = "/keys", tag = "discovery",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer")),
    responses(
        (status = 200, description = "The JWK Set (ETag, Cache-Control: max-age)", body = crate::openapi::schemas::Jwks),
        (status = 304, description = "Unchanged since the ETag in If-None-Match"),
    ))]
pub async fn keys(req: HttpRequest, state: web::Data<Discovery>) -> HttpResponse {
    publish_keys(&req, &state)
}

/// This document: the OpenAPI 3.1 description of every endpoint.
#[utoipa::path(get, path = "/openapi.json", tag = "discovery",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn openapi_document(state: web::Data<Discovery>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(state.openapi.clone())
}

/// The JWK Set with `Cache-Control: max-age` and a strong `ETag`; 304 when the verifier's
/// `If-None-Match` names the current set (revalidation costs no body).
fn publish_keys(req: &HttpRequest, state: &Discovery) -> HttpResponse {
    let set = state.keys.current();
    let cache = (
        header::CACHE_CONTROL,
        format!("public, max-age={}", state.jwks_max_age),
    );
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == set.jwks_etag || t == "*")
        });
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header(cache)
        .insert_header((header::ETAG, set.jwks_etag.clone()));
    if unchanged {
        return response.finish();
    }
    response
        .content_type("application/json")
        .body(set.jwks_body.clone())
}

fn metadata(state: &Discovery) -> Value {
    let issuer = state.issuer.trim_end_matches('/');
    json!({
        "issuer": state.issuer,
        "token_endpoint": format!("{issuer}/oauth/token"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "revocation_endpoint": format!("{issuer}/oauth/revoke"),
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
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
    doc["id_token_signing_alg_values_supported"] =
        json!([state.keys.current().ring.active().alg.name()]);
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
