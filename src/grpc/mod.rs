//! The gRPC face: `scalekit.v1.clients.ClientService`, the organization-client calls of
//! Scalekit's official SDKs, and tokenmint's own `tokenmint.v1.CredentialService`
//! ([`credentials`]) for credentials of every kind. Each call authenticates its
//! `authorization` metadata exactly as the REST faces do (`AdminService::authenticate`),
//! then makes the organization face's call on the same [`AdminService`]; `admin::grpc`
//! translates the messages and errors. [`Routes`] sends each call to its service.

pub mod credentials;

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::BoxFuture;

use tonic::{Request, Response, Status};

use crate::admin::changes::SecretChanges;
use crate::admin::grpc::{client_secret, m2m_client, parse_client, status};
use crate::admin::service::{AdminService, Within, parse_client_id, parse_secret_id};
use crate::admin::{Admin, AdminError, paging};
use crate::audit::{Face, Origin};
use crate::domain::Usage;
use crate::proto::clients as pb;
use crate::proto::clients::client_service_server::{ClientService, ClientServiceServer};

/// The tonic service, over the one admin service.
pub struct ClientGrpc {
    admins: Arc<AdminService>,
}

impl ClientGrpc {
    pub fn server(admins: Arc<AdminService>) -> ClientServiceServer<Self> {
        ClientServiceServer::new(Self { admins })
    }

    async fn admin<T>(&self, request: &Request<T>) -> Result<Admin, AdminError> {
        authenticate(&self.admins, request).await
    }
}

/// The admin a call's `authorization` metadata proves.
async fn authenticate<T>(admins: &AdminService, request: &Request<T>) -> Result<Admin, AdminError> {
    let authorization = request
        .metadata()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    // The listener puts the call's origin (request id, peer, method path) in the request's
    // extensions.
    let origin = request
        .extensions()
        .get::<Origin>()
        .cloned()
        .unwrap_or_else(|| Origin::internal(Face::Grpc));
    admins.authenticate(authorization, origin).await
}

/// Both gRPC services on one port: a call goes to the service its path names (tonic's own
/// router would bring in axum for this one comparison).
#[derive(Clone)]
pub struct Routes {
    clients: ClientServiceServer<ClientGrpc>,
    credentials: credentials::CredentialServiceServerOf,
}

impl Routes {
    pub fn new(admins: Arc<AdminService>) -> Self {
        Self {
            clients: ClientGrpc::server(Arc::clone(&admins)),
            credentials: credentials::CredentialGrpc::server(admins),
        }
    }
}

impl<B> tower_service::Service<http::Request<B>> for Routes
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both generated servers are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request
            .uri()
            .path()
            .starts_with("/tokenmint.v1.CredentialService/")
        {
            Box::pin(self.credentials.call(request))
        } else {
            Box::pin(self.clients.call(request))
        }
    }
}

type Answer<T> = Result<Response<T>, Status>;

/// Answers the call `method`, its admin error as a gRPC status; counted by method and code.
pub(crate) fn answer<T>(method: &str, result: Result<T, AdminError>) -> Answer<T> {
    let answer = result.map(Response::new).map_err(|e| status(&e));
    let code = match &answer {
        Ok(_) => tonic::Code::Ok,
        Err(status) => status.code(),
    };
    crate::metrics::inc_vec(
        |m| &m.admin_requests,
        &["grpc", method, &format!("{code:?}")],
    );
    answer
}

#[tonic::async_trait]
impl ClientService for ClientGrpc {
    async fn create_organization_client(
        &self,
        request: Request<pb::CreateOrganizationClientRequest>,
    ) -> Answer<pb::CreateOrganizationClientResponse> {
        answer(
            "CreateOrganizationClient",
            async {
                let admin = self.admin(&request).await?;
                let body = request.get_ref();
                let org = admin.organization(&body.organization_id)?;
                let changes =
                    parse_client(body.client.as_ref(), true, self.admins.expiry_bounds())?;
                let (client, issued) = self
                    .admins
                    .create_client(&admin, Some(org), changes, Some(SecretChanges::default()))
                    .await?;
                Ok(pb::CreateOrganizationClientResponse {
                    client: Some(m2m_client(&client, &Usage::default())),
                    plain_secret: issued
                        .and_then(|i| i.plain)
                        .map(|p| p.expose().to_owned())
                        .unwrap_or_default(),
                })
            }
            .await,
        )
    }

