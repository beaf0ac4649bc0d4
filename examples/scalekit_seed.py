"""The create seed's Python example (Scalekit's docs), run with Scalekit's official SDK
against tokenmint. See the README: `tokenmint serve --dev --tls` prints what to export.

    SCALEKIT_ENVIRONMENT_URL=https://localhost:8080 SCALEKIT_CLIENT_ID=m2m_... \
    SCALEKIT_CLIENT_SECRET=tm_... REQUESTS_CA_BUNDLE=... GRPC_DEFAULT_SSL_ROOTS_FILE_PATH=... \
    python examples/scalekit_seed.py
"""
import os

from scalekit import ScalekitClient
from scalekit.v1.clients.clients_pb2 import OrganizationClient

scalekit_client = ScalekitClient(
    os.environ["SCALEKIT_ENVIRONMENT_URL"],
    os.environ["SCALEKIT_CLIENT_ID"],
    os.environ["SCALEKIT_CLIENT_SECRET"],
)
org_id = os.environ.get("ORG_ID", "org_59615193906282635")

m2m_client = OrganizationClient(
    name="GitHub Actions Deployment Service",
    description="Service account for GitHub Actions to deploy applications to production",
    custom_claims=[
        {"key": "github_repository", "value": "acmecorp/inventory-service"},
        {"key": "environment", "value": "production_us"}
    ],
    scopes=["deploy:applications", "read:deployments"],
    audience=["deployment-api.acmecorp.com"],
    expiry=3600
)

response = scalekit_client.m2m_client.create_organization_client(
    organization_id=org_id,
    m2m_client=m2m_client
)
created = response[0] if isinstance(response, tuple) else response
print(created.client)
token = scalekit_client.generate_client_token(created.client.client_id, created.plain_secret)
print("its token validates:", scalekit_client.validate_access_token(token))
