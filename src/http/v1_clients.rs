//! The clients-and-credentials face (contract §1b): `/v1/clients...`, environment-level
//! admins only.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::HttpSettings;
use super::body::{etag, if_match, json_object, no_fields};
use crate::admin::service::AdminService;
use crate::admin::service::{self, Within, parse_client_id, parse_secret_id};
use crate::admin::v1::{
    ClientList, CredentialList, client_view, credential_view, parse_client, parse_credential,
};
use crate::admin::{Admin, AdminError, paging};
use crate::domain::{Client, SecretId, Usage};

type Query = web::Query<HashMap<String, String>>;

fn page(query: &Query) -> Result<(usize, Option<crate::store::IndexEntry>), AdminError> {
    let size = paging::page_size(query.get("pageSize").map(String::as_str), "pageSize")?;
    let after = paging::decode(
        query.get("pageToken").map_or("", String::as_str),
        "pageToken",
    )?;
    Ok((size, after))
}

fn mask(query: &Query) -> Option<&str> {
    query
        .get("updateMask")
        .or_else(|| query.get("update_mask"))
        .map(String::as_str)
}

/// Creates an environment-level client (no secret: add credentials).
#[utoipa::path(post,
    path = "/v1/clients",
    tag = "clients",
    request_body = crate::openapi::schemas::ClientInput,
    responses((status = 200, description = "Created (ETag)", body = crate::admin::v1::ClientView), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn create(
    admin: Admin,
    req: HttpRequest,
    payload: web::Payload,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    let body = json_object(&req, payload, &http, false).await?;
    let changes = parse_client(&body, true, None, admins.expiry_bounds())?;
    let (client, _) = admins.create_client(&admin, None, changes, None).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(client.version))
        .json(client_view(&client, &Usage::default())))
}

/// Lists every client, oldest first.
#[utoipa::path(get,
    path = "/v1/clients",
    tag = "clients",
    params(("pageSize" = Option<u32>, Query, minimum = 0, maximum = 100, description = "0-100 (0 or absent: 10)"), ("pageToken" = Option<String>, Query, description = "nextPageToken of the previous page")),
    responses((status = 200, description = "One page", body = crate::admin::v1::ClientList), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn list(
    admin: Admin,
    query: Query,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    let (size, after) = page(&query)?;
    let list = admins.list_clients(None, size, after).await?;
    let clients: Vec<_> = list
        .clients
        .iter()
        .map(|(c, u)| client_view(c, u))
        .collect();
    Ok(HttpResponse::Ok().json(ClientList {
        clients,
        next_page_token: list.next.as_ref().map(paging::encode).unwrap_or_default(),
    }))
}

/// Reads a client (ETag: its version).
#[utoipa::path(get,
    path = "/v1/clients/{client}",
    tag = "clients",
    params(("client" = String, Path, description = "The client id")),
    responses((status = 200, description = "The client", body = crate::admin::v1::ClientView), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn get(
    admin: Admin,
    path: web::Path<String>,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    let (client, usage) = admins
        .get_client(&Within::Anywhere, &parse_client_id(&path)?)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(client.version))
        .json(client_view(&client, &usage)))
}

/// Updates the fields the mask names (those absent from the body are cleared).
#[utoipa::path(patch,
    path = "/v1/clients/{client}",
    tag = "clients",
    params(("client" = String, Path, description = "The client id"), ("updateMask" = Option<String>, Query, description = "Comma-separated fields to change (camelCase or snake_case; * for all); absent: the fields in the body"), ("If-Match" = Option<String>, Header, description = "Only if the client's ETag still matches")),
    request_body = crate::openapi::schemas::ClientInput,
    responses((status = 200, description = "The updated client (ETag)", body = crate::admin::v1::ClientView), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn update(
    admin: Admin,
    path: web::Path<String>,
    query: Query,
    req: HttpRequest,
    payload: web::Payload,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    let condition = if_match(&req)?;
    let body = json_object(&req, payload, &http, false).await?;
    let changes = parse_client(&body, false, mask(&query), admins.expiry_bounds())?;
    let (client, usage) = admins
        .update_client(
            &admin,
            &Within::Anywhere,
            &parse_client_id(&path)?,
            condition.as_ref(),
            changes,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(client.version))
        .json(client_view(&client, &usage)))
}

