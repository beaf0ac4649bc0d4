//! `POST /oauth/introspect` (RFC 7662) and `POST /oauth/revoke` (RFC 7009). Bodies are never
//! logged: they carry tokens and client secrets.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::HttpSettings;
use super::token::{read_body, source};
use crate::admin::AdminService;
use crate::oauth::introspect::TokenQuery;
use crate::oauth::{OAuthError, TokenService};

/// Whether a token is active, and its claims when it is.
#[utoipa::path(post, path = "/oauth/introspect", tag = "token",
    request_body(content((crate::openapi::schemas::IntrospectionRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "`active` and, when true, the token's claims", body = crate::openapi::schemas::Introspection),
        (status = 403, description = "The client lacks introspection.scope (insufficient_scope)", body = crate::openapi::schemas::OAuthErrorBody),
        crate::openapi::TokenErrors,
    ),
    security((), ("client_secret_basic" = [])))]
pub async fn introspect(
    req: HttpRequest,
    payload: web::Payload,
    tokens: web::Data<TokenService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, OAuthError> {
    let (query, source) = read(&req, payload, &http).await?;
    let answer = tokens.introspect(query, source).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(answer))
}

/// Revokes a token: the caller's own (client credentials), or any of its tenant's (an admin
/// bearer token). 200 also for a token that was not active.
#[utoipa::path(post, path = "/oauth/revoke", tag = "token",
    request_body(content((crate::openapi::schemas::IntrospectionRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "Revoked (or it was not an active token)", body = crate::openapi::schemas::Empty),
        crate::openapi::TokenErrors,
    ),
    security((), ("client_secret_basic" = []), ("admin_bearer" = [])))]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    tokens: web::Data<TokenService>,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, OAuthError> {
    let (query, source) = read(&req, payload, &http).await?;
    match query.bearer.clone() {
        Some(bearer) => {
            let origin = crate::admin::auth::origin_of(&req);
            let admin = admins
                .authenticate(Some(format!("Bearer {bearer}")), origin)
                .await
                .map_err(|_| OAuthError::InvalidClient { basic: false })?;
            tokens
                .revoke_as_admin(&query.token, admin.organization_id.as_ref())
                .await?;
        }
        None => tokens.revoke(query, source).await?,
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({})))
}

async fn read(
    req: &HttpRequest,
    payload: web::Payload,
    http: &HttpSettings,
) -> Result<(TokenQuery, std::net::IpAddr), OAuthError> {
    if !req.query_string().is_empty() {
        return Err(OAuthError::InvalidRequest(
            "this endpoint takes its parameters in the request body, never in the URL query".into(),
        ));
    }
    let body = read_body(payload, http).await?;
    let text = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    let query = TokenQuery::parse(
        text(header::CONTENT_TYPE),
        text(header::AUTHORIZATION),
        &body,
    )?;
    Ok((query, source(req, http)))
}