    async fn get_organization_client(
        &self,
        request: Request<pb::GetOrganizationClientRequest>,
    ) -> Answer<pb::GetOrganizationClientResponse> {
        answer(
            "GetOrganizationClient",
            async {
                let admin = self.admin(&request).await?;
                let body = request.get_ref();
                let within = Within::Organization(admin.organization(&body.organization_id)?);
                let (client, usage) = self
                    .admins
                    .get_client(&within, &parse_client_id(&body.client_id)?)
                    .await?;
                Ok(pb::GetOrganizationClientResponse {
                    client: Some(m2m_client(&client, &usage)),
                })
            }
            .await,
        )
    }

    async fn update_organization_client(
        &self,
        request: Request<pb::UpdateOrganizationClientRequest>,
    ) -> Answer<pb::UpdateOrganizationClientResponse> {
        answer(
            "UpdateOrganizationClient",
            async {
                let admin = self.admin(&request).await?;
                let body = request.get_ref();
                let within = Within::Organization(admin.organization(&body.organization_id)?);
                let id = parse_client_id(&body.client_id)?;
                let changes =
                    parse_client(body.client.as_ref(), false, self.admins.expiry_bounds())?;
                let (client, usage) = self
                    .admins
                    .update_client(&admin, &within, &id, None, changes)
                    .await?;
                Ok(pb::UpdateOrganizationClientResponse {
                    client: Some(m2m_client(&client, &usage)),
                })
            }
            .await,
        )
    }

    async fn delete_organization_client(
        &self,
        request: Request<pb::DeleteOrganizationClientRequest>,
    ) -> Answer<()> {
        answer(
            "DeleteOrganizationClient",
            async {
                let admin = self.admin(&request).await?;
                let body = request.get_ref();
                let within = Within::Organization(admin.organization(&body.organization_id)?);
                self.admins
                    .delete_client(&admin, &within, &parse_client_id(&body.client_id)?, None)
                    .await
            }
            .await,
        )
    }

    async fn create_organization_client_secret(
        &self,
        request: Request<pb::CreateOrganizationClientSecretRequest>,
    ) -> Answer<pb::CreateOrganizationClientSecretResponse> {
        answer(
            "CreateOrganizationClientSecret",
            async {
                let admin = self.admin(&request).await?;
                let body = request.get_ref();
                let within = Within::Organization(admin.organization(&body.organization_id)?);
                let id = parse_client_id(&body.client_id)?;
                let (client, issued) = self
                    .admins
                    .add_secret(&admin, &within, &id, SecretChanges::default())
                    .await?;
                let secret = client
                    .secret(&issued.secret_id)
                    .ok_or(AdminError::Internal)?;
                Ok(pb::CreateOrganizationClientSecretResponse {
                    plain_secret: issued
                        .plain
                        .as_ref()
                        .map(|p| p.expose().to_owned())
                        .unwrap_or_default(),
                    secret: Some(client_secret(secret, &Usage::default())),
                })
            }
            .await,
        )
    }

    async fn delete_organization_client_secret(
        &self,
        request: Request<pb::DeleteOrganizationClientSecretRequest>,
    ) -> Answer<()> {
        answer(
            "DeleteOrganizationClientSecret",
            async {
                let admin = self.admin(&request).await?;
                let body = request.get_ref();
                let within = Within::Organization(admin.organization(&body.organization_id)?);
                self.admins
                    .delete_secret(
                        &admin,
                        &within,
                        &parse_client_id(&body.client_id)?,
                        &parse_secret_id(&body.secret_id, "secret")?,
                        None,
                    )
                    .await
            }
            .await,
        )
    }

    async fn list_organization_clients(
        &self,
        request: Request<pb::ListOrganizationClientsRequest>,
    ) -> Answer<pb::ListOrganizationClientsResponse> {
        answer(
            "ListOrganizationClients",
            async {
                let admin = self.admin(&request).await?;
                let body = request.get_ref();
                let org = admin.organization(&body.organization_id)?;
                let size = paging::page_size(Some(&body.page_size.to_string()), "page_size")?;
                let after = paging::decode(&body.page_token, "page_token")?;
                let list = self.admins.list_clients(Some(&org), size, after).await?;
                Ok(pb::ListOrganizationClientsResponse {
                    next_page_token: list.next.as_ref().map(paging::encode).unwrap_or_default(),
                    total_size: u32::try_from(list.total).unwrap_or(u32::MAX),
                    clients: list.clients.iter().map(|(c, u)| m2m_client(c, u)).collect(),
                    prev_page_token: String::new(),
                })
            }
            .await,
        )
    }
}
