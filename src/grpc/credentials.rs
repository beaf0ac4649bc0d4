//! `tokenmint.v1.CredentialService`: a client's credentials of every kind over gRPC (a
//! shared secret, `private_key_jwt`, federated), which Scalekit's `ClientService` messages
//! cannot carry. Each request is turned into the organization face's JSON and parsed by
//! the same parser ([`org::parse_secret`]), so the rules and error messages are the REST
//! faces'. An empty `organization_id` is the environment (environment admins only).

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tonic::{Request, Response, Status};

use super::answer;
use crate::admin::org::parse_secret;
use crate::admin::service::{AdminService, Within, parse_client_id, parse_secret_id};
use crate::admin::{Admin, AdminError};
use crate::domain::{Client, Secret, SecretStatus};
use crate::proto::credentials as pb;
use crate::proto::credentials::credential_service_server::{
    CredentialService, CredentialServiceServer,
};

/// The generated server over [`CredentialGrpc`].
pub type CredentialServiceServerOf = CredentialServiceServer<CredentialGrpc>;

pub struct CredentialGrpc {
    admins: Arc<AdminService>,
}

impl CredentialGrpc {
    pub fn server(admins: Arc<AdminService>) -> CredentialServiceServer<Self> {
        CredentialServiceServer::new(Self { admins })
    }

    async fn admin<T>(&self, request: &Request<T>) -> Result<Admin, AdminError> {
        super::authenticate(&self.admins, request).await
    }
}

fn within(admin: &Admin, organization: &str) -> Result<Within, AdminError> {
    if organization.is_empty() {
        admin.require_environment()?;
        Ok(Within::Anywhere)
    } else {
        Ok(Within::Organization(admin.organization(organization)?))
    }
}

/// The organization face's JSON for the key or rules a request sets (empty fields unset).
fn body(
    kind: Option<&str>,
    public_key_json: &str,
    jwks_uri: &str,
    federation: Option<&pb::Federation>,
) -> Result<Map<String, Value>, AdminError> {
    let mut body = Map::new();
    if let Some(kind) = kind.filter(|k| !k.is_empty()) {
        body.insert("kind".into(), json!(kind));
    }
    if !public_key_json.is_empty() {
        let key: Value = serde_json::from_str(public_key_json)
            .map_err(|_| AdminError::field("public_key_json", "is not JSON (a public JWK)"))?;
        body.insert("public_key".into(), key);
    }
    if !jwks_uri.is_empty() {
        body.insert("jwks_uri".into(), json!(jwks_uri));
    }
    if let Some(f) = federation {
        let mut rules = Map::new();
        rules.insert("issuer".into(), json!(f.issuer));
        rules.insert("audience".into(), json!(f.audience));
        if !f.subject.is_empty() {
            rules.insert("subject".into(), json!(f.subject));
        }
        if !f.claims.is_empty() {
            rules.insert("claims".into(), json!(f.claims));
        }
        if !f.claim_mappings.is_empty() {
            let mappings: Vec<Value> = f
                .claim_mappings
                .iter()
                .map(|m| json!({"from": m.from, "to": m.to}))
                .collect();
            rules.insert("claim_mappings".into(), Value::Array(mappings));
        }
        if f.max_age_seconds != 0 {
            rules.insert("max_age_seconds".into(), json!(f.max_age_seconds));
        }
        body.insert("federation".into(), Value::Object(rules));
    }
    Ok(body)
}

fn credential(client: &Client, secret: &Secret) -> pb::Credential {
    let federation = secret.federation().map(|f| pb::Federation {
        issuer: f.issuer.clone(),
        audience: f.audience.clone(),
        subject: f.subject.clone().unwrap_or_default(),
        claims: f.claims.clone().into_iter().collect(),
        claim_mappings: f
            .claim_mappings
            .iter()
            .map(|m| pb::ClaimMapping {
                from: m.from.clone(),
                to: m.to.clone(),
            })
            .collect(),
        max_age_seconds: f.max_age_secs,
    });
    pb::Credential {
        organization_id: client
            .organization_id
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        client_id: client.client_id.to_string(),
        id: secret.id.to_string(),
        kind: secret.kind().as_str().to_owned(),
        secret_suffix: secret.suffix().to_owned(),
        public_key_json: secret
            .public_key()
            .map(|jwk| Value::Object(jwk.clone()).to_string())
            .unwrap_or_default(),
        jwks_uri: secret.jwks_uri().unwrap_or_default().to_owned(),
        federation,
        status: match secret.status {
            SecretStatus::Active => "ACTIVE",
            SecretStatus::Inactive => "INACTIVE",
        }
        .to_owned(),
    }
}

