//! `GET /v1/auditEvents`: the audit trail, newest first, for environment-level admins.
//! `pageSize` (default 10, at most 100), `pageToken`, and `target` (a resource name such as
//! `clients/<id>`: its events and those of what is inside it).

use std::collections::HashMap;

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::admin::{Admin, AdminError, AdminService, paging};
use crate::audit::decode_token;

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
    Ok(HttpResponse::Ok().json(json!({
        "auditEvents": page.events,
        "nextPageToken": page.next.unwrap_or_default(),
    })))
}
