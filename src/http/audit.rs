//! `GET /v1/auditEvents`: the audit trail, newest first, for environment-level admins.
//! `pageSize` (default 10, at most 100), `pageToken`, and `target` (a resource name such as
//! `clients/<id>`: its events and those of what is inside it).

use std::collections::HashMap;

use actix_web::{HttpResponse, web};

use crate::admin::{Admin, AdminError, AdminService, paging};
use crate::audit::decode_token;

/// One page of audit events, newest first (environment admins only).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEventList {
    pub audit_events: Vec<crate::audit::Event>,
    /// Empty when there is nothing older.
    pub next_page_token: String,
}

/// The audit trail: admin writes, refused admin authentications, refused token requests.
#[utoipa::path(get, path = "/v1/auditEvents", tag = "audit",
    params(
        ("pageSize" = Option<u32>, Query, minimum = 0, maximum = 100, description = "0-100 (0 or absent: 10)"),
        ("pageToken" = Option<String>, Query, description = "nextPageToken of the previous page"),
        ("target" = Option<String>, Query, description = "Only events about this resource (clients/<id>) and what is inside it"),
    ),
    responses((status = 200, description = "One page, newest first", body = AuditEventList), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn list(
    admin: Admin,
    query: web::Query<HashMap<String, String>>,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    let size = paging::page_size(query.get("pageSize").map(String::as_str), "pageSize")?;
    let token = match query.get("pageToken").map(String::as_str) {
        None | Some("") => None,
        Some(raw) => Some(decode_token(raw).ok_or_else(|| {
            AdminError::field("pageToken", "is not a page token returned by this API")
        })?),
    };
    let target = query
        .get("target")
        .map(String::as_str)
        .filter(|t| !t.is_empty());
    let page = admins
        .audit_events(&admin, token.as_deref(), size, target)
        .await?;
    Ok(HttpResponse::Ok().json(AuditEventList {
        audit_events: page.events,
        next_page_token: page.next.unwrap_or_default(),
    }))
}