type Answer<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl CredentialService for CredentialGrpc {
    async fn create_credential(
        &self,
        request: Request<pb::CreateCredentialRequest>,
    ) -> Answer<pb::CreateCredentialResponse> {
        answer(
            "CreateCredential",
            async {
                let admin = self.admin(&request).await?;
                let r = request.get_ref();
                let within = within(&admin, &r.organization_id)?;
                let id = parse_client_id(&r.client_id)?;
                let body = body(
                    Some(&r.kind),
                    &r.public_key_json,
                    &r.jwks_uri,
                    r.federation.as_ref(),
                )?;
                let changes = parse_secret(&body, true)?;
                let (client, issued) = self
                    .admins
                    .add_secret(&admin, &within, &id, changes)
                    .await?;
                let secret = client
                    .secret(&issued.secret_id)
                    .ok_or(AdminError::Internal)?;
                Ok(pb::CreateCredentialResponse {
                    credential: Some(credential(&client, secret)),
                    plain_secret: issued
                        .plain
                        .as_ref()
                        .map(|p| p.expose().to_owned())
                        .unwrap_or_default(),
                })
            }
            .await,
        )
    }

    async fn get_credential(&self, request: Request<pb::CredentialRef>) -> Answer<pb::Credential> {
        answer(
            "GetCredential",
            async {
                let admin = self.admin(&request).await?;
                let r = request.get_ref();
                let within = within(&admin, &r.organization_id)?;
                let sid = parse_secret_id(&r.id, "id")?;
                let (client, _) = self
                    .admins
                    .get_client(&within, &parse_client_id(&r.client_id)?)
                    .await?;
                let secret = client.secret(&sid).ok_or_else(|| {
                    AdminError::NotFound(format!("credential {} not found", r.id))
                })?;
                Ok(credential(&client, secret))
            }
            .await,
        )
    }

    async fn list_credentials(
        &self,
        request: Request<pb::ListCredentialsRequest>,
    ) -> Answer<pb::ListCredentialsResponse> {
        answer(
            "ListCredentials",
            async {
                let admin = self.admin(&request).await?;
                let r = request.get_ref();
                let within = within(&admin, &r.organization_id)?;
                let (client, _) = self
                    .admins
                    .get_client(&within, &parse_client_id(&r.client_id)?)
                    .await?;
                Ok(pb::ListCredentialsResponse {
                    credentials: client
                        .secrets
                        .iter()
                        .map(|s| credential(&client, s))
                        .collect(),
                })
            }
            .await,
        )
    }

    async fn update_credential(
        &self,
        request: Request<pb::UpdateCredentialRequest>,
    ) -> Answer<pb::Credential> {
        answer(
            "UpdateCredential",
            async {
                let admin = self.admin(&request).await?;
                let r = request.get_ref();
                let within = within(&admin, &r.organization_id)?;
                let id = parse_client_id(&r.client_id)?;
                let sid = parse_secret_id(&r.id, "id")?;
                let body = body(None, &r.public_key_json, &r.jwks_uri, r.federation.as_ref())?;
                let changes = parse_secret(&body, false)?;
                let (client, _) = self
                    .admins
                    .update_secret(&admin, &within, &id, &sid, None, changes)
                    .await?;
                let secret = client.secret(&sid).ok_or(AdminError::Internal)?;
                Ok(credential(&client, secret))
            }
            .await,
        )
    }

    async fn delete_credential(
        &self,
        request: Request<pb::CredentialRef>,
    ) -> Answer<pb::DeleteCredentialResponse> {
        answer(
            "DeleteCredential",
            async {
                let admin = self.admin(&request).await?;
                let r = request.get_ref();
                let within = within(&admin, &r.organization_id)?;
                self.admins
                    .delete_secret(
                        &admin,
                        &within,
                        &parse_client_id(&r.client_id)?,
                        &parse_secret_id(&r.id, "id")?,
                        None,
                    )
                    .await?;
                Ok(pb::DeleteCredentialResponse {})
            }
            .await,
        )
    }
}
