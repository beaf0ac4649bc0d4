//! `POST /oauth/token`, and its Confidence alias `POST /v1/oauth/token` (camelCase JSON in
//! and out, the same grant, limits and errors). The body is never logged: it carries the
//! client secret.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::body::{BodyError, read_limited};
use std::net::IpAddr;

use super::HttpSettings;
use crate::oauth::bruteforce::source_address;
use crate::oauth::{Dialect, OAuthError, TokenRequest, TokenService};

/// The client-credentials grant: authenticate the client (Basic or body credentials), mint
/// a signed JWT with its scopes, audience, claims and expiry.
#[utoipa::path(post, path = "/oauth/token", tag = "token",
    request_body(content(
        (crate::openapi::schemas::TokenRequest = "application/x-www-form-urlencoded"),
        (crate::openapi::schemas::TokenRequest = "application/json"),
    )),
    responses(
        (status = 200, description = "A token (Cache-Control: no-store)", body = crate::openapi::schemas::TokenResponse),
        crate::openapi::TokenErrors,
    ),
    security((), ("client_secret_basic" = [])))]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    tokens: web::Data<TokenService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, OAuthError> {
    issue(Dialect::OAuth, req, payload, tokens, http).await
}

/// Confidence's token call: `{"clientId", "clientSecret", "grantType"}` in,
/// `{"accessToken", "tokenType", "expiresIn", "scope"}` out.
#[utoipa::path(post, path = "/v1/oauth/token", tag = "token",
    request_body(content((crate::openapi::schemas::ConfidenceTokenRequest = "application/json"))),
    responses(
        (status = 200, description = "A token (Cache-Control: no-store)", body = crate::openapi::schemas::ConfidenceTokenResponse),
        crate::openapi::TokenErrors,
    ),
    security((), ("client_secret_basic" = [])))]
pub async fn confidence_token(
    req: HttpRequest,
    payload: web::Payload,
    tokens: web::Data<TokenService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, OAuthError> {
    issue(Dialect::Confidence, req, payload, tokens, http).await
}

async fn issue(
    dialect: Dialect,
    req: HttpRequest,
    payload: web::Payload,
    tokens: web::Data<TokenService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, OAuthError> {
    let started = std::time::Instant::now();
    let request = match read_request(dialect, &req, payload, &http).await {
        Ok(request) => request,
        Err(e) => {
            tokens.count_refused(&e, started);
            return Err(e);
        }
    };
    let source = source(&req, &http);
    let origin = || crate::audit::Origin {
        peer: Some(source),
        ..crate::admin::auth::origin_of(&req)
    };
    let response = tokens.issue(request, source, origin).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header(header::ContentType::json())
        .body(match dialect {
            Dialect::OAuth => response.to_json(),
            Dialect::Confidence => response.to_confidence_json(),
        }))
}

/// The body of a request to an OAuth endpoint, within `server.token_body_limit` and the
/// request timeout, its failures as RFC 6749 errors.
pub(super) async fn read_body(
    payload: web::Payload,
    http: &HttpSettings,
) -> Result<bytes::BytesMut, OAuthError> {
    let limit = http.token_body_limit;
    read_limited(payload, limit, http.request_timeout)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => {
                OAuthError::BodyTooLarge(format!("the request body exceeds {limit} bytes"))
            }
            BodyError::Slow => {
                OAuthError::BodyTimeout("the request body was not received in time".into())
            }
            BodyError::Broken => {
                OAuthError::InvalidRequest("the request body could not be read".into())
            }
        })
}

/// The address `req` comes from (behind trusted proxies, the forwarded one).
pub(super) fn source(req: &HttpRequest, http: &HttpSettings) -> IpAddr {
    let peer = req
        .peer_addr()
        .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    let forwarded = req
        .headers()
        .get(header::HeaderName::from_static("x-forwarded-for"))
        .and_then(|v| v.to_str().ok());
    source_address(peer, forwarded, &http.trusted_proxies)
}

/// The token request in `req`'s body, as `dialect` names its parameters.
async fn read_request(
    dialect: Dialect,
    req: &HttpRequest,
    payload: web::Payload,
    http: &HttpSettings,
) -> Result<TokenRequest, OAuthError> {
    // RFC 6749 §3.2 and §2.3.1: parameters and credentials go in the body. A URL ends up in
    // proxy and access logs, so one that carries any is refused rather than read.
    if !req.query_string().is_empty() {
        return Err(OAuthError::InvalidRequest(
            "the token endpoint takes its parameters in the request body, never in the URL query"
                .into(),
        ));
    }
    let body = read_body(payload, http).await?;
    let text = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
    TokenRequest::parse_as(
        dialect,
        text(header::CONTENT_TYPE),
        text(header::AUTHORIZATION),
        &body,
    )
}
