//! The organization face (contract §1a): `/api/v1/organizations/{organization_id}/clients`.

use std::collections::HashMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::HttpSettings;
use super::body::{etag, if_match, json_object};
use crate::admin::changes::SecretChanges;
use crate::admin::org::{
    ClientList, ClientResponse, CreatedClient, CreatedSecret, SecretResponse, client_view,
    parse_client, parse_secret, secret_view,
};
use crate::admin::service::AdminService;
use crate::admin::service::{Within, parse_client_id, parse_secret_id};
use crate::admin::{Admin, AdminError, paging};
use crate::domain::{OrganizationId, Usage};

type Query = web::Query<HashMap<String, String>>;

/// The path's organization, after checking the admin may act there.
fn organization(admin: &Admin, raw: &str) -> Result<OrganizationId, AdminError> {
    admin.organization(raw)
}

/// Creates an organization client with its first secret (its value is in this response only).
#[utoipa::path(post,
    path = "/api/v1/organizations/{organization_id}/clients",
    tag = "organization clients",
    params(("organization_id" = String, Path, description = "The organization ([A-Za-z0-9_-]{1,64})")),
    request_body = crate::openapi::schemas::OrganizationClientInput,
    responses((status = 201, description = "Created (ETag)", body = crate::admin::org::CreatedClient), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn create(
    admin: Admin,
    path: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, AdminError> {
    let org = organization(&admin, &path)?;
    let body = json_object(&req, payload, &http, false).await?;
    let changes = parse_client(&body, true, admins.expiry_bounds())?;
    let (client, issued) = admins
        .create_client(&admin, Some(org), changes, Some(SecretChanges::default()))
        .await?;
    let plain = issued.and_then(|i| i.plain);
    Ok(HttpResponse::Created()
        .insert_header(etag(client.version))
        .json(CreatedClient {
            client: client_view(&client, &Usage::default()),
            plain_secret: plain.as_ref().map(|p| p.expose()),
        }))
}

/// Lists an organization's clients, oldest first.
#[utoipa::path(get,
    path = "/api/v1/organizations/{organization_id}/clients",
    tag = "organization clients",
    params(("organization_id" = String, Path, description = "The organization ([A-Za-z0-9_-]{1,64})"), ("page_size" = Option<u32>, Query, minimum = 0, maximum = 100, description = "0-100 (0 or absent: 10)"), ("page_token" = Option<String>, Query, description = "next_page_token of the previous page")),
    responses((status = 200, description = "One page", body = crate::admin::org::ClientList), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn list(
    admin: Admin,
    path: web::Path<String>,
    query: Query,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    let org = organization(&admin, &path)?;
    let size = paging::page_size(query.get("page_size").map(String::as_str), "page_size")?;
    let after = paging::decode(
        query.get("page_token").map_or("", String::as_str),
        "page_token",
    )?;
    let list = admins.list_clients(Some(&org), size, after).await?;
    let clients: Vec<_> = list
        .clients
        .iter()
        .map(|(c, u)| client_view(c, u))
        .collect();
    Ok(HttpResponse::Ok().json(ClientList {
        clients,
        next_page_token: list.next.as_ref().map(paging::encode).unwrap_or_default(),
        prev_page_token: String::new(),
        total_size: list.total,
    }))
}

/// Reads a client (ETag: its version).
#[utoipa::path(get,
    path = "/api/v1/organizations/{organization_id}/clients/{client_id}",
    tag = "organization clients",
    params(("organization_id" = String, Path, description = "The organization ([A-Za-z0-9_-]{1,64})"), ("client_id" = String, Path, description = "The client id")),
    responses((status = 200, description = "The client", body = crate::admin::org::ClientResponse), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn get(
    admin: Admin,
    path: web::Path<(String, String)>,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    let (org, id) = path.into_inner();
    let within = Within::Organization(organization(&admin, &org)?);
    let (client, usage) = admins.get_client(&within, &parse_client_id(&id)?).await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(client.version))
        .json(ClientResponse {
            client: client_view(&client, &usage),
        }))
}

/// Updates a client: present keys replace their field, absent keys stay, null resets.
#[utoipa::path(patch,
    path = "/api/v1/organizations/{organization_id}/clients/{client_id}",
    tag = "organization clients",
    params(("organization_id" = String, Path, description = "The organization ([A-Za-z0-9_-]{1,64})"), ("client_id" = String, Path, description = "The client id"), ("If-Match" = Option<String>, Header, description = "Only if the client's ETag still matches")),
    request_body = crate::openapi::schemas::OrganizationClientInput,
    responses((status = 200, description = "The updated client (ETag)", body = crate::admin::org::ClientResponse), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn update(
    admin: Admin,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, AdminError> {
    let (org, id) = path.into_inner();
    let within = Within::Organization(organization(&admin, &org)?);
    let condition = if_match(&req)?;
    let body = json_object(&req, payload, &http, false).await?;
    let changes = parse_client(&body, false, admins.expiry_bounds())?;
    let (client, usage) = admins
        .update_client(
            &admin,
            &within,
            &parse_client_id(&id)?,
            condition.as_ref(),
            changes,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(client.version))
        .json(ClientResponse {
            client: client_view(&client, &usage),
        }))
}

/// Deletes a client; its secrets stop working at once.
#[utoipa::path(delete,
    path = "/api/v1/organizations/{organization_id}/clients/{client_id}",
    tag = "organization clients",
    params(("organization_id" = String, Path, description = "The organization ([A-Za-z0-9_-]{1,64})"), ("client_id" = String, Path, description = "The client id"), ("If-Match" = Option<String>, Header, description = "Only if the client's ETag still matches")),
    responses((status = 200, description = "Deleted", body = crate::openapi::schemas::Empty), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn delete(
    admin: Admin,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    let (org, id) = path.into_inner();
    let within = Within::Organization(organization(&admin, &org)?);
    admins
        .delete_client(
            &admin,
            &within,
            &parse_client_id(&id)?,
            if_match(&req)?.as_ref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}

/// Adds a secret (at most secrets.max_per_client); its value is in this response only.
#[utoipa::path(post,
    path = "/api/v1/organizations/{organization_id}/clients/{client_id}/secrets",
    tag = "organization clients",
    params(("organization_id" = String, Path, description = "The organization ([A-Za-z0-9_-]{1,64})"), ("client_id" = String, Path, description = "The client id")),
    request_body(content = Option<crate::openapi::schemas::OrganizationSecretInput>, content_type = "application/json"),
    responses((status = 201, description = "Created (ETag)", body = crate::admin::org::CreatedSecret), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn add_secret(
    admin: Admin,
    path: web::Path<(String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, AdminError> {
    let (org, id) = path.into_inner();
    let within = Within::Organization(organization(&admin, &org)?);
    // Empty by contract (a secret); `kind` and its fields make the other kinds.
    let body = json_object(&req, payload, &http, true).await?;
    let changes = parse_secret(&body, true)?;
    let (client, issued) = admins
        .add_secret(&admin, &within, &parse_client_id(&id)?, changes)
        .await?;
    let secret = client
        .secret(&issued.secret_id)
        .ok_or(AdminError::Internal)?;
    Ok(HttpResponse::Created()
        .insert_header(etag(client.version))
        .json(CreatedSecret {
            plain_secret: issued.plain.as_ref().map(|p| p.expose()),
            secret: secret_view(secret, &Usage::default()),
        }))
}

/// Changes a `private_key_jwt` credential's key or a `federated` one's rules (present keys
/// replace; a shared secret has nothing to change here).
#[utoipa::path(patch,
    path = "/api/v1/organizations/{organization_id}/clients/{client_id}/secrets/{secret_id}",
    tag = "organization clients",
    params(("organization_id" = String, Path, description = "The organization ([A-Za-z0-9_-]{1,64})"), ("client_id" = String, Path, description = "The client id"), ("secret_id" = String, Path, description = "The secret id"), ("If-Match" = Option<String>, Header, description = "Only if the client's ETag still matches")),
    request_body(content = crate::openapi::schemas::OrganizationSecretUpdate, content_type = "application/json"),
    responses((status = 200, description = "Updated (ETag)", body = crate::admin::org::SecretResponse), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn update_secret(
    admin: Admin,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
    payload: web::Payload,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, AdminError> {
    let (org, id, secret_id) = path.into_inner();
    let within = Within::Organization(organization(&admin, &org)?);
    let body = json_object(&req, payload, &http, false).await?;
    let changes = parse_secret(&body, false)?;
    let sid = parse_secret_id(&secret_id, "secret")?;
    let (client, usage) = admins
        .update_secret(
            &admin,
            &within,
            &parse_client_id(&id)?,
            &sid,
            if_match(&req)?.as_ref(),
            changes,
        )
        .await?;
    let secret = client.secret(&sid).ok_or(AdminError::Internal)?;
    Ok(HttpResponse::Ok()
        .insert_header(etag(client.version))
        .json(SecretResponse {
            secret: secret_view(secret, &usage),
        }))
}

/// Deletes a secret; it stops working at once.
#[utoipa::path(delete,
    path = "/api/v1/organizations/{organization_id}/clients/{client_id}/secrets/{secret_id}",
    tag = "organization clients",
    params(("organization_id" = String, Path, description = "The organization ([A-Za-z0-9_-]{1,64})"), ("client_id" = String, Path, description = "The client id"), ("secret_id" = String, Path, description = "The secret id"), ("If-Match" = Option<String>, Header, description = "Only if the client's ETag still matches")),
    responses((status = 200, description = "Deleted", body = crate::openapi::schemas::Empty), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn delete_secret(
    admin: Admin,
    path: web::Path<(String, String, String)>,
    req: HttpRequest,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    let (org, id, secret_id) = path.into_inner();
    let within = Within::Organization(organization(&admin, &org)?);
    admins
        .delete_secret(
            &admin,
            &within,
            &parse_client_id(&id)?,
            &parse_secret_id(&secret_id, "secret")?,
            if_match(&req)?.as_ref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(json!({})))
}
