//! `/v1/signingKeys`: the signing keys and their states, and on-demand rotation (key store
//! only), for environment-level admins.

use actix_web::{HttpRequest, HttpResponse, web};

use super::HttpSettings;
use super::body::json_object;
use crate::admin::{Admin, AdminError, AdminService};
use crate::crypto::Alg;
use crate::keystore::KeyView;

/// Every signing key with its state and times.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SigningKeyList {
    pub signing_keys: Vec<KeyView>,
}

/// The signing keys: with the key store, each key's state (published, signing, retiring,
/// retired) and times; with a keys folder, its files and which one signs.
#[utoipa::path(get, path = "/v1/signingKeys", tag = "keys",
    responses((status = 200, description = "The keys, oldest first", body = SigningKeyList), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn list(
    admin: Admin,
    admins: web::Data<AdminService>,
) -> Result<HttpResponse, AdminError> {
    let keys = admins.signing_keys(&admin).await?;
    Ok(HttpResponse::Ok().json(SigningKeyList { signing_keys: keys }))
}

/// Publishes the next signing key (key store only): it signs after
/// `keys.publish_ahead_secs`, and the current key retires after the longest token lifetime.
/// 409 while another rotation is under way, or when keys come from a folder.
#[utoipa::path(post, path = "/v1/signingKeys/rotate", tag = "keys",
    request_body(content = Option<crate::openapi::schemas::RotateKey>, content_type = "application/json"),
    responses((status = 200, description = "The new key, published", body = KeyView), crate::openapi::AdminErrors),
    security(("admin_bearer" = [])))]
pub async fn rotate(
    admin: Admin,
    req: HttpRequest,
    payload: web::Payload,
    admins: web::Data<AdminService>,
    http: web::Data<HttpSettings>,
) -> Result<HttpResponse, AdminError> {
    admin.require_environment()?;
    let body = json_object(&req, payload, &http, true).await?;
    let mut alg = None;
    for (key, value) in &body {
        match (key.as_str(), value.as_str().and_then(Alg::parse)) {
            ("alg", Some(parsed)) => alg = Some(parsed),
            ("alg", None) => {
                return Err(AdminError::field("alg", "must be RS256, ES256 or EdDSA"));
            }
            _ => return Err(AdminError::field(key, "is not a known field; only alg")),
        }
    }
    let view = admins.rotate_signing_key(&admin, alg).await?;
    Ok(HttpResponse::Ok().json(view))
}