/// Deletes a client; its credentials stop working at once.
#[utoipa::path(delete,
    path = "/v1/clients/{client}",
    tag = "clients",
    params(("client" = String, Path, description = "The client id"), ("If-Match" = Option<String>, Header, description = "Only if the client's ETag still matches")),
    responses((status = 200, description = "Deleted", body = crate::openapi::schemas::Empty), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn delete(
    admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    admins
        .delete_client(
            &admin,
            &Within::Anywhere,
            &parse_client_id(&path)?,
            if_match(&req)?.as_ref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// Creates a credential; its secret is in this response only.
#[utoipa::path(post,
    path = "/v1/clients/{client}/credentials",
    tag = "clients",
    params(("client" = String, Path, description = "The client id")),
    request_body = crate::openapi::schemas::CredentialInput,
    responses((status = 200, description = "Created (ETag)", body = crate::admin::v1::CredentialView), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn create_credential(
    admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    let body = json_object(&req, payload, &http, false).await?;
    let changes = parse_credential(&body, true, None)?;
    let (client, issued) = admins
        .add_secret(&admin, &Within::Anywhere, &parse_client_id(&path)?, changes)
        .await?;
    let secret = client
        .secret(&issued.secret_id)
        .ok_or(AdminError::Internal)?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(client.version))
        .json(credential_view(
            &client,
            secret,
            &Usage::default(),
            issued.plain.as_ref(),
        )))
}

/// Lists a client's credentials, oldest first.
#[utoipa::path(get,
    path = "/v1/clients/{client}/credentials",
    tag = "clients",
    params(("client" = String, Path, description = "The client id"), ("pageSize" = Option<u32>, Query, minimum = 0, maximum = 100, description = "0-100 (0 or absent: 10)"), ("pageToken" = Option<String>, Query, description = "nextPageToken of the previous page")),
    responses((status = 200, description = "One page", body = crate::admin::v1::CredentialList), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn list_credentials(
    admin: Admin,
    path: web::Path<String>,
    query: Query,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    let (size, after) = page(&query)?;
    let (client, usage) = admins
        .get_client(&Within::Anywhere, &parse_client_id(&path)?)
        .await?;
    let (secrets, next) = service::secrets_page(&client, after.as_ref(), size);
    let credentials: Vec<_> = secrets
        .into_iter()
        .map(|s| credential_view(&client, s, &usage, None))
        .collect();
    Ok(HttpResponse::Ok().json(CredentialList {
        client_credentials: credentials,
        next_page_token: next.as_ref().map(paging::encode).unwrap_or_default(),
    }))
}

/// 200 with the credential named by the path, and the client's ETag.
fn credential_response(
    client: &Client,
    usage: &Usage,
    credential: &str,
) -> Result<HttpResponse, AdminError> {
    let secret = SecretId::parse(credential)
        .and_then(|sid| client.secret(&sid))
        .ok_or_else(|| AdminError::NotFound(format!("credential {credential} not found")))?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(client.version))
        .json(credential_view(client, secret, usage, None)))
}

/// Reads a credential (never its secret).
#[utoipa::path(get,
    path = "/v1/clients/{client}/credentials/{credential}",
    tag = "clients",
    params(("client" = String, Path, description = "The client id"), ("credential" = String, Path, description = "The credential (secret) id")),
    responses((status = 200, description = "The credential", body = crate::admin::v1::CredentialView), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn get_credential(
    admin: Admin,
    path: web::Path<(String, String)>,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    let (id, credential) = path.into_inner();
    let (client, usage) = admins
        .get_client(&Within::Anywhere, &parse_client_id(&id)?)
        .await?;
    credential_response(&client, &usage, &credential)
}

/// Updates the fields the mask names; clientSecret.secret replaces the value.
#[utoipa::path(patch,
    path = "/v1/clients/{client}/credentials/{credential}",
    tag = "clients",
    params(("client" = String, Path, description = "The client id"), ("credential" = String, Path, description = "The credential (secret) id"), ("updateMask" = Option<String>, Query, description = "Comma-separated fields to change (camelCase or snake_case; * for all); absent: the fields in the body"), ("If-Match" = Option<String>, Header, description = "Only if the client's ETag still matches")),
    request_body = crate::openapi::schemas::CredentialInput,
    responses((status = 200, description = "The updated credential (ETag)", body = crate::admin::v1::CredentialView), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn update_credential(
    admin: Admin,
    path: web::Path<(String, String)>,
    query: Query,
    req: HttpRequest,
    payload: web::Payload,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    let (id, credential) = path.into_inner();
    let condition = if_match(&req)?;
    let body = json_object(&req, payload, &http, false).await?;
    let changes = parse_credential(&body, false, mask(&query))?;
    let (client, usage) = admins
        .update_secret(
            &admin,
            &Within::Anywhere,
            &parse_client_id(&id)?,
            &parse_secret_id(&credential, "credential")?,
            condition.as_ref(),
            changes,
        )
        .await?;
    credential_response(&client, &usage, &credential)
}

/// Deletes a credential; it stops working at once.
#[utoipa::path(delete,
    path = "/v1/clients/{client}/credentials/{credential}",
    tag = "clients",
    params(("client" = String, Path, description = "The client id"), ("credential" = String, Path, description = "The credential (secret) id"), ("If-Match" = Option<String>, Header, description = "Only if the client's ETag still matches")),
    responses((status = 200, description = "Deleted", body = crate::openapi::schemas::Empty), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn delete_credential(
    admin: Admin,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    let (id, credential) = path.into_inner();
    admins
        .delete_secret(
            &admin,
            &Within::Anywhere,
            &parse_client_id(&id)?,
            &parse_secret_id(&credential, "credential")?,
            if_match(&req)?.as_ref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// Revokes every token of the client issued until now, or with `{"jti"}` one token.
#[utoipa::path(post, path = "/v1/clients/{client}/revokeTokens", tag = "clients",
    params(("client" = String, Path, description = "The client id")),
    request_body(content = Option<crate::openapi::schemas::RevokeTokens>, content_type = "application/json"),
    responses((status = 200, description = "Revoked", body = crate::openapi::schemas::Empty), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn revoke_tokens(
    admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    let body = json_object(&req, payload, &http, true).await?;
    let mut which = service::Revoke::Client;
    for (key, value) in &body {
        match (key.as_str(), value.as_str()) {
            ("jti", Some(jti)) if (1..=64).contains(&jti.len()) && jti.is_ascii() => {
                which = service::Revoke::Token(jti.to_owned());
            }
            ("jti", _) => {
                return Err(AdminError::field(
                    "jti",
                    "must be a token id (1-64 ASCII characters)",
                ));
            }
            _ => return Err(AdminError::field(key, "is not a known field; only jti")),
        }
    }
    admins
        .revoke_tokens(&admin, &Within::Anywhere, &parse_client_id(&path)?, which)
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// Revokes every token the credential minted until now.
#[utoipa::path(post, path = "/v1/clients/{client}/credentials/{credential}/revokeTokens", tag = "clients",
    params(
        ("client" = String, Path, description = "The client id"),
        ("credential" = String, Path, description = "The credential (secret) id"),
    ),
    request_body(content = Option<crate::openapi::schemas::NoFields>, content_type = "application/json"),
    responses((status = 200, description = "Revoked", body = crate::openapi::schemas::Empty), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn revoke_credential_tokens(
    admin: Admin,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    no_fields(&req, payload, &http).await?;
    let (client, credential) = path.into_inner();
    let sid = parse_secret_id(&credential, "credential")?;
    admins
        .revoke_tokens(
            &admin,
            &Within::Anywhere,
            &parse_client_id(&client)?,
            service::Revoke::Secret(sid),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
