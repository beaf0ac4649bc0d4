//! Admin authentication (contract §2): a bearer access token minted by this server, with
//! the admin scope, whose client still exists and still holds the admin scope.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::error::AdminError;
use super::service::AdminService;
use crate::audit::{Action, Event, Face, Origin};
use crate::crypto::jwt;
use crate::domain::{Actor, ClientId, OrganizationId, SecretId, SecretStatus, Timestamp};
use crate::http::HttpSettings;
use crate::oauth::bruteforce::source_address;
use crate::telemetry::RequestId;

/// The authenticated caller of an admin endpoint.
#[derive(Clone, Debug)]
pub struct Admin {
    pub client_id: ClientId,
    /// `None` for an environment-level admin, who may manage everything.
    pub organization_id: Option<OrganizationId>,
    /// Where the request came from: every audit event of the request records it.
    pub origin: Origin,
}

impl Admin {
    /// How `creator` / `updater` / `created_by` record this admin.
    pub fn actor(&self) -> Actor {
        Actor::client(self.client_id.clone())
    }

    /// The organization named `raw` (a path or request field), once this admin may act
    /// there.
    pub fn organization(&self, raw: &str) -> Result<OrganizationId, AdminError> {
        let org = OrganizationId::parse(raw).ok_or_else(|| {
            AdminError::field("organization_id", "must match [A-Za-z0-9_-]{1,64}")
        })?;
        self.require_organization(&org)?;
        Ok(org)
    }

    /// Organization admins may act only under their own organization.
    pub fn require_organization(&self, org: &OrganizationId) -> Result<(), AdminError> {
        match &self.organization_id {
            Some(own) if own != org => Err(AdminError::PermissionDenied(format!(
                "this admin token may manage organization {own} only"
            ))),
            _ => Ok(()),
        }
    }

    /// The `/v1` face is for environment-level admins only.
    pub fn require_environment(&self) -> Result<(), AdminError> {
        match &self.organization_id {
            Some(_) => Err(AdminError::PermissionDenied(
                "an organization admin token may use /api/v1/organizations/{its organization}/... only".into(),
            )),
            None => Ok(()),
        }
    }
}

impl AdminService {
    /// The admin an `Authorization` header value proves, or why not. A refusal is an audit
    /// event (rate-limited, as floods of them are an attack's).
    pub async fn authenticate(
        &self,
        authorization: Option<String>,
        origin: Origin,
    ) -> Result<Admin, AdminError> {
        let mut proven = None;
        let result = authenticate(self, authorization, &mut proven).await;
        match result {
            Ok((client_id, organization_id)) => Ok(Admin {
                client_id,
                organization_id,
                origin,
            }),
            Err(e) => {
                let actor = proven.map_or_else(
                    || "anonymous".to_owned(),
                    |id| Actor::client(id).to_string(),
                );
                let event = Event::new(&origin, actor, Action::Authenticate, origin.path.clone())
                    .failed(e.status_name(), e.to_string());
                self.auditor.record_failure(event).await;
                Err(e)
            }
        }
    }
}

/// The client and organization an admin token proves; `proven` is set to the client once
/// the token's signature has verified (a refusal after that is the client's).
async fn authenticate(
    state: &AdminService,
    authorization: Option<String>,
    proven: &mut Option<ClientId>,
) -> Result<(ClientId, Option<OrganizationId>), AdminError> {
    let unauthenticated = |why: &str| AdminError::Unauthenticated(why.to_owned());
    let value = authorization.ok_or_else(|| {
        unauthenticated("an Authorization: Bearer <admin access token> header is required")
    })?;
    let token = value
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(|| unauthenticated("the Authorization header must use the Bearer scheme"))?;
    let claims = jwt::verify(&state.keys.current().ring, token, &state.issuer)
        .map_err(|e| unauthenticated(&format!("{e}")))?;
    *proven = ClientId::parse(&claims.sub);
    let admin_scope = state.admin_scope.as_str();
    if !claims.scope.split(' ').any(|s| s == admin_scope) {
        return Err(AdminError::PermissionDenied(format!(
            "the token lacks the {admin_scope} scope"
        )));
    }
    let client_id = ClientId::parse(&claims.sub)
        .ok_or_else(|| unauthenticated("the token's subject is not a client"))?;
    let client = state
        .store
        .get_client(&client_id)
        .await?
        .ok_or_else(|| unauthenticated("the token's client no longer exists"))?;
    if !client.scopes.contains(admin_scope) {
        return Err(AdminError::PermissionDenied(format!(
            "the token's client no longer holds the {admin_scope} scope"
        )));
    }
    // The token dies with the credential that minted it: rotating a leaked admin secret
    // cuts off every token it was used for, at once.
    let credential = claims
        .credential_id
        .as_deref()
        .and_then(SecretId::parse)
        .ok_or_else(|| {
            unauthenticated("the token names no credential; get a new token from /oauth/token")
        })?;
    if client.revokes(client.secret(&credential), claims.iat) {
        return Err(unauthenticated("the token was revoked"));
    }
    if let Some(jti) = &claims.jti
        && state.store.is_token_revoked(&client_id, jti).await?
    {
        return Err(unauthenticated("the token was revoked"));
    }
    match client.secret(&credential) {
        None => {
            return Err(unauthenticated(
                "the credential that minted the token was deleted",
            ));
        }
        Some(secret) if secret.status != SecretStatus::Active => {
            return Err(unauthenticated(
                "the credential that minted the token is inactive",
            ));
        }
        Some(secret) if !secret.is_usable(Timestamp::now()) => {
            return Err(unauthenticated(
                "the credential that minted the token has expired",
            ));
        }
        Some(_) => {}
    }
    Ok((client_id, client.organization_id))
}

impl FromRequest for Admin {
    type Error = AdminError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let service = req.app_data::<web::Data<AdminService>>().cloned();
        // A token in the URL ends up in access logs and browser history: refused, even
        // beside a good header, so that the caller notices.
        let in_query = form_urlencoded::parse(req.query_string().as_bytes())
            .any(|(name, _)| name == "access_token");
        let authorization = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let origin = origin_of(req);
        Box::pin(async move {
            let service = service.ok_or(AdminError::Internal)?;
            if in_query {
                return Err(AdminError::Unauthenticated(
                    "access tokens are accepted in the Authorization header only, never in the URL"
                        .into(),
                ));
            }
            service.authenticate(authorization, origin).await
        })
    }
}

/// The [`Origin`] of an HTTP request: its face, request id and source address.
pub fn origin_of(req: &HttpRequest) -> Origin {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .cloned()
        .unwrap_or_else(|| RequestId::from_header(None));
    let peer = req.peer_addr().map(|a| {
        let forwarded = req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok());
        let proxies = req
            .app_data::<web::Data<HttpSettings>>()
            .map(|h| h.trusted_proxies.as_slice())
            .unwrap_or_default();
        source_address(a.ip(), forwarded, proxies)
    });
    Origin {
        face: Face::of_path(req.path()),
        request_id,
        peer,
        path: req.path().to_owned(),
    }
}
